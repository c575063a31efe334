/*
 * breaker.c - a partner's circuit breaker (see breaker.h). Pure state: the
 * time comes in as arguments, and transitions go back to the caller, who
 * pauses, resumes and logs.
 */
#include "delivery/breaker.h"

#include <stddef.h>

void breaker_init(struct breaker *breaker, const struct breaker_settings *settings)
{
    *breaker = (struct breaker){
        .settings = *settings,
        .state = BREAKER_CLOSED,
        .open_ms = settings->open_ms,
    };
}

int breaker_allows(struct breaker *breaker, int64_t now, enum breaker_transition *transition)
{
    *transition = BREAKER_UNCHANGED;
    if (breaker->state == BREAKER_OPEN && now >= breaker->open_until_ms) {
        breaker->state = BREAKER_HALF_OPEN;
        breaker->probe_in_flight = 0;
        *transition = BREAKER_HALF_OPENED;
    }
    if (breaker->state == BREAKER_CLOSED)
        return 1;
    return breaker->state == BREAKER_HALF_OPEN && !breaker->probe_in_flight;
}

void breaker_started(struct breaker *breaker)
{
    if (breaker->state == BREAKER_HALF_OPEN)
        breaker->probe_in_flight = 1;
}

enum breaker_transition breaker_success(struct breaker *breaker)
{
    breaker->failures = 0;
    breaker->probe_in_flight = 0;
    if (breaker->state == BREAKER_CLOSED)
        return BREAKER_UNCHANGED;
    breaker->state = BREAKER_CLOSED;
    breaker->open_ms = breaker->settings.open_ms;
    return BREAKER_CLOSED_AGAIN;
}

enum breaker_transition breaker_failure(struct breaker *breaker, int64_t now)
{
    breaker->failures++;
    breaker->probe_in_flight = 0;
    if (breaker->state == BREAKER_OPEN)
        return BREAKER_UNCHANGED;
    if (breaker->state == BREAKER_CLOSED && breaker->failures < breaker->settings.failures)
        return BREAKER_UNCHANGED;
    if (breaker->state == BREAKER_HALF_OPEN) {
        /* The probe failed: the partner is still down, wait longer. */
        int doubled = breaker->open_ms > breaker->settings.open_max_ms / 2
                          ? breaker->settings.open_max_ms
                          : breaker->open_ms * 2;
        breaker->open_ms = doubled;
    }
    breaker->state = BREAKER_OPEN;
    breaker->open_until_ms = now + breaker->open_ms;
    return BREAKER_OPENED;
}

enum breaker_transition breaker_probe(struct breaker *breaker)
{
    if (breaker->state != BREAKER_OPEN)
        return BREAKER_UNCHANGED;
    breaker->state = BREAKER_HALF_OPEN;
    breaker->probe_in_flight = 0;
    return BREAKER_HALF_OPENED;
}

int64_t breaker_probe_at(const struct breaker *breaker)
{
    return breaker->state == BREAKER_OPEN ? breaker->open_until_ms : INT64_MAX;
}
