/*
 * check.c - `sensorpipe --check-config`: validates a file and prints the
 * effective settings, the memory plan and what the next start would warn
 * about (memory limit, MQTT security, subscriptions to drop), without
 * starting anything.
 *
 * Threads: the main thread; nothing runs besides. Memory: the parsed
 * configuration is static (large); the store is only peeked at, read-only.
 */
#include "check.h"

#include <errno.h>
#include <string.h>

#include "memlimit.h"
#include "mqtt_setup.h"
#include "mqtt_sub.h"
#include "store_subs.h"

static void print_warning(void *ctx, const char *line)
{
    fprintf(ctx, "# warning: %s\n", line);
}

void check_memory_limit(const struct pipeline_plan *p, int unit_fallback,
                        void (*warn)(void *, const char *), void *ctx)
{
    struct memlimit lim;
    char msg[MEMLIMIT_MSG_MAX];

    if (memlimit_detect(&lim, unit_fallback) == 0 &&
        !memlimit_fits(&lim, p->total_bytes + p->sqlite_bytes, msg,
                       sizeof(msg)))
        warn(ctx, msg);
}

/* --check-config: what the next start unsubscribes, from the store. */
struct unsub_plan {
    const struct config *cfg;
    FILE *out;
    unsigned rows;
    unsigned stale;
};

static int plan_row(void *ctx, const struct store_subs_row *row)
{
    struct unsub_plan *p = ctx;

    p->rows++;
    if (mqtt_sub_cfg_has_filter(p->cfg, row->filter))
        return 0;
    p->stale++;
    fprintf(p->out,
            "# subscriptions: the next start unsubscribes from %s "
            "(subscription '%s', no longer in the file)\n",
            row->filter, row->name);
    return 0;
}

static void print_unsubscribe_plan(const struct config *cfg, FILE *out)
{
    struct unsub_plan p = {cfg, out, 0, 0};
    const char *id = cfg->mqtt.client_id;
    int rc;

    if (cfg->mqtt.clean_session) {
        fprintf(out, "# subscriptions: clean_session = true: the broker "
                     "keeps nothing between connections\n");
        return;
    }
    rc = store_subs_peek(cfg->store.path, id, plan_row, &p);
    if (rc == -ENOENT)
        fprintf(out, "# subscriptions: no store yet: nothing to "
                     "unsubscribe\n");
    else if (rc == -ENOMSG || (rc == 0 && p.rows == 0))
        fprintf(out,
                "# subscriptions: the store holds no record of earlier "
                "subscriptions of client id %s: filters removed from the "
                "file before this start may stay in the broker's session\n",
                id);
    else if (rc < 0)
        fprintf(out, "# subscriptions: cannot read the store's record: %s\n",
                strerror(-rc));
    else if (p.stale == 0)
        fprintf(out,
                "# subscriptions: the broker's session of client id %s holds "
                "%u recorded filters, all in the file: nothing to "
                "unsubscribe\n",
                id, p.rows);
}

int check_config(const char *path, FILE *out)
{
    static struct config cfg;
    struct pipeline_plan plan;
    char err[CONFIG_ERR_MAX];

    if (config_load(&cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -EINVAL;
    }
    config_print(&cfg, out);
    pipeline_plan(&cfg, &plan);
    pipeline_plan_print(&plan, out);
    check_memory_limit(&plan, 1, print_warning, out);
    mqtt_setup_warnings(&cfg, print_warning, out);
    print_unsubscribe_plan(&cfg, out);
    return 0;
}
