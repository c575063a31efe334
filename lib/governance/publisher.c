/*
 * publisher.c - the publishing partners of placehub-ingest (see
 * publisher.h). Owns the digests read from the hashes files and the token
 * buckets; the rest (names, lists) is borrowed from the config.
 *
 * A hashes file holds one "sha256:<hex>" a line; blank lines and lines
 * starting with '#' are skipped, so operators can note whose key is whose.
 */
#include "governance/publisher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "governance/apikey.h"
#include "governance/ratelimit.h"

struct publisher {
    const struct config_partner *partner;
    unsigned char (*digests)[APIKEY_DIGEST_SIZE];
    size_t digest_count;
    size_t digest_capacity;
    struct ratelimit limit;
};

struct publishers {
    struct publisher *items;
    size_t count;
};

static int publisher_add_digest(struct publisher *publisher, const unsigned char *digest)
{
    if (publisher->digest_count == publisher->digest_capacity) {
        size_t capacity = publisher->digest_capacity ? publisher->digest_capacity * 2 : 4;
        void *grown = realloc(publisher->digests, capacity * sizeof *publisher->digests);
        if (!grown)
            return -1;
        publisher->digests = grown;
        publisher->digest_capacity = capacity;
    }
    memcpy(publisher->digests[publisher->digest_count++], digest, APIKEY_DIGEST_SIZE);
    return 0;
}

static int publisher_read_file(struct publisher *publisher, const struct config *config,
                               char *errstr, size_t errstr_size)
{
    const struct config_publisher *rights = publisher->partner->ingest;
    const char *path = rights->api_key_hashes_file;
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(errstr, errstr_size,
                 "%s:%d: partner %s: api_key_hashes_file %s: %s (placehub-ingest "
                 "--new-api-key makes a key and its hash)",
                 config->path, rights->api_key_hashes_file_line, publisher->partner->id, path,
                 strerror(errno));
        return -1;
    }
    char line[512];
    int number = 0, rc = 0;
    while (fgets(line, sizeof line, file)) {
        number++;
        char *text = line + strspn(line, " \t");
        text[strcspn(text, " \t\r\n")] = '\0';
        if (text[0] == '\0' || text[0] == '#')
            continue;
        unsigned char digest[APIKEY_DIGEST_SIZE];
        if (apikey_parse_hash(text, digest) != 0) {
            /* The line is not echoed: it might be a key pasted by mistake. */
            snprintf(errstr, errstr_size,
                     "%s:%d: not \"sha256:\" and 64 hex digits (the hash of a key, never the "
                     "key itself; partner %s)",
                     path, number, publisher->partner->id);
            rc = -1;
            break;
        }
        if (publisher_add_digest(publisher, digest) != 0) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = -1;
            break;
        }
    }
    fclose(file);
    return rc;
}

int publishers_new(const struct config *config, int64_t now_ms, struct publishers **out,
                   char *errstr, size_t errstr_size)
{
    struct publishers *publishers = calloc(1, sizeof *publishers);
    size_t count = config_publisher_count(config);
    *out = NULL;
    if (!publishers ||
        !(publishers->items = calloc(count ? count : 1, sizeof *publishers->items))) {
        free(publishers);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < config->partner_count; i++) {
        const struct config_partner *partner = &config->partners[i];
        if (!partner->ingest)
            continue;
        struct publisher *publisher = &publishers->items[publishers->count++];
        publisher->partner = partner;
        ratelimit_init(&publisher->limit, partner->ingest->events_per_second,
                       (double)partner->ingest->burst, now_ms);
        for (size_t k = 0; k < partner->ingest->api_key_hash_count; k++) {
            unsigned char digest[APIKEY_DIGEST_SIZE];
            if (apikey_parse_hash(partner->ingest->api_key_hashes[k], digest) != 0 ||
                publisher_add_digest(publisher, digest) != 0) {
                snprintf(errstr, errstr_size, "partner %s: cannot take api_key_hashes[%zu]",
                         partner->id, k);
                goto fail;
            }
        }
        if (partner->ingest->api_key_hashes_file &&
            publisher_read_file(publisher, config, errstr, errstr_size) != 0)
            goto fail;
        /* A partner that sends only through MESH has no key: nothing to
         * authenticate with at placehub-ingest, and none needed. */
        if (publisher->digest_count == 0 && partner->ingest->api_key_hashes_file) {
            snprintf(errstr, errstr_size,
                     "%s:%d: partner %s: its api_key_hashes_file holds no hash, so it could "
                     "never publish",
                     config->path, partner->ingest->line, partner->id);
            goto fail;
        }
    }
    /* One key, one partner: otherwise "as itself" would mean nothing. */
    for (size_t a = 0; a < publishers->count; a++)
        for (size_t b = a + 1; b < publishers->count; b++)
            for (size_t i = 0; i < publishers->items[a].digest_count; i++)
                for (size_t j = 0; j < publishers->items[b].digest_count; j++)
                    if (memcmp(publishers->items[a].digests[i], publishers->items[b].digests[j],
                               APIKEY_DIGEST_SIZE) == 0) {
                        snprintf(errstr, errstr_size,
                                 "%s: partners %s and %s have the same API key hash; each "
                                 "partner needs keys of its own",
                                 config->path, publishers->items[a].partner->id,
                                 publishers->items[b].partner->id);
                        goto fail;
                    }
    *out = publishers;
    return 0;
fail:
    publishers_destroy(publishers);
    return -1;
}

void publishers_destroy(struct publishers *publishers)
{
    if (!publishers)
        return;
    for (size_t i = 0; i < publishers->count; i++) {
        free(publishers->items[i].digests);
        ratelimit_destroy(&publishers->items[i].limit);
    }
    free(publishers->items);
    free(publishers);
}

size_t publishers_count(const struct publishers *publishers)
{
    return publishers->count;
}

struct publisher *publishers_find_mesh_mailbox(struct publishers *publishers, const char *mailbox)
{
    for (size_t i = 0; mailbox && i < publishers->count; i++) {
        const char *own = publishers->items[i].partner->ingest->mesh_mailbox;
        if (own && strcasecmp(own, mailbox) == 0)
            return &publishers->items[i];
    }
    return NULL;
}

struct publisher *publishers_authenticate(struct publishers *publishers, const char *key)
{
    unsigned char digest[APIKEY_DIGEST_SIZE];
    struct publisher *found = NULL;
    if (!apikey_plausible(key))
        return NULL;
    apikey_digest(key, strlen(key), digest);
    for (size_t i = 0; i < publishers->count; i++)
        for (size_t k = 0; k < publishers->items[i].digest_count; k++)
            if (apikey_digest_equal(digest, publishers->items[i].digests[k]))
                found = &publishers->items[i];
    return found;
}

const struct config_partner *publisher_partner(const struct publisher *publisher)
{
    return publisher->partner;
}

static int publisher_listed(char *const *list, size_t count, const char *value)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i], value) == 0)
            return 1;
    return 0;
}

int publisher_may_publish(const struct publisher *publisher, const char *type)
{
    const struct config_publisher *rights = publisher->partner->ingest;
    return publisher_listed(rights->publishes, rights->publish_count, type);
}

int publisher_may_send_as(const struct publisher *publisher, const char *ods_code)
{
    const struct config_publisher *rights = publisher->partner->ingest;
    return ods_code &&
           publisher_listed(rights->source_ods_codes, rights->source_ods_code_count, ods_code);
}

int publisher_may_record_objections(const struct publisher *publisher)
{
    return publisher->partner->ingest->objections ? 1 : 0;
}

int64_t publisher_take(struct publisher *publisher, int64_t now_ms)
{
    return ratelimit_take(&publisher->limit, now_ms);
}

int64_t publisher_take_many(struct publisher *publisher, int count, int64_t now_ms)
{
    return ratelimit_take_many(&publisher->limit, count, now_ms);
}
