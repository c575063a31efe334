/*
 * transfer.c - libcurl set-up for one delivery attempt (see transfer.h).
 *
 * The response body is kept only up to max_response_bytes: a partner that
 * answers with gigabytes (or never stops) costs a bounded amount of memory,
 * and the transfer is ended once the cap is passed. The excerpt is for the
 * connector's judgement and the dead-letter record, never for logs.
 */
#include "delivery/transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/certificate.h"
#include "core/log.h"

static int transfer_number(const struct placehub_options *options, const char *partner_id,
                           const char *key, long min, long max, long *out, char *errstr,
                           size_t errstr_size)
{
    const char *text = options->get(options, key);
    if (!text)
        return 0;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!*text || *end || value < min || value > max) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.%s must be a whole number from %ld to %ld", partner_id, key,
                 min, max);
        return -1;
    }
    *out = value;
    return 0;
}

static int transfer_copy(const struct placehub_options *options, const char *key, char **out)
{
    const char *text = options->get(options, key);
    if (!text)
        return 0;
    *out = strdup(text);
    return *out ? 0 : -1;
}

int transfer_settings_load(const char *partner_id, const struct placehub_options *options,
                           struct transfer_settings *settings, char *errstr, size_t errstr_size)
{
    long max_response = 65536;
    memset(settings, 0, sizeof *settings);
    settings->connect_timeout_ms = 5000;
    settings->timeout_ms = 10000;
    settings->low_speed_bytes = 1;
    settings->low_speed_seconds = 10;
    if (transfer_number(options, partner_id, "connect_timeout_ms", 100, 600000,
                        &settings->connect_timeout_ms, errstr, errstr_size) != 0 ||
        transfer_number(options, partner_id, "timeout_ms", 100, 3600000, &settings->timeout_ms,
                        errstr, errstr_size) != 0 ||
        transfer_number(options, partner_id, "low_speed_bytes", 0, 1 << 30,
                        &settings->low_speed_bytes, errstr, errstr_size) != 0 ||
        transfer_number(options, partner_id, "low_speed_seconds", 1, 3600,
                        &settings->low_speed_seconds, errstr, errstr_size) != 0 ||
        transfer_number(options, partner_id, "max_response_bytes", 0, 16 << 20, &max_response,
                        errstr, errstr_size) != 0)
        goto fail;
    settings->max_response_bytes = (size_t)max_response;
    if (transfer_copy(options, "url", &settings->url) != 0 ||
        transfer_copy(options, "tls_ca_file", &settings->ca_file) != 0 ||
        transfer_copy(options, "tls_client_cert", &settings->client_cert) != 0 ||
        transfer_copy(options, "tls_client_key", &settings->client_key) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (!!settings->client_cert != !!settings->client_key) {
        snprintf(errstr, errstr_size,
                 "partner %s: mutual TLS needs both options.tls_client_cert and "
                 "options.tls_client_key",
                 partner_id);
        goto fail;
    }
    /* An expired certificate stops the start here, not every delivery later. */
    char reason[512];
    if (settings->client_cert && certificate_check(settings->client_cert, "options.tls_client_cert",
                                                   time(NULL), 30, reason, sizeof reason) != 0) {
        snprintf(errstr, errstr_size, "partner %s: %s", partner_id, reason);
        goto fail;
    }
    const char *insecure = options->get(options, "tls_insecure_skip_verify");
    if (insecure && strcmp(insecure, "false") != 0) {
        if (strcmp(insecure, "true") != 0) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.tls_insecure_skip_verify must be true or false",
                     partner_id);
            goto fail;
        }
        settings->insecure = 1;
        log_error("DEVELOPMENT ONLY: TLS certificate verification is OFF for partner=%s; "
                  "anyone on the network path can read and alter what it is sent",
                  partner_id);
    }
    return 0;
fail:
    transfer_settings_free(settings);
    return -1;
}

void transfer_settings_free(struct transfer_settings *settings)
{
    free(settings->url);
    free(settings->ca_file);
    free(settings->client_cert);
    free(settings->client_key);
    memset(settings, 0, sizeof *settings);
}

static size_t transfer_collect(char *data, size_t size, size_t count, void *user)
{
    struct transfer *transfer = user;
    size_t n = size * count;
    size_t room = transfer->response_cap - transfer->response_len;
    size_t keep = n < room ? n : room;
    if (keep) {
        char *grown = realloc(transfer->response, transfer->response_len + keep + 1);
        if (!grown)
            return 0;
        transfer->response = grown;
        memcpy(transfer->response + transfer->response_len, data, keep);
        transfer->response_len += keep;
        transfer->response[transfer->response_len] = '\0';
    }
    if (keep < n) {
        transfer->truncated = 1;
        return 0; /* past the cap: end the transfer, the excerpt is enough */
    }
    return n;
}

static size_t transfer_send(char *buffer, size_t size, size_t count, void *user)
{
    struct transfer *transfer = user;
    size_t room = size * count, left = transfer->upload_len - transfer->upload_pos;
    size_t n = left < room ? left : room;
    memcpy(buffer, transfer->upload + transfer->upload_pos, n);
    transfer->upload_pos += n;
    return n;
}

int transfer_setup(struct transfer *transfer, CURL *easy, const struct transfer_settings *settings,
                   const struct placehub_delivery *delivery, const struct placehub_request *request,
                   const char *auth_header, char *errstr, size_t errstr_size)
{
    char line[256];
    const char *url = request->url ? request->url : settings->url;
    if (!url) {
        snprintf(errstr, errstr_size, "partner %s: no url (set options.url)", delivery->partner_id);
        return -1;
    }
    transfer->easy = easy;
    transfer->response_cap = settings->max_response_bytes;
    transfer->response = NULL; /* grown as the answer comes: most are tiny */
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, settings->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, settings->timeout_ms);
    if (settings->low_speed_bytes > 0) {
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, settings->low_speed_bytes);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, settings->low_speed_seconds);
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, transfer_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, settings->insecure ? 0L : 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, settings->insecure ? 0L : 2L);
    if (settings->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, settings->ca_file);
    if (settings->client_cert) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, settings->client_cert);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, settings->client_key);
    }
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");

    if (strncmp(url, "smtp://", 7) == 0 || strncmp(url, "smtps://", 8) == 0) {
        const struct placehub_mail_envelope *mail = request->mail;
        if (!mail || !mail->from || mail->recipient_count == 0) {
            snprintf(errstr, errstr_size,
                     "partner %s: a mail needs an envelope with a sender and a recipient",
                     delivery->partner_id);
            return -1;
        }
        curl_easy_setopt(easy, CURLOPT_MAIL_FROM, mail->from);
        for (size_t i = 0; i < mail->recipient_count && i < PLACEHUB_MAX_RECIPIENTS; i++)
            transfer->recipients = curl_slist_append(transfer->recipients, mail->recipients[i]);
        curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, transfer->recipients);
        /* STARTTLS is required on smtp:// too: a mail carrying health data
         * must not cross the network in the clear. */
        curl_easy_setopt(easy, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        transfer->upload = request->body;
        transfer->upload_len = request->body_len;
        curl_easy_setopt(easy, CURLOPT_READFUNCTION, transfer_send);
        curl_easy_setopt(easy, CURLOPT_READDATA, transfer);
        curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)request->body_len);
        return 0;
    }

    for (size_t i = 0; i < request->header_count && i < PLACEHUB_MAX_HEADERS; i++)
        transfer->headers = curl_slist_append(transfer->headers, request->headers[i]);
    snprintf(line, sizeof line, "Idempotency-Key: %s", delivery->event_id);
    transfer->headers = curl_slist_append(transfer->headers, line);
    if (auth_header && *auth_header)
        transfer->headers = curl_slist_append(transfer->headers, auth_header);
    transfer->headers = curl_slist_append(transfer->headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request->method ? request->method : "POST");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request->body ? request->body : "");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_len);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* IMPORTANT: waiting for a connection that may multiplex only pays over
     * TLS, where HTTP/2 is negotiated; on http:// it would queue every
     * request behind one HTTP/1.1 connection. */
    if (strncmp(url, "https://", 8) == 0)
        curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "placehub/1");
    return 0;
}

void transfer_finish(struct transfer *transfer, CURLcode code, struct placehub_response *response,
                     struct placehub_outcome *outcome, long *retry_after_ms)
{
    long status = 0;
    char *content_type = NULL;
    memset(response, 0, sizeof *response);
    memset(outcome, 0, sizeof *outcome);
    *retry_after_ms = 0;
    curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(transfer->easy, CURLINFO_CONTENT_TYPE, &content_type);
    response->status = (int)status;
    response->body = transfer->response ? transfer->response : "";
    response->body_len = transfer->response_len;
    response->content_type = content_type;
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(transfer->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0)
        *retry_after_ms = retry_after > 86400 ? 86400000L : (long)retry_after * 1000;

    /* A response cut at the cap still has its status: judge by that. */
    int cut_at_cap = code == CURLE_WRITE_ERROR && transfer->truncated;
    if (code != CURLE_OK && !cut_at_cap) {
        outcome->result = PLACEHUB_RETRY;
        snprintf(outcome->reason, sizeof outcome->reason, "%s", curl_easy_strerror(code));
        return;
    }
    int mail = status >= 200 && status < 600 && transfer->recipients != NULL;
    if ((mail && status == 250) || (!mail && status >= 200 && status < 300)) {
        outcome->result = PLACEHUB_DELIVERED;
    } else if (status == 408 || status == 429 || status >= 500 ||
               (mail && status >= 400 && status < 500)) {
        /* SMTP 4xx is a transient failure, as HTTP 5xx is. */
        outcome->result = PLACEHUB_RETRY;
        snprintf(outcome->reason, sizeof outcome->reason, "%s %ld", mail ? "SMTP" : "HTTP", status);
    } else {
        outcome->result = PLACEHUB_REJECTED;
        snprintf(outcome->reason, sizeof outcome->reason, "%s %ld", mail ? "SMTP" : "HTTP", status);
    }
}

void transfer_cleanup(struct transfer *transfer)
{
    curl_slist_free_all(transfer->headers);
    curl_slist_free_all(transfer->recipients);
    free(transfer->response);
    memset(transfer, 0, sizeof *transfer);
}
