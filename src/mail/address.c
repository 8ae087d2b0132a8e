/*
 * address - RFC 5321 4.1.2 paths, exact; RFC 6531 UTF-8 when allowed.
 *
 * Pure. A cursor walks a window of at most ADDR_PATH_MAX bytes of the
 * input, so a 1 MB line costs no more than a 256-byte one. Each grammar
 * rule is one function returning an addr_status; the first error met
 * left to right is the answer. Running off the window means "too long"
 * when the input goes on past it and "syntax" when it simply ends
 * (4.5.3.1.3: a path, brackets included, is at most 256 octets).
 *
 * Nothing unbracketed is accepted (Postfix is lenient there, we are not):
 * the path starts with "<" and ends with ">", with no space inside except
 * in a quoted-string. The one path without a domain is "<Postmaster>" as
 * a forward-path (4.1.1.3), which sets is_postmaster.
 */
#include "mail/address.h"

#include <string.h>

#define DNS_LABEL_MAX 63 /* RFC 1035 2.3.4; checked for ASCII labels */

struct cursor {
	const unsigned char *s;
	size_t len; /* window: min(input length, ADDR_PATH_MAX) */
	size_t pos;
	bool truncated;  /* the input goes on past the window */
	bool allow_utf8; /* RFC 6531 (SMTPUTF8 transaction) */
	bool has_utf8;   /* an 8-bit byte was accepted */
};

/* The status for "the window ended in the middle of a path". */
static enum addr_status
end_status(const struct cursor *c)
{
	return c->truncated ? ADDR_TOO_LONG : ADDR_SYNTAX;
}

/* The status for an unexpected byte ch (-1 = end of window). */
static enum addr_status
unexpected(const struct cursor *c, int ch)
{
	return ch == -1 ? end_status(c) : ADDR_SYNTAX;
}

static int
peek(const struct cursor *c)
{
	return c->pos < c->len ? c->s[c->pos] : -1;
}

static bool
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* RFC 5321 4.1.2 Let-dig = ALPHA / DIGIT. */
static bool
is_let_dig(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    is_digit(ch);
}

/* A sub-domain byte: Let-dig or "-" (Ldh-str). */
static bool
is_ldh(int ch)
{
	return is_let_dig(ch) || ch == '-';
}

static bool
is_hex(int ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F');
}

/* RFC 5322 3.2.3 atext, the ASCII part. */
static bool
is_atext(int ch)
{
	if (ch <= 0 || ch >= 0x80)
		return false;
	return is_let_dig(ch) || strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

/* RFC 5321 4.1.2 qtextSMTP = %d32-33 / %d35-91 / %d93-126. */
static bool
is_qtext(int ch)
{
	return ch >= 32 && ch <= 126 && ch != '"' && ch != '\\';
}

/* RFC 5321 4.1.3 dcontent = %d33-90 / %d94-126. */
static bool
is_dcontent(int ch)
{
	return ch >= 33 && ch <= 126 && ch != '[' && ch != '\\' && ch != ']';
}

/*
 * Length of the well-formed UTF-8 character at p (RFC 3629 4, UTF8-2/3/4),
 * or 0. This rejects lone continuation bytes, overlong forms (C0, C1,
 * E0 80-9F, F0 80-8F), UTF-16 surrogates (ED A0-BF) and code points past
 * U+10FFFF (F4 90-BF, F5-FF). *cut says the character is only incomplete
 * because the n bytes end too early.
 */
static size_t
utf8_len(const unsigned char *p, size_t n, bool *cut)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	*cut = false;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i < need; i++) {
		if (i >= n) {
			*cut = true;
			return 0;
		}
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/*
 * Takes one UTF8-non-ascii character (RFC 6531 3.3) at the cursor, which
 * is on an 8-bit byte.
 */
static enum addr_status
take_utf8(struct cursor *c)
{
	size_t n;
	bool cut;

	if (!c->allow_utf8)
		return ADDR_UTF8_NOT_ALLOWED;
	n = utf8_len(c->s + c->pos, c->len - c->pos, &cut);
	if (n == 0)
		return cut && c->truncated ? ADDR_TOO_LONG : ADDR_BAD_UTF8;
	c->pos += n;
	c->has_utf8 = true;
	return ADDR_OK;
}

/*
 * Advances over a run of ASCII bytes in the class `ok` and (RFC 6531 3.3)
 * UTF8-non-ascii characters. *ascii says whether the run was all ASCII.
 */
static enum addr_status
take_run(struct cursor *c, bool (*ok)(int), bool *ascii)
{
	enum addr_status st;
	int ch;

	*ascii = true;
	for (;;) {
		ch = peek(c);
		if (ch >= 0x80) {
			st = take_utf8(c);
			if (st != ADDR_OK)
				return st;
			*ascii = false;
		} else if (ok(ch))
			c->pos++;
		else
			return ADDR_OK;
	}
}

/* RFC 5321 4.1.2 Atom = 1*atext; RFC 6531 3.3 atext =/ UTF8-non-ascii. */
static enum addr_status
parse_atom(struct cursor *c)
{
	enum addr_status st;
	size_t start = c->pos;
	bool ascii;

	st = take_run(c, is_atext, &ascii);
	if (st != ADDR_OK)
		return st;
	return c->pos > start ? ADDR_OK : unexpected(c, peek(c));
}

/* RFC 5321 4.1.2 Dot-string = Atom *("." Atom). */
static enum addr_status
parse_dot_string(struct cursor *c)
{
	enum addr_status st;

	for (;;) {
		st = parse_atom(c);
		if (st != ADDR_OK || peek(c) != '.')
			return st;
		c->pos++;
	}
}

/* Appends a decoded byte; the caller checks the written length. */
static void
put_local(struct mailbox *out, size_t *n, unsigned char ch)
{
	if (*n < ADDR_LOCAL_MAX)
		out->local[(*n)++] = (char)ch;
}

/*
 * RFC 5321 4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE, with
 * quoted-pairSMTP = "\" %d32-126 decoded into out->local; RFC 6531 3.3
 * qtextSMTP =/ UTF8-non-ascii. The cursor is on the opening DQUOTE.
 */
static enum addr_status
parse_quoted(struct cursor *c, struct mailbox *out, size_t *n)
{
	enum addr_status st;
	size_t from;
	int ch;

	c->pos++;
	for (;;) {
		ch = peek(c);
		if (ch == '"') {
			c->pos++;
			return ADDR_OK;
		}
		if (ch >= 0x80) {
			from = c->pos;
			st = take_utf8(c);
			if (st != ADDR_OK)
				return st;
			while (from < c->pos)
				put_local(out, n, c->s[from++]);
			continue;
		}
		if (ch == '\\') {
			c->pos++;
			ch = peek(c);
			if (ch < 32 || ch > 126)
				return unexpected(c, ch);
		} else if (!is_qtext(ch))
			return unexpected(c, ch);
		put_local(out, n, (unsigned char)ch);
		c->pos++;
	}
}

/* RFC 5321 4.1.2 Local-part = Dot-string / Quoted-string; 4.5.3.1.1. */
static enum addr_status
parse_local(struct cursor *c, struct mailbox *out)
{
	enum addr_status st;
	size_t start = c->pos, n = 0;

	out->local_quoted = peek(c) == '"';
	if (out->local_quoted)
		st = parse_quoted(c, out, &n);
	else
		st = parse_dot_string(c);
	if (st != ADDR_OK)
		return st;
	if (c->pos - start > ADDR_LOCAL_MAX)
		return ADDR_TOO_LONG;
	if (!out->local_quoted) {
		n = c->pos - start;
		memcpy(out->local, c->s + start, n);
	}
	out->local[n] = '\0';
	return ADDR_OK;
}

/*
 * RFC 5321 4.1.2 sub-domain = Let-dig [Ldh-str]: letters, digits and
 * hyphens, not starting or ending with a hyphen. RFC 6531 3.3 sub-domain
 * =/ U-label: 8-bit characters are taken as well-formed UTF-8 only (IDNA
 * validity is the resolver's business, and a U-label never routes here
 * unless it equals a configured host).
 */
static enum addr_status
parse_label(struct cursor *c)
{
	enum addr_status st;
	size_t start = c->pos;
	bool ascii;

	st = take_run(c, is_ldh, &ascii);
	if (st != ADDR_OK)
		return st;
	if (c->pos == start)
		return unexpected(c, peek(c));
	if (c->s[start] == '-' || c->s[c->pos - 1] == '-')
		return ADDR_SYNTAX;
	if (ascii && c->pos - start > DNS_LABEL_MAX)
		return ADDR_TOO_LONG;
	return ADDR_OK;
}

/*
 * RFC 5321 4.1.2 Domain = sub-domain *("." sub-domain), plus one trailing
 * dot (a fully qualified name as written; kept, and ignored by the
 * router). A second dot is left for the caller, which then fails.
 */
static enum addr_status
parse_domain(struct cursor *c)
{
	enum addr_status st;
	size_t start = c->pos;
	int ch;

	for (;;) {
		st = parse_label(c);
		if (st != ADDR_OK)
			return st;
		if (peek(c) != '.')
			break;
		c->pos++;
		ch = peek(c);
		if (!is_ldh(ch) && ch < 0x80)
			break;
	}
	if (c->pos - start > ADDR_DOMAIN_MAX)
		return ADDR_TOO_LONG;
	return ADDR_OK;
}

/* RFC 5321 4.1.3 Snum 3("." Snum), Snum = 1*3DIGIT in 0-255. */
static bool
ipv4_valid(const unsigned char *p, size_t n)
{
	size_t i = 0, part, digits;
	unsigned v;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= n || p[i] != '.')
				return false;
			i++;
		}
		v = 0;
		for (digits = 0; i < n && is_digit(p[i]) && digits < 4;
		     digits++, i++)
			v = v * 10 + (unsigned)(p[i] - '0');
		if (digits == 0 || digits > 3 || v > 255)
			return false;
	}
	return i == n;
}

/*
 * RFC 5321 4.1.3 IPv6-addr: IPv6-full (8 groups), IPv6-comp ("::" and at
 * most 6 groups besides), IPv6v4-full and IPv6v4-comp (an IPv4 tail counts
 * as two groups under the same rules).
 */
static bool
ipv6_valid(const unsigned char *p, size_t n)
{
	size_t i = 0, groups = 0, start;
	bool compressed = false;

	if (n >= 2 && p[0] == ':' && p[1] == ':') {
		compressed = true;
		i = 2;
	}
	while (i < n) {
		for (start = i; i < n && is_hex(p[i]) && i - start < 5; i++)
			continue;
		if (i < n && p[i] == '.') {
			if (!ipv4_valid(p + start, n - start))
				return false;
			groups += 2;
			break;
		}
		if (i == start || i - start > 4)
			return false;
		groups++;
		if (i == n)
			break;
		if (p[i++] != ':' || i == n)
			return false;
		if (p[i] == ':') {
			if (compressed)
				return false;
			compressed = true;
			i++;
		}
	}
	return compressed ? groups <= 6 : groups == 8;
}

/* RFC 5321 4.1.2 Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig. */
static bool
ldh_str_valid(const unsigned char *p, size_t n)
{
	size_t i;

	if (n == 0 || !is_let_dig(p[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!is_let_dig(p[i]) && p[i] != '-')
			return false;
	return true;
}

/*
 * The inside of an address-literal (RFC 5321 4.1.3): IPv4, "IPv6:" addr
 * (ABNF strings are case-insensitive), or General-address-literal =
 * Standardized-tag ":" 1*dcontent, whose shape only is checked.
 */
static bool
literal_valid(const unsigned char *p, size_t n)
{
	const unsigned char *colon = memchr(p, ':', n);
	size_t tag;

	if (colon == NULL)
		return ipv4_valid(p, n);
	tag = (size_t)(colon - p);
	if (tag == 4 && (p[0] | 0x20) == 'i' && (p[1] | 0x20) == 'p' &&
	    (p[2] | 0x20) == 'v' && p[3] == '6')
		return ipv6_valid(colon + 1, n - tag - 1);
	return ldh_str_valid(p, tag) && n - tag - 1 > 0;
}

/* RFC 5321 4.1.3 address-literal = "[" ... "]"; cursor on "[". */
static enum addr_status
parse_literal(struct cursor *c)
{
	size_t start = ++c->pos;
	int ch;

	for (;;) {
		ch = peek(c);
		if (!is_dcontent(ch))
			break;
		c->pos++;
	}
	if (ch != ']')
		return unexpected(c, ch);
	if (!literal_valid(c->s + start, c->pos - start))
		return ADDR_SYNTAX;
	c->pos++;
	return ADDR_OK;
}

/*
 * RFC 5321 4.1.2 A-d-l = At-domain *( "," At-domain ), At-domain = "@"
 * Domain, then ":". Validated and dropped: 4.1.1.3 and appendix C say
 * a server SHOULD ignore source routes, so they can never make us relay.
 */
static enum addr_status
parse_adl(struct cursor *c)
{
	enum addr_status st;
	int ch;

	for (;;) {
		c->pos++; /* the "@" */
		st = parse_domain(c);
		if (st != ADDR_OK)
			return st;
		ch = peek(c);
		if (ch == ':') {
			c->pos++;
			return ADDR_OK;
		}
		if (ch != ',')
			return unexpected(c, ch);
		c->pos++;
		ch = peek(c);
		if (ch != '@')
			return unexpected(c, ch);
	}
}

/* Copies s[from, to) into a field of size max + 1 (already bounded). */
static void
copy_span(char *dst, size_t max, const struct cursor *c, size_t from, size_t to)
{
	size_t n = to - from;

	if (n > max)
		n = max;
	memcpy(dst, c->s + from, n);
	dst[n] = '\0';
}

/* RFC 5321 4.1.2 Mailbox = Local-part "@" ( Domain / address-literal ). */
static enum addr_status
parse_mailbox(struct cursor *c, struct mailbox *out)
{
	enum addr_status st;
	size_t start = c->pos, at;
	int ch;

	c->has_utf8 = false; /* only the mailbox counts, not the route */
	st = parse_local(c, out);
	if (st != ADDR_OK)
		return st;
	ch = peek(c);
	if (ch != '@')
		return unexpected(c, ch);
	at = ++c->pos;
	out->domain_literal = peek(c) == '[';
	if (out->domain_literal)
		st = parse_literal(c);
	else
		st = parse_domain(c);
	if (st != ADDR_OK)
		return st;
	if (c->pos - at > ADDR_DOMAIN_MAX)
		return ADDR_TOO_LONG;
	copy_span(out->domain, ADDR_DOMAIN_MAX, c, at, c->pos);
	copy_span(out->address, ADDR_PATH_MAX, c, start, c->pos);
	out->has_utf8 = c->has_utf8;
	return ADDR_OK;
}

/*
 * RFC 5321 4.1.1.3: "RCPT TO:<Postmaster>" names the postmaster without a
 * domain, and a server MUST accept it. Only a forward-path may be it: a
 * reverse-path is always a full mailbox.
 */
static bool
parse_bare_postmaster(struct cursor *c, struct mailbox *out)
{
	static const char word[] = "postmaster>";
	size_t i, n = sizeof(word) - 1;

	if (c->len - c->pos < n)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = c->s[c->pos + i];

		if ((ch >= 'A' && ch <= 'Z' ? ch + 32 : ch) != word[i])
			return false;
	}
	out->is_postmaster = true;
	memcpy(out->local, c->s + c->pos, n - 1);
	memcpy(out->address, c->s + c->pos, n - 1);
	c->pos += n;
	return true;
}

/* RFC 5321 4.1.2 Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>". */
static enum addr_status
parse_path(struct cursor *c, bool allow_null, struct mailbox *out)
{
	enum addr_status st;
	int ch;

	ch = peek(c);
	if (ch != '<')
		return unexpected(c, ch);
	c->pos++;
	if (!allow_null && parse_bare_postmaster(c, out))
		return ADDR_OK;
	if (peek(c) == '>') {
		if (!allow_null)
			return ADDR_SYNTAX;
		out->is_null = true;
		c->pos++;
		return ADDR_OK;
	}
	if (peek(c) == '@') {
		st = parse_adl(c);
		if (st != ADDR_OK)
			return st;
	}
	st = parse_mailbox(c, out);
	if (st != ADDR_OK)
		return st;
	ch = peek(c);
	if (ch != '>')
		return unexpected(c, ch);
	c->pos++;
	return ADDR_OK;
}

enum addr_status
addr_parse_path(const char *s, size_t len, bool allow_null, bool allow_utf8,
    struct mailbox *out, size_t *consumed)
{
	struct cursor c;
	enum addr_status st;

	memset(&c, 0, sizeof(c));
	c.s = (const unsigned char *)s;
	c.len = len < ADDR_PATH_MAX ? len : ADDR_PATH_MAX;
	c.truncated = len > ADDR_PATH_MAX;
	c.allow_utf8 = allow_utf8;
	memset(out, 0, sizeof(*out));
	*consumed = 0;
	st = parse_path(&c, allow_null, out);
	if (st != ADDR_OK) {
		memset(out, 0, sizeof(*out));
		return st;
	}
	*consumed = c.pos;
	return ADDR_OK;
}

const char *
addr_status_text(enum addr_status st)
{
	switch (st) {
	case ADDR_OK:
		return "Ok";
	case ADDR_SYNTAX:
		return "Bad address syntax";
	case ADDR_TOO_LONG:
		return "Address too long";
	case ADDR_UTF8_NOT_ALLOWED:
		/* RFC 6531 3.7.4.1: the session pairs this with 553 5.6.7. */
		return "Non-ASCII address without SMTPUTF8";
	case ADDR_BAD_UTF8:
		return "Malformed UTF-8 in address";
	}
	return "Bad address syntax";
}
