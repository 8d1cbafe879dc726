/*
 * mqtt.h - the broker connection: libmosquitto driven by the libuv loop.
 *
 * One client per daemon. libmosquitto runs in its non-threaded mode: a
 * uv_poll_t on its socket calls mosquitto_loop_read()/_write() and a 1 s
 * timer calls mosquitto_loop_misc(); mosquitto_loop_start() is never used.
 * The client resolves the broker with uv_getaddrinfo(), connects without
 * blocking, subscribes every [subscription] on each CONNACK, reconnects with
 * jittered exponential backoff, and hands each message to on_msg together
 * with the index of the subscription it matched.
 *
 * Life cycle, all on the loop thread:
 *
 *     mqtt_init() -> mqtt_start() -> ... -> mqtt_stop(done)
 *                                        -> done() -> mqtt_fini()
 *
 * mqtt_stop() is required after every successful mqtt_init(), started or
 * not: mqtt_init() already owns uv handles that only mqtt_stop() closes.
 */
#ifndef SP_MQTT_H
#define SP_MQTT_H

#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>
#include <uv.h>

#include "backoff.h"
#include "compiler.h"
#include "config.h"
#include "log.h"
#include "mqtt_addr.h"
#include "mqtt_close.h"
#include "mqtt_io.h"
#include "mqtt_keepalive.h"
#include "mqtt_sub.h"

struct subrec;

/* How long a stop waits for the broker to close the connection after
 * DISCONNECT before it closes the socket itself. */
#define MQTT_CLOSE_WAIT_MS 2000

/* A message, as on_msg sees it. Owner: libmosquitto; borrowed for the
 * duration of the callback only (copy what must outlive it). */
struct mqtt_msg {
    const char *topic; /* NUL-terminated as well */
    size_t topic_len;
    const void *payload; /* NULL when payload_len is 0 */
    size_t payload_len;
    int qos;
    bool retain;
    unsigned sub_index;  /* into cfg->subs; MQTT_NO_SUB when none matched */
    bool stale_retained; /* retained, and its subscription had it before:
                            skip it (MQTT 3.1.1, see mqtt_sub.c) */
};

/*
 * Overlapping filters: mosquitto 2.0 sends an MQTT 5 client one copy of a
 * message per matching subscription, each carrying that subscription's
 * identifier, so each copy arrives with its own sub_index; an MQTT 3.1.1
 * client gets one copy, routed to the first matching subscription.
 */

/* Thread: loop. Runs inside mosquitto_loop_read(); may call mqtt_pause(). */
typedef void (*mqtt_message_fn)(void *ctx, const struct mqtt_msg *m);

/* Thread: loop. Runs when the session comes up (CONNACK accepted) and when
 * it goes down (connection lost, or closed by mqtt_stop()). */
typedef void (*mqtt_state_fn)(void *ctx, bool connected);

enum mqtt_phase {
    MQTT_IDLE = 0,   /* initialised, not started */
    MQTT_WAITING,    /* retry timer armed before the next attempt */
    MQTT_RESOLVING,  /* uv_getaddrinfo() in flight */
    MQTT_CONNECTING, /* socket open, no CONNACK yet */
    MQTT_CONNECTED,  /* CONNACK accepted */
    MQTT_STOPPING,   /* mqtt_stop() called, handles closing */
    MQTT_STOPPED,    /* done() has run */
};

/*
 * Owner: the loop thread, which calls every function below but
 * mqtt_is_connected() and mqtt_sub_route(). The uv handles live here: the
 * struct must stay put from mqtt_init() until done() has run.
 */
struct mqtt_client {
    struct mosquitto *mosq;
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed; replaced by an update */
    mqtt_message_fn on_msg;
    mqtt_state_fn on_state; /* may be NULL */
    void *ctx;              /* passed to both callbacks */
    void (*done)(struct mqtt_client *c);

    uv_timer_t misc_timer; /* every 1 s: mosquitto_loop_misc() */
    uv_timer_t retry;      /* next attempt; during stop, flush deadline */
    struct mqtt_io io;     /* the socket, reading, pausing: mqtt_io.c's */

    enum mqtt_phase phase;
    bool attempt_deferred;  /* retry fired while the poll handle closed */
    bool next_addr;         /* retry the next resolved address, no backoff */
    bool refused;           /* the last CONNACK refused the session */
    bool handles_closed;    /* stop: uv_close() called on every handle */
    unsigned closing;       /* close callbacks still to come */
    struct backoff backoff; /* failed rounds since the last CONNACK */

    /* Keepalive (see mqtt.c, "Keepalive"), loop thread only. */
    struct mqtt_keepalive ka; /* heartbeats once connected */

    struct mqtt_addr addr; /* the broker's numeric addresses */

    char lib_err[160];     /* libmosquitto's last error line while connecting */
    struct mqtt_subs subs; /* the subscriptions' state: mqtt_sub.c's */
    struct mqtt_close close; /* stop: the orderly close, mqtt_close.c's */

    struct ratelimit rl_fail;    /* failed attempts while disconnected */
    struct ratelimit rl_refused; /* repeated CONNACK refusals */

    /* Counters for tests and stats, loop thread only. */
    uint64_t attempts;   /* connection attempts made (connect calls) */
    uint64_t messages;   /* messages handed to on_msg */
    uint64_t unsubacks;  /* UNSUBACKs received (heartbeat answers too) */
    uint64_t heartbeats; /* heartbeats sent */

    /* Shared (atomic, relaxed: a lone flag, no data hangs on it). */
    _Atomic bool connected; /* CONNACK accepted, connection not yet lost */
};

/*
 * Sets up the client: libmosquitto (mosquitto_lib_init() once per process,
 * never cleaned up: process exit does), the protocol version, client id,
 * keepalive, clean session, TCP_NODELAY, TLS files and credentials (see
 * mqtt_setup_open()). The password file is read here, once: a regular
 * file of the daemon's user (or root) without group or other permissions,
 * and one trailing newline ("\n" or "\r\n") is stripped. No network
 * traffic yet. Every failure is logged with its reason (never the
 * password). Borrows cfg until mqtt_fini() (or the next
 * mqtt_update_subscriptions()).
 * Returns: 0;
 *   -EPERM  the password file is open to group or others, or belongs to
 *           another user; -ELOOP  it is a symbolic link;
 *   -ENOENT, -EACCES, ... the password file cannot be read;
 *   -EINVAL a setting libmosquitto refuses (no client id with a persistent
 *           session, a password without username under MQTT 3.1.1, TLS
 *           files), or a password file that is not a regular file or holds
 *           1 KiB or more;
 *   -ENOMEM out of memory.
 * On failure nothing is left to clean up.
 * Thread: loop.
 */
SP_MUST_CHECK int mqtt_init(struct mqtt_client *c, uv_loop_t *loop,
                            const struct config *cfg, mqtt_message_fn on_msg,
                            mqtt_state_fn on_state, void *ctx);

/*
 * Starts resolving and connecting on the next loop turn; never blocks.
 * Thread: loop.
 */
void mqtt_start(struct mqtt_client *c);

/*
 * Stops reading the socket; writes (acknowledgements, heartbeats) still
 * flow. The broker keeps what it cannot send (QoS 1 and 2, and QoS 0 up to
 * its queue limits). A pause of any length keeps the connection: the
 * heartbeats keep satisfying the broker's keepalive, and the time paused
 * does not count toward the daemon's own (see mqtt.c, "Keepalive"). A
 * connection lost anyway while paused is logged at warning with the time
 * paused, since the broker then drops the QoS 0 messages it held.
 * Called from on_msg, it takes effect after that message; with QoS 2 or
 * TLS one mosquitto_loop_read() call may still deliver the rest of what
 * libmosquitto already holds (at most one TLS record, 16 KiB).
 * Thread: loop.
 */
void mqtt_pause(struct mqtt_client *c);

/*
 * Reads again. The first read pass runs from an idle callback on the next
 * loop turn (so that bytes OpenSSL already decrypted are not left waiting
 * for the socket); calling it from on_msg is safe.
 * Thread: loop.
 */
void mqtt_resume(struct mqtt_client *c);

/* Thread: loop. */
bool mqtt_is_paused(const struct mqtt_client *c);

/* Thread: any. True between an accepted CONNACK and the connection's end. */
bool mqtt_is_connected(const struct mqtt_client *c);

/*
 * True while connected and every SUBSCRIBE sent since the CONNACK (or the
 * last mqtt_update_subscriptions()) has its SUBACK, granted or refused
 * (refusals are logged): from then on the broker routes to us everything
 * the subscriptions match. Thread: loop.
 */
bool mqtt_is_subscribed(const struct mqtt_client *c);

/*
 * Keeps rec (borrowed until mqtt_fini(); NULL for none) informed of every
 * SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK, and reconciles the broker's
 * session with it at each CONNACK (subrec.h). Thread: loop, before
 * mqtt_start().
 */
void mqtt_set_record(struct mqtt_client *c, struct subrec *rec);

/*
 * SIGHUP: switches from old's subscriptions (the ones the client runs
 * now) to newcfg's. Filters no longer wanted are unsubscribed, new or
 * changed ones (topic, share group, qos or position) subscribed, the rest
 * kept. When disconnected, the changes are sent on the next CONNACK.
 * Messages are routed with newcfg from now on; the caller keeps newcfg
 * alive (and old until this returns). Only the subscriptions are taken
 * from newcfg: other [mqtt] keys need a restart.
 * Returns: 0; -EINVAL when libmosquitto refuses a filter (logged);
 *   -ENOMEM.
 * Thread: loop.
 */
SP_MUST_CHECK int mqtt_update_subscriptions(struct mqtt_client *c,
                                            const struct config *old,
                                            const struct config *newcfg);

/*
 * Stops: cancels the resolution and the retry and stops reading at once
 * (on_msg is not called again). When a connection is open it then closes
 * it in order: the acknowledgements already queued and DISCONNECT are
 * written, the socket is shut for writing, and what the broker still
 * sends is read and discarded, never acknowledged, until the broker
 * closes (the broker keeps those QoS 1 and 2 messages for the next
 * session), for at most MQTT_CLOSE_WAIT_MS. Then every uv handle is
 * closed. done(c) runs once all close callbacks have run; only then may
 * mqtt_fini() run and the loop be closed. Thread: loop.
 */
void mqtt_stop(struct mqtt_client *c, void (*done)(struct mqtt_client *c));

/* Frees libmosquitto's state (and a socket it still holds). After done().
 * Thread: loop. */
void mqtt_fini(struct mqtt_client *c);

#endif
