/*
 * test_subscriptions.c - subscriptions follow the file across restarts.
 *
 * With a persistent session (clean_session = false, the default) the
 * broker keeps every subscription of an earlier run. A filter removed from
 * the file while the daemon was stopped must be unsubscribed at the next
 * start, from the record the daemon keeps in its store: its messages no
 * longer reach the daemon, and the broker queues nothing for it while the
 * daemon is down. Tried with a real mosquitto, the daemon binary and its
 * SQLite file, as an operator upgrading would: stop, edit, start.
 *
 * Threads: each test runs in its own process (Criterion); one thread.
 * Memory: test code; allocates freely.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS  20000
#define CONF_MAX 4096

#define SUB_A "[subscription a]\ntopic = a/#\nqos = 1\nformat = number\n"
#define SUB_B "[subscription b]\ntopic = b/#\nqos = 1\nformat = number\n"

static struct broker broker;
static struct spawn sp;
static struct pub *pub;

static void setup(void)
{
    cr_assert_eq(spawn_suite_init(&sp, &broker), 0, "broker or spawn start");
    cr_assert_eq(pub_open(&pub, broker.port, "subs-pub", 1), 0);
}

static void teardown(void)
{
    pub_close(pub);
    pub = NULL;
    spawn_suite_fini(&sp, &broker);
}

TestSuite(subscriptions, .init = setup, .fini = teardown, .timeout = 90);

/* A persistent session under a fixed client id, with these sections; no
 * periodic stats (a clean stop still writes its row), so the few notify
 * datagrams of a run never fill the test's socket. */
static void make_conf(char *buf, size_t len, const char *subs)
{
    int n = snprintf(buf, len,
                     "[mqtt]\nhost = 127.0.0.1\nport = %d\n"
                     "client_id = sp-subs-%d\nclean_session = false\n"
                     "reconnect_min_ms = 50ms\nreconnect_max_ms = 500ms\n"
                     "%s"
                     "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
                     "max_series = 1000\n"
                     "[store]\npath = %s\ncommit_interval_ms = 50ms\n"
                     "[log]\nstats_interval_s = 0\n",
                     broker.port, (int) getpid(), subs, sp.db_path);

    cr_assert(n > 0 && (size_t) n < len, "configuration too long");
}

/* Starts the daemon and waits until every SUBACK is in. */
static void start(const char *conf)
{
    cr_assert_eq(spawn_start_ready(&sp, conf, NULL, WAIT_MS), 0,
                 "daemon never subscribed");
}

static void stop(void)
{
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "clean exit");
}

static void publish(const char *topic, const char *payload, int times)
{
    for (int i = 0; i < times; i++)
        cr_assert_eq(pub_send(pub, topic, payload, strlen(payload)), 0);
    cr_assert_eq(pub_wait_acked(pub, WAIT_MS), 0);
}

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

/* How many rows of the record hold filter. */
static int64_t recorded(const char *filter)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM subscriptions WHERE filter = '%s'", filter);
    return db_int(sp.db_path, sql);
}

/* Runs --check-config on the test's file; out gets what it printed. */
static int check_config(char *out, size_t len)
{
    char cmd[512];
    FILE *f;
    size_t n;
    int st;

    snprintf(cmd, sizeof(cmd), "'%s' --check-config -c '%s' 2>&1",
             spawn_binary(), sp.conf_path);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_conf(const char *conf)
{
    FILE *f = fopen(sp.conf_path, "w");

    cr_assert_not_null(f);
    cr_assert(fputs(conf, f) >= 0);
    cr_assert_eq(fclose(f), 0);
}

Test(subscriptions, removed_while_stopped_is_unsubscribed_at_start)
{
    char conf[CONF_MAX];
    static char out[65536];

    /* First run: a and b, both in the broker's session. */
    make_conf(conf, sizeof(conf), SUB_A SUB_B);
    start(conf);
    publish("a/x", "1", 1);
    publish("b/x", "2", 1);
    await_stored("a/x", 1);
    await_stored("b/x", 1);
    stop();
    cr_expect_eq(recorded("a/#"), 1, "a/# not recorded");
    cr_expect_eq(recorded("b/#"), 1, "b/# not recorded");

    /* b leaves the file while the daemon is stopped. */
    make_conf(conf, sizeof(conf), SUB_A);
    write_conf(conf);
    cr_assert_eq(check_config(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "unsubscribes from b/# (subscription 'b'") != NULL,
              "--check-config does not say b/# goes: %s", out);
    cr_expect(strstr(out, "from a/#") == NULL, "a/# stays: %s", out);

    /* Second run: b/# is unsubscribed before a/# is acknowledged, so
     * nothing published on b/x from now on reaches the daemon. */
    start(conf);
    cr_expect(spawn_log_contains(&sp, "b/# (subscription 'b') is no longer "
                                      "in the file"),
              "the start log does not say b/# goes");
    cr_expect(spawn_log_contains(&sp, "unsubscribing from b/#"));
    publish("b/x", "3", 20);
    publish("a/x", "4", 1);
    await_stored("a/x", 2);
    stop();
    cr_expect_eq(spawn_stat(&sp, "received"), 1, "only a/x was received");
    cr_expect_eq(spawn_stat(&sp, "dropped_invalid"), 0);
    cr_expect_eq(recorded("b/#"), 0, "b/# still recorded");
    cr_expect_eq(recorded("a/#"), 1);

    /* While it is down the broker holds nothing for b: published now, b/x
     * would be queued in the session before a/x and delivered first. */
    publish("b/x", "5", 5);
    publish("a/x", "6", 1);
    start(conf);
    await_stored("a/x", 3);
    stop();
    cr_expect_eq(spawn_stat(&sp, "received"), 1, "b/x was queued");
    cr_expect_eq(spawn_stat(&sp, "dropped_invalid"), 0);
    cr_expect_eq(stored_on("b/x"), 1, "only the first run's b/x is stored");
    cr_assert_eq(check_config(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "nothing to unsubscribe") != NULL, "%s", out);
}

Test(subscriptions, changed_filter_under_the_same_name_is_replaced)
{
    char conf[CONF_MAX];

    make_conf(conf, sizeof(conf), SUB_A);
    start(conf);
    stop();
    /* The same name, another filter and qos. */
    make_conf(conf, sizeof(conf),
              "[subscription a]\ntopic = c/#\nqos = 0\nformat = number\n");
    start(conf);
    cr_expect(spawn_log_contains(&sp, "unsubscribing from a/#"));
    publish("a/x", "1", 10);
    publish("c/x", "2", 1);
    await_stored("c/x", 1);
    stop();
    cr_expect_eq(spawn_stat(&sp, "received"), 1, "a/x still reaches it");
    cr_expect_eq(recorded("a/#"), 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT qos FROM subscriptions WHERE "
                                    "filter = 'c/#'"),
                 0, "the granted qos is recorded");
}

Test(subscriptions, a_store_without_a_record_says_so_and_goes_on)
{
    char conf[CONF_MAX];
    sqlite3 *db;

    make_conf(conf, sizeof(conf), SUB_A SUB_B);
    start(conf);
    stop();
    /* As a store migrated from before the record: the table is empty. */
    cr_assert_eq(sqlite3_open(sp.db_path, &db), SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(db, "DELETE FROM subscriptions", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    make_conf(conf, sizeof(conf), SUB_A);
    start(conf);
    cr_expect(spawn_log_contains(&sp, "no record of earlier subscriptions"));
    publish("a/x", "1", 1);
    await_stored("a/x", 1);
    stop();
    /* From now on there is one. */
    cr_expect_eq(recorded("a/#"), 1);
}
