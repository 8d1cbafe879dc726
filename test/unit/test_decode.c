/*
 * test_decode.c - dispatch and the bare number format (the scanners are
 * test_scan.c's).
 *
 * Expected values are written as C literals (the compiler's own decimal
 * conversion is the independent reference), never copied from the
 * decoder's output.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "alloc_guard.h"
#include "decode.h"

static struct decode_out out;

/* A heap copy of exactly len + 1 bytes, so ASan sees any read past the NUL. */
static char *dup_payload(const char *s, size_t len)
{
    char *p = malloc(len + 1);

    cr_assert_not_null(p);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static enum decode_status decode_as(enum config_format fmt, const char *s)
{
    struct config_sub sub;
    size_t len = strlen(s);
    char *p = dup_payload(s, len);
    enum decode_status st;

    memset(&sub, 0, sizeof sub);
    sub.format = fmt;
    st = decode_payload(&sub, p, len, &out);
    free(p);
    return st;
}

/* ---- status strings and dispatch ---------------------------------------- */

Test(decode, every_status_has_a_distinct_reason)
{
    for (int a = DECODE_OK; a <= DECODE_TOO_MANY_TAGS; a++) {
        const char *sa = decode_status_str((enum decode_status) a);

        cr_assert_not_null(sa);
        cr_assert_str_neq(sa, "unknown decode status", "status %d", a);
        for (int b = a + 1; b <= DECODE_TOO_MANY_TAGS; b++)
            cr_assert_str_neq(sa, decode_status_str((enum decode_status) b));
    }
    cr_assert_str_eq(decode_status_str((enum decode_status) 99),
                     "unknown decode status");
    cr_assert_str_eq(decode_status_str(DECODE_SYNTAX), "syntax error");
}

Test(decode, payload_resets_out_before_decoding)
{
    out.n = 7;
    out.skipped = 3;
    out.text_used = 100;
    cr_assert_eq(decode_as(FORMAT_JSON, ""), DECODE_EMPTY);
    cr_assert_eq(out.n, 0);
    cr_assert_eq(out.skipped, 0);
    cr_assert_eq(out.text_used, 0);
    out.skipped = 5;
    cr_assert_eq(decode_as(FORMAT_NUMBER, "1"), DECODE_OK);
    cr_assert_eq(out.skipped, 0);
}

Test(decode, empty_payload_is_empty_in_every_format)
{
    cr_assert_eq(decode_as(FORMAT_JSON, ""), DECODE_EMPTY);
    cr_assert_eq(decode_as(FORMAT_NUMBER, ""), DECODE_EMPTY);
    cr_assert_eq(decode_as(FORMAT_INFLUX, ""), DECODE_EMPTY);
}

Test(decode, dispatches_on_the_subscription_format)
{
    cr_assert_eq(decode_as(FORMAT_NUMBER, "21.5"), DECODE_OK);
    cr_assert_eq(decode_as(FORMAT_JSON, "21.5"), DECODE_OK);
    cr_assert_eq(decode_as(FORMAT_INFLUX, "21.5"), DECODE_SYNTAX);
    cr_assert_eq(decode_as(FORMAT_NUMBER, "m v=1"), DECODE_SYNTAX);
    cr_assert_eq(decode_as(FORMAT_INFLUX, "m v=1"), DECODE_OK);
    cr_assert_eq(decode_as(FORMAT_NUMBER, "{\"v\":1}"), DECODE_SYNTAX);
    cr_assert_eq(decode_as(FORMAT_JSON, "{\"v\":1}"), DECODE_OK);
}

/* ---- format = number ---------------------------------------------------- */

static const struct {
    const char *text;
    enum decode_status st;
    double value;
} number_cases[] = {
    {"21.5", DECODE_OK, 21.5},
    {"-3", DECODE_OK, -3.0},
    {"1e3", DECODE_OK, 1000.0},
    {"1E-3", DECODE_OK, 0.001},
    {"+1", DECODE_OK, 1.0},
    {".5", DECODE_OK, 0.5},
    {"1.", DECODE_OK, 1.0},
    {"007", DECODE_OK, 7.0},
    {" \t42\r\n", DECODE_OK, 42.0},
    {"0.1", DECODE_OK, 0.1},
    {"123456789012345678901234567890", DECODE_OK,
     123456789012345678901234567890.0},
    {"1e-400", DECODE_OK, 0.0},
    {"1.7976931348623157e308", DECODE_OK, 1.7976931348623157e308},
    {"1e999", DECODE_NO_NUMBER, 0},
    {"-1e999", DECODE_NO_NUMBER, 0},
    {"1.7976931348623159e308", DECODE_NO_NUMBER, 0},
    {"nan", DECODE_SYNTAX, 0},
    {"NAN", DECODE_SYNTAX, 0},
    {"inf", DECODE_SYNTAX, 0},
    {"-Infinity", DECODE_SYNTAX, 0},
    {"0x1p3", DECODE_SYNTAX, 0},
    {"0x10", DECODE_SYNTAX, 0},
    {"   ", DECODE_SYNTAX, 0},
    {"1e", DECODE_SYNTAX, 0},
    {"1e+", DECODE_SYNTAX, 0},
    {"e5", DECODE_SYNTAX, 0},
    {".", DECODE_SYNTAX, 0},
    {"-", DECODE_SYNTAX, 0},
    {"--1", DECODE_SYNTAX, 0},
    {"1 2", DECODE_SYNTAX, 0},
    {"1,5", DECODE_SYNTAX, 0},
    {"12abc", DECODE_SYNTAX, 0},
    {"1..2", DECODE_SYNTAX, 0},
    {"\"1\"", DECODE_SYNTAX, 0},
};

Test(decode, number_format_table)
{
    for (size_t i = 0; i < sizeof number_cases / sizeof number_cases[0]; i++) {
        const char *t = number_cases[i].text;
        enum decode_status st = decode_as(FORMAT_NUMBER, t);

        cr_assert_eq(st, number_cases[i].st, "'%s': %s", t,
                     decode_status_str(st));
        cr_assert_eq(out.skipped, st == DECODE_NO_NUMBER ? 1u : 0u, "'%s'", t);
        if (st != DECODE_OK) {
            cr_assert_eq(out.n, 0, "'%s'", t);
            continue;
        }
        cr_assert_eq(out.n, 1);
        cr_assert_eq(out.samples[0].value, number_cases[i].value, "'%s'", t);
        cr_assert_eq(out.samples[0].field_len, 5);
        cr_assert_eq(memcmp(out.samples[0].field, "value", 5), 0);
        /* The name lives in out->text, as every composed name does. */
        cr_assert_eq(out.samples[0].field, out.text);
        cr_assert_null(out.samples[0].tags);
        cr_assert_eq(out.samples[0].ts_ms, DECODE_NO_TIME);
    }
}

Test(decode, negative_zero_is_a_valid_zero)
{
    cr_assert_eq(decode_as(FORMAT_NUMBER, "-0"), DECODE_OK);
    cr_assert_eq(out.samples[0].value, 0.0);
    cr_assert(signbit(out.samples[0].value));
}

/* ---- no allocation on the message path ---------------------------------- */

Test(decode, decoding_allocates_nothing)
{
    static const struct {
        enum config_format fmt;
        const char *text;
    } cases[] = {
        {FORMAT_NUMBER, "21.5"},
        {FORMAT_NUMBER, "1e999"},
        {FORMAT_JSON, "{\"a\":1,\"b\":{\"c\":[1,2]},\"\\u00e9\":\"x\"}"},
        {FORMAT_JSON, "[{\"a\":1},{\"a\":2}]"},
        {FORMAT_JSON, "{\"a\":0.1234567890123456789012345}"},
        {FORMAT_INFLUX, "m,t=a\\ b f=1,g=\"s\",h=2i 1700000000000000000\n"},
        {FORMAT_INFLUX, "m f="},
    };
    struct config_sub sub;
    uint64_t n;

    memset(&sub, 0, sizeof sub);
    alloc_guard_arm();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sub.format = cases[i].fmt;
        (void) decode_payload(&sub, cases[i].text, strlen(cases[i].text), &out);
    }
    n = alloc_guard_disarm();
    cr_assert_eq(n, 0, "%llu allocations", (unsigned long long) n);
}
