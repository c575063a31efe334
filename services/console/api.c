/*
 * api.c - the console's JSON API for a logged-in user (server.c checked
 * the session, and the CSRF token of every POST): the overview, the latest
 * events, an event's trace, partner controls, the session and logout.
 * Dead letters and the auditor's view are in letters.c.
 *
 * Operators and auditors see the same overview and traces: event ids,
 * partners, outcomes, reasons and field names, never field values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "core/clock.h"
#include "core/log.h"
#include "governance/ledger.h"

/* An event id as the hub writes them (a UUID) or a sender chose: 1-64 of
 * [A-Za-z0-9._:-]. */
static int api_event_id_valid(const char *text)
{
    size_t len = text ? strlen(text) : 0;
    return len >= 1 && len <= 64 &&
           strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
               len;
}

static json_t *api_string(const char *text)
{
    return text ? json_string(text) : json_null();
}

static json_t *api_time(int64_t ms)
{
    char text[40];
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(text);
}

/* What a ledger row says of an event at a partner. */
static const char *api_outcome(const struct ledger_entry *entry)
{
    if (strcmp(entry->record, "suppression") == 0)
        return "suppressed";
    return entry->outcome ? entry->outcome : entry->record;
}

static json_t *api_entry_json(const struct ledger_entry *entry)
{
    json_t *fields = entry->fields ? json_loads(entry->fields, 0, NULL) : NULL;
    return json_pack(
        "{s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:I}", "at",
        api_time(entry->at_ms), "partner", api_string(entry->partner), "event_id",
        api_string(entry->event_id), "event_type", api_string(entry->event_type), "outcome",
        api_outcome(entry), "reason", api_string(entry->reason), "agreement",
        api_string(entry->agreement), "agreement_version", api_string(entry->agreement_version),
        "fields", fields ? fields : json_null(), "via", api_string(entry->via), "by",
        api_string(entry->recorded_by), "correction", api_string(entry->correction), "corrects",
        api_string(entry->corrects), "topic", api_string(entry->source_topic), "partition",
        (int)entry->source_partition, "offset", (json_int_t)entry->source_offset);
}

static int api_collect(void *opaque, const struct ledger_entry *entry)
{
    json_array_append_new(opaque, api_entry_json(entry));
    return 0;
}

static void api_recent(struct console_call *call)
{
    char errstr[512];
    json_t *rows = json_array();
    if (ledger_recent(call->console->ledger, 50, api_collect, rows, errstr, sizeof errstr) < 0) {
        json_decref(rows);
        httpd_response_error(call->response, 500, "ledger", NULL, "%s", errstr);
        return;
    }
    httpd_response_json(call->response, 200, json_pack("{s:o}", "events", rows));
}

/* The event's intake from its topic (placehub-ctl replay of one offset,
 * CSV: only the columns that are not personal data are kept). */
static json_t *api_intake(struct console *console, const char *topic, int partition,
                          long long offset)
{
    char range[300], error[512];
    snprintf(range, sizeof range, "%s:%d:%lld-%lld", topic, partition, offset, offset + 1);
    char *argv[] = {console->ctl_path, "replay", "-q",       "-c",  console->config->path,
                    "--offsets",       range,    "--format", "csv", NULL};
    char *out = NULL;
    int status = console_run(argv, 65536, 30000, &out, error, sizeof error);
    json_t *intake = json_pack("{s:s,s:i,s:I}", "topic", topic, "partition", partition, "offset",
                               (json_int_t)offset);
    char *second = out ? strchr(out, '\n') : NULL;
    if (status != 0 || !second || !second[1]) {
        json_object_set_new(intake, "error",
                            json_string(status == 0 ? "not on the topic any more" : error));
        free(out);
        return intake;
    }
    /* topic,partition,offset,timestamp,event_id,occurred_at,recorded_at,source_ods_code,... */
    static const char *const columns[] = {NULL, NULL,          NULL,          "accepted_at",
                                          NULL, "occurred_at", "recorded_at", "source_ods_code"};
    char *cell = second + 1;
    for (size_t i = 0; i < sizeof columns / sizeof columns[0] && cell; i++) {
        size_t len = strcspn(cell, ",\n");
        if (columns[i]) {
            char value[128];
            snprintf(value, sizeof value, "%.*s", (int)len, cell);
            json_object_set_new(intake, columns[i], json_string(value));
        }
        cell = cell[len] == ',' ? cell + len + 1 : NULL;
    }
    free(out);
    return intake;
}

/* Events of event_id still retrying, from dispatch's /partners. */
static json_t *api_retrying(struct console *console, const char *event_id)
{
    json_t *found = json_array(), *answer = console_sampler_partners(console->sampler);
    json_t *partner;
    size_t i;
    json_array_foreach(json_object_get(answer, "partners"), i, partner)
    {
        json_t *retry;
        size_t j;
        json_array_foreach(json_object_get(partner, "retrying"), j, retry)
        {
            const char *id = json_string_value(json_object_get(retry, "event_id"));
            if (id && strcmp(id, event_id) == 0) {
                json_t *row = json_deep_copy(retry);
                json_object_set(row, "partner", json_object_get(partner, "id"));
                json_object_set_new(row, "outcome", json_string("retrying"));
                json_array_append_new(found, row);
            }
        }
    }
    json_decref(answer);
    return found;
}

static void api_trace(struct console_call *call)
{
    const char *event_id = httpd_request_query(call->request, "event_id");
    char errstr[512];
    if (!api_event_id_valid(event_id)) {
        httpd_response_error(call->response, 400, "invalid", "event_id",
                             "event_id: 1 to 64 letters, digits, '.', '_', ':' or '-' (paste it "
                             "from a receipt, a log line or the list of latest events)");
        return;
    }
    json_t *rows = json_array();
    if (ledger_event(call->console->ledger, event_id, api_collect, rows, errstr, sizeof errstr) <
        0) {
        json_decref(rows);
        httpd_response_error(call->response, 500, "ledger", NULL, "%s", errstr);
        return;
    }
    json_t *retrying = api_retrying(call->console, event_id), *intake = json_null();
    json_t *first = json_array_get(rows, 0);
    if (first && json_is_string(json_object_get(first, "topic")))
        intake = api_intake(call->console, json_string_value(json_object_get(first, "topic")),
                            (int)json_integer_value(json_object_get(first, "partition")),
                            (long long)json_integer_value(json_object_get(first, "offset")));
    const char *note = NULL;
    if (json_array_size(rows) == 0 && json_array_size(retrying) == 0)
        note = "No partner has an outcome for this event yet: it is still queued (see the "
               "lag on the overview), or the id is not one the hub received.";
    httpd_response_json(call->response, 200,
                        json_pack("{s:s,s:o,s:o,s:o,s:o}", "event_id", event_id, "intake", intake,
                                  "outcomes", rows, "retrying", retrying, "note",
                                  note ? json_string(note) : json_null()));
}

static const struct config_partner *api_partner(struct console_call *call, const char *id)
{
    const struct config_partner *partner = config_partner_find(call->console->config, id);
    if (!partner || !partner->connector) {
        httpd_response_error(call->response, 404, "not_found", "partner",
                             "partner: no partner '%s' receives events in this configuration", id);
        return NULL;
    }
    return partner;
}

/* POST /api/partners/{id}/{pause|resume|probe}: passed to dispatch, which
 * audits it under this user's name. */
static void api_control(struct console_call *call, const char *rest)
{
    char id[128], action[16], url[512], errstr[512];
    const char *slash = strchr(rest, '/');
    if (!slash || (size_t)(slash - rest) >= sizeof id || strlen(slash + 1) >= sizeof action) {
        httpd_response_error(call->response, 404, "not_found", NULL,
                             "use /api/partners/PARTNER/pause, /resume or /probe");
        return;
    }
    snprintf(id, sizeof id, "%.*s", (int)(slash - rest), rest);
    snprintf(action, sizeof action, "%s", slash + 1);
    if (!api_partner(call, id))
        return;
    if (call->session.role != CONSOLE_OPERATOR) {
        httpd_response_error(call->response, 403, "forbidden", NULL,
                             "partner controls are for operators; you are logged in as %s",
                             console_role_name(call->session.role));
        return;
    }
    if (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0 &&
        strcmp(action, "probe") != 0) {
        httpd_response_error(call->response, 400, "invalid", "action",
                             "action: pause, resume or probe, not '%s'", action);
        return;
    }
    char path[200];
    snprintf(path, sizeof path, "/partners/%s/%s", id, action);
    if (console_service_url(call->console->config, "dispatch", path, url, sizeof url) != 0) {
        httpd_response_error(call->response, 503, "unavailable", NULL,
                             "neither console.dispatch_url nor operations.dispatch_listen is "
                             "set: the console cannot reach dispatch");
        return;
    }
    char *body = NULL;
    int status = console_http("POST", url, call->console->token, call->session.name, &body, errstr,
                              sizeof errstr);
    json_t *answer = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    if (status < 0 || !answer) {
        json_decref(answer);
        httpd_response_error(call->response, 502, "dispatch", NULL, "dispatch did not answer: %s",
                             status < 0 ? errstr : "not JSON");
        return;
    }
    log_info("partner control user=%s partner=%s action=%s status=%d", call->session.name, id,
             action, status);
    const char *refusal = json_string_value(json_object_get(answer, "error"));
    if (status >= 400 && refusal) {
        /* dispatch says why ("the circuit is not open: nothing to probe"):
         * in the console's own error shape. */
        httpd_response_error(call->response, status, "dispatch", NULL, "%s", refusal);
        json_decref(answer);
        return;
    }
    console_sampler_wake(call->console->sampler);
    httpd_response_json(call->response, status, answer);
}

int console_api(struct console_call *call)
{
    const char *path = call->request->path;
    int get = strcmp(call->request->method, "GET") == 0;
    if (get && strcmp(path, "/api/session") == 0) {
        httpd_response_json(call->response, 200,
                            json_pack("{s:s,s:s,s:s}", "name", call->session.name, "role",
                                      console_role_name(call->session.role), "csrf",
                                      call->session.csrf));
    } else if (get && strcmp(path, "/api/overview") == 0) {
        httpd_response_json(call->response, 200, console_sampler_overview(call->console->sampler));
    } else if (get && strcmp(path, "/api/events/recent") == 0) {
        api_recent(call);
    } else if (get && strcmp(path, "/api/trace") == 0) {
        api_trace(call);
    } else if (!get && strncmp(path, "/api/partners/", 14) == 0) {
        api_control(call, path + 14);
    } else {
        return console_api_letters(call) == 0 ? 0 : console_api_subject(call);
    }
    return 0;
}
