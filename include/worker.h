/*
 * worker.h - one shard of the pipeline: decode, series registry, partial
 * buckets.
 *
 *   loop --ingress ring--> worker --egress (egress.h)--> writer
 *
 * The records in both rings are in records.h.
 * A topic always maps to the same worker (series_topic_hash() % workers), so
 * per-series order is kept and no lock guards series state.
 */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "bucket.h"
#include "compiler.h"
#include "config.h"
#include "decode.h"
#include "egress.h"
#include "event.h"
#include "log.h"
#include "records.h"
#include "ring.h"
#include "series.h"
#include "stats.h"

#define WORKER_TAGS_MAX 16384 /* a series' tags as JSON text */

/* A message as the loop hands it over. Owner: the caller (borrowed). */
struct worker_msg {
    int64_t recv_ms;
    unsigned sub_index;
    const char *topic;
    size_t topic_len;
    const void *payload; /* may be NULL when payload_len is 0 */
    size_t payload_len;
    uint64_t topic_hash; /* series_topic_hash(topic), as routed */
};

/*
 * One per shard. Owner: the worker thread of that shard. The loop thread
 * builds it before workers start and frees it after they are joined.
 */
struct worker {
    /* Set by worker_init(), read-only afterwards. */
    unsigned index;
    const struct config *cfg;
    struct ring ingress;       /* consumer side here; the loop produces */
    struct egress *out;        /* producer side here; the writer consumes */
    uv_async_t *loop_wake;     /* sent when the ring drains while paused */
    _Atomic bool *loop_paused; /* set by the loop while it does not read */
    pthread_t thread;
    bool started;

    /* Owned by the worker thread. */
    struct series_table series;
    int64_t finest_ms;
    uint64_t next_flush_ms;  /* monotonic */
    uint32_t idle_scan_pos;  /* next entry the idle scan looks at */
    uint32_t idle_scan_step; /* entries per scan: a sweep per idle time */
    struct ratelimit rl_invalid;
    struct ratelimit rl_series;
    struct ratelimit rl_tags; /* payload tags a topic tag replaced */
    struct decode_out *dec;   /* preallocated: large */
    char *tags;               /* WORKER_TAGS_MAX bytes */

    /* Shared. */
    struct event ingress_ev;       /* we sleep here; the loop signals */
    struct stats_counters stats;   /* written here only */
    _Atomic uint64_t heartbeat_ms; /* written here while working or
                                      waiting for egress space; read by
                                      the watchdog */
    _Atomic bool stop;             /* loop -> worker: drain, flush, end */
};

/* What worker_init() needs from the pipeline, the same for every shard.
 * Owner: the caller. */
struct worker_shared {
    const struct config *cfg;
    struct series_limit *limit;
    uv_async_t *loop_wake;
    _Atomic bool *loop_paused;
    uint32_t series_cap; /* entries per shard */
    size_t arena_bytes;  /* key text per shard */
};

/*
 * An array of n zeroed workers, aligned as struct worker asks (its rings
 * keep their indexes on cache lines of their own); free() releases it.
 * Returns: the array, or NULL (n = 0, out of memory). Thread: start-up.
 */
struct worker *worker_alloc(unsigned n);

/*
 * Allocates the ingress ring, the registry and the decode scratch of one
 * shard, whose records go to out (initialised; borrowed until
 * worker_fini()). Returns: 0, -ENOMEM, -EINVAL. Thread: start-up.
 */
SP_MUST_CHECK int worker_init(struct worker *w, unsigned index,
                              const struct worker_shared *sh,
                              struct egress *out);
void worker_fini(struct worker *w);

/* Bytes worker_init() allocates for these settings (the memory plan; the
 * egress ring is egress_bytes()). */
size_t worker_bytes(const struct worker_shared *sh);

/* Thread: start-up. Starts the thread. Returns: 0 or -errno. */
SP_MUST_CHECK int worker_start(struct worker *w);

/* Thread: loop. Asks the worker to drain, flush and end (after the loop
 * stopped producing). A worker whose thread never started is done at
 * once. */
void worker_request_stop(struct worker *w);

/* Thread: loop (shut-down). Waits for the thread to end. */
void worker_join(struct worker *w);

/* Thread: loop (exit after a failure). Lets a stuck thread end with the
 * process. */
void worker_detach(struct worker *w);

/* Bytes an ingress record takes for these lengths. */
size_t worker_record_bytes(size_t topic_len, size_t payload_len);

/*
 * Copies one message into the ingress ring; worker_wake() makes it seen.
 * Borrows the message until return.
 * Returns: 0, -ENOSPC (ring full now), -EMSGSIZE (larger than a ring record).
 * Thread: loop (the ring's producer).
 */
SP_MUST_CHECK int worker_push(struct worker *w, const struct worker_msg *m);

/*
 * Wakes the worker if it sleeps (a futex wake then, else two atomics). The
 * router calls it for a batch of records, never once per message (route.h).
 * Thread: loop.
 */
void worker_wake(struct worker *w);

/*
 * Registers a series loaded from the store in this shard.
 * Returns: 0, -ENOSPC, -EEXIST. Thread: start-up.
 */
SP_MUST_CHECK int worker_load_series(struct worker *w, int64_t id,
                                     const char *topic, const char *field);

#endif
