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

size_t tags_json_escape(char *out, size_t pos, size_t cap, const char *s,
                        size_t len)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            if (cap - pos < 2)
                return SIZE_MAX;
            out[pos++] = '\\';
            out[pos++] = (char) c;
        } else if (c < 0x20) {
            if (cap - pos < 6)
                return SIZE_MAX;
            memcpy(out + pos, "\\u00", 4);
            out[pos + 4] = hex[c >> 4];
            out[pos + 5] = hex[c & 15];
            pos += 6;
        } else {
            if (cap - pos < 1)
                return SIZE_MAX;
            out[pos++] = (char) c;
        }
    }
    return pos;
}

/* Length of the level starting at s (up to '/' or end). */
static size_t level_len(const char *s, size_t left)
{
    const char *slash = memchr(s, '/', left);

    return slash ? (size_t) (slash - s) : left;
}

/* Appends "name":"value" (with a leading comma unless first). */
static size_t append_pair(char *out, size_t pos, size_t cap, bool first,
                          const char *name, size_t name_len,
                          const char *value, size_t value_len)
{
    if (pos == SIZE_MAX || cap - pos < 6)
        return SIZE_MAX;
    if (!first)
        out[pos++] = ',';
    out[pos++] = '"';
    pos = tags_json_escape(out, pos, cap, name, name_len);
    if (pos == SIZE_MAX || cap - pos < 3)
        return SIZE_MAX;
    memcpy(out + pos, "\":\"", 3);
    pos = tags_json_escape(out, pos + 3, cap, value, value_len);
    if (pos == SIZE_MAX || cap - pos < 1)
        return SIZE_MAX;
    out[pos++] = '"';
    return pos;
}

/* True when extra (a JSON object text) already has key "name". */
static bool extra_has(const char *extra, size_t extra_len, const char *name,
                      size_t name_len)
{
    for (size_t i = 0; i + name_len + 3 <= extra_len; i++) {
        if (extra[i] == '"' && memcmp(extra + i + 1, name, name_len) == 0 &&
            extra[i + 1 + name_len] == '"' &&
            extra[i + 2 + name_len] == ':')
            return true;
    }
    return false;
}

/* Appends the pairs that tmpl names in topic. */
static size_t append_topic_tags(char *out, size_t pos, size_t cap,
                                bool first, const char *tmpl,
                                const char *topic, size_t topic_len,
                                const char *extra, size_t extra_len)
{
    size_t tl = strlen(tmpl);

    while (tl > 0 && topic_len > 0 && pos != SIZE_MAX) {
        size_t a = level_len(tmpl, tl);
        size_t b = level_len(topic, topic_len);
        if (a == 1 && tmpl[0] == '#')
            break;
        if (a > 2 && tmpl[0] == '{' && tmpl[a - 1] == '}' &&
            !extra_has(extra, extra_len, tmpl + 1, a - 2)) {
            pos = append_pair(out, pos, cap, first, tmpl + 1, a - 2, topic,
                              b);
            first = false;
        }
        /* Step past the level and its '/'; a last level ends the walk. */
        if (a == tl || b == topic_len)
            break;
        tmpl += a + 1;
        tl -= a + 1;
        topic += b + 1;
        topic_len -= b + 1;
    }
    return pos;
}

int tags_build(const char *tmpl, const char *topic, size_t topic_len,
               const char *extra, size_t extra_len, char *out,
               size_t out_len)
{
    size_t pos = 0;
    bool first = true;

    if (out_len < 3)
        return -ENOSPC;
    if (extra == NULL)
        extra_len = 0;
    out[pos++] = '{';
    if (extra_len > 2) {
        /* extra is "{...}": copy its members. */
        if (extra_len - 2 > out_len - 3)
            return -ENOSPC;
        memcpy(out + pos, extra + 1, extra_len - 2);
        pos += extra_len - 2;
        first = false;
    }
    pos = append_topic_tags(out, pos, out_len, first, tmpl, topic,
                            topic_len, extra, extra_len);
    if (pos == SIZE_MAX || out_len - pos < 2)
        return -ENOSPC;
    if (pos == 1) {
        out[0] = '\0';
        return 0;
    }
    out[pos++] = '}';
    out[pos] = '\0';
    return (int) pos;
}
