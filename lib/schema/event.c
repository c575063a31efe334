/*
 * event.c - hub-owned fields and checks beyond the schema (see event.h).
 */
#include "schema/event.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <uuid/uuid.h>

#include "core/nhs.h"

static int event_error(struct codec_error *error, const char *field, const char *message)
{
    snprintf(error->field, sizeof error->field, "%s", field);
    snprintf(error->message, sizeof error->message, "%s", message);
    return -1;
}

enum { EVENT_KEY_MATERIAL_SIZE = 512 };
static int event_key_material(const json_t *event, char material[EVENT_KEY_MATERIAL_SIZE]);

/* A version 4 (random) uuid, from a per-thread buffer filled by getrandom
 * 4 KB at a time: one system call per 256 ids instead of one per id. */
static void event_new_id(char text[37])
{
    static _Thread_local unsigned char pool[4096];
    static _Thread_local size_t used = sizeof pool;
    uuid_t raw;
    if (used + sizeof raw > sizeof pool) {
        size_t filled = 0;
        while (filled < sizeof pool) {
            ssize_t got = getrandom(pool + filled, sizeof pool - filled, 0);
            if (got < 0) {
                /* Not expected on Linux 3.17+; libuuid has its own fallbacks. */
                uuid_generate_random(raw);
                uuid_unparse_lower(raw, text);
                return;
            }
            filled += (size_t)got;
        }
        used = 0;
    }
    memcpy(raw, pool + used, sizeof raw);
    explicit_bzero(pool + used, sizeof raw);
    used += sizeof raw;
    raw[6] = (unsigned char)((raw[6] & 0x0f) | 0x40); /* version 4 */
    raw[8] = (unsigned char)((raw[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_unparse_lower(raw, text);
}

int event_prepare(json_t *event, int schema_version, int64_t now_millis, struct codec_error *error)
{
    memset(error, 0, sizeof *error);
    if (!json_is_object(event))
        return event_error(error, "", "the event must be a JSON object");
    json_t *id = json_object_get(event, "event_id");
    if (json_is_string(id) && codec_uuid_valid(json_string_value(id))) {
        /* The codec writes uuids in lower case; answer with the same spelling. */
        char lower[37];
        for (int i = 0; i < 37; i++)
            lower[i] = (char)tolower((unsigned char)json_string_value(id)[i]);
        json_object_set_new(event, "event_id", json_string(lower));
    } else if (!id || json_is_null(id)) {
        char text[37];
        event_new_id(text);
        json_object_set_new(event, "event_id", json_string(text));
    }
    json_t *recorded = json_object_get(event, "recorded_at");
    if (!recorded || json_is_null(recorded)) {
        char text[48];
        codec_timestamp_format(now_millis, text, sizeof text);
        json_object_set_new(event, "recorded_at", json_string(text));
    }
    json_t *version = json_object_get(event, "schema_version");
    if (!version || json_is_null(version))
        json_object_set_new(event, "schema_version", json_integer(schema_version));
    else if (!json_is_integer(version) || json_integer_value(version) != schema_version) {
        char message[128];
        snprintf(message, sizeof message,
                 "must be %d, the version of the schema the event is written with (or be "
                 "left out)",
                 schema_version);
        return event_error(error, "schema_version", message);
    }
    /* A correction (supersedes_event_id, from schema version 2) replaces an
     * earlier event and a cancellation voids one: a recipient could not do
     * both, and an event cannot correct itself. */
    const char *supersedes = json_string_value(json_object_get(event, "supersedes_event_id"));
    if (supersedes && json_string_value(json_object_get(event, "cancels_event_id")))
        return event_error(error, "supersedes_event_id",
                           "must be null when cancels_event_id is set: an event either cancels "
                           "an earlier event or corrects it, not both");
    if (supersedes && event_id(event) && strcasecmp(supersedes, event_id(event)) == 0)
        return event_error(error, "supersedes_event_id",
                           "names the event itself; it must be the event_id of the earlier event "
                           "this one corrects");

    json_t *person = json_object_get(event, "person");
    if (!json_is_object(person))
        return 0; /* the codec reports the missing or mistyped person */
    json_t *nhs_number = json_object_get(person, "nhs_number");
    if (json_is_string(nhs_number)) {
        char message[256];
        if (nhs_number_check(json_string_value(nhs_number), message, sizeof message) != 0)
            return event_error(error, "person.nhs_number", message);
    }
    char material[EVENT_KEY_MATERIAL_SIZE];
    int identified = event_key_material(event, material) == 0;
    explicit_bzero(material, sizeof material);
    if (!identified) {
        json_t *local = json_object_get(person, "local_identifiers");
        if (!nhs_number || json_is_null(nhs_number)) {
            if (json_is_array(local) && json_array_size(local) > 0)
                return 0; /* malformed identifiers: the codec names the field */
            return event_error(error, "person",
                               "needs an nhs_number or at least one entry in local_identifiers "
                               "to say who the event is about");
        }
    }
    return 0;
}

/* The person key's key: set once at start-up, read-only afterwards. */
static unsigned char event_key[256] = EVENT_PERSON_KEY_DEVELOPMENT;
static size_t event_key_len = sizeof EVENT_PERSON_KEY_DEVELOPMENT - 1;
static int event_key_development = 1;

/* HMAC-SHA256 (RFC 2104) with the two keyed hash states computed once per
 * key: SHA-256 over (key XOR ipad) and over (key XOR opad). A person key is
 * then two copies and two short hashes, where OpenSSL's one-shot HMAC()
 * looks the algorithms up and sets the key up again for every event. The
 * states are written only at start-up (event_person_key_set, or the first
 * event_person_key for the development key) and only copied from
 * afterwards, so threads share them. */
enum { EVENT_SHA256_BLOCK = 64 };
static EVP_MD_CTX *event_key_inner, *event_key_outer;
static pthread_once_t event_key_once = PTHREAD_ONCE_INIT;

static void event_key_states_build(void)
{
    unsigned char block[EVENT_SHA256_BLOCK] = {0}, pad[EVENT_SHA256_BLOCK];
    unsigned int len = 0;
    if (event_key_len > sizeof block) /* longer keys are hashed first */
        EVP_Digest(event_key, event_key_len, block, &len, EVP_sha256(), NULL);
    else
        memcpy(block, event_key, event_key_len);
    EVP_MD_CTX *states[2] = {event_key_inner ? event_key_inner : EVP_MD_CTX_new(),
                             event_key_outer ? event_key_outer : EVP_MD_CTX_new()};
    const unsigned char fill[2] = {0x36, 0x5c};
    for (int i = 0; i < 2; i++) {
        for (size_t b = 0; b < sizeof pad; b++)
            pad[b] = block[b] ^ fill[i];
        if (!states[i] || !EVP_DigestInit_ex(states[i], EVP_sha256(), NULL) ||
            !EVP_DigestUpdate(states[i], pad, sizeof pad)) {
            EVP_MD_CTX_free(states[i]);
            states[i] = NULL; /* event_person_key then fails rather than guess */
        }
    }
    event_key_inner = states[0];
    event_key_outer = states[1];
    explicit_bzero(block, sizeof block);
    explicit_bzero(pad, sizeof pad);
}

static void event_key_states_built(void)
{
}

int event_person_key_set(const void *key, size_t len)
{
    if (len < 32 || len > sizeof event_key)
        return -1;
    memcpy(event_key, key, len);
    event_key_len = len;
    event_key_development = 0;
    event_key_states_build();
    /* Built for this key: the first event_person_key must not build again. */
    pthread_once(&event_key_once, event_key_states_built);
    return 0;
}

int event_person_key_is_development(void)
{
    return event_key_development;
}

/* What the person key is made from: "nhs:<number>", or else
 * "local:<system>|<value>" of the first local identifier. */
static int event_key_material(const json_t *event, char material[EVENT_KEY_MATERIAL_SIZE])
{
    const json_t *person = json_object_get(event, "person");
    const char *nhs_number = json_string_value(json_object_get(person, "nhs_number"));
    if (nhs_number) {
        snprintf(material, EVENT_KEY_MATERIAL_SIZE, "nhs:%s", nhs_number);
        return 0;
    }
    const json_t *first = json_array_get(json_object_get(person, "local_identifiers"), 0);
    const char *system = json_string_value(json_object_get(first, "system"));
    const char *value = json_string_value(json_object_get(first, "value"));
    if (!system || !value)
        return -1;
    snprintf(material, EVENT_KEY_MATERIAL_SIZE, "local:%s|%s", system, value);
    return 0;
}

/* The keyed hash of material, as 32 hex digits. 0 or -1. */
static int event_person_key_of(const char *material, char *key, size_t key_size)
{
    if (key_size < 33)
        return -1;
    pthread_once(&event_key_once, event_key_states_build);
    unsigned char inner[EVP_MAX_MD_SIZE], digest[EVP_MAX_MD_SIZE];
    unsigned int inner_len = 0, digest_len = 0;
    EVP_MD_CTX *hash = EVP_MD_CTX_new();
    int ok =
        hash && event_key_inner && event_key_outer && EVP_MD_CTX_copy_ex(hash, event_key_inner) &&
        EVP_DigestUpdate(hash, material, strlen(material)) &&
        EVP_DigestFinal_ex(hash, inner, &inner_len) && EVP_MD_CTX_copy_ex(hash, event_key_outer) &&
        EVP_DigestUpdate(hash, inner, inner_len) && EVP_DigestFinal_ex(hash, digest, &digest_len) &&
        digest_len >= 16;
    EVP_MD_CTX_free(hash);
    explicit_bzero(inner, sizeof inner);
    if (!ok)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        key[2 * i] = hex[digest[i] >> 4];
        key[2 * i + 1] = hex[digest[i] & 15];
    }
    key[32] = '\0';
    return 0;
}

int event_person_key(const json_t *event, char *key, size_t key_size)
{
    char material[EVENT_KEY_MATERIAL_SIZE];
    int rc = -1;
    if (event_key_material(event, material) == 0)
        rc = event_person_key_of(material, key, key_size);
    explicit_bzero(material, sizeof material);
    return rc;
}

int event_person_key_of_nhs_number(const char *nhs_number, char *key, size_t key_size)
{
    char material[EVENT_KEY_MATERIAL_SIZE], reason[8];
    if (nhs_number_check(nhs_number, reason, sizeof reason) != 0)
        return -1;
    /* The same material as event_key_material gives an event carrying it. */
    snprintf(material, sizeof material, "nhs:%s", nhs_number);
    int rc = event_person_key_of(material, key, key_size);
    explicit_bzero(material, sizeof material);
    return rc;
}

const char *event_id(const json_t *event)
{
    return json_string_value(json_object_get(event, "event_id"));
}
