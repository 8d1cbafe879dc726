/*
 * test_alloc.c - no allocation on the message path, proven in-process.
 *
 * The daemon runs here, on a thread of this test process, linked with the
 * allocation guard (--wrap=malloc,calloc,realloc): once it is READY the
 * guard counts every allocation our code makes on the daemon's threads
 * (loop, workers, writer) while a steady load of known messages flows
 * through decode, registry, buckets and SQLite. libmosquitto's and
 * SQLite's own allocations happen inside their shared libraries, which
 * --wrap does not see (doc/ARCHITECTURE.md, "Test tools"); SQLite's are capped
 * by its heap limit.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "alloc_guard.h"
#include "broker.h"
#include "daemon.h"
#include "pub.h"
#include "spawn.h"

#define WAIT_MS 30000

static struct broker broker;
static struct spawn sp;
static int daemon_rc = -1;

static void *run_daemon(void *arg)
{
    daemon_rc = daemon_run(arg);
    return NULL;
}

static int64_t stored(void)
{
    int64_t n = db_int(sp.db_path, "SELECT sum(count) FROM rollups WHERE "
                                   "resolution_s = 10");
    return n < 0 ? 0 : n;
}

static void await_stored(int64_t want)
{
    struct timespec start;
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    while (stored() < want) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        cr_assert(now.tv_sec - start.tv_sec < WAIT_MS / 1000,
                  "stored %lld of %lld", (long long) stored(),
                  (long long) want);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void publish(struct pub *p, int round, int series, int per_series)
{
    char topic[64];
    char payload[128];

    for (int k = 0; k < per_series; k++)
        for (int i = 0; i < series; i++) {
            snprintf(topic, sizeof(topic), "sensors/s%d/d%d", i % 7, i);
            snprintf(payload, sizeof(payload),
                     "{\"temp\":%d.25,\"hum\":%d,\"ok\":true}", round + k, i);
            cr_assert_eq(pub_send(p, topic, payload, strlen(payload)), 0);
        }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
}

Test(alloc, message_path_allocates_nothing_after_start, .timeout = 120)
{
    pthread_t t;
    struct pub *p;
    char conf[2048];
    char path[256];
    FILE *f;
    uint64_t allocs;

    cr_assert_eq(spawn_suite_init(&sp, &broker), 0);
    snprintf(conf, sizeof(conf),
             "[mqtt]\nport = %d\nclient_id = alloc-test\n"
             "[subscription s]\ntopic = sensors/#\nformat = json\n"
             "topic_tags = sensors/{site}/{dev}\n"
             "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
             "max_series = 10000\n"
             "[store]\npath = %s\ncommit_interval_ms = 50ms\n"
             "[log]\nstats_interval_s = 1s\n",
             broker.port, sp.db_path);
    snprintf(path, sizeof(path), "%s", sp.conf_path);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(conf, f);
    fclose(f);
    setenv("NOTIFY_SOCKET", sp.notify_path, 1);
    cr_assert_eq(pthread_create(&t, NULL, run_daemon, path), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "READY=1", WAIT_MS), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0);

    cr_assert_eq(pub_open(&p, broker.port, "alloc-pub", 1), 0);
    /* Warm-up: the first message of each series creates it. */
    publish(p, 0, 200, 1);
    await_stored(200 * 3);

    alloc_guard_arm_daemon();
    publish(p, 1, 200, 20); /* known series */
    publish(p, 2, 300, 1);  /* and 100 new ones */
    /* 12 bad payloads: the warning path must not allocate either. */
    for (int i = 0; i < 12; i++)
        cr_assert_eq(pub_send(p, "sensors/x/bad", "{nope", 5), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored((200 + 200 * 20 + 300) * 3);
    allocs = alloc_guard_disarm();

    kill(getpid(), SIGTERM);
    pthread_join(t, NULL);
    cr_expect_eq(daemon_rc, 0);
    cr_expect_eq(allocs, 0, "%llu allocations on the message path",
                 (unsigned long long) allocs);
    pub_close(p);
    spawn_cleanup(&sp);
    broker_stop(&broker);
}
