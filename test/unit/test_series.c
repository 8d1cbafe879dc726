/*
 * test_series.c - the per-shard registry: lookups, collisions, the global
 * limit shared by shards, and allocation only at init.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "alloc_guard.h"
#include "series.h"

/* A borrowed key for the calls below. */
#define KEY(t, tl, f, fl)                                                      \
    (&(struct series_key){(t), (tl), (f), (fl), series_topic_hash((t), (tl))})

static struct series_limit limit;

static void init_limit(uint32_t max)
{
    limit.max = max;
    atomic_init(&limit.count, 0);
    atomic_init(&limit.next_id, 1);
}

Test(series, add_then_find_returns_the_same_entry)
{
    struct series_table t;
    struct series_entry *e;
    struct series_entry *again;

    init_limit(100);
    cr_assert_eq(series_table_init(&t, 100, 4096, &limit), 0);
    cr_assert_eq(series_add(&t, KEY("a/b", 3, "temp", 4), 0, &e), 0);
    cr_expect_eq(e->id, 1);
    cr_expect_str_eq(series_topic(&t, e), "a/b");
    cr_expect_str_eq(series_field(&t, e), "temp");
    cr_expect_eq(series_find(&t, KEY("a/b", 3, "temp", 4)), e);
    cr_expect_null(series_find(&t, KEY("a/b", 3, "hum", 3)));
    cr_expect_null(series_find(&t, KEY("a/bt", 4, "emp", 3)),
                   "topic and field are not just concatenated");
    cr_expect_eq(series_add(&t, KEY("a/b", 3, "temp", 4), 0, &again), -EEXIST);
    cr_expect_eq(again, e);
    series_table_fini(&t);
}

Test(series, many_keys_all_found_after_collisions)
{
    struct series_table t;
    char topic[32];

    init_limit(5000);
    cr_assert_eq(series_table_init(&t, 5000, 5000 * 32, &limit), 0);
    for (int i = 0; i < 5000; i++) {
        struct series_entry *e;
        int n = snprintf(topic, sizeof(topic), "s/%d", i);
        cr_assert_eq(series_add(&t, KEY(topic, (size_t) n, "v", 1), 0, &e), 0);
        cr_assert_eq(e->id, i + 1);
    }
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(topic, sizeof(topic), "s/%d", i);
        struct series_entry *e =
            series_find(&t, KEY(topic, (size_t) n, "v", 1));
        cr_assert_not_null(e, "%s", topic);
        cr_assert_eq(e->id, i + 1);
    }
    series_table_fini(&t);
}

Test(series, the_limit_is_shared_by_shards)
{
    struct series_table a;
    struct series_table b;
    struct series_entry *e;

    init_limit(3);
    cr_assert_eq(series_table_init(&a, 3, 1024, &limit), 0);
    cr_assert_eq(series_table_init(&b, 3, 1024, &limit), 0);
    cr_expect_eq(series_add(&a, KEY("x", 1, "1", 1), 0, &e), 0);
    cr_expect_eq(series_add(&b, KEY("y", 1, "1", 1), 0, &e), 0);
    cr_expect_eq(series_add(&a, KEY("z", 1, "1", 1), 0, &e), 0);
    cr_expect_eq(series_add(&b, KEY("w", 1, "1", 1), 0, &e), -ENOSPC);
    cr_expect_eq(atomic_load(&limit.count), 3);
    series_table_fini(&a);
    series_table_fini(&b);
}

Test(series, a_full_key_arena_refuses_without_counting)
{
    struct series_table t;
    struct series_entry *e;
    char longtopic[200];

    memset(longtopic, 'a', sizeof(longtopic));
    init_limit(10);
    cr_assert_eq(series_table_init(&t, 10, 256, &limit), 0);
    cr_expect_eq(series_add(&t, KEY(longtopic, 200, "f", 1), 0, &e), 0);
    cr_expect_eq(series_add(&t, KEY(longtopic, 199, "f", 1), 0, &e), -ENOSPC);
    cr_expect_eq(atomic_load(&limit.count), 1);
    series_table_fini(&t);
}

Test(series, loaded_ids_are_kept)
{
    struct series_table t;
    struct series_entry *e;

    init_limit(10);
    cr_assert_eq(series_table_init(&t, 10, 1024, &limit), 0);
    cr_expect_eq(series_add(&t, KEY("t", 1, "f", 1), 42, &e), 0);
    cr_expect_eq(e->id, 42);
    cr_expect_eq(series_find(&t, KEY("t", 1, "f", 1))->id, 42);
    series_table_fini(&t);
}

Test(series, no_allocation_after_init)
{
    struct series_table t;
    char topic[32];

    init_limit(1000);
    cr_assert_eq(series_table_init(&t, 1000, 32000, &limit), 0);
    alloc_guard_arm();
    for (int i = 0; i < 1000; i++) {
        struct series_entry *e;
        int n = snprintf(topic, sizeof(topic), "s/%d", i);
        cr_assert_eq(series_add(&t, KEY(topic, (size_t) n, "v", 1), 0, &e), 0);
        series_mark_dirty(&t, e);
        series_mark_dirty(&t, e);
    }
    cr_expect_eq(alloc_guard_disarm(), 0);
    cr_expect_eq(t.n_dirty, 1000, "each series is dirty-listed once");
    series_table_fini(&t);
}

Test(series, the_guard_sees_our_allocations)
{
    void *volatile p;

    alloc_guard_arm();
    p = malloc(16); /* volatile: the compiler may not elide the pair */
    cr_expect_eq(alloc_guard_disarm(), 1, "the --wrap guard is linked in");
    free(p);
}

/* Field names whose keys share one home slot of t under the current hash
 * (found by trying "f0", "f1", ...). Fills names[n][16]. */
static void colliding_fields(const struct series_table *t, const char *topic,
                             char (*names)[16], int n)
{
    uint64_t th = series_topic_hash(topic, strlen(topic));
    uint32_t home = UINT32_MAX;
    int found = 0;

    for (unsigned i = 0; found < n; i++) {
        int len = snprintf(names[found], 16, "f%u", i);
        struct series_key k = {topic, strlen(topic), names[found], (size_t) len,
                               th};
        uint32_t slot = (uint32_t) series_key_hash(&k) & t->index_mask;
        if (home == UINT32_MAX)
            home = slot;
        if (slot == home)
            found++;
    }
}

/* Keys chosen to collide under a known hash: the first SERIES_PROBE_MAX
 * are admitted and found, the rest refused (-ELOOP) without being counted
 * against max_series; with a keyed hash the same names spread out. */
Test(series, colliding_keys_are_refused_past_the_probe_limit)
{
    static char names[SERIES_PROBE_MAX + 40][16];
    const int n = SERIES_PROBE_MAX + 40;
    struct series_table t;
    struct series_entry *e;

    cr_assert_eq(series_hash_init("7"), 0);
    init_limit(1000);
    cr_assert_eq(series_table_init(&t, 1000, 64000, &limit), 0);
    colliding_fields(&t, "c/x", names, n);
    for (int i = 0; i < n; i++) {
        int rc =
            series_add(&t, KEY("c/x", 3, names[i], strlen(names[i])), 0, &e);
        cr_assert_eq(rc, i < SERIES_PROBE_MAX ? 0 : -ELOOP, "key %d: %d", i,
                     rc);
    }
    cr_expect_eq(atomic_load(&limit.count), SERIES_PROBE_MAX);
    for (int i = 0; i < SERIES_PROBE_MAX; i++)
        cr_expect_not_null(
            series_find(&t, KEY("c/x", 3, names[i], strlen(names[i]))));
    cr_expect_null(
        series_find(&t, KEY("c/x", 3, names[n - 1], strlen(names[n - 1]))));
    series_table_fini(&t);

    /* Keyed: the same names are just names. */
    cr_assert_eq(series_hash_init(NULL), 0);
    init_limit(1000);
    cr_assert_eq(series_table_init(&t, 1000, 64000, &limit), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(
            series_add(&t, KEY("c/x", 3, names[i], strlen(names[i])), 0, &e),
            0);
    series_table_fini(&t);
}

/* With a keyed hash, a shard filled to its capacity (the index half full)
 * never meets the probe limit. */
Test(series, a_full_table_of_ordinary_keys_is_never_refused)
{
    struct series_table t;
    char topic[32];

    cr_assert_eq(series_hash_init(NULL), 0);
    init_limit(200000);
    cr_assert_eq(series_table_init(&t, 200000, 200000 * 48, &limit), 0);
    for (int i = 0; i < 200000; i++) {
        struct series_entry *e;
        int n = snprintf(topic, sizeof(topic), "d/%d", i);
        cr_assert_eq(series_add(&t, KEY(topic, (size_t) n, "v", 1), 0, &e), 0,
                     "series %d refused", i);
    }
    series_table_fini(&t);
}

/* A topic's text is stored once however many fields it has: 110 fields
 * on a 60 KB topic take one topic record and 110 small field records. */
Test(series, a_topic_is_stored_once_for_all_its_fields)
{
    static char topic[60000];
    struct series_table t;
    struct series_entry *e;
    char field[16];

    memset(topic, 't', sizeof(topic));
    init_limit(1000);
    cr_assert_eq(series_table_init(&t, 1000, 64000 + 110 * 32, &limit), 0);
    for (int i = 0; i < 110; i++) {
        int n = snprintf(field, sizeof(field), "f%d", i);
        cr_assert_eq(
            series_add(&t, KEY(topic, sizeof(topic), field, (size_t) n), 0, &e),
            0, "field %d", i);
        cr_assert_eq(memcmp(series_topic(&t, e), topic, sizeof(topic)), 0);
        cr_assert_str_eq(series_field(&t, e), field);
    }
    cr_expect_leq(t.arena_used, series_key_bytes(sizeof(topic), 4) + 110 * 16);
    series_table_fini(&t);
}

/* Series leave and come back; their room (slots, entries, text) is
 * reused, and compaction keeps every remaining key findable. */
Test(series, removed_series_leave_room_and_the_rest_stay_findable)
{
    struct series_table t;
    char topic[32];
    size_t arena = 0;

    cr_assert_eq(series_hash_init(NULL), 0);
    init_limit(100);
    for (int i = 0; i < 100; i++)
        arena += series_key_bytes(
            (size_t) snprintf(topic, sizeof(topic), "r/%d", i + 1000), 1);
    cr_assert_eq(series_table_init(&t, 100, arena, &limit), 0);
    for (int round = 0; round < 30; round++) {
        /* Fill to the limit: 100 series, every arena byte used. */
        for (int i = 0; i < 100; i++) {
            struct series_entry *e;
            int n = snprintf(topic, sizeof(topic), "r/%d",
                             i < 50 ? i + 1000 : i + 1000 + round * 100);
            int rc = series_add(&t, KEY(topic, (size_t) n, "v", 1), 0, &e);
            cr_assert(rc == 0 || (rc == -EEXIST && i < 50), "round %d %s: %d",
                      round, topic, rc);
        }
        cr_assert_eq(atomic_load(&limit.count), 100);
        cr_assert_eq(t.live, 100);
        /* The second half leaves; the first half stays findable. */
        for (int i = 50; i < 100; i++) {
            int n =
                snprintf(topic, sizeof(topic), "r/%d", i + 1000 + round * 100);
            struct series_entry *e =
                series_find(&t, KEY(topic, (size_t) n, "v", 1));
            cr_assert_not_null(e);
            series_remove(&t, e);
            cr_assert_null(series_find(&t, KEY(topic, (size_t) n, "v", 1)));
        }
        for (int i = 0; i < 50; i++) {
            int n = snprintf(topic, sizeof(topic), "r/%d", i + 1000);
            struct series_entry *e =
                series_find(&t, KEY(topic, (size_t) n, "v", 1));
            cr_assert_not_null(e, "%s lost in round %d", topic, round);
            cr_assert_str_eq(series_topic(&t, e), topic);
            cr_assert_str_eq(series_field(&t, e), "v");
        }
        cr_assert_eq(atomic_load(&limit.count), 50);
    }
    cr_expect_gt(t.compactions, 0, "the arena was reclaimed");
    cr_expect_leq(t.n, 100, "entries are reused");
    series_table_fini(&t);
}

/* A topic shared by several series keeps its text until the last leaves. */
Test(series, a_shared_topic_stays_until_its_last_series_leaves)
{
    struct series_table t;
    struct series_entry *a;
    struct series_entry *b;
    struct series_entry *c;

    init_limit(10);
    cr_assert_eq(series_table_init(&t, 10, 1024, &limit), 0);
    cr_assert_eq(series_add(&t, KEY("s/t", 3, "a", 1), 0, &a), 0);
    cr_assert_eq(series_add(&t, KEY("s/t", 3, "b", 1), 0, &b), 0);
    cr_expect_eq(a->topic_off, b->topic_off, "one copy of the topic");
    series_remove(&t, a);
    cr_expect_str_eq(series_topic(&t, b), "s/t");
    cr_assert_eq(series_add(&t, KEY("s/t", 3, "c", 1), 0, &c), 0);
    cr_expect_eq(c->topic_off, b->topic_off);
    series_remove(&t, b);
    series_remove(&t, c);
    cr_expect_eq(t.live, 0);
    cr_expect_eq(t.arena_dead, t.arena_used, "all text free");
    cr_assert_eq(series_add(&t, KEY("s/t", 3, "a", 1), 0, &a), 0);
    cr_expect_str_eq(series_topic(&t, a), "s/t");
    series_table_fini(&t);
}
