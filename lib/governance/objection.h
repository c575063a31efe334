/*
 * objection.h - the objection register (docs/governance.md, "The objection
 * register"): what a person objected to, held by the hub itself rather than
 * flagged on each event.
 *
 * One record per person and scope on the compacted topic
 * governance.objections_topic, keyed "<person_ref>|<scope>" (person_ref is
 * the keyed hash of event_person_key, never an NHS number), so two writers
 * recording different scopes never overwrite each other. The value is
 * compact JSON without free text or personal data; a tombstone (no value)
 * means no objection, like a withdrawal.
 *
 * struct objection_register is dispatch's copy of the topic, kept current by
 * the feed (objection_feed.h): one writer thread, many readers.
 */
#ifndef PLACEHUB_OBJECTION_H
#define PLACEHUB_OBJECTION_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* A person reference: 32 lower-case hexadecimal digits, and its NUL. */
#define OBJECTION_PERSON_REF_SIZE 33
/* A scope as text, with its NUL ("local:partner:" and a 64-byte partner id). */
#define OBJECTION_SCOPE_SIZE 96
/* A record's key, "<person_ref>|<scope>", with its NUL. */
#define OBJECTION_KEY_SIZE (OBJECTION_PERSON_REF_SIZE + OBJECTION_SCOPE_SIZE)
/* A partner id or recorded_by, with its NUL (1-64 characters). */
#define OBJECTION_ID_SIZE 65
/* A source, "ctl" or "api:<publisher id>", with its NUL. */
#define OBJECTION_SOURCE_SIZE (OBJECTION_ID_SIZE + 4)
/* A judge's reason, "objection:<scope>", with its NUL. */
#define OBJECTION_REASON_SIZE (OBJECTION_SCOPE_SIZE + 16)

enum objection_scope_kind {
    OBJECTION_NATIONAL_DATA_OPT_OUT, /* national_data_opt_out: secondary use only */
    OBJECTION_LOCAL_SECONDARY_USE,   /* local:purpose:secondary_use: the same reach */
    OBJECTION_LOCAL_DIRECT_CARE,     /* local:purpose:direct_care: direct-care agreements */
    OBJECTION_LOCAL_PARTNER,         /* local:partner:<id>: that partner, any purpose */
};

struct objection_scope {
    enum objection_scope_kind kind;
    char partner_id[OBJECTION_ID_SIZE]; /* OBJECTION_LOCAL_PARTNER only, else "" */
};

/* Reads a scope's text form. With config, a partner scope must name a
 * configured partner; with config NULL any well-formed partner id is taken
 * (records read back from the topic may name a partner since removed: they
 * stay readable and apply to no one). Returns 0, or -1 with errstr listing
 * the valid scopes (or, for an unknown partner, the configured partners). */
int objection_scope_parse(const char *text, const struct config *config,
                          struct objection_scope *scope, char *errstr, size_t errstr_size);

/* Writes scope's text form into out. Returns 0, or -1 when out_size is below
 * what it needs (OBJECTION_SCOPE_SIZE is always enough). */
int objection_scope_format(const struct objection_scope *scope, char *out, size_t out_size);

/* One change of one person's objection in one scope: a record of the topic. */
struct objection_change {
    char person_ref[OBJECTION_PERSON_REF_SIZE]; /* event_person_key of the person */
    struct objection_scope scope;
    int withdrawn;                       /* 0: "recorded", 1: "withdrawn" */
    int64_t changed_at;                  /* milliseconds since the epoch, UTC */
    char recorded_by[OBJECTION_ID_SIZE]; /* who made the change: an operator or publisher id */
    char source[OBJECTION_SOURCE_SIZE];  /* "ctl", or "api:<publisher id>" */
};

/* The record's value:
 *   {"record":"objection","person_ref":...,"scope":...,"state":"recorded"|
 *    "withdrawn","changed_at":"<RFC 3339, ms>","recorded_by":...,"source":...}
 * Returns a new NUL-terminated string (caller frees), or NULL with errstr
 * naming the field at fault (or out of memory): nothing invalid is written. */
char *objection_change_encode(const struct objection_change *change, char *errstr,
                              size_t errstr_size);

/* Reads a record's value (len bytes, not NUL-terminated) into change.
 * Fields it does not know are ignored (a later version may add some).
 * Returns 0, or -1 with errstr naming the field at fault (never its value:
 * it may be what a sender got wrong). */
int objection_change_decode(const void *value, size_t len, struct objection_change *change,
                            char *errstr, size_t errstr_size);

/* Writes the record's key, "<person_ref>|<scope>", into key. Returns 0, or -1
 * when key_size is too small (OBJECTION_KEY_SIZE is enough). */
int objection_change_key(const struct objection_change *change, char *key, size_t key_size);

/* Every person's standing objections, as read from the topic. */
struct objection_register;

/* A new, empty register (current_ms 0). NULL when out of memory. Free with
 * objection_register_destroy, once no thread uses it. */
struct objection_register *objection_register_new(void);
void objection_register_destroy(struct objection_register *reg);

/* Applies one record read from the topic, in the topic's order: the last
 * record of a key wins; a withdrawal or a tombstone (value NULL) removes the
 * objection. Returns 0, or -1 when the record is unreadable (the key is not
 * "<person_ref>|<scope>", the value does not decode, or names another person
 * or scope than its key) or memory ran out: the register is then unchanged
 * and the caller logs where the record was. The writer's call: takes the
 * write lock. */
int objection_register_apply(struct objection_register *reg, const void *key, size_t key_len,
                             const void *value, size_t value_len);

/* 1 when an objection the register holds applies to the person at partner
 * partner_id under an agreement that is (direct_care 1) or is not (0) for
 * direct care, with reason set to "objection:<scope>" (e.g.
 * "objection:national_data_opt_out"); else 0 and reason "". When several
 * apply, the reason names the first in enum objection_scope_kind order.
 * Any thread, at once (read lock; one hash lookup, nothing allocated).
 * IMPORTANT: only as complete as objection_register_current_ms says. */
int objection_register_judge(struct objection_register *reg, const char *person_ref,
                             size_t person_ref_len, const char *partner_id, int direct_care,
                             char *reason, size_t reason_size);

/* The wall-clock time (ms since the epoch) up to which the register is known
 * complete: every objection change the broker acknowledged before it has been
 * applied. 0 until the feed's first catch-up. Any thread. */
int64_t objection_register_current_ms(struct objection_register *reg);

/* The feed's: publishes a new current_ms once every record acknowledged
 * before it is applied. It never moves back (an earlier time is ignored). */
void objection_register_set_current_ms(struct objection_register *reg, int64_t current_ms);

/* How many people have at least one standing objection (for the feed's log
 * line and metrics). Any thread. */
size_t objection_register_person_count(struct objection_register *reg);

#endif
