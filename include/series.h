/*
 * series.h - one worker shard's series registry and open partial buckets.
 *
 * A series is (topic, field). The registry maps it to its store id and
 * holds the partial aggregate of its current finest bucket. It is an
 * open-addressing index (linear probing, power-of-two size, at most half
 * full) over an array of entries, a second index by topic, and an arena
 * of key text in which a topic's text is stored once for all its fields;
 * all are allocated by series_table_init() and never grow. A series idle
 * for long leaves (series_remove(), called by its worker) and its room is
 * reused.
 *
 * The series limit is global (max_series over all shards): shards share a
 * struct series_limit whose atomics hand out ids and count series.
 */
#ifndef SP_SERIES_H
#define SP_SERIES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bucket.h"
#include "compiler.h"

/* Owner: shared by every shard (atomics only). */
struct series_limit {
    uint32_t max;            /* max_series; set before threads start */
    _Atomic uint32_t count;  /* series known, all shards */
    _Atomic int64_t next_id; /* next id to hand out (store ids are > 0) */
};

/* The key of a series, borrowed from the caller. Owner: the caller. */
struct series_key {
    const char *topic; /* not NUL-terminated */
    size_t topic_len;
    const char *field;
    size_t field_len;
    uint64_t topic_hash; /* series_topic_hash(topic): computed once, by the
                            loop that routes the message, and reused here */
};

/* One series. Owner: the worker of its shard. */
struct series_entry {
    /* Two whole cache lines, aligned: a lookup and an update touch only
     * these (at 100,000 series: 250 ns per message before, 175-229 ns
     * after, on a noisy 2-core VM). */
    _Alignas(64) int64_t id;
    uint32_t topic_off; /* arena record of the topic (shared) */
    uint32_t field_off; /* arena record of the field */
    uint32_t topic_len;
    uint32_t field_len;
    uint32_t hash_lo;      /* low half of the key's hash: its home slot */
    bool dirty;            /* partial holds samples not handed off */
    bool live;             /* in the index; else on the free list */
    int64_t bucket_ms;     /* start of the partial's finest bucket */
    int64_t first_recv_ms; /* earliest receive time in the partial */
    int64_t last_recv_ms;  /* receive time of the series' last sample */
    struct bucket_acc partial;
};

/* Owner: the worker of the shard; start-up code fills it before. */
struct series_table {
    uint64_t *index;     /* (hash high 32 bits << 32) | (entry + 1); 0 = free */
    uint64_t *topics;    /* (topic hash high << 32) | (record + 1); 0 = free */
    uint32_t index_mask; /* both indexes have the same size */
    struct series_entry *entries;
    uint32_t n;          /* entries used at least once */
    uint32_t cap;        /* entries allocated */
    uint32_t live;       /* entries in use */
    uint32_t *free_list; /* entries no longer in use */
    uint32_t n_free;
    char *arena;        /* key text records */
    size_t arena_alloc; /* bytes reserved for the arena */
    size_t arena_len;
    size_t arena_used;
    size_t arena_dead;    /* bytes of free records below arena_used */
    uint64_t compactions; /* times the arena was compacted */
    uint32_t *dirty;      /* entry numbers with dirty partials */
    uint32_t n_dirty;
    struct series_limit *limit;
};

/*
 * Reserves room for cap series and arena_bytes of key text; pages become
 * resident as they are first written (aligned.h: lazy_zero_alloc()).
 * Returns: 0, -EINVAL (cap 0 or too large), -ENOMEM. Thread: start-up.
 */
SP_MUST_CHECK int series_table_init(struct series_table *t, uint32_t cap,
                                    size_t arena_bytes,
                                    struct series_limit *limit);
void series_table_fini(struct series_table *t);

/* Bytes series_table_init() allocates for these sizes (the memory plan). */
size_t series_table_bytes(uint32_t cap, size_t arena_bytes);

/*
 * Longest probe sequence in the registry index. At most half full with a
 * keyed hash, a probe longer than 128 slots is about as likely as 128 coin
 * flips coming up the same (a unit test fills a table to its limit with no
 * refusal); keys chosen to collide are refused past it, never walked.
 */
#define SERIES_PROBE_MAX 128

/*
 * Keys every hash a device can steer (series_topic_hash(), which also
 * picks the shard, and series_key_hash()) with 192 random bytes from
 * getrandom(2). fixed_seed (a decimal number) instead makes the hashes
 * plain XXH3 with that seed, reproducible for tests; NULL for production.
 * Without a call the hashes are XXH3 with seed 0.
 * Returns: 0 or -errno from getrandom(2). Thread: start-up, before any
 * thread hashes.
 */
SP_MUST_CHECK int series_hash_init(const char *fixed_seed);

/* Thread: any. Hash of the topic alone: picks the shard. */
uint64_t series_topic_hash(const char *topic, size_t len);

/* Thread: any. Hash of the series key (uses k->topic_hash). */
uint64_t series_key_hash(const struct series_key *k);

/* Thread: the shard's. Entry for (topic, field), or NULL. */
struct series_entry *series_find(struct series_table *t,
                                 const struct series_key *k);

/*
 * Adds a series. id <= 0 asks for a new id from the shared limit (and counts
 * against max_series); id > 0 registers a known one (start-up load, also
 * counted). Returns: 0 with *out set; -ENOSPC (max_series reached, or this
 * shard's entries or arena are full); -ELOOP (no free slot within
 * SERIES_PROBE_MAX of the key's home: keys crafted to collide); -EEXIST
 * (already there; *out set).
 * Thread: the shard's (start-up for loads).
 */
SP_MUST_CHECK int series_add(struct series_table *t, const struct series_key *k,
                             int64_t id, struct series_entry **out);

/*
 * Removes a live series that is not dirty (its partial was handed off):
 * its slot, its key text (the topic's with its last series) and its unit
 * of max_series. e may be reused by the next series_add().
 * Thread: the shard's.
 */
void series_remove(struct series_table *t, struct series_entry *e);

/* Bytes of key text a series of a new topic takes (a topic record and a
 * field record: headers, texts, NULs, padding); one more series of a
 * known topic takes only the field record's. Thread: any. */
size_t series_key_bytes(size_t topic_len, size_t field_len);

/* Thread: the shard's. Key text of e (NUL-terminated). */
const char *series_topic(const struct series_table *t,
                         const struct series_entry *e);
const char *series_field(const struct series_table *t,
                         const struct series_entry *e);

/* Thread: the shard's. Marks e dirty (once) so the next flush hands it off. */
void series_mark_dirty(struct series_table *t, struct series_entry *e);

#endif
