/*
 * clock.c - the monotonic clock in milliseconds (see clock.h).
 */
#include "core/clock.h"

#include <time.h>

int64_t clock_monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
