/*
 * agreement.c - data-sharing agreements, enforced (see agreement.h and
 * docs/governance.md).
 *
 * Field paths are matched as text: a listed path allows itself and
 * everything under it ("person.address" allows "person.address.postcode");
 * a record or array is entered when a listed path lies under it. Paths were
 * checked against the schemas at start-up (agreement_check), so a path that
 * matches nothing here is a field the event does not carry.
 */
#include "governance/agreement.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/secret.h"

enum { AGREEMENT_PATH_MAX = 512 };

int agreement_always_disclosed(const char *field)
{
    static const char *const always[] = {"event_id",
                                         "event_type",
                                         "schema_version",
                                         "occurred_at",
                                         "recorded_at",
                                         "source_ods_code",
                                         "correlation_id",
                                         "cancels_event_id",
                                         "supersedes_event_id",
                                         "sharing",
                                         NULL};
    for (const char *const *name = always; *name; name++)
        if (strcmp(*name, field) == 0)
            return 1;
    return 0;
}

int agreement_covers(const struct config_agreement *agreement, const char *event_type)
{
    for (size_t i = 0; i < agreement->event_type_count; i++)
        if (strcmp(agreement->event_types[i].text, event_type) == 0)
            return 1;
    return 0;
}

/* ---- start-up check against the schemas ------------------------------- */

static void agreement_collect_path(void *opaque, const char *path)
{
    json_object_set_new(opaque, path, json_true());
}

static int agreement_check_fail(char *errstr, size_t errstr_size, const struct config *config,
                                int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int agreement_check_fail(char *errstr, size_t errstr_size, const struct config *config,
                                int line, int column, const char *fmt, ...)
{
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    snprintf(errstr, errstr_size, "%s:%d:%d: %s", config->path, line, column, message);
    return -1;
}

static int agreement_check_one(const struct config *config, const struct catalogue *catalogue,
                               size_t partner_index, size_t agreement_index, char *errstr,
                               size_t errstr_size)
{
    const struct config_agreement *agreement =
        &config->partners[partner_index].agreements[agreement_index];
    char where[96], types[256] = "";
    snprintf(where, sizeof where, "partners[%zu].agreements[%zu]", partner_index, agreement_index);
    json_t *paths = json_object();
    if (!paths) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    size_t used = 0;
    for (size_t t = 0; t < agreement->event_type_count; t++) {
        const struct config_value *type = &agreement->event_types[t];
        int found = 0;
        for (size_t e = 0; e < catalogue->count; e++)
            if (strcmp(catalogue->entries[e].topic, type->text) == 0) {
                codec_schema_paths(catalogue->entries[e].schema, agreement_collect_path, paths);
                found = 1;
            }
        if (!found) {
            json_decref(paths);
            return agreement_check_fail(errstr, errstr_size, config, type->line, type->column,
                                        "%s.event_types: '%s' has no schema in the catalogue "
                                        "(%s): agreements cover event topics only",
                                        where, type->text, catalogue->directory);
        }
        int n = snprintf(types + used, sizeof types - used, "%s%s",
                         t == 0                                 ? ""
                         : t + 1 == agreement->event_type_count ? " or "
                                                                : ", ",
                         type->text);
        if (n > 0 && (size_t)n < sizeof types - used)
            used += (size_t)n;
    }
    for (size_t f = 0; f < agreement->field_count; f++) {
        const struct config_value *field = &agreement->fields[f];
        if (json_object_get(paths, field->text))
            continue;
        const char *nearest = NULL, *path;
        size_t nearest_distance = SIZE_MAX;
        json_t *ignored;
        json_object_foreach(paths, path, ignored)
        {
            size_t d = config_distance(path, field->text);
            if (d < nearest_distance) {
                nearest_distance = d;
                nearest = path;
            }
        }
        char hint[160] = "";
        if (!nearest || nearest_distance > 3) {
            /* A name cut short ("job_start" for "job_start_date"). */
            json_object_foreach(paths, path, ignored)
            {
                if (strncmp(path, field->text, strlen(field->text)) == 0) {
                    nearest = path;
                    nearest_distance = 0;
                    break;
                }
            }
        }
        if (nearest && nearest_distance <= 3)
            snprintf(hint, sizeof hint, "; did you mean '%s'?", nearest);
        else
            snprintf(hint, sizeof hint, " (docs/schemas.md lists the fields)");
        int rc = agreement_check_fail(errstr, errstr_size, config, field->line, field->column,
                                      "%s.fields: '%s' is not a field of %s%s", where, field->text,
                                      types, hint);
        json_decref(paths);
        return rc;
    }
    json_decref(paths);
    return 0;
}

int agreement_check(const struct config *config, const struct catalogue *catalogue, char *errstr,
                    size_t errstr_size)
{
    for (size_t p = 0; p < config->partner_count; p++)
        for (size_t a = 0; a < config->partners[p].agreement_count; a++)
            if (agreement_check_one(config, catalogue, p, a, errstr, errstr_size) != 0)
                return -1;
    return 0;
}

/* ---- rules ---------------------------------------------------------------- */

int agreement_postcode_district(const char *postcode, char *out, size_t out_size)
{
    char compact[16];
    size_t len = 0;
    for (const char *c = postcode; *c; c++) {
        if (*c == ' ')
            continue;
        if (!isalnum((unsigned char)*c) || len + 1 >= sizeof compact)
            return -1;
        compact[len++] = (char)toupper((unsigned char)*c);
    }
    compact[len] = '\0';
    /* The inward code is always a digit and two letters; the outward code
     * (the district) is what is before it: A9, A99, AA9, AA99, A9A, AA9A. */
    if (len < 5 || len > 7 || !isdigit((unsigned char)compact[len - 3]) ||
        !isalpha((unsigned char)compact[len - 2]) || !isalpha((unsigned char)compact[len - 1]))
        return -1;
    size_t outward = len - 3;
    size_t letters = 0;
    while (letters < outward && isalpha((unsigned char)compact[letters]))
        letters++;
    if (letters < 1 || letters > 2 || letters == outward ||
        !isdigit((unsigned char)compact[letters]) || outward - letters > 2)
        return -1;
    if (outward - letters == 2 && !isalnum((unsigned char)compact[letters + 1]))
        return -1;
    if (out_size <= outward)
        return -1;
    memcpy(out, compact, outward);
    out[outward] = '\0';
    return 0;
}

static int agreement_listed(const struct config_value *values, size_t count, const char *text)
{
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(values[i].text, text) == 0)
            return 1;
    return 0;
}

/* NULL when the person is registered with one of the agreement's practices. */
static const char *agreement_gp_refusal(const struct config_agreement *agreement,
                                        const json_t *person)
{
    const char *practice = json_string_value(json_object_get(person, "gp_practice_ods_code"));
    if (!practice || !practice[0])
        return "GP practice not known";
    if (!agreement_listed(agreement->gp_practices, agreement->gp_practice_count, practice))
        return "GP practice not among the agreement's gp_practices";
    return NULL;
}

/* NULL when the person lives in one of the agreement's postcode districts. */
static const char *agreement_area_refusal(const struct config_agreement *agreement,
                                          const json_t *person)
{
    const json_t *address = json_object_get(person, "address");
    const char *postcode = json_string_value(json_object_get(address, "postcode"));
    char district[8];
    if (!postcode || !postcode[0])
        return "postcode not known";
    if (agreement_postcode_district(postcode, district, sizeof district) != 0)
        return "postcode not recognised";
    if (!agreement_listed(agreement->postcode_districts, agreement->postcode_district_count,
                          district))
        return "postcode district not among the agreement's postcode_districts";
    return NULL;
}

const char *agreement_judge(const struct config_agreement *agreement, const json_t *event,
                            char *detail, size_t detail_size)
{
    const json_t *sharing = json_object_get(event, "sharing");
    const json_t *person = json_object_get(event, "person");
    if (json_is_true(json_object_get(sharing, "restricted_record")) &&
        !agreement->restricted_records) {
        snprintf(detail, detail_size,
                 "restricted record; the agreement does not cover restricted records");
        return AGREEMENT_RESTRICTED;
    }
    if (json_is_true(json_object_get(sharing, "objected_to_non_care_sharing")) &&
        !agreement->direct_care) {
        snprintf(detail, detail_size,
                 "the person objected to sharing beyond their care; the agreement is not for "
                 "direct care");
        return AGREEMENT_OBJECTION;
    }
    const char *gp = NULL, *area = NULL;
    int gp_given = agreement->gp_practice_count > 0;
    int area_given = agreement->postcode_district_count > 0;
    if (gp_given)
        gp = agreement_gp_refusal(agreement, person);
    if (area_given)
        area = agreement_area_refusal(agreement, person);
    int refused;
    if (agreement->match_any && gp_given && area_given)
        refused = gp && area;
    else
        refused = gp || area;
    if (!refused)
        return NULL;
    if (gp && area)
        snprintf(detail, detail_size, "%s; %s", gp, area);
    else
        snprintf(detail, detail_size, "%s", gp ? gp : area);
    return AGREEMENT_CONDITION;
}

/* ---- minimisation --------------------------------------------------------- */

/* 1 when path, or a record it lies in, is listed. */
static int agreement_allows(const struct config_agreement *agreement, const char *path)
{
    for (size_t i = 0; i < agreement->field_count; i++) {
        const char *field = agreement->fields[i].text;
        size_t len = strlen(field);
        if (strncmp(field, path, len) == 0 && (path[len] == '\0' || path[len] == '.'))
            return 1;
    }
    return 0;
}

/* 1 when a listed path lies under path. */
static int agreement_leads_under(const struct config_agreement *agreement, const char *path)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < agreement->field_count; i++) {
        const char *field = agreement->fields[i].text;
        if (strncmp(field, path, len) == 0 && field[len] == '.')
            return 1;
    }
    return 0;
}

/* Appends ".key" (or "key" without the dot) to the path of path_len bytes
 * in a buffer of AGREEMENT_PATH_MAX; returns the new length, or SIZE_MAX
 * when it would not fit (the path is left as it was). Done per field of every
 * event, so without snprintf. */
static size_t agreement_path_append(char *path, size_t path_len, int dot, const char *key)
{
    size_t key_len = strlen(key), len = path_len + (dot ? 1 : 0) + key_len;
    if (len >= AGREEMENT_PATH_MAX)
        return SIZE_MAX;
    if (dot)
        path[path_len++] = '.';
    memcpy(path + path_len, key, key_len + 1);
    return len;
}

/* What of value (at path) the agreement allows: a new reference, or NULL
 * when nothing of it may go. *failed is set when out of memory. */
static json_t *agreement_cut(const struct config_agreement *agreement, const json_t *value,
                             char *path, size_t path_len, int *failed)
{
    if (agreement_allows(agreement, path)) {
        json_t *copy = json_deep_copy(value);
        if (!copy)
            *failed = 1;
        return copy;
    }
    if (!agreement_leads_under(agreement, path))
        return NULL;
    if (json_is_null(value))
        return json_null();
    if (json_is_object(value)) {
        json_t *out = json_object();
        const char *key;
        json_t *child;
        if (!out) {
            *failed = 1;
            return NULL;
        }
        json_object_foreach((json_t *)value, key, child)
        {
            size_t len = agreement_path_append(path, path_len, 1, key);
            if (len == SIZE_MAX)
                continue; /* no field path is that long: nothing listed is under it */
            json_t *kept = agreement_cut(agreement, child, path, len, failed);
            path[path_len] = '\0';
            if (kept && json_object_set_new(out, key, kept) != 0)
                *failed = 1;
        }
        return out;
    }
    if (json_is_array(value)) {
        /* The same path names the fields of every item. */
        json_t *out = json_array();
        size_t i;
        json_t *item;
        if (!out) {
            *failed = 1;
            return NULL;
        }
        json_array_foreach(value, i, item)
        {
            if (!json_is_object(item))
                continue;
            json_t *kept = agreement_cut(agreement, item, path, path_len, failed);
            if (kept && json_array_append_new(out, kept) != 0)
                *failed = 1;
        }
        return out;
    }
    return NULL; /* a plain value has nothing under it */
}

json_t *agreement_minimise(const struct config_agreement *agreement, const json_t *event)
{
    json_t *out = json_object();
    const char *key;
    json_t *value;
    int failed = !out;
    char path[AGREEMENT_PATH_MAX];
    if (!json_is_object(event)) {
        json_decref(out);
        return NULL;
    }
    json_object_foreach((json_t *)event, key, value)
    {
        if (failed)
            break;
        json_t *kept;
        if (agreement_always_disclosed(key)) {
            kept = json_deep_copy(value);
            failed |= !kept;
        } else {
            if (strlen(key) >= sizeof path)
                continue;
            snprintf(path, sizeof path, "%s", key);
            kept = agreement_cut(agreement, value, path, strlen(path), &failed);
        }
        if (kept && json_object_set_new(out, key, kept) != 0)
            failed = 1;
    }
    if (failed) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- what was disclosed -------------------------------------------------- */

static void agreement_collect(const json_t *value, char *path, size_t path_len, json_t *set)
{
    if (!value || json_is_null(value))
        return;
    if (json_is_object(value)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)value, key, child)
        {
            size_t len = agreement_path_append(path, path_len, path_len > 0, key);
            if (len == SIZE_MAX)
                continue;
            agreement_collect(child, path, len, set);
            path[path_len] = '\0';
        }
        return;
    }
    if (json_is_array(value)) {
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            if (json_is_object(item) || json_is_array(item))
                agreement_collect(item, path, path_len, set);
            else if (!json_is_null(item) && path_len)
                json_object_set_new(set, path, json_true());
        }
        return;
    }
    if (path_len)
        json_object_set_new(set, path, json_true());
}

static int agreement_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *agreement_fields(const json_t *event)
{
    char path[AGREEMENT_PATH_MAX] = "";
    json_t *set = json_object();
    json_t *out = json_array();
    const char **names = NULL;
    if (!set || !out)
        goto fail;
    agreement_collect(event, path, 0, set);
    size_t count = json_object_size(set), i = 0;
    names = calloc(count ? count : 1, sizeof *names);
    if (!names)
        goto fail;
    const char *key;
    json_t *ignored;
    json_object_foreach(set, key, ignored) names[i++] = key;
    qsort(names, count, sizeof *names, agreement_compare);
    for (i = 0; i < count; i++)
        if (json_array_append_new(out, json_string(names[i])) != 0)
            goto fail;
    free(names);
    json_decref(set);
    return out;
fail:
    free(names);
    json_decref(set);
    json_decref(out);
    return NULL;
}

/* ---- pseudonyms --------------------------------------------------------- */

int agreement_pseudonym(const void *key, size_t key_len, const char *nhs_number, char *out,
                        size_t out_size)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!key || key_len == 0 || key_len > INT32_MAX || out_size < AGREEMENT_PSEUDONYM_SIZE ||
        !HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)nhs_number,
              strlen(nhs_number), mac, &mac_len) ||
        mac_len != 32)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* ---- the decision --------------------------------------------------------- */

void agreement_decision_clear(struct agreement_decision *decision)
{
    json_decref(decision->event);
    json_decref(decision->fields);
    memset(decision, 0, sizeof *decision);
}

int agreement_decide(const struct config_partner *partner, const char *event_type,
                     const void *pseudonym_key, size_t key_len, const json_t *event,
                     struct agreement_decision *decision)
{
    memset(decision, 0, sizeof *decision);
    const struct config_agreement *chosen = NULL;
    char detail[sizeof decision->detail];
    for (size_t i = 0; i < partner->agreement_count && !chosen; i++) {
        const struct config_agreement *agreement = &partner->agreements[i];
        if (!agreement_covers(agreement, event_type))
            continue;
        const char *reason = agreement_judge(agreement, event, detail, sizeof detail);
        if (!reason)
            chosen = agreement;
        else if (!decision->reason) {
            /* The first refusal is the one reported: agreements are tried in
             * the order written, the first is usually the main one. */
            decision->reason = reason;
            decision->agreement = agreement;
            snprintf(decision->detail, sizeof decision->detail, "%s", detail);
        }
    }
    if (!chosen) {
        if (!decision->reason) {
            decision->reason = AGREEMENT_NO_AGREEMENT;
            snprintf(decision->detail, sizeof decision->detail,
                     "no agreement of the partner covers %.64s events", event_type);
        }
        return 0;
    }
    decision->reason = NULL;
    decision->detail[0] = '\0';
    decision->agreement = chosen;
    decision->event = agreement_minimise(chosen, event);
    if (!decision->event)
        goto fail;
    const char *nhs_number =
        json_string_value(json_object_get(json_object_get(event, "person"), "nhs_number"));
    if (chosen->pseudonym_key && pseudonym_key && nhs_number && nhs_number[0]) {
        char pseudonym[AGREEMENT_PSEUDONYM_SIZE];
        json_t *person = json_object_get(decision->event, "person");
        if (agreement_pseudonym(pseudonym_key, key_len, nhs_number, pseudonym, sizeof pseudonym) !=
            0)
            goto fail;
        if (!json_is_object(person)) {
            person = json_object();
            if (!person || json_object_set_new(decision->event, "person", person) != 0)
                goto fail;
        }
        if (json_object_set_new(person, AGREEMENT_PSEUDONYM_FIELD, json_string(pseudonym)) != 0)
            goto fail;
        decision->pseudonymised = 1;
    }
    decision->fields = agreement_fields(decision->event);
    if (!decision->fields)
        goto fail;
    return 0;
fail:
    agreement_decision_clear(decision);
    return -1;
}

int agreement_load_key(const struct config *config, const struct config_partner *partner,
                       unsigned char *key, size_t key_size, size_t *key_len, char *errstr,
                       size_t errstr_size)
{
    const struct config_agreement *named = NULL;
    *key_len = 0;
    for (size_t i = 0; i < partner->agreement_count; i++)
        if (partner->agreements[i].pseudonym_key)
            named = &partner->agreements[i];
    if (!named)
        return 0;
    /* Messages cite the line that names the key: that is what to fix (or
     * the variable it names, to set), not the partner's first line. */
    const char *reference = named->pseudonym_key;
    char secret[1024], problem[256];
    if (secret_read(reference, secret, sizeof secret, problem, sizeof problem) != 0) {
        snprintf(errstr, errstr_size, "%s:%d:%d: partner %s: agreement %s: pseudonym_key: %s",
                 config->path, named->pseudonym_key_line, named->pseudonym_key_column, partner->id,
                 named->id, problem);
        explicit_bzero(secret, sizeof secret);
        return -1;
    }
    size_t len = strlen(secret);
    if (len < AGREEMENT_KEY_MIN || len > key_size) {
        snprintf(errstr, errstr_size,
                 "%s:%d:%d: partner %s: agreement %s: pseudonym_key %s holds %zu bytes; it needs "
                 "%d to %zu (e.g. the output of: openssl rand -hex 32)",
                 config->path, named->pseudonym_key_line, named->pseudonym_key_column, partner->id,
                 named->id, reference, len, AGREEMENT_KEY_MIN, key_size);
        explicit_bzero(secret, sizeof secret);
        return -1;
    }
    memcpy(key, secret, len);
    *key_len = len;
    explicit_bzero(secret, sizeof secret);
    return 0;
}

/* ---- versions -------------------------------------------------------------- */

static void agreement_version_add(EVP_MD_CTX *context, const char *label,
                                  const struct config_value *values, size_t count)
{
    char counted[32];
    /* The count too, so no value can pass for the next list's label. */
    snprintf(counted, sizeof counted, "%zu", count);
    EVP_DigestUpdate(context, label, strlen(label) + 1);
    EVP_DigestUpdate(context, counted, strlen(counted) + 1);
    for (size_t i = 0; i < count; i++)
        EVP_DigestUpdate(context, values[i].text, strlen(values[i].text) + 1);
}

void agreement_version(const struct config_agreement *agreement, char *out, size_t out_size)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    char flags[64];
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (out_size)
        out[0] = '\0';
    if (!context)
        return;
    /* Every value ends in a NUL, every list starts with its label and its
     * length: no two different agreements write the same bytes. */
    snprintf(flags, sizeof flags, "match_any=%d direct_care=%d restricted_records=%d",
             agreement->match_any, agreement->direct_care, agreement->restricted_records);
    if (EVP_DigestInit_ex(context, EVP_sha256(), NULL) == 1) {
        agreement_version_add(context, "event_types", agreement->event_types,
                              agreement->event_type_count);
        agreement_version_add(context, "fields", agreement->fields, agreement->field_count);
        agreement_version_add(context, "gp_practices", agreement->gp_practices,
                              agreement->gp_practice_count);
        agreement_version_add(context, "postcode_districts", agreement->postcode_districts,
                              agreement->postcode_district_count);
        EVP_DigestUpdate(context, flags, strlen(flags) + 1);
        const char *key = agreement->pseudonym_key ? agreement->pseudonym_key : "";
        EVP_DigestUpdate(context, key, strlen(key) + 1);
        if (EVP_DigestFinal_ex(context, digest, &digest_len) != 1)
            digest_len = 0;
    }
    EVP_MD_CTX_free(context);
    for (unsigned i = 0; i < 6 && i < digest_len && 2 * i + 2 < out_size; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
