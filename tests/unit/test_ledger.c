/*
 * test_ledger.c - the disclosure ledger (lib/governance/ledger.c) in a
 * temporary folder: a new ledger, the three kinds of audit record kept and
 * their positions across a reopen, what a partner was sent of an event
 * (the latest delivered receipt), everything about one person in time
 * order with its bounds, one row per audit record, records it does not
 * keep and malformed ones (the member named, never its value), a ledger of
 * another topic refused, an unreadable file moved aside, missing folders
 * made; and the feed on librdkafka's mock cluster, from the beginning and
 * from stored positions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "mock_cluster_support.h"
#include "core/clock.h"
#include "core/config.h"
#include "governance/ledger.h"

#define AUDIT_TOPIC "test.audit"

/* Invented person references (keyed hashes, as event_person_key makes). */
#define PERSON_A "5f3c9a7e1b2d4c6e8a0f1e3d5c7b9a2e"
#define PERSON_B "fedcba9876543210fedcba9876543210"

/* 2026-11-20T08:42:04.002Z and later moments, in ms since the epoch. */
#define T1_TEXT "2026-11-20T08:42:04.002Z"
#define T1 1795164124002LL
#define T2_TEXT "2026-11-20T09:00:00.000Z"
#define T2 1795165200000LL
#define T3_TEXT "2026-11-21T10:15:30.123Z"
#define T3 1795256130123LL
#define T4_TEXT "2026-11-22T10:15:30.123Z"
#define T4 1795342530123LL

struct folder {
    char path[PATH_MAX];   /* the temporary folder */
    char ledger[PATH_MAX]; /* the ledger file in it */
};

static int setup_folder(void **state)
{
    struct folder *folder = calloc(1, sizeof *folder);
    if (!folder)
        return -1;
    snprintf(folder->path, sizeof folder->path, "/tmp/test_ledger.XXXXXX");
    if (!mkdtemp(folder->path)) {
        free(folder);
        return -1;
    }
    snprintf(folder->ledger, sizeof folder->ledger, "%s/governance.ledger", folder->path);
    *state = folder;
    return 0;
}

static int remove_one(const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
    (void)info;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown_folder(void **state)
{
    struct folder *folder = *state;
    int rc = nftw(folder->path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(folder);
    return rc;
}

static struct ledger *open_ledger(const char *path)
{
    char errstr[1024];
    struct ledger *ledger = NULL;
    if (ledger_open(path, AUDIT_TOPIC, LEDGER_KEEPER, &ledger, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    assert_non_null(ledger);
    return ledger;
}

/* Adds one record (JSON text) and expects result. */
static void add(struct ledger *ledger, int32_t partition, int64_t offset, const char *record,
                int result)
{
    char errstr[512] = "";
    int got = ledger_add(ledger, partition, offset, record, strlen(record), errstr, sizeof errstr);
    if (got != result)
        fail_msg("ledger_add of %d/%lld returned %d, not %d (%s)", partition, (long long)offset,
                 got, result, errstr);
}

static void commit(struct ledger *ledger, const int64_t *position, int partition_count)
{
    char errstr[512];
    if (ledger_commit(ledger, position, partition_count, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
}

/* A delivery receipt of partner and event_id about person. extra: more
 * members, each with a leading comma ("" for none). */
static char *delivery(const char *partner, const char *event_id, const char *outcome,
                      const char *completed_at, const char *person, const char *fields,
                      const char *extra)
{
    char *text = NULL;
    if (asprintf(&text,
                 "{\"record\":\"delivery\",\"partner\":\"%s\",\"event_id\":\"%s\","
                 "\"event_type\":\"admission\",\"source\":{\"topic\":\"admission\","
                 "\"partition\":4,\"offset\":17},\"outcome\":\"%s\",\"status\":200,"
                 "\"attempts\":1,\"latency_ms\":412,\"completed_at\":\"%s\","
                 "\"person_ref\":\"%s\",\"agreement\":\"%s-stays\",\"agreement_version\":"
                 "\"0a1b2c3d4e5f\",\"fields\":%s,\"pseudonymised\":false%s}",
                 partner, event_id, outcome, completed_at, person, partner, fields, extra) < 0)
        fail();
    return text;
}

static char *suppression(const char *partner, const char *event_id, const char *at,
                         const char *person, const char *extra)
{
    char *text = NULL;
    if (asprintf(&text,
                 "{\"record\":\"suppression\",\"partner\":\"%s\",\"event_id\":\"%s\","
                 "\"event_type\":\"discharge\",\"source\":{\"topic\":\"discharge\","
                 "\"partition\":1,\"offset\":3},\"person_ref\":\"%s\",\"agreement\":"
                 "\"%s-stays\",\"reason\":\"objection\",\"detail\":\"the person objected\","
                 "\"at\":\"%s\"%s}",
                 partner, event_id, person, partner, at, extra) < 0)
        fail();
    return text;
}

static char *objection_change(const char *person, const char *state, const char *changed_at)
{
    char *text = NULL;
    if (asprintf(&text,
                 "{\"record\":\"objection_change\",\"person_ref\":\"%s\",\"scope\":"
                 "\"local:partner:homes\",\"state\":\"%s\",\"changed_at\":\"%s\","
                 "\"recorded_by\":\"ig-officer.7\",\"source\":\"api:demo-publisher\"}",
                 person, state, changed_at) < 0)
        fail();
    return text;
}

/* Adds a record made by one of the above and frees it. */
static void add_made(struct ledger *ledger, int32_t partition, int64_t offset, char *record)
{
    add(ledger, partition, offset, record, 0);
    free(record);
}

/* ---- ledger_subject's rows, copied out of the callback ------------------- */

struct row {
    char *record, *partner, *event_id, *event_type, *source_topic, *outcome, *agreement,
        *agreement_version, *fields, *reason, *correction, *corrects, *via, *scope, *state,
        *recorded_by, *source;
    int64_t at_ms, source_offset, audit_offset;
    int32_t source_partition, audit_partition;
};

struct rows {
    struct row row[16];
    int count;
    int stop_after; /* 0: never */
};

static char *copy(const char *text)
{
    return text ? strdup(text) : NULL;
}

static int collect(void *opaque, const struct ledger_entry *entry)
{
    struct rows *rows = opaque;
    assert_true(rows->count < 16);
    struct row *row = &rows->row[rows->count++];
    *row = (struct row){
        .record = copy(entry->record),
        .partner = copy(entry->partner),
        .event_id = copy(entry->event_id),
        .event_type = copy(entry->event_type),
        .source_topic = copy(entry->source_topic),
        .outcome = copy(entry->outcome),
        .agreement = copy(entry->agreement),
        .agreement_version = copy(entry->agreement_version),
        .fields = copy(entry->fields),
        .reason = copy(entry->reason),
        .correction = copy(entry->correction),
        .corrects = copy(entry->corrects),
        .via = copy(entry->via),
        .scope = copy(entry->scope),
        .state = copy(entry->state),
        .recorded_by = copy(entry->recorded_by),
        .source = copy(entry->source),
        .at_ms = entry->at_ms,
        .source_offset = entry->source_offset,
        .audit_offset = entry->audit_offset,
        .source_partition = entry->source_partition,
        .audit_partition = entry->audit_partition,
    };
    return rows->stop_after && rows->count >= rows->stop_after;
}

static void rows_clear(struct rows *rows)
{
    for (int i = 0; i < rows->count; i++) {
        struct row *row = &rows->row[i];
        char **text[] = {
            &row->record,       &row->partner, &row->event_id,   &row->event_type,
            &row->source_topic, &row->outcome, &row->agreement,  &row->agreement_version,
            &row->fields,       &row->reason,  &row->correction, &row->corrects,
            &row->via,          &row->scope,   &row->state,      &row->recorded_by,
            &row->source};
        for (size_t j = 0; j < sizeof text / sizeof *text; j++)
            free(*text[j]);
    }
    memset(rows, 0, sizeof *rows);
}

/* ledger_subject into rows (cleared first); returns what it returned. */
static long long subject(struct ledger *ledger, const char *person, int64_t from_ms, int64_t to_ms,
                         struct rows *rows)
{
    char errstr[512] = "";
    int stop_after = rows->stop_after;
    rows_clear(rows);
    rows->stop_after = stop_after;
    long long given =
        ledger_subject(ledger, person, from_ms, to_ms, collect, rows, errstr, sizeof errstr);
    if (given < 0)
        fail_msg("%s", errstr);
    assert_int_equal(given, rows->count);
    return given;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_new_ledger_kept_across_reopen(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    for (int p = 0; p < 8; p++)
        assert_int_equal(ledger_position(ledger, p), -1);
    assert_int_equal(ledger_count(ledger), 0);

    add_made(ledger, 0, 5,
             delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A, "[\"event_id\"]", ""));
    add_made(ledger, 1, 2, suppression("homes", "e-2", T2_TEXT, PERSON_A, ""));
    add_made(ledger, 2, 7, objection_change(PERSON_A, "recorded", T3_TEXT));
    assert_int_equal(ledger_count(ledger), 3);
    /* The feed had read partition 0 to 10 (records it skipped, say), knew
     * nothing of 1, and an older position of 2: the later of the feed's
     * and the rows' is kept. */
    const int64_t position[] = {10, -1, 4};
    commit(ledger, position, 3);
    assert_int_equal(ledger_position(ledger, 0), 10);
    assert_int_equal(ledger_position(ledger, 1), 3);
    assert_int_equal(ledger_position(ledger, 2), 8);
    assert_int_equal(ledger_position(ledger, 3), -1);

    /* Added and not committed: closing commits it. */
    add_made(ledger, 3, 0, objection_change(PERSON_A, "withdrawn", T4_TEXT));
    ledger_close(ledger);

    ledger = open_ledger(folder->ledger);
    assert_int_equal(ledger_count(ledger), 4);
    assert_int_equal(ledger_position(ledger, 0), 10);
    assert_int_equal(ledger_position(ledger, 1), 3);
    assert_int_equal(ledger_position(ledger, 2), 8);
    assert_int_equal(ledger_position(ledger, 3), 1);
    assert_int_equal(ledger_position(ledger, 4), -1);
    struct rows rows = {0};
    assert_int_equal(subject(ledger, PERSON_A, 0, INT64_MAX, &rows), 4);
    assert_string_equal(rows.row[0].record, "delivery");
    assert_string_equal(rows.row[1].record, "suppression");
    assert_string_equal(rows.row[2].record, "objection_change");
    assert_string_equal(rows.row[3].state, "withdrawn");
    rows_clear(&rows);
    ledger_close(ledger);
    ledger_close(NULL);
}

static void test_disclosed(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    char errstr[512];
    struct ledger_disclosure disclosure;
    /* Nothing yet. */
    assert_int_equal(ledger_disclosed(ledger, PERSON_A, strlen(PERSON_A), "homes", "e-1",
                                      &disclosure, errstr, sizeof errstr),
                     0);
    assert_null(disclosure.fields);

    add_made(ledger, 0, 1,
             delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A,
                      "[\"encounter_id\",\"event_id\",\"person.given_name\"]", ""));
    add_made(ledger, 0, 2,
             delivery("homes", "e-2", "dead_lettered", T1_TEXT, PERSON_A, "[\"event_id\"]",
                      ",\"reason\":\"refused\""));
    add_made(ledger, 1, 1,
             delivery("leisure", "e-3", "delivered", T1_TEXT, PERSON_B, "[\"event_id\"]", ""));
    add_made(ledger, 1, 2, suppression("homes", "e-4", T1_TEXT, PERSON_B, ""));

    assert_int_equal(ledger_disclosed(ledger, PERSON_A, strlen(PERSON_A), "homes", "e-1",
                                      &disclosure, errstr, sizeof errstr),
                     1);
    assert_string_equal(disclosure.agreement, "homes-stays");
    assert_string_equal(disclosure.agreement_version, "0a1b2c3d4e5f");
    assert_string_equal(disclosure.fields, "[\"encounter_id\",\"event_id\",\"person.given_name\"]");
    assert_int_equal(disclosure.at_ms, T1);
    free(disclosure.fields);

    /* Dead-lettered, suppressed, another partner, another event: none. */
    const struct {
        const char *person, *partner, *event_id;
        int found;
    } asked[] = {{PERSON_A, "homes", "e-2", 0},   {PERSON_B, "homes", "e-4", 0},
                 {PERSON_A, "leisure", "e-1", 0}, {PERSON_A, "homes", "e-3", 0},
                 {PERSON_A, "homes", "e-9", 0},   {PERSON_B, "leisure", "e-3", 1}};
    for (size_t i = 0; i < sizeof asked / sizeof *asked; i++) {
        assert_int_equal(ledger_disclosed(ledger, asked[i].person, strlen(asked[i].person),
                                          asked[i].partner, asked[i].event_id, &disclosure, errstr,
                                          sizeof errstr),
                         asked[i].found);
        free(disclosure.fields);
    }

    /* A redelivery later, under a new version with other fields: the
     * latest delivered receipt names the agreement and time; the fields
     * are both deliveries' (the partner holds what each carried); a failed
     * one adds nothing. */
    add_made(ledger, 0, 3,
             delivery("homes", "e-1", "delivered", T2_TEXT, PERSON_A, "[\"event_id\",\"ward\"]",
                      ",\"via\":\"redrive\""));
    add_made(ledger, 0, 4,
             delivery("homes", "e-1", "failed", T3_TEXT, PERSON_A, "[\"event_id\"]",
                      ",\"via\":\"replay\",\"reason\":\"timeout\""));
    assert_int_equal(ledger_disclosed(ledger, PERSON_A, strlen(PERSON_A), "homes", "e-1",
                                      &disclosure, errstr, sizeof errstr),
                     1);
    assert_string_equal(disclosure.fields,
                        "[\"encounter_id\",\"event_id\",\"person.given_name\",\"ward\"]");
    assert_int_equal(disclosure.at_ms, T2);
    free(disclosure.fields);
    commit(ledger, NULL, 0);
    ledger_close(ledger);
}

static void test_subject(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    /* Person A's rows, added out of time order on several partitions, with
     * person B's in between. */
    add_made(ledger, 2, 40,
             suppression("homes", "e-3", T3_TEXT, PERSON_A,
                         ",\"supersedes_event_id\":\"e-1\",\"via\":\"replay\""));
    add_made(
        ledger, 0, 10,
        delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A, "[\"event_id\",\"ward\"]", ""));
    add_made(ledger, 1, 5, objection_change(PERSON_A, "recorded", T4_TEXT));
    add_made(ledger, 0, 11,
             delivery("leisure", "e-9", "delivered", T2_TEXT, PERSON_B, "[\"event_id\"]", ""));
    /* Two in one millisecond: audit order, the later offset added first. */
    add_made(ledger, 1, 4,
             delivery("leisure", "e-2", "dead_lettered", T2_TEXT, PERSON_A, "[\"event_id\"]",
                      ",\"reason\":\"refused\",\"cancels_event_id\":\"e-1\""));
    add_made(ledger, 1, 3,
             delivery("homes", "e-2", "delivered", T2_TEXT, PERSON_A, "[]",
                      ",\"cancels_event_id\":\"e-1\",\"supersedes_event_id\":\"e-0\""));
    commit(ledger, NULL, 0);

    struct rows rows = {0};
    assert_int_equal(subject(ledger, PERSON_A, 0, INT64_MAX, &rows), 5);
    static const int64_t at[] = {T1, T2, T2, T3, T4};
    static const int32_t partition[] = {0, 1, 1, 2, 1};
    static const int64_t offset[] = {10, 3, 4, 40, 5};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rows.row[i].at_ms, at[i]);
        assert_int_equal(rows.row[i].audit_partition, partition[i]);
        assert_int_equal(rows.row[i].audit_offset, offset[i]);
    }

    /* A plain delivery. */
    const struct row *row = &rows.row[0];
    assert_string_equal(row->record, "delivery");
    assert_string_equal(row->partner, "homes");
    assert_string_equal(row->event_id, "e-1");
    assert_string_equal(row->event_type, "admission");
    assert_string_equal(row->source_topic, "admission");
    assert_int_equal(row->source_partition, 4);
    assert_int_equal(row->source_offset, 17);
    assert_string_equal(row->outcome, "delivered");
    assert_string_equal(row->agreement, "homes-stays");
    assert_string_equal(row->agreement_version, "0a1b2c3d4e5f");
    assert_string_equal(row->fields, "[\"event_id\",\"ward\"]");
    assert_null(row->reason);
    assert_null(row->correction);
    assert_null(row->corrects);
    assert_null(row->via);
    assert_null(row->scope);
    assert_null(row->state);
    assert_null(row->recorded_by);
    assert_null(row->source);

    /* A cancellation that names both: cancels_event_id wins. Nothing sent:
     * no field list. */
    row = &rows.row[1];
    assert_string_equal(row->partner, "homes");
    assert_string_equal(row->correction, "cancellation");
    assert_string_equal(row->corrects, "e-1");
    assert_true(!row->fields || strcmp(row->fields, "[]") == 0);

    row = &rows.row[2];
    assert_string_equal(row->outcome, "dead_lettered");
    assert_string_equal(row->reason, "refused");
    assert_string_equal(row->correction, "cancellation");
    assert_string_equal(row->corrects, "e-1");

    /* A suppression of a correction, by placehub-ctl's replay. */
    row = &rows.row[3];
    assert_string_equal(row->record, "suppression");
    assert_string_equal(row->event_type, "discharge");
    assert_string_equal(row->source_topic, "discharge");
    assert_int_equal(row->source_partition, 1);
    assert_int_equal(row->source_offset, 3);
    assert_string_equal(row->reason, "objection");
    assert_string_equal(row->correction, "correction");
    assert_string_equal(row->corrects, "e-1");
    assert_string_equal(row->via, "replay");
    assert_null(row->outcome);
    assert_null(row->fields);

    /* An objection change: its own members, none of a delivery's. */
    row = &rows.row[4];
    assert_string_equal(row->record, "objection_change");
    assert_string_equal(row->scope, "local:partner:homes");
    assert_string_equal(row->state, "recorded");
    assert_string_equal(row->recorded_by, "ig-officer.7");
    assert_string_equal(row->source, "api:demo-publisher");
    assert_null(row->partner);
    assert_null(row->event_id);
    assert_null(row->source_topic);
    assert_null(row->outcome);
    assert_null(row->correction);

    /* Bounds: from inclusive, to exclusive. */
    assert_int_equal(subject(ledger, PERSON_A, T2, T4, &rows), 3);
    assert_int_equal(rows.row[0].at_ms, T2);
    assert_int_equal(rows.row[2].at_ms, T3);
    assert_int_equal(subject(ledger, PERSON_A, T2 + 1, T4 + 1, &rows), 2);
    assert_int_equal(rows.row[0].at_ms, T3);
    assert_int_equal(rows.row[1].at_ms, T4);
    assert_int_equal(subject(ledger, PERSON_A, T1, T1, &rows), 0);

    /* Person B has only hers. */
    assert_int_equal(subject(ledger, PERSON_B, 0, INT64_MAX, &rows), 1);
    assert_string_equal(rows.row[0].event_id, "e-9");
    assert_int_equal(subject(ledger, "00000000000000000000000000000000", 0, INT64_MAX, &rows), 0);

    /* The callback stops it. */
    rows.stop_after = 1;
    assert_int_equal(subject(ledger, PERSON_A, 0, INT64_MAX, &rows), 1);
    assert_string_equal(rows.row[0].event_id, "e-1");
    rows.stop_after = 3;
    assert_int_equal(subject(ledger, PERSON_A, 0, INT64_MAX, &rows), 3);
    assert_int_equal(rows.row[2].audit_offset, 4);
    rows_clear(&rows);
    ledger_close(ledger);
}

/* The console's two questions: everything about one event (at every
 * partner, in time order), and the latest rows about any event; with the
 * indexes ledger_index_events adds and (the same answers) without. */
static void test_event_and_recent(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    add_made(ledger, 0, 10,
             delivery("homes", "e-1", "dead_lettered", T1_TEXT, PERSON_A, "[\"event_id\"]",
                      ",\"reason\":\"HTTP 422\""));
    add_made(ledger, 1, 7, suppression("leisure", "e-1", T2_TEXT, PERSON_A, ""));
    add_made(ledger, 2, 3, objection_change(PERSON_A, "recorded", T3_TEXT));
    add_made(ledger, 0, 11,
             delivery("homes", "e-1", "delivered", T4_TEXT, PERSON_A, "[\"event_id\"]",
                      ",\"via\":\"redrive\""));
    add_made(ledger, 1, 8,
             delivery("leisure", "e-9", "delivered", T3_TEXT, PERSON_B, "[\"event_id\"]", ""));
    commit(ledger, NULL, 0);
    char errstr[512] = "";
    for (int indexed = 0; indexed < 2; indexed++) {
        if (indexed && ledger_index_events(ledger, errstr, sizeof errstr) != 0)
            fail_msg("%s", errstr);
        struct rows rows = {0};
        assert_int_equal(ledger_event(ledger, "e-1", collect, &rows, errstr, sizeof errstr), 3);
        assert_string_equal(rows.row[0].outcome, "dead_lettered");
        assert_string_equal(rows.row[1].record, "suppression");
        assert_string_equal(rows.row[1].partner, "leisure");
        assert_string_equal(rows.row[2].via, "redrive");
        rows_clear(&rows);
        assert_int_equal(ledger_event(ledger, "e-404", collect, &rows, errstr, sizeof errstr), 0);
        /* Newest first, only rows about an event (not the objection change). */
        assert_int_equal(ledger_recent(ledger, 3, collect, &rows, errstr, sizeof errstr), 3);
        static const int64_t at[] = {T4, T3, T2};
        for (int i = 0; i < 3; i++)
            assert_int_equal(rows.row[i].at_ms, at[i]);
        assert_string_equal(rows.row[1].event_id, "e-9");
        rows_clear(&rows);
    }
    ledger_close(ledger);
}

static void test_one_row_per_audit_record(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    add_made(ledger, 0, 7,
             delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A, "[\"event_id\"]", ""));
    commit(ledger, NULL, 0);
    /* Given again (a second feeder of the file, a repeated round): the row
     * there is kept, whatever the second says. */
    add_made(ledger, 0, 7,
             delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A, "[\"event_id\"]", ""));
    add_made(ledger, 0, 7,
             delivery("homes", "e-5", "dead_lettered", T2_TEXT, PERSON_A, "[\"ward\"]", ""));
    /* The same offset on another partition is another record. */
    add_made(ledger, 1, 7,
             delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A, "[\"event_id\"]", ""));
    commit(ledger, NULL, 0);
    assert_int_equal(ledger_count(ledger), 2);
    struct rows rows = {0};
    assert_int_equal(subject(ledger, PERSON_A, 0, INT64_MAX, &rows), 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(rows.row[i].event_id, "e-1");
        assert_string_equal(rows.row[i].outcome, "delivered");
    }
    assert_int_equal(rows.row[0].audit_partition, 0);
    assert_int_equal(rows.row[1].audit_partition, 1);
    rows_clear(&rows);
    assert_int_equal(ledger_position(ledger, 0), 8);
    ledger_close(ledger);
}

/* ledger_add must refuse text with -1 and an errstr naming member, and
 * keep no row. */
static void expect_refused(struct ledger *ledger, const char *text, const char *member,
                           const char *value)
{
    char errstr[512] = "";
    assert_int_equal(ledger_add(ledger, 0, 1, text, strlen(text), errstr, sizeof errstr), -1);
    assert_contains(errstr, member);
    if (value)
        assert_not_contains(errstr, value);
    assert_not_contains(errstr, PERSON_A);
}

static void test_kinds_and_malformed(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    /* Records the ledger does not keep: skipped, not an error. */
    add(ledger, 0, 1,
        "{\"record\":\"objection\",\"person_ref\":\"" PERSON_A "\",\"scope\":"
        "\"national_data_opt_out\",\"state\":\"recorded\",\"changed_at\":\"" T1_TEXT "\"}",
        1);
    add(ledger, 0, 2, "{\"record\":\"redrive\",\"at\":\"" T1_TEXT "\"}", 1);
    /* An operator's pause (record_partner_control), as dispatch writes it. */
    add(ledger, 1, 2,
        "{\"record\":\"partner_control\",\"partner\":\"homes\",\"action\":\"pause\","
        "\"actor\":\"j.bloggs@council.example\",\"at\":\"" T1_TEXT "\"}",
        1);
    assert_int_equal(ledger_count(ledger), 0);

    char errstr[512] = "";
    assert_int_equal(ledger_add(ledger, 0, 3, "not json", 8, errstr, sizeof errstr), -1);
    assert_true(errstr[0] != '\0');
    assert_int_equal(ledger_add(ledger, 0, 3, "[1,2]", 5, errstr, sizeof errstr), -1);
    assert_int_equal(ledger_add(ledger, 0, 3, NULL, 0, errstr, sizeof errstr), -1);
    expect_refused(ledger, "{\"partner\":\"homes\",\"person_ref\":\"" PERSON_A "\"}", "record",
                   NULL);
    expect_refused(ledger, "{\"record\":7,\"person_ref\":\"" PERSON_A "\"}", "record", NULL);

    /* A delivery with a suppression's time. */
    expect_refused(ledger,
                   "{\"record\":\"delivery\",\"partner\":\"homes\",\"event_id\":\"e-1\","
                   "\"outcome\":\"delivered\",\"at\":\"" T1_TEXT "\",\"person_ref\":\"" PERSON_A
                   "\"}",
                   "completed_at", NULL);
    char *text =
        delivery("homes", "e-1", "delivered", "2026-13-45T99:00:00.000Z", PERSON_A, "[]", "");
    expect_refused(ledger, text, "completed_at", "2026-13-45");
    free(text);
    text = delivery("homes", "e-1", "delivered", "Sam Okonjo-Pryce", PERSON_A, "[]", "");
    expect_refused(ledger, text, "completed_at", "Okonjo");
    free(text);
    text = suppression("homes", "e-2", "yesterday", PERSON_A, "");
    expect_refused(ledger, text, " at ", "yesterday");
    free(text);
    text = objection_change(PERSON_A, "recorded", "2026-11-22");
    expect_refused(ledger, text, "changed_at", "2026-11-22");
    free(text);
    expect_refused(ledger,
                   "{\"record\":\"delivery\",\"completed_at\":1795164124002,\"person_ref\":"
                   "\"" PERSON_A "\"}",
                   "completed_at", "1795164124002");
    assert_int_equal(ledger_count(ledger), 0);

    /* A good one after them is kept. */
    add_made(ledger, 0, 9,
             delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A, "[\"event_id\"]", ""));
    commit(ledger, NULL, 0);
    assert_int_equal(ledger_count(ledger), 1);
    ledger_close(ledger);
}

static void test_current_ms(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    assert_int_equal(ledger_current_ms(ledger), 0);
    ledger_set_current_ms(ledger, T4);
    assert_int_equal(ledger_current_ms(ledger), T4);
    ledger_set_current_ms(ledger, T1);
    assert_int_equal(ledger_current_ms(ledger), T1);
    ledger_close(ledger);
}

static void test_another_topic_refused(void **state)
{
    struct folder *folder = *state;
    struct ledger *ledger = open_ledger(folder->ledger);
    add_made(ledger, 0, 0, objection_change(PERSON_A, "recorded", T1_TEXT));
    ledger_close(ledger);

    static char sentinel;
    char errstr[1024] = "";
    ledger = (struct ledger *)&sentinel; /* ledger_open must clear it */
    assert_int_equal(
        ledger_open(folder->ledger, "other.audit", LEDGER_KEEPER, &ledger, errstr, sizeof errstr),
        -1);
    assert_null(ledger);
    assert_contains(errstr, folder->ledger);
    assert_contains(errstr, AUDIT_TOPIC);
    assert_contains(errstr, "other.audit");

    /* Left as it was. */
    ledger = open_ledger(folder->ledger);
    assert_int_equal(ledger_count(ledger), 1);
    ledger_close(ledger);
}

/* Finds the file of folder whose name starts with prefix; copies its name. */
static int find_file(const char *folder, const char *prefix, char *name, size_t name_size)
{
    DIR *dir = opendir(folder);
    assert_non_null(dir);
    struct dirent *item;
    int found = 0;
    while ((item = readdir(dir)) != NULL)
        if (strncmp(item->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(name, name_size, "%s", item->d_name);
            found++;
        }
    closedir(dir);
    return found;
}

static void test_unreadable_moved_aside(void **state)
{
    struct folder *folder = *state;
    char garbage[8192];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = "not an SQLite database, just words\n"[i % 35];
    FILE *file = fopen(folder->ledger, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(garbage, 1, sizeof garbage, file), sizeof garbage);
    fclose(file);

    int64_t before = clock_wall_ms();
    struct ledger *ledger = open_ledger(folder->ledger);
    int64_t after = clock_wall_ms();
    assert_int_equal(ledger_count(ledger), 0);
    assert_int_equal(ledger_position(ledger, 0), -1);
    add_made(ledger, 0, 0, objection_change(PERSON_A, "recorded", T1_TEXT));
    ledger_close(ledger);

    char name[256], prefix[64];
    snprintf(prefix, sizeof prefix, "governance.ledger.unreadable-");
    assert_int_equal(find_file(folder->path, prefix, name, sizeof name), 1);
    char *end;
    long long ms = strtoll(name + strlen(prefix), &end, 10);
    assert_int_equal(*end, '\0');
    assert_true(ms >= before && ms <= after);
    char aside[PATH_MAX + 256];
    snprintf(aside, sizeof aside, "%s/%s", folder->path, name);
    size_t len;
    char *kept = support_read_file(aside, &len);
    assert_int_equal(len, sizeof garbage);
    assert_memory_equal(kept, garbage, sizeof garbage);
    free(kept);

    /* The new one is a ledger. */
    ledger = open_ledger(folder->ledger);
    assert_int_equal(ledger_count(ledger), 1);
    ledger_close(ledger);
}

/* One process keeps a file: a second keeper is refused with what to do; a
 * visitor opens it to read, never as its keeper; once the keeper is gone,
 * a visitor becomes the keeper. */
static void test_one_keeper(void **state)
{
    struct folder *folder = *state;
    char errstr[1024] = "";
    struct ledger *keeper = open_ledger(folder->ledger), *other = NULL;
    assert_true(ledger_is_keeper(keeper));
    add_made(keeper, 0, 0, objection_change(PERSON_A, "recorded", T1_TEXT));
    commit(keeper, NULL, 0);
    assert_int_equal(
        ledger_open(folder->ledger, AUDIT_TOPIC, LEDGER_KEEPER, &other, errstr, sizeof errstr), -1);
    assert_null(other);
    assert_contains(errstr, "kept by another process");
    assert_contains(errstr, "its own governance.ledger");
    assert_int_equal(
        ledger_open(folder->ledger, AUDIT_TOPIC, LEDGER_VISITOR, &other, errstr, sizeof errstr), 0);
    assert_false(ledger_is_keeper(other));
    assert_int_equal(ledger_count(other), 1); /* it reads what the keeper committed */
    ledger_close(other);
    ledger_close(keeper);
    assert_int_equal(
        ledger_open(folder->ledger, AUDIT_TOPIC, LEDGER_VISITOR, &other, errstr, sizeof errstr), 0);
    assert_true(ledger_is_keeper(other));
    ledger_close(other);
}

/* A record read from the topic gives the row the ledger would hold. */
static void test_entry_of_record(void **state)
{
    (void)state;
    char errstr[256], storage[2048];
    struct ledger_record record;
    struct ledger_entry entry;
    char *text =
        suppression("leisure", "e-2", T2_TEXT, PERSON_A, ",\"supersedes_event_id\":\"e-1\"");
    assert_int_equal(ledger_record_parse(text, strlen(text), &record), 0);
    assert_int_equal(ledger_entry_of_record(&record, 2, 41, &entry, storage, sizeof storage, errstr,
                                            sizeof errstr),
                     0);
    assert_string_equal(entry.record, "suppression");
    assert_string_equal(entry.partner, "leisure");
    assert_string_equal(entry.event_id, "e-2");
    assert_int_equal(entry.at_ms, T2);
    assert_string_equal(entry.correction, "correction");
    assert_string_equal(entry.corrects, "e-1");
    assert_int_equal(entry.audit_partition, 2);
    assert_int_equal(entry.audit_offset, 41);
    ledger_record_clear(&record);
    free(text);
    const char *other = "{\"record\":\"objection\",\"changed_at\":\"" T1_TEXT "\"}";
    assert_int_equal(ledger_record_parse(other, strlen(other), &record), 0);
    assert_int_equal(ledger_entry_of_record(&record, 0, 0, &entry, storage, sizeof storage, errstr,
                                            sizeof errstr),
                     1);
    ledger_record_clear(&record);
    const char *control = "{\"record\":\"partner_control\",\"partner\":\"homes\",\"action\":"
                          "\"probe\",\"actor\":\"unknown\",\"at\":\"" T1_TEXT "\"}";
    assert_int_equal(ledger_record_parse(control, strlen(control), &record), 0);
    assert_int_equal(ledger_entry_of_record(&record, 0, 0, &entry, storage, sizeof storage, errstr,
                                            sizeof errstr),
                     1);
    ledger_record_clear(&record);
}

static void test_makes_folders(void **state)
{
    struct folder *folder = *state;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/var/lib/placehub/governance.ledger", folder->path);
    struct ledger *ledger = open_ledger(path);
    add_made(ledger, 0, 0, objection_change(PERSON_A, "recorded", T1_TEXT));
    ledger_close(ledger);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_true(S_ISREG(info.st_mode));
    ledger = open_ledger(path);
    assert_int_equal(ledger_count(ledger), 1);
    ledger_close(ledger);

    /* A folder that cannot be made (a file is in the way): refused, with
     * the path. */
    snprintf(path, sizeof path, "%s/governance.ledger/under/it", folder->path);
    FILE *file = fopen(folder->ledger, "wb");
    assert_non_null(file);
    fclose(file);
    char errstr[1024] = "";
    assert_int_equal(ledger_open(path, AUDIT_TOPIC, LEDGER_KEEPER, &ledger, errstr, sizeof errstr),
                     -1);
    assert_null(ledger);
    assert_contains(errstr, path);
}

/* ---- the feed, on librdkafka's mock cluster --------------------------------- */

struct cluster {
    struct mock_cluster kafka;
    struct folder *folder;
};

static int setup_cluster(void **state)
{
    struct cluster *cluster = calloc(1, sizeof *cluster);
    *state = cluster;
    if (!cluster || setup_folder((void **)&cluster->folder) != 0)
        return -1;
    return mock_cluster_start(&cluster->kafka, AUDIT_TOPIC,
                              "dispatch:\n  audit_topic: " AUDIT_TOPIC "\n");
}

static int teardown_cluster(void **state)
{
    struct cluster *cluster = *state;
    mock_cluster_stop(&cluster->kafka);
    int rc = teardown_folder((void **)&cluster->folder);
    free(cluster);
    return rc;
}

/* Produces record (freed) to partition of the audit topic and waits for the
 * broker's acknowledgement. Returns the wall-clock time just after it. */
static int64_t produce(struct cluster *cluster, int32_t partition, char *record)
{
    int64_t acknowledged =
        mock_cluster_produce(&cluster->kafka, AUDIT_TOPIC, partition, PERSON_A, record);
    free(record);
    return acknowledged;
}

static void catch_up(struct cluster *cluster, struct ledger *ledger)
{
    char errstr[512];
    if (ledger_catch_up(cluster->kafka.config, ledger, NULL, NULL, 10000, errstr, sizeof errstr) !=
        0)
        fail_msg("%s", errstr);
}

static void test_catch_up_from_the_topic(void **state)
{
    struct cluster *cluster = *state;
    produce(cluster, 1,
            delivery("homes", "e-1", "delivered", T1_TEXT, PERSON_A, "[\"event_id\"]", ""));
    produce(cluster, 1, suppression("leisure", "e-1", T1_TEXT, PERSON_A, ""));
    int64_t acknowledged = produce(cluster, 1, objection_change(PERSON_A, "recorded", T2_TEXT));

    struct ledger *ledger = open_ledger(cluster->folder->ledger);
    catch_up(cluster, ledger);
    assert_int_equal(ledger_count(ledger), 3);
    assert_int_equal(ledger_position(ledger, 1), 3);
    assert_true(ledger_position(ledger, 0) <= 0); /* nothing there */
    assert_true(ledger_current_ms(ledger) >= acknowledged);

    /* Another ledger that had read partition 1 up to 3 before. */
    char other_path[PATH_MAX + 16];
    snprintf(other_path, sizeof other_path, "%s/other.ledger", cluster->folder->path);
    struct ledger *other = open_ledger(other_path);
    const int64_t position[] = {-1, 3, -1};
    commit(other, position, 3);

    acknowledged = produce(cluster, 1,
                           delivery("homes", "e-2", "delivered", T3_TEXT, PERSON_A,
                                    "[\"event_id\"]", ",\"cancels_event_id\":\"e-1\""));
    catch_up(cluster, ledger);
    assert_int_equal(ledger_count(ledger), 4);
    assert_int_equal(ledger_position(ledger, 1), 4);
    assert_true(ledger_current_ms(ledger) >= acknowledged);
    struct rows rows = {0};
    assert_int_equal(subject(ledger, PERSON_A, 0, INT64_MAX, &rows), 4);
    assert_string_equal(rows.row[3].correction, "cancellation");
    assert_int_equal(rows.row[3].audit_offset, 3);

    /* The other starts from its stored position: only the new record. */
    catch_up(cluster, other);
    assert_int_equal(ledger_count(other), 1);
    assert_int_equal(ledger_position(other, 1), 4);
    assert_int_equal(subject(other, PERSON_A, 0, INT64_MAX, &rows), 1);
    assert_int_equal(rows.row[0].audit_offset, 3);
    assert_string_equal(rows.row[0].event_id, "e-2");
    rows_clear(&rows);
    ledger_close(other);
    ledger_close(ledger);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_ledger_kept_across_reopen, setup_folder,
                                        teardown_folder),
        cmocka_unit_test_setup_teardown(test_disclosed, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_subject, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_event_and_recent, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_one_row_per_audit_record, setup_folder,
                                        teardown_folder),
        cmocka_unit_test_setup_teardown(test_kinds_and_malformed, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_current_ms, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_another_topic_refused, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_unreadable_moved_aside, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_makes_folders, setup_folder, teardown_folder),
        cmocka_unit_test_setup_teardown(test_one_keeper, setup_folder, teardown_folder),
        cmocka_unit_test(test_entry_of_record),
        cmocka_unit_test_setup_teardown(test_catch_up_from_the_topic, setup_cluster,
                                        teardown_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
