/*
 * mqtt_text.c - libmosquitto's results and the broker's reason codes in
 * the words the daemon logs (see mqtt_text.h).
 *
 * Threads: any. Memory: none; the caller's buffers.
 */
#include "mqtt_text.h"

#include <stdio.h>
#include <string.h>

#include <mosquitto.h>

#include "compiler.h"

/* "host:port", IPv6 literals in brackets. */
const char *mqtt_text_broker(const struct config *cfg, char *buf, size_t n)
{
    const char *host = cfg->mqtt.host;

    if (strchr(host, ':') != NULL)
        snprintf(buf, n, "[%s]:%u", host, cfg->mqtt.port);
    else
        snprintf(buf, n, "%s:%u", host, cfg->mqtt.port);
    return buf;
}

/* Copies s without the trailing period libmosquitto's strings carry. */
static const char *trim_copy(const char *s, char *buf, size_t n)
{
    size_t len;

    snprintf(buf, n, "%s", s);
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '.')
        buf[len - 1] = '\0';
    return buf;
}

const char *mqtt_text_reason(int reason, char *buf, size_t n)
{
    return trim_copy(mosquitto_reason_string(reason), buf, n);
}

/*
 * Text for an on_disconnect or call result. rc is a MOSQ_ERR_* code, or an
 * MQTT 5 reason code (>= 0x80) when the broker sent DISCONNECT.
 */
const char *mqtt_text_result(int rc, int err, char *buf, size_t n)
{
    static const struct {
        int rc;
        const char *text;
    } table[] = {
        {MOSQ_ERR_SUCCESS, "closed"},
        {MOSQ_ERR_CONN_LOST, "connection closed"},
        {MOSQ_ERR_KEEPALIVE, "no answer within the keepalive interval"},
        {MOSQ_ERR_PROTOCOL, "protocol error"},
        {MOSQ_ERR_TLS, "TLS error"},
        {MOSQ_ERR_EAI, "name resolution failed"},
        {MOSQ_ERR_NO_CONN, "not connected"},
        {MOSQ_ERR_CONN_REFUSED, "refused by the broker"},
    };

    if (rc >= 0x80)
        return trim_copy(mosquitto_reason_string(rc), buf, n);
    if (rc == MOSQ_ERR_ERRNO)
        return err != 0 ? strerror_r(err, buf, n) : "system error";
    for (size_t i = 0; i < SP_ARRAY_SIZE(table); i++)
        if (table[i].rc == rc)
            return table[i].text;
    return trim_copy(mosquitto_strerror(rc), buf, n);
}

/* A CONNACK reason, in the words of the protocol in use. */
const char *mqtt_text_connack(bool v5, int rc, char *buf, size_t n)
{
    static const char prefix[] = "Connection Refused: ";
    const char *s;

    if (v5)
        return trim_copy(mosquitto_reason_string(rc), buf, n);
    s = mosquitto_connack_string(rc);
    if (strncmp(s, prefix, sizeof(prefix) - 1) == 0)
        s += sizeof(prefix) - 1;
    return trim_copy(s, buf, n);
}
