/*
 * ledger.h - the disclosure ledger: what the partnership disclosed about
 * each person, to whom, when and under which agreement, and what it kept
 * back and why (docs/governance.md, "The disclosure ledger").
 *
 * The audit topic stays the source of truth; the ledger is an index of it,
 * an SQLite file (governance.ledger) that can be deleted at any time and is
 * rebuilt from the topic. It holds one row per audit record (deliveries,
 * suppressions, objection changes), keyed by the record's partition and
 * offset on the audit topic, with the next offset to read of every
 * partition stored in the same transaction as the rows: a crash loses
 * nothing and repeats nothing. Rows are written with INSERT OR IGNORE on
 * that key, so two feeders of one file (dispatch's thread, placehub-ctl's
 * catch-up) never duplicate a record.
 *
 * Two questions are asked of it:
 *   - dispatch, for a cancellation or correction: did this partner receive
 *     that event, under which agreement, with which fields? (ledger_disclosed:
 *     the person's rows, found by the person index: a cancellation is about
 *     the person its original was about, so it carries the same key)
 *   - placehub-ctl subject-access: everything about one person, in time
 *     order (ledger_subject: one index range).
 *
 * Thread safety: one connection behind a mutex; every function may be
 * called from any thread. Values hold no personal data beyond what the
 * audit records hold (person references, never NHS numbers).
 */
#ifndef PLACEHUB_LEDGER_H
#define PLACEHUB_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "governance/ledger_record.h"
#include "kafka/feed.h"

/* What the row of one audit record says. Strings are borrowed from the
 * ledger (valid during the callback) and NULL when the record has none. */
struct ledger_entry {
    const char *record;  /* "delivery", "suppression", "objection_change" */
    int64_t at_ms;       /* completed_at, at, or changed_at */
    const char *partner; /* deliveries, suppressions */
    const char *event_id;
    const char *event_type;
    const char *source_topic; /* where the event is on Kafka */
    int32_t source_partition;
    int64_t source_offset;
    const char *outcome; /* deliveries: delivered, dead_lettered, failed */
    const char *agreement;
    const char *agreement_version;
    const char *fields;      /* deliveries: the field paths disclosed, a JSON array */
    const char *reason;      /* suppressions, and deliveries not delivered */
    const char *correction;  /* "cancellation" or "correction": the event undoes an earlier one */
    const char *corrects;    /* the earlier event's id */
    const char *via;         /* placehub-ctl's redrive or replay */
    const char *scope;       /* objection changes */
    const char *state;       /* objection changes: recorded, withdrawn */
    const char *recorded_by; /* objection changes: who recorded it; else who asked (actor) */
    const char *source;      /* objection changes: ctl, api:<publisher> */
    int32_t audit_partition;
    int64_t audit_offset;
};

/* What a partner was sent of one event, for the correction that follows. */
struct ledger_disclosure {
    char agreement[72];         /* the agreement it went out under */
    char agreement_version[24]; /* its version then */
    char *fields;               /* the field paths sent, a JSON array (caller frees) */
    int64_t at_ms;              /* when it was delivered */
};

struct ledger;

/* Who opens a ledger. One process keeps a ledger file (feeds it): dispatch,
 * or placehub-ctl when no dispatch keeps that file; it holds an exclusive
 * lock on <path>.keeper while it has the file open. */
enum ledger_role {
    LEDGER_KEEPER,  /* must keep it: refused when another process does */
    LEDGER_VISITOR, /* keeps it when nobody does, else only reads it */
};

/* Opens the ledger at path (making its folders), creating it empty when
 * missing; audit_topic is the topic it indexes (a ledger built from another
 * topic is refused: delete it to rebuild). A file SQLite cannot read (not
 * a database, corrupt) is moved aside to path.unreadable-<ms> with a
 * warning and a new one made: it is derived data. Returns 0 with *out, or
 * -1 with errstr naming the path and what to do. */
int ledger_open(const char *path, const char *audit_topic, enum ledger_role role,
                struct ledger **out, char *errstr, size_t errstr_size);

/* 1 when this process keeps the ledger (may add to it), 0 when another
 * does (a visitor: read only). */
int ledger_is_keeper(const struct ledger *ledger);

/* Commits what is pending and closes. NULL is ignored. */
void ledger_close(struct ledger *ledger);

/* The next offset to read of the audit topic's partition, as stored; -1
 * when nothing of it has been read (start from the beginning). */
int64_t ledger_position(struct ledger *ledger, int partition);

/* Adds the audit record value (compact JSON, len bytes) at partition and
 * offset of the audit topic. Rows are kept in a transaction that
 * ledger_commit (or every few thousand records) ends. Returns 0, 1 when the
 * record is not one the ledger keeps (skipped, not an error), -1 when it is
 * not an audit record (errstr says which member, never its value). */
int ledger_add(struct ledger *ledger, int32_t partition, int64_t offset, const void *value,
               size_t len, char *errstr, size_t errstr_size);

/* Ends the transaction: rows and positions (position[p] the next offset of
 * partition p, -1: none) are kept together. Returns 0, or -1 with errstr. */
int ledger_commit(struct ledger *ledger, const int64_t *position, int partition_count, char *errstr,
                  size_t errstr_size);

/* The moment up to which the ledger is complete: every audit record the
 * broker acknowledged before it is in the ledger, as this connection sees
 * it (ledger_round sets it). 0 before the first round. */
int64_t ledger_current_ms(struct ledger *ledger);
void ledger_set_current_ms(struct ledger *ledger, int64_t current_ms);

/* The end of a feed round (kafka/feed.h): every record acknowledged before
 * t0 has been added. Publishes current_ms = t0 at once: the rows are this
 * connection's to read whether committed or not. Commits (rows with the
 * positions) only every LEDGER_COMMIT_MS or LEDGER_BATCH rows, since each
 * commit writes every page it dirtied again: committing each round of a
 * busy feed costs more than the inserts. Returns 0, or -1 with errstr
 * when the commit failed: its rows are gone, current_ms falls back to the
 * t0 of the last round committed, and the feed must read again from the
 * stored positions. */
int ledger_round(struct ledger *ledger, int64_t t0, const int64_t *position, int partition_count,
                 char *errstr, size_t errstr_size);

/* Whether partner received event_id about person_ref (person_ref_len
 * bytes, the Kafka key): its "delivered" receipts (dispatch's or a
 * redelivery's). Returns 1 with *disclosure filled: the latest receipt's
 * agreement and version and time, and the fields of every such receipt
 * (an event delivered twice under an agreement changed in between left
 * the partner holding what both carried; free disclosure->fields); 0 when
 * there is none; -1 with errstr when the ledger could not be read. */
int ledger_disclosed(struct ledger *ledger, const void *person_ref, size_t person_ref_len,
                     const char *partner, const char *event_id,
                     struct ledger_disclosure *disclosure, char *errstr, size_t errstr_size);

/* Calls each for every row about person_ref (32 hexadecimal digits) with
 * from_ms <= at_ms < to_ms, in time order (audit order within one
 * millisecond). Stops when each returns non-zero. Returns the number of
 * rows given, or -1 with errstr. */
long long ledger_subject(struct ledger *ledger, const char *person_ref, int64_t from_ms,
                         int64_t to_ms, int (*each)(void *opaque, const struct ledger_entry *entry),
                         void *opaque, char *errstr, size_t errstr_size);

/* Adds indexes by event id and by time (for ledger_event and
 * ledger_recent; placehub-console's ledger has them; dispatch's does not,
 * since every insert would pay for them). Idempotent. 0 or -1 with errstr. */
int ledger_index_events(struct ledger *ledger, char *errstr, size_t errstr_size);

/* Calls each for every row of event_id (its receipts and suppressions at
 * every partner), in time order. Returns the rows given, or -1 with errstr. */
long long ledger_event(struct ledger *ledger, const char *event_id,
                       int (*each)(void *opaque, const struct ledger_entry *entry), void *opaque,
                       char *errstr, size_t errstr_size);

/* Calls each for the latest limit rows that are about an event (deliveries
 * and suppressions), newest first. Returns the rows given, or -1. */
long long ledger_recent(struct ledger *ledger, int limit,
                        int (*each)(void *opaque, const struct ledger_entry *entry), void *opaque,
                        char *errstr, size_t errstr_size);

/* The row of a kept record read from the audit topic (partition, offset),
 * as ledger_subject would give it once it is in the ledger. entry's
 * strings are copied into storage (storage_size at least the record's
 * text length + 64). Returns 0, 1 for a kind the ledger does not keep, -1
 * with errstr for a malformed one. */
int ledger_entry_of_record(const struct ledger_record *record, int32_t partition, int64_t offset,
                           struct ledger_entry *entry, char *storage, size_t storage_size,
                           char *errstr, size_t errstr_size);

/* Rows in the ledger, all persons. -1 on error. */
long long ledger_count(struct ledger *ledger);

/* ---- keeping it current from the audit topic ----------------------------- */

struct ledger_feed;

/* A thread that feeds ledger (borrowed: it must outlive the feed) from
 * dispatch.audit_topic, from its stored positions, and sets its current_ms
 * after each round (kafka/feed.h). A missing ledger is thus rebuilt at
 * start. Returns 0 with *out, or -1 with errstr. */
int ledger_feed_start(const struct config *config, struct ledger *ledger, struct ledger_feed **out,
                      char *errstr, size_t errstr_size);
void ledger_feed_stop(struct ledger_feed *feed);

/* ledger_subject, complete up to the end of the audit topic now: a keeper
 * first catches the ledger up (ledger_catch_up), a visitor reads the
 * records after the stored positions from the topic itself (never
 * writing: the keeper's feed adds them soon) and merges the person's among
 * the ledger's rows, in time order, each record once. */
long long ledger_subject_current(const struct config *config, struct ledger *ledger,
                                 const char *person_ref, int64_t from_ms, int64_t to_ms,
                                 int (*each)(void *opaque, const struct ledger_entry *entry),
                                 void *opaque, feed_progress_fn progress, void *progress_opaque,
                                 int timeout_ms, char *errstr, size_t errstr_size);

/* Brings ledger up to the end of the audit topic on the caller's thread
 * (placehub-ctl), calling progress (may be NULL) with opaque as it goes,
 * and commits.
 * Returns 0, or -1 with errstr (broker not answering within timeout_ms). */
int ledger_catch_up(const struct config *config, struct ledger *ledger, feed_progress_fn progress,
                    void *opaque, int timeout_ms, char *errstr, size_t errstr_size);

#endif
