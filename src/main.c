/*
 * main.c - command line: sensorpipe [-c FILE] [--check-config] [--version]
 * [--help], sensorpipe merge OUT IN..., or sensorpipe rebuild-rollups DB.
 * Everything else is daemon_run(), merge_run() and relayout_run().
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clock.h"
#include "daemon.h"
#include "merge.h"
#include "relayout.h"

#define DEFAULT_CONFIG "/etc/sensorpipe/sensorpipe.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sensorpipe [-c FILE] [--check-config] [--version] "
            "[--help]\n"
            "       sensorpipe merge OUT.db IN.db...\n"
            "       sensorpipe rebuild-rollups DB\n"
            "\n"
            "  -c, --config FILE  settings file (default %s)\n"
            "      --check-config validate FILE, print the effective "
            "settings and\n"
            "                     the memory plan, and exit\n"
            "      --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n"
            "  merge OUT IN...    combine the stores IN (read while their "
            "daemons run)\n"
            "                     into OUT, replaced atomically\n"
            "  rebuild-rollups DB copy the rollups of a store made before "
            "schema 8\n"
            "                     into the current layout (daemon "
            "stopped)\n"
            "\n"
            "Exit status: 0 clean stop, 1 runtime failure, 2 usage or "
            "configuration error.\n",
            DEFAULT_CONFIG);
}

/* sensorpipe merge [--] OUT IN... */
static int main_merge(int argc, char **argv)
{
    if (argc >= 1 &&
        (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
        usage(stdout);
        return DAEMON_EXIT_OK;
    }
    if (argc >= 1 && strcmp(argv[0], "--") == 0) {
        argc--;
        argv++;
    }
    if (argc < 2) {
        fprintf(stderr, "sensorpipe merge: need OUT and at least one IN\n");
        usage(stderr);
        return DAEMON_EXIT_CONFIG;
    }
    return merge_run(argv[0], (const char *const *) (void *) (argv + 1),
                     (size_t) argc - 1, stderr, stdout);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = DEFAULT_CONFIG;
    const char *offset = getenv("SENSORPIPE_CLOCK_OFFSET_MS");
    int check = 0;
    int c;

    if (argc >= 2 && strcmp(argv[1], "merge") == 0)
        return main_merge(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "rebuild-rollups") == 0) {
        if (argc != 3 || argv[2][0] == '-') {
            fprintf(stderr, "sensorpipe rebuild-rollups: need one DB\n");
            usage(stderr);
            return DAEMON_EXIT_CONFIG;
        }
        return relayout_run(argv[2], stderr, stdout);
    }
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'V':
            printf("sensorpipe %s\n", SP_VERSION);
            return DAEMON_EXIT_OK;
        case 'h':
            usage(stdout);
            return DAEMON_EXIT_OK;
        default:
            usage(stderr);
            return DAEMON_EXIT_CONFIG;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sensorpipe: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return DAEMON_EXIT_CONFIG;
    }
    /* Test hook: shifts the wall clock (retention and skew tests). */
    if (offset != NULL)
        clock_set_offset_ms(strtoll(offset, NULL, 10));
    if (check)
        return check_config(path, stdout) == 0 ? DAEMON_EXIT_OK
                                               : DAEMON_EXIT_CONFIG;
    return daemon_run(path);
}
