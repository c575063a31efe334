/*
 * mesh.c - the built-in `mesh` connector: each event to a partner's MESH
 * mailbox (NHS England's Message Exchange for Social care and Health) over
 * the MESH API, as the event's plain JSON (the partner's agreement already
 * applied).
 *
 * One delivery is a short conversation, which ABI 2.1's next() lets the
 * host carry out request by request:
 *   1. a handshake, POST /messageexchange/{mailbox}, on the first delivery
 *      and then once a day (MESH asks clients to validate their mailbox
 *      daily);
 *   2. the send, POST /messageexchange/{mailbox}/outbox, with mex-From,
 *      mex-To, mex-WorkflowID, mex-Subject, mex-LocalID (the event id, which
 *      receivers deduplicate on), mex-FileName and mex-Content-Type; an event
 *      larger than chunk_size goes in chunks, the first with
 *      mex-Chunk-Range 1:N;
 *   3. chunks 2..N, POST .../outbox/{message id}/{n}.
 * MESH's message id becomes the receipt's partner_reference. A failure at any
 * step ends the attempt; the retry starts again at the send with a new
 * message (an upload never completed is never delivered, so nothing reaches
 * the partner twice but by an event id it already deduplicates on).
 *
 * Every request carries its own Authorization: NHSMESH header (lib/core/
 * mesh.h) with a fresh nonce; the host's `auth` options are refused. The
 * client certificate (mutual TLS) is the host's tls_client_cert and
 * tls_client_key. A 403 is MESH refusing the mailbox's credentials: retried
 * (the partner's circuit opens), as the host retries a 401, never the
 * event's fault.
 *
 * Ownership: the password and shared key are read in create() and wiped in
 * destroy(). Each request owns a struct mesh_request (URL, header lines,
 * step), freed by release(); the body points into the delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "core/mesh.h"
#include "placehub/connector.h"

#define MESH_SECRET_MAX 256
#define MESH_HANDSHAKE_EVERY_MS (24LL * 3600 * 1000)
#define MESH_CHUNK_MIN 100
#define MESH_CHUNK_MAX 100000000LL /* MESH's largest chunk: 100 MB */
#define MESH_CHUNK_DEFAULT 20000000
#define MESH_HEADER_MAX 256

struct mesh {
    const struct placehub_host *host;
    char partner_id[128];
    char base[512]; /* the url option without a trailing '/' */
    char mailbox[MESH_MAILBOX_MAX];
    char to[MESH_MAILBOX_MAX];
    char workflow_id[128];
    char subject[128]; /* "" : the event type */
    char password[MESH_SECRET_MAX];
    char shared_key[MESH_SECRET_MAX];
    size_t chunk_size;
    int64_t handshake_ms; /* the last handshake MESH accepted; 0: none yet */
    char os_name[64], os_version[128];
};

enum mesh_step { MESH_HANDSHAKE, MESH_SEND, MESH_CHUNK };

enum mesh_header {
    MESH_H_AUTHORIZATION,
    MESH_H_OS_NAME,
    MESH_H_OS_VERSION,
    MESH_H_FROM,
    MESH_H_TO,
    MESH_H_WORKFLOW,
    MESH_H_SUBJECT,
    MESH_H_LOCAL_ID,
    MESH_H_FILE_NAME,
    MESH_H_CHUNK_RANGE,
    MESH_H_COUNT
};

struct mesh_request {
    enum mesh_step step;
    unsigned chunk, total;
    char message_id[MESH_MESSAGE_ID_MAX];
    char url[768];
    char lines[MESH_H_COUNT][MESH_HEADER_MAX];
};

/* Printable ASCII without ':' trouble for a header value: 1 to max bytes,
 * no control characters (a CR LF would start a header of its own). */
static int mesh_header_safe(const char *text, size_t max)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
            return 0;
    return 1;
}

static void mesh_destroy(void *instance)
{
    struct mesh *mesh = instance;
    if (!mesh)
        return;
    explicit_bzero(mesh->password, sizeof mesh->password);
    explicit_bzero(mesh->shared_key, sizeof mesh->shared_key);
    free(mesh);
}

/* A mailbox id option, upper-cased as MESH writes them. */
static int mesh_mailbox_option(const struct placehub_options *options, const char *key,
                               const char *partner_id, char *out, char *errstr, size_t errstr_size)
{
    const char *value = options->get(options, key);
    if (!mesh_mailbox_valid(value)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.%s must be a MESH mailbox id (letters and digits, e.g. "
                 "X26ABC1)",
                 partner_id, key);
        return -1;
    }
    size_t i = 0;
    for (; value[i]; i++)
        out[i] = value[i] >= 'a' && value[i] <= 'z' ? (char)(value[i] - 'a' + 'A') : value[i];
    out[i] = '\0';
    return 0;
}

/* The text options: url, workflow_id, subject, chunk_size. */
static int mesh_text_options(struct mesh *mesh, const struct placehub_options *options,
                             char *errstr, size_t errstr_size)
{
    const char *url = options->get(options, "url");
    const char *workflow = options->get(options, "workflow_id");
    const char *subject = options->get(options, "subject");
    const char *chunk = options->get(options, "chunk_size");
    if (!url || strncmp(url, "https://", 8) != 0 || strlen(url) >= sizeof mesh->base) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.url must be the MESH API's https:// base URL (e.g. "
                 "https://msg.intspineservices.nhs.uk)",
                 mesh->partner_id);
        return -1;
    }
    snprintf(mesh->base, sizeof mesh->base, "%s", url);
    size_t len = strlen(mesh->base);
    while (len > 8 && mesh->base[len - 1] == '/')
        mesh->base[--len] = '\0';
    if (!mesh_header_safe(workflow, sizeof mesh->workflow_id - 1)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.workflow_id must be printable text of 1 to %zu characters "
                 "(the workflow agreed with the partner, e.g. PLACEHUB_EVENT)",
                 mesh->partner_id, sizeof mesh->workflow_id - 1);
        return -1;
    }
    snprintf(mesh->workflow_id, sizeof mesh->workflow_id, "%s", workflow);
    if (subject && !mesh_header_safe(subject, sizeof mesh->subject - 1)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.subject must be printable text of 1 to %zu characters",
                 mesh->partner_id, sizeof mesh->subject - 1);
        return -1;
    }
    snprintf(mesh->subject, sizeof mesh->subject, "%s", subject ? subject : "");
    char *end = NULL;
    long long size = chunk ? strtoll(chunk, &end, 10) : MESH_CHUNK_DEFAULT;
    if ((chunk && (*end || end == chunk)) || size < MESH_CHUNK_MIN || size > MESH_CHUNK_MAX) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.chunk_size must be a number of bytes from %d to %lld",
                 mesh->partner_id, MESH_CHUNK_MIN, MESH_CHUNK_MAX);
        return -1;
    }
    mesh->chunk_size = (size_t)size;
    return 0;
}

static int mesh_secret_option(const struct mesh *mesh, const struct placehub_options *options,
                              const char *key, char *out, size_t out_size, char *errstr,
                              size_t errstr_size)
{
    char why[256];
    const char *reference = options->get(options, key);
    if (!reference || mesh->host->secret(reference, out, out_size, why, sizeof why) != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.%s: %s", mesh->partner_id, key,
                 reference ? why : "required (env:NAME or file:/path)");
        return -1;
    }
    return 0;
}

static int mesh_create(const struct placehub_host *host, const char *partner_id,
                       const struct placehub_options *options, void **instance, char *errstr,
                       size_t errstr_size)
{
    struct mesh *mesh = calloc(1, sizeof *mesh);
    if (!mesh) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    mesh->host = host;
    snprintf(mesh->partner_id, sizeof mesh->partner_id, "%s", partner_id);
    if (options->get(options, "auth")) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.auth: the mesh connector signs every request itself "
                 "(NHSMESH, from mailbox_password and shared_key): remove auth",
                 partner_id);
        goto fail;
    }
    if (mesh_mailbox_option(options, "mailbox", partner_id, mesh->mailbox, errstr, errstr_size) ||
        mesh_mailbox_option(options, "to", partner_id, mesh->to, errstr, errstr_size) ||
        mesh_text_options(mesh, options, errstr, errstr_size) ||
        mesh_secret_option(mesh, options, "mailbox_password", mesh->password, sizeof mesh->password,
                           errstr, errstr_size) ||
        mesh_secret_option(mesh, options, "shared_key", mesh->shared_key, sizeof mesh->shared_key,
                           errstr, errstr_size))
        goto fail;
    struct utsname system;
    if (uname(&system) == 0) {
        snprintf(mesh->os_name, sizeof mesh->os_name, "%s", system.sysname);
        snprintf(mesh->os_version, sizeof mesh->os_version, "%s", system.release);
    }
    if (!mesh_header_safe(mesh->os_name, 60) || !mesh_header_safe(mesh->os_version, 120)) {
        snprintf(mesh->os_name, sizeof mesh->os_name, "Linux");
        snprintf(mesh->os_version, sizeof mesh->os_version, "unknown");
    }
    if (!options->get(options, "tls_client_cert"))
        host->log(PLACEHUB_LOG_WARNING,
                  "partner=%s: mesh without options.tls_client_cert: MESH itself refuses a "
                  "client without its certificate (only a sandbox accepts one)",
                  partner_id);
    *instance = mesh;
    return 0;
fail:
    mesh_destroy(mesh);
    return -1;
}

/* Fills request for own's step: URL, header lines (a fresh signature), and
 * the chunk of the body. Returns 0, or -1 when no signature could be made. */
static int mesh_fill(struct mesh *mesh, const struct placehub_delivery *delivery,
                     struct mesh_request *own, struct placehub_request *request)
{
    char nonce[40], timestamp[16];
    char(*line)[MESH_HEADER_MAX] = own->lines;
    memset(request->headers, 0, sizeof request->headers);
    request->header_count = 0;
    request->body = NULL;
    request->body_len = 0;
    mesh_timestamp(mesh->host->now_millis(), timestamp, sizeof timestamp);
    if (mesh_nonce(nonce, sizeof nonce) != 0 ||
        mesh_authorization(mesh->mailbox, mesh->password, mesh->shared_key, nonce, 0, timestamp,
                           line[MESH_H_AUTHORIZATION], MESH_HEADER_MAX) != 0)
        return -1;
    snprintf(line[MESH_H_OS_NAME], MESH_HEADER_MAX, "mex-OSName: %s", mesh->os_name);
    snprintf(line[MESH_H_OS_VERSION], MESH_HEADER_MAX, "mex-OSVersion: %s", mesh->os_version);
    const char **headers = request->headers;
    size_t count = 0;
    headers[count++] = line[MESH_H_AUTHORIZATION];
    headers[count++] = "Accept: application/vnd.mesh.v2+json";
    headers[count++] = "mex-ClientVersion: placehub/1";
    headers[count++] = line[MESH_H_OS_NAME];
    headers[count++] = line[MESH_H_OS_VERSION];
    request->method = "POST";
    request->url = own->url;
    if (own->step == MESH_HANDSHAKE) {
        snprintf(own->url, sizeof own->url, "%s/messageexchange/%s", mesh->base, mesh->mailbox);
        request->header_count = count;
        return 0;
    }
    size_t offset = (size_t)(own->chunk - 1) * mesh->chunk_size;
    size_t left = delivery->body_len - offset;
    request->body = delivery->body + offset;
    request->body_len = left < mesh->chunk_size ? left : mesh->chunk_size;
    headers[count++] = "Content-Type: application/octet-stream";
    if (own->total > 1) {
        snprintf(line[MESH_H_CHUNK_RANGE], MESH_HEADER_MAX, "mex-Chunk-Range: %u:%u", own->chunk,
                 own->total);
        headers[count++] = line[MESH_H_CHUNK_RANGE];
    }
    if (own->step == MESH_CHUNK) {
        snprintf(own->url, sizeof own->url, "%s/messageexchange/%s/outbox/%s/%u", mesh->base,
                 mesh->mailbox, own->message_id, own->chunk);
        request->header_count = count;
        return 0;
    }
    snprintf(own->url, sizeof own->url, "%s/messageexchange/%s/outbox", mesh->base, mesh->mailbox);
    snprintf(line[MESH_H_FROM], MESH_HEADER_MAX, "mex-From: %s", mesh->mailbox);
    snprintf(line[MESH_H_TO], MESH_HEADER_MAX, "mex-To: %s", mesh->to);
    snprintf(line[MESH_H_WORKFLOW], MESH_HEADER_MAX, "mex-WorkflowID: %s", mesh->workflow_id);
    snprintf(line[MESH_H_SUBJECT], MESH_HEADER_MAX, "mex-Subject: %s",
             mesh->subject[0] ? mesh->subject : delivery->event_type);
    snprintf(line[MESH_H_LOCAL_ID], MESH_HEADER_MAX, "mex-LocalID: %s", delivery->event_id);
    snprintf(line[MESH_H_FILE_NAME], MESH_HEADER_MAX, "mex-FileName: %s.json", delivery->event_id);
    for (int i = MESH_H_FROM; i <= MESH_H_FILE_NAME; i++)
        headers[count++] = line[i];
    headers[count++] = "mex-MessageType: DATA";
    headers[count++] = "mex-Content-Type: application/json";
    request->header_count = count;
    return 0;
}

static int mesh_prepare(void *instance, const struct placehub_delivery *delivery,
                        struct placehub_request *request, char *errstr, size_t errstr_size)
{
    struct mesh *mesh = instance;
    if (!mesh_header_safe(delivery->event_id, 128) || !mesh_header_safe(delivery->event_type, 64)) {
        snprintf(errstr, errstr_size, "event id or type unfit for a header line");
        return -1;
    }
    if (delivery->body_len == 0) {
        snprintf(errstr, errstr_size, "empty event: MESH refuses a message without data");
        return -1;
    }
    struct mesh_request *own = calloc(1, sizeof *own);
    if (!own) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int64_t now = mesh->host->now_millis();
    own->step = mesh->handshake_ms == 0 || now - mesh->handshake_ms >= MESH_HANDSHAKE_EVERY_MS
                    ? MESH_HANDSHAKE
                    : MESH_SEND;
    own->chunk = 1;
    own->total = (unsigned)((delivery->body_len + mesh->chunk_size - 1) / mesh->chunk_size);
    if (mesh_fill(mesh, delivery, own, request) != 0) {
        free(own);
        snprintf(errstr, errstr_size, "cannot sign the request (mailbox or secrets unusable)");
        return -1;
    }
    request->context = own;
    return 0;
}

/* MESH's words on a failure, added to the host's reason ("HTTP 417"); a
 * 403 is MESH refusing the mailbox's credentials: retried, not the event's
 * fault. */
static void mesh_classify(void *instance, const struct placehub_delivery *delivery,
                          const struct placehub_response *response,
                          struct placehub_outcome *outcome)
{
    struct mesh *mesh = instance;
    (void)delivery;
    if (outcome->result == PLACEHUB_DELIVERED)
        return;
    char words[160];
    mesh_error_describe(response->body, response->body_len, words, sizeof words);
    if (response->status == 403) {
        outcome->result = PLACEHUB_RETRY;
        snprintf(outcome->reason, sizeof outcome->reason,
                 "HTTP 403: MESH refused mailbox %s's credentials (check mailbox_password, "
                 "shared_key and the client certificate)%s%s",
                 mesh->mailbox, words[0] ? ": " : "", words);
        return;
    }
    if (response->status != 0 && words[0]) {
        size_t used = strlen(outcome->reason);
        snprintf(outcome->reason + used, sizeof outcome->reason - used, " from MESH: %s", words);
    }
}

/* After an answer judged delivered: the next step, or the end. */
static int mesh_next(void *instance, const struct placehub_delivery *delivery,
                     const struct placehub_response *response, struct placehub_request *request,
                     struct placehub_outcome *outcome)
{
    struct mesh *mesh = instance;
    struct mesh_request *own = request->context;
    switch (own->step) {
    case MESH_HANDSHAKE:
        mesh->handshake_ms = mesh->host->now_millis();
        own->step = MESH_SEND;
        break;
    case MESH_SEND:
        if (mesh_send_answer_parse(response->body, response->body_len, own->message_id,
                                   sizeof own->message_id) != 0) {
            if (own->total == 1) {
                /* MESH has the message: only its id is missing. */
                mesh->host->log(PLACEHUB_LOG_WARNING,
                                "mesh partner=%s event_id=%s: accepted without a readable "
                                "message id",
                                mesh->partner_id, delivery->event_id);
                return 0;
            }
            outcome->result = PLACEHUB_RETRY;
            snprintf(outcome->reason, sizeof outcome->reason,
                     "MESH accepted chunk 1 of %u without a readable message id", own->total);
            return 0;
        }
        own->step = MESH_CHUNK;
        /* fall through */
    case MESH_CHUNK:
        if (own->chunk >= own->total) {
            snprintf(outcome->reference, sizeof outcome->reference, "%s", own->message_id);
            mesh->host->log(PLACEHUB_LOG_INFO,
                            "mesh partner=%s event_id=%s message_id=%s chunks=%u", mesh->partner_id,
                            delivery->event_id, own->message_id, own->total);
            return 0;
        }
        own->chunk++;
        break;
    }
    if (mesh_fill(mesh, delivery, own, request) != 0) {
        outcome->result = PLACEHUB_RETRY;
        snprintf(outcome->reason, sizeof outcome->reason, "cannot sign the next MESH request");
        return 0;
    }
    return 1;
}

static void mesh_release(void *instance, struct placehub_request *request)
{
    (void)instance;
    struct mesh_request *own = request->context;
    if (own)
        explicit_bzero(own->lines[MESH_H_AUTHORIZATION], MESH_HEADER_MAX);
    free(own);
    request->context = NULL;
}

/* What mesh_create reads; the host's transport keys (timeouts, TLS: the
 * client certificate is tls_client_cert and tls_client_key) come on top. */
static const struct placehub_option mesh_options[] = {
    {"url", PLACEHUB_OPTION_URL, 1, 0, "the MESH API's https:// base URL"},
    {"mailbox", PLACEHUB_OPTION_STRING, 1, 0, "the hub's own MESH mailbox id (mex-From)"},
    {"mailbox_password", PLACEHUB_OPTION_SECRET_REFERENCE, 1, 1,
     "env:NAME or file:/path: the hub mailbox's password"},
    {"shared_key", PLACEHUB_OPTION_SECRET_REFERENCE, 1, 1,
     "env:NAME or file:/path: the MESH environment's shared HMAC key"},
    {"to", PLACEHUB_OPTION_STRING, 1, 0, "the partner's MESH mailbox id (mex-To)"},
    {"workflow_id", PLACEHUB_OPTION_STRING, 1, 0, "the MESH workflow agreed with the partner"},
    {"subject", PLACEHUB_OPTION_STRING, 0, 0, "mex-Subject (default: the event type)"},
    {"chunk_size", PLACEHUB_OPTION_INTEGER, 0, 0,
     "bytes per chunk; larger events go in chunks (default 20000000)"},
    {0},
};

const struct placehub_connector_type placehub_connector_mesh = {
    PLACEHUB_CONNECTOR_VERSION, .name = "mesh",          .options = mesh_options,
    .create = mesh_create,      .prepare = mesh_prepare, .classify = mesh_classify,
    .release = mesh_release,    .destroy = mesh_destroy, .next = mesh_next,
};
