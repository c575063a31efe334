/*
 * output.c - what placehub-ctl prints: aligned tables for people, one JSON
 * document per line for scripts (see ctl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct table {
    size_t columns;
    char **cells; /* rows * columns, the headings first */
    size_t rows;
};

struct table *table_new(size_t columns, const char *const *headings)
{
    struct table *table = calloc(1, sizeof *table);
    if (!table)
        return NULL;
    table->columns = columns;
    table_add(table, headings);
    return table;
}

void table_add(struct table *table, const char *const *cells)
{
    if (!table)
        return;
    char **grown = realloc(table->cells, (table->rows + 1) * table->columns * sizeof *grown);
    if (!grown)
        return;
    table->cells = grown;
    for (size_t c = 0; c < table->columns; c++)
        table->cells[table->rows * table->columns + c] = strdup(cells[c] ? cells[c] : "-");
    table->rows++;
}

void table_print(struct table *table, FILE *out)
{
    if (!table)
        return;
    size_t *widths = calloc(table->columns, sizeof *widths);
    for (size_t r = 0; r < table->rows && widths; r++)
        for (size_t c = 0; c < table->columns; c++) {
            const char *cell = table->cells[r * table->columns + c];
            size_t len = cell ? strlen(cell) : 0;
            if (len > widths[c])
                widths[c] = len;
        }
    for (size_t r = 0; r < table->rows && widths; r++) {
        for (size_t c = 0; c < table->columns; c++) {
            const char *cell = table->cells[r * table->columns + c];
            if (c + 1 == table->columns)
                fprintf(out, "%s\n", cell ? cell : "");
            else
                fprintf(out, "%-*s  ", (int)widths[c], cell ? cell : "");
        }
    }
    for (size_t i = 0; i < table->rows * table->columns; i++)
        free(table->cells[i]);
    free(table->cells);
    free(widths);
    free(table);
}

void output_json_line(json_t *json)
{
    if (!json)
        return;
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text)
        puts(text);
    free(text);
    json_decref(json);
}
