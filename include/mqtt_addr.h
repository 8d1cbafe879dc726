/*
 * mqtt_addr.h - the broker's addresses: a numeric host as it is, a name
 * resolved with uv_getaddrinfo() (never a blocking lookup on the loop),
 * and the list of numeric addresses an attempt walks through.
 */
#ifndef SP_MQTT_ADDR_H
#define SP_MQTT_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>

#include <uv.h>

#include "compiler.h"

/* Addresses kept from one name resolution; tried in order. */
#define MQTT_ADDR_MAX 8

/* Owner: the loop thread (inside struct mqtt_client). */
struct mqtt_addr {
    uv_getaddrinfo_t gai;
    char addrs[MQTT_ADDR_MAX][INET6_ADDRSTRLEN]; /* numeric */
    unsigned n;
    unsigned idx;                        /* the one to try */
    bool pending;                        /* gai is libuv's until done() */
    void (*done)(void *ctx, int status); /* 0: addresses ready; <0: uv error */
    void *ctx;
};

/* Thread: loop. No addresses yet; done(ctx, status) ends each
 * resolution. */
void mqtt_addr_init(struct mqtt_addr *a, void (*done)(void *ctx, int status),
                    void *ctx);

/*
 * Starts finding host's addresses. A numeric host is taken as it is.
 * Returns: 1 when the addresses are ready now (done() is not called); 0
 * when a resolution runs (done() follows, also after mqtt_addr_cancel());
 * a negative uv error. Thread: loop.
 */
SP_MUST_CHECK int mqtt_addr_resolve(struct mqtt_addr *a, uv_loop_t *loop,
                                    const char *host, const char *port);

/* Thread: loop. The numeric address to try. */
const char *mqtt_addr_current(const struct mqtt_addr *a);

/* Thread: loop. Moves to the next address; false when none is left. */
bool mqtt_addr_next(struct mqtt_addr *a);

/* Thread: loop. True while a resolution runs. */
bool mqtt_addr_pending(const struct mqtt_addr *a);

/* Thread: loop. Cancels a running resolution (done() still runs). */
void mqtt_addr_cancel(struct mqtt_addr *a);

#endif
