/*
 * units - parse sizes ("25MB", "512", "64k") and durations ("300s", "5m").
 *
 * Pure. Sizes: a decimal integer with an optional unit B, K/KB, M/MB, G/GB
 * (powers of 1024; case-insensitive). Durations: a decimal integer with a
 * unit ms, s, m, h, d; a bare number means seconds. Overflow, empty input,
 * trailing junk and negative numbers are errors.
 */
#ifndef MT_UTIL_UNITS_H
#define MT_UTIL_UNITS_H

#include <stdbool.h>
#include <stdint.h>

/* Returns true and sets *bytes when s is a valid size. */
bool units_parse_size(const char *s, uint64_t *bytes);
/* Returns true and sets *ms when s is a valid duration, in milliseconds. */
bool units_parse_duration(const char *s, uint64_t *ms);

#endif
