/*
 * units.c - durations and sizes as the configuration writes them: "90s",
 * "1.5m", "7d", "2y" (365 d), "64KiB", "8MiB", "1GB"; parsed exactly (a
 * value that is not a whole number of the stored unit is refused, nothing
 * is rounded) and printed with the largest unit that divides the value, so
 * a printed value parses back to the same number.
 *
 * Threads: pure functions; any thread. Memory: none.
 */
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Owner: the static unit tables below (read-only). */
struct unit {
    const char *name;
    uint64_t mult;
};

/* Both lists run from the largest factor down: the printers take the first
 * unit that divides a value exactly. */
static const struct unit duration_units[] = {
    {"y", UNITS_MS_Y}, {"w", UNITS_MS_W}, {"d", UNITS_MS_D}, {"h", UNITS_MS_H},
    {"m", UNITS_MS_M}, {"s", UNITS_MS_S}, {"ms", 1},         {NULL, 0},
};
static const struct unit size_units[] = {
    {"GiB", UNITS_GIB}, {"G", UNITS_GIB}, {"GB", 1000000000},
    {"MiB", UNITS_MIB}, {"M", UNITS_MIB}, {"MB", 1000000},
    {"KiB", UNITS_KIB}, {"K", UNITS_KIB}, {"KB", 1000},
    {"B", 1},           {NULL, 0},
};

/* Digits, optionally "." and more digits: the whole part and the fraction
 * as frac / div with trailing zeros dropped. Moves *s past the number. */
static int parse_decimal(const char **s, uint64_t *whole, uint64_t *frac,
                         uint64_t *div)
{
    char *end;

    if (!is_digit(**s))
        return -EINVAL; /* strtoull would take spaces, signs and "0x" */
    errno = 0;
    *whole = strtoull(*s, &end, 10);
    if (errno != 0)
        return -EINVAL;
    *s = end;
    *frac = 0;
    *div = 1;
    if (**s != '.')
        return 0;
    if (!is_digit(*++*s))
        return -EINVAL;
    for (; is_digit(**s); ++*s) {
        if (*div >= 1000000000000000000ull)
            return -EINVAL; /* more than 18 decimals */
        *frac = *frac * 10 + (uint64_t) (**s - '0');
        *div *= 10;
    }
    for (; *div > 1 && *frac % 10 == 0; *div /= 10)
        *frac /= 10;
    return 0;
}

/* "1.5s" with units[] -> whole units of the smallest factor; refuses
 * results that are not whole, or do not fit in 64 bits. */
static int parse_scaled(const char *s, const struct unit *units, uint64_t bare,
                        uint64_t *out)
{
    uint64_t whole;
    uint64_t frac;
    uint64_t div;
    uint64_t mult = bare;
    uint64_t part;

    if (parse_decimal(&s, &whole, &frac, &div) < 0)
        return -EINVAL;
    if (*s != '\0') {
        for (mult = 0; units->name != NULL && mult == 0; units++)
            mult = strcmp(s, units->name) == 0 ? units->mult : 0;
        if (mult == 0)
            return -EINVAL;
    }
    if (__builtin_mul_overflow(whole, mult, out))
        return -EINVAL;
    if (__builtin_mul_overflow(frac, mult, &part) || part % div != 0)
        return -EINVAL;
    if (__builtin_add_overflow(*out, part / div, out))
        return -EINVAL;
    return 0;
}

static const struct unit *table(enum units_kind k)
{
    return k == UNITS_SIZE ? size_units : duration_units;
}

int units_parse(const char *s, enum units_kind k, uint64_t bare, uint64_t *out)
{
    return parse_scaled(s, table(k), bare, out);
}

int units_parse_duration_ms(const char *s, uint64_t *out_ms)
{
    return parse_scaled(s, duration_units, UNITS_MS_S, out_ms);
}

int units_parse_size(const char *s, uint64_t *out_bytes)
{
    return parse_scaled(s, size_units, 1, out_bytes);
}

static void format_scaled(uint64_t v, const struct unit *units, char *buf,
                          size_t len)
{
    while (v != 0 && v % units->mult != 0)
        units++;
    if (v == 0)
        snprintf(buf, len, "0");
    else
        snprintf(buf, len, "%" PRIu64 "%s", v / units->mult, units->name);
}

void units_format(uint64_t v, enum units_kind k, char *buf, size_t len)
{
    format_scaled(v, table(k), buf, len);
}

void units_format_duration(uint64_t ms, char *buf, size_t len)
{
    format_scaled(ms, duration_units, buf, len);
}

void units_format_size(uint64_t bytes, char *buf, size_t len)
{
    format_scaled(bytes, size_units, buf, len);
}
