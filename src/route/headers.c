/*
 * headers - lookups over a header_ref list and RFC 5322 CFWS skipping.
 *
 * Pure. See headers.h.
 */
#include "route/headers.h"

#include <strings.h>

const struct header_ref *
headers_find(const struct header_ref *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (h[i].name != NULL && h[i].value != NULL &&
		    strcasecmp(h[i].name, name) == 0)
			return &h[i];
	return NULL;
}

/* s points at '('; returns the byte after the matching ')'. */
static const char *
skip_comment(const char *s)
{
	unsigned depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '(')
			depth++;
		else if (*s == ')' && --depth == 0)
			return s + 1;
	}
	return s;
}

const char *
headers_skip_cfws(const char *s)
{
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (*s != '(')
			return s;
		s = skip_comment(s);
	}
}
