/*
 * mqtt_setup.c - builds the libmosquitto client mqtt.c drives: options,
 * credentials, TLS and session properties, all before any network traffic.
 *
 * Credentials: the password file is read with open(2) + fstat(2) on the
 * same descriptor, so the permission check and the read see one file. It
 * must be a regular file without group or other read permission; its
 * bytes, less one trailing "\n" or "\r\n", are the password. The buffer is
 * wiped with explicit_bzero() once libmosquitto has its own copy.
 *
 * MQTT 5 persistent sessions need a Session Expiry Interval in CONNECT, and
 * libmosquitto 2.0 has no non-blocking connect taking CONNECT properties.
 * mosquitto_connect_bind_v5() stores its properties in the handle before it
 * validates the host, and every later connect or reconnect sends the stored
 * ones (eclipse/mosquitto#1846). So mqtt_setup_open() calls it once with a
 * NULL host: the properties are kept, the call fails with MOSQ_ERR_INVAL
 * before touching the network. test_mqtt.c's persistent-session test
 * proves it works.
 *
 * Threads: the loop thread (mqtt_init()), before the handle is driven;
 * mosquitto_lib_init() runs once per process under pthread_once().
 *
 * Invariants:
 *   - mqtt_setup_open() returns either 0 and a handle with every setting
 *     applied, or an error and no handle.
 *   - The password never reaches a log line, and no copy of it outlives
 *     the call that read it.
 *
 * Memory: libmosquitto allocates the handle and its copies of the settings;
 * the password buffer is on the stack. Nothing here runs after the seal.
 */
#include "mqtt_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mosquitto.h>

#include "log.h"

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    /* Never cleaned up: OpenSSL state lives until process exit. */
    (void) mosquitto_lib_init();
}

static bool is_v5(const struct config *cfg)
{
    return cfg->mqtt.protocol == PROTOCOL_V5;
}

/* A libmosquitto result as -errno. */
static int mosq_errno(int rc)
{
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        return 0;
    case MOSQ_ERR_NOMEM:
        return -ENOMEM;
    case MOSQ_ERR_ERRNO:
        return errno != 0 ? -errno : -EIO;
    default:
        return -EINVAL;
    }
}

/* ---- credentials -------------------------------------------------------- */

/* Reads the whole password file into buf, refusing loose permissions. */
static int read_password(const char *path, char *buf, size_t n)
{
    struct stat st;
    ssize_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int err = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0)
        err = -errno;
    else if (!S_ISREG(st.st_mode))
        err = -EINVAL;
    else if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0)
        err = -EPERM;
    if (err == 0) {
        len = read(fd, buf, n);
        if (len < 0)
            err = -errno;
        else if ((size_t) len >= n)
            err = -EFBIG;
        else
            buf[len] = '\0';
    }
    close(fd);
    return err;
}

static void strip_newline(char *s)
{
    size_t len = strlen(s);

    if (len > 0 && s[len - 1] == '\n')
        s[--len] = '\0';
    if (len > 0 && s[len - 1] == '\r')
        s[len - 1] = '\0';
}

/* read_password() with its failures logged. Returns: as mqtt_setup_open. */
static int load_password(const char *path, char *pw, size_t n)
{
    int rc = read_password(path, pw, n);

    if (rc == -EPERM)
        log_err("mqtt: password file %s is readable by group or others: "
                "chmod 600 it",
                path);
    else if (rc == -EFBIG)
        log_err("mqtt: password file %s holds more than %zu bytes", path,
                n - 1);
    else if (rc < 0)
        log_err_errno(rc, "mqtt: cannot read password file %s", path);
    if (rc < 0)
        return rc == -EFBIG ? -EINVAL : rc;
    strip_newline(pw);
    return 0;
}

static int set_credentials(struct mosquitto *mosq, const struct config *cfg)
{
    const char *user = cfg->mqtt.username;
    const char *path = cfg->mqtt.password_file;
    char pw[MQTT_SETUP_PASSWORD_MAX];
    int rc;

    if (user[0] == '\0' && path[0] == '\0')
        return 0;
    pw[0] = '\0';
    if (path[0] != '\0') {
        rc = load_password(path, pw, sizeof(pw));
        if (rc < 0)
            return rc;
    }
    rc = mosquitto_username_pw_set(mosq, user[0] != '\0' ? user : NULL,
                                   path[0] != '\0' ? pw : NULL);
    explicit_bzero(pw, sizeof(pw));
    if (rc != MOSQ_ERR_SUCCESS) {
        log_err("mqtt: credentials refused by libmosquitto: %s (MQTT 3.1.1 "
                "needs a username with a password)",
                mosquitto_strerror(rc));
        return mosq_errno(rc);
    }
    return 0;
}

/* ---- TLS, properties, options ------------------------------------------- */

static int set_tls(struct mosquitto *mosq, const struct config *cfg)
{
    const char *cert = cfg->mqtt.tls_cert_file;
    const char *key = cfg->mqtt.tls_key_file;
    int rc;

    if (cfg->mqtt.tls_ca_file[0] == '\0')
        return 0; /* TLS is on only when tls_ca_file is set */
    rc = mosquitto_tls_set(mosq, cfg->mqtt.tls_ca_file, NULL,
                           cert[0] != '\0' ? cert : NULL,
                           key[0] != '\0' ? key : NULL, NULL);
    if (rc == MOSQ_ERR_SUCCESS && cfg->mqtt.tls_insecure)
        rc = mosquitto_tls_insecure_set(mosq, true);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_err("mqtt: TLS settings refused: %s (tls_ca_file %s, "
                "tls_cert_file %s, tls_key_file %s)",
                mosquitto_strerror(rc), cfg->mqtt.tls_ca_file,
                cert[0] != '\0' ? cert : "-", key[0] != '\0' ? key : "-");
        return mosq_errno(rc);
    }
    return 0;
}

/* See the file header: stores the Session Expiry Interval for CONNECT. */
static int store_connect_props(struct mosquitto *mosq, const struct config *cfg)
{
    mosquitto_property *props = NULL;
    int rc;

    if (!is_v5(cfg) || cfg->mqtt.clean_session)
        return 0;
    rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                      MQTT_SETUP_SESSION_EXPIRY_S);
    if (rc != MOSQ_ERR_SUCCESS)
        return mosq_errno(rc);
    rc = mosquitto_connect_bind_v5(mosq, NULL, 0, 0, NULL, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_INVAL) {
        log_err("mqtt: cannot store the session expiry property: %s",
                mosquitto_strerror(rc));
        return -EINVAL;
    }
    return 0;
}

static int set_options(struct mosquitto *mosq, const struct config *cfg)
{
    int version = is_v5(cfg) ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
    int rc;

    rc = mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, version);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_err("mqtt: cannot set client options: %s", mosquitto_strerror(rc));
        return mosq_errno(rc);
    }
    rc = set_credentials(mosq, cfg);
    if (rc == 0)
        rc = set_tls(mosq, cfg);
    if (rc == 0)
        rc = store_connect_props(mosq, cfg);
    return rc;
}

/* ---- public ------------------------------------------------------------- */

int mqtt_setup_open(struct mosquitto **out, const struct config *cfg, void *obj)
{
    const char *id = cfg->mqtt.client_id;
    struct mosquitto *mosq;
    int rc;

    *out = NULL;
    pthread_once(&lib_once, lib_init);
    mosq =
        mosquitto_new(id[0] != '\0' ? id : NULL, cfg->mqtt.clean_session, obj);
    if (mosq == NULL) {
        rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
        log_err("mqtt: cannot create the client '%s': %s", id,
                rc == -ENOMEM ? "out of memory"
                              : "persistent sessions need a client id");
        return rc;
    }
    rc = set_options(mosq, cfg);
    if (rc < 0) {
        mosquitto_destroy(mosq);
        return rc;
    }
    *out = mosq;
    return 0;
}

void mqtt_setup_close(struct mosquitto *mosq)
{
    mosquitto_destroy(mosq); /* NULL-safe */
}
