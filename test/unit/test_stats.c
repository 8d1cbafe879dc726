/*
 * test_stats.c - counter sums and the latency histogram.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "stats.h"

Test(stats, accumulate_sums_every_thread)
{
    static struct stats_counters a;
    static struct stats_counters b;
    struct stats_snapshot s = {0};

    stats_add(&a, STAT_RECEIVED, 5);
    stats_add(&a, STAT_RECEIVED, 2);
    stats_add(&b, STAT_RECEIVED, 3);
    stats_add(&b, STAT_LATE, 1);
    stats_accumulate(&s, &a);
    stats_accumulate(&s, &b);
    cr_expect_eq(s.v[STAT_RECEIVED], 10);
    cr_expect_eq(s.v[STAT_LATE], 1);
    cr_expect_eq(s.v[STAT_DECODED], 0);
}

Test(stats, every_counter_has_a_name)
{
    for (unsigned k = 0; k < STAT__COUNT; k++)
        cr_expect_str_neq(stats_counter_name((enum stats_counter) k), "?");
    cr_expect_str_eq(stats_counter_name(STAT_DROPPED_SERIES_LIMIT),
                     "dropped_series_limit");
}

/* The histograms live outside the stack: each is 26 KiB. */
static struct histo h;

Test(stats, empty_histogram_reports_zero)
{
    histo_reset(&h);
    cr_expect_float_eq(histo_quantile(&h, 0.5), 0.0, 0, "empty");
    cr_expect_float_eq(histo_quantile(&h, 0.99), 0.0, 0, "empty");
    histo_add(&h, 700, 5);
    histo_reset(&h);
    cr_expect_float_eq(histo_quantile(&h, 0.99), 0.0, 0, "reset");
    histo_add(&h, 700, 0); /* no weight: nothing added */
    cr_expect_eq(h.n, 0);
    cr_expect_float_eq(histo_quantile(&h, 0.99), 0.0, 0, "weight 0");
}

Test(stats, quantiles_bound_the_true_value_within_a_bucket)
{
    histo_reset(&h);
    /* 1..1000 ms, one each: p50 is 500 ms, p99 990 ms. */
    for (uint64_t ms = 1; ms <= 1000; ms++)
        histo_add(&h, ms, 1);
    double p50 = histo_quantile(&h, 0.5);
    double p99 = histo_quantile(&h, 0.99);
    cr_expect(p50 >= 500.0 && p50 <= 500.0 * 1.005, "p50 %f", p50);
    cr_expect(p99 >= 990.0 && p99 <= 990.0 * 1.005, "p99 %f", p99);
    cr_expect_float_eq(histo_quantile(&h, 1.0), 1000.0, 0);
    cr_expect_float_eq(histo_quantile(&h, 0.0), 1.0, 0, "q 0: the least");
}

/* The target "p99 <= commit_interval_ms + 50 ms" at 1 s: the p99 must be
 * told apart from 1,050 ms. */
Test(stats, p99_near_one_second_within_half_a_percent)
{
    histo_reset(&h);
    histo_add(&h, 1030, 1000);
    histo_add(&h, 5000, 10);
    double p99 = histo_quantile(&h, 0.99);
    cr_expect(p99 >= 1030.0 && p99 <= 1030.0 * 1.005, "p99 %f", p99);
    cr_expect(p99 < 1050.0, "p99 %f", p99);
    cr_expect_float_eq(histo_quantile(&h, 1.0), 5000.0, 0);
    /* The same just past the target: reported past it too. */
    histo_reset(&h);
    histo_add(&h, 1051, 1000);
    histo_add(&h, 900, 10);
    p99 = histo_quantile(&h, 0.99);
    cr_expect(p99 >= 1051.0 && p99 <= 1051.0 * 1.005, "p99 %f", p99);
}

Test(stats, values_below_256_ms_are_exact)
{
    for (uint64_t ms = 0; ms < 256; ms++) {
        histo_reset(&h);
        histo_add(&h, ms, 99);
        histo_add(&h, 100000, 1); /* the maximum is far away */
        cr_expect_float_eq(histo_quantile(&h, 0.5), (double) ms, 0, "%llu ms",
                           (unsigned long long) ms);
        cr_expect_float_eq(histo_quantile(&h, 0.99), (double) ms, 0, "%llu ms",
                           (unsigned long long) ms);
    }
}

/* Above 256 ms a bucket is 1/256 of its power of two wide: every bound
 * lies within 0.4 % above the value, at the edges of every octave. */
Test(stats, buckets_above_256_ms_are_within_0_4_percent)
{
    for (unsigned k = 8; k < 20; k++) {
        uint64_t lo = 1ull << k;
        uint64_t edges[] = {lo, lo + 1, lo + lo / 2, 2 * lo - 2, 2 * lo - 1};
        for (unsigned i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
            uint64_t ms = edges[i];
            histo_reset(&h);
            histo_add(&h, ms, 99);
            histo_add(&h, 1ull << 30, 1);
            double b = histo_quantile(&h, 0.5);
            cr_expect(b >= (double) ms && b <= (double) ms * 1.004,
                      "%llu ms -> %f", (unsigned long long) ms, b);
        }
    }
}

/* Past 2^20 ms (17.5 min) one bucket holds the rest; the bound is then
 * the largest value added, never less than the quantile. */
Test(stats, overflow_bucket_reports_the_largest_value)
{
    histo_reset(&h);
    histo_add(&h, 500, 10);
    histo_add(&h, (1ull << 20) + 5, 80);
    histo_add(&h, 5000000, 10);
    cr_expect_float_eq(histo_quantile(&h, 0.05), 500.0, 0);
    cr_expect_float_eq(histo_quantile(&h, 0.5), 5000000.0, 0);
    cr_expect_float_eq(histo_quantile(&h, 0.99), 5000000.0, 0);
    histo_reset(&h);
    histo_add(&h, UINT64_MAX, 1);
    cr_expect_float_eq(histo_quantile(&h, 0.5), (double) UINT64_MAX, 0);
}

Test(stats, weights_count_as_many_samples)
{
    histo_reset(&h);
    histo_add(&h, 10, 99);
    histo_add(&h, 5000, 1);
    cr_expect_eq(h.n, 100);
    cr_expect_float_eq(histo_quantile(&h, 0.5), 10.0, 0);
    cr_expect_float_eq(histo_quantile(&h, 0.99), 10.0, 0, "99th of 100");
    cr_expect_float_eq(histo_quantile(&h, 0.995), 5000.0, 0);
    cr_expect_float_eq(histo_quantile(&h, 1.0), 5000.0, 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a;
    uint64_t y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

/* Against the exact nearest-rank quantile of the same values (spread
 * over 0..2^21 ms on a log scale, so every region is hit): exact below
 * 256 ms, within 0.4 % up to 2^20 ms, at most the largest value past. */
Test(stats, quantiles_never_below_the_exact_ones)
{
    static uint64_t v[20000];
    static const double qs[] = {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t n = sizeof(v) / sizeof(v[0]);

    histo_reset(&h);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = (x >> 8) & ((1ull << (x % 22)) - 1); /* below 2^(0..21) */
        histo_add(&h, v[i], 1);
    }
    qsort(v, n, sizeof(v[0]), cmp_u64);
    for (size_t j = 0; j < sizeof(qs) / sizeof(qs[0]); j++) {
        size_t rank = (size_t) ceil(qs[j] * (double) n);
        double exact = (double) v[rank - 1];
        double got = histo_quantile(&h, qs[j]);
        double bound = exact < 256            ? exact
                       : exact < (1ull << 20) ? exact * 1.004
                                              : (double) v[n - 1];
        cr_expect(got >= exact && got <= bound, "q %g: %f, exact %f", qs[j],
                  got, exact);
    }
}

Test(stats, totals_name_every_logged_counter_once_in_order)
{
    struct stats_snapshot s = {0};
    char buf[512];
    char small[24];

    for (unsigned k = 0; k < STAT__COUNT; k++)
        s.v[k] = 100 + k;
    cr_assert_lt(stats_format_totals(&s, buf, sizeof(buf)), sizeof(buf) - 1);
    cr_expect(
        strncmp(buf, "received=100 decoded=101 dropped_overflow=103 ", 46) == 0,
        "got '%s'", buf);
    cr_expect(strstr(buf, " paused_ms=") != NULL &&
                  strtoull(strstr(buf, " paused_ms=") + 11, NULL, 10) ==
                      100 + STAT_PAUSED_MS,
              "got '%s'", buf);
    cr_expect(strstr(buf, " dropped_samples_series_limit=") != NULL &&
                  strstr(buf, " dropped_samples_store=") != NULL,
              "got '%s'", buf);
    cr_expect(strstr(buf, "samples=") == NULL, "samples is a rate only");
    cr_expect(strstr(buf, "commits=") == NULL, "got '%s'", buf);
    /* Too small a buffer: cut, terminated, never overrun. */
    memset(small, 'X', sizeof(small));
    cr_expect_eq(stats_format_totals(&s, small, 16), 15);
    cr_expect_eq(small[15], '\0');
    cr_expect_eq(small[16], 'X');
}
