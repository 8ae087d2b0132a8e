/*
 * received - the for clause of the first Received: field (RFC 5321 4.4)
 * and the removal of header fields (RFC 5322 2.2).
 *
 * Pure. The header section is walked line by line (LF ends a line, a CR
 * before it is dropped; the session has already refused bare CR and LF),
 * up to the first empty line. A field's value is unfolded (RFC 5322
 * 2.2.3: a line starting with a space or tab continues the field) into a
 * bounded buffer, then tokenized RFC 5321 4.4 style:
 *
 *   Stamp = From-domain By-domain Opt-info [CFWS] ";" FWS date-time
 *   Opt-info = [Via] [With] [ID] [For] [Additional-Registered-Clauses]
 *   For = CFWS "FOR" FWS ( Path / Mailbox )
 *
 * Comments (RFC 5322 3.2.2, nested, with quoted-pairs) are skipped, so
 * "(for <x@y>)" and Sendmail's "(host [ip] (may be forged))" are not
 * clauses; the token after from, by, via, with or id is that clause's
 * value and never read as a keyword ("from for by ..."); the ";" ends
 * the clauses. Real MTAs bend the grammar ("with Microsoft SMTP Server",
 * Exim's bare "for a@b"), so unknown words are skipped, not errors: only
 * "for" followed by its value counts.
 */
#include "mail/received.h"

#include <stdbool.h>
#include <string.h>

/* One line of msg: [p, p + n) without its CR LF; next = the line after. */
struct line {
	const char *p;
	size_t n;
	size_t next;
};

static bool
line_at(const char *msg, size_t len, size_t pos, struct line *l)
{
	const char *lf;

	if (pos >= len)
		return false;
	l->p = msg + pos;
	lf = memchr(l->p, '\n', len - pos);
	l->n = lf != NULL ? (size_t)(lf - l->p) : len - pos;
	l->next = lf != NULL ? pos + l->n + 1 : len;
	if (l->n > 0 && l->p[l->n - 1] == '\r')
		l->n--;
	return true;
}

static bool
is_wsp(char ch)
{
	return ch == ' ' || ch == '\t';
}

static char
ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool
word_eq(const char *p, size_t n, const char *word)
{
	size_t i;

	if (n != strlen(word))
		return false;
	for (i = 0; i < n; i++)
		if (ascii_lower(p[i]) != word[i])
			return false;
	return true;
}

/*
 * The offset of the value in a field line named name ("Received:",
 * obsolete "Received :" too, RFC 5322 4.5), or 0 when it is another one.
 */
static size_t
field_value(const struct line *l, const char *name)
{
	size_t n = strlen(name), i;

	if (l->n <= n || !word_eq(l->p, n, name))
		return 0;
	for (i = n; i < l->n && is_wsp(l->p[i]); i++)
		continue;
	return i < l->n && l->p[i] == ':' ? i + 1 : 0;
}

/* A tokenizer over one unfolded field value. */
struct toks {
	const char *p;
	size_t n, i;
};

/* Skips a comment at t->i (an open parenthesis), nesting included. */
static void
skip_comment(struct toks *t)
{
	size_t depth = 0;

	for (; t->i < t->n; t->i++) {
		if (t->p[t->i] == '\\' && t->i + 1 < t->n)
			t->i++;
		else if (t->p[t->i] == '(')
			depth++;
		else if (t->p[t->i] == ')' && --depth == 0) {
			t->i++;
			return;
		}
	}
}

/* Skips a quoted string at t->i (a double quote). */
static void
skip_quoted(struct toks *t)
{
	for (t->i++; t->i < t->n; t->i++) {
		if (t->p[t->i] == '\\' && t->i + 1 < t->n)
			t->i++;
		else if (t->p[t->i] == '"') {
			t->i++;
			return;
		}
	}
}

/*
 * The next token: "<...>" (a path, ending at the first ">" outside a
 * quoted string), or a word running to white space, "(", ";" or "<".
 * False at the end of the value or at the ";" before the date.
 */
static bool
next_token(struct toks *t, const char **p, size_t *n)
{
	for (;;) {
		while (t->i < t->n && is_wsp(t->p[t->i]))
			t->i++;
		if (t->i < t->n && t->p[t->i] == '(')
			skip_comment(t);
		else
			break;
	}
	if (t->i >= t->n || t->p[t->i] == ';')
		return false;
	*p = t->p + t->i;
	if (t->p[t->i] == '<') {
		for (t->i++; t->i < t->n && t->p[t->i] != '>';)
			if (t->p[t->i] == '"')
				skip_quoted(t);
			else
				t->i++;
		if (t->i < t->n)
			t->i++;
	} else {
		while (t->i < t->n && !is_wsp(t->p[t->i]) &&
		    memchr("(;<", t->p[t->i], 3) == NULL)
			if (t->p[t->i] == '"')
				skip_quoted(t);
			else
				t->i++;
	}
	*n = (size_t)(t->p + t->i - *p);
	return true;
}

/*
 * A for clause's value as a path "<...>" in out, or RECEIVED_BAD_FOR. A
 * control byte (NUL included) is never part of an address, so out is a
 * clean C string.
 */
static enum received_status
for_path(const char *p, size_t n, char out[ADDR_PATH_MAX + 1])
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return RECEIVED_BAD_FOR;
	if (n >= 2 && p[0] == '<' && p[n - 1] == '>' && n <= ADDR_PATH_MAX) {
		memcpy(out, p, n);
		out[n] = '\0';
		return RECEIVED_OK;
	}
	if (n > 0 && p[0] != '<' && memchr(p, '@', n) != NULL &&
	    n + 2 <= ADDR_PATH_MAX) {
		out[0] = '<';
		memcpy(out + 1, p, n);
		out[n + 1] = '>';
		out[n + 2] = '\0';
		return RECEIVED_OK;
	}
	return RECEIVED_BAD_FOR;
}

static bool
is_keyword(const char *p, size_t n)
{
	static const char *const kw[] = { "from", "by", "via", "with", "id" };
	size_t i;

	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (word_eq(p, n, kw[i]))
			return true;
	return false;
}

/* The clauses of one unfolded Received: value. */
static enum received_status
parse_clauses(const char *v, size_t n, char out[ADDR_PATH_MAX + 1])
{
	struct toks t = { v, n, 0 };
	enum received_status st = RECEIVED_BAD_FOR;
	enum { WANT_CLAUSE, WANT_VALUE, WANT_FOR } want = WANT_CLAUSE;
	size_t n_for = 0, tn;
	const char *tp;

	while (next_token(&t, &tp, &tn)) {
		if (want == WANT_FOR && ++n_for == 1)
			st = for_path(tp, tn, out);
		if (want != WANT_CLAUSE)
			want = WANT_CLAUSE;
		else if (is_keyword(tp, tn))
			want = WANT_VALUE;
		else if (word_eq(tp, tn, "for"))
			want = WANT_FOR;
	}
	if (want == WANT_FOR)
		n_for++; /* "for" with no value: counted, never OK */
	if (n_for == 0)
		return RECEIVED_NO_FOR;
	if (n_for > 1)
		return RECEIVED_SEVERAL_FOR;
	return st;
}

/*
 * Unfolds the field starting at line l (value from offset off) into v;
 * false when it is longer than RECEIVED_FIELD_MAX.
 */
static bool
unfold(const char *msg, size_t len, const struct line *first, size_t off,
    char *v, size_t *vn)
{
	struct line l = *first;
	size_t take = l.n - off;

	*vn = 0;
	for (;;) {
		if (*vn + take > RECEIVED_FIELD_MAX)
			return false;
		memcpy(v + *vn, l.p + l.n - take, take);
		*vn += take;
		if (!line_at(msg, len, l.next, &l) || l.n == 0 ||
		    !is_wsp(l.p[0]))
			return true;
		take = l.n;
	}
}

enum received_status
received_first_for(const char *msg, size_t len, char out[ADDR_PATH_MAX + 1])
{
	char v[RECEIVED_FIELD_MAX];
	enum received_status st;
	struct line l;
	size_t pos = 0, off = 0, vn;

	out[0] = '\0';
	while (line_at(msg, len, pos, &l) && l.n > 0) {
		off = is_wsp(l.p[0]) ? 0 : field_value(&l, "received");
		if (off > 0)
			break;
		pos = l.next;
	}
	if (off == 0)
		return RECEIVED_NONE;
	if (!unfold(msg, len, &l, off, v, &vn))
		return RECEIVED_TOO_LONG;
	st = parse_clauses(v, vn, out);
	if (st != RECEIVED_OK)
		out[0] = '\0'; /* a first of several is no answer */
	return st;
}

const char *
received_status_name(enum received_status st)
{
	switch (st) {
	case RECEIVED_OK:
		return "ok";
	case RECEIVED_NONE:
		return "no_received";
	case RECEIVED_NO_FOR:
		return "no_for";
	case RECEIVED_SEVERAL_FOR:
		return "several_for";
	case RECEIVED_BAD_FOR:
		return "bad_for";
	case RECEIVED_TOO_LONG:
		return "too_long";
	}
	return "unknown";
}

size_t
header_remove(char *msg, size_t len, const char *name)
{
	struct line l;
	size_t pos = 0, end;
	char lname[64];
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(lname); i++)
		lname[i] = ascii_lower(name[i]);
	lname[i] = '\0';
	while (line_at(msg, len, pos, &l) && l.n > 0) {
		if (is_wsp(l.p[0]) || field_value(&l, lname) == 0) {
			pos = l.next;
			continue;
		}
		end = l.next;
		while (line_at(msg, len, end, &l) && l.n > 0 && is_wsp(l.p[0]))
			end = l.next;
		memmove(msg + pos, msg + end, len - end);
		len -= end - pos;
	}
	return len;
}
