/*
 * test_pipeline.c - the memory plan, and a whole pipeline built, fed,
 * stopped and reopened through pipeline.c as the daemon does it (real
 * threads, a real store file), with this process playing the loop.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "idmap.h"
#include "pipeline.h"
#include "route.h"
#include "series.h"
#include "thread.h"
#include "tmpdir.h"
#include "worker.h"

static struct config cfg;

Test(pipeline, plan_scales_with_workers_and_series)
{
    struct pipeline_plan a;
    struct pipeline_plan b;

    config_defaults(&cfg);
    cfg.pipeline.workers = 2;
    cfg.pipeline.max_series = 1000;
    cfg.pipeline.ring_bytes = 1u << 20;
    pipeline_plan(&cfg, &a);
    cr_expect_eq(a.workers, 2);
    cr_expect_eq(a.ingress_bytes, 1u << 20);
    cr_expect_eq(a.series_cap, 500 + 500 / 8 + 64, "a share, with slack");
    cr_expect_eq(a.series_bytes,
                 series_table_bytes(a.series_cap, a.arena_bytes));
    cr_expect_eq(a.remap_bytes, idmap_bytes(pipeline_remap_max(1000)));
    cr_expect_eq(a.batch_bytes, 2 * 5000 * sizeof(struct writer_pending),
                 "the writer's sort buffer: 2 x batch_rows");
    cr_expect_eq(a.total_bytes, 2 * (a.ingress_bytes + a.egress_bytes +
                                     a.series_bytes + a.scratch_bytes) +
                                    a.remap_bytes + a.batch_bytes);
    cfg.pipeline.workers = 4;
    cfg.pipeline.max_series = 10000;
    pipeline_plan(&cfg, &b);
    cr_expect_gt(b.total_bytes, 2 * a.total_bytes);
    cr_expect_eq(b.sqlite_bytes, (size_t) cfg.store.heap_limit_mb << 20);
}

Test(pipeline, registry_memory_follows_max_series_not_workers)
{
    struct pipeline_plan two;
    struct pipeline_plan eight;

    config_defaults(&cfg);
    cfg.pipeline.max_series = 100000;
    cfg.pipeline.workers = 2;
    pipeline_plan(&cfg, &two);
    cfg.pipeline.workers = 8;
    pipeline_plan(&cfg, &eight);
    cr_expect_geq((uint64_t) two.series_cap * 2, 100000);
    cr_expect_geq((uint64_t) eight.series_cap * 8, 100000);
    /* Eight shards hold about what two do: not four times as much. */
    cr_expect_lt(eight.series_bytes * 8, two.series_bytes * 2 * 11 / 10);
    cr_expect_lt(two.series_bytes * 2,
                 series_table_bytes(100000, (size_t) 100000 * 64) * 2 * 7 / 10,
                 "about half of a full registry per worker");
    cr_expect_eq(pipeline_shard_series(100000, 1), 100000, "one shard: all");
    cr_expect_eq(pipeline_shard_series(3, 2), 3, "never above max_series");
    cr_expect_eq(pipeline_shard_series(100000, 2), 50000 + 6250 + 64);
}

Test(pipeline, ring_sizes_round_up_and_zero_workers_means_one_per_cpu)
{
    struct pipeline_plan p;

    config_defaults(&cfg);
    cfg.pipeline.workers = 0;
    cfg.pipeline.ring_bytes = 5000000;
    pipeline_plan(&cfg, &p);
    cr_expect_geq(p.workers, 1);
    cr_expect_eq(p.ingress_bytes, 8u << 20, "rounded to a power of two");
    cr_expect_eq(p.egress_bytes, egress_bytes(&cfg));
}

static void nothing(void *ctx)
{
    (void) ctx;
}

static int64_t stored(const char *path, unsigned res_s)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT coalesce(sum(count), 0) FROM "
                                    "rollups WHERE resolution_s = ?1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int(st, 1, (int) res_s);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Init, open, start, route, stop, join, fini; then the series come back. */
Test(pipeline, built_fed_stopped_and_reopened)
{
    static const struct route_hooks hooks = {nothing, nothing, NULL, NULL};
    static struct pipeline p;
    static struct route r;
    struct stats_snapshot s;
    char dir[128];
    uv_loop_t loop;
    uv_async_t wake;
    const char *topics[] = {"a/1", "a/2", "a/3"};

    thread_set_role(THREAD_LOOP, NULL);
    cr_assert_eq(tmpdir_make(dir, sizeof(dir), "sp-pipeline"), 0);
    config_defaults(&cfg);
    cfg.n_subs = 1;
    strcpy(cfg.subs[0].name, "n");
    cfg.subs[0].format = FORMAT_NUMBER;
    cfg.pipeline.workers = 2;
    cfg.pipeline.max_series = 16;
    cfg.log.stats_interval_s = 0;
    snprintf(cfg.store.path, sizeof(cfg.store.path), "%s/p.db", dir);
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(uv_async_init(&loop, &wake, NULL), 0);

    cr_assert_eq(pipeline_init(&p, &cfg, &wake), 0);
    cr_expect_eq(p.n_workers, 2);
    route_init(&r, &p, &hooks);
    cr_assert_eq(pipeline_open_store(&p), 0);
    cr_assert_eq(pipeline_start(&p), 0);
    for (unsigned i = 0; i < 30; i++) {
        struct mqtt_msg m = {topics[i % 3], 3, "1.5", 3, 0, false, 0, false};
        route_message(&r, &m);
    }
    route_wake_pending(&r);
    pipeline_request_stop(&p);
    cr_expect_eq(pipeline_join(&p, false), 0);
    pipeline_snapshot(&p, &s);
    cr_expect_eq(s.v[STAT_RECEIVED], 30);
    cr_expect_eq(s.v[STAT_DECODED], 30);
    cr_expect_eq(s.v[STAT_SAMPLES], 30);
    cr_expect_eq(atomic_load(&p.limit.count), 3);
    pipeline_fini(&p);
    cr_expect_eq(stored(cfg.store.path, cfg.aggregate.resolutions_s[0]), 30);

    /* A new pipeline on the same file knows the three series again. */
    cr_assert_eq(pipeline_init(&p, &cfg, &wake), 0);
    cr_assert_eq(pipeline_open_store(&p), 0);
    cr_expect_eq(atomic_load(&p.limit.count), 3);
    cr_expect_eq(atomic_load(&p.limit.next_id), 4);
    pipeline_fini(&p);

    uv_close((uv_handle_t *) &wake, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    tmpdir_remove(dir);
}
