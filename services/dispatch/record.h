/*
 * record.h - what dispatch writes about a final outcome: a dead letter
 * (the original message, unchanged, with why it could not be delivered in
 * its headers), and on the audit topic a delivery receipt (which is also
 * the disclosure record: agreement, fields disclosed) or a suppression
 * record. docs/governance.md describes both records field by field.
 */
#ifndef PLACEHUB_RECORD_H
#define PLACEHUB_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "kafka/producer.h"

/* Headers of a dead letter. */
enum { RECORD_DEAD_LETTER_HEADERS = 10 };

/* Where an event came from: all a record needs of the consumed message,
 * which dispatch does not keep (a message pins its whole fetch buffer).
 * Borrowed. */
struct record_source {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* the keyed hash of the person (lib/schema/event.h); NULL: none */
    size_t key_len;
};

/* The facts of one final outcome. Strings are borrowed. */
struct record_outcome {
    const char *partner_id;
    const char *event_id;
    const struct record_source *source; /* the event as consumed */
    int delivered;                      /* 1 delivered, 0 dead-lettered */
    int status;                         /* last protocol status, 0 when none */
    int attempts;
    int64_t latency_ms; /* from the event's Kafka timestamp to now */
    int64_t completed_ms;
    const char *reason;           /* dead-lettered: why */
    const char *response_excerpt; /* dead-lettered: what the partner said */
    const char *agreement_id;     /* the agreement it went out under; NULL: none */
    const char *fields;           /* field paths disclosed: a JSON array (sorted); NULL: none */
    int pseudonymised;            /* a pseudonym stood for the NHS number */
};

/* The receipt as compact JSON (caller frees), or NULL when out of memory.
 * person_ref is the message's Kafka key (null when it has none). */
char *record_receipt(const struct record_outcome *outcome, size_t *len);

/* An event an agreement kept from a partner. Strings are borrowed. */
struct record_suppression {
    const char *partner_id;
    const char *event_id;
    const struct record_source *source; /* the event as consumed */
    const char *agreement_id;           /* the agreement that refused it; NULL: none covers it */
    const char *reason;                 /* objection, restricted, condition, no_agreement */
    const char *detail;                 /* why, in words, without personal data */
    const char *cancels_event_id;       /* a cancellation: the event it cancels; else NULL */
    int64_t at_ms;
};

/* The suppression record as compact JSON (caller frees), or NULL. */
char *record_suppression(const struct record_suppression *suppression, size_t *len);

/* Fills headers (RECORD_DEAD_LETTER_HEADERS entries) for the dead letter;
 * their values point into storage (at least 1024 bytes), which must live
 * until the message is produced. Returns the header count. */
size_t record_dead_letter_headers(const struct record_outcome *outcome,
                                  struct producer_header *headers, char *storage,
                                  size_t storage_size);

/* Copies at most out_size - 1 bytes of a partner's response into out with
 * what could identify a person masked: runs of 6 or more digits (NHS
 * numbers, phone numbers, dates) become '#', other control bytes '.'. */
void record_redact(const char *text, size_t len, char *out, size_t out_size);

#endif
