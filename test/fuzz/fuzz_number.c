/*
 * fuzz_number.c - libFuzzer target for bare numbers and timestamps.
 *
 * The input is a payload for format = number, and also text for
 * scan_number() (JSON grammar) and scan_time_rfc3339(). Checks:
 *   - decode_payload() agrees with scan_decimal(), and an accepted value
 *     is bit for bit what strtod() makes of the trimmed text;
 *   - scan_number() stops inside the text, and its value agrees
 *     with strtod() on the bytes it took;
 *   - an accepted RFC 3339 time is within a day and a second of what
 *     timegm() makes of its date and clock fields (the zone and fraction
 *     are the difference), and scan_time_numeric() never fails on a
 *     finite, non-negative value.
 * A broken invariant aborts.
 *
 * Threads: one. Memory: out is static.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct decode_out out;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* v must be bit for bit what strtod() makes of the n bytes at p. */
static void same_as_strtod(const char *p, size_t n, double v)
{
    char *copy = strndup(p, n);
    double w;

    if (!copy)
        return;
    w = strtod(copy, NULL);
    if (memcmp(&v, &w, sizeof v) != 0)
        abort();
    free(copy);
}

static void check_bare(const char *buf, size_t len)
{
    struct config_sub sub;
    enum decode_status st;
    enum decode_status st2;
    int rc;
    double v = 0;
    size_t a = 0;
    size_t b = len;

    memset(&sub, 0, sizeof sub);
    sub.format = FORMAT_NUMBER;
    st = decode_payload(&sub, buf, len, &out);
    st2 = len == 0                                 ? DECODE_EMPTY
          : (rc = scan_decimal(buf, len, &v)) == 0 ? DECODE_OK
          : rc == -ERANGE                          ? DECODE_NO_NUMBER
                                                   : DECODE_SYNTAX;
    if (st != st2 ||
        (st == DECODE_OK && (out.n != 1 || out.samples[0].value != v)))
        abort();
    if (st != DECODE_OK)
        return;
    if (!isfinite(v) || out.samples[0].field != out.text)
        abort();
    while (a < b && is_space(buf[a]))
        a++;
    while (b > a && is_space(buf[b - 1]))
        b--;
    same_as_strtod(buf + a, b - a, v);
}

static void check_scan(const char *buf, size_t len)
{
    double v = 0;
    const char *end = scan_number(buf, buf + len, SCAN_NUM_JSON, &v);

    if (!end)
        return;
    if (end <= buf || end > buf + len || isnan(v))
        abort();
    same_as_strtod(buf, (size_t) (end - buf), v);
    if (v >= 0 && isfinite(v)) {
        int64_t ms;

        if (scan_time_numeric(v, &ms) != 0 && v < 9e18 * 1e6)
            abort();
    }
}

static void check_rfc3339(const char *buf, size_t len)
{
    struct tm tm = {0};
    int64_t ms;
    int64_t base;

    if (scan_time_rfc3339(buf, len, &ms) != 0)
        return;
    if (sscanf(buf, "%4d-%2d-%2d%*c%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        abort();
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    base = (int64_t) timegm(&tm) * 1000;
    if (ms < base - 86400000 || ms > base + 86400000 + 1000)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    check_bare(buf, size);
    check_scan(buf, size);
    check_rfc3339(buf, size);
    free(buf);
    return 0;
}
