/*
 * test_hostile_state.c - what devices can do to the daemon's state, tried
 * end to end (real broker, real daemon binary, real SQLite file):
 *   - sums that overflow the range of a double, and a file that already
 *     holds an infinity from an older binary;
 *   - a record the store refuses (a trigger another program added);
 *   - samples refused inside messages that are partly kept.
 * Every test ends with a clean stop and checks the accounting identities
 * of the README in the final ingest_stats row, exactly.
 *
 * Threads: the test's own, plus libmosquitto's publisher thread (pub.h).
 * Memory: test code.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "pub.h"
#include "series.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS     20000
#define DBL_MAX_SQL "1.7976931348623157e308"
/* Rows with a value outside the finite doubles (or NULL). */
#define NON_FINITE_ROWS                                                        \
    "SELECT count(*) FROM rollups WHERE NOT (abs(sum) <= " DBL_MAX_SQL         \
    " AND abs(min) <= " DBL_MAX_SQL " AND abs(max) <= " DBL_MAX_SQL            \
    " AND abs(last) <= " DBL_MAX_SQL ")"

static struct broker broker;
static struct spawn sp;
static int finest_s = 10; /* the finest resolution of the test's config */

static void setup(void)
{
    cr_assert_eq(spawn_suite_init(&sp, &broker), 0, "broker or spawn start");
}

static void teardown(void)
{
    spawn_suite_fini(&sp, &broker);
}

/* j/#: JSON with receive times; t/#: JSON with the payload's "ts".
 * pipeline: the [pipeline] keys besides ring_bytes. */
static void start_daemon_env(const char *pipeline, const char *const *env)
{
    char conf[4096];

    snprintf(conf, sizeof(conf),
             "[mqtt]\nhost = 127.0.0.1\nport = %d\nclient_id = sp-state-%d\n"
             "reconnect_min_ms = 50ms\nreconnect_max_ms = 500ms\n"
             "[subscription j]\ntopic = j/#\nformat = json\n"
             "[subscription t]\ntopic = t/#\nformat = json\n"
             "timestamp_field = ts\n"
             "[pipeline]\nring_bytes = 1MiB\n%s"
             "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
             "cache_mb = 4\nheap_limit_mb = 16\n"
             "[log]\nlevel = info\nstats_interval_s = 1s\n",
             broker.port, (int) getpid(), pipeline, sp.db_path);
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_start_ready(&sp, conf, env, WAIT_MS), 0, "daemon start");
}

static void start_daemon(const char *pipeline)
{
    start_daemon_env(pipeline, NULL);
}

static void stop_daemon(void)
{
    spawn_clear_notes(&sp); /* a full notify socket would block it */
    cr_assert_eq(spawn_stop(&sp, SIGTERM, 3 * WAIT_MS), 0, "clean exit");
}

/* Runs sql on the file with its own connection, waiting out locks. */
static void db_exec(const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    cr_assert_eq(sqlite3_open(sp.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s",
                 sql, err ? err : "?");
    sqlite3_close(db);
}

/* Samples stored at the finest resolution for one topic. */
static int64_t stored_on(const char *topic)
{
    return spawn_stored_on(&sp, topic, finest_s);
}

/* Samples stored at the finest resolution reach want within ms, reading
 * the notify socket meanwhile (see await_stored_on()). */
static void await_stored(int64_t want, int ms)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) ms;

    while (spawn_stored(&sp, finest_s) < want) {
        cr_assert(wait_now_ms() < deadline, "%lld of %lld samples stored",
                  (long long) spawn_stored(&sp, finest_s), (long long) want);
        spawn_clear_notes(&sp);
        wait_nap_ms(10);
    }
}

static void await_stored_on(const char *topic, int64_t want)
{
    cr_assert_eq(spawn_await_stored_on(&sp, topic, finest_s, want, WAIT_MS), 0,
                 "%lld of %lld stored on %.60s", (long long) stored_on(topic),
                 (long long) want, topic);
}

/* The message identity and the sample identities of the README, in the
 * final ingest_stats row (after a clean stop); before is what earlier runs
 * stored in the same file (counters start again at 0). */
static void expect_identities(int64_t before)
{
    cr_expect_eq(spawn_stat(&sp, "received - decoded - dropped_overflow - "
                                 "dropped_oversize - dropped_invalid - "
                                 "dropped_series_limit"),
                 0, "received = decoded + dropped_*");
    cr_expect_eq(spawn_stored(&sp, finest_s) - before,
                 spawn_stat(&sp, "samples - dropped_samples_store"),
                 "sum(count) of the finest = samples - "
                 "dropped_samples_store");
}

static void pub_text(struct pub *p, const char *topic, const char *payload)
{
    cr_assert_eq(pub_send(p, topic, payload, strlen(payload)), 0);
}

TestSuite(state, .init = setup, .fini = teardown, .timeout = 120);

/* ---- overflowing sums ------------------------------------------------- */

/*
 * Two samples of 1e308 make +inf in a plain double sum, two of -1e308
 * (after a commit) -inf; merged in SQL that is NaN, which SQLite stores as
 * NULL, and the NOT NULL constraint then failed every batch until the
 * daemon gave up. Now sums saturate: nothing non-finite reaches the file,
 * other devices go on, and a restart on the same file works.
 */
Test(state, overflowing_sums_saturate_and_other_devices_go_on)
{
    struct pub *p;

    start_daemon("workers = 2\n");
    cr_assert_eq(pub_open(&p, broker.port, "ovf-pub", 1), 0);
    pub_text(p, "j/ovf", "[{\"a\":1e308},{\"a\":1e308}]");
    pub_text(p, "j/calm", "{\"v\":1}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/ovf", 2);
    pub_text(p, "j/ovf", "[{\"a\":-1e308},{\"a\":-1e308}]");
    pub_text(p, "j/calm", "{\"v\":2}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/ovf", 4);
    await_stored_on("j/calm", 2);
    /* Still up: one more from another device is stored. */
    pub_text(p, "j/calm", "{\"v\":3}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/calm", 3);
    cr_expect_eq(db_int(sp.db_path, NON_FINITE_ROWS), 0,
                 "a non-finite value reached the store");
    cr_expect_float_eq(db_double(sp.db_path,
                                 "SELECT max(max) FROM rollups r JOIN "
                                 "series s ON s.id = r.series_id WHERE "
                                 "s.topic = 'j/ovf'"),
                       1e308, 1e293, "max stays exact");
    stop_daemon();
    cr_expect_eq(spawn_stat(&sp, "received"), 5);
    cr_expect_eq(spawn_stat(&sp, "samples"), 7);
    expect_identities(0);

    /* A restart on the same file works, and merges into the same rows. */
    start_daemon("workers = 2\n");
    pub_text(p, "j/ovf", "[{\"a\":1e308},{\"a\":1e308}]");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/ovf", 6);
    pub_close(p);
    stop_daemon();
    cr_expect_eq(db_int(sp.db_path, NON_FINITE_ROWS), 0);
    cr_expect_eq(spawn_stat(&sp, "samples"), 2);
    expect_identities(7);
}

/* Schema version 1, as the first release created it. */
static const char schema_v1[] =
    "CREATE TABLE series (id INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
    " field TEXT NOT NULL, tags TEXT, created_ms INTEGER NOT NULL,"
    " UNIQUE (topic, field));"
    "CREATE TABLE rollups (series_id INTEGER NOT NULL,"
    " resolution_s INTEGER NOT NULL, bucket_ms INTEGER NOT NULL,"
    " count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL,"
    " max REAL NOT NULL, last REAL NOT NULL, last_ms INTEGER NOT NULL,"
    " PRIMARY KEY (series_id, resolution_s, bucket_ms)) WITHOUT ROWID;"
    "CREATE INDEX rollups_age ON rollups (resolution_s, bucket_ms);"
    "CREATE TABLE samples (series_id INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL, value REAL NOT NULL);"
    "CREATE INDEX samples_series_ts ON samples (series_id, ts_ms);"
    "CREATE INDEX samples_age ON samples (ts_ms);"
    "CREATE TABLE ingest_stats (ts_ms INTEGER PRIMARY KEY,"
    " received INTEGER NOT NULL, decoded INTEGER NOT NULL,"
    " samples INTEGER NOT NULL, dropped_overflow INTEGER NOT NULL,"
    " dropped_oversize INTEGER NOT NULL, dropped_invalid INTEGER NOT NULL,"
    " dropped_series_limit INTEGER NOT NULL, late INTEGER NOT NULL,"
    " clock_skew INTEGER NOT NULL, series INTEGER NOT NULL,"
    " paused_ms INTEGER NOT NULL, commit_p50_ms REAL, commit_p99_ms REAL);"
    "CREATE VIEW rollups_v AS SELECT r.bucket_ms / 1000 AS time,"
    " s.topic AS topic, s.field AS field, s.tags AS tags,"
    " r.resolution_s AS resolution_s, r.count AS count,"
    " r.sum / r.count AS mean, r.min AS min, r.max AS max, r.last AS last"
    " FROM rollups AS r JOIN series AS s ON s.id = r.series_id;"
    "PRAGMA user_version = 1;";

/*
 * A file an older binary wrote, holding +inf (and -inf) in a bucket: the
 * schema migration saturates them at start, so merging samples whose sum
 * is -inf without saturation into the same bucket makes no NaN, and the
 * daemon keeps going.
 */
Test(state, migration_repairs_non_finite_rows_of_an_older_file)
{
    static const int res[] = {10, 60, 3600};
    char payload[128];
    char sql[512];
    int64_t t = ((int64_t) time(NULL) / 10) * 10 - 30; /* a full bucket */
    struct pub *p;

    db_exec(schema_v1);
    db_exec("INSERT INTO series VALUES (1, 't/old', 'a', NULL, 1)");
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO rollups VALUES (1, %d, %lld, 2, 9e999, %s,"
                 " 9e999, 1, %lld)",
                 res[i], (long long) (t / res[i] * res[i] * 1000),
                 i == 2 ? "-9e999" : "1", (long long) t * 1000);
        db_exec(sql);
    }
    cr_assert_eq(db_int(sp.db_path, NON_FINITE_ROWS), 3);

    start_daemon("workers = 2\n");
    cr_expect_geq(db_int(sp.db_path, "PRAGMA user_version"), 2);
    /* The file holds rollups: it keeps its layout, and the start says
     * how to convert it. */
    cr_expect(spawn_log_contains(&sp, "keeps rollups WITHOUT ROWID (made "
                                      "before schema 8)"));
    cr_expect_eq(db_int(sp.db_path, NON_FINITE_ROWS), 0,
                 "the migration left an infinity in the file");
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM rollups WHERE"
                                    " sum = " DBL_MAX_SQL),
                 3, "+inf saturated at DBL_MAX");
    /* The sum of these is -inf without saturation: merged with +inf, NaN. */
    snprintf(payload, sizeof(payload),
             "[{\"ts\":%lld,\"a\":-1e308},{\"ts\":%lld,\"a\":-1e308}]",
             (long long) t, (long long) t);
    cr_assert_eq(pub_open(&p, broker.port, "mig-pub", 1), 0);
    pub_text(p, "t/old", payload);
    pub_text(p, "j/calm", "{\"v\":1}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("t/old", 4);
    await_stored_on("j/calm", 1);
    pub_close(p);
    stop_daemon();
    cr_expect_eq(db_int(sp.db_path, NON_FINITE_ROWS), 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM rollups WHERE"
                                    " series_id = 1 AND count = 4"),
                 3, "merged into the old rows at every resolution");
    cr_expect_eq(spawn_stat(&sp, "samples"), 3);
    expect_identities(2);
}

/* ---- a record the store refuses -------------------------------------- */

/*
 * Another program adds a trigger that refuses the rollups of one series.
 * Each refused record is dropped alone and its samples counted in
 * dropped_samples_store; every other record of the same batches commits.
 * Before, one refused record failed the whole batch five times and the
 * daemon exited, losing every device's uncommitted data.
 */
Test(state, a_record_the_store_refuses_is_dropped_alone_and_counted)
{
    struct pub *p;

    start_daemon("workers = 2\n");
    db_exec("CREATE TRIGGER refuse_bad BEFORE INSERT ON rollups WHEN "
            "NEW.series_id IN (SELECT id FROM series WHERE topic = 'j/bad') "
            "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END;");
    cr_assert_eq(pub_open(&p, broker.port, "refuse-pub", 1), 0);
    for (int i = 0; i < 5; i++) {
        pub_text(p, "j/bad", "{\"v\":1,\"w\":2}");
        pub_text(p, "j/good", "{\"v\":1}");
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/good", 5);
    cr_assert_eq(
        spawn_wait_log(&sp, "record was refused and dropped", 1, WAIT_MS), 0);
    pub_text(p, "j/good", "{\"v\":1}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/good", 6);
    pub_close(p);
    stop_daemon();

    cr_expect_eq(stored_on("j/bad"), 0);
    cr_expect_eq(spawn_stat(&sp, "samples"), 16);
    cr_expect_eq(spawn_stat(&sp, "dropped_samples_store"), 10);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE "
                                    "topic = 'j/bad'"),
                 2, "the series rows themselves were kept");
    cr_expect_leq(spawn_log_count(&sp, "record was refused"), 3,
                  "refusals are logged rate-limited");
    expect_identities(0);
}

/* ---- refused samples inside kept messages ----------------------------- */

/*
 * max_series = 3 and {"a":1,"b":2} on three topics: three samples stored,
 * three refused (one in a message that is partly kept), one message
 * counted as dropped_series_limit.
 */
Test(state, samples_refused_inside_kept_messages_are_counted)
{
    struct pub *p;

    start_daemon("workers = 1\nmax_series = 3\n");
    cr_assert_eq(pub_open(&p, broker.port, "limit-pub", 1), 0);
    pub_text(p, "j/l1", "{\"a\":1,\"b\":2}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/l1", 2);
    pub_text(p, "j/l2", "{\"a\":1,\"b\":2}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/l2", 1);
    pub_text(p, "j/l3", "{\"a\":1,\"b\":2}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    stop_daemon();

    cr_expect_eq(spawn_stat(&sp, "received"), 3);
    cr_expect_eq(spawn_stat(&sp, "decoded"), 2);
    cr_expect_eq(spawn_stat(&sp, "dropped_series_limit"), 1);
    cr_expect_eq(spawn_stat(&sp, "samples"), 3);
    cr_expect_eq(spawn_stat(&sp, "dropped_samples_series_limit"), 3);
    cr_expect_eq(spawn_stat(&sp, "samples + dropped_samples_series_limit"), 6,
                 "samples in payloads = samples + refused");
    expect_identities(0);
}

/* ---- hash flooding ---------------------------------------------------- */

#define FLOOD_KEYS (SERIES_PROBE_MAX + 72)

/* Field names whose series keys on topic share one home slot of a shard
 * with max_series entries, under the hash the test process has now (the
 * daemon's own code, linked in). */
static void colliding_fields(const char *topic, uint32_t max_series,
                             char (*names)[16], int n)
{
    static struct series_limit lim;
    struct series_table t;
    uint64_t th = series_topic_hash(topic, strlen(topic));
    uint32_t home = UINT32_MAX;
    int found = 0;

    lim.max = max_series;
    cr_assert_eq(series_table_init(&t, max_series, 64, &lim), 0);
    for (unsigned i = 0; found < n; i++) {
        int len = snprintf(names[found], 16, "f%u", i);
        struct series_key k = {topic, strlen(topic), names[found], (size_t) len,
                               th};
        uint32_t slot = (uint32_t) series_key_hash(&k) & t.index_mask;
        if (home == UINT32_MAX)
            home = slot;
        if (slot == home)
            found++;
    }
    series_table_fini(&t);
}

/* Two messages carrying the FLOOD_KEYS names as fields, half each. */
static void send_flood(struct pub *p, char (*names)[16])
{
    static char payload[FLOOD_KEYS * 24];

    for (int half = 0; half < 2; half++) {
        size_t n = 0;
        payload[n++] = '{';
        for (int i = half; i < FLOOD_KEYS; i += 2)
            n += (size_t) snprintf(payload + n, sizeof(payload) - n,
                                   "%s\"%s\":1", n > 1 ? "," : "", names[i]);
        payload[n++] = '}';
        payload[n] = '\0';
        pub_text(p, "j/flood", payload);
    }
}

/*
 * Field names found offline to collide under a known hash (here the
 * daemon's own hash with a fixed seed, by a test hook): past
 * SERIES_PROBE_MAX the registry refuses them and counts each in
 * dropped_samples_probe, instead of walking ever longer chains. With the
 * per-process random key the same names are ordinary: all stored.
 */
Test(state, keys_that_collide_under_a_fixed_seed_are_refused_past_the_cap)
{
    static char names[FLOOD_KEYS][16];
    const char *const fixed[] = {"SENSORPIPE_TEST_HASH_SEED=7", NULL};
    struct pub *p;

    cr_assert_eq(series_hash_init("7"), 0);
    colliding_fields("j/flood", 1000, names, FLOOD_KEYS);
    start_daemon_env("workers = 1\nmax_series = 1000\n", fixed);
    cr_assert_eq(pub_open(&p, broker.port, "flood-pub", 1), 0);
    send_flood(p, names);
    pub_text(p, "j/calm", "{\"v\":1}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/calm", 1);
    await_stored_on("j/flood", SERIES_PROBE_MAX);
    stop_daemon();
    cr_expect_eq(spawn_stat(&sp, "received"), 3);
    cr_expect_eq(spawn_stat(&sp, "decoded"), 3);
    cr_expect_eq(spawn_stat(&sp, "samples"), SERIES_PROBE_MAX + 1);
    cr_expect_eq(spawn_stat(&sp, "dropped_samples_probe"),
                 FLOOD_KEYS - SERIES_PROBE_MAX);
    cr_expect_eq(spawn_stat(&sp, "dropped_samples_series_limit"), 0);
    cr_expect(spawn_log_contains(&sp, "collides with"),
              "a warning tells what happened");
    expect_identities(0);

    /* The random key of a normal start: the same names all get a series. */
    start_daemon("workers = 1\nmax_series = 1000\n");
    send_flood(p, names);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/flood", SERIES_PROBE_MAX + FLOOD_KEYS);
    pub_close(p);
    stop_daemon();
    cr_expect_eq(spawn_stat(&sp, "samples"), FLOOD_KEYS);
    cr_expect_eq(spawn_stat(&sp, "dropped_samples_probe"), 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE "
                                    "topic = 'j/flood'"),
                 FLOOD_KEYS);
    expect_identities(SERIES_PROBE_MAX + 1);
}

/* ---- key space -------------------------------------------------------- */

/*
 * Eight messages whose topics are 60 KB, each with 110 fields, used to
 * fill every shard's key text (a copy of the topic per field), so that of
 * 1,000 new devices only a few hundred got their series. A topic's text
 * is now stored once for all its fields: every device gets its series.
 */
Test(state, a_flood_of_long_topics_with_many_fields_leaves_room_for_devices)
{
    static char topic[60003];
    static char payload[2048];
    char dev[256];
    char pad[151];
    struct pub *p;
    size_t n = 0;

    start_daemon("workers = 2\nmax_topic_bytes = 65535\n");
    payload[n++] = '{';
    for (int f = 0; f < 110; f++)
        n += (size_t) snprintf(payload + n, sizeof(payload) - n, "%s\"f%d\":1",
                               f ? "," : "", f);
    payload[n++] = '}';
    cr_assert_eq(pub_open(&p, broker.port, "keys-pub", 1), 0);
    for (int i = 0; i < 8; i++) {
        memset(topic, 'a' + i, sizeof(topic) - 1);
        memcpy(topic, "j/", 2);
        topic[sizeof(topic) - 1] = '\0';
        cr_assert_eq(pub_send(p, topic, payload, n), 0);
    }
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < 1000; i++) {
        snprintf(dev, sizeof(dev), "j/dev/%s/%d", pad, i);
        pub_text(p, dev, "{\"t\":21.5,\"h\":40}");
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    await_stored(880 + 2000, 60000);
    stop_daemon();
    cr_expect_eq(spawn_stat(&sp, "received"), 1008);
    cr_expect_eq(spawn_stat(&sp, "samples"), 2880);
    cr_expect_eq(spawn_stat(&sp, "dropped_samples_series_limit"), 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE "
                                    "topic LIKE 'j/dev/%'"),
                 2000, "every new device got its series");
    expect_identities(0);
}

/* A topic longer than max_topic_bytes (1 KiB by default) is refused and
 * counted with its reason; one of exactly that length is stored. */
Test(state, a_topic_over_max_topic_bytes_is_refused_with_its_reason)
{
    static char at_max[1025];
    static char over[1026];
    struct pub *p;

    memset(at_max, 'm', sizeof(at_max) - 1);
    memcpy(at_max, "j/", 2);
    memset(over, 'o', sizeof(over) - 1);
    memcpy(over, "j/", 2);
    start_daemon("workers = 2\n");
    cr_assert_eq(pub_open(&p, broker.port, "topic-pub", 1), 0);
    pub_text(p, over, "{\"v\":1}");
    pub_text(p, at_max, "{\"v\":1}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    await_stored_on(at_max, 1);
    stop_daemon();
    cr_expect_eq(spawn_stat(&sp, "received"), 2);
    cr_expect_eq(spawn_stat(&sp, "dropped_oversize"), 1);
    cr_expect_eq(spawn_stat(&sp, "samples"), 1);
    cr_expect(spawn_log_contains(&sp, "topic over max_topic_bytes"),
              "the warning says why");
    expect_identities(0);
}

/* ---- device churn ----------------------------------------------------- */

#define CHURN_MAX 100

/* The `series` counter of the newest ingest_stats row reaches want. */
static void await_live_series(int64_t want)
{
    uint64_t deadline = wait_now_ms() + WAIT_MS;

    while (spawn_stat(&sp, "series") != want) {
        cr_assert(wait_now_ms() < deadline, "series = %lld, want %lld",
                  (long long) spawn_stat(&sp, "series"), (long long) want);
        spawn_clear_notes(&sp); /* see await_stored_on() */
        wait_nap_ms(50);
    }
}

static void churn_wave(struct pub *p, int wave)
{
    char topic[64];

    for (int i = 0; i < CHURN_MAX; i++) {
        snprintf(topic, sizeof(topic), "j/churn/%d/%d", wave, i);
        pub_text(p, topic, "{\"v\":1}");
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored((wave + 1) * CHURN_MAX, WAIT_MS);
}

/*
 * Devices come and go: 3 x max_series of them over time. Idle series
 * leave the registry (the `series` counter is the live ones), so every
 * wave is stored and none refused; a device that returns gets its old
 * id, also after a restart, which loads only the recently active.
 */
Test(state, devices_that_come_and_go_never_fill_the_registry)
{
    const char *pipe = "workers = 2\nmax_series = 100\nseries_idle_time = 3s\n"
                       "[aggregate]\nresolutions = 1s, 2s\n"
                       "allowed_lateness = 0s\n";
    struct pub *p;

    finest_s = 1;
    start_daemon(pipe);
    cr_assert_eq(pub_open(&p, broker.port, "churn-pub", 1), 0);
    for (int wave = 0; wave < 3; wave++) {
        churn_wave(p, wave);
        await_live_series(CHURN_MAX); /* a stats row after the wave */
        await_live_series(0);         /* idle for 3 s: all left */
    }
    pub_text(p, "j/churn/0/7", "{\"v\":2}"); /* back after two waves */
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/churn/0/7", 2);
    stop_daemon();
    cr_expect_eq(spawn_stat(&sp, "received"), 3 * CHURN_MAX + 1);
    cr_expect_eq(spawn_stat(&sp, "samples"), 3 * CHURN_MAX + 1);
    cr_expect_eq(spawn_stat(&sp, "dropped_series_limit"), 0);
    cr_expect_eq(spawn_stat(&sp, "dropped_samples_series_limit"), 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series"),
                 3 * CHURN_MAX, "a returning device keeps its series row");
    cr_expect_eq(db_int(sp.db_path,
                        "SELECT count(DISTINCT r.series_id) FROM rollups r "
                        "JOIN series s ON s.id = r.series_id WHERE "
                        "s.topic = 'j/churn/0/7'"),
                 1, "and its id");
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM rollups WHERE "
                                    "series_id NOT IN (SELECT id FROM "
                                    "series)"),
                 0, "no rollup under an id the store does not know");
    expect_identities(0);

    /* A restart loads only the recently active; an old device that sends
     * again is found under its id. */
    start_daemon(pipe);
    cr_expect(!spawn_log_contains(&sp, " 300 series known"),
              "only recently active series are loaded");
    pub_text(p, "j/churn/1/3", "{\"v\":2}");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored_on("j/churn/1/3", 2);
    pub_close(p);
    stop_daemon();
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series"),
                 3 * CHURN_MAX);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM rollups WHERE "
                                    "series_id NOT IN (SELECT id FROM "
                                    "series)"),
                 0);
    expect_identities(3 * CHURN_MAX + 1);
}
