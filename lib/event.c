/*
 * event.c - hub-owned fields and checks beyond the schema (see event.h).
 */
#include "event.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "nhs.h"

static int event_error(struct codec_error *error, const char *field, const char *message)
{
    snprintf(error->field, sizeof error->field, "%s", field);
    snprintf(error->message, sizeof error->message, "%s", message);
    return -1;
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
        uuid_t raw;
        char text[37];
        uuid_generate_random(raw);
        uuid_unparse_lower(raw, text);
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
                 "must be %d, the schema version this endpoint accepts (or be left out)",
                 schema_version);
        return event_error(error, "schema_version", message);
    }

    json_t *person = json_object_get(event, "person");
    if (!json_is_object(person))
        return 0; /* the codec reports the missing or mistyped person */
    json_t *nhs_number = json_object_get(person, "nhs_number");
    if (json_is_string(nhs_number)) {
        char message[256];
        if (nhs_number_check(json_string_value(nhs_number), message, sizeof message) != 0)
            return event_error(error, "person.nhs_number", message);
    }
    char key[65];
    if (event_person_key(event, key, sizeof key) != 0) {
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

int event_person_key_set(const void *key, size_t len)
{
    if (len < 32 || len > sizeof event_key)
        return -1;
    memcpy(event_key, key, len);
    event_key_len = len;
    event_key_development = 0;
    return 0;
}

int event_person_key_is_development(void)
{
    return event_key_development;
}

int event_person_key(const json_t *event, char *key, size_t key_size)
{
    const json_t *person = json_object_get(event, "person");
    const char *nhs_number = json_string_value(json_object_get(person, "nhs_number"));
    char material[512];
    if (nhs_number) {
        snprintf(material, sizeof material, "nhs:%s", nhs_number);
    } else {
        const json_t *first = json_array_get(json_object_get(person, "local_identifiers"), 0);
        const char *system = json_string_value(json_object_get(first, "system"));
        const char *value = json_string_value(json_object_get(first, "value"));
        if (!system || !value)
            return -1;
        snprintf(material, sizeof material, "local:%s|%s", system, value);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (key_size < 33 ||
        !HMAC(EVP_sha256(), event_key, (int)event_key_len, (const unsigned char *)material,
              strlen(material), digest, &digest_len))
        return -1;
    explicit_bzero(material, sizeof material);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        key[2 * i] = hex[digest[i] >> 4];
        key[2 * i + 1] = hex[digest[i] & 15];
    }
    key[32] = '\0';
    return 0;
}

const char *event_id(const json_t *event)
{
    return json_string_value(json_object_get(event, "event_id"));
}
