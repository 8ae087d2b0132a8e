/*
 * headers - a read-only view of a message's header fields, as the rule
 * modules (extract, autoreply, dedup) take them.
 *
 * Pure. The parser (mail/message) owns the strings; rules only look. A
 * name is compared ASCII case-insensitively (RFC 5322 section 1.2.2); a
 * value is the unfolded, decoded text, valid UTF-8.
 */
#ifndef MT_ROUTE_HEADERS_H
#define MT_ROUTE_HEADERS_H

#include <stddef.h>

struct header_ref {
	const char *name;
	const char *value;
};

/* The first field named name, or NULL when there is none. */
const struct header_ref *headers_find(const struct header_ref *h, size_t n,
    const char *name);

/*
 * Skips RFC 5322 section 3.2.2 CFWS at s: white space and (possibly
 * nested) comments with quoted-pairs. An unclosed comment runs to the
 * end. Returns the first byte after it.
 */
const char *headers_skip_cfws(const char *s);

#endif
