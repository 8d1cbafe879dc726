/*
 * retention.c - the writer's retention schedule.
 *
 * A pass deletes one chunk of every target (each resolution with a
 * retention, and the raw samples), each chunk in a transaction of its own
 * as short as a batch, then gives a few freed pages back to the file
 * system. A chunk holds at least a batch of rows, so when a pass finds a
 * full chunk (retention is behind) the writer runs the next pass after
 * its next batch instead of a second later: deletes keep pace with any
 * rate the writer inserts at, and how far behind they are shows in
 * ingest_stats.retention_lag_ms.
 *
 * Threads: the writer thread runs passes; the loop thread only calls
 * retention_set() (a reload), which publishes new values through
 * atomics that the next pass hands to the store.
 *
 * Invariants:
 *   - The store's retention changes only on the writer thread, between
 *     transactions.
 *   - A pass never holds a transaction open across chunks.
 *
 * Memory: none.
 */
#include "retention.h"

#include "clock.h"
#include "log.h"

void retention_init(struct retention *r, const struct config *cfg)
{
    unsigned b = cfg->store.batch_rows;

    r->chunk_rows = b > RETENTION_MIN_ROWS ? b : RETENTION_MIN_ROWS;
    r->next_ms = 0;
    r->behind = false;
    for (unsigned i = 0; i < CONFIG_MAX_RESOLUTIONS; i++)
        atomic_init(&r->ms[i], 0);
    atomic_init(&r->raw_ms, 0);
    atomic_init(&r->changed, false);
}

void retention_start(struct retention *r, uint64_t now_mono_ms)
{
    r->next_ms = now_mono_ms + RETENTION_INTERVAL_MS;
}

void retention_set(struct retention *r, const struct config *cfg)
{
    for (unsigned i = 0; i < CONFIG_MAX_RESOLUTIONS; i++)
        atomic_store_explicit(&r->ms[i], cfg->store.retention_ms[i],
                              memory_order_relaxed);
    atomic_store_explicit(&r->raw_ms, cfg->store.raw_retention_ms,
                          memory_order_relaxed);
    /* Release: the values above are visible once the flag is. */
    atomic_store_explicit(&r->changed, true, memory_order_release);
}

bool retention_is_due(const struct retention *r, uint64_t now_mono_ms)
{
    return r->behind || now_mono_ms >= r->next_ms;
}

uint64_t retention_wait_ms(const struct retention *r, uint64_t now_mono_ms)
{
    if (retention_is_due(r, now_mono_ms))
        return 0;
    return r->next_ms - now_mono_ms;
}

/* Hands retention set by a reload to the store. */
static void apply_changes(struct retention *r, struct store *st)
{
    uint64_t ms[CONFIG_MAX_RESOLUTIONS];

    if (!atomic_exchange_explicit(&r->changed, false, memory_order_acquire))
        return;
    for (unsigned i = 0; i < CONFIG_MAX_RESOLUTIONS; i++)
        ms[i] = atomic_load_explicit(&r->ms[i], memory_order_relaxed);
    store_set_retention(st, ms,
                        atomic_load_explicit(&r->raw_ms, memory_order_relaxed));
}

/* One chunk of the next target. Returns: rows deleted, or -errno. */
static int chunk(struct retention *r, struct store *st,
                 retention_commit_fn commit, void *ctx)
{
    unsigned deleted = 0;
    int rc = store_begin(st);

    if (rc == 0)
        rc = store_retention_step(st, clock_now_ms(), r->chunk_rows, &deleted);
    if (rc == 0)
        rc = commit(ctx);
    if (rc < 0) {
        store_rollback(st);
        return rc;
    }
    /* Give freed pages back to the file system a little at a time. */
    if (deleted > 0 && store_vacuum_step(st, 256) < 0)
        log_debug("store: incremental vacuum skipped");
    return (int) deleted;
}

void retention_pass(struct retention *r, struct store *st,
                    retention_commit_fn commit, void *ctx, uint64_t now_mono_ms)
{
    unsigned n;
    bool behind = false;

    if (now_mono_ms >= r->next_ms)
        r->next_ms = now_mono_ms + RETENTION_INTERVAL_MS;
    apply_changes(r, st);
    n = store_retention_targets(st);
    for (unsigned i = 0; i < n; i++) {
        int rc = chunk(r, st, commit, ctx);
        if (rc < 0) {
            behind = false; /* the store refuses: try again in a second */
            break;
        }
        behind = behind || (unsigned) rc == r->chunk_rows;
    }
    r->behind = behind;
}
