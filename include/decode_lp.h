/*
 * decode_lp.h - InfluxDB line protocol payloads to samples (format = influx).
 *
 * One point per line: measurement[,tag=value...] field=value[,...] [time].
 * Each non-string field gives a sample named "measurement.field" whose tags
 * are the JSON object {"_measurement":"...","tag":"value",...}; the time is
 * in sub->precision. A line that does not parse refuses the whole payload,
 * so a message is either kept whole or dropped whole.
 */
#ifndef SP_DECODE_LP_H
#define SP_DECODE_LP_H

#include <stddef.h>

#include "config.h"
#include "decode.h"

/* Tags of one line kept for the duplicate check; more is DECODE_TOO_MANY. */
#define DECODE_LP_MAX_TAGS 64

/*
 * Decodes payload[0..len) as line protocol into out, which decode_payload()
 * has reset; len > 0 and payload[len] == '\0'.
 * Borrows payload (field names and tags are always composed in out->text).
 * Returns: DECODE_OK with out->n >= 1; DECODE_NO_NUMBER (only string fields,
 * comments or blank lines); DECODE_SYNTAX (any line that does not parse,
 * including a bad field value or timestamp); DECODE_BAD_FIELD (a name
 * longer than DECODE_FIELD_MAX); DECODE_DUPLICATE_KEY (a tag key twice in a
 * line, or the tag key "_measurement"); DECODE_TOO_MANY.
 * Thread: any; out is the caller's. Allocates nothing.
 */
enum decode_status decode_lp_parse(const struct config_sub *sub,
                                   const char *payload, size_t len,
                                   struct decode_out *out);

#endif
