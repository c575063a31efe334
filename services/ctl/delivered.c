/*
 * delivered.c - "has this partner received this event since then?", asked
 * of the disclosure ledger (lib/governance/ledger.h) before placehub-ctl
 * sends anything again: a dead letter that a later redrive, a replay or
 * dispatch itself (after a restart) has delivered since must not be sent
 * a second time, nor recorded as if it were.
 *
 * The ledger is opened as subject-access opens it (a visitor: dispatch
 * keeps the file when it runs), and asked with ledger_subject_current, so
 * the answer includes the audit records written since the ledger was last
 * fed.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "governance/ledger.h"
#include "schema/codec.h"

int ctl_ledger_open(struct ctl *ctl, const char *path, struct ledger **ledger, char *errstr,
                    size_t errstr_size)
{
    char resolved[4096];
    if (!path) {
        if (config_resolve_path(ctl->config, ctl->config->governance.ledger, resolved,
                                sizeof resolved) != 0) {
            snprintf(errstr, errstr_size, "governance.ledger: the path is too long");
            return -1;
        }
        path = resolved;
    }
    return ledger_open(path, ctl->config->dispatch.audit_topic, LEDGER_VISITOR, ledger, errstr,
                       errstr_size);
}

struct delivered_query {
    const char *partner, *event_id;
    struct ctl_delivery *found;
};

static int delivered_row(void *opaque, const struct ledger_entry *entry)
{
    struct delivered_query *query = opaque;
    if (strcmp(entry->record, "delivery") != 0 || !entry->outcome ||
        strcmp(entry->outcome, "delivered") != 0 || !entry->partner || !entry->event_id ||
        strcmp(entry->partner, query->partner) != 0 ||
        strcmp(entry->event_id, query->event_id) != 0)
        return 0;
    codec_timestamp_format(entry->at_ms, query->found->at, sizeof query->found->at);
    snprintf(query->found->via, sizeof query->found->via, "%s",
             entry->via ? entry->via : "dispatch");
    return 1; /* the first is enough */
}

int ctl_delivered_since(struct ctl *ctl, struct ledger *ledger, const void *key, size_t key_len,
                        const char *partner, const char *event_id, int64_t since_ms,
                        struct ctl_delivery *found, char *errstr, size_t errstr_size)
{
    char person_ref[40];
    memset(found, 0, sizeof *found);
    /* The Kafka key is the person reference, 32 hexadecimal digits; an
     * event without one cannot be looked up (and was never indexed). */
    if (!key || key_len != 32)
        return 0;
    memcpy(person_ref, key, 32);
    person_ref[32] = '\0';
    if (strspn(person_ref, "0123456789abcdef") != 32)
        return 0;
    struct delivered_query query = {partner, event_id, found};
    long long rows =
        ledger_subject_current(ctl->config, ledger, person_ref, since_ms, INT64_MAX, delivered_row,
                               &query, NULL, NULL, 30000, errstr, errstr_size);
    if (rows < 0)
        return -1;
    return found->at[0] != '\0';
}
