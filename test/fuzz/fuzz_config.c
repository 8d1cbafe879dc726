/*
 * fuzz_config.c - libFuzzer target for config_parse_text().
 *
 * Any bytes must either parse or fail cleanly, with one NUL-terminated
 * message naming the file; never a crash, a leak or undefined behaviour.
 * A text that parses must also survive config_print(): the printed text
 * parses back to the same struct, byte for byte, once the subscriptions'
 * section line numbers (which follow the layout of the text) are cleared.
 * A broken property aborts, so libFuzzer saves the input.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE
 *   -Iinclude test/fuzz/fuzz_config.c src/config.c src/log.c src/clock.c
 *   $(pkg-config --cflags --libs libmosquitto)
 *
 * Threads: libFuzzer's one thread. Memory: the structs and buffers below
 * are static; fmemopen()'s FILE is closed before returning.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define FUZZ_NAME "fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg_a;
static struct config cfg_b;
static char err[CONFIG_ERR_MAX];
static char printed[1u << 20]; /* 32 full subscriptions print ~200 KiB */

/* config_parse_text() on len bytes of text named name. */
static int parse_text(struct config *cfg, const char *name, const char *text,
                      size_t len, char *e, size_t elen)
{
    const struct config_text src = {.name = name, .text = text, .len = len};

    return config_parse_text(cfg, &src, e, elen);
}

static void check_error(void)
{
    if (memchr(err, '\0', sizeof(err)) == NULL ||
        strncmp(err, FUZZ_NAME ":", strlen(FUZZ_NAME ":")) != 0 ||
        strchr(err, '\n') != NULL) {
        fprintf(stderr, "bad error message: '%.*s'\n", (int) sizeof(err), err);
        abort();
    }
}

/* Prints cfg_a; returns the length of the text in printed. */
static size_t print_a(void)
{
    FILE *f = fmemopen(printed, sizeof(printed), "w");
    long len;

    if (f == NULL)
        abort();
    config_print(&cfg_a, f);
    len = ftell(f);
    if (fclose(f) != 0 || len < 0 || (size_t) len >= sizeof(printed) - 1)
        abort(); /* the text did not fit: raise the buffer */
    return (size_t) len;
}

static void check_round_trip(void)
{
    size_t len = print_a();

    if (parse_text(&cfg_b, FUZZ_NAME, printed, len, err, sizeof(err)) != 0) {
        fprintf(stderr, "printed config does not parse: %s\n%s", err, printed);
        abort();
    }
    for (unsigned i = 0; i < CONFIG_MAX_SUBS; i++) {
        cfg_a.subs[i].line = 0;
        cfg_b.subs[i].line = 0;
    }
    if (memcmp(&cfg_a, &cfg_b, sizeof(cfg_a)) != 0) {
        fprintf(stderr, "printed config parses differently:\n%s", printed);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc;

    memset(err, 0, sizeof(err));
    rc = parse_text(&cfg_a, FUZZ_NAME, (const char *) data, size, err,
                    sizeof(err));
    if (rc == 0)
        check_round_trip();
    else if (rc == -EINVAL) /* the only failure of config_parse_text() */
        check_error();
    else
        abort();
    return 0;
}
