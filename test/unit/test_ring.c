/*
 * test_ring.c - unit tests for ring.c (single thread: both sides in turn).
 *
 * Record contents and lengths derive from a sequence number, so a record
 * read back can be checked byte by byte without keeping a copy. The layout
 * rule the tests rely on is the one ring.h documents: a record takes an
 * 8-byte header plus its payload padded to 8 bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "alloc_guard.h"
#include "ring.h"

#define HDR_BYTES 8u

/* splitmix64: a well-mixed value per sequence number. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static uint8_t pattern_byte(uint64_t seq, size_t i)
{
    uint64_t h = mix64(seq);

    return (uint8_t) ((h >> (8 * (i & 7))) ^ (i * 31u) ^ (i >> 8));
}

static void fill(uint8_t *p, uint64_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(seq, i);
}

/* Index of the first wrong byte, or len when all match. */
static size_t first_mismatch(const uint8_t *p, uint64_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != pattern_byte(seq, i))
            return i;
    }
    return len;
}

/* A length in [0, max] chosen by seq (and a salt, to vary the sequence). */
static size_t len_for(uint64_t seq, uint64_t salt, size_t max)
{
    return (size_t) (mix64(seq ^ (salt << 40)) % (max + 1));
}

/* Bytes one record takes: header plus payload padded to 8. */
static size_t footprint(size_t len)
{
    return HDR_BYTES + ((len + 7u) & ~(size_t) 7u);
}

static int push_seq(struct ring *r, uint64_t seq, size_t len)
{
    uint8_t buf[8192];

    cr_assert_leq(len, sizeof(buf));
    fill(buf, seq, len);
    return ring_push(r, buf, len);
}

/* Reads the next record at *cursor and checks it is record seq. */
static const uint8_t *expect_next(struct ring *r, size_t *cursor, uint64_t seq,
                                  size_t want_len)
{
    size_t len = SIZE_MAX;
    const uint8_t *p = ring_next(r, cursor, &len);

    cr_assert_not_null(p, "record %llu missing", (unsigned long long) seq);
    cr_assert_eq(len, want_len, "record %llu: length %zu, want %zu",
                 (unsigned long long) seq, len, want_len);
    cr_assert_eq(first_mismatch(p, seq, len), len,
                 "record %llu: byte %zu differs", (unsigned long long) seq,
                 first_mismatch(p, seq, len));
    return p;
}

static bool is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    unsigned long resident = 0;

    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (size_t) resident * (size_t) sysconf(_SC_PAGESIZE);
}

Test(ring, empty_ring_returns_null)
{
    struct ring r;
    size_t cursor;
    size_t len = 77;

    cr_assert_eq(ring_init(&r, 4096), 0);
    cursor = ring_cursor(&r);
    cr_assert_null(ring_next(&r, &cursor, &len));
    cr_assert_eq(cursor, ring_cursor(&r), "a miss must not move the cursor");
    cr_assert_eq(len, 77, "a miss must not write len");
    cr_assert(ring_is_empty(&r));
    cr_assert_eq(ring_used_bytes(&r), 0);
    cr_assert_eq(ring_free_bytes(&r), r.cap);
    ring_fini(&r);
}

Test(ring, push_pop_one_record_preserves_bytes_and_length)
{
    struct ring r;
    size_t cursor;
    size_t len;

    cr_assert_eq(ring_init(&r, 4096), 0);
    cr_assert_eq(push_seq(&r, 42, 123), 0);
    cr_assert_not(ring_is_empty(&r));
    cr_assert_eq(ring_used_bytes(&r), footprint(123));
    cursor = ring_cursor(&r);
    expect_next(&r, &cursor, 42, 123);
    cr_assert_null(ring_next(&r, &cursor, &len), "only one record");
    ring_release(&r, cursor);
    cr_assert(ring_is_empty(&r));
    ring_fini(&r);
}

Test(ring, zero_length_record_is_a_record)
{
    struct ring r;
    size_t cursor;
    size_t len = 99;

    cr_assert_eq(ring_init(&r, 4096), 0);
    cr_assert_eq(ring_push(&r, NULL, 0), 0);
    cursor = ring_cursor(&r);
    cr_assert_not_null(ring_next(&r, &cursor, &len));
    cr_assert_eq(len, 0);
    cr_assert_eq(cursor - ring_cursor(&r), HDR_BYTES);
    ring_fini(&r);
}

Test(ring, reserved_record_is_invisible_until_commit)
{
    struct ring r;
    size_t cursor;
    size_t len;
    uint8_t *p;

    cr_assert_eq(ring_init(&r, 4096), 0);
    p = ring_reserve(&r, 300);
    cr_assert_not_null(p);
    fill(p, 7, 300);
    cursor = ring_cursor(&r);
    cr_assert_null(ring_next(&r, &cursor, &len));
    cr_assert(ring_is_empty(&r));
    ring_commit(&r);
    const uint8_t *q = expect_next(&r, &cursor, 7, 300);
    cr_assert_eq(q, p, "records are read in place, where they were written");
    ring_fini(&r);
}

Test(ring, reserve_again_abandons_uncommitted_reservation)
{
    struct ring r;
    size_t cursor;
    size_t len;
    uint8_t *p;

    cr_assert_eq(ring_init(&r, 4096), 0);
    p = ring_reserve(&r, 500);
    cr_assert_not_null(p);
    fill(p, 1, 500);
    p = ring_reserve(&r, 40);
    cr_assert_not_null(p);
    fill(p, 2, 40);
    ring_commit(&r);
    cursor = ring_cursor(&r);
    expect_next(&r, &cursor, 2, 40);
    cr_assert_null(ring_next(&r, &cursor, &len));
    cr_assert_eq(ring_used_bytes(&r), footprint(40));
    ring_fini(&r);
}

Test(ring, fifo_order_over_many_records_of_varied_sizes)
{
    struct ring r;
    uint64_t pushed = 0;
    uint64_t popped = 0;
    size_t max;

    cr_assert_eq(ring_init(&r, 16384), 0);
    max = ring_max_record(&r);
    for (uint64_t round = 0; round < 4000; round++) {
        /* Push a random number of records, pop a random number. */
        uint64_t n_push = mix64(round) % 12;
        uint64_t n_pop = mix64(round + 1000000) % 12;
        size_t cursor = ring_cursor(&r);

        for (uint64_t i = 0; i < n_push; i++) {
            if (push_seq(&r, pushed, len_for(pushed, 1, max)) != 0)
                break;
            pushed++;
        }
        for (uint64_t i = 0; i < n_pop && popped < pushed; i++) {
            expect_next(&r, &cursor, popped, len_for(popped, 1, max));
            popped++;
        }
        ring_release(&r, cursor);
    }
    size_t cursor = ring_cursor(&r);
    while (popped < pushed) {
        expect_next(&r, &cursor, popped, len_for(popped, 1, max));
        popped++;
    }
    ring_release(&r, cursor);
    cr_assert(ring_is_empty(&r));
    cr_assert_gt(pushed, 10000, "the test must move many records");
    ring_fini(&r);
}

/* Drains the ring, checking records first..last-1; returns the number of
 * distinct pad sizes seen before a wrap (marked in seen[]). */
static size_t drain_and_note_wraps(struct ring *r, uint64_t first,
                                   uint64_t last, bool *seen)
{
    size_t cursor = ring_cursor(r);
    const uint8_t *prev_end = NULL;
    const uint8_t *area_end = r->buf + r->cap;
    size_t distinct = 0;

    for (uint64_t seq = first; seq < last; seq++) {
        size_t len = len_for(seq, 2, ring_max_record(r));
        const uint8_t *p = expect_next(r, &cursor, seq, len);

        cr_assert(p + len <= area_end, "record %llu crosses the end",
                  (unsigned long long) seq);
        cr_assert_eq((size_t) (p - r->buf) % 8, HDR_BYTES % 8);
        if (prev_end != NULL && p < prev_end) {
            /* Wrapped: the record starts right after a header at 0. */
            size_t pad = (size_t) (area_end - prev_end);
            cr_assert_eq(p, r->buf + HDR_BYTES);
            if (pad > 0 && !seen[pad]) {
                seen[pad] = true;
                distinct++;
            }
        }
        prev_end = p + ((len + 7u) & ~(size_t) 7u);
    }
    ring_release(r, cursor);
    return distinct;
}

Test(ring, wrap_marker_at_many_offsets_keeps_every_byte)
{
    static bool seen[4096 + 1];
    struct ring r;
    uint64_t seq = 0;
    size_t distinct = 0;

    cr_assert_eq(ring_init(&r, 4096), 0);
    for (int round = 0; round < 3000; round++) {
        uint64_t first = seq;

        while (push_seq(&r, seq, len_for(seq, 2, ring_max_record(&r))) == 0) {
            seq++;
            cr_assert_leq(seq - first, r.cap / HDR_BYTES, "never full");
        }
        cr_assert_gt(seq, first, "an empty ring takes a record");
        distinct += drain_and_note_wraps(&r, first, seq, seen);
        cr_assert(ring_is_empty(&r));
        cr_assert_eq(ring_free_bytes(&r), r.cap);
    }
    /* Pads are multiples of 8 below a max record (1024 + 8 bytes): many
     * of those ~128 values must have been exercised. */
    cr_assert_geq(distinct, 64, "only %zu distinct wrap offsets", distinct);
    ring_fini(&r);
}

Test(ring, full_ring_refuses_then_accepts_after_release)
{
    struct ring r;
    const size_t len = 100;
    size_t fits;
    uint64_t n = 0;
    size_t cursor;

    cr_assert_eq(ring_init(&r, 4096), 0);
    fits = r.cap / footprint(len);
    while (push_seq(&r, n, len) == 0) {
        n++;
        cr_assert_leq(n, r.cap / HDR_BYTES, "never full");
    }
    cr_assert_eq(n, fits, "pushed %llu records of %zu bytes, room for %zu",
                 (unsigned long long) n, len, fits);
    cr_assert_eq(push_seq(&r, n, len), -ENOSPC);
    cr_assert_null(ring_reserve(&r, len));
    cr_assert_not(ring_is_empty(&r));

    /* Free one record: the next one then fits (after a wrap pad). */
    cursor = ring_cursor(&r);
    expect_next(&r, &cursor, 0, len);
    ring_release(&r, cursor);
    cr_assert_eq(push_seq(&r, n, len), 0);
    n++;
    for (uint64_t seq = 1; seq < n; seq++)
        expect_next(&r, &cursor, seq, len);
    ring_release(&r, cursor);
    cr_assert(ring_is_empty(&r));
    ring_fini(&r);
}

Test(ring, record_larger_than_max_is_emsgsize)
{
    struct ring r;
    size_t max;
    size_t cursor;

    cr_assert_eq(ring_init(&r, 8192), 0);
    max = ring_max_record(&r);
    cr_assert_eq(max, r.cap / 4);
    cr_assert_eq(push_seq(&r, 1, max + 1), -EMSGSIZE);
    cr_assert_null(ring_reserve(&r, max + 1));
    cr_assert_null(ring_reserve(&r, SIZE_MAX));
    cr_assert(ring_is_empty(&r), "a refused record leaves no trace");
    cr_assert_eq(push_seq(&r, 2, max), 0, "max itself fits");
    cursor = ring_cursor(&r);
    expect_next(&r, &cursor, 2, max);
    ring_fini(&r);
}

Test(ring, cursor_reads_ahead_and_release_frees_all_at_once)
{
    struct ring r;
    size_t cursor;
    size_t len;
    size_t free_before;
    size_t used = 0;

    cr_assert_eq(ring_init(&r, 8192), 0);
    for (uint64_t seq = 0; seq < 10; seq++) {
        cr_assert_eq(push_seq(&r, seq, len_for(seq, 3, 300)), 0);
        used += footprint(len_for(seq, 3, 300));
    }
    free_before = ring_free_bytes(&r);
    cr_assert_eq(free_before, r.cap - used);
    cursor = ring_cursor(&r);
    for (uint64_t seq = 0; seq < 10; seq++) {
        expect_next(&r, &cursor, seq, len_for(seq, 3, 300));
        cr_assert_eq(ring_free_bytes(&r), free_before,
                     "reading ahead must not free anything");
    }
    cr_assert_null(ring_next(&r, &cursor, &len));
    cr_assert_eq(ring_cursor(&r) + used, cursor);
    ring_release(&r, cursor);
    cr_assert_eq(ring_free_bytes(&r), r.cap);
    cr_assert(ring_is_empty(&r));
    ring_fini(&r);
}

Test(ring, partial_release_frees_only_what_was_read)
{
    struct ring r;
    size_t cursor;
    size_t freed = 0;

    cr_assert_eq(ring_init(&r, 8192), 0);
    for (uint64_t seq = 0; seq < 10; seq++)
        cr_assert_eq(push_seq(&r, seq, len_for(seq, 4, 200)), 0);
    size_t used = ring_used_bytes(&r);
    cursor = ring_cursor(&r);
    for (uint64_t seq = 0; seq < 3; seq++) {
        expect_next(&r, &cursor, seq, len_for(seq, 4, 200));
        freed += footprint(len_for(seq, 4, 200));
    }
    ring_release(&r, cursor);
    cr_assert_eq(ring_used_bytes(&r), used - freed);
    /* The rest is still there, from the released position on. */
    cursor = ring_cursor(&r);
    for (uint64_t seq = 3; seq < 10; seq++)
        expect_next(&r, &cursor, seq, len_for(seq, 4, 200));
    ring_fini(&r);
}

Test(ring, used_plus_free_equals_cap_at_rest)
{
    struct ring r;
    uint64_t pushed = 0;
    uint64_t popped = 0;

    cr_assert_eq(ring_init(&r, 4096), 0);
    for (uint64_t step = 0; step < 20000; step++) {
        size_t len = len_for(pushed, 5, 700);

        if (mix64(step) % 3 != 0) {
            if (push_seq(&r, pushed, len) == 0)
                pushed++;
        } else if (popped < pushed) {
            size_t cursor = ring_cursor(&r);
            expect_next(&r, &cursor, popped, len_for(popped, 5, 700));
            popped++;
            ring_release(&r, cursor);
        }
        cr_assert_eq(ring_used_bytes(&r) + ring_free_bytes(&r), r.cap);
        cr_assert_leq(ring_used_bytes(&r), r.cap);
        cr_assert_eq(ring_is_empty(&r), popped == pushed);
    }
    ring_fini(&r);
}

Test(ring, init_rounds_up_to_a_power_of_two_of_at_least_4k)
{
    static const size_t sizes[] = {0,    1,    4095, 4096,  4097,
                                   5000, 8192, 8193, 65535, 1u << 20};

    for (size_t i = 0; i < SP_ARRAY_SIZE(sizes); i++) {
        struct ring r;
        size_t floor = sizes[i] > 4096 ? sizes[i] : 4096;

        cr_assert_eq(ring_init(&r, sizes[i]), 0);
        cr_assert(is_pow2(r.cap), "size %zu: cap %zu", sizes[i], r.cap);
        cr_assert_geq(r.cap, floor, "size %zu: cap %zu", sizes[i], r.cap);
        cr_assert_lt(r.cap / 2, floor, "size %zu: cap %zu is not the least",
                     sizes[i], r.cap);
        cr_assert_eq(ring_free_bytes(&r), r.cap);
        ring_fini(&r);
    }
    struct ring r;
    cr_assert_eq(ring_init(&r, 5000), 0);
    cr_assert_eq(r.cap, 8192);
    ring_fini(&r);
}

Test(ring, init_rejects_more_than_1gib)
{
    struct ring r;

    cr_assert_eq(ring_init(&r, ((size_t) 1 << 30) + 1), -EINVAL);
    cr_assert_eq(ring_init(&r, SIZE_MAX), -EINVAL);
}

Test(ring, init_commits_memory_up_front)
{
    const size_t bytes = (size_t) 32 << 20;
    struct ring r;
    size_t before;
    size_t after;

    before = rss_bytes();
    cr_assert_eq(ring_init(&r, bytes), 0);
    after = rss_bytes();
    /* Allow 1 MiB of slack for what the allocator keeps untouched. */
    cr_assert_geq(after - before, bytes - ((size_t) 1 << 20),
                  "resident memory grew by %zu bytes for a %zu-byte ring",
                  after - before, bytes);
    ring_fini(&r);
}

Test(ring, fini_frees_and_zeroes)
{
    struct ring r;

    cr_assert_eq(ring_init(&r, 4096), 0);
    cr_assert_eq(push_seq(&r, 1, 10), 0);
    ring_fini(&r);
    cr_assert_null(r.buf);
    cr_assert_eq(r.cap, 0);
    cr_assert_eq(atomic_load(&r.head), 0);
    cr_assert_eq(atomic_load(&r.tail), 0);
    ring_fini(&r); /* a second fini is harmless */
}

Test(ring, message_path_does_not_allocate)
{
    struct ring r;
    uint8_t rec[256];
    int failures = 0;

    cr_assert_eq(ring_init(&r, 4096), 0);
    memset(rec, 0xab, sizeof(rec));
    /* No Criterion assertion while armed: collect failures, check after. */
    alloc_guard_arm();
    for (int i = 0; i < 10000; i++) {
        size_t cursor = ring_cursor(&r);
        size_t len = 0;

        if (ring_push(&r, rec, sizeof(rec)) != 0)
            failures++;
        if (ring_next(&r, &cursor, &len) == NULL || len != sizeof(rec))
            failures++;
        ring_release(&r, cursor);
    }
    cr_assert_eq(alloc_guard_disarm(), 0);
    cr_assert_eq(failures, 0);
    ring_fini(&r);
}

Test(ring, capacity_is_what_init_allocates)
{
    static const size_t asks[] = {0, 1, 4096, 4097, 65536, 3u << 20};
    struct ring r;

    for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
        cr_assert_eq(ring_init(&r, asks[i]), 0);
        cr_expect_eq(r.cap, ring_capacity(asks[i]), "asked %zu", asks[i]);
        cr_expect_geq(r.cap, asks[i]);
        cr_expect_eq(r.cap & (r.cap - 1), 0, "a power of two");
        ring_fini(&r);
    }
    cr_expect_eq(ring_capacity(3u << 20), 4u << 20);
}
