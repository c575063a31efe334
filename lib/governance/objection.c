/*
 * objection.c - the objection register: scopes, the records of the
 * objections topic, and the in-memory register dispatch judges with (see
 * objection.h and docs/governance.md, "The objection register").
 *
 * The register is a hash table by person_ref of the scopes each person
 * objects in; withdrawn objections are not kept (the topic keeps them, for
 * `show`). Most people have no objection, so judging is one lookup that
 * usually finds nothing. One writer (the feed) takes the write lock per
 * record; readers (one thread per partner) take the read lock.
 *
 * Error messages never echo a value from outside: a sender may have put an
 * NHS number where a scope or a person_ref belongs.
 */
#include "governance/objection.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/codec.h"

#define OBJECTION_PERSON_REF_LEN 32
#define OBJECTION_PARTNER_PREFIX "local:partner:"
#define OBJECTION_VALID_SCOPES                                                                     \
    "national_data_opt_out, local:purpose:secondary_use, local:purpose:direct_care, "              \
    "local:partner:<partner id>"

static const char *const objection_scope_names[] = {
    [OBJECTION_NATIONAL_DATA_OPT_OUT] = "national_data_opt_out",
    [OBJECTION_LOCAL_SECONDARY_USE] = "local:purpose:secondary_use",
    [OBJECTION_LOCAL_DIRECT_CARE] = "local:purpose:direct_care",
};

/* 1-64 lower-case letters, digits, '-' or '_': config_partners.c's rule. */
static int objection_partner_id_valid(const char *id, size_t len)
{
    if (len == 0 || len >= OBJECTION_ID_SIZE)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-_", id[i]) || id[i] == '\0')
            return 0;
    return 1;
}

static int objection_person_ref_valid(const char *ref, size_t len)
{
    if (len != OBJECTION_PERSON_REF_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((ref[i] >= '0' && ref[i] <= '9') || (ref[i] >= 'a' && ref[i] <= 'f')))
            return 0;
    return 1;
}

/* An operator or publisher id: 1-64 letters, digits, '.', '_', '-', '@', ':'. */
static int objection_recorded_by_valid(const char *text)
{
    size_t len = strlen(text);
    return len > 0 && len < OBJECTION_ID_SIZE &&
           strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@:") ==
               len;
}

static int objection_source_valid(const char *text)
{
    if (strcmp(text, "ctl") == 0)
        return 1;
    return strncmp(text, "api:", 4) == 0 && objection_partner_id_valid(text + 4, strlen(text + 4));
}

/* Parses len bytes of text (not NUL-terminated). */
static int objection_scope_parse_n(const char *text, size_t len, const struct config *config,
                                   struct objection_scope *scope, char *errstr, size_t errstr_size)
{
    memset(scope, 0, sizeof *scope);
    for (int kind = OBJECTION_NATIONAL_DATA_OPT_OUT; kind <= OBJECTION_LOCAL_DIRECT_CARE; kind++)
        if (strlen(objection_scope_names[kind]) == len &&
            memcmp(objection_scope_names[kind], text, len) == 0) {
            scope->kind = (enum objection_scope_kind)kind;
            return 0;
        }
    size_t prefix = strlen(OBJECTION_PARTNER_PREFIX);
    if (len <= prefix || memcmp(text, OBJECTION_PARTNER_PREFIX, prefix) != 0) {
        snprintf(errstr, errstr_size, "unknown scope; valid scopes: " OBJECTION_VALID_SCOPES);
        return -1;
    }
    const char *id = text + prefix;
    size_t id_len = len - prefix;
    if (!objection_partner_id_valid(id, id_len)) {
        snprintf(errstr, errstr_size,
                 "scope local:partner:<partner id> needs a partner id (1-64 lower-case letters, "
                 "digits, '-' or '_'); valid scopes: " OBJECTION_VALID_SCOPES);
        return -1;
    }
    scope->kind = OBJECTION_LOCAL_PARTNER;
    memcpy(scope->partner_id, id, id_len);
    scope->partner_id[id_len] = '\0';
    if (config && !config_partner_find(config, scope->partner_id)) {
        int used = snprintf(errstr, errstr_size,
                            "scope local:partner:<partner id> names no configured partner; "
                            "configured partners:");
        for (size_t i = 0; i < config->partner_count && used >= 0 && (size_t)used < errstr_size;
             i++) {
            int w = snprintf(errstr + used, errstr_size - (size_t)used, "%s %s", i ? "," : "",
                             config->partners[i].id);
            used = w < 0 ? -1 : used + w;
        }
        if (config->partner_count == 0 && used >= 0 && (size_t)used < errstr_size)
            snprintf(errstr + used, errstr_size - (size_t)used, " none");
        return -1;
    }
    return 0;
}

int objection_scope_parse(const char *text, const struct config *config,
                          struct objection_scope *scope, char *errstr, size_t errstr_size)
{
    return objection_scope_parse_n(text, strlen(text), config, scope, errstr, errstr_size);
}

int objection_scope_format(const struct objection_scope *scope, char *out, size_t out_size)
{
    int w;
    if (scope->kind == OBJECTION_LOCAL_PARTNER)
        w = snprintf(out, out_size, OBJECTION_PARTNER_PREFIX "%s", scope->partner_id);
    else if (scope->kind >= OBJECTION_NATIONAL_DATA_OPT_OUT &&
             scope->kind <= OBJECTION_LOCAL_DIRECT_CARE)
        w = snprintf(out, out_size, "%s", objection_scope_names[scope->kind]);
    else
        w = -1;
    return w < 0 || (size_t)w >= out_size ? -1 : 0;
}

static int objection_scope_equal(const struct objection_scope *a, const struct objection_scope *b)
{
    return a->kind == b->kind &&
           (a->kind != OBJECTION_LOCAL_PARTNER || strcmp(a->partner_id, b->partner_id) == 0);
}

/* Checks every field of change; names the first at fault. */
static int objection_change_check(const struct objection_change *change, char *scope_text,
                                  char *errstr, size_t errstr_size)
{
    const char *field = NULL;
    const char *why = "";
    if (!objection_person_ref_valid(change->person_ref,
                                    strnlen(change->person_ref, OBJECTION_PERSON_REF_SIZE))) {
        field = "person_ref";
        why = "must be 32 lower-case hexadecimal digits (the person key, never an NHS number)";
    } else if (objection_scope_format(&change->scope, scope_text, OBJECTION_SCOPE_SIZE) != 0 ||
               (change->scope.kind == OBJECTION_LOCAL_PARTNER &&
                !objection_partner_id_valid(change->scope.partner_id,
                                            strlen(change->scope.partner_id)))) {
        field = "scope";
        why = "must be one of " OBJECTION_VALID_SCOPES;
    } else if (change->changed_at < 0 || change->changed_at > 253402300799999LL) {
        field = "changed_at";
        why = "must be a time between 1970 and 9999";
    } else if (!objection_recorded_by_valid(change->recorded_by)) {
        field = "recorded_by";
        why = "must be 1-64 letters, digits, '.', '_', '-', '@' or ':'";
    } else if (!objection_source_valid(change->source)) {
        field = "source";
        why = "must be \"ctl\" or \"api:<publisher id>\"";
    }
    if (!field)
        return 0;
    snprintf(errstr, errstr_size, "%s %s", field, why);
    return -1;
}

char *objection_change_encode(const struct objection_change *change, char *errstr,
                              size_t errstr_size)
{
    char scope[OBJECTION_SCOPE_SIZE];
    char changed_at[32];
    if (objection_change_check(change, scope, errstr, errstr_size) != 0)
        return NULL;
    codec_timestamp_format(change->changed_at, changed_at, sizeof changed_at);
    json_t *value = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "record", "objection", "person_ref",
        change->person_ref, "scope", scope, "state", change->withdrawn ? "withdrawn" : "recorded",
        "changed_at", changed_at, "recorded_by", change->recorded_by, "source", change->source);
    char *text = value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(value);
    if (!text)
        snprintf(errstr, errstr_size, "out of memory");
    return text;
}

/* The string member name of object, copied into out; -1 when absent, not a
 * string or too long. */
static int objection_member(const json_t *object, const char *name, char *out, size_t out_size)
{
    const json_t *member = json_object_get(object, name);
    if (!json_is_string(member) || json_string_length(member) >= out_size ||
        strlen(json_string_value(member)) != json_string_length(member))
        return -1;
    memcpy(out, json_string_value(member), json_string_length(member) + 1);
    return 0;
}

int objection_change_decode(const void *value, size_t len, struct objection_change *change,
                            char *errstr, size_t errstr_size)
{
    json_error_t error;
    char text[OBJECTION_SCOPE_SIZE];
    char message[256];
    const char *field = NULL;
    int rc = -1;
    memset(change, 0, sizeof *change);
    json_t *object = json_loadb(value, len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(object)) {
        snprintf(errstr, errstr_size, "not a JSON object");
        goto out;
    }
    if (objection_member(object, "record", text, sizeof text) != 0 ||
        strcmp(text, "objection") != 0) {
        field = "record";
        goto out;
    }
    if (objection_member(object, "person_ref", change->person_ref, sizeof change->person_ref) !=
            0 ||
        !objection_person_ref_valid(change->person_ref, strlen(change->person_ref))) {
        field = "person_ref";
        goto out;
    }
    if (objection_member(object, "scope", text, sizeof text) != 0 ||
        objection_scope_parse(text, NULL, &change->scope, message, sizeof message) != 0) {
        field = "scope";
        goto out;
    }
    if (objection_member(object, "state", text, sizeof text) != 0 ||
        (strcmp(text, "recorded") != 0 && strcmp(text, "withdrawn") != 0)) {
        field = "state";
        goto out;
    }
    change->withdrawn = strcmp(text, "withdrawn") == 0;
    if (objection_member(object, "changed_at", text, sizeof text) != 0 ||
        codec_timestamp_parse(text, &change->changed_at) != 0) {
        field = "changed_at";
        goto out;
    }
    if (objection_member(object, "recorded_by", change->recorded_by, sizeof change->recorded_by) !=
            0 ||
        !objection_recorded_by_valid(change->recorded_by)) {
        field = "recorded_by";
        goto out;
    }
    if (objection_member(object, "source", change->source, sizeof change->source) != 0 ||
        !objection_source_valid(change->source)) {
        field = "source";
        goto out;
    }
    rc = 0;
out:
    if (field) {
        static const struct {
            const char *field, *expected;
        } expected[] = {
            {"record", "\"objection\""},
            {"person_ref", "32 lower-case hexadecimal digits"},
            {"scope", "one of " OBJECTION_VALID_SCOPES},
            {"state", "\"recorded\" or \"withdrawn\""},
            {"changed_at", "an RFC 3339 time, e.g. \"2026-11-22T10:15:30.123Z\""},
            {"recorded_by", "1-64 letters, digits, '.', '_', '-', '@' or ':'"},
            {"source", "\"ctl\" or \"api:<publisher id>\""},
        };
        const char *what = "";
        for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
            if (strcmp(expected[i].field, field) == 0)
                what = expected[i].expected;
        snprintf(errstr, errstr_size, "%s must be %s", field, what);
    }
    if (rc != 0)
        memset(change, 0, sizeof *change);
    json_decref(object);
    return rc;
}

int objection_change_key(const struct objection_change *change, char *key, size_t key_size)
{
    char scope[OBJECTION_SCOPE_SIZE];
    if (objection_scope_format(&change->scope, scope, sizeof scope) != 0)
        return -1;
    int w = snprintf(key, key_size, "%s|%s", change->person_ref, scope);
    return w < 0 || (size_t)w >= key_size ? -1 : 0;
}

/* --- the register ---------------------------------------------------------- */

struct objection_standing {
    struct objection_scope scope;
    struct objection_standing *next;
};

struct objection_person {
    char person_ref[OBJECTION_PERSON_REF_SIZE];
    struct objection_standing *standing; /* never empty: a person without one is removed */
    struct objection_person *next;
};

struct objection_register {
    pthread_rwlock_t lock;
    struct objection_person **buckets; /* bucket_count, a power of two */
    size_t bucket_count;
    size_t person_count;
    _Atomic int64_t current_ms;
};

/* person_ref is already a keyed hash: its first 16 hexadecimal digits are as
 * good a hash as any. */
static size_t objection_bucket(const struct objection_register *reg, const char *person_ref)
{
    uint64_t hash = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = person_ref[i];
        hash = hash << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return (size_t)(hash & (reg->bucket_count - 1));
}

struct objection_register *objection_register_new(void)
{
    struct objection_register *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->bucket_count = 1024;
    reg->buckets = calloc(reg->bucket_count, sizeof *reg->buckets);
    if (!reg->buckets || pthread_rwlock_init(&reg->lock, NULL) != 0) {
        free(reg->buckets);
        free(reg);
        return NULL;
    }
    atomic_init(&reg->current_ms, 0);
    return reg;
}

static void objection_person_free(struct objection_person *person)
{
    while (person->standing) {
        struct objection_standing *next = person->standing->next;
        free(person->standing);
        person->standing = next;
    }
    free(person);
}

void objection_register_destroy(struct objection_register *reg)
{
    if (!reg)
        return;
    for (size_t b = 0; b < reg->bucket_count; b++)
        while (reg->buckets[b]) {
            struct objection_person *next = reg->buckets[b]->next;
            objection_person_free(reg->buckets[b]);
            reg->buckets[b] = next;
        }
    free(reg->buckets);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

/* Doubles the table when it holds more people than buckets; a failed
 * allocation only leaves it fuller. Under the write lock. */
static void objection_register_grow(struct objection_register *reg)
{
    if (reg->person_count <= reg->bucket_count)
        return;
    size_t old_count = reg->bucket_count;
    struct objection_person **old = reg->buckets;
    struct objection_person **buckets = calloc(old_count * 2, sizeof *buckets);
    if (!buckets)
        return;
    reg->buckets = buckets;
    reg->bucket_count = old_count * 2;
    for (size_t b = 0; b < old_count; b++)
        while (old[b]) {
            struct objection_person *person = old[b];
            old[b] = person->next;
            size_t at = objection_bucket(reg, person->person_ref);
            person->next = buckets[at];
            buckets[at] = person;
        }
    free(old);
}

/* Records (objected 1) or removes (0) one scope of a person. Under the write
 * lock. Returns 0, or -1 when out of memory. */
static int objection_register_set(struct objection_register *reg, const char *person_ref,
                                  const struct objection_scope *scope, int objected)
{
    size_t at = objection_bucket(reg, person_ref);
    struct objection_person **link = &reg->buckets[at];
    while (*link && strcmp((*link)->person_ref, person_ref) != 0)
        link = &(*link)->next;
    struct objection_person *person = *link;
    if (!objected) {
        if (!person)
            return 0;
        struct objection_standing **standing = &person->standing;
        while (*standing && !objection_scope_equal(&(*standing)->scope, scope))
            standing = &(*standing)->next;
        if (*standing) {
            struct objection_standing *gone = *standing;
            *standing = gone->next;
            free(gone);
        }
        if (!person->standing) {
            *link = person->next;
            free(person);
            reg->person_count--;
        }
        return 0;
    }
    if (person)
        for (struct objection_standing *s = person->standing; s; s = s->next)
            if (objection_scope_equal(&s->scope, scope))
                return 0;
    struct objection_standing *standing = calloc(1, sizeof *standing);
    if (!standing)
        return -1;
    standing->scope = *scope;
    if (!person) {
        person = calloc(1, sizeof *person);
        if (!person) {
            free(standing);
            return -1;
        }
        memcpy(person->person_ref, person_ref, OBJECTION_PERSON_REF_SIZE);
        person->next = reg->buckets[at];
        reg->buckets[at] = person;
        reg->person_count++;
    }
    standing->next = person->standing;
    person->standing = standing;
    objection_register_grow(reg);
    return 0;
}

int objection_register_apply(struct objection_register *reg, const void *key, size_t key_len,
                             const void *value, size_t value_len)
{
    char message[256];
    const char *text = key;
    const char *bar = key ? memchr(text, '|', key_len) : NULL;
    if (!bar || !objection_person_ref_valid(text, (size_t)(bar - text)))
        return -1;
    char person_ref[OBJECTION_PERSON_REF_SIZE];
    memcpy(person_ref, text, OBJECTION_PERSON_REF_LEN);
    person_ref[OBJECTION_PERSON_REF_LEN] = '\0';
    struct objection_scope scope;
    if (objection_scope_parse_n(bar + 1, key_len - (size_t)(bar + 1 - text), NULL, &scope, message,
                                sizeof message) != 0)
        return -1;
    int objected = 0;
    if (value) {
        struct objection_change change;
        if (objection_change_decode(value, value_len, &change, message, sizeof message) != 0 ||
            strcmp(change.person_ref, person_ref) != 0 ||
            !objection_scope_equal(&change.scope, &scope))
            return -1;
        objected = !change.withdrawn;
    }
    pthread_rwlock_wrlock(&reg->lock);
    int rc = objection_register_set(reg, person_ref, &scope, objected);
    pthread_rwlock_unlock(&reg->lock);
    return rc;
}

/* 1 when an objection in scope stops a disclosure at partner_id under an
 * agreement that is or is not for direct care. */
static int objection_applies(const struct objection_scope *scope, const char *partner_id,
                             int direct_care)
{
    switch (scope->kind) {
    case OBJECTION_NATIONAL_DATA_OPT_OUT:
    case OBJECTION_LOCAL_SECONDARY_USE:
        return !direct_care;
    case OBJECTION_LOCAL_DIRECT_CARE:
        return direct_care;
    case OBJECTION_LOCAL_PARTNER:
        return partner_id && strcmp(scope->partner_id, partner_id) == 0;
    }
    return 0;
}

int objection_register_judge(struct objection_register *reg, const char *person_ref,
                             size_t person_ref_len, const char *partner_id, int direct_care,
                             char *reason, size_t reason_size)
{
    if (reason_size)
        reason[0] = '\0';
    if (!objection_person_ref_valid(person_ref, person_ref_len))
        return 0;
    char ref[OBJECTION_PERSON_REF_SIZE];
    memcpy(ref, person_ref, OBJECTION_PERSON_REF_LEN);
    ref[OBJECTION_PERSON_REF_LEN] = '\0';
    struct objection_scope found;
    int applies = 0;
    pthread_rwlock_rdlock(&reg->lock);
    const struct objection_person *person = reg->buckets[objection_bucket(reg, ref)];
    while (person && strcmp(person->person_ref, ref) != 0)
        person = person->next;
    for (const struct objection_standing *s = person ? person->standing : NULL; s; s = s->next)
        if (objection_applies(&s->scope, partner_id, direct_care) &&
            (!applies || s->scope.kind < found.kind)) {
            found = s->scope;
            applies = 1;
        }
    pthread_rwlock_unlock(&reg->lock);
    if (applies && reason_size) {
        char scope[OBJECTION_SCOPE_SIZE];
        if (objection_scope_format(&found, scope, sizeof scope) == 0)
            snprintf(reason, reason_size, "objection:%s", scope);
    }
    return applies;
}

int64_t objection_register_current_ms(struct objection_register *reg)
{
    return atomic_load_explicit(&reg->current_ms, memory_order_acquire);
}

void objection_register_set_current_ms(struct objection_register *reg, int64_t current_ms)
{
    int64_t seen = atomic_load_explicit(&reg->current_ms, memory_order_relaxed);
    while (current_ms > seen &&
           !atomic_compare_exchange_weak_explicit(&reg->current_ms, &seen, current_ms,
                                                  memory_order_release, memory_order_relaxed))
        ;
}

size_t objection_register_person_count(struct objection_register *reg)
{
    pthread_rwlock_rdlock(&reg->lock);
    size_t count = reg->person_count;
    pthread_rwlock_unlock(&reg->lock);
    return count;
}
