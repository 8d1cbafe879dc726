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

/* The template's {name} levels walked against the topic's levels. */
struct tag_walk {
    const char *tmpl;
    size_t tl;
    const char *topic;
    size_t left;
    bool done;
};

static void walk_init(struct tag_walk *wk, const struct tags_src *src)
{
    wk->tmpl = src->tmpl;
    wk->tl = strlen(src->tmpl);
    wk->topic = src->topic;
    wk->left = src->topic_len;
    wk->done = false;
}

/* The next topic tag: name[0..*name_len) = value[0..*value_len). */
static bool walk_next(struct tag_walk *wk, const char **name, size_t *name_len,
                      const char **value, size_t *value_len)
{
    while (!wk->done && wk->tl > 0 && wk->left > 0) {
        const char *t = wk->tmpl;
        const char *v = wk->topic;
        size_t a = level_len(t, wk->tl);
        size_t n = level_len(v, wk->left);

        if (a == 1 && t[0] == '#')
            break;
        /* Step past the level and its '/'; a last level ends the walk. */
        if (a == wk->tl || n == wk->left) {
            wk->done = true;
        } else {
            wk->tmpl += a + 1;
            wk->tl -= a + 1;
            wk->topic += n + 1;
            wk->left -= n + 1;
        }
        if (a > 2 && t[0] == '{' && t[a - 1] == '}') {
            *name = t + 1;
            *name_len = a - 2;
            *value = v;
            *value_len = n;
            return true;
        }
    }
    wk->done = true;
    return false;
}

/* True when the topic gives a tag named key[0..len) (key as JSON text;
 * template names are words, so they need no escaping). */
static bool topic_has_tag(const struct tags_src *src, const char *key,
                          size_t len)
{
    struct tag_walk wk;
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;

    walk_init(&wk, src);
    while (walk_next(&wk, &name, &name_len, &value, &value_len))
        if (name_len == len && memcmp(name, key, len) == 0)
            return true;
    return false;
}

/* One past the JSON string that opens at s, or NULL when it does not end
 * before end. */
static const char *string_end(const char *s, const char *end)
{
    if (s >= end || *s != '"')
        return NULL;
    for (s++; s < end; s++) {
        if (*s == '\\')
            s++;
        else if (*s == '"')
            return s + 1;
    }
    return NULL;
}

/* The member ("key":"value") at p, before end: *key_end is one past the
 * key's closing quote, *val_end one past the value's. False when the text
 * is not a member (not the decoder's text: nothing more is read). */
static bool next_member(const char *p, const char *end, const char **key_end,
                        const char **val_end)
{
    *key_end = string_end(p, end);
    if (*key_end == NULL || *key_end >= end || **key_end != ':')
        return false;
    *val_end = string_end(*key_end + 1, end);
    return *val_end != NULL;
}

static void put_raw(struct jbuf *b, const char *p, const char *end)
{
    if (!b->first)
        put_char(b, ',');
    b->first = false;
    for (; p < end; p++)
        put_char(b, *p);
}

/*
 * Walks the members of the object src->extra and copies each into b (when
 * b is not NULL) unless the topic gives a tag of the same name. Returns
 * how many members the topic replaced.
 */
static unsigned walk_extra(const struct tags_src *src, struct jbuf *b)
{
    const char *p = src->extra + 1;
    const char *end = src->extra + src->extra_len - 1; /* the '}' */
    const char *key_end;
    const char *val_end;
    unsigned replaced = 0;

    while (p < end && next_member(p, end, &key_end, &val_end)) {
        if (topic_has_tag(src, p + 1, (size_t) (key_end - p - 2)))
            replaced++;
        else if (b != NULL)
            put_raw(b, p, val_end);
        p = val_end < end && *val_end == ',' ? val_end + 1 : val_end;
    }
    return replaced;
}

unsigned tags_conflicts(const struct tags_src *src)
{
    if (src->extra == NULL || src->extra_len <= 2 || src->tmpl[0] == '\0')
        return 0;
    return walk_extra(src, NULL);
}

/* Appends the pairs the template names in the topic. */
static void put_topic_tags(struct jbuf *b, const struct tags_src *src)
{
    struct tag_walk wk;
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;

    walk_init(&wk, src);
    while (walk_next(&wk, &name, &name_len, &value, &value_len))
        put_pair(b, name, name_len, value, value_len);
}

int tags_build(const struct tags_src *src, char *out, size_t out_len)
{
    struct jbuf b = {out, 0, out_len, true};

    if (out_len < 3)
        return -ENOSPC;
    put_char(&b, '{');
    if (src->extra != NULL && src->extra_len > 2)
        (void) walk_extra(src, &b);
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
