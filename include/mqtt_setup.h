/*
 * mqtt_setup.h - the libmosquitto client as mqtt_init() needs it before any
 * network traffic: the library, the handle, protocol options, credentials
 * from the password file, TLS files and the MQTT 5 session properties.
 *
 * mqtt.c drives the connection; this module only builds and destroys the
 * handle it drives, so that everything that reads files or can be refused
 * by libmosquitto happens, and is reported, before the loop starts.
 */
#ifndef SP_MQTT_SETUP_H
#define SP_MQTT_SETUP_H

#include <mosquitto.h>

#include "compiler.h"
#include "config.h"

/* The password file holds fewer bytes than this (one trailing newline,
 * "\n" or "\r\n", is not part of the password). */
#define MQTT_SETUP_PASSWORD_MAX 1024

/* Session Expiry Interval sent with every CONNECT of a persistent MQTT 5
 * session: 7 days. */
#define MQTT_SETUP_SESSION_EXPIRY_S 604800

/*
 * Creates a libmosquitto client for cfg's [mqtt] keys, calling
 * mosquitto_lib_init() once per process (never cleaned up: process exit
 * does), and sets the protocol version, TCP_NODELAY, the username and the
 * password read from password_file, the TLS files, and for a persistent
 * MQTT 5 session the Session Expiry Interval of every CONNECT. The password
 * file is read here, once: it must be a regular file not readable by group
 * or others. obj is what libmosquitto passes to every callback. Every
 * failure is logged with its reason, never with the password.
 * Returns: 0 with *out set;
 *   -EPERM  the password file is readable by group or others;
 *   -ENOENT, -EACCES, ... the password file cannot be read;
 *   -EINVAL a setting libmosquitto refuses (no client id with a persistent
 *           session, a password without username under MQTT 3.1.1, TLS
 *           files), or a password file that is not a regular file or holds
 *           MQTT_SETUP_PASSWORD_MAX bytes or more;
 *   -ENOMEM out of memory.
 * On failure *out is NULL and nothing is left to clean up.
 * Thread: loop (or start-up). Borrows cfg until return.
 */
SP_MUST_CHECK int mqtt_setup_open(struct mosquitto **out,
                                  const struct config *cfg, void *obj);

/*
 * Destroys a client from mqtt_setup_open() and a socket it still holds.
 * NULL is a no-op. Thread: loop.
 */
void mqtt_setup_close(struct mosquitto *mosq);

#endif
