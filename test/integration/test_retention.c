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

/* ---- retention changed by SIGHUP ----------------------------------------- */

#define DAY_MS  (24 * 60 * MIN_MS)
#define YEAR_MS (365 * DAY_MS)
#define HOUR_MS (60 * MIN_MS)

/* The configuration of the reload test: resolutions and retention vary. */
static void reload_conf(char *conf, size_t len, const char *resolutions,
                        const char *retention)
{
    snprintf(conf, len,
             "[mqtt]\nport = %d\nclient_id = ret-hup-%d\n"
             "[subscription s]\ntopic = s/#\nformat = json\n"
             "timestamp_field = ts\nqos = 1\n"
             "[aggregate]\nresolutions = %s\nmax_clock_skew = 10y\n"
             "[store]\npath = %s\ncommit_interval_ms = 50ms\n"
             "retention = %s\n",
             broker.port, (int) getpid(), resolutions, sp.db_path, retention);
}

/* Rewrites the file, sends SIGHUP and waits for the n-th reload. */
static void reload_to(const char *resolutions, const char *retention, int n)
{
    char conf[2048];
    FILE *f;

    reload_conf(conf, sizeof(conf), resolutions, retention);
    f = fopen(sp.conf_path, "w");
    cr_assert_not_null(f);
    cr_assert(fputs(conf, f) >= 0);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(kill(sp.pid, SIGHUP), 0);
    cr_assert_eq(spawn_wait_log(&sp, "config: reloaded", n, WAIT_MS), 0,
                 "reload %d not done", n);
}

/* 1 h rows of topic whose bucket starts in [from_ms, to_ms). */
static int64_t hour_rows(const char *topic, int64_t from_ms, int64_t to_ms)
{
    char sql[320];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM rollups r JOIN series s ON s.id = "
             "r.series_id WHERE s.topic = '%s' AND r.resolution_s = 3600 "
             "AND r.bucket_ms >= %lld AND r.bucket_ms < %lld",
             topic, (long long) from_ms, (long long) to_ms);
    return db_int(sp.db_path, sql);
}

/*
 * Publishes one sample per age on topic, oldest last, then one of now.
 * One topic is one series in one worker, so its partials reach the store in
 * order: once the newest is stored, every older one was committed too.
 */
static void publish_ages(struct pub *p, const char *topic, const int64_t *ages,
                         int n)
{
    char payload[96];
    int64_t now = clock_now_ms();
    int64_t fresh_from = now / HOUR_MS * HOUR_MS;

    for (int i = 0; i <= n; i++) {
        snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"v\":%d}",
                 (long long) (i < n ? now - ages[i] : now), i);
        cr_assert_eq(pub_send(p, topic, payload, strlen(payload)), 0);
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    while (hour_rows(topic, fresh_from, INT64_MAX) < 1) {
        cr_assert_lt(clock_now_ms(), now + WAIT_MS, "%s: no fresh row", topic);
        wait_nap_ms(20);
    }
}

/* Waits until topic holds no 1 h row older than age_ms. */
static void await_gone(const char *topic, int64_t age_ms)
{
    int64_t deadline = clock_now_ms() + WAIT_MS;

    while (hour_rows(topic, INT64_MIN, clock_now_ms() - age_ms) > 0) {
        cr_assert_lt(clock_now_ms(), deadline,
                     "%s: rows older than %lld days never went", topic,
                     (long long) (age_ms / DAY_MS));
        wait_nap_ms(50);
    }
}

/*
 * A reload names retention per resolution, and a resolution added in the
 * file waits for a restart: retention must follow the resolution it names,
 * not its position in the list, and what was applied is what a later
 * reload compares with.
 */
Test(retention, reload_follows_the_named_resolution_and_can_revert)
{
    static const int64_t old_ages[] = {40 * DAY_MS, 6 * YEAR_MS};
    static const int64_t revert_ages[] = {3 * YEAR_MS};
    char conf[2048];
    struct pub *p;

    reload_conf(conf, sizeof(conf), "10s, 1h", "10s:2d, 1h:2y");
    cr_assert_eq(spawn_start_ready(&sp, conf, NULL, WAIT_MS), 0);
    cr_assert_eq(pub_open(&p, broker.port, "ret-hup-pub", 1), 0);

    /* 1m is new (a restart adds it); 1h is kept five years now. Applied by
     * position, 1m's 7 days would hit the 1 h rows. */
    reload_to("10s, 1m, 1h", "10s:2d, 1m:7d, 1h:5y", 1);
    publish_ages(p, "s/old", old_ages, 2);
    await_gone("s/old", 5 * YEAR_MS);
    cr_expect_eq(hour_rows("s/old", INT64_MIN, clock_now_ms() - 30 * DAY_MS), 1,
                 "the 40-day-old 1 h row was deleted");

    /* Back to the first file: two years for 1 h again. */
    reload_to("10s, 1h", "10s:2d, 1h:2y", 2);
    publish_ages(p, "s/rev", revert_ages, 1);
    await_gone("s/rev", 2 * YEAR_MS);
    cr_expect_eq(hour_rows("s/old", INT64_MIN, clock_now_ms() - 30 * DAY_MS), 1,
                 "the 40-day-old 1 h row was deleted after the revert");
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    pub_close(p);
}

/* The age of the oldest raw sample now, in ms (0 when there is none). */
static int64_t oldest_raw_age(void)
{
    int64_t oldest = db_int(sp.db_path, "SELECT min(ts_ms) FROM samples");

    return oldest == INT64_MIN ? 0 : clock_now_ms() - oldest;
}

/*
 * Retention keeps up under load: 1,000 messages a second of five fields
 * (5,000 raw samples and as many partials a second) with raw_retention =
 * 3s and retention = 10s:20s, for 20 s. The oldest raw sample stays within
 * its retention plus a bound (a second between passes, a commit interval,
 * and the slack of a busy machine), and ingest_stats says how far behind
 * retention is (retention_lag_ms) within the same bound.
 */
#define KEEP_RAW_MS  3000
#define KEEP_BOUND   4000
#define KEEP_LOAD_MS 20000
Test(retention, retention_keeps_up_with_the_ingest_rate, .timeout = 120)
{
    char conf[2048];
    char topic[64];
    char payload[128];
    struct pub *p;
    int64_t t0;
    int64_t worst = 0;
    int sent = 0;

    snprintf(conf, sizeof(conf),
             "[mqtt]\nport = %d\nclient_id = ret-%d\n"
             "[subscription s]\ntopic = s/#\nformat = json\nqos = 0\n"
             "[aggregate]\nresolutions = 10s, 1m\n"
             "[store]\npath = %s\ncommit_interval_ms = 200ms\n"
             "raw_samples = true\nretention = 10s:20s\n"
             "raw_retention = 3s\n"
             "[log]\nstats_interval_s = 1s\n",
             broker.port, (int) getpid(), sp.db_path);
    cr_assert_eq(spawn_start_ready(&sp, conf, NULL, WAIT_MS), 0);
    cr_assert_eq(pub_open(&p, broker.port, "keep-pub", 0), 0);
    t0 = clock_now_ms();
    while (clock_now_ms() - t0 < KEEP_LOAD_MS) {
        for (int k = 0; k < 100; k++, sent++) {
            snprintf(topic, sizeof(topic), "s/keep/%d", sent % 200);
            snprintf(payload, sizeof(payload),
                     "{\"a\":%d,\"b\":1,\"c\":2,\"d\":3,\"e\":4}", sent);
            cr_assert_eq(pub_send(p, topic, payload, strlen(payload)), 0);
        }
        wait_nap_ms(100); /* the publishing pace: 1,000 a second */
        /* Read the notify socket as systemd would: a full one (10
         * datagrams) blocks the daemon's STATUS updates. */
        spawn_clear_notes(&sp);
        if (clock_now_ms() - t0 > 2 * KEEP_RAW_MS) {
            int64_t age = oldest_raw_age();
            worst = age > worst ? age : worst;
        }
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    cr_log_info("retention under load: %d messages, %lld raw samples kept, "
                "oldest at worst %lld ms old (keep %d ms), last lag %lld ms",
                sent,
                (long long) db_int(sp.db_path, "SELECT count(*) FROM samples"),
                (long long) worst, KEEP_RAW_MS,
                (long long) spawn_stat(&sp, "retention_lag_ms"));
    cr_expect_gt(db_int(sp.db_path, "SELECT count(*) FROM samples"), 0);
    cr_expect_leq(worst, KEEP_RAW_MS + KEEP_BOUND,
                  "the oldest raw sample was %lld ms old", (long long) worst);
    cr_expect_leq(spawn_stat(&sp, "retention_lag_ms"), KEEP_BOUND);
    cr_expect_leq(
        db_int(sp.db_path, "SELECT max(retention_lag_ms) FROM ingest_stats"),
        KEEP_BOUND, "ingest_stats saw retention fall behind");
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    /* The final row, written at the stop, counts every message. */
    cr_expect_eq(spawn_stat(&sp, "received"), sent, "nothing lost meanwhile");
}
