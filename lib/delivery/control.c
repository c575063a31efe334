/*
 * control.c - operators' controls of a partner's delivery engine (see
 * control.h): names, checks, paths and the state as JSON. The engine
 * (services/dispatch/partner_control.c) applies the actions; this file only
 * says what a request means and what an answer looks like, so the console's
 * contract is pinned by tests/unit/test_control.c.
 */
#include "delivery/control.h"

#include <string.h>

#include "schema/codec.h"

static const char *const control_names[] = {
    [CONTROL_NONE] = "none",
    [CONTROL_PAUSE] = "pause",
    [CONTROL_RESUME] = "resume",
    [CONTROL_PROBE] = "probe",
};

const char *control_action_name(enum control_action action)
{
    return (unsigned)action < sizeof control_names / sizeof control_names[0] ? control_names[action]
                                                                             : "none";
}

enum control_action control_action_parse(const char *name)
{
    for (size_t i = CONTROL_PAUSE; name && i < sizeof control_names / sizeof control_names[0]; i++)
        if (strcmp(name, control_names[i]) == 0)
            return (enum control_action)i;
    return CONTROL_NONE;
}

int control_actor_valid(const char *actor)
{
    size_t len = actor ? strlen(actor) : 0;
    return len > 0 && len <= CONTROL_ACTOR_MAX &&
           strspn(actor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-") ==
               len;
}

void control_text_copy(char *out, size_t out_size, const char *text)
{
    size_t used = 0;
    for (; text && text[used] && used + 1 < out_size; used++) {
        unsigned char c = (unsigned char)text[used];
        out[used] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (out_size)
        out[used] = '\0';
}

enum control_route control_path_parse(const char *path, char *id, size_t id_size,
                                      enum control_action *action)
{
    static const char prefix[] = "/partners";
    *action = CONTROL_NONE;
    if (id_size)
        id[0] = '\0';
    if (!path || strncmp(path, prefix, sizeof prefix - 1) != 0)
        return CONTROL_ROUTE_UNKNOWN;
    const char *rest = path + sizeof prefix - 1;
    if (*rest == '\0' || strcmp(rest, "/") == 0)
        return CONTROL_ROUTE_LIST;
    if (*rest != '/')
        return CONTROL_ROUTE_UNKNOWN;
    rest++;
    size_t id_len = strcspn(rest, "/");
    if (id_len == 0 || id_len >= id_size)
        return CONTROL_ROUTE_UNKNOWN;
    memcpy(id, rest, id_len);
    id[id_len] = '\0';
    rest += id_len;
    if (*rest == '\0')
        return CONTROL_ROUTE_PARTNER;
    rest++; /* the '/' */
    if (*rest == '\0' || strchr(rest, '/'))
        return CONTROL_ROUTE_UNKNOWN;
    *action = control_action_parse(rest);
    return CONTROL_ROUTE_ACTION;
}

const char *control_state_name(const struct control_state *state)
{
    if (state->paused)
        return "paused";
    switch (state->circuit) {
    case BREAKER_OPEN:
        return "circuit_open";
    case BREAKER_HALF_OPEN:
        return "half_open";
    case BREAKER_CLOSED:
        break;
    }
    return "delivering";
}

/* ms as an RFC 3339 string, or null for 0. */
static json_t *control_time(int64_t ms)
{
    char text[48];
    if (ms <= 0)
        return json_null();
    codec_timestamp_format(ms, text, sizeof text);
    return json_string(text);
}

static json_t *control_retrying_json(const struct control_retrying *retrying)
{
    return json_pack("{s:s,s:s,s:i,s:I,s:i,s:s,s:o}", "event_id", retrying->event_id, "topic",
                     retrying->topic, "partition", (int)retrying->partition, "offset",
                     (json_int_t)retrying->offset, "attempt", retrying->attempt, "last_error",
                     retrying->last_error, "next_attempt_at",
                     control_time(retrying->next_attempt_ms));
}

json_t *control_state_json(const struct control_state *state)
{
    json_t *retrying = json_array();
    for (size_t i = 0; retrying && i < state->retrying_count && i < CONTROL_RETRYING_MAX; i++) {
        json_t *entry = control_retrying_json(&state->retrying[i]);
        if (!entry || json_array_append_new(retrying, entry) != 0) {
            json_decref(retrying);
            return NULL;
        }
    }
    if (!retrying)
        return NULL;
    int has_error = state->last_error_ms > 0;
    return json_pack("{s:s,s:s,s:b,s:o,s:o,s:o,s:I,s:o,s:I}", "id", state->partner_id, "state",
                     control_state_name(state), "paused", state->paused, "circuit_open_since",
                     control_time(state->circuit_open_since_ms), "last_error",
                     has_error ? json_string(state->last_error) : json_null(), "last_error_at",
                     control_time(state->last_error_ms), "in_flight", (json_int_t)state->in_flight,
                     "retrying", retrying, "retrying_total", (json_int_t)state->retrying_total);
}
