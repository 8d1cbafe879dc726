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

#include <stdint.h>

#include <mosquitto.h>

#include "compiler.h"
#include "config.h"

/* The password file holds fewer bytes than this (one trailing newline,
 * "\n" or "\r\n", is not part of the password). */
#define MQTT_SETUP_PASSWORD_MAX 1024

/* Session Expiry Interval sent with every CONNECT of a persistent MQTT 5
 * session: 7 days. */
#define MQTT_SETUP_SESSION_EXPIRY_S 604800

/* What an MQTT 5 CONNECT's Maximum Packet Size allows beyond
 * max_payload_bytes: fixed header (5), topic length and the protocol's
 * longest topic (2 + 65535), packet id (2) and 4 KiB of properties
 * (subscription identifiers, user properties a publisher added). */
#define MQTT_SETUP_PACKET_ROOM (5 + 2 + 65535 + 2 + 4096)

/* The longest warning line of mqtt_setup_warnings(), with its NUL. */
#define MQTT_SETUP_WARNING_MAX 320

/* Receives one warning line (no trailing newline). */
typedef void (*mqtt_setup_warn_fn)(void *ctx, const char *line);

/*
 * The Maximum Packet Size an MQTT 5 CONNECT carries for cfg:
 * max_payload_bytes + MQTT_SETUP_PACKET_ROOM. Thread: any.
 */
uint32_t mqtt_setup_max_packet(const struct config *cfg);

/*
 * Calls emit once per setting of cfg that works but exposes the daemon: a
 * password sent without TLS, tls_insecure on, and MQTT 3.1.1 (which cannot
 * ask the broker to keep large packets away: the broker's
 * message_size_limit must). mqtt_setup_open() logs them at warning;
 * --check-config prints them. Thread: any. Allocates nothing.
 */
void mqtt_setup_warnings(const struct config *cfg, mqtt_setup_warn_fn emit,
                         void *ctx);

/*
 * Reads the password file at path into pw (n bytes), as mqtt_setup_open()
 * does: the checks above, one trailing newline stripped, every refusal
 * logged. On any failure pw holds only zero bytes (explicit_bzero), even
 * when part of the file was read. Returns: as mqtt_setup_open() for the
 * password file. Thread: any. Allocates nothing.
 */
SP_MUST_CHECK int mqtt_setup_load_password(const char *path, char *pw,
                                           size_t n);

/*
 * Creates a libmosquitto client for cfg's [mqtt] keys, calling
 * mosquitto_lib_init() once per process (never cleaned up: process exit
 * does), and sets the protocol version, TCP_NODELAY, the username and the
 * password read from password_file, the TLS files, and for MQTT 5 the
 * properties of every CONNECT (Maximum Packet Size, and for a persistent
 * session the Session Expiry Interval). The password file is read here,
 * once: it must be a regular file (not a symbolic link) owned by the
 * daemon's user or root, with no permission for group or others. obj is
 * what libmosquitto passes to every callback. Every failure is logged
 * with its reason, never with the password; mqtt_setup_warnings() are
 * logged at warning.
 * Returns: 0 with *out set;
 *   -EPERM  the password file is open to group or others, or belongs to
 *           another user;
 *   -ELOOP  the password file is a symbolic link;
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
