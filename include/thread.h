/*
 * thread.h - thread roles, so functions can assert which thread runs them.
 *
 * Each thread records its role once at start (thread_set_role()); functions
 * that belong to one thread begin with ASSERT_THREAD(ROLE), the executable
 * form of the "Thread:" line in their header comment.
 */
#ifndef SP_THREAD_H
#define SP_THREAD_H

#include <assert.h>
#include <pthread.h>

#include "compiler.h"

enum thread_role {
    THREAD_ANY = 0, /* unset: tests and start-up code */
    THREAD_LOOP,
    THREAD_WORKER,
    THREAD_WRITER,
};

/* Thread: any. Records the calling thread's role and names it (for top/gdb). */
void thread_set_role(enum thread_role role, const char *name);

/* Thread: any. The calling thread's role, THREAD_ANY when never set. */
enum thread_role thread_role(void);

/*
 * Starts fn(arg) on a new thread with a fixed stack size.
 * Returns: 0, or -errno from pthread_create (-EAGAIN, -ENOMEM).
 * Thread: any.
 */
SP_MUST_CHECK int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* Passes when the role is unset (unit tests call module functions directly). */
#define ASSERT_THREAD(role)                                                    \
    assert(thread_role() == THREAD_ANY || thread_role() == (role))

#endif
