/*
 * bucket.c - exact, mergeable per-bucket aggregates.
 *
 * Threads: pure functions on caller-owned structs.
 * Invariants: count == 0 or min <= last <= max and min <= sum / count <= max
 *             (up to rounding of sum); every field is finite when the
 *             values added are: sum saturates at +-DBL_MAX.
 * Memory: none.
 */
#include "bucket.h"

#include <float.h>
#include <math.h>

#include "compiler.h"

/* a + b, saturated at +-DBL_MAX: two finite sums never make an infinity
 * (and later, with an infinity of the other sign, a NaN). */
static double sat_add(double a, double b)
{
    double s = a + b;

    if (SP_LIKELY(isfinite(s)))
        return s;
    return s > 0 ? DBL_MAX : -DBL_MAX;
}

void bucket_acc_reset(struct bucket_acc *acc)
{
    acc->count = 0;
    acc->sum = 0;
    acc->min = 0;
    acc->max = 0;
    acc->last = 0;
    acc->last_ms = INT64_MIN;
}

void bucket_acc_add(struct bucket_acc *acc, int64_t ts_ms, double value)
{
    if (acc->count == 0) {
        acc->count = 1;
        acc->sum = value;
        acc->min = value;
        acc->max = value;
        acc->last = value;
        acc->last_ms = ts_ms;
        return;
    }
    acc->count++;
    acc->sum = sat_add(acc->sum, value);
    if (value < acc->min)
        acc->min = value;
    if (value > acc->max)
        acc->max = value;
    if (ts_ms >= acc->last_ms) {
        acc->last = value;
        acc->last_ms = ts_ms;
    }
}

void bucket_acc_merge(struct bucket_acc *dst, const struct bucket_acc *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0) {
        *dst = *src;
        return;
    }
    dst->count += src->count;
    dst->sum = sat_add(dst->sum, src->sum);
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    if (src->last_ms >= dst->last_ms) {
        dst->last = src->last;
        dst->last_ms = src->last_ms;
    }
}

int64_t bucket_start_ms(int64_t ts_ms, int64_t res_ms)
{
    int64_t q = ts_ms / res_ms;

    /* C division truncates toward zero; buckets start at the floor. */
    if (ts_ms % res_ms != 0 && ts_ms < 0)
        q--;
    return q * res_ms;
}
