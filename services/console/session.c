/*
 * session.c - who is logged in to the console: a fixed table of sessions
 * in memory, each found by a random 256-bit token (the cookie) and
 * carrying its own random CSRF token. A session ends when unused for
 * console.session_idle_minutes, at logout, or when the console stops
 * (everyone logs in again: sessions are deliberately not persisted).
 *
 * Tokens are compared in constant time; the table is small (operators
 * and auditors, not the public), so a linear search is the simplest
 * correct thing.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "core/clock.h"
#include "core/text.h"

#define SESSIONS_MAX 128

struct session_slot {
    char token[65]; /* "" when free */
    struct console_session session;
    int64_t last_used_ms;
};

struct console_sessions {
    pthread_mutex_t lock;
    int64_t idle_ms;
    struct session_slot slot[SESSIONS_MAX];
};

static int session_random_hex(char out[65])
{
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return -1;
    text_hex(bytes, sizeof bytes, out);
    return 0;
}

struct console_sessions *console_sessions_new(int idle_minutes)
{
    struct console_sessions *sessions = calloc(1, sizeof *sessions);
    if (!sessions)
        return NULL;
    pthread_mutex_init(&sessions->lock, NULL);
    sessions->idle_ms = (int64_t)idle_minutes * 60 * 1000;
    return sessions;
}

void console_sessions_destroy(struct console_sessions *sessions)
{
    if (!sessions)
        return;
    OPENSSL_cleanse(sessions->slot, sizeof sessions->slot);
    pthread_mutex_destroy(&sessions->lock);
    free(sessions);
}

static int session_expired(const struct console_sessions *sessions, const struct session_slot *slot,
                           int64_t now)
{
    return slot->token[0] && now - slot->last_used_ms > sessions->idle_ms;
}

int console_sessions_open(struct console_sessions *sessions, const char *name,
                          enum console_role role, char token[65], struct console_session *session)
{
    struct console_session fresh = {{0}, role, {0}};
    snprintf(fresh.name, sizeof fresh.name, "%s", name);
    if (session_random_hex(token) != 0 || session_random_hex(fresh.csrf) != 0)
        return -1;
    int64_t now = clock_monotonic_ms();
    pthread_mutex_lock(&sessions->lock);
    struct session_slot *chosen = NULL;
    for (int i = 0; i < SESSIONS_MAX; i++) {
        struct session_slot *slot = &sessions->slot[i];
        if (session_expired(sessions, slot, now))
            slot->token[0] = '\0';
        if (!slot->token[0] && !chosen)
            chosen = slot;
    }
    if (chosen) {
        memcpy(chosen->token, token, 65);
        chosen->session = fresh;
        chosen->last_used_ms = now;
    }
    pthread_mutex_unlock(&sessions->lock);
    if (!chosen)
        return -1;
    *session = fresh;
    return 0;
}

static struct session_slot *session_lookup(struct console_sessions *sessions, const char *token)
{
    if (strlen(token) != 64)
        return NULL;
    for (int i = 0; i < SESSIONS_MAX; i++)
        if (sessions->slot[i].token[0] && CRYPTO_memcmp(sessions->slot[i].token, token, 64) == 0)
            return &sessions->slot[i];
    return NULL;
}

int console_sessions_find(struct console_sessions *sessions, const char *token,
                          struct console_session *session)
{
    int64_t now = clock_monotonic_ms();
    pthread_mutex_lock(&sessions->lock);
    struct session_slot *slot = session_lookup(sessions, token);
    if (slot && session_expired(sessions, slot, now)) {
        slot->token[0] = '\0';
        slot = NULL;
    }
    if (slot) {
        slot->last_used_ms = now;
        *session = slot->session;
    }
    pthread_mutex_unlock(&sessions->lock);
    return slot != NULL;
}

void console_sessions_close(struct console_sessions *sessions, const char *token)
{
    pthread_mutex_lock(&sessions->lock);
    struct session_slot *slot = session_lookup(sessions, token);
    if (slot)
        memset(slot, 0, sizeof *slot);
    pthread_mutex_unlock(&sessions->lock);
}
