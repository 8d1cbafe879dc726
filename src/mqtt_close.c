/*
 * mqtt_close.c - the orderly close of a broker connection at stop.
 *
 * Closing a TCP socket that still holds unread bytes makes the kernel send
 * a reset, which discards our last PUBACKs and DISCONNECT on their way,
 * and a broker that sees the reset first delivers those messages again to
 * the next session: stored twice. libmosquitto closes its socket as soon
 * as DISCONNECT is written. So the close keeps its own duplicate of the
 * descriptor and polls that one (the client stops polling the original
 * while it is still open, so its epoll registration can go): it lets
 * libmosquitto write what it queued (PUBACKs, then DISCONNECT, in order),
 * shuts the duplicate for writing once libmosquitto has closed its
 * descriptor, and reads and discards what the broker still sends (no
 * PUBACK goes out for it, so the broker keeps those messages) until the
 * broker closes its side. The client bounds the whole close with a timer
 * (MQTT_CLOSE_WAIT_MS) and calls mqtt_close_end() then too. Closing the
 * duplicate ends a connection with nothing unread.
 *
 * Threads: the loop thread. Memory: a DISCARD_BUF stack buffer per read.
 */
#include "mqtt_close.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define DISCARD_BUF 4096 /* bytes read per call after DISCONNECT */

void mqtt_close_init(struct mqtt_close *cl)
{
    cl->fd = -1;
    cl->half_closed = false;
    cl->discarded = 0;
}

bool mqtt_close_is_open(const struct mqtt_close *cl)
{
    return cl->fd >= 0;
}

int mqtt_close_open(struct mqtt_close *cl, uv_loop_t *loop,
                    struct mosquitto *mosq,
                    const struct mqtt_close_hooks *hooks)
{
    int fd = fcntl(mosquitto_socket(mosq), F_DUPFD_CLOEXEC, 0);
    int err;

    if (fd < 0)
        return -errno;
    err = uv_poll_init_socket(loop, &cl->poll, fd);
    if (err < 0) {
        (void) close(fd);
        return err;
    }
    cl->poll.data = cl;
    cl->mosq = mosq;
    cl->fd = fd;
    cl->half_closed = false;
    cl->hooks = *hooks;
    return 0;
}

static void on_poll_closed(uv_handle_t *h)
{
    struct mqtt_close *cl = h->data;

    cl->hooks.released(cl->hooks.ctx);
}

bool mqtt_close_end(struct mqtt_close *cl)
{
    if (cl->fd < 0)
        return false;
    uv_poll_stop(&cl->poll); /* before the fd closes */
    uv_close((uv_handle_t *) &cl->poll, on_poll_closed);
    (void) close(cl->fd);
    cl->fd = -1;
    log_debug("mqtt: connection closed, %llu bytes discarded after "
              "DISCONNECT",
              (unsigned long long) cl->discarded);
    return true;
}

/* Reads and drops what arrives after DISCONNECT. True at the end. */
static bool discard_input(struct mqtt_close *cl)
{
    char buf[DISCARD_BUF];
    ssize_t n;

    for (;;) {
        n = read(cl->fd, buf, sizeof(buf));
        if (n > 0) {
            cl->discarded += (uint64_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* EOF: the broker closed; an error: nothing more will come. */
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
}

static void on_poll(uv_poll_t *h, int status, int events);

/* The next step: write, then half-close and discard. */
static void step(struct mqtt_close *cl)
{
    int events = UV_READABLE;

    if (mosquitto_socket(cl->mosq) >= 0 && mosquitto_want_write(cl->mosq)) {
        events = UV_WRITABLE; /* PUBACKs and DISCONNECT still queued */
    } else if (!cl->half_closed) {
        cl->half_closed = true;
        if (shutdown(cl->fd, SHUT_WR) < 0) {
            cl->hooks.done(cl->hooks.ctx);
            return;
        }
    }
    if (uv_poll_start(&cl->poll, events, on_poll) < 0)
        cl->hooks.done(cl->hooks.ctx);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct mqtt_close *cl = h->data;

    if (cl->fd < 0)
        return;
    if (status < 0) {
        cl->hooks.done(cl->hooks.ctx);
        return;
    }
    if ((events & UV_WRITABLE) != 0 && mosquitto_socket(cl->mosq) >= 0) {
        errno = 0;
        (void) mosquitto_loop_write(cl->mosq, 1);
    }
    if ((events & UV_READABLE) != 0 && cl->half_closed && discard_input(cl)) {
        cl->hooks.done(cl->hooks.ctx);
        return;
    }
    step(cl);
}

void mqtt_close_run(struct mqtt_close *cl)
{
    step(cl);
}
