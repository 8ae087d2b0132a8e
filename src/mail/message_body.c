/*
 * message_body - the MIME part walk of a parse (body_walk() in
 * message_int.h): text/plain and text/html bodies converted to UTF-8,
 * and attachments with their decoded size and SHA-256.
 *
 * Pure. RFC 2045 6 (transfer encodings; a multipart's may only be 7bit,
 * 8bit or binary, 6.4), RFC 2046 4.1.2 (charset), RFC 2183 (Content-
 * Disposition), RFC 2231 (parameter values, through GMime). A leaf part
 * is a body when it is text/plain or text/html without a filename and
 * not "attachment"; every other leaf, and every message/rfc822 part
 * (whose content is not walked: it is someone else's message), is an
 * attachment.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "message_int.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* Decoded content of a part: mem owns the bytes (data, len). */
struct content {
	GMimeStream *mem;
	const unsigned char *data;
	size_t len;
};

/*
 * Returns a new UTF-8 string of the text in c (bytes in charset cs, or
 * UTF-8 when cs is NULL) with LF line ends; *n gets its length. *cut
 * is set when the input was too long to convert whole.
 */
static char *
text_to_utf8(struct mctx *mc, const struct content *c, const char *cs,
    size_t *n, bool *cut)
{
	struct buf out;
	size_t replaced = 0;
	const char *s = (const char *)c->data;
	size_t len = c->len;

	/* No charset takes more than 4 bytes (UTF-32) to make one byte of
	 * UTF-8: converting more than 4 * lim.text bytes cannot fit. */
	if (len / 4 > mc->lim.text) {
		len = 4 * mc->lim.text;
		*cut = true;
	}
	buf_init(&out, 4 * len + 4096);
	if (!charset_append(&out, s, len, cs, &replaced)) {
		mctx_warn(mc, "unknown_charset", cs);
		replaced = utf8_append(&out, s, len);
	}
	if (replaced > 0)
		mctx_warn(mc, "invalid_utf8_replaced", "body");
	out.len = newlines_to_lf(out.data != NULL ? out.data : "", out.len);
	return buf_steal(&out, n);
}

/* Decodes the part's content (its transfer encoding undone); free
 * with g_object_unref(c->mem). */
static void
content_decode(GMimePart *part, struct content *c)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GByteArray *b;

	c->mem = g_mime_stream_mem_new();
	if (w != NULL)
		g_mime_data_wrapper_write_to_stream(w, c->mem);
	b = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(c->mem));
	c->data = b->data;
	c->len = b->len;
}

/* The raw (still encoded) content of a part, as a new GByteArray. */
static GByteArray *
content_raw(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *src, *mem;
	GByteArray *raw = g_byte_array_new(), *m;

	if (w == NULL || (src = g_mime_data_wrapper_get_stream(w)) == NULL)
		return raw;
	mem = g_mime_stream_mem_new();
	g_mime_stream_reset(src);
	g_mime_stream_write_to_stream(src, mem);
	g_mime_stream_reset(src);
	m = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_byte_array_append(raw, m->data, m->len);
	g_object_unref(mem);
	return raw;
}

static bool
is_b64(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

static bool
is_wsp(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* RFC 2045 6.8: the alphabet, whitespace, and "=" padding only at the
 * end, making whole 4-character quanta. */
static bool
base64_valid(const unsigned char *p, size_t n)
{
	size_t i, chars = 0, pad = 0;

	for (i = 0; i < n; i++) {
		if (is_wsp(p[i]))
			continue;
		if (p[i] == '=')
			pad++;
		else if (!is_b64(p[i]) || pad > 0)
			return false;
		chars++;
	}
	return pad <= 2 && chars % 4 == 0;
}

static bool
is_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F') ||
	    (ch >= 'a' && ch <= 'f');
}

/* RFC 2045 6.7: "=" starts "=XX" (hex) or a soft line break ("=" and
 * optional trailing blanks before the line end). */
static bool
qp_valid(const unsigned char *p, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (p[i] != '=')
			continue;
		if (i + 2 < n && is_hex(p[i + 1]) && is_hex(p[i + 2])) {
			i += 2;
			continue;
		}
		for (j = i + 1; j < n && (p[j] == ' ' || p[j] == '\t'); j++)
			;
		if (j < n && p[j] != '\r' && p[j] != '\n')
			return false;
	}
	return true;
}

/* uuencode (not in RFC 2045, but GMime decodes it): a "begin" line. */
static bool
uu_valid(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 6 <= n; i++)
		if ((i == 0 || p[i - 1] == '\n') &&
		    memcmp(p + i, "begin ", 6) == 0)
			return true;
	return false;
}

/* Warns about a Content-Transfer-Encoding that GMime does not know or
 * content that does not follow its encoding. */
static void
check_encoding(struct mctx *c, GMimePart *part)
{
	const char *cte;
	GMimeContentEncoding enc;
	GByteArray *raw;

	cte = g_mime_object_get_header(GMIME_OBJECT(part),
	    "Content-Transfer-Encoding");
	if (cte == NULL)
		return;
	enc = g_mime_content_encoding_from_string(cte);
	if (enc == GMIME_CONTENT_ENCODING_DEFAULT) {
		mctx_warn(c, "bad_transfer_encoding", cte);
		return;
	}
	if (enc != GMIME_CONTENT_ENCODING_BASE64 &&
	    enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
	    enc != GMIME_CONTENT_ENCODING_UUENCODE)
		return;
	raw = content_raw(part);
	if (enc == GMIME_CONTENT_ENCODING_BASE64 &&
	    !base64_valid(raw->data, raw->len))
		mctx_warn(c, "bad_transfer_encoding", "invalid base64");
	else if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
	    !qp_valid(raw->data, raw->len))
		mctx_warn(c, "bad_transfer_encoding",
		    "invalid quoted-printable");
	else if (enc == GMIME_CONTENT_ENCODING_UUENCODE &&
	    !uu_valid(raw->data, raw->len))
		mctx_warn(c, "bad_transfer_encoding", "invalid uuencode");
	g_byte_array_free(raw, TRUE);
}

/* Returns "type/subtype" of obj in lower case, newly allocated. */
static char *
mime_type_of(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *g, *s;
	size_t i;

	if (ct == NULL)
		return xstrdup("application/octet-stream");
	g = g_mime_content_type_get_mime_type(ct);
	s = message_utf8_clean(g, strlen(g), NULL, NULL);
	g_free(g);
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	return s;
}

static json_t *
json_clean_or_null(const char *s)
{
	char *t;
	json_t *j;
	size_t n;

	if (s == NULL)
		return json_null();
	t = message_utf8_clean(s, strlen(s), &n, NULL);
	j = json_stringn(t, n);
	free(t);
	return j;
}

static void
add_attachment(struct mctx *c, GMimeObject *obj, const char *filename,
    const unsigned char *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	char *type;
	json_t *a;

	if (json_array_size(c->attachments) >= c->lim.attachments) {
		mctx_warn(c, "too_many_attachments", NULL);
		return;
	}
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		mdlen = 0;
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
	type = mime_type_of(obj);
	a = json_object();
	json_object_set_new(a, "filename", json_clean_or_null(filename));
	json_object_set_new(a, "content_type", json_string(type));
	json_object_set_new(a, "disposition",
	    json_clean_or_null(g_mime_object_get_disposition(obj)));
	json_object_set_new(a, "size", json_integer((json_int_t)len));
	json_object_set_new(a, "sha256", json_string(hex));
	json_array_append_new(c->attachments, a);
	free(type);
}

/*
 * A message/rfc822 part: one attachment holding the embedded message as
 * GMime writes it back: for a parsed message, its bytes as received when
 * its header lines end as the input's first line does.
 */
static void
add_message_part(struct mctx *c, GMimeObject *obj)
{
	GMimeMessage *inner = g_mime_message_part_get_message(
	    GMIME_MESSAGE_PART(obj));
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeFormatOptions *fo = g_mime_format_options_new();
	GByteArray *b;
	const char *name;

	g_mime_format_options_set_newline_format(fo,
	    c->crlf ? GMIME_NEWLINE_FORMAT_DOS : GMIME_NEWLINE_FORMAT_UNIX);
	if (inner != NULL)
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), fo, mem);
	g_mime_format_options_free(fo);
	b = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	name = g_mime_object_get_content_disposition_parameter(obj, "filename");
	if (name == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	add_attachment(c, obj, name, b->data, b->len);
	g_object_unref(mem);
}

/* Appends a body to text or html, within lim.text. */
static void
add_body(struct mctx *c, struct buf *to, const char *s, size_t n,
    const char *what, bool cut)
{
	size_t room;

	if (cut)
		mctx_warn(c, what, NULL);
	if (to->len > 0 && to->data[to->len - 1] != '\n' && n > 0)
		buf_putc(to, '\n');
	room = to->max - to->len;
	if (n > room) {
		n = utf8_cut(s, n, room);
		mctx_warn(c, what, NULL);
	}
	buf_append(to, s, n);
}

static bool
is_text_body(GMimeObject *obj, const char *type, const char *filename)
{
	const char *disp = g_mime_object_get_disposition(obj);

	if (filename != NULL)
		return false;
	if (disp != NULL && strcasecmp(disp, "attachment") == 0)
		return false;
	return strcmp(type, "text/plain") == 0 ||
	    strcmp(type, "text/html") == 0;
}

static void
leaf(struct mctx *c, GMimePart *part)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	const char *filename = g_mime_part_get_filename(part);
	char *type = mime_type_of(obj), *text;
	struct content ct;
	size_t n;
	bool cut = false;

	check_encoding(c, part);
	content_decode(part, &ct);
	if (is_text_body(obj, type, filename)) {
		text = text_to_utf8(c, &ct,
		    g_mime_object_get_content_type_parameter(obj, "charset"),
		    &n, &cut);
		if (strcmp(type, "text/html") == 0) {
			add_body(c, &c->html, text, n, "html_truncated", cut);
			c->have_html = true;
		} else {
			add_body(c, &c->text, text, n, "text_truncated", cut);
			c->have_text = true;
		}
		free(text);
	} else
		add_attachment(c, obj, filename, ct.data, ct.len);
	g_object_unref(ct.mem);
	free(type);
}

/* RFC 2045 6.4: a multipart's transfer encoding is 7bit, 8bit or
 * binary; anything else is an error, and the parts are read as they
 * are. */
static void
check_multipart_encoding(struct mctx *c, GMimeObject *obj)
{
	const char *cte = g_mime_object_get_header(obj,
	    "Content-Transfer-Encoding");
	GMimeContentEncoding enc;

	if (cte == NULL)
		return;
	enc = g_mime_content_encoding_from_string(cte);
	if (enc != GMIME_CONTENT_ENCODING_7BIT &&
	    enc != GMIME_CONTENT_ENCODING_8BIT &&
	    enc != GMIME_CONTENT_ENCODING_BINARY)
		mctx_warn(c, "bad_transfer_encoding", cte);
}

void
body_walk(struct mctx *c, GMimeObject *obj, size_t depth)
{
	GMimeMultipart *mp;
	int i, n;

	if (obj == NULL)
		return;
	if (depth >= c->lim.depth) {
		mctx_warn(c, "nesting_too_deep", NULL);
		return;
	}
	if (c->n_parts >= c->lim.parts) {
		mctx_warn(c, "too_many_parts", NULL);
		return;
	}
	c->n_parts++;
	if (GMIME_IS_MULTIPART(obj)) {
		check_multipart_encoding(c, obj);
		mp = GMIME_MULTIPART(obj);
		n = g_mime_multipart_get_count(mp);
		for (i = 0; i < n; i++)
			body_walk(c, g_mime_multipart_get_part(mp, i),
			    depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj))
		add_message_part(c, obj);
	else if (GMIME_IS_PART(obj))
		leaf(c, GMIME_PART(obj));
}
