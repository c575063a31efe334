/*
 * templates.c - placeholders in a connector's templates checked against the
 * partner's agreements at start-up (see templates.h). The http connector
 * cannot do it itself: a connector sees options, never agreements.
 *
 * Which options are templates is known here for the built-in http
 * connector only: the connector ABI (version 2.0) has no way for a
 * shared-object connector to declare a template option.
 */
#include "delivery/templates.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/template.h"
#include "governance/agreement.h"

extern const struct placehub_connector_type placehub_connector_http;

/* The http connector's options that hold templates, and how: the url is
 * one template; headers and body_template are JSON whose strings are. */
static const struct {
    const char *key;
    int json;
} templates_http[] = {{"url", 0}, {"headers", 1}, {"body_template", 1}};

struct templates_walk {
    const struct config *config;
    const struct config_partner *partner;
    const struct config_option *option;
    char *errstr;
    size_t errstr_size;
};

static int templates_pseudonymised(const struct config_partner *partner)
{
    for (size_t i = 0; i < partner->agreement_count; i++)
        if (partner->agreements[i].pseudonym_key)
            return 1;
    return 0;
}

static int templates_allowed(const struct config_partner *partner, const char *name)
{
    static const char *const well_known[] = {"event_id", "topic", "partner_id"};
    for (size_t i = 0; i < sizeof well_known / sizeof well_known[0]; i++)
        if (strcmp(name, well_known[i]) == 0)
            return 1;
    if (strcmp(name, "pseudonym") == 0 || strcmp(name, "person.pseudonym") == 0)
        return templates_pseudonymised(partner);
    char top[TEMPLATE_NAME_MAX + 1];
    snprintf(top, sizeof top, "%.*s", (int)strcspn(name, "."), name);
    if (agreement_always_disclosed(top))
        return 1;
    size_t len = strlen(name);
    for (size_t i = 0; i < partner->agreement_count; i++) {
        const struct config_agreement *agreement = &partner->agreements[i];
        for (size_t j = 0; j < agreement->field_count; j++) {
            const char *field = agreement->fields[j].text;
            size_t field_len = strlen(field);
            if (strcmp(field, name) == 0 ||
                (len > field_len && strncmp(name, field, field_len) == 0 &&
                 name[field_len] == '.') ||
                (field_len > len && strncmp(field, name, len) == 0 && field[len] == '.'))
                return 1;
        }
    }
    return 0;
}

/* The allowed name nearest to name, when one is near enough to be meant. */
static const char *templates_nearest(const struct config_partner *partner, const char *name)
{
    static const char *const well_known[] = {"event_id", "topic", "partner_id", "pseudonym"};
    const char *nearest = NULL;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < sizeof well_known / sizeof well_known[0]; i++) {
        size_t distance = config_distance(well_known[i], name);
        if (distance < best && templates_allowed(partner, well_known[i])) {
            best = distance;
            nearest = well_known[i];
        }
    }
    for (size_t i = 0; i < partner->agreement_count; i++)
        for (size_t j = 0; j < partner->agreements[i].field_count; j++) {
            size_t distance = config_distance(partner->agreements[i].fields[j].text, name);
            if (distance < best) {
                best = distance;
                nearest = partner->agreements[i].fields[j].text;
            }
        }
    return best <= 3 && best <= strlen(name) / 2 ? nearest : NULL;
}

/* Every field any agreement of partner allows, comma-separated. */
static void templates_fields(const struct config_partner *partner, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < partner->agreement_count; i++)
        for (size_t j = 0; j < partner->agreements[i].field_count && used < out_size; j++) {
            int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "",
                             partner->agreements[i].fields[j].text);
            if (n < 0)
                return;
            used += (size_t)n;
        }
    if (!out[0])
        snprintf(out, out_size, "none");
}

static int templates_name(void *arg, const char *name, const char *path)
{
    struct templates_walk *walk = arg;
    if (templates_allowed(walk->partner, name))
        return 0;
    char fields[512], hint[192] = "";
    templates_fields(walk->partner, fields, sizeof fields);
    const char *nearest = templates_nearest(walk->partner, name);
    if (nearest)
        snprintf(hint, sizeof hint, "did you mean {%s}? ", nearest);
    const int pseudonym = strcmp(name, "pseudonym") == 0 || strcmp(name, "person.pseudonym") == 0;
    snprintf(walk->errstr, walk->errstr_size,
             "%s:%d: partner %s: options.%s%s%s: {%s} is %s; %sthe names a template may use: "
             "%s, the envelope (event_type, occurred_at, correlation_id, ...) and the fields "
             "partner %s's "
             "agreements allow (%s). Add the field to an agreement's fields if the partner may "
             "have it (docs/governance.md), or take it out of the template",
             walk->config->path, walk->option->line, walk->partner->id, walk->option->key,
             path[0] ? "." : "", path, name,
             pseudonym
                 ? "available only when an agreement names a pseudonym_key"
                 : "not a field any of the partner's agreements allows, nor a well-known name",
             hint, TEMPLATES_WELL_KNOWN, walk->partner->id, fields);
    return -1;
}

int templates_check(const struct placehub_connector_type *type, const struct config *config,
                    const struct config_partner *partner, char *errstr, size_t errstr_size)
{
    if (type != &placehub_connector_http)
        return 0;
    struct templates_walk walk = {config, partner, NULL, errstr, errstr_size};
    for (size_t i = 0; i < sizeof templates_http / sizeof templates_http[0]; i++) {
        for (size_t j = 0; j < partner->option_count; j++) {
            if (strcmp(partner->options[j].key, templates_http[i].key) != 0)
                continue;
            walk.option = &partner->options[j];
            char problem[400];
            json_t *json = templates_http[i].json ? json_loads(walk.option->value, 0, NULL)
                                                  : json_string(walk.option->value);
            /* Not JSON, or not a mapping: create() says so, naming the option. */
            int rc = json
                         ? template_json_names(json, templates_name, &walk, problem, sizeof problem)
                         : 0;
            json_decref(json);
            if (rc != 0 && problem[0])
                snprintf(errstr, errstr_size, "%s:%d: partner %s: options.%s%s%s", config->path,
                         walk.option->line, partner->id, walk.option->key,
                         templates_http[i].json ? "." : ": ", problem);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}
