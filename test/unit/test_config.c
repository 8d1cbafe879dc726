/*
 * test_config.c - unit tests for config.c.
 *
 * Most tests parse text from memory with config_parse_text() under the name
 * "t.conf", so expected messages read "t.conf:LINE: key 'x': ...". File
 * tests use a fresh directory from mkdtemp(). Tests run as root, which
 * reads any file whatever its mode, so "unreadable" is exercised with a
 * directory (EISDIR) and a path under a missing directory (ENOENT) rather
 * than with chmod 000. The tests run from the repository root, where
 * config/sensorpipe.conf is.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "alloc_guard.h"
#include "config.h"
#include "config_value.h"
#include "tmpdir.h"

#define SAMPLE_CONF "config/sensorpipe.conf"
#define SUB         "[subscription s]\ntopic = a/#\n"
#define MS_S        1000ull
#define MS_M        (60 * MS_S)
#define MS_H        (60 * MS_M)
#define MS_D        (24 * MS_H)
#define MS_Y        (365 * MS_D)

/* Large structs live here, not on the stack. Owner: the running test. */
static struct config cfg_a;
static struct config cfg_b;
static char err[CONFIG_ERR_MAX];

/* config_parse_text() on len bytes of text named name. */
static int parse_text(struct config *cfg, const char *name, const char *text,
                      size_t len, char *e, size_t elen)
{
    const struct config_text src = {.name = name, .text = text, .len = len};

    return config_parse_text(cfg, &src, e, elen);
}

static int parse(struct config *cfg, const char *text)
{
    memset(err, 0, sizeof(err));
    return parse_text(cfg, "t.conf", text, strlen(text), err, sizeof(err));
}

static void parse_ok(struct config *cfg, const char *text)
{
    int rc = parse(cfg, text);

    cr_assert_eq(rc, 0, "parse failed (%d): %s\n--\n%s", rc, err, text);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- config.h's value parsers ------------------------------------------- */

/* ---- bad files ---------------------------------------------------------- */

/* Owner: bad_cases[] (read-only). */
struct bad_case {
    const char *what;
    const char *text;
    const char *prefix; /* err must start with this */
};

static const struct bad_case bad_cases[] = {
    {"unknown key", "[mqtt]\nhots = x\n" SUB, "t.conf:2: key 'hots': unknown"},
    {"keys are case-sensitive", "[mqtt]\nHost = x\n" SUB,
     "t.conf:2: key 'Host': unknown"},
    {"key of another section", "[mqtt]\ntopic = x\n" SUB,
     "t.conf:2: key 'topic': unknown key in [mqtt]"},
    {"unknown section", SUB "[mqttt]\n", "t.conf:3: unknown section '[mqttt]'"},
    {"unclosed section", "[mqtt\n" SUB, "t.conf:1: expected ']'"},
    {"text after section", "[mqtt] x\n" SUB, "t.conf:1: unexpected text"},
    {"key outside a section", "host = x\n" SUB,
     "t.conf:1: key 'host': outside any section"},
    {"missing '='", "[mqtt]\nhost 127.0.0.1\n" SUB, "t.conf:2: expected"},
    {"missing key", "[mqtt]\n = 1\n" SUB, "t.conf:2: missing key"},
    {"bad number", "[mqtt]\nport = 18x3\n" SUB,
     "t.conf:2: key 'port': '18x3' is not a whole number"},
    {"negative number", "[mqtt]\nport = -1\n" SUB,
     "t.conf:2: key 'port': '-1' is not a whole number"},
    {"number out of range", "[mqtt]\nport = 70000\n" SUB,
     "t.conf:2: key 'port': 70000 is out of range (1..65535)"},
    {"number too big for 64 bits",
     SUB "[pipeline]\nworkers = 99999999999999999999\n",
     "t.conf:4: key 'workers': '99999999999999999999' is not a whole number"},
    {"below minimum", "[mqtt]\nkeepalive_s = 4\n" SUB,
     "t.conf:2: key 'keepalive_s': 4 is out of range (5..3600)"},
    {"bad duration 10x", "[mqtt]\nreconnect_max_ms = 10x\n" SUB,
     "t.conf:2: key 'reconnect_max_ms': '10x' is not a duration"},
    {"bad duration 1.2.3s", "[aggregate]\nallowed_lateness = 1.2.3s\n" SUB,
     "t.conf:2: key 'allowed_lateness': '1.2.3s' is not a duration"},
    {"duration overflow",
     "[aggregate]\nmax_clock_skew = 99999999999999999y\n" SUB,
     "t.conf:2: key 'max_clock_skew': '99999999999999999y' is not a duration"},
    {"duration out of range", "[mqtt]\nreconnect_min_ms = 5ms\n" SUB,
     "t.conf:2: key 'reconnect_min_ms': '5ms' is out of range (10ms..10m)"},
    {"duration not whole seconds", "[log]\nstats_interval_s = 1500ms\n" SUB,
     "t.conf:2: key 'stats_interval_s': '1500ms' is not a whole number"},
    {"stats interval too long", "[log]\nstats_interval_s = 2d\n" SUB,
     "t.conf:2: key 'stats_interval_s': '2d' is out of range (0..1d)"},
    {"bad size", "[pipeline]\nring_bytes = 64KB B\n" SUB,
     "t.conf:2: key 'ring_bytes': '64KB B' is not a size"},
    {"size out of range", "[pipeline]\nmax_payload_bytes = 15\n" SUB,
     "t.conf:2: key 'max_payload_bytes': '15' is out of range (16B..16MiB)"},
    {"bad bool", "[mqtt]\nclean_session = maybe\n" SUB,
     "t.conf:2: key 'clean_session': 'maybe' is not a boolean"},
    {"bad enum", "[subscription s]\ntopic = a\nformat = xml\n",
     "t.conf:3: key 'format': 'xml' is not one of json, number, influx"},
    {"bad protocol", "[mqtt]\nprotocol = 4\n" SUB,
     "t.conf:2: key 'protocol': '4' is not one of"},
    {"bad overflow", "[pipeline]\noverflow = block\n" SUB,
     "t.conf:2: key 'overflow': 'block' is not one of pause, drop_newest"},
    {"bad level", "[log]\nlevel = loud\n" SUB,
     "t.conf:2: key 'level': 'loud' is not a log level"},
    {"string too long",
     "[mqtt]\nclient_id = "
     "0123456789012345678901234567890123456789012345678901234567890123\n" SUB,
     "t.conf:2: key 'client_id': too long (64 bytes, at most 63)"},
    {"empty host", "[mqtt]\nhost = \"\"\n" SUB,
     "t.conf:2: key 'host': must not be empty"},
    {"unterminated quote", "[mqtt]\nhost = \"abc\n" SUB,
     "t.conf:2: key 'host': missing '\"'"},
    {"text after quote", "[mqtt]\nhost = \"abc\" x\n" SUB,
     "t.conf:2: key 'host': unexpected text"},
    {"control character", "[mqtt]\nhost = a\033b\n" SUB,
     "t.conf:2: control character 0x1b"},
    {"missing topic", "[subscription s]\nqos = 1\n",
     "t.conf:1: key 'topic': required in [subscription s]"},
    {"missing topic, not the last sub",
     "[subscription s]\nqos = 1\n"
     "[subscription t]\ntopic = x\n",
     "t.conf:1: key 'topic': required in [subscription s]"},
    {"no subscriptions", "[mqtt]\nhost = h\n",
     "t.conf: no [subscription NAME] section"},
    {"empty file", "", "t.conf: no [subscription NAME] section"},
    {"subscription without a name", "[subscription]\ntopic = a\n",
     "t.conf:1: subscription name ''"},
    {"bad subscription name", "[subscription a b]\ntopic = a\n",
     "t.conf:1: subscription name 'a b'"},
    {"duplicate subscription name", SUB "[subscription s]\ntopic = b\n",
     "t.conf:3: duplicate subscription 's' (first on line 1)"},
    {"duplicate key", "[mqtt]\nport = 1\nport = 2\n" SUB,
     "t.conf:3: key 'port': given twice (first on line 2)"},
    {"duplicate key in a repeated section",
     "[mqtt]\nport = 1\n[log]\n[mqtt]\nport = 2\n" SUB,
     "t.conf:5: key 'port': given twice (first on line 2)"},
    {"duplicate key in a subscription",
     "[subscription s]\ntopic = a\n"
     "topic = b\n",
     "t.conf:3: key 'topic': given twice (first on line 2)"},
    {"invalid topic, # not last", "[subscription s]\ntopic = a/#/b\n",
     "t.conf:2: key 'topic': 'a/#/b' is not an MQTT topic filter"},
    {"invalid topic, + inside a level", "[subscription s]\ntopic = a+/b\n",
     "t.conf:2: key 'topic': 'a+/b' is not an MQTT topic filter"},
    {"empty topic", "[subscription s]\ntopic = \"\"\n",
     "t.conf:2: key 'topic': must not be empty"},
    {"qos out of range", SUB "qos = 3\n",
     "t.conf:3: key 'qos': 3 is out of range (0..2)"},
    {"share group with a slash", SUB "share_group = a/b\n",
     "t.conf:3: key 'share_group': 'a/b'"},
    {"duplicate topic tag", SUB "topic_tags = {x}/{x}\n",
     "t.conf:3: key 'topic_tags': '{x}/{x}': a placeholder is used twice"},
    {"topic tags with # not last", SUB "topic_tags = a/#/b\n",
     "t.conf:3: key 'topic_tags': 'a/#/b': '#' must be the last level"},
    {"topic tag with a bad name", SUB "topic_tags = {a-b}\n",
     "t.conf:3: key 'topic_tags': '{a-b}': placeholder names"},
    {"topic tags with + in a level", SUB "topic_tags = a+\n",
     "t.conf:3: key 'topic_tags': 'a+'"},
    {"fields on a number subscription",
     "[subscription s]\ntopic = a\nformat = number\nfields = t\n",
     "t.conf:4: key 'fields': only for format = json"},
    {"fields before the format",
     "[subscription s]\ntopic = a\nfields = t\nformat = influx\n",
     "t.conf:3: key 'fields': only for format = json"},
    {"timestamp_field on influx",
     "[subscription s]\ntopic = a\nformat = influx\ntimestamp_field = ts\n",
     "t.conf:4: key 'timestamp_field': only for format = json"},
    {"precision on json", SUB "precision = ms\n",
     "t.conf:3: key 'precision': only for format = influx"},
    {"bad field path", SUB "fields = a..b\n",
     "t.conf:3: key 'fields': 'a..b' is not a field path"},
    {"empty field in list", SUB "fields = a,,b\n",
     "t.conf:3: key 'fields': '' is not a field path"},
    {"field listed twice", SUB "fields = a, b, a\n",
     "t.conf:3: key 'fields': 'a' is listed twice"},
    {"too many fields", SUB "fields = a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n",
     "t.conf:3: key 'fields': more than 16 fields"},
    {"non-ascending resolutions", "[aggregate]\nresolutions = 1m, 10s\n" SUB,
     "t.conf:2: key 'resolutions': '10s' is not larger"},
    {"equal resolutions", "[aggregate]\nresolutions = 10s, 10s\n" SUB,
     "t.conf:2: key 'resolutions': '10s' is not larger"},
    {"resolution not a multiple", "[aggregate]\nresolutions = 10s, 25s\n" SUB,
     "t.conf:2: key 'resolutions': '25s' is not a multiple"},
    {"sub-second resolution", "[aggregate]\nresolutions = 1500ms\n" SUB,
     "t.conf:2: key 'resolutions': resolution '1500ms'"},
    {"no resolutions", "[aggregate]\nresolutions = \"\"\n" SUB,
     "t.conf:2: key 'resolutions': needs at least one"},
    {"too many resolutions",
     "[aggregate]\nresolutions = 1s,2s,4s,8s,16s,32s,64s,128s,256s\n" SUB,
     "t.conf:2: key 'resolutions': more than 8"},
    {"bad retention resolution", "[store]\nretention = 5m:1d\n" SUB,
     "t.conf:2: key 'retention': 5m is not one of the resolutions "
     "(10s, 1m, 1h)"},
    {"retention resolution removed later",
     "[store]\nretention = 10s:1d\n[aggregate]\nresolutions = 1m, 1h\n" SUB,
     "t.conf:2: key 'retention': 10s is not one of the resolutions (1m, 1h)"},
    {"retention without a colon", "[store]\nretention = 10s\n" SUB,
     "t.conf:2: key 'retention': '10s' should read RESOLUTION:DURATION"},
    {"retention with a bad duration", "[store]\nretention = 10s:forever\n" SUB,
     "t.conf:2: key 'retention': 'forever' is not a duration"},
    {"retention listed twice", "[store]\nretention = 10s:1d, 10s:2d\n" SUB,
     "t.conf:2: key 'retention': '10s' is listed twice"},
    {"retention shorter than a bucket", "[store]\nretention = 1h:30m\n" SUB,
     "t.conf:2: key 'retention': 1h buckets must be kept at least 1h"},
    {"ring too small for the payload limit",
     "[pipeline]\nmax_payload_bytes = 16MiB\n" SUB,
     "t.conf:2: key 'max_payload_bytes': ring_bytes = 2MiB cannot hold 4"},
    {"ring too small, ring given", "[pipeline]\nring_bytes = 64KiB\n" SUB,
     "t.conf:2: key 'ring_bytes': ring_bytes = 64KiB cannot hold 4"},
    {"reconnect min above max",
     "[mqtt]\nreconnect_min_ms = 5m\nreconnect_max_ms = 1m\n" SUB,
     "t.conf:2: key 'reconnect_min_ms': reconnect_min_ms (5m) is larger "
     "than reconnect_max_ms (1m)"},
    {"reconnect max below default min",
     "[mqtt]\nreconnect_max_ms = 100ms\n" SUB,
     "t.conf:2: key 'reconnect_max_ms': reconnect_min_ms (500ms)"},
    {"tls cert without key",
     "[mqtt]\ntls_ca_file = /ca\ntls_cert_file = /c\n" SUB,
     "t.conf:3: key 'tls_cert_file': tls_cert_file and tls_key_file go "
     "together"},
    {"tls key without cert",
     "[mqtt]\ntls_ca_file = /ca\ntls_key_file = /k\n" SUB,
     "t.conf:3: key 'tls_key_file': tls_cert_file and tls_key_file"},
    {"tls cert without ca",
     "[mqtt]\ntls_cert_file = /c\ntls_key_file = /k\n" SUB,
     "t.conf:2: key 'tls_cert_file': needs tls_ca_file"},
    {"tls_insecure without ca", "[mqtt]\ntls_insecure = true\n" SUB,
     "t.conf:2: key 'tls_insecure': needs tls_ca_file"},
    {"cache as large as the heap", "[store]\ncache_mb = 64\n" SUB,
     "t.conf:2: key 'cache_mb': cache_mb (64) must be smaller"},
};

Test(config, bad_files_name_file_line_and_key)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        int rc = parse(&cfg_a, c->text);

        cr_expect_eq(rc, -EINVAL, "%s: rc %d", c->what, rc);
        cr_expect(starts_with(err, c->prefix), "%s:\n got  '%s'\n want '%s...'",
                  c->what, err, c->prefix);
        cr_expect_null(strchr(err, '\n'), "%s: message is one line", c->what);
    }
}

Test(config, too_many_subscriptions_is_an_error)
{
    static char text[CONFIG_MAX_SUBS * 64 + 64];
    size_t pos = 0;
    char want[64];

    for (int i = 0; i <= CONFIG_MAX_SUBS; i++)
        pos += (size_t) snprintf(text + pos, sizeof(text) - pos,
                                 "[subscription s%d]\ntopic = t/%d\n", i, i);
    cr_assert_eq(parse(&cfg_a, text), -EINVAL);
    /* Subscription number 33 starts on line 2 * 32 + 1. */
    snprintf(want, sizeof(want), "t.conf:%d: more than %d subscriptions",
             2 * CONFIG_MAX_SUBS + 1, CONFIG_MAX_SUBS);
    cr_expect(starts_with(err, want), "got '%s'", err);
}

Test(config, overlong_line_is_an_error)
{
    static char text[10000];

    memset(text, 0, sizeof(text));
    strcpy(text, SUB "[mqtt]\nusername = ");
    memset(text + strlen(text), 'u', 9000);
    cr_assert_eq(parse(&cfg_a, text), -EINVAL);
    cr_expect(starts_with(err, "t.conf:4: line too long"), "got '%s'", err);
}

Test(config, nul_byte_is_an_error_not_the_end)
{
    static const char text[] = SUB "[mqtt]\nhost = a\0b\n";

    memset(err, 0, sizeof(err));
    cr_assert_eq(
        parse_text(&cfg_a, "t.conf", text, sizeof(text) - 1, err, sizeof(err)),
        -EINVAL);
    cr_expect(starts_with(err, "t.conf:4: control character 0x00"), "got '%s'",
              err);
}

Test(config, error_buffer_is_respected)
{
    char small[12];

    memset(small, 'X', sizeof(small));
    cr_assert_eq(parse_text(&cfg_a, "t.conf", "[x]\n", 4, small, 8), -EINVAL);
    cr_expect_str_eq(small, "t.conf:");
    cr_expect_eq(small[8], 'X', "wrote past errlen");
    cr_expect_eq(parse_text(&cfg_a, "t.conf", "[x]\n", 4, NULL, 0), -EINVAL);
}

/* ---- files --------------------------------------------------------------- */

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

Test(config, directory_cannot_be_read)
{
    char dir[64];
    char want[256];

    cr_assert_eq(tmpdir_make(dir, sizeof(dir), "sp-config"), 0);
    cr_assert_eq(config_load(&cfg_a, dir, err, sizeof(err)), -EISDIR);
    snprintf(want, sizeof(want), "%s: cannot read: %s", dir, strerror(EISDIR));
    cr_expect_str_eq(err, want);
    rmdir(dir);
}

Test(config, missing_file_cannot_be_read)
{
    const char *path = "/nonexistent-sensorpipe-dir/sensorpipe.conf";
    char want[256];

    cr_assert_eq(config_load(&cfg_a, path, err, sizeof(err)), -ENOENT);
    snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(ENOENT));
    cr_expect_str_eq(err, want);
}

Test(config, file_over_one_mib_is_refused)
{
    static char big[(1u << 20) + 1];
    char dir[64];
    char path[128];

    /* Lines of 63 '#' and a newline: comments, but too many of them. */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = i % 64 == 63 ? '\n' : '#';
    cr_assert_eq(tmpdir_make(dir, sizeof(dir), "sp-config"), 0);
    snprintf(path, sizeof(path), "%s/big.conf", dir);
    write_file(path, big, sizeof(big));
    cr_assert_eq(config_load(&cfg_a, path, err, sizeof(err)), -EFBIG);
    cr_expect(starts_with(err, path) && strstr(err, ": larger than 1024 KiB"),
              "got '%s'", err);
    /* One byte less is a file of comments without a subscription. */
    write_file(path, big, sizeof(big) - 1);
    cr_assert_eq(config_load(&cfg_a, path, err, sizeof(err)), -EINVAL);
    cr_expect(strstr(err, "no [subscription NAME] section") != NULL, "got '%s'",
              err);
    unlink(path);
    rmdir(dir);
}

Test(config, load_reads_the_file_and_names_it)
{
    static const char text[] = "[mqtt]\nport = 1900\n" SUB;
    char dir[64];
    char path[128];
    char want[160];

    cr_assert_eq(tmpdir_make(dir, sizeof(dir), "sp-config"), 0);
    snprintf(path, sizeof(path), "%s/ok.conf", dir);
    write_file(path, text, strlen(text));
    cr_assert_eq(config_load(&cfg_a, path, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(cfg_a.mqtt.port, 1900);
    cr_expect_str_eq(cfg_a.path, path);
    write_file(path, "[mqtt]\nport = 0\n", 16);
    cr_assert_eq(config_load(&cfg_a, path, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s:2: key 'port': ", path);
    cr_expect(starts_with(err, want), "got '%s'", err);
    unlink(path);
    rmdir(dir);
}

/* ---- values ---------------------------------------------------------- */

Test(config, minimal_file_gets_the_documented_defaults)
{
    char host[256] = "";
    char want_id[300];

    parse_ok(&cfg_a, SUB);
    cr_expect_str_eq(cfg_a.mqtt.host, "127.0.0.1");
    cr_expect_eq(cfg_a.mqtt.port, 1883);
    gethostname(host, sizeof(host) - 1);
    snprintf(want_id, sizeof(want_id), "sensorpipe-%s", host);
    want_id[CONFIG_NAME_MAX - 1] = '\0'; /* cut to fit, like the default */
    cr_expect_str_eq(cfg_a.mqtt.client_id, want_id);
    cr_expect_eq(cfg_a.mqtt.keepalive_s, 60);
    cr_expect_not(cfg_a.mqtt.clean_session);
    cr_expect_eq(cfg_a.mqtt.protocol, PROTOCOL_V5);
    cr_expect_eq(cfg_a.mqtt.reconnect_min_ms, 500);
    cr_expect_eq(cfg_a.mqtt.reconnect_max_ms, 30 * MS_S);
    cr_expect_eq(cfg_a.n_subs, 1);
    cr_expect_str_eq(cfg_a.subs[0].name, "s");
    cr_expect_str_eq(cfg_a.subs[0].topic, "a/#");
    cr_expect_eq(cfg_a.subs[0].qos, 1);
    cr_expect_eq(cfg_a.subs[0].format, FORMAT_JSON);
    cr_expect_eq(cfg_a.subs[0].line, 1);
    cr_expect_eq(cfg_a.pipeline.workers, 0);
    cr_expect_eq(cfg_a.pipeline.ring_bytes, 2u << 20);
    cr_expect_eq(cfg_a.pipeline.max_payload_bytes, 64u << 10);
    cr_expect_eq(cfg_a.pipeline.overflow, OVERFLOW_PAUSE);
    cr_expect_eq(cfg_a.pipeline.max_series, 100000);
    cr_expect_eq(cfg_a.aggregate.n_resolutions, 3);
    cr_expect_eq(cfg_a.aggregate.resolutions_s[0], 10);
    cr_expect_eq(cfg_a.aggregate.resolutions_s[1], 60);
    cr_expect_eq(cfg_a.aggregate.resolutions_s[2], 3600);
    cr_expect_eq(cfg_a.aggregate.allowed_lateness_ms, MS_M);
    cr_expect_eq(cfg_a.aggregate.max_clock_skew_ms, MS_H);
    cr_expect_str_eq(cfg_a.store.path, "./var/sensorpipe.db");
    cr_expect_eq(cfg_a.store.commit_interval_ms, MS_S);
    cr_expect_eq(cfg_a.store.batch_rows, 5000);
    cr_expect_eq(cfg_a.store.retention_ms[0], 0);
    cr_expect_eq(cfg_a.store.cache_mb, 16);
    cr_expect_eq(cfg_a.store.heap_limit_mb, 64);
    cr_expect_eq(cfg_a.log.level, LOG_INFO);
    cr_expect_eq(cfg_a.log.stats_interval_s, 60);
    cr_expect_str_eq(cfg_a.path, "t.conf");
}

Test(config, tls_changes_the_default_port_only)
{
    parse_ok(&cfg_a, "[mqtt]\ntls_ca_file = /etc/ca.pem\n" SUB);
    cr_expect_eq(cfg_a.mqtt.port, 8883);
    parse_ok(&cfg_a, "[mqtt]\nport = 1883\ntls_ca_file = /etc/ca.pem\n" SUB);
    cr_expect_eq(cfg_a.mqtt.port, 1883);
}

Test(config, bare_number_follows_the_unit_in_the_key_name)
{
    parse_ok(&cfg_a, "[mqtt]\nreconnect_min_ms = 250\nreconnect_max_ms = 2.5m\n"
                     "[store]\ncommit_interval_ms = 20\n"
                     "[aggregate]\nallowed_lateness = 30\n"
                     "[log]\nstats_interval_s = 15\n" SUB);
    cr_expect_eq(cfg_a.mqtt.reconnect_min_ms, 250);
    cr_expect_eq(cfg_a.mqtt.reconnect_max_ms, 150 * MS_S);
    cr_expect_eq(cfg_a.store.commit_interval_ms, 20);
    cr_expect_eq(cfg_a.aggregate.allowed_lateness_ms, 30 * MS_S);
    cr_expect_eq(cfg_a.log.stats_interval_s, 15);
}

Test(config, comments_quotes_and_whitespace)
{
    parse_ok(&cfg_a,
             "# comment\n"
             "; another\n"
             "  [ mqtt ]   # trailing\n"
             "\thost\t=\tbroker.local   # where\n"
             "username = \"a # not a comment \\\" \\\\ \"  # but this is\n"
             "password_file = /p#1\n"
             "client_id = id\r\n"
             "[subscription  x.y-z_1 ]\n"
             "topic = sensors/+/#\n"
             "format = NUMBER\n"
             "[log]\n"
             "level = WARN\n");
    cr_expect_str_eq(cfg_a.mqtt.host, "broker.local");
    cr_expect_str_eq(cfg_a.mqtt.username, "a # not a comment \" \\ ");
    cr_expect_str_eq(cfg_a.mqtt.password_file, "/p#1");
    cr_expect_str_eq(cfg_a.mqtt.client_id, "id");
    cr_expect_str_eq(cfg_a.subs[0].name, "x.y-z_1");
    cr_expect_str_eq(cfg_a.subs[0].topic, "sensors/+/#");
    cr_expect_eq(cfg_a.subs[0].format, FORMAT_NUMBER);
    cr_expect_eq(cfg_a.subs[0].line, 8);
    cr_expect_eq(cfg_a.log.level, LOG_WARNING);
}

Test(config, enums_and_booleans_take_every_spelling)
{
    static const struct {
        const char *text;
        enum config_protocol want;
    } protocols[] = {{"5", PROTOCOL_V5},
                     {"mqttv5", PROTOCOL_V5},
                     {"3.1.1", PROTOCOL_V311},
                     {"mqttv311", PROTOCOL_V311}};
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE"};
    static const char *const no[] = {"false", "no", "off", "0", "Off"};
    char text[256];

    for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
        snprintf(text, sizeof(text), "[mqtt]\nprotocol = %s\n" SUB,
                 protocols[i].text);
        parse_ok(&cfg_a, text);
        cr_expect_eq(cfg_a.mqtt.protocol, protocols[i].want, "%s",
                     protocols[i].text);
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(text, sizeof(text), "[store]\nraw_samples = %s\n" SUB, yes[i]);
        parse_ok(&cfg_a, text);
        cr_expect(cfg_a.store.raw_samples, "%s", yes[i]);
        snprintf(text, sizeof(text), "[store]\nraw_samples = %s\n" SUB, no[i]);
        parse_ok(&cfg_a, text);
        cr_expect_not(cfg_a.store.raw_samples, "%s", no[i]);
    }
}

Test(config, retention_resolves_after_the_whole_file)
{
    /* [store] first, naming resolutions that [aggregate] defines later. */
    parse_ok(&cfg_a, "[store]\nretention = 1d:10y, 5s:12h, 1m:0\n"
                     "[aggregate]\nresolutions = 5s, 1m, 1h, 1d\n" SUB);
    cr_expect_eq(cfg_a.aggregate.n_resolutions, 4);
    cr_expect_eq(cfg_a.store.retention_ms[0], 12 * MS_H);
    cr_expect_eq(cfg_a.store.retention_ms[1], 0);
    cr_expect_eq(cfg_a.store.retention_ms[2], 0, "not listed: kept");
    cr_expect_eq(cfg_a.store.retention_ms[3], 10 * MS_Y);
}

Test(config, subscriptions_keep_their_own_settings)
{
    parse_ok(&cfg_a, "[subscription a]\ntopic = a/#\nqos = 0\n"
                     "fields = env.temp, hum\ntimestamp_field = meta.ts\n"
                     "topic_tags = a/{site}/+/{dev}/#\n"
                     "[subscription b]\ntopic = b\nformat = influx\n"
                     "precision = us\nshare_group = g1\n");
    cr_assert_eq(cfg_a.n_subs, 2);
    cr_expect_eq(cfg_a.subs[0].qos, 0);
    cr_expect_eq(cfg_a.subs[0].n_fields, 2);
    cr_expect_str_eq(cfg_a.subs[0].fields[0], "env.temp");
    cr_expect_str_eq(cfg_a.subs[0].fields[1], "hum");
    cr_expect_str_eq(cfg_a.subs[0].timestamp_field, "meta.ts");
    cr_expect_str_eq(cfg_a.subs[0].topic_tags, "a/{site}/+/{dev}/#");
    cr_expect_eq(cfg_a.subs[1].qos, 1, "defaults are per subscription");
    cr_expect_eq(cfg_a.subs[1].format, FORMAT_INFLUX);
    cr_expect_eq(cfg_a.subs[1].precision, PRECISION_US);
    cr_expect_str_eq(cfg_a.subs[1].share_group, "g1");
    cr_expect_eq(cfg_a.subs[1].n_fields, 0);
    cr_expect_eq(cfg_a.subs[1].line, 7);
}

Test(config, ring_rule_accepts_the_exact_minimum)
{
    /* 4 * (payload + 64 KiB topic + 64 B header), computed here. */
    unsigned long long payload = 1u << 20;
    unsigned long long need = 4 * (payload + 65536 + 64);
    char text[256];

    snprintf(text, sizeof(text),
             "[pipeline]\nmax_payload_bytes = %llu\nring_bytes = %llu\n" SUB,
             payload, need);
    parse_ok(&cfg_a, text);
    snprintf(text, sizeof(text),
             "[pipeline]\nmax_payload_bytes = %llu\nring_bytes = %llu\n" SUB,
             payload, need - 1);
    cr_expect_eq(parse(&cfg_a, text), -EINVAL);
    cr_expect(strstr(err, "at least 4") != NULL, "got '%s'", err);
}

/* ---- printing ------------------------------------------------------------ */

/* Every key set away from its default, in three formats. */
static const char all_keys[] = "[mqtt]\n"
                               "host = broker.example\n"
                               "port = 8884\n"
                               "client_id = gw-1\n"
                               "username = user name\n"
                               "password_file = /etc/pw file\n"
                               "keepalive_s = 30\n"
                               "clean_session = yes\n"
                               "protocol = mqttv311\n"
                               "tls_ca_file = /ca.pem\n"
                               "tls_cert_file = /c.pem\n"
                               "tls_key_file = /k.pem\n"
                               "tls_insecure = on\n"
                               "reconnect_min_ms = 250\n"
                               "reconnect_max_ms = 2.5m\n"
                               "[subscription j]\n"
                               "topic = a/+/b/#\n"
                               "qos = 2\n"
                               "share_group = grp\n"
                               "format = json\n"
                               "fields = \"x.y, z, #w\"\n"
                               "timestamp_field = meta.ts\n"
                               "topic_tags = a/{site}/+/#\n"
                               "numeric_strings = true\n"
                               "[subscription n]\n"
                               "topic = n\n"
                               "format = number\n"
                               "qos = 0\n"
                               "[subscription i]\n"
                               "topic = i/#\n"
                               "format = influx\n"
                               "precision = ms\n"
                               "[pipeline]\n"
                               "workers = 4\n"
                               "ring_bytes = 3MiB\n"
                               "max_payload_bytes = 100KB\n"
                               "overflow = drop_newest\n"
                               "max_series = 123\n"
                               "[aggregate]\n"
                               "resolutions = 5s, 30s, 5m, 1d\n"
                               "allowed_lateness = 90s\n"
                               "max_clock_skew = 48h\n"
                               "[store]\n"
                               "path = \"  /odd \\\"path\\\" # hash \\\\ \"\n"
                               "commit_interval_ms = 0.25s\n"
                               "batch_rows = 77\n"
                               "raw_samples = true\n"
                               "retention = 5s:1d, 1d:730d\n"
                               "raw_retention = 7d\n"
                               "cache_mb = 32\n"
                               "heap_limit_mb = 128\n"
                               "[log]\n"
                               "level = debug\n"
                               "stats_interval_s = 300\n";

static char *print_to_string(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(f);
    config_print(cfg, f);
    cr_assert_eq(fclose(f), 0);
    return buf;
}

static void assert_round_trip(const char *text)
{
    char *printed;

    parse_ok(&cfg_a, text);
    printed = print_to_string(&cfg_a);
    parse_ok(&cfg_b, printed);
    /* Section lines are where the text put them; all else must match. */
    for (unsigned i = 0; i < CONFIG_MAX_SUBS; i++) {
        cr_expect_eq(cfg_a.subs[i].line != 0, cfg_b.subs[i].line != 0);
        cfg_a.subs[i].line = 0;
        cfg_b.subs[i].line = 0;
    }
    cr_expect_eq(memcmp(&cfg_a, &cfg_b, sizeof(cfg_a)), 0,
                 "printed text parses to a different config:\n%s", printed);
    free(printed);
}

Test(config, print_parses_back_to_the_same_config)
{
    assert_round_trip(all_keys);
    assert_round_trip(SUB);
}

Test(config, every_key_of_the_round_trip_differs_from_its_default)
{
    /* The round trip only proves print covers keys that left their
     * defaults; compare every scalar against a default config. */
    parse_ok(&cfg_a, all_keys);
    config_defaults(&cfg_b);
    cr_expect_neq(cfg_a.mqtt.port, cfg_b.mqtt.port);
    cr_expect_neq(cfg_a.mqtt.keepalive_s, cfg_b.mqtt.keepalive_s);
    cr_expect_neq(cfg_a.mqtt.clean_session, cfg_b.mqtt.clean_session);
    cr_expect_neq(cfg_a.mqtt.protocol, cfg_b.mqtt.protocol);
    cr_expect_neq(cfg_a.mqtt.tls_insecure, cfg_b.mqtt.tls_insecure);
    cr_expect_neq(cfg_a.mqtt.reconnect_min_ms, cfg_b.mqtt.reconnect_min_ms);
    cr_expect_neq(cfg_a.mqtt.reconnect_max_ms, cfg_b.mqtt.reconnect_max_ms);
    cr_expect_neq(cfg_a.pipeline.workers, cfg_b.pipeline.workers);
    cr_expect_neq(cfg_a.pipeline.ring_bytes, cfg_b.pipeline.ring_bytes);
    cr_expect_neq(cfg_a.pipeline.max_payload_bytes,
                  cfg_b.pipeline.max_payload_bytes);
    cr_expect_neq(cfg_a.pipeline.overflow, cfg_b.pipeline.overflow);
    cr_expect_neq(cfg_a.pipeline.max_series, cfg_b.pipeline.max_series);
    cr_expect_neq(cfg_a.aggregate.allowed_lateness_ms,
                  cfg_b.aggregate.allowed_lateness_ms);
    cr_expect_neq(cfg_a.aggregate.max_clock_skew_ms,
                  cfg_b.aggregate.max_clock_skew_ms);
    cr_expect_neq(cfg_a.store.commit_interval_ms,
                  cfg_b.store.commit_interval_ms);
    cr_expect_neq(cfg_a.store.batch_rows, cfg_b.store.batch_rows);
    cr_expect_neq(cfg_a.store.raw_samples, cfg_b.store.raw_samples);
    cr_expect_neq(cfg_a.store.raw_retention_ms, cfg_b.store.raw_retention_ms);
    cr_expect_neq(cfg_a.store.cache_mb, cfg_b.store.cache_mb);
    cr_expect_neq(cfg_a.store.heap_limit_mb, cfg_b.store.heap_limit_mb);
    cr_expect_neq(cfg_a.log.level, cfg_b.log.level);
    cr_expect_neq(cfg_a.log.stats_interval_s, cfg_b.log.stats_interval_s);
    cr_expect_eq(cfg_a.store.retention_ms[0], MS_D);
    cr_expect_eq(cfg_a.store.retention_ms[3], 2 * MS_Y);
    cr_expect_str_eq(cfg_a.store.path, "  /odd \"path\" # hash \\ ");
    cr_expect_str_eq(cfg_a.subs[0].fields[2], "#w");
}

Test(config, print_uses_the_largest_exact_unit)
{
    char *printed;

    parse_ok(&cfg_a, all_keys);
    printed = print_to_string(&cfg_a);
    cr_expect(strstr(printed, "\nreconnect_min_ms = 250ms\n") != NULL);
    cr_expect(strstr(printed, "\nreconnect_max_ms = 150s\n") != NULL);
    cr_expect(strstr(printed, "\nallowed_lateness = 90s\n") != NULL);
    cr_expect(strstr(printed, "\nmax_clock_skew = 2d\n") != NULL);
    cr_expect(strstr(printed, "\nring_bytes = 3MiB\n") != NULL);
    cr_expect(strstr(printed, "\nmax_payload_bytes = 100KB\n") != NULL);
    cr_expect(strstr(printed, "\nresolutions = 5s, 30s, 5m, 1d\n") != NULL);
    cr_expect(strstr(printed, "\nretention = 5s:1d, 1d:2y\n") != NULL);
    cr_expect(strstr(printed, "\nraw_retention = 1w\n") != NULL);
    cr_expect(strstr(printed, "\nstats_interval_s = 5m\n") != NULL);
    cr_expect(strstr(printed, "\nprotocol = 3.1.1\n") != NULL);
    cr_expect(strstr(printed, "\nlevel = debug\n") != NULL);
    free(printed);
}

Test(config, print_shows_the_password_file_path_not_its_content)
{
    char dir[64];
    char path[128];
    char text[512];
    char line[256];
    char *printed;

    cr_assert_eq(tmpdir_make(dir, sizeof(dir), "sp-config"), 0);
    snprintf(path, sizeof(path), "%s/password", dir);
    write_file(path, "hunter2\n", 8);
    snprintf(text, sizeof(text),
             "[mqtt]\nusername = alice\npassword_file = %s\n" SUB, path);
    parse_ok(&cfg_a, text);
    printed = print_to_string(&cfg_a);
    snprintf(line, sizeof(line), "\npassword_file = %s\n", path);
    cr_expect(strstr(printed, line) != NULL);
    cr_expect(strstr(printed, "\nusername = alice\n") != NULL);
    cr_expect_null(strstr(printed, "hunter2"));
    free(printed);
    unlink(path);
    rmdir(dir);
}

Test(config, format_names)
{
    cr_expect_str_eq(config_format_str(FORMAT_JSON), "json");
    cr_expect_str_eq(config_format_str(FORMAT_NUMBER), "number");
    cr_expect_str_eq(config_format_str(FORMAT_INFLUX), "influx");
}

/* ---- the documented example ---------------------------------------------- */

Test(config, sample_file_loads_with_the_documented_values)
{
    cr_assert_eq(config_load(&cfg_a, SAMPLE_CONF, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(cfg_a.n_subs, 1);
    cr_expect_str_eq(cfg_a.subs[0].name, "sensors");
    cr_expect_str_eq(cfg_a.subs[0].topic, "sensors/#");
    cr_expect_eq(cfg_a.subs[0].format, FORMAT_JSON);
    cr_expect_eq(cfg_a.subs[0].qos, 1);
    cr_expect_str_eq(cfg_a.subs[0].topic_tags, "sensors/{site}/{device}/#");
    cr_expect_str_eq(cfg_a.store.path, "./var/sensorpipe.db");
    cr_expect_str_eq(cfg_a.mqtt.host, "127.0.0.1");
    cr_expect_eq(cfg_a.mqtt.port, 1883);
    cr_expect_eq(cfg_a.log.stats_interval_s, 10);

    /* Everything else is at its default. */
    config_defaults(&cfg_b);
    cr_expect_eq(memcmp(&cfg_a.mqtt, &cfg_b.mqtt, sizeof(cfg_a.mqtt)), 0);
    cr_expect_eq(
        memcmp(&cfg_a.pipeline, &cfg_b.pipeline, sizeof(cfg_a.pipeline)), 0);
    cr_expect_eq(
        memcmp(&cfg_a.aggregate, &cfg_b.aggregate, sizeof(cfg_a.aggregate)), 0);
    cr_expect_eq(memcmp(&cfg_a.store, &cfg_b.store, sizeof(cfg_a.store)), 0);
    cr_expect_eq(cfg_a.log.level, cfg_b.log.level);
}

/* Owner: the docs test. One "key =" or "# key =" line of the sample. */
struct doc_key {
    char section[32];
    char key[64];
};

/* Collects the keys config/sensorpipe.conf lists, by section. */
static size_t read_doc_keys(struct doc_key *out, size_t max)
{
    FILE *f = fopen(SAMPLE_CONF, "r");
    char line[512];
    char section[32] = "";
    size_t n = 0;

    cr_assert_not_null(f, "run the tests from the repository root");
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *s = line;
        size_t len;

        if (line[0] == '[') {
            sscanf(line, "[%31[a-z]", section);
            continue;
        }
        if (strncmp(s, "# ", 2) == 0)
            s += 2;
        len = strspn(s, "abcdefghijklmnopqrstuvwxyz_");
        if (len == 0 || len >= sizeof(out->key) || strncmp(s + len, " =", 2))
            continue;
        cr_assert_lt(n, max);
        snprintf(out[n].section, sizeof(out[n].section), "%s", section);
        snprintf(out[n].key, sizeof(out[n].key), "%.*s", (int) len, s);
        n++;
    }
    fclose(f);
    return n;
}

Test(config, sample_file_documents_exactly_the_table_keys)
{
    static struct doc_key doc[256];
    size_t n_doc = read_doc_keys(doc, 256);
    const char *sec;
    const char *key;
    size_t n_keys = 0;

    cr_assert_gt(n_doc, 0);
    for (size_t i = 0; (key = config_key_name(i, &sec)) != NULL; i++) {
        bool found = false;

        for (size_t j = 0; j < n_doc && !found; j++)
            found = !strcmp(doc[j].key, key) && !strcmp(doc[j].section, sec);
        cr_expect(found, "key '%s' of [%s] is not in " SAMPLE_CONF, key, sec);
        n_keys++;
    }
    for (size_t j = 0; j < n_doc; j++) {
        bool found = false;

        for (size_t i = 0; (key = config_key_name(i, &sec)) != NULL && !found;
             i++)
            found = !strcmp(doc[j].key, key) && !strcmp(doc[j].section, sec);
        cr_expect(found, SAMPLE_CONF " lists '%s' in [%s], which is no key",
                  doc[j].key, doc[j].section);
    }
    cr_expect_eq(n_doc, n_keys, "each key documented once");
}

/* ---- memory ------------------------------------------------------------- */

Test(config, parse_and_load_do_not_allocate)
{
    uint64_t n;
    int rc;

    alloc_guard_arm();
    rc = parse(&cfg_a, all_keys);
    n = alloc_guard_disarm();
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_eq(n, 0, "config_parse_text allocated %llu times",
                 (unsigned long long) n);

    alloc_guard_arm();
    rc = config_load(&cfg_a, SAMPLE_CONF, err, sizeof(err));
    n = alloc_guard_disarm();
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_eq(n, 0, "config_load allocated %llu times",
                 (unsigned long long) n);
}
