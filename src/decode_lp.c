/*
 * decode_lp.c - InfluxDB line protocol payloads to samples.
 *
 * Grammar (docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol):
 *   line      = measurement *("," tag_key "=" tag_value) " " field
 *               *("," field) [" " timestamp]
 *   field     = field_key "=" (float | int "i" | uint "u" | bool | string)
 * Lines end at '\n' (a '\r' before it is ignored); blank lines and lines
 * whose first non-blank byte is '#' are skipped. Blanks before a line,
 * between the parts and after the timestamp are allowed.
 *
 * Escapes, as the reference lists them: a backslash before ',' or ' ' in
 * the measurement, and before ',', '=' or ' ' in tag keys, tag values and
 * field keys, stands for that byte; "\\" stands for one backslash (the
 * reference's "Escaping backslashes" table); a backslash before anything
 * else is itself. In string field values "\"" and "\\" are escapes.
 * Strings are skipped and counted; booleans are 1 and 0; "12i", "12u" and
 * floats are numbers; "1e999" is refused like any other bad value.
 *
 * Each sample is named "measurement.field_key" (unescaped) and carries the
 * line's tags as a JSON object, "_measurement" first and then the tags in
 * their order, JSON-escaped. The timestamp is an integer in sub->precision,
 * floored to milliseconds. Anything wrong on any line refuses the whole
 * payload (one verdict per message is simpler to count and to reason about
 * than half-kept messages).
 *
 * Threads: pure function of its arguments; out is the caller's.
 * Invariants:
 *   - c->p never passes c->end; every scan loop checks it.
 *   - A line's text (tags, field names) sits after the previous line's in
 *     out->text, and is given back when the line yields no sample.
 * Memory: struct lp_ctx on the stack (about 1.4 KiB); names and tags go to
 *   out->text.
 */
#include "decode_lp.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "scan.h"
#include "tags.h"

#define LP_EQ   1u /* '=' ends the token, and "\=" is an escape */
#define LP_JSON 2u /* the token is written JSON-escaped */

/* The extremes the reference gives for timestamps; INT64_MIN would also
 * collide with DECODE_NO_TIME at precision ms. */
#define LP_TS_MIN (-INT64_MAX + 1)
#define LP_TS_MAX (INT64_MAX - 1)

#define MEAS_KEY "{\"_measurement\":\""

/* A tag key in out->text, JSON-escaped. Owner: struct lp_ctx. */
struct lp_span {
    size_t off;
    size_t len;
};

/* Owner: one decode_lp_parse() call, on its stack. */
struct lp_ctx {
    const char *p;   /* cursor */
    const char *end; /* payload + len */
    const struct config_sub *sub;
    struct decode_out *out;
    size_t tags_off; /* the current line's tag object in out->text */
    size_t tags_len;
    size_t meas_len;
    unsigned n_tags;
    struct lp_span tag_keys[DECODE_LP_MAX_TAGS];
    char meas[DECODE_FIELD_MAX]; /* unescaped measurement */
};

/* ---- text ---------------------------------------------------------------- */

static enum decode_status text_put(struct lp_ctx *c, const char *s, size_t n)
{
    struct decode_out *out = c->out;

    if (n > DECODE_TEXT_MAX - out->text_used)
        return DECODE_TOO_MANY;
    memcpy(out->text + out->text_used, s, n);
    out->text_used += n;
    return DECODE_OK;
}

static bool needs_json_escape(unsigned char ch)
{
    return ch < 0x20 || ch == '"' || ch == '\\';
}

/* Writes ch JSON-escaped (tags_json_escape()) into dst[w..cap) when it
 * fits; returns the position after it, past cap when it does not fit (the
 * caller only compares the end with cap then). */
static size_t json_put(char *dst, size_t cap, size_t w, char ch)
{
    size_t next = w < cap ? tags_json_escape(dst, w, cap, &ch, 1) : SIZE_MAX;

    if (next != SIZE_MAX)
        return next;
    return w < cap ? cap + 1 : w + 1;
}

/* ---- tokens -------------------------------------------------------------- */

static bool is_escapable(char ch, unsigned flags)
{
    return ch == ' ' || ch == ',' || ch == '\\' ||
           (ch == '=' && (flags & LP_EQ));
}

/*
 * Unescapes the token at c->p into dst[0..cap), stopping before an
 * unescaped ' ' or ',' ('=' too with LP_EQ), a newline, a NUL or the end.
 * *n is the length the token needs, which may exceed cap.
 */
static void lp_token(struct lp_ctx *c, unsigned flags, char *dst, size_t cap,
                     size_t *n)
{
    const char *p = c->p;
    size_t w = 0;

    while (p < c->end) {
        char ch = *p;

        if (ch == ' ' || ch == ',' || ch == '\n' || ch == '\0' ||
            (ch == '=' && (flags & LP_EQ)))
            break;
        if (ch == '\\' && p + 1 < c->end && is_escapable(p[1], flags))
            ch = *++p;
        p++;
        if ((flags & LP_JSON) && needs_json_escape((unsigned char) ch)) {
            w = json_put(dst, cap, w, ch);
            continue;
        }
        if (w < cap)
            dst[w] = ch;
        w++;
    }
    c->p = p;
    *n = w;
}

/* A token appended to out->text; *n == 0 when it is empty. */
static enum decode_status token_to_text(struct lp_ctx *c, unsigned flags,
                                        size_t *off, size_t *n)
{
    struct decode_out *out = c->out;
    size_t room = DECODE_TEXT_MAX - out->text_used;

    *off = out->text_used;
    lp_token(c, flags, out->text + out->text_used, room, n);
    if (*n > room)
        return DECODE_TOO_MANY;
    if (!scan_utf8_valid(out->text + *off, *n))
        return DECODE_SYNTAX;
    out->text_used += *n;
    return DECODE_OK;
}

/* ---- measurement and tags ------------------------------------------------ */

static enum decode_status lp_measurement(struct lp_ctx *c)
{
    struct decode_out *out = c->out;
    size_t n;
    size_t w;

    lp_token(c, 0, c->meas, sizeof c->meas, &n);
    if (n == 0)
        return DECODE_SYNTAX;
    /* Every field name is "measurement.k": keep room for ".k". */
    if (n + 2 > DECODE_FIELD_MAX)
        return DECODE_BAD_FIELD;
    if (!scan_utf8_valid(c->meas, n))
        return DECODE_SYNTAX;
    c->meas_len = n;
    c->tags_off = out->text_used;
    c->n_tags = 0;
    if (text_put(c, MEAS_KEY, sizeof MEAS_KEY - 1) != DECODE_OK)
        return DECODE_TOO_MANY;
    w = tags_json_escape(out->text, out->text_used, DECODE_TEXT_MAX, c->meas,
                         n);
    if (w == SIZE_MAX)
        return DECODE_TOO_MANY;
    out->text_used = w;
    return text_put(c, "\"", 1);
}

static enum decode_status check_tag_key(struct lp_ctx *c, size_t off, size_t n)
{
    static const char reserved[] = "_measurement";
    const char *key = c->out->text + off;

    if (n == sizeof reserved - 1 && memcmp(key, reserved, n) == 0)
        return DECODE_DUPLICATE_KEY;
    for (unsigned i = 0; i < c->n_tags; i++)
        if (c->tag_keys[i].len == n &&
            memcmp(c->out->text + c->tag_keys[i].off, key, n) == 0)
            return DECODE_DUPLICATE_KEY;
    if (c->n_tags == DECODE_LP_MAX_TAGS)
        return DECODE_TOO_MANY;
    c->tag_keys[c->n_tags].off = off;
    c->tag_keys[c->n_tags].len = n;
    c->n_tags++;
    return DECODE_OK;
}

/* ,"key":"value" for the tag at c->p (just after its ','). */
static enum decode_status lp_tag(struct lp_ctx *c)
{
    enum decode_status st;
    size_t off;
    size_t n;

    st = text_put(c, ",\"", 2);
    if (st == DECODE_OK)
        st = token_to_text(c, LP_EQ | LP_JSON, &off, &n);
    if (st != DECODE_OK)
        return st;
    if (n == 0 || c->p == c->end || *c->p != '=')
        return DECODE_SYNTAX;
    c->p++;
    st = check_tag_key(c, off, n);
    if (st == DECODE_OK)
        st = text_put(c, "\":\"", 3);
    if (st == DECODE_OK)
        st = token_to_text(c, LP_EQ | LP_JSON, &off, &n);
    if (st != DECODE_OK)
        return st;
    /* Tag values cannot be empty, and the field set must follow. */
    if (n == 0 || c->p == c->end || (*c->p != ',' && *c->p != ' '))
        return DECODE_SYNTAX;
    return text_put(c, "\"", 1);
}

static enum decode_status lp_tags(struct lp_ctx *c)
{
    enum decode_status st;

    while (c->p < c->end && *c->p == ',') {
        c->p++;
        st = lp_tag(c);
        if (st != DECODE_OK)
            return st;
    }
    if (c->p == c->end || *c->p != ' ')
        return DECODE_SYNTAX; /* no field set */
    st = text_put(c, "}", 1);
    c->tags_len = c->out->text_used - c->tags_off;
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    return st;
}

/* ---- field values -------------------------------------------------------- */

static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned) (p[i] - '0');

        if (d > 9 || v > UINT64_MAX / 10 ||
            (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool parse_i64(const char *p, size_t n, int64_t *out)
{
    size_t sign = n > 0 && p[0] == '-' ? 1 : 0;
    bool negative = sign != 0;
    uint64_t mag;
    uint64_t limit = (uint64_t) INT64_MAX + sign;

    if (!parse_u64(p + sign, n - sign, &mag) || mag > limit)
        return false;
    if (!negative)
        *out = (int64_t) mag;
    else if (mag == (uint64_t) INT64_MAX + 1)
        *out = INT64_MIN;
    else
        *out = -(int64_t) mag;
    return true;
}

static bool parse_bool(const char *p, size_t n, double *v)
{
    static const struct {
        const char *text;
        size_t len;
        double value;
    } words[] = {
        {"t", 1, 1},     {"T", 1, 1},     {"true", 4, 1}, {"True", 4, 1},
        {"TRUE", 4, 1},  {"f", 1, 0},     {"F", 1, 0},    {"false", 5, 0},
        {"False", 5, 0}, {"FALSE", 5, 0},
    };

    if (*p != 't' && *p != 'T' && *p != 'f' && *p != 'F')
        return false;
    for (size_t i = 0; i < SP_ARRAY_SIZE(words); i++) {
        if (words[i].len == n && memcmp(words[i].text, p, n) == 0) {
            *v = words[i].value;
            return true;
        }
    }
    return false;
}

static bool ends_value(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\0';
}

/* A float, integer, unsigned or boolean value at c->p. */
static enum decode_status lp_value(struct lp_ctx *c, double *v)
{
    const char *p = c->p;
    const char *q = p;
    size_t n;
    int64_t i;
    uint64_t u;

    while (q < c->end && !ends_value(*q))
        q++;
    n = (size_t) (q - p);
    c->p = q;
    if (n == 0)
        return DECODE_SYNTAX;
    if (parse_bool(p, n, v))
        return DECODE_OK;
    if (p[n - 1] == 'i') {
        if (!parse_i64(p, n - 1, &i))
            return DECODE_SYNTAX;
        *v = (double) i;
        return DECODE_OK;
    }
    if (p[n - 1] == 'u') {
        if (!parse_u64(p, n - 1, &u))
            return DECODE_SYNTAX;
        *v = (double) u;
        return DECODE_OK;
    }
    /* *q ends the number for strtod(): a delimiter, or the payload's NUL. */
    if (scan_number(p, q, 0, v) != q || !isfinite(*v))
        return DECODE_SYNTAX;
    return DECODE_OK;
}

/* A quoted string value at c->p; a newline or the end leaves it open. */
static enum decode_status lp_string(struct lp_ctx *c)
{
    const char *p = c->p + 1;

    while (p < c->end && *p != '"' && *p != '\n') {
        if (*p == '\\' && p + 1 < c->end && (p[1] == '"' || p[1] == '\\'))
            p++;
        p++;
    }
    if (p == c->end || *p != '"')
        return DECODE_SYNTAX;
    c->p = p + 1;
    return DECODE_OK;
}

static enum decode_status emit(struct lp_ctx *c, size_t name_off,
                               size_t name_len, double v)
{
    struct decode_out *out = c->out;
    struct decode_sample *s;

    if (out->n >= DECODE_MAX_SAMPLES)
        return DECODE_TOO_MANY;
    s = &out->samples[out->n++];
    s->field = out->text + name_off;
    s->field_len = name_len;
    s->tags = out->text + c->tags_off;
    s->tags_len = c->tags_len;
    s->value = v;
    s->ts_ms = DECODE_NO_TIME; /* set when the line ends */
    return DECODE_OK;
}

/* key=value at c->p; the sample's name "measurement.key" goes to text. */
static enum decode_status lp_field(struct lp_ctx *c)
{
    struct decode_out *out = c->out;
    size_t name_off = out->text_used;
    enum decode_status st;
    size_t off;
    size_t n;
    double v;

    st = text_put(c, c->meas, c->meas_len);
    if (st == DECODE_OK)
        st = text_put(c, ".", 1);
    if (st == DECODE_OK)
        st = token_to_text(c, LP_EQ, &off, &n);
    if (st != DECODE_OK)
        return st;
    if (n == 0 || c->p == c->end || *c->p != '=')
        return DECODE_SYNTAX;
    c->p++;
    if (c->meas_len + 1 + n > DECODE_FIELD_MAX)
        return DECODE_BAD_FIELD;
    if (c->p < c->end && *c->p == '"') {
        out->text_used = name_off;
        out->skipped++;
        st = lp_string(c);
    } else {
        st = lp_value(c, &v);
        if (st == DECODE_OK)
            st = emit(c, name_off, c->meas_len + 1 + n, v);
    }
    if (st == DECODE_OK && c->p < c->end && !ends_value(*c->p))
        st = DECODE_SYNTAX; /* "x"y, or 1.5"x" */
    return st;
}

/* ---- lines --------------------------------------------------------------- */

static bool at_eol(const struct lp_ctx *c)
{
    const char *p = c->p;

    return p == c->end || *p == '\n' ||
           (*p == '\r' && (p + 1 == c->end || p[1] == '\n'));
}

static void skip_eol(struct lp_ctx *c)
{
    if (c->p < c->end && *c->p == '\r')
        c->p++;
    if (c->p < c->end && *c->p == '\n')
        c->p++;
}

static void skip_blanks(struct lp_ctx *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* Unit of sub->precision in ms: ms = ts * mul, or ts / div floored. */
static const struct {
    int64_t mul;
    int64_t div;
} precisions[] = {
    [PRECISION_NS] = {1, 1000000},
    [PRECISION_US] = {1, 1000},
    [PRECISION_MS] = {1, 1},
    [PRECISION_S] = {1000, 1},
};

static bool ts_to_ms(int64_t ts, enum config_precision prec, int64_t *ms)
{
    int64_t mul = precisions[prec].mul;
    int64_t div = precisions[prec].div;
    int64_t q = ts / div;

    if (ts < INT64_MIN / mul || ts > INT64_MAX / mul)
        return false;
    /* Division truncates toward zero; times before 1970 floor. */
    if (ts % div != 0 && ts < 0)
        q--;
    *ms = q * mul;
    return true;
}

/* Optional " timestamp", trailing blanks, and the end of the line. */
static enum decode_status lp_line_end(struct lp_ctx *c, int64_t *ts_ms)
{
    const char *p;
    int64_t ts;

    skip_blanks(c);
    if (!at_eol(c)) {
        p = c->p;
        while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && !at_eol(c))
            c->p++;
        if (!parse_i64(p, (size_t) (c->p - p), &ts) || ts < LP_TS_MIN ||
            ts > LP_TS_MAX || !ts_to_ms(ts, c->sub->precision, ts_ms))
            return DECODE_SYNTAX;
        skip_blanks(c);
    }
    if (!at_eol(c))
        return DECODE_SYNTAX;
    skip_eol(c);
    return DECODE_OK;
}

static enum decode_status lp_line(struct lp_ctx *c)
{
    struct decode_out *out = c->out;
    size_t text0 = out->text_used;
    unsigned n0 = out->n;
    int64_t ts = DECODE_NO_TIME;
    enum decode_status st;

    st = lp_measurement(c);
    if (st == DECODE_OK)
        st = lp_tags(c);
    if (st == DECODE_OK)
        st = lp_field(c);
    while (st == DECODE_OK && c->p < c->end && *c->p == ',') {
        c->p++;
        st = lp_field(c);
    }
    if (st == DECODE_OK)
        st = lp_line_end(c, &ts);
    if (st != DECODE_OK)
        return st;
    for (unsigned i = n0; i < out->n; i++)
        out->samples[i].ts_ms = ts;
    if (out->n == n0)
        out->text_used = text0; /* only strings: the tags are not needed */
    return DECODE_OK;
}

enum decode_status decode_lp_parse(const struct config_sub *sub,
                                   const char *payload, size_t len,
                                   struct decode_out *out)
{
    struct lp_ctx c;
    enum decode_status st;
    const char *nl;

    assert((size_t) sub->precision < SP_ARRAY_SIZE(precisions));
    c.p = payload;
    c.end = payload + len;
    c.sub = sub;
    c.out = out;
    while (c.p < c.end) {
        skip_blanks(&c);
        if (at_eol(&c)) {
            skip_eol(&c);
            continue;
        }
        if (*c.p == '#') {
            nl = memchr(c.p, '\n', (size_t) (c.end - c.p));
            c.p = nl ? nl + 1 : c.end;
            continue;
        }
        st = lp_line(&c);
        if (st != DECODE_OK)
            return st;
    }
    return out->n > 0 ? DECODE_OK : DECODE_NO_NUMBER;
}
