/*
 * config_value.h - the typed values of the configuration file: parsers that
 * turn the text of one value into its field, and printers that turn the
 * field back into text the parser takes.
 *
 * This module knows nothing of files, lines, sections or key names: config.c
 * owns the INI syntax and the key table, and each row of that table carries
 * a struct config_value_spec saying what its value is and where it lives.
 * A refused value leaves the reason in struct config_value_ctx; config.c
 * puts "FILE:LINE: key 'x': " in front of it.
 */
#ifndef SP_CONFIG_VALUE_H
#define SP_CONFIG_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "config_types.h"
#include "units.h"

/* Durations are stored in milliseconds, sizes in bytes (units.h). */

/* The longest value is one line of the file, NUL included. */
#define CONFIG_VALUE_LINE_MAX 8192
/* A reason quotes the value once, plus at most a few hundred bytes. */
#define CONFIG_VALUE_WHY_MAX (CONFIG_VALUE_LINE_MAX + 512)

/* Flags of a config_value_spec. */
#define CONFIG_VALUE_NONEMPTY 0x01u /* a string must not be "" */
#define CONFIG_VALUE_BARE_MS  0x02u /* a bare number is ms, not seconds */

enum config_value_type {
    VALUE_STR,
    VALUE_BOOL,
    VALUE_UINT,
    VALUE_DURATION,    /* uint64_t milliseconds */
    VALUE_DURATION_S,  /* unsigned whole seconds */
    VALUE_SIZE,        /* uint64_t bytes */
    VALUE_ENUM,        /* an int-sized enum, by name from spec.names */
    VALUE_LEVEL,       /* int syslog level, by log_level_parse() */
    VALUE_TOPIC,       /* MQTT subscription filter */
    VALUE_GROUP,       /* shared subscription group */
    VALUE_FIELD,       /* one dotted JSON path, or "" */
    VALUE_FIELDS,      /* config_sub.fields and n_fields */
    VALUE_TEMPLATE,    /* topic_tags */
    VALUE_RESOLUTIONS, /* aggregate.resolutions_s and n_resolutions */
    VALUE_RETENTION,   /* kept in the ctx until the resolutions are known */
    VALUE_COUNT,
};

/* One spelling of an enum value. Owner: static name tables (read-only). */
struct config_value_name {
    const char *name; /* the first name of a value is the one printed */
    int value;
};

/*
 * What a value is and where it is stored. Owner: config.c's key table
 * (read-only).
 */
struct config_value_spec {
    enum config_value_type type;
    unsigned flags; /* CONFIG_VALUE_NONEMPTY, CONFIG_VALUE_BARE_MS */
    uint64_t min;   /* numeric bounds, in the stored unit (ms, bytes) */
    uint64_t max;
    size_t off;  /* of the field in struct config, or struct config_sub */
    size_t size; /* of the field */
    const struct config_value_name *names; /* VALUE_ENUM only, NULL-ended */
};

/* One "RESOLUTION:DURATION" of retention as written. Owner: its ctx. */
struct config_value_retention {
    unsigned res_s;
    uint64_t keep_ms;
};

/* State of one parse that outlives a value. Owner: the parser's stack. */
struct config_value_ctx {
    struct config_value_retention ret[CONFIG_MAX_RESOLUTIONS];
    unsigned n_ret;
    char why[CONFIG_VALUE_WHY_MAX]; /* the last refusal, never truncated */
};

/*
 * Parses text (a value of at most CONFIG_VALUE_LINE_MAX - 1 bytes, which
 * list parsing may cut up) into the field spec describes in base: a struct
 * config_sub for [subscription] keys, else the struct config.
 * VALUE_RESOLUTIONS also sets base's aggregate.n_resolutions, VALUE_FIELDS
 * base's n_fields; VALUE_RETENTION only appends to ctx->ret.
 * Returns: 0; -EINVAL with ctx->why set (the field may be half written).
 * Thread: any. Borrows everything until return.
 */
SP_MUST_CHECK int config_value_set(struct config_value_ctx *ctx,
                                   const struct config_value_spec *spec,
                                   char *text, void *base);

/*
 * Writes the field spec describes in base as text config_value_set() takes
 * back (cut to len - 1 bytes, NUL-terminated). cfg is the whole config:
 * resolutions and retention are printed from it.
 * Thread: any.
 */
void config_value_print(const struct config_value_spec *spec,
                        const struct config *cfg, const void *base, char *buf,
                        size_t len);

/* The first name of v in names, or "unknown". Thread: any. */
const char *config_value_name_of(const struct config_value_name *names, int v);

/* Strips blanks (space, tab) from both ends, in place; returns the start.
 * Thread: any. */
char *config_value_trim(char *s);

/* Copies s (shorter than size) into dst and zero-fills the rest of the
 * size bytes. Thread: any. */
void config_value_copy(char *dst, size_t size, const char *s);

/* Appends to buf at *pos, clamping *pos at len - 1 when the text is cut.
 * Thread: any. */
SP_PRINTF(4, 5)
void config_value_append(char *buf, size_t len, size_t *pos, const char *fmt,
                         ...);

#endif
