/*
 * test_config_mllp.c - placehub-mllp's mllp: section
 * (lib/core/config_mllp.c): its defaults, its values and code tables, and
 * its refusals (a misspelt key, wrong types, out-of-range numbers, an empty
 * NHS number type, a raw topic nobody declared).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

/* Lines 1-6, the raw topic declared; mllp's own keys start on line 8. */
#define RAW KAFKA TOPICS "  - name: hl7-raw\n    retention_ms: -1\n"

static void test_defaults(void **state)
{
    (void)state;
    struct config *config = load_ok(RAW);
    assert_string_equal(config->mllp.listen, "127.0.0.1:2575");
    assert_true(config->mllp.max_message_bytes == 1024 * 1024);
    assert_int_equal(config->mllp.read_timeout_ms, 30000);
    assert_int_equal(config->mllp.produce_timeout_ms, 10000);
    assert_int_equal(config->mllp.max_connections, 64);
    assert_string_equal(config->mllp.raw_topic, "hl7-raw");
    assert_null(config->mllp.default_source_ods_code);
    assert_int_equal(config->mllp.nhs_number_repetition, 0);
    assert_string_equal(config->mllp.nhs_number_type, "NH");
    assert_string_equal(config->mllp.nhs_number_authority, "NHS");
    assert_int_equal(config->mllp.identifier_system_count, 0);
    assert_int_equal(config->mllp.specialty_count, 0);
    config_destroy(config);
}

static void test_values(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS "  - name: hl7-audit\n"
                                                 "mllp:\n"
                                                 "  listen: \"0.0.0.0:2576\"\n"
                                                 "  max_message_bytes: 256\n"
                                                 "  read_timeout_ms: 100\n"
                                                 "  produce_timeout_ms: 300000\n"
                                                 "  max_connections: 4096\n"
                                                 "  raw_topic: hl7-audit\n"
                                                 "  default_source_ods_code: RXX01\n"
                                                 "  nhs_number_repetition: 2\n"
                                                 "  nhs_number_type: NHS\n"
                                                 "  nhs_number_authority: \"\"\n"
                                                 "  identifier_systems:\n"
                                                 "    MR: \"https://example.org/mrn\"\n"
                                                 "  discharge_destinations:\n"
                                                 "    \"19\": HOME\n"
                                                 "  discharge_dispositions:\n"
                                                 "    \"01\": HOME\n    \"02\": CARE_HOME\n"
                                                 "  specialties:\n"
                                                 "    \"300\": General medicine\n");
    assert_string_equal(config->mllp.listen, "0.0.0.0:2576");
    assert_true(config->mllp.max_message_bytes == 256);
    assert_int_equal(config->mllp.read_timeout_ms, 100);
    assert_int_equal(config->mllp.produce_timeout_ms, 300000);
    assert_int_equal(config->mllp.max_connections, 4096);
    assert_string_equal(config->mllp.raw_topic, "hl7-audit");
    assert_string_equal(config->mllp.default_source_ods_code, "RXX01");
    assert_int_equal(config->mllp.nhs_number_repetition, 2);
    assert_string_equal(config->mllp.nhs_number_type, "NHS");
    assert_string_equal(config->mllp.nhs_number_authority, ""); /* any authority */
    assert_int_equal(config->mllp.identifier_system_count, 1);
    assert_string_equal(config->mllp.identifier_systems[0].key, "MR");
    assert_string_equal(config->mllp.identifier_systems[0].value, "https://example.org/mrn");
    assert_int_equal(config->mllp.identifier_systems[0].line, 18);
    assert_int_equal(config->mllp.discharge_destination_count, 1);
    assert_string_equal(config->mllp.discharge_destinations[0].key, "19");
    assert_int_equal(config->mllp.discharge_disposition_count, 2);
    assert_string_equal(config->mllp.discharge_dispositions[1].value, "CARE_HOME");
    assert_int_equal(config->mllp.specialty_count, 1);
    assert_string_equal(config->mllp.specialties[0].value, "General medicine");
    config_destroy(config);
}

static void test_refusals(void **state)
{
    (void)state;
    /* With an mllp: section, the default raw topic must be declared too:
     * broker auto-creation is off. */
    expect_error(KAFKA TOPICS "mllp:\n  listen: \"127.0.0.1:2575\"\n", "6:3",
                 "mllp.raw_topic 'hl7-raw' is not declared under topics (declare it with "
                 "retention_ms: -1");
    expect_error(RAW "mllp:\n  raw_topic: hl7-archive\n", "8:14",
                 "mllp.raw_topic 'hl7-archive' is not declared under topics");
    expect_error(RAW "mllp:\n  raw_topc: hl7-raw\n", "8:3",
                 "unknown key 'raw_topc' in mllp; did you mean 'raw_topic'?");
    expect_error(RAW "mllp:\n  max_connections: 0\n", "8:20",
                 "mllp.max_connections must be between 1 and 4096, found 0");
    expect_error(RAW "mllp:\n  nhs_number_repetition: 101\n", "8:26",
                 "mllp.nhs_number_repetition must be between 0 and 100, found 101");
    expect_error(RAW "mllp:\n  read_timeout_ms: slow\n", "8:20",
                 "mllp.read_timeout_ms must be a whole number, found 'slow'");
    expect_error(RAW "mllp:\n  nhs_number_type: \"\"\n", "8:20",
                 "mllp.nhs_number_type must not be empty (HL7 uses NH)");
    expect_error(RAW "mllp:\n  identifier_systems: [MR]\n", "8:23",
                 "mllp.identifier_systems must be a mapping, found a list");
    expect_error(RAW "mllp:\n  specialties:\n    \"300\": [General medicine]\n", "9:12",
                 "mllp.specialties.300 must be a single value, found a list");
    expect_error(RAW "mllp:\n  specialties:\n    \"300\": a\n    \"300\": b\n", "10:5",
                 "key '300' appears twice in mllp.specialties (first on line 9)");
    expect_error(RAW "mllp: 2575\n", "7:7", "mllp must be a mapping, found a single value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
