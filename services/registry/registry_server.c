/*
 * registry_server.c - the read-only Schema Registry REST API over the
 * embedded catalogue (see registry_server.h).
 *
 * Paths served, as Confluent's registry answers them:
 *   GET  /schemas/ids/{id}                 {"schema": "..."}
 *   GET  /schemas/ids/{id}/versions        [{"subject", "version"}]
 *   GET  /schemas/types                    ["AVRO"]
 *   GET  /subjects                         ["admission-value", ...]
 *   GET  /subjects/{subject}/versions      [1, 2, ...]
 *   GET  /subjects/{subject}/versions/{v}  {"subject","version","id","schema"}
 *        ({v} may be "latest"; append /schema for the bare schema)
 *   POST /subjects/{subject}               look a schema up: its id and version
 *   POST /subjects/{subject}/versions      "register": succeeds only for a schema
 *                                          already in the catalogue (idempotent)
 *   GET  /config, GET /mode                BACKWARD, READONLY
 * Errors carry Confluent's error codes (40401 subject not found, 40402
 * version not found, 40403 schema not found, 42205 read-only).
 */
#include "registry_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void registry_server_error(struct httpd_response *response, int status, int code,
                                  const char *message)
{
    httpd_response_json(response, status,
                        json_pack("{s:i,s:s}", "error_code", code, "message", message));
}

static json_t *registry_server_entry_json(const struct catalogue_entry *entry)
{
    return json_pack("{s:s,s:i,s:i,s:s}", "subject", entry->subject, "version", entry->version,
                     "id", entry->id, "schema", codec_schema_text(entry->schema));
}

/* Answers with the bare schema text, as .../schema paths do. */
static void registry_server_schema_text(struct httpd_response *response,
                                        const struct catalogue_entry *entry)
{
    const char *text = codec_schema_text(entry->schema);
    httpd_response_text(response, 200, "application/vnd.schemaregistry.v1+json", text,
                        strlen(text));
}

/* The entry of subject whose schema equals posted (Avro equality: names and
 * types, not docs or formatting), or NULL. */
static const struct catalogue_entry *
registry_server_match(const struct catalogue *catalogue, const char *subject, avro_schema_t posted)
{
    for (size_t i = 0; i < catalogue->count; i++) {
        const struct catalogue_entry *entry = &catalogue->entries[i];
        if (strcmp(entry->subject, subject) == 0 &&
            avro_schema_equal(codec_schema_avro(entry->schema), posted))
            return entry;
    }
    return NULL;
}

/* Parses a positive decimal id or version; -1 when it is not one. */
static int registry_server_number(const char *text, size_t len)
{
    if (len == 0 || len > 9)
        return -1;
    int value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

static int registry_server_subject_known(const struct catalogue *catalogue, const char *subject)
{
    return catalogue_find_subject(catalogue, subject, -1) != NULL;
}

/* The catalogue entry of subject whose schema equals the posted one. */
static const struct catalogue_entry *registry_server_lookup(const struct catalogue *catalogue,
                                                            const char *subject,
                                                            const struct httpd_request *request,
                                                            struct httpd_response *response)
{
    json_t *body = json_loadb(request->body, request->body_len, 0, NULL);
    const char *text = json_string_value(json_object_get(body, "schema"));
    const char *type = json_string_value(json_object_get(body, "schemaType"));
    const struct catalogue_entry *found = NULL;
    avro_schema_t posted = NULL;
    if (!text) {
        registry_server_error(response, 422, 42201,
                              "the body must be {\"schema\": \"<the schema as a string>\"}");
        goto out;
    }
    if (type && strcmp(type, "AVRO") != 0) {
        registry_server_error(response, 422, 42201, "only AVRO schemas are held here");
        goto out;
    }
    if (avro_schema_from_json_length(text, strlen(text), &posted) != 0) {
        registry_server_error(response, 422, 42201, "the schema is not valid Avro");
        goto out;
    }
    if (!registry_server_subject_known(catalogue, subject)) {
        registry_server_error(response, 404, 40401, "Subject not found.");
        goto out;
    }
    found = registry_server_match(catalogue, subject, posted);
    if (!found)
        registry_server_error(response, 404, 40403, "Schema not found.");
out:
    if (posted)
        avro_schema_decref(posted);
    json_decref(body);
    return found;
}

static void registry_server_subject(const struct catalogue *catalogue, const char *rest,
                                    const struct httpd_request *request,
                                    struct httpd_response *response)
{
    char subject[256];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len == 0 || len >= sizeof subject) {
        registry_server_error(response, 404, 40401, "Subject not found.");
        return;
    }
    memcpy(subject, rest, len);
    subject[len] = '\0';
    const char *tail = slash ? slash : "";
    int is_post = strcmp(request->method, "POST") == 0;

    if (is_post && tail[0] == '\0') {
        const struct catalogue_entry *entry =
            registry_server_lookup(catalogue, subject, request, response);
        if (entry)
            httpd_response_json(response, 200, registry_server_entry_json(entry));
        return;
    }
    if (is_post && strcmp(tail, "/versions") == 0) {
        /* Registering a schema the catalogue already holds changes nothing
         * and answers its id, as Confluent does; anything new is refused. */
        json_t *body = json_loadb(request->body, request->body_len, 0, NULL);
        avro_schema_t posted = NULL;
        const char *text = json_string_value(json_object_get(body, "schema"));
        const struct catalogue_entry *found = NULL;
        if (text && avro_schema_from_json_length(text, strlen(text), &posted) == 0)
            found = registry_server_match(catalogue, subject, posted);
        if (posted)
            avro_schema_decref(posted);
        json_decref(body);
        if (found)
            httpd_response_json(response, 200, json_pack("{s:i}", "id", found->id));
        else
            registry_server_error(response, 422, 42205,
                                  "placehub's embedded registry is read-only: add the schema "
                                  "as a file under schemas/ and list it in catalogue.json (see "
                                  "docs/schemas.md)");
        return;
    }
    if (strcmp(request->method, "GET") != 0) {
        registry_server_error(response, 405, 405,
                              "Method not allowed: this registry is "
                              "read-only");
        return;
    }
    if (!registry_server_subject_known(catalogue, subject)) {
        registry_server_error(response, 404, 40401, "Subject not found.");
        return;
    }
    if (strcmp(tail, "/versions") == 0) {
        json_t *versions = json_array();
        for (size_t i = 0; i < catalogue->count; i++)
            if (strcmp(catalogue->entries[i].subject, subject) == 0)
                json_array_append_new(versions, json_integer(catalogue->entries[i].version));
        httpd_response_json(response, 200, versions);
        return;
    }
    static const char versions_prefix[] = "/versions/";
    if (strncmp(tail, versions_prefix, sizeof versions_prefix - 1) == 0) {
        const char *version_text = tail + sizeof versions_prefix - 1;
        const char *after = strchr(version_text, '/');
        size_t version_len = after ? (size_t)(after - version_text) : strlen(version_text);
        int version = version_len == 6 && strncmp(version_text, "latest", 6) == 0
                          ? -1
                          : registry_server_number(version_text, version_len);
        if (version == -1 && !(version_len == 6 && strncmp(version_text, "latest", 6) == 0)) {
            registry_server_error(response, 422, 42202,
                                  "The specified version is not a valid version id.");
            return;
        }
        const struct catalogue_entry *entry = catalogue_find_subject(catalogue, subject, version);
        if (!entry) {
            registry_server_error(response, 404, 40402, "Version not found.");
            return;
        }
        if (!after) {
            httpd_response_json(response, 200, registry_server_entry_json(entry));
        } else if (strcmp(after, "/schema") == 0) {
            registry_server_schema_text(response, entry);
        } else {
            registry_server_error(response, 404, 404, "Not found.");
        }
        return;
    }
    registry_server_error(response, 404, 404, "Not found.");
}

void registry_server_handle(void *context, const struct httpd_request *request,
                            struct httpd_response *response)
{
    const struct catalogue *catalogue = context;
    const char *path = request->path;
    static const char ids_prefix[] = "/schemas/ids/";
    static const char subjects_prefix[] = "/subjects/";

    if (strncmp(path, ids_prefix, sizeof ids_prefix - 1) == 0 &&
        strcmp(request->method, "GET") == 0) {
        const char *rest = path + sizeof ids_prefix - 1;
        const char *slash = strchr(rest, '/');
        int id = registry_server_number(rest, slash ? (size_t)(slash - rest) : strlen(rest));
        const struct catalogue_entry *entry = id > 0 ? catalogue_find_id(catalogue, id) : NULL;
        if (!entry) {
            registry_server_error(response, 404, 40403, "Schema not found.");
        } else if (!slash) {
            httpd_response_json(response, 200,
                                json_pack("{s:s}", "schema", codec_schema_text(entry->schema)));
        } else if (strcmp(slash, "/versions") == 0) {
            httpd_response_json(
                response, 200,
                json_pack("[{s:s,s:i}]", "subject", entry->subject, "version", entry->version));
        } else if (strcmp(slash, "/schema") == 0) {
            registry_server_schema_text(response, entry);
        } else {
            registry_server_error(response, 404, 404, "Not found.");
        }
        return;
    }
    if (strcmp(path, "/subjects") == 0 && strcmp(request->method, "GET") == 0) {
        json_t *subjects = json_array();
        for (size_t i = 0; i < catalogue->count; i++)
            if (catalogue_find_subject(catalogue, catalogue->entries[i].subject, -1) ==
                &catalogue->entries[i])
                json_array_append_new(subjects, json_string(catalogue->entries[i].subject));
        httpd_response_json(response, 200, subjects);
        return;
    }
    if (strncmp(path, subjects_prefix, sizeof subjects_prefix - 1) == 0) {
        registry_server_subject(catalogue, path + sizeof subjects_prefix - 1, request, response);
        return;
    }
    if (strcmp(path, "/schemas/types") == 0) {
        httpd_response_json(response, 200, json_pack("[s]", "AVRO"));
        return;
    }
    if (strcmp(path, "/config") == 0 || strncmp(path, "/config/", 8) == 0) {
        httpd_response_json(response, 200, json_pack("{s:s}", "compatibilityLevel", "BACKWARD"));
        return;
    }
    if (strcmp(path, "/mode") == 0 || strncmp(path, "/mode/", 6) == 0) {
        httpd_response_json(response, 200, json_pack("{s:s}", "mode", "READONLY"));
        return;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/") == 0) {
        httpd_response_json(response, 200, json_object());
        return;
    }
    registry_server_error(response, 404, 404, "Not found.");
}
