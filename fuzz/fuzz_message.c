/*
 * fuzz_message - libFuzzer target for MIME → the event's "message"
 * object (src/mail/message.h).
 *
 * Parses the input twice, with the default limits and with tiny ones, and
 * aborts when an invariant breaks:
 *   - a parse always gives an object with every field of docs/event.md,
 *     each of its type; it serialises, and the JSON parses back equal
 *     (so every string is well-formed UTF-8: jansson refuses any other);
 *   - no list is longer than its limit, no text or header value longer
 *     than its limit, and "parse_warnings" names "too_many_warnings" last
 *     when it is full;
 *   - each attachment has a 64-digit lower-case hex sha256 and a size;
 *   - stripped_text is no longer than text;
 *   - the HTML-to-text and stripped_text helpers, run on the raw input,
 *     return well-formed UTF-8 within their limits.
 * Seeds: scripts/run-fuzzers passes ../shared/corpus/email/ (the public
 * e-mail corpus, 199 messages; see its SOURCES.md) and fuzz/corpus/message/
 * when it exists.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mail/message.h"

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_message: invariant broken: %s\n", what);
		abort();
	}
}

static const char *const string_or_null[] = { "message_id", "date", "date_iso",
	"subject", "html" };
static const char *const mailbox_or_null[] = { "from", "reply_to" };
static const char *const arrays[] = { "to", "cc", "attachments", "headers",
	"parse_warnings" };

static void
check_mailbox(json_t *m)
{
	check(json_is_object(m), "mailbox not an object");
	check(json_is_string(json_object_get(m, "name")), "mailbox name");
	check(json_is_string(json_object_get(m, "address")), "mailbox address");
}

static void
check_attachment(json_t *a)
{
	const char *h = json_string_value(json_object_get(a, "sha256"));
	size_t i;

	check(json_is_object(a), "attachment not an object");
	check(h != NULL && strlen(h) == 64, "sha256 not 64 digits");
	for (i = 0; i < 64; i++)
		check((h[i] >= '0' && h[i] <= '9') ||
			(h[i] >= 'a' && h[i] <= 'f'),
		    "sha256 not lower-case hex");
	check(json_is_integer(json_object_get(a, "size")), "size");
	check(json_is_string(json_object_get(a, "content_type")),
	    "content_type");
}

static void
check_shape(json_t *m, const struct message_limits *lim)
{
	json_t *v, *w;
	size_t i, n;

	check(json_is_object(m), "not an object");
	for (i = 0; i < sizeof(string_or_null) / sizeof(*string_or_null); i++) {
		v = json_object_get(m, string_or_null[i]);
		check(json_is_string(v) || json_is_null(v), string_or_null[i]);
	}
	for (i = 0; i < sizeof(mailbox_or_null) / sizeof(*mailbox_or_null);
	     i++) {
		v = json_object_get(m, mailbox_or_null[i]);
		if (!json_is_null(v))
			check_mailbox(v);
	}
	for (i = 0; i < sizeof(arrays) / sizeof(*arrays); i++)
		check(json_is_array(json_object_get(m, arrays[i])), arrays[i]);
	check(json_array_size(json_object_get(m, "to")) <= lim->addresses,
	    "too many to");
	json_array_foreach(json_object_get(m, "to"), i, v) check_mailbox(v);
	json_array_foreach(json_object_get(m, "attachments"), i, v)
	    check_attachment(v);
	check(json_array_size(json_object_get(m, "attachments")) <=
		lim->attachments,
	    "too many attachments");
	check(json_array_size(json_object_get(m, "headers")) <= lim->headers,
	    "too many headers");
	json_array_foreach(json_object_get(m, "headers"), i, v)
	    check(json_string_length(json_object_get(v, "value")) <=
		    lim->header_value,
		"header value over its limit");
	w = json_object_get(m, "parse_warnings");
	n = json_array_size(w);
	check(n <= lim->warnings, "too many warnings");
	if (n == lim->warnings)
		check(strcmp(json_string_value(json_array_get(w, n - 1)),
			  "too_many_warnings") == 0,
		    "full warnings without too_many_warnings");
	v = json_object_get(m, "text");
	check(json_is_string(v) && json_string_length(v) <= lim->text, "text");
	check(json_string_length(json_object_get(m, "stripped_text")) <=
		json_string_length(v),
	    "stripped_text longer than text");
	v = json_object_get(m, "html");
	check(json_is_null(v) || json_string_length(v) <= lim->text, "html");
}

/* Serialise and parse back: jansson loads only well-formed UTF-8. */
static void
check_roundtrip(json_t *m)
{
	char *s = json_dumps(m, JSON_COMPACT);
	json_t *back;
	json_error_t err;

	check(s != NULL, "does not serialise");
	back = json_loads(s, 0, &err);
	check(back != NULL, "JSON does not load back (bad UTF-8?)");
	check(json_equal(back, m), "JSON loads back different");
	json_decref(back);
	free(s);
}

static void
check_utf8(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);

	check(j != NULL, "helper output is not UTF-8");
	json_decref(j);
}

static void
parse_and_check(const uint8_t *data, size_t size,
    const struct message_parse_opts *o)
{
	json_t *m = message_parse((const char *)data, size, o);

	check(m != NULL, "NULL object");
	check_shape(m, &o->limits);
	check_roundtrip(m);
	json_decref(m);
}

static void
helpers(const uint8_t *data, size_t size, const struct message_limits *lim)
{
	char *clean, *t, *s;
	size_t n;
	bool cut;

	clean = message_utf8_clean((const char *)data, size, &n, NULL);
	check_utf8(clean, n);
	t = message_html_to_text(clean, n, lim, &cut);
	check(strlen(t) <= lim->text, "html text over its limit");
	check_utf8(t, strlen(t));
	s = message_stripped_text(clean, n);
	check(strlen(s) <= n, "stripped longer than input");
	check_utf8(s, strlen(s));
	free(s);
	free(t);
	free(clean);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message_parse_opts o, tiny;

	message_parse_opts_default(&o);
	parse_and_check(data, size, &o);
	tiny.limits = (struct message_limits){ .depth = 2,
		.parts = 4,
		.attachments = 1,
		.headers = 3,
		.header_value = MESSAGE_HEADER_VALUE_MIN,
		.addresses = 1,
		.text = MESSAGE_TEXT_MIN,
		.html_tags = MESSAGE_HTML_TAGS_MIN,
		.warnings = 3 };
	parse_and_check(data, size, &tiny);
	helpers(data, size, &tiny.limits);
	return 0;
}
