/*
 * ring.h - bounded single-producer/single-consumer queue of variable-length
 * records in one preallocated byte area.
 *
 * A record is reserved, written in place and committed by the producer, then
 * read in place and released by the consumer: no copy beyond the producer's
 * own, and no allocation after ring_init(). Records are contiguous (never
 * split at the end of the area), 8-byte aligned, and at most
 * ring_max_record() bytes.
 *
 * The consumer reads with a cursor it keeps, so it may look at many records
 * before it releases them (the writer keeps a whole batch in its rings until
 * the batch is committed).
 *
 * Waking is not the ring's job: see event.h.
 */
#ifndef SP_RING_H
#define SP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

/*
 * Owner: the producer thread writes head, the consumer thread writes tail;
 * ring_init() and ring_fini() run while neither side runs.
 */
struct ring {
    uint8_t *buf; /* cap bytes, set once by ring_init() */
    size_t cap;   /* power of two */

    /* Producer side (own cache line). */
    _Alignas(SP_CACHELINE) _Atomic size_t head; /* release: bytes before it
                                                   are written */
    size_t reserved;    /* bytes reserved by ring_reserve(), not committed */
    size_t cached_tail; /* producer's last view of tail */

    /* Consumer side (own cache line). */
    _Alignas(SP_CACHELINE) _Atomic size_t tail; /* release: bytes before it
                                                   may be reused */
};

/*
 * Allocates a ring of `bytes` (rounded up to a power of two, at least 4 KiB)
 * and touches it, so its memory is resident from the start.
 * Returns: 0, -EINVAL (bytes above 1 GiB), -ENOMEM.
 * Thread: start-up.
 */
SP_MUST_CHECK int ring_init(struct ring *r, size_t bytes);

/* The capacity ring_init() gives a ring asked for bytes: the next power of
 * two, at least 4 KiB (the memory plan uses it too). Thread: any. */
size_t ring_capacity(size_t bytes);

/* Frees the area. Thread: start-up/shut-down, with both sides stopped. */
void ring_fini(struct ring *r);

/* Largest record a ring of this size takes (a quarter of its capacity). */
size_t ring_max_record(const struct ring *r);

/*
 * Reserves len bytes and returns where to write them, or NULL when the ring
 * has no room now (or len > ring_max_record()). Call ring_commit() to publish.
 * Only one reservation may be open at a time: calling ring_reserve() again
 * before ring_commit() abandons the first one (the consumer never sees it).
 * Thread: producer.
 */
void *ring_reserve(struct ring *r, size_t len);

/* Publishes the open reservation (release store of head). Thread: producer. */
void ring_commit(struct ring *r);

/*
 * Convenience: reserve + copy + commit. Returns: 0, -ENOSPC (full now),
 * -EMSGSIZE (larger than ring_max_record()). Thread: producer.
 */
SP_MUST_CHECK int ring_push(struct ring *r, const void *data, size_t len);

/* Thread: consumer. The position of the oldest unreleased record. */
size_t ring_cursor(const struct ring *r);

/*
 * Returns the record at *cursor and moves *cursor past it, or NULL when the
 * producer has committed nothing beyond *cursor. *len gets the record's
 * length as reserved. Thread: consumer.
 */
const void *ring_next(struct ring *r, size_t *cursor, size_t *len);

/*
 * Frees everything before cursor (a value from ring_next()) for the producer.
 * Thread: consumer.
 */
void ring_release(struct ring *r, size_t cursor);

/*
 * Bytes held by published records (headers, padding and wrap pads included)
 * and the rest of the capacity: used + free == capacity. A record of n bytes
 * may need more than n free bytes (header, padding, a wrap pad).
 * Thread: any (approximate when the other side runs).
 */
size_t ring_used_bytes(const struct ring *r);
size_t ring_free_bytes(const struct ring *r);
bool ring_is_empty(const struct ring *r);

#endif
