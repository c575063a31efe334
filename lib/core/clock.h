/*
 * clock.h - the one clock module: the monotonic clock in milliseconds, for
 * deadlines, timeouts and token lifetimes (a wall-clock step must not
 * shorten or lengthen them), and the wall clock in milliseconds since the
 * epoch, for what is written down (receipts, audit records, Kafka
 * timestamps).
 *
 * Code whose timing is tested takes a struct clock (an injected clock)
 * instead of calling these directly: tests then move time by hand and run
 * in milliseconds, with no sleep.
 */
#ifndef PLACEHUB_CLOCK_H
#define PLACEHUB_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (from an arbitrary start). */
int64_t clock_monotonic_ms(void);

/* Milliseconds since the epoch on CLOCK_REALTIME. */
int64_t clock_wall_ms(void);

/* A clock that can be replaced in tests. now() returns milliseconds; which
 * clock it reads is the user's choice (dispatch uses the wall clock, since
 * its times are compared with Kafka timestamps). */
struct clock {
    int64_t (*now)(void *opaque);
    void *opaque;
};

/* The real wall clock as a struct clock. */
extern const struct clock clock_wall;

/* Reads clock (NULL: the real wall clock). */
int64_t clock_now(const struct clock *clock);

#endif
