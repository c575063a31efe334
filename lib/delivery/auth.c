/*
 * auth.c - authentication to partners (see auth.h and docs/auth.md): the
 * auth_* options, the kinds, and the calls the delivery engines make.
 *
 * Static credentials (bearer token, API key) are resolved once at start-up
 * and kept as the finished header line. For OAuth2 this file only reads and
 * checks the options (struct oauth2_settings); the token request is
 * oauth2.c's, and the token is kept fresh by token_cache.c's refresh thread,
 * which the struct auth owns.
 *
 * IMPORTANT: secrets and tokens never reach a log line or an error message.
 * Messages name the partner, the option, the token endpoint's host, the HTTP
 * status and the OAuth2 error code. Buffers that held a secret are wiped
 * before they are freed.
 */
#include "delivery/auth.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/secret.h"
#include "delivery/oauth2.h"
#include "delivery/token_cache.h"

/* Secrets are read into a buffer of this size: a bearer token may be a JWT
 * of a few kilobytes. */
#define AUTH_SECRET_MAX 8192
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

    /* oauth2: the settings (read-only after auth_new) and the token, kept
     * fresh by the cache's refresh thread. */
    struct oauth2_settings oauth2;
    struct token_cache *tokens;
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
    auth->oauth2.token_host = strdup(host);
    if (!auth->oauth2.token_host) {
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
    if (auth_copy_option(options, "auth_oauth2_token_url", &auth->oauth2.token_url, errstr,
                         errstr_size) != 0)
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
                        &auth->oauth2.client_id, errstr, errstr_size) != 0)
            return -1;
    } else if (auth_copy_option(options, "auth_oauth2_client_id", &auth->oauth2.client_id, errstr,
                                errstr_size) != 0) {
        return -1;
    }
    if (auth_secret(auth->partner_id, options, "auth_oauth2_client_secret", "oauth2",
                    &auth->oauth2.client_secret, errstr, errstr_size) != 0)
        return -1;

    if (auth_copy_option(options, "auth_oauth2_scope", &auth->oauth2.scope, errstr, errstr_size) !=
            0 ||
        auth_copy_option(options, "auth_oauth2_audience", &auth->oauth2.audience, errstr,
                         errstr_size) != 0 ||
        auth_copy_option(options, "auth_oauth2_tls_ca_file", &auth->oauth2.ca_file, errstr,
                         errstr_size) != 0)
        return -1;
    if (auth->oauth2.ca_file && access(auth->oauth2.ca_file, R_OK) != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.auth_oauth2_tls_ca_file %s: %s",
                 auth->partner_id, auth->oauth2.ca_file, strerror(errno));
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
        auth->oauth2.client_auth_post = 1;
    }
    auth->oauth2.timeout_ms = 10000;
    return auth_number(auth->partner_id, options, "auth_oauth2_timeout_ms", 100, 600000,
                       &auth->oauth2.timeout_ms, errstr, errstr_size);
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
    auth->oauth2.partner_id = auth->partner_id;

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
        if (!oauth2_header_safe(secret)) {
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
        if (auth_oauth2_load(auth, options, errstr, errstr_size) != 0 ||
            token_cache_new(&auth->oauth2, &auth->tokens, errstr, errstr_size) != 0)
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

/* auth_header and auth_header_now, wait telling which. */
static int auth_header_answer(struct auth *auth, int wait, char *header, size_t header_size,
                              char *errstr, size_t errstr_size)
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
        return token_cache_copy_header(auth->fixed_header, header, header_size, errstr,
                                       errstr_size);
    case AUTH_OAUTH2:
        return wait
                   ? token_cache_header_wait(auth->tokens, header, header_size, errstr, errstr_size)
                   : token_cache_header_now(auth->tokens, header, header_size, errstr, errstr_size);
    }
    return 0;
}

int auth_header(struct auth *auth, char *header, size_t header_size, char *errstr,
                size_t errstr_size)
{
    return auth_header_answer(auth, 1, header, header_size, errstr, errstr_size);
}

int auth_header_now(struct auth *auth, char *header, size_t header_size, char *errstr,
                    size_t errstr_size)
{
    return auth_header_answer(auth, 0, header, header_size, errstr, errstr_size);
}

void auth_set_notify(struct auth *auth, void (*ready)(void *opaque), void *opaque)
{
    if (auth->kind == AUTH_OAUTH2)
        token_cache_set_notify(auth->tokens, ready, opaque);
}

void auth_invalidate(struct auth *auth)
{
    if (auth->kind == AUTH_OAUTH2)
        token_cache_invalidate(auth->tokens);
}

void auth_destroy(struct auth *auth)
{
    if (!auth)
        return;
    /* The thread first: it reads the settings. */
    token_cache_destroy(auth->tokens);
    oauth2_settings_clear(&auth->oauth2);
    auth_free_secret(auth->fixed_header);
    free(auth->partner_id);
    free(auth);
}
