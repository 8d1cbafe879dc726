/*
 * test_backoff.c - reconnect delays: doubling from min, capped at max,
 * jittered within [d/2, d], back to min after a success.
 */
#include <criterion/criterion.h>

#include "backoff.h"

Test(backoff, doubles_caps_and_jitters_within_half)
{
    struct backoff b;
    uint64_t want = 100;

    backoff_init(&b, 12345);
    for (int round = 0; round < 12; round++) {
        uint64_t d = backoff_next_ms(&b, 100, 3000);
        cr_expect_geq(d, want / 2, "round %d: %llu", round,
                      (unsigned long long) d);
        cr_expect_leq(d, want, "round %d: %llu", round, (unsigned long long) d);
        want = want * 2 > 3000 ? 3000 : want * 2;
    }
    backoff_reset(&b);
    cr_expect_leq(backoff_next_ms(&b, 100, 3000), 100, "min again");
}

Test(backoff, instances_with_other_seeds_do_not_retry_in_step)
{
    struct backoff a;
    struct backoff b;
    int same = 0;

    backoff_init(&a, 1);
    backoff_init(&b, 2);
    for (int i = 0; i < 20; i++) {
        backoff_reset(&a);
        backoff_reset(&b);
        same +=
            backoff_next_ms(&a, 1000, 1000) == backoff_next_ms(&b, 1000, 1000);
    }
    cr_expect_lt(same, 5);
}

Test(backoff, zero_seed_and_zero_min_still_work)
{
    struct backoff b;

    backoff_init(&b, 0);
    cr_expect_leq(backoff_next_ms(&b, 0, 10), 1);
    cr_expect_leq(backoff_next_ms(&b, 0, 10), 2);
}
