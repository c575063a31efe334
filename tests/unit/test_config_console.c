/*
 * test_config_console.c - the console: section (lib/core/config_console.c):
 * its defaults (this machine only, a ledger of its own), every key read,
 * and its refusals: a password in the YAML, a service URL that is not
 * http(s), numbers out of range, unknown keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

static void test_console_defaults(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS);
    assert_string_equal(config->console.listen, "127.0.0.1:9190");
    assert_null(config->console.users_file);
    assert_string_equal(config->console.ledger, "../var/placehub-console-ledger.db");
    assert_null(config->console.dispatch_url);
    assert_int_equal(config->console.session_idle_minutes, 30);
    assert_int_equal(config->console.sample_interval_ms, 5000);
    config_destroy(config);
}

static void test_console_every_key(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS "console:\n"
                                                 "  listen: \"0.0.0.0:9200\"\n"
                                                 "  users_file: \"users\"\n"
                                                 "  ledger: \"/var/lib/placehub/c.db\"\n"
                                                 "  ingest_url: \"http://ingest:9180\"\n"
                                                 "  dispatch_url: \"https://dispatch:9181/\"\n"
                                                 "  mllp_url: \"http://mllp:9182\"\n"
                                                 "  session_idle_minutes: 15\n"
                                                 "  sample_interval_ms: 2000\n");
    assert_string_equal(config->console.listen, "0.0.0.0:9200");
    assert_string_equal(config->console.users_file, "users");
    assert_string_equal(config->console.ledger, "/var/lib/placehub/c.db");
    assert_string_equal(config->console.ingest_url, "http://ingest:9180");
    assert_string_equal(config->console.dispatch_url, "https://dispatch:9181/");
    assert_string_equal(config->console.mllp_url, "http://mllp:9182");
    assert_int_equal(config->console.session_idle_minutes, 15);
    assert_int_equal(config->console.sample_interval_ms, 2000);
    assert_int_equal(config->console.line, 6); /* its first key */
    config_destroy(config);
}

static void test_console_refusals(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "console:\n  password: \"hunter2\"\n", "6:13",
                 "never takes passwords from this file; add users with placehub-console "
                 "--add-user");
    expect_error(KAFKA TOPICS "console:\n  users:\n    - olive\n", "7:5",
                 "console.users: the console never takes passwords");
    expect_error(KAFKA TOPICS "console:\n  dispatch_url: \"dispatch:9181\"\n", "6:17",
                 "console.dispatch_url: an http:// or https:// URL");
    expect_error(KAFKA TOPICS "console:\n  session_idle_minutes: 0\n", "6:25",
                 "console.session_idle_minutes must be between 1 and 1440, found 0");
    expect_error(KAFKA TOPICS "console:\n  sample_interval_ms: 100\n", "6:23",
                 "console.sample_interval_ms must be between 1000 and 60000");
    expect_error(KAFKA TOPICS "console:\n  listn: \"127.0.0.1:1\"\n", "6:3",
                 "unknown key 'listn' in console; did you mean 'listen'?");
    expect_error(KAFKA TOPICS "console: \"127.0.0.1:9190\"\n", "5:10", "console must be a mapping");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_defaults),
        cmocka_unit_test(test_console_every_key),
        cmocka_unit_test(test_console_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
