/*
 * test_mqtt_keepalive.c - the daemon's own keepalive with an injected
 * clock: a heartbeat every half interval, silence counted only while a
 * heartbeat waits and the daemon reads, any inbound packet as an answer.
 */
#include <criterion/criterion.h>

#include "mqtt_keepalive.h"

#define KA_S 10
#define T0   100000 /* ms */

static struct mqtt_keepalive k;

Test(mqtt_keepalive, heartbeat_every_half_interval)
{
    mqtt_keepalive_start(&k, KA_S, T0, 0);
    cr_expect_eq(mqtt_keepalive_tick(&k, T0 + 1000, 0, false),
                 MQTT_KEEPALIVE_WAIT);
    cr_expect_eq(mqtt_keepalive_tick(&k, T0 + 5000, 0, false),
                 MQTT_KEEPALIVE_SEND);
    mqtt_keepalive_sent(&k, T0 + 5000, 42, true);
    cr_expect_eq(mqtt_keepalive_tick(&k, T0 + 6000, 0, false),
                 MQTT_KEEPALIVE_WAIT);
    /* Its answer: the next one goes half an interval after it was sent. */
    cr_expect(mqtt_keepalive_answered(&k, 42));
    cr_expect_eq(mqtt_keepalive_tick(&k, T0 + 10000, 1, false),
                 MQTT_KEEPALIVE_SEND);
}

Test(mqtt_keepalive, silence_while_a_heartbeat_waits_expires)
{
    uint64_t t = T0;

    mqtt_keepalive_start(&k, KA_S, t, 7);
    mqtt_keepalive_sent(&k, t, 1, true);
    for (int i = 0; i < KA_S - 1; i++) {
        t += 1000;
        cr_assert_neq(mqtt_keepalive_tick(&k, t, 7, false),
                      MQTT_KEEPALIVE_EXPIRE, "after %d s", i + 1);
        mqtt_keepalive_sent(&k, t, 2 + i, true); /* later ones too */
    }
    cr_expect_eq(mqtt_keepalive_tick(&k, t + 1000, 7, false),
                 MQTT_KEEPALIVE_EXPIRE);
    cr_expect(k.expired);
}

Test(mqtt_keepalive, any_inbound_packet_resets_the_silence)
{
    uint64_t t = T0;
    uint64_t in = 0;

    mqtt_keepalive_start(&k, KA_S, t, in);
    mqtt_keepalive_sent(&k, t, 1, true);
    for (int i = 0; i < 3 * KA_S; i++) {
        t += 1000;
        in += i % 5 == 0; /* a message now and then */
        cr_assert_neq(mqtt_keepalive_tick(&k, t, in, false),
                      MQTT_KEEPALIVE_EXPIRE, "at %d s", i + 1);
    }
}

Test(mqtt_keepalive, time_paused_is_not_silence)
{
    uint64_t t = T0;

    mqtt_keepalive_start(&k, KA_S, t, 0);
    mqtt_keepalive_sent(&k, t, 1, true);
    for (int i = 0; i < 5 * KA_S; i++) {
        t += 1000;
        cr_assert_neq(mqtt_keepalive_tick(&k, t, 0, true),
                      MQTT_KEEPALIVE_EXPIRE, "paused %d s", i + 1);
    }
    /* Reading again: a whole interval of silence still to go. */
    for (int i = 0; i < KA_S - 1; i++)
        cr_assert_neq(mqtt_keepalive_tick(&k, t += 1000, 0, false),
                      MQTT_KEEPALIVE_EXPIRE);
    cr_expect_eq(mqtt_keepalive_tick(&k, t + 1000, 0, false),
                 MQTT_KEEPALIVE_EXPIRE);
}

Test(mqtt_keepalive, only_the_waiting_heartbeat_is_answered)
{
    mqtt_keepalive_start(&k, KA_S, T0, 0);
    cr_expect_not(mqtt_keepalive_answered(&k, 0), "nothing waits");
    mqtt_keepalive_sent(&k, T0, 5, false);
    cr_expect_not(mqtt_keepalive_answered(&k, 5), "a failed send waits not");
    mqtt_keepalive_sent(&k, T0, 6, true);
    mqtt_keepalive_sent(&k, T0 + 5000, 7, true);
    cr_expect_not(mqtt_keepalive_answered(&k, 3), "a subscription's");
    cr_expect_not(mqtt_keepalive_answered(&k, 7), "the oldest counts");
    cr_expect(mqtt_keepalive_answered(&k, 6));
}
