/*
 * partner_sim_auth.c - the simulated partner's authentication (off unless
 * asked for on the command line; docs/partner-sim.md): an OAuth2 token
 * endpoint for the client credentials grant at /_sim/oauth/token, and with
 * --require-auth the check that a partner request carries a token issued
 * here, the static bearer token or the API key. It exists to test
 * placehub's side (lib/delivery/auth.c), so it is strict where a real
 * server would be and no more. Tokens are guarded by oauth_lock and expire
 * on the monotonic clock.
 */
#include "partner_sim_internal.h"

#include "core/clock.h"
#include "core/log.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Percent-decodes len bytes of text (form encoding: '+' is a space) into out.
 * Returns 0, or -1 on a bad escape, a NUL byte or when out is too small. */
static int partner_sim_percent_decode(const char *text, size_t len, char *out, size_t out_size)
{
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            unsigned value = 0;
            if (i + 2 >= len)
                return -1;
            for (int k = 1; k <= 2; k++) {
                char h = text[i + (size_t)k];
                value <<= 4;
                if (h >= '0' && h <= '9')
                    value |= (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f')
                    value |= (unsigned)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                    value |= (unsigned)(h - 'A' + 10);
                else
                    return -1;
            }
            if (value == 0)
                return -1;
            c = (char)value;
            i += 2;
        }
        if (used + 1 >= out_size)
            return -1;
        out[used++] = c;
    }
    out[used] = '\0';
    return 0;
}

/* The value of name in a form-urlencoded body, decoded into out. Returns 1
 * when found, 0 when absent, -1 when malformed. */
static int partner_sim_form_value(const char *body, size_t body_len, const char *name, char *out,
                                  size_t out_size)
{
    size_t name_len = strlen(name);
    const char *end = body + body_len;
    for (const char *pair = body; pair < end;) {
        const char *amp = memchr(pair, '&', (size_t)(end - pair));
        const char *pair_end = amp ? amp : end;
        const char *equals = memchr(pair, '=', (size_t)(pair_end - pair));
        if (equals && (size_t)(equals - pair) == name_len && memcmp(pair, name, name_len) == 0)
            return partner_sim_percent_decode(equals + 1, (size_t)(pair_end - equals - 1), out,
                                              out_size) == 0
                       ? 1
                       : -1;
        pair = pair_end + 1;
    }
    return 0;
}

/* The client id and secret of an "Authorization: Basic" header (RFC 6749
 * section 2.3.1: each form-urlencoded, then joined by ':' and base64'd).
 * Returns 1 when given, 0 when the header is absent or another scheme, -1
 * when malformed. */
static int partner_sim_basic_credentials(const char *authorization, char *id, size_t id_size,
                                         char *secret, size_t secret_size)
{
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return 0;
    const char *encoded = authorization + 6;
    size_t len = strlen(encoded);
    unsigned char decoded[3 * PARTNER_SIM_CREDENTIAL_MAX / 4 + 4];
    if (len == 0 || len % 4 != 0 || len > PARTNER_SIM_CREDENTIAL_MAX)
        return -1;
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)encoded, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts padding as zero bytes. */
    if (encoded[len - 1] == '=')
        n--;
    if (encoded[len - 2] == '=')
        n--;
    const unsigned char *colon = memchr(decoded, ':', (size_t)n);
    if (!colon)
        return -1;
    size_t id_len = (size_t)(colon - decoded);
    if (partner_sim_percent_decode((const char *)decoded, id_len, id, id_size) != 0 ||
        partner_sim_percent_decode((const char *)colon + 1, (size_t)n - id_len - 1, secret,
                                   secret_size) != 0)
        return -1;
    return 1;
}

/* An OAuth2 error answer (RFC 6749 section 5.2). */
static void partner_sim_oauth_error(struct httpd_response *response, int status, const char *error,
                                    const char *description)
{
    httpd_response_json(response, status,
                        json_pack("{s:s,s:s}", "error", error, "error_description", description));
    httpd_response_header(response, "Cache-Control", "no-store");
    if (status == 401)
        httpd_response_header(response, "WWW-Authenticate", "Basic realm=\"partner-sim\"");
}

static void partner_sim_count_token(struct partner_sim *sim, bool issued)
{
    pthread_mutex_lock(&sim->store_lock);
    if (issued)
        sim->tokens_issued++;
    else
        sim->token_requests_refused++;
    pthread_mutex_unlock(&sim->store_lock);
}

/* Makes and remembers a token valid for ttl seconds. Returns 0 or -1. */
static int partner_sim_token_issue(struct partner_sim *sim, long ttl, char *token, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char random[16];
    if (RAND_bytes(random, sizeof random) != 1 || size < 4 + 2 * sizeof random + 1)
        return -1;
    memcpy(token, "sim-", 4);
    for (size_t i = 0; i < sizeof random; i++) {
        token[4 + 2 * i] = hex[random[i] >> 4];
        token[4 + 2 * i + 1] = hex[random[i] & 15];
    }
    token[4 + 2 * sizeof random] = '\0';

    struct partner_sim_token issued;
    snprintf(issued.value, sizeof issued.value, "%s", token);
    issued.expires_ms = clock_monotonic_ms() + (int64_t)ttl * 1000;
    pthread_mutex_lock(&sim->oauth_lock);
    if (sim->token_count == PARTNER_SIM_TOKENS_MAX) {
        sim->token_head = (sim->token_head + 1) % PARTNER_SIM_TOKENS_MAX;
        sim->token_count--;
    }
    sim->tokens[(sim->token_head + sim->token_count) % PARTNER_SIM_TOKENS_MAX] = issued;
    sim->token_count++;
    pthread_mutex_unlock(&sim->oauth_lock);
    return 0;
}

/* Whether token was issued here and has not expired or been revoked. */
static bool partner_sim_token_valid(struct partner_sim *sim, const char *token)
{
    bool valid = false;
    int64_t now_ms = clock_monotonic_ms();
    pthread_mutex_lock(&sim->oauth_lock);
    for (size_t i = 0; i < sim->token_count && sim->tokens; i++) {
        const struct partner_sim_token *held =
            &sim->tokens[(sim->token_head + i) % PARTNER_SIM_TOKENS_MAX];
        if (strcmp(held->value, token) == 0) {
            valid = now_ms < held->expires_ms;
            break;
        }
    }
    pthread_mutex_unlock(&sim->oauth_lock);
    return valid;
}

/* --require-auth: a token issued here, the static bearer token, or the API key. */
bool partner_sim_authorised(struct partner_sim *sim, const struct httpd_request *request)
{
    const struct partner_sim_options *options = sim->options;
    const char *authorization = httpd_request_header(request, "Authorization");
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *token = authorization + 7;
        if (options->bearer_token && strcmp(token, options->bearer_token) == 0)
            return true;
        if (options->oauth_client && partner_sim_token_valid(sim, token))
            return true;
    }
    const char *api_key = httpd_request_header(request, "X-API-Key");
    return options->api_key && api_key && strcmp(api_key, options->api_key) == 0;
}

/* POST /_sim/oauth/token: the client credentials grant (RFC 6749 section
 * 4.4), the client authenticated by HTTP Basic or by client_id and
 * client_secret in the form, never both. */
void partner_sim_handle_token(struct partner_sim *sim, const struct httpd_request *request,
                              struct httpd_response *response)
{
    const struct partner_sim_options *options = sim->options;
    char grant[64], form_id[PARTNER_SIM_CREDENTIAL_MAX], form_secret[PARTNER_SIM_CREDENTIAL_MAX];
    char basic_id[PARTNER_SIM_CREDENTIAL_MAX], basic_secret[PARTNER_SIM_CREDENTIAL_MAX];
    char scope[PARTNER_SIM_CREDENTIAL_MAX], token[PARTNER_SIM_TOKEN_SIZE];

    if (!options->oauth_client) {
        httpd_response_error(response, 404, "not_found", NULL,
                             "the token endpoint is off: start with --oauth-client ID:SECRET");
        return;
    }
    if (strcmp(request->method, "POST") != 0) {
        partner_sim_method_not_allowed(response, "POST");
        return;
    }
    const char *body = request->body;
    size_t len = request->body_len;
    int has_grant = partner_sim_form_value(body, len, "grant_type", grant, sizeof grant);
    int has_id = partner_sim_form_value(body, len, "client_id", form_id, sizeof form_id);
    int has_secret =
        partner_sim_form_value(body, len, "client_secret", form_secret, sizeof form_secret);
    int has_scope = partner_sim_form_value(body, len, "scope", scope, sizeof scope);
    int has_basic =
        partner_sim_basic_credentials(httpd_request_header(request, "Authorization"), basic_id,
                                      sizeof basic_id, basic_secret, sizeof basic_secret);
    if (has_grant < 0 || has_id < 0 || has_secret < 0 || has_scope < 0 || has_basic < 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "invalid_request",
                                "malformed form body or Authorization header");
        return;
    }
    if (has_grant == 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "invalid_request", "grant_type is missing");
        return;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "unsupported_grant_type",
                                "only client_credentials is supported");
        return;
    }
    if (has_basic && has_secret) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "invalid_request",
                                "the client authenticated twice (Basic and form)");
        return;
    }
    const char *id = has_basic ? basic_id : has_id ? form_id : NULL;
    const char *secret = has_basic ? basic_secret : has_secret ? form_secret : NULL;
    const char *colon = strchr(options->oauth_client, ':');
    size_t want_id_len = (size_t)(colon - options->oauth_client);
    if (!id || !secret || strlen(id) != want_id_len ||
        memcmp(id, options->oauth_client, want_id_len) != 0 || strcmp(secret, colon + 1) != 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 401, "invalid_client", "unknown client or wrong secret");
        return;
    }
    long ttl =
        options->oauth_ttl_seconds > 0 ? options->oauth_ttl_seconds : PARTNER_SIM_DEFAULT_OAUTH_TTL;
    if (partner_sim_token_issue(sim, ttl, token, sizeof token) != 0) {
        httpd_response_error(response, 500, "no_randomness", NULL, "cannot make a token");
        return;
    }
    partner_sim_count_token(sim, true);
    json_t *answer = json_pack("{s:s,s:s,s:I}", "access_token", token, "token_type", "Bearer",
                               "expires_in", (json_int_t)ttl);
    if (answer && has_scope)
        json_object_set_new(answer, "scope", json_string(scope));
    httpd_response_json(response, 200, answer);
    httpd_response_header(response, "Cache-Control", "no-store");
    log_debug("token issued expires_in=%ld", ttl);
}

/* DELETE /_sim/oauth/tokens: revokes every token issued, as a partner that
 * rotated its keys would; the next request with one is answered 401. */
void partner_sim_handle_tokens(struct partner_sim *sim, const struct httpd_request *request,
                               struct httpd_response *response)
{
    if (strcmp(request->method, "DELETE") != 0) {
        partner_sim_method_not_allowed(response, "DELETE");
        return;
    }
    pthread_mutex_lock(&sim->oauth_lock);
    size_t revoked = sim->token_count;
    sim->token_head = 0;
    sim->token_count = 0;
    pthread_mutex_unlock(&sim->oauth_lock);
    httpd_response_json(response, 200, json_pack("{s:I}", "revoked", (json_int_t)revoked));
}
