/*
 * test_faults.c - broker, daemon and store faults, end to end: a real
 * mosquitto, the daemon binary, a real SQLite file.
 *
 * What each group proves (README "Guarantees"):
 *   - broker: a clean broker restart loses nothing of a persistent QoS 1
 *     session, even messages queued while the daemon was away; after a
 *     SIGKILLed broker the daemon reconnects and stores again; a broker
 *     that is not there at start, or refuses the credentials, neither
 *     stops nor floods it.
 *   - daemon: SIGTERM under a flood keeps the accounting exact; SIGKILL
 *     leaves a sound file whose series keep their ids; a crash loses at
 *     most two commit intervals of traffic plus what the rings held.
 *   - store: a long reader does not stop ingestion; a writer holding the
 *     lock delays it without loss; a full disk pauses ingestion; a deleted
 *     file makes the daemon exit 1.
 *
 * Every sample of a test carries the same payload timestamp (a bucket ten
 * minutes old), so each series stays in one finest bucket and only the
 * commit_interval_ms hand-off moves its samples to the store: the crash
 * bound below would not hold without it.
 *
 * Threads: the test's own, plus libmosquitto's publisher thread (pub.h).
 * Memory: test code, allocates freely.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"
#include "worker.h"

#define WAIT_MS 15000
#define FINEST_SUM                                                             \
    "SELECT coalesce(sum(count), 0) FROM rollups WHERE "                       \
    "resolution_s = 10"
/* Two workers, a small ring, quick reconnects: what most tests run. */
#define PIPELINE "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
#define FAST     "[mqtt]\nreconnect_min_ms = 50ms\nreconnect_max_ms = 500ms\n"

static struct broker broker;
static struct spawn sp;
static int64_t ts_ms;     /* the payload time of every reading */
static pid_t own_pid = 0; /* a mosquitto started by this file, not broker.h */

/* ---- helpers ------------------------------------------------------------- */

static void own_broker_stop(void)
{
    int st;

    if (own_pid <= 0)
        return;
    kill(own_pid, SIGTERM);
    waitpid(own_pid, &st, 0);
    own_pid = 0;
}

static void setup(void)
{
    struct timespec now;

    cr_assert_eq(spawn_init(&sp), 0);
    clock_gettime(CLOCK_REALTIME, &now);
    ts_ms = ((int64_t) now.tv_sec / 10 - 60) * 10000; /* 10 min ago */
}

static void teardown(void)
{
    spawn_suite_fini(&sp, &broker);
    own_broker_stop();
}

/* The configuration every test starts from; extra reopens sections to add
 * what the test is about (a key may be given once). */
static void make_conf(char *buf, size_t len, int port, const char *extra)
{
    snprintf(buf, len,
             "[mqtt]\n"
             "host = 127.0.0.1\n"
             "port = %d\n"
             "client_id = sp-faults-%d\n"
             "[subscription f]\n"
             "topic = f/#\n"
             "qos = 1\n"
             "format = json\n"
             "timestamp_field = ts\n"
             "[subscription n]\n"
             "topic = n/#\n"
             "qos = 1\n"
             "format = number\n"
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
             port, (int) getpid(), sp.db_path, extra ? extra : "");
}

/* Starts the daemon on port; waits for READY=1, and for every SUBACK when
 * subscribed (the daemon says "subscribed" in its STATUS). */
static void start_on(int port, const char *extra, const char *const *env,
                     bool subscribed)
{
    char conf[4096];

    make_conf(conf, sizeof(conf), port, extra);
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_start(&sp, conf, env), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "READY=1", WAIT_MS), 0,
                 "daemon never became ready");
    if (subscribed)
        cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0,
                     "daemon never subscribed");
}

static void start_daemon(const char *extra, const char *const *env)
{
    start_on(broker.port, extra, env, true);
}

static int64_t stored(void)
{
    return db_int(sp.db_path, FINEST_SUM);
}

static void await_stored(int64_t want)
{
    cr_assert_eq(spawn_await_stored(&sp, 10, want, WAIT_MS), 0,
                 "only %lld of %lld samples stored",
                 (long long) spawn_stored(&sp, 10), (long long) want);
}

/* Waits until sql (one integer) gives at least want. */
static void await_sql(const char *sql, int64_t want)
{
    uint64_t deadline = wait_now_ms() + WAIT_MS;

    while (db_int(sp.db_path, sql) < want) {
        cr_assert(wait_now_ms() < deadline, "%s: %lld, not %lld", sql,
                  (long long) db_int(sp.db_path, sql), (long long) want);
        wait_nap_ms(10);
    }
}

/* The process runs (not exited, not yet reaped). */
static bool alive(pid_t pid)
{
    int st;

    return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

/* One reading {"ts":..,"v":k} on f/<prefix><k % topics>, padded with
 * spaces to pad bytes when pad is larger. */
static void send_reading(struct pub *p, const char *prefix, int topics, int k,
                         size_t pad)
{
    char topic[128];
    char payload[2048];
    int n;

    snprintf(topic, sizeof(topic), "f/%s%d", prefix, k % topics);
    n = snprintf(payload, sizeof(payload), "{\"ts\":%lld,\"v\":%d}",
                 (long long) ts_ms, k);
    cr_assert(n > 0 && pad < sizeof(payload));
    if ((size_t) n < pad) {
        memset(payload + n, ' ', pad - (size_t) n);
        n = (int) pad;
    }
    cr_assert_eq(pub_send(p, topic, payload, (size_t) n), 0);
}

/* n readings numbered from first, then every PUBACK. */
static void publish_acked(struct pub *p, const char *prefix, int topics,
                          int first, int n)
{
    for (int k = first; k < first + n; k++)
        send_reading(p, prefix, topics, k, 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0, "the broker did not ack");
}

/* A counter of the last "stats:" log line (from_end 0) or of the one
 * before (1), such as " received=" or " paused_ms="; -1 when missing. */
static int64_t stats_value(const char *key, int from_end)
{
    int64_t last = -1;
    int64_t prev = -1;
    char line[2048];
    FILE *f = fopen(sp.log_path, "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *r = strstr(line, key);
        if (strstr(line, "stats: ") == NULL || r == NULL)
            continue;
        prev = last;
        last = strtoll(r + strlen(key), NULL, 10);
    }
    fclose(f);
    return from_end == 0 ? last : prev;
}

/* Runs sql on its own connection; text of the first column, or "". */
static void db_text(const char *sql, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    out[0] = '\0';
    cr_assert_eq(sqlite3_open_v2(sp.db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, len, "%s", (const char *) sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int64_t conn_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = INT64_MIN;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* ---- a broker on a port chosen before it starts -------------------------- */

/*
 * broker.h picks its port when it starts; the unreachable-broker test needs
 * the daemon configured first. So this starts /usr/sbin/mosquitto itself on
 * a given port, with the same lifted limits; own_pid is the only process
 * it ever signals.
 */
static void own_broker_start(int port)
{
    char conf[256];
    char out[256];
    uint64_t deadline;
    FILE *f;

    snprintf(conf, sizeof(conf), "%s/own-mosquitto.conf", sp.dir);
    snprintf(out, sizeof(out), "%s/own-mosquitto.out", sp.dir);
    f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "listener %d 127.0.0.1\nallow_anonymous true\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
            "max_queued_bytes 0\nmax_inflight_bytes 0\n%s",
            port, geteuid() == 0 ? "user root\n" : "");
    fclose(f);
    own_pid = fork();
    cr_assert(own_pid >= 0);
    if (own_pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *) NULL);
        _exit(127);
    }
    deadline = wait_now_ms() + WAIT_MS;
    while (!broker_port_accepts(port)) {
        cr_assert(alive(own_pid), "mosquitto on port %d exited", port);
        cr_assert(wait_now_ms() < deadline, "mosquitto never listened");
        wait_nap_ms(10);
    }
}

/* ---- broker faults ------------------------------------------------------- */

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 60);

/*
 * A clean broker stop (SIGTERM saves its persistence) and restart, twice.
 * Between the two, while the daemon is still backing off, a publisher sends
 * B messages: the broker queues them in the daemon's persistent session,
 * saves them at the second stop and hands them over when the daemon is
 * back. Every message the broker acknowledged ends up stored, once.
 */
Test(faults, broker_restarts_lose_no_acked_message)
{
    const int a = 300, b = 300, c = 300;
    struct pub *p;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    /* 2 s backoff: the daemon stays away for 1..2 s after each loss, the
     * window in which B is published. */
    start_daemon(
        "[mqtt]\nreconnect_min_ms = 2s\nreconnect_max_ms = 2s\n" PIPELINE,
        NULL);
    cr_assert_eq(pub_open(&p, broker.port, "restart-a", 1), 0);
    publish_acked(p, "dev", 5, 0, a);
    pub_close(p);
    await_stored(a);

    cr_assert_eq(broker_halt(&broker), 0);
    cr_assert_eq(spawn_wait_log(&sp, "lost", 1, WAIT_MS), 0);
    cr_assert_eq(broker_restart(&broker), 0);
    cr_assert_eq(pub_open(&p, broker.port, "restart-b", 1), 0);
    publish_acked(p, "dev", 5, a, b);
    pub_close(p);
    /* The point of B: the daemon was not connected when it arrived. */
    cr_assert_eq(spawn_log_count(&sp, "mqtt: connected to"), 1,
                 "the daemon came back before B was queued for it");
    cr_assert_eq(broker_halt(&broker), 0);
    spawn_clear_notes(&sp);
    cr_assert_eq(broker_restart(&broker), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0);
    await_stored(a + b);
    cr_expect(spawn_log_contains(&sp, "(session resumed)"),
              "the broker kept the session across two restarts");

    cr_assert_eq(pub_open(&p, broker.port, "restart-c", 1), 0);
    publish_acked(p, "dev", 5, a + b, c);
    pub_close(p);
    await_stored(a + b + c);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(stored(), a + b + c, "every acked message, exactly once");
    cr_expect_eq(spawn_stat(&sp, "received"), a + b + c, "no duplicate either");
}

/*
 * SIGKILL: the broker saves nothing, so what it held may be gone (that is
 * the broker's loss); the daemon must notice, reconnect, resubscribe and
 * store what comes next.
 */
Test(faults, broker_killed_daemon_reconnects_and_stores)
{
    struct pub *p;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(FAST PIPELINE, NULL);
    cr_assert_eq(pub_open(&p, broker.port, "kill-a", 1), 0);
    publish_acked(p, "k", 3, 0, 100);
    pub_close(p);
    await_stored(100);

    spawn_clear_notes(&sp);
    cr_assert_eq(broker_kill(&broker), 0);
    cr_assert_eq(spawn_wait_log(&sp, "lost", 1, WAIT_MS), 0,
                 "the daemon did not notice the broker's death");
    cr_assert(alive(sp.pid));
    cr_assert_eq(broker_restart(&broker), 0);
    cr_assert_eq(spawn_wait_log(&sp, "mqtt: connected to", 2, WAIT_MS), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0);
    cr_assert_eq(pub_open(&p, broker.port, "kill-b", 1), 0);
    publish_acked(p, "k", 3, 100, 100);
    pub_close(p);
    await_stored(200);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(stored(), 200);
}

/* No broker at start: READY anyway (the store is open), one warning, and
 * retries until a broker appears on that port. */
Test(faults, broker_unreachable_at_start_then_appears)
{
    int port = broker_free_port();
    char needle[64];
    struct pub *p;

    cr_assert(port > 0);
    start_on(port, FAST PIPELINE, NULL, false);
    snprintf(needle, sizeof(needle), "mqtt: cannot connect to 127.0.0.1:%d",
             port);
    cr_assert_eq(spawn_wait_log(&sp, needle, 1, WAIT_MS), 0);
    cr_expect_eq(spawn_log_count(&sp, "warning: mqtt: cannot connect"), 1,
                 "a warning, and one only: retries are rate-limited");
    cr_assert(alive(sp.pid), "the daemon gave up");

    spawn_clear_notes(&sp);
    own_broker_start(port);
    cr_assert_eq(spawn_wait_log(&sp, "mqtt: connected to", 1, WAIT_MS), 0,
                 "never connected once the broker was there");
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0);
    cr_assert_eq(pub_open(&p, port, "late-broker", 1), 0);
    cr_assert_eq(pub_send(p, "n/late", "7.5", 3), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    await_stored(1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(spawn_log_count(&sp, "cannot connect"), 1,
                 "the whole outage gave one line");
}

/* Wrong password: an error naming the reason, no exit, and retries no more
 * often than reconnect_max_ms. */
Test(faults, auth_refused_is_logged_and_retried_slowly)
{
    const int max_ms = 500;
    char passwd[256];
    char pwfile[256];
    char extra[1024];
    char conf[512];
    int64_t first;
    int64_t fourth;
    FILE *f;

    snprintf(passwd, sizeof(passwd), "%s/broker.passwd", sp.dir);
    cr_assert_eq(broker_passwd(passwd, "sp", "right-Passw0rd", 1), 0);
    snprintf(conf, sizeof(conf), "allow_anonymous false\npassword_file %s",
             passwd);
    cr_assert_eq(broker_start(&broker, conf), 0);
    snprintf(pwfile, sizeof(pwfile), "%s/pw", sp.dir);
    f = fopen(pwfile, "w");
    cr_assert_not_null(f);
    fputs("wrong-Passw0rd\n", f);
    fclose(f);
    cr_assert_eq(chmod(pwfile, 0600), 0);
    snprintf(extra, sizeof(extra),
             "[mqtt]\nusername = sp\npassword_file = %s\n"
             "reconnect_min_ms = 50ms\nreconnect_max_ms = %dms\n" PIPELINE,
             pwfile, max_ms);
    start_on(broker.port, extra, NULL, false);

    cr_assert_eq(spawn_wait_log(&sp, "refused the connection", 1, WAIT_MS), 0);
    /* The broker logs each refusal; its readiness probe made a connection
     * too, so connections are not counted. */
    first = (int64_t) wait_now_ms();
    while (broker_log_count(&broker, "not authorised") < 1) {
        cr_assert((int64_t) wait_now_ms() - first < WAIT_MS,
                  "no refusal in the broker log");
        wait_nap_ms(5);
    }
    first = (int64_t) wait_now_ms();
    while (broker_log_count(&broker, "not authorised") < 4) {
        cr_assert((int64_t) wait_now_ms() - first < WAIT_MS,
                  "the daemon stopped retrying");
        cr_assert(alive(sp.pid), "the daemon exited on a refusal");
        wait_nap_ms(5);
    }
    fourth = (int64_t) wait_now_ms();
    /* Three attempts after the first refusal: >= 3 waits of max_ms (10%
     * for the polling here). */
    cr_expect_geq(fourth - first, 3 * max_ms * 9 / 10,
                  "4 attempts in %lld ms: retries faster than "
                  "reconnect_max_ms",
                  (long long) (fourth - first));
    cr_expect(spawn_log_contains(&sp, "err: mqtt: 127.0.0.1:"),
              "an error-level line");
    cr_expect(spawn_log_contains(&sp, "ot authori") ||
                  spawn_log_contains(&sp, "ad user name or password"),
              "the line says why");
    cr_expect_eq(spawn_log_count(&sp, "refused the connection"), 1,
                 "refusals are rate-limited");
    cr_assert(alive(sp.pid));
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect(!spawn_log_contains(&sp, "Passw0rd"), "no secret in the log");
}

/* ---- daemon faults ------------------------------------------------------- */

/* {"a":k,"b":k} on one of 500 topics: two samples a message. */
static void flood(struct pub *p, int first, int n)
{
    char topic[64];
    char payload[96];

    for (int k = first; k < first + n; k++) {
        int len = snprintf(payload, sizeof(payload),
                           "{\"ts\":%lld,\"a\":%d,\"b\":%d}", (long long) ts_ms,
                           k, -k);
        snprintf(topic, sizeof(topic), "f/flood/%d", k % 500);
        cr_assert_eq(pub_send(p, topic, payload, (size_t) len), 0);
    }
}

/* SIGTERM in the middle of a flood: exit 0, and the final row accounts for
 * every message and every sample. */
Test(faults, sigterm_under_flood_keeps_exact_accounting)
{
    struct pub *p;
    int64_t received;
    int64_t samples;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(FAST PIPELINE, NULL);
    cr_assert_eq(pub_open(&p, broker.port, "flood-term", 0), 0);
    flood(p, 0, 10000);
    await_stored(1); /* the daemon is busy with the flood */
    cr_assert_eq(kill(sp.pid, SIGTERM), 0);
    flood(p, 10000, 10000);
    cr_assert_eq(spawn_wait_exit(&sp, WAIT_MS), 0, "clean exit");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);

    received = spawn_stat(&sp, "received");
    samples = spawn_stat(&sp, "samples");
    cr_assert_gt(received, 0);
    cr_expect_eq(received,
                 spawn_stat(&sp,
                            "decoded + dropped_overflow + dropped_oversize + "
                            "dropped_invalid + dropped_series_limit"),
                 "received = decoded + dropped_*");
    cr_expect_eq(spawn_stat(&sp, "decoded"), received, "nothing was dropped");
    cr_expect_eq(samples, 2 * received, "two samples a message");
    cr_expect_eq(stored(), samples, "sum(count) of the finest = samples");
    cr_expect_eq(db_int(sp.db_path, "SELECT sum(count) FROM rollups WHERE "
                                    "resolution_s = 3600"),
                 samples);
}

/*
 * SIGKILL in the middle of a flood: the file passes integrity_check, and
 * a daemon started on it keeps every series id and keeps storing.
 */
#define NEW_OLD                                                                \
    "SELECT count(*) FROM rollups r JOIN series s ON s.id = r.series_id "      \
    "WHERE s.field = 'a' AND r.resolution_s = 10 AND r.max >= 20000"
#define NEW_NEW                                                                \
    "SELECT coalesce(sum(count), 0) FROM rollups r JOIN series s ON "          \
    "s.id = r.series_id WHERE s.topic = 'f/new' AND r.resolution_s = 10"

Test(faults, sigkill_under_flood_leaves_a_sound_file)
{
    char before[65536];
    char after[65536];
    char sql[256];
    int64_t kept;
    int64_t max_id;
    struct pub *p;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(FAST PIPELINE, NULL);
    cr_assert_eq(pub_open(&p, broker.port, "flood-kill", 0), 0);
    flood(p, 0, 10000);
    await_stored(1);
    cr_assert_eq(spawn_stop(&sp, SIGKILL, WAIT_MS), 128 + SIGKILL);
    flood(p, 10000, 10000); /* into the void: QoS 0, nobody subscribed */
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);

    db_text("PRAGMA integrity_check", before, sizeof(before));
    cr_assert_str_eq(before, "ok");
    kept = stored();
    max_id = db_int(sp.db_path, "SELECT coalesce(max(id), 0) FROM series");
    cr_assert_gt(kept, 0);
    db_text("SELECT group_concat(id || ' ' || topic || ' ' || field, ';') "
            "FROM (SELECT * FROM series ORDER BY id)",
            before, sizeof(before));

    start_daemon(FAST PIPELINE, NULL);
    cr_assert_eq(pub_open(&p, broker.port, "after-kill", 1), 0);
    flood(p, 20000, 500);        /* every old topic once */
    for (int k = 0; k < 10; k++) /* and ten new ones */
        cr_assert_eq(pub_sendf(p, "f/new", "{\"ts\":%lld,\"n%d\":1}",
                               (long long) ts_ms, k),
                     0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    /* The old topics' new readings (a >= 20000: above all before) and the
     * new topic's ten. A plain count would not do: the broker may still
     * have held flood messages (QoS 0, queued before the kill) for the
     * session, and delivers them now. */
    await_sql(NEW_OLD, 500);
    await_sql(NEW_NEW, 10);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_log_info("sigkill: %lld samples at the kill, %lld now (%d new)",
                (long long) kept, (long long) stored(), 2 * 500 + 10);
    cr_expect_eq(db_int(sp.db_path, NEW_OLD), 500);
    cr_expect_eq(db_int(sp.db_path, NEW_NEW), 10);
    snprintf(sql, sizeof(sql),
             "SELECT group_concat(id || ' ' || topic || ' ' || field, ';') "
             "FROM (SELECT * FROM series WHERE id <= %lld ORDER BY id)",
             (long long) max_id);
    db_text(sql, after, sizeof(after));
    cr_expect_str_eq(after, before, "series ids changed after the crash");
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM series WHERE topic = 'f/new' AND id > %lld",
             (long long) max_id);
    cr_expect_eq(db_int(sp.db_path, sql), 10, "new series get new ids");
    cr_expect(!spawn_log_contains(&sp, "exists with another id"));
    db_text("PRAGMA integrity_check", after, sizeof(after));
    cr_expect_str_eq(after, "ok");
}

/*
 * The crash-loss bound. CRASH_RATE messages a second for CRASH_MS at QoS 1,
 * then SIGKILL. The daemon may lose what it had acknowledged but not committed:
 *   - open partials: up to one commit_interval_ms of traffic, plus one more
 *     interval for the batch the writer was committing:
 *     2 * CRASH_RATE * interval;
 *   - the ingress rings: each holds at most ring / (record + framing)
 *     messages. A record is worker_record_bytes(topic, payload); the ring
 *     adds an 8-byte header and rounds to 8 bytes (ring.h).
 * What the broker still held (sent, not yet acknowledged by libmosquitto,
 * or queued) is not lost: a restarted daemon with the same persistent
 * session gets it. So the loss is measured after that restart. (A message
 * whose PUBACK still sat in libmosquitto's queue at the kill may come
 * twice, QoS 1 being at least once: a few at most, which the measured loss
 * does not see.)
 */
#define CRASH_RATE     2000 /* messages a second */
#define CRASH_MS       3000
#define CRASH_PAYLOAD  1000 /* bytes a message: makes the ring term small */
#define CRASH_TOPICS   8
#define CRASH_RING     (512 * 1024) /* ring_bytes below, a power of two */
#define CRASH_INTERVAL 100          /* commit_interval_ms */
#define RING_HEADER    8

static int64_t sentinel_stored(void)
{
    return db_int(sp.db_path,
                  "SELECT coalesce(sum(count), 0) FROM rollups r JOIN "
                  "series s ON s.id = r.series_id WHERE s.topic = "
                  "'n/sentinel' AND r.resolution_s = 10");
}

Test(faults, sigkill_loses_at_most_two_commit_intervals_and_the_rings)
{
    const char *extra = FAST "[pipeline]\nworkers = 2\nring_bytes = 512KiB\n"
                             "max_payload_bytes = 1KiB\n";
    size_t rec = worker_record_bytes(strlen("f/crash0"), CRASH_PAYLOAD);
    size_t slot = (rec + 7) / 8 * 8 + RING_HEADER;
    int64_t per_ring = CRASH_RING / (int64_t) slot;
    int64_t t0, elapsed, rate, bound, at_kill, lost;
    uint64_t deadline;
    int sent = 0;
    struct pub *p;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(extra, NULL);
    cr_assert_eq(pub_open(&p, broker.port, "crash-pub", 1), 0);
    t0 = (int64_t) wait_now_ms();
    while ((elapsed = (int64_t) wait_now_ms() - t0) < CRASH_MS) {
        while (sent < CRASH_RATE * elapsed / 1000)
            send_reading(p, "crash", CRASH_TOPICS, sent++, CRASH_PAYLOAD);
        wait_nap_ms(1);
    }
    cr_assert_eq(spawn_stop(&sp, SIGKILL, WAIT_MS), 128 + SIGKILL);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    at_kill = stored();

    /* Collect what the broker kept for the session; the sentinel, sent
     * after the restart, arrives after everything queued before it. */
    start_daemon(extra, NULL);
    cr_assert_eq(pub_send(p, "n/sentinel", "1", 1), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    deadline = wait_now_ms() + WAIT_MS;
    while (sentinel_stored() < 1) {
        cr_assert(wait_now_ms() < deadline, "the sentinel never arrived");
        wait_nap_ms(10);
    }
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    rate = (int64_t) sent * 1000 / elapsed;
    if (rate < CRASH_RATE)
        rate = CRASH_RATE;
    bound = rate * 2 * CRASH_INTERVAL / 1000 + 2 * per_ring;
    lost = sent - (stored() - 1);
    cr_log_info("crash: published %d at %lld/s, stored %lld at the kill, "
                "%lld after the restart; lost %lld, bound %lld (%lld from "
                "commit intervals, %lld ring slots of %zu bytes)",
                sent, (long long) rate, (long long) at_kill,
                (long long) (stored() - 1), (long long) lost, (long long) bound,
                (long long) (rate * 2 * CRASH_INTERVAL / 1000),
                (long long) (2 * per_ring), slot);
    cr_expect_leq(lost, bound, "lost %lld > bound %lld", (long long) lost,
                  (long long) bound);
    cr_expect_lt(bound, sent / 2, "the bound must be able to fail");
}

/*
 * A worker thread that cannot start (the test hook fails the second, as a
 * thread limit would): the threads that did start are ended before the
 * store is closed, so the writer still writes its last ingest_stats row,
 * and the daemon exits 1 with the reason.
 */
Test(faults, a_worker_that_cannot_start_ends_the_others_first)
{
    static const char *const env[] = {"SENSORPIPE_TEST_FAIL_WORKER=1", NULL};
    char conf[4096];
    char ok[64];
    int rc;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    make_conf(conf, sizeof(conf), broker.port, FAST PIPELINE);
    cr_assert_eq(spawn_start(&sp, conf, env), 0);
    rc = spawn_wait_exit(&sp, WAIT_MS);
    cr_expect_eq(rc, 1, "exit status %d", rc);
    cr_expect(spawn_log_contains(&sp, "err: daemon: cannot start threads"));
    cr_expect(!spawn_log_contains(&sp, "READY=1"));
    cr_expect_eq(spawn_stat(&sp, "received"), 0,
                 "no final row: the writer was not ended before the store "
                 "closed");
    db_text("PRAGMA integrity_check", ok, sizeof(ok));
    cr_expect_str_eq(ok, "ok");
}

/* ---- store faults -------------------------------------------------------- */

/* Another program's connection to the store, holding its write lock from
 * begin ("BEGIN IMMEDIATE" or "BEGIN EXCLUSIVE"); it waits out a commit
 * of the daemon's. */
static sqlite3 *hold_write_lock(const char *begin)
{
    sqlite3 *wr = NULL;

    cr_assert_eq(sqlite3_open_v2(sp.db_path, &wr, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    sqlite3_busy_timeout(wr, 5000); /* the daemon may be mid-commit */
    cr_assert_eq(sqlite3_exec(wr, begin, NULL, NULL, NULL), SQLITE_OK);
    return wr;
}

/* A broker, the daemon with conf, and a QoS 1 publisher (client) whose
 * first 50 messages on topic are stored. */
static struct pub *start_with_50_stored(const char *conf, const char *client,
                                        const char *topic)
{
    struct pub *p = NULL;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(conf, NULL);
    cr_assert_eq(pub_open(&p, broker.port, client, 1), 0);
    publish_acked(p, topic, 4, 0, 50);
    await_stored(50);
    return p;
}

/* A dashboard holding a read transaction for 3 s: WAL lets the writer go
 * on; the reader keeps its snapshot; nothing is lost. */
Test(faults, long_reader_does_not_stop_ingestion)
{
    sqlite3 *rd;
    struct pub *p;
    int64_t snap;
    int64_t t0;
    int sent = 0;
    int rounds = 0;

    p = start_with_50_stored(FAST PIPELINE, "reader-pub", "r");
    sent = 50;

    cr_assert_eq(sqlite3_open_v2(sp.db_path, &rd, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_exec(rd, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    snap = conn_int(rd, FINEST_SUM); /* the read transaction starts here */
    cr_assert_eq(snap, sent);
    t0 = (int64_t) wait_now_ms();
    while ((int64_t) wait_now_ms() - t0 < 3000) {
        publish_acked(p, "r", 4, sent, 50);
        sent += 50;
        await_stored(sent); /* committed while the reader is open */
        rounds++;
    }
    cr_expect_eq(conn_int(rd, FINEST_SUM), snap,
                 "the reader's snapshot moved: no transaction was held");
    cr_assert_eq(sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(rd);
    cr_assert_gt(rounds, 1);

    publish_acked(p, "r", 4, sent, 50);
    sent += 50;
    pub_close(p);
    await_stored(sent);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(stored(), sent);
}

/* Bytes of the database's write-ahead log file (0 when there is none). */
static int64_t wal_bytes(void)
{
    char path[256];
    struct stat sb;

    snprintf(path, sizeof(path), "%s-wal", sp.db_path);
    return stat(path, &sb) == 0 ? (int64_t) sb.st_size : 0;
}

/*
 * A dashboard holds a read transaction while the daemon writes raw samples:
 * no checkpoint can complete, and the WAL grows far past its usual few MiB.
 * Once the reader lets go, the WAL is reset and cut back to the store's
 * journal_size_limit (4 MiB) instead of keeping its peak size for good.
 */
#define WAL_LIMIT (4 << 20)
Test(faults, wal_shrinks_once_a_long_reader_lets_go, .timeout = 120)
{
    char payload[160];
    char topic[64];
    sqlite3 *rd;
    struct pub *p;
    int64_t peak;
    uint64_t deadline;
    int sent = 0;
    int five = 0; /* messages of five fields; the others have one */

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(FAST PIPELINE "[store]\nraw_samples = true\n", NULL);
    cr_assert_eq(pub_open(&p, broker.port, "wal-pub", 1), 0);
    publish_acked(p, "wal", 4, sent, 10);
    sent += 10;
    await_stored(sent);
    cr_assert_eq(sqlite3_open_v2(sp.db_path, &rd, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_exec(rd, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(conn_int(rd, FINEST_SUM), sent); /* the snapshot starts */
    deadline = wait_now_ms() + 60000;
    while (wal_bytes() < 3 * WAL_LIMIT) {
        cr_assert(wait_now_ms() < deadline, "the WAL stayed at %lld bytes",
                  (long long) wal_bytes());
        for (int k = 0; k < 500; k++, sent++, five++) {
            snprintf(topic, sizeof(topic), "f/wal/%d", sent % 500);
            snprintf(payload, sizeof(payload),
                     "{\"ts\":%lld,\"a\":%d,\"b\":1,\"c\":2,\"d\":3,"
                     "\"e\":4}",
                     (long long) ts_ms, sent);
            cr_assert_eq(pub_send(p, topic, payload, strlen(payload)), 0);
        }
        cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
        spawn_clear_notes(&sp); /* read the notify socket, as systemd does */
    }
    peak = wal_bytes();
    cr_assert_eq(sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(rd);
    /* Writes go on (a dashboard's reader is gone, data keeps coming). */
    deadline = wait_now_ms() + 30000;
    while (wal_bytes() > WAL_LIMIT) {
        cr_assert(wait_now_ms() < deadline,
                  "the WAL is still %lld bytes (peak %lld) after the reader "
                  "let go",
                  (long long) wal_bytes(), (long long) peak);
        publish_acked(p, "wal", 4, sent, 20);
        sent += 20;
        spawn_clear_notes(&sp);
        wait_nap_ms(100); /* a slow trickle of readings */
    }
    cr_log_info("wal: peak %lld bytes with the reader, %lld after it left",
                (long long) peak, (long long) wal_bytes());
    pub_close(p);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(stored(), (int64_t) sent + 4 * five, "every sample stored");
}

/* Another program holds the write lock for 2 s: the daemon retries, keeps
 * the batch, then commits all of it; nothing is lost or logged as lost. */
Test(faults, write_lock_held_by_another_program_delays_without_loss)
{
    const int hold_ms = 2000;
    sqlite3 *wr;
    struct pub *p;
    int64_t before;
    int64_t t0;
    int sent = 0;

    p = start_with_50_stored(FAST PIPELINE, "lock-pub", "w");
    sent = 50;

    wr = hold_write_lock("BEGIN IMMEDIATE");
    before = stored();
    t0 = (int64_t) wait_now_ms();
    while ((int64_t) wait_now_ms() - t0 < hold_ms) {
        publish_acked(p, "w", 4, sent, 20);
        sent += 20;
        cr_expect_eq(stored(), before, "a commit went through the lock");
        wait_nap_ms(100); /* the publishing pace while the lock is held */
    }
    cr_assert(alive(sp.pid));
    cr_assert_eq(sqlite3_exec(wr, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(wr);
    pub_close(p);
    await_stored(sent);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    cr_expect_eq(stored(), sent, "everything published is stored");
    cr_expect_eq(spawn_stat(&sp, "received"), sent);
    cr_expect_eq(spawn_stat(&sp, "dropped_overflow + dropped_oversize + "
                                 "dropped_invalid + dropped_series_limit"),
                 0);
    cr_expect_eq(spawn_log_count(&sp, " err: "), 0, "no error was logged");
    /* Samples that arrived during the lock waited for it: the receive ->
     * commit latency shows it. */
    cr_expect_geq(
        db_double(sp.db_path, "SELECT max(commit_p99_ms) FROM ingest_stats"),
        hold_ms / 2.0, "the commit latency does not show the wait");
}

/* Rows in ingest_stats so far. */
static int64_t stats_rows(void)
{
    return db_int(sp.db_path, "SELECT count(*) FROM ingest_stats");
}

/*
 * A load the writer cannot drain: a slow disk (the test hook makes every
 * batch's commit take 50 ms) and batches of 20 records, against 2,000
 * messages a second of ten fields each on 1,000 topics: about 400 records
 * a second out of the 20,000 handed over. The egress rings never empty for
 * 10 s, and still an ingest_stats row comes every stats_interval_s (1 s):
 * housekeeping keeps its schedule.
 */
#define SAT_MS 10000
Test(faults, housekeeping_keeps_its_schedule_under_saturation, .timeout = 120)
{
    static const char *const env[] = {"SENSORPIPE_TEST_COMMIT_DELAY_MS=50",
                                      NULL};
    char topic[64];
    struct pub *p;
    int64_t t0;
    int64_t rows0;
    int64_t rows;
    int sent = 0;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(FAST PIPELINE "[store]\nbatch_rows = 20\n", env);
    cr_assert_eq(pub_open(&p, broker.port, "sat-pub", 0), 0);
    rows0 = stats_rows();
    t0 = (int64_t) wait_now_ms();
    while ((int64_t) wait_now_ms() - t0 < SAT_MS) {
        for (int k = 0; k < 200; k++, sent++) {
            snprintf(topic, sizeof(topic), "f/sat/%d", sent % 1000);
            cr_assert_eq(pub_sendf(p, topic,
                                   "{\"ts\":%lld,\"a\":1,\"b\":1,\"c\":1,"
                                   "\"d\":1,\"e\":1,\"f\":1,\"g\":1,"
                                   "\"h\":1,\"i\":1,\"j\":1}",
                                   (long long) ts_ms),
                         0);
        }
        wait_nap_ms(100); /* the publishing pace: 2,000 a second */
    }
    rows = stats_rows() - rows0;
    cr_log_info("saturation: %d messages in %d ms, %lld of %d samples "
                "stored at the end, %lld stats rows",
                sent, SAT_MS, (long long) stored(), 10 * sent,
                (long long) rows);
    /* The backlog was real: far from everything was stored by the end. */
    cr_expect_lt(stored(), 10 * sent / 2, "the writer kept up");
    cr_expect_geq(rows, SAT_MS / 1000 - 2,
                  "%lld ingest_stats rows in %d ms of saturation",
                  (long long) rows, SAT_MS);
    pub_close(p);
    cr_assert_eq(spawn_stop(&sp, SIGKILL, WAIT_MS), 128 + SIGKILL);
}

/*
 * SIGTERM while another program holds the write lock (BEGIN EXCLUSIVE) for
 * longer than the old 5 s grace: the daemon says what it waits for and
 * waits (stop_timeout = 30 s); once the lock is released it commits
 * everything the broker acknowledged and exits 0.
 */
Test(faults, stop_waits_for_a_held_write_lock_and_loses_nothing, .timeout = 90)
{
    const int hold_ms = 8000;
    sqlite3 *wr;
    struct pub *p;
    int64_t t0;
    int sent = 0;
    int rc;

    p = start_with_50_stored(FAST PIPELINE "[store]\nstop_timeout = 30s\n",
                             "stoplock-pub", "s");
    sent = 50;
    wr = hold_write_lock("BEGIN EXCLUSIVE");
    publish_acked(p, "s", 4, sent, 500); /* acknowledged, not committed */
    sent += 500;
    pub_close(p);
    cr_assert_eq(spawn_wait_log(&sp, "stats: ", 2, WAIT_MS), 0);
    cr_assert_eq(kill(sp.pid, SIGTERM), 0);
    cr_assert_eq(spawn_wait_log(&sp,
                                "waiting up to 30 s for the store to "
                                "take the last records (another "
                                "program holds the write lock)",
                                1, WAIT_MS),
                 0, "the stop does not say what it waits for");
    /* The one bounded wait for an absence: the daemon must not give up
     * while stop_timeout lasts. */
    t0 = (int64_t) wait_now_ms();
    while ((int64_t) wait_now_ms() - t0 < hold_ms) {
        cr_assert(alive(sp.pid), "the daemon gave up %lld ms into the lock",
                  (long long) ((int64_t) wait_now_ms() - t0));
        wait_nap_ms(100);
    }
    cr_assert_eq(sqlite3_exec(wr, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(wr);
    rc = spawn_wait_exit(&sp, WAIT_MS);
    cr_expect_eq(rc, 0, "exit status %d after the lock went", rc);
    cr_expect_eq(stored(), sent, "every acknowledged message is stored");
    cr_expect_eq(spawn_stat(&sp, "received"), sent);
}

/*
 * The same lock held past stop_timeout (2 s): the daemon gives up, exits
 * 1, and says exactly how many samples it could not keep: what the broker
 * acknowledged minus what is in the file.
 */
Test(faults, stop_gives_up_after_stop_timeout_and_counts_the_loss,
     .timeout = 60)
{
    char needle[160];
    sqlite3 *wr;
    struct pub *p;
    int sent = 0;
    int rc;

    p = start_with_50_stored(FAST PIPELINE "[store]\nstop_timeout = 2s\n",
                             "giveup-pub", "u");
    sent = 50;
    wr = hold_write_lock("BEGIN EXCLUSIVE");
    publish_acked(p, "u", 4, sent, 300);
    sent += 300;
    pub_close(p);
    /* Every message decoded (two stats lines agree on it) before the stop. */
    cr_assert_eq(spawn_wait_log(&sp, " decoded=350 ", 1, WAIT_MS), 0);
    cr_assert_eq(kill(sp.pid, SIGTERM), 0);
    rc = spawn_wait_exit(&sp, WAIT_MS);
    cr_assert_eq(sqlite3_exec(wr, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(wr);
    cr_expect_eq(rc, 1, "exit status %d", rc);
    snprintf(needle, sizeof(needle),
             "giving up after stop_timeout = 2 s: %lld samples not committed "
             "and 0 messages not yet decoded are lost",
             (long long) (sent - stored()));
    cr_expect(spawn_log_contains(&sp, needle), "no line \"%s\"", needle);
}

/* n readings on distinct topics of about 1000 bytes ("n/<k>/xxx..."). */
static void send_long_topics(struct pub *p, int first, int n)
{
    char topic[1100];

    for (int k = first; k < first + n; k++) {
        int len = snprintf(topic, sizeof(topic), "n/%d/", k);
        memset(topic + len, 'x', 1000 - (size_t) len);
        topic[1000] = '\0';
        cr_assert_eq(pub_send(p, topic, "1", 1), 0);
    }
}

/*
 * Disk full (the test hook caps the file at a few pages): an error at err
 * level, no exit, ingestion pauses (the rings fill, the loop stops reading
 * and the broker holds the rest).
 */
Test(faults, disk_full_pauses_ingestion_and_the_daemon_stays_up, .timeout = 90)
{
    static const char *const env[] = {"SENSORPIPE_TEST_MAX_PAGES=24", NULL};
    struct pub *p;
    uint64_t deadline;
    int sent = 0;
    int rc;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(FAST "[pipeline]\nworkers = 1\nring_bytes = 1MiB\n"
                      "max_payload_bytes = 1KiB\n"
                      "[store]\nstop_timeout = 3s\n",
                 env);
    cr_assert_eq(pub_open(&p, broker.port, "full-pub", 1), 0);
    deadline = wait_now_ms() + WAIT_MS;
    while (!spawn_log_contains(&sp, "store: disk full")) {
        cr_assert(wait_now_ms() < deadline, "24 pages never filled up");
        send_long_topics(p, sent, 20);
        sent += 20;
        cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
        wait_nap_ms(50);
    }
    cr_expect(spawn_log_contains(&sp, "err: store: disk full"),
              "disk full is an error");
    /* The line tells what happens: reading goes on into memory until the
     * rings fill (not "ingestion is paused" while it still reads), with
     * how much waits there. */
    cr_expect(spawn_log_contains(&sp, "wait in memory, and reading goes on "
                                      "until the rings fill, then pauses"),
              "the disk-full line does not say that reading goes on");
    cr_expect(!spawn_log_contains(&sp, "ingestion is paused"),
              "the disk-full line claims a pause that has not happened");

    /* Far more than the rings hold: ~1 KiB records, 1 MiB each way. */
    send_long_topics(p, sent, 4000);
    sent += 4000;
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0, "the broker takes them all");
    /* Backpressure: two stats lines (1 s apart) with the same received,
     * short of what was published. */
    deadline = wait_now_ms() + WAIT_MS;
    for (;;) {
        int64_t last = stats_value(" received=", 0);
        int n = spawn_log_count(&sp, "stats: ");
        cr_assert(wait_now_ms() < deadline, "reading never paused");
        if (last >= 0 && last < sent && last == stats_value(" received=", 1))
            break;
        cr_assert_eq(spawn_wait_log(&sp, "stats: ", n + 1, WAIT_MS), 0);
    }
    cr_assert(alive(sp.pid), "the daemon exited on a full disk");
    cr_log_info("disk full: received stays at %lld of %d published; "
                "paused_ms=%lld; %d error lines",
                (long long) stats_value(" received=", 0), sent,
                (long long) stats_value(" paused_ms=", 0),
                spawn_log_count(&sp, " err: "));
    pub_close(p);
    /* A pause counts in paused_ms while it lasts, not only at its end. */
    cr_expect_gt(stats_value(" paused_ms=", 0), 0,
                 "a pause of over a second is not in paused_ms");
    /* One full disk is a few rate-limited error lines, not one per retry. */
    cr_expect_leq(spawn_log_count(&sp, " err: "), 10,
                  "%d error lines for one full disk",
                  spawn_log_count(&sp, " err: "));

    /* A stop on a full disk ends: after stop_timeout the daemon gives up
     * on what it could not commit, says how much, and exits 1 (systemd
     * restarts it). */
    rc = spawn_stop(&sp, SIGTERM, 10000);
    cr_expect_eq(rc, 1,
                 "stop on a full disk: %d (-%d = still running after "
                 "10 s)",
                 rc, ETIMEDOUT);
    cr_expect(spawn_log_contains(&sp, "waiting up to 3 s for the store to "
                                      "take the last records (the disk is "
                                      "full)"),
              "the stop says what it waits for");
    cr_expect(spawn_log_contains(&sp, "giving up after stop_timeout = 3 s"),
              "the stop says when it gave up");
}

/* Runs sql on the database on a connection of its own (waits for locks). */
static void db_exec(const char *sql)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open(sp.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s",
                 sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/*
 * Starts the daemon on a store that is all but full: a ballast table takes
 * the space, and the test hook caps the file's page count a few pages
 * above it, so the pages that dropping it frees are the only room. blobs
 * of 4000 bytes make the ballast; env_extra (may be NULL) is one more
 * "NAME=value" for the daemon.
 */
static void start_with_ballast(const char *extra, const char *env_extra,
                               int blobs)
{
    char env_pages[64];
    const char *const env[] = {env_pages, env_extra, NULL};
    char sql[256];
    int64_t pages;

    start_daemon(FAST, NULL); /* creates the schema */
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE ballast (b BLOB);"
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
             "WHERE i < %d) INSERT INTO ballast SELECT zeroblob(4000) FROM n",
             blobs);
    db_exec(sql);
    pages = db_int(sp.db_path, "PRAGMA page_count");
    snprintf(env_pages, sizeof(env_pages), "SENSORPIPE_TEST_MAX_PAGES=%lld",
             (long long) pages + 4);
    start_daemon(extra, env);
}

/* Publishes long-topic readings until the daemon says the disk is full;
 * returns how many were sent. */
static int fill_until_full(struct pub *p, int sent)
{
    uint64_t deadline = wait_now_ms() + WAIT_MS;

    while (!spawn_log_contains(&sp, "store: disk full")) {
        cr_assert(wait_now_ms() < deadline, "the file never filled up");
        send_long_topics(p, sent, 10);
        sent += 10;
        cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
        wait_nap_ms(50);
    }
    return sent;
}

/*
 * Disk full, then space again: the batches kept through the full disk are
 * committed once pages are free, and nothing the broker acknowledged is
 * lost.
 */
Test(faults, disk_full_resumes_when_space_returns, .timeout = 90)
{
    struct pub *p;
    int sent = 0;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_with_ballast(FAST "[pipeline]\nworkers = 1\nring_bytes = 1MiB\n"
                            "max_payload_bytes = 1KiB\n",
                       NULL, 200);
    cr_assert_eq(pub_open(&p, broker.port, "space-pub", 1), 0);
    sent = fill_until_full(p, sent);
    send_long_topics(p, sent, 20); /* more while the disk is full */
    sent += 20;
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    db_exec("DROP TABLE ballast");
    cr_assert_eq(spawn_await_stored(&sp, 10, sent, WAIT_MS), 0,
                 "stored %lld of %d after space returned",
                 (long long) spawn_stored(&sp, 10), sent);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "a clean stop");
    cr_expect_eq(spawn_stat(&sp, "received"), sent);
    cr_expect_eq(spawn_stat(&sp, "decoded"), sent);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE "
                                    "topic LIKE 'n/%'"),
                 sent);
    pub_close(p);
}

/* Waits until two stats lines in a row show the same received count,
 * short of sent: the rings are full and the loop has stopped reading. */
static void await_reading_paused(int sent)
{
    uint64_t deadline = wait_now_ms() + WAIT_MS;

    for (;;) {
        int64_t last = stats_value(" received=", 0);
        int n = spawn_log_count(&sp, "stats: ");
        cr_assert(wait_now_ms() < deadline, "reading never paused");
        if (last >= 0 && last < sent && last == stats_value(" received=", 1))
            return;
        cr_assert_eq(spawn_wait_log(&sp, "stats: ", n + 1, WAIT_MS), 0);
    }
}

/*
 * Under systemd's watchdog (WATCHDOG_USEC = 1 s) a full disk is waiting,
 * not a hang: while every thread waits on the store, the pings go on for
 * well over three watchdog periods, and once space returns everything is
 * stored. (A writer that is really stuck stops them: test_ops.)
 */
#define PING_MS 1000
Test(faults, disk_full_under_the_watchdog_keeps_pinging, .timeout = 120)
{
    struct pub *p;
    uint64_t t0;
    int sent = 0;
    int pings = 0;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_with_ballast(FAST "[pipeline]\nworkers = 1\nring_bytes = 1MiB\n"
                            "max_payload_bytes = 1KiB\n",
                       "WATCHDOG_USEC=1000000", 12000);
    cr_assert_eq(pub_open(&p, broker.port, "dog-pub", 1), 0);
    sent = fill_until_full(p, sent);
    /* Far more than the rings hold (the worker waits on the writer, the
     * loop on the worker), and less than the ballast frees (4000 series
     * rows, each index entry on an overflow page of its own, and their
     * rollups: about 25 MB). */
    send_long_topics(p, sent, 4000);
    sent += 4000;
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_reading_paused(sent);
    t0 = wait_now_ms();
    while (wait_now_ms() - t0 < 5 * PING_MS) {
        spawn_clear_notes(&sp);
        cr_assert_eq(spawn_wait_notify(&sp, "WATCHDOG=1", 3 * PING_MS / 2), 0,
                     "no WATCHDOG=1 for 1.5 watchdog periods, %llu ms into "
                     "the full disk (%d pings before)",
                     (unsigned long long) (wait_now_ms() - t0), pings);
        pings++;
    }
    cr_assert(alive(sp.pid));
    db_exec("DROP TABLE ballast");
    cr_assert_eq(spawn_await_stored(&sp, 10, sent, 60000), 0,
                 "stored %lld of %d after space returned",
                 (long long) spawn_stored(&sp, 10), sent);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "a clean stop");
    cr_expect_eq(spawn_stat(&sp, "received"), sent);
    pub_close(p);
}

/* The file deleted under the daemon: an error naming it, then exit 1 (so
 * systemd restarts it on a new file) instead of writing to a ghost. */
Test(faults, deleted_database_makes_the_daemon_exit_1)
{
    char path[256];
    struct pub *p;
    uint64_t deadline;
    int rc;

    cr_assert_eq(broker_start(&broker, NULL), 0);
    start_daemon(FAST PIPELINE, NULL);
    cr_assert_eq(pub_open(&p, broker.port, "gone-pub", 1), 0);
    publish_acked(p, "g", 2, 0, 10);
    await_stored(10);
    cr_assert_eq(unlink(sp.db_path), 0);
    snprintf(path, sizeof(path), "%s-wal", sp.db_path);
    (void) unlink(path);
    snprintf(path, sizeof(path), "%s-shm", sp.db_path);
    (void) unlink(path);
    deadline = wait_now_ms() + 3000;
    for (int k = 10; !spawn_log_contains(&sp, "is gone"); k++) {
        cr_assert(wait_now_ms() < deadline, "no error within 3 s");
        send_reading(p, "g", 2, k, 0);
        wait_nap_ms(50);
    }
    pub_close(p);
    cr_expect(spawn_log_contains(&sp, "err: store: "), "at error level");
    rc = spawn_wait_exit(&sp, 5000);
    /* Exit 1, also under TSan: the ended writer is joined, stuck workers
     * are detached. */
    cr_expect_eq(rc, 1, "exit status %d", rc);
}
