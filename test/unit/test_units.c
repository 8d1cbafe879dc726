/*
 * test_units.c - durations and sizes: parsing with units and decimals,
 * printing with the largest exact unit, and printed values parsing back.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "units.h"

#define MS_S 1000ull
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define MS_Y (365 * MS_D)

/* Owner: the static case tables of the tests below. */
struct scaled_case {
    const char *text;
    int rc;
    uint64_t value;
};

/* Each case through parse: its return code and, on success, its value. */
static void expect_parses(int (*parse)(const char *, uint64_t *),
                          const struct scaled_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        int rc = parse(cases[i].text, &v);

        cr_expect_eq(rc, cases[i].rc, "'%s': rc %d", cases[i].text, rc);
        if (cases[i].rc == 0)
            cr_expect_eq(v, cases[i].value, "'%s': %llu", cases[i].text,
                         (unsigned long long) v);
    }
}

Test(units, duration_parser_takes_units_and_decimals)
{
    static const struct scaled_case cases[] = {
        {"250ms", 0, 250},
        {"90s", 0, 90 * MS_S},
        {"1m", 0, MS_M},
        {"1.5s", 0, 1500},
        {"1.50s", 0, 1500},
        {"4.35s", 0, 4350}, /* not exact in binary floating point */
        {"0.001s", 0, 1},
        {"2h", 0, 2 * MS_H},
        {"7d", 0, 7 * MS_D},
        {"1w", 0, 7 * MS_D},
        {"2y", 0, 2 * MS_Y},
        {"1.5m", 0, 90 * MS_S},
        {"10", 0, 10 * MS_S}, /* bare number: seconds */
        {"0.5", 0, 500},
        {"0", 0, 0},
        {"18446744073709551615ms", 0, UINT64_MAX},
        {"", -EINVAL, 0},
        {"10x", -EINVAL, 0},
        {"1.2.3s", -EINVAL, 0},
        {"-1s", -EINVAL, 0},
        {"+1s", -EINVAL, 0},
        {" 1s", -EINVAL, 0},
        {"1s ", -EINVAL, 0},
        {"1 s", -EINVAL, 0},
        {"1e3s", -EINVAL, 0},
        {"0x10s", -EINVAL, 0},
        {".5s", -EINVAL, 0},
        {"5.s", -EINVAL, 0},
        {"1.5ms", -EINVAL, 0}, /* finer than a millisecond */
        {"1S", -EINVAL, 0},
        {"1sec", -EINVAL, 0},
        {"s", -EINVAL, 0},
        {"inf", -EINVAL, 0},
        {"nan", -EINVAL, 0},
        {"18446744073709551616ms", -EINVAL, 0}, /* 2^64 */
        {"18446744073709552s", -EINVAL, 0},     /* whole * unit overflows */
        {"584942418y", -EINVAL, 0},
        {"1.0000000000000000001s", -EINVAL, 0}, /* 19 decimals */
    };

    expect_parses(units_parse_duration_ms, cases,
                  sizeof(cases) / sizeof(cases[0]));
}

Test(units, size_parser_takes_binary_and_decimal_units)
{
    static const struct scaled_case cases[] = {
        {"512", 0, 512},
        {"0", 0, 0},
        {"10B", 0, 10},
        {"64KiB", 0, 64 * 1024},
        {"8MiB", 0, 8 * 1024 * 1024},
        {"1GiB", 0, 1024 * 1024 * 1024},
        {"1K", 0, 1024},
        {"1M", 0, 1024 * 1024},
        {"1G", 0, 1024 * 1024 * 1024},
        {"1KB", 0, 1000},
        {"1MB", 0, 1000 * 1000},
        {"1GB", 0, 1000 * 1000 * 1000},
        {"1.5KiB", 0, 1536},
        {"64KB B", -EINVAL, 0},
        {"1 KiB", -EINVAL, 0},
        {"1.5B", -EINVAL, 0},
        {"1kb", -EINVAL, 0},
        {"1TiB", -EINVAL, 0},
        {"KiB", -EINVAL, 0},
        {"", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"17179869184GiB", -EINVAL, 0}, /* 2^34 GiB = 2^64 bytes */
    };

    expect_parses(units_parse_size, cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- formatting --------------------------------------------------------- */

Test(units, formats_use_the_largest_exact_unit)
{
    static const struct {
        uint64_t ms;
        const char *text;
    } durations[] = {
        {0, "0"},         {250, "250ms"},       {90 * MS_S, "90s"},
        {2 * MS_M, "2m"}, {36 * MS_H, "36h"},   {14 * MS_D, "2w"},
        {2 * MS_Y, "2y"}, {MS_S + 1, "1001ms"},
    };
    static const struct {
        uint64_t bytes;
        const char *text;
    } sizes[] = {
        {0, "0"},
        {512, "512B"},
        {3 * 1024 * 1024, "3MiB"},
        {100 * 1000, "100KB"},
        {2ull * 1024 * 1024 * 1024, "2GiB"},
        {1024 + 1, "1025B"},
    };
    char buf[32];

    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        units_format_duration(durations[i].ms, buf, sizeof(buf));
        cr_expect_str_eq(buf, durations[i].text);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        units_format_size(sizes[i].bytes, buf, sizeof(buf));
        cr_expect_str_eq(buf, sizes[i].text);
    }
}

Test(units, formatted_values_parse_back)
{
    const uint64_t values[] = {0,         1,        999,       MS_S,    1500,
                               61 * MS_S, 7 * MS_D, 123456789, 5 * MS_Y};
    char buf[32];

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint64_t v = ~0ull;

        units_format_duration(values[i], buf, sizeof(buf));
        cr_expect_eq(units_parse_duration_ms(buf, &v), 0, "%s", buf);
        cr_expect_eq(v, values[i], "%s", buf);
        units_format_size(values[i], buf, sizeof(buf));
        cr_expect_eq(units_parse_size(buf, &v), 0, "%s", buf);
        cr_expect_eq(v, values[i], "%s", buf);
    }
}

/* ---- setters ------------------------------------------------------------ */
