/*
 * daemon.c - the daemon's life: settings, start-up, signals, reload,
 * stats and watchdog, stop.
 *
 * Threads: the main thread runs the libuv loop (THREAD_LOOP): MQTT, signals,
 * timers, and the router (route.c), which the MQTT client calls for every
 * message. The pipeline (pipeline.c) builds, starts and joins the workers
 * and the writer.
 *
 * Stop (SIGTERM/SIGINT): stop reading MQTT and disconnect cleanly; then
 * each worker drains its ring and hands off every open bucket; then the
 * writer commits what is left and ends. Nothing received is lost.
 *
 * Memory: pipeline_plan() sizes everything from the settings; all of it is
 * allocated before the threads start and logged. The message path
 * allocates nothing (libmosquitto's own receive buffers aside).
 */
#include "daemon.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include "check.h"
#include "clock.h"
#include "config_value.h"
#include "log.h"
#include "mqtt.h"
#include "mqtt_sub.h"
#include "pipeline.h"
#include "route.h"
#include "series.h"
#include "stats.h"
#include "store.h"
#include "subrec.h"
#include "thread.h"

#define HEARTBEAT_MIN_MS 2000
#define HEARTBEAT_MAX_MS 10000

/* The whole daemon. Owner: the loop thread (one static instance). */
struct daemon {
    /* Ordered for no padding (clang-analyzer's optimal order): the cache-line
     * aligned member first, then pointers and 64-bit fields, handles, the
     * large structs, the flags last. */
    struct subrec subrec;  /* the broker's subscriptions, kept in the store */
    struct pipeline *pipe; /* the_pipeline */
    uint64_t watchdog_usec;
    uint64_t last_snap_ms;
    uv_check_t wake_check; /* after each I/O burst: wake fed workers */
    uv_async_t wake;       /* workers: ring drained; writer: fatal */
    struct route route;
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_signal_t sig_hup;
    uv_timer_t stats_timer;
    uv_timer_t watchdog_timer;
    uv_timer_t reload_timer; /* while a reload waits for empty rings */
    uv_timer_t sub_timer;    /* until every SUBACK is in */
    uv_timer_t wake_timer;   /* one-shot: fed workers not yet woken */
    struct stats_snapshot last_snap;
    uv_loop_t loop;
    struct mqtt_client mqtt;
    struct config cfg;
    struct config next_cfg; /* the file as re-read by SIGHUP */
    int exit_code;
    bool stopping;
    bool reload_pending; /* new subscriptions wait for empty rings */
    bool reload_again;   /* SIGHUP while pending: reload once it is done */
    bool mqtt_up;
};

static struct daemon the_daemon;
static struct pipeline the_pipeline;

static double mib(size_t b)
{
    return (double) b / (1024.0 * 1024.0);
}

static void log_warning_line(void *ctx, const char *line)
{
    (void) ctx;
    log_warn("%s", line);
}

/* ---- message path (loop thread): route.c ------------------------------- */

static void on_route_pause(void *ctx)
{
    struct daemon *d = ctx;

    mqtt_pause(&d->mqtt);
}

static void on_route_resume(void *ctx)
{
    struct daemon *d = ctx;

    mqtt_resume(&d->mqtt);
}

static void watchdog_ping(struct daemon *d);

/* A push waits for a worker (backpressure, not a hang): keep pinging. */
static void on_route_waiting(void *ctx)
{
    watchdog_ping(ctx);
}

static void maybe_resume(struct daemon *d)
{
    if (d->stopping || d->reload_pending)
        return;
    route_maybe_resume(&d->route);
}

static void on_message(void *ctx, const struct mqtt_msg *m)
{
    struct daemon *d = ctx;

    route_message(&d->route, m);
}

/* Watches for the SUBACKs after a (re)connect or a reload, then says so:
 * from that moment on the broker routes every matching message to us. */
static void on_sub_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;

    if (!mqtt_is_connected(&d->mqtt)) {
        uv_timer_stop(t);
        return;
    }
    if (!mqtt_is_subscribed(&d->mqtt))
        return;
    uv_timer_stop(t);
    log_info("mqtt: subscribed to all %u subscriptions", d->cfg.n_subs);
    sd_notifyf(0, "STATUS=broker up, subscribed to %u subscriptions",
               d->cfg.n_subs);
}

static void watch_subscriptions(struct daemon *d)
{
    if (!d->stopping)
        uv_timer_start(&d->sub_timer, on_sub_timer, 0, 5);
}

static void on_wake_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;

    route_wake_pending(&d->route);
}

/* Once per loop iteration, after the I/O callbacks: fed workers are woken
 * in batches (route.c); the one-shot timer wakes those left when no burst
 * follows, so it fires only once traffic stops. */
static void on_wake_check(uv_check_t *h)
{
    struct daemon *d = h->data;

    if (route_wake_workers(&d->route, clock_mono_ms()))
        uv_timer_start(&d->wake_timer, on_wake_timer, ROUTE_WAKE_TAIL_MS, 0);
    else if (uv_is_active((uv_handle_t *) &d->wake_timer))
        uv_timer_stop(&d->wake_timer);
}

static void on_mqtt_state(void *ctx, bool connected)
{
    struct daemon *d = ctx;

    d->mqtt_up = connected;
    if (connected)
        watch_subscriptions(d);
}

/* ---- stats, watchdog, status --------------------------------------------- */

static double rate(const struct stats_snapshot *a,
                   const struct stats_snapshot *b, enum stats_counter k,
                   uint64_t ms)
{
    return ms ? (double) (a->v[k] - b->v[k]) * 1000.0 / (double) ms : 0;
}

static void report(struct daemon *d, bool log_line)
{
    struct stats_snapshot s;
    uint64_t now = clock_mono_ms();
    uint64_t ms = now - d->last_snap_ms;
    uint64_t dropped;
    char totals[512];
    unsigned series =
        atomic_load_explicit(&d->pipe->limit.count, memory_order_relaxed);

    /* A long pause counts as it goes, not only when it ends. */
    route_account_pause(&d->route);
    pipeline_snapshot(d->pipe, &s);
    dropped = s.v[STAT_DROPPED_OVERFLOW] + s.v[STAT_DROPPED_OVERSIZE] +
              s.v[STAT_DROPPED_INVALID] + s.v[STAT_DROPPED_SERIES_LIMIT];
    sd_notifyf(0,
               "STATUS=rx %.1f/s, samples %.1f/s, dropped %llu, series %u, "
               "broker %s",
               rate(&s, &d->last_snap, STAT_RECEIVED, ms),
               rate(&s, &d->last_snap, STAT_SAMPLES, ms),
               (unsigned long long) dropped, series,
               d->mqtt_up ? "up" : "down");
    if (log_line) {
        stats_format_totals(&s, totals, sizeof(totals));
        log_info("stats: rx=%.1f/s decoded=%.1f/s samples=%.1f/s %s "
                 "series=%u ring_high_water=%.0f%% "
                 "commit_p50=%.1fms commit_p99=%.1fms retention_lag=%.1fs "
                 "broker=%s",
                 rate(&s, &d->last_snap, STAT_RECEIVED, ms),
                 rate(&s, &d->last_snap, STAT_DECODED, ms),
                 rate(&s, &d->last_snap, STAT_SAMPLES, ms), totals, series,
                 route_take_high_water(&d->route),
                 (double) atomic_load(&d->pipe->writer.p50_us) / 1000.0,
                 (double) atomic_load(&d->pipe->writer.p99_us) / 1000.0,
                 (double) atomic_load(&d->pipe->writer.retention_lag_ms) /
                     1000.0,
                 d->mqtt_up ? "up" : "down");
    }
    d->last_snap = s;
    d->last_snap_ms = now;
}

static void on_stats_timer(uv_timer_t *t)
{
    report(t->data, true);
}

/* Idle threads beat at least once a second; a thread silent for longer
 * than the watchdog period (2..10 s) is stuck. */
static uint64_t stale_ms(const struct daemon *d)
{
    uint64_t stale = d->watchdog_usec / 1000;

    if (stale < HEARTBEAT_MIN_MS)
        stale = HEARTBEAT_MIN_MS;
    if (stale > HEARTBEAT_MAX_MS)
        stale = HEARTBEAT_MAX_MS;
    return stale;
}

/*
 * WATCHDOG=1 only while every worker and the writer make progress. Waiting
 * on backpressure counts: a worker waiting for egress space beats, and so
 * does the writer while it retries a full or locked store; a thread that
 * does neither for the watchdog period is stuck.
 */
static void watchdog_ping(struct daemon *d)
{
    if (d->watchdog_usec == 0)
        return;
    if (pipeline_progressing(d->pipe, clock_mono_ms(), stale_ms(d)))
        sd_notify(0, "WATCHDOG=1");
}

static void on_watchdog_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;

    watchdog_ping(d);
    maybe_resume(d);
    /* A subscription record that found the writer's queue full. */
    if (subrec_is_dirty(&d->subrec) && subrec_publish(&d->subrec) < 0)
        log_debug("mqtt: the subscription record still waits for room");
}

/* ---- stop ---------------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* MQTT is down: nothing more reaches the rings. Let the workers finish. */
static void on_mqtt_stopped(struct mqtt_client *c)
{
    struct daemon *d = c->ctx;

    /* Before the workers end: the writer stores it before it ends. */
    if (subrec_publish(&d->subrec) < 0)
        log_warn("mqtt: the record of the broker's subscriptions could not "
                 "be handed to the store at stop; the next start may "
                 "unsubscribe less");
    pipeline_request_stop(d->pipe);
    close_handle((uv_handle_t *) &d->sig_term);
    close_handle((uv_handle_t *) &d->sig_int);
    close_handle((uv_handle_t *) &d->sig_hup);
    close_handle((uv_handle_t *) &d->stats_timer);
    close_handle((uv_handle_t *) &d->watchdog_timer);
    close_handle((uv_handle_t *) &d->reload_timer);
    close_handle((uv_handle_t *) &d->sub_timer);
    close_handle((uv_handle_t *) &d->wake_check);
    close_handle((uv_handle_t *) &d->wake_timer);
    /* `wake` is unreferenced: it stays open until the threads are joined. */
}

/* A stop ends a reload still waiting for the rings: no READY=1 may follow
 * STOPPING=1, and the subscriptions are the broker's business no more. */
static void abandon_reload(struct daemon *d)
{
    if (!d->reload_pending)
        return;
    uv_timer_stop(&d->reload_timer);
    d->reload_pending = false;
    d->reload_again = false;
    log_notice("config: reload of %s abandoned: stopping before the rings "
               "drained; subscriptions unchanged",
               d->cfg.path);
}

static void begin_stop(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    abandon_reload(d);
    sd_notify(0, "STOPPING=1");
    log_notice("daemon: stopping (%s): draining rings and open buckets", why);
    writer_request_stop(&d->pipe->writer);
    /* Let the rings drain: the loop will not read again anyway. */
    route_release(&d->route);
    mqtt_stop(&d->mqtt, on_mqtt_stopped);
}

static void on_wake(uv_async_t *a)
{
    struct daemon *d = a->data;
    int fatal = pipeline_failed(d->pipe);

    if (fatal != 0 && d->exit_code == DAEMON_EXIT_OK) {
        log_crit("daemon: the store cannot be written (%s), exiting",
                 strerror(-fatal));
        d->exit_code = DAEMON_EXIT_RUNTIME;
        begin_stop(d, "store failure");
        return;
    }
    maybe_resume(d);
}

/* ---- signals ------------------------------------------------------------- */

/* Byte equality of two sections: config_load() starts from a zeroed
 * struct (config_defaults), so padding compares equal too. */
static bool same(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

/* [store] without the retention keys, which apply live. */
static bool same_store(const struct config_store *a,
                       const struct config_store *b)
{
    struct config_store x = *a;

    memcpy(x.retention_ms, b->retention_ms, sizeof(x.retention_ms));
    x.raw_retention_ms = b->raw_retention_ms;
    return same(&x, b, sizeof(x));
}

/* Names the sections whose changes only a restart applies. */
static void note_restart_needed(const struct config *a, const struct config *b)
{
    if (!same(&a->mqtt, &b->mqtt, sizeof(a->mqtt)))
        log_notice("config: changes in [mqtt] need a restart");
    if (!same(&a->pipeline, &b->pipeline, sizeof(a->pipeline)))
        log_notice("config: changes in [pipeline] need a restart");
    if (!same(&a->aggregate, &b->aggregate, sizeof(a->aggregate)))
        log_notice("config: changes in [aggregate] need a restart");
    if (!same_store(&a->store, &b->store))
        log_notice("config: changes in [store] other than retention need a "
                   "restart");
    if (a->log.stats_interval_s != b->log.stats_interval_s)
        log_notice("config: a new stats_interval_s needs a restart");
}

/* The position of a resolution of res_s seconds in agg, or -1. */
static int find_resolution(const struct config *cfg, unsigned res_s)
{
    for (unsigned i = 0; i < cfg->aggregate.n_resolutions; i++)
        if (cfg->aggregate.resolutions_s[i] == res_s)
            return (int) i;
    return -1;
}

/* One retention value: taken from the file when it changed, logged. */
static bool take_one(uint64_t *run_ms, uint64_t next_ms, const char *what)
{
    char keep[32];

    if (*run_ms == next_ms)
        return false;
    *run_ms = next_ms;
    if (next_ms == 0)
        snprintf(keep, sizeof(keep), "forever");
    else
        units_format_duration(next_ms, keep, sizeof(keep));
    log_notice("config: %s now kept %s", what, keep);
    return true;
}

/*
 * Takes the reloaded retention into the running settings, each entry by
 * the resolution it names: the running resolutions stay until a restart,
 * so an entry for a resolution that does not run yet waits for the restart
 * too, and a running resolution the file no longer lists keeps its
 * retention. The running settings are what the next reload compares with.
 * Returns true when anything changed.
 */
static bool take_retention(struct config *run, const struct config *next)
{
    unsigned n = run->aggregate.n_resolutions;
    bool changed = take_one(&run->store.raw_retention_ms,
                            next->store.raw_retention_ms, "raw samples are");
    char what[64];
    int j;

    for (unsigned i = 0; i < n; i++) {
        unsigned res_s = run->aggregate.resolutions_s[i];
        j = find_resolution(next, res_s);
        if (j < 0)
            continue;
        snprintf(what, sizeof(what), "rollups of %u s are", res_s);
        changed |= take_one(&run->store.retention_ms[i],
                            next->store.retention_ms[j], what);
    }
    return changed;
}

static bool subs_differ(const struct config *a, const struct config *b)
{
    return a->n_subs != b->n_subs ||
           !same(a->subs, b->subs, sizeof(a->subs[0]) * a->n_subs);
}

static void reload(struct daemon *d);

/*
 * Second half of a reload that changes subscriptions: once every ingress
 * ring is empty no worker reads the subscription table, so it can be
 * replaced (a worker's release of its ring happens after its last read,
 * and our acquire of the tail orders the copy after that).
 */
static void finish_reload(struct daemon *d)
{
    static struct config prev;
    int rc;

    if (d->stopping)
        return;
    for (unsigned i = 0; i < d->pipe->n_workers; i++)
        if (!ring_is_empty(&d->pipe->workers[i].ingress))
            return;
    uv_timer_stop(&d->reload_timer);
    prev = d->cfg;
    memcpy(d->cfg.subs, d->next_cfg.subs, sizeof(d->cfg.subs));
    d->cfg.n_subs = d->next_cfg.n_subs;
    rc = mqtt_update_subscriptions(&d->mqtt, &prev, &d->cfg);
    if (rc < 0)
        log_err_errno(rc, "config: subscriptions not fully applied");
    d->reload_pending = false;
    log_notice("config: reloaded %s: %u subscriptions", d->cfg.path,
               d->cfg.n_subs);
    watch_subscriptions(d);
    sd_notify(0, "READY=1");
    if (d->reload_again) {
        d->reload_again = false;
        reload(d); /* may wait for the rings again, reading still paused */
    }
    maybe_resume(d);
}

static void on_reload_timer(uv_timer_t *t)
{
    finish_reload(t->data);
}

static void reload(struct daemon *d)
{
    char err[CONFIG_ERR_MAX];

    if (d->stopping) {
        log_notice("config: reload ignored: stopping");
        return;
    }
    if (d->reload_pending) {
        /* Coalesced: one more reload, of the file as it is then. */
        if (!d->reload_again)
            log_notice("config: reload requested while another waits for "
                       "the rings to drain: it follows");
        d->reload_again = true;
        return;
    }
    sd_notify(0, "RELOADING=1");
    if (config_load(&d->next_cfg, d->cfg.path, err, sizeof(err)) < 0) {
        log_err("config: reload refused, old settings kept: %s", err);
        sd_notify(0, "READY=1");
        return;
    }
    if (d->next_cfg.log.level != d->cfg.log.level) {
        log_set_level(d->next_cfg.log.level);
        log_notice("config: log level is now %s",
                   log_level_str(d->next_cfg.log.level));
        d->cfg.log.level = d->next_cfg.log.level;
    }
    note_restart_needed(&d->cfg, &d->next_cfg);
    if (take_retention(&d->cfg, &d->next_cfg))
        writer_set_retention(&d->pipe->writer, &d->cfg);
    if (!subs_differ(&d->cfg, &d->next_cfg)) {
        log_notice("config: reloaded %s", d->cfg.path);
        sd_notify(0, "READY=1");
        return;
    }
    /* Stop reading until the workers are done with the old table. */
    log_notice("config: reloading %s: subscriptions change once the rings "
               "drain",
               d->cfg.path);
    d->reload_pending = true;
    route_pause(&d->route);
    uv_timer_start(&d->reload_timer, on_reload_timer, 0, 5);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;

    if (signum == SIGHUP)
        reload(d);
    else
        begin_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- start-up ------------------------------------------------------------ */

static void start_handles(struct daemon *d)
{
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    uv_signal_init(&d->loop, &d->sig_hup);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
    uv_timer_init(&d->loop, &d->stats_timer);
    uv_timer_init(&d->loop, &d->watchdog_timer);
    uv_timer_init(&d->loop, &d->reload_timer);
    uv_timer_init(&d->loop, &d->sub_timer);
    uv_timer_init(&d->loop, &d->wake_timer);
    uv_check_init(&d->loop, &d->wake_check);
    d->wake_check.data = d->wake_timer.data = d;
    uv_check_start(&d->wake_check, on_wake_check);
    d->stats_timer.data = d->watchdog_timer.data = d;
    d->reload_timer.data = d->sub_timer.data = d;
    if (d->cfg.log.stats_interval_s > 0)
        uv_timer_start(&d->stats_timer, on_stats_timer,
                       d->cfg.log.stats_interval_s * 1000ull,
                       d->cfg.log.stats_interval_s * 1000ull);
    if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0)
        d->watchdog_usec = 0;
    /* Also the safety net for resuming a paused loop: once a second. */
    uv_timer_start(&d->watchdog_timer, on_watchdog_timer, 0,
                   d->watchdog_usec ? d->watchdog_usec / 2000 + 1 : 1000);
}

/* Test hook: SENSORPIPE_TEST_MAX_PAGES caps the file's size in pages, so
 * tests can fill the "disk" without a small file system. */
static void apply_test_page_limit(struct daemon *d)
{
    const char *pages = getenv("SENSORPIPE_TEST_MAX_PAGES");
    char sql[64];

    if (pages == NULL)
        return;
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
             strtoll(pages, NULL, 10));
    if (sqlite3_exec(d->pipe->store.db, sql, NULL, NULL, NULL) != SQLITE_OK)
        log_err("store: test page limit refused: %s",
                sqlite3_errmsg(d->pipe->store.db));
}

/*
 * The record of what the broker's persistent session holds for us, and
 * what the next CONNACK with the session present unsubscribes (logged now,
 * so the start log shows it).
 */
static int open_subscription_record(struct daemon *d)
{
    const struct subrec_entry *e;
    int rc = subrec_init(&d->subrec, d->cfg.mqtt.client_id);

    if (rc == 0)
        rc = subrec_load(&d->subrec, &d->pipe->store);
    if (rc < 0 || d->cfg.mqtt.clean_session)
        return rc;
    if (!subrec_is_known(&d->subrec))
        log_notice("mqtt: the store holds no record of earlier "
                   "subscriptions of client id %s: it starts with this run",
                   d->cfg.mqtt.client_id);
    for (unsigned i = 0; i < subrec_count(&d->subrec); i++) {
        e = subrec_entry(&d->subrec, i);
        if (!mqtt_sub_cfg_has_filter(&d->cfg, e->filter))
            log_notice("mqtt: %s (subscription '%s') is no longer in the "
                       "file: unsubscribed once the broker resumes the "
                       "session",
                       e->filter, e->name);
    }
    return 0;
}

/* Everything before the loop runs. Returns an exit status, OK to go on. */
static int start(struct daemon *d, const char *path)
{
    char err[CONFIG_ERR_MAX];
    struct pipeline_plan plan;
    int rc;

    if (config_load(&d->cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return DAEMON_EXIT_CONFIG;
    }
    log_init(d->cfg.log.level);
    /* Test hook: SENSORPIPE_TEST_HASH_SEED makes the hashes reproducible,
     * so tests can send keys that collide. */
    rc = series_hash_init(getenv("SENSORPIPE_TEST_HASH_SEED"));
    if (rc < 0) {
        log_err_errno(rc, "daemon: no random key for the hashes");
        return DAEMON_EXIT_RUNTIME;
    }
    /* Before the shards are allocated (and touched): a plan over the
     * limit is said before the kernel acts on it. */
    pipeline_plan(&d->cfg, &plan);
    check_memory_limit(&plan, 0, log_warning_line, NULL);
    uv_loop_init(&d->loop);
    uv_async_init(&d->loop, &d->wake, on_wake);
    d->wake.data = d;
    uv_unref((uv_handle_t *) &d->wake);
    rc = pipeline_init(d->pipe, &d->cfg, &d->wake);
    if (rc == 0) {
        const struct route_hooks hooks = {on_route_pause, on_route_resume,
                                          on_route_waiting, d};
        route_init(&d->route, d->pipe, &hooks);
        rc = pipeline_open_store(d->pipe);
    }
    if (rc == 0)
        rc = open_subscription_record(d);
    if (rc == 0)
        apply_test_page_limit(d);
    if (rc < 0) {
        log_err_errno(rc, "daemon: cannot start");
        return DAEMON_EXIT_RUNTIME;
    }
    log_notice("daemon: sensorpipe %s: store %s, %u series known, "
               "preallocated %.1f MiB (%u workers), SQLite heap limit "
               "%.1f MiB",
               SP_VERSION, d->cfg.store.path,
               atomic_load(&d->pipe->limit.count),
               mib(d->pipe->plan.total_bytes), d->pipe->plan.workers,
               mib(d->pipe->plan.sqlite_bytes));
    pipeline_plan_log(&d->pipe->plan);
    return DAEMON_EXIT_OK;
}

static int start_loop(struct daemon *d)
{
    int rc;

    rc = mqtt_init(&d->mqtt, &d->loop, &d->cfg, on_message, on_mqtt_state, d);
    if (rc < 0) {
        log_err_errno(rc, "mqtt: cannot set up the client");
        /* A bad or unreadable password file, TLS file or client id is
         * the operator's to fix: exit 2, so systemd does not loop. */
        return rc == -ENOMEM ? DAEMON_EXIT_RUNTIME : DAEMON_EXIT_CONFIG;
    }
    mqtt_set_record(&d->mqtt, &d->subrec);
    pipeline_record_subscriptions(d->pipe, &d->subrec);
    rc = pipeline_start(d->pipe);
    if (rc < 0) {
        log_err_errno(rc, "daemon: cannot start threads");
        return DAEMON_EXIT_RUNTIME;
    }
    start_handles(d);
    mqtt_start(&d->mqtt);
    sd_notify(0, "READY=1\nSTATUS=store open, connecting to the broker");
    d->last_snap_ms = clock_mono_ms();
    return DAEMON_EXIT_OK;
}

static void shut_down(struct daemon *d)
{
    struct stats_snapshot s;

    /* After a store failure the writer has ended; workers may be blocked
     * on full rings for good: those are left to end with the process
     * (detached), and systemd restarts it. */
    int fatal = pipeline_join(d->pipe, d->exit_code != DAEMON_EXIT_OK);

    /* The loop may have ended before the writer gave up (at stop). */
    if (fatal != 0 && d->exit_code == DAEMON_EXIT_OK) {
        log_crit("daemon: the store cannot be written, exiting");
        d->exit_code = DAEMON_EXIT_RUNTIME;
    }
    if (d->exit_code != DAEMON_EXIT_OK)
        return;
    uv_close((uv_handle_t *) &d->wake, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    mqtt_fini(&d->mqtt);
    (void) uv_loop_close(&d->loop);
    pipeline_snapshot(d->pipe, &s);
    pipeline_fini(d->pipe);
    log_notice("daemon: stopped: received=%llu decoded=%llu samples=%llu "
               "dropped=%llu",
               (unsigned long long) s.v[STAT_RECEIVED],
               (unsigned long long) s.v[STAT_DECODED],
               (unsigned long long) s.v[STAT_SAMPLES],
               (unsigned long long) (s.v[STAT_DROPPED_OVERFLOW] +
                                     s.v[STAT_DROPPED_OVERSIZE] +
                                     s.v[STAT_DROPPED_INVALID] +
                                     s.v[STAT_DROPPED_SERIES_LIMIT]));
    subrec_fini(&d->subrec);
}

int daemon_run(const char *path)
{
    struct daemon *d = &the_daemon;
    int rc;

    d->pipe = &the_pipeline;
    thread_set_role(THREAD_LOOP, NULL);
    rc = start(d, path);
    if (rc == DAEMON_EXIT_OK)
        rc = start_loop(d);
    if (rc != DAEMON_EXIT_OK) {
        store_close(&d->pipe->store);
        return rc;
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    shut_down(d);
    return d->exit_code;
}
