/*
 * catalogue.c - loads schemas/catalogue.json and its .avsc files (see
 * catalogue.h). Read once at start-up; immutable afterwards, so threads may
 * share it without locks.
 */
#include "schema/catalogue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *catalogue_read_file(const char *path, size_t *len, char *errstr, size_t errstr_size)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    enum { MAX_SCHEMA_BYTES = 1024 * 1024 };
    char *text = malloc(MAX_SCHEMA_BYTES + 1);
    size_t n = text ? fread(text, 1, MAX_SCHEMA_BYTES + 1, file) : 0;
    fclose(file);
    if (!text || n > MAX_SCHEMA_BYTES) {
        snprintf(errstr, errstr_size, "%s: missing memory or larger than 1 MiB", path);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

int catalogue_load(const char *directory, struct catalogue **out, char *errstr, size_t errstr_size)
{
    char path[1024];
    json_error_t json_error;
    json_t *root = NULL;
    struct catalogue *catalogue = calloc(1, sizeof *catalogue);
    *out = NULL;
    if (!catalogue || !(catalogue->directory = strdup(directory))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/catalogue.json", directory);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &json_error);
    if (!root) {
        snprintf(errstr, errstr_size, "%s:%d:%d: %s", path, json_error.line, json_error.column,
                 json_error.text);
        goto fail;
    }
    json_t *schemas = json_object_get(root, "schemas");
    if (!json_is_array(schemas) || json_array_size(schemas) == 0) {
        snprintf(errstr, errstr_size, "%s: needs a non-empty \"schemas\" list", path);
        goto fail;
    }
    size_t count = json_array_size(schemas);
    catalogue->entries = calloc(count, sizeof *catalogue->entries);
    if (!catalogue->entries) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get(schemas, i);
        struct catalogue_entry *entry = &catalogue->entries[i];
        catalogue->count = i + 1;
        json_t *id = json_object_get(item, "id"), *version = json_object_get(item, "version");
        const char *subject = json_string_value(json_object_get(item, "subject"));
        const char *file = json_string_value(json_object_get(item, "file"));
        if (!json_is_integer(id) || !json_is_integer(version) || !subject || !file) {
            snprintf(errstr, errstr_size,
                     "%s: schemas[%zu] needs integer id and version, and subject and file strings",
                     path, i);
            goto fail;
        }
        entry->id = (int)json_integer_value(id);
        entry->version = (int)json_integer_value(version);
        size_t subject_len = strlen(subject);
        if (entry->id <= 0 || entry->version <= 0 || subject_len <= 6 ||
            strcmp(subject + subject_len - 6, "-value") != 0) {
            snprintf(errstr, errstr_size,
                     "%s: schemas[%zu]: id and version must be positive and the subject "
                     "'<topic>-value'",
                     path, i);
            goto fail;
        }
        entry->subject = strdup(subject);
        entry->topic = strndup(subject, subject_len - 6);
        entry->file = strdup(file);
        if (!entry->subject || !entry->topic || !entry->file) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        for (size_t j = 0; j < i; j++) {
            const struct catalogue_entry *other = &catalogue->entries[j];
            if (other->id == entry->id) {
                snprintf(errstr, errstr_size, "%s: schemas[%zu] reuses id %d", path, i, entry->id);
                goto fail;
            }
        }
        const struct catalogue_entry *previous = NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(catalogue->entries[j].subject, subject) == 0)
                previous = &catalogue->entries[j];
        int expected = previous ? previous->version + 1 : 1;
        if (entry->version != expected) {
            snprintf(errstr, errstr_size, "%s: schemas[%zu]: %s version %d should be %d", path, i,
                     subject, entry->version, expected);
            goto fail;
        }
        char schema_path[1024], message[512];
        size_t len = 0;
        snprintf(schema_path, sizeof schema_path, "%s/%s", directory, file);
        char *text = catalogue_read_file(schema_path, &len, errstr, errstr_size);
        if (!text)
            goto fail;
        int rc = codec_schema_new(text, len, &entry->schema, message, sizeof message);
        free(text);
        if (rc != 0) {
            snprintf(errstr, errstr_size, "%s: %s", schema_path, message);
            goto fail;
        }
    }
    json_decref(root);
    *out = catalogue;
    return 0;
fail:
    json_decref(root);
    catalogue_destroy(catalogue);
    return -1;
}

void catalogue_destroy(struct catalogue *catalogue)
{
    if (!catalogue)
        return;
    for (size_t i = 0; i < catalogue->count; i++) {
        free(catalogue->entries[i].subject);
        free(catalogue->entries[i].topic);
        free(catalogue->entries[i].file);
        codec_schema_destroy(catalogue->entries[i].schema);
    }
    free(catalogue->entries);
    free(catalogue->directory);
    free(catalogue);
}

const struct catalogue_entry *catalogue_find_id(const struct catalogue *catalogue, int id)
{
    for (size_t i = 0; i < catalogue->count; i++)
        if (catalogue->entries[i].id == id)
            return &catalogue->entries[i];
    return NULL;
}

const struct catalogue_entry *catalogue_find_subject(const struct catalogue *catalogue,
                                                     const char *subject, int version)
{
    const struct catalogue_entry *found = NULL;
    for (size_t i = 0; i < catalogue->count; i++) {
        const struct catalogue_entry *entry = &catalogue->entries[i];
        if (strcmp(entry->subject, subject) != 0)
            continue;
        if (version == entry->version)
            return entry;
        if (version < 0 && (!found || entry->version > found->version))
            found = entry;
    }
    return found;
}

const struct catalogue_entry *catalogue_latest_for_topic(const struct catalogue *catalogue,
                                                         const char *topic)
{
    char subject[300];
    snprintf(subject, sizeof subject, "%s-value", topic);
    return catalogue_find_subject(catalogue, subject, -1);
}
