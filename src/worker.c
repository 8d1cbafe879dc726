/*
 * worker.c - a shard's thread: ingress records -> samples -> partial
 * buckets -> egress records.
 *
 * Threads: the worker thread runs worker_main(); the loop thread calls
 * worker_push() (producer of the ingress ring) and worker_request_stop();
 * the writer consumes the egress ring (egress.c) and wakes us when it frees
 * space.
 *
 * Invariants:
 *   - An EGRESS_SERIES record for a series precedes every record that
 *     names its id in the same egress ring, so the writer inserts the
 *     series row first.
 *   - A series' partial holds samples of one finest bucket (bucket_ms);
 *     a sample for another bucket first hands the partial off.
 *   - Every dirty partial is handed off within commit_interval_ms of its
 *     first sample, and at stop.
 *   - A series leaves the registry only when it is clean (nothing dirty,
 *     an empty partial) and idle for series_idle_time; an EGRESS_FORGET
 *     record then follows every record that named its id.
 *   - The egress ring is never skipped: when it is full the worker waits
 *     for the writer, so the ingress ring fills and the loop stops reading
 *     (backpressure instead of loss).
 *
 * Memory: worker_init() allocates the rings, the registry, the decode
 * scratch and the tags buffer. worker_main() allocates nothing.
 */
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aligned.h"
#include "clock.h"
#include "tags.h"
#include "thread.h"

#define WORKER_BATCH         256  /* records between releases/checks */
#define WORKER_IDLE_WAIT_MS  1000 /* sleep bound when nothing is dirty */
#define WORKER_SPACE_WAIT_MS 100

size_t worker_record_bytes(size_t topic_len, size_t payload_len)
{
    return sizeof(struct ingress_rec) + topic_len + payload_len + 2;
}

size_t worker_bytes(const struct worker_shared *sh)
{
    return ring_capacity(sh->cfg->pipeline.ring_bytes) +
           series_table_bytes(sh->series_cap, sh->arena_bytes) +
           sizeof(struct decode_out) + WORKER_TAGS_MAX;
}

struct worker *worker_alloc(unsigned n)
{
    return aligned_array_alloc(n, sizeof(struct worker),
                               _Alignof(struct worker));
}

/* Entries the idle scan looks at per commit interval so that it sweeps
 * the whole registry about once per series_idle_time (at least 256). */
static uint32_t idle_scan_step(const struct config *cfg, uint32_t cap)
{
    uint64_t per_sweep =
        cfg->pipeline.series_idle_ms /
        (cfg->store.commit_interval_ms ? cfg->store.commit_interval_ms : 1);
    uint64_t step = per_sweep ? (uint64_t) cap / per_sweep + 1 : cap;

    return step < 256 ? 256 : (uint32_t) (step > cap ? cap : step);
}

int worker_init(struct worker *w, unsigned index,
                const struct worker_shared *sh, struct egress *out)
{
    int err;

    memset(w, 0, sizeof(*w));
    w->index = index;
    w->cfg = sh->cfg;
    w->out = out;
    w->loop_wake = sh->loop_wake;
    w->loop_paused = sh->loop_paused;
    w->finest_ms = (int64_t) sh->cfg->aggregate.resolutions_s[0] * 1000;
    w->idle_scan_step = idle_scan_step(sh->cfg, sh->series_cap);
    event_init(&w->ingress_ev);
    ratelimit_init(&w->rl_invalid, 10000, 5);
    ratelimit_init(&w->rl_series, 60000, 3);
    ratelimit_init(&w->rl_tags, 60000, 3);
    err = ring_init(&w->ingress, (size_t) sh->cfg->pipeline.ring_bytes);
    if (err == 0)
        err = series_table_init(&w->series, sh->series_cap, sh->arena_bytes,
                                sh->limit);
    if (err == 0) {
        w->dec = calloc(1, sizeof(*w->dec));
        w->tags = calloc(1, WORKER_TAGS_MAX);
        if (!w->dec || !w->tags)
            err = -ENOMEM;
    }
    if (err < 0)
        worker_fini(w);
    return err;
}

void worker_fini(struct worker *w)
{
    ring_fini(&w->ingress);
    series_table_fini(&w->series);
    free(w->dec);
    free(w->tags);
    w->dec = NULL;
    w->tags = NULL;
}

int worker_load_series(struct worker *w, int64_t id, const char *topic,
                       const char *field)
{
    size_t topic_len = strlen(topic);
    struct series_key k = {topic, topic_len, field, strlen(field),
                           series_topic_hash(topic, topic_len)};
    struct series_entry *e;
    int rc = series_add(&w->series, &k, id, &e);

    /* Loaded as recently active: idle from now on, not since 1970. */
    if (rc == 0)
        e->last_recv_ms = clock_now_ms();
    return rc;
}

int worker_push(struct worker *w, const struct worker_msg *m)
{
    size_t len = worker_record_bytes(m->topic_len, m->payload_len);
    struct ingress_rec *r;

    ASSERT_THREAD(THREAD_LOOP);
    if (len > ring_max_record(&w->ingress))
        return -EMSGSIZE;
    r = ring_reserve(&w->ingress, len);
    if (r == NULL)
        return -ENOSPC;
    r->recv_ms = m->recv_ms;
    r->topic_hash = m->topic_hash;
    r->sub_index = m->sub_index;
    r->topic_len = (uint32_t) m->topic_len;
    r->payload_len = (uint32_t) m->payload_len;
    r->reserved = 0;
    memcpy(r->data, m->topic, m->topic_len);
    r->data[m->topic_len] = '\0';
    if (m->payload_len > 0) /* an empty payload may come as NULL */
        memcpy(r->data + m->topic_len + 1, m->payload, m->payload_len);
    r->data[m->topic_len + 1 + m->payload_len] = '\0';
    ring_commit(&w->ingress);
    /* No wake-up here: the router wakes the worker after a read burst
     * once the ring is full enough, else within a millisecond (route.c). */
    return 0;
}

void worker_wake(struct worker *w)
{
    event_signal(&w->ingress_ev);
}

/*
 * Reserves egress space, waiting for the writer while the ring is full.
 * Waiting on the writer is backpressure, not a hang: the heartbeat goes
 * on, and the watchdog judges the writer by its own heartbeat.
 */
static void *egress_space(struct worker *w, size_t len)
{
    void *p;

    while ((p = egress_reserve(w->out, len, WORKER_SPACE_WAIT_MS)) == NULL)
        atomic_store_explicit(&w->heartbeat_ms, clock_mono_ms(),
                              memory_order_relaxed);
    return p;
}

/* Hands e's partial to the writer and empties it; e stays dirty-listed. */
static void hand_off(struct worker *w, struct series_entry *e)
{
    struct egress_partial *p;

    if (e->partial.count == 0)
        return;
    p = egress_space(w, sizeof(*p));
    p->kind = EGRESS_PARTIAL;
    p->reserved = 0;
    p->series_id = e->id;
    p->bucket_ms = e->bucket_ms;
    p->first_recv_ms = e->first_recv_ms;
    p->last_recv_ms = e->last_recv_ms;
    p->acc = e->partial;
    egress_commit(w->out);
    bucket_acc_reset(&e->partial);
}

/* Hands off every dirty partial (the commit_interval_ms cadence, and stop). */
static void flush_all(struct worker *w)
{
    struct series_table *t = &w->series;

    for (uint32_t i = 0; i < t->n_dirty; i++) {
        struct series_entry *e = &t->entries[t->dirty[i]];
        hand_off(w, e);
        e->dirty = false;
    }
    t->n_dirty = 0;
}

static void emit_series(struct worker *w, const struct series_entry *e,
                        const char *tags, size_t tags_len, int64_t now_ms)
{
    size_t len = sizeof(struct egress_series) + e->topic_len + e->field_len +
                 tags_len + 3;
    struct egress_series *s = egress_space(w, len);

    s->kind = EGRESS_SERIES;
    s->topic_len = e->topic_len;
    s->field_len = e->field_len;
    s->tags_len = (uint32_t) tags_len;
    s->id = e->id;
    s->created_ms = now_ms;
    memcpy(s->text, series_topic(&w->series, e), e->topic_len + 1);
    memcpy(s->text + e->topic_len + 1, series_field(&w->series, e),
           e->field_len + 1);
    memcpy(s->text + e->topic_len + e->field_len + 2, tags, tags_len);
    s->text[e->topic_len + e->field_len + 2 + tags_len] = '\0';
    egress_commit(w->out);
}

/* Says why a new series was refused (rate-limited) and counts the sample
 * under its reason. */
static void refuse_series(struct worker *w, const struct ingress_rec *r,
                          int err)
{
    const struct series_limit *l = w->series.limit;

    if (err == -ELOOP) {
        stats_add(&w->stats, STAT_DROPPED_SAMPLES_PROBE, 1);
        log_ratelimited(&w->rl_series, LOG_WARNING,
                        "series: a new series on %.200s collides with "
                        "%u others in the registry (keys chosen to "
                        "collide?), its samples are dropped",
                        r->data, SERIES_PROBE_MAX);
        return;
    }
    stats_add(&w->stats, STAT_DROPPED_SAMPLES_SERIES_LIMIT, 1);
    if (atomic_load_explicit(&l->count, memory_order_relaxed) >= l->max)
        log_ratelimited(&w->rl_series, LOG_WARNING,
                        "series: limit of %u series reached, samples "
                        "of new series on %.200s are dropped",
                        l->max, r->data);
    else
        log_ratelimited(&w->rl_series, LOG_WARNING,
                        "series: worker %u's share of the registry is "
                        "full (%u series, 64 bytes of names each on "
                        "average), samples of new series on %.200s are "
                        "dropped",
                        w->index, w->series.cap, r->data);
}

/* Finds or creates the series of one sample; NULL when it is refused
 * (counted). */
static struct series_entry *lookup_series(struct worker *w,
                                          const struct ingress_rec *r,
                                          const struct decode_sample *s)
{
    const struct config_sub *sub = &w->cfg->subs[r->sub_index];
    struct series_key k = {r->data, r->topic_len, s->field, s->field_len,
                           r->topic_hash};
    struct series_entry *e = series_find(&w->series, &k);
    int n;
    int err;

    if (SP_LIKELY(e != NULL))
        return e;
    err = series_add(&w->series, &k, 0, &e);
    if (err < 0) {
        refuse_series(w, r, err);
        return NULL;
    }
    struct tags_src src = {sub->topic_tags, r->data, r->topic_len, s->tags,
                           s->tags_len};
    n = tags_build(&src, w->tags, WORKER_TAGS_MAX);
    emit_series(w, e, w->tags, n > 0 ? (size_t) n : 0, clock_now_ms());
    return e;
}

static void emit_raw(struct worker *w, int64_t id, int64_t ts_ms, double v)
{
    struct egress_sample *s = egress_space(w, sizeof(*s));

    s->kind = EGRESS_SAMPLE;
    s->reserved = 0;
    s->series_id = id;
    s->ts_ms = ts_ms;
    s->value = v;
    egress_commit(w->out);
}

/* The sample's time: the payload's when given and plausible. */
static int64_t sample_time(struct worker *w, const struct ingress_rec *r,
                           const struct decode_sample *s)
{
    uint64_t skew;

    if (s->ts_ms == DECODE_NO_TIME)
        return r->recv_ms;
    /* |ts - recv| in unsigned arithmetic: the distance between two int64
     * values always fits in a uint64, never in an int64 at the extremes. */
    skew = s->ts_ms > r->recv_ms ? (uint64_t) s->ts_ms - (uint64_t) r->recv_ms
                                 : (uint64_t) r->recv_ms - (uint64_t) s->ts_ms;
    if (skew > w->cfg->aggregate.max_clock_skew_ms) {
        stats_add(&w->stats, STAT_CLOCK_SKEW, 1);
        return r->recv_ms;
    }
    return s->ts_ms;
}

/* Adds one sample to its series' partial. Returns false when refused. */
static bool add_sample(struct worker *w, const struct ingress_rec *r,
                       const struct decode_sample *s)
{
    struct series_entry *e = lookup_series(w, r, s);
    int64_t ts;
    int64_t b;

    if (e == NULL)
        return false;
    ts = sample_time(w, r, s);
    b = bucket_start_ms(ts, w->finest_ms);
    if (e->partial.count > 0 && e->bucket_ms != b)
        hand_off(w, e);
    if (e->partial.count == 0) {
        e->bucket_ms = b;
        e->first_recv_ms = r->recv_ms;
    }
    e->last_recv_ms = r->recv_ms;
    bucket_acc_add(&e->partial, ts, s->value);
    series_mark_dirty(&w->series, e);
    if (b + w->finest_ms + (int64_t) w->cfg->aggregate.allowed_lateness_ms <
        r->recv_ms)
        stats_add(&w->stats, STAT_LATE, 1);
    if (w->cfg->store.raw_samples)
        emit_raw(w, e->id, ts, s->value);
    return true;
}

static void count_invalid(struct worker *w, const struct ingress_rec *r,
                          enum decode_status st)
{
    stats_add(&w->stats, STAT_DROPPED_INVALID, 1);
    log_ratelimited(&w->rl_invalid, LOG_WARNING,
                    "decode: %s on %.200s (%u bytes, subscription %s)",
                    decode_status_str(st), r->data, r->payload_len,
                    w->cfg->subs[r->sub_index].name);
}

/* Line-protocol lines refused in a message whose other lines are kept. */
static void count_bad_lines(struct worker *w, const struct ingress_rec *r,
                            enum decode_status st)
{
    const struct decode_out *d = w->dec;

    stats_add(&w->stats, STAT_INVALID_LINES, d->bad_lines);
    if (st == DECODE_OK)
        log_ratelimited(&w->rl_invalid, LOG_WARNING,
                        "decode: %u line(s) refused on %.200s, the others "
                        "kept (first: line %u, %s; subscription %s)",
                        d->bad_lines, r->data, d->bad_line,
                        decode_status_str(d->bad_status),
                        w->cfg->subs[r->sub_index].name);
}

/*
 * Counts the lines (samples of one line share their tags text) whose
 * payload tags a topic_tags tag of the same name replaces.
 */
static void count_tag_conflicts(struct worker *w, const struct ingress_rec *r)
{
    const struct config_sub *sub = &w->cfg->subs[r->sub_index];
    const char *prev = NULL;

    for (unsigned i = 0; i < w->dec->n; i++) {
        const struct decode_sample *s = &w->dec->samples[i];
        struct tags_src src = {sub->topic_tags, r->data, r->topic_len, s->tags,
                               s->tags_len};

        if (s->tags == NULL || s->tags == prev)
            continue;
        prev = s->tags;
        if (tags_conflicts(&src) == 0)
            continue;
        stats_add(&w->stats, STAT_TAG_CONFLICTS, 1);
        log_ratelimited(&w->rl_tags, LOG_WARNING,
                        "tags: a payload tag on %.200s names a topic_tags "
                        "level of subscription %s; the topic's value is "
                        "kept: %.*s",
                        r->data, sub->name,
                        (int) (s->tags_len < 200 ? s->tags_len : 200), s->tags);
    }
}

/* One message: decode, then add every sample. */
static void process(struct worker *w, const struct ingress_rec *r)
{
    const struct config_sub *sub = &w->cfg->subs[r->sub_index];
    const char *payload = r->data + r->topic_len + 1;
    enum decode_status st;
    unsigned kept = 0;

    st = decode_payload(sub, payload, r->payload_len, w->dec);
    if (w->dec->skipped > 0)
        stats_add(&w->stats, STAT_SKIPPED_VALUES, w->dec->skipped);
    if (w->dec->bad_lines > 0)
        count_bad_lines(w, r, st);
    if (st != DECODE_OK) {
        count_invalid(w, r, st);
        return;
    }
    if (sub->topic_tags[0] != '\0')
        count_tag_conflicts(w, r);
    /* A refused sample is counted by add_sample(), also in a message
     * that is partly kept: samples in = samples + refused by reason. */
    for (unsigned i = 0; i < w->dec->n; i++)
        kept += add_sample(w, r, &w->dec->samples[i]) ? 1u : 0u;
    if (kept > 0) {
        stats_add(&w->stats, STAT_DECODED, 1);
        stats_add(&w->stats, STAT_SAMPLES, kept);
    } else {
        stats_add(&w->stats, STAT_DROPPED_SERIES_LIMIT, 1);
    }
}

/* Tells the loop when its paused ring has drained enough to read again. */
static void maybe_wake_loop(struct worker *w)
{
    /* Pairs with the fence in the loop's route_pause(): the loop stores
     * paused then reads our tail; we store tail (ring_release) then read
     * paused. With a full fence on both sides one of us sees the other,
     * so a pause can never outlive a drained ring. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(w->loop_paused, memory_order_relaxed) &&
        ring_free_bytes(&w->ingress) >= w->ingress.cap / 2)
        uv_async_send(w->loop_wake);
}

/* Processes up to WORKER_BATCH records. Returns how many. */
static unsigned drain_batch(struct worker *w)
{
    size_t cur = ring_cursor(&w->ingress);
    const struct ingress_rec *r;
    unsigned n = 0;
    size_t len;

    while (n < WORKER_BATCH &&
           (r = ring_next(&w->ingress, &cur, &len)) != NULL) {
        process(w, r);
        n++;
    }
    if (n > 0) {
        ring_release(&w->ingress, cur);
        maybe_wake_loop(w);
    }
    return n;
}

/* Tells the writer a series left, so it drops what it knew of its id. */
static void emit_forget(struct worker *w, int64_t id)
{
    struct egress_forget *f = egress_space(w, sizeof(*f));

    f->kind = EGRESS_FORGET;
    f->reserved = 0;
    f->series_id = id;
    egress_commit(w->out);
}

/* Series without a sample for series_idle_time leave the registry, a
 * slice of it per call (right after flush_all(): nothing is dirty). */
static void evict_idle(struct worker *w)
{
    struct series_table *t = &w->series;
    int64_t cutoff = clock_now_ms() - (int64_t) w->cfg->pipeline.series_idle_ms;
    uint32_t end;

    if (t->n == 0)
        return;
    if (w->idle_scan_pos >= t->n)
        w->idle_scan_pos = 0;
    end = w->idle_scan_pos + w->idle_scan_step;
    if (end > t->n)
        end = t->n;
    for (uint32_t i = w->idle_scan_pos; i < end; i++) {
        struct series_entry *e = &t->entries[i];
        if (!e->live || e->dirty || e->partial.count > 0 ||
            e->last_recv_ms >= cutoff)
            continue;
        emit_forget(w, e->id);
        series_remove(t, e);
    }
    w->idle_scan_pos = end;
}

static void maybe_flush(struct worker *w, uint64_t now)
{
    if (now < w->next_flush_ms)
        return;
    flush_all(w);
    evict_idle(w);
    w->next_flush_ms = now + w->cfg->store.commit_interval_ms;
}

/* Sleeps until the loop signals records, the next flush is due, or a stop.
 * No spinning: the loop signals a batch at a time (route.c), so an idle or
 * lightly loaded worker costs next to nothing. */
static void idle_wait(struct worker *w, uint64_t now)
{
    uint64_t wait = w->series.n_dirty > 0 && w->next_flush_ms > now
                        ? w->next_flush_ms - now
                        : WORKER_IDLE_WAIT_MS;
    uint32_t seq = event_prepare(&w->ingress_ev);

    if (ring_is_empty(&w->ingress) &&
        !atomic_load_explicit(&w->stop, memory_order_acquire))
        event_wait(&w->ingress_ev, seq, (uint32_t) wait);
    event_cancel(&w->ingress_ev);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];

    snprintf(name, sizeof(name), "sp-worker-%u", w->index);
    thread_set_role(THREAD_WORKER, name);
    w->next_flush_ms = clock_mono_ms() + w->cfg->store.commit_interval_ms;
    for (;;) {
        uint64_t now = clock_mono_ms();
        unsigned n = drain_batch(w);
        atomic_store_explicit(&w->heartbeat_ms, now, memory_order_relaxed);
        maybe_flush(w, now);
        /* One wake-up of the writer per batch, not per record. */
        egress_signal(w->out);
        if (n > 0)
            continue;
        /* Acquire: pairs with the loop's release in worker_request_stop();
         * the loop pushed its last record before, so an empty ring now is
         * final. */
        if (atomic_load_explicit(&w->stop, memory_order_acquire) &&
            ring_is_empty(&w->ingress))
            break;
        idle_wait(w, now);
    }
    flush_all(w);
    egress_finish(w->out);
    return NULL;
}

int worker_start(struct worker *w)
{
    int err = thread_start(&w->thread, worker_main, w);

    w->started = err == 0;
    return err;
}

void worker_request_stop(struct worker *w)
{
    atomic_store_explicit(&w->stop, true, memory_order_release);
    /* No thread will ever hand anything off: done at once. */
    if (!w->started)
        egress_finish(w->out);
    event_signal(&w->ingress_ev);
}

void worker_detach(struct worker *w)
{
    if (w->started)
        pthread_detach(w->thread);
    w->started = false;
}

void worker_join(struct worker *w)
{
    if (w->started)
        pthread_join(w->thread, NULL);
    w->started = false;
}
