/*
 * event.c - futex-based wake-up for one sleeper and any number of signalers.
 *
 * The sleeper counts itself in waiters (event_prepare()), re-checks its
 * queues, then sleeps on seq with FUTEX_WAIT (event_wait()). A signaler that
 * sees waiters > 0 bumps seq and calls FUTEX_WAKE; one that sees no waiter
 * does nothing more, so a busy pipeline makes no syscall per message.
 *
 * Why no wake-up is lost: the sleeper does "waiters++; fence; check the
 * queue", the signaler does "publish; fence; load waiters". With a seq_cst
 * fence on each side, one of the two fences comes first in the single total
 * order, and the side after it sees the other side's store: either the
 * sleeper sees the new record, or the signaler sees the sleeper. The queue's
 * own atomics (ring.c: acquire/release) need not be seq_cst for this. If the
 * signal bumps seq between event_prepare() and FUTEX_WAIT, the kernel finds
 * seq changed and FUTEX_WAIT returns at once (EAGAIN).
 *
 * Threads: any thread signals; one thread at a time prepares, waits and
 * cancels.
 * Invariants: waiters counts sleepers between event_prepare() and
 * event_cancel(); seq only grows (modulo 2^32).
 * Memory: none.
 */
#include "event.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define NS_PER_MS  1000000u
#define NS_PER_SEC 1000000000u

void event_init(struct event *ev)
{
    atomic_init(&ev->seq, 0);
    atomic_init(&ev->waiters, 0);
}

uint32_t event_prepare(struct event *ev)
{
    /* seq_cst: the increment and the fence after it order "I sleep" before
     * the caller's last look at its queue (see the file comment). */
    atomic_fetch_add_explicit(&ev->waiters, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    /* seq_cst: also an acquire, so a signal we see here made its record
     * visible to us before we re-check the queue. */
    return atomic_load_explicit(&ev->seq, memory_order_seq_cst);
}

/* One FUTEX_WAIT: returns when woken, when seq != expect, on a signal
 * (EINTR) or after timeout_ns. The caller re-checks, so errors are not
 * reported: EAGAIN, EINTR and ETIMEDOUT are all "look again". */
static void futex_wait(_Atomic uint32_t *addr, uint32_t expect,
                       uint64_t timeout_ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t) (timeout_ns / NS_PER_SEC);
    ts.tv_nsec = (long) (timeout_ns % NS_PER_SEC);
    /* The timeout is relative and measured on CLOCK_MONOTONIC. */
    (void) syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expect, &ts, NULL, 0);
}

void event_wait(struct event *ev, uint32_t seq, uint32_t timeout_ms)
{
    uint64_t deadline_ns;
    uint64_t now_ns;

    if (timeout_ms == 0)
        return;
    deadline_ns = clock_mono_ns() + (uint64_t) timeout_ms * NS_PER_MS;
    /* Acquire: pairs with the seq_cst increment in event_signal(), so the
     * signaler's record is visible once we see the new seq. Loop because
     * FUTEX_WAIT also returns on EINTR and on a wake meant for an older
     * seq; only a changed seq or the deadline ends the wait. */
    while (atomic_load_explicit(&ev->seq, memory_order_acquire) == seq) {
        now_ns = clock_mono_ns();
        if (now_ns >= deadline_ns)
            return;
        futex_wait(&ev->seq, seq, deadline_ns - now_ns);
    }
}

void event_cancel(struct event *ev)
{
    /* Relaxed: a late decrement only costs a signaler one needless wake;
     * it never hides a sleeper, because a new sleeper increments first. */
    atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_relaxed);
}

void event_signal(struct event *ev)
{
    /* seq_cst fence: orders the caller's publication (e.g. a release store
     * of a ring's head) before the load of waiters; without it the store
     * could still sit in this CPU's store buffer while we read waiters == 0
     * and the sleeper reads the old head. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ev->waiters, memory_order_seq_cst) == 0)
        return;
    /* seq_cst (a release at least): the record is visible to a sleeper
     * that sees the new seq; FUTEX_WAIT compares against it in the kernel. */
    atomic_fetch_add_explicit(&ev->seq, 1, memory_order_seq_cst);
    (void) syscall(SYS_futex, &ev->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL,
                   0);
}
