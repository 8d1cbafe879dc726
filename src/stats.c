/*
 * stats.c - counter sums, names and the latency histogram.
 *
 * Threads: see stats.h. Memory: none.
 */
#include "stats.h"

#include <math.h>
#include <stdio.h>

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
    h->n = 0;
    for (unsigned i = 0; i < HISTO_BUCKETS; i++)
        h->bucket[i] = 0;
}

/* Bucket i covers [2^(i/8) - 1, 2^((i+1)/8) - 1) ms, roughly 9 % wide. */
static unsigned histo_index(uint64_t ms)
{
    double x = log2((double) ms + 1.0) * 8.0;
    unsigned i = (unsigned) x;

    return i < HISTO_BUCKETS ? i : HISTO_BUCKETS - 1;
}

void histo_add(struct histo *h, uint64_t ms, uint64_t weight)
{
    h->bucket[histo_index(ms)] += weight;
    h->n += weight;
}

double histo_quantile(const struct histo *h, double q)
{
    uint64_t want;
    uint64_t seen = 0;

    if (h->n == 0)
        return 0;
    want = (uint64_t) ceil(q * (double) h->n);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HISTO_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= want)
            return exp2((double) (i + 1) / 8.0) - 1.0;
    }
    return exp2((double) HISTO_BUCKETS / 8.0) - 1.0;
}
