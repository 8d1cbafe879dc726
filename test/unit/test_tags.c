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

Test(tags, payload_tags_come_first_and_win)
{
    cr_expect_str_eq(
        build("s/{site}/{m}", "s/lab/x",
              "{\"_measurement\":\"weather\",\"site\":\"north gate\"}"),
        "{\"_measurement\":\"weather\",\"site\":\"north gate\",\"m\":\"x\"}");
}

Test(tags, too_small_a_buffer_is_refused)
{
    char small[8];

    struct tags_src src = {"{a}", "abcdefgh", 8, NULL, 0};

    cr_expect_eq(tags_build(&src, small, sizeof(small)), -ENOSPC);
}
