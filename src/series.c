/*
 * series.c - per-shard series registry with preallocated open addressing.
 *
 * Written here rather than taken from a library: the table must never
 * allocate after start, must share one global limit across shards, must
 * keep each series' partial bucket next to its key, and must let series
 * leave and come back without growing; none of the common C hash tables
 * (uthash, khash) allocates up front and stays put.
 *
 * Key text lives in an arena of records (a 12-byte header for a topic, 8
 * for a field, the text, a NUL, padding to 4 bytes). A topic's text is one
 * record shared by every series of that topic (found through a second index, by
 * topic), so a message with 110 fields stores its topic once; each series has
 * its own record for the field name. A series that leaves (series_remove())
 * frees its field record and, with its topic's last series, the topic record;
 * free records are reclaimed by compaction, which slides the live records
 * down and fixes every offset, when the arena is full and enough of it is
 * free (at least its 1/16th, so compaction never runs per series).
 *
 * Threads: one worker owns each table; series_table_init() and start-up
 * loads run before the workers start. The shared series_limit is atomics.
 *
 * Invariants:
 *   - index and topics have a power-of-two size >= 2 * cap, so each is at
 *     most half full and every probe sequence ends at a free slot.
 *   - every key sits within SERIES_PROBE_MAX slots of its home slot: a
 *     key that would go farther is refused (-ELOOP), so no lookup walks
 *     longer, whatever keys a device sends. Removal shifts later keys of a
 *     run back (no tombstones), which only shortens their distance.
 *   - index slot = (hash >> 32) << 32 | (entry number + 1); topics slot =
 *     (topic hash >> 32) << 32 | (record offset + 1); 0 means free.
 *   - entries[0..n) were used at least once; a live one has live set,
 *     the others are on the free list.
 *   - a topic record's refs is the number of live entries naming it; a
 *     field record's owner is its entry; a record not live is free, and
 *     arena_dead is the bytes of free records.
 *   - limit->count = live entries of every shard, <= limit->max except
 *     transiently inside series_add().
 *
 * Memory: series_table_init() reserves the two indexes, entries, arena,
 * the dirty list and the free list (lazy_zero_alloc(): resident as they
 * are first written, so memory follows the series seen, up to the plan);
 * nothing else allocates.
 */
#include "series.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

#include "aligned.h"

#define SERIES_MAX_CAP (1u << 26)
#define SLOT_TAG       0xffffffff00000000u
#define PROBE_FAR      UINT32_MAX

/* Records of key text in the arena. Owner: the table. A record is its
 * header, the text, a NUL and padding to 4 bytes. */
enum { REC_TOPIC = 1, REC_FIELD = 2 };
struct rec_head {
    uint16_t len; /* bytes of text, without the NUL */
    uint8_t kind; /* REC_TOPIC, REC_FIELD */
    uint8_t live; /* 0: free, reclaimed by compaction */
};
struct topic_rec {
    struct rec_head h;
    uint32_t refs; /* live entries naming it */
    uint32_t fwd;  /* compaction: the record's new offset */
};
struct field_rec {
    struct rec_head h;
    uint32_t owner; /* the entry it belongs to */
};

static size_t index_slots(uint32_t cap)
{
    size_t slots = 16;

    while (slots < (size_t) cap * 2)
        slots <<= 1;
    return slots;
}

size_t series_table_bytes(uint32_t cap, size_t arena_bytes)
{
    return 2 * index_slots(cap) * sizeof(uint64_t) +
           (size_t) cap * (sizeof(struct series_entry) + 2 * sizeof(uint32_t)) +
           arena_bytes;
}

static size_t rec_bytes(unsigned kind, size_t text_len)
{
    size_t head =
        kind == REC_TOPIC ? sizeof(struct topic_rec) : sizeof(struct field_rec);

    return (head + text_len + 1 + 3) & ~(size_t) 3;
}

size_t series_key_bytes(size_t topic_len, size_t field_len)
{
    return rec_bytes(REC_TOPIC, topic_len) + rec_bytes(REC_FIELD, field_len);
}

/* Records are 4-byte aligned: the arena is a whole number of words. */
static size_t arena_alloc_bytes(size_t arena_bytes)
{
    return arena_bytes < 4 ? 4 : (arena_bytes + 3) & ~(size_t) 3;
}

int series_table_init(struct series_table *t, uint32_t cap, size_t arena_bytes,
                      struct series_limit *limit)
{
    size_t slots;

    memset(t, 0, sizeof(*t));
    if (cap == 0 || cap > SERIES_MAX_CAP || arena_bytes > UINT32_MAX - 1)
        return -EINVAL;
    slots = index_slots(cap);
    /* Set first: series_table_fini() frees by these sizes. Every part is
     * reserved now and becomes resident as series arrive (aligned.h). */
    t->index_mask = (uint32_t) (slots - 1);
    t->cap = cap;
    t->arena_alloc = arena_alloc_bytes(arena_bytes);
    t->index = lazy_zero_alloc(slots * sizeof(*t->index));
    t->topics = lazy_zero_alloc(slots * sizeof(*t->topics));
    t->entries = lazy_zero_alloc((size_t) cap * sizeof(*t->entries));
    t->dirty = lazy_zero_alloc((size_t) cap * sizeof(*t->dirty));
    t->free_list = lazy_zero_alloc((size_t) cap * sizeof(*t->free_list));
    t->arena = lazy_zero_alloc(t->arena_alloc);
    if (!t->index || !t->topics || !t->entries || !t->dirty || !t->free_list ||
        !t->arena) {
        series_table_fini(t);
        return -ENOMEM;
    }
    t->arena_len = arena_bytes & ~(size_t) 3;
    t->limit = limit;
    return 0;
}

void series_table_fini(struct series_table *t)
{
    size_t slots = (size_t) t->index_mask + 1;

    lazy_zero_free(t->index, slots * sizeof(*t->index));
    lazy_zero_free(t->topics, slots * sizeof(*t->topics));
    lazy_zero_free(t->entries, (size_t) t->cap * sizeof(*t->entries));
    lazy_zero_free(t->dirty, (size_t) t->cap * sizeof(*t->dirty));
    lazy_zero_free(t->free_list, (size_t) t->cap * sizeof(*t->free_list));
    lazy_zero_free(t->arena, t->arena_alloc);
    memset(t, 0, sizeof(*t));
}

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

/* ---- key text records --------------------------------------------------- */

static struct rec_head *rec(const struct series_table *t, uint32_t off)
{
    return (struct rec_head *) (void *) (t->arena + off);
}

static struct topic_rec *topic_rec(const struct series_table *t, uint32_t off)
{
    return (struct topic_rec *) (void *) (t->arena + off);
}

static struct field_rec *field_rec(const struct series_table *t, uint32_t off)
{
    return (struct field_rec *) (void *) (t->arena + off);
}

static uint32_t rec_size(const struct series_table *t, uint32_t off)
{
    return (uint32_t) rec_bytes(rec(t, off)->kind, rec(t, off)->len);
}

static size_t rec_head_bytes(unsigned kind)
{
    return kind == REC_TOPIC ? sizeof(struct topic_rec)
                             : sizeof(struct field_rec);
}

static const char *rec_text(const struct series_table *t, uint32_t off)
{
    return t->arena + off + rec_head_bytes(rec(t, off)->kind);
}

/* Appends a record holding text (NUL and padding zeroed); the caller
 * checked the room. */
static uint32_t rec_new(struct series_table *t, unsigned kind, const char *text,
                        size_t len)
{
    uint32_t off = (uint32_t) t->arena_used;
    size_t head = rec_head_bytes(kind);
    size_t size = rec_bytes(kind, len);
    struct rec_head *h = rec(t, off);

    h->len = (uint16_t) len;
    h->kind = (uint8_t) kind;
    h->live = 1;
    memcpy(t->arena + off + head, text, len);
    memset(t->arena + off + head + len, 0, size - head - len);
    t->arena_used += size;
    return off;
}

static void rec_free(struct series_table *t, uint32_t off)
{
    rec(t, off)->live = 0;
    t->arena_dead += rec_size(t, off);
}

/* ---- the two indexes ------------------------------------------------------
 */

static bool entry_matches(const struct series_table *t,
                          const struct series_entry *e,
                          const struct series_key *k)
{
    return e->topic_len == k->topic_len && e->field_len == k->field_len &&
           memcmp(rec_text(t, e->topic_off), k->topic, k->topic_len) == 0 &&
           memcmp(rec_text(t, e->field_off), k->field, k->field_len) == 0;
}

/* Slot holding the key, or the free slot where it would go; PROBE_FAR
 * when neither lies within SERIES_PROBE_MAX slots of the key's home. */
static uint32_t probe(const struct series_table *t, uint64_t h,
                      const struct series_key *k)
{
    uint64_t tag = h & SLOT_TAG;
    uint32_t i = (uint32_t) h & t->index_mask;

    for (unsigned steps = 0; steps < SERIES_PROBE_MAX; steps++) {
        uint64_t slot = t->index[i];
        if (slot == 0)
            return i;
        if ((slot & SLOT_TAG) == tag &&
            entry_matches(t, &t->entries[(uint32_t) slot - 1], k))
            return i;
        i = (i + 1) & t->index_mask;
    }
    return PROBE_FAR;
}

/* Slot of the topic's record, or the free slot where it would go, or
 * PROBE_FAR (as probe()). */
static uint32_t probe_topic(const struct series_table *t,
                            const struct series_key *k)
{
    uint64_t tag = k->topic_hash & SLOT_TAG;
    uint32_t i = (uint32_t) k->topic_hash & t->index_mask;

    for (unsigned steps = 0; steps < SERIES_PROBE_MAX; steps++) {
        uint64_t slot = t->topics[i];
        if (slot == 0)
            return i;
        if ((slot & SLOT_TAG) == tag) {
            uint32_t off = (uint32_t) slot - 1;
            if (rec(t, off)->len == k->topic_len &&
                memcmp(rec_text(t, off), k->topic, k->topic_len) == 0)
                return i;
        }
        i = (i + 1) & t->index_mask;
    }
    return PROBE_FAR;
}

/* Home slot of what slot holds, in index (entries) or topics (records:
 * their hash is computed again, removal being rare). */
static uint32_t home_of(const struct series_table *t, const uint64_t *idx,
                        uint64_t slot)
{
    uint32_t v = (uint32_t) slot - 1;

    if (idx == t->index)
        return t->entries[v].hash_lo & t->index_mask;
    return (uint32_t) series_topic_hash(rec_text(t, v), rec(t, v)->len) &
           t->index_mask;
}

/* Empties slot i of idx and shifts the rest of its run back (linear
 * probing without tombstones): a key moves only toward its home. */
static void unslot(struct series_table *t, uint64_t *idx, uint32_t i)
{
    uint32_t mask = t->index_mask;
    uint32_t j = i;

    for (;;) {
        uint32_t home;
        j = (j + 1) & mask;
        if (idx[j] == 0)
            break;
        home = home_of(t, idx, idx[j]);
        /* The key at j may move to i unless its home lies in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            idx[i] = idx[j];
            i = j;
        }
    }
    idx[i] = 0;
}

struct series_entry *series_find(struct series_table *t,
                                 const struct series_key *k)
{
    uint32_t i = probe(t, series_key_hash(k), k);
    uint64_t slot = i != PROBE_FAR ? t->index[i] : 0;

    return slot ? &t->entries[(uint32_t) slot - 1] : NULL;
}

/* ---- compaction -----------------------------------------------------------
 */

/* New offsets: a field's goes straight to its entry, a topic's into its
 * header, read by the next pass. */
static uint32_t compact_plan(struct series_table *t)
{
    uint32_t to = 0;

    for (uint32_t off = 0; off < t->arena_used; off += rec_size(t, off)) {
        struct rec_head *h = rec(t, off);
        if (!h->live)
            continue;
        if (h->kind == REC_TOPIC)
            topic_rec(t, off)->fwd = to;
        else
            t->entries[field_rec(t, off)->owner].field_off = to;
        to += rec_size(t, off);
    }
    return to;
}

/* Slides every live record down over the free ones and fixes every
 * reference: O(arena + entries), no allocation. */
static void compact(struct series_table *t)
{
    size_t slots = (size_t) t->index_mask + 1;
    uint32_t to = compact_plan(t);
    uint32_t off;

    for (uint32_t i = 0; i < t->n; i++)
        if (t->entries[i].live)
            t->entries[i].topic_off =
                topic_rec(t, t->entries[i].topic_off)->fwd;
    for (size_t i = 0; i < slots; i++)
        if (t->topics[i] != 0)
            t->topics[i] =
                (t->topics[i] & SLOT_TAG) |
                (topic_rec(t, (uint32_t) t->topics[i] - 1)->fwd + 1u);
    for (off = 0; off < t->arena_used;) {
        uint32_t size = rec_size(t, off);
        uint32_t dst = rec(t, off)->kind == REC_TOPIC
                           ? topic_rec(t, off)->fwd
                           : t->entries[field_rec(t, off)->owner].field_off;
        /* Moves only down, into what was already walked. */
        if (rec(t, off)->live && dst != off)
            memmove(t->arena + dst, t->arena + off, size);
        off += size;
    }
    t->arena_used = to;
    t->arena_dead = 0;
    t->compactions++;
}

/* Room for need more bytes of records, compacting when that makes it. */
static bool arena_room(struct series_table *t, size_t need)
{
    size_t free_bytes = t->arena_len - t->arena_used;

    if (free_bytes >= need)
        return true;
    if (free_bytes + t->arena_dead < need || t->arena_dead < t->arena_len / 16)
        return false;
    compact(t);
    return true;
}

/* ---- add and remove -------------------------------------------------------
 */

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

/* The topic's record for a new entry: shared when there, else made (and
 * indexed). Returns its offset, or PROBE_FAR when no slot is near enough
 * (the caller checked the arena's room for a new one). */
static uint32_t topic_record(struct series_table *t, const struct series_key *k,
                             uint32_t ti)
{
    uint32_t off;

    if (t->topics[ti] != 0) { /* indexed records are live */
        off = (uint32_t) t->topics[ti] - 1;
        topic_rec(t, off)->refs++;
        return off;
    }
    off = rec_new(t, REC_TOPIC, k->topic, k->topic_len);
    topic_rec(t, off)->refs = 1;
    t->topics[ti] = (k->topic_hash & SLOT_TAG) | (off + 1u);
    return off;
}

/* A free entry, or NULL when every one is live. */
static struct series_entry *entry_take(struct series_table *t)
{
    if (t->n_free > 0)
        return &t->entries[t->free_list[--t->n_free]];
    if (t->n == t->cap)
        return NULL;
    return &t->entries[t->n++];
}

/* Room and slots for k: the series slot i, the topic slot *ti. Returns 0,
 * -ELOOP or -ENOSPC (nothing changed). */
static int add_check(struct series_table *t, const struct series_key *k,
                     uint32_t *ti)
{
    size_t need = rec_bytes(REC_FIELD, k->field_len);

    if (t->n_free == 0 && t->n == t->cap)
        return -ENOSPC;
    *ti = probe_topic(t, k);
    if (*ti == PROBE_FAR)
        return -ELOOP;
    if (t->topics[*ti] == 0)
        need += rec_bytes(REC_TOPIC, k->topic_len);
    if (!arena_room(t, need))
        return -ENOSPC;
    /* Compaction moved the records: find the topic's slot again. */
    *ti = probe_topic(t, k);
    return 0;
}

int series_add(struct series_table *t, const struct series_key *k, int64_t id,
               struct series_entry **out)
{
    uint64_t h = series_key_hash(k);
    uint32_t i = probe(t, h, k);
    struct series_entry *e;
    uint32_t ti;
    int err;

    if (i == PROBE_FAR)
        return -ELOOP;
    if (t->index[i] != 0) {
        *out = &t->entries[(uint32_t) t->index[i] - 1];
        return -EEXIST;
    }
    err = add_check(t, k, &ti);
    if (err < 0)
        return err;
    if (!limit_take(t->limit))
        return -ENOSPC;
    e = entry_take(t);
    memset(e, 0, sizeof(*e));
    e->topic_off = topic_record(t, k, ti);
    e->field_off = rec_new(t, REC_FIELD, k->field, k->field_len);
    field_rec(t, e->field_off)->owner = (uint32_t) (e - t->entries);
    e->topic_len = (uint32_t) k->topic_len;
    e->field_len = (uint32_t) k->field_len;
    e->hash_lo = (uint32_t) h;
    e->live = true;
    if (id <= 0)
        id = atomic_fetch_add_explicit(&t->limit->next_id, 1,
                                       memory_order_relaxed);
    e->id = id;
    bucket_acc_reset(&e->partial);
    t->index[i] = (h & SLOT_TAG) | (uint32_t) (e - t->entries + 1);
    t->live++;
    *out = e;
    return 0;
}

/* Slot of idx that holds v + 1, searched from home. */
static uint32_t slot_of(const struct series_table *t, const uint64_t *idx,
                        uint32_t home, uint32_t v)
{
    uint32_t i = home;

    while ((uint32_t) idx[i] != v + 1)
        i = (i + 1) & t->index_mask;
    return i;
}

void series_remove(struct series_table *t, struct series_entry *e)
{
    uint32_t n = (uint32_t) (e - t->entries);
    struct topic_rec *tr = topic_rec(t, e->topic_off);

    unslot(t, t->index, slot_of(t, t->index, e->hash_lo & t->index_mask, n));
    if (--tr->refs == 0) {
        uint32_t home =
            (uint32_t) series_topic_hash(series_topic(t, e), e->topic_len) &
            t->index_mask;
        unslot(t, t->topics, slot_of(t, t->topics, home, e->topic_off));
        rec_free(t, e->topic_off);
    }
    rec_free(t, e->field_off);
    e->live = false;
    t->free_list[t->n_free++] = n;
    t->live--;
    /* Relaxed: a budget, as in limit_take(). */
    atomic_fetch_sub_explicit(&t->limit->count, 1, memory_order_relaxed);
}

const char *series_topic(const struct series_table *t,
                         const struct series_entry *e)
{
    return rec_text(t, e->topic_off);
}

const char *series_field(const struct series_table *t,
                         const struct series_entry *e)
{
    return rec_text(t, e->field_off);
}

void series_mark_dirty(struct series_table *t, struct series_entry *e)
{
    if (e->dirty)
        return;
    e->dirty = true;
    t->dirty[t->n_dirty++] = (uint32_t) (e - t->entries);
}
