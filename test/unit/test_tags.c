/*
 * test_tags.c - series tags from topic templates and payload tags.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tags.h"

static char out[256];

static const char *build(const char *tmpl, const char *topic, const char *extra)
{
    struct tags_src src = {tmpl, topic, strlen(topic), extra,
                           extra ? strlen(extra) : 0};
    int n = tags_build(&src, out, sizeof(out));
    cr_assert_geq(n, 0);
    cr_assert_eq((size_t) n, strlen(out));
    return out;
}

Test(tags, template_names_topic_levels)
{
    cr_expect_str_eq(
        build("sensors/{site}/{device}/#", "sensors/lab/dev1/temp", NULL),
        "{\"site\":\"lab\",\"device\":\"dev1\"}");
    cr_expect_str_eq(build("+/{b}", "a/b", NULL), "{\"b\":\"b\"}");
}

Test(tags, no_template_and_no_extra_gives_nothing)
{
    cr_expect_str_eq(build("", "a/b", NULL), "");
    cr_expect_str_eq(build("a/b", "a/b", NULL), "");
}

Test(tags, short_topics_add_what_they_have)
{
    cr_expect_str_eq(build("s/{site}/{device}", "s/lab", NULL),
                     "{\"site\":\"lab\"}");
}

Test(tags, values_are_json_escaped)
{
    cr_expect_str_eq(build("{a}", "q\"u\\o\x01", NULL),
                     "{\"a\":\"q\\\"u\\\\o\\u0001\"}");
}

Test(tags, payload_tags_come_first_and_topic_tags_win)
{
    cr_expect_str_eq(
        build("s/{site}/{m}", "s/lab/x",
              "{\"_measurement\":\"weather\",\"site\":\"north gate\"}"),
        "{\"_measurement\":\"weather\",\"site\":\"lab\",\"m\":\"x\"}");
    /* A payload cannot claim to be another device. */
    cr_expect_str_eq(
        build("lp/{device}", "lp/devA",
              "{\"_measurement\":\"m\",\"device\":\"devB\",\"k\":\"v\"}"),
        "{\"_measurement\":\"m\",\"k\":\"v\",\"device\":\"devA\"}");
    /* Only levels the topic has replace anything. */
    cr_expect_str_eq(build("s/{site}/{device}", "s/lab",
                           "{\"_measurement\":\"m\",\"device\":\"d\"}"),
                     "{\"_measurement\":\"m\",\"device\":\"d\",\"site\":"
                     "\"lab\"}");
    /* Escaped payload text is copied as it is. */
    cr_expect_str_eq(
        build("{a}", "x", "{\"_measurement\":\"q\\\"\",\"b\\\\\":\"\\\"\"}"),
        "{\"_measurement\":\"q\\\"\",\"b\\\\\":\"\\\"\",\"a\":"
        "\"x\"}");
}

static unsigned conflicts(const char *tmpl, const char *topic,
                          const char *extra)
{
    struct tags_src src = {tmpl, topic, strlen(topic), extra,
                           extra ? strlen(extra) : 0};

    return tags_conflicts(&src);
}

Test(tags, conflicts_count_replaced_payload_tags)
{
    const char *x = "{\"_measurement\":\"m\",\"device\":\"devB\",\"site\":"
                    "\"s\",\"devices\":\"y\"}";

    cr_expect_eq(conflicts("lp/{device}", "lp/devA", x), 1);
    cr_expect_eq(conflicts("{site}/{device}/#", "a/b/c/d", x), 2);
    cr_expect_eq(conflicts("{site}/{device}", "a", x), 1);
    cr_expect_eq(conflicts("lp/{other}", "lp/devA", x), 0);
    cr_expect_eq(conflicts("", "lp/devA", x), 0);
    cr_expect_eq(conflicts("lp/{device}", "lp/devA", NULL), 0);
    cr_expect_eq(conflicts("lp/{device}", "lp/devA", "{}"), 0);
    /* Not the decoder's text: nothing is read past it. */
    cr_expect_eq(conflicts("{device}", "a", "{\"device\":\"x"), 0);
    cr_expect_str_eq(build("{device}", "a", "{\"k\":\"v\",\"device\""),
                     "{\"k\":\"v\",\"device\":\"a\"}");
}

Test(tags, too_small_a_buffer_is_refused)
{
    char small[8];

    struct tags_src src = {"{a}", "abcdefgh", 8, NULL, 0};

    cr_expect_eq(tags_build(&src, small, sizeof(small)), -ENOSPC);
}
