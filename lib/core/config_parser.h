/*
 * config_parser.h - internal to lib/core/config*.c: the parser state, the
 * typed readers every section uses, and the section parsers config.c's
 * document walk calls. Nothing outside lib/core/config*.c includes it; the
 * public API is config.h.
 *
 * Every reader returns 0, or -1 with "name:line:column: message" already
 * written to the parser's errstr (config_fail). A key that is absent leaves
 * *out as it was, so callers set defaults first. Strings, lists and options
 * read into struct config are owned by it and freed by config_destroy, also
 * when a later check fails: readers store what they allocated before they
 * can fail again.
 */
#ifndef PLACEHUB_CONFIG_PARSER_H
#define PLACEHUB_CONFIG_PARSER_H

#include <stddef.h>
#include <yaml.h>

#include "core/config.h"

struct config_parser {
    const char *name; /* the file, as messages name it */
    yaml_document_t *document;
    char *errstr;
    size_t errstr_size;
};

/* --- messages ------------------------------------------------------------ */

/* Writes "name:line:column: message" for node (the file's start when node is
 * NULL) and returns -1. */
int config_fail(struct config_parser *parser, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, at a place kept from the document (struct config_value). */
int config_fail_at(struct config_parser *parser, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- nodes --------------------------------------------------------------- */

/* The text of a scalar node, or NULL for any other node (or none). Borrowed. */
const char *config_scalar(const yaml_node_t *node);

/* "a single value", "a list", "a mapping" or "nothing", for messages. */
const char *config_node_kind(const yaml_node_t *node);

/* 0 when node is of type, else -1 with "<where> must be a mapping, found a list". */
int config_expect(struct config_parser *parser, const yaml_node_t *node, yaml_node_type_t type,
                  const char *where);

/* Checks that every key of mapping is one of known (NULL-terminated) and
 * appears once; an unknown key is refused with the nearest known one ("did
 * you mean") or, when none is close, the list of known keys. */
int config_check_keys(struct config_parser *parser, const yaml_node_t *mapping,
                      const char *const *known, const char *where);

/* The value of key name in mapping, or NULL. Borrowed from the document. */
yaml_node_t *config_get(struct config_parser *parser, const yaml_node_t *mapping, const char *name);

/* --- typed readers: mapping.name, named "<where>.<name>" in messages ------ */

/* A single value: *out is replaced (freed first) by a copy. required: it
 * must be present and not empty. */
int config_string(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                  const char *where, int required, char **out);

/* A whole number within [min, max]. */
int config_integer(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                   const char *where, long long min, long long max, long long *out);

/* config_integer for an int. */
int config_int(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
               const char *where, int min, int max, int *out);

/* true or false, into 1 or 0. */
int config_boolean(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                   const char *where, int *out);

/* A mapping of plain key: value pairs (librdkafka properties, connector
 * options, code tables) into a new array in *options; an empty value
 * ("properties:" alone) is no options. */
int config_options(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                   const char *where, struct config_option **options, size_t *count);

/* A list of non-empty single values, none twice, each kept with its place,
 * into a new array in *out. "[]" is an empty list (*out set, *count 0). */
int config_values(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                  const char *where, struct config_value **out, size_t *count);

/* config_values without the places: a new array of copies in *out. */
int config_string_list(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                       const char *where, char ***out, size_t *count);

/* config_options for a partner's connector options: a value may also be a
 * mapping or a list, kept as compact JSON text (structured set): plain
 * scalars that read as JSON numbers, true, false or null keep that type,
 * anything else is a string. Depth and size are bounded. */
int config_partner_options(struct config_parser *parser, const yaml_node_t *mapping,
                           const char *name, const char *where, struct config_option **options,
                           size_t *count);

/* A mapping or list node as new compact JSON text (caller frees), for
 * config_partner_options (config_json.c). NULL with config_fail's message. */
char *config_json_text(struct config_parser *parser, const yaml_node_t *node, const char *where);

/* Refuses a key of mapping seen earlier in it (pair is the later one). */
int config_check_duplicate(struct config_parser *parser, const yaml_node_t *mapping,
                           const yaml_node_pair_t *pair, const char *where);

void config_options_free(struct config_option *options, size_t count);
void config_values_free(struct config_value *values, size_t count);
void config_string_list_free(char **list, size_t count);

/* --- checks shared by several sections ----------------------------------- */

/* 1 when value is one of allowed (NULL-terminated). */
int config_one_of(const char *value, const char *const *allowed);

/* Kafka's own rule for topic names: [a-zA-Z0-9._-]{1,249}. */
int config_topic_name_valid(const char *name);

/* ODS organisation codes: 3-8 capital letters and digits (as placehub-mllp). */
int config_ods_code_valid(const char *text);

/* "env:NAME" or "file:/path" with something after the prefix. */
int config_secret_reference(const char *text);

/* --- the sections, one file each, in the order config.c reads them ------- */

/* config_kafka.c: kafka (with broker security) and schema_registry. */
int config_parse_kafka(struct config_parser *parser, struct config *config,
                       const yaml_node_t *node);
int config_parse_registry(struct config_parser *parser, struct config *config,
                          const yaml_node_t *node);

/* config_dispatch.c: topics, then dispatch (which names topics of its own). */
int config_parse_topics(struct config_parser *parser, struct config *config,
                        const yaml_node_t *node);
int config_parse_dispatch(struct config_parser *parser, struct config *config,
                          const yaml_node_t *node);

/* config_ingest.c: ingest, operations, and a partner's ingest: section (its
 * publishing rights) into a new partner->ingest. */
int config_parse_ingest(struct config_parser *parser, struct config *config,
                        const yaml_node_t *node);
int config_parse_operations(struct config_parser *parser, struct config *config,
                            const yaml_node_t *node);
int config_parse_publisher(struct config_parser *parser, struct config *config,
                           struct config_partner *partner, const yaml_node_t *node,
                           const char *partner_where);
void config_publisher_free(struct config_publisher *publisher);

/* config_mllp.c: mllp; needs the topics (raw_topic must be declared). */
int config_parse_mllp(struct config_parser *parser, struct config *config, const yaml_node_t *node);

/* config_mesh.c: the mesh_inbox: section, and that no two partners give
 * one ingest.mesh_mailbox (after the partners). */
int config_parse_mesh_inbox(struct config_parser *parser, struct config *config,
                            const yaml_node_t *node);
int config_check_mesh_mailboxes(struct config_parser *parser, const struct config *config);

/* config_governance.c: governance, and a partner's agreements (checked
 * against its topics and every agreement read before). */
/* placehub-console's console: section (config_console.c). */
int config_parse_console(struct config_parser *parser, struct config *config,
                         const yaml_node_t *node);
int config_parse_governance(struct config_parser *parser, struct config *config,
                            const yaml_node_t *node);
int config_parse_agreements(struct config_parser *parser, const struct config *config,
                            struct config_partner *partner, const yaml_node_t *node,
                            const char *partner_where);
void config_agreement_free(struct config_agreement *agreement);

/* config_partners.c: partners, last (they refer to topics). */
int config_parse_partners(struct config_parser *parser, struct config *config,
                          const yaml_node_t *node);

#endif
