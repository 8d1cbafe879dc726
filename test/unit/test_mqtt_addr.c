/*
 * test_mqtt_addr.c - the broker's addresses: numeric hosts at once and
 * canonical, names through the loop (localhost, from /etc/hosts: no query
 * leaves the machine), and the walk to the next address.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <uv.h>

#include "mqtt_addr.h"

static int calls;
static int last_status;

static void done(void *ctx, int status)
{
    (void) ctx;
    calls++;
    last_status = status;
}

Test(mqtt_addr, numeric_hosts_need_no_resolution)
{
    struct mqtt_addr a;
    uv_loop_t loop;

    cr_assert_eq(uv_loop_init(&loop), 0);
    mqtt_addr_init(&a, done, NULL);
    cr_expect_eq(mqtt_addr_resolve(&a, &loop, "127.0.0.1", "1883"), 1);
    cr_expect_str_eq(mqtt_addr_current(&a), "127.0.0.1");
    cr_expect_not(mqtt_addr_next(&a), "one address only");
    cr_expect_eq(mqtt_addr_resolve(&a, &loop, "0:0::1", "1883"), 1);
    cr_expect_str_eq(mqtt_addr_current(&a), "::1", "canonical text");
    cr_expect_not(mqtt_addr_pending(&a));
    cr_expect_eq(calls, 0);
    uv_loop_close(&loop);
}

Test(mqtt_addr, names_resolve_on_the_loop)
{
    struct mqtt_addr a;
    uv_loop_t loop;
    unsigned seen = 1;

    cr_assert_eq(uv_loop_init(&loop), 0);
    mqtt_addr_init(&a, done, NULL);
    cr_assert_eq(mqtt_addr_resolve(&a, &loop, "localhost", "1883"), 0);
    cr_expect(mqtt_addr_pending(&a));
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(calls, 1);
    cr_expect_eq(last_status, 0);
    cr_expect_not(mqtt_addr_pending(&a));
    cr_expect(strcmp(mqtt_addr_current(&a), "127.0.0.1") == 0 ||
                  strcmp(mqtt_addr_current(&a), "::1") == 0,
              "%s", mqtt_addr_current(&a));
    while (mqtt_addr_next(&a))
        seen++;
    cr_expect_eq(seen, a.n);
    uv_loop_close(&loop);
}
