/*
 * agreement.h - data-sharing agreements, enforced (docs/governance.md).
 *
 * Each partner has one or more agreements in the configuration
 * (struct config_agreement): the event types (topics) it covers, an
 * allow-list of field paths, the conditions under which a person's events
 * may go to the partner, whether the partner gives direct care, whether it
 * may receive restricted records, and optionally a pseudonym key.
 *
 * For each event and partner, agreement_decide picks the first agreement (in
 * the order written) that covers the event type and whose rules the event
 * passes, and returns the event cut to that agreement's fields: anything not
 * named is absent from what the connector gets, the envelope excepted
 * (agreement_always_disclosed). When no agreement covers the event type, or
 * none lets it through, the event is suppressed with a reason and a detail
 * free of personal data: default deny.
 *
 * Everything here is a pure function of its arguments (no I/O, no logging)
 * and safe to call from several threads at once.
 */
#ifndef PLACEHUB_AGREEMENT_H
#define PLACEHUB_AGREEMENT_H

#include <jansson.h>
#include <stddef.h>

#include "schema/catalogue.h"
#include "core/config.h"

/* Suppression reasons, as written in audit records. */
#define AGREEMENT_OBJECTION "objection"       /* objected, and the agreement is not direct care */
#define AGREEMENT_RESTRICTED "restricted"     /* restricted record, not covered */
#define AGREEMENT_CONDITION "condition"       /* GP practice or postcode district not covered */
#define AGREEMENT_NO_AGREEMENT "no_agreement" /* nothing covers the event type */

/* Where a pseudonym goes in the event a partner receives (docs/governance.md). */
#define AGREEMENT_PSEUDONYM_FIELD "pseudonym"

/* Size of a pseudonym with its NUL: 64 hexadecimal digits. */
#define AGREEMENT_PSEUDONYM_SIZE 65

/* Shortest pseudonym or person key accepted, in bytes. */
#define AGREEMENT_KEY_MIN 32

/* 1 when a top-level field goes to every recipient of an event: what is
 * needed to process it at all (event_id, event_type, schema_version,
 * occurred_at, recorded_at, source_ods_code, correlation_id,
 * cancels_event_id, supersedes_event_id from schema version 2) and the
 * sharing flags, which bind the recipient too. */
int agreement_always_disclosed(const char *field);

/* Checks every agreement of config against the schemas of catalogue: each
 * event type must have a schema, each field path must name a field of at
 * least one of the agreement's event types (any version). Returns 0, or -1
 * with "file:line:column: message" in errstr, with a "did you mean" when a
 * field is close to one that exists. */
int agreement_check(const struct config *config, const struct catalogue *catalogue, char *errstr,
                    size_t errstr_size);

/* 1 when agreement covers event_type (a topic name). */
int agreement_covers(const struct config_agreement *agreement, const char *event_type);

/* Whether event may go out under agreement: NULL when it may, else one of
 * the reasons above with detail (no personal data in it) filled. Reads the
 * sharing flags, person.gp_practice_ods_code and person.address.postcode of
 * the whole event. Checks in this order: restricted record, objection,
 * conditions. */
const char *agreement_judge(const struct config_agreement *agreement, const json_t *event,
                            char *detail, size_t detail_size);

/* A new event holding only what agreement allows of event: the always
 * disclosed fields, and each listed path with everything under it. A record
 * on the way to a listed path keeps only what leads there; arrays of records
 * keep that much of each item. Absent means withheld; null means the sender
 * did not know. NULL when out of memory. */
json_t *agreement_minimise(const struct config_agreement *agreement, const json_t *event);

/* The sorted field paths event discloses: every path to a value that is not
 * null, an empty list or an empty record ("person.address.postcode",
 * "care_needs", "person.local_identifiers.value"). NULL when out of memory. */
json_t *agreement_fields(const json_t *event);

/* A partner's pseudonym for an NHS number: HMAC-SHA256 under the partner's
 * key, as 64 lower-case hexadecimal digits. Returns 0, or -1 (no key, or
 * out_size below AGREEMENT_PSEUDONYM_SIZE). */
int agreement_pseudonym(const void *key, size_t key_len, const char *nhs_number, char *out,
                        size_t out_size);

/* The district (outward code) of a UK postcode, upper case: "sk4 1ab",
 * "SK41AB" -> "SK4". Returns 0, or -1 when postcode is not shaped like one. */
int agreement_postcode_district(const char *postcode, char *out, size_t out_size);

/* What to do with one event for one partner. */
struct agreement_decision {
    const struct config_agreement *agreement; /* used, or the first that refused; NULL: none */
    const char *reason;                       /* NULL: disclose; else a reason above */
    char detail[192];                         /* suppressed: why, without personal data */
    json_t *event;                            /* disclosed: the minimised event (owned) */
    json_t *fields;                           /* disclosed: agreement_fields of it (owned) */
    int pseudonymised;                        /* person.pseudonym was added */
};

/* Decides for event of type event_type (a topic) and partner. pseudonym_key
 * is the partner's key (NULL when none of its agreements names one); a
 * pseudonym is added, as person.pseudonym, when the agreement used names a
 * key and the person has an NHS number. Returns 0, or -1 when out of memory
 * (decision cleared). Free with agreement_decision_clear. */
int agreement_decide(const struct config_partner *partner, const char *event_type,
                     const void *pseudonym_key, size_t key_len, const json_t *event,
                     struct agreement_decision *decision);

void agreement_decision_clear(struct agreement_decision *decision);

/* Size of an agreement version with its NUL: 12 hexadecimal digits. */
#define AGREEMENT_VERSION_SIZE 13

/* The version of agreement as dispatch applies it: the first 12 hexadecimal
 * digits of SHA-256 over its rules (event types, fields, conditions,
 * direct_care, restricted_records, the pseudonym key's name; not purpose
 * or legal_basis, which decide nothing). Any change to what it lets
 * through changes it, so a disclosure record says which rules applied
 * even when an agreement was edited in place under the same id. */
void agreement_version(const struct config_agreement *agreement, char *out, size_t out_size);

/* Reads the pseudonym key partner's agreements name (env: or file:) into
 * key (key_size bytes, not NUL-terminated); *key_len is 0 when none names
 * one. Returns 0, or -1 with errstr naming config's file and line (never
 * the key). Callers wipe key when done (explicit_bzero). */
int agreement_load_key(const struct config *config, const struct config_partner *partner,
                       unsigned char *key, size_t key_size, size_t *key_len, char *errstr,
                       size_t errstr_size);

#endif
