/*
 * template.h - text templates with {placeholders}, as the http connector's
 * url, headers and body_template use them (docs/connectors.md, "http"):
 * "https://api.example/people/{pseudonym}/episodes/{event_id}".
 *
 * Syntax: "{name}" where name is one or more segments of letters, digits,
 * '_' or '-' separated by single dots (a field path: "person.address.postcode");
 * "{{" and "}}" stand for a literal brace. Anything else with a brace (an
 * unclosed "{", a lone "}", "{}", "{a..b}") is refused by template_parse
 * with the position, so a mistake shows at start-up, not at send time.
 *
 * Templates come from the configuration, which is outside input
 * (fuzz_config); parsing reads nothing past the NUL.
 */
#ifndef PLACEHUB_TEMPLATE_H
#define PLACEHUB_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "core/text.h"

/* Longest placeholder name, in bytes. */
#define TEMPLATE_NAME_MAX 128

struct template_part {
    char *text; /* literal text (braces unescaped), or the placeholder's name */
    int is_name;
};

struct template
{
    struct template_part *parts; /* owned; in order */
    size_t count;
};

/* Parses text into *template (zeroed first). Returns 0, or -1 with errstr
 * saying what and where ("'{' at position 12 is never closed; write {{ for
 * a literal brace"); *template is then empty. Free with template_free. */
int template_parse(const char *text, struct template *template, char *errstr, size_t errstr_size);

/* Frees the parts; template may be reused. */
void template_free(struct template *template);

/* 1 when template is one placeholder and nothing else ("{ward}"): in a JSON
 * body it stands for the field's value with its type. */
int template_is_single(const struct template *template);

/* Number of placeholders. */
size_t template_name_count(const struct template *template);

/* Appends template to out: literal parts as they are, each placeholder
 * through value(arg, name, out), which appends the value (encoded as the
 * context needs) and returns 0, or -1 to stop (the value is missing or
 * cannot be written there). Returns 0, or -1 when value did, or out failed. */
int template_render(const struct template *template, struct text *out,
                    int (*value)(void *arg, const char *name, struct text *out), void *arg);

/* Calls each(arg, name, path) for every placeholder in the string values of
 * json (objects and arrays walked; keys are not templates), path saying
 * where ("episode.person"). Stops at the first -1 from each. Returns 0, or
 * -1 with errstr when a string does not parse (prefixed by its path) or
 * each returned -1 (errstr is then each's to fill). */
int template_json_names(const json_t *json,
                        int (*each)(void *arg, const char *name, const char *path), void *arg,
                        char *errstr, size_t errstr_size);

/* A new JSON value from the JSON template node: objects and arrays walked,
 * numbers, booleans and null copied, each string replaced by what
 * string(arg, text, &failed) returns (a new reference; NULL leaves that
 * member or item out). Returns NULL when string set failed or out of memory. */
json_t *template_render_json(const json_t *node,
                             json_t *(*string)(void *arg, const char *text, int *failed),
                             void *arg);

/* A single value as text: a string as it is, a number or true/false
 * written out (into out, at least 32 bytes). NULL for null, a record or a
 * list, which have no single text. Borrowed from value or out. */
const char *template_scalar_text(const json_t *value, char *out, size_t out_size);

/* Appends text percent-encoded (RFC 3986): letters, digits and "-._~" as
 * they are, every other byte as %XX. Right for a URL's path segment or query
 * value and for application/x-www-form-urlencoded. */
void template_append_percent(struct text *out, const char *text);

/* The value at a dotted path of objects in json ("person.pseudonym"), or
 * NULL when some step is missing or not an object. Borrowed from json. */
json_t *template_lookup(const json_t *json, const char *path);

#endif
