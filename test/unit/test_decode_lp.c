/*
 * test_decode_lp.c - InfluxDB line protocol: values, escapes (with the
 * reference's own examples), tags, timestamps in every precision, several
 * lines, and refusals.
 *
 * Expected values are C literals or arithmetic on known times
 * (1700000000 s is 2023-11-14T22:13:20Z), never copied from output.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "decode.h"
#include "decode_lp.h"

#define T1700 (1700000000LL * 1000)
#define NT    DECODE_NO_TIME
#define MAXW  8

static struct decode_out out;
static char *payload_copy;

static enum decode_status decode_prec_len(enum config_precision prec,
                                          const char *s, size_t len)
{
    struct config_sub sub;

    memset(&sub, 0, sizeof sub);
    sub.format = FORMAT_INFLUX;
    sub.precision = prec;
    /* Exactly len + 1 bytes, so ASan sees any read past the NUL. */
    free(payload_copy);
    payload_copy = malloc(len + 1);
    cr_assert_not_null(payload_copy);
    memcpy(payload_copy, s, len);
    payload_copy[len] = '\0';
    return decode_payload(&sub, payload_copy, len, &out);
}

static enum decode_status decode_prec(enum config_precision prec, const char *s)
{
    return decode_prec_len(prec, s, strlen(s));
}

static enum decode_status decode(const char *s)
{
    return decode_prec(PRECISION_NS, s);
}

static bool text_is(const char *p, size_t len, const char *want)
{
    return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

/* One expected sample; tags NULL means "same as the previous sample". */
struct want {
    const char *field;
    double value;
    int64_t ts_ms;
    const char *tags;
};

/* A case: payload, verdict, skipped count and samples in order. */
struct lcase {
    const char *payload;
    enum decode_status st;
    unsigned skipped;
    struct want w[MAXW];
};

static void expect(const struct lcase *c)
{
    unsigned n = 0;
    const char *tags = NULL;

    while (n < MAXW && c->w[n].field)
        n++;
    cr_assert_eq(out.n, n, "'%s': %u samples, want %u", c->payload, out.n, n);
    cr_assert_eq(out.skipped, c->skipped, "'%s': skipped %u", c->payload,
                 out.skipped);
    for (unsigned i = 0; i < n; i++) {
        const struct decode_sample *s = &out.samples[i];
        const struct want *w = &c->w[i];

        if (w->tags)
            tags = w->tags;
        cr_assert(text_is(s->field, s->field_len, w->field),
                  "'%s': sample %u is '%.*s', want '%s'", c->payload, i,
                  (int) s->field_len, s->field, w->field);
        cr_assert_eq(s->value, w->value, "'%s': %s = %.17g", c->payload,
                     w->field, s->value);
        cr_assert_eq(s->ts_ms, w->ts_ms, "'%s': %s at %lld", c->payload,
                     w->field, (long long) s->ts_ms);
        cr_assert(text_is(s->tags, s->tags_len, tags),
                  "'%s': tags '%.*s', want '%s'", c->payload, (int) s->tags_len,
                  s->tags, tags);
    }
}

static void run_table(const struct lcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum decode_status st = decode(cases[i].payload);

        cr_assert_eq(st, cases[i].st, "case %zu '%s': %s", i, cases[i].payload,
                     decode_status_str(st));
        expect(&cases[i]);
    }
}

#define TAGS_W "{\"_measurement\":\"weather\",\"site\":\"north gate\"}"
#define TAGS_M "{\"_measurement\":\"m\"}"

/* ---- values and lines ---------------------------------------------------- */

static const struct lcase value_cases[] = {
    {"weather,site=north\\ gate temp=21.5 1700000000000000000",
     DECODE_OK,
     0,
     {{"weather.temp", 21.5, T1700, TAGS_W}}},
    {"weather,site=north\\ gate temp=21.5,hum=40i,ok=t",
     DECODE_OK,
     0,
     {{"weather.temp", 21.5, NT, TAGS_W},
      {"weather.hum", 40, NT, NULL},
      {"weather.ok", 1, NT, NULL}}},
    {"m a=1,b=-1.5,c=-1e3,d=1.,e=.5,f=-.5e-3,g=1E2",
     DECODE_OK,
     0,
     {{"m.a", 1, NT, TAGS_M},
      {"m.b", -1.5, NT, NULL},
      {"m.c", -1000, NT, NULL},
      {"m.d", 1, NT, NULL},
      {"m.e", 0.5, NT, NULL},
      {"m.f", -0.0005, NT, NULL},
      {"m.g", 100, NT, NULL}}},
    /* Go's strconv.ParseFloat, which the reference uses: leading zeros,
     * "1.e5", '_' between digits, hex with an exponent, underflow to 0. */
    {"m a=00.5,b=1.e5,c=1_000,d=12_3.4_5,e=1_0e1_0,f=1e-400,g=-0",
     DECODE_OK,
     0,
     {{"m.a", 0.5, NT, TAGS_M},
      {"m.b", 100000, NT, NULL},
      {"m.c", 1000, NT, NULL},
      {"m.d", 123.45, NT, NULL},
      {"m.e", 1e11, NT, NULL},
      {"m.f", 0, NT, NULL},
      {"m.g", 0, NT, NULL}}},
    {"m a=0x1p3,b=0x1.8p1,c=-0x1P-2,d=0x_1p0,e=0x1_0p0,f=0xAbCp0,g=0x.8p1",
     DECODE_OK,
     0,
     {{"m.a", 8, NT, TAGS_M},
      {"m.b", 3, NT, NULL},
      {"m.c", -0.25, NT, NULL},
      {"m.d", 1, NT, NULL},
      {"m.e", 16, NT, NULL},
      {"m.f", 2748, NT, NULL},
      {"m.g", 1, NT, NULL}}},
    {"m a=1.7976931348623157e308,b=4.9e-324,c=0x1fffffffffffffp971",
     DECODE_OK,
     0,
     {{"m.a", 1.7976931348623157e308, NT, TAGS_M},
      {"m.b", 4.9e-324, NT, NULL},
      {"m.c", 1.7976931348623157e308, NT, NULL}}},
    {"m a=007i,b=-0i,c=007u",
     DECODE_OK,
     0,
     {{"m.a", 7, NT, TAGS_M}, {"m.b", 0, NT, NULL}, {"m.c", 7, NT, NULL}}},
    {"m a=12i,b=-12i,c=12u,d=0u,e=9223372036854775807i",
     DECODE_OK,
     0,
     {{"m.a", 12, NT, TAGS_M},
      {"m.b", -12, NT, NULL},
      {"m.c", 12, NT, NULL},
      {"m.d", 0, NT, NULL},
      {"m.e", 9223372036854775807.0, NT, NULL}}},
    {"m a=-9223372036854775808i,b=18446744073709551615u",
     DECODE_OK,
     0,
     {{"m.a", -9223372036854775808.0, NT, TAGS_M},
      {"m.b", 18446744073709551615.0, NT, NULL}}},
    {"m a=t,b=T,c=true,d=True,e=TRUE",
     DECODE_OK,
     0,
     {{"m.a", 1, NT, TAGS_M},
      {"m.b", 1, NT, NULL},
      {"m.c", 1, NT, NULL},
      {"m.d", 1, NT, NULL},
      {"m.e", 1, NT, NULL}}},
    {"m a=f,b=F,c=false,d=False,e=FALSE",
     DECODE_OK,
     0,
     {{"m.a", 0, NT, TAGS_M},
      {"m.b", 0, NT, NULL},
      {"m.c", 0, NT, NULL},
      {"m.d", 0, NT, NULL},
      {"m.e", 0, NT, NULL}}},
    {"m s=\"hello\",v=1,t=\"a\\\"b, c=d\"",
     DECODE_OK,
     2,
     {{"m.v", 1, NT, TAGS_M}}},
    {"m s=\"only strings\"", DECODE_NO_NUMBER, 1, {{0}}},
    {"m s=\"\"", DECODE_NO_NUMBER, 1, {{0}}},
    /* Several lines: CRLF, blank lines, comments, leading spaces. */
    {"# header\n\nm a=1\r\n  \n  # indented comment\r\nm b=2 1000000\n"
     "  m c=3 2000000  \r\n\n\r",
     DECODE_OK,
     0,
     {{"m.a", 1, NT, TAGS_M}, {"m.b", 2, 1, NULL}, {"m.c", 3, 2, NULL}}},
    {"a,x=1 v=1 1700000000000000000\nb,x=2 v=2 1700000001000000000",
     DECODE_OK,
     0,
     {{"a.v", 1, T1700, "{\"_measurement\":\"a\",\"x\":\"1\"}"},
      {"b.v", 2, T1700 + 1000, "{\"_measurement\":\"b\",\"x\":\"2\"}"}}},
    {"# only a comment\n\n", DECODE_NO_NUMBER, 0, {{0}}},
    {"m  a=1", DECODE_OK, 0, {{"m.a", 1, NT, TAGS_M}}},
    {"m a=1  \r\n", DECODE_OK, 0, {{"m.a", 1, NT, TAGS_M}}},
    {"m,t=v   a=1   1000000   ",
     DECODE_OK,
     0,
     {{"m.a", 1, 1, "{\"_measurement\":\"m\",\"t\":\"v\"}"}}},
    /* A string may hold a raw newline (the reference's example). */
    {"m value=1.0,str=\"foo\nbar\"",
     DECODE_OK,
     1,
     {{"m.value", 1, NT, TAGS_M}}},
    {"m s=\"a\\\\\",v=2,t=\"\\n\r\n\t\x01\x7f\\x\"",
     DECODE_OK,
     2,
     {{"m.v", 2, NT, TAGS_M}}},
    /* Booleans are 1 and 0; fields may repeat as the reference allows. */
    {"m a=true,a=F",
     DECODE_OK,
     0,
     {{"m.a", 1, NT, TAGS_M}, {"m.a", 0, NT, NULL}}},
};

Test(decode_lp, values_and_lines_table)
{
    run_table(value_cases, sizeof value_cases / sizeof value_cases[0]);
}

Test(decode_lp, samples_of_a_line_share_one_tags_pointer)
{
    cr_assert_eq(decode("m,a=1 x=1,y=2\nm,a=2 x=3"), DECODE_OK);
    cr_assert_eq(out.n, 3);
    cr_assert_eq(out.samples[0].tags, out.samples[1].tags);
    cr_assert_neq(out.samples[1].tags, out.samples[2].tags);
    for (unsigned i = 0; i < out.n; i++) {
        const struct decode_sample *s = &out.samples[i];

        cr_assert(s->tags >= out.text &&
                  s->tags + s->tags_len <= out.text + out.text_used);
        cr_assert(s->field >= out.text &&
                  s->field + s->field_len <= out.text + out.text_used);
    }
}

Test(decode_lp, a_line_of_strings_gives_its_text_back)
{
    cr_assert_eq(decode("m,t=v s=\"x\""), DECODE_NO_NUMBER);
    cr_assert_eq(out.text_used, 0);
    cr_assert_eq(decode("m,t=v s=\"x\"\nm v=1"), DECODE_OK);
    cr_assert(text_is(out.samples[0].tags, out.samples[0].tags_len, TAGS_M));
}

/* ---- escaping: the reference's examples ---------------------------------- */

static const struct lcase escape_cases[] = {
    /* Measurement name with spaces. */
    {"my\\ Measurement fieldKey=\"string value\"", DECODE_NO_NUMBER, 1, {{0}}},
    {"my\\ Measurement fieldKey=\"string value\",n=1",
     DECODE_OK,
     1,
     {{"my Measurement.n", 1, NT, "{\"_measurement\":\"my Measurement\"}"}}},
    /* Double quotes in a string field value. */
    {"myMeasurement fieldKey=\"\\\"string\\\" within a string\",n=2",
     DECODE_OK,
     1,
     {{"myMeasurement.n", 2, NT, "{\"_measurement\":\"myMeasurement\"}"}}},
    /* Tag keys and values with spaces. */
    {"myMeasurement,tag\\ Key1=tag\\ Value1,tag\\ Key2=tag\\ Value2 "
     "fieldKey=100",
     DECODE_OK,
     0,
     {{"myMeasurement.fieldKey", 100, NT,
       "{\"_measurement\":\"myMeasurement\",\"tag Key1\":\"tag Value1\","
       "\"tag Key2\":\"tag Value2\"}"}}},
    /* Emojis. */
    {"myMeasurement,tagKey=\xf0\x9f\x8d\xad fieldKey=\"Launch "
     "\xf0\x9f\x9a\x80\",n=3 1556813561098000000",
     DECODE_OK,
     1,
     {{"myMeasurement.n", 3, 1556813561098LL,
       "{\"_measurement\":\"myMeasurement\",\"tagKey\":"
       "\"\xf0\x9f\x8d\xad\"}"}}},
    /* Quotes, emoji, escaped commas and spaces everywhere; "\e" is literal. */
    {"\"measurement\\ with\\ quo\xe2\x9a\xa1\xef\xb8\x8f"
     "es\\ and\\ emoji\",tag\\ key\\ with\\ sp\xf0\x9f\x9a\x80"
     "ces=tag\\,value\\,with\"commas\" field_k\\ey=\"string field value, "
     "only \\\" need be esc\xf0\x9f\x8d\xad"
     "ped\",n=4",
     DECODE_OK,
     1,
     {{"\"measurement with quo\xe2\x9a\xa1\xef\xb8\x8f"
       "es and emoji\".n",
       4, NT,
       "{\"_measurement\":\"\\\"measurement with quo\xe2\x9a\xa1\xef\xb8\x8f"
       "es and emoji\\\"\",\"tag key with sp\xf0\x9f\x9a\x80"
       "ces\":\"tag,value,with\\\"commas\\\"\"}"}}},
    {"\"m\\ q\",t\\ k=v\\,w field_k\\ey=5",
     DECODE_OK,
     0,
     {{"\"m q\".field_k\\ey", 5, NT,
       "{\"_measurement\":\"\\\"m q\\\"\",\"t k\":\"v,w\"}"}}},
    /* Escaped comma in the measurement; '=' needs no escape there. */
    {"cpu\\,01,host=a v=1",
     DECODE_OK,
     0,
     {{"cpu,01.v", 1, NT, "{\"_measurement\":\"cpu,01\",\"host\":\"a\"}"}}},
    {"a=b v=1", DECODE_OK, 0, {{"a=b.v", 1, NT, "{\"_measurement\":\"a=b\"}"}}},
    /* Escaped equals in tag keys, tag values and field keys. */
    {"m,k\\=1=a\\=b f\\,x\\=y\\ z=1",
     DECODE_OK,
     0,
     {{"m.f,x=y z", 1, NT, "{\"_measurement\":\"m\",\"k=1\":\"a=b\"}"}}},
    /* Backslashes, as the reference reads them: one stands for the byte
     * after it only when that byte needs escaping there; otherwise it is
     * itself, and the byte after it is read on its own. */
    {"cpu,regions=eas\\\\ t value=1.0",
     DECODE_OK,
     0,
     {{"cpu.value", 1, NT,
       "{\"_measurement\":\"cpu\",\"regions\":\"eas\\\\ t\"}"}}},
    {"cpu,host=two\\\\\\ words value=42",
     DECODE_OK,
     0,
     {{"cpu.value", 42, NT,
       "{\"_measurement\":\"cpu\",\"host\":\"two\\\\\\\\ words\"}"}}},
    {"m,k=a\\\\b v=1",
     DECODE_OK,
     0,
     {{"m.v", 1, NT, "{\"_measurement\":\"m\",\"k\":\"a\\\\\\\\b\"}"}}},
    {"m,k=a\\b v=1",
     DECODE_OK,
     0,
     {{"m.v", 1, NT, "{\"_measurement\":\"m\",\"k\":\"a\\\\b\"}"}}},
    {"m\\\\x v=1",
     DECODE_OK,
     0,
     {{"m\\\\x.v", 1, NT, "{\"_measurement\":\"m\\\\\\\\x\"}"}}},
    /* "\\," in a measurement: a kept backslash, then an escaped comma. */
    {"m\\\\,x v=1",
     DECODE_OK,
     0,
     {{"m\\,x.v", 1, NT, "{\"_measurement\":\"m\\\\,x\"}"}}},
    /* "\=" is no escape in a measurement; a backslash before a tab or at
     * the end of a name is itself. */
    {"a\\=b v=1",
     DECODE_OK,
     0,
     {{"a\\=b.v", 1, NT, "{\"_measurement\":\"a\\\\=b\"}"}}},
    {"m,k=v\\  f=1",
     DECODE_OK,
     0,
     {{"m.f", 1, NT, "{\"_measurement\":\"m\",\"k\":\"v \"}"}}},
    {"m k\\\\x=1", DECODE_OK, 0, {{"m.k\\\\x", 1, NT, TAGS_M}}},
    /* String values may hold commas, equals, spaces and escaped quotes. */
    {"m s=\"a,b=c d\\\\\",v=1", DECODE_OK, 1, {{"m.v", 1, NT, TAGS_M}}},
};

Test(decode_lp, escaping_table)
{
    run_table(escape_cases, sizeof escape_cases / sizeof escape_cases[0]);
}

/* ---- timestamps ---------------------------------------------------------- */

Test(decode_lp, every_precision_converts_to_floored_ms)
{
    static const struct {
        enum config_precision prec;
        const char *ts;
        int64_t ms;
    } cases[] = {
        {PRECISION_NS, "1700000000123456789", T1700 + 123},
        {PRECISION_US, "1700000000123456", T1700 + 123},
        {PRECISION_MS, "1700000000123", T1700 + 123},
        {PRECISION_S, "1700000000", T1700},
        {PRECISION_NS, "0", 0},
        {PRECISION_NS, "999999", 0},
        {PRECISION_NS, "-1", -1},
        {PRECISION_NS, "-1000000", -1},
        {PRECISION_NS, "-1000001", -2},
        {PRECISION_US, "-1500", -2},
        {PRECISION_MS, "-5", -5},
        {PRECISION_S, "-1", -1000},
        /* The reference takes any int64 whose value in nanoseconds is
         * an int64 too. */
        {PRECISION_NS, "9223372036854775807", 9223372036854LL},
        {PRECISION_NS, "-9223372036854775808", -9223372036855LL},
        {PRECISION_NS, "007", 0},
        {PRECISION_NS, "-0", 0},
        {PRECISION_US, "9223372036854775", 9223372036854LL},
        {PRECISION_US, "-9223372036854775", -9223372036855LL},
        {PRECISION_MS, "9223372036854", 9223372036854LL},
        {PRECISION_MS, "-9223372036854", -9223372036854LL},
        {PRECISION_S, "9223372036", 9223372036000LL},
        {PRECISION_S, "-9223372036", -9223372036000LL},
    };
    char line[64];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum decode_status st;

        snprintf(line, sizeof line, "m v=1 %s", cases[i].ts);
        st = decode_prec(cases[i].prec, line);
        cr_assert_eq(st, DECODE_OK, "'%s' (precision %d): %s", line,
                     cases[i].prec, decode_status_str(st));
        cr_assert_eq(out.samples[0].ts_ms, cases[i].ms, "'%s' (%d): %lld", line,
                     cases[i].prec, (long long) out.samples[0].ts_ms);
    }
}

Test(decode_lp, out_of_range_timestamps_are_refused)
{
    static const struct {
        enum config_precision prec;
        const char *ts;
    } cases[] = {
        {PRECISION_NS, "9223372036854775808"},
        {PRECISION_NS, "-9223372036854775809"},
        {PRECISION_NS, "99999999999999999999"},
        {PRECISION_US, "9223372036854776"},
        {PRECISION_US, "-9223372036854776"},
        {PRECISION_MS, "9223372036855"},
        {PRECISION_MS, "-9223372036855"},
        {PRECISION_S, "9223372037"},
        {PRECISION_S, "-9223372037"},
        {PRECISION_NS, "-"},
        {PRECISION_NS, "1-2"},
        {PRECISION_NS, "--1"},
    };
    char line[64];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum decode_status st;

        snprintf(line, sizeof line, "m v=1 %s", cases[i].ts);
        st = decode_prec(cases[i].prec, line);
        cr_assert_eq(st, DECODE_BAD_TIMESTAMP, "'%s' (precision %d): %s", line,
                     cases[i].prec, decode_status_str(st));
    }
}

/* ---- refusals ------------------------------------------------------------ */

static const char *const syntax_cases[] = {
    "m",
    "m ",
    "m f",
    "m f=",
    "m =1",
    "m f=1,",
    "m f=1, g=2",
    "m f=1 x",
    "m f=1 1 2",
    "m f=1 12.5",
    "m f=1 1e9",
    "m f=1 +5",
    "m f=1 1\r2",
    "m,t v=1",
    "m,t= v=1",
    "m,=v f=1",
    "m, f=1",
    "m,t=v",
    "m,t=v ",
    "m,t=v, f=1",
    "m,t=a=b f=1",
    "m,t=v\rf=1",
    ",t=v f=1",
    " ,t=v f=1",
    "m f=\"unterminated",
    "m f=\"unterminated\n",
    "m f=\"x\"y",
    "m f=\"x\"\"y\"",
    "m f=1.5i",
    "m f=i",
    "m f=-i",
    "m f=+1i",
    "m f=-1u",
    "m f=1.0u",
    "m f=1_0i",
    "m f=9223372036854775808i",
    "m f=-9223372036854775809i",
    "m f=18446744073709551616u",
    "m f=abc",
    "m f=tru",
    "m f=yes",
    "m f=nan",
    "m f=NaN",
    "m f=inf",
    "m f=-Inf",
    "m f=-infinity",
    "m f=+2",
    "m f=1e999",
    "m f=-1e999",
    "m f=0x1p1024",
    "m f=0x10",
    "m f=0x1p",
    "m f=0b101",
    "m f=1p3",
    "m f=1..2",
    "m f=.",
    "m f=-",
    "m f=-.e5",
    "m f=1e5.5",
    "m f=1e",
    "m f=1__0",
    "m f=_1",
    "m f=1_",
    "m f=1_.5",
    "m f=1._5",
    "m f=1_e5",
    "m f=1e_5",
    "m f=0x1_p0",
    "m f=1\"x\"",
    "m f=1\rx",
    "m f=1\t",
    "m f=\"x\"\t",
    "m k\\\\=1",
    "m\xff f=1",
    "m,k=\xc3 f=1",
    "m f\xc3=1",
    "m f=\"\xc3\"",
    "m f=\"\xed\xa0\x80\",g=1",
    "# comment\twith a tab",
    "# comment\rwith a CR\nm,t",
    "\r m f=1",
    "m\r",
    "m\n",
};

Test(decode_lp, syntax_errors_table)
{
    for (size_t i = 0; i < sizeof syntax_cases / sizeof syntax_cases[0]; i++) {
        enum decode_status st = decode(syntax_cases[i]);

        cr_assert_eq(st, DECODE_SYNTAX, "'%s': %s", syntax_cases[i],
                     decode_status_str(st));
    }
}

Test(decode_lp, nul_bytes_are_refused_outside_strings)
{
    cr_assert_eq(decode_prec_len(PRECISION_NS, "m f=1\0", 6), DECODE_SYNTAX);
    cr_assert_eq(decode_prec_len(PRECISION_NS, "m\0 f=1", 6), DECODE_BAD_NAME);
    cr_assert_eq(decode_prec_len(PRECISION_NS, "m,t=\0 f=1", 9),
                 DECODE_BAD_NAME);
    cr_assert_eq(decode_prec_len(PRECISION_NS, "m s=\"a\0b\",v=3", 13),
                 DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.skipped, 1);
}

/* Control bytes end a name and refuse the line, as in the reference. */
Test(decode_lp, control_bytes_in_names_refuse_the_line)
{
    static const char *const cases[] = {
        "m\x01 v=1",     "m\x7f v=1",     "m\tx v=1",          "\tm v=1",
        "m,k\x1f=v v=1", "m,k=v\x01 v=1", "m,k=\x7fv v=1",     "m f\x01=1",
        "m\x1b[31m v=1", "m,t=v\tx f=1",  "m f\x7f=1",         "m,k\t=v f=1",
        "\t# comment",   "m\vx v=1",      "m,k\x1f\x1f=v v=1",
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum decode_status st = decode(cases[i]);

        cr_assert_eq(st, DECODE_BAD_NAME, "case %zu: %s", i,
                     decode_status_str(st));
        cr_assert_eq(out.n, 0);
        cr_assert_eq(out.bad_lines, 1);
    }
    /* Only the line is refused. */
    cr_assert_eq(decode("m\x01 v=1\nm v=2"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.samples[0].value, 2);
    cr_assert_eq(out.bad_lines, 1);
    cr_assert_eq(out.bad_status, DECODE_BAD_NAME);
    cr_assert_eq(out.bad_line, 1);
}

Test(decode_lp, duplicate_and_reserved_tag_keys_refuse_the_line)
{
    cr_assert_eq(decode("m,a=1,a=2 f=1"), DECODE_DUPLICATE_KEY);
    cr_assert_eq(decode("m,a=1,b=2,a\\ =3,a=4 f=1"), DECODE_DUPLICATE_KEY);
    cr_assert_eq(decode("m,_measurement=x f=1"), DECODE_DUPLICATE_KEY);
    cr_assert_eq(decode("m,_field=x f=1"), DECODE_DUPLICATE_KEY);
    cr_assert_eq(decode("m,a\\==1,a\\==2 f=1"), DECODE_DUPLICATE_KEY);
    /* Same key on different lines is fine; near misses are other keys. */
    cr_assert_eq(decode("m,a=1 f=1\nm,a=2 f=1"), DECODE_OK);
    cr_assert_eq(decode("m,_measurements=x,_Field=y,a=1,a\\ =2,A=3 f=1"),
                 DECODE_OK);
    /* A reserved key refuses its line only. */
    cr_assert_eq(decode("m,_measurement=x f=1\nm,t=v g=2\nm,_field=y h=3"),
                 DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert(text_is(out.samples[0].field, out.samples[0].field_len, "m.g"));
    cr_assert(text_is(out.samples[0].tags, out.samples[0].tags_len,
                      "{\"_measurement\":\"m\",\"t\":\"v\"}"));
    cr_assert_eq(out.bad_lines, 2);
    cr_assert_eq(out.bad_status, DECODE_DUPLICATE_KEY);
    cr_assert_eq(out.bad_line, 1);
}

/* InfluxDB writes the good lines of a batch and reports the bad ones. */
Test(decode_lp, a_bad_line_is_refused_alone)
{
    cr_assert_eq(decode("m a=1\nbad\nm,t=v s=\"x\",b=2 1000000\n"
                        "m c=\n\nm d=4\r\n# note\tx\nm e=5"),
                 DECODE_OK);
    cr_assert_eq(out.n, 4);
    cr_assert(text_is(out.samples[0].field, out.samples[0].field_len, "m.a"));
    cr_assert(text_is(out.samples[1].field, out.samples[1].field_len, "m.b"));
    cr_assert_eq(out.samples[1].ts_ms, 1);
    cr_assert(text_is(out.samples[2].field, out.samples[2].field_len, "m.d"));
    cr_assert(text_is(out.samples[3].field, out.samples[3].field_len, "m.e"));
    cr_assert_eq(out.bad_lines, 3);
    cr_assert_eq(out.bad_line, 2);
    /* "m e=5" follows a bad comment on its own line: kept. */
    cr_assert_eq(decode("m a=1\n# note\tx\nm e=5"), DECODE_OK);
    cr_assert_eq(out.n, 2);
    cr_assert_eq(out.bad_lines, 1);
    cr_assert_eq(out.bad_line, 2);

    /* Samples, text and skipped strings of a refused line are given back. */
    cr_assert_eq(decode("m,t=v s=\"x\",a=1,b=x\nm c=3"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.skipped, 0);
    cr_assert(text_is(out.samples[0].field, out.samples[0].field_len, "m.c"));
    cr_assert_eq(out.text_used, strlen(TAGS_M) + strlen("m.c"));
    cr_assert_eq(out.bad_lines, 1);
    cr_assert_eq(out.bad_status, DECODE_SYNTAX);
    cr_assert_eq(out.bad_line, 1);

    /* No good line: the first bad line's reason, every bad line counted. */
    cr_assert_eq(decode("m a=1 99999999999999999999\nm\x01 b=1\nx"),
                 DECODE_BAD_TIMESTAMP);
    cr_assert_eq(out.n, 0);
    cr_assert_eq(out.bad_lines, 3);
    cr_assert_eq(out.text_used, 0);
    cr_assert_eq(decode("m s=\"x\"\nbad"), DECODE_SYNTAX);
    cr_assert_eq(out.bad_lines, 1);
    cr_assert_eq(decode("m s=\"x\""), DECODE_NO_NUMBER);
    cr_assert_eq(out.bad_lines, 0);
}

/* After an error the reference resumes after the next '\n' from where the
 * error was found, even inside a string. */
Test(decode_lp, recovery_resumes_after_the_next_newline)
{
    /* The unterminated string runs to the end: one bad line. */
    cr_assert_eq(decode("m a=1\nm s=\"open\nm b=2\nm c=3"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.bad_lines, 1);
    /* An error before a string with a newline resumes inside it. */
    cr_assert_eq(decode("m a=x,s=\"1\n2\" v=3"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert(text_is(out.samples[0].field, out.samples[0].field_len, "2\".v"));
    /* A line refused by a bound or a reserved or repeated tag key is read
     * to its end first, strings with newlines included. */
    cr_assert_eq(decode("m,_field=x s=\"a\nb\",v=1\nm w=2"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert(text_is(out.samples[0].field, out.samples[0].field_len, "m.w"));
    cr_assert_eq(out.bad_lines, 1);
    cr_assert_eq(out.bad_status, DECODE_DUPLICATE_KEY);
    cr_assert_eq(decode("m,a=1,a=2 s=\"\n\",v=bad 1\nm w=2"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.bad_lines, 1);
    /* A missing timestamp ends at the next '\r' or '\n'; a lone '\r' there
     * starts a line of its own (refused too). */
    cr_assert_eq(decode("m v=1 x\rm w=2\nm u=3"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.bad_lines, 2);
    cr_assert_eq(decode("m v=1 x\nm u=3"), DECODE_OK);
    cr_assert_eq(out.bad_lines, 1);
    /* A bad string resumes from its closing quote. */
    cr_assert_eq(decode("m s=\"\xff\n\",v=1\nm w=2"), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert(text_is(out.samples[0].field, out.samples[0].field_len, "m.w"));
    cr_assert_eq(out.bad_lines, 1);
}

Test(decode_lp, field_names_are_bounded)
{
    char line[600];

    /* "measurement.key" of exactly DECODE_FIELD_MAX bytes is kept. */
    snprintf(line, sizeof line, "%0*d %0*d=1", 200, 0, DECODE_FIELD_MAX - 201,
             0);
    cr_assert_eq(decode(line), DECODE_OK);
    cr_assert_eq(out.samples[0].field_len, DECODE_FIELD_MAX);
    snprintf(line, sizeof line, "%0*d %0*d=1", 200, 0, DECODE_FIELD_MAX - 200,
             0);
    cr_assert_eq(decode(line), DECODE_BAD_FIELD);
    snprintf(line, sizeof line, "%0*d f=1", DECODE_FIELD_MAX - 1, 0);
    cr_assert_eq(decode(line), DECODE_BAD_FIELD);
}

Test(decode_lp, sample_and_tag_counts_are_bounded)
{
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    size_t w;

    cr_assert_not_null(buf);
    w = (size_t) snprintf(buf, cap, "m ");
    for (int i = 0; i < DECODE_MAX_SAMPLES; i++)
        w +=
            (size_t) snprintf(buf + w, cap - w, "%sf%d=%d", i ? "," : "", i, i);
    cr_assert_eq(decode(buf), DECODE_OK);
    cr_assert_eq(out.n, DECODE_MAX_SAMPLES);
    cr_assert_eq(out.samples[DECODE_MAX_SAMPLES - 1].value,
                 DECODE_MAX_SAMPLES - 1);
    /* A line past the sample bound is refused; a line of strings is not. */
    snprintf(buf + w, cap - w, "\nm g=1\nm s=\"x\"");
    cr_assert_eq(decode(buf), DECODE_OK);
    cr_assert_eq(out.n, DECODE_MAX_SAMPLES);
    cr_assert_eq(out.bad_lines, 1);
    cr_assert_eq(out.bad_status, DECODE_TOO_MANY);
    cr_assert_eq(out.bad_line, 2);
    cr_assert_eq(out.skipped, 1);

    /* 255 tags (the reference corpus has such a line) are kept. */
    w = (size_t) snprintf(buf, cap, "m");
    for (int i = 0; i < DECODE_LP_MAX_TAGS; i++)
        w += (size_t) snprintf(buf + w, cap - w, ",t%d=v", i);
    snprintf(buf + w, cap - w, " f=1");
    cr_assert_eq(DECODE_LP_MAX_TAGS, 255);
    cr_assert_eq(decode(buf), DECODE_OK);
    /* ,"tN":"v" is 8 bytes plus N's digits. */
    cr_assert_eq(out.samples[0].tags_len,
                 strlen(TAGS_M) + 10 * 9 + 90 * 10 + 155 * 11);
    snprintf(buf + w, cap - w, ",t=v f=1");
    cr_assert_eq(decode(buf), DECODE_TOO_MANY_TAGS);
    cr_assert_str_eq(decode_status_str(DECODE_TOO_MANY_TAGS),
                     "more than 255 tags in a line");
    /* The duplicate check sees the first key from the last. */
    snprintf(buf + w, cap - w, ",t0=v f=1");
    cr_assert_eq(decode(buf), DECODE_DUPLICATE_KEY);
    free(buf);
}

Test(decode_lp, composed_text_is_bounded)
{
    /* 20 lines with a 1000-byte tag each: more than DECODE_TEXT_MAX. */
    size_t cap = 20 * 1100;
    char *buf = malloc(cap);
    size_t w = 0;

    cr_assert_not_null(buf);
    for (int i = 0; i < 20; i++)
        w += (size_t) snprintf(buf + w, cap - w, "m,t=%0*d v=1\n", 1000, i);
    /* The lines that fit are kept, the others refused one by one. */
    cr_assert_eq(decode(buf), DECODE_OK);
    cr_assert_lt(out.n, 20);
    cr_assert_eq(out.n + out.bad_lines, 20);
    cr_assert_eq(out.bad_status, DECODE_TOO_MANY);
    cr_assert_eq(out.bad_line, out.n + 1);
    w = out.text_used;
    buf[w / out.n] = '\0';
    cr_assert_eq(decode(buf), DECODE_OK);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.text_used * (DECODE_TEXT_MAX / out.text_used), w);
    free(buf);
}

Test(decode_lp, binary_garbage_is_refused_without_harm)
{
    static const char alphabet[] = "m,= \\\"\n\r#tf0123456789.-eiu";
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char buf[80];

    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 1 + (size_t) (x % (sizeof buf - 1));
        enum decode_status st;

        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (x % 4)
                buf[i] = alphabet[x % (sizeof alphabet - 1)];
            else
                buf[i] = (char) (x >> 40);
        }
        st = decode_prec_len(PRECISION_NS, buf, len);
        cr_assert_leq(st, DECODE_BAD_NAME);
        for (unsigned i = 0; st == DECODE_OK && i < out.n; i++)
            cr_assert(isfinite(out.samples[i].value) &&
                      out.samples[i].field_len >= 3 &&
                      out.samples[i].field_len <= DECODE_FIELD_MAX &&
                      out.samples[i].tags[0] == '{');
    }
}
