/*
 * mqtt_keepalive.h - the keepalive the daemon keeps itself once connected
 * (mqtt_keepalive.c): when to send a heartbeat, and when silence means
 * the broker is gone. Pure state: the caller reads the clock, counts the
 * inbound packets and sends the heartbeats.
 */
#ifndef SP_MQTT_KEEPALIVE_H
#define SP_MQTT_KEEPALIVE_H

#include <stdbool.h>
#include <stdint.h>

/* Owner: the loop thread (inside struct mqtt_client). */
struct mqtt_keepalive {
    unsigned ka_s;      /* keepalive in force: the broker's, or ours */
    uint64_t sent_ms;   /* when the last heartbeat went out (monotonic) */
    uint64_t tick_ms;   /* the last tick */
    uint64_t silent_ms; /* unpaused time without an inbound packet while a
                           heartbeat waits */
    uint64_t seen;      /* inbound packets counted at the last tick */
    int mid;            /* message id of the oldest unanswered heartbeat */
    bool waiting;       /* a heartbeat has no answer yet */
    bool expired;       /* the connection is being dropped for silence */
};

/* What a tick asks of the caller. */
enum mqtt_keepalive_step {
    MQTT_KEEPALIVE_WAIT,   /* nothing to do */
    MQTT_KEEPALIVE_SEND,   /* send a heartbeat, then mqtt_keepalive_sent() */
    MQTT_KEEPALIVE_EXPIRE, /* no answer within the keepalive: drop it */
};

/* Thread: loop. A new connection with keepalive ka_s; inbound is the
 * caller's count of packets read so far. */
void mqtt_keepalive_start(struct mqtt_keepalive *k, unsigned ka_s,
                          uint64_t now_ms, uint64_t inbound);

/* Thread: loop, about once a second. paused: the caller does not read
 * (time paused does not count as silence). */
enum mqtt_keepalive_step mqtt_keepalive_tick(struct mqtt_keepalive *k,
                                             uint64_t now_ms, uint64_t inbound,
                                             bool paused);

/* Thread: loop. A heartbeat went out as message id mid (sent: false when
 * the write failed; the next tick waits another half interval). */
void mqtt_keepalive_sent(struct mqtt_keepalive *k, uint64_t now_ms, int mid,
                         bool sent);

/* Thread: loop. An UNSUBACK: true when it answers the heartbeat that
 * waits (then it is the keepalive's, not a subscription's). */
bool mqtt_keepalive_answered(struct mqtt_keepalive *k, int mid);

#endif
