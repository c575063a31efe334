/*
 * test_security.c - ingest authentication and broker security (issue 4;
 * docs/security.md): API keys (lib/governance/apikey.c), the token bucket
 * (lib/governance/ratelimit.c), the publishing partners (lib/governance/publisher.c), the
 * partners' ingest: sections and the kafka: security keys (lib/core/config.c),
 * and kafka_conf_new reading the broker password from the environment or a
 * file (lib/kafka/kafka.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <unistd.h>

#include "support.h"

#include "governance/apikey.h"
#include "core/config.h"
#include "kafka/kafka.h"
#include "governance/publisher.h"
#include "governance/ratelimit.h"

#define KAFKA "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"
#define TOPICS "topics:\n  - name: admission\n  - name: referral\n"
/* A well-formed hash (of "phk_test-gp", by Python's hashlib) for configs
 * that need one. */
#define GP_HASH "sha256:64d74a97e2e9c4a4346cc05348ab4a96a291627335d20cb2b21ffd013b59a885"

static struct config *load_ok(const char *text)
{
    struct config *config = NULL;
    char errstr[1024] = "";
    if (config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr) != 0)
        fail_msg("refused: %s", errstr);
    return config;
}

static void expect_error(const char *text, const char *where, const char *hint)
{
    struct config *config = NULL;
    char errstr[1024] = "";
    char prefix[64];
    if (config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr) != -1)
        fail_msg("accepted:\n%s", text);
    assert_null(config);
    snprintf(prefix, sizeof prefix, "test.yaml:%s: ", where);
    assert_starts_with(errstr, prefix);
    assert_contains(errstr, hint);
}

static void test_apikey_hash_known_vector(void **state)
{
    (void)state;
    char hash[APIKEY_HASH_TEXT_SIZE];
    /* SHA-256("abc"), FIPS 180-2 appendix B.1. */
    assert_int_equal(apikey_hash_text("abc", 3, hash, sizeof hash), 0);
    assert_string_equal(hash,
                        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(apikey_hash_text("abc", 3, hash, APIKEY_HASH_TEXT_SIZE - 1), -1);
}

static void test_apikey_new_and_verify(void **state)
{
    (void)state;
    char key[APIKEY_TEXT_SIZE], other[APIKEY_TEXT_SIZE];
    char hash[APIKEY_HASH_TEXT_SIZE], other_hash[APIKEY_HASH_TEXT_SIZE];
    unsigned char expected[APIKEY_DIGEST_SIZE], presented[APIKEY_DIGEST_SIZE];
    assert_int_equal(apikey_new(key, sizeof key, hash, sizeof hash), 0);
    assert_int_equal(apikey_new(other, sizeof other, other_hash, sizeof other_hash), 0);
    assert_starts_with(key, "phk_");
    assert_int_equal(strlen(key), 4 + 43);
    assert_int_equal(
        strspn(key + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_string_not_equal(key, other);
    assert_true(apikey_plausible(key));

    /* The printed hash is the hash of the printed key. */
    char again[APIKEY_HASH_TEXT_SIZE];
    apikey_hash_text(key, strlen(key), again, sizeof again);
    assert_string_equal(hash, again);

    assert_int_equal(apikey_parse_hash(hash, expected), 0);
    apikey_digest(key, strlen(key), presented);
    assert_true(apikey_digest_equal(expected, presented));
    apikey_digest(other, strlen(other), presented);
    assert_false(apikey_digest_equal(expected, presented));
    /* One character off is another key. */
    key[10] = key[10] == 'A' ? 'B' : 'A';
    apikey_digest(key, strlen(key), presented);
    assert_false(apikey_digest_equal(expected, presented));

    assert_int_equal(apikey_new(key, APIKEY_TEXT_SIZE - 1, hash, sizeof hash), -1);
}

static void test_apikey_parse_hash(void **state)
{
    (void)state;
    unsigned char digest[APIKEY_DIGEST_SIZE];
    assert_int_equal(
        apikey_parse_hash("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                          digest),
        0);
    assert_int_equal(digest[0], 0xba);
    assert_int_equal(digest[31], 0xad);
    assert_int_equal(apikey_parse_hash("sha256:ba78", digest), -1);
    assert_int_equal(
        apikey_parse_hash("sha1:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                          digest),
        -1);
    assert_int_equal(
        apikey_parse_hash("sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                          digest),
        -1);
    assert_int_equal(apikey_parse_hash(NULL, digest), -1);
    assert_false(apikey_plausible(""));
    assert_false(apikey_plausible("two words"));
    assert_false(apikey_plausible("tab\there"));
    char long_key[APIKEY_MAX_LENGTH + 2];
    memset(long_key, 'a', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    assert_false(apikey_plausible(long_key));
    long_key[APIKEY_MAX_LENGTH] = '\0';
    assert_true(apikey_plausible(long_key));
}

static void test_ratelimit(void **state)
{
    (void)state;
    struct ratelimit limit;
    /* 2 a second, bursts of 3. */
    ratelimit_init(&limit, 2, 3, 1000);
    assert_int_equal(ratelimit_take(&limit, 1000), 0);
    assert_int_equal(ratelimit_take(&limit, 1000), 0);
    assert_int_equal(ratelimit_take(&limit, 1000), 0);
    /* Empty: one token comes back after 500 ms. */
    assert_int_equal(ratelimit_take(&limit, 1000), 500);
    assert_int_equal(ratelimit_take(&limit, 1200), 300);
    assert_int_equal(ratelimit_take(&limit, 1500), 0);
    assert_int_equal(ratelimit_take(&limit, 1500), 500);
    /* A long pause refills up to the burst, no more. */
    assert_int_equal(ratelimit_take(&limit, 100000), 0);
    assert_int_equal(ratelimit_take(&limit, 100000), 0);
    assert_int_equal(ratelimit_take(&limit, 100000), 0);
    assert_true(ratelimit_take(&limit, 100000) > 0);
    /* A clock going back gives nothing. */
    assert_int_equal(ratelimit_take(&limit, 50000), 500);
    ratelimit_destroy(&limit);
}

static const char publishers_yaml[] =
    KAFKA TOPICS "partners:\n"
                 "  - id: gp-federation\n"
                 "    ingest:\n"
                 "      api_key_hashes: [\"%s\"]\n"
                 "      publishes: [referral]\n"
                 "      source_ods_codes: [Y02494, P99001]\n"
                 "      rate_limit: {events_per_second: 1, burst: 2}\n"
                 "  - id: hospital\n"
                 "    connector: webhook\n"
                 "    topics: [admission]\n"
                 "    ingest:\n"
                 "      api_key_hashes_file: \"%s\"\n"
                 "      publishes: [admission, referral]\n"
                 "      source_ods_codes: [RXX]\n";

static void test_publishers(void **state)
{
    (void)state;
    char gp_key[APIKEY_TEXT_SIZE], gp_hash[APIKEY_HASH_TEXT_SIZE];
    char hospital_key[APIKEY_TEXT_SIZE], hospital_hash[APIKEY_HASH_TEXT_SIZE];
    char old_key[APIKEY_TEXT_SIZE], old_hash[APIKEY_HASH_TEXT_SIZE];
    assert_int_equal(apikey_new(gp_key, sizeof gp_key, gp_hash, sizeof gp_hash), 0);
    assert_int_equal(
        apikey_new(hospital_key, sizeof hospital_key, hospital_hash, sizeof hospital_hash), 0);
    assert_int_equal(apikey_new(old_key, sizeof old_key, old_hash, sizeof old_hash), 0);
    char path[] = "/tmp/placehub-test-hashes-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    fprintf(file, "# hospital PAS, issued 2026-01\n%s\n\n  %s  \n", hospital_hash, old_hash);
    fclose(file);

    char text[2048];
    snprintf(text, sizeof text, publishers_yaml, gp_hash, path);
    struct config *config = load_ok(text);
    assert_int_equal(config_publisher_count(config), 2);
    assert_null(config->partners[0].connector);
    assert_int_equal(config->partners[0].topic_count, 0);
    assert_int_equal(config->partners[0].ingest->burst, 2);
    assert_int_equal(config->partners[1].ingest->burst, 100);
    struct publishers *publishers = NULL;
    char errstr[512];
    if (publishers_new(config, 0, &publishers, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    assert_int_equal(publishers_count(publishers), 2);

    struct publisher *gp = publishers_authenticate(publishers, gp_key);
    struct publisher *hospital = publishers_authenticate(publishers, hospital_key);
    assert_non_null(gp);
    assert_non_null(hospital);
    assert_string_equal(publisher_partner(gp)->id, "gp-federation");
    assert_string_equal(publisher_partner(hospital)->id, "hospital");
    /* Both keys in the file work (a rotation). */
    assert_ptr_equal(publishers_authenticate(publishers, old_key), hospital);
    /* The hash is not the key, nor is a key with a character changed. */
    assert_null(publishers_authenticate(publishers, gp_hash));
    gp_key[5] = gp_key[5] == 'x' ? 'y' : 'x';
    assert_null(publishers_authenticate(publishers, gp_key));
    assert_null(publishers_authenticate(publishers, ""));

    assert_true(publisher_may_publish(gp, "referral"));
    assert_false(publisher_may_publish(gp, "admission"));
    assert_true(publisher_may_publish(hospital, "admission"));
    assert_true(publisher_may_send_as(gp, "Y02494"));
    assert_false(publisher_may_send_as(gp, "RXX"));
    assert_false(publisher_may_send_as(hospital, "Y02494"));
    assert_false(publisher_may_send_as(hospital, NULL));

    /* Each partner its own bucket: the GP's burst of 2 spent leaves the
     * hospital's alone. */
    assert_int_equal(publisher_take(gp, 10), 0);
    assert_int_equal(publisher_take(gp, 10), 0);
    assert_int_equal(publisher_take(gp, 10), 1000);
    assert_int_equal(publisher_take(hospital, 10), 0);
    publishers_destroy(publishers);
    config_destroy(config);

    /* The same key under two partners is refused. */
    snprintf(text, sizeof text, publishers_yaml, hospital_hash, path);
    config = load_ok(text);
    assert_int_equal(publishers_new(config, 0, &publishers, errstr, sizeof errstr), -1);
    assert_contains(errstr, "partners gp-federation and hospital have the same API key hash");
    config_destroy(config);

    /* A key pasted into the file by mistake is refused without echoing it. */
    file = fopen(path, "w");
    fprintf(file, "%s\n", hospital_key);
    fclose(file);
    snprintf(text, sizeof text, publishers_yaml, gp_hash, path);
    config = load_ok(text);
    assert_int_equal(publishers_new(config, 0, &publishers, errstr, sizeof errstr), -1);
    assert_contains(errstr, ":1: not \"sha256:\"");
    assert_not_contains(errstr, hospital_key);
    config_destroy(config);

    unlink(path);
    config = load_ok(text);
    assert_int_equal(publishers_new(config, 0, &publishers, errstr, sizeof errstr), -1);
    assert_contains(errstr, "api_key_hashes_file");
    assert_contains(errstr, "No such file");
    config_destroy(config);
}

#define PARTNER_INGEST(body) KAFKA TOPICS "partners:\n  - id: gp\n    ingest:\n" body

static void test_config_ingest_mistakes(void **state)
{
    (void)state;
    expect_error(PARTNER_INGEST("      api_key_hashes: [\"phk_abcdef\"]\n"
                                "      publishes: [referral]\n"
                                "      source_ods_codes: [Y02494]\n"),
                 "9:24", "never the key itself");
    expect_error(PARTNER_INGEST("      publishes: [referral]\n"
                                "      source_ods_codes: [Y02494]\n"),
                 "9:7", "needs api_key_hashes or api_key_hashes_file");
    expect_error(PARTNER_INGEST("      api_key_hashes: [\"" GP_HASH "\"]\n"
                                "      source_ods_codes: [Y02494]\n"),
                 "9:7", "needs 'publishes'");
    expect_error(PARTNER_INGEST("      api_key_hashes: [\"" GP_HASH "\"]\n"
                                "      publishes: [referrals]\n"
                                "      source_ods_codes: [Y02494]\n"),
                 "10:19", "names 'referrals', which is not declared under topics");
    expect_error(PARTNER_INGEST("      api_key_hashes: [\"" GP_HASH "\"]\n"
                                "      publishes: [referral]\n"),
                 "9:7", "needs 'source_ods_codes'");
    expect_error(PARTNER_INGEST("      api_key_hashes: [\"" GP_HASH "\"]\n"
                                "      publishes: [referral]\n"
                                "      source_ods_codes: [y02494]\n"),
                 "11:26", "'y02494' is not an ODS code");
    expect_error(PARTNER_INGEST("      api_key_hashes: [\"" GP_HASH "\"]\n"
                                "      publishes: [referral]\n"
                                "      source_ods_codes: [Y02494]\n"
                                "      rate_limit: {events_per_second: 0}\n"),
                 "12:39", "events_per_second must be between 1 and 100000");
    expect_error(PARTNER_INGEST("      api_key: \"phk_x\"\n"), "9:7",
                 "unknown key 'api_key' in partners[0].ingest");
    /* Without ingest:, a partner still needs a connector and topics. */
    expect_error(KAFKA TOPICS "partners:\n  - id: gp\n    topics: [admission]\n", "7:5",
                 "needs 'connector'");
    expect_error(KAFKA TOPICS "partners:\n  - id: gp\n    connector: webhook\n", "7:5",
                 "needs 'topics'");
    expect_error(KAFKA TOPICS "ingest:\n  insecure_no_authentication: yes\n", "7:31",
                 "must be true or false");
    struct config *config = load_ok(KAFKA TOPICS "ingest:\n  insecure_no_authentication: true\n");
    assert_int_equal(config->ingest.insecure_no_authentication, 1);
    config_destroy(config);
    config = load_ok(KAFKA TOPICS);
    assert_int_equal(config->ingest.insecure_no_authentication, 0);
    config_destroy(config);
}

static void test_config_kafka_security(void **state)
{
    (void)state;
    /* Secrets inline are refused, at their line, with what to do instead. */
    expect_error(KAFKA "  properties:\n    sasl.password: \"hunter2\"\n" TOPICS, "4:5",
                 "must not set 'sasl.password' (a secret written in the configuration); use "
                 "kafka.sasl_password_env or kafka.sasl_password_file");
    expect_error(KAFKA "  properties:\n    client.id: x\n    ssl.key.password: \"k\"\n" TOPICS,
                 "5:5", "kafka.ssl_key_password_env");
    expect_error(KAFKA "  properties:\n    ssl.key.pem: \"-----BEGIN\"\n" TOPICS, "4:5",
                 "a secret written in the configuration");
    expect_error(KAFKA "  properties:\n    sasl.oauthbearer.client.secret: \"s\"\n" TOPICS, "4:5",
                 "a secret written in the configuration");
    expect_error(KAFKA "  properties:\n    ssl.keystore.password: \"s\"\n" TOPICS, "4:5",
                 "a secret written in the configuration");
    expect_error(
        KAFKA "  security_protocol: SSL\n  properties:\n    security.protocol: SSL\n" TOPICS, "5:5",
        "and kafka.security_protocol is set too; keep only kafka.security_protocol");
    expect_error(KAFKA "  sasl_password: \"hunter2\"\n" TOPICS, "3:18",
                 "would put a secret in the configuration; use sasl_password_env");
    expect_error(KAFKA "  security_protocol: SASL\n" TOPICS, "3:22",
                 "must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL");
    expect_error(KAFKA "  security_protocol: SASL_PLAINTEXT\n  sasl_username: hub\n"
                       "  sasl_password_env: X\n" TOPICS,
                 "2:3", "needs sasl_mechanism");
    expect_error(KAFKA "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: SCRAM-SHA-256\n"
                       "  sasl_password_env: X\n" TOPICS,
                 "2:3", "needs sasl_username");
    expect_error(KAFKA "  security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n"
                       "  sasl_username: hub\n" TOPICS,
                 "2:3", "exactly one of sasl_password_env");
    expect_error(KAFKA "  sasl_username: hub\n" TOPICS, "2:3",
                 "sasl_* settings are used only with security_protocol SASL_PLAINTEXT");
    expect_error(KAFKA "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n"
                       "  sasl_username: hub\n  sasl_password_env: X\n"
                       "  ssl_ca_location: ca.pem\n" TOPICS,
                 "2:3", "ssl_* settings are used only with security_protocol SSL");
    expect_error(KAFKA "  security_protocol: SSL\n  ssl_certificate_location: c.pem\n" TOPICS,
                 "2:3", "needs both ssl_certificate_location and ssl_key_location");

    struct config *config =
        load_ok(KAFKA "  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n"
                      "  sasl_username: hub\n  sasl_password_file: secrets/kafka\n"
                      "  ssl_ca_location: /etc/ssl/ca.pem\n" TOPICS);
    assert_string_equal(config->kafka.security_protocol, "SASL_SSL");
    assert_string_equal(config->kafka.sasl_password_file, "secrets/kafka");
    assert_string_equal(config->kafka.ssl_ca_location, "/etc/ssl/ca.pem");
    config_destroy(config);
}

static void test_kafka_conf_reads_password(void **state)
{
    (void)state;
    char errstr[1024] = "";
    char value[256];
    size_t size = sizeof value;
    setenv("PLACEHUB_TEST_KAFKA_PASSWORD", "not-a-real-password", 1);
    struct config *config =
        load_ok(KAFKA "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: SCRAM-SHA-256\n"
                      "  sasl_username: placehub\n"
                      "  sasl_password_env: PLACEHUB_TEST_KAFKA_PASSWORD\n" TOPICS);
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, sizeof errstr);
    if (!conf)
        fail_msg("%s", errstr);
    assert_int_equal(rd_kafka_conf_get(conf, "security.protocol", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "sasl_plaintext");
    size = sizeof value;
    assert_int_equal(rd_kafka_conf_get(conf, "sasl.username", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "placehub");
    size = sizeof value;
    assert_int_equal(rd_kafka_conf_get(conf, "sasl.password", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "not-a-real-password");
    rd_kafka_conf_destroy(conf);

    /* A variable that is not set stops start-up, naming it, not a value. */
    unsetenv("PLACEHUB_TEST_KAFKA_PASSWORD");
    assert_null(kafka_conf_new(config, errstr, sizeof errstr));
    assert_contains(errstr, "kafka.sasl_password_env");
    assert_contains(errstr, "PLACEHUB_TEST_KAFKA_PASSWORD");
    assert_contains(errstr, "not set");
    config_destroy(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apikey_hash_known_vector),
        cmocka_unit_test(test_apikey_new_and_verify),
        cmocka_unit_test(test_apikey_parse_hash),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_publishers),
        cmocka_unit_test(test_config_ingest_mistakes),
        cmocka_unit_test(test_config_kafka_security),
        cmocka_unit_test(test_kafka_conf_reads_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
