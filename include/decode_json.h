/*
 * decode_json.h - JSON payloads to samples (format = json).
 *
 * Accepted: one object (a reading), an array of objects (one reading each,
 * each may carry its own timestamp), or a bare scalar (field "value").
 * Numeric members become samples named by their dotted path ("env.temp");
 * sub->fields narrows that to the listed paths; sub->timestamp_field names
 * the member that times a reading. decode.h describes the verdicts.
 */
#ifndef SP_DECODE_JSON_H
#define SP_DECODE_JSON_H

#include <stddef.h>

#include "config.h"
#include "decode_out.h"

/* Keys of all open objects kept for the duplicate check; more is
 * DECODE_TOO_MANY. */
#define DECODE_JSON_MAX_KEYS 256

/*
 * Decodes payload[0..len) as JSON into out, which decode_payload() has
 * reset; len > 0 and payload[len] == '\0'.
 * Borrows payload: samples may point into it until the next call.
 * Returns: DECODE_OK with out->n >= 1; DECODE_NO_NUMBER (well-formed, no
 * number kept); DECODE_SYNTAX; DECODE_TOO_DEEP; DECODE_DUPLICATE_KEY;
 * DECODE_BAD_TIMESTAMP; DECODE_BAD_FIELD; DECODE_TOO_MANY.
 * Thread: any; out is the caller's. Allocates nothing.
 */
enum decode_status decode_json_parse(const struct config_sub *sub,
                                     const char *payload, size_t len,
                                     struct decode_out *out);

#endif
