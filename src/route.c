/*
 * route.c - the loop's side of the ingress rings: checks, shard choice,
 * push, backpressure, and a counter for every outcome.
 *
 * Threads: everything here runs on the loop thread (THREAD_LOOP), the
 * producer of every ingress ring. Workers read pipeline.paused and send
 * pipeline.loop_wake; the loop's wake handler calls route_maybe_resume().
 *
 * Invariants:
 *   - Every call of route_message() adds 1 to received and, unless the
 *     message is pushed, 1 to exactly one dropped_* counter; the worker
 *     accounts for a pushed one (decoded, dropped_invalid or
 *     dropped_series_limit). So received = decoded + every dropped_*.
 *   - A topic always goes to worker series_topic_hash(topic) % workers,
 *     so one series is only ever touched by one worker, in order.
 *   - overflow = pause never drops for a full ring: a push that finds the
 *     ring full waits for the worker (only a failed store ends the wait).
 *
 * Backpressure (overflow = pause): when a push leaves less than two
 * largest records of room in its ring, the loop stops reading the MQTT
 * socket; TCP pushes back to the broker. Workers send loop_wake once their
 * ring is half empty again; the loop resumes when every ring is.
 *
 * Wake-ups: a worker sleeps once its ring is empty (it never spins). After
 * a read burst the loop wakes a fed worker at once only when its ring
 * holds wake_bytes or more, or when it was first fed ROUTE_WAKE_DELAY_MS
 * ago or more; so under load a worker wakes about once per
 * ROUTE_WAKE_DELAY_MS and finds a batch, not one message, and the loop
 * wakes only for traffic. When the traffic stops, the caller's one-shot
 * timer (ROUTE_WAKE_TAIL_MS after the last burst) wakes the rest
 * (route_wake_pending()). A pause, a push that waits for space and a stop
 * wake every fed worker at once: nothing waits on a sleeping worker.
 *
 * Memory: none; a message is copied into the ring in place.
 */
#include "route.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "thread.h"

#define ROUTE_WAIT_SLEEP_US 500
#define ROUTE_WAKE_BYTES    ((size_t) 64 * 1024) /* a ring this full: wake now */

_Static_assert(CONFIG_MAX_WORKERS <= 64, "one bit of `pushed` per worker");

void route_init(struct route *r, struct pipeline *p,
                const struct route_hooks *hooks)
{
    memset(r, 0, sizeof(*r));
    r->cfg = p->cfg;
    r->p = p;
    r->hooks = *hooks;
    r->max_record = worker_record_bytes(CONFIG_TOPIC_MAX,
                                        p->cfg->pipeline.max_payload_bytes);
    ratelimit_init(&r->rl_drop, 10000, 5);
    /* Well below the pause threshold (at least half a ring stays free
     * above it: ring_bytes >= 4 largest records), so a worker is awake
     * long before its ring makes the loop pause. */
    r->wake_bytes = p->n_workers > 0 ? p->workers[0].ingress.cap / 16 : 0;
    if (r->wake_bytes > ROUTE_WAKE_BYTES || r->wake_bytes == 0)
        r->wake_bytes = ROUTE_WAKE_BYTES;
}

bool route_is_paused(const struct route *r)
{
    return atomic_load_explicit(&r->p->paused, memory_order_relaxed);
}

void route_pause(struct route *r)
{
    if (route_is_paused(r))
        return;
    atomic_store_explicit(&r->p->paused, true, memory_order_relaxed);
    /* Pairs with the fence in the worker: either it sees paused and sends
     * wake, or we see the space it freed in the check that follows. */
    atomic_thread_fence(memory_order_seq_cst);
    r->paused_since_ms = clock_mono_ms();
    /* A pause waits for the workers to drain: none may sleep on records. */
    route_wake_pending(r);
    r->hooks.pause(r->hooks.ctx);
    uv_async_send(r->p->loop_wake);
}

static bool rings_half_free(const struct route *r)
{
    for (unsigned i = 0; i < r->p->n_workers; i++) {
        const struct ring *in = &r->p->workers[i].ingress;
        if (ring_free_bytes(in) < in->cap / 2)
            return false;
    }
    return true;
}

void route_maybe_resume(struct route *r)
{
    if (!route_is_paused(r) || !rings_half_free(r))
        return;
    atomic_store_explicit(&r->p->paused, false, memory_order_relaxed);
    stats_add(&r->p->loop_stats, STAT_PAUSED_MS,
              clock_mono_ms() - r->paused_since_ms);
    r->hooks.resume(r->hooks.ctx);
}

void route_account_pause(struct route *r)
{
    uint64_t now;

    if (!route_is_paused(r))
        return;
    now = clock_mono_ms();
    stats_add(&r->p->loop_stats, STAT_PAUSED_MS, now - r->paused_since_ms);
    r->paused_since_ms = now;
}

void route_release(struct route *r)
{
    route_account_pause(r);
    atomic_store_explicit(&r->p->paused, false, memory_order_relaxed);
    route_wake_pending(r);
}

double route_take_high_water(struct route *r)
{
    double pct =
        100.0 * (double) r->high_water / (double) r->p->workers[0].ingress.cap;

    r->high_water = 0;
    return pct;
}

bool route_wake_workers(struct route *r, uint64_t now_ms)
{
    bool due;

    if (r->pushed == 0)
        return false;
    if (r->pending_since_ms == 0)
        r->pending_since_ms = now_ms;
    due = now_ms - r->pending_since_ms >= ROUTE_WAKE_DELAY_MS;
    for (unsigned i = 0; r->pushed != 0 && i < r->p->n_workers; i++) {
        struct worker *w = &r->p->workers[i];
        if ((r->pushed & (1ull << i)) &&
            (due || ring_used_bytes(&w->ingress) >= r->wake_bytes)) {
            worker_wake(w);
            r->pushed &= ~(1ull << i);
        }
    }
    if (r->pushed == 0)
        r->pending_since_ms = 0;
    return r->pushed != 0;
}

void route_wake_pending(struct route *r)
{
    for (unsigned i = 0; r->pushed != 0 && i < r->p->n_workers; i++)
        if (r->pushed & (1ull << i))
            worker_wake(&r->p->workers[i]);
    r->pushed = 0;
    r->pending_since_ms = 0;
}

/* overflow = pause, ring full anyway: wait for the worker; never drop.
 * The loop's timers do not run meanwhile, so the wait calls the waiting
 * hook itself (it is backpressure, not a hang). */
static int push_blocking(struct route *r, struct worker *w,
                         const struct worker_msg *m)
{
    uint64_t start = clock_mono_ms();
    uint64_t pinged = start;
    int rc;

    while ((rc = worker_push(w, m)) == -ENOSPC) {
        uint64_t now;
        if (pipeline_failed(r->p) != 0)
            break;
        worker_wake(w);
        usleep(ROUTE_WAIT_SLEEP_US);
        now = clock_mono_ms();
        if (now - pinged >= ROUTE_WAIT_PING_MS && r->hooks.waiting) {
            r->hooks.waiting(r->hooks.ctx);
            pinged = now;
        }
    }
    stats_add(&r->p->loop_stats, STAT_PAUSED_MS, clock_mono_ms() - start);
    return rc;
}

static void count_drop(struct route *r, enum stats_counter k,
                       const struct mqtt_msg *m, const char *why)
{
    stats_add(&r->p->loop_stats, k, 1);
    log_ratelimited(&r->rl_drop, LOG_WARNING,
                    "route: %s: message on %.200s (%zu bytes) dropped", why,
                    m->topic, m->payload_len);
}

/* After a push: the high-water mark, and the pause when the ring is
 * nearly full (one look at the ring's fill serves both). */
static void after_push(struct route *r, const struct worker *w)
{
    size_t used = ring_used_bytes(&w->ingress);

    r->pushed |= 1ull << w->index;
    if (used > r->high_water)
        r->high_water = used;
    if (r->cfg->pipeline.overflow == OVERFLOW_PAUSE &&
        w->ingress.cap - used < 2 * r->max_record)
        route_pause(r);
}

/* A message refused before any ring: counted, and true. */
static bool refused(struct route *r, const struct mqtt_msg *m)
{
    if (m->sub_index >= r->cfg->n_subs) {
        count_drop(r, STAT_DROPPED_INVALID, m, "no subscription matches");
        return true;
    }
    if (m->stale_retained) {
        /* Stored when its subscription was new (mqtt_sub.c): counted,
         * not a fault worth a warning. */
        stats_add(&r->p->loop_stats, STAT_SKIPPED_RETAINED, 1);
        log_debug("route: retained message on %.200s skipped: its "
                  "subscription had it before",
                  m->topic);
        return true;
    }
    if (m->payload_len > r->cfg->pipeline.max_payload_bytes) {
        count_drop(r, STAT_DROPPED_OVERSIZE, m,
                   "payload over max_payload_bytes");
        return true;
    }
    if (m->topic_len > r->cfg->pipeline.max_topic_bytes) {
        count_drop(r, STAT_DROPPED_OVERSIZE, m, "topic over max_topic_bytes");
        return true;
    }
    return false;
}

void route_message(struct route *r, const struct mqtt_msg *m)
{
    struct worker_msg wm;
    struct worker *w;
    int rc;

    ASSERT_THREAD(THREAD_LOOP);
    stats_add(&r->p->loop_stats, STAT_RECEIVED, 1);
    /* Refuse first: a refused message (a topic over max_topic_bytes, say)
     * costs no clock read and no hash of its topic. */
    if (refused(r, m))
        return;
    wm = (struct worker_msg){clock_now_ms(),
                             m->sub_index,
                             m->topic,
                             m->topic_len,
                             m->payload,
                             m->payload_len,
                             series_topic_hash(m->topic, m->topic_len)};
    w = &r->p->workers[wm.topic_hash % r->p->n_workers];
    rc = worker_push(w, &wm);
    if (rc == -ENOSPC && r->cfg->pipeline.overflow == OVERFLOW_PAUSE)
        rc = push_blocking(r, w, &wm);
    if (rc < 0) {
        count_drop(
            r, rc == -ENOSPC ? STAT_DROPPED_OVERFLOW : STAT_DROPPED_OVERSIZE, m,
            rc == -ENOSPC ? "ingress ring full" : "record too large");
        return;
    }
    after_push(r, w);
}
