/*
 * config.c - the INI configuration: one table of keys, a line parser, and
 * the checks that need the whole file.
 *
 * keys[] lists every setting once: section, name, type, bounds, flags and
 * where it lives in struct config (or struct config_sub). Parsing, printing,
 * the error messages and config_key_name() all walk it, and a unit test
 * compares it with config/sensorpipe.conf, so code and docs cannot drift.
 * Each type has a setter and a printer in type_ops[]; a few types (lists,
 * retention) are tied to one key and reach into the struct directly.
 *
 * Threads: pure functions on caller-owned memory; any thread, and several
 * threads at once, may parse.
 *
 * Invariants:
 *   - Every error message starts "FILE:LINE: " or "FILE: ", and "key 'x': "
 *     follows when one key is at fault.
 *   - config_defaults() zeroes the whole struct and every string store
 *     zero-fills its field, so two parses of equal text give equal bytes,
 *     and config_print() output parses back to the same bytes.
 *   - A value never holds a control character: lines holding one (other
 *     than a tab) are refused before they are split.
 *
 * Memory: config_parse() uses the stack only (one PARSE_LINE_MAX line
 * buffer). config_load() maps an anonymous CONFIG_FILE_MAX buffer for the
 * file and unmaps it before it returns; no malloc at all.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include <mosquitto.h>

#include "log.h"

#define CONFIG_FILE_MAX (1u << 20) /* larger files are refused */
#define PARSE_LINE_MAX  8192       /* one line; fits 16 quoted field paths */
#define PRINT_VALUE_MAX 8192

#define MS_S 1000ull
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define MS_W (7 * MS_D)
#define MS_Y (365 * MS_D)
#define KIB  1024ull
#define MIB  (1024 * KIB)
#define GIB  (1024 * MIB)

/* A ring record: payload, topic (MQTT caps it at 65535 bytes), header. */
#define RECORD_TOPIC_MAX  65536ull
#define RECORD_HEADER_MAX 64ull
#define RING_MIN_RECORDS  4ull /* ring_max_record() is a quarter of a ring */

enum section {
    SEC_NONE = 0,
    SEC_MQTT,
    SEC_SUB,
    SEC_PIPELINE,
    SEC_AGGREGATE,
    SEC_STORE,
    SEC_LOG,
    SEC_COUNT,
};

static const char *const section_names[SEC_COUNT] = {
    "", "mqtt", "subscription", "pipeline", "aggregate", "store", "log",
};

enum key_type {
    T_STR,
    T_BOOL,
    T_UINT,
    T_DURATION,   /* uint64_t milliseconds */
    T_DURATION_S, /* unsigned whole seconds */
    T_SIZE,       /* uint64_t bytes */
    T_ENUM,       /* an enum, by name from key_def.names */
    T_LEVEL,      /* int syslog level, by log_level_parse() */
    T_TOPIC,      /* MQTT subscription filter */
    T_GROUP,      /* shared subscription group */
    T_FIELD,      /* one dotted JSON path, or "" */
    T_FIELDS,     /* config_sub.fields and n_fields */
    T_TEMPLATE,   /* topic_tags */
    T_RESOLUTIONS,
    T_RETENTION, /* resolved against resolutions at the end of the file */
    T_COUNT,
};

#define KEY_REQUIRED 0x01u /* a [subscription] without it is an error */
#define KEY_NONEMPTY 0x02u
#define KEY_BARE_MS  0x04u /* name ends in _ms: a bare number is ms */
#define KEY_JSON     0x08u /* only for format = json */
#define KEY_INFLUX   0x10u /* only for format = influx */

/* Owner: the static name tables below (read-only). */
struct enum_name {
    const char *name; /* the first name of a value is the one printed */
    int value;
};

/* One setting. Owner: the static table below (read-only). */
struct key_def {
    const char *key;
    enum section sec;
    enum key_type type;
    unsigned flags;
    uint64_t min; /* numeric bounds, in the stored unit (ms for durations) */
    uint64_t max;
    size_t off;  /* in struct config, or in struct config_sub for SEC_SUB */
    size_t size; /* of the field */
    const struct enum_name *names;
};

static const struct enum_name protocol_names[] = {
    {"5", PROTOCOL_V5},
    {"3.1.1", PROTOCOL_V311},
    {"mqttv5", PROTOCOL_V5},
    {"mqttv311", PROTOCOL_V311},
    {NULL, 0},
};
static const struct enum_name format_names[] = {
    {"json", FORMAT_JSON},
    {"number", FORMAT_NUMBER},
    {"influx", FORMAT_INFLUX},
    {NULL, 0},
};
static const struct enum_name precision_names[] = {
    {"ns", PRECISION_NS},
    {"us", PRECISION_US},
    {"ms", PRECISION_MS},
    {"s", PRECISION_S},
    {NULL, 0},
};
static const struct enum_name overflow_names[] = {
    {"pause", OVERFLOW_PAUSE},
    {"drop_newest", OVERFLOW_DROP_NEWEST},
    {NULL, 0},
};

#define CF(m) offsetof(struct config, m), sizeof(((struct config *) 0)->m)
#define SF(m)                                                                  \
    offsetof(struct config_sub, m), sizeof(((struct config_sub *) 0)->m)

/* Defaults are set in config_defaults(); the order here is print order. */
static const struct key_def keys[] = {
    {"host", SEC_MQTT, T_STR, KEY_NONEMPTY, 0, 0, CF(mqtt.host), NULL},
    {"port", SEC_MQTT, T_UINT, 0, 1, 65535, CF(mqtt.port), NULL},
    {"client_id", SEC_MQTT, T_STR, KEY_NONEMPTY, 0, 0, CF(mqtt.client_id),
     NULL},
    {"username", SEC_MQTT, T_STR, 0, 0, 0, CF(mqtt.username), NULL},
    {"password_file", SEC_MQTT, T_STR, 0, 0, 0, CF(mqtt.password_file), NULL},
    {"keepalive_s", SEC_MQTT, T_UINT, 0, 5, 3600, CF(mqtt.keepalive_s), NULL},
    {"clean_session", SEC_MQTT, T_BOOL, 0, 0, 0, CF(mqtt.clean_session), NULL},
    {"protocol", SEC_MQTT, T_ENUM, 0, 0, 0, CF(mqtt.protocol), protocol_names},
    {"tls_ca_file", SEC_MQTT, T_STR, 0, 0, 0, CF(mqtt.tls_ca_file), NULL},
    {"tls_cert_file", SEC_MQTT, T_STR, 0, 0, 0, CF(mqtt.tls_cert_file), NULL},
    {"tls_key_file", SEC_MQTT, T_STR, 0, 0, 0, CF(mqtt.tls_key_file), NULL},
    {"tls_insecure", SEC_MQTT, T_BOOL, 0, 0, 0, CF(mqtt.tls_insecure), NULL},
    {"reconnect_min_ms", SEC_MQTT, T_DURATION, KEY_BARE_MS, 10, 10 * MS_M,
     CF(mqtt.reconnect_min_ms), NULL},
    {"reconnect_max_ms", SEC_MQTT, T_DURATION, KEY_BARE_MS, 100, MS_H,
     CF(mqtt.reconnect_max_ms), NULL},

    {"topic", SEC_SUB, T_TOPIC, KEY_REQUIRED | KEY_NONEMPTY, 0, 0, SF(topic),
     NULL},
    {"qos", SEC_SUB, T_UINT, 0, 0, 2, SF(qos), NULL},
    {"share_group", SEC_SUB, T_GROUP, 0, 0, 0, SF(share_group), NULL},
    {"format", SEC_SUB, T_ENUM, 0, 0, 0, SF(format), format_names},
    {"fields", SEC_SUB, T_FIELDS, KEY_JSON, 0, 0, SF(fields), NULL},
    {"timestamp_field", SEC_SUB, T_FIELD, KEY_JSON, 0, 0, SF(timestamp_field),
     NULL},
    {"topic_tags", SEC_SUB, T_TEMPLATE, 0, 0, 0, SF(topic_tags), NULL},
    {"precision", SEC_SUB, T_ENUM, KEY_INFLUX, 0, 0, SF(precision),
     precision_names},
    {"numeric_strings", SEC_SUB, T_BOOL, 0, 0, 0, SF(numeric_strings), NULL},

    {"workers", SEC_PIPELINE, T_UINT, 0, 0, 64, CF(pipeline.workers), NULL},
    {"ring_bytes", SEC_PIPELINE, T_SIZE, 0, 64 * KIB, GIB,
     CF(pipeline.ring_bytes), NULL},
    {"max_payload_bytes", SEC_PIPELINE, T_SIZE, 0, 16, 16 * MIB,
     CF(pipeline.max_payload_bytes), NULL},
    {"overflow", SEC_PIPELINE, T_ENUM, 0, 0, 0, CF(pipeline.overflow),
     overflow_names},
    {"max_series", SEC_PIPELINE, T_UINT, 0, 1, 10000000,
     CF(pipeline.max_series), NULL},

    {"resolutions", SEC_AGGREGATE, T_RESOLUTIONS, 0, 0, 0,
     CF(aggregate.resolutions_s), NULL},
    {"allowed_lateness", SEC_AGGREGATE, T_DURATION, 0, 0, 7 * MS_D,
     CF(aggregate.allowed_lateness_ms), NULL},
    {"max_clock_skew", SEC_AGGREGATE, T_DURATION, 0, MS_S, 10 * MS_Y,
     CF(aggregate.max_clock_skew_ms), NULL},

    {"path", SEC_STORE, T_STR, KEY_NONEMPTY, 0, 0, CF(store.path), NULL},
    {"commit_interval_ms", SEC_STORE, T_DURATION, KEY_BARE_MS, 10, MS_M,
     CF(store.commit_interval_ms), NULL},
    {"batch_rows", SEC_STORE, T_UINT, 0, 1, 1000000, CF(store.batch_rows),
     NULL},
    {"raw_samples", SEC_STORE, T_BOOL, 0, 0, 0, CF(store.raw_samples), NULL},
    {"retention", SEC_STORE, T_RETENTION, 0, 0, 100 * MS_Y,
     CF(store.retention_ms), NULL},
    {"raw_retention", SEC_STORE, T_DURATION, 0, 0, 100 * MS_Y,
     CF(store.raw_retention_ms), NULL},
    {"cache_mb", SEC_STORE, T_UINT, 0, 1, 4096, CF(store.cache_mb), NULL},
    {"heap_limit_mb", SEC_STORE, T_UINT, 0, 8, 65536, CF(store.heap_limit_mb),
     NULL},

    {"level", SEC_LOG, T_LEVEL, 0, 0, 0, CF(log.level), NULL},
    {"stats_interval_s", SEC_LOG, T_DURATION_S, 0, 0, MS_D,
     CF(log.stats_interval_s), NULL},
};

#define N_KEYS SP_ARRAY_SIZE(keys)

/* Owner: the static unit tables below (read-only). */
struct unit {
    const char *name;
    uint64_t mult;
};

/* Both lists run from the largest factor down: the printers take the first
 * unit that divides a value exactly. */
static const struct unit duration_units[] = {
    {"y", MS_Y}, {"w", MS_W}, {"d", MS_D}, {"h", MS_H},
    {"m", MS_M}, {"s", MS_S}, {"ms", 1},   {NULL, 0},
};
static const struct unit size_units[] = {
    {"GiB", GIB}, {"G", GIB},      {"GB", 1000000000}, {"MiB", MIB},
    {"M", MIB},   {"MB", 1000000}, {"KiB", KIB},       {"K", KIB},
    {"KB", 1000}, {"B", 1},        {NULL, 0},
};

/* One retention pair as written. Owner: the struct parser holding it. */
struct retention_entry {
    unsigned res_s;
    uint64_t keep_ms;
};

/* State of one parse. Owner: config_parse()'s stack. */
struct parser {
    struct config *cfg;
    const char *name; /* file name for messages */
    char *err;
    size_t errlen;
    unsigned line;
    enum section sec;
    struct config_sub *sub; /* the open [subscription], else NULL */
    unsigned seen[N_KEYS];  /* line a key was given on; sub keys per sub */
    struct retention_entry ret[CONFIG_MAX_RESOLUTIONS];
    unsigned n_ret;
};

/* A type's setter parses val into the key's field (dst); its printer
 * writes the field at base + k->off as text that the setter takes back.
 * Owner: the static type_ops[] table (read-only). */
struct type_ops {
    int (*set)(struct parser *p, const struct key_def *k, char *val, void *dst);
    void (*print)(const struct config *cfg, const void *base,
                  const struct key_def *k, char *buf, size_t len);
};

/* ---- small text helpers ------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_';
}

static char *trim(char *s)
{
    size_t n;

    while (is_space(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Copies s into a field of size bytes and zero-fills the rest. */
static void str_store(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);

    assert(n < size);
    memset(dst, 0, size);
    memcpy(dst, s, n + 1);
}

/* Appends to buf at *pos, clamping *pos at len - 1 when the text is cut. */
SP_PRINTF(4, 5)
static void buf_put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (len == 0 || *pos >= len - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos = *pos + (size_t) n < len ? *pos + (size_t) n : len - 1;
}

/* Next comma-separated item, trimmed, or NULL after the last one. */
static char *list_next(char **cursor)
{
    char *s = *cursor;
    char *comma;

    if (s == NULL)
        return NULL;
    comma = strchr(s, ',');
    if (comma != NULL)
        *comma = '\0';
    *cursor = comma != NULL ? comma + 1 : NULL;
    return trim(s);
}

/* ---- numbers with units ------------------------------------------------ */

/* Digits, optionally "." and more digits: the whole part and the fraction
 * as frac / div with trailing zeros dropped. Moves *s past the number. */
static int parse_decimal(const char **s, uint64_t *whole, uint64_t *frac,
                         uint64_t *div)
{
    char *end;

    if (!is_digit(**s))
        return -EINVAL; /* strtoull would take spaces, signs and "0x" */
    errno = 0;
    *whole = strtoull(*s, &end, 10);
    if (errno != 0)
        return -EINVAL;
    *s = end;
    *frac = 0;
    *div = 1;
    if (**s != '.')
        return 0;
    if (!is_digit(*++*s))
        return -EINVAL;
    for (; is_digit(**s); ++*s) {
        if (*div >= 1000000000000000000ull)
            return -EINVAL; /* more than 18 decimals */
        *frac = *frac * 10 + (uint64_t) (**s - '0');
        *div *= 10;
    }
    for (; *div > 1 && *frac % 10 == 0; *div /= 10)
        *frac /= 10;
    return 0;
}

/* "1.5s" with units[] -> whole units of the smallest factor; refuses
 * results that are not whole, or do not fit in 64 bits. */
static int parse_scaled(const char *s, const struct unit *units, uint64_t bare,
                        uint64_t *out)
{
    uint64_t whole;
    uint64_t frac;
    uint64_t div;
    uint64_t mult = bare;
    uint64_t part;

    if (parse_decimal(&s, &whole, &frac, &div) < 0)
        return -EINVAL;
    if (*s != '\0') {
        for (mult = 0; units->name != NULL && mult == 0; units++)
            mult = strcmp(s, units->name) == 0 ? units->mult : 0;
        if (mult == 0)
            return -EINVAL;
    }
    if (__builtin_mul_overflow(whole, mult, out))
        return -EINVAL;
    if (__builtin_mul_overflow(frac, mult, &part) || part % div != 0)
        return -EINVAL;
    if (__builtin_add_overflow(*out, part / div, out))
        return -EINVAL;
    return 0;
}

int config_parse_duration_ms(const char *s, uint64_t *out_ms)
{
    return parse_scaled(s, duration_units, MS_S, out_ms);
}

int config_parse_size(const char *s, uint64_t *out_bytes)
{
    return parse_scaled(s, size_units, 1, out_bytes);
}

static void format_scaled(uint64_t v, const struct unit *units, char *buf,
                          size_t len)
{
    size_t pos = 0;

    while (v != 0 && v % units->mult != 0)
        units++;
    if (v == 0)
        buf_put(buf, len, &pos, "0");
    else
        buf_put(buf, len, &pos, "%" PRIu64 "%s", v / units->mult, units->name);
}

static void format_duration(uint64_t ms, char *buf, size_t len)
{
    format_scaled(ms, duration_units, buf, len);
}

static void format_size(uint64_t bytes, char *buf, size_t len)
{
    format_scaled(bytes, size_units, buf, len);
}

/* A whole number, digits only. */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (!is_digit(*s))
        return -EINVAL;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

/* ---- errors and scalar stores ------------------------------------------ */

/* Writes "FILE[:LINE]: [key 'x': ]reason" into p->err. Returns: -EINVAL. */
SP_PRINTF(4, 5)
static int fail(struct parser *p, unsigned line, const char *key,
                const char *fmt, ...)
{
    size_t pos = 0;
    va_list ap;

    if (p->err == NULL || p->errlen == 0)
        return -EINVAL;
    p->err[0] = '\0';
    buf_put(p->err, p->errlen, &pos, "%s", p->name);
    if (line > 0)
        buf_put(p->err, p->errlen, &pos, ":%u", line);
    buf_put(p->err, p->errlen, &pos, ": ");
    if (key != NULL)
        buf_put(p->err, p->errlen, &pos, "key '%s': ", key);
    va_start(ap, fmt);
    if (pos < p->errlen - 1)
        vsnprintf(p->err + pos, p->errlen - pos, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Scalars go through memcpy: enums and int share the unsigned layout, and
 * the asserts catch a table row whose type does not fit its field. */
static void store_uint(void *dst, size_t size, uint64_t v)
{
    unsigned u = (unsigned) v;

    assert(size == sizeof(u) && v <= UINT_MAX);
    memcpy(dst, &u, sizeof(u));
}

static void store_u64(void *dst, size_t size, uint64_t v)
{
    assert(size == sizeof(v));
    memcpy(dst, &v, sizeof(v));
}

static void store_int(void *dst, size_t size, int v)
{
    assert(size == sizeof(v));
    memcpy(dst, &v, sizeof(v));
}

static unsigned load_uint(const void *src, size_t size)
{
    unsigned u;

    assert(size == sizeof(u));
    memcpy(&u, src, sizeof(u));
    return u;
}

static uint64_t load_u64(const void *src, size_t size)
{
    uint64_t v;

    assert(size == sizeof(v));
    memcpy(&v, src, sizeof(v));
    return v;
}

static int load_int(const void *src, size_t size)
{
    int v;

    assert(size == sizeof(v));
    memcpy(&v, src, sizeof(v));
    return v;
}

static const struct enum_name bool_names[] = {
    {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"on", 1},
    {"off", 0},  {"1", 1},     {"0", 0},   {NULL, 0},
};

static int enum_find(const struct enum_name *names, const char *s, int *v)
{
    for (; names->name != NULL; names++) {
        if (strcasecmp(names->name, s) == 0) {
            *v = names->value;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *enum_name(const struct enum_name *names, int v)
{
    for (; names->name != NULL; names++) {
        if (names->value == v)
            return names->name;
    }
    return "unknown";
}

/* ---- setters ------------------------------------------------------------ */

static int set_str(struct parser *p, const struct key_def *k, char *val,
                   void *dst)
{
    size_t n = strlen(val);

    if (n >= k->size)
        return fail(p, p->line, k->key, "too long (%zu bytes, at most %zu)", n,
                    k->size - 1);
    if (n == 0 && (k->flags & KEY_NONEMPTY))
        return fail(p, p->line, k->key, "must not be empty");
    str_store(dst, k->size, val);
    return 0;
}

static int set_topic(struct parser *p, const struct key_def *k, char *val,
                     void *dst)
{
    int rc = set_str(p, k, val, dst);

    if (rc < 0)
        return rc;
    if (mosquitto_validate_utf8(val, (int) strlen(val)) != MOSQ_ERR_SUCCESS ||
        mosquitto_sub_topic_check(val) != MOSQ_ERR_SUCCESS)
        return fail(p, p->line, k->key,
                    "'%s' is not an MQTT topic filter ('+' and '#' stand "
                    "for whole levels, '#' only for the last)",
                    val);
    return 0;
}

static int set_group(struct parser *p, const struct key_def *k, char *val,
                     void *dst)
{
    if (strpbrk(val, "/+#") != NULL)
        return fail(p, p->line, k->key,
                    "'%s': a share group must not contain '/', '+' or '#'",
                    val);
    return set_str(p, k, val, dst);
}

/* "env.temp": names without spaces, commas, quotes or backslashes, joined
 * by single dots. */
static bool path_ok(const char *s)
{
    char prev = '.';

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (is_space(*s) || strchr(",\"\\", *s) != NULL)
            return false;
        if (*s == '.' && prev == '.')
            return false;
        prev = *s;
    }
    return prev != '.';
}

static int set_field(struct parser *p, const struct key_def *k, char *val,
                     void *dst)
{
    if (*val != '\0' && !path_ok(val))
        return fail(p, p->line, k->key,
                    "'%s' is not a field path (names joined by '.', as in "
                    "env.temp)",
                    val);
    return set_str(p, k, val, dst);
}

static bool field_listed(const struct config_sub *sub, unsigned n,
                         const char *s)
{
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(sub->fields[i], s) == 0)
            return true;
    }
    return false;
}

static int set_fields(struct parser *p, const struct key_def *k, char *val,
                      void *dst)
{
    struct config_sub *sub = p->sub;
    char *cur = *val != '\0' ? val : NULL;
    char *item;
    unsigned n = 0;

    (void) dst; /* the list and its count are both in sub */
    memset(sub->fields, 0, sizeof(sub->fields));
    while ((item = list_next(&cur)) != NULL) {
        if (n == CONFIG_MAX_FIELDS)
            return fail(p, p->line, k->key, "more than %d fields",
                        CONFIG_MAX_FIELDS);
        if (strlen(item) >= CONFIG_STR_MAX)
            return fail(p, p->line, k->key,
                        "field %u is too long (at most %d bytes)", n + 1,
                        CONFIG_STR_MAX - 1);
        if (!path_ok(item))
            return fail(p, p->line, k->key,
                        "'%s' is not a field path (names joined by '.', as "
                        "in env.temp; fields are separated by commas)",
                        item);
        if (field_listed(sub, n, item))
            return fail(p, p->line, k->key, "'%s' is listed twice", item);
        str_store(sub->fields[n++], CONFIG_STR_MAX, item);
    }
    sub->n_fields = n;
    return 0;
}

/* Whether the level lv[0..n) occurs as a whole level of t before lv. */
static bool level_before(const char *t, const char *lv, size_t n)
{
    while (t < lv) {
        const char *end = strchr(t, '/'); /* lv follows a '/' */

        if ((size_t) (end - t) == n && memcmp(t, lv, n) == 0)
            return true;
        t = end + 1;
    }
    return false;
}

/* "{name}" as one level: a word, not used by an earlier level. */
static const char *placeholder_check(const char *t, const char *lv, size_t n)
{
    if (n < 3 || lv[n - 1] != '}')
        return "a placeholder reads {name}";
    for (size_t i = 1; i + 1 < n; i++) {
        if (!is_word(lv[i]))
            return "placeholder names use only A-Z, a-z, 0-9 and _";
    }
    return level_before(t, lv, n) ? "a placeholder is used twice" : NULL;
}

/* One level of a topic_tags template. Returns: NULL, or why it is wrong. */
static const char *level_check(const char *t, const char *lv, size_t n,
                               bool last)
{
    if (n == 1 && (*lv == '#' || *lv == '+'))
        return *lv == '#' && !last ? "'#' must be the last level" : NULL;
    if (n > 0 && *lv == '{')
        return placeholder_check(t, lv, n);
    for (size_t i = 0; i < n; i++) {
        if (strchr("+#{}", lv[i]) != NULL)
            return "'+', '#' and {name} must each be a whole level";
    }
    return NULL;
}

static int set_template(struct parser *p, const struct key_def *k, char *val,
                        void *dst)
{
    const char *lv = val;
    const char *end;
    const char *why;

    while (*val != '\0') {
        end = strchr(lv, '/');
        why =
            level_check(val, lv, end != NULL ? (size_t) (end - lv) : strlen(lv),
                        end == NULL);
        if (why != NULL)
            return fail(p, p->line, k->key, "'%s': %s", val, why);
        if (end == NULL)
            break;
        lv = end + 1;
    }
    return set_str(p, k, val, dst);
}

static int set_bool(struct parser *p, const struct key_def *k, char *val,
                    void *dst)
{
    bool b;
    int v;

    if (enum_find(bool_names, val, &v) < 0)
        return fail(p, p->line, k->key,
                    "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
                    val);
    b = v != 0;
    assert(k->size == sizeof(b));
    memcpy(dst, &b, sizeof(b));
    return 0;
}

static int set_uint(struct parser *p, const struct key_def *k, char *val,
                    void *dst)
{
    uint64_t v;

    if (parse_u64(val, &v) < 0)
        return fail(p, p->line, k->key, "'%s' is not a whole number", val);
    if (v < k->min || v > k->max)
        return fail(p, p->line, k->key,
                    "%s is out of range (%" PRIu64 "..%" PRIu64 ")", val,
                    k->min, k->max);
    store_uint(dst, k->size, v);
    return 0;
}

/* A duration or size within the key's bounds. */
static int parse_key_scaled(struct parser *p, const struct key_def *k,
                            const char *val, uint64_t *out)
{
    bool is_size = k->type == T_SIZE;
    const struct unit *units = is_size ? size_units : duration_units;
    uint64_t bare = is_size || (k->flags & KEY_BARE_MS) ? 1 : MS_S;
    char lo[32];
    char hi[32];

    if (parse_scaled(val, units, bare, out) < 0)
        return fail(p, p->line, k->key,
                    is_size ? "'%s' is not a size (as in 512B, 64KiB, 8MiB, "
                              "1GiB, 1MB)"
                            : "'%s' is not a duration (as in 250ms, 90s, 5m, "
                              "2h, 7d, 1w, 2y)",
                    val);
    if (*out < k->min || *out > k->max) {
        format_scaled(k->min, units, lo, sizeof(lo));
        format_scaled(k->max, units, hi, sizeof(hi));
        return fail(p, p->line, k->key, "'%s' is out of range (%s..%s)", val,
                    lo, hi);
    }
    return 0;
}

static int set_scaled(struct parser *p, const struct key_def *k, char *val,
                      void *dst)
{
    uint64_t v;
    int rc = parse_key_scaled(p, k, val, &v);

    if (rc == 0)
        store_u64(dst, k->size, v);
    return rc;
}

static int set_duration_s(struct parser *p, const struct key_def *k, char *val,
                          void *dst)
{
    uint64_t ms;
    int rc = parse_key_scaled(p, k, val, &ms);

    if (rc < 0)
        return rc;
    if (ms % MS_S != 0)
        return fail(p, p->line, k->key, "'%s' is not a whole number of seconds",
                    val);
    store_uint(dst, k->size, ms / MS_S);
    return 0;
}

static int set_enum(struct parser *p, const struct key_def *k, char *val,
                    void *dst)
{
    char names[128];
    size_t pos = 0;
    int v;

    if (enum_find(k->names, val, &v) == 0) {
        store_int(dst, k->size, v);
        return 0;
    }
    for (const struct enum_name *e = k->names; e->name != NULL; e++)
        buf_put(names, sizeof(names), &pos, "%s%s", pos > 0 ? ", " : "",
                e->name);
    return fail(p, p->line, k->key, "'%s' is not one of %s", val, names);
}

static int set_level(struct parser *p, const struct key_def *k, char *val,
                     void *dst)
{
    int level;

    if (log_level_parse(val, &level) < 0)
        return fail(p, p->line, k->key,
                    "'%s' is not a log level (err, warning, notice, info, "
                    "debug)",
                    val);
    store_int(dst, k->size, level);
    return 0;
}

/* A bucket size: a duration of whole seconds, at least 1s. */
static int parse_resolution(struct parser *p, const struct key_def *k,
                            const char *s, unsigned *out_s)
{
    uint64_t ms;

    if (config_parse_duration_ms(s, &ms) < 0 || ms == 0 || ms % MS_S != 0 ||
        ms / MS_S > UINT_MAX)
        return fail(p, p->line, k->key,
                    "resolution '%s' is not a whole number of seconds "
                    "(at least 1s, as in 10s, 1m, 1h)",
                    s);
    *out_s = (unsigned) (ms / MS_S);
    return 0;
}

/* The resolution after prev (0 before the first): coarser, a multiple. */
static int check_resolution_step(struct parser *p, const struct key_def *k,
                                 const char *item, unsigned prev, unsigned res)
{
    if (prev == 0)
        return 0;
    if (res <= prev)
        return fail(p, p->line, k->key,
                    "'%s' is not larger than the one before it "
                    "(resolutions go from fine to coarse)",
                    item);
    if (res % prev != 0)
        return fail(p, p->line, k->key,
                    "'%s' is not a multiple of the one before it", item);
    return 0;
}

static int set_resolutions(struct parser *p, const struct key_def *k, char *val,
                           void *dst)
{
    unsigned res[CONFIG_MAX_RESOLUTIONS] = {0};
    unsigned n = 0;
    char *cur = *val != '\0' ? val : NULL;
    char *item;

    while ((item = list_next(&cur)) != NULL) {
        if (n == CONFIG_MAX_RESOLUTIONS)
            return fail(p, p->line, k->key, "more than %d resolutions",
                        CONFIG_MAX_RESOLUTIONS);
        if (parse_resolution(p, k, item, &res[n]) < 0 ||
            check_resolution_step(p, k, item, n > 0 ? res[n - 1] : 0, res[n]) <
                0)
            return -EINVAL;
        n++;
    }
    if (n == 0)
        return fail(p, p->line, k->key, "needs at least one resolution");
    assert(k->size == sizeof(res));
    memcpy(dst, res, sizeof(res));
    p->cfg->aggregate.n_resolutions = n;
    return 0;
}

/* One "RESOLUTION:DURATION" of retention, added to p->ret. */
static int add_retention(struct parser *p, const struct key_def *k, char *item)
{
    char *colon = strchr(item, ':');
    struct retention_entry *e = &p->ret[p->n_ret];
    char *keep;

    if (colon == NULL)
        return fail(p, p->line, k->key,
                    "'%s' should read RESOLUTION:DURATION, as in 1m:30d", item);
    if (p->n_ret == CONFIG_MAX_RESOLUTIONS)
        return fail(p, p->line, k->key, "more than %d entries",
                    CONFIG_MAX_RESOLUTIONS);
    *colon = '\0';
    item = trim(item);
    keep = trim(colon + 1);
    if (parse_resolution(p, k, item, &e->res_s) < 0)
        return -EINVAL;
    if (config_parse_duration_ms(keep, &e->keep_ms) < 0 || e->keep_ms > k->max)
        return fail(p, p->line, k->key,
                    "'%s' is not a duration up to 100y (0 keeps all)", keep);
    for (unsigned i = 0; i < p->n_ret; i++) {
        if (p->ret[i].res_s == e->res_s)
            return fail(p, p->line, k->key, "'%s' is listed twice", item);
    }
    p->n_ret++;
    return 0;
}

/* "10s:2d, 1h:2y": kept in the parser until the resolutions are known. */
static int set_retention(struct parser *p, const struct key_def *k, char *val,
                         void *dst)
{
    char *cur = *val != '\0' ? val : NULL;
    char *item;
    int rc = 0;

    (void) dst; /* written by resolve_retention() */
    while (rc == 0 && (item = list_next(&cur)) != NULL)
        rc = add_retention(p, k, item);
    return rc;
}

/* ---- printers ----------------------------------------------------------- */

static void print_str(const struct config *cfg, const void *base,
                      const struct key_def *k, char *buf, size_t len)
{
    size_t pos = 0;

    (void) cfg;
    buf_put(buf, len, &pos, "%s", (const char *) base + k->off);
}

static void print_bool(const struct config *cfg, const void *base,
                       const struct key_def *k, char *buf, size_t len)
{
    bool b;
    size_t pos = 0;

    (void) cfg;
    assert(k->size == sizeof(b));
    memcpy(&b, (const char *) base + k->off, sizeof(b));
    buf_put(buf, len, &pos, "%s", b ? "true" : "false");
}

static void print_uint(const struct config *cfg, const void *base,
                       const struct key_def *k, char *buf, size_t len)
{
    size_t pos = 0;

    (void) cfg;
    buf_put(buf, len, &pos, "%u",
            load_uint((const char *) base + k->off, k->size));
}

static void print_duration(const struct config *cfg, const void *base,
                           const struct key_def *k, char *buf, size_t len)
{
    (void) cfg;
    format_duration(load_u64((const char *) base + k->off, k->size), buf, len);
}

static void print_duration_s(const struct config *cfg, const void *base,
                             const struct key_def *k, char *buf, size_t len)
{
    unsigned s = load_uint((const char *) base + k->off, k->size);

    (void) cfg;
    format_duration(s * MS_S, buf, len);
}

static void print_size(const struct config *cfg, const void *base,
                       const struct key_def *k, char *buf, size_t len)
{
    (void) cfg;
    format_size(load_u64((const char *) base + k->off, k->size), buf, len);
}

static void print_enum(const struct config *cfg, const void *base,
                       const struct key_def *k, char *buf, size_t len)
{
    size_t pos = 0;

    (void) cfg;
    buf_put(
        buf, len, &pos, "%s",
        enum_name(k->names, load_int((const char *) base + k->off, k->size)));
}

static void print_level(const struct config *cfg, const void *base,
                        const struct key_def *k, char *buf, size_t len)
{
    size_t pos = 0;

    (void) cfg;
    buf_put(buf, len, &pos, "%s",
            log_level_str(load_int((const char *) base + k->off, k->size)));
}

static void print_fields(const struct config *cfg, const void *base,
                         const struct key_def *k, char *buf, size_t len)
{
    const struct config_sub *sub = base;
    size_t pos = 0;

    (void) cfg;
    (void) k;
    for (unsigned i = 0; i < sub->n_fields && i < CONFIG_MAX_FIELDS; i++)
        buf_put(buf, len, &pos, "%s%s", i > 0 ? ", " : "", sub->fields[i]);
}

/* "10s, 1m, 1h" (or with ":keep" after each nonzero retention). */
static void print_res_list(const struct config *cfg, bool retention, char *buf,
                           size_t len)
{
    char res[32];
    char keep[32];
    size_t pos = 0;

    for (unsigned i = 0;
         i < cfg->aggregate.n_resolutions && i < CONFIG_MAX_RESOLUTIONS; i++) {
        if (retention && cfg->store.retention_ms[i] == 0)
            continue;
        format_duration(cfg->aggregate.resolutions_s[i] * MS_S, res,
                        sizeof(res));
        format_duration(cfg->store.retention_ms[i], keep, sizeof(keep));
        buf_put(buf, len, &pos, "%s%s%s%s", pos > 0 ? ", " : "", res,
                retention ? ":" : "", retention ? keep : "");
    }
}

static void print_resolutions(const struct config *cfg, const void *base,
                              const struct key_def *k, char *buf, size_t len)
{
    (void) base;
    (void) k;
    print_res_list(cfg, false, buf, len);
}

static void print_retention(const struct config *cfg, const void *base,
                            const struct key_def *k, char *buf, size_t len)
{
    (void) base;
    (void) k;
    print_res_list(cfg, true, buf, len);
}

static const struct type_ops type_ops[T_COUNT] = {
    [T_STR] = {set_str, print_str},
    [T_BOOL] = {set_bool, print_bool},
    [T_UINT] = {set_uint, print_uint},
    [T_DURATION] = {set_scaled, print_duration},
    [T_DURATION_S] = {set_duration_s, print_duration_s},
    [T_SIZE] = {set_scaled, print_size},
    [T_ENUM] = {set_enum, print_enum},
    [T_LEVEL] = {set_level, print_level},
    [T_TOPIC] = {set_topic, print_str},
    [T_GROUP] = {set_group, print_str},
    [T_FIELD] = {set_field, print_str},
    [T_FIELDS] = {set_fields, print_fields},
    [T_TEMPLATE] = {set_template, print_str},
    [T_RESOLUTIONS] = {set_resolutions, print_resolutions},
    [T_RETENTION] = {set_retention, print_retention},
};

/* ---- the line parser ---------------------------------------------------- */

static size_t key_index(enum section sec, const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].sec == sec && strcmp(keys[i].key, key) == 0)
            return i;
    }
    return N_KEYS;
}

/* The table row named in a cross-check; a missing one is a typo here. */
static size_t key_row(enum section sec, const char *key)
{
    size_t i = key_index(sec, key);

    assert(i < N_KEYS);
    return i;
}

/* Where a key's value lives: in the open subscription or in the config. */
static void *key_dst(struct parser *p, const struct key_def *k)
{
    char *base = k->sec == SEC_SUB ? (char *) p->sub : (char *) p->cfg;

    return base + k->off;
}

static void sub_defaults(struct config_sub *sub)
{
    memset(sub, 0, sizeof(*sub));
    sub->qos = 1;
    sub->format = FORMAT_JSON;
    sub->precision = PRECISION_NS;
}

static bool sub_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= CONFIG_NAME_MAX)
        return false;
    for (; *s != '\0'; s++) {
        if (!is_word(*s) && *s != '.' && *s != '-')
            return false;
    }
    return true;
}

/* Whether a key given in a [subscription] suits its format. */
static bool key_fits_format(const struct key_def *k, enum config_format f)
{
    if ((k->flags & KEY_JSON) && f != FORMAT_JSON)
        return false;
    return !(k->flags & KEY_INFLUX) || f == FORMAT_INFLUX;
}

/* Required keys and format-specific keys of the [subscription] ending. */
static int check_sub(struct parser *p)
{
    const struct config_sub *sub = p->sub;

    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];

        if (k->sec != SEC_SUB)
            continue;
        if ((k->flags & KEY_REQUIRED) && p->seen[i] == 0)
            return fail(p, sub->line, k->key, "required in [subscription %s]",
                        sub->name);
        if (p->seen[i] != 0 && !key_fits_format(k, sub->format))
            return fail(p, p->seen[i], k->key,
                        "only for format = %s ([subscription %s] has "
                        "format = %s)",
                        (k->flags & KEY_JSON) ? "json" : "influx", sub->name,
                        config_format_str(sub->format));
    }
    return 0;
}

static int start_sub(struct parser *p, const char *name)
{
    struct config *cfg = p->cfg;

    if (!sub_name_ok(name))
        return fail(p, p->line, NULL,
                    "subscription name '%s': use 1 to %d of A-Z a-z 0-9 _ . -"
                    " as in [subscription sensors]",
                    name, CONFIG_NAME_MAX - 1);
    for (unsigned i = 0; i < cfg->n_subs; i++) {
        if (strcmp(cfg->subs[i].name, name) == 0)
            return fail(p, p->line, NULL,
                        "duplicate subscription '%s' (first on line %u)", name,
                        cfg->subs[i].line);
    }
    if (cfg->n_subs == CONFIG_MAX_SUBS)
        return fail(p, p->line, NULL, "more than %d subscriptions",
                    CONFIG_MAX_SUBS);
    p->sub = &cfg->subs[cfg->n_subs++];
    sub_defaults(p->sub);
    str_store(p->sub->name, sizeof(p->sub->name), name);
    p->sub->line = p->line;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].sec == SEC_SUB)
            p->seen[i] = 0; /* each subscription has its own keys */
    }
    p->sec = SEC_SUB;
    return 0;
}

static int end_section(struct parser *p)
{
    int rc = p->sec == SEC_SUB ? check_sub(p) : 0;

    p->sec = SEC_NONE;
    p->sub = NULL;
    return rc;
}

/* "[name]" or "[subscription NAME]", optionally followed by a comment. */
static int parse_section(struct parser *p, char *s)
{
    char *end = strchr(s, ']');
    char *rest;
    int rc;

    if (end == NULL)
        return fail(p, p->line, NULL, "expected ']' after the section name");
    rest = trim(end + 1);
    if (*rest != '\0' && *rest != '#' && *rest != ';')
        return fail(p, p->line, NULL, "unexpected text after ']'");
    *end = '\0';
    s = trim(s + 1);
    rc = end_section(p);
    if (rc < 0)
        return rc;
    if (strncmp(s, "subscription", 12) == 0 &&
        (s[12] == '\0' || is_space(s[12])))
        return start_sub(p, trim(s + 12));
    for (int sec = SEC_MQTT; sec < SEC_COUNT; sec++) {
        if (sec != SEC_SUB && strcmp(s, section_names[sec]) == 0) {
            p->sec = (enum section) sec;
            return 0;
        }
    }
    return fail(p, p->line, NULL,
                "unknown section '[%s]' (known: [mqtt], [subscription NAME], "
                "[pipeline], [aggregate], [store], [log])",
                s);
}

/* Cuts an unquoted value at a '#' that starts it or follows a blank. */
static void cut_comment(char *s)
{
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] == '#' && (i == 0 || is_space(s[i - 1]))) {
            s[i] = '\0';
            return;
        }
    }
}

/* The value after '=': unquoted and trimmed, or "quoted" with \" and \\. */
static int parse_value(struct parser *p, const char *key, char *s, char **out)
{
    char *r;
    char *w;

    s = trim(s);
    if (*s != '"') {
        cut_comment(s);
        *out = trim(s);
        return 0;
    }
    for (r = s + 1, w = s; *r != '\0' && *r != '"'; *w++ = *r++) {
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
    }
    if (*r != '"')
        return fail(p, p->line, key, "missing '\"' at the end of the value");
    *w = '\0';
    r = trim(r + 1);
    if (*r != '\0' && *r != '#')
        return fail(p, p->line, key, "unexpected text after the closing '\"'");
    *out = s;
    return 0;
}

static int parse_assignment(struct parser *p, char *s)
{
    char *eq = strchr(s, '=');
    char *key;
    char *val = NULL;
    size_t i;

    if (eq == NULL)
        return fail(p, p->line, NULL, "expected 'key = value' or '[section]'");
    *eq = '\0';
    key = trim(s);
    if (*key == '\0')
        return fail(p, p->line, NULL, "missing key before '='");
    if (p->sec == SEC_NONE)
        return fail(p, p->line, key,
                    "outside any section (start with a header such as "
                    "[mqtt])");
    i = key_index(p->sec, key);
    if (i == N_KEYS)
        return fail(p, p->line, key, "unknown key in [%s]",
                    section_names[p->sec]);
    if (p->seen[i] != 0)
        return fail(p, p->line, key, "given twice (first on line %u)",
                    p->seen[i]);
    if (parse_value(p, key, eq + 1, &val) < 0)
        return -EINVAL;
    p->seen[i] = p->line;
    return type_ops[keys[i].type].set(p, &keys[i], val, key_dst(p, &keys[i]));
}

static int parse_line(struct parser *p, char *s)
{
    s = trim(s);
    if (*s == '\0' || *s == '#' || *s == ';')
        return 0;
    if (*s == '[')
        return parse_section(p, s);
    return parse_assignment(p, s);
}

/* Copies the next line of text into line (NUL-terminated, no CR/LF). */
static int next_line(struct parser *p, const char *text, size_t len,
                     size_t *pos, char *line)
{
    const char *s = text + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t n = nl != NULL ? (size_t) (nl - s) : len - *pos;

    p->line++;
    *pos += n + (nl != NULL);
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (n >= PARSE_LINE_MAX)
        return fail(p, p->line, NULL, "line too long (at most %d bytes)",
                    PARSE_LINE_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(p, p->line, NULL, "control character 0x%02x in line",
                        c);
    }
    memcpy(line, s, n);
    line[n] = '\0';
    return 0;
}

/* ---- checks that need the whole file ------------------------------------ */

static int check_subs(struct parser *p)
{
    if (p->cfg->n_subs == 0)
        return fail(p, 0, NULL,
                    "no [subscription NAME] section: nothing to subscribe to");
    return 0;
}

/* Of two keys in a rule, the one to blame: a given one, the first if both. */
static size_t blame(const struct parser *p, size_t a, size_t b)
{
    return p->seen[a] != 0 || p->seen[b] == 0 ? a : b;
}

static int check_reconnect(struct parser *p)
{
    size_t lo = key_row(SEC_MQTT, "reconnect_min_ms");
    size_t hi = key_row(SEC_MQTT, "reconnect_max_ms");
    size_t i = blame(p, lo, hi);
    char a[32];
    char b[32];

    if (p->cfg->mqtt.reconnect_min_ms <= p->cfg->mqtt.reconnect_max_ms)
        return 0;
    format_duration(p->cfg->mqtt.reconnect_min_ms, a, sizeof(a));
    format_duration(p->cfg->mqtt.reconnect_max_ms, b, sizeof(b));
    return fail(p, p->seen[i], keys[i].key,
                "reconnect_min_ms (%s) is larger than reconnect_max_ms (%s)", a,
                b);
}

static int check_ring(struct parser *p)
{
    size_t i = blame(p, key_row(SEC_PIPELINE, "ring_bytes"),
                     key_row(SEC_PIPELINE, "max_payload_bytes"));
    uint64_t payload = p->cfg->pipeline.max_payload_bytes;
    uint64_t need =
        RING_MIN_RECORDS * (payload + RECORD_TOPIC_MAX + RECORD_HEADER_MAX);
    char ring[32];
    char max[32];
    char min[32];

    if (p->cfg->pipeline.ring_bytes >= need)
        return 0;
    format_size(p->cfg->pipeline.ring_bytes, ring, sizeof(ring));
    format_size(payload, max, sizeof(max));
    format_size(SP_ALIGN_UP(need, KIB), min, sizeof(min));
    return fail(p, p->seen[i], keys[i].key,
                "ring_bytes = %s cannot hold 4 of the largest records "
                "(max_payload_bytes = %s + 64KiB topic + 64B header each), and "
                "a ring must hold at least 4: set ring_bytes >= %s or lower "
                "max_payload_bytes",
                ring, max, min);
}

static int check_tls(struct parser *p)
{
    const struct config *cfg = p->cfg;
    bool cert = cfg->mqtt.tls_cert_file[0] != '\0';
    bool key = cfg->mqtt.tls_key_file[0] != '\0';
    size_t i;

    if (cert != key) {
        i = key_row(SEC_MQTT, cert ? "tls_cert_file" : "tls_key_file");
        return fail(p, p->seen[i], keys[i].key,
                    "tls_cert_file and tls_key_file go together: give both "
                    "or neither");
    }
    if ((cert || cfg->mqtt.tls_insecure) && cfg->mqtt.tls_ca_file[0] == '\0') {
        i = key_row(SEC_MQTT, cert ? "tls_cert_file" : "tls_insecure");
        return fail(p, p->seen[i], keys[i].key,
                    "needs tls_ca_file (TLS is on only when tls_ca_file is "
                    "set)");
    }
    return 0;
}

static int check_store_memory(struct parser *p)
{
    size_t i = blame(p, key_row(SEC_STORE, "cache_mb"),
                     key_row(SEC_STORE, "heap_limit_mb"));

    if (p->cfg->store.cache_mb < p->cfg->store.heap_limit_mb)
        return 0;
    return fail(p, p->seen[i], keys[i].key,
                "cache_mb (%u) must be smaller than heap_limit_mb (%u): the "
                "page cache lives in SQLite's heap",
                p->cfg->store.cache_mb, p->cfg->store.heap_limit_mb);
}

/* Each retention entry's resolution must be one of the configured ones. */
static int resolve_retention(struct parser *p)
{
    struct config *cfg = p->cfg;
    size_t k = key_row(SEC_STORE, "retention");
    char res[32];
    char list[CONFIG_MAX_RESOLUTIONS * 16];
    unsigned j;

    memset(cfg->store.retention_ms, 0, sizeof(cfg->store.retention_ms));
    for (unsigned i = 0; i < p->n_ret; i++) {
        const struct retention_entry *e = &p->ret[i];

        for (j = 0; j < cfg->aggregate.n_resolutions; j++) {
            if (cfg->aggregate.resolutions_s[j] == e->res_s)
                break;
        }
        format_duration(e->res_s * MS_S, res, sizeof(res));
        if (j == cfg->aggregate.n_resolutions) {
            list[0] = '\0';
            print_res_list(cfg, false, list, sizeof(list));
            return fail(p, p->seen[k], keys[k].key,
                        "%s is not one of the resolutions (%s)", res, list);
        }
        if (e->keep_ms != 0 && e->keep_ms < e->res_s * MS_S)
            return fail(p, p->seen[k], keys[k].key,
                        "%s buckets must be kept at least %s (or 0 for ever)",
                        res, res);
        cfg->store.retention_ms[j] = e->keep_ms;
    }
    return 0;
}

static int default_port(struct parser *p)
{
    if (p->seen[key_row(SEC_MQTT, "port")] == 0 &&
        p->cfg->mqtt.tls_ca_file[0] != '\0')
        p->cfg->mqtt.port = 8883;
    return 0;
}

/* Run in order once the last line is read; the first error stops them. */
static int (*const final_steps[])(struct parser *p) = {
    end_section, check_subs,         check_reconnect,   check_ring,
    check_tls,   check_store_memory, resolve_retention, default_port,
};

/* ---- public functions --------------------------------------------------- */

static void default_client_id(char *buf, size_t size)
{
    char host[256];
    size_t pos = 0;

    if (gethostname(host, sizeof(host)) < 0)
        str_store(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0'; /* gethostname may not terminate */
    buf_put(buf, size, &pos, "sensorpipe-%s", host);
}

void config_defaults(struct config *cfg)
{
    static const unsigned res_s[] = {10, 60, 3600};

    memset(cfg, 0, sizeof(*cfg));
    str_store(cfg->mqtt.host, sizeof(cfg->mqtt.host), "127.0.0.1");
    cfg->mqtt.port = 1883;
    default_client_id(cfg->mqtt.client_id, sizeof(cfg->mqtt.client_id));
    cfg->mqtt.keepalive_s = 60;
    cfg->mqtt.protocol = PROTOCOL_V5;
    cfg->mqtt.reconnect_min_ms = 500;
    cfg->mqtt.reconnect_max_ms = 30 * MS_S;
    cfg->pipeline.ring_bytes = 8 * MIB;
    cfg->pipeline.max_payload_bytes = 64 * KIB;
    cfg->pipeline.overflow = OVERFLOW_PAUSE;
    cfg->pipeline.max_series = 100000;
    memcpy(cfg->aggregate.resolutions_s, res_s, sizeof(res_s));
    cfg->aggregate.n_resolutions = SP_ARRAY_SIZE(res_s);
    cfg->aggregate.allowed_lateness_ms = MS_M;
    cfg->aggregate.max_clock_skew_ms = MS_H;
    str_store(cfg->store.path, sizeof(cfg->store.path), "./var/sensorpipe.db");
    cfg->store.commit_interval_ms = MS_S;
    cfg->store.batch_rows = 5000;
    cfg->store.cache_mb = 16;
    cfg->store.heap_limit_mb = 64;
    cfg->log.level = LOG_INFO;
    cfg->log.stats_interval_s = 60;
}

int config_parse(struct config *cfg, const char *name, const char *text,
                 size_t len, char *err, size_t errlen)
{
    struct parser p = {.cfg = cfg, .name = name, .err = err, .errlen = errlen};
    char line[PARSE_LINE_MAX];
    size_t pos = 0;
    int rc = 0;

    config_defaults(cfg);
    if (strlen(name) >= sizeof(cfg->path))
        return fail(&p, 0, NULL, "file name too long (at most %zu bytes)",
                    sizeof(cfg->path) - 1);
    str_store(cfg->path, sizeof(cfg->path), name);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a UTF-8 byte order mark, as some editors write */
    while (pos < len && rc == 0) {
        rc = next_line(&p, text, len, &pos, line);
        if (rc == 0)
            rc = parse_line(&p, line);
    }
    for (size_t i = 0; i < SP_ARRAY_SIZE(final_steps) && rc == 0; i++)
        rc = final_steps[i](&p);
    return rc;
}

/* Reads up to cap bytes of path into buf. Returns: 0 or -errno. */
static int read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t n = 1;
    int rc = 0;

    if (fd < 0)
        return -errno;
    *len = 0;
    while (*len < cap && n > 0) {
        n = read(fd, buf + *len, cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        else
            *len += (size_t) n;
    }
    close(fd);
    return rc;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct parser p = {.cfg = cfg, .name = path, .err = err, .errlen = errlen};
    char msg[128];
    char *buf;
    size_t len = 0;
    int rc;

    /* Untouched pages of an anonymous map cost nothing; no malloc here. */
    buf = mmap(NULL, CONFIG_FILE_MAX + 1, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        rc = -errno;
        fail(&p, 0, NULL, "cannot read: %s", strerror_r(-rc, msg, sizeof(msg)));
        return rc;
    }
    rc = read_file(path, buf, CONFIG_FILE_MAX + 1, &len);
    if (rc < 0) {
        fail(&p, 0, NULL, "cannot read: %s", strerror_r(-rc, msg, sizeof(msg)));
    } else if (len > CONFIG_FILE_MAX) {
        fail(&p, 0, NULL, "larger than %u KiB: not a configuration file",
             CONFIG_FILE_MAX / 1024);
        rc = -EFBIG;
    } else {
        rc = config_parse(cfg, path, buf, len, err, errlen);
    }
    munmap(buf, CONFIG_FILE_MAX + 1);
    return rc;
}

/* "key = value", quoting values that would not read back as they are. */
static void print_value(FILE *out, const char *key, const char *v)
{
    size_t n = strlen(v);
    bool quote = n == 0 || is_space(v[0]) || is_space(v[n - 1]) ||
                 v[0] == '"' || v[0] == '#';

    for (size_t i = 1; i < n && !quote; i++)
        quote = v[i] == '#' && is_space(v[i - 1]);
    fprintf(out, "%s = ", key);
    if (!quote) {
        fprintf(out, "%s\n", v);
        return;
    }
    fputc('"', out);
    for (; *v != '\0'; v++) {
        if (*v == '"' || *v == '\\')
            fputc('\\', out);
        fputc(*v, out);
    }
    fputs("\"\n", out);
}

static void print_section(const struct config *cfg, const void *base,
                          enum section sec, FILE *out)
{
    const struct config_sub *sub = sec == SEC_SUB ? base : NULL;
    char buf[PRINT_VALUE_MAX];

    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];

        if (k->sec != sec)
            continue;
        /* Keys for another format would be refused when read back. */
        if (sub != NULL && !key_fits_format(k, sub->format))
            continue;
        buf[0] = '\0';
        type_ops[k->type].print(cfg, base, k, buf, sizeof(buf));
        print_value(out, k->key, buf);
    }
}

void config_print(const struct config *cfg, FILE *out)
{
    fputs("# sensorpipe settings in effect\n", out);
    for (int sec = SEC_MQTT; sec < SEC_COUNT; sec++) {
        if (sec != SEC_SUB) {
            fprintf(out, "\n[%s]\n", section_names[sec]);
            print_section(cfg, cfg, (enum section) sec, out);
            continue;
        }
        for (unsigned i = 0; i < cfg->n_subs && i < CONFIG_MAX_SUBS; i++) {
            fprintf(out, "\n[subscription %s]\n", cfg->subs[i].name);
            print_section(cfg, &cfg->subs[i], SEC_SUB, out);
        }
    }
}

const char *config_format_str(enum config_format f)
{
    return enum_name(format_names, (int) f);
}

const char *config_key_name(size_t i, const char **section)
{
    if (i >= N_KEYS)
        return NULL;
    if (section != NULL)
        *section = section_names[keys[i].sec];
    return keys[i].key;
}
