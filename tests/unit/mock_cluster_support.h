/*
 * mock_cluster_support.h - librdkafka's mock cluster in the test's own
 * process, for the unit tests of code that reads a topic (the objection
 * feed, the disclosure ledger's feed): one broker, one topic of three
 * partitions, a configuration whose kafka: section points at it, and a
 * producer that marks each delivery in the int its message's opaque points
 * to (1 delivered, -1 failed). Include after <cmocka.h> and support.h.
 */
#ifndef PLACEHUB_TEST_MOCK_CLUSTER_SUPPORT_H
#define PLACEHUB_TEST_MOCK_CLUSTER_SUPPORT_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"

struct mock_cluster {
    rd_kafka_t *handle; /* the mock's own bookkeeping client */
    rd_kafka_mock_cluster_t *mock;
    rd_kafka_t *producer;
    struct config *config;
};

static void mock_cluster_delivered(rd_kafka_t *kafka, const rd_kafka_message_t *message,
                                   void *opaque)
{
    (void)kafka;
    (void)opaque;
    int *state = message->_private;
    *state = message->err ? -1 : 1;
}

/* Starts the cluster with topic, and loads a configuration of it followed
 * by config_tail (YAML: the section that names the topic). Returns 0, or -1
 * after printing why. */
static inline int mock_cluster_start(struct mock_cluster *cluster, const char *topic,
                                     const char *config_tail)
{
    char errstr[512], text[1024];
    memset(cluster, 0, sizeof *cluster);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    cluster->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cluster->mock = cluster->handle ? rd_kafka_mock_cluster_new(cluster->handle, 1) : NULL;
    /* The mock does not implement CreateTopics: the topic is made here. */
    if (!cluster->mock || rd_kafka_mock_topic_create(cluster->mock, topic, 3, 1) != 0)
        return -1;
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(cluster->mock);
    int len = snprintf(text, sizeof text,
                       "kafka:\n  bootstrap_servers: \"%s\"\n  properties:\n"
                       "    log_level: \"3\"\n"
                       "topics:\n  - name: admission\n%s",
                       bootstrap, config_tail);
    if (config_load_string("test.yaml", text, (size_t)len, &cluster->config, errstr,
                           sizeof errstr) != 0) {
        print_error("%s\n", errstr);
        return -1;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "linger.ms", "0", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_conf_set_dr_msg_cb(conf, mock_cluster_delivered);
    cluster->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    return cluster->producer ? 0 : -1;
}

/* Produces value (NULL: a tombstone) under key to partition of topic
 * (RD_KAFKA_PARTITION_UA: the key decides) and waits for the broker's
 * acknowledgement, failing the test without one. Returns the wall-clock
 * time just after it: the broker acknowledged the record before then. */
static inline int64_t mock_cluster_produce(struct mock_cluster *cluster, const char *topic,
                                           int32_t partition, const char *key, const char *value)
{
    int done = 0;
    /* RD_KAFKA_V_VALUE takes a non-const pointer; with F_COPY it only reads. */
    void *bytes = (void *)(uintptr_t)value;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        cluster->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(bytes, value ? strlen(value) : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&done), RD_KAFKA_V_END);
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    const int64_t deadline = clock_monotonic_ms() + 5000;
    while (!done && clock_monotonic_ms() < deadline)
        rd_kafka_poll(cluster->producer, 10);
    assert_int_equal(done, 1);
    return clock_wall_ms();
}

static inline void mock_cluster_stop(struct mock_cluster *cluster)
{
    if (cluster->producer)
        rd_kafka_destroy(cluster->producer);
    config_destroy(cluster->config);
    if (cluster->mock)
        rd_kafka_mock_cluster_destroy(cluster->mock);
    if (cluster->handle)
        rd_kafka_destroy(cluster->handle);
}

#endif
