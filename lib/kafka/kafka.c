/*
 * kafka.c - librdkafka configuration and topic creation (see kafka.h).
 *
 * Broker security (docs/security.md): kafka.security_protocol and the
 * sasl_* / ssl_* keys become librdkafka properties here. Passwords are read
 * from their environment variable or file only now, put into the
 * configuration object and wiped from our buffers; they are never logged.
 *
 * A wrong password never gets an answer from the broker, only a closed
 * connection, so waits would run to their timeout and then say "no answer".
 * The error callback therefore remembers an authentication failure and
 * kafka_topics_create, the first request every service makes, stops at once
 * with what the broker said.
 */
#include "kafka/kafka.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"

static atomic_int kafka_authentication_failed;
static pthread_mutex_t kafka_authentication_lock = PTHREAD_MUTEX_INITIALIZER;
static char kafka_authentication_reason[512];

static void kafka_log(const rd_kafka_t *kafka, int level, const char *facility, const char *buf)
{
    (void)kafka;
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    enum log_level ours = level <= 3   ? LOG_ERROR
                          : level == 4 ? LOG_WARNING
                          : level <= 6 ? LOG_INFO
                                       : LOG_DEBUG;
    log_write(ours, "librdkafka %s: %s", facility, buf);
}

/* librdkafka's errors (served by the poll of each client): logged as before
 * the callback existed, and an authentication failure remembered. */
static void kafka_error(rd_kafka_t *kafka, int err, const char *reason, void *opaque)
{
    (void)kafka;
    (void)opaque;
    log_error("librdkafka error %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        pthread_mutex_lock(&kafka_authentication_lock);
        snprintf(kafka_authentication_reason, sizeof kafka_authentication_reason, "%s", reason);
        pthread_mutex_unlock(&kafka_authentication_lock);
        atomic_store(&kafka_authentication_failed, 1);
    }
}

int kafka_authentication_error(char *reason, size_t reason_size)
{
    if (!atomic_load(&kafka_authentication_failed))
        return 0;
    pthread_mutex_lock(&kafka_authentication_lock);
    snprintf(reason, reason_size, "%s", kafka_authentication_reason);
    pthread_mutex_unlock(&kafka_authentication_lock);
    return 1;
}

/* Sets name from the secret in the environment variable env or the file
 * file (one of them is set). Returns 0 or -1 with errstr naming where the
 * secret was looked for, never the secret. */
static int kafka_conf_set_secret(rd_kafka_conf_t *conf, const struct config *config,
                                 const char *name, const char *key, const char *env,
                                 const char *file, char *errstr, size_t errstr_size)
{
    char reference[4200];
    char secret[8192];
    char message[512];
    int rc = -1;
    snprintf(reference, sizeof reference, "%s%s", env ? "env:" : "file:", env ? env : file);
    if (secret_read(reference, secret, sizeof secret, message, sizeof message) != 0) {
        snprintf(errstr, errstr_size, "%s: kafka.%s: %s", config->path, key, message);
        goto out;
    }
    if (rd_kafka_conf_set(conf, name, secret, message, sizeof message) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "%s: kafka.%s: librdkafka refused %s", config->path, key,
                 name);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

static int kafka_conf_security(rd_kafka_conf_t *conf, const struct config *config, char *errstr,
                               size_t errstr_size)
{
    const struct {
        const char *property;
        const char *value;
    } plain[] = {
        {"security.protocol", config->kafka.security_protocol},
        {"sasl.mechanism", config->kafka.sasl_mechanism},
        {"sasl.username", config->kafka.sasl_username},
        {"ssl.ca.location", config->kafka.ssl_ca_location},
        {"ssl.certificate.location", config->kafka.ssl_certificate_location},
        {"ssl.key.location", config->kafka.ssl_key_location},
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        char message[512];
        if (plain[i].value &&
            kafka_conf_set(conf, plain[i].property, plain[i].value, message, sizeof message) != 0) {
            snprintf(errstr, errstr_size, "%s:%d: %s", config->path, config->kafka.line, message);
            return -1;
        }
    }
    if ((config->kafka.sasl_password_env || config->kafka.sasl_password_file) &&
        kafka_conf_set_secret(conf, config, "sasl.password",
                              config->kafka.sasl_password_env ? "sasl_password_env"
                                                              : "sasl_password_file",
                              config->kafka.sasl_password_env, config->kafka.sasl_password_file,
                              errstr, errstr_size) != 0)
        return -1;
    if ((config->kafka.ssl_key_password_env || config->kafka.ssl_key_password_file) &&
        kafka_conf_set_secret(conf, config, "ssl.key.password",
                              config->kafka.ssl_key_password_env ? "ssl_key_password_env"
                                                                 : "ssl_key_password_file",
                              config->kafka.ssl_key_password_env,
                              config->kafka.ssl_key_password_file, errstr, errstr_size) != 0)
        return -1;
    return 0;
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size)
{
    char message[512];
    if (rd_kafka_conf_set(conf, name, value, message, sizeof message) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property %s: %s", name, message);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const struct config *config, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_set(conf, "bootstrap.servers", config->kafka.bootstrap_servers, errstr,
                       errstr_size) != 0)
        goto fail;
    for (size_t i = 0; i < config->kafka.property_count; i++) {
        const struct config_option *option = &config->kafka.properties[i];
        char message[512];
        if (kafka_conf_set(conf, option->key, option->value, message, sizeof message) != 0) {
            snprintf(errstr, errstr_size, "%s:%d: %s", config->path, option->line, message);
            goto fail;
        }
    }
    if (kafka_conf_security(conf, config, errstr, errstr_size) != 0)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_error_cb(conf, kafka_error);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* cleanup_policy: NULL leaves the broker's default (delete, after
 * retention.ms); "compact" keeps the last record of each key. */
static int kafka_topics_request(rd_kafka_t *kafka, const struct config_topic *declared,
                                size_t count, const char *cleanup_policy, int timeout_ms,
                                char *errstr, size_t errstr_size)
{
    rd_kafka_NewTopic_t **topics = calloc(count ? count : 1, sizeof *topics);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(kafka);
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(kafka, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *event = NULL;
    char message[512];
    int rc = -1;
    size_t made = 0;

    if (!topics) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, message, sizeof message);
    rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, message, sizeof message);
    for (; made < count; made++) {
        const struct config_topic *topic = &declared[made];
        char retention[32];
        topics[made] = rd_kafka_NewTopic_new(topic->name, topic->partitions,
                                             topic->replication_factor, message, sizeof message);
        if (!topics[made]) {
            snprintf(errstr, errstr_size, "topic %s: %s", topic->name, message);
            goto out;
        }
        snprintf(retention, sizeof retention, "%lld", topic->retention_ms);
        rd_kafka_NewTopic_set_config(topics[made], "retention.ms", retention);
        if (cleanup_policy)
            rd_kafka_NewTopic_set_config(topics[made], "cleanup.policy", cleanup_policy);
    }
    rd_kafka_CreateTopics(kafka, topics, count, options, queue);
    /* In slices, so that a refused login ends the wait at once. */
    for (int waited = 0; !event && waited < timeout_ms + 2000; waited += 100) {
        event = rd_kafka_queue_poll(queue, 100);
        char reason[512];
        if (!event && kafka_authentication_error(reason, sizeof reason)) {
            snprintf(errstr, errstr_size,
                     "the broker refused placehub's credentials: %s (check kafka.sasl_username "
                     "and the password in kafka.sasl_password_env / sasl_password_file)",
                     reason);
            goto out;
        }
    }
    if (!event) {
        snprintf(errstr, errstr_size,
                 "no answer from Kafka within %d ms while creating topics (is the broker "
                 "running? `scripts/kafka.sh start`)",
                 timeout_ms);
        goto out;
    }
    if (rd_kafka_event_error(event)) {
        snprintf(errstr, errstr_size, "creating topics: %s", rd_kafka_event_error_string(event));
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *result = rd_kafka_event_CreateTopics_result(event);
    size_t result_count = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(result, &result_count);
    for (size_t i = 0; i < result_count; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
        const char *name = rd_kafka_topic_result_name(results[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_info("topic created topic=%s", name);
        } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(errstr, errstr_size, "cannot create topic %s: %s", name,
                     rd_kafka_topic_result_error_string(results[i]));
            goto out;
        }
    }
    rc = 0;
out:
    if (event)
        rd_kafka_event_destroy(event);
    for (size_t i = 0; i < made; i++)
        rd_kafka_NewTopic_destroy(topics[i]);
    free(topics);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
    return rc;
}

/* Copies into missing[] the declared topics the cluster's metadata does not
 * list. When the metadata cannot be had, every topic counts as missing and
 * the CreateTopics request reports what is wrong. */
static size_t kafka_topics_missing(rd_kafka_t *kafka, const struct config_topic *declared,
                                   size_t count, int timeout_ms, struct config_topic *missing)
{
    const struct rd_kafka_metadata *metadata = NULL;
    size_t found = 0;
    int wait_ms = timeout_ms < 5000 ? timeout_ms : 5000;
    if (rd_kafka_metadata(kafka, 1, NULL, &metadata, wait_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        memcpy(missing, declared, count * sizeof *declared);
        return count;
    }
    for (size_t i = 0; i < count; i++) {
        int exists = 0;
        for (int t = 0; t < metadata->topic_cnt && !exists; t++)
            exists = metadata->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     strcmp(metadata->topics[t].topic, declared[i].name) == 0;
        if (!exists)
            missing[found++] = declared[i];
    }
    rd_kafka_metadata_destroy(metadata);
    return found;
}

/* The partition count of topic in the cluster's metadata; 0 while the
 * metadata does not list it yet, -1 when no metadata could be had. */
static int kafka_partition_count(rd_kafka_t *kafka, const char *name, int timeout_ms)
{
    rd_kafka_topic_t *topic = rd_kafka_topic_new(kafka, name, NULL);
    const struct rd_kafka_metadata *metadata = NULL;
    int count = -1;
    if (topic &&
        rd_kafka_metadata(kafka, 0, topic, &metadata, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count = metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
                    ? metadata->topics[0].partition_cnt
                    : 0;
        rd_kafka_metadata_destroy(metadata);
    }
    if (topic)
        rd_kafka_topic_destroy(topic);
    return count;
}

/* IMPORTANT: a partition just created is in the metadata before its leader
 * takes writes ("not leader" for a moment). Events produced then, with
 * several requests in flight, were lost by librdkafka 2.12.1 (see
 * producer.c), so no service takes events until every partition of its
 * topics answers a ListOffsets request, which needs the same ready leader. */
static int kafka_topics_wait_ready(rd_kafka_t *kafka, const struct config_topic *declared,
                                   size_t count, int timeout_ms, char *errstr, size_t errstr_size)
{
    const int64_t deadline = clock_monotonic_ms() + timeout_ms;
    for (size_t i = 0; i < count; i++) {
        const char *name = declared[i].name;
        int partitions;
        while ((partitions = kafka_partition_count(kafka, name, 1000)) <= 0) {
            if (clock_monotonic_ms() >= deadline) {
                snprintf(errstr, errstr_size,
                         "topic %s is not in the cluster's metadata %d ms after it was created "
                         "(is the broker overloaded? see `scripts/kafka.sh status`)",
                         name, timeout_ms);
                return -1;
            }
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
        }
        for (int p = 0; p < partitions; p++) {
            int64_t low, high;
            rd_kafka_resp_err_t err;
            while ((err = rd_kafka_query_watermark_offsets(kafka, name, p, &low, &high, 1000)) !=
                   RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (clock_monotonic_ms() >= deadline) {
                    snprintf(errstr, errstr_size,
                             "partition %d of topic %s has no leader ready for writes after "
                             "%d ms: %s (is every broker up? see `scripts/kafka.sh status`)",
                             p, name, timeout_ms, rd_kafka_err2str(err));
                    return -1;
                }
                nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
            }
        }
    }
    return 0;
}

/* Only the topics that do not exist yet are asked for: an operator may have
 * created them beforehand and given the hub no right to create topics, and
 * librdkafka's mock cluster (tests/fault) does not implement CreateTopics.
 * Returns once every partition of them takes writes. */
static int kafka_topics_create_with(rd_kafka_t *kafka, const struct config_topic *declared,
                                    size_t count, const char *cleanup_policy, int timeout_ms,
                                    char *errstr, size_t errstr_size)
{
    struct config_topic *missing = calloc(count ? count : 1, sizeof *missing);
    if (!missing) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    size_t missing_count = kafka_topics_missing(kafka, declared, count, timeout_ms, missing);
    int rc = missing_count == 0
                 ? 0
                 : kafka_topics_request(kafka, missing, missing_count, cleanup_policy, timeout_ms,
                                        errstr, errstr_size);
    free(missing);
    if (rc == 0)
        rc = kafka_topics_wait_ready(kafka, declared, count, timeout_ms, errstr, errstr_size);
    return rc;
}

int kafka_topics_create(rd_kafka_t *kafka, const struct config_topic *declared, size_t count,
                        int timeout_ms, char *errstr, size_t errstr_size)
{
    return kafka_topics_create_with(kafka, declared, count, NULL, timeout_ms, errstr, errstr_size);
}

/* IMPORTANT: the objection register must hold the last record of every
 * person and scope for as long as the hub runs, so its topic is compacted
 * and never deleted by age (retention.ms -1): a time-based policy would
 * silently forget objections. A topic that exists already is left as it is
 * (an operator who created it by hand must make it compacted). */
int kafka_topics_ensure(rd_kafka_t *kafka, const struct config *config, int timeout_ms,
                        char *errstr, size_t errstr_size)
{
    if (kafka_topics_create(kafka, config->topics, config->topic_count, timeout_ms, errstr,
                            errstr_size) != 0)
        return -1;
    int replication = config->topic_count ? config->topics[0].replication_factor : 1;
    struct config_topic objections = {config->governance.objections_topic, 3, replication, -1};
    return kafka_topics_create_with(kafka, &objections, 1, "compact", timeout_ms, errstr,
                                    errstr_size);
}
