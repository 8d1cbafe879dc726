/*
 * mqtt_close.h - the orderly close of a broker connection at stop, on a
 * duplicate of its socket (see mqtt_close.c for why).
 *
 *   mqtt_close_open()   duplicate the socket, before libmosquitto closes it
 *   (the client stops polling its own descriptor and sends DISCONNECT)
 *   mqtt_close_run()    write what libmosquitto queued, half-close, discard
 *   ... done() when the broker closed its side or an error ended it
 *   mqtt_close_end()    close the duplicate; released() once libuv let go
 */
#ifndef SP_MQTT_CLOSE_H
#define SP_MQTT_CLOSE_H

#include <stdbool.h>
#include <stdint.h>

#include <mosquitto.h>
#include <uv.h>

#include "compiler.h"

/* What the close tells its user. Owner: the caller (copied). */
struct mqtt_close_hooks {
    void (*done)(void *ctx);     /* the close ended: call mqtt_close_end() */
    void (*released)(void *ctx); /* libuv closed the poll handle */
    void *ctx;
};

/* Owner: the loop thread (inside struct mqtt_client). */
struct mqtt_close {
    struct mosquitto *mosq; /* still writes its queue through its socket */
    uv_poll_t poll;         /* watches fd */
    int fd;                 /* our duplicate of the socket; -1: none */
    bool half_closed;       /* fd shut for writing */
    uint64_t discarded;     /* bytes read and dropped after DISCONNECT */
    struct mqtt_close_hooks hooks;
};

/* Thread: loop. Nothing open (fd -1). */
void mqtt_close_init(struct mqtt_close *cl);

/*
 * Duplicates mosq's socket and prepares a poll handle on loop for it.
 * Returns: 0; -errno when it cannot (nothing is left open then).
 * Thread: loop.
 */
SP_MUST_CHECK int mqtt_close_open(struct mqtt_close *cl, uv_loop_t *loop,
                                  struct mosquitto *mosq,
                                  const struct mqtt_close_hooks *hooks);

/* Thread: loop. Starts (after DISCONNECT was queued): done() follows. */
void mqtt_close_run(struct mqtt_close *cl);

/* Thread: loop. True between mqtt_close_open() and mqtt_close_end(). */
bool mqtt_close_is_open(const struct mqtt_close *cl);

/*
 * Thread: loop. Closes the duplicate and its poll handle (released()
 * follows). Returns: true when something was open.
 */
bool mqtt_close_end(struct mqtt_close *cl);

#endif
