/*
 * test_decode_json.c - JSON payloads: shapes, paths, fields, timestamps,
 * escapes, limits and refusals.
 *
 * Expected values are C literals or arithmetic on known dates
 * (1700000000 s is 2023-11-14T22:13:20Z), never copied from output.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "decode.h"
#include "decode_json.h"

#define T1700 (1700000000LL * 1000)
#define NT    DECODE_NO_TIME
#define MAXW  8

static struct decode_out out;

/* Options a case sets on its subscription. Owner: the case table. */
struct opts {
    bool numeric_strings;
    const char *ts_field;
    const char *fields[4];
};

/* One expected sample. */
struct want {
    const char *field;
    double value;
    int64_t ts_ms;
};

static char *payload_copy;

static enum decode_status decode_len(const struct opts *o, const char *s,
                                     size_t len)
{
    struct config_sub sub;
    enum decode_status st;

    memset(&sub, 0, sizeof sub);
    sub.format = FORMAT_JSON;
    if (o) {
        sub.numeric_strings = o->numeric_strings;
        if (o->ts_field)
            snprintf(sub.timestamp_field, sizeof sub.timestamp_field, "%s",
                     o->ts_field);
        for (unsigned i = 0; i < 4 && o->fields[i]; i++) {
            snprintf(sub.fields[i], sizeof sub.fields[i], "%s", o->fields[i]);
            sub.n_fields = i + 1;
        }
    }
    /* Exactly len + 1 bytes, so ASan sees any read past the NUL. The copy
     * stays alive until the next call: samples point into it. */
    free(payload_copy);
    payload_copy = malloc(len + 1);
    cr_assert_not_null(payload_copy);
    memcpy(payload_copy, s, len);
    payload_copy[len] = '\0';
    st = decode_payload(&sub, payload_copy, len, &out);
    cr_assert_leq(out.n, DECODE_MAX_SAMPLES);
    cr_assert_leq(out.text_used, DECODE_TEXT_MAX);
    return st;
}

static enum decode_status decode(const struct opts *o, const char *s)
{
    return decode_len(o, s, strlen(s));
}

static bool field_is(const struct decode_sample *s, const char *name)
{
    return s->field_len == strlen(name) &&
           memcmp(s->field, name, s->field_len) == 0;
}

static void expect_samples(const char *what, const struct want *w)
{
    unsigned n = 0;

    while (n < MAXW && w[n].field)
        n++;
    cr_assert_eq(out.n, n, "%s: %u samples, want %u", what, out.n, n);
    for (unsigned i = 0; i < n; i++) {
        const struct decode_sample *s = &out.samples[i];

        cr_assert(field_is(s, w[i].field), "%s: sample %u is '%.*s', want '%s'",
                  what, i, (int) s->field_len, s->field, w[i].field);
        cr_assert_eq(s->value, w[i].value, "%s: %s = %.17g", what, w[i].field,
                     s->value);
        cr_assert_eq(s->ts_ms, w[i].ts_ms, "%s: %s at %lld", what, w[i].field,
                     (long long) s->ts_ms);
        cr_assert_null(s->tags, "%s", what);
        cr_assert(isfinite(s->value));
    }
}

/* ---- accepted documents -------------------------------------------------- */

/* A case: payload, options, verdict, skipped count and samples in order. */
struct jcase {
    const char *payload;
    struct opts o;
    enum decode_status st;
    unsigned skipped;
    struct want w[MAXW];
};

static const struct jcase ok_cases[] = {
    {"{\"temp\":21.5,\"hum\":40}",
     {0},
     DECODE_OK,
     0,
     {{"temp", 21.5, NT}, {"hum", 40, NT}}},
    {" \n\t{ \"a\" : 1 ,\r\n \"b\":-2.5e1 }\n ",
     {0},
     DECODE_OK,
     0,
     {{"a", 1, NT}, {"b", -25, NT}}},
    {"{\"env\":{\"temp\":1,\"deep\":{\"x\":2}},\"y\":3}",
     {0},
     DECODE_OK,
     0,
     {{"env.temp", 1, NT}, {"env.deep.x", 2, NT}, {"y", 3, NT}}},
    {"{\"a\":[1,2,{\"b\":3}],\"c\":1,\"d\":[]}",
     {0},
     DECODE_OK,
     2,
     {{"c", 1, NT}}},
    {"{\"on\":true,\"off\":false}",
     {0},
     DECODE_OK,
     0,
     {{"on", 1, NT}, {"off", 0, NT}}},
    {"{\"s\":\"12.5\",\"t\":\"x\"}", {0}, DECODE_NO_NUMBER, 2, {{0}}},
    {"{\"s\":\"12.5\",\"t\":\"x\",\"u\":\" 7 \",\"e\":\"1\\u0032\"}",
     {.numeric_strings = true},
     DECODE_OK,
     2,
     {{"s", 12.5, NT}, {"u", 7, NT}}},
    {"{\"n\":null,\"v\":1}", {0}, DECODE_OK, 1, {{"v", 1, NT}}},
    {"{\"big\":1e999,\"neg\":-1e999,\"v\":2}",
     {0},
     DECODE_OK,
     2,
     {{"v", 2, NT}}},
    {"{\"z\":-0,\"tiny\":1e-400}",
     {0},
     DECODE_OK,
     0,
     {{"z", 0, NT}, {"tiny", 0, NT}}},
    {"{}", {0}, DECODE_NO_NUMBER, 0, {{0}}},
    {"[]", {0}, DECODE_NO_NUMBER, 0, {{0}}},
    {"{\"o\":{}}", {0}, DECODE_NO_NUMBER, 0, {{0}}},
    {"42", {0}, DECODE_OK, 0, {{"value", 42, NT}}},
    {" -1.5e2 ", {0}, DECODE_OK, 0, {{"value", -150, NT}}},
    {"true", {0}, DECODE_OK, 0, {{"value", 1, NT}}},
    {"null", {0}, DECODE_NO_NUMBER, 1, {{0}}},
    {"\"7\"", {0}, DECODE_NO_NUMBER, 1, {{0}}},
    {"\"7\"", {.numeric_strings = true}, DECODE_OK, 0, {{"value", 7, NT}}},
    {"3", {.fields = {"other"}}, DECODE_OK, 0, {{"value", 3, NT}}},
    {"[{\"a\":1},{\"a\":2}]", {0}, DECODE_OK, 0, {{"a", 1, NT}, {"a", 2, NT}}},
    {"[1,{\"a\":1},\"x\",[2],null]", {0}, DECODE_OK, 4, {{"a", 1, NT}}},
    /* sub->fields: the listed paths only; names are the paths. */
    {"{\"env\":{\"temp\":1,\"hum\":5},\"hum\":2,\"other\":3}",
     {.fields = {"env.temp", "hum", "missing"}},
     DECODE_OK,
     0,
     {{"env.temp", 1, NT}, {"hum", 2, NT}}},
    {"{\"other\":1,\"s\":\"x\"}",
     {.fields = {"temp"}},
     DECODE_NO_NUMBER,
     0,
     {{0}}},
    {"{\"s\":\"x\",\"t\":\"y\",\"n\":null}",
     {.fields = {"s", "n"}},
     DECODE_NO_NUMBER,
     2,
     {{0}}},
    {"{\"a\":{\"b\":{\"c\":7}},\"x\":[1]}",
     {.fields = {"a.b.c", "x"}},
     DECODE_OK,
     1,
     {{"a.b.c", 7, NT}}},
    {"{\"a.b\":1,\"a\":{\"b\":2}}",
     {.fields = {"a.b"}},
     DECODE_OK,
     0,
     {{"a.b", 1, NT}, {"a.b", 2, NT}}},
    /* Keys with escapes are unescaped to UTF-8 (control characters are
     * refused: control_characters_in_keys_are_refused). */
    {"{\"a\\\"b\":1,\"c\\\\d\":2,\"e\\/f\":3,\"\\u00e9\":5,"
     "\"\\ud83d\\ude00\":6}",
     {0},
     DECODE_OK,
     0,
     {{"a\"b", 1, NT},
      {"c\\d", 2, NT},
      {"e/f", 3, NT},
      {"\xc3\xa9", 5, NT},
      {"\xf0\x9f\x98\x80", 6, NT}}},
    {"{\"a\\u002eb\":{\"c\":1}}", {0}, DECODE_OK, 0, {{"a.b.c", 1, NT}}},
    {"{\"\xc3\xa9t\xc3\xa9\":1}",
     {0},
     DECODE_OK,
     0,
     {{"\xc3\xa9t\xc3\xa9", 1, NT}}},
    {"{\"s\":\"caf\xc3\xa9 \\\" \\u20ac\",\"v\":1}",
     {0},
     DECODE_OK,
     1,
     {{"v", 1, NT}}},
    /* Keys repeat freely across objects and readings. */
    {"{\"a\":{\"x\":1},\"b\":{\"x\":2}}",
     {0},
     DECODE_OK,
     0,
     {{"a.x", 1, NT}, {"b.x", 2, NT}}},
    {"{\"\":\"x\",\"v\":1}", {0}, DECODE_OK, 1, {{"v", 1, NT}}},
};

Test(decode_json, accepted_documents_table)
{
    for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
        const struct jcase *c = &ok_cases[i];
        enum decode_status st = decode(&c->o, c->payload);

        cr_assert_eq(st, c->st, "case %zu '%s': %s", i, c->payload,
                     decode_status_str(st));
        cr_assert_eq(out.skipped, c->skipped, "case %zu '%s': skipped %u", i,
                     c->payload, out.skipped);
        expect_samples(c->payload, c->w);
    }
}

Test(decode_json, plain_keys_point_into_the_payload)
{
    cr_assert_eq(decode(NULL, "{\"temp\":21.5,\"hum\":40}"), DECODE_OK);
    for (unsigned i = 0; i < out.n; i++) {
        const char *f = out.samples[i].field;

        cr_assert(f > payload_copy && f < payload_copy + 22);
    }
    cr_assert_eq(out.text_used, 0);
}

Test(decode_json, composed_names_live_in_out_text)
{
    cr_assert_eq(decode(NULL, "{\"env\":{\"t\":1},\"k\\u0031\":2}"), DECODE_OK);
    for (unsigned i = 0; i < out.n; i++) {
        const char *f = out.samples[i].field;

        cr_assert(f >= out.text &&
                  f + out.samples[i].field_len <= out.text + out.text_used);
    }
}

Test(decode_json, negative_zero_is_zero)
{
    cr_assert_eq(decode(NULL, "{\"z\":-0}"), DECODE_OK);
    cr_assert_eq(out.samples[0].value, 0.0);
}

/* ---- timestamps ---------------------------------------------------------- */

static const struct jcase ts_cases[] = {
    {"{\"ts\":1700000000,\"t\":1}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700}}},
    {"{\"t\":1,\"ts\":1700000000}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700}}},
    {"{\"ts\":1700000000.5,\"t\":1}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700 + 500}}},
    {"{\"ts\":1700000000123,\"t\":1}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700 + 123}}},
    {"{\"ts\":1700000000123456,\"t\":1}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700 + 123}}},
    {"{\"ts\":1700000000123456789,\"t\":1}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700 + 123}}},
    {"{\"ts\":\"2023-11-14T22:13:20.250Z\",\"t\":1,\"u\":2}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700 + 250}, {"u", 2, T1700 + 250}}},
    {"{\"ts\":\"2023-11-15T00:13:20+02:00\",\"t\":1}",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"t", 1, T1700}}},
    {"{\"ts\":\"1700000000\",\"t\":1}",
     {.ts_field = "ts", .numeric_strings = true},
     DECODE_OK,
     0,
     {{"t", 1, T1700}}},
    {"{\"t\":1}", {.ts_field = "ts"}, DECODE_OK, 0, {{"t", 1, NT}}},
    {"{\"ts\":1700000000}", {.ts_field = "ts"}, DECODE_NO_NUMBER, 0, {{0}}},
    {"{\"meta\":{\"time\":1700000000,\"seq\":4},\"t\":1}",
     {.ts_field = "meta.time"},
     DECODE_OK,
     0,
     {{"meta.seq", 4, T1700}, {"t", 1, T1700}}},
    {"{\"ts\":1700000000,\"t\":1,\"ts2\":5}",
     {.ts_field = "ts", .fields = {"t", "ts"}},
     DECODE_OK,
     0,
     {{"t", 1, T1700}}},
    /* Readings: each element carries its own time, in any unit. */
    {"[{\"ts\":1700000000,\"v\":1},{\"ts\":1700000001000,\"v\":2},"
     "{\"ts\":1700000002000000,\"v\":3},"
     "{\"ts\":\"2023-11-14T22:13:23Z\",\"v\":4},{\"v\":5}]",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"v", 1, T1700},
      {"v", 2, T1700 + 1000},
      {"v", 3, T1700 + 2000},
      {"v", 4, T1700 + 3000},
      {"v", 5, NT}}},
    {"[{\"ts\":1700000000,\"temp\":1},{\"ts\":1700000001,\"temp\":2}]",
     {.ts_field = "ts"},
     DECODE_OK,
     0,
     {{"temp", 1, T1700}, {"temp", 2, T1700 + 1000}}},
};

Test(decode_json, timestamps_table)
{
    for (size_t i = 0; i < sizeof ts_cases / sizeof ts_cases[0]; i++) {
        const struct jcase *c = &ts_cases[i];
        enum decode_status st = decode(&c->o, c->payload);

        cr_assert_eq(st, c->st, "case %zu '%s': %s", i, c->payload,
                     decode_status_str(st));
        cr_assert_eq(out.skipped, c->skipped, "case %zu", i);
        expect_samples(c->payload, c->w);
    }
}

Test(decode_json, bad_timestamps_refuse_the_payload)
{
    static const char *const bad[] = {
        "{\"ts\":\"yesterday\",\"t\":1}",
        "{\"ts\":\"1700000000\",\"t\":1}", /* numeric_strings is off */
        "{\"ts\":\"2023-02-29T00:00:00Z\",\"t\":1}",
        "{\"ts\":\"2023-11-14T22:13:20\\u005a\",\"t\":1}",
        "{\"ts\":-5,\"t\":1}",
        "{\"ts\":1e999,\"t\":1}",
        "{\"ts\":true,\"t\":1}",
        "{\"ts\":null,\"t\":1}",
        "{\"ts\":{\"s\":1},\"t\":1}",
        "{\"ts\":[1],\"t\":1}",
        "[{\"ts\":1700000000,\"t\":1},{\"ts\":\"x\",\"t\":2}]",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(decode(&(struct opts){.ts_field = "ts"}, bad[i]),
                     DECODE_BAD_TIMESTAMP, "'%s'", bad[i]);
}

Test(decode_json, one_time_path_named_twice_is_a_duplicate)
{
    cr_assert_eq(decode(&(struct opts){.ts_field = "a.b"},
                        "{\"a.b\":1700000000,\"a\":{\"b\":1700000001}}"),
                 DECODE_DUPLICATE_KEY);
}

/* ---- refusals ------------------------------------------------------------ */

static const char *const syntax_cases[] = {
    "{",
    "{\"a\"",
    "{\"a\":",
    "{\"a\":1",
    "{\"a\":1,}",
    "{,}",
    "{\"a\" 1}",
    "{a:1}",
    "{'a':1}",
    "{\"a\":01}",
    "{\"a\":+1}",
    "{\"a\":.5}",
    "{\"a\":1.}",
    "{\"a\":1e}",
    "{\"a\":-}",
    "{\"a\":NaN}",
    "{\"a\":Infinity}",
    "{\"a\":0x10}",
    "{\"a\":1 2}",
    "{\"a\":tru}",
    "{\"a\":nul}",
    "{\"a\":truex}",
    "{\"a\":1} x",
    "{\"a\":1}{}",
    "{\"a\":1}]",
    "{\"a\":\"\\x\"}",
    "{\"a\":\"\\u12\"}",
    "{\"a\":\"\\u12g4\"}",
    "{\"a\":\"\\ud800\"}",
    "{\"a\":\"\\ud800\\u0041\"}",
    "{\"a\":\"\\udc00\"}",
    "{\"a\":\"tab\there\"}",
    "{\"a\":\"x\ny\"}",
    "{\"a\":\"x\"\"y\"}",
    "{\"a\":1,\"b\":[1,2}",
    "{\"a\":[1,]}",
    "{\"a\":[1 2]}",
    "{\"a\":{\"b\" 1}}",
    "[1,2",
    "[{\"a\":1},]",
    "[{\"a\":1}{\"a\":2}]",
    "  ",
    "x",
    "}",
    "\xff",
    "{\"\xc3\":1}",
    "{\"a\":\"\xed\xa0\x80\"}",
    "{\"a\":\"\xc0\xaf\"}",
    "\"abc",
    "01",
    "1.",
};

Test(decode_json, syntax_errors_table)
{
    for (size_t i = 0; i < sizeof syntax_cases / sizeof syntax_cases[0]; i++) {
        enum decode_status st = decode(NULL, syntax_cases[i]);

        cr_assert_eq(st, DECODE_SYNTAX, "'%s': %s", syntax_cases[i],
                     decode_status_str(st));
    }
}

Test(decode_json, nul_inside_the_text_is_a_syntax_error)
{
    cr_assert_eq(decode_len(NULL, "{\"a\":1}\0", 8), DECODE_SYNTAX);
    cr_assert_eq(decode_len(NULL, "{\"a\0\":1}", 8), DECODE_SYNTAX);
    cr_assert_eq(decode_len(NULL, "{\"a\":1\0}", 8), DECODE_SYNTAX);
}

Test(decode_json, duplicate_keys_table)
{
    static const char *const dups[] = {
        "{\"a\":1,\"a\":2}",         "{\"a\":1,\"\\u0061\":2}",
        "{\"a\":{\"x\":1,\"x\":2}}", "{\"a\":\"s\",\"b\":1,\"a\":1}",
        "{\"a\":{},\"a\":{}}",       "[{\"a\":1},{\"b\":1,\"b\":2}]",
    };

    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++)
        cr_assert_eq(decode(NULL, dups[i]), DECODE_DUPLICATE_KEY, "'%s'",
                     dups[i]);
    /* Different objects, different readings: no duplicate. */
    cr_assert_eq(decode(NULL, "[{\"a\":1},{\"a\":2}]"), DECODE_OK);
}

/* Control characters in keys are refused, as InfluxDB refuses them in
 * names: escaped, or DEL raw. Values may hold them. */
Test(decode_json, control_characters_in_keys_are_refused)
{
    static const char *const cases[] = {
        "{\"a\\u0000b\":1}",
        "{\"a\\u0001\":1}",
        "{\"\\u001f\":1}",
        "{\"a\\u007f\":1}",
        "{\"a\\u007F\":1}",
        "{\"a\x7f\":1}",
        "{\"a\\nb\":1}",
        "{\"a\\tb\":1}",
        "{\"\\b\":1}",
        "{\"\\f\\r\":1}",
        "{\"o\":{\"\\u001b[2J\":1}}",
        "{\"ok\":1,\"x\\u0007\":\"s\"}",
        "[{\"a\":1},{\"a\\u0002\":2}]",
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum decode_status st = decode(NULL, cases[i]);

        cr_assert_eq(st, DECODE_BAD_NAME, "case %zu: %s", i,
                     decode_status_str(st));
    }
    /* Near misses are names. */
    cr_assert_eq(decode(NULL, "{\"a\\u0020b\":1,\"\\u0080\":2,\"\\/\":3}"),
                 DECODE_OK);
    cr_assert_eq(out.n, 3);
    cr_assert_eq(decode(NULL, "{\"s\":\"a\x7f\\u0001\\n\",\"v\":1}"),
                 DECODE_OK);
    cr_assert_eq(out.n, 1);
}

Test(decode_json, bad_field_names)
{
    char buf[700];

    cr_assert_eq(decode(NULL, "{\"\":1}"), DECODE_BAD_FIELD);
    cr_assert_eq(decode(NULL, "{\"\":{\"a\":1}}"), DECODE_BAD_FIELD);
    cr_assert_eq(decode(NULL, "{\"a\":{\"\":1}}"), DECODE_BAD_FIELD);
    /* DECODE_FIELD_MAX bytes is the longest name kept. */
    snprintf(buf, sizeof buf, "{\"%0*d\":1}", DECODE_FIELD_MAX, 0);
    cr_assert_eq(decode(NULL, buf), DECODE_OK);
    cr_assert_eq(out.samples[0].field_len, DECODE_FIELD_MAX);
    snprintf(buf, sizeof buf, "{\"%0*d\":1}", DECODE_FIELD_MAX + 1, 0);
    cr_assert_eq(decode(NULL, buf), DECODE_BAD_FIELD);
    /* The dotted name counts, not the key: 200 + '.' + 55 = 256 bytes. */
    snprintf(buf, sizeof buf, "{\"%0*d\":{\"%0*d\":1}}", 200, 0, 55, 0);
    cr_assert_eq(decode(NULL, buf), DECODE_BAD_FIELD);
    snprintf(buf, sizeof buf, "{\"%0*d\":{\"%0*d\":1}}", 200, 0, 54, 0);
    cr_assert_eq(decode(NULL, buf), DECODE_OK);
    cr_assert_eq(out.samples[0].field_len, 255);
    /* A long key holding only strings yields no sample, so no verdict. */
    snprintf(buf, sizeof buf, "{\"%0*d\":{\"a\":\"s\"},\"v\":1}", 300, 0);
    cr_assert_eq(decode(NULL, buf), DECODE_OK);
}

/* n nested objects, the innermost {"v":1}, or n nested arrays in one. */
static void nested(char *buf, size_t cap, int n, bool arrays)
{
    size_t w = 0;

    if (arrays) {
        w += (size_t) snprintf(buf + w, cap - w, "{\"x\":");
        for (int i = 1; i < n; i++)
            w += (size_t) snprintf(buf + w, cap - w, "[");
        for (int i = 1; i < n; i++)
            w += (size_t) snprintf(buf + w, cap - w, "]");
        snprintf(buf + w, cap - w, ",\"v\":1}");
        return;
    }
    for (int i = 1; i < n; i++)
        w += (size_t) snprintf(buf + w, cap - w, "{\"a\":");
    w += (size_t) snprintf(buf + w, cap - w, "{\"v\":1}");
    for (int i = 1; i < n; i++)
        w += (size_t) snprintf(buf + w, cap - w, "}");
}

Test(decode_json, nesting_is_bounded)
{
    char buf[512];
    char name[64] = "";

    nested(buf, sizeof buf, DECODE_MAX_DEPTH, false);
    cr_assert_eq(decode(NULL, buf), DECODE_OK);
    for (int i = 1; i < DECODE_MAX_DEPTH; i++)
        strcat(name, "a.");
    strcat(name, "v");
    cr_assert(field_is(&out.samples[0], name));
    nested(buf, sizeof buf, DECODE_MAX_DEPTH + 1, false);
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_DEEP);
    /* Skipped arrays count as levels too. */
    nested(buf, sizeof buf, DECODE_MAX_DEPTH, true);
    cr_assert_eq(decode(NULL, buf), DECODE_OK);
    cr_assert_eq(out.skipped, 1);
    nested(buf, sizeof buf, DECODE_MAX_DEPTH + 1, true);
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_DEEP);
    /* A top-level array of readings is a level. */
    snprintf(buf, sizeof buf, "[");
    nested(buf + 1, sizeof buf - 1, DECODE_MAX_DEPTH - 1, false);
    strcat(buf, "]");
    cr_assert_eq(decode(NULL, buf), DECODE_OK);
    nested(buf + 1, sizeof buf - 1, DECODE_MAX_DEPTH, false);
    strcat(buf, "]");
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_DEEP);
}

Test(decode_json, very_deep_input_does_not_recurse_deeper)
{
    static char buf[200001];

    memset(buf, '[', sizeof buf - 1);
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_DEEP);
    for (size_t i = 0; i + 5 < sizeof buf - 1; i += 5)
        memcpy(buf + i, "{\"a\":", 5);
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_DEEP);
}

Test(decode_json, every_strict_prefix_of_an_object_is_refused)
{
    static const char *const docs[] = {
        "{\"temp\":21.5,\"hum\":40}",
        ("{\"env\":{\"t\":-1.5e-3,\"ok\":true},\"s\":\"x\\u00e9\\n\","
         "\"a\":[1,{\"b\":null}],\"f\":false}"),
        "[{\"ts\":\"2023-11-14T22:13:20Z\",\"v\":1},{\"v\":2}]",
        "{\"\\ud83d\\ude00\":12345678901234567890}",
    };

    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        size_t len = strlen(docs[d]);

        cr_assert_eq(decode(NULL, docs[d]), DECODE_OK, "'%s'", docs[d]);
        for (size_t n = 1; n < len; n++) {
            enum decode_status st = decode_len(NULL, docs[d], n);

            cr_assert_eq(st, DECODE_SYNTAX, "'%.*s': %s", (int) n, docs[d],
                         decode_status_str(st));
        }
    }
}

/* {"k0":0,"k1":1,...} with n members. */
static char *many_members(int n, const char *value)
{
    size_t cap = (size_t) n * 32 + 16;
    char *buf = malloc(cap);
    size_t w = 0;

    cr_assert_not_null(buf);
    buf[w++] = '{';
    for (int i = 0; i < n; i++)
        w += (size_t) snprintf(buf + w, cap - w, "%s\"k%d\":%s", i ? "," : "",
                               i, value ? value : "1");
    snprintf(buf + w, cap - w, "}");
    return buf;
}

Test(decode_json, sample_count_is_bounded)
{
    char *buf = many_members(DECODE_MAX_SAMPLES, NULL);

    cr_assert_eq(decode(NULL, buf), DECODE_OK);
    cr_assert_eq(out.n, DECODE_MAX_SAMPLES);
    free(buf);
    buf = many_members(DECODE_MAX_SAMPLES + 1, NULL);
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_MANY);
    free(buf);
}

Test(decode_json, readings_share_the_sample_bound)
{
    size_t cap = (DECODE_MAX_SAMPLES + 1) * 8 + 4;
    char *buf = malloc(cap);
    size_t w = 0;

    cr_assert_not_null(buf);
    buf[w++] = '[';
    for (int i = 0; i <= DECODE_MAX_SAMPLES; i++)
        w += (size_t) snprintf(buf + w, cap - w, "%s{\"a\":1}", i ? "," : "");
    snprintf(buf + w, cap - w, "]");
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_MANY);
    free(buf);
}

Test(decode_json, open_object_keys_are_bounded)
{
    char *buf = many_members(DECODE_JSON_MAX_KEYS, "\"s\"");

    cr_assert_eq(decode(NULL, buf), DECODE_NO_NUMBER);
    cr_assert_eq(out.skipped, DECODE_JSON_MAX_KEYS);
    free(buf);
    buf = many_members(DECODE_JSON_MAX_KEYS + 1, "\"s\"");
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_MANY);
    free(buf);
}

Test(decode_json, composed_text_is_bounded)
{
    /* 100 samples named "<240 digits>.kN": about 24 KB of names. */
    size_t cap = 100 * 16 + 300;
    char *buf = malloc(cap);
    size_t w;

    cr_assert_not_null(buf);
    w = (size_t) snprintf(buf, cap, "{\"%0*d\":{", 240, 0);
    for (int i = 0; i < 100; i++)
        w +=
            (size_t) snprintf(buf + w, cap - w, "%s\"k%d\":1", i ? "," : "", i);
    snprintf(buf + w, cap - w, "}}");
    cr_assert_eq(decode(NULL, buf), DECODE_TOO_MANY);
    /* The same with 60 samples fits (60 * 245 < DECODE_TEXT_MAX). */
    w = (size_t) snprintf(buf, cap, "{\"%0*d\":{", 240, 0);
    for (int i = 0; i < 60; i++)
        w +=
            (size_t) snprintf(buf + w, cap - w, "%s\"k%d\":1", i ? "," : "", i);
    snprintf(buf + w, cap - w, "}}");
    cr_assert_eq(decode(NULL, buf), DECODE_OK);
    cr_assert_eq(out.n, 60);
    free(buf);
}

Test(decode_json, binary_garbage_is_refused_without_harm)
{
    static const char alphabet[] = "{}[]\":,0123456789-.e tfn\\u";
    uint64_t x = 0x2545f4914f6cdd1dULL;
    unsigned char buf[96];

    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 1 + (size_t) (x % (sizeof buf - 1));
        enum decode_status st;

        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* Mostly JSON punctuation, so some inputs get deep. */
            if (x % 3)
                buf[i] = (unsigned char) alphabet[x % (sizeof alphabet - 1)];
            else
                buf[i] = (unsigned char) (x >> 32);
        }
        st = decode_len(NULL, (const char *) buf, len);
        cr_assert_leq(st, DECODE_BAD_FIELD);
        if (st == DECODE_OK)
            for (unsigned i = 0; i < out.n; i++)
                cr_assert(isfinite(out.samples[i].value) &&
                          out.samples[i].field_len >= 1 &&
                          out.samples[i].field_len <= DECODE_FIELD_MAX);
    }
}
