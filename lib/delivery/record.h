/*
 * record.h - the one writer of audit records and dead-letter headers. What
 * is written about a final outcome: a dead letter (the original message,
 * unchanged, with why it could not be delivered in its headers), and on the
 * audit topic a delivery receipt (which is also the disclosure record:
 * agreement, fields disclosed) or a suppression record. placehub-dispatch
 * and placehub-ctl (redeliver, dlq redrive, replay --redeliver) both write
 * through it, so the records cannot drift apart. docs/governance.md
 * describes both records field by field; tests/unit/test_record.c pins
 * them.
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

/* A receipt's "outcome" (docs/governance.md, "Disclosure"). */
enum record_result {
    RECORD_DELIVERED,     /* "delivered": the partner accepted it */
    RECORD_DEAD_LETTERED, /* "dead_lettered": refused for good, unreadable, or still failing at
                           * the end of the retry window; a dead letter holds the event */
    RECORD_FAILED         /* "failed": a redelivery by placehub-ctl that did not succeed; nothing
                           * new is dead-lettered (a redriven dead letter stays where it is) */
};

/* The outcome's name as written in the receipt. */
const char *record_result_name(enum record_result result);

/* Where a dead letter is on the dead-letter topic, for a redrive's receipt. */
struct record_dead_letter {
    const char *topic;
    int32_t partition;
    int64_t offset;
};

/* The facts of one final outcome. Strings are borrowed. */
struct record_outcome {
    const char *partner_id;
    const char *event_id;
    const struct record_source *source; /* the event as consumed */
    enum record_result result;
    int status; /* last protocol status, 0 when none */
    int attempts;
    int64_t latency_ms; /* dispatch: from the event's Kafka timestamp; ctl: from its start */
    int64_t completed_ms;
    const char *reason;            /* not delivered: why */
    const char *response_excerpt;  /* dead-lettered: what the partner said */
    const char *partner_reference; /* delivered: the partner's reference (a MESH message id);
                                    * NULL or "": none, and the receipt has no such key */
    const char *agreement_id;      /* the agreement it went out under; NULL: none */
    const char *agreement_version; /* agreement_version() of it; NULL: none */
    const char *fields;            /* field paths disclosed: a JSON array (sorted); NULL: none */
    int pseudonymised;             /* a pseudonym stood for the NHS number */
    const char *via;               /* ctl's "redrive" or "replay"; NULL: dispatch */
    const char *actor;             /* who asked for it (via ctl or the console); NULL: none */
    const struct record_dead_letter *dead_letter; /* a redrive: the dead letter; else NULL */
    /* A cancellation or correction sent because the partner received the
     * original (docs/governance.md, "Corrections follow disclosures"): the
     * original's event id, written as cancels_event_id or
     * supersedes_event_id; NULL for any other event. */
    const char *cancels_event_id;
    const char *supersedes_event_id;
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
    const char *supersedes_event_id;    /* a correction: the event it replaces; else NULL */
    int64_t at_ms;
    const char *via;   /* ctl's "redrive" or "replay"; NULL: dispatch */
    const char *actor; /* who asked for it (via ctl or the console); NULL: none */
};

/* The suppression record as compact JSON (caller frees), or NULL. */
char *record_suppression(const struct record_suppression *suppression, size_t *len);

/* An operator's action on a partner's delivery engine (dispatch's
 * POST /partners/{id}/pause, resume, probe). Strings are borrowed. */
struct record_partner_control {
    const char *partner_id;
    const char *action; /* "pause", "resume", "probe" */
    const char *actor;  /* who (X-Placehub-Actor), checked by control_actor_valid */
    int64_t at_ms;
};

/* {"record":"partner_control","partner","action","actor","at"} as compact
 * JSON (caller frees), or NULL when out of memory. It is about no person
 * and no event: readers of the audit topic that keep only deliveries,
 * suppressions and objection changes (the disclosure ledger, ctl audit)
 * pass over it. */
char *record_partner_control(const struct record_partner_control *control, size_t *len);

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
