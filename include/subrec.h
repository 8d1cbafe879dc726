/*
 * subrec.h - the record of what the broker's persistent session holds for
 * us: the filters subscribed (SUBACK received) and not yet unsubscribed
 * (UNSUBACK received), kept in the store so that it survives restarts.
 *
 * With a persistent session the broker keeps every subscription of an
 * earlier run; a filter removed from the file while the daemon was stopped
 * would stay there for good. At each CONNACK that reports the session
 * present, the subscriptions module unsubscribes every recorded filter the
 * file no longer has (see mqtt_sub.h).
 *
 * Threads: the loop thread keeps the set (it sees every SUBACK and
 * UNSUBACK) and never touches SQLite. Each change makes the set dirty;
 * subrec_publish() copies the whole set as one record into an SPSC ring
 * (ring.h), and the writer thread, which owns the SQLite connection,
 * replaces the table's rows with the newest record in subrec_store(). A
 * full ring leaves the set dirty: the next publish tries again, so the
 * newest set always reaches the store and the loop never waits.
 *
 * Memory: subrec_init() allocates the ring; nothing afterwards.
 */
#ifndef SP_SUBREC_H
#define SP_SUBREC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler.h"
#include "config.h"
#include "ring.h"
#include "store_subs.h"

/* "$share/" GROUP "/" TOPIC and its NUL (as MQTT_FILTER_MAX). */
#define SUBREC_FILTER_MAX (CONFIG_NAME_MAX + CONFIG_STR_MAX + 8)

/* Filters the record holds: the file's, and as many left from earlier
 * runs until they are unsubscribed. */
#define SUBREC_MAX (2 * CONFIG_MAX_SUBS)

/* One subscription in the broker's session. Owner: the struct subrec. */
struct subrec_entry {
    char filter[SUBREC_FILTER_MAX];
    char name[CONFIG_NAME_MAX]; /* the [subscription NAME] that asked */
    int32_t qos;                /* as granted */
    int32_t mid;      /* SUBSCRIBE awaiting SUBACK, or UNSUBSCRIBE awaiting
                         UNSUBACK; 0 when none */
    int64_t acked_ms; /* wall time of the SUBACK */
};

/*
 * Owner: the loop thread, which builds it at start-up; the writer thread
 * is the consumer of ring only.
 */
struct subrec {
    char client_id[CONFIG_NAME_MAX]; /* set at init, read-only afterwards */
    struct ring ring; /* producer: loop (subrec_publish); consumer: writer */

    /* Loop thread only. */
    struct subrec_entry set[SUBREC_MAX]; /* what the broker holds for us */
    unsigned n;
    struct subrec_entry sent[SUBREC_MAX]; /* SUBSCRIBEs awaiting SUBACK */
    unsigned n_sent;
    bool known; /* the set is a record (the store had one, or the session
                   began in this run); false on a first start */
    bool dirty; /* changed since the last record went to the ring */
};

/*
 * Sets the client id whose rows the record reads and writes and allocates
 * the ring. Returns: 0; -ENOMEM. Thread: start-up.
 */
SP_MUST_CHECK int subrec_init(struct subrec *r, const char *client_id);

/* Frees the ring. Thread: shut-down, after the writer is joined. */
void subrec_fini(struct subrec *r);

/*
 * Loads the rows of r's client id from the store; r is known when any row
 * exists. Returns: 0; -EIO. Thread: start-up.
 */
SP_MUST_CHECK int subrec_load(struct subrec *r, struct store *st);

/*
 * An accepted CONNACK. Without a session present the broker holds nothing
 * for us: the set empties. SUBSCRIBEs and UNSUBSCRIBEs of the last
 * connection are forgotten either way, and the set is known from now on
 * (what the broker held before this run without a record stays unknown).
 * Thread: loop.
 */
void subrec_session(struct subrec *r, bool present);

/* A SUBSCRIBE for filter went out with message id mid. Borrows the
 * strings until return. Thread: loop. */
void subrec_subscribing(struct subrec *r, int mid, const char *filter,
                        const char *name, int qos);

/* A SUBACK: a granted qos (< 0x80) records the filter of mid; a refusal
 * forgets it. Thread: loop. */
void subrec_suback(struct subrec *r, int mid, int granted);

/* An UNSUBSCRIBE for filter went out with message id mid. Thread: loop. */
void subrec_unsubscribing(struct subrec *r, int mid, const char *filter);

/* An UNSUBACK: the filter of mid leaves the record. Thread: loop. */
void subrec_unsuback(struct subrec *r, int mid);

/*
 * Hands the set to the writer when it changed since the last hand-off.
 * Returns: 0 (also when nothing changed); -ENOSPC when the ring has no
 * room now (the set stays dirty: call again later). Thread: loop.
 */
SP_MUST_CHECK int subrec_publish(struct subrec *r);

/* Thread: loop. */
bool subrec_is_known(const struct subrec *r);
bool subrec_is_dirty(const struct subrec *r);
unsigned subrec_count(const struct subrec *r);
/* Entry i < subrec_count(r); borrowed until the next change. */
const struct subrec_entry *subrec_entry(const struct subrec *r, unsigned i);

/*
 * Writes the newest record of the ring to the store (replacing the rows of
 * the client id) in its own transaction, and frees the ring up to it.
 * Returns: 0, also when the ring is empty; -EBUSY, -ENOSPC, -EIO (the
 * record stays in the ring for the next call). Thread: writer.
 */
SP_MUST_CHECK int subrec_store(struct subrec *r, struct store *st);

#endif
