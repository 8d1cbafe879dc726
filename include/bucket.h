/*
 * bucket.h - the aggregate of one series over one time bucket.
 *
 * count, sum, min, max, last and last_ms merge exactly: merging the partials
 * of any split of a bucket's samples, in the order they were handed off,
 * gives the same result as adding every sample to one accumulator. The SQL
 * upsert in store.c applies the same rule, so rows written at different
 * times combine into the one the samples would have made together.
 *
 * Ties on last_ms go to the later hand-off, as they do to the later sample.
 *
 * The sum saturates at +-DBL_MAX instead of overflowing to an infinity
 * (values are finite: the decoders refuse others), so a bucket never holds
 * a non-finite number; count, min, max and last stay exact, the mean of a
 * saturated bucket does not. The store's merge saturates the same way.
 */
#ifndef SP_BUCKET_H
#define SP_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* Owner: whoever holds it (a series entry, an egress record, a test). */
struct bucket_acc {
    uint64_t count; /* 0 = empty; other fields then undefined */
    double sum;
    double min;
    double max;
    double last; /* value with the greatest ts; later one wins ties */
    int64_t last_ms;
};

/* Thread: any. */
void bucket_acc_reset(struct bucket_acc *acc);
void bucket_acc_add(struct bucket_acc *acc, int64_t ts_ms, double value);
void bucket_acc_merge(struct bucket_acc *dst, const struct bucket_acc *src);

/* Start of the bucket of width res_ms holding ts_ms (floor, also below 0). */
int64_t bucket_start_ms(int64_t ts_ms, int64_t res_ms);

#endif
