/*
 * jsonw - a fast compact JSON writer for jansson values (see jsonw.h).
 *
 * The output is byte for byte what jansson's json_dumps() gives with
 * JSON_COMPACT (tests/unit/test_jsonw.c compares the two over the email
 * corpus and over every control character): '"' and '\\' escaped, the
 * usual short escapes, other characters below 0x20 as \u00XX (upper-case
 * hex, as jansson), everything else, UTF-8 included, copied as is.
 * Reals, rare in an event, are handed to jansson itself so its number
 * formatting is not re-implemented.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonw.h"

/* true for the bytes JSON needs escaped (RFC 8259 section 7). */
static bool
needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

static enum buf_status
put_escape(struct buf *b, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char seq[7] = { '\\', 'u', '0', '0', 0, 0, 0 };

	switch (c) {
	case '"':
		return buf_append(b, "\\\"", 2);
	case '\\':
		return buf_append(b, "\\\\", 2);
	case '\b':
		return buf_append(b, "\\b", 2);
	case '\f':
		return buf_append(b, "\\f", 2);
	case '\n':
		return buf_append(b, "\\n", 2);
	case '\r':
		return buf_append(b, "\\r", 2);
	case '\t':
		return buf_append(b, "\\t", 2);
	default:
		seq[4] = hex[c >> 4];
		seq[5] = hex[c & 0xf];
		return buf_append(b, seq, 6);
	}
}

/* A JSON string: plain runs are copied whole, between escapes. */
static enum buf_status
put_string(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run;

	if (buf_putc(b, '"') != BUF_OK)
		return BUF_TOOBIG;
	while (i < len) {
		run = i;
		while (run < len && !needs_escape(p[run]))
			run++;
		if (run > i && buf_append(b, s + i, run - i) != BUF_OK)
			return BUF_TOOBIG;
		if (run < len && put_escape(b, p[run]) != BUF_OK)
			return BUF_TOOBIG;
		i = run + 1;
	}
	return buf_putc(b, '"');
}

static enum buf_status
put_object(struct buf *b, const json_t *o)
{
	void *it = json_object_iter((json_t *)o);
	bool first = true;

	if (buf_putc(b, '{') != BUF_OK)
		return BUF_TOOBIG;
	for (; it != NULL; it = json_object_iter_next((json_t *)o, it)) {
		if (!first && buf_putc(b, ',') != BUF_OK)
			return BUF_TOOBIG;
		first = false;
		if (put_string(b, json_object_iter_key(it),
			json_object_iter_key_len(it)) != BUF_OK ||
		    buf_putc(b, ':') != BUF_OK ||
		    jsonw_append(b, json_object_iter_value(it)) != BUF_OK)
			return BUF_TOOBIG;
	}
	return buf_putc(b, '}');
}

static enum buf_status
put_array(struct buf *b, const json_t *a)
{
	size_t i;

	if (buf_putc(b, '[') != BUF_OK)
		return BUF_TOOBIG;
	for (i = 0; i < json_array_size(a); i++) {
		if (i > 0 && buf_putc(b, ',') != BUF_OK)
			return BUF_TOOBIG;
		if (jsonw_append(b, json_array_get(a, i)) != BUF_OK)
			return BUF_TOOBIG;
	}
	return buf_putc(b, ']');
}

/* Reals as jansson writes them (its "%.17g" rules), from jansson. */
static enum buf_status
put_real(struct buf *b, const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	enum buf_status st;

	if (text == NULL)
		abort(); /* jansson's allocation failed: as xmalloc */
	st = buf_puts(b, text);
	free(text);
	return st;
}

enum buf_status
jsonw_append(struct buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(b, v);
	case JSON_ARRAY:
		return put_array(b, v);
	case JSON_STRING:
		return put_string(b, json_string_value(v),
		    json_string_length(v));
	case JSON_INTEGER:
		return buf_printf(b, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	case JSON_REAL:
		return put_real(b, v);
	case JSON_TRUE:
		return buf_append(b, "true", 4);
	case JSON_FALSE:
		return buf_append(b, "false", 5);
	case JSON_NULL:
		break;
	}
	return buf_append(b, "null", 4);
}

char *
jsonw_dump(const json_t *v, size_t *len)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	(void)jsonw_append(&b, v); /* no ceiling: cannot fail */
	return buf_steal(&b, len);
}
