/*
 * httpd.h - a small HTTP/1.1 server on libmicrohttpd for placehub's services
 * (ingest, the embedded schema registry, the simulated partner).
 *
 * A handler is called once per request, with the whole body already read, on
 * a thread of its own (thread per connection), so it may block, e.g. until
 * Kafka acknowledged a write. Bodies larger than the configured limit are
 * answered 413 by httpd itself; the handler never sees them.
 */
#ifndef PLACEHUB_HTTPD_H
#define PLACEHUB_HTTPD_H

#include <stddef.h>
#include <jansson.h>

struct httpd;

struct httpd_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* URL path, without the query string */
    const char *body;   /* NUL-terminated; "" when there is none */
    size_t body_len;
    void *connection; /* opaque, for httpd_request_header/_query */
    /* The client's X-Request-Id when sane, else a new UUID; echoed on the
     * response by httpd. Safe to log (it is never personal data). */
    const char *request_id;
};

/* Writes the next piece of a streamed body (httpd_response_stream) into
 * buffer, at most size bytes, and returns how many: at least 1. It runs on
 * the connection's thread and may block until it has something to send.
 * HTTPD_STREAM_END ends the body cleanly; HTTPD_STREAM_ABORT closes the
 * connection without ending it. */
typedef long httpd_stream_fn(void *context, char *buffer, size_t size);
#define HTTPD_STREAM_END (-1L)
#define HTTPD_STREAM_ABORT (-2L)

struct httpd_response {
    int status;
    char *body; /* malloc'd; httpd frees it after sending */
    size_t body_len;
    char content_type[64];
    /* up to 8 extra headers, "Name: value" pairs filled by httpd_response_header */
    char *headers[8][2];
    int header_count;
    /* Set by httpd_response_stream: the body comes from stream instead. */
    httpd_stream_fn *stream;
    void *stream_context;
    void (*stream_context_free)(void *context);
};

/* Called for each request. Fill *response (status defaults to 500 and an empty
 * body if left untouched). */
typedef void httpd_handler_fn(void *context, const struct httpd_request *request,
                              struct httpd_response *response);

/* Starts a server on listen ("host:port"; port 0 picks a free one).
 * max_body_bytes bounds every request body. Returns NULL and fills errstr on
 * failure (address in use, bad address). context is borrowed. */
struct httpd *httpd_new(const char *listen, size_t max_body_bytes, httpd_handler_fn *handler,
                        void *context, char *errstr, size_t errstr_size);

/* Stops accepting, waits for running handlers, frees. NULL is ignored. */
void httpd_destroy(struct httpd *httpd);

/* The port actually bound (useful with port 0). */
int httpd_port(const struct httpd *httpd);

/* A request header (case-insensitive name) or query argument; NULL when
 * absent. The string is borrowed, valid during the handler call. */
const char *httpd_request_header(const struct httpd_request *request, const char *name);
const char *httpd_request_query(const struct httpd_request *request, const char *name);

/* 1 when the request came from a loopback address (127.0.0.0/8), else 0
 * (another address, or none known). */
int httpd_request_loopback(const struct httpd_request *request);

/* Sets status and a JSON body (compact). Takes ownership of json (decref'd). */
void httpd_response_json(struct httpd_response *response, int status, json_t *json);

/* Sets status and a JSON error body {"error": {"code": code, "message": ...,
 * "field": field}}; field may be NULL and is then omitted. */
void httpd_response_error(struct httpd_response *response, int status, const char *code,
                          const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sets status and a body copied from text with the given content type. */
void httpd_response_text(struct httpd_response *response, int status, const char *content_type,
                         const char *text, size_t len);

/* Sets status and a body of unknown length (sent chunked) that stream
 * produces piece by piece once the handler returned. Takes ownership of
 * context: context_free (may be NULL) is called once the response is done
 * with, whether it was sent, cut short or never started. */
void httpd_response_stream(struct httpd_response *response, int status, const char *content_type,
                           httpd_stream_fn *stream, void *context,
                           void (*context_free)(void *context));

/* Adds a response header (both strings copied). At most 8; extra are ignored. */
void httpd_response_header(struct httpd_response *response, const char *name, const char *value);

/* The longest X-Request-Id taken from a client. */
#define HTTPD_REQUEST_ID_MAX 64

/* 1 when text is a request id httpd takes from a client: 1-64 letters,
 * digits, '.', '_' or '-'. */
int httpd_request_id_valid(const char *text);

/* Parses "host:port" into its parts. Returns 0 or -1 with errstr. */
int httpd_parse_listen(const char *listen, char *host, size_t host_size, int *port, char *errstr,
                       size_t errstr_size);

#endif
