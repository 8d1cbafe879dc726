/*
 * test_connection.c - the broker connection's life as an operator and a
 * busy broker see it, end to end: a real mosquitto, the daemon binary, a
 * real SQLite file.
 *
 * What each test proves (README "Guarantees"):
 *   - clean restarts under a QoS 1 load neither lose nor duplicate a value
 *     (the stop acknowledges, sends DISCONNECT and closes in order, so the
 *     broker redelivers only what was never stored);
 *
 * Values are unique sequence numbers and raw_samples = true keeps every
 * sample, so "nothing lost, nothing twice" is a query on the samples table.
 *
 * Threads: the test's own, a publisher thread where a load runs during the
 * test, and libmosquitto's publisher threads (pub.h).
 * Memory: test code, allocates freely.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS  30000
#define CONF_MAX 4096

static struct broker broker;
static struct spawn sp;

static void setup(void)
{
    cr_assert_eq(spawn_suite_init(&sp, &broker), 0, "broker or spawn start");
}

static void teardown(void)
{
    spawn_suite_fini(&sp, &broker);
}

TestSuite(connection, .init = setup, .fini = teardown, .timeout = 180);

/* ---- helpers ------------------------------------------------------------- */

/* A persistent QoS 1 session on n/#, raw samples kept; extra appended (it
 * may reopen a section to add keys). */
static void make_conf(char *buf, size_t len, const char *extra)
{
    int n = snprintf(buf, len,
                     "[mqtt]\n"
                     "host = 127.0.0.1\n"
                     "port = %d\n"
                     "client_id = sp-conn-%d\n"
                     "reconnect_min_ms = 50ms\n"
                     "reconnect_max_ms = 500ms\n"
                     "[subscription n]\n"
                     "topic = n/#\n"
                     "qos = 1\n"
                     "format = number\n"
                     "[pipeline]\n"
                     "workers = 2\n"
                     "ring_bytes = 1MiB\n"
                     "[aggregate]\n"
                     "resolutions = 10s\n"
                     "[store]\n"
                     "path = %s\n"
                     "commit_interval_ms = 100ms\n"
                     "raw_samples = true\n"
                     "[log]\n"
                     "level = info\n"
                     "stats_interval_s = 1s\n"
                     "%s",
                     broker.port, (int) getpid(), sp.db_path,
                     extra != NULL ? extra : "");

    cr_assert(n > 0 && (size_t) n < len, "configuration too long");
}

static void start_daemon(const char *extra, const char *const *env)
{
    char conf[CONF_MAX];

    make_conf(conf, sizeof(conf), extra);
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_start_ready(&sp, conf, env, WAIT_MS), 0,
                 "the daemon did not become ready and subscribed");
}

static void stop_daemon(void)
{
    int st = spawn_stop(&sp, SIGTERM, WAIT_MS);

    if (st != 0)
        spawn_dump_log(&sp);
    cr_assert_eq(st, 0, "clean stop exited %d", st);
}

static int64_t samples_sql(const char *sql)
{
    return db_int(sp.db_path, sql);
}

static int64_t raw_samples(void)
{
    return samples_sql("SELECT count(*) FROM samples");
}

/* Waits until the samples table holds at least want rows. */
static void await_samples(int64_t want, int timeout_ms)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) timeout_ms;

    while (raw_samples() < want) {
        if (wait_now_ms() >= deadline) {
            spawn_dump_log(&sp);
            cr_assert_fail("only %lld of %lld samples stored",
                           (long long) raw_samples(), (long long) want);
        }
        wait_nap_ms(20);
    }
}

/* Every value 1..n stored exactly once. */
static void expect_each_once(int64_t n)
{
    int64_t rows = raw_samples();
    int64_t distinct = samples_sql("SELECT count(DISTINCT value) FROM samples");
    int64_t lo = samples_sql("SELECT min(value) FROM samples");
    int64_t hi = samples_sql("SELECT max(value) FROM samples");

    cr_expect_eq(distinct, n, "%lld distinct values stored, %lld published",
                 (long long) distinct, (long long) n);
    cr_expect_eq(rows, distinct, "%lld values stored twice",
                 (long long) (rows - distinct));
    cr_expect_eq(lo, 1);
    cr_expect_eq(hi, n);
}

/* ---- a QoS 1 load on its own thread ------------------------------------- */

struct load {
    pthread_t thread;
    int port;
    int total;        /* values 1..total, on n/0 .. n/9 */
    int chunk;        /* messages between waits for every PUBACK */
    _Atomic int sent; /* acknowledged by the broker so far */
    _Atomic int err;
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    struct pub *p = NULL;
    char topic[32];
    int k = 1;

    if (pub_open(&p, l->port, "sp-conn-load", 1) < 0) {
        atomic_store(&l->err, -ECONNREFUSED);
        return NULL;
    }
    while (k <= l->total) {
        int end = k + l->chunk;

        for (; k < end && k <= l->total; k++) {
            snprintf(topic, sizeof(topic), "n/%d", k % 10);
            if (pub_sendf(p, topic, "%d", k) < 0)
                atomic_store(&l->err, -EIO);
        }
        if (pub_wait_acked(p, WAIT_MS) < 0)
            atomic_store(&l->err, -ETIMEDOUT);
        atomic_store(&l->sent, k - 1);
    }
    pub_close(p);
    return NULL;
}

static void load_start(struct load *l, int total, int chunk)
{
    l->port = broker.port;
    l->total = total;
    l->chunk = chunk;
    atomic_init(&l->sent, 0);
    atomic_init(&l->err, 0);
    cr_assert_eq(pthread_create(&l->thread, NULL, load_main, l), 0);
}

static void load_join(struct load *l)
{
    pthread_join(l->thread, NULL);
    cr_assert_eq(atomic_load(&l->err), 0, "the publisher failed: %d",
                 atomic_load(&l->err));
}

/* ---- clean stops -------------------------------------------------------- */

/*
 * Ten SIGTERM/start cycles while a QoS 1 publisher keeps the broker busy
 * sending to the daemon: at each stop PUBLISH packets are on their way.
 * Every value must be stored once: a stop that resets the connection
 * instead of closing it in order loses the last PUBACKs at the broker,
 * which then delivers those messages again to the next instance.
 */
Test(connection, clean_restarts_under_load_store_each_value_once)
{
    enum { TOTAL = 60000, CYCLES = 10 };
    struct load l;
    int64_t before;

    start_daemon(NULL, NULL);
    load_start(&l, TOTAL, 500);
    for (int i = 0; i < CYCLES; i++) {
        before = raw_samples();
        await_samples(before + 1000, WAIT_MS);
        stop_daemon();
        cr_assert(spawn_log_contains(&sp, "daemon: stopped"));
        start_daemon(NULL, NULL);
    }
    load_join(&l);
    await_samples(TOTAL, 60000);
    /* Anything redelivered late would show up now. */
    stop_daemon();
    expect_each_once(TOTAL);
    cr_expect_eq(broker_log_count(&broker, "Broken pipe"), 0,
                 "the broker saw a reset instead of a clean disconnect");
    cr_expect_eq(broker_log_count(&broker, "Connection reset"), 0,
                 "the broker saw a reset instead of a clean disconnect");
}
