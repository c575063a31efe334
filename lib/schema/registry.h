/*
 * registry.h - where the services get schemas and their ids.
 *
 * Embedded mode (the default): the catalogue in schemas/ is the registry.
 * External mode: a Confluent-compatible Schema Registry over REST (Confluent,
 * Apicurio's ccompat API, Karapace, Redpanda). Ingest writes with the latest
 * local schema of a topic (or the earlier version an event names) and asks
 * the registry for its id (registering it when the subject does not have
 * it); dispatch fetches writer schemas by the id in each message and caches
 * them for the life of the process (ids are immutable in every such
 * registry).
 *
 * Thread safe. Schemas returned are borrowed and live as long as the registry.
 */
#ifndef PLACEHUB_REGISTRY_H
#define PLACEHUB_REGISTRY_H

#include <stddef.h>
#include "schema/catalogue.h"
#include "schema/codec.h"
#include "core/config.h"

struct registry;

/* Loads the local catalogue (always: it holds the schemas this hub writes
 * with) and, in external mode, prepares the REST client. Returns 0 or -1
 * with errstr. */
int registry_new(const struct config *config, struct registry **registry, char *errstr,
                 size_t errstr_size);

void registry_destroy(struct registry *registry);

/* The catalogue entry to write topic's events with (*writer: its schema and
 * version, borrowed) and its registry id (*id: the catalogue's id in
 * embedded mode, the external registry's otherwise). version -1 means the
 * topic's latest version, which producers write unless an event names an
 * earlier one. Returns 0; -1 with errstr when the topic has no such version
 * or the external registry cannot be reached. */
int registry_writer(struct registry *registry, const char *topic, int version,
                    const struct catalogue_entry **writer, int *id, char *errstr,
                    size_t errstr_size);

/* registry_reader's answer when the external registry could not say (not
 * reachable, timed out, 5xx, credentials refused): asking again later may
 * work, so the message is not at fault. */
#define REGISTRY_UNAVAILABLE (-2)

/* The schema with this id, to decode a message written with it. Returns 0;
 * -1 with errstr when no such schema exists or it cannot be compiled (the
 * message is at fault); REGISTRY_UNAVAILABLE with errstr when the registry
 * did not answer the question. */
int registry_reader(struct registry *registry, int id, const struct codec_schema **schema,
                    char *errstr, size_t errstr_size);

/* The local catalogue. Borrowed. */
const struct catalogue *registry_catalogue(const struct registry *registry);

#endif
