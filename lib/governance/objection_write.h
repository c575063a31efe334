/*
 * objection_write.h - the one writer of objection changes: what
 * POST /v1/objections (placehub-ingest) and `placehub-ctl objection
 * record|withdraw` share (docs/governance.md, "The objection register").
 *
 * A change goes through three steps, each of which refuses before anything
 * is written:
 *   1. objection_write_check: the NHS number as a person typed it
 *      (nhs_number_normalise), the scope (objection_scope_parse), who
 *      recorded it; the NHS number becomes the person reference
 *      (event_person_key_of_nhs_number) and is forgotten.
 *   2. objection_write_send: the audit record {"record":"objection_change",
 *      ...} to dispatch.audit_topic keyed by person_ref, and once the broker
 *      acknowledged it, the change to governance.objections_topic keyed
 *      "<person_ref>|<scope>". Audit first: a change never stands on the
 *      register without its audit record. When the change then fails, an
 *      audit record without its change remains; the caller answered "not
 *      acknowledged" and sends again, which writes the same change (the key
 *      makes it idempotent) and a second audit record.
 * Neither the NHS number nor recorded_by is ever logged.
 */
#ifndef PLACEHUB_OBJECTION_WRITE_H
#define PLACEHUB_OBJECTION_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "governance/objection.h"
#include "kafka/producer.h"

/* What a person asked for. All strings borrowed. */
struct objection_write_request {
    const char *nhs_number;  /* as typed: "9990123454", "999 012 3454", "999-012-3454" */
    const char *scope;       /* text form, e.g. "national_data_opt_out" */
    const char *recorded_by; /* a staff role or system id, never a person's name */
    int withdraw;            /* 0: record the objection, 1: withdraw it */
    const char *source;      /* "api:<publisher id>" or "ctl" */
};

/* Why a request was refused: the request's field at fault ("nhs_number",
 * "scope", "recorded_by"), a machine-readable code and a message for the
 * person who typed it. The message never repeats the NHS number. */
struct objection_write_refusal {
    const char *field;
    const char *code; /* "invalid_nhs_number", "unknown_scope", "invalid_recorded_by" */
    char message[768];
};

/* Where the broker put the change and its audit record. */
struct objection_write_result {
    char changed_at[40]; /* RFC 3339 with milliseconds, UTC */
    const char *state;   /* "recorded" or "withdrawn" (static) */
    int32_t partition;   /* of the change on the objections topic */
    int64_t offset;
    int32_t audit_partition;
    int64_t audit_offset;
    rd_kafka_resp_err_t err; /* why it was not acknowledged (objection_write_send -1) */
};

/* Creates, where missing, the topics a writer writes to: the objections
 * topic (with every topic the config declares, kafka_topics_ensure) and
 * dispatch.audit_topic (3 partitions, kept forever, as placehub-dispatch
 * creates it), so intake works before dispatch first ran. kafka is
 * borrowed (e.g. producer_handle). Returns 0 or -1 with errstr. */
int objection_write_topics_ensure(rd_kafka_t *kafka, const struct config *config, int timeout_ms,
                                  char *errstr, size_t errstr_size);

/* Checks request against config (a partner scope must name a configured
 * partner). recorded_by is 1 to 64 characters of letters, digits and
 * ". _ - :" (a role or system id: no spaces, so no names, and no "@", so
 * no e-mail addresses). Returns 0 with *change filled (changed_at 0: set
 * when sent), or -1 with *refusal filled and nothing done. Thread-safe;
 * needs the person key set (event_person_key_set) as the producers of
 * events have it, or the person_ref would not match their keys. */
int objection_write_check(const struct config *config,
                          const struct objection_write_request *request,
                          struct objection_change *change, struct objection_write_refusal *refusal);

/* Writes a checked change (objection_write_check) stamped now_ms (wall clock, milliseconds) with
 * producer (borrowed; an acknowledged producer, see producer.h) and waits
 * for the broker. Returns 0 when both records were acknowledged (*result
 * filled), -1 when either was not (result->err says why; see above for
 * what may then stand). Thread-safe. */
int objection_write_send(struct producer *producer, const struct config *config,
                         const struct objection_change *change, int64_t now_ms,
                         struct objection_write_result *result);

#endif
