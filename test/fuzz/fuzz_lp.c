/*
 * fuzz_lp.c - libFuzzer target for the line protocol decoder.
 *
 * The first input byte picks the timestamp precision; the rest is the
 * payload, copied into a NUL-terminated buffer of its exact size. Whatever
 * the verdict, out must stay within its bounds; on DECODE_OK every sample
 * must be finite, named by 3..DECODE_FIELD_MAX bytes ("m.f") of valid
 * UTF-8 in out->text, and carry tags in out->text that the JSON decoder
 * reads back as a well-formed object of strings. A broken invariant aborts.
 *
 * Threads: one. Memory: two static struct decode_out (about 28 KiB each).
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
static struct decode_out tags_out;
static char tags_buf[DECODE_TEXT_MAX + 1];

/* The tags must be a JSON object of strings: decoding finds no number. */
static void check_tags(const struct decode_sample *s)
{
    struct config_sub sub;

    if (!s->tags ||
        !decode_check_inside(s->tags, s->tags_len, out.text, out.text_used))
        abort();
    memset(&sub, 0, sizeof sub);
    sub.format = FORMAT_JSON;
    memcpy(tags_buf, s->tags, s->tags_len);
    tags_buf[s->tags_len] = '\0';
    if (decode_payload(&sub, tags_buf, s->tags_len, &tags_out) !=
            DECODE_NO_NUMBER ||
        tags_out.skipped < 1)
        abort();
}

static void check(const char *buf, size_t len, enum decode_status st)
{
    (void) buf; /* every name and tag must lie in out.text */
    if (!decode_check_verdict(&out, len, st))
        return;
    for (unsigned i = 0; i < out.n; i++) {
        const struct decode_sample *s = &out.samples[i];

        if (!isfinite(s->value) || s->field_len < 3 ||
            s->field_len > DECODE_FIELD_MAX ||
            !decode_check_inside(s->field, s->field_len, out.text,
                                 out.text_used) ||
            !scan_utf8_valid(s->field, s->field_len))
            abort();
        /* Samples of one line share their tags: check each object once. */
        if (i == 0 || s->tags != out.samples[i - 1].tags)
            check_tags(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config_sub sub;

    if (size == 0)
        return 0;
    memset(&sub, 0, sizeof sub);
    sub.format = FORMAT_INFLUX;
    sub.precision = (enum config_precision)(data[0] & 3);
    decode_check_run(&sub, data + 1, size - 1, &out, check);
    return 0;
}
