/*
 * test_hostile.c - what devices may send: empty, oversized, binary and
 * malformed payloads, extreme numbers and nesting, huge and deep topics,
 * SQL in topics, floods of series and of messages. The daemon must stay
 * up, stay inside its memory plan and count every message exactly in the
 * final ingest_stats row.
 *
 * The expected counters come from the table of cases below, each with the
 * verdict the contract (README "Guarantees"; doc/ARCHITECTURE.md
 * "Counters and the accounting identity") gives it, not from the daemon's
 * output.
 *
 * What the broker refuses never reaches the daemon; such cases are sent
 * anyway and checked on the broker's side:
 *   - a topic of 1000 levels: mosquitto 2.0 drops a client whose topic
 *     has more than 200 separators ("protocol error"); the deepest topic
 *     it takes (201 levels) goes through and is stored;
 *   - a topic that is not UTF-8: libmosquitto refuses to publish it, and a
 *     hand-made PUBLISH makes mosquitto close the connection (libmosquitto
 *     on the daemon's side would drop such a packet as well).
 *
 * Threads: the test's own, plus libmosquitto's publisher thread (pub.h).
 * Memory: test code; the big payloads and topics are static buffers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "broker.h"
#include "pub.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS     15000
#define MAX_PAYLOAD 8192 /* max_payload_bytes below */
#define LONG_TOPIC  65535
#define DEEP        1000
#define FINEST_SUM                                                             \
    "SELECT coalesce(sum(count), 0) FROM rollups WHERE "                       \
    "resolution_s = 10"
#define SQL_TOPIC "q/it's/\"x\"; DROP TABLE series;--"
#define SQL_FIELD "it's \"f\""

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

/* j/#: JSON; n/#: bare numbers; q/#: JSON with two named topic levels. */
static void start_daemon(const char *pipeline)
{
    char conf[4096];

    snprintf(conf, sizeof(conf),
             "[mqtt]\nhost = 127.0.0.1\nport = %d\nclient_id = sp-hostile-%d\n"
             "reconnect_min_ms = 50ms\nreconnect_max_ms = 500ms\n"
             "[subscription j]\ntopic = j/#\nformat = json\n"
             "[subscription n]\ntopic = n/#\nformat = number\n"
             "[subscription q]\ntopic = q/#\nformat = json\n"
             "topic_tags = q/{a}/{b}\n"
             "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
             "max_payload_bytes = %d\n%s"
             "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
             "cache_mb = 4\nheap_limit_mb = 16\n"
             "[log]\nlevel = info\nstats_interval_s = 1s\n",
             broker.port, (int) getpid(), MAX_PAYLOAD, pipeline, sp.db_path);
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_start(&sp, conf, NULL), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "READY=1", WAIT_MS), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0);
}

static int64_t stored(void)
{
    return db_int(sp.db_path, FINEST_SUM);
}

static void await_stored(int64_t want)
{
    cr_assert_eq(spawn_await_stored(&sp, 10, want, WAIT_MS), 0,
                 "only %lld of %lld samples stored",
                 (long long) spawn_stored(&sp, 10), (long long) want);
}

/* Rows of sql with ?1 bound to text a (and ?2 to b when not NULL). */
static int64_t count_bound(const char *sql, const char *a, const char *b)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    cr_assert_eq(sqlite3_open_v2(sp.db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b != NULL)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Samples stored for one exact topic. */
static int64_t stored_on(const char *topic)
{
    return spawn_stored_on(&sp, topic, 10);
}

static void await_stored_on(const char *topic, int64_t want)
{
    cr_assert_eq(spawn_await_stored_on(&sp, topic, 10, want, WAIT_MS), 0,
                 "nothing stored on %.60s", topic);
}

/* ---- the cases ----------------------------------------------------------- */

enum verdict {
    DECODED,  /* kept: samples as given */
    INVALID,  /* dropped_invalid */
    OVERSIZE, /* dropped_oversize */
};

/* One hostile message. Owner: the static table below. */
struct hcase {
    const char *topic;
    const char *payload;
    size_t len; /* 0: strlen(payload) unless empty is meant (empty) */
    bool empty;
    enum verdict verdict;
    int samples;
};

static char at_max[MAX_PAYLOAD + 1];
static char over_max[MAX_PAYLOAD + 2];
static char garbage[512];
static char deep_obj[DEEP * 6 + 8];
static char deep_arr[2 * DEEP + 8];
static char long_topic[LONG_TOPIC + 1];
static char levels_topic[2 + 201 * 2];

/* {"v":1} padded with spaces to len bytes (valid JSON). */
static void padded(char *buf, size_t len)
{
    memcpy(buf, "{\"v\":1}", 7);
    memset(buf + 7, ' ', len - 7);
    buf[len] = '\0';
}

static void build_buffers(void)
{
    uint32_t x = 2463534242u;
    size_t n = 0;

    padded(at_max, MAX_PAYLOAD);
    padded(over_max, MAX_PAYLOAD + 1);
    for (size_t i = 0; i < sizeof(garbage); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage[i] = (char) (x & 0xff);
    }
    garbage[0] = (char) 0xff; /* never the start of JSON or a number */
    garbage[7] = '\0';        /* and a NUL inside */
    for (int i = 0; i < DEEP; i++)
        n += (size_t) sprintf(deep_obj + n, "{\"a\":");
    deep_obj[n++] = '1';
    memset(deep_obj + n, '}', DEEP);
    deep_obj[n + DEEP] = '\0';
    memset(deep_arr, '[', DEEP);
    deep_arr[DEEP] = '1';
    memset(deep_arr + DEEP + 1, ']', DEEP);
    deep_arr[2 * DEEP + 1] = '\0';
    memcpy(long_topic, "j/", 2);
    memset(long_topic + 2, 'a', LONG_TOPIC - 2);
    long_topic[LONG_TOPIC] = '\0';
    /* "j" and 200 more levels: 200 separators, mosquitto's limit. */
    levels_topic[0] = 'j';
    for (int i = 0; i < 200; i++)
        memcpy(levels_topic + 1 + 2 * i, "/l", 2);
    levels_topic[401] = '\0';
}

static const struct hcase cases[] = {
    {"j/empty", "", 0, true, INVALID, 0},
    {"j/one", "7", 0, false, DECODED, 1}, /* a bare scalar is "value" */
    {"j/one-bad", "x", 0, false, INVALID, 0},
    {"j/max", at_max, 0, false, DECODED, 1},
    {"j/over", over_max, 0, false, OVERSIZE, 0},
    {"j/garbage", garbage, sizeof(garbage), false, INVALID, 0},
    {"n/garbage", garbage, sizeof(garbage), false, INVALID, 0},
    {"j/huge", "{\"a\":1e999}", 0, false, INVALID, 0}, /* non-finite */
    {"j/huge-mixed", "{\"a\":1e999,\"b\":-2.5}", 0, false, DECODED, 1},
    {"j/negzero", "{\"z\":-0}", 0, false, DECODED, 1},
    {"n/negzero", "-0", 0, false, DECODED, 1},
    {"n/nan", "NaN", 0, false, INVALID, 0},
    {"n/inf", "1e999", 0, false, INVALID, 0},
    {"j/nan", "{\"a\":NaN}", 0, false, INVALID, 0},
    {"j/deep", deep_obj, 0, false, INVALID, 0},
    {"j/deep-array", deep_arr, 0, false, INVALID, 0},
    {"j/dup", "{\"a\":1,\"a\":2}", 0, false, INVALID, 0},
    {long_topic, "{\"v\":1}", 0, false, DECODED, 1},
    {levels_topic, "{\"v\":1}", 0, false, DECODED, 1},
    {SQL_TOPIC, "{\"it's \\\"f\\\"\":3}", 0, false, DECODED, 1},
    {"n/last", "42", 0, false, DECODED, 1}, /* proves it still answers */
};

static size_t case_len(const struct hcase *c)
{
    if (c->empty)
        return 0;
    return c->len ? c->len : strlen(c->payload);
}

/* ---- what the broker refuses --------------------------------------------- */

static void put_u16(unsigned char *p, size_t v)
{
    p[0] = (unsigned char) (v >> 8);
    p[1] = (unsigned char) (v & 0xff);
}

/*
 * Connects with a hand-made MQTT 3.1.1 CONNECT and sends one QoS 0 PUBLISH
 * whose topic is topic[0..len) as given, bypassing libmosquitto's checks.
 * Returns: true when the broker closed the connection afterwards.
 */
static bool raw_publish_closed(const unsigned char *topic, size_t len)
{
    static const unsigned char connect_pkt[] = {
        0x10, 23,  0,   4,   'M', 'Q', 'T', 'T', 4,   0x02, 0,   60, 0,
        11,   'h', 'o', 's', 't', 'i', 'l', 'e', '-', 'r',  'a', 'w'};
    unsigned char pkt[64];
    unsigned char ack[4];
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ssize_t n;

    cr_assert(fd >= 0 && len + 5 < sizeof(pkt));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) broker.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    cr_assert_eq(write(fd, connect_pkt, sizeof(connect_pkt)),
                 (ssize_t) sizeof(connect_pkt));
    cr_assert_eq(recv(fd, ack, sizeof(ack), MSG_WAITALL), 4);
    cr_assert(ack[0] == 0x20 && ack[3] == 0, "CONNACK refused");
    pkt[0] = 0x30; /* PUBLISH, QoS 0 */
    pkt[1] = (unsigned char) (2 + len + 1);
    put_u16(pkt + 2, len);
    memcpy(pkt + 4, topic, len);
    pkt[4 + len] = '1';
    cr_assert_eq(write(fd, pkt, 5 + len), (ssize_t) (5 + len));
    n = recv(fd, ack, 1, 0);
    close(fd);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void send_refused_topics(void)
{
    static const unsigned char bad_utf8[] = "j/\xff\xfe/\xc0\xaf";
    char *deep = calloc(1, DEEP * 2 + 1);
    struct pub *p;
    uint64_t deadline;

    cr_assert_not_null(deep);
    for (int i = 0; i < DEEP; i++)
        memcpy(deep + 2 * i, i == 0 ? "j/" : "l/", 2);
    deep[DEEP * 2 - 1] = '\0'; /* 1000 levels, no trailing '/' */
    cr_assert_eq(pub_open(&p, broker.port, "hostile-deep", 0), 0);
    cr_expect_eq(pub_send(p, (const char *) bad_utf8, "1", 1), -EIO,
                 "libmosquitto sent a topic that is not UTF-8");
    cr_assert_eq(pub_send(p, deep, "1", 1), 0);
    deadline = wait_now_ms() + WAIT_MS;
    while (broker_log_count(&broker, "hostile-deep disconnected due to") < 1) {
        cr_assert(wait_now_ms() < deadline, "mosquitto took 1000 levels");
        wait_nap_ms(10);
    }
    pub_close(p);
    free(deep);
    cr_expect(raw_publish_closed(bad_utf8, sizeof(bad_utf8) - 1),
              "mosquitto kept a client that sent a topic not in UTF-8");
}

/* ---- tests --------------------------------------------------------------- */

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 60);

Test(hostile, every_hostile_message_is_counted_exactly)
{
    int64_t want[3] = {0, 0, 0};
    int64_t samples = 0;
    int64_t received = 0;
    struct pub *p;

    build_buffers();
    /* Topics up to the MQTT limit are taken when max_topic_bytes allows
     * them (test_hostile_state.c tries the default's refusal). */
    start_daemon("max_series = 2000\nmax_topic_bytes = 65535\n");
    send_refused_topics();
    cr_assert_eq(pub_open(&p, broker.port, "hostile-pub", 1), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hcase *c = &cases[i];
        cr_assert_eq(pub_send(p, c->topic, c->payload, case_len(c)), 0,
                     "case %zu refused by libmosquitto", i);
        want[c->verdict]++;
        samples += c->samples;
        received++;
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    await_stored_on("n/last", 1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0, "clean exit");

    cr_expect_eq(spawn_stat(&sp, "received"), received);
    cr_expect_eq(spawn_stat(&sp, "decoded"), want[DECODED]);
    cr_expect_eq(spawn_stat(&sp, "dropped_invalid"), want[INVALID],
                 "invalid %lld",
                 (long long) spawn_stat(&sp, "dropped_invalid"));
    cr_expect_eq(spawn_stat(&sp, "dropped_oversize"), want[OVERSIZE],
                 "oversize %lld",
                 (long long) spawn_stat(&sp, "dropped_oversize"));
    cr_expect_eq(spawn_stat(&sp, "dropped_series_limit"), 0);
    cr_expect_eq(spawn_stat(&sp, "dropped_overflow"), 0);
    cr_expect_eq(spawn_stat(&sp, "samples"), samples);
    cr_expect_eq(stored(), samples, "sum(count) of the finest = samples");

    /* Stored verbatim, whatever the topic holds. */
    cr_expect_eq(stored_on(long_topic), 1, "the 65535-byte topic");
    cr_expect_eq(stored_on(levels_topic), 1, "the 201-level topic");
    cr_expect_eq(count_bound("SELECT count(*) FROM series WHERE topic = ?1 "
                             "AND field = ?2",
                             SQL_TOPIC, SQL_FIELD),
                 1, "quotes and SQL in topic and field, verbatim");
    cr_expect_eq(count_bound("SELECT count(*) FROM series WHERE topic = ?1 "
                             "AND json_valid(tags) AND "
                             "json_extract(tags, '$.a') = 'it''s' AND "
                             "json_extract(tags, '$.b') = ?2",
                             SQL_TOPIC, "\"x\"; DROP TABLE series;--"),
                 1, "tags hold the levels verbatim, as valid JSON");
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series"),
                 want[DECODED], "one series per decoded case");
    cr_expect_float_eq(db_double(sp.db_path,
                                 "SELECT max FROM rollups_v WHERE topic = "
                                 "'j/negzero' AND resolution_s = 10"),
                       0.0, 1e-300);
    /* Warnings name the topic, and are rate-limited (5 per worker per
     * 10 s), not one per message. */
    cr_expect(spawn_log_contains(&sp, "decode: syntax error on j/"));
    cr_expect_leq(spawn_log_count(&sp, "warning: decode: "), 2 * 5);
}

/* The topic of the series with the lowest id. */
static void first_topic(char *out, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    cr_assert_eq(sqlite3_open_v2(sp.db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT topic FROM series ORDER BY id "
                                    "LIMIT 1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *) sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* max_series = 100 and 300 new topics of one field each: exactly 200
 * messages counted as dropped_series_limit; known series go on. */
Test(hostile, series_flood_beyond_max_series_is_counted_exactly)
{
    const int max_series = 100, topics = 300;
    char pipeline[64];
    char topic[64];
    char keep[256];
    struct pub *p;

    snprintf(pipeline, sizeof(pipeline), "max_series = %d\n", max_series);
    start_daemon(pipeline);
    cr_assert_eq(pub_open(&p, broker.port, "flood-series", 1), 0);
    for (int i = 0; i < topics; i++) {
        snprintf(topic, sizeof(topic), "n/flood/%d", i);
        cr_assert_eq(pub_sendf(p, topic, "%d", i), 0);
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    await_stored(max_series);
    /* One of the admitted series gets one more sample. */
    first_topic(keep, sizeof(keep));
    cr_assert_eq(pub_send(p, keep, "1", 1), 0);
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    await_stored(max_series + 1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    cr_expect_eq(spawn_stat(&sp, "received"), topics + 1);
    cr_expect_eq(spawn_stat(&sp, "dropped_series_limit"), topics - max_series);
    cr_expect_eq(spawn_stat(&sp, "decoded"), max_series + 1);
    cr_expect_eq(spawn_stat(&sp, "series"), max_series);
    cr_expect_eq(db_int(sp.db_path, "SELECT count(*) FROM series"), max_series);
    cr_expect_eq(stored(), max_series + 1);
    cr_expect(spawn_log_contains(&sp, "limit of 100 series"),
              "a warning names the limit");
}

/* ---- memory -------------------------------------------------------------- */

/* A number after needle in the daemon's log, or -1. */
static double log_number(const char *needle)
{
    char line[2048];
    double v = -1;
    FILE *f = fopen(sp.log_path, "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, needle);
        if (p != NULL)
            v = strtod(p + strlen(needle), NULL);
    }
    fclose(f);
    return v;
}

/*
 * A flood from one topic (60,000 messages, 600 bytes each: 36 MB through a
 * 1 MiB ring) plus a burst of new series: the daemon keeps up, loses
 * nothing, and its resident memory stays inside the plan it logs:
 *   preallocated (rings, registry, scratch) + SQLite heap limit + 24 MiB
 * for what the plan leaves out (code and libraries, thread stacks,
 * libmosquitto's packet buffers, page tables). The plan is read from the
 * daemon's own start-up line. A sanitizer build keeps shadow memory and
 * freed blocks in quarantine, so there only the accounting is checked.
 */
Test(hostile, flood_from_one_topic_stays_within_the_memory_plan)
{
    const int n = 60000;
    char payload[600];
    struct pub *p;
    uint64_t deadline;
    int64_t peak = 0;
    double pre;
    double heap;
    double bound;
    const char *san = spawn_sanitizer();

    start_daemon("max_series = 20000\n");
    memset(payload, ' ', sizeof(payload));
    memcpy(payload, "{\"v\":1.5}", 9);
    cr_assert_eq(pub_open(&p, broker.port, "flood-one", 1), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pub_send(p, "j/one/topic", payload, sizeof(payload)), 0);
    for (int i = 0; i < 5000; i++) {
        char topic[64];
        snprintf(topic, sizeof(topic), "n/burst/%d", i);
        cr_assert_eq(pub_send(p, topic, "2", 1), 0);
    }
    deadline = wait_now_ms() + 45000;
    while (stored() < n + 5000) {
        int64_t rss = spawn_status_kib(&sp, "VmRSS");
        peak = rss > peak ? rss : peak;
        cr_assert(wait_now_ms() < deadline, "only %lld of %d stored",
                  (long long) stored(), n + 5000);
        wait_nap_ms(20);
    }
    cr_assert_eq(pub_wait_acked(p, WAIT_MS), 0);
    pub_close(p);
    if (spawn_status_kib(&sp, "VmHWM") > peak)
        peak = spawn_status_kib(&sp, "VmHWM");
    pre = log_number("preallocated ");
    heap = log_number("SQLite heap limit ");
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    cr_expect_eq(spawn_stat(&sp, "received"), n + 5000);
    cr_expect_eq(spawn_stat(&sp, "decoded"), n + 5000);
    cr_expect_eq(stored(), n + 5000);
    cr_assert(pre > 0 && heap > 0, "no memory plan in the log");
    bound = (pre + heap + 24) * 1024;
    cr_log_info("memory: peak RSS %.1f MiB; plan %.1f MiB preallocated + "
                "%.1f MiB SQLite heap limit; bound %.1f MiB%s%s",
                (double) peak / 1024, pre, heap, bound / 1024,
                san ? "; not checked under " : "", san ? san : "");
    if (san == NULL)
        cr_expect_leq((double) peak, bound,
                      "peak RSS %lld KiB over the plan's %.0f KiB",
                      (long long) peak, bound);
}
