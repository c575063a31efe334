/*
 * metrics.h - the process's Prometheus metrics: counters, gauges and one
 * latency histogram, kept in a process-wide table and rendered in the
 * Prometheus text format for /metrics (lib/net/operations.c serves it).
 *
 * Thread safe: any thread may count. Series are created on first use and
 * live for the life of the process. Label values are escaped here; callers
 * pass raw values (partner ids, topics), never personal data.
 */
#ifndef PLACEHUB_METRICS_H
#define PLACEHUB_METRICS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* The circuit states as exported (placehub_dispatch_circuit_state). */
enum { METRICS_CIRCUIT_CLOSED = 0, METRICS_CIRCUIT_OPEN = 1, METRICS_CIRCUIT_HALF_OPEN = 2 };

/* ---- what the services count (one call per hook) ------------------------ */

/* dispatch: partner's engine started on topic: its counters exist from
 * now, at zero (so a rate or increase sees the first event). */
void metrics_dispatch_start(const char *partner, const char *topic);
/* dispatch: an event taken from topic for partner. */
void metrics_dispatch_in(const char *partner, const char *topic);
/* dispatch: the final outcome of a delivery, delivered (1) or dead-lettered
 * (0), with the latency from the event's Kafka timestamp to now (ms). A
 * suppression is not a delivery: metrics_dispatch_suppressed. */
void metrics_dispatch_out(const char *partner, const char *topic, int delivered,
                          int64_t latency_ms);
/* dispatch: an event of topic was withheld from partner (final) for
 * reason, the suppression reason as recorded ("objection:<scope>" counts as
 * objection; an unknown reason as other). Counted as events_out outcome
 * suppressed and as placehub_dispatch_suppressed_total{reason}. */
void metrics_dispatch_suppressed(const char *partner, const char *topic, const char *reason);
/* dispatch: an attempt failed and will be retried. */
void metrics_dispatch_retry(const char *partner, const char *topic);
/* dispatch: the partner's circuit changed (METRICS_CIRCUIT_*). */
void metrics_dispatch_circuit(const char *partner, int state);
/* dispatch: an operator paused (1) or resumed (0) the partner. */
void metrics_dispatch_paused(const char *partner, int paused);
/* ingest: a request for topic ended with outcome ("accepted", "rejected",
 * "unavailable"). */
void metrics_ingest(const char *topic, const char *outcome);
/* ingest: count events of topic were acknowledged by the broker. */
void metrics_ingest_events(const char *topic, long count);
/* mllp: its counters exist from now, at zero. */
void metrics_mllp_start(void);
/* mllp: a message ended with outcome ("accepted", "rejected", "error"). */
void metrics_mllp(const char *outcome);

/* Asks librdkafka for statistics every interval_ms and exports them
 * (placehub_kafka_*, and per-topic consumer lag as
 * placehub_dispatch_consumer_lag when partner is not NULL). client and
 * partner must outlive the handle (config strings do). Call before rd_kafka_new;
 * sets the configuration's opaque. Returns 0 or -1 with errstr. */
int metrics_kafka_stats(rd_kafka_conf_t *conf, const char *client, const char *partner,
                        int interval_ms, char *errstr, size_t errstr_size);

struct config;
struct producer;
/* producer_new (kafka/producer.h) with librdkafka statistics exported under
 * client client_id (placehub_kafka_*, placehub_kafka_brokers_up among
 * them). Same contract as producer_new. */
int metrics_producer_new(const struct config *config, const char *client_id, int timeout_ms,
                         int linger_ms, struct producer **producer, char *errstr,
                         size_t errstr_size);

/* ---- the table ---------------------------------------------------------- */

/* labels: a preformatted, escaped label set such as partner="x",topic="y"
 * (use metrics_label to escape), or "". */
void metrics_counter_add(const char *name, const char *labels, double value);
void metrics_gauge_set(const char *name, const char *labels, double value);
/* Adds an observation (seconds) to a histogram. */
void metrics_observe(const char *name, const char *labels, double value);

/* Writes name="value" with value escaped into out. */
void metrics_label(char *out, size_t out_size, const char *name, const char *value);

/* The whole table in the Prometheus text format (caller frees), or NULL. */
char *metrics_render(size_t *len);

/* Forgets every series (tests). */
void metrics_reset(void);

#endif
