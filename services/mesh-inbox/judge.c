/*
 * judge.c - one MESH message judged as placehub-ingest judges a POST (see
 * inbox_internal.h), and the records of a refusal: the dead letter (the
 * message's bytes as received, the reason in placehub.* headers) and the
 * audit record ("mesh_refused").
 *
 * Reasons name headers, fields and rights, never the message's values
 * (mex-Subject is quoted, cut short: it is a type name, or the sender's
 * mistake, and is printable ASCII by the time it is here); they go to the
 * audit record and the dead letter, and the log has the keyword only.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mesh.h"
#include "inbox_internal.h"
#include "schema/catalogue.h"
#include "schema/codec.h"

static enum inbox_judgement judge_refuse(struct inbox_verdict *verdict, const char *code,
                                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum inbox_judgement judge_refuse(struct inbox_verdict *verdict, const char *code,
                                         const char *fmt, ...)
{
    va_list args;
    verdict->code = code;
    va_start(args, fmt);
    vsnprintf(verdict->reason, sizeof verdict->reason, fmt, args);
    va_end(args);
    return INBOX_REFUSED;
}

/* The sender, the workflow, the encoding, the type and the partner's right
 * to send it. Returns INBOX_ACCEPTED with *publisher, or INBOX_REFUSED. */
static enum inbox_judgement judge_envelope(struct inbox *inbox, const struct mesh_message *message,
                                           struct inbox_verdict *verdict,
                                           struct publisher **publisher)
{
    const struct config *config = inbox->config;
    const struct mesh_message_headers *headers = &message->headers;
    if (message->too_large)
        return judge_refuse(verdict, "message_too_large",
                            "the message is larger than mesh_inbox.max_message_bytes (%lld)",
                            config->mesh_inbox.max_message_bytes);
    if (headers->malformed)
        return judge_refuse(verdict, "malformed_headers",
                            "MESH's headers for the message are not printable text of a "
                            "readable length");
    if (headers->message_type[0] && strcasecmp(headers->message_type, "DATA") != 0)
        return judge_refuse(verdict, "not_data",
                            "a MESH %s message, not DATA: only DATA messages carry events",
                            headers->message_type);
    *publisher = publishers_find_mesh_mailbox(inbox->publishers, headers->from);
    if (!*publisher)
        return judge_refuse(verdict, "unknown_sender",
                            "sending mailbox '%.32s' is no partner's ingest.mesh_mailbox: who "
                            "sent it is not known, so it cannot be accepted",
                            headers->from);
    verdict->partner_id = publisher_partner(*publisher)->id;
    if (config->mesh_inbox.workflow_id &&
        strcmp(headers->workflow_id, config->mesh_inbox.workflow_id) != 0)
        return judge_refuse(verdict, "workflow_not_allowed",
                            "workflow '%.64s' is not mesh_inbox.workflow_id (%s)",
                            headers->workflow_id, config->mesh_inbox.workflow_id);
    if (headers->content_encoding[0] && strcasecmp(headers->content_encoding, "identity") != 0)
        return judge_refuse(verdict, "unsupported_encoding",
                            "content encoding '%.32s': send events uncompressed",
                            headers->content_encoding);
    const char *type = headers->subject;
    if (!config_topic_find(config, type) ||
        !catalogue_latest_for_topic(registry_catalogue(inbox->registry), type))
        return judge_refuse(verdict, "unknown_event_type",
                            "mex-Subject '%.64s' names no event type of this hub (admission, "
                            "discharge, referral, employment-support)",
                            type);
    snprintf(verdict->type, sizeof verdict->type, "%s", type);
    if (!publisher_may_publish(*publisher, type))
        return judge_refuse(verdict, "event_type_not_allowed",
                            "partner %s may not publish %s events (its ingest.publishes does not "
                            "list it)",
                            verdict->partner_id, type);
    return INBOX_ACCEPTED;
}

enum inbox_judgement inbox_judge(struct inbox *inbox, const char *id,
                                 const struct mesh_message *message, struct inbox_verdict *verdict,
                                 struct submission *submission)
{
    struct publisher *publisher = NULL;
    memset(verdict, 0, sizeof *verdict);
    verdict->partner_id = "-";
    enum inbox_judgement judged = judge_envelope(inbox, message, verdict, &publisher);
    if (judged != INBOX_ACCEPTED)
        return judged;
    json_error_t json_error;
    json_t *event = json_loadb(message->data, message->len, JSON_REJECT_DUPLICATES, &json_error);
    if (!event)
        return judge_refuse(verdict, "malformed_json",
                            "the message is not valid JSON: line %d, column %d (byte %d)",
                            json_error.line, json_error.column, json_error.position);
    /* IMPORTANT: an event without an id gets one derived from the MESH
     * message id, so reading the message again (a crash before the
     * acknowledgement) gives the same event, never a second one. */
    if (json_is_object(event) && !json_object_get(event, "event_id")) {
        char derived[40];
        mesh_event_id(id, derived, sizeof derived);
        json_object_set_new(event, "event_id", json_string(derived));
    }
    struct submission_type type = {.registry = inbox->registry, .type = verdict->type};
    struct submission_error error;
    char errstr[512];
    if (registry_writer(inbox->registry, verdict->type, -1, &type.latest, &type.latest_schema_id,
                        errstr, sizeof errstr) != 0) {
        log_error("schema registry error type=%s: %s", verdict->type, errstr);
        judged = INBOX_LATER;
    } else if (submission_prepare(&type, publisher, verdict->partner_id, event, "", submission,
                                  &error) != 0) {
        if (error.status == 503) {
            log_error("schema registry error type=%s: %s", verdict->type, error.detail);
            judged = INBOX_LATER;
        } else {
            judged = judge_refuse(verdict, error.code, "%s", error.message);
        }
    }
    json_decref(event);
    return judged;
}

/* The audit record of a refusal (caller frees), or NULL. */
static char *judge_audit_record(const struct inbox *inbox, const char *id,
                                const struct mesh_message *message,
                                const struct inbox_verdict *verdict,
                                const struct producer_result *dead_letter)
{
    char at[48];
    codec_timestamp_format(clock_wall_ms(), at, sizeof at);
    json_t *record =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:i,s:I},s:s}", "record", "mesh_refused",
                  "mesh_message_id", id, "mailbox", inbox->config->mesh_inbox.mailbox,
                  "sender_mailbox", message->headers.from, "partner", verdict->partner_id, "error",
                  verdict->code, "reason", verdict->reason, "dead_letter", "topic",
                  inbox->config->mesh_inbox.dead_letter_topic, "partition",
                  (int)dead_letter->partition, "offset", (json_int_t)dead_letter->offset, "at", at);
    char *text = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);
    return text;
}

int inbox_refuse(struct inbox *inbox, const char *id, const struct mesh_message *message,
                 const struct inbox_verdict *verdict)
{
    const struct mesh_message_headers *headers = &message->headers;
    const struct producer_header dead_letter_headers[] = {
        {"placehub.error", verdict->code, strlen(verdict->code)},
        {"placehub.reason", verdict->reason, strlen(verdict->reason)},
        {"placehub.mesh_message_id", id, strlen(id)},
        {"placehub.mesh_sender", headers->from, strlen(headers->from)},
        {"placehub.mesh_workflow_id", headers->workflow_id, strlen(headers->workflow_id)},
        {"placehub.mesh_subject", headers->subject, strlen(headers->subject)},
        {"placehub.partner", verdict->partner_id, strlen(verdict->partner_id)},
    };
    struct producer_result dead_letter, audited;
    void *copy = malloc(message->len ? message->len : 1);
    if (!copy)
        return -1;
    memcpy(copy, message->data, message->len);
    if (producer_send(inbox->producer, inbox->config->mesh_inbox.dead_letter_topic, id, strlen(id),
                      copy, message->len, dead_letter_headers,
                      sizeof dead_letter_headers / sizeof dead_letter_headers[0],
                      &dead_letter) != 0) {
        log_warning("cannot dead-letter mesh_message_id=%s error=%s: it stays in the inbox", id,
                    rd_kafka_err2name(dead_letter.err));
        return -1;
    }
    char *record = judge_audit_record(inbox, id, message, verdict, &dead_letter);
    if (!record || producer_send(inbox->producer, inbox->config->dispatch.audit_topic, id,
                                 strlen(id), record, strlen(record), NULL, 0, &audited) != 0) {
        log_warning("cannot write the audit record of mesh_message_id=%s: it stays in the inbox",
                    id);
        return -1;
    }
    /* The reason is in the audit record; the log keeps to the keyword. */
    log_warning("message refused mesh_message_id=%s sender=%s partner=%s error=%s "
                "dead_letter=%s/%d/%lld",
                id, headers->from, verdict->partner_id, verdict->code,
                inbox->config->mesh_inbox.dead_letter_topic, (int)dead_letter.partition,
                (long long)dead_letter.offset);
    return 0;
}
