/*
 * client.h - placehub-mesh-inbox's MESH API client: the hub's own mailbox,
 * read over HTTPS with its client certificate, every request signed
 * (NHSMESH, lib/core/mesh.h). Blocking libcurl calls from one thread.
 */
#ifndef PLACEHUB_MESH_INBOX_CLIENT_H
#define PLACEHUB_MESH_INBOX_CLIENT_H

#include <stddef.h>

#include "core/config.h"
#include "core/mesh.h"

struct mesh_client;

/* Sets the client up from the mesh_inbox: section, reading the password
 * and shared key it names. config is borrowed and must outlive the client.
 * Returns 0 and *out, or -1 with errstr. */
int mesh_client_new(const struct config *config, struct mesh_client **out, char *errstr,
                    size_t errstr_size);

/* Frees the client; its secrets are wiped. NULL is ignored. */
void mesh_client_destroy(struct mesh_client *client);

/* What a call came to. */
enum mesh_client_result {
    MESH_CLIENT_OK = 0,
    MESH_CLIENT_FAILED = -1, /* MESH did not answer, or answered an error: try later */
    MESH_CLIENT_GONE = -2    /* the message is no longer there (404, 410): nothing to do */
};

/* The handshake (MESH asks for one at start and once a day). */
enum mesh_client_result mesh_client_handshake(struct mesh_client *client, char *errstr,
                                              size_t errstr_size);

/* Up to max message ids waiting in the inbox into ids; *count how many. */
enum mesh_client_result mesh_client_inbox(struct mesh_client *client,
                                          char (*ids)[MESH_MESSAGE_ID_MAX], int max, int *count,
                                          char *errstr, size_t errstr_size);

/* A downloaded message: its headers (from the first chunk) and its data,
 * every chunk joined. */
struct mesh_message {
    struct mesh_message_headers headers;
    char *data; /* NUL-terminated; caller frees with mesh_message_clear */
    size_t len;
    unsigned chunks;
    int too_large; /* data stops at max_bytes: the rest was not read */
};

/* Downloads message id, all its chunks, up to max_bytes of data. */
enum mesh_client_result mesh_client_download(struct mesh_client *client, const char *id,
                                             size_t max_bytes, struct mesh_message *message,
                                             char *errstr, size_t errstr_size);
void mesh_message_clear(struct mesh_message *message);

/* Acknowledges message id: MESH then takes it out of the inbox. IMPORTANT:
 * only once the message is safely in Kafka (produced, or dead-lettered). */
enum mesh_client_result mesh_client_acknowledge(struct mesh_client *client, const char *id,
                                                char *errstr, size_t errstr_size);

#endif
