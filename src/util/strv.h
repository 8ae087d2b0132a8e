/*
 * strv - counted arrays of heap strings, as config and queue structs hold
 * them (char **v with size_t n).
 *
 * Pure. The array owns its strings.
 */
#ifndef MT_UTIL_STRV_H
#define MT_UTIL_STRV_H

#include <stddef.h>

/* Frees v[0..n-1] and v. NULL is a no-op. */
void strv_free(char **v, size_t n);

#endif
