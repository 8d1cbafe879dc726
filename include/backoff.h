/*
 * backoff.h - exponential backoff with jitter for reconnect attempts.
 *
 * The delay starts at min, doubles per failed round up to max, and is
 * drawn from [d/2, d], so that many clients restarted together do not
 * retry in step.
 */
#ifndef SP_BACKOFF_H
#define SP_BACKOFF_H

#include <stdint.h>

/* Owner: its user (one thread). */
struct backoff {
    unsigned failures; /* failed rounds since the last success */
    uint64_t rng;      /* xorshift64 state for the jitter; never 0 */
};

/* Thread: any (b is the caller's). seed makes instances differ; any value. */
void backoff_init(struct backoff *b, uint64_t seed);

/* Thread: the owner. The delay before the next attempt, in ms; counts a
 * failed round. min_ms 0 counts as 1. */
uint64_t backoff_next_ms(struct backoff *b, uint64_t min_ms, uint64_t max_ms);

/* Thread: the owner. A success: the next failure starts from min again. */
void backoff_reset(struct backoff *b);

#endif
