/*
 * store_schema.c - the store's schema: one SQL step per version, the
 * migration of older files, and the checks that refuse files this binary
 * does not understand.
 *
 * A new file is version 0 with no tables; store_migrations[] holds one step
 * per version (from N to N + 1), each run in its own BEGIN IMMEDIATE
 * transaction that also sets PRAGMA user_version, so a crash leaves either
 * the old or the new version, never a mix. A new version is one more step
 * appended here (and STORE_SCHEMA_VERSION raised in store.h).
 *
 * Threads: start-up (store_open()). Memory: none of its own.
 */
#include "store_schema.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "compiler.h"
#include "log.h"
#include "store_sql.h"

#define SCHEMA_SQL_MAX 128

/* The rollups table's columns and key, its age index and the view over
 * it: version 1 creates them, version 8 creates them again. */
#define ROLLUPS_COLUMNS                                                        \
    " series_id INTEGER NOT NULL,"                                             \
    " resolution_s INTEGER NOT NULL,"                                          \
    " bucket_ms INTEGER NOT NULL,"                                             \
    " count INTEGER NOT NULL,"                                                 \
    " sum REAL NOT NULL,"                                                      \
    " min REAL NOT NULL,"                                                      \
    " max REAL NOT NULL,"                                                      \
    " last REAL NOT NULL,"                                                     \
    " last_ms INTEGER NOT NULL,"                                               \
    " PRIMARY KEY (series_id, resolution_s, bucket_ms)"
#define ROLLUPS_AGE                                                            \
    "CREATE INDEX rollups_age ON rollups (resolution_s, bucket_ms);"
#define ROLLUPS_VIEW                                                           \
    "CREATE VIEW rollups_v AS"                                                 \
    " SELECT r.bucket_ms / 1000 AS time, s.topic AS topic, s.field AS field,"  \
    " s.tags AS tags, r.resolution_s AS resolution_s, r.count AS count,"       \
    " r.sum / r.count AS mean, r.min AS min, r.max AS max, r.last AS last"     \
    " FROM rollups AS r JOIN series AS s ON s.id = r.series_id;"

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
    "CREATE TABLE rollups (" ROLLUPS_COLUMNS ") WITHOUT ROWID;" ROLLUPS_AGE
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
    " commit_p99_ms REAL);" ROLLUPS_VIEW;

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

/* Version 5: retained messages the broker delivered again to a
 * subscription that already had them (MQTT 3.1.1 resumed sessions). */
static const char store_schema_v5[] =
    "ALTER TABLE ingest_stats ADD COLUMN skipped_retained"
    " INTEGER NOT NULL DEFAULT 0;";

/*
 * Version 6: line-protocol lines refused inside messages (a message with at
 * least one good line counts as decoded) and payload tags replaced by topic
 * tags. Older rows read 0.
 */
static const char store_schema_v6[] =
    "ALTER TABLE ingest_stats ADD COLUMN invalid_lines INTEGER NOT NULL"
    " DEFAULT 0;"
    "ALTER TABLE ingest_stats ADD COLUMN tag_conflicts INTEGER NOT NULL"
    " DEFAULT 0;";

/* Version 7: how far retention is behind, in ms (0 when it keeps up). */
static const char store_schema_v7[] =
    "ALTER TABLE ingest_stats ADD COLUMN retention_lag_ms"
    " INTEGER NOT NULL DEFAULT 0;";

/*
 * Version 8: rollups kept in rowid (arrival) order. A WITHOUT ROWID table
 * keeps each series' buckets together, so the open bucket of every active
 * series sits on a page of its own once the file holds history, and every
 * commit rewrites about two pages per series (10,000 series with hours of
 * history: 20,000 WAL pages a second, 8-15 us per upserted row). As a
 * rowid table the open buckets sit together at the end of the table and
 * the key's index changes only when a bucket is new (about 3 us a row,
 * 2,000 WAL pages a second). The logical schema stays the same (the same
 * columns and PRIMARY KEY, now an automatic index). Only a table without
 * rows is rebuilt (a new file, or one that never stored a rollup):
 * copying a large file would hold the start for minutes to hours;
 * `sensorpipe rebuild-rollups` copies such a file with the same step.
 *
 * The step: a WITHOUT ROWID rollups copied into the current layout in
 * arrival order (bucket, resolution, series: the order the daemon writes
 * rows), its age index and view made again; inside one transaction.
 */
static const char store_schema_relayout[] =
    "CREATE TABLE rollups_rowid (" ROLLUPS_COLUMNS ");"
    "INSERT INTO rollups_rowid SELECT series_id, resolution_s, bucket_ms,"
    " count, sum, min, max, last, last_ms FROM rollups"
    " ORDER BY bucket_ms, resolution_s, series_id;"
    "DROP VIEW rollups_v;"
    "DROP TABLE rollups;"
    "ALTER TABLE rollups_rowid RENAME TO rollups;" ROLLUPS_AGE ROLLUPS_VIEW;

/* *old = 1 when rollups is kept WITHOUT ROWID (files made before version
 * 8), else 0. */
static int rollups_without_rowid(sqlite3 *db, int64_t *old)
{
    return store_sql_query_int(db,
                               "SELECT count(*) FROM sqlite_master WHERE type ="
                               " 'table' AND name = 'rollups' AND sql LIKE"
                               " '%WITHOUT ROWID%'",
                               old);
}

static int store_schema_v8(sqlite3 *db)
{
    int64_t rows = 0;
    int64_t without_rowid = 0;
    int err;

    err =
        store_sql_query_int(db, "SELECT EXISTS (SELECT 1 FROM rollups)", &rows);
    if (err == 0)
        err = rollups_without_rowid(db, &without_rowid);
    if (err < 0 || rows != 0 || without_rowid == 0)
        return err;
    /* Nothing to copy: the same step as sensorpipe rebuild-rollups. */
    return store_sql_exec(db, store_schema_relayout, "migration 8");
}

/* One schema step: run on a file whose user_version is `from`. */
struct store_migration {
    int from;
    const char *sql;      /* NULL: fn does the step */
    int (*fn)(sqlite3 *); /* a step that needs more than SQL; or NULL */
};

/* Index i upgrades version i to i + 1; append a step for each new version. */
static const struct store_migration store_migrations[] = {
    {0, store_schema_v1, NULL}, {1, store_schema_v2, NULL},
    {2, store_schema_v3, NULL}, {3, store_schema_v4, NULL},
    {4, store_schema_v5, NULL}, {5, store_schema_v6, NULL},
    {6, store_schema_v7, NULL}, {7, NULL, store_schema_v8},
};

_Static_assert(SP_ARRAY_SIZE(store_migrations) == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/*
 * What a version-1 file must hold to be used: the tables and the view of
 * the contract. The indexes only make retention fast, so a file made by
 * hand from doc/ARCHITECTURE.md without them still opens.
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
 * Refuses files this binary does not understand before changing anything.
 * *is_new is set for an empty, version-0 file.
 */
int store_schema_check_version(sqlite3 *db, const char *path, bool *is_new)
{
    int64_t version = 0;
    int64_t objects = 0;
    int err;

    err = store_sql_query_int(db, "PRAGMA user_version", &version);
    if (err == 0)
        err = store_sql_query_int(db, "SELECT count(*) FROM sqlite_master",
                                  &objects);
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

/* Commits when err is 0, else rolls back what is open. Returns: err, or
 * the COMMIT's failure. */
static int end_transaction(sqlite3 *db, int err, const char *what)
{
    if (err == 0)
        return store_sql_exec(db, "COMMIT", what);
    if (!sqlite3_get_autocommit(db))
        (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

/* One schema step in one transaction, unless someone else just did it. */
static int migrate_step(sqlite3 *db, int from)
{
    char sql[SCHEMA_SQL_MAX];
    int64_t version = -1;
    int err;

    err = store_sql_exec(db, "BEGIN IMMEDIATE", "migration begin");
    if (err == 0)
        err = store_sql_query_int(db, "PRAGMA user_version", &version);
    if (err == 0 && version == from) {
        err = store_migrations[from].sql != NULL
                  ? store_sql_exec(db, store_migrations[from].sql, "migration")
                  : store_migrations[from].fn(db);
        (void) snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", from + 1);
        if (err == 0)
            err = store_sql_exec(db, sql, "migration user_version");
    }
    return end_transaction(db, err, "migration commit");
}

/* Runs every step from the file's version up to STORE_SCHEMA_VERSION. */
int store_schema_migrate(sqlite3 *db)
{
    int64_t version = 0;
    int err;

    for (;;) {
        err = store_sql_query_int(db, "PRAGMA user_version", &version);
        if (err < 0 || version >= STORE_SCHEMA_VERSION)
            return err;
        assert(version >= 0);
        assert(store_migrations[version].from == (int) version);
        err = migrate_step(db, (int) version);
        if (err < 0)
            return err;
    }
}

/* A version-1 file must hold every object of store_objects[]. */
int store_schema_check_objects(sqlite3 *db, const char *path)
{
    sqlite3_stmt *stmt = NULL;
    int rc;
    int err = 0;
    size_t i;

    rc = sqlite3_prepare_v2(db,
                            "SELECT 1 FROM sqlite_master WHERE type = ?1"
                            " AND name = ?2",
                            -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_sql_fail(db, rc, "schema check");
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
            err = store_sql_fail(db, rc, "schema check");
        }
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return err;
}

/* A file that kept the layout of rollups from before version 8: said once
 * at start, with the way to the new one. */
void store_schema_note_layout(sqlite3 *db, const char *path)
{
    int64_t old = 0;

    if (rollups_without_rowid(db, &old) < 0 || old == 0)
        return;
    log_notice("store: %s keeps rollups WITHOUT ROWID (made before schema 8):"
               " once it holds hours of history, each commit rewrites about"
               " two pages per active series; with the daemon stopped,"
               " 'sensorpipe rebuild-rollups %s' copies it into the current"
               " layout",
               path, path);
}

int store_schema_relayout_rollups(sqlite3 *db, int64_t *rows)
{
    int64_t old = 0;
    int err;

    *rows = 0;
    err = store_sql_exec(db, "BEGIN IMMEDIATE", "relayout begin");
    if (err == 0)
        err = rollups_without_rowid(db, &old);
    if (err == 0 && old == 0)
        err = -EALREADY;
    if (err == 0)
        err = store_sql_query_int(db, "SELECT count(*) FROM rollups", rows);
    if (err == 0)
        err = store_sql_exec(db, store_schema_relayout, "relayout");
    return end_transaction(db, err, "relayout commit");
}
