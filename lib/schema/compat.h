/*
 * compat.h - schema evolution checks: can data written with one version of a
 * schema be read with the next? (Avro schema resolution, "backward"
 * compatibility in Confluent's terms; docs/schemas.md says what placehub
 * allows.) Used by the tests and before a new .avsc joins the catalogue.
 */
#ifndef PLACEHUB_COMPAT_H
#define PLACEHUB_COMPAT_H

#include <stddef.h>

struct catalogue;

/* Checks that data written with old_text (the writer's schema, .avsc JSON)
 * can be read with new_text (the reader's). Returns 0 when it can, or -1
 * with errstr naming the path at fault and why, e.g.
 * "person.postcode: added without a default". Invalid schema JSON or an
 * undefined type name also gives -1. */
int compat_check_backward(const char *old_text, const char *new_text, char *errstr,
                          size_t errstr_size);

/* Checks, for every subject of the catalogue, each version N+1 against
 * version N. Returns 0, or -1 with errstr naming the subject, the versions
 * and the path at fault. */
int compat_check_catalogue(const struct catalogue *catalogue, char *errstr, size_t errstr_size);

#endif
