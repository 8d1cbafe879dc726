/*
 * idmap.c - fixed-capacity int64 -> int64 map (see idmap.h).
 *
 * Threads: one owner. Invariants: the slot count is a power of two at
 * least twice max, so a probe always ends at a free slot; removal shifts
 * the rest of a run back, so no tombstones. Memory: idmap_init() only
 * (lazy_zero_alloc(): pages become resident as ids arrive).
 */
#include "idmap.h"

#include <errno.h>
#include <string.h>

#include "aligned.h"

static size_t slots_for(uint32_t max)
{
    size_t slots = 16;

    while (slots < (size_t) max * 2)
        slots <<= 1;
    return slots;
}

size_t idmap_bytes(uint32_t max)
{
    return slots_for(max) * 2 * sizeof(int64_t);
}

int idmap_init(struct idmap *m, uint32_t max)
{
    size_t slots = slots_for(max);

    memset(m, 0, sizeof(*m));
    /* Set first: idmap_fini() frees by it. Resident as ids arrive. */
    m->mask = (uint32_t) (slots - 1);
    m->keys = lazy_zero_alloc(slots * sizeof(*m->keys));
    m->vals = lazy_zero_alloc(slots * sizeof(*m->vals));
    if (m->keys == NULL || m->vals == NULL) {
        idmap_fini(m);
        return -ENOMEM;
    }
    m->max = max;
    return 0;
}

void idmap_fini(struct idmap *m)
{
    size_t slots = (size_t) m->mask + 1;

    lazy_zero_free(m->keys, slots * sizeof(*m->keys));
    lazy_zero_free(m->vals, slots * sizeof(*m->vals));
    memset(m, 0, sizeof(*m));
}

static uint32_t home(const struct idmap *m, int64_t key)
{
    return (uint32_t) (((uint64_t) key * 0x9E3779B97F4A7C15u) >> 32) & m->mask;
}

/* Slot holding key, or the free slot where it would go. */
static uint32_t find(const struct idmap *m, int64_t key)
{
    uint32_t i = home(m, key);

    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & m->mask;
    return i;
}

int64_t idmap_get(const struct idmap *m, int64_t key)
{
    uint32_t i;

    if (m->n == 0)
        return key;
    i = find(m, key);
    return m->keys[i] == key ? m->vals[i] : key;
}

int idmap_put(struct idmap *m, int64_t key, int64_t val)
{
    uint32_t i;

    if (m->keys == NULL) /* never initialized: holds nothing */
        return -ENOSPC;
    i = find(m, key);

    if (m->keys[i] == 0) {
        if (m->n >= m->max)
            return -ENOSPC;
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
    return 0;
}

void idmap_del(struct idmap *m, int64_t key)
{
    uint32_t i;
    uint32_t j;

    if (m->n == 0)
        return;
    i = find(m, key);
    if (m->keys[i] != key)
        return;
    for (j = i;;) {
        uint32_t h;
        j = (j + 1) & m->mask;
        if (m->keys[j] == 0)
            break;
        h = home(m, m->keys[j]);
        /* The key at j may move to i unless its home lies in (i, j]. */
        if (((j - h) & m->mask) >= ((j - i) & m->mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = 0;
    m->n--;
}
