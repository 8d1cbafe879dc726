/*
 * decode.c - payload dispatch and the bare number format.
 *
 * decode_payload() resets the caller's struct decode_out and hands the
 * payload to the decoder of the subscription's format: decode_json.c,
 * decode_lp.c, or the bare number decoder below. Numbers, times and UTF-8
 * are scanned by scan.c, which the format decoders use too.
 *
 * Threads: pure functions on caller-owned memory.
 * Invariants:
 *   - decode_payload() leaves out->n <= DECODE_MAX_SAMPLES and
 *     out->text_used <= DECODE_TEXT_MAX, and on DECODE_OK every sample
 *     value is finite and every field name is 1..DECODE_FIELD_MAX bytes.
 * Memory: none.
 */
#include "decode.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode_json.h"
#include "decode_lp.h"
#include "scan.h"

static const char *const status_names[] = {
    [DECODE_OK] = "ok",
    [DECODE_EMPTY] = "empty payload",
    [DECODE_SYNTAX] = "syntax error",
    [DECODE_NO_NUMBER] = "no numeric field",
    [DECODE_TOO_MANY] = "too many samples",
    [DECODE_TOO_DEEP] = "nested too deep",
    [DECODE_DUPLICATE_KEY] = "duplicate key",
    [DECODE_BAD_TIMESTAMP] = "bad timestamp",
    [DECODE_BAD_FIELD] = "bad field name",
    [DECODE_BAD_NAME] = "control character in a name",
    [DECODE_TOO_MANY_TAGS] = "more than 255 tags in a line",
};

const char *decode_status_str(enum decode_status st)
{
    if ((size_t) st >= SP_ARRAY_SIZE(status_names) || !status_names[st])
        return "unknown decode status";
    return status_names[st];
}

/* format = number: the whole payload is one sample named "value". */
static enum decode_status decode_bare(const char *payload, size_t len,
                                      struct decode_out *out)
{
    static const char name[] = "value";
    struct decode_sample *s = &out->samples[0];
    double v;
    int rc = scan_decimal(payload, len, &v);

    if (rc == -ERANGE)
        out->skipped = 1; /* a number, but not a finite double */
    if (rc < 0)
        return rc == -ERANGE ? DECODE_NO_NUMBER : DECODE_SYNTAX;
    /* The name goes to out->text: samples only point there or into the
     * payload, whatever the format. */
    memcpy(out->text, name, sizeof name - 1);
    out->text_used = sizeof name - 1;
    s->field = out->text;
    s->field_len = sizeof name - 1;
    s->tags = NULL;
    s->tags_len = 0;
    s->value = v;
    s->ts_ms = DECODE_NO_TIME;
    out->n = 1;
    return DECODE_OK;
}

enum decode_status decode_payload(const struct config_sub *sub,
                                  const char *payload, size_t len,
                                  struct decode_out *out)
{
    out->n = 0;
    out->skipped = 0;
    out->text_used = 0;
    out->bad_lines = 0;
    out->bad_status = DECODE_OK;
    out->bad_line = 0;
    if (len == 0)
        return DECODE_EMPTY;
    assert(payload[len] == '\0');
    switch (sub->format) {
    case FORMAT_JSON:
        return decode_json_parse(sub, payload, len, out);
    case FORMAT_INFLUX:
        return decode_lp_parse(sub, payload, len, out);
    case FORMAT_NUMBER:
        break;
    }
    assert(sub->format == FORMAT_NUMBER); /* config.c validated it */
    return decode_bare(payload, len, out);
}
