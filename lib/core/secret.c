/*
 * secret.c - resolves a secret named by reference (see secret.h). The one
 * resolver for every module: partner credentials, pseudonym keys, Kafka
 * passwords, and connectors through the host table.
 */
#include "core/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether fgets read the whole first line into line: it holds the line
 * end, or the file has nothing more of the line (EOF, or only its line end
 * after a buffer exactly filled). */
static int secret_line_fits(const char *line, FILE *file)
{
    if (strpbrk(line, "\r\n"))
        return 1;
    int next = fgetc(file);
    if (next == '\r')
        next = fgetc(file);
    return next == EOF || next == '\n';
}

int secret_read(const char *reference, char *out, size_t out_size, char *errstr, size_t errstr_size)
{
    if (strncmp(reference, "env:", 4) == 0) {
        const char *value = getenv(reference + 4);
        if (!value || !*value) {
            snprintf(errstr, errstr_size, "secret %s: the environment variable is not set",
                     reference);
            return -1;
        }
        if (strlen(value) >= out_size) {
            snprintf(errstr, errstr_size, "secret %s: longer than %zu bytes", reference,
                     out_size - 1);
            return -1;
        }
        snprintf(out, out_size, "%s", value);
        return 0;
    }
    if (strncmp(reference, "file:", 5) == 0) {
        FILE *file = fopen(reference + 5, "r");
        if (!file) {
            snprintf(errstr, errstr_size, "secret %s: %s", reference, strerror(errno));
            return -1;
        }
        int ok = fgets(out, (int)out_size, file) != NULL;
        int fits = ok && secret_line_fits(out, file);
        fclose(file);
        if (ok)
            out[strcspn(out, "\r\n")] = '\0';
        if (!ok || out[0] == '\0') {
            snprintf(errstr, errstr_size, "secret %s: the file is empty", reference);
            return -1;
        }
        if (!fits) {
            /* Cut to fit, it would fail later as a wrong password, far from
             * the cause; and out must not keep a piece of it. */
            memset(out, 0, out_size);
            snprintf(errstr, errstr_size, "secret %s: the first line is longer than %zu bytes",
                     reference, out_size - 1);
            return -1;
        }
        return 0;
    }
    snprintf(errstr, errstr_size,
             "a secret must be given as env:VARIABLE or file:/path, never written in the "
             "configuration itself");
    return -1;
}
