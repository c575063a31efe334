/*
 * connector_test.c - the test kit (see connector_test.h): what a partner IT
 * team runs against its connector before placehub-dispatch ever loads it.
 *
 * It plays the host exactly as dispatch does (connector_find, the host's
 * services table, transfer_setup/transfer_finish on a libcurl easy handle,
 * the partner's auth_* options through lib/auth), so what passes here works
 * there; and it checks what dispatch cannot afford to check on every event:
 * that create() refuses a missing required option by name, that prepare()
 * fills a well-formed request and can be called again for a retry, that
 * whatever prepare() allocates has a release() to free it, and that
 * classify() gives a valid result.
 *
 * The report never shows a secret: header lines whose name suggests a
 * credential are redacted, and the host's authentication header is never
 * printed. Bodies are shown in full on --dry-run: use invented test data.
 */
#include "connector_test.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "delivery/connector.h"
#include "delivery/templates.h"
#include "delivery/delivery.h"

#define CONNECTOR_TEST_MAX_EVENTS 256
#define CONNECTOR_TEST_MAX_EVENT_BYTES (1 << 20)

static const char *const connector_test_topics[] = {"admission", "discharge", "referral",
                                                    "employment-support"};
#define CONNECTOR_TEST_TOPIC_COUNT 4

/* Options as the connector sees them: the command line's first, then the
 * partner's from the configuration. */
struct connector_test_lookup {
    const struct connector_test_settings *settings;
    const struct config_partner *partner;
    const char *without; /* pretend this key is absent (contract check) */
    int empty;           /* pretend there are no options at all */
};

static const char *connector_test_option(const struct placehub_options *options, const char *key)
{
    const struct connector_test_lookup *lookup = options->opaque;
    if (lookup->empty || (lookup->without && strcmp(lookup->without, key) == 0))
        return NULL;
    for (size_t i = lookup->settings->option_count; i-- > 0;)
        if (strcmp(lookup->settings->options[i].key, key) == 0)
            return lookup->settings->options[i].value;
    return lookup->partner ? config_partner_option(lookup->partner, key) : NULL;
}

/* Every option key given, once each, in order. */
static size_t connector_test_keys(const struct connector_test_lookup *lookup, const char **keys,
                                  size_t max)
{
    size_t count = 0;
    const struct config_partner *partner = lookup->partner;
    for (size_t i = 0; partner && i < partner->option_count && count < max; i++)
        keys[count++] = partner->options[i].key;
    for (size_t i = 0; i < lookup->settings->option_count && count < max; i++) {
        size_t j = 0;
        while (j < count && strcmp(keys[j], lookup->settings->options[i].key) != 0)
            j++;
        if (j == count)
            keys[count++] = lookup->settings->options[i].key;
    }
    return count;
}

struct connector_test_event {
    char name[256];
    char topic[32];
    char event_id[64];
    char *body; /* compact JSON, as dispatch hands it over */
};

static int connector_test_by_name(const void *a, const void *b)
{
    return strcmp(((const struct connector_test_event *)a)->name,
                  ((const struct connector_test_event *)b)->name);
}

/* The topic of a sample: its file name's prefix (admission*.json), else the
 * topic its event_type belongs to. */
static const char *connector_test_topic(const char *file_name, const json_t *event)
{
    static const char *const types[][2] = {
        {"ADMITTED", "admission"},
        {"TRANSFERRED", "admission"},
        {"ADMISSION_CANCELLED", "admission"},
        {"TRANSFER_CANCELLED", "admission"},
        {"DISCHARGE_PENDING", "discharge"},
        {"DISCHARGED", "discharge"},
        {"DISCHARGE_CANCELLED", "discharge"},
        {"REFERRAL_SENT", "referral"},
        {"REFERRAL_ACCEPTED", "referral"},
        {"REFERRAL_REJECTED", "referral"},
        {"REFERRAL_CLOSED", "referral"},
        {"REFERRAL_CANCELLED", "referral"},
        {"REFERRED", "employment-support"},
        {"ENGAGED", "employment-support"},
        {"JOB_START", "employment-support"},
        {"SUSTAINED_EMPLOYMENT", "employment-support"},
        {"DISENGAGED", "employment-support"},
        {"CLOSED", "employment-support"},
        {"CANCELLED", "employment-support"},
    };
    /* Longest first: "employment-support" before anything shorter. */
    for (size_t i = CONNECTOR_TEST_TOPIC_COUNT; i-- > 0;) {
        const char *topic = connector_test_topics[i];
        if (strncmp(file_name, topic, strlen(topic)) == 0)
            return topic;
    }
    const char *event_type = json_string_value(json_object_get(event, "event_type"));
    for (size_t i = 0; event_type && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i][0], event_type) == 0)
            return types[i][1];
    return NULL;
}

/* Reads every *.json in dir. Returns how many, or -1 with errstr. */
static int connector_test_load_events(const char *dir, struct connector_test_event *events,
                                      size_t max, char *errstr, size_t errstr_size)
{
    DIR *folder = opendir(dir);
    size_t count = 0;
    struct dirent *item;
    if (!folder) {
        snprintf(errstr, errstr_size, "cannot open the events folder %s (--events)", dir);
        return -1;
    }
    while ((item = readdir(folder)) != NULL) {
        size_t len = strlen(item->d_name);
        if (len < 6 || strcmp(item->d_name + len - 5, ".json") != 0)
            continue;
        if (count == max) {
            snprintf(errstr, errstr_size, "more than %zu events in %s", max, dir);
            goto fail;
        }
        char path[4096];
        json_error_t error;
        snprintf(path, sizeof path, "%s/%s", dir, item->d_name);
        json_t *event = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
        if (!json_is_object(event)) {
            snprintf(errstr, errstr_size, "%s:%d:%d: not a JSON event: %s", path, error.line,
                     error.column, error.text);
            json_decref(event);
            goto fail;
        }
        struct connector_test_event *sample = &events[count];
        const char *topic = connector_test_topic(item->d_name, event);
        const char *event_id = json_string_value(json_object_get(event, "event_id"));
        if (!topic) {
            snprintf(errstr, errstr_size,
                     "%s: cannot tell its topic: name the file <topic>*.json or give it a known "
                     "event_type",
                     path);
            json_decref(event);
            goto fail;
        }
        snprintf(sample->name, sizeof sample->name, "%s", item->d_name);
        snprintf(sample->topic, sizeof sample->topic, "%s", topic);
        snprintf(sample->event_id, sizeof sample->event_id, "%s",
                 event_id ? event_id : "00000000-0000-4000-8000-000000000000");
        sample->body = json_dumps(event, JSON_COMPACT);
        json_decref(event);
        if (!sample->body || strlen(sample->body) > CONNECTOR_TEST_MAX_EVENT_BYTES) {
            free(sample->body);
            snprintf(errstr, errstr_size, "%s: too large or out of memory", path);
            goto fail;
        }
        count++;
    }
    closedir(folder);
    qsort(events, count, sizeof *events, connector_test_by_name);
    return (int)count;
fail:
    closedir(folder);
    for (size_t i = 0; i < count; i++)
        free(events[i].body);
    return -1;
}

/* A header whose value must not be printed. */
static int connector_test_secret_header(const char *line)
{
    static const char *const words[] = {"auth",   "cookie",   "key",       "token",
                                        "secret", "password", "credential"};
    size_t name_len = strcspn(line, ":");
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)name_len, line);
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(name, words[i]))
            return 1;
    return 0;
}

static int connector_test_is_mail(const char *url)
{
    return url && (strncmp(url, "smtp://", 7) == 0 || strncmp(url, "smtps://", 8) == 0);
}

/* Checks what prepare() filled in. Prints each problem; returns how many. */
static int connector_test_check_request(const struct placehub_connector_type *type,
                                        const struct placehub_request *request,
                                        const struct placehub_delivery *delivery,
                                        const char *option_url, FILE *out)
{
    /* A request may point into the delivery: it stays valid until release(). */
    (void)delivery;
    int problems = 0;
    const char *url = request->url ? request->url : option_url;
    if (request->header_count > PLACEHUB_MAX_HEADERS) {
        fprintf(out, "   FAIL header_count %zu is over PLACEHUB_MAX_HEADERS\n",
                request->header_count);
        return 1;
    }
    for (size_t i = 0; i < request->header_count; i++) {
        const char *line = request->headers[i];
        size_t name_len = line ? strcspn(line, ":") : 0;
        int bad_name = name_len == 0 || !line[name_len];
        for (size_t j = 0; !bad_name && j < name_len; j++)
            bad_name = !(isalnum((unsigned char)line[j]) || strchr("!#$%&'*+-.^_`|~", line[j]));
        if (!line || bad_name || strpbrk(line, "\r\n")) {
            fprintf(out, "   FAIL headers[%zu] is not one \"Name: value\" line\n", i);
            problems++;
        }
    }
    if (request->body_len > 0 && !request->body) {
        fprintf(out, "   FAIL body_len is %zu but body is NULL\n", request->body_len);
        problems++;
    }
    if (request->method && !*request->method) {
        fprintf(out, "   FAIL method is an empty string (NULL means POST)\n");
        problems++;
    }
    if (!url) {
        fprintf(out, "   FAIL no url: neither request->url nor options.url\n");
        problems++;
    } else if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0 &&
               !connector_test_is_mail(url)) {
        fprintf(out, "   FAIL url is neither http(s):// nor smtp(s)://\n");
        problems++;
    }
    if (connector_test_is_mail(url)) {
        const struct placehub_mail_envelope *mail = request->mail;
        if (!mail || !mail->from || mail->recipient_count == 0 ||
            mail->recipient_count > PLACEHUB_MAX_RECIPIENTS) {
            fprintf(out,
                    "   FAIL a mail needs request->mail, an envelope with from and 1 to %d "
                    "recipients\n",
                    PLACEHUB_MAX_RECIPIENTS);
            problems++;
        }
        for (size_t i = 0; mail && i < mail->recipient_count && i < PLACEHUB_MAX_RECIPIENTS; i++)
            if (!mail->recipients[i]) {
                fprintf(out, "   FAIL mail->recipients[%zu] is NULL\n", i);
                problems++;
            }
    } else if (request->mail) {
        fprintf(out, "   FAIL request->mail is set but the url is not smtp(s)://\n");
        problems++;
    }
    if (request->context && !type->release) {
        fprintf(out, "   FAIL prepare() set request->context but the connector has no release(): "
                     "whatever it points to leaks on every event\n");
        problems++;
    }
    return problems;
}

static void connector_test_print_request(const struct placehub_request *request,
                                         const char *option_url, FILE *out)
{
    const char *url = request->url ? request->url : option_url;
    if (connector_test_is_mail(url)) {
        const struct placehub_mail_envelope *mail = request->mail;
        fprintf(out, "   mail to %s from %s to", url, mail && mail->from ? mail->from : "(none)");
        for (size_t i = 0; mail && i < mail->recipient_count && i < PLACEHUB_MAX_RECIPIENTS; i++)
            fprintf(out, " %s", mail->recipients[i] ? mail->recipients[i] : "(null)");
        fputc('\n', out);
    } else {
        fprintf(out, "   %s %s\n", request->method ? request->method : "POST",
                url ? url : "(no url)");
    }
    for (size_t i = 0; i < request->header_count; i++) {
        if (connector_test_secret_header(request->headers[i]))
            fprintf(out, "   %.*s: [redacted]\n", (int)strcspn(request->headers[i], ":"),
                    request->headers[i]);
        else
            fprintf(out, "   %s\n", request->headers[i]);
    }
    if (!connector_test_is_mail(url))
        fprintf(out, "   (the host adds Idempotency-Key and any authentication)\n");
    fprintf(out, "   body, %zu bytes:\n", request->body_len);
    const unsigned char *body = request->body;
    if (body && memchr(body, '\0', request->body_len)) {
        fprintf(out, "    [binary]\n");
        return;
    }
    /* Line by line, indented; CRLF shown as a line end. */
    size_t start = 0;
    for (size_t i = 0; body && i <= request->body_len; i++) {
        if (i == request->body_len || body[i] == '\n') {
            size_t end = i;
            if (end > start && body[end - 1] == '\r')
                end--;
            if (i < request->body_len || end > start)
                fprintf(out, "    %.*s\n", (int)(end - start), (const char *)body + start);
            start = i + 1;
        }
    }
}

/* classify() must give one of the three results and a terminated reason. */
static int connector_test_check_classify(const struct placehub_connector_type *type, void *instance,
                                         const struct placehub_delivery *delivery, FILE *out)
{
    static const int statuses[] = {200, 250, 400, 404, 409, 429, 503};
    int problems = 0;
    for (size_t i = 0; type->classify && i < sizeof statuses / sizeof statuses[0]; i++) {
        struct placehub_response response = {
            .status = statuses[i], .body = "{}", .body_len = 2, .content_type = "application/json"};
        struct placehub_outcome outcome;
        memset(&outcome, 0, sizeof outcome);
        outcome.result = statuses[i] < 300                          ? PLACEHUB_DELIVERED
                         : statuses[i] == 429 || statuses[i] >= 500 ? PLACEHUB_RETRY
                                                                    : PLACEHUB_REJECTED;
        memset(outcome.reason, 'x', sizeof outcome.reason);
        outcome.reason[sizeof outcome.reason - 1] = '\0';
        type->classify(instance, delivery, &response, &outcome);
        if ((unsigned)outcome.result > PLACEHUB_REJECTED ||
            !memchr(outcome.reason, '\0', sizeof outcome.reason)) {
            fprintf(out, "   FAIL classify(status %d) gave an invalid result or reason\n",
                    statuses[i]);
            problems++;
        }
    }
    return problems;
}

static const char *connector_test_result(enum placehub_result result)
{
    switch (result) {
    case PLACEHUB_DELIVERED:
        return "delivered";
    case PLACEHUB_RETRY:
        return "retry";
    case PLACEHUB_REJECTED:
        return "rejected";
    }
    return "invalid";
}

/* The contract checks on create(): refusing no options and each missing
 * required one, with a message naming the option. Returns problems. */
static int connector_test_check_create(const struct placehub_connector_type *type,
                                       struct connector_test_lookup *lookup, const char *partner_id,
                                       FILE *out)
{
    struct placehub_options options = {.opaque = lookup, .get = connector_test_option};
    const char *keys[CONNECTOR_TEST_MAX_OPTIONS * 2];
    size_t key_count = connector_test_keys(lookup, keys, sizeof keys / sizeof keys[0]);
    char errstr[1024];
    void *instance = NULL;
    int problems = 0;

    lookup->empty = 1;
    errstr[0] = '\0';
    if (type->create(connector_host(), partner_id, &options, &instance, errstr, sizeof errstr) ==
        0) {
        fprintf(out, "contract: create() accepts no options at all (fine if it needs none)\n");
        type->destroy(instance);
    } else if (!errstr[0]) {
        fprintf(out, "contract: FAIL create() refused no options without saying why\n");
        problems++;
    } else {
        fprintf(out, "contract: ok   create() without options is refused: %s\n", errstr);
    }
    lookup->empty = 0;
    for (size_t i = 0; i < key_count; i++) {
        lookup->without = keys[i];
        instance = NULL;
        errstr[0] = '\0';
        if (type->create(connector_host(), partner_id, &options, &instance, errstr,
                         sizeof errstr) == 0) {
            type->destroy(instance);
        } else if (!strstr(errstr, keys[i])) {
            fprintf(out,
                    "contract: FAIL create() without '%s' is refused, but the message does not "
                    "name it: %s\n",
                    keys[i], errstr[0] ? errstr : "(empty)");
            problems++;
        } else {
            fprintf(out, "contract: ok   '%s' is required and named when missing\n", keys[i]);
        }
    }
    lookup->without = NULL;
    return problems;
}

struct connector_test_run_state {
    const struct connector_test_settings *settings;
    const struct placehub_connector_type *type;
    /* The partner as dispatch sets it up (lib/delivery/delivery.h): same
     * connector instance, transport, credentials and judgement. */
    struct delivery_partner *partner;
    CURL *easy;
    const char *option_url;
    FILE *out;
};

/* One sample: prepare (twice: a retry must work too), check, then print or
 * perform, classify, release. Returns 0 when prepared (and delivered). */
static int connector_test_event(struct connector_test_run_state *state,
                                const struct connector_test_event *sample, int *contract_problems,
                                int *prepared)
{
    const struct placehub_connector_type *type = state->type;
    void *instance = delivery_partner_instance(state->partner);
    FILE *out = state->out;
    struct placehub_request request;
    char errstr[1024];
    int rc = -1;
    struct placehub_delivery delivery = {
        .partner_id = state->settings->partner_id,
        .event_id = sample->event_id,
        .event_type = sample->topic,
        .body = sample->body,
        .body_len = strlen(sample->body),
        .attempt = 1,
    };
    fprintf(out, "== %s (%s, event %s)\n", sample->name, sample->topic, sample->event_id);

    /* A retry: prepare and release once first, so a connector that keeps
     * state between attempts, or frees too much, shows here. */
    memset(&request, 0, sizeof request);
    if (type->prepare(instance, &delivery, &request, errstr, sizeof errstr) != 0) {
        fprintf(out, "   NOT PREPARED: %s\n", errstr);
        return -1;
    }
    *contract_problems +=
        connector_test_check_request(type, &request, &delivery, state->option_url, out);
    if (type->release)
        type->release(instance, &request);
    delivery.attempt = 2;
    memset(&request, 0, sizeof request);
    if (type->prepare(instance, &delivery, &request, errstr, sizeof errstr) != 0) {
        fprintf(out, "   FAIL prepared on attempt 1 but not on attempt 2: %s\n", errstr);
        (*contract_problems)++;
        return -1;
    }
    *prepared = 1;
    if (state->settings->dry_run) {
        fprintf(out, "   prepared\n");
        connector_test_print_request(&request, state->option_url, out);
        *contract_problems += connector_test_check_classify(type, instance, &delivery, out);
        rc = 0;
    } else {
        /* The delivery host performs what it prepares itself: the request
         * above goes back to the connector first. */
        int mail = connector_test_is_mail(request.url ? request.url : state->option_url);
        if (type->release)
            type->release(instance, &request);
        memset(&request, 0, sizeof request);
        struct delivery_verdict verdict;
        enum delivery_start start =
            delivery_attempt_perform(state->partner, &delivery, state->easy, &verdict);
        if (start == DELIVERY_STARTED) {
            fprintf(out, "   prepared; %s %d; %s%s%s\n", mail ? "SMTP" : "HTTP", verdict.status,
                    connector_test_result(verdict.result), verdict.reason[0] ? ": " : "",
                    verdict.reason);
            if (verdict.credentials_refused)
                fprintf(out, "   note: HTTP 401 is retried with fresh credentials, never "
                             "dead-lettered: the partner refused the hub's credentials\n");
            rc = verdict.result == PLACEHUB_DELIVERED ? 0 : -1;
        } else {
            fprintf(out, "   prepared; NOT SENT: %s\n", verdict.reason);
        }
    }
    if (type->release)
        type->release(instance, &request);
    return rc;
}

/* Says which event types the sample folder does not try. */
static void connector_test_note_missing_types(const struct connector_test_event *events, int count,
                                              const char *events_dir, FILE *out)
{
    for (size_t t = 0; t < CONNECTOR_TEST_TOPIC_COUNT; t++) {
        int seen = 0;
        for (int i = 0; i < count; i++)
            seen |= strcmp(events[i].topic, connector_test_topics[t]) == 0;
        if (!seen)
            fprintf(out, "note: no %s sample in %s: that event type is not tried\n",
                    connector_test_topics[t], events_dir);
    }
}

/* The closing line; returns the exit status: 0 when every sample was
 * prepared (and delivered, unless a dry run) with no contract problem. */
static int connector_test_report(const struct connector_test_settings *settings, int count,
                                 int prepared, int delivered, int contract, FILE *out)
{
    fprintf(out, "%d events: %d prepared%s", count, prepared, settings->dry_run ? "" : ", ");
    if (!settings->dry_run)
        fprintf(out, "%d delivered", delivered);
    fprintf(out, "; %d contract problem%s\n", contract, contract == 1 ? "" : "s");
    return prepared == count && contract == 0 && (settings->dry_run || delivered == count) ? 0 : 1;
}

int connector_test_run(const struct connector_test_settings *settings, FILE *out)
{
    struct config *config = NULL;
    struct connector_test_lookup lookup = {.settings = settings};
    struct placehub_options options = {.opaque = &lookup, .get = connector_test_option};
    struct connector_test_run_state state = {.settings = settings, .out = out};
    struct connector_test_event *events = NULL;
    char errstr[1024];
    int status = 1, count = 0, prepared = 0, delivered = 0, contract = 0;
    const char *name = settings->connector;

    if (settings->config_path) {
        if (config_load(settings->config_path, &config, errstr, sizeof errstr) != 0) {
            fprintf(out, "configuration error: %s\n", errstr);
            goto out;
        }
        lookup.partner = config_partner_find(config, settings->partner_id);
        if (!lookup.partner) {
            fprintf(out, "%s has no partner '%s' (--partner)\n", settings->config_path,
                    settings->partner_id);
            goto out;
        }
        if (!name)
            name = lookup.partner->connector;
    }
    if (!name) {
        fprintf(out, "no connector named: give one (or -c CONFIG --partner ID); see --help\n");
        goto out;
    }
    state.type = connector_find(name, errstr, sizeof errstr);
    if (!state.type) {
        fprintf(out, "cannot load the connector: %s\n", errstr);
        goto out;
    }
    /* connector_find has refused a type of another ABI version or without
     * a name, create, prepare or destroy (connector_type_check). */
    const struct placehub_connector_type *type = state.type;
    fprintf(out, "connector %s (%s), ABI version %u.%u; partner %s\n", type->name,
            strchr(name, '/') ? name : "built in", type->abi_major, type->abi_minor,
            settings->partner_id);
    fprintf(out, "contract: ok   ABI version, name, create, prepare, destroy%s%s\n",
            type->classify ? ", classify" : "", type->release ? ", release" : "");
    /* The partner's options as dispatch judges them at start-up: a
     * misspelt key is a configuration error there, so it is one here. */
    if (lookup.partner &&
        (connector_options_check(type, config, lookup.partner, errstr, sizeof errstr) != 0 ||
         templates_check(type, config, lookup.partner, errstr, sizeof errstr) != 0)) {
        fprintf(out, "configuration error: %s\n", errstr);
        goto out;
    }
    contract += connector_test_check_create(type, &lookup, settings->partner_id, out);

    if (delivery_partner_new_from_options(settings->partner_id, type, &options, &state.partner,
                                          errstr, sizeof errstr) != 0) {
        fprintf(out, "the partner's options were refused: %s\n", errstr);
        goto out;
    }
    state.option_url = options.get(&options, "url");
    if (!settings->dry_run && !(state.easy = curl_easy_init())) {
        fprintf(out, "out of memory\n");
        goto out;
    }

    events = calloc(CONNECTOR_TEST_MAX_EVENTS, sizeof *events);
    if (!events) {
        fprintf(out, "out of memory\n");
        goto out;
    }
    count = connector_test_load_events(settings->events_dir, events, CONNECTOR_TEST_MAX_EVENTS,
                                       errstr, sizeof errstr);
    if (count <= 0) {
        fprintf(out, "%s\n", count < 0 ? errstr : "no sample events (*.json) in the folder");
        count = 0;
        goto out;
    }
    connector_test_note_missing_types(events, count, settings->events_dir, out);
    for (int i = 0; i < count; i++) {
        int was_prepared = 0;
        int rc = connector_test_event(&state, &events[i], &contract, &was_prepared);
        prepared += was_prepared;
        delivered += rc == 0 && !settings->dry_run;
    }
    status = connector_test_report(settings, count, prepared, delivered, contract, out);
out:
    for (int i = 0; i < count; i++)
        free(events[i].body);
    free(events);
    if (state.easy)
        curl_easy_cleanup(state.easy);
    delivery_partner_destroy(state.partner);
    config_destroy(config);
    return status;
}
