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
#include "decode_check.h"
#include "scan.h"

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

static void check(const char *buf, size_t len, enum decode_status st)
{
    if (!decode_check_verdict(&out, len, st))
        return;
    for (unsigned i = 0; i < out.n; i++) {
        const struct decode_sample *s = &out.samples[i];

        if (!isfinite(s->value) || s->field_len < 1 ||
            s->field_len > DECODE_FIELD_MAX || s->tags != NULL)
            abort();
        if (!decode_check_inside(s->field, s->field_len, buf, len) &&
            !decode_check_inside(s->field, s->field_len, out.text,
                                 out.text_used))
            abort();
        if (!scan_utf8_valid(s->field, s->field_len))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config_sub sub;

    if (size == 0)
        return 0;
    options(&sub, data[0]);
    decode_check_run(&sub, data + 1, size - 1, &out, check);
    return 0;
}
