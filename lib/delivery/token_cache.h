/*
 * token_cache.h - internal to lib/delivery: one partner's OAuth2 token,
 * kept fresh by a refresh thread of its own so that no delivery waits for
 * the token endpoint while a valid token exists (docs/auth.md). auth.c is
 * its only user; the contracts callers see are auth.h's.
 */
#ifndef PLACEHUB_TOKEN_CACHE_H
#define PLACEHUB_TOKEN_CACHE_H

#include <stddef.h>

#include "delivery/oauth2.h"

struct token_cache;

/* Starts the refresh thread, idle until the first token_cache_header_now,
 * token_cache_header_wait or token_cache_invalidate: nothing is fetched
 * before (a dry run that never delivers never contacts the endpoint).
 * settings is borrowed and must outlive the cache. Returns 0 with *cache,
 * or -1 with errstr. */
int token_cache_new(const struct oauth2_settings *settings, struct token_cache **cache,
                    char *errstr, size_t errstr_size);

/* auth_header_now for oauth2: 0, AUTH_PENDING or -1 (auth.h). Never waits
 * for the network. */
int token_cache_header_now(struct token_cache *cache, char *header, size_t header_size,
                           char *errstr, size_t errstr_size);

/* auth_header for oauth2: answers at once from a valid token, otherwise
 * asks for a fetch at once (skipping the backoff) and waits for it, at most
 * settings->timeout_ms plus a margin. 0 or -1 with errstr. */
int token_cache_header_wait(struct token_cache *cache, char *header, size_t header_size,
                            char *errstr, size_t errstr_size);

/* Drops the token, if one is held, and asks for a fetch at once. */
void token_cache_invalidate(struct token_cache *cache);

/* See auth_set_notify. */
void token_cache_set_notify(struct token_cache *cache, void (*ready)(void *opaque), void *opaque);

/* Stops the thread (ending a fetch under way within milliseconds), wipes
 * the token and frees cache. No other call on cache may be in progress.
 * NULL is ignored. */
void token_cache_destroy(struct token_cache *cache);

/* Copies the header line line into header (header_size bytes). Returns 0,
 * or -1 with errstr when it does not fit (the line itself is never put in
 * a message: it holds a credential). */
int token_cache_copy_header(const char *line, char *header, size_t header_size, char *errstr,
                            size_t errstr_size);

#endif
