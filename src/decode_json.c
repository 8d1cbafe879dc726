/*
 * decode_json.c - JSON payloads to samples in one pass, without allocating.
 *
 * The scanner is written by hand: the usual JSON libraries build a tree on
 * the heap (cJSON, jansson, json-c) or fill a token array and leave paths,
 * duplicate keys and our bounds to a second pass (jsmn); this file checks
 * the RFC 8259 grammar, the bounds and takes the samples in a single pass
 * over the text (only escaped keys, non-ASCII strings and strings tried as
 * numbers or times are read twice), with every byte it needs in struct
 * decode_out or on the stack.
 *
 * Shape of a payload:
 *   - an object is one reading: numeric members are samples named by their
 *     dotted path, objects are flattened ({"env":{"temp":1}} -> "env.temp"),
 *     arrays inside are checked and skipped (counted once each), booleans
 *     are 0/1, strings count as numbers only with sub->numeric_strings,
 *     null and non-finite numbers ("1e999") are skipped and counted;
 *   - an array whose elements are objects is a list of readings; elements
 *     that are not objects are checked, skipped and counted;
 *   - a bare scalar is the field "value", whatever sub->fields says.
 * With sub->fields only the listed paths are taken, and only those count as
 * skipped. sub->timestamp_field times the samples of its reading, wherever
 * it sits in the reading; it is never a sample itself. Strings with escapes
 * are never numbers or times.
 *
 * Verdicts: the first problem found refuses the whole payload. Grammar
 * (including invalid UTF-8, unpaired surrogates and trailing bytes) is
 * DECODE_SYNTAX; more than DECODE_MAX_DEPTH open containers is
 * DECODE_TOO_DEEP; a key twice in one object (compared unescaped) is
 * DECODE_DUPLICATE_KEY; a sample whose dotted name is too long or has an
 * empty part is DECODE_BAD_FIELD; a key that holds a control character
 * (U+0000-U+001F escaped, or DEL raw or escaped) is DECODE_BAD_NAME; a
 * timestamp that is not a time is DECODE_BAD_TIMESTAMP; more samples,
 * text or open keys than the bounds is DECODE_TOO_MANY.
 *
 * Threads: pure function of its arguments; out is the caller's.
 * Invariants:
 *   - c->p never passes c->end. The payload's NUL at end belongs to no
 *     token, so scan loops stop there without bound checks, and a NUL
 *     inside the text is a syntax error.
 *   - Recursion: one call level per open container, at most
 *     DECODE_MAX_DEPTH + 1 (the refused one).
 *   - keys[0..n_keys) are the keys of the open objects, innermost last; a
 *     new key is compared with its own object's keys only.
 *   - path[0..path_len) is the dotted prefix of the current object (each
 *     key followed by '.'), valid while path_len <= sizeof path.
 * Memory: struct json_ctx on the stack, about 4.5 KiB; escaped keys and
 *   composed names go to out->text.
 */
#include "decode_json.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "scan.h"

/* What a member's value is to this subscription. */
enum json_role {
    ROLE_SAMPLE, /* take it as a sample (or count it as skipped) */
    ROLE_TIME,   /* the reading's timestamp */
    ROLE_IGNORE, /* not selected by sub->fields: check its syntax only */
};

/* A string token. Owner: the parsing call that holds it. */
struct json_str {
    const char *p; /* raw bytes inside the quotes, or unescaped in text */
    size_t len;
    bool escaped; /* p[0..len) still holds backslash escapes */
    bool del;     /* p[0..len) holds a raw DEL (0x7f) */
};

/* A key seen in an open object. Owner: struct json_ctx. */
struct json_key {
    const char *p;
    size_t len;
};

/* Owner: one decode_json_parse() call, on its stack. */
struct json_ctx {
    const char *p;   /* cursor */
    const char *end; /* payload + len; *end == '\0' */
    const struct config_sub *sub;
    struct decode_out *out;
    size_t ts_len;                       /* 0: no timestamp_field */
    size_t field_len[CONFIG_MAX_FIELDS]; /* lengths of sub->fields[] */
    unsigned first; /* first sample of the current reading */
    bool has_ts;    /* the current reading's time was seen */
    int64_t ts_ms;
    size_t path_len; /* may exceed sizeof path: then path_bad is set */
    bool path_bad;   /* the prefix is too long or has an empty key */
    unsigned n_keys;
    struct json_key keys[DECODE_JSON_MAX_KEYS];
    char path[DECODE_FIELD_MAX + 1];
};

static enum decode_status skip_value(struct json_ctx *c, unsigned depth);
static enum decode_status parse_object(struct json_ctx *c, unsigned depth);

static void skip_ws(struct json_ctx *c)
{
    const char *p = c->p;

    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    c->p = p;
}

/* ---- strings ------------------------------------------------------------ */

static int hex4(const char *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        int d;

        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            return -1; /* also stops at the NUL before reading further */
        v = v * 16 + d;
    }
    return v;
}

/* One escape at p (p[0] == '\\'); returns the byte after it, or NULL. */
static const char *scan_escape(const char *p)
{
    int hi;
    int lo;

    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return p + 2;
    case 'u':
        break;
    default:
        return NULL;
    }
    hi = hex4(p + 2);
    if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
        return NULL;
    if (hi < 0xd800 || hi > 0xdbff)
        return p + 6;
    /* A high surrogate must be followed by a low one. */
    if (p[6] != '\\' || p[7] != 'u')
        return NULL;
    lo = hex4(p + 8);
    if (lo < 0xdc00 || lo > 0xdfff)
        return NULL;
    return p + 12;
}

static bool is_plain(unsigned char ch)
{
    return ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
}

/* The string at c->p (an opening quote); leaves c->p after the closing one. */
static enum decode_status scan_string(struct json_ctx *c, struct json_str *s)
{
    const char *p = c->p + 1;
    bool high = false;

    s->p = p;
    s->escaped = false;
    s->del = false;
    for (;;) {
        unsigned char ch;

        while (is_plain((unsigned char) *p))
            p++;
        ch = (unsigned char) *p;
        if (ch == '"')
            break;
        if (ch == '\\') {
            p = scan_escape(p);
            if (!p)
                return DECODE_SYNTAX;
            s->escaped = true;
        } else if (ch >= 0x80) {
            high = true;
            p++;
        } else if (ch == 0x7f) {
            s->del = true;
            p++;
        } else {
            return DECODE_SYNTAX; /* control byte, or the end */
        }
    }
    s->len = (size_t) (p - s->p);
    if (high && !scan_utf8_valid(s->p, s->len))
        return DECODE_SYNTAX;
    c->p = p + 1;
    return DECODE_OK;
}

static size_t put_utf8(char *t, unsigned cp)
{
    if (cp < 0x80) {
        t[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        t[0] = (char) (0xc0 | (cp >> 6));
        t[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        t[0] = (char) (0xe0 | (cp >> 12));
        t[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
        t[2] = (char) (0x80 | (cp & 0x3f));
        return 3;
    }
    t[0] = (char) (0xf0 | (cp >> 18));
    t[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
    t[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
    t[3] = (char) (0x80 | (cp & 0x3f));
    return 4;
}

/* One escape of a string scan_string() accepted; returns bytes written. */
static size_t unescape_one(const char **pp, char *t)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *p = *pp;
    unsigned cp;

    if (p[1] != 'u') {
        *pp = p + 2;
        t[0] = to[strchr(from, p[1]) - from];
        return 1;
    }
    cp = (unsigned) hex4(p + 2);
    *pp = p + 6;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        cp =
            0x10000 + ((cp - 0xd800) << 10) + ((unsigned) hex4(p + 8) - 0xdc00);
        *pp = p + 12;
    }
    return put_utf8(t, cp);
}

static bool is_ctl(char ch)
{
    return (unsigned char) ch < 0x20 || ch == 0x7f;
}

/*
 * Rewrites an escaped key into out->text (never longer than its escaped
 * form). A control character in a key ("\u0000", "\n", "\u007f": a NUL
 * would cut field names short downstream, the others reach logs and
 * terminals raw) is refused, as InfluxDB's parser refuses them in names.
 */
static enum decode_status unescape_key(struct json_ctx *c, struct json_str *s)
{
    struct decode_out *out = c->out;
    const char *p = s->p;
    const char *end = s->p + s->len;
    char *t0 = out->text + out->text_used;
    char *t = t0;

    if (s->len > DECODE_TEXT_MAX - out->text_used)
        return DECODE_TOO_MANY;
    while (p < end) {
        if (*p != '\\') {
            *t++ = *p++;
            continue;
        }
        t += unescape_one(&p, t);
        if (is_ctl(t[-1]))
            return DECODE_BAD_NAME;
    }
    s->p = t0;
    s->len = (size_t) (t - t0);
    s->escaped = false;
    out->text_used += s->len;
    return DECODE_OK;
}

/* ---- paths, roles and samples ------------------------------------------ */

static bool path_is(const struct json_ctx *c, const struct json_str *k,
                    const char *want, size_t want_len)
{
    /* Equal lengths imply path_len < sizeof path: want is shorter. */
    return c->path_len + k->len == want_len &&
           memcmp(c->path, want, c->path_len) == 0 &&
           memcmp(k->p, want + c->path_len, k->len) == 0;
}

static enum json_role member_role(const struct json_ctx *c,
                                  const struct json_str *k)
{
    const struct config_sub *sub = c->sub;

    if (c->ts_len > 0 && path_is(c, k, sub->timestamp_field, c->ts_len))
        return ROLE_TIME;
    if (sub->n_fields == 0)
        return ROLE_SAMPLE;
    for (unsigned i = 0; i < sub->n_fields; i++)
        if (path_is(c, k, sub->fields[i], c->field_len[i]))
            return ROLE_SAMPLE;
    return ROLE_IGNORE;
}

static void path_push(struct json_ctx *c, const struct json_str *k)
{
    size_t need = c->path_len + k->len + 1;

    if (k->len == 0)
        c->path_bad = true;
    if (need <= sizeof c->path) {
        memcpy(c->path + c->path_len, k->p, k->len);
        c->path[need - 1] = '.';
    } else {
        c->path_bad = true;
    }
    c->path_len = need;
}

/* Appends the sample path + key = v; its time is set when the reading ends. */
static enum decode_status emit(struct json_ctx *c, const struct json_str *k,
                               double v)
{
    struct decode_out *out = c->out;
    struct decode_sample *s;
    size_t len = c->path_len + k->len;

    if (k->len == 0 || c->path_bad || len > DECODE_FIELD_MAX)
        return DECODE_BAD_FIELD;
    if (out->n >= DECODE_MAX_SAMPLES)
        return DECODE_TOO_MANY;
    s = &out->samples[out->n];
    if (c->path_len == 0) {
        s->field = k->p; /* the payload, or the unescaped key in text */
    } else {
        char *t = out->text + out->text_used;

        if (len > DECODE_TEXT_MAX - out->text_used)
            return DECODE_TOO_MANY;
        memcpy(t, c->path, c->path_len);
        memcpy(t + c->path_len, k->p, k->len);
        out->text_used += len;
        s->field = t;
    }
    s->field_len = len;
    s->tags = NULL;
    s->tags_len = 0;
    s->value = v;
    s->ts_ms = DECODE_NO_TIME;
    out->n++;
    return DECODE_OK;
}

/* A value that is not a number: counted when it was asked for. */
static enum decode_status skip_counted(struct json_ctx *c, enum json_role r)
{
    if (r == ROLE_SAMPLE)
        c->out->skipped++;
    return DECODE_OK;
}

static enum decode_status set_time(struct json_ctx *c, int64_t ts_ms)
{
    /* Only "a.b" next to {"a":{"b":...}} can name the time twice. */
    if (c->has_ts)
        return DECODE_DUPLICATE_KEY;
    c->has_ts = true;
    c->ts_ms = ts_ms;
    return DECODE_OK;
}

static enum decode_status set_time_numeric(struct json_ctx *c, double v)
{
    int64_t ms;

    if (scan_time_numeric(v, &ms) < 0)
        return DECODE_BAD_TIMESTAMP;
    return set_time(c, ms);
}

/* ---- values ------------------------------------------------------------- */

/* true, false or null at c->p; *v is 1, 0 or NAN. */
static enum decode_status scan_literal(struct json_ctx *c, double *v)
{
    static const struct {
        const char *text;
        size_t len;
        double value;
    } lits[] = {{"true", 4, 1}, {"false", 5, 0}, {"null", 4, NAN}};

    for (size_t i = 0; i < SP_ARRAY_SIZE(lits); i++) {
        size_t n = 0;

        /* Byte by byte: the NUL at end stops the comparison in time. */
        while (n < lits[i].len && c->p[n] == lits[i].text[n])
            n++;
        if (n == lits[i].len) {
            c->p += n;
            *v = lits[i].value;
            return DECODE_OK;
        }
    }
    return DECODE_SYNTAX;
}

static enum decode_status json_number(struct json_ctx *c, double *v)
{
    const char *q = scan_number(c->p, c->end, SCAN_NUM_JSON, v);

    if (!q)
        return DECODE_SYNTAX;
    c->p = q;
    return DECODE_OK;
}

static enum decode_status
member_string(struct json_ctx *c, const struct json_str *k, enum json_role role)
{
    struct json_str s;
    enum decode_status st = scan_string(c, &s);
    bool numeric;
    int64_t ms;
    double v;

    if (st != DECODE_OK || role == ROLE_IGNORE)
        return st;
    numeric = c->sub->numeric_strings && !s.escaped;
    if (role == ROLE_TIME) {
        if (!s.escaped && scan_time_rfc3339(s.p, s.len, &ms) == 0)
            return set_time(c, ms);
        if (numeric && scan_decimal(s.p, s.len, &v) == 0)
            return set_time_numeric(c, v);
        return DECODE_BAD_TIMESTAMP;
    }
    /* s.p[s.len] is the closing quote: scan_decimal() may read it. */
    if (numeric && scan_decimal(s.p, s.len, &v) == 0)
        return emit(c, k, v);
    return skip_counted(c, role);
}

static enum decode_status
member_scalar(struct json_ctx *c, const struct json_str *k, enum json_role role)
{
    bool literal = *c->p == 't' || *c->p == 'f' || *c->p == 'n';
    enum decode_status st;
    double v;

    st = literal ? scan_literal(c, &v) : json_number(c, &v);
    if (st != DECODE_OK || role == ROLE_IGNORE)
        return st;
    if (role == ROLE_TIME)
        return literal ? DECODE_BAD_TIMESTAMP : set_time_numeric(c, v);
    if (!isfinite(v))
        return skip_counted(c, role); /* null, or a number beyond double */
    return emit(c, k, v);
}

/* NOLINTNEXTLINE(misc-no-recursion): depth <= DECODE_MAX_DEPTH + 1 */
static enum decode_status member_object(struct json_ctx *c,
                                        const struct json_str *k,
                                        enum json_role role, unsigned depth)
{
    size_t saved_len = c->path_len;
    bool saved_bad = c->path_bad;
    enum decode_status st;

    if (role == ROLE_TIME)
        return DECODE_BAD_TIMESTAMP;
    if (role == ROLE_SAMPLE && c->sub->n_fields > 0)
        c->out->skipped++; /* a selected path that holds an object */
    path_push(c, k);
    st = parse_object(c, depth);
    c->path_len = saved_len;
    c->path_bad = saved_bad;
    return st;
}

/* The value at c->p of member k inside an object at depth - 1. */
/* NOLINTNEXTLINE(misc-no-recursion): depth <= DECODE_MAX_DEPTH + 1 */
static enum decode_status member_value(struct json_ctx *c,
                                       const struct json_str *k,
                                       enum json_role role, unsigned depth)
{
    enum decode_status st;

    switch (*c->p) {
    case '{':
        return member_object(c, k, role, depth);
    case '[':
        if (role == ROLE_TIME)
            return DECODE_BAD_TIMESTAMP;
        st = skip_value(c, depth);
        return st != DECODE_OK ? st : skip_counted(c, role);
    case '"':
        return member_string(c, k, role);
    default:
        return member_scalar(c, k, role);
    }
}

/* ---- containers --------------------------------------------------------- */

/* Keys often share a prefix ("temp1", "temp2"): look at the last byte
 * before calling memcmp(). */
static bool same_key(const struct json_key *a, const struct json_str *k)
{
    if (a->len != k->len)
        return false;
    return k->len == 0 || (a->p[k->len - 1] == k->p[k->len - 1] &&
                           memcmp(a->p, k->p, k->len) == 0);
}

/* The ':' after a key, with the blanks around it; c->p is then at the
 * value. */
static enum decode_status after_key(struct json_ctx *c)
{
    skip_ws(c);
    if (*c->p != ':')
        return DECODE_SYNTAX;
    c->p++;
    skip_ws(c);
    return DECODE_OK;
}

/* Reads "key" : and records the key; c->p is then at the value. */
static enum decode_status read_key(struct json_ctx *c, unsigned base,
                                   struct json_str *k)
{
    enum decode_status st;

    if (*c->p != '"')
        return DECODE_SYNTAX;
    st = scan_string(c, k);
    if (st == DECODE_OK && k->del)
        st = DECODE_BAD_NAME;
    if (st == DECODE_OK && k->escaped)
        st = unescape_key(c, k);
    if (st != DECODE_OK)
        return st;
    for (unsigned i = base; i < c->n_keys; i++)
        if (same_key(&c->keys[i], k))
            return DECODE_DUPLICATE_KEY;
    if (c->n_keys == DECODE_JSON_MAX_KEYS)
        return DECODE_TOO_MANY;
    c->keys[c->n_keys].p = k->p;
    c->keys[c->n_keys].len = k->len;
    c->n_keys++;
    return after_key(c);
}

/* After an element: ',' (true, more follow) or close (false, done). */
static enum decode_status next_element(struct json_ctx *c, char close,
                                       bool *more)
{
    skip_ws(c);
    if (*c->p == ',') {
        c->p++;
        skip_ws(c);
        *more = true;
        return DECODE_OK;
    }
    if (*c->p == close) {
        c->p++;
        *more = false;
        return DECODE_OK;
    }
    return DECODE_SYNTAX;
}

/*
 * Steps into the container at c->p, at nesting level depth, that close
 * ends. Returns: DECODE_TOO_DEEP past DECODE_MAX_DEPTH; else DECODE_OK,
 * with *more false when the container is empty (close consumed).
 */
static enum decode_status open_container(struct json_ctx *c, unsigned depth,
                                         char close, bool *more)
{
    if (depth > DECODE_MAX_DEPTH)
        return DECODE_TOO_DEEP;
    c->p++;
    skip_ws(c);
    *more = *c->p != close;
    if (!*more)
        c->p++;
    return DECODE_OK;
}

/* The object at c->p, at nesting level depth, as part of a reading. */
/* NOLINTNEXTLINE(misc-no-recursion): depth <= DECODE_MAX_DEPTH + 1 */
static enum decode_status parse_object(struct json_ctx *c, unsigned depth)
{
    unsigned base = c->n_keys;
    struct json_str k;
    bool more = false;
    enum decode_status st = open_container(c, depth, '}', &more);

    while (st == DECODE_OK && more) {
        st = read_key(c, base, &k);
        if (st == DECODE_OK)
            st = member_value(c, &k, member_role(c, &k), depth + 1);
        if (st == DECODE_OK)
            st = next_element(c, '}', &more);
    }
    if (st == DECODE_OK)
        c->n_keys = base; /* the keys of a closed object are forgotten */
    return st;
}

/* "key" : in an object that is checked but not taken. */
static enum decode_status skip_key(struct json_ctx *c, struct json_str *k)
{
    enum decode_status st;

    if (*c->p != '"')
        return DECODE_SYNTAX;
    st = scan_string(c, k);
    if (st != DECODE_OK)
        return st;
    return after_key(c);
}

/* An array or object whose content is checked but not taken. */
/* NOLINTNEXTLINE(misc-no-recursion): depth <= DECODE_MAX_DEPTH + 1 */
static enum decode_status skip_container(struct json_ctx *c, unsigned depth)
{
    char close = *c->p == '{' ? '}' : ']';
    struct json_str k;
    bool more = false;
    enum decode_status st = open_container(c, depth, close, &more);

    while (st == DECODE_OK && more) {
        if (close == '}')
            st = skip_key(c, &k);
        if (st == DECODE_OK)
            st = skip_value(c, depth + 1);
        if (st == DECODE_OK)
            st = next_element(c, close, &more);
    }
    return st;
}

/* NOLINTNEXTLINE(misc-no-recursion): depth <= DECODE_MAX_DEPTH + 1 */
static enum decode_status skip_value(struct json_ctx *c, unsigned depth)
{
    struct json_str s;
    double v;

    switch (*c->p) {
    case '{':
    case '[':
        return skip_container(c, depth);
    case '"':
        return scan_string(c, &s);
    case 't':
    case 'f':
    case 'n':
        return scan_literal(c, &v);
    default:
        return json_number(c, &v);
    }
}

/* One reading: an object whose samples share its timestamp. */
static enum decode_status parse_reading(struct json_ctx *c, unsigned depth)
{
    struct decode_out *out = c->out;
    enum decode_status st;

    c->first = out->n;
    c->has_ts = false;
    c->ts_ms = DECODE_NO_TIME;
    c->path_len = 0;
    c->path_bad = false;
    st = parse_object(c, depth);
    if (st != DECODE_OK || !c->has_ts)
        return st;
    for (unsigned i = c->first; i < out->n; i++)
        out->samples[i].ts_ms = c->ts_ms;
    return DECODE_OK;
}

static enum decode_status parse_readings(struct json_ctx *c)
{
    bool more = false;
    enum decode_status st = open_container(c, 1, ']', &more);

    while (st == DECODE_OK && more) {
        if (*c->p == '{') {
            st = parse_reading(c, 2);
        } else {
            st = skip_value(c, 2);
            c->out->skipped++;
        }
        if (st == DECODE_OK)
            st = next_element(c, ']', &more);
    }
    return st;
}

/* A bare scalar document is the field "value", named in out->text. */
static enum decode_status parse_scalar(struct json_ctx *c)
{
    static const char name[] = "value";
    struct json_str k = {c->out->text, sizeof name - 1, false, false};

    memcpy(c->out->text, name, sizeof name - 1);
    c->out->text_used = sizeof name - 1;
    c->path_len = 0;
    c->path_bad = false;
    if (*c->p == '"')
        return member_string(c, &k, ROLE_SAMPLE);
    return member_scalar(c, &k, ROLE_SAMPLE);
}

static void ctx_init(struct json_ctx *c, const struct config_sub *sub,
                     const char *payload, size_t len, struct decode_out *out)
{
    assert(sub->n_fields <= CONFIG_MAX_FIELDS);
    c->p = payload;
    c->end = payload + len;
    c->sub = sub;
    c->out = out;
    c->ts_len = strnlen(sub->timestamp_field, sizeof sub->timestamp_field);
    for (unsigned i = 0; i < sub->n_fields; i++)
        c->field_len[i] = strnlen(sub->fields[i], sizeof sub->fields[i]);
    c->n_keys = 0;
    c->has_ts = false;
}

enum decode_status decode_json_parse(const struct config_sub *sub,
                                     const char *payload, size_t len,
                                     struct decode_out *out)
{
    struct json_ctx c;
    enum decode_status st;

    ctx_init(&c, sub, payload, len, out);
    skip_ws(&c);
    if (*c.p == '{')
        st = parse_reading(&c, 1);
    else if (*c.p == '[')
        st = parse_readings(&c);
    else
        st = parse_scalar(&c);
    if (st != DECODE_OK)
        return st;
    skip_ws(&c);
    if (c.p != c.end)
        return DECODE_SYNTAX;
    return out->n > 0 ? DECODE_OK : DECODE_NO_NUMBER;
}
