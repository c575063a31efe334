/*
 * console.h - placehub-console: the operators' and auditors' web console
 * (docs/operations.md, "The console"). One process, one HTTP listener
 * (console.listen, 127.0.0.1 by default), pages embedded in the binary.
 *
 * Where each page's facts come from:
 *   overview      the services' own /metrics and dispatch's /partners,
 *                 sampled every console.sample_interval_ms into an hour of
 *                 history (sampler.c)
 *   event trace   the console's own disclosure ledger (an SQLite index of
 *                 the audit topic, fed by a thread, indexed by event id),
 *                 and dispatch's /partners for events still retrying
 *   dead letters  placehub-ctl dlq, run as a program (one implementation of
 *                 each operator action; the audit records are ctl's)
 *   controls      dispatch's POST /partners/{id}/pause|resume|probe
 *   auditor view  placehub-ctl subject-access on the console's ledger
 *
 * Access: users in console.users_file (PBKDF2 hashes, users.c), sessions in
 * memory (session.c) with a cookie and a CSRF token every state-changing
 * request must carry. Operators never see personal data; auditors may,
 * and every such view is written to the audit topic before it is shown.
 */
#ifndef PLACEHUB_CONSOLE_H
#define PLACEHUB_CONSOLE_H

#include <jansson.h>
#include <stddef.h>

#include "core/config.h"
#include "net/httpd.h"

enum console_role { CONSOLE_OPERATOR, CONSOLE_AUDITOR };

/* ---- users.c: the users file ------------------------------------------- */

#define CONSOLE_NAME_MAX 64

/* 1 when name is a user name the console takes: 1-64 of [A-Za-z0-9._@-]. */
int console_name_valid(const char *name);

/* "operator" / "auditor", and back (-1: neither). */
const char *console_role_name(enum console_role role);
int console_role_parse(const char *text);

/* Checks name and password against the users file at path (read at each
 * call, so users added while the console runs can log in). Returns 1 with
 * *role when they match, 0 when not (unknown user or wrong password: the
 * same answer, and the same time), -1 with errstr when the file cannot be
 * read or a line is malformed (file:line). */
int console_users_check(const char *path, const char *name, const char *password,
                        enum console_role *role, char *errstr, size_t errstr_size);

/* Adds or replaces name's line in the users file (created 0600 when
 * missing) with a new salted hash of password. Returns 0, or -1 with
 * errstr. */
int console_users_add(const char *path, const char *name, enum console_role role,
                      const char *password, char *errstr, size_t errstr_size);

/* ---- session.c: who is logged in --------------------------------------- */

struct console_session {
    char name[CONSOLE_NAME_MAX + 1];
    enum console_role role;
    char csrf[65]; /* hex: every POST carries it in X-CSRF-Token */
};

struct console_sessions;

struct console_sessions *console_sessions_new(int idle_minutes);
void console_sessions_destroy(struct console_sessions *sessions);

/* A new session for name: fills token (the cookie, 64 hex digits + NUL)
 * and *session. Returns 0, or -1 when the table is full (the oldest idle
 * sessions are dropped first; full means every one is in use). */
int console_sessions_open(struct console_sessions *sessions, const char *name,
                          enum console_role role, char token[65], struct console_session *session);

/* The session of token, refreshed (idle timer reset): 1 with *session, 0
 * when unknown or expired. */
int console_sessions_find(struct console_sessions *sessions, const char *token,
                          struct console_session *session);

void console_sessions_close(struct console_sessions *sessions, const char *token);

/* ---- sampler.c: an hour of the services' figures ------------------------ */

struct console_sampler;

/* Starts a thread reading the services' /metrics (operations.*_listen)
 * and dispatch's /partners every config->console.sample_interval_ms.
 * token is the operations bearer token ("" when none). Returns NULL with
 * errstr on failure. */
struct console_sampler *console_sampler_start(const struct config *config, const char *token,
                                              char *errstr, size_t errstr_size);
void console_sampler_stop(struct console_sampler *sampler);

/* The overview: per partner state, counts, lag, latency percentiles and
 * the hour's series; the services' reachability; ingest's counts. New
 * reference. */
json_t *console_sampler_overview(struct console_sampler *sampler);

/* Dispatch's latest /partners answer for partner (NULL: all), new
 * reference or NULL when none was read yet. */
json_t *console_sampler_partners(struct console_sampler *sampler);

/* Samples now (after a control action, so the page shows its effect). */
void console_sampler_wake(struct console_sampler *sampler);

/* ---- run.c: the programs the console runs ------------------------------- */

/* Runs argv (argv[0] a path), with stdin from /dev/null, and collects its
 * standard output (at most max_bytes) into *out (caller frees) and the
 * last line of its standard error into error. Kills it after timeout_ms.
 * Returns its exit status (0-255), or -1 with error filled when it could
 * not be run or was killed. */
int console_run(char *const argv[], size_t max_bytes, int timeout_ms, char **out, char *error,
                size_t error_size);

/* The URL of path on service's ("ingest", "dispatch", "mllp") operations
 * port: console.<service>_url when set, else from operations.<service>_listen.
 * Returns 0, or -1 when neither is configured. */
int console_service_url(const struct config *config, const char *service, const char *path,
                        char *out, size_t out_size);

/* An HTTP request to a service's operations port: method "GET" or "POST",
 * url, the bearer token ("" none) and the X-Placehub-Actor (NULL none).
 * Returns the HTTP status with the body in *body (caller frees), or -1
 * with errstr when there was no answer. */
int console_http(const char *method, const char *url, const char *token, const char *actor,
                 char **body, char *errstr, size_t errstr_size);

/* ---- the console itself (server.c, api.c) ------------------------------- */

struct ledger;
struct producer;

struct console {
    const struct config *config;
    char users_file[1024];
    char ledger_path[1024];
    char ctl_path[1024]; /* placehub-ctl, beside this program */
    char token[256];     /* the operations bearer token, "" when none */
    struct console_sessions *sessions;
    struct console_sampler *sampler;
    struct ledger *ledger;  /* the console's own, fed by a thread */
    struct producer *audit; /* personal-data views go to the audit topic */
};

/* What a request is, once server.c let it through: its user. */
struct console_call {
    struct console *console;
    const struct httpd_request *request;
    struct httpd_response *response;
    struct console_session session;
};

/* The handler httpd calls (context: the struct console). */
void console_handle(void *context, const struct httpd_request *request,
                    struct httpd_response *response);

/* The JSON API under /api/ (api.c), for a logged-in user; POSTs have
 * passed the CSRF check. Returns 0 when it answered, -1 for no such route. */
int console_api(struct console_call *call);

/* The dead-letter and auditor routes (letters.c). */
int console_api_letters(struct console_call *call);
int console_api_subject(struct console_call *call);

/* The web assets embedded at build time (assets/, tools/embed-assets.py). */
struct console_asset {
    const char *path; /* "/assets/console.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
};
extern const struct console_asset console_assets[];
const struct console_asset *console_asset_find(const char *path);

#endif
