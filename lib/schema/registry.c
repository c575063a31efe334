/*
 * registry.c - schema ids from the embedded catalogue or an external
 * Confluent-compatible registry (see registry.h).
 *
 * The REST calls are rare (once per schema version written, once per unknown
 * id for reading) so they use a plain libcurl easy handle: under the
 * registry's lock for writing, outside it for reading (see
 * registry_reader); the answers are cached for the life of the process.
 */
#include "schema/registry.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct registry_cached {
    int id;
    struct codec_schema *schema; /* owned, external mode only */
};

struct registry_writer_id {
    const struct catalogue_entry *entry; /* borrowed from the catalogue */
    int id;
};

struct registry {
    struct catalogue *catalogue;
    char *url; /* NULL in embedded mode */
    pthread_mutex_t lock;
    struct registry_cached *cached;
    size_t cached_count;
    struct registry_writer_id *writers;
    size_t writer_count;
};

struct registry_body {
    char *data;
    size_t len;
};

enum { REGISTRY_MAX_RESPONSE = 2 * 1024 * 1024 };

/* The error_code of a 404 for an unknown schema id: Confluent's, which
 * Apicurio's ccompat API, Karapace and Redpanda answer too. */
enum { REGISTRY_SCHEMA_NOT_FOUND = 40403 };

static size_t registry_collect(char *data, size_t size, size_t count, void *user)
{
    struct registry_body *body = user;
    size_t n = size * count;
    if (body->len + n > REGISTRY_MAX_RESPONSE)
        return 0; /* abort: no schema answer is this large */
    char *grown = realloc(body->data, body->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + body->len, data, n);
    body->data = grown;
    body->len += n;
    body->data[body->len] = '\0';
    return n;
}

/* One REST call. Returns the HTTP status (and the parsed JSON body in
 * *answer, caller decrefs) or -1 on a transport error, with errstr. */
static long registry_call(const struct registry *registry, const char *method, const char *path,
                          const char *request_body, json_t **answer, char *errstr,
                          size_t errstr_size)
{
    char url[1024];
    struct registry_body body = {NULL, 0};
    struct curl_slist *headers = NULL;
    long status = -1;
    *answer = NULL;
    snprintf(url, sizeof url, "%s%s", registry->url, path);
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(errstr, errstr_size, "cannot create a libcurl handle");
        return -1;
    }
    headers = curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json");
    headers = curl_slist_append(headers, "Accept: application/vnd.schemaregistry.v1+json, "
                                         "application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, registry_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (request_body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request_body);
    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        snprintf(errstr, errstr_size, "schema registry %s: %s", registry->url,
                 curl_easy_strerror(code));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (body.data)
        *answer = json_loadb(body.data, body.len, 0, NULL);
    if (!*answer)
        snprintf(errstr, errstr_size, "schema registry %s%s answered %ld without JSON",
                 registry->url, path, status);
out:
    free(body.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

int registry_new(const struct config *config, struct registry **out, char *errstr,
                 size_t errstr_size)
{
    char directory[1024];
    struct registry *registry = calloc(1, sizeof *registry);
    *out = NULL;
    if (!registry) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    pthread_mutex_init(&registry->lock, NULL);
    if (config_resolve_path(config, config->schema_registry.schemas_dir, directory,
                            sizeof directory) != 0) {
        snprintf(errstr, errstr_size, "schema_registry.schemas_dir is too long");
        goto fail;
    }
    if (catalogue_load(directory, &registry->catalogue, errstr, errstr_size) != 0)
        goto fail;
    if (strcmp(config->schema_registry.mode, "external") == 0) {
        registry->url = strdup(config->schema_registry.url);
        if (!registry->url) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        size_t len = strlen(registry->url);
        if (len && registry->url[len - 1] == '/')
            registry->url[len - 1] = '\0';
    }
    *out = registry;
    return 0;
fail:
    registry_destroy(registry);
    return -1;
}

void registry_destroy(struct registry *registry)
{
    if (!registry)
        return;
    for (size_t i = 0; i < registry->cached_count; i++)
        codec_schema_destroy(registry->cached[i].schema);
    free(registry->cached);
    free(registry->writers);
    catalogue_destroy(registry->catalogue);
    free(registry->url);
    pthread_mutex_destroy(&registry->lock);
    free(registry);
}

const struct catalogue *registry_catalogue(const struct registry *registry)
{
    return registry->catalogue;
}

/* Asks the external registry for the id of entry's schema under its subject,
 * registering it when the subject does not have it yet. Called locked. */
static int registry_external_id(struct registry *registry, const struct catalogue_entry *entry,
                                int *id, char *errstr, size_t errstr_size)
{
    json_t *request = json_pack("{s:s}", "schema", codec_schema_text(entry->schema));
    char *text = request ? json_dumps(request, JSON_COMPACT) : NULL;
    json_t *answer = NULL;
    char path[512];
    int rc = -1;
    json_decref(request);
    if (!text) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(path, sizeof path, "/subjects/%s", entry->subject);
    long status = registry_call(registry, "POST", path, text, &answer, errstr, errstr_size);
    if (status == 404) {
        json_decref(answer);
        answer = NULL;
        snprintf(path, sizeof path, "/subjects/%s/versions", entry->subject);
        status = registry_call(registry, "POST", path, text, &answer, errstr, errstr_size);
        if (status == 200)
            log_info("schema registered subject=%s", entry->subject);
    }
    if (status == 200 && json_is_integer(json_object_get(answer, "id"))) {
        *id = (int)json_integer_value(json_object_get(answer, "id"));
        rc = 0;
    } else if (status >= 0) {
        const char *message = json_string_value(json_object_get(answer, "message"));
        snprintf(errstr, errstr_size, "schema registry refused %s (HTTP %ld): %s", entry->subject,
                 status, message ? message : "no message");
    }
    json_decref(answer);
    free(text);
    return rc;
}

int registry_writer(struct registry *registry, const char *topic, int version,
                    const struct catalogue_entry **writer, int *id, char *errstr,
                    size_t errstr_size)
{
    char subject[256];
    snprintf(subject, sizeof subject, "%s-value", topic);
    const struct catalogue_entry *entry =
        catalogue_find_subject(registry->catalogue, subject, version < 0 ? -1 : version);
    if (!entry) {
        if (version < 0)
            snprintf(errstr, errstr_size, "no schema for topic '%s' in the catalogue", topic);
        else
            snprintf(errstr, errstr_size, "no version %d of topic '%s' in the catalogue", version,
                     topic);
        return -1;
    }
    *writer = entry;
    if (!registry->url) {
        *id = entry->id;
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&registry->lock);
    for (size_t i = 0; i < registry->writer_count; i++)
        if (registry->writers[i].entry == entry) {
            *id = registry->writers[i].id;
            goto out;
        }
    rc = registry_external_id(registry, entry, id, errstr, errstr_size);
    if (rc == 0) {
        struct registry_writer_id *grown =
            realloc(registry->writers, (registry->writer_count + 1) * sizeof *grown);
        if (grown) {
            registry->writers = grown;
            grown[registry->writer_count].entry = entry;
            grown[registry->writer_count].id = *id;
            registry->writer_count++;
        }
    }
out:
    pthread_mutex_unlock(&registry->lock);
    return rc;
}

/* Whether the external registry's schema with this id is cached; sets
 * *schema when it is. The caller holds the lock. */
static int registry_cached_find_locked(struct registry *registry, int id,
                                       const struct codec_schema **schema)
{
    for (size_t i = 0; i < registry->cached_count; i++)
        if (registry->cached[i].id == id) {
            *schema = registry->cached[i].schema;
            return 1;
        }
    return 0;
}

static int registry_cached_find(struct registry *registry, int id,
                                const struct codec_schema **schema)
{
    pthread_mutex_lock(&registry->lock);
    int found = registry_cached_find_locked(registry, id, schema);
    pthread_mutex_unlock(&registry->lock);
    return found;
}

int registry_reader(struct registry *registry, int id, const struct codec_schema **schema,
                    char *errstr, size_t errstr_size)
{
    if (!registry->url) {
        const struct catalogue_entry *entry = catalogue_find_id(registry->catalogue, id);
        if (!entry) {
            snprintf(errstr, errstr_size, "schema id %d is not in the catalogue", id);
            return -1;
        }
        *schema = entry->schema;
        return 0;
    }
    if (registry_cached_find(registry, id, schema))
        return 0;
    /* Asked without the lock: a registry that does not answer holds up only
     * the thread that asks, not every thread reading a cached schema. Two
     * threads may ask for one id at once; the first answer is kept. */
    int rc = -1;
    json_t *answer = NULL;
    struct codec_schema *compiled = NULL;
    char path[64];
    snprintf(path, sizeof path, "/schemas/ids/%d", id);
    long status = registry_call(registry, "GET", path, NULL, &answer, errstr, errstr_size);
    const char *text = json_string_value(json_object_get(answer, "schema"));
    if (status != 200 || !text) {
        /* Only "no such id" is the message's fault; anything else (no
         * answer, 5xx, 401, an answer that is not the registry's JSON) says
         * nothing about it. IMPORTANT: a 404 is "no such id" only with the
         * registry's own error code: one from a proxy or a wrong base path
         * would otherwise dead-letter every message. */
        json_t *code = json_object_get(answer, "error_code");
        int no_such_id = status == 404 && json_is_integer(code) &&
                         json_integer_value(code) == REGISTRY_SCHEMA_NOT_FOUND;
        if (no_such_id)
            snprintf(errstr, errstr_size, "schema registry has no schema id %d (HTTP 404)", id);
        else if (status == 200 && answer)
            snprintf(errstr, errstr_size,
                     "schema registry answered schema id %d without a \"schema\" string", id);
        else if (status >= 0 && answer) /* else registry_call said what went wrong */
            snprintf(errstr, errstr_size, "schema registry answered HTTP %ld for schema id %d",
                     status, id);
        rc = no_such_id ? -1 : REGISTRY_UNAVAILABLE;
        goto out;
    }
    char message[256];
    if (codec_schema_new(text, strlen(text), &compiled, message, sizeof message) != 0) {
        snprintf(errstr, errstr_size, "schema id %d: %s", id, message);
        goto out;
    }
    pthread_mutex_lock(&registry->lock);
    if (registry_cached_find_locked(registry, id, schema)) {
        rc = 0; /* another thread's answer came first */
    } else {
        struct registry_cached *grown =
            realloc(registry->cached, (registry->cached_count + 1) * sizeof *grown);
        if (grown) {
            registry->cached = grown;
            grown[registry->cached_count].id = id;
            grown[registry->cached_count].schema = compiled;
            registry->cached_count++;
            *schema = compiled;
            compiled = NULL;
            rc = 0;
        } else {
            snprintf(errstr, errstr_size, "out of memory");
            rc = REGISTRY_UNAVAILABLE;
        }
    }
    pthread_mutex_unlock(&registry->lock);
out:
    codec_schema_destroy(compiled);
    json_decref(answer);
    return rc;
}
