/*
 * test_connector_http.c - the configurable http connector
 * (connectors/http/http.c) and what it is built on: the template engine
 * (lib/core/template.c) parsing, refusing and rendering; create() refusing
 * bad options with the option named; prepare() rendering the URL (percent-
 * encoded), headers, JSON and form bodies (typed values, absent fields left
 * out) and an HMAC signature checked here with OpenSSL; classify() applying
 * the answer map; and the host's start-up check of templates against the
 * partner's agreements (lib/delivery/templates.c) with the file and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "test_connector_support.h"
#include "core/config.h"
#include "core/template.h"
#include "delivery/delivery.h"

extern const struct placehub_connector_type placehub_connector_http;

static const struct placehub_connector_type *const http = &placehub_connector_http;

/* ---- the template engine ------------------------------------------------- */

static void expect_template_refused(const char *text, const char *message)
{
    struct template template;
    char errstr[256] = "";
    assert_int_equal(template_parse(text, &template, errstr, sizeof errstr), -1);
    assert_int_equal(template.count, 0);
    assert_contains(errstr, message);
}

static int test_value(void *arg, const char *name, struct text *out)
{
    (void)arg;
    if (strcmp(name, "missing") == 0)
        return -1;
    text_append(out, "<", 1);
    text_append(out, name, strlen(name));
    text_append(out, ">", 1);
    return 0;
}

static void test_template_parse_and_render(void **state)
{
    (void)state;
    struct template template;
    char errstr[256];
    assert_int_equal(template_parse("a/{event_id}/b{{c}}/{person.address.post-code}", &template,
                                    errstr, sizeof errstr),
                     0);
    assert_int_equal(template.count, 4);
    assert_int_equal(template_name_count(&template), 2);
    assert_false(template_is_single(&template));
    struct text out = {0};
    assert_int_equal(template_render(&template, &out, test_value, NULL), 0);
    assert_string_equal(out.data, "a/<event_id>/b{c}/<person.address.post-code>");
    free(out.data);
    template_free(&template);

    assert_int_equal(template_parse("{ward}", &template, errstr, sizeof errstr), 0);
    assert_true(template_is_single(&template));
    template_free(&template);
    assert_int_equal(template_parse("", &template, errstr, sizeof errstr), 0);
    assert_int_equal(template.count, 0);
    assert_int_equal(template_parse("x{missing}", &template, errstr, sizeof errstr), 0);
    out = (struct text){0};
    assert_int_equal(template_render(&template, &out, test_value, NULL), -1);
    free(out.data);
    template_free(&template);

    expect_template_refused("a/{event_id", "'{' at position 3 is never closed");
    expect_template_refused("a}b", "'}' at position 2 closes nothing");
    expect_template_refused("{}", "placeholder {} at position 1 is not a field name");
    expect_template_refused("{a..b}", "placeholder {a..b}");
    expect_template_refused("{.a}", "placeholder {.a}");
    expect_template_refused("{a b}", "placeholder {a b}");
    expect_template_refused("{a{b}}", "'{' at position 1 is never closed");
    char long_name[300];
    memset(long_name, 'x', sizeof long_name);
    long_name[0] = '{';
    long_name[sizeof long_name - 2] = '}';
    long_name[sizeof long_name - 1] = '\0';
    expect_template_refused(long_name, "at most 128 bytes");
}

struct names_seen {
    char text[512];
};

static int test_collect(void *arg, const char *name, const char *path)
{
    struct names_seen *seen = arg;
    size_t used = strlen(seen->text);
    snprintf(seen->text + used, sizeof seen->text - used, "%s@%s;", name, path);
    return strcmp(name, "stop") == 0 ? -1 : 0;
}

static void test_template_json_names_and_lookup(void **state)
{
    (void)state;
    json_t *json = json_loads(
        "{\"a\":{\"b\":\"{x} and {y.z}\",\"n\":1},\"l\":[\"{w}\",{\"c\":\"{v}\"}]}", 0, NULL);
    struct names_seen seen = {""};
    char errstr[256];
    assert_int_equal(template_json_names(json, test_collect, &seen, errstr, sizeof errstr), 0);
    assert_string_equal(seen.text, "x@a.b;y.z@a.b;w@l[0];v@l[1].c;");
    json_decref(json);

    json = json_loads("{\"a\":{\"b\":\"{oops\"}}", 0, NULL);
    assert_int_equal(template_json_names(json, test_collect, &seen, errstr, sizeof errstr), -1);
    assert_string_equal(errstr, "a.b: '{' at position 1 is never closed; write {{ for a literal "
                                "brace");
    json_decref(json);

    json = json_loads("{\"person\":{\"address\":{\"postcode\":\"SK4 1AB\"}},\"n\":null}", 0, NULL);
    assert_string_equal(json_string_value(template_lookup(json, "person.address.postcode")),
                        "SK4 1AB");
    assert_null(template_lookup(json, "person.address.line"));
    assert_null(template_lookup(json, "person.address.postcode.x"));
    assert_true(json_is_null(template_lookup(json, "n")));
    json_decref(json);

    struct text out = {0};
    template_append_percent(&out, "a b/é?&=~._-Z9");
    assert_string_equal(out.data, "a%20b%2F%C3%A9%3F%26%3D~._-Z9");
    free(out.data);
}

/* ---- create ---------------------------------------------------------------- */

static void expect_create_refused(struct placehub_options *options, const char *message)
{
    void *instance = NULL;
    char errstr[512] = "";
    assert_int_equal(http->create(test_host(), "p", options, &instance, errstr, sizeof errstr), -1);
    assert_null(instance);
    assert_contains(errstr, message);
}

static void test_create_refusals(void **state)
{
    (void)state;
    struct test_options o;
    setenv("TEST_HTTP_KEY", "0123456789abcdef-key", 1);
    expect_create_refused(test_options_set(&o, NULL), "options.url is required");
    expect_create_refused(test_options_set(&o, "url", "ftp://x/", NULL), "options.url must start");
    expect_create_refused(test_options_set(&o, "url", "https://{host}/a", NULL),
                          "placeholders may stand only in the path and query");
    expect_create_refused(test_options_set(&o, "url", "https://a/{b", NULL),
                          "options.url: '{' at position 11 is never closed");
    expect_create_refused(test_options_set(&o, "url", "https://a/", "method", "DELETE", NULL),
                          "options.method must be POST, PUT or PATCH");
    expect_create_refused(test_options_set(&o, "url", "https://a/", "headers",
                                           "{\"Authorization\":\"Bearer x\"}", NULL),
                          "options.headers.Authorization looks like a credential");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "headers", "{\"X-Team\":\"Bearer x\"}", NULL),
        "options.headers.X-Team looks like a credential");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "headers", "{\"Content-Length\":\"1\"}", NULL),
        "not a header a partner's configuration may set");
    expect_create_refused(test_options_set(&o, "url", "https://a/", "headers", "X-A: b", NULL),
                          "options.headers must be a mapping");
    expect_create_refused(test_options_set(&o, "url", "https://a/", "headers",
                                           "{\"X-Api-Key\":\"env:TEST_HTTP_UNSET\"}", NULL),
                          "options.headers.X-Api-Key: ");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "answers", "{\"600\":\"retry\"}", NULL),
        "options.answers: '600' is not an HTTP status: write a number from 100");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "answers", "{\"99\":\"retry\"}", NULL),
        "'99' is not an HTTP status");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "answers", "{\"422\":\"deadletter\"}", NULL),
        "options.answers.422: unknown outcome; write delivered, retry or dead_letter");
    expect_create_refused(test_options_set(&o, "url", "https://a/", "body", "form", NULL),
                          "options.body: form needs options.body_template");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "body", "event", "body_template", "{}", NULL),
        "options.body_template is given but options.body is event");
    expect_create_refused(test_options_set(&o, "url", "https://a/", "body", "xml", NULL),
                          "options.body must be event, json or form");
    expect_create_refused(test_options_set(&o, "url", "https://a/", "body", "form", "body_template",
                                           "{\"a\":{\"b\":\"c\"}}", NULL),
                          "options.body_template.a: a form field is a single value");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "body_template", "{\"a\":[\"{b\"]}", NULL),
        "options.body_template.a[0]: '{' at position 1 is never closed");
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "signing_header", "X-Sig", NULL),
        "options.signing_header is given without options.signing_key");
    setenv("TEST_HTTP_SHORT", "short", 1);
    expect_create_refused(
        test_options_set(&o, "url", "https://a/", "signing_key", "env:TEST_HTTP_SHORT", NULL),
        "options.signing_key holds 5 bytes; it needs at least 16");
}

/* ---- prepare and classify ------------------------------------------------- */

static void *create_ok(struct placehub_options *options)
{
    void *instance = NULL;
    char errstr[512] = "";
    if (http->create(test_host(), "homes", options, &instance, errstr, sizeof errstr) != 0)
        fail_msg("refused: %s", errstr);
    return instance;
}

static void test_prepare_json(void **state)
{
    (void)state;
    struct test_options o;
    setenv("TEST_HTTP_KEY", "0123456789abcdef-key", 1);
    void *instance = create_ok(test_options_set(
        &o, "url", "https://api.example/people/{pseudonym}/episodes/{event_id}?ward={ward}",
        "method", "PUT", "headers",
        "{\"X-Source\":\"{source_ods_code}\",\"X-Api-Key\":\"env:TEST_HTTP_KEY\"}", "body_template",
        "{\"episode\":{\"id\":\"{event_id}\",\"alone\":\"{lives_alone}\",\"missing\":\"{no_such}\","
        "\"label\":\"{event_type} on {ward}\",\"v\":2,\"who\":\"{person.address}\"}}",
        "signing_key", "env:TEST_HTTP_KEY", NULL));
    json_t *event = test_event("admission");
    json_object_set_new(json_object_get(event, "person"), "pseudonym", json_string("ab cd/ef"));
    json_object_set_new(event, "lives_alone", json_true());
    char *body = NULL;
    struct placehub_delivery delivery = test_delivery("admission", event, &body);
    struct placehub_request request = {0};
    char errstr[512] = "";
    assert_int_equal(http->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_string_equal(request.method, "PUT");
    char expected_url[512];
    snprintf(expected_url, sizeof expected_url,
             "https://api.example/people/ab%%20cd%%2Fef/episodes/%s?ward=Ward%%207%%20%%28Acute%%20"
             "Medical%%20Unit%%29",
             delivery.event_id);
    assert_string_equal(request.url, expected_url);
    assert_string_equal(test_header(&request, "X-Source"), "RXX");
    assert_string_equal(test_header(&request, "X-Api-Key"), "0123456789abcdef-key");
    assert_string_equal(test_header(&request, "Content-Type"), "application/json");
    json_t *sent = json_loadb(request.body, request.body_len, 0, NULL);
    json_t *episode = json_object_get(sent, "episode");
    assert_true(json_is_true(json_object_get(episode, "alone"))); /* typed, not "true" */
    assert_null(json_object_get(episode, "missing"));             /* absent: left out */
    assert_int_equal(json_integer_value(json_object_get(episode, "v")), 2);
    assert_string_equal(json_string_value(json_object_get(episode, "label")),
                        "ADMITTED on Ward 7 (Acute Medical Unit)");
    assert_true(json_is_object(json_object_get(episode, "who")));
    json_decref(sent);

    /* t=<seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")> */
    const char *signature = test_header(&request, "X-Signature");
    assert_non_null(signature);
    char signed_text[8192], hex[65];
    snprintf(signed_text, sizeof signed_text, "%lld.%.*s",
             (long long)(test_now_millis_value / 1000), (int)request.body_len,
             (const char *)request.body);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), "0123456789abcdef-key", 20, (const unsigned char *)signed_text,
         strlen(signed_text), mac, &mac_len);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    char expected[128];
    snprintf(expected, sizeof expected, "t=%lld,v1=%s", (long long)(test_now_millis_value / 1000),
             hex);
    assert_string_equal(signature, expected);
    http->release(instance, &request);

    /* A URL placeholder with no value: this event can never go there. */
    json_object_del(json_object_get(event, "person"), "pseudonym");
    free(body);
    delivery = test_delivery("admission", event, &body);
    memset(&request, 0, sizeof request);
    assert_int_equal(http->prepare(instance, &delivery, &request, errstr, sizeof errstr), -1);
    assert_contains(errstr, "options.url: the event has no single value for {pseudonym}");
    free(body);
    json_decref(event);
    http->destroy(instance);
}

static void test_prepare_form_and_event(void **state)
{
    (void)state;
    struct test_options o;
    void *instance = create_ok(test_options_set(
        &o, "url", "http://127.0.0.1:1/in", "body", "form", "body_template",
        "{\"id\":\"{event_id}\",\"name\":\"{person.given_name} {person.family_name}\",\"n\":3,"
        "\"gone\":\"{no_such}\",\"x\":\"a&b=c\"}",
        "headers", "{\"X-Line\":\"{notes}\"}", NULL));
    json_t *event = test_event("admission");
    json_object_set_new(event, "notes", json_string("one"));
    char *body = NULL;
    struct placehub_delivery delivery = test_delivery("admission", event, &body);
    struct placehub_request request = {0};
    char errstr[512] = "";
    assert_int_equal(http->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_string_equal(request.method, "POST");
    assert_string_equal(test_header(&request, "Content-Type"), "application/x-www-form-urlencoded");
    char expected[512];
    snprintf(expected, sizeof expected, "id=%s&name=Margaret%%20Ann%%20Holloway&n=3&x=a%%26b%%3Dc",
             delivery.event_id);
    assert_string_equal((const char *)request.body, expected);
    http->release(instance, &request);
    /* A value that would end the header line is never sent. */
    json_object_set_new(event, "notes", json_string("one\r\nX-Evil: 1"));
    free(body);
    delivery = test_delivery("admission", event, &body);
    memset(&request, 0, sizeof request);
    assert_int_equal(http->prepare(instance, &delivery, &request, errstr, sizeof errstr), -1);
    assert_contains(errstr,
                    "options.headers.X-Line: the event has no single-line value for {notes}");
    http->destroy(instance);

    /* The default: the event as it is. Header values may be numbers (YAML
     * `X-Api-Version: 2`); only exact names are the host's (X-Hostname is not Host). */
    instance = create_ok(test_options_set(&o, "url", "http://127.0.0.1:1/in", "headers",
                                          "{\"X-Api-Version\":2,\"X-Hostname\":\"h\"}", NULL));
    memset(&request, 0, sizeof request);
    assert_int_equal(http->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_ptr_equal(request.body, delivery.body);
    assert_string_equal(test_header(&request, "X-Api-Version"), "2");
    assert_string_equal(test_header(&request, "X-Hostname"), "h");
    assert_string_equal(test_header(&request, "Content-Type"), "application/json");
    http->release(instance, &request);
    http->destroy(instance);
    free(body);
    json_decref(event);
}

static void test_classify_answers(void **state)
{
    (void)state;
    struct test_options o;
    void *instance = create_ok(test_options_set(
        &o, "url", "http://127.0.0.1:1/in", "answers",
        "{\"409\":\"delivered\",\"422\":\"dead_letter\",\"423\":\"retry\",\"503\":\"dead-letter\"}",
        NULL));
    struct placehub_delivery delivery = {.event_id = "e", .event_type = "admission"};
    static const struct {
        int status;
        enum placehub_result before, after;
        const char *reason;
    } cases[] = {
        {409, PLACEHUB_REJECTED, PLACEHUB_DELIVERED, "HTTP 409 (answers: delivered)"},
        {422, PLACEHUB_REJECTED, PLACEHUB_REJECTED, "HTTP 422 (answers: dead_letter)"},
        {423, PLACEHUB_REJECTED, PLACEHUB_RETRY, "HTTP 423 (answers: retry)"},
        {503, PLACEHUB_RETRY, PLACEHUB_REJECTED, "HTTP 503 (answers: dead_letter)"},
        {500, PLACEHUB_RETRY, PLACEHUB_RETRY, "host's"}, /* not in the map: the host's rule */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct placehub_response response = {.status = cases[i].status, .body = ""};
        struct placehub_outcome outcome = {.result = cases[i].before};
        snprintf(outcome.reason, sizeof outcome.reason, "host's");
        http->classify(instance, &delivery, &response, &outcome);
        assert_int_equal(outcome.result, cases[i].after);
        assert_string_equal(outcome.reason, cases[i].reason);
    }
    http->destroy(instance);
}

/* ---- the host's start-up check --------------------------------------------- */

/* Lines 1-13; the options start on line 14. */
#define HTTP_HEAD                                                                                  \
    "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"                                            \
    "topics:\n  - name: admission\n"                                                               \
    "partners:\n  - id: homes\n    connector: http\n    topics: [admission]\n"                     \
    "    agreements:\n"                                                                            \
    "      - {id: homes-stays, purpose: p, legal_basis: l, event_types: [admission],\n"            \
    "         fields: [ward, person.address, care_needs]%s}\n"                                     \
    "    name: Homes\n"                                                                            \
    "    options:\n"

static void expect_startup(const char *pseudonym, const char *options, const char *message)
{
    char text[4096], errstr[2048] = "";
    snprintf(text, sizeof text, HTTP_HEAD, pseudonym);
    snprintf(text + strlen(text), sizeof text - strlen(text), "%s", options);
    struct config *config = NULL;
    if (config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr) != 0)
        fail_msg("the configuration itself was refused: %s", errstr);
    struct delivery_partner *partner = NULL;
    int rc = delivery_partner_new(config, &config->partners[0], &partner, errstr, sizeof errstr);
    delivery_partner_destroy(partner);
    config_destroy(config);
    if (!message) {
        if (rc != 0)
            fail_msg("refused: %s", errstr);
        return;
    }
    if (rc == 0)
        fail_msg("accepted:\n%s", options);
    assert_contains(errstr, message);
}

static void test_startup_checks(void **state)
{
    (void)state;
    expect_startup(
        "",
        "      url: \"http://127.0.0.1:1/stays/{ward}/{event_id}\"\n"
        "      body_template: {a: \"{person.address.postcode}\", b: \"{occurred_at}\"}\n",
        NULL);
    expect_startup("", "      url: \"http://127.0.0.1:1/p/{person.nhs_number}\"\n",
                   "test.yaml:14: partner homes: options.url: {person.nhs_number} is not a field "
                   "any of the partner's agreements allows");
    expect_startup("",
                   "      url: \"http://127.0.0.1:1/p\"\n      body_template:\n"
                   "        stay:\n          where: \"{wrad}\"\n",
                   "test.yaml:15: partner homes: options.body_template.stay.where: {wrad} is not "
                   "a field any of the partner's agreements allows, nor a well-known name; did "
                   "you mean {ward}?");
    expect_startup("", "      url: \"http://127.0.0.1:1/p/{pseudonym}\"\n",
                   "test.yaml:14: partner homes: options.url: {pseudonym} is available only when "
                   "an agreement names a pseudonym_key");
    setenv("TEST_HTTP_PSEUDONYM_KEY", "0123456789abcdef0123456789abcdef", 1);
    expect_startup(", pseudonym_key: \"env:TEST_HTTP_PSEUDONYM_KEY\"",
                   "      url: \"http://127.0.0.1:1/p/{pseudonym}\"\n", NULL);
    expect_startup(
        "", "      url: \"http://127.0.0.1:1/p\"\n      headers: {X-Ward: \"{care_need}\"}\n",
        "test.yaml:15: partner homes: options.headers.X-Ward: {care_need} is not a field");
    /* create()'s refusals get the line of the option they name. */
    expect_startup("",
                   "      url: \"http://127.0.0.1:1/p\"\n      method: PUT\n"
                   "      answers:\n        409: delivered\n        422: deadletter\n",
                   "test.yaml:16: partner homes: options.answers.422: unknown outcome");
    expect_startup("", "      url: \"http://127.0.0.1:1/p\"\n      answers: {600: retry}\n",
                   "test.yaml:15: partner homes: options.answers: '600' is not an HTTP status");
    expect_startup("",
                   "      url: \"http://127.0.0.1:1/p\"\n"
                   "      headers:\n        Authorization: \"Bearer abc\"\n",
                   "test.yaml:15: partner homes: options.headers.Authorization looks like a "
                   "credential");
    /* Typos and structure where a single value belongs: the option check. */
    expect_startup("", "      url: \"http://127.0.0.1:1/p\"\n      body_templat: {a: b}\n",
                   "test.yaml:15: partner homes: options.body_templat: unknown option "
                   "'body_templat' for connector http; did you mean 'body_template'?");
    expect_startup("", "      url: \"http://127.0.0.1:1/p\"\n      timeout_ms: [1]\n",
                   "test.yaml:15: partner homes: options.timeout_ms must be a single value, not a "
                   "mapping or a list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_parse_and_render),
        cmocka_unit_test(test_template_json_names_and_lookup),
        cmocka_unit_test(test_create_refusals),
        cmocka_unit_test(test_prepare_json),
        cmocka_unit_test(test_prepare_form_and_event),
        cmocka_unit_test(test_classify_answers),
        cmocka_unit_test(test_startup_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
