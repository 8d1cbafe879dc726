/*
 * test_retention.c - retention per resolution and for raw samples, with an
 * injected clock (SENSORPIPE_CLOCK_OFFSET_MS moves the daemon's "now"), and
 * the file giving its freed pages back (incremental vacuum).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "clock.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS 30000
#define MIN_MS  60000LL

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

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 90);

static void start(int64_t offset_ms)
{
    char conf[2048];
    char env_off[64];
    const char *env[] = {env_off, NULL};

    snprintf(env_off, sizeof(env_off), "SENSORPIPE_CLOCK_OFFSET_MS=%lld",
             (long long) offset_ms);
    snprintf(conf, sizeof(conf),
             "[mqtt]\nport = %d\nclient_id = ret-%d\n"
             "[subscription s]\ntopic = s/#\nformat = json\n"
             "timestamp_field = ts\nqos = 1\n"
             "[aggregate]\nresolutions = 10s, 1m, 1h\nmax_clock_skew = 1d\n"
             "[store]\npath = %s\ncommit_interval_ms = 50ms\n"
             "raw_samples = true\nretention = 10s:20m, 1m:40m\n"
             "raw_retention = 10m\n",
             broker.port, (int) getpid(), sp.db_path);
    cr_assert_eq(spawn_start_ready(&sp, conf, env, WAIT_MS), 0);
}

static int64_t count(const char *where)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", where);
    return db_int(sp.db_path, sql);
}

/* Waits until the query's count drops to want (retention runs once a
 * second, a few thousand rows at a time). */
static void await_count(const char *where, int64_t want)
{
    int64_t deadline = clock_now_ms() + WAIT_MS;

    while (count(where) != want) {
        cr_assert_lt(clock_now_ms(), deadline, "%s: %lld rows, want %lld",
                     where, (long long) count(where), (long long) want);
        wait_nap_ms(50);
    }
}

Test(retention, old_rows_go_new_rows_stay)
{
    struct pub *p;
    int64_t now = clock_now_ms();
    int64_t floor_min = now / MIN_MS * MIN_MS;
    /* The daemon's clock reads floor_min + 30 s (+ the seconds the test
     * runs), so every cut below falls 20 s or more away from a row. */
    int64_t offset = floor_min + 30000 - now;
    char payload[96];

    /* One sample a minute over the last hour, 50 s into each minute. */
    start(offset);
    cr_assert_eq(pub_open(&p, broker.port, "ret-pub", 1), 0);
    for (int m = 0; m < 60; m++) {
        snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"v\":%d}",
                 (long long) (floor_min - 60 * MIN_MS + m * MIN_MS + 50000), m);
        cr_assert_eq(pub_send(p, "s/a", payload, strlen(payload)), 0);
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    /* 10 s rows older than 20 min go (minutes 0..39 stay out), 1 min rows
     * older than 40 min (buckets 0..20), raw samples older than 10 min
     * (0..49); the 1 h rows have no retention. */
    await_count("rollups WHERE resolution_s = 10", 20);
    await_count("rollups WHERE resolution_s = 60", 39);
    await_count("samples", 10);
    cr_expect_eq(db_int(sp.db_path, "SELECT min(bucket_ms) FROM rollups "
                                    "WHERE resolution_s = 10"),
                 floor_min - 20 * MIN_MS + 50000);
    cr_expect_eq(db_int(sp.db_path, "SELECT sum(count) FROM rollups WHERE "
                                    "resolution_s = 3600"),
                 60, "coarse rows keep everything");
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    /* The same file 30 minutes later (injected clock): more goes. */
    start(offset + 30 * MIN_MS);
    await_count("rollups WHERE resolution_s = 10", 0);
    await_count("rollups WHERE resolution_s = 60", 9);
    await_count("samples", 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT sum(count) FROM rollups WHERE "
                                    "resolution_s = 3600"),
                 60);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_lt(db_int(sp.db_path, "PRAGMA freelist_count"), 16,
                 "freed pages go back to the file system");
    pub_close(p);
}
