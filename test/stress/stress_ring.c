/*
 * stress_ring.c - one producer and one consumer hammer a small ring, and
 * both sleep on events when blocked; run plainly and under TSan.
 *
 * The producer writes records of pseudo-random lengths (1..2000 bytes) into
 * a 64 KiB ring, alternating ring_push() with ring_reserve()+ring_commit(),
 * and signals `data` after each. The consumer reads a random number of
 * records ahead before it releases them, checks every byte and the order,
 * and signals `space` after each release. A side that finds the ring full
 * (or empty) sleeps on its event with a long timeout: a wait that lasts the
 * whole timeout means a lost wake-up and fails the run. An observer thread
 * calls the any-thread queries meanwhile.
 *
 * Record seq holds, from byte 0, the little-endian bytes of seq (as many as
 * fit in 8), then bytes of a fixed random pattern starting at an offset
 * derived from seq; its length is also derived from seq. So a lost,
 * repeated, reordered or torn record shows up as a wrong length or byte.
 *
 * Usage: stress_ring [records]. Exit status 0 on success; any failure
 * prints a message and aborts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "event.h"
#include "ring.h"

#define RING_BYTES      ((size_t) 64 * 1024)
#define MAX_LEN         2000u
#define PATTERN_BYTES   4096u
#define DEFAULT_RECORDS 600000u
#define MAX_LOOKAHEAD   64u
#define WAIT_MS         5000u /* a wait this long means a lost wake-up */

/* Owner: main builds it; then the producer, consumer and observer threads
 * share it as described per field. */
struct stress {
    struct ring ring;   /* producer and consumer sides, observer queries */
    struct event data;  /* the consumer sleeps here, the producer signals */
    struct event space; /* the producer sleeps here, the consumer signals */
    uint64_t records;   /* set before the threads start */
    _Atomic bool done;  /* consumer sets it when all records are checked */
    uint64_t producer_sleeps; /* producer only; read after join */
    uint64_t consumer_sleeps; /* consumer only; read after join */
    uint64_t observations;    /* observer only; read after join */
};

/* Written once by main before the threads start, then only read. */
static uint8_t pattern[PATTERN_BYTES + MAX_LEN];

_Noreturn static void die(const char *what, uint64_t seq)
{
    fprintf(stderr, "stress_ring: record %llu: %s\n", (unsigned long long) seq,
            what);
    abort();
}

/* splitmix64: a well-mixed value per sequence number. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static size_t record_len(uint64_t seq)
{
    return 1 + (size_t) (mix64(seq) % MAX_LEN);
}

static const uint8_t *record_body(uint64_t seq)
{
    return pattern + mix64(seq ^ 0x5555aaaa5555aaaau) % PATTERN_BYTES;
}

static void record_fill(uint8_t *dst, uint64_t seq, size_t len)
{
    uint8_t tag[8];

    for (size_t i = 0; i < sizeof(tag); i++)
        tag[i] = (uint8_t) (seq >> (8 * i));
    memcpy(dst, record_body(seq), len);
    memcpy(dst, tag, len < sizeof(tag) ? len : sizeof(tag));
}

static void record_check(const uint8_t *p, size_t len, uint64_t seq)
{
    uint8_t want[MAX_LEN];

    if (len != record_len(seq))
        die("wrong length (lost or reordered record)", seq);
    record_fill(want, seq, len);
    if (memcmp(p, want, len) != 0)
        die("wrong bytes", seq);
}

/* Sleeps on ev after the caller found no work; fails on a lost wake-up. */
static void checked_wait(struct event *ev, uint32_t seq, uint64_t rec)
{
    uint64_t t0 = clock_mono_ms();

    event_wait(ev, seq, WAIT_MS);
    if (clock_mono_ms() - t0 >= WAIT_MS)
        die("waited the whole timeout: lost wake-up", rec);
}

/* One attempt to write record seq; false when the ring is full now. */
static bool try_put(struct stress *s, uint64_t seq)
{
    size_t len = record_len(seq);
    uint8_t buf[MAX_LEN];
    uint8_t *dst;
    int err;

    if (seq % 3 == 0) {
        record_fill(buf, seq, len);
        err = ring_push(&s->ring, buf, len);
        if (err != 0 && err != -ENOSPC)
            die("ring_push failed", seq);
        return err == 0;
    }
    dst = ring_reserve(&s->ring, len);
    if (dst == NULL)
        return false;
    record_fill(dst, seq, len);
    ring_commit(&s->ring);
    return true;
}

static void *producer_main(void *arg)
{
    struct stress *s = arg;

    for (uint64_t seq = 0; seq < s->records; seq++) {
        while (!try_put(s, seq)) {
            uint32_t ev_seq = event_prepare(&s->space);
            bool put = try_put(s, seq);

            if (!put) {
                s->producer_sleeps++;
                checked_wait(&s->space, ev_seq, seq);
            }
            event_cancel(&s->space);
            if (put)
                break;
        }
        event_signal(&s->data);
    }
    return NULL;
}

/* Reads up to max records ahead from the released position, checks them,
 * then releases them all at once. Returns how many it read. */
static uint64_t consume_batch(struct stress *s, uint64_t next, uint64_t max)
{
    size_t cursor = ring_cursor(&s->ring);
    uint64_t got = 0;
    const uint8_t *p;
    size_t len;

    while (got < max && next + got < s->records) {
        p = ring_next(&s->ring, &cursor, &len);
        if (p == NULL)
            break;
        record_check(p, len, next + got);
        got++;
    }
    if (got > 0) {
        ring_release(&s->ring, cursor);
        event_signal(&s->space);
    }
    return got;
}

static void *consumer_main(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = 12345;
    uint64_t next = 0;

    while (next < s->records) {
        rng = mix64(rng);
        uint64_t got = consume_batch(s, next, 1 + rng % MAX_LOOKAHEAD);

        next += got;
        if (got > 0 || next == s->records)
            continue;
        /* Empty (and nothing held back): announce, look again, sleep. */
        uint32_t ev_seq = event_prepare(&s->data);
        size_t peek = ring_cursor(&s->ring);
        size_t len;

        if (ring_next(&s->ring, &peek, &len) == NULL) {
            s->consumer_sleeps++;
            checked_wait(&s->data, ev_seq, next);
        }
        event_cancel(&s->data);
    }
    atomic_store(&s->done, true);
    return NULL;
}

static void *observer_main(void *arg)
{
    struct stress *s = arg;
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = 200000};

    while (!atomic_load(&s->done)) {
        size_t used = ring_used_bytes(&s->ring);
        size_t avail = ring_free_bytes(&s->ring);

        if (used > s->ring.cap || avail > s->ring.cap)
            die("used or free bytes beyond the capacity", 0);
        (void) ring_is_empty(&s->ring);
        s->observations++;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void start(pthread_t *t, void *(*fn)(void *), struct stress *s)
{
    if (pthread_create(t, NULL, fn, s) != 0)
        die("pthread_create failed", 0);
}

static void join(pthread_t t)
{
    if (pthread_join(t, NULL) != 0)
        die("pthread_join failed", 0);
}

int main(int argc, char **argv)
{
    static struct stress s;
    pthread_t threads[3];
    uint64_t t0;

    s.records = argc > 1 ? strtoull(argv[1], NULL, 10) : DEFAULT_RECORDS;
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t) mix64(i);
    if (ring_init(&s.ring, RING_BYTES) != 0)
        die("ring_init failed", 0);
    event_init(&s.data);
    event_init(&s.space);
    atomic_init(&s.done, false);

    t0 = clock_mono_ms();
    start(&threads[0], consumer_main, &s);
    start(&threads[1], producer_main, &s);
    start(&threads[2], observer_main, &s);
    for (size_t i = 0; i < 3; i++)
        join(threads[i]);

    if (!ring_is_empty(&s.ring))
        die("ring not empty after the last record", s.records);
    if (atomic_load(&s.data.waiters) != 0 || atomic_load(&s.space.waiters) != 0)
        die("an event still counts a sleeper", s.records);
    printf("stress_ring: %llu records in %llu ms; sleeps: producer %llu, "
           "consumer %llu; %llu observations\n",
           (unsigned long long) s.records,
           (unsigned long long) (clock_mono_ms() - t0),
           (unsigned long long) s.producer_sleeps,
           (unsigned long long) s.consumer_sleeps,
           (unsigned long long) s.observations);
    ring_fini(&s.ring);
    return 0;
}
