/*
 * main.c - command line: sensorpipe [-c FILE] [--check-config] [--version]
 * [--help]. Everything else is daemon_run().
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "daemon.h"

#define DEFAULT_CONFIG "/etc/sensorpipe/sensorpipe.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sensorpipe [-c FILE] [--check-config] [--version] "
            "[--help]\n"
            "\n"
            "  -c, --config FILE  settings file (default %s)\n"
            "      --check-config validate FILE, print the effective "
            "settings and\n"
            "                     the memory plan, and exit\n"
            "      --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n"
            "\n"
            "Exit status: 0 clean stop, 1 runtime failure, 2 usage or "
            "configuration error.\n",
            DEFAULT_CONFIG);
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
        return daemon_check_config(path, stdout);
    return daemon_run(path);
}
