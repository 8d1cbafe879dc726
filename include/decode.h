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
#include "decode_out.h"

/* Thread: any. A short reason for logs: "syntax error", "no numeric field". */
const char *decode_status_str(enum decode_status st);

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
