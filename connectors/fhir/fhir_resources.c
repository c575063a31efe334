/*
 * fhir_resources.c - the fhir connector's resources beside the Patient:
 * the Encounter of an admission or discharge, the ServiceRequest of a
 * referral or of employment support, and employment support's
 * EpisodeOfCare. Each is keyed by a business identifier that is the same on
 * every event of the stay or referral, and comes with the url of its
 * conditional update (connectors/fhir/fhir.c says why).
 *
 * The mapping, and why, is in docs/connectors.md ("fhir"). Encounter
 * statuses follow the HL7 v2-to-FHIR ConceptMap
 * table-hl70003-to-encounter-status.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "fhir.h"

#define FHIR_ODS_SITE "https://fhir.nhs.uk/Id/ods-site-code"
#define FHIR_ACT_CODE "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#define FHIR_PHYSICAL_TYPE "http://terminology.hl7.org/CodeSystem/location-physical-type"
#define FHIR_DISCHARGE_DISPOSITION "http://terminology.hl7.org/CodeSystem/discharge-disposition"
#define FHIR_SNOMED "http://snomed.info/sct"
#define FHIR_ADMISSION_METHOD                                                                      \
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod"

/* ---- small helpers ------------------------------------------------------ */

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

/* The Encounter's extensions (admission method, expected discharge date),
 * or NULL when the event has neither. */
static json_t *fhir_encounter_extensions(const struct fhir *fhir, const json_t *event)
{
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
        fhir_system(fhir, "extension/expected-discharge-date", extension, sizeof extension);
        json_array_append_new(extensions,
                              json_pack("{s:s, s:s}", "url", extension, "valueDate", expected));
    }
    if (json_array_size(extensions))
        return extensions;
    json_decref(extensions);
    return NULL;
}

json_t *fhir_resources_encounter(struct fhir_build *build, const char *event_type, char *url,
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
    json_t *extensions = fhir_encounter_extensions(build->fhir, event);
    if (extensions)
        json_object_set_new(encounter, "extension", extensions);

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

json_t *fhir_resources_service_request(struct fhir_build *build, const char *event_type,
                                       int referral, char *url, size_t url_size, char *errstr,
                                       size_t errstr_size)
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

json_t *fhir_resources_episode(struct fhir_build *build, const char *event_type, char *url,
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
