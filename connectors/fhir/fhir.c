/*
 * fhir.c - the built-in `fhir` connector: each event as a FHIR R4
 * transaction Bundle in the UK Core style, POSTed to the partner's FHIR base
 * url with Content-Type application/fhir+json.
 *
 *   admission, discharge  Patient + Encounter
 *   referral              Patient + ServiceRequest
 *   employment-support    Patient + ServiceRequest (+ EpisodeOfCare)
 *
 * IMPORTANT: a replay must not create duplicates at the partner, so no
 * resource is ever created blindly. The Patient is a conditional create
 * (ifNoneExist on the NHS number, else the partner's pseudonym of the person
 * under <identifier_base>:pseudonym, else the first local identifier); the
 * Encounter, ServiceRequest and EpisodeOfCare are conditional updates (PUT
 * Type?identifier=system|value) keyed by a stable business identifier: the
 * hospital spell number, the referral id. The Bundle itself is a pure
 * function of the event (fullUrls are derived from the event id), so a
 * replay sends byte for byte the same request.
 *
 * This file: the connector type, the Patient and the Bundle; the other
 * resources are built in fhir_resources.c. The mapping, and why, is in
 * docs/connectors.md ("fhir").
 *
 * Ownership: the Bundle text is owned by the request (released in
 * release()); nothing request-specific lives in the instance.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir.h"

#define FHIR_NHS_NUMBER "https://fhir.nhs.uk/Id/nhs-number"
#define FHIR_ODS_ORGANISATION "https://fhir.nhs.uk/Id/ods-organization-code"
#define FHIR_CONFIDENTIALITY "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

static int fhir_create(const struct placehub_host *host, const char *partner_id,
                       const struct placehub_options *options, void **instance, char *errstr,
                       size_t errstr_size)
{
    const char *url = options->get(options, "url");
    const char *base = options->get(options, "identifier_base");
    const char *patient = options->get(options, "patient");
    const char *episode = options->get(options, "episode_of_care");
    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.url must be the http:// or https:// base URL of the "
                 "partner's FHIR R4 server",
                 partner_id);
        return -1;
    }
    if (base &&
        (strlen(base) < 5 || strlen(base) > 200 || strpbrk(base, " |?#&") || !strchr(base, ':'))) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.identifier_base must be a URI without spaces, | ? # or & "
                 "(e.g. urn:placehub or https://fhir.example-partnership.org.uk/Id)",
                 partner_id);
        return -1;
    }
    if (patient && strcmp(patient, "create") != 0 && strcmp(patient, "update") != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.patient must be create or update",
                 partner_id);
        return -1;
    }
    if (episode && strcmp(episode, "true") != 0 && strcmp(episode, "false") != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.episode_of_care must be true or false",
                 partner_id);
        return -1;
    }
    struct fhir *fhir = calloc(1, sizeof *fhir);
    if (!fhir) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    fhir->host = host;
    snprintf(fhir->base, sizeof fhir->base, "%s", base ? base : "urn:placehub");
    size_t len = strlen(fhir->base);
    if (len && fhir->base[len - 1] == '/')
        fhir->base[len - 1] = '\0';
    fhir->patient_update = patient && strcmp(patient, "update") == 0;
    fhir->episode_of_care = !episode || strcmp(episode, "true") == 0;
    *instance = fhir;
    return 0;
}

static void fhir_destroy(void *instance)
{
    free(instance);
}

/* ---- small helpers ------------------------------------------------------ */

const char *fhir_text(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text && *text ? text : NULL;
}

/* One of placehub's own systems: base + name ("encounter/RXX"), joined as
 * the base's scheme expects (urn:placehub:encounter:RXX,
 * https://x.org/Id/encounter/RXX). */
void fhir_system(const struct fhir *fhir, const char *name, char *out, size_t out_size)
{
    int urn = strncmp(fhir->base, "urn:", 4) == 0;
    int n = snprintf(out, out_size, "%s%c%s", fhir->base, urn ? ':' : '/', name);
    for (char *c = out + strlen(fhir->base); urn && n > 0 && *c; c++)
        if (*c == '/')
            *c = ':';
}

/* A name-based UUID (urn:uuid:...) from the event id, so the Bundle is the
 * same on every replay. */
static int fhir_full_url(const struct fhir *fhir, const char *name, const char *event_id, char *out,
                         size_t out_size)
{
    unsigned char mac[32];
    if (fhir->host->hmac_sha256(name, strlen(name), event_id, strlen(event_id), mac) != 0)
        return -1;
    mac[6] = (unsigned char)((mac[6] & 0x0f) | 0x50); /* version 5 layout */
    mac[8] = (unsigned char)((mac[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(out, out_size, "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    return 0;
}

/* Appends text to a search value, escaping what FHIR search treats as
 * separators (\ | , $) and percent-encoding what would break the query. */
static void fhir_search_append(char *out, size_t out_size, const char *text, int fhir_escape)
{
    size_t used = strlen(out);
    for (const unsigned char *c = (const unsigned char *)text; *c && used + 4 < out_size; c++) {
        if (fhir_escape && (*c == '\\' || *c == '|' || *c == ',' || *c == '$'))
            out[used++] = '\\';
        if (*c <= 0x20 || *c >= 0x7f || *c == '&' || *c == '#' || *c == '%' || *c == '+')
            used += (size_t)snprintf(out + used, out_size - used, "%%%02X", *c);
        else
            out[used++] = (char)*c;
        out[used] = '\0';
    }
}

/* "identifier=system|value", as a search string. */
void fhir_identifier_search(const char *system, const char *value, char *out, size_t out_size)
{
    snprintf(out, out_size, "identifier=");
    fhir_search_append(out, out_size, system, 0);
    size_t used = strlen(out);
    snprintf(out + used, out_size - used, "|");
    fhir_search_append(out, out_size, value, 1);
}

json_t *fhir_identifier(const char *system, const char *value)
{
    return json_pack("{s:s, s:s}", "system", system, "value", value);
}

/* A logical reference to an organisation by ODS code (the partner's server
 * resolves it, or keeps it as is). */
json_t *fhir_organisation(const char *ods_code, const char *display)
{
    if (!ods_code && !display)
        return NULL;
    return json_pack("{s:s, s:o*, s:s*}", "type", "Organization", "identifier",
                     ods_code ? fhir_identifier(FHIR_ODS_ORGANISATION, ods_code) : NULL, "display",
                     display);
}

static json_t *fhir_entry(const char *full_url, json_t *resource, const char *method,
                          const char *url, const char *if_none_exist)
{
    return json_pack("{s:s, s:o, s:{s:s, s:s, s:s*}}", "fullUrl", full_url, "resource", resource,
                     "request", "method", method, "url", url, "ifNoneExist", if_none_exist);
}

/* ---- Patient ------------------------------------------------------------ */

static json_t *fhir_patient(struct fhir_build *build, char *search, size_t search_size,
                            char *errstr, size_t errstr_size)
{
    const json_t *person = json_object_get(build->event, "person");
    const json_t *sharing = json_object_get(build->event, "sharing");
    const char *nhs_number = fhir_text(person, "nhs_number");
    json_t *patient = json_pack("{s:s}", "resourceType", "Patient");
    json_t *identifiers = json_array();
    if (!patient || !identifiers)
        goto fail;
    search[0] = '\0';
    if (nhs_number) {
        json_array_append_new(identifiers, fhir_identifier(FHIR_NHS_NUMBER, nhs_number));
        fhir_identifier_search(FHIR_NHS_NUMBER, nhs_number, search, search_size);
    }
    /* When the partner's agreement withholds the NHS number, the hub may
     * send its pseudonym for this partner instead: stable per person, so it
     * matches the Patient as well as the number would. */
    const char *pseudonym = fhir_text(person, "pseudonym");
    if (pseudonym) {
        char system[320];
        fhir_system(build->fhir, "pseudonym", system, sizeof system);
        json_array_append_new(identifiers, fhir_identifier(system, pseudonym));
        if (!search[0])
            fhir_identifier_search(system, pseudonym, search, search_size);
    }
    size_t i;
    json_t *local;
    json_array_foreach(json_object_get(person, "local_identifiers"), i, local)
    {
        const char *system = fhir_text(local, "system"), *value = fhir_text(local, "value");
        if (!system || !value)
            continue;
        json_array_append_new(identifiers, fhir_identifier(system, value));
        if (!search[0])
            fhir_identifier_search(system, value, search, search_size);
    }
    if (!search[0]) {
        /* Without an identifier the partner could only create a new Patient
         * on every replay. */
        snprintf(errstr, errstr_size,
                 "the person has no NHS number, pseudonym or local identifier the partner may "
                 "see: it could not match the Patient");
        goto fail;
    }
    if (json_is_true(json_object_get(sharing, "restricted_record")))
        json_object_set_new(patient, "meta",
                            json_pack("{s:[{s:s, s:s, s:s}]}", "security", "system",
                                      FHIR_CONFIDENTIALITY, "code", "R", "display", "restricted"));
    json_object_set_new(patient, "identifier", identifiers);
    identifiers = NULL;

    const char *family = fhir_text(person, "family_name");
    const char *given = fhir_text(person, "given_name");
    if (family || given) {
        json_t *name = json_pack("{s:s, s:s*}", "use", "official", "family", family);
        if (given) {
            /* "Margaret Ann": given names and middle names, one each. */
            json_t *names = json_array();
            char copy[256], *save = NULL;
            snprintf(copy, sizeof copy, "%s", given);
            for (char *word = strtok_r(copy, " ", &save); word; word = strtok_r(NULL, " ", &save))
                json_array_append_new(names, json_string(word));
            json_object_set_new(name, "given", names);
        }
        json_object_set_new(patient, "name", json_pack("[o]", name));
    }
    const char *birth_date = fhir_text(person, "date_of_birth");
    if (birth_date)
        json_object_set_new(patient, "birthDate", json_string(birth_date));
    const json_t *address = json_object_get(person, "address");
    if (json_is_object(address)) {
        json_t *lines = json_object_get(address, "lines");
        const char *postcode = fhir_text(address, "postcode");
        json_t *entry = json_pack("{s:s, s:s}", "use", "home", "type", "physical");
        if (json_array_size(lines) > 0)
            json_object_set_new(entry, "line", json_deep_copy(lines));
        if (postcode)
            json_object_set_new(entry, "postalCode", json_string(postcode));
        json_object_set_new(patient, "address", json_pack("[o]", entry));
    }
    const char *gp = fhir_text(person, "gp_practice_ods_code");
    if (gp)
        json_object_set_new(patient, "generalPractitioner",
                            json_pack("[o]", fhir_organisation(gp, NULL)));
    return patient;
fail:
    json_decref(identifiers);
    json_decref(patient);
    return NULL;
}

/* ---- the Bundle --------------------------------------------------------- */

/* The transaction Bundle for one event, as text. Caller frees. */
static char *fhir_bundle(const struct fhir *fhir, const struct placehub_delivery *delivery,
                         char *errstr, size_t errstr_size)
{
    struct fhir_build build = {.fhir = fhir, .delivery = delivery};
    json_t *bundle = NULL, *patient = NULL, *main = NULL, *episode = NULL;
    char *text = NULL;
    char patient_search[768], main_url[800], episode_url[800], patient_url[800];
    json_error_t error;
    build.event = json_loadb(delivery->body, delivery->body_len, 0, &error);
    const char *event_type = fhir_text(build.event, "event_type");
    if (!json_is_object(build.event) || !event_type) {
        snprintf(errstr, errstr_size, "the event is not a JSON object with an event_type");
        goto out;
    }
    if (fhir_full_url(fhir, "Patient", delivery->event_id, build.patient_url,
                      sizeof build.patient_url) != 0 ||
        fhir_full_url(fhir, "main", delivery->event_id, build.main_url, sizeof build.main_url) !=
            0 ||
        fhir_full_url(fhir, "EpisodeOfCare", delivery->event_id, build.episode_url,
                      sizeof build.episode_url) != 0) {
        snprintf(errstr, errstr_size, "cannot derive fullUrls");
        goto out;
    }
    patient = fhir_patient(&build, patient_search, sizeof patient_search, errstr, errstr_size);
    if (!patient)
        goto out;
    const char *topic = delivery->event_type;
    if (strcmp(topic, "admission") == 0 || strcmp(topic, "discharge") == 0)
        main = fhir_resources_encounter(&build, event_type, main_url, sizeof main_url, errstr,
                                        errstr_size);
    else if (strcmp(topic, "referral") == 0 || strcmp(topic, "employment-support") == 0)
        main = fhir_resources_service_request(&build, event_type, strcmp(topic, "referral") == 0,
                                              main_url, sizeof main_url, errstr, errstr_size);
    else
        snprintf(errstr, errstr_size, "no FHIR mapping for topic %.64s", topic);
    if (!main)
        goto out;
    if (strcmp(topic, "employment-support") == 0 && fhir->episode_of_care) {
        episode = fhir_resources_episode(&build, event_type, episode_url, sizeof episode_url);
        if (!episode) {
            snprintf(errstr, errstr_size, "cannot build the EpisodeOfCare");
            goto out;
        }
    }

    char identifier[128];
    snprintf(identifier, sizeof identifier, "urn:uuid:%s", delivery->event_id);
    bundle = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s*, s:[]}", "resourceType", "Bundle",
                       "identifier", "system", "urn:ietf:rfc:3986", "value", identifier, "type",
                       "transaction", "timestamp", fhir_text(build.event, "recorded_at"), "entry");
    if (!bundle) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    json_t *entries = json_object_get(bundle, "entry");
    if (fhir->patient_update) {
        snprintf(patient_url, sizeof patient_url, "Patient?%s", patient_search);
        json_array_append_new(entries,
                              fhir_entry(build.patient_url, patient, "PUT", patient_url, NULL));
    } else {
        json_array_append_new(
            entries, fhir_entry(build.patient_url, patient, "POST", "Patient", patient_search));
    }
    patient = NULL;
    json_array_append_new(entries, fhir_entry(build.main_url, main, "PUT", main_url, NULL));
    main = NULL;
    if (episode)
        json_array_append_new(entries,
                              fhir_entry(build.episode_url, episode, "PUT", episode_url, NULL));
    episode = NULL;
    text = json_dumps(bundle, JSON_COMPACT);
    if (!text)
        snprintf(errstr, errstr_size, "out of memory");
out:
    json_decref(bundle);
    json_decref(patient);
    json_decref(main);
    json_decref(episode);
    json_decref(build.event);
    return text;
}

static int fhir_prepare(void *instance, const struct placehub_delivery *delivery,
                        struct placehub_request *request, char *errstr, size_t errstr_size)
{
    char *text = fhir_bundle(instance, delivery, errstr, errstr_size);
    if (!text)
        return -1;
    request->headers[request->header_count++] = "Content-Type: application/fhir+json";
    request->headers[request->header_count++] = "Accept: application/fhir+json";
    /* The answer is only judged by its status: keep it small. */
    request->headers[request->header_count++] = "Prefer: return=minimal";
    request->body = text;
    request->body_len = strlen(text);
    request->context = text;
    return 0;
}

/* FHIR servers explain a refusal in an OperationOutcome. Its diagnostics
 * may quote the resource (names, NHS numbers), so only the issue codes go
 * into the reason, which is logged and dead-lettered. */
static void fhir_classify(void *instance, const struct placehub_delivery *delivery,
                          const struct placehub_response *response,
                          struct placehub_outcome *outcome)
{
    (void)instance;
    (void)delivery;
    if (response->status == 409) {
        /* A version conflict between two writers of one resource: passes. */
        outcome->result = PLACEHUB_RETRY;
        snprintf(outcome->reason, sizeof outcome->reason, "FHIR 409 conflict");
        return;
    }
    if (outcome->result != PLACEHUB_REJECTED || !response->body || !response->body_len)
        return;
    json_t *answer = json_loadb(response->body, response->body_len, 0, NULL);
    const char *type = json_string_value(json_object_get(answer, "resourceType"));
    if (type && strcmp(type, "OperationOutcome") == 0) {
        size_t used = (size_t)snprintf(outcome->reason, sizeof outcome->reason,
                                       "FHIR %d OperationOutcome", response->status);
        size_t i;
        json_t *issue;
        json_array_foreach(json_object_get(answer, "issue"), i, issue)
        {
            const char *code = json_string_value(json_object_get(issue, "code"));
            if (i >= 4 || used >= sizeof outcome->reason - 40 || !code || strlen(code) > 32)
                break;
            used += (size_t)snprintf(outcome->reason + used, sizeof outcome->reason - used, "%s%s",
                                     i ? "," : " issue=", code);
        }
    }
    json_decref(answer);
}

static void fhir_release(void *instance, struct placehub_request *request)
{
    (void)instance;
    free(request->context);
    request->context = NULL;
}

/* What fhir_create reads; the host's keys (timeouts, TLS, auth) come on
 * top. url is the host's too, declared here to make it required. */
static const struct placehub_option fhir_options[] = {
    {"url", PLACEHUB_OPTION_URL, 1, 0, "the partner's FHIR R4 base URL"},
    {"identifier_base", PLACEHUB_OPTION_STRING, 0, 0,
     "namespace URI of placehub's identifier systems (default urn:placehub)"},
    {"patient", PLACEHUB_OPTION_STRING, 0, 0,
     "create (conditional create, the default) or update (conditional update)"},
    {"episode_of_care", PLACEHUB_OPTION_BOOLEAN, 0, 0,
     "employment support also as an EpisodeOfCare (default true)"},
    {0},
};

const struct placehub_connector_type placehub_connector_fhir = {
    PLACEHUB_CONNECTOR_VERSION, .name = "fhir",          .options = fhir_options,
    .create = fhir_create,      .prepare = fhir_prepare, .classify = fhir_classify,
    .release = fhir_release,    .destroy = fhir_destroy,
};
