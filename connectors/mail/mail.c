/*
 * mail.c - the built-in `mail` connector, for a partner with no API (a small
 * voluntary-sector group, a "home from hospital" service): each event as a
 * plain-text email that a person reads and acts on, sent by the host over
 * SMTP with TLS (lib/delivery/transfer.c insists on STARTTLS, or smtps://).
 *
 * What the mail says is what the hub lets this partner see (the event as
 * delivered, already cut to the partner's agreement), written for a person:
 * labelled lines, dates in words, no codes to look up. Beyond that it holds
 * back on its own account:
 *   - the subject carries no personal data at all (it shows in
 *     notification previews, lock screens and mail server logs): the kind
 *     of event, its priority and a short reference only;
 *   - the NHS number is left out unless options.show_nhs_number is true
 *     (few voluntary-sector partners can use it; Caldicott: the minimum
 *     necessary).
 *
 * Options: url (smtp:// or smtps://), from, to (comma-separated, up to 16),
 * subject_prefix ("[placehub]"), sender_name, show_nhs_number (false),
 * show_notes (true). See docs/connectors.md.
 *
 * Ownership: the instance owns the addresses and the envelope made of them
 * in create() (every request->mail points to it: the same for every event,
 * and read-only, so requests in flight share it); each request owns its
 * message text.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "placehub/connector.h"
#include "core/text.h"

#define MAIL_ADDRESS_MAX 254
#define MAIL_WIDTH 76

struct mail {
    const struct placehub_host *host;
    char from[MAIL_ADDRESS_MAX + 1];
    char domain[MAIL_ADDRESS_MAX + 1];
    char sender_name[80];
    char subject_prefix[80];
    char to[PLACEHUB_MAX_RECIPIENTS][MAIL_ADDRESS_MAX + 1];
    size_t to_count;
    struct placehub_mail_envelope envelope; /* points into from and to */
    int show_nhs_number;
    int show_notes;
};

/* A growing message. Any failure sticks, and is checked once at the end. */
/* A plain addr-spec (local@domain): nothing that could smuggle a header or
 * a second recipient in. */
static int mail_address_valid(const char *address)
{
    const char *at = strchr(address, '@');
    if (!at || at == address || !at[1] || strchr(at + 1, '@') || strlen(address) > MAIL_ADDRESS_MAX)
        return 0;
    for (const char *c = address; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || strchr("<>()[],;:\"\\", *c))
            return 0;
    return 1;
}

static int mail_printable(const char *text, size_t max)
{
    if (strlen(text) > max)
        return 0;
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f || *c == '"' || *c == '\\')
            return 0;
    return 1;
}

static int mail_flag(const struct placehub_options *options, const char *key, int fallback,
                     int *out)
{
    const char *text = options->get(options, key);
    if (!text) {
        *out = fallback;
        return 0;
    }
    if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
        return -1;
    *out = strcmp(text, "true") == 0;
    return 0;
}

static int mail_create(const struct placehub_host *host, const char *partner_id,
                       const struct placehub_options *options, void **instance, char *errstr,
                       size_t errstr_size)
{
    const char *url = options->get(options, "url");
    const char *from = options->get(options, "from");
    const char *to = options->get(options, "to");
    const char *prefix = options->get(options, "subject_prefix");
    const char *sender_name = options->get(options, "sender_name");
    struct mail *mail = NULL;
    if (!url || (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.url must be the partner's mail server as smtp://host:587 "
                 "(STARTTLS) or smtps://host:465",
                 partner_id);
        return -1;
    }
    if (!from || !mail_address_valid(from)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.from must be the sending address, e.g. "
                 "placehub@hub.example.nhs.uk",
                 partner_id);
        return -1;
    }
    if (!to) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.to must list the partner's addresses, comma-separated",
                 partner_id);
        return -1;
    }
    if (prefix && !mail_printable(prefix, 64)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.subject_prefix must be printable ASCII, at most 64 "
                 "characters",
                 partner_id);
        return -1;
    }
    if (sender_name && !mail_printable(sender_name, 64)) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.sender_name must be printable ASCII without quotes, at "
                 "most 64 characters",
                 partner_id);
        return -1;
    }
    mail = calloc(1, sizeof *mail);
    if (!mail) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    mail->host = host;
    snprintf(mail->from, sizeof mail->from, "%s", from);
    snprintf(mail->domain, sizeof mail->domain, "%s", strchr(from, '@') + 1);
    snprintf(mail->subject_prefix, sizeof mail->subject_prefix, "%s",
             prefix ? prefix : "[placehub]");
    snprintf(mail->sender_name, sizeof mail->sender_name, "%s", sender_name ? sender_name : "");
    if (mail_flag(options, "show_nhs_number", 0, &mail->show_nhs_number) != 0 ||
        mail_flag(options, "show_notes", 1, &mail->show_notes) != 0) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.show_nhs_number and options.show_notes must be true or "
                 "false",
                 partner_id);
        goto fail;
    }
    for (const char *item = to; *item;) {
        item += strspn(item, ", \t");
        size_t len = strcspn(item, ", \t");
        if (!len)
            break;
        char address[MAIL_ADDRESS_MAX + 2];
        snprintf(address, sizeof address, "%.*s", (int)(len < sizeof address ? len : 0), item);
        if (len > MAIL_ADDRESS_MAX || !mail_address_valid(address)) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.to: item %zu is not a plain address such as "
                     "duty@voluntary-group.example.org",
                     partner_id, mail->to_count + 1);
            goto fail;
        }
        if (mail->to_count == PLACEHUB_MAX_RECIPIENTS) {
            snprintf(errstr, errstr_size, "partner %s: options.to: at most %d addresses",
                     partner_id, PLACEHUB_MAX_RECIPIENTS);
            goto fail;
        }
        snprintf(mail->to[mail->to_count++], MAIL_ADDRESS_MAX + 1, "%s", address);
        item += len;
    }
    if (mail->to_count == 0) {
        snprintf(errstr, errstr_size, "partner %s: options.to lists no address", partner_id);
        goto fail;
    }
    mail->envelope.from = mail->from;
    for (size_t i = 0; i < mail->to_count; i++)
        mail->envelope.recipients[i] = mail->to[i];
    mail->envelope.recipient_count = mail->to_count;
    *instance = mail;
    return 0;
fail:
    free(mail);
    return -1;
}

static void mail_destroy(void *instance)
{
    free(instance);
}

/* ---- writing the message ------------------------------------------------ */

static void mail_printf(struct text *text, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mail_printf(struct text *text, const char *fmt, ...)
{
    char line[1024];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    if (n < 0) {
        text->failed = 1;
        return;
    }
    text_append(text, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Writes "<indent><label>: <value>" wrapped at MAIL_WIDTH on spaces, CRLF
 * line ends; control characters in value (a CR or LF smuggled into a name)
 * count as spaces. A NULL label writes the value alone. */
static void mail_field(struct text *text, const char *indent, const char *label, const char *value)
{
    char line[MAIL_WIDTH * 2];
    size_t used = (size_t)snprintf(line, sizeof line, "%s%s%s", indent, label ? label : "",
                                   label ? ": " : "");
    int empty = 1; /* no word on this line yet */
    const unsigned char *c = (const unsigned char *)value;
    for (;;) {
        while (*c && (*c <= 0x20 || *c == 0x7f))
            c++;
        if (!*c)
            break;
        size_t word = 0;
        while (c[word] > 0x20 && c[word] != 0x7f)
            word++;
        if (!empty && used + 1 + word > MAIL_WIDTH) {
            text_append(text, line, used);
            text_append(text, "\r\n", 2);
            used = (size_t)snprintf(line, sizeof line, "%s%s", indent, label ? "    " : "");
            empty = 1;
        }
        if (!empty)
            line[used++] = ' ';
        for (size_t i = 0; i < word; i++) {
            if (used + 1 >= sizeof line) {
                /* One very long word: cut it, as a mail line must stay short. */
                text_append(text, line, used);
                text_append(text, "\r\n", 2);
                used = (size_t)snprintf(line, sizeof line, "%s%s", indent, label ? "    " : "");
            }
            line[used++] = (char)c[i];
        }
        empty = 0;
        c += word;
    }
    text_append(text, line, used);
    text_append(text, "\r\n", 2);
}

static const char *mail_text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text && *text ? text : NULL;
}

static const char *const mail_months[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};

/* "2026-11-24" -> "24 November 2026"; "2026-11-22T10:15:30.000Z" ->
 * "22 November 2026, 10:15 UTC". Anything else is copied as is. */
static void mail_when(const char *iso, char *out, size_t out_size)
{
    int year, month, day, hour, minute;
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d", &year, &month, &day, &hour, &minute) == 5 &&
        month >= 1 && month <= 12)
        snprintf(out, out_size, "%d %s %d, %02d:%02d UTC", day, mail_months[month - 1], year, hour,
                 minute);
    else if (sscanf(iso, "%4d-%2d-%2d", &year, &month, &day) == 3 && month >= 1 && month <= 12)
        snprintf(out, out_size, "%d %s %d", day, mail_months[month - 1], year);
    else
        snprintf(out, out_size, "%s", iso);
}

/* "CARE_HOME" -> "care home". */
static void mail_words(const char *symbol, char *out, size_t out_size)
{
    size_t i = 0;
    for (; symbol[i] && i + 1 < out_size; i++)
        out[i] = symbol[i] == '_'                         ? ' '
                 : (symbol[i] >= 'A' && symbol[i] <= 'Z') ? (char)(symbol[i] - 'A' + 'a')
                                                          : symbol[i];
    out[i] = '\0';
}

enum mail_kind { MAIL_TEXT, MAIL_DATE, MAIL_WORDS, MAIL_YES_NO, MAIL_LIST, MAIL_WHO, MAIL_SERVICE };

struct mail_line {
    const char *label;
    const char *key;
    enum mail_kind kind;
};

static const struct mail_line mail_admission[] = {
    {"Admitted", "admitted_at", MAIL_DATE},
    {"Admission", "admission_method", MAIL_WORDS},
    {"Specialty", "admitting_specialty", MAIL_TEXT},
    {"Ward", "ward", MAIL_TEXT},
    {"Hospital site", "site_ods_code", MAIL_TEXT},
    {"Moved from ward", "previous_ward", MAIL_TEXT},
    {"Moved from site", "previous_site_ods_code", MAIL_TEXT},
    {"Hospital spell", "encounter_id", MAIL_TEXT},
    {NULL, NULL, MAIL_TEXT}};

static const struct mail_line mail_discharge[] = {
    {"Expected discharge", "expected_discharge_date", MAIL_DATE},
    {"Discharged", "discharged_at", MAIL_DATE},
    {"Leaving from ward", "ward", MAIL_TEXT},
    {"Hospital site", "site_ods_code", MAIL_TEXT},
    {"Going to", "discharge_destination", MAIL_WORDS},
    {"Lives alone", "lives_alone", MAIL_YES_NO},
    {"Needs on discharge", "care_needs", MAIL_LIST},
    {"Care package to restart", "care_package_restart_required", MAIL_YES_NO},
    {"Hospital spell", "encounter_id", MAIL_TEXT},
    {NULL, NULL, MAIL_TEXT}};

static const struct mail_line mail_referral[] = {{"Referred by", "referrer", MAIL_WHO},
                                                 {"Referred to", "receiving_service", MAIL_SERVICE},
                                                 {"Urgency", "urgency", MAIL_WORDS},
                                                 {"Reason", "reason", MAIL_TEXT},
                                                 {"Outcome", "outcome_reason", MAIL_TEXT},
                                                 {"Referral reference", "referral_id", MAIL_TEXT},
                                                 {NULL, NULL, MAIL_TEXT}};

static const struct mail_line mail_employment[] = {
    {"Programme", "programme_name", MAIL_TEXT},
    {"Programme type", "programme", MAIL_WORDS},
    {"Furthest stage", "stage", MAIL_WORDS},
    {"Job start date", "job_start_date", MAIL_DATE},
    {"Provider", "provider", MAIL_SERVICE},
    {"Referred by", "referrer", MAIL_WHO},
    {"Care coordinator", "care_coordinator", MAIL_WHO},
    {"Outcome", "outcome_reason", MAIL_TEXT},
    {"Referral reference", "referral_id", MAIL_TEXT},
    {NULL, NULL, MAIL_TEXT}};

/* One labelled line for a field of the event; nothing when it is absent. */
static void mail_line(struct text *text, const json_t *event, const struct mail_line *line)
{
    const json_t *value = json_object_get(event, line->key);
    char buffer[1024];
    const char *string = json_string_value(value);
    buffer[0] = '\0';
    switch (line->kind) {
    case MAIL_TEXT:
        if (string && *string)
            mail_field(text, "  ", line->label, string);
        return;
    case MAIL_DATE:
        if (!string || !*string)
            return;
        mail_when(string, buffer, sizeof buffer);
        break;
    case MAIL_WORDS:
        if (!string || !*string)
            return;
        mail_words(string, buffer, sizeof buffer);
        break;
    case MAIL_YES_NO:
        if (!json_is_boolean(value))
            return;
        snprintf(buffer, sizeof buffer, "%s", json_is_true(value) ? "yes" : "no");
        break;
    case MAIL_LIST: {
        size_t i, used = 0;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            char words[64];
            if (!json_string_value(item))
                continue;
            mail_words(json_string_value(item), words, sizeof words);
            used += (size_t)snprintf(buffer + used, sizeof buffer - used, "%s%s", used ? ", " : "",
                                     words);
            if (used >= sizeof buffer)
                break;
        }
        if (!buffer[0])
            return;
        break;
    }
    case MAIL_WHO:
    case MAIL_SERVICE: {
        /* "Jo Bramwell, Social prescribing link worker, Heaton and Reddish
         * PCN (U99001), 0161 496 0123" */
        static const char *const who[] = {"name", "role", "organisation_name", "contact", NULL};
        static const char *const service[] = {"name", "service_type", NULL};
        const char *const *keys = line->kind == MAIL_WHO ? who : service;
        size_t used = 0;
        if (!json_is_object(value))
            return;
        for (size_t i = 0; keys[i] && used < sizeof buffer; i++) {
            const char *part = mail_text_of(value, keys[i]);
            char words[64];
            if (!part)
                continue;
            if (strcmp(keys[i], "service_type") == 0) {
                mail_words(part, words, sizeof words);
                part = words;
            }
            used += (size_t)snprintf(buffer + used, sizeof buffer - used, "%s%s", used ? ", " : "",
                                     part);
        }
        const char *ods = mail_text_of(value, "ods_code");
        if (ods && used < sizeof buffer)
            used += (size_t)snprintf(buffer + used, sizeof buffer - used, " (ODS %s)", ods);
        if (!buffer[0])
            return;
        break;
    }
    }
    mail_field(text, "  ", line->label, buffer);
}

struct mail_kind_of_event {
    const char *event_type;
    const char *headline;
};

static const struct mail_kind_of_event mail_headlines[] = {
    {"ADMITTED", "Admitted to hospital"},
    {"TRANSFERRED", "Moved to another ward or hospital site"},
    {"ADMISSION_CANCELLED", "Admission cancelled"},
    {"TRANSFER_CANCELLED", "Move within hospital cancelled"},
    {"DISCHARGE_PENDING", "Discharge from hospital expected"},
    {"DISCHARGED", "Discharged from hospital"},
    {"DISCHARGE_CANCELLED", "Discharge cancelled"},
    {"REFERRAL_SENT", "New referral"},
    {"REFERRAL_ACCEPTED", "Referral accepted"},
    {"REFERRAL_REJECTED", "Referral not accepted"},
    {"REFERRAL_CLOSED", "Referral closed"},
    {"REFERRAL_CANCELLED", "Referral withdrawn (sent in error)"},
    {"REFERRED", "Referred to employment support"},
    {"ENGAGED", "Taking part in employment support"},
    {"JOB_START", "Started work"},
    {"SUSTAINED_EMPLOYMENT", "In sustained work"},
    {"DISENGAGED", "No longer taking part in employment support"},
    {"CLOSED", "Employment support closed"},
    {"CANCELLED", "Employment support update withdrawn (sent in error)"},
    {NULL, NULL}};

static void mail_person(const struct mail *mail, struct text *text, const json_t *event)
{
    const json_t *person = json_object_get(event, "person");
    char buffer[1024];
    size_t used = 0;
    mail_printf(text, "About\r\n");
    const char *given = mail_text_of(person, "given_name");
    const char *family = mail_text_of(person, "family_name");
    if (given || family) {
        snprintf(buffer, sizeof buffer, "%s%s%s", given ? given : "", given && family ? " " : "",
                 family ? family : "");
        mail_field(text, "  ", "Name", buffer);
    }
    if (mail_text_of(person, "date_of_birth")) {
        mail_when(mail_text_of(person, "date_of_birth"), buffer, sizeof buffer);
        mail_field(text, "  ", "Date of birth", buffer);
    }
    if (mail->show_nhs_number && mail_text_of(person, "nhs_number")) {
        const char *n = mail_text_of(person, "nhs_number");
        snprintf(buffer, sizeof buffer, "%.3s %.3s %.4s", n, strlen(n) > 3 ? n + 3 : "",
                 strlen(n) > 6 ? n + 6 : "");
        mail_field(text, "  ", "NHS number", buffer);
    }
    const json_t *address = json_object_get(person, "address");
    size_t i;
    json_t *line;
    buffer[0] = '\0';
    json_array_foreach(json_object_get(address, "lines"), i, line)
    {
        if (json_string_value(line) && used < sizeof buffer)
            used += (size_t)snprintf(buffer + used, sizeof buffer - used, "%s%s", used ? ", " : "",
                                     json_string_value(line));
    }
    if (mail_text_of(address, "postcode") && used < sizeof buffer)
        used += (size_t)snprintf(buffer + used, sizeof buffer - used, "%s%s", used ? ", " : "",
                                 mail_text_of(address, "postcode"));
    if (buffer[0])
        mail_field(text, "  ", "Address", buffer);
    if (mail_text_of(person, "gp_practice_ods_code"))
        mail_field(text, "  ", "GP practice (ODS)", mail_text_of(person, "gp_practice_ods_code"));
    /* The hub's pseudonym of the person for this partner, when its
     * agreement gives that instead of the NHS number: the same for every
     * mail about the same person. (The short label keeps its 64 digits on
     * one line within 78 characters.) */
    if (mail_text_of(person, "pseudonym"))
        mail_field(text, "  ", "Pseudonym", mail_text_of(person, "pseudonym"));
    json_array_foreach(json_object_get(person, "local_identifiers"), i, line)
    {
        if (!mail_text_of(line, "value"))
            continue;
        snprintf(buffer, sizeof buffer, "%s (%s)", mail_text_of(line, "value"),
                 mail_text_of(line, "system") ? mail_text_of(line, "system") : "local");
        mail_field(text, "  ", "Reference", buffer);
    }
}

/* RFC 5322 date from the host's clock, independent of the locale. */
static void mail_date(int64_t millis, char *out, size_t out_size)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    time_t seconds = (time_t)(millis / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    snprintf(out, out_size, "%s, %d %.3s %d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             mail_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The whole RFC 5322 message for one event. Caller frees. */
static char *mail_message(const struct mail *mail, const struct placehub_delivery *delivery,
                          char *errstr, size_t errstr_size)
{
    struct text text = {0};
    json_error_t error;
    json_t *event = json_loadb(delivery->body, delivery->body_len, 0, &error);
    const char *event_type = mail_text_of(event, "event_type");
    const char *headline = NULL;
    const struct mail_line *lines = NULL;
    char date[64], reference[16], buffer[256];
    if (!json_is_object(event) || !event_type) {
        snprintf(errstr, errstr_size, "the event is not a JSON object with an event_type");
        goto fail;
    }
    for (const struct mail_kind_of_event *kind = mail_headlines; kind->event_type; kind++)
        if (strcmp(kind->event_type, event_type) == 0)
            headline = kind->headline;
    if (strcmp(delivery->event_type, "admission") == 0)
        lines = mail_admission;
    else if (strcmp(delivery->event_type, "discharge") == 0)
        lines = mail_discharge;
    else if (strcmp(delivery->event_type, "referral") == 0)
        lines = mail_referral;
    else if (strcmp(delivery->event_type, "employment-support") == 0)
        lines = mail_employment;
    if (!headline || !lines) {
        snprintf(errstr, errstr_size, "no mail wording for %.40s event type %.40s",
                 delivery->event_type, event_type);
        goto fail;
    }
    /* A short reference people can quote on the phone; never personal data. */
    snprintf(reference, sizeof reference, "%.8s", delivery->event_id);
    const char *priority = mail_text_of(event, "priority");
    int urgent = priority && strcmp(priority, "ROUTINE") != 0;

    mail_date(mail->host->now_millis(), date, sizeof date);
    mail_printf(&text, "Date: %s\r\n", date);
    if (mail->sender_name[0])
        mail_printf(&text, "From: \"%s\" <%s>\r\n", mail->sender_name, mail->from);
    else
        mail_printf(&text, "From: %s\r\n", mail->from);
    for (size_t i = 0; i < mail->to_count; i++)
        mail_printf(&text, "%s%s%s", i ? ",\r\n " : "To: ", mail->to[i],
                    i + 1 == mail->to_count ? "\r\n" : "");
    mail_printf(&text, "Subject: %s %s%s%s (ref %s)\r\n", mail->subject_prefix,
                urgent ? priority : "", urgent ? ": " : "", headline, reference);
    /* The same on every retry and replay, so mail clients can spot a repeat. */
    mail_printf(&text, "Message-ID: <%s@%s>\r\n", delivery->event_id, mail->domain);
    mail_printf(&text, "X-Placehub-Event-Id: %s\r\n", delivery->event_id);
    mail_printf(&text, "X-Placehub-Event-Type: %s\r\n", delivery->event_type);
    if (urgent)
        mail_printf(&text, "Importance: high\r\n");
    mail_printf(&text, "Auto-Submitted: auto-generated\r\n"
                       "MIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n"
                       "\r\n");

    mail_printf(&text, "%s%s%s\r\n", urgent ? priority : "", urgent ? ": " : "", headline);
    if (mail_text_of(event, "occurred_at")) {
        mail_when(mail_text_of(event, "occurred_at"), buffer, sizeof buffer);
        mail_field(&text, "", "When", buffer);
    }
    if (mail_text_of(event, "cancels_event_id")) {
        snprintf(buffer, sizeof buffer, "This withdraws the earlier message with reference %.8s.",
                 mail_text_of(event, "cancels_event_id"));
        mail_field(&text, "", NULL, buffer);
    }
    const json_t *sharing = json_object_get(event, "sharing");
    if (json_is_true(json_object_get(sharing, "restricted_record")))
        mail_field(&text, "", NULL,
                   "RESTRICTED RECORD: do not tell anyone where this person is or was.");
    mail_printf(&text, "\r\n");
    mail_person(mail, &text, event);
    mail_printf(&text, "\r\nDetails\r\n");
    for (const struct mail_line *line = lines; line->label; line++)
        mail_line(&text, event, line);
    const char *notes = mail_text_of(event, "notes");
    if (notes && mail->show_notes) {
        mail_printf(&text, "\r\nNotes from the sender\r\n");
        /* Paragraphs kept, each wrapped. */
        char *copy = strdup(notes), *save = NULL;
        if (!copy)
            text.failed = 1;
        for (char *part = copy ? strtok_r(copy, "\n", &save) : NULL; part;
             part = strtok_r(NULL, "\n", &save))
            mail_field(&text, "  ", NULL, part);
        free(copy);
    }
    mail_printf(&text, "\r\n-- \r\n");
    snprintf(buffer, sizeof buffer,
             "Sent by placehub for %s. Reference %s. This message holds personal information "
             "shared with your organisation under its data-sharing agreement: keep it to the "
             "people who need it and do not forward it.",
             mail_text_of(event, "source_ods_code") ? mail_text_of(event, "source_ods_code")
                                                    : "a partner",
             delivery->event_id);
    mail_field(&text, "", NULL, buffer);
    if (text.failed) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    json_decref(event);
    return text.data;
fail:
    free(text.data);
    json_decref(event);
    return NULL;
}

static int mail_prepare(void *instance, const struct placehub_delivery *delivery,
                        struct placehub_request *request, char *errstr, size_t errstr_size)
{
    struct mail *mail = instance;
    for (const char *c = delivery->event_id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              *c == '-' || *c == '_' || *c == '.') ||
            c - delivery->event_id > 128) {
            snprintf(errstr, errstr_size, "event id unfit for a Message-ID");
            return -1;
        }
    char *message = mail_message(mail, delivery, errstr, errstr_size);
    if (!message)
        return -1;
    request->body = message;
    request->body_len = strlen(message);
    request->context = message;
    request->mail = &mail->envelope;
    return 0;
}

static void mail_release(void *instance, struct placehub_request *request)
{
    (void)instance;
    free(request->context);
    request->context = NULL;
}

/* What mail_create reads; the host's keys (tls_ca_file, timeouts) come on
 * top. url is the host's too, declared here to make it required. */
static const struct placehub_option mail_options[] = {
    {"url", PLACEHUB_OPTION_URL, 1, 0, "the mail server, smtp://host:587 or smtps://host:465"},
    {"from", PLACEHUB_OPTION_STRING, 1, 0, "the sending address"},
    {"to", PLACEHUB_OPTION_LIST, 1, 0, "the partner's addresses, comma-separated, up to 16"},
    {"subject_prefix", PLACEHUB_OPTION_STRING, 0, 0, "starts every subject (default [placehub])"},
    {"sender_name", PLACEHUB_OPTION_STRING, 0, 0, "the name shown in From:"},
    {"show_nhs_number", PLACEHUB_OPTION_BOOLEAN, 0, 0,
     "put the NHS number in the mail (default false)"},
    {"show_notes", PLACEHUB_OPTION_BOOLEAN, 0, 0,
     "put the sender's notes in the mail (default true)"},
    {0},
};

const struct placehub_connector_type placehub_connector_mail = {
    PLACEHUB_CONNECTOR_VERSION, .name = "mail",          .options = mail_options,
    .create = mail_create,      .prepare = mail_prepare, .release = mail_release,
    .destroy = mail_destroy,
};
