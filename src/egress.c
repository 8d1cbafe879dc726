/*
 * egress.c - the ring between one worker and the writer, with its wake-ups.
 *
 * Threads: the worker calls egress_reserve(), egress_commit(),
 * egress_signal() (once per batch: the writer is woken per batch, not per
 * record) and egress_finish(); the writer reads the ring in place
 * (ring_cursor(), ring_next()) and calls egress_release() and egress_is_done().
 *
 * Invariants:
 *   - The producer never drops a record: a full ring makes it wait for
 *     the writer (so its ingress ring fills and the loop pauses: the
 *     backpressure goes back to the broker).
 *   - done is stored (release) after the last commit, so a writer that
 *     sees done (acquire) and then an empty ring has everything.
 *   - Lost wake-ups cannot happen: a waiter prepares its event, looks at
 *     the ring again, and only then sleeps (event.h).
 *
 * Memory: egress_alloc() the structs, egress_init() the ring; nothing
 * else.
 */
#include "egress.h"

#include "aligned.h"

struct egress *egress_alloc(unsigned n)
{
    return aligned_array_alloc(n, sizeof(struct egress),
                               _Alignof(struct egress));
}

size_t egress_bytes(const struct config *cfg)
{
    /* Room for a few batches of partials, and at least 1 MiB so the
     * largest series record (64 KiB topic + tags) is well under a quarter. */
    size_t want = (size_t) cfg->store.batch_rows * 2 *
                  (sizeof(struct egress_partial) + 8);

    return ring_capacity(want > (1u << 20) ? want : (1u << 20));
}

int egress_init(struct egress *e, size_t bytes, struct event *writer_ev)
{
    e->writer_ev = writer_ev;
    event_init(&e->space_ev);
    atomic_init(&e->done, false);
    return ring_init(&e->ring, bytes);
}

void egress_fini(struct egress *e)
{
    ring_fini(&e->ring);
}

void *egress_reserve(struct egress *e, size_t len, uint32_t wait_ms)
{
    void *p = ring_reserve(&e->ring, len);
    uint32_t seq;

    if (p != NULL)
        return p;
    seq = event_prepare(&e->space_ev);
    p = ring_reserve(&e->ring, len);
    if (p == NULL) {
        e->unsignalled = false;
        event_signal(e->writer_ev);
        event_wait(&e->space_ev, seq, wait_ms);
        p = ring_reserve(&e->ring, len);
    }
    event_cancel(&e->space_ev);
    return p;
}

void egress_commit(struct egress *e)
{
    ring_commit(&e->ring);
    e->unsignalled = true;
}

void egress_signal(struct egress *e)
{
    if (!e->unsignalled)
        return;
    e->unsignalled = false;
    event_signal(e->writer_ev);
}

void egress_finish(struct egress *e)
{
    /* Release: every record committed above is visible before done. */
    atomic_store_explicit(&e->done, true, memory_order_release);
    event_signal(e->writer_ev);
}

bool egress_is_done(const struct egress *e)
{
    /* Acquire: pairs with the release in egress_finish(). */
    return atomic_load_explicit(&e->done, memory_order_acquire);
}

void egress_release(struct egress *e, size_t cursor)
{
    ring_release(&e->ring, cursor);
    event_signal(&e->space_ev);
}
