/*
 * httpd.c - the HTTP/1.1 server of httpd.h on libmicrohttpd (0.9.75 and later).
 *
 * Contract: one thread per connection plus MHD's internal polling thread, so a
 * handler may block (Kafka acknowledgements, simulated delays) without holding
 * up other clients. The body is accumulated here, up to max_body_bytes, and the
 * handler is called once with all of it; bodies over the limit are answered 413
 * without calling the handler. Keep-alive is MHD's HTTP/1.1 default.
 *
 * Ownership: struct httpd owns the MHD daemon. Each request owns an
 * httpd_exchange (the body being read), freed by MHD's completion callback
 * whatever happens to the connection. A handler's response body and header
 * strings are malloc'd by the httpd_response_* helpers and freed here. A
 * streamed body's context (httpd_response_stream) passes to MHD with the
 * response and is freed by MHD's free callback when MHD is done with it.
 *
 * request->connection is the struct MHD_Connection * of the request: borrowed,
 * valid only during the handler call.
 *
 * Every response carries X-Request-Id: the client's own when it sent a sane
 * one (1-64 letters, digits, '.', '_', '-'), else a new UUID, so a partner
 * and an operator can talk about one request. The 413 answered here has one
 * too.
 */
#include "net/httpd.h"

#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <uuid/uuid.h>

/* Idle time after which MHD closes a connection: long enough for a partner
 * that pauses between keep-alive requests, short enough that dead clients do
 * not pin a thread each for long. */
#define HTTPD_CONNECTION_TIMEOUT_SECONDS 60u

/* MHD's per-connection memory pool holds the request line, the headers and the
 * read buffer that body chunks arrive in. 64 KiB takes the large headers some
 * partners send (tokens) and hands the body over in fewer, bigger chunks. */
#define HTTPD_CONNECTION_MEMORY_BYTES ((size_t)64 * 1024)

#define HTTPD_LISTEN_BACKLOG 1024u

/* A chunked body (no Content-Length) can only be found too large while it is
 * being read, and MHD 0.9.75 refuses a response until the request is complete.
 * We then discard the rest and answer 413 at its end, but only up to this many
 * extra bytes (or max_body_bytes if larger): past it we close the connection
 * rather than read an endless stream. */
#define HTTPD_DISCARD_MIN_BYTES ((size_t)1024 * 1024)

#define HTTPD_PREALLOCATE_MAX_BYTES ((size_t)1024 * 1024)

#define HTTPD_HEADER_MAX 8

struct httpd {
    struct MHD_Daemon *daemon;
    size_t max_body_bytes;
    httpd_handler_fn *handler;
    void *context;
    int port;

    /* The first message MHD logged while httpd_new was starting it (bind
     * errors): it goes into errstr, which says more than "failed to start". */
    pthread_mutex_t start_lock;
    bool starting;
    char start_error[512];
};

/* Per request state, MHD's *con_cls. */
struct httpd_exchange {
    char request_id[HTTPD_REQUEST_ID_MAX + 1];
    char *body;
    size_t body_len;
    size_t body_capacity;
    bool too_large;
    size_t discarded;
};

static void httpd_exchange_free(struct httpd_exchange *exchange)
{
    if (!exchange)
        return;
    free(exchange->body);
    free(exchange);
}

static void httpd_response_clear_body(struct httpd_response *response)
{
    free(response->body);
    response->body = NULL;
    response->body_len = 0;
}

/* A streamed body in MHD's hands: freed by MHD once the response is. */
struct httpd_stream {
    httpd_stream_fn *stream;
    void *context;
    void (*context_free)(void *context);
};

static ssize_t httpd_stream_read(void *cls, uint64_t position, char *buffer, size_t size)
{
    struct httpd_stream *stream = cls;
    (void)position;
    long n = stream->stream(stream->context, buffer, size);
    if (n == HTTPD_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* 0 would make MHD's thread spin: a stream that has nothing must block. */
    if (n <= 0 || (size_t)n > size)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void httpd_stream_free(void *cls)
{
    struct httpd_stream *stream = cls;
    if (stream->context_free)
        stream->context_free(stream->context);
    free(stream);
}

static void httpd_response_clear_stream(struct httpd_response *response)
{
    if (response->stream && response->stream_context_free)
        response->stream_context_free(response->stream_context);
    response->stream = NULL;
    response->stream_context = NULL;
    response->stream_context_free = NULL;
}

static void httpd_response_free(struct httpd_response *response)
{
    httpd_response_clear_body(response);
    httpd_response_clear_stream(response);
    for (int i = 0; i < response->header_count && i < HTTPD_HEADER_MAX; i++) {
        free(response->headers[i][0]);
        free(response->headers[i][1]);
        response->headers[i][0] = NULL;
        response->headers[i][1] = NULL;
    }
    response->header_count = 0;
}

/* Sends response (taking its body) on connection. Returns MHD's verdict: MHD_NO
 * makes MHD close the connection, which is all we can do if even this fails. */
static enum MHD_Result httpd_send(struct MHD_Connection *connection, const char *request_id,
                                  struct httpd_response *response)
{
    enum MHD_Result result = MHD_NO;
    struct MHD_Response *reply = NULL;
    unsigned int status = (unsigned int)response->status;

    if (response->status < 100 || response->status > 999) {
        log_error("httpd: handler set invalid status %d, answering 500", response->status);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (response->stream) {
        struct httpd_stream *stream = malloc(sizeof *stream);
        if (!stream) {
            log_error("httpd: cannot create response (out of memory)");
            goto out;
        }
        *stream = (struct httpd_stream){response->stream, response->stream_context,
                                        response->stream_context_free};
        reply = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, &httpd_stream_read,
                                                  stream, &httpd_stream_free);
        if (!reply) {
            free(stream);
            log_error("httpd: cannot create response (out of memory)");
            goto out; /* the context is still the response's: freed below */
        }
        /* MHD owns the context now. */
        response->stream = NULL;
        response->stream_context = NULL;
        response->stream_context_free = NULL;
        goto headers;
    }
    /* MHD frees the body with free() once it has been sent. */
    reply = MHD_create_response_from_buffer_with_free_callback(
        response->body_len, response->body_len ? response->body : NULL, &free);
    if (!reply) {
        log_error("httpd: cannot create response (out of memory)");
        goto out;
    }
    if (response->body_len == 0)
        free(response->body);
    response->body = NULL;
    response->body_len = 0;

headers:
    if (response->content_type[0] && MHD_add_response_header(reply, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                             response->content_type) != MHD_YES)
        log_warning("httpd: response content type rejected");
    for (int i = 0; i < response->header_count && i < HTTPD_HEADER_MAX; i++) {
        const char *name = response->headers[i][0];
        const char *value = response->headers[i][1];
        if (name && value && MHD_add_response_header(reply, name, value) != MHD_YES)
            log_warning("httpd: response header rejected (invalid name or value)");
    }
    if (request_id[0] && MHD_add_response_header(reply, "X-Request-Id", request_id) != MHD_YES)
        log_warning("httpd: request id header rejected");
    result = MHD_queue_response(connection, status, reply);
    if (result != MHD_YES)
        log_error("httpd: cannot queue response");
out:
    if (reply)
        MHD_destroy_response(reply);
    httpd_response_free(response);
    return result;
}

static enum MHD_Result httpd_send_too_large(struct httpd *httpd, struct MHD_Connection *connection,
                                            const struct httpd_exchange *exchange)
{
    struct httpd_response response;
    memset(&response, 0, sizeof response);
    httpd_response_error(&response, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large", NULL,
                         "request body exceeds %zu bytes", httpd->max_body_bytes);
    return httpd_send(connection, exchange->request_id, &response);
}

int httpd_request_id_valid(const char *text)
{
    size_t len = text ? strlen(text) : 0;
    return len > 0 && len <= HTTPD_REQUEST_ID_MAX &&
           strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* The client's X-Request-Id when sane, else a new random UUID. */
static void httpd_request_id(struct MHD_Connection *connection, char *out, size_t out_size)
{
    const char *sent = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Request-Id");
    if (httpd_request_id_valid(sent)) {
        snprintf(out, out_size, "%s", sent);
        return;
    }
    uuid_t uuid;
    char text[37];
    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, text);
    snprintf(out, out_size, "%s", text);
}

/* Parses a Content-Length value; returns false when it is not a plain decimal
 * number (MHD itself then answers 400 or treats the body as absent). */
static bool httpd_parse_content_length(const char *text, uint64_t *length)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        return false;
    *length = (uint64_t)value;
    return true;
}

/* Appends data to the exchange's body; returns false on out of memory. */
static bool httpd_exchange_append(struct httpd_exchange *exchange, const char *data, size_t size,
                                  size_t max_body_bytes)
{
    size_t needed = exchange->body_len + size + 1; /* + NUL */
    if (needed > exchange->body_capacity) {
        size_t capacity = exchange->body_capacity ? exchange->body_capacity : 4096;
        while (capacity < needed)
            capacity *= 2;
        if (capacity > max_body_bytes + 1)
            capacity = max_body_bytes + 1;
        char *body = realloc(exchange->body, capacity);
        if (!body)
            return false;
        exchange->body = body;
        exchange->body_capacity = capacity;
    }
    memcpy(exchange->body + exchange->body_len, data, size);
    exchange->body_len += size;
    exchange->body[exchange->body_len] = '\0';
    return true;
}

static enum MHD_Result httpd_call_handler(struct httpd *httpd, struct MHD_Connection *connection,
                                          const char *url, const char *method,
                                          struct httpd_exchange *exchange)
{
    struct httpd_request request = {
        .method = method,
        .path = url,
        .body = exchange->body ? exchange->body : "",
        .body_len = exchange->body_len,
        .connection = connection,
        .request_id = exchange->request_id,
    };
    struct httpd_response response;
    memset(&response, 0, sizeof response);
    response.status = MHD_HTTP_INTERNAL_SERVER_ERROR;

    httpd->handler(httpd->context, &request, &response);
    return httpd_send(connection, exchange->request_id, &response);
}

/* MHD calls this several times per request: once when the headers are in
 * (*upload_data_size == 0, *con_cls NULL), once per chunk of body, and once
 * more with *upload_data_size == 0 when the body is complete. */
static enum MHD_Result httpd_access(void *cls, struct MHD_Connection *connection, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    struct httpd *httpd = cls;
    struct httpd_exchange *exchange = *con_cls;
    (void)version;

    if (!exchange) {
        exchange = calloc(1, sizeof *exchange);
        if (!exchange) {
            log_error("httpd: out of memory for a request");
            return MHD_NO;
        }
        *con_cls = exchange;
        httpd_request_id(connection, exchange->request_id, sizeof exchange->request_id);
        /* Answering now, before the body is read, spares the client sending
         * it; MHD then closes the connection after the 413. */
        uint64_t content_length = 0;
        const char *text = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (httpd_parse_content_length(text, &content_length)) {
            if (content_length > (uint64_t)httpd->max_body_bytes) {
                exchange->too_large = true;
                return httpd_send_too_large(httpd, connection, exchange);
            }
            if (content_length > 0) {
                /* One allocation for the whole body in the usual case, but
                 * not more than HTTPD_PREALLOCATE_MAX_BYTES on the word of a
                 * header alone: a client announcing a large body and sending
                 * nothing must not reserve max_body_bytes per connection. */
                size_t capacity = content_length < HTTPD_PREALLOCATE_MAX_BYTES
                                      ? (size_t)content_length + 1
                                      : HTTPD_PREALLOCATE_MAX_BYTES + 1;
                exchange->body = malloc(capacity);
                if (!exchange->body) {
                    log_error("httpd: out of memory for a %" PRIu64 "-byte body", content_length);
                    return MHD_NO;
                }
                exchange->body_capacity = capacity;
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t size = *upload_data_size;
        *upload_data_size = 0; /* all consumed, kept or discarded */
        if (exchange->too_large) {
            exchange->discarded += size;
            size_t discard_limit = httpd->max_body_bytes > HTTPD_DISCARD_MIN_BYTES
                                       ? httpd->max_body_bytes
                                       : HTTPD_DISCARD_MIN_BYTES;
            if (exchange->discarded > discard_limit) {
                log_warning("httpd: closing connection sending an oversized body (over "
                            "%zu bytes)",
                            httpd->max_body_bytes);
                return MHD_NO;
            }
            return MHD_YES;
        }
        if (size > httpd->max_body_bytes - exchange->body_len) {
            exchange->too_large = true;
            exchange->discarded = exchange->body_len + size;
            free(exchange->body);
            exchange->body = NULL;
            exchange->body_len = 0;
            exchange->body_capacity = 0;
            return MHD_YES;
        }
        if (!httpd_exchange_append(exchange, upload_data, size, httpd->max_body_bytes)) {
            log_error("httpd: out of memory reading a request body");
            return MHD_NO;
        }
        return MHD_YES;
    }

    if (exchange->too_large)
        return httpd_send_too_large(httpd, connection, exchange);
    return httpd_call_handler(httpd, connection, url, method, exchange);
}

static void httpd_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                            enum MHD_RequestTerminationCode termination)
{
    (void)cls;
    (void)connection;
    (void)termination;
    httpd_exchange_free(*con_cls);
    *con_cls = NULL;
}

/* MHD's messages: client errors (resets, malformed requests) and start-up
 * failures. They never contain bodies; a few name the URL path. */
__attribute__((format(printf, 2, 0))) static void httpd_log_mhd(void *cls, const char *fmt,
                                                                va_list args)
{
    struct httpd *httpd = cls;
    char message[512];
    int n = vsnprintf(message, sizeof message, fmt, args);
    if (n < 0)
        return;
    size_t len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r'))
        message[--len] = '\0';

    pthread_mutex_lock(&httpd->start_lock);
    if (httpd->starting && httpd->start_error[0] == '\0')
        snprintf(httpd->start_error, sizeof httpd->start_error, "%s", message);
    pthread_mutex_unlock(&httpd->start_lock);

    log_warning("httpd: %s", message);
}

int httpd_parse_listen(const char *listen, char *host, size_t host_size, int *port, char *errstr,
                       size_t errstr_size)
{
    if (!listen || !*listen) {
        snprintf(errstr, errstr_size, "empty listen address; write HOST:PORT, e.g. 127.0.0.1:9101");
        return -1;
    }
    if (listen[0] == '[') {
        snprintf(errstr, errstr_size,
                 "listen address '%s': IPv6 is not supported; use an IPv4 address such "
                 "as 127.0.0.1:9101",
                 listen);
        return -1;
    }
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        snprintf(errstr, errstr_size,
                 "listen address '%s' has no port; write HOST:PORT, e.g. 127.0.0.1:9101", listen);
        return -1;
    }
    size_t host_len = (size_t)(colon - listen);
    if (host_len == 0) {
        snprintf(errstr, errstr_size,
                 "listen address '%s' has no host; write 127.0.0.1%s (this machine) or "
                 "0.0.0.0%s (all interfaces)",
                 listen, colon, colon);
        return -1;
    }
    if (memchr(listen, ':', host_len)) {
        snprintf(errstr, errstr_size,
                 "listen address '%s': IPv6 is not supported; use an IPv4 address such "
                 "as 127.0.0.1:9101",
                 listen);
        return -1;
    }
    if (host_len >= host_size) {
        snprintf(errstr, errstr_size, "listen address '%s': host name too long", listen);
        return -1;
    }
    const char *digits = colon + 1;
    size_t digit_count = strlen(digits);
    if (digit_count == 0 || digit_count > 5 || strspn(digits, "0123456789") != digit_count ||
        strtol(digits, NULL, 10) > 65535) {
        snprintf(errstr, errstr_size,
                 "listen address '%s': port must be a number from 0 to 65535 (0 picks a "
                 "free port)",
                 listen);
        return -1;
    }
    memcpy(host, listen, host_len);
    host[host_len] = '\0';
    *port = (int)strtol(digits, NULL, 10);
    return 0;
}

/* Fills address from an IPv4 literal or a name resolving to IPv4. */
static int httpd_resolve(const char *host, int port, struct sockaddr_in *address, char *errstr,
                         size_t errstr_size)
{
    memset(address, 0, sizeof *address);
    address->sin_family = AF_INET;
    address->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &address->sin_addr) == 1)
        return 0;

    struct addrinfo hints;
    struct addrinfo *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &found);
    if (rc != 0 || !found) {
        snprintf(errstr, errstr_size, "cannot resolve listen host '%s' to an IPv4 address: %s",
                 host, rc != 0 ? gai_strerror(rc) : "no address");
        if (found)
            freeaddrinfo(found);
        return -1;
    }
    const struct sockaddr_in *first = (const struct sockaddr_in *)(void *)found->ai_addr;
    address->sin_addr = first->sin_addr;
    freeaddrinfo(found);
    return 0;
}

struct httpd *httpd_new(const char *listen, size_t max_body_bytes, httpd_handler_fn *handler,
                        void *context, char *errstr, size_t errstr_size)
{
    struct httpd *httpd = NULL;
    char host[256];
    int port = 0;
    struct sockaddr_in address;

    if (!handler) {
        snprintf(errstr, errstr_size, "httpd_new: no handler");
        return NULL;
    }
    if (httpd_parse_listen(listen, host, sizeof host, &port, errstr, errstr_size) != 0)
        return NULL;
    if (httpd_resolve(host, port, &address, errstr, errstr_size) != 0)
        return NULL;

    httpd = calloc(1, sizeof *httpd);
    if (!httpd) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    httpd->max_body_bytes = max_body_bytes;
    httpd->handler = handler;
    httpd->context = context;
    pthread_mutex_init(&httpd->start_lock, NULL);
    httpd->starting = true;

    /* MHD_USE_AUTO picks poll() here: select() would cap descriptors at
     * FD_SETSIZE. Thread per connection needs the internal polling thread. */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    /* The logger comes first so that MHD reports errors in the options after
     * it through log.h rather than on raw stderr. */
    // clang-format off: one option and its value per line
    httpd->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, &httpd_access, httpd, MHD_OPTION_EXTERNAL_LOGGER,
        &httpd_log_mhd, (void *)httpd, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&address,
        MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_CONNECTION_TIMEOUT_SECONDS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTPD_CONNECTION_MEMORY_BYTES,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, HTTPD_LISTEN_BACKLOG, MHD_OPTION_NOTIFY_COMPLETED,
        &httpd_completed, (void *)NULL, MHD_OPTION_END);
    // clang-format on

    pthread_mutex_lock(&httpd->start_lock);
    httpd->starting = false;
    pthread_mutex_unlock(&httpd->start_lock);

    if (!httpd->daemon) {
        snprintf(errstr, errstr_size, "cannot listen on %s: %s", listen,
                 httpd->start_error[0] ? httpd->start_error : "libmicrohttpd failed to start");
        goto fail;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(httpd->daemon, MHD_DAEMON_INFO_BIND_PORT);
    httpd->port = info ? (int)info->port : port;
    return httpd;

fail:
    pthread_mutex_destroy(&httpd->start_lock);
    free(httpd);
    return NULL;
}

void httpd_destroy(struct httpd *httpd)
{
    if (!httpd)
        return;
    /* Closes the listening socket and every connection, and joins their
     * threads: a handler still running is waited for. */
    if (httpd->daemon)
        MHD_stop_daemon(httpd->daemon);
    pthread_mutex_destroy(&httpd->start_lock);
    free(httpd);
}

int httpd_port(const struct httpd *httpd)
{
    return httpd ? httpd->port : 0;
}

const char *httpd_request_header(const struct httpd_request *request, const char *name)
{
    if (!request || !request->connection || !name)
        return NULL;
    return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

const char *httpd_request_query(const struct httpd_request *request, const char *name)
{
    if (!request || !request->connection || !name)
        return NULL;
    return MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, name);
}

int httpd_request_loopback(const struct httpd_request *request)
{
    if (!request || !request->connection)
        return 0;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(request->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr || info->client_addr->sa_family != AF_INET)
        return 0; /* httpd listens on IPv4 only */
    const struct sockaddr_in *peer = (const struct sockaddr_in *)(const void *)info->client_addr;
    return (ntohl(peer->sin_addr.s_addr) >> 24) == 127;
}

static void httpd_response_set_content_type(struct httpd_response *response,
                                            const char *content_type)
{
    snprintf(response->content_type, sizeof response->content_type, "%s",
             content_type ? content_type : "");
}

void httpd_response_json(struct httpd_response *response, int status, json_t *json)
{
    static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":"
                                   "\"could not encode the response\"}}";
    char *text = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(json);

    httpd_response_clear_body(response);
    httpd_response_clear_stream(response);
    httpd_response_set_content_type(response, "application/json");
    if (!text) {
        log_error("httpd: cannot encode a JSON response, answering 500");
        httpd_response_text(response, 500, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    /* json_dumps allocates with jansson's allocator, malloc unless someone
     * calls json_set_alloc_funcs; httpd frees bodies with free(). */
    response->status = status;
    response->body = text;
    response->body_len = strlen(text);
}

void httpd_response_error(struct httpd_response *response, int status, const char *code,
                          const char *field, const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    if (n < 0)
        message[0] = '\0';

    json_t *error = json_object();
    json_t *root = json_object();
    if (!error || !root) {
        json_decref(error);
        json_decref(root);
        httpd_response_json(response, status, NULL);
        return;
    }
    json_object_set_new(error, "code", json_string(code ? code : "error"));
    json_object_set_new(error, "message", json_string(message));
    if (field)
        json_object_set_new(error, "field", json_string(field));
    json_object_set_new(root, "error", error);
    httpd_response_json(response, status, root);
}

void httpd_response_text(struct httpd_response *response, int status, const char *content_type,
                         const char *text, size_t len)
{
    httpd_response_clear_body(response);
    httpd_response_clear_stream(response);
    httpd_response_set_content_type(response, content_type);
    response->status = status;
    char *copy = malloc(len + 1);
    if (!copy) {
        log_error("httpd: out of memory for a %zu-byte response, answering 500", len);
        response->status = 500;
        return;
    }
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    response->body = copy;
    response->body_len = len;
}

void httpd_response_stream(struct httpd_response *response, int status, const char *content_type,
                           httpd_stream_fn *stream, void *context,
                           void (*context_free)(void *context))
{
    httpd_response_clear_body(response);
    httpd_response_clear_stream(response);
    httpd_response_set_content_type(response, content_type);
    response->status = status;
    response->stream = stream;
    response->stream_context = context;
    response->stream_context_free = context_free;
}

void httpd_response_header(struct httpd_response *response, const char *name, const char *value)
{
    if (!name || !value || response->header_count < 0 || response->header_count >= HTTPD_HEADER_MAX)
        return;
    char *name_copy = strdup(name);
    char *value_copy = strdup(value);
    if (!name_copy || !value_copy) {
        free(name_copy);
        free(value_copy);
        return;
    }
    response->headers[response->header_count][0] = name_copy;
    response->headers[response->header_count][1] = value_copy;
    response->header_count++;
}
