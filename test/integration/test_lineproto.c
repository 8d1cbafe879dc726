/*
 * test_lineproto.c - line protocol end to end, and names a device cannot
 * abuse: a partly good payload keeps its good lines and counts the bad
 * ones; backslashes and raw newlines in strings as InfluxDB's parser
 * reads them; control characters in names refused (line protocol, and
 * JSON keys through \u escapes); topic_tags win over payload tags of the
 * same name, so a payload cannot claim another device's topic level.
 *
 * Expected counters come from the cases as the README states their cost,
 * never from the daemon's output.
 *
 * Threads: the test's own, plus libmosquitto's publisher thread (pub.h).
 * Memory: test code.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS 15000

static struct broker broker;
static struct spawn sp;

static void setup(void)
{
    cr_assert_eq(spawn_suite_init(&sp, &broker), 0, "broker or spawn start");
}

static void teardown(void)
{
    spawn_suite_fini(&sp, &broker);
}

TestSuite(lineproto, .init = setup, .fini = teardown, .timeout = 60);

/* lp/#: line protocol with lp/{device}; j/#: JSON. */
static void start_daemon(void)
{
    char conf[2048];

    snprintf(conf, sizeof(conf),
             "[mqtt]\nhost = 127.0.0.1\nport = %d\nclient_id = sp-lp-%d\n"
             "reconnect_min_ms = 50ms\nreconnect_max_ms = 500ms\n"
             "[subscription lp]\ntopic = lp/#\nformat = influx\n"
             "precision = s\ntopic_tags = lp/{device}\n"
             "[subscription j]\ntopic = j/#\nformat = json\n"
             "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
             "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
             "[log]\nlevel = info\nstats_interval_s = 1s\n",
             broker.port, (int) getpid(), sp.db_path);
    cr_assert_eq(spawn_start_ready(&sp, conf, NULL, WAIT_MS), 0);
}

/* One message. Owner: the static tables below. */
struct msg {
    const char *topic;
    const char *payload;
};

static void publish_all(const struct msg *m, size_t n)
{
    struct pub *p;

    cr_assert_eq(pub_open(&p, broker.port, "lp-pub", 1), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(
            pub_send(p, m[i].topic, m[i].payload, strlen(m[i].payload)), 0,
            "message %zu", i);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
}

/* The first column of sql with ?1 bound to a, or INT64_MIN. */
static int64_t query_int(const char *sql, const char *a)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = INT64_MIN;

    cr_assert_eq(sqlite3_open_v2(sp.db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    if (a != NULL)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Samples stored for one series (finest resolution). */
static int64_t stored_field(const char *topic, const char *field)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(r.count), 0) FROM rollups r JOIN series s "
             "ON s.id = r.series_id WHERE s.topic = ?1 AND s.field = '%s' "
             "AND r.resolution_s = 10",
             field);
    return query_int(sql, topic);
}

static const struct msg lp_cases[] = {
    /* 1: two good lines and a bad one: decoded, 2 samples, 1 bad line. */
    {"lp/a", "m a=1\nbad line\nm b=2"},
    /* 2: nothing good: dropped_invalid, 2 bad lines. */
    {"lp/b", "bad\n\tm v=1"},
    /* 3: backslashes as the reference reads them. */
    {"lp/c", "cpu,regions=eas\\\\ t value=1.0"},
    /* 4: a raw newline inside a string no longer loses the line. */
    {"lp/d", "m value=1.0,str=\"foo\nbar\""},
    /* 5: control characters in names: 2 bad lines, the third kept. */
    {"lp/e", "m\x01x v=1\nm,k\x7f=v v=2\nm v=3"},
    /* 6: a reserved tag key refuses its line only. */
    {"lp/f", "m,_measurement=x v=1\nm,_field=y v=2\nm w=3"},
    /* 7: 255 tags (below) are kept. */
    {"lp/g", NULL},
    /* JSON keys with control characters: each dropped_invalid. */
    {"j/a", "{\"a\\u0001b\":1}"},
    {"j/b", "{\"a\\u007f\":1}"},
    {"j/c", "{\"a\x7f\":1}"},
    {"j/d", "{\"a\\nb\":1,\"ok\":2}"},
    {"j/e", "{\"ok\":1}"},
};

#define LP_DECODED       7 /* cases 1, 3, 4, 5, 6, 7 and j/e */
#define LP_INVALID       5 /* case 2 and four JSON keys */
#define LP_SAMPLES       8 /* 2 + 1 + 1 + 1 + 1 + 1 + 1 */
#define LP_INVALID_LINES 7 /* 1 + 2 + 2 + 2 */

static char many_tags[255 * 12 + 16];

Test(lineproto, partly_good_payloads_keep_their_good_lines)
{
    struct msg m[sizeof(lp_cases) / sizeof(lp_cases[0])];
    size_t w = 0;

    w += (size_t) snprintf(many_tags, sizeof(many_tags), "m");
    for (int i = 0; i < 255; i++)
        w += (size_t) snprintf(many_tags + w, sizeof(many_tags) - w, ",t%d=v",
                               i);
    snprintf(many_tags + w, sizeof(many_tags) - w, " v=7");
    memcpy(m, lp_cases, sizeof(m));
    m[6].payload = many_tags;

    start_daemon();
    publish_all(m, sizeof(m) / sizeof(m[0]));
    cr_assert_eq(spawn_await_stored(&sp, 10, LP_SAMPLES, WAIT_MS), 0,
                 "stored %lld", (long long) spawn_stored(&sp, 10));
    cr_assert_eq(spawn_wait_log(&sp, "line(s) refused on lp/a", 1, WAIT_MS), 0);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "clean exit");

    /* The accounting identity holds; bad lines have a counter of their
     * own. */
    cr_expect_eq(spawn_stat(&sp, "received"), LP_DECODED + LP_INVALID);
    cr_expect_eq(spawn_stat(&sp, "decoded"), LP_DECODED);
    cr_expect_eq(spawn_stat(&sp, "dropped_invalid"), LP_INVALID);
    cr_expect_eq(spawn_stat(&sp, "invalid_lines"), LP_INVALID_LINES);
    cr_expect_eq(spawn_stat(&sp, "samples"), LP_SAMPLES);
    cr_expect_eq(spawn_stored(&sp, 10), LP_SAMPLES);

    cr_expect_eq(stored_field("lp/a", "m.a"), 1);
    cr_expect_eq(stored_field("lp/a", "m.b"), 1);
    cr_expect_eq(stored_field("lp/d", "m.value"), 1);
    cr_expect_eq(stored_field("lp/e", "m.v"), 1);
    cr_expect_eq(stored_field("lp/f", "m.w"), 1);
    cr_expect_eq(stored_field("lp/g", "m.v"), 1);
    cr_expect_eq(query_int("SELECT count(*) FROM series WHERE topic = ?1 AND "
                           "json_extract(tags, '$.regions') = 'eas\\ t'",
                           "lp/c"),
                 1, "tag value eas\\ t");
    cr_expect_eq(query_int("SELECT count(*) FROM series WHERE topic = ?1 AND "
                           "json_extract(tags, '$.t254') = 'v'",
                           "lp/g"),
                 1, "the 255th tag");
    /* No stored name holds a control character. */
    cr_expect_eq(db_int(sp.db_path,
                        "SELECT count(*) FROM series WHERE field GLOB '*['"
                        " || char(1) || '-' || char(31) || char(127) || ']*'"
                        " OR tags GLOB '*[' || char(1) || '-' || char(31) ||"
                        " char(127) || ']*'"),
                 0);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE "
                                    "topic LIKE 'j/%' AND field != 'ok'"),
                 0);
    cr_expect(spawn_log_contains(&sp, "control character in a name"));
}

/* topic_tags = lp/{device}: the payload's device=devB on lp/devA. */
Test(lineproto, topic_tags_win_over_payload_tags)
{
    static const struct msg m[] = {
        {"lp/devA", "m,device=devB,site=s1 v=1"},
        {"lp/devA", "m,device=devB v=2\nm,site=s2 w=3"},
        {"lp/devC", "m,site=s3 v=4"},
    };

    start_daemon();
    publish_all(m, sizeof(m) / sizeof(m[0]));
    cr_assert_eq(spawn_await_stored(&sp, 10, 4, WAIT_MS), 0);
    cr_assert_eq(spawn_wait_log(&sp, "names a topic_tags level", 1, WAIT_MS),
                 0);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "clean exit");

    cr_expect_eq(query_int("SELECT count(*) FROM series WHERE topic = ?1 AND "
                           "field = 'm.v' AND "
                           "json_extract(tags, '$.device') = 'devA' AND "
                           "json_extract(tags, '$.site') = 's1'",
                           "lp/devA"),
                 1, "device = devA, from the topic");
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series WHERE "
                                    "tags LIKE '%devB%'"),
                 0, "devB stored nowhere");
    cr_expect_eq(query_int("SELECT count(*) FROM series WHERE topic = ?1 AND "
                           "json_extract(tags, '$.device') = 'devC'",
                           "lp/devC"),
                 1);
    /* One conflict per line that carried device=. */
    cr_expect_eq(spawn_stat(&sp, "tag_conflicts"), 2);
    cr_expect_eq(spawn_stat(&sp, "decoded"), 3);
    cr_expect_eq(spawn_stat(&sp, "samples"), 4);
}
