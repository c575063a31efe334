/*
 * test_registry.c - the Schema Registry REST client of lib/schema/registry.c
 * (external mode), against a stand-in registry run here on a loopback port
 * (libmicrohttpd, thread per connection) that answers GET /schemas/ids/N as
 * a Confluent registry would, one behaviour per id (see server_answer).
 *
 * Checked: a known id is fetched once, then served from the cache; an
 * unknown id (404, error_code 40403) is "no such schema" (-1), distinct from
 * REGISTRY_UNAVAILABLE for a registry down, closing without an answer,
 * answering 5xx or 401 or a 404 that is not the registry's; bad bodies (not
 * JSON, JSON without a schema, a schema that does not compile) are refused
 * with a message saying so; two threads asking for one uncached id get the
 * same schema; a cached id is served while a slow fetch of another id is in
 * flight. The registry's 15 s timeout is not exercised (too slow for a unit
 * test); a registry that never answers is covered by the slow fetch only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "schema/codec.h"
#include "schema/registry.h"

/* The ids the stand-in registry knows, and how it answers each. */
enum {
    ID_ADMISSION = 1,       /* the admission schema, at once */
    ID_DISCHARGE_SLOW = 2,  /* the discharge schema, after release or SLOW_MS */
    ID_REFERRAL_PAIR = 3,   /* the referral schema, once two requests are in (or PAIR_MS) */
    ID_UNKNOWN = 40,        /* 404 {"error_code": 40403} as Confluent answers */
    ID_NOT_FOUND_HTML = 41, /* 404 text/html, as a proxy with a wrong base path */
    ID_SERVER_ERROR = 50,   /* 500 {"error_code": 50001} */
    ID_UNAUTHORISED = 51,   /* 401 */
    ID_NOT_JSON = 52,       /* 200 with a body that is not JSON */
    ID_NO_SCHEMA = 53,      /* 200 with JSON lacking "schema" */
    ID_BAD_SCHEMA = 54,     /* 200 with a "schema" that is not Avro */
    ID_HANG_UP = 55,        /* the connection closed without an answer */
    ID_MAX = 64
};

#define SLOW_MS 500
#define PAIR_MS 500

struct server {
    struct MHD_Daemon *daemon;
    int port;
    char *admission, *discharge, *referral; /* answer bodies */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int requests[ID_MAX]; /* per id */
    int other_requests;
    int released; /* the slow answer may go */
};

struct fixture {
    struct server server;
    struct config *config;
    struct registry *registry;
};

/* ---- the stand-in registry ---------------------------------------------- */

/* {"schema": <the .avsc file's text>}, as GET /schemas/ids/N answers. */
static char *schema_answer(const char *path)
{
    char *text = support_read_file(path, NULL);
    json_t *answer = json_pack("{s:s}", "schema", text);
    char *body = json_dumps(answer, JSON_COMPACT);
    json_decref(answer);
    free(text);
    assert_non_null(body);
    return body;
}

/* Waits until *flag reaches at_least or ms pass; caller holds the lock. */
static int server_wait_locked(struct server *server, const int *flag, int at_least, int ms)
{
    return support_wait_locked(&server->changed, &server->lock, flag, at_least, ms);
}

static enum MHD_Result server_reply(struct MHD_Connection *connection, unsigned int status,
                                    const char *content_type, const char *body)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static const char registry_type[] = "application/vnd.schemaregistry.v1+json";

static enum MHD_Result server_answer(void *cls, struct MHD_Connection *connection, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    struct server *server = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    int id = -1;
    char rest = '\0';
    if (strcmp(method, "GET") != 0 || sscanf(url, "/schemas/ids/%d%c", &id, &rest) != 1 || id < 0 ||
        id >= ID_MAX) {
        pthread_mutex_lock(&server->lock);
        server->other_requests++;
        pthread_mutex_unlock(&server->lock);
        return server_reply(connection, 404, registry_type,
                            "{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}");
    }
    pthread_mutex_lock(&server->lock);
    server->requests[id]++;
    pthread_cond_broadcast(&server->changed);
    if (id == ID_DISCHARGE_SLOW)
        server_wait_locked(server, &server->released, 1, SLOW_MS);
    if (id == ID_REFERRAL_PAIR)
        server_wait_locked(server, &server->requests[ID_REFERRAL_PAIR], 2, PAIR_MS);
    pthread_mutex_unlock(&server->lock);

    switch (id) {
    case ID_ADMISSION:
        return server_reply(connection, 200, registry_type, server->admission);
    case ID_DISCHARGE_SLOW:
        return server_reply(connection, 200, registry_type, server->discharge);
    case ID_REFERRAL_PAIR:
        return server_reply(connection, 200, registry_type, server->referral);
    case ID_NOT_FOUND_HTML:
        return server_reply(connection, 404, "text/html",
                            "<html><body><h1>404 Not Found</h1></body></html>");
    case ID_SERVER_ERROR:
        return server_reply(connection, 500, registry_type,
                            "{\"error_code\":50001,\"message\":\"Error in the backend data "
                            "store\"}");
    case ID_UNAUTHORISED:
        return server_reply(connection, 401, registry_type,
                            "{\"error_code\":401,\"message\":\"Unauthorized\"}");
    case ID_NOT_JSON:
        return server_reply(connection, 200, registry_type, "schema: not json");
    case ID_NO_SCHEMA:
        return server_reply(connection, 200, registry_type, "{\"subject\":\"admission-value\"}");
    case ID_BAD_SCHEMA:
        return server_reply(connection, 200, registry_type,
                            "{\"schema\":\"{\\\"type\\\":\\\"no-such-type\\\"}\"}");
    case ID_HANG_UP:
        return MHD_NO; /* MHD closes the connection */
    default:
        return server_reply(connection, 404, registry_type,
                            "{\"error_code\":40403,\"message\":\"Schema not found\"}");
    }
}

static void server_start(struct server *server)
{
    struct sockaddr_in address;
    memset(server, 0, sizeof *server);
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->changed, NULL);
    server->admission = schema_answer("schemas/admission.v1.avsc");
    server->discharge = schema_answer("schemas/discharge.v1.avsc");
    server->referral = schema_answer("schemas/referral.v1.avsc");
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                                          MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO,
                                      0, NULL, NULL, &server_answer, server, MHD_OPTION_SOCK_ADDR,
                                      (const struct sockaddr *)&address, MHD_OPTION_END);
    assert_non_null(server->daemon);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    server->port = (int)info->port;
}

static void server_stop(struct server *server)
{
    pthread_mutex_lock(&server->lock);
    server->released = 1; /* no answer is left waiting */
    pthread_cond_broadcast(&server->changed);
    pthread_mutex_unlock(&server->lock);
    if (server->daemon)
        MHD_stop_daemon(server->daemon);
    free(server->admission);
    free(server->discharge);
    free(server->referral);
    pthread_cond_destroy(&server->changed);
    pthread_mutex_destroy(&server->lock);
}

static int server_requests(struct server *server, int id)
{
    pthread_mutex_lock(&server->lock);
    int count = server->requests[id];
    pthread_mutex_unlock(&server->lock);
    return count;
}

/* ---- the registry client --------------------------------------------------- */

/* A registry in external mode at url (a printf format taking the port). */
static struct registry *registry_at(struct config **config, const char *url_format, int port)
{
    char url[128], text[1024], errstr[1024] = "";
    snprintf(url, sizeof url, url_format, port);
    snprintf(text, sizeof text,
             "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"
             "schema_registry:\n  mode: external\n  schemas_dir: \"schemas\"\n  url: \"%s\"\n"
             "topics:\n  - name: admission\n",
             url);
    if (config_load_string("test.yaml", text, strlen(text), config, errstr, sizeof errstr) != 0)
        fail_msg("config refused: %s", errstr);
    struct registry *registry = NULL;
    if (registry_new(*config, &registry, errstr, sizeof errstr) != 0)
        fail_msg("registry_new: %s", errstr);
    return registry;
}

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    server_start(&fixture->server);
    /* With a trailing slash, which the client must not double. */
    fixture->registry = registry_at(&fixture->config, "http://127.0.0.1:%d/", fixture->server.port);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    server_stop(&fixture->server);
    registry_destroy(fixture->registry);
    config_destroy(fixture->config);
    free(fixture);
    return 0;
}

/* Asks for id and asserts the answer is expected_rc, with a message
 * containing hint. */
static void expect_reader(struct registry *registry, int id, int expected_rc, const char *hint)
{
    const struct codec_schema *schema = NULL;
    char errstr[1024] = "";
    int rc = registry_reader(registry, id, &schema, errstr, sizeof errstr);
    if (rc != expected_rc)
        fail_msg("schema id %d: expected %d, got %d (%s)", id, expected_rc, rc, errstr);
    if (hint)
        assert_contains(errstr, hint);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_known_id_fetched_once_then_cached(void **state)
{
    struct fixture *fixture = *state;
    const struct codec_schema *first = NULL, *again = NULL;
    char errstr[1024] = "";
    assert_int_equal(
        registry_reader(fixture->registry, ID_ADMISSION, &first, errstr, sizeof errstr), 0);
    assert_non_null(first);
    assert_string_equal(codec_schema_name(first), "uk.placehub.events.AdmissionEvent");
    assert_int_equal(server_requests(&fixture->server, ID_ADMISSION), 1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(
            registry_reader(fixture->registry, ID_ADMISSION, &again, errstr, sizeof errstr), 0);
        assert_ptr_equal(again, first);
    }
    assert_int_equal(server_requests(&fixture->server, ID_ADMISSION), 1);
    assert_int_equal(fixture->server.other_requests, 0); /* the path was /schemas/ids/1 */
}

static void test_unknown_id_is_no_such_schema(void **state)
{
    struct fixture *fixture = *state;
    expect_reader(fixture->registry, ID_UNKNOWN, -1, "no schema id 40");
    /* Not cached as missing either: asked again, the registry is asked again. */
    expect_reader(fixture->registry, ID_UNKNOWN, -1, "HTTP 404");
    assert_int_equal(server_requests(&fixture->server, ID_UNKNOWN), 2);
}

/* A 404 that is not the registry's "schema not found" (a wrong base path
 * behind a proxy) says nothing about the message: every message would
 * otherwise be dead-lettered for a configuration mistake. */
static void test_foreign_404_is_unavailable(void **state)
{
    struct fixture *fixture = *state;
    expect_reader(fixture->registry, ID_NOT_FOUND_HTML, REGISTRY_UNAVAILABLE, "404");
}

static void test_server_error_and_unauthorised_are_unavailable(void **state)
{
    struct fixture *fixture = *state;
    expect_reader(fixture->registry, ID_SERVER_ERROR, REGISTRY_UNAVAILABLE, "HTTP 500");
    expect_reader(fixture->registry, ID_UNAUTHORISED, REGISTRY_UNAVAILABLE, "HTTP 401");
    expect_reader(fixture->registry, ID_HANG_UP, REGISTRY_UNAVAILABLE, "schema registry");
    /* Asked again, asked again: a failure is not cached. */
    expect_reader(fixture->registry, ID_SERVER_ERROR, REGISTRY_UNAVAILABLE, "HTTP 500");
    assert_int_equal(server_requests(&fixture->server, ID_SERVER_ERROR), 2);
}

static void test_registry_down_is_unavailable(void **state)
{
    (void)state;
    /* A port bound but not listening: connections are refused at once. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in address;
    socklen_t len = sizeof address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &len), 0);
    struct config *config = NULL;
    struct registry *registry =
        registry_at(&config, "http://127.0.0.1:%d", ntohs(address.sin_port));
    int64_t start = clock_monotonic_ms();
    expect_reader(registry, ID_ADMISSION, REGISTRY_UNAVAILABLE, "schema registry http://127.0.0.1");
    assert_true(clock_monotonic_ms() - start < 1000);
    registry_destroy(registry);
    config_destroy(config);
    close(fd);
}

static void test_bad_answers_are_refused_clearly(void **state)
{
    struct fixture *fixture = *state;
    expect_reader(fixture->registry, ID_NOT_JSON, REGISTRY_UNAVAILABLE, "without JSON");
    expect_reader(fixture->registry, ID_NO_SCHEMA, REGISTRY_UNAVAILABLE,
                  "without a \"schema\" string");
    /* A schema the registry does hold, but that cannot be compiled, is the
     * message's fault: it was written with it. */
    expect_reader(fixture->registry, ID_BAD_SCHEMA, -1, "schema id 54");
}

struct reader_call {
    struct registry *registry;
    int id;
    int rc;
    const struct codec_schema *schema;
    char errstr[512];
};

static void *reader_thread(void *arg)
{
    struct reader_call *call = arg;
    call->rc =
        registry_reader(call->registry, call->id, &call->schema, call->errstr, sizeof call->errstr);
    return NULL;
}

static void test_two_threads_one_id_one_schema(void **state)
{
    struct fixture *fixture = *state;
    struct reader_call calls[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        memset(&calls[i], 0, sizeof calls[i]);
        calls[i].registry = fixture->registry;
        calls[i].id = ID_REFERRAL_PAIR;
        assert_int_equal(pthread_create(&threads[i], NULL, reader_thread, &calls[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        if (calls[i].rc != 0)
            fail_msg("thread %d: %d (%s)", i, calls[i].rc, calls[i].errstr);
    }
    assert_non_null(calls[0].schema);
    assert_ptr_equal(calls[0].schema, calls[1].schema);
    assert_string_equal(codec_schema_name(calls[0].schema), "uk.placehub.events.ReferralEvent");
    int fetched = server_requests(&fixture->server, ID_REFERRAL_PAIR);
    assert_true(fetched >= 1 && fetched <= 2);
    /* The schema kept is the one served from now on. */
    expect_reader(fixture->registry, ID_REFERRAL_PAIR, 0, NULL);
    const struct codec_schema *later = NULL;
    char errstr[256];
    assert_int_equal(
        registry_reader(fixture->registry, ID_REFERRAL_PAIR, &later, errstr, sizeof errstr), 0);
    assert_ptr_equal(later, calls[0].schema);
    assert_int_equal(server_requests(&fixture->server, ID_REFERRAL_PAIR), fetched);
}

static void test_cached_id_not_held_up_by_a_slow_fetch(void **state)
{
    struct fixture *fixture = *state;
    struct server *server = &fixture->server;
    expect_reader(fixture->registry, ID_ADMISSION, 0, NULL); /* now cached */

    struct reader_call slow;
    pthread_t thread;
    memset(&slow, 0, sizeof slow);
    slow.registry = fixture->registry;
    slow.id = ID_DISCHARGE_SLOW;
    assert_int_equal(pthread_create(&thread, NULL, reader_thread, &slow), 0);
    pthread_mutex_lock(&server->lock);
    int arrived = server_wait_locked(server, &server->requests[ID_DISCHARGE_SLOW], 1, 2000);
    pthread_mutex_unlock(&server->lock);
    assert_true(arrived);

    /* The slow answer is being held: the cached lookup must not wait for it. */
    int64_t start = clock_monotonic_ms();
    expect_reader(fixture->registry, ID_ADMISSION, 0, NULL);
    int64_t elapsed = clock_monotonic_ms() - start;

    pthread_mutex_lock(&server->lock);
    server->released = 1;
    pthread_cond_broadcast(&server->changed);
    pthread_mutex_unlock(&server->lock);
    pthread_join(thread, NULL);
    if (elapsed >= SLOW_MS / 5)
        fail_msg("a cached lookup took %lld ms during a slow fetch", (long long)elapsed);
    if (slow.rc != 0)
        fail_msg("slow fetch: %d (%s)", slow.rc, slow.errstr);
    assert_string_equal(codec_schema_name(slow.schema), "uk.placehub.events.DischargeEvent");
    assert_int_equal(server_requests(server, ID_ADMISSION), 1);
}

/* Embedded mode never asks anyone: ids come from the catalogue. */
static void test_embedded_mode_reads_the_catalogue(void **state)
{
    (void)state;
    static const char text[] = "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"
                               "schema_registry:\n  mode: embedded\n  schemas_dir: \"schemas\"\n"
                               "topics:\n  - name: admission\n";
    struct config *config = NULL;
    struct registry *registry = NULL;
    char errstr[1024] = "";
    assert_int_equal(
        config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr), 0);
    assert_int_equal(registry_new(config, &registry, errstr, sizeof errstr), 0);
    expect_reader(registry, ID_ADMISSION, 0, NULL);
    expect_reader(registry, ID_UNKNOWN, -1, "not in the catalogue");

    /* Producers write the latest version (admission version 2, id 5) unless
     * an event names an earlier one; every version stays readable by id. */
    const struct catalogue_entry *writer = NULL;
    int id = 0;
    assert_int_equal(
        registry_writer(registry, "admission", -1, &writer, &id, errstr, sizeof errstr), 0);
    assert_int_equal(writer->version, 2);
    assert_int_equal(id, 5);
    assert_ptr_equal(writer, catalogue_latest_for_topic(registry_catalogue(registry), "admission"));
    expect_reader(registry, id, 0, NULL);
    assert_int_equal(registry_writer(registry, "admission", 1, &writer, &id, errstr, sizeof errstr),
                     0);
    assert_int_equal(writer->version, 1);
    assert_int_equal(id, 1);
    assert_int_equal(registry_writer(registry, "admission", 3, &writer, &id, errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "no version 3 of topic 'admission'");
    registry_destroy(registry);
    config_destroy(config);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_id_fetched_once_then_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_id_is_no_such_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_404_is_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_error_and_unauthorised_are_unavailable, setup,
                                        teardown),
        cmocka_unit_test(test_registry_down_is_unavailable),
        cmocka_unit_test_setup_teardown(test_bad_answers_are_refused_clearly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_threads_one_id_one_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_id_not_held_up_by_a_slow_fetch, setup,
                                        teardown),
        cmocka_unit_test(test_embedded_mode_reads_the_catalogue),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
