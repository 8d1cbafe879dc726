/*
 * pipeline.c - construction and teardown of the message path: the memory
 * plan, the shards, the store, the writer, and the order they start and
 * stop in.
 *
 * Threads: everything here runs on the loop thread (or the thread that
 * plays it: sensorpipe-bench, tests) before the workers and the writer
 * start or after they are joined; pipeline_snapshot(), pipeline_failed()
 * and pipeline_progressing() only read atomics and run anywhere.
 *
 * Order: init (shards) -> open_store (series ids back into their shards)
 * -> start (writer first, so it is there when the first egress record
 * comes) -> ... -> request_stop (workers drain, hand off, end; the writer
 * ends once every worker is done and every ring empty) -> join -> fini.
 *
 * Memory: pipeline_plan() sizes everything from the settings;
 * pipeline_init() allocates all of it (worker_init()) and the store's heap
 * limit bounds SQLite. Nothing here runs on the message path.
 */
#include "pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "idmap.h"
#include "log.h"
#include "ring.h"
#include "store_schema.h"

#define ARENA_BYTES_PER_SERIES   64 /* average topic + field key, with NULs */
#define PIPELINE_SHARD_SLACK_DIV 8  /* a shard holds its share + 1/8 ... */
#define PIPELINE_SHARD_SLACK_MIN 64 /* ... + 64 series */

static double mib(size_t b)
{
    return (double) b / (1024.0 * 1024.0);
}

static unsigned resolve_workers(unsigned want)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (want != 0)
        return want;
    if (cpus <= 0)
        return 1;
    return cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned) cpus;
}

uint32_t pipeline_remap_max(uint32_t series_cap)
{
    return series_cap + series_cap / 4 + 64;
}

uint32_t pipeline_shard_series(uint32_t max_series, unsigned workers)
{
    uint64_t share;
    uint64_t cap;

    if (workers <= 1)
        return max_series;
    /* A topic's shard comes from a keyed hash (series_topic_hash(): no
     * input can steer it), so a shard's count of max_series series is
     * binomial: its standard deviation is at most sqrt(share), and 1/8 of
     * the share + 64 is many of them for any max_series (100,000 over 2
     * shards: 6,314 slack for a deviation of 158). */
    share = ((uint64_t) max_series + workers - 1) / workers;
    cap = share + share / PIPELINE_SHARD_SLACK_DIV + PIPELINE_SHARD_SLACK_MIN;
    return cap > max_series ? max_series : (uint32_t) cap;
}

void pipeline_plan(const struct config *cfg, struct pipeline_plan *p)
{
    struct worker_shared sh;

    memset(p, 0, sizeof(*p));
    p->workers = resolve_workers(cfg->pipeline.workers);
    /* Each shard holds its share of max_series with slack, so memory
     * grows with max_series, not workers x max_series; a shard that fills
     * before the limit refuses like the limit (counted). */
    p->series_cap = pipeline_shard_series(cfg->pipeline.max_series, p->workers);
    /* On average, and room for at least one series of the longest
     * topic and field whatever else is there. */
    p->arena_bytes =
        (size_t) p->series_cap * ARENA_BYTES_PER_SERIES +
        series_key_bytes(cfg->pipeline.max_topic_bytes, DECODE_FIELD_MAX);
    p->ingress_bytes = ring_capacity(cfg->pipeline.ring_bytes);
    p->egress_bytes = egress_bytes(cfg);
    p->series_bytes = series_table_bytes(p->series_cap, p->arena_bytes);
    p->scratch_bytes = sizeof(struct decode_out) + WORKER_TAGS_MAX;
    memset(&sh, 0, sizeof(sh));
    sh.cfg = cfg;
    sh.series_cap = p->series_cap;
    sh.arena_bytes = p->arena_bytes;
    p->remap_bytes = idmap_bytes(pipeline_remap_max(cfg->pipeline.max_series));
    p->batch_bytes = writer_batch_bytes(cfg);
    p->total_bytes = (worker_bytes(&sh) + p->egress_bytes) * p->workers +
                     p->remap_bytes + p->batch_bytes;
    p->sqlite_bytes = (size_t) cfg->store.heap_limit_mb << 20;
}

void pipeline_plan_print(const struct pipeline_plan *p, FILE *out)
{
    fprintf(out,
            "# memory: preallocated %.1f MiB for %u workers: per worker "
            "ingress ring %.1f MiB, egress ring %.1f MiB, series %.1f MiB "
            "(%u series, %zu bytes of keys), scratch %zu KiB; series id "
            "map %.1f MiB, writer batch %zu KiB\n",
            mib(p->total_bytes), p->workers, mib(p->ingress_bytes),
            mib(p->egress_bytes), mib(p->series_bytes), p->series_cap,
            p->arena_bytes, p->scratch_bytes / 1024, mib(p->remap_bytes),
            p->batch_bytes / 1024);
    fprintf(out, "# memory: SQLite heap limit %.1f MiB; bound %.1f MiB\n",
            mib(p->sqlite_bytes), mib(p->total_bytes + p->sqlite_bytes));
}

void pipeline_plan_log(const struct pipeline_plan *p)
{
    log_notice("memory: preallocated %.1f MiB: ingress rings %.1f MiB, "
               "egress rings %.1f MiB, series %.1f MiB (%u series each), "
               "scratch %zu KiB, series id map %.1f MiB, writer batch %zu KiB",
               mib(p->total_bytes), mib(p->ingress_bytes * p->workers),
               mib(p->egress_bytes * p->workers),
               mib(p->series_bytes * p->workers), p->series_cap,
               p->scratch_bytes * p->workers / 1024, mib(p->remap_bytes),
               p->batch_bytes / 1024);
}

int pipeline_init(struct pipeline *p, const struct config *cfg,
                  uv_async_t *loop_wake)
{
    struct worker_shared sh = {
        .cfg = cfg,
        .limit = &p->limit,
        .loop_wake = loop_wake,
        .loop_paused = &p->paused,
    };
    struct writer_shared wsh = {
        .cfg = cfg,
        .store = &p->store,
        .loop_wake = loop_wake,
        .limit = &p->limit,
    };
    int err;

    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->loop_wake = loop_wake;
    pipeline_plan(cfg, &p->plan);
    sh.series_cap = p->plan.series_cap;
    sh.arena_bytes = p->plan.arena_bytes;
    p->limit.max = cfg->pipeline.max_series;
    atomic_init(&p->limit.count, 0);
    atomic_init(&p->limit.next_id, 1);
    atomic_init(&p->paused, false);
    p->n_all_stats = p->plan.workers + 2;
    p->workers = worker_alloc(p->plan.workers);
    p->egress = egress_alloc(p->plan.workers);
    p->all_stats = calloc(p->n_all_stats, sizeof(struct stats_counters *));
    if (p->workers == NULL || p->egress == NULL || p->all_stats == NULL)
        return -ENOMEM;
    wsh.egress = p->egress;
    wsh.n_egress = p->plan.workers;
    wsh.all_stats = (struct stats_counters *const *) p->all_stats;
    wsh.n_all_stats = p->n_all_stats;
    /* The writer's event must work before the first worker signals it. */
    writer_init(&p->writer, &wsh);
    err = idmap_init(&p->writer.remap,
                     pipeline_remap_max(cfg->pipeline.max_series));
    if (err < 0)
        return err;
    for (unsigned i = 0; i < p->plan.workers; i++) {
        err = egress_init(&p->egress[i], p->plan.egress_bytes, &p->writer.ev);
        if (err == 0)
            err = worker_init(&p->workers[i], i, &sh, &p->egress[i]);
        if (err < 0) {
            egress_fini(&p->egress[i]);
            return err;
        }
        p->n_workers = i + 1;
        p->all_stats[i] = &p->workers[i].stats;
    }
    p->all_stats[p->n_workers] = &p->loop_stats;
    p->all_stats[p->n_workers + 1] = &p->writer.stats;
    return 0;
}

/* store_load_series() callback: a recently active series back into its
 * shard; once the registry is full the rest wait until their devices send
 * again (counted, warned once). */
static int load_one_series(void *ctx, int64_t id, const char *topic,
                           const char *field, const char *tags)
{
    struct pipeline *p = ctx;
    struct worker *w =
        &p->workers[series_topic_hash(topic, strlen(topic)) % p->n_workers];
    int rc;

    (void) tags;
    rc = worker_load_series(w, id, topic, field);
    if (rc == -ENOSPC || rc == -ELOOP)
        p->not_loaded++;
    return rc == -EEXIST || rc == -ENOSPC || rc == -ELOOP ? 0 : rc;
}

int pipeline_open_store(struct pipeline *p)
{
    int64_t since = clock_now_ms() - (int64_t) p->cfg->pipeline.series_idle_ms;
    int64_t max_id = 0;
    int rc = store_open(&p->store, p->cfg);

    /* The daemon's start log, not every store_open() (rebuild-rollups
     * opens such a file to convert it). */
    if (rc == 0)
        store_schema_note_layout(p->store.db, p->cfg->store.path);
    if (rc == 0)
        rc = store_max_series_id(&p->store, &max_id);
    if (rc == 0)
        rc = store_load_series(&p->store, since, load_one_series, p);
    if (rc < 0)
        return rc;
    /* Ids go on after the largest in the file, loaded or not. */
    atomic_store(&p->limit.next_id, max_id + 1);
    if (p->not_loaded > 0)
        log_warn("store: %u recently active series did not fit in "
                 "max_series = %u: they are found again when their "
                 "devices send",
                 p->not_loaded, p->cfg->pipeline.max_series);
    return 0;
}

/* Test hook: SENSORPIPE_TEST_FAIL_WORKER=N makes worker N's thread fail to
 * start, as pthread_create() may under a thread limit. */
static bool test_fail_start(unsigned i)
{
    const char *n = getenv("SENSORPIPE_TEST_FAIL_WORKER");

    return n != NULL && strtoul(n, NULL, 10) == i;
}

/* A thread did not start: end the ones that did (nothing was read yet),
 * so the store is closed only once no thread uses it. */
static void end_started(struct pipeline *p)
{
    pipeline_request_stop(p);
    for (unsigned i = 0; i < p->n_workers; i++)
        worker_join(&p->workers[i]);
    writer_request_stop(&p->writer);
    writer_join(&p->writer);
}

void pipeline_record_subscriptions(struct pipeline *p, struct subrec *rec)
{
    p->writer.subrec = rec;
}

int pipeline_start(struct pipeline *p)
{
    int err = writer_start(&p->writer);

    for (unsigned i = 0; i < p->n_workers && err == 0; i++)
        err = test_fail_start(i) ? -EAGAIN : worker_start(&p->workers[i]);
    if (err < 0)
        end_started(p);
    return err;
}

void pipeline_request_stop(struct pipeline *p)
{
    for (unsigned i = 0; i < p->n_workers; i++)
        worker_request_stop(&p->workers[i]);
}

int pipeline_join(struct pipeline *p, bool failed)
{
    int fatal;

    writer_join(&p->writer);
    fatal = pipeline_failed(p);
    failed = failed || fatal != 0;
    for (unsigned i = 0; i < p->n_workers; i++) {
        if (!failed || egress_is_done(&p->egress[i]))
            worker_join(&p->workers[i]);
        else
            worker_detach(&p->workers[i]);
    }
    return fatal;
}

void pipeline_fini(struct pipeline *p)
{
    store_close(&p->store);
    for (unsigned i = 0; i < p->n_workers; i++) {
        worker_fini(&p->workers[i]);
        egress_fini(&p->egress[i]);
    }
    idmap_fini(&p->writer.remap);
    free(p->workers);
    free(p->egress);
    free(p->all_stats);
    p->workers = NULL;
    p->egress = NULL;
    p->all_stats = NULL;
    p->n_workers = 0;
}

void pipeline_snapshot(const struct pipeline *p, struct stats_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < p->n_all_stats && p->all_stats; i++)
        if (p->all_stats[i] != NULL)
            stats_accumulate(s, p->all_stats[i]);
}

int pipeline_failed(const struct pipeline *p)
{
    return atomic_load_explicit(&p->writer.fatal, memory_order_acquire);
}

static bool fresh(const _Atomic uint64_t *hb, uint64_t now_ms,
                  uint64_t stale_ms)
{
    return atomic_load_explicit(hb, memory_order_relaxed) + stale_ms >= now_ms;
}

bool pipeline_progressing(const struct pipeline *p, uint64_t now_ms,
                          uint64_t stale_ms)
{
    bool ok = fresh(&p->writer.heartbeat_ms, now_ms, stale_ms);

    for (unsigned i = 0; i < p->n_workers && ok; i++)
        ok = fresh(&p->workers[i].heartbeat_ms, now_ms, stale_ms);
    return ok;
}
