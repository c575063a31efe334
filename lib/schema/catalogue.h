/*
 * catalogue.h - the embedded schema registry: schemas/catalogue.json lists
 * every published schema version with the id it was given. Ids, once in the
 * catalogue, never change and are never reused; a new version is a new .avsc
 * file appended to the catalogue (see docs/schemas.md).
 */
#ifndef PLACEHUB_CATALOGUE_H
#define PLACEHUB_CATALOGUE_H

#include <stddef.h>
#include "schema/codec.h"

struct catalogue_entry {
    int id;
    char *subject; /* "<topic>-value" (Confluent TopicNameStrategy) */
    char *topic;   /* subject without "-value" */
    int version;
    char *file; /* path as written in catalogue.json, relative to the folder */
    struct codec_schema *schema;
};

struct catalogue {
    char *directory;
    struct catalogue_entry *entries;
    size_t count;
};

/* Loads directory/catalogue.json and compiles every schema it lists. Checks
 * ids are unique and positive, versions of a subject run 1, 2, 3... Returns
 * 0 and a new catalogue (caller frees with catalogue_destroy) or -1 with
 * errstr naming the entry at fault. */
int catalogue_load(const char *directory, struct catalogue **catalogue, char *errstr,
                   size_t errstr_size);

void catalogue_destroy(struct catalogue *catalogue);

/* Lookups; NULL when absent. Borrowed. version -1 means the latest. */
const struct catalogue_entry *catalogue_find_id(const struct catalogue *catalogue, int id);
const struct catalogue_entry *catalogue_find_subject(const struct catalogue *catalogue,
                                                     const char *subject, int version);
const struct catalogue_entry *catalogue_latest_for_topic(const struct catalogue *catalogue,
                                                         const char *topic);

#endif
