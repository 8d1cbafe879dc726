/*
 * mqtt.c - libmosquitto in non-threaded mode, driven by the libuv loop.
 *
 * I/O: mqtt_io.c watches the socket libmosquitto holds, runs the read
 * passes and pauses reading; this file calls mqtt_io_sync() after every
 * libmosquitto call (read, write, misc, subscribe, connect, disconnect),
 * because any of them may queue or flush packets. A 1 s timer runs the
 * keepalive.
 *
 * Keepalive: mosquitto_loop_misc() runs only until CONNACK (it is also the
 * CONNACK timeout); once connected the daemon keeps the keepalive itself,
 * paused or not (mqtt_keepalive.c says why and how): heartbeats are
 * UNSUBSCRIBEs of MQTT_HEARTBEAT_FILTER, which no subscription uses.
 *
 * Connecting never blocks the loop: mqtt_addr.c resolves the name with
 * uv_getaddrinfo() and mosquitto_connect_bind_async() gets a NUMERIC
 * address, so its internal getaddrinfo() returns at once; the connect
 * completes when the socket becomes writable. A refused address makes the
 * next attempt use the next one. With TLS libmosquitto checks the
 * certificate against the string passed to connect, so it gets the NAME
 * and resolves it again itself (normally from the cache by then).
 *
 * Set-up: mqtt_setup_open() builds the handle (options, credentials, TLS,
 * and the MQTT 5 Session Expiry Interval that every CONNECT carries; see
 * mqtt_setup.c), so mqtt_init() only adds callbacks and uv handles.
 *
 * Subscriptions: mqtt_sub.c builds the filters, sends SUBSCRIBE (with MQTT 5
 * subscription identifiers) and UNSUBSCRIBE, checks each SUBACK, diffs the
 * subscriptions on a reload and routes each message to a subscription;
 * this file calls it on CONNACK, SUBACK, reload and each message.
 *
 * Reconnecting: a lost connection logs one warning; failed attempts while
 * disconnected are rate-limited. Attempts back off exponentially from
 * reconnect_min_ms to reconnect_max_ms with jitter (a random delay in
 * [d/2, d]); a refused CONNACK (bad credentials, not authorised) retries
 * after reconnect_max_ms. On each accepted CONNACK every subscription is
 * sent again, session present or not: it is cheap and applies any change;
 * with the session present, filters an earlier run subscribed that the
 * file no longer has are unsubscribed first (mqtt_sub.c, subrec.h).
 *
 * Stopping: a stop stops reading, sends DISCONNECT after the queued
 * PUBACKs and closes without a TCP reset, on a duplicate of the socket
 * (mqtt_close.c explains why), within MQTT_CLOSE_WAIT_MS.
 *
 * Socket lifetime: libmosquitto closes the socket itself, inside
 * loop_read/loop_write/loop_misc, and then calls on_disconnect (a failed
 * TLS handshake closes it without the callback, which mqtt_io_sync()
 * notices). libuv requires the poll handle to stop watching an fd before
 * the number is reused, so on_disconnect stops the handle and uv_close()s
 * it at once (mqtt_io_unwatch()), and no new connection starts (no new
 * socket exists) until its close callback has run: the retry is deferred
 * until then. So at most one poll handle is ever active, on the one socket
 * libmosquitto holds.
 *
 * Threads: every function runs on the loop thread (ASSERT_THREAD at the
 * entry points), which is also the only thread calling libmosquitto;
 * mqtt_is_connected() and mqtt_sub_route() run anywhere.
 *
 * Invariants:
 *   - No connect starts while the poll handle closes
 *     (mqtt_io_is_closing()).
 *   - connected is true only in phase MQTT_CONNECTED.
 *   - done() runs once, after every handle's close callback and after the
 *     getaddrinfo callback.
 *
 * Memory: the struct is the caller's. libmosquitto allocates internally
 * (per packet, out of our control); this file allocates nothing on the
 * message path: on_message only builds a struct mqtt_msg on the stack.
 * SUBSCRIBE properties are allocated per (re)connect (mqtt_sub.c), and
 * libmosquitto's log callback (which makes it format a line per packet) is
 * installed only while connecting or when debug output is on.
 */
#include "mqtt.h"

#include <assert.h>
#include <errno.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mosquitto.h>
#include <uv.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "mqtt_addr.h"
#include "mqtt_close.h"
#include "mqtt_io.h"
#include "mqtt_keepalive.h"
#include "mqtt_setup.h"
#include "mqtt_sub.h"
#include "mqtt_text.h"
#include "thread.h"

#define MISC_INTERVAL_MS 1000                  /* mosquitto_loop_misc() */
#define NAME_MAX_LEN     (CONFIG_STR_MAX + 16) /* "[host]:port" */
#define REASON_MAX       128
#define RL_INTERVAL_MS   60000 /* one failure line a minute at most */
/* Unsubscribed as a heartbeat (see "Keepalive"); never subscribed. */
#define MQTT_HEARTBEAT_FILTER "$sensorpipe/keepalive"

static void on_retry(uv_timer_t *t);
static void begin_attempt(struct mqtt_client *c);
static void finish_stop(struct mqtt_client *c);
static void close_done(struct mqtt_client *c);
static void log_lib(struct mqtt_client *c, bool connecting);

/* ---- helpers ------------------------------------------------------------ */

static bool is_v5(const struct mqtt_client *c)
{
    return c->cfg->mqtt.protocol == PROTOCOL_V5;
}

static bool use_tls(const struct mqtt_client *c)
{
    return c->cfg->mqtt.tls_ca_file[0] != '\0';
}

/* The next delay: min doubled per failed round, capped, jittered. */
static uint64_t backoff_ms(struct mqtt_client *c)
{
    return backoff_next_ms(&c->backoff, c->cfg->mqtt.reconnect_min_ms,
                           c->cfg->mqtt.reconnect_max_ms);
}

/* ---- handles ------------------------------------------------------------ */

/* done() once every close callback and the getaddrinfo callback ran. */
static void maybe_done(struct mqtt_client *c)
{
    if (c->phase == MQTT_STOPPING && c->handles_closed && c->closing == 0 &&
        !mqtt_addr_pending(&c->addr)) {
        c->phase = MQTT_STOPPED;
        c->done(c);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct mqtt_client *c = h->data;

    c->closing--;
    maybe_done(c);
}

/* A poll or idle handle of mqtt_io.c closed: a deferred attempt starts. */
static void on_io_closed(void *ctx)
{
    struct mqtt_client *c = ctx;

    if (c->attempt_deferred && c->phase != MQTT_STOPPING) {
        c->attempt_deferred = false;
        begin_attempt(c);
    }
    c->closing--;
    maybe_done(c);
}

/* Stops watching the socket; true when a close callback is to come. */
static bool unwatch(struct mqtt_client *c)
{
    if (!mqtt_io_unwatch(&c->io))
        return false;
    c->closing++;
    return true;
}

/* ---- connection state --------------------------------------------------- */

static void schedule_retry(struct mqtt_client *c, uint64_t delay_ms)
{
    c->phase = MQTT_WAITING;
    uv_timer_start(&c->retry, on_retry, delay_ms, 0);
}

/* An attempt failed before CONNACK: next address, or back off. */
static void attempt_failed(struct mqtt_client *c, int rc, int err)
{
    char name[NAME_MAX_LEN];
    char reason[REASON_MAX];
    uint64_t delay;

    if (!use_tls(c) && c->addr.idx + 1 < c->addr.n) {
        log_debug("mqtt: cannot connect to %s port %u: %s, trying the next "
                  "address",
                  mqtt_addr_current(&c->addr), c->cfg->mqtt.port,
                  mqtt_text_result(rc, err, reason, sizeof(reason)));
        (void) mqtt_addr_next(&c->addr);
        c->next_addr = true;
        schedule_retry(c, 0);
        return;
    }
    delay = backoff_ms(c);
    log_ratelimited(&c->rl_fail, LOG_WARNING,
                    "mqtt: cannot connect to %s: %s%s%s%s, retrying in %llu ms",
                    mqtt_text_broker(c->cfg, name, sizeof(name)),
                    mqtt_text_result(rc, err, reason, sizeof(reason)),
                    c->lib_err[0] != '\0' ? " (" : "", c->lib_err,
                    c->lib_err[0] != '\0' ? ")" : "",
                    (unsigned long long) delay);
    c->lib_err[0] = '\0';
    schedule_retry(c, delay);
}

/* Clears connected; tells the owner when it was set. Returns the old value. */
static bool mark_down(struct mqtt_client *c)
{
    bool was_up =
        atomic_exchange_explicit(&c->connected, false, memory_order_relaxed);

    if (was_up && c->on_state != NULL)
        c->on_state(c->ctx, false);
    return was_up;
}

/* The socket is gone (on_disconnect, or closed without it). Idempotent. */
static void connection_gone(struct mqtt_client *c, int rc, int err)
{
    char name[NAME_MAX_LEN];
    char reason[REASON_MAX];
    bool was_up;

    if (!unwatch(c))
        return;
    was_up = mark_down(c);
    if (was_up)
        log_lib(c, true);
    if (c->ka.expired)
        rc = MOSQ_ERR_KEEPALIVE;
    c->ka.expired = false;
    if (c->phase == MQTT_STOPPING) {
        finish_stop(c);
    } else if (was_up) {
        log_warn("mqtt: connection to %s lost: %s, reconnecting",
                 mqtt_text_broker(c->cfg, name, sizeof(name)),
                 mqtt_text_result(rc, err, reason, sizeof(reason)));
        if (mqtt_io_is_paused(&c->io) && !mqtt_io_peer_closed(&c->io))
            mqtt_io_warn_paused_loss(&c->io, "the connection was lost");
        schedule_retry(c, backoff_ms(c));
    } else if (c->refused) {
        c->refused = false;
        schedule_retry(c, c->cfg->mqtt.reconnect_max_ms);
    } else {
        attempt_failed(c, rc, err);
    }
}

static void on_io_gone(void *ctx, int rc, int err)
{
    connection_gone(ctx, rc, err);
}

/* ---- keepalive (see the file header, "Keepalive") ---------------------- */

/* Inbound packets the daemon can see: messages, SUBACKs, UNSUBACKs. */
static uint64_t inbound(const struct mqtt_client *c)
{
    return c->messages + c->subs.subacks + c->unsubacks;
}

/* The keepalive in force: an MQTT 5 broker may impose its own (Server
 * Keep Alive in CONNACK), which libmosquitto's own check would follow. */
static void keepalive_reset(struct mqtt_client *c,
                            const mosquitto_property *props)
{
    uint64_t now = clock_mono_ms();
    uint16_t server_ka = 0;

    unsigned ka_s = c->cfg->mqtt.keepalive_s;

    if (mosquitto_property_read_int16(props, MQTT_PROP_SERVER_KEEP_ALIVE,
                                      &server_ka, false) != NULL &&
        server_ka > 0 && server_ka != ka_s) {
        log_notice("mqtt: the broker sets the keepalive to %u s (keepalive_s "
                   "= %u)",
                   (unsigned) server_ka, ka_s);
        ka_s = server_ka;
    }
    mqtt_keepalive_start(&c->ka, ka_s, now, inbound(c));
}

/* No answer: shut the socket so that a read ends the connection through
 * libmosquitto (on_disconnect, then a reconnect). */
static void keepalive_expired(struct mqtt_client *c)
{
    char name[NAME_MAX_LEN];

    log_debug("mqtt: no packet from %s for %llu ms of reading",
              mqtt_text_broker(c->cfg, name, sizeof(name)),
              (unsigned long long) c->ka.silent_ms);
    (void) shutdown(mosquitto_socket(c->mosq), SHUT_RDWR);
    errno = 0;
    mqtt_io_sync(&c->io, mosquitto_loop_read(c->mosq, 1));
}

static void send_heartbeat(struct mqtt_client *c, uint64_t now)
{
    int mid = 0;
    int rc;

    errno = 0;
    rc = mosquitto_unsubscribe(c->mosq, &mid, MQTT_HEARTBEAT_FILTER);
    mqtt_keepalive_sent(&c->ka, now, mid, rc == MOSQ_ERR_SUCCESS);
    if (rc != MOSQ_ERR_SUCCESS) {
        /* A write error: the next read (or the silence) tells. */
        log_debug("mqtt: heartbeat not sent: %s", mosquitto_strerror(rc));
        return;
    }
    c->heartbeats++;
}

static void keepalive_tick(struct mqtt_client *c)
{
    uint64_t now = clock_mono_ms();

    switch (mqtt_keepalive_tick(&c->ka, now, inbound(c),
                                mqtt_io_is_paused(&c->io))) {
    case MQTT_KEEPALIVE_EXPIRE:
        keepalive_expired(c);
        return;
    case MQTT_KEEPALIVE_SEND:
        if (mqtt_io_peer_closed(&c->io))
            break; /* nothing to keep alive until reading resumes */
        send_heartbeat(c, now);
        break;
    case MQTT_KEEPALIVE_WAIT:
        break;
    }
    mqtt_io_sync(&c->io, MOSQ_ERR_SUCCESS);
}

static void on_misc(uv_timer_t *t)
{
    struct mqtt_client *c = t->data;
    int rc;

    if (!mqtt_io_socket_ok(&c->io))
        return;
    if (c->phase == MQTT_CONNECTED) {
        keepalive_tick(c);
        return;
    }
    errno = 0;
    rc = mosquitto_loop_misc(c->mosq); /* the CONNACK timeout */
    mqtt_io_sync(&c->io, rc);
}

/* ---- connecting --------------------------------------------------------- */

static void connect_now(struct mqtt_client *c)
{
    const struct config *cfg = c->cfg;
    const char *host =
        use_tls(c) ? cfg->mqtt.host : mqtt_addr_current(&c->addr);
    int rc;

    c->attempts++;
    c->phase = MQTT_CONNECTING;
    c->lib_err[0] = '\0';
    errno = 0;
    rc = mosquitto_connect_bind_async(c->mosq, host, (int) cfg->mqtt.port,
                                      (int) cfg->mqtt.keepalive_s, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        attempt_failed(c, rc, errno);
        return;
    }
    rc = mqtt_io_watch(&c->io);
    if (rc < 0) {
        log_err("mqtt: cannot poll the broker socket: %s", uv_strerror(rc));
        attempt_failed(c, MOSQ_ERR_ERRNO, -rc);
    }
}

static void resolve_failed(struct mqtt_client *c, int status)
{
    uint64_t delay = backoff_ms(c);

    log_ratelimited(&c->rl_fail, LOG_WARNING,
                    "mqtt: cannot resolve %s: %s, retrying in %llu ms",
                    c->cfg->mqtt.host, uv_strerror(status),
                    (unsigned long long) delay);
    schedule_retry(c, delay);
}

static void on_resolved(void *ctx, int status)
{
    struct mqtt_client *c = ctx;

    if (c->phase == MQTT_STOPPING) {
        maybe_done(c);
        return;
    }
    if (status < 0) {
        resolve_failed(c, status);
        return;
    }
    connect_now(c);
}

static void begin_attempt(struct mqtt_client *c)
{
    char port[8];
    int rc;

    if (mqtt_io_is_closing(&c->io)) {
        c->attempt_deferred = true; /* no new socket before the close */
        return;
    }
    if (c->next_addr) {
        c->next_addr = false;
        connect_now(c);
        return;
    }
    snprintf(port, sizeof(port), "%u", c->cfg->mqtt.port);
    rc = mqtt_addr_resolve(&c->addr, c->loop, c->cfg->mqtt.host, port);
    if (rc > 0) {
        connect_now(c); /* a numeric host */
        return;
    }
    if (rc < 0) {
        resolve_failed(c, rc);
        return;
    }
    c->phase = MQTT_RESOLVING;
}

static void on_retry(uv_timer_t *t)
{
    struct mqtt_client *c = t->data;

    if (c->phase == MQTT_STOPPING) {
        log_warn("mqtt: the broker did not close the connection within "
                 "%d ms of DISCONNECT; closing it",
                 MQTT_CLOSE_WAIT_MS);
        close_done(c);
        return;
    }
    begin_attempt(c);
}

/* ---- libmosquitto callbacks --------------------------------------------- */

static void on_connect_cb(struct mosquitto *m, void *obj, int rc, int flags,
                          const mosquitto_property *props)
{
    struct mqtt_client *c = obj;
    char name[NAME_MAX_LEN];
    char reason[REASON_MAX];

    (void) m;
    if (c->phase == MQTT_STOPPING)
        return;
    mqtt_text_broker(c->cfg, name, sizeof(name));
    if (rc != 0) {
        c->refused = true;
        log_ratelimited(&c->rl_refused, LOG_ERR,
                        "mqtt: %s refused the connection: %s, retrying in "
                        "%llu ms",
                        name,
                        mqtt_text_connack(is_v5(c), rc, reason, sizeof(reason)),
                        (unsigned long long) c->cfg->mqtt.reconnect_max_ms);
        return;
    }
    c->phase = MQTT_CONNECTED;
    backoff_reset(&c->backoff);
    keepalive_reset(c, props);
    log_lib(c, false);
    atomic_store_explicit(&c->connected, true, memory_order_relaxed);
    log_notice("mqtt: connected to %s as %s%s", name, c->cfg->mqtt.client_id,
               (flags & 1) != 0 ? " (session resumed)" : "");
    mqtt_sub_resubscribe(&c->subs, (flags & 1) != 0);
    if (c->on_state != NULL)
        c->on_state(c->ctx, true);
}

static void on_disconnect_cb(struct mosquitto *m, void *obj, int rc,
                             const mosquitto_property *props)
{
    int err = errno;

    (void) m;
    (void) props;
    connection_gone(obj, rc, err);
}

/* NOLINTNEXTLINE(readability-function-size): libmosquitto's signature */
static void on_subscribe_cb(struct mosquitto *m, void *obj, int mid,
                            int n_granted, const int *granted,
                            const mosquitto_property *props)
{
    (void) m;
    (void) props;
    mqtt_sub_suback(&((struct mqtt_client *) obj)->subs, mid, n_granted,
                    granted);
}

static void on_unsubscribe_cb(struct mosquitto *m, void *obj, int mid,
                              const mosquitto_property *props)
{
    struct mqtt_client *c = obj;

    (void) m;
    (void) props;
    c->unsubacks++;
    if (mqtt_keepalive_answered(&c->ka, mid))
        return;
    mqtt_sub_unsuback(&c->subs, mid);
}

static void on_message_cb(struct mosquitto *m, void *obj,
                          const struct mosquitto_message *msg,
                          const mosquitto_property *props)
{
    struct mqtt_client *c = obj;
    struct mqtt_msg out;
    int saved = errno; /* mqtt_io.c looks at errno after the call */

    (void) m;
    out.topic = msg->topic;
    out.topic_len = strlen(msg->topic);
    out.payload = msg->payloadlen > 0 ? msg->payload : NULL;
    out.payload_len = (size_t) msg->payloadlen;
    out.qos = msg->qos;
    out.retain = msg->retain;
    out.sub_index = mqtt_sub_route(c->cfg, msg->topic, props);
    out.stale_retained =
        mqtt_sub_stale_retained(&c->subs, out.sub_index, msg->retain);
    c->messages++;
    log_debug("mqtt: message on %.200s (%zu bytes, qos %d) for "
              "subscription %u",
              out.topic, out.payload_len, out.qos, out.sub_index);
    c->on_msg(c->ctx, &out);
    errno = saved;
}

/* Keeps libmosquitto's last error line (an OpenSSL verify failure, say)
 * for the next "cannot connect" line. */
static void on_log_cb(struct mosquitto *m, void *obj, int level,
                      const char *str)
{
    struct mqtt_client *c = obj;

    (void) m;
    if ((level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) != 0)
        snprintf(c->lib_err, sizeof(c->lib_err), "%s", str);
    log_debug("mqtt: libmosquitto: %s", str);
}

/*
 * libmosquitto formats (and allocates) a line for each packet when a log
 * callback is set, so it is set only while connecting, where its errors
 * explain failures, or when debug output is wanted.
 */
static void log_lib(struct mqtt_client *c, bool connecting)
{
    bool want = connecting || log_enabled(LOG_DEBUG);

    mosquitto_log_callback_set(c->mosq, want ? on_log_cb : NULL);
    c->lib_err[0] = '\0';
}

static void set_callbacks(struct mqtt_client *c)
{
    mosquitto_connect_v5_callback_set(c->mosq, on_connect_cb);
    mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect_cb);
    mosquitto_subscribe_v5_callback_set(c->mosq, on_subscribe_cb);
    mosquitto_unsubscribe_v5_callback_set(c->mosq, on_unsubscribe_cb);
    mosquitto_message_v5_callback_set(c->mosq, on_message_cb);
    log_lib(c, true);
}

/* ---- public ------------------------------------------------------------- */

static void init_handles(struct mqtt_client *c)
{
    const struct mqtt_io_hooks hooks = {on_io_gone, on_io_closed, c};

    uv_timer_init(c->loop, &c->misc_timer);
    uv_timer_init(c->loop, &c->retry);
    mqtt_io_init(&c->io, c->loop, c->mosq, &hooks);
    c->misc_timer.data = c;
    c->retry.data = c;
}

/* NOLINTNEXTLINE(readability-function-size): six parameters, as mqtt.h */
int mqtt_init(struct mqtt_client *c, uv_loop_t *loop, const struct config *cfg,
              mqtt_message_fn on_msg, mqtt_state_fn on_state, void *ctx)
{
    int rc;

    ASSERT_THREAD(THREAD_LOOP);
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->cfg = cfg;
    c->on_msg = on_msg;
    c->on_state = on_state;
    c->ctx = ctx;
    mqtt_close_init(&c->close);
    backoff_init(&c->backoff,
                 clock_mono_ns() ^ ((uint64_t) getpid() << 32) ^ (uintptr_t) c);
    rc = mqtt_setup_open(&c->mosq, cfg, c);
    if (rc < 0)
        return rc;
    mqtt_sub_init(&c->subs, c->mosq, cfg);
    mqtt_addr_init(&c->addr, on_resolved, c);
    set_callbacks(c);
    ratelimit_init(&c->rl_fail, RL_INTERVAL_MS, 1);
    ratelimit_init(&c->rl_refused, RL_INTERVAL_MS, 1);
    init_handles(c);
    return 0;
}

void mqtt_start(struct mqtt_client *c)
{
    ASSERT_THREAD(THREAD_LOOP);
    assert(c->phase == MQTT_IDLE);
    uv_timer_start(&c->misc_timer, on_misc, MISC_INTERVAL_MS, MISC_INTERVAL_MS);
    schedule_retry(c, 0);
}

void mqtt_pause(struct mqtt_client *c)
{
    ASSERT_THREAD(THREAD_LOOP);
    mqtt_io_pause(&c->io);
}

void mqtt_resume(struct mqtt_client *c)
{
    ASSERT_THREAD(THREAD_LOOP);
    mqtt_io_resume(&c->io);
}

bool mqtt_is_paused(const struct mqtt_client *c)
{
    return mqtt_io_is_paused(&c->io);
}

bool mqtt_is_connected(const struct mqtt_client *c)
{
    return atomic_load_explicit(&c->connected, memory_order_relaxed);
}

bool mqtt_is_subscribed(const struct mqtt_client *c)
{
    ASSERT_THREAD(THREAD_LOOP);
    return c->phase == MQTT_CONNECTED && c->subs.subs_pending == 0;
}

void mqtt_set_record(struct mqtt_client *c, struct subrec *rec)
{
    mqtt_sub_set_record(&c->subs, rec);
}

int mqtt_update_subscriptions(struct mqtt_client *c, const struct config *old,
                              const struct config *newcfg)
{
    bool was_connected = c->phase == MQTT_CONNECTED;
    int rc;

    ASSERT_THREAD(THREAD_LOOP);
    rc = mqtt_sub_update(&c->subs, old, newcfg, was_connected);
    c->cfg = newcfg;
    if (was_connected)
        mqtt_io_sync(&c->io,
                     MOSQ_ERR_SUCCESS); /* UNSUBSCRIBE/SUBSCRIBE queued */
    return rc;
}

/* Closes every handle; done() follows from the last close callback. */
static void finish_stop(struct mqtt_client *c)
{
    uv_handle_t *const handles[] = {
        (uv_handle_t *) &c->misc_timer,
        (uv_handle_t *) &c->retry,
    };

    if (c->handles_closed)
        return;
    c->handles_closed = true;
    (void) unwatch(c);
    (void) mark_down(c);
    for (size_t i = 0; i < SP_ARRAY_SIZE(handles); i++) {
        c->closing++;
        uv_close(handles[i], on_handle_closed);
    }
    c->closing++;
    mqtt_io_close(&c->io); /* the idle handle, last as before */
}

/* ---- an orderly close at stop (mqtt_close.c) ---------------------------- */

/* The close ended (or timed out): the duplicate goes, then every handle. */
static void close_done(struct mqtt_client *c)
{
    if (mqtt_close_end(&c->close))
        c->closing++;
    finish_stop(c);
}

static void on_close_done(void *ctx)
{
    close_done(ctx);
}

static void on_close_released(void *ctx)
{
    struct mqtt_client *c = ctx;

    c->closing--;
    maybe_done(c);
}

/*
 * Starts the orderly close of an open connection. Returns: 0 when it runs
 * (close_done() follows); -errno when it cannot (then nothing started).
 */
static int begin_close(struct mqtt_client *c)
{
    const struct mqtt_close_hooks hooks = {on_close_done, on_close_released, c};
    int err = mqtt_close_open(&c->close, c->loop, c->mosq, &hooks);

    if (err < 0)
        return err;
    (void) unwatch(c); /* libmosquitto's fd is still open here */
    (void) mark_down(c);
    errno = 0;
    (void) mosquitto_disconnect(c->mosq); /* writes what it can at once */
    uv_timer_start(&c->retry, on_retry, MQTT_CLOSE_WAIT_MS, 0);
    mqtt_close_run(&c->close);
    return 0;
}

void mqtt_stop(struct mqtt_client *c, void (*done)(struct mqtt_client *c))
{
    bool open;

    ASSERT_THREAD(THREAD_LOOP);
    assert(c->phase != MQTT_STOPPING && c->phase != MQTT_STOPPED);
    open = mqtt_io_socket_ok(&c->io);
    c->done = done;
    c->phase = MQTT_STOPPING;
    c->attempt_deferred = false;
    uv_timer_stop(&c->retry);
    uv_timer_stop(&c->misc_timer);
    mqtt_io_cancel_drain(&c->io);
    mqtt_addr_cancel(&c->addr); /* its callback still runs */
    if (open && begin_close(c) == 0)
        return;
    if (open) {
        /* No duplicate descriptor: DISCONNECT, and libmosquitto closes. */
        errno = 0;
        mqtt_io_sync(&c->io, mosquitto_disconnect(c->mosq));
    }
    finish_stop(c);
}

void mqtt_fini(struct mqtt_client *c)
{
    ASSERT_THREAD(THREAD_LOOP);
    assert(c->phase == MQTT_STOPPED);
    mqtt_setup_close(c->mosq);
    c->mosq = NULL;
}
