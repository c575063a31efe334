/*
 * test_control.c - the partner control API's pure parts (lib/delivery/
 * control.c): the paths, the actions, the actor check, and a partner's
 * state as the JSON the console is built against (docs/operations.md,
 * "Partner controls").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support.h"

#include "delivery/control.h"

static void test_paths(void **state)
{
    (void)state;
    char id[32];
    enum control_action action = CONTROL_PAUSE;
    assert_int_equal(control_path_parse("/partners", id, sizeof id, &action), CONTROL_ROUTE_LIST);
    assert_int_equal(action, CONTROL_NONE);
    assert_int_equal(control_path_parse("/partners/", id, sizeof id, &action), CONTROL_ROUTE_LIST);
    assert_int_equal(control_path_parse("/partners/council", id, sizeof id, &action),
                     CONTROL_ROUTE_PARTNER);
    assert_string_equal(id, "council");
    assert_int_equal(control_path_parse("/partners/council/pause", id, sizeof id, &action),
                     CONTROL_ROUTE_ACTION);
    assert_string_equal(id, "council");
    assert_int_equal(action, CONTROL_PAUSE);
    assert_int_equal(control_path_parse("/partners/gp/resume", id, sizeof id, &action),
                     CONTROL_ROUTE_ACTION);
    assert_int_equal(action, CONTROL_RESUME);
    assert_int_equal(control_path_parse("/partners/gp/probe", id, sizeof id, &action),
                     CONTROL_ROUTE_ACTION);
    assert_int_equal(action, CONTROL_PROBE);
    /* An action path naming no action: the caller answers 404. */
    assert_int_equal(control_path_parse("/partners/gp/restart", id, sizeof id, &action),
                     CONTROL_ROUTE_ACTION);
    assert_int_equal(action, CONTROL_NONE);
    assert_int_equal(control_path_parse("/partners/gp/", id, sizeof id, &action),
                     CONTROL_ROUTE_UNKNOWN);
    assert_int_equal(control_path_parse("/partners/gp/probe/x", id, sizeof id, &action),
                     CONTROL_ROUTE_UNKNOWN);
    assert_int_equal(control_path_parse("/partners//pause", id, sizeof id, &action),
                     CONTROL_ROUTE_UNKNOWN);
    assert_int_equal(control_path_parse("/partnersx", id, sizeof id, &action),
                     CONTROL_ROUTE_UNKNOWN);
    assert_int_equal(control_path_parse("/metrics", id, sizeof id, &action), CONTROL_ROUTE_UNKNOWN);
    assert_int_equal(control_path_parse(NULL, id, sizeof id, &action), CONTROL_ROUTE_UNKNOWN);
    /* An id that does not fit is no partner's. */
    assert_int_equal(control_path_parse("/partners/a-partner-id-far-longer-than-thirty-two", id,
                                        sizeof id, &action),
                     CONTROL_ROUTE_UNKNOWN);
}

static void test_actions(void **state)
{
    (void)state;
    static const enum control_action all[] = {CONTROL_PAUSE, CONTROL_RESUME, CONTROL_PROBE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        assert_int_equal(control_action_parse(control_action_name(all[i])), all[i]);
    assert_int_equal(control_action_parse("none"), CONTROL_NONE);
    assert_int_equal(control_action_parse("Pause"), CONTROL_NONE);
    assert_int_equal(control_action_parse(NULL), CONTROL_NONE);
    assert_string_equal(control_action_name((enum control_action)42), "none");
}

static void test_actor(void **state)
{
    (void)state;
    assert_true(control_actor_valid("j.bloggs@council.example"));
    assert_true(control_actor_valid("ops_bot-2"));
    assert_true(control_actor_valid("x"));
    char longest[CONTROL_ACTOR_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[CONTROL_ACTOR_MAX] = '\0';
    assert_true(control_actor_valid(longest));
    longest[CONTROL_ACTOR_MAX] = 'a';
    longest[CONTROL_ACTOR_MAX + 1] = '\0';
    assert_false(control_actor_valid(longest));
    assert_false(control_actor_valid(""));
    assert_false(control_actor_valid(NULL));
    assert_false(control_actor_valid("Jo Bloggs"));
    assert_false(control_actor_valid("jo\nforged=1"));
    assert_false(control_actor_valid("jo;rm"));
    assert_false(control_actor_valid("j\xc3\xb6rg"));
}

static void test_text_copy(void **state)
{
    (void)state;
    char out[8];
    control_text_copy(out, sizeof out, "HTTP 503");
    assert_string_equal(out, "HTTP 50"); /* cut to fit */
    control_text_copy(out, sizeof out, "a\n\xc3\xa9z");
    assert_string_equal(out, "a???z");
    control_text_copy(out, sizeof out, NULL);
    assert_string_equal(out, "");
}

static struct control_state *new_state(void)
{
    struct control_state *state = calloc(1, sizeof *state);
    assert_non_null(state);
    state->partner_id = "council";
    return state;
}

static void test_state_names(void **state)
{
    (void)state;
    struct control_state *partner = new_state();
    assert_string_equal(control_state_name(partner), "delivering");
    partner->circuit = BREAKER_OPEN;
    assert_string_equal(control_state_name(partner), "circuit_open");
    partner->circuit = BREAKER_HALF_OPEN;
    assert_string_equal(control_state_name(partner), "half_open");
    partner->paused = 1; /* nothing goes out: that is what the console shows */
    assert_string_equal(control_state_name(partner), "paused");
    free(partner);
}

/* A partner just started: nulls where nothing happened yet. */
static void test_state_json_quiet(void **state)
{
    (void)state;
    struct control_state *partner = new_state();
    json_t *json = control_state_json(partner);
    json_t *expected = json_pack("{s:s,s:s,s:b,s:n,s:n,s:n,s:i,s:[],s:i}", "id", "council", "state",
                                 "delivering", "paused", 0, "circuit_open_since", "last_error",
                                 "last_error_at", "in_flight", 0, "retrying", "retrying_total", 0);
    assert_json_equal(json, expected);
    json_decref(expected);
    json_decref(json);
    free(partner);
}

/* A failing partner: every member filled, the list cut to what was copied
 * while retrying_total says how many there are. */
static void test_state_json_failing(void **state)
{
    (void)state;
    struct control_state *partner = new_state();
    partner->circuit = BREAKER_OPEN;
    partner->circuit_open_since_ms = 1795164124002; /* 2026-11-20T08:42:04.002Z */
    control_text_copy(partner->last_error, sizeof partner->last_error, "HTTP 503");
    partner->last_error_ms = 1795164125000;
    partner->in_flight = 1;
    partner->retrying_total = 250;
    partner->retrying_count = 1;
    struct control_retrying *first = &partner->retrying[0];
    control_text_copy(first->event_id, sizeof first->event_id,
                      "6fa486a5-e7ae-4022-8760-6138e1075522");
    control_text_copy(first->topic, sizeof first->topic, "admission");
    first->partition = 2;
    first->offset = 17;
    first->attempt = 3;
    control_text_copy(first->last_error, sizeof first->last_error, "HTTP 503");
    first->next_attempt_ms = 1795164126500;
    json_t *json = control_state_json(partner);
    json_t *expected = json_pack(
        "{s:s,s:s,s:b,s:s,s:s,s:s,s:i,s:[{s:s,s:s,s:i,s:i,s:i,s:s,s:s}],s:i}", "id", "council",
        "state", "circuit_open", "paused", 0, "circuit_open_since", "2026-11-20T08:42:04.002Z",
        "last_error", "HTTP 503", "last_error_at", "2026-11-20T08:42:05.000Z", "in_flight", 1,
        "retrying", "event_id", "6fa486a5-e7ae-4022-8760-6138e1075522", "topic", "admission",
        "partition", 2, "offset", 17, "attempt", 3, "last_error", "HTTP 503", "next_attempt_at",
        "2026-11-20T08:42:06.500Z", "retrying_total", 250);
    assert_json_equal(json, expected);
    json_decref(expected);
    json_decref(json);
    free(partner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_actor),
        cmocka_unit_test(test_text_copy),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_state_json_quiet),
        cmocka_unit_test(test_state_json_failing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
