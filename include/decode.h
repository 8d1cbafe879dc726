/*
 * decode.h - turns one MQTT payload into samples, by its subscription's
 * format (json, number, influx line protocol).
 *
 * Decoding allocates nothing: samples, composed field names and tags go
 * into the caller's struct decode_out, which the worker preallocates once.
 * Field names and tags point into the payload where they can be used as
 * they are, or into out->text where they had to be composed (dotted paths,
 * "measurement.field", unescaped names, tag objects).
 *
 * A payload that yields nothing is a verdict, not a failure: the status says
 * why, and the worker counts it and logs it rate-limited.
 */
#ifndef SP_DECODE_H
#define SP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DECODE_MAX_SAMPLES 256   /* samples from one payload */
#define DECODE_TEXT_MAX    16384 /* composed names and tags, per payload */
#define DECODE_FIELD_MAX   255   /* longest field name kept */
#define DECODE_MAX_DEPTH   16    /* JSON nesting deeper than this is refused */
#define DECODE_NO_TIME     INT64_MIN

enum decode_status {
    DECODE_OK = 0,
    DECODE_EMPTY,         /* zero-length payload */
    DECODE_SYNTAX,        /* not well-formed in the subscription's format */
    DECODE_NO_NUMBER,     /* well-formed but carries no numeric field */
    DECODE_TOO_MANY,      /* more samples or text than decode_out holds */
    DECODE_TOO_DEEP,      /* JSON nested deeper than DECODE_MAX_DEPTH */
    DECODE_DUPLICATE_KEY, /* the same key twice in one JSON object */
    DECODE_BAD_TIMESTAMP, /* timestamp present but not a time */
    DECODE_BAD_FIELD,     /* a field name too long or empty */
    DECODE_BAD_NAME,      /* a control byte (0x00-0x1f, 0x7f) in a name */
};

/* Thread: any. A short reason for logs: "syntax error", "no numeric field". */
const char *decode_status_str(enum decode_status st);

/* One sample. Owner: the struct decode_out it sits in. */
struct decode_sample {
    const char *field; /* not NUL-terminated */
    size_t field_len;
    const char *tags; /* JSON object text, or NULL (influx: the line's tags) */
    size_t tags_len;
    double value;  /* finite */
    int64_t ts_ms; /* from the payload, or DECODE_NO_TIME */
};

/* Owner: one worker (preallocated in struct worker); reused per message. */
struct decode_out {
    unsigned n;         /* samples[0..n) are valid */
    unsigned skipped;   /* values that were not numbers: strings, null,
                           non-finite, influx string fields */
    size_t text_used;   /* bytes of text[] in use */
    unsigned bad_lines; /* influx: lines refused while others were read */
    enum decode_status bad_status; /* why the first of them was refused */
    unsigned bad_line;             /* its line number, from 1 */
    struct decode_sample samples[DECODE_MAX_SAMPLES];
    char text[DECODE_TEXT_MAX];
};

/*
 * Decodes payload[0..len) by sub's format, fields, timestamp_field,
 * precision and numeric_strings. payload[len] must be '\0' (the ring record
 * guarantees it), so number parsing never reads past the end.
 * Borrows payload: samples may point into it until the next call.
 * Returns: DECODE_OK with out->n >= 1, or the reason nothing was kept.
 * Thread: any; out is the caller's.
 */
enum decode_status decode_payload(const struct config_sub *sub,
                                  const char *payload, size_t len,
                                  struct decode_out *out);

#endif
