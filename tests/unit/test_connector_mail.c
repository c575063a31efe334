/*
 * test_connector_mail.c - the `mail` connector's prepare: the envelope, the
 * exact header block of an RFC 5322 message at a fixed time, a subject free
 * of personal data, the NHS number only when asked for, CRLF line ends and
 * short lines, a name carrying CR LF unable to add a header, and create()
 * refusing what it must. (The Python tests send the mail over STARTTLS to a
 * real SMTP server and read it back with Python's email package.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_connector_support.h"

extern const struct placehub_connector_type placehub_connector_mail;
static const struct placehub_connector_type *const type = &placehub_connector_mail;

static void *create_ok(struct placehub_options *options)
{
    char errstr[512] = "";
    void *instance = NULL;
    if (type->create(test_host(), "home-from-hospital", options, &instance, errstr,
                     sizeof errstr) != 0)
        fail_msg("create refused: %s", errstr);
    return instance;
}

static struct placehub_options *standard(struct test_options *list, const char *show_nhs_number)
{
    return test_options_set(list, "url", "smtp://mail.example.org:587", "from",
                            "placehub@hub.example.nhs.uk", "to",
                            "duty@hfh.example.org,lead@hfh.example.org", "sender_name",
                            "Stockport placehub", "show_nhs_number", show_nhs_number, NULL);
}

/* The message for event as topic; caller frees. */
static char *message_of(void *instance, const char *topic, json_t *event,
                        struct placehub_request *request)
{
    char *body = NULL, errstr[256];
    struct placehub_delivery delivery = test_delivery(topic, event, &body);
    memset(request, 0, sizeof *request);
    if (type->prepare(instance, &delivery, request, errstr, sizeof errstr) != 0)
        fail_msg("prepare refused: %s", errstr);
    char *text = strndup(request->body, request->body_len);
    assert_non_null(text);
    assert_int_equal(strlen(text), request->body_len);
    free(body);
    return text;
}

static void test_envelope_and_headers(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(standard(&list, "false"));
    json_t *event = test_event("discharge");
    struct placehub_request request;
    test_now_millis_value = 1795342531000LL; /* Sun, 22 Nov 2026 10:15:31 UTC */
    char *text = message_of(instance, "discharge", event, &request);
    assert_null(request.url); /* options.url */
    assert_non_null(request.mail);
    assert_string_equal(request.mail->from, "placehub@hub.example.nhs.uk");
    assert_int_equal(request.mail->recipient_count, 2);
    assert_string_equal(request.mail->recipients[0], "duty@hfh.example.org");
    assert_string_equal(request.mail->recipients[1], "lead@hfh.example.org");
    assert_int_equal(request.header_count, 0);
    assert_starts_with(text,
                       "Date: Sun, 22 Nov 2026 10:15:31 +0000\r\n"
                       "From: \"Stockport placehub\" <placehub@hub.example.nhs.uk>\r\n"
                       "To: duty@hfh.example.org,\r\n"
                       " lead@hfh.example.org\r\n"
                       "Subject: [placehub] URGENT: Discharge from hospital expected "
                       "(ref fa9fbee7)\r\n"
                       "Message-ID: <fa9fbee7-445a-46c5-80cf-1a7d1502c271@hub.example.nhs.uk>\r\n"
                       "X-Placehub-Event-Id: fa9fbee7-445a-46c5-80cf-1a7d1502c271\r\n"
                       "X-Placehub-Event-Type: discharge\r\n"
                       "Importance: high\r\n"
                       "Auto-Submitted: auto-generated\r\n"
                       "MIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n"
                       "\r\n"
                       "URGENT: Discharge from hospital expected\r\n");
    /* What a person needs, in words. */
    assert_contains(text, "\r\n  Name: Margaret Ann Holloway\r\n");
    assert_contains(text, "\r\n  Date of birth: 9 March 1941\r\n");
    assert_contains(text, "\r\n  Expected discharge: 24 November 2026\r\n");
    assert_contains(text, "\r\n  Lives alone: yes\r\n");
    assert_contains(text, "\r\n  Needs on discharge: personal care, medication support, "
                          "equipment\r\n");
    assert_contains(text, "\r\nNotes from the sender\r\n  Needs a commode");
    /* No NHS number anywhere, in any spacing. */
    assert_not_contains(text, "9990123454");
    assert_not_contains(text, "999 012 3454");
    /* CRLF only, and lines within RFC 5322's recommended 78. */
    for (const char *line = text; *line;) {
        const char *end = strstr(line, "\r\n");
        assert_non_null(end);
        assert_true(end - line <= 78);
        assert_null(memchr(line, '\n', (size_t)(end - line)));
        assert_null(memchr(line, '\r', (size_t)(end - line)));
        line = end + 2;
    }
    type->release(instance, &request);
    assert_null(request.context);
    free(text);
    json_decref(event);
    type->destroy(instance);
}

/* An event cut to a narrow agreement: what is absent is left out, the
 * pseudonym is shown on one line. */
static void test_minimised_event_with_a_pseudonym(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(standard(&list, "true"));
    json_t *full = test_event("discharge");
    json_t *event = json_object();
    static const char *const kept[] = {
        "event_id",    "event_type",      "schema_version", "occurred_at",
        "recorded_at", "source_ods_code", "sharing",        "expected_discharge_date"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        json_object_set(event, kept[i], json_object_get(full, kept[i]));
    json_object_set_new(
        event, "person",
        json_pack("{s:s}", "pseudonym",
                  "6f1e0c3b2a5d4e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"));
    struct placehub_request request;
    char *text = message_of(instance, "discharge", event, &request);
    assert_contains(text, "\r\n  Pseudonym: "
                          "6f1e0c3b2a5d4e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7\r\n");
    assert_contains(text, "\r\n  Expected discharge: 24 November 2026\r\n");
    assert_not_contains(text, "Holloway");
    assert_not_contains(text, "Mill Lane");
    assert_not_contains(text, "Name:");
    assert_not_contains(text, "NHS number");
    assert_not_contains(text, "Notes from the sender");
    for (const char *line = text; *line;) {
        const char *end = strstr(line, "\r\n");
        assert_non_null(end);
        assert_true(end - line <= 78);
        line = end + 2;
    }
    type->release(instance, &request);
    free(text);
    json_decref(event);
    json_decref(full);
    type->destroy(instance);
}

static void test_subject_never_carries_personal_data(void **state)
{
    (void)state;
    static const char *const topics[] = {"admission", "discharge", "referral",
                                         "employment-support"};
    struct test_options list;
    void *instance = create_ok(standard(&list, "true"));
    for (size_t i = 0; i < 4; i++) {
        json_t *event = test_event(topics[i]);
        struct placehub_request request;
        char *text = message_of(instance, topics[i], event, &request);
        const char *subject = strstr(text, "\r\nSubject: ");
        assert_non_null(subject);
        char line[256];
        snprintf(line, sizeof line, "%.*s", (int)strcspn(subject + 2, "\r"), subject + 2);
        const json_t *person = json_object_get(event, "person");
        static const char *const fields[] = {"nhs_number", "family_name", "date_of_birth"};
        for (size_t f = 0; f < 3; f++)
            assert_not_contains(line, json_string_value(json_object_get(person, fields[f])));
        /* With show_nhs_number the body has it, spaced as people read it. */
        char spaced[16];
        const char *n = json_string_value(json_object_get(person, "nhs_number"));
        snprintf(spaced, sizeof spaced, "%.3s %.3s %.4s", n, n + 3, n + 6);
        assert_contains(text, spaced);
        type->release(instance, &request);
        free(text);
        json_decref(event);
    }
    type->destroy(instance);
}

static void test_a_name_cannot_add_a_header(void **state)
{
    (void)state;
    struct test_options list;
    void *instance = create_ok(standard(&list, "false"));
    json_t *event = test_event("referral");
    json_object_set_new(json_object_get(event, "person"), "family_name",
                        json_string("Walsh\r\nBcc: someone@elsewhere.example"));
    json_object_set_new(event, "event_type", json_string("REFERRAL_CANCELLED"));
    json_object_set_new(event, "cancels_event_id",
                        json_string("0e1c2b3a-1111-4222-8333-444455556666"));
    json_object_set_new(event, "sharing",
                        support_json("{\"objected_to_non_care_sharing\": false, "
                                     "\"restricted_record\": true}"));
    struct placehub_request request;
    char *text = message_of(instance, "referral", event, &request);
    assert_not_contains(text, "\r\nBcc:");
    assert_contains(text, "Name: Kieran Walsh Bcc: someone@elsewhere.example\r\n");
    assert_contains(text, "Subject: [placehub] Referral withdrawn (sent in error) (ref b086f24f)");
    assert_contains(text, "This withdraws the earlier message with reference 0e1c2b3a.");
    assert_contains(text, "RESTRICTED RECORD: do not tell anyone where this person is or was.");
    type->release(instance, &request);
    free(text);
    json_decref(event);
    type->destroy(instance);
}

static void assert_refused(struct placehub_options *options, const char *hint)
{
    char errstr[512] = "";
    void *instance = NULL;
    if (type->create(test_host(), "hfh", options, &instance, errstr, sizeof errstr) == 0)
        fail_msg("accepted, expected a refusal mentioning %s", hint);
    assert_contains(errstr, hint);
}

static void test_create_refusals(void **state)
{
    (void)state;
    struct test_options list;
    assert_refused(test_options_set(&list, NULL), "options.url");
    assert_refused(test_options_set(&list, "url", "https://mail.example.org", "from", "a@b.org",
                                    "to", "c@d.org", NULL),
                   "options.url");
    assert_refused(test_options_set(&list, "url", "smtp://m.example.org", "to", "c@d.org", NULL),
                   "options.from");
    assert_refused(test_options_set(&list, "url", "smtp://m.example.org", "from",
                                    "Placehub <a@b.org>", "to", "c@d.org", NULL),
                   "options.from");
    assert_refused(test_options_set(&list, "url", "smtp://m.example.org", "from", "a@b.org", NULL),
                   "options.to");
    assert_refused(test_options_set(&list, "url", "smtp://m.example.org", "from", "a@b.org", "to",
                                    "c@d.org, not-an-address", NULL),
                   "options.to: item 2");
    assert_refused(test_options_set(&list, "url", "smtp://m.example.org", "from", "a@b.org", "to",
                                    "a@x.org b@x.org c@x.org d@x.org e@x.org f@x.org g@x.org "
                                    "h@x.org i@x.org j@x.org k@x.org l@x.org m@x.org n@x.org "
                                    "o@x.org p@x.org q@x.org",
                                    NULL),
                   "at most 16");
    assert_refused(test_options_set(&list, "url", "smtp://m.example.org", "from", "a@b.org", "to",
                                    "c@d.org", "show_nhs_number", "yes", NULL),
                   "options.show_nhs_number");
    assert_refused(test_options_set(&list, "url", "smtp://m.example.org", "from", "a@b.org", "to",
                                    "c@d.org", "subject_prefix", "[hub]\r\nBcc: x@y.org", NULL),
                   "options.subject_prefix");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_and_headers),
        cmocka_unit_test(test_minimised_event_with_a_pseudonym),
        cmocka_unit_test(test_subject_never_carries_personal_data),
        cmocka_unit_test(test_a_name_cannot_add_a_header),
        cmocka_unit_test(test_create_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
