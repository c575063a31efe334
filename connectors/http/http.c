/*
 * http.c - the built-in `http` connector: a partner with a JSON or form API
 * set up in the configuration alone (docs/connectors.md, "http"). Method,
 * URL template, headers, body (the event as it is, a JSON template or a
 * form), HMAC signing and an answer map, all options; authentication
 * (bearer, API key, OAuth2, mutual TLS) is the host's, as for every
 * connector (docs/auth.md).
 *
 * create checks the options and builds the instance; prepare renders the
 * templates for each event; classify applies the answer map. Templates are
 * checked here for syntax only. Which fields they may name is
 * the host's to check against the partner's agreements at start-up
 * (lib/delivery/templates.c), since a connector never sees the agreements.
 *
 * Ownership: create copies every option it keeps (options are borrowed) and
 * resolves secrets once (signing key, secret header values), wiping them
 * in destroy. Nothing request-specific lives in the instance.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/template.h"
#include "placehub/connector.h"

#define HTTP_MAX_HEADERS 24 /* of the partner's; the connector adds two, the host two */
#define HTTP_MAX_ANSWERS 64
#define HTTP_SECRET_MAX 4096
#define HTTP_HEADER_NAME_MAX 64

enum http_body {
    HTTP_BODY_EVENT = 0, /* the event's JSON as it is */
    HTTP_BODY_JSON,      /* body_template rendered as JSON */
    HTTP_BODY_FORM       /* body_template rendered as application/x-www-form-urlencoded */
};

struct http_header {
    char name[HTTP_HEADER_NAME_MAX];
    struct template value; /* empty when secret is set */
    char *secret;          /* resolved from env:/file: at create; wiped at destroy */
};

struct http_answer {
    int status;
    enum placehub_result result;
};

struct http {
    const struct placehub_host *host;
    char *partner_id;
    const char *method; /* a literal: POST, PUT or PATCH */
    struct template url;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t header_count;
    int has_content_type; /* the partner's headers set Content-Type */
    enum http_body body;
    json_t *body_template; /* owned; NULL for HTTP_BODY_EVENT */
    struct http_answer answers[HTTP_MAX_ANSWERS];
    size_t answer_count;
    unsigned char signing_key[HTTP_SECRET_MAX]; /* wiped at destroy */
    size_t signing_key_len;                     /* 0: requests are not signed */
    char signing_header[HTTP_HEADER_NAME_MAX];
};

static const struct placehub_option http_options[] = {
    {"url", PLACEHUB_OPTION_URL, 1, 0,
     "URL template, e.g. https://api.example/people/{pseudonym}/episodes/{event_id}"},
    {"method", PLACEHUB_OPTION_STRING, 0, 0, "POST (default), PUT or PATCH"},
    {"headers", PLACEHUB_OPTION_STRING, 0, 0,
     "mapping of header names to value templates or env:/file: secret references"},
    {"body", PLACEHUB_OPTION_STRING, 0, 0,
     "event (default), json or form (json when body_template is given)"},
    {"body_template", PLACEHUB_OPTION_STRING, 0, 0,
     "mapping whose string values may be {field.path} references"},
    {"answers", PLACEHUB_OPTION_STRING, 0, 0,
     "mapping of HTTP status to delivered, retry or dead_letter"},
    {"signing_key", PLACEHUB_OPTION_SECRET_REFERENCE, 0, 1,
     "HMAC-SHA256 key for a signature header, env:NAME or file:/path"},
    {"signing_header", PLACEHUB_OPTION_STRING, 0, 0,
     "header carrying the signature (default X-Signature)"},
    {0},
};

/* Headers the host or this connector sets, which a partner's may not. */
static const char *const http_reserved_headers[] = {
    "content-length", "host", "transfer-encoding", "idempotency-key", "expect", "connection", NULL,
};

/* Words in a header name that say its value is a credential (the test
 * kit redacts the same). */
static const char *const http_secret_words[] = {
    "auth", "cookie", "key", "token", "secret", "password", "credential", "signature", NULL,
};

static int http_is_reference(const char *text)
{
    return (strncmp(text, "env:", 4) == 0 && text[4]) ||
           (strncmp(text, "file:", 5) == 0 && text[5]);
}

/* Does name hold one of words, in any case? (strcasestr: _GNU_SOURCE) */
static int http_name_has(const char *name, const char *const *words)
{
    for (const char *const *word = words; *word; word++)
        if (strcasestr(name, *word))
            return 1;
    return 0;
}

static int http_name_is(const char *name, const char *const *names)
{
    for (const char *const *each = names; *each; each++)
        if (strcasecmp(name, *each) == 0)
            return 1;
    return 0;
}

/* An HTTP token (RFC 9110): what a header name may be made of. */
static int http_token_valid(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len < HTTP_HEADER_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "!#$%&'*+-.^_`|~") == len;
}

static int http_method(struct http *http, const char *value, char *errstr, size_t errstr_size)
{
    static const char *const methods[] = {"POST", "PUT", "PATCH"};
    http->method = "POST";
    if (!value)
        return 0;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(value, methods[i]) == 0) {
            http->method = methods[i];
            return 0;
        }
    snprintf(errstr, errstr_size,
             "options.method must be POST, PUT or PATCH (in capitals), not '%.32s'", value);
    return -1;
}

/* The URL template: http(s), and placeholders only after the host, so an
 * event's values can never choose where it goes. */
static int http_url(struct http *http, const char *value, char *errstr, size_t errstr_size)
{
    char problem[256];
    if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
        snprintf(errstr, errstr_size, "options.url must start http:// or https://");
        return -1;
    }
    if (template_parse(value, &http->url, problem, sizeof problem) != 0) {
        snprintf(errstr, errstr_size, "options.url: %s", problem);
        return -1;
    }
    const struct template_part *first = &http->url.parts[0];
    const char *host = first->is_name ? NULL : strstr(first->text, "://");
    if (http->url.count > 1 && (!host || !strchr(host + 3, '/'))) {
        snprintf(errstr, errstr_size,
                 "options.url: placeholders may stand only in the path and query, after "
                 "'scheme://host/': an event must never choose where it is sent");
        return -1;
    }
    return 0;
}

/* A JSON object given as a YAML mapping (or JSON text): new reference. */
static json_t *http_mapping(const char *key, const char *value, int arrays_too, char *errstr,
                            size_t errstr_size)
{
    json_t *json = json_loads(value, JSON_DECODE_ANY, NULL);
    if (!json || !(json_is_object(json) || (arrays_too && json_is_array(json)))) {
        json_decref(json);
        snprintf(errstr, errstr_size,
                 "options.%s must be a mapping (indented under it in the YAML, or JSON text)", key);
        return NULL;
    }
    return json;
}

static int http_header_add(struct http *http, const char *name, json_t *value, char *errstr,
                           size_t errstr_size)
{
    char problem[256];
    if (!http_token_valid(name) || http_name_is(name, http_reserved_headers)) {
        snprintf(errstr, errstr_size,
                 "options.headers: '%.64s' is not a header a partner's configuration may set "
                 "(a valid name, not one the host sets: Content-Length, Host, Idempotency-Key...)",
                 name);
        return -1;
    }
    if (http->header_count == HTTP_MAX_HEADERS) {
        snprintf(errstr, errstr_size, "options.headers: at most %d headers", HTTP_MAX_HEADERS);
        return -1;
    }
    char number[64];
    const char *text = template_scalar_text(value, number, sizeof number);
    if (!text) {
        snprintf(errstr, errstr_size, "options.headers.%s must be a single value", name);
        return -1;
    }
    struct http_header *header = &http->headers[http->header_count];
    snprintf(header->name, sizeof header->name, "%s", name);
    if (http_is_reference(text)) {
        char secret[HTTP_SECRET_MAX];
        if (http->host->secret(text, secret, sizeof secret, problem, sizeof problem) != 0) {
            snprintf(errstr, errstr_size, "options.headers.%s: %s", name, problem);
            return -1;
        }
        header->secret = strdup(secret);
        explicit_bzero(secret, sizeof secret);
        if (!header->secret || strpbrk(header->secret, "\r\n")) {
            snprintf(errstr, errstr_size, "options.headers.%s: the secret %s", name,
                     header->secret ? "holds a line end" : "cannot be kept: out of memory");
            return -1;
        }
        http->header_count++;
        return 0;
    }
    /* Never repeat the value: it may be the secret itself. */
    if (http_name_has(name, http_secret_words) || strncasecmp(text, "bearer ", 7) == 0 ||
        strncasecmp(text, "basic ", 6) == 0) {
        snprintf(errstr, errstr_size,
                 "options.headers.%s looks like a credential: name the secret as env:NAME or "
                 "file:/path (a secret is never written in the configuration), or use auth: "
                 "bearer / api_key / oauth2 (docs/auth.md)",
                 name);
        return -1;
    }
    if (strpbrk(text, "\r\n") ||
        template_parse(text, &header->value, problem, sizeof problem) != 0) {
        snprintf(errstr, errstr_size, "options.headers.%s: %s", name,
                 strpbrk(text, "\r\n") ? "a value may not hold a line end" : problem);
        return -1;
    }
    if (strcasecmp(name, "content-type") == 0)
        http->has_content_type = 1;
    http->header_count++;
    return 0;
}

static int http_headers(struct http *http, const char *value, char *errstr, size_t errstr_size)
{
    if (!value)
        return 0;
    json_t *json = http_mapping("headers", value, 0, errstr, errstr_size);
    if (!json)
        return -1;
    const char *name;
    json_t *item;
    int rc = 0;
    json_object_foreach(json, name, item)
    {
        if ((rc = http_header_add(http, name, item, errstr, errstr_size)) != 0)
            break;
    }
    json_decref(json);
    return rc;
}

/* Names are the host's to check, against the agreements. */
static int http_any_name(void *arg, const char *name, const char *path)
{
    (void)arg, (void)name, (void)path;
    return 0;
}

/* A form's values must be single values: a form has no nesting. */
static int http_form_check(const json_t *json, char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *value;
    if (!json_is_object(json)) {
        snprintf(errstr, errstr_size,
                 "options.body_template: a form is a mapping of names to values");
        return -1;
    }
    json_object_foreach((json_t *)json, key, value)
    {
        if (json_is_object(value) || json_is_array(value)) {
            snprintf(errstr, errstr_size,
                     "options.body_template.%s: a form field is a single value (body: form has "
                     "no nesting; use body: json for nested fields)",
                     key);
            return -1;
        }
    }
    return 0;
}

static int http_body(struct http *http, const struct placehub_options *options, char *errstr,
                     size_t errstr_size)
{
    const char *body = options->get(options, "body");
    const char *template = options->get(options, "body_template");
    char problem[320];
    if (!body)
        body = template ? "json" : "event";
    if (strcmp(body, "event") == 0) {
        http->body = HTTP_BODY_EVENT;
    } else if (strcmp(body, "json") == 0 || strcmp(body, "form") == 0) {
        http->body = body[0] == 'j' ? HTTP_BODY_JSON : HTTP_BODY_FORM;
    } else {
        snprintf(errstr, errstr_size, "options.body must be event, json or form, not '%.32s'",
                 body);
        return -1;
    }
    if ((http->body == HTTP_BODY_EVENT) != !template) {
        snprintf(errstr, errstr_size,
                 http->body == HTTP_BODY_EVENT
                     ? "options.body_template is given but options.body is event (the event as "
                       "it is): remove one"
                     : "options.body: %s needs options.body_template (the fields to send)",
                 body);
        return -1;
    }
    if (!template)
        return 0;
    http->body_template =
        http_mapping("body_template", template, http->body == HTTP_BODY_JSON, errstr, errstr_size);
    if (!http->body_template ||
        (http->body == HTTP_BODY_FORM && http_form_check(http->body_template, errstr, errstr_size)))
        return -1;
    if (template_json_names(http->body_template, http_any_name, NULL, problem, sizeof problem)) {
        snprintf(errstr, errstr_size, "options.body_template.%s", problem);
        return -1;
    }
    return 0;
}

/* The outcome a word names, or -1. */
static int http_outcome(const char *word)
{
    if (strcmp(word, "delivered") == 0)
        return PLACEHUB_DELIVERED;
    if (strcmp(word, "retry") == 0)
        return PLACEHUB_RETRY;
    if (strcmp(word, "dead_letter") == 0 || strcmp(word, "dead-letter") == 0)
        return PLACEHUB_REJECTED;
    return -1;
}

static int http_answers(struct http *http, const char *value, char *errstr, size_t errstr_size)
{
    if (!value)
        return 0;
    json_t *json = http_mapping("answers", value, 0, errstr, errstr_size);
    if (!json)
        return -1;
    const char *status;
    json_t *item;
    json_object_foreach(json, status, item)
    {
        int code = strspn(status, "0123456789") == 3 && !status[3] ? atoi(status) : 0;
        int result = json_is_string(item) ? http_outcome(json_string_value(item)) : -1;
        if (code < 100 || code > 599 || result < 0 || http->answer_count == HTTP_MAX_ANSWERS) {
            if (code < 100 || code > 599)
                snprintf(errstr, errstr_size,
                         "options.answers: '%.16s' is not an HTTP status: write a number from "
                         "100 to 599",
                         status);
            else if (result < 0)
                snprintf(errstr, errstr_size,
                         "options.answers.%s: unknown outcome; write delivered, retry or "
                         "dead_letter",
                         status);
            else
                snprintf(errstr, errstr_size, "options.answers: at most %d statuses",
                         HTTP_MAX_ANSWERS);
            json_decref(json);
            return -1;
        }
        http->answers[http->answer_count].status = code;
        http->answers[http->answer_count].result = (enum placehub_result)result;
        http->answer_count++;
    }
    json_decref(json);
    return 0;
}

static int http_signing(struct http *http, const struct placehub_options *options, char *errstr,
                        size_t errstr_size)
{
    const char *key = options->get(options, "signing_key");
    const char *header = options->get(options, "signing_header");
    char problem[256];
    if (header && !key) {
        snprintf(errstr, errstr_size,
                 "options.signing_header is given without options.signing_key");
        return -1;
    }
    snprintf(http->signing_header, sizeof http->signing_header, "%s",
             header ? header : "X-Signature");
    if (header && (!http_token_valid(header) || http_name_is(header, http_reserved_headers))) {
        snprintf(errstr, errstr_size,
                 "options.signing_header must be a header name, e.g. X-Signature");
        return -1;
    }
    if (!key)
        return 0;
    char secret[HTTP_SECRET_MAX];
    if (http->host->secret(key, secret, sizeof secret, problem, sizeof problem) != 0) {
        snprintf(errstr, errstr_size, "options.signing_key: %s", problem);
        return -1;
    }
    http->signing_key_len = strlen(secret);
    memcpy(http->signing_key, secret, http->signing_key_len);
    explicit_bzero(secret, sizeof secret);
    if (http->signing_key_len < 16) {
        snprintf(errstr, errstr_size,
                 "options.signing_key holds %zu bytes; it needs at least 16 (e.g. the output of "
                 "openssl rand -hex 32)",
                 http->signing_key_len);
        return -1;
    }
    return 0;
}

static void http_destroy(void *instance)
{
    struct http *http = instance;
    if (!http)
        return;
    for (size_t i = 0; i < http->header_count + (http->header_count < HTTP_MAX_HEADERS); i++) {
        template_free(&http->headers[i].value);
        if (http->headers[i].secret) {
            explicit_bzero(http->headers[i].secret, strlen(http->headers[i].secret));
            free(http->headers[i].secret);
        }
    }
    template_free(&http->url);
    json_decref(http->body_template);
    explicit_bzero(http->signing_key, sizeof http->signing_key);
    free(http->partner_id);
    free(http);
}

static int http_create(const struct placehub_host *host, const char *partner_id,
                       const struct placehub_options *options, void **instance, char *errstr,
                       size_t errstr_size)
{
    *instance = NULL;
    struct http *http = calloc(1, sizeof *http);
    if (!http || !(http->partner_id = strdup(partner_id))) {
        free(http);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    http->host = host;
    const char *url = options->get(options, "url");
    if (!url) {
        snprintf(errstr, errstr_size, "options.url is required (the URL template)");
        goto fail;
    }
    if (http_method(http, options->get(options, "method"), errstr, errstr_size) != 0 ||
        http_url(http, url, errstr, errstr_size) != 0 ||
        http_headers(http, options->get(options, "headers"), errstr, errstr_size) != 0 ||
        http_body(http, options, errstr, errstr_size) != 0 ||
        http_answers(http, options->get(options, "answers"), errstr, errstr_size) != 0 ||
        http_signing(http, options, errstr, errstr_size) != 0)
        goto fail;
    host->log(PLACEHUB_LOG_INFO,
              "http connector partner=%s method=%s headers=%zu answers=%zu signed=%s", partner_id,
              http->method, http->header_count, http->answer_count,
              http->signing_key_len ? "yes" : "no");
    *instance = http;
    return 0;
fail:
    http_destroy(http);
    return -1;
}

/* ---- one request: the templates rendered over one event ---------------- */

struct http_request {
    char *url;
    char *body; /* NULL: the event's own body is sent */
    char *lines[HTTP_MAX_HEADERS + 2];
    size_t line_count;
};

/* How a placeholder's value is written where it stands. */
enum http_encoding {
    HTTP_AS_TEXT = 0, /* inside a JSON string: as it is (jansson escapes the whole) */
    HTTP_AS_URL,      /* percent-encoded: only unreserved characters stay */
    HTTP_AS_FORM,     /* the same, for application/x-www-form-urlencoded */
    HTTP_AS_HEADER    /* as it is; control characters refuse the event */
};

struct http_render {
    const struct http *http;
    const struct placehub_delivery *delivery;
    json_t *event;
    enum http_encoding encoding;
    char missing[TEMPLATE_NAME_MAX + 1]; /* the placeholder that had no usable value */
    int failed;                          /* out of memory, or a value that cannot be sent */
};

/* The value a name stands for, as a new reference, or NULL when the event
 * has none. Well-known names first (event_id, topic, partner_id, pseudonym),
 * then a field path of the event as cut to the partner's agreement
 * (event_type there is the event's own: ADMITTED, REFERRAL_SENT, ...). */
static json_t *http_value(const struct http_render *render, const char *name)
{
    if (strcmp(name, "event_id") == 0)
        return json_string(render->delivery->event_id);
    if (strcmp(name, "topic") == 0)
        return json_string(render->delivery->event_type);
    if (strcmp(name, "partner_id") == 0)
        return json_string(render->http->partner_id);
    json_t *value =
        template_lookup(render->event, strcmp(name, "pseudonym") == 0 ? "person.pseudonym" : name);
    return json_incref(value);
}

static void http_append_encoded(struct text *out, const char *text, enum http_encoding encoding)
{
    if (encoding == HTTP_AS_TEXT || encoding == HTTP_AS_HEADER)
        text_append(out, text, strlen(text));
    else
        template_append_percent(out, text);
}

/* template_render's value function. */
static int http_render_value(void *arg, const char *name, struct text *out)
{
    struct http_render *render = arg;
    char number[64];
    json_t *value = http_value(render, name);
    const char *text = value ? template_scalar_text(value, number, sizeof number) : NULL;
    int rc = -1;
    if (!text) {
        snprintf(render->missing, sizeof render->missing, "%s", name);
    } else if (render->encoding == HTTP_AS_HEADER && strpbrk(text, "\r\n\t\x7f")) {
        snprintf(render->missing, sizeof render->missing, "%s", name);
        render->failed = 1; /* a value that would end the header line: never sendable */
    } else {
        http_append_encoded(out, text, render->encoding);
        rc = 0;
    }
    json_decref(value);
    return rc;
}

/* A string of a JSON template: NULL leaves it out (a placeholder with no
 * value); render->failed on out of memory. */
static json_t *http_render_string(struct http_render *render, const char *text)
{
    struct template template;
    char problem[256];
    json_t *result = NULL;
    if (template_parse(text, &template, problem, sizeof problem) != 0) {
        render->failed = 1; /* checked at create: out of memory */
        return NULL;
    }
    if (template_is_single(&template)) {
        result = http_value(render, template.parts[0].text);
    } else {
        struct text out = {0};
        render->encoding = HTTP_AS_TEXT; /* a form is encoded as a whole, later */
        if (template_render(&template, &out, http_render_value, render) == 0)
            result = json_stringn(out.data ? out.data : "", out.len);
        else if (out.failed)
            render->failed = 1;
        free(out.data);
    }
    template_free(&template);
    return result;
}

static json_t *http_render_leaf(void *arg, const char *text, int *failed)
{
    struct http_render *render = arg;
    json_t *result = http_render_string(render, text);
    *failed = render->failed;
    return result;
}

/* The form body: name=value pairs, a pair left out when its value is. */
static char *http_render_form(struct http_render *render, const json_t *rendered)
{
    struct text out = {0};
    const char *key;
    json_t *value;
    char number[64];
    json_object_foreach((json_t *)rendered, key, value)
    {
        const char *text = template_scalar_text(value, number, sizeof number);
        if (!text)
            continue; /* null: as if absent */
        if (out.len)
            text_append(&out, "&", 1);
        http_append_encoded(&out, key, HTTP_AS_FORM);
        text_append(&out, "=", 1);
        http_append_encoded(&out, text, HTTP_AS_FORM);
    }
    text_append(&out, "", 0);
    if (out.failed || !out.data) {
        free(out.data);
        render->failed = 1;
        return out.failed ? NULL : strdup("");
    }
    return out.data;
}

static int http_render_body(struct http_render *render, struct http_request *context, char *errstr,
                            size_t errstr_size)
{
    if (render->http->body == HTTP_BODY_EVENT)
        return 0;
    render->encoding = HTTP_AS_TEXT;
    json_t *rendered = template_render_json(render->http->body_template, http_render_leaf, render);
    if (rendered && render->http->body == HTTP_BODY_FORM) {
        render->failed = 0;
        context->body = http_render_form(render, rendered);
    } else if (rendered) {
        context->body = json_dumps(rendered, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    }
    json_decref(rendered);
    if (!context->body) {
        snprintf(errstr, errstr_size, "out of memory rendering the body");
        return -1;
    }
    return 0;
}

/* A header line into the request, "Name: value". */
static int http_add_line(struct http_request *context, const char *name, const char *value)
{
    struct text line = {0};
    text_append(&line, name, strlen(name));
    text_append(&line, ": ", 2);
    text_append(&line, value, strlen(value));
    if (line.failed || context->line_count == HTTP_MAX_HEADERS + 2) {
        free(line.data);
        return -1;
    }
    context->lines[context->line_count++] = line.data;
    return 0;
}

static int http_render_headers(struct http_render *render, struct http_request *context,
                               char *errstr, size_t errstr_size)
{
    const struct http *http = render->http;
    for (size_t i = 0; i < http->header_count; i++) {
        const struct http_header *header = &http->headers[i];
        if (header->secret) {
            if (http_add_line(context, header->name, header->secret) != 0)
                goto oom;
            continue;
        }
        struct text value = {0};
        render->encoding = HTTP_AS_HEADER;
        int rc = template_render(&header->value, &value, http_render_value, render);
        text_append(&value, "", 0);
        if (rc != 0 || value.failed) {
            free(value.data);
            if (value.failed)
                goto oom;
            snprintf(errstr, errstr_size,
                     "options.headers.%s: the event has no %s value for {%s}, so the header "
                     "cannot be written",
                     header->name, render->failed ? "single-line" : "single", render->missing);
            return -1;
        }
        rc = http_add_line(context, header->name, value.data ? value.data : "");
        free(value.data);
        if (rc != 0)
            goto oom;
    }
    if (!http->has_content_type &&
        http_add_line(context, "Content-Type",
                      http->body == HTTP_BODY_FORM ? "application/x-www-form-urlencoded"
                                                   : "application/json") != 0)
        goto oom;
    return 0;
oom:
    snprintf(errstr, errstr_size, "out of memory writing headers");
    return -1;
}

/* "t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>". */
static int http_sign(const struct http *http, struct http_request *context, const char *body,
                     size_t body_len)
{
    char stamp[32], hex[65], value[128];
    unsigned char mac[32];
    snprintf(stamp, sizeof stamp, "%lld", (long long)(http->host->now_millis() / 1000));
    struct text signed_text = {0};
    text_append(&signed_text, stamp, strlen(stamp));
    text_append(&signed_text, ".", 1);
    text_append(&signed_text, body, body_len);
    int rc =
        signed_text.failed || http->host->hmac_sha256(http->signing_key, http->signing_key_len,
                                                      signed_text.data, signed_text.len, mac) != 0
            ? -1
            : 0;
    free(signed_text.data);
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < sizeof mac; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(value, sizeof value, "t=%s,v1=%s", stamp, hex);
    return http_add_line(context, http->signing_header, value);
}

static void http_release(void *instance, struct placehub_request *request)
{
    (void)instance;
    struct http_request *context = request->context;
    if (!context)
        return;
    free(context->url);
    free(context->body);
    for (size_t i = 0; i < context->line_count; i++)
        free(context->lines[i]);
    free(context);
    request->context = NULL;
}

static int http_prepare(void *instance, const struct placehub_delivery *delivery,
                        struct placehub_request *request, char *errstr, size_t errstr_size)
{
    const struct http *http = instance;
    struct http_request *context = calloc(1, sizeof *context);
    struct http_render render = {.http = http, .delivery = delivery};
    struct text url = {0};
    request->context = context;
    render.event = json_loadb(delivery->body, delivery->body_len, 0, NULL);
    if (!context || !render.event) {
        snprintf(errstr, errstr_size, context ? "the event is not JSON" : "out of memory");
        goto fail;
    }
    render.encoding = HTTP_AS_URL;
    if (template_render(&http->url, &url, http_render_value, &render) != 0) {
        if (url.failed)
            snprintf(errstr, errstr_size, "out of memory writing the url");
        else
            snprintf(errstr, errstr_size,
                     "options.url: the event has no single value for {%s} (absent, null, or a "
                     "record), so it cannot be sent to this partner",
                     render.missing);
        goto fail;
    }
    text_append(&url, "", 0);
    context->url = url.data;
    url.data = NULL;
    if (http_render_body(&render, context, errstr, errstr_size) != 0 ||
        http_render_headers(&render, context, errstr, errstr_size) != 0)
        goto fail;
    const char *body = context->body ? context->body : delivery->body;
    size_t body_len = context->body ? strlen(context->body) : delivery->body_len;
    if (http->signing_key_len && http_sign(http, context, body, body_len) != 0) {
        snprintf(errstr, errstr_size, "cannot sign the request");
        goto fail;
    }
    json_decref(render.event);
    request->url = context->url;
    request->method = http->method;
    request->body = body;
    request->body_len = body_len;
    for (size_t i = 0; i < context->line_count; i++)
        request->headers[i] = context->lines[i];
    request->header_count = context->line_count;
    return 0;
fail:
    free(url.data);
    json_decref(render.event);
    http_release(instance, request);
    return -1;
}

/* The answer map over the host's judgement (2xx delivered; 408, 429, 5xx
 * retried; other statuses dead-lettered). Transport failures (status 0)
 * are the host's. */
static void http_classify(void *instance, const struct placehub_delivery *delivery,
                          const struct placehub_response *response,
                          struct placehub_outcome *outcome)
{
    static const char *const words[] = {"delivered", "retry", "dead_letter"};
    const struct http *http = instance;
    (void)delivery;
    for (size_t i = 0; i < http->answer_count; i++)
        if (http->answers[i].status == response->status) {
            outcome->result = http->answers[i].result;
            snprintf(outcome->reason, sizeof outcome->reason, "HTTP %d (answers: %s)",
                     response->status, words[http->answers[i].result]);
            return;
        }
}

const struct placehub_connector_type placehub_connector_http = {
    PLACEHUB_CONNECTOR_VERSION, .name = "http",          .options = http_options,
    .create = http_create,      .prepare = http_prepare, .classify = http_classify,
    .release = http_release,    .destroy = http_destroy,
};
