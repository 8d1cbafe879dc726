/*
 * config_value.c - typed values of the configuration file: durations,
 * sizes, booleans, enums, strings with a syntax (topic filters, share
 * groups, field paths, topic templates) and lists, each with a setter that
 * parses text into its field and a printer that writes it back.
 *
 * Durations and sizes are read and written by units.c.
 *
 * setters[] holds one setter per enum config_value_type, and
 * config_value_set() dispatches on it; config_value_print() is one switch
 * over the same types, most of which print in a line or two. Numbers are
 * read with strtoull() after a digit check, never atoi(); durations and
 * sizes accept decimals but refuse anything that is not a whole number of
 * the stored unit.
 *
 * Threads: pure functions on caller-owned memory; any thread, and several
 * threads at once.
 *
 * Invariants:
 *   - A setter either returns 0 or returns -EINVAL with ctx->why holding a
 *     reason that starts with the offending text or with what is wrong,
 *     never with a key name: the caller adds "key 'x': ".
 *   - ctx->why is large enough for every reason (the value is at most one
 *     line), so a reason is never cut here.
 *   - A printer's text parses back, through the matching setter, to the
 *     same field bytes (strings are zero-filled, units are exact).
 *
 * Memory: none allocated; the largest stack buffer is 128 bytes.
 */
#include "config_value.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mosquitto.h>

#include "log.h"

#define MS_S UNITS_MS_S

static const struct config_value_name bool_names[] = {
    {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"on", 1},
    {"off", 0},  {"1", 1},     {"0", 0},   {NULL, 0},
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

char *config_value_trim(char *s)
{
    size_t n;

    while (is_space(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

void config_value_copy(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);

    assert(n < size);
    memset(dst, 0, size);
    memcpy(dst, s, n + 1);
}

void config_value_append(char *buf, size_t len, size_t *pos, const char *fmt,
                         ...)
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
    return config_value_trim(s);
}

/* Writes the reason for a refusal into ctx->why. Returns: -EINVAL. */
SP_PRINTF(2, 3)
static int refuse(struct config_value_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx->why, sizeof(ctx->why), fmt, ap);
    va_end(ap);
    return -EINVAL;
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

/* ---- scalar stores and loads ------------------------------------------- */

/* Scalars go through memcpy: enums and int share the unsigned layout, and
 * the asserts catch a table row whose type does not fit its field. */
static void store(void *dst, size_t size, const void *v, size_t n)
{
    assert(size == n);
    memcpy(dst, v, n);
}

static void store_uint(void *dst, size_t size, uint64_t v)
{
    unsigned u = (unsigned) v;

    assert(v <= UINT_MAX);
    store(dst, size, &u, sizeof(u));
}

static void load(void *out, size_t n, const void *src, size_t size)
{
    assert(size == n);
    memcpy(out, src, n);
}

static unsigned load_uint(const void *src, size_t size)
{
    unsigned u;

    load(&u, sizeof(u), src, size);
    return u;
}

static uint64_t load_u64(const void *src, size_t size)
{
    uint64_t v;

    load(&v, sizeof(v), src, size);
    return v;
}

static int load_int(const void *src, size_t size)
{
    int v;

    load(&v, sizeof(v), src, size);
    return v;
}

/* The field spec describes, in base. */
static void *field(const struct config_value_spec *spec, void *base)
{
    return (char *) base + spec->off;
}

static const void *field_c(const struct config_value_spec *spec,
                           const void *base)
{
    return (const char *) base + spec->off;
}

static int enum_find(const struct config_value_name *names, const char *s,
                     int *v)
{
    for (; names->name != NULL; names++) {
        if (strcasecmp(names->name, s) == 0) {
            *v = names->value;
            return 0;
        }
    }
    return -EINVAL;
}

const char *config_value_name_of(const struct config_value_name *names, int v)
{
    for (; names->name != NULL; names++) {
        if (names->value == v)
            return names->name;
    }
    return "unknown";
}

/* ---- strings ------------------------------------------------------------ */

static int set_str(struct config_value_ctx *ctx,
                   const struct config_value_spec *spec, char *text, void *base)
{
    size_t n = strlen(text);

    if (n >= spec->size)
        return refuse(ctx, "too long (%zu bytes, at most %zu)", n,
                      spec->size - 1);
    if (n == 0 && (spec->flags & CONFIG_VALUE_NONEMPTY))
        return refuse(ctx, "must not be empty");
    config_value_copy(field(spec, base), spec->size, text);
    return 0;
}

static int set_topic(struct config_value_ctx *ctx,
                     const struct config_value_spec *spec, char *text,
                     void *base)
{
    int rc = set_str(ctx, spec, text, base);

    if (rc < 0)
        return rc;
    if (mosquitto_validate_utf8(text, (int) strlen(text)) != MOSQ_ERR_SUCCESS ||
        mosquitto_sub_topic_check(text) != MOSQ_ERR_SUCCESS)
        return refuse(ctx,
                      "'%s' is not an MQTT topic filter ('+' and '#' stand "
                      "for whole levels, '#' only for the last)",
                      text);
    return 0;
}

static int set_group(struct config_value_ctx *ctx,
                     const struct config_value_spec *spec, char *text,
                     void *base)
{
    if (strpbrk(text, "/+#") != NULL)
        return refuse(
            ctx, "'%s': a share group must not contain '/', '+' or '#'", text);
    return set_str(ctx, spec, text, base);
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

static int set_field(struct config_value_ctx *ctx,
                     const struct config_value_spec *spec, char *text,
                     void *base)
{
    if (*text != '\0' && !path_ok(text))
        return refuse(ctx,
                      "'%s' is not a field path (names joined by '.', as in "
                      "env.temp)",
                      text);
    return set_str(ctx, spec, text, base);
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

/* One item of a fields list, checked against the n before it. */
static int check_field_item(struct config_value_ctx *ctx,
                            const struct config_sub *sub, unsigned n,
                            const char *item)
{
    if (n == CONFIG_MAX_FIELDS)
        return refuse(ctx, "more than %d fields", CONFIG_MAX_FIELDS);
    if (strlen(item) >= CONFIG_STR_MAX)
        return refuse(ctx, "field %u is too long (at most %d bytes)", n + 1,
                      CONFIG_STR_MAX - 1);
    if (!path_ok(item))
        return refuse(ctx,
                      "'%s' is not a field path (names joined by '.', as "
                      "in env.temp; fields are separated by commas)",
                      item);
    if (field_listed(sub, n, item))
        return refuse(ctx, "'%s' is listed twice", item);
    return 0;
}

/* base is the struct config_sub: the list and its count both live there. */
static int set_fields(struct config_value_ctx *ctx,
                      const struct config_value_spec *spec, char *text,
                      void *base)
{
    struct config_sub *sub = base;
    char *cur = *text != '\0' ? text : NULL;
    char *item;
    unsigned n = 0;

    assert(spec->size == sizeof(sub->fields));
    memset(sub->fields, 0, sizeof(sub->fields));
    while ((item = list_next(&cur)) != NULL) {
        if (check_field_item(ctx, sub, n, item) < 0)
            return -EINVAL;
        config_value_copy(sub->fields[n++], CONFIG_STR_MAX, item);
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

static int set_template(struct config_value_ctx *ctx,
                        const struct config_value_spec *spec, char *text,
                        void *base)
{
    const char *lv = text;
    const char *end;
    const char *why;

    while (*text != '\0') {
        end = strchr(lv, '/');
        why = level_check(text, lv,
                          end != NULL ? (size_t) (end - lv) : strlen(lv),
                          end == NULL);
        if (why != NULL)
            return refuse(ctx, "'%s': %s", text, why);
        if (end == NULL)
            break;
        lv = end + 1;
    }
    return set_str(ctx, spec, text, base);
}

/* ---- scalars ------------------------------------------------------------ */

static int set_bool(struct config_value_ctx *ctx,
                    const struct config_value_spec *spec, char *text,
                    void *base)
{
    bool b;
    int v;

    if (enum_find(bool_names, text, &v) < 0)
        return refuse(ctx,
                      "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
                      text);
    b = v != 0;
    store(field(spec, base), spec->size, &b, sizeof(b));
    return 0;
}

static int set_uint(struct config_value_ctx *ctx,
                    const struct config_value_spec *spec, char *text,
                    void *base)
{
    uint64_t v;

    if (parse_u64(text, &v) < 0)
        return refuse(ctx, "'%s' is not a whole number", text);
    if (v < spec->min || v > spec->max)
        return refuse(ctx, "%s is out of range (%" PRIu64 "..%" PRIu64 ")",
                      text, spec->min, spec->max);
    store_uint(field(spec, base), spec->size, v);
    return 0;
}

/* A duration or size within the spec's bounds. */
static int parse_bounded(struct config_value_ctx *ctx,
                         const struct config_value_spec *spec, const char *text,
                         uint64_t *out)
{
    bool is_size = spec->type == VALUE_SIZE;
    enum units_kind units = is_size ? UNITS_SIZE : UNITS_DURATION;
    uint64_t bare = is_size || (spec->flags & CONFIG_VALUE_BARE_MS) ? 1 : MS_S;
    char lo[32];
    char hi[32];

    if (units_parse(text, units, bare, out) < 0)
        return refuse(ctx,
                      is_size ? "'%s' is not a size (as in 512B, 64KiB, 8MiB, "
                                "1GiB, 1MB)"
                              : "'%s' is not a duration (as in 250ms, 90s, "
                                "5m, 2h, 7d, 1w, 2y)",
                      text);
    if (*out < spec->min || *out > spec->max) {
        units_format(spec->min, units, lo, sizeof(lo));
        units_format(spec->max, units, hi, sizeof(hi));
        return refuse(ctx, "'%s' is out of range (%s..%s)", text, lo, hi);
    }
    return 0;
}

static int set_scaled(struct config_value_ctx *ctx,
                      const struct config_value_spec *spec, char *text,
                      void *base)
{
    uint64_t v;
    int rc = parse_bounded(ctx, spec, text, &v);

    if (rc == 0)
        store(field(spec, base), spec->size, &v, sizeof(v));
    return rc;
}

static int set_duration_s(struct config_value_ctx *ctx,
                          const struct config_value_spec *spec, char *text,
                          void *base)
{
    uint64_t ms;
    int rc = parse_bounded(ctx, spec, text, &ms);

    if (rc < 0)
        return rc;
    if (ms % MS_S != 0)
        return refuse(ctx, "'%s' is not a whole number of seconds", text);
    store_uint(field(spec, base), spec->size, ms / MS_S);
    return 0;
}

static int set_enum(struct config_value_ctx *ctx,
                    const struct config_value_spec *spec, char *text,
                    void *base)
{
    char names[128];
    size_t pos = 0;
    int v;

    if (enum_find(spec->names, text, &v) == 0) {
        store(field(spec, base), spec->size, &v, sizeof(v));
        return 0;
    }
    for (const struct config_value_name *e = spec->names; e->name != NULL; e++)
        config_value_append(names, sizeof(names), &pos, "%s%s",
                            pos > 0 ? ", " : "", e->name);
    return refuse(ctx, "'%s' is not one of %s", text, names);
}

static int set_level(struct config_value_ctx *ctx,
                     const struct config_value_spec *spec, char *text,
                     void *base)
{
    int level;

    if (log_level_parse(text, &level) < 0)
        return refuse(ctx,
                      "'%s' is not a log level (err, warning, notice, info, "
                      "debug)",
                      text);
    store(field(spec, base), spec->size, &level, sizeof(level));
    return 0;
}

/* ---- resolutions and retention ------------------------------------------ */

/* A bucket size: a duration of whole seconds, at least 1s. */
static int parse_resolution(struct config_value_ctx *ctx, const char *s,
                            unsigned *out_s)
{
    uint64_t ms;

    if (units_parse_duration_ms(s, &ms) < 0 || ms == 0 || ms % MS_S != 0 ||
        ms / MS_S > UINT_MAX)
        return refuse(ctx,
                      "resolution '%s' is not a whole number of seconds "
                      "(at least 1s, as in 10s, 1m, 1h)",
                      s);
    *out_s = (unsigned) (ms / MS_S);
    return 0;
}

/* The resolution after prev (0 before the first): coarser, a multiple. */
static int check_resolution_step(struct config_value_ctx *ctx, const char *item,
                                 unsigned prev, unsigned res)
{
    if (prev == 0)
        return 0;
    if (res <= prev)
        return refuse(ctx,
                      "'%s' is not larger than the one before it "
                      "(resolutions go from fine to coarse)",
                      item);
    if (res % prev != 0)
        return refuse(ctx, "'%s' is not a multiple of the one before it", item);
    return 0;
}

/* base is the struct config: the count is aggregate.n_resolutions. */
static int set_resolutions(struct config_value_ctx *ctx,
                           const struct config_value_spec *spec, char *text,
                           void *base)
{
    unsigned res[CONFIG_MAX_RESOLUTIONS] = {0};
    unsigned n = 0;
    char *cur = *text != '\0' ? text : NULL;
    char *item;

    while ((item = list_next(&cur)) != NULL) {
        if (n == CONFIG_MAX_RESOLUTIONS)
            return refuse(ctx, "more than %d resolutions",
                          CONFIG_MAX_RESOLUTIONS);
        if (parse_resolution(ctx, item, &res[n]) < 0 ||
            check_resolution_step(ctx, item, n > 0 ? res[n - 1] : 0, res[n]) <
                0)
            return -EINVAL;
        n++;
    }
    if (n == 0)
        return refuse(ctx, "needs at least one resolution");
    store(field(spec, base), spec->size, res, sizeof(res));
    ((struct config *) base)->aggregate.n_resolutions = n;
    return 0;
}

/* One "RESOLUTION:DURATION" of retention, added to ctx->ret. */
static int add_retention(struct config_value_ctx *ctx,
                         const struct config_value_spec *spec, char *item)
{
    char *colon = strchr(item, ':');
    struct config_value_retention *e = &ctx->ret[ctx->n_ret];
    char *keep;

    if (colon == NULL)
        return refuse(ctx, "'%s' should read RESOLUTION:DURATION, as in 1m:30d",
                      item);
    if (ctx->n_ret == CONFIG_MAX_RESOLUTIONS)
        return refuse(ctx, "more than %d entries", CONFIG_MAX_RESOLUTIONS);
    *colon = '\0';
    item = config_value_trim(item);
    keep = config_value_trim(colon + 1);
    if (parse_resolution(ctx, item, &e->res_s) < 0)
        return -EINVAL;
    if (units_parse_duration_ms(keep, &e->keep_ms) < 0 ||
        e->keep_ms > spec->max)
        return refuse(ctx, "'%s' is not a duration up to 100y (0 keeps all)",
                      keep);
    for (unsigned i = 0; i < ctx->n_ret; i++) {
        if (ctx->ret[i].res_s == e->res_s)
            return refuse(ctx, "'%s' is listed twice", item);
    }
    ctx->n_ret++;
    return 0;
}

/* "10s:2d, 1h:2y": kept in ctx until the resolutions are known. */
static int set_retention(struct config_value_ctx *ctx,
                         const struct config_value_spec *spec, char *text,
                         void *base)
{
    char *cur = *text != '\0' ? text : NULL;
    char *item;
    int rc = 0;

    (void) base; /* config.c resolves the entries at the end of the file */
    while (rc == 0 && (item = list_next(&cur)) != NULL)
        rc = add_retention(ctx, spec, item);
    return rc;
}

/* ---- printers ----------------------------------------------------------- */

static void print_fields(const struct config_sub *sub, char *buf, size_t len)
{
    size_t pos = 0;

    for (unsigned i = 0; i < sub->n_fields && i < CONFIG_MAX_FIELDS; i++)
        config_value_append(buf, len, &pos, "%s%s", i > 0 ? ", " : "",
                            sub->fields[i]);
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
        units_format_duration(cfg->aggregate.resolutions_s[i] * MS_S, res,
                              sizeof(res));
        units_format_duration(cfg->store.retention_ms[i], keep, sizeof(keep));
        config_value_append(buf, len, &pos, "%s%s%s%s", pos > 0 ? ", " : "",
                            res, retention ? ":" : "", retention ? keep : "");
    }
}

/* ---- dispatch ----------------------------------------------------------- */

typedef int (*value_setter)(struct config_value_ctx *ctx,
                            const struct config_value_spec *spec, char *text,
                            void *base);

static const value_setter setters[VALUE_COUNT] = {
    [VALUE_STR] = set_str,
    [VALUE_BOOL] = set_bool,
    [VALUE_UINT] = set_uint,
    [VALUE_DURATION] = set_scaled,
    [VALUE_DURATION_S] = set_duration_s,
    [VALUE_SIZE] = set_scaled,
    [VALUE_ENUM] = set_enum,
    [VALUE_LEVEL] = set_level,
    [VALUE_TOPIC] = set_topic,
    [VALUE_GROUP] = set_group,
    [VALUE_FIELD] = set_field,
    [VALUE_FIELDS] = set_fields,
    [VALUE_TEMPLATE] = set_template,
    [VALUE_RESOLUTIONS] = set_resolutions,
    [VALUE_RETENTION] = set_retention,
};

int config_value_set(struct config_value_ctx *ctx,
                     const struct config_value_spec *spec, char *text,
                     void *base)
{
    assert(spec->type < VALUE_COUNT);
    return setters[spec->type](ctx, spec, text, base);
}

void config_value_print(const struct config_value_spec *spec,
                        const struct config *cfg, const void *base, char *buf,
                        size_t len)
{
    const void *f = field_c(spec, base);
    size_t pos = 0;
    bool b;

    assert(spec->type < VALUE_COUNT);
    switch (spec->type) {
    case VALUE_BOOL:
        load(&b, sizeof(b), f, spec->size);
        config_value_append(buf, len, &pos, "%s", b ? "true" : "false");
        break;
    case VALUE_UINT:
        config_value_append(buf, len, &pos, "%u", load_uint(f, spec->size));
        break;
    case VALUE_DURATION:
        units_format_duration(load_u64(f, spec->size), buf, len);
        break;
    case VALUE_DURATION_S:
        units_format_duration(load_uint(f, spec->size) * MS_S, buf, len);
        break;
    case VALUE_SIZE:
        units_format_size(load_u64(f, spec->size), buf, len);
        break;
    case VALUE_ENUM:
        config_value_append(
            buf, len, &pos, "%s",
            config_value_name_of(spec->names, load_int(f, spec->size)));
        break;
    case VALUE_LEVEL:
        config_value_append(buf, len, &pos, "%s",
                            log_level_str(load_int(f, spec->size)));
        break;
    case VALUE_FIELDS:
        print_fields(base, buf, len);
        break;
    case VALUE_RESOLUTIONS:
    case VALUE_RETENTION:
        print_res_list(cfg, spec->type == VALUE_RETENTION, buf, len);
        break;
    case VALUE_STR:
    case VALUE_TOPIC:
    case VALUE_GROUP:
    case VALUE_FIELD:
    case VALUE_TEMPLATE:
    case VALUE_COUNT: /* not a type; the assert above */
        config_value_append(buf, len, &pos, "%s", (const char *) f);
        break;
    }
}
