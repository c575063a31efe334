/*
 * test_connector_fhir.c - the `fhir` connector's prepare: the transaction
 * Bundle's structure (entries, conditional create and update, fullUrls the
 * same on every replay), the status of every event type, the identifier
 * systems under options.identifier_base, the fall-back to the correlation
 * id, FHIR search escaping, refusals, classify() keeping personal data
 * out of the reason, and an event cut to a narrow agreement (a pseudonym
 * instead of the NHS number, most fields absent). (The Python tests validate the Bundles with the
 * fhir.resources R4B models and check the mapping field by field.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_connector_support.h"

extern const struct placehub_connector_type placehub_connector_fhir;
static const struct placehub_connector_type *const type = &placehub_connector_fhir;

static void *create_ok(struct placehub_options *options)
{
    char errstr[512] = "";
    void *instance = NULL;
    if (type->create(test_host(), "gp", options, &instance, errstr, sizeof errstr) != 0)
        fail_msg("create refused: %s", errstr);
    return instance;
}

/* Prepares event as topic; returns the Bundle (NULL with errstr when
 * prepare refused). */
static json_t *bundle_of(void *instance, const char *topic, json_t *event, char *errstr,
                         size_t errstr_size)
{
    char *body = NULL;
    struct placehub_delivery delivery = test_delivery(topic, event, &body);
    struct placehub_request request;
    json_t *bundle = NULL;
    memset(&request, 0, sizeof request);
    if (type->prepare(instance, &delivery, &request, errstr, errstr_size) == 0) {
        assert_int_equal(request.header_count, 3);
        assert_string_equal(request.headers[0], "Content-Type: application/fhir+json");
        assert_string_equal(request.headers[1], "Accept: application/fhir+json");
        assert_string_equal(request.headers[2], "Prefer: return=minimal");
        assert_null(request.url); /* the transaction goes to the base url */
        assert_null(request.method);
        bundle = json_loadb(request.body, request.body_len, 0, NULL);
        assert_non_null(bundle);
        type->release(instance, &request);
        assert_null(request.context);
    } else {
        assert_null(request.context);
    }
    free(body);
    return bundle;
}

static const json_t *entry_of(const json_t *bundle, const char *resource_type)
{
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(bundle, "entry"), i, entry)
    {
        const char *kind =
            json_string_value(json_object_get(json_object_get(entry, "resource"), "resourceType"));
        if (kind && strcmp(kind, resource_type) == 0)
            return entry;
    }
    fail_msg("no %s entry", resource_type);
    return NULL;
}

static const char *request_of(const json_t *entry, const char *key)
{
    return json_string_value(json_object_get(json_object_get(entry, "request"), key));
}

static const char *status_of(const json_t *bundle, const char *resource_type)
{
    return json_string_value(
        json_object_get(json_object_get(entry_of(bundle, resource_type), "resource"), "status"));
}

static void test_admission_bundle_structure(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "https://fhir.gp.example/R4", NULL));
    json_t *event = test_event("admission");
    char errstr[256];
    json_t *bundle = bundle_of(instance, "admission", event, errstr, sizeof errstr);
    assert_non_null(bundle);
    assert_string_equal(json_string_value(json_object_get(bundle, "resourceType")), "Bundle");
    assert_string_equal(json_string_value(json_object_get(bundle, "type")), "transaction");
    assert_int_equal(json_array_size(json_object_get(bundle, "entry")), 2);

    const json_t *patient = entry_of(bundle, "Patient");
    assert_string_equal(request_of(patient, "method"), "POST");
    assert_string_equal(request_of(patient, "url"), "Patient");
    assert_string_equal(request_of(patient, "ifNoneExist"),
                        "identifier=https://fhir.nhs.uk/Id/nhs-number|9990123454");
    const json_t *encounter = entry_of(bundle, "Encounter");
    assert_string_equal(request_of(encounter, "method"), "PUT");
    assert_string_equal(request_of(encounter, "url"),
                        "Encounter?identifier=urn:placehub:encounter:RXX|V20261120-0042");
    assert_null(request_of(encounter, "ifNoneExist"));
    /* The Encounter points at the Patient's fullUrl (resolved by the server). */
    const char *patient_url = json_string_value(json_object_get(patient, "fullUrl"));
    assert_starts_with(patient_url, "urn:uuid:");
    assert_int_equal(strlen(patient_url), 9 + 36);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(encounter, "resource"), "subject"), "reference")),
        patient_url);
    assert_string_equal(status_of(bundle, "Encounter"), "in-progress");

    /* A replay (and a retry) sends the very same Bundle. */
    json_t *again = bundle_of(instance, "admission", event, errstr, sizeof errstr);
    assert_json_equal(again, bundle);
    json_decref(again);
    json_decref(bundle);
    json_decref(event);
    type->destroy(instance);
}

struct status_case {
    const char *topic;
    const char *event_type;
    const char *resource_type;
    const char *status;
};

static void test_every_event_type_has_its_status(void **state)
{
    (void)state;
    static const struct status_case cases[] = {
        {"admission", "ADMITTED", "Encounter", "in-progress"},
        {"admission", "TRANSFERRED", "Encounter", "in-progress"},
        {"admission", "ADMISSION_CANCELLED", "Encounter", "cancelled"},
        {"admission", "TRANSFER_CANCELLED", "Encounter", "in-progress"},
        {"discharge", "DISCHARGE_PENDING", "Encounter", "in-progress"},
        {"discharge", "DISCHARGED", "Encounter", "finished"},
        {"discharge", "DISCHARGE_CANCELLED", "Encounter", "in-progress"},
        {"referral", "REFERRAL_SENT", "ServiceRequest", "active"},
        {"referral", "REFERRAL_ACCEPTED", "ServiceRequest", "active"},
        {"referral", "REFERRAL_REJECTED", "ServiceRequest", "revoked"},
        {"referral", "REFERRAL_CLOSED", "ServiceRequest", "completed"},
        {"referral", "REFERRAL_CANCELLED", "ServiceRequest", "entered-in-error"},
        {"employment-support", "REFERRED", "ServiceRequest", "active"},
        {"employment-support", "REFERRED", "EpisodeOfCare", "planned"},
        {"employment-support", "ENGAGED", "EpisodeOfCare", "active"},
        {"employment-support", "JOB_START", "EpisodeOfCare", "active"},
        {"employment-support", "SUSTAINED_EMPLOYMENT", "EpisodeOfCare", "active"},
        {"employment-support", "DISENGAGED", "ServiceRequest", "revoked"},
        {"employment-support", "DISENGAGED", "EpisodeOfCare", "finished"},
        {"employment-support", "CLOSED", "ServiceRequest", "completed"},
        {"employment-support", "CLOSED", "EpisodeOfCare", "finished"},
        {"employment-support", "CANCELLED", "ServiceRequest", "entered-in-error"},
        {"employment-support", "CANCELLED", "EpisodeOfCare", "entered-in-error"},
    };
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "https://fhir.gp.example/R4", NULL));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *event = test_event(cases[i].topic);
        char errstr[256] = "";
        json_object_set_new(event, "event_type", json_string(cases[i].event_type));
        json_t *bundle = bundle_of(instance, cases[i].topic, event, errstr, sizeof errstr);
        if (!bundle)
            fail_msg("%s refused: %s", cases[i].event_type, errstr);
        const char *status = status_of(bundle, cases[i].resource_type);
        if (!status || strcmp(status, cases[i].status) != 0)
            fail_msg("%s %s: status %s, expected %s", cases[i].event_type, cases[i].resource_type,
                     status ? status : "(none)", cases[i].status);
        json_decref(bundle);
        json_decref(event);
    }
    /* An event type the connector does not know is refused, not guessed. */
    json_t *event = test_event("referral");
    char errstr[256] = "";
    json_object_set_new(event, "event_type", json_string("REFERRAL_TELEPORTED"));
    assert_null(bundle_of(instance, "referral", event, errstr, sizeof errstr));
    assert_contains(errstr, "no FHIR mapping");
    json_decref(event);
    type->destroy(instance);
}

static void test_identifier_base_and_options(void **state)
{
    (void)state;
    struct test_options list;
    void *instance =
        create_ok(test_options_set(&list, "url", "https://fhir.gp.example/R4", "identifier_base",
                                   "https://fhir.example-partnership.org.uk/Id/", "patient",
                                   "update", "episode_of_care", "false", NULL));
    char errstr[256];
    json_t *event = test_event("admission");
    json_t *bundle = bundle_of(instance, "admission", event, errstr, sizeof errstr);
    assert_string_equal(
        request_of(entry_of(bundle, "Encounter"), "url"),
        "Encounter?identifier=https://fhir.example-partnership.org.uk/Id/encounter/RXX|"
        "V20261120-0042");
    const json_t *patient = entry_of(bundle, "Patient");
    assert_string_equal(request_of(patient, "method"), "PUT");
    assert_string_equal(request_of(patient, "url"),
                        "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990123454");
    json_decref(bundle);
    json_decref(event);

    event = test_event("employment-support");
    bundle = bundle_of(instance, "employment-support", event, errstr, sizeof errstr);
    assert_int_equal(json_array_size(json_object_get(bundle, "entry")), 2);
    assert_string_equal(
        request_of(entry_of(bundle, "ServiceRequest"), "url"),
        "ServiceRequest?identifier=https://fhir.example-partnership.org.uk/Id/employment-support|"
        "af723cf4-4e58-4b98-a2de-c0082752e3b3");
    json_decref(bundle);
    json_decref(event);

    /* The expected discharge date: placehub's extension, under the base. */
    event = test_event("discharge");
    bundle = bundle_of(instance, "discharge", event, errstr, sizeof errstr);
    const json_t *extension = json_array_get(
        json_object_get(json_object_get(entry_of(bundle, "Encounter"), "resource"), "extension"),
        0);
    assert_string_equal(
        json_string_value(json_object_get(extension, "url")),
        "https://fhir.example-partnership.org.uk/Id/extension/expected-discharge-date");
    assert_string_equal(json_string_value(json_object_get(extension, "valueDate")), "2026-11-24");
    json_decref(bundle);
    json_decref(event);
    type->destroy(instance);
}

static void test_keys_when_identifiers_are_missing(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "http://127.0.0.1:9/fhir", NULL));
    char errstr[256] = "";

    /* No spell number: the correlation id keys the Encounter. */
    json_t *event = test_event("discharge");
    json_object_set_new(event, "encounter_id", json_null());
    json_t *bundle = bundle_of(instance, "discharge", event, errstr, sizeof errstr);
    assert_string_equal(request_of(entry_of(bundle, "Encounter"), "url"),
                        "Encounter?identifier=urn:placehub:spell|"
                        "5c2c5187-0049-4fc7-bd44-78fec1aec173");
    json_decref(bundle);
    /* Neither: refused, since a replay could not find the Encounter. */
    json_object_set_new(event, "correlation_id", json_null());
    assert_null(bundle_of(instance, "discharge", event, errstr, sizeof errstr));
    assert_contains(errstr, "neither encounter_id nor correlation_id");
    json_decref(event);

    /* No NHS number: the first local identifier keys the Patient. */
    event = test_event("admission");
    json_t *person = json_object_get(event, "person");
    json_object_set_new(person, "nhs_number", json_null());
    bundle = bundle_of(instance, "admission", event, errstr, sizeof errstr);
    assert_string_equal(request_of(entry_of(bundle, "Patient"), "ifNoneExist"),
                        "identifier=https://fhir.example-trust.nhs.uk/Id/hospital-number|H1234567");
    json_decref(bundle);
    /* Neither: refused, and the reason names no one. */
    json_object_set_new(person, "local_identifiers", json_array());
    assert_null(bundle_of(instance, "admission", event, errstr, sizeof errstr));
    assert_contains(errstr, "no NHS number, pseudonym or local identifier");
    assert_not_contains(errstr, "Holloway");
    json_decref(event);
    type->destroy(instance);
}

/* What a partner whose agreement allows little gets: the envelope, a
 * pseudonym and the ward. Absent fields are left out of the resources. */
static void test_minimised_event_with_a_pseudonym(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "http://127.0.0.1:9/fhir", NULL));
    char errstr[256] = "";
    static const char pseudonym[] =
        "6f1e0c3b2a5d4e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";
    json_t *full = test_event("admission");
    json_t *event = json_object();
    static const char *const kept[] = {"event_id",
                                       "event_type",
                                       "schema_version",
                                       "occurred_at",
                                       "recorded_at",
                                       "source_ods_code",
                                       "correlation_id",
                                       "cancels_event_id",
                                       "sharing",
                                       "encounter_id",
                                       "ward"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        json_object_set(event, kept[i], json_object_get(full, kept[i]));
    json_object_set_new(event, "person", json_pack("{s:s}", "pseudonym", pseudonym));
    json_t *bundle = bundle_of(instance, "admission", event, errstr, sizeof errstr);
    if (!bundle)
        fail_msg("refused: %s", errstr);
    const json_t *entry = entry_of(bundle, "Patient");
    const json_t *patient = json_object_get(entry, "resource");
    assert_string_equal(request_of(entry, "ifNoneExist"),
                        "identifier=urn:placehub:pseudonym|6f1e0c3b2a5d4e7f8091a2b3c4d5e6f708192a3b"
                        "4c5d6e7f8091a2b3c4d5e6f7");
    const json_t *identifiers = json_object_get(patient, "identifier");
    assert_int_equal(json_array_size(identifiers), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(identifiers, 0), "system")),
        "urn:placehub:pseudonym");
    assert_null(json_object_get(patient, "name"));
    assert_null(json_object_get(patient, "birthDate"));
    assert_null(json_object_get(patient, "address"));
    assert_null(json_object_get(patient, "generalPractitioner"));
    const json_t *encounter = json_object_get(entry_of(bundle, "Encounter"), "resource");
    assert_null(json_object_get(encounter, "serviceType")); /* the specialty was withheld */
    assert_non_null(json_object_get(encounter, "location"));
    json_decref(bundle);

    /* With the NHS number as well, the number keys the Patient and the
     * pseudonym is one more identifier. */
    json_object_set_new(json_object_get(event, "person"), "nhs_number", json_string("9990123454"));
    bundle = bundle_of(instance, "admission", event, errstr, sizeof errstr);
    assert_string_equal(request_of(entry_of(bundle, "Patient"), "ifNoneExist"),
                        "identifier=https://fhir.nhs.uk/Id/nhs-number|9990123454");
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(entry_of(bundle, "Patient"), "resource"), "identifier")),
                     2);
    json_decref(bundle);

    /* Referrals too: a referral_id the agreement allows, nothing else. */
    json_decref(full);
    full = test_event("referral");
    json_decref(event);
    event = json_object();
    for (size_t i = 0; i < 9; i++)
        json_object_set(event, kept[i], json_object_get(full, kept[i]));
    json_object_set(event, "referral_id", json_object_get(full, "referral_id"));
    json_object_set_new(event, "person", json_pack("{s:s}", "pseudonym", pseudonym));
    bundle = bundle_of(instance, "referral", event, errstr, sizeof errstr);
    if (!bundle)
        fail_msg("refused: %s", errstr);
    const json_t *request = json_object_get(entry_of(bundle, "ServiceRequest"), "resource");
    assert_null(json_object_get(request, "reasonCode"));
    assert_null(json_object_get(request, "performer"));
    json_decref(bundle);
    json_decref(event);
    json_decref(full);
    type->destroy(instance);
}

static void test_search_values_are_escaped(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "http://127.0.0.1:9/fhir", NULL));
    char errstr[256];
    json_t *event = test_event("referral");
    json_object_set_new(event, "referral_id", json_string("U99001|R&D,7 x"));
    json_t *bundle = bundle_of(instance, "referral", event, errstr, sizeof errstr);
    /* FHIR escapes | and , with a backslash; & and space would break the URL. */
    assert_string_equal(request_of(entry_of(bundle, "ServiceRequest"), "url"),
                        "ServiceRequest?identifier=urn:placehub:referral|U99001\\|R%26D\\,7%20x");
    json_decref(bundle);
    json_decref(event);
    type->destroy(instance);
}

static void test_create_refusals(void **state)
{
    (void)state;
    struct test_options list;
    char errstr[512];
    void *instance = NULL;
    assert_int_equal(type->create(test_host(), "gp", test_options_set(&list, NULL), &instance,
                                  errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "options.url");
    assert_int_equal(
        type->create(test_host(), "gp",
                     test_options_set(&list, "url", "https://f.example/", "patient", "merge", NULL),
                     &instance, errstr, sizeof errstr),
        -1);
    assert_contains(errstr, "options.patient");
    assert_int_equal(type->create(test_host(), "gp",
                                  test_options_set(&list, "url", "https://f.example/",
                                                   "episode_of_care", "yes", NULL),
                                  &instance, errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "options.episode_of_care");
    assert_int_equal(type->create(test_host(), "gp",
                                  test_options_set(&list, "url", "https://f.example/",
                                                   "identifier_base", "urn:a|b", NULL),
                                  &instance, errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "options.identifier_base");
    assert_null(instance);
}

static void test_classify_keeps_diagnostics_out(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(test_options_set(&list, "url", "http://127.0.0.1:9/fhir", NULL));
    static const char answer[] =
        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
        "\"code\":\"invalid\",\"diagnostics\":\"Patient Margaret Holloway 9990123454: bad "
        "birthDate\"},{\"severity\":\"error\",\"code\":\"business-rule\"}]}";
    struct placehub_response response = {.status = 422,
                                         .body = answer,
                                         .body_len = sizeof answer - 1,
                                         .content_type = "application/fhir+json"};
    struct placehub_outcome outcome = {.result = PLACEHUB_REJECTED, .reason = "HTTP 422"};
    struct placehub_delivery delivery = {.partner_id = "gp", .event_id = "x"};
    type->classify(instance, &delivery, &response, &outcome);
    assert_int_equal(outcome.result, PLACEHUB_REJECTED);
    assert_string_equal(outcome.reason, "FHIR 422 OperationOutcome issue=invalid,business-rule");
    /* A version conflict between writers passes: retried. */
    response.status = 409;
    type->classify(instance, &delivery, &response, &outcome);
    assert_int_equal(outcome.result, PLACEHUB_RETRY);
    /* Delivered stays delivered. */
    response.status = 200;
    outcome.result = PLACEHUB_DELIVERED;
    outcome.reason[0] = '\0';
    type->classify(instance, &delivery, &response, &outcome);
    assert_int_equal(outcome.result, PLACEHUB_DELIVERED);
    type->destroy(instance);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admission_bundle_structure),
        cmocka_unit_test(test_every_event_type_has_its_status),
        cmocka_unit_test(test_identifier_base_and_options),
        cmocka_unit_test(test_keys_when_identifiers_are_missing),
        cmocka_unit_test(test_minimised_event_with_a_pseudonym),
        cmocka_unit_test(test_search_values_are_escaped),
        cmocka_unit_test(test_create_refusals),
        cmocka_unit_test(test_classify_keeps_diagnostics_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
