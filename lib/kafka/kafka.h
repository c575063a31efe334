/*
 * kafka.h - librdkafka set-up shared by the services: configuration from
 * the config file, librdkafka's own logs routed through log.h, and topic
 * creation (the broker's auto-creation is off: topics, their partitions and
 * retention are declared in the config).
 */
#ifndef PLACEHUB_KAFKA_H
#define PLACEHUB_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include "core/config.h"

/* A new librdkafka configuration with bootstrap.servers, the config's extra
 * properties, the broker security settings (passwords read from their
 * environment variable or file now), and placehub's log and error
 * callbacks. Caller owns it (passes it to
 * rd_kafka_new, which takes it over). NULL with errstr naming the property
 * at fault. */
rd_kafka_conf_t *kafka_conf_new(const struct config *config, char *errstr, size_t errstr_size);

/* 1 with librdkafka's reason in reason when a broker refused this process's
 * credentials (SASL) since it started, else 0. */
int kafka_authentication_error(char *reason, size_t reason_size);

/* Sets one property; returns 0 or -1 with errstr. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size);

/* Creates the given topics where they do not exist yet (existing ones are
 * left as they are), then waits until every partition of them has a leader
 * ready for writes. Returns 0 or -1 with errstr. */
int kafka_topics_create(rd_kafka_t *kafka, const struct config_topic *topics, size_t count,
                        int timeout_ms, char *errstr, size_t errstr_size);

/* Creates every topic the config declares that does not exist yet, with its
 * partition count, replication factor and retention, and the objection
 * register's topic (governance.objections_topic: 3 partitions, the first
 * declared topic's replication factor, cleanup.policy=compact, retention.ms
 * -1). Existing topics are left as they are. Returns 0 or -1 with errstr. */
int kafka_topics_ensure(rd_kafka_t *kafka, const struct config *config, int timeout_ms,
                        char *errstr, size_t errstr_size);

#endif
