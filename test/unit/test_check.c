/*
 * test_check.c - --check-config (the daemon's run itself is covered by
 * the integration tests, which start the binary; the memory plan by
 * test_pipeline.c).
 */
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "check.h"

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
    cr_expect_eq(check_config(path, mem), 0);
    fclose(mem);
    unlink(path);
    return out;
}

Test(check, check_config_prints_the_plan)
{
    char *out = check_config_of("[subscription a]\ntopic = a/#\n");

    cr_expect(strstr(out, "# memory: preallocated") != NULL, "%s", out);
    cr_expect(strstr(out, "topic = a/#") != NULL);
    free(out);
}

/* 64 workers of the default size (about 289 MiB with SQLite's heap: the
 * rings grow with the workers, the registry only with max_series) do not
 * fit the shipped unit's MemoryMax=256M; two (100 MiB) do. */
Test(check, check_config_warns_when_the_plan_exceeds_the_units_memory_max)
{
    char *out;

    cr_assert_eq(unsetenv("INVOCATION_ID"), 0);
    out = check_config_of("[subscription a]\ntopic = a/#\n"
                          "[pipeline]\nworkers = 64\n");
    cr_expect(strstr(out, "# warning: memory: the plan's bound ") != NULL &&
                  strstr(out, "exceeds the shipped unit's MemoryMax=") != NULL,
              "%s", out);
    free(out);
    out = check_config_of("[subscription a]\ntopic = a/#\n"
                          "[pipeline]\nworkers = 2\n");
    cr_expect(strstr(out, "# warning: memory:") == NULL, "%s", out);
    free(out);
}
