/*
 * support.h - small helpers shared by the unit tests (each test_*.c is linked
 * on its own, so these are static inline). Include after <cmocka.h>.
 */
#ifndef PLACEHUB_TEST_SUPPORT_H
#define PLACEHUB_TEST_SUPPORT_H

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Fails the test, showing both strings, unless needle occurs in haystack. */
#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        const char *haystack_ = (haystack), *needle_ = (needle);                                   \
        if (!haystack_ || !strstr(haystack_, needle_))                                             \
            fail_msg("expected \"%s\" in \"%s\"", needle_, haystack_ ? haystack_ : "(null)");      \
    } while (0)

#define assert_not_contains(haystack, needle)                                                      \
    do {                                                                                           \
        const char *haystack_ = (haystack), *needle_ = (needle);                                   \
        if (strstr(haystack_, needle_))                                                            \
            fail_msg("did not expect \"%s\" in \"%s\"", needle_, haystack_);                       \
    } while (0)

/* Fails unless text starts with prefix. */
#define assert_starts_with(text, prefix)                                                           \
    do {                                                                                           \
        const char *text_ = (text), *prefix_ = (prefix);                                           \
        if (strncmp(text_, prefix_, strlen(prefix_)) != 0)                                         \
            fail_msg("expected \"%s\" to start with \"%s\"", text_, prefix_);                      \
    } while (0)

/* Fails unless a and b are equal JSON, printing both. */
#define assert_json_equal(a, b)                                                                    \
    do {                                                                                           \
        const json_t *a_ = (a), *b_ = (b);                                                         \
        if (!json_equal(a_, b_)) {                                                                 \
            char *a_text_ = json_dumps(a_, JSON_SORT_KEYS | JSON_COMPACT);                         \
            char *b_text_ = json_dumps(b_, JSON_SORT_KEYS | JSON_COMPACT);                         \
            print_error("JSON differs:\n  %s\n  %s\n", a_text_ ? a_text_ : "(null)",               \
                        b_text_ ? b_text_ : "(null)");                                             \
            free(a_text_);                                                                         \
            free(b_text_);                                                                         \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* The CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static inline struct timespec support_deadline(int ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

/* Waits on changed (lock held by the caller) until *value reaches at_least
 * or ms pass. Returns whether it did. */
static inline int support_wait_locked(pthread_cond_t *changed, pthread_mutex_t *lock,
                                      const int *value, int at_least, int ms)
{
    struct timespec deadline = support_deadline(ms);
    while (*value < at_least)
        if (pthread_cond_timedwait(changed, lock, &deadline) == ETIMEDOUT)
            break;
    return *value >= at_least;
}

/* Reads a whole file (relative to the repository root, where the tests run)
 * into a new NUL-terminated buffer; fails the test when it cannot. Caller frees. */
static inline char *support_read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        fail_msg("cannot open %s (run the tests from the repository root)", path);
        return NULL;
    }
    char *text = NULL;
    size_t size = 0, capacity = 0;
    for (;;) {
        if (size + 4096 + 1 > capacity) {
            capacity = capacity ? capacity * 2 : 8192;
            char *grown = realloc(text, capacity);
            assert_non_null(grown);
            text = grown;
        }
        size_t n = fread(text + size, 1, capacity - size - 1, file);
        size += n;
        if (n == 0)
            break;
    }
    fclose(file);
    text[size] = '\0';
    if (len)
        *len = size;
    return text;
}

/* Loads a JSON file; fails the test on a syntax error. Caller json_decref's. */
static inline json_t *support_load_json(const char *path)
{
    json_error_t error;
    json_t *json = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (!json)
        fail_msg("%s:%d:%d: %s", path, error.line, error.column, error.text);
    return json;
}

/* Parses JSON text written in a test; fails the test on a syntax error. */
static inline json_t *support_json(const char *text)
{
    json_error_t error;
    json_t *json = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!json)
        fail_msg("test JSON line %d column %d: %s", error.line, error.column, error.text);
    return json;
}

#endif
