/*
 * message_int - what the files of the message module share: the parse
 * context and the internal helpers. Private to src/mail/message*.c; the
 * only header outside them that may name GLib or GMime types
 * (ARCHITECTURE.md). Pure, like the module (message.h).
 *
 *   message.c       entry points, limits, warnings, the object
 *   message_header.c  header fields, addresses, date, Message-ID
 *   message_body.c  MIME part walk: bodies, transfer encodings,
 *                   attachments
 *   message_charset.c  charsets to UTF-8, RFC 2047 encoded words
 *   message_html.c  HTML to text (gumbo)
 *   message_text.c  UTF-8 cleaning, line ends, stripped_text
 */
#ifndef MT_MAIL_MESSAGE_INT_H
#define MT_MAIL_MESSAGE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "message.h"
#include "util/buf.h"

/* Longest detail after "code: " in a warning, in bytes. */
#define MSG_WARN_DETAIL_MAX 120

/* One parse. Owns every member; message.c creates and frees it. */
struct mctx {
	struct message_limits lim; /* clamped copy of the caller's */
	GMimeParserOptions *gopts; /* its warning callback points here */
	json_t *warnings;          /* array of "code" / "code: detail" */
	size_t n_parts;            /* MIME parts walked so far */
	struct buf text;           /* text/plain bodies, joined */
	struct buf html;           /* text/html bodies, joined */
	bool have_text, have_html;
	bool crlf;           /* the input's first line ends in CRLF */
	json_t *attachments; /* array of attachment objects */
};

/*
 * Adds the warning "code" or "code: detail" (detail cleaned to UTF-8 and
 * cut to MSG_WARN_DETAIL_MAX bytes; NULL for none) unless it is already
 * listed. When the list is one short of lim.warnings the entry added is
 * "too_many_warnings" and later ones are dropped.
 */
void mctx_warn(struct mctx *c, const char *code, const char *detail);

/* What the header fields give the object. Each member is owned. */
struct fields {
	json_t *message_id, *date, *date_iso, *subject, *from, *reply_to;
	json_t *to, *cc, *headers;
	bool mime_version, content_headers;
};

/*
 * Reads the top-level header fields of msg in the order they were
 * written into fs->headers (within lim.headers and lim.header_value) and
 * fills the fields of fs they give. fs->to, fs->cc and fs->headers must
 * be arrays; the other members start NULL and stay NULL when the message
 * has no such field. Warns "missing_mime_version" when Content-* fields
 * come without MIME-Version (RFC 2045 4).
 */
void headers_read(struct mctx *c, GMimeMessage *msg, struct fields *fs);

/*
 * Walks the MIME tree under obj (the message's top part; NULL is
 * allowed) at nesting depth: appends text/plain and text/html bodies to
 * c->text and c->html and every other leaf, and every message/rfc822
 * part, to c->attachments. Bounded by lim.depth, lim.parts,
 * lim.attachments and lim.text, each with its warning.
 */
void body_walk(struct mctx *c, GMimeObject *obj, size_t depth);

/*
 * Appends s (len bytes in charset cs; NULL means UTF-8) to out as UTF-8,
 * through iconv with GMime's charset aliases. Bytes the charset does not
 * explain become U+FFFD, counted in *replaced. Returns false, appending
 * nothing, when iconv knows no such charset. out must be able to take
 * 4 * len bytes more.
 */
bool charset_append(struct buf *out, const char *s, size_t len, const char *cs,
    size_t *replaced);

/*
 * Returns a new UTF-8 string: s (UTF-8) with its RFC 2047 encoded words
 * decoded. phrase: the result will be parsed as an address list, so
 * decoded text is quoted or escaped to stay one phrase, quoted-string or
 * comment (RFC 2047 5 (2), (3)). Adds the U+FFFD written to *replaced;
 * an unknown charset is a warning and its octets are read as UTF-8.
 */
char *rfc2047_decode(struct mctx *c, const char *s, bool phrase,
    size_t *replaced);

/*
 * Appends s (len bytes, any bytes) to out as UTF-8 (message_utf8_clean()
 * rules). Returns the number of U+FFFD written for bad input. out must be
 * able to take 3 * len bytes more.
 */
size_t utf8_append(struct buf *out, const char *s, size_t len);

/* Returns the largest n <= max such that s[0..n) ends on a UTF-8
 * character boundary (s is len bytes of well-formed UTF-8). */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Rewrites CRLF and lone CR as LF in place; returns the new length. */
size_t newlines_to_lf(char *s, size_t len);

/* ASCII case-insensitive prefix test. */
bool has_prefix_ci(const char *s, const char *prefix);

#endif
