/*
 * certificate.h - a client certificate checked before it is used: a
 * partner's (mutual TLS, MESH) or the hub's own mailbox's. An expired one
 * would otherwise show only as TLS failures retried until the retry window
 * closes; here it stops the start with the file, the date and what to do.
 */
#ifndef PLACEHUB_CERTIFICATE_H
#define PLACEHUB_CERTIFICATE_H

#include <stddef.h>
#include <time.h>

/* Reads the first PEM certificate in path and checks it is valid at now.
 * Returns 0 (with a warning logged when it expires within warn_days: who
 * renews it needs the time), or -1 with errstr naming the file and what
 * is wrong (unreadable, not a certificate, expired on DATE, not valid
 * before DATE). what names the option in messages ("tls_client_cert"). */
int certificate_check(const char *path, const char *what, time_t now, int warn_days, char *errstr,
                      size_t errstr_size);

#endif
