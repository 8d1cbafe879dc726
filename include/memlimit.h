/*
 * memlimit.h - the memory limit the daemon runs under, against its plan.
 *
 * Under systemd the limit is the service cgroup's (cgroup v2 memory.max,
 * v1 memory.limit_in_bytes), found through /proc/self/cgroup. Elsewhere,
 * --check-config compares the plan with the MemoryMax= of the shipped unit
 * (systemd/sensorpipe.service, compiled in as SP_UNIT_MEMORY_MAX), the
 * limit the daemon will get once installed. A plan whose bound exceeds the
 * limit gets a warning: under load systemd's OOM handling would kill the
 * daemon, losing what it holds in memory.
 */
#ifndef SP_MEMLIMIT_H
#define SP_MEMLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

/* No limit: cgroup "max", MemoryMax=infinity. */
#define MEMLIMIT_NONE UINT64_MAX

/* A warning line, without a trailing newline. */
#define MEMLIMIT_MSG_MAX 384

/* Where a limit came from. Owner: the caller. */
struct memlimit {
    uint64_t bytes;   /* MEMLIMIT_NONE when there is none */
    const char *from; /* "cgroup memory.max" or "the unit's MemoryMax=256M" */
    char from_buf[96];
};

/*
 * Parses a MemoryMax= value as systemd does: bytes, or a number with K, M,
 * G or T (powers of 1024), or "infinity"; a percentage is of the physical
 * memory. Returns: 0 and *bytes; -EINVAL for anything else.
 * Thread: any.
 */
SP_MUST_CHECK int memlimit_parse(const char *text, uint64_t *bytes);

/*
 * Reads the memory limit of this process's cgroup: proc_cgroup is the
 * /proc/self/cgroup file, root the cgroup file system's mount point
 * (/sys/fs/cgroup); both are parameters so tests can stage them.
 * Returns: 0 and *bytes (MEMLIMIT_NONE for "max"); -ENOENT when no memory
 * controller file is found; -EINVAL for unreadable contents.
 * Thread: any.
 */
SP_MUST_CHECK int memlimit_cgroup(const char *proc_cgroup, const char *root,
                                  uint64_t *bytes);

/*
 * The limit that applies: the cgroup's when running under systemd
 * (INVOCATION_ID is set), else, when unit_fallback, the shipped unit's
 * MemoryMax=. Returns: 0 and *lim; -ENOENT when no limit is known.
 * Thread: any.
 */
SP_MUST_CHECK int memlimit_detect(struct memlimit *lim, int unit_fallback);

/*
 * Whether a plan of bound_bytes fits lim; when it does not, msg gets the
 * warning ("memory: the plan's bound ... exceeds ..."). Returns: 1 when it
 * fits (or there is no limit), 0 when it does not. Thread: any.
 */
int memlimit_fits(const struct memlimit *lim, uint64_t bound_bytes, char *msg,
                  size_t n);

#endif
