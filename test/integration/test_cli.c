/*
 * test_cli.c - the command line and configuration errors, as an operator
 * meets them: exit statuses 0 / 2 and one clear line naming file and line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "spawn.h"

/* Runs the daemon with args; returns its exit status, output in out. */
static int run(const char *args, char *out, size_t out_len)
{
    char cmd[1024];
    FILE *f;
    size_t n;
    int st;

    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", spawn_binary(), args);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    n = fread(out, 1, out_len - 1, f);
    out[n] = '\0';
    st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char dir[64];
static char out[65536];

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sp-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static void write_conf(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

TestSuite(cli, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 30);

Test(cli, version_and_help_exit_zero)
{
    cr_expect_eq(run("--version", out, sizeof(out)), 0);
    cr_expect(strncmp(out, "sensorpipe ", 11) == 0, "%s", out);
    cr_expect_eq(run("--help", out, sizeof(out)), 0);
    cr_expect(strstr(out, "--check-config") != NULL);
    cr_expect(strstr(out, "rebuild-rollups DB") != NULL, "%s", out);
}

Test(cli, usage_errors_exit_two)
{
    cr_expect_eq(run("--no-such-flag", out, sizeof(out)), 2);
    cr_expect(strstr(out, "usage:") != NULL);
    cr_expect_eq(run("-c", out, sizeof(out)), 2);
    cr_expect_eq(run("extra-argument", out, sizeof(out)), 2);
    /* rebuild-rollups takes exactly one store. */
    cr_expect_eq(run("rebuild-rollups", out, sizeof(out)), 2);
    cr_expect(strstr(out, "need one DB") != NULL, "%s", out);
    cr_expect_eq(run("rebuild-rollups a.db b.db", out, sizeof(out)), 2);
    cr_expect_eq(run("rebuild-rollups /no/such/store.db", out, sizeof(out)), 2);
}

Test(cli, missing_config_exits_two_naming_the_file)
{
    char args[128];

    snprintf(args, sizeof(args), "-c %s/none.conf", dir);
    cr_expect_eq(run(args, out, sizeof(out)), 2);
    cr_expect(strstr(out, "none.conf") != NULL, "%s", out);
}

Test(cli, bad_config_exits_two_with_file_line_and_key)
{
    char args[128];

    write_conf("bad.conf", "[mqtt]\nhost = x\nkeepalive_s = 0\n"
                           "[subscription a]\ntopic = a/#\n");
    snprintf(args, sizeof(args), "-c %s/bad.conf", dir);
    cr_expect_eq(run(args, out, sizeof(out)), 2);
    cr_expect(strstr(out, "bad.conf:3: key 'keepalive_s'") != NULL, "%s", out);
    /* The same through --check-config. */
    snprintf(args, sizeof(args), "--check-config -c %s/bad.conf", dir);
    cr_expect_eq(run(args, out, sizeof(out)), 2);
}

Test(cli, check_config_prints_settings_and_plan_without_secrets)
{
    char args[512];
    char pw[128];
    FILE *f;

    snprintf(pw, sizeof(pw), "%s/pw", dir);
    f = fopen(pw, "w");
    cr_assert_not_null(f);
    fputs("s3cret-Passw0rd\n", f);
    fclose(f);
    chmod(pw, 0600);
    snprintf(args, sizeof(args),
             "[mqtt]\nusername = u\npassword_file = %s\n"
             "[subscription a]\ntopic = a/#\n",
             pw);
    write_conf("ok.conf", args);
    snprintf(args, sizeof(args), "--check-config -c %s/ok.conf", dir);
    cr_expect_eq(run(args, out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "topic = a/#") != NULL, "%s", out);
    cr_expect(strstr(out, "# memory: preallocated") != NULL, "%s", out);
    cr_expect(strstr(out, "s3cret") == NULL, "no secret in the output");
}

Test(cli, shipped_config_is_valid)
{
    cr_expect_eq(
        run("--check-config -c config/sensorpipe.conf", out, sizeof(out)), 0,
        "%s", out);
}
