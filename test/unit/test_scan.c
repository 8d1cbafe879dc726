/*
 * test_scan.c - the scanners of scan.c: decimal numbers (grammar and
 * correct rounding against strtod()), UTF-8, numeric and RFC 3339 times.
 *
 * Expected values are written as C literals or derived from known dates
 * (the compiler's own decimal conversion, timegm(3) and strtod(3) are the
 * independent references), never copied from the scanners' output.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "scan.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64: reproducible across runs. */
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- decimal numbers ---------------------------------------------------- */

Test(scan, number_never_takes_the_byte_after_len)
{
    double v = 0;

    /* "12" of "12345": the digits after len are not part of the number. */
    cr_assert_eq(scan_decimal("12345", 2, &v), 0);
    cr_assert_eq(v, 12.0);
    cr_assert_eq(scan_decimal("1e5", 2, &v), -EINVAL);
}

/* Random decimal text: digits, a point somewhere, maybe an exponent. */
static void random_number_text(char *buf, size_t cap)
{
    size_t n = 0;
    unsigned ndig = 1 + (unsigned) (rng() % 40);
    unsigned point = (unsigned) (rng() % (ndig + 1));

    if (rng() % 2)
        buf[n++] = '-';
    for (unsigned i = 0; i < ndig; i++) {
        if (i == point && i > 0)
            buf[n++] = '.';
        /* Mostly short mantissas, sometimes long runs of 9s or 0s. */
        buf[n++] = (char) ('0' + (rng() % 4 == 0 ? 9 : rng() % 10));
    }
    if (rng() % 2)
        n += (size_t) snprintf(buf + n, cap - n, "e%d",
                               (int) (rng() % 700) - 350);
    buf[n] = '\0';
}

Test(scan, number_value_matches_strtod_bit_for_bit)
{
    char buf[128];

    for (int i = 0; i < 200000; i++) {
        double want;
        double got = 0;
        int rc;

        random_number_text(buf, sizeof buf);
        want = strtod(buf, NULL);
        rc = scan_decimal(buf, strlen(buf), &got);
        if (!isfinite(want)) {
            cr_assert_eq(rc, -ERANGE, "'%s'", buf);
            continue;
        }
        cr_assert_eq(rc, 0, "'%s'", buf);
        cr_assert_eq(memcmp(&got, &want, sizeof got), 0, "'%s': %.17g %.17g",
                     buf, got, want);
    }
}

Test(scan, number_hard_cases_match_strtod)
{
    static const char *const texts[] = {
        "9007199254740993",        /* 2^53 + 1: beyond the fast path */
        "9007199254740992",        /* 2^53 */
        "1e22",                    /* largest exact power of ten */
        "1e23",                    /* first inexact one */
        "2.2250738585072011e-308", /* below the smallest normal */
        "4.9e-324",                /* smallest subnormal */
        "0.30000000000000004",
        "1234567890123456789",  /* 19 digits */
        "12345678901234567890", /* 20 digits */
        "0.000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000000001", /* long: in place */
        "1797693134862315708145274237317043567980705675258449965989174768"
        "03157260780028538760589558632766878171540458953514382464234321326"
        "88946418276846754670353751698604991057655128207624549009038932894"
        "40758685084551339423045832369032229481658085593321233482747978262"
        "04144723168738177180919299881250404026184124858368",
    };

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        double want = strtod(texts[i], NULL);
        double got = 0;

        cr_assert_eq(scan_decimal(texts[i], strlen(texts[i]), &got), 0, "'%s'",
                     texts[i]);
        cr_assert_eq(memcmp(&got, &want, sizeof got), 0, "'%s'", texts[i]);
    }
}

/* ---- scan_number: the JSON grammar ---------------------------------
 */

static const struct {
    const char *text;
    size_t used; /* bytes of text that form the number; 0 = refused */
    double value;
} json_number_cases[] = {
    {"0", 1, 0.0},    {"-0", 2, -0.0},   {"1.5", 3, 1.5},     {"1e5", 3, 1e5},
    {"1E+5", 4, 1e5}, {"2e-3", 4, 2e-3}, {"-0.0e0", 6, -0.0}, {"10", 2, 10.0},
    {"1.5,", 3, 1.5}, {"7}", 1, 7.0},    {"3 ", 1, 3.0},      {"01", 0, 0},
    {"-01", 0, 0},    {"00", 0, 0},      {"+1", 0, 0},        {".5", 0, 0},
    {"1.", 0, 0},     {"1.e3", 0, 0},    {"-", 0, 0},         {"1e", 0, 0},
    {"1e+", 0, 0},    {"-x", 0, 0},      {"", 0, 0},          {"NaN", 0, 0},
};

Test(scan, scan_number_json_grammar_table)
{
    for (size_t i = 0;
         i < sizeof json_number_cases / sizeof json_number_cases[0]; i++) {
        const char *t = json_number_cases[i].text;
        double v = 12345;
        const char *end = scan_number(t, t + strlen(t), SCAN_NUM_JSON, &v);

        if (json_number_cases[i].used == 0) {
            cr_assert_null(end, "'%s' accepted", t);
            continue;
        }
        cr_assert_eq(end, t + json_number_cases[i].used, "'%s'", t);
        cr_assert_eq(v, json_number_cases[i].value, "'%s'", t);
    }
}

Test(scan, scan_number_overflow_is_infinite_not_refused)
{
    const char *t = "1e999";
    double v = 0;

    cr_assert_eq(scan_number(t, t + 5, SCAN_NUM_JSON, &v), t + 5);
    cr_assert(isinf(v) && v > 0);
}

/* ---- UTF-8 -------------------------------------------------------------- */

Test(scan, utf8_validation_table)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", true},
        {"abc", true},
        {"\xc3\xa9", true},          /* é */
        {"\xe2\x82\xac", true},      /* € */
        {"\xf0\x9f\x98\x80", true},  /* 😀 */
        {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
        {"\xef\xbf\xbd", true},      /* U+FFFD */
        {"\xc0\x80", false},         /* overlong NUL */
        {"\xc1\xbf", false},         /* overlong */
        {"\xe0\x80\x80", false},     /* overlong */
        {"\xed\xa0\x80", false},     /* surrogate U+D800 */
        {"\xf0\x80\x80\x80", false}, /* overlong */
        {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", false},
        {"\x80", false}, /* lone continuation */
        {"\xc3", false}, /* cut short */
        {"\xe2\x82", false},
        {"a\xe2\x82z", false},
        {"\xff", false},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(scan_utf8_valid(cases[i].s, strlen(cases[i].s)),
                     cases[i].ok, "case %zu", i);
    /* NUL is a code point like any other. */
    cr_assert(scan_utf8_valid("a\0b", 3));
}

/* ---- numeric times ------------------------------------------------------ */

Test(scan, numeric_time_detects_the_unit_by_magnitude)
{
    static const struct {
        double v;
        int rc;
        int64_t ms;
    } cases[] = {
        {1700000000.0, 0, 1700000000LL * 1000},
        {1700000000.123, 0, 1700000000LL * 1000 + 123},
        {1700000000.5, 0, 1700000000LL * 1000 + 500},
        {1700000000.9999, 0, 1700000000LL * 1000 + 999},
        {1700000000123.0, 0, 1700000000LL * 1000 + 123},
        {1700000000123.7, 0, 1700000000LL * 1000 + 123},
        {1700000000123456.0, 0, 1700000000LL * 1000 + 123},
        {1700000000123456789.0, 0, 1700000000LL * 1000 + 123},
        {0.0, 0, 0},
        {0.5, 0, 500},
        {1.0005, 0, 1000},
        {99999999999.0, 0, 99999999999LL * 1000}, /* just below 1e11: s */
        {1e11, 0, 100000000000LL},                /* 1e11: ms */
        {1e14, 0, 100000000000LL},                /* 1e14: us */
        {1e17, 0, 100000000000LL},                /* 1e17: ns */
        {-1.0, -EINVAL, 0},
        {-0.001, -EINVAL, 0},
        {NAN, -EINVAL, 0},
        {INFINITY, -EINVAL, 0},
        {1e300, -EINVAL, 0},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -42;
        int rc = scan_time_numeric(cases[i].v, &ms);

        cr_assert_eq(rc, cases[i].rc, "case %zu (%.17g)", i, cases[i].v);
        if (rc == 0)
            cr_assert_eq(ms, cases[i].ms, "case %zu: %lld", i, (long long) ms);
    }
}

Test(scan, numeric_time_keeps_whole_milliseconds_of_decimal_seconds)
{
    /* Every millisecond of some seconds, sent as decimal seconds: the
     * binary value is often a hair below (1.001 * 1000 < 1001). */
    static const int64_t secs[] = {
        0, 1, 59, 123456, 1700000000, 4102444800LL, 99999999999LL};

    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        for (int frac = 0; frac < 1000; frac++) {
            char text[40];
            double v;
            int64_t ms;

            snprintf(text, sizeof text, "%lld.%03d", (long long) secs[i], frac);
            v = strtod(text, NULL);
            cr_assert_eq(scan_time_numeric(v, &ms), 0);
            cr_assert_eq(ms, secs[i] * 1000 + frac, "%s: %lld", text,
                         (long long) ms);
        }
    }
}

/* ---- RFC 3339 ----------------------------------------------------------- */

/* 1700000000 s is 2023-11-14T22:13:20Z; 946684800 s is 2000-01-01. */
#define T1700 (1700000000LL * 1000)
#define Y2000 (946684800LL * 1000)
#define DAY   (86400LL * 1000)

static const struct {
    const char *text;
    int rc;
    int64_t ms;
} rfc3339_cases[] = {
    {"1970-01-01T00:00:00Z", 0, 0},
    {"2023-11-14T22:13:20Z", 0, T1700},
    {"2023-11-14t22:13:20z", 0, T1700},
    {"2023-11-14 22:13:20Z", 0, T1700},
    {"2023-11-14T22:13:20.123Z", 0, T1700 + 123},
    {"2023-11-14T22:13:20.1Z", 0, T1700 + 100},
    {"2023-11-14T22:13:20.12Z", 0, T1700 + 120},
    {"2023-11-14T22:13:20.123456789Z", 0, T1700 + 123},
    {"2023-11-14T23:13:20+01:00", 0, T1700},
    {"2023-11-15T03:43:20+05:30", 0, T1700},
    {"2023-11-14T21:43:20-00:30", 0, T1700},
    {"2023-11-14T22:13:20.5-00:00", 0, T1700 + 500},
    {"2000-01-01T00:00:00Z", 0, Y2000},
    {"2000-02-29T00:00:00Z", 0, Y2000 + (31 + 28) * DAY},
    {"2000-03-01T00:00:00Z", 0, Y2000 + (31 + 29) * DAY},
    {"2024-02-29T12:00:00Z", 0, 1709208000LL * 1000},
    {"2023-11-14T22:12:60Z", 0, T1700 - 20000}, /* leap s: 22:13:00 */
    {"1969-12-31T23:59:59Z", 0, -1000},
    {"1969-12-31T23:59:59.5Z", 0, -500},
    {"1999-02-29T00:00:00Z", -EINVAL, 0},
    {"2100-02-29T00:00:00Z", -EINVAL, 0},
    {"2023-13-01T00:00:00Z", -EINVAL, 0},
    {"2023-00-10T00:00:00Z", -EINVAL, 0},
    {"2023-04-31T00:00:00Z", -EINVAL, 0},
    {"2023-04-00T00:00:00Z", -EINVAL, 0},
    {"2023-11-14T24:00:00Z", -EINVAL, 0},
    {"2023-11-14T23:60:00Z", -EINVAL, 0},
    {"2023-11-14T23:59:61Z", -EINVAL, 0},
    {"2023-11-14T22:13:20", -EINVAL, 0},
    {"2023-11-14T22:13:20+01", -EINVAL, 0},
    {"2023-11-14T22:13:20+0100", -EINVAL, 0},
    {"2023-11-14T22:13:20+24:00", -EINVAL, 0},
    {"2023-11-14T22:13:20+01:60", -EINVAL, 0},
    {"2023-11-14T22:13:20.Z", -EINVAL, 0},
    {"2023-11-14T22:13:20ZZ", -EINVAL, 0},
    {"2023-11-14T22:13:20Z ", -EINVAL, 0},
    {"2023-11-14X22:13:20Z", -EINVAL, 0},
    {"2023-11-14T22-13-20Z", -EINVAL, 0},
    {"23-11-14T22:13:20Z", -EINVAL, 0},
    {"2023-1-14T22:13:20Z", -EINVAL, 0},
    {"+023-11-14T22:13:20Z", -EINVAL, 0},
    {"2023-11-14", -EINVAL, 0},
    {"", -EINVAL, 0},
};

Test(scan, rfc3339_table)
{
    for (size_t i = 0; i < sizeof rfc3339_cases / sizeof rfc3339_cases[0];
         i++) {
        const char *t = rfc3339_cases[i].text;
        int64_t ms = -42;
        int rc = scan_time_rfc3339(t, strlen(t), &ms);

        cr_assert_eq(rc, rfc3339_cases[i].rc, "'%s'", t);
        if (rc == 0)
            cr_assert_eq(ms, rfc3339_cases[i].ms, "'%s': %lld", t,
                         (long long) ms);
    }
}

Test(scan, rfc3339_agrees_with_timegm_over_four_centuries)
{
    for (int y = 1800; y <= 2400; y += 7) {
        for (int mo = 1; mo <= 12; mo++) {
            for (int d = 1; d <= 28; d += 9) {
                struct tm tm = {0};
                char text[40];
                int64_t ms;

                tm.tm_year = y - 1900;
                tm.tm_mon = mo - 1;
                tm.tm_mday = d;
                tm.tm_hour = (y + mo) % 24;
                tm.tm_min = (d * 7) % 60;
                tm.tm_sec = (y * 3) % 60;
                snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", y,
                         mo, d, tm.tm_hour, tm.tm_min, tm.tm_sec);
                cr_assert_eq(scan_time_rfc3339(text, strlen(text), &ms), 0,
                             "%s", text);
                cr_assert_eq(ms, (int64_t) timegm(&tm) * 1000, "%s", text);
            }
        }
    }
}

Test(scan, rfc3339_knows_the_last_day_of_every_month)
{
    for (int y = 1896; y <= 2104; y++) {
        for (int mo = 1; mo <= 12; mo++) {
            /* The day before the first of the next month, per timegm(). */
            struct tm next = {.tm_year = y - 1900, .tm_mon = mo, .tm_mday = 1};
            time_t t = timegm(&next) - 86400;
            struct tm last;
            char text[40];
            int64_t ms;

            gmtime_r(&t, &last);
            snprintf(text, sizeof text, "%04d-%02d-%02dT00:00:00Z", y, mo,
                     last.tm_mday);
            cr_assert_eq(scan_time_rfc3339(text, strlen(text), &ms), 0, "%s",
                         text);
            cr_assert_eq(ms, (int64_t) t * 1000, "%s", text);
            snprintf(text, sizeof text, "%04d-%02d-%02dT00:00:00Z", y, mo,
                     last.tm_mday + 1);
            cr_assert_eq(scan_time_rfc3339(text, strlen(text), &ms), -EINVAL,
                         "%s", text);
        }
    }
}

/* ---- Go's syntax (line protocol values) ---------------------------------- */

Test(scan, go_integers_keep_to_their_range)
{
    uint64_t u = 0;
    int64_t i = 0;

    cr_expect(scan_u64("18446744073709551615", 20, &u));
    cr_expect_eq(u, UINT64_MAX);
    cr_expect_not(scan_u64("18446744073709551616", 20, &u), "overflow");
    cr_expect_not(scan_u64("-1", 2, &u));
    cr_expect_not(scan_u64("", 0, &u));
    cr_expect(scan_i64("-9223372036854775808", 20, &i));
    cr_expect_eq(i, INT64_MIN);
    cr_expect_not(scan_i64("9223372036854775808", 19, &i), "overflow");
    cr_expect(scan_i64("123x", 3, &i), "reads exactly n bytes");
    cr_expect_eq(i, 123);
}

Test(scan, go_floats_as_strconv_reads_them)
{
    static const struct {
        const char *text;
        bool ok;
        double value;
    } cases[] = {
        {"1.5", true, 1.5},        {"-2e3", true, -2000},
        {"1_000.5", true, 1000.5}, {"0x1p-2", true, 0.25},
        {"0x1", false, 0},         {"1__0", false, 0},
        {"_1", false, 0},          {"1_", false, 0},
        {".", false, 0},           {"1e", false, 0},
        {"1e999", false, 0},       {"nan", false, 0},
    };
    double v;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = 0;
        cr_expect_eq(scan_go_float(cases[i].text, strlen(cases[i].text), &v),
                     cases[i].ok, "%s", cases[i].text);
        if (cases[i].ok)
            cr_expect_eq(v, cases[i].value, "%s", cases[i].text);
    }
}

Test(scan, go_booleans_in_their_five_spellings)
{
    static const char *const yes[] = {"t", "T", "true", "True", "TRUE"};
    static const char *const no[] = {"f", "F", "false", "False", "FALSE"};
    double v;

    for (size_t i = 0; i < 5; i++) {
        cr_expect(scan_go_bool(yes[i], strlen(yes[i]), &v) && v == 1, "%s",
                  yes[i]);
        cr_expect(scan_go_bool(no[i], strlen(no[i]), &v) && v == 0, "%s",
                  no[i]);
    }
    cr_expect_not(scan_go_bool("tRUE", 4, &v));
    cr_expect_not(scan_go_bool("yes", 3, &v));
}
