/*
 * test_auth.c - authentication to partners (lib/delivery/auth.c).
 *
 * Without a network: option parsing, refusal of inline secrets (without
 * repeating them), secrets from the environment and from files resolved at
 * creation, header formats, stray and missing options.
 *
 * Against two placehub-partner-sim processes started here on loopback ports
 * they pick (the build's own binary, found beside this test's folder):
 * "issuer" runs the real token endpoint (--oauth-client) and refuses partner
 * requests without a token (--require-auth); "scripted" answers the token
 * requests from its behaviour queue, which lets a test hand back any answer
 * (short lifetimes, malformed bodies, errors, delays) and read back exactly
 * what auth.c sent. Checked: fetching, caching, the background refresh
 * before expiry while auth_header_now answers from the old token, a slow
 * endpoint (AUTH_PENDING, then the notify function), a failed refresh while
 * the token still lives (warning logged), invalidation after a 401 (a fetch
 * at once), destroy during a slow fetch, endpoint down, wrong secret, a
 * capped answer, a timeout, and several threads at once costing one fetch.
 * Waits are on the notify function's count (a condition variable), never
 * a sleep standing in for one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <curl/curl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "delivery/auth.h"
#include "core/log.h"

#define CLIENT_ID "test-client"
/* Characters that need form-encoding, to check auth.c encodes them. */
#define CLIENT_SECRET "s3:cret &=%+"
#define SECRET_VARIABLE "PLACEHUB_TEST_AUTH_CLIENT_SECRET"

/* ---- options ------------------------------------------------------------ */

/* Options from a NULL-terminated list of key, value, key, value... */
static const char *test_option_get(const struct placehub_options *options, const char *key)
{
    const char *const *pairs = options->opaque;
    for (size_t i = 0; pairs[i]; i += 2)
        if (strcmp(pairs[i], key) == 0)
            return pairs[i + 1];
    return NULL;
}

static struct auth *new_ok(const char *const *pairs)
{
    struct placehub_options options = {.opaque = pairs, .get = test_option_get};
    struct auth *auth = NULL;
    char errstr[1024] = "";
    if (auth_new("test-partner", &options, &auth, errstr, sizeof errstr) != 0)
        fail_msg("refused: %s", errstr);
    assert_non_null(auth);
    return auth;
}

/* Asserts the options are refused with a message naming the partner and
 * containing hint; the message is left in errstr. */
static void expect_refused(const char *const *pairs, const char *hint, char *errstr, size_t size)
{
    struct placehub_options options = {.opaque = pairs, .get = test_option_get};
    struct auth *auth = (struct auth *)&options; /* must be reset to NULL */
    errstr[0] = '\0';
    if (auth_new("test-partner", &options, &auth, errstr, size) != -1)
        fail_msg("accepted (expected \"%s\")", hint);
    assert_null(auth);
    assert_contains(errstr, "test-partner");
    assert_contains(errstr, hint);
}

static void expect_header(struct auth *auth, const char *expected)
{
    char header[AUTH_HEADER_MAX];
    char errstr[1024] = "";
    if (auth_header(auth, header, sizeof header, errstr, sizeof errstr) != 0)
        fail_msg("auth_header failed: %s", errstr);
    assert_string_equal(header, expected);
}

/* A file in a fresh folder holding text; path receives its name. */
static void write_temporary(const char *text, char *path, size_t size)
{
    char folder[] = "/tmp/placehub-test-auth-XXXXXX";
    assert_non_null(mkdtemp(folder));
    snprintf(path, size, "%s/secret", folder);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static void remove_temporary(const char *path)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", path);
    unlink(path);
    rmdir(dirname(copy));
}

static void test_none_by_default(void **state)
{
    (void)state;
    static const char *const empty[] = {NULL};
    static const char *const none[] = {"auth", "none", "url", "https://partner.example", NULL};
    struct auth *auth = new_ok(empty);
    expect_header(auth, "");
    auth_invalidate(auth); /* nothing to forget: harmless */
    expect_header(auth, "");
    auth_destroy(auth);
    auth = new_ok(none);
    expect_header(auth, "");
    auth_destroy(auth);
    auth_destroy(NULL);
}

static void test_unknown_kind_refused(void **state)
{
    (void)state;
    char errstr[512];
    static const char *const basic[] = {"auth", "basic", NULL};
    expect_refused(basic, "options.auth must be none, bearer, api_key, oauth2 or mtls", errstr,
                   sizeof errstr);
}

static void test_bearer_from_environment(void **state)
{
    (void)state;
    static const char *const options[] = {"auth", "bearer", "auth_token",
                                          "env:PLACEHUB_TEST_AUTH_TOKEN", NULL};
    setenv("PLACEHUB_TEST_AUTH_TOKEN", "eyJ.abc-DEF_123~+/=", 1);
    struct auth *auth = new_ok(options);
    /* Resolved at creation: a later change of the variable does not matter. */
    unsetenv("PLACEHUB_TEST_AUTH_TOKEN");
    expect_header(auth, "Authorization: Bearer eyJ.abc-DEF_123~+/=");
    auth_invalidate(auth); /* static credentials stay */
    expect_header(auth, "Authorization: Bearer eyJ.abc-DEF_123~+/=");
    auth_destroy(auth);
}

static void test_bearer_from_file(void **state)
{
    (void)state;
    char path[512], reference[600];
    write_temporary("token-from-file\r\nsecond line ignored\n", path, sizeof path);
    snprintf(reference, sizeof reference, "file:%s", path);
    const char *const options[] = {"auth", "bearer", "auth_token", reference, NULL};
    struct auth *auth = new_ok(options);
    expect_header(auth, "Authorization: Bearer token-from-file");
    auth_destroy(auth);
    remove_temporary(path);
}

static void test_api_key_headers(void **state)
{
    (void)state;
    char errstr[512];
    setenv("PLACEHUB_TEST_AUTH_KEY", "k-123456", 1);
    static const char *const plain[] = {"auth", "api_key", "auth_api_key",
                                        "env:PLACEHUB_TEST_AUTH_KEY", NULL};
    static const char *const named[] = {"auth",
                                        "api_key",
                                        "auth_api_key",
                                        "env:PLACEHUB_TEST_AUTH_KEY",
                                        "auth_api_key_header",
                                        "Ocp-Apim-Subscription-Key",
                                        NULL};
    static const char *const bad_name[] = {"auth",
                                           "api_key",
                                           "auth_api_key",
                                           "env:PLACEHUB_TEST_AUTH_KEY",
                                           "auth_api_key_header",
                                           "X-Key: evil",
                                           NULL};
    struct auth *auth = new_ok(plain);
    expect_header(auth, "X-API-Key: k-123456");
    auth_destroy(auth);
    auth = new_ok(named);
    expect_header(auth, "Ocp-Apim-Subscription-Key: k-123456");
    auth_destroy(auth);
    expect_refused(bad_name, "options.auth_api_key_header is not a valid header name", errstr,
                   sizeof errstr);
    unsetenv("PLACEHUB_TEST_AUTH_KEY");
}

/* A value that is not env: or file: may be the secret itself: refused, and
 * never repeated in the message, which ends up in logs. */
static void test_inline_secrets_refused(void **state)
{
    (void)state;
    char errstr[512];
    static const char *const bearer[] = {"auth", "bearer", "auth_token", "hunter2-inline", NULL};
    static const char *const api_key[] = {"auth", "api_key", "auth_api_key", "hunter2-inline",
                                          NULL};
    static const char *const oauth2[] = {"auth",
                                         "oauth2",
                                         "auth_oauth2_token_url",
                                         "https://login.example/token",
                                         "auth_oauth2_client_id",
                                         "placehub",
                                         "auth_oauth2_client_secret",
                                         "hunter2-inline",
                                         NULL};
    expect_refused(bearer, "options.auth_token must name the secret as env:VARIABLE or file:/path",
                   errstr, sizeof errstr);
    assert_not_contains(errstr, "hunter2");
    expect_refused(api_key, "options.auth_api_key must name", errstr, sizeof errstr);
    assert_not_contains(errstr, "hunter2");
    expect_refused(oauth2, "options.auth_oauth2_client_secret must name", errstr, sizeof errstr);
    assert_not_contains(errstr, "hunter2");
}

/* A missing variable or file stops the program at start-up, not at the
 * first delivery. */
static void test_missing_secrets_fail_at_creation(void **state)
{
    (void)state;
    char errstr[512], path[512], reference[600];
    unsetenv("PLACEHUB_TEST_AUTH_UNSET");
    static const char *const unset[] = {"auth", "bearer", "auth_token",
                                        "env:PLACEHUB_TEST_AUTH_UNSET", NULL};
    expect_refused(unset, "options.auth_token", errstr, sizeof errstr);
    assert_contains(errstr, "PLACEHUB_TEST_AUTH_UNSET");
    assert_contains(errstr, "not set");

    static const char *const no_file[] = {"auth", "bearer", "auth_token",
                                          "file:/nonexistent/placehub/token", NULL};
    expect_refused(no_file, "options.auth_token", errstr, sizeof errstr);
    assert_contains(errstr, "No such file");

    write_temporary("\n", path, sizeof path);
    snprintf(reference, sizeof reference, "file:%s", path);
    const char *const empty[] = {"auth", "bearer", "auth_token", reference, NULL};
    expect_refused(empty, "is empty", errstr, sizeof errstr);
    remove_temporary(path);

    static const char *const absent[] = {"auth", "bearer", NULL};
    expect_refused(absent, "auth: bearer needs options.auth_token", errstr, sizeof errstr);
}

/* A secret that would end the header line early could smuggle in headers. */
static void test_secret_unsafe_in_header_refused(void **state)
{
    (void)state;
    char errstr[512];
    setenv("PLACEHUB_TEST_AUTH_TOKEN", "abc\r\nX-Evil: 1", 1);
    static const char *const options[] = {"auth", "bearer", "auth_token",
                                          "env:PLACEHUB_TEST_AUTH_TOKEN", NULL};
    expect_refused(options, "cannot stand in an HTTP header", errstr, sizeof errstr);
    assert_not_contains(errstr, "Evil");
    unsetenv("PLACEHUB_TEST_AUTH_TOKEN");
}

static void test_stray_options_refused(void **state)
{
    (void)state;
    char errstr[512];
    setenv("PLACEHUB_TEST_AUTH_TOKEN", "t", 1);
    static const char *const mixed[] = {"auth",
                                        "bearer",
                                        "auth_token",
                                        "env:PLACEHUB_TEST_AUTH_TOKEN",
                                        "auth_api_key",
                                        "env:PLACEHUB_TEST_AUTH_TOKEN",
                                        NULL};
    expect_refused(mixed, "options.auth_api_key does not apply to auth: bearer", errstr,
                   sizeof errstr);
    static const char *const forgotten[] = {"auth_token", "env:PLACEHUB_TEST_AUTH_TOKEN", NULL};
    expect_refused(forgotten, "options.auth_token does not apply to auth: none (set auth: bearer",
                   errstr, sizeof errstr);
    unsetenv("PLACEHUB_TEST_AUTH_TOKEN");
}

static void test_mtls_needs_certificate(void **state)
{
    (void)state;
    char errstr[512], path[512];
    static const char *const missing[] = {"auth", "mtls", NULL};
    expect_refused(missing, "auth: mtls needs options.tls_client_cert and options.tls_client_key",
                   errstr, sizeof errstr);
    write_temporary("-----BEGIN CERTIFICATE-----\n", path, sizeof path);
    const char *const unreadable[] = {"auth", "mtls",           "tls_client_cert",
                                      path,   "tls_client_key", "/nonexistent/placehub/client.key",
                                      NULL};
    expect_refused(unreadable, "options.tls_client_key /nonexistent/placehub/client.key", errstr,
                   sizeof errstr);
    const char *const both[] = {"auth", "mtls", "tls_client_cert", path, "tls_client_key",
                                path,   NULL};
    struct auth *auth = new_ok(both);
    expect_header(auth, ""); /* the certificate is the transport's (lib/delivery/transfer.c) */
    auth_destroy(auth);
    remove_temporary(path);
}

static void test_header_buffer_too_small(void **state)
{
    (void)state;
    char header[16], errstr[256] = "";
    setenv("PLACEHUB_TEST_AUTH_TOKEN", "a-token-longer-than-the-buffer", 1);
    static const char *const options[] = {"auth", "bearer", "auth_token",
                                          "env:PLACEHUB_TEST_AUTH_TOKEN", NULL};
    struct auth *auth = new_ok(options);
    assert_int_equal(auth_header(auth, header, sizeof header, errstr, sizeof errstr), -1);
    assert_contains(errstr, "too small");
    assert_not_contains(errstr, "a-token");
    auth_destroy(auth);
    unsetenv("PLACEHUB_TEST_AUTH_TOKEN");
}

/* Builds oauth2 options for token_url into pairs (room for 24 entries);
 * extra is a NULL-terminated list of more pairs, or NULL. */
static void oauth2_options(const char **pairs, const char *token_url, const char *const *extra)
{
    size_t n = 0;
    pairs[n++] = "auth";
    pairs[n++] = "oauth2";
    pairs[n++] = "auth_oauth2_token_url";
    pairs[n++] = token_url;
    pairs[n++] = "auth_oauth2_client_id";
    pairs[n++] = CLIENT_ID;
    pairs[n++] = "auth_oauth2_client_secret";
    pairs[n++] = "env:" SECRET_VARIABLE;
    for (size_t i = 0; extra && extra[i] && n < 22; i++)
        pairs[n++] = extra[i];
    pairs[n] = NULL;
}

static void test_oauth2_options_checked(void **state)
{
    (void)state;
    char errstr[512];
    const char *pairs[24];
    setenv(SECRET_VARIABLE, CLIENT_SECRET, 1);

    /* Created without touching the network: the first call fetches. */
    oauth2_options(pairs, "https://login.example.invalid/oauth2/token", NULL);
    auth_destroy(new_ok(pairs));
    oauth2_options(pairs, "http://127.0.0.1:1/token", NULL);
    auth_destroy(new_ok(pairs));
    oauth2_options(pairs, "http://localhost:1/token", NULL);
    auth_destroy(new_ok(pairs));

    oauth2_options(pairs, "http://login.example/token", NULL);
    expect_refused(pairs, "must be an https:// URL", errstr, sizeof errstr);
    oauth2_options(pairs, "https://user:pass@login.example/token", NULL);
    expect_refused(pairs, "must not carry credentials", errstr, sizeof errstr);
    assert_not_contains(errstr, "pass");
    oauth2_options(pairs, "not a url", NULL);
    expect_refused(pairs, "options.auth_oauth2_token_url is not a URL", errstr, sizeof errstr);

    static const char *const post[] = {"auth_oauth2_client_auth", "post", NULL};
    oauth2_options(pairs, "https://login.example/token", post);
    auth_destroy(new_ok(pairs));
    static const char *const digest[] = {"auth_oauth2_client_auth", "digest", NULL};
    oauth2_options(pairs, "https://login.example/token", digest);
    expect_refused(pairs, "options.auth_oauth2_client_auth must be basic", errstr, sizeof errstr);
    static const char *const fast[] = {"auth_oauth2_timeout_ms", "5", NULL};
    oauth2_options(pairs, "https://login.example/token", fast);
    expect_refused(pairs, "options.auth_oauth2_timeout_ms must be a whole number from 100", errstr,
                   sizeof errstr);
    static const char *const no_ca[] = {"auth_oauth2_tls_ca_file", "/nonexistent/ca.pem", NULL};
    oauth2_options(pairs, "https://login.example/token", no_ca);
    expect_refused(pairs, "options.auth_oauth2_tls_ca_file /nonexistent/ca.pem", errstr,
                   sizeof errstr);

    static const char *const no_url[] = {"auth", "oauth2", NULL};
    expect_refused(no_url, "auth: oauth2 needs options.auth_oauth2_token_url", errstr,
                   sizeof errstr);
    static const char *const no_id[] = {"auth", "oauth2", "auth_oauth2_token_url",
                                        "https://login.example/token", NULL};
    expect_refused(no_id, "auth: oauth2 needs options.auth_oauth2_client_id", errstr,
                   sizeof errstr);
    static const char *const no_secret[] = {"auth",
                                            "oauth2",
                                            "auth_oauth2_token_url",
                                            "https://login.example/token",
                                            "auth_oauth2_client_id",
                                            "placehub",
                                            NULL};
    expect_refused(no_secret, "auth: oauth2 needs options.auth_oauth2_client_secret", errstr,
                   sizeof errstr);

    /* The client id may sit beside the secret. */
    setenv("PLACEHUB_TEST_AUTH_CLIENT_ID", CLIENT_ID, 1);
    static const char *const id_from_env[] = {"auth",
                                              "oauth2",
                                              "auth_oauth2_token_url",
                                              "https://login.example/token",
                                              "auth_oauth2_client_id",
                                              "env:PLACEHUB_TEST_AUTH_CLIENT_ID",
                                              "auth_oauth2_client_secret",
                                              "env:" SECRET_VARIABLE,
                                              NULL};
    auth_destroy(new_ok(id_from_env));
    unsetenv("PLACEHUB_TEST_AUTH_CLIENT_ID");
}

/* ---- simulated partners ------------------------------------------------- */

struct simulator {
    pid_t pid;
    int port;
    char folder[64];
    char port_file[128];
};

static char simulator_path[512];
static struct simulator issuer, scripted;

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void pause_ms(long millis)
{
    struct timespec pause = {millis / 1000, (millis % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Starts placehub-partner-sim with extra arguments on a port it picks and
 * waits for its port file. Returns 0 or -1 (with a message on stderr). */
static int simulator_start(struct simulator *sim, const char *name, const char *const *extra)
{
    snprintf(sim->folder, sizeof sim->folder, "/tmp/placehub-test-auth-XXXXXX");
    if (!mkdtemp(sim->folder))
        return -1;
    snprintf(sim->port_file, sizeof sim->port_file, "%s/port", sim->folder);
    const char *argv[24] = {simulator_path, "--listen", "127.0.0.1:0", "--port-file",
                            sim->port_file, "--name",   name};
    size_t argc = 7;
    for (size_t i = 0; extra[i] && argc < 23; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    sim->pid = fork();
    if (sim->pid < 0)
        return -1;
    if (sim->pid == 0) {
        /* A test that crashes or is killed must not leave a simulator
         * behind: it gets SIGTERM when this process ends. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(127); /* the test already ended */
        /* Quiet: the port goes to the port file, info lines are noise here. */
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        setenv("PLACEHUB_LOG_LEVEL", "warning", 1);
        execv(simulator_path, (char *const *)argv);
        fprintf(stderr, "cannot run %s\n", simulator_path);
        _exit(127);
    }
    for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; pause_ms(20)) {
        FILE *file = fopen(sim->port_file, "r");
        if (file) {
            int ok = fscanf(file, "%d", &sim->port) == 1;
            fclose(file);
            if (ok)
                return 0;
        }
        int status;
        if (waitpid(sim->pid, &status, WNOHANG) == sim->pid) {
            fprintf(stderr, "%s exited before listening\n", simulator_path);
            sim->pid = 0;
            return -1;
        }
    }
    fprintf(stderr, "%s did not write its port file within 10 s\n", simulator_path);
    return -1;
}

/* Stops the simulator; returns -1 when it did not exit cleanly (a crash,
 * or a sanitizer report in an instrumented build). */
static int simulator_stop(struct simulator *sim)
{
    int rc = 0;
    if (sim->pid > 0) {
        int status = 0;
        kill(sim->pid, SIGTERM);
        if (waitpid(sim->pid, &status, 0) != sim->pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "%s did not stop cleanly (status %d)\n", simulator_path, status);
            rc = -1;
        }
        sim->pid = 0;
    }
    unlink(sim->port_file);
    rmdir(sim->folder);
    return rc;
}

struct buffer {
    char *data;
    size_t len;
};

static size_t buffer_collect(char *data, size_t size, size_t count, void *user)
{
    struct buffer *buffer = user;
    char *grown = realloc(buffer->data, buffer->len + size * count + 1);
    if (!grown)
        return 0;
    memcpy(grown + buffer->len, data, size * count);
    buffer->data = grown;
    buffer->len += size * count;
    buffer->data[buffer->len] = '\0';
    return size * count;
}

/* One request to a simulator; returns the status, and the answer as JSON
 * when answer is not NULL (caller decrefs). header may be NULL. */
static long simulator_call(const struct simulator *sim, const char *method, const char *path,
                           const char *body, const char *header, json_t **answer)
{
    char url[256];
    struct buffer buffer = {0};
    struct curl_slist *headers = header ? curl_slist_append(NULL, header) : NULL;
    long status = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", sim->port, path);
    CURL *easy = curl_easy_init();
    assert_non_null(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    if (body)
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, buffer_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &buffer);
    CURLcode code = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    if (code != CURLE_OK)
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(code));
    if (answer)
        *answer = support_json(buffer.data ? buffer.data : "null");
    free(buffer.data);
    return status;
}

static json_int_t simulator_stat(const struct simulator *sim, const char *key)
{
    json_t *stats = NULL;
    assert_int_equal(simulator_call(sim, "GET", "/_sim/stats", NULL, NULL, &stats), 200);
    json_int_t value = json_integer_value(json_object_get(stats, key));
    json_decref(stats);
    return value;
}

/* Requests the scripted simulator has recorded. */
static json_int_t scripted_count(void)
{
    return simulator_stat(&scripted, "recorded");
}

static void scripted_behave(const char *steps)
{
    assert_int_equal(simulator_call(&scripted, "PUT", "/_sim/behaviour", steps, NULL, NULL), 200);
}

/* Before each test: both simulators as new. */
static int simulators_reset(void **state)
{
    (void)state;
    setenv(SECRET_VARIABLE, CLIENT_SECRET, 1);
    const struct simulator *both[] = {&issuer, &scripted};
    for (size_t i = 0; i < 2; i++) {
        if (simulator_call(both[i], "DELETE", "/_sim/behaviour", NULL, NULL, NULL) != 200 ||
            simulator_call(both[i], "DELETE", "/_sim/requests", NULL, NULL, NULL) != 200)
            return -1;
    }
    return simulator_call(&issuer, "DELETE", "/_sim/oauth/tokens", NULL, NULL, NULL) == 200 ? 0
                                                                                            : -1;
}

static struct auth *issuer_auth(const char *const *extra)
{
    char url[128];
    const char *pairs[24];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_sim/oauth/token", issuer.port);
    oauth2_options(pairs, url, extra);
    return new_ok(pairs);
}

static struct auth *scripted_auth(const char *const *extra)
{
    char url[128];
    const char *pairs[24];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/oauth2/token", scripted.port);
    oauth2_options(pairs, url, extra);
    return new_ok(pairs);
}

/* auth_header, expected to succeed; the header is returned in header. */
static void header_ok(struct auth *auth, char *header)
{
    char errstr[1024] = "";
    if (auth_header(auth, header, AUTH_HEADER_MAX, errstr, sizeof errstr) != 0)
        fail_msg("auth_header failed: %s", errstr);
}

/* auth_header, expected to fail with a message containing hint. */
static void header_fails(struct auth *auth, const char *hint, char *errstr, size_t size)
{
    char header[AUTH_HEADER_MAX];
    errstr[0] = '\0';
    if (auth_header(auth, header, sizeof header, errstr, size) != -1)
        fail_msg("auth_header succeeded with \"%s\" (expected \"%s\")", header, hint);
    assert_contains(errstr, "test-partner");
    assert_contains(errstr, hint);
    assert_not_contains(errstr, CLIENT_SECRET);
}

static void test_oauth2_fetch_and_cache(void **state)
{
    (void)state;
    char first[AUTH_HEADER_MAX], second[AUTH_HEADER_MAX];
    struct auth *auth = issuer_auth(NULL);
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 0);
    header_ok(auth, first);
    assert_starts_with(first, "Authorization: Bearer sim-");
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 1);
    for (int i = 0; i < 5; i++) {
        header_ok(auth, second);
        assert_string_equal(second, first);
    }
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 1);
    /* The partner (--require-auth) takes it. */
    assert_int_equal(simulator_call(&issuer, "POST", "/events", "{}", first, NULL), 200);
    auth_destroy(auth);
}

static void test_oauth2_client_secret_in_form(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX];
    static const char *const post[] = {"auth_oauth2_client_auth", "post", NULL};
    struct auth *auth = issuer_auth(post);
    header_ok(auth, header);
    assert_starts_with(header, "Authorization: Bearer sim-");
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 1);
    auth_destroy(auth);
}

/* What goes over the wire: RFC 6749 section 2.3.1 and 4.4.2. */
static void test_oauth2_request_format(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX];
    json_t *listing = NULL;
    static const char *const extra[] = {"auth_oauth2_scope", "events.write referrals",
                                        "auth_oauth2_audience", "https://api.partner.example",
                                        NULL};
    static const char *const post[] = {"auth_oauth2_client_auth", "post", NULL};

    scripted_behave("{\"body\": {\"access_token\": \"abc\", \"token_type\": \"Bearer\", "
                    "\"expires_in\": 3600}}");
    struct auth *auth = scripted_auth(extra);
    header_ok(auth, header);
    assert_string_equal(header, "Authorization: Bearer abc");
    auth_destroy(auth);
    auth = scripted_auth(post);
    header_ok(auth, header);
    auth_destroy(auth);

    assert_int_equal(simulator_call(&scripted, "GET", "/_sim/requests", NULL, NULL, &listing), 200);
    assert_int_equal(json_array_size(json_object_get(listing, "requests")), 2);
    json_t *basic = json_array_get(json_object_get(listing, "requests"), 0);
    json_t *headers = json_object_get(basic, "headers");
    assert_string_equal(json_string_value(json_object_get(basic, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(basic, "path")), "/oauth2/token");
    assert_string_equal(json_string_value(json_object_get(headers, "Content-Type")),
                        "application/x-www-form-urlencoded");
    assert_string_equal(json_string_value(json_object_get(headers, "Accept")), "application/json");
    /* base64("test-client:s3%3Acret%20%26%3D%25%2B") */
    assert_string_equal(json_string_value(json_object_get(headers, "Authorization")),
                        "Basic dGVzdC1jbGllbnQ6czMlM0FjcmV0JTIwJTI2JTNEJTI1JTJC");
    assert_string_equal(json_string_value(json_object_get(basic, "body")),
                        "grant_type=client_credentials&scope=events.write%20referrals"
                        "&audience=https%3A%2F%2Fapi.partner.example");

    json_t *form = json_array_get(json_object_get(listing, "requests"), 1);
    assert_null(json_object_get(json_object_get(form, "headers"), "Authorization"));
    assert_string_equal(json_string_value(json_object_get(form, "body")),
                        "grant_type=client_credentials&client_id=test-client"
                        "&client_secret=s3%3Acret%20%26%3D%25%2B");
    json_decref(listing);
}

/* After a 401 from the partner: the token is forgotten and a fresh one
 * fetched, which the partner takes. */
static void test_oauth2_invalidate_after_401(void **state)
{
    (void)state;
    char first[AUTH_HEADER_MAX], second[AUTH_HEADER_MAX];
    struct auth *auth = issuer_auth(NULL);
    header_ok(auth, first);
    assert_int_equal(simulator_call(&issuer, "POST", "/events", "{}", first, NULL), 200);
    /* The partner rotates its keys: every token issued so far is refused. */
    assert_int_equal(simulator_call(&issuer, "DELETE", "/_sim/oauth/tokens", NULL, NULL, NULL),
                     200);
    assert_int_equal(simulator_call(&issuer, "POST", "/events", "{}", first, NULL), 401);
    auth_invalidate(auth);
    header_ok(auth, second);
    assert_string_not_equal(second, first);
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 2);
    assert_int_equal(simulator_call(&issuer, "POST", "/events", "{}", second, NULL), 200);
    auth_destroy(auth);
}

static void test_oauth2_wrong_secret(void **state)
{
    (void)state;
    char errstr[1024];
    setenv(SECRET_VARIABLE, "not-the-secret", 1);
    struct auth *auth = issuer_auth(NULL);
    header_fails(auth, "OAuth2 token endpoint 127.0.0.1 answered HTTP 401 (invalid_client)", errstr,
                 sizeof errstr);
    assert_not_contains(errstr, "not-the-secret");
    assert_int_equal(simulator_stat(&issuer, "token_requests_refused"), 1);
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 0);
    /* Nothing cached from a failure: the next call asks again. */
    header_fails(auth, "HTTP 401", errstr, sizeof errstr);
    assert_int_equal(simulator_stat(&issuer, "token_requests_refused"), 2);
    auth_destroy(auth);
}

static void test_oauth2_endpoint_down(void **state)
{
    (void)state;
    char errstr[1024], url[128];
    const char *pairs[24];
    /* A port nobody listens on: bound by the kernel's choice, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof address;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &len), 0);
    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/token", ntohs(address.sin_port));
    oauth2_options(pairs, url, NULL);
    struct auth *auth = new_ok(pairs);
    header_fails(auth, "OAuth2 token endpoint 127.0.0.1: ", errstr, sizeof errstr);
    assert_contains(errstr, "onnect"); /* "Failed to connect ...", "Couldn't connect ..." */
    auth_destroy(auth);
}

/* Token answers that must not be taken, each refused with a message that
 * says what was wrong and carries neither the token nor free text from the
 * server. */
static void test_oauth2_bad_answers_refused(void **state)
{
    (void)state;
    static const struct {
        const char *step;
        const char *hint;
    } cases[] = {
        {"{\"body\": \"<html>sign in</html>\", \"headers\": {\"Content-Type\": \"text/html\"}}",
         "answered 200 without a JSON object"},
        {"{\"body\": {\"token_type\": \"Bearer\"}}", "without an access_token"},
        {"{\"body\": {\"access_token\": \"\"}}", "access_token that is empty"},
        {"{\"body\": {\"access_token\": \"has space\"}}", "cannot stand in a header"},
        {"{\"body\": {\"access_token\": \"a\\r\\nX-Evil: 1\"}}", "cannot stand in a header"},
        {"{\"body\": {\"access_token\": \"abc\", \"token_type\": \"mac\"}}",
         "token_type other than Bearer"},
        {"{\"body\": {\"access_token\": \"abc\", \"expires_in\": -5}}",
         "expires_in that is not a positive number"},
        {"{\"body\": {\"access_token\": \"abc\", \"expires_in\": \"soon\"}}",
         "expires_in that is not a positive number"},
        {"{\"status\": 400, \"body\": {\"error\": \"invalid_scope\", \"error_description\": "
         "\"scope xyz-private unknown\"}}",
         "answered HTTP 400 (invalid_scope)"},
        {"{\"status\": 500, \"body\": \"oops\"}", "answered HTTP 500"},
        {"{\"status\": 302, \"headers\": {\"Location\": \"http://elsewhere.example/\"}}",
         "answered HTTP 302"},
    };
    char errstr[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scripted_behave(cases[i].step);
        struct auth *auth = scripted_auth(NULL);
        header_fails(auth, cases[i].hint, errstr, sizeof errstr);
        assert_not_contains(errstr, "Evil");
        assert_not_contains(errstr, "xyz-private");
        assert_not_contains(errstr, "has space");
        auth_destroy(auth);
    }
    /* The redirect was not followed. */
    assert_int_equal(scripted_count(), (json_int_t)(sizeof cases / sizeof cases[0]));
}

/* expires_in is optional (3600 s then) and some servers send it as text. */
static void test_oauth2_lenient_answers_taken(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX];
    /* Once only: a second fetch would get {"ok":true} and fail. */
    scripted_behave("{\"body\": {\"access_token\": \"no-expiry\"}, \"times\": 1}");
    struct auth *auth = scripted_auth(NULL);
    header_ok(auth, header);
    assert_string_equal(header, "Authorization: Bearer no-expiry");
    header_ok(auth, header);
    assert_string_equal(header, "Authorization: Bearer no-expiry");
    auth_destroy(auth);

    scripted_behave("{\"body\": {\"access_token\": \"text-expiry\", \"token_type\": \"bearer\", "
                    "\"expires_in\": \"3599\"}, \"times\": 1}");
    auth = scripted_auth(NULL);
    header_ok(auth, header);
    assert_string_equal(header, "Authorization: Bearer text-expiry");
    header_ok(auth, header);
    assert_string_equal(header, "Authorization: Bearer text-expiry");
    auth_destroy(auth);
    assert_int_equal(scripted_count(), 2);
}

static void test_oauth2_answer_capped(void **state)
{
    (void)state;
    char errstr[1024];
    size_t size = 100 * 1024;
    char *step = malloc(size + 64);
    assert_non_null(step);
    int n = snprintf(step, size + 64, "{\"body\": \"");
    memset(step + n, 'x', size);
    snprintf(step + n + size, 64, "\"}");
    scripted_behave(step);
    free(step);
    struct auth *auth = scripted_auth(NULL);
    header_fails(auth, "answered HTTP 200 with more than 65536 bytes", errstr, sizeof errstr);
    auth_destroy(auth);
}

static void test_oauth2_timeout(void **state)
{
    (void)state;
    char errstr[1024];
    static const char *const quick[] = {"auth_oauth2_timeout_ms", "300", NULL};
    scripted_behave("{\"delay_ms\": 3000, \"body\": {\"access_token\": \"late\"}}");
    struct auth *auth = scripted_auth(quick);
    int64_t began = now_ms();
    header_fails(auth, "OAuth2 token endpoint 127.0.0.1: ", errstr, sizeof errstr);
    assert_contains(errstr, "timed out");
    assert_true(now_ms() - began < 2500);
    auth_destroy(auth);
}

/* ---- several threads at once --------------------------------------------- */

#define THREADS 8

struct caller {
    struct auth *auth;
    pthread_barrier_t *start;
    int rc;
    int64_t elapsed_ms;
    char header[AUTH_HEADER_MAX];
    char errstr[512];
};

static void *caller_run(void *argument)
{
    struct caller *caller = argument;
    pthread_barrier_wait(caller->start);
    int64_t began = now_ms();
    caller->rc = auth_header(caller->auth, caller->header, sizeof caller->header, caller->errstr,
                             sizeof caller->errstr);
    caller->elapsed_ms = now_ms() - began;
    return NULL;
}

/* THREADS callers at once against a token endpoint that takes 300 ms. */
static void call_together(struct auth *auth, struct caller *callers)
{
    pthread_t threads[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        callers[i].auth = auth;
        callers[i].start = &start;
        assert_int_equal(pthread_create(&threads[i], NULL, caller_run, &callers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

static void test_oauth2_concurrent_callers_share_one_fetch(void **state)
{
    (void)state;
    static struct caller callers[THREADS];
    memset(callers, 0, sizeof callers);
    scripted_behave("{\"delay_ms\": 300, \"body\": {\"access_token\": \"shared\"}}");
    struct auth *auth = scripted_auth(NULL);
    call_together(auth, callers);
    for (int i = 0; i < THREADS; i++) {
        if (callers[i].rc != 0)
            fail_msg("caller %d: %s", i, callers[i].errstr);
        assert_string_equal(callers[i].header, "Authorization: Bearer shared");
    }
    assert_int_equal(scripted_count(), 1);
    auth_destroy(auth);
}

/* A failure is shared as well: the endpoint is not hammered by every
 * waiting caller in turn. */
static void test_oauth2_concurrent_callers_share_one_failure(void **state)
{
    (void)state;
    static struct caller callers[THREADS];
    memset(callers, 0, sizeof callers);
    scripted_behave("{\"delay_ms\": 300, \"status\": 503}");
    struct auth *auth = scripted_auth(NULL);
    call_together(auth, callers);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(callers[i].rc, -1);
        assert_contains(callers[i].errstr, "answered HTTP 503");
    }
    assert_int_equal(scripted_count(), 1);
    auth_destroy(auth);
}

/* ---- in the background ---------------------------------------------------- */

/* What the auth_set_notify function saw: how many fetches ended, and when
 * (milliseconds on now_ms). */
#define NOTIFIED_MAX 16

struct notified {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int count;
    int64_t at_ms[NOTIFIED_MAX];
};

static void notified_init(struct notified *notified)
{
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_mutex_init(&notified->lock, NULL);
    pthread_cond_init(&notified->changed, &monotonic);
    pthread_condattr_destroy(&monotonic);
    notified->count = 0;
}

static void notified_free(struct notified *notified)
{
    pthread_cond_destroy(&notified->changed);
    pthread_mutex_destroy(&notified->lock);
}

/* The auth_set_notify function: runs on the refresh thread. */
static void notified_ready(void *opaque)
{
    struct notified *notified = opaque;
    pthread_mutex_lock(&notified->lock);
    if (notified->count < NOTIFIED_MAX)
        notified->at_ms[notified->count] = now_ms();
    notified->count++;
    pthread_cond_broadcast(&notified->changed);
    pthread_mutex_unlock(&notified->lock);
}

/* Waits up to timeout_ms for the count to reach count; returns the count
 * then. */
static int notified_wait(struct notified *notified, int count, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    struct timespec until = {.tv_sec = (time_t)(deadline / 1000),
                             .tv_nsec = (long)(deadline % 1000) * 1000000L};
    pthread_mutex_lock(&notified->lock);
    while (notified->count < count &&
           pthread_cond_timedwait(&notified->changed, &notified->lock, &until) == 0)
        ;
    int reached = notified->count;
    pthread_mutex_unlock(&notified->lock);
    return reached;
}

static int64_t notified_at(struct notified *notified, int index)
{
    pthread_mutex_lock(&notified->lock);
    int64_t at = notified->at_ms[index];
    pthread_mutex_unlock(&notified->lock);
    return at;
}

/* auth_header_now, timed: fails unless it returned expected within 50 ms. */
static void header_now_is(struct auth *auth, int expected, char *header, char *errstr,
                          size_t errstr_size)
{
    errstr[0] = '\0';
    header[0] = '\0';
    int64_t began = now_ms();
    int rc = auth_header_now(auth, header, AUTH_HEADER_MAX, errstr, errstr_size);
    int64_t took = now_ms() - began;
    if (rc != expected)
        fail_msg("auth_header_now returned %d, expected %d (%s)", rc, expected, errstr);
    if (took >= 50)
        fail_msg("auth_header_now took %lld ms", (long long)took);
}

/* stderr into a file, to read the log lines written meanwhile. */
struct capture {
    int saved;
    char path[64];
};

static void capture_start(struct capture *capture)
{
    snprintf(capture->path, sizeof capture->path, "/tmp/placehub-test-auth-log-XXXXXX");
    int fd = mkstemp(capture->path);
    assert_true(fd >= 0);
    capture->saved = dup(STDERR_FILENO);
    assert_true(capture->saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    log_init("test_auth", LOG_WARNING);
}

/* Ends the capture; returns what was written (caller frees). */
static char *capture_stop(struct capture *capture)
{
    log_init("test_auth", getenv("PLACEHUB_LOG_LEVEL") ? -1 : LOG_ERROR);
    dup2(capture->saved, STDERR_FILENO);
    close(capture->saved);
    FILE *file = fopen(capture->path, "r");
    assert_non_null(file);
    char *text = calloc(1, 8192);
    assert_non_null(text);
    size_t n = fread(text, 1, 8191, file);
    text[n] = '\0';
    fclose(file);
    unlink(capture->path);
    return text;
}

/* A slow token endpoint holds no one up: the event loop's call answers
 * AUTH_PENDING at once, and the notify function says when to call again. */
static void test_oauth2_slow_endpoint_pending(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX], errstr[1024];
    struct notified notified;
    notified_init(&notified);
    scripted_behave("{\"delay_ms\": 800, \"body\": {\"access_token\": \"slow\"}}");
    struct auth *auth = scripted_auth(NULL);
    auth_set_notify(auth, notified_ready, &notified);
    int64_t began = now_ms();
    header_now_is(auth, AUTH_PENDING, header, errstr, sizeof errstr);
    assert_string_equal(header, "");
    header_now_is(auth, AUTH_PENDING, header, errstr, sizeof errstr);
    assert_int_equal(notified_wait(&notified, 1, 5000), 1);
    assert_true(notified_at(&notified, 0) - began >= 750);
    header_now_is(auth, 0, header, errstr, sizeof errstr);
    assert_string_equal(header, "Authorization: Bearer slow");
    assert_int_equal(scripted_count(), 1); /* the two calls shared one fetch */
    auth_destroy(auth);
    notified_free(&notified);
}

/* A token near expiry is refreshed in the background (with 2 s to live,
 * at half its lifetime: max(60 s, 10%) is capped there), while the event
 * loop's call keeps answering from the old token at once. */
static void test_oauth2_refresh_in_background(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX], errstr[1024];
    struct notified notified;
    notified_init(&notified);
    scripted_behave("[{\"body\": {\"access_token\": \"first\", \"expires_in\": 2}, \"times\": 1},"
                    " {\"delay_ms\": 400, \"body\": {\"access_token\": \"second\"}}]");
    struct auth *auth = scripted_auth(NULL);
    auth_set_notify(auth, notified_ready, &notified);
    int64_t began = now_ms(); /* no later than the fetch */
    header_now_is(auth, AUTH_PENDING, header, errstr, sizeof errstr);
    assert_int_equal(notified_wait(&notified, 1, 5000), 1);
    header_now_is(auth, 0, header, errstr, sizeof errstr);
    assert_string_equal(header, "Authorization: Bearer first");
    /* Until the refresh ends, every call answers from the first token. */
    int calls = 0;
    while (notified_wait(&notified, 2, 20) < 2) {
        if (now_ms() - began > 5000)
            fail_msg("no refresh within 5 s");
        header_now_is(auth, 0, header, errstr, sizeof errstr);
        assert_string_equal(header, "Authorization: Bearer first");
        calls++;
    }
    header_now_is(auth, 0, header, errstr, sizeof errstr);
    assert_string_equal(header, "Authorization: Bearer second");
    /* The refresh started at 1 s and took 0.4 s: before the expiry. */
    int64_t refreshed = notified_at(&notified, 1) - began;
    if (refreshed < 1350 || refreshed >= 2000)
        fail_msg("refreshed %lld ms after the first fetch", (long long)refreshed);
    assert_true(calls >= 50); /* the loop above ran through the refresh */
    assert_int_equal(scripted_count(), 2);
    auth_destroy(auth);
    notified_free(&notified);
}

/* A refresh that fails while the current token still lives costs nothing
 * but a warning: the current token serves until it expires, the endpoint
 * is asked again after the backoff (here cut short by the expiry), and
 * after the expiry the failure shows, until auth_header asks again at once. */
static void test_oauth2_failed_refresh_keeps_current_token(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX], errstr[1024];
    struct notified notified;
    struct capture capture;
    notified_init(&notified);
    scripted_behave("[{\"body\": {\"access_token\": \"first\", \"expires_in\": 2}, \"times\": 1},"
                    " {\"status\": 503}]");
    struct auth *auth = scripted_auth(NULL);
    auth_set_notify(auth, notified_ready, &notified);
    int64_t began = now_ms();
    header_now_is(auth, AUTH_PENDING, header, errstr, sizeof errstr);
    assert_int_equal(notified_wait(&notified, 1, 5000), 1);
    capture_start(&capture);
    int refreshed = notified_wait(&notified, 2, 5000);
    int64_t after_failure = now_ms();
    int rc = auth_header_now(auth, header, sizeof header, errstr, sizeof errstr);
    char *log = capture_stop(&capture);
    assert_int_equal(refreshed, 2);
    if (after_failure - began < 1900) {
        assert_int_equal(rc, 0);
        assert_string_equal(header, "Authorization: Bearer first");
    }
    assert_contains(log, "oauth2 token refresh failed; the current token serves for");
    assert_contains(log, "partner=test-partner");
    assert_contains(log, "answered HTTP 503");
    assert_not_contains(log, CLIENT_SECRET);
    assert_not_contains(log, "first");
    free(log);

    /* The next attempt at the expiry (sooner than the 5 s backoff). */
    assert_int_equal(notified_wait(&notified, 3, 5000), 3);
    int64_t second_attempt = notified_at(&notified, 2) - began;
    assert_true(second_attempt >= 1900 && second_attempt < 3000);
    header_now_is(auth, -1, header, errstr, sizeof errstr);
    assert_contains(errstr, "test-partner");
    assert_contains(errstr, "answered HTTP 503");
    assert_int_equal(scripted_count(), 3);
    /* The blocking call does not wait out the backoff: it asks again. */
    header_fails(auth, "answered HTTP 503", errstr, sizeof errstr);
    assert_int_equal(scripted_count(), 4);
    auth_destroy(auth);
    notified_free(&notified);
}

/* auth_invalidate drops the token and has a new one fetched at once,
 * without a caller having to ask. */
static void test_oauth2_invalidate_fetches_at_once(void **state)
{
    (void)state;
    char first[AUTH_HEADER_MAX], second[AUTH_HEADER_MAX], errstr[1024];
    struct notified notified;
    notified_init(&notified);
    struct auth *auth = issuer_auth(NULL);
    auth_set_notify(auth, notified_ready, &notified);
    header_now_is(auth, AUTH_PENDING, first, errstr, sizeof errstr);
    assert_int_equal(notified_wait(&notified, 1, 5000), 1);
    header_now_is(auth, 0, first, errstr, sizeof errstr);
    auth_invalidate(auth);
    auth_invalidate(auth); /* a second 401 for the same token: no second fetch */
    assert_int_equal(notified_wait(&notified, 2, 5000), 2);
    header_now_is(auth, 0, second, errstr, sizeof errstr);
    assert_starts_with(second, "Authorization: Bearer sim-");
    assert_string_not_equal(second, first);
    assert_int_equal(notified_wait(&notified, 3, 200), 2);
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 2);
    /* After auth_set_notify(NULL) returns, the function is not called. */
    auth_set_notify(auth, NULL, NULL);
    auth_invalidate(auth);
    header_ok(auth, second);
    assert_int_equal(simulator_stat(&issuer, "tokens_issued"), 3);
    assert_int_equal(notified_wait(&notified, 3, 0), 2);
    auth_destroy(auth);
    notified_free(&notified);
}

/* Stopping does not wait for a fetch under way. */
static void test_oauth2_destroy_during_slow_fetch(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX], errstr[1024];
    scripted_behave("{\"delay_ms\": 5000, \"body\": {\"access_token\": \"late\"}}");
    struct auth *auth = scripted_auth(NULL);
    header_now_is(auth, AUTH_PENDING, header, errstr, sizeof errstr);
    /* Until the endpoint has the request, then is sitting on it. */
    for (int64_t deadline = now_ms() + 5000; scripted_count() < 1; pause_ms(10))
        if (now_ms() > deadline)
            fail_msg("the token request did not arrive within 5 s");
    int64_t began = now_ms();
    auth_destroy(auth);
    int64_t took = now_ms() - began;
    if (took >= 200)
        fail_msg("auth_destroy took %lld ms", (long long)took);
}

/* The kinds that fetch nothing answer auth_header_now at once. */
static void test_header_now_static_kinds(void **state)
{
    (void)state;
    char header[AUTH_HEADER_MAX], errstr[256];
    struct notified notified;
    notified_init(&notified);
    setenv("PLACEHUB_TEST_AUTH_TOKEN", "static-token", 1);
    static const char *const bearer[] = {"auth", "bearer", "auth_token",
                                         "env:PLACEHUB_TEST_AUTH_TOKEN", NULL};
    static const char *const none[] = {NULL};
    struct auth *auth = new_ok(bearer);
    auth_set_notify(auth, notified_ready, &notified); /* never called */
    header_now_is(auth, 0, header, errstr, sizeof errstr);
    assert_string_equal(header, "Authorization: Bearer static-token");
    auth_destroy(auth);
    auth = new_ok(none);
    header_now_is(auth, 0, header, errstr, sizeof errstr);
    assert_string_equal(header, "");
    auth_destroy(auth);
    assert_int_equal(notified_wait(&notified, 1, 0), 0);
    unsetenv("PLACEHUB_TEST_AUTH_TOKEN");
    notified_free(&notified);
}

/* ---- set-up ------------------------------------------------------------- */

static int simulators_start(void **state)
{
    (void)state;
    static const char *const issuer_arguments[] = {"--oauth-client", CLIENT_ID ":" CLIENT_SECRET,
                                                   "--oauth-ttl",    "3600",
                                                   "--require-auth", NULL};
    static const char *const scripted_arguments[] = {NULL};
    if (simulator_start(&issuer, "auth-issuer", issuer_arguments) != 0 ||
        simulator_start(&scripted, "auth-scripted", scripted_arguments) != 0)
        return -1;
    return 0;
}

static int simulators_stop(void **state)
{
    (void)state;
    int issuer_rc = simulator_stop(&issuer);
    int scripted_rc = simulator_stop(&scripted);
    return issuer_rc == 0 && scripted_rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    (void)argc;
    /* The simulator of the same build: <build>/tests/test_auth ->
     * <build>/bin/placehub-partner-sim. */
    char copy[512];
    snprintf(copy, sizeof copy, "%s", argv[0]);
    char *tests_folder = dirname(copy);
    snprintf(simulator_path, sizeof simulator_path, "%s/../bin/placehub-partner-sim", tests_folder);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Token fetches log at info; PLACEHUB_LOG_LEVEL=info shows them. */
    log_init("test_auth", getenv("PLACEHUB_LOG_LEVEL") ? -1 : LOG_ERROR);

    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_none_by_default),
        cmocka_unit_test(test_unknown_kind_refused),
        cmocka_unit_test(test_bearer_from_environment),
        cmocka_unit_test(test_bearer_from_file),
        cmocka_unit_test(test_api_key_headers),
        cmocka_unit_test(test_inline_secrets_refused),
        cmocka_unit_test(test_missing_secrets_fail_at_creation),
        cmocka_unit_test(test_secret_unsafe_in_header_refused),
        cmocka_unit_test(test_stray_options_refused),
        cmocka_unit_test(test_mtls_needs_certificate),
        cmocka_unit_test(test_header_buffer_too_small),
        cmocka_unit_test(test_oauth2_options_checked),
        cmocka_unit_test(test_header_now_static_kinds),
    };
    const struct CMUnitTest online[] = {
        cmocka_unit_test_setup(test_oauth2_fetch_and_cache, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_client_secret_in_form, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_request_format, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_invalidate_after_401, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_wrong_secret, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_endpoint_down, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_bad_answers_refused, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_lenient_answers_taken, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_answer_capped, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_timeout, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_concurrent_callers_share_one_fetch, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_concurrent_callers_share_one_failure, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_slow_endpoint_pending, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_refresh_in_background, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_failed_refresh_keeps_current_token, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_invalidate_fetches_at_once, simulators_reset),
        cmocka_unit_test_setup(test_oauth2_destroy_during_slow_fetch, simulators_reset),
    };
    int failed = cmocka_run_group_tests_name("auth options", offline, NULL, NULL);
    failed += cmocka_run_group_tests_name("auth against placehub-partner-sim", online,
                                          simulators_start, simulators_stop);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
