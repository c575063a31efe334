/*
 * test_config_partners.c - the partners: list (lib/core/config_partners.c):
 * a partner's id, connector, topics and options, a partner that only
 * publishes, and the refusals (a dangling or empty topic list, an id used
 * twice or badly formed, a connector or topics missing, misspelt or
 * duplicate keys, wrong types). Its ingest: section is tested in
 * test_config_ingest.c, its agreements in test_config_governance.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

/* Lines 1-6; the partner's own keys go on from line 7. */
#define HOMES KAFKA TOPICS "partners:\n  - id: homes\n"

static void test_partner_values(void **state)
{
    (void)state;
    struct config *config = load_ok(HOMES "    name: Homes (invented)\n    connector: webhook\n"
                                          "    topics: [admission]\n    options:\n"
                                          "      url: \"http://127.0.0.1:9/\"\n"
                                          "      retries: 3\n"
                                          "  - id: sender_2\n    ingest:\n"
                                          "      api_key_hashes_file: hashes\n"
                                          "      publishes: [admission]\n"
                                          "      source_ods_codes: [RXX01]\n");
    assert_int_equal(config->partner_count, 2);
    const struct config_partner *homes = &config->partners[0];
    assert_string_equal(homes->id, "homes");
    assert_int_equal(homes->line, 6);
    assert_string_equal(homes->name, "Homes (invented)");
    assert_string_equal(homes->connector, "webhook");
    assert_int_equal(homes->topic_count, 1);
    assert_string_equal(homes->topics[0], "admission");
    assert_int_equal(homes->option_count, 2);
    assert_string_equal(homes->options[1].key, "retries");
    assert_string_equal(homes->options[1].value, "3");
    assert_int_equal(homes->options[1].line, 12);
    assert_null(homes->ingest);
    assert_int_equal(homes->agreement_count, 0);
    /* Publishes only: no connector, no topics. */
    const struct config_partner *sender = &config->partners[1];
    assert_null(sender->connector);
    assert_int_equal(sender->topic_count, 0);
    assert_non_null(sender->ingest);
    assert_string_equal(sender->ingest->api_key_hashes_file, "hashes");
    config_destroy(config);
}

static void test_partner_refusals(void **state)
{
    (void)state;
    /* The culprit is the topic entry itself, on line 8 column 25. */
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n"
                              "    topics: [admission, discharge]\n",
                 "8:25",
                 "partners[0].topics names topic 'discharge', which is not declared under topics");
    expect_error(KAFKA TOPICS "partners:\n"
                              "  - id: homes\n    connector: webhook\n    topics: [admission]\n"
                              "  - id: homes\n    connector: webhook\n    topics: [admission]\n",
                 "9:5", "partner id 'homes' is used twice");
    expect_error(KAFKA TOPICS "partners:\n  - id: Homes!\n    connector: webhook\n"
                              "    topics: [admission]\n",
                 "6:9", "partner id 'Homes!' must be 1-64 lower-case letters, digits");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n", "6:5",
                 "partners[0] needs 'topics'");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n    topics: []\n",
                 "8:13", "partners[0].topics is empty");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    topics: [admission]\n", "6:5",
                 "partners[0] needs 'connector'");
}

/* Partner options written as YAML mappings and lists: compact JSON text,
 * typed as JSON where a plain scalar reads as a number, boolean or null. */
static void test_partner_structured_options(void **state)
{
    (void)state;
    struct config *config =
        load_ok(KAFKA TOPICS "partners:\n  - id: homes\n    connector: http\n"
                             "    topics: [admission]\n    options:\n"
                             "      url: \"http://a/{event_id}\"\n"
                             "      body_template:\n"
                             "        id: \"{event_id}\"\n"
                             "        nested: {version: 2, ok: true, none: null, text: \"2\"}\n"
                             "        list: [a, 1.5]\n"
                             "      answers:\n        409: delivered\n");
    const struct config_partner *partner = &config->partners[0];
    assert_int_equal(partner->option_count, 3);
    assert_int_equal(partner->options[0].structured, 0);
    assert_string_equal(partner->options[0].value, "http://a/{event_id}");
    assert_int_equal(partner->options[1].structured, 1);
    assert_int_equal(partner->options[1].line, 11);
    assert_string_equal(partner->options[1].value,
                        "{\"id\":\"{event_id}\",\"nested\":{\"version\":2,\"ok\":true,"
                        "\"none\":null,\"text\":\"2\"},\"list\":[\"a\",1.5]}");
    assert_string_equal(partner->options[2].value, "{\"409\":\"delivered\"}");
    config_destroy(config);

    /* Bounded: aliases cannot make a small file a huge tree. */
    char text[4096];
    int n = snprintf(text, sizeof text,
                     KAFKA TOPICS "partners:\n  - id: homes\n    connector: http\n"
                                  "    topics: [admission]\n    options:\n"
                                  "      a: &a [x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'f'; c++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "      %c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c, c - 1,
                      c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    expect_error(text, "12:10", "partners[0].options.d is too deep or too large");
}

static void test_partner_types(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n"
                              "    topics: admission\n",
                 "8:13", "partners[0].topics must be a list, found a single value");
    /* A mapping or list is kept as JSON text (the http connector's headers,
     * body_template, answers); whether the option takes one is the
     * connector check's business (test_connector_options.c). */
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: http\n"
                              "    topics: [admission]\n    options:\n      body_template:\n"
                              "        a: b\n        a: c\n",
                 "12:9", "key 'a' appears twice in partners[0].options.body_template");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n"
                              "    topics: [admission]\n    options:\n"
                              "      url: \"http://a\"\n      url: \"http://b\"\n",
                 "11:7", "key 'url' appears twice in partners[0].options (first on line 10)");
    /* New. */
    expect_error(HOMES "    conector: webhook\n    topics: [admission]\n", "7:5",
                 "unknown key 'conector' in partners[0]; did you mean 'connector'?");
    expect_error(HOMES "    name: [Homes]\n", "7:11",
                 "partners[0].name must be a single value, found a list");
    expect_error(HOMES "    connector: webhook\n    topics: [{name: admission}]\n", "8:14",
                 "partners[0].topics entries must be topic names");
    expect_error(HOMES "    connector: webhook\n    topics: [admission]\n    options: [url]\n",
                 "9:14", "partners[0].options must be a mapping, found a list");
    expect_error(KAFKA TOPICS "partners:\n  id: homes\n", "6:3",
                 "partners must be a list, found a mapping");
    expect_error(KAFKA TOPICS "partners:\n  - homes\n", "6:5",
                 "partners[0] must be a mapping, found a single value");
    expect_error(KAFKA TOPICS "partners:\n  - name: Homes\n", "6:5", "partners[0] needs 'id'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partner_values),
        cmocka_unit_test(test_partner_refusals),
        cmocka_unit_test(test_partner_types),
        cmocka_unit_test(test_partner_structured_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
