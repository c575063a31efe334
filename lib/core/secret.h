/*
 * secret.h - secrets are named in the configuration, never written there:
 * "env:NAME" (an environment variable) or "file:/path" (a file's first line).
 */
#ifndef PLACEHUB_SECRET_H
#define PLACEHUB_SECRET_H

#include <stddef.h>

/* Reads the secret named by reference into out (NUL-terminated, line end
 * cut). Returns 0, or -1 with errstr naming the reference (never the
 * secret): unset variable, unreadable or empty file, too long, or a value
 * that is not a reference at all. */
int secret_read(const char *reference, char *out, size_t out_size, char *errstr,
                size_t errstr_size);

#endif
