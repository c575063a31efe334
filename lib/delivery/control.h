/*
 * control.h - operators' controls of a partner's delivery engine, as
 * placehub-dispatch serves them on its operations listener
 * (docs/operations.md, "Partner controls"): the actions (pause, resume,
 * probe), the check of who asks (X-Placehub-Actor), the paths
 * (/partners, /partners/{id}, /partners/{id}/{action}) and a partner's state
 * as the JSON the console reads. Pure: no threads, no Kafka, no HTTP; the
 * engine fills struct control_state on its own thread and hands it over.
 */
#ifndef PLACEHUB_CONTROL_H
#define PLACEHUB_CONTROL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/breaker.h"

enum control_action {
    CONTROL_NONE,   /* only look: the state */
    CONTROL_PAUSE,  /* take no new events, start no attempts; in-flight ones finish */
    CONTROL_RESUME, /* undo a pause */
    CONTROL_PROBE   /* an open circuit half-opens now: the next attempt is the probe */
};

/* "pause", "resume", "probe" ("none" for CONTROL_NONE). */
const char *control_action_name(enum control_action action);

/* The action named name; CONTROL_NONE when it names none. */
enum control_action control_action_parse(const char *name);

/* The longest actor name. */
enum { CONTROL_ACTOR_MAX = 64 };

/* 1 when actor is 1-64 letters, digits, '.', '_', '@' or '-'. */
int control_actor_valid(const char *actor);

/* What a path names. */
enum control_route {
    CONTROL_ROUTE_LIST,    /* /partners */
    CONTROL_ROUTE_PARTNER, /* /partners/{id} */
    CONTROL_ROUTE_ACTION,  /* /partners/{id}/{action}, action as control_action_parse */
    CONTROL_ROUTE_UNKNOWN  /* anything else (a deeper path, an empty id, an id too long) */
};

/* Parses path: fills id (for PARTNER and ACTION; id_size bytes at most,
 * longer is UNKNOWN) and *action (for ACTION; CONTROL_NONE when the last
 * part names no action). */
enum control_route control_path_parse(const char *path, char *id, size_t id_size,
                                      enum control_action *action);

/* At most this many retrying events are listed per partner ("retrying");
 * "retrying_total" counts them all. */
enum { CONTROL_RETRYING_MAX = 100 };

/* Errors are kept as short as dispatch's log lines have them (a status
 * line, curl's error text, a connector's short reason), never a partner's
 * response body: a body may echo the event. */
enum { CONTROL_ERROR_SIZE = 104 };

/* Copies text into out (out_size bytes, NUL-terminated, cut to fit), each
 * byte that is not printable ASCII replaced by '?': what an engine keeps
 * comes from partners, connectors and message headers, and the answer must
 * be valid JSON whatever they hold. */
void control_text_copy(char *out, size_t out_size, const char *text);

/* An event waiting for its next attempt after a failed one. */
struct control_retrying {
    char event_id[64];
    char topic[256];
    int32_t partition;
    int64_t offset;
    int attempt;                         /* attempts made so far */
    char last_error[CONTROL_ERROR_SIZE]; /* why the last one failed */
    int64_t next_attempt_ms;             /* when the next may go (wall clock, ms) */
};

/* One partner's state, copied by its engine. */
struct control_state {
    const char *partner_id; /* borrowed from the configuration */
    int paused;
    enum breaker_state circuit;
    int64_t circuit_open_since_ms; /* 0: closed */
    char last_error[CONTROL_ERROR_SIZE];
    int64_t last_error_ms; /* 0: none since start */
    size_t in_flight;
    size_t retrying_total;
    size_t retrying_count; /* the first retrying_count of them, at most CONTROL_RETRYING_MAX */
    struct control_retrying retrying[CONTROL_RETRYING_MAX];
};

/* "paused" (a pause outranks the circuit: nothing goes out while paused),
 * else "circuit_open", "half_open" or "delivering". */
const char *control_state_name(const struct control_state *state);

/* The partner as the API answers it: {"id", "state", "paused",
 * "circuit_open_since", "last_error", "last_error_at", "in_flight",
 * "retrying": [...], "retrying_total"}, times in RFC 3339 UTC or null. A new
 * reference (caller decrefs), or NULL when out of memory. */
json_t *control_state_json(const struct control_state *state);

#endif
