/*
 * test_soak.c - resident memory stays flat under sustained load.
 *
 * sensorpipe-load publishes SOAK_MESSAGES (default 200,000; the benchmark
 * runs millions) bare numbers over 10,000 series as fast as the broker
 * takes them, while this test samples the daemon's VmRSS. Everything the
 * daemon needs was allocated at start and SQLite's page cache is small,
 * so the peak of the second half of the run may exceed the peak of the
 * first half by at most 2 %.
 *
 * The registry and the id map are reserved for max_series but become
 * resident only as series arrive: a daemon planned for 400,000 series
 * that has seen 100 stays far below its plan.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS          120000
#define MAX_SAMPLES      100000
#define SOAK_DEADLINE_MS 240000 /* within the 300 s test timeout */

static struct broker broker;
static struct spawn sp;
static long rss_kib[MAX_SAMPLES];

static const char *tool(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("SP_TOOLS");

    snprintf(buf, len, "%s/%s", dir && *dir ? dir : "build/debug", name);
    return buf;
}

static pid_t start_load(long n, int series)
{
    char bin[256];
    char port[16];
    char count[32];
    char nseries[16];
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        snprintf(port, sizeof(port), "%d", broker.port);
        snprintf(count, sizeof(count), "%ld", n);
        snprintf(nseries, sizeof(nseries), "%d", series);
        execl(tool("sensorpipe-load", bin, sizeof(bin)), "sensorpipe-load",
              "-p", port, "-n", count, "-s", nseries, "-q", "0", "-f", "number",
              "--quiet", (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* Starts the daemon on sensors/# (bare numbers, QoS 0) with these
 * [pipeline] settings and extra [store] lines. */
static void start_daemon(const char *pipeline, const char *store)
{
    char conf[1024];

    cr_assert_eq(spawn_suite_init(&sp, &broker), 0);
    snprintf(conf, sizeof(conf),
             "[mqtt]\nport = %d\nclient_id = soak-%d\n"
             "[subscription s]\ntopic = sensors/#\nformat = number\nqos = 0\n"
             "[pipeline]\n%s"
             "[store]\npath = %s\ncommit_interval_ms = 200ms\n%s"
             "[log]\nstats_interval_s = 0\n",
             broker.port, (int) getpid(), pipeline, sp.db_path, store);
    cr_assert_eq(spawn_start_ready(&sp, conf, NULL, 30000), 0);
}

static long peak(const long *v, size_t from, size_t to)
{
    long m = 0;

    for (size_t i = from; i < to; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

Test(soak, resident_memory_stays_flat, .timeout = 300)
{
    long n = getenv("SOAK_MESSAGES") ? atol(getenv("SOAK_MESSAGES")) : 200000;
    size_t k = 0;
    uint64_t deadline_ms = wait_now_ms() + SOAK_DEADLINE_MS;
    pid_t load;
    int st;

    start_daemon("workers = 2\nring_bytes = 4MiB\nmax_series = 20000\n",
                 "cache_mb = 2\nheap_limit_mb = 32\n");

    load = start_load(n, 10000);
    /* Sample every 20 ms until every message is stored. The deadline ends
     * the test before Criterion's timeout does, so a stall is reported
     * with the daemon's log and where each of its threads waits. */
    while (spawn_stored(&sp, 10) < n) {
        if (k >= (size_t) MAX_SAMPLES || wait_now_ms() > deadline_ms) {
            spawn_dump_log(&sp);
            cr_assert_fail("not stored in time: %lld of %ld",
                           (long long) spawn_stored(&sp, 10), n);
        }
        rss_kib[k++] = spawn_status_kib(&sp, "VmRSS");
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(waitpid(load, &st, 0), load);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "load tool failed");
    cr_assert_eq(spawn_stop(&sp, SIGTERM, 30000), 0);
    cr_assert_geq(k, 10, "too short a run to compare halves");
    long first = peak(rss_kib, 0, k / 2);
    long second = peak(rss_kib, k / 2, k);
    cr_log_info("soak: %ld messages, %zu samples, peak RSS %ld KiB then "
                "%ld KiB",
                n, k, first, second);
    /* Under a sanitizer the allocator's quarantine and shadow memory grow
     * with traffic: the figure measures the sanitizer, not the daemon. */
    if (spawn_sanitizer() == NULL)
        cr_expect_leq(second * 100, first * 102,
                      "RSS grew: first half peak %ld KiB, second half %ld KiB",
                      first, second);
    cr_expect_eq(spawn_stat(&sp, "received"), n);
    cr_expect_eq(spawn_stat(&sp, "series"), 10000);
    spawn_cleanup(&sp);
    broker_stop(&broker);
}

/* 400,000 series on one worker plan 92.3 MiB of registry and a 16 MiB id
 * map (111.3 MiB in all, --check-config); touched at start they would be
 * resident before the first message. 100 series need a few pages of it. */
Test(soak, resident_memory_follows_series_not_plan, .timeout = 120)
{
    pid_t load;
    int st;

    start_daemon("workers = 1\nmax_series = 400000\n", "");
    cr_assert(spawn_log_contains(&sp, "series 92.3 MiB (400000 series"),
              "the plan this test measures against changed");
    load = start_load(1000, 100);
    cr_assert_eq(waitpid(load, &st, 0), load);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "load tool failed");
    cr_assert_eq(spawn_await_stored(&sp, 10, 1000, WAIT_MS), 0);
    long rss = spawn_status_kib(&sp, "VmRSS");
    cr_log_info("soak: 100 of 400,000 series: RSS %ld KiB", rss);
    /* A sanitizer's heap block is zeroed at start (aligned.h). */
    if (spawn_sanitizer() == NULL)
        cr_expect_lt(rss, 48 * 1024,
                     "RSS %ld KiB: the registry's plan became resident", rss);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, 30000), 0);
    cr_expect_eq(spawn_stat(&sp, "series"), 100);
    spawn_cleanup(&sp);
    broker_stop(&broker);
}
