/*
 * config.h - placehub's configuration, read from one YAML file
 * (config/placehub.yaml is the annotated example).
 *
 * config_load checks everything at start-up: unknown keys, wrong types,
 * out-of-range numbers and dangling references are refused with
 * "file:line:column: what is wrong (hint)". After a successful load every
 * string is owned by the struct config and lives until config_destroy.
 */
#ifndef PLACEHUB_CONFIG_H
#define PLACEHUB_CONFIG_H

#include <stddef.h>

struct config_option {
    char *key;
    char *value;
    int line;
    /* A partner option written as a YAML mapping or list: value holds it as
     * compact JSON text (config_partner_options; docs/connectors.md). */
    int structured;
};

struct config_topic {
    char *name;
    int partitions;
    int replication_factor;
    long long retention_ms; /* -1: keep forever */
};

/* A partner's right to publish through placehub-ingest (its `ingest:`
 * section; docs/security.md). */
struct config_publisher {
    char **api_key_hashes; /* "sha256:<64 hex>", checked at load; several during a rotation */
    size_t api_key_hash_count;
    char *api_key_hashes_file; /* more hashes, one a line; read by placehub-ingest at start */
    int api_key_hashes_file_line;
    char **publishes; /* event types (topics) it may send */
    size_t publish_count;
    char **source_ods_codes; /* the organisations it may send as (source_ods_code) */
    size_t source_ods_code_count;
    int objections;     /* may record and withdraw objections (POST /v1/objections); default 0 */
    char *mesh_mailbox; /* the MESH mailbox it sends from (placehub-mesh-inbox); NULL: none */
    int mesh_mailbox_line;
    double events_per_second; /* token bucket: average rate ... */
    int burst;                /* ... and requests at once */
    int line;
};

/* A list entry that keeps its place in the file, for messages about it. */
struct config_value {
    char *text;
    int line, column;
};

/* One data-sharing agreement of a partner (docs/governance.md). Checked here
 * for shape; lib/governance/agreement.c checks the field paths against the schemas and
 * enforces it. */
struct config_agreement {
    char *id;                         /* unique across the hub; named in every audit record */
    char *purpose;                    /* as agreed, in words */
    char *legal_basis;                /* e.g. "UK GDPR 6(1)(e), 9(2)(h)" */
    struct config_value *event_types; /* topics it covers; each among the partner's topics */
    size_t event_type_count;
    struct config_value *fields; /* allow-list of dotted field paths */
    size_t field_count;
    struct config_value *gp_practices; /* conditions: registered with one of these */
    size_t gp_practice_count;
    struct config_value *postcode_districts; /* conditions: living in one of these ("SK4") */
    size_t postcode_district_count;
    int match_any;          /* conditions.match: any (1) or all (0, the default) */
    int direct_care;        /* the partner gives direct care: objections do not stop it */
    int restricted_records; /* it may receive restricted records */
    char *pseudonym_key;    /* "env:NAME" or "file:/path", or NULL: no pseudonym */
    int pseudonym_key_line, pseudonym_key_column; /* of its value, for messages about it */
    int line, column;
};

struct config_partner {
    char *id;
    char *name;
    char *connector;
    char **topics;
    size_t topic_count;
    struct config_option *options; /* connector-specific, values as text */
    size_t option_count;
    int line;
    struct config_publisher *ingest;     /* NULL: the partner publishes nothing */
    struct config_agreement *agreements; /* in the order written; none: it receives nothing */
    size_t agreement_count;
};

struct config {
    char *path;
    struct {
        char *bootstrap_servers;
        struct config_option *properties;
        size_t property_count;
        /* Broker security (docs/security.md). Secrets are named, never held:
         * *_env is an environment variable, *_file a file; kafka_conf_new
         * reads them. NULL when not set. */
        char *security_protocol; /* PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL */
        char *sasl_mechanism;    /* PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 */
        char *sasl_username;
        char *sasl_password_env;
        char *sasl_password_file;
        char *ssl_ca_location;
        char *ssl_certificate_location;
        char *ssl_key_location;
        char *ssl_key_password_env;
        char *ssl_key_password_file;
        int line; /* of the kafka section, for messages about it */
    } kafka;
    struct {
        char *mode;        /* "embedded" or "external" */
        char *schemas_dir; /* absolute, or relative to the config file's folder */
        char *listen;
        char *url; /* external mode only */
    } schema_registry;
    struct {
        char *listen;
        long long max_body_bytes;  /* one event */
        long long max_batch_bytes; /* one POST /v1/events/{type}/batch */
        int max_batch_events;
        int produce_timeout_ms;
        /* Development only: accept events from anyone (logged loudly). */
        int insecure_no_authentication;
    } ingest;
    struct {
        char *group_prefix;
        int retry_backoff_ms;
        int retry_backoff_max_ms;
        long long retry_window_ms; /* a failing event is dead-lettered after this */
        int max_in_flight;         /* requests in flight per partner */
        char *dead_letter_topic;   /* permanent failures, with the reason */
        char *audit_topic;         /* delivery receipts and disclosures */
        int breaker_failures;      /* consecutive failures that open the circuit */
        int breaker_open_ms;       /* first pause before a probe; doubles */
        int breaker_open_max_ms;
    } dispatch;
    struct {
        char *listen;                  /* placehub-mllp's MLLP listener, "host:port" */
        long long max_message_bytes;   /* larger messages are answered AR, never parsed */
        int read_timeout_ms;           /* a message, once begun, must be complete within this */
        int produce_timeout_ms;        /* how long an ACK waits for the broker before AE */
        int max_connections;           /* further connections are closed at once */
        char *raw_topic;               /* every acknowledged message as received, for audit */
        char *default_source_ods_code; /* when MSH-4 carries no ODS code; NULL: AR instead */
        int nhs_number_repetition;     /* PID-3 repetition (1-based) to take; 0: any that fits */
        char *nhs_number_type;         /* PID-3.5 identifier type of the NHS number */
        char *nhs_number_authority;    /* PID-3.4 assigning authority; "" accepts any */
        struct config_option *identifier_systems; /* PID-3.5 type -> identifier system URI */
        size_t identifier_system_count;
        struct config_option *discharge_destinations; /* PV1-37.1 code -> DischargeDestination */
        size_t discharge_destination_count;
        struct config_option *discharge_dispositions; /* PV1-36 code -> DischargeDestination */
        size_t discharge_disposition_count;
        struct config_option *specialties; /* PV1-10 code -> readable specialty name */
        size_t specialty_count;
    } mllp;
    struct {
        /* Operators' HTTP listeners, apart from the partners' ingest port:
         * /metrics, /healthz, /readyz and the status page. NULL: none. */
        char *ingest_listen;
        char *dispatch_listen;
        char *mllp_listen;
        /* A file holding the bearer token /metrics and /status ask for;
         * NULL: no token (bind the listeners to a private address). */
        char *token_file;
    } operations;
    struct {
        /* placehub-mesh-inbox (services/mesh-inbox, docs/mesh.md); url NULL:
         * no mesh_inbox section. Secrets are named (env:NAME, file:/path). */
        char *url;              /* the MESH API's https:// base */
        char *mailbox;          /* the hub's own mailbox id */
        char *mailbox_password; /* reference to its password */
        char *shared_key;       /* reference to the environment's HMAC key */
        char *tls_ca_file;      /* verifies MESH's server certificate; NULL: the system's */
        char *tls_client_cert;  /* the mailbox's client certificate and key (mutual TLS) */
        char *tls_client_key;
        char *workflow_id;           /* NULL: any; else other workflows are refused */
        int poll_interval_ms;        /* between looks at an empty inbox (default 60000) */
        int timeout_ms;              /* per MESH request (default 30000) */
        int produce_timeout_ms;      /* how long a message waits for the broker (10000) */
        long long max_message_bytes; /* larger messages are dead-lettered (default 1 MiB) */
        char *dead_letter_topic;     /* refused messages as received, with the reason */
        int line;
    } mesh_inbox;
    struct config_topic *topics;
    size_t topic_count;
    struct config_partner *partners;
    size_t partner_count;
    struct {
        /* The key of the person keys (lib/schema/event.h): "env:NAME" or
         * "file:/path"; NULL: the built-in development key (warned about). */
        char *person_key;
        /* The objection register (docs/governance.md): a compacted topic,
         * one record per person and scope; default "placehub.objections". */
        char *objections_topic;
        /* The disclosure ledger (lib/governance/ledger.h): an SQLite file
         * derived from the audit topic, resolved like schemas_dir
         * (config_resolve_path: relative to the configuration file's
         * folder); default "../var/placehub-ledger.db". */
        char *ledger;
    } governance;
    struct {
        /* placehub-console (services/console, docs/operations.md): where it
         * listens, "127.0.0.1:9190" by default (this machine only). */
        char *listen;
        /* Who may log in: "name:role:pbkdf2-sha256$..." lines, written by
         * placehub-console --add-user; resolved like schemas_dir. */
        char *users_file;
        /* The console's own disclosure ledger (event traces, subject
         * access), fed from the audit topic; default
         * "../var/placehub-console-ledger.db". */
        char *ledger;
        /* Where the console reads each service's operations port, as
         * "http://host:port"; NULL: from operations.*_listen (a wildcard
         * address read on loopback). Set under Compose: "http://dispatch:9181". */
        char *ingest_url;
        char *dispatch_url;
        char *mllp_url;
        int session_idle_minutes; /* a session unused this long ends */
        int sample_interval_ms;   /* how often the services' /metrics are read */
        int line;                 /* of the console section, for messages */
    } console;
};

/* Reads and checks path. Returns 0 and a new config in *config (caller frees
 * with config_destroy), or -1 with "path:line:column: message" in errstr. */
int config_load(const char *path, struct config **config, char *errstr, size_t errstr_size);

/* Same, from a string in memory; name is used in messages (for tests and fuzzing). */
int config_load_string(const char *name, const char *text, size_t len, struct config **config,
                       char *errstr, size_t errstr_size);

void config_destroy(struct config *config);

/* Declared topic by name, or NULL. Borrowed. */
const struct config_topic *config_topic_find(const struct config *config, const char *name);

/* Partner by id, or NULL. Borrowed. */
const struct config_partner *config_partner_find(const struct config *config, const char *id);

/* Number of partners with an ingest: section (publishers). */
size_t config_publisher_count(const struct config *config);

/* A partner's connector option, or NULL when absent. Borrowed. */
const char *config_partner_option(const struct config_partner *partner, const char *key);

/* Levenshtein distance between two short strings (SIZE_MAX beyond 63
 * characters), for "did you mean" hints. */
size_t config_distance(const char *a, const char *b);

/* Resolves a path from the config (e.g. schemas_dir) against the config
 * file's folder into out. Returns 0, or -1 when out is too small. */
int config_resolve_path(const struct config *config, const char *path, char *out, size_t out_size);

#endif
