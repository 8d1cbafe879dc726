/*
 * decode_check.c - invariants every decoder harness checks (see
 * decode_check.h).
 *
 * Threads: one (libFuzzer's). Memory: one payload copy per input, freed
 * before decode_check_run() returns.
 */
#include "decode_check.h"

#include <stdlib.h>
#include <string.h>

bool decode_check_inside(const char *p, size_t n, const char *base, size_t size)
{
    uintptr_t a = (uintptr_t) p;
    uintptr_t b = (uintptr_t) base;

    return a >= b && a + n <= b + size;
}

bool decode_check_verdict(const struct decode_out *out, size_t len,
                          enum decode_status st)
{
    if ((unsigned) st > DECODE_TOO_MANY_TAGS || !decode_status_str(st))
        abort();
    if (out->n > DECODE_MAX_SAMPLES || out->text_used > DECODE_TEXT_MAX)
        abort();
    if (st == DECODE_EMPTY && len != 0)
        abort();
    if (st != DECODE_OK)
        return false;
    if (out->n < 1)
        abort();
    return true;
}

void decode_check_run(const struct config_sub *sub, const uint8_t *data,
                      size_t size, struct decode_out *out,
                      void (*check)(const char *buf, size_t len,
                                    enum decode_status st))
{
    char *buf = malloc(size + 1);

    if (!buf)
        return;
    memcpy(buf, data, size);
    buf[size] = '\0';
    check(buf, size, decode_payload(sub, buf, size, out));
    free(buf);
}
