/*
 * clock.c - wall and monotonic clocks in milliseconds.
 *
 * Threads: any; the offset is written once at start-up (relaxed atomic).
 * Memory: none.
 */
#include "clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t offset_ms;

int64_t clock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

uint64_t clock_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

void clock_set_offset_ms(int64_t off)
{
    atomic_store_explicit(&offset_ms, off, memory_order_relaxed);
}
