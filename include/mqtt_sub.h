/*
 * mqtt_sub.h - the subscriptions of the broker connection: filters,
 * SUBSCRIBE and SUBACK, UNSUBSCRIBE on reload, and message routing.
 *
 * mqtt.c owns the connection and calls in here; this module keeps the
 * subscriptions' state in a struct mqtt_subs of its own (in struct
 * mqtt_client), and is told the handle, the table and whether the
 * connection is up. A subscription's
 * index in cfg->subs is its identity: MQTT 5 subscription identifier
 * index + 1, and the sub_index a message is routed to.
 */
#ifndef SP_MQTT_SUB_H
#define SP_MQTT_SUB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>

#include "compiler.h"
#include "config.h"
#include "subrec.h"

/* sub_index of a message that matches no configured subscription. */
#define MQTT_NO_SUB UINT_MAX

/* "$share/" GROUP "/" TOPIC and its NUL. */
#define MQTT_FILTER_MAX (CONFIG_NAME_MAX + CONFIG_STR_MAX + 8)

/*
 * The subscriptions of one broker connection. Owner: the loop thread; it
 * lives in struct mqtt_client, and only this module's functions touch it.
 */
struct mqtt_subs {
    struct mosquitto *mosq;       /* the connection's handle (borrowed) */
    const struct config *cfg;     /* the subscriptions in use (borrowed) */
    int sub_mid[CONFIG_MAX_SUBS]; /* SUBSCRIBE message ids, per cfg->subs */
    unsigned subs_pending;        /* SUBSCRIBEs sent without SUBACK yet */
    bool session_present;         /* the last CONNACK resumed a session */
    bool rec_trusted; /* rec was a record at CONNACK (see mqtt_sub.c) */
    /* Per cfg->subs: the broker's session held the filter when the last
     * SUBSCRIBE for it went out, so the retained messages that SUBSCRIBE
     * brings were delivered before (MQTT 3.1.1). */
    bool sub_had_retained[CONFIG_MAX_SUBS];
    char unsub[CONFIG_MAX_SUBS * 2][MQTT_FILTER_MAX]; /* to unsubscribe */
    unsigned n_unsub;
    struct subrec *rec; /* the broker's subscriptions, recorded; may be NULL */
    uint64_t subacks;   /* SUBACKs received, granted or refused (tests) */
};

/* Thread: start-up. Starts with no subscription sent, for mosq and cfg. */
void mqtt_sub_init(struct mqtt_subs *s, struct mosquitto *mosq,
                   const struct config *cfg);

/*
 * Writes s's topic filter to buf: "$share/" GROUP "/" TOPIC for a shared
 * subscription, TOPIC otherwise, truncated to n - 1 bytes (n >=
 * MQTT_FILTER_MAX never truncates a valid config). Borrows s until return.
 * Thread: any. Allocates nothing.
 */
void mqtt_sub_filter(const struct config_sub *s, char *buf, size_t n);

/*
 * True when one of cfg's subscriptions has exactly this filter (as
 * mqtt_sub_filter() writes it). Thread: any. Allocates nothing.
 */
bool mqtt_sub_cfg_has_filter(const struct config *cfg, const char *filter);

/*
 * Sends SUBSCRIBE for sb->cfg->subs[i], with subscription identifier i + 1
 * under MQTT 5, records its message id and counts it in subs_pending.
 * Returns: 0, also when the connection is down (the next CONNACK sends it
 *   again);
 *   -EINVAL a filter libmosquitto refuses (logged);
 *   -ENOMEM out of memory (logged).
 * Thread: loop. Allocates (the SUBSCRIBE properties, inside libmosquitto).
 */
SP_MUST_CHECK int mqtt_sub_send(struct mqtt_subs *sb, unsigned i);

/*
 * On an accepted CONNACK: forgets SUBACKs still due; when the broker kept
 * the session (session_present) and a record is set, queues an UNSUBSCRIBE
 * for every recorded filter sb->cfg no longer has (logged); sends the queued
 * UNSUBSCRIBEs (except filters sb->cfg wants again) and a SUBSCRIBE for
 * every subscription in sb->cfg. A subscription libmosquitto refuses is
 * logged and skipped. Thread: loop.
 */
void mqtt_sub_resubscribe(struct mqtt_subs *sb, bool session_present);

/*
 * Keeps rec (borrowed until mqtt_fini(); NULL for none) informed of every
 * SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK, and reconciles the broker's
 * session with it at each CONNACK (see subrec.h). Thread: loop.
 */
void mqtt_sub_set_record(struct mqtt_subs *sb, struct subrec *rec);

/* An UNSUBACK for message id mid: the record forgets its filter.
 * Thread: loop. */
void mqtt_sub_unsuback(struct mqtt_subs *sb, int mid);

/*
 * A SUBACK for message id mid: counts it in subacks and, when mid is a
 * SUBSCRIBE still due, clears it from sub_mid and subs_pending and logs a
 * refusal (error), a lower qos than asked (warning) or the grant (debug).
 * granted holds n_granted reason codes; borrowed until return.
 * Thread: loop.
 */
void mqtt_sub_suback(struct mqtt_subs *sb, int mid, int n_granted,
                     const int *granted);

/*
 * Switches c from old's subscriptions to newcfg's (see
 * mqtt_update_subscriptions()): queues an UNSUBSCRIBE for each filter of
 * old that newcfg lacks, sets
 * sb->cfg to newcfg and forgets SUBACKs still due. When connected it also sends
 * the queued UNSUBSCRIBEs and a SUBSCRIBE for each subscription that is new or
 * differs (topic, share group, qos or position); otherwise the next CONNACK
 * sends them. The caller updates its poll mask afterwards. Borrows newcfg from
 * now on. Returns: 0; the first error of mqtt_sub_send() (-EINVAL, -ENOMEM);
 * the other subscriptions are still sent. Thread: loop.
 */
SP_MUST_CHECK int mqtt_sub_update(struct mqtt_subs *sb,
                                  const struct config *old,
                                  const struct config *newcfg, bool connected);

/*
 * The subscription a message on topic belongs to: the lowest index among
 * its MQTT 5 subscription identifiers (id = index + 1) whose filter matches
 * topic; without a usable identifier (MQTT 3.1.1), the first subscription
 * in cfg whose plain filter matches. props may be NULL.
 * Returns: an index into cfg->subs, or MQTT_NO_SUB.
 * Thread: any. Allocates nothing.
 */
unsigned mqtt_sub_route(const struct config *cfg, const char *topic,
                        const mosquitto_property *props);

/*
 * True when a message with this retain flag, routed to sub_index, is a
 * retained message its subscription had received before: MQTT 3.1.1 only
 * (an MQTT 5 SUBSCRIBE asks for Retain Handling 1, so the broker itself
 * sends retained messages only for a new subscription), and only for a
 * subscription whose filter the broker's session held when the SUBSCRIBE
 * that brought the message went out (the subscription record, or, without
 * one, the CONNACK's session-present flag). Thread: loop.
 */
bool mqtt_sub_stale_retained(const struct mqtt_subs *sb, unsigned sub_index,
                             bool retain);

#endif
