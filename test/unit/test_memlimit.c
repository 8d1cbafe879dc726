/*
 * test_memlimit.c - MemoryMax= values as systemd reads them, the cgroup's
 * limit (v2 and v1, staged in a temporary directory), the comparison with a
 * plan, and the shipped unit's MemoryMax= compiled in.
 *
 * Threads: each test runs in its own process (Criterion); one thread.
 * Memory: test code; allocates freely.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "memlimit.h"

#define MIB (1024ull * 1024ull)

Test(memlimit, parses_systemd_sizes)
{
    uint64_t b = 0;

    cr_expect_eq(memlimit_parse("256M", &b), 0);
    cr_expect_eq(b, 256 * MIB);
    cr_expect_eq(memlimit_parse("1G", &b), 0);
    cr_expect_eq(b, 1024 * MIB);
    cr_expect_eq(memlimit_parse("512K", &b), 0);
    cr_expect_eq(b, 512 * 1024);
    cr_expect_eq(memlimit_parse("1.5G", &b), 0);
    cr_expect_eq(b, 1536 * MIB);
    cr_expect_eq(memlimit_parse("1000000", &b), 0);
    cr_expect_eq(b, 1000000);
    cr_expect_eq(memlimit_parse("infinity", &b), 0);
    cr_expect_eq(b, MEMLIMIT_NONE);
    cr_expect_eq(memlimit_parse("max", &b), 0);
    cr_expect_eq(b, MEMLIMIT_NONE);
    cr_expect_eq(memlimit_parse("50%", &b), 0);
    cr_expect(b > 0 && b < MEMLIMIT_NONE);
}

Test(memlimit, refuses_what_systemd_refuses)
{
    static const char *const bad[] = {"", "M", "12X", "1MB", "-1", "101%"};
    uint64_t b;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(memlimit_parse(bad[i], &b), -EINVAL, "%s", bad[i]);
}

/* A staged /proc/self/cgroup and cgroup file system under a temp dir. */
struct stage {
    char dir[64];
    char proc[128];
};

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert(f != NULL, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void stage(struct stage *s, const char *cgroup_line, const char *cg_dir,
                  const char *file, const char *value)
{
    char path[512];

    snprintf(s->dir, sizeof(s->dir), "/tmp/sp-memlimit-XXXXXX");
    cr_assert(mkdtemp(s->dir) != NULL);
    snprintf(s->proc, sizeof(s->proc), "%s/proc-cgroup", s->dir);
    put(s->proc, cgroup_line);
    snprintf(path, sizeof(path), "mkdir -p '%s%s'", s->dir, cg_dir);
    cr_assert_eq(system(path), 0);
    snprintf(path, sizeof(path), "%s%s/%s", s->dir, cg_dir, file);
    put(path, value);
}

static void unstage(const struct stage *s)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    cr_expect_eq(system(cmd), 0);
}

Test(memlimit, reads_cgroup_v2_memory_max)
{
    struct stage s;
    uint64_t b = 0;

    stage(&s, "0::/system.slice/sensorpipe.service\n",
          "/system.slice/sensorpipe.service", "memory.max", "268435456\n");
    cr_expect_eq(memlimit_cgroup(s.proc, s.dir, &b), 0);
    cr_expect_eq(b, 256 * MIB);
    unstage(&s);
    stage(&s, "0::/user.slice\n", "/user.slice", "memory.max", "max\n");
    cr_expect_eq(memlimit_cgroup(s.proc, s.dir, &b), 0);
    cr_expect_eq(b, MEMLIMIT_NONE);
    unstage(&s);
}

Test(memlimit, reads_cgroup_v1_limit_in_bytes)
{
    struct stage s;
    uint64_t b = 0;

    stage(&s, "5:cpu:/\n4:memory:/svc\n0::/\n", "/memory/svc",
          "memory.limit_in_bytes", "1048576\n");
    cr_expect_eq(memlimit_cgroup(s.proc, s.dir, &b), 0);
    cr_expect_eq(b, MIB);
    unstage(&s);
    stage(&s, "4:memory:/svc\n", "/memory/svc", "memory.limit_in_bytes",
          "9223372036854771712\n");
    cr_expect_eq(memlimit_cgroup(s.proc, s.dir, &b), 0);
    cr_expect_eq(b, MEMLIMIT_NONE, "v1's 'no limit' number");
    unstage(&s);
}

Test(memlimit, no_memory_controller_is_enoent)
{
    struct stage s;
    uint64_t b;

    stage(&s, "0::/\n", "/other", "memory.max", "1\n");
    cr_expect_eq(memlimit_cgroup(s.proc, s.dir, &b), -ENOENT);
    unstage(&s);
    cr_expect_lt(memlimit_cgroup("/nonexistent/cgroup", "/", &b), 0);
}

Test(memlimit, a_plan_over_the_limit_gets_a_warning)
{
    struct memlimit lim = {.bytes = 256 * MIB, .from = "the test's limit"};
    char msg[MEMLIMIT_MSG_MAX] = "";

    cr_expect_eq(memlimit_fits(&lim, 256 * MIB, msg, sizeof(msg)), 1);
    cr_expect_str_empty(msg);
    cr_expect_eq(memlimit_fits(&lim, 302 * MIB, msg, sizeof(msg)), 0);
    cr_expect(strstr(msg, "302.0 MiB exceeds the test's limit (256.0 MiB)") !=
                  NULL,
              "%s", msg);
    lim.bytes = MEMLIMIT_NONE;
    cr_expect_eq(memlimit_fits(&lim, UINT64_MAX - 1, msg, sizeof(msg)), 1);
}

/* The limit compiled in is the unit's MemoryMax= (the Makefile reads it). */
Test(memlimit, outside_systemd_the_shipped_units_memory_max_applies)
{
    char line[256];
    char want[300] = "";
    struct memlimit lim;
    FILE *f = fopen("systemd/sensorpipe.service", "r");

    cr_assert(f != NULL, "run from the source tree");
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "MemoryMax=", 10) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(want, sizeof(want), "the shipped unit's %s", line);
        }
    fclose(f);
    cr_assert_str_neq(want, "", "the unit sets no MemoryMax=");
    cr_assert_eq(unsetenv("INVOCATION_ID"), 0);
    cr_assert_eq(memlimit_detect(&lim, 1), 0);
    cr_expect_str_eq(lim.from, want);
    cr_expect_eq(memlimit_detect(&lim, 0), -ENOENT, "no unit fallback");
}
