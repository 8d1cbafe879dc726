/*
 * mqtt_addr.c - the broker's addresses (see mqtt_addr.h).
 *
 * libmosquitto's own connect resolves with a blocking getaddrinfo(); the
 * client gives it a numeric address from here instead (with TLS it must
 * give the name, which libmosquitto checks the certificate against, and
 * the lookup just made here is then normally cached). Resolution asks for
 * AF_UNSPEC and SOCK_STREAM; IPv4 and IPv6 answers are kept in the order
 * the resolver gives them, up to MQTT_ADDR_MAX.
 *
 * Threads: the loop thread. Memory: libuv's addrinfo list, freed in the
 * callback.
 */
#include "mqtt_addr.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

/* A numeric host needs no resolution: its canonical text goes to out. */
static bool numeric_host(const char *host, char *out, socklen_t n)
{
    unsigned char buf[sizeof(struct in6_addr)];

    if (inet_pton(AF_INET, host, buf) == 1)
        return inet_ntop(AF_INET, buf, out, n) != NULL;
    if (inet_pton(AF_INET6, host, buf) == 1)
        return inet_ntop(AF_INET6, buf, out, n) != NULL;
    return false;
}

/* The numeric text of one resolved address. */
static bool addr_text(const struct addrinfo *ai, char *buf, size_t n)
{
    const void *sa = ai->ai_addr;

    if (ai->ai_family == AF_INET)
        return uv_ip4_name(sa, buf, n) == 0;
    if (ai->ai_family == AF_INET6)
        return uv_ip6_name(sa, buf, n) == 0;
    return false;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct mqtt_addr *a = req->data;
    unsigned n = 0;

    a->pending = false;
    for (struct addrinfo *ai = res; ai != NULL && n < MQTT_ADDR_MAX;
         ai = ai->ai_next)
        if (addr_text(ai, a->addrs[n], sizeof(a->addrs[n])))
            n++;
    uv_freeaddrinfo(res);
    a->n = n;
    a->idx = 0;
    if (status == 0 && n == 0)
        status = UV_EAI_NODATA;
    a->done(a->ctx, status);
}

void mqtt_addr_init(struct mqtt_addr *a, void (*done)(void *ctx, int status),
                    void *ctx)
{
    a->n = 0;
    a->idx = 0;
    a->pending = false;
    a->done = done;
    a->ctx = ctx;
}

int mqtt_addr_resolve(struct mqtt_addr *a, uv_loop_t *loop, const char *host,
                      const char *port)
{
    struct addrinfo hints;
    int rc;

    a->idx = 0;
    if (numeric_host(host, a->addrs[0], sizeof(a->addrs[0]))) {
        a->n = 1;
        return 1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    a->gai.data = a;
    rc = uv_getaddrinfo(loop, &a->gai, on_resolved, host, port, &hints);
    if (rc < 0)
        return rc;
    a->pending = true;
    return 0;
}

const char *mqtt_addr_current(const struct mqtt_addr *a)
{
    return a->addrs[a->idx];
}

bool mqtt_addr_next(struct mqtt_addr *a)
{
    if (a->idx + 1 >= a->n)
        return false;
    a->idx++;
    return true;
}

bool mqtt_addr_pending(const struct mqtt_addr *a)
{
    return a->pending;
}

void mqtt_addr_cancel(struct mqtt_addr *a)
{
    if (a->pending)
        (void) uv_cancel((uv_req_t *) &a->gai);
}
