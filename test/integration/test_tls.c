/*
 * test_tls.c - TLS and credentials against a real mosquitto: the daemon
 * checks the broker's certificate and host name, presents a client
 * certificate when asked, logs in with a password read from a private
 * file, refuses a password file others can read, and never shows the
 * password (log, --check-config).
 *
 * Certificates come from test/support/certs.sh (openssl), made per test in
 * the daemon's temporary directory: a CA, a server certificate for
 * localhost and 127.0.0.1, a client certificate, a server certificate for
 * another name, and a second CA.
 *
 * The broker's TLS settings follow broker.h's "listener" line, so they
 * apply to that listener. The test's own publisher is a libmosquitto
 * client made here, since pub.h speaks neither TLS nor passwords.
 *
 * Threads: the test's own (the publisher runs mosquitto_loop() inline).
 * Memory: test code.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "broker.h"
#include "files.h"
#include "spawn.h"
#include "wait.h"

#define WAIT_MS  15000
#define CERTS_SH "test/support/certs.sh"
#define SECRET   "s3cret-Tls-Passw0rd"

static struct broker broker;
static struct spawn sp;
static char certs[192]; /* sp.dir/certs */

static void setup(void)
{
    char cmd[512];

    cr_assert_eq(spawn_init(&sp), 0);
    snprintf(certs, sizeof(certs), "%s/certs", sp.dir);
    snprintf(cmd, sizeof(cmd), "sh %s '%s'", CERTS_SH, certs);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

static void teardown(void)
{
    spawn_suite_fini(&sp, &broker);
}

/* certs/<name> into buf. */
static const char *cert(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", certs, name);
    return buf;
}

/* A broker whose listener uses server.crt (or server_name.crt); extra
 * lines follow. */
static void start_tls_broker(const char *server, const char *extra)
{
    char conf[1536];

    snprintf(conf, sizeof(conf),
             "cafile %s/ca.crt\ncertfile %s/%s.crt\nkeyfile %s/%s.key\n%s",
             certs, certs, server, certs, server, extra ? extra : "");
    cr_assert_eq(broker_start(&broker, conf), 0, "TLS broker start");
}

static void make_conf(char *buf, size_t len, const char *host,
                      const char *mqtt_extra)
{
    snprintf(buf, len,
             "[mqtt]\nhost = %s\nport = %d\nclient_id = sp-tls-%d\n"
             "reconnect_min_ms = 50ms\nreconnect_max_ms = 500ms\n%s"
             "[subscription n]\ntopic = n/#\nformat = number\n"
             "[pipeline]\nworkers = 1\nring_bytes = 1MiB\n"
             "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
             "[log]\nlevel = info\nstats_interval_s = 1s\n",
             host, broker.port, (int) getpid(), mqtt_extra, sp.db_path);
}

static void start_daemon(const char *host, const char *mqtt_extra,
                         bool subscribed)
{
    char conf[4096];

    make_conf(conf, sizeof(conf), host, mqtt_extra);
    spawn_clear_notes(&sp);
    cr_assert_eq(spawn_start(&sp, conf, NULL), 0);
    cr_assert_eq(spawn_wait_notify(&sp, "READY=1", WAIT_MS), 0,
                 "daemon never became ready");
    if (subscribed)
        cr_assert_eq(spawn_wait_notify(&sp, "subscribed", WAIT_MS), 0,
                     "daemon never subscribed");
}

static bool alive(pid_t pid)
{
    int st;

    return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

/* ---- a publisher that speaks TLS and passwords --------------------------- */

/* How the test's publisher connects. Owner: the test. */
struct peer {
    const char *host;
    const char *user; /* NULL: anonymous */
    const char *password;
    bool tls; /* with ca.crt, client.crt and client.key */
};

/* Owner: publish_one(), on its stack; written by libmosquitto's callbacks
 * on the same thread (mosquitto_loop() runs them inline). */
struct pub_state {
    bool connacked;
    int connack;
    bool acked;
};

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    struct pub_state *st = obj;

    (void) m;
    st->connacked = true;
    st->connack = rc;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    struct pub_state *st = obj;

    (void) m;
    (void) mid;
    st->acked = true;
}

/* Runs the client until *flag or the deadline. */
static bool loop_until(struct mosquitto *m, const bool *flag, uint64_t deadline)
{
    while (!*flag && wait_now_ms() < deadline)
        if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS)
            wait_nap_ms(20);
    return *flag;
}

static void peer_setup(struct mosquitto *m, const struct peer *pr)
{
    char ca[256];
    char crt[256];
    char key[256];

    if (pr->user != NULL)
        cr_assert_eq(mosquitto_username_pw_set(m, pr->user, pr->password),
                     MOSQ_ERR_SUCCESS);
    if (pr->tls)
        cr_assert_eq(mosquitto_tls_set(m, cert("ca.crt", ca, sizeof(ca)), NULL,
                                       cert("client.crt", crt, sizeof(crt)),
                                       cert("client.key", key, sizeof(key)),
                                       NULL),
                     MOSQ_ERR_SUCCESS);
}

/* One QoS 1 message; returns once the broker acknowledged it. */
static void publish_one(const struct peer *pr, const char *topic,
                        const char *payload)
{
    struct pub_state st = {false, -1, false};
    uint64_t deadline = wait_now_ms() + WAIT_MS;
    struct mosquitto *m;

    (void) mosquitto_lib_init();
    m = mosquitto_new(NULL, true, &st);
    cr_assert_not_null(m);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    peer_setup(m, pr);
    cr_assert_eq(mosquitto_connect(m, pr->host, broker.port, 30),
                 MOSQ_ERR_SUCCESS);
    cr_assert(loop_until(m, &st.connacked, deadline), "no CONNACK");
    cr_assert_eq(st.connack, 0, "publisher refused: %d", st.connack);
    cr_assert_eq(mosquitto_publish(m, NULL, topic, (int) strlen(payload),
                                   payload, 1, false),
                 MOSQ_ERR_SUCCESS);
    cr_assert(loop_until(m, &st.acked, deadline), "no PUBACK");
    (void) mosquitto_disconnect(m);
    (void) mosquitto_loop(m, 50, 1);
    mosquitto_destroy(m);
}

static void await_stored(int64_t want)
{
    cr_assert_eq(spawn_await_stored(&sp, 10, want, WAIT_MS), 0,
                 "nothing stored");
}

/* ---- tests --------------------------------------------------------------- */

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 60);

/* The broker's certificate is checked against the CA and host name. */
Test(tls, server_certificate_checked_and_messages_stored)
{
    static const struct peer pr = {"localhost", NULL, NULL, true};
    char extra[512];
    char ca[256];

    start_tls_broker("server", NULL);
    snprintf(extra, sizeof(extra), "tls_ca_file = %s\n",
             cert("ca.crt", ca, sizeof(ca)));
    start_daemon("localhost", extra, true);
    cr_expect(spawn_log_contains(&sp, "mqtt: connected to localhost:"));
    publish_one(&pr, "n/tls", "21.5");
    await_stored(1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
    cr_expect_float_eq(db_double(sp.db_path, "SELECT sum FROM rollups WHERE "
                                             "resolution_s = 10"),
                       21.5, 1e-12);
}

/* require_certificate: the daemon presents client.crt. */
Test(tls, client_certificate_presented_when_required)
{
    static const struct peer pr = {"localhost", NULL, NULL, true};
    char extra[1024];
    char ca[256];
    char crt[256];
    char key[256];

    start_tls_broker("server", "require_certificate true\n");
    snprintf(extra, sizeof(extra),
             "tls_ca_file = %s\ntls_cert_file = %s\ntls_key_file = %s\n",
             cert("ca.crt", ca, sizeof(ca)),
             cert("client.crt", crt, sizeof(crt)),
             cert("client.key", key, sizeof(key)));
    start_daemon("localhost", extra, true);
    publish_one(&pr, "n/mtls", "3");
    await_stored(1);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
}

/* Each is refused at the TLS layer: the daemon says why and keeps trying,
 * never connected. */
static void expect_tls_refusal(const char *why)
{
    cr_assert_eq(
        spawn_wait_log(&sp, "mqtt: cannot connect to localhost:", 1, WAIT_MS),
        0, "no failure logged");
    cr_expect(spawn_log_contains(&sp, why), "the line does not say '%s'", why);
    cr_expect(!spawn_log_contains(&sp, "mqtt: connected to"));
    cr_assert(alive(sp.pid), "the daemon exited");
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);
}

Test(tls, client_certificate_missing_is_refused)
{
    char extra[512];
    char ca[256];

    start_tls_broker("server", "require_certificate true\n");
    snprintf(extra, sizeof(extra), "tls_ca_file = %s\n",
             cert("ca.crt", ca, sizeof(ca)));
    start_daemon("localhost", extra, false);
    expect_tls_refusal("cannot connect");
}

Test(tls, broker_signed_by_another_ca_is_refused)
{
    char extra[512];
    char ca[256];

    start_tls_broker("server", NULL);
    snprintf(extra, sizeof(extra), "tls_ca_file = %s\n",
             cert("other-ca.crt", ca, sizeof(ca)));
    start_daemon("localhost", extra, false);
    expect_tls_refusal("certificate verify failed");
}

Test(tls, broker_certificate_for_another_host_is_refused)
{
    char extra[512];
    char ca[256];

    start_tls_broker("badhost", NULL);
    snprintf(extra, sizeof(extra), "tls_ca_file = %s\n",
             cert("ca.crt", ca, sizeof(ca)));
    start_daemon("localhost", extra, false);
    expect_tls_refusal("certificate verify failed");
}

/* ---- passwords ----------------------------------------------------------- */

static void start_password_broker(void)
{
    char passwd[256];
    char conf[512];

    snprintf(passwd, sizeof(passwd), "%s/broker.passwd", sp.dir);
    cr_assert_eq(broker_passwd(passwd, "sp", SECRET, 1), 0);
    cr_assert_eq(broker_passwd(passwd, "pub", "pub-" SECRET, 0), 0);
    snprintf(conf, sizeof(conf), "allow_anonymous false\npassword_file %s",
             passwd);
    cr_assert_eq(broker_start(&broker, conf), 0);
}

/* Runs sensorpipe --check-config on the daemon's configuration. */
static int check_config(char *out, size_t len)
{
    char cmd[512];
    FILE *f;
    size_t n;

    snprintf(cmd, sizeof(cmd), "%s --check-config -c %s 2>&1", spawn_binary(),
             sp.conf_path);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    return WEXITSTATUS(pclose(f));
}

Test(tls, password_file_logs_in_and_stays_secret)
{
    static const struct peer pr = {"127.0.0.1", "pub", "pub-" SECRET, false};
    char pw[256];
    char extra[512];
    char out[16384];

    start_password_broker();
    snprintf(pw, sizeof(pw), "%s/pw", sp.dir);
    cr_assert_eq(files_write(pw, SECRET "\n", 0600), 0);
    snprintf(extra, sizeof(extra), "username = sp\npassword_file = %s\n", pw);
    start_daemon("127.0.0.1", extra, true);
    publish_one(&pr, "n/auth", "1");
    await_stored(1);
    cr_assert_eq(check_config(out, sizeof(out)), 0, "%s", out);
    cr_assert_eq(spawn_stop(&sp, SIGTERM, WAIT_MS), 0);

    cr_expect(strstr(out, pw) != NULL, "--check-config shows the file");
    cr_expect(strstr(out, "s3cret") == NULL, "--check-config shows the "
                                             "password");
    cr_expect(!spawn_log_contains(&sp, "s3cret"), "the log shows it");
}

/* A password file readable by others: exit 2 (a configuration error, which
 * systemd does not restart), naming the file; the secret stays unread. */
Test(tls, password_file_readable_by_others_is_refused)
{
    char pw[256];
    char extra[512];
    char conf[4096];
    char out[16384];
    int rc;

    start_password_broker();
    snprintf(pw, sizeof(pw), "%s/pw", sp.dir);
    cr_assert_eq(files_write(pw, SECRET "\n", 0644), 0);
    snprintf(extra, sizeof(extra), "username = sp\npassword_file = %s\n", pw);
    make_conf(conf, sizeof(conf), "127.0.0.1", extra);
    cr_assert_eq(spawn_start(&sp, conf, NULL), 0);
    rc = spawn_wait_exit(&sp, WAIT_MS);
    cr_assert_eq(rc, 2, "exit status %d", rc);
    cr_expect(spawn_log_contains(&sp, pw), "the message names the file");
    cr_expect(spawn_log_contains(&sp, "chmod 600"), "and the fix");
    cr_expect_neq(spawn_wait_notify(&sp, "READY=1", 0), 0, "never ready");
    cr_expect(!spawn_log_contains(&sp, "s3cret"), "the log shows it");
    (void) check_config(out, sizeof(out));
    cr_expect(strstr(out, "s3cret") == NULL, "--check-config shows it");
}
