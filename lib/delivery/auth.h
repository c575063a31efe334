/*
 * auth.h - how placehub-dispatch proves who it is to a partner's API: a
 * static bearer token, an API key header, or an OAuth2 access token obtained
 * with the client credentials grant (docs/auth.md). Mutual TLS is the
 * transport's business (lib/delivery/transfer.h: tls_client_cert, tls_client_key,
 * tls_ca_file); `auth: mtls` only checks at start-up that it is configured.
 *
 * Secrets are named in the configuration, never written there: "env:NAME" or
 * "file:/path" (the host's secret resolver, placehub_host.secret). Neither
 * secrets nor tokens are ever logged or put in an error message.
 *
 * Thread safety: every function but auth_new and auth_destroy may be called
 * from several threads at once on one struct auth.
 */
#ifndef PLACEHUB_AUTH_H
#define PLACEHUB_AUTH_H

#include <stddef.h>
#include "placehub/connector.h"

/* A header buffer of this size always fits what auth_header writes (access
 * tokens longer than AUTH_TOKEN_MAX are refused). */
#define AUTH_TOKEN_MAX 16384
#define AUTH_HEADER_MAX (AUTH_TOKEN_MAX + 256)

struct auth;

/* Reads the partner's auth options (all documented in docs/auth.md):
 *   auth: none | bearer | api_key | oauth2 | mtls          (default none)
 *   auth_token: env:NAME | file:/path                       (bearer)
 *   auth_api_key: env:... | file:...                        (api_key)
 *   auth_api_key_header: NAME                               (default X-API-Key)
 *   auth_oauth2_token_url: https://...   (http:// to a loopback address only)
 *   auth_oauth2_client_id: the id, or env:/file:
 *   auth_oauth2_client_secret: env:/file:
 *   auth_oauth2_scope, auth_oauth2_audience                 (optional)
 *   auth_oauth2_client_auth: basic | post                   (default basic)
 *   auth_oauth2_tls_ca_file: /path                          (default: system CAs)
 *   auth_oauth2_timeout_ms: 100..600000                     (default 10000)
 * options->get is called only during this call (values are copied).
 * Refuses an inline secret (a value not starting env: or file:), an unknown
 * auth kind and auth_* options that do not belong to the chosen kind, with a
 * message naming the option. Resolves the secrets now, so a missing
 * environment variable or file fails at start-up. For oauth2, no token is
 * fetched yet: the first auth_header does it.
 * libcurl must have been initialised (curl_global_init) before.
 * Returns 0 with *auth (free with auth_destroy), or -1 with errstr. */
int auth_new(const char *partner_id, const struct placehub_options *options, struct auth **auth,
             char *errstr, size_t errstr_size);

/* Writes into header the complete header line to add to a request
 * ("Authorization: Bearer ...", "X-API-Key: ..."), without a line end, or ""
 * when the partner needs none (none, mtls). A buffer of AUTH_HEADER_MAX bytes
 * always suffices.
 *
 * oauth2: answers from the cached token while it has more than 60 s, or 10%
 * of its lifetime when that is shorter, left to live; otherwise fetches a new
 * one from the token endpoint. One fetch at a time: callers without a usable
 * token wait for the fetch under way and share its result, success or
 * failure; callers arriving during a refresh go on with the current token
 * while it has not expired. A failed refresh while the current token lives
 * is logged (warning) and the current token serves on; the endpoint is asked
 * again 5 s later. The fetch verifies TLS, has connect, total and low-speed
 * timeouts, follows no redirect, reads at most 64 KiB of answer and honours
 * expires_in (3600 s when absent). It may block for auth_oauth2_timeout_ms.
 *
 * Returns 0, or -1 with errstr (no usable token and the token endpoint
 * failed, or header_size is too small). A failed fetch is a passing failure:
 * retry the delivery later with the usual backoff; auth_header then asks the
 * endpoint again. The message names the partner, the endpoint's host, the
 * HTTP status and the OAuth2 error code, never a secret; logging it is the
 * caller's. Tokens obtained are logged (info) with partner, host, expiry. */
int auth_header(struct auth *auth, char *header, size_t header_size, char *errstr,
                size_t errstr_size);

/* INTERIM (replaced by the background refresh): answers like auth_header. */
#define AUTH_PENDING 1
int auth_header_now(struct auth *auth, char *header, size_t header_size, char *errstr,
                    size_t errstr_size);
void auth_set_notify(struct auth *auth, void (*ready)(void *opaque), void *opaque);

/* Forgets the cached oauth2 token, so the next auth_header fetches a fresh
 * one: call it when the partner answered 401 to a request that carried the
 * token (the partner may have revoked it early). Does nothing for the other
 * kinds, whose credentials do not change while running. */
void auth_invalidate(struct auth *auth);

/* Frees auth, wiping the secrets it held. No other call on auth may be in
 * progress. NULL is ignored. */
void auth_destroy(struct auth *auth);

#endif
