/*
 * fhir.h - what the two files of the built-in fhir connector share: the
 * instance, one event's build, the JSON helpers of fhir.c and the resource
 * builders of fhir_resources.c. Private to connectors/fhir.
 *
 * Ownership: every json_t * returned is a new reference the caller owns (or
 * hands to a json_*_new call); the strings returned are borrowed from the
 * JSON they were read from.
 */
#ifndef PLACEHUB_CONNECTORS_FHIR_H
#define PLACEHUB_CONNECTORS_FHIR_H

#include <jansson.h>
#include <stddef.h>

#include "placehub/connector.h"

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

/* ---- fhir.c ------------------------------------------------------------- */

/* The non-empty string at object.key, or NULL. */
const char *fhir_text(const json_t *object, const char *key);

/* One of placehub's own systems: the instance's identifier_base joined with
 * name ("encounter/RXX") as the base's scheme expects
 * (urn:placehub:encounter:RXX, https://x.org/Id/encounter/RXX), into out. */
void fhir_system(const struct fhir *fhir, const char *name, char *out, size_t out_size);

/* {system, value}: an Identifier. */
json_t *fhir_identifier(const char *system, const char *value);

/* "identifier=system|value" into out, escaped as a FHIR search value. */
void fhir_identifier_search(const char *system, const char *value, char *out, size_t out_size);

/* A logical Reference to an Organization by ODS code and/or display; NULL
 * when both are NULL. */
json_t *fhir_organisation(const char *ods_code, const char *display);

/* ---- fhir_resources.c ---------------------------------------------------- */

/* The Encounter of an admission or discharge event, and in url the
 * conditional update's "Encounter?identifier=..." for it. NULL, with errstr
 * filled, for an event type without a mapping or an event without a key. */
json_t *fhir_resources_encounter(struct fhir_build *build, const char *event_type, char *url,
                                 size_t url_size, char *errstr, size_t errstr_size);

/* The ServiceRequest of a referral (referral 1) or employment-support event
 * (referral 0), and its conditional update url. NULL, with errstr filled,
 * for an event type without a mapping or an event without a referral_id. */
json_t *fhir_resources_service_request(struct fhir_build *build, const char *event_type,
                                       int referral, char *url, size_t url_size, char *errstr,
                                       size_t errstr_size);

/* The EpisodeOfCare of an employment-support event whose ServiceRequest
 * was built (same key), and its conditional update url; NULL when out of
 * memory. */
json_t *fhir_resources_episode(struct fhir_build *build, const char *event_type, char *url,
                               size_t url_size);

#endif
