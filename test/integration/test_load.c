/*
 * test_load.c - the benchmarking tools: sensorpipe-load against a private
 * broker (publisher and null subscriber in two processes),
 * sensorpipe-bench's pipeline check, and the smoke size of
 * scripts/bench.sh against the daemon under test.
 *
 * The tools are taken from $SP_TOOLS (the variant's build directory, set by
 * scripts/run-tests.sh), else from the directory of $SP_DAEMON, else
 * build/debug. Expected counts are computed here from the options given,
 * not read back from the tools.
 *
 * Threads: the test's only; children are started with fork() and execvp()
 * and only their PIDs are ever signalled.
 * Memory: test code; nothing is checked for allocation here.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "tmpdir.h"
#include "wait.h"

#define OUT_MAX    (256 * 1024)
#define SMOKE_MS   150000 /* bench.sh smoke run; about 10 s unsanitized */
#define TOOL_MS    30000
#define READY_MS   10000
#define SMOKE_SIZE 1000 /* bench.sh: max(1000, int(base * 0.002)) */
#define CSV_HEAD                                                               \
    "t_s,published,rate\n1," /* header, then second 1 */ /* bench.sh:          \
                                                            max(1000,          \
                                                            int(2000000 *      \
                                                            0.002)) */

static char tmp[64];
static char out[OUT_MAX];
static struct broker broker;

/* ---- helpers ------------------------------------------------------------ */

/* The directory holding sensorpipe-load and sensorpipe-bench. */
static const char *tools_dir(void)
{
    static char buf[512];
    const char *t = getenv("SP_TOOLS");
    const char *d = getenv("SP_DAEMON");

    if (t != NULL && t[0] != '\0')
        return t;
    if (d == NULL || d[0] == '\0')
        return "build/debug";
    snprintf(buf, sizeof(buf), "%s", d);
    return dirname(buf);
}

static void tool_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tools_dir(), name);
}

/*
 * Starts argv with stdout and stderr on out_path; env is NULL or
 * "NAME=value" strings set in the child only.
 */
static pid_t start(char *const argv[], const char *const *env,
                   const char *out_path)
{
    pid_t pid = fork();

    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *f = freopen(out_path, "w", stdout);
        if (f == NULL || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            char name[64];
            const char *eq = strchr(env[i], '=');
            size_t n = eq != NULL ? (size_t) (eq - env[i]) : 0;
            if (n == 0 || n >= sizeof(name))
                _exit(125);
            memcpy(name, env[i], n);
            name[n] = '\0';
            setenv(name, eq + 1, 1);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Polls for pid's exit until the deadline. Returns: true once reaped. */
static bool reaped_by(pid_t pid, uint64_t deadline, int *st)
{
    while (waitpid(pid, st, WNOHANG) != pid) {
        if (wait_now_ms() > deadline)
            return false;
        wait_nap_ms(10);
    }
    return true;
}

/*
 * Waits for pid. On timeout SIGTERMs it (bench.sh then stops its own
 * children), SIGKILLs it after 5 s more, and fails.
 */
static int finish(pid_t pid, int timeout_ms)
{
    int st = 0;

    if (!reaped_by(pid, wait_now_ms() + (uint64_t) timeout_ms, &st)) {
        kill(pid, SIGTERM);
        if (!reaped_by(pid, wait_now_ms() + 5000, &st)) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        cr_assert_fail("pid %d still running after %d ms", (int) pid,
                       timeout_ms);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Reads path into out (empty when it does not exist yet). */
static const char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n;

    out[0] = '\0';
    if (f == NULL)
        return out;
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

/* Waits until the file holds needle, or the process has exited. */
static bool await_text(const char *path, const char *needle, pid_t pid)
{
    uint64_t deadline = wait_now_ms() + READY_MS;
    int st;

    while (wait_now_ms() < deadline) {
        if (strstr(slurp(path), needle) != NULL)
            return true;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return false;
        wait_nap_ms(10);
    }
    return false;
}

/* The first number after key in text, or -1. */
static long long number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    return p != NULL ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void setup(void)
{
    cr_assert_eq(tmpdir_make(tmp, sizeof(tmp), "sp-load-test"), 0);
}

static void teardown(void)
{
    (void) broker_stop(&broker);
    (void) tmpdir_remove(tmp);
}

TestSuite(load, .init = setup, .fini = teardown, .timeout = 150);

/* ---- sensorpipe-load ---------------------------------------------------- */

Test(load, qos1_null_subscriber_counts_exactly_what_was_published)
{
    char load[512];
    char port[16];
    char sub_out[128];
    char pub_out[128];
    pid_t sub;

    cr_assert_eq(broker_start(&broker, NULL), 0, "broker start");
    tool_path(load, sizeof(load), "sensorpipe-load");
    snprintf(port, sizeof(port), "%d", broker.port);
    snprintf(sub_out, sizeof(sub_out), "%s/sub.out", tmp);
    snprintf(pub_out, sizeof(pub_out), "%s/pub.out", tmp);
    /* No -n: it ends 3 s after the last message, so a duplicate or an
     * extra message would show in its count. */
    char *sub_argv[] = {load, "--subscribe", "-p", port,      "-q",
                        "1",  "-d",          "3",  "--quiet", NULL};
    sub = start(sub_argv, NULL, sub_out);
    cr_assert(await_text(sub_out, "subscribe: ready", sub),
              "subscriber not ready: %s", out);
    char *pub_argv[] = {load, "-p", port, "-n", "1000", "-q",
                        "1",  "-s", "7",  "-c", "2",    NULL};
    cr_assert_eq(finish(start(pub_argv, NULL, pub_out), TOOL_MS), 0,
                 "publisher: %s", slurp(pub_out));
    cr_expect_eq(number_after(slurp(pub_out), "load: published "), 1000, "%s",
                 out);
    cr_expect(strstr(out, "qos 1, series 7") != NULL, "%s", out);
    cr_assert_eq(finish(sub, TOOL_MS), 0, "subscriber: %s", slurp(sub_out));
    cr_expect_eq(number_after(slurp(sub_out), "subscribe: received "), 1000,
                 "%s", out);
}

Test(load, paced_run_takes_as_long_as_its_rate_says)
{
    char load[512];
    char port[16];
    char pub_out[128];
    char csv[128];
    uint64_t t0;
    uint64_t ms;

    cr_assert_eq(broker_start(&broker, NULL), 0, "broker start");
    tool_path(load, sizeof(load), "sensorpipe-load");
    snprintf(port, sizeof(port), "%d", broker.port);
    snprintf(pub_out, sizeof(pub_out), "%s/pub.out", tmp);
    snprintf(csv, sizeof(csv), "%s/pub.csv", tmp);
    /* 3000 messages at 2000/s: 1.5 s, never much less. */
    char *argv[] = {load,    "-p",   port, "-n",     "3000",
                    "-r",    "2000", "-f", "influx", "--payload-ts",
                    "--csv", csv,    NULL};
    t0 = wait_now_ms();
    cr_assert_eq(finish(start(argv, NULL, pub_out), TOOL_MS), 0, "%s",
                 slurp(pub_out));
    ms = wait_now_ms() - t0;
    cr_expect(ms >= 1400, "3000 messages at 2000/s took only %llu ms",
              (unsigned long long) ms);
    cr_expect_eq(number_after(slurp(pub_out), "load: published "), 3000, "%s",
                 out);
    cr_expect(strncmp(slurp(csv), CSV_HEAD, strlen(CSV_HEAD)) == 0, "csv: %s",
              out);
}

Test(load, usage_errors_exit_two)
{
    char load[512];
    char path[128];

    tool_path(load, sizeof(load), "sensorpipe-load");
    snprintf(path, sizeof(path), "%s/usage.out", tmp);
    char *no_ts[] = {load, "-f", "number", "--payload-ts", NULL};
    cr_expect_eq(finish(start(no_ts, NULL, path), TOOL_MS), 2);
    cr_expect(strstr(slurp(path), "--payload-ts") != NULL, "%s", out);
    char *bad_qos[] = {load, "-q", "2", NULL};
    cr_expect_eq(finish(start(bad_qos, NULL, path), TOOL_MS), 2);
    char *bad_format[] = {load, "-f", "xml", NULL};
    cr_expect_eq(finish(start(bad_format, NULL, path), TOOL_MS), 2);
}

Test(load, refused_connection_exits_one)
{
    char load[512];
    char port[16];
    char path[128];
    int free_port = broker_free_port();

    cr_assert(free_port > 0);
    tool_path(load, sizeof(load), "sensorpipe-load");
    snprintf(port, sizeof(port), "%d", free_port);
    snprintf(path, sizeof(path), "%s/refused.out", tmp);
    char *argv[] = {load, "-p", port, "-n", "10", NULL};
    cr_expect_eq(finish(start(argv, NULL, path), TOOL_MS), 1, "%s",
                 slurp(path));
}

/* ---- sensorpipe-bench --------------------------------------------------- */

Test(load, bench_pipeline_stores_every_sample)
{
    char bench[512];
    char path[128];

    tool_path(bench, sizeof(bench), "sensorpipe-bench");
    snprintf(path, sizeof(path), "%s/bench.out", tmp);
    /* Influx lines carry two fields (temp, seq): two samples each. */
    char *argv[] = {bench, "-n", "20000", "-s", "50", "-f", "influx", NULL};
    cr_assert_eq(finish(start(argv, NULL, path), TOOL_MS), 0, "%s",
                 slurp(path));
    slurp(path);
    cr_expect(strstr(out, "| decode only") != NULL, "%s", out);
    cr_expect(strstr(out, "| ring copy") != NULL, "%s", out);
    cr_expect(strstr(out, "| store merge") != NULL, "%s", out);
    cr_expect_eq(number_after(out, "20000 messages, "), 40000, "%s", out);
    cr_expect_eq(number_after(out, "stored sum(count) at 10s = "), 40000, "%s",
                 out);
}

/* ---- scripts/bench.sh --------------------------------------------------- */

Test(load, bench_script_smoke_run_loses_nothing)
{
    char dir[512];
    char results[128];
    char env_results[160];
    char env_daemon[600];
    char path[192];
    const char *daemon = getenv("SP_DAEMON");

    snprintf(dir, sizeof(dir), "%s", tools_dir());
    snprintf(results, sizeof(results), "%s/results", tmp);
    snprintf(env_results, sizeof(env_results), "BENCH_RESULTS=%s", results);
    snprintf(env_daemon, sizeof(env_daemon), "BENCH_DAEMON=%s",
             daemon != NULL ? daemon : "build/debug/sensorpipe");
    snprintf(path, sizeof(path), "%s/smoke.out", tmp);
    const char *env[] = {"BENCH_SCALE=0.002", "BENCH_CALLGRIND=0", env_results,
                         env_daemon, NULL};
    char *argv[] = {"scripts/bench.sh", dir, NULL};
    cr_assert_eq(finish(start(argv, env, path), SMOKE_MS), 0, "%s",
                 slurp(path));
    slurp(path);
    cr_expect(strstr(out,
                     "| scenario | messages / topics / rate | floor "
                     "µs/msg | daemon µs/msg | CPU ÷ floor | loop") != NULL,
              "%s", out);
    for (unsigned i = 0; i < 5; i++) {
        static const char *const sc[] = {"S1", "S2", "S3", "S4", "S4old"};
        char line[96];
        snprintf(line, sizeof(line), "%s: stored %u of %u published, lost 0",
                 sc[i], SMOKE_SIZE, SMOKE_SIZE);
        cr_expect(strstr(out, line) != NULL, "%s: %s", line, out);
    }
    /* S4 and S4old run on a store that already holds rollups, in the
     * new and in the old (WITHOUT ROWID) layout. */
    cr_expect(strstr(out, "| S4 | 1000 / 1000 / 20000/s, 60 s of history "
                          "(new layout) |") != NULL,
              "%s", out);
    cr_expect(strstr(out, "| S4old | 1000 / 1000 / 20000/s, 60 s of history "
                          "(old layout) |") != NULL,
              "%s", out);
    cr_expect(strstr(out, "| pipeline end to end") != NULL, "%s", out);
    /* The latency target beside each scenario's p99: commit_interval_ms
     * (1000, written into the daemon's configuration) + 50 ms. */
    cr_expect(strstr(out, "commit p99 ms: worst / median interval |") != NULL,
              "%s", out);
    cr_expect(strstr(out, "commit_interval_ms (1000 ms) + 50 ms = 1050 ms") !=
                  NULL,
              "%s", out);
    for (unsigned i = 1; i <= 3; i++) {
        char line[96];
        snprintf(line, sizeof(line), "| S%u |", i);
        const char *row = strstr(out, line);
        const char *end = row != NULL ? strchr(row, '\n') : NULL;
        const char *held = row != NULL ? strstr(row, "(≤ 1050: ") : NULL;
        cr_expect(held != NULL && held < end, "S%u's p99 and target: %s", i,
                  out);
    }
    snprintf(path, sizeof(path), "%s/summary.md", results);
    cr_expect(strstr(slurp(path),
                     "S3: stored 1000 of 1000 published, lost 0") != NULL,
              "summary: %s", out);
    snprintf(path, sizeof(path), "%s/scenarios.csv", results);
    cr_expect(strstr(slurp(path), "\nS3,1000,1000,10000,1000,") != NULL,
              "scenarios.csv: %s", out);
    cr_expect(strstr(out, ",commit_p99_ms,commit_p99_median_ms,"
                          "commit_p99_target_ms,commit_p99_held,") != NULL,
              "scenarios.csv: %s", out);
}
