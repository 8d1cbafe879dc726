/*
 * test_clock.c - wall time with the test offset, monotonic time.
 */
#include <time.h>

#include <criterion/criterion.h>

#include "clock.h"

Test(clock, wall_time_follows_the_offset)
{
    int64_t a = clock_now_ms();
    int64_t b;

    clock_set_offset_ms(3600000);
    b = clock_now_ms();
    clock_set_offset_ms(0);
    cr_expect_geq(b - a, 3600000);
    cr_expect_lt(b - a, 3600000 + 5000);
    cr_expect_lt(clock_now_ms() - a, 5000);
    cr_expect_gt(a, 1600000000000LL, "Unix milliseconds");
}

Test(clock, monotonic_never_goes_back)
{
    uint64_t prev = clock_mono_ns();

    for (int i = 0; i < 100000; i++) {
        uint64_t now = clock_mono_ns();
        cr_assert_geq(now, prev);
        prev = now;
    }
}

/* Bracketed by nanosecond readings, so a millisecond boundary between two
 * reads cannot make it fail; a wrong unit (seconds, microseconds) does. */
Test(clock, monotonic_ms_is_ns_in_milliseconds)
{
    for (int i = 0; i < 1000; i++) {
        uint64_t lo = clock_mono_ns() / 1000000;
        uint64_t ms = clock_mono_ms();
        uint64_t hi = clock_mono_ns() / 1000000;

        cr_assert_geq(ms, lo);
        cr_assert_leq(ms, hi);
    }
}
