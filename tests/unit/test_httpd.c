/*
 * test_httpd.c - the HTTP server of lib/net/httpd.h, started here on a
 * loopback port it picks, with real requests made with libcurl.
 *
 * What the header promises: the handler sees the method, the path without
 * the query string, the whole body (NUL-terminated, "" when none), request
 * headers and query arguments; bodies over the limit are answered 413 (with
 * Content-Length or chunked) without calling the handler; X-Request-Id is
 * the client's when sane, else a new UUID, and is echoed on every response,
 * the 413 included; JSON, error, text and streamed bodies with their content
 * types; extra headers up to 8; a status left untouched or out of range is
 * a 500; a streamed body ends cleanly or is cut short, and its context is
 * freed once in every case; a handler that blocks holds up no one else; an
 * address in use or a malformed one is refused with a message.
 *
 * A handler may answer 415 by reading Content-Type (as ingest does): the
 * route /v1/events here does that, to show header lookup and the JSON error
 * body together. httpd itself has no media type rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "core/clock.h"
#include "net/httpd.h"

#define MAX_BODY 1024

struct server {
    struct httpd *httpd;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int handler_calls;
    int blocked;      /* a handler is waiting in /block */
    int released;     /* /block may return */
    int stream_frees; /* stream contexts freed */
};

/* ---- the handler ---------------------------------------------------------- */

struct stream_context {
    struct server *server;
    int pieces; /* still to send */
    int abort;  /* abort instead of ending */
};

static long stream_piece(void *context, char *buffer, size_t size)
{
    struct stream_context *stream = context;
    if (stream->pieces == 0)
        return stream->abort ? HTTPD_STREAM_ABORT : HTTPD_STREAM_END;
    int n = snprintf(buffer, size, "piece %d;", stream->pieces--);
    return n > 0 && (size_t)n < size ? n : HTTPD_STREAM_ABORT;
}

static void stream_free(void *context)
{
    struct stream_context *stream = context;
    pthread_mutex_lock(&stream->server->lock);
    stream->server->stream_frees++;
    pthread_cond_broadcast(&stream->server->changed);
    pthread_mutex_unlock(&stream->server->lock);
    free(stream);
}

static struct stream_context *stream_new(struct server *server, int pieces, int abort)
{
    struct stream_context *stream = calloc(1, sizeof *stream);
    stream->server = server;
    stream->pieces = pieces;
    stream->abort = abort;
    return stream;
}

/* Waits until *value reaches at_least or ms pass; caller holds the lock. */
static int server_wait_locked(struct server *server, const int *value, int at_least, int ms)
{
    return support_wait_locked(&server->changed, &server->lock, value, at_least, ms);
}

static int server_wait(struct server *server, const int *value, int at_least, int ms)
{
    pthread_mutex_lock(&server->lock);
    int reached = server_wait_locked(server, value, at_least, ms);
    pthread_mutex_unlock(&server->lock);
    return reached;
}

static void handle(void *context, const struct httpd_request *request,
                   struct httpd_response *response)
{
    struct server *server = context;
    pthread_mutex_lock(&server->lock);
    server->handler_calls++;
    pthread_mutex_unlock(&server->lock);

    if (strcmp(request->path, "/echo") == 0) {
        const char *query = httpd_request_query(request, "q");
        const char *partner = httpd_request_header(request, "x-partner"); /* any case */
        json_t *echo =
            json_pack("{s:s, s:s, s:s%, s:I, s:b, s:s, s:s?, s:s?, s:b}", "method", request->method,
                      "path", request->path, "body", request->body, request->body_len, "body_len",
                      (json_int_t)request->body_len, "terminated",
                      request->body[request->body_len] == '\0', "request_id", request->request_id,
                      "q", query, "partner", partner, "loopback", httpd_request_loopback(request));
        httpd_response_json(response, 200, echo);
    } else if (strcmp(request->path, "/v1/events") == 0) {
        const char *type = httpd_request_header(request, "Content-Type");
        if (!type || strncmp(type, "application/json", 16) != 0)
            httpd_response_error(response, 415, "unsupported_media_type", "Content-Type",
                                 "send application/json, not %s", type ? type : "nothing");
        else
            httpd_response_json(response, 202, json_pack("{s:s}", "accepted", "yes"));
    } else if (strcmp(request->path, "/error") == 0) {
        httpd_response_error(response, 409, "conflict", NULL, "already %d", 7);
    } else if (strcmp(request->path, "/text") == 0) {
        httpd_response_text(response, 200, "text/plain; charset=utf-8", "line one\nline two", 17);
    } else if (strcmp(request->path, "/headers") == 0) {
        char name[32], value[32];
        httpd_response_text(response, 204, "", "", 0);
        for (int i = 1; i <= 9; i++) {
            snprintf(name, sizeof name, "X-Extra-%d", i);
            snprintf(value, sizeof value, "value-%d", i);
            httpd_response_header(response, name, value);
        }
    } else if (strcmp(request->path, "/untouched") == 0) {
        /* nothing: 500, empty */
    } else if (strcmp(request->path, "/bad-status") == 0) {
        httpd_response_text(response, 42, "text/plain", "odd", 3);
    } else if (strcmp(request->path, "/stream") == 0) {
        httpd_response_stream(response, 200, "application/x-ndjson", stream_piece,
                              stream_new(server, 3, 0), stream_free);
    } else if (strcmp(request->path, "/stream-abort") == 0) {
        httpd_response_stream(response, 200, "text/plain", stream_piece, stream_new(server, 1, 1),
                              stream_free);
    } else if (strcmp(request->path, "/stream-replaced") == 0) {
        /* Changes its mind: the stream never starts, its context is freed. */
        httpd_response_stream(response, 200, "text/plain", stream_piece, stream_new(server, 1, 0),
                              stream_free);
        httpd_response_json(response, 200, json_pack("{s:b}", "replaced", 1));
    } else if (strcmp(request->path, "/block") == 0) {
        pthread_mutex_lock(&server->lock);
        server->blocked = 1;
        pthread_cond_broadcast(&server->changed);
        server_wait_locked(server, &server->released, 1, 2000);
        pthread_mutex_unlock(&server->lock);
        httpd_response_text(response, 200, "text/plain", "unblocked", 9);
    } else {
        httpd_response_error(response, 404, "not_found", "path", "no route for %s %s",
                             request->method, request->path);
    }
}

/* ---- the client ------------------------------------------------------------- */

struct answer {
    CURLcode code;
    long status;
    char body[8192];
    size_t body_len;
    char request_id[128];
    char content_type[128];
    char headers[4096]; /* all response header lines */
    size_t headers_len;
};

static size_t answer_body(char *data, size_t size, size_t count, void *user)
{
    struct answer *answer = user;
    size_t n = size * count;
    size_t room = sizeof answer->body - 1 - answer->body_len;
    size_t kept = n < room ? n : room;
    memcpy(answer->body + answer->body_len, data, kept);
    answer->body_len += kept;
    answer->body[answer->body_len] = '\0';
    return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t size)
{
    size_t name_len = strlen(name);
    if (n <= name_len + 1 || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
        return;
    const char *value = line + name_len + 1;
    size_t len = n - name_len - 1;
    while (len && (*value == ' ')) {
        value++;
        len--;
    }
    while (len && (value[len - 1] == '\r' || value[len - 1] == '\n'))
        len--;
    snprintf(out, size, "%.*s", (int)len, value);
}

static size_t answer_header(char *data, size_t size, size_t count, void *user)
{
    struct answer *answer = user;
    size_t n = size * count;
    header_value(data, n, "X-Request-Id", answer->request_id, sizeof answer->request_id);
    header_value(data, n, "Content-Type", answer->content_type, sizeof answer->content_type);
    size_t room = sizeof answer->headers - 1 - answer->headers_len;
    size_t kept = n < room ? n : room;
    memcpy(answer->headers + answer->headers_len, data, kept);
    answer->headers_len += kept;
    answer->headers[answer->headers_len] = '\0';
    return n;
}

struct upload {
    const char *data;
    size_t len, sent;
};

static size_t upload_read(char *buffer, size_t size, size_t count, void *user)
{
    struct upload *upload = user;
    size_t n = size * count;
    if (n > 100)
        n = 100; /* several chunks */
    if (n > upload->len - upload->sent)
        n = upload->len - upload->sent;
    memcpy(buffer, upload->data + upload->sent, n);
    upload->sent += n;
    return n;
}

/* One request. body NULL: none; chunked: sent with Transfer-Encoding:
 * chunked instead of a Content-Length. header_lines NULL-terminated. */
static void request(const struct server *server, const char *method, const char *path,
                    const char *body, size_t body_len, int chunked, const char *const *header_lines,
                    struct answer *answer)
{
    char url[512];
    struct curl_slist *headers = NULL;
    struct upload upload = {body, body_len, 0};
    memset(answer, 0, sizeof *answer);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", server->port, path);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    for (size_t i = 0; header_lines && header_lines[i]; i++)
        headers = curl_slist_append(headers, header_lines[i]);
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    if (body && chunked) {
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    } else if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, answer_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, answer_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, answer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    answer->code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

static void get(const struct server *server, const char *path, struct answer *answer)
{
    request(server, "GET", path, NULL, 0, 0, NULL, answer);
    if (answer->code != CURLE_OK)
        fail_msg("GET %s: %s", path, curl_easy_strerror(answer->code));
}

static json_t *answer_json(const struct answer *answer)
{
    assert_string_equal(answer->content_type, "application/json");
    return support_json(answer->body);
}

static int handler_calls(struct server *server)
{
    pthread_mutex_lock(&server->lock);
    int calls = server->handler_calls;
    pthread_mutex_unlock(&server->lock);
    return calls;
}

/* A UUID as uuid_unparse_lower writes it. */
static void assert_uuid(const char *text)
{
    if (strlen(text) != 36 || strspn(text, "0123456789abcdef-") != 36 || text[8] != '-' ||
        text[13] != '-' || text[18] != '-' || text[23] != '-')
        fail_msg("\"%s\" is not a UUID", text);
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state)
{
    struct server *server = calloc(1, sizeof *server);
    char errstr[512] = "";
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->changed, NULL);
    server->httpd = httpd_new("127.0.0.1:0", MAX_BODY, handle, server, errstr, sizeof errstr);
    if (!server->httpd)
        fail_msg("httpd_new: %s", errstr);
    server->port = httpd_port(server->httpd);
    assert_true(server->port > 0);
    *state = server;
    return 0;
}

static int teardown(void **state)
{
    struct server *server = *state;
    pthread_mutex_lock(&server->lock);
    server->released = 1;
    pthread_cond_broadcast(&server->changed);
    pthread_mutex_unlock(&server->lock);
    httpd_destroy(server->httpd);
    pthread_cond_destroy(&server->changed);
    pthread_mutex_destroy(&server->lock);
    free(server);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_request_reaches_the_handler(void **state)
{
    struct server *server = *state;
    struct answer answer;
    static const char *const headers[] = {"X-PARTNER: test-gp", NULL};
    request(server, "POST", "/echo?q=a%20b&other=1", "{\"n\":1}", 7, 0, headers, &answer);
    assert_int_equal(answer.code, CURLE_OK);
    assert_int_equal(answer.status, 200);
    json_t *echo = answer_json(&answer);
    json_t *expected =
        support_json("{\"method\":\"POST\",\"path\":\"/echo\",\"body\":\"{\\\"n\\\":1}\","
                     "\"body_len\":7,\"terminated\":true,\"q\":\"a b\","
                     "\"partner\":\"test-gp\",\"loopback\":true}");
    json_object_set(expected, "request_id", json_object_get(echo, "request_id"));
    assert_json_equal(echo, expected);
    json_decref(expected);
    json_decref(echo);

    /* No body: "" and 0. */
    get(server, "/echo", &answer);
    echo = answer_json(&answer);
    assert_string_equal(json_string_value(json_object_get(echo, "body")), "");
    assert_int_equal(json_integer_value(json_object_get(echo, "body_len")), 0);
    assert_true(json_is_null(json_object_get(echo, "q")) || !json_object_get(echo, "q"));
    json_decref(echo);
    /* No connection: not known to be loopback. */
    assert_false(httpd_request_loopback(NULL));
}

static void test_routing_and_json_errors(void **state)
{
    struct server *server = *state;
    struct answer answer;
    request(server, "DELETE", "/nowhere", NULL, 0, 0, NULL, &answer);
    assert_int_equal(answer.status, 404);
    json_t *body = answer_json(&answer);
    json_t *expected = support_json("{\"error\":{\"code\":\"not_found\",\"field\":\"path\","
                                    "\"message\":\"no route for DELETE /nowhere\"}}");
    assert_json_equal(body, expected);
    json_decref(expected);
    json_decref(body);

    /* Without a field, there is no "field". */
    get(server, "/error", &answer);
    assert_int_equal(answer.status, 409);
    body = answer_json(&answer);
    expected = support_json("{\"error\":{\"code\":\"conflict\",\"message\":\"already 7\"}}");
    assert_json_equal(body, expected);
    json_decref(expected);
    json_decref(body);
}

static void test_content_type_checked_by_a_handler(void **state)
{
    struct server *server = *state;
    struct answer answer;
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    static const char *const json[] = {"Content-Type: application/json; charset=utf-8", NULL};
    request(server, "POST", "/v1/events", "{}", 2, 0, text, &answer);
    assert_int_equal(answer.status, 415);
    json_t *body = answer_json(&answer);
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
                        "unsupported_media_type");
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "error"), "field")),
                        "Content-Type");
    assert_contains(json_string_value(json_object_get(json_object_get(body, "error"), "message")),
                    "not text/plain");
    json_decref(body);
    request(server, "POST", "/v1/events", "{}", 2, 0, json, &answer);
    assert_int_equal(answer.status, 202);
}

static void test_body_at_the_limit_is_taken(void **state)
{
    struct server *server = *state;
    struct answer answer;
    char *body = malloc(MAX_BODY);
    memset(body, 'a', MAX_BODY);
    for (int chunked = 0; chunked <= 1; chunked++) {
        request(server, "POST", "/echo", body, MAX_BODY, chunked, NULL, &answer);
        assert_int_equal(answer.code, CURLE_OK);
        assert_int_equal(answer.status, 200);
        json_t *echo = answer_json(&answer);
        assert_int_equal(json_integer_value(json_object_get(echo, "body_len")), MAX_BODY);
        assert_true(json_is_true(json_object_get(echo, "terminated")));
        json_decref(echo);
    }
    free(body);
}

static void test_body_over_the_limit_is_413(void **state)
{
    struct server *server = *state;
    struct answer answer;
    static const char *const id[] = {"X-Request-Id: too-large-1", NULL};
    char *body = malloc(4 * MAX_BODY);
    memset(body, 'b', 4 * MAX_BODY);
    int before = handler_calls(server);
    /* Announced by Content-Length (answered before the body is read), and
     * found while reading a chunked body (answered at its end). */
    const size_t sizes[] = {MAX_BODY + 1, 4 * MAX_BODY};
    for (int chunked = 0; chunked <= 1; chunked++)
        for (size_t i = 0; i < 2; i++) {
            request(server, "POST", "/echo", body, sizes[i], chunked, id, &answer);
            if (answer.code != CURLE_OK)
                fail_msg("%zu bytes, chunked %d: %s", sizes[i], chunked,
                         curl_easy_strerror(answer.code));
            assert_int_equal(answer.status, 413);
            assert_string_equal(answer.request_id, "too-large-1");
            json_t *error = answer_json(&answer);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(error, "error"), "code")),
                "body_too_large");
            assert_contains(
                json_string_value(json_object_get(json_object_get(error, "error"), "message")),
                "1024 bytes");
            json_decref(error);
        }
    assert_int_equal(handler_calls(server), before);
    free(body);
    /* The server still serves. */
    get(server, "/echo", &answer);
    assert_int_equal(answer.status, 200);
}

static void test_request_id(void **state)
{
    struct server *server = *state;
    struct answer answer;
    char long_id[HTTPD_REQUEST_ID_MAX + 2];
    memset(long_id, 'r', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    char header[128];

    /* A sane one is echoed and is the handler's. */
    static const char *const sane[] = {"X-Request-Id: Abc-123_x.y", NULL};
    request(server, "GET", "/echo", NULL, 0, 0, sane, &answer);
    assert_string_equal(answer.request_id, "Abc-123_x.y");
    json_t *echo = answer_json(&answer);
    assert_string_equal(json_string_value(json_object_get(echo, "request_id")), "Abc-123_x.y");
    json_decref(echo);

    /* 64 characters is sane, 65 is not. */
    snprintf(header, sizeof header, "X-Request-Id: %.*s", HTTPD_REQUEST_ID_MAX, long_id);
    const char *const longest[] = {header, NULL};
    request(server, "GET", "/echo", NULL, 0, 0, longest, &answer);
    assert_int_equal(strlen(answer.request_id), HTTPD_REQUEST_ID_MAX);

    /* Absent, too long, or with other characters: a new UUID each time. */
    char previous[128] = "";
    snprintf(header, sizeof header, "X-Request-Id: %s", long_id);
    const char *const too_long[] = {header, NULL};
    static const char *const spaces[] = {"X-Request-Id: two words", NULL};
    static const char *const slashes[] = {"X-Request-Id: a/b", NULL};
    const char *const *cases[] = {NULL, too_long, spaces, slashes};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request(server, "GET", "/echo", NULL, 0, 0, cases[i], &answer);
        assert_int_equal(answer.code, CURLE_OK);
        assert_uuid(answer.request_id);
        assert_string_not_equal(answer.request_id, previous);
        echo = answer_json(&answer);
        assert_string_equal(json_string_value(json_object_get(echo, "request_id")),
                            answer.request_id);
        json_decref(echo);
        snprintf(previous, sizeof previous, "%s", answer.request_id);
    }

    /* On every kind of response. */
    get(server, "/text", &answer);
    assert_uuid(answer.request_id);
    get(server, "/stream", &answer);
    assert_uuid(answer.request_id);
}

static void test_text_headers_and_defaults(void **state)
{
    struct server *server = *state;
    struct answer answer;
    get(server, "/text", &answer);
    assert_int_equal(answer.status, 200);
    assert_string_equal(answer.content_type, "text/plain; charset=utf-8");
    assert_string_equal(answer.body, "line one\nline two");

    get(server, "/headers", &answer);
    assert_int_equal(answer.status, 204);
    for (int i = 1; i <= 8; i++) {
        char line[64];
        snprintf(line, sizeof line, "X-Extra-%d: value-%d\r\n", i, i);
        assert_contains(answer.headers, line);
    }
    assert_not_contains(answer.headers, "X-Extra-9");

    /* A handler that sets nothing answers 500 with an empty body. */
    get(server, "/untouched", &answer);
    assert_int_equal(answer.status, 500);
    assert_int_equal(answer.body_len, 0);
    /* A status out of range is a 500. */
    get(server, "/bad-status", &answer);
    assert_int_equal(answer.status, 500);
}

static void test_streamed_bodies(void **state)
{
    struct server *server = *state;
    struct answer answer;
    get(server, "/stream", &answer);
    assert_int_equal(answer.status, 200);
    assert_string_equal(answer.content_type, "application/x-ndjson");
    assert_string_equal(answer.body, "piece 3;piece 2;piece 1;");
    assert_contains(answer.headers, "chunked");
    assert_true(server_wait(server, &server->stream_frees, 1, 2000));

    /* Cut short: the client sees an incomplete body, not a clean end. */
    request(server, "GET", "/stream-abort", NULL, 0, 0, NULL, &answer);
    assert_int_not_equal(answer.code, CURLE_OK);
    assert_true(server_wait(server, &server->stream_frees, 2, 2000));

    /* Replaced before it started: freed all the same. */
    get(server, "/stream-replaced", &answer);
    assert_string_equal(answer.body, "{\"replaced\":true}");
    assert_true(server_wait(server, &server->stream_frees, 3, 2000));
    pthread_mutex_lock(&server->lock);
    assert_int_equal(server->stream_frees, 3); /* once each */
    pthread_mutex_unlock(&server->lock);
}

struct blocked_call {
    struct server *server;
    struct answer answer;
};

static void *blocked_request(void *arg)
{
    struct blocked_call *call = arg;
    request(call->server, "GET", "/block", NULL, 0, 0, NULL, &call->answer);
    return NULL;
}

static void test_a_blocked_handler_holds_up_no_one(void **state)
{
    struct server *server = *state;
    struct blocked_call *call = calloc(1, sizeof *call);
    pthread_t thread;
    call->server = server;
    assert_int_equal(pthread_create(&thread, NULL, blocked_request, call), 0);
    assert_true(server_wait(server, &server->blocked, 1, 2000));

    struct answer answer;
    int64_t start = clock_monotonic_ms();
    get(server, "/echo", &answer);
    int64_t elapsed = clock_monotonic_ms() - start;

    pthread_mutex_lock(&server->lock);
    server->released = 1;
    pthread_cond_broadcast(&server->changed);
    pthread_mutex_unlock(&server->lock);
    pthread_join(thread, NULL);
    assert_int_equal(answer.status, 200);
    if (elapsed > 500)
        fail_msg("a request took %lld ms while another handler blocked", (long long)elapsed);
    assert_int_equal(call->answer.code, CURLE_OK);
    assert_string_equal(call->answer.body, "unblocked");
    free(call);
}

static void test_listen_errors(void **state)
{
    struct server *server = *state;
    char listen[64], errstr[512] = "";
    snprintf(listen, sizeof listen, "127.0.0.1:%d", server->port);
    struct httpd *second = httpd_new(listen, MAX_BODY, handle, server, errstr, sizeof errstr);
    assert_null(second);
    assert_contains(errstr, "cannot listen on");
    assert_contains(errstr, listen);

    static const char *const bad[] = {"",           "8080", ":8080", "[::1]:80", "127.0.0.1:65536",
                                      "127.0.0.1:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errstr[0] = '\0';
        assert_null(httpd_new(bad[i], MAX_BODY, handle, server, errstr, sizeof errstr));
        if (!errstr[0])
            fail_msg("\"%s\" refused without a message", bad[i]);
    }
    errstr[0] = '\0';
    assert_null(httpd_new("127.0.0.1:0", MAX_BODY, NULL, server, errstr, sizeof errstr));
    assert_contains(errstr, "no handler");
}

static void test_parse_listen_and_request_id_valid(void **state)
{
    (void)state;
    char host[64], errstr[256];
    int port = -1;
    assert_int_equal(
        httpd_parse_listen("0.0.0.0:9101", host, sizeof host, &port, errstr, sizeof errstr), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 9101);
    assert_int_equal(
        httpd_parse_listen("localhost:0", host, sizeof host, &port, errstr, sizeof errstr), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 0);
    assert_int_equal(
        httpd_parse_listen("127.0.0.1:", host, sizeof host, &port, errstr, sizeof errstr), -1);
    assert_contains(errstr, "port must be a number");
    assert_int_equal(httpd_parse_listen("[::]:80", host, sizeof host, &port, errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "IPv6");
    assert_int_equal(
        httpd_parse_listen("a-rather-long-host-name:80", host, 8, &port, errstr, sizeof errstr),
        -1);
    assert_contains(errstr, "too long");

    assert_true(httpd_request_id_valid("a"));
    assert_true(httpd_request_id_valid("A.b_c-9"));
    assert_false(httpd_request_id_valid(""));
    assert_false(httpd_request_id_valid(NULL));
    assert_false(httpd_request_id_valid("a b"));
    assert_false(httpd_request_id_valid("a\r\nX-Injected: 1"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_reaches_the_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_and_json_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_type_checked_by_a_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_at_the_limit_is_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_over_the_limit_is_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_headers_and_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_blocked_handler_holds_up_no_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_errors, setup, teardown),
        cmocka_unit_test(test_parse_listen_and_request_id_valid),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
