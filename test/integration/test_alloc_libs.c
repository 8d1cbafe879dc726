/*
 * test_alloc_libs.c - allocations by the libraries, per daemon thread.
 *
 * test_alloc.c proves our own code allocates nothing on the message path;
 * libmosquitto (loop thread) and SQLite (writer) allocate inside their
 * shared libraries. Here the spawned daemon runs under the malloc_count
 * LD_PRELOAD shim, which counts every allocation per thread, and three runs
 * compare: the workers allocate nothing at all; the loop's allocations
 * (libmosquitto's packet buffers) grow with the number of messages, not with
 * the number of series.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"

#define WAIT_MS 30000

struct counts {
    unsigned long long loop;
    unsigned long long worker;
    unsigned long long writer;
    unsigned long long other;
};

static struct broker broker;

static const char *shim(char *buf, size_t len)
{
    const char *dir = getenv("SP_TOOLS");

    snprintf(buf, len, "%s/test/shim/malloc_count.so",
             dir && *dir ? dir : "build/debug");
    return buf;
}

/* One daemon run: n messages over `series` topics; returns its counts. */
static struct counts run(int series, int n)
{
    struct spawn sp;
    struct counts c = {0};
    char conf[1024];
    char preload[300];
    char file[300];
    char lib[256];
    const char *env[] = {preload, file, NULL};
    struct pub *p;
    FILE *f;

    cr_assert_eq(spawn_init(&sp), 0);
    snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim(lib, sizeof(lib)));
    snprintf(file, sizeof(file), "MALLOC_COUNT_FILE=%s/counts", sp.dir);
    snprintf(conf, sizeof(conf),
             "[mqtt]\nport = %d\nclient_id = libs-%d\n"
             "[subscription s]\ntopic = s/#\nformat = json\nqos = 1\n"
             "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
             "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
             "[log]\nstats_interval_s = 0\n",
             broker.port, series, sp.db_path);
    cr_assert_eq(spawn_start_ready(&sp, conf, env, WAIT_MS), 0);
    cr_assert_eq(pub_open(&p, broker.port, "libs-pub", 1), 0);
    for (int i = 0; i < n; i++) {
        char topic[32];
        snprintf(topic, sizeof(topic), "s/%d", i % series);
        cr_assert_eq(pub_sendf(p, topic, "{\"v\":%d}", i), 0);
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    cr_assert_eq(spawn_await_stored(&sp, 10, n, WAIT_MS), 0);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    pub_close(p);
    snprintf(lib, sizeof(lib), "%s/counts", sp.dir);
    f = fopen(lib, "r");
    cr_assert_not_null(f, "the shim wrote no counts");
    cr_assert_eq(fscanf(f, "loop %llu worker %llu writer %llu other %llu",
                        &c.loop, &c.worker, &c.writer, &c.other),
                 4);
    fclose(f);
    spawn_cleanup(&sp);
    cr_log_info("%d series, %d messages: loop %llu, workers %llu, writer "
                "%llu, other %llu",
                series, n, c.loop, c.worker, c.writer, c.other);
    return c;
}

Test(alloc_libs, workers_never_allocate_and_the_loop_does_not_grow_with_series,
     .timeout = 120)
{
    struct counts few;
    struct counts more;
    struct counts wide;

    if (spawn_sanitizer() != NULL)
        cr_skip("a %s daemon: its runtime owns malloc", spawn_sanitizer());
    cr_assert_eq(broker_start(&broker, NULL), 0);
    few = run(10, 2000);
    more = run(10, 6000);
    wide = run(1000, 6000);
    broker_stop(&broker);

    cr_expect_eq(few.worker, 0, "workers allocated %llu times", few.worker);
    cr_expect_eq(more.worker, 0);
    cr_expect_eq(wide.worker, 0, "100 times the series, still nothing");
    /* libmosquitto allocates per message on the loop thread; the same
     * traffic over 100 times the series costs the same (within 5 %). */
    cr_expect_gt(more.loop, few.loop);
    cr_expect_leq(wide.loop * 100, more.loop * 105, "loop: %llu vs %llu",
                  wide.loop, more.loop);
    cr_expect_geq(wide.loop * 100, more.loop * 95, "loop: %llu vs %llu",
                  wide.loop, more.loop);
}
