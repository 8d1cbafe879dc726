/*
 * test_connection.c - the broker connection's life as an operator and a
 * busy broker see it, end to end: a real mosquitto, the daemon binary, a
 * real SQLite file.
 *
 * What each test proves (README "Guarantees"):
 *   - clean restarts under a QoS 1 load neither lose nor duplicate a value
 *     (the stop acknowledges, sends DISCONNECT and closes in order, so the
 *     broker redelivers only what was never stored);
 *   - an oversize QoS 1 message never reaches the daemon under MQTT 5
 *     (Maximum Packet Size in CONNECT): the messages behind it are stored
 *     at once and the peak RSS stays within the printed memory bound;
 *     under MQTT 3.1.1 the start log and --check-config say that the
 *     broker's message_size_limit must be set;
 *   - a store stall (reading paused) three times longer than keepalive_s
 *     keeps the connection, so the broker's QoS 0 backlog is not lost;
 *     a broker that stops answering is still dropped after the keepalive;
 *     a connection lost while paused is warned about with the time paused;
 *   - a retained message is stored once per subscription lifetime: not
 *     again after two daemon restarts and a broker restart (MQTT 5: Retain
 *     Handling 1; MQTT 3.1.1: a retained delivery to a subscription the
 *     resumed session already held is skipped and counted as
 *     skipped_retained);
 *   - the password file: a symbolic link, a FIFO (which must not block the
 *     start), a file open to group or others and a file of another user
 *     are each refused with exit status 2 and a reason; a password sent
 *     without TLS and tls_insecure are warned about at start and by
 *     --check-config;
 *
 * Values are unique sequence numbers and raw_samples = true keeps every
 * sample, so "nothing lost, nothing twice" is a query on the samples table.
 *
 * Threads: the test's own, a publisher thread where a load runs during the
 * test, and libmosquitto's publisher threads (pub.h).
 * Memory: test code, allocates freely.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "files.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS  30000
#define CONF_MAX 4096

static struct broker broker;
static struct spawn sp;
/* The [pipeline] keys of make_conf(); a test may set others first. */
static const char *pipeline = "workers = 2\nring_bytes = 1MiB\n";

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
                     "%s"
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
                     broker.port, (int) getpid(), pipeline, sp.db_path,
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

/* Lets ms pass while reading the daemon's notify datagrams: a datagram
 * socket queues only a few, and an unread queue would block the daemon's
 * loop in sd_notify() (systemd always reads them). */
static void idle_ms(int ms)
{
    spawn_clear_notes(&sp);
    (void) spawn_wait_notify(&sp, "never-sent", ms);
    spawn_clear_notes(&sp);
}

/* Waits for count log lines with needle, reading notify datagrams
 * meanwhile. Returns 0, or -ETIMEDOUT. */
static int await_log(const char *needle, int count, int timeout_ms)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) timeout_ms;

    while (spawn_log_count(&sp, needle) < count) {
        if (wait_now_ms() >= deadline)
            return -ETIMEDOUT;
        idle_ms(50);
    }
    return 0;
}

/* paused_ms of the daemon's last stats line; -1 when there is none. */
static int64_t last_paused_ms(void)
{
    char line[4096];
    int64_t v = -1;
    FILE *f = fopen(sp.log_path, "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *k = strstr(line, " paused_ms=");
        if (strstr(line, "stats: ") != NULL && k != NULL)
            v = strtoll(k + 11, NULL, 10);
    }
    fclose(f);
    return v;
}

/* Waits until the stats line says reading has been paused. */
static void await_paused(void)
{
    uint64_t deadline = wait_now_ms() + WAIT_MS;

    while (last_paused_ms() <= 0) {
        cr_assert(wait_now_ms() < deadline, "reading never paused");
        idle_ms(50);
    }
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
        idle_ms(20);
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

/* --check-config on this test's configuration with extra; its output. */
static int check_config(const char *extra, char *out, size_t len)
{
    char conf[CONF_MAX];
    char cmd[PATH_MAX + 64];

    make_conf(conf, sizeof(conf), extra);
    cr_assert_eq(files_write(sp.conf_path, conf, 0644), 0);
    snprintf(cmd, sizeof(cmd), "'%s' --check-config -c '%s'", spawn_binary(),
             sp.conf_path);
    return files_run(cmd, out, len);
}

/* Starts the daemon with extra and expects it to refuse to start: exit
 * status 2 promptly, and a log line containing reason. */
static void expect_refused(const char *extra, const char *reason)
{
    char conf[CONF_MAX];
    int st;

    make_conf(conf, sizeof(conf), extra);
    cr_assert_eq(spawn_start(&sp, conf, NULL), 0);
    st = spawn_wait_exit(&sp, 10000);
    if (st != 2 || !spawn_log_contains(&sp, reason))
        spawn_dump_log(&sp);
    cr_assert_eq(st, 2, "exit status %d, not 2 (a configuration error)", st);
    cr_expect(spawn_log_contains(&sp, reason), "no '%s' in the log", reason);
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
        /* A slow (sanitizer) build may see the load end before the last
         * cycles: those then stop an idle daemon, which must hold too. */
        before = raw_samples();
        await_samples(before + 1000 < TOTAL ? before + 1000 : TOTAL, WAIT_MS);
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

/* ---- pauses -------------------------------------------------------------- */

/* A daemon whose writer is stalled while the file stall (len bytes, its
 * path written here) exists: one worker, a 512 KiB ingress ring and 1 MiB
 * of egress (about 26,000 raw samples, so 60,000 messages fill both and
 * reading pauses), z/# at QoS 0, a 5 s keepalive. */
static void start_stalled_qos0_daemon(char *stall, size_t len)
{
    char env_stall[300];
    const char *env[] = {env_stall, NULL};

    snprintf(stall, len, "%s/stall", sp.dir);
    snprintf(env_stall, sizeof(env_stall), "SENSORPIPE_TEST_STALL_FILE=%s",
             stall);
    cr_assert_eq(files_write(stall, "", 0644), 0);
    pipeline = "workers = 1\nring_bytes = 512KiB\nmax_payload_bytes = 16B\n";
    start_daemon("[mqtt]\nkeepalive_s = 5\n"
                 "[subscription z]\ntopic = z/#\nqos = 0\nformat = number\n",
                 env);
}

/*
 * QoS 0, keepalive_s = 5, a writer stalled for 16 s under a load larger
 * than the rings: reading pauses for much longer than the keepalive. The
 * connection must survive (libmosquitto's own keepalive would drop it
 * after about twice keepalive_s without reading, and the broker would
 * discard the QoS 0 backlog), so every value is stored once the store is
 * back.
 */
Test(connection, qos0_survives_a_pause_longer_than_the_keepalive)
{
    enum { TOTAL = 60000 };
    char stall[256];
    struct pub *p = NULL;
    char topic[32];

    start_stalled_qos0_daemon(stall, sizeof(stall));
    cr_assert_eq(pub_open(&p, broker.port, "sp-conn-qos0", 0), 0);
    for (int k = 1; k <= TOTAL; k++) {
        snprintf(topic, sizeof(topic), "z/%d", k % 10);
        cr_assert_eq(pub_sendf(p, topic, "%d", k), 0);
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0, "not all published");
    pub_close(p);
    await_paused();
    /* The stall must outlast the keepalive: the duration is the test. */
    idle_ms(16000);
    cr_assert_eq(unlink(stall), 0);
    await_samples(TOTAL, 60000);
    stop_daemon();
    expect_each_once(TOTAL);
    cr_expect(!spawn_log_contains(&sp, "lost:"),
              "the connection was dropped during the pause");
    cr_expect(!spawn_log_contains(&sp, "while reading was paused"),
              "a loss was reported during the pause");
    cr_expect_gt(spawn_stat(&sp, "paused_ms"), 10000,
                 "reading was not paused for long: the test proves nothing");
}

/*
 * Where the protocol leaves no way (the broker itself goes away while
 * reading is paused), the loss of the QoS 0 messages it held is not
 * silent: the daemon warns, with how long it had been paused.
 */
Test(connection, a_connection_lost_while_paused_is_warned_about)
{
    char stall[256];
    struct pub *p = NULL;

    start_stalled_qos0_daemon(stall, sizeof(stall));
    cr_assert_eq(pub_open(&p, broker.port, "sp-conn-qos0", 0), 0);
    for (int k = 1; k <= 60000; k++)
        cr_assert_eq(pub_sendf(p, "z/1", "%d", k), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0, "not all published");
    pub_close(p);
    await_paused();
    cr_assert_eq(broker_restart(&broker), 0);
    cr_expect_eq(await_log("while reading was paused for", 1, WAIT_MS), 0,
                 "no warning for the QoS 0 messages lost with the broker");
    cr_assert_eq(unlink(stall), 0);
    /* Once reading resumes, the dead connection ends and a new one starts. */
    cr_expect_eq(await_log("mqtt: connected", 2, WAIT_MS), 0,
                 "no new connection after the resume");
    stop_daemon();
}

/*
 * The daemon's own keepalive still finds a broker that stopped answering
 * after CONNACK (SIGSTOP): the connection is dropped within about twice
 * keepalive_s of reading, and the daemon connects again once the broker
 * runs again.
 */
Test(connection, a_silent_broker_is_dropped_after_the_keepalive)
{
    struct pub *p = NULL;
    uint64_t t0;

    start_daemon("[mqtt]\nkeepalive_s = 5\n", NULL);
    cr_assert_eq(kill(broker.pid, SIGSTOP), 0);
    t0 = wait_now_ms();
    cr_expect_eq(spawn_wait_log(&sp, "no answer within the keepalive interval",
                                1, 20000),
                 0, "a silent broker was not noticed");
    cr_expect_geq(wait_now_ms() - t0, 4000, "dropped before the keepalive");
    cr_assert_eq(kill(broker.pid, SIGCONT), 0);
    cr_assert_eq(spawn_wait_log(&sp, "mqtt: connected", 2, WAIT_MS), 0,
                 "no new connection once the broker answers again");
    cr_assert_eq(pub_open(&p, broker.port, "sp-conn-after", 1), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0);
    cr_assert_eq(pub_sendf(p, "n/after", "%d", 1), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    await_samples(1, WAIT_MS);
    stop_daemon();
}

/* ---- retained messages --------------------------------------------------- */

/* A retained QoS 1 message from mosquitto_pub (pub.h never retains). */
static void publish_retained(const char *topic, const char *payload)
{
    char cmd[512];
    char out[1024];

    snprintf(cmd, sizeof(cmd),
             "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -r -t '%s' -m '%s'",
             broker.port, topic, payload);
    cr_assert_eq(files_run(cmd, out, sizeof(out)), 0, "%s", out);
}

static int64_t stored_value(int value)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM samples WHERE value = %d",
             value);
    return samples_sql(sql);
}

/* Every message of the last run is accounted for, skipped ones included. */
static void expect_identity(void)
{
    int64_t received = spawn_stat(&sp, "received");
    int64_t rest = spawn_stat(&sp, "decoded") +
                   spawn_stat(&sp, "dropped_overflow") +
                   spawn_stat(&sp, "dropped_oversize") +
                   spawn_stat(&sp, "dropped_invalid") +
                   spawn_stat(&sp, "dropped_series_limit") +
                   spawn_stat(&sp, "skipped_retained");

    cr_expect_eq(received, rest, "received %lld, accounted for %lld",
                 (long long) received, (long long) rest);
}

/*
 * One retained message, published before the first start; then two
 * daemon restarts and a broker restart (persistence on, so the session and
 * the retained message survive). Each reconnect resubscribes: the message
 * must be stored once, by the first run, whose subscription was new.
 * A marker published after each start shows the daemon was receiving.
 */
static void retained_stored_once(const char *mqtt)
{
    struct pub *p = NULL;
    int64_t skipped = 0;

    publish_retained("n/retained", "4242");
    for (int run = 0; run < 4; run++) {
        if (run == 3)
            cr_assert_eq(broker_restart(&broker), 0, "broker restart");
        start_daemon(mqtt, NULL);
        cr_assert_eq(pub_open(&p, broker.port, "sp-conn-marker", 1), 0);
        cr_assert_eq(pub_sendf(p, "n/marker", "%d", 100 + run), 0);
        cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
        pub_close(p);
        await_samples(run + 2, WAIT_MS);
        stop_daemon();
        expect_identity();
        if (run > 0)
            skipped += spawn_stat(&sp, "skipped_retained");
    }
    cr_expect_eq(stored_value(4242), 1,
                 "the retained message stored %lld "
                 "times",
                 (long long) stored_value(4242));
    cr_expect_eq(raw_samples(), 5);
    if (strstr(mqtt, "3.1.1") != NULL)
        cr_expect_eq(skipped, 3, "3 redeliveries skipped, not %lld",
                     (long long) skipped);
}

Test(connection, retained_message_stored_once_mqtt5)
{
    retained_stored_once("[mqtt]\nprotocol = 5\n");
}

Test(connection, retained_message_stored_once_mqtt311)
{
    retained_stored_once("[mqtt]\nprotocol = 3.1.1\n");
}

/*
 * An MQTT 5 broker may shorten the keepalive (Server Keep Alive in
 * CONNACK; mosquitto's max_keepalive, 10 s at least): the heartbeats must
 * follow the broker's value, or the broker drops the connection after 1.5 times
 * it.
 */
Test(connection, heartbeats_follow_the_brokers_keepalive)
{
    cr_assert_eq(broker_stop(&broker), 0);
    cr_assert_eq(broker_start(&broker, "max_keepalive 10"), 0);
    start_daemon("[mqtt]\nkeepalive_s = 60\n", NULL);
    /* Twice the broker's keepalive, idle: the duration is the test (the
     * broker gives up after 1.5 times it). */
    idle_ms(20000);
    cr_expect_eq(broker_log_count(&broker, "exceeded timeout"), 0,
                 "the broker timed the daemon out");
    cr_expect(!spawn_log_contains(&sp, "lost:"), "the connection was lost");
    stop_daemon();
}

/* ---- oversize messages -------------------------------------------------- */

/* The "bound N MiB" --check-config prints for extra, in KiB. */
static long printed_bound_kib(const char *extra)
{
    char out[16384];
    const char *b;

    cr_assert_eq(check_config(extra, out, sizeof(out)), 0, "%s", out);
    b = strstr(out, "; bound ");
    cr_assert_not_null(b, "no memory bound in: %s", out);
    return (long) (strtod(b + 8, NULL) * 1024.0);
}

#define SMALL_PLAN "[pipeline]\nmax_payload_bytes = 64KiB\nmax_series = 1000\n"

/*
 * One 100 MB QoS 1 message, then 100 normal ones, to an MQTT 5 daemon
 * whose max_payload_bytes is 64 KiB: the broker must keep the big one away
 * (Maximum Packet Size), so the 100 arrive at once and the daemon's peak
 * RSS stays within the bound it printed. Today's libmosquitto would read
 * the whole 100 MB packet before the daemon's size check.
 */
Test(connection, oversize_qos1_message_never_reaches_an_mqtt5_daemon)
{
    enum { BIG = 100 * 1000 * 1000, NORMAL = 100 };
    long bound = printed_bound_kib(SMALL_PLAN);
    struct pub *p = NULL;
    char *big = malloc(BIG);
    long peak;

    cr_assert_not_null(big);
    memset(big, '7', BIG);
    start_daemon(SMALL_PLAN, NULL);
    cr_assert_eq(pub_open(&p, broker.port, "sp-conn-big", 1), 0);
    cr_assert_eq(pub_send(p, "n/big", big, BIG), 0);
    for (int k = 1; k <= NORMAL; k++)
        cr_assert_eq(pub_sendf(p, "n/small", "%d", k), 0);
    cr_assert_eq(pub_wait_acked(p, 60000), 0, "the broker did not ack");
    pub_close(p);
    free(big);
    await_samples(NORMAL, 10000);
    peak = spawn_status_kib(&sp, "VmHWM");
    stop_daemon();
    cr_expect_eq(raw_samples(), NORMAL);
    cr_expect_eq(spawn_stat(&sp, "received"), NORMAL,
                 "the daemon received the oversize message");
    if (spawn_sanitizer() == NULL)
        cr_expect(peak > 0 && peak <= bound,
                  "peak RSS %ld KiB, printed bound %ld KiB", peak, bound);
}

/* MQTT 3.1.1 has no Maximum Packet Size: the operator must set the
 * broker's message_size_limit, and is told so at start and by
 * --check-config. */
Test(connection, mqtt311_warns_that_the_broker_must_limit_message_size)
{
    char out[16384];

    cr_assert_eq(check_config("[mqtt]\nprotocol = 3.1.1\n", out, sizeof(out)),
                 0, "%s", out);
    cr_expect(strstr(out, "# warning: mqtt: MQTT 3.1.1") != NULL &&
                  strstr(out, "message_size_limit 65536") != NULL,
              "--check-config says nothing about message_size_limit: %s", out);
    cr_assert_eq(check_config(NULL, out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "message_size_limit") == NULL,
              "MQTT 5 needs no message_size_limit: %s", out);
    start_daemon("[mqtt]\nprotocol = 3.1.1\n", NULL);
    cr_expect(spawn_log_contains(&sp, "message_size_limit 65536"));
    stop_daemon();
}

/* ---- the password file -------------------------------------------------- */

static void pw_conf(char *extra, size_t len, const char *path)
{
    snprintf(extra, len, "[mqtt]\nusername = spuser\npassword_file = %s\n",
             path);
}

Test(connection, password_file_symlink_is_refused)
{
    char real[256];
    char link[256];
    char extra[512];

    snprintf(real, sizeof(real), "%s/pw-real", sp.dir);
    snprintf(link, sizeof(link), "%s/pw-link", sp.dir);
    cr_assert_eq(files_write(real, "secret\n", 0600), 0);
    cr_assert_eq(symlink(real, link), 0);
    pw_conf(extra, sizeof(extra), link);
    expect_refused(extra, "is a symbolic link");
}

/* A FIFO in the password file's place must not block the start. */
Test(connection, password_file_fifo_does_not_block_the_start)
{
    char fifo[256];
    char extra[512];

    snprintf(fifo, sizeof(fifo), "%s/pw-fifo", sp.dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pw_conf(extra, sizeof(extra), fifo);
    expect_refused(extra, "is not a regular file");
}

Test(connection, password_file_writable_by_group_or_others_is_refused)
{
    static const mode_t modes[] = {0620, 0602, 0610};
    char path[256];
    char extra[512];

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        snprintf(path, sizeof(path), "%s/pw-%o", sp.dir, (unsigned) modes[i]);
        cr_assert_eq(files_write(path, "secret\n", modes[i]), 0);
        pw_conf(extra, sizeof(extra), path);
        expect_refused(extra, "is open to group or others");
    }
}

Test(connection, password_file_of_another_user_is_refused)
{
    char path[256];
    char extra[512];

    if (geteuid() != 0)
        cr_skip_test("needs root to give the file to another user");
    snprintf(path, sizeof(path), "%s/pw-nobody", sp.dir);
    cr_assert_eq(files_write(path, "secret\n", 0600), 0);
    cr_assert_eq(chown(path, 65534, 65534), 0);
    pw_conf(extra, sizeof(extra), path);
    expect_refused(extra, "belongs to uid 65534");
}

/* A password over plain TCP is named at start and by --check-config. */
Test(connection, password_without_tls_is_warned_about)
{
    char path[256];
    char extra[512];
    char out[16384];

    snprintf(path, sizeof(path), "%s/pw", sp.dir);
    cr_assert_eq(files_write(path, "secret\n", 0600), 0);
    pw_conf(extra, sizeof(extra), path);
    cr_assert_eq(check_config(extra, out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "# warning: mqtt: a password is sent without TLS") !=
                  NULL,
              "%s", out);
    /* The test broker allows anonymous clients and ignores the password. */
    start_daemon(extra, NULL);
    cr_expect(spawn_log_contains(&sp, "a password is sent without TLS"));
    stop_daemon();
    cr_expect(!spawn_log_contains(&sp, "secret"), "the password was logged");
}

/* tls_insecure is named at start (before any connection) and by
 * --check-config. */
Test(connection, tls_insecure_is_warned_about)
{
    char ca[256];
    char extra[512];
    char out[16384];
    char conf[CONF_MAX];

    snprintf(ca, sizeof(ca), "%s/ca.pem", sp.dir);
    cr_assert_eq(files_write(ca, "not a certificate\n", 0644), 0);
    snprintf(extra, sizeof(extra),
             "[mqtt]\ntls_ca_file = %s\ntls_insecure = true\n", ca);
    cr_assert_eq(check_config(extra, out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "# warning: mqtt: tls_insecure = true") != NULL, "%s",
              out);
    make_conf(conf, sizeof(conf), extra);
    cr_assert_eq(spawn_start(&sp, conf, NULL), 0);
    cr_expect_eq(spawn_wait_log(&sp, "tls_insecure = true", 1, WAIT_MS), 0,
                 "no warning about tls_insecure at start");
    (void) spawn_stop(&sp, SIGTERM, WAIT_MS);
}
