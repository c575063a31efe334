/*
 * listener.h - the MLLP side of placehub-mllp: a TCP listener, a thread per
 * connection, MLLP framing, and one answer per message, written before the
 * next message on that connection is read (HL7's stop-and-wait: a sender
 * waits for each ACK, so one connection's messages keep their order).
 */
#ifndef PLACEHUB_MLLP_LISTENER_H
#define PLACEHUB_MLLP_LISTENER_H

#include <stddef.h>

struct listener;

/* Called once per message on the connection's thread; may block (it waits
 * for Kafka). message is the frame's content (borrowed), or NULL when the
 * frame could not be read, with problem saying why (too large, broken
 * framing). Returns the answer to frame and send (malloc'd; the listener
 * frees it), or NULL to send nothing. */
typedef char *listener_handler_fn(void *context, const char *message, size_t len,
                                  const char *problem, size_t *answer_len);

struct listener_settings {
    const char *listen; /* "host:port"; port 0 picks a free one */
    size_t max_message_bytes;
    int read_timeout_ms; /* a begun message must be complete within this */
    int max_connections;
};

/* Binds and starts accepting. context is borrowed. Returns NULL with errstr
 * when the address cannot be bound. */
struct listener *listener_new(const struct listener_settings *settings,
                              listener_handler_fn *handler, void *context, char *errstr,
                              size_t errstr_size);

/* Stops accepting; each connection finishes the message in hand (its
 * handler returns and the answer is sent), then closes. Waits for all. */
void listener_destroy(struct listener *listener);

/* The port bound. */
int listener_port(const struct listener *listener);

#endif
