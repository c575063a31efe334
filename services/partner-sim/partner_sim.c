/*
 * partner_sim.c - a simulated partner API for the demo, the tests and the
 * benchmarks (docs/partner-sim.md).
 *
 * Every request outside /_sim/ is recorded in memory and answered by the
 * current behaviour: the first step of a queue set through /_sim/behaviour,
 * or 200 {"ok":true} when the queue is empty. /_sim/requests, /_sim/stats and
 * /_sim/healthz let a test see what arrived.
 *
 * Handlers run concurrently, one thread per connection (httpd.h). Three
 * locks: behaviour_lock guards the step queue, store_lock the records and
 * counters, oauth_lock the tokens issued; none is held while a request sleeps
 * in a simulated delay, and none is taken while another is held.
 *
 * Authentication (off unless asked for on the command line): an OAuth2 token
 * endpoint for the client credentials grant at /_sim/oauth/token, and with
 * --require-auth a 401 for partner requests without a token it issued, the
 * static bearer token or the API key. It exists to test placehub's side of
 * it (lib/delivery/auth.c), so it is strict where a real server would be and no more.
 *
 * Records are kept as JSON text, serialised once when the request arrives,
 * without their sequence number (assigned under store_lock when the record is
 * stored); listing them is then a copy, which keeps GET /_sim/requests cheap
 * with a million records held.
 */
#include "partner_sim.h"

#include "net/httpd.h"
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define PARTNER_SIM_HEADER_MAX 8
#define PARTNER_SIM_STATUS_MIN 100
#define PARTNER_SIM_STATUS_MAX 599
#define PARTNER_SIM_DELAY_MAX_MS 600000
#define PARTNER_SIM_DRIP_MAX_MS 60000
#define PARTNER_SIM_LIST_DEFAULT_LIMIT 10000
/* Tokens remembered for --require-auth; beyond it the oldest are forgotten
 * (and so refused), which no test comes near. */
#define PARTNER_SIM_TOKENS_MAX 4096
#define PARTNER_SIM_TOKEN_SIZE 48
#define PARTNER_SIM_CREDENTIAL_MAX 1024

static const char partner_sim_default_body[] = "{\"ok\":true}";

/* One step of the behaviour queue. */
struct partner_sim_step {
    int status;
    long delay_ms;
    long drip_ms; /* > 0: an endless body, one byte every drip_ms */
    char *body;   /* NUL-terminated */
    size_t body_len;
    char content_type[64];
    char *headers[PARTNER_SIM_HEADER_MAX][2];
    int header_count;
    long long times;     /* as asked; -1 = until changed */
    long long remaining; /* requests left; -1 = until changed */
};

/* An access token issued by /_sim/oauth/token. */
struct partner_sim_token {
    char value[PARTNER_SIM_TOKEN_SIZE];
    struct timespec expires; /* CLOCK_MONOTONIC */
};

/* A stored request: JSON text of the record without its opening brace and
 * without "seq", which is written in front of it when listing. */
struct partner_sim_record {
    uint64_t seq;
    size_t len;
    char text[];
};

struct partner_sim {
    const struct partner_sim_options *options;
    struct httpd *httpd;

    pthread_mutex_t behaviour_lock;
    struct partner_sim_step *steps;
    size_t step_count;
    size_t step_capacity;

    pthread_mutex_t store_lock;
    struct partner_sim_record **records; /* ring of record_capacity slots */
    size_t record_capacity;
    size_t record_head; /* slot of the oldest record */
    size_t record_count;
    uint64_t next_seq;
    uint64_t dropped;
    uint64_t by_status[PARTNER_SIM_STATUS_MAX + 1];
    uint64_t tokens_issued;
    uint64_t token_requests_refused;

    /* Tokens issued, a ring of PARTNER_SIM_TOKENS_MAX (allocated only with
     * --oauth-client). */
    pthread_mutex_t oauth_lock;
    struct partner_sim_token *tokens;
    size_t token_head;
    size_t token_count;

    /* Delays wait on stop_cond so that shutdown does not wait them out. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

/* --- small helpers ------------------------------------------------------ */

/* RFC 3339 UTC with milliseconds, e.g. 2026-11-22T10:15:30.123Z. */
static void partner_sim_format_time(const struct timespec *now, char *text, size_t size)
{
    struct tm tm;
    gmtime_r(&now->tv_sec, &tm);
    snprintf(text, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now->tv_nsec / 1000000);
}

/* Strict unsigned decimal: no sign, no spaces, no trailing text. */
static int partner_sim_parse_u64(const char *text, uint64_t *value)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        return -1;
    *value = (uint64_t)parsed;
    return 0;
}

static char *partner_sim_base64(const unsigned char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static void partner_sim_method_not_allowed(struct httpd_response *response, const char *allow)
{
    httpd_response_error(response, 405, "method_not_allowed", NULL, "use %s", allow);
    httpd_response_header(response, "Allow", allow);
}

/* --- behaviour steps ---------------------------------------------------- */

static void partner_sim_step_clear(struct partner_sim_step *step)
{
    free(step->body);
    for (int i = 0; i < step->header_count; i++) {
        free(step->headers[i][0]);
        free(step->headers[i][1]);
    }
    memset(step, 0, sizeof *step);
}

/* Fills step from one JSON object of PUT/POST /_sim/behaviour. Returns 0, or
 * -1 with *field naming the offending member and errstr saying what is wrong. */
static int partner_sim_step_parse(json_t *json, struct partner_sim_step *step, const char **field,
                                  char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *value;

    memset(step, 0, sizeof *step);
    step->status = 200;
    step->times = -1;
    step->remaining = -1;
    snprintf(step->content_type, sizeof step->content_type, "application/json");
    *field = NULL;

    if (!json_is_object(json)) {
        snprintf(errstr, errstr_size, "a behaviour step must be a JSON object");
        goto fail;
    }
    /* Unknown members are refused: a typo such as "delay" would otherwise
     * silently leave the default in place and a test would pass for the wrong
     * reason. */
    json_object_foreach(json, key, value)
    {
        *field = key;
        if (strcmp(key, "status") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < PARTNER_SIM_STATUS_MIN ||
                json_integer_value(value) > PARTNER_SIM_STATUS_MAX) {
                snprintf(errstr, errstr_size, "status must be an integer from %d to %d",
                         PARTNER_SIM_STATUS_MIN, PARTNER_SIM_STATUS_MAX);
                goto fail;
            }
            step->status = (int)json_integer_value(value);
        } else if (strcmp(key, "delay_ms") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < 0 ||
                json_integer_value(value) > PARTNER_SIM_DELAY_MAX_MS) {
                snprintf(errstr, errstr_size, "delay_ms must be an integer from 0 to %d",
                         PARTNER_SIM_DELAY_MAX_MS);
                goto fail;
            }
            step->delay_ms = (long)json_integer_value(value);
        } else if (strcmp(key, "drip_ms") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < 1 ||
                json_integer_value(value) > PARTNER_SIM_DRIP_MAX_MS) {
                snprintf(errstr, errstr_size, "drip_ms must be an integer from 1 to %d",
                         PARTNER_SIM_DRIP_MAX_MS);
                goto fail;
            }
            step->drip_ms = (long)json_integer_value(value);
        } else if (strcmp(key, "times") == 0) {
            if (json_is_null(value))
                continue;
            if (!json_is_integer(value) || json_integer_value(value) < 1) {
                snprintf(errstr, errstr_size,
                         "times must be an integer of at least 1, or "
                         "omitted for \"until changed\"");
                goto fail;
            }
            step->times = (long long)json_integer_value(value);
            step->remaining = step->times;
        } else if (strcmp(key, "body") == 0) {
            free(step->body);
            step->body = NULL;
            if (json_is_string(value)) {
                step->body_len = json_string_length(value);
                step->body = malloc(step->body_len + 1);
                if (step->body) {
                    memcpy(step->body, json_string_value(value), step->body_len);
                    step->body[step->body_len] = '\0';
                }
            } else {
                /* A JSON body may be given as JSON rather than as a string. */
                step->body = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
                step->body_len = step->body ? strlen(step->body) : 0;
            }
            if (!step->body) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
            }
        } else if (strcmp(key, "headers") == 0) {
            const char *name;
            json_t *header;
            if (!json_is_object(value)) {
                snprintf(errstr, errstr_size,
                         "headers must be an object of strings, e.g. "
                         "{\"Retry-After\": \"2\"}");
                goto fail;
            }
            json_object_foreach(value, name, header)
            {
                if (!json_is_string(header)) {
                    snprintf(errstr, errstr_size, "header '%s' must have a string value", name);
                    goto fail;
                }
                if (strcasecmp(name, "Content-Type") == 0) {
                    snprintf(step->content_type, sizeof step->content_type, "%s",
                             json_string_value(header));
                    continue;
                }
                if (step->header_count >= PARTNER_SIM_HEADER_MAX) {
                    snprintf(errstr, errstr_size, "at most %d headers besides Content-Type",
                             PARTNER_SIM_HEADER_MAX);
                    goto fail;
                }
                char *name_copy = strdup(name);
                char *value_copy = strdup(json_string_value(header));
                if (!name_copy || !value_copy) {
                    free(name_copy);
                    free(value_copy);
                    snprintf(errstr, errstr_size, "out of memory");
                    goto fail;
                }
                step->headers[step->header_count][0] = name_copy;
                step->headers[step->header_count][1] = value_copy;
                step->header_count++;
            }
        } else {
            snprintf(errstr, errstr_size,
                     "unknown member '%s'; a step has status, "
                     "delay_ms, drip_ms, body, headers and times",
                     key);
            goto fail;
        }
    }
    *field = NULL;

    if (!step->body) {
        /* Without a body, answer something a client can parse either way. */
        json_t *body = step->status < 400 ? json_pack("{s:b}", "ok", 1)
                                          : json_pack("{s:{s:s,s:i}}", "error", "code", "simulated",
                                                      "status", step->status);
        step->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!step->body) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        step->body_len = strlen(step->body);
    }
    return 0;

fail:
    partner_sim_step_clear(step);
    return -1;
}

static json_t *partner_sim_step_to_json(const struct partner_sim_step *step)
{
    json_t *headers = json_object();
    json_object_set_new(headers, "Content-Type", json_string(step->content_type));
    for (int i = 0; i < step->header_count; i++)
        json_object_set_new(headers, step->headers[i][0], json_string(step->headers[i][1]));
    return json_pack("{s:i,s:i,s:i,s:s%,s:o,s:o,s:o}", "status", step->status, "delay_ms",
                     (int)step->delay_ms, "drip_ms", (int)step->drip_ms, "body", step->body,
                     step->body_len, "headers", headers, "times",
                     step->times < 0 ? json_null() : json_integer(step->times), "remaining",
                     step->remaining < 0 ? json_null() : json_integer(step->remaining));
}

/* Parses a step or an array of steps into a new array. Returns 0 or -1 with
 * errstr (and *field). The caller frees the steps with partner_sim_step_clear
 * and free. */
static int partner_sim_steps_parse(json_t *json, struct partner_sim_step **steps, size_t *count,
                                   const char **field, char *errstr, size_t errstr_size)
{
    size_t n = json_is_array(json) ? json_array_size(json) : 1;
    size_t parsed = 0;
    *steps = NULL;
    *count = 0;
    *field = NULL;
    if (n == 0) {
        snprintf(errstr, errstr_size, "empty array: give at least one step");
        return -1;
    }
    struct partner_sim_step *array = calloc(n, sizeof *array);
    if (!array) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (; parsed < n; parsed++) {
        json_t *item = json_is_array(json) ? json_array_get(json, parsed) : json;
        if (partner_sim_step_parse(item, &array[parsed], field, errstr, errstr_size) != 0)
            goto fail;
    }
    *steps = array;
    *count = n;
    return 0;

fail:
    for (size_t i = 0; i < parsed; i++)
        partner_sim_step_clear(&array[i]);
    free(array);
    return -1;
}

/* Appends steps (moved; the array itself is freed) to the queue, or replaces
 * the queue with them. Returns 0 or -1 (out of memory, steps freed). */
static int partner_sim_steps_install(struct partner_sim *sim, struct partner_sim_step *steps,
                                     size_t count, bool replace)
{
    int rc = -1;
    pthread_mutex_lock(&sim->behaviour_lock);
    if (replace) {
        for (size_t i = 0; i < sim->step_count; i++)
            partner_sim_step_clear(&sim->steps[i]);
        sim->step_count = 0;
    }
    if (sim->step_count + count > sim->step_capacity) {
        size_t capacity = sim->step_capacity ? sim->step_capacity : 8;
        while (capacity < sim->step_count + count)
            capacity *= 2;
        struct partner_sim_step *grown = realloc(sim->steps, capacity * sizeof *grown);
        if (!grown)
            goto out;
        sim->steps = grown;
        sim->step_capacity = capacity;
    }
    memcpy(&sim->steps[sim->step_count], steps, count * sizeof *steps);
    sim->step_count += count;
    count = 0; /* moved */
    rc = 0;
out:
    pthread_mutex_unlock(&sim->behaviour_lock);
    for (size_t i = 0; i < count; i++)
        partner_sim_step_clear(&steps[i]);
    free(steps);
    return rc;
}

static long partner_sim_drip(void *context, char *buffer, size_t size);

/* A dripped body's state, owned by the response (httpd_response_stream). */
struct partner_sim_dripper {
    struct partner_sim *sim;
    long drip_ms;
};

/* Answers response by the current step and consumes one use of it. Returns
 * the delay to apply, in milliseconds; *drip_ms is the step's drip_ms. */
static long partner_sim_behaviour_take(struct partner_sim *sim, struct httpd_response *response,
                                       long *drip_ms)
{
    long delay_ms = 0;
    pthread_mutex_lock(&sim->behaviour_lock);
    if (sim->step_count == 0) {
        httpd_response_text(response, 200, "application/json", partner_sim_default_body,
                            sizeof partner_sim_default_body - 1);
        goto out;
    }
    struct partner_sim_step *step = &sim->steps[0];
    httpd_response_text(response, step->status, step->content_type, step->body, step->body_len);
    for (int i = 0; i < step->header_count; i++)
        httpd_response_header(response, step->headers[i][0], step->headers[i][1]);
    delay_ms = step->delay_ms;
    *drip_ms = step->drip_ms;
    if (step->drip_ms > 0) {
        /* Status and headers at once, then a body that never ends: a byte
         * every drip_ms (see partner_sim_drip). */
        struct partner_sim_dripper *dripper = malloc(sizeof *dripper);
        if (dripper) {
            *dripper = (struct partner_sim_dripper){sim, step->drip_ms};
            httpd_response_stream(response, step->status, step->content_type, &partner_sim_drip,
                                  dripper, &free);
        } else {
            httpd_response_error(response, 500, "out_of_memory", NULL, "cannot drip");
        }
    }
    if (step->remaining > 0 && --step->remaining == 0) {
        partner_sim_step_clear(step);
        sim->step_count--;
        memmove(&sim->steps[0], &sim->steps[1], sim->step_count * sizeof *sim->steps);
    }
out:
    pthread_mutex_unlock(&sim->behaviour_lock);
    return delay_ms;
}

static json_t *partner_sim_behaviour_to_json(struct partner_sim *sim)
{
    json_t *steps = json_array();
    pthread_mutex_lock(&sim->behaviour_lock);
    for (size_t i = 0; i < sim->step_count; i++)
        json_array_append_new(steps, partner_sim_step_to_json(&sim->steps[i]));
    pthread_mutex_unlock(&sim->behaviour_lock);
    return json_pack("{s:o,s:{s:i,s:s}}", "steps", steps, "default", "status", 200, "body",
                     partner_sim_default_body);
}

/* Sleeps delay_ms, or less if the simulator is stopping. */
static void partner_sim_delay(struct partner_sim *sim, long delay_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += delay_ms / 1000;
    deadline.tv_nsec += (delay_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sim->stop_lock);
    while (!sim->stopping) {
        if (pthread_cond_timedwait(&sim->stop_cond, &sim->stop_lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&sim->stop_lock);
}

/* Whether the simulator is stopping (partner_sim_destroy). */
static bool partner_sim_stopping(struct partner_sim *sim)
{
    pthread_mutex_lock(&sim->stop_lock);
    bool stopping = sim->stopping;
    pthread_mutex_unlock(&sim->stop_lock);
    return stopping;
}

/* One byte of a dripped body every drip_ms, for as long as the client reads
 * (httpd_stream_fn, on the connection's thread). A space: whatever the
 * client parses, the answer is never complete. Ends the connection, without
 * ending the body, once the simulator stops. */
static long partner_sim_drip(void *context, char *buffer, size_t size)
{
    struct partner_sim_dripper *dripper = context;
    if (size < 1)
        return HTTPD_STREAM_ABORT;
    partner_sim_delay(dripper->sim, dripper->drip_ms);
    if (partner_sim_stopping(dripper->sim))
        return HTTPD_STREAM_ABORT;
    buffer[0] = ' ';
    return 1;
}

/* --- records ------------------------------------------------------------ */

struct partner_sim_collect {
    json_t *object;
    char *text; /* for the query string */
    size_t len;
    size_t capacity;
    bool failed;
};

/* Repeated headers are joined with ", " as HTTP allows. */
static enum MHD_Result partner_sim_collect_header(void *cls, enum MHD_ValueKind kind,
                                                  const char *key, const char *value)
{
    struct partner_sim_collect *collect = cls;
    (void)kind;
    if (!key || !value)
        return MHD_YES;
    json_t *previous = json_object_get(collect->object, key);
    if (!previous) {
        /* Not valid UTF-8: json_string refuses it, and the header is left out
         * rather than written as invalid JSON. */
        json_object_set_new(collect->object, key, json_string(value));
        return MHD_YES;
    }
    size_t previous_len = json_string_length(previous);
    size_t value_len = strlen(value);
    char *joined = malloc(previous_len + 2 + value_len + 1);
    if (!joined)
        return MHD_YES;
    memcpy(joined, json_string_value(previous), previous_len);
    memcpy(joined + previous_len, ", ", 2);
    memcpy(joined + previous_len + 2, value, value_len + 1);
    json_object_set_new(collect->object, key, json_string(joined));
    free(joined);
    return MHD_YES;
}

static void partner_sim_collect_append(struct partner_sim_collect *collect, const char *data,
                                       size_t len)
{
    if (collect->failed)
        return;
    if (collect->len + len + 1 > collect->capacity) {
        size_t capacity = collect->capacity ? collect->capacity : 128;
        while (capacity < collect->len + len + 1)
            capacity *= 2;
        char *grown = realloc(collect->text, capacity);
        if (!grown) {
            collect->failed = true;
            return;
        }
        collect->text = grown;
        collect->capacity = capacity;
    }
    memcpy(collect->text + collect->len, data, len);
    collect->len += len;
    collect->text[collect->len] = '\0';
}

static void partner_sim_collect_encoded(struct partner_sim_collect *collect, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            partner_sim_collect_append(collect, (const char *)p, 1);
        } else {
            char escaped[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            partner_sim_collect_append(collect, escaped, sizeof escaped);
        }
    }
}

/* httpd hands over the decoded arguments only, so the query string is
 * rebuilt from them: same names, values and order, percent-encoded anew. */
static enum MHD_Result partner_sim_collect_argument(void *cls, enum MHD_ValueKind kind,
                                                    const char *key, const char *value)
{
    struct partner_sim_collect *collect = cls;
    (void)kind;
    if (!key)
        return MHD_YES;
    if (collect->len > 0)
        partner_sim_collect_append(collect, "&", 1);
    partner_sim_collect_encoded(collect, key);
    if (value) {
        partner_sim_collect_append(collect, "=", 1);
        partner_sim_collect_encoded(collect, value);
    }
    return MHD_YES;
}

/* Builds the record of request (answered status) as JSON text without its
 * opening brace. Returns a record the caller stores or frees, NULL when out of
 * memory. */
static struct partner_sim_record *partner_sim_record_new(const struct httpd_request *request,
                                                         const struct timespec *received,
                                                         int status, long drip_ms)
{
    struct partner_sim_record *record = NULL;
    char *text = NULL;
    char received_at[96]; /* what gcc deems the widest a struct tm can print */
    struct partner_sim_collect headers = {.object = json_object()};
    struct partner_sim_collect query = {0};
    json_t *json = json_object();
    if (!json || !headers.object)
        goto out;

    partner_sim_format_time(received, received_at, sizeof received_at);
    /* httpd.c: request->connection is the libmicrohttpd connection. httpd.h
     * has no call to list all headers or the raw query, which this recorder
     * needs, so it asks libmicrohttpd directly. */
    struct MHD_Connection *connection = request->connection;
    MHD_get_connection_values(connection, MHD_HEADER_KIND, &partner_sim_collect_header, &headers);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &partner_sim_collect_argument,
                              &query);
    if (query.failed)
        goto out;

    json_object_set_new(json, "received_at", json_string(received_at));
    json_object_set_new(json, "method", json_string(request->method));
    json_object_set_new(json, "path", json_string(request->path));
    json_object_set_new(json, "query", json_string(query.text ? query.text : ""));
    json_object_set_new(json, "headers", headers.object);
    headers.object = NULL;
    json_object_set_new(json, "status", json_integer(status));
    if (drip_ms > 0)
        json_object_set_new(json, "drip_ms", json_integer(drip_ms));

    json_t *body = json_stringn(request->body, request->body_len);
    if (body) {
        json_object_set_new(json, "body", body);
    } else {
        /* Not UTF-8 text: JSON strings cannot carry it, base64 can. */
        char *encoded = partner_sim_base64((const unsigned char *)request->body, request->body_len);
        if (!encoded)
            goto out;
        json_object_set_new(json, "body", json_null());
        json_object_set_new(json, "body_base64", json_string(encoded));
        free(encoded);
    }
    if (request->body_len > 0) {
        json_t *parsed = json_loadb(request->body, request->body_len, JSON_DECODE_ANY, NULL);
        if (parsed)
            json_object_set_new(json, "json", parsed);
    }

    text = json_dumps(json, JSON_COMPACT);
    if (!text || text[0] != '{')
        goto out;
    size_t len = strlen(text + 1);
    record = malloc(sizeof *record + len + 1);
    if (!record)
        goto out;
    record->seq = 0;
    record->len = len;
    memcpy(record->text, text + 1, len + 1);
out:
    free(text);
    free(query.text);
    json_decref(headers.object);
    json_decref(json);
    return record;
}

/* Stores record (takes ownership) and counts status; assigns the sequence
 * number. Drops the oldest record when the cap is reached. */
static void partner_sim_store(struct partner_sim *sim, struct partner_sim_record *record,
                              int status)
{
    pthread_mutex_lock(&sim->store_lock);
    if (status >= 0 && status <= PARTNER_SIM_STATUS_MAX)
        sim->by_status[status]++;
    if (!record) {
        /* Out of memory building it: keep the numbering honest anyway. */
        sim->next_seq++;
        sim->dropped++;
        goto out;
    }
    if (sim->record_count == sim->options->max_records) {
        free(sim->records[sim->record_head]);
        sim->records[sim->record_head] = NULL;
        sim->record_head = (sim->record_head + 1) % sim->record_capacity;
        sim->record_count--;
        sim->dropped++;
    }
    if (sim->record_count == sim->record_capacity) {
        /* Grow by doubling up to the cap, unrolling the ring into the front
         * of the new array. */
        size_t capacity = sim->record_capacity ? sim->record_capacity * 2 : 1024;
        if (capacity > sim->options->max_records)
            capacity = sim->options->max_records;
        struct partner_sim_record **grown = malloc(capacity * sizeof *grown);
        if (!grown) {
            free(record);
            sim->next_seq++;
            sim->dropped++;
            goto out;
        }
        for (size_t i = 0; i < sim->record_count; i++)
            grown[i] = sim->records[(sim->record_head + i) % sim->record_capacity];
        free(sim->records);
        sim->records = grown;
        sim->record_capacity = capacity;
        sim->record_head = 0;
    }
    record->seq = sim->next_seq++;
    sim->records[(sim->record_head + sim->record_count) % sim->record_capacity] = record;
    sim->record_count++;
out:
    pthread_mutex_unlock(&sim->store_lock);
}

static void partner_sim_store_clear_locked(struct partner_sim *sim)
{
    for (size_t i = 0; i < sim->record_count; i++)
        free(sim->records[(sim->record_head + i) % sim->record_capacity]);
    free(sim->records);
    sim->records = NULL;
    sim->record_capacity = 0;
    sim->record_head = 0;
    sim->record_count = 0;
    sim->next_seq = 1;
    sim->dropped = 0;
    memset(sim->by_status, 0, sizeof sim->by_status);
    sim->tokens_issued = 0;
    sim->token_requests_refused = 0;
}

/* {"count":N,"dropped":D,"requests":[...]}: the records with seq > since, at
 * most limit of them, oldest first. Returns malloc'd text or NULL. */
static char *partner_sim_store_list(struct partner_sim *sim, uint64_t since, uint64_t limit,
                                    size_t *out_len)
{
    char *text = NULL;
    pthread_mutex_lock(&sim->store_lock);
    uint64_t recorded = sim->next_seq - 1;
    /* Sequence numbers of held records are contiguous, which makes finding
     * the first one after since an index computation. */
    uint64_t first_seq = sim->next_seq - sim->record_count;
    size_t start = 0;
    if (since >= first_seq)
        start = since - first_seq + 1 > sim->record_count ? sim->record_count
                                                          : (size_t)(since - first_seq + 1);
    size_t count = sim->record_count - start;
    if (count > limit)
        count = (size_t)limit;

    size_t size = 96 + 2;
    for (size_t i = 0; i < count; i++) {
        const struct partner_sim_record *record =
            sim->records[(sim->record_head + start + i) % sim->record_capacity];
        size += 32 + record->len;
    }
    text = malloc(size);
    if (!text)
        goto out;
    int n = snprintf(text, size, "{\"count\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"requests\":[",
                     recorded, sim->dropped);
    size_t len = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < count; i++) {
        const struct partner_sim_record *record =
            sim->records[(sim->record_head + start + i) % sim->record_capacity];
        n = snprintf(text + len, size - len, "%s{\"seq\":%" PRIu64 ",", i ? "," : "", record->seq);
        len += n > 0 ? (size_t)n : 0;
        memcpy(text + len, record->text, record->len);
        len += record->len;
    }
    memcpy(text + len, "]}", 3);
    len += 2;
    *out_len = len;
out:
    pthread_mutex_unlock(&sim->store_lock);
    return text;
}

static json_t *partner_sim_stats_to_json(struct partner_sim *sim)
{
    json_t *by_status = json_object();
    pthread_mutex_lock(&sim->store_lock);
    for (int status = 0; status <= PARTNER_SIM_STATUS_MAX; status++) {
        if (sim->by_status[status] == 0)
            continue;
        char key[8];
        snprintf(key, sizeof key, "%d", status);
        json_object_set_new(by_status, key, json_integer((json_int_t)sim->by_status[status]));
    }
    json_t *stats =
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:o,s:I,s:I}", "name", sim->options->name, "recorded",
                  (json_int_t)(sim->next_seq - 1), "held", (json_int_t)sim->record_count, "dropped",
                  (json_int_t)sim->dropped, "max_records", (json_int_t)sim->options->max_records,
                  "by_status", by_status, "tokens_issued", (json_int_t)sim->tokens_issued,
                  "token_requests_refused", (json_int_t)sim->token_requests_refused);
    pthread_mutex_unlock(&sim->store_lock);
    return stats;
}

/* --- authentication ----------------------------------------------------- */

/* Percent-decodes len bytes of text (form encoding: '+' is a space) into out.
 * Returns 0, or -1 on a bad escape, a NUL byte or when out is too small. */
static int partner_sim_percent_decode(const char *text, size_t len, char *out, size_t out_size)
{
    size_t used = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            unsigned value = 0;
            if (i + 2 >= len)
                return -1;
            for (int k = 1; k <= 2; k++) {
                char h = text[i + (size_t)k];
                value <<= 4;
                if (h >= '0' && h <= '9')
                    value |= (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f')
                    value |= (unsigned)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                    value |= (unsigned)(h - 'A' + 10);
                else
                    return -1;
            }
            if (value == 0)
                return -1;
            c = (char)value;
            i += 2;
        }
        if (used + 1 >= out_size)
            return -1;
        out[used++] = c;
    }
    out[used] = '\0';
    return 0;
}

/* The value of name in a form-urlencoded body, decoded into out. Returns 1
 * when found, 0 when absent, -1 when malformed. */
static int partner_sim_form_value(const char *body, size_t body_len, const char *name, char *out,
                                  size_t out_size)
{
    size_t name_len = strlen(name);
    const char *end = body + body_len;
    for (const char *pair = body; pair < end;) {
        const char *amp = memchr(pair, '&', (size_t)(end - pair));
        const char *pair_end = amp ? amp : end;
        const char *equals = memchr(pair, '=', (size_t)(pair_end - pair));
        if (equals && (size_t)(equals - pair) == name_len && memcmp(pair, name, name_len) == 0)
            return partner_sim_percent_decode(equals + 1, (size_t)(pair_end - equals - 1), out,
                                              out_size) == 0
                       ? 1
                       : -1;
        pair = pair_end + 1;
    }
    return 0;
}

/* The client id and secret of an "Authorization: Basic" header (RFC 6749
 * section 2.3.1: each form-urlencoded, then joined by ':' and base64'd).
 * Returns 1 when given, 0 when the header is absent or another scheme, -1
 * when malformed. */
static int partner_sim_basic_credentials(const char *authorization, char *id, size_t id_size,
                                         char *secret, size_t secret_size)
{
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return 0;
    const char *encoded = authorization + 6;
    size_t len = strlen(encoded);
    unsigned char decoded[3 * PARTNER_SIM_CREDENTIAL_MAX / 4 + 4];
    if (len == 0 || len % 4 != 0 || len > PARTNER_SIM_CREDENTIAL_MAX)
        return -1;
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)encoded, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts padding as zero bytes. */
    if (encoded[len - 1] == '=')
        n--;
    if (encoded[len - 2] == '=')
        n--;
    const unsigned char *colon = memchr(decoded, ':', (size_t)n);
    if (!colon)
        return -1;
    size_t id_len = (size_t)(colon - decoded);
    if (partner_sim_percent_decode((const char *)decoded, id_len, id, id_size) != 0 ||
        partner_sim_percent_decode((const char *)colon + 1, (size_t)n - id_len - 1, secret,
                                   secret_size) != 0)
        return -1;
    return 1;
}

/* An OAuth2 error answer (RFC 6749 section 5.2). */
static void partner_sim_oauth_error(struct httpd_response *response, int status, const char *error,
                                    const char *description)
{
    httpd_response_json(response, status,
                        json_pack("{s:s,s:s}", "error", error, "error_description", description));
    httpd_response_header(response, "Cache-Control", "no-store");
    if (status == 401)
        httpd_response_header(response, "WWW-Authenticate", "Basic realm=\"partner-sim\"");
}

static void partner_sim_count_token(struct partner_sim *sim, bool issued)
{
    pthread_mutex_lock(&sim->store_lock);
    if (issued)
        sim->tokens_issued++;
    else
        sim->token_requests_refused++;
    pthread_mutex_unlock(&sim->store_lock);
}

/* Makes and remembers a token valid for ttl seconds. Returns 0 or -1. */
static int partner_sim_token_issue(struct partner_sim *sim, long ttl, char *token, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char random[16];
    if (RAND_bytes(random, sizeof random) != 1 || size < 4 + 2 * sizeof random + 1)
        return -1;
    memcpy(token, "sim-", 4);
    for (size_t i = 0; i < sizeof random; i++) {
        token[4 + 2 * i] = hex[random[i] >> 4];
        token[4 + 2 * i + 1] = hex[random[i] & 15];
    }
    token[4 + 2 * sizeof random] = '\0';

    struct partner_sim_token issued;
    snprintf(issued.value, sizeof issued.value, "%s", token);
    clock_gettime(CLOCK_MONOTONIC, &issued.expires);
    issued.expires.tv_sec += ttl;
    pthread_mutex_lock(&sim->oauth_lock);
    if (sim->token_count == PARTNER_SIM_TOKENS_MAX) {
        sim->token_head = (sim->token_head + 1) % PARTNER_SIM_TOKENS_MAX;
        sim->token_count--;
    }
    sim->tokens[(sim->token_head + sim->token_count) % PARTNER_SIM_TOKENS_MAX] = issued;
    sim->token_count++;
    pthread_mutex_unlock(&sim->oauth_lock);
    return 0;
}

/* Whether token was issued here and has not expired or been revoked. */
static bool partner_sim_token_valid(struct partner_sim *sim, const char *token)
{
    bool valid = false;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&sim->oauth_lock);
    for (size_t i = 0; i < sim->token_count && sim->tokens; i++) {
        const struct partner_sim_token *held =
            &sim->tokens[(sim->token_head + i) % PARTNER_SIM_TOKENS_MAX];
        if (strcmp(held->value, token) == 0) {
            valid = now.tv_sec < held->expires.tv_sec ||
                    (now.tv_sec == held->expires.tv_sec && now.tv_nsec < held->expires.tv_nsec);
            break;
        }
    }
    pthread_mutex_unlock(&sim->oauth_lock);
    return valid;
}

/* --require-auth: a token issued here, the static bearer token, or the API key. */
static bool partner_sim_authorised(struct partner_sim *sim, const struct httpd_request *request)
{
    const struct partner_sim_options *options = sim->options;
    const char *authorization = httpd_request_header(request, "Authorization");
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *token = authorization + 7;
        if (options->bearer_token && strcmp(token, options->bearer_token) == 0)
            return true;
        if (options->oauth_client && partner_sim_token_valid(sim, token))
            return true;
    }
    const char *api_key = httpd_request_header(request, "X-API-Key");
    return options->api_key && api_key && strcmp(api_key, options->api_key) == 0;
}

/* POST /_sim/oauth/token: the client credentials grant (RFC 6749 section
 * 4.4), the client authenticated by HTTP Basic or by client_id and
 * client_secret in the form, never both. */
static void partner_sim_handle_token(struct partner_sim *sim, const struct httpd_request *request,
                                     struct httpd_response *response)
{
    const struct partner_sim_options *options = sim->options;
    char grant[64], form_id[PARTNER_SIM_CREDENTIAL_MAX], form_secret[PARTNER_SIM_CREDENTIAL_MAX];
    char basic_id[PARTNER_SIM_CREDENTIAL_MAX], basic_secret[PARTNER_SIM_CREDENTIAL_MAX];
    char scope[PARTNER_SIM_CREDENTIAL_MAX], token[PARTNER_SIM_TOKEN_SIZE];

    if (!options->oauth_client) {
        httpd_response_error(response, 404, "not_found", NULL,
                             "the token endpoint is off: start with --oauth-client ID:SECRET");
        return;
    }
    if (strcmp(request->method, "POST") != 0) {
        partner_sim_method_not_allowed(response, "POST");
        return;
    }
    const char *body = request->body;
    size_t len = request->body_len;
    int has_grant = partner_sim_form_value(body, len, "grant_type", grant, sizeof grant);
    int has_id = partner_sim_form_value(body, len, "client_id", form_id, sizeof form_id);
    int has_secret =
        partner_sim_form_value(body, len, "client_secret", form_secret, sizeof form_secret);
    int has_scope = partner_sim_form_value(body, len, "scope", scope, sizeof scope);
    int has_basic =
        partner_sim_basic_credentials(httpd_request_header(request, "Authorization"), basic_id,
                                      sizeof basic_id, basic_secret, sizeof basic_secret);
    if (has_grant < 0 || has_id < 0 || has_secret < 0 || has_scope < 0 || has_basic < 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "invalid_request",
                                "malformed form body or Authorization header");
        return;
    }
    if (has_grant == 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "invalid_request", "grant_type is missing");
        return;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "unsupported_grant_type",
                                "only client_credentials is supported");
        return;
    }
    if (has_basic && has_secret) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 400, "invalid_request",
                                "the client authenticated twice (Basic and form)");
        return;
    }
    const char *id = has_basic ? basic_id : has_id ? form_id : NULL;
    const char *secret = has_basic ? basic_secret : has_secret ? form_secret : NULL;
    const char *colon = strchr(options->oauth_client, ':');
    size_t want_id_len = (size_t)(colon - options->oauth_client);
    if (!id || !secret || strlen(id) != want_id_len ||
        memcmp(id, options->oauth_client, want_id_len) != 0 || strcmp(secret, colon + 1) != 0) {
        partner_sim_count_token(sim, false);
        partner_sim_oauth_error(response, 401, "invalid_client", "unknown client or wrong secret");
        return;
    }
    long ttl =
        options->oauth_ttl_seconds > 0 ? options->oauth_ttl_seconds : PARTNER_SIM_DEFAULT_OAUTH_TTL;
    if (partner_sim_token_issue(sim, ttl, token, sizeof token) != 0) {
        httpd_response_error(response, 500, "no_randomness", NULL, "cannot make a token");
        return;
    }
    partner_sim_count_token(sim, true);
    json_t *answer = json_pack("{s:s,s:s,s:I}", "access_token", token, "token_type", "Bearer",
                               "expires_in", (json_int_t)ttl);
    if (answer && has_scope)
        json_object_set_new(answer, "scope", json_string(scope));
    httpd_response_json(response, 200, answer);
    httpd_response_header(response, "Cache-Control", "no-store");
    log_debug("token issued expires_in=%ld", ttl);
}

/* DELETE /_sim/oauth/tokens: revokes every token issued, as a partner that
 * rotated its keys would; the next request with one is answered 401. */
static void partner_sim_handle_tokens(struct partner_sim *sim, const struct httpd_request *request,
                                      struct httpd_response *response)
{
    if (strcmp(request->method, "DELETE") != 0) {
        partner_sim_method_not_allowed(response, "DELETE");
        return;
    }
    pthread_mutex_lock(&sim->oauth_lock);
    size_t revoked = sim->token_count;
    sim->token_head = 0;
    sim->token_count = 0;
    pthread_mutex_unlock(&sim->oauth_lock);
    httpd_response_json(response, 200, json_pack("{s:I}", "revoked", (json_int_t)revoked));
}

/* --- request handling --------------------------------------------------- */

static void partner_sim_handle_partner(struct partner_sim *sim, const struct httpd_request *request,
                                       struct httpd_response *response)
{
    struct timespec received;
    clock_gettime(CLOCK_REALTIME, &received);

    long delay_ms = 0;
    long drip_ms = 0;
    if (sim->options->require_auth && !partner_sim_authorised(sim, request)) {
        /* Refused before the behaviour queue: a step is spent only on a
         * request the partner would have accepted. */
        httpd_response_error(response, 401, "unauthorized", NULL,
                             "a valid Authorization: Bearer token or X-API-Key is needed");
        httpd_response_header(response, "WWW-Authenticate", "Bearer realm=\"partner-sim\"");
    } else {
        delay_ms = partner_sim_behaviour_take(sim, response, &drip_ms);
    }
    struct partner_sim_record *record =
        partner_sim_record_new(request, &received, response->status, drip_ms);
    if (!record)
        log_error("out of memory recording a request; counted as dropped");
    partner_sim_store(sim, record, response->status);
    /* Only with PLACEHUB_LOG_LEVEL=debug; no path or body, they may carry
     * personal data even in tests. */
    log_debug("request method=%s status=%d delay_ms=%ld drip_ms=%ld", request->method,
              response->status, delay_ms, drip_ms);
    if (delay_ms > 0)
        partner_sim_delay(sim, delay_ms);
}

static void partner_sim_handle_behaviour(struct partner_sim *sim,
                                         const struct httpd_request *request,
                                         struct httpd_response *response)
{
    if (strcmp(request->method, "GET") == 0) {
        httpd_response_json(response, 200, partner_sim_behaviour_to_json(sim));
        return;
    }
    if (strcmp(request->method, "DELETE") == 0) {
        pthread_mutex_lock(&sim->behaviour_lock);
        for (size_t i = 0; i < sim->step_count; i++)
            partner_sim_step_clear(&sim->steps[i]);
        sim->step_count = 0;
        pthread_mutex_unlock(&sim->behaviour_lock);
        httpd_response_json(response, 200, partner_sim_behaviour_to_json(sim));
        return;
    }
    bool replace = strcmp(request->method, "PUT") == 0;
    if (!replace && strcmp(request->method, "POST") != 0) {
        partner_sim_method_not_allowed(response, "GET, PUT, POST, DELETE");
        return;
    }

    json_error_t error;
    json_t *json = json_loadb(request->body, request->body_len, 0, &error);
    if (!json) {
        httpd_response_error(response, 400, "invalid_json", NULL,
                             "body is not JSON (line %d column %d): %s", error.line, error.column,
                             error.text);
        return;
    }
    char errstr[256];
    const char *field = NULL;
    struct partner_sim_step *steps = NULL;
    size_t count = 0;
    int rc = partner_sim_steps_parse(json, &steps, &count, &field, errstr, sizeof errstr);
    if (rc != 0) {
        httpd_response_error(response, 400, "invalid_behaviour", field, "%s", errstr);
        goto out;
    }
    if (partner_sim_steps_install(sim, steps, count, replace) != 0) {
        httpd_response_error(response, 500, "out_of_memory", NULL, "cannot store the steps");
        goto out;
    }
    httpd_response_json(response, 200, partner_sim_behaviour_to_json(sim));
out:
    json_decref(json);
}

static void partner_sim_handle_requests(struct partner_sim *sim,
                                        const struct httpd_request *request,
                                        struct httpd_response *response)
{
    if (strcmp(request->method, "DELETE") == 0) {
        pthread_mutex_lock(&sim->store_lock);
        partner_sim_store_clear_locked(sim);
        pthread_mutex_unlock(&sim->store_lock);
        httpd_response_json(response, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    if (strcmp(request->method, "GET") != 0) {
        partner_sim_method_not_allowed(response, "GET, DELETE");
        return;
    }
    uint64_t since = 0;
    uint64_t limit = PARTNER_SIM_LIST_DEFAULT_LIMIT;
    const char *text = httpd_request_query(request, "since");
    if (text && partner_sim_parse_u64(text, &since) != 0) {
        httpd_response_error(response, 400, "invalid_query", "since",
                             "since must be a sequence number (0 or more)");
        return;
    }
    text = httpd_request_query(request, "limit");
    if (text && partner_sim_parse_u64(text, &limit) != 0) {
        httpd_response_error(response, 400, "invalid_query", "limit",
                             "limit must be a number (0 or more)");
        return;
    }
    size_t len = 0;
    char *list = partner_sim_store_list(sim, since, limit, &len);
    if (!list) {
        httpd_response_error(response, 500, "out_of_memory", NULL, "cannot list requests");
        return;
    }
    /* Handed over as is: the list can be large, copying it again is waste. */
    free(response->body);
    response->status = 200;
    response->body = list;
    response->body_len = len;
    snprintf(response->content_type, sizeof response->content_type, "application/json");
}

static void partner_sim_handle(void *context, const struct httpd_request *request,
                               struct httpd_response *response)
{
    struct partner_sim *sim = context;
    const char *path = request->path;

    if (strncmp(path, "/_sim/", 6) != 0 && strcmp(path, "/_sim") != 0) {
        partner_sim_handle_partner(sim, request, response);
        return;
    }
    if (strcmp(path, "/_sim/behaviour") == 0) {
        partner_sim_handle_behaviour(sim, request, response);
    } else if (strcmp(path, "/_sim/requests") == 0) {
        partner_sim_handle_requests(sim, request, response);
    } else if (strcmp(path, "/_sim/stats") == 0) {
        if (strcmp(request->method, "GET") == 0)
            httpd_response_json(response, 200, partner_sim_stats_to_json(sim));
        else
            partner_sim_method_not_allowed(response, "GET");
    } else if (strcmp(path, "/_sim/oauth/token") == 0) {
        partner_sim_handle_token(sim, request, response);
    } else if (strcmp(path, "/_sim/oauth/tokens") == 0) {
        partner_sim_handle_tokens(sim, request, response);
    } else if (strcmp(path, "/_sim/healthz") == 0) {
        httpd_response_json(response, 200,
                            json_pack("{s:b,s:s}", "ok", 1, "name", sim->options->name));
    } else {
        httpd_response_error(response, 404, "not_found", NULL,
                             "no such control endpoint; see /_sim/behaviour, "
                             "/_sim/requests, /_sim/stats, /_sim/healthz, /_sim/oauth/token, "
                             "/_sim/oauth/tokens");
    }
}

/* --- life cycle --------------------------------------------------------- */

struct partner_sim *partner_sim_new(const struct partner_sim_options *options, char *errstr,
                                    size_t errstr_size)
{
    if (options->max_records < 1) {
        snprintf(errstr, errstr_size, "max records must be at least 1");
        return NULL;
    }
    if (options->oauth_client &&
        (!strchr(options->oauth_client, ':') || options->oauth_client[0] == ':')) {
        snprintf(errstr, errstr_size, "the OAuth2 client must be given as ID:SECRET");
        return NULL;
    }
    if (options->require_auth && !options->oauth_client && !options->api_key &&
        !options->bearer_token) {
        snprintf(errstr, errstr_size,
                 "requiring authentication needs a credential to accept: an OAuth2 client, an "
                 "API key or a bearer token");
        return NULL;
    }
    struct partner_sim *sim = calloc(1, sizeof *sim);
    if (!sim) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sim->options = options;
    sim->next_seq = 1;
    pthread_mutex_init(&sim->behaviour_lock, NULL);
    pthread_mutex_init(&sim->store_lock, NULL);
    pthread_mutex_init(&sim->stop_lock, NULL);
    pthread_mutex_init(&sim->oauth_lock, NULL);
    /* Delays are measured on the monotonic clock: a clock step must not
     * stretch or cut a simulated delay. */
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&sim->stop_cond, &attributes);
    pthread_condattr_destroy(&attributes);
    if (options->oauth_client) {
        sim->tokens = calloc(PARTNER_SIM_TOKENS_MAX, sizeof *sim->tokens);
        if (!sim->tokens) {
            snprintf(errstr, errstr_size, "out of memory");
            partner_sim_destroy(sim);
            return NULL;
        }
    }

    sim->httpd = httpd_new(options->listen, options->max_body_bytes, &partner_sim_handle, sim,
                           errstr, errstr_size);
    if (!sim->httpd) {
        partner_sim_destroy(sim);
        return NULL;
    }
    return sim;
}

int partner_sim_port(const struct partner_sim *sim)
{
    return httpd_port(sim->httpd);
}

void partner_sim_destroy(struct partner_sim *sim)
{
    if (!sim)
        return;
    pthread_mutex_lock(&sim->stop_lock);
    sim->stopping = true;
    pthread_cond_broadcast(&sim->stop_cond);
    pthread_mutex_unlock(&sim->stop_lock);
    httpd_destroy(sim->httpd); /* waits for running handlers */

    for (size_t i = 0; i < sim->step_count; i++)
        partner_sim_step_clear(&sim->steps[i]);
    free(sim->steps);
    partner_sim_store_clear_locked(sim);
    pthread_cond_destroy(&sim->stop_cond);
    pthread_mutex_destroy(&sim->stop_lock);
    pthread_mutex_destroy(&sim->store_lock);
    pthread_mutex_destroy(&sim->behaviour_lock);
    pthread_mutex_destroy(&sim->oauth_lock);
    free(sim->tokens);
    free(sim);
}

/* Writes the port to path through a temporary file and rename(2), so a test
 * polling for the file never reads it half-written. */
static int partner_sim_write_port_file(const char *path, int port, char *errstr, size_t errstr_size)
{
    char temporary[4096];
    int rc = -1;
    FILE *file = NULL;
    int n = snprintf(temporary, sizeof temporary, "%s.%ld.tmp", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof temporary) {
        snprintf(errstr, errstr_size, "port file path too long: %s", path);
        return -1;
    }
    file = fopen(temporary, "w");
    if (!file) {
        snprintf(errstr, errstr_size, "cannot write port file %s: %s", path, strerror(errno));
        goto out;
    }
    bool written = fprintf(file, "%d\n", port) > 0;
    if (fclose(file) != 0)
        written = false;
    file = NULL;
    if (!written) {
        snprintf(errstr, errstr_size, "cannot write port file %s: %s", path, strerror(errno));
        unlink(temporary);
        goto out;
    }
    if (rename(temporary, path) != 0) {
        snprintf(errstr, errstr_size, "cannot write port file %s (rename): %s", path,
                 strerror(errno));
        unlink(temporary);
        goto out;
    }
    rc = 0;
out:
    return rc;
}

int partner_sim_run(const struct partner_sim_options *options)
{
    char errstr[512];
    int status = 1;
    struct partner_sim *sim = NULL;
    sigset_t signals;

    /* Blocked before any thread starts, so every server thread inherits the
     * mask and the signals reach only sigwait() below: no handler, nothing
     * async-signal-unsafe. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    sim = partner_sim_new(options, errstr, sizeof errstr);
    if (!sim) {
        log_error("%s", errstr);
        goto out;
    }
    int port = partner_sim_port(sim);
    if (options->port_file &&
        partner_sim_write_port_file(options->port_file, port, errstr, sizeof errstr) != 0) {
        log_error("%s", errstr);
        goto out;
    }
    printf("%d\n", port);
    fflush(stdout);
    log_info("listening on %s (port %d) max_body=%zu max_records=%zu", options->listen, port,
             options->max_body_bytes, options->max_records);
    if (options->oauth_client)
        log_info("OAuth2 token endpoint on /_sim/oauth/token expires_in=%ld",
                 options->oauth_ttl_seconds > 0 ? options->oauth_ttl_seconds
                                                : PARTNER_SIM_DEFAULT_OAUTH_TTL);
    if (options->require_auth)
        log_info("partner requests need a credential (else 401)");

    int signal_number = 0;
    while (sigwait(&signals, &signal_number) != 0)
        ;
    log_info("stopping on %s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
out:
    partner_sim_destroy(sim);
    if (status == 0 && options->port_file)
        unlink(options->port_file);
    return status;
}
