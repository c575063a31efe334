/*
 * transfer.h - performs what a connector prepared: sets up a libcurl easy
 * handle for a struct placehub_request with the partner's transport settings,
 * collects the answer, and applies the host's default judgement.
 *
 * Always: TLS certificates verified (unless the partner's explicit
 * development flag says otherwise, logged loudly at start-up), no redirects,
 * connect/total/low-speed timeouts, the response read up to a cap, the event
 * id sent as Idempotency-Key.
 */
#ifndef PLACEHUB_TRANSFER_H
#define PLACEHUB_TRANSFER_H

#include <curl/curl.h>
#include <stddef.h>
#include "placehub/connector.h"

/* A partner's transport settings, from its connector options:
 *   url, connect_timeout_ms (5000), timeout_ms (10000),
 *   low_speed_bytes (1) + low_speed_seconds (10): abort slower transfers,
 *   max_response_bytes (65536), tls_ca_file, tls_client_cert, tls_client_key,
 *   tls_insecure_skip_verify (false; development only). */
struct transfer_settings {
    char *url;
    long connect_timeout_ms;
    long timeout_ms;
    long low_speed_bytes;
    long low_speed_seconds;
    size_t max_response_bytes;
    char *ca_file;
    char *client_cert;
    char *client_key;
    int insecure;
};

/* Reads the settings from options. Returns 0, or -1 with errstr naming the
 * option at fault. Free with transfer_settings_free. */
int transfer_settings_load(const char *partner_id, const struct placehub_options *options,
                           struct transfer_settings *settings, char *errstr, size_t errstr_size);
void transfer_settings_free(struct transfer_settings *settings);

/* One transfer in progress. Zero it before transfer_setup. */
struct transfer {
    CURL *easy; /* borrowed */
    struct curl_slist *headers;
    struct curl_slist *recipients;
    const unsigned char *upload;
    size_t upload_len, upload_pos;
    char *response;
    size_t response_len, response_cap;
    int truncated;
    char error[CURL_ERROR_SIZE];
};

/* Prepares easy (reset first) to send request for delivery with settings:
 * an HTTP request, or, for an smtp(s):// url, a mail to request->mail's
 * envelope (refused without one). auth_header is a complete header line
 * ("Authorization: Bearer ...") or NULL (not used for mail). Everything
 * request points to must stay valid until the transfer is finished.
 * Returns 0, or -1 with errstr. */
int transfer_setup(struct transfer *transfer, CURL *easy, const struct transfer_settings *settings,
                   const struct placehub_delivery *delivery, const struct placehub_request *request,
                   const char *auth_header, char *errstr, size_t errstr_size);

/* After the transfer ended with code: fills response (borrowing from
 * transfer) and outcome with the host's default judgement, the one a
 * connector's classify() receives pre-filled: 2xx (250 for mail)
 * delivered; 408, 429, 5xx, SMTP 4xx and transport failures retried; any
 * other status rejected. The 401 rule (REJECTED turned into RETRY with a
 * token refresh) is the caller's, after classify(). Fills *retry_after_ms
 * with the partner's Retry-After (0 when none). */
void transfer_finish(struct transfer *transfer, CURLcode code, struct placehub_response *response,
                     struct placehub_outcome *outcome, long *retry_after_ms);

/* Frees what transfer_setup allocated (not the easy handle). */
void transfer_cleanup(struct transfer *transfer);

#endif
