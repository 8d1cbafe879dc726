/*
 * stats.c - counter sums, names and the latency histogram.
 *
 * Threads: see stats.h. Memory: none.
 */
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* One row per counter: its name, and whether the stats line shows it. */
struct counter_info {
    const char *name;
    bool logged;
};

static const struct counter_info counters[STAT__COUNT] = {
    [STAT_RECEIVED] = {"received", true},
    [STAT_DECODED] = {"decoded", true},
    [STAT_SAMPLES] = {"samples", false}, /* as a rate only */
    [STAT_DROPPED_OVERFLOW] = {"dropped_overflow", true},
    [STAT_DROPPED_OVERSIZE] = {"dropped_oversize", true},
    [STAT_DROPPED_INVALID] = {"dropped_invalid", true},
    [STAT_DROPPED_SERIES_LIMIT] = {"dropped_series_limit", true},
    [STAT_SKIPPED_RETAINED] = {"skipped_retained", true},
    [STAT_LATE] = {"late", true},
    [STAT_CLOCK_SKEW] = {"clock_skew", true},
    [STAT_SKIPPED_VALUES] = {"skipped_values", true},
    [STAT_DROPPED_SAMPLES_SERIES_LIMIT] = {"dropped_samples_series_limit",
                                           true},
    [STAT_DROPPED_SAMPLES_STORE] = {"dropped_samples_store", true},
    [STAT_DROPPED_SAMPLES_PROBE] = {"dropped_samples_probe", true},
    [STAT_INVALID_LINES] = {"invalid_lines", true},
    [STAT_TAG_CONFLICTS] = {"tag_conflicts", true},
    [STAT_PAUSED_MS] = {"paused_ms", true},
    [STAT_ROWS_WRITTEN] = {"rows_written", false},
    [STAT_COMMITS] = {"commits", false},
    [STAT_COMMIT_RETRIES] = {"commit_retries", false},
};

void stats_accumulate(struct stats_snapshot *out,
                      const struct stats_counters *c)
{
    for (unsigned k = 0; k < STAT__COUNT; k++)
        out->v[k] += atomic_load_explicit(&c->v[k], memory_order_relaxed);
}

const char *stats_counter_name(enum stats_counter k)
{
    return (unsigned) k < STAT__COUNT && counters[k].name ? counters[k].name
                                                          : "?";
}

size_t stats_format_totals(const struct stats_snapshot *s, char *buf,
                           size_t len)
{
    size_t pos = 0;

    if (len > 0)
        buf[0] = '\0';
    for (unsigned k = 0; k < STAT__COUNT; k++) {
        int n;

        if (!counters[k].logged)
            continue;
        n = snprintf(buf + pos, len - pos, "%s%s=%llu", pos ? " " : "",
                     counters[k].name, (unsigned long long) s->v[k]);
        if (n < 0 || (size_t) n >= len - pos)
            return len > 0 ? len - 1 : 0; /* cut, still NUL-terminated */
        pos += (size_t) n;
    }
    return pos;
}

void histo_reset(struct histo *h)
{
    memset(h, 0, sizeof(*h));
}

/* Below HISTO_EXACT_MS: the value. Above, for ms in [2^k, 2^(k+1)): the
 * 2^(k-8) wide slice of that octave it falls in. */
static unsigned histo_index(uint64_t ms)
{
    unsigned k;
    unsigned sub;

    if (ms < HISTO_EXACT_MS)
        return (unsigned) ms;
    k = 63u - (unsigned) __builtin_clzll(ms);
    if (k >= HISTO_MAX_SHIFT)
        return HISTO_BUCKETS - 1;
    sub = (unsigned) (ms >> (k - HISTO_SUB_BITS)) - HISTO_EXACT_MS;
    return HISTO_EXACT_MS + (k - HISTO_SUB_BITS) * HISTO_EXACT_MS + sub;
}

/* The largest whole millisecond bucket i holds (UINT64_MAX: overflow). */
static uint64_t histo_bucket_max(unsigned i)
{
    unsigned k;
    uint64_t sub;

    if (i < HISTO_EXACT_MS)
        return i;
    if (i >= HISTO_BUCKETS - 1)
        return UINT64_MAX;
    k = (i - HISTO_EXACT_MS) / HISTO_EXACT_MS + HISTO_SUB_BITS;
    sub = (i - HISTO_EXACT_MS) % HISTO_EXACT_MS + HISTO_EXACT_MS;
    return ((sub + 1) << (k - HISTO_SUB_BITS)) - 1;
}

void histo_add(struct histo *h, uint64_t ms, uint64_t weight)
{
    if (weight == 0)
        return;
    h->bucket[histo_index(ms)] += weight;
    h->n += weight;
    if (ms > h->max_ms)
        h->max_ms = ms;
}

double histo_quantile(const struct histo *h, double q)
{
    uint64_t want;
    uint64_t seen = 0;

    if (h->n == 0)
        return 0;
    if (!(q > 0)) /* also NaN */
        want = 1;
    else if (q >= 1)
        want = h->n;
    else
        want = (uint64_t) ceil(q * (double) h->n);
    if (want == 0)
        want = 1;
    if (want > h->n)
        want = h->n;
    for (unsigned i = 0; i < HISTO_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= want) {
            uint64_t hi = histo_bucket_max(i);
            return (double) (hi < h->max_ms ? hi : h->max_ms);
        }
    }
    return (double) h->max_ms; /* not reached: the buckets sum to n */
}
