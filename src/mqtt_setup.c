/*
 * mqtt_setup.c - builds the libmosquitto client mqtt.c drives: options,
 * credentials, TLS and session properties, all before any network traffic.
 *
 * Credentials: the password file is read with open(2) + fstat(2) on the
 * same descriptor, so the checks and the read see one file. open() takes
 * O_NOFOLLOW (a symbolic link is refused: it could point anywhere) and
 * O_NONBLOCK (a FIFO put in its place must not block the start; fstat
 * then refuses it as not regular). It must be a regular file owned by the
 * daemon's user (or root, as sshd accepts), with no group or other
 * permission to read or write; its bytes, less one trailing "\n" or
 * "\r\n", are the password. The buffer is wiped with explicit_bzero() on
 * every path, success or failure, once libmosquitto has its own copy.
 *
 * Warnings (mqtt_setup_warnings()): settings that work but expose the
 * daemon are named at start and by --check-config.
 *
 * MQTT 5 CONNECT properties: Maximum Packet Size, so that the broker never
 * sends a packet larger than max_payload_bytes plus room for the topic and
 * headers (libmosquitto reads a whole packet into memory before the
 * daemon sees it; mosquitto drops a larger message for this client and
 * goes on with the rest), and for a persistent session a Session Expiry
 * Interval. libmosquitto 2.0 has no non-blocking connect taking CONNECT
 * properties.
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
#include <stdio.h>
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

/* Why a password file is refused, beyond open/read errors. */
enum pw_refusal {
    PW_OK = 0,
    PW_NOT_REGULAR,
    PW_OWNER,
    PW_MODE,
    PW_TOO_BIG,
};

static enum pw_refusal check_file(const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return PW_NOT_REGULAR;
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return PW_OWNER;
    if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return PW_MODE;
    return PW_OK;
}

/*
 * Reads the whole password file into buf (n bytes, NUL-terminated).
 * Returns: 0; -errno of open/fstat/read; -EPERM with *why set when the
 * file is refused. buf may hold part of the file on failure.
 */
static int read_password(const char *path, char *buf, size_t n,
                         enum pw_refusal *why, struct stat *st)
{
    ssize_t len;
    int fd =
        open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    int err = 0;

    *why = PW_OK;
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0)
        err = -errno;
    else
        *why = check_file(st);
    if (err == 0 && *why == PW_OK) {
        len = read(fd, buf, n);
        if (len < 0)
            err = -errno;
        else if ((size_t) len >= n)
            *why = PW_TOO_BIG;
        else
            buf[len] = '\0';
    }
    close(fd);
    return err < 0 ? err : *why != PW_OK ? -EPERM : 0;
}

static void log_refusal(const char *path, enum pw_refusal why,
                        const struct stat *st, size_t n)
{
    switch (why) {
    case PW_NOT_REGULAR:
        log_err("mqtt: password file %s is not a regular file", path);
        break;
    case PW_OWNER:
        log_err("mqtt: password file %s belongs to uid %u, not to the "
                "daemon's user (uid %u): chown it",
                path, (unsigned) st->st_uid, (unsigned) geteuid());
        break;
    case PW_MODE:
        log_err("mqtt: password file %s is open to group or others (mode "
                "%04o): chmod 600 it",
                path, (unsigned) (st->st_mode & 07777));
        break;
    case PW_TOO_BIG:
        log_err("mqtt: password file %s holds more than %zu bytes", path,
                n - 1);
        break;
    case PW_OK:
        break;
    }
}

static void strip_newline(char *s)
{
    size_t len = strlen(s);

    if (len > 0 && s[len - 1] == '\n')
        s[--len] = '\0';
    if (len > 0 && s[len - 1] == '\r')
        s[len - 1] = '\0';
}

int mqtt_setup_load_password(const char *path, char *pw, size_t n)
{
    enum pw_refusal why;
    struct stat st;
    int rc = read_password(path, pw, n, &why, &st);

    if (rc == 0) {
        strip_newline(pw);
        return 0;
    }
    explicit_bzero(pw, n);
    if (why != PW_OK)
        log_refusal(path, why, &st, n);
    else if (rc == -ELOOP)
        log_err("mqtt: password file %s is a symbolic link: name the file "
                "itself",
                path);
    else
        log_err_errno(rc, "mqtt: cannot read password file %s", path);
    if (why == PW_NOT_REGULAR || why == PW_TOO_BIG)
        return -EINVAL;
    return rc;
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
        rc = mqtt_setup_load_password(path, pw, sizeof(pw));
        if (rc < 0)
            return rc; /* pw already wiped */
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

uint32_t mqtt_setup_max_packet(const struct config *cfg)
{
    return (uint32_t) (cfg->pipeline.max_payload_bytes +
                       MQTT_SETUP_PACKET_ROOM);
}

/* The CONNECT properties: Maximum Packet Size always (MQTT 5), the
 * Session Expiry Interval for a persistent session. */
static int connect_props(mosquitto_property **props, const struct config *cfg)
{
    int rc = mosquitto_property_add_int32(props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
                                          mqtt_setup_max_packet(cfg));

    if (rc == MOSQ_ERR_SUCCESS && !cfg->mqtt.clean_session)
        rc = mosquitto_property_add_int32(props,
                                          MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                          MQTT_SETUP_SESSION_EXPIRY_S);
    return rc;
}

/* See the file header: stores the properties every CONNECT carries. */
static int store_connect_props(struct mosquitto *mosq, const struct config *cfg)
{
    mosquitto_property *props = NULL;
    int rc;

    if (!is_v5(cfg))
        return 0;
    rc = connect_props(&props, cfg);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_property_free_all(&props);
        return mosq_errno(rc);
    }
    rc = mosquitto_connect_bind_v5(mosq, NULL, 0, 0, NULL, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_INVAL) {
        log_err("mqtt: cannot store the CONNECT properties: %s",
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

/* ---- warnings ----------------------------------------------------------- */

void mqtt_setup_warnings(const struct config *cfg, mqtt_setup_warn_fn emit,
                         void *ctx)
{
    char line[MQTT_SETUP_WARNING_MAX];
    bool tls = cfg->mqtt.tls_ca_file[0] != '\0';

    if (cfg->mqtt.password_file[0] != '\0' && !tls)
        emit(ctx, "mqtt: a password is sent without TLS (no tls_ca_file): "
                  "anyone on the path to the broker can read it");
    if (tls && cfg->mqtt.tls_insecure)
        emit(ctx, "mqtt: tls_insecure = true: the broker certificate's host "
                  "name is not checked, so anyone on the path can pose as "
                  "the broker");
    if (!is_v5(cfg)) {
        snprintf(line, sizeof(line),
                 "mqtt: MQTT 3.1.1 cannot ask the broker for packets of at "
                 "most %u bytes: set message_size_limit %llu on the broker, "
                 "or a larger message is read whole into memory before it is "
                 "refused (protocol = 5 needs nothing)",
                 (unsigned) mqtt_setup_max_packet(cfg),
                 (unsigned long long) cfg->pipeline.max_payload_bytes);
        emit(ctx, line);
    }
}

static void log_warning(void *ctx, const char *line)
{
    (void) ctx;
    log_warn("%s", line);
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
    mqtt_setup_warnings(cfg, log_warning, NULL);
    *out = mosq;
    return 0;
}

void mqtt_setup_close(struct mosquitto *mosq)
{
    mosquitto_destroy(mosq); /* NULL-safe */
}
