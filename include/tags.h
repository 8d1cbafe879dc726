/*
 * tags.h - a series' tags as JSON text: names taken from the topic by a
 * subscription's topic_tags template, merged with tags the payload carried
 * (line protocol).
 *
 *   template "sensors/{site}/{device}/#", topic "sensors/lab/dev1/temp"
 *   -> {"site":"lab","device":"dev1"}
 *
 * Runs once per new series, never per message; writes into the caller's
 * buffer and allocates nothing.
 */
#ifndef SP_TAGS_H
#define SP_TAGS_H

#include <stddef.h>

#include "compiler.h"

/* What a series' tags are made of. Owner: the caller (borrowed). */
struct tags_src {
    const char *tmpl;  /* topic_tags template, "" for none */
    const char *topic; /* not NUL-terminated */
    size_t topic_len;
    const char *extra; /* the payload's tags as a JSON object, or NULL */
    size_t extra_len;
};

/*
 * Builds the tags of a new series into out (NUL-terminated). tmpl may be ""
 * (no topic tags); extra is a JSON object text or NULL. Topic levels that the
 * template does not reach, and template levels the topic lacks, add nothing.
 * The payload's tags come first, then the topic's. A topic tag replaces a
 * payload tag of the same name: topic levels are what the broker's ACLs
 * bind to a device, so a payload cannot claim to be another device.
 * Returns: the length written (0 = no tags at all), or -ENOSPC when out is
 * too small. Thread: any.
 */
SP_MUST_CHECK int tags_build(const struct tags_src *src, char *out,
                             size_t out_len);

/*
 * How many of the payload's tags (src->extra) a topic tag of the same name
 * replaces in tags_build(). Returns: 0 when there is no template or no
 * payload tag. Thread: any.
 */
unsigned tags_conflicts(const struct tags_src *src);

/*
 * Appends s[0..len) to out as the inside of a JSON string (quotes,
 * backslashes and control characters escaped). Returns the new position, or
 * SIZE_MAX when it does not fit. Thread: any.
 */
size_t tags_json_escape(char *out, size_t pos, size_t cap, const char *s,
                        size_t len);

#endif
