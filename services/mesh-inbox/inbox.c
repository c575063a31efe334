/*
 * inbox.c - placehub-mesh-inbox's loop (see inbox.h): list the inbox,
 * download each message (every chunk), judge it as placehub-ingest judges a
 * POST, put it into Kafka, and only then acknowledge it to MESH.
 *
 * Who may send: the message's mex-From names the sending mailbox; the
 * partner whose ingest.mesh_mailbox it is is the sender, with that partner's
 * ingest rights (publishes, source_ods_codes). mex-Subject names the event
 * type (the `mesh` connector's default subject, so two placehubs speak to
 * each other as they are).
 *
 * A message that can never become an event (unknown sender, a type the
 * partner may not send, bad JSON, a schema violation) is refused: its bytes
 * go to mesh_inbox.dead_letter_topic with the reason in placehub.* headers,
 * an audit record ("mesh_refused") says why, and then it is acknowledged. A
 * passing failure (MESH or the broker not answering, the schema registry
 * down) leaves the message in the inbox for the next round.
 *
 * Log lines name the MESH message id, the sending mailbox and the partner,
 * never the message's content.
 */
#include "inbox.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client.h"
#include "core/certificate.h"
#include "core/clock.h"
#include "core/log.h"
#include "governance/publisher.h"
#include "governance/submission.h"
#include "inbox_internal.h"
#include "kafka/kafka.h"
#include "kafka/producer.h"
#include "schema/catalogue.h"

#define INBOX_HANDSHAKE_EVERY_MS (24LL * 3600 * 1000)

int inbox_new(const struct config *config, struct registry *registry, struct inbox **out,
              char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!config->mesh_inbox.url) {
        snprintf(errstr, errstr_size,
                 "%s: no mesh_inbox section: placehub-mesh-inbox needs the hub's MESH mailbox "
                 "(docs/mesh.md)",
                 config->path);
        return -1;
    }
    /* The mailbox's certificate, before any request: expired, every poll
     * would fail with a TLS error instead of saying so. */
    if (config->mesh_inbox.tls_client_cert &&
        certificate_check(config->mesh_inbox.tls_client_cert, "mesh_inbox.tls_client_cert",
                          time(NULL), 30, errstr, errstr_size) != 0)
        return -1;
    struct inbox *inbox = calloc(1, sizeof *inbox);
    if (!inbox) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    inbox->config = config;
    inbox->registry = registry;
    pthread_mutex_init(&inbox->lock, NULL);
    pthread_cond_init(&inbox->wake, NULL);
    int replication = config->topic_count ? config->topics[0].replication_factor : 1;
    struct config_topic topics[2] = {
        {config->mesh_inbox.dead_letter_topic, 3, replication, -1},
        {config->dispatch.audit_topic, 3, replication, -1},
    };
    if (mesh_client_new(config, &inbox->client, errstr, errstr_size) != 0 ||
        publishers_new(config, clock_monotonic_ms(), &inbox->publishers, errstr, errstr_size) !=
            0 ||
        producer_new(config, "placehub-mesh-inbox", config->mesh_inbox.produce_timeout_ms,
                     PRODUCER_LINGER_ACK_MS, &inbox->producer, errstr, errstr_size) != 0 ||
        kafka_topics_ensure(producer_handle(inbox->producer), config, 30000, errstr, errstr_size) !=
            0 ||
        kafka_topics_create(producer_handle(inbox->producer), topics, 2, 30000, errstr,
                            errstr_size) != 0) {
        inbox_destroy(inbox);
        return -1;
    }
    *out = inbox;
    return 0;
}

void inbox_destroy(struct inbox *inbox)
{
    if (!inbox)
        return;
    if (inbox->producer)
        producer_destroy(inbox->producer);
    if (inbox->publishers)
        publishers_destroy(inbox->publishers);
    mesh_client_destroy(inbox->client);
    pthread_cond_destroy(&inbox->wake);
    pthread_mutex_destroy(&inbox->lock);
    free(inbox);
}

void inbox_stop(struct inbox *inbox)
{
    pthread_mutex_lock(&inbox->lock);
    inbox->stopping = 1;
    pthread_cond_broadcast(&inbox->wake);
    pthread_mutex_unlock(&inbox->lock);
}

static int inbox_stopping(struct inbox *inbox)
{
    pthread_mutex_lock(&inbox->lock);
    int stopping = inbox->stopping;
    pthread_mutex_unlock(&inbox->lock);
    return stopping;
}

/* Waits milliseconds, or until inbox_stop. */
static void inbox_wait(struct inbox *inbox, int milliseconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += milliseconds / 1000;
    until.tv_nsec += (long)(milliseconds % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&inbox->lock);
    while (!inbox->stopping && pthread_cond_timedwait(&inbox->wake, &inbox->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&inbox->lock);
}

/* Produces the accepted event (takes submission's value). Returns 0 once
 * the broker acknowledged it. */
static int inbox_produce(struct inbox *inbox, const char *id, const struct inbox_verdict *verdict,
                         struct submission *submission)
{
    struct producer_header header = {"event_id", submission->event_id,
                                     strlen(submission->event_id)};
    struct producer_result result;
    if (producer_send(inbox->producer, verdict->type, submission->key, strlen(submission->key),
                      submission->value, submission->value_len, &header, 1, &result) != 0) {
        log_warning("event not acknowledged by the broker mesh_message_id=%s partner=%s "
                    "event_id=%s topic=%s error=%s: the message stays in the inbox",
                    id, verdict->partner_id, submission->event_id, verdict->type,
                    rd_kafka_err2name(result.err));
        return -1;
    }
    log_info("event accepted mesh_message_id=%s partner=%s event_id=%s topic=%s partition=%d "
             "offset=%lld",
             id, verdict->partner_id, submission->event_id, verdict->type, (int)result.partition,
             (long long)result.offset);
    return 0;
}

/* One message: downloaded, judged, put into Kafka, acknowledged. Returns 0
 * when done with (acknowledged, or gone), -1 when it stays for the next
 * round. */
static int inbox_handle(struct inbox *inbox, const char *id)
{
    char errstr[640];
    struct mesh_message message;
    enum mesh_client_result downloaded =
        mesh_client_download(inbox->client, id, (size_t)inbox->config->mesh_inbox.max_message_bytes,
                             &message, errstr, sizeof errstr);
    if (downloaded == MESH_CLIENT_GONE) {
        log_info("message gone before it was read mesh_message_id=%s: %s", id, errstr);
        return 0;
    }
    if (downloaded != MESH_CLIENT_OK) {
        log_warning("cannot download mesh_message_id=%s: %s", id, errstr);
        return -1;
    }
    struct inbox_verdict verdict;
    struct submission submission = {0};
    int judged = inbox_judge(inbox, id, &message, &verdict, &submission);
    int safe = judged == INBOX_ACCEPTED  ? inbox_produce(inbox, id, &verdict, &submission)
               : judged == INBOX_REFUSED ? inbox_refuse(inbox, id, &message, &verdict)
                                         : -1;
    mesh_message_clear(&message);
    if (safe != 0)
        return -1;
    /* IMPORTANT: only now, with Kafka holding the event or the dead letter. */
    if (mesh_client_acknowledge(inbox->client, id, errstr, sizeof errstr) == MESH_CLIENT_FAILED) {
        log_warning("not acknowledged mesh_message_id=%s: %s: it will be read again (a "
                    "duplicate with the same event_id)",
                    id, errstr);
        return -1;
    }
    return 0;
}

/* One look at the inbox. Returns 1 when more may be waiting right away. */
static int inbox_round(struct inbox *inbox)
{
    char errstr[640];
    int64_t now = clock_monotonic_ms();
    if (inbox->handshake_ms == 0 || now - inbox->handshake_ms >= INBOX_HANDSHAKE_EVERY_MS) {
        if (mesh_client_handshake(inbox->client, errstr, sizeof errstr) != MESH_CLIENT_OK) {
            log_warning("MESH handshake failed mailbox=%s: %s", inbox->config->mesh_inbox.mailbox,
                        errstr);
            return 0;
        }
        inbox->handshake_ms = now;
        log_info("MESH handshake done mailbox=%s", inbox->config->mesh_inbox.mailbox);
    }
    char(*ids)[MESH_MESSAGE_ID_MAX] = inbox->ids;
    int count = 0;
    if (mesh_client_inbox(inbox->client, ids, INBOX_BATCH, &count, errstr, sizeof errstr) !=
        MESH_CLIENT_OK) {
        log_warning("cannot list the MESH inbox mailbox=%s: %s", inbox->config->mesh_inbox.mailbox,
                    errstr);
        return 0;
    }
    for (int i = 0; i < count; i++)
        if (inbox_stopping(inbox) || inbox_handle(inbox, ids[i]) != 0)
            return 0; /* what is left waits for the next round */
    return count == INBOX_BATCH;
}

void inbox_run(struct inbox *inbox)
{
    log_info("polling mailbox=%s every %d ms", inbox->config->mesh_inbox.mailbox,
             inbox->config->mesh_inbox.poll_interval_ms);
    while (!inbox_stopping(inbox))
        if (!inbox_round(inbox))
            inbox_wait(inbox, inbox->config->mesh_inbox.poll_interval_ms);
}
