/*
 * config.c - the INI configuration: a line parser, the checks that need
 * the whole file, and the printer.
 *
 * config_keys[] (config_keys.c) lists every setting once: section, name,
 * flags, and the value's spec (type, bounds, and where it lives in struct
 * config or struct config_sub). Parsing, printing, the error messages and
 * config_key_name() all walk it, and a unit test compares it with
 * config/sensorpipe.conf, so code and docs cannot drift. What each type of
 * value accepts, and how it prints, is config_value.c's business; this file
 * reads lines, sections and "key = value", and checks the rules that tie keys
 * together.
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
 * Memory: config_parse_text() uses the stack only (one PARSE_LINE_MAX line
 * buffer and the CONFIG_VALUE_WHY_MAX reason buffer of its value context).
 * config_load() maps an anonymous CONFIG_FILE_MAX buffer for the file and
 * unmaps it before it returns; no malloc at all.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include "config_keys.h"
#include "config_value.h"

#define CONFIG_FILE_MAX (1u << 20)            /* larger files are refused */
#define PARSE_LINE_MAX  CONFIG_VALUE_LINE_MAX /* fits 16 quoted field paths */
#define PRINT_VALUE_MAX 8192

/* Shorthands for the key table and the cross-key checks. */
#define MS_S UNITS_MS_S
#define MS_M UNITS_MS_M
#define MS_H UNITS_MS_H
#define MS_D UNITS_MS_D
#define KIB  UNITS_KIB
#define MIB  UNITS_MIB

/* A ring record: payload, topic and its NUL, header. */
#define RECORD_TOPIC_MAX  (CONFIG_TOPIC_MAX + 1ull)
#define RECORD_HEADER_MAX 64ull
#define RING_MIN_RECORDS  4ull /* ring_max_record() is a quarter of a ring */

/* State of one parse. Owner: config_parse_text()'s stack. */
struct parser {
    struct config *cfg;
    const char *name; /* file name for messages */
    char *err;
    size_t errlen;
    unsigned line;
    enum config_section sec;
    struct config_sub *sub; /* the open [subscription], else NULL */
    unsigned
        seen[CONFIG_KEYS_COUNT]; /* line a key was given on; sub keys per sub */
    struct config_value_ctx val; /* retention entries, a value's refusal */
};

/* ---- small helpers ------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_word(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_';
}

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
    config_value_append(p->err, p->errlen, &pos, "%s", p->name);
    if (line > 0)
        config_value_append(p->err, p->errlen, &pos, ":%u", line);
    config_value_append(p->err, p->errlen, &pos, ": ");
    if (key != NULL)
        config_value_append(p->err, p->errlen, &pos, "key '%s': ", key);
    va_start(ap, fmt);
    if (pos < p->errlen - 1)
        vsnprintf(p->err + pos, p->errlen - pos, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* ---- the line parser ---------------------------------------------------- */

static size_t key_index(enum config_section sec, const char *key)
{
    for (size_t i = 0; i < CONFIG_KEYS_COUNT; i++) {
        if (config_keys[i].sec == sec && strcmp(config_keys[i].key, key) == 0)
            return i;
    }
    return CONFIG_KEYS_COUNT;
}

/* The table row named in a cross-check; a missing one is a typo here. */
static size_t key_row(enum config_section sec, const char *key)
{
    size_t i = key_index(sec, key);

    assert(i < CONFIG_KEYS_COUNT);
    return i;
}

/* The struct a key's value lives in: the open subscription or the config. */
static void *key_base(struct parser *p, const struct config_key *k)
{
    return k->sec == SEC_SUB ? (void *) p->sub : (void *) p->cfg;
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
static bool key_fits_format(const struct config_key *k, enum config_format f)
{
    if ((k->flags & KEY_JSON) && f != FORMAT_JSON)
        return false;
    return !(k->flags & KEY_INFLUX) || f == FORMAT_INFLUX;
}

/* Required keys and format-specific keys of the [subscription] ending. */
static int check_sub(struct parser *p)
{
    const struct config_sub *sub = p->sub;

    for (size_t i = 0; i < CONFIG_KEYS_COUNT; i++) {
        const struct config_key *k = &config_keys[i];

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
    config_value_copy(p->sub->name, sizeof(p->sub->name), name);
    p->sub->line = p->line;
    for (size_t i = 0; i < CONFIG_KEYS_COUNT; i++) {
        if (config_keys[i].sec == SEC_SUB)
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
    rest = config_value_trim(end + 1);
    if (*rest != '\0' && *rest != '#' && *rest != ';')
        return fail(p, p->line, NULL, "unexpected text after ']'");
    *end = '\0';
    s = config_value_trim(s + 1);
    rc = end_section(p);
    if (rc < 0)
        return rc;
    if (strncmp(s, "subscription", 12) == 0 &&
        (s[12] == '\0' || is_space(s[12])))
        return start_sub(p, config_value_trim(s + 12));
    for (int sec = SEC_MQTT; sec < SEC_COUNT; sec++) {
        if (sec != SEC_SUB && strcmp(s, config_section_names[sec]) == 0) {
            p->sec = (enum config_section) sec;
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

    s = config_value_trim(s);
    if (*s != '"') {
        cut_comment(s);
        *out = config_value_trim(s);
        return 0;
    }
    for (r = s + 1, w = s; *r != '\0' && *r != '"'; *w++ = *r++) {
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
    }
    if (*r != '"')
        return fail(p, p->line, key, "missing '\"' at the end of the value");
    *w = '\0';
    r = config_value_trim(r + 1);
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
    key = config_value_trim(s);
    if (*key == '\0')
        return fail(p, p->line, NULL, "missing key before '='");
    if (p->sec == SEC_NONE)
        return fail(p, p->line, key,
                    "outside any section (start with a header such as "
                    "[mqtt])");
    i = key_index(p->sec, key);
    if (i == CONFIG_KEYS_COUNT)
        return fail(p, p->line, key, "unknown key in [%s]",
                    config_section_names[p->sec]);
    if (p->seen[i] != 0)
        return fail(p, p->line, key, "given twice (first on line %u)",
                    p->seen[i]);
    if (parse_value(p, key, eq + 1, &val) < 0)
        return -EINVAL;
    p->seen[i] = p->line;
    if (config_value_set(&p->val, &config_keys[i].v, val,
                         key_base(p, &config_keys[i])) < 0)
        return fail(p, p->line, key, "%s", p->val.why);
    return 0;
}

static int parse_line(struct parser *p, char *s)
{
    s = config_value_trim(s);
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
    units_format_duration(p->cfg->mqtt.reconnect_min_ms, a, sizeof(a));
    units_format_duration(p->cfg->mqtt.reconnect_max_ms, b, sizeof(b));
    return fail(p, p->seen[i], config_keys[i].key,
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
    units_format_size(p->cfg->pipeline.ring_bytes, ring, sizeof(ring));
    units_format_size(payload, max, sizeof(max));
    units_format_size(SP_ALIGN_UP(need, KIB), min, sizeof(min));
    return fail(p, p->seen[i], config_keys[i].key,
                "ring_bytes = %s cannot hold 4 of the largest records "
                "(max_payload_bytes = %s + 64KiB topic + 64B header each), and "
                "a ring must hold at least 4: set ring_bytes >= %s or lower "
                "max_payload_bytes",
                ring, max, min);
}

/* A series must not leave while a bucket it fed may still take samples:
 * series_idle_time >= the coarsest resolution + allowed_lateness (the
 * default is raised to that when it is below). */
static int check_idle(struct parser *p)
{
    struct config *cfg = p->cfg;
    size_t i = key_row(SEC_PIPELINE, "series_idle_time");
    uint64_t min =
        (uint64_t)
                cfg->aggregate.resolutions_s[cfg->aggregate.n_resolutions - 1] *
            MS_S +
        cfg->aggregate.allowed_lateness_ms;
    char a[32];
    char b[32];

    if (cfg->pipeline.series_idle_ms >= min)
        return 0;
    if (p->seen[i] == 0) {
        cfg->pipeline.series_idle_ms = min;
        return 0;
    }
    units_format_duration(cfg->pipeline.series_idle_ms, a, sizeof(a));
    units_format_duration(min, b, sizeof(b));
    return fail(p, p->seen[i], config_keys[i].key,
                "%s is shorter than the coarsest resolution plus "
                "allowed_lateness (%s): a series could leave while its "
                "buckets still take samples",
                a, b);
}

static int check_tls(struct parser *p)
{
    const struct config *cfg = p->cfg;
    bool cert = cfg->mqtt.tls_cert_file[0] != '\0';
    bool key = cfg->mqtt.tls_key_file[0] != '\0';
    size_t i;

    if (cert != key) {
        i = key_row(SEC_MQTT, cert ? "tls_cert_file" : "tls_key_file");
        return fail(p, p->seen[i], config_keys[i].key,
                    "tls_cert_file and tls_key_file go together: give both "
                    "or neither");
    }
    if ((cert || cfg->mqtt.tls_insecure) && cfg->mqtt.tls_ca_file[0] == '\0') {
        i = key_row(SEC_MQTT, cert ? "tls_cert_file" : "tls_insecure");
        return fail(p, p->seen[i], config_keys[i].key,
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
    return fail(p, p->seen[i], config_keys[i].key,
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
    for (unsigned i = 0; i < p->val.n_ret; i++) {
        const struct config_value_retention *e = &p->val.ret[i];

        for (j = 0; j < cfg->aggregate.n_resolutions; j++) {
            if (cfg->aggregate.resolutions_s[j] == e->res_s)
                break;
        }
        units_format_duration(e->res_s * MS_S, res, sizeof(res));
        if (j == cfg->aggregate.n_resolutions) {
            list[0] = '\0';
            config_value_print(
                &config_keys[key_row(SEC_AGGREGATE, "resolutions")].v, cfg, cfg,
                list, sizeof(list));
            return fail(p, p->seen[k], config_keys[k].key,
                        "%s is not one of the resolutions (%s)", res, list);
        }
        if (e->keep_ms != 0 && e->keep_ms < e->res_s * MS_S)
            return fail(p, p->seen[k], config_keys[k].key,
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
    end_section,       check_subs,   check_reconnect,
    check_ring,        check_tls,    check_store_memory,
    resolve_retention, default_port, check_idle,
};

/* ---- public functions --------------------------------------------------- */

static void default_client_id(char *buf, size_t size)
{
    char host[256];
    size_t pos = 0;

    if (gethostname(host, sizeof(host)) < 0)
        config_value_copy(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0'; /* gethostname may not terminate */
    config_value_append(buf, size, &pos, "sensorpipe-%s", host);
}

void config_defaults(struct config *cfg)
{
    static const unsigned res_s[] = {10, 60, 3600};

    memset(cfg, 0, sizeof(*cfg));
    config_value_copy(cfg->mqtt.host, sizeof(cfg->mqtt.host), "127.0.0.1");
    cfg->mqtt.port = 1883;
    default_client_id(cfg->mqtt.client_id, sizeof(cfg->mqtt.client_id));
    cfg->mqtt.keepalive_s = 60;
    cfg->mqtt.protocol = PROTOCOL_V5;
    cfg->mqtt.reconnect_min_ms = 500;
    cfg->mqtt.reconnect_max_ms = 30 * MS_S;
    cfg->pipeline.ring_bytes = 2 * MIB;
    cfg->pipeline.max_payload_bytes = 64 * KIB;
    cfg->pipeline.overflow = OVERFLOW_PAUSE;
    cfg->pipeline.max_series = 100000;
    cfg->pipeline.max_topic_bytes = KIB;
    cfg->pipeline.series_idle_ms = MS_D;
    memcpy(cfg->aggregate.resolutions_s, res_s, sizeof(res_s));
    cfg->aggregate.n_resolutions = SP_ARRAY_SIZE(res_s);
    cfg->aggregate.allowed_lateness_ms = MS_M;
    cfg->aggregate.max_clock_skew_ms = MS_H;
    config_value_copy(cfg->store.path, sizeof(cfg->store.path),
                      "./var/sensorpipe.db");
    cfg->store.commit_interval_ms = MS_S;
    cfg->store.batch_rows = 5000;
    cfg->store.cache_mb = 16;
    cfg->store.heap_limit_mb = 64;
    cfg->store.stop_timeout_ms = 50 * MS_S;
    cfg->log.level = LOG_INFO;
    cfg->log.stats_interval_s = 60;
}

/* Reads the lines of src into p->cfg, then runs the final steps. */
static int parse_lines(struct parser *p, const struct config_text *src)
{
    char line[PARSE_LINE_MAX];
    size_t pos = 0;
    int rc = 0;

    if (src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a UTF-8 byte order mark, as some editors write */
    while (pos < src->len && rc == 0) {
        rc = next_line(p, src->text, src->len, &pos, line);
        if (rc == 0)
            rc = parse_line(p, line);
    }
    for (size_t i = 0; i < SP_ARRAY_SIZE(final_steps) && rc == 0; i++)
        rc = final_steps[i](p);
    return rc;
}

int config_parse_text(struct config *cfg, const struct config_text *src,
                      char *err, size_t errlen)
{
    struct parser p = {
        .cfg = cfg, .name = src->name, .err = err, .errlen = errlen};

    config_defaults(cfg);
    if (strlen(src->name) >= sizeof(cfg->path))
        return fail(&p, 0, NULL, "file name too long (at most %zu bytes)",
                    sizeof(cfg->path) - 1);
    config_value_copy(cfg->path, sizeof(cfg->path), src->name);
    return parse_lines(&p, src);
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
        const struct config_text src = {.name = path, .text = buf, .len = len};

        rc = config_parse_text(cfg, &src, err, errlen);
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
                          enum config_section sec, FILE *out)
{
    const struct config_sub *sub = sec == SEC_SUB ? base : NULL;
    char buf[PRINT_VALUE_MAX];

    for (size_t i = 0; i < CONFIG_KEYS_COUNT; i++) {
        const struct config_key *k = &config_keys[i];

        if (k->sec != sec)
            continue;
        /* Keys for another format would be refused when read back. */
        if (sub != NULL && !key_fits_format(k, sub->format))
            continue;
        buf[0] = '\0';
        config_value_print(&k->v, cfg, base, buf, sizeof(buf));
        print_value(out, k->key, buf);
    }
}

void config_print(const struct config *cfg, FILE *out)
{
    fputs("# sensorpipe settings in effect\n", out);
    for (int sec = SEC_MQTT; sec < SEC_COUNT; sec++) {
        if (sec != SEC_SUB) {
            fprintf(out, "\n[%s]\n", config_section_names[sec]);
            print_section(cfg, cfg, (enum config_section) sec, out);
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
    return config_value_name_of(config_format_names, (int) f);
}

const char *config_key_name(size_t i, const char **section)
{
    if (i >= CONFIG_KEYS_COUNT)
        return NULL;
    if (section != NULL)
        *section = config_section_names[config_keys[i].sec];
    return config_keys[i].key;
}
