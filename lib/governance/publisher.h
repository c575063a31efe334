/*
 * publisher.h - who may publish through placehub-ingest, and as whom
 * (docs/security.md).
 *
 * Built from the partners' ingest: sections: each publishing partner has
 * the SHA-256 digests of its API keys (inline and from its
 * api_key_hashes_file), the event types it may send, the ODS codes it may
 * send as, whether it may record objections, and its own token bucket. A key identifies exactly one
 * partner: the same hash under two partners is refused at start-up.
 *
 * Thread safety: after publishers_new, every function may be called from
 * several threads at once (the token buckets have their own locks).
 */
#ifndef PLACEHUB_PUBLISHER_H
#define PLACEHUB_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct publishers;
struct publisher;

/* Reads the hashes files and sets up the buckets (full at now_ms, a
 * monotonic clock in milliseconds). config is borrowed and must outlive the
 * result. Returns 0 and a new set (caller frees with publishers_destroy), or
 * -1 with errstr naming the file, the line and the fault. */
int publishers_new(const struct config *config, int64_t now_ms, struct publishers **out,
                   char *errstr, size_t errstr_size);

void publishers_destroy(struct publishers *publishers);

/* Number of publishing partners. */
size_t publishers_count(const struct publishers *publishers);

/* The publisher whose key this is, or NULL. Every configured digest is
 * compared, in constant time, whether or not one matched earlier, so the
 * time taken tells nothing about which partner or how many exist. key is
 * never stored or logged. */
struct publisher *publishers_authenticate(struct publishers *publishers, const char *key);

/* The publisher that sends from this MESH mailbox (its ingest.mesh_mailbox,
 * compared without regard to case), or NULL: placehub-mesh-inbox's
 * authorisation, as publishers_authenticate is ingest's. */
struct publisher *publishers_find_mesh_mailbox(struct publishers *publishers, const char *mailbox);

/* The partner a publisher is (borrowed from the config). */
const struct config_partner *publisher_partner(const struct publisher *publisher);

/* 1 when the publisher may send events of this type (topic), else 0. */
int publisher_may_publish(const struct publisher *publisher, const char *type);

/* 1 when the publisher may send as the organisation with this ODS code. */
int publisher_may_send_as(const struct publisher *publisher, const char *ods_code);

/* 1 when the publisher may record and withdraw objections
 * (POST /v1/objections): its ingest: section says objections: true. Default
 * deny: 0 otherwise. */
int publisher_may_record_objections(const struct publisher *publisher);

/* Takes one request from the publisher's token bucket at now_ms (monotonic
 * milliseconds). Returns 0 when allowed, else the milliseconds to wait. */
int64_t publisher_take(struct publisher *publisher, int64_t now_ms);

/* Takes count events at once (a batch), all or none: 0 when allowed, else
 * the milliseconds to wait; -1 when count exceeds the partner's burst. */
int64_t publisher_take_many(struct publisher *publisher, int count, int64_t now_ms);

#endif
