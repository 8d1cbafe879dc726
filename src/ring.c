/*
 * ring.c - bounded single-producer/single-consumer queue of variable-length
 * records in one preallocated byte area.
 *
 * Layout: each record is an 8-byte header (struct ring_hdr: payload length
 * and a marker) followed by the payload, padded to a multiple of 8 bytes.
 * A record never wraps: when the bytes left before the end of the area are
 * too few, the producer writes a wrap header there and the record starts at
 * offset 0; the consumer skips wrap headers on its own. head and tail are
 * free-running byte counters; a position is counter & (cap - 1).
 *
 * Threads: one producer calls ring_reserve(), ring_commit() and ring_push();
 * one consumer calls ring_cursor(), ring_next() and ring_release(); any
 * thread may call ring_used_bytes(), ring_free_bytes() and ring_is_empty().
 * ring_init() and ring_fini() run while neither side is running.
 *
 * Invariants:
 *   - head and tail only grow; 0 <= head - tail <= cap at every instant.
 *   - head and tail are multiples of 8, so a header always fits before the
 *     end of the area, and every header is 8-byte aligned.
 *   - Only the producer stores head; only the consumer stores tail.
 *   - Bytes in [tail, head) are published records (and wrap pads) that only
 *     the consumer reads; bytes in [head, tail + cap) only the producer
 *     writes.
 *   - A wrap header and the record after it are published by one store of
 *     head, so the consumer never sees a wrap header with nothing after it.
 *
 * Memory: ring_init() is the only allocation (cap bytes, touched at once so
 * resident memory does not grow later); ring_fini() frees it.
 */
#include "ring.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RING_MIN_BYTES ((size_t) 4096)
#define RING_MAX_BYTES ((size_t) 1 << 30)
#define RING_ALIGN     ((size_t) 8)
#define RING_MAGIC_REC 0x52454331u /* "REC1": a record follows */
#define RING_MAGIC_PAD 0x50414431u /* "PAD1": skip to offset 0 */

/* Owner: lives inside the ring's area; written by the producer only. */
struct ring_hdr {
    uint32_t len;   /* payload bytes, without header and padding */
    uint32_t magic; /* RING_MAGIC_REC or RING_MAGIC_PAD */
};

_Static_assert(sizeof(struct ring_hdr) == RING_ALIGN, "header is 8 bytes");

/* Header plus payload, padded so the next header stays aligned. */
static size_t record_bytes(size_t len)
{
    return sizeof(struct ring_hdr) + SP_ALIGN_UP(len, RING_ALIGN);
}

static void hdr_write(struct ring *r, size_t pos, size_t len, uint32_t magic)
{
    struct ring_hdr h;

    h.len = (uint32_t) len;
    h.magic = magic;
    memcpy(r->buf + (pos & (r->cap - 1)), &h, sizeof(h));
}

static struct ring_hdr hdr_read(const struct ring *r, size_t pos)
{
    struct ring_hdr h;

    memcpy(&h, r->buf + (pos & (r->cap - 1)), sizeof(h));
    return h;
}

size_t ring_capacity(size_t bytes)
{
    size_t cap = RING_MIN_BYTES;

    while (cap < bytes && cap < RING_MAX_BYTES)
        cap <<= 1;
    return cap;
}

int ring_init(struct ring *r, size_t bytes)
{
    size_t cap = ring_capacity(bytes);
    void *buf = NULL;

    if (bytes > RING_MAX_BYTES)
        return -EINVAL;
    /* posix_memalign returns the error instead of setting errno. */
    if (posix_memalign(&buf, SP_CACHELINE, cap) != 0)
        return -ENOMEM;
    /* Touch every page now: the daemon's resident size is fixed at start-up
     * and must not creep up the first time the ring fills. */
    memset(buf, 0, cap);

    r->buf = buf;
    r->cap = cap;
    r->reserved = 0;
    r->cached_tail = 0;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void ring_fini(struct ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
    r->reserved = 0;
    r->cached_tail = 0;
    /* Relaxed: both sides are stopped; this only clears the fields. */
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
}

size_t ring_max_record(const struct ring *r)
{
    return r->cap / 4;
}

/* True when need bytes past head fit before the consumer's tail. */
static bool producer_has_room(struct ring *r, size_t head, size_t need)
{
    if (r->cap - (head - r->cached_tail) >= need)
        return true;
    /* Acquire: pairs with the release store in ring_release(), so the
     * consumer's reads of the bytes it freed happen before we overwrite
     * them. Loaded only when the cached view is full, to keep the
     * consumer's cache line out of the producer's fast path. */
    r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    return r->cap - (head - r->cached_tail) >= need;
}

void *ring_reserve(struct ring *r, size_t len)
{
    size_t head;
    size_t idx;
    size_t rec;
    size_t pad = 0;

    if (len > ring_max_record(r))
        return NULL;
    /* Relaxed: only this thread stores head. */
    head = atomic_load_explicit(&r->head, memory_order_relaxed);
    idx = head & (r->cap - 1);
    rec = record_bytes(len);
    if (rec > r->cap - idx)
        pad = r->cap - idx; /* the record starts again at offset 0 */
    if (!producer_has_room(r, head, pad + rec))
        return NULL;
    /* A new reservation replaces one that was never committed: nothing
     * past head is visible to the consumer, so it is simply overwritten. */
    if (pad > 0) {
        assert(pad >= sizeof(struct ring_hdr));
        hdr_write(r, head, 0, RING_MAGIC_PAD);
    }
    hdr_write(r, head + pad, len, RING_MAGIC_REC);
    r->reserved = pad + rec;
    return r->buf + ((head + pad) & (r->cap - 1)) + sizeof(struct ring_hdr);
}

void ring_commit(struct ring *r)
{
    size_t head;

    assert(r->reserved > 0 && "ring_commit() without ring_reserve()");
    /* Relaxed: only this thread stores head. */
    head = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* Release: the header and payload bytes written since ring_reserve()
     * are visible to the consumer before the head that covers them. */
    atomic_store_explicit(&r->head, head + r->reserved, memory_order_release);
    r->reserved = 0;
}

int ring_push(struct ring *r, const void *data, size_t len)
{
    void *dst;

    if (len > ring_max_record(r))
        return -EMSGSIZE;
    dst = ring_reserve(r, len);
    if (dst == NULL)
        return -ENOSPC;
    if (len > 0)
        memcpy(dst, data, len);
    ring_commit(r);
    return 0;
}

size_t ring_cursor(const struct ring *r)
{
    /* Relaxed: only this thread (the consumer) stores tail. */
    return atomic_load_explicit(&r->tail, memory_order_relaxed);
}

const void *ring_next(struct ring *r, size_t *cursor, size_t *len)
{
    /* Acquire: pairs with the release store in ring_commit(), so every
     * byte before head is written before we read it. */
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t pos = *cursor;
    struct ring_hdr h;

    assert(head - pos <= r->cap && "cursor not from this ring");
    if (pos == head)
        return NULL;
    h = hdr_read(r, pos);
    if (h.magic == RING_MAGIC_PAD) {
        /* The producer publishes a pad with its record, so one follows. */
        pos += r->cap - (pos & (r->cap - 1));
        assert(pos != head);
        h = hdr_read(r, pos);
    }
    assert(h.magic == RING_MAGIC_REC && h.len <= ring_max_record(r));
    *len = h.len;
    *cursor = pos + record_bytes(h.len);
    return r->buf + (pos & (r->cap - 1)) + sizeof(struct ring_hdr);
}

void ring_release(struct ring *r, size_t cursor)
{
    /* Relaxed: own counter, and head only grows past what ring_next()
     * already saw, so these loads serve the sanity check only. */
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

    assert(cursor - tail <= head - tail && "cursor outside [tail, head]");
    (void) head;
    /* Release: our reads of the freed records happen before the producer
     * (acquire load in producer_has_room()) writes over them. */
    atomic_store_explicit(&r->tail, cursor, memory_order_release);
}

size_t ring_used_bytes(const struct ring *r)
{
    /* Acquire on tail first: the consumer stored it after it saw a head
     * at least as large, so the head loaded next is >= tail. Relaxed on
     * head: only the count matters, and it may already be stale. */
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t used = head - tail;

    /* The producer may have moved past a tail released after our load. */
    return used > r->cap ? r->cap : used;
}

size_t ring_free_bytes(const struct ring *r)
{
    return r->cap - ring_used_bytes(r);
}

bool ring_is_empty(const struct ring *r)
{
    return ring_used_bytes(r) == 0;
}
