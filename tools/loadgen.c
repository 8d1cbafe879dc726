/*
 * loadgen.c - synthetic readings for the load and bench tools.
 *
 * Threads: pure functions. Memory: none (callers give the buffers).
 */
#include "loadgen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *loadgen_put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

char *loadgen_put_str(char *p, const char *s)
{
    while (*s != '\0')
        *p++ = *s++;
    return p;
}

/* The value of message k: tenths from 0.0 to 99.9, as "D.D". */
static char *put_value(char *p, uint64_t k)
{
    uint64_t tenths = (k * 7) % 1000;

    p = loadgen_put_u64(p, tenths / 10);
    *p++ = '.';
    return loadgen_put_u64(p, tenths % 10);
}

char *loadgen_payload(enum config_format f, uint64_t k, unsigned i,
                      uint64_t ts_ns, char *p)
{
    if (f == FORMAT_NUMBER)
        return put_value(p, k);
    if (f == FORMAT_JSON) {
        p = loadgen_put_str(p, "{");
        if (ts_ns != 0)
            p = loadgen_put_str(
                loadgen_put_u64(loadgen_put_str(p, "\"ts\":"), ts_ns / 1000000),
                ",");
        p = put_value(loadgen_put_str(p, "\"temp\":"), k);
        return loadgen_put_str(
            loadgen_put_u64(loadgen_put_str(p, ",\"seq\":"), k), "}");
    }
    p = loadgen_put_u64(loadgen_put_str(p, "m,dev="), i);
    p = put_value(loadgen_put_str(p, " temp="), k);
    p = loadgen_put_u64(loadgen_put_str(p, ",seq="), k);
    if (ts_ns != 0)
        p = loadgen_put_u64(loadgen_put_str(p, " "), ts_ns);
    return p;
}

int loadgen_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] == '-')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

int loadgen_parse_format(const char *s, enum config_format *f)
{
    static const enum config_format all[] = {FORMAT_JSON, FORMAT_NUMBER,
                                             FORMAT_INFLUX};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, config_format_str(all[i])) == 0) {
            *f = all[i];
            return 0;
        }
    return -EINVAL;
}
