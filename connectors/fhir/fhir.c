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
 * The mapping, and why, is in docs/connectors.md ("fhir"). Statuses follow
 * the HL7 v2-to-FHIR ConceptMap table-hl70003-to-encounter-status.
 *
 * Ownership: the Bundle text is owned by the request (released in
 * release()); nothing request-specific lives in the instance.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placehub/connector.h"

#define FHIR_NHS_NUMBER "https://fhir.nhs.uk/Id/nhs-number"
#define FHIR_ODS_ORGANISATION "https://fhir.nhs.uk/Id/ods-organization-code"
#define FHIR_ODS_SITE "https://fhir.nhs.uk/Id/ods-site-code"
#define FHIR_ACT_CODE "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#define FHIR_PHYSICAL_TYPE "http://terminology.hl7.org/CodeSystem/location-physical-type"
#define FHIR_DISCHARGE_DISPOSITION "http://terminology.hl7.org/CodeSystem/discharge-disposition"
#define FHIR_CONFIDENTIALITY "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
#define FHIR_SNOMED "http://snomed.info/sct"
#define FHIR_ADMISSION_METHOD                                                                      \
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod"

struct fhir {
    const struct placehub_host *host;
    char base[256];      /* options.identifier_base: namespace of placehub's own systems */
    int patient_update;  /* options.patient: update (PUT) rather than create-if-none */
    int episode_of_care; /* options.episode_of_care */
};

/* The systems, URLs and fullUrls of one event's Bundle. */
struct fhir_build {
    const struct fhir *fhir;
    const struct placehub_delivery *delivery;
    json_t *event;
    char patient_url[64]; /* urn:uuid:... */
    char main_url[64];
    char episode_url[64];
};

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

static const char *fhir_text(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text && *text ? text : NULL;
}

/* One of placehub's own systems: base + name ("encounter/RXX"), joined as
 * the base's scheme expects (urn:placehub:encounter:RXX,
 * https://x.org/Id/encounter/RXX). */
static void fhir_system(const struct fhir *fhir, const char *name, char *out, size_t out_size)
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
static void fhir_identifier_search(const char *system, const char *value, char *out,
                                   size_t out_size)
{
    snprintf(out, out_size, "identifier=");
    fhir_search_append(out, out_size, system, 0);
    size_t used = strlen(out);
    snprintf(out + used, out_size - used, "|");
    fhir_search_append(out, out_size, value, 1);
}

static json_t *fhir_identifier(const char *system, const char *value)
{
    return json_pack("{s:s, s:s}", "system", system, "value", value);
}

/* A logical reference to an organisation by ODS code (the partner's server
 * resolves it, or keeps it as is). */
static json_t *fhir_organisation(const char *ods_code, const char *display)
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

/* Words for an enum symbol: "CARE_HOME" -> "care home". */
static void fhir_words(const char *symbol, char *out, size_t out_size)
{
    size_t i = 0;
    for (; symbol[i] && i + 1 < out_size; i++)
        out[i] =
            symbol[i] == '_'
                ? ' '
                : (char)(symbol[i] >= 'A' && symbol[i] <= 'Z' ? symbol[i] - 'A' + 'a' : symbol[i]);
    out[i] = '\0';
}

struct fhir_code {
    const char *from;
    const char *to;
};

static const char *fhir_map(const struct fhir_code *table, const char *from)
{
    for (; from && table->from; table++)
        if (strcmp(table->from, from) == 0)
            return table->to;
    return NULL;
}

/* A contained PractitionerRole for a Professional (referrer, care
 * coordinator), or NULL when the event has none. */
static json_t *fhir_practitioner_role(const json_t *professional, const char *id)
{
    if (!json_is_object(professional))
        return NULL;
    const char *name = fhir_text(professional, "name");
    const char *role = fhir_text(professional, "role");
    const char *contact = fhir_text(professional, "contact");
    return json_pack(
        "{s:s, s:s, s:o*, s:o*, s:o*, s:o*}", "resourceType", "PractitionerRole", "id", id,
        "practitioner", name ? json_pack("{s:s}", "display", name) : NULL, "organization",
        fhir_organisation(fhir_text(professional, "ods_code"),
                          fhir_text(professional, "organisation_name")),
        "code", role ? json_pack("[{s:s}]", "text", role) : NULL, "telecom",
        contact ? json_pack("[{s:s, s:s}]", "system", "phone", "value", contact) : NULL);
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

/* ---- Encounter (admission, discharge) ----------------------------------- */

static const struct fhir_code fhir_encounter_status[] = {
    /* HL7 v2-to-FHIR table-hl70003-to-encounter-status */
    {"ADMITTED", "in-progress"},            /* A01 */
    {"TRANSFERRED", "in-progress"},         /* A02 */
    {"ADMISSION_CANCELLED", "cancelled"},   /* A11 */
    {"TRANSFER_CANCELLED", "in-progress"},  /* A12: the stay goes on where it was */
    {"DISCHARGE_PENDING", "in-progress"},   /* A16: still in hospital */
    {"DISCHARGED", "finished"},             /* A03 */
    {"DISCHARGE_CANCELLED", "in-progress"}, /* A13 */
    {NULL, NULL}};

static const struct fhir_code fhir_discharge_disposition[] = {
    {"HOME", "home"},
    {"CARE_HOME", "long"},
    {"NURSING_HOME", "snf"},
    {"OTHER_HOSPITAL", "other-hcf"},
    {"HOSPICE", "hosp"},
    {"TEMPORARY_ACCOMMODATION", "alt-home"},
    {"DIED", "exp"},
    {"OTHER", "oth"},
    {NULL, NULL}};

static json_t *fhir_location(const char *site, const char *ward, const char *status)
{
    json_t *locations = json_array();
    if (site)
        json_array_append_new(locations,
                              json_pack("{s:{s:o}, s:s, s:{s:[{s:s, s:s}]}}", "location",
                                        "identifier", fhir_identifier(FHIR_ODS_SITE, site),
                                        "status", status, "physicalType", "coding", "system",
                                        FHIR_PHYSICAL_TYPE, "code", "si"));
    if (ward)
        json_array_append_new(locations,
                              json_pack("{s:{s:s}, s:s, s:{s:[{s:s, s:s}]}}", "location", "display",
                                        ward, "status", status, "physicalType", "coding", "system",
                                        FHIR_PHYSICAL_TYPE, "code", "wa"));
    return locations;
}

static json_t *fhir_encounter(struct fhir_build *build, const char *event_type, char *url,
                              size_t url_size, char *errstr, size_t errstr_size)
{
    const json_t *event = build->event;
    const char *status = fhir_map(fhir_encounter_status, event_type);
    const char *encounter_id = fhir_text(event, "encounter_id");
    const char *correlation_id = fhir_text(event, "correlation_id");
    const char *source = fhir_text(event, "source_ods_code");
    char system[320], search[768];
    if (!status) {
        snprintf(errstr, errstr_size, "no FHIR mapping for %s event type %.40s",
                 build->delivery->event_type, event_type);
        return NULL;
    }
    /* The spell number is the trust's own: scoped by the trust's ODS code.
     * Without it the correlation id (the same on all of a spell's events)
     * keys the Encounter; without either, a replay could not find it. */
    const char *key;
    if (encounter_id && source) {
        char name[64];
        snprintf(name, sizeof name, "encounter/%.32s", source);
        fhir_system(build->fhir, name, system, sizeof system);
        key = encounter_id;
    } else if (correlation_id) {
        fhir_system(build->fhir, "spell", system, sizeof system);
        key = correlation_id;
    } else {
        snprintf(errstr, errstr_size,
                 "the event has neither encounter_id nor correlation_id: the partner could not "
                 "match the Encounter");
        return NULL;
    }
    fhir_identifier_search(system, key, search, sizeof search);
    snprintf(url, url_size, "Encounter?%s", search);

    json_t *encounter = json_pack(
        "{s:s, s:[o], s:s, s:{s:s, s:s, s:s}, s:{s:s}}", "resourceType", "Encounter", "identifier",
        fhir_identifier(system, key), "status", status, "class", "system", FHIR_ACT_CODE, "code",
        "IMP", "display", "inpatient encounter", "subject", "reference", build->patient_url);
    if (!encounter)
        return NULL;
    json_t *extensions = json_array();
    const char *method = fhir_text(event, "admission_method");
    if (method) {
        /* The Data Dictionary codes of the UK Core extension are finer than
         * the event's category, so the category travels as text. */
        char words[64];
        fhir_words(method, words, sizeof words);
        json_array_append_new(extensions, json_pack("{s:s, s:{s:s}}", "url", FHIR_ADMISSION_METHOD,
                                                    "valueCodeableConcept", "text", words));
    }
    const char *expected = fhir_text(event, "expected_discharge_date");
    if (expected) {
        /* R4 has no planned end date. R5's cross-version extension
         * (http://hl7.org/fhir/5.0/...-Encounter.plannedEndDate) is refused
         * by HAPI FHIR's validator ("invalid Version '5.0'") unless the
         * server has the cross-version package, so placehub's own. */
        char extension[320];
        fhir_system(build->fhir, "extension/expected-discharge-date", extension, sizeof extension);
        json_array_append_new(extensions,
                              json_pack("{s:s, s:s}", "url", extension, "valueDate", expected));
    }
    if (json_array_size(extensions))
        json_object_set_new(encounter, "extension", extensions);
    else
        json_decref(extensions);

    const char *specialty = fhir_text(event, "admitting_specialty");
    if (specialty)
        json_object_set_new(encounter, "serviceType", json_pack("{s:s}", "text", specialty));
    const char *start = fhir_text(event, "admitted_at");
    const char *end = fhir_text(event, "discharged_at");
    if (start || end)
        json_object_set_new(encounter, "period",
                            json_pack("{s:s*, s:s*}", "start", start, "end", end));
    const char *destination = fhir_text(event, "discharge_destination");
    if (destination) {
        char words[64];
        fhir_words(destination, words, sizeof words);
        json_object_set_new(encounter, "hospitalization",
                            json_pack("{s:{s:[{s:s, s:s}], s:s}}", "dischargeDisposition", "coding",
                                      "system", FHIR_DISCHARGE_DISPOSITION, "code",
                                      fhir_map(fhir_discharge_disposition, destination)
                                          ? fhir_map(fhir_discharge_disposition, destination)
                                          : "oth",
                                      "text", words));
    }
    const char *site = fhir_text(event, "site_ods_code");
    const char *ward = fhir_text(event, "ward");
    json_t *locations =
        fhir_location(site, ward, strcmp(event_type, "DISCHARGED") == 0 ? "completed" : "active");
    if (strcmp(event_type, "TRANSFERRED") == 0) {
        /* Where the person was moved from. (On TRANSFER_CANCELLED the
         * previous_* fields name the cancelled destination: not sent.) */
        json_t *previous = fhir_location(fhir_text(event, "previous_site_ods_code"),
                                         fhir_text(event, "previous_ward"), "completed");
        json_array_extend(locations, previous);
        json_decref(previous);
    }
    if (json_array_size(locations))
        json_object_set_new(encounter, "location", locations);
    else
        json_decref(locations);
    if (source)
        json_object_set_new(encounter, "serviceProvider", fhir_organisation(source, NULL));
    return encounter;
}

/* ---- ServiceRequest and EpisodeOfCare ----------------------------------- */

static const struct fhir_code fhir_referral_status[] = {{"REFERRAL_SENT", "active"},
                                                        {"REFERRAL_ACCEPTED", "active"},
                                                        {"REFERRAL_REJECTED", "revoked"},
                                                        {"REFERRAL_CLOSED", "completed"},
                                                        {"REFERRAL_CANCELLED", "entered-in-error"},
                                                        {NULL, NULL}};

static const struct fhir_code fhir_employment_status[] = {{"REFERRED", "active"},
                                                          {"ENGAGED", "active"},
                                                          {"JOB_START", "active"},
                                                          {"SUSTAINED_EMPLOYMENT", "active"},
                                                          {"DISENGAGED", "revoked"},
                                                          {"CLOSED", "completed"},
                                                          {"CANCELLED", "entered-in-error"},
                                                          {NULL, NULL}};

static const struct fhir_code fhir_episode_status[] = {
    {"REFERRED", "planned"},           {"ENGAGED", "active"},
    {"JOB_START", "active"},           {"SUSTAINED_EMPLOYMENT", "active"},
    {"DISENGAGED", "finished"},        {"CLOSED", "finished"},
    {"CANCELLED", "entered-in-error"}, {NULL, NULL}};

static json_t *fhir_notes(const json_t *event)
{
    json_t *notes = json_array();
    const char *text = fhir_text(event, "notes");
    const char *outcome = fhir_text(event, "outcome_reason");
    if (text)
        json_array_append_new(notes, json_pack("{s:s}", "text", text));
    if (outcome) {
        char line[2048];
        snprintf(line, sizeof line, "Outcome: %s", outcome);
        json_array_append_new(notes, json_pack("{s:s}", "text", line));
    }
    if (json_array_size(notes) == 0) {
        json_decref(notes);
        return NULL;
    }
    return notes;
}

/* Sets requester: the referring professional as a contained
 * PractitionerRole, or the person themselves for a self-referral. */
static void fhir_requester(json_t *request, const json_t *professional, const char *patient_url)
{
    json_t *role = fhir_practitioner_role(professional, "referrer");
    if (role) {
        json_object_set_new(request, "contained", json_pack("[o]", role));
        json_object_set_new(request, "requester", json_pack("{s:s}", "reference", "#referrer"));
    } else {
        json_object_set_new(request, "requester", json_pack("{s:s}", "reference", patient_url));
    }
}

static json_t *fhir_service_request(struct fhir_build *build, const char *event_type, int referral,
                                    char *url, size_t url_size, char *errstr, size_t errstr_size)
{
    const json_t *event = build->event;
    const char *status =
        fhir_map(referral ? fhir_referral_status : fhir_employment_status, event_type);
    const char *referral_id = fhir_text(event, "referral_id");
    char system[320], search[768];
    if (!status || !referral_id) {
        snprintf(errstr, errstr_size, "no FHIR mapping for %s event type %.40s%s",
                 build->delivery->event_type, event_type,
                 referral_id ? "" : " without a referral_id");
        return NULL;
    }
    fhir_system(build->fhir, referral ? "referral" : "employment-support", system, sizeof system);
    fhir_identifier_search(system, referral_id, search, sizeof search);
    snprintf(url, url_size, "ServiceRequest?%s", search);
    json_t *request = json_pack(
        "{s:s, s:[o], s:s, s:s, s:[{s:[{s:s, s:s, s:s}], s:s}], s:{s:s}}", "resourceType",
        "ServiceRequest", "identifier", fhir_identifier(system, referral_id), "status", status,
        "intent", "order", "category", "coding", "system", FHIR_SNOMED, "code", "3457005",
        "display", "Patient referral", "text", referral ? "Referral" : "Employment support",
        "subject", "reference", build->patient_url);
    if (!request)
        return NULL;
    if (referral) {
        const json_t *service = json_object_get(event, "receiving_service");
        const char *service_type = fhir_text(service, "service_type");
        const char *reason = fhir_text(event, "reason");
        char words[64];
        if (fhir_text(service, "name"))
            json_object_set_new(request, "code",
                                json_pack("{s:s}", "text", fhir_text(service, "name")));
        json_object_set_new(request, "priority",
                            json_string(fhir_text(event, "urgency") &&
                                                strcmp(fhir_text(event, "urgency"), "URGENT") == 0
                                            ? "urgent"
                                            : "routine"));
        if (strcmp(event_type, "REFERRAL_SENT") == 0 && fhir_text(event, "occurred_at"))
            json_object_set_new(request, "authoredOn",
                                json_string(fhir_text(event, "occurred_at")));
        fhir_requester(request, json_object_get(event, "referrer"), build->patient_url);
        if (service_type) {
            fhir_words(service_type, words, sizeof words);
            json_object_set_new(request, "performerType", json_pack("{s:s}", "text", words));
        }
        json_t *performer =
            fhir_organisation(fhir_text(service, "ods_code"), fhir_text(service, "name"));
        if (performer)
            json_object_set_new(request, "performer", json_pack("[o]", performer));
        if (reason)
            json_object_set_new(request, "reasonCode", json_pack("[{s:s}]", "text", reason));
    } else {
        const json_t *provider = json_object_get(event, "provider");
        const char *programme = fhir_text(event, "programme");
        const char *programme_name = fhir_text(event, "programme_name");
        char programme_system[320], words[64];
        fhir_system(build->fhir, "employment-support-programme", programme_system,
                    sizeof programme_system);
        if (programme) {
            fhir_words(programme, words, sizeof words);
            json_object_set_new(request, "code",
                                json_pack("{s:[{s:s, s:s}], s:s}", "coding", "system",
                                          programme_system, "code", programme, "text",
                                          programme_name ? programme_name : words));
        }
        fhir_requester(request, json_object_get(event, "referrer"), build->patient_url);
        json_t *performer =
            fhir_organisation(fhir_text(provider, "ods_code"), fhir_text(provider, "name"));
        if (performer)
            json_object_set_new(request, "performer", json_pack("[o]", performer));
    }
    json_t *notes = fhir_notes(event);
    if (notes)
        json_object_set_new(request, "note", notes);
    return request;
}

static const char *const fhir_stage_words[][2] = {{"REFERRED", "Referred"},
                                                  {"ENGAGED", "Engaged"},
                                                  {"JOB_START", "Job start"},
                                                  {"SUSTAINED", "Sustained employment"}};

static json_t *fhir_episode(struct fhir_build *build, const char *event_type, char *url,
                            size_t url_size)
{
    const json_t *event = build->event;
    const char *referral_id = fhir_text(event, "referral_id");
    const char *stage = fhir_text(event, "stage");
    const char *programme_name = fhir_text(event, "programme_name");
    const char *programme = fhir_text(event, "programme");
    const json_t *provider = json_object_get(event, "provider");
    char system[320], search[768], stage_system[320], extension[320], words[64];
    fhir_system(build->fhir, "employment-support", system, sizeof system);
    fhir_identifier_search(system, referral_id, search, sizeof search);
    snprintf(url, url_size, "EpisodeOfCare?%s", search);
    json_t *episode =
        json_pack("{s:s, s:[o], s:s, s:{s:s}, s:[{s:s}]}", "resourceType", "EpisodeOfCare",
                  "identifier", fhir_identifier(system, referral_id), "status",
                  fhir_map(fhir_episode_status, event_type), "patient", "reference",
                  build->patient_url, "referralRequest", "reference", build->main_url);
    if (!episode)
        return NULL;
    json_t *extensions = json_array();
    if (stage) {
        const char *display = stage;
        for (size_t i = 0; i < sizeof fhir_stage_words / sizeof fhir_stage_words[0]; i++)
            if (strcmp(fhir_stage_words[i][0], stage) == 0)
                display = fhir_stage_words[i][1];
        fhir_system(build->fhir, "employment-support-stage", stage_system, sizeof stage_system);
        fhir_system(build->fhir, "extension/employment-support-stage", extension, sizeof extension);
        json_array_append_new(extensions,
                              json_pack("{s:s, s:{s:s, s:s, s:s}}", "url", extension, "valueCoding",
                                        "system", stage_system, "code", stage, "display", display));
    }
    if (fhir_text(event, "job_start_date")) {
        fhir_system(build->fhir, "extension/job-start-date", extension, sizeof extension);
        json_array_append_new(extensions, json_pack("{s:s, s:s}", "url", extension, "valueDate",
                                                    fhir_text(event, "job_start_date")));
    }
    if (json_array_size(extensions))
        json_object_set_new(episode, "extension", extensions);
    else
        json_decref(extensions);
    if (programme_name || programme) {
        if (!programme_name)
            fhir_words(programme, words, sizeof words);
        json_object_set_new(episode, "type",
                            json_pack("[{s:s}]", "text", programme_name ? programme_name : words));
    }
    json_t *organisation =
        fhir_organisation(fhir_text(provider, "ods_code"), fhir_text(provider, "name"));
    if (organisation)
        json_object_set_new(episode, "managingOrganization", organisation);
    json_t *coordinator =
        fhir_practitioner_role(json_object_get(event, "care_coordinator"), "care-coordinator");
    if (coordinator) {
        json_object_set_new(episode, "contained", json_pack("[o]", coordinator));
        json_object_set_new(episode, "careManager",
                            json_pack("{s:s}", "reference", "#care-coordinator"));
    }
    return episode;
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
        main = fhir_encounter(&build, event_type, main_url, sizeof main_url, errstr, errstr_size);
    else if (strcmp(topic, "referral") == 0 || strcmp(topic, "employment-support") == 0)
        main = fhir_service_request(&build, event_type, strcmp(topic, "referral") == 0, main_url,
                                    sizeof main_url, errstr, errstr_size);
    else
        snprintf(errstr, errstr_size, "no FHIR mapping for topic %.64s", topic);
    if (!main)
        goto out;
    if (strcmp(topic, "employment-support") == 0 && fhir->episode_of_care) {
        episode = fhir_episode(&build, event_type, episode_url, sizeof episode_url);
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
