/*
 * route.h - the first hop: every message the MQTT client delivers is
 * checked, counted and copied into the ingress ring of the worker that
 * owns its topic, or dropped and counted; and the loop stops reading the
 * socket while the rings are nearly full (overflow = pause).
 *
 *   mqtt --route_message()--> ingress ring of worker hash(topic) % workers
 */
#ifndef SP_ROUTE_H
#define SP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "mqtt.h"
#include "pipeline.h"

/* What the loop does for the router. Owner: the caller (copied). */
struct route_hooks {
    void (*pause)(void *ctx);   /* stop reading the socket */
    void (*resume)(void *ctx);  /* read again */
    void (*waiting)(void *ctx); /* a push waits for a worker: every
                                   ROUTE_WAIT_PING_MS, since the loop's
                                   timers do not run meanwhile (may be NULL) */
    void *ctx;
};

#define ROUTE_WAIT_PING_MS  250
#define ROUTE_WAKE_DELAY_MS 10 /* a fed worker sleeps this long at most */
#define ROUTE_WAKE_TAIL_MS  10 /* ... while traffic flows; after it stops */

/*
 * The loop's side of the ingress rings. Owner: the loop thread; nothing
 * here is read by another thread (the shared pause flag lives in the
 * pipeline).
 */
struct route {
    const struct config *cfg;
    struct pipeline *p;
    struct route_hooks hooks;
    size_t max_record;         /* bytes of the largest ingress record */
    uint64_t pushed;           /* bit i: worker i got records it was not
                                  woken for yet */
    size_t wake_bytes;         /* a ring this full is woken after a burst */
    uint64_t pending_since_ms; /* monotonic: first push not woken for yet
                                  (0: none) */
    size_t high_water;         /* fullest ingress ring since the last take */
    uint64_t paused_since_ms;  /* monotonic; valid while paused */
    struct ratelimit rl_drop;
};

/* Thread: start-up. p must be initialised (pipeline_init()); borrowed. */
void route_init(struct route *r, struct pipeline *p,
                const struct route_hooks *hooks);

/*
 * Routes one message: counts it received, then exactly one of: pushed into
 * its worker's ring; dropped_invalid (no subscription); dropped_oversize
 * (payload over max_payload_bytes, or a record larger than a ring takes);
 * dropped_overflow (ring full with overflow = drop_newest, or the store
 * failed while a push waited). With overflow = pause a full ring makes the
 * push wait for the worker; a ring left with less than two largest records
 * of room pauses reading. Borrows m until return; allocates nothing.
 * Thread: loop.
 */
void route_message(struct route *r, const struct mqtt_msg *m);

/*
 * Thread: loop, after a read burst, with the monotonic time. Wakes each
 * worker fed since it was last woken whose ring holds wake_bytes or more,
 * and every one of them once the oldest such push is ROUTE_WAKE_DELAY_MS
 * old. Returns true while a fed worker is left sleeping on records: the
 * caller then (re)arms a ROUTE_WAKE_TAIL_MS one-shot timer that calls
 * route_wake_pending(), for when no burst follows.
 */
bool route_wake_workers(struct route *r, uint64_t now_ms);

/* Thread: loop. Wakes every worker fed since it was last woken (the
 * deadline timer; also a pause and a stop). */
void route_wake_pending(struct route *r);

/* Thread: loop. Stops reading (no-op when paused already). */
void route_pause(struct route *r);

/* Thread: loop. Reads again when paused and every ring is at least half
 * free; counts the pause in paused_ms. */
void route_maybe_resume(struct route *r);

/* Thread: loop. Counts the pause so far in paused_ms (stats reports). */
void route_account_pause(struct route *r);

/* Thread: loop, at stop: counts the pause and lets the workers drain
 * their rings without waking the loop; reading does not start again. */
void route_release(struct route *r);

/* Thread: loop. True while reading is paused. */
bool route_is_paused(const struct route *r);

/* Thread: loop. The fullest ring's fill since the last call, in percent;
 * starts over. */
double route_take_high_water(struct route *r);

#endif
