/*
 * test_mqtt_io.c - the broker socket on the loop: watching the socket
 * libmosquitto holds, the read pass that delivers a CONNACK, a socket the
 * broker drops reported once, pausing, and the close callbacks.
 */
#include <errno.h>

#include <criterion/criterion.h>
#include <mosquitto.h>
#include <uv.h>

#include "broker.h"
#include "mqtt_io.h"
#include "wait.h"

/* What the hooks saw. */
struct seen {
    int gone;
    int gone_rc;
    int closed;
    int connacks;
    struct mqtt_io *io;
};

static void on_gone(void *ctx, int rc, int err)
{
    struct seen *s = ctx;

    (void) err;
    s->gone++;
    s->gone_rc = rc;
    (void) mqtt_io_unwatch(s->io); /* as the owner does */
}

static void on_closed(void *ctx)
{
    ((struct seen *) ctx)->closed++;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void) m;
    if (rc == 0)
        ((struct seen *) obj)->connacks++;
}

static bool connacked(void *arg)
{
    return ((struct seen *) arg)->connacks > 0;
}

static bool is_gone(void *arg)
{
    return ((struct seen *) arg)->gone > 0;
}

static bool closed_twice(void *arg)
{
    return ((struct seen *) arg)->closed == 2;
}

static void init(struct mqtt_io *io, uv_loop_t *loop, struct mosquitto *m,
                 struct seen *s)
{
    const struct mqtt_io_hooks hooks = {on_gone, on_closed, s};

    s->io = io;
    mqtt_io_init(io, loop, m, &hooks);
}

Test(mqtt_io, nothing_to_watch_without_a_socket)
{
    struct seen s = {0};
    struct mqtt_io io;
    uv_loop_t loop;
    struct mosquitto *m;

    cr_assert_eq(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    m = mosquitto_new("io-none", true, &s);
    cr_assert_not_null(m);
    cr_assert_eq(uv_loop_init(&loop), 0);
    init(&io, &loop, m, &s);
    cr_expect_eq(mqtt_io_watch(&io), -EBADF);
    cr_expect_not(mqtt_io_socket_ok(&io));
    cr_expect_not(mqtt_io_unwatch(&io), "nothing was watched");
    cr_expect_not(mqtt_io_is_closing(&io));
    mqtt_io_sync(&io, MOSQ_ERR_SUCCESS);
    cr_expect_eq(s.gone, 0, "no socket is not a lost socket");

    cr_expect_not(mqtt_io_is_paused(&io));
    mqtt_io_pause(&io);
    mqtt_io_pause(&io);
    cr_expect(mqtt_io_is_paused(&io));
    mqtt_io_resume(&io);
    cr_expect_not(mqtt_io_is_paused(&io));
    cr_expect_not(mqtt_io_peer_closed(&io));

    mqtt_io_close(&io);
    cr_expect_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_expect_eq(s.closed, 1, "the idle handle's close is reported");
    cr_expect_eq(uv_loop_close(&loop), 0, "no handle left");
    mosquitto_destroy(m);
}

Test(mqtt_io, reads_until_the_broker_drops_the_socket, .timeout = 60)
{
    struct seen s = {0};
    struct broker b;
    struct mqtt_io io;
    uv_loop_t loop;
    struct mosquitto *m;

    cr_assert_eq(broker_start(&b, NULL), 0);
    cr_assert_eq(mosquitto_lib_init(), MOSQ_ERR_SUCCESS);
    m = mosquitto_new("io-drop", true, &s);
    cr_assert_not_null(m);
    mosquitto_connect_callback_set(m, on_connect);
    cr_assert_eq(uv_loop_init(&loop), 0);
    init(&io, &loop, m, &s);
    cr_assert_eq(mosquitto_connect_bind_async(m, "127.0.0.1", b.port, 60, NULL),
                 MOSQ_ERR_SUCCESS);
    cr_assert_eq(mqtt_io_watch(&io), 0);
    cr_expect(mqtt_io_socket_ok(&io));
    cr_assert_eq(run_loop_until(&loop, connacked, &s, 10000), 0,
                 "CONNECT written and CONNACK read through poll");
    cr_expect_eq(s.gone, 0);

    mqtt_io_pause(&io);
    mqtt_io_resume(&io); /* a read pass on the next turn: nothing to read */
    cr_expect_eq(broker_kill(&b), 0);
    cr_assert_eq(run_loop_until(&loop, is_gone, &s, 10000), 0,
                 "the dropped socket is noticed");
    cr_expect_eq(s.gone, 1, "reported once");
    cr_expect_neq(s.gone_rc, MOSQ_ERR_SUCCESS);
    cr_expect_not(mqtt_io_socket_ok(&io));

    mqtt_io_close(&io);
    cr_assert_eq(run_loop_until(&loop, closed_twice, &s, 5000), 0,
                 "the poll and the idle handle closed");
    cr_expect_not(mqtt_io_is_closing(&io));
    cr_expect_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
    cr_expect_eq(uv_loop_close(&loop), 0);
    mosquitto_destroy(m);
    (void) broker_stop(&b);
}
