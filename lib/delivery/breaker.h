/*
 * breaker.h - a partner's circuit breaker, as a pure state machine: no
 * Kafka, no curl, no logging, no clock of its own (the time is passed in).
 *
 * Closed: attempts go out. After `failures` passing failures in a row it
 * opens: nothing goes out for `open_ms`; then it is half-open and one
 * attempt (the probe) may go out. A success closes it again (and the open
 * period starts over at `open_ms`); a failure while half-open reopens it for
 * twice as long as last time, up to `open_max_ms`. An answer that refuses
 * the event (4xx) is a success here: the partner is up.
 *
 * The calls that move it say so (enum breaker_transition): the caller acts
 * on a transition (pauses or resumes its partitions, counts, logs).
 */
#ifndef PLACEHUB_BREAKER_H
#define PLACEHUB_BREAKER_H

#include <stdint.h>

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

/* What a call changed. */
enum breaker_transition {
    BREAKER_UNCHANGED,
    BREAKER_OPENED,      /* closed or half-open -> open: stop sending */
    BREAKER_HALF_OPENED, /* open -> half-open: one probe may go out */
    BREAKER_CLOSED_AGAIN /* open or half-open -> closed: send again */
};

struct breaker_settings {
    int failures;    /* passing failures in a row that open it (at least 1) */
    int open_ms;     /* the first open period */
    int open_max_ms; /* the longest open period */
};

/* Embedded by its user; read the fields, change them only through the
 * functions below. */
struct breaker {
    struct breaker_settings settings;
    enum breaker_state state;
    int failures;          /* passing failures in a row */
    int open_ms;           /* the open period now (or next time it opens) */
    int64_t open_until_ms; /* open: when it becomes half-open */
    int probe_in_flight;   /* half-open: the one probe went out */
};

/* A closed breaker with settings (copied). */
void breaker_init(struct breaker *breaker, const struct breaker_settings *settings);

/* 1 when an attempt may start at now: closed, or half-open with no probe
 * out yet. An open breaker whose open period ended at now becomes half-open
 * first (*transition BREAKER_HALF_OPENED; else BREAKER_UNCHANGED). */
int breaker_allows(struct breaker *breaker, int64_t now, enum breaker_transition *transition);

/* An attempt went out (after breaker_allows said yes): when half-open, it
 * is the probe, and no other is allowed until an outcome is reported. */
void breaker_started(struct breaker *breaker);

/* The partner answered (delivered, or refused the event): the failure count
 * starts over and an open or half-open breaker closes. */
enum breaker_transition breaker_success(struct breaker *breaker);

/* A passing failure at now (no answer, 5xx, 429, credentials not to be
 * had): counted; opens a closed breaker at the failures-in-a-row bound, and
 * reopens a half-open one for twice as long (up to open_max_ms). A failure
 * while open (an attempt that went out before it opened) changes nothing
 * but the count. */
enum breaker_transition breaker_failure(struct breaker *breaker, int64_t now);

/* An operator asks for a probe now instead of at the end of the open
 * period: an open breaker becomes half-open at once (BREAKER_HALF_OPENED),
 * and the next attempt allowed is the probe; its outcome closes or reopens
 * it as usual (a failure doubles the open period, as a failed probe does).
 * Returns BREAKER_UNCHANGED, and changes nothing, when it is not open. */
enum breaker_transition breaker_probe(struct breaker *breaker);

/* When the open period ends (the earliest an attempt may go out again);
 * INT64_MAX when not open. */
int64_t breaker_probe_at(const struct breaker *breaker);

#endif
