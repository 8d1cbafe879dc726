/*
 * test_retention.c - the writer's retention schedule: when a pass is due,
 * how a reload's values reach the store, and a pass that falls behind
 * running again at once.
 *
 * Threads: each test runs in its own process with its own temporary
 * directory; the store is a real SQLite file.
 */
#include <stdio.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "bucket.h"
#include "clock.h"
#include "config.h"
#include "retention.h"
#include "store.h"
#include "tmpdir.h"

#define HOUR_MS (3600LL * 1000)

static char g_dir[64];

static void setup(void)
{
    cr_assert_eq(tmpdir_make(g_dir, sizeof(g_dir), "sp-retention"), 0);
}

static void teardown(void)
{
    (void) tmpdir_remove(g_dir);
}

TestSuite(retention, .init = setup, .fini = teardown);

/* One 10 s resolution kept for good; the file in the test's directory. */
static void make_cfg(struct config *cfg)
{
    config_defaults(cfg);
    cfg->aggregate.n_resolutions = 1;
    cfg->aggregate.resolutions_s[0] = 10;
    cfg->store.retention_ms[0] = 0;
    cfg->store.raw_retention_ms = 0;
    (void) snprintf(cfg->store.path, sizeof(cfg->store.path), "%s/r.db", g_dir);
}

/* n rollups of series 1, one per 10 s bucket, all a day old. */
static void fill_old(struct store *st, unsigned n)
{
    struct bucket_acc acc;
    int64_t day_ago = clock_now_ms() - 24 * HOUR_MS;

    bucket_acc_reset(&acc);
    bucket_acc_add(&acc, day_ago, 1.0);
    cr_assert_eq(store_begin(st), 0);
    for (unsigned i = 0; i < n; i++)
        cr_assert_eq(store_upsert_rollup(st, 1, 10,
                                         bucket_start_ms(day_ago, 10000) -
                                             (int64_t) i * 10000,
                                         &acc),
                     0);
    cr_assert_eq(store_commit(st), 0);
}

static int64_t rollups(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t n = -1;

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM rollups", -1, &s, NULL),
        SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

struct commits {
    struct store *st;
    unsigned n;
};

static int count_commit(void *ctx)
{
    struct commits *c = ctx;

    c->n++;
    return store_commit(c->st);
}

Test(retention, a_pass_is_due_each_interval)
{
    struct config cfg;
    struct retention r;

    make_cfg(&cfg);
    cfg.store.batch_rows = 100;
    retention_init(&r, &cfg);
    cr_expect_eq(r.chunk_rows, RETENTION_MIN_ROWS, "a chunk is at least 2000");
    retention_start(&r, 5000);
    cr_expect_not(retention_is_due(&r, 5000));
    cr_expect_eq(retention_wait_ms(&r, 5400), RETENTION_INTERVAL_MS - 400);
    cr_expect(retention_is_due(&r, 5000 + RETENTION_INTERVAL_MS));
    cr_expect_eq(retention_wait_ms(&r, 5000 + RETENTION_INTERVAL_MS), 0);

    cfg.store.batch_rows = 5000;
    retention_init(&r, &cfg);
    cr_expect_eq(r.chunk_rows, 5000, "a chunk is at least a batch");
}

/* A reload's retention reaches the store at the next pass, not before. */
Test(retention, a_reload_applies_at_the_next_pass)
{
    struct config cfg;
    struct retention r;
    struct store st;
    struct commits c = {&st, 0};

    make_cfg(&cfg);
    cr_assert_eq(store_open(&st, &cfg), 0);
    retention_init(&r, &cfg);
    retention_start(&r, 0);
    fill_old(&st, 10);

    retention_pass(&r, &st, count_commit, &c, RETENTION_INTERVAL_MS);
    cr_expect_eq(rollups(cfg.store.path), 10, "kept for good: none deleted");
    cr_expect_eq(c.n, 0, "no target, no transaction");

    cfg.store.retention_ms[0] = HOUR_MS;
    retention_set(&r, &cfg);
    cr_expect_eq(rollups(cfg.store.path), 10, "set alone deletes nothing");
    retention_pass(&r, &st, count_commit, &c, 2 * RETENTION_INTERVAL_MS);
    cr_expect_eq(rollups(cfg.store.path), 0, "a day old, kept an hour");
    cr_expect_eq(c.n, 1, "one chunk, one commit");
    cr_expect_not(retention_is_due(&r, 2 * RETENTION_INTERVAL_MS));
    store_close(&st);
}

/* A full chunk means behind: the next pass is due at once, until a pass
 * finds less than a chunk. */
Test(retention, a_pass_that_falls_behind_runs_again_at_once)
{
    struct config cfg;
    struct retention r;
    struct store st;
    struct commits c = {&st, 0};
    unsigned passes = 0;

    make_cfg(&cfg);
    cfg.store.retention_ms[0] = HOUR_MS;
    cfg.store.batch_rows = 100; /* chunks of RETENTION_MIN_ROWS */
    cr_assert_eq(store_open(&st, &cfg), 0);
    retention_init(&r, &cfg);
    retention_start(&r, 0);
    fill_old(&st, 2 * RETENTION_MIN_ROWS + 5);
    cr_assert_eq(rollups(cfg.store.path), 2 * RETENTION_MIN_ROWS + 5,
                 "%lld filled", (long long) rollups(cfg.store.path));

    retention_pass(&r, &st, count_commit, &c, RETENTION_INTERVAL_MS);
    passes++;
    cr_expect_eq(rollups(cfg.store.path), RETENTION_MIN_ROWS + 5);
    while (retention_is_due(&r, RETENTION_INTERVAL_MS)) {
        cr_assert_lt(passes, 10, "retention never caught up");
        cr_expect_eq(retention_wait_ms(&r, RETENTION_INTERVAL_MS), 0);
        retention_pass(&r, &st, count_commit, &c, RETENTION_INTERVAL_MS);
        passes++;
    }
    cr_expect_eq(rollups(cfg.store.path), 0);
    cr_expect_eq(passes, 3, "two full chunks, then the rest");
    store_close(&st);
}
