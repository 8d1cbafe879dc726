/*
 * test_writer.c - the writer on its own, with no worker: egress records
 * written by hand into a struct egress (as workers write them) become
 * committed rows; a database locked by another
 * connection delays the batch without losing it; the final ingest_stats row
 * is written at the end.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "clock.h"
#include "tmpdir.h"
#include "writer.h"

static char dir[256];
static struct config cfg;
static struct store st;
static struct series_limit limit;
static struct egress eg; /* written by hand, as a worker writes it */
static struct writer wr;
static uv_async_t no_async;
static struct stats_counters producer_stats;
static struct stats_counters *all[1] = {&producer_stats};

static void setup(void)
{
    struct writer_shared sh = {
        .cfg = &cfg,
        .store = &st,
        .egress = &eg,
        .n_egress = 1,
        .loop_wake = &no_async,
        .all_stats = all,
        .n_all_stats = 1,
        .limit = &limit,
    };

    cr_assert_eq(tmpdir_make(dir, sizeof(dir), "sp-writer"), 0);
    config_defaults(&cfg);
    snprintf(cfg.store.path, sizeof(cfg.store.path), "%s/w.db", dir);
    cfg.aggregate.resolutions_s[0] = 10;
    cfg.aggregate.resolutions_s[1] = 60;
    cfg.aggregate.n_resolutions = 2;
    cfg.log.stats_interval_s = 0;
    cr_assert_eq(store_open(&st, &cfg), 0);
    memset(&wr, 0, sizeof(wr));
    writer_init(&wr, &sh);
    cr_assert_eq(egress_init(&eg, 1u << 20, &wr.ev), 0);
}

static void teardown(void)
{
    egress_fini(&eg);
    store_close(&st);
    tmpdir_remove(dir);
}

static void put_series(int64_t id, const char *topic, const char *field)
{
    size_t tl = strlen(topic);
    size_t fl = strlen(field);
    struct egress_series *s = ring_reserve(&eg.ring, sizeof(*s) + tl + fl + 3);

    cr_assert_not_null(s);
    s->kind = EGRESS_SERIES;
    s->topic_len = (uint32_t) tl;
    s->field_len = (uint32_t) fl;
    s->tags_len = 0;
    s->id = id;
    s->created_ms = 1;
    memcpy(s->text, topic, tl + 1);
    memcpy(s->text + tl + 1, field, fl + 1);
    s->text[tl + fl + 2] = '\0';
    ring_commit(&eg.ring);
}

/* An empty partial reserved in the ring, received at recv_ms; the caller
 * adds its samples and commits it. */
static struct egress_partial *new_partial(int64_t id, int64_t bucket_ms,
                                          int64_t recv_ms)
{
    struct egress_partial *p = ring_reserve(&eg.ring, sizeof(*p));

    cr_assert_not_null(p);
    memset(p, 0, sizeof(*p));
    p->kind = EGRESS_PARTIAL;
    p->series_id = id;
    p->bucket_ms = bucket_ms;
    p->first_recv_ms = p->last_recv_ms = recv_ms;
    bucket_acc_reset(&p->acc);
    return p;
}

/* A partial of n samples, all received at recv_ms. */
static void put_partial_at(int64_t id, int64_t bucket_ms, double v, int n,
                           int64_t recv_ms)
{
    struct egress_partial *p = new_partial(id, bucket_ms, recv_ms);

    for (int i = 0; i < n; i++)
        bucket_acc_add(&p->acc, bucket_ms + i, v);
    ring_commit(&eg.ring);
}

static void put_partial(int64_t id, int64_t bucket_ms, double v, int n)
{
    put_partial_at(id, bucket_ms, v, n, clock_now_ms());
}

static int64_t q(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t v = -1;

    cr_assert_eq(sqlite3_open(cfg.store.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* Marks the egress done, as its worker would at the end, so the writer
 * ends after the last batch; then waits for it. */
static void finish(void)
{
    egress_finish(&eg);
    writer_join(&wr);
}

TestSuite(writer, .init = setup, .fini = teardown, .timeout = 30);

Test(writer, records_become_rows_in_every_resolution)
{
    put_series(7, "a/b", "temp");
    put_partial(7, 20000, 2.0, 3);
    put_partial(7, 30000, 4.0, 1);
    put_partial(7, 20000, 1.0, 2); /* the same bucket again: merged */
    cr_assert_eq(writer_start(&wr), 0);
    finish();
    cr_expect_eq(q("SELECT id FROM series WHERE topic = 'a/b'"), 7);
    cr_expect_eq(q("SELECT count FROM rollups WHERE resolution_s = 10 AND "
                   "bucket_ms = 20000"),
                 5);
    cr_expect_eq(q("SELECT sum FROM rollups WHERE resolution_s = 10 AND "
                   "bucket_ms = 20000"),
                 8);
    cr_expect_eq(q("SELECT count FROM rollups WHERE resolution_s = 60"), 6);
    cr_expect(ring_is_empty(&eg.ring), "committed records are released");
    cr_expect_eq(q("SELECT count(*) FROM ingest_stats"), 1,
                 "the final stats row");
    cr_expect_eq(atomic_load(&wr.fatal), 0);
}

Test(writer, a_locked_database_delays_the_batch_without_loss)
{
    sqlite3 *other;

    cr_assert_eq(sqlite3_open(cfg.store.path, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                 SQLITE_OK);
    put_series(1, "x", "v");
    put_partial(1, 0, 1.0, 10);
    cr_assert_eq(writer_start(&wr), 0);
    /* While the lock is held nothing can commit: the records stay. */
    for (int i = 0; i < 20 && atomic_load(&wr.stats.v[STAT_COMMIT_RETRIES]) < 3;
         i++)
        usleep(50000);
    cr_expect_geq(atomic_load(&wr.stats.v[STAT_COMMIT_RETRIES]), 3);
    cr_expect(!ring_is_empty(&eg.ring), "the batch is kept");
    cr_assert_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    finish();
    cr_expect_eq(q("SELECT sum(count) FROM rollups WHERE resolution_s = 10"),
                 10);
    cr_expect(ring_is_empty(&eg.ring));
}

/* An interval without a commit has no latency: NULL, not 0 (README). */
Test(writer, latency_is_null_in_an_interval_without_commits)
{
    cr_assert_eq(writer_start(&wr), 0);
    finish();
    cr_expect_eq(q("SELECT count(*) FROM ingest_stats"), 1);
    cr_expect_eq(q("SELECT commit_p50_ms IS NULL AND commit_p99_ms IS NULL "
                   "FROM ingest_stats"),
                 1, "p50 %lld, p99 %lld",
                 (long long) q("SELECT commit_p50_ms FROM ingest_stats"),
                 (long long) q("SELECT commit_p99_ms FROM ingest_stats"));
}

/* After commits, the same interval's latency is a number. */
Test(writer, latency_is_set_in_an_interval_with_commits)
{
    put_series(3, "l", "v");
    put_partial(3, 0, 1.0, 2);
    cr_assert_eq(writer_start(&wr), 0);
    finish();
    cr_expect_eq(q("SELECT commit_p50_ms IS NOT NULL FROM ingest_stats"), 1);
}

/* The interval's p99 to the millisecond (0.4 % above 256 ms): samples
 * received 1,030 ms before this test began, committed within the
 * test's own running time, with one sample far behind them. */
Test(writer, latency_p99_is_within_half_a_percent)
{
    int64_t t0 = clock_now_ms();

    put_series(4, "p", "v");
    put_partial_at(4, 0, 1.0, 99, t0 - 1030);
    put_partial_at(4, 10000, 1.0, 1, t0 - 5000);
    cr_assert_eq(writer_start(&wr), 0);
    finish();
    int64_t took = clock_now_ms() - t0;
    int64_t p99 = q("SELECT commit_p99_ms FROM ingest_stats");
    cr_expect(p99 >= 1030 && (double) p99 <= (double) (1030 + took) * 1.004 + 1,
              "p99 %lld ms, the test took %lld ms", (long long) p99,
              (long long) took);
    cr_expect_eq(q("SELECT commit_p50_ms = commit_p99_ms FROM ingest_stats"),
                 1);
}

/* batch_rows counts rows: a partial is a row per resolution (two here), a
 * series one. With batch_rows = 4, a series and four partials (9 rows)
 * take three transactions (3 + 4 + 2 rows), not two (of 4 and 1 records). */
Test(writer, batch_rows_counts_rows_not_records)
{
    cfg.store.batch_rows = 4;
    put_series(5, "b", "v");
    for (int i = 0; i < 4; i++)
        put_partial(5, 10000 * i, 1.0, 1);
    cr_assert_eq(writer_start(&wr), 0);
    finish();
    cr_expect_eq(atomic_load(&wr.stats.v[STAT_COMMITS]), 3);
    cr_expect_eq(q("SELECT sum(count) FROM rollups WHERE resolution_s = 10"),
                 4);
    cr_expect(ring_is_empty(&eg.ring));
}

/* A partial whose last value ties on last_ms with an earlier one. */
static void put_partial_last(int64_t id, int64_t bucket_ms, double last,
                             int64_t last_ms)
{
    struct egress_partial *p = new_partial(id, bucket_ms, clock_now_ms());

    bucket_acc_add(&p->acc, last_ms, last);
    ring_commit(&eg.ring);
}

/* The batch is merged sorted by series and 8 partials to a statement:
 * a series' partials must still merge in ring order (a tie on last_ms
 * goes to the later one), whatever the ids around them. */
Test(writer, sorted_batches_keep_each_series_in_ring_order)
{
    char topic[16];

    for (int64_t id = 40; id >= 1; id--) {
        snprintf(topic, sizeof(topic), "t/%lld", (long long) id);
        put_series(id, topic, "v");
    }
    for (int round = 0; round < 3; round++)
        for (int64_t id = 40; id >= 1; id--)
            put_partial_last(id, 10000, (double) (round * 100 + id), 10000 + 5);
    cr_assert_eq(writer_start(&wr), 0);
    finish();
    cr_expect_eq(q("SELECT count(*) FROM rollups WHERE resolution_s = 10"), 40);
    cr_expect_eq(q("SELECT sum(count) FROM rollups WHERE resolution_s = 60"),
                 120);
    /* Every series' last is its third partial's: 200 + id. */
    cr_expect_eq(q("SELECT count(*) FROM rollups WHERE last = 200 + series_id"),
                 80, "%lld rows of 80 kept the last partial's value",
                 (long long) q("SELECT count(*) FROM rollups WHERE last = "
                               "200 + series_id"));
}

/* A record the store refuses inside a group of 8 is dropped alone: the
 * group is merged again one partial at a time. */
Test(writer, a_refused_partial_in_a_group_is_dropped_alone)
{
    char topic[16];

    for (int64_t id = 1; id <= 16; id++) {
        snprintf(topic, sizeof(topic), "g/%lld", (long long) id);
        put_series(id, topic, "v");
    }
    for (int64_t id = 1; id <= 16; id++) {
        if (id == 5) {
            struct egress_partial *p = new_partial(id, 0, clock_now_ms());
            bucket_acc_add(&p->acc, 1, 1.0);
            bucket_acc_add(&p->acc, 2, 2.0);
            p->acc.sum = INFINITY; /* the store never takes one */
            ring_commit(&eg.ring);
            continue;
        }
        put_partial(id, 0, 1.0, 3);
    }
    cr_assert_eq(writer_start(&wr), 0);
    finish();
    cr_expect_eq(q("SELECT count(*) FROM rollups WHERE resolution_s = 10"), 15);
    cr_expect_eq(q("SELECT count(*) FROM rollups WHERE series_id = 5"), 0);
    cr_expect_eq(q("SELECT sum(count) FROM rollups WHERE resolution_s = 60"),
                 45);
    cr_expect_eq(atomic_load(&wr.stats.v[STAT_DROPPED_SAMPLES_STORE]), 2);
}
