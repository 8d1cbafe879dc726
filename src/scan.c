/*
 * scan.c - the scanners the payload formats share: decimal numbers,
 * UTF-8, numeric and RFC 3339 times.
 *
 * Numbers are scanned once by scan_number(). It checks the grammar itself
 * (strtod() alone would take "nan", "inf", "0x1p3" and stop early without
 * complaint) and computes the value on an exact fast path when the
 * significant digits fit in 53 bits and the power of ten is at most 22
 * (Clinger 1990: both operands are exact doubles, so one IEEE division or
 * multiplication rounds correctly); everything else goes to strtod(),
 * which rounds correctly too. So results never depend on the path taken.
 *
 * Threads: pure functions on caller-owned memory. strtod() reads the
 *   locale's decimal point; the daemon never calls setlocale(), so it is
 *   '.'.
 * Invariants:
 *   - scan_number() reads s[0..end] and nothing past *end.
 * Memory: none; numbers shorter than 64 bytes are copied to a stack buffer
 *   before strtod() so that it cannot run past the number's end.
 */
#include "scan.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_DAY     86400000LL
#define EXP10_CAP      100000 /* larger exponents all mean 0 or inf */
#define FAST_MANT_MAX  (1ULL << 53)
#define MANT_DIGITS    19     /* decimal digits that always fit in uint64_t */
#define SHORT_NUMBER   64     /* numbers copied before strtod() */
#define INT64_SAFE_MAX 9.2e18 /* doubles below this convert to int64_t */

/* ---- numbers ------------------------------------------------------------ */

/* What one pass over a number found. Owner: the scanning call. */
struct decimal {
    uint64_t mant;  /* the digits, exact when ndigits <= MANT_DIGITS */
    size_t ndigits; /* digits before and after the point, zeros included */
    int64_t exp10;  /* value = mant * 10^exp10 */
    bool negative;
};

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Bytes that could extend a number if strtod() saw them. */
static bool continues_number(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '+' || ch == '-';
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' ||
           ch == '\f';
}

/* Appends the digits at p to d->mant (it wraps past 19 digits: then only
 * strtod() is used); returns the first byte after them. */
static const char *scan_digits(const char *p, const char *end,
                               struct decimal *d)
{
    const char *start = p;
    uint64_t mant = d->mant;

    while (p < end && is_digit(*p)) {
        mant = mant * 10 + (unsigned) (*p - '0');
        p++;
    }
    d->mant = mant;
    d->ndigits += (size_t) (p - start);
    return p;
}

/* An optional exponent; NULL when 'e' is not followed by digits. */
static const char *scan_exponent(const char *p, const char *end,
                                 struct decimal *d)
{
    int64_t e = 0;
    bool negative = false;

    p++; /* the 'e' */
    if (p < end && (*p == '+' || *p == '-')) {
        negative = *p == '-';
        p++;
    }
    if (p >= end || !is_digit(*p))
        return NULL;
    while (p < end && is_digit(*p)) {
        if (e < EXP10_CAP)
            e = e * 10 + (*p - '0');
        p++;
    }
    d->exp10 += negative ? -e : e;
    return p;
}

static bool fast_value(const struct decimal *d, double *out)
{
    static const double pow10[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    };
    double v;

    if (d->ndigits > MANT_DIGITS)
        return false;
    if (d->mant == 0) {
        *out = d->negative ? -0.0 : 0.0;
        return true;
    }
#if FLT_EVAL_METHOD == 0
    /* Extended-precision evaluation would round twice; then use strtod. */
    if (d->mant > FAST_MANT_MAX || d->exp10 < -22 || d->exp10 > 22)
        return false;
    v = (double) d->mant;
    if (d->exp10 < 0)
        v /= pow10[-d->exp10];
    else
        v *= pow10[d->exp10];
    *out = d->negative ? -v : v;
    return true;
#else
    (void) pow10;
    (void) v;
    return false;
#endif
}

/* strtod() on s[0..p), which the caller's grammar check found well-formed. */
static bool slow_value(const char *s, const char *p, double *out)
{
    char buf[SHORT_NUMBER];
    size_t n = (size_t) (p - s);
    char *stop;

    if (n < sizeof buf) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        *out = strtod(buf, &stop);
        return stop == buf + n;
    }
    /* Long numbers are read in place: *p ends them for strtod() as well. */
    if (continues_number(*p))
        return false;
    *out = strtod(s, &stop);
    return stop == p;
}

/* Sign, integer part and fraction; NULL when the grammar refuses them. */
static const char *scan_mantissa(const char *p, const char *end, bool json,
                                 struct decimal *d)
{
    const char *int_start;
    size_t n_int;

    if (p < end && (*p == '-' || (*p == '+' && !json))) {
        d->negative = *p == '-';
        p++;
    }
    int_start = p;
    p = scan_digits(p, end, d);
    n_int = d->ndigits;
    /* JSON: digits before the point, and no leading zero ("01"). */
    if (json && (n_int == 0 || (n_int > 1 && *int_start == '0')))
        return NULL;
    if (p < end && *p == '.') {
        p = scan_digits(p + 1, end, d);
        d->exp10 = -(int64_t) (d->ndigits - n_int);
        if (json && d->ndigits == n_int)
            return NULL; /* JSON: digits after the point too */
    }
    return d->ndigits > 0 ? p : NULL;
}

const char *scan_number(const char *s, const char *end, unsigned flags,
                        double *out)
{
    struct decimal d = {0};
    const char *p;

    p = scan_mantissa(s, end, (flags & SCAN_NUM_JSON) != 0, &d);
    if (p && p < end && (*p == 'e' || *p == 'E'))
        p = scan_exponent(p, end, &d);
    if (!p || (!fast_value(&d, out) && !slow_value(s, p, out)))
        return NULL;
    return p;
}

int scan_decimal(const char *s, size_t len, double *out)
{
    const char *p = s;
    const char *end = s + len;
    double v;

    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    if (p == end || scan_number(p, end, 0, &v) != end)
        return -EINVAL;
    if (!isfinite(v))
        return -ERANGE;
    *out = v;
    return 0;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Well-formed UTF-8 by lead byte (The Unicode Standard, table 3-7): the
 * second byte's range excludes overlong forms, surrogates and code points
 * above U+10FFFF; later bytes are 0x80..0xbf. */
static const struct {
    unsigned char lead_lo;
    unsigned char lead_hi;
    unsigned char len;
    unsigned char second_lo;
    unsigned char second_hi;
} utf8_forms[] = {
    {0xc2, 0xdf, 2, 0x80, 0xbf}, {0xe0, 0xe0, 3, 0xa0, 0xbf},
    {0xe1, 0xec, 3, 0x80, 0xbf}, {0xed, 0xed, 3, 0x80, 0x9f},
    {0xee, 0xef, 3, 0x80, 0xbf}, {0xf0, 0xf0, 4, 0x90, 0xbf},
    {0xf1, 0xf3, 4, 0x80, 0xbf}, {0xf4, 0xf4, 4, 0x80, 0x8f},
};

/* Length of the well-formed sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_seq_len(const unsigned char *p, const unsigned char *end)
{
    size_t i = 0;
    size_t n;

    while (i < SP_ARRAY_SIZE(utf8_forms) && p[0] > utf8_forms[i].lead_hi)
        i++;
    if (i == SP_ARRAY_SIZE(utf8_forms) || p[0] < utf8_forms[i].lead_lo)
        return 0;
    n = utf8_forms[i].len;
    if ((size_t) (end - p) < n || p[1] < utf8_forms[i].second_lo ||
        p[1] > utf8_forms[i].second_hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

bool scan_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    const unsigned char *end = p + len;

    while (p < end) {
        size_t n;

        if (*p < 0x80) {
            p++;
            continue;
        }
        n = utf8_seq_len(p, end);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

/* ---- times -------------------------------------------------------------- */

/* Unit detected by magnitude, and what turns one unit into milliseconds. */
static const struct {
    double below; /* values below this are in this unit */
    int64_t mul;  /* ms = v * mul / div */
    int64_t div;
} time_units[] = {
    {1e11, 1000, 1},        /* seconds */
    {1e14, 1, 1},           /* milliseconds */
    {1e17, 1, 1000},        /* microseconds */
    {INFINITY, 1, 1000000}, /* nanoseconds */
};

int scan_time_numeric(double v, int64_t *ts_ms)
{
    size_t u = 0;
    double ms;
    double r;
    double ulp;

    if (!isfinite(v) || v < 0)
        return -EINVAL;
    while (v >= time_units[u].below)
        u++;
    if (v == floor(v) && v < INT64_SAFE_MAX) {
        /* Integral and non-negative: exact integer arithmetic. */
        *ts_ms = (int64_t) v * time_units[u].mul / time_units[u].div;
        return 0;
    }
    ms = v * (double) time_units[u].mul / (double) time_units[u].div;
    if (ms >= INT64_SAFE_MAX)
        return -EINVAL;
    /* 1700000000.123 s is 1700000000122.99987 ms once in binary; within two
     * units in the last place of a whole millisecond, the sender meant it. */
    r = nearbyint(ms);
    ulp = nextafter(ms, INFINITY) - ms;
    *ts_ms = (int64_t) (fabs(ms - r) <= 2 * ulp ? r : floor(ms));
    return 0;
}

/* Exactly n decimal digits at s. */
static bool read_digits(const char *s, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant,
 * "chrono-Compatible Low-Level Date Algorithms", days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD?HH:MM:SS" (19 bytes) -> ms since the epoch, zone not applied. */
static bool rfc3339_base(const char *s, int64_t *ms)
{
    int y;
    int mo;
    int d;
    int h;
    int mi;
    int sec;

    if (!read_digits(s, 4, &y) || s[4] != '-' || !read_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !read_digits(s + 8, 2, &d))
        return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return false;
    if (!read_digits(s + 11, 2, &h) || s[13] != ':' ||
        !read_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !read_digits(s + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return false;
    *ms = days_from_civil(y, mo, d) * MS_PER_DAY +
          ((int64_t) h * 3600 + (int64_t) mi * 60 + sec) * 1000;
    return true;
}

/* An optional ".digits" at p, floored to ms; NULL when '.' has no digit. */
static const char *rfc3339_frac(const char *p, const char *end,
                                int64_t *frac_ms)
{
    int64_t frac = 0;
    size_t nd = 0;

    *frac_ms = 0;
    if (p == end || *p != '.')
        return p;
    for (p++; p < end && is_digit(*p); p++, nd++)
        if (nd < 3)
            frac = frac * 10 + (*p - '0');
    if (nd == 0)
        return NULL;
    for (; nd < 3; nd++)
        frac *= 10;
    *frac_ms = frac;
    return p;
}

/* "[.frac](Z|+HH:MM|-HH:MM)" -> ms to add to the local time. */
static bool rfc3339_tail(const char *p, const char *end, int64_t *add_ms)
{
    int64_t frac;
    int oh;
    int om;

    p = rfc3339_frac(p, end, &frac);
    if (!p)
        return false;
    if (end - p == 1 && (*p == 'Z' || *p == 'z')) {
        *add_ms = frac;
        return true;
    }
    if (end - p != 6 || (*p != '+' && *p != '-') ||
        !read_digits(p + 1, 2, &oh) || p[3] != ':' ||
        !read_digits(p + 4, 2, &om) || oh > 23 || om > 59)
        return false;
    /* Local time = UTC + offset, so UTC = local - offset. */
    *add_ms = frac - (*p == '+' ? 1 : -1) * ((int64_t) oh * 60 + om) * 60000;
    return true;
}

int scan_time_rfc3339(const char *s, size_t len, int64_t *ts_ms)
{
    int64_t base;
    int64_t add;

    if (len < 20 || !rfc3339_base(s, &base) ||
        !rfc3339_tail(s + 19, s + len, &add))
        return -EINVAL;
    *ts_ms = base + add;
    return 0;
}

/* ---- Go's number and boolean syntax (line protocol) ---------------------- */

#define SCAN_GO_FLOAT_COPY 128 /* longest float read with '_' or in hex */

bool scan_u64(const char *p, size_t n, uint64_t *out)
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

bool scan_i64(const char *p, size_t n, int64_t *out)
{
    size_t sign = n > 0 && p[0] == '-' ? 1 : 0;
    bool negative = sign != 0;
    uint64_t mag;
    uint64_t limit = (uint64_t) INT64_MAX + sign;

    if (!scan_u64(p + sign, n - sign, &mag) || mag > limit)
        return false;
    if (!negative)
        *out = (int64_t) mag;
    else if (mag == (uint64_t) INT64_MAX + 1)
        *out = INT64_MIN;
    else
        *out = -(int64_t) mag;
    return true;
}

bool scan_go_bool(const char *p, size_t n, double *v)
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

    for (size_t i = 0; i < SP_ARRAY_SIZE(words); i++) {
        if (words[i].len == n && memcmp(words[i].text, p, n) == 0) {
            *v = words[i].value;
            return true;
        }
    }
    return false;
}

/* What the last byte of a float's text was, for Go's '_' rule: an
 * underscore only between digits (the "0x" prefix counts as one). */
enum go_prev { PREV_OTHER, PREV_DIGIT, PREV_UNDER };

/* Digits (hex ones with hex) and underscores from *i; returns how many
 * digits, or -1 for a '_' that does not sit between two digits. */
static int float_digits(const char *p, size_t n, size_t *i, bool hex,
                        enum go_prev *prev)
{
    int digits = 0;

    for (; *i < n; (*i)++) {
        char ch = p[*i];
        char lower = (char) (ch | 0x20);

        if (is_digit(ch) || (hex && lower >= 'a' && lower <= 'f')) {
            digits++;
            *prev = PREV_DIGIT;
        } else if (ch == '_' && *prev == PREV_DIGIT) {
            *prev = PREV_UNDER;
        } else if (ch == '_') {
            return -1;
        } else {
            break;
        }
    }
    return *prev == PREV_UNDER ? -1 : digits;
}

/*
 * Checks p[0..n) against strconv.ParseFloat's grammar: [-] digits [.
 * digits] [e [+-] digits], or [-] 0x hexdigits [. hexdigits] p [+-]
 * digits; at least one mantissa digit; '_' only between digits. *hex and
 * *under say whether the text is hex and holds underscores.
 */
static bool float_grammar(const char *p, size_t n, bool *hex, bool *under)
{
    size_t i = p[0] == '-' ? 1 : 0;
    enum go_prev prev;
    int mant;
    int frac = 0;
    int exp;

    *hex = n - i > 2 && p[i] == '0' && (p[i + 1] | 0x20) == 'x';
    *under = memchr(p, '_', n) != NULL;
    prev = *hex ? PREV_DIGIT : PREV_OTHER;
    i += *hex ? 2 : 0;
    mant = float_digits(p, n, &i, *hex, &prev);
    if (mant >= 0 && i < n && p[i] == '.') {
        i++;
        prev = PREV_OTHER;
        frac = float_digits(p, n, &i, *hex, &prev);
    }
    if (mant < 0 || frac < 0 || mant + frac == 0)
        return false;
    if (i == n)
        return !*hex; /* a hex mantissa needs its exponent */
    if ((p[i] | 0x20) != (*hex ? 'p' : 'e'))
        return false;
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    prev = PREV_OTHER;
    exp = float_digits(p, n, &i, false, &prev);
    return exp > 0 && i == n;
}

/* No '_' and no hex: scan_number()'s own grammar then takes what
 * ParseFloat takes (checked against it on a million generated tokens). */
static bool plain_decimal(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '_' || (p[i] | 0x20) == 'x')
            return false;
    return true;
}

bool scan_go_float(const char *p, size_t n, double *v)
{
    char buf[SCAN_GO_FLOAT_COPY];
    size_t w = 0;
    char *e;
    bool hex;
    bool under;

    if (plain_decimal(p, n))
        return scan_number(p, p + n, 0, v) == p + n && isfinite(*v);
    if (!float_grammar(p, n, &hex, &under))
        return false;
    if (n >= sizeof buf)
        return false; /* a bound of this decoder, far past real numbers */
    for (size_t i = 0; i < n; i++)
        if (p[i] != '_')
            buf[w++] = p[i];
    buf[w] = '\0';
    if (hex) {
        *v = strtod(buf, &e); /* C99 reads Go's hex floats alike */
        return e == buf + w && isfinite(*v);
    }
    return scan_number(buf, buf + w, 0, v) == buf + w && isfinite(*v);
}
