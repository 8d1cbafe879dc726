/*
 * store.c - the SQLite file: schema version 4, migrations, the writer's
 * prepared statements, exact-merge upserts and chunked retention.
 *
 * The schema is one static SQL string per version step. A new file is
 * version 0 with no tables; store_migrations[] holds one step per version
 * (from N to N + 1), each run in its own BEGIN IMMEDIATE transaction that
 * also sets PRAGMA user_version, so a crash leaves either the old or the new
 * version, never a mix. Version 2 is added by appending a step.
 *
 * Every SQLite result code goes through store_fail(), the one place that
 * maps it to -errno and logs it (SQLITE_BUSY and SQLITE_LOCKED are not
 * logged: the writer retries them).
 *
 * Threads: store_open() and store_load_series() run at start-up; afterwards
 * one thread, the writer, uses the connection (hence SQLITE_OPEN_NOMUTEX).
 * Dashboards read the file through their own connections; WAL keeps them
 * from blocking the writer.
 *
 * Invariants:
 *   - Every statement in store_stmts[] is prepared once, in store_open(),
 *     and is reset after each use, so none holds a lock between calls.
 *   - The rollups upsert merges exactly as bucket_acc_merge() does: the SET
 *     expressions of ON CONFLICT DO UPDATE all read the old row, and a tie
 *     on last_ms goes to the incoming partial (the later hand-off).
 *   - After store_commit() fails with -EBUSY the transaction is still open
 *     (sqlite3_get_autocommit() == 0), so the batch can be committed again.
 *
 * Memory: SQLite allocates inside its own heap, capped process-wide with
 * sqlite3_hard_heap_limit64() and per connection with PRAGMA cache_size.
 * This file allocates nothing itself; store_vacuum_step() prepares a
 * statement per call (maintenance, off the message path).
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"

#define STORE_OPEN_FLAGS                                                       \
    (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)
#define STORE_BUSY_TIMEOUT_MS 100
#define STORE_PRAGMA_MAX      128

/*
 * Schema version 1. bucket_ms is a multiple of resolution_s * 1000, so
 * bucket_ms / 1000 in the view is exact. rollups_age and samples_age serve
 * the retention deletes ("resolution_s = ? AND bucket_ms < ?", "ts_ms < ?");
 * the UNIQUE constraint indexes series by topic for dashboards. The commit
 * latencies may be NULL (no commit in the interval).
 */
static const char store_schema_v1[] =
    "CREATE TABLE series ("
    " id INTEGER PRIMARY KEY,"
    " topic TEXT NOT NULL,"
    " field TEXT NOT NULL,"
    " tags TEXT,"
    " created_ms INTEGER NOT NULL,"
    " UNIQUE (topic, field));"
    "CREATE TABLE rollups ("
    " series_id INTEGER NOT NULL,"
    " resolution_s INTEGER NOT NULL,"
    " bucket_ms INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " sum REAL NOT NULL,"
    " min REAL NOT NULL,"
    " max REAL NOT NULL,"
    " last REAL NOT NULL,"
    " last_ms INTEGER NOT NULL,"
    " PRIMARY KEY (series_id, resolution_s, bucket_ms)) WITHOUT ROWID;"
    "CREATE INDEX rollups_age ON rollups (resolution_s, bucket_ms);"
    "CREATE TABLE samples ("
    " series_id INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL,"
    " value REAL NOT NULL);"
    "CREATE INDEX samples_series_ts ON samples (series_id, ts_ms);"
    "CREATE INDEX samples_age ON samples (ts_ms);"
    "CREATE TABLE ingest_stats ("
    " ts_ms INTEGER PRIMARY KEY,"
    " received INTEGER NOT NULL,"
    " decoded INTEGER NOT NULL,"
    " samples INTEGER NOT NULL,"
    " dropped_overflow INTEGER NOT NULL,"
    " dropped_oversize INTEGER NOT NULL,"
    " dropped_invalid INTEGER NOT NULL,"
    " dropped_series_limit INTEGER NOT NULL,"
    " late INTEGER NOT NULL,"
    " clock_skew INTEGER NOT NULL,"
    " series INTEGER NOT NULL,"
    " paused_ms INTEGER NOT NULL,"
    " commit_p50_ms REAL,"
    " commit_p99_ms REAL);"
    "CREATE VIEW rollups_v AS"
    " SELECT r.bucket_ms / 1000 AS time, s.topic AS topic, s.field AS field,"
    " s.tags AS tags, r.resolution_s AS resolution_s, r.count AS count,"
    " r.sum / r.count AS mean, r.min AS min, r.max AS max, r.last AS last"
    " FROM rollups AS r JOIN series AS s ON s.id = r.series_id;";

/*
 * Version 2: no value in the file is infinite (an older binary could store
 * a sum that overflowed, and a later merge of +inf and -inf made NaN, which
 * SQLite turns into NULL and the NOT NULL constraint refuses, failing every
 * batch). Such values saturate at +-DBL_MAX, as merges do from now on; and
 * two counters of refused samples join ingest_stats.
 */
static const char store_schema_v2[] =
    "UPDATE rollups SET"
    " sum = max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", sum)),"
    " min = max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", min)),"
    " max = max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", max)),"
    " last = max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", last))"
    " WHERE abs(sum) > " STORE_DBL_MAX " OR abs(min) > " STORE_DBL_MAX
    " OR abs(max) > " STORE_DBL_MAX " OR abs(last) > " STORE_DBL_MAX ";"
    "UPDATE samples SET"
    " value = max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ", value))"
    " WHERE abs(value) > " STORE_DBL_MAX ";"
    "ALTER TABLE ingest_stats ADD COLUMN dropped_samples_series_limit"
    " INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE ingest_stats ADD COLUMN dropped_samples_store"
    " INTEGER NOT NULL DEFAULT 0;";

/* Version 3: samples refused because their series' registry slot lay too
 * far (keys chosen to collide in the registry's hash). */
static const char store_schema_v3[] =
    "ALTER TABLE ingest_stats ADD COLUMN dropped_samples_probe"
    " INTEGER NOT NULL DEFAULT 0;";

/*
 * Version 4: the subscriptions the broker's persistent session holds for
 * each client id, as far as the daemon knows (SUBACK received, no UNSUBACK
 * yet), so that a filter removed from the file while the daemon was
 * stopped is unsubscribed at the next start. A client id without rows has
 * no record (a store from before this version).
 */
static const char store_schema_v4[] =
    "CREATE TABLE subscriptions ("
    " client_id TEXT NOT NULL,"
    " filter TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " qos INTEGER NOT NULL,"
    " acked_ms INTEGER NOT NULL,"
    " PRIMARY KEY (client_id, filter)) WITHOUT ROWID;";

/* One schema step: run on a file whose user_version is `from`. */
struct store_migration {
    int from;
    const char *sql;
};

/* Index i upgrades version i to i + 1; append a step for each new version. */
static const struct store_migration store_migrations[] = {
    {0, store_schema_v1},
    {1, store_schema_v2},
    {2, store_schema_v3},
    {3, store_schema_v4},
};

_Static_assert(SP_ARRAY_SIZE(store_migrations) == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/*
 * What a version-1 file must hold to be used: the tables and the view of
 * the contract. The indexes only make retention fast, so a file made by
 * hand from DESIGN.md without them still opens.
 */
static const struct {
    const char *type;
    const char *name;
} store_objects[] = {
    {"table", "series"},   {"table", "rollups"},
    {"table", "samples"},  {"table", "ingest_stats"},
    {"view", "rollups_v"}, {"table", "subscriptions"},
};

/*
 * The persistent statements. Retention deletes go through the primary key
 * of the rows a bounded subquery picks: rollups has no rowid, and DELETE ...
 * LIMIT needs a compile-time option Debian's SQLite lacks.
 */
static const struct {
    size_t off;
    const char *sql;
} store_stmts[] = {
    {offsetof(struct store, st_begin), "BEGIN IMMEDIATE"},
    {offsetof(struct store, st_commit), "COMMIT"},
    {offsetof(struct store, st_rollback), "ROLLBACK"},
    {offsetof(struct store, st_upsert),
     "INSERT INTO rollups (series_id, resolution_s, bucket_ms, count, sum,"
     " min, max, last, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
     " ON CONFLICT (series_id, resolution_s, bucket_ms) DO UPDATE "
     "SET " STORE_ROLLUP_MERGE_SET},
    {offsetof(struct store, st_series),
     "INSERT INTO series (id, topic, field, tags, created_ms)"
     " VALUES (?1, ?2, ?3, ?4, ?5)"},
    {offsetof(struct store, st_series_id),
     "SELECT id FROM series WHERE topic = ?1 AND field = ?2"},
    {offsetof(struct store, st_sample),
     "INSERT INTO samples (series_id, ts_ms, value) VALUES (?1, ?2, ?3)"},
    {offsetof(struct store, st_stats),
     "INSERT OR REPLACE INTO ingest_stats (ts_ms, received, decoded, samples,"
     " dropped_overflow, dropped_oversize, dropped_invalid,"
     " dropped_series_limit, late, clock_skew, series, paused_ms,"
     " commit_p50_ms, commit_p99_ms, dropped_samples_series_limit,"
     " dropped_samples_store, dropped_samples_probe) VALUES (?1, ?2, ?3,"
     " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"},
    {offsetof(struct store, st_ret_rollups),
     "DELETE FROM rollups WHERE (series_id, resolution_s, bucket_ms) IN"
     " (SELECT series_id, resolution_s, bucket_ms FROM rollups"
     " WHERE resolution_s = ?1 AND bucket_ms < ?2 LIMIT ?3)"},
    {offsetof(struct store, st_ret_samples),
     "DELETE FROM samples WHERE rowid IN"
     " (SELECT rowid FROM samples WHERE ts_ms < ?1 LIMIT ?2)"},
    {offsetof(struct store, st_subs_clear),
     "DELETE FROM subscriptions WHERE client_id = ?1"},
    {offsetof(struct store, st_subs_add),
     "INSERT OR REPLACE INTO subscriptions (client_id, filter, name, qos,"
     " acked_ms) VALUES (?1, ?2, ?3, ?4, ?5)"},
};

/* SQLite codes that do not mean -EIO; extended codes are matched first. */
static const struct {
    int rc;
    int err;
} store_errs[] = {
    {SQLITE_CONSTRAINT_PRIMARYKEY, -EEXIST},
    {SQLITE_CONSTRAINT_UNIQUE, -EEXIST},
    {SQLITE_CONSTRAINT, -EINVAL}, /* NOT NULL, CHECK, a trigger's RAISE */
    {SQLITE_MISMATCH, -EINVAL},
    {SQLITE_TOOBIG, -E2BIG},
    {SQLITE_IOERR_NOMEM, -ENOMEM},
    {SQLITE_BUSY, -EBUSY},
    {SQLITE_LOCKED, -EBUSY},
    {SQLITE_FULL, -ENOSPC},
    {SQLITE_READONLY, -EROFS},
    {SQLITE_NOMEM, -ENOMEM},
    {SQLITE_PERM, -EACCES},
    {SQLITE_AUTH, -EACCES},
    {SQLITE_CANTOPEN, -EACCES},
};

static int store_errno(sqlite3 *db, int rc)
{
    int sys = db != NULL ? sqlite3_system_errno(db) : 0;
    size_t i;

    /* An open or I/O failure says more through the OS error behind it. */
    if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR) {
        if (sys == ENOENT || sys == EACCES || sys == ENOSPC || sys == EROFS)
            return -sys;
    }
    for (i = 0; i < SP_ARRAY_SIZE(store_errs); i++) {
        if (store_errs[i].rc == rc)
            return store_errs[i].err;
    }
    for (i = 0; i < SP_ARRAY_SIZE(store_errs); i++) {
        if (store_errs[i].rc == (rc & 0xff))
            return store_errs[i].err;
    }
    return -EIO;
}

/* Maps rc to -errno and logs it (except BUSY and FULL, which the writer
 * retries and reports itself, rate-limited; a refused record, which it
 * drops and reports the same way; and a series already there, which it
 * maps to the stored id); what names the operation. */
static int store_fail(const struct store *st, int rc, const char *what)
{
    int err = store_errno(st->db, rc);

    if (err != -EBUSY && err != -ENOSPC && err != -EEXIST &&
        !store_refused(err))
        log_err("store: %s failed: %s", what,
                st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
    return err;
}

/* Steps a statement that returns no rows, then resets it. */
static int store_run(struct store *st, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    int err = 0;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = store_fail(st, rc, what);
    sqlite3_reset(stmt);
    return err;
}

/* Runs SQL without results (pragmas, schema) at start-up. */
static int store_exec(struct store *st, const char *sql, const char *what)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : store_fail(st, rc, what);
}

/* Reads one integer result of sql (a pragma or a count). */
static int store_query_int(struct store *st, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    int err = 0;

    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(stmt, 0);
    else
        err = store_fail(st, rc, sql);
    sqlite3_finalize(stmt);
    return err;
}

static int64_t clamp_u64(uint64_t v)
{
    return v > (uint64_t) INT64_MAX ? INT64_MAX : (int64_t) v;
}

/* Creates the last directory of path when missing (mode 0750). */
static int store_make_dir(const char *path)
{
    char dir[CONFIG_PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t len;

    if (slash == NULL || slash == path)
        return 0;
    len = (size_t) (slash - path);
    if (len >= sizeof(dir)) {
        log_err("store: path too long: %s", path);
        return -ENAMETOOLONG;
    }
    memcpy(dir, path, len);
    dir[len] = '\0';
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        int err = -errno;
        log_err_errno(err, "store: cannot create directory %s", dir);
        return err;
    }
    return 0;
}

/*
 * Refuses files this binary does not understand before changing anything.
 * *is_new is set for an empty, version-0 file.
 */
static int store_check_version(struct store *st, const char *path, bool *is_new)
{
    int64_t version = 0;
    int64_t objects = 0;
    int err;

    err = store_query_int(st, "PRAGMA user_version", &version);
    if (err == 0)
        err =
            store_query_int(st, "SELECT count(*) FROM sqlite_master", &objects);
    if (err < 0)
        return err;
    if (version > STORE_SCHEMA_VERSION || version < 0) {
        log_err("store: %s has schema version %" PRId64
                ", this sensorpipe knows up to %d",
                path, version, STORE_SCHEMA_VERSION);
        return -EPROTO;
    }
    if (version == 0 && objects > 0) {
        log_err("store: %s holds tables but no schema version: not a "
                "sensorpipe store",
                path);
        return -EPROTO;
    }
    *is_new = version == 0;
    return 0;
}

/* Connection settings; auto_vacuum only takes on a file without tables. */
static int store_pragmas(struct store *st, const struct config *cfg,
                         bool is_new)
{
    char sql[STORE_PRAGMA_MAX];
    sqlite3_stmt *stmt = NULL;
    const char *mode = NULL;
    int rc;
    int err;

    if (is_new) {
        err = store_exec(st, "PRAGMA auto_vacuum = INCREMENTAL", "auto_vacuum");
        if (err < 0)
            return err;
    }
    rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &stmt,
                            NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        mode = (const char *) sqlite3_column_text(stmt, 0);
    err = rc == SQLITE_ROW ? 0 : store_fail(st, rc, "journal_mode");
    if (err == 0 && (mode == NULL || strcasecmp(mode, "wal") != 0)) {
        log_err("store: journal_mode WAL refused (mode is %s)",
                mode != NULL ? mode : "unknown");
        err = -EIO;
    }
    sqlite3_finalize(stmt);
    if (err < 0)
        return err;
    (void) snprintf(sql, sizeof(sql),
                    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;"
                    " PRAGMA cache_size = -%" PRId64 ";",
                    (int64_t) cfg->store.cache_mb * 1024);
    return store_exec(st, sql, "pragmas");
}

/* One schema step in one transaction, unless someone else just did it. */
static int store_migrate_step(struct store *st, int from)
{
    char sql[STORE_PRAGMA_MAX];
    int64_t version = -1;
    int err;

    err = store_exec(st, "BEGIN IMMEDIATE", "migration begin");
    if (err == 0)
        err = store_query_int(st, "PRAGMA user_version", &version);
    if (err == 0 && version == from) {
        err = store_exec(st, store_migrations[from].sql, "migration");
        (void) snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", from + 1);
        if (err == 0)
            err = store_exec(st, sql, "migration user_version");
    }
    if (err == 0)
        return store_exec(st, "COMMIT", "migration commit");
    if (!sqlite3_get_autocommit(st->db))
        (void) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

/* Runs every step from the file's version up to STORE_SCHEMA_VERSION. */
static int store_migrate(struct store *st)
{
    int64_t version = 0;
    int err;

    for (;;) {
        err = store_query_int(st, "PRAGMA user_version", &version);
        if (err < 0 || version >= STORE_SCHEMA_VERSION)
            return err;
        assert(version >= 0);
        assert(store_migrations[version].from == (int) version);
        err = store_migrate_step(st, (int) version);
        if (err < 0)
            return err;
    }
}

/* A version-1 file must hold every object of store_objects[]. */
static int store_check_objects(struct store *st, const char *path)
{
    sqlite3_stmt *stmt = NULL;
    int rc;
    int err = 0;
    size_t i;

    rc = sqlite3_prepare_v2(st->db,
                            "SELECT 1 FROM sqlite_master WHERE type = ?1"
                            " AND name = ?2",
                            -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_fail(st, rc, "schema check");
    for (i = 0; i < SP_ARRAY_SIZE(store_objects) && err == 0; i++) {
        sqlite3_bind_text(stmt, 1, store_objects[i].type, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, store_objects[i].name, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) {
            log_err("store: %s has schema version %d but no %s %s", path,
                    STORE_SCHEMA_VERSION, store_objects[i].type,
                    store_objects[i].name);
            err = -EPROTO;
        } else if (rc != SQLITE_ROW) {
            err = store_fail(st, rc, "schema check");
        }
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return err;
}

static sqlite3_stmt **store_stmt_slot(struct store *st, size_t i)
{
    return (sqlite3_stmt **) (void *) ((char *) st + store_stmts[i].off);
}

static int store_prepare(struct store *st)
{
    size_t i;
    int rc;

    for (i = 0; i < SP_ARRAY_SIZE(store_stmts); i++) {
        rc = sqlite3_prepare_v3(st->db, store_stmts[i].sql, -1,
                                SQLITE_PREPARE_PERSISTENT,
                                store_stmt_slot(st, i), NULL);
        if (rc != SQLITE_OK)
            return store_fail(st, rc, "prepare");
    }
    return 0;
}

void store_set_retention(struct store *st,
                         const uint64_t retention_ms[CONFIG_MAX_RESOLUTIONS],
                         uint64_t raw_retention_ms)
{
    for (unsigned i = 0; i < CONFIG_MAX_RESOLUTIONS; i++)
        st->retention_ms[i] = clamp_u64(retention_ms[i]);
    st->raw_retention_ms = clamp_u64(raw_retention_ms);
}

/* Copies what the writer needs from cfg: resolutions and retention. */
static void store_set_policy(struct store *st, const struct config *cfg)
{
    unsigned i;

    assert(cfg->aggregate.n_resolutions <= CONFIG_MAX_RESOLUTIONS);
    st->n_res = cfg->aggregate.n_resolutions;
    for (i = 0; i < st->n_res; i++)
        st->res_s[i] = cfg->aggregate.resolutions_s[i];
    store_set_retention(st, cfg->store.retention_ms,
                        cfg->store.raw_retention_ms);
    st->retention_next = 0;
}

static int store_connect(struct store *st, const char *path)
{
    int rc = sqlite3_open_v2(path, &st->db, STORE_OPEN_FLAGS, NULL);

    if (rc != SQLITE_OK) {
        log_err("store: cannot open %s: %s", path,
                st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        return store_errno(st->db, rc);
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    return 0;
}

int store_open(struct store *st, const struct config *cfg)
{
    const char *path = cfg->store.path;
    bool is_new = false;
    int err;

    memset(st, 0, sizeof(*st));
    store_set_policy(st, cfg);
    err = store_make_dir(path);
    if (err < 0)
        return err;
    (void) sqlite3_hard_heap_limit64((sqlite3_int64) cfg->store.heap_limit_mb
                                     << 20);
    err = store_connect(st, path);
    if (err == 0)
        err = store_check_version(st, path, &is_new);
    if (err == 0)
        err = store_pragmas(st, cfg, is_new);
    if (err == 0)
        err = store_migrate(st);
    if (err == 0)
        err = store_check_objects(st, path);
    if (err == 0)
        err = store_prepare(st);
    if (err < 0)
        store_close(st);
    return err;
}

void store_close(struct store *st)
{
    size_t i;

    for (i = 0; i < SP_ARRAY_SIZE(store_stmts); i++) {
        sqlite3_stmt **slot = store_stmt_slot(st, i);
        sqlite3_finalize(*slot);
        *slot = NULL;
    }
    if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
        log_err("store: close failed: %s", sqlite3_errmsg(st->db));
    st->db = NULL;
}

int store_load_series(struct store *st, int64_t since_ms, store_series_fn fn,
                      void *ctx)
{
    sqlite3_stmt *stmt = NULL;
    int rc;
    int ret = 0;

    /* Recent: a finest rollup since since_ms, or created since. Through
     * rollups_age (resolution_s, bucket_ms), newest first. */
    rc = sqlite3_prepare_v2(
        st->db,
        "SELECT s.id, s.topic, s.field, s.tags FROM series AS s"
        " LEFT JOIN (SELECT series_id, max(bucket_ms) AS m FROM rollups"
        " WHERE resolution_s = ?1 AND bucket_ms >= ?2 GROUP BY series_id)"
        " AS r ON r.series_id = s.id"
        " WHERE r.m IS NOT NULL OR s.created_ms >= ?2"
        " ORDER BY max(coalesce(r.m, s.created_ms), s.created_ms) DESC, s.id",
        -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_fail(st, rc, "load series");
    sqlite3_bind_int64(stmt, 1, st->n_res > 0 ? st->res_s[0] : 0);
    sqlite3_bind_int64(stmt, 2, since_ms);
    while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ret = fn(ctx, sqlite3_column_int64(stmt, 0),
                 (const char *) sqlite3_column_text(stmt, 1),
                 (const char *) sqlite3_column_text(stmt, 2),
                 (const char *) sqlite3_column_text(stmt, 3));
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = store_fail(st, rc, "load series");
    sqlite3_finalize(stmt);
    return ret;
}

int store_max_series_id(struct store *st, int64_t *id)
{
    *id = 0;
    return store_query_int(st, "SELECT coalesce(max(id), 0) FROM series", id);
}

int store_begin(struct store *st)
{
    ASSERT_THREAD(THREAD_WRITER);
    assert(sqlite3_get_autocommit(st->db));
    return store_run(st, st->st_begin, "begin");
}

int store_commit(struct store *st)
{
    ASSERT_THREAD(THREAD_WRITER);
    /* On SQLITE_BUSY the transaction stays open and COMMIT can be retried. */
    return store_run(st, st->st_commit, "commit");
}

void store_rollback(struct store *st)
{
    ASSERT_THREAD(THREAD_WRITER);
    /* Some errors (SQLITE_FULL, SQLITE_NOMEM) may already have rolled back. */
    if (st->db != NULL && !sqlite3_get_autocommit(st->db))
        (void) store_run(st, st->st_rollback, "rollback");
}

/* Binding a number to a valid index cannot fail; text may (too big). */
static int store_bind_fail(struct store *st, sqlite3_stmt *stmt,
                           const char *what)
{
    int err = store_fail(st, sqlite3_extended_errcode(st->db), what);

    sqlite3_clear_bindings(stmt);
    return err;
}

int store_upsert_rollup(struct store *st, int64_t series_id, unsigned res_s,
                        int64_t bucket_ms, const struct bucket_acc *acc)
{
    sqlite3_stmt *s = st->st_upsert;

    ASSERT_THREAD(THREAD_WRITER);
    if (acc->count == 0)
        return 0;
    /* Never a non-finite number into the file (bucket.h saturates). */
    if (!isfinite(acc->sum) || !isfinite(acc->min) || !isfinite(acc->max) ||
        !isfinite(acc->last))
        return -EINVAL;
    if (sqlite3_bind_int64(s, 1, series_id) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, res_s) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, bucket_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, clamp_u64(acc->count)) != SQLITE_OK ||
        sqlite3_bind_double(s, 5, acc->sum) != SQLITE_OK ||
        sqlite3_bind_double(s, 6, acc->min) != SQLITE_OK ||
        sqlite3_bind_double(s, 7, acc->max) != SQLITE_OK ||
        sqlite3_bind_double(s, 8, acc->last) != SQLITE_OK ||
        sqlite3_bind_int64(s, 9, acc->last_ms) != SQLITE_OK)
        return store_bind_fail(st, s, "upsert rollup");
    return store_run(st, s, "upsert rollup");
}

int store_merge_partial(struct store *st, int64_t series_id, int64_t bucket_ms,
                        const struct bucket_acc *acc)
{
    unsigned i;
    int err = 0;

    ASSERT_THREAD(THREAD_WRITER);
    assert(st->n_res == 0 ||
           bucket_ms ==
               bucket_start_ms(bucket_ms, (int64_t) st->res_s[0] * 1000));
    for (i = 0; i < st->n_res && err == 0; i++) {
        int64_t res_ms = (int64_t) st->res_s[i] * 1000;
        err = store_upsert_rollup(st, series_id, st->res_s[i],
                                  bucket_start_ms(bucket_ms, res_ms), acc);
    }
    return err;
}

int store_insert_series_row(struct store *st,
                            const struct store_series_row *row)
{
    sqlite3_stmt *s = st->st_series;
    int rc;
    int err;

    ASSERT_THREAD(THREAD_WRITER);
    /* SQLITE_STATIC: the texts are only read by the step below. */
    if (sqlite3_bind_int64(s, 1, row->id) != SQLITE_OK ||
        sqlite3_bind_text64(s, 2, row->topic, row->topic_len, SQLITE_STATIC,
                            SQLITE_UTF8) != SQLITE_OK ||
        sqlite3_bind_text64(s, 3, row->field, row->field_len, SQLITE_STATIC,
                            SQLITE_UTF8) != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, row->created_ms) != SQLITE_OK)
        return store_bind_fail(st, s, "insert series");
    if (row->tags != NULL)
        rc = sqlite3_bind_text64(s, 4, row->tags, row->tags_len, SQLITE_STATIC,
                                 SQLITE_UTF8);
    else
        rc = sqlite3_bind_null(s, 4);
    if (rc != SQLITE_OK)
        return store_bind_fail(st, s, "insert series");
    err = store_run(st, s, "insert series");
    /* Drop the borrowed text pointers before the caller's buffers go. */
    sqlite3_clear_bindings(s);
    return err;
}

int store_series_id(struct store *st, const struct store_series_row *row,
                    int64_t *id)
{
    sqlite3_stmt *s = st->st_series_id;
    int rc;

    ASSERT_THREAD(THREAD_WRITER);
    if (sqlite3_bind_text64(s, 1, row->topic, row->topic_len, SQLITE_STATIC,
                            SQLITE_UTF8) != SQLITE_OK ||
        sqlite3_bind_text64(s, 2, row->field, row->field_len, SQLITE_STATIC,
                            SQLITE_UTF8) != SQLITE_OK)
        return store_bind_fail(st, s, "find series");
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT : store_fail(st, rc, "find series");
}

int store_insert_sample(struct store *st, int64_t series_id, int64_t ts_ms,
                        double value)
{
    sqlite3_stmt *s = st->st_sample;

    ASSERT_THREAD(THREAD_WRITER);
    if (!isfinite(value))
        return -EINVAL;
    if (sqlite3_bind_int64(s, 1, series_id) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, ts_ms) != SQLITE_OK ||
        sqlite3_bind_double(s, 3, value) != SQLITE_OK)
        return store_bind_fail(st, s, "insert sample");
    return store_run(st, s, "insert sample");
}

int store_insert_stats(struct store *st, const struct store_stats_row *row)
{
    const uint64_t counters[] = {
        row->received,
        row->decoded,
        row->samples,
        row->dropped_overflow,
        row->dropped_oversize,
        row->dropped_invalid,
        row->dropped_series_limit,
        row->late,
        row->clock_skew,
        row->series,
        row->paused_ms,
    };
    const uint64_t more[] = {
        row->dropped_samples_series_limit,
        row->dropped_samples_store,
        row->dropped_samples_probe,
    };
    sqlite3_stmt *s = st->st_stats;
    int rc;
    int i;

    ASSERT_THREAD(THREAD_WRITER);
    rc = sqlite3_bind_int64(s, 1, row->ts_ms);
    for (i = 0; i < (int) SP_ARRAY_SIZE(counters) && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_int64(s, i + 2, clamp_u64(counters[i]));
    /* A NaN latency (no commit in the interval) binds as NULL. */
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, 13, row->commit_p50_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(s, 14, row->commit_p99_ms);
    for (i = 0; i < (int) SP_ARRAY_SIZE(more) && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_int64(s, i + 15, clamp_u64(more[i]));
    if (rc != SQLITE_OK)
        return store_bind_fail(st, s, "insert stats");
    return store_run(st, s, "insert stats");
}

unsigned store_retention_targets(const struct store *st)
{
    unsigned n = st->raw_retention_ms > 0 ? 1 : 0;
    unsigned i;

    for (i = 0; i < st->n_res; i++)
        n += st->retention_ms[i] > 0 ? 1 : 0;
    return n;
}

/* now_ms - keep_ms without overflow (keep_ms > 0). */
static int64_t store_cutoff_ms(int64_t now_ms, int64_t keep_ms)
{
    return now_ms < INT64_MIN + keep_ms ? INT64_MIN : now_ms - keep_ms;
}

/* Deletes one chunk of target t: a resolution index, or n_res for samples. */
static int store_retention_chunk(struct store *st, unsigned t, int64_t now_ms,
                                 unsigned max_rows)
{
    sqlite3_stmt *s;
    int rc;

    if (t < st->n_res) {
        s = st->st_ret_rollups;
        rc = sqlite3_bind_int64(s, 1, st->res_s[t]);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(
                s, 2, store_cutoff_ms(now_ms, st->retention_ms[t]));
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(s, 3, max_rows);
    } else {
        s = st->st_ret_samples;
        rc = sqlite3_bind_int64(s, 1,
                                store_cutoff_ms(now_ms, st->raw_retention_ms));
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(s, 2, max_rows);
    }
    if (rc != SQLITE_OK)
        return store_bind_fail(st, s, "retention");
    return store_run(st, s, "retention");
}

int store_retention_step(struct store *st, int64_t now_ms, unsigned max_rows,
                         unsigned *deleted)
{
    unsigned slots = st->n_res + 1; /* resolutions, then raw samples */
    unsigned i;
    int err;

    ASSERT_THREAD(THREAD_WRITER);
    *deleted = 0;
    for (i = 0; i < slots; i++) {
        unsigned t = (st->retention_next + i) % slots;
        int64_t keep =
            t < st->n_res ? st->retention_ms[t] : st->raw_retention_ms;
        if (keep <= 0)
            continue;
        st->retention_next = (t + 1) % slots;
        err = store_retention_chunk(st, t, now_ms, max_rows);
        if (err < 0)
            return err;
        *deleted = (unsigned) sqlite3_changes64(st->db);
        return 0;
    }
    return 0;
}

int store_vacuum_step(struct store *st, unsigned pages)
{
    char sql[STORE_PRAGMA_MAX];
    sqlite3_stmt *s = NULL;
    int rc;

    ASSERT_THREAD(THREAD_WRITER);
    assert(sqlite3_get_autocommit(st->db));
    if (pages == 0)
        return 0;
    /* SQLite reads a count beyond INT32_MAX as "every free page". */
    if (pages > INT32_MAX)
        pages = INT32_MAX;
    /* A pragma's argument cannot be bound, so this one is built per call. */
    (void) snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%u)", pages);
    rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW)
        rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, rc, "incremental vacuum");
}

/* ---- the record of the broker's subscriptions ---------------------------- */

#define STORE_SUBS_SELECT                                                      \
    "SELECT filter, name, qos, acked_ms FROM subscriptions"                    \
    " WHERE client_id = ?1 ORDER BY filter"

/* Calls fn per row of client_id on db. Returns: 0, fn's value, or an
 * SQLite result code (positive) for the caller to translate. */
static int store_subs_query(sqlite3 *db, const char *client_id, store_sub_fn fn,
                            void *ctx)
{
    struct store_sub row;
    sqlite3_stmt *stmt = NULL;
    int rc;
    int ret = 0;

    rc = sqlite3_prepare_v2(db, STORE_SUBS_SELECT, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, client_id, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && ret == 0 &&
           (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        row.filter = (const char *) sqlite3_column_text(stmt, 0);
        row.name = (const char *) sqlite3_column_text(stmt, 1);
        row.qos = sqlite3_column_int(stmt, 2);
        row.acked_ms = sqlite3_column_int64(stmt, 3);
        if (row.filter != NULL && row.name != NULL)
            ret = fn(ctx, &row);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (ret != 0)
        return ret;
    return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : rc;
}

int store_load_subscriptions(struct store *st, const char *client_id,
                             store_sub_fn fn, void *ctx)
{
    int rc = store_subs_query(st->db, client_id, fn, ctx);

    return rc > 0 ? store_fail(st, rc, "load subscriptions") : rc;
}

int store_peek_subscriptions(const char *path, const char *client_id,
                             store_sub_fn fn, void *ctx)
{
    sqlite3 *db = NULL;
    int64_t has_table = 0;
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (access(path, F_OK) < 0)
        return -errno;
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT count(*) FROM sqlite_master WHERE"
                                " type = 'table' AND name = 'subscriptions'",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        has_table = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK && has_table == 0)
        rc = -ENOMSG;
    else if (rc == SQLITE_OK)
        rc = store_subs_query(db, client_id, fn, ctx);
    if (rc > 0)
        rc = store_errno(db, rc);
    sqlite3_close(db);
    return rc;
}

int store_clear_subscriptions(struct store *st, const char *client_id)
{
    sqlite3_stmt *s = st->st_subs_clear;

    ASSERT_THREAD(THREAD_WRITER);
    if (sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC) != SQLITE_OK)
        return store_bind_fail(st, s, "clear subscriptions");
    return store_run(st, s, "clear subscriptions");
}

int store_add_subscription(struct store *st, const char *client_id,
                           const struct store_sub *row)
{
    sqlite3_stmt *s = st->st_subs_add;
    int err;

    ASSERT_THREAD(THREAD_WRITER);
    if (sqlite3_bind_text(s, 1, client_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, row->filter, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, row->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(s, 4, row->qos) != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, row->acked_ms) != SQLITE_OK)
        return store_bind_fail(st, s, "record subscription");
    err = store_run(st, s, "record subscription");
    sqlite3_clear_bindings(s);
    return err;
}
