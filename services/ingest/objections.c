/*
 * objections.c - placehub-ingest's objection endpoints (docs/security.md,
 * docs/governance.md "The objection register"):
 *
 *   POST /v1/objections           records an objection
 *   POST /v1/objections/withdraw  withdraws one
 *
 * both with {"nhs_number", "scope", "recorded_by"}. A withdrawal is a POST
 * and not a DELETE: it is a new, audited record (who withdrew it and when)
 * rather than the removal of a resource; a body on DELETE has no defined
 * meaning (RFC 9110) and proxies may drop it; and the NHS number must not
 * move into the URL, where access logs would keep it.
 *
 * Authentication and the rate limit are the events' (ingest.c); the right is
 * the partner's ingest.objections (default false). Every check runs before
 * anything is produced; lib/governance/objection_write.c writes the audit
 * record and the change and waits for the broker, so 202 means both are
 * acknowledged. IMPORTANT: the NHS number is never logged, nor person_ref at
 * info level, nor recorded_by.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "governance/objection_write.h"
#include "ingest_internal.h"

enum { OBJECTIONS_MAX_BODY = 4096 };

/* The request's body as {"nhs_number", "scope", "recorded_by"}, all
 * strings. Returns 0 with request's fields borrowed from *body, or -1 with
 * *response filled (400 malformed JSON, 422 naming the field). */
static int objections_parse(const struct httpd_request *request, const char *partner_id,
                            json_t **body, struct objection_write_request *wanted,
                            struct httpd_response *response)
{
    static const char *const fields[] = {"nhs_number", "scope", "recorded_by"};
    json_error_t json_error;
    *body = json_loadb(request->body, request->body_len, JSON_REJECT_DUPLICATES, &json_error);
    if (!*body) {
        httpd_response_error(response, 400, "malformed_json", NULL,
                             "the body is not valid JSON: line %d, column %d (byte %d): %s",
                             json_error.line, json_error.column, json_error.position,
                             json_error.text);
        log_info("objection rejected request_id=%s partner=%s status=400 error=malformed_json",
                 request->request_id, partner_id);
        return -1;
    }
    if (!json_is_object(*body)) {
        httpd_response_error(response, 422, "invalid_objection", NULL,
                             "the body is a JSON object: {\"nhs_number\": ..., \"scope\": ..., "
                             "\"recorded_by\": ...}");
        goto refused;
    }
    const char *name;
    json_t *value;
    json_object_foreach(*body, name, value)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            known |= strcmp(name, fields[i]) == 0;
        if (!known) {
            /* The name is the sender's text: cut, and only sent back. */
            httpd_response_error(response, 422, "unknown_field", name,
                                 "'%.64s' is not a field of an objection; send nhs_number, "
                                 "scope and recorded_by only",
                                 name);
            goto refused;
        }
    }
    const char **slots[] = {&wanted->nhs_number, &wanted->scope, &wanted->recorded_by};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        value = json_object_get(*body, fields[i]);
        if (!json_is_string(value)) {
            httpd_response_error(response, 422, value ? "invalid_field" : "missing_field",
                                 fields[i], "%s %s", fields[i],
                                 value ? "must be a string" : "is required");
            goto refused;
        }
        *slots[i] = json_string_value(value);
    }
    return 0;
refused:
    log_info("objection rejected request_id=%s partner=%s status=422 error=invalid_objection",
             request->request_id, partner_id);
    json_decref(*body);
    *body = NULL;
    return -1;
}

/* Who may: authenticated, within the rate limit, with ingest.objections.
 * Returns the publisher, or NULL with *response filled. */
static struct publisher *objections_admit(struct ingest *ingest,
                                          const struct httpd_request *request,
                                          struct httpd_response *response)
{
    if (!ingest->publishers) {
        /* Default deny: without authentication nobody can be given the right. */
        httpd_response_error(response, 403, "objections_not_allowed", NULL,
                             "objections are taken only from authenticated partners with "
                             "ingest.objections: true; this hub runs with "
                             "ingest.insecure_no_authentication");
        return NULL;
    }
    struct publisher *publisher = ingest_authenticate(ingest, request, response);
    if (!publisher || ingest_limit(publisher, 1, request, response) != 0)
        return NULL;
    if (!publisher_may_record_objections(publisher)) {
        const char *partner_id = publisher_partner(publisher)->id;
        httpd_response_error(response, 403, "objections_not_allowed", NULL,
                             "partner %s may not record or withdraw objections (its ingest: "
                             "section does not say objections: true)",
                             partner_id);
        log_info("objection rejected request_id=%s partner=%s status=403 "
                 "error=objections_not_allowed",
                 request->request_id, partner_id);
        return NULL;
    }
    return publisher;
}

static void objections_change(struct ingest *ingest, int withdraw,
                              const struct httpd_request *request, struct httpd_response *response)
{
    struct publisher *publisher = objections_admit(ingest, request, response);
    if (!publisher)
        return;
    const char *partner_id = publisher_partner(publisher)->id;
    const char *content_type = httpd_request_header(request, "Content-Type");
    if (content_type && strncmp(content_type, "application/json", 16) != 0) {
        httpd_response_error(response, 415, "unsupported_media_type", NULL,
                             "send the objection as application/json");
        return;
    }
    if (request->body_len > OBJECTIONS_MAX_BODY) {
        httpd_response_error(response, 413, "body_too_large", NULL,
                             "an objection is a small JSON object (at most %d bytes)",
                             OBJECTIONS_MAX_BODY);
        return;
    }
    json_t *body = NULL;
    struct objection_write_request wanted = {.withdraw = withdraw};
    if (objections_parse(request, partner_id, &body, &wanted, response) != 0)
        return;
    char source[OBJECTION_SOURCE_SIZE];
    snprintf(source, sizeof source, "api:%s", partner_id);
    wanted.source = source;
    struct objection_change change;
    struct objection_write_refusal refusal;
    int checked = objection_write_check(ingest->config, &wanted, &change, &refusal);
    json_decref(body); /* the NHS number goes with it */
    if (checked != 0) {
        httpd_response_error(response, 422, refusal.code, refusal.field, "%s", refusal.message);
        log_info("objection rejected request_id=%s partner=%s status=422 error=%s field=%s",
                 request->request_id, partner_id, refusal.code, refusal.field);
        return;
    }
    char scope[OBJECTION_SCOPE_SIZE];
    objection_scope_format(&change.scope, scope, sizeof scope);
    struct objection_write_result result;
    if (objection_write_send(ingest->producer, ingest->config, &change, clock_wall_ms(), &result) !=
        0) {
        httpd_response_error(response, 503, "kafka_unavailable", NULL,
                             "the broker did not acknowledge the objection change; send it "
                             "again (the same change again is harmless)");
        httpd_response_header(response, "Retry-After", "1");
        log_warning("objection not acknowledged request_id=%s partner=%s error=%s",
                    request->request_id, partner_id, rd_kafka_err2name(result.err));
        return;
    }
    httpd_response_json(response, 202,
                        json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I}", "person_ref", change.person_ref,
                                  "scope", scope, "state", result.state, "changed_at",
                                  result.changed_at, "topic",
                                  ingest->config->governance.objections_topic, "partition",
                                  (int)result.partition, "offset", (json_int_t)result.offset));
    log_info("objection %s request_id=%s partner=%s scope=%s", result.state, request->request_id,
             partner_id, scope);
}

int ingest_objections_handle(struct ingest *ingest, const struct httpd_request *request,
                             struct httpd_response *response)
{
    int withdraw;
    if (strcmp(request->path, "/v1/objections") == 0)
        withdraw = 0;
    else if (strcmp(request->path, "/v1/objections/withdraw") == 0)
        withdraw = 1;
    else
        return 0;
    if (strcmp(request->method, "POST") != 0) {
        httpd_response_error(response, 405, "method_not_allowed", NULL,
                             "objections are recorded with POST /v1/objections and withdrawn "
                             "with POST /v1/objections/withdraw");
        httpd_response_header(response, "Allow", "POST");
        return 1;
    }
    objections_change(ingest, withdraw, request, response);
    return 1;
}
