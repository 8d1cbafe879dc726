/*
 * decode_out.h - what decoding a payload yields: the status, the samples
 * and the text they point into. The format decoders (decode_json.c,
 * decode_lp.c) fill it; decode.c dispatches and the worker reads it. Types
 * only, so that the decoders depend on neither decode.c nor each other.
 */
#ifndef SP_DECODE_OUT_H
#define SP_DECODE_OUT_H

#include <stddef.h>
#include <stdint.h>

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
    DECODE_TOO_MANY_TAGS, /* influx: more tags in a line than it keeps */
};

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

#endif
