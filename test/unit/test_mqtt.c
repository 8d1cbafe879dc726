/*
 * test_mqtt.c - the broker connection against a real mosquitto.
 *
 * Each test starts its own broker on a free loopback port (broker.h) and
 * runs a private libuv loop with run_loop_until() (wait.h); messages come
 * from a libmosquitto publisher on its own thread (pub.h). The client's log
 * goes to a temporary file so tests can count its lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>
#include <uv.h>

#include "alloc_guard.h"
#include "broker.h"
#include "config.h"
#include "files.h"
#include "log.h"
#include "logfile.h"
#include "mqtt.h"
#include "pub.h"
#include "wait.h"

#define RX_MAX 2048
#define UP_MS  5000
#define MSG_MS 5000
#define MIN_MS 50
#define MAX_MS 400

struct rx_msg {
    char topic[96];
    unsigned char payload[96];
    size_t len;
    int qos;
    unsigned sub;
};

/* One client and what it saw. Owner: the test (loop) thread. */
struct cl {
    struct mqtt_client c;
    struct config cfg;
    bool running; /* mqtt_init() succeeded, done() not yet run */
    bool stopped; /* done() ran */
    unsigned n;
    unsigned ups;
    unsigned downs;
    struct rx_msg rx[RX_MAX];
};

static struct {
    uv_loop_t loop;
    struct broker b;
    struct cl cl[2];
    struct pub *pub;
    char log_path[64];
    int log_fd;
    char dir[64]; /* scratch files (password files) */
} fx;

/* ---- fixture ------------------------------------------------------------ */

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    snprintf(fx.log_path, sizeof(fx.log_path), "/tmp/sp-mqtt-log-XXXXXX");
    fx.log_fd = mkstemp(fx.log_path);
    cr_assert_geq(fx.log_fd, 0);
    log_init(LOG_INFO);
    log_set_fd(fx.log_fd);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/sp-mqtt-XXXXXX");
    cr_assert_not_null(mkdtemp(fx.dir));
}

static void on_done(struct mqtt_client *c)
{
    struct cl *k = (struct cl *) (void *) c; /* c is the first member */

    k->stopped = true;
}

static bool cl_is_stopped(void *arg)
{
    return ((struct cl *) arg)->stopped;
}

/* Returns: 0, or -ETIMEDOUT when done() did not run within 3 s. */
static int cl_stop_quiet(struct cl *k)
{
    if (!k->running)
        return 0;
    if (!k->stopped)
        mqtt_stop(&k->c, on_done);
    if (run_loop_until(&fx.loop, cl_is_stopped, k, 3000) < 0)
        return -ETIMEDOUT;
    mqtt_fini(&k->c);
    k->running = false;
    return 0;
}

static void cl_stop(struct cl *k)
{
    cr_assert_eq(cl_stop_quiet(k), 0, "done() did not run");
}

static void cat_file(const char *path)
{
    char buf[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t) n, stderr);
    if (fd >= 0)
        close(fd);
}

/* SP_TEST_SHOW_LOG=1 prints the client's and the broker's logs. */
static void show_log(void)
{
    if (getenv("SP_TEST_SHOW_LOG") == NULL)
        return;
    cat_file(fx.log_path);
    if (fx.b.dir[0] != '\0')
        cat_file(fx.b.log);
}

static void teardown(void)
{
    char cmd[128];

    int stopped[2];

    /* Everything is released before anything is asserted, so that a
     * failure here leaves no broker behind. */
    pub_close(fx.pub);
    for (unsigned i = 0; i < 2; i++)
        stopped[i] = cl_stop_quiet(&fx.cl[i]);
    show_log();
    (void) broker_stop(&fx.b);
    (void) uv_loop_close(&fx.loop);
    close(fx.log_fd);
    unlink(fx.log_path);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
    if (system(cmd) != 0)
        cr_log_warn("cannot remove %s", fx.dir);
    for (unsigned i = 0; i < 2; i++)
        cr_assert_eq(stopped[i], 0, "client %u: done() did not run", i);
}

TestSuite(mqtt, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ------------------------------------------------------------ */

static void on_msg(void *ctx, const struct mqtt_msg *m)
{
    struct cl *k = ctx;
    struct rx_msg *r;

    if (k->n == RX_MAX)
        return;
    r = &k->rx[k->n++];
    cr_assert_eq(m->topic_len, strlen(m->topic));
    snprintf(r->topic, sizeof(r->topic), "%s", m->topic);
    r->len = m->payload_len < sizeof(r->payload) ? m->payload_len
                                                 : sizeof(r->payload);
    if (r->len > 0)
        memcpy(r->payload, m->payload, r->len);
    r->qos = m->qos;
    r->sub = m->sub_index;
}

static void on_state(void *ctx, bool up)
{
    struct cl *k = ctx;

    if (up)
        k->ups++;
    else
        k->downs++;
}

static void cfg_base(struct config *cfg, const char *id)
{
    config_defaults(cfg);
    snprintf(cfg->mqtt.host, sizeof(cfg->mqtt.host), "127.0.0.1");
    cfg->mqtt.port = (unsigned) fx.b.port;
    snprintf(cfg->mqtt.client_id, sizeof(cfg->mqtt.client_id), "%s-%d", id,
             (int) getpid());
    cfg->mqtt.keepalive_s = 10;
    cfg->mqtt.clean_session = true;
    cfg->mqtt.reconnect_min_ms = MIN_MS;
    cfg->mqtt.reconnect_max_ms = MAX_MS;
}

static void add_sub(struct config *cfg, const char *name, const char *topic,
                    int qos, const char *group)
{
    struct config_sub *s = &cfg->subs[cfg->n_subs++];

    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    snprintf(s->share_group, sizeof(s->share_group), "%s", group);
    s->qos = qos;
}

static int cl_init(struct cl *k)
{
    int rc = mqtt_init(&k->c, &fx.loop, &k->cfg, on_msg, on_state, k);

    k->running = rc == 0;
    return rc;
}

static void cl_start(struct cl *k)
{
    cr_assert_eq(cl_init(k), 0);
    mqtt_start(&k->c);
}

/* Connected, and SUBACKs for every subscription of every connection. */
static bool cl_is_ready(void *arg)
{
    struct cl *k = arg;

    bool ready =
        mqtt_is_connected(&k->c) && k->c.subs.subacks >= k->ups * k->cfg.n_subs;

    /* The two views agree once every SUBACK is in. */
    if (ready)
        cr_assert(mqtt_is_subscribed(&k->c));
    return ready;
}

static bool cl_is_subscribed(void *arg)
{
    return mqtt_is_subscribed(&((struct cl *) arg)->c);
}

static bool cl_is_down(void *arg)
{
    return !mqtt_is_connected(&((struct cl *) arg)->c);
}

/* Connected and every SUBACK back, so publishes from now on are seen. */
static void cl_wait_ready(struct cl *k)
{
    cr_assert_eq(run_loop_until(&fx.loop, cl_is_ready, k, UP_MS), 0,
                 "client %s not connected and subscribed",
                 k->cfg.mqtt.client_id);
}

struct count_arg {
    const struct cl *k;
    unsigned n;
};

static bool has_n(void *arg)
{
    const struct count_arg *a = arg;

    return a->k->n >= a->n;
}

static void wait_msgs(const struct cl *k, unsigned n)
{
    struct count_arg a = {k, n};

    cr_assert_eq(run_loop_until(&fx.loop, has_n, &a, MSG_MS), 0,
                 "got %u messages, expected %u", k->n, n);
}

static const struct rx_msg *find_topic(const struct cl *k, const char *t)
{
    for (unsigned i = 0; i < k->n; i++)
        if (strcmp(k->rx[i].topic, t) == 0)
            return &k->rx[i];
    return NULL;
}

static unsigned count_topic(const struct cl *k, const char *t)
{
    unsigned n = 0;

    for (unsigned i = 0; i < k->n; i++)
        n += strcmp(k->rx[i].topic, t) == 0;
    return n;
}

static void open_pub(int qos)
{
    pub_close(fx.pub);
    fx.pub = NULL;
    cr_assert_eq(pub_open(&fx.pub, fx.b.port, "pub", qos), 0);
}

static void send_acked(const char *topic, const void *payload, size_t len)
{
    cr_assert_eq(pub_send(fx.pub, topic, payload, len), 0);
    cr_assert_eq(pub_wait_acked(fx.pub, MSG_MS), 0);
}

/* Lines of the client's log that contain needle. */
static unsigned log_count(const char *needle)
{
    int n = logfile_count(fx.log_path, needle);

    cr_assert_geq(n, 0, "cannot read %s", fx.log_path);
    return (unsigned) n;
}

static void start_broker(const char *extra)
{
    cr_assert_eq(broker_start(&fx.b, extra), 0, "mosquitto did not start");
}

/* ---- receiving ---------------------------------------------------------- */

static void receives_both_qos(enum config_protocol proto)
{
    static const unsigned char bin[] = {0, 1, 2, 0xff, 'x'};
    struct cl *k = &fx.cl[0];
    const struct rx_msg *a;
    const struct rx_msg *b;
    struct pub *p0 = NULL;

    start_broker(NULL);
    cfg_base(&k->cfg, "rx");
    k->cfg.mqtt.protocol = proto;
    add_sub(&k->cfg, "all", "t/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    cr_assert_eq(k->ups, 1);

    cr_assert_eq(pub_open(&p0, fx.b.port, "pub0", 0), 0);
    cr_assert_eq(pub_send(p0, "t/a", "hello", 5), 0);
    cr_assert_eq(pub_wait_acked(p0, MSG_MS), 0);
    pub_close(p0);
    open_pub(1);
    send_acked("t/b", bin, sizeof(bin));
    wait_msgs(k, 2);

    a = find_topic(k, "t/a");
    b = find_topic(k, "t/b");
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_eq(a->len, 5);
    cr_assert_arr_eq(a->payload, "hello", 5);
    cr_assert_eq(a->qos, 0);
    cr_assert_eq(a->sub, 0);
    cr_assert_eq(b->len, sizeof(bin));
    cr_assert_arr_eq(b->payload, bin, sizeof(bin));
    cr_assert_eq(b->qos, 1);
    cr_assert_eq(b->sub, 0);
    cr_assert_eq(k->c.messages, 2);
}

Test(mqtt, receives_qos0_and_qos1_v5)
{
    receives_both_qos(PROTOCOL_V5);
}

Test(mqtt, receives_qos0_and_qos1_v311)
{
    receives_both_qos(PROTOCOL_V311);
}

/* ---- routing ------------------------------------------------------------ */

static void routes_disjoint(enum config_protocol proto)
{
    struct cl *k = &fx.cl[0];

    start_broker(NULL);
    cfg_base(&k->cfg, "route");
    k->cfg.mqtt.protocol = proto;
    add_sub(&k->cfg, "a", "r/a/+", 1, "");
    add_sub(&k->cfg, "b", "r/b/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    open_pub(1);
    send_acked("r/b/y/z", "1", 1);
    send_acked("r/c", "2", 1); /* subscribed by nobody */
    send_acked("r/a/x", "3", 1);
    wait_msgs(k, 2);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 100), -ETIMEDOUT);

    cr_assert_eq(k->n, 2);
    cr_assert_eq(find_topic(k, "r/a/x")->sub, 0);
    cr_assert_eq(find_topic(k, "r/b/y/z")->sub, 1);
    cr_assert_null(find_topic(k, "r/c"));
}

Test(mqtt, routes_disjoint_subscriptions_v5)
{
    routes_disjoint(PROTOCOL_V5);
}

Test(mqtt, routes_disjoint_subscriptions_v311)
{
    routes_disjoint(PROTOCOL_V311);
}

/*
 * o/1/t matches both filters. mosquitto 2.0 sends an MQTT 5 client one copy
 * per matching subscription, each with that subscription's identifier, so
 * each copy goes to its own subscription; a 3.1.1 client gets one copy,
 * routed by topic to the first matching subscription in config order.
 */
static void routes_overlap(enum config_protocol proto)
{
    struct cl *k = &fx.cl[0];
    unsigned seen[2] = {0, 0};

    start_broker(NULL);
    cfg_base(&k->cfg, "overlap");
    k->cfg.mqtt.protocol = proto;
    add_sub(&k->cfg, "narrow", "o/+/t", 1, "");
    add_sub(&k->cfg, "wide", "o/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    open_pub(1);
    send_acked("o/1/t", "1", 1);
    send_acked("o/2/u", "2", 1);
    wait_msgs(k, proto == PROTOCOL_V5 ? 3 : 2);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 200), -ETIMEDOUT);

    cr_assert_eq(count_topic(k, "o/2/u"), 1);
    cr_assert_eq(find_topic(k, "o/2/u")->sub, 1);
    for (unsigned i = 0; i < k->n; i++)
        if (strcmp(k->rx[i].topic, "o/1/t") == 0) {
            cr_assert_lt(k->rx[i].sub, 2);
            seen[k->rx[i].sub]++;
        }
    if (proto == PROTOCOL_V5) {
        cr_assert_eq(seen[0], 1);
        cr_assert_eq(seen[1], 1);
    } else {
        cr_assert_eq(seen[0], 1);
        cr_assert_eq(seen[1], 0);
    }
}

Test(mqtt, routes_overlapping_subscriptions_v5)
{
    routes_overlap(PROTOCOL_V5);
}

Test(mqtt, routes_overlapping_subscriptions_v311)
{
    routes_overlap(PROTOCOL_V311);
}

/* ---- shared subscriptions ----------------------------------------------- */

/*
 * Two clients in one share group: the broker gives each message to one of
 * them, so together they see every message exactly once (plain
 * subscriptions would see each twice). The broker log shows the filter.
 */
static bool both_have_n(void *arg)
{
    return fx.cl[0].n + fx.cl[1].n >= (uintptr_t) arg;
}

Test(mqtt, shared_subscription_splits_messages)
{
    enum { N = 40 };
    struct cl *a = &fx.cl[0];
    struct cl *b = &fx.cl[1];

    start_broker("log_type all");
    for (unsigned i = 0; i < 2; i++) {
        cfg_base(&fx.cl[i].cfg, i == 0 ? "share-a" : "share-b");
        add_sub(&fx.cl[i].cfg, "shared", "sh/#", 1, "g");
        cl_start(&fx.cl[i]);
        cl_wait_ready(&fx.cl[i]);
    }
    cr_assert_geq(broker_log_count(&fx.b, "$share/g/sh/#"), 2);
    open_pub(1);
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(pub_sendf(fx.pub, "sh/x", "%u", i), 0);
    cr_assert_eq(pub_wait_acked(fx.pub, MSG_MS), 0);
    cr_assert_eq(
        run_loop_until(&fx.loop, both_have_n, (void *) (uintptr_t) N, MSG_MS),
        0);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 200), -ETIMEDOUT);

    cr_assert_eq(a->n + b->n, N, "a=%u b=%u", a->n, b->n);
    for (unsigned i = 0; i < a->n; i++)
        cr_assert_eq(a->rx[i].sub, 0);
    for (unsigned i = 0; i < b->n; i++)
        cr_assert_eq(b->rx[i].sub, 0);
}

/* ---- pause -------------------------------------------------------------- */

Test(mqtt, pause_holds_messages_until_resume)
{
    enum { N = 100 };
    struct cl *k = &fx.cl[0];
    char want[16];

    start_broker(NULL);
    cfg_base(&k->cfg, "pause");
    add_sub(&k->cfg, "p", "p/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    mqtt_pause(&k->c);
    cr_assert(mqtt_is_paused(&k->c));
    open_pub(1);
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(pub_sendf(fx.pub, "p/x", "%u", i), 0);
    /* Every PUBACK back: the broker holds all N for us. */
    cr_assert_eq(pub_wait_acked(fx.pub, MSG_MS), 0);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 300), -ETIMEDOUT);
    cr_assert_eq(k->n, 0, "%u messages delivered while paused", k->n);
    cr_assert(mqtt_is_connected(&k->c));

    mqtt_resume(&k->c);
    cr_assert(!mqtt_is_paused(&k->c));
    wait_msgs(k, N);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 100), -ETIMEDOUT);
    cr_assert_eq(k->n, N);
    for (unsigned i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "%u", i);
        cr_assert_eq(k->rx[i].len, strlen(want));
        cr_assert_arr_eq(k->rx[i].payload, want, strlen(want),
                         "message %u out of order", i);
    }
}

/* Receiving, routing and handing over allocate nothing in our code (the
 * guard sees src/ and test objects; libmosquitto's own allocations are
 * outside it: doc/ARCHITECTURE.md, "Memory plan"). */
Test(mqtt, message_path_allocates_nothing)
{
    enum { N = 200 };
    struct cl *k = &fx.cl[0];

    start_broker(NULL);
    cfg_base(&k->cfg, "alloc");
    add_sub(&k->cfg, "a", "al/+", 1, "");
    add_sub(&k->cfg, "b", "al/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    open_pub(1);
    alloc_guard_arm();
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(pub_sendf(fx.pub, i % 2 ? "al/x" : "al/x/y", "%u", i), 0);
    wait_msgs(k, N);
    cr_assert_eq(alloc_guard_disarm(), 0);
}

/* Pausing from inside on_msg stops delivery after that message. */
static void on_msg_pause(void *ctx, const struct mqtt_msg *m)
{
    struct cl *k = ctx;

    on_msg(ctx, m);
    mqtt_pause(&k->c);
}

Test(mqtt, pause_from_callback_stops_after_that_message)
{
    enum { N = 30 };
    struct cl *k = &fx.cl[0];

    start_broker(NULL);
    cfg_base(&k->cfg, "pausecb");
    add_sub(&k->cfg, "p", "p/#", 1, "");
    cr_assert_eq(mqtt_init(&k->c, &fx.loop, &k->cfg, on_msg_pause, on_state, k),
                 0);
    k->running = true;
    mqtt_start(&k->c);
    cl_wait_ready(k);
    open_pub(1);
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(pub_sendf(fx.pub, "p/x", "%u", i), 0);
    cr_assert_eq(pub_wait_acked(fx.pub, MSG_MS), 0);
    for (unsigned got = 1; got <= N; got++) {
        wait_msgs(k, got);
        cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 20), -ETIMEDOUT);
        cr_assert_eq(k->n, got, "delivered past a pause");
        mqtt_resume(&k->c);
    }
}

/* ---- reconnecting ------------------------------------------------------- */

struct attempts_arg {
    const struct cl *k;
    uint64_t n;
};

static bool attempts_reach(void *arg)
{
    const struct attempts_arg *a = arg;

    return a->k->c.attempts >= a->n;
}

/*
 * The broker goes away for several failed attempts and comes back on the
 * same port: one warning, a reconnect, the subscription again, and a
 * message published afterwards arrives.
 */
Test(mqtt, reconnects_after_broker_restart_with_one_warning)
{
    struct cl *k = &fx.cl[0];
    struct attempts_arg more;
    char lost[128];

    start_broker(NULL);
    cfg_base(&k->cfg, "restart");
    add_sub(&k->cfg, "r", "rs/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    cr_assert_eq(k->c.attempts, 1);

    cr_assert_eq(broker_halt(&fx.b), 0);
    cr_assert_eq(run_loop_until(&fx.loop, cl_is_down, k, UP_MS), 0);
    cr_assert_eq(k->downs, 1);
    more.k = k;
    more.n = k->c.attempts + 3; /* three refused attempts while down */
    cr_assert_eq(run_loop_until(&fx.loop, attempts_reach, &more, 5000), 0);
    cr_assert(!mqtt_is_connected(&k->c));

    cr_assert_eq(broker_restart(&fx.b), 0);
    cl_wait_ready(k);
    cr_assert_eq(k->ups, 2);
    cr_assert_eq(k->c.subs.subacks, 2, "not subscribed again");
    cr_assert_gt(k->c.attempts, more.n, "no attempt after the restart");
    open_pub(1);
    send_acked("rs/after", "back", 4);
    wait_msgs(k, 1);
    cr_assert_str_eq(k->rx[0].topic, "rs/after");

    snprintf(lost, sizeof(lost), "mqtt: connection to 127.0.0.1:%d lost",
             fx.b.port);
    cr_assert_eq(log_count(lost), 1);
    cr_assert_eq(log_count("reconnecting"), 1);
    cr_assert_eq(log_count("mqtt: connected to"), 2);
}

/*
 * Nothing listens: mqtt_start() returns at once, attempts keep coming with
 * delays that grow from reconnect_min_ms and stop at reconnect_max_ms,
 * each within [d/2, d] (plus scheduling slack), and the failures log one
 * line, not one per attempt.
 */
Test(mqtt, unreachable_broker_backs_off)
{
    enum { N = 7 };
    struct cl *k = &fx.cl[0];
    uint64_t at[N];
    uint64_t t0;
    uint64_t d = MIN_MS;
    int port = broker_free_port();

    cr_assert_gt(port, 0);
    cfg_base(&k->cfg, "nobody");
    k->cfg.mqtt.port = (unsigned) port;
    add_sub(&k->cfg, "x", "x", 0, "");
    cr_assert_eq(cl_init(k), 0);
    t0 = wait_now_ms();
    mqtt_start(&k->c);
    cr_assert_lt(wait_now_ms() - t0, 20, "mqtt_start() blocked");
    for (unsigned i = 0; i < N; i++) {
        struct attempts_arg a = {k, i + 1};

        cr_assert_eq(run_loop_until(&fx.loop, attempts_reach, &a, 2000), 0);
        at[i] = wait_now_ms();
    }
    cr_assert_lt(at[0] - t0, 50, "first attempt not immediate");
    for (unsigned i = 1; i < N; i++) {
        uint64_t gap = at[i] - at[i - 1];

        /* Slack: each attempt is seen when the loop next polls, which a
         * slow (sanitizer) run can delay by a few milliseconds. */
        cr_assert_geq(gap + 15, d / 2, "gap %u: %llu ms < %llu / 2", i,
                      (unsigned long long) gap, (unsigned long long) d);
        cr_assert_leq(gap, d + 60, "gap %u: %llu ms > %llu", i,
                      (unsigned long long) gap, (unsigned long long) d);
        d = d * 2 < MAX_MS ? d * 2 : MAX_MS;
    }
    cr_assert_eq(k->ups, 0);
    cr_assert(!mqtt_is_connected(&k->c));
    cr_assert_eq(log_count("mqtt: cannot connect to"), 1);
    cr_assert_eq(log_count("lost"), 0);
}

/*
 * A listener that completes the TCP handshake (the kernel does) but never
 * answers CONNECT: libmosquitto gives up after the keepalive interval, the
 * attempt counts as failed, and the next one follows.
 */
Test(mqtt, silent_broker_times_out_after_keepalive)
{
    enum { KEEPALIVE_S = 5 };
    struct cl *k = &fx.cl[0];
    struct attempts_arg a = {k, 2};
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    uint64_t t0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 8), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
    cfg_base(&k->cfg, "silent");
    k->cfg.mqtt.port = ntohs(sa.sin_port);
    k->cfg.mqtt.keepalive_s = KEEPALIVE_S;
    add_sub(&k->cfg, "x", "x", 0, "");
    t0 = wait_now_ms();
    cl_start(k);
    cr_assert_eq(
        run_loop_until(&fx.loop, attempts_reach, &a, (KEEPALIVE_S + 3) * 1000),
        0, "no second attempt");
    cr_assert_geq(wait_now_ms() - t0, (KEEPALIVE_S - 1) * 1000);
    cr_assert_eq(k->ups, 0);
    cr_assert_eq(log_count("mqtt: cannot connect to"), 1);
    close(fd);
}

/* The host name goes through uv_getaddrinfo(). */
Test(mqtt, connects_by_host_name)
{
    struct cl *k = &fx.cl[0];

    start_broker(NULL);
    cfg_base(&k->cfg, "byname");
    snprintf(k->cfg.mqtt.host, sizeof(k->cfg.mqtt.host), "localhost");
    add_sub(&k->cfg, "n", "n/#", 0, "");
    cl_start(k);
    cl_wait_ready(k);
    cr_assert_eq(log_count("mqtt: connected to localhost:"), 1);
}

/* Resolution fails again and again: one line, and no connect() at all. */
Test(mqtt, unresolvable_host_logs_once_and_never_connects)
{
    struct cl *k = &fx.cl[0];

    cfg_base(&k->cfg, "noname");
    snprintf(k->cfg.mqtt.host, sizeof(k->cfg.mqtt.host),
             "no-such-host.invalid");
    add_sub(&k->cfg, "n", "n/#", 0, "");
    cl_start(k);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 600), -ETIMEDOUT);
    cr_assert_eq(k->c.attempts, 0, "connect without an address");
    cr_assert_eq(log_count("mqtt: cannot resolve no-such-host.invalid"), 1);
}

/* ---- credentials -------------------------------------------------------- */

/* A broker that wants user "sensor" with password "s3cret". */
static void start_auth_broker(void)
{
    char pw[128];
    char extra[256];

    snprintf(pw, sizeof(pw), "%s/broker.passwd", fx.dir);
    cr_assert_eq(broker_passwd(pw, "sensor", "s3cret", 1), 0);
    snprintf(extra, sizeof(extra), "allow_anonymous false\npassword_file %s",
             pw);
    start_broker(extra);
}

static void cfg_auth(struct cl *k, const char *password, mode_t mode)
{
    cfg_base(&k->cfg, "auth");
    snprintf(k->cfg.mqtt.username, sizeof(k->cfg.mqtt.username), "sensor");
    snprintf(k->cfg.mqtt.password_file, sizeof(k->cfg.mqtt.password_file),
             "%s/client.pw", fx.dir);
    cr_assert_eq(files_write(k->cfg.mqtt.password_file, password, mode), 0);
    add_sub(&k->cfg, "a", "a/#", 1, "");
}

static void refused_then_slow_retries(enum config_protocol proto)
{
    enum { WINDOW_MS = 1500, RETRY_MS = 1000 };
    struct cl *k = &fx.cl[0];
    unsigned reasons;

    start_auth_broker();
    cfg_auth(k, "wrong\n", 0600);
    k->cfg.mqtt.protocol = proto;
    k->cfg.mqtt.reconnect_min_ms = 100;
    k->cfg.mqtt.reconnect_max_ms = RETRY_MS;
    cl_start(k);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, WINDOW_MS), -ETIMEDOUT);

    cr_assert_eq(k->ups, 0);
    cr_assert(!mqtt_is_connected(&k->c));
    /* One attempt at once, then one per RETRY_MS: never the 100 ms of the
     * backoff floor. One attempt of slack for timer rounding. */
    cr_assert_geq(k->c.attempts, 1 + WINDOW_MS / RETRY_MS);
    cr_assert_leq(k->c.attempts, 2 + WINDOW_MS / RETRY_MS, "%llu attempts",
                  (unsigned long long) k->c.attempts);
    cr_assert_eq((uint64_t) broker_log_count(&fx.b, "New connection from"),
                 k->c.attempts + 1 /* broker_start()'s probe */);
    cr_assert_eq(log_count("refused the connection"), 1);
    if (proto == PROTOCOL_V5)
        reasons = log_count(mosquitto_reason_string(
                      MQTT_RC_BAD_USERNAME_OR_PASSWORD)) +
                  log_count(mosquitto_reason_string(MQTT_RC_NOT_AUTHORIZED));
    else
        reasons = log_count("not authorised") +
                  log_count("bad user name or password");
    cr_assert_eq(reasons, 1, "no reason in the refusal line");
    cr_assert_eq(log_count("s3cret") + log_count("wrong"), 0);
}

Test(mqtt, wrong_password_is_refused_and_retried_slowly_v5)
{
    refused_then_slow_retries(PROTOCOL_V5);
}

Test(mqtt, wrong_password_is_refused_and_retried_slowly_v311)
{
    refused_then_slow_retries(PROTOCOL_V311);
}

/* The file ends in a newline, which is not part of the password. */
Test(mqtt, right_password_connects)
{
    struct cl *k = &fx.cl[0];

    start_auth_broker();
    cfg_auth(k, "s3cret\n", 0600);
    cl_start(k);
    cl_wait_ready(k);
    cr_assert_eq(k->c.attempts, 1);
}

/* Set-up failures (password file, TLS files, ...) are test_mqtt_setup.c's;
 * here only that mqtt_init() returns them and leaves no uv handle behind. */
static void count_handle(uv_handle_t *h, void *arg)
{
    (void) h;
    (*(unsigned *) arg)++;
}

Test(mqtt, init_returns_setup_errors_and_leaves_no_handle)
{
    struct cl *k = &fx.cl[0];
    unsigned handles = 0;

    cfg_auth(k, "s3cret\n", 0644);
    cr_assert_eq(cl_init(k), -EPERM);
    cr_assert_eq(log_count("open to group or others"), 1);
    uv_walk(&fx.loop, count_handle, &handles);
    cr_expect_eq(handles, 0);
    unlink(k->cfg.mqtt.password_file);
    cr_assert_eq(cl_init(k), -ENOENT);
}

/* ---- stopping ----------------------------------------------------------- */

static bool broker_saw_disconnect(void *arg)
{
    char line[128];

    snprintf(line, sizeof(line), "Client %s disconnected.", (char *) arg);
    return broker_log_count(&fx.b, line) == 1;
}

Test(mqtt, stop_sends_disconnect_and_closes_every_handle)
{
    struct cl *k = &fx.cl[0];
    char closed[128];

    start_broker(NULL);
    cfg_base(&k->cfg, "stop");
    add_sub(&k->cfg, "s", "s/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);

    mqtt_stop(&k->c, on_done);
    cr_assert(!k->stopped, "done() ran before the close callbacks");
    cr_assert_eq(run_loop_until(&fx.loop, cl_is_stopped, k, 3000), 0);
    mqtt_fini(&k->c);
    k->running = false;
    cr_assert(!mqtt_is_connected(&k->c));
    cr_assert_eq(k->downs, 1);
    /* Nothing of the client is left in the loop. */
    cr_assert_eq(uv_loop_alive(&fx.loop), 0);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    /* mosquitto logs "disconnected" only for a DISCONNECT packet. */
    cr_assert_eq(wait_until(broker_saw_disconnect, k->cfg.mqtt.client_id, 3000),
                 0);
    snprintf(closed, sizeof(closed), "Client %s closed its connection",
             k->cfg.mqtt.client_id);
    cr_assert_eq(broker_log_count(&fx.b, closed), 0);
}

/* Stop while nothing is connected: no DISCONNECT to wait for. */
Test(mqtt, stop_while_retrying_finishes)
{
    struct cl *k = &fx.cl[0];
    int port = broker_free_port();

    cfg_base(&k->cfg, "stopretry");
    k->cfg.mqtt.port = (unsigned) port;
    add_sub(&k->cfg, "x", "x", 0, "");
    cl_start(k);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 100), -ETIMEDOUT);
    cl_stop(k);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
}

Test(mqtt, stop_before_start_finishes)
{
    struct cl *k = &fx.cl[0];

    cfg_base(&k->cfg, "never");
    add_sub(&k->cfg, "x", "x", 0, "");
    cr_assert_eq(cl_init(k), 0);
    cl_stop(k);
    cr_assert_eq(k->c.attempts, 0);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
}

/* ---- persistent sessions ------------------------------------------------ */

/*
 * clean_session = false: QoS 1 messages published while the client is
 * away (after a clean DISCONNECT) wait in its session and arrive when it
 * comes back. For MQTT 5 this needs the Session Expiry Interval in CONNECT.
 */
static void session_survives_absence(enum config_protocol proto)
{
    enum { N = 5 };
    struct cl *k = &fx.cl[0];
    char want[16];

    start_broker(NULL);
    cfg_base(&k->cfg, "persist");
    k->cfg.mqtt.protocol = proto;
    k->cfg.mqtt.clean_session = false;
    add_sub(&k->cfg, "p", "ps/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    cl_stop(k);

    open_pub(1);
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(pub_sendf(fx.pub, "ps/x", "%u", i), 0);
    cr_assert_eq(pub_wait_acked(fx.pub, MSG_MS), 0);

    memset(k, 0, sizeof(*k));
    cfg_base(&k->cfg, "persist");
    k->cfg.mqtt.protocol = proto;
    k->cfg.mqtt.clean_session = false;
    add_sub(&k->cfg, "p", "ps/#", 1, "");
    cl_start(k);
    wait_msgs(k, N);
    for (unsigned i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "%u", i);
        cr_assert_arr_eq(k->rx[i].payload, want, strlen(want));
        cr_assert_eq(k->rx[i].sub, 0);
    }
    cr_assert_eq(log_count("(session resumed)"), 1);
}

Test(mqtt, persistent_session_keeps_messages_v5)
{
    session_survives_absence(PROTOCOL_V5);
}

Test(mqtt, persistent_session_keeps_messages_v311)
{
    session_survives_absence(PROTOCOL_V311);
}

/* The control: a clean session loses what was published meanwhile. */
Test(mqtt, clean_session_starts_empty_v5)
{
    struct cl *k = &fx.cl[0];

    start_broker(NULL);
    cfg_base(&k->cfg, "clean");
    add_sub(&k->cfg, "p", "ps/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    cl_stop(k);
    open_pub(1);
    send_acked("ps/x", "lost", 4);
    memset(k, 0, sizeof(*k));
    cfg_base(&k->cfg, "clean");
    add_sub(&k->cfg, "p", "ps/#", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 200), -ETIMEDOUT);
    cr_assert_eq(k->n, 0);
    cr_assert_eq(log_count("(session resumed)"), 0);
}

/* ---- reload ------------------------------------------------------------- */

static bool got_topic(void *arg)
{
    return find_topic(&fx.cl[0], arg) != NULL;
}

static bool subacks_reach(void *arg)
{
    return fx.cl[0].c.subs.subacks >= (uintptr_t) arg;
}

/*
 * Old: [a: u/a, b: u/b]. New: [b: u/b, c: u/c]. u/a is unsubscribed, u/b
 * is kept but moves to index 0, u/c is new at index 1. A sentinel sent last
 * by the same publisher proves the earlier messages were handled.
 */
static void update_reroutes(enum config_protocol proto)
{
    struct cl *k = &fx.cl[0];
    struct config *next = &fx.cl[1].cfg;

    start_broker(NULL);
    cfg_base(&k->cfg, "reload");
    k->cfg.mqtt.protocol = proto;
    add_sub(&k->cfg, "a", "u/a", 1, "");
    add_sub(&k->cfg, "b", "u/b", 1, "");
    cl_start(k);
    cl_wait_ready(k);

    *next = k->cfg;
    next->n_subs = 0;
    add_sub(next, "b", "u/b", 1, "");
    add_sub(next, "c", "u/c", 1, "");
    add_sub(next, "end", "u/end", 1, "");
    cr_assert(mqtt_is_subscribed(&k->c));
    cr_assert_eq(mqtt_update_subscriptions(&k->c, k->c.cfg, next), 0);
    cr_assert(!mqtt_is_subscribed(&k->c));
    cr_assert_eq(run_loop_until(&fx.loop, cl_is_subscribed, k, UP_MS), 0);
    /* Two SUBACKs at connect; then the moved b, the new c and end. */
    cr_assert_eq(k->c.subs.subacks, 5);
    open_pub(1);
    send_acked("u/a", "a", 1);
    send_acked("u/b", "b", 1);
    send_acked("u/c", "c", 1);
    send_acked("u/end", "end", 3);
    cr_assert_eq(run_loop_until(&fx.loop, got_topic, "u/end", MSG_MS), 0);

    cr_assert_null(find_topic(k, "u/a"), "still subscribed to u/a");
    cr_assert_eq(find_topic(k, "u/b")->sub, 0);
    cr_assert_eq(find_topic(k, "u/c")->sub, 1);
    cr_assert_eq(find_topic(k, "u/end")->sub, 2);
    cr_assert_eq(k->n, 3);
}

Test(mqtt, update_subscriptions_reroutes_v5)
{
    update_reroutes(PROTOCOL_V5);
}

Test(mqtt, update_subscriptions_reroutes_v311)
{
    update_reroutes(PROTOCOL_V311);
}

/*
 * A reload while the broker is down, with a persistent session the broker
 * keeps on disk: after the restart the client subscribes the new set and
 * unsubscribes the filter it dropped, which the session still held.
 */
Test(mqtt, update_while_disconnected_applies_on_reconnect)
{
    struct cl *k = &fx.cl[0];
    struct config *next = &fx.cl[1].cfg;

    start_broker(NULL);
    cfg_base(&k->cfg, "reload-off");
    k->cfg.mqtt.clean_session = false;
    add_sub(&k->cfg, "a", "u/a", 1, "");
    cl_start(k);
    cl_wait_ready(k);
    cr_assert_eq(broker_halt(&fx.b), 0);
    cr_assert_eq(run_loop_until(&fx.loop, cl_is_down, k, UP_MS), 0);

    *next = k->cfg;
    next->n_subs = 0;
    add_sub(next, "c", "u/c", 1, "");
    add_sub(next, "end", "u/end", 1, "");
    cr_assert_eq(mqtt_update_subscriptions(&k->c, k->c.cfg, next), 0);
    cr_assert_eq(broker_restart(&fx.b), 0);
    /* One SUBACK before, two after the reconnect. */
    cr_assert_eq(run_loop_until(&fx.loop, subacks_reach, (void *) 3, UP_MS), 0);
    cr_assert(mqtt_is_connected(&k->c));
    open_pub(1);
    send_acked("u/a", "a", 1);
    send_acked("u/c", "c", 1);
    send_acked("u/end", "end", 3);
    cr_assert_eq(run_loop_until(&fx.loop, got_topic, "u/end", MSG_MS), 0);
    cr_assert_null(find_topic(k, "u/a"), "u/a not unsubscribed");
    cr_assert_eq(find_topic(k, "u/c")->sub, 0);
    cr_assert_eq(k->n, 2);
}

/* ---- TLS ---------------------------------------------------------------- */

/* A CA and a server certificate for localhost / 127.0.0.1 in fx.dir. */
static void make_certs(void)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd),
             "(cd %s && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n'"
             " > ext.cnf && "
             "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt "
             "-days 2 -subj /CN=sp-test-ca && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -keyout srv.key -out srv.csr -subj /CN=localhost && "
             "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key "
             "-CAcreateserial -out srv.crt -days 2 -extfile ext.cnf && "
             "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -keyout other.key "
             "-out other.crt -days 2 -subj /CN=other-ca) >/dev/null 2>&1",
             fx.dir);
    cr_assert_eq(system(cmd), 0, "openssl failed");
}

/* The broker's first listener speaks TLS; a second, plain one (port in
 * *plain) serves the publisher. */
static void start_tls_broker(int *plain)
{
    char extra[1024];

    make_certs();
    *plain = broker_free_port();
    cr_assert_gt(*plain, 0);
    snprintf(extra, sizeof(extra),
             "cafile %s/ca.crt\ncertfile %s/srv.crt\nkeyfile %s/srv.key\n"
             "listener %d 127.0.0.1",
             fx.dir, fx.dir, fx.dir, *plain);
    start_broker(extra);
}

static void cfg_tls(struct cl *k, const char *ca)
{
    cfg_base(&k->cfg, "tls");
    snprintf(k->cfg.mqtt.host, sizeof(k->cfg.mqtt.host), "localhost");
    snprintf(k->cfg.mqtt.tls_ca_file, sizeof(k->cfg.mqtt.tls_ca_file), "%s/%s",
             fx.dir, ca);
    add_sub(&k->cfg, "t", "tls/#", 1, "");
}

/* Over TLS, with a pause: bytes OpenSSL holds must not wait for poll. */
Test(mqtt, tls_receives_and_resumes)
{
    enum { N = 200 };
    struct cl *k = &fx.cl[0];
    int plain;

    start_tls_broker(&plain);
    cfg_tls(k, "ca.crt");
    cl_start(k);
    cl_wait_ready(k);
    mqtt_pause(&k->c);
    cr_assert_eq(pub_open(&fx.pub, plain, "pub", 1), 0);
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(pub_sendf(fx.pub, "tls/x", "%u", i), 0);
    cr_assert_eq(pub_wait_acked(fx.pub, MSG_MS), 0);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 200), -ETIMEDOUT);
    cr_assert_eq(k->n, 0);
    mqtt_resume(&k->c);
    wait_msgs(k, N);
    for (unsigned i = 0; i < N; i++) {
        char want[16];

        snprintf(want, sizeof(want), "%u", i);
        cr_assert_arr_eq(k->rx[i].payload, want, strlen(want));
    }
}

Test(mqtt, tls_with_wrong_ca_never_connects)
{
    struct cl *k = &fx.cl[0];
    int plain;
    struct attempts_arg a = {k, 3};

    start_tls_broker(&plain);
    cfg_tls(k, "other.crt");
    cl_start(k);
    cr_assert_eq(run_loop_until(&fx.loop, attempts_reach, &a, 5000), 0);
    cr_assert_eq(k->ups, 0);
    cr_assert(!mqtt_is_connected(&k->c));
    cr_assert_eq(log_count("mqtt: cannot connect to localhost:"), 1);
    cr_assert_eq(log_count("certificate verify failed"), 1,
                 "OpenSSL's reason missing");
}

/*
 * More QoS 0 messages than one read pass may take (READ_BUDGET is 256)
 * wait in the socket while paused; after resume all arrive, in order,
 * although no new bytes come to wake poll up.
 */
static void burst_after_pause(bool tls)
{
    enum { N = 1500 };
    struct cl *k = &fx.cl[0];
    struct pub *p0 = NULL;
    int port;

    if (tls) {
        start_tls_broker(&port);
        cfg_tls(k, "ca.crt");
    } else {
        start_broker(NULL);
        port = fx.b.port;
        cfg_base(&k->cfg, "burst");
        add_sub(&k->cfg, "b", "tls/#", 0, "");
    }
    k->cfg.subs[0].qos = 0;
    cl_start(k);
    cl_wait_ready(k);
    mqtt_pause(&k->c);
    cr_assert_eq(pub_open(&p0, port, "pub0", 0), 0);
    fx.pub = p0;
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(pub_sendf(p0, "tls/x", "%u", i), 0);
    cr_assert_eq(pub_wait_acked(p0, MSG_MS), 0);
    cr_assert_eq(run_loop_until(&fx.loop, NULL, NULL, 200), -ETIMEDOUT);
    cr_assert_eq(k->n, 0);
    mqtt_resume(&k->c);
    wait_msgs(k, N);
    for (unsigned i = 0; i < N; i++) {
        char want[16];

        snprintf(want, sizeof(want), "%u", i);
        cr_assert_eq(k->rx[i].len, strlen(want));
        cr_assert_arr_eq(k->rx[i].payload, want, strlen(want), "message %u", i);
    }
}

Test(mqtt, burst_larger_than_read_budget_after_pause)
{
    burst_after_pause(false);
}

Test(mqtt, tls_burst_larger_than_read_budget_after_pause)
{
    burst_after_pause(true);
}
