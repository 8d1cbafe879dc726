/*
 * mqtt_keepalive.c - the keepalive the daemon keeps itself once connected.
 *
 * libmosquitto's own check (mosquitto_loop_misc(); lib/util_mosq.c,
 * mosquitto__check_keepalive) sends PINGREQ after the keepalive without
 * traffic and closes the connection when no packet at all arrived for
 * another keepalive (ping_t is cleared only by a PINGRESP it reads). While
 * the daemon pauses reading nothing is read, so a pause longer than about
 * twice the keepalive would drop the connection, and the broker would then
 * drop the QoS 0 backlog it holds for us. So after CONNACK the
 * client sends a heartbeat every keepalive / 2, paused or not: an
 * UNSUBSCRIBE of a filter no subscription uses, which libmosquitto can
 * send in any state, the broker answers in order without side effects,
 * and which is traffic that satisfies the broker's keepalive (1.5 x the
 * interval). Any inbound packet shows the broker alive; the connection is
 * given up only when the keepalive's worth of UNPAUSED time passed without
 * one while a heartbeat waits for its answer: an answer cannot be read
 * while paused, and a new connection gains nothing until the daemon reads
 * again. An MQTT 5 broker's Server Keep Alive (CONNACK) replaces the
 * configured keepalive, as libmosquitto's own check would.
 *
 * Threads: the loop thread. Memory: none.
 */
#include "mqtt_keepalive.h"

void mqtt_keepalive_start(struct mqtt_keepalive *k, unsigned ka_s,
                          uint64_t now_ms, uint64_t inbound)
{
    k->ka_s = ka_s;
    k->sent_ms = now_ms;
    k->tick_ms = now_ms;
    k->silent_ms = 0;
    k->seen = inbound;
    k->mid = 0;
    k->waiting = false;
    k->expired = false;
}

enum mqtt_keepalive_step mqtt_keepalive_tick(struct mqtt_keepalive *k,
                                             uint64_t now_ms, uint64_t inbound,
                                             bool paused)
{
    uint64_t ka_ms = (uint64_t) k->ka_s * 1000;

    if (inbound != k->seen || !k->waiting)
        k->silent_ms = 0;
    else if (!paused)
        k->silent_ms += now_ms - k->tick_ms;
    k->seen = inbound;
    k->tick_ms = now_ms;
    if (k->waiting && k->silent_ms >= ka_ms) {
        k->expired = true;
        return MQTT_KEEPALIVE_EXPIRE;
    }
    if (now_ms - k->sent_ms >= ka_ms / 2)
        return MQTT_KEEPALIVE_SEND;
    return MQTT_KEEPALIVE_WAIT;
}

void mqtt_keepalive_sent(struct mqtt_keepalive *k, uint64_t now_ms, int mid,
                         bool sent)
{
    k->sent_ms = now_ms;
    if (!sent)
        return;
    if (!k->waiting)
        k->mid = mid; /* the oldest unanswered one counts */
    k->waiting = true;
}

bool mqtt_keepalive_answered(struct mqtt_keepalive *k, int mid)
{
    if (!k->waiting || mid != k->mid)
        return false;
    k->waiting = false; /* later ones are answered in order */
    return true;
}
