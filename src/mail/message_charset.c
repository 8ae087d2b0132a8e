/*
 * message_charset - charsets to UTF-8 (iconv, with GMime's table of
 * charset aliases) and RFC 2047 encoded words in header fields.
 *
 * Pure. RFC 2047 is decoded here rather than by GMime so that adjacent
 * encoded words of one charset are joined before conversion (6.2: the
 * whitespace between them is ignored) even when a sender split a
 * multi-byte character between two base64 words, and so that bytes no
 * charset explains become U+FFFD (with a warning), never "?". Loose, as
 * real mail needs: encoded words are also decoded inside words, quoted
 * strings and comments, and the length limit of 2 is not enforced.
 */
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "message_int.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define REPLACEMENT "\xef\xbf\xbd"

/* Whether cs names UTF-8 or one of its subsets (US-ASCII). */
static bool
is_utf8_charset(const char *cs)
{
	static const char *const names[] = { "utf-8", "utf8", "us-ascii",
		"ascii", "ansi_x3.4-1968", "iso646-us" };
	size_t i;

	for (i = 0; i < NELEM(names); i++)
		if (strcasecmp(cs, names[i]) == 0)
			return true;
	return false;
}

/* Converts through an open iconv descriptor; see charset_append(). */
static size_t
iconv_run(iconv_t cd, struct buf *out, const char *s, size_t len)
{
	char tmp[4096], *in = (char *)s, *o;
	size_t inleft = len, oleft, r, replaced = 0;

	for (;;) {
		o = tmp;
		oleft = sizeof(tmp);
		r = iconv(cd, &in, &inleft, &o, &oleft);
		replaced += utf8_append(out, tmp, sizeof(tmp) - oleft);
		if (r != (size_t)-1 || inleft == 0)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ: a byte sequence invalid in the charset; EINVAL:
		 * one cut off by the end of the input. */
		buf_append(out, REPLACEMENT, 3);
		replaced++;
		if (errno == EINVAL)
			break;
		in++;
		inleft--;
	}
	/* Return stateful charsets (ISO-2022-JP) to their initial shift
	 * state and write what that takes. */
	o = tmp;
	oleft = sizeof(tmp);
	iconv(cd, NULL, NULL, &o, &oleft);
	replaced += utf8_append(out, tmp, sizeof(tmp) - oleft);
	return replaced;
}

bool
charset_append(struct buf *out, const char *s, size_t len, const char *cs,
    size_t *replaced)
{
	iconv_t cd;

	if (cs == NULL || is_utf8_charset(cs)) {
		*replaced += utf8_append(out, s, len);
		return true;
	}
	cd = g_mime_iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1)
		return false;
	*replaced += iconv_run(cd, out, s, len);
	g_mime_iconv_close(cd);
	return true;
}

/* One encoded word (RFC 2047 2): "=?" charset ["*" lang] "?" B|Q "?"
 * encoded-text "?=". */
struct eword {
	char charset[64];
	char enc;         /* 'B' or 'Q' */
	const char *text; /* encoded-text */
	size_t tlen;
	size_t len; /* of the whole word */
};

static bool
eword_parse(const char *s, struct eword *w)
{
	size_t i = 2, n = 0;

	if (s[0] != '=' || s[1] != '?')
		return false;
	for (; s[i] != '\0' && s[i] != '?'; i++) {
		if (s[i] == ' ' || s[i] == '\t' || n + 1 >= sizeof(w->charset))
			return false;
		w->charset[n++] = s[i];
	}
	w->charset[n] = '\0';
	/* RFC 2231 5: a language after "*" is dropped. */
	w->charset[strcspn(w->charset, "*")] = '\0';
	if (w->charset[0] == '\0' || s[i] != '?' || s[i + 1] == '\0' ||
	    strchr("BbQq", s[i + 1]) == NULL || s[i + 2] != '?')
		return false;
	w->enc = (char)(s[i + 1] == 'b' || s[i + 1] == 'B' ? 'B' : 'Q');
	w->text = s + i + 3;
	for (n = 0; w->text[n] != '?'; n++)
		if (w->text[n] == '\0' || w->text[n] == ' ' ||
		    w->text[n] == '\t')
			return false;
	if (w->text[n + 1] != '=')
		return false;
	w->tlen = n;
	w->len = i + 3 + n + 2;
	return true;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static int
b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Appends the octets of an encoded word's text (RFC 2047 4.1, 4.2). */
static void
eword_octets(const struct eword *w, struct buf *to)
{
	unsigned acc = 0, bits = 0;
	size_t i;
	int v;

	for (i = 0; i < w->tlen; i++) {
		if (w->enc == 'Q') {
			if (w->text[i] == '_')
				buf_putc(to, ' ');
			else if (w->text[i] == '=' && i + 2 < w->tlen &&
			    hexval(w->text[i + 1]) >= 0 &&
			    hexval(w->text[i + 2]) >= 0) {
				buf_putc(to,
				    (char)(hexval(w->text[i + 1]) * 16 +
					hexval(w->text[i + 2])));
				i += 2;
			} else
				buf_putc(to, w->text[i]);
			continue;
		}
		if (w->text[i] == '=')
			break;
		if ((v = b64val(w->text[i])) < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(to, (char)((acc >> bits) & 0xff));
		}
	}
}

/* The decoder's state: decoded octets waiting for conversion, and where
 * in an address field's syntax the output is. */
struct dec {
	struct mctx *c;
	bool phrase;         /* output is re-parsed as an address list */
	struct buf out;      /* UTF-8 */
	struct buf octets;   /* decoded, in charset */
	char charset[64];    /* of octets */
	bool quoted, escape; /* in a quoted-string; after a backslash */
	size_t comment;      /* comment depth */
	size_t replaced;
};

/* Appends converted text, escaped so that an address parser reads it
 * back as the same characters (RFC 5322 3.2.4, 3.2.2). */
static void
put_decoded(struct dec *d, const char *s, size_t n)
{
	bool wrap = d->phrase && !d->quoted && d->comment == 0;
	size_t i;

	if (!d->phrase) {
		buf_append(&d->out, s, n);
		return;
	}
	if (wrap)
		buf_putc(&d->out, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '\\' || (s[i] == '"' && d->comment == 0) ||
		    ((s[i] == '(' || s[i] == ')') && d->comment > 0))
			buf_putc(&d->out, '\\');
		buf_putc(&d->out, s[i]);
	}
	if (wrap)
		buf_putc(&d->out, '"');
}

static void
flush(struct dec *d)
{
	struct buf conv;

	if (d->octets.len == 0)
		return;
	buf_init(&conv, 4 * d->octets.len + 16);
	if (!charset_append(&conv, buf_str(&d->octets), d->octets.len,
		d->charset, &d->replaced)) {
		mctx_warn(d->c, "unknown_charset", d->charset);
		d->replaced += utf8_append(&conv, buf_str(&d->octets),
		    d->octets.len);
	}
	put_decoded(d, buf_str(&conv), conv.len);
	buf_free(&conv);
	buf_reset(&d->octets);
}

static void
literal(struct dec *d, char ch)
{
	buf_putc(&d->out, ch);
	if (d->escape)
		d->escape = false;
	else if (ch == '\\' && (d->quoted || d->comment > 0))
		d->escape = true;
	else if (ch == '"' && d->comment == 0)
		d->quoted = !d->quoted;
	else if (ch == '(' && !d->quoted)
		d->comment++;
	else if (ch == ')' && !d->quoted && d->comment > 0)
		d->comment--;
}

char *
rfc2047_decode(struct mctx *c, const char *s, bool phrase, size_t *replaced)
{
	struct dec d;
	struct eword w, next;
	size_t i = 0, j, len = strlen(s);

	memset(&d, 0, sizeof(d));
	d.c = c;
	d.phrase = phrase;
	buf_init(&d.out, 8 * len + 16);
	buf_init(&d.octets, len + 1);
	while (s[i] != '\0') {
		if (!eword_parse(s + i, &w)) {
			flush(&d);
			literal(&d, s[i++]);
			continue;
		}
		/* Adjacent words of one charset are joined as octets. */
		if (strcasecmp(w.charset, d.charset) != 0)
			flush(&d);
		snprintf(d.charset, sizeof(d.charset), "%s", w.charset);
		eword_octets(&w, &d.octets);
		i += w.len;
		/* 6.2: whitespace between two encoded words is dropped. */
		for (j = i; s[j] == ' ' || s[j] == '\t'; j++)
			;
		if (j > i && eword_parse(s + j, &next))
			i = j;
	}
	flush(&d);
	buf_free(&d.octets);
	*replaced += d.replaced;
	return buf_steal(&d.out, NULL);
}
