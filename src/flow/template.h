/*
 * template - renders `{{path.to.field}}` templates over an event (a
 * jansson object), for http step bodies and URLs and for dedup keys.
 *
 * Pure. The syntax is util/tmpl.h's: no code, no expressions, and values
 * are never expanded again, so a field holding "{{" or '"}' is only text.
 * A path walks objects by key and arrays by decimal index
 * ({{message.to.0.address}}). A value renders as its text (strings), its
 * JSON number, true/false, "" for null, or compact JSON for an object or
 * array; then it is escaped for where it goes:
 *   TEMPLATE_JSON   inside a JSON string: RFC 8259 section 7 escapes;
 *   TEMPLATE_URL    percent-encoded, keeping only RFC 3986 section 2.3
 *                   unreserved characters;
 *   TEMPLATE_PLAIN  as is (dedup keys).
 * A path that names nothing renders as "" and is reported. The output
 * has a ceiling; passing it is TEMPLATE_TOOBIG, never a silent cut.
 * Read docs/flows-rules.md.
 */
#ifndef MT_FLOW_TEMPLATE_H
#define MT_FLOW_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "route/dedup.h"

#define TEMPLATE_OUT_MAX (256 * 1024) /* a sensible ceiling for callers */
#define TEMPLATE_UNKNOWN_MAX 16       /* unknown paths reported, at most */

enum template_mode { TEMPLATE_JSON, TEMPLATE_URL, TEMPLATE_PLAIN };

enum template_status {
	TEMPLATE_OK = 0,
	TEMPLATE_SYNTAX, /* the template is invalid: see err_pos/err */
	TEMPLATE_TOOBIG, /* the output would pass max */
};

struct template_result {
	char *out; /* NUL terminated; NULL unless TEMPLATE_OK */
	size_t len;
	/* Paths that named nothing, as written, each once; n_unknown may
	 * exceed TEMPLATE_UNKNOWN_MAX, only that many are kept. */
	char *unknown[TEMPLATE_UNKNOWN_MAX];
	size_t n_unknown;
	size_t err_pos;  /* TEMPLATE_SYNTAX: byte offset in the template */
	const char *err; /* TEMPLATE_SYNTAX: a message (static) */
};

/*
 * Renders tmpl (len bytes) over event in mode, into at most max bytes.
 * r is filled in every case and must be released with
 * template_result_free().
 */
enum template_status template_render(const char *tmpl, size_t len,
    const json_t *event, enum template_mode mode, size_t max,
    struct template_result *r);
void template_result_free(struct template_result *r);

/* The ceiling on a rendered dedup key. */
#define TEMPLATE_KEY_MAX 4096

/*
 * A trigger's dedup key: tmpl (its dedup.key) rendered in plain mode over
 * event and scoped by dedup_scoped_key(); or the default key
 * (dedup_default_key()) when tmpl is NULL, or renders to "" or past
 * TEMPLATE_KEY_MAX (then *fallback is true: the caller logs it with
 * r's unknown paths). r must be released with template_result_free().
 */
void template_dedup_key(const char *tmpl, const json_t *event,
    const struct dedup_input *in, char out[DEDUP_KEY_SIZE], bool *fallback,
    struct template_result *r);

/* The value at path (len bytes, "a.b.0.c") in event, or NULL. */
const json_t *template_lookup(const json_t *event, const char *path,
    size_t len);

#endif
