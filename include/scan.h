/*
 * scan.h - scanners for the text inside payloads: decimal numbers, UTF-8,
 * numeric and RFC 3339 times. The payload formats (decode.c,
 * decode_json.c, decode_lp.c) all build on these; this module depends on
 * none of them.
 */
#ifndef SP_SCAN_H
#define SP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

/*
 * A bare decimal number (surrounding white space allowed): "21.5", "-3",
 * "1e3", also "+1", ".5" and "1." as strtod() reads them. "nan", "inf" and
 * hex are refused. s[len] must be readable (a NUL or the byte after the
 * number in a larger buffer); it is never taken as part of the number.
 * Returns: 0 with *out set; -EINVAL when the text is not a number;
 * -ERANGE when it is a well-formed number out of the range of a double
 * ("1e999").
 * Thread: any.
 */
SP_MUST_CHECK int scan_decimal(const char *s, size_t len, double *out);

/* scan_number() grammar: RFC 8259 (no '+', no leading zeros, digits
 * on both sides of '.'); without it, the lenient grammar of scan_decimal. */
#define SCAN_NUM_JSON 1u

/*
 * Scans one decimal number that starts at s and ends at or before end, and
 * computes its value, correctly rounded (an exact fast path when the digits
 * fit in 53 bits and the power of ten in 10^22, strtod() otherwise). *end
 * must be readable; nothing past it is read. "nan", "inf" and hex are not
 * numbers.
 * Returns: one past the number's last byte, with *out set (+-inf when the
 * value overflows), or NULL when s does not start with a number.
 * Thread: any.
 */
const char *scan_number(const char *s, const char *end, unsigned flags,
                        double *out);

/* Thread: any. True when s[0..len) is well-formed UTF-8 (no overlong forms,
 * no surrogates, nothing above U+10FFFF; NUL is allowed). */
bool scan_utf8_valid(const char *s, size_t len);

/*
 * A numeric Unix time whose unit is detected by magnitude: seconds below
 * 1e11, milliseconds below 1e14, microseconds below 1e17, else nanoseconds.
 * Fractions of a millisecond are floored; a value within two units in the
 * last place of a whole millisecond is that millisecond (1.001 s is 1001
 * ms, although 1.001 * 1000 < 1001 in binary).
 * Returns: 0 with *ts_ms set, or -EINVAL (negative, not finite, or beyond
 * int64_t milliseconds).
 * Thread: any.
 */
int scan_time_numeric(double v, int64_t *ts_ms);

/*
 * RFC 3339 text: "2026-11-27T08:30:00Z", "...T08:30:00.123+01:00"; 't' or
 * ' ' may separate date and time, 'z' stands for 'Z'. Fields are range
 * checked (the day against its month, leap years included; second 60 is
 * allowed); a fraction is floored to milliseconds. No locale, no timegm().
 * Returns: 0 with *ts_ms set, or -EINVAL.
 * Thread: any.
 */
int scan_time_rfc3339(const char *s, size_t len, int64_t *ts_ms);

/*
 * Line protocol reads values as InfluxDB's reference (Go's strconv) does.
 * scan_u64: digits only, no sign, no overflow. scan_i64: an optional '-'
 * then digits, within int64_t. scan_go_float: strconv.ParseFloat's
 * grammar ([-] digits [. digits] [e [+-] digits], or a hex mantissa with
 * a p exponent; '_' only between digits), false also when the value is not
 * finite. scan_go_bool: t, T, true, True, TRUE as 1 and f, F, false,
 * False, FALSE as 0. Each reads p[0..n) exactly; true with *out set.
 * Thread: any. Allocates nothing.
 */
bool scan_u64(const char *p, size_t n, uint64_t *out);
bool scan_i64(const char *p, size_t n, int64_t *out);
bool scan_go_float(const char *p, size_t n, double *out);
bool scan_go_bool(const char *p, size_t n, double *out);

#endif
