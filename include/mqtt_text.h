/*
 * mqtt_text.h - libmosquitto's results and the broker's reason codes in
 * the words the daemon logs.
 */
#ifndef SP_MQTT_TEXT_H
#define SP_MQTT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* "host:port" of cfg's broker, IPv6 literals in brackets. Returns buf.
 * Thread: any. */
const char *mqtt_text_broker(const struct config *cfg, char *buf, size_t n);

/* An MQTT 5 reason code (mosquitto_reason_string()) without the trailing
 * period. Returns buf. Thread: any. */
const char *mqtt_text_reason(int reason, char *buf, size_t n);

/*
 * A call's or on_disconnect's result: rc is a MOSQ_ERR_* code (err the
 * errno behind MOSQ_ERR_ERRNO), or an MQTT 5 reason code (>= 0x80) when
 * the broker sent DISCONNECT. Returns buf or a constant. Thread: any.
 */
const char *mqtt_text_result(int rc, int err, char *buf, size_t n);

/* A CONNACK refusal in the words of the protocol in use. Returns buf.
 * Thread: any. */
const char *mqtt_text_connack(bool v5, int rc, char *buf, size_t n);

#endif
