/*
 * test_connector_webhook.c - the `webhook` connector's prepare: the exact
 * headers, the Standard Webhooks signature against vectors computed outside
 * placehub (the specification's own example, and Python's hmac for a second
 * key), rotation with two keys, a fresh timestamp per attempt, the field
 * mapping, and create() refusing what it must (an inline key above all).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "support.h"
#include "test_connector_support.h"

extern const struct placehub_connector_type placehub_connector_webhook;
static const struct placehub_connector_type *const type = &placehub_connector_webhook;

/* The example key of the Standard Webhooks specification. */
#define SPEC_KEY "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
/* 32 bytes 0x07..0x26. */
#define NEW_KEY "whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY="

static int setup(void **state)
{
    (void)state;
    setenv("PLACEHUB_TEST_SPEC_KEY", SPEC_KEY, 1);
    setenv("PLACEHUB_TEST_NEW_KEY", NEW_KEY, 1);
    setenv("PLACEHUB_TEST_NOT_A_KEY", "correct horse battery staple", 1);
    setenv("PLACEHUB_TEST_SHORT_KEY", "whsec_c2hvcnQ=", 1);
    test_log_text[0] = '\0';
    return 0;
}

static void *create_ok(struct placehub_options *options)
{
    char errstr[512] = "";
    void *instance = NULL;
    if (type->create(test_host(), "housing", options, &instance, errstr, sizeof errstr) != 0)
        fail_msg("create refused: %s", errstr);
    return instance;
}

static void test_signature_matches_the_specification_example(void **state)
{
    (void)state;
    struct test_options list;
    void *instance =
        create_ok(test_options_set(&list, "url", "https://housing.example/in", "signing_keys",
                                   "env:PLACEHUB_TEST_SPEC_KEY", NULL));
    /* The specification's example: id, timestamp and body as published. */
    static const char body[] = "{\"test\": 2432232314}";
    struct placehub_delivery delivery = {.partner_id = "housing",
                                         .event_id = "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                         .event_type = "admission",
                                         .body = body,
                                         .body_len = sizeof body - 1,
                                         .attempt = 1};
    struct placehub_request request;
    char errstr[256];
    memset(&request, 0, sizeof request);
    test_now_millis_value = 1614265330999LL; /* seconds are truncated, not rounded */
    assert_int_equal(type->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_int_equal(request.header_count, 5);
    assert_string_equal(request.headers[0], "Content-Type: application/json");
    assert_string_equal(request.headers[1], "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek");
    assert_string_equal(request.headers[2], "webhook-timestamp: 1614265330");
    assert_string_equal(request.headers[3], "X-Placehub-Event-Type: admission");
    assert_string_equal(request.headers[4],
                        "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_null(request.url);
    assert_null(request.method);
    assert_int_equal(request.body_len, sizeof body - 1);
    assert_memory_equal(request.body, body, sizeof body - 1);
    /* The request owns its body: the delivery is borrowed for the call. */
    assert_ptr_not_equal(request.body, body);
    assert_non_null(request.context);
    type->release(instance, &request);
    assert_null(request.context);
    type->destroy(instance);
}

static void test_two_keys_sign_for_rotation_with_a_fresh_timestamp(void **state)
{
    (void)state;
    char path[] = "/tmp/placehub-test-key-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, SPEC_KEY "\n", sizeof SPEC_KEY), (ssize_t)sizeof SPEC_KEY);
    close(fd);
    char keys[128];
    snprintf(keys, sizeof keys, "env:PLACEHUB_TEST_NEW_KEY, file:%s", path);
    struct test_options list;
    void *instance = create_ok(
        test_options_set(&list, "url", "https://housing.example/in", "signing_keys", keys, NULL));
    unlink(path);
    static const char body[] =
        "{\"event_id\":\"d5905a32-14ab-4579-96da-1b8f530a1f03\",\"event_type\":\"ADMITTED\"}";
    struct placehub_delivery delivery = {.partner_id = "housing",
                                         .event_id = "d5905a32-14ab-4579-96da-1b8f530a1f03",
                                         .event_type = "admission",
                                         .body = body,
                                         .body_len = sizeof body - 1,
                                         .attempt = 1};
    struct placehub_request request;
    char errstr[256];
    memset(&request, 0, sizeof request);
    test_now_millis_value = 1795347180000LL;
    assert_int_equal(type->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    /* Computed with Python's hmac and base64 modules, in key order. */
    assert_string_equal(test_header(&request, "webhook-signature"),
                        "v1,p7ZvWkEWofqfy775NcpNlaZt7GOGF+nIF/oX3RJmXyg= "
                        "v1,ByHUr0XxNbNw2y0kweutUGWvYtkybziFJ0vTO2llL1U=");
    type->release(instance, &request);

    /* A retry a minute later is signed afresh. */
    delivery.attempt = 2;
    test_now_millis_value += 60000;
    memset(&request, 0, sizeof request);
    assert_int_equal(type->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_string_equal(test_header(&request, "webhook-timestamp"), "1795347240");
    assert_not_contains(test_header(&request, "webhook-signature"), "p7ZvWkEWofqfy775");
    type->release(instance, &request);
    type->destroy(instance);
}

static json_t *prepared_json(void *instance, const char *topic, char *errstr, size_t errstr_size)
{
    json_t *event = test_event(topic);
    char *body = NULL;
    struct placehub_delivery delivery = test_delivery(topic, event, &body);
    struct placehub_request request;
    memset(&request, 0, sizeof request);
    json_t *sent = NULL;
    if (type->prepare(instance, &delivery, &request, errstr, errstr_size) == 0) {
        sent = json_loadb(request.body, request.body_len, 0, NULL);
        type->release(instance, &request);
    }
    free(body);
    json_decref(event);
    return sent;
}

static void test_whole_event_by_default(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "http://127.0.0.1:9/in", NULL));
    assert_contains(test_log_text, "without options.signing_keys");
    char errstr[256];
    json_t *sent = prepared_json(instance, "discharge", errstr, sizeof errstr);
    json_t *event = test_event("discharge");
    assert_json_equal(sent, event);
    json_decref(sent);
    json_decref(event);
    type->destroy(instance);
}

static void test_field_mapping(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(
        &list, "url", "http://127.0.0.1:9/in", "fields",
        "event_id, event_type, person.nhs_number, person.address, expected_discharge_date, "
        "care_needs, referral_id",
        "rename",
        "person.nhs_number=patient.nhsNumber person.address=patient.address "
        "expected_discharge_date=expectedDischarge",
        NULL));
    char errstr[256];
    json_t *sent = prepared_json(instance, "discharge", errstr, sizeof errstr);
    json_t *expected = support_json(
        "{\"event_id\": \"fa9fbee7-445a-46c5-80cf-1a7d1502c271\","
        " \"event_type\": \"DISCHARGE_PENDING\","
        " \"care_needs\": [\"PERSONAL_CARE\", \"MEDICATION_SUPPORT\", \"EQUIPMENT\"],"
        " \"patient\": {\"nhsNumber\": \"9990123454\", \"address\": {\"lines\": [\"Flat 3\", "
        "\"12 Mill Lane\", \"Heaton Norris\", \"Stockport\"], \"postcode\": \"SK4 9XX\"}},"
        " \"expectedDischarge\": \"2026-11-24\"}");
    assert_json_equal(sent, expected);
    json_decref(sent);
    json_decref(expected);
    /* A null value is sent as null; a path the type lacks is left out. */
    sent = prepared_json(instance, "employment-support", errstr, sizeof errstr);
    expected = support_json("{\"event_id\": \"c255503f-6b25-486e-9a4d-61c4edf52f0e\","
                            " \"event_type\": \"JOB_START\","
                            " \"referral_id\": \"af723cf4-4e58-4b98-a2de-c0082752e3b3\","
                            " \"patient\": {\"nhsNumber\": \"9990882649\", \"address\": null}}");
    assert_json_equal(sent, expected);
    json_decref(sent);
    json_decref(expected);
    type->destroy(instance);
}

static void assert_refused(struct placehub_options *options, const char *hint,
                           const char *must_not_say)
{
    char errstr[512] = "";
    void *instance = NULL;
    if (type->create(test_host(), "housing", options, &instance, errstr, sizeof errstr) == 0)
        fail_msg("accepted, expected a refusal mentioning %s", hint);
    assert_null(instance);
    assert_contains(errstr, hint);
    if (must_not_say)
        assert_not_contains(errstr, must_not_say);
}

static void test_create_refusals(void **state)
{
    (void)state;
    struct test_options list;
    assert_refused(test_options_set(&list, NULL), "options.url", NULL);
    assert_refused(test_options_set(&list, "url", "ftp://housing.example/", NULL), "options.url",
                   NULL);
    /* A key written in the configuration: refused, and never echoed. */
    assert_refused(
        test_options_set(&list, "url", "https://h.example/", "signing_keys", SPEC_KEY, NULL),
        "env:NAME or file:/path", "MfKQ9r8GKYqr");
    assert_refused(test_options_set(&list, "url", "https://h.example/", "signing_keys",
                                    "env:PLACEHUB_TEST_NEW_KEY, MfKQ9r8GKYqrTwjUPD8ILPZ", NULL),
                   "written in the configuration itself", "MfKQ9r8GKYqr");
    assert_refused(test_options_set(&list, "url", "https://h.example/", "signing_keys",
                                    "env:PLACEHUB_TEST_NO_SUCH_VARIABLE", NULL),
                   "not set", NULL);
    assert_refused(test_options_set(&list, "url", "https://h.example/", "signing_keys",
                                    "env:PLACEHUB_TEST_NOT_A_KEY", NULL),
                   "whsec_", "horse");
    assert_refused(test_options_set(&list, "url", "https://h.example/", "signing_keys",
                                    "env:PLACEHUB_TEST_SHORT_KEY", NULL),
                   "24 to 64 bytes", NULL);
    assert_refused(
        test_options_set(&list, "url", "https://h.example/", "fields", "person..name", NULL),
        "options.fields", NULL);
    assert_refused(test_options_set(&list, "url", "https://h.example/", "fields", "event_id",
                                    "rename", "person.nhs_number=nhs", NULL),
                   "not among options.fields", NULL);
    assert_refused(test_options_set(&list, "url", "https://h.example/", "rename", "event_id", NULL),
                   "from=to", NULL);
}

static void test_header_breaking_event_id_is_refused(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "http://127.0.0.1:9/in", NULL));
    struct placehub_delivery delivery = {.partner_id = "housing",
                                         .event_id = "abc\r\nX-Evil: 1",
                                         .event_type = "admission",
                                         .body = "{}",
                                         .body_len = 2,
                                         .attempt = 1};
    struct placehub_request request;
    char errstr[256];
    memset(&request, 0, sizeof request);
    assert_int_equal(type->prepare(instance, &delivery, &request, errstr, sizeof errstr), -1);
    assert_null(request.context);
    type->destroy(instance);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_signature_matches_the_specification_example, setup),
        cmocka_unit_test_setup(test_two_keys_sign_for_rotation_with_a_fresh_timestamp, setup),
        cmocka_unit_test_setup(test_whole_event_by_default, setup),
        cmocka_unit_test_setup(test_field_mapping, setup),
        cmocka_unit_test_setup(test_create_refusals, setup),
        cmocka_unit_test_setup(test_header_breaking_event_id_is_refused, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
