/*
 * status_page.h - the HTML status page of an operations listener
 * (operations.h serves it on /status; status_page.c says what it shows).
 */
#ifndef PLACEHUB_STATUS_PAGE_H
#define PLACEHUB_STATUS_PAGE_H

#include <stddef.h>

/* The page with service's name (plain text, e.g. "placehub-dispatch") in
 * its heading, and its length in *len. Caller frees; NULL when out of
 * memory. */
char *status_page_render(const char *service, size_t *len);

#endif
