/*
 * test_framing.c - the Confluent wire format (lib/schema/framing.c): header bytes
 * for known ids, round trips, and refusals naming the byte at fault (wrong
 * magic byte, too short, schema id 0 or above INT32_MAX). Short messages are
 * given in exactly-sized heap buffers so valgrind or ASan see any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "schema/framing.h"

static unsigned char *heap_copy(const unsigned char *bytes, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, bytes, len);
    return copy;
}

/* Parses bytes expecting failure; returns the message in message. */
static void expect_refused(const unsigned char *bytes, size_t len, char *message, size_t size)
{
    unsigned char *data = heap_copy(bytes, len);
    int32_t schema_id = -7;
    const unsigned char *payload = NULL;
    size_t payload_len = 12345;
    message[0] = '\0';
    assert_int_equal(framing_parse(data, len, &schema_id, &payload, &payload_len, message, size),
                     -1);
    assert_true(message[0] != '\0');
    free(data);
}

static void test_header_bytes(void **state)
{
    (void)state;
    unsigned char header[FRAMING_HEADER_SIZE];
    static const unsigned char one[] = {0x00, 0x00, 0x00, 0x00, 0x01};
    static const unsigned char mixed[] = {0x00, 0x01, 0x02, 0x03, 0x04};
    static const unsigned char largest[] = {0x00, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(FRAMING_HEADER_SIZE, 5);
    memset(header, 0xaa, sizeof header);
    framing_write_header(header, 1);
    assert_memory_equal(header, one, sizeof one); /* docs: a v1 admission starts 00 00 00 00 01 */
    framing_write_header(header, 0x01020304);
    assert_memory_equal(header, mixed, sizeof mixed);
    framing_write_header(header, INT32_MAX);
    assert_memory_equal(header, largest, sizeof largest);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const int32_t ids[] = {1, 4, 255, 256, 65536, 0x01020304, INT32_MAX};
    static const unsigned char body[] = {0x48, 0x64, 0x35, 0x39, 0x00, 0xff};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        unsigned char message[FRAMING_HEADER_SIZE + sizeof body];
        framing_write_header(message, ids[i]);
        memcpy(message + FRAMING_HEADER_SIZE, body, sizeof body);
        int32_t schema_id = 0;
        const unsigned char *payload = NULL;
        size_t payload_len = 0;
        char errstr[256] = "";
        assert_int_equal(framing_parse(message, sizeof message, &schema_id, &payload, &payload_len,
                                       errstr, sizeof errstr),
                         0);
        assert_int_equal(schema_id, ids[i]);
        assert_ptr_equal(payload, message + FRAMING_HEADER_SIZE); /* borrowed, not copied */
        assert_int_equal(payload_len, sizeof body);
        assert_memory_equal(payload, body, sizeof body);
    }
}

static void test_header_only_is_an_empty_body(void **state)
{
    (void)state;
    static const unsigned char bytes[] = {0x00, 0x00, 0x00, 0x00, 0x03};
    unsigned char *data = heap_copy(bytes, sizeof bytes);
    int32_t schema_id = 0;
    const unsigned char *payload = NULL;
    size_t payload_len = 99;
    char errstr[256];
    assert_int_equal(framing_parse(data, sizeof bytes, &schema_id, &payload, &payload_len, errstr,
                                   sizeof errstr),
                     0);
    assert_int_equal(schema_id, 3);
    assert_int_equal(payload_len, 0);
    free(data);
}

static void test_wrong_magic_byte(void **state)
{
    (void)state;
    char message[256];
    static const unsigned char one[] = {0x01, 0x00, 0x00, 0x00, 0x01, 0x02};
    expect_refused(one, sizeof one, message, sizeof message);
    assert_contains(message, "byte 0");
    assert_contains(message, "0x01");
    assert_contains(message, "magic byte");
    /* Plain JSON on an Avro topic is a common mistake. */
    static const unsigned char json[] = {'{', '"', 'a', '"', ':', '1', '}'};
    expect_refused(json, sizeof json, message, sizeof message);
    assert_contains(message, "byte 0");
    assert_contains(message, "0x7b");
    /* A single wrong byte is reported as wrong, not as too short. */
    static const unsigned char lone[] = {0xff};
    expect_refused(lone, sizeof lone, message, sizeof message);
    assert_contains(message, "byte 0");
    assert_contains(message, "0xff");
}

static void test_too_short(void **state)
{
    (void)state;
    char message[256];
    static const unsigned char bytes[] = {0x00, 0x00, 0x00, 0x01};
    for (size_t len = 1; len < FRAMING_HEADER_SIZE; len++) {
        char expected[64];
        expect_refused(bytes, len, message, sizeof message);
        snprintf(expected, sizeof expected, "message is %zu bytes", len);
        assert_contains(message, expected);
        assert_contains(message, "needs 5");
    }
    expect_refused(NULL, 0, message, sizeof message);
    assert_contains(message, "empty message");
}

static void test_schema_id_zero_and_negative(void **state)
{
    (void)state;
    char message[256];
    static const unsigned char zero[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x02};
    expect_refused(zero, sizeof zero, message, sizeof message);
    assert_contains(message, "bytes 1-4");
    assert_contains(message, "schema id 0");
    /* Ids above INT32_MAX would turn negative in an int32_t. */
    static const unsigned char high[] = {0x00, 0x80, 0x00, 0x00, 0x00};
    expect_refused(high, sizeof high, message, sizeof message);
    assert_contains(message, "schema id 2147483648");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_header_only_is_an_empty_body),
        cmocka_unit_test(test_wrong_magic_byte),
        cmocka_unit_test(test_too_short),
        cmocka_unit_test(test_schema_id_zero_and_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
