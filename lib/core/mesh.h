/*
 * mesh.h - the pieces of NHS England's MESH API (Message Exchange for Social
 * care and Health) that both ends of placehub share: the `mesh` connector,
 * which sends to a partner's mailbox, and placehub-mesh-inbox, which reads
 * the hub's own. Pure functions, no I/O: the Authorization header, and
 * readers for what MESH answers (a message id, an inbox listing, a chunk
 * range, an error). Every reader takes outside input and refuses rather
 * than guesses (tests/fuzz/fuzz_mesh.c).
 *
 * The Authorization header, as MESH specifies it:
 *   NHSMESH <mailbox>:<nonce>:<count>:<timestamp>:<hmac>
 * with hmac = hex HMAC-SHA256 under the environment's shared key of
 *   <mailbox>:<nonce>:<count>:<password>:<timestamp>
 * and timestamp yyyymmddHHMM in UTC. The password is never in the header.
 */
#ifndef PLACEHUB_MESH_H
#define PLACEHUB_MESH_H

#include <stddef.h>
#include <stdint.h>

#define MESH_MAILBOX_MAX 32    /* mailbox ids are 8 to 20 characters */
#define MESH_MESSAGE_ID_MAX 64 /* e.g. 20220228174323222_ABCDEF, or 32 hex digits */
#define MESH_AUTHORIZATION_MAX 256

/* Whether text is a plausible mailbox id: 1 to MESH_MAILBOX_MAX - 1 letters
 * and digits (MESH's are upper case; lower case is accepted and compared
 * without regard to case). */
int mesh_mailbox_valid(const char *text);

/* Whether text is a plausible message id: 1 to MESH_MESSAGE_ID_MAX - 1
 * letters, digits, '_' and '-' (safe in a URL path and a log line). */
int mesh_message_id_valid(const char *text);

/* Formats timestamp (milliseconds since the epoch) as MESH's yyyymmddHHMM
 * in UTC into out (at least 13 bytes). */
void mesh_timestamp(int64_t millis, char *out, size_t out_size);

/* Writes the whole header line "Authorization: NHSMESH ..." into out
 * (MESH_AUTHORIZATION_MAX bytes is enough for valid input). nonce is any
 * text without ':' (a fresh random one per request); count is the nonce's
 * use count (0 for a fresh nonce). Returns 0, or -1 when an argument is
 * unusable (a mailbox or nonce with ':', out too small). */
int mesh_authorization(const char *mailbox, const char *password, const char *shared_key,
                       const char *nonce, unsigned count, const char *timestamp, char *out,
                       size_t out_size);

/* A fresh nonce: 32 hexadecimal digits from the kernel's random source
 * into out (at least 33 bytes). Returns 0, or -1 when none could be had. */
int mesh_nonce(char *out, size_t out_size);

/* Reads the message id from MESH's answer to a send (v2 {"message_id":..}
 * or v1 {"messageID":..}) into out (MESH_MESSAGE_ID_MAX). Returns 0, or -1
 * when the body is not such a document or the id is not plausible. */
int mesh_send_answer_parse(const char *body, size_t len, char *out, size_t out_size);

/* Reads an inbox listing ({"messages": ["id", ...]}) into ids (each
 * MESH_MESSAGE_ID_MAX bytes), at most max of them. Returns how many, or -1
 * when the body is not a listing or an id is not plausible. */
int mesh_inbox_parse(const char *body, size_t len, char (*ids)[MESH_MESSAGE_ID_MAX], int max);

/* Reads a mex-Chunk-Range value "n:total" (1 <= n <= total <= max_total).
 * Returns 0, or -1 for anything else. */
int mesh_chunk_range_parse(const char *text, unsigned max_total, unsigned *chunk, unsigned *total);

/* The most useful words of a MESH error answer (v2 detail[0].code and msg,
 * or v1 errorCode and errorDescription) into out, printable ASCII only, cut
 * to out_size; "" when the body carries none. MESH's descriptions are fixed
 * texts (e.g. "Unregistered recipient"), never the message's content. */
void mesh_error_describe(const char *body, size_t len, char *out, size_t out_size);

/* The headers MESH answers a download with that placehub reads. Each is ""
 * when absent; a value that is too long or not printable ASCII is kept as
 * "" and counted in malformed. */
struct mesh_message_headers {
    char from[MESH_MAILBOX_MAX]; /* mex-From: the sending mailbox */
    char to[MESH_MAILBOX_MAX];   /* mex-To */
    char workflow_id[128];       /* mex-WorkflowID */
    char subject[128];           /* mex-Subject: placehub's event type */
    char local_id[128];          /* mex-LocalID: the sender's own id */
    char message_type[16];       /* mex-MessageType: DATA or REPORT */
    char chunk_range[32];        /* mex-Chunk-Range: "n:total" */
    char content_encoding[32];   /* Content-Encoding */
    int malformed;
};

/* Reads one header line of an answer ("Name: value", CR LF or not) into
 * headers when it is one of struct mesh_message_headers (names compared
 * without regard to case); any other line is left alone. */
void mesh_header_line(struct mesh_message_headers *headers, const char *line, size_t len);

/* The event id placehub gives an event that arrived in MESH message
 * message_id without one of its own: the name-based (version 5, SHA-1) UUID
 * of "urn:nhs-mesh:message:<message_id>" in the URL namespace
 * (6ba7b811-9dad-11d1-80b4-00c04fd430c8), lower case, into out (37 bytes).
 * The same message always gives the same id, so a message downloaded again
 * after a crash is a duplicate receivers drop, never a new event. */
void mesh_event_id(const char *message_id, char *out, size_t out_size);

#endif
