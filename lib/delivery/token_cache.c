/*
 * token_cache.c - one partner's OAuth2 token, fetched and refreshed by a
 * thread of its own (see token_cache.h, docs/auth.md).
 *
 * The refresh thread sleeps until next_fetch_ms, fetches with oauth2_fetch
 * (the lock released), installs the result and calls the notify function.
 * Callers never fetch: they read the token under the lock, move
 * next_fetch_ms to now to ask for a fetch, and (auth_header only) wait on
 * fetch_done for a fetch to end. So there is one fetch at a time, a burst
 * of callers costs the endpoint one request, and a caller holding a valid
 * token never waits for the network.
 *
 * Refresh rule: a token is refreshed when it has less than max(60 s, 10% of
 * its lifetime) left, but not before half its lifetime, so a short-lived
 * token is not fetched again at once. After a failure the next attempt comes
 * 5 s later, doubling to 60 s (while a token lives, no later than its
 * expiry); a caller of auth_header or auth_invalidate skips the wait.
 *
 * IMPORTANT: the token is wiped before it is freed and never logged.
 * Lock order: notify_lock is never taken with lock held.
 */
#include "delivery/token_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "delivery/auth.h"

#define TOKEN_CACHE_MARGIN_MS 60000
#define TOKEN_CACHE_RETRY_MS 5000
#define TOKEN_CACHE_RETRY_MAX_MS 60000
/* The soonest a new token is refreshed: a token endpoint handing out very
 * short lifetimes is asked at most twice a second. */
#define TOKEN_CACHE_REFRESH_FLOOR_MS 500
/* auth_header waits for timeout_ms plus this much: the fetch may start a
 * little after the caller asked for it. */
#define TOKEN_CACHE_WAIT_MARGIN_MS 2000
#define TOKEN_CACHE_NEVER INT64_MAX

struct token_cache {
    const struct oauth2_settings *settings; /* borrowed, read-only */
    CURLM *multi;                           /* the refresh thread's only */
    pthread_t thread;
    atomic_int stop; /* set by destroy: the thread ends, a fetch aborts */

    pthread_mutex_t lock;      /* guards what follows */
    pthread_cond_t wake;       /* the refresh thread waits on it */
    pthread_cond_t fetch_done; /* callers of auth_header wait on it */
    int in_use;                /* a caller asked for a token: fetching began */
    int fetching;
    unsigned long fetch_round; /* fetches ended, to tell waiters theirs did */
    int64_t next_fetch_ms;     /* monotonic; TOKEN_CACHE_NEVER: none planned */
    int failures;              /* fetches failed in a row */
    int last_failed;
    char last_error[512];
    char *token_header;    /* "Authorization: Bearer ..." or NULL */
    int64_t expires_at_ms; /* monotonic */

    pthread_mutex_t notify_lock; /* held while ready runs */
    void (*ready)(void *opaque);
    void *opaque;
};

static void token_cache_free_token(struct token_cache *cache)
{
    if (cache->token_header) {
        explicit_bzero(cache->token_header, strlen(cache->token_header));
        free(cache->token_header);
        cache->token_header = NULL;
    }
}

/* Under lock. */
static int token_cache_valid(const struct token_cache *cache, int64_t now)
{
    return cache->token_header && now < cache->expires_at_ms;
}

/* Asks the refresh thread for a fetch at once; under lock. */
static void token_cache_ask(struct token_cache *cache)
{
    cache->in_use = 1;
    if (!cache->fetching) {
        cache->next_fetch_ms = clock_monotonic_ms();
        pthread_cond_signal(&cache->wake);
    }
}

/* Waits on cond until signalled or the monotonic deadline passed. */
static void token_cache_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t deadline_ms)
{
    if (deadline_ms == TOKEN_CACHE_NEVER) {
        pthread_cond_wait(cond, lock);
        return;
    }
    struct timespec until = {.tv_sec = (time_t)(deadline_ms / 1000),
                             .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
    pthread_cond_timedwait(cond, lock, &until);
}

int token_cache_copy_header(const char *line, char *header, size_t header_size, char *errstr,
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

/* ---- the refresh thread ----------------------------------------------- */

static int64_t token_cache_backoff(int failures)
{
    int64_t delay = TOKEN_CACHE_RETRY_MS;
    for (int i = 1; i < failures && delay < TOKEN_CACHE_RETRY_MAX_MS; i++)
        delay *= 2;
    return delay < TOKEN_CACHE_RETRY_MAX_MS ? delay : TOKEN_CACHE_RETRY_MAX_MS;
}

/* Takes a new token (header, taken over) fetched from started; under lock. */
static void token_cache_take(struct token_cache *cache, char *header, long long lifetime,
                             int64_t started, int64_t now)
{
    int64_t lifetime_ms = (int64_t)lifetime * 1000;
    int64_t margin =
        lifetime_ms / 10 > TOKEN_CACHE_MARGIN_MS ? lifetime_ms / 10 : TOKEN_CACHE_MARGIN_MS;
    if (margin > lifetime_ms / 2)
        margin = lifetime_ms / 2;
    token_cache_free_token(cache);
    cache->token_header = header;
    /* The lifetime counts from before the request: the server started its
     * clock no earlier than that. */
    cache->expires_at_ms = started + lifetime_ms;
    cache->next_fetch_ms = cache->expires_at_ms - margin;
    if (cache->next_fetch_ms < now + TOKEN_CACHE_REFRESH_FLOOR_MS)
        cache->next_fetch_ms = now + TOKEN_CACHE_REFRESH_FLOOR_MS;
    cache->failures = 0;
    cache->last_failed = 0;
    cache->last_error[0] = '\0';
    log_info("oauth2 token obtained partner=%s host=%s expires_in=%lld refresh_in_ms=%lld",
             cache->settings->partner_id, cache->settings->token_host, lifetime,
             (long long)(cache->next_fetch_ms - now));
}

/* Records a failed fetch and plans the next; under lock. */
static void token_cache_failed(struct token_cache *cache, const char *message, int64_t now)
{
    cache->failures++;
    cache->last_failed = 1;
    snprintf(cache->last_error, sizeof cache->last_error, "%s", message);
    int64_t delay = token_cache_backoff(cache->failures);
    if (token_cache_valid(cache, now)) {
        /* The refresh started early enough for this: the current token
         * serves on, and the endpoint is asked again a little later. */
        cache->next_fetch_ms =
            now + delay < cache->expires_at_ms ? now + delay : cache->expires_at_ms;
        log_warning("oauth2 token refresh failed; the current token serves for %lld s more "
                    "partner=%s: %s",
                    (long long)((cache->expires_at_ms - now) / 1000), cache->settings->partner_id,
                    message);
    } else {
        cache->next_fetch_ms = now + delay;
        log_warning("oauth2 token fetch failed; next attempt in %lld ms partner=%s: %s",
                    (long long)delay, cache->settings->partner_id, message);
    }
}

/* IMPORTANT: called without lock, so that ready may call auth_header_now. */
static void token_cache_notify(struct token_cache *cache)
{
    pthread_mutex_lock(&cache->notify_lock);
    if (cache->ready)
        cache->ready(cache->opaque);
    pthread_mutex_unlock(&cache->notify_lock);
}

static void *token_cache_run(void *argument)
{
    struct token_cache *cache = argument;
    pthread_mutex_lock(&cache->lock);
    while (!atomic_load(&cache->stop)) {
        int64_t now = clock_monotonic_ms();
        if (cache->next_fetch_ms > now) {
            token_cache_wait(&cache->wake, &cache->lock, cache->next_fetch_ms);
            continue;
        }
        cache->fetching = 1;
        cache->next_fetch_ms = TOKEN_CACHE_NEVER;
        pthread_mutex_unlock(&cache->lock);

        int64_t started = clock_monotonic_ms();
        char *fresh = NULL;
        long long lifetime = 0;
        char message[512];
        int fetched = oauth2_fetch(cache->settings, cache->multi, &cache->stop, &fresh, &lifetime,
                                   message, sizeof message);

        pthread_mutex_lock(&cache->lock);
        cache->fetching = 0;
        cache->fetch_round++;
        if (atomic_load(&cache->stop)) {
            if (fresh) {
                explicit_bzero(fresh, strlen(fresh));
                free(fresh);
            }
            break;
        }
        now = clock_monotonic_ms();
        if (fetched == 0)
            token_cache_take(cache, fresh, lifetime, started, now);
        else
            token_cache_failed(cache, message, now);
        pthread_cond_broadcast(&cache->fetch_done);
        pthread_mutex_unlock(&cache->lock);
        token_cache_notify(cache);
        pthread_mutex_lock(&cache->lock);
    }
    pthread_mutex_unlock(&cache->lock);
    return NULL;
}

/* ---- callers -------------------------------------------------------------- */

int token_cache_new(const struct oauth2_settings *settings, struct token_cache **out, char *errstr,
                    size_t errstr_size)
{
    *out = NULL;
    struct token_cache *cache = calloc(1, sizeof *cache);
    if (!cache || !(cache->multi = curl_multi_init())) {
        free(cache);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    cache->settings = settings;
    cache->next_fetch_ms = TOKEN_CACHE_NEVER;
    atomic_init(&cache->stop, 0);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_mutex_init(&cache->lock, NULL);
    pthread_mutex_init(&cache->notify_lock, NULL);
    pthread_cond_init(&cache->wake, &monotonic);
    pthread_cond_init(&cache->fetch_done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    int error = pthread_create(&cache->thread, NULL, token_cache_run, cache);
    if (error != 0) {
        snprintf(errstr, errstr_size, "partner %s: cannot start the OAuth2 refresh thread: %s",
                 settings->partner_id, strerror(error));
        pthread_cond_destroy(&cache->fetch_done);
        pthread_cond_destroy(&cache->wake);
        pthread_mutex_destroy(&cache->notify_lock);
        pthread_mutex_destroy(&cache->lock);
        curl_multi_cleanup(cache->multi);
        free(cache);
        return -1;
    }
    *out = cache;
    return 0;
}

int token_cache_header_now(struct token_cache *cache, char *header, size_t header_size,
                           char *errstr, size_t errstr_size)
{
    int rc = AUTH_PENDING;
    pthread_mutex_lock(&cache->lock);
    int64_t now = clock_monotonic_ms();
    if (!cache->in_use)
        token_cache_ask(cache);
    if (token_cache_valid(cache, now)) {
        rc = token_cache_copy_header(cache->token_header, header, header_size, errstr, errstr_size);
    } else if (cache->last_failed && !cache->fetching && cache->next_fetch_ms > now) {
        /* Waiting out the backoff: the failure stands until the next
         * attempt, whose end the notify function hears of. */
        snprintf(errstr, errstr_size, "%s", cache->last_error);
        rc = -1;
    }
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

int token_cache_header_wait(struct token_cache *cache, char *header, size_t header_size,
                            char *errstr, size_t errstr_size)
{
    int rc = -1;
    pthread_mutex_lock(&cache->lock);
    int64_t deadline =
        clock_monotonic_ms() + cache->settings->timeout_ms + TOKEN_CACHE_WAIT_MARGIN_MS;
    for (;;) {
        int64_t now = clock_monotonic_ms();
        if (token_cache_valid(cache, now)) {
            rc = token_cache_copy_header(cache->token_header, header, header_size, errstr,
                                         errstr_size);
            break;
        }
        if (now >= deadline) {
            snprintf(errstr, errstr_size,
                     "partner %s: OAuth2 token endpoint %s: no token within %ld ms",
                     cache->settings->partner_id, cache->settings->token_host,
                     cache->settings->timeout_ms + TOKEN_CACHE_WAIT_MARGIN_MS);
            break;
        }
        /* No fetch under way: ask for one now rather than after the
         * backoff. A fetch under way: share its result, success or failure,
         * rather than sending the endpoint another request. */
        token_cache_ask(cache);
        unsigned long round = cache->fetch_round;
        while (cache->fetch_round == round && clock_monotonic_ms() < deadline)
            token_cache_wait(&cache->fetch_done, &cache->lock, deadline);
        if (cache->fetch_round != round && !token_cache_valid(cache, clock_monotonic_ms()) &&
            cache->last_failed) {
            snprintf(errstr, errstr_size, "%s", cache->last_error);
            break;
        }
        /* Otherwise the new token, unless invalidated in the meantime. */
    }
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

void token_cache_invalidate(struct token_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    if (cache->token_header) {
        token_cache_free_token(cache);
        log_info("oauth2 token dropped after the partner refused it partner=%s",
                 cache->settings->partner_id);
        /* A fetch under way brings a token obtained after this one: no
         * need for another. */
        token_cache_ask(cache);
    }
    pthread_mutex_unlock(&cache->lock);
}

void token_cache_set_notify(struct token_cache *cache, void (*ready)(void *opaque), void *opaque)
{
    pthread_mutex_lock(&cache->notify_lock);
    cache->ready = ready;
    cache->opaque = opaque;
    pthread_mutex_unlock(&cache->notify_lock);
}

void token_cache_destroy(struct token_cache *cache)
{
    if (!cache)
        return;
    pthread_mutex_lock(&cache->lock);
    atomic_store(&cache->stop, 1);
    pthread_cond_broadcast(&cache->wake);
    pthread_mutex_unlock(&cache->lock);
    curl_multi_wakeup(cache->multi); /* ends a curl_multi_poll under way */
    pthread_join(cache->thread, NULL);
    token_cache_free_token(cache);
    explicit_bzero(cache->last_error, sizeof cache->last_error);
    curl_multi_cleanup(cache->multi);
    pthread_cond_destroy(&cache->fetch_done);
    pthread_cond_destroy(&cache->wake);
    pthread_mutex_destroy(&cache->notify_lock);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}
