/*
 * message - MIME → the event's "message" object (message.h): the entry
 * points, the limits, the warnings, GMime's parser set up for real mail,
 * and the object put together.
 *
 * Pure. GMime parses; the other message_*.c files turn its tree into
 * JSON: message_header.c the header fields, message_body.c the MIME
 * parts, message_charset.c charsets and RFC 2047, message_html.c text
 * from HTML, message_text.c UTF-8 and stripped_text (message_int.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message_int.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

/* The limits' table: where each lives in the struct and its range. */
static const struct {
	size_t off, def, min, max;
} limit_defs[] = {
#define L(f, P)                                                               \
	{                                                                     \
		offsetof(struct message_limits, f), P##_DEF, P##_MIN, P##_MAX \
	}
	L(depth, MESSAGE_DEPTH),
	L(parts, MESSAGE_PARTS),
	L(attachments, MESSAGE_ATTACHMENTS),
	L(headers, MESSAGE_HEADERS),
	L(header_value, MESSAGE_HEADER_VALUE),
	L(addresses, MESSAGE_ADDRESSES),
	L(text, MESSAGE_TEXT),
	L(html_tags, MESSAGE_HTML_TAGS),
	L(warnings, MESSAGE_WARNINGS),
#undef L
};

static size_t *
limit_at(struct message_limits *l, size_t i)
{
	return (size_t *)((char *)l + limit_defs[i].off);
}

void
message_parse_opts_default(struct message_parse_opts *opts)
{
	size_t i;

	memset(opts, 0, sizeof(*opts));
	for (i = 0; i < NELEM(limit_defs); i++)
		*limit_at(&opts->limits, i) = limit_defs[i].def;
}

static void
limits_clamp(struct message_limits *l)
{
	size_t i, *v;

	for (i = 0; i < NELEM(limit_defs); i++) {
		v = limit_at(l, i);
		if (*v < limit_defs[i].min)
			*v = limit_defs[i].min;
		if (*v > limit_defs[i].max)
			*v = limit_defs[i].max;
	}
}

static bool
warning_listed(json_t *list, const char *w)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_array_get(list, i)), w) == 0)
			return true;
	return false;
}

/* Turns control characters into spaces and trims blanks, in place, so
 * that a warning stays on one line. Returns the new length. */
static size_t
detail_tidy(char *d, size_t n)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++)
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			d[i] = ' ';
	while (n > 0 && d[n - 1] == ' ')
		n--;
	while (start < n && d[start] == ' ')
		start++;
	memmove(d, d + start, n - start);
	d[n - start] = '\0';
	return n - start;
}

void
mctx_warn(struct mctx *c, const char *code, const char *detail)
{
	struct buf b;
	char *d;
	size_t n;

	buf_init(&b, 3 * MSG_WARN_DETAIL_MAX + 64);
	buf_puts(&b, code);
	if (detail != NULL) {
		d = message_utf8_clean(detail, strlen(detail), &n, NULL);
		n = detail_tidy(d, n);
		buf_puts(&b, ": ");
		buf_append(&b, d, utf8_cut(d, n, MSG_WARN_DETAIL_MAX));
		free(d);
	}
	if (!warning_listed(c->warnings, buf_str(&b))) {
		if (json_array_size(c->warnings) + 1 < c->lim.warnings)
			json_array_append_new(c->warnings,
			    json_string(buf_str(&b)));
		else if (!warning_listed(c->warnings, "too_many_warnings"))
			json_array_append_new(c->warnings,
			    json_string("too_many_warnings"));
	}
	buf_free(&b);
}

/*
 * GMime's parser warnings and the codes they become. Not listed:
 * GMIME_WARN_UNENCODED_8BIT_HEADER, as RFC 6532 allows UTF-8 in headers;
 * 8-bit bytes that are not UTF-8 are reported as invalid_utf8_replaced.
 */
static const struct {
	GMimeParserWarning w;
	const char *code;
} gmime_warnings[] = {
	{ GMIME_WARN_DUPLICATED_HEADER, "duplicate_header" },
	{ GMIME_WARN_DUPLICATED_PARAMETER, "duplicate_parameter" },
	{ GMIME_WARN_INVALID_CONTENT_TYPE, "invalid_content_type" },
	{ GMIME_WARN_INVALID_RFC2047_HEADER_VALUE, "invalid_rfc2047" },
	{ GMIME_WARN_MALFORMED_MULTIPART, "malformed_multipart" },
	/* GMime reports a multipart that runs to the end of the input
	 * without its close-delimiter (RFC 2046 5.1.1) as truncated. */
	{ GMIME_WARN_TRUNCATED_MESSAGE, "missing_end_boundary" },
	{ GMIME_WARN_MALFORMED_MESSAGE, "malformed_message" },
	{ GMIME_CRIT_INVALID_HEADER_NAME, "invalid_header_name" },
	{ GMIME_CRIT_CONFLICTING_HEADER, "conflicting_header" },
	{ GMIME_CRIT_CONFLICTING_PARAMETER, "conflicting_parameter" },
	{ GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY, "multipart_without_boundary" },
	{ GMIME_WARN_INVALID_PARAMETER, "invalid_parameter" },
	{ GMIME_WARN_INVALID_ADDRESS_LIST, "invalid_address_list" },
	{ GMIME_CRIT_NESTING_OVERFLOW, "nesting_too_deep" },
	{ GMIME_WARN_PART_WITHOUT_CONTENT, "part_without_content" },
	{ GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT,
	    "part_without_headers_or_content" },
};

static void
gmime_warning_cb(gint64 offset, GMimeParserWarning w, const gchar *item,
    gpointer user_data)
{
	struct mctx *c = user_data;
	size_t i;

	for (i = 0; i < NELEM(gmime_warnings); i++)
		if (gmime_warnings[i].w == w)
			mctx_warn(c, gmime_warnings[i].code, item);
}

static GMimeParserOptions *
gmime_options(struct mctx *c)
{
	static const char *fallback[] = { "UTF-8", NULL };
	GMimeParserOptions *o = g_mime_parser_options_new();

	/* Real mail breaks the RFCs: encoded words inside words, unquoted
	 * specials in names and parameters, local-only addresses. */
	g_mime_parser_options_set_rfc2047_compliance_mode(o,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(o,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(o,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_allow_addresses_without_domain(o, TRUE);
	/* Not the locale's charset: the result must not depend on it. */
	g_mime_parser_options_set_fallback_charsets(o, fallback);
	g_mime_parser_options_set_warning_callback(o, gmime_warning_cb, c);
	return o;
}

/* RFC 5322 2.1 and RFC 5321 2.3.8: lines end in CRLF. */
static void
scan_line_ends(struct mctx *c, const char *d, size_t len)
{
	bool lf = false, cr = false;
	const char *nl = memchr(d, '\n', len);
	size_t i;

	c->crlf = nl != NULL && nl > d && nl[-1] == '\r';
	for (i = 0; i < len && !(lf && cr); i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			lf = true;
		if (d[i] == '\r' && (i + 1 == len || d[i + 1] != '\n'))
			cr = true;
	}
	if (lf)
		mctx_warn(c, "bare_lf", NULL);
	if (cr)
		mctx_warn(c, "bare_cr", NULL);
}

/* Borrowed: returns v, or a new null when v is NULL. */
static json_t *
or_null(json_t *v)
{
	return v != NULL ? v : json_null();
}

/*
 * The bodies are well-formed UTF-8 by construction (text_to_utf8(),
 * utf8_cut(), the HTML and stripped-text helpers), so jansson's own
 * check, a second pass over up to lim.text bytes each, is skipped: it
 * was a quarter of a 100 KB message's parse. fuzz_message loads every
 * result back, which jansson refuses for any ill-formed string.
 */
static json_t *
utf8_json(const char *s, size_t n)
{
	return json_stringn_nocheck(s != NULL ? s : "", n);
}

static json_t *
buf_json(struct buf *b)
{
	return utf8_json(b->data, b->len);
}

/* The text for "text": the text/plain bodies, or the HTML's text. */
static char *
text_of(struct mctx *c, size_t *n)
{
	bool cut = false;
	char *t;

	if (c->have_text || !c->have_html) {
		*n = c->text.len;
		return xstrndup(buf_str(&c->text), c->text.len);
	}
	t = message_html_to_text(buf_str(&c->html), c->html.len, &c->lim, &cut);
	if (cut)
		mctx_warn(c, "text_truncated", "html");
	*n = strlen(t);
	return t;
}

static json_t *
assemble(struct mctx *c, struct fields *fs)
{
	json_t *o = json_object();
	char *text, *stripped;
	size_t n;

	text = text_of(c, &n);
	stripped = message_stripped_text(text, n);
	json_object_set_new(o, "message_id", or_null(fs->message_id));
	json_object_set_new(o, "date", or_null(fs->date));
	json_object_set_new(o, "date_iso", or_null(fs->date_iso));
	json_object_set_new(o, "subject", or_null(fs->subject));
	json_object_set_new(o, "from", or_null(fs->from));
	json_object_set_new(o, "reply_to", or_null(fs->reply_to));
	json_object_set_new(o, "to", fs->to);
	json_object_set_new(o, "cc", fs->cc);
	json_object_set_new(o, "text", utf8_json(text, n));
	json_object_set_new(o, "html",
	    c->have_html ? buf_json(&c->html) : json_null());
	json_object_set_new(o, "stripped_text",
	    utf8_json(stripped, strlen(stripped)));
	json_object_set_new(o, "attachments", c->attachments);
	json_object_set_new(o, "headers", fs->headers);
	json_object_set_new(o, "parse_warnings", c->warnings);
	free(text);
	free(stripped);
	return o;
}

static void
mctx_init(struct mctx *c, const struct message_parse_opts *opts)
{
	struct message_parse_opts def;

	memset(c, 0, sizeof(*c));
	if (opts == NULL) {
		message_parse_opts_default(&def);
		opts = &def;
	}
	c->lim = opts->limits;
	limits_clamp(&c->lim);
	c->warnings = json_array();
	c->attachments = json_array();
	buf_init(&c->text, c->lim.text);
	buf_init(&c->html, c->lim.text);
	c->gopts = gmime_options(c);
}

/*
 * Parses data with GMime. Input that does not start with a header field
 * (a body alone, or garbage) is parsed again after an empty line, as a
 * message with no header fields, so that its text is not lost.
 */
static GMimeMessage *
construct(struct mctx *c, const char *data, size_t len)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	char *again;

	stream = g_mime_stream_mem_new_with_buffer(data, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, c->gopts);
	g_object_unref(parser);
	g_object_unref(stream);
	if (msg != NULL)
		return msg;
	mctx_warn(c, "no_headers", NULL);
	again = xmalloc(len + 2);
	memcpy(again, "\r\n", 2);
	memcpy(again + 2, data, len);
	stream = g_mime_stream_mem_new_with_buffer(again, len + 2);
	free(again);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, c->gopts);
	g_object_unref(parser);
	g_object_unref(stream);
	return msg;
}

/* An mbox "From " separator line (RFC 4155) is not a header field: skip
 * it, so that a message saved from a mailbox parses. */
static size_t
skip_mbox_from(struct mctx *c, const char *data, size_t len)
{
	const char *nl;

	if (len < 5 || memcmp(data, "From ", 5) != 0)
		return 0;
	mctx_warn(c, "mbox_from_line", NULL);
	nl = memchr(data, '\n', len);
	return nl != NULL ? (size_t)(nl - data) + 1 : len;
}

json_t *
message_parse(const char *data, size_t len,
    const struct message_parse_opts *opts)
{
	struct mctx c;
	struct fields fs;
	GMimeMessage *msg;
	json_t *o;
	size_t skip;

	pthread_once(&gmime_once, gmime_start);
	if (data == NULL)
		data = "";
	mctx_init(&c, opts);
	memset(&fs, 0, sizeof(fs));
	fs.to = json_array();
	fs.cc = json_array();
	fs.headers = json_array();
	scan_line_ends(&c, data, len);
	skip = skip_mbox_from(&c, data, len);
	msg = construct(&c, data + skip, len - skip);
	if (msg != NULL) {
		headers_read(&c, msg, &fs);
		body_walk(&c, g_mime_message_get_mime_part(msg), 0);
		g_object_unref(msg);
	}
	o = assemble(&c, &fs);
	g_mime_parser_options_free(c.gopts);
	buf_free(&c.text);
	buf_free(&c.html);
	return o;
}

enum message_status
message_parse_to_json(const char *data, size_t len,
    const struct message_parse_opts *opts, char **json_out)
{
	json_t *wrap = json_object();
	char *s;
	size_t n;

	*json_out = NULL;
	json_object_set_new(wrap, "message", message_parse(data, len, opts));
	s = json_dumps(wrap, JSON_INDENT(2));
	json_decref(wrap);
	if (s == NULL)
		return MESSAGE_ENCODE;
	n = strlen(s);
	*json_out = xmalloc(n + 2);
	memcpy(*json_out, s, n);
	(*json_out)[n] = '\n';
	(*json_out)[n + 1] = '\0';
	free(s);
	return MESSAGE_OK;
}
