/*
 * writer.c - batches egress records into SQLite transactions.
 *
 * Threads: the writer thread runs writer_main(); workers produce into the
 * egress rings and signal wr->ev; the loop reads the shared atomics.
 *
 * A batch is read in place: the writer walks each egress ring with its own
 * cursor, applies the records inside one transaction, and releases the
 * ring space only after COMMIT succeeded. A failed batch (database locked,
 * disk full, I/O error) is rolled back and tried again from the same
 * records, so nothing is lost; meanwhile the rings fill up and the workers,
 * then the loop, stop taking more (backpressure to the broker). A record
 * the store refuses on its own (a constraint or trigger, see
 * store_refused()) is dropped alone and counted; the batch goes on.
 *
 * Batching: records come a few at a time (a series' first sample, a
 * partial whose bucket moved on) and in bursts (every worker's
 * commit_interval_ms hand-off). The writer gathers for WRITER_GATHER_MS
 * from the first record it sees before it begins a transaction, unless a
 * ring is a quarter full, the store is failing or a stop began, so a
 * transaction carries many records and the commit's fixed cost is paid
 * at most about 50 times a second; a sample waits at most that much
 * longer (receive -> commit stays within commit_interval_ms + 50 ms).
 *
 * Invariants:
 *   - Ring space is released only for records of a committed transaction.
 *   - A transaction writes at most batch_rows rows (a partial is one
 *     rollup row per resolution), or one record that alone has more.
 *   - A batch applies series rows and raw samples in ring order and its
 *     partials after them, sorted by stored id; a series' partials keep
 *     their ring order (merge_pending()).
 *   - The writer ends only after every worker is done and every egress
 *     ring is empty (or once the store is lost for good: wr->fatal).
 *
 * Memory: writer_start() allocates the batch's sort buffer (2 x batch_rows
 * entries); none after that. SQLite's own is capped by store_open().
 */
#include "writer.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "thread.h"

#define WRITER_MAX_RINGS    64
#define WRITER_IDLE_WAIT_MS 1000
#define WRITER_CHECK_MS     1000 /* the file's identity, checked */
#define WRITER_RETRY_MS     1000 /* a stats row the store refused */
#define WRITER_FATAL_AFTER  5    /* consecutive failures of a lost store */
#define WRITER_GATHER_MS    20   /* a batch waits this long for company */

void writer_init(struct writer *wr, const struct writer_shared *sh)
{
    const char *delay = getenv("SENSORPIPE_TEST_COMMIT_DELAY_MS");

    wr->cfg = sh->cfg;
    wr->store = sh->store;
    wr->egress = sh->egress;
    wr->n_egress = sh->n_egress;
    wr->loop_wake = sh->loop_wake;
    wr->all_stats = sh->all_stats;
    wr->n_all_stats = sh->n_all_stats;
    wr->limit = sh->limit;

    wr->stall_file = getenv("SENSORPIPE_TEST_STALL_FILE");
    wr->commit_delay_ms =
        delay != NULL ? (unsigned) strtoul(delay, NULL, 10) % 10000u : 0;
    event_init(&wr->ev);
    histo_reset(&wr->latency);
    ratelimit_init(&wr->rl_err, 10000, 3);
    atomic_init(&wr->heartbeat_ms, 0);
    atomic_init(&wr->fatal, 0);
    atomic_init(&wr->p50_us, 0);
    atomic_init(&wr->p99_us, 0);
    atomic_init(&wr->retention_lag_ms, 0);
    atomic_init(&wr->stop_ms, 0);
    retention_init(&wr->retention, sh->cfg);
}

/* The series is in the store already: it left the registry and came
 * back under a new id (or another program added it). Its rollups go to
 * the stored id until the worker says it left again. */
static int remap_series(struct writer *wr, const struct egress_series *s,
                        const struct store_series_row *row)
{
    int64_t id = 0;
    int rc = store_series_id(wr->store, row, &id);

    if (rc == -ENOENT) {
        /* The id itself is taken by another program's row. */
        log_ratelimited(&wr->rl_err, LOG_ERR,
                        "writer: series id %lld of %.200s/%.100s is taken "
                        "in the store by another series",
                        (long long) s->id, s->text, row->field);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (id != s->id && idmap_put(&wr->remap, s->id, id) < 0)
        log_ratelimited(&wr->rl_err, LOG_ERR,
                        "writer: no room to remember that series %lld is "
                        "%lld in the store",
                        (long long) s->id, (long long) id);
    return 0;
}

static int apply_series(struct writer *wr, const struct egress_series *s)
{
    const char *field = s->text + s->topic_len + 1;
    const struct store_series_row row = {
        .id = s->id,
        .topic = s->text,
        .topic_len = s->topic_len,
        .field = field,
        .field_len = s->field_len,
        .tags = s->tags_len ? field + s->field_len + 1 : NULL,
        .tags_len = s->tags_len,
        .created_ms = s->created_ms,
    };
    int rc = store_insert_series_row(wr->store, &row);

    return rc == -EEXIST ? remap_series(wr, s, &row) : rc;
}

/* The store refused one record (a constraint, a trigger, text too big):
 * it is dropped alone, the batch goes on. Its samples count once the batch
 * commits. */
static void refused(struct writer *wr, const void *rec, int err)
{
    const struct egress_partial *p = rec;
    uint32_t kind;

    memcpy(&kind, rec, sizeof(kind));
    if (kind == EGRESS_PARTIAL)
        wr->batch_refused_samples += p->acc.count;
    log_ratelimited(&wr->rl_err, LOG_ERR,
                    "store: a %s record was refused and dropped (%s: %s)",
                    kind == EGRESS_SERIES    ? "series"
                    : kind == EGRESS_PARTIAL ? "rollup"
                                             : "raw sample",
                    strerror(-err), sqlite3_errmsg(wr->store->db));
}

/* A partial of this batch, merged after the scan. Its stored id is
 * taken now, where the record sits in its ring (after its series row). */
static int pend_add(struct writer *wr, const struct egress_partial *p)
{
    struct writer_pending *q;

    if (wr->n_pend >= wr->pend_cap)
        return -ENOSPC; /* a bug: the batch is bounded by batch_rows */
    q = &wr->pend[wr->n_pend];
    q->id = idmap_get(&wr->remap, p->series_id);
    q->seq = wr->n_pend;
    q->rec = p;
    wr->n_pend++;
    return 0;
}

/* By stored id, then as the rings gave them. */
static bool pend_before(const struct writer_pending *x,
                        const struct writer_pending *y)
{
    return x->id < y->id || (x->id == y->id && x->seq < y->seq);
}

/* Merges the sorted runs src[lo, mid) and src[mid, hi) into dst[lo, hi),
 * the left run first on ties (stable). */
static void pend_merge_runs(const struct writer_pending *src,
                            struct writer_pending *dst, unsigned lo,
                            unsigned mid, unsigned hi)
{
    unsigned i = lo;
    unsigned j = mid;

    for (unsigned k = lo; k < hi; k++)
        dst[k] = j >= hi || (i < mid && !pend_before(&src[j], &src[i]))
                     ? src[i++]
                     : src[j++];
}

/*
 * Sorts pend[0, n) by stored id, keeping ring order within a series (seq),
 * so every row merges in the order it would record by record. A
 * bottom-up merge sort through the second half of the buffer: stable,
 * O(n log n), and no allocation (qsort() may call malloc()).
 */
static void pend_sort(struct writer *wr)
{
    struct writer_pending *src = wr->pend;
    struct writer_pending *dst = wr->pend + wr->pend_cap;
    unsigned n = wr->n_pend;

    for (unsigned w = 1; w < n; w *= 2) {
        struct writer_pending *t;
        for (unsigned lo = 0; lo < n; lo += 2 * w)
            pend_merge_runs(src, dst, lo, lo + w < n ? lo + w : n,
                            lo + 2 * w < n ? lo + 2 * w : n);
        t = src;
        src = dst;
        dst = t;
    }
    if (src != wr->pend)
        memcpy(wr->pend, src, n * sizeof(*src));
}

/* Merges pend[i, i + n) one at a time: a record the store refuses is
 * dropped alone. */
static int merge_each(struct writer *wr, unsigned i, unsigned n)
{
    for (unsigned j = i; j < i + n; j++) {
        const struct writer_pending *q = &wr->pend[j];
        int rc = store_merge_partial(wr->store, q->id, q->rec->bucket_ms,
                                     &q->rec->acc);
        if (store_refused(rc))
            refused(wr, q->rec, rc);
        else if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * The batch's partials in stored-id order, STORE_MERGE_GROUP to a
 * statement: neighbouring rows of rollups' primary key go in one after
 * another, so SQLite finds their pages where the last row left them, and
 * one step does the work of eight (S2 of make bench: the writer's CPU per
 * message about a fifth lower; outside the daemon, 10,000 series: 1.3 us
 * a row against 2.4 in ring order on a new file, 3.0-3.3 against 4.8-5.1
 * with an hour of history). A group the store refuses is merged again
 * one by one.
 */
static int merge_pending(struct writer *wr)
{
    struct store_partial g[STORE_MERGE_GROUP];
    unsigned i = 0;
    int rc = 0;

    pend_sort(wr);
    while (rc == 0 && i < wr->n_pend) {
        unsigned n = wr->n_pend - i;
        if (n >= STORE_MERGE_GROUP) {
            n = STORE_MERGE_GROUP;
            for (unsigned k = 0; k < n; k++)
                g[k] = (struct store_partial){wr->pend[i + k].id,
                                              wr->pend[i + k].rec->bucket_ms,
                                              &wr->pend[i + k].rec->acc};
            rc = store_merge_group(wr->store, g);
            if (store_refused(rc))
                rc = merge_each(wr, i, n);
        } else {
            rc = merge_each(wr, i, n);
        }
        i += n;
    }
    wr->n_pend = 0;
    return rc;
}

static int apply(struct writer *wr, const void *rec)
{
    uint32_t kind;

    memcpy(&kind, rec, sizeof(kind));
    switch (kind) {
    case EGRESS_SERIES:
        return apply_series(wr, rec);
    case EGRESS_PARTIAL: /* merged after the scan: merge_pending() */
        return pend_add(wr, rec);
    case EGRESS_SAMPLE: {
        const struct egress_sample *s = rec;
        return store_insert_sample(
            wr->store, idmap_get(&wr->remap, s->series_id), s->ts_ms, s->value);
    }
    case EGRESS_FORGET: /* applied once committed: release_rings() */
        return 0;
    default:
        /* Only workers write these rings: another kind is a bug here. */
        assert(false);
        return -EINVAL;
    }
}

/* Rows a record writes: one rollup row per resolution for a partial. */
static unsigned rows_of(const struct writer *wr, const void *rec)
{
    uint32_t kind;

    memcpy(&kind, rec, sizeof(kind));
    return kind == EGRESS_PARTIAL && wr->store->n_res > 0 ? wr->store->n_res
                                                          : 1;
}

/* Applies records from the rings, up to batch_rows rows (series and raw
 * samples at once, partials sorted at the end); cur[] gets the ends and
 * *records how many were applied. */
static int apply_rings(struct writer *wr, size_t *cur, unsigned *records)
{
    unsigned limit = wr->cfg->store.batch_rows;
    unsigned rows = 0;

    *records = 0;
    /* Every ring's end starts at its cursor: a ring the batch does not
     * reach releases nothing. */
    for (unsigned i = 0; i < wr->n_egress; i++)
        cur[i] = ring_cursor(&wr->egress[i].ring);
    for (unsigned k = 0; k < wr->n_egress; k++) {
        unsigned i = (wr->first_ring + k) % wr->n_egress;
        struct ring *r = &wr->egress[i].ring;
        size_t next = cur[i];
        const void *rec;
        size_t len;
        while ((rec = ring_next(r, &next, &len)) != NULL) {
            int rc;
            if (rows > 0 && rows + rows_of(wr, rec) > limit)
                return merge_pending(wr);
            rc = apply(wr, rec);
            if (store_refused(rc))
                refused(wr, rec, rc);
            else if (rc < 0)
                return rc;
            rows += rows_of(wr, rec);
            cur[i] = next;
            (*records)++;
        }
    }
    return merge_pending(wr);
}

/* Stopping, and stop_timeout has passed since the stop began. */
static bool stop_expired(const struct writer *wr, uint64_t now)
{
    uint64_t stop = atomic_load_explicit(&wr->stop_ms, memory_order_relaxed);

    return stop != 0 && now - stop >= wr->cfg->store.stop_timeout_ms;
}

/* COMMIT, retrying while a reader or another writer holds a lock, but not
 * past the stop's deadline (then -EBUSY: the caller rolls back). */
static int commit_retry(struct writer *wr)
{
    uint32_t wait_ms = 10;
    int rc;

    while ((rc = store_commit(wr->store)) == -EBUSY) {
        if (stop_expired(wr, clock_mono_ms()))
            break;
        stats_add(&wr->stats, STAT_COMMIT_RETRIES, 1);
        uint32_t seq = event_prepare(&wr->ev);
        event_wait(&wr->ev, seq, wait_ms);
        event_cancel(&wr->ev);
        atomic_store_explicit(&wr->heartbeat_ms, clock_mono_ms(),
                              memory_order_relaxed);
        wait_ms = wait_ms < 500 ? wait_ms * 2 : 1000;
    }
    return rc;
}

/* Receive -> commit latency of a committed partial. Its samples arrived
 * between first_recv_ms and last_recv_ms; the weight is spread evenly over
 * up to 8 points of that span (the histogram keeps no per-sample times,
 * and a partial holds no more than one commit interval). */
static void note_latency(struct writer *wr, const struct egress_partial *p,
                         int64_t now)
{
    uint64_t k = p->acc.count < 8 ? p->acc.count : 8;
    int64_t span = p->last_recv_ms - p->first_recv_ms;

    for (uint64_t i = 0; i < k; i++) {
        int64_t at = p->first_recv_ms +
                     (k > 1 ? span * (int64_t) i / (int64_t) (k - 1) : 0);
        uint64_t weight = p->acc.count / k + (i < p->acc.count % k ? 1 : 0);
        if (now >= at)
            histo_add(&wr->latency, (uint64_t) (now - at), weight);
    }
}

/* After COMMIT: latency of what was committed, then free the space. */
static void release_rings(struct writer *wr, const size_t *cur)
{
    int64_t now = clock_now_ms();

    for (unsigned i = 0; i < wr->n_egress; i++) {
        struct ring *r = &wr->egress[i].ring;
        size_t c = ring_cursor(r);
        const void *rec;
        size_t len;
        while (c != cur[i] && (rec = ring_next(r, &c, &len))) {
            const struct egress_partial *p = rec;
            if (p->kind == EGRESS_FORGET)
                idmap_del(&wr->remap,
                          ((const struct egress_forget *) rec)->series_id);
            if (p->kind != EGRESS_PARTIAL)
                continue;
            note_latency(wr, p, now);
            wr->samples_done += p->acc.count;
        }
        egress_release(&wr->egress[i], cur[i]);
    }
}

/* One transaction. Returns rows committed, or -errno (batch kept). */
static int write_batch(struct writer *wr)
{
    size_t cur[WRITER_MAX_RINGS] = {0}; /* all set by apply_rings() */
    unsigned rows;
    int rc;

    rc = store_begin(wr->store);
    if (rc < 0)
        return rc;
    wr->batch_refused_samples = 0;
    wr->n_pend = 0;
    rc = apply_rings(wr, cur, &rows);
    if (rc == 0 && wr->commit_delay_ms > 0)
        usleep(wr->commit_delay_ms * 1000u); /* test hook: a slow disk */
    if (rc == 0)
        rc = commit_retry(wr);
    if (rc < 0) {
        store_rollback(wr->store);
        return rc;
    }
    release_rings(wr, cur);
    wr->first_ring = (wr->first_ring + 1) % wr->n_egress;
    stats_add(&wr->stats, STAT_DROPPED_SAMPLES_STORE,
              wr->batch_refused_samples);
    stats_add(&wr->stats, STAT_ROWS_WRITTEN, rows);
    stats_add(&wr->stats, STAT_COMMITS, 1);
    return (int) rows;
}

static bool rings_empty(const struct writer *wr)
{
    for (unsigned i = 0; i < wr->n_egress; i++)
        if (!ring_is_empty(&wr->egress[i].ring))
            return false;
    return true;
}

static bool workers_done(const struct writer *wr)
{
    for (unsigned i = 0; i < wr->n_egress; i++)
        if (!egress_is_done(&wr->egress[i]))
            return false;
    return true;
}

static void set_fatal(struct writer *wr, int err)
{
    atomic_store_explicit(&wr->fatal, err, memory_order_release);
    uv_async_send(wr->loop_wake);
}

/* What a failing store is waiting for, in an operator's words. */
static const char *failure_str(int err)
{
    switch (err) {
    case -EBUSY:
        return "another program holds the write lock";
    case -ENOSPC:
        return "the disk is full";
    default:
        return strerror(-err);
    }
}

/*
 * Stop, and the store keeps failing: gives up once stop_timeout is over,
 * saying exactly what is lost (samples handed off but not committed, and
 * messages not yet decoded, by the accounting identity). Returns true when
 * it gave up.
 */
static void held_in_memory(const struct writer *wr, uint64_t *samples,
                           uint64_t *msgs)
{
    struct stats_snapshot snap;

    memset(&snap, 0, sizeof(snap));
    for (unsigned i = 0; i < wr->n_all_stats; i++)
        stats_accumulate(&snap, wr->all_stats[i]);
    *msgs = snap.v[STAT_RECEIVED] - snap.v[STAT_DECODED] -
            snap.v[STAT_DROPPED_OVERFLOW] - snap.v[STAT_DROPPED_OVERSIZE] -
            snap.v[STAT_DROPPED_INVALID] - snap.v[STAT_DROPPED_SERIES_LIMIT];
    *samples = snap.v[STAT_SAMPLES] > wr->samples_done
                   ? snap.v[STAT_SAMPLES] - wr->samples_done
                   : 0;
}

static bool stop_give_up(struct writer *wr, int err, uint64_t now)
{
    uint64_t msgs;
    uint64_t samples;

    if (!wr->stop_wait_logged) {
        wr->stop_wait_logged = true;
        log_notice("store: stopping: waiting up to %llu s for the store to "
                   "take the last records (%s)",
                   (unsigned long long) wr->cfg->store.stop_timeout_ms / 1000,
                   failure_str(err));
    }
    if (!stop_expired(wr, now))
        return false;
    held_in_memory(wr, &samples, &msgs);
    log_crit("store: cannot commit the last records at stop (%s); giving up "
             "after stop_timeout = %llu s: %llu samples not committed and "
             "%llu messages not yet decoded are lost",
             failure_str(err),
             (unsigned long long) wr->cfg->store.stop_timeout_ms / 1000,
             (unsigned long long) samples, (unsigned long long) msgs);
    set_fatal(wr, err);
    return true;
}

/* What a full disk means right now: the batch waits, and so does what
 * is held in memory; reading goes on until the rings fill. */
static void disk_full(struct writer *wr)
{
    uint64_t msgs;
    uint64_t samples;

    held_in_memory(wr, &samples, &msgs);
    log_ratelimited(&wr->rl_err, LOG_ERR,
                    "store: disk full: the batch is kept and retried every "
                    "second; %llu samples and %llu undecoded messages wait "
                    "in memory, and reading goes on until the rings fill, "
                    "then pauses until space returns",
                    (unsigned long long) samples, (unsigned long long) msgs);
}

/* A batch failed: wait before trying again; give up on a lost store. */
static void on_failure(struct writer *wr, int err)
{
    uint32_t wait_ms;
    uint64_t now = clock_mono_ms();

    if (wr->failing_since_ms == 0)
        wr->failing_since_ms = now;
    /* Stopping with a store that keeps failing: wait as long as the
     * service manager allows (stop_timeout), then exit 1 rather than be
     * killed; what is still in memory is lost, as in a crash. */
    if (atomic_load_explicit(&wr->stop_ms, memory_order_relaxed) != 0 &&
        stop_give_up(wr, err, now))
        return;
    if (err == -EBUSY) {
        stats_add(&wr->stats, STAT_COMMIT_RETRIES, 1);
        wait_ms = 20;
    } else if (err == -ENOSPC) {
        disk_full(wr);
        wait_ms = 1000;
    } else {
        wr->failures++;
        log_err_errno(err, "store: write failed (%u of %u before giving up)",
                      wr->failures, WRITER_FATAL_AFTER);
        if (wr->failures >= WRITER_FATAL_AFTER) {
            set_fatal(wr, err);
            return;
        }
        wait_ms = 200u << wr->failures;
    }
    /* Sleep the whole delay: worker hand-offs signal wr->ev all the time
     * and must not turn the back-off into a busy retry. */
    usleep(wait_ms * 1000u);
}

/* Sum of every thread's counters, as one ingest_stats row. */
static void fill_row(struct writer *wr, struct store_stats_row *row)
{
    struct stats_snapshot snap;

    memset(&snap, 0, sizeof(snap));
    for (unsigned i = 0; i < wr->n_all_stats; i++)
        stats_accumulate(&snap, wr->all_stats[i]);
    row->ts_ms = clock_now_ms();
    row->received = snap.v[STAT_RECEIVED];
    row->decoded = snap.v[STAT_DECODED];
    row->samples = snap.v[STAT_SAMPLES];
    row->dropped_overflow = snap.v[STAT_DROPPED_OVERFLOW];
    row->dropped_oversize = snap.v[STAT_DROPPED_OVERSIZE];
    row->dropped_invalid = snap.v[STAT_DROPPED_INVALID];
    row->dropped_series_limit = snap.v[STAT_DROPPED_SERIES_LIMIT];
    row->late = snap.v[STAT_LATE];
    row->clock_skew = snap.v[STAT_CLOCK_SKEW];
    row->series = atomic_load_explicit(&wr->limit->count, memory_order_relaxed);
    row->paused_ms = snap.v[STAT_PAUSED_MS];
    row->dropped_samples_series_limit =
        snap.v[STAT_DROPPED_SAMPLES_SERIES_LIMIT];
    row->dropped_samples_store = snap.v[STAT_DROPPED_SAMPLES_STORE];
    row->dropped_samples_probe = snap.v[STAT_DROPPED_SAMPLES_PROBE];
    row->skipped_retained = snap.v[STAT_SKIPPED_RETAINED];
    row->invalid_lines = snap.v[STAT_INVALID_LINES];
    row->tag_conflicts = snap.v[STAT_TAG_CONFLICTS];
}

/* A percentile of the interval's latency; NaN (stored as NULL) when
 * nothing was committed in it. */
static double latency_ms(const struct writer *wr, double q)
{
    return wr->latency.n > 0 ? histo_quantile(&wr->latency, q) : NAN;
}

static uint64_t to_us(double ms)
{
    return isnan(ms) ? 0 : (uint64_t) (ms * 1000);
}

/* Writes the row; once it is in, publishes the interval's percentiles and
 * starts a new interval. Returns: 0 or -errno (the interval goes on). */
static int write_stats(struct writer *wr)
{
    struct store_stats_row row;
    int rc;

    fill_row(wr, &row);
    row.commit_p50_ms = latency_ms(wr, 0.50);
    row.commit_p99_ms = latency_ms(wr, 0.99);
    rc = store_begin(wr->store);
    if (rc == 0)
        rc = store_retention_lag(wr->store, row.ts_ms, &row.retention_lag_ms);
    if (rc == 0)
        rc = store_insert_stats(wr->store, &row);
    if (rc == 0)
        rc = commit_retry(wr);
    if (rc < 0) {
        store_rollback(wr->store);
        return rc;
    }
    atomic_store_explicit(&wr->p50_us, to_us(row.commit_p50_ms),
                          memory_order_relaxed);
    atomic_store_explicit(&wr->p99_us, to_us(row.commit_p99_ms),
                          memory_order_relaxed);
    atomic_store_explicit(&wr->retention_lag_ms, row.retention_lag_ms,
                          memory_order_relaxed);
    histo_reset(&wr->latency);
    return 0;
}

void writer_set_retention(struct writer *wr, const struct config *cfg)
{
    retention_set(&wr->retention, cfg);
}

/* Retention's chunks commit like batches: retried while locked, not past
 * the stop's deadline. */
static int commit_for_retention(void *ctx)
{
    return commit_retry(ctx);
}

/* The file we write must still be the one we opened (not deleted or
 * replaced): SQLite would go on writing to an unlinked inode. */
static void check_file(struct writer *wr)
{
    struct stat sb;

    if (stat(wr->cfg->store.path, &sb) < 0) {
        log_err("store: %s is gone: %s", wr->cfg->store.path, strerror(errno));
        set_fatal(wr, -ENOENT);
    } else if (sb.st_ino != wr->file_ino || sb.st_dev != wr->file_dev) {
        log_err("store: %s was replaced by another file", wr->cfg->store.path);
        set_fatal(wr, -ESTALE);
    }
}

static void maint_start(struct writer *wr)
{
    struct stat sb;
    uint64_t now = clock_mono_ms();

    if (stat(wr->cfg->store.path, &sb) == 0) {
        wr->file_ino = sb.st_ino;
        wr->file_dev = sb.st_dev;
    }
    wr->next_stats_ms = wr->cfg->log.stats_interval_s
                            ? now + wr->cfg->log.stats_interval_s * 1000ull
                            : UINT64_MAX;
    wr->next_check_ms = now + WRITER_CHECK_MS;
    retention_start(&wr->retention, now);
}

/* The loop's record of the broker's subscriptions, when it changed. A
 * failure leaves it queued for the next call. */
static void write_subscriptions(struct writer *wr)
{
    int rc;

    if (wr->subrec == NULL)
        return;
    rc = subrec_store(wr->subrec, wr->store);
    if (rc < 0 && rc != -EBUSY)
        log_ratelimited(&wr->rl_err, LOG_ERR,
                        "store: cannot record the subscriptions (%s); "
                        "retrying",
                        strerror(-rc));
}

static void maint_run(struct writer *wr, uint64_t now)
{
    write_subscriptions(wr);
    if (now >= wr->next_stats_ms) {
        /* A row the store refused (locked, full) is tried again soon. */
        wr->next_stats_ms = write_stats(wr) == 0
                                ? now + wr->cfg->log.stats_interval_s * 1000ull
                                : now + WRITER_RETRY_MS;
    }
    if (now >= wr->next_check_ms) {
        check_file(wr);
        wr->next_check_ms = now + WRITER_CHECK_MS;
    }
    if (retention_is_due(&wr->retention, now))
        retention_pass(&wr->retention, wr->store, commit_for_retention, wr,
                       now);
}

/* At a clean stop: the last subscription record, and one last ingest_stats
 * row with the final counters. */
static void maint_final(struct writer *wr)
{
    if (atomic_load_explicit(&wr->fatal, memory_order_acquire) != 0)
        return;
    write_subscriptions(wr);
    if (write_stats(wr) < 0)
        log_warn("store: the final ingest_stats row could not be "
                 "written");
}

/* Test hook: the writer makes no progress while stalled, as if the disk
 * hung, so tests can watch backpressure and the watchdog. */
static bool stalled(const struct writer *wr)
{
    return wr->stall_file != NULL && access(wr->stall_file, F_OK) == 0;
}

static void idle_wait(struct writer *wr, uint64_t now)
{
    uint64_t next = wr->next_stats_ms < wr->next_check_ms ? wr->next_stats_ms
                                                          : wr->next_check_ms;
    uint64_t wait = next > now ? next - now : 0;
    uint64_t retention = retention_wait_ms(&wr->retention, now);
    uint32_t seq;

    if (wait > retention)
        wait = retention;
    if (wait > WRITER_IDLE_WAIT_MS)
        wait = WRITER_IDLE_WAIT_MS;
    seq = event_prepare(&wr->ev);
    if (rings_empty(wr) && !workers_done(wr))
        event_wait(&wr->ev, seq, (uint32_t) wait);
    event_cancel(&wr->ev);
}

/* One batch, and what its outcome means for the retry state. */
static void run_batch(struct writer *wr)
{
    int rc = write_batch(wr);

    if (rc < 0) {
        on_failure(wr, rc);
        return;
    }
    wr->failures = 0;
    wr->failing_since_ms = 0;
}

/* Some ring holds a quarter of its bytes or more: write now. */
static bool rings_filling(const struct writer *wr)
{
    for (unsigned i = 0; i < wr->n_egress; i++) {
        const struct ring *r = &wr->egress[i].ring;
        if (ring_used_bytes(r) >= r->cap / 4)
            return true;
    }
    return false;
}

/*
 * Records wait and the batch could grow: sleeps until the end of the
 * gathering window (begun at the first record seen) and returns true; false
 * when the batch should be written now. Workers' signals do not cut the
 * sleep short (that is the point): a worker that finds its egress ring
 * full meanwhile waits at most WRITER_GATHER_MS, like the loop behind it.
 */
static bool gather(struct writer *wr, uint64_t now, bool done)
{
    if (done || wr->failures > 0 ||
        atomic_load_explicit(&wr->stop_ms, memory_order_relaxed) != 0 ||
        rings_filling(wr)) {
        wr->gather_until_ms = 0;
        return false;
    }
    if (wr->gather_until_ms == 0)
        wr->gather_until_ms = now + WRITER_GATHER_MS;
    if (now >= wr->gather_until_ms) {
        wr->gather_until_ms = 0;
        return false;
    }
    usleep((useconds_t) (wr->gather_until_ms - now) * 1000u);
    return true;
}

/* Test hook: no progress at all while stalled (see stalled()). */
static void stall_wait(struct writer *wr)
{
    uint32_t seq = event_prepare(&wr->ev);

    event_wait(&wr->ev, seq, 50);
    event_cancel(&wr->ev);
}

static void *writer_main(void *arg)
{
    struct writer *wr = arg;

    thread_set_role(THREAD_WRITER, "sp-writer");
    maint_start(wr);
    while (atomic_load_explicit(&wr->fatal, memory_order_acquire) == 0) {
        uint64_t now = clock_mono_ms();
        bool done;
        if (stalled(wr)) {
            stall_wait(wr);
            continue;
        }
        atomic_store_explicit(&wr->heartbeat_ms, now, memory_order_relaxed);
        /* Read done before looking at the rings: a worker's last records
         * are visible once its done flag is. */
        done = workers_done(wr);
        /* Housekeeping keeps its schedule under any load: a store that
         * cannot keep up is when its rows matter most. */
        maint_run(wr, now);
        if (!rings_empty(wr)) {
            if (!gather(wr, now, done))
                run_batch(wr);
            continue;
        }
        if (done)
            break;
        idle_wait(wr, now);
    }
    maint_final(wr);
    return NULL;
}

size_t writer_batch_bytes(const struct config *cfg)
{
    /* A batch holds at most batch_rows records (each writes a row or
     * more), so at most that many partials; twice that for the sort. */
    return 2 * (size_t) cfg->store.batch_rows * sizeof(struct writer_pending);
}

int writer_start(struct writer *wr)
{
    int err;

    assert(wr->n_egress > 0 && wr->n_egress <= WRITER_MAX_RINGS);
    wr->pend_cap = wr->cfg->store.batch_rows;
    wr->pend = malloc(writer_batch_bytes(wr->cfg));
    if (wr->pend == NULL)
        return -ENOMEM;
    err = thread_start(&wr->thread, writer_main, wr);
    wr->started = err == 0;
    return err;
}

void writer_request_stop(struct writer *wr)
{
    atomic_store_explicit(&wr->stop_ms, clock_mono_ms(), memory_order_relaxed);
    event_signal(&wr->ev);
}

void writer_join(struct writer *wr)
{
    if (wr->started)
        pthread_join(wr->thread, NULL);
    wr->started = false;
    free(wr->pend);
    wr->pend = NULL;
    wr->pend_cap = 0;
}
