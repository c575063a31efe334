/*
 * listener.c - TCP and MLLP for placehub-mllp (see listener.h).
 *
 * One accept thread and one detached thread per connection, counted so
 * listener_destroy can wait for them. Shutdown is signalled through a pipe
 * every thread polls beside its socket: closing its write end wakes them all
 * at once, and a thread inside the handler notices after the answer is sent,
 * so a message whose event reached Kafka is still acknowledged.
 *
 * Logs name the peer address and what went wrong with the framing, never
 * message content.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/httpd.h"
#include "core/log.h"
#include "hl7/mllp.h"

struct listener {
    struct listener_settings settings;
    listener_handler_fn *handler;
    void *context;
    int socket;
    int port;
    int stop_pipe[2]; /* closing [1] tells every thread to stop */
    pthread_t acceptor;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int connections; /* threads running, guarded by lock */
};

struct listener_connection {
    struct listener *listener;
    int socket;
    char peer[64];
};

static int listener_resolve(const char *host, int port, struct sockaddr_in *address, char *errstr,
                            size_t errstr_size)
{
    memset(address, 0, sizeof *address);
    address->sin_family = AF_INET;
    address->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &address->sin_addr) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &found);
    if (rc != 0 || !found) {
        snprintf(errstr, errstr_size, "cannot resolve listen host '%s' to an IPv4 address: %s",
                 host, rc != 0 ? gai_strerror(rc) : "no address");
        if (found)
            freeaddrinfo(found);
        return -1;
    }
    address->sin_addr = ((const struct sockaddr_in *)(void *)found->ai_addr)->sin_addr;
    freeaddrinfo(found);
    return 0;
}

/* Sends all of data; -1 when the peer is gone or too slow to read. */
static int listener_send_all(int socket, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(socket, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int listener_answer(struct listener_connection *connection, const char *message, size_t len,
                           const char *problem)
{
    size_t answer_len = 0;
    char *answer = connection->listener->handler(connection->listener->context, message, len,
                                                 problem, &answer_len);
    if (!answer)
        return 0;
    size_t framed_len = 0;
    unsigned char *framed = mllp_frame(answer, answer_len, &framed_len);
    free(answer);
    if (!framed)
        return -1;
    int rc = listener_send_all(connection->socket, framed, framed_len);
    free(framed);
    if (rc != 0)
        log_info("mllp connection peer=%s: the answer could not be sent: %s", connection->peer,
                 strerror(errno));
    return rc;
}

/* Feeds received bytes to the decoder and answers every frame completed.
 * Returns 0 to go on reading, -1 to close the connection. */
static int listener_feed(struct listener_connection *connection, struct mllp_decoder *decoder,
                         const unsigned char *data, size_t len)
{
    char problem[256];
    while (len > 0) {
        size_t consumed = 0;
        enum mllp_result result =
            mllp_decode(decoder, data, len, &consumed, problem, sizeof problem);
        data += consumed;
        len -= consumed;
        switch (result) {
        case MLLP_NEED_MORE:
            break;
        case MLLP_MESSAGE: {
            size_t message_len;
            const char *message = mllp_decoder_message(decoder, &message_len);
            if (listener_answer(connection, message, message_len, NULL) != 0)
                return -1;
            break;
        }
        case MLLP_TOO_LARGE:
            snprintf(problem, sizeof problem, "the message is larger than %zu bytes",
                     connection->listener->settings.max_message_bytes);
            log_info("mllp message refused peer=%s: larger than %zu bytes", connection->peer,
                     connection->listener->settings.max_message_bytes);
            if (listener_answer(connection, NULL, 0, problem) != 0)
                return -1;
            break;
        case MLLP_FRAME_ERROR:
        case MLLP_NO_MEMORY: {
            /* The stream cannot be trusted to resynchronise: say why, close. */
            char reason[300];
            snprintf(reason, sizeof reason, "MLLP framing error: %s", problem);
            log_info("mllp connection closed peer=%s: %s", connection->peer, reason);
            listener_answer(connection, NULL, 0, reason);
            return -1;
        }
        }
    }
    return 0;
}

static void *listener_serve(void *arg)
{
    struct listener_connection *connection = arg;
    struct listener *listener = connection->listener;
    struct mllp_decoder decoder;
    unsigned char buffer[65536];
    mllp_decoder_init(&decoder, listener->settings.max_message_bytes);
    log_info("mllp connection opened peer=%s", connection->peer);
    for (;;) {
        struct pollfd fds[2] = {{connection->socket, POLLIN, 0},
                                {listener->stop_pipe[0], POLLIN, 0}};
        /* Idle between messages: wait as long as the sender likes (senders
         * keep their connection for days). Inside a message: not forever. */
        int timeout = mllp_decoder_in_frame(&decoder) ? listener->settings.read_timeout_ms : -1;
        int ready = poll(fds, 2, timeout);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0 || fds[1].revents)
            break;
        if (ready == 0) {
            log_info("mllp connection closed peer=%s: a message stayed incomplete for %d ms",
                     connection->peer, listener->settings.read_timeout_ms);
            break;
        }
        ssize_t n = recv(connection->socket, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (mllp_decoder_in_frame(&decoder))
                log_info("mllp connection closed peer=%s: closed in the middle of a message",
                         connection->peer);
            break;
        }
        if (listener_feed(connection, &decoder, buffer, (size_t)n) != 0)
            break;
    }
    log_info("mllp connection closed peer=%s", connection->peer);
    mllp_decoder_release(&decoder);
    close(connection->socket);
    free(connection);
    pthread_mutex_lock(&listener->lock);
    listener->connections--;
    pthread_cond_broadcast(&listener->idle);
    pthread_mutex_unlock(&listener->lock);
    return NULL;
}

static void listener_start_connection(struct listener *listener, int socket,
                                      const struct sockaddr_in *peer)
{
    struct listener_connection *connection = calloc(1, sizeof *connection);
    char address[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &peer->sin_addr, address, sizeof address);
    pthread_mutex_lock(&listener->lock);
    int full = listener->connections >= listener->settings.max_connections;
    if (!full && connection)
        listener->connections++;
    pthread_mutex_unlock(&listener->lock);
    if (full || !connection) {
        log_warning("mllp connection refused peer=%s:%d: %s", address, ntohs(peer->sin_port),
                    full ? "mllp.max_connections reached" : "out of memory");
        free(connection);
        close(socket);
        return;
    }
    connection->listener = listener;
    connection->socket = socket;
    snprintf(connection->peer, sizeof connection->peer, "%s:%d", address, ntohs(peer->sin_port));
    /* A sender that stops reading must not hold the thread for ever. */
    struct timeval timeout = {.tv_sec = listener->settings.read_timeout_ms / 1000,
                              .tv_usec = (listener->settings.read_timeout_ms % 1000) * 1000};
    setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    pthread_attr_t attributes;
    pthread_t thread;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &attributes, listener_serve, connection) != 0) {
        log_error("mllp connection refused peer=%s: cannot start a thread", connection->peer);
        close(socket);
        free(connection);
        pthread_mutex_lock(&listener->lock);
        listener->connections--;
        pthread_cond_broadcast(&listener->idle);
        pthread_mutex_unlock(&listener->lock);
    }
    pthread_attr_destroy(&attributes);
}

static void *listener_accept(void *arg)
{
    struct listener *listener = arg;
    for (;;) {
        struct pollfd fds[2] = {{listener->socket, POLLIN, 0}, {listener->stop_pipe[0], POLLIN, 0}};
        int ready = poll(fds, 2, -1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0 || fds[1].revents)
            break;
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof peer;
        int socket = accept4(listener->socket, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
        if (socket < 0) {
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                log_warning("mllp accept failed: %s", strerror(errno));
            continue;
        }
        listener_start_connection(listener, socket, &peer);
    }
    return NULL;
}

struct listener *listener_new(const struct listener_settings *settings,
                              listener_handler_fn *handler, void *context, char *errstr,
                              size_t errstr_size)
{
    char host[256];
    int port = 0;
    struct sockaddr_in address;
    if (httpd_parse_listen(settings->listen, host, sizeof host, &port, errstr, errstr_size) != 0 ||
        listener_resolve(host, port, &address, errstr, errstr_size) != 0)
        return NULL;
    struct listener *listener = calloc(1, sizeof *listener);
    if (!listener) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    listener->settings = *settings;
    listener->handler = handler;
    listener->context = context;
    listener->stop_pipe[0] = listener->stop_pipe[1] = -1;
    pthread_mutex_init(&listener->lock, NULL);
    pthread_cond_init(&listener->idle, NULL);
    int one = 1;
    listener->socket = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener->socket < 0 ||
        setsockopt(listener->socket, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(listener->socket, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(listener->socket, 64) != 0) {
        snprintf(errstr, errstr_size, "cannot listen on %s: %s", settings->listen, strerror(errno));
        goto fail;
    }
    struct sockaddr_in bound;
    socklen_t bound_len = sizeof bound;
    getsockname(listener->socket, (struct sockaddr *)&bound, &bound_len);
    listener->port = ntohs(bound.sin_port);
    if (pipe2(listener->stop_pipe, O_CLOEXEC) != 0 ||
        pthread_create(&listener->acceptor, NULL, listener_accept, listener) != 0) {
        snprintf(errstr, errstr_size, "cannot start the listener thread");
        goto fail;
    }
    return listener;
fail:
    if (listener->socket >= 0)
        close(listener->socket);
    if (listener->stop_pipe[0] >= 0) {
        close(listener->stop_pipe[0]);
        close(listener->stop_pipe[1]);
    }
    pthread_cond_destroy(&listener->idle);
    pthread_mutex_destroy(&listener->lock);
    free(listener);
    return NULL;
}

void listener_destroy(struct listener *listener)
{
    if (!listener)
        return;
    close(listener->stop_pipe[1]); /* every poll now sees the pipe's end */
    pthread_join(listener->acceptor, NULL);
    close(listener->socket);
    pthread_mutex_lock(&listener->lock);
    while (listener->connections > 0)
        pthread_cond_wait(&listener->idle, &listener->lock);
    pthread_mutex_unlock(&listener->lock);
    close(listener->stop_pipe[0]);
    pthread_cond_destroy(&listener->idle);
    pthread_mutex_destroy(&listener->lock);
    free(listener);
}

int listener_port(const struct listener *listener)
{
    return listener->port;
}
