/*
 * jsonw - a fast compact JSON writer for jansson values.
 *
 * Pure. Produces exactly what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
 * produces for the values mailtrigger builds (objects in insertion order,
 * strings as UTF-8 with only '"', '\\' and control characters escaped,
 * integers, reals as "%.17g" with a ".0" added when needed), but copies
 * runs of plain text with one memcpy instead of decoding every code
 * point: an event carries the text, HTML and stripped text of the mail,
 * so for a 100 KB message the string escaping is most of the work
 * (bench/README.md, "Where the time goes"). Strings are taken as they are
 * stored: jansson only holds valid UTF-8 (json_string checks it), so no
 * check is repeated here.
 */
#ifndef MT_UTIL_JSONW_H
#define MT_UTIL_JSONW_H

#include <stddef.h>

#include <jansson.h>

#include "util/buf.h"

/*
 * Appends the compact JSON of v to b. Fails with BUF_TOOBIG (b then holds
 * a truncated prefix the caller must discard) when b's ceiling is hit.
 */
enum buf_status jsonw_append(struct buf *b, const json_t *v);
/* The compact JSON of v, allocated (free()); its length in *len. */
char *jsonw_dump(const json_t *v, size_t *len);

#endif
