/*
 * options.c - the host's own option keys (see options.h), in one table so
 * that the check of a partner's options (connector_options_check) and the
 * documentation (docs/connectors.md, "Configuring") have one list to follow.
 * Each entry says where the key is read; the reader, not this table, checks
 * the value's meaning (ranges, combinations).
 */
#include "delivery/options.h"

#include <string.h>

static const struct placehub_option options_host_table[] = {
    /* lib/delivery/transfer.c, transfer_settings_load (and transfer_setup,
     * when a request leaves url NULL). Connectors that need it declare it
     * required. */
    {"url", PLACEHUB_OPTION_URL, 0, 0, "where requests go (http(s):// or smtp(s)://)"},
    /* transfer.c, transfer_settings_load */
    {"connect_timeout_ms", PLACEHUB_OPTION_INTEGER, 0, 0,
     "milliseconds to wait for a connection (default 5000)"},
    /* transfer.c, transfer_settings_load */
    {"timeout_ms", PLACEHUB_OPTION_INTEGER, 0, 0,
     "milliseconds a whole request may take (default 10000)"},
    /* transfer.c, transfer_settings_load */
    {"low_speed_bytes", PLACEHUB_OPTION_INTEGER, 0, 0,
     "bytes a second below which a transfer is slow (default 1; 0: never)"},
    /* transfer.c, transfer_settings_load */
    {"low_speed_seconds", PLACEHUB_OPTION_INTEGER, 0, 0,
     "seconds a transfer may stay slow before it is aborted (default 10)"},
    /* transfer.c, transfer_settings_load */
    {"max_response_bytes", PLACEHUB_OPTION_INTEGER, 0, 0,
     "bytes of an answer kept (default 65536)"},
    /* transfer.c, transfer_settings_load */
    {"tls_ca_file", PLACEHUB_OPTION_STRING, 0, 0, "CA bundle to verify the partner with"},
    /* transfer.c, transfer_settings_load; lib/delivery/auth.c (auth: mtls) */
    {"tls_client_cert", PLACEHUB_OPTION_STRING, 0, 0, "client certificate file (mutual TLS)"},
    /* transfer.c, transfer_settings_load; auth.c (auth: mtls). A path to a
     * key file, not the key: not a secret reference. */
    {"tls_client_key", PLACEHUB_OPTION_STRING, 0, 0, "client key file (mutual TLS)"},
    /* transfer.c, transfer_settings_load */
    {"tls_insecure_skip_verify", PLACEHUB_OPTION_BOOLEAN, 0, 0,
     "development only: do not verify the partner's certificate"},

    /* lib/delivery/auth.c, auth_new */
    {"auth", PLACEHUB_OPTION_STRING, 0, 0, "none, bearer, api_key, oauth2 or mtls"},
    /* auth.c, auth_new (auth: bearer) */
    {"auth_token", PLACEHUB_OPTION_SECRET_REFERENCE, 0, 1, "the bearer token"},
    /* auth.c, auth_new (auth: api_key) */
    {"auth_api_key", PLACEHUB_OPTION_SECRET_REFERENCE, 0, 1, "the API key"},
    /* auth.c, auth_new (auth: api_key) */
    {"auth_api_key_header", PLACEHUB_OPTION_STRING, 0, 0,
     "header carrying the API key (default X-API-Key)"},
    /* auth.c, the OAuth2 set-up (auth: oauth2) */
    {"auth_oauth2_token_url", PLACEHUB_OPTION_URL, 0, 0, "OAuth2 token endpoint"},
    /* auth.c: given inline or as a reference, so not declared secret */
    {"auth_oauth2_client_id", PLACEHUB_OPTION_STRING, 0, 0, "OAuth2 client id"},
    /* auth.c, the OAuth2 set-up */
    {"auth_oauth2_client_secret", PLACEHUB_OPTION_SECRET_REFERENCE, 0, 1, "OAuth2 client secret"},
    /* auth.c, the OAuth2 set-up */
    {"auth_oauth2_scope", PLACEHUB_OPTION_STRING, 0, 0, "OAuth2 scope"},
    /* auth.c, the OAuth2 set-up */
    {"auth_oauth2_audience", PLACEHUB_OPTION_STRING, 0, 0, "OAuth2 audience"},
    /* auth.c, the OAuth2 set-up */
    {"auth_oauth2_client_auth", PLACEHUB_OPTION_STRING, 0, 0,
     "how the client authenticates to the token endpoint"},
    /* auth.c, the OAuth2 set-up */
    {"auth_oauth2_tls_ca_file", PLACEHUB_OPTION_STRING, 0, 0, "CA bundle for the token endpoint"},
    /* auth.c, the OAuth2 set-up */
    {"auth_oauth2_timeout_ms", PLACEHUB_OPTION_INTEGER, 0, 0,
     "milliseconds a token request may take"},

    /* services/dispatch/partner.c, partner set-up */
    {"max_in_flight", PLACEHUB_OPTION_INTEGER, 0, 0,
     "requests to this partner at once (default dispatch.max_in_flight)"},
    {0},
};

const struct placehub_option *options_host(void)
{
    return options_host_table;
}

const struct placehub_option *options_find(const struct placehub_option *list, const char *name)
{
    for (; list && list->name; list++)
        if (strcmp(list->name, name) == 0)
            return list;
    return NULL;
}
