/*
 * mqtt_io.c - the broker socket on the loop: poll, read passes, pausing.
 *
 * I/O: a uv_poll_t watches mosquitto_socket(). It asks for UV_READABLE
 * unless the client is paused, and for UV_WRITABLE only while
 * mosquitto_want_write() says packets wait; the owner calls
 * mqtt_io_sync() after every libmosquitto call (read, write, misc,
 * subscribe, connect, disconnect), because any of them may queue or flush
 * packets.
 *
 * Reading: libmosquitto 2.0 reads at most one packet per
 * mosquitto_loop_read() call for QoS 0 (three read() syscalls per PUBLISH),
 * whatever max_packets says. A read pass therefore calls it again while the
 * last call completed a packet (errno is not EAGAIN) and the client is not
 * paused, up to READ_BUDGET calls so the loop stays responsive; epoll is
 * level-triggered and wakes us for the rest. With TLS, OpenSSL may hold
 * decrypted bytes that poll cannot see. libmosquitto 2.0.11 itself keeps
 * reading inside one call while OpenSSL has bytes pending (so on_msg can
 * run a few times after a pause requested from on_msg), but it stops early
 * when errno happens to read EAGAIN; so when the budget runs out, and on
 * resume, an idle handle runs another pass on the next loop turn instead
 * of trusting poll.
 *
 * Paused: only writes flow. Poll asks for UV_DISCONNECT (EPOLLRDHUP), so a
 * broker that closes or resets the connection is warned about at once,
 * with the time paused; the connection ends once reading resumes.
 *
 * Socket lifetime: libmosquitto closes the socket itself, inside
 * loop_read/loop_write/loop_misc (a failed TLS handshake without
 * on_disconnect): mqtt_io_sync() notices and calls hooks.gone. libuv
 * requires the poll handle to stop watching an fd before the number is
 * reused, so mqtt_io_unwatch() stops it and uv_close()s it at once; the
 * owner starts no new connection until hooks.closed has run.
 *
 * Threads: the loop thread (the only one calling libmosquitto).
 *
 * Invariants:
 *   - state == MQTT_POLL_ACTIVE implies poll watches fd, the socket
 *     libmosquitto holds or just closed (mqtt_io_sync() tells them apart).
 *   - The idle handle is active only while a socket is watched and
 *     reading is not paused.
 *
 * Memory: the struct is the caller's; nothing is allocated here.
 */
#include "mqtt_io.h"

#include <assert.h>
#include <errno.h>

#include "clock.h"
#include "log.h"

#define READ_BUDGET 256 /* mosquitto_loop_read() calls per pass */

static void on_poll(uv_poll_t *h, int status, int events);
static void on_drain(uv_idle_t *h);

void mqtt_io_init(struct mqtt_io *io, uv_loop_t *loop, struct mosquitto *mosq,
                  const struct mqtt_io_hooks *hooks)
{
    io->mosq = mosq;
    io->hooks = *hooks;
    io->loop = loop;
    io->state = MQTT_POLL_NONE;
    io->fd = -1;
    io->events = 0;
    io->paused = false;
    io->peer_closed = false;
    io->paused_at_ms = 0;
    uv_idle_init(loop, &io->drain);
    io->drain.data = io;
    io->poll.data = io;
}

static void on_closed(uv_handle_t *h)
{
    struct mqtt_io *io = h->data;

    io->hooks.closed(io->hooks.ctx);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct mqtt_io *io = h->data;

    io->state = MQTT_POLL_NONE;
    on_closed(h);
}

int mqtt_io_watch(struct mqtt_io *io)
{
    int fd = mosquitto_socket(io->mosq);
    int rc;

    assert(io->state == MQTT_POLL_NONE);
    if (fd < 0)
        return -EBADF;
    rc = uv_poll_init_socket(io->loop, &io->poll, fd);
    if (rc < 0)
        return rc;
    io->poll.data = io;
    io->state = MQTT_POLL_ACTIVE;
    io->fd = fd;
    io->events = 0;
    io->peer_closed = false;
    mqtt_io_sync(io, MOSQ_ERR_SUCCESS);
    return 0;
}

bool mqtt_io_unwatch(struct mqtt_io *io)
{
    if (io->state != MQTT_POLL_ACTIVE)
        return false;
    uv_poll_stop(&io->poll);
    io->state = MQTT_POLL_CLOSING;
    io->fd = -1;
    io->events = 0;
    uv_close((uv_handle_t *) &io->poll, on_poll_closed);
    uv_idle_stop(&io->drain);
    return true;
}

bool mqtt_io_socket_ok(const struct mqtt_io *io)
{
    return io->state == MQTT_POLL_ACTIVE &&
           mosquitto_socket(io->mosq) == io->fd;
}

bool mqtt_io_is_closing(const struct mqtt_io *io)
{
    return io->state == MQTT_POLL_CLOSING;
}

void mqtt_io_sync(struct mqtt_io *io, int rc)
{
    int events = 0;
    int err;

    if (io->state != MQTT_POLL_ACTIVE)
        return;
    if (mosquitto_socket(io->mosq) != io->fd) {
        io->hooks.gone(io->hooks.ctx, rc != 0 ? rc : MOSQ_ERR_CONN_LOST, errno);
        return;
    }
    if (!io->paused)
        events |= UV_READABLE;
    else if (!io->peer_closed)
        events |= UV_DISCONNECT; /* see peer_closed_while_paused() */
    if (mosquitto_want_write(io->mosq) && !(io->paused && io->peer_closed))
        events |= UV_WRITABLE;
    if (events == io->events)
        return;
    err = events != 0 ? uv_poll_start(&io->poll, events, on_poll)
                      : uv_poll_stop(&io->poll);
    if (err < 0) {
        log_err("mqtt: cannot poll the broker socket: %s", uv_strerror(err));
        io->hooks.gone(io->hooks.ctx, MOSQ_ERR_ERRNO, -err);
        return;
    }
    io->events = events;
}

/* ---- reading ------------------------------------------------------------ */

static void schedule_drain(struct mqtt_io *io)
{
    if (!uv_is_active((uv_handle_t *) &io->drain))
        uv_idle_start(&io->drain, on_drain);
}

/* See the file header, "Reading". */
static void read_pass(struct mqtt_io *io)
{
    unsigned n;
    int rc = MOSQ_ERR_SUCCESS;

    for (n = 0; n < READ_BUDGET; n++) {
        if (io->paused || !mqtt_io_socket_ok(io))
            break;
        errno = 0;
        rc = mosquitto_loop_read(io->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || errno == EAGAIN || errno == EWOULDBLOCK)
            break;
    }
    if (n == READ_BUDGET && !io->paused)
        schedule_drain(io);
    mqtt_io_sync(io, rc);
}

static void on_drain(uv_idle_t *h)
{
    struct mqtt_io *io = h->data;

    uv_idle_stop(h);
    if (mqtt_io_socket_ok(io) && !io->paused)
        read_pass(io);
}

void mqtt_io_warn_paused_loss(const struct mqtt_io *io, const char *what)
{
    log_warn("mqtt: %s while reading was paused for %llu s: QoS 0 messages "
             "the broker held for this client are gone",
             what,
             (unsigned long long) (clock_mono_ms() - io->paused_at_ms) / 1000);
}

/* The broker closed or reset the connection while reading is paused:
 * what it sent before stays readable, the rest is lost (warned once).
 * The connection ends, and a new one starts, once reading resumes. */
static void peer_closed_while_paused(struct mqtt_io *io, const char *what)
{
    if (io->peer_closed)
        return;
    io->peer_closed = true;
    mqtt_io_warn_paused_loss(io, what);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct mqtt_io *io = h->data;
    int rc = MOSQ_ERR_SUCCESS;

    if (status < 0 && io->paused) {
        /* libuv stopped the handle (POLLERR). Reading now would hand
         * messages to a full pipeline: the error waits for the resume. */
        io->events = 0;
        peer_closed_while_paused(io, "the connection was reset");
        return;
    }
    if (status < 0) {
        /* libuv stopped the handle (POLLERR): a read or write returns the
         * socket error to libmosquitto, which then closes the connection. */
        io->events = 0;
        errno = 0;
        if (mqtt_io_socket_ok(io))
            rc = mosquitto_want_write(io->mosq)
                     ? mosquitto_loop_write(io->mosq, 1)
                     : mosquitto_loop_read(io->mosq, 1);
        mqtt_io_sync(io, rc);
        return;
    }
    if ((events & UV_DISCONNECT) != 0 && io->paused)
        peer_closed_while_paused(io, "the broker closed the connection");
    if ((events & UV_WRITABLE) != 0 && mqtt_io_socket_ok(io)) {
        errno = 0;
        rc = mosquitto_loop_write(io->mosq, 1);
    }
    if ((events & UV_READABLE) != 0 && mqtt_io_socket_ok(io))
        read_pass(io);
    else
        mqtt_io_sync(io, rc);
}

/* ---- pausing ------------------------------------------------------------ */

void mqtt_io_pause(struct mqtt_io *io)
{
    if (io->paused)
        return;
    io->paused = true;
    io->paused_at_ms = clock_mono_ms();
    uv_idle_stop(&io->drain);
    mqtt_io_sync(io, MOSQ_ERR_SUCCESS);
}

void mqtt_io_resume(struct mqtt_io *io)
{
    if (!io->paused)
        return;
    io->paused = false;
    mqtt_io_sync(io, MOSQ_ERR_SUCCESS);
    if (mqtt_io_socket_ok(io))
        schedule_drain(io);
}

bool mqtt_io_is_paused(const struct mqtt_io *io)
{
    return io->paused;
}

bool mqtt_io_peer_closed(const struct mqtt_io *io)
{
    return io->peer_closed;
}

void mqtt_io_cancel_drain(struct mqtt_io *io)
{
    uv_idle_stop(&io->drain);
}

void mqtt_io_close(struct mqtt_io *io)
{
    uv_close((uv_handle_t *) &io->drain, on_closed);
}
