/*
 * ledger_record.c - an audit record's kept members, read in one pass over
 * its text (see ledger_record.h), with jansson as the reader of whatever
 * the scanner declines.
 *
 * IMPORTANT: the scanner may decline anything, never accept differently.
 * It declines (and jansson decides) on: an escape, a control character or
 * a byte above 0x7f inside any string; a number with a fraction, an
 * exponent or more than 18 digits; nesting deeper than 16; a fields array
 * that is not compact plain strings; text after the object. Within those
 * limits it reads the JSON grammar strictly (what it accepts, jansson
 * accepts alike), and a member given twice keeps its last value, as
 * jansson does.
 */
#include "governance/ledger_record.h"

#include <stdlib.h>
#include <string.h>

#define LEDGER_RECORD_DEPTH 16

struct scanner {
    const char *at, *end;
};

static void scan_space(struct scanner *scanner)
{
    while (scanner->at < scanner->end && (*scanner->at == ' ' || *scanner->at == '\t' ||
                                          *scanner->at == '\n' || *scanner->at == '\r'))
        scanner->at++;
}

static int scan_char(struct scanner *scanner, char c)
{
    scan_space(scanner);
    if (scanner->at >= scanner->end || *scanner->at != c)
        return -1;
    scanner->at++;
    return 0;
}

/* A string without escapes, control characters or bytes above 0x7e. */
static int scan_string(struct scanner *scanner, struct ledger_text *out)
{
    if (scan_char(scanner, '"') != 0)
        return -1;
    const char *start = scanner->at;
    const char *close = memchr(start, '"', (size_t)(scanner->end - start));
    if (!close)
        return -1;
    /* One test a byte for the rare ones: control, DEL and above, backslash. */
    unsigned bad = 0;
    for (const char *c = start; c < close; c++) {
        unsigned char byte = (unsigned char)*c;
        bad |= (unsigned char)(byte - 0x20) >= 0x5f;
        bad |= byte == '\\';
    }
    if (bad)
        return -1;
    out->text = start;
    out->len = (size_t)(close - start);
    scanner->at = close + 1;
    return 0;
}

/* An integer of at most 18 digits (JSON's grammar: no leading zero). */
static int scan_integer(struct scanner *scanner, long long *value)
{
    int negative = scanner->at < scanner->end && *scanner->at == '-';
    if (negative)
        scanner->at++;
    const char *digits = scanner->at;
    long long number = 0;
    while (scanner->at < scanner->end && *scanner->at >= '0' && *scanner->at <= '9') {
        if (scanner->at - digits < 18) /* more are declined below: no overflow */
            number = number * 10 + (*scanner->at - '0');
        scanner->at++;
    }
    size_t count = (size_t)(scanner->at - digits);
    if (count == 0 || count > 18 || (count > 1 && digits[0] == '0'))
        return -1;
    if (scanner->at < scanner->end &&
        (*scanner->at == '.' || *scanner->at == 'e' || *scanner->at == 'E'))
        return -1;
    *value = negative ? -number : number;
    return 0;
}

static int scan_literal(struct scanner *scanner, const char *word)
{
    size_t len = strlen(word);
    if ((size_t)(scanner->end - scanner->at) < len || memcmp(scanner->at, word, len) != 0)
        return -1;
    scanner->at += len;
    return 0;
}

static int scan_value(struct scanner *scanner, int depth);

/* The members of an object or the items of an array, skipped. */
static int scan_skip_container(struct scanner *scanner, int depth, char close)
{
    struct ledger_text key;
    if (depth > LEDGER_RECORD_DEPTH)
        return -1;
    scan_space(scanner);
    if (scanner->at < scanner->end && *scanner->at == close) {
        scanner->at++;
        return 0;
    }
    for (;;) {
        if (close == '}' && (scan_string(scanner, &key) != 0 || scan_char(scanner, ':') != 0))
            return -1;
        if (scan_value(scanner, depth + 1) != 0)
            return -1;
        scan_space(scanner);
        if (scanner->at >= scanner->end)
            return -1;
        char c = *scanner->at++;
        if (c == close)
            return 0;
        if (c != ',')
            return -1;
    }
}

/* Any value, skipped. */
static int scan_value(struct scanner *scanner, int depth)
{
    struct ledger_text text;
    long long number;
    scan_space(scanner);
    if (scanner->at >= scanner->end)
        return -1;
    switch (*scanner->at) {
    case '"':
        return scan_string(scanner, &text);
    case '{':
        scanner->at++;
        return scan_skip_container(scanner, depth, '}');
    case '[':
        scanner->at++;
        return scan_skip_container(scanner, depth, ']');
    case 't':
        return scan_literal(scanner, "true");
    case 'f':
        return scan_literal(scanner, "false");
    case 'n':
        return scan_literal(scanner, "null");
    default:
        return scan_integer(scanner, &number);
    }
}

/* A kept string member: its text, or none for null and other values. */
static int scan_kept_string(struct scanner *scanner, struct ledger_text *out)
{
    scan_space(scanner);
    out->text = NULL;
    out->len = 0;
    if (scanner->at < scanner->end && *scanner->at == '"')
        return scan_string(scanner, out);
    return scan_value(scanner, 1);
}

/* An integer member of source: 0 unless an integer (as jansson's
 * json_integer_value says of other values). */
static int scan_kept_integer(struct scanner *scanner, long long *out)
{
    scan_space(scanner);
    *out = 0;
    if (scanner->at < scanner->end &&
        (*scanner->at == '-' || (*scanner->at >= '0' && *scanner->at <= '9')))
        return scan_integer(scanner, out);
    return scan_value(scanner, 1);
}

/* Whether key is name, a string literal (its length known when compiling). */
#define SCAN_KEY_IS(key, name)                                                                     \
    ((key)->len == sizeof(name) - 1 && memcmp((key)->text, name, sizeof(name) - 1) == 0)

/* "source": {"topic", "partition", "offset"}; another value is skipped. */
static int scan_source(struct scanner *scanner, struct ledger_record *record)
{
    struct ledger_text key;
    record->has_source = 0;
    record->source_topic.text = NULL;
    record->source_partition = record->source_offset = 0;
    scan_space(scanner);
    if (scanner->at >= scanner->end || *scanner->at != '{')
        return scan_value(scanner, 1);
    scanner->at++;
    record->has_source = 1;
    scan_space(scanner);
    if (scanner->at < scanner->end && *scanner->at == '}') {
        scanner->at++;
        return 0;
    }
    for (;;) {
        int rc;
        if (scan_string(scanner, &key) != 0 || scan_char(scanner, ':') != 0)
            return -1;
        if (SCAN_KEY_IS(&key, "topic"))
            rc = scan_kept_string(scanner, &record->source_topic);
        else if (SCAN_KEY_IS(&key, "partition"))
            rc = scan_kept_integer(scanner, &record->source_partition);
        else if (SCAN_KEY_IS(&key, "offset"))
            rc = scan_kept_integer(scanner, &record->source_offset);
        else
            rc = scan_value(scanner, 2);
        if (rc != 0)
            return -1;
        scan_space(scanner);
        if (scanner->at >= scanner->end)
            return -1;
        char c = *scanner->at++;
        if (c == '}')
            return 0;
        if (c != ',')
            return -1;
    }
}

/* "fields": kept as its text when it is compact plain strings, as jansson
 * would write it again; another value is skipped. */
static int scan_fields(struct scanner *scanner, struct ledger_record *record)
{
    struct ledger_text item;
    record->fields.text = NULL;
    record->fields.len = 0;
    scan_space(scanner);
    if (scanner->at >= scanner->end || *scanner->at != '[')
        return scan_value(scanner, 1);
    const char *start = scanner->at++;
    if (scanner->at < scanner->end && *scanner->at == ']') {
        scanner->at++;
    } else {
        for (;;) {
            if (scanner->at >= scanner->end || *scanner->at != '"' ||
                scan_string(scanner, &item) != 0 || scanner->at >= scanner->end)
                return -1;
            char c = *scanner->at++;
            if (c == ']')
                break;
            if (c != ',')
                return -1;
        }
    }
    record->fields.text = start;
    record->fields.len = (size_t)(scanner->at - start);
    return 0;
}

/* The top-level string members the ledger keeps, by name. */
static struct ledger_text *scan_member(struct ledger_record *record, const struct ledger_text *key)
{
    const struct {
        const char *name;
        size_t len;
        struct ledger_text *text;
    } kept[] = {
#define KEPT(member) {#member, sizeof #member - 1, &record->member}
        KEPT(record),
        KEPT(partner),
        KEPT(event_id),
        KEPT(event_type),
        KEPT(outcome),
        KEPT(agreement),
        KEPT(agreement_version),
        KEPT(reason),
        KEPT(person_ref),
        KEPT(cancels_event_id),
        KEPT(supersedes_event_id),
        KEPT(via),
        KEPT(scope),
        KEPT(state),
        KEPT(recorded_by),
        KEPT(actor),
        KEPT(source),
        KEPT(completed_at),
        KEPT(at),
        KEPT(changed_at),
#undef KEPT
    };
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        if (key->len == kept[i].len && memcmp(key->text, kept[i].name, key->len) == 0)
            return kept[i].text;
    return NULL;
}

int ledger_record_scan(const char *text, size_t len, struct ledger_record *record)
{
    struct scanner scanner = {text, text + len};
    struct ledger_text key;
    memset(record, 0, sizeof *record);
    if (scan_char(&scanner, '{') != 0)
        return -1;
    scan_space(&scanner);
    if (scanner.at < scanner.end && *scanner.at == '}') {
        scanner.at++;
    } else {
        for (;;) {
            int rc;
            if (scan_string(&scanner, &key) != 0 || scan_char(&scanner, ':') != 0)
                return -1;
            struct ledger_text *kept = scan_member(record, &key);
            if (SCAN_KEY_IS(&key, "source")) {
                /* "source" is an object in receipts, a string in objection
                 * changes: both are read. */
                struct scanner again = scanner;
                rc = scan_source(&scanner, record);
                if (rc == 0 && !record->has_source) {
                    scanner = again;
                    rc = scan_kept_string(&scanner, kept);
                } else {
                    kept->text = NULL;
                }
            } else if (SCAN_KEY_IS(&key, "fields")) {
                rc = scan_fields(&scanner, record);
            } else if (kept) {
                rc = scan_kept_string(&scanner, kept);
            } else {
                rc = scan_value(&scanner, 1);
            }
            if (rc != 0)
                return -1;
            scan_space(&scanner);
            if (scanner.at >= scanner.end)
                return -1;
            char c = *scanner.at++;
            if (c == '}')
                break;
            if (c != ',')
                return -1;
        }
    }
    scan_space(&scanner);
    return scanner.at == scanner.end ? 0 : -1;
}

/* ---- the general reader ---------------------------------------------------- */

static struct ledger_text parse_text(const json_t *value)
{
    struct ledger_text text = {json_string_value(value), 0};
    if (text.text)
        text.len = json_string_length(value);
    return text;
}

static int parse_tree(struct ledger_record *record)
{
    const json_t *tree = record->tree;
    const struct {
        const char *name;
        struct ledger_text *text;
    } kept[] = {{"record", &record->record},
                {"partner", &record->partner},
                {"event_id", &record->event_id},
                {"event_type", &record->event_type},
                {"outcome", &record->outcome},
                {"agreement", &record->agreement},
                {"agreement_version", &record->agreement_version},
                {"reason", &record->reason},
                {"person_ref", &record->person_ref},
                {"cancels_event_id", &record->cancels_event_id},
                {"supersedes_event_id", &record->supersedes_event_id},
                {"via", &record->via},
                {"scope", &record->scope},
                {"state", &record->state},
                {"recorded_by", &record->recorded_by},
                {"actor", &record->actor},
                {"source", &record->source},
                {"completed_at", &record->completed_at},
                {"at", &record->at},
                {"changed_at", &record->changed_at}};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        *kept[i].text = parse_text(json_object_get(tree, kept[i].name));
    const json_t *source = json_object_get(tree, "source");
    if (json_is_object(source)) {
        record->has_source = 1;
        record->source_topic = parse_text(json_object_get(source, "topic"));
        record->source_partition = json_integer_value(json_object_get(source, "partition"));
        record->source_offset = json_integer_value(json_object_get(source, "offset"));
    }
    const json_t *fields = json_object_get(tree, "fields");
    if (json_is_array(fields)) {
        record->fields_text = json_dumps(fields, JSON_COMPACT);
        if (!record->fields_text)
            return -1;
        record->fields.text = record->fields_text;
        record->fields.len = strlen(record->fields_text);
    }
    return 0;
}

int ledger_record_parse(const char *text, size_t len, struct ledger_record *record)
{
    if (ledger_record_scan(text, len, record) == 0)
        return 0;
    return ledger_record_read_tree(text, len, record);
}

int ledger_record_read_tree(const char *text, size_t len, struct ledger_record *record)
{
    memset(record, 0, sizeof *record);
    json_error_t error;
    record->tree = json_loadb(text, len, 0, &error);
    if (!json_is_object(record->tree) || parse_tree(record) != 0) {
        ledger_record_clear(record);
        return -1;
    }
    return 0;
}

static int ledger_text_equal(struct ledger_text a, struct ledger_text b)
{
    if (!a.text || !b.text)
        return !a.text && !b.text;
    return a.len == b.len && memcmp(a.text, b.text, a.len) == 0;
}

int ledger_record_equal(const struct ledger_record *a, const struct ledger_record *b)
{
    const struct ledger_text *texts_a[] = {&a->record,
                                           &a->partner,
                                           &a->event_id,
                                           &a->event_type,
                                           &a->outcome,
                                           &a->agreement,
                                           &a->agreement_version,
                                           &a->reason,
                                           &a->person_ref,
                                           &a->cancels_event_id,
                                           &a->supersedes_event_id,
                                           &a->via,
                                           &a->scope,
                                           &a->state,
                                           &a->recorded_by,
                                           &a->actor,
                                           &a->source,
                                           &a->completed_at,
                                           &a->at,
                                           &a->changed_at,
                                           &a->fields};
    const struct ledger_text *texts_b[] = {&b->record,
                                           &b->partner,
                                           &b->event_id,
                                           &b->event_type,
                                           &b->outcome,
                                           &b->agreement,
                                           &b->agreement_version,
                                           &b->reason,
                                           &b->person_ref,
                                           &b->cancels_event_id,
                                           &b->supersedes_event_id,
                                           &b->via,
                                           &b->scope,
                                           &b->state,
                                           &b->recorded_by,
                                           &b->actor,
                                           &b->source,
                                           &b->completed_at,
                                           &b->at,
                                           &b->changed_at,
                                           &b->fields};
    for (size_t i = 0; i < sizeof texts_a / sizeof *texts_a; i++)
        if (!ledger_text_equal(*texts_a[i], *texts_b[i]))
            return 0;
    if (a->has_source != b->has_source)
        return 0;
    return !a->has_source ||
           (ledger_text_equal(a->source_topic, b->source_topic) &&
            a->source_partition == b->source_partition && a->source_offset == b->source_offset);
}

void ledger_record_clear(struct ledger_record *record)
{
    json_decref(record->tree);
    free(record->fields_text);
    memset(record, 0, sizeof *record);
}
