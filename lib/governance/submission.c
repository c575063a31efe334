/*
 * submission.c - one submitted event checked and encoded (see
 * submission.h), for placehub-ingest and placehub-mesh-inbox alike.
 *
 * Nothing here logs: the callers do, each with its own request or message
 * id, and never with the event's values.
 */
#include "governance/submission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "schema/codec.h"
#include "schema/event.h"
#include "schema/framing.h"

static void submission_refuse(struct submission_error *error, int status, const char *code)
{
    error->status = status;
    error->code = code;
}

/* The schema version an event is written with (*writer) and its registry
 * id: the topic's latest, unless the event's schema_version names an
 * earlier one. A sender written for version 1 so keeps working unchanged
 * once a version 2 is published: its events are written, and delivered, as
 * the version 1 events they are (each version reads the ones before it,
 * docs/schemas.md), and only a sender that says version 2 may use its new
 * fields. Returns 0; -1 with *codec_error filled when schema_version names
 * no version of the topic's schema; -2 with error->detail when the external
 * registry cannot give the earlier version's id. */
static int submission_writer(const struct submission_type *type, const json_t *event,
                             const struct catalogue_entry **writer, int *schema_id,
                             struct codec_error *codec_error, struct submission_error *error)
{
    const json_t *declared = json_object_get(event, "schema_version");
    int latest = type->latest->version;
    *writer = type->latest;
    *schema_id = type->latest_schema_id;
    if (!json_is_integer(declared) || json_integer_value(declared) == latest)
        return 0; /* absent: the latest; not a number: event_prepare says so */
    json_int_t version = json_integer_value(declared);
    if (version < 1 || version > latest) {
        memset(codec_error, 0, sizeof *codec_error);
        snprintf(codec_error->field, sizeof codec_error->field, "schema_version");
        snprintf(codec_error->message, sizeof codec_error->message,
                 "must be a version of the %s schema this hub has, 1 to %d (or be left out: "
                 "then %d)",
                 type->type, latest, latest);
        return -1;
    }
    if (registry_writer(type->registry, type->type, (int)version, writer, schema_id, error->detail,
                        sizeof error->detail) != 0)
        return -2;
    return 0;
}

int submission_prepare(const struct submission_type *type, const struct publisher *publisher,
                       const char *partner_id, json_t *event, const char *where,
                       struct submission *out, struct submission_error *error)
{
    struct codec_error codec_error;
    const struct catalogue_entry *writer;
    int schema_id;
    memset(error, 0, sizeof *error);
    out->value = NULL;
    if (!json_is_object(event)) {
        snprintf(error->field, sizeof error->field, "%.*s", (int)(where[0] ? strlen(where) - 1 : 0),
                 where);
        snprintf(error->message, sizeof error->message, "%s%san event is a JSON object",
                 error->field, error->field[0] ? ": " : "");
        submission_refuse(error, 422, "invalid_event");
        return -1;
    }
    int found = submission_writer(type, event, &writer, &schema_id, &codec_error, error);
    if (found == -2) {
        snprintf(error->message, sizeof error->message,
                 "cannot get the schema id for %s; try again later", type->type);
        submission_refuse(error, 503, "schema_registry_unavailable");
        return -1;
    }
    if (found != 0 || event_prepare(event, writer->version, clock_wall_ms(), &codec_error) != 0 ||
        codec_encode(writer->schema, event, FRAMING_HEADER_SIZE, &out->value, &out->value_len,
                     &codec_error) != 0) {
        snprintf(error->field, sizeof error->field, "%s%s", codec_error.field[0] ? where : "",
                 codec_error.field);
        snprintf(error->message, sizeof error->message, "%s%s%s", error->field,
                 error->field[0] ? " " : "", codec_error.message);
        submission_refuse(error, 422, "invalid_event");
        free(out->value);
        out->value = NULL;
        return -1;
    }
    /* "As itself": the organisation named must be one the partner speaks
     * for. Checked after the schema, so source_ods_code is a string. */
    const char *source = json_string_value(json_object_get(event, "source_ods_code"));
    if (publisher && !publisher_may_send_as(publisher, source)) {
        snprintf(error->field, sizeof error->field, "%ssource_ods_code", where);
        snprintf(error->message, sizeof error->message,
                 "partner %s may not send events as organisation '%.16s' (its "
                 "ingest.source_ods_codes does not list it)",
                 partner_id, source ? source : "");
        submission_refuse(error, 403, "source_not_allowed");
        free(out->value);
        out->value = NULL;
        return -1;
    }
    framing_write_header(out->value, schema_id);
    event_person_key(event, out->key, sizeof out->key);
    snprintf(out->event_id, sizeof out->event_id, "%s", event_id(event));
    return 0;
}
