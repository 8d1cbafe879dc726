/*
 * test_mqtt_text.c - results and reasons as the log words them.
 */
#include <errno.h>
#include <mqtt_protocol.h>
#include <string.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mqtt_text.h"

static struct config cfg;

Test(mqtt_text, broker_names_bracket_ipv6_literals)
{
    char buf[64];

    config_defaults(&cfg);
    strcpy(cfg.mqtt.host, "broker.lan");
    cfg.mqtt.port = 8883;
    cr_expect_str_eq(mqtt_text_broker(&cfg, buf, sizeof(buf)),
                     "broker.lan:8883");
    strcpy(cfg.mqtt.host, "::1");
    cr_expect_str_eq(mqtt_text_broker(&cfg, buf, sizeof(buf)), "[::1]:8883");
}

Test(mqtt_text, results_in_plain_words)
{
    char buf[128];

    cr_expect_str_eq(mqtt_text_result(MOSQ_ERR_KEEPALIVE, 0, buf, sizeof(buf)),
                     "no answer within the keepalive interval");
    cr_expect_str_eq(
        mqtt_text_result(MOSQ_ERR_ERRNO, ECONNREFUSED, buf, sizeof(buf)),
        strerror(ECONNREFUSED));
    /* A broker's DISCONNECT reason, without libmosquitto's period. */
    mqtt_text_result(MQTT_RC_SESSION_TAKEN_OVER, 0, buf, sizeof(buf));
    cr_expect_neq(buf[strlen(buf) - 1], '.');
    cr_expect_gt(strlen(buf), 5);
}

Test(mqtt_text, connack_refusals_without_prefix_or_period)
{
    char buf[128];
    size_t n;

    mqtt_text_connack(false, CONNACK_REFUSED_NOT_AUTHORIZED, buf, sizeof(buf));
    cr_expect(strncmp(buf, "Connection Refused", 18) != 0, "%s", buf);
    n = strlen(buf);
    cr_expect(n > 0 && buf[n - 1] != '.', "%s", buf);
    mqtt_text_connack(true, MQTT_RC_NOT_AUTHORIZED, buf, sizeof(buf));
    n = strlen(buf);
    cr_expect(n > 0 && buf[n - 1] != '.', "%s", buf);
    cr_expect_str_eq(mqtt_text_reason(MQTT_RC_NOT_AUTHORIZED, buf, sizeof(buf)),
                     buf);
}
