/*
 * bench_ring.c - ns per record through a ring: push + read + release.
 *
 * Single thread: one thread pushes a record and reads it back, so this is
 * the bare cost of the ring's code. Two threads: a producer and a consumer
 * on a 1 MiB ring, sleeping on events when blocked and signalling after
 * every commit and release, as the daemon does; the figure is wall time per
 * record, so it includes cache-line transfers and any futex calls. It is
 * measured twice: with a consumer that sleeps as soon as the ring is empty
 * (then a fast consumer costs the producer a FUTEX_WAKE per record), and
 * with one that polls the ring SPIN_POLLS times before it sleeps.
 *
 * Usage: bench_ring [records]. Not part of `make test`.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "ring.h"

#define RING_BYTES      ((size_t) 1 << 20)
#define DEFAULT_RECORDS 5000000u
#define BATCH           64u
#define WAIT_MS         1000u
#define SPIN_POLLS      10000u

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void) 0)
#endif

/* Owner: main; the producer and consumer threads share it while it runs. */
struct bench {
    struct ring ring;
    struct event data;  /* consumer sleeps here */
    struct event space; /* producer sleeps here */
    uint64_t records;
    size_t len;
    unsigned spin_polls; /* consumer polls this often before sleeping */
    uint64_t checksum;   /* consumer only; read after join */
};

_Noreturn static void fail(const char *what)
{
    fprintf(stderr, "bench_ring: %s\n", what);
    exit(1);
}

static double single_thread(size_t len, uint64_t records)
{
    static uint8_t rec[4096];
    struct ring r;
    uint64_t sum = 0;
    uint64_t t0;

    if (ring_init(&r, RING_BYTES) != 0)
        fail("ring_init failed");
    memset(rec, 0x5a, len);
    t0 = clock_mono_ns();
    for (uint64_t i = 0; i < records; i++) {
        size_t cursor = ring_cursor(&r);
        const uint8_t *p;
        size_t got;

        rec[0] = (uint8_t) i;
        if (ring_push(&r, rec, len) != 0)
            fail("push failed on an empty ring");
        p = ring_next(&r, &cursor, &got);
        if (p == NULL || got != len)
            fail("record lost");
        sum += p[0];
        ring_release(&r, cursor);
    }
    double ns = (double) (clock_mono_ns() - t0) / (double) records;
    if (sum == 0 && records > 256)
        fail("checksum");
    ring_fini(&r);
    return ns;
}

static void *producer_main(void *arg)
{
    struct bench *b = arg;
    uint8_t rec[4096];

    memset(rec, 0x5a, b->len);
    for (uint64_t i = 0; i < b->records; i++) {
        rec[0] = (uint8_t) i;
        while (ring_push(&b->ring, rec, b->len) != 0) {
            uint32_t seq = event_prepare(&b->space);
            int err = ring_push(&b->ring, rec, b->len);

            if (err != 0)
                event_wait(&b->space, seq, WAIT_MS);
            event_cancel(&b->space);
            if (err == 0)
                break;
        }
        event_signal(&b->data);
    }
    return NULL;
}

/* Polls the ring up to b->spin_polls times; true when a record came. */
static bool spin_for_data(const struct bench *b)
{
    for (unsigned i = 0; i < b->spin_polls; i++) {
        if (!ring_is_empty(&b->ring))
            return true;
        CPU_RELAX();
    }
    return false;
}

static void *consumer_main(void *arg)
{
    struct bench *b = arg;
    uint64_t done = 0;

    while (done < b->records) {
        size_t cursor = ring_cursor(&b->ring);
        const uint8_t *p;
        size_t len;
        unsigned n = 0;

        while (n < BATCH && (p = ring_next(&b->ring, &cursor, &len)) != NULL) {
            b->checksum += p[0];
            n++;
        }
        if (n > 0) {
            ring_release(&b->ring, cursor);
            event_signal(&b->space);
            done += n;
            continue;
        }
        if (spin_for_data(b))
            continue;
        uint32_t seq = event_prepare(&b->data);
        if (ring_is_empty(&b->ring))
            event_wait(&b->data, seq, WAIT_MS);
        event_cancel(&b->data);
    }
    return NULL;
}

static double two_threads(size_t len, uint64_t records, unsigned spin_polls)
{
    static struct bench b;
    pthread_t prod;
    pthread_t cons;
    uint64_t t0;

    if (ring_init(&b.ring, RING_BYTES) != 0)
        fail("ring_init failed");
    event_init(&b.data);
    event_init(&b.space);
    b.records = records;
    b.len = len;
    b.spin_polls = spin_polls;
    b.checksum = 0;
    t0 = clock_mono_ns();
    if (pthread_create(&cons, NULL, consumer_main, &b) != 0 ||
        pthread_create(&prod, NULL, producer_main, &b) != 0)
        fail("pthread_create failed");
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    double ns = (double) (clock_mono_ns() - t0) / (double) records;
    ring_fini(&b.ring);
    return ns;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {64, 512};
    uint64_t records = argc > 1 ? strtoull(argv[1], NULL, 10) : DEFAULT_RECORDS;

    if (records == 0)
        fail("records must be > 0");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        double st = single_thread(sizes[i], records);
        double sleepy = two_threads(sizes[i], records, 0);
        double spinny = two_threads(sizes[i], records, SPIN_POLLS);

        printf("ring %4zu-byte records: 1 thread %6.1f ns/op; 2 threads "
               "%7.1f ns/op (consumer sleeps at once), %6.1f ns/op "
               "(polls %u times first, %.0f MB/s)\n",
               sizes[i], st, sleepy, spinny, SPIN_POLLS,
               (double) sizes[i] * 1e3 / spinny);
    }
    return 0;
}
