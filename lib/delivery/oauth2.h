/*
 * oauth2.h - internal to lib/delivery: one OAuth2 token request with the
 * client credentials grant (RFC 6749 section 4.4). auth.c reads the options
 * into a struct oauth2_settings; token_cache.c calls oauth2_fetch from its
 * refresh thread. Not for use outside lib/delivery.
 */
#ifndef PLACEHUB_OAUTH2_H
#define PLACEHUB_OAUTH2_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>

/* What auth_new read for auth: oauth2. Set once, read-only afterwards, so
 * the refresh thread reads it without a lock. */
struct oauth2_settings {
    const char *partner_id; /* borrowed from the struct auth */
    char *token_url;
    char *token_host; /* for messages and logs */
    char *client_id;
    char *client_secret;
    char *scope;          /* or NULL */
    char *audience;       /* or NULL */
    char *ca_file;        /* or NULL: the system CAs */
    int client_auth_post; /* credentials in the form body rather than HTTP Basic */
    long timeout_ms;
};

/* Frees what settings holds, wiping the client id and secret first. */
void oauth2_settings_clear(struct oauth2_settings *settings);

/* One request to the token endpoint, on multi (the caller's, with no other
 * transfer on it), so that another thread can end it early: it checks *stop
 * whenever libcurl returns, and curl_multi_wakeup(multi) makes that at once.
 * Verifies TLS, follows no redirect, reads at most 64 KiB, gives up after
 * settings->timeout_ms.
 *
 * Returns 0 with a new "Authorization: Bearer ..." line in *header (caller
 * frees it, wiping it first: it holds the token) and the token's lifetime in
 * seconds (1 to a year; 3600 when the answer has no expires_in); or -1 with
 * errstr naming the partner, the endpoint's host, the HTTP status and the
 * OAuth2 error code, never a secret or the token ("stopped" when *stop was
 * set). */
int oauth2_fetch(const struct oauth2_settings *settings, CURLM *multi, const atomic_int *stop,
                 char **header, long long *lifetime, char *errstr, size_t errstr_size);

/* 1 when text is visible ASCII only and not empty: what may stand in a
 * header value without quoting and can never end the header line early
 * (no CR, LF or other control byte). For tokens and fixed secrets alike. */
int oauth2_header_safe(const char *text);

#endif
