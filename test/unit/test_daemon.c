/*
 * test_daemon.c - the memory plan (the daemon's run itself is covered by
 * the integration tests, which start the binary).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "daemon.h"
#include "series.h"
#include "worker.h"

static struct config cfg;

Test(daemon, plan_scales_with_workers_and_series)
{
    struct daemon_plan a;
    struct daemon_plan b;

    config_defaults(&cfg);
    cfg.pipeline.workers = 2;
    cfg.pipeline.max_series = 1000;
    cfg.pipeline.ring_bytes = 1u << 20;
    daemon_plan(&cfg, &a);
    cr_expect_eq(a.workers, 2);
    cr_expect_eq(a.ingress_bytes, 1u << 20);
    cr_expect_eq(a.series_cap, 1000, "each worker holds every series");
    cr_expect_eq(a.series_bytes, series_table_bytes(1000, a.arena_bytes));
    cr_expect_eq(a.total_bytes, 2 * (a.ingress_bytes + a.egress_bytes +
                                     a.series_bytes + a.scratch_bytes));
    cfg.pipeline.workers = 4;
    cfg.pipeline.max_series = 10000;
    daemon_plan(&cfg, &b);
    cr_expect_gt(b.total_bytes, 2 * a.total_bytes);
    cr_expect_eq(b.sqlite_bytes, (size_t) cfg.store.heap_limit_mb << 20);
}

Test(daemon, ring_sizes_round_up_and_zero_workers_means_one_per_cpu)
{
    struct daemon_plan p;

    config_defaults(&cfg);
    cfg.pipeline.workers = 0;
    cfg.pipeline.ring_bytes = 5000000;
    daemon_plan(&cfg, &p);
    cr_expect_geq(p.workers, 1);
    cr_expect_eq(p.ingress_bytes, 8u << 20, "rounded to a power of two");
    cr_expect_eq(p.egress_bytes, worker_egress_bytes(&cfg));
}

Test(daemon, check_config_prints_the_plan)
{
    char path[] = "/tmp/sp-plan-XXXXXX";
    char *out = NULL;
    size_t len = 0;
    FILE *f;
    FILE *mem;
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    f = fdopen(fd, "w");
    fputs("[subscription a]\ntopic = a/#\n", f);
    fclose(f);
    mem = open_memstream(&out, &len);
    cr_expect_eq(daemon_check_config(path, mem), DAEMON_EXIT_OK);
    fclose(mem);
    cr_expect(strstr(out, "# memory: preallocated") != NULL, "%s", out);
    cr_expect(strstr(out, "topic = a/#") != NULL);
    free(out);
    unlink(path);
}

/* --check-config output for a file holding text. */
static char *check_config_of(const char *text)
{
    char path[] = "/tmp/sp-plan-XXXXXX";
    char *out = NULL;
    size_t len = 0;
    FILE *mem;
    FILE *f;
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    mem = open_memstream(&out, &len);
    cr_expect_eq(daemon_check_config(path, mem), DAEMON_EXIT_OK);
    fclose(mem);
    unlink(path);
    return out;
}

/* Eight workers of the default size (about 302 MiB with SQLite's heap) do
 * not fit the shipped unit's MemoryMax=256M; two (124 MiB) do. */
Test(daemon, check_config_warns_when_the_plan_exceeds_the_units_memory_max)
{
    char *out;

    cr_assert_eq(unsetenv("INVOCATION_ID"), 0);
    out = check_config_of("[subscription a]\ntopic = a/#\n"
                          "[pipeline]\nworkers = 8\n");
    cr_expect(strstr(out, "# warning: memory: the plan's bound ") != NULL &&
                  strstr(out, "exceeds the shipped unit's MemoryMax=") != NULL,
              "%s", out);
    free(out);
    out = check_config_of("[subscription a]\ntopic = a/#\n"
                          "[pipeline]\nworkers = 2\n");
    cr_expect(strstr(out, "# warning: memory:") == NULL, "%s", out);
    free(out);
}
