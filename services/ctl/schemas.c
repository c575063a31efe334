/*
 * schemas.c - `placehub-ctl schemas list|show|check`: the schema catalogue
 * (schemas/catalogue.json) and the backward-compatibility check a new
 * version must pass before it joins it (lib/schema/compat.c).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/catalogue.h"
#include "schema/compat.h"
#include "ctl.h"

static const char schemas_help[] =
    "Usage: placehub-ctl schemas list\n"
    "       placehub-ctl schemas show (ID | SUBJECT [VERSION])\n"
    "       placehub-ctl schemas check FILE.avsc [--subject SUBJECT]\n"
    "\n"
    "  list    every schema version of the catalogue: id, subject, version, file\n"
    "  show    one schema's .avsc text, by id or by subject (latest version unless\n"
    "          VERSION is given), e.g. `schemas show admission-value`\n"
    "  check   whether data written with the subject's latest version can be read\n"
    "          with FILE (Avro resolution rules: backward compatibility). The\n"
    "          subject is the one whose record has the same full name as FILE's,\n"
    "          unless --subject names it. A FILE already in the catalogue is\n"
    "          checked against the version before it (e.g. after adding it)\n"
    "\n"
    "Options:\n"
    "      --subject SUBJECT  check: compare with this subject's latest version\n"
    "      --json             JSON instead of text\n"
    "  -c, --config FILE      configuration (default config/placehub.yaml)\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit codes: 0 done (check: compatible), 1 error (unreadable file or schema),\n"
    "2 bad command line, 3 no such schema, 4 check: not backward compatible (the\n"
    "path at fault and why are printed).\n";

static char *schemas_read(const char *path, char *errstr, size_t errstr_size)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    if (!file) {
        snprintf(errstr, errstr_size, "cannot read %s", path);
        return NULL;
    }
    if (fseek(file, 0, SEEK_END) == 0) {
        long size = ftell(file);
        if (size >= 0 && size < (1 << 22) && fseek(file, 0, SEEK_SET) == 0) {
            text = malloc((size_t)size + 1);
            if (text && fread(text, 1, (size_t)size, file) == (size_t)size)
                text[size] = '\0';
            else {
                free(text);
                text = NULL;
            }
        }
    }
    fclose(file);
    if (!text)
        snprintf(errstr, errstr_size, "cannot read %s (or larger than 4 MB)", path);
    return text;
}

/* schemas list: every version of the catalogue. */
static int schemas_list(struct ctl *ctl, const struct catalogue *catalogue)
{
    static const char *const headings[] = {"ID", "SUBJECT", "VERSION", "RECORD", "FILE"};
    struct table *table = ctl->json ? NULL : table_new(5, headings);
    for (size_t i = 0; i < catalogue->count; i++) {
        const struct catalogue_entry *entry = &catalogue->entries[i];
        if (ctl->json) {
            output_json_line(json_pack("{s:i,s:s,s:i,s:s,s:s}", "id", entry->id, "subject",
                                       entry->subject, "version", entry->version, "record",
                                       codec_schema_name(entry->schema), "file", entry->file));
            continue;
        }
        char id[16], version[16];
        snprintf(id, sizeof id, "%d", entry->id);
        snprintf(version, sizeof version, "%d", entry->version);
        const char *cells[] = {id, entry->subject, version, codec_schema_name(entry->schema),
                               entry->file};
        table_add(table, cells);
    }
    table_print(table, stdout);
    return CTL_EXIT_OK;
}

/* schemas show NAME [VERSION]: NAME is an id or a subject; version NULL
 * means the subject's latest. */
static int schemas_show(struct ctl *ctl, const struct catalogue *catalogue, const char *name,
                        const char *version)
{
    char *end;
    long id = strtol(name, &end, 10);
    const struct catalogue_entry *entry =
        *end == '\0' ? catalogue_find_id(catalogue, (int)id)
                     : catalogue_find_subject(catalogue, name, version ? atoi(version) : -1);
    if (!entry) {
        fprintf(stderr, "placehub-ctl schemas show: no schema %s%s%s\n", name,
                version ? " version " : "", version ? version : "");
        return CTL_EXIT_ATTENTION;
    }
    const char *text = codec_schema_text(entry->schema);
    if (ctl->json)
        output_json_line(json_pack("{s:i,s:s,s:i,s:s}", "id", entry->id, "subject", entry->subject,
                                   "version", entry->version, "schema", text));
    else
        fputs(text, stdout);
    return CTL_EXIT_OK;
}

/* Whether entry is a version of subject (or, subject NULL, of the record
 * named like candidate). */
static int schemas_same_subject(const struct catalogue_entry *entry, const char *subject,
                                const struct codec_schema *candidate)
{
    return subject ? strcmp(entry->subject, subject) == 0
                   : strcmp(codec_schema_name(entry->schema), codec_schema_name(candidate)) == 0;
}

/* The entry a candidate is checked against: the latest version of subject,
 * or (subject NULL) of the subject whose record has the candidate's full
 * name. A candidate already in the catalogue (the same schema text) is
 * checked against the version before it, not against itself. NULL when
 * there is none. */
static const struct catalogue_entry *schemas_latest(const struct catalogue *catalogue,
                                                    const char *subject,
                                                    const struct codec_schema *candidate,
                                                    const struct catalogue_entry **same)
{
    int below = INT_MAX;
    *same = NULL;
    for (size_t i = 0; i < catalogue->count; i++) {
        const struct catalogue_entry *entry = &catalogue->entries[i];
        if (schemas_same_subject(entry, subject, candidate) &&
            strcmp(codec_schema_text(entry->schema), codec_schema_text(candidate)) == 0) {
            below = entry->version;
            *same = entry;
        }
    }
    const struct catalogue_entry *latest = NULL;
    for (size_t i = 0; i < catalogue->count; i++) {
        const struct catalogue_entry *entry = &catalogue->entries[i];
        if (schemas_same_subject(entry, subject, candidate) && entry->version < below &&
            (!latest || entry->version > latest->version))
            latest = entry;
    }
    return latest;
}

/* schemas check FILE: whether FILE can read what the latest version wrote. */
static int schemas_check(struct ctl *ctl, const struct catalogue *catalogue, const char *path,
                         const char *subject)
{
    char errstr[1024];
    char *text = schemas_read(path, errstr, sizeof errstr);
    struct codec_schema *candidate = NULL;
    if (!text || codec_schema_new(text, strlen(text), &candidate, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ctl schemas check: %s%s%s\n", text ? path : "", text ? ": " : "",
                errstr);
        free(text);
        return CTL_EXIT_ERROR;
    }
    const struct catalogue_entry *same;
    const struct catalogue_entry *latest = schemas_latest(catalogue, subject, candidate, &same);
    codec_schema_destroy(candidate);
    if (!latest && same) {
        printf("%s: is version %d of %s, its first: nothing earlier to check it against\n", path,
               same->version, same->subject);
        free(text);
        return CTL_EXIT_OK;
    }
    if (!latest) {
        fprintf(stderr,
                "placehub-ctl schemas check: no subject %s in the catalogue (name it with "
                "--subject)\n",
                subject ? subject : "with that record name");
        free(text);
        return CTL_EXIT_ATTENTION;
    }
    int compatible =
        compat_check_backward(codec_schema_text(latest->schema), text, errstr, sizeof errstr) == 0;
    free(text);
    if (ctl->json)
        output_json_line(json_pack("{s:s,s:i,s:b,s:s?}", "subject", latest->subject,
                                   "against_version", latest->version, "compatible", compatible,
                                   "problem", compatible ? NULL : errstr));
    else if (compatible)
        printf("%s: compatible with %s version %d (data written with it can be read)\n", path,
               latest->subject, latest->version);
    else
        printf("%s: NOT compatible with %s version %d: %s\n", path, latest->subject,
               latest->version, errstr);
    return compatible ? CTL_EXIT_OK : CTL_EXIT_INCOMPATIBLE;
}

int ctl_schemas(struct ctl *ctl, int argc, char **argv)
{
    enum { SUBJECT = 1000 };
    static const struct option options[] = {
        CTL_COMMON_LONG, {"subject", required_argument, NULL, SUBJECT}, {NULL, 0, NULL, 0}};
    const char *subject = NULL;
    int option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, options, NULL)) != -1) {
        if (option == SUBJECT)
            subject = optarg;
        else
            ctl_common_option(ctl, option, schemas_help);
    }
    if (optind >= argc) {
        fputs(schemas_help, stderr);
        return CTL_EXIT_USAGE;
    }
    const char *action = argv[optind++];
    int left = argc - optind;
    if (ctl_load(ctl) != 0 || !ctl_registry(ctl))
        return CTL_EXIT_ERROR;
    const struct catalogue *catalogue = registry_catalogue(ctl->registry);
    if (strcmp(action, "list") == 0 && left == 0)
        return schemas_list(ctl, catalogue);
    if (strcmp(action, "show") == 0 && (left == 1 || left == 2))
        return schemas_show(ctl, catalogue, argv[optind], left == 2 ? argv[optind + 1] : NULL);
    if (strcmp(action, "check") == 0 && left == 1)
        return schemas_check(ctl, catalogue, argv[optind], subject);
    fprintf(stderr, "placehub-ctl schemas: expected list, show ID|SUBJECT, or check FILE. Try "
                    "--help.\n");
    return CTL_EXIT_USAGE;
}
