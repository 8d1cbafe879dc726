/*
 * wait.h - await a condition instead of sleeping (test support).
 *
 * wait_until() polls a predicate every few milliseconds, for conditions
 * that other threads or processes make true. run_loop_until() steps a libuv
 * loop instead, for conditions the loop's own callbacks make true.
 */
#ifndef SP_WAIT_H
#define SP_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "compiler.h"

/*
 * Calls cond(arg) every 2 ms until it returns true or timeout_ms passed.
 * Returns: 0 once cond is true (checked one last time at the deadline);
 *   -ETIMEDOUT.
 * Thread: any.
 */
SP_MUST_CHECK int wait_until(bool (*cond)(void *), void *arg, int timeout_ms);

/*
 * Runs loop one iteration at a time until cond(arg) is true or timeout_ms
 * passed; a private 5 ms repeating timer keeps an idle loop from blocking
 * past the deadline. cond may be NULL: then it runs for timeout_ms.
 * Returns: 0 once cond is true; -ETIMEDOUT (always, when cond is NULL).
 * Thread: the loop's.
 */
SP_MUST_CHECK int run_loop_until(uv_loop_t *loop, bool (*cond)(void *),
                                 void *arg, int timeout_ms);

/* Thread: any. Monotonic milliseconds, for deadlines in tests. */
uint64_t wait_now_ms(void);

/*
 * Sleeps ms milliseconds: a poll interval or a publishing pace, never a
 * stand-in for a wait. Returns: nothing. Thread: any.
 */
void wait_nap_ms(long ms);

#endif
