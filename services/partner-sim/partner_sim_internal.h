/*
 * partner_sim_internal.h - what the simulated partner's files share (see
 * partner_sim.c for the whole and its locks): the state, the behaviour
 * queue (partner_sim_behaviour.c), the records (partner_sim_records.c) and
 * authentication (partner_sim_auth.c). Nothing outside services/partner-sim
 * includes it.
 */
#ifndef PLACEHUB_PARTNER_SIM_INTERNAL_H
#define PLACEHUB_PARTNER_SIM_INTERNAL_H

#include "partner_sim.h"

#include "net/httpd.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARTNER_SIM_HEADER_MAX 8
#define PARTNER_SIM_STATUS_MIN 100
#define PARTNER_SIM_STATUS_MAX 599
#define PARTNER_SIM_DELAY_MAX_MS 600000
#define PARTNER_SIM_DRIP_MAX_MS 60000
#define PARTNER_SIM_LIST_DEFAULT_LIMIT 10000
/* Tokens remembered for --require-auth; beyond it the oldest are forgotten
 * (and so refused), which no test comes near. */
#define PARTNER_SIM_TOKENS_MAX 4096
#define PARTNER_SIM_TOKEN_SIZE 48
#define PARTNER_SIM_CREDENTIAL_MAX 1024

/* One step of the behaviour queue. */
struct partner_sim_step {
    int status;
    long delay_ms;
    long drip_ms; /* > 0: an endless body, one byte every drip_ms */
    char *body;   /* NUL-terminated */
    size_t body_len;
    char content_type[64];
    char *headers[PARTNER_SIM_HEADER_MAX][2];
    int header_count;
    long long times;     /* as asked; -1 = until changed */
    long long remaining; /* requests left; -1 = until changed */
};

/* An access token issued by /_sim/oauth/token. */
struct partner_sim_token {
    char value[PARTNER_SIM_TOKEN_SIZE];
    int64_t expires_ms; /* clock_monotonic_ms() */
};

/* A stored request: JSON text of the record without its opening brace and
 * without "seq", which is written in front of it when listing. */
struct partner_sim_record {
    uint64_t seq;
    size_t len;
    char text[];
};

struct partner_sim {
    const struct partner_sim_options *options;
    struct httpd *httpd;

    pthread_mutex_t behaviour_lock;
    struct partner_sim_step *steps;
    size_t step_count;
    size_t step_capacity;

    pthread_mutex_t store_lock;
    struct partner_sim_record **records; /* ring of record_capacity slots */
    size_t record_capacity;
    size_t record_head; /* slot of the oldest record */
    size_t record_count;
    uint64_t next_seq;
    uint64_t dropped;
    uint64_t by_status[PARTNER_SIM_STATUS_MAX + 1];
    uint64_t tokens_issued;
    uint64_t token_requests_refused;

    /* Tokens issued, a ring of PARTNER_SIM_TOKENS_MAX (allocated only with
     * --oauth-client). */
    pthread_mutex_t oauth_lock;
    struct partner_sim_token *tokens;
    size_t token_head;
    size_t token_count;

    /* Delays wait on stop_cond so that shutdown does not wait them out. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

/* 405 with an Allow header naming allow. */
void partner_sim_method_not_allowed(struct httpd_response *response, const char *allow);

/* --- behaviour (partner_sim_behaviour.c) --- */

/* Frees what step holds and zeroes it. */
void partner_sim_step_clear(struct partner_sim_step *step);

/* Answers response by the current step (or 200 {"ok":true}) and consumes
 * one use of it, under behaviour_lock. Returns the delay to apply, in
 * milliseconds; *drip_ms is the step's drip_ms. */
long partner_sim_behaviour_take(struct partner_sim *sim, struct httpd_response *response,
                                long *drip_ms);

/* Sleeps delay_ms, or less if the simulator is stopping. */
void partner_sim_delay(struct partner_sim *sim, long delay_ms);

/* GET, PUT, POST, DELETE /_sim/behaviour. */
void partner_sim_handle_behaviour(struct partner_sim *sim, const struct httpd_request *request,
                                  struct httpd_response *response);

/* --- records (partner_sim_records.c) --- */

/* Builds the record of request (received at received_ms on the wall clock,
 * answered status). Returns a record the caller stores or frees, NULL when
 * out of memory. */
struct partner_sim_record *partner_sim_record_new(const struct httpd_request *request,
                                                  int64_t received_ms, int status, long drip_ms);

/* Stores record (takes ownership; NULL counts as dropped) and counts status;
 * assigns the sequence number. Drops the oldest record when the cap is
 * reached. */
void partner_sim_store(struct partner_sim *sim, struct partner_sim_record *record, int status);

/* Frees every record and zeroes the counters; store_lock held (or no other
 * thread left). */
void partner_sim_store_clear_locked(struct partner_sim *sim);

/* The counters of /_sim/stats as a new JSON object. */
json_t *partner_sim_stats_to_json(struct partner_sim *sim);

/* GET, DELETE /_sim/requests. */
void partner_sim_handle_requests(struct partner_sim *sim, const struct httpd_request *request,
                                 struct httpd_response *response);

/* --- authentication (partner_sim_auth.c) --- */

/* --require-auth: a token issued here, the static bearer token, or the API key. */
bool partner_sim_authorised(struct partner_sim *sim, const struct httpd_request *request);

/* POST /_sim/oauth/token. */
void partner_sim_handle_token(struct partner_sim *sim, const struct httpd_request *request,
                              struct httpd_response *response);

/* DELETE /_sim/oauth/tokens. */
void partner_sim_handle_tokens(struct partner_sim *sim, const struct httpd_request *request,
                               struct httpd_response *response);

#endif
