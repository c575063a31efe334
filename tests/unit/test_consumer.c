/*
 * test_consumer.c - the self-storing consumer (lib/kafka/consumer.c) on
 * librdkafka's built-in mock cluster: messages produced are consumed; a
 * paused consumer gets none until resumed, also for partitions assigned
 * while it was paused; a stored offset is what the group commits, and a
 * partition not assigned refuses one; the partitions-as-text helper and
 * its cutting with "...". Conditions are waited for with deadlines; only
 * "nothing arrives while paused" needs a fixed look (300 ms).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "kafka/consumer.h"

#define TOPIC "admission"

/* The mock cluster (its bookkeeping handle) and a producer into it. */
struct cluster {
    rd_kafka_t *holder;
    rd_kafka_mock_cluster_t *mock;
    rd_kafka_t *producer;
    char bootstraps[256];
};

static struct cluster cluster;

static int cluster_setup(void **state)
{
    (void)state;
    char errstr[512];
    log_init("test_consumer", LOG_WARNING);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    cluster.holder = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!cluster.holder)
        return -1;
    cluster.mock = rd_kafka_mock_cluster_new(cluster.holder, 1);
    if (!cluster.mock)
        return -1;
    /* The broker's default waits 3 s for more members before a group's
     * first assignment. */
    rd_kafka_mock_group_initial_rebalance_delay_ms(cluster.mock, 0);
    if (rd_kafka_mock_topic_create(cluster.mock, TOPIC, 2, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    snprintf(cluster.bootstraps, sizeof cluster.bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(cluster.mock));
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cluster.bootstraps, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
        return -1;
    cluster.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    return cluster.producer ? 0 : -1;
}

static int cluster_teardown(void **state)
{
    (void)state;
    rd_kafka_destroy(cluster.producer);
    rd_kafka_mock_cluster_destroy(cluster.mock);
    rd_kafka_destroy(cluster.holder);
    return 0;
}

/* Produces count messages "value-N" to partition, waiting for them. */
static void produce(int32_t partition, int count)
{
    for (int i = 0; i < count; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "value-%d", i);
        rd_kafka_resp_err_t err =
            rd_kafka_producev(cluster.producer, RD_KAFKA_V_TOPIC(TOPIC),
                              RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_VALUE(value, (size_t)len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(cluster.producer, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static struct consumer *consumer_for(const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", cluster.bootstraps, errstr, sizeof errstr),
        RD_KAFKA_CONF_OK);
    if (consumer_conf_set(conf, group, errstr, sizeof errstr) != 0)
        fail_msg("consumer_conf_set: %s", errstr);
    /* Short enough for a test: the mock group's join and session. */
    assert_int_equal(rd_kafka_conf_set(conf, "session.timeout.ms", "6000", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    static const char *const topics[] = {TOPIC};
    struct consumer *consumer = NULL;
    if (consumer_new(conf, topics, 1, -1, &consumer, errstr, sizeof errstr) != 0)
        fail_msg("consumer_new: %s", errstr);
    return consumer;
}

/* Polls until count messages came or timeout_ms passed; returns how many
 * came (errors and events are skipped). The last one's coordinates in
 * *last when not NULL. */
static int consume(struct consumer *consumer, int count, int64_t timeout_ms, int64_t *last_offset)
{
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    int got = 0;
    while (got < count && clock_monotonic_ms() < deadline) {
        rd_kafka_message_t *message = consumer_poll(consumer, 50);
        if (!message)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            got++;
            if (last_offset)
                *last_offset = message->offset;
        }
        rd_kafka_message_destroy(message);
    }
    return got;
}

/* Polls until the consumer has an assignment (served by the polls). */
static void await_assignment(struct consumer *consumer)
{
    int64_t deadline = clock_monotonic_ms() + 10000;
    for (;;) {
        rd_kafka_topic_partition_list_t *assignment = NULL;
        assert_int_equal(rd_kafka_assignment(consumer_handle(consumer), &assignment),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        int count = assignment->cnt;
        rd_kafka_topic_partition_list_destroy(assignment);
        if (count > 0)
            return;
        if (clock_monotonic_ms() > deadline)
            fail_msg("no assignment within 10 s");
        rd_kafka_message_t *message = consumer_poll(consumer, 50);
        if (message) {
            assert_int_not_equal(message->err, RD_KAFKA_RESP_ERR_NO_ERROR); /* paused */
            rd_kafka_message_destroy(message);
        }
    }
}

static void finish(struct consumer *consumer)
{
    consumer_close(consumer);
    consumer_destroy(consumer);
}

static void test_pause_and_resume(void **state)
{
    (void)state;
    produce(0, 3);
    struct consumer *consumer = consumer_for("test.pause");
    assert_false(consumer_paused(consumer));
    assert_int_equal(consume(consumer, 3, 10000, NULL), 3);
    consumer_pause(consumer, 1);
    assert_true(consumer_paused(consumer));
    produce(0, 2);
    assert_int_equal(consume(consumer, 1, 300, NULL), 0);
    consumer_pause(consumer, 0);
    assert_false(consumer_paused(consumer));
    assert_int_equal(consume(consumer, 2, 10000, NULL), 2);
    finish(consumer);
}

/* Paused before its first assignment: the partitions assigned are paused
 * as they come; resuming lets their messages through. */
static void test_paused_before_assignment(void **state)
{
    (void)state;
    produce(1, 4);
    struct consumer *consumer = consumer_for("test.paused-first");
    consumer_pause(consumer, 1);
    assert_true(consumer_paused(consumer));
    await_assignment(consumer);
    assert_int_equal(consume(consumer, 1, 300, NULL), 0);
    consumer_pause(consumer, 0);
    /* Whatever the earlier tests produced to partition 0 comes too. */
    int64_t deadline = clock_monotonic_ms() + 10000;
    int got = 0;
    while (got < 4 && clock_monotonic_ms() < deadline) {
        rd_kafka_message_t *message = consumer_poll(consumer, 50);
        if (message && message->err == RD_KAFKA_RESP_ERR_NO_ERROR && message->partition == 1)
            got++;
        if (message)
            rd_kafka_message_destroy(message);
    }
    assert_int_equal(got, 4);
    finish(consumer);
}

static void test_stored_offset_is_committed(void **state)
{
    (void)state;
    char errstr[256] = "";
    produce(0, 3);
    struct consumer *consumer = consumer_for("test.store");
    int64_t last = -1;
    /* Partition 0 holds what every test produced to it: at least 3. */
    assert_true(consume(consumer, 3, 10000, &last) == 3);
    /* Consumed but not stored: nothing is committed (manual store). */
    assert_int_not_equal(rd_kafka_commit(consumer_handle(consumer), NULL, 0),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    if (consumer_store(consumer, TOPIC, 0, 2, errstr, sizeof errstr) != 0)
        fail_msg("consumer_store: %s", errstr);
    assert_int_equal(rd_kafka_commit(consumer_handle(consumer), NULL, 0),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(committed, TOPIC, 0);
    assert_int_equal(rd_kafka_committed(consumer_handle(consumer), committed, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(committed->elems[0].offset, 2);
    rd_kafka_topic_partition_list_destroy(committed);
    /* A partition this consumer does not hold refuses an offset. */
    assert_int_equal(consumer_store(consumer, "discharge", 0, 5, errstr, sizeof errstr), -1);
    assert_true(errstr[0] != '\0');
    finish(consumer);
}

static void test_partitions_text(void **state)
{
    (void)state;
    char text[64];
    consumer_partitions_text(NULL, text, sizeof text);
    assert_string_equal(text, "none");
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
    consumer_partitions_text(list, text, sizeof text);
    assert_string_equal(text, "none");
    rd_kafka_topic_partition_list_add(list, "admission", 0);
    rd_kafka_topic_partition_list_add(list, "admission", 2);
    rd_kafka_topic_partition_list_add(list, "discharge", 1);
    consumer_partitions_text(list, text, sizeof text);
    assert_string_equal(text, "admission[0,2] discharge[1]");
    /* Too long for the buffer: cut, ending in "...", NUL-terminated. */
    char small[16];
    consumer_partitions_text(list, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_string_equal(small + strlen(small) - 3, "...");
    assert_memory_equal(small, "admission[0,", 12);
    /* Exactly the size it needs fits without cutting. */
    char exact[sizeof "admission[0,2] discharge[1]"];
    consumer_partitions_text(list, exact, sizeof exact);
    assert_string_equal(exact, "admission[0,2] discharge[1]");
    rd_kafka_topic_partition_list_destroy(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partitions_text),
        cmocka_unit_test(test_pause_and_resume),
        cmocka_unit_test(test_paused_before_assignment),
        cmocka_unit_test(test_stored_offset_is_committed),
    };
    return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
