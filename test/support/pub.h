/*
 * pub.h - a test publisher on libmosquitto's own thread (test support).
 *
 * pub_open() connects to 127.0.0.1:port (MQTT 3.1.1, clean session) and
 * starts mosquitto_loop_start(); pub_send() publishes at the qos given to
 * pub_open(); pub_wait_acked() waits until every message sent so far left
 * (QoS 0) or was acknowledged by the broker (QoS 1: PUBACK).
 */
#ifndef SP_PUB_H
#define SP_PUB_H

#include <stddef.h>

#include "compiler.h"

struct pub;

/*
 * Connects and waits up to 5 s for the CONNACK.
 * Returns: 0 and *p; -ECONNREFUSED (CONNACK refused or no connection);
 *   -ETIMEDOUT; -ENOMEM.
 * Thread: the test's. Allocates (test code).
 */
SP_MUST_CHECK int pub_open(struct pub **p, int port, const char *client_id,
                           int qos);

/* Returns: 0; -EIO when libmosquitto refuses the message.
 * Thread: the test's. Borrows topic and payload until return. */
SP_MUST_CHECK int pub_send(struct pub *p, const char *topic,
                           const void *payload, size_t len);

/* printf-style payload on topic. Returns: as pub_send(). */
SP_MUST_CHECK int pub_sendf(struct pub *p, const char *topic, const char *fmt,
                            ...) SP_PRINTF(3, 4);

/* Returns: 0 once all sent messages are acknowledged; -ETIMEDOUT. */
SP_MUST_CHECK int pub_wait_acked(struct pub *p, int timeout_ms);

/* Disconnects, stops the thread, frees. NULL is a no-op. */
void pub_close(struct pub *p);

#endif
