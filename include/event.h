/*
 * event.h - a wake-up for a thread that sleeps when it has nothing to do.
 *
 * Built on a futex. The sleeper announces itself before it checks its
 * queues a last time; a producer pays a syscall only when someone sleeps,
 * so a busy pipeline runs without a syscall per message:
 *
 *     consumer                          producer
 *     seq = event_prepare(ev);          ring_commit(r);
 *     if (!work_available())            event_signal(ev);
 *         event_wait(ev, seq, 1000);
 *     event_cancel(ev);
 *
 * event_prepare() and event_signal() use sequentially consistent atomics,
 * so either the consumer sees the new record or the producer sees the
 * sleeper (the classic store-load pairing; acquire/release would not do).
 */
#ifndef SP_EVENT_H
#define SP_EVENT_H

#include <stdatomic.h>
#include <stdint.h>

/* Owner: shared by one or more producers and one sleeper. No allocation. */
struct event {
    _Atomic uint32_t seq;     /* bumped by each signal that sees a sleeper */
    _Atomic uint32_t waiters; /* sleepers between prepare and cancel */
};

/* Thread: start-up. */
void event_init(struct event *ev);

/* Thread: the sleeper. Returns the sequence to pass to event_wait(). */
uint32_t event_prepare(struct event *ev);

/*
 * Sleeps until a signal after prepare, or timeout_ms (0 = no sleep).
 * Returns at once when a signal already came. Spurious wake-ups happen:
 * callers re-check their queues. Thread: the sleeper.
 */
void event_wait(struct event *ev, uint32_t seq, uint32_t timeout_ms);

/* Thread: the sleeper. Ends what event_prepare() began. */
void event_cancel(struct event *ev);

/* Thread: any. Wakes the sleeper if there is one; else costs two atomics. */
void event_signal(struct event *ev);

#endif
