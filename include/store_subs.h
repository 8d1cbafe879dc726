/*
 * store_subs.h - the store's record of the broker's subscriptions
 * (store_subs.c).
 */
#ifndef SP_STORE_SUBS_H
#define SP_STORE_SUBS_H

#include <stdint.h>

#include "compiler.h"
#include "store.h"

/* One row of subscriptions. Owner: the caller; the strings are borrowed. */
struct store_subs_row {
    const char *filter;
    const char *name;
    int qos;
    int64_t acked_ms;
};

/* Called per row; a non-zero return stops the walk and is returned. */
typedef int (*store_subs_fn)(void *ctx, const struct store_subs_row *row);

/*
 * Calls fn for each subscription recorded for client_id, in filter order.
 * row and its strings are valid during the call only.
 * Returns: 0, fn's non-zero value, -EIO. Thread: start-up.
 */
SP_MUST_CHECK int store_subs_load(struct store *st, const char *client_id,
                                  store_subs_fn fn, void *ctx);

/*
 * As store_subs_load() on the file at path, opened read-only: the
 * file is neither created nor migrated nor locked for writing (for
 * --check-config, also while the daemon runs).
 * Returns: 0; -ENOENT no such file; -ENOMSG a store without the table (an
 *   older schema: no record yet); fn's non-zero value; -EACCES, -EIO.
 * Thread: any (its own connection).
 */
SP_MUST_CHECK int store_subs_peek(const char *path, const char *client_id,
                                  store_subs_fn fn, void *ctx);

/*
 * Inside a transaction: deletes every subscription row of client_id, and
 * inserts (or replaces) one. Borrows the strings until return.
 * Returns: 0, -EBUSY, -ENOSPC, -EIO. Thread: writer.
 */
SP_MUST_CHECK int store_subs_clear(struct store *st, const char *client_id);
SP_MUST_CHECK int store_subs_add(struct store *st, const char *client_id,
                                 const struct store_subs_row *row);

#endif
