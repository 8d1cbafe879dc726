/*
 * sensorpipe-bench.c - the daemon's pipeline without the network: synthetic
 * messages from memory through the real code, stage by stage and end to
 * end.
 *
 *   sensorpipe-bench [-n COUNT] [-s SERIES] [-f json|number|influx]
 *                    [-w WORKERS] [--stage all|decode|series|ring|store|
 *                    pipeline|none] [--dir DIR] [--csv FILE]
 *
 * The feed: COUNT messages on SERIES topics sensors/site{i % 10}/dev{i},
 * payloads as sensorpipe-load --payload-ts makes them (json
 * {"ts":MS,"temp":V,"seq":N} with timestamp_field ts and fields temp, so one
 * sample a message; influx "m,dev=i temp=V,seq=N NS", two samples; number
 * "V", one sample at the receive time). Times advance as a live feed of
 * BENCH_FEED_RATE messages/s would, so buckets move on. Every payload is
 * made before any clock starts.
 *
 * Stages (each prints one row of a markdown table: msgs/s and ns/msg):
 *   decode    decode_payload() alone.
 *   series    decode + series_find/series_add + bucket_acc_add, as the
 *             worker does it (a bucket change resets the partial where the
 *             worker would hand it off).
 *   ring      worker_push() into an ingress ring + ring_next/ring_release,
 *             one thread (the copy, without the cross-core transfer).
 *   store     store_merge_partial() in transactions of batch_rows; the
 *             row is per partial (every configured resolution), not per
 *             message.
 *   pipeline  the daemon's own pipeline (pipeline_init/pipeline_start:
 *             WORKERS workers and a writer with a real store on a
 *             temporary file); this thread plays the loop and routes each
 *             message with route_message(), as the daemon's MQTT callback
 *             does (overflow = pause: wait while a ring is full). The
 *             clock stops once every
 *             worker drained and the writer committed everything (the
 *             clean-stop path), and the stored sum(count) of the finest
 *             rollups is checked against the samples the workers kept.
 *   none      only makes the feed: scripts/bench.sh subtracts its
 *             instruction count from the others'.
 *
 * Exit status: 0, 1 when a stage fails or the check does not add up, 2 for
 * a usage error.
 *
 * Threads: main() plays the loop thread (THREAD_LOOP) for the ring and
 * pipeline stages and the writer (THREAD_WRITER) for the store stage; the
 * pipeline stage starts WORKERS worker threads and one writer thread.
 * Invariants: the feed is read-only once made; every stage uses its own
 * store file.
 * Memory: the feed (about 60 bytes a message) and the pipeline's own
 * preallocation (pipeline_plan()), all made before the clocks start.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include <uv.h>

#include "bucket.h"
#include "clock.h"
#include "config.h"
#include "decode.h"
#include "loadgen.h"
#include "log.h"
#include "pipeline.h"
#include "ring.h"
#include "route.h"
#include "series.h"
#include "stats.h"
#include "store.h"
#include "thread.h"
#include "worker.h"
#include "writer.h"

#define BENCH_FEED_RATE   300 /* feed messages per ms of payload time */
#define BENCH_TOPIC_MAX   32
#define BENCH_MAX_SERIES  1000000
#define BENCH_MAX_COUNT   50000000
#define BENCH_RING_BATCH  256 /* records between releases, as a worker */
#define BENCH_STORE_SHARE 10  /* store stage: one partial per 10 msgs */
#define BENCH_PARTIAL_MIN 1000

/* The command line. Owner: main(). */
struct bench_opts {
    uint64_t count;
    unsigned series;
    enum config_format format;
    unsigned workers;
    const char *stage;
    const char *dir;
    const char *csv;
};

/* Every message of the run, made up front. Owner: main(); read-only. */
struct bench_feed {
    uint64_t n;
    unsigned series;
    char *topics; /* series x BENCH_TOPIC_MAX */
    size_t *topic_lens;
    char *text;            /* payloads, each followed by '\0' */
    size_t *off;           /* n + 1 offsets into text */
    unsigned samples_each; /* samples one message yields */
};

/* One result row. Owner: the caller. */
struct bench_row {
    const char *stage;
    uint64_t ops;
    uint64_t ns;
};

/* The daemon's pipeline and router, built by pipeline.c and route.c as the
 * daemon builds them; this thread plays the loop. Owner: main(). */
struct bench_pipe {
    struct pipeline pipe;
    struct route route;
    uv_loop_t loop;
    uv_async_t wake;     /* sent by workers and route_pause(); nobody waits */
    unsigned since_wake; /* routed since the last route_wake_workers() */
    bool opened;
};

static struct config cfg; /* large: static, like the daemon's */
static FILE *csv_out;

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sensorpipe-bench [-n COUNT] [-s SERIES] "
            "[-f json|number|influx] [-w WORKERS]\n"
            "         [--stage all|decode|series|ring|store|pipeline|none] "
            "[--dir DIR] [--csv FILE]\n");
}

static bool stage_known(const char *s)
{
    static const char *const names[] = {"all",   "decode",   "series", "ring",
                                        "store", "pipeline", "none"};

    for (size_t i = 0; i < SP_ARRAY_SIZE(names); i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

enum { OPT_STAGE = 256, OPT_DIR, OPT_CSV, OPT_HELP };

static int apply_opt(struct bench_opts *o, int c, const char *arg)
{
    uint64_t v = 0;
    int rc = 0;

    switch (c) {
    case 'n':
        rc = loadgen_parse_u64(arg, 1, BENCH_MAX_COUNT, &o->count);
        break;
    case 's':
        rc = loadgen_parse_u64(arg, 1, BENCH_MAX_SERIES, &v);
        o->series = (unsigned) v;
        break;
    case 'f':
        rc = loadgen_parse_format(arg, &o->format);
        break;
    case 'w':
        rc = loadgen_parse_u64(arg, 1, 64, &v);
        o->workers = (unsigned) v;
        break;
    case OPT_STAGE:
        o->stage = arg;
        rc = stage_known(arg) ? 0 : -EINVAL;
        break;
    case OPT_DIR:
        o->dir = arg;
        break;
    case OPT_CSV:
        o->csv = arg;
        break;
    default:
        rc = -EINVAL;
    }
    return rc;
}

/* Returns: 0, 1 after --help, -EINVAL (message printed). */
static int parse_opts(struct bench_opts *o, int argc, char **argv)
{
    static const struct option longs[] = {
        {"stage", required_argument, NULL, OPT_STAGE},
        {"dir", required_argument, NULL, OPT_DIR},
        {"csv", required_argument, NULL, OPT_CSV},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->count = 1000000;
    o->series = 100;
    o->format = FORMAT_JSON;
    o->workers = 2;
    o->stage = "all";
    while ((c = getopt_long(argc, argv, "n:s:f:w:", longs, NULL)) != -1) {
        if (c == OPT_HELP) {
            usage(stdout);
            return 1;
        }
        if (c == '?' || apply_opt(o, c, optarg) < 0) {
            if (c != '?')
                fprintf(stderr, "sensorpipe-bench: bad value '%s'\n", optarg);
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

/* ---- the feed ----------------------------------------------------------- */

static char *make_payload(enum config_format f, uint64_t k, unsigned i,
                          int64_t ts_ms, char *p)
{
    return loadgen_payload(f, k, i, (uint64_t) ts_ms * 1000000u, p);
}

static int feed_topics(struct bench_feed *fd, unsigned series)
{
    fd->series = series;
    fd->topics = malloc((size_t) series * BENCH_TOPIC_MAX);
    fd->topic_lens = malloc((size_t) series * sizeof(size_t));
    if (fd->topics == NULL || fd->topic_lens == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < series; i++)
        fd->topic_lens[i] = (size_t) snprintf(
            fd->topics + (size_t) i * BENCH_TOPIC_MAX, BENCH_TOPIC_MAX,
            "sensors/site%u/dev%u", i % 10, i);
    return 0;
}

/* Makes every message of the run. Returns: 0 or -ENOMEM. */
static int feed_make(struct bench_feed *fd, const struct bench_opts *o)
{
    int64_t t0 = clock_now_ms();
    char *p;

    memset(fd, 0, sizeof(*fd));
    fd->n = o->count;
    fd->samples_each = o->format == FORMAT_INFLUX ? 2 : 1;
    if (feed_topics(fd, o->series) < 0)
        return -ENOMEM;
    fd->text = malloc(o->count * 64); /* the longest payload is < 64 */
    fd->off = malloc((o->count + 1) * sizeof(size_t));
    if (fd->text == NULL || fd->off == NULL)
        return -ENOMEM;
    p = fd->text;
    for (uint64_t k = 0; k < o->count; k++) {
        int64_t ts = t0 + (int64_t) (k / BENCH_FEED_RATE);
        fd->off[k] = (size_t) (p - fd->text);
        p = make_payload(o->format, k, (unsigned) (k % o->series), ts, p);
        *p++ = '\0';
    }
    fd->off[o->count] = (size_t) (p - fd->text);
    return 0;
}

static void feed_free(struct bench_feed *fd)
{
    free(fd->topics);
    free(fd->topic_lens);
    free(fd->text);
    free(fd->off);
}

/* Message k's topic, payload and payload length. */
static const char *feed_topic(const struct bench_feed *fd, uint64_t k,
                              size_t *len)
{
    unsigned i = (unsigned) (k % fd->series);

    *len = fd->topic_lens[i];
    return fd->topics + (size_t) i * BENCH_TOPIC_MAX;
}

static const char *feed_payload(const struct bench_feed *fd, uint64_t k,
                                size_t *len)
{
    *len = fd->off[k + 1] - fd->off[k] - 1;
    return fd->text + fd->off[k];
}

/* Message k as the loop hands it to a worker (subscription 0). */
static void feed_msg(const struct bench_feed *fd, uint64_t k, int64_t recv_ms,
                     struct worker_msg *m)
{
    m->recv_ms = recv_ms;
    m->sub_index = 0;
    m->topic = feed_topic(fd, k, &m->topic_len);
    m->payload = feed_payload(fd, k, &m->payload_len);
    m->topic_hash = series_topic_hash(m->topic, m->topic_len);
}

/* ---- configuration and output ------------------------------------------ */

static void config_setup(const struct bench_opts *o, const char *dir)
{
    struct config_sub *sub = &cfg.subs[0];

    config_defaults(&cfg);
    cfg.n_subs = 1;
    snprintf(sub->name, sizeof(sub->name), "bench");
    snprintf(sub->topic, sizeof(sub->topic), "sensors/#");
    sub->qos = 0;
    sub->format = o->format;
    if (o->format == FORMAT_JSON) {
        snprintf(sub->timestamp_field, sizeof(sub->timestamp_field), "ts");
        snprintf(sub->fields[0], sizeof(sub->fields[0]), "temp");
        sub->n_fields = 1;
    }
    cfg.pipeline.workers = o->workers;
    cfg.pipeline.max_series = o->series * 2 + 16;
    cfg.log.stats_interval_s = 0;
    snprintf(cfg.store.path, sizeof(cfg.store.path), "%s/pipeline.db", dir);
}

static void row_print(const struct bench_row *r)
{
    double s = (double) r->ns / 1e9;
    double per_s = s > 0 ? (double) r->ops / s : 0;
    double ns_op = r->ops ? (double) r->ns / (double) r->ops : 0;

    printf("| %-44s | %10" PRIu64 " | %11.0f | %8.1f |\n", r->stage, r->ops,
           per_s, ns_op);
    if (csv_out != NULL)
        fprintf(csv_out, "%s,%" PRIu64 ",%.0f,%.1f\n", r->stage, r->ops, per_s,
                ns_op);
    fflush(stdout);
}

/* ---- stages: decode, series --------------------------------------------- */

static int stage_decode(const struct bench_feed *fd, struct decode_out *out)
{
    struct bench_row r = {"decode only", fd->n, 0};
    uint64_t t0 = clock_mono_ns();
    uint64_t bad = 0;

    for (uint64_t k = 0; k < fd->n; k++) {
        size_t len;
        const char *p = feed_payload(fd, k, &len);
        bad += decode_payload(&cfg.subs[0], p, len, out) != DECODE_OK;
    }
    r.ns = clock_mono_ns() - t0;
    row_print(&r);
    if (bad > 0)
        fprintf(stderr, "sensorpipe-bench: %" PRIu64 " payloads failed\n", bad);
    return bad > 0 ? -EINVAL : 0;
}

/* One sample into its series' partial, as worker.c add_sample() does. */
static int series_sample(struct series_table *t, const char *topic,
                         size_t topic_len, const struct decode_sample *s,
                         int64_t recv_ms)
{
    int64_t finest_ms = (int64_t) cfg.aggregate.resolutions_s[0] * 1000;
    int64_t ts = s->ts_ms == DECODE_NO_TIME ? recv_ms : s->ts_ms;
    struct series_key key = {topic, topic_len, s->field, s->field_len,
                             series_topic_hash(topic, topic_len)};
    struct series_entry *e;
    int64_t b;

    e = series_find(t, &key);
    if (e == NULL && series_add(t, &key, 0, &e) < 0)
        return -ENOSPC;
    b = bucket_start_ms(ts, finest_ms);
    /* Where the worker hands the partial off to the writer. */
    if (e->partial.count > 0 && e->bucket_ms != b)
        bucket_acc_reset(&e->partial);
    if (e->partial.count == 0) {
        e->bucket_ms = b;
        e->first_recv_ms = recv_ms;
    }
    bucket_acc_add(&e->partial, ts, s->value);
    series_mark_dirty(t, e);
    return 0;
}

static int series_run(const struct bench_feed *fd, struct series_table *t,
                      struct decode_out *out)
{
    struct bench_row r = {"decode + series registry + bucket", fd->n, 0};
    uint64_t t0 = clock_mono_ns();
    int64_t recv_ms = clock_now_ms();
    int rc = 0;

    for (uint64_t k = 0; k < fd->n && rc == 0; k++) {
        size_t tlen;
        size_t plen;
        const char *topic = feed_topic(fd, k, &tlen);
        const char *p = feed_payload(fd, k, &plen);
        if (decode_payload(&cfg.subs[0], p, plen, out) != DECODE_OK)
            rc = -EINVAL;
        for (unsigned i = 0; i < out->n && rc == 0; i++)
            rc = series_sample(t, topic, tlen, &out->samples[i], recv_ms);
    }
    r.ns = clock_mono_ns() - t0;
    row_print(&r);
    return rc;
}

static int stage_series(const struct bench_feed *fd, struct decode_out *out)
{
    struct series_limit limit;
    struct series_table t;
    struct pipeline_plan plan;
    int rc;

    pipeline_plan(&cfg, &plan);
    limit.max = cfg.pipeline.max_series;
    atomic_init(&limit.count, 0);
    atomic_init(&limit.next_id, 1);
    rc = series_table_init(&t, plan.series_cap, plan.arena_bytes, &limit);
    if (rc < 0)
        return rc;
    rc = series_run(fd, &t, out);
    if (rc == 0 && t.n != fd->series * fd->samples_each) {
        fprintf(stderr, "sensorpipe-bench: %u series, expected %u\n", t.n,
                fd->series * fd->samples_each);
        rc = -EINVAL;
    }
    series_table_fini(&t);
    return rc;
}

/* ---- the pipeline's pieces ---------------------------------------------- */

static void hook_nothing(void *ctx)
{
    (void) ctx;
}

static int pipe_open(struct bench_pipe *p)
{
    static const struct route_hooks hooks = {hook_nothing, hook_nothing, NULL,
                                             NULL};
    int rc;

    uv_loop_init(&p->loop);
    uv_async_init(&p->loop, &p->wake, NULL);
    p->opened = true;
    rc = pipeline_init(&p->pipe, &cfg, &p->wake);
    if (rc < 0)
        return rc;
    route_init(&p->route, &p->pipe, &hooks);
    return pipeline_open_store(&p->pipe);
}

/* Routes message k as the daemon's MQTT callback does (route_message()).
 * 64 messages stand for a read burst here, after which the router wakes
 * workers as the daemon's does; the loop's resume check follows. */
static void pipe_route(struct bench_pipe *p, const struct bench_feed *fd,
                       uint64_t k)
{
    struct mqtt_msg m = {0};

    m.topic = feed_topic(fd, k, &m.topic_len);
    m.payload = feed_payload(fd, k, &m.payload_len);
    m.sub_index = 0;
    route_message(&p->route, &m);
    if (++p->since_wake == 64) {
        p->since_wake = 0;
        /* The feed never pauses, so the daemon's tail timer never fires. */
        route_wake_workers(&p->route, clock_mono_ms());
        route_maybe_resume(&p->route);
    }
}

/* The clean stop: workers drain and hand off, the writer commits all. */
static void pipe_stop(struct bench_pipe *p)
{
    route_wake_pending(&p->route);
    pipeline_request_stop(&p->pipe);
    (void) pipeline_join(&p->pipe, false);
}

static void pipe_close(struct bench_pipe *p)
{
    if (!p->opened)
        return;
    pipeline_fini(&p->pipe);
    uv_close((uv_handle_t *) &p->wake, NULL);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    (void) uv_loop_close(&p->loop);
}

/* ---- stages: ring, pipeline --------------------------------------------- */

/* Consumes everything in w's ingress ring, as a worker's drain_batch(). */
static uint64_t ring_drain(struct worker *w)
{
    size_t cur = ring_cursor(&w->ingress);
    const struct ingress_rec *r;
    uint64_t bytes = 0;
    size_t len;

    while ((r = ring_next(&w->ingress, &cur, &len)) != NULL)
        bytes += r->payload_len;
    ring_release(&w->ingress, cur);
    return bytes;
}

static int stage_ring(const struct bench_feed *fd, struct bench_pipe *p)
{
    struct bench_row r = {"ring copy (worker_push + next/release)", fd->n, 0};
    struct worker *w = &p->pipe.workers[0];
    uint64_t t0 = clock_mono_ns();
    uint64_t bytes = 0;
    int rc = 0;

    for (uint64_t k = 0; k < fd->n && rc == 0; k++) {
        struct worker_msg m;
        feed_msg(fd, k, 0, &m);
        rc = worker_push(w, &m);
        if (rc == -ENOSPC || (k + 1) % BENCH_RING_BATCH == 0) {
            bytes += ring_drain(w);
            if (rc == -ENOSPC)
                rc = worker_push(w, &m);
        }
    }
    bytes += ring_drain(w);
    r.ns = clock_mono_ns() - t0;
    row_print(&r);
    return rc < 0 || bytes != fd->off[fd->n] - fd->n ? -EIO : 0;
}

/* sum(count) of the finest rollups, read on a connection of its own. */
static int64_t stored_samples(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_open_v2(cfg.store.path, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT coalesce(sum(count), 0) FROM rollups "
                           "WHERE resolution_s = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, (int) cfg.aggregate.resolutions_s[0]);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Prints what the pipeline did and checks that it adds up. */
static int pipe_check(const struct bench_feed *fd, struct bench_pipe *p)
{
    struct stats_snapshot s;
    int64_t stored = stored_samples();
    uint64_t want = fd->n * fd->samples_each;

    pipeline_snapshot(&p->pipe, &s);
    printf("bench: pipeline: %u worker(s), %" PRIu64 " messages, %" PRIu64
           " samples kept, %" PRIu64
           " egress records (series + partials) in %" PRIu64
           " commits (%.3f per message), stored sum(count) at %us = "
           "%" PRId64 "\n",
           p->pipe.n_workers, s.v[STAT_RECEIVED], s.v[STAT_SAMPLES],
           s.v[STAT_ROWS_WRITTEN], s.v[STAT_COMMITS],
           (double) s.v[STAT_ROWS_WRITTEN] / (double) fd->n,
           cfg.aggregate.resolutions_s[0], stored);
    if (s.v[STAT_SAMPLES] != want || stored != (int64_t) want) {
        fprintf(stderr,
                "sensorpipe-bench: pipeline check failed: %" PRIu64
                " samples expected, workers kept %" PRIu64
                ", store has %" PRId64 "\n",
                want, s.v[STAT_SAMPLES], stored);
        return -EIO;
    }
    return 0;
}

static int stage_pipeline(const struct bench_feed *fd, struct bench_pipe *p)
{
    char name[64];
    struct bench_row r = {name, fd->n, 0};
    uint64_t t0;
    unsigned n = p->pipe.n_workers;
    int rc = pipeline_start(&p->pipe);

    snprintf(name, sizeof(name), "pipeline end to end (%u worker%s, SQLite)", n,
             n == 1 ? "" : "s");
    t0 = clock_mono_ns();
    for (uint64_t k = 0; k < fd->n && rc == 0; k++)
        pipe_route(p, fd, k);
    pipe_stop(p);
    r.ns = clock_mono_ns() - t0;
    if (rc < 0 || pipeline_failed(&p->pipe) != 0)
        return -EIO;
    row_print(&r);
    return pipe_check(fd, p);
}

/* ---- stage: store ------------------------------------------------------- */

/* n partials over the feed's series, buckets moving on as they would. */
static int store_run(struct store *st, uint64_t n, unsigned series, int64_t t0)
{
    int64_t finest = (int64_t) cfg.aggregate.resolutions_s[0] * 1000;
    unsigned batch = cfg.store.batch_rows;
    struct bucket_acc acc;
    int rc = 0;

    for (uint64_t i = 0; i < n && rc == 0; i++) {
        int64_t b =
            bucket_start_ms(t0, finest) + (int64_t) (i / series) * finest;
        if (i % batch == 0)
            rc = store_begin(st);
        bucket_acc_reset(&acc);
        bucket_acc_add(&acc, b + 100, (double) (i % 1000) / 10);
        bucket_acc_add(&acc, b + 200, (double) (i % 999) / 10);
        if (rc == 0)
            rc = store_merge_partial(st, (int64_t) (i % series) + 1, b, &acc);
        if (rc == 0 && (i + 1 == n || (i + 1) % batch == 0))
            rc = store_commit(st);
    }
    if (rc < 0)
        store_rollback(st);
    return rc;
}

static int stage_store(const struct bench_feed *fd, const char *dir)
{
    static char label[64];
    uint64_t n = fd->n / BENCH_STORE_SHARE;
    struct bench_row r = {label, 0, 0};
    struct store st;
    uint64_t t0;
    int rc;

    memset(&st, 0, sizeof(st));
    snprintf(cfg.store.path, sizeof(cfg.store.path), "%s/store.db", dir);
    rc = store_open(&st, &cfg);
    if (rc < 0)
        return rc;
    snprintf(label, sizeof(label), "store merge per partial (%u res, batch %u)",
             st.n_res, cfg.store.batch_rows);
    r.ops = n < BENCH_PARTIAL_MIN ? BENCH_PARTIAL_MIN : n;
    thread_set_role(THREAD_WRITER, NULL);
    t0 = clock_mono_ns();
    rc = store_run(&st, r.ops, fd->series, clock_now_ms());
    r.ns = clock_mono_ns() - t0;
    thread_set_role(THREAD_ANY, NULL);
    store_close(&st);
    if (rc == 0)
        row_print(&r);
    snprintf(cfg.store.path, sizeof(cfg.store.path), "%s/pipeline.db", dir);
    return rc;
}

/* ---- main --------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static bool want(const struct bench_opts *o, const char *stage)
{
    return strcmp(o->stage, "all") == 0 || strcmp(o->stage, stage) == 0;
}

static int run_stages(const struct bench_opts *o, const struct bench_feed *fd,
                      const char *dir)
{
    static struct decode_out out; /* large, as the worker's */
    static struct bench_pipe pipe;
    int rc = 0;

    if (want(o, "decode"))
        rc = stage_decode(fd, &out);
    if (rc == 0 && want(o, "series"))
        rc = stage_series(fd, &out);
    if (rc == 0 && want(o, "store"))
        rc = stage_store(fd, dir);
    if (rc == 0 && (want(o, "ring") || want(o, "pipeline")))
        rc = pipe_open(&pipe);
    thread_set_role(THREAD_LOOP, NULL);
    if (rc == 0 && want(o, "ring"))
        rc = stage_ring(fd, &pipe);
    if (rc == 0 && want(o, "pipeline"))
        rc = stage_pipeline(fd, &pipe);
    pipe_close(&pipe);
    return rc;
}

static void table_head(const struct bench_opts *o, const struct bench_feed *fd)
{
    printf("bench: %" PRIu64 " %s messages, %u series, %u sample(s) each, "
           "sqlite %s\n\n",
           fd->n, config_format_str(o->format), fd->series, fd->samples_each,
           sqlite3_libversion());
    printf("| %-44s | %10s | %11s | %8s |\n", "stage", "count", "per s",
           "ns each");
    printf("|----------------------------------------------|-----------:|"
           "------------:|---------:|\n");
    if (csv_out != NULL)
        fprintf(csv_out, "stage,count,per_s,ns_each\n");
}

int main(int argc, char **argv)
{
    char dir[256] = "/tmp/sp-bench-XXXXXX";
    static struct bench_feed fd;
    struct bench_opts o;
    int rc = parse_opts(&o, argc, argv);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (o.dir != NULL)
        snprintf(dir, sizeof(dir), "%s", o.dir);
    else if (mkdtemp(dir) == NULL) {
        perror("sensorpipe-bench: mkdtemp");
        return 1;
    }
    log_init(LOG_WARNING);
    config_setup(&o, dir);
    if (o.csv != NULL && (csv_out = fopen(o.csv, "w")) == NULL) {
        perror("sensorpipe-bench: csv");
        return 1;
    }
    rc = feed_make(&fd, &o);
    if (rc == 0) {
        table_head(&o, &fd);
        rc = run_stages(&o, &fd, dir);
    }
    if (rc < 0)
        fprintf(stderr, "sensorpipe-bench: failed: %s\n", strerror(-rc));
    if (csv_out != NULL)
        fclose(csv_out);
    feed_free(&fd);
    if (o.dir == NULL)
        (void) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc < 0 ? 1 : 0;
}
