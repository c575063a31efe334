/*
 * test_config_dispatch.c - the topics: list and the dispatch: section
 * (lib/core/config_dispatch.c): topic defaults (six partitions, kept
 * forever), dispatch's values, and their refusals (misspelt or duplicate
 * keys, wrong types, numbers that are not whole or out of range, a topic
 * declared twice or named against Kafka's rule, retention 0, limits that
 * contradict each other).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

static void test_topic_values(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS "  - name: discharge\n"
                                                 "    partitions: 12\n"
                                                 "    retention_ms: 604800000\n");
    assert_int_equal(config->topics[0].partitions, 6);
    assert_int_equal(config->topics[0].replication_factor, 1);
    assert_true(config->topics[0].retention_ms == -1);
    assert_int_equal(config->topics[1].partitions, 12);
    assert_true(config->topics[1].retention_ms == 604800000LL);
    config_destroy(config);
}

static void test_topic_refusals(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "    partition: 6\n", "5:5",
                 "unknown key 'partition' in topics[0]; did you mean 'partitions'?");
    /* libyaml accepts duplicate keys; the first would silently win, so the
     * "never delete" retention below would hide the mistaken 0. */
    expect_error(KAFKA TOPICS "    retention_ms: -1\n    retention_ms: 0\n", "6:5",
                 "key 'retention_ms' appears twice in topics[0] (first on line 5); keep one");
    expect_error(KAFKA "topics:\n  name: admission\n", "4:3",
                 "topics must be a list, found a mapping");
    expect_error(KAFKA "topics:\n  - admission\n", "4:5",
                 "topics[0] must be a mapping, found a single value");
    expect_error(KAFKA "topics: []\n", "3:9", "topics must declare at least one topic");
    expect_error(KAFKA TOPICS "  - name: discharge\n  - name: admission\n", "6:5",
                 "topic 'admission' is declared twice");
    expect_error(KAFKA TOPICS "    retention_ms: 0\n", "5:19",
                 "topics[0].retention_ms 0 would delete events at once; use -1");
    expect_error(KAFKA "topics:\n  - name: admission events\n", "4:11",
                 "topic name 'admission events' is not valid for Kafka");
    /* New. */
    expect_error(KAFKA "topics:\n  - partitions: 3\n", "4:5", "topics[0] needs 'name'");
    expect_error(KAFKA "topics:\n  - name: [admission]\n", "4:11",
                 "topics[0].name must be a single value, found a list");
}

static void test_topic_numbers(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "    partitions: six\n", "5:17",
                 "topics[0].partitions must be a whole number, found 'six'");
    expect_error(KAFKA TOPICS "    partitions: 6.5\n", "5:17",
                 "topics[0].partitions must be a whole number, found '6.5'");
    expect_error(KAFKA TOPICS "    retention_ms: 99999999999999999999\n", "5:19",
                 "must be a whole number, found '99999999999999999999'");
    expect_error(KAFKA TOPICS "    partitions: 0\n", "5:17",
                 "topics[0].partitions must be between 1 and 10000, found 0");
    expect_error(KAFKA TOPICS "    partitions: 10001\n", "5:17",
                 "must be between 1 and 10000, found 10001");
    expect_error(KAFKA TOPICS "    replication_factor: 33\n", "5:25",
                 "topics[0].replication_factor must be between 1 and 32, found 33");
    expect_error(KAFKA TOPICS "    retention_ms: -2\n", "5:19", "must be between -1 and");
    /* New: an empty number, and one written as a list. */
    expect_error(KAFKA TOPICS "    partitions: \"\"\n", "5:17",
                 "topics[0].partitions must be a whole number, found ''");
    expect_error(KAFKA TOPICS "    partitions: [6]\n", "5:17",
                 "topics[0].partitions must be a single value, found a list");
}

static void test_dispatch_values(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS "dispatch:\n"
                                                 "  group_prefix: hub.dispatch\n"
                                                 "  retry_backoff_ms: 50\n"
                                                 "  retry_backoff_max_ms: 50\n"
                                                 "  retry_window_ms: 1000\n"
                                                 "  max_in_flight: 1024\n"
                                                 "  dead_letter_topic: hub.dlq\n"
                                                 "  audit_topic: hub_audit-1\n"
                                                 "  breaker_failures: 1\n"
                                                 "  breaker_open_ms: 10\n"
                                                 "  breaker_open_max_ms: 10\n");
    assert_string_equal(config->dispatch.group_prefix, "hub.dispatch");
    assert_int_equal(config->dispatch.retry_backoff_ms, 50);
    assert_int_equal(config->dispatch.retry_backoff_max_ms, 50);
    assert_true(config->dispatch.retry_window_ms == 1000);
    assert_int_equal(config->dispatch.max_in_flight, 1024);
    assert_string_equal(config->dispatch.dead_letter_topic, "hub.dlq");
    assert_string_equal(config->dispatch.audit_topic, "hub_audit-1");
    assert_int_equal(config->dispatch.breaker_failures, 1);
    assert_int_equal(config->dispatch.breaker_open_ms, 10);
    assert_int_equal(config->dispatch.breaker_open_max_ms, 10);
    config_destroy(config);
}

static void test_dispatch_refusals(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "dispatch:\n  retry_backoff_ms: 500\n  retry_backoff_max_ms: 100\n",
                 "6:3", "retry_backoff_max_ms must not be below retry_backoff_ms");
    /* New. */
    expect_error(KAFKA TOPICS "dispatch:\n  retry_backof_ms: 500\n", "6:3",
                 "unknown key 'retry_backof_ms' in dispatch; did you mean 'retry_backoff_ms'?");
    expect_error(KAFKA TOPICS "dispatch:\n  max_in_flight: 1025\n", "6:18",
                 "dispatch.max_in_flight must be between 1 and 1024, found 1025");
    expect_error(KAFKA TOPICS "dispatch:\n  retry_window_ms: 999\n", "6:20",
                 "dispatch.retry_window_ms must be between 1000 and 31622400000, found 999");
    expect_error(KAFKA TOPICS "dispatch:\n  breaker_failures: many\n", "6:21",
                 "dispatch.breaker_failures must be a whole number, found 'many'");
    expect_error(KAFKA TOPICS "dispatch:\n  breaker_open_ms: 2000\n  breaker_open_max_ms: 1000\n",
                 "6:3", "dispatch.breaker_open_max_ms must not be below breaker_open_ms");
    expect_error(KAFKA TOPICS "dispatch:\n  dead_letter_topic: \"dead letters\"\n", "6:3",
                 "dispatch.dead_letter_topic and audit_topic must be valid Kafka topic names");
    expect_error(KAFKA TOPICS "dispatch:\n  group_prefix: [a, b]\n", "6:17",
                 "dispatch.group_prefix must be a single value, found a list");
    expect_error(KAFKA TOPICS "dispatch: []\n", "5:11", "dispatch must be a mapping, found a list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_values),      cmocka_unit_test(test_topic_refusals),
        cmocka_unit_test(test_topic_numbers),     cmocka_unit_test(test_dispatch_values),
        cmocka_unit_test(test_dispatch_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
