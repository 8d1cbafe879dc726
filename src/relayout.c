/*
 * relayout.c - `sensorpipe rebuild-rollups DB` (see relayout.h).
 *
 * Threads: the caller's. Memory: SQLite's heap only, capped as merge's.
 */
#include "relayout.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "store.h"
#include "store_schema.h"
#include "thread.h"

#define RELAYOUT_CACHE_MB 256
#define RELAYOUT_HEAP_MB  384
#define RELAYOUT_BUSY_MS  2000

/* A failure that left the file as it was. Returns DAEMON_EXIT_RUNTIME. */
static int relayout_fail(const char *path, int rc, FILE *err)
{
    fprintf(err,
            "sensorpipe rebuild-rollups: %s: %s%s; the file is unchanged\n",
            path, strerror(-rc),
            rc == -EBUSY ? " (is the daemon running? stop it first)" : "");
    return DAEMON_EXIT_RUNTIME;
}

int relayout_run(const char *path, FILE *err, FILE *info)
{
    struct config cfg;
    struct store st;
    uint64_t t0 = clock_mono_ms();
    int64_t rows = 0;
    int rc;

    if (access(path, R_OK | W_OK) != 0) {
        fprintf(err, "sensorpipe rebuild-rollups: %s: %s\n", path,
                strerror(errno));
        return DAEMON_EXIT_CONFIG;
    }
    thread_set_role(THREAD_WRITER, NULL);
    config_defaults(&cfg);
    if (snprintf(cfg.store.path, sizeof(cfg.store.path), "%s", path) >=
        (int) sizeof(cfg.store.path)) {
        fprintf(err, "sensorpipe rebuild-rollups: %s: path too long\n", path);
        return DAEMON_EXIT_CONFIG;
    }
    cfg.store.cache_mb = RELAYOUT_CACHE_MB;
    cfg.store.heap_limit_mb = RELAYOUT_HEAP_MB;
    rc = store_open(&st, &cfg);
    if (rc == -EPROTO) {
        fprintf(err,
                "sensorpipe rebuild-rollups: %s: not a store this "
                "sensorpipe reads\n",
                path);
        return DAEMON_EXIT_CONFIG;
    }
    if (rc < 0)
        return relayout_fail(path, rc, err);
    sqlite3_busy_timeout(st.db, RELAYOUT_BUSY_MS);
    rc = store_schema_relayout_rollups(st.db, &rows);
    store_close(&st);
    if (rc == -EALREADY) {
        fprintf(info,
                "sensorpipe rebuild-rollups: %s: rollups already has the "
                "current layout\n",
                path);
        return DAEMON_EXIT_OK;
    }
    if (rc < 0)
        return relayout_fail(path, rc, err);
    fprintf(info,
            "sensorpipe rebuild-rollups: %s: %" PRId64
            " rollup rows copied into the current layout in %.1f s\n",
            path, rows, (double) (clock_mono_ms() - t0) / 1000.0);
    return DAEMON_EXIT_OK;
}
