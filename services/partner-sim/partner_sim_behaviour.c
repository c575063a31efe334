/*
 * partner_sim_behaviour.c - the simulated partner's behaviour queue
 * (/_sim/behaviour, docs/partner-sim.md): parsing steps, answering a
 * partner request by the first one, simulated delays and dripped bodies.
 * The queue is guarded by behaviour_lock, never held while a request
 * sleeps.
 */
#include "partner_sim_internal.h"

#include "core/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char partner_sim_default_body[] = "{\"ok\":true}";

void partner_sim_step_clear(struct partner_sim_step *step)
{
    free(step->body);
    for (int i = 0; i < step->header_count; i++) {
        free(step->headers[i][0]);
        free(step->headers[i][1]);
    }
    memset(step, 0, sizeof *step);
}

/* An integer member from min to max into *out. Returns 0, or -1 with errstr. */
static int partner_sim_step_bounded(const char *key, json_t *value, long min, long max, long *out,
                                    char *errstr, size_t errstr_size)
{
    if (!json_is_integer(value) || json_integer_value(value) < min ||
        json_integer_value(value) > max) {
        snprintf(errstr, errstr_size, "%s must be an integer from %ld to %ld", key, min, max);
        return -1;
    }
    *out = (long)json_integer_value(value);
    return 0;
}

/* "times": null or absent means until changed. */
static int partner_sim_step_times(json_t *value, struct partner_sim_step *step, char *errstr,
                                  size_t errstr_size)
{
    if (json_is_null(value))
        return 0;
    if (!json_is_integer(value) || json_integer_value(value) < 1) {
        snprintf(errstr, errstr_size,
                 "times must be an integer of at least 1, or "
                 "omitted for \"until changed\"");
        return -1;
    }
    step->times = (long long)json_integer_value(value);
    step->remaining = step->times;
    return 0;
}

/* "body": a string as is, any other JSON value as its compact text. */
static int partner_sim_step_body(json_t *value, struct partner_sim_step *step, char *errstr,
                                 size_t errstr_size)
{
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
        return -1;
    }
    return 0;
}

/* One header of "headers": Content-Type replaces the step's, any other is
 * added (copied). */
static int partner_sim_step_header(const char *name, json_t *header, struct partner_sim_step *step,
                                   char *errstr, size_t errstr_size)
{
    if (!json_is_string(header)) {
        snprintf(errstr, errstr_size, "header '%s' must have a string value", name);
        return -1;
    }
    if (strcasecmp(name, "Content-Type") == 0) {
        snprintf(step->content_type, sizeof step->content_type, "%s", json_string_value(header));
        return 0;
    }
    if (step->header_count >= PARTNER_SIM_HEADER_MAX) {
        snprintf(errstr, errstr_size, "at most %d headers besides Content-Type",
                 PARTNER_SIM_HEADER_MAX);
        return -1;
    }
    char *name_copy = strdup(name);
    char *value_copy = strdup(json_string_value(header));
    if (!name_copy || !value_copy) {
        free(name_copy);
        free(value_copy);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    step->headers[step->header_count][0] = name_copy;
    step->headers[step->header_count][1] = value_copy;
    step->header_count++;
    return 0;
}

static int partner_sim_step_headers(json_t *value, struct partner_sim_step *step, char *errstr,
                                    size_t errstr_size)
{
    const char *name;
    json_t *header;
    if (!json_is_object(value)) {
        snprintf(errstr, errstr_size,
                 "headers must be an object of strings, e.g. "
                 "{\"Retry-After\": \"2\"}");
        return -1;
    }
    json_object_foreach(value, name, header)
    {
        if (partner_sim_step_header(name, header, step, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

/* One member of a step. Unknown members are refused: a typo such as "delay"
 * would otherwise silently leave the default in place and a test would pass
 * for the wrong reason. */
static int partner_sim_step_member(const char *key, json_t *value, struct partner_sim_step *step,
                                   char *errstr, size_t errstr_size)
{
    long number;
    if (strcmp(key, "status") == 0) {
        if (partner_sim_step_bounded(key, value, PARTNER_SIM_STATUS_MIN, PARTNER_SIM_STATUS_MAX,
                                     &number, errstr, errstr_size) != 0)
            return -1;
        step->status = (int)number;
        return 0;
    }
    if (strcmp(key, "delay_ms") == 0)
        return partner_sim_step_bounded(key, value, 0, PARTNER_SIM_DELAY_MAX_MS, &step->delay_ms,
                                        errstr, errstr_size);
    if (strcmp(key, "drip_ms") == 0)
        return partner_sim_step_bounded(key, value, 1, PARTNER_SIM_DRIP_MAX_MS, &step->drip_ms,
                                        errstr, errstr_size);
    if (strcmp(key, "times") == 0)
        return partner_sim_step_times(value, step, errstr, errstr_size);
    if (strcmp(key, "body") == 0)
        return partner_sim_step_body(value, step, errstr, errstr_size);
    if (strcmp(key, "headers") == 0)
        return partner_sim_step_headers(value, step, errstr, errstr_size);
    snprintf(errstr, errstr_size,
             "unknown member '%s'; a step has status, "
             "delay_ms, drip_ms, body, headers and times",
             key);
    return -1;
}

/* Without a body, answer something a client can parse either way. */
static int partner_sim_step_default_body(struct partner_sim_step *step, char *errstr,
                                         size_t errstr_size)
{
    json_t *body = step->status < 400 ? json_pack("{s:b}", "ok", 1)
                                      : json_pack("{s:{s:s,s:i}}", "error", "code", "simulated",
                                                  "status", step->status);
    step->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!step->body) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    step->body_len = strlen(step->body);
    return 0;
}

/* Fills step from one JSON object of PUT/POST /_sim/behaviour. Returns 0, or
 * -1 with *field naming the offending member and errstr saying what is wrong
 * (step then cleared). */
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
    json_object_foreach(json, key, value)
    {
        *field = key;
        if (partner_sim_step_member(key, value, step, errstr, errstr_size) != 0)
            goto fail;
    }
    *field = NULL;
    if (!step->body && partner_sim_step_default_body(step, errstr, errstr_size) != 0)
        goto fail;
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
long partner_sim_behaviour_take(struct partner_sim *sim, struct httpd_response *response,
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
void partner_sim_delay(struct partner_sim *sim, long delay_ms)
{
    /* stop_cond waits on the monotonic clock (partner_sim_new). */
    int64_t deadline_ms = clock_monotonic_ms() + delay_ms;
    struct timespec deadline = {.tv_sec = (time_t)(deadline_ms / 1000),
                                .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
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

void partner_sim_handle_behaviour(struct partner_sim *sim, const struct httpd_request *request,
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
