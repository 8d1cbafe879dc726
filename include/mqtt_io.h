/*
 * mqtt_io.h - the broker socket on the loop (mqtt_io.c): a uv_poll_t that
 * watches the socket libmosquitto holds, asks for what it needs after each
 * libmosquitto call, and runs the read passes (with an idle handle for
 * what poll cannot see); pausing and resuming reading.
 */
#ifndef SP_MQTT_IO_H
#define SP_MQTT_IO_H

#include <stdbool.h>
#include <stdint.h>

#include <mosquitto.h>
#include <uv.h>

#include "compiler.h"

enum mqtt_poll_state {
    MQTT_POLL_NONE = 0, /* the poll handle's memory is free */
    MQTT_POLL_ACTIVE,   /* initialised on fd */
    MQTT_POLL_CLOSING,  /* uv_close() called, callback pending */
};

/* What the socket tells its owner. Thread: loop. */
struct mqtt_io_hooks {
    /* The socket is gone (closed by libmosquitto behind our back, or poll
     * failed): rc is libmosquitto's result, err the errno that goes with
     * it. The owner calls mqtt_io_unwatch(). */
    void (*gone)(void *ctx, int rc, int err);
    /* A handle's close callback ran: the poll handle after
     * mqtt_io_unwatch() (its memory is free again), or the idle handle
     * after mqtt_io_close(). */
    void (*closed)(void *ctx);
    void *ctx;
};

/*
 * Owner: the loop thread (inside struct mqtt_client). The uv handles live
 * here: the struct must stay put until the close callbacks have run.
 */
struct mqtt_io {
    struct mosquitto *mosq; /* borrowed: the client's handle */
    struct mqtt_io_hooks hooks;
    uv_loop_t *loop;
    uv_poll_t poll;             /* the broker socket, see state */
    uv_idle_t drain;            /* one more read pass without poll */
    uint64_t paused_at_ms;      /* when the current pause began */
    enum mqtt_poll_state state; /* the poll handle's */
    int fd;                     /* the socket poll watches; -1 when none */
    int events;                 /* UV_READABLE | ... now requested */
    bool paused;                /* mqtt_io_pause() until mqtt_io_resume() */
    bool peer_closed;           /* the broker closed its side while paused */
};

/* Thread: loop. Initialises the idle handle; mqtt_io_close() is required
 * before the loop closes. */
void mqtt_io_init(struct mqtt_io *io, uv_loop_t *loop, struct mosquitto *mosq,
                  const struct mqtt_io_hooks *hooks);

/* Thread: loop. Starts watching the socket libmosquitto just opened
 * (state must be MQTT_POLL_NONE). Returns: 0; -EBADF when libmosquitto
 * holds no socket; a uv_poll_init_socket() error. */
SP_MUST_CHECK int mqtt_io_watch(struct mqtt_io *io);

/* Thread: loop. Stops watching at once (the fd is closed or about to be)
 * and closes the poll handle; hooks.closed follows. Returns true when it
 * did (the poll handle was active), false when nothing was watched. */
bool mqtt_io_unwatch(struct mqtt_io *io);

/* Thread: loop. After every libmosquitto call (rc its result): notices a
 * socket closed behind our back (hooks.gone), then asks poll for what
 * libmosquitto needs now. */
void mqtt_io_sync(struct mqtt_io *io, int rc);

/* Thread: loop. True while the watched socket is the one libmosquitto
 * holds. */
bool mqtt_io_socket_ok(const struct mqtt_io *io);

/* Thread: loop. True while the poll handle's close callback is pending
 * (no new socket may exist before it runs). */
bool mqtt_io_is_closing(const struct mqtt_io *io);

/* Thread: loop. Stop and resume reading; see mqtt_pause() in mqtt.h. */
void mqtt_io_pause(struct mqtt_io *io);
void mqtt_io_resume(struct mqtt_io *io);
bool mqtt_io_is_paused(const struct mqtt_io *io);

/* Thread: loop. The broker closed or reset the connection while reading
 * was paused (warned once). */
bool mqtt_io_peer_closed(const struct mqtt_io *io);

/* Thread: loop. Warns that the QoS 0 messages the broker held for the
 * paused connection are gone: what happened, and for how long. */
void mqtt_io_warn_paused_loss(const struct mqtt_io *io, const char *what);

/* Thread: loop. Cancels a pending read pass (at stop). */
void mqtt_io_cancel_drain(struct mqtt_io *io);

/* Thread: loop. Closes the idle handle (at stop, after mqtt_io_unwatch());
 * hooks.closed follows. */
void mqtt_io_close(struct mqtt_io *io);

#endif
