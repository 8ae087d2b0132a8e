/*
 * fuzz_template - libFuzzer target for {{path}} templates.
 *
 * The first byte picks the mode (JSON, URL, plain) and the output
 * ceiling; the rest is the template, rendered over a fixed event. Checks
 * that rendering never crashes, that tmpl_check() and template_render()
 * agree on validity and error offset, that the output stays under the
 * ceiling, and that JSON-mode output placed in a JSON string always
 * parses back (no escaping mistake can break out of the string).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow/template.h"
#include "util/tmpl.h"

static json_t *event;

static void
check_json_string(const char *s, size_t len)
{
	json_error_t err;
	json_t *j;
	char *doc = malloc(len + 3);

	if (doc == NULL)
		abort();
	doc[0] = '"';
	memcpy(doc + 1, s, len);
	doc[len + 1] = '"';
	doc[len + 2] = '\0';
	j = json_loadb(doc, len + 2, JSON_DECODE_ANY, &err);
	/* Literal template text may hold anything; only whole-value
	 * templates are checked (see the caller). */
	if (j == NULL)
		abort();
	json_decref(j);
	free(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template_result r;
	enum template_status st;
	enum template_mode mode;
	const char *why, *t = (const char *)data + 1;
	size_t pos, len, max;
	bool ok;

	if (event == NULL)
		event =
		    json_loads("{\"s\":\"a\\\"}{{s}}\\\\\\n\\u0001\\u00e9\","
			       "\"n\":5,\"a\":[{\"x\":\"y\"},null,true],"
			       "\"o\":{\"k\":\"v\"}}",
			0, NULL);
	if (size == 0 || event == NULL)
		return 0;
	mode = (enum template_mode)(data[0] % 3);
	max = (size_t)(data[0] >> 2) * 64 + 1;
	len = size - 1;
	ok = tmpl_check(t, len, &pos, &why);
	st = template_render(t, len, event, mode, max, &r);
	if (ok != (st != TEMPLATE_SYNTAX))
		abort();
	if (!ok && r.err_pos != pos)
		abort();
	if (st == TEMPLATE_OK && (r.out == NULL || r.len > max))
		abort();
	template_result_free(&r);
	/* A template that is one placeholder: its JSON escaping must be a
	 * valid JSON string body. */
	if (ok && len > 4 && t[0] == '{' && t[1] == '{' &&
	    memchr(t + 2, '{', len - 2) == NULL &&
	    template_render(t, len, event, TEMPLATE_JSON, 4096, &r) ==
		TEMPLATE_OK &&
	    memchr(t, '}', len - 2) == t + len - 2)
		check_json_string(r.out, r.len);
	template_result_free(&r);
	return 0;
}
