/*
 * auth.c - authentication to partners (see auth.h and docs/auth.md).
 *
 * Static credentials (bearer token, API key) are resolved once at start-up
 * and kept as the finished header line. OAuth2 tokens are fetched with the
 * client credentials grant (RFC 6749 section 4.4) and cached; the lock guards
 * the cache only and is never held during a fetch. `fetching` makes the
 * fetch exclusive: the first caller who needs a token fetches it; callers
 * with no usable token wait on `fetch_done` and share its result, so a burst
 * of callers costs the token endpoint one request; callers whose token is
 * due for refresh but not yet expired go on with it meanwhile, so a slow
 * refresh holds up only the caller doing it.
 *
 * IMPORTANT: secrets and tokens never reach a log line or an error message.
 * Messages name the partner, the option, the token endpoint's host, the HTTP
 * status and the OAuth2 error code. Buffers that held a secret are wiped
 * before they are freed.
 */
#include "delivery/auth.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "delivery/connector.h"
#include "core/log.h"
#include "core/secret.h"

/* Secrets are read into a buffer of this size: a bearer token may be a JWT
 * of a few kilobytes. */
#define AUTH_SECRET_MAX 8192
/* A token answer is a few hundred bytes, a few kilobytes with a JWT; more is
 * not an answer to trust. */
#define AUTH_RESPONSE_MAX 65536
#define AUTH_DEFAULT_LIFETIME_SECONDS 3600
/* A year: longer lifetimes are taken as a year, so the sums stay small. */
#define AUTH_MAX_LIFETIME_SECONDS 31536000
#define AUTH_REFRESH_MARGIN_MS 60000
/* After a failed refresh while the token still lives, the next attempt waits
 * this long (at most until the token expires): a token endpoint that is down
 * or hanging is not asked on every delivery. */
#define AUTH_REFRESH_RETRY_MS 5000

enum auth_kind { AUTH_NONE, AUTH_BEARER, AUTH_API_KEY, AUTH_OAUTH2, AUTH_MTLS };

static const char *const auth_kind_names[] = {"none", "bearer", "api_key", "oauth2", "mtls"};

/* Which auth_* options each kind reads; any other one set is a mistake the
 * user should hear about rather than a setting silently ignored. */
static const struct {
    const char *key;
    enum auth_kind kind;
} auth_option_owners[] = {
    {"auth_token", AUTH_BEARER},
    {"auth_api_key", AUTH_API_KEY},
    {"auth_api_key_header", AUTH_API_KEY},
    {"auth_oauth2_token_url", AUTH_OAUTH2},
    {"auth_oauth2_client_id", AUTH_OAUTH2},
    {"auth_oauth2_client_secret", AUTH_OAUTH2},
    {"auth_oauth2_scope", AUTH_OAUTH2},
    {"auth_oauth2_audience", AUTH_OAUTH2},
    {"auth_oauth2_client_auth", AUTH_OAUTH2},
    {"auth_oauth2_tls_ca_file", AUTH_OAUTH2},
    {"auth_oauth2_timeout_ms", AUTH_OAUTH2},
};

struct auth {
    char *partner_id;
    enum auth_kind kind;
    char *fixed_header; /* bearer and api_key: the whole header line */

    /* oauth2 settings: set by auth_new, read-only afterwards, so a fetch
     * reads them without the lock. */
    char *token_url;
    char *token_host; /* for messages and logs */
    char *client_id;
    char *client_secret;
    char *scope;
    char *audience;
    int client_auth_post; /* credentials in the form body rather than HTTP Basic */
    char *ca_file;
    long timeout_ms;

    /* oauth2 token cache, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t fetch_done;
    int fetching;
    unsigned long fetch_round; /* fetches finished, to tell waiters theirs ended */
    int last_fetch_failed;
    char last_error[512];
    char *token_header;    /* "Authorization: Bearer ..." or NULL */
    int64_t refresh_at_ms; /* monotonic: fetch a new token from then on */
    int64_t expires_at_ms; /* monotonic: the token is no use from then on */
};

/* ---- small helpers ------------------------------------------------------ */

/* Frees a string that held a secret, wiping it first. */
static void auth_free_secret(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

/* Visible ASCII only: what may stand in a header value without quoting and
 * can never end the header line early (no CR, LF or other control byte). */
static int auth_header_safe(const char *text)
{
    if (!*text)
        return 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

/* An HTTP field name (RFC 9110 token). */
static int auth_header_name_valid(const char *name)
{
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *p)))
            return 0;
    return 1;
}

static int auth_is_reference(const char *value)
{
    return strncmp(value, "env:", 4) == 0 || strncmp(value, "file:", 5) == 0;
}

/* Resolves the secret named by options.key into a new string (caller frees
 * with auth_free_secret). A value that is not a reference is refused without
 * being repeated: it may be the secret itself. */
static int auth_secret(const char *partner_id, const struct placehub_options *options,
                       const char *key, const char *kind_name, char **out, char *errstr,
                       size_t errstr_size)
{
    char buffer[AUTH_SECRET_MAX];
    char message[512];
    int rc = -1;
    const char *reference = options->get(options, key);
    *out = NULL;
    if (!reference) {
        snprintf(errstr, errstr_size,
                 "partner %s: auth: %s needs options.%s (env:VARIABLE or file:/path)", partner_id,
                 kind_name, key);
        return -1;
    }
    if (!auth_is_reference(reference)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.%s must name the secret as env:VARIABLE or file:/path; "
                 "a secret is never written in the configuration itself",
                 partner_id, key);
        return -1;
    }
    buffer[0] = '\0';
    if (secret_read(reference, buffer, sizeof buffer, message, sizeof message) != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.%s: %s", partner_id, key, message);
        goto out;
    }
    /* The resolver reads a file's first line into the buffer, cutting what
     * does not fit: a full buffer may be a cut secret. */
    if (strlen(buffer) >= sizeof buffer - 1) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.%s: the secret %s is %zu bytes or longer", partner_id, key,
                 reference, sizeof buffer - 1);
        goto out;
    }
    if (!buffer[0]) {
        snprintf(errstr, errstr_size, "partner %s: options.%s: the secret %s is empty", partner_id,
                 key, reference);
        goto out;
    }
    *out = strdup(buffer);
    if (!*out) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(buffer, sizeof buffer);
    return rc;
}

/* "Name: value" as a new string; value may be a secret. */
static char *auth_header_line(const char *name, const char *prefix, const char *value)
{
    size_t size = strlen(name) + 2 + strlen(prefix) + strlen(value) + 1;
    char *line = malloc(size);
    if (line)
        snprintf(line, size, "%s: %s%s", name, prefix, value);
    return line;
}

/* Appends text to out (size out_size, holding *used bytes), form-urlencoded
 * (RFC 6749 appendix B). Returns 0, or -1 when it does not fit. */
static int auth_form_append(char *out, size_t out_size, size_t *used, const char *text)
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
static int auth_form_literal(char *out, size_t out_size, size_t *used, const char *text)
{
    size_t len = strlen(text);
    if (*used + len >= out_size)
        return -1;
    memcpy(out + *used, text, len + 1);
    *used += len;
    return 0;
}

/* ---- options ------------------------------------------------------------ */

static int auth_number(const char *partner_id, const struct placehub_options *options,
                       const char *key, long min, long max, long *out, char *errstr,
                       size_t errstr_size)
{
    const char *text = options->get(options, key);
    if (!text)
        return 0;
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (!*text || *end || errno != 0 || value < min || value > max) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.%s must be a whole number from %ld to %ld", partner_id, key,
                 min, max);
        return -1;
    }
    *out = value;
    return 0;
}

static int auth_copy_option(const struct placehub_options *options, const char *key, char **out,
                            char *errstr, size_t errstr_size)
{
    const char *text = options->get(options, key);
    *out = NULL;
    if (!text)
        return 0;
    *out = strdup(text);
    if (!*out) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

/* Checks the token URL and keeps its host for messages. https only: the
 * client secret travels in the request. Plain http is allowed to a loopback
 * address, where it never crosses a network (the tests, a local sidecar). */
static int auth_token_url_check(struct auth *auth, const char *url, char *errstr,
                                size_t errstr_size)
{
    int rc = -1;
    char *scheme = NULL, *host = NULL, *user = NULL;
    CURLU *parsed = curl_url();
    if (!parsed) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.auth_oauth2_token_url is not a URL (want "
                 "https://host/path)",
                 auth->partner_id);
        goto out;
    }
    if (curl_url_get(parsed, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.auth_oauth2_token_url must not carry credentials; use "
                 "auth_oauth2_client_id and auth_oauth2_client_secret",
                 auth->partner_id);
        goto out;
    }
    int loopback = strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                   strcmp(host, "[::1]") == 0;
    if (strcasecmp(scheme, "https") != 0 && !(strcasecmp(scheme, "http") == 0 && loopback)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.auth_oauth2_token_url must be an https:// URL (http:// "
                 "only to a loopback address): the client secret is sent to it",
                 auth->partner_id);
        goto out;
    }
    auth->token_host = strdup(host);
    if (!auth->token_host) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(parsed);
    return rc;
}

static int auth_oauth2_load(struct auth *auth, const struct placehub_options *options, char *errstr,
                            size_t errstr_size)
{
    const char *url = options->get(options, "auth_oauth2_token_url");
    if (!url) {
        snprintf(errstr, errstr_size,
                 "partner %s: auth: oauth2 needs options.auth_oauth2_token_url", auth->partner_id);
        return -1;
    }
    if (auth_token_url_check(auth, url, errstr, errstr_size) != 0)
        return -1;
    if (auth_copy_option(options, "auth_oauth2_token_url", &auth->token_url, errstr, errstr_size) !=
        0)
        return -1;

    /* The client id is no secret, but some keep it beside the secret. */
    const char *client_id = options->get(options, "auth_oauth2_client_id");
    if (!client_id || !*client_id) {
        snprintf(errstr, errstr_size,
                 "partner %s: auth: oauth2 needs options.auth_oauth2_client_id", auth->partner_id);
        return -1;
    }
    if (auth_is_reference(client_id)) {
        if (auth_secret(auth->partner_id, options, "auth_oauth2_client_id", "oauth2",
                        &auth->client_id, errstr, errstr_size) != 0)
            return -1;
    } else if (auth_copy_option(options, "auth_oauth2_client_id", &auth->client_id, errstr,
                                errstr_size) != 0) {
        return -1;
    }
    if (auth_secret(auth->partner_id, options, "auth_oauth2_client_secret", "oauth2",
                    &auth->client_secret, errstr, errstr_size) != 0)
        return -1;

    if (auth_copy_option(options, "auth_oauth2_scope", &auth->scope, errstr, errstr_size) != 0 ||
        auth_copy_option(options, "auth_oauth2_audience", &auth->audience, errstr, errstr_size) !=
            0 ||
        auth_copy_option(options, "auth_oauth2_tls_ca_file", &auth->ca_file, errstr, errstr_size) !=
            0)
        return -1;
    if (auth->ca_file && access(auth->ca_file, R_OK) != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.auth_oauth2_tls_ca_file %s: %s",
                 auth->partner_id, auth->ca_file, strerror(errno));
        return -1;
    }

    const char *client_auth = options->get(options, "auth_oauth2_client_auth");
    if (client_auth && strcmp(client_auth, "basic") != 0) {
        if (strcmp(client_auth, "post") != 0) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.auth_oauth2_client_auth must be basic (HTTP Basic, the "
                     "default) or post (in the form body)",
                     auth->partner_id);
            return -1;
        }
        auth->client_auth_post = 1;
    }
    auth->timeout_ms = 10000;
    return auth_number(auth->partner_id, options, "auth_oauth2_timeout_ms", 100, 600000,
                       &auth->timeout_ms, errstr, errstr_size);
}

/* auth: mtls adds no header; it makes a missing client certificate a
 * start-up error instead of a failure at the first delivery. */
static int auth_mtls_check(struct auth *auth, const struct placehub_options *options, char *errstr,
                           size_t errstr_size)
{
    static const char *const keys[] = {"tls_client_cert", "tls_client_key"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *path = options->get(options, keys[i]);
        if (!path) {
            snprintf(errstr, errstr_size,
                     "partner %s: auth: mtls needs options.tls_client_cert and "
                     "options.tls_client_key",
                     auth->partner_id);
            return -1;
        }
        if (access(path, R_OK) != 0) {
            snprintf(errstr, errstr_size, "partner %s: options.%s %s: %s", auth->partner_id,
                     keys[i], path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int auth_new(const char *partner_id, const struct placehub_options *options, struct auth **out,
             char *errstr, size_t errstr_size)
{
    char *secret = NULL;
    *out = NULL;
    struct auth *auth = calloc(1, sizeof *auth);
    if (!auth || !(auth->partner_id = strdup(partner_id))) {
        free(auth);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    pthread_mutex_init(&auth->lock, NULL);
    pthread_cond_init(&auth->fetch_done, NULL);

    const char *kind = options->get(options, "auth");
    auth->kind = AUTH_NONE;
    if (kind) {
        size_t i = 0;
        for (; i < sizeof auth_kind_names / sizeof auth_kind_names[0]; i++)
            if (strcmp(kind, auth_kind_names[i]) == 0)
                break;
        if (i == sizeof auth_kind_names / sizeof auth_kind_names[0]) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.auth must be none, bearer, api_key, oauth2 or mtls",
                     partner_id);
            goto fail;
        }
        auth->kind = (enum auth_kind)i;
    }
    for (size_t i = 0; i < sizeof auth_option_owners / sizeof auth_option_owners[0]; i++) {
        if (auth_option_owners[i].kind != auth->kind &&
            options->get(options, auth_option_owners[i].key)) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.%s does not apply to auth: %s (set auth: %s, or remove "
                     "it)",
                     partner_id, auth_option_owners[i].key, auth_kind_names[auth->kind],
                     auth_kind_names[auth_option_owners[i].kind]);
            goto fail;
        }
    }

    switch (auth->kind) {
    case AUTH_NONE:
        break;
    case AUTH_MTLS:
        if (auth_mtls_check(auth, options, errstr, errstr_size) != 0)
            goto fail;
        break;
    case AUTH_BEARER:
    case AUTH_API_KEY: {
        int bearer = auth->kind == AUTH_BEARER;
        const char *key = bearer ? "auth_token" : "auth_api_key";
        const char *name = bearer ? "Authorization" : options->get(options, "auth_api_key_header");
        if (!name)
            name = "X-API-Key";
        if (!auth_header_name_valid(name)) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.auth_api_key_header is not a valid header name",
                     partner_id);
            goto fail;
        }
        if (auth_secret(partner_id, options, key, auth_kind_names[auth->kind], &secret, errstr,
                        errstr_size) != 0)
            goto fail;
        if (!auth_header_safe(secret)) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.%s: the secret has characters that cannot stand in an "
                     "HTTP header (spaces, control characters or non-ASCII)",
                     partner_id, key);
            goto fail;
        }
        auth->fixed_header = auth_header_line(name, bearer ? "Bearer " : "", secret);
        if (!auth->fixed_header) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        break;
    }
    case AUTH_OAUTH2:
        if (auth_oauth2_load(auth, options, errstr, errstr_size) != 0)
            goto fail;
        break;
    }
    auth_free_secret(secret);
    *out = auth;
    return 0;
fail:
    auth_free_secret(secret);
    auth_destroy(auth);
    return -1;
}

/* ---- OAuth2 token fetch ------------------------------------------------- */

struct auth_response {
    char *data;
    size_t len;
    int too_large;
};

static size_t auth_collect(char *data, size_t size, size_t count, void *user)
{
    struct auth_response *response = user;
    size_t n = size * count;
    if (response->len + n > AUTH_RESPONSE_MAX) {
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
static void auth_error_code(const char *body, size_t len, char *code, size_t code_size)
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
static int auth_parse_token(const struct auth *auth, const char *body, size_t len, char **header,
                            long long *lifetime, char *errstr, size_t errstr_size)
{
    int rc = -1;
    json_t *json = json_loadb(body, len, 0, NULL);
    if (!json_is_object(json)) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered 200 without a JSON object",
                 auth->partner_id, auth->token_host);
        goto out;
    }
    const char *token = json_string_value(json_object_get(json, "access_token"));
    if (!token) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered without an access_token",
                 auth->partner_id, auth->token_host);
        goto out;
    }
    if (strlen(token) > AUTH_TOKEN_MAX || !auth_header_safe(token)) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s gave an access_token that is empty, "
                 "longer than %d bytes, or has characters that cannot stand in a header",
                 auth->partner_id, auth->token_host, AUTH_TOKEN_MAX);
        goto out;
    }
    /* token_type is required by RFC 6749, yet some servers leave it out;
     * what is refused is a type this client does not speak (mac, DPoP). */
    json_t *type = json_object_get(json, "token_type");
    if (type && !json_is_null(type) &&
        (!json_is_string(type) || strcasecmp(json_string_value(type), "bearer") != 0)) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s gave a token_type other than Bearer",
                 auth->partner_id, auth->token_host);
        goto out;
    }
    /* expires_in is "RECOMMENDED"; some servers send it as a string. */
    json_t *expires_in = json_object_get(json, "expires_in");
    *lifetime = AUTH_DEFAULT_LIFETIME_SECONDS;
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
                     auth->partner_id, auth->token_host);
            goto out;
        }
        *lifetime = seconds > AUTH_MAX_LIFETIME_SECONDS ? AUTH_MAX_LIFETIME_SECONDS : seconds;
    }
    *header = auth_header_line("Authorization", "Bearer ", token);
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
static void auth_free_buffer(char *buffer, size_t size)
{
    if (!buffer)
        return;
    explicit_bzero(buffer, size);
    free(buffer);
}

/* The token request's form body, as a new string of *size bytes (free with
 * auth_free_buffer: it may hold the client secret). NULL when out of memory. */
static char *auth_form(const struct auth *auth, size_t *size)
{
    size_t used = 0;
    /* Form-encoding writes at most three bytes per byte. */
    *size =
        128 +
        3 * ((auth->scope ? strlen(auth->scope) : 0) +
             (auth->audience ? strlen(auth->audience) : 0) +
             (auth->client_auth_post ? strlen(auth->client_id) + strlen(auth->client_secret) : 0));
    char *form = malloc(*size);
    if (!form)
        return NULL;
    form[0] = '\0';
    if (auth_form_literal(form, *size, &used, "grant_type=client_credentials") != 0 ||
        (auth->scope && (auth_form_literal(form, *size, &used, "&scope=") != 0 ||
                         auth_form_append(form, *size, &used, auth->scope) != 0)) ||
        (auth->audience && (auth_form_literal(form, *size, &used, "&audience=") != 0 ||
                            auth_form_append(form, *size, &used, auth->audience) != 0)) ||
        (auth->client_auth_post &&
         (auth_form_literal(form, *size, &used, "&client_id=") != 0 ||
          auth_form_append(form, *size, &used, auth->client_id) != 0 ||
          auth_form_literal(form, *size, &used, "&client_secret=") != 0 ||
          auth_form_append(form, *size, &used, auth->client_secret) != 0))) {
        auth_free_buffer(form, *size); /* cannot happen: the size covers the worst case */
        return NULL;
    }
    return form;
}

/* "Authorization: Basic base64(urlencoded id ":" urlencoded secret)", as
 * RFC 6749 section 2.3.1 has it, as a new string of *size bytes (free with
 * auth_free_buffer). NULL when out of memory. */
static char *auth_basic_header(const struct auth *auth, size_t *size)
{
    size_t used = 0;
    size_t credentials_size = 3 * (strlen(auth->client_id) + strlen(auth->client_secret)) + 2;
    char *credentials = malloc(credentials_size);
    char *line = NULL;
    *size = 0;
    if (!credentials)
        return NULL;
    if (auth_form_append(credentials, credentials_size, &used, auth->client_id) != 0 ||
        auth_form_literal(credentials, credentials_size, &used, ":") != 0 ||
        auth_form_append(credentials, credentials_size, &used, auth->client_secret) != 0)
        goto out;
    static const char prefix[] = "Authorization: Basic ";
    *size = sizeof prefix + 4 * ((used + 2) / 3) + 1;
    line = malloc(*size);
    if (!line)
        goto out;
    memcpy(line, prefix, sizeof prefix);
    if (connector_host()->base64_encode(credentials, used, line + sizeof prefix - 1,
                                        *size - (sizeof prefix - 1)) == 0) {
        auth_free_buffer(line, *size);
        line = NULL;
    }
out:
    auth_free_buffer(credentials, credentials_size);
    return line;
}

/* One request to the token endpoint, without the lock. Returns 0 with a new
 * *header and *lifetime (seconds), or -1 with errstr. */
static int auth_fetch(struct auth *auth, char **header, long long *lifetime, char *errstr,
                      size_t errstr_size)
{
    int rc = -1;
    CURL *easy = NULL;
    struct curl_slist *headers = NULL;
    char error[CURL_ERROR_SIZE] = "";
    char *basic = NULL, *form = NULL;
    size_t basic_size = 0, form_size = 0;
    struct auth_response response = {0};
    long status = 0;

    form = auth_form(auth, &form_size);
    if (!auth->client_auth_post)
        basic = auth_basic_header(auth, &basic_size);
    response.data = malloc(AUTH_RESPONSE_MAX + 1);
    easy = curl_easy_init();
    if (!form || (!auth->client_auth_post && !basic) || !response.data || !easy) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    response.data[0] = '\0';
    const char *const lines[] = {"Accept: application/json",
                                 "Content-Type: application/x-www-form-urlencoded", basic};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue; /* no Basic line: the credentials are in the form */
        struct curl_slist *appended = curl_slist_append(headers, lines[i]);
        if (!appended) {
            snprintf(errstr, errstr_size, "out of memory");
            goto out;
        }
        headers = appended;
    }

    curl_easy_setopt(easy, CURLOPT_URL, auth->token_url);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A redirect would take the client secret somewhere else. */
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    /* Verification is always on here: the partner's development flag
     * tls_insecure_skip_verify does not reach the token endpoint. */
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (auth->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, auth->ca_file);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     auth->timeout_ms < 5000 ? auth->timeout_ms : 5000L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, auth->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 10L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, auth_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "placehub/1");

    CURLcode code = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (response.too_large) {
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered HTTP %ld with more than %d bytes",
                 auth->partner_id, auth->token_host, status, AUTH_RESPONSE_MAX);
        goto out;
    }
    if (code != CURLE_OK) {
        snprintf(errstr, errstr_size, "partner %s: OAuth2 token endpoint %s: %s", auth->partner_id,
                 auth->token_host, error[0] ? error : curl_easy_strerror(code));
        goto out;
    }
    if (status != 200) {
        char oauth_error[80];
        auth_error_code(response.data, response.len, oauth_error, sizeof oauth_error);
        snprintf(errstr, errstr_size,
                 "partner %s: OAuth2 token endpoint %s answered HTTP %ld%s%s%s", auth->partner_id,
                 auth->token_host, status, oauth_error[0] ? " (" : "", oauth_error,
                 oauth_error[0] ? ")" : "");
        goto out;
    }
    if (auth_parse_token(auth, response.data, response.len, header, lifetime, errstr,
                         errstr_size) != 0)
        goto out;
    rc = 0;
out:
    /* Wipe what held the client secret or the token before it is freed. */
    for (struct curl_slist *item = headers; item; item = item->next)
        explicit_bzero(item->data, strlen(item->data));
    curl_slist_free_all(headers);
    if (easy)
        curl_easy_cleanup(easy);
    auth_free_buffer(basic, basic_size);
    auth_free_buffer(form, form_size);
    if (response.data) {
        explicit_bzero(response.data, response.len);
        free(response.data);
    }
    return rc;
}

/* Copies the cached header line out; under lock. */
static int auth_copy_header(const char *line, char *header, size_t header_size, char *errstr,
                            size_t errstr_size)
{
    size_t len = strlen(line);
    if (len >= header_size) {
        snprintf(errstr, errstr_size, "auth header buffer too small (%zu bytes for %zu)",
                 header_size, len + 1);
        return -1;
    }
    memcpy(header, line, len + 1);
    return 0;
}

/* Whether the cached token may still be sent (it has not expired, though it
 * may be due for refresh). Under lock. */
static int auth_token_usable(const struct auth *auth, int64_t now)
{
    return auth->token_header && now < auth->expires_at_ms;
}

static int auth_oauth2_header(struct auth *auth, char *header, size_t header_size, char *errstr,
                              size_t errstr_size)
{
    int rc = -1;
    pthread_mutex_lock(&auth->lock);
    for (;;) {
        int64_t now = clock_monotonic_ms();
        /* Fresh, or due for refresh while another caller refreshes it: the
         * current token serves without waiting. */
        if ((auth->token_header && now < auth->refresh_at_ms) ||
            (auth->fetching && auth_token_usable(auth, now))) {
            rc = auth_copy_header(auth->token_header, header, header_size, errstr, errstr_size);
            break;
        }
        if (auth->fetching) {
            /* No token to use: wait for the fetch under way and share its
             * result rather than sending the endpoint another request. */
            unsigned long round = auth->fetch_round;
            while (auth->fetching && auth->fetch_round == round)
                pthread_cond_wait(&auth->fetch_done, &auth->lock);
            if (auth->last_fetch_failed) {
                snprintf(errstr, errstr_size, "%s", auth->last_error);
                break;
            }
            continue; /* the new token, unless invalidated in the meantime */
        }

        auth->fetching = 1;
        pthread_mutex_unlock(&auth->lock);
        /* The lifetime counts from before the request: the server started
         * its clock no earlier than that. */
        int64_t started = clock_monotonic_ms();
        char *fresh = NULL;
        long long lifetime = 0;
        char message[512];
        int fetched = auth_fetch(auth, &fresh, &lifetime, message, sizeof message);
        pthread_mutex_lock(&auth->lock);
        auth->fetching = 0;
        auth->fetch_round++;
        now = clock_monotonic_ms();
        if (fetched == 0) {
            int64_t lifetime_ms = lifetime * 1000;
            int64_t margin = lifetime_ms / 10 < AUTH_REFRESH_MARGIN_MS ? lifetime_ms / 10
                                                                       : AUTH_REFRESH_MARGIN_MS;
            auth_free_secret(auth->token_header);
            auth->token_header = fresh;
            auth->expires_at_ms = started + lifetime_ms;
            auth->refresh_at_ms = auth->expires_at_ms - margin;
            auth->last_fetch_failed = 0;
            log_info("oauth2 token obtained partner=%s host=%s expires_in=%lld", auth->partner_id,
                     auth->token_host, lifetime);
            /* Used even if the fetch took so long that it is already due
             * for refresh: otherwise a slow endpoint would be asked again
             * and again. */
            rc = auth_copy_header(fresh, header, header_size, errstr, errstr_size);
        } else if (auth_token_usable(auth, now)) {
            /* The refresh started early enough for this: the current token
             * serves on, and the endpoint is asked again a little later. */
            auth->last_fetch_failed = 0;
            auth->refresh_at_ms = now + AUTH_REFRESH_RETRY_MS < auth->expires_at_ms
                                      ? now + AUTH_REFRESH_RETRY_MS
                                      : auth->expires_at_ms;
            log_warning("oauth2 token refresh failed; the current token serves for %lld s more "
                        "partner=%s: %s",
                        (long long)((auth->expires_at_ms - now) / 1000), auth->partner_id, message);
            rc = auth_copy_header(auth->token_header, header, header_size, errstr, errstr_size);
        } else {
            auth->last_fetch_failed = 1;
            snprintf(auth->last_error, sizeof auth->last_error, "%s", message);
            snprintf(errstr, errstr_size, "%s", message);
        }
        pthread_cond_broadcast(&auth->fetch_done);
        break;
    }
    pthread_mutex_unlock(&auth->lock);
    return rc;
}

int auth_header(struct auth *auth, char *header, size_t header_size, char *errstr,
                size_t errstr_size)
{
    if (header_size == 0) {
        snprintf(errstr, errstr_size, "auth header buffer too small");
        return -1;
    }
    header[0] = '\0';
    switch (auth->kind) {
    case AUTH_NONE:
    case AUTH_MTLS:
        return 0;
    case AUTH_BEARER:
    case AUTH_API_KEY:
        return auth_copy_header(auth->fixed_header, header, header_size, errstr, errstr_size);
    case AUTH_OAUTH2:
        return auth_oauth2_header(auth, header, header_size, errstr, errstr_size);
    }
    return 0;
}

void auth_invalidate(struct auth *auth)
{
    if (auth->kind != AUTH_OAUTH2)
        return;
    pthread_mutex_lock(&auth->lock);
    if (auth->token_header) {
        auth_free_secret(auth->token_header);
        auth->token_header = NULL;
        log_info("oauth2 token dropped after the partner refused it partner=%s", auth->partner_id);
    }
    pthread_mutex_unlock(&auth->lock);
}

void auth_destroy(struct auth *auth)
{
    if (!auth)
        return;
    free(auth->partner_id);
    auth_free_secret(auth->fixed_header);
    free(auth->token_url);
    free(auth->token_host);
    auth_free_secret(auth->client_id);
    auth_free_secret(auth->client_secret);
    free(auth->scope);
    free(auth->audience);
    free(auth->ca_file);
    auth_free_secret(auth->token_header);
    pthread_cond_destroy(&auth->fetch_done);
    pthread_mutex_destroy(&auth->lock);
    free(auth);
}

int auth_header_now(struct auth *auth, char *header, size_t header_size, char *errstr,
                    size_t errstr_size)
{
    return auth_header(auth, header, header_size, errstr, errstr_size);
}

void auth_set_notify(struct auth *auth, void (*ready)(void *opaque), void *opaque)
{
    (void)auth, (void)ready, (void)opaque;
}
