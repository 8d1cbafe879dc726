/*
 * config_types.h - the daemon's settings as plain data: the limits, the
 * enums and struct config. config.c loads them; config_keys.c and
 * config_value.c describe, parse and print them field by field, below
 * config.c (types only, no functions).
 */
#ifndef SP_CONFIG_TYPES_H
#define SP_CONFIG_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_SUBS        32
#define CONFIG_MAX_FIELDS      16
#define CONFIG_MAX_RESOLUTIONS 8
#define CONFIG_NAME_MAX        64    /* subscription names, share groups */
#define CONFIG_STR_MAX         256   /* hosts, topics, templates, field paths */
#define CONFIG_PATH_MAX        512   /* file system paths */
#define CONFIG_ERR_MAX         768   /* room for one error message */
#define CONFIG_MAX_WORKERS     64    /* the loop keeps one bit per worker */
#define CONFIG_TOPIC_MAX       65535 /* MQTT's longest topic, in bytes */

enum config_format {
    FORMAT_JSON = 0,
    FORMAT_NUMBER,
    FORMAT_INFLUX,
};

enum config_precision {
    PRECISION_NS = 0, /* InfluxDB's default */
    PRECISION_US,
    PRECISION_MS,
    PRECISION_S,
};

enum config_overflow {
    OVERFLOW_PAUSE = 0,
    OVERFLOW_DROP_NEWEST,
};

enum config_protocol {
    PROTOCOL_V5 = 0,
    PROTOCOL_V311,
};

/* Owner: whoever holds the struct config it sits in. */
struct config_sub {
    char name[CONFIG_NAME_MAX];        /* from "[subscription NAME]" */
    char topic[CONFIG_STR_MAX];        /* filter, may hold + and # */
    int qos;                           /* 0..2, default 1 */
    char share_group[CONFIG_NAME_MAX]; /* "" = not shared */
    enum config_format format;         /* default json */
    /* Dotted paths; none = all. */
    char fields[CONFIG_MAX_FIELDS][CONFIG_STR_MAX];
    unsigned n_fields;
    char timestamp_field[CONFIG_STR_MAX]; /* "" = receive time */
    char topic_tags[CONFIG_STR_MAX]; /* "sensors/{site}/{device}/#" or "" */
    enum config_precision precision; /* influx timestamps */
    bool numeric_strings;            /* "21.5" counts as a number */
    unsigned line;                   /* line of the section header */
};

/* Owner: the loop thread (the daemon's current settings), or a caller's
 * copy. */
struct config {
    char path[CONFIG_PATH_MAX]; /* the file this came from */

    struct {
        char host[CONFIG_STR_MAX];       /* default 127.0.0.1 */
        unsigned port;                   /* default 1883 (8883 with TLS) */
        char client_id[CONFIG_NAME_MAX]; /* default "sensorpipe-<hostname>" */
        char username[CONFIG_NAME_MAX];
        char password_file[CONFIG_PATH_MAX];
        unsigned keepalive_s;          /* 5..3600, default 60 */
        bool clean_session;            /* default false: persistent */
        enum config_protocol protocol; /* default 5 */
        char tls_ca_file[CONFIG_PATH_MAX];
        char tls_cert_file[CONFIG_PATH_MAX];
        char tls_key_file[CONFIG_PATH_MAX];
        bool tls_insecure;         /* skip hostname check; default false */
        uint64_t reconnect_min_ms; /* default 500 ms */
        uint64_t reconnect_max_ms; /* default 30 s */
    } mqtt;

    struct config_sub subs[CONFIG_MAX_SUBS];
    unsigned n_subs;

    struct {
        unsigned workers;           /* 0 = one per CPU; at most
                                       CONFIG_MAX_WORKERS */
        uint64_t ring_bytes;        /* per worker; default 2 MiB */
        uint64_t max_payload_bytes; /* default 64 KiB */
        enum config_overflow overflow;
        unsigned max_series;      /* default 100000 */
        uint64_t max_topic_bytes; /* 16..65535, default 1 KiB */
        /* A series idle this long leaves the registry; at least the
         * coarsest resolution + allowed_lateness. Default 1 d. */
        uint64_t series_idle_ms;
    } pipeline;

    struct {
        unsigned resolutions_s[CONFIG_MAX_RESOLUTIONS]; /* ascending */
        unsigned n_resolutions;       /* default 10s, 1m, 1h */
        uint64_t allowed_lateness_ms; /* default 1m */
        uint64_t max_clock_skew_ms;   /* default 1h */
    } aggregate;

    struct config_store {
        char path[CONFIG_PATH_MAX];  /* default ./var/sensorpipe.db */
        uint64_t commit_interval_ms; /* 10 ms..60 s, default 1 s */
        unsigned batch_rows;         /* default 5000 */
        bool raw_samples;            /* default false */
        /* Per resolution, same order as aggregate.resolutions_s; 0 = keep. */
        uint64_t retention_ms[CONFIG_MAX_RESOLUTIONS];
        uint64_t raw_retention_ms; /* 0 = keep */
        unsigned cache_mb;         /* page cache; default 16 */
        unsigned heap_limit_mb;    /* sqlite3_hard_heap_limit64; default 64 */
        uint64_t stop_timeout_ms;  /* how long a stop waits for a failing
                                      store; 1 s..1 h, default 50 s */
    } store;

    struct {
        int level;                 /* LOG_ERR..LOG_DEBUG; default LOG_INFO */
        unsigned stats_interval_s; /* 0 = off; default 60 */
    } log;
};

#endif
