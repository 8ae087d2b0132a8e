/*
 * xmalloc - allocation wrappers that abort on failure.
 *
 * Pure. Allocation failure is not a condition mailtrigger tries to survive
 * (as OpenSMTPD util.c and Postfix mymalloc.c): every x-function either
 * returns memory or aborts with a message. free(NULL) is a no-op, so plain
 * free() releases what these return.
 */
#ifndef MT_UTIL_XMALLOC_H
#define MT_UTIL_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a copy of len bytes of p (need not be NUL terminated). */
void *xmemdup(const void *p, size_t len);

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
