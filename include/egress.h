/*
 * egress.h - one worker's hand-off to the writer: a ring of egress records
 * (records.h), the event the worker sleeps on while it is full, and the
 * flag that says the worker has handed off everything.
 *
 *   worker --egress_reserve/commit--> ring --egress_next/release--> writer
 *
 * One struct egress per worker, owned by the pipeline, which gives the
 * producer side to the worker and every egress to the writer. So a worker
 * test needs no writer and a writer test needs no worker.
 */
#ifndef SP_EGRESS_H
#define SP_EGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "config.h"
#include "event.h"
#include "records.h"
#include "ring.h"

/*
 * Owner: the pipeline (built before the threads start, freed after they
 * are joined). Producer: one worker; consumer: the writer.
 */
struct egress {
    /* Set by egress_init(), read-only afterwards. */
    struct event *writer_ev; /* the writer sleeps there; the producer
                                signals it */

    /* Owned by the producer. */
    bool unsignalled; /* records committed since the writer was signalled */

    /* Shared. */
    struct ring ring;      /* producer: the worker; consumer: the writer */
    struct event space_ev; /* the worker sleeps here while the ring is
                              full; the writer signals after a release */
    _Atomic bool done;     /* worker -> writer: every record handed off */
};

/*
 * An array of n zeroed egresses, aligned as struct egress asks (its ring
 * keeps its indexes on cache lines of their own); free() releases it.
 * Returns: the array, or NULL (n = 0, out of memory). Thread: start-up.
 */
struct egress *egress_alloc(unsigned n);

/* Bytes one egress ring gets for these settings (the memory plan). */
size_t egress_bytes(const struct config *cfg);

/*
 * Allocates the ring (bytes, rounded as ring_capacity()). writer_ev is
 * borrowed until egress_fini(). Returns: 0, -ENOMEM, -EINVAL.
 * Thread: start-up.
 */
SP_MUST_CHECK int egress_init(struct egress *e, size_t bytes,
                              struct event *writer_ev);
void egress_fini(struct egress *e);

/*
 * Reserves len bytes for one record. While the ring is full it wakes the
 * writer and waits for space up to wait_ms. Returns: the record's bytes
 * (publish with egress_commit()), or NULL when still full after wait_ms.
 * Thread: the producer.
 */
void *egress_reserve(struct egress *e, size_t len, uint32_t wait_ms);

/* Publishes the reserved record; egress_signal() wakes the writer for
 * every record published since the last. Thread: producer. */
void egress_commit(struct egress *e);

/* Wakes the writer if records were published since it was last signalled:
 * once per batch of records, not per record (a futex wake when the writer
 * sleeps). Thread: producer. */
void egress_signal(struct egress *e);

/* Thread: the producer, last. Every record committed before is visible to
 * the writer once it sees egress_is_done(). */
void egress_finish(struct egress *e);

/* Thread: the consumer. True once the producer finished (acquire). */
bool egress_is_done(const struct egress *e);

/* Thread: the consumer. Frees everything before cursor (ring_release())
 * and wakes the producer if it waits for space. */
void egress_release(struct egress *e, size_t cursor);

#endif
