/*
 * retention.h - the writer's retention schedule: which old rows go, when,
 * and in what chunks, so deletes keep pace with inserts.
 */
#ifndef SP_RETENTION_H
#define SP_RETENTION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "config.h"
#include "store.h"

#define RETENTION_INTERVAL_MS 1000 /* a pass a second when not behind */
#define RETENTION_MIN_ROWS    2000 /* least rows per chunk */

/* Commits the open transaction (with the caller's retry policy).
 * Returns: 0 or -errno. */
typedef int (*retention_commit_fn)(void *ctx);

/*
 * Owner: the writer thread, which embeds it in struct writer. The loop
 * thread writes only the block marked shared, through retention_set().
 */
struct retention {
    /* Set by retention_init(), read-only afterwards. */
    unsigned chunk_rows; /* rows per chunk: max(batch_rows, MIN_ROWS) */

    /* Owned by the writer thread. */
    uint64_t next_ms; /* monotonic: the next scheduled pass */
    bool behind;      /* the last pass deleted a full chunk */

    /* Shared: the loop stores (SIGHUP), the writer loads. */
    _Atomic uint64_t ms[CONFIG_MAX_RESOLUTIONS];
    _Atomic uint64_t raw_ms;
    _Atomic bool changed; /* release: the values above first */
};

/* Thread: start-up. */
void retention_init(struct retention *r, const struct config *cfg);

/* Thread: the writer, once at its start. The first pass is due one
 * interval after now_mono_ms. */
void retention_start(struct retention *r, uint64_t now_mono_ms);

/* Thread: loop. New retention from a reload; the writer hands it to the
 * store before its next pass. */
void retention_set(struct retention *r, const struct config *cfg);

/* Thread: writer. A pass is due: its time came, or the last pass was
 * behind (then a pass follows every batch). */
bool retention_is_due(const struct retention *r, uint64_t now_mono_ms);

/* Thread: writer. How long until a pass is due (0: now). */
uint64_t retention_wait_ms(const struct retention *r, uint64_t now_mono_ms);

/*
 * Thread: writer. One pass: a chunk of every target with a retention,
 * each in a transaction of its own committed through commit(ctx). Errors
 * of the store end the pass early; the next comes an interval later.
 * Borrows st and ctx until return.
 */
void retention_pass(struct retention *r, struct store *st,
                    retention_commit_fn commit, void *ctx,
                    uint64_t now_mono_ms);

#endif
