/*
 * test_config_value.c - unit tests for config_value.c.
 *
 * The parsers and printers are called directly with a spec like the rows
 * of config.c's key table, on a struct config (or config_sub) of the test's
 * own. Refusals are checked by their reason alone: the "FILE:LINE: key 'x':"
 * prefix is config.c's, and test_config.c checks whole messages.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>

#include <criterion/criterion.h>

#include "config.h"
#include "config_value.h"

#define MS_S 1000ull
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define MS_Y (365 * MS_D)

#define CF(m) offsetof(struct config, m), sizeof(((struct config *) 0)->m)
#define SF(m)                                                                  \
    offsetof(struct config_sub, m), sizeof(((struct config_sub *) 0)->m)

/* Large structs live here, not on the stack. Owner: the running test. */
static struct config cfg_a;
static struct config cfg_b;
static struct config_value_ctx ctx;

static const struct config_value_name colour_names[] = {
    {"red", 1},
    {"green", 2},
    {"rot", 1},
    {NULL, 0},
};

/* Sets text (copied: list setters cut it up) on base, clearing ctx->why. */
static int set(const struct config_value_spec *spec, const char *text,
               void *base)
{
    char buf[CONFIG_VALUE_LINE_MAX];

    cr_assert_lt(strlen(text), sizeof(buf));
    strcpy(buf, text);
    ctx.why[0] = '\0';
    return config_value_set(&ctx, spec, buf, base);
}

static void set_ok(const struct config_value_spec *spec, const char *text,
                   void *base)
{
    int rc = set(spec, text, base);

    cr_assert_eq(rc, 0, "'%s' refused (%d): %s", text, rc, ctx.why);
}

static void expect_refused(const struct config_value_spec *spec,
                           const char *text, void *base, const char *why)
{
    cr_expect_eq(set(spec, text, base), -EINVAL, "'%s' accepted", text);
    cr_expect_str_eq(ctx.why, why);
}

/* ---- durations and sizes ------------------------------------------------ */

Test(config_value, numbers_keep_to_their_bounds)
{
    const struct config_value_spec port = {VALUE_UINT,    0,   1, 65535,
                                           CF(mqtt.port), NULL};

    config_defaults(&cfg_a);
    set_ok(&port, "8883", &cfg_a);
    cr_expect_eq(cfg_a.mqtt.port, 8883);
    set_ok(&port, "65535", &cfg_a);
    cr_expect_eq(cfg_a.mqtt.port, 65535);
    expect_refused(&port, "0", &cfg_a, "0 is out of range (1..65535)");
    expect_refused(&port, "65536", &cfg_a, "65536 is out of range (1..65535)");
    expect_refused(&port, "1e3", &cfg_a, "'1e3' is not a whole number");
    expect_refused(&port, " 1", &cfg_a, "' 1' is not a whole number");
    cr_expect_eq(cfg_a.mqtt.port, 65535, "a refusal keeps the old value");
}

Test(config_value, bare_numbers_are_seconds_unless_the_key_says_ms)
{
    const struct config_value_spec secs = {
        VALUE_DURATION, 0, 0, MS_H, CF(aggregate.allowed_lateness_ms), NULL};
    const struct config_value_spec ms = {
        VALUE_DURATION, CONFIG_VALUE_BARE_MS,         10,
        MS_M,           CF(store.commit_interval_ms), NULL};
    const struct config_value_spec whole_s = {
        VALUE_DURATION_S, 0, 0, MS_D, CF(log.stats_interval_s), NULL};

    set_ok(&secs, "30", &cfg_a);
    cr_expect_eq(cfg_a.aggregate.allowed_lateness_ms, 30 * MS_S);
    set_ok(&ms, "30", &cfg_a);
    cr_expect_eq(cfg_a.store.commit_interval_ms, 30);
    set_ok(&ms, "1.5s", &cfg_a);
    cr_expect_eq(cfg_a.store.commit_interval_ms, 1500);
    expect_refused(&ms, "5ms", &cfg_a, "'5ms' is out of range (10ms..1m)");
    set_ok(&whole_s, "2m", &cfg_a);
    cr_expect_eq(cfg_a.log.stats_interval_s, 120);
    expect_refused(&whole_s, "1500ms", &cfg_a,
                   "'1500ms' is not a whole number of seconds");
}

Test(config_value, enums_and_booleans_match_any_case)
{
    const struct config_value_spec colour = {VALUE_ENUM,    0,           0, 0,
                                             CF(log.level), colour_names};
    const struct config_value_spec flag = {
        VALUE_BOOL, 0, 0, 0, CF(store.raw_samples), NULL};

    set_ok(&colour, "GREEN", &cfg_a);
    cr_expect_eq(cfg_a.log.level, 2);
    set_ok(&colour, "Rot", &cfg_a);
    cr_expect_eq(cfg_a.log.level, 1);
    expect_refused(&colour, "blue", &cfg_a,
                   "'blue' is not one of red, green, rot");
    set_ok(&flag, "On", &cfg_a);
    cr_expect(cfg_a.store.raw_samples);
    set_ok(&flag, "0", &cfg_a);
    cr_expect_not(cfg_a.store.raw_samples);
    expect_refused(&flag, "2", &cfg_a,
                   "'2' is not a boolean (true/false, yes/no, on/off, 1/0)");
}

Test(config_value, strings_are_zero_filled_and_bounded)
{
    const struct config_value_spec id = {
        VALUE_STR, CONFIG_VALUE_NONEMPTY, 0, 0, CF(mqtt.client_id), NULL};
    char long_id[CONFIG_NAME_MAX + 1];

    memset(&cfg_a, 0x5a, sizeof(cfg_a));
    set_ok(&id, "abc", &cfg_a);
    cr_expect_str_eq(cfg_a.mqtt.client_id, "abc");
    for (size_t i = 3; i < sizeof(cfg_a.mqtt.client_id); i++)
        cr_expect_eq(cfg_a.mqtt.client_id[i], '\0', "byte %zu", i);
    expect_refused(&id, "", &cfg_a, "must not be empty");
    memset(long_id, 'x', CONFIG_NAME_MAX);
    long_id[CONFIG_NAME_MAX] = '\0';
    expect_refused(&id, long_id, &cfg_a, "too long (64 bytes, at most 63)");
}

Test(config_value, topics_groups_paths_and_templates_are_checked)
{
    const struct config_value_spec topic = {VALUE_TOPIC, 0,         0,
                                            0,           SF(topic), NULL};
    const struct config_value_spec group = {VALUE_GROUP,     0,   0, 0,
                                            SF(share_group), NULL};
    const struct config_value_spec path = {VALUE_FIELD,         0,   0, 0,
                                           SF(timestamp_field), NULL};
    const struct config_value_spec tags = {VALUE_TEMPLATE, 0,   0, 0,
                                           SF(topic_tags), NULL};
    struct config_sub *sub = &cfg_a.subs[0];

    set_ok(&topic, "a/+/#", sub);
    cr_expect_str_eq(sub->topic, "a/+/#");
    cr_expect_eq(set(&topic, "a/#/b", sub), -EINVAL);
    cr_expect_eq(set(&topic, "a/b+", sub), -EINVAL);
    set_ok(&group, "g1", sub);
    expect_refused(&group, "g/1", sub,
                   "'g/1': a share group must not contain '/', '+' or '#'");
    set_ok(&path, "env.temp", sub);
    set_ok(&path, "", sub);
    cr_expect_eq(set(&path, "env..temp", sub), -EINVAL);
    set_ok(&tags, "s/{site}/+/{dev}/#", sub);
    expect_refused(&tags, "s/{a}/{a}", sub,
                   "'s/{a}/{a}': a placeholder is used twice");
    expect_refused(&tags, "s/x{a}", sub,
                   "'s/x{a}': '+', '#' and {name} must each be a whole level");
    expect_refused(&tags, "#/s", sub, "'#/s': '#' must be the last level");
}

Test(config_value, fields_fill_the_list_and_its_count)
{
    const struct config_value_spec fields = {VALUE_FIELDS, 0,   0, 0,
                                             SF(fields),   NULL};
    struct config_sub *sub = &cfg_a.subs[0];

    memset(sub, 0, sizeof(*sub));
    set_ok(&fields, " env.temp ,hum,  a.b.c", sub);
    cr_assert_eq(sub->n_fields, 3);
    cr_expect_str_eq(sub->fields[0], "env.temp");
    cr_expect_str_eq(sub->fields[1], "hum");
    cr_expect_str_eq(sub->fields[2], "a.b.c");
    set_ok(&fields, "", sub);
    cr_expect_eq(sub->n_fields, 0);
    cr_expect_eq(sub->fields[0][0], '\0', "the old list is cleared");
    expect_refused(&fields, "a, b, a", sub, "'a' is listed twice");
    expect_refused(&fields, "a,,b", sub,
                   "'' is not a field path (names joined by '.', as in "
                   "env.temp; fields are separated by commas)");
}

Test(config_value, resolutions_go_from_fine_to_coarse_multiples)
{
    const struct config_value_spec res = {
        VALUE_RESOLUTIONS, 0, 0, 0, CF(aggregate.resolutions_s), NULL};

    set_ok(&res, "5s, 1m, 1h, 1d", &cfg_a);
    cr_assert_eq(cfg_a.aggregate.n_resolutions, 4);
    cr_expect_eq(cfg_a.aggregate.resolutions_s[0], 5);
    cr_expect_eq(cfg_a.aggregate.resolutions_s[1], 60);
    cr_expect_eq(cfg_a.aggregate.resolutions_s[2], 3600);
    cr_expect_eq(cfg_a.aggregate.resolutions_s[3], 86400);
    expect_refused(&res, "10s, 15s", &cfg_a,
                   "'15s' is not a multiple of the one before it");
    expect_refused(&res, "1m, 10s", &cfg_a,
                   "'10s' is not larger than the one before it (resolutions "
                   "go from fine to coarse)");
    expect_refused(&res, "1500ms", &cfg_a,
                   "resolution '1500ms' is not a whole number of seconds (at "
                   "least 1s, as in 10s, 1m, 1h)");
    expect_refused(&res, "", &cfg_a, "needs at least one resolution");
}

Test(config_value, retention_waits_in_the_context)
{
    const struct config_value_spec ret = {
        VALUE_RETENTION, 0, 0, 100 * MS_Y, CF(store.retention_ms), NULL};

    memset(&ctx, 0, sizeof(ctx));
    memset(&cfg_a, 0, sizeof(cfg_a));
    memset(&cfg_b, 0, sizeof(cfg_b));
    set_ok(&ret, "10s : 2d, 1h:0", &cfg_a);
    cr_expect_eq(memcmp(&cfg_a, &cfg_b, sizeof(cfg_a)), 0,
                 "nothing written to the config");
    cr_assert_eq(ctx.n_ret, 2);
    cr_expect_eq(ctx.ret[0].res_s, 10);
    cr_expect_eq(ctx.ret[0].keep_ms, 2 * MS_D);
    cr_expect_eq(ctx.ret[1].res_s, 3600);
    cr_expect_eq(ctx.ret[1].keep_ms, 0);
    expect_refused(&ret, "1m", &cfg_a,
                   "'1m' should read RESOLUTION:DURATION, as in 1m:30d");
    memset(&ctx, 0, sizeof(ctx));
    expect_refused(&ret, "1m:1d, 1m:2d", &cfg_a, "'1m' is listed twice");
    memset(&ctx, 0, sizeof(ctx));
    expect_refused(&ret, "1m:101y", &cfg_a,
                   "'101y' is not a duration up to 100y (0 keeps all)");
}

/* ---- printers ----------------------------------------------------------- */

Test(config_value, every_printed_value_sets_the_same_bytes)
{
    static const struct config_value_spec specs[] = {
        {VALUE_STR, 0, 0, 0, CF(mqtt.host), NULL},
        {VALUE_UINT, 0, 0, 65535, CF(mqtt.port), NULL},
        {VALUE_BOOL, 0, 0, 0, CF(mqtt.clean_session), NULL},
        {VALUE_ENUM, 0, 0, 0, CF(pipeline.overflow), colour_names},
        {VALUE_LEVEL, 0, 0, 0, CF(log.level), NULL},
        {VALUE_DURATION, CONFIG_VALUE_BARE_MS, 0, MS_H,
         CF(mqtt.reconnect_min_ms), NULL},
        {VALUE_DURATION, 0, 0, 100 * MS_Y, CF(store.raw_retention_ms), NULL},
        {VALUE_SIZE, 0, 0, 1ull << 40, CF(pipeline.ring_bytes), NULL},
        {VALUE_RESOLUTIONS, 0, 0, 0, CF(aggregate.resolutions_s), NULL},
    };
    static const char *const texts[] = {
        "broker # x", "1883", "yes",    "green",       "notice",
        "1.5s",       "2w",   "1.5MiB", "10s, 1m, 1h",
    };
    char buf[256];

    memset(&cfg_a, 0, sizeof(cfg_a));
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
        set_ok(&specs[i], texts[i], &cfg_a);
    cr_expect_eq(cfg_a.log.level, LOG_NOTICE);
    memset(&cfg_b, 0, sizeof(cfg_b));
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        config_value_print(&specs[i], &cfg_a, &cfg_a, buf, sizeof(buf));
        set_ok(&specs[i], buf, &cfg_b);
    }
    cr_expect_eq(memcmp(&cfg_a, &cfg_b, sizeof(cfg_a)), 0);
}

Test(config_value, retention_prints_only_what_it_keeps)
{
    const struct config_value_spec ret = {
        VALUE_RETENTION, 0, 0, 100 * MS_Y, CF(store.retention_ms), NULL};
    char buf[128];

    memset(&cfg_a, 0, sizeof(cfg_a));
    cfg_a.aggregate.n_resolutions = 3;
    cfg_a.aggregate.resolutions_s[0] = 10;
    cfg_a.aggregate.resolutions_s[1] = 60;
    cfg_a.aggregate.resolutions_s[2] = 3600;
    cfg_a.store.retention_ms[0] = 2 * MS_D;
    cfg_a.store.retention_ms[2] = 2 * MS_Y;
    config_value_print(&ret, &cfg_a, &cfg_a, buf, sizeof(buf));
    cr_expect_str_eq(buf, "10s:2d, 1h:2y");
}

/* ---- text helpers ------------------------------------------------------- */

Test(config_value, append_cuts_and_stays_terminated)
{
    char buf[8];
    size_t pos = 0;

    config_value_append(buf, sizeof(buf), &pos, "%s", "abc");
    cr_expect_eq(pos, 3);
    config_value_append(buf, sizeof(buf), &pos, "%d", 12345);
    cr_expect_eq(pos, sizeof(buf) - 1);
    cr_expect_str_eq(buf, "abc1234");
    config_value_append(buf, sizeof(buf), &pos, "more");
    cr_expect_str_eq(buf, "abc1234", "a full buffer is left alone");
}

Test(config_value, trim_and_copy)
{
    char s[] = " \t a b \t ";
    char dst[8];

    cr_expect_str_eq(config_value_trim(s), "a b");
    memset(dst, 'x', sizeof(dst));
    config_value_copy(dst, sizeof(dst), "ab");
    cr_expect_str_eq(dst, "ab");
    for (size_t i = 2; i < sizeof(dst); i++)
        cr_expect_eq(dst[i], '\0', "byte %zu", i);
    cr_expect_str_eq(config_value_name_of(colour_names, 1), "red");
    cr_expect_str_eq(config_value_name_of(colour_names, 9), "unknown");
}
