/*
 * series.c - per-shard series registry with preallocated open addressing.
 *
 * Written here rather than taken from a library: the table must never
 * allocate after start, must share one global limit across shards, and
 * must keep each series' partial bucket next to its key; none of the common
 * C hash tables (uthash, khash) allocates up front and stays put.
 *
 * Threads: one worker owns each table; series_table_init() and start-up
 * loads run before the workers start. The shared series_limit is atomics.
 *
 * Invariants:
 *   - index has a power-of-two size >= 2 * cap, so it is at most half full
 *     and every probe sequence ends at a free slot.
 *   - every key sits within SERIES_PROBE_MAX slots of its home slot: a
 *     key that would go farther is refused (-ELOOP), so no lookup walks
 *     longer, whatever keys a device sends.
 *   - index slot = (hash >> 32) << 32 | (entry number + 1); 0 means free.
 *   - entries[0..n) are in use; arena[0..arena_used) holds their keys.
 *   - limit->count <= limit->max, except transiently inside series_add().
 *
 * Memory: series_table_init() allocates index, entries, arena and the dirty
 * list; nothing else allocates.
 */
#include "series.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

#define SERIES_MAX_CAP (1u << 26)

/*
 * The key of every hash a device can steer (the shard of a topic, the
 * registry slot of a series): 192 bytes from getrandom(2) at start, so
 * keys chosen offline to collide collide only by chance here. XXH3 with
 * a secret (not only a seed) puts the unknown bytes into every round.
 * Written once at start-up (series_hash_init()), read-only afterwards.
 */
#define HASH_SECRET_BYTES 192 /* XXH3's own default size */
_Static_assert(HASH_SECRET_BYTES >= XXH3_SECRET_SIZE_MIN, "XXH3 secret");
static unsigned char hash_secret[HASH_SECRET_BYTES];
static bool hash_keyed;
static uint64_t hash_fixed_seed;

int series_hash_init(const char *fixed_seed)
{
    size_t got = 0;

    if (fixed_seed != NULL) {
        hash_keyed = false;
        hash_fixed_seed = strtoull(fixed_seed, NULL, 10);
        return 0;
    }
    while (got < sizeof(hash_secret)) {
        ssize_t n = getrandom(hash_secret + got, sizeof(hash_secret) - got, 0);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0)
            got += (size_t) n;
    }
    hash_keyed = true;
    return 0;
}

static size_t index_slots(uint32_t cap)
{
    size_t slots = 16;

    while (slots < (size_t) cap * 2)
        slots <<= 1;
    return slots;
}

size_t series_table_bytes(uint32_t cap, size_t arena_bytes)
{
    return index_slots(cap) * sizeof(uint64_t) +
           (size_t) cap * (sizeof(struct series_entry) + sizeof(uint32_t)) +
           arena_bytes;
}

int series_table_init(struct series_table *t, uint32_t cap, size_t arena_bytes,
                      struct series_limit *limit)
{
    size_t slots;

    memset(t, 0, sizeof(*t));
    if (cap == 0 || cap > SERIES_MAX_CAP || arena_bytes > UINT32_MAX)
        return -EINVAL;
    slots = index_slots(cap);
    t->index = calloc(slots, sizeof(*t->index));
    t->entries = aligned_alloc(64, (size_t) cap * sizeof(*t->entries));
    t->dirty = calloc(cap, sizeof(*t->dirty));
    t->arena = malloc(arena_bytes);
    if (!t->index || !t->entries || !t->dirty || !t->arena) {
        series_table_fini(t);
        return -ENOMEM;
    }
    /* calloc'd pages may stay unmapped until written: touch them all now. */
    memset(t->index, 0, slots * sizeof(*t->index));
    memset(t->entries, 0, cap * sizeof(*t->entries));
    memset(t->dirty, 0, cap * sizeof(*t->dirty));
    memset(t->arena, 0, arena_bytes);
    t->index_mask = (uint32_t) (slots - 1);
    t->cap = cap;
    t->arena_len = arena_bytes;
    t->limit = limit;
    return 0;
}

void series_table_fini(struct series_table *t)
{
    free(t->index);
    free(t->entries);
    free(t->dirty);
    free(t->arena);
    memset(t, 0, sizeof(*t));
}

uint64_t series_topic_hash(const char *topic, size_t len)
{
    if (SP_LIKELY(hash_keyed))
        return XXH3_64bits_withSecret(topic, len, hash_secret,
                                      sizeof(hash_secret));
    return XXH3_64bits_withSeed(topic, len, hash_fixed_seed);
}

/* The topic's hash goes into the field's, so a topic is hashed once per
 * message however many fields it carries. Keyed, the field is hashed with
 * the secret alone and the topic's hash mixed in after: a seed-only XXH3
 * of a short field would put the unknown bits in fewer places. */
uint64_t series_key_hash(const struct series_key *k)
{
    if (SP_LIKELY(hash_keyed))
        return XXH3_64bits_withSecret(k->field, k->field_len, hash_secret,
                                      sizeof(hash_secret)) ^
               (k->topic_hash * 0x9E3779B97F4A7C15u);
    return XXH3_64bits_withSeed(k->field, k->field_len, k->topic_hash);
}

static bool entry_matches(const struct series_table *t,
                          const struct series_entry *e,
                          const struct series_key *k)
{
    const char *key = t->arena + e->key_off;

    return e->topic_len == k->topic_len && e->field_len == k->field_len &&
           memcmp(key, k->topic, k->topic_len) == 0 &&
           memcmp(key + k->topic_len + 1, k->field, k->field_len) == 0;
}

/* Slot holding the key, or the free slot where it would go; PROBE_FAR
 * when neither lies within SERIES_PROBE_MAX slots of the key's home. */
#define PROBE_FAR UINT32_MAX
static uint32_t probe(const struct series_table *t, uint64_t h,
                      const struct series_key *k)
{
    uint64_t tag = h & 0xffffffff00000000u;
    uint32_t i = (uint32_t) h & t->index_mask;

    for (unsigned steps = 0; steps < SERIES_PROBE_MAX; steps++) {
        uint64_t slot = t->index[i];
        if (slot == 0)
            return i;
        if ((slot & 0xffffffff00000000u) == tag &&
            entry_matches(t, &t->entries[(uint32_t) slot - 1], k))
            return i;
        i = (i + 1) & t->index_mask;
    }
    return PROBE_FAR;
}

struct series_entry *series_find(struct series_table *t,
                                 const struct series_key *k)
{
    uint32_t i = probe(t, series_key_hash(k), k);
    uint64_t slot = i != PROBE_FAR ? t->index[i] : 0;

    return slot ? &t->entries[(uint32_t) slot - 1] : NULL;
}

/* Takes one unit of the global limit; false when max_series is reached. */
static bool limit_take(struct series_limit *l)
{
    /* Relaxed: the count is a budget, it orders no other memory. */
    uint32_t old =
        atomic_fetch_add_explicit(&l->count, 1, memory_order_relaxed);
    if (old < l->max)
        return true;
    atomic_fetch_sub_explicit(&l->count, 1, memory_order_relaxed);
    return false;
}

/* Copies the key into the arena as topic '\0' field '\0'. */
static void store_key(struct series_table *t, struct series_entry *e,
                      const struct series_key *k)
{
    char *dst = t->arena + t->arena_used;

    e->key_off = (uint32_t) t->arena_used;
    e->topic_len = (uint32_t) k->topic_len;
    e->field_len = (uint32_t) k->field_len;
    memcpy(dst, k->topic, k->topic_len);
    dst[k->topic_len] = '\0';
    memcpy(dst + k->topic_len + 1, k->field, k->field_len);
    dst[k->topic_len + 1 + k->field_len] = '\0';
    t->arena_used += k->topic_len + k->field_len + 2;
}

int series_add(struct series_table *t, const struct series_key *k, int64_t id,
               struct series_entry **out)
{
    uint64_t h = series_key_hash(k);
    uint32_t i = probe(t, h, k);
    struct series_entry *e;

    if (i == PROBE_FAR)
        return -ELOOP;
    if (t->index[i] != 0) {
        *out = &t->entries[(uint32_t) t->index[i] - 1];
        return -EEXIST;
    }
    if (t->n == t->cap ||
        t->arena_len - t->arena_used < k->topic_len + k->field_len + 2)
        return -ENOSPC;
    if (!limit_take(t->limit))
        return -ENOSPC;
    e = &t->entries[t->n];
    memset(e, 0, sizeof(*e));
    store_key(t, e, k);
    if (id <= 0)
        id = atomic_fetch_add_explicit(&t->limit->next_id, 1,
                                       memory_order_relaxed);
    e->id = id;
    bucket_acc_reset(&e->partial);
    t->n++;
    t->index[i] = (h & 0xffffffff00000000u) | t->n;
    *out = e;
    return 0;
}

const char *series_topic(const struct series_table *t,
                         const struct series_entry *e)
{
    return t->arena + e->key_off;
}

const char *series_field(const struct series_table *t,
                         const struct series_entry *e)
{
    return t->arena + e->key_off + e->topic_len + 1;
}

void series_mark_dirty(struct series_table *t, struct series_entry *e)
{
    if (e->dirty)
        return;
    e->dirty = true;
    t->dirty[t->n_dirty++] = (uint32_t) (e - t->entries);
}
