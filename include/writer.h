/*
 * writer.h - the thread that owns the SQLite connection: it turns egress
 * records into transactions, writes ingest_stats rows and runs retention.
 */
#ifndef SP_WRITER_H
#define SP_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "compiler.h"
#include "config.h"
#include "egress.h"
#include "event.h"
#include "idmap.h"
#include "log.h"
#include "retention.h"
#include "series.h"
#include "stats.h"
#include "store.h"
#include "subrec.h"

/* A partial of the batch being written (writer.c: merge_pending()).
 * Owner: the writer thread. */
struct writer_pending {
    int64_t id;   /* the stored series id */
    uint32_t seq; /* position in the batch: ties keep ring order */
    const struct egress_partial *rec; /* in place in its egress ring */
};

/* What writer_init() needs from the pipeline. Owner: the caller. */
struct writer_shared {
    const struct config *cfg;
    struct store *store;   /* open before writer_start(), which takes it */
    struct egress *egress; /* the rings to consume, one per worker */
    unsigned n_egress;
    uv_async_t *loop_wake; /* told when the writer fails for good */
    struct stats_counters *const *all_stats; /* every counter set, for rows */
    unsigned n_all_stats;
    struct series_limit *limit;
};

/*
 * Owner: the writer thread. The loop thread builds it before the thread
 * starts, and tears it down after the join.
 */
struct writer {
    /* Set by writer_init(), read-only afterwards. */
    const struct config *cfg;
    struct store *store;   /* taken over at writer_start() */
    struct egress *egress; /* consumer side here; the workers produce */
    unsigned n_egress;
    uv_async_t *loop_wake; /* told when the writer fails for good */
    struct stats_counters *const *all_stats; /* every counter set, for rows */
    unsigned n_all_stats;
    struct series_limit *limit;
    struct subrec *subrec; /* consumer of its ring; NULL for none */
    pthread_t thread;
    bool started;

    /* Owned by the writer thread. */
    struct histo latency;      /* receive -> commit, ms, per sample */
    uint64_t next_stats_ms;    /* monotonic */
    uint64_t next_check_ms;    /* monotonic: the file's identity */
    unsigned first_ring;       /* round-robin start of the next batch */
    unsigned failures;         /* consecutive failed batches */
    uint64_t gather_until_ms;  /* monotonic; 0 = not gathering a batch */
    uint64_t failing_since_ms; /* monotonic; 0 while batches commit */
    uint64_t samples_done;     /* samples of released partials */
    bool stop_wait_logged;     /* said what the stop waits for */
    ino_t file_ino;            /* identity of the file at start */
    dev_t file_dev;
    struct ratelimit rl_err;
    struct ratelimit rl_refused;    /* records the store refused */
    uint64_t batch_refused_samples; /* in refused partials of this batch;
                                       counted once it commits */
    struct idmap remap;          /* a returning series' new id -> its stored id;
                                    allocated at start-up (the caller) */
    struct writer_pending *pend; /* this batch's partials, sorted before
                                    they are merged: batch_rows entries
                                    and as many for the sort, allocated
                                    by writer_start() */
    unsigned pend_cap;
    unsigned n_pend;

    /* Shared. */
    struct event ev;               /* the writer sleeps here */
    struct stats_counters stats;   /* written here only */
    _Atomic uint64_t heartbeat_ms; /* read by the watchdog */
    _Atomic int fatal;             /* -errno once the store is lost */
    _Atomic uint64_t p50_us;       /* last stats interval's latency */
    _Atomic uint64_t p99_us;
    _Atomic uint64_t retention_lag_ms; /* at the last stats row */
    struct retention retention;        /* its shared block: the loop, SIGHUP */
    _Atomic uint64_t stop_ms;          /* loop: monotonic time of the stop
                                          request; 0 before */
    const char *stall_file;            /* test hook: stall while it exists
                                          (SENSORPIPE_TEST_STALL_FILE) */
    unsigned commit_delay_ms;          /* test hook: a slow disk, each batch
                                          takes this long to commit
                                          (SENSORPIPE_TEST_COMMIT_DELAY_MS) */
};

/* Thread: start-up. Everything from sh; borrowed until the join. */
void writer_init(struct writer *wr, const struct writer_shared *sh);

/* Bytes writer_start() allocates for the batch's sort buffer (the memory
 * plan). Thread: any. */
size_t writer_batch_bytes(const struct config *cfg);

/* Thread: start-up. Returns: 0 or -errno. */
SP_MUST_CHECK int writer_start(struct writer *wr);

/* Thread: loop. New retention from a reload; the writer applies it before
 * its next retention step. */
void writer_set_retention(struct writer *wr, const struct config *cfg);

/*
 * Thread: loop. Notes that a stop began (bounds how long a failing store
 * may hold up the exit).
 */
void writer_request_stop(struct writer *wr);

/*
 * Thread: loop (shut-down). Waits until every worker is done, the rings are
 * empty and the last batch is committed (or the store failed for good).
 */
void writer_join(struct writer *wr);

#endif
