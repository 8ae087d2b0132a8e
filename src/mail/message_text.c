/*
 * message_text - the message module's plain-text helpers: UTF-8 cleaning
 * (RFC 3629), line ends, and the new text of a reply (stripped_text).
 *
 * Pure; no GLib. See message.h and message_int.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message_int.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const char replacement[] = "\xef\xbf\xbd";

/*
 * Returns the length of the well-formed UTF-8 sequence at s (n > 0 bytes
 * available), or 0 with *bad set to the length of the maximal ill-formed
 * subpart to replace by one U+FFFD. The byte ranges are RFC 3629 4's
 * (no overlongs, no surrogates, nothing above U+10FFFF).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 2;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 3;
	else {
		*bad = 1;
		return 0;
	}
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

size_t
utf8_append(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0, n, bad = 0, replaced = 0;

	if (len == 0)
		return 0;
	while (i < len) {
		n = utf8_seq(p + i, len - i, &bad);
		if (n > 0 && p[i] != '\0') {
			i += n;
			continue;
		}
		buf_append(out, s + start, i - start);
		buf_append(out, replacement, 3);
		replaced++;
		i += n > 0 ? n : bad;
		start = i;
	}
	buf_append(out, s + start, i - start);
	return replaced;
}

char *
message_utf8_clean(const char *s, size_t len, size_t *out_len, size_t *replaced)
{
	struct buf b;
	size_t r;

	buf_init(&b, 3 * len + 1);
	r = utf8_append(&b, s, len);
	if (replaced != NULL)
		*replaced = r;
	return buf_steal(&b, out_len);
}

size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n;

	if (len <= max)
		return len;
	n = max;
	/* Back off continuation bytes (10xxxxxx) to a lead byte. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

size_t
newlines_to_lf(char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			s[o++] = '\n';
			if (i + 1 < len && s[i + 1] == '\n')
				i++;
		} else
			s[o++] = s[i];
	}
	if (o < len)
		s[o] = '\0';
	return o;
}

bool
has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* One line of the text being stripped: [s, s + len), no "\n". */
struct line {
	const char *s;
	size_t len;
};

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The line without leading and trailing blanks. */
static struct line
line_trim(struct line l)
{
	while (l.len > 0 && is_blank(l.s[0])) {
		l.s++;
		l.len--;
	}
	while (
	    l.len > 0 && (is_blank(l.s[l.len - 1]) || l.s[l.len - 1] == '\r'))
		l.len--;
	return l;
}

static bool
line_starts(struct line l, const char *prefix)
{
	size_t n = strlen(prefix);

	return l.len >= n && strncasecmp(l.s, prefix, n) == 0;
}

static bool
line_ends(struct line l, const char *suffix)
{
	size_t n = strlen(suffix);

	return l.len >= n && strncasecmp(l.s + l.len - n, suffix, n) == 0;
}

static bool
line_is_quoted(struct line l)
{
	l = line_trim(l);
	return l.len > 0 && l.s[0] == '>';
}

/* Attribution openers and the endings that close them, by language. */
static const struct {
	const char *open;
	const char *close;
} attributions[] = {
	{ "On ", "wrote:" },
	{ "Am ", "schrieb:" },
	{ "Le ",
	    "a \xc3\xa9"
	    "crit :" },
	{ "Le ",
	    "a \xc3\xa9"
	    "crit:" },
};

/*
 * Whether lines[i] opens a reply attribution: "On <date>, <name> wrote:"
 * on one line, or wrapped by the sender's client over up to three
 * non-blank lines (Gmail wraps after the "<" of the address).
 */
static bool
is_attribution(const struct line *lines, size_t n, size_t i)
{
	struct line first = line_trim(lines[i]), l;
	size_t a, j;

	for (a = 0; a < NELEM(attributions); a++) {
		if (!line_starts(first, attributions[a].open))
			continue;
		for (j = i; j < n && j < i + 3; j++) {
			l = line_trim(lines[j]);
			if (l.len == 0 || (j > i && line_is_quoted(lines[j])))
				break;
			if (line_ends(l, attributions[a].close))
				return true;
		}
	}
	return false;
}

static bool
is_underscores(struct line l)
{
	size_t i;

	l = line_trim(l);
	if (l.len < 20)
		return false;
	for (i = 0; i < l.len; i++)
		if (l.s[i] != '_')
			return false;
	return true;
}

/* Whether the reply's new text ends before lines[i]. */
static bool
is_cut(const struct line *lines, size_t n, size_t i)
{
	struct line raw = lines[i], t = line_trim(lines[i]);

	/* RFC 3676 4.3: the signature separator is "-- " exactly; "--"
	 * alone is the same line after a client trimmed the blank. */
	if ((raw.len == 3 && memcmp(raw.s, "-- ", 3) == 0) ||
	    (raw.len == 2 && memcmp(raw.s, "--", 2) == 0))
		return true;
	if (line_starts(t, "-----Original Message-----"))
		return true;
	if (is_underscores(raw) && i + 1 < n &&
	    line_starts(line_trim(lines[i + 1]), "From:"))
		return true;
	return is_attribution(lines, n, i);
}

/* Splits text at "\n" into a new array of *n lines (pointing into it). */
static struct line *
split_lines(const char *text, size_t len, size_t *n)
{
	struct line *lines;
	size_t count = 1, i, k = 0, start = 0;

	for (i = 0; i < len; i++)
		if (text[i] == '\n')
			count++;
	lines = xreallocarray(NULL, count, sizeof(*lines));
	for (i = 0; i <= len; i++) {
		if (i < len && text[i] != '\n')
			continue;
		lines[k].s = text + start;
		lines[k].len = i - start;
		k++;
		start = i + 1;
	}
	*n = k;
	return lines;
}

/* Appends the kept lines lines[first..last] to out: unquoted ones, and
 * no second blank line where dropping quoted lines made two meet. */
static void
put_kept(struct buf *out, const struct line *lines, size_t first, size_t last)
{
	bool prev_blank = false, dropped = false, blank;
	size_t i;

	for (i = first; i <= last; i++) {
		if (line_is_quoted(lines[i])) {
			dropped = true;
			continue;
		}
		blank = line_trim(lines[i]).len == 0;
		if (blank && prev_blank && dropped)
			continue;
		if (!blank)
			dropped = false;
		if (out->len > 0)
			buf_putc(out, '\n');
		buf_append(out, lines[i].s, lines[i].len);
		prev_blank = blank;
	}
}

char *
message_stripped_text(const char *text, size_t len)
{
	struct line *lines;
	struct buf out;
	size_t n, i, end, first = 0, last = 0;
	bool any = false;

	lines = split_lines(text, len, &n);
	for (end = 0; end < n; end++)
		if (is_cut(lines, n, end))
			break;
	/* The new text: the unquoted lines before the cut, from the first
	 * to the last that is not blank. */
	for (i = 0; i < end; i++) {
		if (line_is_quoted(lines[i]) || line_trim(lines[i]).len == 0)
			continue;
		if (!any)
			first = i;
		any = true;
		last = i;
	}
	buf_init(&out, len + 1);
	if (any)
		put_kept(&out, lines, first, last);
	free(lines);
	return buf_steal(&out, NULL);
}
