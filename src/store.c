/*
 * store.c - the SQLite file: opening it, the writer's prepared statements,
 * exact-merge upserts, chunked retention and the record of the broker's
 * subscriptions. The schema and its migrations are store_schema.c's;
 * result codes become -errno in store_sql.c.
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
#include "store_schema.h"
#include "store_sql.h"
#include "thread.h"

#define STORE_OPEN_FLAGS                                                       \
    (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)
#define STORE_BUSY_TIMEOUT_MS 100
#define STORE_PRAGMA_MAX      200
#define STORE_MERGE_SQL_MAX   8192      /* STORE_MERGE_GROUP x 8 resolutions */
#define STORE_WAL_LIMIT_BYTES (4 << 20) /* journal_size_limit */

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
     " dropped_samples_store, dropped_samples_probe, skipped_retained,"
     " invalid_lines, tag_conflicts, retention_lag_ms)"
     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
     " ?15, ?16, ?17, ?18, ?19, ?20, ?21)"},
    {offsetof(struct store, st_oldest_rollup),
     "SELECT min(bucket_ms) FROM rollups WHERE resolution_s = ?1"},
    {offsetof(struct store, st_oldest_sample),
     "SELECT min(ts_ms) FROM samples"},
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
        err = store_sql_exec(st->db, "PRAGMA auto_vacuum = INCREMENTAL",
                             "auto_vacuum");
        if (err < 0)
            return err;
    }
    rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &stmt,
                            NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        mode = (const char *) sqlite3_column_text(stmt, 0);
    err = rc == SQLITE_ROW ? 0 : store_sql_fail(st->db, rc, "journal_mode");
    if (err == 0 && (mode == NULL || strcasecmp(mode, "wal") != 0)) {
        log_err("store: journal_mode WAL refused (mode is %s)",
                mode != NULL ? mode : "unknown");
        err = -EIO;
    }
    sqlite3_finalize(stmt);
    if (err < 0)
        return err;
    /* A reader that holds a snapshot for long keeps checkpoints from
     * completing and the WAL grows; journal_size_limit cuts the file back
     * when the WAL is next reset, once readers let go. temp_store: a
     * merge of 8 partials journals up to 24 pages for its own rollback,
     * past SQLite's 64 KiB in memory, and Debian's build puts the rest in
     * a temporary file (83-87 MB/s of writes with 10,000 series and a
     * file with history); in memory it is inside the capped heap. */
    (void) snprintf(sql, sizeof(sql),
                    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;"
                    " PRAGMA cache_size = -%" PRId64 ";"
                    " PRAGMA journal_size_limit = %d;"
                    " PRAGMA temp_store = MEMORY;",
                    (int64_t) cfg->store.cache_mb * 1024,
                    STORE_WAL_LIMIT_BYTES);
    return store_sql_exec(st->db, sql, "pragmas");
}

static sqlite3_stmt **store_stmt_slot(struct store *st, size_t i)
{
    return (sqlite3_stmt **) (void *) ((char *) st + store_stmts[i].off);
}

/*
 * The merge of n partials into every resolution as one statement: a row
 * per partial and resolution, the resolutions as constants. Partial k's
 * values are bound once at base b = k * (7 + n_res): ?(b+1) series_id,
 * ?(b+2) count, ?(b+3) sum, ?(b+4) min, ?(b+5) max, ?(b+6) last, ?(b+7)
 * last_ms, and each resolution's bucket start as ?(b+8+i). One step per
 * partial (n = 1) or per STORE_MERGE_GROUP partials.
 */
static int store_prepare_merge(struct store *st, unsigned n_parts,
                               sqlite3_stmt **out)
{
    char sql[STORE_MERGE_SQL_MAX];
    unsigned per = 7 + st->n_res;
    size_t n;
    int rc;

    n = (size_t) snprintf(sql, sizeof(sql),
                          "INSERT INTO rollups (series_id, resolution_s,"
                          " bucket_ms, count, sum, min, max, last, last_ms)"
                          " VALUES");
    for (unsigned k = 0; k < n_parts; k++) {
        unsigned b = k * per;
        for (unsigned i = 0; i < st->n_res && n < sizeof(sql); i++)
            n += (size_t) snprintf(
                sql + n, sizeof(sql) - n,
                "%s (?%u, %u, ?%u, ?%u, ?%u, ?%u, ?%u, ?%u, ?%u)",
                k > 0 || i > 0 ? "," : "", b + 1, st->res_s[i], b + 8 + i,
                b + 2, b + 3, b + 4, b + 5, b + 6, b + 7);
    }
    if (n < sizeof(sql))
        n += (size_t) snprintf(
            sql + n, sizeof(sql) - n,
            " ON CONFLICT (series_id, resolution_s,"
            " bucket_ms) DO UPDATE SET " STORE_ROLLUP_MERGE_SET);
    assert(n < sizeof(sql));
    rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
                            NULL);
    return rc == SQLITE_OK ? 0 : store_sql_fail(st->db, rc, "prepare merge");
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
            return store_sql_fail(st->db, rc, "prepare");
    }
    if (st->n_res == 0)
        return 0;
    rc = store_prepare_merge(st, 1, &st->st_merge);
    return rc < 0 ? rc
                  : store_prepare_merge(st, STORE_MERGE_GROUP,
                                        &st->st_merge_group);
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
        return store_sql_errno(st->db, rc);
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
        err = store_schema_check_version(st->db, path, &is_new);
    if (err == 0)
        err = store_pragmas(st, cfg, is_new);
    if (err == 0)
        err = store_schema_migrate(st->db);
    if (err == 0)
        err = store_schema_check_objects(st->db, path);
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
    sqlite3_finalize(st->st_merge);
    st->st_merge = NULL;
    sqlite3_finalize(st->st_merge_group);
    st->st_merge_group = NULL;
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

    /* Recent: a finest rollup since since_ms, or created since, newest
     * first. The newest bucket of each series is one seek in the primary
     * key (series_id, resolution_s, bucket_ms), so a start reads one entry
     * per series, not every bucket of the window (100,000 series with 100
     * buckets each: 0.7 s, against 4.1 s through rollups_age). */
    rc = sqlite3_prepare_v2(
        st->db,
        "WITH a AS MATERIALIZED (SELECT s.id AS id, s.topic AS topic,"
        " s.field AS field, s.tags AS tags, s.created_ms AS c,"
        " (SELECT max(r.bucket_ms) FROM rollups AS r WHERE"
        " r.series_id = s.id AND r.resolution_s = ?1) AS m FROM series AS s)"
        " SELECT id, topic, field, tags FROM a WHERE m >= ?2 OR c >= ?2"
        " ORDER BY max(coalesce(m, c), c) DESC, id",
        -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_sql_fail(st->db, rc, "load series");
    sqlite3_bind_int64(stmt, 1, st->n_res > 0 ? st->res_s[0] : 0);
    sqlite3_bind_int64(stmt, 2, since_ms);
    while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ret = fn(ctx, sqlite3_column_int64(stmt, 0),
                 (const char *) sqlite3_column_text(stmt, 1),
                 (const char *) sqlite3_column_text(stmt, 2),
                 (const char *) sqlite3_column_text(stmt, 3));
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = store_sql_fail(st->db, rc, "load series");
    sqlite3_finalize(stmt);
    return ret;
}

int store_max_series_id(struct store *st, int64_t *id)
{
    *id = 0;
    return store_sql_query_int(st->db,
                               "SELECT coalesce(max(id), 0) FROM series", id);
}

int store_begin(struct store *st)
{
    ASSERT_THREAD(THREAD_WRITER);
    assert(sqlite3_get_autocommit(st->db));
    return store_sql_step(st->db, st->st_begin, "begin");
}

int store_commit(struct store *st)
{
    ASSERT_THREAD(THREAD_WRITER);
    /* On SQLITE_BUSY the transaction stays open and COMMIT can be retried. */
    return store_sql_step(st->db, st->st_commit, "commit");
}

void store_rollback(struct store *st)
{
    ASSERT_THREAD(THREAD_WRITER);
    /* Some errors (SQLITE_FULL, SQLITE_NOMEM) may already have rolled back. */
    if (st->db != NULL && !sqlite3_get_autocommit(st->db))
        (void) store_sql_step(st->db, st->st_rollback, "rollback");
}

/* Never an empty or non-finite partial into the file (bucket.h saturates
 * sums; an empty one writes nothing). */
static bool partial_writable(const struct bucket_acc *acc)
{
    return acc->count > 0 && isfinite(acc->sum) && isfinite(acc->min) &&
           isfinite(acc->max) && isfinite(acc->last);
}

int store_upsert_rollup(struct store *st, int64_t series_id, unsigned res_s,
                        int64_t bucket_ms, const struct bucket_acc *acc)
{
    sqlite3_stmt *s = st->st_upsert;

    ASSERT_THREAD(THREAD_WRITER);
    if (acc->count == 0)
        return 0;
    if (!partial_writable(acc))
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
        return store_sql_bind_fail(st->db, s, "upsert rollup");
    return store_sql_step(st->db, s, "upsert rollup");
}

/* Binds one partial at parameter base b of a merge statement. */
static bool bind_partial(const struct store *st, sqlite3_stmt *s, int b,
                         const struct store_partial *p)
{
    const struct bucket_acc *acc = p->acc;
    bool ok =
        sqlite3_bind_int64(s, b + 1, p->series_id) == SQLITE_OK &&
        sqlite3_bind_int64(s, b + 2, clamp_u64(acc->count)) == SQLITE_OK &&
        sqlite3_bind_double(s, b + 3, acc->sum) == SQLITE_OK &&
        sqlite3_bind_double(s, b + 4, acc->min) == SQLITE_OK &&
        sqlite3_bind_double(s, b + 5, acc->max) == SQLITE_OK &&
        sqlite3_bind_double(s, b + 6, acc->last) == SQLITE_OK &&
        sqlite3_bind_int64(s, b + 7, acc->last_ms) == SQLITE_OK;

    assert(p->bucket_ms ==
           bucket_start_ms(p->bucket_ms, (int64_t) st->res_s[0] * 1000));
    for (unsigned i = 0; i < st->n_res && ok; i++)
        ok = sqlite3_bind_int64(
                 s, b + 8 + (int) i,
                 bucket_start_ms(p->bucket_ms,
                                 (int64_t) st->res_s[i] * 1000)) == SQLITE_OK;
    return ok;
}

int store_merge_partial(struct store *st, int64_t series_id, int64_t bucket_ms,
                        const struct bucket_acc *acc)
{
    const struct store_partial p = {series_id, bucket_ms, acc};

    ASSERT_THREAD(THREAD_WRITER);
    if (acc->count == 0 || st->n_res == 0)
        return 0;
    if (!partial_writable(acc))
        return -EINVAL;
    if (!bind_partial(st, st->st_merge, 0, &p))
        return store_sql_bind_fail(st->db, st->st_merge, "merge partial");
    return store_sql_step(st->db, st->st_merge, "merge partial");
}

int store_merge_group(struct store *st,
                      const struct store_partial p[STORE_MERGE_GROUP])
{
    sqlite3_stmt *s = st->st_merge_group;
    int per = 7 + (int) st->n_res;

    ASSERT_THREAD(THREAD_WRITER);
    if (st->n_res == 0)
        return 0;
    for (unsigned k = 0; k < STORE_MERGE_GROUP; k++)
        if (!partial_writable(p[k].acc))
            return -EINVAL;
    for (unsigned k = 0; k < STORE_MERGE_GROUP; k++)
        if (!bind_partial(st, s, (int) k * per, &p[k]))
            return store_sql_bind_fail(st->db, s, "merge partials");
    return store_sql_step(st->db, s, "merge partials");
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
        return store_sql_bind_fail(st->db, s, "insert series");
    if (row->tags != NULL)
        rc = sqlite3_bind_text64(s, 4, row->tags, row->tags_len, SQLITE_STATIC,
                                 SQLITE_UTF8);
    else
        rc = sqlite3_bind_null(s, 4);
    if (rc != SQLITE_OK)
        return store_sql_bind_fail(st->db, s, "insert series");
    err = store_sql_step(st->db, s, "insert series");
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
        return store_sql_bind_fail(st->db, s, "find series");
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT
                             : store_sql_fail(st->db, rc, "find series");
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
        return store_sql_bind_fail(st->db, s, "insert sample");
    return store_sql_step(st->db, s, "insert sample");
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
        row->skipped_retained,
        row->invalid_lines,
        row->tag_conflicts,
        row->retention_lag_ms,
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
        return store_sql_bind_fail(st->db, s, "insert stats");
    return store_sql_step(st->db, s, "insert stats");
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
        return store_sql_bind_fail(st->db, s, "retention");
    return store_sql_step(st->db, s, "retention");
}

/* The oldest time of target t (as store_retention_chunk()), or INT64_MAX
 * when it holds no row. */
static int store_oldest(struct store *st, unsigned t, int64_t *oldest)
{
    sqlite3_stmt *s =
        t < st->n_res ? st->st_oldest_rollup : st->st_oldest_sample;
    int rc = SQLITE_OK;
    int err = 0;

    if (t < st->n_res)
        rc = sqlite3_bind_int64(s, 1, st->res_s[t]);
    if (rc != SQLITE_OK)
        return store_sql_bind_fail(st->db, s, "retention lag");
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        *oldest = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_ROW)
        *oldest = INT64_MAX;
    else
        err = store_sql_fail(st->db, rc, "retention lag");
    sqlite3_reset(s);
    return err;
}

int store_retention_lag(struct store *st, int64_t now_ms, uint64_t *lag_ms)
{
    ASSERT_THREAD(THREAD_WRITER);
    *lag_ms = 0;
    for (unsigned t = 0; t <= st->n_res; t++) {
        int64_t keep =
            t < st->n_res ? st->retention_ms[t] : st->raw_retention_ms;
        int64_t cutoff;
        int64_t oldest = INT64_MAX;
        int err;
        if (keep <= 0)
            continue;
        err = store_oldest(st, t, &oldest);
        if (err < 0)
            return err;
        cutoff = store_cutoff_ms(now_ms, keep);
        if (oldest < cutoff && (uint64_t) cutoff - (uint64_t) oldest > *lag_ms)
            *lag_ms = (uint64_t) cutoff - (uint64_t) oldest;
    }
    return 0;
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
    return rc == SQLITE_DONE ? 0
                             : store_sql_fail(st->db, rc, "incremental vacuum");
}
