/*
 * ratelimit.h - a token bucket: a partner may send `burst` requests at once
 * and `rate` per second on average. placehub-ingest keeps one per publishing
 * partner. Thread-safe: handlers on several connection threads share one.
 */
#ifndef PLACEHUB_RATELIMIT_H
#define PLACEHUB_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

struct ratelimit {
    pthread_mutex_t lock;
    double rate;  /* tokens per second, > 0 */
    double burst; /* bucket size, >= 1 */
    double tokens;
    int64_t updated_ms;
};

/* A full bucket at now_ms (any monotonic clock in milliseconds). */
void ratelimit_init(struct ratelimit *limit, double rate, double burst, int64_t now_ms);

void ratelimit_destroy(struct ratelimit *limit);

/* Takes one token at now_ms. Returns 0 when there was one, else the
 * milliseconds until there will be one (at least 1). A clock going back
 * refills nothing and takes nothing away. */
int64_t ratelimit_take(struct ratelimit *limit, int64_t now_ms);

/* Takes count tokens at once (a batch of events), or none: returns 0 when
 * there were enough, else the milliseconds until there will be; -1 when
 * count exceeds the burst, so no wait would ever be enough. */
int64_t ratelimit_take_many(struct ratelimit *limit, int count, int64_t now_ms);

#endif
