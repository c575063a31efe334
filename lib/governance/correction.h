/*
 * correction.h - corrections follow disclosures (docs/governance.md).
 *
 * A cancellation (cancels_event_id) or a correction (supersedes_event_id)
 * of an earlier event is not judged by today's agreements and objections:
 * it goes to every partner that received the original, and to no other.
 * What it carries is cut to what that partner was sent of the original
 * (the fields of its disclosure record): a correction may correct those
 * fields, never add one; a cancellation carries the envelope and the
 * identifiers among them, which is all a receiver needs to find and void
 * what it holds.
 *
 * Pure functions of their arguments, safe from several threads.
 */
#ifndef PLACEHUB_CORRECTION_H
#define PLACEHUB_CORRECTION_H

#include <jansson.h>
#include <stddef.h>

#include "governance/agreement.h"

/* The suppression reason of a cancellation or correction at a partner that
 * did not receive the original. */
#define CORRECTION_NOT_DISCLOSED "not_disclosed"

enum correction_kind {
    CORRECTION_NONE,         /* an event that undoes nothing */
    CORRECTION_CANCELLATION, /* cancels_event_id: the original never happened */
    CORRECTION_REPLACEMENT   /* supersedes_event_id: the original, corrected */
};

/* What event undoes: the kind, and *original the earlier event's id
 * (borrowed from event; NULL for CORRECTION_NONE). cancels_event_id wins
 * when both are set. */
enum correction_kind correction_of(const json_t *event, const char **original);

/* "cancellation" or "correction" (NULL for none), as audit records and the
 * ledger say it. */
const char *correction_kind_name(enum correction_kind kind);

/* 1 when path (a disclosed field path) identifies the person or the thing
 * an event is about, so a cancellation keeps it: person.nhs_number,
 * person.pseudonym, person.local_identifiers..., encounter_id, referral_id,
 * programme, and site_ods_code and ward (a cancelled transfer puts the
 * person back there). */
int correction_identifies(const char *path);

/* The event a partner receives: event cut to the paths in disclosed (a
 * JSON array of field paths, as the ledger holds them), narrowed for a
 * cancellation to correction_identifies, with the envelope always. When
 * disclosed names person.pseudonym and pseudonym_key is given, the
 * pseudonym is computed again (the same key gives the same pseudonym).
 * Fills decision's event, fields and pseudonymised (agreement and reason
 * stay NULL). Returns 0, or -1 when out of memory or disclosed is not a
 * JSON array (decision cleared). */
int correction_cut(enum correction_kind kind, const json_t *event, const char *disclosed,
                   const void *pseudonym_key, size_t key_len, struct agreement_decision *decision);

#endif
