/*
 * test_store.c - the SQLite store: schema, migrations, exact-merge upserts,
 * series, stats, retention and error translation.
 *
 * Threads: each test runs in its own process with its own temporary
 * directory (made in store_setup, removed in store_teardown). Assertions on
 * the file use a second sqlite3 connection, as a dashboard would.
 * Memory: plain test allocations; the guard is not armed here.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "bucket.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "relayout.h"
#include "store.h"
#include "tmpdir.h"

#define T0_MS 1700000012345LL /* not aligned to any resolution */

static char g_dir[64];

static void store_setup(void)
{
    cr_assert_eq(tmpdir_make(g_dir, sizeof(g_dir), "sp-store"), 0);
}

static void store_teardown(void)
{
    (void) tmpdir_remove(g_dir);
}

TestSuite(store, .init = store_setup, .fini = store_teardown);

/* Defaults, 10 s / 1 min / 1 h resolutions, the file at g_dir/db/NAME. */
static void make_cfg(struct config *cfg, const char *name)
{
    static const unsigned res[] = {10, 60, 3600};
    unsigned i;

    config_defaults(cfg);
    cfg->aggregate.n_resolutions = 3;
    for (i = 0; i < 3; i++) {
        cfg->aggregate.resolutions_s[i] = res[i];
        cfg->store.retention_ms[i] = 0;
    }
    cfg->store.raw_retention_ms = 0;
    (void) snprintf(cfg->store.path, sizeof(cfg->store.path), "%s/db/%s", g_dir,
                    name);
}

static void open_store(struct store *st, struct config *cfg)
{
    int err = store_open(st, cfg);
    cr_assert_eq(err, 0, "store_open: %d", err);
}

/* A second connection to the same file, as a dashboard would open. */
static sqlite3 *peer_open(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    cr_assert_eq(rc, SQLITE_OK, "open %s: %s", path, sqlite3_errmsg(db));
    return db;
}

static void peer_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
}

static int64_t peer_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s",
                 sql, sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s: %s", sql,
                 sqlite3_errmsg(db));
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void peer_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
    sqlite3_stmt *s = NULL;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
    (void) snprintf(out, len, "%s", (const char *) sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

static void add_series(struct store *st, int64_t id, const char *topic,
                       const char *field, const char *tags)
{
    const struct store_series_row row = {
        .id = id,
        .topic = topic,
        .topic_len = strlen(topic),
        .field = field,
        .field_len = strlen(field),
        .tags = tags,
        .tags_len = tags ? strlen(tags) : 0,
        .created_ms = T0_MS,
    };
    int err = store_insert_series_row(st, &row);

    cr_assert_eq(err, 0, "insert series %lld: %d", (long long) id, err);
}

static void begin(struct store *st)
{
    int err = store_begin(st);
    cr_assert_eq(err, 0, "begin: %d", err);
}

static void commit(struct store *st)
{
    int err = store_commit(st);
    cr_assert_eq(err, 0, "commit: %d", err);
}

/* ---------------------------------------------------------------- schema */

static void make_db_dir(const struct config *cfg)
{
    char dir[CONFIG_PATH_MAX];

    (void) snprintf(dir, sizeof(dir), "%s", cfg->store.path);
    *strrchr(dir, '/') = '\0';
    cr_assert_eq(mkdir(dir, 0700), 0);
}

/* Expected columns, as the README's "Schema" section writes them. */
static const struct {
    const char *table;
    const char *cols; /* "name type,name type,..." in declaration order */
} schema_cols[] = {
    {"series", "id INTEGER,topic TEXT,field TEXT,tags TEXT,"
               "created_ms INTEGER"},
    {"rollups", "series_id INTEGER,resolution_s INTEGER,bucket_ms INTEGER,"
                "count INTEGER,sum REAL,min REAL,max REAL,last REAL,"
                "last_ms INTEGER"},
    {"samples", "series_id INTEGER,ts_ms INTEGER,value REAL"},
    {"ingest_stats",
     "ts_ms INTEGER,received INTEGER,decoded INTEGER,samples INTEGER,"
     "dropped_overflow INTEGER,dropped_oversize INTEGER,"
     "dropped_invalid INTEGER,dropped_series_limit INTEGER,late INTEGER,"
     "clock_skew INTEGER,series INTEGER,paused_ms INTEGER,"
     "commit_p50_ms REAL,commit_p99_ms REAL,"
     "dropped_samples_series_limit INTEGER,dropped_samples_store INTEGER,"
     "dropped_samples_probe INTEGER,skipped_retained INTEGER,"
     "invalid_lines INTEGER,tag_conflicts INTEGER,"
     "retention_lag_ms INTEGER"},
    {"rollups_v", "time ,topic TEXT,field TEXT,tags TEXT,"
                  "resolution_s INTEGER,count INTEGER,mean ,min REAL,"
                  "max REAL,last REAL"},
    {"subscriptions", "client_id TEXT,filter TEXT,name TEXT,qos INTEGER,"
                      "acked_ms INTEGER"},
};

static void check_columns(sqlite3 *db, const char *table, const char *want)
{
    char sql[128];
    char got[1024] = "";
    sqlite3_stmt *s = NULL;
    size_t n = 0;

    (void) snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        n += (size_t) snprintf(got + n, sizeof(got) - n, "%s%s %s",
                               n ? "," : "", sqlite3_column_text(s, 1),
                               sqlite3_column_text(s, 2));
    }
    sqlite3_finalize(s);
    cr_assert_str_eq(got, want, "columns of %s", table);
}

Test(store, new_file_gets_the_schema_in_wal_with_incremental_vacuum)
{
    struct config cfg;
    struct store st;
    struct stat sb;
    char dir[128];
    char mode[16];
    sqlite3 *db;
    size_t i;

    make_cfg(&cfg, "new.db");
    open_store(&st, &cfg);
    /* Statement journals stay in SQLite's capped heap, not in temporary
     * files (store_pragmas()). */
    cr_assert_eq(peer_int(st.db, "PRAGMA temp_store"), 2);

    /* The missing parent directory was made, private to the group. */
    (void) snprintf(dir, sizeof(dir), "%s/db", g_dir);
    cr_assert_eq(stat(dir, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode));
    cr_assert_eq(sb.st_mode & 0777, 0750, "mode %o", sb.st_mode & 0777);

    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    peer_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
    cr_assert_str_eq(mode, "wal");
    cr_assert_eq(peer_int(db, "PRAGMA auto_vacuum"), 2); /* incremental */
    for (i = 0; i < SP_ARRAY_SIZE(schema_cols); i++)
        check_columns(db, schema_cols[i].table, schema_cols[i].cols);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                              "type='table' AND name IN ('series','rollups',"
                              "'samples','ingest_stats')"),
                 4);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                              "type='view' AND name='rollups_v'"),
                 1);
    /* rollups is a rowid table (schema 8) whose primary key is an index
     * on (series_id, resolution_s, bucket_ms); the retention index exists. */
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                              "name='rollups' AND sql LIKE '%WITHOUT ROWID%'"),
                 0);
    cr_assert_eq(peer_int(db,
                          "SELECT group_concat(name, ',') = "
                          "'series_id,resolution_s,bucket_ms' FROM "
                          "pragma_index_info('sqlite_autoindex_rollups_1')"),
                 1);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM pragma_index_info("
                              "'rollups_age')"),
                 2);
    sqlite3_close(db);
    store_close(&st);
    store_close(&st); /* closing twice is safe */
}

static int count_series(void *ctx, int64_t id, const char *topic,
                        const char *field, const char *tags)
{
    (void) id;
    (void) topic;
    (void) field;
    (void) tags;
    (*(int *) ctx)++;
    return 0;
}

Test(store, reopen_keeps_data_and_schema)
{
    struct config cfg;
    struct store st;
    sqlite3 *db;
    int64_t cookie;
    int n = 0;

    make_cfg(&cfg, "reopen.db");
    open_store(&st, &cfg);
    begin(&st);
    add_series(&st, 1, "a/b", "temp", NULL);
    commit(&st);
    store_close(&st);

    db = peer_open(cfg.store.path);
    cookie = peer_int(db, "PRAGMA schema_version");
    sqlite3_close(db);

    open_store(&st, &cfg);
    cr_assert_eq(store_load_series(&st, INT64_MIN, count_series, &n), 0);
    cr_assert_eq(n, 1);
    store_close(&st);

    /* The schema cookie moves on any schema change: nothing was recreated. */
    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "PRAGMA schema_version"), cookie);
    sqlite3_close(db);
}

Test(store, newer_schema_version_is_refused)
{
    const int newer = STORE_SCHEMA_VERSION + 1;
    char logpath[128];
    char sql[128];
    char want[128];
    char buf[512] = "";
    struct config cfg;
    struct store st;
    sqlite3 *db;
    ssize_t n;
    int fd;

    make_cfg(&cfg, "newer.db");
    make_db_dir(&cfg);
    db = peer_open(cfg.store.path);
    (void) snprintf(sql, sizeof(sql),
                    "CREATE TABLE future (x); PRAGMA user_version = %d;",
                    newer);
    peer_exec(db, sql);
    sqlite3_close(db);

    (void) snprintf(logpath, sizeof(logpath), "%s/log", g_dir);
    fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    log_set_fd(fd);
    cr_assert_eq(store_open(&st, &cfg), -EPROTO);
    log_set_fd(2);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    (void) snprintf(want, sizeof(want),
                    "has schema version %d, this sensorpipe knows up to %d",
                    newer, STORE_SCHEMA_VERSION);
    cr_assert_not_null(strstr(buf, want), "log: %s", buf);
    cr_assert_not_null(strstr(buf, cfg.store.path), "log: %s", buf);
    cr_assert_null(st.db);
    store_close(&st);

    /* Refused before any change: the file still has the newer version. */
    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "PRAGMA user_version"), newer);
    sqlite3_close(db);
}

/* Schema version 1 (doc/ARCHITECTURE.md, "Schema and migrations"), written
 * independently of store_schema.c */
static const char design_schema_v1[] =
    "CREATE TABLE series (id INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
    " field TEXT NOT NULL, tags TEXT, created_ms INTEGER NOT NULL,"
    " UNIQUE (topic, field));"
    "CREATE TABLE rollups (series_id INTEGER NOT NULL,"
    " resolution_s INTEGER NOT NULL, bucket_ms INTEGER NOT NULL,"
    " count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL,"
    " max REAL NOT NULL, last REAL NOT NULL, last_ms INTEGER NOT NULL,"
    " PRIMARY KEY (series_id, resolution_s, bucket_ms)) WITHOUT ROWID;"
    "CREATE TABLE samples (series_id INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL, value REAL NOT NULL);"
    "CREATE INDEX samples_series_ts ON samples (series_id, ts_ms);"
    "CREATE TABLE ingest_stats (ts_ms INTEGER PRIMARY KEY, received INTEGER,"
    " decoded INTEGER, samples INTEGER, dropped_overflow INTEGER,"
    " dropped_oversize INTEGER, dropped_invalid INTEGER,"
    " dropped_series_limit INTEGER, late INTEGER, clock_skew INTEGER,"
    " series INTEGER, paused_ms INTEGER, commit_p50_ms REAL,"
    " commit_p99_ms REAL);"
    "CREATE VIEW rollups_v AS SELECT r.bucket_ms / 1000 AS time, s.topic,"
    " s.field, s.tags, r.resolution_s, r.count, r.sum / r.count AS mean,"
    " r.min, r.max, r.last FROM rollups r JOIN series s"
    " ON s.id = r.series_id;"
    "INSERT INTO series VALUES (5, 'old/topic', 'value', NULL, 1);"
    "INSERT INTO rollups VALUES (5, 10, 1700000000000, 2, 3.0, 1.0, 2.0,"
    " 2.0, 1700000001000);"
    "PRAGMA user_version = 1;";

/* A store file at name made with design_schema_v1 and then more (SQL, or
 * NULL), by plain SQL as another program would. */
static void make_v1_file(struct config *cfg, const char *name, const char *more)
{
    sqlite3 *db;

    make_cfg(cfg, name);
    make_db_dir(cfg);
    db = peer_open(cfg->store.path);
    peer_exec(db, design_schema_v1);
    if (more != NULL)
        peer_exec(db, more);
    sqlite3_close(db);
}

/* Opens the store of cfg, merges one sample (5.0) into series 5's 10 s
 * bucket at 1700000000000 and closes it, as the daemon would. */
static void merge_one_sample(struct config *cfg)
{
    struct bucket_acc acc;
    struct store st;

    open_store(&st, cfg);
    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, 1700000002000, 5.0);
    begin(&st);
    cr_assert_eq(store_upsert_rollup(&st, 5, 10, 1700000000000, &acc), 0);
    commit(&st);
    store_close(&st);
}

Test(store, version_1_file_made_by_plain_sql_is_accepted_and_migrated)
{
    struct config cfg;
    sqlite3 *db;

    make_v1_file(&cfg, "v1.db", NULL);

    merge_one_sample(&cfg);

    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "SELECT count FROM rollups_v"), 3);
    cr_assert_eq(peer_int(db, "SELECT CAST(sum AS INTEGER) FROM rollups"), 8);
    cr_assert_eq(peer_int(db, "SELECT CAST(last AS INTEGER) FROM rollups"), 5);
    cr_assert_eq(peer_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM subscriptions"), 0,
                 "an old store has no record");
    /* Version 8 rebuilds only an empty rollups: this one has rows. */
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                              "name='rollups' AND sql LIKE '%WITHOUT ROWID%'"),
                 1);
    /* Version 6 added the line-protocol counters; old rows read 0. */
    peer_exec(db, "INSERT INTO ingest_stats (ts_ms, received) VALUES (1, 2)");
    cr_assert_eq(peer_int(db, "SELECT invalid_lines + tag_conflicts"
                              " FROM ingest_stats WHERE ts_ms = 1"),
                 0);
    sqlite3_close(db);
}

/* Version 8: an old file that never stored a rollup gets the rowid
 * layout, with its age index and view, and works as before. */
Test(store, an_empty_rollups_of_an_old_file_gets_the_rowid_layout)
{
    struct bucket_acc acc;
    struct config cfg;
    struct store st;
    sqlite3 *db;

    make_v1_file(&cfg, "v1empty.db", "DELETE FROM rollups;");
    open_store(&st, &cfg);
    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, 1700000002000, 5.0);
    begin(&st);
    cr_assert_eq(store_upsert_rollup(&st, 5, 10, 1700000000000, &acc), 0);
    cr_assert_eq(store_upsert_rollup(&st, 5, 10, 1700000000000, &acc), 0);
    commit(&st);
    store_close(&st);

    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                              "name='rollups' AND sql LIKE '%WITHOUT ROWID%'"),
                 0);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM pragma_index_info("
                              "'rollups_age')"),
                 2);
    cr_assert_eq(peer_int(db, "SELECT count FROM rollups_v WHERE topic = "
                              "'old/topic'"),
                 2, "one row, merged by the primary key");
    sqlite3_close(db);
}

/* The text relayout_run() wrote to f, from the start. */
static const char *stream_text(FILE *f, char *buf, size_t len)
{
    size_t n;

    rewind(f);
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    return buf;
}

#define OLD_LAYOUT_SQL                                                         \
    "SELECT count(*) FROM sqlite_master WHERE name='rollups' AND sql LIKE "    \
    "'%WITHOUT ROWID%'"

/* sensorpipe rebuild-rollups: an old file with rows gets the current
 * layout in place, every row kept and still merged by its key; a second
 * run has nothing to do. */
Test(store, rebuild_rollups_copies_an_old_layout_into_the_current_one)
{
    struct config cfg;
    char buf[512];
    FILE *err = tmpfile();
    FILE *info = tmpfile();
    sqlite3 *db;

    cr_assert(err != NULL && info != NULL);
    make_v1_file(&cfg, "relayout.db",
                 "INSERT INTO rollups VALUES (5, 60, 1700000000000, 4, 6.0,"
                 " 1.0, 2.0, 2.0, 1700000001000);");
    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, OLD_LAYOUT_SQL), 1);
    sqlite3_close(db);

    cr_assert_eq(relayout_run(cfg.store.path, err, info), 0, "%s",
                 stream_text(err, buf, sizeof(buf)));
    cr_expect(strstr(stream_text(info, buf, sizeof(buf)),
                     "2 rollup rows copied into the current layout") != NULL,
              "%s", buf);
    db = peer_open(cfg.store.path);
    cr_expect_eq(peer_int(db, OLD_LAYOUT_SQL), 0);
    cr_expect_eq(peer_int(db, "SELECT sum(count) FROM rollups_v"), 6);
    cr_expect_eq(peer_int(db, "SELECT count(*) FROM pragma_index_info("
                              "'rollups_age')"),
                 2);
    cr_expect_eq(peer_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    sqlite3_close(db);

    /* The daemon's store on it: a partial merges into the copied row. */
    merge_one_sample(&cfg);
    db = peer_open(cfg.store.path);
    cr_expect_eq(peer_int(db, "SELECT count FROM rollups WHERE "
                              "resolution_s = 10"),
                 3);
    sqlite3_close(db);

    rewind(info);
    cr_assert_eq(relayout_run(cfg.store.path, err, info), 0);
    cr_expect(strstr(stream_text(info, buf, sizeof(buf)),
                     "already has the current layout") != NULL,
              "%s", buf);
    fclose(err);
    fclose(info);
}

/* A file that is not there, or one another program is writing (a running
 * daemon): refused, and the file is unchanged. */
Test(store, rebuild_rollups_refuses_a_missing_or_busy_store)
{
    struct config cfg;
    char buf[512];
    char missing[sizeof(cfg.store.path) + 8];
    FILE *err = tmpfile();
    FILE *info = tmpfile();
    sqlite3 *other;

    cr_assert(err != NULL && info != NULL);
    make_v1_file(&cfg, "busy.db", NULL);
    snprintf(missing, sizeof(missing), "%s.none", cfg.store.path);
    cr_expect_eq(relayout_run(missing, err, info), 2);
    /* Migrated to the current version first, as the daemon would. */
    struct store st;
    open_store(&st, &cfg);
    store_close(&st);

    other = peer_open(cfg.store.path);
    peer_exec(other, "BEGIN IMMEDIATE");
    cr_expect_eq(relayout_run(cfg.store.path, err, info), 1);
    cr_expect(strstr(stream_text(err, buf, sizeof(buf)),
                     "is the daemon running? stop it first") != NULL,
              "%s", buf);
    peer_exec(other, "ROLLBACK");
    cr_expect_eq(peer_int(other, OLD_LAYOUT_SQL), 1, "unchanged");
    sqlite3_close(other);
    fclose(err);
    fclose(info);
}

/* An older binary could leave infinities behind (an overflowed sum): the
 * migration to version 2 saturates them, everything else stays. */
Test(store, migration_saturates_infinities_left_by_version_1)
{
    struct bucket_acc acc;
    struct config cfg;
    struct store st;
    sqlite3 *db;

    make_v1_file(&cfg, "v1inf.db",
                 "INSERT INTO rollups VALUES (5, 60, 1700000000000, 2,"
                 " 9e999, -9e999, 9e999, -9e999, 1700000001000);"
                 "INSERT INTO samples VALUES (5, 1700000001000, -9e999);"
                 "INSERT INTO samples VALUES (5, 1700000001000, 7.5);");

    open_store(&st, &cfg);
    /* -inf in a plain sum: merged with the old +inf it was NaN (NULL). */
    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, 1700000002000, -1e308);
    bucket_acc_add(&acc, 1700000002000, -1e308);
    begin(&st);
    cr_assert_eq(store_upsert_rollup(&st, 5, 60, 1700000000000, &acc), 0);
    commit(&st);
    store_close(&st);

    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM rollups WHERE NOT ("
                              "abs(sum) <= 1.7976931348623157e308 AND "
                              "abs(min) <= 1.7976931348623157e308 AND "
                              "abs(max) <= 1.7976931348623157e308 AND "
                              "abs(last) <= 1.7976931348623157e308)"),
                 0);
    cr_assert_eq(peer_int(db, "SELECT sum = 0 AND count = 4 AND"
                              " max = 1.7976931348623157e308 AND"
                              " min = -1.7976931348623157e308 FROM rollups"
                              " WHERE resolution_s = 60"),
                 1);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM samples WHERE"
                              " value = -1.7976931348623157e308"),
                 1);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM samples WHERE"
                              " value = 7.5"),
                 1);
    /* The untouched row of the file is as it was. */
    cr_assert_eq(peer_int(db, "SELECT CAST(sum AS INTEGER) FROM rollups"
                              " WHERE resolution_s = 10"),
                 3);
    sqlite3_close(db);
}

/* Merges saturate at +-DBL_MAX (SQLite reads the literal back exactly);
 * a non-finite value is refused before it reaches the file. */
Test(store, merge_saturates_and_non_finite_values_are_refused)
{
    struct bucket_acc acc;
    struct config cfg;
    struct store st;
    sqlite3 *db;

    make_cfg(&cfg, "sat.db");
    open_store(&st, &cfg);
    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, 1700000002000, DBL_MAX);
    begin(&st);
    cr_assert_eq(store_upsert_rollup(&st, 1, 10, 1700000000000, &acc), 0);
    cr_assert_eq(store_upsert_rollup(&st, 1, 10, 1700000000000, &acc), 0);
    acc.sum = INFINITY;
    cr_assert_eq(store_upsert_rollup(&st, 2, 10, 1700000000000, &acc), -EINVAL);
    cr_assert_eq(store_insert_sample(&st, 2, 1700000000000, NAN), -EINVAL);
    commit(&st);
    store_close(&st);

    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "SELECT sum = 1.7976931348623157e308 AND"
                              " count = 2 FROM rollups WHERE series_id = 1"),
                 1);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM rollups WHERE"
                              " series_id = 2"),
                 0);
    sqlite3_close(db);
}

Test(store, foreign_or_incomplete_files_are_refused)
{
    struct config cfg;
    struct store st;
    sqlite3 *db;

    /* Tables but no version: someone else's database. */
    make_cfg(&cfg, "foreign.db");
    make_db_dir(&cfg);
    db = peer_open(cfg.store.path);
    peer_exec(db, "CREATE TABLE notes (x TEXT);");
    sqlite3_close(db);
    cr_assert_eq(store_open(&st, &cfg), -EPROTO);
    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM sqlite_master"), 1);
    sqlite3_close(db);

    /* Version 1 without the view. */
    make_cfg(&cfg, "broken.db");
    db = peer_open(cfg.store.path);
    peer_exec(db, design_schema_v1);
    peer_exec(db, "DROP VIEW rollups_v;");
    sqlite3_close(db);
    cr_assert_eq(store_open(&st, &cfg), -EPROTO);
}

Test(store, missing_grandparent_directory_gives_enoent)
{
    struct config cfg;
    struct store st;

    make_cfg(&cfg, "x.db");
    (void) snprintf(cfg.store.path, sizeof(cfg.store.path), "%s/no/such/x.db",
                    g_dir);
    cr_assert_eq(store_open(&st, &cfg), -ENOENT);
    cr_assert_null(st.db);
}

/* ------------------------------------------------------------ exact merge */

#define N_SAMPLES 3000
#define N_RES     3
#define MAX_BKT   1024

struct sample {
    int64_t ts_ms;
    double value;
};

/* Expected rows of one resolution: bucket start -> accumulator. */
struct expect {
    int64_t bucket_ms[MAX_BKT];
    struct bucket_acc acc[MAX_BKT];
    unsigned n;
};

static struct bucket_acc *expect_slot(struct expect *e, int64_t bucket_ms)
{
    unsigned i;

    for (i = 0; i < e->n; i++) {
        if (e->bucket_ms[i] == bucket_ms)
            return &e->acc[i];
    }
    cr_assert_lt(e->n, MAX_BKT);
    e->bucket_ms[e->n] = bucket_ms;
    bucket_acc_reset(&e->acc[e->n]);
    return &e->acc[e->n++];
}

/*
 * Samples in arrival order, out of time order, with repeated timestamps
 * (every 7th repeats the one before with another value). Values are
 * multiples of 1/4 below 2^20, so every sum is exact in a double whatever
 * order it is added in, and rows can be compared with ==.
 */
static void make_samples(struct sample *s, unsigned n)
{
    uint64_t x = 88172645463325252ULL;
    unsigned i;

    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (i > 0 && i % 7 == 0)
            s[i].ts_ms = s[i - 1].ts_ms;
        else
            s[i].ts_ms = T0_MS + (int64_t) (x % (3 * 3600 * 1000ULL));
        s[i].value = (double) ((int64_t) ((x >> 20) % 4000000) - 2000000) / 4;
    }
}

/* Independent reference: every sample added to one accumulator per bucket. */
static void expect_all(struct expect *e, const unsigned *res_s,
                       const struct sample *s, unsigned n)
{
    unsigned r;
    unsigned i;

    for (r = 0; r < N_RES; r++) {
        e[r].n = 0;
        for (i = 0; i < n; i++) {
            int64_t b = bucket_start_ms(s[i].ts_ms, (int64_t) res_s[r] * 1000);
            bucket_acc_add(expect_slot(&e[r], b), s[i].ts_ms, s[i].value);
        }
    }
}

/*
 * Hands samples [from, to) to the store as a worker would: one partial per
 * finest bucket, each merged into every resolution.
 */
static void merge_chunk(struct store *st, int64_t series_id,
                        const struct sample *s, unsigned from, unsigned to)
{
    static struct expect parts;
    unsigned i;

    parts.n = 0;
    for (i = from; i < to; i++) {
        int64_t b = bucket_start_ms(s[i].ts_ms, (int64_t) st->res_s[0] * 1000);
        bucket_acc_add(expect_slot(&parts, b), s[i].ts_ms, s[i].value);
    }
    for (i = 0; i < parts.n; i++) {
        int err = store_merge_partial(st, series_id, parts.bucket_ms[i],
                                      &parts.acc[i]);
        cr_assert_eq(err, 0, "merge: %d", err);
    }
}

static void check_rows(sqlite3 *db, int64_t series_id, unsigned res_s,
                       const struct expect *e)
{
    sqlite3_stmt *q = NULL;
    unsigned i;

    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT count, sum, min, max, last, last_ms"
                                    " FROM rollups WHERE series_id = ?1 AND"
                                    " resolution_s = ?2 AND bucket_ms = ?3",
                                    -1, &q, NULL),
                 SQLITE_OK);
    for (i = 0; i < e->n; i++) {
        const struct bucket_acc *a = &e->acc[i];
        sqlite3_bind_int64(q, 1, series_id);
        sqlite3_bind_int64(q, 2, res_s);
        sqlite3_bind_int64(q, 3, e->bucket_ms[i]);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "series %lld res %u bkt %lld",
                     (long long) series_id, res_s, (long long) e->bucket_ms[i]);
        cr_assert_eq((uint64_t) sqlite3_column_int64(q, 0), a->count);
        cr_assert(sqlite3_column_double(q, 1) == a->sum);
        cr_assert(sqlite3_column_double(q, 2) == a->min);
        cr_assert(sqlite3_column_double(q, 3) == a->max);
        cr_assert(sqlite3_column_double(q, 4) == a->last,
                  "series %lld res %u: last %g, want %g", (long long) series_id,
                  res_s, sqlite3_column_double(q, 4), a->last);
        cr_assert_eq(sqlite3_column_int64(q, 5), a->last_ms);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
}

/* Chunk sizes of each split; 0 ends the pattern, which then repeats. */
static const unsigned splits[][4] = {
    {N_SAMPLES, 0},  /* one hand-off */
    {1, 0},          /* one per sample: every tie crosses hand-offs */
    {7, 0},          /* a tie pair always straddles a boundary */
    {13, 501, 2, 0}, /* uneven */
    {250, 1, 33, 0},
};

Test(store, merged_partials_equal_one_accumulator_at_every_resolution)
{
    static struct sample s[N_SAMPLES];
    static struct expect e[N_RES];
    struct config cfg;
    struct store st;
    unsigned k;
    unsigned r;
    sqlite3 *db;

    make_cfg(&cfg, "merge.db");
    open_store(&st, &cfg);
    make_samples(s, N_SAMPLES);
    expect_all(e, st.res_s, s, N_SAMPLES);
    cr_assert_gt(e[2].n, 2, "samples span several hours");

    for (k = 0; k < SP_ARRAY_SIZE(splits); k++) {
        unsigned from = 0;
        unsigned j = 0;
        begin(&st);
        while (from < N_SAMPLES) {
            unsigned len = splits[k][j];
            unsigned to = from + len > N_SAMPLES ? N_SAMPLES : from + len;
            merge_chunk(&st, (int64_t) k + 1, s, from, to);
            from = to;
            j = splits[k][j + 1] == 0 ? 0 : j + 1;
            /* Several transactions per split, as the writer commits. */
            if (from % 1000 < len) {
                commit(&st);
                begin(&st);
            }
        }
        commit(&st);
    }

    db = peer_open(cfg.store.path);
    for (k = 0; k < SP_ARRAY_SIZE(splits); k++) {
        for (r = 0; r < N_RES; r++) {
            char sql[160];
            check_rows(db, (int64_t) k + 1, st.res_s[r], &e[r]);
            (void) snprintf(sql, sizeof(sql),
                            "SELECT count(*) FROM rollups WHERE series_id=%u"
                            " AND resolution_s=%u",
                            k + 1, st.res_s[r]);
            cr_assert_eq(peer_int(db, sql), e[r].n);
        }
    }
    sqlite3_close(db);
    store_close(&st);
}

/* A partial goes into every resolution in one statement: a resolution
 * that refuses it (here a trigger) leaves no row at the others either. */
Test(store, a_refused_partial_leaves_no_row_at_any_resolution)
{
    struct bucket_acc acc;
    struct config cfg;
    struct store st;
    sqlite3 *db;

    make_cfg(&cfg, "atomic.db");
    open_store(&st, &cfg);
    cr_assert_eq(sqlite3_exec(st.db,
                              "CREATE TRIGGER no_minutes BEFORE INSERT ON "
                              "rollups WHEN NEW.resolution_s = 60 BEGIN "
                              "SELECT RAISE(ABORT, 'refused'); END",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, T0_MS, 1.5);
    begin(&st);
    cr_expect_lt(store_merge_partial(&st, 3, T0_MS - T0_MS % 10000, &acc), 0);
    commit(&st);
    db = peer_open(cfg.store.path);
    cr_expect_eq(peer_int(db, "SELECT count(*) FROM rollups"), 0,
                 "nothing of the refused partial at any resolution");
    sqlite3_close(db);
    store_close(&st);
}

Test(store, upsert_keeps_last_of_the_latest_time_and_the_later_tie)
{
    struct bucket_acc a;
    struct bucket_acc b;
    struct config cfg;
    struct store st;
    sqlite3 *db;

    make_cfg(&cfg, "last.db");
    open_store(&st, &cfg);
    begin(&st);
    bucket_acc_reset(&a);
    bucket_acc_add(&a, T0_MS + 5000, 1.0);
    cr_assert_eq(store_upsert_rollup(&st, 1, 10, T0_MS, &a), 0);
    /* Older partial arrives later: last stays, last_ms stays. */
    bucket_acc_reset(&b);
    bucket_acc_add(&b, T0_MS + 1000, 2.0);
    cr_assert_eq(store_upsert_rollup(&st, 1, 10, T0_MS, &b), 0);
    /* Same time as the stored last: the later hand-off wins. */
    bucket_acc_reset(&b);
    bucket_acc_add(&b, T0_MS + 5000, 3.0);
    cr_assert_eq(store_upsert_rollup(&st, 1, 10, T0_MS, &b), 0);
    /* An empty partial writes nothing. */
    bucket_acc_reset(&b);
    cr_assert_eq(store_upsert_rollup(&st, 2, 10, T0_MS, &b), 0);
    commit(&st);

    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "SELECT CAST(last AS INTEGER) FROM rollups"), 3);
    cr_assert_eq(peer_int(db, "SELECT last_ms FROM rollups"), T0_MS + 5000);
    cr_assert_eq(peer_int(db, "SELECT count FROM rollups"), 3);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM rollups"), 1);
    sqlite3_close(db);
    store_close(&st);
}

Test(store, view_gives_unix_seconds_and_mean)
{
    struct bucket_acc acc;
    struct config cfg;
    struct store st;
    sqlite3_stmt *q = NULL;
    sqlite3 *db;
    int64_t bucket;

    make_cfg(&cfg, "view.db");
    open_store(&st, &cfg);
    bucket = bucket_start_ms(T0_MS, 10000);
    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, T0_MS, 1.5);
    bucket_acc_add(&acc, T0_MS + 1, 4.0);
    bucket_acc_add(&acc, T0_MS + 2, 2.0);
    begin(&st);
    add_series(&st, 9, "sensors/lab/dev1", "temp", "{\"site\":\"lab\"}");
    cr_assert_eq(store_upsert_rollup(&st, 9, 10, bucket, &acc), 0);
    commit(&st);

    db = peer_open(cfg.store.path);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT time, typeof(time), topic, field,"
                                    " tags, resolution_s, count, mean, min,"
                                    " max, last FROM rollups_v",
                                    -1, &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(q, 0), bucket / 1000);
    cr_assert_str_eq((const char *) sqlite3_column_text(q, 1), "integer");
    cr_assert_str_eq((const char *) sqlite3_column_text(q, 2),
                     "sensors/lab/dev1");
    cr_assert_str_eq((const char *) sqlite3_column_text(q, 3), "temp");
    cr_assert_str_eq((const char *) sqlite3_column_text(q, 4),
                     "{\"site\":\"lab\"}");
    cr_assert_eq(sqlite3_column_int64(q, 5), 10);
    cr_assert_eq(sqlite3_column_int64(q, 6), 3);
    cr_assert(sqlite3_column_double(q, 7) == acc.sum / 3);
    cr_assert(sqlite3_column_double(q, 8) == acc.min);
    cr_assert(sqlite3_column_double(q, 9) == acc.max);
    cr_assert(sqlite3_column_double(q, 10) == acc.last);
    cr_assert_eq(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(db);
    store_close(&st);
}

/* ----------------------------------------------------------------- series */

struct loaded {
    int n;
    int64_t id[8];
    char topic[8][96];
    char field[8][32];
    char tags[8][64];
    int tags_null[8];
};

static int collect_series(void *ctx, int64_t id, const char *topic,
                          const char *field, const char *tags)
{
    struct loaded *l = ctx;

    cr_assert_lt(l->n, 8);
    l->id[l->n] = id;
    (void) snprintf(l->topic[l->n], sizeof(l->topic[0]), "%s", topic);
    (void) snprintf(l->field[l->n], sizeof(l->field[0]), "%s", field);
    (void) snprintf(l->tags[l->n], sizeof(l->tags[0]), "%s", tags ? tags : "");
    l->tags_null[l->n] = tags == NULL;
    l->n++;
    return 0;
}

static int stop_at_second(void *ctx, int64_t id, const char *topic,
                          const char *field, const char *tags)
{
    (void) id;
    (void) topic;
    (void) field;
    (void) tags;
    return ++*(int *) ctx == 2 ? 42 : 0;
}

Test(store, series_round_trip_keeps_ids_and_text_verbatim)
{
    static const char quoted[] = "sensors/\"lab\"/it's; DROP TABLE x";
    static const char unicode[] =
        "capteurs/salle-\xc3\x9f/\xe6\xb8\xa9\xe5\xba\xa6";
    static const char padded[] = "padded/topicXXXX"; /* length excludes XXXX */
    struct loaded l;
    struct config cfg;
    struct store st;
    int calls = 0;

    make_cfg(&cfg, "series.db");
    open_store(&st, &cfg);
    begin(&st);
    add_series(&st, 7, quoted, "temp", NULL);
    add_series(&st, 3, unicode, "hum", "{\"site\":\"s\xc3\xa9\"}");
    /* The lengths count, not the NULs: the writer's texts are not cut. */
    const struct store_series_row row = {
        .id = 100,
        .topic = padded,
        .topic_len = strlen(padded) - 4,
        .field = "valueYY",
        .field_len = 5,
        .tags = "{}ZZ",
        .tags_len = 2,
        .created_ms = T0_MS,
    };
    cr_assert_eq(store_insert_series_row(&st, &row), 0);
    commit(&st);
    store_close(&st);

    open_store(&st, &cfg);
    memset(&l, 0, sizeof(l));
    cr_assert_eq(store_load_series(&st, INT64_MIN, collect_series, &l), 0);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(l.id[0], 3);
    cr_assert_str_eq(l.topic[0], unicode);
    cr_assert_str_eq(l.field[0], "hum");
    cr_assert_str_eq(l.tags[0], "{\"site\":\"s\xc3\xa9\"}");
    cr_assert_eq(l.id[1], 7);
    cr_assert_str_eq(l.topic[1], quoted);
    cr_assert(l.tags_null[1]);
    cr_assert_eq(l.id[2], 100);
    cr_assert_str_eq(l.topic[2], "padded/topic");
    cr_assert_str_eq(l.field[2], "value");
    cr_assert_str_eq(l.tags[2], "{}");
    cr_assert_not(l.tags_null[2]);

    /* A non-zero callback value stops the walk and is returned. */
    cr_assert_eq(store_load_series(&st, INT64_MIN, stop_at_second, &calls), 42);
    cr_assert_eq(calls, 2);
    store_close(&st);
}

/* Only series active since a time are loaded (a finest rollup that
 * recent, or created since), the most recent first; the largest id is
 * known all the same. */
Test(store, load_since_gives_the_recently_active_newest_first)
{
    const int64_t day = 86400000;
    struct bucket_acc acc;
    struct loaded l;
    struct config cfg;
    struct store st;
    int64_t max_id = 0;
    sqlite3 *db;

    make_cfg(&cfg, "recent.db");
    open_store(&st, &cfg);
    begin(&st);
    add_series(&st, 1, "old/rollup", "v", NULL);
    add_series(&st, 2, "new/rollup", "v", NULL);
    add_series(&st, 3, "newer/rollup", "v", NULL);
    add_series(&st, 9, "old/none", "v", NULL);
    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, T0_MS, 1.0);
    cr_assert_eq(
        store_merge_partial(&st, 1, bucket_start_ms(T0_MS, 10000), &acc), 0);
    cr_assert_eq(store_merge_partial(
                     &st, 2, bucket_start_ms(T0_MS + 2 * day, 10000), &acc),
                 0);
    cr_assert_eq(store_merge_partial(
                     &st, 3, bucket_start_ms(T0_MS + 3 * day, 10000), &acc),
                 0);
    commit(&st);
    store_close(&st);
    db = peer_open(cfg.store.path);
    /* Created 1.5 days after T0: after the window's start, before 2. */
    peer_exec(db, "INSERT INTO series VALUES (5, 'new/none', 'v', NULL, "
                  "1700129612345)");
    sqlite3_close(db);

    open_store(&st, &cfg);
    memset(&l, 0, sizeof(l));
    cr_assert_eq(store_load_series(&st, T0_MS + day, collect_series, &l), 0);
    cr_assert_eq(l.n, 3);
    cr_expect_eq(l.id[0], 3);
    cr_expect_eq(l.id[1], 2);
    cr_expect_eq(l.id[2], 5, "created recently, no rollup yet");
    cr_assert_eq(store_max_series_id(&st, &max_id), 0);
    cr_expect_eq(max_id, 9);
    store_close(&st);
}

Test(store, duplicate_series_is_eexist_and_leaves_no_row)
{
    const struct store_series_row same_name = {.id = 2,
                                               .topic = "a/b",
                                               .topic_len = 3,
                                               .field = "temp",
                                               .field_len = 4};
    const struct store_series_row same_id = {.id = 1,
                                             .topic = "a/c",
                                             .topic_len = 3,
                                             .field = "temp",
                                             .field_len = 4};
    struct config cfg;
    struct store st;
    sqlite3 *db;

    make_cfg(&cfg, "dup.db");
    open_store(&st, &cfg);
    begin(&st);
    add_series(&st, 1, "a/b", "temp", NULL);
    /* Same (topic, field), new id. */
    cr_assert_eq(store_insert_series_row(&st, &same_name), -EEXIST);
    /* Same id, new (topic, field). */
    cr_assert_eq(store_insert_series_row(&st, &same_id), -EEXIST);
    /* The transaction survives a constraint error. */
    add_series(&st, 3, "a/b", "hum", NULL);
    commit(&st);

    db = peer_open(cfg.store.path);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM series"), 2);
    cr_assert_eq(peer_int(db, "SELECT sum(id) FROM series"), 4);
    sqlite3_close(db);
    store_close(&st);
}

/* ------------------------------------------------------------ concurrency */

Test(store, begin_is_ebusy_while_another_writer_holds_the_lock)
{
    struct config cfg;
    struct store st;
    sqlite3 *db;
    uint64_t t0;
    uint64_t waited;

    make_cfg(&cfg, "busy.db");
    open_store(&st, &cfg);
    db = peer_open(cfg.store.path);
    peer_exec(db, "BEGIN IMMEDIATE; INSERT INTO series VALUES (50, 'p', 'f',"
                  " NULL, 0);");

    t0 = clock_mono_ms();
    cr_assert_eq(store_begin(&st), -EBUSY);
    waited = clock_mono_ms() - t0;
    /* The short busy timeout absorbed the lock for a while, then gave up. */
    cr_assert_geq(waited, 90, "waited %llu ms", (unsigned long long) waited);
    cr_assert_lt(waited, 2000, "waited %llu ms", (unsigned long long) waited);
    cr_assert(sqlite3_get_autocommit(st.db), "no transaction left open");

    peer_exec(db, "COMMIT;");
    begin(&st);
    add_series(&st, 51, "q", "f", NULL);

    /* A reader's snapshot does not block the commit in WAL mode. */
    peer_exec(db, "BEGIN; SELECT count(*) FROM series;");
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM series"), 1);
    commit(&st);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM series"), 1, "snapshot");
    peer_exec(db, "COMMIT;");
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM series"), 2);
    sqlite3_close(db);
    store_close(&st);
}

/* --------------------------------------------------------------- retention */

#define NOW_MS       (T0_MS + 10LL * 86400 * 1000)
#define RAW_KEEP_MS  (2LL * 3600 * 1000)
#define RES0_KEEP_MS (3600LL * 1000)
#define RES1_KEEP_MS (86400LL * 1000)

/* Rows at ages 0, step, 2 step, ... back from now, for three series. */
static void fill_rollups(struct store *st, unsigned res_s, int64_t step_ms,
                         unsigned n)
{
    struct bucket_acc acc;
    unsigned i;
    int64_t id;

    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, NOW_MS, 1.0);
    for (id = 1; id <= 3; id++) {
        for (i = 0; i < n; i++) {
            int64_t b = bucket_start_ms(NOW_MS - (int64_t) i * step_ms,
                                        (int64_t) res_s * 1000);
            cr_assert_eq(store_upsert_rollup(st, id, res_s, b, &acc), 0);
        }
    }
}

/* Rollups of one resolution whose bucket starts before cutoff_ms. */
static int64_t old_rollups(sqlite3 *db, unsigned res_s, int64_t cutoff_ms)
{
    char sql[160];

    (void) snprintf(sql, sizeof(sql),
                    "SELECT count(*) FROM rollups WHERE resolution_s = %u"
                    " AND bucket_ms < %lld",
                    res_s, (long long) cutoff_ms);
    return peer_int(db, sql);
}

static int64_t old_samples(sqlite3 *db, int64_t cutoff_ms)
{
    char sql[128];

    (void) snprintf(sql, sizeof(sql),
                    "SELECT count(*) FROM samples WHERE ts_ms < %lld",
                    (long long) cutoff_ms);
    return peer_int(db, sql);
}

Test(store, retention_deletes_old_rows_in_bounded_chunks)
{
    struct config cfg;
    struct store st;
    unsigned deleted;
    unsigned zeros = 0;
    unsigned calls = 0;
    unsigned full = 0;
    int64_t total = 0;
    int64_t old[4];
    int64_t all;
    sqlite3 *db;
    int i;

    make_cfg(&cfg, "ret.db");
    cfg.store.raw_samples = true;
    cfg.store.retention_ms[0] = RES0_KEEP_MS;
    cfg.store.retention_ms[1] = RES1_KEEP_MS;
    cfg.store.retention_ms[2] = 0; /* hourly rows are kept */
    cfg.store.raw_retention_ms = RAW_KEEP_MS;
    open_store(&st, &cfg);
    cr_assert_eq(store_retention_targets(&st), 3);

    begin(&st);
    fill_rollups(&st, 10, 5 * 60 * 1000, 20);      /* 0 .. 95 min old */
    fill_rollups(&st, 60, 3 * 3600 * 1000, 12);    /* 0 .. 33 h old */
    fill_rollups(&st, 3600, 12 * 3600 * 1000, 10); /* 0 .. 4.5 d old */
    for (i = 0; i < 50; i++) /* 0 .. 4.9 h old, newest first */
        cr_assert_eq(store_insert_sample(&st, 1, NOW_MS - i * 360000LL, i), 0);
    commit(&st);

    db = peer_open(cfg.store.path);
    old[0] = old_rollups(db, 10, NOW_MS - RES0_KEEP_MS);
    old[1] = old_rollups(db, 60, NOW_MS - RES1_KEEP_MS);
    old[2] = 0;
    old[3] = old_samples(db, NOW_MS - RAW_KEEP_MS);
    all = peer_int(db, "SELECT (SELECT count(*) FROM rollups) +"
                       " (SELECT count(*) FROM samples)");
    for (i = 0; i < 4; i++)
        cr_assert(i == 2 || old[i] > 3, "target %d has %lld old rows", i,
                  (long long) old[i]);

    /* Until a whole round of targets deletes nothing. */
    while (zeros < store_retention_targets(&st)) {
        begin(&st);
        cr_assert_eq(store_retention_step(&st, NOW_MS, 3, &deleted), 0);
        commit(&st);
        cr_assert_leq(deleted, 3);
        full += deleted == 3;
        zeros = deleted == 0 ? zeros + 1 : 0;
        total += deleted;
        cr_assert_lt(++calls, 1000);
    }
    cr_assert_gt(full, 0);
    cr_assert_eq(total, old[0] + old[1] + old[3]);
    cr_assert_eq(old_rollups(db, 10, NOW_MS - RES0_KEEP_MS), 0);
    cr_assert_eq(old_rollups(db, 60, NOW_MS - RES1_KEEP_MS), 0);
    cr_assert_eq(old_samples(db, NOW_MS - RAW_KEEP_MS), 0);
    cr_assert_eq(peer_int(db, "SELECT (SELECT count(*) FROM rollups) +"
                              " (SELECT count(*) FROM samples)"),
                 all - total, "newer rows stay");
    cr_assert_eq(old_rollups(db, 3600, NOW_MS), 30, "kept resolution");
    sqlite3_close(db);
    store_close(&st);
}

/* The lag is the largest age beyond its retention of any target's oldest
 * row; rows within their retention and kept resolutions count nothing. */
Test(store, retention_lag_is_the_oldest_row_past_its_retention)
{
    struct config cfg;
    struct store st;
    struct bucket_acc acc;
    uint64_t lag = 99;

    make_cfg(&cfg, "lag.db");
    cfg.store.raw_samples = true;
    cfg.store.retention_ms[0] = RES0_KEEP_MS;
    cfg.store.raw_retention_ms = RAW_KEEP_MS;
    open_store(&st, &cfg);
    begin(&st);
    cr_assert_eq(store_retention_lag(&st, NOW_MS, &lag), 0);
    commit(&st);
    cr_expect_eq(lag, 0, "an empty store is not behind");

    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, NOW_MS, 1.0);
    begin(&st);
    /* 10 min past its retention; the hourly row has none. */
    cr_assert_eq(
        store_upsert_rollup(&st, 1, 10, NOW_MS - RES0_KEEP_MS - 600000, &acc),
        0);
    cr_assert_eq(store_upsert_rollup(&st, 1, 3600, T0_MS, &acc), 0);
    cr_assert_eq(store_insert_sample(&st, 1, NOW_MS - 1000, 1.0), 0);
    cr_assert_eq(store_retention_lag(&st, NOW_MS, &lag), 0);
    cr_expect_eq(lag, 600000);
    /* A raw sample 30 min past its retention: the larger lag wins. */
    cr_assert_eq(
        store_insert_sample(&st, 1, NOW_MS - RAW_KEEP_MS - 1800000, 1.0), 0);
    cr_assert_eq(store_retention_lag(&st, NOW_MS, &lag), 0);
    cr_expect_eq(lag, 1800000);
    commit(&st);
    store_close(&st);
}

Test(store, retention_without_policy_deletes_nothing)
{
    struct config cfg;
    struct store st;
    unsigned deleted = 99;

    make_cfg(&cfg, "keep.db");
    open_store(&st, &cfg);
    cr_assert_eq(store_retention_targets(&st), 0);
    begin(&st);
    cr_assert_eq(store_retention_step(&st, NOW_MS, 10, &deleted), 0);
    commit(&st);
    cr_assert_eq(deleted, 0);
    store_close(&st);
}

Test(store, vacuum_step_returns_free_pages)
{
    struct config cfg;
    struct store st;
    unsigned deleted;
    int64_t before;
    int64_t after;
    int i;

    make_cfg(&cfg, "vac.db");
    cfg.store.raw_samples = true;
    cfg.store.raw_retention_ms = 1;
    open_store(&st, &cfg);
    begin(&st);
    for (i = 0; i < 20000; i++)
        cr_assert_eq(store_insert_sample(&st, i % 10, T0_MS + i, i), 0);
    commit(&st);
    begin(&st);
    cr_assert_eq(store_retention_step(&st, NOW_MS, 100000, &deleted), 0);
    commit(&st);
    cr_assert_eq(deleted, 20000);

    {
        sqlite3_stmt *q = NULL;
        cr_assert_eq(
            sqlite3_prepare_v2(st.db, "PRAGMA freelist_count", -1, &q, NULL),
            SQLITE_OK);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        before = sqlite3_column_int64(q, 0);
        cr_assert_gt(before, 10);
        cr_assert_eq(store_vacuum_step(&st, 5), 0);
        sqlite3_reset(q);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        after = sqlite3_column_int64(q, 0);
        cr_assert_eq(after, before - 5);
        cr_assert_eq(store_vacuum_step(&st, 1000000), 0);
        sqlite3_reset(q);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        cr_assert_eq(sqlite3_column_int64(q, 0), 0);
        sqlite3_finalize(q);
    }
    store_close(&st);
}

/* ------------------------------------------------------------ error paths */

Test(store, full_disk_gives_enospc_and_recovers)
{
    struct bucket_acc acc;
    struct config cfg;
    struct store st;
    int64_t pages;
    int err = 0;
    int i;
    char sql[64];

    make_cfg(&cfg, "full.db");
    open_store(&st, &cfg);
    pages = 0;
    {
        sqlite3_stmt *q = NULL;
        cr_assert_eq(
            sqlite3_prepare_v2(st.db, "PRAGMA page_count", -1, &q, NULL),
            SQLITE_OK);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        pages = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    (void) snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
                    (long long) pages + 2);
    cr_assert_eq(sqlite3_exec(st.db, sql, NULL, NULL, NULL), SQLITE_OK);

    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, T0_MS, 1.0);
    begin(&st);
    for (i = 0; i < 100000 && err == 0; i++)
        err = store_upsert_rollup(&st, i, 10, T0_MS - T0_MS % 10000, &acc);
    cr_assert_eq(err, -ENOSPC, "err %d after %d rows", err, i);
    store_rollback(&st);
    cr_assert(sqlite3_get_autocommit(st.db));

    cr_assert_eq(sqlite3_exec(st.db, "PRAGMA max_page_count = 1000000", NULL,
                              NULL, NULL),
                 SQLITE_OK);
    begin(&st);
    for (i = 0; i < 5000; i++)
        cr_assert_eq(
            store_upsert_rollup(&st, i, 10, T0_MS - T0_MS % 10000, &acc), 0);
    commit(&st);
    store_close(&st);
}

/*
 * Tests run as root, so file modes cannot make the file read-only; PRAGMA
 * query_only makes SQLite refuse writes with SQLITE_READONLY instead.
 */
Test(store, read_only_connection_gives_erofs)
{
    struct config cfg;
    struct store st;

    make_cfg(&cfg, "ro.db");
    open_store(&st, &cfg);
    cr_assert_eq(
        sqlite3_exec(st.db, "PRAGMA query_only = ON", NULL, NULL, NULL),
        SQLITE_OK);
    cr_assert_eq(store_begin(&st), -EROFS);
    cr_assert(sqlite3_get_autocommit(st.db));
    cr_assert_eq(store_insert_sample(&st, 1, T0_MS, 1.0), -EROFS);
    store_close(&st);
}

/* ------------------------------------------------------------------- stats */

Test(store, stats_row_round_trip_and_replace)
{
    struct store_stats_row row = {
        .ts_ms = T0_MS,
        .received = 1001,
        .decoded = 1002,
        .samples = 1003,
        .dropped_overflow = 1004,
        .dropped_oversize = 1005,
        .dropped_invalid = 1006,
        .dropped_series_limit = 1007,
        .late = 1008,
        .clock_skew = 1009,
        .series = 1010,
        .paused_ms = 1011,
        .commit_p50_ms = 1.25,
        .commit_p99_ms = 7.5,
        .dropped_samples_series_limit = 2001,
        .dropped_samples_store = 2002,
        .dropped_samples_probe = 2003,
        .invalid_lines = 2004,
        .tag_conflicts = 2005,
    };
    static const char *const cols[] = {
        "received",
        "decoded",
        "samples",
        "dropped_overflow",
        "dropped_oversize",
        "dropped_invalid",
        "dropped_series_limit",
        "late",
        "clock_skew",
        "series",
        "paused_ms",
    };
    struct config cfg;
    struct store st;
    sqlite3 *db;
    char sql[128];
    size_t i;

    make_cfg(&cfg, "stats.db");
    open_store(&st, &cfg);
    begin(&st);
    cr_assert_eq(store_insert_stats(&st, &row), 0);
    commit(&st);

    db = peer_open(cfg.store.path);
    for (i = 0; i < SP_ARRAY_SIZE(cols); i++) {
        (void) snprintf(sql, sizeof(sql), "SELECT %s FROM ingest_stats",
                        cols[i]);
        cr_assert_eq(peer_int(db, sql), 1001 + (int64_t) i, "%s", cols[i]);
    }
    cr_assert_eq(peer_int(db, "SELECT dropped_samples_series_limit FROM "
                              "ingest_stats"),
                 2001);
    cr_assert_eq(peer_int(db, "SELECT dropped_samples_store FROM "
                              "ingest_stats"),
                 2002);
    cr_assert_eq(peer_int(db, "SELECT dropped_samples_probe FROM "
                              "ingest_stats"),
                 2003);
    cr_assert_eq(peer_int(db, "SELECT invalid_lines FROM ingest_stats"), 2004);
    cr_assert_eq(peer_int(db, "SELECT tag_conflicts FROM ingest_stats"), 2005);
    cr_assert_eq(peer_int(db, "SELECT ts_ms FROM ingest_stats"), T0_MS);
    cr_assert_eq(peer_int(db, "SELECT commit_p50_ms * 4 FROM ingest_stats"), 5);
    cr_assert_eq(peer_int(db, "SELECT commit_p99_ms * 2 FROM ingest_stats"),
                 15);

    /* Same ts_ms replaces; a NaN latency is stored as NULL. */
    row.received = 7;
    row.commit_p99_ms = NAN;
    begin(&st);
    cr_assert_eq(store_insert_stats(&st, &row), 0);
    commit(&st);
    cr_assert_eq(peer_int(db, "SELECT count(*) FROM ingest_stats"), 1);
    cr_assert_eq(peer_int(db, "SELECT received FROM ingest_stats"), 7);
    cr_assert_eq(peer_int(db, "SELECT commit_p99_ms IS NULL FROM ingest_stats"),
                 1);
    sqlite3_close(db);
    store_close(&st);
}
