/*
 * correction.c - what a cancellation or correction carries to a partner
 * that received the original (see correction.h and docs/governance.md,
 * "Corrections follow disclosures").
 */
#include "governance/correction.h"

#include <stdlib.h>
#include <string.h>

enum correction_kind correction_of(const json_t *event, const char **original)
{
    *original = json_string_value(json_object_get(event, "cancels_event_id"));
    if (*original && (*original)[0])
        return CORRECTION_CANCELLATION;
    *original = json_string_value(json_object_get(event, "supersedes_event_id"));
    if (*original && (*original)[0])
        return CORRECTION_REPLACEMENT;
    *original = NULL;
    return CORRECTION_NONE;
}

const char *correction_kind_name(enum correction_kind kind)
{
    switch (kind) {
    case CORRECTION_CANCELLATION:
        return "cancellation";
    case CORRECTION_REPLACEMENT:
        return "correction";
    case CORRECTION_NONE:
        break;
    }
    return NULL;
}

/* 1 when path is prefix or lies under it. */
static int correction_under(const char *path, const char *prefix)
{
    size_t len = strlen(prefix);
    return strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '.');
}

int correction_identifies(const char *path)
{
    /* person.pseudonym (AGREEMENT_PSEUDONYM_FIELD) written out: clang takes
     * a concatenation in an array for a missing comma. */
    static const char *const identifiers[] = {"person.nhs_number",
                                              "person.pseudonym",
                                              "person.local_identifiers",
                                              "encounter_id",
                                              "referral_id",
                                              "programme",
                                              "site_ods_code",
                                              "ward"};
    for (size_t i = 0; i < sizeof identifiers / sizeof *identifiers; i++)
        if (correction_under(path, identifiers[i]))
            return 1;
    return 0;
}

/* Adds person.pseudonym to out. Returns 0, or -1 when out of memory. */
static int correction_pseudonym(const json_t *event, json_t *out, const void *key, size_t key_len,
                                int *added)
{
    const char *nhs_number =
        json_string_value(json_object_get(json_object_get(event, "person"), "nhs_number"));
    char pseudonym[AGREEMENT_PSEUDONYM_SIZE];
    *added = 0;
    if (!key || !nhs_number || !nhs_number[0] ||
        agreement_pseudonym(key, key_len, nhs_number, pseudonym, sizeof pseudonym) != 0)
        return 0; /* no key any more, or no NHS number: no pseudonym */
    json_t *person = json_object_get(out, "person");
    if (!json_is_object(person)) {
        person = json_object();
        if (!person || json_object_set_new(out, "person", person) != 0)
            return -1;
    }
    if (json_object_set_new(person, AGREEMENT_PSEUDONYM_FIELD, json_string(pseudonym)) != 0)
        return -1;
    *added = 1;
    return 0;
}

int correction_cut(enum correction_kind kind, const json_t *event, const char *disclosed,
                   const void *pseudonym_key, size_t key_len, struct agreement_decision *decision)
{
    memset(decision, 0, sizeof *decision);
    json_error_t error;
    json_t *paths = json_loads(disclosed, 0, &error);
    size_t count = json_is_array(paths) ? json_array_size(paths) : 0;
    /* The allow-list of a one-off agreement: what the partner was sent. */
    struct config_agreement allowed = {0};
    allowed.fields = calloc(count ? count : 1, sizeof *allowed.fields);
    int pseudonym = 0, failed = !json_is_array(paths) || !allowed.fields;
    for (size_t i = 0; i < count && !failed; i++) {
        const char *path = json_string_value(json_array_get(paths, i));
        if (!path)
            continue;
        if (strcmp(path, "person." AGREEMENT_PSEUDONYM_FIELD) == 0) {
            pseudonym = 1; /* the hub adds it; the sender's event has none */
            continue;
        }
        if (kind == CORRECTION_CANCELLATION && !correction_identifies(path))
            continue;
        allowed.fields[allowed.field_count++].text = (char *)path;
    }
    if (!failed && !(decision->event = agreement_minimise(&allowed, event)))
        failed = 1;
    if (!failed && pseudonym &&
        correction_pseudonym(event, decision->event, pseudonym_key, key_len,
                             &decision->pseudonymised) != 0)
        failed = 1;
    if (!failed && !(decision->fields = agreement_fields(decision->event)))
        failed = 1;
    free(allowed.fields);
    json_decref(paths);
    if (failed) {
        agreement_decision_clear(decision);
        return -1;
    }
    return 0;
}
