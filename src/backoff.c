/*
 * backoff.c - exponential backoff with jitter (see backoff.h).
 *
 * Threads: the owner's. Memory: none.
 */
#include "backoff.h"

void backoff_init(struct backoff *b, uint64_t seed)
{
    b->failures = 0;
    b->rng = seed != 0 ? seed : 1;
}

/* xorshift64: the jitter only needs to differ between instances. */
static uint64_t next_random(struct backoff *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

uint64_t backoff_next_ms(struct backoff *b, uint64_t min_ms, uint64_t max_ms)
{
    uint64_t d = min_ms != 0 ? min_ms : 1;

    for (unsigned k = 0; k < b->failures && d < max_ms; k++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    if (b->failures < 64)
        b->failures++;
    return d - next_random(b) % (d / 2 + 1);
}

void backoff_reset(struct backoff *b)
{
    b->failures = 0;
}
