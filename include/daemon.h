/*
 * daemon.h - the daemon's life: load the settings, open the store, start
 * the threads, run the loop until a stop signal, drain and close.
 */
#ifndef SP_DAEMON_H
#define SP_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* Exit statuses (DESIGN.md "Command line"). */
enum daemon_exit {
    DAEMON_EXIT_OK = 0,      /* clean stop */
    DAEMON_EXIT_RUNTIME = 1, /* a runtime failure: systemd restarts */
    DAEMON_EXIT_CONFIG = 2,  /* usage or configuration error: no restart */
};

/* What the daemon preallocates for a configuration. Owner: the caller. */
struct daemon_plan {
    unsigned workers;     /* resolved: 0 in the file = one per CPU */
    uint32_t series_cap;  /* per shard */
    size_t arena_bytes;   /* per shard */
    size_t ingress_bytes; /* per shard, rounded to a power of two */
    size_t egress_bytes;  /* per shard */
    size_t series_bytes;  /* per shard: index + entries + arena */
    size_t scratch_bytes; /* per shard: decode and tags buffers */
    size_t total_bytes;   /* everything above, all shards */
    size_t sqlite_bytes;  /* hard heap limit */
};

/* Thread: any. Computes the memory plan of cfg. */
void daemon_plan(const struct config *cfg, struct daemon_plan *plan);

/* Thread: any. Prints the plan as "# memory: ..." comment lines. */
void daemon_plan_print(const struct daemon_plan *plan, FILE *out);

/*
 * Runs the daemon with the settings in path until SIGTERM or SIGINT.
 * Returns: an enum daemon_exit value for main().
 * Thread: the main thread, which becomes the loop thread.
 */
int daemon_run(const char *path);

/*
 * --check-config: loads and validates path, prints the effective settings
 * (secrets masked) and the memory plan to out.
 * Returns: DAEMON_EXIT_OK or DAEMON_EXIT_CONFIG. Thread: main.
 */
int daemon_check_config(const char *path, FILE *out);

#endif
