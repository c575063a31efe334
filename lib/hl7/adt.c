/*
 * adt.c - HL7 v2 ADT to placehub events (see adt.h; docs/hl7.md has the
 * field-by-field table this code follows: change both together): the
 * trigger table, the message header, the event envelope and the admission
 * and discharge parts, and the configuration check. The person is built in
 * adt_person.c; every value is read through adt_field.c (adt_text), which
 * decodes, converts to UTF-8 and trims, and refuses a value that fails with
 * its position (AR), never silently dropping it.
 *
 * IMPORTANT: error reasons name segments, fields and codes only. They are
 * logged and go back in the ACK; a value about the person must never be in
 * them.
 */
#include "hl7/adt.h"
#include "hl7/adt_internal.h"

#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

/* placehub's namespace for name-based UUIDs (RFC 4122 v5). Never change it:
 * event ids of messages sent again would no longer match. */
static const uuid_t adt_namespace = {0xfa, 0x86, 0xbb, 0x96, 0x54, 0xe3, 0x46, 0x9b,
                                     0x85, 0x59, 0xb8, 0xaf, 0x3f, 0x61, 0xb5, 0xb2};

/* The DischargeDestination symbols of the discharge schema (the same in
 * every version in schemas/); the unit tests encode each against the latest
 * version, so a renamed symbol fails there. */
const char *const adt_destination_symbols[] = {
    "HOME",           "CARE_HOME", "NURSING_HOME",
    "OTHER_HOSPITAL", "HOSPICE",   "TEMPORARY_ACCOMMODATION",
    "DIED",           "OTHER",     NULL};

enum adt_topic { ADT_ADMISSION, ADT_DISCHARGE, ADT_NONE };

struct adt_trigger {
    const char *code;
    enum adt_topic topic;
    const char *event_type; /* NULL: kept, not forwarded */
};

static const struct adt_trigger adt_triggers[] = {
    {"A01", ADT_ADMISSION, "ADMITTED"},
    {"A02", ADT_ADMISSION, "TRANSFERRED"},
    {"A03", ADT_DISCHARGE, "DISCHARGED"},
    /* Registration (outpatient, emergency department) and pre-admission
     * are no admission: the schema has no event for them (FHIR maps both
     * to a planned Encounter). Kept on the raw topic, acknowledged. */
    {"A04", ADT_NONE, NULL},
    {"A05", ADT_NONE, NULL},
    /* Update patient information: admission v1 has no update event type,
     * and re-sending it as ADMITTED would tell partners of an admission
     * that did not happen. Kept on the raw topic, acknowledged. */
    {"A08", ADT_NONE, NULL},
    {"A11", ADT_ADMISSION, "ADMISSION_CANCELLED"},
    {"A12", ADT_ADMISSION, "TRANSFER_CANCELLED"},
    {"A13", ADT_DISCHARGE, "DISCHARGE_CANCELLED"},
    {"A16", ADT_DISCHARGE, "DISCHARGE_PENDING"},
    /* Cancel pending discharge: discharge.v1 names it under DISCHARGE_CANCELLED. */
    {"A25", ADT_DISCHARGE, "DISCHARGE_CANCELLED"},
};

/* NHS Data Dictionary Discharge Destination codes (PV1-37.1). The Data
 * Dictionary does not say whether a care home has nursing: a trust that
 * knows maps its codes to NURSING_HOME under mllp.discharge_destinations. */
static const struct adt_code adt_destinations[] = {{"19", "HOME"},
                                                   {"29", "TEMPORARY_ACCOMMODATION"},
                                                   {"30", "OTHER_HOSPITAL"},
                                                   {"48", "OTHER_HOSPITAL"},
                                                   {"49", "OTHER_HOSPITAL"},
                                                   {"50", "OTHER_HOSPITAL"},
                                                   {"51", "OTHER_HOSPITAL"},
                                                   {"52", "OTHER_HOSPITAL"},
                                                   {"53", "OTHER_HOSPITAL"},
                                                   {"84", "OTHER_HOSPITAL"},
                                                   {"87", "OTHER_HOSPITAL"},
                                                   {"54", "CARE_HOME"},
                                                   {"65", "CARE_HOME"},
                                                   {"85", "CARE_HOME"},
                                                   {"88", "HOSPICE"},
                                                   {"79", "DIED"},
                                                   {NULL, NULL}};

/* NHS Data Dictionary Discharge Method codes (PV1-36), used only when
 * PV1-37 says nothing: 4 died, 5 stillbirth. */
static const struct adt_code adt_dispositions[] = {{"4", "DIED"}, {"5", "DIED"}, {NULL, NULL}};

/* PV1-4: NHS Data Dictionary Admission Method codes, and HL7 table 0007
 * Admission Type for senders that use it. */
static const struct adt_code adt_admission_methods[] = {
    {"11", "ELECTIVE"},  {"12", "ELECTIVE"},  {"13", "ELECTIVE"},  {"21", "EMERGENCY"},
    {"22", "EMERGENCY"}, {"23", "EMERGENCY"}, {"24", "EMERGENCY"}, {"25", "EMERGENCY"},
    {"28", "EMERGENCY"}, {"2A", "EMERGENCY"}, {"2B", "EMERGENCY"}, {"2C", "EMERGENCY"},
    {"2D", "EMERGENCY"}, {"31", "MATERNITY"}, {"32", "MATERNITY"}, {"81", "TRANSFER"},
    {"E", "EMERGENCY"},  {"A", "EMERGENCY"},  {"U", "EMERGENCY"},  {"C", "ELECTIVE"},
    {"R", "ELECTIVE"},   {"L", "MATERNITY"},  {NULL, NULL}};

void adt_uuid(const char *name, char *out)
{
    uuid_t id;
    uuid_generate_sha1(id, adt_namespace, name, strlen(name));
    uuid_unparse_lower(id, out);
}

/* MSH: what the message is, who sent it, its id. */
static int adt_read_header(struct adt_context *context, const struct adt_trigger **trigger)
{
    char text[ADT_TEXT_MAX], version[ADT_TEXT_MAX];
    struct adt_result *result = context->result;
    if (adt_text(context, context->msh, 18, 1, 1, 0, text) < 0)
        return -1;
    if (text[0] == '\0' || strcmp(text, "ASCII") == 0 || strcmp(text, "UNICODE UTF-8") == 0 ||
        strcmp(text, "UTF-8") == 0)
        context->charset = ADT_UTF8;
    else if (strcmp(text, "8859/1") == 0)
        context->charset = ADT_LATIN1;
    else
        return adt_fail(context, ADT_ERROR_TABLE_VALUE, "MSH", 18, 1, 1,
                        "character set not supported (use UNICODE UTF-8, ASCII or 8859/1)");

    if (adt_text(context, context->msh, 12, 1, 1, 0, version) < 0)
        return -1;
    if (strncmp(version, "2.", 2) != 0)
        return adt_fail(context, ADT_ERROR_VERSION, "MSH", 12, 1, 1,
                        "only HL7 version 2.x is accepted");

    if (adt_text(context, context->msh, 9, 1, 1, 0, text) < 0)
        return -1;
    if (strcmp(text, "ADT") != 0)
        return adt_fail(context, ADT_ERROR_MESSAGE_TYPE, "MSH", 9, 1, 1,
                        "message type %s is not accepted here: only ADT", adt_code_shown(text));
    int from_evn = 0;
    if (adt_text(context, context->msh, 9, 1, 2, 0, text) < 0)
        return -1;
    if (text[0] == '\0') {
        /* Before v2.3.1 the trigger could be given in EVN-1 only. */
        from_evn = 1;
        if (adt_text(context, context->evn, 1, 1, 1, 0, text) < 0)
            return -1;
    }
    *trigger = NULL;
    for (size_t i = 0; i < sizeof adt_triggers / sizeof adt_triggers[0]; i++)
        if (strcmp(adt_triggers[i].code, text) == 0)
            *trigger = &adt_triggers[i];
    if (!*trigger) {
        if (text[0] == '\0')
            return adt_fail(context, ADT_ERROR_REQUIRED_FIELD, "MSH", 9, 1, 2,
                            "trigger event missing (e.g. ADT^A01)");
        return adt_fail(context, ADT_ERROR_EVENT_CODE, from_evn ? "EVN" : "MSH", from_evn ? 1 : 9,
                        1, from_evn ? 1 : 2,
                        "trigger event %.8s is not accepted (accepted: A01, A02, A03, A04, A05, "
                        "A08, A11, A12, A13, A16, A25)",
                        adt_code_shown(text));
    }
    snprintf(result->trigger, sizeof result->trigger, "%s", (*trigger)->code);

    /* The event id: MSH-10 is unique per sending application and facility,
     * so the three as sent name the message. */
    const char *application, *facility, *control;
    size_t application_len =
        hl7_raw(context->message, (size_t)context->msh, 3, 1, 0, 0, &application);
    size_t facility_len = hl7_raw(context->message, (size_t)context->msh, 4, 1, 0, 0, &facility);
    size_t control_len = hl7_raw(context->message, (size_t)context->msh, 10, 1, 0, 0, &control);
    if (control_len == 0)
        return adt_fail(context, ADT_ERROR_REQUIRED_FIELD, "MSH", 10, 1, 0,
                        "message control id missing");
    char name[3 * ADT_TEXT_MAX];
    int n = snprintf(name, sizeof name, "hl7v2-message|%.*s|%.*s|%.*s", (int)application_len,
                     application, (int)facility_len, facility, (int)control_len, control);
    if (n < 0 || (size_t)n >= sizeof name)
        return adt_fail(context, ADT_ERROR_DATA_TYPE, "MSH", 10, 1, 0,
                        "MSH-3, MSH-4 and MSH-10 are too long together");
    adt_uuid(name, result->event_id);
    return 0;
}

static int adt_source_ods_code(struct adt_context *context, char *out)
{
    for (int component = 1; component <= 2; component++) {
        if (adt_text(context, context->msh, 4, 1, component, 0, out) < 0)
            return -1;
        if (adt_ods_shaped(out))
            return 0;
    }
    const char *fallback = context->config->mllp.default_source_ods_code;
    if (fallback && fallback[0]) {
        snprintf(out, ADT_TEXT_MAX, "%s", fallback);
        return 0;
    }
    return adt_fail(context, ADT_ERROR_REQUIRED_FIELD, "MSH", 4, 1, 1,
                    "sending facility carries no ODS code (3-8 capital letters and digits) and "
                    "mllp.default_source_ods_code is not set");
}

static int adt_set_occurred_at(struct adt_context *context, json_t *event)
{
    /* EVN-6 Event Occurred, else EVN-2 Recorded Date/Time, else MSH-7. */
    static const struct {
        int use_evn;
        int field;
    } sources[] = {{1, 6}, {1, 2}, {0, 7}};
    char text[ADT_TEXT_MAX];
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        long segment = sources[i].use_evn ? context->evn : context->msh;
        int len = adt_text(context, segment, sources[i].field, 1, 1, 0, text);
        if (len < 0)
            return -1;
        if (len > 0)
            return adt_set_datetime(context, event, "occurred_at", segment, sources[i].field);
    }
    return adt_fail(context, ADT_ERROR_REQUIRED_FIELD, "EVN", 2, 1, 1,
                    "no time for the event: EVN-6, EVN-2 and MSH-7 are all empty");
}

/* PD1-2 Living Arrangement (HL7 table 0220): A alone; F family, R relative,
 * S spouse only, I institution; U or nothing unknown. */
static int adt_lives_alone(struct adt_context *context, json_t **value)
{
    char text[ADT_TEXT_MAX];
    if (adt_text(context, context->pd1, 2, 1, 1, 0, text) < 0)
        return -1;
    if (strcmp(text, "A") == 0)
        *value = json_true();
    else if (strlen(text) == 1 && strchr("FRSI", text[0]))
        *value = json_false();
    else
        *value = json_null();
    return 0;
}

static int adt_set_location(struct adt_context *context, json_t *event, const char *site_key,
                            const char *ward_key, int field)
{
    /* PL.1 point of care (ward), PL.4 facility (HD: its namespace id). */
    if (adt_set_text(context, event, ward_key, context->pv1, field, 1, 1, 0) != 0 ||
        adt_set_text(context, event, site_key, context->pv1, field, 1, 4, 1) != 0)
        return -1;
    return 0;
}

static int adt_set_admission(struct adt_context *context, const struct adt_trigger *trigger,
                             json_t *event)
{
    char text[ADT_TEXT_MAX];
    if (adt_set_datetime(context, event, "admitted_at", context->pv1, 44) != 0 ||
        adt_text(context, context->pv1, 4, 1, 1, 0, text) < 0)
        return -1;
    if (text[0]) {
        const char *method = adt_code_lookup(adt_admission_methods, text);
        json_object_set_new(event, "admission_method", json_string(method ? method : "OTHER"));
    } else {
        json_object_set_new(event, "admission_method", json_null());
    }
    if (adt_text(context, context->pv1, 10, 1, 1, 0, text) < 0)
        return -1;
    const char *specialty = text[0] ? adt_option_lookup(context->config->mllp.specialties,
                                                        context->config->mllp.specialty_count, text)
                                    : NULL;
    json_object_set_new(event, "admitting_specialty",
                        text[0] ? json_string(specialty ? specialty : text) : json_null());
    if (adt_set_location(context, event, "site_ods_code", "ward", 3) != 0)
        return -1;
    if (strcmp(trigger->code, "A02") == 0 || strcmp(trigger->code, "A12") == 0) {
        /* A02: where they came from. A12: the cancelled destination, while
         * PV1-3 is where they are back (HL7 v2.5 3.3.12). */
        if (adt_set_location(context, event, "previous_site_ods_code", "previous_ward", 6) != 0)
            return -1;
    } else {
        json_object_set_new(event, "previous_site_ods_code", json_null());
        json_object_set_new(event, "previous_ward", json_null());
    }
    return 0;
}

/* Discharge destination: the trust's own PV1-37 codes, the Data Dictionary's,
 * then the trust's PV1-36 codes and the Data Dictionary's discharge methods. */
static int adt_destination(struct adt_context *context, const char **symbol)
{
    const struct config *config = context->config;
    char code[ADT_TEXT_MAX];
    *symbol = NULL;
    if (adt_text(context, context->pv1, 37, 1, 1, 0, code) < 0)
        return -1;
    if (code[0]) {
        *symbol = adt_option_lookup(config->mllp.discharge_destinations,
                                    config->mllp.discharge_destination_count, code);
        if (!*symbol)
            *symbol = adt_code_lookup(adt_destinations, code);
        if (!*symbol)
            *symbol = "OTHER";
        return 0;
    }
    if (adt_text(context, context->pv1, 36, 1, 1, 0, code) < 0)
        return -1;
    if (code[0]) {
        *symbol = adt_option_lookup(config->mllp.discharge_dispositions,
                                    config->mllp.discharge_disposition_count, code);
        if (!*symbol)
            *symbol = adt_code_lookup(adt_dispositions, code);
    }
    return 0;
}

static int adt_set_discharge(struct adt_context *context, const struct adt_trigger *trigger,
                             json_t *event)
{
    int discharged = strcmp(trigger->event_type, "DISCHARGED") == 0;
    int pending = strcmp(trigger->event_type, "DISCHARGE_PENDING") == 0;
    if (adt_set_location(context, event, "site_ods_code", "ward", 3) != 0)
        return -1;
    json_object_set_new(event, "expected_discharge_date", json_null());
    json_object_set_new(event, "discharged_at", json_null());
    json_object_set_new(event, "discharge_destination", json_null());
    if (pending && adt_set_date(context, event, "expected_discharge_date", context->pv2, 9) != 0)
        return -1;
    if (discharged) {
        if (adt_set_datetime(context, event, "discharged_at", context->pv1, 45) != 0)
            return -1;
        /* A03 without PV1-45: EVN-6 (or EVN-2) is when the discharge happened. */
        if (json_is_null(json_object_get(event, "discharged_at")))
            json_object_set(event, "discharged_at", json_object_get(event, "occurred_at"));
    }
    if (discharged || pending) {
        const char *symbol;
        if (adt_destination(context, &symbol) != 0)
            return -1;
        if (symbol)
            json_object_set_new(event, "discharge_destination", json_string(symbol));
    }
    json_t *lives_alone;
    if (adt_lives_alone(context, &lives_alone) != 0)
        return -1;
    json_object_set_new(event, "lives_alone", lives_alone);
    json_object_set_new(event, "care_needs", json_array());
    json_object_set_new(event, "care_package_restart_required", json_null());
    /* Someone going home alone needs action today (Priority's own example). */
    if ((discharged || pending) && json_is_true(lives_alone) &&
        strcmp(json_string_value(json_object_get(event, "priority")), "ROUTINE") == 0)
        json_object_set_new(event, "priority", json_string("URGENT"));
    return 0;
}

static int adt_build(struct adt_context *context, const struct adt_trigger *trigger, json_t *event)
{
    char text[ADT_TEXT_MAX], source[ADT_TEXT_MAX], encounter[ADT_TEXT_MAX];
    struct adt_result *result = context->result;
    json_object_set_new(event, "event_id", json_string(result->event_id));
    if (adt_set_occurred_at(context, event) != 0 || adt_source_ods_code(context, source) != 0)
        return -1;
    json_object_set_new(event, "source_ods_code", json_string(source));
    if (adt_text(context, context->pv1, 19, 1, 1, 0, encounter) < 0)
        return -1;
    /* One spell, one correlation id, without the hub keeping state: a
     * name-based UUID of the organisation and its visit number. */
    if (encounter[0]) {
        char name[2 * ADT_TEXT_MAX + 32], id[37];
        snprintf(name, sizeof name, "hl7v2-spell|%s|%s", source, encounter);
        adt_uuid(name, id);
        json_object_set_new(event, "correlation_id", json_string(id));
    } else {
        json_object_set_new(event, "correlation_id", json_null());
    }
    /* PV2-25 Visit Priority Code (HL7 table 0217): 1 emergency, 2 urgent. */
    if (adt_text(context, context->pv2, 25, 1, 1, 0, text) < 0)
        return -1;
    json_object_set_new(event, "priority",
                        json_string(strcmp(text, "1") == 0   ? "EMERGENCY"
                                    : strcmp(text, "2") == 0 ? "URGENT"
                                                             : "ROUTINE"));
    if (adt_set_person(context, event) != 0)
        return -1;
    /* NTE and other free text are not taken: ADT notes are clinical and no
     * agreement has asked for them. */
    json_object_set_new(event, "notes", json_null());
    if (!trigger->event_type)
        return 0;
    json_object_set_new(event, "event_type", json_string(trigger->event_type));
    /* Cancellations carry no reference to the event they cancel; the
     * schema lets recipients match on encounter_id (docs/hl7.md). Nothing
     * is a correction (schema version 2): HL7 does not say which event a
     * message corrects, and placehub keeps no state to find it. */
    json_object_set_new(event, "cancels_event_id", json_null());
    json_object_set_new(event, "supersedes_event_id", json_null());
    json_object_set_new(event, "encounter_id", encounter[0] ? json_string(encounter) : json_null());
    if (trigger->topic == ADT_ADMISSION)
        return adt_set_admission(context, trigger, event);
    return adt_set_discharge(context, trigger, event);
}

void adt_map(const struct config *config, const struct hl7_message *message,
             struct adt_result *result)
{
    struct adt_context context = {.config = config, .message = message, .result = result};
    const struct adt_trigger *trigger = NULL;
    memset(result, 0, sizeof *result);
    result->action = ADT_REJECT;
    context.msh = hl7_segment_find(message, "MSH", 0);
    context.evn = hl7_segment_find(message, "EVN", 0);
    context.pid = hl7_segment_find(message, "PID", 0);
    context.pd1 = hl7_segment_find(message, "PD1", 0);
    context.pv1 = hl7_segment_find(message, "PV1", 0);
    context.pv2 = hl7_segment_find(message, "PV2", 0);
    if (context.msh != 0) {
        adt_fail(&context, ADT_ERROR_SEGMENT_SEQUENCE, "MSH", 0, 0, 0, "MSH must come first");
        return;
    }
    if (adt_read_header(&context, &trigger) != 0)
        return;
    if (context.pid < 0) {
        adt_fail(&context, ADT_ERROR_SEGMENT_SEQUENCE, "PID", 0, 0, 0,
                 "segment missing (every ADT message needs it)");
        return;
    }
    if (context.pv1 < 0 && trigger->event_type) {
        adt_fail(&context, ADT_ERROR_SEGMENT_SEQUENCE, "PV1", 0, 0, 0,
                 "segment missing (every %s message needs it)", trigger->code);
        return;
    }
    json_t *event = json_object();
    if (adt_build(&context, trigger, event) != 0) {
        json_decref(event);
        return;
    }
    result->event = event;
    if (trigger->event_type) {
        result->action = ADT_FORWARD;
        result->topic = trigger->topic == ADT_ADMISSION ? "admission" : "discharge";
    } else {
        result->action = ADT_KEEP;
    }
}

void adt_result_release(struct adt_result *result)
{
    json_decref(result->event);
    result->event = NULL;
}

static int adt_check_codes(const struct config *config, const struct config_option *options,
                           size_t count, const char *key, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        int known = 0;
        for (const char *const *symbol = adt_destination_symbols; *symbol; symbol++)
            if (strcmp(*symbol, options[i].value) == 0)
                known = 1;
        if (!known) {
            snprintf(errstr, errstr_size,
                     "%s:%d: mllp.%s maps '%s' to '%s', which is not a DischargeDestination "
                     "(HOME, CARE_HOME, NURSING_HOME, OTHER_HOSPITAL, HOSPICE, "
                     "TEMPORARY_ACCOMMODATION, DIED, OTHER)",
                     config->path, options[i].line, key, options[i].key, options[i].value);
            return -1;
        }
    }
    return 0;
}

int adt_check_config(const struct config *config, char *errstr, size_t errstr_size)
{
    if (adt_check_codes(config, config->mllp.discharge_destinations,
                        config->mllp.discharge_destination_count, "discharge_destinations", errstr,
                        errstr_size) != 0 ||
        adt_check_codes(config, config->mllp.discharge_dispositions,
                        config->mllp.discharge_disposition_count, "discharge_dispositions", errstr,
                        errstr_size) != 0)
        return -1;
    return 0;
}
