/*
 * test_config_support.h - what the configuration tests (test_config*.c, one
 * per section of lib/core/config*.c) share: a minimal valid start of a file
 * and the two ways a test loads one. Include after support.h.
 */
#ifndef PLACEHUB_TEST_CONFIG_SUPPORT_H
#define PLACEHUB_TEST_CONFIG_SUPPORT_H

#include <stdio.h>
#include <string.h>

#include "core/config.h"

/* Lines 1-2 and 3-4 of most test files: the two required sections. */
#define KAFKA "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"
#define TOPICS "topics:\n  - name: admission\n"

/* Loads text as "test.yaml", failing the test with the message when it is
 * refused. Caller frees with config_destroy. */
static inline struct config *load_ok(const char *text)
{
    struct config *config = NULL;
    char errstr[1024] = "";
    if (config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr) != 0)
        fail_msg("refused: %s", errstr);
    assert_non_null(config);
    return config;
}

/* Asserts text is refused with a message starting "test.yaml:<where>: "
 * and containing hint. */
static inline void expect_error(const char *text, const char *where, const char *hint)
{
    struct config *config = (struct config *)&config; /* must be reset to NULL */
    char errstr[1024] = "";
    char prefix[64];
    int rc = config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr);
    if (rc != -1)
        fail_msg("accepted:\n%s", text);
    assert_null(config);
    snprintf(prefix, sizeof prefix, "test.yaml:%s: ", where);
    assert_starts_with(errstr, prefix);
    assert_contains(errstr, hint);
}

#endif
