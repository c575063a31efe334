/*
 * ingest_internal.h - what the files of placehub-ingest share: the ingest
 * itself, authentication and the rate limit (ingest.c), and the objection
 * endpoints (objections.c). Not for other programs.
 */
#ifndef PLACEHUB_INGEST_INTERNAL_H
#define PLACEHUB_INGEST_INTERNAL_H

#include "core/config.h"
#include "governance/publisher.h"
#include "kafka/producer.h"
#include "net/httpd.h"
#include "schema/registry.h"

struct ingest {
    const struct config *config;
    struct registry *registry;
    struct producer *producer;
    struct httpd *httpd;
    struct publishers *publishers; /* NULL only with ingest.insecure_no_authentication */
};

/* The publisher the request's credentials name, or NULL with *response
 * filled (401). Never logs the key. */
struct publisher *ingest_authenticate(struct ingest *ingest, const struct httpd_request *request,
                                      struct httpd_response *response);

/* Takes count requests from the publisher's rate limit. Returns 0, or -1
 * with *response filled (429, or 413 when count exceeds the burst). */
int ingest_limit(struct publisher *publisher, int count, const struct httpd_request *request,
                 struct httpd_response *response);

/* Answers the request when its path is one of the objection endpoints
 * (/v1/objections, /v1/objections/withdraw) and returns 1; else 0 and
 * leaves *response alone. */
int ingest_objections_handle(struct ingest *ingest, const struct httpd_request *request,
                             struct httpd_response *response);

#endif
