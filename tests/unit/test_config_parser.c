/*
 * test_config_parser.c - the typed readers every section uses
 * (lib/core/config_parser.c), called directly on a small YAML document:
 * config_distance and the "did you mean" it feeds (a hint within three
 * edits, the known keys beyond), keys that are not words or appear twice,
 * numbers at and past their bounds, booleans, options and value lists, and
 * that an absent key leaves the value as it was.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "core/config_parser.h"

struct document {
    yaml_document_t yaml;
    struct config_parser parser;
    char errstr[1024];
    yaml_node_t *root;
};

/* Parses text (a mapping) into doc; fails the test when it is not YAML. */
static void document_load(struct document *doc, const char *text)
{
    yaml_parser_t yaml;
    memset(doc, 0, sizeof *doc);
    assert_true(yaml_parser_initialize(&yaml));
    yaml_parser_set_input_string(&yaml, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&yaml, &doc->yaml))
        fail_msg("not YAML: %s", text);
    yaml_parser_delete(&yaml);
    doc->parser = (struct config_parser){"t.yaml", &doc->yaml, doc->errstr, sizeof doc->errstr};
    doc->root = yaml_document_get_root_node(&doc->yaml);
    assert_non_null(doc->root);
}

static void document_clear(struct document *doc)
{
    yaml_document_delete(&doc->yaml);
}

static void test_distance(void **state)
{
    (void)state;
    assert_int_equal(config_distance("", ""), 0);
    assert_int_equal(config_distance("partners", "partners"), 0);
    assert_int_equal(config_distance("partners", "partner"), 1); /* deletion */
    assert_int_equal(config_distance("listen", "listenn"), 1);   /* insertion */
    assert_int_equal(config_distance("burst", "brust"), 2);      /* two substitutions */
    assert_int_equal(config_distance("kafka", ""), 5);
    assert_int_equal(config_distance("mllp", "topics"), 6);
    assert_int_equal(config_distance("abc", "cba"), config_distance("cba", "abc"));
    /* 63 characters is the limit; beyond it, no hint is worth the work. */
    char long_key[65];
    memset(long_key, 'a', 64);
    long_key[64] = '\0';
    assert_true(config_distance(long_key, "a") == SIZE_MAX);
    long_key[63] = '\0';
    assert_int_equal(config_distance(long_key, long_key), 0);
}

static void test_check_keys(void **state)
{
    (void)state;
    static const char *const known[] = {"retry_backoff_ms", "listen", NULL};
    struct document doc;
    document_load(&doc, "listen: x\nretry_backoff_ms: 1\n");
    assert_int_equal(config_check_keys(&doc.parser, doc.root, known, "section"), 0);
    document_clear(&doc);

    /* Three edits away: a hint. Four: the list. */
    document_load(&doc, "listen: x\nretry_bakof_m: 1\n");
    assert_int_equal(config_check_keys(&doc.parser, doc.root, known, "section"), -1);
    assert_string_equal(doc.errstr, "t.yaml:2:1: unknown key 'retry_bakof_m' in section; did you "
                                    "mean 'retry_backoff_ms'?");
    document_clear(&doc);
    document_load(&doc, "lis: x\n");
    assert_int_equal(config_distance("lis", "listen"), 3);
    assert_int_equal(config_distance("li", "listen"), 4);
    assert_int_equal(config_check_keys(&doc.parser, doc.root, known, "section"), -1);
    assert_string_equal(doc.errstr,
                        "t.yaml:1:1: unknown key 'lis' in section; did you mean 'listen'?");
    document_clear(&doc);
    document_load(&doc, "li: y\n");
    assert_int_equal(config_check_keys(&doc.parser, doc.root, known, "section"), -1);
    assert_string_equal(doc.errstr, "t.yaml:1:1: unknown key 'li' in section (known keys: "
                                    "retry_backoff_ms, listen)");
    document_clear(&doc);

    document_load(&doc, "listen: x\n[a]: y\n");
    assert_int_equal(config_check_keys(&doc.parser, doc.root, known, "section"), -1);
    assert_string_equal(doc.errstr, "t.yaml:2:1: keys in section must be plain words");
    document_clear(&doc);

    document_load(&doc, "listen: x\nretry_backoff_ms: 1\nlisten: y\n");
    assert_int_equal(config_check_keys(&doc.parser, doc.root, known, "section"), -1);
    assert_string_equal(doc.errstr, "t.yaml:3:1: key 'listen' appears twice in section (first on "
                                    "line 1); keep one");
    document_clear(&doc);
}

static void test_numbers(void **state)
{
    (void)state;
    struct document doc;
    document_load(&doc, "low: -5\nhigh: 5\nbig: 9223372036854775807\nhex: 0x10\nspace: \" 5\"\n");
    long long value = 42;
    assert_int_equal(config_integer(&doc.parser, doc.root, "absent", "s", 0, 10, &value), 0);
    assert_true(value == 42); /* absent: unchanged */
    assert_int_equal(config_integer(&doc.parser, doc.root, "low", "s", -5, 5, &value), 0);
    assert_true(value == -5);
    assert_int_equal(config_integer(&doc.parser, doc.root, "high", "s", -5, 5, &value), 0);
    assert_true(value == 5);
    assert_int_equal(config_integer(&doc.parser, doc.root, "high", "s", 6, 9, &value), -1);
    assert_string_equal(doc.errstr, "t.yaml:2:7: s.high must be between 6 and 9, found 5");
    assert_true(value == 5); /* refused: unchanged */
    assert_int_equal(config_integer(&doc.parser, doc.root, "big", "s", 0, LLONG_MAX, &value), 0);
    assert_true(value == LLONG_MAX);
    assert_int_equal(config_integer(&doc.parser, doc.root, "hex", "s", 0, 100, &value), -1);
    assert_string_equal(doc.errstr, "t.yaml:4:6: s.hex must be a whole number, found '0x10'");
    int small = 7;
    assert_int_equal(config_int(&doc.parser, doc.root, "low", "s", 0, 10, &small), -1);
    assert_string_equal(doc.errstr, "t.yaml:1:6: s.low must be between 0 and 10, found -5");
    assert_int_equal(small, 7);
    document_clear(&doc);
}

static void test_strings_and_booleans(void **state)
{
    (void)state;
    struct document doc;
    document_load(&doc, "name: homes\nempty: \"\"\nflag: true\noff: false\nword: True\n");
    char *text = strdup("before");
    assert_int_equal(config_string(&doc.parser, doc.root, "absent", "s", 0, &text), 0);
    assert_string_equal(text, "before");
    assert_int_equal(config_string(&doc.parser, doc.root, "name", "s", 1, &text), 0);
    assert_string_equal(text, "homes");
    assert_int_equal(config_string(&doc.parser, doc.root, "empty", "s", 0, &text), 0);
    assert_string_equal(text, ""); /* allowed when not required */
    assert_int_equal(config_string(&doc.parser, doc.root, "empty", "s", 1, &text), -1);
    assert_string_equal(doc.errstr, "t.yaml:2:8: s.empty must not be empty");
    assert_int_equal(config_string(&doc.parser, doc.root, "absent", "s", 1, &text), -1);
    assert_string_equal(doc.errstr, "t.yaml:1:1: s needs 'absent'");
    free(text);

    int flag = 5;
    assert_int_equal(config_boolean(&doc.parser, doc.root, "absent", "s", &flag), 0);
    assert_int_equal(flag, 5);
    assert_int_equal(config_boolean(&doc.parser, doc.root, "flag", "s", &flag), 0);
    assert_int_equal(flag, 1);
    assert_int_equal(config_boolean(&doc.parser, doc.root, "off", "s", &flag), 0);
    assert_int_equal(flag, 0);
    /* YAML 1.1 spellings are not taken: only true and false. */
    assert_int_equal(config_boolean(&doc.parser, doc.root, "word", "s", &flag), -1);
    assert_string_equal(doc.errstr, "t.yaml:5:7: s.word must be true or false, found 'True'");
    document_clear(&doc);
}

static void test_lists_and_options(void **state)
{
    (void)state;
    struct document doc;
    document_load(&doc, "codes: [A1, B2]\nnone: []\ntwice: [A1, A1]\n"
                        "table:\n  x: \"1\"\n  y: two\n");
    struct config_value *values = NULL;
    size_t count = 0;
    assert_int_equal(config_values(&doc.parser, doc.root, "codes", "s", &values, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(values[1].text, "B2");
    assert_int_equal(values[1].line, 1);
    assert_int_equal(values[1].column, 13);
    config_values_free(values, count);
    values = NULL;
    count = 0;
    assert_int_equal(config_values(&doc.parser, doc.root, "none", "s", &values, &count), 0);
    assert_non_null(values); /* "[]" is an empty list, not an absent one */
    assert_int_equal(count, 0);
    config_values_free(values, count);
    values = NULL;
    assert_int_equal(config_values(&doc.parser, doc.root, "twice", "s", &values, &count), -1);
    assert_string_equal(doc.errstr, "t.yaml:3:13: s.twice names 'A1' twice (first on line 3)");
    config_values_free(values, count); /* what was read before the refusal */

    char **list = NULL;
    count = 0;
    assert_int_equal(config_string_list(&doc.parser, doc.root, "codes", "s", &list, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(list[0], "A1");
    config_string_list_free(list, count);

    struct config_option *options = NULL;
    count = 0;
    assert_int_equal(config_options(&doc.parser, doc.root, "table", "s", &options, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(options[0].key, "x");
    assert_string_equal(options[0].value, "1");
    assert_int_equal(options[1].line, 6);
    config_options_free(options, count);
    options = NULL;
    count = 0;
    assert_int_equal(config_options(&doc.parser, doc.root, "codes", "s", &options, &count), -1);
    assert_string_equal(doc.errstr, "t.yaml:1:8: s.codes must be a mapping, found a list");
    assert_null(options);
    document_clear(&doc);
}

static void test_checks(void **state)
{
    (void)state;
    static const char *const allowed[] = {"all", "any", NULL};
    assert_true(config_one_of("any", allowed));
    assert_false(config_one_of("Any", allowed));
    assert_true(config_topic_name_valid("placehub.dead-letter_1"));
    assert_false(config_topic_name_valid(""));
    assert_false(config_topic_name_valid("dead letters"));
    char topic[251];
    memset(topic, 't', 250);
    topic[250] = '\0';
    assert_false(config_topic_name_valid(topic)); /* 250 */
    topic[249] = '\0';
    assert_true(config_topic_name_valid(topic)); /* 249 */
    assert_true(config_ods_code_valid("RXX"));
    assert_true(config_ods_code_valid("P9900101"));
    assert_false(config_ods_code_valid("RX"));
    assert_false(config_ods_code_valid("P99001011"));
    assert_false(config_ods_code_valid("p99001"));
    assert_true(config_secret_reference("env:KEY"));
    assert_true(config_secret_reference("file:/run/key"));
    assert_false(config_secret_reference("env:"));
    assert_false(config_secret_reference("file:"));
    assert_false(config_secret_reference("c2VjcmV0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),          cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_numbers),           cmocka_unit_test(test_strings_and_booleans),
        cmocka_unit_test(test_lists_and_options), cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
