/*
 * test_delivery.c - the delivery host (lib/delivery/delivery.c) against a
 * real HTTP server on loopback: one judgement for every program that
 * delivers. 2xx delivered; 5xx retried with Retry-After; 4xx rejected with
 * the answer redacted; 401 retried with the credentials dropped, also when
 * a connector's classify() called it rejected; a connector's refusal final
 * and nothing sent; a transport failure retried; credentials sent; the
 * non-blocking start driven through a multi handle as dispatch drives it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "delivery/delivery.h"
#include "test_connector_support.h"

/* ---- a partner API that answers as told ---------------------------------- */

struct partner_api {
    struct MHD_Daemon *daemon;
    int port;
    unsigned status;
    const char *retry_after;
    const char *body;
    atomic_int requests;
    char authorization[256];
    char idempotency_key[128];
};

static enum MHD_Result partner_api_answer(void *opaque, struct MHD_Connection *connection,
                                          const char *url, const char *method, const char *version,
                                          const char *upload, size_t *upload_size, void **context)
{
    (void)url, (void)method, (void)version, (void)upload;
    struct partner_api *api = opaque;
    if (!*context) {
        *context = api; /* the first call only announces the request */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    const char *value = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
    snprintf(api->authorization, sizeof api->authorization, "%s", value ? value : "");
    value = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Idempotency-Key");
    snprintf(api->idempotency_key, sizeof api->idempotency_key, "%s", value ? value : "");
    atomic_fetch_add(&api->requests, 1);
    const char *body = api->body ? api->body : "";
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (api->retry_after)
        MHD_add_response_header(response, "Retry-After", api->retry_after);
    enum MHD_Result queued = MHD_queue_response(connection, api->status, response);
    MHD_destroy_response(response);
    return queued;
}

static void partner_api_start(struct partner_api *api)
{
    memset(api, 0, sizeof *api);
    api->status = 200;
    api->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                                   NULL, partner_api_answer, api, MHD_OPTION_END);
    assert_non_null(api->daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    api->port = info->port;
}

/* ---- a connector of the test's own --------------------------------------- */

struct test_connector {
    int classify_calls;
    int classify_rejects_all; /* judge every answer rejected */
};

static struct test_connector test_connector_state;

static int test_create(const struct placehub_host *host, const char *partner_id,
                       const struct placehub_options *options, void **instance, char *errstr,
                       size_t errstr_size)
{
    (void)host, (void)partner_id, (void)options, (void)errstr, (void)errstr_size;
    *instance = &test_connector_state;
    return 0;
}

static int test_prepare(void *instance, const struct placehub_delivery *delivery,
                        struct placehub_request *request, char *errstr, size_t errstr_size)
{
    (void)instance;
    if (strcmp(delivery->event_id, "refuse-me") == 0) {
        snprintf(errstr, errstr_size, "no mapping for this event");
        return -1;
    }
    request->headers[request->header_count++] = "Content-Type: application/json";
    request->body = delivery->body;
    request->body_len = delivery->body_len;
    return 0;
}

static void test_classify(void *instance, const struct placehub_delivery *delivery,
                          const struct placehub_response *response,
                          struct placehub_outcome *outcome)
{
    (void)delivery, (void)response;
    struct test_connector *connector = instance;
    connector->classify_calls++;
    if (connector->classify_rejects_all) {
        outcome->result = PLACEHUB_REJECTED;
        snprintf(outcome->reason, sizeof outcome->reason, "the connector refuses");
    }
}

static void test_destroy(void *instance)
{
    (void)instance;
}

static const struct placehub_connector_type test_type = {
    PLACEHUB_CONNECTOR_VERSION, .name = "test",
    .create = test_create,      .prepare = test_prepare,
    .classify = test_classify,  .destroy = test_destroy,
};

/* ---- fixtures -------------------------------------------------------------- */

struct fixture {
    struct partner_api api;
    char url[128];
    struct test_options options;
    struct delivery_partner *partner;
    CURL *easy;
};

static int fixture_setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    partner_api_start(&fixture->api);
    snprintf(fixture->url, sizeof fixture->url, "http://127.0.0.1:%d/events", fixture->api.port);
    setenv("TEST_DELIVERY_API_KEY", "k-123", 1);
    test_options_set(&fixture->options, "url", fixture->url, "auth", "api_key", "auth_api_key",
                     "env:TEST_DELIVERY_API_KEY", "auth_api_key_header", "Authorization",
                     "timeout_ms", "5000", NULL);
    char errstr[512] = "";
    if (delivery_partner_new_from_options("housing", &test_type, &fixture->options.options,
                                          &fixture->partner, errstr, sizeof errstr) != 0)
        fail_msg("set-up refused: %s", errstr);
    fixture->easy = curl_easy_init();
    memset(&test_connector_state, 0, sizeof test_connector_state);
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *fixture = *state;
    curl_easy_cleanup(fixture->easy);
    delivery_partner_destroy(fixture->partner);
    MHD_stop_daemon(fixture->api.daemon);
    free(fixture);
    return 0;
}

static const char sample_body[] = "{\"event_id\":\"d5905a32-14ab-4579-96da-1b8f530a1f03\"}";

static const struct placehub_delivery sample = {
    .partner_id = "housing",
    .event_id = "d5905a32-14ab-4579-96da-1b8f530a1f03",
    .event_type = "admission",
    .body = sample_body,
    .body_len = sizeof sample_body - 1,
    .attempt = 1,
};

static enum delivery_start perform(struct fixture *fixture,
                                   const struct placehub_delivery *delivery,
                                   struct delivery_verdict *verdict)
{
    return delivery_attempt_perform(fixture->partner, delivery, fixture->easy, verdict);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_a_2xx_is_delivered_with_credentials_and_idempotency_key(void **state)
{
    struct fixture *fixture = *state;
    struct delivery_verdict verdict;
    assert_int_equal(perform(fixture, &sample, &verdict), DELIVERY_STARTED);
    assert_int_equal(verdict.result, PLACEHUB_DELIVERED);
    assert_int_equal(verdict.status, 200);
    assert_false(verdict.credentials_refused);
    assert_int_equal(atomic_load(&fixture->api.requests), 1);
    assert_string_equal(fixture->api.authorization, "k-123");
    assert_string_equal(fixture->api.idempotency_key, sample.event_id);
    assert_int_equal(test_connector_state.classify_calls, 1);
}

static void test_a_5xx_is_retried_with_the_partners_retry_after(void **state)
{
    struct fixture *fixture = *state;
    fixture->api.status = 503;
    fixture->api.retry_after = "3";
    struct delivery_verdict verdict;
    assert_int_equal(perform(fixture, &sample, &verdict), DELIVERY_STARTED);
    assert_int_equal(verdict.result, PLACEHUB_RETRY);
    assert_int_equal(verdict.status, 503);
    assert_int_equal(verdict.retry_after_ms, 3000);
}

static void test_a_4xx_is_rejected_and_the_answer_redacted(void **state)
{
    struct fixture *fixture = *state;
    fixture->api.status = 422;
    fixture->api.body = "{\"error\":\"nhs_number 9990001234 unknown\"}";
    struct delivery_verdict verdict;
    assert_int_equal(perform(fixture, &sample, &verdict), DELIVERY_STARTED);
    assert_int_equal(verdict.result, PLACEHUB_REJECTED);
    assert_int_equal(verdict.status, 422);
    assert_string_equal(verdict.excerpt, "{\"error\":\"nhs_number ########## unknown\"}");
    assert_not_contains(verdict.excerpt, "9990001234");
}

static void test_a_401_is_retried_even_when_the_connector_rejects_it(void **state)
{
    struct fixture *fixture = *state;
    fixture->api.status = 401;
    struct delivery_verdict verdict;
    assert_int_equal(perform(fixture, &sample, &verdict), DELIVERY_STARTED);
    assert_int_equal(verdict.result, PLACEHUB_RETRY);
    assert_true(verdict.credentials_refused);
    assert_string_equal(verdict.reason, "HTTP 401: credentials refused");

    /* The rule comes after classify(): a connector calling it rejected
     * cannot dead-letter events over the hub's credentials. */
    test_connector_state.classify_rejects_all = 1;
    assert_int_equal(perform(fixture, &sample, &verdict), DELIVERY_STARTED);
    assert_int_equal(verdict.result, PLACEHUB_RETRY);
    assert_true(verdict.credentials_refused);

    /* Any other answer the connector rejects stays rejected. */
    fixture->api.status = 200;
    assert_int_equal(perform(fixture, &sample, &verdict), DELIVERY_STARTED);
    assert_int_equal(verdict.result, PLACEHUB_REJECTED);
    assert_string_equal(verdict.reason, "the connector refuses");
    assert_false(verdict.credentials_refused);
}

static void test_a_connector_refusal_is_final_and_sends_nothing(void **state)
{
    struct fixture *fixture = *state;
    struct placehub_delivery refused = sample;
    refused.event_id = "refuse-me";
    struct delivery_verdict verdict;
    assert_int_equal(perform(fixture, &refused, &verdict), DELIVERY_REFUSED);
    assert_int_equal(verdict.result, PLACEHUB_REJECTED);
    assert_string_equal(verdict.reason, "connector refused the event: no mapping for this event");
    assert_int_equal(atomic_load(&fixture->api.requests), 0);
}

static void test_a_partner_that_does_not_answer_is_retried(void **state)
{
    struct fixture *fixture = *state;
    MHD_stop_daemon(fixture->api.daemon); /* the port is closed now */
    fixture->api.daemon = NULL;
    struct delivery_verdict verdict;
    assert_int_equal(perform(fixture, &sample, &verdict), DELIVERY_STARTED);
    assert_int_equal(verdict.result, PLACEHUB_RETRY);
    assert_int_equal(verdict.status, 0);
    assert_true(verdict.reason[0] != '\0');
    partner_api_start(&fixture->api); /* for the teardown */
}

static void test_an_attempt_runs_in_a_multi_handle_as_dispatch_runs_it(void **state)
{
    struct fixture *fixture = *state;
    fixture->api.status = 202;
    struct delivery_attempt attempt;
    memset(&attempt, 0, sizeof attempt);
    char reason[256];
    assert_int_equal(delivery_attempt_start(fixture->partner, &attempt, &sample, fixture->easy,
                                            DELIVERY_CREDENTIALS_NOW, reason, sizeof reason),
                     DELIVERY_STARTED);
    CURLM *multi = curl_multi_init();
    assert_int_equal(curl_multi_add_handle(multi, fixture->easy), CURLM_OK);
    CURLcode code = CURLE_OK;
    int running = 1, done = 0;
    for (int turns = 0; !done && turns < 1000; turns++) {
        curl_multi_perform(multi, &running);
        int left = 0;
        CURLMsg *message;
        while ((message = curl_multi_info_read(multi, &left)) != NULL)
            if (message->msg == CURLMSG_DONE) {
                code = message->data.result;
                done = 1;
            }
        if (!done)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    assert_true(done);
    curl_multi_remove_handle(multi, fixture->easy);
    struct delivery_verdict verdict;
    delivery_attempt_finish(fixture->partner, &attempt, code, &verdict);
    assert_int_equal(verdict.result, PLACEHUB_DELIVERED);
    assert_int_equal(verdict.status, 202);
    curl_multi_cleanup(multi);
}

static void test_a_partner_without_its_secret_is_refused_at_set_up(void **state)
{
    (void)state;
    struct test_options options;
    unsetenv("TEST_DELIVERY_MISSING");
    test_options_set(&options, "url", "http://127.0.0.1:9/", "auth", "bearer", "auth_token",
                     "env:TEST_DELIVERY_MISSING", NULL);
    struct delivery_partner *partner = NULL;
    char errstr[512] = "";
    assert_int_equal(delivery_partner_new_from_options("housing", &test_type, &options.options,
                                                       &partner, errstr, sizeof errstr),
                     -1);
    assert_null(partner);
    assert_contains(errstr, "TEST_DELIVERY_MISSING");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_2xx_is_delivered_with_credentials_and_idempotency_key, fixture_setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_5xx_is_retried_with_the_partners_retry_after,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_4xx_is_rejected_and_the_answer_redacted,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_401_is_retried_even_when_the_connector_rejects_it,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_connector_refusal_is_final_and_sends_nothing,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_partner_that_does_not_answer_is_retried,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_an_attempt_runs_in_a_multi_handle_as_dispatch_runs_it,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test(test_a_partner_without_its_secret_is_refused_at_set_up),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
