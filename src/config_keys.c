/*
 * config_keys.c - every setting of the configuration file, once: section,
 * name, flags, and its value's type, bounds and field (config_value.h).
 * The parser (config.c) looks keys up here; --check-config prints them in
 * this order.
 *
 * A new setting is one KEY() row here (CONFIG_KEYS_COUNT in config_keys.h
 * goes up by one: a static assertion says so), its default in
 * config_defaults(), and its line in config/sensorpipe.conf and the man
 * page.
 *
 * Threads: read-only data; any thread. Memory: none.
 */
#include "config_keys.h"

#include <stddef.h>

#include "compiler.h"

/* Shorthands for the table. */
#define MS_S UNITS_MS_S
#define MS_M UNITS_MS_M
#define MS_H UNITS_MS_H
#define MS_D UNITS_MS_D
#define MS_Y UNITS_MS_Y
#define KIB  UNITS_KIB
#define MIB  UNITS_MIB
#define GIB  UNITS_GIB

const char *const config_section_names[SEC_COUNT] = {
    "", "mqtt", "subscription", "pipeline", "aggregate", "store", "log",
};

static const struct config_value_name protocol_names[] = {
    {"5", PROTOCOL_V5},
    {"3.1.1", PROTOCOL_V311},
    {"mqttv5", PROTOCOL_V5},
    {"mqttv311", PROTOCOL_V311},
    {NULL, 0},
};
const struct config_value_name config_format_names[] = {
    {"json", FORMAT_JSON},
    {"number", FORMAT_NUMBER},
    {"influx", FORMAT_INFLUX},
    {NULL, 0},
};
static const struct config_value_name precision_names[] = {
    {"ns", PRECISION_NS},
    {"us", PRECISION_US},
    {"ms", PRECISION_MS},
    {"s", PRECISION_S},
    {NULL, 0},
};
static const struct config_value_name overflow_names[] = {
    {"pause", OVERFLOW_PAUSE},
    {"drop_newest", OVERFLOW_DROP_NEWEST},
    {NULL, 0},
};

#define CF(m) offsetof(struct config, m), sizeof(((struct config *) 0)->m)
#define SF(m)                                                                  \
    offsetof(struct config_sub, m), sizeof(((struct config_sub *) 0)->m)
#define NONEMPTY CONFIG_VALUE_NONEMPTY
#define BARE_MS  CONFIG_VALUE_BARE_MS
/* One row: the key, then its value's spec (type, flags, min, max, field,
 * names), flat so that each row reads on one or two lines. */
// clang-format off
#define KEY(key, sec, flags, type, vflags, min, max, field, names) \
    {key, sec, flags, {type, vflags, min, max, field, names}}
// clang-format on

/* Defaults are set in config_defaults(); the order here is print order. */
const struct config_key config_keys[CONFIG_KEYS_COUNT] = {
    KEY("host", SEC_MQTT, 0, VALUE_STR, NONEMPTY, 0, 0, CF(mqtt.host), NULL),
    KEY("port", SEC_MQTT, 0, VALUE_UINT, 0, 1, 65535, CF(mqtt.port), NULL),
    KEY("client_id", SEC_MQTT, 0, VALUE_STR, NONEMPTY, 0, 0, CF(mqtt.client_id),
        NULL),
    KEY("username", SEC_MQTT, 0, VALUE_STR, 0, 0, 0, CF(mqtt.username), NULL),
    KEY("password_file", SEC_MQTT, 0, VALUE_STR, 0, 0, 0,
        CF(mqtt.password_file), NULL),
    KEY("keepalive_s", SEC_MQTT, 0, VALUE_UINT, 0, 5, 3600,
        CF(mqtt.keepalive_s), NULL),
    KEY("clean_session", SEC_MQTT, 0, VALUE_BOOL, 0, 0, 0,
        CF(mqtt.clean_session), NULL),
    KEY("protocol", SEC_MQTT, 0, VALUE_ENUM, 0, 0, 0, CF(mqtt.protocol),
        protocol_names),
    KEY("tls_ca_file", SEC_MQTT, 0, VALUE_STR, 0, 0, 0, CF(mqtt.tls_ca_file),
        NULL),
    KEY("tls_cert_file", SEC_MQTT, 0, VALUE_STR, 0, 0, 0,
        CF(mqtt.tls_cert_file), NULL),
    KEY("tls_key_file", SEC_MQTT, 0, VALUE_STR, 0, 0, 0, CF(mqtt.tls_key_file),
        NULL),
    KEY("tls_insecure", SEC_MQTT, 0, VALUE_BOOL, 0, 0, 0, CF(mqtt.tls_insecure),
        NULL),
    KEY("reconnect_min_ms", SEC_MQTT, 0, VALUE_DURATION, BARE_MS, 10, 10 * MS_M,
        CF(mqtt.reconnect_min_ms), NULL),
    KEY("reconnect_max_ms", SEC_MQTT, 0, VALUE_DURATION, BARE_MS, 100, MS_H,
        CF(mqtt.reconnect_max_ms), NULL),

    KEY("topic", SEC_SUB, KEY_REQUIRED, VALUE_TOPIC, NONEMPTY, 0, 0, SF(topic),
        NULL),
    KEY("qos", SEC_SUB, 0, VALUE_UINT, 0, 0, 2, SF(qos), NULL),
    KEY("share_group", SEC_SUB, 0, VALUE_GROUP, 0, 0, 0, SF(share_group), NULL),
    KEY("format", SEC_SUB, 0, VALUE_ENUM, 0, 0, 0, SF(format),
        config_format_names),
    KEY("fields", SEC_SUB, KEY_JSON, VALUE_FIELDS, 0, 0, 0, SF(fields), NULL),
    KEY("timestamp_field", SEC_SUB, KEY_JSON, VALUE_FIELD, 0, 0, 0,
        SF(timestamp_field), NULL),
    KEY("topic_tags", SEC_SUB, 0, VALUE_TEMPLATE, 0, 0, 0, SF(topic_tags),
        NULL),
    KEY("precision", SEC_SUB, KEY_INFLUX, VALUE_ENUM, 0, 0, 0, SF(precision),
        precision_names),
    KEY("numeric_strings", SEC_SUB, 0, VALUE_BOOL, 0, 0, 0, SF(numeric_strings),
        NULL),

    KEY("workers", SEC_PIPELINE, 0, VALUE_UINT, 0, 0, CONFIG_MAX_WORKERS,
        CF(pipeline.workers), NULL),
    KEY("ring_bytes", SEC_PIPELINE, 0, VALUE_SIZE, 0, 64 * KIB, GIB,
        CF(pipeline.ring_bytes), NULL),
    KEY("max_payload_bytes", SEC_PIPELINE, 0, VALUE_SIZE, 0, 16, 16 * MIB,
        CF(pipeline.max_payload_bytes), NULL),
    KEY("overflow", SEC_PIPELINE, 0, VALUE_ENUM, 0, 0, 0, CF(pipeline.overflow),
        overflow_names),
    KEY("max_series", SEC_PIPELINE, 0, VALUE_UINT, 0, 1, 10000000,
        CF(pipeline.max_series), NULL),
    KEY("max_topic_bytes", SEC_PIPELINE, 0, VALUE_SIZE, 0, 16, 65535,
        CF(pipeline.max_topic_bytes), NULL),
    KEY("series_idle_time", SEC_PIPELINE, 0, VALUE_DURATION, 0, MS_S, 10 * MS_Y,
        CF(pipeline.series_idle_ms), NULL),

    KEY("resolutions", SEC_AGGREGATE, 0, VALUE_RESOLUTIONS, 0, 0, 0,
        CF(aggregate.resolutions_s), NULL),
    KEY("allowed_lateness", SEC_AGGREGATE, 0, VALUE_DURATION, 0, 0, 7 * MS_D,
        CF(aggregate.allowed_lateness_ms), NULL),
    KEY("max_clock_skew", SEC_AGGREGATE, 0, VALUE_DURATION, 0, MS_S, 10 * MS_Y,
        CF(aggregate.max_clock_skew_ms), NULL),

    KEY("path", SEC_STORE, 0, VALUE_STR, NONEMPTY, 0, 0, CF(store.path), NULL),
    KEY("commit_interval_ms", SEC_STORE, 0, VALUE_DURATION, BARE_MS, 10, MS_M,
        CF(store.commit_interval_ms), NULL),
    KEY("batch_rows", SEC_STORE, 0, VALUE_UINT, 0, 1, 1000000,
        CF(store.batch_rows), NULL),
    KEY("raw_samples", SEC_STORE, 0, VALUE_BOOL, 0, 0, 0, CF(store.raw_samples),
        NULL),
    KEY("retention", SEC_STORE, 0, VALUE_RETENTION, 0, 0, 100 * MS_Y,
        CF(store.retention_ms), NULL),
    KEY("raw_retention", SEC_STORE, 0, VALUE_DURATION, 0, 0, 100 * MS_Y,
        CF(store.raw_retention_ms), NULL),
    KEY("cache_mb", SEC_STORE, 0, VALUE_UINT, 0, 1, 4096, CF(store.cache_mb),
        NULL),
    KEY("heap_limit_mb", SEC_STORE, 0, VALUE_UINT, 0, 8, 65536,
        CF(store.heap_limit_mb), NULL),
    KEY("stop_timeout", SEC_STORE, 0, VALUE_DURATION, 0, MS_S, MS_H,
        CF(store.stop_timeout_ms), NULL),

    KEY("level", SEC_LOG, 0, VALUE_LEVEL, 0, 0, 0, CF(log.level), NULL),
    KEY("stats_interval_s", SEC_LOG, 0, VALUE_DURATION_S, 0, 0, MS_D,
        CF(log.stats_interval_s), NULL),
};

_Static_assert(SP_ARRAY_SIZE(config_keys) == CONFIG_KEYS_COUNT,
               "CONFIG_KEYS_COUNT counts the rows of config_keys[]");
