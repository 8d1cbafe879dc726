/*
 * config_keys.h - the table of settings (config_keys.c) the parser and the
 * printer of config.c walk.
 */
#ifndef SP_CONFIG_KEYS_H
#define SP_CONFIG_KEYS_H

#include "config_types.h"
#include "config_value.h"

enum config_section {
    SEC_NONE = 0,
    SEC_MQTT,
    SEC_SUB,
    SEC_PIPELINE,
    SEC_AGGREGATE,
    SEC_STORE,
    SEC_LOG,
    SEC_COUNT,
};

#define KEY_REQUIRED 0x01u /* a [subscription] without it is an error */
#define KEY_JSON     0x02u /* only for format = json */
#define KEY_INFLUX   0x04u /* only for format = influx */

/* One setting. Owner: config_keys[] (read-only). */
struct config_key {
    const char *key;
    enum config_section sec;
    unsigned flags; /* KEY_* above; the value's own flags are in v */
    struct config_value_spec v; /* v.off is in struct config_sub for SEC_SUB */
};

#define CONFIG_KEYS_COUNT 44 /* rows of config_keys[] */

extern const char *const config_section_names[SEC_COUNT];
extern const struct config_value_name config_format_names[];
extern const struct config_key config_keys[CONFIG_KEYS_COUNT];

#endif
