/*
 * delivery.c - the delivery host (see delivery.h): one way to set a partner
 * up and one way to judge an attempt, for every program that delivers.
 *
 * Ownership: a delivery_partner owns its connector instance, transport
 * settings, credentials and pseudonym key; the configuration (or the test
 * kit's options) is borrowed. An attempt owns the connector's request and
 * the transfer's header lists between start and finish; the easy handle is
 * always the caller's.
 */
#include "delivery/delivery.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/auth.h"
#include "delivery/connector.h"
#include "delivery/record.h"
#include "delivery/templates.h"

struct delivery_partner {
    char *id;
    const struct config *config;          /* NULL when set up from options */
    const struct config_partner *partner; /* NULL when set up from options */
    const struct placehub_connector_type *type;
    void *instance;
    struct placehub_options options; /* the configuration's, or borrowed from the caller */
    struct transfer_settings settings;
    struct auth *auth;
    unsigned char pseudonym_key[512]; /* wiped on destroy */
    size_t pseudonym_key_len;
};

static const char *delivery_config_option(const struct placehub_options *options, const char *key)
{
    return config_partner_option(options->opaque, key);
}

/* What both ways of setting up share: transport, credentials, instance. */
static int delivery_partner_setup(struct delivery_partner *partner, char *errstr,
                                  size_t errstr_size)
{
    if (transfer_settings_load(partner->id, &partner->options, &partner->settings, errstr,
                               errstr_size) != 0 ||
        auth_new(partner->id, &partner->options, &partner->auth, errstr, errstr_size) != 0)
        return -1;
    return partner->type->create(connector_host(), partner->id, &partner->options,
                                 &partner->instance, errstr, errstr_size);
}

static struct delivery_partner *delivery_partner_alloc(const char *id, char *errstr,
                                                       size_t errstr_size)
{
    struct delivery_partner *partner = calloc(1, sizeof *partner);
    if (partner)
        partner->id = strdup(id);
    if (!partner || !partner->id) {
        free(partner);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return partner;
}

/* A set-up message with the file and line in front: of the option it
 * names ("options.KEY", as create() and auth_new name them), else of the
 * partner. */
static void delivery_where(const struct config *config, const struct config_partner *partner,
                           const char *message, char *errstr, size_t errstr_size)
{
    int line = partner->line;
    const char *named = strstr(message, "options.");
    for (size_t i = 0; named && i < partner->option_count; i++) {
        size_t len = strlen(partner->options[i].key);
        const char *key = named + strlen("options.");
        if (strncmp(key, partner->options[i].key, len) == 0 &&
            !(isalnum((unsigned char)key[len]) || key[len] == '_')) {
            line = partner->options[i].line;
            break;
        }
    }
    if (strncmp(message, "partner ", 8) == 0)
        snprintf(errstr, errstr_size, "%s:%d: %s", config->path, line, message);
    else
        snprintf(errstr, errstr_size, "%s:%d: partner %s: %s", config->path, line, partner->id,
                 message);
}

int delivery_partner_new(const struct config *config, const struct config_partner *config_partner,
                         struct delivery_partner **out, char *errstr, size_t errstr_size)
{
    char message[512];
    *out = NULL;
    if (!config_partner->connector) {
        snprintf(errstr, errstr_size,
                 "%s:%d: partner %s only publishes (it has no connector): nothing is delivered "
                 "to it",
                 config->path, config_partner->line, config_partner->id);
        return -1;
    }
    struct delivery_partner *partner =
        delivery_partner_alloc(config_partner->id, errstr, errstr_size);
    if (!partner)
        return -1;
    partner->config = config;
    partner->partner = config_partner;
    partner->options.opaque = config_partner;
    partner->options.get = delivery_config_option;
    partner->type = connector_find(config_partner->connector, message, sizeof message);
    if (!partner->type) {
        snprintf(errstr, errstr_size, "%s:%d: partner %s: %s", config->path, config_partner->line,
                 config_partner->id, message);
        goto fail;
    }
    /* Options first, before create() reads them: a misspelt key is refused
     * with its file and line, not ignored. */
    if (connector_options_check(partner->type, config, config_partner, errstr, errstr_size) != 0 ||
        templates_check(partner->type, config, config_partner, errstr, errstr_size) != 0)
        goto fail;
    if (delivery_partner_setup(partner, message, sizeof message) != 0) {
        delivery_where(config, config_partner, message, errstr, errstr_size);
        goto fail;
    }
    if (agreement_load_key(config, config_partner, partner->pseudonym_key,
                           sizeof partner->pseudonym_key - 1, &partner->pseudonym_key_len, errstr,
                           errstr_size) != 0)
        goto fail;
    *out = partner;
    return 0;
fail:
    delivery_partner_destroy(partner);
    return -1;
}

int delivery_partner_new_from_options(const char *partner_id,
                                      const struct placehub_connector_type *type,
                                      const struct placehub_options *options,
                                      struct delivery_partner **out, char *errstr,
                                      size_t errstr_size)
{
    *out = NULL;
    struct delivery_partner *partner = delivery_partner_alloc(partner_id, errstr, errstr_size);
    if (!partner)
        return -1;
    partner->type = type;
    partner->options = *options;
    if (delivery_partner_setup(partner, errstr, errstr_size) != 0) {
        delivery_partner_destroy(partner);
        return -1;
    }
    *out = partner;
    return 0;
}

void delivery_partner_destroy(struct delivery_partner *partner)
{
    if (!partner)
        return;
    if (partner->instance)
        partner->type->destroy(partner->instance);
    auth_destroy(partner->auth);
    transfer_settings_free(&partner->settings);
    explicit_bzero(partner->pseudonym_key, sizeof partner->pseudonym_key);
    free(partner->id);
    free(partner);
}

const char *delivery_partner_id(const struct delivery_partner *partner)
{
    return partner->id;
}

const struct placehub_connector_type *delivery_partner_type(const struct delivery_partner *partner)
{
    return partner->type;
}

void *delivery_partner_instance(const struct delivery_partner *partner)
{
    return partner->instance;
}

const char *delivery_partner_url(const struct delivery_partner *partner)
{
    return partner->settings.url;
}

const unsigned char *delivery_partner_pseudonym_key(const struct delivery_partner *partner,
                                                    size_t *len)
{
    *len = partner->pseudonym_key_len;
    return partner->pseudonym_key_len ? partner->pseudonym_key : NULL;
}

int delivery_partner_decide(const struct delivery_partner *partner, const char *topic,
                            const json_t *event, struct agreement_decision *decision)
{
    return agreement_decide(partner->partner, topic,
                            partner->pseudonym_key_len ? partner->pseudonym_key : NULL,
                            partner->pseudonym_key_len, event, decision);
}

void delivery_partner_set_notify(struct delivery_partner *partner, void (*notify)(void *opaque),
                                 void *opaque)
{
    auth_set_notify(partner->auth, notify, opaque);
}

void delivery_partner_warm(struct delivery_partner *partner)
{
    char header[AUTH_HEADER_MAX], errstr[256];
    /* The answer does not matter here: asking starts the fetch. */
    (void)auth_header_now(partner->auth, header, sizeof header, errstr, sizeof errstr);
    explicit_bzero(header, sizeof header);
}

static void delivery_release(struct delivery_partner *partner, struct delivery_attempt *attempt)
{
    transfer_cleanup(&attempt->transfer);
    if (attempt->started && partner->type->release)
        partner->type->release(partner->instance, &attempt->request);
    attempt->started = 0;
}

enum delivery_start delivery_attempt_start(struct delivery_partner *partner,
                                           struct delivery_attempt *attempt,
                                           const struct placehub_delivery *delivery, CURL *easy,
                                           enum delivery_credentials credentials, char *reason,
                                           size_t reason_size)
{
    char errstr[300];
    attempt->delivery = *delivery;
    memset(&attempt->request, 0, sizeof attempt->request);
    memset(&attempt->transfer, 0, sizeof attempt->transfer);
    attempt->started = 0;
    attempt->steps = 0;
    if (partner->type->prepare(partner->instance, &attempt->delivery, &attempt->request, errstr,
                               sizeof errstr) != 0) {
        snprintf(reason, reason_size, "connector refused the event: %s", errstr);
        return DELIVERY_REFUSED;
    }
    attempt->started = 1;
    /* The credentials for this attempt. A token endpoint that fails is a
     * passing failure of the partner's, never the event's. */
    char auth_line[AUTH_HEADER_MAX];
    int got =
        credentials == DELIVERY_CREDENTIALS_NOW
            ? auth_header_now(partner->auth, auth_line, sizeof auth_line, errstr, sizeof errstr)
            : auth_header(partner->auth, auth_line, sizeof auth_line, errstr, sizeof errstr);
    if (got != 0) {
        delivery_release(partner, attempt);
        explicit_bzero(auth_line, sizeof auth_line);
        if (got == AUTH_PENDING) {
            snprintf(reason, reason_size, "waiting for an access token");
            return DELIVERY_WAIT_CREDENTIALS;
        }
        snprintf(reason, reason_size, "no credentials: %s", errstr);
        return DELIVERY_NO_CREDENTIALS;
    }
    int set_up =
        easy && transfer_setup(&attempt->transfer, easy, &partner->settings, &attempt->delivery,
                               &attempt->request, auth_line, errstr, sizeof errstr) == 0;
    explicit_bzero(auth_line, sizeof auth_line);
    if (!set_up) {
        snprintf(reason, reason_size, "cannot set the request up: %s",
                 easy ? errstr : "out of memory");
        delivery_release(partner, attempt);
        return DELIVERY_SETUP_FAILED;
    }
    return DELIVERY_STARTED;
}

/* Sets the attempt's easy handle up again for the request next() refilled.
 * Returns 0, or -1 with errstr (the attempt then ends as a retry). */
static int delivery_continue(struct delivery_partner *partner, struct delivery_attempt *attempt,
                             char *errstr, size_t errstr_size)
{
    char auth_line[AUTH_HEADER_MAX];
    CURL *easy = attempt->transfer.easy;
    transfer_cleanup(&attempt->transfer);
    if (++attempt->steps >= PLACEHUB_MAX_STEPS) {
        snprintf(errstr, errstr_size, "the connector asked for more than %d requests",
                 PLACEHUB_MAX_STEPS);
        return -1;
    }
    int got = auth_header_now(partner->auth, auth_line, sizeof auth_line, errstr, errstr_size);
    if (got == AUTH_PENDING)
        snprintf(errstr, errstr_size, "waiting for an access token");
    int result =
        got == 0 ? transfer_setup(&attempt->transfer, easy, &partner->settings, &attempt->delivery,
                                  &attempt->request, auth_line, errstr, errstr_size)
                 : -1;
    explicit_bzero(auth_line, sizeof auth_line);
    return result;
}

/* The partner's reference, printable ASCII only. */
static void delivery_reference(const char *reference, char *out, size_t out_size)
{
    size_t used = 0;
    for (size_t i = 0;
         i < sizeof((struct placehub_outcome *)0)->reference && reference[i] && used + 1 < out_size;
         i++)
        out[used++] = reference[i] > 0x20 && reference[i] < 0x7f ? reference[i] : '.';
    out[used] = '\0';
}

enum delivery_finish delivery_attempt_finish(struct delivery_partner *partner,
                                             struct delivery_attempt *attempt, CURLcode code,
                                             struct delivery_verdict *verdict)
{
    struct placehub_response response;
    struct placehub_outcome outcome;
    memset(verdict, 0, sizeof *verdict);
    /* The host's judgement first; classify() sees it pre-filled. */
    transfer_finish(&attempt->transfer, code, &response, &outcome, &verdict->retry_after_ms);
    if (partner->type->classify)
        partner->type->classify(partner->instance, &attempt->delivery, &response, &outcome);
    if (response.status == 401 && outcome.result == PLACEHUB_REJECTED) {
        /* IMPORTANT: the hub's credentials were refused, not the event (see
         * delivery.h): drop a cached token and retry. */
        auth_invalidate(partner->auth);
        outcome.result = PLACEHUB_RETRY;
        snprintf(outcome.reason, sizeof outcome.reason, "HTTP 401: credentials refused");
        verdict->credentials_refused = 1;
    }
    connector_next_fn next = connector_next(partner->type);
    if (outcome.result == PLACEHUB_DELIVERED && next &&
        next(partner->instance, &attempt->delivery, &response, &attempt->request, &outcome) == 1) {
        char errstr[256];
        if (delivery_continue(partner, attempt, errstr, sizeof errstr) == 0)
            return DELIVERY_CONTINUES;
        outcome.result = PLACEHUB_RETRY;
        snprintf(outcome.reason, sizeof outcome.reason, "cannot set the next request up: %s",
                 errstr);
        memset(&response, 0, sizeof response); /* the transfer's buffer is gone */
    }
    verdict->result = outcome.result;
    verdict->status = response.status;
    snprintf(verdict->reason, sizeof verdict->reason, "%s", outcome.reason);
    record_redact(response.body, response.body_len, verdict->excerpt, sizeof verdict->excerpt);
    if (outcome.result == PLACEHUB_DELIVERED)
        delivery_reference(outcome.reference, verdict->reference, sizeof verdict->reference);
    delivery_release(partner, attempt);
    return DELIVERY_FINISHED;
}

void delivery_attempt_abandon(struct delivery_partner *partner, struct delivery_attempt *attempt)
{
    delivery_release(partner, attempt);
}

enum delivery_start delivery_attempt_perform(struct delivery_partner *partner,
                                             const struct placehub_delivery *delivery, CURL *easy,
                                             struct delivery_verdict *verdict)
{
    struct delivery_attempt attempt;
    memset(&attempt, 0, sizeof attempt);
    memset(verdict, 0, sizeof *verdict);
    enum delivery_start start =
        delivery_attempt_start(partner, &attempt, delivery, easy, DELIVERY_CREDENTIALS_WAIT,
                               verdict->reason, sizeof verdict->reason);
    if (start != DELIVERY_STARTED) {
        verdict->result = start == DELIVERY_REFUSED ? PLACEHUB_REJECTED : PLACEHUB_RETRY;
        return start;
    }
    while (delivery_attempt_finish(partner, &attempt, curl_easy_perform(easy), verdict) ==
           DELIVERY_CONTINUES)
        ; /* the next request of a delivery made of several */
    return DELIVERY_STARTED;
}
