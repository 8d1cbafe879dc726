/*
 * test_overflow.c - every bound of the pipeline, reached on purpose: the
 * counters are exact and the daemon goes on serving afterwards.
 *
 * A stalled writer (SENSORPIPE_TEST_STALL_FILE) fills the egress rings
 * (raw_samples = true makes one egress record per sample), then the
 * ingress rings; the overflow policy decides what happens next.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"

#define WAIT_MS 30000

static struct broker broker;
static struct spawn sp;
static char stall[256];

static void setup(void)
{
    cr_assert_eq(spawn_suite_init(&sp, &broker), 0, "broker or spawn start");
    snprintf(stall, sizeof(stall), "%s/stall", sp.dir);
}

static void teardown(void)
{
    spawn_suite_fini(&sp, &broker);
}

TestSuite(overflow, .init = setup, .fini = teardown, .timeout = 90);

static void start(const char *pipeline, bool stalled)
{
    char conf[2048];
    char env_stall[300];
    const char *env[] = {env_stall, NULL};
    FILE *f;

    snprintf(env_stall, sizeof(env_stall), "SENSORPIPE_TEST_STALL_FILE=%s",
             stall);
    if (stalled) {
        f = fopen(stall, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    snprintf(conf, sizeof(conf),
             "[mqtt]\nport = %d\nclient_id = ovf-%d\n"
             "[subscription s]\ntopic = s/#\nformat = number\nqos = 1\n"
             "[pipeline]\nworkers = 1\n%s\n"
             "[aggregate]\nresolutions = 10s\n"
             "[store]\npath = %s\ncommit_interval_ms = 50ms\n"
             "raw_samples = true\n"
             "[log]\nstats_interval_s = 1s\n",
             broker.port, (int) getpid(), pipeline, sp.db_path);
    cr_assert_eq(spawn_start_ready(&sp, conf, env, WAIT_MS), 0);
}

/* Publishes n bare numbers on topics s/0..s/(series-1), QoS 1. */
static void publish(struct pub *p, int n, int series)
{
    char topic[32];

    for (int i = 0; i < n; i++) {
        snprintf(topic, sizeof(topic), "s/%d", i % series);
        cr_assert_eq(pub_sendf(p, topic, "%d", i), 0);
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
}

static void await_log(const char *needle)
{
    cr_assert_eq(spawn_wait_log(&sp, needle, 1, WAIT_MS), 0,
                 "no log line with '%s'", needle);
}

static bool after_is_stored(void)
{
    return db_int(sp.db_path, "SELECT count(*) FROM samples s JOIN series r "
                              "ON r.id = s.series_id WHERE topic = "
                              "'s/after'") > 0;
}

Test(overflow, drop_newest_counts_every_drop_and_recovers)
{
    struct pub *p;
    int64_t received;
    int64_t dropped;

    /* 512 KiB ingress (the minimum for 16-byte payloads); 1 MiB egress
     * holds about 26,000 raw samples: 60,000 messages must overflow. */
    start("ring_bytes = 512KiB\nmax_payload_bytes = 16B\n"
          "overflow = drop_newest",
          true);
    cr_assert_eq(pub_open(&p, broker.port, "ovf-pub", 1), 0);
    publish(p, 60000, 10);
    await_log("ingress ring full");
    cr_assert_eq(unlink(stall), 0);
    /* Still serving: once the rings drain, a message is stored again. It
     * may take a few tries while the backlog clears (each one counted). */
    int after = 0;
    while (!after_is_stored()) {
        cr_assert_lt(after, 200, "nothing stored after the flood");
        cr_assert_eq(pub_send(p, "s/after", "7", 1), 0);
        cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
        after++;
        usleep(50000); /* pacing between tries, not a wait for a result */
    }
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    received = spawn_stat(&sp, "received");
    dropped = spawn_stat(&sp, "dropped_overflow");
    cr_expect_eq(received, 60000 + after, "the broker delivered everything");
    cr_expect_gt(dropped, 0);
    cr_expect_eq(spawn_stat(&sp, "decoded") + dropped, received,
                 "received = decoded + dropped_overflow");
    cr_expect_eq(spawn_stored(&sp, 10), spawn_stat(&sp, "samples"));
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM samples"),
                 spawn_stat(&sp, "samples"));
    pub_close(p);
}

Test(overflow, pause_loses_nothing_and_counts_the_pause)
{
    struct pub *p;

    start("ring_bytes = 512KiB\nmax_payload_bytes = 16B\noverflow = pause",
          true);
    cr_assert_eq(pub_open(&p, broker.port, "ovf-pub", 1), 0);
    publish(p, 60000, 10);
    /* The broker holds what the daemon does not read; let it go. */
    cr_assert_eq(unlink(stall), 0);
    cr_assert_eq(spawn_await_stored(&sp, 10, 60000, WAIT_MS), 0,
                 "stored %lld of 60000", (long long) spawn_stored(&sp, 10));
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(spawn_stat(&sp, "received"), 60000);
    cr_expect_eq(spawn_stat(&sp, "decoded"), 60000);
    cr_expect_eq(spawn_stat(&sp, "dropped_overflow"), 0);
    cr_expect_gt(spawn_stat(&sp, "paused_ms"), 0, "the pause is counted");
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM samples"), 60000);
    pub_close(p);
}

Test(overflow, oversize_payloads_are_counted)
{
    struct pub *p;
    char big[100];

    start("max_payload_bytes = 64B", false);
    memset(big, ' ', sizeof(big));
    big[0] = '1';
    cr_assert_eq(pub_open(&p, broker.port, "ovf-pub", 1), 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(pub_send(p, "s/big", big, sizeof(big)), 0);
    cr_assert_eq(pub_send(p, "s/big", big, 64), 0); /* exactly the limit */
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    cr_assert_eq(spawn_await_stored(&sp, 10, 1, WAIT_MS), 0);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(spawn_stat(&sp, "dropped_oversize"), 5);
    cr_expect_eq(spawn_stat(&sp, "decoded"), 1);
    cr_expect(spawn_log_contains(&sp, "payload over max_payload_bytes"));
    pub_close(p);
}

Test(overflow, series_beyond_the_limit_are_counted)
{
    struct pub *p;

    start("max_series = 10", false);
    cr_assert_eq(pub_open(&p, broker.port, "ovf-pub", 1), 0);
    publish(p, 25, 25); /* 25 distinct series, one message each */
    publish(p, 10, 10); /* the first 10 again: known series are kept */
    cr_assert_eq(spawn_await_stored(&sp, 10, 20, WAIT_MS), 0);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(spawn_stat(&sp, "dropped_series_limit"), 15);
    cr_expect_eq(spawn_stat(&sp, "decoded"), 20);
    cr_expect_eq(spawn_stat(&sp, "series"), 10);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series"), 10);
    cr_expect(spawn_log_contains(&sp, "limit of 10 series reached"));
    pub_close(p);
}
