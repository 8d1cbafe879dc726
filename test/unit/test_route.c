/*
 * test_route.c - the first hop on its own: a real pipeline (shards and
 * rings, no threads started) and the router, with this process playing
 * the loop. Every branch adds to received and to exactly one outcome: a
 * record in the right ring, or one dropped_* counter.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pipeline.h"
#include "route.h"
#include "thread.h"

static struct config cfg;
static struct pipeline pl;
static struct route route;
static uv_loop_t loop;
static uv_async_t wake;
static unsigned pauses;
static unsigned resumes;

static void on_pause(void *ctx)
{
    (void) ctx;
    pauses++;
}

static void on_resume(void *ctx)
{
    (void) ctx;
    resumes++;
}

/* Two shards of ring_bytes each; subscription 0 only. */
static void open_route(enum config_overflow overflow, uint64_t ring_bytes,
                       uint64_t max_payload)
{
    static const struct route_hooks hooks = {on_pause, on_resume, NULL, NULL};

    thread_set_role(THREAD_LOOP, NULL);
    config_defaults(&cfg);
    cfg.n_subs = 1;
    strcpy(cfg.subs[0].name, "s");
    cfg.pipeline.workers = 2;
    cfg.pipeline.max_series = 16;
    cfg.pipeline.ring_bytes = ring_bytes;
    cfg.pipeline.max_payload_bytes = max_payload;
    cfg.pipeline.overflow = overflow;
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(uv_async_init(&loop, &wake, NULL), 0);
    cr_assert_eq(pipeline_init(&pl, &cfg, &wake), 0);
    route_init(&route, &pl, &hooks);
}

static void close_route(void)
{
    pipeline_fini(&pl);
    uv_close((uv_handle_t *) &wake, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static void route_one(unsigned sub, const char *topic, const void *payload,
                      size_t len)
{
    struct mqtt_msg m = {topic, strlen(topic), payload, len,
                         0,     false,         sub,     false};

    route_message(&route, &m);
}

static uint64_t counter(enum stats_counter k)
{
    struct stats_snapshot s;

    pipeline_snapshot(&pl, &s);
    return s.v[k];
}

/* Records waiting in shard i's ingress ring; the first one's topic. */
static unsigned queued(unsigned i, char *topic, size_t len)
{
    struct ring *in = &pl.workers[i].ingress;
    size_t cur = ring_cursor(in);
    const struct ingress_rec *r;
    unsigned n = 0;
    size_t rlen;

    while ((r = ring_next(in, &cur, &rlen)) != NULL) {
        if (n++ == 0 && topic != NULL)
            snprintf(topic, len, "%s", r->data);
    }
    return n;
}

/* Empties every ring, as the workers would. */
static void drain(void)
{
    for (unsigned i = 0; i < pl.n_workers; i++) {
        struct ring *in = &pl.workers[i].ingress;
        size_t cur = ring_cursor(in);
        size_t len;
        while (ring_next(in, &cur, &len) != NULL)
            ;
        ring_release(in, cur);
    }
}

static uint64_t drops(void)
{
    return counter(STAT_DROPPED_INVALID) + counter(STAT_DROPPED_OVERSIZE) +
           counter(STAT_DROPPED_OVERFLOW);
}

Test(route, a_message_lands_in_the_shard_of_its_topic)
{
    const char *topic = "sensors/lab/dev1";
    unsigned shard;
    char got[64] = "";

    open_route(OVERFLOW_PAUSE, 1u << 20, 4096);
    shard = (unsigned) (series_topic_hash(topic, strlen(topic)) % 2);
    route_one(0, topic, "21.5", 4);
    route_one(0, topic, "22.5", 4);
    cr_expect_eq(queued(shard, got, sizeof(got)), 2, "same topic, same shard");
    cr_expect_str_eq(got, topic);
    cr_expect_eq(queued(1 - shard, NULL, 0), 0);
    cr_expect_eq(counter(STAT_RECEIVED), 2);
    cr_expect_eq(drops(), 0);
    /* A small burst leaves the fed worker to the deadline timer. */
    cr_expect_eq(route.pushed, 1ull << shard);
    cr_expect(route_wake_workers(&route, 1000));
    cr_expect_eq(route.pushed, 1ull << shard);
    route_wake_pending(&route);
    cr_expect_eq(route.pushed, 0);
    cr_expect_gt(route_take_high_water(&route), 0.0);
    cr_expect_eq(route_take_high_water(&route), 0.0, "starts over");
    close_route();
}

/* A worker "sleeps" on its event (as idle_wait() does); true once a
 * signal reached it. */
static uint32_t sleep_on(unsigned shard)
{
    return event_prepare(&pl.workers[shard].ingress_ev);
}

static bool woken(unsigned shard, uint32_t seq)
{
    struct event *ev = &pl.workers[shard].ingress_ev;
    bool yes = atomic_load(&ev->seq) != seq;

    event_cancel(ev);
    return yes;
}

static unsigned shard_of(const char *topic)
{
    return (unsigned) (series_topic_hash(topic, strlen(topic)) % 2);
}

/* A paused-overflow route with topic's worker asleep, then one small
 * message for it; returns the worker's event sequence from sleep_on(). */
static uint32_t one_message_to_a_sleeper(const char *topic)
{
    uint32_t seq;

    open_route(OVERFLOW_PAUSE, 1u << 20, 4096);
    seq = sleep_on(shard_of(topic));
    route_one(0, topic, "21.5", 4);
    return seq;
}

Test(route, a_small_burst_wakes_its_worker_only_at_the_deadline)
{
    const char *topic = "sensors/lab/dev1";
    unsigned shard = shard_of(topic);
    uint32_t seq = one_message_to_a_sleeper(topic);

    cr_expect(route_wake_workers(&route, 1000), "the caller arms the timer");
    route_one(0, topic, "21.5", 4);
    cr_expect(route_wake_workers(&route, 1000 + ROUTE_WAKE_DELAY_MS - 1));
    cr_expect_eq(atomic_load(&pl.workers[shard].ingress_ev.seq), seq,
                 "no futex wake for a few messages");
    route_one(0, topic, "21.5", 4);
    cr_expect_not(route_wake_workers(&route, 1000 + ROUTE_WAKE_DELAY_MS),
                  "the first push is due: everything woken");
    cr_expect(woken(shard, seq));
    cr_expect_eq(route.pushed, 0);
    seq = sleep_on(shard);
    route_one(0, topic, "21.5", 4);
    cr_expect(route_wake_workers(&route, 5000));
    route_wake_pending(&route); /* the tail timer fires */
    cr_expect(woken(shard, seq));
    cr_expect_not(route_wake_workers(&route, 5001), "nothing left pending");
    close_route();
}

Test(route, a_ring_past_the_wake_threshold_wakes_its_worker_after_the_burst)
{
    const char *topic = "sensors/lab/dev1";
    unsigned shard = shard_of(topic);
    char payload[1000];
    uint32_t seq;

    open_route(OVERFLOW_PAUSE, 1u << 20, 4096);
    memset(payload, '1', sizeof(payload));
    cr_assert_gt(route.wake_bytes, 0);
    cr_assert_lt(route.wake_bytes, pl.workers[shard].ingress.cap / 2,
                 "woken long before the pause threshold");
    seq = sleep_on(shard);
    while (ring_used_bytes(&pl.workers[shard].ingress) < route.wake_bytes)
        route_one(0, topic, payload, sizeof(payload));
    cr_expect_eq(pauses, 0);
    cr_expect_not(route_wake_workers(&route, 1000), "no timer needed");
    cr_expect(woken(shard, seq));
    close_route();
}

Test(route, a_pause_wakes_every_fed_worker_at_once)
{
    const char *topic = "sensors/lab/dev1";
    unsigned shard = shard_of(topic);
    uint32_t seq = one_message_to_a_sleeper(topic);

    route_pause(&route);
    cr_expect_eq(pauses, 1);
    cr_expect(woken(shard, seq), "a pause never waits on a sleeping worker");
    cr_expect_not(route_wake_workers(&route, 1000));
    route_release(&route);
    close_route();
}

Test(route, no_subscription_is_dropped_invalid)
{
    open_route(OVERFLOW_PAUSE, 1u << 20, 4096);
    route_one(1, "x/y", "1", 1); /* only subscription 0 exists */
    route_one(MQTT_NO_SUB, "x/y", "1", 1);
    cr_expect_eq(counter(STAT_RECEIVED), 2);
    cr_expect_eq(counter(STAT_DROPPED_INVALID), 2);
    cr_expect_eq(queued(0, NULL, 0) + queued(1, NULL, 0), 0);
    close_route();
}

Test(route, payload_over_the_limit_is_dropped_oversize)
{
    static char big[4097];

    open_route(OVERFLOW_PAUSE, 1u << 20, 4096);
    route_one(0, "x/y", big, 4096); /* exactly the limit: kept */
    route_one(0, "x/y", big, 4097);
    route_one(0, "x/y", NULL, 0); /* empty: kept, the worker judges it */
    cr_expect_eq(counter(STAT_RECEIVED), 3);
    cr_expect_eq(counter(STAT_DROPPED_OVERSIZE), 1);
    cr_expect_eq(queued(0, NULL, 0) + queued(1, NULL, 0), 2);
    close_route();
}

/* A record larger than a ring's quarter cannot be pushed at all: counted
 * as oversize, never waited for (it would never fit). */
Test(route, record_larger_than_a_ring_takes_is_dropped_oversize)
{
    static char big[20000];

    open_route(OVERFLOW_PAUSE, 64u << 10, 1u << 20);
    route_one(0, "x/y", big, sizeof(big));
    cr_expect_eq(counter(STAT_DROPPED_OVERSIZE), 1);
    cr_expect_eq(counter(STAT_DROPPED_OVERFLOW), 0);
    close_route();
}

Test(route, drop_newest_counts_a_full_ring_and_never_pauses)
{
    static char payload[8000];
    uint64_t sent = 0;

    open_route(OVERFLOW_DROP_NEWEST, 64u << 10, 8000);
    while (counter(STAT_DROPPED_OVERFLOW) == 0 && sent < 100) {
        route_one(0, "one/topic", payload, sizeof(payload));
        sent++;
    }
    cr_expect_eq(counter(STAT_DROPPED_OVERFLOW), 1);
    cr_expect_lt(sent, 100);
    cr_expect_eq(pauses, 0);
    cr_expect_not(route_is_paused(&route));
    cr_expect_eq(counter(STAT_RECEIVED),
                 drops() + queued(0, NULL, 0) + queued(1, NULL, 0));
    close_route();
}

Test(route, pause_when_nearly_full_resume_when_half_free)
{
    static char payload[16000];
    unsigned sent = 0;

    open_route(OVERFLOW_PAUSE, 1u << 20, sizeof(payload));
    while (!route_is_paused(&route) && sent < 200) {
        route_one(0, "one/topic", payload, sizeof(payload));
        sent++;
    }
    cr_assert(route_is_paused(&route), "paused after %u messages", sent);
    cr_expect_eq(pauses, 1);
    cr_expect_eq(drops(), 0, "pause drops nothing");
    route_pause(&route); /* already paused: no second pause */
    cr_expect_eq(pauses, 1);
    route_maybe_resume(&route);
    cr_expect_eq(resumes, 0, "rings still full");
    drain();
    route_maybe_resume(&route);
    cr_expect_eq(resumes, 1);
    cr_expect_not(route_is_paused(&route));
    cr_expect_eq(counter(STAT_RECEIVED), sent);
    close_route();
}

/* With overflow = pause a full ring waits for the worker; only a store
 * that failed for good ends the wait, and the message is then counted. */
Test(route, a_failed_store_ends_a_waiting_push_as_overflow)
{
    static char payload[8000];
    unsigned sent;

    open_route(OVERFLOW_PAUSE, 64u << 10, sizeof(payload));
    atomic_store(&pl.writer.fatal, -EIO);
    for (sent = 0; sent < 40; sent++)
        route_one(0, "one/topic", payload, sizeof(payload));
    cr_expect_gt(counter(STAT_DROPPED_OVERFLOW), 0);
    cr_expect_eq(counter(STAT_RECEIVED), sent);
    cr_expect_eq(counter(STAT_RECEIVED),
                 drops() + queued(0, NULL, 0) + queued(1, NULL, 0));
    close_route();
}

Test(route, release_at_stop_counts_the_pause_and_never_resumes)
{
    static char payload[16000];

    open_route(OVERFLOW_PAUSE, 1u << 20, sizeof(payload));
    while (!route_is_paused(&route))
        route_one(0, "one/topic", payload, sizeof(payload));
    route_release(&route);
    cr_expect_not(route_is_paused(&route));
    cr_expect_eq(resumes, 0, "the loop does not read again");
    close_route();
}
