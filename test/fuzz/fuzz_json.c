/*
 * fuzz_json.c - libFuzzer target for the JSON decoder.
 *
 * The first input byte picks the subscription's options (numeric_strings,
 * timestamp_field, fields); the rest is the payload, copied into a
 * NUL-terminated buffer of its exact size as the ring would hand it over.
 * Whatever the verdict, out must stay within its bounds; on DECODE_OK every
 * sample must be finite, named by 1..DECODE_FIELD_MAX bytes of valid UTF-8
 * that lie in the payload or in out->text. A broken invariant aborts.
 *
 * Threads: one. Memory: out is static (it is about 28 KiB).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct decode_out out;

static const char *const ts_fields[] = {"", "ts", "meta.time", "t"};

static void options(struct config_sub *sub, uint8_t b)
{
    memset(sub, 0, sizeof *sub);
    sub->format = FORMAT_JSON;
    sub->numeric_strings = (b & 1) != 0;
    strcpy(sub->timestamp_field, ts_fields[(b >> 1) & 3]);
    if (b & 8) {
        strcpy(sub->fields[0], "temp");
        strcpy(sub->fields[1], "env.hum");
        strcpy(sub->fields[2], "a.b.c");
        sub->n_fields = 3;
    }
}

static int inside(const char *p, size_t n, const char *base, size_t size)
{
    uintptr_t a = (uintptr_t) p;
    uintptr_t b = (uintptr_t) base;

    return a >= b && a + n <= b + size;
}

static void check(const char *buf, size_t len, enum decode_status st)
{
    if ((unsigned) st > DECODE_BAD_FIELD || !decode_status_str(st))
        abort();
    if (out.n > DECODE_MAX_SAMPLES || out.text_used > DECODE_TEXT_MAX)
        abort();
    if (st == DECODE_EMPTY && len != 0)
        abort();
    if (st != DECODE_OK)
        return;
    if (out.n < 1)
        abort();
    for (unsigned i = 0; i < out.n; i++) {
        const struct decode_sample *s = &out.samples[i];

        if (!isfinite(s->value) || s->field_len < 1 ||
            s->field_len > DECODE_FIELD_MAX || s->tags != NULL)
            abort();
        if (!inside(s->field, s->field_len, buf, len) &&
            !inside(s->field, s->field_len, out.text, out.text_used))
            abort();
        if (!decode_utf8_valid(s->field, s->field_len))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config_sub sub;
    enum decode_status st;
    char *buf;

    if (size == 0)
        return 0;
    options(&sub, data[0]);
    data++;
    size--;
    buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    st = decode_payload(&sub, buf, size, &out);
    check(buf, size, st);
    free(buf);
    return 0;
}
