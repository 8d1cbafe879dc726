/*
 * merge.c - `sensorpipe merge OUT IN...` (see merge.h for what it promises).
 *
 * OUT is built in "<OUT>.merge-XXXXXX" by store_open(), so it has this
 * binary's schema and migrations; its ingest_stats is then rebuilt with a
 * `source` column in its primary key, and a merge_sources table is added.
 * Each input is ATTACHed read-only ("file:...?mode=ro") and merged in one
 * BEGIN IMMEDIATE transaction of OUT: SQLite holds one read transaction on
 * the input for all of it, so series, rollups, samples and stats come from
 * one snapshot even while the input's daemon commits (WAL readers do not
 * block it). Rollups go through the daemon's own merge expressions
 * (STORE_ROLLUP_MERGE_SET), so a merge of partial rows is the same exact
 * merge the writer does.
 *
 * Invariants: OUT is replaced only by rename() of a complete, synced file
 * in the rollback-journal mode; an OUT that exists must be a merged store
 * (a merge_sources table), so a typo never overwrites a daemon's own store.
 *
 * Threads: the caller's only. Memory: SQLite's heap; SQL text in fixed
 * buffers on the stack.
 */
#include "merge.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "compiler.h"
#include "config.h"
#include "daemon.h"
#include "store.h"

#define MERGE_BUSY_MS    10000
#define MERGE_SQL_MAX    8192
#define MERGE_URI_MAX    (PATH_MAX * 3 + 32)
#define MERGE_COLS_MAX   64
#define MERGE_NAME_MAX   64
#define MERGE_CACHE_MB   256
#define MERGE_HEAP_MB    384
#define MERGE_TMP_SUFFIX ".merge-XXXXXX"

/* Owner: merge_run(); one per run. */
struct merge {
    FILE *err;
    struct store st;           /* OUT's temporary file */
    bool open;                 /* st is open */
    char tmp[CONFIG_PATH_MAX]; /* the temporary file, "" once renamed */
    uint64_t series;           /* series in OUT */
    uint64_t rollups;          /* rollup rows read from the inputs */
    uint64_t samples;          /* raw samples copied */
    uint64_t stats;            /* ingest_stats rows copied */
    uint64_t tag_differences;  /* series whose tags differ between inputs */
};

/* One input, checked before anything is written. */
struct merge_input {
    const char *arg;    /* as given */
    char abs[PATH_MAX]; /* realpath(): the source name */
    dev_t dev;
    ino_t ino;
};

/* The column names of one table. */
struct merge_cols {
    char name[MERGE_COLS_MAX][MERGE_NAME_MAX];
    size_t n;
};

static int merge_fail(const struct merge *m, int code, const char *fmt, ...)
    SP_PRINTF(3, 4);

static int merge_fail(const struct merge *m, int code, const char *fmt, ...)
{
    va_list ap;

    fputs("sensorpipe merge: ", m->err);
    va_start(ap, fmt);
    vfprintf(m->err, fmt, ap);
    va_end(ap);
    fputc('\n', m->err);
    return code;
}

static int merge_sql_fail(const struct merge *m, const char *what)
{
    return merge_fail(m, DAEMON_EXIT_RUNTIME, "%s: %s", what,
                      sqlite3_errmsg(m->st.db));
}

static int merge_exec(struct merge *m, const char *sql, const char *what)
{
    if (sqlite3_exec(m->st.db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return merge_sql_fail(m, what);
    return 0;
}

/* Appends printf output to buf (MERGE_SQL_MAX bytes); -ENAMETOOLONG when
 * it does not fit. */
static int merge_append(char *buf, const char *fmt, ...) SP_PRINTF(2, 3);

static int merge_append(char *buf, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf + len, MERGE_SQL_MAX - len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t) n >= MERGE_SQL_MAX - len ? -ENAMETOOLONG : 0;
}

/* "file:PATH?mode=ro" with the characters a URI path cannot hold escaped. */
static void merge_uri(char *uri, size_t len, const char *path)
{
    size_t o = 0;

    o += (size_t) snprintf(uri, len, "file:");
    for (const char *p = path; *p && o + 4 < len; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            o += (size_t) snprintf(uri + o, len - o, "%%%02X",
                                   (unsigned) (unsigned char) *p);
        else
            uri[o++] = *p;
    }
    snprintf(uri + o, len - o, "?mode=ro");
}

/* Reads one integer; INT64_MIN when the statement fails or has no row. */
static int64_t merge_int(struct merge *m, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t v = INT64_MIN;

    if (sqlite3_prepare_v2(m->st.db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

/* The columns of schema.table, in order. */
static int merge_columns(struct merge *m, const char *schema, const char *table,
                         struct merge_cols *c)
{
    char sql[128];
    sqlite3_stmt *stmt = NULL;
    int rc;

    c->n = 0;
    snprintf(sql, sizeof(sql), "PRAGMA %s.table_info(%s)", schema, table);
    if (sqlite3_prepare_v2(m->st.db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return merge_sql_fail(m, "table_info");
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && c->n < MERGE_COLS_MAX) {
        const char *name = (const char *) sqlite3_column_text(stmt, 1);
        snprintf(c->name[c->n++], MERGE_NAME_MAX, "%s", name ? name : "");
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : merge_sql_fail(m, sql);
}

static bool merge_has_col(const struct merge_cols *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->name[i], name) == 0)
            return true;
    return false;
}

/* ---- checks before anything is written ---------------------------------- */

static int merge_check_input(struct merge *m, struct merge_input *in)
{
    struct stat sb;

    if (stat(in->arg, &sb) != 0)
        return merge_fail(m, DAEMON_EXIT_CONFIG, "%s: %s", in->arg,
                          strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return merge_fail(m, DAEMON_EXIT_CONFIG, "%s: not a regular file",
                          in->arg);
    if (access(in->arg, R_OK) != 0 || realpath(in->arg, in->abs) == NULL)
        return merge_fail(m, DAEMON_EXIT_CONFIG, "%s: %s", in->arg,
                          strerror(errno));
    in->dev = sb.st_dev;
    in->ino = sb.st_ino;
    return 0;
}

/* Refuses twice the same input, and an OUT that is an input. */
static int merge_check_args(struct merge *m, const char *out,
                            struct merge_input *in, size_t n_in)
{
    struct stat sb;
    bool out_exists = stat(out, &sb) == 0;

    for (size_t i = 0; i < n_in; i++) {
        if (out_exists && sb.st_dev == in[i].dev && sb.st_ino == in[i].ino)
            return merge_fail(m, DAEMON_EXIT_CONFIG,
                              "%s is also an input: OUT must be a new file",
                              out);
        for (size_t j = 0; j < i; j++)
            if (in[j].dev == in[i].dev && in[j].ino == in[i].ino)
                return merge_fail(m, DAEMON_EXIT_CONFIG,
                                  "%s and %s are the same file", in[j].arg,
                                  in[i].arg);
    }
    return 0;
}

/* An existing OUT may only be replaced when it is a merged store. */
static int merge_check_out(struct merge *m, const char *out)
{
    char uri[MERGE_URI_MAX];
    char abs[PATH_MAX];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    bool merged = false;

    if (access(out, F_OK) != 0)
        return 0;
    if (realpath(out, abs) == NULL)
        return merge_fail(m, DAEMON_EXIT_CONFIG, "%s: %s", out,
                          strerror(errno));
    merge_uri(uri, sizeof(uri), abs);
    if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                        NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'merge_sources'",
                           -1, &stmt, NULL) == SQLITE_OK)
        merged = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    if (!merged)
        return merge_fail(m, DAEMON_EXIT_CONFIG,
                          "%s exists and is not a merged store (no table "
                          "merge_sources): refusing to replace it",
                          out);
    return 0;
}

/* ---- OUT ---------------------------------------------------------------- */

/* OUT's ingest_stats columns as SQL definitions, in order. */
static const char merge_stats_cols_sql[] =
    "SELECT group_concat(printf('\"%w\" %s%s%s', name, type,"
    " CASE WHEN \"notnull\" OR pk THEN ' NOT NULL' ELSE '' END,"
    " CASE WHEN dflt_value IS NULL THEN '' ELSE ' DEFAULT ' || dflt_value"
    " END), ', ') FROM pragma_table_info('ingest_stats')";

/* ingest_stats again, with `source` first and in the primary key. */
static int merge_rebuild_stats(struct merge *m)
{
    char sql[MERGE_SQL_MAX];
    sqlite3_stmt *stmt = NULL;
    const char *cols = NULL;
    int n = -1;

    if (sqlite3_prepare_v2(m->st.db, merge_stats_cols_sql, -1, &stmt, NULL) ==
            SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        cols = (const char *) sqlite3_column_text(stmt, 0);
    if (cols != NULL)
        n = snprintf(sql, sizeof(sql),
                     "CREATE TABLE ingest_stats_merged (source TEXT NOT NULL,"
                     " %s, PRIMARY KEY (source, ts_ms));"
                     "DROP TABLE ingest_stats;"
                     "ALTER TABLE ingest_stats_merged RENAME TO ingest_stats;"
                     "CREATE TABLE merge_sources ("
                     " source TEXT PRIMARY KEY,"
                     " schema_version INTEGER NOT NULL,"
                     " series INTEGER NOT NULL,"
                     " rollups INTEGER NOT NULL,"
                     " samples INTEGER NOT NULL);",
                     cols);
    sqlite3_finalize(stmt);
    if (n < 0 || (size_t) n >= sizeof(sql))
        return merge_fail(m, DAEMON_EXIT_RUNTIME,
                          "cannot read the columns of ingest_stats");
    return merge_exec(m, sql, "ingest_stats with a source column");
}

static int merge_open_out(struct merge *m, const char *out)
{
    struct config cfg;
    int fd;
    int rc;

    if (snprintf(m->tmp, sizeof(m->tmp), "%s" MERGE_TMP_SUFFIX, out) >=
        (int) sizeof(m->tmp))
        return merge_fail(m, DAEMON_EXIT_CONFIG, "%s: path too long", out);
    fd = mkstemp(m->tmp);
    if (fd < 0) {
        rc = merge_fail(m, DAEMON_EXIT_RUNTIME, "cannot create %s: %s", m->tmp,
                        strerror(errno));
        m->tmp[0] = '\0';
        return rc;
    }
    close(fd);
    config_defaults(&cfg);
    snprintf(cfg.store.path, sizeof(cfg.store.path), "%s", m->tmp);
    cfg.store.cache_mb = MERGE_CACHE_MB;
    cfg.store.heap_limit_mb = MERGE_HEAP_MB;
    if (store_open(&m->st, &cfg) < 0)
        return merge_fail(m, DAEMON_EXIT_RUNTIME, "cannot create %s", m->tmp);
    m->open = true;
    sqlite3_busy_timeout(m->st.db, MERGE_BUSY_MS);
    /* Built from scratch, made atomic by the rename: no journal needed. */
    rc = merge_exec(m, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF",
                    "journal_mode");
    return rc != 0 ? rc : merge_rebuild_stats(m);
}

/* ---- one input ----------------------------------------------------------- */

/* Attaches in as `src` and checks that it is a store this binary reads. */
static int merge_attach(struct merge *m, const struct merge_input *in,
                        int64_t *version)
{
    static const char *const tables[] = {"series", "rollups", "samples",
                                         "ingest_stats"};
    char uri[MERGE_URI_MAX];
    char sql[MERGE_URI_MAX + 64];
    char *q;
    int rc;

    merge_uri(uri, sizeof(uri), in->abs);
    q = sqlite3_mprintf("ATTACH %Q AS src", uri);
    if (q == NULL)
        return merge_fail(m, DAEMON_EXIT_RUNTIME, "out of memory");
    rc = sqlite3_exec(m->st.db, q, NULL, NULL, NULL);
    sqlite3_free(q);
    if (rc != SQLITE_OK)
        return merge_fail(m, DAEMON_EXIT_CONFIG, "%s: cannot open: %s", in->arg,
                          sqlite3_errmsg(m->st.db));
    *version = merge_int(m, "PRAGMA src.user_version");
    if (*version == INT64_MIN)
        return merge_fail(m, DAEMON_EXIT_CONFIG, "%s: %s", in->arg,
                          sqlite3_errmsg(m->st.db));
    if (*version > STORE_SCHEMA_VERSION)
        return merge_fail(m, DAEMON_EXIT_CONFIG,
                          "%s has schema version %" PRId64
                          ", this sensorpipe knows up to %d: merge with a "
                          "newer sensorpipe",
                          in->arg, *version, STORE_SCHEMA_VERSION);
    if (*version < 1)
        return merge_fail(
            m, DAEMON_EXIT_CONFIG,
            "%s is not a sensorpipe store (schema version %" PRId64 ")",
            in->arg, *version);
    for (size_t i = 0; i < SP_ARRAY_SIZE(tables); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM src.sqlite_master WHERE type = 'table'"
                 " AND name = '%s'",
                 tables[i]);
        if (merge_int(m, sql) != 1)
            return merge_fail(m, DAEMON_EXIT_CONFIG,
                              "%s has schema version %" PRId64
                              " but no table %s: not a sensorpipe store",
                              in->arg, *version, tables[i]);
    }
    return 0;
}

/* Series by (topic, field); tags and created_ms from the earliest. */
static int merge_series(struct merge *m)
{
    int64_t differ = merge_int(
        m, "SELECT count(*) FROM src.series AS s JOIN main.series AS o"
           " ON o.topic = s.topic AND o.field = s.field"
           " WHERE o.tags IS NOT s.tags");

    int err;

    if (differ > 0)
        m->tag_differences += (uint64_t) differ;
    err = merge_exec(m,
                     "INSERT INTO main.series (topic, field, tags, created_ms)"
                     " SELECT topic, field, tags, created_ms FROM src.series"
                     " WHERE true ORDER BY id"
                     " ON CONFLICT (topic, field) DO UPDATE SET"
                     " tags = CASE WHEN excluded.created_ms < created_ms"
                     " THEN excluded.tags ELSE tags END,"
                     " created_ms = min(created_ms, excluded.created_ms)",
                     "series");
    /* The input's ids to OUT's, so rows join on integers, not text. */
    if (err == 0)
        err = merge_exec(
            m,
            "DROP TABLE IF EXISTS temp.idmap;"
            "CREATE TEMP TABLE idmap (src INTEGER PRIMARY KEY, out INTEGER"
            " NOT NULL);"
            "INSERT INTO temp.idmap SELECT s.id, o.id FROM src.series AS s"
            " JOIN main.series AS o ON o.topic = s.topic AND o.field = s.field",
            "series ids");
    return err;
}

/* In OUT's key order, so the upsert walks its B-tree forward. Values are
 * clamped to +-DBL_MAX, as schema version 2 repaired older files. */
static const char merge_rollups_sql[] =
    "INSERT INTO main.rollups (series_id, resolution_s, bucket_ms, count,"
    " sum, min, max, last, last_ms)"
    " SELECT i.out, r.resolution_s, r.bucket_ms, r.count,"
    " max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", r.sum)),"
    " max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", r.min)),"
    " max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", r.max)),"
    " max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", r.last)), r.last_ms"
    " FROM src.rollups AS r JOIN temp.idmap AS i ON i.src = r.series_id"
    " WHERE true ORDER BY i.out, r.resolution_s, r.bucket_ms"
    " ON CONFLICT (series_id, resolution_s, bucket_ms) DO UPDATE"
    " SET " STORE_ROLLUP_MERGE_SET;

static const char merge_samples_sql[] =
    "INSERT INTO main.samples (series_id, ts_ms, value)"
    " SELECT i.out, x.ts_ms, max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX
    ", x.value))"
    " FROM src.samples AS x JOIN temp.idmap AS i ON i.src = x.series_id";

/* Rollups through the daemon's own merge; samples copied. */
static int merge_rows(struct merge *m)
{
    int err = merge_exec(m, merge_rollups_sql, "rollups");

    if (err == 0)
        m->rollups += (uint64_t) sqlite3_changes64(m->st.db);
    if (err == 0)
        err = merge_exec(m, merge_samples_sql, "samples");
    if (err == 0)
        m->samples += (uint64_t) sqlite3_changes64(m->st.db);
    return err;
}

/* ingest_stats rows, by column name, tagged with their source. */
static int merge_stats(struct merge *m, const struct merge_input *in)
{
    static struct merge_cols out_cols, src_cols;
    char cols[MERGE_SQL_MAX] = "";
    char sql[MERGE_SQL_MAX * 2 + PATH_MAX];
    sqlite3_stmt *stmt = NULL;
    int err = merge_columns(m, "main", "ingest_stats", &out_cols);

    if (err == 0)
        err = merge_columns(m, "src", "ingest_stats", &src_cols);
    for (size_t i = 0; err == 0 && i < out_cols.n; i++) {
        const char *c = out_cols.name[i];
        if (strcmp(c, "source") != 0 && merge_has_col(&src_cols, c))
            err = merge_append(cols, ", \"%s\"", c);
    }
    if (err < 0)
        return merge_fail(m, DAEMON_EXIT_RUNTIME,
                          "ingest_stats: too many "
                          "columns");
    /* An already merged input names its own sources. */
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO main.ingest_stats (source%s)"
             " SELECT %s%s FROM src.ingest_stats",
             cols, merge_has_col(&src_cols, "source") ? "source" : "?1", cols);
    if (sqlite3_prepare_v2(m->st.db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return merge_sql_fail(m, "ingest_stats");
    sqlite3_bind_text(stmt, 1, in->abs, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        err = merge_sql_fail(m, "ingest_stats");
    else
        m->stats += (uint64_t) sqlite3_changes64(m->st.db);
    sqlite3_finalize(stmt);
    return err;
}

static int merge_note_source(struct merge *m, const struct merge_input *in,
                             int64_t version)
{
    sqlite3_stmt *stmt = NULL;
    int err = 0;

    if (sqlite3_prepare_v2(
            m->st.db,
            "INSERT OR REPLACE INTO main.merge_sources (source,"
            " schema_version, series, rollups, samples) VALUES (?1, ?2,"
            " (SELECT count(*) FROM src.series),"
            " (SELECT count(*) FROM src.rollups),"
            " (SELECT count(*) FROM src.samples))",
            -1, &stmt, NULL) != SQLITE_OK)
        return merge_sql_fail(m, "merge_sources");
    sqlite3_bind_text(stmt, 1, in->abs, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, version);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        err = merge_sql_fail(m, "merge_sources");
    sqlite3_finalize(stmt);
    return err;
}

/* One input in one transaction: one snapshot of it. */
static int merge_input(struct merge *m, const struct merge_input *in)
{
    int64_t version = 0;
    int err = merge_attach(m, in, &version);

    if (err == 0)
        err = merge_exec(m, "BEGIN IMMEDIATE", "begin");
    if (err == 0)
        err = merge_series(m);
    if (err == 0)
        err = merge_rows(m);
    if (err == 0)
        err = merge_stats(m, in);
    if (err == 0)
        err = merge_note_source(m, in, version);
    if (err == 0)
        err = merge_exec(m, "COMMIT", "commit");
    if (err != 0 && !sqlite3_get_autocommit(m->st.db))
        (void) sqlite3_exec(m->st.db, "ROLLBACK", NULL, NULL, NULL);
    (void) sqlite3_exec(m->st.db, "DETACH src", NULL, NULL, NULL);
    return err;
}

/* ---- finishing ------------------------------------------------------------
 */

static int merge_sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    int err = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        err = -errno;
    close(fd);
    return err;
}

/* Rollback journal, synced, renamed over OUT, directory synced. */
static int merge_finish(struct merge *m, const char *out)
{
    char dir[PATH_MAX];
    char *slash;
    int err;

    m->series = (uint64_t) merge_int(m, "SELECT count(*) FROM series");
    err = merge_exec(m, "PRAGMA journal_mode = DELETE", "journal_mode");
    if (err != 0)
        return err;
    store_close(&m->st);
    m->open = false;
    if (merge_sync_path(m->tmp, O_RDONLY) < 0 || rename(m->tmp, out) != 0)
        return merge_fail(m, DAEMON_EXIT_RUNTIME, "cannot replace %s: %s", out,
                          strerror(errno));
    m->tmp[0] = '\0';
    snprintf(dir, sizeof(dir), "%s", out);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    (void) merge_sync_path(dir, O_RDONLY | O_DIRECTORY);
    return 0;
}

/* Closes and deletes what a failed run left. */
static void merge_abandon(struct merge *m)
{
    static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
    char path[PATH_MAX + 16];

    if (m->open)
        store_close(&m->st);
    m->open = false;
    for (size_t i = 0; m->tmp[0] && i < SP_ARRAY_SIZE(ext); i++) {
        snprintf(path, sizeof(path), "%s%s", m->tmp, ext[i]);
        (void) unlink(path);
    }
}

int merge_run(const char *out, const char *const *in, size_t n_in, FILE *err,
              FILE *info)
{
    static struct merge m;
    struct merge_input *inputs;
    int rc = 0;

    memset(&m, 0, sizeof(m));
    m.err = err;
    if (n_in == 0)
        return merge_fail(&m, DAEMON_EXIT_CONFIG,
                          "usage: sensorpipe merge "
                          "OUT.db IN.db...");
    inputs = calloc(n_in, sizeof(*inputs));
    if (inputs == NULL)
        return merge_fail(&m, DAEMON_EXIT_RUNTIME, "out of memory");
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        inputs[i].arg = in[i];
        rc = merge_check_input(&m, &inputs[i]);
    }
    if (rc == 0)
        rc = merge_check_args(&m, out, inputs, n_in);
    if (rc == 0)
        rc = merge_check_out(&m, out);
    /* ATTACH takes "file:" URIs (Debian's SQLite already does). */
    (void) sqlite3_config(SQLITE_CONFIG_URI, 1);
    if (rc == 0)
        rc = merge_open_out(&m, out);
    for (size_t i = 0; i < n_in && rc == 0; i++)
        rc = merge_input(&m, &inputs[i]);
    if (rc == 0)
        rc = merge_finish(&m, out);
    merge_abandon(&m);
    free(inputs);
    if (rc == 0 && info != NULL)
        fprintf(info,
                "sensorpipe merge: %s: %zu inputs, %" PRIu64 " series, %" PRIu64
                " rollup rows read, %" PRIu64 " samples, %" PRIu64
                " stats rows\n",
                out, n_in, m.series, m.rollups, m.samples, m.stats);
    if (rc == 0 && m.tag_differences > 0)
        merge_fail(&m, 0,
                   "%" PRIu64 " series carry other tags in another input; "
                   "each kept the tags of the input that created it first",
                   m.tag_differences);
    return rc;
}
