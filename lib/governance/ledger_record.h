/*
 * ledger_record.h - the members of an audit record the disclosure ledger
 * keeps, read from its JSON text (lib/governance/ledger.c's input).
 *
 * Every record dispatch writes is read again by every dispatch's ledger
 * feed, so reading one must cost little next to delivering it: a general
 * JSON parser (jansson) spends some 16 us building a tree of a 1 kB
 * receipt, this scanner about 1 us finding the twenty members the ledger
 * keeps in the text itself. It reads what lib/delivery/record.c and
 * objection_write.c write, and any other well-formed JSON object the same
 * way jansson would; when a kept string holds an escape (or anything else
 * it does not read itself), it says so and ledger_record_parse reads the
 * record with jansson instead, so the result never depends on which
 * reader read it (tests/unit/test_ledger_record.c compares the two, and
 * tests/fuzz/fuzz_ledger_record.c fuzzes the comparison).
 */
#ifndef PLACEHUB_LEDGER_RECORD_H
#define PLACEHUB_LEDGER_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A string member's value: len bytes at text, not NUL-terminated, no
 * escapes left; text NULL when the member is absent, null or not a
 * string. */
struct ledger_text {
    const char *text;
    size_t len;
};

struct ledger_record {
    struct ledger_text record, partner, event_id, event_type, outcome, agreement, agreement_version,
        reason, person_ref, cancels_event_id, supersedes_event_id, via, scope, state, recorded_by,
        actor, source, completed_at, at, changed_at;
    /* source: {"topic", "partition", "offset"} */
    int has_source;
    struct ledger_text source_topic;
    long long source_partition, source_offset;
    /* fields: the array as compact JSON text (ledger_text.text NULL when
     * absent or not an array) */
    struct ledger_text fields;
    /* Owned by ledger_record_parse when jansson read it: free with
     * ledger_record_clear. */
    json_t *tree;
    char *fields_text;
};

/* Reads text (len bytes) with the scanner alone. Returns 0 with *record
 * filled (pointing into text), or -1 when the scanner does not read it
 * itself (not JSON, not an object, an escape in a kept string, a fields
 * array of anything but plain strings): record is then undefined. */
int ledger_record_scan(const char *text, size_t len, struct ledger_record *record);

/* Reads text with the scanner, or with jansson when the scanner declines.
 * Returns 0 with *record filled (pointing into text or into the tree it
 * owns: ledger_record_clear it), or -1 when text is not a JSON object. */
int ledger_record_parse(const char *text, size_t len, struct ledger_record *record);

/* The general reader alone (jansson), whatever the scanner would say: for
 * the tests that compare the two. Same contract as ledger_record_parse. */
int ledger_record_read_tree(const char *text, size_t len, struct ledger_record *record);

/* 1 when a and b hold the same members with the same values (the texts
 * compared byte for byte), whoever read them. */
int ledger_record_equal(const struct ledger_record *a, const struct ledger_record *b);

void ledger_record_clear(struct ledger_record *record);

#endif
