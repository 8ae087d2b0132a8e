/*
 * id - queue ids: 16 characters of Crockford base32, time-ordered.
 *
 * Pure: the caller passes the time and 40 random bits. The first 10
 * characters encode the time in milliseconds (so ids sort by arrival, as
 * ULIDs do), the last 6 the random bits. Ids appear in SMTP replies and
 * logs, so the alphabet avoids I, L, O and U.
 */
#ifndef MT_UTIL_ID_H
#define MT_UTIL_ID_H

#include <stdint.h>

#define ID_LEN 16

/* Writes ID_LEN characters and a NUL to out. */
void id_format(char out[ID_LEN + 1], uint64_t now_ms, uint64_t random40);

#endif
