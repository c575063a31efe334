/*
 * test_connector_options.c - the host's checks of a connector and of a
 * partner's options (lib/delivery/connector.h): connector_options_check
 * refusing an unknown key with the file, the line and a did-you-mean, a
 * missing required key, a secret written inline and a value of the wrong
 * shape, and accepting every key the host reads; connector_type_check
 * refusing a version 1 type, another major version, a later minor and a
 * short struct.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "core/config.h"
#include "delivery/connector.h"
#include "delivery/options.h"

/* Lines 1-8; the options start on line 9. */
#define HEAD(connector)                                                                            \
    "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"                                            \
    "topics:\n  - name: admission\n"                                                               \
    "partners:\n  - id: housing\n    connector: " connector "\n    topics: [admission]\n"          \
    "    options:\n"

static struct config *load(const char *text)
{
    struct config *config = NULL;
    char errstr[1024] = "";
    if (config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr) != 0)
        fail_msg("the configuration itself was refused: %s", errstr);
    return config;
}

/* Runs the check on the one partner of text; returns its result, errstr
 * filled. */
static int check(const char *text, char *errstr, size_t errstr_size)
{
    struct config *config = load(text);
    char problem[512];
    const struct placehub_connector_type *type =
        connector_find(config->partners[0].connector, problem, sizeof problem);
    if (!type)
        fail_msg("no connector: %s", problem);
    errstr[0] = '\0';
    int rc = connector_options_check(type, config, &config->partners[0], errstr, errstr_size);
    config_destroy(config);
    return rc;
}

static void expect_refused(const char *text, const char *message)
{
    char errstr[1024];
    if (check(text, errstr, sizeof errstr) != -1)
        fail_msg("accepted:\n%s", text);
    assert_contains(errstr, message);
}

static void test_unknown_key_names_file_line_and_nearest(void **state)
{
    (void)state;
    char errstr[1024];
    assert_int_equal(check(HEAD("webhook") "      url: \"https://housing.example/in\"\n"
                                           "      timout_ms: 5000\n",
                           errstr, sizeof errstr),
                     -1);
    assert_string_equal(errstr, "test.yaml:11: partner housing: options.timout_ms: unknown "
                                "option 'timout_ms' for connector webhook; did you mean "
                                "'timeout_ms'?");
    /* The connector's own keys are candidates too. */
    expect_refused(HEAD("webhook") "      url: \"https://housing.example/in\"\n"
                                   "      signing_key: \"env:HOUSING_KEY\"\n",
                   "test.yaml:11: partner housing: options.signing_key: unknown option "
                   "'signing_key' for connector webhook; did you mean 'signing_keys'?");
    expect_refused(HEAD("mail") "      url: \"smtp://mail.example.org:587\"\n"
                                "      from: \"placehub@hub.example.nhs.uk\"\n"
                                "      too: \"duty@hfh.example.org\"\n",
                   "test.yaml:12: partner housing: options.too: unknown option 'too' for "
                   "connector mail; did you mean 'to'?");
    /* Nothing near: no guess, the connector's keys instead. */
    expect_refused(HEAD("fhir") "      url: \"https://fhir.example.org/R4\"\n"
                                "      colour: blue\n",
                   "test.yaml:11: partner housing: options.colour: unknown option 'colour' for "
                   "connector fhir (its options: url, identifier_base, patient, "
                   "episode_of_care;");
    assert_int_equal(check(HEAD("fhir") "      url: \"https://fhir.example.org/R4\"\n"
                                        "      colour: blue\n",
                           errstr, sizeof errstr),
                     -1);
    assert_not_contains(errstr, "did you mean");
}

static void test_required_key_missing(void **state)
{
    (void)state;
    expect_refused(HEAD("mail") "      url: \"smtp://mail.example.org:587\"\n"
                                "      from: \"placehub@hub.example.nhs.uk\"\n",
                   "test.yaml:6: partner housing: options.to is required by connector mail");
    expect_refused(HEAD("webhook") "      timeout_ms: 5000\n",
                   "test.yaml:6: partner housing: options.url is required by connector webhook");
}

static void test_secret_written_inline_is_refused_unrepeated(void **state)
{
    (void)state;
    char errstr[1024];
    static const char *const texts[] = {
        HEAD("webhook") "      url: \"https://housing.example/in\"\n"
                        "      signing_keys: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
        /* One reference does not excuse an inline key beside it. */
        HEAD("webhook") "      url: \"https://housing.example/in\"\n"
                        "      signing_keys: \"env:HOUSING_KEY, "
                        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_int_equal(check(texts[i], errstr, sizeof errstr), -1);
        assert_contains(errstr, "test.yaml:11: partner housing: options.signing_keys must name "
                                "the secret as env:NAME or file:/path (each item)");
        assert_not_contains(errstr, "MfKQ9r8");
    }
    /* The host's secrets too. */
    assert_int_equal(check(HEAD("fhir") "      url: \"https://fhir.example.org/R4\"\n"
                                        "      auth: bearer\n"
                                        "      auth_token: \"s3cr3t-t0ken\"\n",
                           errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "test.yaml:12: partner housing: options.auth_token must name the "
                            "secret as env:NAME or file:/path;");
    assert_not_contains(errstr, "s3cr3t");
    assert_int_equal(check(HEAD("webhook") "      url: \"https://housing.example/in\"\n"
                                           "      signing_keys: \"env:A file:/etc/b\"\n"
                                           "      auth: bearer\n"
                                           "      auth_token: \"file:/run/secrets/token\"\n",
                           errstr, sizeof errstr),
                     0);
}

static void test_value_of_the_wrong_shape(void **state)
{
    (void)state;
    expect_refused(HEAD("webhook") "      url: \"https://housing.example/in\"\n"
                                   "      timeout_ms: soon\n",
                   "test.yaml:11: partner housing: options.timeout_ms must be a whole number");
    expect_refused(HEAD("webhook") "      url: \"https://housing.example/in\"\n"
                                   "      tls_insecure_skip_verify: \"yes\"\n",
                   "test.yaml:11: partner housing: options.tls_insecure_skip_verify must be true "
                   "or false");
    expect_refused(HEAD("webhook") "      url: \"housing.example/in\"\n",
                   "test.yaml:10: partner housing: options.url must be a URL");
}

/* The keys the host reads (lib/delivery/transfer.c, lib/delivery/auth.c,
 * services/dispatch/partner.c), written out here so that dropping one from
 * the table fails this test rather than every partner that uses it. */
static const char *const host_keys[] = {"url",
                                        "connect_timeout_ms",
                                        "timeout_ms",
                                        "low_speed_bytes",
                                        "low_speed_seconds",
                                        "max_response_bytes",
                                        "tls_ca_file",
                                        "tls_client_cert",
                                        "tls_client_key",
                                        "tls_insecure_skip_verify",
                                        "auth",
                                        "auth_token",
                                        "auth_api_key",
                                        "auth_api_key_header",
                                        "auth_oauth2_token_url",
                                        "auth_oauth2_client_id",
                                        "auth_oauth2_client_secret",
                                        "auth_oauth2_scope",
                                        "auth_oauth2_audience",
                                        "auth_oauth2_client_auth",
                                        "auth_oauth2_tls_ca_file",
                                        "auth_oauth2_timeout_ms",
                                        "max_in_flight"};

static const char *value_for(const struct placehub_option *option)
{
    if (option->secret || option->type == PLACEHUB_OPTION_SECRET_REFERENCE)
        return "\"env:HOUSING_SECRET\"";
    switch (option->type) {
    case PLACEHUB_OPTION_INTEGER:
        return "100";
    case PLACEHUB_OPTION_BOOLEAN:
        return "false";
    case PLACEHUB_OPTION_URL:
        return "\"https://housing.example/in\"";
    default:
        return "\"text\"";
    }
}

static void test_every_host_key_is_accepted(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof host_keys / sizeof host_keys[0]; i++)
        if (!options_find(options_host(), host_keys[i]))
            fail_msg("the host's table lacks '%s'", host_keys[i]);
    /* All at once, on each built-in connector, with its required keys. */
    static const char *const connectors[][2] = {
        {"webhook", ""},
        {"fhir", ""},
        {"mail",
         "      from: \"placehub@hub.example.nhs.uk\"\n      to: \"duty@hfh.example.org\"\n"},
    };
    for (size_t c = 0; c < 3; c++) {
        char text[8192];
        size_t used = (size_t)snprintf(text, sizeof text,
                                       "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"
                                       "topics:\n  - name: admission\n"
                                       "partners:\n  - id: housing\n    connector: %s\n"
                                       "    topics: [admission]\n    options:\n%s",
                                       connectors[c][0], connectors[c][1]);
        for (const struct placehub_option *option = options_host(); option->name; option++)
            used += (size_t)snprintf(text + used, sizeof text - used, "      %s: %s\n",
                                     option->name, value_for(option));
        assert_true(used < sizeof text);
        char errstr[1024];
        if (check(text, errstr, sizeof errstr) != 0)
            fail_msg("%s: refused: %s", connectors[c][0], errstr);
    }
}

/* A version 1 type as such a connector had it: `unsigned abi_version`
 * first, then the name and the functions. */
struct version_1_type {
    unsigned abi_version;
    const char *name;
    void (*functions[5])(void);
};

static int fake_create(const struct placehub_host *host, const char *partner_id,
                       const struct placehub_options *options, void **instance, char *errstr,
                       size_t errstr_size)
{
    (void)host, (void)partner_id, (void)options, (void)errstr, (void)errstr_size;
    *instance = NULL;
    return 0;
}

static int fake_prepare(void *instance, const struct placehub_delivery *delivery,
                        struct placehub_request *request, char *errstr, size_t errstr_size)
{
    (void)instance, (void)delivery, (void)request, (void)errstr, (void)errstr_size;
    return 0;
}

static void fake_destroy(void *instance)
{
    (void)instance;
}

static int fake_next(void *instance, const struct placehub_delivery *delivery,
                     const struct placehub_response *response, struct placehub_request *request,
                     struct placehub_outcome *outcome)
{
    (void)instance, (void)delivery, (void)response, (void)request, (void)outcome;
    return 0;
}

static void test_type_versions(void **state)
{
    (void)state;
    char errstr[1024];
    struct version_1_type old = {.abi_version = 1, .name = "old"};
    assert_int_equal(connector_type_check((const struct placehub_connector_type *)(void *)&old,
                                          "old.so", errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "connector old.so was built for connector ABI version 1; this "
                            "placehub speaks version 2.1 and no longer loads version 1 "
                            "connectors: rebuild it against this placehub's "
                            "include/placehub/connector.h");

    struct placehub_connector_type type = {PLACEHUB_CONNECTOR_VERSION, .name = "fake",
                                           .create = fake_create, .prepare = fake_prepare,
                                           .destroy = fake_destroy};
    assert_int_equal(connector_type_check(&type, "fake.so", errstr, sizeof errstr), 0);

    /* A 2.0 connector still loads; the host never reads next() past its
     * struct, whatever the bytes there. */
    struct placehub_connector_type other = type;
    other.abi_minor = 0;
    other.struct_size = (uint32_t)offsetof(struct placehub_connector_type, next);
    other.next = fake_next;
    assert_int_equal(connector_type_check(&other, "fake.so", errstr, sizeof errstr), 0);
    assert_null(connector_next(&other));
    other.struct_size = sizeof other;
    assert_non_null(connector_next(&other));

    other = type;
    other.abi_major = 3;
    assert_int_equal(connector_type_check(&other, "fake.so", errstr, sizeof errstr), -1);
    assert_contains(errstr, "connector fake.so was built for connector ABI version 3.1; this "
                            "placehub speaks version 2.1: rebuild it against");

    other = type;
    other.abi_minor = PLACEHUB_CONNECTOR_ABI_MINOR + 1;
    assert_int_equal(connector_type_check(&other, "fake.so", errstr, sizeof errstr), -1);
    assert_contains(errstr, "newer than this placehub's 2.1: upgrade placehub, or rebuild");

    other = type;
    other.struct_size = (uint32_t)offsetof(struct placehub_connector_type, destroy);
    assert_int_equal(connector_type_check(&other, "fake.so", errstr, sizeof errstr), -1);
    assert_contains(errstr, "too small for ABI version 2.1");

    other = type;
    other.prepare = NULL;
    assert_int_equal(connector_type_check(&other, "fake.so", errstr, sizeof errstr), -1);
    assert_contains(errstr, "lacks a name or one of create, prepare, destroy");

    static const struct placehub_option bad_options[] = {{"odd", 99, 0, 0, "?"}, {0}};
    other = type;
    other.options = bad_options;
    assert_int_equal(connector_type_check(&other, "fake.so", errstr, sizeof errstr), -1);
    assert_contains(errstr, "option 'odd' has no known type");

    /* The built-in ones pass the same check on the way out of connector_find. */
    static const char *const builtins[] = {"webhook", "fhir", "mail"};
    for (size_t i = 0; i < 3; i++)
        if (!connector_find(builtins[i], errstr, sizeof errstr))
            fail_msg("%s: %s", builtins[i], errstr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_key_names_file_line_and_nearest),
        cmocka_unit_test(test_required_key_missing),
        cmocka_unit_test(test_secret_written_inline_is_refused_unrepeated),
        cmocka_unit_test(test_value_of_the_wrong_shape),
        cmocka_unit_test(test_every_host_key_is_accepted),
        cmocka_unit_test(test_type_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
