/*
 * pipeline.h - the message path's pieces, built and torn down in one
 * place: the memory plan, the worker shards with their rings, the writer
 * and its store, and the counters of every thread.
 *
 *   loop --route--> ingress ring --> worker --> egress ring --> writer -->
 * store
 *
 * The daemon, sensorpipe-bench and the tests build their pipeline with
 * these functions, so what the bench measures is what the daemon runs.
 * Routing (the loop's side of the ingress rings) is route.h.
 */
#ifndef SP_PIPELINE_H
#define SP_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "compiler.h"
#include "config.h"
#include "egress.h"
#include "series.h"
#include "stats.h"
#include "store.h"
#include "worker.h"
#include "writer.h"

/* What the pipeline preallocates for a configuration. Owner: the caller. */
struct pipeline_plan {
    unsigned workers;     /* resolved: 0 in the file = one per CPU */
    uint32_t series_cap;  /* per shard: pipeline_shard_series() */
    size_t arena_bytes;   /* per shard */
    size_t ingress_bytes; /* per shard, rounded to a power of two */
    size_t egress_bytes;  /* per shard */
    size_t series_bytes;  /* per shard: index + entries + arena */
    size_t scratch_bytes; /* per shard: decode and tags buffers */
    size_t remap_bytes;   /* the writer's id map (series that came back) */
    size_t batch_bytes;   /* the writer's sort buffer: 2 x batch_rows */
    size_t total_bytes;   /* everything above: all shards, remap, batch */
    size_t sqlite_bytes;  /* hard heap limit */
};

/*
 * Owner: the loop thread, which builds it before the threads start and
 * tears it down after they are joined. The workers and the writer own
 * their own structs' thread-side fields (worker.h, writer.h).
 */
struct pipeline {
    /* Set by pipeline_init(), read-only afterwards. */
    const struct config *cfg;
    struct pipeline_plan plan;
    struct worker *workers; /* plan.workers shards */
    struct egress *egress;  /* one per worker: its hand-off to the writer */
    unsigned n_workers;
    uv_async_t *loop_wake; /* workers: ring drained; writer: failed */
    struct stats_counters **all_stats; /* workers, loop, writer */
    unsigned n_all_stats;
    unsigned not_loaded; /* start-up: recent series beyond max_series */

    struct store store; /* the loop opens it; the writer owns it once
                           started */
    struct writer writer;

    /* Shared. */
    struct series_limit limit;        /* every shard hands out ids here */
    struct stats_counters loop_stats; /* written by the loop (route) only */
    _Atomic bool paused; /* loop -> workers: the loop does not read, send
                            loop_wake once your ring is half empty */
};

/* Thread: any. Computes the memory plan of cfg. */
void pipeline_plan(const struct config *cfg, struct pipeline_plan *plan);

/* Thread: any. Prints the plan as "# memory: ..." comment lines. */
void pipeline_plan_print(const struct pipeline_plan *plan, FILE *out);

/* Thread: start-up. Logs the plan at notice (one line). */
void pipeline_plan_log(const struct pipeline_plan *plan);

/*
 * Allocates every shard (rings, registry, scratch) for cfg; nothing runs
 * yet. cfg and loop_wake (an initialised uv_async_t) are borrowed until
 * pipeline_fini(). Returns: 0, -ENOMEM, -EINVAL. Thread: start-up. Call
 * pipeline_fini() on failure too.
 */
SP_MUST_CHECK int pipeline_init(struct pipeline *p, const struct config *cfg,
                                uv_async_t *loop_wake);

/* Series one shard holds: its share of max_series plus slack (1/8 + 64),
 * never more than max_series; max_series itself for one worker. Thread:
 * any. */
uint32_t pipeline_shard_series(uint32_t max_series, unsigned workers);

/* Entries of the writer's id map for series_cap series in all (the
 * writer maps every shard's ids): every live series may be one that came
 * back, plus room for those whose leaving the writer has not seen yet.
 * Thread: any. */
uint32_t pipeline_remap_max(uint32_t series_cap);

/*
 * Opens the store and registers the series active within
 * series_idle_time in their shards, the most recent first, as many as
 * max_series admits (the rest are found again when their devices send).
 * Returns: 0 or -errno (logged). Thread: start-up.
 */
SP_MUST_CHECK int pipeline_open_store(struct pipeline *p);

/*
 * The writer also stores the loop's record of the broker's subscriptions
 * (subrec.h; rec borrowed until pipeline_join()). Thread: start-up, before
 * pipeline_start().
 */
void pipeline_record_subscriptions(struct pipeline *p, struct subrec *rec);

/* Starts the writer, then the workers. When a thread cannot start, the
 * ones that did are ended and joined before this returns, so the store
 * may be closed. Returns: 0 or -errno. Thread: start-up. */
SP_MUST_CHECK int pipeline_start(struct pipeline *p);

/*
 * Thread: loop, once nothing more will be routed. Each worker drains its
 * ring, hands off every open bucket and ends; the writer then commits what
 * is left and ends.
 */
void pipeline_request_stop(struct pipeline *p);

/*
 * Thread: loop (shut-down). Waits for the writer, then the workers. When
 * failed is true or the store failed, a worker that did not finish is
 * detached (it may wait on a full ring for good) and ends with the
 * process. Returns: the writer's -errno when the store failed, else 0.
 */
int pipeline_join(struct pipeline *p, bool failed);

/* Thread: loop, after pipeline_join() or instead of pipeline_start().
 * Closes the store and frees every shard. */
void pipeline_fini(struct pipeline *p);

/* Thread: any. Sums every thread's counters. */
void pipeline_snapshot(const struct pipeline *p, struct stats_snapshot *s);

/* Thread: any. -errno once the writer gave the store up, else 0. */
int pipeline_failed(const struct pipeline *p);

/*
 * Thread: loop (the watchdog). True while the writer and every worker beat
 * within stale_ms of now_ms (monotonic).
 */
bool pipeline_progressing(const struct pipeline *p, uint64_t now_ms,
                          uint64_t stale_ms);

#endif
