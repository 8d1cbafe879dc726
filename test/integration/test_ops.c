/*
 * test_ops.c - what an operator relies on, checked against the daemon
 * binary: the unit passes systemd-analyze; the notify protocol as systemd
 * sees it (READY, STATUS, WATCHDOG, STOPPING); the watchdog going quiet
 * while the writer is stuck; SIGHUP reloads (subscriptions, a broken file,
 * the log level); journald priority prefixes and rate limits; no secret in
 * any output; man pages that render and document every key.
 *
 * Each test plays systemd through spawn.h: the daemon's NOTIFY_SOCKET is a
 * datagram socket the test reads, and its stderr is a file the test reads.
 * Every wait is a condition with a deadline, except the one window in which
 * the watchdog must stay silent (an absence cannot be awaited otherwise).
 *
 * Threads: each test runs in its own process (Criterion); one thread.
 * Memory: test code; allocates freely.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "config.h"
#include "files.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS     20000
#define CONF_MAX    4096
#define PING_MS     1000 /* WATCHDOG_USEC of these tests, in ms */
#define WATCHDOG_1S "WATCHDOG_USEC=1000000"

#define SUB_A "[subscription a]\ntopic = a/#\nqos = 1\nformat = number\n"
#define SUB_B "[subscription b]\ntopic = b/#\nqos = 1\nformat = number\n"
#define SUB_C "[subscription c]\ntopic = c/#\nqos = 1\nformat = number\n"

static struct broker broker;
static struct spawn sp;
static struct pub *pub;

static void setup(void)
{
    cr_assert_eq(spawn_suite_init(&sp, &broker), 0, "broker or spawn start");
    cr_assert_eq(pub_open(&pub, broker.port, "ops-pub", 1), 0);
}

static void teardown(void)
{
    pub_close(pub);
    pub = NULL;
    spawn_suite_fini(&sp, &broker);
}

TestSuite(ops, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(ops_files, .timeout = 30);

/* ---- helpers ------------------------------------------------------------- */

/* A configuration for this test's broker and database: the subscription
 * sections subs, log level `level`, then extra appended. */
static void make_conf(char *buf, size_t len, const char *subs,
                      const char *level, const char *extra)
{
    int n = snprintf(buf, len,
                     "[mqtt]\n"
                     "host = 127.0.0.1\n"
                     "port = %d\n"
                     "client_id = sp-ops-%d\n"
                     "reconnect_min_ms = 50ms\n"
                     "reconnect_max_ms = 500ms\n"
                     "%s"
                     "%s"
                     "[pipeline]\n"
                     "workers = 2\n"
                     "ring_bytes = 1MiB\n"
                     "max_series = 1000\n"
                     "[store]\n"
                     "path = %s\n"
                     "commit_interval_ms = 100ms\n"
                     "[log]\n"
                     "level = %s\n"
                     "stats_interval_s = 1s\n",
                     broker.port, (int) getpid(), extra ? extra : "", subs,
                     sp.db_path, level);

    cr_assert(n > 0 && (size_t) n < len, "configuration too long");
}

/* Starts the daemon and waits until every SUBACK is in: messages published
 * before that are not routed to it. */
static void start_daemon(const char *conf, const char *const *env)
{
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_start(&sp, conf, env), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "READY=1", WAIT_MS), 0,
                 "daemon never became ready");
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0,
                 "daemon never subscribed");
}

/* Rewrites the configuration, sends SIGHUP and waits for the reload's
 * count-th "config: reloaded" line. */
static void reload_with(const char *conf, int count)
{
    cr_assert_eq(files_write(sp.conf_path, conf, 0644), 0);
    spawn_clear_notes(&sp);
    cr_assert_eq(kill(sp.pid, SIGHUP), 0);
    cr_assert_eq(spawn_wait_log(&sp, "config: reloaded", count, WAIT_MS), 0,
                 "no reload");
}

static void publish(const char *topic, const char *payload, int times)
{
    for (int i = 0; i < times; i++)
        cr_assert_eq(pub_send(pub, topic, payload, strlen(payload)), 0);
    cr_assert_eq(pub_wait_acked(pub, WAIT_MS), 0);
}

/* Samples stored for topic at the finest resolution (10 s by default). */
static int64_t stored_on(const char *topic)
{
    return spawn_stored_on(&sp, topic, 10);
}

static void await_stored(const char *topic, int64_t want)
{
    cr_assert_eq(spawn_await_stored_on(&sp, topic, 10, want, WAIT_MS), 0,
                 "only %lld of %lld samples on %s",
                 (long long) stored_on(topic), (long long) want, topic);
}

/* A column of the last ingest_stats row (the one a clean stop writes). */
static int64_t final_stat(const char *column)
{
    char sql[128];

    snprintf(sql, sizeof(sql),
             "SELECT %s FROM ingest_stats ORDER BY ts_ms DESC LIMIT 1", column);
    return db_int(sp.db_path, sql);
}

static int count_in(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL;
         p += strlen(needle))
        n++;
    return n;
}

/* Reads pending datagrams into sp.notes without waiting. */
static void drain(struct spawn *s)
{
    (void) spawn_wait_notify(s, "\n", 0);
}

/* Blocks until a datagram is readable or the deadline passes. */
static void await_datagram(const struct spawn *s, uint64_t deadline)
{
    struct pollfd p = {.fd = s->notify_fd, .events = POLLIN};
    uint64_t now = wait_now_ms();

    if (now < deadline)
        (void) poll(&p, 1, (int) (deadline - now));
}

/*
 * Waits until needle arrived n times since the last clear; at[k] gets the
 * time the (k+1)-th was seen. Returns: 0; -ETIMEDOUT.
 */
static int await_count(struct spawn *s, const char *needle, int n, uint64_t *at,
                       int timeout_ms)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) timeout_ms;
    int seen = 0;

    for (;;) {
        int c;
        drain(s);
        c = count_in(s->notes, needle);
        for (; seen < c && seen < n; seen++)
            at[seen] = wait_now_ms();
        if (seen >= n)
            return 0;
        if (wait_now_ms() >= deadline)
            return -ETIMEDOUT;
        await_datagram(s, deadline);
    }
}

/*
 * Waits for quiet_ms without a needle datagram, starting over after each
 * one; *last gets the time the last one was seen (0 if none).
 * Returns: 0 once quiet; -ETIMEDOUT when no quiet window fits the timeout.
 */
static int await_quiet(struct spawn *s, const char *needle, int quiet_ms,
                       int timeout_ms, uint64_t *last)
{
    uint64_t deadline = wait_now_ms() + (uint64_t) timeout_ms;

    *last = 0;
    while (wait_now_ms() + (uint64_t) quiet_ms <= deadline) {
        spawn_clear_notes(s);
        if (spawn_wait_notify(s, needle, quiet_ms) == -ETIMEDOUT)
            return 0;
        *last = wait_now_ms();
    }
    return -ETIMEDOUT;
}

static bool have_program(const char *name)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* The file tests read the tree's files: they run from the repository root,
 * as `make test` runs them. */
static void need_repo_root(void)
{
    cr_assert_eq(access("systemd/sensorpipe.service", R_OK), 0,
                 "run from the repository root");
}

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    cr_assert_not_null(f, "open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert(n >= 0);
    rewind(f);
    buf = calloc(1, (size_t) n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    return buf;
}

/* ---- the unit and the man pages ------------------------------------------ */

Test(ops_files, unit_passes_systemd_analyze_verify)
{
    char bin[PATH_MAX];
    char cmd[PATH_MAX + 64];
    static char out[16384];
    char *unit;

    need_repo_root();
    if (!have_program("systemd-analyze"))
        cr_skip_test("systemd-analyze is not installed: unit not verified");
    cr_assert_not_null(realpath(spawn_binary(), bin), "no daemon at %s",
                       spawn_binary());
    snprintf(cmd, sizeof(cmd), "scripts/verify-unit.sh '%s'", bin);
    cr_expect_eq(files_run(cmd, out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, ": ok") != NULL, "%s", out);
    /* What the notify and reload tests below stand in for. */
    unit = read_whole("systemd/sensorpipe.service");
    cr_expect(strstr(unit, "\nType=notify\n") != NULL);
    cr_expect(strstr(unit, "\nWatchdogSec=") != NULL);
    cr_expect(strstr(unit, "\nExecReload=/bin/kill -HUP $MAINPID\n") != NULL);
    cr_expect(strstr(unit, "\nRestartPreventExitStatus=2\n") != NULL);
    free(unit);
}

static void expect_renders(const char *page)
{
    char cmd[256];
    static char out[16384];

    snprintf(cmd, sizeof(cmd), "groff -man -ww -z %s", page);
    cr_expect_eq(files_run(cmd, out, sizeof(out)), 0, "%s: %s", page, out);
    cr_expect_str_empty(out, "groff warns on %s: %s", page, out);
    if (!have_program("mandoc"))
        return;
    snprintf(cmd, sizeof(cmd), "mandoc -T lint %s", page);
    cr_expect_eq(files_run(cmd, out, sizeof(out)), 0, "%s: %s", page, out);
    cr_expect_str_empty(out, "mandoc warns on %s: %s", page, out);
}

Test(ops_files, man_pages_render_without_warnings)
{
    need_repo_root();
    if (!have_program("groff"))
        cr_skip_test("groff is not installed: man pages not checked");
    expect_renders("man/sensorpipe.8");
    expect_renders("man/sensorpipe.conf.5");
    expect_renders("man/sensorpipe-load.1");
}

/* Whether the part of page under header (up to the next .SH) holds entry. */
static bool section_has(const char *page, const char *header, const char *entry)
{
    const char *start = strstr(page, header);
    const char *end;
    const char *hit;

    if (start == NULL)
        return false;
    end = strstr(start + strlen(header), "\n.SH ");
    hit = strstr(start, entry);
    return hit != NULL && (end == NULL || hit < end);
}

/* Every key of the parser's table has its own entry in sensorpipe.conf(5),
 * in its section, so the page cannot drift from the code. */
Test(ops_files, conf_page_documents_every_key)
{
    char *page;
    const char *key;
    const char *sec;
    char header[64];
    char entry[96];
    size_t n = 0;

    need_repo_root();
    page = read_whole("man/sensorpipe.conf.5");
    for (size_t i = 0; (key = config_key_name(i, &sec)) != NULL; i++) {
        if (strcmp(sec, "subscription") == 0)
            snprintf(header, sizeof(header), ".SH [subscription NAME]\n");
        else
            snprintf(header, sizeof(header), ".SH [%s]\n", sec);
        snprintf(entry, sizeof(entry), "\n.BI \"%s = \"", key);
        cr_expect(section_has(page, header, entry),
                  "sensorpipe.conf.5 has no entry for [%s] %s", sec, key);
        n++;
    }
    cr_expect(n > 0, "no key in the table");
    free(page);
}

/* ---- the notify protocol ------------------------------------------------- */

Test(ops, notify_protocol_as_systemd_sees_it)
{
    static const char *const env[] = {WATCHDOG_1S, NULL};
    char conf[CONF_MAX];
    uint64_t at[3];

    make_conf(conf, sizeof(conf), SUB_A, "info", NULL);
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_start(&sp, conf, env), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "READY=1", WAIT_MS), 0);
    cr_expect(strstr(sp.notes, "STATUS=") != NULL, "no STATUS= line: %s",
              sp.notes);
    cr_assert_eq(
        spawn_wait_notify(&sp, "STATUS=broker up, subscribed", WAIT_MS), 0,
        "no STATUS once subscribed: %s", sp.notes);

    /* Pings keep coming, each within the watchdog period of the last. */
    spawn_clear_notes(&sp);
    cr_assert_eq(await_count(&sp, "WATCHDOG=1", 3, at, 5 * PING_MS), 0,
                 "fewer than 3 WATCHDOG=1 in %d ms", 5 * PING_MS);
    for (int i = 1; i < 3; i++)
        cr_expect(at[i] - at[i - 1] < PING_MS,
                  "%llu ms between pings, more than the watchdog period",
                  (unsigned long long) (at[i] - at[i - 1]));

    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "clean exit");
    cr_expect_eq(spawn_wait_notify(&sp, "STOPPING=1", 1000), 0,
                 "no STOPPING=1: %s", sp.notes);
}

Test(ops, watchdog_stops_while_the_writer_is_stuck)
{
    char conf[CONF_MAX];
    char stall[256];
    char stall_env[300];
    const char *env[] = {WATCHDOG_1S, stall_env, NULL};
    uint64_t stuck_at;
    uint64_t last_ping;

    snprintf(stall, sizeof(stall), "%s/stall", sp.dir);
    snprintf(stall_env, sizeof(stall_env), "SENSORPIPE_TEST_STALL_FILE=%s",
             stall);
    make_conf(conf, sizeof(conf), SUB_A, "info", NULL);
    start_daemon(conf, env);
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_wait_notify(&sp, "WATCHDOG=1", 5 * PING_MS), 0,
                 "no ping while healthy");

    /* Published once the writer is stuck, so the data waits in the rings
     * and must be stored after the stall ends. */
    cr_assert_eq(files_write(stall, "", 0644), 0);
    stuck_at = wait_now_ms();
    publish("a/x", "7", 10);
    /* Stuck means no heartbeat for max(2 s, WATCHDOG_USEC): the pings stop
     * about 2.5 s after the stall begins. */
    cr_assert_eq(await_quiet(&sp, "WATCHDOG=1", 3 * PING_MS / 2, 8 * PING_MS,
                             &last_ping),
                 0, "WATCHDOG=1 goes on while the writer is stuck");
    cr_expect(last_ping == 0 || last_ping - stuck_at <= 4 * PING_MS,
              "last ping %llu ms after the stall",
              (unsigned long long) (last_ping - stuck_at));
    /* The one bounded wait for an absence: systemd would act by now. */
    spawn_clear_notes(&sp);
    cr_expect_eq(spawn_wait_notify(&sp, "WATCHDOG=1", 2 * PING_MS), -ETIMEDOUT,
                 "a ping while stuck: %s", sp.notes);
    cr_expect_eq(stored_on("a/x"), 0, "the stuck writer committed");

    cr_assert_eq(unlink(stall), 0);
    spawn_clear_notes(&sp);
    cr_expect_eq(spawn_wait_notify(&sp, "WATCHDOG=1", 5 * PING_MS), 0,
                 "pings do not resume");
    await_stored("a/x", 10);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(stored_on("a/x"), 10);
}

/* ---- SIGHUP -------------------------------------------------------------- */

Test(ops, sighup_adds_and_removes_subscriptions_live)
{
    char conf[CONF_MAX];

    make_conf(conf, sizeof(conf), SUB_A, "info", NULL);
    start_daemon(conf, NULL);
    publish("a/x", "1", 3);
    await_stored("a/x", 3);

    /* Add b: subscribed without a restart. */
    make_conf(conf, sizeof(conf), SUB_A SUB_B, "info", NULL);
    reload_with(conf, 1);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0,
                 "b never subscribed: %s", sp.notes);
    publish("b/x", "2", 4);
    await_stored("b/x", 4);

    /* Remove a, add c: c's SUBACK comes after the broker handled the
     * UNSUBSCRIBE of a (one connection, packets in order). */
    make_conf(conf, sizeof(conf), SUB_B SUB_C, "info", NULL);
    reload_with(conf, 2);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0,
                 "c never subscribed: %s", sp.notes);
    cr_expect(spawn_log_contains(&sp, "unsubscribing from a/#"));
    publish("a/x", "1", 5);
    publish("c/x", "3", 2);
    await_stored("c/x", 2);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    /* Only what was published while subscribed reached the daemon. */
    cr_expect_eq(final_stat("received"), 3 + 4 + 2);
    cr_expect_eq(final_stat("dropped_invalid"), 0);
    cr_expect_eq(stored_on("a/x"), 3);
    cr_expect_eq(stored_on("b/x"), 4);
    cr_expect(!spawn_log_contains(&sp, "need a restart"),
              "only subscriptions changed");
}

Test(ops, sighup_refuses_a_broken_file_and_keeps_running)
{
    char conf[CONF_MAX];
    char broken[CONF_MAX];
    char where[256];
    int line;

    make_conf(conf, sizeof(conf), SUB_A, "info", NULL);
    start_daemon(conf, NULL);
    /* The new file would move the subscription to b/#, but its last line
     * is not an assignment. */
    make_conf(broken, sizeof(broken) - 64, SUB_B, "info", NULL);
    line = count_in(broken, "\n") + 1;
    strcat(broken, "this line is not an assignment\n");
    cr_assert_eq(files_write(sp.conf_path, broken, 0644), 0);
    cr_assert_eq(kill(sp.pid, SIGHUP), 0);
    cr_assert_eq(spawn_wait_log(&sp, "config: reload refused", 1, WAIT_MS), 0);
    snprintf(where, sizeof(where), "%s:%d: ", sp.conf_path, line);
    cr_expect(spawn_log_contains(&sp, where), "the error names %s", where);

    /* The old subscription goes on; the new one never started. */
    publish("b/x", "5", 2);
    publish("a/x", "6", 3);
    await_stored("a/x", 3);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(final_stat("received"), 3);
    cr_expect_eq(stored_on("b/x"), 0);
    cr_expect_eq(spawn_log_count(&sp, "config: reloaded"), 0);
}

Test(ops, sighup_changes_the_log_level)
{
    char conf[CONF_MAX];
    int seen;

    make_conf(conf, sizeof(conf), SUB_A, "info", NULL);
    start_daemon(conf, NULL);
    publish("a/bad", "not a number", 1);
    publish("a/x", "1", 1);
    await_stored("a/x", 1);
    cr_assert_eq(spawn_wait_log(&sp, "decode: ", 1, WAIT_MS), 0);
    cr_expect_eq(spawn_log_count(&sp, " debug: "), 0, "debug at level info");

    make_conf(conf, sizeof(conf), SUB_A, "debug", NULL);
    reload_with(conf, 1);
    cr_expect(spawn_log_contains(&sp, "config: log level is now debug"));
    publish("a/x", "2", 1);
    cr_expect_eq(spawn_wait_log(&sp, "mqtt: message on a/x", 1, WAIT_MS), 0,
                 "no debug line for a message at level debug");
    cr_expect(spawn_log_count(&sp, " debug: ") >= 1);

    /* And back: per-message lines stop again. */
    make_conf(conf, sizeof(conf), SUB_A, "info", NULL);
    reload_with(conf, 2);
    cr_expect(spawn_log_contains(&sp, "config: log level is now info"));
    seen = spawn_log_count(&sp, "mqtt: message on");
    publish("a/x", "3", 1);
    await_stored("a/x", 3);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(spawn_log_count(&sp, "mqtt: message on"), seen);
    cr_expect(!spawn_log_contains(&sp, "need a restart"),
              "only [log] level changed");
}

/* ---- SIGHUP under load ----------------------------------------------------
 */

/*
 * A reload that changes subscriptions waits until every ingress ring is
 * empty. To keep it waiting as long as a test needs, the writer is stalled
 * (SENSORPIPE_TEST_STALL_FILE) under a load larger than the rings: one
 * worker, raw samples (one egress record per message), 1 MiB rings. The
 * egress ring holds about 26,000 raw samples, the ingress ring about
 * 20,000 of these messages: once the daemon received LOAD_BLOCKED, its
 * worker is blocked with records left in its ingress ring until the stall
 * ends.
 */
#define LOAD_MSGS    60000
#define LOAD_BLOCKED 32000

/*
 * Waits until the log holds needle count times. The daemon's notify
 * datagrams are read meanwhile: these tests run longer than the socket's
 * queue (10 datagrams) lasts at one STATUS a second, and a daemon whose
 * queue is full blocks in sd_notify().
 */
static void await_log(const char *needle, int count, const char *what)
{
    uint64_t deadline = wait_now_ms() + WAIT_MS;

    while (spawn_log_count(&sp, needle) < count) {
        cr_assert_lt(wait_now_ms(), deadline, "%s", what);
        drain(&sp);
        wait_nap_ms(20);
    }
}

static void make_loaded_conf(char *buf, size_t len, const char *subs)
{
    int n = snprintf(buf, len,
                     "[mqtt]\nhost = 127.0.0.1\nport = %d\n"
                     "client_id = sp-ops-%d\n"
                     "%s"
                     "[pipeline]\nworkers = 1\nring_bytes = 1MiB\n"
                     "max_payload_bytes = 16B\n"
                     "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
                     "raw_samples = true\n"
                     "[log]\nstats_interval_s = 1s\n",
                     broker.port, (int) getpid(), subs, sp.db_path);

    cr_assert(n > 0 && (size_t) n < len, "configuration too long");
}

/* The last value of "name=" in the daemon's stats lines, -1 if none. */
static long long logged_stat(const char *name)
{
    char *log = read_whole(sp.log_path);
    const char *p = log;
    const char *hit = NULL;
    long long v = -1;

    while ((p = strstr(p, name)) != NULL) {
        if (p > log && p[-1] == ' ')
            hit = p;
        p += strlen(name);
    }
    if (hit != NULL)
        v = strtoll(hit + strlen(name), NULL, 10);
    free(log);
    return v;
}

/* Starts the daemon with the writer stalled and loads it until its worker
 * is blocked: from then on a reload waits until unstall() is called. */
static void start_blocked(const char *conf, char *stall, size_t len)
{
    static char stall_env[300];
    const char *env[] = {stall_env, NULL};
    uint64_t deadline;

    snprintf(stall, len, "%s/stall", sp.dir);
    snprintf(stall_env, sizeof(stall_env), "SENSORPIPE_TEST_STALL_FILE=%s",
             stall);
    cr_assert_eq(files_write(stall, "", 0644), 0);
    start_daemon(conf, env);
    for (int i = 0; i < LOAD_MSGS; i++)
        cr_assert_eq(pub_sendf(pub, "a/x", "%d", i % 100), 0);
    cr_assert_eq(pub_wait_acked(pub, WAIT_MS), 0);
    deadline = wait_now_ms() + WAIT_MS;
    while (logged_stat("received=") < LOAD_BLOCKED) {
        cr_assert_lt(wait_now_ms(), deadline, "received only %lld",
                     logged_stat("received="));
        drain(&sp);
        wait_nap_ms(50);
    }
}

/* Samples stored as raw rows on topic. */
static int64_t raw_on(const char *topic)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM samples m JOIN series s ON s.id = "
             "m.series_id WHERE s.topic = '%s'",
             topic);
    return db_int(sp.db_path, sql);
}

static void await_raw(const char *topic, int64_t want)
{
    uint64_t deadline = wait_now_ms() + WAIT_MS;

    while (raw_on(topic) < want) {
        cr_assert_lt(wait_now_ms(), deadline, "%s: %lld of %lld stored", topic,
                     (long long) raw_on(topic), (long long) want);
        drain(&sp);
        wait_nap_ms(20);
    }
}

/* A loaded daemon on a, its worker blocked (start_blocked()), then a
 * reload that adds b and waits for the rings to drain. */
static void start_with_a_waiting_reload(char *stall, size_t len)
{
    char conf[CONF_MAX];

    make_loaded_conf(conf, sizeof(conf), SUB_A);
    start_blocked(conf, stall, len);
    make_loaded_conf(conf, sizeof(conf), SUB_A SUB_B);
    cr_assert_eq(files_write(sp.conf_path, conf, 0644), 0);
    cr_assert_eq(kill(sp.pid, SIGHUP), 0);
    await_log("subscriptions change once the rings drain", 1,
              "the reload does not wait");
}

Test(ops, sighup_while_a_reload_waits_runs_after_it)
{
    char conf[CONF_MAX];
    char stall[256];

    /* The first reload adds b and waits for the blocked worker... */
    start_with_a_waiting_reload(stall, sizeof(stall));
    /* ...when the second, removing b again, comes in. */
    make_loaded_conf(conf, sizeof(conf), SUB_A);
    cr_assert_eq(files_write(sp.conf_path, conf, 0644), 0);
    cr_assert_eq(kill(sp.pid, SIGHUP), 0);
    await_log("it follows", 1, "the second reload is not noted");
    cr_assert_eq(spawn_log_count(&sp, "config: reloaded"), 0,
                 "the first reload did not wait");

    cr_assert_eq(unlink(stall), 0);
    await_log("config: reloaded", 2, "the second reload never ran");
    cr_expect(spawn_log_contains(&sp, "unsubscribing from b/#"));
    await_raw("a/x", LOAD_MSGS);
    /* The daemon runs the second file: b is not routed to it. Both go
     * through one connection in order, so once a/x arrived, b/x would
     * have too. */
    publish("b/x", "2", 5);
    publish("a/x", "1", 1);
    await_raw("a/x", LOAD_MSGS + 1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_eq(final_stat("received"), LOAD_MSGS + 1);
    cr_expect_eq(raw_on("b/x"), 0);
}

Test(ops, stop_during_a_waiting_reload_sends_no_ready_after_stopping)
{
    char stall[256];
    const char *stopping;
    int rc;

    start_with_a_waiting_reload(stall, sizeof(stall));

    /* A broker that does not answer the closing connection holds the
     * stop open (for the client's close wait): long enough for the rings
     * to drain once the writer goes on, which is when a reload still
     * pending would finish. */
    cr_assert_eq(kill(broker.pid, SIGSTOP), 0);
    spawn_clear_notes(&sp);
    cr_assert_eq(kill(sp.pid, SIGTERM), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "STOPPING=1", WAIT_MS), 0);
    cr_assert_eq(unlink(stall), 0);
    rc = spawn_wait_exit(&sp, WAIT_MS);
    cr_assert_eq(kill(broker.pid, SIGCONT), 0);
    cr_assert_eq(rc, 0, "clean exit");
    drain(&sp);
    stopping = strstr(sp.notes, "STOPPING=1");
    cr_assert_not_null(stopping);
    cr_expect_null(strstr(stopping, "READY=1"), "READY=1 after STOPPING=1: %s",
                   sp.notes);
    cr_expect(spawn_log_contains(&sp, "reload of "), "no word on the reload");
    cr_expect_eq(spawn_log_count(&sp, "config: reloaded"), 0);
    /* Nothing received is lost by the stop. */
    cr_expect_eq(raw_on("a/x"), final_stat("received"));
}

/* ---- journald ------------------------------------------------------------ */

/* Checks every line of the journal-mode log; returns the decode warnings. */
static int check_journal_lines(const char *log)
{
    int warnings = 0;

    for (const char *l = log; *l != '\0';) {
        const char *nl = strchr(l, '\n');
        cr_assert_not_null(nl, "unterminated line: %s", l);
        cr_expect(l[0] == '<' && l[1] >= '0' && l[1] <= '7' && l[2] == '>',
                  "no priority prefix: %.*s", (int) (nl - l), l);
        if (strncmp(l, "<4>decode: ", 11) == 0)
            warnings++;
        l = nl + 1;
    }
    return warnings;
}

Test(ops, journal_stream_gets_priority_prefixes_and_rate_limits)
{
    char conf[CONF_MAX];
    char journal[80];
    const char *env[] = {journal, NULL};
    struct stat st;
    char *log;
    int fd;
    int warnings;

    /* The log file is the daemon's stderr; JOURNAL_STREAM names it. */
    fd = open(sp.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(fstat(fd, &st), 0);
    close(fd);
    snprintf(journal, sizeof(journal), "JOURNAL_STREAM=%llu:%llu",
             (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
    make_conf(conf, sizeof(conf), SUB_A, "info", NULL);
    start_daemon(conf, env);

    publish("a/bad", "PAYLOAD-TEXT-NOT-A-NUMBER", 50);
    publish("a/x", "1", 1);
    await_stored("a/x", 1);
    cr_assert_eq(spawn_wait_log(&sp, "<6>stats: ", 1, WAIT_MS), 0,
                 "no stats line at info");
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    log = read_whole(sp.log_path);
    warnings = check_journal_lines(log);
    cr_expect(strstr(log, "<5>daemon: sensorpipe ") != NULL, "start line");
    cr_expect(strstr(log, "<5>daemon: stopped: ") != NULL, "stop line");
    cr_expect(strstr(log, "Z info: ") == NULL, "timestamps in journal mode");
    /* 50 bad payloads on one topic (one worker): a burst of 5, the rest
     * counted, not logged. */
    cr_expect(warnings >= 1 && warnings <= 6, "%d decode warnings", warnings);
    cr_expect(strstr(log, "PAYLOAD-TEXT") == NULL, "payload in the log");
    cr_expect_eq(final_stat("dropped_invalid"), 50);
    free(log);
}

/* ---- secrets ------------------------------------------------------------- */

Test(ops, password_never_appears_in_logs_or_check_config)
{
    static const char secret[] = "TopSecret123";
    char pw_path[256];
    char extra[512];
    char conf[CONF_MAX];
    char cmd[PATH_MAX + 256];
    static char out[65536];

    snprintf(pw_path, sizeof(pw_path), "%s/mqtt-password", sp.dir);
    cr_assert_eq(files_write(pw_path, "TopSecret123\n", 0600), 0);
    snprintf(extra, sizeof(extra), "username = spuser\npassword_file = %s\n",
             pw_path);
    /* Debug level: libmosquitto's own packet lines are logged too. The test
     * broker allows anonymous clients and ignores the password. */
    make_conf(conf, sizeof(conf), SUB_A, "debug", extra);
    start_daemon(conf, NULL);
    publish("a/x", "1", 1);
    await_stored("a/x", 1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect(spawn_log_contains(&sp, "as sp-ops-"), "never connected");
    cr_expect(!spawn_log_contains(&sp, secret), "password in the log");

    snprintf(cmd, sizeof(cmd), "'%s' --check-config -c '%s'", spawn_binary(),
             sp.conf_path);
    cr_expect_eq(files_run(cmd, out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, pw_path) != NULL, "the file is named: %s", out);
    cr_expect(strstr(out, secret) == NULL, "password in --check-config");

    /* A password file others can read is refused, naming the file only. */
    cr_assert_eq(chmod(pw_path, 0644), 0);
    cr_assert_eq(spawn_start(&sp, conf, NULL), 0);
    cr_expect_eq(spawn_wait_exit(&sp, WAIT_MS), 2);
    cr_expect(spawn_log_contains(&sp, "open to group or others"));
    cr_expect(!spawn_log_contains(&sp, secret), "password in the log");
}
