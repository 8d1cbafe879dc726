/*
 * test_merge.c - `sensorpipe merge` on stores made here: exact rollup
 * merges, series matched by topic and field, tags, ingest_stats per source
 * by column name (older schema too), the refusals and their exit codes, an
 * OUT that only changes on success, idempotence.
 *
 * Threads: each test runs in its own process with its own temporary
 * directory. Inputs are made with store_open() (this binary's schema) and
 * plain SQL; results are read with a second connection, as a dashboard
 * would. Memory: plain test allocations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "config.h"
#include "daemon.h"
#include "merge.h"
#include "spawn.h"
#include "store.h"
#include "tmpdir.h"

static char g_dir[64];
static char g_out[128];
static FILE *g_err;

static void merge_setup(void)
{
    cr_assert_eq(tmpdir_make(g_dir, sizeof(g_dir), "sp-merge"), 0);
    snprintf(g_out, sizeof(g_out), "%s/out.db", g_dir);
    g_err = tmpfile();
    cr_assert_not_null(g_err);
}

static void merge_teardown(void)
{
    fclose(g_err);
    (void) tmpdir_remove(g_dir);
}

TestSuite(merge, .init = merge_setup, .fini = merge_teardown);

static const char *path_of(const char *name)
{
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, 128, "%s/%s", g_dir, name);
    return p;
}

/* A store of this binary's schema at g_dir/name, then sql run on it. */
static void make_store(const char *name, const char *sql)
{
    struct config cfg;
    struct store st;

    config_defaults(&cfg);
    snprintf(cfg.store.path, sizeof(cfg.store.path), "%s", path_of(name));
    cr_assert_eq(store_open(&st, &cfg), 0);
    cr_assert_eq(sqlite3_exec(st.db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(st.db));
    store_close(&st);
}

/* merge OUT a [b]; b may be NULL. */
static int merge2(const char *a, const char *b)
{
    const char *in[2];

    in[0] = path_of(a);
    in[1] = b != NULL ? path_of(b) : NULL;
    return merge_run(g_out, in, b != NULL ? 2 : 1, g_err, NULL);
}

static bool err_says(const char *needle)
{
    char buf[4096];
    size_t n;

    fflush(g_err);
    rewind(g_err);
    n = fread(buf, 1, sizeof(buf) - 1, g_err);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static double out_double(const char *sql)
{
    return db_double(g_out, sql);
}

static int64_t out_int(const char *sql)
{
    return db_int(g_out, sql);
}

Test(merge, rollups_merge_exactly_by_topic_and_field)
{
    /* Series ids differ between the inputs; topic and field match them. */
    make_store("a.db",
               "INSERT INTO series VALUES (1, 't/1', 'v', NULL, 100);"
               "INSERT INTO series VALUES (2, 't/2', 'v', NULL, 100);"
               "INSERT INTO rollups VALUES (1, 10, 0, 2, 3.5, 1.0, 2.5, 2.5, "
               "9000);"
               "INSERT INTO rollups VALUES (2, 10, 0, 1, 7.0, 7.0, 7.0, 7.0, "
               "1000);");
    make_store("b.db",
               "INSERT INTO series VALUES (5, 't/1', 'v', NULL, 50);"
               "INSERT INTO rollups VALUES (5, 10, 0, 3, -4.0, -3.0, 0.5, "
               "-3.0, 5000);"
               "INSERT INTO rollups VALUES (5, 10, 10000, 1, 1.0, 1.0, 1.0, "
               "1.0, 10000);");
    cr_assert_eq(merge2("a.db", "b.db"), DAEMON_EXIT_OK);
    cr_assert_eq(out_int("SELECT count(*) FROM series"), 2);
    cr_assert_eq(out_int("SELECT count(*) FROM rollups"), 3);
    /* count and sum add, min and max hold, last follows last_ms (a's is
     * later although b comes later on the command line). */
    cr_assert_eq(out_int("SELECT r.count FROM rollups r JOIN series s ON"
                         " s.id = r.series_id WHERE s.topic = 't/1' AND"
                         " bucket_ms = 0"),
                 5);
    cr_assert_float_eq(out_double("SELECT r.sum FROM rollups r JOIN series s"
                                  " ON s.id = r.series_id WHERE s.topic ="
                                  " 't/1' AND bucket_ms = 0"),
                       -0.5, 0);
    cr_assert_float_eq(out_double("SELECT min FROM rollups WHERE count = 5"),
                       -3.0, 0);
    cr_assert_float_eq(out_double("SELECT max FROM rollups WHERE count = 5"),
                       2.5, 0);
    cr_assert_float_eq(out_double("SELECT last FROM rollups WHERE count = 5"),
                       2.5, 0);
    cr_assert_eq(out_int("SELECT last_ms FROM rollups WHERE count = 5"), 9000);
    /* created_ms is the earliest. */
    cr_assert_eq(out_int("SELECT created_ms FROM series WHERE topic = 't/1'"),
                 50);
    cr_assert_eq(out_int("SELECT count(*) FROM rollups_v"), 3);
}

Test(merge, a_tie_on_last_ms_goes_to_the_later_input)
{
    make_store("a.db", "INSERT INTO series VALUES (1, 't', 'v', NULL, 1);"
                       "INSERT INTO rollups VALUES (1, 10, 0, 1, 1, 1, 1, 1, "
                       "500);");
    make_store("b.db", "INSERT INTO series VALUES (1, 't', 'v', NULL, 1);"
                       "INSERT INTO rollups VALUES (1, 10, 0, 1, 2, 2, 2, 2, "
                       "500);");
    cr_assert_eq(merge2("a.db", "b.db"), DAEMON_EXIT_OK);
    cr_assert_float_eq(out_double("SELECT last FROM rollups"), 2.0, 0);
}

Test(merge, differing_tags_keep_the_first_created)
{
    make_store("a.db",
               "INSERT INTO series VALUES (1, 't', 'v', '{\"site\":\"a\"}', "
               "200);");
    make_store("b.db",
               "INSERT INTO series VALUES (1, 't', 'v', '{\"site\":\"b\"}', "
               "100);");
    cr_assert_eq(merge2("a.db", "b.db"), DAEMON_EXIT_OK);
    cr_assert_eq(out_int("SELECT count(*) FROM series WHERE tags ="
                         " '{\"site\":\"b\"}'"),
                 1);
    cr_assert(err_says("1 series carry other tags"));
}

Test(merge, ingest_stats_stay_per_source_by_column_name)
{
    /* b is an older store: schema version 1, without the later columns. */
    make_store("a.db",
               "INSERT INTO ingest_stats (ts_ms, received, decoded, samples,"
               " dropped_overflow, dropped_oversize, dropped_invalid,"
               " dropped_series_limit, late, clock_skew, series, paused_ms,"
               " dropped_samples_store) VALUES (1000, 10, 10, 20, 0, 0, 0, 0,"
               " 0, 0, 2, 0, 3);");
    make_store("b.db",
               "INSERT INTO ingest_stats (ts_ms, received, decoded, samples,"
               " dropped_overflow, dropped_oversize, dropped_invalid,"
               " dropped_series_limit, late, clock_skew, series, paused_ms)"
               " VALUES (1000, 7, 7, 7, 0, 0, 0, 0, 0, 0, 1, 0);"
               "ALTER TABLE ingest_stats DROP COLUMN dropped_samples_store;"
               "ALTER TABLE ingest_stats DROP COLUMN dropped_samples_probe;"
               "ALTER TABLE ingest_stats DROP COLUMN "
               "dropped_samples_series_limit;"
               "PRAGMA user_version = 1;");
    cr_assert_eq(merge2("a.db", "b.db"), DAEMON_EXIT_OK, "merge failed");
    /* Same ts_ms, two sources: two rows, not one. */
    cr_assert_eq(out_int("SELECT count(*) FROM ingest_stats"), 2);
    cr_assert_eq(out_int("SELECT sum(received) FROM ingest_stats"), 17);
    cr_assert_eq(out_int("SELECT dropped_samples_store FROM ingest_stats"
                         " WHERE received = 7"),
                 0);
    cr_assert_eq(out_int("SELECT dropped_samples_store FROM ingest_stats"
                         " WHERE received = 10"),
                 3);
    cr_assert_eq(out_int("SELECT count(*) FROM merge_sources WHERE"
                         " schema_version = 1"),
                 1);
    /* A merged store merges again, keeping its sources. */
    {
        char again[160];
        const char *in[] = {g_out};
        snprintf(again, sizeof(again), "%s/again.db", g_dir);
        cr_assert_eq(merge_run(again, in, 1, g_err, NULL), DAEMON_EXIT_OK);
        cr_assert_eq(db_int(again, "SELECT count(DISTINCT source) FROM"
                                   " ingest_stats"),
                     2);
    }
}

Test(merge, refusals_exit_2_and_leave_out_alone)
{
    FILE *f;

    make_store("a.db", "INSERT INTO series VALUES (1, 't', 'v', NULL, 1);");
    make_store("newer.db", "PRAGMA user_version = 99;");
    f = fopen(path_of("text.db"), "w");
    cr_assert_not_null(f);
    fputs("not a database, just text long enough to be read as a header\n", f);
    fclose(f);
    make_store("plain.db", "SELECT 1");
    {
        sqlite3 *db;
        cr_assert_eq(sqlite3_open(path_of("foreign.db"), &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
                     SQLITE_OK);
        sqlite3_close(db);
    }
    /* A good OUT first; every refusal below must leave it as it is. */
    cr_assert_eq(merge2("a.db", NULL), DAEMON_EXIT_OK);
    cr_assert_eq(merge2("a.db", "missing.db"), DAEMON_EXIT_CONFIG);
    cr_assert(err_says("missing.db: No such file or directory"));
    cr_assert_eq(merge2("a.db", "newer.db"), DAEMON_EXIT_CONFIG);
    cr_assert(err_says("schema version 99, this sensorpipe knows up to"));
    cr_assert_eq(merge2("a.db", "text.db"), DAEMON_EXIT_CONFIG);
    cr_assert(err_says("text.db: cannot open: file is not a database"));
    cr_assert_eq(merge2("a.db", "foreign.db"), DAEMON_EXIT_CONFIG);
    cr_assert(err_says("foreign.db is not a sensorpipe store"));
    cr_assert_eq(merge2("a.db", "a.db"), DAEMON_EXIT_CONFIG);
    cr_assert(err_says("are the same file"));
    cr_assert_eq(out_int("SELECT count(*) FROM series"), 1);
    cr_assert_eq(out_int("SELECT count(*) FROM merge_sources"), 1);
    {
        /* A daemon's own store is never replaced by a merge. */
        const char *in[] = {path_of("a.db")};
        cr_assert_eq(merge_run(path_of("plain.db"), in, 1, g_err, NULL),
                     DAEMON_EXIT_CONFIG);
        cr_assert(err_says("is not a merged store"));
        cr_assert_eq(merge_run(g_out, in, 0, g_err, NULL), DAEMON_EXIT_CONFIG);
    }
    /* No temporary file stays behind. */
    {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "ls %s | grep -q merge-", g_dir);
        cr_assert_neq(system(cmd), 0, "a temporary file was left");
    }
}

Test(merge, same_inputs_same_out)
{
    char a[8192], b[8192];
    FILE *p;
    size_t na, nb;
    char cmd[256];

    make_store("a.db", "INSERT INTO series VALUES (1, 't/1', 'v', NULL, 1);"
                       "INSERT INTO series VALUES (2, 't/2', 'v', NULL, 1);"
                       "INSERT INTO rollups VALUES (2, 60, 0, 1, 1, 1, 1, 1, "
                       "5);");
    make_store("b.db", "INSERT INTO series VALUES (1, 't/3', 'v', NULL, 1);"
                       "INSERT INTO series VALUES (2, 't/1', 'v', NULL, 1);"
                       "INSERT INTO rollups VALUES (2, 60, 0, 1, 1, 1, 1, 1, "
                       "6);");
    snprintf(cmd, sizeof(cmd), "sqlite3 %s .dump", g_out);
    cr_assert_eq(merge2("a.db", "b.db"), DAEMON_EXIT_OK);
    p = popen(cmd, "r");
    na = fread(a, 1, sizeof(a), p);
    pclose(p);
    cr_assert_eq(merge2("a.db", "b.db"), DAEMON_EXIT_OK);
    p = popen(cmd, "r");
    nb = fread(b, 1, sizeof(b), p);
    pclose(p);
    cr_assert_gt(na, 100);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, na), 0, "a second merge changed OUT");
    /* Ids in input order: a's series first. */
    cr_assert_eq(out_int("SELECT id FROM series WHERE topic = 't/3'"), 3);
    /* Rollback journal (header bytes 18 and 19 are 1; WAL would be 2):
     * a dashboard needs no -wal or -shm file next to it. */
    p = fopen(g_out, "rb");
    cr_assert_not_null(p);
    cr_assert_eq(fread(a, 1, 20, p), 20);
    fclose(p);
    cr_assert_eq(a[18], 1);
    cr_assert_eq(a[19], 1);
}
