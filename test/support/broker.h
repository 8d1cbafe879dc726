/*
 * broker.h - a private mosquitto on a free 127.0.0.1 port (test support).
 *
 * broker_start() makes a temporary directory holding mosquitto.conf, the
 * persistence file, mosquitto.log (log_dest file) and stdout.log, picks a
 * free port and runs /usr/sbin/mosquitto there until it accepts TCP
 * connections. The queue limits are lifted (max_queued_messages 0 and the
 * like: doc/ARCHITECTURE.md, "Mosquitto (broker)") and persistence is on.
 *
 *     struct broker b;
 *     cr_assert_eq(broker_start(&b, NULL), 0);
 *     ... b.port ...
 *     broker_halt(&b);       - the process ends, the directory stays
 *     broker_restart(&b);    - same port, same persistence directory
 *     broker_stop(&b);       - the process ends, the directory is deleted
 *
 * Every test ends with broker_stop(). Only the PID spawned here is ever
 * signalled.
 */
#ifndef SP_BROKER_H
#define SP_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "compiler.h"

#define BROKER_PATH_MAX 320

/* Owner: the test that started it. */
struct broker {
    pid_t pid; /* 0 when not running */
    int port;
    char dir[256];              /* mkdtemp() directory */
    char conf[BROKER_PATH_MAX]; /* dir/mosquitto.conf */
    char log[BROKER_PATH_MAX];  /* dir/mosquitto.log: the broker's log */
    char out[BROKER_PATH_MAX];  /* dir/stdout.log: its stdout and stderr */
};

/*
 * Starts a broker. extra_conf (may be NULL) is appended to the generated
 * configuration, one setting per line: it may set allow_anonymous false,
 * a password_file, log_type all, or TLS files for the listener.
 * A port taken between the pick and mosquitto's bind is retried with
 * another port, up to 5 times.
 * Returns: 0; -EADDRINUSE after 5 tries; -ETIMEDOUT when the port does not
 *   accept within 10 s; -EIO when mosquitto exits (see b->out); -errno.
 * Thread: the test's.
 */
SP_MUST_CHECK int broker_start(struct broker *b, const char *extra_conf);

/* SIGTERM (SIGKILL after 5 s) if running, then deletes the directory.
 * Idempotent. Returns: 0 or -errno. */
int broker_stop(struct broker *b);

/* SIGTERM (SIGKILL after 5 s); keeps the directory for broker_restart().
 * No-op when not running. Returns: 0 or -errno. */
int broker_halt(struct broker *b);

/* SIGKILL: no clean shutdown, no persistence save. Keeps the directory.
 * Returns: 0 or -errno. */
int broker_kill(struct broker *b);

/*
 * Halts the broker if it runs and starts it again with the same port,
 * configuration and persistence directory.
 * Returns: as broker_start(); -EADDRINUSE when the port was taken meanwhile.
 */
SP_MUST_CHECK int broker_restart(struct broker *b);

/* Lines of the broker's log that contain needle. Returns: the count, or
 * -errno when the log cannot be read. */
int broker_log_count(const struct broker *b, const char *needle);

/*
 * Runs `mosquitto_passwd -b [-c] file user password` (-c when create).
 * Returns: 0; -EIO when it fails.
 */
SP_MUST_CHECK int broker_passwd(const char *file, const char *user,
                                const char *password, int create);

/* A TCP port on 127.0.0.1 nobody listens on right now. Returns: the port,
 * or -errno. */
int broker_free_port(void);

/* True when something accepts TCP connections on 127.0.0.1:port. */
bool broker_port_accepts(int port);

#endif
