/*
 * mqtt_sub.c - the subscriptions of the broker connection: filters,
 * SUBSCRIBE with MQTT 5 subscription identifiers, SUBACK checking, the
 * UNSUBSCRIBE queue of a reload, and routing a message to a subscription.
 *
 * Identity: subscription i of the config in use is subscribed with
 * identifier i + 1 (MQTT 5), and its message id is kept in sub_mid[i] until
 * its SUBACK. A reload (mqtt_sub_update()) renumbers the subscriptions, so
 * it forgets every SUBACK still due, and mqtt_sub_route() trusts an
 * identifier only when the filter it names now matches the topic.
 *
 * Reloads: a filter the new config drops is queued in unsub and sent as
 * UNSUBSCRIBE when connected (at once, or after the next CONNACK); a filter
 * the new config wants again by then is not unsubscribed. New or changed
 * subscriptions are subscribed; unchanged ones keep their broker state.
 *
 * Retained messages: each is stored once per subscription lifetime. An
 * MQTT 5 SUBSCRIBE asks for Retain Handling 1 (MQTT_SUB_OPT_SEND_RETAIN_NEW:
 * retained messages only when the subscription is new to the session), so
 * the resubscribe after each CONNACK of a resumed session brings none.
 * MQTT 3.1.1 has no such option: every SUBSCRIBE brings them again, with
 * the retain flag (which a live delivery never carries). So before each
 * SUBSCRIBE, sub_had_retained[i] notes whether the session already held
 * the filter (the subscription record, or the session-present flag when
 * there is no record), and mqtt_sub_stale_retained() marks such a
 * delivery for the router to skip and count (skipped_retained).
 *
 * Threads: the loop thread, which is the only thread calling libmosquitto,
 * for everything but mqtt_sub_filter(), mqtt_sub_cfg_has_filter() and
 * mqtt_sub_route(), which run anywhere.
 *
 * Invariants:
 *   - sub_mid[i] != 0 only for a SUBSCRIBE of sb->cfg->subs[i] sent since
 *     the last CONNACK or reload and not yet acknowledged; subs_pending
 *     counts them.
 *   - n_unsub <= CONFIG_MAX_SUBS and unsub[0..n_unsub) holds no duplicate.
 *
 * Memory: struct mqtt_subs is the caller's (inside struct mqtt_client); filters
 * are built on the stack. libmosquitto allocates the SUBSCRIBE properties and
 * packets, per (re)connect or reload only; routing allocates nothing.
 */
#include "mqtt_sub.h"

#include <assert.h>
#include <errno.h>
#include <mqtt_protocol.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>

#include "log.h"
#include "mqtt_text.h"
#include "subrec.h"
#include "thread.h"

#define REASON_MAX 128

_Static_assert(sizeof(((struct subrec_entry *) 0)->filter) ==
                   sizeof(((struct mqtt_subs *) 0)->unsub[0]),
               "the record holds every filter");

static bool is_v5(const struct mqtt_subs *sb)
{
    return sb->cfg->mqtt.protocol == PROTOCOL_V5;
}

static bool same_sub(const struct config_sub *a, const struct config_sub *b)
{
    return a->qos == b->qos && strcmp(a->topic, b->topic) == 0 &&
           strcmp(a->share_group, b->share_group) == 0;
}

void mqtt_sub_filter(const struct config_sub *s, char *buf, size_t n)
{
    if (s->share_group[0] != '\0')
        snprintf(buf, n, "$share/%s/%s", s->share_group, s->topic);
    else
        snprintf(buf, n, "%s", s->topic);
}

/* The first subscription of cfg with exactly this filter, or -1. */
static int cfg_find(const struct config *cfg, const char *filter)
{
    char f[MQTT_FILTER_MAX];

    for (unsigned i = 0; i < cfg->n_subs; i++) {
        mqtt_sub_filter(&cfg->subs[i], f, sizeof(f));
        if (strcmp(f, filter) == 0)
            return (int) i;
    }
    return -1;
}

bool mqtt_sub_cfg_has_filter(const struct config *cfg, const char *filter)
{
    return cfg_find(cfg, filter) >= 0;
}

void mqtt_sub_init(struct mqtt_subs *sb, struct mosquitto *mosq,
                   const struct config *cfg)
{
    memset(sb, 0, sizeof(*sb));
    sb->mosq = mosq;
    sb->cfg = cfg;
}

void mqtt_sub_set_record(struct mqtt_subs *sb, struct subrec *rec)
{
    ASSERT_THREAD(THREAD_LOOP);
    sb->rec = rec;
}

/* The record changed: hand it to the writer. A full ring leaves it dirty;
 * the daemon's timer publishes it later. */
static void record_changed(struct mqtt_subs *sb)
{
    if (sb->rec != NULL && subrec_publish(sb->rec) < 0)
        log_debug("mqtt: the subscription record waits for room on its "
                  "way to the store");
}

/* ---- retained messages ------------------------------------------------- */

/* The broker's session holds filter now, as far as the daemon knows: the
 * subscription record when it was a record at CONNACK, else the CONNACK's
 * session-present flag. */
static bool session_has(const struct mqtt_subs *sb, const char *filter)
{
    if (!sb->rec_trusted)
        return sb->session_present;
    for (unsigned k = 0; k < subrec_count(sb->rec); k++)
        if (strcmp(subrec_entry(sb->rec, k)->filter, filter) == 0)
            return true;
    return false;
}

bool mqtt_sub_stale_retained(const struct mqtt_subs *sb, unsigned sub_index,
                             bool retain)
{
    return retain && !is_v5(sb) && sub_index < sb->cfg->n_subs &&
           sb->sub_had_retained[sub_index];
}

/* ---- SUBSCRIBE and SUBACK ----------------------------------------------- */

int mqtt_sub_send(struct mqtt_subs *sb, unsigned i)
{
    const struct config_sub *s = &sb->cfg->subs[i];
    mosquitto_property *props = NULL;
    char filter[MQTT_FILTER_MAX];
    int rc = MOSQ_ERR_SUCCESS;

    ASSERT_THREAD(THREAD_LOOP);
    assert(i < sb->cfg->n_subs);
    mqtt_sub_filter(s, filter, sizeof(filter));
    /* Before the SUBACK puts the filter in the record. */
    sb->sub_had_retained[i] = !is_v5(sb) && session_has(sb, filter);
    if (is_v5(sb))
        rc = mosquitto_property_add_varint(
            &props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, i + 1);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_subscribe_v5(
            sb->mosq, &sb->sub_mid[i], filter, s->qos,
            is_v5(sb) ? MQTT_SUB_OPT_SEND_RETAIN_NEW : 0, props);
    mosquitto_property_free_all(&props);
    if (rc == MOSQ_ERR_SUCCESS)
        sb->subs_pending++;
    if (rc == MOSQ_ERR_SUCCESS && sb->rec != NULL)
        subrec_subscribing(sb->rec, sb->sub_mid[i], filter, s->name, s->qos);
    if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN ||
        rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_CONN_LOST)
        return 0;
    log_err("mqtt: cannot subscribe '%s' to %s: %s", s->name, filter,
            mosquitto_strerror(rc));
    return rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EINVAL;
}

static void record_suback(struct mqtt_subs *sb, int mid, int n_granted,
                          const int *granted)
{
    if (sb->rec == NULL || n_granted < 1)
        return;
    subrec_suback(sb->rec, mid, granted[0]);
    record_changed(sb);
}

void mqtt_sub_suback(struct mqtt_subs *sb, int mid, int n_granted,
                     const int *granted)
{
    const struct config_sub *s;
    char filter[MQTT_FILTER_MAX];
    char reason[REASON_MAX];
    unsigned i;

    ASSERT_THREAD(THREAD_LOOP);
    record_suback(sb, mid, n_granted, granted);
    for (i = 0; i < sb->cfg->n_subs && sb->sub_mid[i] != mid; i++)
        ;
    sb->subacks++;
    if (i == sb->cfg->n_subs || n_granted < 1)
        return;
    s = &sb->cfg->subs[i];
    sb->sub_mid[i] = 0;
    if (sb->subs_pending > 0)
        sb->subs_pending--;
    mqtt_sub_filter(s, filter, sizeof(filter));
    if (granted[0] >= 0x80)
        log_err("mqtt: subscription '%s' to %s refused by the broker: %s",
                s->name, filter,
                is_v5(sb) ? mqtt_text_reason(granted[0], reason, sizeof(reason))
                          : "failure");
    else if (granted[0] < s->qos)
        log_warn("mqtt: subscription '%s' to %s granted qos %d, not %d",
                 s->name, filter, granted[0], s->qos);
    else
        log_debug("mqtt: subscribed '%s' to %s (qos %d)", s->name, filter,
                  granted[0]);
}

/* ---- UNSUBSCRIBE -------------------------------------------------------- */

static void queue_unsub(struct mqtt_subs *sb, const char *filter)
{
    for (unsigned i = 0; i < sb->n_unsub; i++)
        if (strcmp(sb->unsub[i], filter) == 0)
            return;
    if (sb->n_unsub == SP_ARRAY_SIZE(sb->unsub)) {
        log_warn("mqtt: too many pending unsubscriptions: %s stays in the "
                 "broker's session",
                 filter);
        return;
    }
    snprintf(sb->unsub[sb->n_unsub++], MQTT_FILTER_MAX, "%s", filter);
}

static void flush_unsubs(struct mqtt_subs *sb)
{
    int mid = 0;
    int rc;

    for (unsigned i = 0; i < sb->n_unsub; i++) {
        if (mqtt_sub_cfg_has_filter(sb->cfg, sb->unsub[i]))
            continue;
        rc = mosquitto_unsubscribe(sb->mosq, &mid, sb->unsub[i]);
        if (rc == MOSQ_ERR_SUCCESS && sb->rec != NULL)
            subrec_unsubscribing(sb->rec, mid, sb->unsub[i]);
        else if (rc != MOSQ_ERR_SUCCESS)
            log_warn("mqtt: cannot unsubscribe from %s: %s", sb->unsub[i],
                     mosquitto_strerror(rc));
    }
    sb->n_unsub = 0;
}

void mqtt_sub_unsuback(struct mqtt_subs *sb, int mid)
{
    ASSERT_THREAD(THREAD_LOOP);
    if (sb->rec == NULL)
        return;
    subrec_unsuback(sb->rec, mid);
    record_changed(sb);
}

/* A recorded filter the file still has: say when its qos changed. */
static void note_kept(const struct mqtt_subs *sb, const struct subrec_entry *e,
                      int i)
{
    const struct config_sub *s = &sb->cfg->subs[i];

    if (s->qos != e->qos)
        log_notice("mqtt: subscription '%s' to %s: qos %d since the last "
                   "run, now %d",
                   s->name, e->filter, e->qos, s->qos);
}

/*
 * At CONNACK: a session the broker kept holds what earlier runs subscribed;
 * every recorded filter the file no longer has (removed, or changed under
 * the same name) is unsubscribed before the file's filters are subscribed.
 */
static void reconcile(struct mqtt_subs *sb, bool present)
{
    const struct subrec_entry *e;
    int k;

    if (sb->rec == NULL)
        return;
    if (present && !subrec_is_known(sb->rec))
        log_notice("mqtt: the store holds no record of earlier "
                   "subscriptions of client id %s (a store from an older "
                   "version): filters removed from the file before this "
                   "start may stay in the broker's session",
                   sb->cfg->mqtt.client_id);
    subrec_session(sb->rec, present);
    for (unsigned i = 0; present && i < subrec_count(sb->rec); i++) {
        e = subrec_entry(sb->rec, i);
        k = cfg_find(sb->cfg, e->filter);
        if (k >= 0) {
            note_kept(sb, e, k);
            continue;
        }
        log_notice("mqtt: unsubscribing from %s: subscribed by an earlier "
                   "run for subscription '%s', no longer in the file",
                   e->filter, e->name);
        queue_unsub(sb, e->filter);
    }
    record_changed(sb);
}

/* ---- connection and reload ---------------------------------------------- */

void mqtt_sub_resubscribe(struct mqtt_subs *sb, bool session_present)
{
    ASSERT_THREAD(THREAD_LOOP);
    sb->subs_pending = 0;
    sb->session_present = session_present;
    sb->rec_trusted = sb->rec != NULL && subrec_is_known(sb->rec);
    reconcile(sb, session_present);
    flush_unsubs(sb);
    for (unsigned i = 0; i < sb->cfg->n_subs; i++) {
        /* A refused filter is logged there; the others are still sent. */
        if (mqtt_sub_send(sb, i) < 0)
            continue;
    }
}

/* Queues an UNSUBSCRIBE for each filter of old that newcfg lacks. */
static void queue_removed(struct mqtt_subs *sb, const struct config *old,
                          const struct config *newcfg)
{
    char filter[MQTT_FILTER_MAX];

    for (unsigned j = 0; j < old->n_subs; j++) {
        mqtt_sub_filter(&old->subs[j], filter, sizeof(filter));
        if (!mqtt_sub_cfg_has_filter(newcfg, filter)) {
            log_notice("mqtt: subscription '%s' removed: unsubscribing "
                       "from %s",
                       old->subs[j].name, filter);
            queue_unsub(sb, filter);
        }
    }
}

int mqtt_sub_update(struct mqtt_subs *sb, const struct config *old,
                    const struct config *newcfg, bool connected)
{
    char filter[MQTT_FILTER_MAX];
    int rc = 0;
    int err;

    ASSERT_THREAD(THREAD_LOOP);
    queue_removed(sb, old, newcfg);
    sb->cfg = newcfg;
    /* SUBACKs still due name old indexes: ignore them from now on. */
    memset(sb->sub_mid, 0, sizeof(sb->sub_mid));
    sb->subs_pending = 0;
    if (!connected)
        return 0; /* the next CONNACK sends everything */
    flush_unsubs(sb);
    for (unsigned i = 0; i < newcfg->n_subs; i++) {
        if (i < old->n_subs && same_sub(&old->subs[i], &newcfg->subs[i]))
            continue;
        mqtt_sub_filter(&newcfg->subs[i], filter, sizeof(filter));
        log_notice("mqtt: subscription '%s' added or changed: subscribing "
                   "to %s (qos %d)",
                   newcfg->subs[i].name, filter, newcfg->subs[i].qos);
        err = mqtt_sub_send(sb, i);
        if (err < 0 && rc == 0)
            rc = err;
    }
    return rc;
}

/* ---- routing ------------------------------------------------------------ */

unsigned mqtt_sub_route(const struct config *cfg, const char *topic,
                        const mosquitto_property *props)
{
    const mosquitto_property *p;
    unsigned best = MQTT_NO_SUB;
    uint32_t id = 0;
    bool match;

    p = mosquitto_property_read_varint(props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
                                       &id, false);
    while (p != NULL) {
        /* An identifier from before a reload may name another filter now:
         * trust it only when its filter matches the topic. */
        if (id >= 1 && id <= cfg->n_subs && id - 1 < best &&
            mosquitto_topic_matches_sub(cfg->subs[id - 1].topic, topic,
                                        &match) == MOSQ_ERR_SUCCESS &&
            match)
            best = id - 1;
        p = mosquitto_property_read_varint(p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
                                           &id, true);
    }
    if (best != MQTT_NO_SUB)
        return best;
    for (unsigned i = 0; i < cfg->n_subs; i++)
        if (mosquitto_topic_matches_sub(cfg->subs[i].topic, topic, &match) ==
                MOSQ_ERR_SUCCESS &&
            match)
            return i;
    return MQTT_NO_SUB;
}
