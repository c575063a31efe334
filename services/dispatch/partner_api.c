/*
 * partner_api.c - the partner control and state API (see partner_api.h):
 * one handler for /partners and everything under it, on the operations
 * listener's request threads. It never touches an engine: it asks each
 * partner's thread (partner_control) and answers with the state the thread
 * copied. Errors are {"error": "message"}.
 *
 * An action is applied first, then its audit record is written and
 * acknowledged before the 200: an operator is told "done" only once the
 * record is safe. A record that cannot be written is logged with all it
 * holds and answered 500 saying the action stands.
 */
#include "partner_api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "delivery/control.h"
#include "delivery/record.h"
#include "kafka/producer.h"
#include "net/httpd.h"
#include "partner.h"

/* How long a request waits for a partner's thread: a turn takes well under
 * a second unless a schema registry is slow to answer. */
#define PARTNER_API_TIMEOUT_MS 5000

static void partner_api_error(struct httpd_response *response, int status, const char *message)
{
    httpd_response_json(response, status, json_pack("{s:s}", "error", message));
}

static void partner_api_not_found(struct httpd_response *response, const char *id)
{
    char message[256];
    snprintf(message, sizeof message, "no partner '%.128s' in this dispatch", id);
    partner_api_error(response, 404, message);
}

static void partner_api_method(struct httpd_response *response, const char *allowed)
{
    char message[128];
    httpd_response_header(response, "Allow", allowed);
    snprintf(message, sizeof message, "method not allowed here: %s", allowed);
    partner_api_error(response, 405, message);
}

/* The state of partner as JSON in *out; answers the request itself (and
 * returns -1) when the partner's thread did not answer. */
static int partner_api_look(struct partner *partner, struct control_state *state, json_t **out,
                            struct httpd_response *response)
{
    char message[256];
    if (partner_control(partner, CONTROL_NONE, PARTNER_API_TIMEOUT_MS, state, message,
                        sizeof message) != PARTNER_APPLIED) {
        partner_api_error(response, 503, message);
        return -1;
    }
    *out = control_state_json(state);
    if (!*out) {
        partner_api_error(response, 500, "out of memory");
        return -1;
    }
    return 0;
}

static void partner_api_list(struct dispatch *dispatch, struct httpd_response *response)
{
    struct control_state *state = malloc(sizeof *state);
    json_t *partners = json_array();
    struct partner *partner;
    if (!state || !partners) {
        partner_api_error(response, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; (partner = dispatch_partner(dispatch, i)) != NULL; i++) {
        json_t *one = NULL;
        if (partner_api_look(partner, state, &one, response) != 0)
            goto out;
        json_array_append_new(partners, one);
    }
    httpd_response_json(response, 200, json_pack("{s:O}", "partners", partners));
out:
    json_decref(partners);
    free(state);
}

/* Writes the audit record of an applied action and waits for the broker.
 * Returns 0, or -1 with errstr. */
static int partner_api_record(struct dispatch *dispatch, const char *id, enum control_action action,
                              const char *actor, char *errstr, size_t errstr_size)
{
    const struct partner_shared *shared = dispatch_shared(dispatch);
    struct record_partner_control control = {
        .partner_id = id,
        .action = control_action_name(action),
        .actor = actor,
        .at_ms = clock_wall_ms(),
    };
    size_t len = 0;
    char *record = record_partner_control(&control, &len);
    struct producer_result result;
    if (!record) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    /* Keyed by the partner: one partner's controls stay in order on one
     * partition. It is no person's key, so the ledger passes over it. */
    if (producer_send(shared->producer, shared->config->dispatch.audit_topic, id, strlen(id),
                      record, len, NULL, 0, &result) != 0) {
        snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(result.err));
        return -1;
    }
    return 0;
}

static void partner_api_act(struct dispatch *dispatch, struct partner *partner,
                            enum control_action action, const char *actor,
                            struct httpd_response *response)
{
    const char *id = partner_id(partner), *name = control_action_name(action);
    char message[256], errstr[256];
    struct control_state *state = malloc(sizeof *state);
    if (!state) {
        partner_api_error(response, 500, "out of memory");
        return;
    }
    enum partner_answer answer =
        partner_control(partner, action, PARTNER_API_TIMEOUT_MS, state, message, sizeof message);
    if (answer != PARTNER_APPLIED) {
        log_info("partner control refused partner=%s action=%s actor=%s: %s", id, name, actor,
                 message);
        partner_api_error(response, answer == PARTNER_REFUSED ? 409 : 503, message);
        free(state);
        return;
    }
    if (partner_api_record(dispatch, id, action, actor, errstr, sizeof errstr) != 0) {
        log_error("partner control NOT RECORDED partner=%s action=%s actor=%s: the audit record "
                  "was not acknowledged: %s",
                  id, name, actor, errstr);
        snprintf(message, sizeof message,
                 "%s of partner '%s' took effect, but its audit record was not acknowledged: %s",
                 name, id, errstr);
        partner_api_error(response, 500, message);
        free(state);
        return;
    }
    log_info("partner control partner=%s action=%s actor=%s state=%s", id, name, actor,
             control_state_name(state));
    json_t *json = control_state_json(state);
    free(state);
    if (json)
        httpd_response_json(response, 200, json);
    else
        partner_api_error(response, 500, "out of memory");
}

/* POST /partners/{id}/{action}. */
static void partner_api_post(struct dispatch *dispatch, const struct httpd_request *request,
                             const char *id, enum control_action action,
                             struct httpd_response *response)
{
    const char *actor = httpd_request_header(request, "X-Placehub-Actor");
    if (!actor)
        actor = "unknown";
    if (!control_actor_valid(actor)) {
        partner_api_error(response, 400,
                          "header X-Placehub-Actor: 1 to 64 letters, digits, '.', '_', '@' or "
                          "'-' naming who acts");
        return;
    }
    struct partner *partner = dispatch_partner_find(dispatch, id);
    if (!partner) {
        partner_api_not_found(response, id);
        return;
    }
    if (action == CONTROL_NONE) {
        partner_api_error(response, 404, "no such action: pause, resume or probe");
        return;
    }
    partner_api_act(dispatch, partner, action, actor, response);
}

static void partner_api_handle(void *context, const struct httpd_request *request,
                               struct httpd_response *response)
{
    struct dispatch *dispatch = context;
    char id[128];
    enum control_action action;
    int post = strcmp(request->method, "POST") == 0;
    switch (control_path_parse(request->path, id, sizeof id, &action)) {
    case CONTROL_ROUTE_LIST:
        if (post)
            partner_api_method(response, "GET, HEAD");
        else
            partner_api_list(dispatch, response);
        return;
    case CONTROL_ROUTE_PARTNER: {
        struct partner *partner = dispatch_partner_find(dispatch, id);
        struct control_state *state = NULL;
        json_t *json = NULL;
        if (post)
            partner_api_method(response, "GET, HEAD");
        else if (!partner)
            partner_api_not_found(response, id);
        else if (!(state = malloc(sizeof *state)))
            partner_api_error(response, 500, "out of memory");
        else if (partner_api_look(partner, state, &json, response) == 0)
            httpd_response_json(response, 200, json);
        free(state);
        return;
    }
    case CONTROL_ROUTE_ACTION:
        if (!post)
            partner_api_method(response, "POST");
        else
            partner_api_post(dispatch, request, id, action, response);
        return;
    case CONTROL_ROUTE_UNKNOWN:
        break;
    }
    partner_api_error(response, 404,
                      "no such path: GET /partners, GET /partners/{id}, POST "
                      "/partners/{id}/pause|resume|probe");
}

int partner_api_add(struct operations *operations, struct dispatch *dispatch, char *errstr,
                    size_t errstr_size)
{
    if (!operations)
        return 0;
    const struct operations_route routes[] = {
        {.path = "/partners", .handle = partner_api_handle, .context = dispatch},
    };
    return operations_add_routes(operations, routes, sizeof routes / sizeof routes[0], errstr,
                                 errstr_size);
}
