/*
 * mesh.c - MESH's Authorization header and readers of its answers (see
 * mesh.h). Shared by the `mesh` connector and placehub-mesh-inbox; no I/O
 * beyond the kernel's random source for nonces.
 *
 * The readers see bytes from the network: each caps what it reads, checks
 * every id it returns against a plain character set (ids end up in URL
 * paths and log lines) and refuses rather than guesses.
 */
#include "core/mesh.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/text.h"

static int mesh_plain(const char *text, size_t max, const char *extra)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len >= max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)text[i]) && !strchr(extra, text[i]))
            return 0;
    return 1;
}

int mesh_mailbox_valid(const char *text)
{
    return mesh_plain(text, MESH_MAILBOX_MAX, "");
}

int mesh_message_id_valid(const char *text)
{
    return mesh_plain(text, MESH_MESSAGE_ID_MAX, "_-");
}

void mesh_timestamp(int64_t millis, char *out, size_t out_size)
{
    time_t seconds = (time_t)(millis / 1000);
    struct tm utc;
    if (!gmtime_r(&seconds, &utc) || strftime(out, out_size, "%Y%m%d%H%M", &utc) == 0) {
        if (out_size)
            out[0] = '\0';
    }
}

int mesh_authorization(const char *mailbox, const char *password, const char *shared_key,
                       const char *nonce, unsigned count, const char *timestamp, char *out,
                       size_t out_size)
{
    char signed_text[512];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (strchr(mailbox, ':') || strchr(nonce, ':') || strchr(timestamp, ':'))
        return -1;
    int n = snprintf(signed_text, sizeof signed_text, "%s:%s:%u:%s:%s", mailbox, nonce, count,
                     password, timestamp);
    if (n < 0 || (size_t)n >= sizeof signed_text) {
        explicit_bzero(signed_text, sizeof signed_text);
        return -1;
    }
    int ok = HMAC(EVP_sha256(), shared_key, (int)strlen(shared_key),
                  (const unsigned char *)signed_text, (size_t)n, digest, &digest_len) != NULL;
    /* IMPORTANT: the signed text holds the password. */
    explicit_bzero(signed_text, sizeof signed_text);
    if (!ok)
        return -1;
    text_hex(digest, digest_len, hex);
    n = snprintf(out, out_size, "Authorization: NHSMESH %s:%s:%u:%s:%s", mailbox, nonce, count,
                 timestamp, hex);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

int mesh_nonce(char *out, size_t out_size)
{
    unsigned char bytes[16];
    if (out_size < 2 * sizeof bytes + 1 || getrandom(bytes, sizeof bytes, 0) != sizeof bytes)
        return -1;
    text_hex(bytes, sizeof bytes, out);
    return 0;
}

/* A JSON object from at most 64 KiB of body, or NULL. */
static json_t *mesh_document(const char *body, size_t len)
{
    if (!body || len == 0 || len > 65536)
        return NULL;
    json_t *document = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (document && !json_is_object(document)) {
        json_decref(document);
        return NULL;
    }
    return document;
}

static int mesh_copy_id(const json_t *value, char *out, size_t out_size)
{
    const char *text = json_string_value(value);
    if (!text || !mesh_message_id_valid(text) || strlen(text) >= out_size)
        return -1;
    snprintf(out, out_size, "%s", text);
    return 0;
}

int mesh_send_answer_parse(const char *body, size_t len, char *out, size_t out_size)
{
    json_t *document = mesh_document(body, len);
    if (!document)
        return -1;
    const json_t *id = json_object_get(document, "message_id");
    if (!id)
        id = json_object_get(document, "messageID");
    int result = mesh_copy_id(id, out, out_size);
    json_decref(document);
    return result;
}

int mesh_inbox_parse(const char *body, size_t len, char (*ids)[MESH_MESSAGE_ID_MAX], int max)
{
    json_t *document = mesh_document(body, len);
    if (!document)
        return -1;
    const json_t *messages = json_object_get(document, "messages");
    int count = json_is_array(messages) ? 0 : -1;
    for (size_t i = 0; count >= 0 && i < json_array_size(messages) && count < max; i++) {
        if (mesh_copy_id(json_array_get(messages, i), ids[count], MESH_MESSAGE_ID_MAX) != 0)
            count = -1;
        else
            count++;
    }
    json_decref(document);
    return count;
}

/* A whole number of 1 to 9 digits ending at the end of text or at stop. */
static const char *mesh_number(const char *text, char stop, unsigned *value)
{
    unsigned result = 0, digits = 0;
    while (isdigit((unsigned char)*text) && digits < 9) {
        result = result * 10 + (unsigned)(*text++ - '0');
        digits++;
    }
    if (digits == 0 || *text != stop)
        return NULL;
    *value = result;
    return text;
}

int mesh_chunk_range_parse(const char *text, unsigned max_total, unsigned *chunk, unsigned *total)
{
    if (!text)
        return -1;
    while (*text == ' ')
        text++;
    const char *colon = mesh_number(text, ':', chunk);
    if (!colon || !mesh_number(colon + 1, '\0', total))
        return -1;
    return *chunk >= 1 && *chunk <= *total && *total <= max_total ? 0 : -1;
}

/* Appends the printable ASCII of text to out (used bytes *used). */
static void mesh_describe_append(char *out, size_t out_size, size_t *used, const char *text)
{
    for (; text && *text && *used + 1 < out_size; text++)
        out[(*used)++] = *text >= 0x20 && *text < 0x7f ? *text : '.';
    out[*used] = '\0';
}

/* The value of a header line of name, or NULL; *value_len its length. */
static const char *mesh_header_value(const char *line, size_t len, const char *name,
                                     size_t *value_len)
{
    size_t name_len = strlen(name);
    if (len <= name_len || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
        return NULL;
    const char *value = line + name_len + 1, *end = line + len;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *value_len = (size_t)(end - value);
    return value;
}

void mesh_header_line(struct mesh_message_headers *headers, const char *line, size_t len)
{
    static const struct {
        const char *name;
        size_t offset, size;
    } known[] = {
#define MESH_KNOWN(name, field)                                                                    \
    {name, offsetof(struct mesh_message_headers, field),                                           \
     sizeof(((struct mesh_message_headers *)0)->field)}
        MESH_KNOWN("mex-From", from),
        MESH_KNOWN("mex-To", to),
        MESH_KNOWN("mex-WorkflowID", workflow_id),
        MESH_KNOWN("mex-Subject", subject),
        MESH_KNOWN("mex-LocalID", local_id),
        MESH_KNOWN("mex-MessageType", message_type),
        MESH_KNOWN("mex-Chunk-Range", chunk_range),
        MESH_KNOWN("Content-Encoding", content_encoding),
#undef MESH_KNOWN
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t value_len;
        const char *value = mesh_header_value(line, len, known[i].name, &value_len);
        if (!value)
            continue;
        char *field = (char *)headers + known[i].offset;
        int printable = value_len < known[i].size;
        for (size_t k = 0; printable && k < value_len; k++)
            printable = value[k] >= 0x20 && value[k] < 0x7f;
        if (printable) {
            memcpy(field, value, value_len);
            field[value_len] = '\0';
        } else {
            field[0] = '\0';
            headers->malformed++;
        }
        return;
    }
}

void mesh_event_id(const char *message_id, char *out, size_t out_size)
{
    /* RFC 4122 4.3: SHA-1 of the namespace's 16 bytes and the name. */
    static const unsigned char url_namespace[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                                    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    char name[160];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    int n = snprintf(name, sizeof name, "urn:nhs-mesh:message:%s", message_id);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (!context || n < 0 || (size_t)n >= sizeof name ||
        EVP_DigestInit_ex(context, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(context, url_namespace, sizeof url_namespace) != 1 ||
        EVP_DigestUpdate(context, name, (size_t)n) != 1 ||
        EVP_DigestFinal_ex(context, digest, &digest_len) != 1 || digest_len < 16) {
        EVP_MD_CTX_free(context);
        if (out_size)
            out[0] = '\0';
        return;
    }
    EVP_MD_CTX_free(context);
    digest[6] = (unsigned char)((digest[6] & 0x0f) | 0x50);
    digest[8] = (unsigned char)((digest[8] & 0x3f) | 0x80);
    char hex[33];
    text_hex(digest, 16, hex);
    snprintf(out, out_size, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

void mesh_error_describe(const char *body, size_t len, char *out, size_t out_size)
{
    size_t used = 0;
    if (out_size == 0)
        return;
    out[0] = '\0';
    json_t *document = mesh_document(body, len);
    if (!document)
        return;
    const json_t *detail = json_array_get(json_object_get(document, "detail"), 0);
    const char *code = json_string_value(json_object_get(detail, "code"));
    const char *words = json_string_value(json_object_get(detail, "msg"));
    if (!detail) {
        code = json_string_value(json_object_get(document, "errorCode"));
        words = json_string_value(json_object_get(document, "errorDescription"));
    }
    if (!code && !words) /* FastAPI's own answers: {"detail": "Not Found"} */
        words = json_string_value(json_object_get(document, "detail"));
    if (code && *code) {
        mesh_describe_append(out, out_size, &used, "code ");
        mesh_describe_append(out, out_size, &used, code);
        mesh_describe_append(out, out_size, &used, words && *words ? ": " : "");
    }
    mesh_describe_append(out, out_size, &used, words);
    json_decref(document);
}
