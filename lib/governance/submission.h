/*
 * submission.h - one event a partner submits, checked and encoded the same
 * way whichever door it came in by: placehub-ingest (HTTP) and
 * placehub-mesh-inbox (MESH). The JSON is completed with the hub's fields
 * (event_id when absent, recorded_at), checked against the schema version it
 * names (or the topic's latest), its NHS number checked (Modulus 11), and its
 * source organisation checked against the partner's ingest.source_ods_codes;
 * then encoded as Confluent-framed Avro with the person key as Kafka key.
 *
 * The refusals are the same words for both doors: what ingest answers in
 * its HTTP error body is what placehub-mesh-inbox writes in the audit
 * record.
 */
#ifndef PLACEHUB_SUBMISSION_H
#define PLACEHUB_SUBMISSION_H

#include <jansson.h>
#include <stddef.h>

#include "governance/publisher.h"
#include "schema/catalogue.h"
#include "schema/registry.h"

/* Why an event was refused. */
struct submission_error {
    int status;        /* as HTTP says it: 422 invalid, 403 not allowed, 503 try later */
    const char *code;  /* invalid_event, source_not_allowed, schema_registry_unavailable */
    char field[300];   /* the field at fault (with the caller's prefix), or "" */
    char message[640]; /* for the sender, free of the event's values */
    char detail[512];  /* 503: the registry's own words, for the log only */
};

/* One event checked and encoded, ready to produce. */
struct submission {
    unsigned char *value; /* Confluent-framed Avro; caller frees (or hands to the producer) */
    size_t value_len;
    char key[65];      /* the person key: the Kafka key */
    char event_id[64]; /* the event's id (the sender's, or the one given here) */
};

/* What the caller knows of the type before it looks at the event. */
struct submission_type {
    struct registry *registry;
    const char *type;                     /* the topic */
    const struct catalogue_entry *latest; /* the topic's latest schema version */
    int latest_schema_id;                 /* its registry id */
};

/* Checks, completes (in place) and encodes event of type for the partner
 * publisher (NULL: no sender checks, ingest's development mode);
 * partner_id names it in messages. where prefixes the field named in an
 * error ("events[3]." in a batch, "" else). Returns 0 with *out filled, or
 * -1 with *error filled and nothing to free. */
int submission_prepare(const struct submission_type *type, const struct publisher *publisher,
                       const char *partner_id, json_t *event, const char *where,
                       struct submission *out, struct submission_error *error);

#endif
