/*
 * test_scale.c - scaling out: two daemons in one MQTT 5 share group split a
 * QoS 1 load through one mosquitto (nothing lost, nothing doubled, each a
 * share, one of them stopped and restarted in the middle), and
 * `sensorpipe merge` of their stores equals, bucket by bucket, the store of
 * a third daemon subscribed to everything. The real daemon binary, a real
 * broker, real SQLite files.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "clock.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS  60000
#define N_TOPICS 24
#define FIELDS   2 /* samples per message */

enum { INST_A, INST_B, INST_REF, N_INST };

static struct broker broker;
static struct spawn sp[N_INST];
static char out_path[256];
static int64_t base_ms;
static long published;

static void setup(void)
{
    cr_assert_eq(broker_start(&broker, NULL), 0, "broker start");
    for (int i = 0; i < N_INST; i++)
        cr_assert_eq(spawn_init(&sp[i]), 0, "spawn init");
    snprintf(out_path, sizeof(out_path), "%s/merged.db", sp[INST_REF].dir);
    /* Whole 10 s buckets a while back, so no bucket is still open. */
    base_ms = (clock_now_ms() / 3600000 - 1) * 3600000;
}

static void teardown(void)
{
    for (int i = 0; i < N_INST; i++)
        spawn_suite_fini(&sp[i], NULL);
    broker_stop(&broker);
}

/* A daemon for this test's broker; share is "" for the reference. */
static void start(int i, const char *share)
{
    static const char *const names[] = {"a", "b", "ref"};
    char conf[2048];

    snprintf(conf, sizeof(conf),
             "[mqtt]\n"
             "host = 127.0.0.1\n"
             "port = %d\n"
             "client_id = sp-scale-%s-%d\n"
             "clean_session = false\n"
             "protocol = 5\n"
             "reconnect_min_ms = 50ms\n"
             "reconnect_max_ms = 500ms\n"
             "[subscription fleet]\n"
             "topic = fleet/#\n"
             "qos = 1\n"
             "format = json\n"
             "timestamp_field = ts\n"
             "topic_tags = fleet/{site}/{device}\n"
             "%s%s%s"
             "[pipeline]\n"
             "workers = 2\n"
             "ring_bytes = 1MiB\n"
             "max_series = 1000\n"
             "[aggregate]\n"
             "resolutions = 10s, 1m, 1h\n"
             "allowed_lateness = 1m\n"
             "max_clock_skew = 1d\n"
             "[store]\n"
             "path = %s\n"
             "commit_interval_ms = 100ms\n"
             "[log]\n"
             "stats_interval_s = 1s\n",
             broker.port, names[i], (int) getpid(),
             share[0] ? "share_group = " : "", share, share[0] ? "\n" : "",
             sp[i].db_path);
    cr_assert_eq(spawn_start_ready(&sp[i], conf, NULL, WAIT_MS), 0,
                 "daemon %s not ready", names[i]);
}

/* Messages m..m+n-1: topic fleet/s<k%3>/d<k>, two fields, a distinct
 * timestamp per message, values that add exactly in binary. */
static void publish_nowait(struct pub *p, long m, long n)
{
    for (long k = m; k < m + n; k++) {
        int t = (int) (k % N_TOPICS);
        char topic[64];
        snprintf(topic, sizeof(topic), "fleet/s%d/d%d", t % 3, t);
        cr_assert_eq(pub_sendf(p, topic,
                               "{\"ts\":%lld,\"temp\":%.2f,\"hum\":%ld}",
                               (long long) (base_ms + k * 37),
                               (double) (k % 400) * 0.25 - 20.0, k % 101),
                     0);
    }
    published += n;
}

static void publish(struct pub *p, long m, long n)
{
    publish_nowait(p, m, n);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0, "publisher not acked");
}

static int64_t stored(int i)
{
    int64_t n = spawn_stored(&sp[i], 10);
    return n < 0 ? 0 : n;
}

struct pair {
    int64_t want;
};

static bool shared_all(void *arg)
{
    const struct pair *p = arg;
    return stored(INST_A) + stored(INST_B) >= p->want;
}

static void await_shared(int64_t want)
{
    struct pair p = {want};
    cr_assert_eq(wait_until(shared_all, &p, WAIT_MS), 0,
                 "shared group stored %lld + %lld of %lld samples",
                 (long long) stored(INST_A), (long long) stored(INST_B),
                 (long long) want);
}

static void await_ref(int64_t want)
{
    cr_assert_eq(spawn_await_stored(&sp[INST_REF], 10, want, WAIT_MS), 0,
                 "reference stored %lld of %lld samples",
                 (long long) stored(INST_REF), (long long) want);
}

/* Runs the daemon binary's merge; returns its exit status. */
static int run_merge(const char *out, const char *in1, const char *in2)
{
    pid_t pid = fork();
    int status = 0;

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        execl(spawn_binary(), "sensorpipe", "merge", out, in1, in2,
              (char *) NULL);
        _exit(127);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Attaches the merged file and the reference in one connection. */
static int64_t compare(const char *sql_fmt)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *q;
    int64_t v = -1;

    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    q = sqlite3_mprintf("ATTACH %Q AS m; ATTACH %Q AS r;", out_path,
                        sp[INST_REF].db_path);
    cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_free(q);
    cr_assert_eq(sqlite3_prepare_v2(db, sql_fmt, -1, &st, NULL), SQLITE_OK,
                 "%s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Rows of a.rollups (with their series) that b lacks, every column. */
static int64_t missing_between(const char *a, const char *b)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM ("
             " SELECT s.topic, s.field, s.tags, x.resolution_s, x.bucket_ms,"
             " x.count, x.sum, x.min, x.max, x.last, x.last_ms"
             " FROM %s.rollups x JOIN %s.series s ON s.id = x.series_id"
             " EXCEPT"
             " SELECT s.topic, s.field, s.tags, x.resolution_s, x.bucket_ms,"
             " x.count, x.sum, x.min, x.max, x.last, x.last_ms"
             " FROM %s.rollups x JOIN %s.series s ON s.id = x.series_id)",
             a, a, b, b);
    return compare(sql);
}

/* The whole text of `sqlite3 FILE .dump`, hashed (FNV-1a). */
static uint64_t dump_hash(const char *path)
{
    char cmd[512];
    uint64_t h = UINT64_C(1469598103934665603);
    FILE *f;
    int c;

    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' .dump", path);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    while ((c = fgetc(f)) != EOF)
        h = (h ^ (uint64_t) (unsigned) c) * UINT64_C(1099511628211);
    cr_assert_eq(pclose(f), 0, "sqlite3 .dump failed");
    return h;
}

Test(scale, share_group_splits_then_merge_equals_one_daemon, .init = setup,
     .fini = teardown, .timeout = 300)
{
    struct pub *p = NULL;
    int64_t a1, b1, a2, b2, total;

    start(INST_REF, "");
    start(INST_A, "fleet");
    start(INST_B, "fleet");
    cr_assert_eq(pub_open(&p, broker.port, "scale-pub", 1), 0);

    /* Phase 1: both members up. */
    publish(p, 0, 1200);
    await_ref(published * FIELDS);
    await_shared(published * FIELDS);
    a1 = stored(INST_A);
    b1 = stored(INST_B);
    cr_assert_eq(a1 + b1, published * FIELDS, "a %lld + b %lld", (long long) a1,
                 (long long) b1);
    cr_assert_gt(a1, published * FIELDS / 5, "a took %lld", (long long) a1);
    cr_assert_gt(b1, published * FIELDS / 5, "b took %lld", (long long) b1);

    /* Phase 2: b stops cleanly in the middle of a burst (its rings drain
     * into its store); its persistent session stays a member of the share
     * group, and what the broker had in flight to it stays there. */
    publish_nowait(p, 1200, 1000);
    cr_assert_eq(spawn_stop(&sp[INST_B], SIGTERM, WAIT_MS), 0, "b stop");
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0, "publisher not acked");
    await_ref(published * FIELDS);
    /* a gets only its own turns: mosquitto keeps dealing b's turns to b's
     * offline session and queues them there (QoS 1). */
    a2 = stored(INST_A);
    b2 = stored(INST_B);
    cr_assert_lt(a2 - a1, 1000 * FIELDS, "a took all %lld while b was away",
                 (long long) (a2 - a1));
    cr_assert_gt(a2 - a1, 0);
    cr_log_info("burst of %d samples: a stored %lld, b %lld before it "
                "stopped, the rest waits in b's session",
                1000 * FIELDS, (long long) (a2 - a1), (long long) (b2 - b1));

    /* b returns with the same client id: the queue arrives, nothing lost. */
    start(INST_B, "fleet");
    /* A merge while all three daemons ingest a burst: each input is one
     * consistent snapshot (WAL read transactions), and the result is a
     * sound file. */
    publish_nowait(p, 2200, 600);
    cr_assert_eq(run_merge(out_path, sp[INST_A].db_path, sp[INST_B].db_path),
                 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0, "publisher not acked");
    cr_assert_eq(db_int(out_path, "SELECT count(*) FROM pragma_integrity_check"
                                  " WHERE integrity_check != 'ok'"),
                 0);
    cr_assert_leq(db_int(out_path, "SELECT total(count) FROM rollups WHERE"
                                   " resolution_s = 10"),
                  published * FIELDS);
    await_ref(published * FIELDS);
    await_shared(published * FIELDS);
    cr_assert_gt(db_int(out_path, "SELECT count(*) FROM rollups"), 0);

    pub_close(p);
    for (int i = 0; i < N_INST; i++)
        cr_assert_eq(spawn_stop(&sp[i], SIGTERM, WAIT_MS), 0, "stop %d", i);
    a2 = stored(INST_A);
    b2 = stored(INST_B);
    total = published * FIELDS;
    cr_assert_eq(stored(INST_REF), total);
    cr_assert_eq(a2 + b2, total, "nothing lost or doubled: a %lld + b %lld",
                 (long long) a2, (long long) b2);
    cr_assert_gt(b2, b1, "b took a share after its restart");

    /* The merged rollups equal the reference, bucket by bucket. */
    cr_assert_eq(run_merge(out_path, sp[INST_A].db_path, sp[INST_B].db_path),
                 0);
    cr_assert_eq(missing_between("m", "r"), 0,
                 "merged rows the reference lacks");
    cr_assert_eq(missing_between("r", "m"), 0,
                 "reference rows the merge lacks");
    cr_assert_eq(compare("SELECT count(*) FROM m.rollups"),
                 compare("SELECT count(*) FROM r.rollups"));
    cr_assert_eq(compare("SELECT count(DISTINCT source) FROM m.ingest_stats"),
                 2);
    cr_assert_eq(compare("SELECT count(*) FROM m.merge_sources"), 2);

    /* Idempotent: the same inputs give the same file. */
    {
        uint64_t h1 = dump_hash(out_path);
        cr_assert_eq(
            run_merge(out_path, sp[INST_A].db_path, sp[INST_B].db_path), 0);
        cr_assert_eq(dump_hash(out_path), h1, "a second merge changed OUT");
    }
}

/* Runs `sensorpipe --check-config -c conf` and returns the memory bound it
 * prints ("bound N MiB"), or -1. */
static double check_config_bound(const char *conf)
{
    char cmd[512];
    char line[512];
    double bound = -1;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "'%s' --check-config -c %s 2>&1", spawn_binary(),
             conf);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *b = strstr(line, "bound ");
        if (b != NULL)
            bound = strtod(b + 6, NULL);
    }
    cr_assert_eq(pclose(f), 0, "--check-config -c %s failed", conf);
    return bound;
}

/* The small-gateway example: its whole plan, SQLite's heap included, stays
 * within 16 MiB, and it is sized for about 1,000 series. */
Test(scale, edge_conf_plan_fits_16_mib)
{
    double bound = check_config_bound("config/edge.conf");

    cr_assert_gt(bound, 0, "no memory bound printed");
    cr_assert_leq(bound, 16.0, "edge.conf plans %.1f MiB", bound);
    cr_assert_gt(check_config_bound("config/sensorpipe.conf"), 16.0,
                 "the check would not tell a large plan");
}
