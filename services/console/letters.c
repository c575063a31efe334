/*
 * letters.c - the console's dead letters and the auditor's view, both
 * done by placehub-ctl (dlq list|show|redrive, subject-access) so that
 * each operator action has one implementation and one audit trail.
 *
 * A dead letter is shown as its partner would have received it: the
 * decoded event cut to the field paths its receipt says were disclosed
 * (the console's ledger). Operators see those paths with the values of
 * all but the envelope masked; auditors see the values, and each such
 * view is first written to the audit topic (a "personal_data_view"
 * record: who, what, which person reference, when). If that write is not
 * acknowledged, nothing is shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/nhs.h"
#include "governance/ledger.h"
#include "kafka/producer.h"
#include "schema/event.h"

/* Envelope fields an operator may see: identifiers of the event, never of
 * the person. */
static const char *const letters_envelope[] = {
    "event_id",         "schema_version",      "recorded_at", "occurred_at", "source_ods_code",
    "cancels_event_id", "supersedes_event_id", "priority",    NULL};

/* Runs placehub-ctl with args (the subcommand first) and -c the
 * console's configuration, and gives its JSON lines as an array; *status
 * is its exit status (3: done, but needs attention, e.g. dead letters
 * outstanding), error the last line it wrote on stderr. */
static json_t *letters_ctl(struct console_call *call, char **args, int *status, char *error,
                           size_t error_size)
{
    char *argv[24];
    size_t n = 0;
    argv[n++] = call->console->ctl_path;
    for (size_t i = 0; args[i] && n < sizeof argv / sizeof argv[0] - 3; i++)
        argv[n++] = args[i];
    argv[n++] = "-c";
    argv[n++] = (char *)call->console->config->path;
    argv[n] = NULL;
    char *out = NULL;
    *status = console_run(argv, 16 * 1024 * 1024, 120000, &out, error, error_size);
    json_t *lines = json_array();
    for (char *line = out; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        json_t *value = line[0] ? json_loads(line, 0, NULL) : NULL;
        if (value)
            json_array_append_new(lines, value);
        line = end ? end + 1 : NULL;
    }
    free(out);
    return lines;
}

static int letters_id_valid(const char *id)
{
    int partition;
    long long offset;
    char extra;
    return id && strlen(id) < 48 && sscanf(id, "%d:%lld%c", &partition, &offset, &extra) == 2 &&
           partition >= 0 && offset >= 0;
}

static void letters_list(struct console_call *call)
{
    const char *partner = httpd_request_query(call->request, "partner");
    const char *all = httpd_request_query(call->request, "all");
    char *args[8] = {"dlq", "list", "--json", NULL};
    size_t n = 3;
    if (partner && partner[0]) {
        if (!config_partner_find(call->console->config, partner)) {
            httpd_response_error(call->response, 404, "not_found", "partner",
                                 "partner: no partner '%s' in this configuration", partner);
            return;
        }
        args[n++] = "--partner";
        args[n++] = (char *)partner;
    }
    if (all && strcmp(all, "1") == 0)
        args[n++] = "--all";
    args[n] = NULL;
    char error[512];
    int status;
    json_t *letters = letters_ctl(call, args, &status, error, sizeof error);
    if (status != 0 && status != 3) {
        json_decref(letters);
        httpd_response_error(call->response, 502, "ctl", NULL, "placehub-ctl dlq list: %s", error);
        return;
    }
    httpd_response_json(call->response, 200, json_pack("{s:o}", "dead_letters", letters));
}

/* Keeps in event only the dotted paths in fields (a JSON array); masks
 * every value outside the envelope when mask is set. */
static void letters_cut(json_t *event, const json_t *fields, const char *prefix, int mask)
{
    const char *key;
    json_t *value;
    void *spare;
    json_object_foreach_safe(event, spare, key, value)
    {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", key);
        int kept = 0, inside = 0;
        size_t i, path_len = strlen(path);
        json_t *field;
        json_array_foreach(fields, i, field)
        {
            const char *text = json_string_value(field);
            if (!text)
                continue;
            if (strcmp(text, path) == 0)
                kept = 1;
            else if (strncmp(text, path, path_len) == 0 && text[path_len] == '.')
                inside = 1;
        }
        if (!kept && inside && json_is_object(value)) {
            letters_cut(value, fields, path, mask);
        } else if (!kept && !inside) {
            json_object_del(event, key);
        } else if (mask) {
            int envelope = 0;
            for (const char *const *name = letters_envelope; *name; name++)
                envelope |= strcmp(path, *name) == 0;
            if (!envelope)
                json_object_set_new(event, key, json_string("(personal data: auditors only)"));
        }
    }
}

/* The fields the dead letter's receipt says its attempts carried. */
struct letters_fields {
    const char *partner;
    json_t *fields;
};

static int letters_fields_of(void *opaque, const struct ledger_entry *entry)
{
    struct letters_fields *found = opaque;
    if (entry->partner && strcmp(entry->partner, found->partner) == 0 && entry->fields &&
        strcmp(entry->record, "delivery") == 0) {
        json_decref(found->fields);
        found->fields = json_loads(entry->fields, 0, NULL);
    }
    return 0;
}

/* Writes who viewed what about whom to the audit topic and waits for the
 * broker; 0 when acknowledged. */
static int letters_audit_view(struct console_call *call, const char *view, const char *person_ref,
                              const char *subject)
{
    char at[40];
    int64_t now = clock_wall_ms();
    time_t seconds = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *record =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "record", "personal_data_view", "actor",
                  call->session.name, "role", console_role_name(call->session.role), "view", view,
                  "subject", subject, "person_ref", person_ref, "at", at);
    char *value = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);
    if (!value)
        return -1;
    struct producer_result result;
    int rc = producer_send(call->console->audit, call->console->config->dispatch.audit_topic,
                           person_ref, strlen(person_ref), value, strlen(value), NULL, 0, &result);
    log_info("personal data view user=%s view=%s subject=%s audited=%s", call->session.name, view,
             subject, rc == 0 ? "yes" : "no");
    return rc;
}

static void letters_show(struct console_call *call)
{
    const char *id = httpd_request_query(call->request, "id");
    if (!letters_id_valid(id)) {
        httpd_response_error(call->response, 400, "invalid", "id",
                             "id: a dead letter's PARTITION:OFFSET, e.g. 0:42");
        return;
    }
    char *args[] = {"dlq", "show", (char *)id, "--payload", "--json", NULL};
    char error[512];
    int status;
    json_t *lines = letters_ctl(call, args, &status, error, sizeof error);
    json_t *letter = json_incref(json_array_get(lines, 0));
    json_decref(lines);
    if (status != 0 || !letter) {
        json_decref(letter);
        httpd_response_error(call->response, status == 3 ? 404 : 502,
                             status == 3 ? "not_found" : "ctl", "id", "%s",
                             error[0] ? error : "no such dead letter");
        return;
    }
    json_t *event = json_object_get(letter, "event");
    struct letters_fields found = {json_string_value(json_object_get(letter, "partner")), NULL};
    const char *event_id = json_string_value(json_object_get(letter, "event_id"));
    char errstr[256], person_ref[40] = "";
    if (event_id && found.partner)
        ledger_event(call->console->ledger, event_id, letters_fields_of, &found, errstr,
                     sizeof errstr);
    int auditor = call->session.role == CONSOLE_AUDITOR;
    if (json_is_object(event)) {
        event_person_key(event, person_ref, sizeof person_ref);
        if (found.fields)
            letters_cut(event, found.fields, "", !auditor);
        else /* no receipt read yet: nothing of the event is shown */
            json_object_set_new(letter, "event", json_null());
    }
    json_object_set_new(letter, "fields", found.fields ? found.fields : json_null());
    json_object_set_new(letter, "person_ref", json_string(person_ref));
    if (auditor && json_is_object(json_object_get(letter, "event")) &&
        letters_audit_view(call, "dead_letter", person_ref, id) != 0) {
        json_decref(letter);
        httpd_response_error(call->response, 503, "unaudited", NULL,
                             "not shown: the view could not be written to the audit topic");
        return;
    }
    httpd_response_json(call->response, 200, letter);
}

/* POST /api/dead-letters/redrive {"ids": ["0:42", ...]} or {"all": true,
 * "partner": "x"}: operators only; ctl records the user as the actor. */
static void letters_redrive(struct console_call *call)
{
    if (call->session.role != CONSOLE_OPERATOR) {
        httpd_response_error(call->response, 403, "forbidden", NULL,
                             "redrive is for operators; you are logged in as %s",
                             console_role_name(call->session.role));
        return;
    }
    json_error_t parse_error;
    json_t *body = json_loads(call->request->body, 0, &parse_error);
    json_t *ids = json_object_get(body, "ids");
    const char *partner = json_string_value(json_object_get(body, "partner"));
    int all = json_is_true(json_object_get(body, "all"));
    char *args[80] = {"dlq", "redrive", "--json", "--actor", call->session.name, NULL};
    size_t n = 5, i;
    json_t *id;
    if (!json_is_object(body) || (!all && (!json_is_array(ids) || json_array_size(ids) == 0))) {
        httpd_response_error(call->response, 400, "invalid", "ids",
                             "ids: a list of dead letter ids (PARTITION:OFFSET), or all: true "
                             "with a partner");
        goto out;
    }
    if (all && (!partner || !config_partner_find(call->console->config, partner))) {
        httpd_response_error(call->response, 400, "invalid", "partner",
                             "partner: redriving all dead letters needs one partner's id");
        goto out;
    }
    if (!all && json_array_size(ids) > 64) {
        httpd_response_error(call->response, 400, "invalid", "ids",
                             "ids: at most 64 at a time (or all: true with a partner)");
        goto out;
    }
    json_array_foreach(ids, i, id)
    {
        if (!letters_id_valid(json_string_value(id))) {
            httpd_response_error(call->response, 400, "invalid", "ids",
                                 "ids[%zu]: a dead letter's PARTITION:OFFSET, e.g. 0:42", i);
            goto out;
        }
        if (!all)
            args[n++] = (char *)json_string_value(id);
    }
    if (all) {
        args[n++] = "--all";
        args[n++] = "--partner";
        args[n++] = (char *)partner;
    }
    args[n] = NULL;
    char error[512];
    int status;
    json_t *results = letters_ctl(call, args, &status, error, sizeof error);
    log_info("redrive user=%s letters=%zu status=%d", call->session.name, all ? 0 : n - 5, status);
    /* 2: an id names no dead letter, or one already delivered; 3 with
     * nothing tried: the same, as older ctl said it. Nothing was sent. */
    if (status == 2 || (status == 3 && json_array_size(results) == 0)) {
        json_decref(results);
        httpd_response_error(call->response, 404, "not_found", "ids", "%s", error);
        goto out;
    }
    if (status != 0 && status != 3) {
        json_decref(results);
        httpd_response_error(call->response, 502, "ctl", NULL, "placehub-ctl dlq redrive: %s",
                             error);
        goto out;
    }
    console_sampler_wake(call->console->sampler);
    httpd_response_json(call->response, 200,
                        json_pack("{s:o,s:b,s:s}", "results", results, "all_delivered", status == 0,
                                  "summary", error));
out:
    json_decref(body);
}

int console_api_letters(struct console_call *call)
{
    const char *path = call->request->path;
    int get = strcmp(call->request->method, "GET") == 0;
    if (get && strcmp(path, "/api/dead-letters") == 0)
        letters_list(call);
    else if (get && strcmp(path, "/api/dead-letters/show") == 0)
        letters_show(call);
    else if (!get && strcmp(path, "/api/dead-letters/redrive") == 0)
        letters_redrive(call);
    else
        return -1;
    return 0;
}

/* GET /api/subject-access?nhs=N[&from=T&to=T]: auditors only, audited
 * before it is run. */
static void letters_subject(struct console_call *call)
{
    const char *given = httpd_request_query(call->request, "nhs");
    const char *from = httpd_request_query(call->request, "from");
    const char *to = httpd_request_query(call->request, "to");
    char nhs[16], reason[256], person_ref[40], error[512];
    if (call->session.role != CONSOLE_AUDITOR) {
        httpd_response_error(call->response, 403, "forbidden", NULL,
                             "subject access shows personal data: auditors only (you are "
                             "logged in as %s)",
                             console_role_name(call->session.role));
        return;
    }
    if (!given || nhs_number_normalise(given, nhs, sizeof nhs, reason, sizeof reason) != 0) {
        httpd_response_error(call->response, 400, "invalid", "nhs", "nhs: %s",
                             given ? reason : "required: the person's NHS number");
        return;
    }
    if ((from && (strlen(from) > 40 || strspn(from, "0123456789-:TZ.+") != strlen(from))) ||
        (to && (strlen(to) > 40 || strspn(to, "0123456789-:TZ.+") != strlen(to)))) {
        httpd_response_error(call->response, 400, "invalid", from ? "from" : "to",
                             "%s: a date or RFC 3339 time such as 2026-11-22T10:00:00Z",
                             from ? "from" : "to");
        return;
    }
    if (event_person_key_of_nhs_number(nhs, person_ref, sizeof person_ref) != 0 ||
        letters_audit_view(call, "subject_access", person_ref, person_ref) != 0) {
        httpd_response_error(call->response, 503, "unaudited", NULL,
                             "not shown: the view could not be written to the audit topic");
        return;
    }
    char *args[12] = {"subject-access",           "--nhs", nhs, "--format", "json", "--ledger",
                      call->console->ledger_path, NULL};
    size_t n = 7;
    if (from && from[0]) {
        args[n++] = "--from";
        args[n++] = (char *)from;
    }
    if (to && to[0]) {
        args[n++] = "--to";
        args[n++] = (char *)to;
    }
    args[n] = NULL;
    int status;
    json_t *rows = letters_ctl(call, args, &status, error, sizeof error);
    explicit_bzero(nhs, sizeof nhs);
    if (status != 0 && status != 3) {
        json_decref(rows);
        httpd_response_error(call->response, status == 2 ? 400 : 502,
                             status == 2 ? "invalid" : "ctl", NULL, "%s", error);
        return;
    }
    httpd_response_json(call->response, 200, json_pack("{s:o}", "rows", rows));
}

int console_api_subject(struct console_call *call)
{
    if (strcmp(call->request->method, "GET") != 0 ||
        strcmp(call->request->path, "/api/subject-access") != 0)
        return -1;
    letters_subject(call);
    return 0;
}
