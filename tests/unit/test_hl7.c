/*
 * test_hl7.c - the HL7 v2 intake below the network: the parser (lib/hl7/hl7.c:
 * encoding characters, escapes, repetitions, components, subcomponents, the
 * three segment terminators, and every refusal with its position), HL7
 * date/times in UK local time, MLLP framing (lib/hl7/mllp.c), the ADT mapping
 * of every supported trigger field by field against tests/data/hl7/, and
 * the ACKs.
 *
 * The mapping and the ACK live in services/mllp/, which the Makefile does
 * not put in the library; they are pure code with no I/O, so they are
 * compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "schema/catalogue.h"
#include "schema/codec.h"
#include "core/config.h"
#include "schema/event.h"
#include "hl7/hl7.h"
#include "hl7/mllp.h"

#include "hl7/ack.h"
#include "hl7/adt.h"

/* --- helpers ------------------------------------------------------------ */

static struct hl7_message *parse_ok(const char *text)
{
    struct hl7_message *message = NULL;
    struct hl7_error error;
    /* An exactly sized heap copy, so valgrind sees any over-read. */
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    if (hl7_parse(copy, len, NULL, &message, &error) != 0)
        fail_msg("parse failed: %s", error.text);
    free(copy);
    return message;
}

static void parse_refused(const char *text, size_t len, const struct hl7_limits *limits,
                          struct hl7_error *error)
{
    struct hl7_message *message = (struct hl7_message *)1;
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    assert_int_equal(hl7_parse(copy, len, limits, &message, error), -1);
    assert_null(message);
    assert_true(error->text[0] != '\0');
    free(copy);
}

static const char *value(const struct hl7_message *message, const char *segment, int field,
                         int repetition, int component, int subcomponent)
{
    static char out[1024];
    long index = hl7_segment_find(message, segment, 0);
    assert_true(index >= 0);
    assert_true(hl7_value(message, (size_t)index, field, repetition, component, subcomponent, out,
                          sizeof out) >= 0);
    return out;
}

static struct config *load_config(const char *extra)
{
    size_t len;
    char *settings = support_read_file("tests/data/hl7/mllp.yaml", &len);
    char text[8192];
    snprintf(text, sizeof text,
             "kafka:\n  bootstrap_servers: \"127.0.0.1:1\"\n"
             "topics:\n  - name: admission\n  - name: discharge\n  - name: hl7-raw\n%s%s",
             settings, extra ? extra : "");
    free(settings);
    struct config *config = NULL;
    char errstr[1024];
    if (config_load_string("mllp-test.yaml", text, strlen(text), &config, errstr, sizeof errstr) !=
        0)
        fail_msg("config: %s", errstr);
    return config;
}

static char *read_message(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/hl7/%s.hl7", name);
    return support_read_file(path, NULL);
}

/* Maps text under config; returns the result (release it). */
static void map_text(const struct config *config, const char *text, struct adt_result *result)
{
    struct hl7_message *message = parse_ok(text);
    adt_map(config, message, result);
    hl7_message_destroy(message);
}

static void map_rejected(const struct config *config, const char *text, int code,
                         const char *segment, int field, const char *reason)
{
    struct adt_result result;
    map_text(config, text, &result);
    if (result.action != ADT_REJECT)
        fail_msg("expected a rejection (%s)", reason);
    assert_int_equal(result.error.code, code);
    assert_string_equal(result.error.segment, segment);
    assert_int_equal(result.error.field, field);
    assert_contains(result.error.reason, reason);
    assert_null(result.event);
    adt_result_release(&result);
}

/* --- parser ------------------------------------------------------------- */

static void test_parse_structure(void **state)
{
    (void)state;
    struct hl7_message *message =
        parse_ok("MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT^A01^ADT_A01|C1|P|2.5\r"
                 "EVN|A01|20261120084300\r"
                 "PID|1||H1^^^RXX^MR~9990123454^^^NHS^NH||Holloway^Margaret^Ann\r"
                 "ZXY|a&b&c^d~e\r");
    assert_int_equal(hl7_segment_count(message), 4);
    assert_string_equal(hl7_segment_name(message, 2), "PID");
    assert_int_equal(hl7_segment_find(message, "ZXY", 0), 3);
    assert_int_equal(hl7_segment_find(message, "PV1", 0), -1);
    assert_int_equal(hl7_field_count(message, 0), 12);
    assert_string_equal(value(message, "MSH", 1, 1, 0, 0), "|");
    assert_string_equal(value(message, "MSH", 2, 1, 0, 0), "^~\\&");
    assert_string_equal(value(message, "MSH", 9, 1, 1, 0), "ADT");
    assert_string_equal(value(message, "MSH", 9, 1, 2, 0), "A01");
    assert_string_equal(value(message, "MSH", 9, 1, 3, 0), "ADT_A01");
    assert_string_equal(value(message, "MSH", 9, 1, 4, 0), "");
    assert_string_equal(value(message, "MSH", 10, 1, 0, 0), "C1");
    /* Repetitions and components. */
    long pid = hl7_segment_find(message, "PID", 0);
    assert_int_equal(hl7_repetition_count(message, (size_t)pid, 3), 2);
    assert_int_equal(hl7_repetition_count(message, (size_t)pid, 2), 0);
    assert_int_equal(hl7_repetition_count(message, (size_t)pid, 99), 0);
    assert_string_equal(value(message, "PID", 3, 1, 1, 0), "H1");
    assert_string_equal(value(message, "PID", 3, 2, 1, 0), "9990123454");
    assert_string_equal(value(message, "PID", 3, 2, 5, 0), "NH");
    assert_string_equal(value(message, "PID", 3, 2, 4, 1), "NHS");
    assert_string_equal(value(message, "PID", 3, 3, 1, 0), "");
    assert_string_equal(value(message, "PID", 5, 1, 3, 0), "Ann");
    assert_string_equal(value(message, "PID", 5, 1, 0, 0), "Holloway^Margaret^Ann");
    /* Subcomponents. */
    assert_string_equal(value(message, "ZXY", 1, 1, 1, 1), "a");
    assert_string_equal(value(message, "ZXY", 1, 1, 1, 3), "c");
    assert_string_equal(value(message, "ZXY", 1, 1, 1, 4), "");
    assert_string_equal(value(message, "ZXY", 1, 1, 1, 0), "a&b&c");
    assert_string_equal(value(message, "ZXY", 1, 1, 2, 1), "d");
    assert_string_equal(value(message, "ZXY", 1, 2, 1, 1), "e");
    /* Raw access is borrowed from the message, not copied. */
    const char *raw;
    size_t len = hl7_raw(message, 3, 1, 1, 1, 2, &raw);
    assert_int_equal(len, 1);
    assert_memory_equal(raw, "b", 1);
    hl7_message_destroy(message);
}

static void test_parse_own_encoding_characters(void **state)
{
    (void)state;
    /* Field # component $ repetition * escape @ subcomponent %. */
    struct hl7_message *message = parse_ok("MSH#$*@%#PAS#RXX#####ADT$A02#C2#P#2.5\r"
                                           "PID#1##A1$$$RXX$MR*B2%x$$$NHS$NH##O@S@Dell$Jo@F@X\r");
    const struct hl7_encoding *encoding = hl7_message_encoding(message);
    assert_int_equal(encoding->field, '#');
    assert_int_equal(encoding->component, '$');
    assert_int_equal(encoding->repetition, '*');
    assert_int_equal(encoding->escape, '@');
    assert_int_equal(encoding->subcomponent, '%');
    assert_int_equal(encoding->truncation, 0);
    assert_string_equal(value(message, "MSH", 9, 1, 2, 0), "A02");
    assert_string_equal(value(message, "PID", 3, 2, 1, 1), "B2");
    assert_string_equal(value(message, "PID", 3, 2, 1, 2), "x");
    assert_string_equal(value(message, "PID", 3, 2, 5, 0), "NH");
    /* The message's own escape character, and its own separators decoded. */
    assert_string_equal(value(message, "PID", 5, 1, 1, 0), "O$Dell");
    assert_string_equal(value(message, "PID", 5, 1, 2, 0), "Jo#X");
    hl7_message_destroy(message);

    message = parse_ok("MSH|^~\\&#|A|B|C|D|||ADT^A01|1|P|2.7\r");
    assert_int_equal(hl7_message_encoding(message)->truncation, '#');
    hl7_message_destroy(message);
}

static void test_escape_sequences(void **state)
{
    (void)state;
    struct hl7_message *message = parse_ok(
        "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\r"
        "NTE|1|x|a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f~\\X41C3A9\\\\.br\\\\H\\bold\\N\\\\Z1\\z|\"\"\r");
    assert_string_equal(value(message, "NTE", 3, 1, 1, 1), "a|b^c&d~e\\f");
    assert_string_equal(value(message, "NTE", 3, 2, 1, 1), "A\xc3\xa9\nboldz");
    assert_string_equal(value(message, "NTE", 4, 1, 0, 0), ""); /* "" is HL7's null */
    const char *raw;
    assert_int_equal(hl7_raw(message, 1, 4, 1, 0, 0, &raw), 2);

    char out[64];
    const struct hl7_encoding *encoding = hl7_message_encoding(message);
    assert_int_equal(hl7_escape(encoding, "a|b^c&d~e\\f\rg", out, sizeof out), 27);
    assert_string_equal(out, "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\g");
    char back[64];
    assert_int_equal(hl7_unescape(encoding, out, strlen(out), back, sizeof back), 13);
    assert_string_equal(back, "a|b^c&d~e\\f\rg");
    assert_int_equal(hl7_escape(encoding, "a|b", out, 5), -1);
    assert_string_equal(out, "");
    assert_int_equal(hl7_unescape(encoding, "abcdef", 6, back, 4), -1);
    hl7_message_destroy(message);
}

static void test_segment_terminators(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\rEVN|A01\rPID|1||X^^^R^MR\r",
        "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\nEVN|A01\nPID|1||X^^^R^MR\n",
        "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\r\nEVN|A01\r\nPID|1||X^^^R^MR\r\n",
        "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\r\nEVN|A01\nPID|1||X^^^R^MR",
        "MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\r\r\n\nEVN|A01\r\n\r\nPID|1||X^^^R^MR\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct hl7_message *message = parse_ok(texts[i]);
        assert_int_equal(hl7_segment_count(message), 3);
        assert_string_equal(hl7_segment_name(message, 1), "EVN");
        assert_string_equal(value(message, "MSH", 12, 1, 0, 0), "2.5");
        assert_string_equal(value(message, "EVN", 1, 1, 0, 0), "A01");
        assert_string_equal(value(message, "PID", 3, 1, 1, 0), "X");
        assert_string_equal(value(message, "PID", 3, 1, 4, 0), "R");
        assert_int_equal(hl7_field_count(message, 2), 3);
        hl7_message_destroy(message);
    }
}

struct refusal {
    const char *text;
    const char *segment;
    size_t segment_number;
    int field;
    size_t offset;
    const char *reason;
};

static void test_malformed_messages(void **state)
{
    (void)state;
    static const struct refusal refusals[] = {
        {"EVN|A01\rMSH|^~\\&|A\r", "", 1, 0, 0, "must start with an MSH"},
        {"FHS|^~\\&\rMSH|^~\\&|A\r", "", 1, 0, 0, "batches"},
        {"MSHA^~\\&|x", "MSH", 1, 1, 3, "field separator"},
        {"MSH", "MSH", 1, 1, 3, "ends before its field separator"},
        {"MSH|^~\\|A", "MSH", 1, 2, 4, "found 3"},
        {"MSH|^~\\&#!|A", "MSH", 1, 2, 4, "found 6"},
        {"MSH|^~^&|A", "MSH", 1, 2, 6, "repeats character 1"},
        {"MSH|^~|&|A", "MSH", 1, 2, 4, "found 2"},
        {"MSH|^~\\a|A", "MSH", 1, 2, 7, "not a letter"},
        {"MSH|^|\\&|A", "MSH", 1, 2, 4, "found 1"},
        {"MSH|^~\\&|A\rPid|1\r", "", 2, 0, 12, "3 capital letters"},
        {"MSH|^~\\&|A\rPI\r", "", 2, 0, 11, "shorter segment"},
        {"MSH|^~\\&|A\rPIDX|1\r", "", 2, 0, 14, "followed by the field separator"},
        {"MSH|^~\\&|A\rMSH|^~\\&|B\r", "MSH", 2, 0, 11, "only be the first"},
        {"MSH|^~\\&|A\rPID|1|x\\F\r", "PID", 2, 2, 18, "not closed"},
        {"MSH|^~\\&|A\rPID|1|x\\F^\\\r", "PID", 2, 2, 18, "not closed"},
        {"MSH|^~\\&|A\rPID|1|\\Q\\\r", "PID", 2, 2, 17, "unknown escape"},
        {"MSH|^~\\&|A\rPID|1|\\\\\r", "PID", 2, 2, 17, "empty escape"},
        {"MSH|^~\\&|A\rPID|1|\\X4\\\r", "PID", 2, 2, 17, "even number"},
        {"MSH|^~\\&|A\rPID|1|\\X4G\\\r", "PID", 2, 2, 17, "not a hexadecimal"},
        {"MSH|^~\\&|A\rPID|1|\\X4100\\\r", "PID", 2, 2, 17, "NUL byte"},
        {"MSH|^~\\&|A|B|C|D|E|F|\\G\\\r", "MSH", 1, 9, 21, "unknown escape"},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const struct refusal *r = &refusals[i];
        struct hl7_error error;
        parse_refused(r->text, strlen(r->text), NULL, &error);
        if (strcmp(error.segment, r->segment) != 0 || error.segment_number != r->segment_number ||
            error.field != r->field || error.offset != r->offset || !strstr(error.text, r->reason))
            fail_msg("refusal %zu: got segment '%s' #%zu field %d offset %zu \"%s\"", i,
                     error.segment, error.segment_number, error.field, error.offset, error.text);
    }
}

static void test_refusals_by_byte_and_limit(void **state)
{
    (void)state;
    struct hl7_error error;
    parse_refused("", 0, NULL, &error);
    assert_contains(error.text, "empty");
    parse_refused("MSH|^~\\&|A\0B", 12, NULL, &error);
    assert_int_equal(error.offset, 10);
    assert_contains(error.text, "0x00");
    parse_refused("MSH|^~\\&|A\x0b", 11, NULL, &error);
    assert_contains(error.text, "0x0b");
    parse_refused("MSH|^~\\&|A\x1c\r", 12, NULL, &error);
    assert_contains(error.text, "0x1c");

    struct hl7_limits limits = {64, 3, 5};
    const char *big = "MSH|^~\\&|A|B|C|D|E|F|G|H|I|J|K|L|M|N|O|P|Q|R|S|T|U|V|W|X|Y|Z|1|2|3|4";
    parse_refused(big, strlen(big), &limits, &error);
    assert_contains(error.text, "longer than 64 bytes");
    assert_int_equal(error.offset, 64);
    const char *segments = "MSH|^~\\&|A\rEVN|1\rPID|1\rPV1|1\r";
    parse_refused(segments, strlen(segments), &limits, &error);
    assert_contains(error.text, "more than 3 segments");
    assert_int_equal(error.segment_number, 4);
    const char *fields = "MSH|^~\\&|A\rPID|1|2|3|4|5|6\r";
    parse_refused(fields, strlen(fields), &limits, &error);
    assert_string_equal(error.segment, "PID");
    assert_int_equal(error.field, 6);
    assert_contains(error.text, "PID (segment 2) field 6, byte 25: more than 5 fields");
    /* Within the limits the same shapes parse. */
    limits.max_segments = 4;
    limits.max_fields = 6;
    struct hl7_message *message = NULL;
    assert_int_equal(hl7_parse(fields, strlen(fields), &limits, &message, &error), 0);
    hl7_message_destroy(message);
}

/* --- date and time ------------------------------------------------------ */

static const char *utc(const char *hl7_text)
{
    static char out[32];
    int64_t millis;
    if (hl7_datetime_parse(hl7_text, &millis) != 0)
        return "invalid";
    codec_timestamp_format(millis, out, sizeof out);
    return out;
}

static void test_datetimes(void **state)
{
    (void)state;
    /* Winter: GMT is UTC. Summer: BST is UTC+1. */
    assert_string_equal(utc("20261120084300"), "2026-11-20T08:43:00.000Z");
    assert_string_equal(utc("20260701093000"), "2026-07-01T08:30:00.000Z");
    assert_string_equal(utc("202607010930"), "2026-07-01T08:30:00.000Z");
    assert_string_equal(utc("2026070109"), "2026-07-01T08:00:00.000Z");
    assert_string_equal(utc("20260701"), "2026-06-30T23:00:00.000Z");
    assert_string_equal(utc("20261120084300.1"), "2026-11-20T08:43:00.100Z");
    assert_string_equal(utc("20261120084300.1234"), "2026-11-20T08:43:00.123Z");
    /* An explicit offset wins over the UK rule. */
    assert_string_equal(utc("20260701093000+0000"), "2026-07-01T09:30:00.000Z");
    assert_string_equal(utc("20260701093000+0100"), "2026-07-01T08:30:00.000Z");
    assert_string_equal(utc("20261120084300-0530"), "2026-11-20T14:13:00.000Z");
    /* 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC. */
    assert_string_equal(utc("202603290030"), "2026-03-29T00:30:00.000Z");
    assert_string_equal(utc("202603290230"), "2026-03-29T01:30:00.000Z");
    assert_string_equal(utc("202610250030"), "2026-10-24T23:30:00.000Z");
    assert_string_equal(utc("202610250130"), "2026-10-25T00:30:00.000Z"); /* the first 01:30 */
    assert_string_equal(utc("202610250200"), "2026-10-25T02:00:00.000Z");
    assert_string_equal(utc("20240229120000"), "2024-02-29T12:00:00.000Z");
    static const char *const invalid[] = {"",
                                          "2026",
                                          "202611",
                                          "20230229",
                                          "20261320",
                                          "20261120246000",
                                          "20261120086000",
                                          "2026112008430",
                                          "202611200843.5",
                                          "20261120084300.",
                                          "20261120084300.12345",
                                          "20261120084300+01",
                                          "20261120084300+0100x",
                                          "2026-11-20",
                                          "17991231"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        if (strcmp(utc(invalid[i]), "invalid") != 0)
            fail_msg("'%s' was accepted as %s", invalid[i], utc(invalid[i]));
    int32_t days;
    assert_int_equal(hl7_date_parse("19700101", &days), 0);
    assert_int_equal(days, 0);
    assert_int_equal(hl7_date_parse("19440312", &days), 0);
    assert_int_equal(days, -9426);
    assert_int_equal(hl7_date_parse("20261126153000+0100", &days), 0);
    assert_int_equal(days, 20783);
    assert_int_equal(hl7_date_parse("1944", &days), -1);
    assert_int_equal(hl7_date_parse("19440230", &days), -1);
}

/* --- MLLP --------------------------------------------------------------- */

static void test_mllp_frames(void **state)
{
    (void)state;
    struct mllp_decoder decoder;
    char errstr[256];
    size_t consumed, len;
    const unsigned char stream[] = "\x0bMSH|one\r\x1c\r\r\n\x0bMSH|two\x1c\r";
    size_t stream_len = sizeof stream - 1;
    mllp_decoder_init(&decoder, 1024);
    assert_int_equal(mllp_decode(&decoder, stream, stream_len, &consumed, errstr, sizeof errstr),
                     MLLP_MESSAGE);
    assert_int_equal(consumed, 11);
    const char *message = mllp_decoder_message(&decoder, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(message, "MSH|one\r", 8);
    assert_int_equal(mllp_decode(&decoder, stream + consumed, stream_len - consumed, &consumed,
                                 errstr, sizeof errstr),
                     MLLP_MESSAGE);
    message = mllp_decoder_message(&decoder, &len);
    assert_int_equal(len, 7);
    assert_string_equal(message, "MSH|two");
    assert_false(mllp_decoder_in_frame(&decoder));

    /* The same stream one byte at a time. */
    int messages = 0;
    for (size_t i = 0; i < stream_len; i++) {
        enum mllp_result result =
            mllp_decode(&decoder, stream + i, 1, &consumed, errstr, sizeof errstr);
        assert_int_equal(consumed, 1);
        if (result == MLLP_MESSAGE)
            messages++;
        else
            assert_int_equal(result, MLLP_NEED_MORE);
        if (i == 3)
            assert_true(mllp_decoder_in_frame(&decoder));
    }
    assert_int_equal(messages, 2);
    mllp_decoder_release(&decoder);

    size_t framed_len;
    unsigned char *framed = mllp_frame("MSH|x", 5, &framed_len);
    assert_int_equal(framed_len, 8);
    assert_memory_equal(framed, "\x0bMSH|x\x1c\r", 8);
    free(framed);
}

static void test_mllp_too_large_then_next(void **state)
{
    (void)state;
    struct mllp_decoder decoder;
    char errstr[256];
    size_t consumed, len;
    unsigned char stream[64];
    size_t n = 0;
    stream[n++] = 0x0b;
    memset(stream + n, 'x', 20);
    n += 20;
    stream[n++] = 0x1c;
    stream[n++] = 0x0d;
    memcpy(stream + n, "\x0bMSH|ok\x1c\r", 10);
    n += 10;
    mllp_decoder_init(&decoder, 16);
    assert_int_equal(mllp_decode(&decoder, stream, n, &consumed, errstr, sizeof errstr),
                     MLLP_TOO_LARGE);
    assert_int_equal(consumed, 23);
    assert_int_equal(
        mllp_decode(&decoder, stream + consumed, n - consumed, &consumed, errstr, sizeof errstr),
        MLLP_MESSAGE);
    assert_string_equal(mllp_decoder_message(&decoder, &len), "MSH|ok");
    /* Exactly the limit is allowed. */
    const unsigned char exact[] = "\x0b"
                                  "0123456789abcdef\x1c\r";
    assert_int_equal(
        mllp_decode(&decoder, exact, sizeof exact - 1, &consumed, errstr, sizeof errstr),
        MLLP_MESSAGE);
    assert_int_equal(mllp_decoder_message(&decoder, &len)[15], 'f');
    assert_int_equal(len, 16);
    mllp_decoder_release(&decoder);
}

static void test_mllp_framing_errors(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        const char *reason;
    } cases[] = {
        {"MSH|no frame", "outside a frame"},
        {"\x0bMSH|x\x1cX", "0x0d expected"},
        {"\x0bMSH|x\x0bMSH|y\x1c\r", "inside a frame"},
        {"\x0bMSH|x\x1c\r \x0b", "byte 0x20 outside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mllp_decoder decoder;
        char errstr[256] = "";
        size_t consumed = 0, len = strlen(cases[i].bytes), at = 0;
        enum mllp_result result;
        mllp_decoder_init(&decoder, 1024);
        do {
            result = mllp_decode(&decoder, (const unsigned char *)cases[i].bytes + at, len - at,
                                 &consumed, errstr, sizeof errstr);
            at += consumed;
        } while (result == MLLP_MESSAGE);
        assert_int_equal(result, MLLP_FRAME_ERROR);
        assert_contains(errstr, cases[i].reason);
        mllp_decoder_release(&decoder);
    }
}

/* --- mapping ------------------------------------------------------------ */

static struct catalogue *load_catalogue(void)
{
    char errstr[512];
    struct catalogue *catalogue = NULL;
    if (catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0)
        fail_msg("schemas/catalogue.json: %s", errstr);
    return catalogue;
}

/* What placehub-mllp writes topic's events with: the topic's latest schema
 * version (registry_writer with version -1). Borrowed from catalogue. */
static const struct catalogue_entry *writer_of(const struct catalogue *catalogue, const char *topic)
{
    const struct catalogue_entry *entry = catalogue_latest_for_topic(catalogue, topic);
    if (!entry)
        fail_msg("no schema for %s in the catalogue", topic);
    return entry;
}

/* Every sample message maps to exactly the event tests/data/hl7/expected.json
 * gives (worked out by hand from docs/hl7.md), which the schema accepts. */
static void test_map_every_trigger(void **state)
{
    (void)state;
    struct config *config = load_config(NULL);
    json_t *expected = support_load_json("tests/data/hl7/expected.json");
    json_t *events = json_object_get(expected, "events");
    struct catalogue *catalogue = load_catalogue();
    const struct catalogue_entry *admission = writer_of(catalogue, "admission");
    const struct catalogue_entry *discharge = writer_of(catalogue, "discharge");
    const char *name;
    json_t *entry;
    int mapped = 0, kept = 0;
    assert_int_equal(json_object_size(events), 11);
    json_object_foreach(events, name, entry)
    {
        char *text = read_message(name);
        struct adt_result result;
        map_text(config, text, &result);
        free(text);
        const char *topic = json_string_value(json_object_get(entry, "topic"));
        json_t *want = json_object_get(entry, "event");
        if (!topic) {
            if (result.action != ADT_KEEP)
                fail_msg("%s: expected to be kept only, got action %d (%s)", name,
                         (int)result.action, result.error.reason);
            kept++;
            adt_result_release(&result);
            continue;
        }
        if (result.action != ADT_FORWARD)
            fail_msg("%s: not forwarded: %s", name, result.error.reason);
        assert_string_equal(result.topic, topic);
        assert_string_equal(result.event_id, json_string_value(json_object_get(want, "event_id")));
        struct codec_error error;
        const struct catalogue_entry *writer =
            strcmp(topic, "admission") == 0 ? admission : discharge;
        assert_int_equal(event_prepare(result.event, writer->version, 1795000000000LL, &error), 0);
        /* Field by field first, so a failure names the field. */
        const char *field;
        json_t *want_value;
        json_object_foreach(want, field, want_value)
        {
            json_t *got = json_object_get(result.event, field);
            if (!got || !json_equal(got, want_value)) {
                char *got_text = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                char *want_text = json_dumps(want_value, JSON_ENCODE_ANY | JSON_COMPACT);
                print_error("%s: field %s: got %s, expected %s\n", name, field,
                            got_text ? got_text : "(absent)", want_text);
                free(got_text);
                free(want_text);
                fail();
            }
        }
        unsigned char *encoded = NULL;
        size_t encoded_len = 0;
        if (codec_encode(writer->schema, result.event, 0, &encoded, &encoded_len, &error) != 0)
            fail_msg("%s: schema refuses %s: %s", name, error.field, error.message);
        free(encoded);
        /* And nothing else: every field is written, none invented. */
        json_object_del(result.event, "recorded_at");
        assert_json_equal(result.event, want);
        mapped++;
        adt_result_release(&result);
    }
    assert_int_equal(mapped, 8);
    assert_int_equal(kept, 3);
    catalogue_destroy(catalogue);
    json_decref(expected);
    config_destroy(config);
}

static void test_event_id_is_deterministic(void **state)
{
    (void)state;
    struct config *config = load_config(NULL);
    char *text = read_message("a01");
    struct adt_result first, second, other;
    map_text(config, text, &first);
    map_text(config, text, &second);
    assert_string_equal(first.event_id, second.event_id);
    /* Python's uuid.uuid5 of the same name in the same namespace agrees. */
    assert_string_equal(first.event_id, "9d589d81-85f6-5ab5-9c56-44073782854b");
    char *changed = strstr(text, "RXX0001");
    assert_non_null(changed);
    changed[6] = '2';
    map_text(config, text, &other);
    assert_string_not_equal(first.event_id, other.event_id);
    /* Same spell, so the same correlation id. */
    assert_json_equal(json_object_get(first.event, "correlation_id"),
                      json_object_get(other.event, "correlation_id"));
    adt_result_release(&first);
    adt_result_release(&second);
    adt_result_release(&other);
    free(text);
    config_destroy(config);
}

#define A01_HEAD "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT^A01|C1|P|2.5\r"
#define A01_EVN "EVN|A01|20261120084300\r"
#define A01_PID "PID|1||9990123454^^^NHS^NH||Holloway^Margaret\r"
#define A01_PV1 "PV1|1|I|Ward 7^^^RXX01\r"

static void test_map_rejections(void **state)
{
    (void)state;
    struct config *config = load_config(NULL);
    map_rejected(config,
                 "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ORU^R01|C1|P|2.5\r" A01_PID,
                 ADT_ERROR_MESSAGE_TYPE, "MSH", 9, "only ADT");
    map_rejected(config,
                 "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT^A28|C1|P|2.5\r" A01_PID,
                 ADT_ERROR_EVENT_CODE, "MSH", 9, "trigger event A28 is not accepted");
    map_rejected(config,
                 "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT|C1|P|2.5\r" A01_PID,
                 ADT_ERROR_REQUIRED_FIELD, "MSH", 9, "trigger event missing");
    map_rejected(config,
                 "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT|C1|P|2.5\r"
                 "EVN|A99|20261120084300\r" A01_PID,
                 ADT_ERROR_EVENT_CODE, "EVN", 1, "A99");
    map_rejected(config,
                 "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT^A01|C1|P|3.0\r" A01_PID,
                 ADT_ERROR_VERSION, "MSH", 12, "2.x");
    map_rejected(config,
                 "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT^A01||P|2.5\r" A01_PID,
                 ADT_ERROR_REQUIRED_FIELD, "MSH", 10, "control id");
    map_rejected(config,
                 "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT^A01|C1|P|2.5||||||"
                 "ISO IR87\r" A01_PID,
                 ADT_ERROR_TABLE_VALUE, "MSH", 18, "character set");
    map_rejected(config, A01_HEAD A01_EVN A01_PV1, ADT_ERROR_SEGMENT_SEQUENCE, "PID", 0,
                 "segment missing");
    map_rejected(config, A01_HEAD A01_EVN A01_PID, ADT_ERROR_SEGMENT_SEQUENCE, "PV1", 0,
                 "every A01 message needs it");
    map_rejected(config,
                 A01_HEAD A01_EVN "PID|1||H1^^^RXX^MR~9990123455^^^NHS^NH||Holloway\r" A01_PV1,
                 ADT_ERROR_UNKNOWN_KEY, "PID", 3, "NHS number (repetition 2)");
    map_rejected(config, A01_HEAD A01_EVN "PID|1||999 012 3454^^^NHS^NH||Holloway\r" A01_PV1,
                 ADT_ERROR_UNKNOWN_KEY, "PID", 3, "exactly 10 digits");
    map_rejected(config, A01_HEAD A01_EVN "PID|1||^^^NHS^NH||Holloway\r" A01_PV1,
                 ADT_ERROR_REQUIRED_FIELD, "PID", 3, "no NHS number");
    map_rejected(config, A01_HEAD "EVN|A01|20261120084300|||x|20261131\r" A01_PID A01_PV1,
                 ADT_ERROR_DATA_TYPE, "EVN", 6, "not an HL7 date/time");
    map_rejected(
        config, "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|||ADT^A01|C1|P|2.5\rEVN|A01\r" A01_PID A01_PV1,
        ADT_ERROR_REQUIRED_FIELD, "EVN", 2, "no time for the event");
    map_rejected(config,
                 A01_HEAD A01_EVN A01_PID
                 "PV1|1|I|Ward 7^^^RXX01|||||||||||||||||||||||||||||||||||||||||2026\r",
                 ADT_ERROR_DATA_TYPE, "PV1", 44, "not an HL7 date/time");
    map_rejected(config,
                 A01_HEAD A01_EVN "PID|1||9990123454^^^NHS^NH||Holloway||19441332\r" A01_PV1,
                 ADT_ERROR_DATA_TYPE, "PID", 7, "not an HL7 date");
    map_rejected(config, A01_HEAD A01_EVN "PID|1||9990123454^^^NHS^NH||Holl\xe9way\r" A01_PV1,
                 ADT_ERROR_DATA_TYPE, "PID", 5, "not valid UTF-8");
    map_rejected(config,
                 "MSH|^~\\&|PAS|Main Hospital|PLACEHUB|PLACEHUB|20261120084300||ADT^A01|C1|P|2.5"
                 "\r" A01_EVN A01_PID A01_PV1,
                 ADT_ERROR_REQUIRED_FIELD, "MSH", 4, "default_source_ods_code");
    /* A reason never repeats the person's values. */
    struct adt_result result;
    map_text(config, A01_HEAD A01_EVN "PID|1||9990123455^^^NHS^NH||Holloway\r" A01_PV1, &result);
    assert_not_contains(result.error.reason, "9990123455");
    assert_not_contains(result.error.reason, "Holloway");
    adt_result_release(&result);
    config_destroy(config);
}

static void test_map_settings(void **state)
{
    (void)state;
    struct adt_result result;
    /* Defaults: any NHS/NH repetition; unconfigured identifier types get a URN. */
    struct config *config = load_config("  default_source_ods_code: RYY\n"
                                        "  discharge_dispositions:\n    \"20\": DIED\n");
    map_text(config,
             "MSH|^~\\&|PAS|Main Hospital|PLACEHUB|PLACEHUB|20261120084300||ADT^A03|C1|P|2.5|||"
             "|||8859/1\r" A01_EVN
             "PID|1||X9^^^RXX^PI~9990123454^^^NHS^NH~9990078777^^^NHS^NH||Holl\xe9way^Ren\xe9\r"
             "PD1||U||||||||||Y\r"
             "PV1|1|I|Ward 7^^^RXX01|||||||||||||||||||||||||||||||||20\r",
             &result);
    assert_int_equal(result.action, ADT_FORWARD);
    json_t *event = result.event;
    json_t *person = json_object_get(event, "person");
    assert_string_equal(json_string_value(json_object_get(event, "source_ods_code")), "RYY");
    assert_string_equal(json_string_value(json_object_get(person, "nhs_number")), "9990123454");
    json_t *identifiers = support_json("[{\"system\":\"urn:placehub:hl7v2:pid-3:RXX:PI\","
                                       "\"value\":\"X9\"}]");
    assert_json_equal(json_object_get(person, "local_identifiers"), identifiers);
    json_decref(identifiers);
    assert_string_equal(json_string_value(json_object_get(person, "family_name")),
                        "Holl\xc3\xa9way");
    assert_string_equal(json_string_value(json_object_get(person, "given_name")), "Ren\xc3\xa9");
    assert_true(json_is_null(json_object_get(person, "address")));
    assert_true(
        json_is_true(json_object_get(json_object_get(event, "sharing"), "restricted_record")));
    assert_string_equal(json_string_value(json_object_get(event, "discharge_destination")), "DIED");
    assert_true(json_is_null(json_object_get(event, "lives_alone")));
    /* Without PV1-45 the discharge happened when the event did. */
    assert_json_equal(json_object_get(event, "discharged_at"),
                      json_object_get(event, "occurred_at"));
    assert_true(json_is_null(json_object_get(event, "correlation_id")));
    adt_result_release(&result);
    config_destroy(config);

    /* A fixed repetition: whatever it holds must be a valid NHS number. */
    config = load_config("  nhs_number_repetition: 1\n");
    map_text(config, A01_HEAD A01_EVN "PID|1||H1^^^RXX^MR~9990123454^^^NHS^NH\r" A01_PV1, &result);
    assert_int_equal(result.action, ADT_REJECT);
    assert_contains(result.error.reason, "repetition 1");
    adt_result_release(&result);
    map_text(config, A01_HEAD A01_EVN "PID|1||9990078777^^^X^Y~9990123454^^^NHS^NH\r" A01_PV1,
             &result);
    assert_int_equal(result.action, ADT_FORWARD);
    person = json_object_get(result.event, "person");
    assert_string_equal(json_string_value(json_object_get(person, "nhs_number")), "9990078777");
    assert_int_equal(json_array_size(json_object_get(person, "local_identifiers")), 0);
    adt_result_release(&result);
    config_destroy(config);

    /* Another type and any authority. */
    config = load_config("  nhs_number_type: NHSNO\n  nhs_number_authority: \"\"\n");
    map_text(config, A01_HEAD A01_EVN "PID|1||9990078777^^^ABC^NHSNO\r" A01_PV1, &result);
    assert_int_equal(result.action, ADT_FORWARD);
    person = json_object_get(result.event, "person");
    assert_string_equal(json_string_value(json_object_get(person, "nhs_number")), "9990078777");
    adt_result_release(&result);
    /* PV2-25 and PV1-4 codes, HL7 table 0007 too; unknown codes are OTHER. */
    map_text(config,
             A01_HEAD A01_EVN "PID|1||9990078777^^^ABC^NHSNO\r"
                              "PV1|1|I|Ward 7^^^RXX01|L||||||999\r"
                              "PV2|||||||||||||||||||||||||1\r",
             &result);
    assert_string_equal(json_string_value(json_object_get(result.event, "admission_method")),
                        "MATERNITY");
    assert_string_equal(json_string_value(json_object_get(result.event, "admitting_specialty")),
                        "999");
    assert_string_equal(json_string_value(json_object_get(result.event, "priority")), "EMERGENCY");
    adt_result_release(&result);
    map_text(config, A01_HEAD A01_EVN "PID|1||9990078777^^^ABC^NHSNO\rPV1|1|I||99\r", &result);
    assert_string_equal(json_string_value(json_object_get(result.event, "admission_method")),
                        "OTHER");
    adt_result_release(&result);
    config_destroy(config);
}

static void test_config_code_tables(void **state)
{
    (void)state;
    char errstr[512];
    struct config *config = load_config(NULL);
    assert_int_equal(adt_check_config(config, errstr, sizeof errstr), 0);
    config_destroy(config);
    config = load_config("  discharge_dispositions:\n    \"01\": HOUSE\n");
    assert_int_equal(adt_check_config(config, errstr, sizeof errstr), -1);
    assert_contains(errstr, "mllp-test.yaml:");
    assert_contains(errstr, "discharge_dispositions maps '01' to 'HOUSE'");
    config_destroy(config);

    /* Every symbol the mapping may write is one the schema has. */
    struct catalogue *catalogue = load_catalogue();
    const struct codec_schema *schema = writer_of(catalogue, "discharge")->schema;
    json_t *event = support_load_json("tests/data/discharge.json");
    for (const char *const *symbol = adt_destination_symbols; *symbol; symbol++) {
        struct codec_error error;
        unsigned char *encoded = NULL;
        size_t len;
        json_object_set_new(event, "discharge_destination", json_string(*symbol));
        if (codec_encode(schema, event, 0, &encoded, &len, &error) != 0)
            fail_msg("%s: %s %s", *symbol, error.field, error.message);
        free(encoded);
    }
    json_decref(event);
    catalogue_destroy(catalogue);

    /* The mllp section refuses a raw topic nobody declared. */
    struct config *refused = NULL;
    const char *text = "kafka:\n  bootstrap_servers: x\ntopics:\n  - name: admission\n"
                       "mllp:\n  raw_topic: nowhere\n";
    assert_int_equal(
        config_load_string("t.yaml", text, strlen(text), &refused, errstr, sizeof errstr), -1);
    assert_contains(errstr, "t.yaml:6:14: mllp.raw_topic 'nowhere' is not declared");
}

/* --- ACK ---------------------------------------------------------------- */

static void test_ack_accept(void **state)
{
    (void)state;
    struct hl7_message *message = parse_ok(
        "MSH|^~\\&|PAS|RXX|PLACEHUB|PLACEHUB|20261120084300||ADT^A01^ADT_A01|RXX0001|P|2.4\r");
    size_t len;
    char *ack = ack_build(message, ACK_ACCEPT, "event_id x on admission", NULL, "K1",
                          1795000000000LL, &len);
    assert_non_null(ack);
    assert_int_equal(len, strlen(ack));
    assert_string_equal(ack, "MSH|^~\\&|PLACEHUB|PLACEHUB|PAS|RXX|20261118110640+0000||"
                             "ACK^A01^ACK|K1|P|2.4\rMSA|AA|RXX0001|event_id x on admission\r");
    free(ack);
    hl7_message_destroy(message);
}

static void test_ack_errors(void **state)
{
    (void)state;
    struct hl7_message *message =
        parse_ok("MSH#$*@%#PAS#RXX$1#HUB#HUB#20261120084300##ADT$A01#C9#T#2.5\r");
    struct adt_error error = {ADT_ERROR_UNKNOWN_KEY, "PID", 3, 2, 1, "PID-3: bad # and $ here"};
    size_t len;
    char *ack = ack_build(message, ACK_REJECT, error.reason, &error, "K2", 0, &len);
    assert_non_null(ack);
    /* The sender's own characters throughout; our text escaped with them. */
    assert_string_equal(ack,
                        "MSH#$*@%#HUB#HUB#PAS#RXX$1#19700101000000+0000##ACK$A01$ACK#K2#T#2.5\r"
                        "MSA#AR#C9#PID-3: bad @F@ and @S@ here\r"
                        "ERR#PID$1$3$204%Unknown key identifier%HL70357#PID$1$3$2$1#"
                        "204$Unknown key identifier$HL70357#E####PID-3: bad @F@ and @S@ here\r");
    free(ack);
    hl7_message_destroy(message);

    /* Nothing readable: the default characters, no MSA-2. */
    struct adt_error framing = {ADT_ERROR_SEGMENT_SEQUENCE, "", 0, 0, 0, "too large"};
    ack = ack_build(NULL, ACK_ERROR, "too large", &framing, "K3", 0, &len);
    assert_string_equal(ack, "MSH|^~\\&|PLACEHUB||||19700101000000+0000||ACK|K3|P|2.5\r"
                             "MSA|AE||too large\r"
                             "ERR|^^^100&Segment sequence error&HL70357||100^Segment sequence "
                             "error^HL70357|E||||too large\r");
    free(ack);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_structure),
        cmocka_unit_test(test_parse_own_encoding_characters),
        cmocka_unit_test(test_escape_sequences),
        cmocka_unit_test(test_segment_terminators),
        cmocka_unit_test(test_malformed_messages),
        cmocka_unit_test(test_refusals_by_byte_and_limit),
        cmocka_unit_test(test_datetimes),
        cmocka_unit_test(test_mllp_frames),
        cmocka_unit_test(test_mllp_too_large_then_next),
        cmocka_unit_test(test_mllp_framing_errors),
        cmocka_unit_test(test_map_every_trigger),
        cmocka_unit_test(test_event_id_is_deterministic),
        cmocka_unit_test(test_map_rejections),
        cmocka_unit_test(test_map_settings),
        cmocka_unit_test(test_config_code_tables),
        cmocka_unit_test(test_ack_accept),
        cmocka_unit_test(test_ack_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
