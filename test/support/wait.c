/*
 * wait.c - await a condition instead of sleeping (test support).
 *
 * Threads: wait_until() on any thread; run_loop_until() on the thread that
 * runs the loop.
 * Memory: none; run_loop_until()'s timer lives on its stack and is closed
 * (its close callback run) before it returns.
 */
#include "wait.h"

#include <errno.h>
#include <time.h>

#include <uv.h>

#define WAIT_STEP_MS 2
#define LOOP_TICK_MS 5

uint64_t wait_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void wait_nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

int wait_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) timeout_ms;
    struct timespec step = {0, WAIT_STEP_MS * 1000000L};

    while (!cond(arg)) {
        if (wait_now_ms() >= deadline)
            return cond(arg) ? 0 : -ETIMEDOUT;
        nanosleep(&step, NULL);
    }
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    (void) t;
}

static void on_tick_closed(uv_handle_t *h)
{
    *(bool *) h->data = true;
}

int run_loop_until(uv_loop_t *loop, bool (*cond)(void *), void *arg,
                   int timeout_ms)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) timeout_ms;
    uv_timer_t tick;
    bool closed = false;
    int rc = -ETIMEDOUT;

    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, LOOP_TICK_MS, LOOP_TICK_MS);
    for (;;) {
        if (cond != NULL && cond(arg)) {
            rc = 0;
            break;
        }
        if (wait_now_ms() >= deadline)
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
    tick.data = &closed;
    uv_close((uv_handle_t *) &tick, on_tick_closed);
    /* The close callback runs at the end of the next iteration; NOWAIT
     * keeps the caller's other handles from blocking it. */
    while (!closed)
        uv_run(loop, UV_RUN_NOWAIT);
    return rc;
}
