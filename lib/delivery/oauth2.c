/*
 * oauth2.c - the OAuth2 token request (see oauth2.h, docs/auth.md): the form
 * body, HTTP Basic client authentication, the transfer and the reading of
 * the answer. Caching, refresh and threads are token_cache.c's.
 *
 * IMPORTANT: the client secret and the token never reach a log line or an
 * error message; buffers that held them are wiped before they are freed.
 * Messages name the partner, the endpoint's host, the HTTP status and the
 * OAuth2 error code.
 */
#include "delivery/oauth2.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery/auth.h"
#include "delivery/connector.h"

/* A token answer is a few hundred bytes, a few kilobytes with a JWT; more is
 * not an answer to trust. */
#define OAUTH2_RESPONSE_MAX 65536
#define OAUTH2_DEFAULT_LIFETIME_SECONDS 3600
/* A year: longer lifetimes are taken as a year, so the sums stay small. */
#define OAUTH2_MAX_LIFETIME_SECONDS 31536000
/* How long one wait inside the transfer may last before *stop is looked at
 * again, should a wake-up be missed. */
#define OAUTH2_POLL_MS 200

/* Frees a string that held a secret, wiping it first. */
static void oauth2_free_secret(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

void oauth2_settings_clear(struct oauth2_settings *settings)
{
    free(settings->token_url);
    free(settings->token_host);
    oauth2_free_secret(settings->client_id);
    oauth2_free_secret(settings->client_secret);
    free(settings->scope);
    free(settings->audience);
    free(settings->ca_file);
    memset(settings, 0, sizeof *settings);
}

int oauth2_header_safe(const char *text)
{
    if (!*text)
        return 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

/* Appends text to out (size out_size, holding *used bytes), form-urlencoded
 * (RFC 6749 appendix B). Returns 0, or -1 when it does not fit. */
static int oauth2_form_append(char *out, size_t out_size, size_t *used, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (*used + need >= out_size)
            return -1;
        if (plain) {
            out[(*used)++] = (char)*p;
        } else {
            out[(*used)++] = '%';
            out[(*used)++] = hex[*p >> 4];
            out[(*used)++] = hex[*p & 15];
        }
    }
    out[*used] = '\0';
    return 0;
}

/* Appends literal text (already safe) to out. Returns 0, or -1 when it does
 * not fit. */
static int oauth2_form_literal(char *out, size_t out_size, size_t *used, const char *text)
{
    size_t len = strlen(text);
    if (*used + len >= out_size)
        return -1;
    memcpy(out + *used, text, len + 1);
    *used += len;
    return 0;
}

/* ---- the answer ---------------------------------------------------------- */

struct oauth2_response {
    char *data;
    size_t len;
    int too_large;
};

static size_t oauth2_collect(char *data, size_t size, size_t count, void *user)
{
    struct oauth2_response *response = user;
    size_t n = size * count;
    if (response->len + n > OAUTH2_RESPONSE_MAX) {
        response->too_large = 1;
        return 0; /* ends the transfer */
    }
    memcpy(response->data + response->len, data, n);
    response->len += n;
    response->data[response->len] = '\0';
    return n;
}

/* The OAuth2 error code of an error answer ("invalid_client", ...), when it
 * has one that is safe to show: the code is a short keyword by RFC 6749
 * section 5.2; error_description is free text and is left out. */
static void oauth2_error_code(const char *body, size_t len, char *code, size_t code_size)
{
    code[0] = '\0';
    json_t *json = json_loadb(body, len, 0, NULL);
    const char *text = json_string_value(json_object_get(json, "error"));
    if (text && strlen(text) < code_size && strlen(text) <= 64) {
        int safe = 1;
        for (const char *p = text; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
                safe = 0;
        if (safe)
            snprintf(code, code_size, "%s", text);
    }
    json_decref(json);
}

/* Reads a successful token answer: a new "Authorization: Bearer ..." line in
 * *header and the token's lifetime in seconds. Returns 0 or -1 with errstr. */
static int oauth2_parse_token(const struct oauth2_settings *settings, const char *body, size_t len,
                              char **header, long long *lifetime, char *errstr, size_t errstr_size)
{
    int rc = -1;
    json_t *json = json_loadb(body, len, 0, NULL);
    if (!json_is_object(json)) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered 200 without a JSON object",
                 settings->partner_id, settings->token_host);
        goto out;
    }
    const char *token = json_string_value(json_object_get(json, "access_token"));
    if (!token) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered without an access_token",
                 settings->partner_id, settings->token_host);
        goto out;
    }
    if (strlen(token) > AUTH_TOKEN_MAX || !oauth2_header_safe(token)) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s gave an access_token that is empty, "
                 "longer than %d bytes, or has characters that cannot stand in a header",
                 settings->partner_id, settings->token_host, AUTH_TOKEN_MAX);
        goto out;
    }
    /* token_type is required by RFC 6749, yet some servers leave it out;
     * what is refused is a type this client does not speak (mac, DPoP). */
    json_t *type = json_object_get(json, "token_type");
    if (type && !json_is_null(type) &&
        (!json_is_string(type) || strcasecmp(json_string_value(type), "bearer") != 0)) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s gave a token_type other than Bearer",
                 settings->partner_id, settings->token_host);
        goto out;
    }
    /* expires_in is "RECOMMENDED"; some servers send it as a string. */
    json_t *expires_in = json_object_get(json, "expires_in");
    *lifetime = OAUTH2_DEFAULT_LIFETIME_SECONDS;
    if (expires_in && !json_is_null(expires_in)) {
        long long seconds = -1;
        if (json_is_integer(expires_in)) {
            seconds = json_integer_value(expires_in);
        } else if (json_is_string(expires_in)) {
            const char *text = json_string_value(expires_in);
            char *end = NULL;
            errno = 0;
            seconds = strtoll(text, &end, 10);
            if (!*text || *end || errno != 0)
                seconds = -1;
        }
        if (seconds < 1) {
            snprintf(errstr, errstr_size,
                     "partner %s: OAuth2 token endpoint %s gave an expires_in that is not a "
                     "positive number of seconds",
                     settings->partner_id, settings->token_host);
            goto out;
        }
        *lifetime = seconds > OAUTH2_MAX_LIFETIME_SECONDS ? OAUTH2_MAX_LIFETIME_SECONDS : seconds;
    }
    static const char prefix[] = "Authorization: Bearer ";
    size_t size = sizeof prefix + strlen(token);
    *header = malloc(size);
    if (*header)
        snprintf(*header, size, "%s%s", prefix, token);
    if (!*header) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    rc = 0;
out:
    /* jansson keeps its own copy of the token: nothing to wipe portably. */
    json_decref(json);
    return rc;
}

/* Frees a buffer of size bytes that may hold a secret, wiping it first. */
static void oauth2_free_buffer(char *buffer, size_t size)
{
    if (!buffer)
        return;
    explicit_bzero(buffer, size);
    free(buffer);
}

/* The token request's form body, as a new string of *size bytes (free with
 * oauth2_free_buffer: it may hold the client secret). NULL when out of memory. */
static char *oauth2_form(const struct oauth2_settings *settings, size_t *size)
{
    size_t used = 0;
    /* Form-encoding writes at most three bytes per byte. */
    *size = 128 + 3 * ((settings->scope ? strlen(settings->scope) : 0) +
                       (settings->audience ? strlen(settings->audience) : 0) +
                       (settings->client_auth_post
                            ? strlen(settings->client_id) + strlen(settings->client_secret)
                            : 0));
    char *form = malloc(*size);
    if (!form)
        return NULL;
    form[0] = '\0';
    if (oauth2_form_literal(form, *size, &used, "grant_type=client_credentials") != 0 ||
        (settings->scope && (oauth2_form_literal(form, *size, &used, "&scope=") != 0 ||
                             oauth2_form_append(form, *size, &used, settings->scope) != 0)) ||
        (settings->audience && (oauth2_form_literal(form, *size, &used, "&audience=") != 0 ||
                                oauth2_form_append(form, *size, &used, settings->audience) != 0)) ||
        (settings->client_auth_post &&
         (oauth2_form_literal(form, *size, &used, "&client_id=") != 0 ||
          oauth2_form_append(form, *size, &used, settings->client_id) != 0 ||
          oauth2_form_literal(form, *size, &used, "&client_secret=") != 0 ||
          oauth2_form_append(form, *size, &used, settings->client_secret) != 0))) {
        oauth2_free_buffer(form, *size); /* cannot happen: the size covers the worst case */
        return NULL;
    }
    return form;
}

/* "Authorization: Basic base64(urlencoded id ":" urlencoded secret)", as
 * RFC 6749 section 2.3.1 has it, as a new string of *size bytes (free with
 * oauth2_free_buffer). NULL when out of memory. */
static char *oauth2_basic_header(const struct oauth2_settings *settings, size_t *size)
{
    size_t used = 0;
    size_t credentials_size =
        3 * (strlen(settings->client_id) + strlen(settings->client_secret)) + 2;
    char *credentials = malloc(credentials_size);
    char *line = NULL;
    *size = 0;
    if (!credentials)
        return NULL;
    if (oauth2_form_append(credentials, credentials_size, &used, settings->client_id) != 0 ||
        oauth2_form_literal(credentials, credentials_size, &used, ":") != 0 ||
        oauth2_form_append(credentials, credentials_size, &used, settings->client_secret) != 0)
        goto out;
    static const char prefix[] = "Authorization: Basic ";
    *size = sizeof prefix + 4 * ((used + 2) / 3) + 1;
    line = malloc(*size);
    if (!line)
        goto out;
    memcpy(line, prefix, sizeof prefix);
    if (connector_host()->base64_encode(credentials, used, line + sizeof prefix - 1,
                                        *size - (sizeof prefix - 1)) == 0) {
        oauth2_free_buffer(line, *size);
        line = NULL;
    }
out:
    oauth2_free_buffer(credentials, credentials_size);
    return line;
}

/* The request's options on easy: TLS always verified, no redirect, the
 * timeouts. */
static void oauth2_easy_setup(const struct oauth2_settings *settings, CURL *easy,
                              struct curl_slist *headers, const char *form,
                              struct oauth2_response *response, char *error)
{
    curl_easy_setopt(easy, CURLOPT_URL, settings->token_url);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A redirect would take the client secret somewhere else. */
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    /* Verification is always on here: the partner's development flag
     * tls_insecure_skip_verify does not reach the token endpoint. */
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (settings->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, settings->ca_file);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     settings->timeout_ms < 5000 ? settings->timeout_ms : 5000L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, settings->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 10L);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* Stopping during a name lookup must not wait for the resolver thread. */
    curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
#endif
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, oauth2_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "placehub/1");
}

/* Runs easy on multi to its end, or until *stop is set (then *stopped is
 * set and CURLE_ABORTED_BY_CALLBACK returned). */
static CURLcode oauth2_perform(CURLM *multi, CURL *easy, const atomic_int *stop, int *stopped)
{
    CURLcode code = CURLE_OK;
    int running = 1;
    *stopped = 0;
    if (curl_multi_add_handle(multi, easy) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    while (running) {
        if (atomic_load(stop)) {
            *stopped = 1;
            code = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            code = CURLE_FAILED_INIT;
            break;
        }
        if (running && curl_multi_poll(multi, NULL, 0, OAUTH2_POLL_MS, NULL) != CURLM_OK) {
            code = CURLE_FAILED_INIT;
            break;
        }
    }
    if (!running) {
        int left = 0;
        CURLMsg *message;
        while ((message = curl_multi_info_read(multi, &left)))
            if (message->msg == CURLMSG_DONE && message->easy_handle == easy)
                code = message->data.result;
    }
    curl_multi_remove_handle(multi, easy);
    return code;
}

/* The request's header lines (Basic may be NULL: the credentials are in the
 * form); NULL when out of memory. */
static struct curl_slist *oauth2_request_headers(const char *basic)
{
    struct curl_slist *headers = NULL;
    const char *const lines[] = {"Accept: application/json",
                                 "Content-Type: application/x-www-form-urlencoded", basic};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        struct curl_slist *appended = curl_slist_append(headers, lines[i]);
        if (!appended) {
            for (struct curl_slist *item = headers; item; item = item->next)
                explicit_bzero(item->data, strlen(item->data));
            curl_slist_free_all(headers);
            return NULL;
        }
        headers = appended;
    }
    return headers;
}

/* Turns what the transfer ended with into the result (see oauth2_fetch). */
static int oauth2_answer(const struct oauth2_settings *settings, CURLcode code, int stopped,
                         long status, const struct oauth2_response *response, const char *error,
                         char **header, long long *lifetime, char *errstr, size_t errstr_size)
{
    if (stopped) {
        snprintf(errstr, errstr_size, "partner %s: OAuth2 token endpoint %s: stopped",
                 settings->partner_id, settings->token_host);
        return -1;
    }
    if (response->too_large) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered HTTP %ld with more than %d bytes",
                 settings->partner_id, settings->token_host, status, OAUTH2_RESPONSE_MAX);
        return -1;
    }
    if (code != CURLE_OK) {
        snprintf(errstr, errstr_size, "partner %s: OAuth2 token endpoint %s: %s",
                 settings->partner_id, settings->token_host,
                 error[0] ? error : curl_easy_strerror(code));
        return -1;
    }
    if (status != 200) {
        char oauth_error[80];
        oauth2_error_code(response->data, response->len, oauth_error, sizeof oauth_error);
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered HTTP %ld%s%s%s",
                 settings->partner_id, settings->token_host, status, oauth_error[0] ? " (" : "",
                 oauth_error, oauth_error[0] ? ")" : "");
        return -1;
    }
    return oauth2_parse_token(settings, response->data, response->len, header, lifetime, errstr,
                              errstr_size);
}

int oauth2_fetch(const struct oauth2_settings *settings, CURLM *multi, const atomic_int *stop,
                 char **header, long long *lifetime, char *errstr, size_t errstr_size)
{
    int rc = -1;
    CURL *easy = NULL;
    struct curl_slist *headers = NULL;
    char error[CURL_ERROR_SIZE] = "";
    char *basic = NULL, *form = NULL;
    size_t basic_size = 0, form_size = 0;
    struct oauth2_response response = {0};
    long status = 0;
    int stopped = 0;

    *header = NULL;
    form = oauth2_form(settings, &form_size);
    if (!settings->client_auth_post)
        basic = oauth2_basic_header(settings, &basic_size);
    response.data = malloc(OAUTH2_RESPONSE_MAX + 1);
    easy = curl_easy_init();
    if (form && (settings->client_auth_post || basic))
        headers = oauth2_request_headers(basic);
    if (!headers || !response.data || !easy) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    response.data[0] = '\0';
    oauth2_easy_setup(settings, easy, headers, form, &response, error);
    CURLcode code = oauth2_perform(multi, easy, stop, &stopped);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    rc = oauth2_answer(settings, code, stopped, status, &response, error, header, lifetime, errstr,
                       errstr_size);
out:
    /* Wipe what held the client secret or the token before it is freed. */
    for (struct curl_slist *item = headers; item; item = item->next)
        explicit_bzero(item->data, strlen(item->data));
    curl_slist_free_all(headers);
    if (easy)
        curl_easy_cleanup(easy);
    oauth2_free_buffer(basic, basic_size);
    oauth2_free_buffer(form, form_size);
    if (response.data) {
        explicit_bzero(response.data, response.len);
        free(response.data);
    }
    return rc;
}
