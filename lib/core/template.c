/*
 * template.c - {placeholder} templates (see template.h): parsing into
 * literal and placeholder parts, rendering through the caller's value
 * function, and walking a JSON template's strings for their placeholders.
 * The caller decides what a name means and how a value is encoded (URL,
 * form, header, JSON): this file knows only the syntax.
 */
#include "core/template.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int template_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* A dotted path: segments of name characters, single dots between. */
static int template_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > TEMPLATE_NAME_MAX || name[0] == '.' || name[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (name[i + 1] == '.')
                return 0;
        } else if (!template_name_char(name[i])) {
            return 0;
        }
    }
    return 1;
}

static int template_add(struct template *template, const char *text, size_t len, int is_name)
{
    struct template_part *parts =
        realloc(template->parts, (template->count + 1) * sizeof *template->parts);
    if (!parts)
        return -1;
    template->parts = parts;
    char *copy = strndup(text, len);
    if (!copy)
        return -1;
    parts[template->count].text = copy;
    parts[template->count].is_name = is_name;
    template->count++;
    return 0;
}

/* Adds the literal text gathered in literal (if any) as one part. */
static int template_flush(struct template *template, struct text *literal)
{
    if (literal->failed)
        return -1;
    if (literal->len == 0)
        return 0;
    int rc = template_add(template, literal->data, literal->len, 0);
    literal->len = 0;
    return rc;
}

int template_parse(const char *text, struct template *template, char *errstr, size_t errstr_size)
{
    struct text literal = {0};
    memset(template, 0, sizeof *template);
    size_t i = 0;
    while (text[i]) {
        if ((text[i] == '{' && text[i + 1] == '{') || (text[i] == '}' && text[i + 1] == '}')) {
            text_append(&literal, text + i, 1);
            i += 2;
            continue;
        }
        if (text[i] == '}') {
            snprintf(errstr, errstr_size,
                     "'}' at position %zu closes nothing; write }} for a literal brace", i + 1);
            goto fail;
        }
        if (text[i] != '{') {
            text_append(&literal, text + i, 1);
            i++;
            continue;
        }
        size_t len = strcspn(text + i + 1, "{}");
        if (text[i + 1 + len] != '}') {
            snprintf(errstr, errstr_size,
                     "'{' at position %zu is never closed; write {{ for a literal brace", i + 1);
            goto fail;
        }
        if (!template_name_valid(text + i + 1, len)) {
            snprintf(errstr, errstr_size,
                     "placeholder {%.*s} at position %zu is not a field name or dotted path "
                     "(letters, digits, '_', '-', single dots; at most %d bytes)",
                     (int)(len > 64 ? 64 : len), text + i + 1, i + 1, TEMPLATE_NAME_MAX);
            goto fail;
        }
        if (template_flush(template, &literal) != 0 ||
            template_add(template, text + i + 1, len, 1) != 0)
            goto oom;
        i += len + 2;
    }
    if (template_flush(template, &literal) != 0)
        goto oom;
    free(literal.data);
    return 0;
oom:
    snprintf(errstr, errstr_size, "out of memory");
fail:
    free(literal.data);
    template_free(template);
    return -1;
}

void template_free(struct template *template)
{
    for (size_t i = 0; i < template->count; i++)
        free(template->parts[i].text);
    free(template->parts);
    template->parts = NULL;
    template->count = 0;
}

int template_is_single(const struct template *template)
{
    return template->count == 1 && template->parts[0].is_name;
}

size_t template_name_count(const struct template *template)
{
    size_t count = 0;
    for (size_t i = 0; i < template->count; i++)
        count += (size_t) template->parts[i].is_name;
    return count;
}

int template_render(const struct template *template, struct text *out,
                    int (*value)(void *arg, const char *name, struct text *out), void *arg)
{
    for (size_t i = 0; i < template->count; i++) {
        const struct template_part *part = &template->parts[i];
        if (!part->is_name)
            text_append(out, part->text, strlen(part->text));
        else if (value(arg, part->text, out) != 0)
            return -1;
    }
    return out->failed ? -1 : 0;
}

static int template_json_walk(const json_t *json, struct text *path,
                              int (*each)(void *arg, const char *name, const char *path), void *arg,
                              char *errstr, size_t errstr_size)
{
    size_t mark = path->len;
    if (json_is_string(json)) {
        struct template template;
        char problem[256];
        if (template_parse(json_string_value(json), &template, problem, sizeof problem) != 0) {
            snprintf(errstr, errstr_size, "%s%s%s", path->len ? path->data : "",
                     path->len ? ": " : "", problem);
            return -1;
        }
        int rc = 0;
        for (size_t i = 0; i < template.count && rc == 0; i++)
            if (template.parts[i].is_name)
                rc = each(arg, template.parts[i].text, path->len ? path->data : "");
        template_free(&template);
        return rc;
    }
    if (json_is_object(json)) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)json, key, value)
        {
            if (path->len)
                text_append(path, ".", 1);
            text_append(path, key, strlen(key));
            if (path->failed)
                return -1;
            int rc = template_json_walk(value, path, each, arg, errstr, errstr_size);
            path->len = mark;
            path->data[mark] = '\0';
            if (rc != 0)
                return rc;
        }
    } else if (json_is_array(json)) {
        size_t index;
        json_t *value;
        json_array_foreach(json, index, value)
        {
            char step[32];
            int n = snprintf(step, sizeof step, "[%zu]", index);
            text_append(path, step, (size_t)n);
            if (path->failed)
                return -1;
            int rc = template_json_walk(value, path, each, arg, errstr, errstr_size);
            path->len = mark;
            path->data[mark] = '\0';
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int template_json_names(const json_t *json,
                        int (*each)(void *arg, const char *name, const char *path), void *arg,
                        char *errstr, size_t errstr_size)
{
    struct text path = {0};
    if (errstr_size)
        errstr[0] = '\0';
    int rc = template_json_walk(json, &path, each, arg, errstr, errstr_size);
    if (path.failed && errstr[0] == '\0')
        snprintf(errstr, errstr_size, "out of memory");
    free(path.data);
    return rc;
}

json_t *template_lookup(const json_t *json, const char *path)
{
    char step[TEMPLATE_NAME_MAX + 1];
    while (json && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof step || !json_is_object(json))
            return NULL;
        memcpy(step, path, len);
        step[len] = '\0';
        json = json_object_get(json, step);
        path += len + (path[len] == '.');
    }
    return (json_t *)json;
}

const char *template_scalar_text(const json_t *value, char *out, size_t out_size)
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_integer(value))
        snprintf(out, out_size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    else if (json_is_real(value))
        snprintf(out, out_size, "%.17g", json_real_value(value));
    else if (json_is_boolean(value))
        snprintf(out, out_size, "%s", json_is_true(value) ? "true" : "false");
    else
        return NULL;
    return out;
}

void template_append_percent(struct text *out, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            text_append(out, (const char *)c, 1);
        } else {
            char escaped[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            text_append(out, escaped, 3);
        }
    }
}

/* template_render_json's walk; *failed set once anything failed. */
static json_t *template_render_node(const json_t *node,
                                    json_t *(*string)(void *arg, const char *text, int *failed),
                                    void *arg, int *failed)
{
    if (json_is_string(node))
        return string(arg, json_string_value(node), failed);
    if (!json_is_object(node) && !json_is_array(node))
        return json_deep_copy(node);
    json_t *out = json_is_object(node) ? json_object() : json_array();
    const char *key;
    size_t index;
    json_t *value;
    if (json_is_object(node)) {
        json_object_foreach((json_t *)node, key, value)
        {
            json_t *item = template_render_node(value, string, arg, failed);
            if (item && json_object_set_new(out, key, item) != 0)
                *failed = 1;
        }
    } else {
        json_array_foreach(node, index, value)
        {
            json_t *item = template_render_node(value, string, arg, failed);
            if (item && json_array_append_new(out, item) != 0)
                *failed = 1;
        }
    }
    if (!out || *failed) {
        json_decref(out);
        *failed = 1;
        return NULL;
    }
    return out;
}

json_t *template_render_json(const json_t *node,
                             json_t *(*string)(void *arg, const char *text, int *failed), void *arg)
{
    int failed = 0;
    json_t *out = template_render_node(node, string, arg, &failed);
    if (failed) {
        json_decref(out);
        return NULL;
    }
    return out;
}
