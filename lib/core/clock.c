/*
 * clock.c - the monotonic and wall clocks in milliseconds (see clock.h).
 */
#include "core/clock.h"

#include <stddef.h>
#include <time.h>

static int64_t clock_read(clockid_t id)
{
    struct timespec now;
    clock_gettime(id, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t clock_monotonic_ms(void)
{
    return clock_read(CLOCK_MONOTONIC);
}

int64_t clock_wall_ms(void)
{
    return clock_read(CLOCK_REALTIME);
}

static int64_t clock_wall_now(void *opaque)
{
    (void)opaque;
    return clock_wall_ms();
}

const struct clock clock_wall = {.now = clock_wall_now, .opaque = NULL};

int64_t clock_now(const struct clock *clock)
{
    return clock ? clock->now(clock->opaque) : clock_wall_ms();
}
