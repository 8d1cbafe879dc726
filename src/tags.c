/*
 * tags.c - series tags from topic templates, as JSON text.
 *
 * Threads: pure functions on caller buffers.
 * Invariants: the output is always one valid JSON object, or nothing.
 * Memory: none.
 */
#include "tags.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Output being built. pos == SIZE_MAX once something did not fit. */
struct jbuf {
    char *out;
    size_t pos;
    size_t cap;
    bool first; /* no member written yet */
};

size_t tags_json_escape(char *out, size_t pos, size_t cap, const char *s,
                        size_t len)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len && pos != SIZE_MAX; i++) {
        unsigned char c = (unsigned char) s[i];
        size_t need = c == '"' || c == '\\' ? 2 : c < 0x20 ? 6 : 1;
        if (cap - pos < need)
            return SIZE_MAX;
        if (need == 2)
            out[pos++] = '\\';
        if (need == 6) {
            out[pos++] = '\\';
            out[pos++] = 'u';
            out[pos++] = '0';
            out[pos++] = '0';
            out[pos++] = hex[c >> 4];
            c = (unsigned char) hex[c & 15];
        }
        out[pos++] = (char) c;
    }
    return pos;
}

static void put_char(struct jbuf *b, char c)
{
    if (b->pos == SIZE_MAX || b->cap - b->pos < 1)
        b->pos = SIZE_MAX;
    else
        b->out[b->pos++] = c;
}

static void put_string(struct jbuf *b, const char *s, size_t len)
{
    put_char(b, '"');
    if (b->pos != SIZE_MAX)
        b->pos = tags_json_escape(b->out, b->pos, b->cap, s, len);
    put_char(b, '"');
}

/* Appends "name":"value", with a comma unless it is the first member. */
static void put_pair(struct jbuf *b, const char *name, size_t name_len,
                     const char *value, size_t value_len)
{
    if (!b->first)
        put_char(b, ',');
    b->first = false;
    put_string(b, name, name_len);
    put_char(b, ':');
    put_string(b, value, value_len);
}

/* Length of the level starting at s (up to '/' or end). */
static size_t level_len(const char *s, size_t left)
{
    const char *slash = memchr(s, '/', left);

    return slash ? (size_t) (slash - s) : left;
}

/* True when extra (a JSON object text) already has key "name". */
static bool extra_has(const struct tags_src *src, const char *name,
                      size_t name_len)
{
    const char *x = src->extra;

    for (size_t i = 0; x && i + name_len + 3 <= src->extra_len; i++)
        if (x[i] == '"' && memcmp(x + i + 1, name, name_len) == 0 &&
            x[i + 1 + name_len] == '"' && x[i + 2 + name_len] == ':')
            return true;
    return false;
}

/* Appends the pairs the template names in the topic. */
static void put_topic_tags(struct jbuf *b, const struct tags_src *src)
{
    const char *tmpl = src->tmpl;
    const char *topic = src->topic;
    size_t tl = strlen(tmpl);
    size_t left = src->topic_len;

    while (tl > 0 && left > 0) {
        size_t a = level_len(tmpl, tl);
        size_t n = level_len(topic, left);
        if (a == 1 && tmpl[0] == '#')
            break;
        if (a > 2 && tmpl[0] == '{' && tmpl[a - 1] == '}' &&
            !extra_has(src, tmpl + 1, a - 2))
            put_pair(b, tmpl + 1, a - 2, topic, n);
        /* Step past the level and its '/'; a last level ends the walk. */
        if (a == tl || n == left)
            break;
        tmpl += a + 1;
        tl -= a + 1;
        topic += n + 1;
        left -= n + 1;
    }
}

int tags_build(const struct tags_src *src, char *out, size_t out_len)
{
    struct jbuf b = {out, 0, out_len, true};

    if (out_len < 3)
        return -ENOSPC;
    put_char(&b, '{');
    if (src->extra != NULL && src->extra_len > 2) {
        /* extra is "{...}": copy its members as they are. */
        if (src->extra_len - 2 > out_len - 3)
            return -ENOSPC;
        memcpy(out + 1, src->extra + 1, src->extra_len - 2);
        b.pos += src->extra_len - 2;
        b.first = false;
    }
    put_topic_tags(&b, src);
    if (b.pos == SIZE_MAX || out_len - b.pos < 2)
        return -ENOSPC;
    if (b.first) {
        out[0] = '\0';
        return 0;
    }
    out[b.pos++] = '}';
    out[b.pos] = '\0';
    return (int) b.pos;
}
