/*
 * test_mqtt_setup.c - unit tests for mqtt_setup.c.
 *
 * No broker: mqtt_setup_open() must not touch the network, so every test
 * here runs offline and looks at the return code and at the log, which goes
 * to a temporary file. Password files live in a fresh directory. Tests run
 * as root, which reads any file whatever its mode: the permission rule is
 * mqtt_setup's own fstat() check, so it is tested the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "config.h"
#include "log.h"
#include "logfile.h"
#include "mqtt_setup.h"

/* Owner: the running test (each runs in its own process). */
static struct {
    struct config cfg;
    struct mosquitto *mosq;
    char dir[64];
    char log_path[64];
    int log_fd;
    char pw_path[128];
} fx;

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.log_path, sizeof(fx.log_path), "/tmp/sp-mqtt-setup-XXXXXX");
    fx.log_fd = mkstemp(fx.log_path);
    cr_assert_geq(fx.log_fd, 0);
    log_init(LOG_INFO);
    log_set_fd(fx.log_fd);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/sp-mqtt-setup-d-XXXXXX");
    cr_assert_not_null(mkdtemp(fx.dir));
    snprintf(fx.pw_path, sizeof(fx.pw_path), "%s/client.pw", fx.dir);
    config_defaults(&fx.cfg);
    snprintf(fx.cfg.mqtt.client_id, sizeof(fx.cfg.mqtt.client_id), "setup-%d",
             (int) getpid());
}

static void teardown(void)
{
    char cmd[128];

    mqtt_setup_close(fx.mosq);
    close(fx.log_fd);
    unlink(fx.log_path);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
    if (system(cmd) != 0)
        cr_log_warn("cannot remove %s", fx.dir);
}

TestSuite(mqtt_setup, .init = setup, .fini = teardown, .timeout = 30);

/* Lines of the log that contain needle. */
static unsigned log_count(const char *needle)
{
    int n = logfile_count(fx.log_path, needle);

    cr_assert_geq(n, 0, "cannot read %s", fx.log_path);
    return (unsigned) n;
}

static void write_file(const char *path, const char *text, size_t len,
                       mode_t mode)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
}

/* username "sensor" and fx.pw_path holding text with the given mode. */
static void use_password(const char *text, mode_t mode)
{
    snprintf(fx.cfg.mqtt.username, sizeof(fx.cfg.mqtt.username), "sensor");
    snprintf(fx.cfg.mqtt.password_file, sizeof(fx.cfg.mqtt.password_file), "%s",
             fx.pw_path);
    write_file(fx.pw_path, text, strlen(text), mode);
}

/* mqtt_setup_open() with the fixture; a handle it returns is kept for
 * teardown, and a failure must return none. */
static int open_client(void)
{
    struct mosquitto *mosq = (struct mosquitto *) &fx; /* not NULL */
    int rc = mqtt_setup_open(&mosq, &fx.cfg, &fx);

    if (rc < 0) {
        cr_expect_null(mosq, "a failure leaves no handle");
    } else {
        cr_expect_not_null(mosq);
        mqtt_setup_close(fx.mosq);
        fx.mosq = mosq;
    }
    return rc;
}

/* ---- plain set-ups ------------------------------------------------------ */

Test(mqtt_setup, default_settings_open_without_network)
{
    fx.cfg.mqtt.protocol = PROTOCOL_V5;
    fx.cfg.mqtt.clean_session = false; /* stores the session expiry */
    cr_assert_eq(open_client(), 0);
    fx.cfg.mqtt.protocol = PROTOCOL_V311;
    cr_assert_eq(open_client(), 0);
    fx.cfg.mqtt.clean_session = true;
    cr_assert_eq(open_client(), 0);
    fx.cfg.mqtt.protocol = PROTOCOL_V5; /* Maximum Packet Size alone */
    cr_assert_eq(open_client(), 0);
    /* MQTT 3.1.1 cannot limit the packet size: each open says so. */
    cr_expect_eq(log_count("message_size_limit"), 2);
    cr_expect_eq(log_count("mqtt:"), 2, "nothing else to complain about");
}

Test(mqtt_setup, persistent_session_needs_a_client_id)
{
    fx.cfg.mqtt.client_id[0] = '\0';
    fx.cfg.mqtt.clean_session = false;
    cr_assert_eq(open_client(), -EINVAL);
    cr_expect_eq(log_count("persistent sessions need a client id"), 1);
    fx.cfg.mqtt.clean_session = true; /* the broker assigns one */
    cr_assert_eq(open_client(), 0);
}

/* ---- credentials -------------------------------------------------------- */

Test(mqtt_setup, password_file_readable_by_others_is_refused)
{
    use_password("s3cret\n", 0644);
    cr_assert_eq(open_client(), -EPERM);
    cr_assert_eq(log_count("open to group or others"), 1);
    cr_assert_eq(chmod(fx.pw_path, 0640), 0);
    cr_assert_eq(open_client(), -EPERM);
    cr_assert_eq(chmod(fx.pw_path, 0600), 0);
    cr_assert_eq(open_client(), 0);
    unlink(fx.pw_path);
    cr_assert_eq(open_client(), -ENOENT);
    cr_expect_eq(log_count("cannot read password file"), 1);
    cr_expect_eq(log_count("s3cret"), 0);
}

Test(mqtt_setup, password_file_must_be_a_small_regular_file)
{
    char big[MQTT_SETUP_PASSWORD_MAX];
    char line[64];

    use_password("x", 0600);
    snprintf(fx.cfg.mqtt.password_file, sizeof(fx.cfg.mqtt.password_file), "%s",
             fx.dir); /* a directory */
    cr_assert_eq(open_client(), -EINVAL);
    snprintf(fx.cfg.mqtt.password_file, sizeof(fx.cfg.mqtt.password_file), "%s",
             fx.pw_path);
    memset(big, 'p', sizeof(big));
    write_file(fx.pw_path, big, sizeof(big) - 1, 0600);
    cr_assert_eq(open_client(), 0, "one byte under the limit");
    write_file(fx.pw_path, big, sizeof(big), 0600);
    cr_assert_eq(open_client(), -EINVAL);
    snprintf(line, sizeof(line), "holds more than %d bytes",
             MQTT_SETUP_PASSWORD_MAX - 1);
    cr_expect_eq(log_count(line), 1);
}

Test(mqtt_setup, password_without_username_is_refused_by_mqtt_311)
{
    use_password("s3cret\r\n", 0600);
    fx.cfg.mqtt.username[0] = '\0';
    fx.cfg.mqtt.protocol = PROTOCOL_V311;
    cr_assert_eq(open_client(), -EINVAL);
    cr_expect_eq(log_count("credentials refused"), 1);
    fx.cfg.mqtt.protocol = PROTOCOL_V5; /* MQTT 5 allows it */
    cr_assert_eq(open_client(), 0);
    cr_expect_eq(log_count("s3cret"), 0, "the password is never logged");
}

/* ---- TLS ---------------------------------------------------------------- */

Test(mqtt_setup, missing_tls_files_are_refused)
{
    snprintf(fx.cfg.mqtt.tls_ca_file, sizeof(fx.cfg.mqtt.tls_ca_file),
             "%s/no-such-ca.pem", fx.dir);
    cr_assert_eq(open_client(), -EINVAL);
    cr_expect_eq(log_count("TLS settings refused"), 1);
    cr_expect_eq(log_count("no-such-ca.pem"), 1, "the file is named");
}

Test(mqtt_setup, tls_is_off_without_a_ca_file)
{
    /* Certificate files alone are ignored (config.c refuses that file). */
    snprintf(fx.cfg.mqtt.tls_cert_file, sizeof(fx.cfg.mqtt.tls_cert_file),
             "%s/no-such-cert.pem", fx.dir);
    cr_assert_eq(open_client(), 0);
    cr_expect_eq(log_count("TLS"), 0);
}

/* ---- no copy of the password outlives a failure ------------------------ */

static bool all_zero(const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != 0)
            return false;
    return true;
}

/* A file too big to be a password is read (in part) before it is refused:
 * the buffer must hold nothing of it afterwards; nor after any other
 * refusal, whatever the buffer held before. */
Test(mqtt_setup, password_buffer_is_wiped_on_every_failure)
{
    char big[MQTT_SETUP_PASSWORD_MAX + 64];
    char pw[MQTT_SETUP_PASSWORD_MAX];

    memset(big, 'p', sizeof(big));
    write_file(fx.pw_path, big, sizeof(big), 0600);
    memset(pw, 'x', sizeof(pw));
    cr_assert_eq(mqtt_setup_load_password(fx.pw_path, pw, sizeof(pw)), -EINVAL);
    cr_expect(all_zero(pw, sizeof(pw)), "a too-big file left its bytes");
    write_file(fx.pw_path, "s3cret\n", 7, 0640);
    memset(pw, 'x', sizeof(pw));
    cr_assert_eq(mqtt_setup_load_password(fx.pw_path, pw, sizeof(pw)), -EPERM);
    cr_expect(all_zero(pw, sizeof(pw)), "a refused file left bytes");
    unlink(fx.pw_path);
    memset(pw, 'x', sizeof(pw));
    cr_assert_eq(mqtt_setup_load_password(fx.pw_path, pw, sizeof(pw)), -ENOENT);
    cr_expect(all_zero(pw, sizeof(pw)), "a missing file left bytes");
    write_file(fx.pw_path, "s3cret\r\n", 8, 0600);
    cr_assert_eq(mqtt_setup_load_password(fx.pw_path, pw, sizeof(pw)), 0);
    cr_expect_str_eq(pw, "s3cret");
}
