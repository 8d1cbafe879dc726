/*
 * pub.c - a test publisher on libmosquitto's own thread (test support).
 *
 * Threads: the test's thread calls the functions; libmosquitto's thread
 * (mosquitto_loop_start) runs the callbacks. The counters are guarded by mu.
 * Memory: pub_open() allocates the struct; pub_close() frees it.
 */
#include "pub.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mosquitto.h>

#define CONNACK_MS 5000

/* Owner: the test's thread; fields below mu are shared with libmosquitto's
 * thread. */
struct pub {
    struct mosquitto *mosq;
    int qos;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on CONNACK and on each ack */
    bool connacked;
    int connack_rc;
    uint64_t sent;
    uint64_t acked;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    (void) mosquitto_lib_init();
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    struct pub *p = obj;

    (void) m;
    pthread_mutex_lock(&p->mu);
    p->connacked = true;
    p->connack_rc = rc;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    struct pub *p = obj;

    (void) m;
    (void) mid;
    pthread_mutex_lock(&p->mu);
    p->acked++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits on cv until *flag or the deadline; mu held. */
static int wait_locked(struct pub *p, bool (*done)(const struct pub *),
                       int timeout_ms)
{
    struct timespec ts;

    deadline_in(&ts, timeout_ms);
    while (!done(p))
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            return done(p) ? 0 : -ETIMEDOUT;
    return 0;
}

static bool is_connacked(const struct pub *p)
{
    return p->connacked;
}

static bool all_acked(const struct pub *p)
{
    return p->acked >= p->sent;
}

static struct pub *pub_new(const char *client_id, int qos)
{
    struct pub *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;

    if (p == NULL)
        return NULL;
    p->qos = qos;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->mosq = mosquitto_new(client_id, true, p);
    if (p->mosq == NULL) {
        free(p);
        return NULL;
    }
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_publish_callback_set(p->mosq, on_publish);
    return p;
}

int pub_open(struct pub **out, int port, const char *client_id, int qos)
{
    struct pub *p;
    int rc;

    pthread_once(&lib_once, lib_init);
    p = pub_new(client_id, qos);
    if (p == NULL)
        return -ENOMEM;
    if (mosquitto_connect(p->mosq, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(p->mosq) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(p->mosq);
        free(p);
        return -ECONNREFUSED;
    }
    pthread_mutex_lock(&p->mu);
    rc = wait_locked(p, is_connacked, CONNACK_MS);
    if (rc == 0 && p->connack_rc != 0)
        rc = -ECONNREFUSED;
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        pub_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

int pub_send(struct pub *p, const char *topic, const void *payload, size_t len)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    p->sent++;
    pthread_mutex_unlock(&p->mu);
    rc = mosquitto_publish(p->mosq, NULL, topic, (int) len, payload, p->qos,
                           false);
    if (rc != MOSQ_ERR_SUCCESS) {
        pthread_mutex_lock(&p->mu);
        p->sent--;
        pthread_mutex_unlock(&p->mu);
        return -EIO;
    }
    return 0;
}

int pub_sendf(struct pub *p, const char *topic, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(buf))
        return -EINVAL;
    return pub_send(p, topic, buf, (size_t) n);
}

int pub_wait_acked(struct pub *p, int timeout_ms)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    rc = wait_locked(p, all_acked, timeout_ms);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pub_close(struct pub *p)
{
    if (p == NULL)
        return;
    (void) mosquitto_disconnect(p->mosq);
    (void) mosquitto_loop_stop(p->mosq, false);
    mosquitto_destroy(p->mosq);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
