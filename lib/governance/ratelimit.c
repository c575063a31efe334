/*
 * ratelimit.c - the token bucket of ratelimit.h. The bucket is refilled
 * lazily on each take from the time elapsed, so an idle partner costs
 * nothing and no timer thread is needed.
 */
#include "governance/ratelimit.h"

#include <math.h>

void ratelimit_init(struct ratelimit *limit, double rate, double burst, int64_t now_ms)
{
    pthread_mutex_init(&limit->lock, NULL);
    limit->rate = rate > 0 ? rate : 1;
    limit->burst = burst >= 1 ? burst : 1;
    limit->tokens = limit->burst;
    limit->updated_ms = now_ms;
}

void ratelimit_destroy(struct ratelimit *limit)
{
    pthread_mutex_destroy(&limit->lock);
}

int64_t ratelimit_take(struct ratelimit *limit, int64_t now_ms)
{
    return ratelimit_take_many(limit, 1, now_ms);
}

int64_t ratelimit_take_many(struct ratelimit *limit, int count, int64_t now_ms)
{
    int64_t wait_ms = 0;
    const double wanted = (double)count;
    if (wanted > limit->burst)
        return -1;
    pthread_mutex_lock(&limit->lock);
    if (now_ms > limit->updated_ms) {
        limit->tokens += (double)(now_ms - limit->updated_ms) * limit->rate / 1000.0;
        if (limit->tokens > limit->burst)
            limit->tokens = limit->burst;
        limit->updated_ms = now_ms;
    }
    if (limit->tokens >= wanted) {
        limit->tokens -= wanted;
    } else {
        wait_ms = (int64_t)ceil((wanted - limit->tokens) * 1000.0 / limit->rate);
        if (wait_ms < 1)
            wait_ms = 1;
    }
    pthread_mutex_unlock(&limit->lock);
    return wait_ms;
}
