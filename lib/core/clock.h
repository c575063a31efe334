/*
 * clock.h - the monotonic clock in milliseconds, for deadlines, timeouts and
 * token lifetimes: a wall-clock step must not shorten or lengthen them.
 */
#ifndef PLACEHUB_CLOCK_H
#define PLACEHUB_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (from an arbitrary start). */
int64_t clock_monotonic_ms(void);

#endif
