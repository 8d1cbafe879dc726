/*
 * decode_lp.h - InfluxDB line protocol payloads to samples (format = influx).
 *
 * One point per line: measurement[,tag=value...] field=value[,...] [time],
 * read as InfluxData's reference parser reads it. Each non-string field
 * gives a sample named "measurement.field" whose tags are the JSON object
 * {"_measurement":"...","tag":"value",...}; the time is in sub->precision.
 * Lines stand alone: a line that does not parse is refused and counted in
 * out->bad_lines while the others are kept.
 */
#ifndef SP_DECODE_LP_H
#define SP_DECODE_LP_H

#include <stddef.h>

#include "config.h"
#include "decode_out.h"

/* Tags one line may carry; a line with more is refused (DECODE_TOO_MANY_TAGS).
 * With "_measurement" the tags object has at most 256 members, as many as
 * a JSON object may have (DECODE_JSON_MAX_KEYS). */
#define DECODE_LP_MAX_TAGS 255

/*
 * Decodes payload[0..len) as line protocol into out, which decode_payload()
 * has reset; len > 0 and payload[len] == '\0'.
 * Borrows payload (field names and tags are always composed in out->text).
 * Each refused line adds one to out->bad_lines; the first one's reason and
 * line number are out->bad_status and out->bad_line.
 * Returns: DECODE_OK with out->n >= 1 (some lines may have been refused);
 * otherwise the first refused line's reason: DECODE_SYNTAX (a line that
 * does not parse), DECODE_BAD_NAME (a control byte in a name, or a line
 * that starts with one), DECODE_BAD_TIMESTAMP (not an int64 in
 * nanoseconds), DECODE_BAD_FIELD (a sample name longer than
 * DECODE_FIELD_MAX), DECODE_DUPLICATE_KEY (a tag key twice in a line, or
 * the tag key "_measurement" or "_field"), DECODE_TOO_MANY_TAGS (more than
 * DECODE_LP_MAX_TAGS tags in a line), DECODE_TOO_MANY (samples or text
 * past decode_out's bounds); DECODE_NO_NUMBER when no line was refused and none
 * carried a number (only strings, comments, blank lines). Thread: any; out is
 * the caller's. Allocates nothing.
 */
enum decode_status decode_lp_parse(const struct config_sub *sub,
                                   const char *payload, size_t len,
                                   struct decode_out *out);

#endif
