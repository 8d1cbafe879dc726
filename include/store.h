/*
 * store.h - the SQLite file: schema v1, migrations, and the writer's
 * prepared statements.
 *
 * One struct store is one connection. The writer thread owns the one that
 * writes; start-up code opens it, loads the series table, and hands it to
 * the writer before any thread starts. Dashboards use their own connections;
 * WAL mode keeps readers and the writer apart.
 *
 * SQLite result codes are translated here, once: SQLITE_BUSY and
 * SQLITE_LOCKED -> -EBUSY, SQLITE_FULL -> -ENOSPC, SQLITE_READONLY ->
 * -EROFS, SQLITE_NOMEM -> -ENOMEM, a PRIMARY KEY or UNIQUE violation ->
 * -EEXIST, SQLITE_CANTOPEN -> -ENOENT or -EACCES (from the OS error),
 * anything else -> -EIO, each logged with sqlite3_errmsg() by the function
 * that saw it (BUSY is not logged: the caller retries).
 */
#ifndef SP_STORE_H
#define SP_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "bucket.h"
#include "compiler.h"
#include "config.h"
#include "store_schema.h"
#include "store_sql.h"

/* Partials per multi-partial merge statement (store_merge_group()): one
 * step for 8 partials costs about 25 % less per row than 8 steps. */
#define STORE_MERGE_GROUP 8

/*
 * The exact merge of an incoming rollup row (excluded) into the stored one,
 * as the SET list of an upsert on rollups: count and sum add (the sum
 * saturates at +-DBL_MAX), min and max hold, last follows last_ms and a
 * tie goes to the incoming row. The writer's upsert and `sensorpipe merge`
 * both use it.
 */
#define STORE_ROLLUP_MERGE_SET                                                 \
    "count = count + excluded.count,"                                          \
    " sum = max(-" STORE_DBL_MAX ", min(" STORE_DBL_MAX ","                    \
    " sum + excluded.sum)),"                                                   \
    " min = min(min, excluded.min), max = max(max, excluded.max),"             \
    " last = CASE WHEN excluded.last_ms >= last_ms THEN excluded.last"         \
    " ELSE last END, last_ms = max(last_ms, excluded.last_ms)"

/* One row of ingest_stats. Owner: the caller. */
struct store_stats_row {
    int64_t ts_ms;
    uint64_t received;
    uint64_t decoded;
    uint64_t samples;
    uint64_t dropped_overflow;
    uint64_t dropped_oversize;
    uint64_t dropped_invalid;
    uint64_t dropped_series_limit;
    uint64_t late;
    uint64_t clock_skew;
    uint64_t series;
    uint64_t paused_ms;
    double commit_p50_ms;
    double commit_p99_ms;
    uint64_t dropped_samples_series_limit;
    uint64_t dropped_samples_store;
    uint64_t dropped_samples_probe;
    uint64_t skipped_retained;
    uint64_t invalid_lines;    /* schema version 6 */
    uint64_t tag_conflicts;    /* schema version 6 */
    uint64_t retention_lag_ms; /* store_retention_lag() */
};

/* Owner: the writer thread once it runs; start-up code before that. */
struct store {
    sqlite3 *db;
    sqlite3_stmt *st_begin; /* BEGIN IMMEDIATE */
    sqlite3_stmt *st_commit;
    sqlite3_stmt *st_rollback;
    sqlite3_stmt *st_upsert;        /* rollups upsert, exact merge */
    sqlite3_stmt *st_merge;         /* a partial into every resolution */
    sqlite3_stmt *st_merge_group;   /* STORE_MERGE_GROUP partials at once */
    sqlite3_stmt *st_series;        /* INSERT INTO series */
    sqlite3_stmt *st_series_id;     /* the id of (topic, field) */
    sqlite3_stmt *st_sample;        /* INSERT INTO samples */
    sqlite3_stmt *st_stats;         /* INSERT OR REPLACE INTO ingest_stats */
    sqlite3_stmt *st_ret_rollups;   /* retention: one chunk of one resolution */
    sqlite3_stmt *st_ret_samples;   /* retention: one chunk of raw samples */
    sqlite3_stmt *st_subs_clear;    /* DELETE a client id's subscriptions */
    sqlite3_stmt *st_subs_add;      /* INSERT one subscription */
    sqlite3_stmt *st_oldest_rollup; /* retention lag: oldest bucket */
    sqlite3_stmt *st_oldest_sample; /* retention lag: oldest raw sample */
    unsigned n_res;
    unsigned res_s[CONFIG_MAX_RESOLUTIONS];
    int64_t retention_ms[CONFIG_MAX_RESOLUTIONS]; /* 0 = keep */
    int64_t raw_retention_ms;
    unsigned retention_next; /* round-robin position of retention_step */
};

/*
 * Opens (creating when missing) cfg->store.path with its directory, sets WAL,
 * synchronous=NORMAL, cache_size, busy_timeout, the heap limit and
 * auto_vacuum=INCREMENTAL (on a new file), creates or migrates the schema in
 * one transaction and prepares every statement.
 * The parent directory is created when missing (one level, mode 0750).
 * busy_timeout is 100 ms: it absorbs a dashboard's brief lock, and the
 * writer's own retry does the rest. sqlite3_hard_heap_limit64() is
 * process-wide: the last store_open() sets it for every connection.
 * Returns: 0; -EPROTO when the file's user_version is newer than
 * STORE_SCHEMA_VERSION (logged: "store: FILE has schema version N, this
 * sensorpipe knows up to 1"), or when the file is not a sensorpipe store
 * (tables but no version, or version 1 without its tables); -EROFS,
 * -EACCES, -ENOENT, -ENOSPC, -ENOMEM, -EIO, or -errno from mkdir(2).
 * On failure st is closed (store_close() is still safe).
 * Thread: start-up.
 */
SP_MUST_CHECK int store_open(struct store *st, const struct config *cfg);

/* Finalizes statements and closes. Safe on a zeroed or closed store. */
void store_close(struct store *st);

/*
 * Calls fn once per series active since since_ms (a finest rollup that
 * recent, or created since then; INT64_MIN: every series), the most
 * recently active first, then by id. Stops and returns fn's value when it
 * is non-zero. tags may be NULL.
 * Returns: 0, fn's non-zero value, -EIO. Thread: start-up.
 */
typedef int (*store_series_fn)(void *ctx, int64_t id, const char *topic,
                               const char *field, const char *tags);
SP_MUST_CHECK int store_load_series(struct store *st, int64_t since_ms,
                                    store_series_fn fn, void *ctx);

/* The largest series id in the file (0 when none): ids go on from there.
 * Returns: 0, -EIO. Thread: start-up. */
SP_MUST_CHECK int store_max_series_id(struct store *st, int64_t *id);

/* BEGIN IMMEDIATE. Returns: 0, -EBUSY (retry), -EIO. Thread: writer. */
SP_MUST_CHECK int store_begin(struct store *st);
/*
 * Returns: 0, -EBUSY (transaction still open, sqlite3_get_autocommit() == 0:
 * retry the commit), -ENOSPC, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_commit(struct store *st);
/* Rolls back when a transaction is open; never fails visibly. */
void store_rollback(struct store *st);

/*
 * Inside a transaction: merges acc into the row (series_id, res_s, bucket_ms)
 * of rollups (insert or exact merge, see bucket.h). bucket_ms must already
 * be the start of the res_s bucket. An empty acc (count 0) writes nothing.
 * Returns: 0, -EBUSY, -ENOSPC, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_upsert_rollup(struct store *st, int64_t series_id,
                                      unsigned res_s, int64_t bucket_ms,
                                      const struct bucket_acc *acc);

/*
 * Merges a finest-resolution partial into every configured resolution
 * (the finest first). Returns as store_upsert_rollup(). Thread: writer.
 */
SP_MUST_CHECK int store_merge_partial(struct store *st, int64_t series_id,
                                      int64_t bucket_ms,
                                      const struct bucket_acc *acc);

/* A partial to merge (store_merge_group()). Owner: the caller. */
struct store_partial {
    int64_t series_id;
    int64_t bucket_ms; /* finest bucket start */
    const struct bucket_acc *acc;
};

/*
 * Merges STORE_MERGE_GROUP partials as store_merge_partial() does, in one
 * statement (in this order, so a series' partials merge as they would one
 * by one). All or none: when one of them is refused (-EINVAL, -E2BIG:
 * store_refused(), also an empty or non-finite one) nothing of the group
 * is written, and the caller merges them one at a time to drop only that
 * one. Returns as store_upsert_rollup(). Thread: writer.
 */
SP_MUST_CHECK int
store_merge_group(struct store *st,
                  const struct store_partial p[STORE_MERGE_GROUP]);

/* One row of series. Texts need not be NUL-terminated. Owner: the caller. */
struct store_series_row {
    int64_t id; /* assigned by the workers */
    const char *topic;
    size_t topic_len;
    const char *field;
    size_t field_len;
    const char *tags; /* NULL: no tags (SQL NULL) */
    size_t tags_len;
    int64_t created_ms;
};

/*
 * Inserts a series row with a given id (ids are assigned by the workers).
 * Borrows row and its texts until return.
 * Returns: 0, -EEXIST (id or (topic, field) taken; not logged), -EBUSY,
 * -ENOSPC, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_insert_series_row(struct store *st,
                                          const struct store_series_row *row);

/*
 * The id of the series (row->topic, row->field), e.g. after
 * store_insert_series_row() found it taken: a series that left the
 * registry came back. Borrows row until return.
 * Returns: 0 with *id set, -ENOENT, -EBUSY, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_series_id(struct store *st,
                                  const struct store_series_row *row,
                                  int64_t *id);

/* Raw sample (raw_samples = true). Returns as above. Thread: writer. */
SP_MUST_CHECK int store_insert_sample(struct store *st, int64_t series_id,
                                      int64_t ts_ms, double value);

/*
 * One ingest_stats row (a second row with the same ts_ms replaces it). A NaN
 * latency is stored as NULL. Returns as above. Thread: writer.
 */
SP_MUST_CHECK int store_insert_stats(struct store *st,
                                     const struct store_stats_row *row);

/*
 * New retention (0 = keep forever) for each configured resolution, in the
 * order of the resolutions store_open() was given, and for raw samples;
 * the next store_retention_step() applies it. Thread: the store's user
 * (the writer).
 */
void store_set_retention(struct store *st,
                         const uint64_t retention_ms[CONFIG_MAX_RESOLUTIONS],
                         uint64_t raw_retention_ms);

/*
 * Inside a transaction: deletes at most max_rows rows older than the
 * retention of one resolution (or of raw samples), moving round-robin over
 * them, and sets *deleted. Runs PRAGMA incremental_vacuum outside of it via
 * store_vacuum_step(). A rollup is old when its bucket STARTS before
 * now_ms - retention (so a bucket may go up to one resolution early); a raw
 * sample when ts_ms < now_ms - retention. Each call visits one target with
 * a retention; with none, *deleted is 0.
 * Returns: 0, -EBUSY, -ENOSPC, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_retention_step(struct store *st, int64_t now_ms,
                                       unsigned max_rows, unsigned *deleted);

/*
 * How far retention is behind: the largest age, beyond its retention, of
 * the oldest row of any resolution or of the raw samples (0 when nothing
 * is older than its retention allows). Index lookups only (rollups_age,
 * samples_age). Returns: 0, -EBUSY, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_retention_lag(struct store *st, int64_t now_ms,
                                      uint64_t *lag_ms);

/*
 * How many retention targets store_retention_step() visits in one round:
 * each resolution with a retention, plus raw samples when they have one.
 * A round of that many calls that all delete nothing means nothing is due.
 * Returns: the count (0 = keep everything). Thread: any holder of st.
 */
unsigned store_retention_targets(const struct store *st);

/*
 * Outside a transaction: runs PRAGMA incremental_vacuum(pages), returning up
 * to pages free pages to the file system (0 does nothing).
 * Returns: 0, -EBUSY, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_vacuum_step(struct store *st, unsigned pages);

#endif
