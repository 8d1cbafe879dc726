/*
 * idmap.h - a fixed-capacity map from one series id to another: the ids a
 * worker gave series that came back to the ids the store already holds.
 *
 * A series that left the registry (idle) and returns gets a new id from
 * its worker, which cannot ask the store; the writer finds the stored row
 * by (topic, field) and maps the new id to the old one until the worker
 * says the series left again. Open addressing with linear probing and
 * removal by backward shift; allocated once by idmap_init(), never grows.
 * The keys are ids the daemon hands out, not text a device chooses.
 */
#ifndef SP_IDMAP_H
#define SP_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

/* Owner: one thread (the writer). */
struct idmap {
    int64_t *keys; /* 0 = free slot */
    int64_t *vals;
    uint32_t mask;
    uint32_t n;   /* entries in use */
    uint32_t max; /* entries allowed (half the slots) */
};

/* Bytes idmap_init() allocates for max entries (the memory plan). */
size_t idmap_bytes(uint32_t max);

/* Room for max entries. Returns: 0, -ENOMEM. Thread: start-up. */
SP_MUST_CHECK int idmap_init(struct idmap *m, uint32_t max);
void idmap_fini(struct idmap *m);

/* The id key maps to, or key itself when unmapped. Thread: the owner. */
int64_t idmap_get(const struct idmap *m, int64_t key);

/* Maps key (> 0) to val, replacing. Returns: 0, -ENOSPC (full).
 * Thread: the owner. */
SP_MUST_CHECK int idmap_put(struct idmap *m, int64_t key, int64_t val);

/* Forgets key (no-op when unmapped). Thread: the owner. */
void idmap_del(struct idmap *m, int64_t key);

#endif
