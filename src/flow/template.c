/*
 * template - {{path}} rendering with JSON, URL or no escaping.
 *
 * Pure. See template.h. Rendering is one pass over the template's parts
 * (util/tmpl.h): literal text is copied, a placeholder's value is escaped
 * and appended. Values are never scanned for placeholders, which is what
 * makes template injection impossible.
 */
#include "flow/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/tmpl.h"
#include "util/xmalloc.h"

/* An array index: decimal digits only, no sign, no leading zero. */
static bool
parse_index(const char *s, size_t len, size_t *idx)
{
	size_t i, v = 0;

	if (len == 0 || len > 9 || (s[0] == '0' && len > 1))
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*idx = v;
	return true;
}

const json_t *
template_lookup(const json_t *event, const char *path, size_t len)
{
	const json_t *cur = event;
	size_t i = 0, j, idx;

	while (cur != NULL && i <= len) {
		for (j = i; j < len && path[j] != '.'; j++)
			continue;
		if (json_is_object(cur))
			cur = json_object_getn(cur, path + i, j - i);
		else if (json_is_array(cur) &&
		    parse_index(path + i, j - i, &idx))
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
		i = j + 1;
	}
	return cur;
}

/* RFC 8259 section 7: '"', '\\' and controls escaped; the rest as is. */
static enum buf_status
put_json(struct buf *b, const char *s, size_t len)
{
	enum buf_status st = BUF_OK;
	unsigned char c;
	size_t i;

	for (i = 0; i < len && st == BUF_OK; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			st = buf_putc(b, '\\');
			if (st == BUF_OK)
				st = buf_putc(b, (char)c);
		} else if (c == '\n') {
			st = buf_puts(b, "\\n");
		} else if (c == '\r') {
			st = buf_puts(b, "\\r");
		} else if (c == '\t') {
			st = buf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			st = buf_printf(b, "\\u%04x", c);
		} else {
			st = buf_putc(b, (char)c);
		}
	}
	return st;
}

/* RFC 3986 section 2.3 unreserved kept; every other byte as %XX. */
static enum buf_status
put_url(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	enum buf_status st = BUF_OK;
	unsigned char c;
	char pct[3];
	size_t i;

	for (i = 0; i < len && st == BUF_OK; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			st = buf_putc(b, (char)c);
		} else {
			pct[0] = '%';
			pct[1] = hex[c >> 4];
			pct[2] = hex[c & 0xf];
			st = buf_append(b, pct, 3);
		}
	}
	return st;
}

static enum buf_status
put_escaped(struct buf *b, enum template_mode mode, const char *s, size_t len)
{
	switch (mode) {
	case TEMPLATE_JSON:
		return put_json(b, s, len);
	case TEMPLATE_URL:
		return put_url(b, s, len);
	case TEMPLATE_PLAIN:
		break;
	}
	return buf_append(b, s, len);
}

static enum buf_status
put_value(struct buf *b, enum template_mode mode, const json_t *v)
{
	enum buf_status st;
	char *dump;

	if (json_is_string(v))
		return put_escaped(b, mode, json_string_value(v),
		    json_string_length(v));
	if (json_is_null(v))
		return BUF_OK;
	/* Numbers, booleans, objects and arrays: their compact JSON. */
	dump = json_dumps(v,
	    JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	if (dump == NULL)
		abort(); /* out of memory, as the x-wrappers do */
	st = put_escaped(b, mode, dump, strlen(dump));
	free(dump);
	return st;
}

static void
note_unknown(struct template_result *r, const char *path, size_t len)
{
	size_t i,
	    kept = r->n_unknown < TEMPLATE_UNKNOWN_MAX ? r->n_unknown :
							 TEMPLATE_UNKNOWN_MAX;

	for (i = 0; i < kept; i++)
		if (strlen(r->unknown[i]) == len &&
		    memcmp(r->unknown[i], path, len) == 0)
			return;
	if (r->n_unknown < TEMPLATE_UNKNOWN_MAX)
		r->unknown[r->n_unknown] = xstrndup(path, len);
	r->n_unknown++;
}

enum template_status
template_render(const char *tmpl, size_t len, const json_t *event,
    enum template_mode mode, size_t max, struct template_result *r)
{
	struct tmpl_part part;
	struct buf b;
	const json_t *v;
	const char *why;
	size_t pos = 0;
	enum buf_status st = BUF_OK;

	memset(r, 0, sizeof(*r));
	/* The whole template first: a syntax error wins over any size. */
	if (!tmpl_check(tmpl, len, &r->err_pos, &r->err))
		return TEMPLATE_SYNTAX;
	buf_init(&b, max);
	while (st == BUF_OK && tmpl_next(tmpl, len, &pos, &part, &why)) {
		if (!part.field) {
			st = buf_append(&b, part.s, part.len);
			continue;
		}
		v = template_lookup(event, part.s, part.len);
		if (v == NULL)
			note_unknown(r, part.s, part.len);
		else
			st = put_value(&b, mode, v);
	}
	if (st != BUF_OK) {
		buf_free(&b);
		return TEMPLATE_TOOBIG;
	}
	r->out = buf_steal(&b, &r->len);
	return TEMPLATE_OK;
}

void
template_result_free(struct template_result *r)
{
	size_t i,
	    kept = r->n_unknown < TEMPLATE_UNKNOWN_MAX ? r->n_unknown :
							 TEMPLATE_UNKNOWN_MAX;

	for (i = 0; i < kept; i++)
		free(r->unknown[i]);
	free(r->out);
	memset(r, 0, sizeof(*r));
}

void
template_dedup_key(const char *tmpl, const json_t *event,
    const struct dedup_input *in, char out[DEDUP_KEY_SIZE], bool *fallback,
    struct template_result *r)
{
	memset(r, 0, sizeof(*r));
	*fallback = false;
	if (tmpl != NULL &&
	    template_render(tmpl, strlen(tmpl), event, TEMPLATE_PLAIN,
		TEMPLATE_KEY_MAX, r) == TEMPLATE_OK &&
	    r->len > 0) {
		dedup_scoped_key(in, r->out, r->len, out);
		return;
	}
	*fallback = tmpl != NULL;
	dedup_default_key(in, out);
}
