/*
 * client.c - placehub-mesh-inbox's MESH API client (see client.h).
 *
 * Always: TLS verified against mesh_inbox.tls_ca_file (or the system's
 * store), the mailbox's client certificate, no redirects, a total timeout
 * per request, answers read up to a cap. Every request is signed afresh
 * (new nonce, count 0). Nothing MESH says is trusted: ids are checked
 * (lib/core/mesh.c), header values are kept only when printable, chunk
 * ranges are parsed strictly and must agree with the first chunk's.
 *
 * Ownership: the client owns the easy handle and its copies of the
 * secrets (wiped on destroy); a downloaded message owns its data.
 */
#include "client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "core/clock.h"
#include "core/secret.h"

#define MESH_CLIENT_SECRET_MAX 256
#define MESH_CLIENT_MAX_CHUNKS 10000
#define MESH_CLIENT_LISTING_MAX 65536

struct mesh_client {
    const struct config *config;
    CURL *easy;
    char password[MESH_CLIENT_SECRET_MAX];
    char shared_key[MESH_CLIENT_SECRET_MAX];
    char os_name[96], os_version[160];
};

/* One answer as read. */
struct mesh_answer {
    long status;
    char *body;
    size_t len, cap;
    int truncated;
    struct mesh_message_headers headers;
};

int mesh_client_new(const struct config *config, struct mesh_client **out, char *errstr,
                    size_t errstr_size)
{
    char why[256];
    struct mesh_client *client = calloc(1, sizeof *client);
    *out = NULL;
    if (!client || !(client->easy = curl_easy_init())) {
        free(client);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    client->config = config;
    if (secret_read(config->mesh_inbox.mailbox_password, client->password, sizeof client->password,
                    why, sizeof why) != 0 ||
        secret_read(config->mesh_inbox.shared_key, client->shared_key, sizeof client->shared_key,
                    why, sizeof why) != 0) {
        snprintf(errstr, errstr_size, "%s:%d: mesh_inbox: %s", config->path,
                 config->mesh_inbox.line, why);
        mesh_client_destroy(client);
        return -1;
    }
    struct utsname system;
    snprintf(client->os_name, sizeof client->os_name, "mex-OSName: %s",
             uname(&system) == 0 ? system.sysname : "Linux");
    snprintf(client->os_version, sizeof client->os_version, "mex-OSVersion: %s",
             uname(&system) == 0 ? system.release : "unknown");
    *out = client;
    return 0;
}

void mesh_client_destroy(struct mesh_client *client)
{
    if (!client)
        return;
    explicit_bzero(client->password, sizeof client->password);
    explicit_bzero(client->shared_key, sizeof client->shared_key);
    if (client->easy)
        curl_easy_cleanup(client->easy);
    free(client);
}

static size_t mesh_client_body(char *data, size_t size, size_t count, void *user)
{
    struct mesh_answer *answer = user;
    size_t n = size * count, room = answer->cap - answer->len;
    size_t keep = n < room ? n : room;
    if (keep) {
        char *grown = realloc(answer->body, answer->len + keep + 1);
        if (!grown)
            return 0;
        answer->body = grown;
        memcpy(answer->body + answer->len, data, keep);
        answer->len += keep;
        answer->body[answer->len] = '\0';
    }
    if (keep < n) {
        answer->truncated = 1;
        return 0; /* past the cap: stop reading */
    }
    return n;
}

static size_t mesh_client_header(char *line, size_t size, size_t count, void *user)
{
    struct mesh_answer *answer = user;
    mesh_header_line(&answer->headers, line, size * count);
    return size * count;
}

/* Performs method on path (after /messageexchange/<mailbox>), reading up to
 * cap bytes of answer. Returns 0 when MESH answered at all (see
 * answer->status), or -1 with errstr when it did not. */
static int mesh_client_perform(struct mesh_client *client, const char *method, const char *path,
                               size_t cap, struct mesh_answer *answer, char *errstr,
                               size_t errstr_size)
{
    const struct config *config = client->config;
    char url[1024], nonce[40], timestamp[16], authorization[MESH_AUTHORIZATION_MAX];
    char curl_error[CURL_ERROR_SIZE] = "";
    memset(answer, 0, sizeof *answer);
    answer->cap = cap;
    snprintf(url, sizeof url, "%s/messageexchange/%s%s", config->mesh_inbox.url,
             config->mesh_inbox.mailbox, path);
    mesh_timestamp(clock_wall_ms(), timestamp, sizeof timestamp);
    if (mesh_nonce(nonce, sizeof nonce) != 0 ||
        mesh_authorization(config->mesh_inbox.mailbox, client->password, client->shared_key, nonce,
                           0, timestamp, authorization, sizeof authorization) != 0) {
        snprintf(errstr, errstr_size, "cannot sign the request");
        return -1;
    }
    struct curl_slist *headers = NULL;
    const char *lines[] = {authorization,
                           "Accept: application/vnd.mesh.v2+json",
                           "mex-ClientVersion: placehub/1",
                           client->os_name,
                           client->os_version,
                           "Expect:"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        headers = curl_slist_append(headers, lines[i]);
    CURL *easy = client->easy;
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)config->mesh_inbox.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (config->mesh_inbox.tls_ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, config->mesh_inbox.tls_ca_file);
    if (config->mesh_inbox.tls_client_cert) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, config->mesh_inbox.tls_client_cert);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, config->mesh_inbox.tls_client_key);
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, mesh_client_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, mesh_client_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, answer);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "placehub-mesh-inbox/1");
    CURLcode code = curl_easy_perform(easy);
    explicit_bzero(authorization, sizeof authorization);
    curl_slist_free_all(headers);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &answer->status);
    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && answer->truncated)) {
        snprintf(errstr, errstr_size, "%s", curl_error[0] ? curl_error : curl_easy_strerror(code));
        free(answer->body);
        answer->body = NULL;
        return -1;
    }
    return 0;
}

/* An answer that is not 2xx, as a reason ("HTTP 403: ..."). */
static enum mesh_client_result mesh_client_refused(const struct mesh_answer *answer,
                                                   const char *what, char *errstr,
                                                   size_t errstr_size)
{
    char words[160];
    mesh_error_describe(answer->body, answer->len, words, sizeof words);
    snprintf(errstr, errstr_size, "%s: HTTP %ld%s%s%s", what, answer->status, words[0] ? ": " : "",
             words,
             answer->status == 403 ? " (MESH refused the mailbox's credentials: check "
                                     "mailbox_password, shared_key and the client certificate)"
                                   : "");
    return answer->status == 404 || answer->status == 410 ? MESH_CLIENT_GONE : MESH_CLIENT_FAILED;
}

enum mesh_client_result mesh_client_handshake(struct mesh_client *client, char *errstr,
                                              size_t errstr_size)
{
    struct mesh_answer answer;
    if (mesh_client_perform(client, "POST", "", 4096, &answer, errstr, errstr_size) != 0)
        return MESH_CLIENT_FAILED;
    enum mesh_client_result result =
        answer.status / 100 == 2 ? MESH_CLIENT_OK
                                 : mesh_client_refused(&answer, "handshake", errstr, errstr_size);
    free(answer.body);
    return result == MESH_CLIENT_GONE ? MESH_CLIENT_FAILED : result;
}

enum mesh_client_result mesh_client_inbox(struct mesh_client *client,
                                          char (*ids)[MESH_MESSAGE_ID_MAX], int max, int *count,
                                          char *errstr, size_t errstr_size)
{
    struct mesh_answer answer;
    *count = 0;
    if (mesh_client_perform(client, "GET", "/inbox", MESH_CLIENT_LISTING_MAX, &answer, errstr,
                            errstr_size) != 0)
        return MESH_CLIENT_FAILED;
    enum mesh_client_result result = MESH_CLIENT_OK;
    if (answer.status / 100 != 2) {
        result = mesh_client_refused(&answer, "inbox", errstr, errstr_size);
        result = MESH_CLIENT_FAILED;
    } else if ((*count = mesh_inbox_parse(answer.body, answer.len, ids, max)) < 0) {
        snprintf(errstr, errstr_size, "inbox: MESH's listing is not one placehub can read");
        *count = 0;
        result = MESH_CLIENT_FAILED;
    }
    free(answer.body);
    return result;
}

void mesh_message_clear(struct mesh_message *message)
{
    free(message->data);
    memset(message, 0, sizeof *message);
}

/* Appends a chunk's data to message, up to max_bytes in all. */
static int mesh_client_append(struct mesh_message *message, const struct mesh_answer *answer,
                              size_t max_bytes)
{
    size_t keep = answer->len;
    if (message->len + keep > max_bytes || answer->truncated) {
        message->too_large = 1;
        keep = message->len < max_bytes ? max_bytes - message->len : 0;
        if (keep > answer->len)
            keep = answer->len;
    }
    char *grown = realloc(message->data, message->len + keep + 1);
    if (!grown)
        return -1;
    message->data = grown;
    if (keep)
        memcpy(message->data + message->len, answer->body, keep);
    message->len += keep;
    message->data[message->len] = '\0';
    return 0;
}

/* Chunk n (1-based) of message id into message. *total: from the first
 * chunk's mex-Chunk-Range (1 when none); later chunks must agree. */
static enum mesh_client_result mesh_client_chunk(struct mesh_client *client, const char *id,
                                                 unsigned n, unsigned *total, size_t max_bytes,
                                                 struct mesh_message *message, char *errstr,
                                                 size_t errstr_size)
{
    char path[160];
    struct mesh_answer answer;
    unsigned chunk = 1, of = 1;
    if (n == 1)
        snprintf(path, sizeof path, "/inbox/%s", id);
    else
        snprintf(path, sizeof path, "/inbox/%s/%u", id, n);
    size_t left = message->len < max_bytes ? max_bytes - message->len : 0;
    if (mesh_client_perform(client, "GET", path, left + 1, &answer, errstr, errstr_size) != 0)
        return MESH_CLIENT_FAILED;
    enum mesh_client_result result = MESH_CLIENT_OK;
    if (answer.status != 200 && answer.status != 206) {
        result = mesh_client_refused(&answer, "download", errstr, errstr_size);
    } else if (answer.headers.chunk_range[0] &&
               mesh_chunk_range_parse(answer.headers.chunk_range, MESH_CLIENT_MAX_CHUNKS, &chunk,
                                      &of) != 0) {
        snprintf(errstr, errstr_size, "download: MESH's mex-Chunk-Range is not n:total");
        result = MESH_CLIENT_FAILED;
    } else if (chunk != n || (n > 1 && of != *total)) {
        snprintf(errstr, errstr_size, "download: chunk %u answered as chunk %u of %u", n, chunk,
                 of);
        result = MESH_CLIENT_FAILED;
    } else {
        if (n == 1) {
            *total = of;
            message->headers = answer.headers;
        }
        if (mesh_client_append(message, &answer, max_bytes) != 0) {
            snprintf(errstr, errstr_size, "out of memory");
            result = MESH_CLIENT_FAILED;
        }
    }
    free(answer.body);
    return result;
}

enum mesh_client_result mesh_client_download(struct mesh_client *client, const char *id,
                                             size_t max_bytes, struct mesh_message *message,
                                             char *errstr, size_t errstr_size)
{
    unsigned total = 1;
    memset(message, 0, sizeof *message);
    for (unsigned n = 1; n <= total && !message->too_large; n++) {
        enum mesh_client_result result =
            mesh_client_chunk(client, id, n, &total, max_bytes, message, errstr, errstr_size);
        if (result != MESH_CLIENT_OK) {
            mesh_message_clear(message);
            return result;
        }
        message->chunks = n;
    }
    if (!message->data && !(message->data = calloc(1, 1))) {
        snprintf(errstr, errstr_size, "out of memory");
        return MESH_CLIENT_FAILED;
    }
    return MESH_CLIENT_OK;
}

enum mesh_client_result mesh_client_acknowledge(struct mesh_client *client, const char *id,
                                                char *errstr, size_t errstr_size)
{
    char path[160];
    struct mesh_answer answer;
    snprintf(path, sizeof path, "/inbox/%s/status/acknowledged", id);
    if (mesh_client_perform(client, "PUT", path, 4096, &answer, errstr, errstr_size) != 0)
        return MESH_CLIENT_FAILED;
    enum mesh_client_result result =
        answer.status / 100 == 2 ? MESH_CLIENT_OK
                                 : mesh_client_refused(&answer, "acknowledge", errstr, errstr_size);
    free(answer.body);
    return result;
}
