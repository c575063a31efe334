/*
 * objection_write.c - the one writer of objection changes (see
 * objection_write.h), for placehub-ingest's POST /v1/objections and
 * placehub-ctl objection record|withdraw.
 *
 * The request's NHS number lives only in the caller's buffer and, for the
 * moment of hashing, in a local one that is wiped; nothing here logs. The
 * record's format and key are objection.c's; the audit record's is here.
 */
#include "governance/objection_write.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nhs.h"
#include "kafka/kafka.h"
#include "schema/codec.h"
#include "schema/event.h"

int objection_write_topics_ensure(rd_kafka_t *kafka, const struct config *config, int timeout_ms,
                                  char *errstr, size_t errstr_size)
{
    /* The audit topic as placehub-dispatch declares it (dispatch.c). */
    int replication = config->topic_count ? config->topics[0].replication_factor : 1;
    struct config_topic audit = {config->dispatch.audit_topic, 3, replication, -1};
    if (kafka_topics_create(kafka, &audit, 1, timeout_ms, errstr, errstr_size) != 0 ||
        kafka_topics_ensure(kafka, config, timeout_ms, errstr, errstr_size) != 0)
        return -1;
    return 0;
}

static int objection_write_refuse(struct objection_write_refusal *refusal, const char *field,
                                  const char *code)
{
    refusal->field = field;
    refusal->code = code;
    return -1;
}

/* A role or system id: see objection_write_check. */
static int objection_write_recorded_by_check(const char *text,
                                             struct objection_write_refusal *refusal)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len >= OBJECTION_ID_SIZE) {
        snprintf(refusal->message, sizeof refusal->message,
                 "recorded_by must be 1 to %d characters: the staff role or system that records "
                 "the change (e.g. gp-reception, pas-integration), never a person's name",
                 OBJECTION_ID_SIZE - 1);
        return objection_write_refuse(refusal, "recorded_by", "invalid_recorded_by");
    }
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("._-:", c))
            continue;
        snprintf(refusal->message, sizeof refusal->message,
                 "recorded_by has %s at position %zu: it takes letters, digits and . _ - : only "
                 "(a role or system id such as gp-reception; no names, no e-mail addresses)",
                 c == ' '   ? "a space"
                 : c == '@' ? "an @"
                            : "a character it does not take",
                 i + 1);
        return objection_write_refuse(refusal, "recorded_by", "invalid_recorded_by");
    }
    return 0;
}

int objection_write_check(const struct config *config,
                          const struct objection_write_request *request,
                          struct objection_change *change, struct objection_write_refusal *refusal)
{
    char nhs_number[16], reason[512];
    memset(change, 0, sizeof *change);
    memset(refusal, 0, sizeof *refusal);
    if (!request->nhs_number ||
        nhs_number_normalise(request->nhs_number, nhs_number, sizeof nhs_number, reason,
                             sizeof reason) != 0) {
        snprintf(refusal->message, sizeof refusal->message, "nhs_number %s",
                 request->nhs_number ? reason : "is missing");
        return objection_write_refuse(refusal, "nhs_number", "invalid_nhs_number");
    }
    int keyed =
        event_person_key_of_nhs_number(nhs_number, change->person_ref, sizeof change->person_ref);
    explicit_bzero(nhs_number, sizeof nhs_number);
    if (keyed != 0) {
        snprintf(refusal->message, sizeof refusal->message,
                 "nhs_number: the hub cannot compute the person reference");
        return objection_write_refuse(refusal, "nhs_number", "invalid_nhs_number");
    }
    if (!request->scope ||
        objection_scope_parse(request->scope, config, &change->scope, reason, sizeof reason) != 0) {
        snprintf(refusal->message, sizeof refusal->message, "scope: %s",
                 request->scope ? reason : "is missing");
        return objection_write_refuse(refusal, "scope", "unknown_scope");
    }
    if (objection_write_recorded_by_check(request->recorded_by, refusal) != 0)
        return -1;
    snprintf(change->recorded_by, sizeof change->recorded_by, "%s", request->recorded_by);
    if (snprintf(change->source, sizeof change->source, "%s", request->source) >=
        (int)sizeof change->source) {
        snprintf(refusal->message, sizeof refusal->message, "source: too long");
        return objection_write_refuse(refusal, "source", "invalid_source");
    }
    change->withdrawn = request->withdraw ? 1 : 0;
    return 0;
}

/* The audit record of a change: the change's fields under
 * "record":"objection_change", so auditors find every change on the audit
 * topic beside disclosures and suppressions. Caller frees; NULL when out
 * of memory. */
static char *objection_write_audit_record(const struct objection_change *change, const char *scope,
                                          const char *changed_at)
{
    json_t *record = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "record", "objection_change", "person_ref",
        change->person_ref, "scope", scope, "state", change->withdrawn ? "withdrawn" : "recorded",
        "changed_at", changed_at, "recorded_by", change->recorded_by, "source", change->source);
    char *text = record ? json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(record);
    return text;
}

int objection_write_send(struct producer *producer, const struct config *config,
                         const struct objection_change *checked, int64_t now_ms,
                         struct objection_write_result *result)
{
    struct objection_change change = *checked;
    struct producer_result sent = {0};
    char scope[OBJECTION_SCOPE_SIZE], key[OBJECTION_KEY_SIZE], errstr[256];
    memset(result, 0, sizeof *result);
    result->err = RD_KAFKA_RESP_ERR__FAIL;
    change.changed_at = now_ms;
    result->state = change.withdrawn ? "withdrawn" : "recorded";
    codec_timestamp_format(now_ms, result->changed_at, sizeof result->changed_at);
    if (objection_scope_format(&change.scope, scope, sizeof scope) != 0 ||
        objection_change_key(&change, key, sizeof key) != 0)
        return -1;
    char *value = objection_change_encode(&change, errstr, sizeof errstr);
    char *audit = objection_write_audit_record(&change, scope, result->changed_at);
    if (!value || !audit) {
        free(value);
        free(audit);
        return -1;
    }
    /* IMPORTANT: the audit record first, and the change only once the broker
     * has it: a change on the register is always accounted for. */
    if (producer_send(producer, config->dispatch.audit_topic, change.person_ref,
                      strlen(change.person_ref), audit, strlen(audit), NULL, 0, &sent) != 0) {
        free(value);
        result->err = sent.err;
        return -1;
    }
    result->audit_partition = sent.partition;
    result->audit_offset = sent.offset;
    if (producer_send(producer, config->governance.objections_topic, key, strlen(key), value,
                      strlen(value), NULL, 0, &sent) != 0) {
        result->err = sent.err;
        return -1;
    }
    result->partition = sent.partition;
    result->offset = sent.offset;
    result->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    return 0;
}
