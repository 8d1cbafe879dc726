/*
 * test_worker.c - one shard on its own: ingress records in, egress records
 * out (a new series before its partials, exact partials, hand-off when a
 * series moves to another bucket, late and skew counting, invalid payloads
 * counted), with the real thread and no writer: the test reads the egress
 * ring itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "clock.h"
#include "config.h"
#include "worker.h"

static struct config cfg;
static struct series_limit limit;
static struct event writer_ev;
static struct egress out; /* read here, as the writer would */
static uv_async_t no_async;
static _Atomic bool paused;
static struct worker w;

static void start(void)
{
    struct worker_shared sh = {
        .cfg = &cfg,
        .limit = &limit,
        .loop_wake = &no_async,
        .loop_paused = &paused,
        .series_cap = 64,
        .arena_bytes = 4096,
    };

    config_defaults(&cfg);
    cfg.n_subs = 3;
    strcpy(cfg.subs[0].name, "j");
    cfg.subs[0].format = FORMAT_JSON;
    strcpy(cfg.subs[0].timestamp_field, "ts");
    strcpy(cfg.subs[0].topic_tags, "s/{site}");
    strcpy(cfg.subs[1].name, "n");
    cfg.subs[1].format = FORMAT_NUMBER;
    strcpy(cfg.subs[2].name, "lp");
    cfg.subs[2].format = FORMAT_INFLUX;
    cfg.subs[2].precision = PRECISION_MS;
    cfg.aggregate.resolutions_s[0] = 10;
    cfg.aggregate.n_resolutions = 1;
    cfg.aggregate.allowed_lateness_ms = 60000;
    cfg.aggregate.max_clock_skew_ms = 3600000;
    limit.max = 64;
    atomic_init(&limit.count, 0);
    atomic_init(&limit.next_id, 1);
    event_init(&writer_ev);
    cr_assert_eq(egress_init(&out, 1u << 20, &writer_ev), 0);
    cr_assert_eq(worker_init(&w, 0, &sh, &out), 0);
    cr_assert_eq(worker_start(&w), 0);
}

static void push(int64_t recv_ms, unsigned sub, const char *topic,
                 const char *payload)
{
    struct worker_msg m = {recv_ms,
                           sub,
                           topic,
                           strlen(topic),
                           payload,
                           strlen(payload),
                           series_topic_hash(topic, strlen(topic))};

    cr_assert_eq(worker_push(&w, &m), 0);
    worker_wake(&w);
}

/* Stops the worker (it drains and hands off everything) and joins it. */
static void finish(void)
{
    worker_request_stop(&w);
    worker_join(&w);
}

/* The next egress record, or NULL. */
static const void *next(size_t *cur)
{
    size_t len;

    return ring_next(&out.ring, cur, &len);
}

static uint64_t count_of(enum stats_counter k)
{
    return atomic_load(&w.stats.v[k]);
}

TestSuite(worker, .timeout = 30);

Test(worker, a_new_series_precedes_its_exact_partial)
{
    int64_t now = clock_now_ms();
    int64_t b = now / 10000 * 10000;
    char payload[64];
    size_t cur;
    const struct egress_series *s;
    const struct egress_partial *p;

    start();
    for (int i = 0; i < 3; i++) {
        snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"t\":%d}",
                 (long long) (b + i), i + 1);
        push(now, 0, "s/lab", payload);
    }
    finish();
    cur = ring_cursor(&out.ring);
    s = next(&cur);
    cr_assert_not_null(s);
    cr_assert_eq(s->kind, EGRESS_SERIES);
    cr_expect_str_eq(s->text, "s/lab");
    cr_expect_str_eq(s->text + s->topic_len + 1, "t");
    cr_expect_str_eq(s->text + s->topic_len + s->field_len + 2,
                     "{\"site\":\"lab\"}");
    p = next(&cur);
    cr_assert_not_null(p);
    cr_assert_eq(p->kind, EGRESS_PARTIAL);
    cr_expect_eq(p->series_id, s->id);
    cr_expect_eq(p->bucket_ms, b);
    cr_expect_eq(p->acc.count, 3);
    cr_expect_float_eq(p->acc.sum, 6.0, 0);
    cr_expect_float_eq(p->acc.min, 1.0, 0);
    cr_expect_float_eq(p->acc.max, 3.0, 0);
    cr_expect_float_eq(p->acc.last, 3.0, 0);
    cr_expect_null(next(&cur), "one partial for one bucket");
    cr_expect_eq(count_of(STAT_DECODED), 3);
    cr_expect_eq(count_of(STAT_SAMPLES), 3);
    worker_fini(&w);
    egress_fini(&out);
}

Test(worker, moving_to_another_bucket_hands_the_partial_off)
{
    int64_t now = clock_now_ms();
    int64_t b = now / 10000 * 10000;
    char payload[64];
    size_t cur;
    const struct egress_partial *p;
    int partials = 0;
    uint64_t total = 0;

    start();
    /* Buckets b-20s, b-10s, b-20s again: three hand-offs, never merged in
     * the worker across buckets. */
    for (int i = 0; i < 3; i++) {
        int64_t ts = b - (i == 1 ? 10000 : 20000);
        snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"t\":1}",
                 (long long) ts);
        push(now, 0, "s/x", payload);
    }
    finish();
    cur = ring_cursor(&out.ring);
    while ((p = next(&cur)) != NULL) {
        if (p->kind != EGRESS_PARTIAL)
            continue;
        partials++;
        total += p->acc.count;
        cr_expect(p->bucket_ms == b - 10000 || p->bucket_ms == b - 20000);
    }
    cr_expect_eq(partials, 3);
    cr_expect_eq(total, 3, "every sample in exactly one partial");
    worker_fini(&w);
    egress_fini(&out);
}

Test(worker, late_skewed_and_invalid_are_counted)
{
    int64_t now = clock_now_ms();
    char payload[64];

    start();
    /* Ten minutes old: late (bucket ended more than 60 s ago). */
    snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"t\":1}",
             (long long) (now - 600000));
    push(now, 0, "s/a", payload);
    /* Two days off: clock skew, stored at receive time. */
    snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"t\":1}",
             (long long) (now - 2 * 86400000LL));
    push(now, 0, "s/a", payload);
    push(now, 0, "s/a", "{broken");
    push(now, 1, "n/a", "42");
    finish();
    cr_expect_eq(count_of(STAT_LATE), 1);
    cr_expect_eq(count_of(STAT_CLOCK_SKEW), 1);
    cr_expect_eq(count_of(STAT_DROPPED_INVALID), 1);
    cr_expect_eq(count_of(STAT_DECODED), 3);
    worker_fini(&w);
    egress_fini(&out);
}

/* The extremes line protocol allows at precision ms (their nanoseconds
 * fill an int64): the distance to the receive time must not overflow
 * (UBSan would abort on the subtraction). Both are clock skew, stored at
 * the receive time. */
Test(worker, extreme_timestamps_are_clock_skew_without_overflow)
{
    int64_t now = clock_now_ms();
    const struct egress_partial *p;
    size_t cur;
    int partials = 0;

    start();
    push(now, 2, "lp/a", "m v=1 -9223372036854");
    push(now, 2, "lp/b", "m v=2 9223372036854");
    finish();
    cr_expect_eq(count_of(STAT_DECODED), 2);
    cr_expect_eq(count_of(STAT_CLOCK_SKEW), 2);
    cur = ring_cursor(&out.ring);
    while ((p = next(&cur)) != NULL) {
        if (p->kind != EGRESS_PARTIAL)
            continue;
        cr_expect_eq(p->bucket_ms, bucket_start_ms(now, 10000),
                     "stored at the receive time");
        partials++;
    }
    cr_expect_eq(partials, 2);
    worker_fini(&w);
    egress_fini(&out);
}

/* struct worker asks for cache-line alignment (its rings' indexes); every
 * array worker_alloc() returns has it, whatever its length. */
Test(worker, arrays_are_aligned_as_the_struct_asks)
{
    struct worker *ws[16];

    cr_assert_geq(_Alignof(struct worker), 64);
    for (unsigned n = 1; n <= 16; n++) {
        ws[n - 1] = worker_alloc(n);
        cr_assert_not_null(ws[n - 1]);
        cr_expect_eq((uintptr_t) ws[n - 1] % _Alignof(struct worker), 0,
                     "%u workers at %p", n, (void *) ws[n - 1]);
        cr_expect_eq(ws[n - 1][n - 1].index, 0, "zeroed");
    }
    for (unsigned n = 1; n <= 16; n++)
        free(ws[n - 1]);
    cr_expect_null(worker_alloc(0));
}

Test(worker, a_full_registry_refuses_new_series_only)
{
    int64_t now = clock_now_ms();
    char topic[32];

    start();
    limit.max = 2;
    for (int i = 0; i < 4; i++) {
        snprintf(topic, sizeof(topic), "n/%d", i);
        push(now, 1, topic, "1");
    }
    push(now, 1, "n/0", "2"); /* known: kept */
    finish();
    cr_expect_eq(count_of(STAT_DECODED), 3);
    cr_expect_eq(count_of(STAT_DROPPED_SERIES_LIMIT), 2);
    cr_expect_eq(atomic_load(&limit.count), 2);
    worker_fini(&w);
    egress_fini(&out);
}

Test(worker, records_too_large_for_the_ring_are_refused)
{
    static char big[3u << 20]; /* larger than the 2 MiB ring */
    struct worker_msg m = {
        0, 1, "n/x", 3, big, sizeof(big), series_topic_hash("n/x", 3)};

    start();
    cr_expect_eq(worker_push(&w, &m), -EMSGSIZE);
    finish();
    worker_fini(&w);
    egress_fini(&out);
}

/* The same for the egress array the pipeline allocates. */
Test(worker, egress_arrays_are_aligned_as_the_struct_asks)
{
    for (unsigned n = 1; n <= 16; n++) {
        struct egress *es = egress_alloc(n);
        cr_assert_not_null(es);
        cr_expect_eq((uintptr_t) es % _Alignof(struct egress), 0, "%u", n);
        free(es);
    }
}
