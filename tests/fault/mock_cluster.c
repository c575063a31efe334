/*
 * mock_cluster.c - a librdkafka mock cluster (rdkafka_mock.h) in a process
 * of its own, so the real placehub programs can be pointed at it and the
 * cluster made to fail under them while a test counts events.
 *
 * Usage: mock_cluster BROKERS TOPIC:PARTITIONS[:REPLICAS]...
 *
 * The mock brokers listen on loopback TCP ports; the first line printed is
 * "bootstrap <servers>". The mock does not implement the CreateTopics admin
 * request, so the topics are created here before that line is printed.
 * Then one command a line is read from stdin and answered "ok" or
 * "error <why>" (commands below); end of input ends the cluster.
 *
 *   down BROKER | up BROKER            disconnect a broker (-1: all) / let it back
 *   leader TOPIC PARTITION BROKER      move a partition's leader (-1: leader-less)
 *   errors API ERROR...                the next requests of API fail, one error each
 *   broker-errors BROKER API ERROR RTT_MS...  the same on one broker, with delays
 *   clear API                          forget pushed errors of API
 *   rtt BROKER MS                      delay every answer of a broker (-1: all)
 *   coordinator group|transaction KEY BROKER   move a coordinator
 *   topic TOPIC PARTITIONS REPLICAS    create a topic
 *
 * API is a Kafka request name (Produce, Fetch, OffsetCommit, ...) or number;
 * ERROR is a librdkafka error name without its RD_KAFKA_RESP_ERR_ prefix
 * (NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT, _TRANSPORT for a disconnect) or
 * a number.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int16_t key;
} mock_apis[] = {
    {"Produce", 0},         {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},      {"LeaveGroup", 13}, {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},
};

static int mock_api(const char *text, int16_t *key)
{
    char *end;
    long number = strtol(text, &end, 10);
    if (*text && !*end && number >= 0 && number < 100) {
        *key = (int16_t)number;
        return 0;
    }
    for (size_t i = 0; i < sizeof mock_apis / sizeof mock_apis[0]; i++)
        if (strcmp(mock_apis[i].name, text) == 0) {
            *key = mock_apis[i].key;
            return 0;
        }
    return -1;
}

static int mock_error(const char *text, rd_kafka_resp_err_t *err)
{
    char *end;
    long number = strtol(text, &end, 10);
    if (*text && !*end) {
        *err = (rd_kafka_resp_err_t)number;
        return 0;
    }
    const struct rd_kafka_err_desc *descs;
    size_t count;
    rd_kafka_get_err_descs(&descs, &count);
    for (size_t i = 0; i < count; i++)
        if (descs[i].name && strcmp(descs[i].name, text) == 0) {
            *err = descs[i].code;
            return 0;
        }
    return -1;
}

static int mock_int(const char *text, int *value)
{
    char *end;
    long number = text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end)
        return -1;
    *value = (int)number;
    return 0;
}

/* Runs one command of words[0..count); returns NULL or what was wrong. */
static const char *mock_command(rd_kafka_mock_cluster_t *cluster, char **words, int count)
{
    int broker, partition, value;
    int16_t api;
    rd_kafka_resp_err_t err;
    const char *verb = words[0];

    if ((strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0) && count == 2) {
        if (mock_int(words[1], &broker) != 0)
            return "BROKER is not a number";
        err = verb[0] == 'd' ? rd_kafka_mock_broker_set_down(cluster, broker)
                             : rd_kafka_mock_broker_set_up(cluster, broker);
        return err ? rd_kafka_err2str(err) : NULL;
    }
    if (strcmp(verb, "leader") == 0 && count == 4) {
        if (mock_int(words[2], &partition) != 0 || mock_int(words[3], &broker) != 0)
            return "PARTITION and BROKER must be numbers";
        err = rd_kafka_mock_partition_set_leader(cluster, words[1], partition, broker);
        return err ? rd_kafka_err2str(err) : NULL;
    }
    if (strcmp(verb, "errors") == 0 && count >= 3) {
        rd_kafka_resp_err_t errors[64];
        if (mock_api(words[1], &api) != 0)
            return "unknown API";
        if (count - 2 > 64)
            return "at most 64 errors at once";
        for (int i = 2; i < count; i++)
            if (mock_error(words[i], &errors[i - 2]) != 0)
                return "unknown ERROR";
        rd_kafka_mock_push_request_errors_array(cluster, api, (size_t)(count - 2), errors);
        return NULL;
    }
    if (strcmp(verb, "broker-errors") == 0 && count >= 5 && (count - 3) % 2 == 0) {
        if (mock_int(words[1], &broker) != 0 || mock_api(words[2], &api) != 0)
            return "BROKER must be a number and API known";
        for (int i = 3; i < count; i += 2) {
            if (mock_error(words[i], &err) != 0 || mock_int(words[i + 1], &value) != 0)
                return "unknown ERROR or RTT_MS not a number";
            rd_kafka_resp_err_t pushed =
                rd_kafka_mock_broker_push_request_error_rtts(cluster, broker, api, 1, err, value);
            if (pushed)
                return rd_kafka_err2str(pushed);
        }
        return NULL;
    }
    if (strcmp(verb, "clear") == 0 && count == 2) {
        if (mock_api(words[1], &api) != 0)
            return "unknown API";
        rd_kafka_mock_clear_request_errors(cluster, api);
        return NULL;
    }
    if (strcmp(verb, "rtt") == 0 && count == 3) {
        if (mock_int(words[1], &broker) != 0 || mock_int(words[2], &value) != 0)
            return "BROKER and MS must be numbers";
        err = rd_kafka_mock_broker_set_rtt(cluster, broker, value);
        return err ? rd_kafka_err2str(err) : NULL;
    }
    if (strcmp(verb, "coordinator") == 0 && count == 4) {
        if (mock_int(words[3], &broker) != 0)
            return "BROKER is not a number";
        err = rd_kafka_mock_coordinator_set(cluster, words[1], words[2], broker);
        return err ? rd_kafka_err2str(err) : NULL;
    }
    if (strcmp(verb, "topic") == 0 && count == 4) {
        if (mock_int(words[2], &partition) != 0 || mock_int(words[3], &value) != 0)
            return "PARTITIONS and REPLICAS must be numbers";
        err = rd_kafka_mock_topic_create(cluster, words[1], partition, value);
        return err ? rd_kafka_err2str(err) : NULL;
    }
    return "unknown command or wrong number of words";
}

int main(int argc, char **argv)
{
    char errstr[512];
    int brokers;
    if (argc < 3 || mock_int(argv[1], &brokers) != 0 || brokers < 1) {
        fprintf(stderr, "usage: %s BROKERS TOPIC:PARTITIONS[:REPLICAS]...\n", argv[0]);
        return 2;
    }
    /* The cluster needs a client instance for its bookkeeping only. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* It has no bootstrap servers of its own: no warning about that. */
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr);
    rd_kafka_t *kafka = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!kafka) {
        fprintf(stderr, "mock_cluster: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(kafka, brokers);
    if (!cluster) {
        fprintf(stderr, "mock_cluster: cannot create the cluster\n");
        rd_kafka_destroy(kafka);
        return 1;
    }
    /* librdkafka 2.12.1's mock answers a Produce v10+ for a partition it
     * does not lead with the current leader's id (KIP-951), read through a
     * NULL pointer when the partition has none ("leader T P -1"): the mock
     * crashed. Produce v9 has no such field; clients negotiate down to it. */
    int16_t produce = 0;
    if (mock_api("Produce", &produce) != 0 ||
        rd_kafka_mock_set_apiversion(cluster, produce, 0, 9) != 0) {
        fprintf(stderr, "mock_cluster: cannot limit the Produce API version\n");
        rd_kafka_mock_cluster_destroy(cluster);
        rd_kafka_destroy(kafka);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        char name[256];
        int partitions = 0, replicas = brokers < 3 ? brokers : 3;
        const char *colon = strchr(argv[i], ':');
        size_t name_len = colon ? (size_t)(colon - argv[i]) : 0;
        if (!colon || name_len == 0 || name_len >= sizeof name ||
            sscanf(colon + 1, "%d:%d", &partitions, &replicas) < 1 || partitions < 1 ||
            replicas < 1 || replicas > brokers) {
            fprintf(stderr, "mock_cluster: %s: expected TOPIC:PARTITIONS[:REPLICAS]\n", argv[i]);
            return 2;
        }
        memcpy(name, argv[i], name_len);
        name[name_len] = '\0';
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, name, partitions, replicas);
        if (err) {
            fprintf(stderr, "mock_cluster: topic %s: %s\n", name, rd_kafka_err2str(err));
            return 1;
        }
    }
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);

    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        char *words[72];
        int count = 0;
        for (char *word = strtok(line, " \t\r\n"); word && count < 72;
             word = strtok(NULL, " \t\r\n"))
            words[count++] = word;
        if (count == 0)
            continue;
        const char *problem = mock_command(cluster, words, count);
        if (problem)
            printf("error %s\n", problem);
        else
            printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(kafka);
    return 0;
}
