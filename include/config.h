/*
 * config.h - the daemon's settings, loaded from one INI file.
 *
 * struct config is plain data with fixed-size arrays: no pointers to free,
 * so it can be copied, compared and swapped on reload. Every key, its type
 * and bounds live in one table in config_keys.c (defaults in
 * config_defaults(), in config.c); the structs are in config_types.h;
 * config_value.h parses and prints each type of value;
 * config/sensorpipe.conf documents the same keys.
 *
 * Errors name the file, the line and the key: "FILE:LINE: key 'x': reason".
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler.h"
#include "config_types.h"

/*
 * Fills every field with its documented default (no subscriptions).
 * Thread: any.
 */
void config_defaults(struct config *cfg);

/*
 * Loads path over the defaults and validates the result (at least one
 * subscription, cross-key rules such as reconnect_min_ms <= reconnect_max_ms).
 * On failure cfg is unspecified and err holds one line "FILE:LINE: key 'x':
 * reason" (or "FILE: reason" when no line applies).
 * Returns: 0; -ENOENT, -EACCES or another -errno when the file cannot be read;
 * -EINVAL for any error in its content.
 * Thread: any. Allocates nothing that outlives the call.
 */
SP_MUST_CHECK int config_load(struct config *cfg, const char *path, char *err,
                              size_t errlen);

/* A configuration text in memory. Owner: the caller. */
struct config_text {
    const char *name; /* stands for the file name in errors */
    const char *text; /* need not be NUL-terminated */
    size_t len;
};

/*
 * Same as config_load() on text in memory. Used by config_load(), the fuzz
 * harness and tests. Borrows src until return.
 * Returns: 0 or -EINVAL.
 * Thread: any.
 */
SP_MUST_CHECK int config_parse_text(struct config *cfg,
                                    const struct config_text *src, char *err,
                                    size_t errlen);

/*
 * Prints the effective settings as a valid INI file, one "key = value" per
 * line, secrets masked (the password file's path is shown, never its
 * content). Thread: any.
 */
void config_print(const struct config *cfg, FILE *out);

/* Thread: any. "json", "number", "influx". */
const char *config_format_str(enum config_format f);

/*
 * Walks the key table: the name of key i and, in *section (when not NULL),
 * its section ("mqtt", "subscription", "pipeline", ...). Lets tests check
 * that config/sensorpipe.conf documents every key.
 * Returns: the key name, or NULL when i is past the last key.
 * Thread: any.
 */
const char *config_key_name(size_t i, const char **section);

#endif
