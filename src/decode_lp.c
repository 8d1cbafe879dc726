/*
 * decode_lp.c - InfluxDB line protocol payloads to samples.
 *
 * The rules are those of InfluxData's reference parser (the lineprotocol
 * package of github.com/influxdata/line-protocol v2, which InfluxDB 2 and
 * Telegraf use); README's "Line protocol" lists where this decoder differs
 * on purpose (bounds, reserved tag keys, duplicate tags).
 *
 *   line      = measurement *("," tag_key "=" tag_value) 1*" " field
 *               *("," field) [1*" " timestamp] *" " eol
 *   field     = field_key "=" (float | int "i" | uint "u" | bool | string)
 *   eol       = "\n" | "\r\n" | "\r" at the end of the payload | the end
 * Spaces (only 0x20, never tabs) may lead a line; lines of spaces and
 * lines whose first non-space byte is '#' (comments, printable bytes only)
 * carry nothing.
 *
 * Names: the measurement, tag keys, tag values and field keys are valid
 * UTF-8 without control bytes (0x00-0x1f, 0x7f): a control byte ends the
 * name, and the line is refused (DECODE_BAD_NAME). A backslash before a
 * byte that needs escaping in that position stands for that byte (' ' and
 * ',' in the measurement; ',', '=' and ' ' in tag keys, tag values and
 * field keys); any other backslash is itself, so "a\\ b" is the tag value
 * "a\ b".
 *
 * Values: a number starts with '-', a digit or '.'; "i" and "u" suffixes
 * make 64-bit integers (base 10, no '+'); other numbers are read as Go's
 * strconv.ParseFloat reads them, so "1_000" (underscores between digits)
 * and hex floats with an exponent ("0x1.8p1") are numbers too; non-finite
 * values and overflow ("1e999") are refused, underflow is 0. Booleans
 * ("t", "TRUE", "false", ...) are 1 and 0. Double-quoted strings may hold
 * anything but an unescaped '"', raw newlines included; they must be valid
 * UTF-8, and are skipped and counted (out->skipped).
 *
 * Timestamps: a base-10 int64 in sub->precision whose value in
 * nanoseconds fits in an int64, floored to milliseconds.
 *
 * Each sample is named "measurement.field_key" (unescaped) and carries the
 * line's tags as a JSON object, "_measurement" first and then the tags in
 * their order, JSON-escaped.
 *
 * Lines stand alone, as in InfluxDB's write path: a line that does not
 * parse is refused on its own, its samples and text given back, and
 * decoding goes on after the next '\n' from where the error was found (a
 * missing timestamp: from the next '\r' or '\n'), as the reference
 * recovers. A line that parses but passes a bound below is read to its
 * end first (c->sink), as the reference would read it. out->bad_lines
 * counts refused lines; out->bad_status and out->bad_line name the first.
 * A differential run against the reference (1.5 million generated
 * payloads) agreed on every sample and every refused-line count.
 *
 * Bounds, each refusing the line that passes it: DECODE_LP_MAX_TAGS tags;
 * a tag key twice, or the tag keys "_measurement" and "_field" (InfluxDB 2
 * reserves them; the first is the tags object's own key); a sample name
 * longer than DECODE_FIELD_MAX; more than DECODE_MAX_SAMPLES samples or
 * DECODE_TEXT_MAX bytes of names and tags in the payload.
 *
 * Threads: pure function of its arguments; out is the caller's.
 * Invariants:
 *   - c->p never passes c->end; every scan loop checks it.
 *   - A line's text (tags, field names) sits after the previous line's in
 *     out->text, and is given back when the line yields no sample.
 *   - slots[] is all zero between lines: a line's tag keys are removed
 *     from it before the next line starts.
 * Memory: struct lp_ctx on the stack (about 5.5 KiB); names and tags go to
 *   out->text.
 */
#include "decode_lp.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"
#include "tags.h"

#define LP_EQ   1u /* '=' ends the token, and "\=" is an escape */
#define LP_JSON 2u /* the token is written JSON-escaped */

#define LP_TAG_SLOTS 512 /* power of two, over 2 * DECODE_LP_MAX_TAGS */

#define MEAS_KEY "{\"_measurement\":\""

_Static_assert(LP_TAG_SLOTS >= 2 * DECODE_LP_MAX_TAGS, "tag table too small");
_Static_assert(DECODE_LP_MAX_TAGS == 255, "decode.c's reason names the limit");

/* A tag key in out->text, JSON-escaped, and its slot. Owner: lp_ctx. */
struct lp_span {
    size_t off;
    size_t len;
    unsigned slot;
};

/* Owner: one decode_lp_parse() call, on its stack. */
struct lp_ctx {
    const char *start; /* the payload */
    const char *p;     /* cursor */
    const char *end;   /* payload + len */
    const struct config_sub *sub;
    struct decode_out *out;
    size_t tags_off; /* the current line's tag object in out->text */
    size_t tags_len;
    size_t meas_len;
    unsigned n_tags;
    bool resume_here; /* a refused line resumes at c->p, not after '\n' */
    bool sink;        /* the line is refused: read it, keep nothing */
    enum decode_status refused; /* why, when sink is set */
    struct lp_span tag_keys[DECODE_LP_MAX_TAGS];
    uint16_t slots[LP_TAG_SLOTS]; /* tag index + 1; 0 is free */
    char meas[DECODE_FIELD_MAX];  /* unescaped measurement */
};

/* ---- bytes --------------------------------------------------------------- */

static bool is_ctl(char ch)
{
    return (unsigned char) ch < 0x20 || ch == 0x7f;
}

/* The reference's white space after a field value or a timestamp. */
static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\r' || ch == '\n';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* A name stopped at ch where more was expected: a control byte other than
 * the line's end names itself; anything else is a syntax error. */
static enum decode_status stopped_at(const struct lp_ctx *c)
{
    if (c->p == c->end || *c->p == '\n' || *c->p == '\r')
        return DECODE_SYNTAX;
    return is_ctl(*c->p) ? DECODE_BAD_NAME : DECODE_SYNTAX;
}

/* ---- text ---------------------------------------------------------------- */

/*
 * A line the reference accepts but a bound of this decoder refuses: the
 * rest of the line is still read (so it ends where the reference says,
 * strings with newlines included) but nothing more is kept.
 */
static enum decode_status refuse_later(struct lp_ctx *c, enum decode_status st)
{
    if (!c->sink)
        c->refused = st;
    c->sink = true;
    return DECODE_OK;
}

static enum decode_status text_put(struct lp_ctx *c, const char *s, size_t n)
{
    struct decode_out *out = c->out;

    if (c->sink)
        return DECODE_OK;
    if (n > DECODE_TEXT_MAX - out->text_used)
        return refuse_later(c, DECODE_TOO_MANY);
    memcpy(out->text + out->text_used, s, n);
    out->text_used += n;
    return DECODE_OK;
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
    return ch == ' ' || ch == ',' || (ch == '=' && (flags & LP_EQ));
}

/* Bytes that end a name: control bytes, ' ' and ','; '=' too in [1]. */
static const bool name_end[2][256] = {
#define LP_CTL_ENDS                                                            \
    [0x00] = true, [0x01] = true, [0x02] = true, [0x03] = true, [0x04] = true, \
    [0x05] = true, [0x06] = true, [0x07] = true, [0x08] = true, [0x09] = true, \
    [0x0a] = true, [0x0b] = true, [0x0c] = true, [0x0d] = true, [0x0e] = true, \
    [0x0f] = true, [0x10] = true, [0x11] = true, [0x12] = true, [0x13] = true, \
    [0x14] = true, [0x15] = true, [0x16] = true, [0x17] = true, [0x18] = true, \
    [0x19] = true, [0x1a] = true, [0x1b] = true, [0x1c] = true, [0x1d] = true, \
    [0x1e] = true, [0x1f] = true, [0x7f] = true, [' '] = true, [','] = true
    {LP_CTL_ENDS},
    {LP_CTL_ENDS, ['='] = true},
#undef LP_CTL_ENDS
};

static bool ends_name(char ch, unsigned flags)
{
    return name_end[flags & LP_EQ][(unsigned char) ch];
}

/*
 * Unescapes the name at c->p into dst[0..cap), stopping before an
 * unescaped ' ' or ',' ('=' too with LP_EQ), a control byte or the end.
 * *n is the length the name needs, which may exceed cap.
 */
static void lp_token(struct lp_ctx *c, unsigned flags, char *dst, size_t cap,
                     size_t *n)
{
    const char *p = c->p;
    size_t w = 0;

    while (p < c->end && !ends_name(*p, flags)) {
        char ch = *p++;

        if (ch == '\\' && p < c->end && is_escapable(*p, flags))
            ch = *p++;
        /* Names hold no control bytes: only '"' and '\\' need escaping. */
        if ((flags & LP_JSON) && (ch == '"' || ch == '\\')) {
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

/* A name appended to out->text; *n == 0 when it is empty. */
static enum decode_status token_to_text(struct lp_ctx *c, unsigned flags,
                                        size_t *off, size_t *n)
{
    struct decode_out *out = c->out;
    size_t room = c->sink ? 0 : DECODE_TEXT_MAX - out->text_used;
    const char *p0 = c->p;

    *off = out->text_used;
    lp_token(c, flags, out->text + out->text_used, room, n);
    /* Escapes drop a backslash before ASCII only: the raw bytes are valid
     * UTF-8 exactly when the name is. */
    if (!scan_utf8_valid(p0, (size_t) (c->p - p0)))
        return DECODE_SYNTAX;
    if (c->sink)
        return DECODE_OK;
    if (*n > room)
        return refuse_later(c, DECODE_TOO_MANY);
    out->text_used += *n;
    return DECODE_OK;
}

/* ---- measurement and tags ------------------------------------------------ */

static enum decode_status lp_measurement(struct lp_ctx *c)
{
    struct decode_out *out = c->out;
    const char *p0 = c->p;
    size_t n;
    size_t w;

    lp_token(c, 0, c->meas, sizeof c->meas, &n);
    if (!scan_utf8_valid(p0, (size_t) (c->p - p0)))
        return DECODE_SYNTAX;
    if (n == 0 || c->p == c->end || (*c->p != ',' && *c->p != ' '))
        return stopped_at(c);
    c->meas_len = n;
    c->tags_off = out->text_used;
    /* Every field name is "measurement.k": keep room for ".k". */
    if (n + 2 > DECODE_FIELD_MAX)
        return refuse_later(c, DECODE_BAD_FIELD);
    if (text_put(c, MEAS_KEY, sizeof MEAS_KEY - 1) != DECODE_OK || c->sink)
        return DECODE_OK;
    for (size_t i = 0; i < n; i++) {
        w = json_put(out->text, DECODE_TEXT_MAX, out->text_used, c->meas[i]);
        if (w > DECODE_TEXT_MAX)
            return refuse_later(c, DECODE_TOO_MANY);
        out->text_used = w;
    }
    return text_put(c, "\"", 1);
}

static unsigned key_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    return h & (LP_TAG_SLOTS - 1);
}

static bool is_reserved(const char *key, size_t n)
{
    return (n == 12 && memcmp(key, "_measurement", 12) == 0) ||
           (n == 6 && memcmp(key, "_field", 6) == 0);
}

/* Records the tag key out->text[off..off+n); refuses a repeated one. */
static enum decode_status check_tag_key(struct lp_ctx *c, size_t off, size_t n)
{
    const char *key = c->out->text + off;
    unsigned slot = key_hash(key, n);

    if (c->sink)
        return DECODE_OK;
    if (is_reserved(key, n))
        return refuse_later(c, DECODE_DUPLICATE_KEY);
    for (; c->slots[slot] != 0; slot = (slot + 1) & (LP_TAG_SLOTS - 1)) {
        const struct lp_span *k = &c->tag_keys[c->slots[slot] - 1];

        if (k->len == n && memcmp(c->out->text + k->off, key, n) == 0)
            return refuse_later(c, DECODE_DUPLICATE_KEY);
    }
    if (c->n_tags == DECODE_LP_MAX_TAGS)
        return refuse_later(c, DECODE_TOO_MANY_TAGS);
    c->tag_keys[c->n_tags] = (struct lp_span){off, n, slot};
    c->slots[slot] = (uint16_t) (++c->n_tags);
    return DECODE_OK;
}

/* Empties slots[] of the line's tag keys. */
static void forget_tags(struct lp_ctx *c)
{
    for (unsigned i = 0; i < c->n_tags; i++)
        c->slots[c->tag_keys[i].slot] = 0;
    c->n_tags = 0;
}

/* ,"key":"value" for the tag at c->p (just after its ','). */
static enum decode_status lp_tag(struct lp_ctx *c)
{
    enum decode_status st;
    size_t off;
    size_t n;

    if (c->p == c->end || is_ws(*c->p))
        return DECODE_SYNTAX; /* "m, f=1", "m,t=v, f=1" */
    st = text_put(c, ",\"", 2);
    if (st == DECODE_OK)
        st = token_to_text(c, LP_EQ | LP_JSON, &off, &n);
    if (st != DECODE_OK)
        return st;
    if (n == 0 || c->p == c->end || *c->p != '=')
        return stopped_at(c);
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
        return stopped_at(c);
    return text_put(c, "\"", 1);
}

static enum decode_status lp_tags(struct lp_ctx *c)
{
    enum decode_status st;

    while (*c->p == ',') { /* lp_measurement/lp_tag: c->p < c->end */
        c->p++;
        st = lp_tag(c);
        if (st != DECODE_OK)
            return st;
    }
    st = text_put(c, "}", 1);
    c->tags_len = c->out->text_used - c->tags_off;
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    return st;
}

/* ---- field values -------------------------------------------------------- */

static bool ends_value(char ch)
{
    return ch == ',' || is_ws(ch);
}

/* A float, integer, unsigned or boolean value at c->p (not a quote). */
static enum decode_status lp_value(struct lp_ctx *c, double *v)
{
    const char *p = c->p;
    const char *q = p;
    size_t n;
    int64_t i = 0;
    uint64_t u = 0;
    bool ok;

    while (q < c->end && !ends_value(*q))
        q++;
    n = (size_t) (q - p);
    c->p = q;
    *v = 0;
    /* A refused line is only scanned, as the reference skips the rest of
     * an entry: by the first byte of each value, not its text. */
    if (*p == 't' || *p == 'T' || *p == 'f' || *p == 'F')
        return c->sink || scan_go_bool(p, n, v) ? DECODE_OK : DECODE_SYNTAX;
    if (*p != '-' && *p != '.' && !is_digit(*p))
        return DECODE_SYNTAX; /* "+1", "nan", "inf": no number's start */
    if (c->sink)
        return DECODE_OK;
    if (p[n - 1] == 'i') {
        ok = scan_i64(p, n - 1, &i);
        *v = (double) i;
    } else if (p[n - 1] == 'u') {
        ok = scan_u64(p, n - 1, &u);
        *v = (double) u;
    } else {
        ok = scan_go_float(p, n, v);
    }
    return ok ? DECODE_OK : DECODE_SYNTAX;
}

/* A quoted string value at c->p; the end of the payload leaves it open.
 * On an encoding error c->p stays at the closing quote, where the
 * reference resumes. */
static enum decode_status lp_string(struct lp_ctx *c)
{
    const char *start = c->p + 1;
    const char *p = start;

    while (p < c->end && *p != '"') {
        if (*p == '\\' && p + 1 < c->end && (p[1] == '"' || p[1] == '\\'))
            p++;
        p++;
    }
    if (p == c->end) {
        c->p = p;
        return DECODE_SYNTAX;
    }
    c->p = p;
    if (!scan_utf8_valid(start, (size_t) (p - start)))
        return DECODE_SYNTAX;
    c->p = p + 1;
    return DECODE_OK;
}

static enum decode_status emit(struct lp_ctx *c, size_t name_off,
                               size_t name_len, double v)
{
    struct decode_out *out = c->out;
    struct decode_sample *s;

    if (c->sink)
        return DECODE_OK;
    if (out->n >= DECODE_MAX_SAMPLES)
        return refuse_later(c, DECODE_TOO_MANY);
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
        return stopped_at(c);
    c->p++;
    if (c->p == c->end)
        return DECODE_SYNTAX;
    if (c->meas_len + 1 + n > DECODE_FIELD_MAX)
        (void) refuse_later(c, DECODE_BAD_FIELD);
    if (*c->p == '"') {
        if (!c->sink)
            out->text_used = name_off;
        out->skipped++;
        st = lp_string(c);
    } else {
        st = lp_value(c, &v);
        if (st == DECODE_OK)
            st = emit(c, name_off, c->meas_len + 1 + n, v);
    }
    if (st == DECODE_OK && c->p < c->end && !ends_value(*c->p))
        st = DECODE_SYNTAX; /* "x"y */
    return st;
}

static enum decode_status lp_fields(struct lp_ctx *c)
{
    enum decode_status st;

    for (;;) {
        st = lp_field(c);
        if (st != DECODE_OK || c->p == c->end || *c->p != ',')
            return st;
        c->p++;
    }
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

static void skip_spaces(struct lp_ctx *c)
{
    while (c->p < c->end && *c->p == ' ')
        c->p++;
}

/* Nanoseconds per unit of sub->precision. */
static const int64_t unit_ns[] = {
    [PRECISION_NS] = 1,
    [PRECISION_US] = 1000,
    [PRECISION_MS] = 1000000,
    [PRECISION_S] = 1000000000,
};

static bool ts_to_ms(int64_t ts, enum config_precision prec, int64_t *ms)
{
    int64_t unit = unit_ns[prec];
    int64_t ns;

    if (ts < INT64_MIN / unit || ts > INT64_MAX / unit)
        return false; /* not an int64 in nanoseconds */
    ns = ts * unit;
    /* Division truncates toward zero; times before 1970 floor. */
    *ms = ns / 1000000 - (ns % 1000000 < 0 ? 1 : 0);
    return true;
}

/* Optional timestamp, trailing spaces, and the end of the line. */
static enum decode_status lp_line_end(struct lp_ctx *c, int64_t *ts_ms)
{
    const char *p;
    const char *q;
    int64_t ts;

    skip_spaces(c);
    if (at_eol(c))
        return DECODE_OK;
    p = c->p;
    while (c->p < c->end && (is_digit(*c->p) || *c->p == '-'))
        c->p++;
    if (c->p == p) {
        /* No timestamp where one must be: the reference takes the rest up
         * to a '\r' or '\n' and goes on from there, so a lone '\r' then
         * starts a line of its own. */
        while (c->p < c->end && *c->p != '\r' && *c->p != '\n')
            c->p++;
        c->resume_here = true;
        return DECODE_SYNTAX;
    }
    if (c->p < c->end && !is_ws(*c->p))
        return DECODE_SYNTAX;
    q = c->p;
    skip_spaces(c);
    if (!at_eol(c))
        return DECODE_SYNTAX;
    if (!scan_i64(p, (size_t) (q - p), &ts) ||
        !ts_to_ms(ts, c->sub->precision, ts_ms))
        return DECODE_BAD_TIMESTAMP; /* at the end of the line */
    return DECODE_OK;
}

static enum decode_status lp_line(struct lp_ctx *c)
{
    struct decode_out *out = c->out;
    size_t text0 = out->text_used;
    unsigned n0 = out->n;
    int64_t ts = DECODE_NO_TIME;
    enum decode_status st;

    c->sink = false;
    c->refused = DECODE_OK;
    st = lp_measurement(c);
    if (st == DECODE_OK)
        st = lp_tags(c);
    if (st == DECODE_OK)
        st = lp_fields(c);
    if (st == DECODE_OK)
        st = lp_line_end(c, &ts);
    forget_tags(c);
    if (st == DECODE_OK && c->sink)
        st = c->refused; /* read to its end: resume after the '\n' */
    if (st != DECODE_OK)
        return st;
    skip_eol(c);
    for (unsigned i = n0; i < out->n; i++)
        out->samples[i].ts_ms = ts;
    if (out->n == n0)
        out->text_used = text0; /* only strings: the tags are not needed */
    return DECODE_OK;
}

/* Skips a comment at c->p; false when it holds a control byte. */
static bool skip_comment(struct lp_ctx *c)
{
    while (c->p < c->end && !is_ctl(*c->p))
        c->p++;
    if (!at_eol(c))
        return false;
    skip_eol(c);
    return true;
}

/* 1 + the newlines before line: the line number for logs. */
static unsigned line_number(const char *payload, const char *line)
{
    unsigned n = 1;
    const char *p = payload;

    while ((p = memchr(p, '\n', (size_t) (line - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* What a line may take back when it is refused. Owner: the parse loop. */
struct lp_mark {
    const char *line;
    unsigned n;
    size_t text_used;
    unsigned skipped;
};

/* Counts the refused line, keeps the first reason, gives back what the
 * line took, and moves past the next '\n' from where the error was found. */
static void refuse_line(struct lp_ctx *c, const struct lp_mark *m,
                        enum decode_status st)
{
    struct decode_out *out = c->out;
    const char *nl;

    out->n = m->n;
    out->text_used = m->text_used;
    out->skipped = m->skipped;
    if (out->bad_lines++ == 0) {
        out->bad_status = st;
        out->bad_line = line_number(c->start, m->line);
    }
    if (c->resume_here) {
        c->resume_here = false;
        return;
    }
    nl = memchr(c->p, '\n', (size_t) (c->end - c->p));
    c->p = nl ? nl + 1 : c->end;
}

enum decode_status decode_lp_parse(const struct config_sub *sub,
                                   const char *payload, size_t len,
                                   struct decode_out *out)
{
    struct lp_ctx c;

    assert((size_t) sub->precision < SP_ARRAY_SIZE(unit_ns));
    c.start = payload;
    c.p = payload;
    c.end = payload + len;
    c.sub = sub;
    c.out = out;
    c.n_tags = 0;
    c.resume_here = false;
    c.sink = false;
    c.refused = DECODE_OK;
    memset(c.slots, 0, sizeof c.slots);
    while (c.p < c.end) {
        struct lp_mark m = {c.p, out->n, out->text_used, out->skipped};
        enum decode_status st = DECODE_OK;

        skip_spaces(&c);
        if (at_eol(&c))
            skip_eol(&c);
        else if (*c.p == '#')
            st = skip_comment(&c) ? DECODE_OK : DECODE_SYNTAX;
        else
            st = lp_line(&c);
        if (st != DECODE_OK)
            refuse_line(&c, &m, st);
    }
    if (out->n > 0)
        return DECODE_OK;
    return out->bad_lines > 0 ? out->bad_status : DECODE_NO_NUMBER;
}
