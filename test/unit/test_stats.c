/*
 * test_stats.c - counter sums and the latency histogram.
 */
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

Test(stats, quantiles_bound_the_true_value_within_a_bucket)
{
    struct histo h;

    histo_reset(&h);
    cr_expect_float_eq(histo_quantile(&h, 0.5), 0.0, 0, "empty");
    /* 1..1000 ms, one each: p50 is 500 ms, p99 990 ms. */
    for (uint64_t ms = 1; ms <= 1000; ms++)
        histo_add(&h, ms, 1);
    double p50 = histo_quantile(&h, 0.5);
    double p99 = histo_quantile(&h, 0.99);
    cr_expect(p50 >= 500.0 && p50 <= 500.0 * 1.1, "p50 %f", p50);
    cr_expect(p99 >= 990.0 && p99 <= 990.0 * 1.1, "p99 %f", p99);
}

Test(stats, weights_count_as_many_samples)
{
    struct histo h;

    histo_reset(&h);
    histo_add(&h, 10, 99);
    histo_add(&h, 5000, 1);
    cr_expect(histo_quantile(&h, 0.5) < 12.0);
    cr_expect(histo_quantile(&h, 1.0) >= 5000.0);
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
