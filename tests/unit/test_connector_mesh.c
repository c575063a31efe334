/*
 * test_connector_mesh.c - MESH's Authorization header against the check
 * vector in NHS England's scheme (computed outside placehub: Python's hmac,
 * and mesh-sandbox's validator agrees in tests/integration/test_mesh.py),
 * the readers of MESH's answers (lib/core/mesh.c), and the `mesh`
 * connector's conversation as the host drives it: handshake, send, chunks,
 * the message id as the receipt's reference, a 403 retried, create()
 * refusing what it must.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/mesh.h"
#include "support.h"
#include "test_connector_support.h"

extern const struct placehub_connector_type placehub_connector_mesh;
static const struct placehub_connector_type *const type = &placehub_connector_mesh;

static int setup(void **state)
{
    (void)state;
    setenv("PLACEHUB_TEST_MESH_PASSWORD", "password", 1);
    setenv("PLACEHUB_TEST_MESH_KEY", "TestKey", 1);
    test_log_text[0] = '\0';
    return 0;
}

static void test_authorization_check_vector(void **state)
{
    (void)state;
    char line[MESH_AUTHORIZATION_MAX];
    assert_int_equal(mesh_authorization("X26ABC1", "password", "TestKey", "n1", 0, "202612041900",
                                        line, sizeof line),
                     0);
    assert_string_equal(line, "Authorization: NHSMESH X26ABC1:n1:0:202612041900:"
                              "17b8d0f1adccc397dee54f06f5544dbf9d0d975e9cf4e612a011eb9860d0164f");
    /* The password is signed, never sent. */
    assert_not_contains(line, "password");
    assert_int_equal(
        mesh_authorization("X26:ABC1", "p", "k", "n1", 0, "202612041900", line, sizeof line), -1);
    assert_int_equal(mesh_authorization("X26ABC1", "p", "k", "n1", 0, "202612041900", line, 40),
                     -1);
}

static void test_timestamp_and_nonce(void **state)
{
    (void)state;
    char timestamp[16], first[40], second[40];
    mesh_timestamp(1796410800000LL, timestamp, sizeof timestamp); /* 2026-12-04 19:00:00 UTC */
    assert_string_equal(timestamp, "202612041900");
    assert_int_equal(mesh_nonce(first, sizeof first), 0);
    assert_int_equal(mesh_nonce(second, sizeof second), 0);
    assert_int_equal(strlen(first), 32);
    assert_string_not_equal(first, second);
    assert_int_equal(mesh_nonce(first, 32), -1);
}

static void test_readers(void **state)
{
    (void)state;
    char id[MESH_MESSAGE_ID_MAX], ids[4][MESH_MESSAGE_ID_MAX], words[64];
    static const char v2[] = "{\"message_id\":\"20220228174323222_ABCDEF\"}";
    static const char v1[] = "{\"messageID\":\"0A1B2C\"}";
    assert_int_equal(mesh_send_answer_parse(v2, sizeof v2 - 1, id, sizeof id), 0);
    assert_string_equal(id, "20220228174323222_ABCDEF");
    assert_int_equal(mesh_send_answer_parse(v1, sizeof v1 - 1, id, sizeof id), 0);
    assert_string_equal(id, "0A1B2C");
    static const char *const refused[] = {"",
                                          "[]",
                                          "{}",
                                          "{\"message_id\":\"../etc\"}",
                                          "{\"message_id\":7}",
                                          "{\"message_id\":\"a b\"}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_equal(mesh_send_answer_parse(refused[i], strlen(refused[i]), id, sizeof id), -1);

    static const char inbox[] = "{\"messages\":[\"A1\",\"B2\",\"C3\"]}";
    assert_int_equal(mesh_inbox_parse(inbox, sizeof inbox - 1, ids, 4), 3);
    assert_string_equal(ids[2], "C3");
    assert_int_equal(mesh_inbox_parse(inbox, sizeof inbox - 1, ids, 2), 2);
    static const char bad_inbox[] = "{\"messages\":[\"A1\",\"B/2\"]}";
    assert_int_equal(mesh_inbox_parse(bad_inbox, sizeof bad_inbox - 1, ids, 4), -1);
    assert_int_equal(mesh_inbox_parse("{}", 2, ids, 4), -1);

    unsigned chunk, total;
    assert_int_equal(mesh_chunk_range_parse("2:3", 100, &chunk, &total), 0);
    assert_int_equal(chunk, 2);
    assert_int_equal(total, 3);
    static const char *const ranges[] = {"0:3", "4:3", "1:", ":1", "1:3x", "1:200", "a:b", ""};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        assert_int_equal(mesh_chunk_range_parse(ranges[i], 100, &chunk, &total), -1);

    static const char error[] =
        "{\"detail\":[{\"event\":\"SEND\",\"code\":\"02\",\"msg\":\"Unregistered recipient\"}]}";
    mesh_error_describe(error, sizeof error - 1, words, sizeof words);
    assert_string_equal(words, "code 02: Unregistered recipient");
    mesh_error_describe("not json", 8, words, sizeof words);
    assert_string_equal(words, "");
}

static void test_message_headers_and_derived_event_id(void **state)
{
    (void)state;
    struct mesh_message_headers headers = {0};
    static const char *const lines[] = {"HTTP/1.1 206 Partial Content\r\n",
                                        "mex-from: X26ABC2\r\n",
                                        "Mex-Subject:   referral \r\n",
                                        "mex-Chunk-Range: 1:3\r\n",
                                        "mex-WorkflowID: PLACEHUB_EVENT\n",
                                        "mex-LocalID: caf\xc3\xa9\r\n",
                                        "mex-To:\r\n",
                                        "mex-Subjectx: no\r\n",
                                        "X-Other: mex-From: X99\r\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        mesh_header_line(&headers, lines[i], strlen(lines[i]));
    assert_string_equal(headers.from, "X26ABC2");
    assert_string_equal(headers.subject, "referral");
    assert_string_equal(headers.chunk_range, "1:3");
    assert_string_equal(headers.workflow_id, "PLACEHUB_EVENT");
    assert_string_equal(headers.to, "");
    assert_string_equal(headers.local_id, ""); /* not printable ASCII: dropped, counted */
    assert_int_equal(headers.malformed, 1);
    char too_long[400];
    memset(too_long, 'a', sizeof too_long);
    memcpy(too_long, "mex-Subject: ", 13);
    mesh_header_line(&headers, too_long, sizeof too_long);
    assert_string_equal(headers.subject, "");
    assert_int_equal(headers.malformed, 2);

    /* Python: uuid.uuid5(uuid.NAMESPACE_URL, "urn:nhs-mesh:message:<id>") */
    char id[40];
    mesh_event_id("20220228174323222_ABCDEF", id, sizeof id);
    assert_string_equal(id, "5322cb09-3e72-53a5-b091-c28cb0761617");
}

static void *create_ok(struct placehub_options *options)
{
    char errstr[512] = "";
    void *instance = NULL;
    if (type->create(test_host(), "gp-federation", options, &instance, errstr, sizeof errstr) != 0)
        fail_msg("create refused: %s", errstr);
    return instance;
}

static struct placehub_options *mesh_options(struct test_options *list, const char *chunk_size)
{
    return test_options_set(list, "url", "https://mesh.example:8443/", "mailbox", "x26abc1",
                            "mailbox_password", "env:PLACEHUB_TEST_MESH_PASSWORD", "shared_key",
                            "env:PLACEHUB_TEST_MESH_KEY", "to", "X26ABC2", "workflow_id",
                            "PLACEHUB_EVENT", "chunk_size", chunk_size, "tls_client_cert",
                            "/etc/hub.pem", NULL);
}

static void answer(struct placehub_response *response, const char *body)
{
    response->status = 202;
    response->body = body;
    response->body_len = strlen(body);
}

static void test_handshake_send_and_chunks(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(mesh_options(&list, "100"));
    char *body = NULL;
    json_t *event = test_event("referral");
    struct placehub_delivery delivery = test_delivery("referral", event, &body);
    unsigned total = (unsigned)((delivery.body_len + 99) / 100);
    assert_true(total >= 3);
    struct placehub_request request = {0};
    char errstr[256], expected[128];
    assert_int_equal(type->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_string_equal(request.url, "https://mesh.example:8443/messageexchange/X26ABC1");
    assert_contains(test_header(&request, "Authorization"), "NHSMESH X26ABC1:");
    assert_string_equal(test_header(&request, "mex-ClientVersion"), "placehub/1");
    assert_null(test_header(&request, "mex-To"));

    struct placehub_response response = {0};
    struct placehub_outcome outcome = {.result = PLACEHUB_DELIVERED};
    answer(&response, "{}");
    assert_int_equal(type->next(instance, &delivery, &response, &request, &outcome), 1);
    assert_string_equal(request.url, "https://mesh.example:8443/messageexchange/X26ABC1/outbox");
    assert_string_equal(test_header(&request, "mex-To"), "X26ABC2");
    assert_string_equal(test_header(&request, "mex-From"), "X26ABC1");
    assert_string_equal(test_header(&request, "mex-WorkflowID"), "PLACEHUB_EVENT");
    assert_string_equal(test_header(&request, "mex-LocalID"), delivery.event_id);
    assert_string_equal(test_header(&request, "mex-Subject"), "referral");
    snprintf(expected, sizeof expected, "1:%u", total);
    assert_string_equal(test_header(&request, "mex-Chunk-Range"), expected);
    assert_int_equal(request.body_len, 100);
    assert_ptr_equal(request.body, delivery.body);

    size_t sent = request.body_len;
    answer(&response, "{\"message_id\":\"0123456789ABCDEF\"}");
    for (unsigned chunk = 2; chunk <= total; chunk++) {
        assert_int_equal(type->next(instance, &delivery, &response, &request, &outcome), 1);
        snprintf(expected, sizeof expected,
                 "https://mesh.example:8443/messageexchange/X26ABC1/outbox/0123456789ABCDEF/%u",
                 chunk);
        assert_string_equal(request.url, expected);
        snprintf(expected, sizeof expected, "%u:%u", chunk, total);
        assert_string_equal(test_header(&request, "mex-Chunk-Range"), expected);
        assert_ptr_equal(request.body, delivery.body + sent);
        sent += request.body_len;
        answer(&response, "{}");
    }
    assert_int_equal(sent, delivery.body_len);
    assert_int_equal(type->next(instance, &delivery, &response, &request, &outcome), 0);
    assert_int_equal(outcome.result, PLACEHUB_DELIVERED);
    assert_string_equal(outcome.reference, "0123456789ABCDEF");
    type->release(instance, &request);

    /* Handshaken: the next delivery starts with the send, in one piece. */
    type->destroy(instance);
    instance = create_ok(mesh_options(&list, "100000"));
    memset(&request, 0, sizeof request);
    assert_int_equal(type->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_int_equal(type->next(instance, &delivery, &response, &request, &outcome), 1);
    type->release(instance, &request);
    memset(&request, 0, sizeof request);
    assert_int_equal(type->prepare(instance, &delivery, &request, errstr, sizeof errstr), 0);
    assert_contains(request.url, "/outbox");
    assert_null(test_header(&request, "mex-Chunk-Range"));
    assert_int_equal(request.body_len, delivery.body_len);
    answer(&response, "{\"message_id\":\"FEDCBA\"}");
    memset(&outcome, 0, sizeof outcome);
    assert_int_equal(type->next(instance, &delivery, &response, &request, &outcome), 0);
    assert_string_equal(outcome.reference, "FEDCBA");
    type->release(instance, &request);
    type->destroy(instance);
    json_decref(event);
    free(body);
}

static void test_refused_credentials_are_retried(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(mesh_options(&list, "100"));
    struct placehub_delivery delivery = {.event_id = "e1", .event_type = "admission"};
    struct placehub_response response = {.status = 403, .body = "", .body_len = 0};
    struct placehub_outcome outcome = {.result = PLACEHUB_REJECTED, .reason = "HTTP 403"};
    type->classify(instance, &delivery, &response, &outcome);
    assert_int_equal(outcome.result, PLACEHUB_RETRY);
    assert_contains(outcome.reason, "MESH refused mailbox X26ABC1's credentials");
    static const char error[] =
        "{\"detail\":[{\"code\":\"02\",\"msg\":\"Unregistered recipient\"}]}";
    response = (struct placehub_response){.status = 417, .body = error, .body_len = strlen(error)};
    outcome = (struct placehub_outcome){.result = PLACEHUB_REJECTED, .reason = "HTTP 417"};
    type->classify(instance, &delivery, &response, &outcome);
    assert_int_equal(outcome.result, PLACEHUB_REJECTED);
    assert_string_equal(outcome.reason, "HTTP 417 from MESH: code 02: Unregistered recipient");
    type->destroy(instance);
}

static void refused(struct placehub_options *options, const char *needle)
{
    char errstr[512] = "";
    void *instance = NULL;
    assert_int_equal(type->create(test_host(), "gp", options, &instance, errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, needle);
    assert_not_contains(errstr, "TestKey");
}

static void test_create_refusals(void **state)
{
    (void)state;
    struct test_options list;
    const char *password = "env:PLACEHUB_TEST_MESH_PASSWORD", *key = "env:PLACEHUB_TEST_MESH_KEY";
    refused(test_options_set(&list, "url", "http://mesh.example", "mailbox", "X1", "to", "X2",
                             "workflow_id", "W", "mailbox_password", password, "shared_key", key,
                             NULL),
            "options.url");
    refused(test_options_set(&list, "url", "https://m", "mailbox", "X 1", "to", "X2", "workflow_id",
                             "W", "mailbox_password", password, "shared_key", key, NULL),
            "options.mailbox");
    refused(test_options_set(&list, "url", "https://m", "mailbox", "X1", "to", "X2", "workflow_id",
                             "W\r\nX: y", "mailbox_password", password, "shared_key", key, NULL),
            "options.workflow_id");
    refused(test_options_set(&list, "url", "https://m", "mailbox", "X1", "to", "X2", "workflow_id",
                             "W", "mailbox_password", password, "shared_key",
                             "env:PLACEHUB_TEST_MESH_UNSET", NULL),
            "options.shared_key");
    refused(test_options_set(&list, "url", "https://m", "mailbox", "X1", "to", "X2", "workflow_id",
                             "W", "mailbox_password", password, "shared_key", key, "chunk_size",
                             "10", NULL),
            "options.chunk_size");
    refused(test_options_set(&list, "url", "https://m", "mailbox", "X1", "to", "X2", "workflow_id",
                             "W", "mailbox_password", password, "shared_key", key, "auth", "bearer",
                             NULL),
            "options.auth");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_authorization_check_vector, setup),
        cmocka_unit_test_setup(test_timestamp_and_nonce, setup),
        cmocka_unit_test_setup(test_readers, setup),
        cmocka_unit_test_setup(test_message_headers_and_derived_event_id, setup),
        cmocka_unit_test_setup(test_handshake_send_and_chunks, setup),
        cmocka_unit_test_setup(test_refused_credentials_are_retried, setup),
        cmocka_unit_test_setup(test_create_refusals, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
