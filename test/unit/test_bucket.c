/*
 * test_bucket.c - exact merge of partial aggregates.
 */
#include <float.h>

#include <criterion/criterion.h>

#include "bucket.h"

/* Deterministic samples with values that add exactly (multiples of 1/4). */
static void sample(unsigned i, int64_t *ts, double *v)
{
    *ts = 1000 + (int64_t) ((i * 7919u) % 500u); /* out of order, ties */
    *v = (double) ((int) ((i * 104729u) % 400u) - 200) / 4.0;
}

Test(bucket, add_keeps_count_sum_min_max_last)
{
    struct bucket_acc a;

    bucket_acc_reset(&a);
    bucket_acc_add(&a, 10, 3.0);
    bucket_acc_add(&a, 30, -1.0);
    bucket_acc_add(&a, 20, 7.0); /* older than the last: last stays */
    cr_expect_eq(a.count, 3);
    cr_expect_float_eq(a.sum, 9.0, 0);
    cr_expect_float_eq(a.min, -1.0, 0);
    cr_expect_float_eq(a.max, 7.0, 0);
    cr_expect_float_eq(a.last, -1.0, 0);
    cr_expect_eq(a.last_ms, 30);
}

Test(bucket, any_split_merges_to_the_whole)
{
    struct bucket_acc whole;

    bucket_acc_reset(&whole);
    for (unsigned i = 0; i < 1000; i++) {
        int64_t ts;
        double v;
        sample(i, &ts, &v);
        bucket_acc_add(&whole, ts, v);
    }
    for (unsigned chunk = 1; chunk <= 300; chunk += 37) {
        struct bucket_acc merged;
        struct bucket_acc part;
        bucket_acc_reset(&merged);
        bucket_acc_reset(&part);
        for (unsigned i = 0; i < 1000; i++) {
            int64_t ts;
            double v;
            sample(i, &ts, &v);
            bucket_acc_add(&part, ts, v);
            if ((i + 1) % chunk == 0 || i == 999) {
                bucket_acc_merge(&merged, &part);
                bucket_acc_reset(&part);
            }
        }
        cr_expect_eq(merged.count, whole.count, "chunk %u", chunk);
        cr_expect_float_eq(merged.sum, whole.sum, 0, "chunk %u", chunk);
        cr_expect_float_eq(merged.min, whole.min, 0);
        cr_expect_float_eq(merged.max, whole.max, 0);
        cr_expect_float_eq(merged.last, whole.last, 0, "chunk %u", chunk);
        cr_expect_eq(merged.last_ms, whole.last_ms);
    }
}

Test(bucket, merging_an_empty_partial_changes_nothing)
{
    struct bucket_acc a;
    struct bucket_acc empty;

    bucket_acc_reset(&a);
    bucket_acc_reset(&empty);
    bucket_acc_add(&a, 5, 2.5);
    bucket_acc_merge(&a, &empty);
    cr_expect_eq(a.count, 1);
    bucket_acc_merge(&empty, &a);
    cr_expect_eq(empty.count, 1);
    cr_expect_float_eq(empty.last, 2.5, 0);
}

Test(bucket, ties_on_time_go_to_the_later_hand_off)
{
    struct bucket_acc a;
    struct bucket_acc b;

    bucket_acc_reset(&a);
    bucket_acc_reset(&b);
    bucket_acc_add(&a, 100, 1.0);
    bucket_acc_add(&b, 100, 2.0);
    bucket_acc_merge(&a, &b);
    cr_expect_float_eq(a.last, 2.0, 0);
}

Test(bucket, start_is_the_floor_also_before_1970)
{
    cr_expect_eq(bucket_start_ms(0, 10000), 0);
    cr_expect_eq(bucket_start_ms(9999, 10000), 0);
    cr_expect_eq(bucket_start_ms(10000, 10000), 10000);
    cr_expect_eq(bucket_start_ms(-1, 10000), -10000);
    cr_expect_eq(bucket_start_ms(-10000, 10000), -10000);
    cr_expect_eq(bucket_start_ms(1795768234567, 60000), 1795768200000);
}

/* A sum past the range of a double saturates instead of becoming an
 * infinity; count, min, max and last stay exact. */
Test(bucket, sums_saturate_at_the_largest_double)
{
    struct bucket_acc a;
    struct bucket_acc b;

    bucket_acc_reset(&a);
    bucket_acc_add(&a, 1, 1e308);
    bucket_acc_add(&a, 2, 1e308);
    cr_expect_eq(a.sum, DBL_MAX);
    cr_expect_eq(a.count, 2);
    cr_expect_eq(a.max, 1e308);
    bucket_acc_reset(&b);
    bucket_acc_add(&b, 3, -1e308);
    bucket_acc_add(&b, 4, -1e308);
    cr_expect_eq(b.sum, -DBL_MAX);
    bucket_acc_merge(&a, &b);
    cr_expect_eq(a.sum, 0.0, "no NaN from +inf and -inf");
    cr_expect_eq(a.count, 4);
    cr_expect_eq(a.min, -1e308);
    cr_expect_eq(a.last, -1e308);
    bucket_acc_merge(&b, &b);
    cr_expect_eq(b.sum, -DBL_MAX);
}
