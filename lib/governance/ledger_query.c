/*
 * ledger_query.c - the two questions asked of the disclosure ledger (see
 * ledger.h): did a partner receive an event (dispatch, for a cancellation
 * or correction), and everything about one person in time order
 * (placehub-ctl subject-access). Both are ranges of the person index.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "governance/ledger.h"
#include "governance/ledger_internal.h"

static const char *ledger_column(sqlite3_stmt *statement, int column)
{
    return (const char *)sqlite3_column_text(statement, column);
}

/* Adds the paths of fields (a JSON array's text) to set (path -> true). */
static int ledger_fields_add(json_t *set, const char *fields)
{
    json_error_t error;
    json_t *paths = fields ? json_loads(fields, 0, &error) : NULL;
    size_t i;
    json_t *path;
    int failed = fields && !json_is_array(paths);
    json_array_foreach(paths, i, path)
    {
        if (json_is_string(path) && json_object_set(set, json_string_value(path), json_true()) != 0)
            failed = 1;
    }
    json_decref(paths);
    return failed ? -1 : 0;
}

static int ledger_path_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The set's paths as a sorted compact JSON array, as receipts write them
 * (caller frees), or NULL when out of memory. */
static char *ledger_fields_text(json_t *set)
{
    size_t count = json_object_size(set), i = 0;
    const char **paths = calloc(count ? count : 1, sizeof *paths);
    json_t *array = json_array();
    const char *path;
    json_t *value;
    char *text = NULL;
    if (paths && array) {
        json_object_foreach(set, path, value) paths[i++] = path;
        qsort(paths, count, sizeof *paths, ledger_path_compare);
        int failed = 0;
        for (i = 0; i < count; i++)
            failed |= json_array_append_new(array, json_string(paths[i])) != 0;
        text = failed ? NULL : json_dumps(array, JSON_COMPACT);
    }
    json_decref(array);
    free(paths);
    return text;
}

int ledger_disclosed(struct ledger *ledger, const void *person_ref, size_t person_ref_len,
                     const char *partner, const char *event_id,
                     struct ledger_disclosure *disclosure, char *errstr, size_t errstr_size)
{
    memset(disclosure, 0, sizeof *disclosure);
    json_t *fields = json_object();
    if (!fields) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&ledger->lock);
    sqlite3_stmt *lookup = ledger->statement[LEDGER_DISCLOSED];
    sqlite3_reset(lookup);
    ledger_bind_person(lookup, 1, person_ref, person_ref_len);
    sqlite3_bind_text(lookup, 2, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(lookup, 3, partner, -1, SQLITE_STATIC);
    int rc, found = 0, failed = 0;
    /* Latest first: the agreement named is the latest delivery's; the
     * fields are every delivery's (a partner sent an event twice, under an
     * agreement that changed in between, holds what both carried). */
    while ((rc = sqlite3_step(lookup)) == SQLITE_ROW) {
        if (!found) {
            const char *agreement = ledger_column(lookup, 0);
            const char *version = ledger_column(lookup, 1);
            snprintf(disclosure->agreement, sizeof disclosure->agreement, "%s",
                     agreement ? agreement : "");
            snprintf(disclosure->agreement_version, sizeof disclosure->agreement_version, "%s",
                     version ? version : "");
            disclosure->at_ms = sqlite3_column_int64(lookup, 3);
        }
        found = 1;
        failed |= ledger_fields_add(fields, ledger_column(lookup, 2)) != 0;
    }
    if (rc != SQLITE_DONE) {
        ledger_error(ledger, "cannot look up a disclosure", errstr, errstr_size);
        found = -1;
    }
    sqlite3_reset(lookup);
    pthread_mutex_unlock(&ledger->lock);
    if (found == 1 && (failed || !(disclosure->fields = ledger_fields_text(fields)))) {
        snprintf(errstr, errstr_size, "out of memory reading a disclosure's fields");
        found = -1;
    }
    json_decref(fields);
    return found;
}

static void ledger_entry_read(sqlite3_stmt *row, struct ledger_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    entry->record = ledger_column(row, 0);
    entry->at_ms = sqlite3_column_int64(row, 1);
    entry->partner = ledger_column(row, 2);
    entry->event_id = ledger_column(row, 3);
    entry->event_type = ledger_column(row, 4);
    entry->source_topic = ledger_column(row, 5);
    entry->source_partition = sqlite3_column_int(row, 6);
    entry->source_offset = sqlite3_column_int64(row, 7);
    entry->outcome = ledger_column(row, 8);
    entry->agreement = ledger_column(row, 9);
    entry->agreement_version = ledger_column(row, 10);
    entry->fields = ledger_column(row, 11);
    entry->reason = ledger_column(row, 12);
    entry->correction = ledger_column(row, 13);
    entry->corrects = ledger_column(row, 14);
    entry->via = ledger_column(row, 15);
    entry->scope = ledger_column(row, 16);
    entry->state = ledger_column(row, 17);
    entry->recorded_by = ledger_column(row, 18);
    entry->source = ledger_column(row, 19);
    entry->audit_partition = sqlite3_column_int(row, 20);
    entry->audit_offset = sqlite3_column_int64(row, 21);
}

/* Steps query (bound, under the lock) and gives each row to each until it
 * returns non-zero. Returns the rows given, or -1 with errstr. */
static long long ledger_rows(struct ledger *ledger, sqlite3_stmt *query, const char *what,
                             int (*each)(void *opaque, const struct ledger_entry *entry),
                             void *opaque, char *errstr, size_t errstr_size)
{
    long long given = 0;
    struct ledger_entry entry;
    int rc;
    while ((rc = sqlite3_step(query)) == SQLITE_ROW) {
        ledger_entry_read(query, &entry);
        given++;
        if (each(opaque, &entry) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        ledger_error(ledger, what, errstr, errstr_size);
        given = -1;
    }
    sqlite3_reset(query);
    return given;
}

long long ledger_subject(struct ledger *ledger, const char *person_ref, int64_t from_ms,
                         int64_t to_ms, int (*each)(void *opaque, const struct ledger_entry *entry),
                         void *opaque, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&ledger->lock);
    sqlite3_stmt *query = ledger->statement[LEDGER_SUBJECT];
    sqlite3_reset(query);
    ledger_bind_person(query, 1, person_ref, strlen(person_ref));
    sqlite3_bind_int64(query, 2, from_ms);
    sqlite3_bind_int64(query, 3, to_ms);
    long long given = ledger_rows(ledger, query, "cannot read a person's records", each, opaque,
                                  errstr, errstr_size);
    pthread_mutex_unlock(&ledger->lock);
    return given;
}

int ledger_index_events(struct ledger *ledger, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&ledger->lock);
    int rc = sqlite3_exec(ledger->db,
                          "CREATE INDEX IF NOT EXISTS entry_event ON entry(event_id);"
                          "CREATE INDEX IF NOT EXISTS entry_time ON entry(at_ms);",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        ledger_error(ledger, "cannot index the records by event and time", errstr, errstr_size);
    pthread_mutex_unlock(&ledger->lock);
    return rc == SQLITE_OK ? 0 : -1;
}

long long ledger_event(struct ledger *ledger, const char *event_id,
                       int (*each)(void *opaque, const struct ledger_entry *entry), void *opaque,
                       char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&ledger->lock);
    sqlite3_stmt *query = ledger->statement[LEDGER_EVENT];
    sqlite3_reset(query);
    sqlite3_bind_text(query, 1, event_id, -1, SQLITE_TRANSIENT);
    long long given = ledger_rows(ledger, query, "cannot read an event's records", each, opaque,
                                  errstr, errstr_size);
    pthread_mutex_unlock(&ledger->lock);
    return given;
}

long long ledger_recent(struct ledger *ledger, int limit,
                        int (*each)(void *opaque, const struct ledger_entry *entry), void *opaque,
                        char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&ledger->lock);
    sqlite3_stmt *query = ledger->statement[LEDGER_RECENT];
    sqlite3_reset(query);
    sqlite3_bind_int(query, 1, limit);
    long long given = ledger_rows(ledger, query, "cannot read the latest records", each, opaque,
                                  errstr, errstr_size);
    pthread_mutex_unlock(&ledger->lock);
    return given;
}

long long ledger_count(struct ledger *ledger)
{
    long long count = -1;
    sqlite3_stmt *statement = NULL;
    pthread_mutex_lock(&ledger->lock);
    if (sqlite3_prepare_v2(ledger->db, "SELECT count(*) FROM entry", -1, &statement, NULL) ==
            SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        count = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    pthread_mutex_unlock(&ledger->lock);
    return count;
}
