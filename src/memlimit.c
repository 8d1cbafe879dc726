/*
 * memlimit.c - the memory limit the daemon runs under (memlimit.h).
 *
 * Threads: every function is pure or reads files; any thread, in practice
 * the main thread at start and --check-config.
 *
 * Invariants: a limit is in bytes; MEMLIMIT_NONE means none. systemd's
 * suffixes are powers of 1024 (K, M, G, T), as in systemd.resource-control.
 *
 * Memory: stack buffers only.
 */
#include "memlimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* MemoryMax= of systemd/sensorpipe.service; the Makefile passes it. */
#ifndef SP_UNIT_MEMORY_MAX
#define SP_UNIT_MEMORY_MAX ""
#endif

#define CGROUP_LINE_MAX 4096
#define PATH_BYTES      4352

static double mib(uint64_t b)
{
    return (double) b / (1024.0 * 1024.0);
}

static int parse_percent(double pct, uint64_t *bytes)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);

    if (pct < 0 || pct > 100 || pages <= 0 || page <= 0)
        return -EINVAL;
    *bytes = (uint64_t) ((double) pages * (double) page * pct / 100.0);
    return 0;
}

int memlimit_parse(const char *text, uint64_t *bytes)
{
    static const char units[] = "KMGT";
    const char *u;
    char *end;
    double v;

    if (strcmp(text, "infinity") == 0 || strcmp(text, "max") == 0) {
        *bytes = MEMLIMIT_NONE;
        return 0;
    }
    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || v < 0 || v > 1.8e19)
        return -EINVAL;
    if (strcmp(end, "%") == 0)
        return parse_percent(v, bytes);
    if (*end == '\0') {
        *bytes = (uint64_t) v;
        return 0;
    }
    u = end[1] == '\0' ? strchr(units, *end) : NULL;
    if (u == NULL)
        return -EINVAL;
    for (const char *p = units; p <= u; p++)
        v *= 1024.0;
    *bytes = (uint64_t) v;
    return 0;
}

/* Reads the first line of path into buf, without its newline. */
static int read_line(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    int err = 0;

    if (f == NULL)
        return -errno;
    if (fgets(buf, (int) n, f) == NULL)
        err = -EINVAL;
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return err;
}

/*
 * The memory controller's file for this process, from /proc/self/cgroup:
 * "0::/PATH" (v2: ROOT/PATH/memory.max) or "N:...memory...:/PATH" (v1:
 * ROOT/memory/PATH/memory.limit_in_bytes).
 */
static int cgroup_file(const char *proc_cgroup, const char *root, char *out,
                       size_t n)
{
    char line[CGROUP_LINE_MAX];
    FILE *f = fopen(proc_cgroup, "re");
    int err = -ENOENT;

    if (f == NULL)
        return -errno;
    while (err == -ENOENT && fgets(line, sizeof(line), f) != NULL) {
        char *ctl = strchr(line, ':');
        char *path = ctl != NULL ? strchr(ctl + 1, ':') : NULL;

        if (path == NULL)
            continue;
        *ctl++ = '\0'; /* line: the hierarchy id; ctl: the controllers */
        *path++ = '\0';
        path[strcspn(path, "\n")] = '\0';
        if (strcmp(line, "0") == 0 && *ctl == '\0')
            (void) snprintf(out, n, "%s%s/memory.max", root, path);
        else if (strstr(ctl, "memory") != NULL)
            (void) snprintf(out, n, "%s/memory%s/memory.limit_in_bytes", root,
                            path);
        else
            continue;
        err = access(out, R_OK) == 0 ? 0 : -ENOENT;
    }
    fclose(f);
    return err;
}

int memlimit_cgroup(const char *proc_cgroup, const char *root, uint64_t *bytes)
{
    char path[PATH_BYTES];
    char value[64];
    int err = cgroup_file(proc_cgroup, root, path, sizeof(path));

    if (err == 0)
        err = read_line(path, value, sizeof(value));
    if (err == 0)
        err = memlimit_parse(value, bytes);
    /* cgroup v1 says "no limit" with a huge page-aligned number. */
    if (err == 0 && *bytes >= (UINT64_C(1) << 62))
        *bytes = MEMLIMIT_NONE;
    return err;
}

int memlimit_detect(struct memlimit *lim, int unit_fallback)
{
    const char *unit = SP_UNIT_MEMORY_MAX;

    memset(lim, 0, sizeof(*lim));
    lim->bytes = MEMLIMIT_NONE;
    if (getenv("INVOCATION_ID") != NULL &&
        memlimit_cgroup("/proc/self/cgroup", "/sys/fs/cgroup", &lim->bytes) ==
            0) {
        lim->from = "the service's cgroup memory.max";
        return 0;
    }
    if (!unit_fallback || unit[0] == '\0' ||
        memlimit_parse(unit, &lim->bytes) < 0)
        return -ENOENT;
    (void) snprintf(lim->from_buf, sizeof(lim->from_buf),
                    "the shipped unit's MemoryMax=%s", unit);
    lim->from = lim->from_buf;
    return 0;
}

int memlimit_fits(const struct memlimit *lim, uint64_t bound_bytes, char *msg,
                  size_t n)
{
    if (lim->bytes == MEMLIMIT_NONE || bound_bytes <= lim->bytes)
        return 1;
    (void) snprintf(msg, n,
                    "memory: the plan's bound %.1f MiB exceeds %s (%.1f MiB): "
                    "under load the daemon would be killed; lower workers, "
                    "max_series, ring_bytes or heap_limit_mb, or raise "
                    "MemoryMax= (systemctl edit sensorpipe)",
                    mib(bound_bytes), lim->from, mib(lim->bytes));
    return 0;
}
