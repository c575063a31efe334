/*
 * ledger.c - the disclosure ledger in SQLite (see ledger.h).
 *
 * Why SQLite: dispatch asks one question per cancellation (did partner P
 * receive event E?) and placehub-ctl one per subject-access request
 * (everything about person X in time order); both are an index lookup in
 * a file, with no server to run. A compacted Kafka topic keyed by person
 * and partner could answer the first only by keeping the whole topic in
 * memory, and the second not at all without a scan. The file is derived:
 * the audit topic is the source of truth, and a missing file is rebuilt.
 *
 * Layout: entry (one row per audit record, keyed by its partition and
 * offset on the audit topic, so rows are appended in order; one index, by
 * person and time, which both questions use: a cancellation is about the
 * same person as its original), fieldset (the disclosed field lists, each
 * text once: thousands of receipts share a handful of lists), position
 * (the next offset of each partition), meta (the format and the topic).
 * IMPORTANT: rows and positions change in one transaction, so a crash
 * between them cannot skip or repeat a record.
 */
#include "governance/ledger.h"
#include "governance/ledger_internal.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "governance/ledger_record.h"
#include "schema/codec.h"

/* The layout's version, kept in meta; another is rebuilt. */
#define LEDGER_FORMAT "3"

/* Rows kept in one transaction before it is committed on its own. */
#define LEDGER_BATCH 20000

/* The longest a feed's rows stay uncommitted (ledger_round). A commit
 * writes every page the rows touched, and the person index is touched all
 * over: the fewer commits, the fewer times a page is written. */
#define LEDGER_COMMIT_MS 2000

static const char ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS position(partition INTEGER PRIMARY KEY,"
    " next_offset INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS fieldset(id INTEGER PRIMARY KEY, fields TEXT NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS entry(id INTEGER PRIMARY KEY,"
    " audit_partition INTEGER GENERATED ALWAYS AS (id >> 40) VIRTUAL,"
    " audit_offset INTEGER GENERATED ALWAYS AS (id & 1099511627775) VIRTUAL,"
    " record TEXT NOT NULL, person_ref BLOB, at_ms INTEGER NOT NULL,"
    " partner TEXT, event_id TEXT, event_type TEXT,"
    " source_topic TEXT, source_partition INTEGER, source_offset INTEGER,"
    " outcome TEXT, agreement TEXT, agreement_version TEXT, fieldset INTEGER,"
    " reason TEXT, correction TEXT, corrects TEXT, via TEXT,"
    " scope TEXT, state TEXT, recorded_by TEXT, source TEXT);"
    "CREATE INDEX IF NOT EXISTS entry_person ON entry(person_ref, at_ms);";

static const char *const ledger_sql[LEDGER_STATEMENTS] = {
    [LEDGER_INSERT] = "INSERT OR IGNORE INTO entry(id, record,"
                      " person_ref, at_ms, partner, event_id, event_type, source_topic,"
                      " source_partition, source_offset, outcome, agreement, agreement_version,"
                      " fieldset, reason, correction, corrects, via, scope, state, recorded_by,"
                      " source) VALUES(?1,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,"
                      "?18,?19,?20,?21,?22,?23)",
    [LEDGER_POSITION_SET] = "INSERT INTO position(partition, next_offset) VALUES(?, ?)"
                            " ON CONFLICT(partition) DO UPDATE SET"
                            " next_offset = max(next_offset, excluded.next_offset)",
    [LEDGER_POSITION_GET] = "SELECT next_offset FROM position WHERE partition = ?",
    [LEDGER_FIELDSET_ADD] = "INSERT OR IGNORE INTO fieldset(fields) VALUES(?)",
    [LEDGER_FIELDSET_GET] = "SELECT id FROM fieldset WHERE fields = ?",
    [LEDGER_DISCLOSED] = "SELECT agreement, agreement_version, f.fields, at_ms FROM entry"
                         " LEFT JOIN fieldset f ON f.id = entry.fieldset"
                         " WHERE person_ref = ? AND event_id = ? AND partner = ?"
                         " AND record = 'delivery' AND outcome = 'delivered'"
                         " ORDER BY at_ms DESC, entry.id DESC",
    [LEDGER_SUBJECT] =
        "SELECT record, at_ms, partner, event_id, event_type, source_topic, source_partition,"
        " source_offset, outcome, agreement, agreement_version, f.fields, reason, correction,"
        " corrects, via, scope, state, recorded_by, source, audit_partition, audit_offset"
        " FROM entry LEFT JOIN fieldset f ON f.id = entry.fieldset"
        " WHERE person_ref = ? AND at_ms >= ? AND at_ms < ?"
        " ORDER BY at_ms, entry.id",
    /* Both fast only with ledger_index_events' indexes (the console's
     * ledger); without them a full scan, still correct. */
    [LEDGER_EVENT] =
        "SELECT record, at_ms, partner, event_id, event_type, source_topic, source_partition,"
        " source_offset, outcome, agreement, agreement_version, f.fields, reason, correction,"
        " corrects, via, scope, state, recorded_by, source, audit_partition, audit_offset"
        " FROM entry LEFT JOIN fieldset f ON f.id = entry.fieldset"
        " WHERE event_id = ? ORDER BY at_ms, entry.id",
    [LEDGER_RECENT] =
        "SELECT record, at_ms, partner, event_id, event_type, source_topic, source_partition,"
        " source_offset, outcome, agreement, agreement_version, f.fields, reason, correction,"
        " corrects, via, scope, state, recorded_by, source, audit_partition, audit_offset"
        " FROM entry LEFT JOIN fieldset f ON f.id = entry.fieldset"
        " WHERE event_id IS NOT NULL ORDER BY at_ms DESC, entry.id DESC LIMIT ?",
};

void ledger_error(struct ledger *ledger, const char *what, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "disclosure ledger %s: %s: %s", ledger->path, what,
             sqlite3_errmsg(ledger->db));
}

static void ledger_finalise(struct ledger *ledger)
{
    for (int i = 0; i < LEDGER_STATEMENTS; i++) {
        sqlite3_finalize(ledger->statement[i]);
        ledger->statement[i] = NULL;
    }
    for (int i = 0; i < LEDGER_FIELDSET_CACHE; i++) {
        free(ledger->cache[i].fields);
        ledger->cache[i].fields = NULL;
    }
    sqlite3_close(ledger->db);
    ledger->db = NULL;
}

/* The meta value of key into out ("" when absent). */
static int ledger_meta(struct ledger *ledger, const char *key, char *out, size_t out_size)
{
    sqlite3_stmt *statement = NULL;
    out[0] = '\0';
    int rc = sqlite3_prepare_v2(ledger->db, "SELECT value FROM meta WHERE key = ?", -1, &statement,
                                NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(statement, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(statement);
        if (rc == SQLITE_ROW)
            snprintf(out, out_size, "%s", (const char *)sqlite3_column_text(statement, 0));
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(statement);
    return rc;
}

static int ledger_meta_set(struct ledger *ledger, const char *key, const char *value)
{
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(ledger->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)",
                                -1, &statement, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(statement, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(statement, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(statement) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(ledger->db);
    }
    sqlite3_finalize(statement);
    return rc;
}

/* Opens the file and lays the tables out. Returns an SQLite code; *refused
 * is set (with errstr) when the file is a ledger of another topic. */
static int ledger_connect(struct ledger *ledger, const char *audit_topic, int *refused,
                          char *errstr, size_t errstr_size)
{
    char topic[256], format[16];
    *refused = 0;
    /* NOMUTEX: the ledger's own lock serialises every use of the connection. */
    int rc =
        sqlite3_open_v2(ledger->path, &ledger->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_busy_timeout(ledger->db, 10000);
    /* WAL: placehub-ctl reads (and catches up) while dispatch writes. */
    rc = sqlite3_exec(ledger->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                      NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(ledger->db, ledger_schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = ledger_meta(ledger, "audit_topic", topic, sizeof topic);
    if (rc == SQLITE_OK)
        rc = ledger_meta(ledger, "format", format, sizeof format);
    if (rc != SQLITE_OK)
        return rc;
    if (format[0] && strcmp(format, LEDGER_FORMAT) != 0) {
        *refused = 1;
        snprintf(errstr, errstr_size,
                 "disclosure ledger %s has format %s, this release writes %s: delete the file "
                 "and it is rebuilt from the audit topic",
                 ledger->path, format, LEDGER_FORMAT);
        return SQLITE_ERROR;
    }
    if (topic[0] && strcmp(topic, audit_topic) != 0) {
        *refused = 1;
        snprintf(errstr, errstr_size,
                 "disclosure ledger %s indexes audit topic %s, not %s (dispatch.audit_topic): "
                 "point governance.ledger at another file, or delete this one and it is "
                 "rebuilt from %s",
                 ledger->path, topic, audit_topic, audit_topic);
        return SQLITE_ERROR;
    }
    if (!topic[0] && ((rc = ledger_meta_set(ledger, "audit_topic", audit_topic)) != SQLITE_OK ||
                      (rc = ledger_meta_set(ledger, "format", LEDGER_FORMAT)) != SQLITE_OK))
        return rc;
    for (int i = 0; i < LEDGER_STATEMENTS && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(ledger->db, ledger_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &ledger->statement[i], NULL);
    return rc;
}

/* Makes the folders on the way to path (like mkdir -p); failures show
 * when the file is opened. */
static void ledger_make_folders(const char *path)
{
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", path);
    for (char *slash = strchr(folder + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        (void)mkdir(folder, 0750);
        *slash = '/';
    }
}

/* Takes the keeper's lock (<path>.keeper, flock: the kernel lets go of it
 * when the process ends, however it ends). Returns the descriptor that
 * holds it, -1 when another process holds it, -2 when it cannot be had. */
static int ledger_keeper_lock(const char *path)
{
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s.keeper", path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -2;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    int held = errno == EWOULDBLOCK;
    close(fd);
    return held ? -1 : -2;
}

int ledger_is_keeper(const struct ledger *ledger)
{
    return ledger->keeper_fd >= 0;
}

int ledger_open(const char *path, const char *audit_topic, enum ledger_role role,
                struct ledger **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    struct ledger *ledger = calloc(1, sizeof *ledger);
    if (!ledger || !(ledger->path = strdup(path))) {
        free(ledger);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    pthread_mutex_init(&ledger->lock, NULL);
    atomic_init(&ledger->current_ms, 0);
    ledger_make_folders(path);
    ledger->keeper_fd = ledger_keeper_lock(path);
    if (ledger->keeper_fd < 0 && (role == LEDGER_KEEPER || ledger->keeper_fd == -2)) {
        snprintf(errstr, errstr_size,
                 ledger->keeper_fd == -1
                     ? "disclosure ledger %s is kept by another process (a placehub-dispatch "
                       "on this host?): give each dispatch instance its own governance.ledger"
                     : "disclosure ledger %s: cannot lock %s.keeper (governance.ledger: its "
                       "folder must be writable)",
                 path, path);
        ledger->keeper_fd = -1;
        ledger_close(ledger);
        return -1;
    }
    int refused;
    int rc = ledger_connect(ledger, audit_topic, &refused, errstr, errstr_size);
    if ((rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) && ledger->keeper_fd >= 0) {
        /* Derived data: keep the unreadable file for a post-mortem, start
         * a new one, and let the feed rebuild it. */
        char aside[4096];
        snprintf(aside, sizeof aside, "%s.unreadable-%lld", path, (long long)clock_wall_ms());
        ledger_finalise(ledger);
        if (rename(path, aside) == 0) {
            log_warning("disclosure ledger %s was unreadable (%s); moved to %s and rebuilt from "
                        "the audit topic",
                        path, sqlite3_errstr(rc), aside);
            rc = ledger_connect(ledger, audit_topic, &refused, errstr, errstr_size);
        }
    }
    if (rc != SQLITE_OK) {
        if (!refused)
            snprintf(errstr, errstr_size,
                     "disclosure ledger %s cannot be opened: %s (governance.ledger: its folder "
                     "must exist and be writable)",
                     path, ledger->db ? sqlite3_errmsg(ledger->db) : sqlite3_errstr(rc));
        ledger_close(ledger);
        return -1;
    }
    *out = ledger;
    return 0;
}

static int ledger_end_transaction(struct ledger *ledger, const char *sql)
{
    if (!ledger->in_transaction)
        return 0;
    ledger->in_transaction = 0;
    ledger->batched = 0;
    return sqlite3_exec(ledger->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Stores the positions (the feed's, merged with the rows added) and
 * commits. Called with the lock held. */
static int ledger_commit_locked(struct ledger *ledger, const int64_t *position, int partition_count,
                                char *errstr, size_t errstr_size)
{
    if (!ledger->in_transaction &&
        sqlite3_exec(ledger->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        ledger_error(ledger, "cannot begin", errstr, errstr_size);
        return -1;
    }
    ledger->in_transaction = 1;
    int count = partition_count > ledger->pending_count ? partition_count : ledger->pending_count;
    sqlite3_stmt *set = ledger->statement[LEDGER_POSITION_SET];
    for (int p = 0; p < count; p++) {
        int64_t next = p < partition_count && position ? position[p] : -1;
        if (p < ledger->pending_count && ledger->pending[p] > next)
            next = ledger->pending[p];
        if (next < 0)
            continue;
        sqlite3_reset(set);
        sqlite3_bind_int(set, 1, p);
        sqlite3_bind_int64(set, 2, next);
        if (sqlite3_step(set) != SQLITE_DONE) {
            ledger_error(ledger, "cannot store a position", errstr, errstr_size);
            ledger_end_transaction(ledger, "ROLLBACK");
            return -1;
        }
    }
    if (ledger_end_transaction(ledger, "COMMIT") != 0) {
        ledger_error(ledger, "cannot commit", errstr, errstr_size);
        ledger_end_transaction(ledger, "ROLLBACK");
        return -1;
    }
    return 0;
}

void ledger_close(struct ledger *ledger)
{
    if (!ledger)
        return;
    if (ledger->db && ledger->in_transaction) {
        char errstr[256];
        if (ledger_commit_locked(ledger, NULL, 0, errstr, sizeof errstr) != 0)
            log_warning("%s", errstr);
    }
    ledger_finalise(ledger);
    if (ledger->keeper_fd >= 0)
        close(ledger->keeper_fd); /* lets go of the keeper's lock */
    pthread_mutex_destroy(&ledger->lock);
    free(ledger->pending);
    free(ledger->path);
    free(ledger);
}

int64_t ledger_position(struct ledger *ledger, int partition)
{
    int64_t next = -1;
    pthread_mutex_lock(&ledger->lock);
    sqlite3_stmt *get = ledger->statement[LEDGER_POSITION_GET];
    sqlite3_reset(get);
    sqlite3_bind_int(get, 1, partition);
    if (sqlite3_step(get) == SQLITE_ROW)
        next = sqlite3_column_int64(get, 0);
    sqlite3_reset(get);
    pthread_mutex_unlock(&ledger->lock);
    return next;
}

int ledger_commit(struct ledger *ledger, const int64_t *position, int partition_count, char *errstr,
                  size_t errstr_size)
{
    pthread_mutex_lock(&ledger->lock);
    int result = ledger_commit_locked(ledger, position, partition_count, errstr, errstr_size);
    pthread_mutex_unlock(&ledger->lock);
    return result;
}

/* Binds text (NULL: null) to column; the text lives until the step. */
static void ledger_bind_text(sqlite3_stmt *statement, int column, struct ledger_text text)
{
    if (text.text)
        sqlite3_bind_text(statement, column, text.text, (int)text.len, SQLITE_STATIC);
    else
        sqlite3_bind_null(statement, column);
}

/* Binds a person reference: its 32 hexadecimal digits as 16 bytes (half the
 * size in the person index, which every insert and lookup walks), anything
 * else as text. */
void ledger_bind_person(sqlite3_stmt *statement, int column, const char *text, size_t len)
{
    unsigned char bytes[16];
    int hex = text && len == 32;
    for (size_t i = 0; hex && i < 32; i++) {
        char c = text[i];
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0)
            hex = 0;
        else if (i % 2)
            bytes[i / 2] = (unsigned char)(bytes[i / 2] | digit);
        else
            bytes[i / 2] = (unsigned char)(digit << 4);
    }
    if (hex)
        sqlite3_bind_blob(statement, column, bytes, sizeof bytes, SQLITE_TRANSIENT);
    else if (text)
        sqlite3_bind_text(statement, column, text, (int)len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(statement, column);
}

static int ledger_is(struct ledger_text text, const char *word)
{
    return text.text && text.len == strlen(word) && memcmp(text.text, word, text.len) == 0;
}

/* The id of a field list (its JSON text), added when new. 0 when it could
 * not be had. */
static sqlite3_int64 ledger_fieldset(struct ledger *ledger, struct ledger_text fields)
{
    for (int i = 0; i < LEDGER_FIELDSET_CACHE; i++) {
        const struct ledger_fieldset *slot = &ledger->cache[i];
        if (slot->fields && slot->len == fields.len &&
            memcmp(slot->fields, fields.text, fields.len) == 0)
            return slot->id;
    }
    sqlite3_int64 id = 0;
    sqlite3_stmt *add = ledger->statement[LEDGER_FIELDSET_ADD];
    sqlite3_stmt *get = ledger->statement[LEDGER_FIELDSET_GET];
    sqlite3_reset(add);
    sqlite3_bind_text(add, 1, fields.text, (int)fields.len, SQLITE_STATIC);
    if (sqlite3_step(add) != SQLITE_DONE)
        return 0;
    sqlite3_reset(get);
    sqlite3_bind_text(get, 1, fields.text, (int)fields.len, SQLITE_STATIC);
    if (sqlite3_step(get) == SQLITE_ROW)
        id = sqlite3_column_int64(get, 0);
    sqlite3_reset(get);
    char *copy = id ? malloc(fields.len ? fields.len : 1) : NULL;
    if (copy) {
        memcpy(copy, fields.text, fields.len);
        struct ledger_fieldset *slot = &ledger->cache[ledger->cache_next++ % LEDGER_FIELDSET_CACHE];
        free(slot->fields);
        slot->fields = copy;
        slot->len = fields.len;
        slot->id = id;
    }
    return id;
}

/* What the ledger derives from a record of a kept kind: its time, and the
 * correction it is about (a cancellation names the event it cancels, a
 * correction the one it supersedes). */
struct ledger_facts {
    int64_t at_ms;
    struct ledger_text correction, corrects;
};

/* The kept kind of record ("delivery", ...), or NULL for another. */
static const char *ledger_kind(const struct ledger_record *record)
{
    return ledger_is(record->record, "delivery")           ? "delivery"
           : ledger_is(record->record, "suppression")      ? "suppression"
           : ledger_is(record->record, "objection_change") ? "objection_change"
                                                           : NULL;
}

static int ledger_facts(const struct ledger_record *record, const char *kind,
                        struct ledger_facts *facts, char *errstr, size_t errstr_size)
{
    const char *time_member = strcmp(kind, "delivery") == 0      ? "completed_at"
                              : strcmp(kind, "suppression") == 0 ? "at"
                                                                 : "changed_at";
    struct ledger_text at = strcmp(kind, "delivery") == 0      ? record->completed_at
                            : strcmp(kind, "suppression") == 0 ? record->at
                                                               : record->changed_at;
    char stamp[40];
    if (!at.text || at.len >= sizeof stamp) {
        snprintf(errstr, errstr_size, "%s record: %s is missing or not a timestamp", kind,
                 time_member);
        return -1;
    }
    memcpy(stamp, at.text, at.len);
    stamp[at.len] = '\0';
    if (codec_timestamp_parse(stamp, &facts->at_ms) != 0) {
        snprintf(errstr, errstr_size, "%s record: %s is missing or not a timestamp", kind,
                 time_member);
        return -1;
    }
    facts->corrects = record->cancels_event_id;
    facts->correction = (struct ledger_text){NULL, 0};
    if (facts->corrects.text)
        facts->correction = (struct ledger_text){"cancellation", strlen("cancellation")};
    else if ((facts->corrects = record->supersedes_event_id).text)
        facts->correction = (struct ledger_text){"correction", strlen("correction")};
    return 0;
}

/* Binds record's members to the insert statement. Returns 0, or -1 with
 * errstr naming the member at fault (never its value). */
static int ledger_bind(struct ledger *ledger, const struct ledger_record *record, const char *kind,
                       char *errstr, size_t errstr_size)
{
    sqlite3_stmt *insert = ledger->statement[LEDGER_INSERT];
    struct ledger_facts facts;
    if (ledger_facts(record, kind, &facts, errstr, errstr_size) != 0)
        return -1;
    int64_t at_ms = facts.at_ms;
    struct ledger_text corrects = facts.corrects, correction = facts.correction;
    sqlite3_int64 fieldset = 0;
    if (record->fields.text && record->fields.len > 2) { /* "[]" is none */
        fieldset = ledger_fieldset(ledger, record->fields);
        if (!fieldset) {
            ledger_error(ledger, "cannot keep a field list", errstr, errstr_size);
            return -1;
        }
    }
    sqlite3_bind_text(insert, 3, kind, -1, SQLITE_STATIC);
    ledger_bind_person(insert, 4, record->person_ref.text, record->person_ref.len);
    sqlite3_bind_int64(insert, 5, at_ms);
    ledger_bind_text(insert, 6, record->partner);
    ledger_bind_text(insert, 7, record->event_id);
    ledger_bind_text(insert, 8, record->event_type);
    if (record->has_source) {
        ledger_bind_text(insert, 9, record->source_topic);
        sqlite3_bind_int64(insert, 10, record->source_partition);
        sqlite3_bind_int64(insert, 11, record->source_offset);
    } else {
        sqlite3_bind_null(insert, 9);
        sqlite3_bind_null(insert, 10);
        sqlite3_bind_null(insert, 11);
    }
    ledger_bind_text(insert, 12, record->outcome);
    ledger_bind_text(insert, 13, record->agreement);
    ledger_bind_text(insert, 14, record->agreement_version);
    if (fieldset)
        sqlite3_bind_int64(insert, 15, fieldset);
    else
        sqlite3_bind_null(insert, 15);
    ledger_bind_text(insert, 16, record->reason);
    ledger_bind_text(insert, 17, correction);
    ledger_bind_text(insert, 18, corrects);
    ledger_bind_text(insert, 19, record->via);
    ledger_bind_text(insert, 20, record->scope);
    ledger_bind_text(insert, 21, record->state);
    /* Who: an objection change's recorder, or whoever asked for a redrive,
     * a replay or a partner control (the record's actor). */
    ledger_bind_text(insert, 22, record->recorded_by.text ? record->recorded_by : record->actor);
    ledger_bind_text(insert, 23,
                     record->has_source ? (struct ledger_text){NULL, 0} : record->source);
    return 0;
}

/* Remembers that partition has been read up to offset. */
static int ledger_pending(struct ledger *ledger, int32_t partition, int64_t offset)
{
    if (partition >= ledger->pending_count) {
        int count = partition + 1;
        int64_t *grown = realloc(ledger->pending, (size_t)count * sizeof *grown);
        if (!grown)
            return -1;
        for (int p = ledger->pending_count; p < count; p++)
            grown[p] = -1;
        ledger->pending = grown;
        ledger->pending_count = count;
    }
    if (offset + 1 > ledger->pending[partition])
        ledger->pending[partition] = offset + 1;
    return 0;
}

static int ledger_add_locked(struct ledger *ledger, int32_t partition, int64_t offset,
                             const struct ledger_record *record, char *errstr, size_t errstr_size)
{
    const char *kind = ledger_kind(record);
    if (!record->record.text) {
        snprintf(errstr, errstr_size, "not an audit record: no member record");
        return -1;
    }
    if (!kind)
        return ledger_pending(ledger, partition, offset) == 0 ? 1 : -1;
    if (!ledger->in_transaction) {
        if (sqlite3_exec(ledger->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            ledger_error(ledger, "cannot begin", errstr, errstr_size);
            return -1;
        }
        ledger->in_transaction = 1;
    }
    sqlite3_stmt *insert = ledger->statement[LEDGER_INSERT];
    sqlite3_reset(insert);
    /* One integer key: the partition above the offset's 40 bits. */
    sqlite3_bind_int64(insert, 1, ((sqlite3_int64)partition << 40) | offset);
    int rc = ledger_bind(ledger, record, kind, errstr, errstr_size);
    if (rc == 0 && sqlite3_step(insert) != SQLITE_DONE) {
        ledger_error(ledger, "cannot add a record", errstr, errstr_size);
        rc = -1;
    }
    /* The statement holds pointers into the record: let go of them now. */
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
    if (rc != 0)
        return -1;
    if (ledger_pending(ledger, partition, offset) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (++ledger->batched >= LEDGER_BATCH)
        return ledger_commit_locked(ledger, NULL, 0, errstr, errstr_size);
    return 0;
}

int ledger_add(struct ledger *ledger, int32_t partition, int64_t offset, const void *value,
               size_t len, char *errstr, size_t errstr_size)
{
    struct ledger_record record;
    if (!value || ledger_record_parse(value, len, &record) != 0) {
        snprintf(errstr, errstr_size, "not an audit record: not a JSON object");
        return -1;
    }
    pthread_mutex_lock(&ledger->lock);
    int result = ledger_add_locked(ledger, partition, offset, &record, errstr, errstr_size);
    pthread_mutex_unlock(&ledger->lock);
    ledger_record_clear(&record);
    return result;
}

int64_t ledger_current_ms(struct ledger *ledger)
{
    return atomic_load(&ledger->current_ms);
}

void ledger_set_current_ms(struct ledger *ledger, int64_t current_ms)
{
    atomic_store(&ledger->current_ms, current_ms);
}

int ledger_round(struct ledger *ledger, int64_t t0, const int64_t *position, int partition_count,
                 char *errstr, size_t errstr_size)
{
    int result = 0;
    pthread_mutex_lock(&ledger->lock);
    int64_t now = clock_monotonic_ms();
    if (!ledger->in_transaction || now - ledger->committed_at >= LEDGER_COMMIT_MS) {
        result = ledger_commit_locked(ledger, position, partition_count, errstr, errstr_size);
        if (result == 0) {
            ledger->committed_t0 = t0;
            ledger->committed_at = now;
        }
    }
    /* IMPORTANT: a failed commit rolled back every row since the last one;
     * only what that one held is known to be here. */
    atomic_store(&ledger->current_ms, result == 0 ? t0 : ledger->committed_t0);
    pthread_mutex_unlock(&ledger->lock);
    return result;
}

/* Copies text into storage (NUL-terminated) and returns it; NULL for none. */
static const char *ledger_store(struct ledger_text text, char **cursor, char *end)
{
    if (!text.text || (size_t)(end - *cursor) < text.len + 1)
        return NULL;
    char *copy = *cursor;
    memcpy(copy, text.text, text.len);
    copy[text.len] = '\0';
    *cursor += text.len + 1;
    return copy;
}

int ledger_entry_of_record(const struct ledger_record *record, int32_t partition, int64_t offset,
                           struct ledger_entry *entry, char *storage, size_t storage_size,
                           char *errstr, size_t errstr_size)
{
    struct ledger_facts facts;
    const char *kind = ledger_kind(record);
    memset(entry, 0, sizeof *entry);
    if (!kind)
        return 1;
    if (ledger_facts(record, kind, &facts, errstr, errstr_size) != 0)
        return -1;
    char *cursor = storage, *end = storage + storage_size;
    entry->record = kind;
    entry->at_ms = facts.at_ms;
    entry->partner = ledger_store(record->partner, &cursor, end);
    entry->event_id = ledger_store(record->event_id, &cursor, end);
    entry->event_type = ledger_store(record->event_type, &cursor, end);
    if (record->has_source) {
        entry->source_topic = ledger_store(record->source_topic, &cursor, end);
        entry->source_partition = (int32_t)record->source_partition;
        entry->source_offset = record->source_offset;
    }
    entry->outcome = ledger_store(record->outcome, &cursor, end);
    entry->agreement = ledger_store(record->agreement, &cursor, end);
    entry->agreement_version = ledger_store(record->agreement_version, &cursor, end);
    if (record->fields.text && record->fields.len > 2)
        entry->fields = ledger_store(record->fields, &cursor, end);
    entry->reason = ledger_store(record->reason, &cursor, end);
    entry->correction = ledger_store(facts.correction, &cursor, end);
    entry->corrects = ledger_store(facts.corrects, &cursor, end);
    entry->via = ledger_store(record->via, &cursor, end);
    entry->scope = ledger_store(record->scope, &cursor, end);
    entry->state = ledger_store(record->state, &cursor, end);
    entry->recorded_by =
        ledger_store(record->recorded_by.text ? record->recorded_by : record->actor, &cursor, end);
    if (!record->has_source)
        entry->source = ledger_store(record->source, &cursor, end);
    entry->audit_partition = partition;
    entry->audit_offset = offset;
    return 0;
}
