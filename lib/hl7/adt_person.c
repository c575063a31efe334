/*
 * adt_person.c - the person of an ADT message (see adt_internal.h): PID-3
 * identifiers (the NHS number checked, the others local identifiers), PID-5
 * name, PID-7 date of birth, PID-11 address, PD1-3 GP practice and PD1-12
 * restricted record, as docs/hl7.md tables them.
 */
#include "hl7/adt_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/nhs.h"

/* PID-3: the NHS number from the configured repetition (or the first one of
 * the configured type and authority); every other repetition becomes a
 * local identifier. */
static int adt_set_identifiers(struct adt_context *context, json_t *person)
{
    const struct config *config = context->config;
    char value[ADT_TEXT_MAX], type[ADT_TEXT_MAX], authority[ADT_TEXT_MAX];
    int count = hl7_repetition_count(context->message, (size_t)context->pid, 3);
    int nhs_repetition = 0;
    json_t *locals = json_array();
    json_object_set_new(person, "local_identifiers", locals);
    json_object_set_new(person, "nhs_number", json_null());
    for (int repetition = 1; repetition <= count; repetition++) {
        if (adt_text(context, context->pid, 3, repetition, 1, 0, value) < 0 ||
            adt_text(context, context->pid, 3, repetition, 5, 0, type) < 0 ||
            adt_text(context, context->pid, 3, repetition, 4, 1, authority) < 0)
            return -1;
        if (value[0] == '\0')
            continue;
        int is_nhs = strcmp(type, config->mllp.nhs_number_type) == 0 &&
                     (!config->mllp.nhs_number_authority[0] ||
                      strcmp(authority, config->mllp.nhs_number_authority) == 0);
        int wanted = config->mllp.nhs_number_repetition == 0
                         ? is_nhs && nhs_repetition == 0
                         : repetition == config->mllp.nhs_number_repetition;
        if (wanted) {
            char why[160];
            if (nhs_number_check(value, why, sizeof why) != 0)
                return adt_fail(context, ADT_ERROR_UNKNOWN_KEY, "PID", 3, repetition, 1,
                                "NHS number (repetition %d) %s", repetition, why);
            nhs_repetition = repetition;
            json_object_set_new(person, "nhs_number", json_string(value));
            continue;
        }
        if (is_nhs)
            continue; /* a second NHS number is no local identifier */
        const char *system = adt_option_lookup(config->mllp.identifier_systems,
                                               config->mllp.identifier_system_count, type);
        char fallback[2 * ADT_TEXT_MAX + 64];
        if (!system) {
            /* Unconfigured types still name their issuer, so partners can
             * tell them apart; docs/hl7.md asks trusts to configure theirs. */
            snprintf(fallback, sizeof fallback, "urn:placehub:hl7v2:pid-3:%s:%s",
                     authority[0] ? authority : "-", type[0] ? type : "-");
            system = fallback;
        }
        json_array_append_new(locals, json_pack("{s:s,s:s}", "system", system, "value", value));
    }
    if (nhs_repetition == 0 && json_array_size(locals) == 0)
        return adt_fail(context, ADT_ERROR_REQUIRED_FIELD, "PID", 3, 1, 1,
                        "no NHS number (identifier type %s) and no other identifier for the "
                        "person",
                        config->mllp.nhs_number_type);
    return 0;
}

static int adt_set_name(struct adt_context *context, json_t *person)
{
    char text[ADT_TEXT_MAX], given[ADT_TEXT_MAX], middle[ADT_TEXT_MAX];
    int count = hl7_repetition_count(context->message, (size_t)context->pid, 5);
    int chosen = 1;
    /* The legal name (type L) where several are sent. */
    for (int repetition = 1; repetition <= count; repetition++) {
        if (adt_text(context, context->pid, 5, repetition, 7, 0, text) < 0)
            return -1;
        if (strcmp(text, "L") == 0) {
            chosen = repetition;
            break;
        }
    }
    if (adt_set_text(context, person, "family_name", context->pid, 5, chosen, 1, 1) != 0 ||
        adt_text(context, context->pid, 5, chosen, 2, 0, given) < 0 ||
        adt_text(context, context->pid, 5, chosen, 3, 0, middle) < 0)
        return -1;
    if (given[0] && middle[0]) {
        char both[2 * ADT_TEXT_MAX];
        snprintf(both, sizeof both, "%s %s", given, middle);
        json_object_set_new(person, "given_name", json_string(both));
    } else if (given[0] || middle[0]) {
        json_object_set_new(person, "given_name", json_string(given[0] ? given : middle));
    } else {
        json_object_set_new(person, "given_name", json_null());
    }
    return 0;
}

/* "sk41ab" or "SK4 1AB" -> "SK4 1AB"; anything that is no UK postcode
 * shape is kept as sent, in capitals. */
static void adt_postcode(const char *text, char *out, size_t out_size)
{
    char compact[16];
    size_t len = 0;
    for (const char *p = text; *p; p++) {
        if (*p == ' ')
            continue;
        if (len + 1 >= sizeof compact || !isalnum((unsigned char)*p)) {
            snprintf(out, out_size, "%s", text);
            for (char *q = out; *q; q++)
                *q = (char)toupper((unsigned char)*q);
            return;
        }
        compact[len++] = (char)toupper((unsigned char)*p);
    }
    compact[len] = '\0';
    if (len >= 5 && len <= 7)
        snprintf(out, out_size, "%.*s %s", (int)(len - 3), compact, compact + len - 3);
    else
        snprintf(out, out_size, "%s", compact);
}

static int adt_set_address(struct adt_context *context, json_t *person)
{
    char text[ADT_TEXT_MAX];
    int count = hl7_repetition_count(context->message, (size_t)context->pid, 11);
    int chosen = 1;
    for (int repetition = 1; repetition <= count; repetition++) {
        if (adt_text(context, context->pid, 11, repetition, 7, 0, text) < 0)
            return -1;
        if (strcmp(text, "H") == 0) {
            chosen = repetition;
            break;
        }
    }
    json_t *lines = json_array();
    json_t *address = json_pack("{s:o,s:n}", "lines", lines, "postcode");
    json_object_set_new(person, "address", address);
    /* XAD 1 (street; its first subcomponent), 2 other designation, 3 city,
     * 4 county. */
    static const int parts[][2] = {{1, 1}, {2, 0}, {3, 0}, {4, 0}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        int len = adt_text(context, context->pid, 11, chosen, parts[i][0], parts[i][1], text);
        if (len < 0)
            return -1;
        if (len > 0)
            json_array_append_new(lines, json_string(text));
    }
    int len = adt_text(context, context->pid, 11, chosen, 5, 0, text);
    if (len < 0)
        return -1;
    if (len > 0) {
        char postcode[ADT_TEXT_MAX];
        adt_postcode(text, postcode, sizeof postcode);
        json_object_set_new(address, "postcode", json_string(postcode));
    }
    if (json_array_size(lines) == 0 && len == 0)
        json_object_set_new(person, "address", json_null());
    return 0;
}

int adt_set_person(struct adt_context *context, json_t *event)
{
    char text[ADT_TEXT_MAX];
    json_t *person = json_object();
    json_object_set_new(event, "person", person);
    if (adt_set_identifiers(context, person) != 0 || adt_set_name(context, person) != 0 ||
        adt_set_date(context, person, "date_of_birth", context->pid, 7) != 0 ||
        adt_set_address(context, person) != 0)
        return -1;
    /* PD1-3 Patient Primary Facility: XON.10 identifier, else XON.3 (v2.4). */
    json_object_set_new(person, "gp_practice_ods_code", json_null());
    for (int component = 10; component >= 3; component -= 7) {
        int len = adt_text(context, context->pd1, 3, 1, component, 0, text);
        if (len < 0)
            return -1;
        if (len > 0) {
            json_object_set_new(person, "gp_practice_ods_code", json_string(text));
            break;
        }
    }
    if (adt_text(context, context->pd1, 12, 1, 1, 0, text) < 0)
        return -1;
    /* PD1-12 Protection Indicator Y: access restricted (e.g. PDS S flag). */
    json_object_set_new(event, "sharing",
                        json_pack("{s:b,s:b}", "objected_to_non_care_sharing", 0,
                                  "restricted_record", strcmp(text, "Y") == 0));
    return 0;
}
