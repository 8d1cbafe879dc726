/*
 * records.h - the formats of the records that cross threads, in place in
 * the rings (ring.h): nothing is serialised, a record is a struct followed
 * by its text.
 *
 *   loop --ingress_rec--> worker --egress_series/partial/sample--> writer
 *
 * Every record starts on an 8-byte boundary (ring.h) and its integers are
 * in native byte order: both ends are threads of one process. Text is
 * NUL-terminated inside the record, with its length beside it, so readers
 * need neither strlen() nor a copy.
 */
#ifndef SP_RECORDS_H
#define SP_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "bucket.h"

/* One MQTT message in an ingress ring. Owner: the ring (loop writes it,
 * the worker reads it in place). */
struct ingress_rec {
    int64_t recv_ms;
    uint64_t topic_hash; /* the loop's, reused for the series key */
    uint32_t sub_index;
    uint32_t topic_len;
    uint32_t payload_len;
    uint32_t reserved;
    char data[]; /* topic '\0' payload '\0' */
};

enum egress_kind {
    EGRESS_SERIES = 1, /* a new series: insert its row before its rollups */
    EGRESS_PARTIAL,    /* a finest-bucket partial to merge */
    EGRESS_SAMPLE,     /* one raw sample (raw_samples = true) */
    EGRESS_FORGET,     /* the series left the registry (idle) */
};

/* Owner: the egress ring (worker writes, writer reads in place). */
struct egress_series {
    uint32_t kind;
    uint32_t topic_len;
    uint32_t field_len;
    uint32_t tags_len; /* 0 = no tags */
    int64_t id;
    int64_t created_ms;
    char text[]; /* topic '\0' field '\0' tags '\0' */
};

/* A finest-bucket partial. Owner: the egress ring, like egress_series. */
struct egress_partial {
    uint32_t kind;
    uint32_t reserved;
    int64_t series_id;
    int64_t bucket_ms;     /* finest bucket start */
    int64_t first_recv_ms; /* receive time of the first sample, and */
    int64_t last_recv_ms;  /* of the last: receive -> commit latency */
    struct bucket_acc acc;
};

/* One raw sample. Owner: the egress ring, like egress_series. */
struct egress_sample {
    uint32_t kind;
    uint32_t reserved;
    int64_t series_id;
    int64_t ts_ms;
    double value;
};

/* A series left the registry: its id is not used again by its worker.
 * Owner: the egress ring, like egress_series. */
struct egress_forget {
    uint32_t kind;
    uint32_t reserved;
    int64_t series_id;
};

#endif
