/*
 * test_producer.c - lib/kafka/producer.c against librdkafka's mock cluster
 * (rdkafka_mock.h), one single-broker cluster per test, in this process.
 *
 * Checked: a send is acknowledged at a real offset, in order; key, value and
 * headers arrive as sent (read back with a consumer); an asynchronous send
 * reports once; an answer without an offset (the mock answers a Produce
 * with DUPLICATE_SEQUENCE_NUMBER, which librdkafka takes as "written
 * before") is reported as RD_KAFKA_RESP_ERR__INCONSISTENT and -1, never as
 * an acknowledgement, and the producer goes on afterwards; a broker that is
 * down makes a send fail within its timeout (plus the reconnect backoff
 * producer.c bounds to 1 s) rather than hang; a message refused at once is
 * reported at once, its value freed.
 *
 * As tests/fault/mock_cluster.c explains, Produce is limited to v9: the mock
 * of librdkafka 2.12.1 reads a NULL leader on v10+ in some states.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>

#include "core/clock.h"
#include "core/config.h"
#include "kafka/producer.h"

#define TOPIC "admission"
#define PRODUCE_API 0 /* Kafka's ApiKey of Produce */
#define TIMEOUT_MS 3000
/* An invented person's key, from the never-issued 999 range. */
#define KEY "9990000018"

struct fixture {
    rd_kafka_t *mock_owner; /* the client instance the mock cluster lives in */
    rd_kafka_mock_cluster_t *cluster;
    struct config *config;
    struct producer *producer;
};

static struct producer *producer_for(struct fixture *fixture, int timeout_ms)
{
    struct producer *producer = NULL;
    char errstr[512] = "";
    if (producer_new(fixture->config, "test-producer", timeout_ms, PRODUCER_LINGER_ACK_MS,
                     &producer, errstr, sizeof errstr) != 0)
        fail_msg("producer_new: %s", errstr);
    return producer;
}

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    char errstr[512] = "", text[1024];
    assert_non_null(fixture);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr); /* no bootstrap warning */
    fixture->mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(fixture->mock_owner);
    fixture->cluster = rd_kafka_mock_cluster_new(fixture->mock_owner, 1);
    assert_non_null(fixture->cluster);
    assert_int_equal(rd_kafka_mock_set_apiversion(fixture->cluster, PRODUCE_API, 0, 9), 0);
    assert_int_equal(rd_kafka_mock_topic_create(fixture->cluster, TOPIC, 1, 1), 0);
    snprintf(text, sizeof text,
             "kafka:\n  bootstrap_servers: \"%s\"\ntopics:\n  - name: " TOPIC "\n",
             rd_kafka_mock_cluster_bootstraps(fixture->cluster));
    if (config_load_string("test.yaml", text, strlen(text), &fixture->config, errstr,
                           sizeof errstr) != 0)
        fail_msg("config: %s", errstr);
    fixture->producer = producer_for(fixture, TIMEOUT_MS);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    producer_destroy(fixture->producer);
    config_destroy(fixture->config);
    rd_kafka_mock_cluster_destroy(fixture->cluster);
    rd_kafka_destroy(fixture->mock_owner);
    free(fixture);
    return 0;
}

/* Sends text as a new malloc'd value (producer_send takes it). */
static int send_text(struct producer *producer, const char *text,
                     const struct producer_header *headers, size_t header_count,
                     struct producer_result *result)
{
    char *value = strdup(text);
    assert_non_null(value);
    return producer_send(producer, TOPIC, KEY, strlen(KEY), value, strlen(text), headers,
                         header_count, result);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_send_is_acknowledged_at_an_offset(void **state)
{
    struct fixture *fixture = *state;
    for (int64_t expected = 0; expected < 3; expected++) {
        struct producer_result result = {RD_KAFKA_RESP_ERR__FAIL, -1, -1};
        if (send_text(fixture->producer, "{\"n\":1}", NULL, 0, &result) != 0)
            fail_msg("send %lld: %s", (long long)expected, rd_kafka_err2str(result.err));
        assert_int_equal(result.err, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(result.partition, 0);
        assert_int_equal(result.offset, expected);
    }
}

/* Reads the message at offset of partition 0 back and hands it to check
 * (before the consumer is destroyed: librdkafka waits for every message it
 * handed out to be destroyed before its handle can be). */
static void consume_at(struct fixture *fixture, int64_t offset,
                       void (*check)(const rd_kafka_message_t *message, const void *expected),
                       const void *expected)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       rd_kafka_mock_cluster_bootstraps(fixture->cluster), errstr,
                                       sizeof errstr),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test-reader", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(consumer);
    rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(partitions, TOPIC, 0)->offset = offset;
    assert_int_equal(rd_kafka_assign(consumer, partitions), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(partitions);
    rd_kafka_message_t *message = NULL;
    int64_t deadline = clock_monotonic_ms() + 10000;
    while (!message && clock_monotonic_ms() < deadline) {
        message = rd_kafka_consumer_poll(consumer, 200);
        if (message && message->err) {
            rd_kafka_message_destroy(message);
            message = NULL;
        }
    }
    if (message) {
        check(message, expected);
        rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    if (!message)
        fail_msg("no message at offset %lld within 10 s", (long long)offset);
}

#define VALUE "{\"event\":\"admission\"}"

static const char binary_header[] = {'a', '\0', 'b'};
static const struct producer_header sent_headers[] = {
    {"event_id", "0b5e6f1c-5d1e-4a57-9b1f-1c2d3e4f5a6b", 36},
    {"binary", binary_header, sizeof binary_header},
    {"empty", "", 0},
};
#define SENT_HEADER_COUNT (sizeof sent_headers / sizeof sent_headers[0])

static void check_sent(const rd_kafka_message_t *message, const void *expected)
{
    const int64_t *offset = expected;
    assert_int_equal(message->offset, *offset);
    assert_int_equal(message->key_len, strlen(KEY));
    assert_memory_equal(message->key, KEY, strlen(KEY));
    assert_int_equal(message->len, strlen(VALUE));
    assert_memory_equal(message->payload, VALUE, message->len);

    rd_kafka_headers_t *received = NULL;
    assert_int_equal(rd_kafka_message_headers(message, &received), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_header_cnt(received), SENT_HEADER_COUNT);
    for (size_t i = 0; i < SENT_HEADER_COUNT; i++) {
        const void *value = NULL;
        size_t len = 0;
        if (rd_kafka_header_get_last(received, sent_headers[i].name, &value, &len) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            fail_msg("header %s missing", sent_headers[i].name);
        assert_int_equal(len, sent_headers[i].len);
        if (len)
            assert_memory_equal(value, sent_headers[i].value, len);
    }
}

static void test_key_value_and_headers_arrive(void **state)
{
    struct fixture *fixture = *state;
    struct producer_result result;
    assert_int_equal(send_text(fixture->producer, VALUE, sent_headers, SENT_HEADER_COUNT, &result),
                     0);
    consume_at(fixture, result.offset, check_sent, &result.offset);
}

struct async_outcome {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int calls;
    struct producer_result result;
};

static void async_done(void *opaque, const struct producer_result *result)
{
    struct async_outcome *outcome = opaque;
    pthread_mutex_lock(&outcome->lock);
    outcome->calls++;
    outcome->result = *result;
    pthread_cond_broadcast(&outcome->done);
    pthread_mutex_unlock(&outcome->lock);
}

static void async_wait(struct async_outcome *outcome)
{
    int64_t deadline = clock_monotonic_ms() + TIMEOUT_MS + 2000;
    pthread_mutex_lock(&outcome->lock);
    while (outcome->calls == 0 && clock_monotonic_ms() < deadline) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&outcome->done, &outcome->lock, &until);
    }
    pthread_mutex_unlock(&outcome->lock);
}

static void test_async_send_reports_once(void **state)
{
    struct fixture *fixture = *state;
    struct async_outcome outcome = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}};
    producer_send_async(fixture->producer, TOPIC, KEY, strlen(KEY), strdup("{}"), 2, NULL, 0,
                        async_done, &outcome);
    async_wait(&outcome);
    assert_int_equal(outcome.calls, 1);
    assert_int_equal(outcome.result.err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(outcome.result.offset, 0);
    /* Nothing more comes: a second report would arrive with the next poll. */
    struct producer_result result;
    assert_int_equal(send_text(fixture->producer, "{}", NULL, 0, &result), 0);
    assert_int_equal(result.offset, 1);
    pthread_mutex_lock(&outcome.lock);
    assert_int_equal(outcome.calls, 1);
    pthread_mutex_unlock(&outcome.lock);
}

static void test_answer_without_an_offset_is_not_an_acknowledgement(void **state)
{
    struct fixture *fixture = *state;
    struct producer_result result;
    assert_int_equal(send_text(fixture->producer, "{\"n\":0}", NULL, 0, &result), 0);
    assert_int_equal(result.offset, 0);

    rd_kafka_mock_push_request_errors(fixture->cluster, PRODUCE_API, 1,
                                      RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER);
    result = (struct producer_result){RD_KAFKA_RESP_ERR_NO_ERROR, 0, 0};
    int rc = send_text(fixture->producer, "{\"n\":1}", NULL, 0, &result);
    if (rc != -1 || result.err != RD_KAFKA_RESP_ERR__INCONSISTENT)
        fail_msg("expected -1 and _INCONSISTENT, got %d and %s (offset %lld)", rc,
                 rd_kafka_err2name(result.err), (long long)result.offset);
    assert_true(result.offset < 0);

    /* The producer goes on: within a few tries a send is acknowledged at a
     * real offset again (librdkafka may first recover its sequence). */
    int64_t deadline = clock_monotonic_ms() + 3 * TIMEOUT_MS;
    do {
        rc = send_text(fixture->producer, "{\"n\":2}", NULL, 0, &result);
    } while (rc != 0 && clock_monotonic_ms() < deadline);
    if (rc != 0)
        fail_msg("no acknowledgement after the inconsistent one: %s",
                 rd_kafka_err2name(result.err));
    /* Offset 1: the send answered without an offset was indeed not written. */
    assert_int_equal(result.offset, 1);
}

struct timed_send {
    struct producer *producer;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
    int rc;
    struct producer_result result;
};

static void *timed_send_thread(void *arg)
{
    struct timed_send *send = arg;
    struct producer_result result;
    int rc = send_text(send->producer, "{}", NULL, 0, &result);
    pthread_mutex_lock(&send->lock);
    send->rc = rc;
    send->result = result;
    send->done = 1;
    pthread_cond_broadcast(&send->done_cond);
    pthread_mutex_unlock(&send->lock);
    return NULL;
}

static void test_broker_down_fails_within_the_timeout(void **state)
{
    struct fixture *fixture = *state;
    enum { SHORT_TIMEOUT_MS = 1000 };
    /* message.timeout.ms plus at most the 1 s reconnect backoff, and some
     * slack for a loaded machine. */
    enum { LIMIT_MS = SHORT_TIMEOUT_MS + 1000 + 700 };
    struct producer *producer = producer_for(fixture, SHORT_TIMEOUT_MS);
    struct producer_result result;
    /* Connected first (a few tries: the short timeout also bounds the
     * first connection on a loaded machine). */
    int rc = -1;
    for (int i = 0; i < 5 && rc != 0; i++)
        rc = send_text(producer, "{}", NULL, 0, &result);
    if (rc != 0)
        fail_msg("no first send went through: %s", rd_kafka_err2name(result.err));

    assert_int_equal(rd_kafka_mock_broker_set_down(fixture->cluster, 1), 0);
    struct timed_send send = {.producer = producer, .done = 0};
    pthread_mutex_init(&send.lock, NULL);
    pthread_cond_init(&send.done_cond, NULL);
    pthread_t thread;
    int64_t start = clock_monotonic_ms();
    assert_int_equal(pthread_create(&thread, NULL, timed_send_thread, &send), 0);
    /* Waited for on a thread, so that a send that hangs fails the test
     * rather than hanging it: the broker then comes back to end the send. */
    struct timespec deadline = support_deadline(LIMIT_MS);
    pthread_mutex_lock(&send.lock);
    while (!send.done)
        if (pthread_cond_timedwait(&send.done_cond, &send.lock, &deadline) != 0)
            break;
    int done = send.done;
    pthread_mutex_unlock(&send.lock);
    int64_t elapsed = clock_monotonic_ms() - start;
    assert_int_equal(rd_kafka_mock_broker_set_up(fixture->cluster, 1), 0);
    pthread_join(thread, NULL);
    pthread_cond_destroy(&send.done_cond);
    pthread_mutex_destroy(&send.lock);
    producer_destroy(producer);
    if (!done)
        fail_msg("the send had not failed after %lld ms", (long long)elapsed);
    assert_int_equal(send.rc, -1);
    assert_int_not_equal(send.result.err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_not_equal(send.result.err, RD_KAFKA_RESP_ERR__INCONSISTENT);
}

static void test_refused_at_once_is_reported_at_once(void **state)
{
    struct fixture *fixture = *state;
    /* Larger than librdkafka's message.max.bytes (1 MB by default). */
    size_t len = 2 * 1024 * 1024;
    char *value = calloc(1, len);
    assert_non_null(value);
    struct producer_result result = {RD_KAFKA_RESP_ERR_NO_ERROR, 0, 0};
    int64_t start = clock_monotonic_ms();
    assert_int_equal(
        producer_send(fixture->producer, TOPIC, KEY, strlen(KEY), value, len, NULL, 0, &result),
        -1);
    assert_int_equal(result.err, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    assert_true(clock_monotonic_ms() - start < 500);

    struct async_outcome outcome = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}};
    value = calloc(1, len);
    assert_non_null(value);
    producer_send_async(fixture->producer, TOPIC, KEY, strlen(KEY), value, len, NULL, 0, async_done,
                        &outcome);
    async_wait(&outcome);
    assert_int_equal(outcome.calls, 1);
    assert_int_equal(outcome.result.err, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_is_acknowledged_at_an_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_value_and_headers_arrive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_send_reports_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_without_an_offset_is_not_an_acknowledgement,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_down_fails_within_the_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_at_once_is_reported_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
