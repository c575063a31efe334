/*
 * ledger_internal.h - what ledger.c (the file, adding records) and
 * ledger_query.c (the two questions asked of it) share: the connection
 * and its prepared statements. Not for use outside lib/governance/ledger*.c.
 */
#ifndef PLACEHUB_LEDGER_INTERNAL_H
#define PLACEHUB_LEDGER_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "governance/ledger.h"

/* Field lists remembered by their text, to skip a lookup. */
#define LEDGER_FIELDSET_CACHE 64

enum ledger_statement {
    LEDGER_INSERT,
    LEDGER_POSITION_SET,
    LEDGER_POSITION_GET,
    LEDGER_FIELDSET_ADD,
    LEDGER_FIELDSET_GET,
    LEDGER_DISCLOSED,
    LEDGER_SUBJECT,
    LEDGER_EVENT,
    LEDGER_RECENT,
    LEDGER_STATEMENTS
};

struct ledger_fieldset {
    char *fields; /* not NUL-terminated */
    size_t len;
    sqlite3_int64 id;
};

struct ledger {
    pthread_mutex_t lock;
    int keeper_fd; /* holds the lock on <path>.keeper; -1: a visitor */
    sqlite3 *db;
    sqlite3_stmt *statement[LEDGER_STATEMENTS];
    char *path;
    int in_transaction;
    int batched;       /* rows added in the open transaction */
    int64_t *pending;  /* per partition: next offset after the rows added (-1: none) */
    int pending_count; /* partitions in pending */
    atomic_llong current_ms;
    int64_t committed_t0; /* the t0 of the last round committed */
    int64_t committed_at; /* clock_monotonic_ms() of the last commit */
    struct ledger_fieldset cache[LEDGER_FIELDSET_CACHE];
    unsigned cache_next;
};

/* "disclosure ledger <path>: <what>: <SQLite's message>" into errstr. */
void ledger_error(struct ledger *ledger, const char *what, char *errstr, size_t errstr_size);

/* Binds a person reference: 32 hexadecimal digits as 16 bytes, anything
 * else as text, as every row stores it. */
void ledger_bind_person(sqlite3_stmt *statement, int column, const char *text, size_t len);

#endif
