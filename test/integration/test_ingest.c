/*
 * test_ingest.c - the ingest path end to end: a real mosquitto, the daemon
 * binary, a real SQLite file. The expected rollups are computed here, from
 * the data set the test publishes, without the daemon's code.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "clock.h"
#include "pub.h"
#include "spawn.h"

#define WAIT_MS 20000

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

/* A configuration for this test's broker and database; extra is appended. */
static void make_conf(char *buf, size_t len, const char *extra)
{
    snprintf(buf, len,
             "[mqtt]\n"
             "host = 127.0.0.1\n"
             "port = %d\n"
             "client_id = sp-test-%d\n"
             "reconnect_min_ms = 50ms\n"
             "reconnect_max_ms = 500ms\n"
             "[subscription json]\n"
             "topic = sensors/#\n"
             "qos = 1\n"
             "format = json\n"
             "timestamp_field = ts\n"
             "topic_tags = sensors/{site}/{device}\n"
             "[subscription num]\n"
             "topic = num/#\n"
             "qos = 1\n"
             "format = number\n"
             "[pipeline]\n"
             "workers = 2\n"
             "ring_bytes = 1MiB\n"
             "max_series = 1000\n"
             "[aggregate]\n"
             "resolutions = 10s, 1m, 1h\n"
             "allowed_lateness = 1m\n"
             "max_clock_skew = 1d\n"
             "[store]\n"
             "path = %s\n"
             "commit_interval_ms = 100ms\n"
             "[log]\n"
             "level = info\n"
             "stats_interval_s = 1s\n"
             "%s",
             broker.port, (int) getpid(), sp.db_path, extra ? extra : "");
}

static void start_daemon(const char *extra)
{
    char conf[4096];

    make_conf(conf, sizeof(conf), extra);
    cr_assert_eq(spawn_start_ready(&sp, conf, NULL, WAIT_MS), 0,
                 "daemon not ready and subscribed");
}

static void await_stored(int64_t want)
{
    cr_assert_eq(spawn_await_stored(&sp, 10, want, WAIT_MS), 0,
                 "only %lld of %lld samples stored",
                 (long long) spawn_stored(&sp, 10), (long long) want);
}

/* ---- the reference computation ---------------------------------------- */

struct ref {
    char topic[64];
    char field[16];
    int res_s;
    int64_t bucket_ms;
    long count;
    double sum, min, max, last;
    int64_t last_ms;
};

static struct ref refs[4096];
static size_t n_refs;

static int64_t floor_to(int64_t ts, int64_t res)
{
    int64_t q = ts / res;
    return (ts % res != 0 && ts < 0 ? q - 1 : q) * res;
}

static void ref_add(const char *topic, const char *field, int64_t ts, double v)
{
    static const int res[] = {10, 60, 3600};

    for (size_t r = 0; r < 3; r++) {
        int64_t b = floor_to(ts, res[r] * 1000LL);
        struct ref *e = NULL;
        for (size_t i = 0; i < n_refs && !e; i++)
            if (refs[i].res_s == res[r] && refs[i].bucket_ms == b &&
                !strcmp(refs[i].topic, topic) && !strcmp(refs[i].field, field))
                e = &refs[i];
        if (!e) {
            cr_assert(n_refs < 4096);
            e = &refs[n_refs++];
            memset(e, 0, sizeof(*e));
            snprintf(e->topic, sizeof(e->topic), "%s", topic);
            snprintf(e->field, sizeof(e->field), "%s", field);
            e->res_s = res[r];
            e->bucket_ms = b;
            e->min = e->max = v;
            e->last_ms = INT64_MIN;
        }
        e->count++;
        e->sum += v;
        e->min = v < e->min ? v : e->min;
        e->max = v > e->max ? v : e->max;
        if (ts >= e->last_ms) {
            e->last = v;
            e->last_ms = ts;
        }
    }
}

/* Every expected row is in rollups_v with these exact numbers, and the
 * view holds no other row for these series. */
static void check_rollups(void)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t rows;

    cr_assert_eq(sqlite3_open_v2(sp.db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT count, mean, min, max, last, "
                                    "tags FROM rollups_v WHERE topic = ?1 "
                                    "AND field = ?2 AND resolution_s = ?3 "
                                    "AND time = ?4",
                                    -1, &st, NULL),
                 SQLITE_OK);
    for (size_t i = 0; i < n_refs; i++) {
        const struct ref *e = &refs[i];
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, e->topic, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->field, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, e->res_s);
        sqlite3_bind_int64(st, 4, e->bucket_ms / 1000);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW,
                     "no row for %s/%s res %d bucket %lld", e->topic, e->field,
                     e->res_s, (long long) e->bucket_ms);
        cr_expect_eq(sqlite3_column_int64(st, 0), e->count, "%s/%s count",
                     e->topic, e->field);
        cr_expect_float_eq(sqlite3_column_double(st, 1),
                           e->sum / (double) e->count, 1e-9);
        cr_expect_float_eq(sqlite3_column_double(st, 2), e->min, 1e-12);
        cr_expect_float_eq(sqlite3_column_double(st, 3), e->max, 1e-12);
        cr_expect_float_eq(sqlite3_column_double(st, 4), e->last, 1e-12);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    rows = db_int(sp.db_path, "SELECT count(*) FROM rollups_v WHERE topic "
                              "LIKE 'sensors/lab/%'");
    cr_expect_eq(rows, (int64_t) n_refs, "rows in rollups_v: %lld",
                 (long long) rows);
}

/* ---- tests --------------------------------------------------------------- */

TestSuite(ingest, .init = setup, .fini = teardown, .timeout = 60);

Test(ingest, rollups_match_an_independent_computation)
{
    struct pub *p;
    int64_t now = clock_now_ms();
    int64_t base = floor_to(now, 3600000) - 3600000; /* last full hour */
    long samples = 0;
    long late = 0;
    unsigned seed = 7;
    char topic[64];
    char payload[256];

    start_daemon(NULL);
    cr_assert_eq(pub_open(&p, broker.port, "ingest-pub", 1), 0);
    /* Three devices, 60 readings each, two fields, spread over 80 minutes
     * that ended at least 10 minutes ago, published out of order. */
    for (int k = 0; k < 180; k++) {
        int dev = k % 3 + 1;
        int64_t ts = base - 1800000 + (int64_t) (rand_r(&seed) % 4800000);
        double temp = (double) (rand_r(&seed) % 4000) / 100.0 - 10.0;
        double hum = (double) (rand_r(&seed) % 1000) / 10.0;
        snprintf(topic, sizeof(topic), "sensors/lab/dev%d", dev);
        snprintf(payload, sizeof(payload),
                 "{\"ts\":%lld,\"temp\":%.2f,\"hum\":%.1f}", (long long) ts,
                 temp, hum);
        cr_assert_eq(pub_send(p, topic, payload, strlen(payload)), 0);
        ref_add(topic, "temp", ts, temp);
        ref_add(topic, "hum", ts, hum);
        samples += 2;
        late += 2; /* every bucket here ended more than a minute ago */
    }
    /* Timestamps in seconds are detected as such. */
    snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"temp\":1.25}",
             (long long) (base / 1000 + 5));
    cr_assert_eq(pub_send(p, "sensors/lab/dev1", payload, strlen(payload)), 0);
    ref_add("sensors/lab/dev1", "temp", base + 5000, 1.25);
    samples++;
    late++;
    /* Bare numbers at receive time. */
    for (int k = 0; k < 20; k++) {
        snprintf(payload, sizeof(payload), "%d.5", k);
        cr_assert_eq(pub_send(p, "num/a", payload, strlen(payload)), 0);
        samples++;
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(samples);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "clean exit");

    check_rollups();
    cr_expect_eq(db_int(sp.db_path, "SELECT sum(count) FROM rollups WHERE "
                                    "resolution_s = 3600"),
                 samples, "coarser resolutions hold every sample");
    cr_expect_float_eq(db_double(sp.db_path,
                                 "SELECT sum(sum) FROM rollups r JOIN series "
                                 "s ON s.id = r.series_id WHERE topic = "
                                 "'num/a' AND resolution_s = 60"),
                       20 * 9.5 + 20 * 0.5, 1e-9);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE "
                                    "topic = 'num/a' AND field = 'value'"),
                 1);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE tags = "
                                    "'{\"site\":\"lab\",\"device\":\"dev2\"}'"),
                 2, "topic_tags give each series its tags");
    /* Exact accounting in the final ingest_stats row. */
    cr_expect_eq(spawn_stat(&sp, "received"), 201);
    cr_expect_eq(spawn_stat(&sp, "decoded"), 201);
    cr_expect_eq(spawn_stat(&sp, "samples"), samples);
    cr_expect_eq(spawn_stat(&sp, "late"), late);
    pub_close(p);
}

Test(ingest, late_partials_merge_into_rows_already_written)
{
    struct pub *p;
    int64_t b = floor_to(clock_now_ms(), 10000) - 600000; /* 10 min ago */
    char payload[128];

    start_daemon(NULL);
    cr_assert_eq(pub_open(&p, broker.port, "late-pub", 1), 0);
    snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"v\":5}",
             (long long) b + 1000);
    cr_assert_eq(pub_send(p, "sensors/x/y", payload, strlen(payload)), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(1);
    /* The row exists; now two more samples for the same bucket, the
     * later one first (out of order), each a separate hand-off. */
    snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"v\":9}",
             (long long) b + 3000);
    cr_assert_eq(pub_send(p, "sensors/x/y", payload, strlen(payload)), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(2);
    snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"v\":-1}",
             (long long) b + 2000);
    cr_assert_eq(pub_send(p, "sensors/x/y", payload, strlen(payload)), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(3);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT count FROM rollups_v WHERE "
                                    "resolution_s = 10"),
                 3);
    cr_expect_float_eq(db_double(sp.db_path, "SELECT min FROM rollups_v "
                                             "WHERE resolution_s = 10"),
                       -1.0, 1e-12);
    cr_expect_float_eq(db_double(sp.db_path, "SELECT max FROM rollups_v "
                                             "WHERE resolution_s = 10"),
                       9.0, 1e-12);
    cr_expect_float_eq(db_double(sp.db_path, "SELECT last FROM rollups_v "
                                             "WHERE resolution_s = 10"),
                       9.0, 1e-12, "last is by time, not arrival");
    cr_expect_float_eq(db_double(sp.db_path, "SELECT mean FROM rollups_v "
                                             "WHERE resolution_s = 60"),
                       13.0 / 3.0, 1e-12);
    pub_close(p);
}

Test(ingest, broker_restart_reconnects_and_resubscribes)
{
    struct pub *p;

    start_daemon(NULL);
    cr_assert_eq(pub_open(&p, broker.port, "restart-pub", 1), 0);
    cr_assert_eq(pub_send(p, "num/r", "1", 1), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(1);
    pub_close(p);

    spawn_clear_notes(&sp);
    cr_assert_eq(broker_restart(&broker), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0,
                 "no reconnect and resubscribe");
    cr_assert_eq(pub_open(&p, broker.port, "restart-pub2", 1), 0);
    cr_assert_eq(pub_send(p, "num/r", "2", 1), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(2);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(spawn_log_count(&sp, "lost"), 1,
                 "one warning for the lost connection");
    cr_expect_float_eq(db_double(sp.db_path, "SELECT sum(sum) FROM rollups "
                                             "WHERE resolution_s = 10"),
                       3.0, 1e-12);
    pub_close(p);
}

Test(ingest, bad_payloads_are_counted_and_the_daemon_goes_on)
{
    struct pub *p;
    static const char *const bad[] = {
        "", "{", "hello", "{\"a\":\"x\"}", "[1,2", "\xff\xfe"};

    start_daemon(NULL);
    cr_assert_eq(pub_open(&p, broker.port, "bad-pub", 1), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(pub_send(p, "sensors/bad/x", bad[i], strlen(bad[i])), 0);
    cr_assert_eq(pub_send(p, "num/ok", "42", 2), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(spawn_stat(&sp, "dropped_invalid"), 6);
    cr_expect_eq(spawn_stat(&sp, "received"), 7);
    cr_expect(spawn_log_contains(&sp, "sensors/bad/x"),
              "the warning names the topic");
    pub_close(p);
}

Test(ingest, a_restart_keeps_series_ids)
{
    struct pub *p;
    int64_t id1;

    start_daemon(NULL);
    cr_assert_eq(pub_open(&p, broker.port, "ids-pub", 1), 0);
    cr_assert_eq(pub_send(p, "num/a", "1", 1), 0);
    cr_assert_eq(pub_send(p, "num/b", "1", 1), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(2);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    id1 = db_int(sp.db_path, "SELECT id FROM series WHERE topic = 'num/b'");

    spawn_clear_notes(&sp);
    start_daemon(NULL);
    cr_assert_eq(pub_send(p, "num/b", "2", 1), 0);
    cr_assert_eq(pub_send(p, "num/c", "2", 1), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(4);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(
        db_int(sp.db_path, "SELECT id FROM series WHERE topic = 'num/b'"), id1);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series"), 3);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(DISTINCT series_id) FROM "
                                    "rollups"),
                 3, "rollups of num/b stay under one id");
    pub_close(p);
}
