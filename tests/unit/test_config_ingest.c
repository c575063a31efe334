/*
 * test_config_ingest.c - placehub-ingest's settings
 * (lib/core/config_ingest.c): the ingest: and operations: sections and a
 * partner's ingest: section (its publishing rights), their values and
 * their refusals (misspelt keys, wrong types, out-of-range numbers, a rate
 * limit of nothing; the objections right, false unless granted). The API key hashes, their file and
 * the publishing rights at work are in test_security.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

/* A hash of no real key (64 hex digits). */
#define HASH "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
/* Lines 1-7; the publisher's own keys start on line 8. */
#define PUBLISHER KAFKA TOPICS "partners:\n  - id: gp\n    ingest:\n"
#define RIGHTS                                                                                     \
    "      api_key_hashes: [\"" HASH "\"]\n      publishes: [admission]\n"                         \
    "      source_ods_codes: [Y02494]\n"

static void test_ingest_values(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS "ingest:\n"
                                                 "  listen: \"0.0.0.0:8443\"\n"
                                                 "  max_body_bytes: 256\n"
                                                 "  max_batch_bytes: 268435456\n"
                                                 "  max_batch_events: 100000\n"
                                                 "  produce_timeout_ms: 100\n"
                                                 "  insecure_no_authentication: false\n");
    assert_string_equal(config->ingest.listen, "0.0.0.0:8443");
    assert_true(config->ingest.max_body_bytes == 256);
    assert_true(config->ingest.max_batch_bytes == 268435456LL);
    assert_int_equal(config->ingest.max_batch_events, 100000);
    assert_int_equal(config->ingest.produce_timeout_ms, 100);
    assert_int_equal(config->ingest.insecure_no_authentication, 0);
    config_destroy(config);
}

static void test_ingest_refusals(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "ingest:\n  max_body_bytes: 100\n", "6:19",
                 "ingest.max_body_bytes must be between 256 and 67108864, found 100");
    /* New. */
    expect_error(KAFKA TOPICS "ingest:\n  max_body_byte: 1000\n", "6:3",
                 "unknown key 'max_body_byte' in ingest; did you mean 'max_body_bytes'?");
    expect_error(KAFKA TOPICS "ingest:\n  max_batch_events: 0\n", "6:21",
                 "ingest.max_batch_events must be between 1 and 100000, found 0");
    expect_error(KAFKA TOPICS "ingest:\n  produce_timeout_ms: ten\n", "6:23",
                 "ingest.produce_timeout_ms must be a whole number, found 'ten'");
    expect_error(KAFKA TOPICS "ingest:\n  insecure_no_authentication: [true]\n", "6:31",
                 "ingest.insecure_no_authentication must be true or false, found 'a list'");
    expect_error(KAFKA TOPICS "ingest: on\n", "5:9",
                 "ingest must be a mapping, found a single value");
}

static void test_operations(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS "operations:\n"
                                                 "  ingest_listen: \"127.0.0.1:9180\"\n"
                                                 "  dispatch_listen: \"127.0.0.1:9181\"\n"
                                                 "  mllp_listen: \"127.0.0.1:9182\"\n"
                                                 "  token_file: /run/secrets/ops\n");
    assert_string_equal(config->operations.ingest_listen, "127.0.0.1:9180");
    assert_string_equal(config->operations.dispatch_listen, "127.0.0.1:9181");
    assert_string_equal(config->operations.mllp_listen, "127.0.0.1:9182");
    assert_string_equal(config->operations.token_file, "/run/secrets/ops");
    config_destroy(config);

    expect_error(KAFKA TOPICS "operations:\n  dispatch_listn: \"127.0.0.1:9181\"\n", "6:3",
                 "unknown key 'dispatch_listn' in operations; did you mean 'dispatch_listen'?");
    /* New. */
    expect_error(KAFKA TOPICS "operations:\n  - ingest_listen\n", "6:3",
                 "operations must be a mapping, found a list");
    expect_error(KAFKA TOPICS "operations:\n  token_file: {path: x}\n", "6:15",
                 "operations.token_file must be a single value, found a mapping");
}

static void test_publisher(void **state)
{
    (void)state;
    struct config *config =
        load_ok(PUBLISHER RIGHTS "      rate_limit:\n        events_per_second: 5\n"
                                 "        burst: 7\n");
    const struct config_publisher *publisher = config->partners[0].ingest;
    assert_non_null(publisher);
    assert_int_equal(publisher->line, 8);
    assert_int_equal(publisher->api_key_hash_count, 1);
    assert_string_equal(publisher->api_key_hashes[0], HASH);
    assert_null(publisher->api_key_hashes_file);
    assert_int_equal(publisher->publish_count, 1);
    assert_string_equal(publisher->publishes[0], "admission");
    assert_string_equal(publisher->source_ods_codes[0], "Y02494");
    assert_true(publisher->events_per_second == 5.0);
    assert_int_equal(publisher->burst, 7);
    config_destroy(config);

    /* Defaults: 50 a second, 100 at once; objections denied. */
    config = load_ok(PUBLISHER RIGHTS);
    assert_true(config->partners[0].ingest->events_per_second == 50.0);
    assert_int_equal(config->partners[0].ingest->burst, 100);
    assert_int_equal(config->partners[0].ingest->objections, 0);
    config_destroy(config);
}

static void test_publisher_objections(void **state)
{
    (void)state;
    struct config *config = load_ok(PUBLISHER RIGHTS "      objections: true\n");
    assert_int_equal(config->partners[0].ingest->objections, 1);
    config_destroy(config);
    config = load_ok(PUBLISHER RIGHTS "      objections: false\n");
    assert_int_equal(config->partners[0].ingest->objections, 0);
    config_destroy(config);
    /* Only a boolean grants it: "yes please" or a list is refused, not read as true. */
    expect_error(PUBLISHER RIGHTS "      objections: [national_data_opt_out]\n", "11:19",
                 "partners[0].ingest.objections must be true or false, found 'a list'");
    expect_error(PUBLISHER RIGHTS "      objections: sometimes\n", "11:19",
                 "partners[0].ingest.objections must be true or false");
    expect_error(PUBLISHER RIGHTS "      objection: true\n", "11:7",
                 "unknown key 'objection' in partners[0].ingest; did you mean 'objections'?");
}

static void test_publisher_refusals(void **state)
{
    (void)state;
    /* New. */
    expect_error(PUBLISHER RIGHTS "      rate_limit:\n        brust: 10\n", "12:9",
                 "unknown key 'brust' in partners[0].ingest.rate_limit; did you mean 'burst'?");
    expect_error(PUBLISHER RIGHTS "      rate_limit:\n        burst: 100001\n", "12:16",
                 "partners[0].ingest.rate_limit.burst must be between 1 and 100000, found 100001");
    expect_error(PUBLISHER RIGHTS "      rate_limit: 10\n", "11:19",
                 "partners[0].ingest.rate_limit must be a mapping, found a single value");
    expect_error(PUBLISHER "      api_key_hashes: \"" HASH "\"\n", "8:23",
                 "partners[0].ingest.api_key_hashes must be a list, found a single value");
    expect_error(PUBLISHER "      publishes: [admission, admission]\n", "8:30",
                 "partners[0].ingest.publishes names 'admission' twice (first on line 8)");
    expect_error(PUBLISHER "      publishs: [admission]\n", "8:7",
                 "unknown key 'publishs' in partners[0].ingest; did you mean 'publishes'?");
    expect_error(KAFKA TOPICS "partners:\n  - id: gp\n    ingest: [admission]\n", "7:13",
                 "partners[0].ingest must be a mapping, found a list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_values),      cmocka_unit_test(test_ingest_refusals),
        cmocka_unit_test(test_operations),         cmocka_unit_test(test_publisher),
        cmocka_unit_test(test_publisher_refusals), cmocka_unit_test(test_publisher_objections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
