/*
 * stats.h - the counters behind "every message is accounted for".
 *
 * Each thread that counts owns one struct stats_counters and is its only
 * writer, so an increment is a relaxed load and store, not a locked
 * read-modify-write; readers (the stats timer, the writer's ingest_stats
 * row, tests) sum every thread's struct with relaxed loads. Counters only
 * grow. After a clean stop:
 *
 *   received = decoded + dropped_overflow + dropped_oversize
 *              + dropped_invalid + dropped_series_limit + skipped_retained
 *
 * and for the samples of decoded messages:
 *
 *   samples in payloads = samples + dropped_samples_series_limit
 *                         + dropped_samples_probe
 *   sum(count) of the finest rollups = samples - dropped_samples_store
 *
 * Histogram: receive -> commit latency in whole milliseconds, log-linear
 * (no allocation), owned by the writer; percentiles are published as
 * atomics. Buckets: one per millisecond below 256 ms (exact), then 256
 * per power of two up to 2^20 ms (17.5 min), each 1/256 of its octave
 * wide (so a bound is at most 0.4 % above the value it bounds), and one
 * overflow bucket above; the largest value added is kept as well. Memory:
 * HISTO_BUCKETS (3,329) counters of 8 bytes plus two, 26,648 bytes, part
 * of the owner's struct.
 */
#ifndef SP_STATS_H
#define SP_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

enum stats_counter {
    STAT_RECEIVED = 0,
    STAT_DECODED,
    STAT_SAMPLES,
    STAT_DROPPED_OVERFLOW,
    STAT_DROPPED_OVERSIZE,
    STAT_DROPPED_INVALID,
    STAT_DROPPED_SERIES_LIMIT,
    STAT_SKIPPED_RETAINED, /* retained messages a subscription had before */
    STAT_LATE,
    STAT_CLOCK_SKEW,
    STAT_SKIPPED_VALUES, /* non-numeric values inside decoded payloads */
    /* Samples (not messages) refused: of a new series max_series or the
     * key text did not admit; in a partial the store refused. */
    STAT_DROPPED_SAMPLES_SERIES_LIMIT,
    STAT_DROPPED_SAMPLES_STORE,
    /* Samples of a new series whose registry slot lies past
     * SERIES_PROBE_MAX: keys chosen to collide. */
    STAT_DROPPED_SAMPLES_PROBE,
    STAT_INVALID_LINES, /* line-protocol lines refused, in any message */
    STAT_TAG_CONFLICTS, /* payload tags replaced by a topic tag */
    STAT_PAUSED_MS,
    STAT_ROWS_WRITTEN, /* egress records committed by the writer */
    STAT_COMMITS,
    STAT_COMMIT_RETRIES,
    STAT__COUNT
};

/* Owner: one thread writes it (see the file comment); any thread reads. */
struct stats_counters {
    _Alignas(SP_CACHELINE) _Atomic uint64_t v[STAT__COUNT];
};

/* A plain copy for reporting. Owner: the caller. */
struct stats_snapshot {
    uint64_t v[STAT__COUNT];
};

/* Thread: the owner of c. Relaxed: readers only need an eventual total. */
static inline void stats_add(struct stats_counters *c, enum stats_counter k,
                             uint64_t n)
{
    uint64_t old = atomic_load_explicit(&c->v[k], memory_order_relaxed);
    atomic_store_explicit(&c->v[k], old + n, memory_order_relaxed);
}

/* Thread: any. Adds c's counters into out. */
void stats_accumulate(struct stats_snapshot *out,
                      const struct stats_counters *c);

/* Thread: any. "received", "dropped_overflow", ... */
const char *stats_counter_name(enum stats_counter k);

/*
 * Writes "received=N decoded=N ..." for every counter the stats line
 * shows, in enum order, into buf (always NUL-terminated when len > 0; cut
 * when too small). Returns: the characters written. Thread: any.
 */
size_t stats_format_totals(const struct stats_snapshot *s, char *buf,
                           size_t len);

#define HISTO_EXACT_MS  256u /* one bucket per ms below this */
#define HISTO_SUB_BITS  8u   /* 2^8 = 256 buckets per power of two above */
#define HISTO_MAX_SHIFT 20u  /* log-linear up to 2^20 ms, then overflow */
#define HISTO_BUCKETS                                                          \
    (HISTO_EXACT_MS + (HISTO_MAX_SHIFT - HISTO_SUB_BITS) * HISTO_EXACT_MS + 1)

/* Owner: one thread (the writer). */
struct histo {
    uint64_t n;      /* total weight added */
    uint64_t max_ms; /* the largest value added; 0 when empty */
    uint64_t bucket[HISTO_BUCKETS];
};

/* Thread: the owner. */
void histo_reset(struct histo *h);
void histo_add(struct histo *h, uint64_t ms, uint64_t weight);
/*
 * The nearest-rank quantile q (0..1) in ms: the ceil(q * n)-th smallest
 * value added is in bucket b; returns the largest whole millisecond b
 * holds (the value itself below 256 ms, at most 0.4 % above it up to
 * 2^20 ms), or the largest value added when that is smaller (always in
 * the overflow bucket). Never below the true quantile. 0 when empty.
 */
double histo_quantile(const struct histo *h, double q);

#endif
