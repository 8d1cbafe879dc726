/*
 * test_mqtt_sub.c - filters, SUBACK accounting, reload diffing and routing,
 * without a broker.
 *
 * The reload and SUBACK tests drive a zeroed struct mqtt_subs by hand; the
 * ones that need libmosquitto give it a handle that never connects, so every
 * SUBSCRIBE and UNSUBSCRIBE fails with "no connection" and the log lines
 * show which filters were sent. test_mqtt.c covers the same paths against a
 * real broker. The log goes to a temporary file so tests can count lines.
 */
#include <errno.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "config.h"
#include "log.h"
#include "mqtt.h"
#include "mqtt_sub.h"

static struct {
    struct mqtt_subs c;
    struct config a;
    struct config b;
    bool connected; /* what mqtt.c would pass: the connection is up */
    char log_path[64];
    int log_fd;
} fx;

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    config_defaults(&fx.a);
    config_defaults(&fx.b);
    snprintf(fx.log_path, sizeof(fx.log_path), "/tmp/sp-mqtt-sub-XXXXXX");
    fx.log_fd = mkstemp(fx.log_path);
    cr_assert_geq(fx.log_fd, 0);
    log_init(LOG_DEBUG);
    log_set_fd(fx.log_fd);
    fx.c.cfg = &fx.a;
}

static void teardown(void)
{
    if (fx.c.mosq != NULL)
        mosquitto_destroy(fx.c.mosq);
    close(fx.log_fd);
    unlink(fx.log_path);
}

TestSuite(mqtt_sub, .init = setup, .fini = teardown, .timeout = 30);

static void add_sub(struct config *cfg, const char *name, const char *topic,
                    int qos, const char *group)
{
    struct config_sub *s = &cfg->subs[cfg->n_subs++];

    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    snprintf(s->share_group, sizeof(s->share_group), "%s", group);
    s->qos = qos;
}

/* Lines of the log holding needle. */
static unsigned log_count(const char *needle)
{
    char line[1024];
    unsigned n = 0;
    FILE *f = fopen(fx.log_path, "r");

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

/* A handle of cfg's protocol that never connects. */
static void open_unconnected(const struct config *cfg)
{
    int v = cfg->mqtt.protocol == PROTOCOL_V5 ? MQTT_PROTOCOL_V5
                                              : MQTT_PROTOCOL_V311;

    cr_assert_eq(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    fx.c.mosq = mosquitto_new("sub-test", true, &fx.c);
    cr_assert_not_null(fx.c.mosq);
    cr_assert_eq(mosquitto_int_option(fx.c.mosq, MOSQ_OPT_PROTOCOL_VERSION, v),
                 MOSQ_ERR_SUCCESS);
}

/* ---- filters ------------------------------------------------------------ */

Test(mqtt_sub, filter_prefixes_the_share_group)
{
    char buf[MQTT_FILTER_MAX];
    char small[8];

    add_sub(&fx.a, "plain", "a/+/c", 1, "");
    add_sub(&fx.a, "shared", "a/#", 1, "grp");
    mqtt_sub_filter(&fx.a.subs[0], buf, sizeof(buf));
    cr_assert_str_eq(buf, "a/+/c");
    mqtt_sub_filter(&fx.a.subs[1], buf, sizeof(buf));
    cr_assert_str_eq(buf, "$share/grp/a/#");
    /* A short buffer truncates and stays terminated. */
    mqtt_sub_filter(&fx.a.subs[1], small, sizeof(small));
    cr_assert_eq(strlen(small), sizeof(small) - 1);
    cr_assert_eq(strncmp(small, "$share/grp/a/#", sizeof(small) - 1), 0);
}

Test(mqtt_sub, longest_filter_fits_filter_max)
{
    struct config_sub *s = &fx.a.subs[0];
    char buf[MQTT_FILTER_MAX];

    fx.a.n_subs = 1;
    memset(s->topic, 't', sizeof(s->topic) - 1);
    s->topic[sizeof(s->topic) - 1] = '\0';
    memset(s->share_group, 'g', sizeof(s->share_group) - 1);
    s->share_group[sizeof(s->share_group) - 1] = '\0';
    mqtt_sub_filter(s, buf, sizeof(buf));
    cr_assert_eq(strlen(buf), strlen("$share/") + strlen(s->share_group) + 1 +
                                  strlen(s->topic));
}

Test(mqtt_sub, cfg_has_filter_compares_the_whole_filter)
{
    add_sub(&fx.a, "shared", "a/#", 1, "g");
    add_sub(&fx.a, "plain", "b", 1, "");
    cr_assert(mqtt_sub_cfg_has_filter(&fx.a, "$share/g/a/#"));
    cr_assert(mqtt_sub_cfg_has_filter(&fx.a, "b"));
    cr_assert_not(mqtt_sub_cfg_has_filter(&fx.a, "a/#"));
    cr_assert_not(mqtt_sub_cfg_has_filter(&fx.a, "$share/g/b"));
    cr_assert_not(mqtt_sub_cfg_has_filter(&fx.a, "b/c"));
    cr_assert_not(mqtt_sub_cfg_has_filter(&fx.b, "b"));
}

/* ---- routing ------------------------------------------------------------ */

/* Several identifiers on one message. */
static mosquitto_property *ids(const uint32_t *v, unsigned n)
{
    mosquitto_property *props = NULL;

    for (unsigned i = 0; i < n; i++)
        cr_assert_eq(mosquitto_property_add_varint(
                         &props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, v[i]),
                     MOSQ_ERR_SUCCESS);
    return props;
}

Test(mqtt_sub, route_takes_lowest_matching_identifier)
{
    static const uint32_t three_one_two[] = {3, 1, 2};
    static const uint32_t stale_first[] = {1, 3};
    static const uint32_t out_of_range[] = {9, 0};
    struct config *cfg = &fx.a;
    mosquitto_property *p;

    add_sub(cfg, "a", "x/+", 1, "");
    add_sub(cfg, "b", "x/#", 1, "");
    add_sub(cfg, "c", "#", 1, "");

    p = ids(three_one_two, 3);
    cr_assert_eq(mqtt_sub_route(cfg, "x/y", p), 0);
    /* Identifier 1 names "x/+", which does not match x/y/z: skipped. */
    cr_assert_eq(mqtt_sub_route(cfg, "x/y/z", p), 1);
    mosquitto_property_free_all(&p);

    p = ids(stale_first, 2);
    cr_assert_eq(mqtt_sub_route(cfg, "q", p), 2);
    mosquitto_property_free_all(&p);

    /* Unusable identifiers: topic matching, first in config order. */
    p = ids(out_of_range, 2);
    cr_assert_eq(mqtt_sub_route(cfg, "x/y", p), 0);
    mosquitto_property_free_all(&p);
    cr_assert_eq(mqtt_sub_route(cfg, "x/y/z", NULL), 1);
    cr_assert_eq(mqtt_sub_route(cfg, "other", NULL), 2);
    cfg->n_subs = 2;
    cr_assert_eq(mqtt_sub_route(cfg, "other", NULL), MQTT_NO_SUB);
    /* '#' does not match topics starting with '$'. */
    cfg->n_subs = 3;
    cr_assert_eq(mqtt_sub_route(cfg, "$SYS/x", NULL), MQTT_NO_SUB);
}

/* ---- SUBACK ------------------------------------------------------------- */

Test(mqtt_sub, suback_clears_its_subscription_only)
{
    static const int qos1[] = {1};
    static const int qos0[] = {0};

    add_sub(&fx.a, "a", "x/1", 1, "");
    add_sub(&fx.a, "b", "x/2", 1, "");
    fx.c.sub_mid[0] = 7;
    fx.c.sub_mid[1] = 9;
    fx.c.subs_pending = 2;

    mqtt_sub_suback(&fx.c, 9, 1, qos1);
    cr_assert_eq(fx.c.subacks, 1);
    cr_assert_eq(fx.c.sub_mid[1], 0);
    cr_assert_eq(fx.c.sub_mid[0], 7);
    cr_assert_eq(fx.c.subs_pending, 1);
    cr_assert_eq(log_count("mqtt: subscribed 'b' to x/2 (qos 1)"), 1);

    /* Unknown message id, and a SUBACK without reason codes: counted only. */
    mqtt_sub_suback(&fx.c, 42, 1, qos1);
    mqtt_sub_suback(&fx.c, 7, 0, qos1);
    cr_assert_eq(fx.c.subacks, 3);
    cr_assert_eq(fx.c.sub_mid[0], 7);
    cr_assert_eq(fx.c.subs_pending, 1);

    mqtt_sub_suback(&fx.c, 7, 1, qos0);
    cr_assert_eq(fx.c.subs_pending, 0);
    cr_assert_eq(log_count("mqtt: subscription 'a' to x/1 granted qos 0, "
                           "not 1"),
                 1);

    /* A late duplicate never takes subs_pending below zero. */
    fx.c.sub_mid[1] = 11;
    mqtt_sub_suback(&fx.c, 11, 1, qos1);
    cr_assert_eq(fx.c.subs_pending, 0);
    cr_assert_eq(fx.c.subacks, 5);
}

static void refusal_logged(enum config_protocol proto, const char *reason)
{
    static const int refused[] = {0x87};
    char want[256];

    fx.a.mqtt.protocol = proto;
    add_sub(&fx.a, "a", "x/1", 2, "g");
    fx.c.sub_mid[0] = 3;
    fx.c.subs_pending = 1;
    mqtt_sub_suback(&fx.c, 3, 1, refused);
    cr_assert_eq(fx.c.subs_pending, 0, "a refusal is an answer too");
    snprintf(want, sizeof(want),
             "mqtt: subscription 'a' to $share/g/x/1 refused by the broker: "
             "%s\n",
             reason);
    cr_assert_eq(log_count(want), 1, "want: %s", want);
}

Test(mqtt_sub, suback_refusal_logs_v5_reason_without_period)
{
    char reason[128];
    size_t len;

    snprintf(reason, sizeof(reason), "%s", mosquitto_reason_string(0x87));
    len = strlen(reason);
    cr_assert_gt(len, 1);
    if (reason[len - 1] == '.')
        reason[len - 1] = '\0';
    refusal_logged(PROTOCOL_V5, reason);
}

Test(mqtt_sub, suback_refusal_logs_failure_v311)
{
    refusal_logged(PROTOCOL_V311, "failure");
}

/* ---- reload ------------------------------------------------------------- */

Test(mqtt_sub, update_while_disconnected_queues_removed_filters_once)
{
    add_sub(&fx.a, "a", "x/1", 1, "");
    add_sub(&fx.a, "b", "x/2", 1, "g");
    add_sub(&fx.a, "c", "x/3", 1, "");
    /* b loses its share group, c changes qos (same filter), d is new. */
    add_sub(&fx.b, "a", "x/1", 1, "");
    add_sub(&fx.b, "b", "x/2", 1, "");
    add_sub(&fx.b, "c", "x/3", 0, "");
    add_sub(&fx.b, "d", "x/4", 1, "");
    fx.c.sub_mid[0] = 5;
    fx.c.sub_mid[2] = 6;
    fx.c.subs_pending = 2;

    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.b, fx.connected), 0);
    cr_assert_eq(fx.c.cfg, &fx.b);
    cr_assert_eq(fx.c.n_unsub, 1);
    cr_assert_str_eq(fx.c.unsub[0], "$share/g/x/2");
    cr_assert_eq(fx.c.subs_pending, 0);
    for (unsigned i = 0; i < CONFIG_MAX_SUBS; i++)
        cr_assert_eq(fx.c.sub_mid[i], 0, "stale SUBACK id at %u", i);
    cr_assert_eq(log_count("subscription 'b' removed: unsubscribing from "
                           "$share/g/x/2"),
                 1);

    /* Back and forth: each removed filter is queued once. */
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.a, fx.connected), 0);
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.b, fx.connected), 0);
    cr_assert_eq(fx.c.n_unsub, 3);
    cr_assert_str_eq(fx.c.unsub[0], "$share/g/x/2");
    cr_assert_str_eq(fx.c.unsub[1], "x/2");
    cr_assert_str_eq(fx.c.unsub[2], "x/4");
    cr_assert_eq(log_count("added or changed"), 0, "nothing sent offline");
}

Test(mqtt_sub, unsubscribe_queue_is_bounded)
{
    const unsigned cap = SP_ARRAY_SIZE(fx.c.unsub);

    /* Rounds of a full file dropped while offline fill the queue. */
    for (unsigned i = 0; i < cap; i++) {
        char topic[16];

        snprintf(topic, sizeof(topic), "t/%u", i);
        add_sub(&fx.a, "s", topic, 1, "");
        if (fx.a.n_subs < CONFIG_MAX_SUBS && i + 1 < cap)
            continue;
        cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.a, fx.connected),
                     0); /* removes nothing */
        cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.b, fx.connected),
                     0); /* drops all */
        fx.a.n_subs = 0;
    }
    cr_assert_eq(fx.c.n_unsub, cap);
    add_sub(&fx.a, "extra", "u", 1, "");
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.a, fx.connected),
                 0); /* removes nothing */
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.b, fx.connected),
                 0); /* drops "u" */
    cr_assert_eq(fx.c.n_unsub, cap);
    for (unsigned i = 0; i < cap; i++)
        cr_assert_str_neq(fx.c.unsub[i], "u");
    cr_assert_eq(log_count("too many pending unsubscriptions: u stays"), 1);
}

/*
 * Connected (as far as the caller says) but without a socket: every packet
 * fails with "no connection", which mqtt_sub_send() treats as "sent on the
 * next CONNACK", and the log shows what was attempted.
 */
Test(mqtt_sub, update_while_connected_sends_only_changes)
{
    add_sub(&fx.a, "a", "x/1", 1, "");
    add_sub(&fx.a, "b", "x/2", 1, "");
    add_sub(&fx.a, "c", "x/3", 1, "");
    open_unconnected(&fx.a);
    fx.connected = false;
    /* Offline: x/2 and x/3 dropped, queued. */
    fx.b.n_subs = 0;
    add_sub(&fx.b, "a", "x/1", 1, "");
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.b, fx.connected), 0);
    cr_assert_eq(fx.c.n_unsub, 2);

    /* Online: x/2 is back (so not unsubscribed), b changes qos, d is new. */
    fx.connected = true;
    fx.a.n_subs = 0;
    add_sub(&fx.a, "a", "x/1", 1, "");
    add_sub(&fx.a, "b", "x/2", 2, "");
    add_sub(&fx.a, "d", "x/4", 1, "");
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.a, fx.connected), 0);
    cr_assert_eq(fx.c.n_unsub, 0, "queue flushed");
    cr_assert_eq(log_count("cannot unsubscribe from x/3"), 1);
    cr_assert_eq(log_count("cannot unsubscribe from x/2"), 0);
    cr_assert_eq(log_count("added or changed"), 2);
    cr_assert_eq(log_count("subscription 'b' added or changed: subscribing "
                           "to x/2 (qos 2)"),
                 1);
    cr_assert_eq(log_count("subscription 'd' added or changed"), 1);
    cr_assert_eq(fx.c.subs_pending, 0, "nothing left the client");
}

Test(mqtt_sub, resubscribe_sends_every_subscription)
{
    add_sub(&fx.a, "a", "x/1", 1, "");
    add_sub(&fx.a, "b", "x/2", 1, "");
    open_unconnected(&fx.a);
    snprintf(fx.c.unsub[0], sizeof(fx.c.unsub[0]), "x/1");
    snprintf(fx.c.unsub[1], sizeof(fx.c.unsub[1]), "old");
    fx.c.n_unsub = 2;
    fx.c.subs_pending = 4;

    mqtt_sub_resubscribe(&fx.c, false);
    cr_assert_eq(fx.c.subs_pending, 0);
    cr_assert_eq(fx.c.n_unsub, 0);
    cr_assert_eq(log_count("cannot unsubscribe from old"), 1);
    cr_assert_eq(log_count("cannot unsubscribe from x/1"), 0);
    cr_assert_eq(log_count("cannot subscribe"), 0, "no connection is no error");
}

/*
 * libmosquitto checks the arguments before the connection: a qos config.c
 * would never let through stands in for any subscription it refuses.
 */
Test(mqtt_sub, send_reports_a_refused_subscription)
{
    add_sub(&fx.a, "ok", "x/1", 1, "");
    add_sub(&fx.a, "bad", "x/2", 3, "");
    open_unconnected(&fx.a);
    cr_assert_eq(mqtt_sub_send(&fx.c, 0), 0);
    cr_assert_eq(mqtt_sub_send(&fx.c, 1), -EINVAL);
    cr_assert_eq(fx.c.subs_pending, 0);
    cr_assert_eq(log_count("mqtt: cannot subscribe 'bad' to x/2"), 1);
    cr_assert_eq(log_count("mqtt: cannot subscribe 'ok'"), 0);

    /* The first error is returned; the other subscriptions still go. */
    fx.b.n_subs = 0;
    add_sub(&fx.b, "bad", "x/2", 3, "");
    add_sub(&fx.b, "new", "x/3", 1, "");
    fx.connected = true;
    fx.c.cfg = &fx.b;
    fx.a.n_subs = 0;
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.a, fx.connected), 0);
    cr_assert_eq(mqtt_sub_update(&fx.c, fx.c.cfg, &fx.b, fx.connected),
                 -EINVAL);
    cr_assert_eq(log_count("mqtt: cannot subscribe 'bad' to x/2"), 2);
    cr_assert_eq(log_count("subscription 'new' added or changed"), 1);
}
