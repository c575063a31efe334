/*
 * config_governance.c - the governance: section (the key of the person
 * keys) and each partner's data-sharing agreements (docs/governance.md):
 * their shape, their conditions, and the references between them (topics
 * the partner subscribes to, ids unique across the hub, one pseudonym key
 * per partner). lib/governance/agreement.c checks the field paths against
 * the schemas and enforces the agreements; this file only reads them.
 */
#include "core/config_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dotted path of snake_case field names: "person.address.postcode". */
static int config_field_path_valid(const char *path)
{
    int previous_dot = 1;
    for (const char *c = path; *c; c++) {
        if (*c == '.') {
            if (previous_dot)
                return 0;
            previous_dot = 1;
        } else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_') {
            previous_dot = 0;
        } else {
            return 0;
        }
    }
    return !previous_dot;
}

/* A UK postcode district (outward code): A9, A99, AA9, AA99, A9A, AA9A. */
static int config_postcode_district_valid(const char *district)
{
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    static const char digits[] = "0123456789";
    size_t len = strlen(district);
    size_t alpha = strspn(district, letters);
    if (len < 2 || len > 4 || alpha < 1 || alpha > 2 || district[alpha] == '\0' ||
        !strchr(digits, district[alpha]))
        return 0;
    const char *rest = district + alpha + 1;
    return strlen(rest) <= 1 && strspn(rest, letters) + strspn(rest, digits) >= strlen(rest);
}

static int config_agreement_id_valid(const char *id)
{
    size_t len = strlen(id);
    return len > 0 && len <= 64 && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == len;
}

static int config_parse_conditions(struct config_parser *parser, struct config_agreement *agreement,
                                   const yaml_node_t *node, const char *where)
{
    static const char *const known[] = {"gp_practices", "postcode_districts", "match", NULL};
    char label[160];
    snprintf(label, sizeof label, "%s.conditions", where);
    if (node->type == YAML_SCALAR_NODE && config_scalar(node)[0] == '\0')
        return 0; /* "conditions:" with nothing after it */
    char *match = NULL;
    if (config_expect(parser, node, YAML_MAPPING_NODE, label) != 0 ||
        config_check_keys(parser, node, known, label) != 0 ||
        config_values(parser, node, "gp_practices", label, &agreement->gp_practices,
                      &agreement->gp_practice_count) != 0 ||
        config_values(parser, node, "postcode_districts", label, &agreement->postcode_districts,
                      &agreement->postcode_district_count) != 0 ||
        config_string(parser, node, "match", label, 0, &match) != 0) {
        free(match);
        return -1;
    }
    static const char *const lists[] = {"gp_practices", "postcode_districts"};
    for (size_t i = 0; i < 2; i++) {
        yaml_node_t *list = config_get(parser, node, lists[i]);
        if (list && list->data.sequence.items.top == list->data.sequence.items.start) {
            free(match);
            return config_fail(parser, list,
                               "%s.%s is empty, which no one would match: name at least one, or "
                               "leave the condition out",
                               label, lists[i]);
        }
    }
    for (size_t i = 0; i < agreement->gp_practice_count; i++) {
        const struct config_value *code = &agreement->gp_practices[i];
        if (!config_ods_code_valid(code->text)) {
            free(match);
            return config_fail_at(parser, code->line, code->column,
                                  "%s.gp_practices: '%s' is not an ODS code (3 to 8 capital "
                                  "letters and digits, e.g. P99001)",
                                  label, code->text);
        }
    }
    for (size_t i = 0; i < agreement->postcode_district_count; i++) {
        const struct config_value *district = &agreement->postcode_districts[i];
        if (!config_postcode_district_valid(district->text)) {
            free(match);
            return config_fail_at(parser, district->line, district->column,
                                  "%s.postcode_districts: '%s' is not a postcode district (the "
                                  "outward code in capitals, e.g. SK4 or M20)",
                                  label, district->text);
        }
    }
    if (match) {
        int any = strcmp(match, "any") == 0;
        if (!any && strcmp(match, "all") != 0) {
            int rc = config_fail(parser, config_get(parser, node, "match"),
                                 "%s.match must be 'all' (every condition given must hold) or "
                                 "'any' (one is enough), found '%s'",
                                 label, match);
            free(match);
            return rc;
        }
        agreement->match_any = any;
        free(match);
    }
    return 0;
}

/* 1 when path is field or lies under it ("person" covers "person.nhs_number"). */
static int config_path_covers(const char *field, const char *path)
{
    size_t len = strlen(field);
    return strncmp(field, path, len) == 0 && (path[len] == '\0' || path[len] == '.');
}

/* The agreement's own keys, read as written. */
static int config_agreement_read(struct config_parser *parser, struct config_agreement *agreement,
                                 const yaml_node_t *item, const char *where)
{
    static const char *const known[] = {
        "id",         "purpose",     "legal_basis",        "event_types",   "fields",
        "conditions", "direct_care", "restricted_records", "pseudonym_key", NULL};
    if (config_expect(parser, item, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, item, known, where) != 0 ||
        config_string(parser, item, "id", where, 1, &agreement->id) != 0 ||
        config_string(parser, item, "purpose", where, 1, &agreement->purpose) != 0 ||
        config_string(parser, item, "legal_basis", where, 1, &agreement->legal_basis) != 0 ||
        config_values(parser, item, "event_types", where, &agreement->event_types,
                      &agreement->event_type_count) != 0 ||
        config_values(parser, item, "fields", where, &agreement->fields, &agreement->field_count) !=
            0 ||
        config_boolean(parser, item, "direct_care", where, &agreement->direct_care) != 0 ||
        config_boolean(parser, item, "restricted_records", where, &agreement->restricted_records) !=
            0)
        return -1;
    return 0;
}

/* Audit records name an agreement by its id: well formed, and unique across
 * every partner read so far (this one's earlier agreements included). */
static int config_agreement_check_id(struct config_parser *parser, const struct config *config,
                                     const struct config_agreement *agreement,
                                     const yaml_node_t *item)
{
    if (!config_agreement_id_valid(agreement->id))
        return config_fail(parser, config_get(parser, item, "id"),
                           "agreement id '%s' must be 1-64 lower-case letters, digits, '.', "
                           "'-' or '_' (audit records name it)",
                           agreement->id);
    for (size_t p = 0; p < config->partner_count; p++) {
        const struct config_partner *other = &config->partners[p];
        for (size_t a = 0; a < other->agreement_count; a++) {
            const struct config_agreement *earlier = &other->agreements[a];
            if (earlier != agreement && earlier->id && strcmp(earlier->id, agreement->id) == 0)
                return config_fail(parser, config_get(parser, item, "id"),
                                   "agreement id '%s' is used twice (first on line %d): audit "
                                   "records must name one agreement",
                                   agreement->id, earlier->line);
        }
    }
    return 0;
}

/* What it covers: some of the partner's own topics. */
static int config_agreement_check_event_types(struct config_parser *parser,
                                              const struct config_partner *partner,
                                              const struct config_agreement *agreement,
                                              const yaml_node_t *item, const char *where)
{
    yaml_node_t *types = config_get(parser, item, "event_types");
    if (!types || agreement->event_type_count == 0)
        return config_fail(parser, types ? types : item,
                           "%s needs 'event_types': the partner's topics it covers, e.g. "
                           "[admission, discharge]",
                           where);
    for (size_t k = 0; k < agreement->event_type_count; k++) {
        const struct config_value *type = &agreement->event_types[k];
        int subscribed = 0;
        for (size_t t = 0; t < partner->topic_count && !subscribed; t++)
            subscribed = strcmp(partner->topics[t], type->text) == 0;
        if (subscribed)
            continue;
        char topics[256] = "";
        size_t used = 0;
        for (size_t t = 0; t < partner->topic_count && used < sizeof topics; t++) {
            int w = snprintf(topics + used, sizeof topics - used, "%s%s", t ? ", " : "",
                             partner->topics[t]);
            if (w > 0)
                used += (size_t)w;
        }
        return config_fail_at(parser, type->line, type->column,
                              "%s.event_types names '%s', which %s does not subscribe to "
                              "(its topics: %s); add it to the partner's topics or "
                              "remove it here",
                              where, type->text, partner->id, topics);
    }
    return 0;
}

/* The allow-list must be there ([] for the envelope only) and hold paths. */
static int config_agreement_check_fields(struct config_parser *parser,
                                         const struct config_agreement *agreement,
                                         const yaml_node_t *item, const char *where)
{
    if (!config_get(parser, item, "fields"))
        return config_fail(parser, item,
                           "%s needs 'fields': the allow-list of field paths the partner may "
                           "receive, e.g. [person.nhs_number, ward] ([] for the envelope "
                           "only)",
                           where);
    for (size_t k = 0; k < agreement->field_count; k++) {
        const struct config_value *field = &agreement->fields[k];
        if (!config_field_path_valid(field->text))
            return config_fail_at(parser, field->line, field->column,
                                  "%s.fields: '%s' is not a field path (snake_case names "
                                  "joined by dots, e.g. person.address.postcode)",
                                  where, field->text);
    }
    return 0;
}

/* A pseudonym key, like every secret, is named, never written here; it adds
 * nothing beside the NHS number, and a partner has one for all its
 * agreements (the first index of them are read already). */
static int config_agreement_parse_pseudonym_key(struct config_parser *parser,
                                                struct config_partner *partner, size_t index,
                                                const yaml_node_t *item, const char *where)
{
    struct config_agreement *agreement = &partner->agreements[index];
    yaml_node_t *key = config_get(parser, item, "pseudonym_key");
    if (!key)
        return 0;
    char key_label[160];
    snprintf(key_label, sizeof key_label, "%s.pseudonym_key", where);
    if (config_expect(parser, key, YAML_SCALAR_NODE, key_label) != 0)
        return -1;
    if (!config_secret_reference(config_scalar(key)))
        return config_fail(parser, key,
                           "%s must name the key as env:VARIABLE or file:/path; a key is "
                           "never written in the configuration itself",
                           key_label);
    agreement->pseudonym_key = strdup(config_scalar(key));
    agreement->pseudonym_key_line = (int)key->start_mark.line + 1;
    agreement->pseudonym_key_column = (int)key->start_mark.column + 1;
    if (!agreement->pseudonym_key)
        return config_fail(parser, key, "out of memory");
    for (size_t k = 0; k < agreement->field_count; k++)
        if (config_path_covers(agreement->fields[k].text, "person.nhs_number"))
            return config_fail(parser, key,
                               "%s: the agreement discloses the NHS number (fields names "
                               "'%s'), so a pseudonym adds nothing: remove one of them",
                               key_label, agreement->fields[k].text);
    /* One key per partner, so its pseudonyms are the same under every
     * agreement. */
    for (size_t a = 0; a < index; a++) {
        const char *earlier = partner->agreements[a].pseudonym_key;
        if (earlier && strcmp(earlier, agreement->pseudonym_key) != 0)
            return config_fail(parser, key,
                               "%s: %s's agreements must share one pseudonym key (line "
                               "%d names another), so a person's pseudonym is the same "
                               "under each",
                               key_label, partner->id, partner->agreements[a].line);
    }
    return 0;
}

int config_parse_agreements(struct config_parser *parser, const struct config *config,
                            struct config_partner *partner, const yaml_node_t *node,
                            const char *partner_where)
{
    char label[96];
    snprintf(label, sizeof label, "%s.agreements", partner_where);
    if (config_expect(parser, node, YAML_SEQUENCE_NODE, label) != 0)
        return -1;
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    partner->agreements = calloc(n ? n : 1, sizeof *partner->agreements);
    if (!partner->agreements)
        return config_fail(parser, node, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item =
            yaml_document_get_node(parser->document, node->data.sequence.items.start[i]);
        struct config_agreement *agreement = &partner->agreements[i];
        /* Counted before it is read, so config_destroy frees what was. */
        partner->agreement_count = i + 1;
        agreement->line = (int)item->start_mark.line + 1;
        agreement->column = (int)item->start_mark.column + 1;
        char where[128];
        snprintf(where, sizeof where, "%s[%zu]", label, i);
        if (config_agreement_read(parser, agreement, item, where) != 0 ||
            config_agreement_check_id(parser, config, agreement, item) != 0 ||
            config_agreement_check_event_types(parser, partner, agreement, item, where) != 0 ||
            config_agreement_check_fields(parser, agreement, item, where) != 0)
            return -1;
        yaml_node_t *conditions = config_get(parser, item, "conditions");
        if (conditions && config_parse_conditions(parser, agreement, conditions, where) != 0)
            return -1;
        if (config_agreement_parse_pseudonym_key(parser, partner, i, item, where) != 0)
            return -1;
    }
    return 0;
}

int config_parse_governance(struct config_parser *parser, struct config *config,
                            const yaml_node_t *node)
{
    static const char *const known[] = {"person_key", "objections_topic", "ledger", NULL};
    const char *where = "governance";
    /* "governance:" with only comments under it (null, as YAML writers
     * spell an empty section). */
    if (node->type == YAML_SCALAR_NODE &&
        (strcmp(config_scalar(node), "") == 0 || strcmp(config_scalar(node), "null") == 0 ||
         strcmp(config_scalar(node), "~") == 0))
        return 0;
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "person_key", where, 0, &config->governance.person_key) != 0 ||
        config_string(parser, node, "objections_topic", where, 0,
                      &config->governance.objections_topic) != 0 ||
        config_string(parser, node, "ledger", where, 0, &config->governance.ledger) != 0)
        return -1;
    if (config->governance.person_key && !config_secret_reference(config->governance.person_key))
        return config_fail(parser, config_get(parser, node, "person_key"),
                           "governance.person_key must name the key as env:VARIABLE or "
                           "file:/path; a key is never written in the configuration itself");
    /* The hub's own compacted topic: never one of the event topics, whose
     * records would then be read as objections (and compacted away). */
    const yaml_node_t *objections = config_get(parser, node, "objections_topic");
    if (!config_topic_name_valid(config->governance.objections_topic))
        return config_fail(parser, objections ? objections : node,
                           "governance.objections_topic must be a valid Kafka topic name "
                           "(letters, digits, '.', '_', '-')");
    const char *objections_topic = config->governance.objections_topic;
    if (config_topic_find(config, objections_topic) ||
        strcmp(objections_topic, config->dispatch.audit_topic) == 0 ||
        strcmp(objections_topic, config->dispatch.dead_letter_topic) == 0)
        return config_fail(parser, objections ? objections : node,
                           "governance.objections_topic '%s' is already the name of another "
                           "topic; it is the hub's own compacted topic, created by the hub: give "
                           "it a name of its own",
                           objections_topic);
    return 0;
}

void config_agreement_free(struct config_agreement *agreement)
{
    free(agreement->id);
    free(agreement->purpose);
    free(agreement->legal_basis);
    config_values_free(agreement->event_types, agreement->event_type_count);
    config_values_free(agreement->fields, agreement->field_count);
    config_values_free(agreement->gp_practices, agreement->gp_practice_count);
    config_values_free(agreement->postcode_districts, agreement->postcode_district_count);
    free(agreement->pseudonym_key);
}
