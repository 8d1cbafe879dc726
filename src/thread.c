/*
 * thread.c - thread roles and thread creation.
 *
 * Threads: every thread sets its own role once; nothing is shared.
 * Memory: none.
 */
#include "thread.h"

#include <errno.h>
#include <string.h>

static _Thread_local enum thread_role tl_role = THREAD_ANY;

void thread_set_role(enum thread_role role, const char *name)
{
    tl_role = role;
    if (name != NULL) {
        char buf[16];
        strncpy(buf, name, sizeof(buf) - 1);
        buf[sizeof(buf) - 1] = '\0';
        (void) pthread_setname_np(pthread_self(), buf);
    }
}

enum thread_role thread_role(void)
{
    return tl_role;
}

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc;

    rc = pthread_attr_init(&attr);
    if (rc != 0)
        return -rc;
    /* 1 MiB: decoders keep their scratch in preallocated structs, not here. */
    rc = pthread_attr_setstacksize(&attr, 1u << 20);
    if (rc == 0)
        rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return -rc;
}
