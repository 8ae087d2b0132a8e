/*
 * extract - runs a trigger's property rules over a message.
 *
 * Pure. See extract.h. A header source uses the first field with that
 * name (RFC 5322 allows several of most fields; the first is the one
 * nearest the author for non-trace fields). A tag source with no tag is
 * absent, as is an empty subject or body that does not match.
 */
#include "route/extract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/regex.h"
#include "util/xmalloc.h"

/* The subject a rule looks at; false when the source is absent. */
static bool
source_text(const struct extract_prop *p, const struct extract_input *in,
    const char **s, size_t *len)
{
	const struct header_ref *h;

	switch (p->from) {
	case EXTRACT_FROM_SUBJECT:
		*s = in->subject;
		*len = in->subject_len;
		break;
	case EXTRACT_FROM_BODY:
		*s = in->text;
		*len = in->text_len;
		break;
	case EXTRACT_FROM_HEADER:
		h = headers_find(in->headers, in->n_headers, p->header);
		*s = h != NULL ? h->value : NULL;
		*len = h != NULL ? strlen(h->value) : 0;
		break;
	case EXTRACT_FROM_TAG:
		*s = in->tag;
		*len = in->tag != NULL ? strlen(in->tag) : 0;
		break;
	}
	return *s != NULL;
}

/* Cuts len to max without splitting a UTF-8 sequence. */
static size_t
cut_utf8(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

static void
set_value(struct extract_value *v, const char *s, size_t len)
{
	size_t cut = cut_utf8(s, len, EXTRACT_VALUE_MAX);

	v->truncated = cut < len;
	v->value = xstrndup(s, cut);
	v->len = cut;
}

static void
run_one(const struct extract_prop *p, const struct extract_input *in,
    struct extract_value *v)
{
	const char *s = NULL;
	size_t len = 0, start = 0, end = 0;
	enum rx_status st = RX_NOMATCH;

	v->name = p->name;
	if (p->rx != NULL && source_text(p, in, &s, &len))
		st = rx_match(p->rx, s, len, &start, &end);
	if (st == RX_MATCH) {
		v->status = EXTRACT_MATCHED;
		set_value(v, s + start, end - start);
		return;
	}
	v->limit = st == RX_LIMIT;
	if (p->def != NULL) {
		v->status = EXTRACT_DEFAULT;
		set_value(v, p->def, strlen(p->def));
	} else {
		v->status = p->required ? EXTRACT_MISSING : EXTRACT_ABSENT;
	}
}

bool
extract_run(const struct extract_prop *props, size_t n,
    const struct extract_input *in, struct extract_result *out)
{
	size_t i, len;

	memset(out, 0, sizeof(*out));
	out->values = xcalloc(n + 1, sizeof(*out->values));
	out->n = n;
	for (i = 0; i < n; i++) {
		run_one(&props[i], in, &out->values[i]);
		if (out->values[i].limit)
			out->n_limit++;
		if (out->values[i].status == EXTRACT_MISSING &&
		    out->reason == NULL) {
			len = strlen(props[i].name) + 32;
			out->reason = xmalloc(len);
			snprintf(out->reason, len, "missing required: %s",
			    props[i].name);
		}
	}
	return out->reason == NULL;
}

void
extract_result_free(struct extract_result *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->values[i].value);
	free(r->values);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

const char *
extract_get(const struct extract_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->values[i].name, name) == 0)
			return r->values[i].value;
	return NULL;
}

const char *
extract_status_name(enum extract_status st)
{
	switch (st) {
	case EXTRACT_MATCHED:
		return "matched";
	case EXTRACT_DEFAULT:
		return "default";
	case EXTRACT_ABSENT:
		return "absent";
	case EXTRACT_MISSING:
		break;
	}
	return "missing";
}
