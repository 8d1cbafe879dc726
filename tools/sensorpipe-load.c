/*
 * sensorpipe-load.c - MQTT load generator and null subscriber, for the
 * benchmarks (scripts/bench.sh) and for demos.
 *
 *   sensorpipe-load [-h HOST] [-p PORT] [-n COUNT | -d SECONDS] [-r RATE]
 *                   [-s SERIES] [-q QOS] [-f json|number|influx]
 *                   [-c CLIENTS] [--payload-ts] [--quiet] [--csv FILE]
 *   sensorpipe-load --subscribe [-n COUNT] [-d IDLE_SECONDS] [-q QOS] ...
 *
 * Publisher: CLIENTS connections publish COUNT messages (or for SECONDS)
 * on the topics sensors/site{i % 10}/dev{i}, i < SERIES, as fast as the
 * connection takes them or at RATE messages/s, paced in bursts of about a
 * millisecond. A message counts as published once libmosquitto wrote it to
 * the socket (QoS 0) or the broker acknowledged it (QoS 1). Prints one line
 * a second unless --quiet, then the summary line
 *   load: published N messages in T s (R msg/s), qos Q, series S, cpu C s
 *
 * Subscriber (--subscribe): one connection subscribes to sensors/# and only
 * counts. Prints "subscribe: ready" once the subscription is acknowledged,
 * a line a second, and at the end
 *   subscribe: received N messages in T s (R msg/s), qos Q, cpu C s
 * where T runs from the first message to the last, and C is the CPU time
 * (user + system) the process used. It ends when COUNT
 * messages arrived, or when none arrived for IDLE_SECONDS (default 5).
 *
 * Exit status: 0 when every message was published (or, with -n, every
 * message arrived), 1 otherwise, 2 for a usage error.
 *
 * Threads: publisher mode runs one thread per client, each driving its
 * own libmosquitto connection in threaded mode (mosquitto_loop_start: the
 * library's thread writes the socket and runs the callbacks); the main
 * thread only reports. Subscriber mode is one thread driving libmosquitto
 * without its thread (poll + mosquitto_loop_read/write/misc), which saves
 * a select() per message.
 *
 * Invariants:
 *   - A client never has more than LOAD_WINDOW messages queued in
 *     libmosquitto and not yet written/acknowledged, so the queue (one
 *     allocation per message inside libmosquitto) stays bounded.
 *   - done <= sent for every client; the run ends only when they meet,
 *     or after LOAD_DRAIN_MS.
 *
 * Memory: the topic table (SERIES x LOAD_TOPIC_STRIDE bytes) and the
 * clients array are allocated at start; libmosquitto allocates per message.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "clock.h"
#include "config.h"
#include "loadgen.h"

#define LOAD_TOPIC_STRIDE 32 /* "sensors/site9/dev999999" + NUL */
#define LOAD_MAX_SERIES   1000000
#define LOAD_MAX_CLIENTS  64
#define LOAD_WINDOW_QOS0  20000 /* queued, not yet written, per client */
/* Unacknowledged QoS 1 messages: libmosquitto scans them all on every
 * PUBACK, so more costs more than it gains. */
#define LOAD_WINDOW_QOS1 1000
#define LOAD_BURST_NS    1000000 /* pacing: at most one sleep a ms */
#define LOAD_CONNECT_MS  10000
#define LOAD_DRAIN_MS    60000 /* wait for the last writes / PUBACKs */
#define LOAD_PAYLOAD_MAX 160
#define LOAD_KEEPALIVE_S 60
#define LOAD_READ_BURST  512 /* loop_read calls per poll wake-up */
#define LOAD_SUB_TOPIC   "sensors/#"
#define NS_PER_S         1000000000ull

/* The command line. Owner: main(); read-only once threads start. */
struct load_opts {
    const char *host;
    int port;
    uint64_t count;    /* 0 = not given */
    double duration_s; /* 0 = not given; idle timeout with --subscribe */
    double rate;       /* msgs/s over all clients; 0 = unpaced */
    unsigned series;
    int qos;
    enum config_format format;
    unsigned clients;
    bool payload_ts;
    bool subscribe;
    bool quiet;
    const char *csv;
};

/* The topic table. Owner: main(); read-only once threads start. */
static char *topics;
static size_t *topic_lens;

/*
 * One publishing connection. Owner: its thread; main() reads the atomics
 * to report and joins the thread.
 */
struct load_client {
    /* Set by main() before the thread starts. */
    const struct load_opts *o;
    unsigned index;
    uint64_t quota; /* messages to send; UINT64_MAX with -d only */
    double rate;    /* this client's share; 0 = unpaced */
    pthread_barrier_t *start;
    pthread_t thread;

    /* Owned by the client's thread. */
    struct mosquitto *mosq;
    uint64_t t0_ns; /* after the start barrier */

    /* Shared (atomic): written by the client's thread or libmosquitto's
     * thread, read by main(); relaxed, they are only counts. */
    _Atomic uint64_t sent;
    _Atomic uint64_t done;    /* written (QoS 0) or acknowledged (QoS 1) */
    _Atomic uint64_t wake_at; /* signal cv when done reaches it; 0 = no */
    pthread_mutex_t mu;       /* guards nothing but the cv wait */
    pthread_cond_t cv;
    _Atomic int connack; /* -1 until CONNACK */
    _Atomic bool lost;   /* the connection dropped: stop, report */
    _Atomic uint64_t end_ns;
    _Atomic bool failed;
};

/* The subscriber. Owner: main()'s thread (its only thread). */
struct load_sub {
    const struct load_opts *o;
    struct mosquitto *mosq;
    bool ready;
    bool lost;
    uint64_t received;
    uint64_t first_ns;
    uint64_t last_ns;
};

/* One per-second report. Owner: the caller. */
struct load_tick {
    FILE *csv;
    const char *what; /* "published", "received" */
    uint64_t t0_ns;
    uint64_t prev;
    unsigned t_s;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sensorpipe-load [-h HOST] [-p PORT] [-n COUNT] "
            "[-d SECONDS] [-r RATE]\n"
            "         [-s SERIES] [-q 0|1] [-f json|number|influx] "
            "[-c CLIENTS]\n"
            "         [--payload-ts] [--subscribe] [--quiet] [--csv FILE]\n"
            "  -n COUNT     messages to publish (or to await with "
            "--subscribe)\n"
            "  -d SECONDS   publish for this long (--subscribe: idle "
            "timeout, default 5)\n"
            "  -r RATE      messages/s over all clients, 0 = as fast as "
            "possible\n"
            "  -s SERIES    distinct topics sensors/site{i%%10}/dev{i}, "
            "default 100\n"
            "  --payload-ts the publish time (ms) in the payload (json, "
            "influx)\n"
            "  --subscribe  count what arrives on " LOAD_SUB_TOPIC "\n"
            "  --csv FILE   per-second rows: t_s,count,rate\n"
            "Without -n and -d, 100000 messages are published.\n");
}

/* ---- options --------------------------------------------------------- */

static int parse_double(const char *s, double hi, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Long options without a short form. */
enum { OPT_PAYLOAD_TS = 256, OPT_SUBSCRIBE, OPT_QUIET, OPT_CSV, OPT_HELP };

static int apply_opt(struct load_opts *o, int c, const char *arg)
{
    uint64_t v = 0;
    int rc = 0;

    switch (c) {
    case 'h':
        o->host = arg;
        break;
    case 'p':
        rc = loadgen_parse_u64(arg, 1, 65535, &v);
        o->port = (int) v;
        break;
    case 'n':
        rc = loadgen_parse_u64(arg, 1, UINT64_MAX / 2, &o->count);
        break;
    case 'd':
        rc = parse_double(arg, 86400.0 * 365, &o->duration_s);
        break;
    case 'r':
        rc = parse_double(arg, 1e9, &o->rate);
        break;
    case 's':
        rc = loadgen_parse_u64(arg, 1, LOAD_MAX_SERIES, &v);
        o->series = (unsigned) v;
        break;
    case 'q':
        rc = loadgen_parse_u64(arg, 0, 1, &v);
        o->qos = (int) v;
        break;
    case 'f':
        rc = loadgen_parse_format(arg, &o->format);
        break;
    case 'c':
        rc = loadgen_parse_u64(arg, 1, LOAD_MAX_CLIENTS, &v);
        o->clients = (unsigned) v;
        break;
    default:
        rc = -EINVAL;
    }
    return rc;
}

static int apply_flag(struct load_opts *o, int c, const char *arg)
{
    switch (c) {
    case OPT_PAYLOAD_TS:
        o->payload_ts = true;
        return 0;
    case OPT_SUBSCRIBE:
        o->subscribe = true;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    case OPT_CSV:
        o->csv = arg;
        return 0;
    default:
        return apply_opt(o, c, arg);
    }
}

static int check_opts(struct load_opts *o)
{
    if (o->payload_ts && o->format == FORMAT_NUMBER) {
        fprintf(stderr, "sensorpipe-load: --payload-ts needs -f json or "
                        "influx (a bare number carries no time)\n");
        return -EINVAL;
    }
    if (o->subscribe && o->duration_s == 0)
        o->duration_s = 5;
    if (!o->subscribe && o->count == 0 && o->duration_s == 0)
        o->count = 100000;
    if (!o->subscribe && o->count > 0 && o->count < o->clients)
        o->clients = (unsigned) o->count;
    return 0;
}

/* Returns: 0, 1 after --help, -EINVAL (message printed). */
static int parse_opts(struct load_opts *o, int argc, char **argv)
{
    static const struct option longs[] = {
        {"payload-ts", no_argument, NULL, OPT_PAYLOAD_TS},
        {"subscribe", no_argument, NULL, OPT_SUBSCRIBE},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"csv", required_argument, NULL, OPT_CSV},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = 1883;
    o->series = 100;
    o->clients = 1;
    while ((c = getopt_long(argc, argv, "h:p:n:d:r:s:q:f:c:", longs, NULL)) !=
           -1) {
        if (c == OPT_HELP) {
            usage(stdout);
            return 1;
        }
        if (c == '?' || apply_flag(o, c, optarg) < 0) {
            if (c != '?')
                fprintf(stderr, "sensorpipe-load: bad value '%s' for -%c\n",
                        optarg, c < 256 ? c : '-');
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sensorpipe-load: unexpected '%s'\n", argv[optind]);
        return -EINVAL;
    }
    return check_opts(o);
}

/* ---- payloads -------------------------------------------------------- */

static int topics_init(unsigned series)
{
    topics = malloc((size_t) series * LOAD_TOPIC_STRIDE);
    topic_lens = malloc((size_t) series * sizeof(*topic_lens));
    if (topics == NULL || topic_lens == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < series; i++) {
        int n = snprintf(topics + (size_t) i * LOAD_TOPIC_STRIDE,
                         LOAD_TOPIC_STRIDE, "sensors/site%u/dev%u", i % 10, i);
        topic_lens[i] = (size_t) n;
    }
    return 0;
}

/* Appends v in decimal at p; returns the end. */
/* Writes message seq's payload for series i into buf; returns its length. */
static size_t make_payload(const struct load_opts *o, uint64_t seq, unsigned i,
                           char *buf)
{
    uint64_t ts_ns = 0;

    if (o->payload_ts) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts_ns = (uint64_t) ts.tv_sec * NS_PER_S + (uint64_t) ts.tv_nsec;
    }
    return (size_t) (loadgen_payload(o->format, seq, i, ts_ns, buf) - buf);
}

/* ---- publisher ------------------------------------------------------- */

static void sleep_until_ns(uint64_t t_ns)
{
    struct timespec ts = {(time_t) (t_ns / NS_PER_S), (long) (t_ns % NS_PER_S)};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void sleep_ns(uint64_t ns)
{
    sleep_until_ns(clock_mono_ns() + ns);
}

static void on_pub_connect(struct mosquitto *m, void *obj, int rc)
{
    struct load_client *c = obj;

    (void) m;
    atomic_store_explicit(&c->connack, rc, memory_order_release);
}

static void on_pub_publish(struct mosquitto *m, void *obj, int mid)
{
    struct load_client *c = obj;
    uint64_t d = atomic_load_explicit(&c->done, memory_order_relaxed) + 1;

    (void) m;
    (void) mid;
    /* Only libmosquitto's thread writes done. Seq_cst with wake_at: either
     * the waiter sees this done, or we see its wake_at. */
    atomic_store(&c->done, d);
    if (atomic_load(&c->wake_at) == d) {
        pthread_mutex_lock(&c->mu);
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
}

static void on_pub_disconnect(struct mosquitto *m, void *obj, int rc)
{
    struct load_client *c = obj;

    (void) m;
    if (rc != 0) { /* not our own mosquitto_disconnect() */
        atomic_store(&c->lost, true);
        pthread_mutex_lock(&c->mu);
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
}

/* Connects and waits for the CONNACK. Returns: 0 or -ECONNREFUSED. */
static int client_open(struct load_client *c)
{
    char id[48];
    uint64_t deadline = clock_mono_ns() + LOAD_CONNECT_MS * 1000000ull;

    snprintf(id, sizeof(id), "sp-load-%d-%u", (int) getpid(), c->index);
    c->mosq = mosquitto_new(id, true, c);
    if (c->mosq == NULL)
        return -ENOMEM;
    mosquitto_connect_callback_set(c->mosq, on_pub_connect);
    mosquitto_publish_callback_set(c->mosq, on_pub_publish);
    mosquitto_disconnect_callback_set(c->mosq, on_pub_disconnect);
    /* Our own window bounds what is in flight, not libmosquitto's 20. */
    (void) mosquitto_max_inflight_messages_set(c->mosq, 0);
    if (mosquitto_connect(c->mosq, c->o->host, c->o->port, LOAD_KEEPALIVE_S) !=
            MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(c->mosq) != MOSQ_ERR_SUCCESS)
        return -ECONNREFUSED;
    while (atomic_load_explicit(&c->connack, memory_order_acquire) < 0) {
        if (clock_mono_ns() > deadline)
            return -ETIMEDOUT;
        sleep_ns(1000000);
    }
    return atomic_load(&c->connack) == 0 ? 0 : -ECONNREFUSED;
}

/*
 * Waits until done reaches target. Returns: true; false when the
 * connection dropped or LOAD_DRAIN_MS passed without reaching it.
 */
static bool client_wait_done(struct load_client *c, uint64_t target)
{
    uint64_t deadline = clock_mono_ns() + LOAD_DRAIN_MS * 1000000ull;
    bool ok = true;

    pthread_mutex_lock(&c->mu);
    atomic_store(&c->wake_at, target);
    while (atomic_load(&c->done) < target) {
        uint64_t t = clock_mono_ns() + 2000000; /* a missed wake costs 2 ms */
        struct timespec ts = {(time_t) (t / NS_PER_S), (long) (t % NS_PER_S)};
        if (t > deadline || atomic_load(&c->lost)) {
            ok = atomic_load(&c->done) >= target;
            break;
        }
        (void) pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    atomic_store(&c->wake_at, 0);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/*
 * Before message k: false once -d SECONDS is over; in rate mode, sleeps
 * until k is due, in bursts of about LOAD_BURST_NS. Unpaced, the clock is
 * read only every 1024 messages.
 */
static bool client_may_send(const struct load_client *c, uint64_t k)
{
    uint64_t now;
    uint64_t due;

    if (c->rate <= 0 && (k & 1023) != 0)
        return true;
    now = clock_mono_ns();
    if (c->o->duration_s > 0 &&
        now - c->t0_ns >= (uint64_t) (c->o->duration_s * 1e9))
        return false;
    if (c->rate <= 0)
        return true;
    due = c->t0_ns + (uint64_t) ((double) k * 1e9 / c->rate);
    if (due > now)
        sleep_until_ns(due > now + LOAD_BURST_NS ? due : now + LOAD_BURST_NS);
    return true;
}

/*
 * The publishing loop. Returns: 0; -EIO when libmosquitto refused a
 * message; -ECONNRESET when the connection dropped or stalled.
 */
static int client_publish(struct load_client *c)
{
    const struct load_opts *o = c->o;
    char payload[LOAD_PAYLOAD_MAX];
    uint64_t window = o->qos == 0 ? LOAD_WINDOW_QOS0 : LOAD_WINDOW_QOS1;
    uint64_t k;

    for (k = 0; k < c->quota; k++) {
        uint64_t seq = k * o->clients + c->index;
        unsigned i = (unsigned) (seq % o->series);
        size_t len = make_payload(o, seq, i, payload);
        if (!client_may_send(c, k))
            break;
        if (k - atomic_load_explicit(&c->done, memory_order_relaxed) >=
                window &&
            !client_wait_done(c, k - window + window / 8))
            return -ECONNRESET;
        if (mosquitto_publish(
                c->mosq, NULL, topics + (size_t) i * LOAD_TOPIC_STRIDE,
                (int) len, payload, o->qos, false) != MOSQ_ERR_SUCCESS)
            return -EIO;
        atomic_store_explicit(&c->sent, k + 1, memory_order_relaxed);
    }
    return 0;
}

static void *client_main(void *arg)
{
    struct load_client *c = arg;
    int rc = client_open(c);
    uint64_t sent;

    if (rc < 0)
        atomic_store(&c->failed, true);
    /* Every client passes the barrier, connected or not, so none hangs. */
    pthread_barrier_wait(c->start);
    c->t0_ns = clock_mono_ns();
    if (rc == 0)
        rc = client_publish(c);
    sent = atomic_load(&c->sent);
    if (rc < 0 || !client_wait_done(c, sent))
        atomic_store(&c->failed, true);
    atomic_store(&c->end_ns, clock_mono_ns());
    if (c->mosq != NULL) {
        (void) mosquitto_disconnect(c->mosq);
        (void) mosquitto_loop_stop(c->mosq, rc < 0);
        mosquitto_destroy(c->mosq);
    }
    return NULL;
}

/* ---- reporting ------------------------------------------------------- */

/* One line a second on stdout (unless quiet) and one CSV row. */
static void tick_report(struct load_tick *t, const struct load_opts *o,
                        uint64_t total)
{
    double rate = (double) (total - t->prev);

    t->t_s++;
    if (!o->quiet)
        printf("%s: t=%us %s=%" PRIu64 " rate=%.0f/s\n",
               o->subscribe ? "subscribe" : "load", t->t_s, t->what, total,
               rate);
    if (t->csv != NULL)
        fprintf(t->csv, "%u,%" PRIu64 ",%.0f\n", t->t_s, total, rate);
    fflush(stdout);
    t->prev = total;
}

static int tick_open(struct load_tick *t, const struct load_opts *o,
                     const char *what)
{
    memset(t, 0, sizeof(*t));
    t->what = what;
    t->t0_ns = clock_mono_ns();
    if (o->csv == NULL)
        return 0;
    t->csv = fopen(o->csv, "w");
    if (t->csv == NULL) {
        fprintf(stderr, "sensorpipe-load: cannot write %s: %s\n", o->csv,
                strerror(errno));
        return -errno;
    }
    fprintf(t->csv, "t_s,%s,rate\n", what);
    return 0;
}

static void tick_close(struct load_tick *t)
{
    if (t->csv != NULL)
        fclose(t->csv);
    t->csv = NULL;
}

/* User + system CPU time of this process, all threads. */
static double cpu_seconds(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double rate_of(uint64_t n, double secs)
{
    return secs > 0 ? (double) n / secs : 0;
}

/* ---- publisher: main thread ------------------------------------------ */

static void clients_setup(struct load_client *cl, const struct load_opts *o,
                          pthread_barrier_t *start)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (unsigned i = 0; i < o->clients; i++) {
        struct load_client *c = &cl[i];
        c->o = o;
        c->index = i;
        c->start = start;
        c->quota = o->count == 0 ? UINT64_MAX
                                 : o->count / o->clients +
                                       (i < o->count % o->clients ? 1 : 0);
        c->rate = o->rate / o->clients;
        atomic_init(&c->connack, -1);
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, &ca);
    }
    pthread_condattr_destroy(&ca);
}

/* What a publishing run did. Owner: run_publish(). */
struct load_result {
    uint64_t done;
    uint64_t end_ns; /* when the last client finished */
    bool failed;
};

static bool clients_running(struct load_client *cl, unsigned n,
                            struct load_result *r)
{
    bool running = false;

    r->done = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t e = atomic_load(&cl[i].end_ns);
        r->done += atomic_load_explicit(&cl[i].done, memory_order_relaxed);
        r->failed = r->failed || atomic_load(&cl[i].failed);
        running = running || e == 0;
        if (e > r->end_ns)
            r->end_ns = e;
    }
    return running;
}

/* Reports every second until every client ended. */
static void publish_watch(struct load_client *cl, const struct load_opts *o,
                          struct load_tick *t, struct load_result *r)
{
    uint64_t next = t->t0_ns + NS_PER_S;

    while (clients_running(cl, o->clients, r)) {
        if (clock_mono_ns() >= next) {
            tick_report(t, o, r->done);
            next += NS_PER_S;
        }
        sleep_ns(10000000);
    }
}

static void publish_summary(const struct load_opts *o,
                            const struct load_tick *t,
                            const struct load_result *r)
{
    double secs =
        r->end_ns > t->t0_ns ? (double) (r->end_ns - t->t0_ns) / 1e9 : 0;

    printf("load: published %" PRIu64 " messages in %.3f s (%.0f msg/s), "
           "qos %d, series %u, cpu %.2f s\n",
           r->done, secs, rate_of(r->done, secs), o->qos, o->series,
           cpu_seconds());
    if (r->failed)
        fprintf(stderr, "sensorpipe-load: not every message was published "
                        "(connection refused, lost or not acknowledged)\n");
}

static int run_publish(const struct load_opts *o)
{
    struct load_client *cl = calloc(o->clients, sizeof(*cl));
    struct load_result r = {0, 0, false};
    pthread_barrier_t start;
    struct load_tick t;
    unsigned started = 0;

    if (cl == NULL || topics_init(o->series) < 0 ||
        tick_open(&t, o, "published") < 0) {
        free(cl);
        return 1;
    }
    pthread_barrier_init(&start, NULL, o->clients + 1);
    clients_setup(cl, o, &start);
    while (started < o->clients &&
           pthread_create(&cl[started].thread, NULL, client_main,
                          &cl[started]) == 0)
        started++;
    if (started < o->clients) {
        fprintf(stderr, "sensorpipe-load: cannot start threads\n");
        exit(1); /* the started ones wait on the barrier for ever */
    }
    pthread_barrier_wait(&start);
    t.t0_ns = clock_mono_ns();
    publish_watch(cl, o, &t, &r);
    for (unsigned i = 0; i < o->clients; i++)
        pthread_join(cl[i].thread, NULL);
    tick_close(&t);
    publish_summary(o, &t, &r);
    pthread_barrier_destroy(&start);
    free(cl);
    return r.failed ? 1 : 0;
}

/* ---- subscriber ------------------------------------------------------ */

static void on_sub_connect(struct mosquitto *m, void *obj, int rc)
{
    struct load_sub *s = obj;

    if (rc != 0 || mosquitto_subscribe(m, NULL, LOAD_SUB_TOPIC, s->o->qos) !=
                       MOSQ_ERR_SUCCESS)
        s->lost = true;
}

static void on_sub_subscribe(struct mosquitto *m, void *obj, int mid, int n,
                             const int *granted)
{
    struct load_sub *s = obj;

    (void) m;
    (void) mid;
    if (n < 1 || granted[0] > 2) {
        s->lost = true;
        return;
    }
    s->ready = true;
    printf("subscribe: ready on %s, qos %d\n", LOAD_SUB_TOPIC, granted[0]);
    fflush(stdout);
}

static void on_sub_message(struct mosquitto *m, void *obj,
                           const struct mosquitto_message *msg)
{
    struct load_sub *s = obj;

    (void) m;
    (void) msg;
    if (s->received == 0)
        s->first_ns = clock_mono_ns();
    s->received++;
}

static int sub_open(struct load_sub *s)
{
    char id[48];

    snprintf(id, sizeof(id), "sp-sub-%d", (int) getpid());
    s->mosq = mosquitto_new(id, true, s);
    if (s->mosq == NULL)
        return -ENOMEM;
    mosquitto_connect_callback_set(s->mosq, on_sub_connect);
    mosquitto_subscribe_callback_set(s->mosq, on_sub_subscribe);
    mosquitto_message_callback_set(s->mosq, on_sub_message);
    if (mosquitto_connect(s->mosq, s->o->host, s->o->port, LOAD_KEEPALIVE_S) !=
        MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "sensorpipe-load: cannot connect to %s:%d\n",
                s->o->host, s->o->port);
        return -ECONNREFUSED;
    }
    return 0;
}

/*
 * One wake-up: poll, then read packets until a read brings no message
 * (libmosquitto reads one packet per call and says nothing about what is
 * left). Returns: 0 or -ECONNRESET.
 */
static int sub_step(struct load_sub *s, int timeout_ms)
{
    struct pollfd pfd = {mosquitto_socket(s->mosq), POLLIN, 0};
    int rc = MOSQ_ERR_SUCCESS;

    if (mosquitto_want_write(s->mosq))
        pfd.events |= POLLOUT;
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
        return -errno;
    for (int i = 0; i < LOAD_READ_BURST && (pfd.revents & POLLIN) &&
                    rc == MOSQ_ERR_SUCCESS;
         i++) {
        uint64_t before = s->received;
        rc = mosquitto_loop_read(s->mosq, 1);
        if (s->received == before)
            break;
    }
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(s->mosq))
        rc = mosquitto_loop_write(s->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_misc(s->mosq);
    return rc == MOSQ_ERR_SUCCESS && !s->lost ? 0 : -ECONNRESET;
}

/* Runs until COUNT arrived or IDLE seconds pass without a message. */
static int sub_run(struct load_sub *s, struct load_tick *t)
{
    const struct load_opts *o = s->o;
    uint64_t idle_ns = (uint64_t) (o->duration_s * 1e9);
    uint64_t next = clock_mono_ns() + NS_PER_S;
    uint64_t seen = 0;
    uint64_t active = clock_mono_ns();

    while (o->count == 0 || s->received < o->count) {
        uint64_t now;
        if (sub_step(s, 100) < 0)
            return -ECONNRESET;
        now = clock_mono_ns();
        if (s->received != seen) {
            seen = s->received;
            active = s->last_ns = now;
        }
        if (now >= next && s->ready) {
            tick_report(t, o, s->received);
            next += NS_PER_S;
        }
        if (now - active > idle_ns)
            break;
    }
    return 0;
}

static int run_subscribe(const struct load_opts *o)
{
    struct load_sub s = {.o = o};
    struct load_tick t;
    double secs;
    int rc;

    if (tick_open(&t, o, "received") < 0)
        return 1;
    rc = sub_open(&s);
    if (rc == 0)
        rc = sub_run(&s, &t);
    tick_close(&t);
    secs = s.received > 1 ? (double) (s.last_ns - s.first_ns) / 1e9 : 0;
    printf("subscribe: received %" PRIu64 " messages in %.3f s (%.0f "
           "msg/s), qos %d, cpu %.2f s\n",
           s.received, secs, rate_of(s.received, secs), o->qos, cpu_seconds());
    if (rc < 0)
        fprintf(stderr, "sensorpipe-load: connection to %s:%d lost\n", o->host,
                o->port);
    if (s.mosq != NULL) {
        (void) mosquitto_disconnect(s.mosq);
        mosquitto_destroy(s.mosq);
    }
    return rc < 0 || (o->count > 0 && s.received < o->count) ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct load_opts o;
    int rc = parse_opts(&o, argc, argv);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    (void) mosquitto_lib_init();
    rc = o.subscribe ? run_subscribe(&o) : run_publish(&o);
    mosquitto_lib_cleanup();
    free(topics);
    free(topic_lens);
    return rc;
}
