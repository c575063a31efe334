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
 * Threads: an oauth2 struct auth owns a refresh thread that fetches and
 * refreshes its token in the background (docs/auth.md); the other kinds
 * have none. Every function but auth_new and auth_destroy may be called
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

/* auth_header_now: no valid token yet, a fetch is under way (positive, so
 * a caller testing for != 0 still sends nothing). */
#define AUTH_PENDING 1

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
 * environment variable or file fails at start-up. For oauth2, starts the
 * refresh thread, idle until the first auth_header, auth_header_now or
 * auth_invalidate: auth_new does not contact the token endpoint (a delivery
 * host that wants the token ready before the first event calls
 * auth_header_now once at start and ignores the AUTH_PENDING).
 * libcurl must have been initialised (curl_global_init) before.
 * Returns 0 with *auth (free with auth_destroy), or -1 with errstr. */
int auth_new(const char *partner_id, const struct placehub_options *options, struct auth **auth,
             char *errstr, size_t errstr_size);

/* The blocking call, for callers outside an event loop (placehub-ctl
 * redeliver, the connector test kit). Writes into header the complete
 * header line to add to a request ("Authorization: Bearer ...", "X-API-Key:
 * ..."), without a line end, or "" when the partner needs none (none,
 * mtls). A buffer of AUTH_HEADER_MAX bytes always suffices.
 *
 * oauth2: answers at once from a valid (unexpired) token, even one due for
 * refresh. Only when there is none does it wait, at most
 * auth_oauth2_timeout_ms plus 2 s: for the fetch under way, sharing its
 * result (success or failure), or else for a fetch it asks for at once,
 * skipping the refresh thread's backoff. The fetch verifies TLS, has
 * connect, total and low-speed timeouts, follows no redirect, reads at most
 * 64 KiB of answer and honours expires_in (3600 s when absent).
 *
 * Returns 0, or -1 with errstr (no valid token and the fetch failed, or
 * header_size is too small). A failed fetch is a passing failure: retry
 * the delivery later with the usual backoff. The message names the
 * partner, the endpoint's host, the HTTP status and the OAuth2 error code,
 * never a secret; logging it is the caller's. */
int auth_header(struct auth *auth, char *header, size_t header_size, char *errstr,
                size_t errstr_size);

/* The non-blocking call, for event loops: it never waits for the network
 * (it may take a mutex for a moment). Writes header as auth_header does.
 * Returns
 *   0             header written ("" for kinds needing none);
 *   AUTH_PENDING  oauth2 with no valid token yet and a fetch under way (or
 *                 about to start: the first call starts the first fetch);
 *                 retry when the auth_set_notify function is called;
 *   -1            errstr: header_size too small, or no valid token and the
 *                 last fetch failed; the refresh thread tries again after
 *                 its backoff (5 s doubling to 60 s) and notifies. A
 *                 passing failure, message as for auth_header.
 * A valid token is always answered from at once, also while its refresh
 * is under way or failing. */
int auth_header_now(struct auth *auth, char *header, size_t header_size, char *errstr,
                    size_t errstr_size);

/* Sets the function called each time an oauth2 token fetch ends, success
 * or failure, so that an event loop waiting on AUTH_PENDING (or holding
 * deliveries after a -1) can wake and call auth_header_now again; e.g. a
 * function calling curl_multi_wakeup. ready runs on the refresh thread,
 * not the caller's: it must not block, must not call auth_set_notify or
 * auth_destroy, and may call auth_header_now. NULL ready stops the calls.
 * When auth_set_notify returns, the previous function is not running and
 * is not called again; opaque is borrowed until then (or until
 * auth_destroy). Never called for the other kinds, which fetch nothing. */
void auth_set_notify(struct auth *auth, void (*ready)(void *opaque), void *opaque);

/* Forgets the cached oauth2 token and has the refresh thread fetch a new
 * one at once: call it when the partner answered 401 to a request that
 * carried the token (the partner may have revoked it early). With no token
 * cached (already dropped, or a fetch under way), does nothing. Does
 * nothing for the other kinds, whose credentials do not change while
 * running. */
void auth_invalidate(struct auth *auth);

/* Stops the refresh thread (a fetch under way is ended within
 * milliseconds, not waited for), then frees auth, wiping the secrets and
 * the token it held. No other call on auth may be in progress. NULL is
 * ignored. */
void auth_destroy(struct auth *auth);

#endif
