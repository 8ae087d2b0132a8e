/*
 * test_address - RFC 5321 path parser: valid paths, invalid paths, limits,
 * UTF-8 (RFC 6531 / RFC 3629) and hostile input.
 *
 * Table-driven: every row has a name and a failure prints got/want. Each
 * table runs to the end so that one run shows every failing row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail/address.h"

#define F_NULL 0x1 /* allow_null */
#define F_UTF8 0x2 /* allow_utf8 */

#define M_QUOTED 0x1
#define M_LITERAL 0x2
#define M_UTF8 0x4
#define M_NULL 0x8
#define M_POSTMASTER 0x10

struct row {
	const char *name;
	const char *in;
	size_t len;
	unsigned flags;
	enum addr_status want;
	size_t consumed; /* OK rows: 0 means the whole input */
	const char *local;
	const char *domain;
	const char *address;
	unsigned mflags;
};

/* One-line initialiser macros read better unwrapped. */
/* clang-format off */
/* An accepted path: the fields it must yield. */
#define OK(n, s, f, c, l, d, a, m) \
	{ n, s, sizeof(s) - 1, f, ADDR_OK, c, l, d, a, m }
/* A refused path. */
#define BAD(n, s, f, st) { n, s, sizeof(s) - 1, f, st, 0, "", "", "", 0 }
/* clang-format on */

static const struct row valid_rows[] = {
	OK("simple", "<user@example.com>", 0, 0, "user", "example.com",
	    "user@example.com", 0),
	OK("params after path", "<user@example.com> SIZE=100", 0, 18, "user",
	    "example.com", "user@example.com", 0),
	OK("case kept", "<User@Example.COM>", 0, 0, "User", "Example.COM",
	    "User@Example.COM", 0),
	OK("trailing dot kept", "<user@example.com.>", 0, 0, "user",
	    "example.com.", "user@example.com.", 0),
	OK("single label", "<user@localhost>", 0, 0, "user", "localhost",
	    "user@localhost", 0),
	OK("digit labels", "<u@123.456>", 0, 0, "u", "123.456", "u@123.456", 0),
	OK("hyphen inside label", "<u@a--b.ex-ample>", 0, 0, "u",
	    "a--b.ex-ample", "u@a--b.ex-ample", 0),
	OK("all atext specials", "<!#$%&'*+-/=?^_`{|}~@x.y>", 0, 0,
	    "!#$%&'*+-/=?^_`{|}~", "x.y", "!#$%&'*+-/=?^_`{|}~@x.y", 0),
	OK("dot-string", "<first.middle.last@x.y>", 0, 0, "first.middle.last",
	    "x.y", "first.middle.last@x.y", 0),
	OK("percent hack is a local part", "<user%evil.com@x.y>", 0, 0,
	    "user%evil.com", "x.y", "user%evil.com@x.y", 0),
	OK("bang path is a local part", "<evil.com!user@x.y>", 0, 0,
	    "evil.com!user", "x.y", "evil.com!user@x.y", 0),
	OK("plus tag", "<alert+p1@x.y>", 0, 0, "alert+p1", "x.y",
	    "alert+p1@x.y", 0),
	OK("quoted with space", "<\"john doe\"@x.y>", 0, 0, "john doe", "x.y",
	    "\"john doe\"@x.y", M_QUOTED),
	OK("quoted pairs decoded", "<\"a\\\"b\\\\c\\d\"@x>", 0, 0, "a\"b\\cd",
	    "x", "\"a\\\"b\\\\c\\d\"@x", M_QUOTED),
	OK("quoted empty", "<\"\"@x>", 0, 0, "", "x", "\"\"@x", M_QUOTED),
	OK("quoted at sign", "<\"user@evil.com\"@x>", 0, 0, "user@evil.com",
	    "x", "\"user@evil.com\"@x", M_QUOTED),
	OK("quoted specials", "<\"<>()[]:;,.@ \"@x>", 0, 0, "<>()[]:;,.@ ", "x",
	    "\"<>()[]:;,.@ \"@x", M_QUOTED),
	OK("quoted pair space", "<\"a\\ b\"@x>", 0, 0, "a b", "x",
	    "\"a\\ b\"@x", M_QUOTED),
	OK("source route dropped", "<@a.example:user@x.y>", 0, 0, "user", "x.y",
	    "user@x.y", 0),
	OK("source route list dropped", "<@a,@b.c,@d.:user@x>", 0, 0, "user",
	    "x", "user@x", 0),
	OK("ipv4 literal", "<u@[127.0.0.1]>", 0, 0, "u", "[127.0.0.1]",
	    "u@[127.0.0.1]", M_LITERAL),
	OK("ipv4 literal leading zeros", "<u@[010.0.0.255]>", 0, 0, "u",
	    "[010.0.0.255]", "u@[010.0.0.255]", M_LITERAL),
	OK("ipv6 loopback", "<u@[IPv6:::1]>", 0, 0, "u", "[IPv6:::1]",
	    "u@[IPv6:::1]", M_LITERAL),
	OK("ipv6 unspecified", "<u@[IPv6:::]>", 0, 0, "u", "[IPv6:::]",
	    "u@[IPv6:::]", M_LITERAL),
	OK("ipv6 full", "<u@[IPv6:2001:db8:0:0:0:0:0:1]>", 0, 0, "u",
	    "[IPv6:2001:db8:0:0:0:0:0:1]", "u@[IPv6:2001:db8:0:0:0:0:0:1]",
	    M_LITERAL),
	OK("ipv6 comp 6 groups", "<u@[IPv6:1:2:3::4:5:6]>", 0, 0, "u",
	    "[IPv6:1:2:3::4:5:6]", "u@[IPv6:1:2:3::4:5:6]", M_LITERAL),
	OK("ipv6 trailing comp", "<u@[IPv6:fe80::]>", 0, 0, "u",
	    "[IPv6:fe80::]", "u@[IPv6:fe80::]", M_LITERAL),
	OK("ipv6 tag lower case", "<u@[ipv6:FFFF::1]>", 0, 0, "u",
	    "[ipv6:FFFF::1]", "u@[ipv6:FFFF::1]", M_LITERAL),
	OK("ipv6v4 comp", "<u@[IPv6:::ffff:1.2.3.4]>", 0, 0, "u",
	    "[IPv6:::ffff:1.2.3.4]", "u@[IPv6:::ffff:1.2.3.4]", M_LITERAL),
	OK("ipv6v4 comp 4 groups", "<u@[IPv6:1:2:3::4:1.2.3.4]>", 0, 0, "u",
	    "[IPv6:1:2:3::4:1.2.3.4]", "u@[IPv6:1:2:3::4:1.2.3.4]", M_LITERAL),
	OK("ipv6v4 full", "<u@[IPv6:1:2:3:4:5:6:1.2.3.4]>", 0, 0, "u",
	    "[IPv6:1:2:3:4:5:6:1.2.3.4]", "u@[IPv6:1:2:3:4:5:6:1.2.3.4]",
	    M_LITERAL),
	OK("general literal", "<u@[x-tag1:any.content!]>", 0, 0, "u",
	    "[x-tag1:any.content!]", "u@[x-tag1:any.content!]", M_LITERAL),
	OK("null path allowed", "<>", F_NULL, 0, "", "", "", M_NULL),
	OK("bare postmaster", "<Postmaster>", 0, 0, "Postmaster", "",
	    "Postmaster", M_POSTMASTER),
	OK("bare postmaster any case", "<pOSTMASTER> NOTIFY=NEVER", 0, 12,
	    "pOSTMASTER", "", "pOSTMASTER", M_POSTMASTER),
	OK("null path with params", "<> SIZE=10 BODY=8BITMIME", F_NULL, 2, "",
	    "", "", M_NULL),
	OK("utf8 local", "<jörg@x.y>", F_UTF8, 0, "jörg", "x.y", "jörg@x.y",
	    M_UTF8),
	OK("utf8 domain", "<u@bücher.example>", F_UTF8, 0, "u",
	    "bücher.example", "u@bücher.example", M_UTF8),
	OK("utf8 upper case domain kept", "<u@BÜCHER.EXAMPLE>", F_UTF8, 0, "u",
	    "BÜCHER.EXAMPLE", "u@BÜCHER.EXAMPLE", M_UTF8),
	OK("utf8 cjk both", "<用户@例子.广告>", F_UTF8, 0, "用户", "例子.广告",
	    "用户@例子.广告", M_UTF8),
	OK("utf8 4-byte", "<\xf0\x9f\x98\x80@x>", F_UTF8, 0, "\xf0\x9f\x98\x80",
	    "x", "\xf0\x9f\x98\x80@x", M_UTF8),
	OK("utf8 max code point", "<\xf4\x8f\xbf\xbf@x>", F_UTF8, 0,
	    "\xf4\x8f\xbf\xbf", "x", "\xf4\x8f\xbf\xbf@x", M_UTF8),
	OK("utf8 quoted", "<\"jö rg\"@x>", F_UTF8, 0, "jö rg", "x",
	    "\"jö rg\"@x", M_QUOTED | M_UTF8),
	OK("utf8 flag, ascii path", "<a@b>", F_UTF8, 0, "a", "b", "a@b", 0),
	OK("utf8 only in route", "<@bücher.example:u@x>", F_UTF8, 0, "u", "x",
	    "u@x", 0),
	OK("64 octet local",
	    "<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@x>",
	    0, 0,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "x",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@x",
	    0),
	OK("63 octet label",
	    "<u@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb>",
	    0, 0, "u",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "u@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    0),
	OK("quoted local 64 written",
	    "<\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"@x>",
	    0, 0,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "x",
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"@x",
	    M_QUOTED),
	OK("stops at first >", "<a@b>>", 0, 5, "a", "b", "a@b", 0),
};

static const struct row invalid_rows[] = {
	BAD("empty", "", 0, ADDR_SYNTAX),
	BAD("unbracketed", "user@example.com", 0, ADDR_SYNTAX),
	BAD("no closing bracket", "<user@example.com", 0, ADDR_SYNTAX),
	BAD("no opening bracket", "user@example.com>", 0, ADDR_SYNTAX),
	BAD("leading space", " <user@x>", 0, ADDR_SYNTAX),
	BAD("space before at", "<user @x>", 0, ADDR_SYNTAX),
	BAD("space after at", "<user@ x>", 0, ADDR_SYNTAX),
	BAD("space before >", "<user@x >", 0, ADDR_SYNTAX),
	BAD("space after <", "< user@x>", 0, ADDR_SYNTAX),
	BAD("tab", "<user\t@x>", 0, ADDR_SYNTAX),
	BAD("bare local part", "<user>", 0, ADDR_SYNTAX),
	/* RFC 5321 4.1.1.3: only a forward-path may be <Postmaster>. */
	BAD("bare postmaster as reverse-path", "<Postmaster>", F_NULL,
	    ADDR_SYNTAX),
	BAD("postmaster with junk", "<Postmasterx>", 0, ADDR_SYNTAX),
	BAD("postmaster prefix", "<Postmaste>", 0, ADDR_SYNTAX),
	BAD("no local part", "<@x>", 0, ADDR_SYNTAX),
	BAD("no domain", "<user@>", 0, ADDR_SYNTAX),
	BAD("null path not allowed", "<>", 0, ADDR_SYNTAX),
	BAD("null path with space", "< >", F_NULL, ADDR_SYNTAX),
	BAD("double brackets", "<<user@x>>", 0, ADDR_SYNTAX),
	BAD("leading dot", "<.user@x>", 0, ADDR_SYNTAX),
	BAD("trailing dot in local", "<user.@x>", 0, ADDR_SYNTAX),
	BAD("double dot in local", "<us..er@x>", 0, ADDR_SYNTAX),
	BAD("double dot in domain", "<user@x..y>", 0, ADDR_SYNTAX),
	BAD("two trailing dots", "<user@x..>", 0, ADDR_SYNTAX),
	BAD("domain is a dot", "<user@.>", 0, ADDR_SYNTAX),
	BAD("leading dot in domain", "<user@.x>", 0, ADDR_SYNTAX),
	BAD("label starts with hyphen", "<user@-x>", 0, ADDR_SYNTAX),
	BAD("label ends with hyphen", "<user@x-.y>", 0, ADDR_SYNTAX),
	BAD("second label hyphen", "<user@x.-y>", 0, ADDR_SYNTAX),
	BAD("underscore in domain", "<user@x_y.z>", 0, ADDR_SYNTAX),
	BAD("double at", "<user@@x>", 0, ADDR_SYNTAX),
	BAD("two domains", "<user@evil.com@x>", 0, ADDR_SYNTAX),
	BAD("unterminated quote", "<\"user@x>", 0, ADDR_SYNTAX),
	BAD("escaped closing quote", "<\"user\\\"@x>", 0, ADDR_SYNTAX),
	BAD("quote in atom", "<a\"b\"@x>", 0, ADDR_SYNTAX),
	BAD("quoted then atom", "<\"a\"b@x>", 0, ADDR_SYNTAX),
	BAD("dot after quoted", "<\"a\".b@x>", 0, ADDR_SYNTAX),
	BAD("control in quotes",
	    "<\"a\x01"
	    "b\"@x>",
	    0, ADDR_SYNTAX),
	BAD("tab in quotes", "<\"a\tb\"@x>", 0, ADDR_SYNTAX),
	BAD("quoted pair of control", "<\"a\\\x01\"@x>", 0, ADDR_SYNTAX),
	BAD("quoted pair of CR", "<\"a\\\r\"@x>", 0, ADDR_SYNTAX),
	BAD("quoted pair of 8-bit", "<\"a\\\xc3\xa9\"@x>", F_UTF8, ADDR_SYNTAX),
	BAD("comment", "<user(c)@x>", 0, ADDR_SYNTAX),
	BAD("NUL in local", "<us\0er@x>", 0, ADDR_SYNTAX),
	BAD("NUL in domain", "<user@x\0y>", 0, ADDR_SYNTAX),
	BAD("NUL before >", "<user@x\0>", 0, ADDR_SYNTAX),
	BAD("NUL first", "\0<user@x>", 0, ADDR_SYNTAX),
	BAD("NUL in quotes", "<\"a\0b\"@x>", 0, ADDR_SYNTAX),
	BAD("CRLF inside", "<user@x\r\n>", 0, ADDR_SYNTAX),
	BAD("LF inside", "<user\n@x>", 0, ADDR_SYNTAX),
	BAD("DEL",
	    "<us\x7f"
	    "er@x>",
	    0, ADDR_SYNTAX),
	BAD("route without mailbox", "<@a:>", 0, ADDR_SYNTAX),
	BAD("route empty domain", "<@:user@x>", 0, ADDR_SYNTAX),
	BAD("route missing colon", "<@a,user@x>", 0, ADDR_SYNTAX),
	BAD("route with space", "<@a user@x>", 0, ADDR_SYNTAX),
	BAD("route list missing at", "<@a,b:user@x>", 0, ADDR_SYNTAX),
	BAD("route literal", "<@[1.2.3.4]:user@x>", 0, ADDR_SYNTAX),
	BAD("route double at", "<@a@b:user@x>", 0, ADDR_SYNTAX),
	BAD("route only", "<@a>", 0, ADDR_SYNTAX),
	BAD("route trailing comma", "<@a,:user@x>", 0, ADDR_SYNTAX),
	BAD("ipv4 three parts", "<u@[1.2.3]>", 0, ADDR_SYNTAX),
	BAD("ipv4 five parts", "<u@[1.2.3.4.5]>", 0, ADDR_SYNTAX),
	BAD("ipv4 over 255", "<u@[256.1.1.1]>", 0, ADDR_SYNTAX),
	BAD("ipv4 four digits", "<u@[1.2.3.0001]>", 0, ADDR_SYNTAX),
	BAD("ipv4 empty part", "<u@[1..3.4]>", 0, ADDR_SYNTAX),
	BAD("ipv4 trailing dot", "<u@[1.2.3.4.]>", 0, ADDR_SYNTAX),
	BAD("literal empty", "<u@[]>", 0, ADDR_SYNTAX),
	BAD("literal hostname", "<u@[example.com]>", 0, ADDR_SYNTAX),
	BAD("literal unterminated", "<u@[127.0.0.1>", 0, ADDR_SYNTAX),
	BAD("literal then dot", "<u@[127.0.0.1].>", 0, ADDR_SYNTAX),
	BAD("literal then text", "<u@[127.0.0.1]x>", 0, ADDR_SYNTAX),
	BAD("literal nested", "<u@[a[b]>", 0, ADDR_SYNTAX),
	BAD("literal space", "<u@[1.2.3.4 ]>", 0, ADDR_SYNTAX),
	BAD("ipv6 empty", "<u@[IPv6:]>", 0, ADDR_SYNTAX),
	BAD("ipv6 seven groups", "<u@[IPv6:1:2:3:4:5:6:7]>", 0, ADDR_SYNTAX),
	BAD("ipv6 nine groups", "<u@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, ADDR_SYNTAX),
	BAD("ipv6 two compressions", "<u@[IPv6:1::2::3]>", 0, ADDR_SYNTAX),
	BAD("ipv6 triple colon", "<u@[IPv6:1:::2]>", 0, ADDR_SYNTAX),
	BAD("ipv6 five hex digits", "<u@[IPv6:12345::1]>", 0, ADDR_SYNTAX),
	BAD("ipv6 comp with 7 groups", "<u@[IPv6:1:2:3:4:5:6:7::]>", 0,
	    ADDR_SYNTAX),
	BAD("ipv6 non-hex", "<u@[IPv6:g::1]>", 0, ADDR_SYNTAX),
	BAD("ipv6 leading single colon", "<u@[IPv6::1]>", 0, ADDR_SYNTAX),
	BAD("ipv6 trailing single colon", "<u@[IPv6:1:]>", 0, ADDR_SYNTAX),
	BAD("ipv6 without tag", "<u@[::1]>", 0, ADDR_SYNTAX),
	BAD("ipv6v4 comp 5 groups", "<u@[IPv6:1:2:3:4:5::1.2.3.4]>", 0,
	    ADDR_SYNTAX),
	BAD("ipv6v4 bad ipv4", "<u@[IPv6:::ffff:1.2.3.256]>", 0, ADDR_SYNTAX),
	BAD("ipv6v4 not last", "<u@[IPv6:1.2.3.4::1]>", 0, ADDR_SYNTAX),
	BAD("general literal no content", "<u@[tag:]>", 0, ADDR_SYNTAX),
	BAD("general literal bad tag", "<u@[ta_g:x]>", 0, ADDR_SYNTAX),
	BAD("general literal tag hyphen end", "<u@[tag-:x]>", 0, ADDR_SYNTAX),
	BAD("general literal empty tag", "<u@[:x]>", 0, ADDR_SYNTAX),
	BAD("literal 8-bit", "<u@[\xc3\xa9]>", F_UTF8, ADDR_SYNTAX),
	BAD("local part 65 octets",
	    "<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@x>",
	    0, ADDR_TOO_LONG),
	BAD("quoted local part 65 octets",
	    "<\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"@x>",
	    0, ADDR_TOO_LONG),
	BAD("quoted local 65 written, 61 decoded",
	    "<\"\\aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\a\"@x>",
	    0, ADDR_TOO_LONG),
	BAD("label 64 octets",
	    "<u@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb>",
	    0, ADDR_TOO_LONG),
	BAD("8-bit local without SMTPUTF8", "<jörg@x>", 0,
	    ADDR_UTF8_NOT_ALLOWED),
	BAD("8-bit domain without SMTPUTF8", "<u@bücher.example>", 0,
	    ADDR_UTF8_NOT_ALLOWED),
	BAD("8-bit quoted without SMTPUTF8", "<\"jö\"@x>", 0,
	    ADDR_UTF8_NOT_ALLOWED),
	BAD("8-bit route without SMTPUTF8", "<@bücher.example:u@x>", 0,
	    ADDR_UTF8_NOT_ALLOWED),
	BAD("bad utf8 without SMTPUTF8", "<\xc0\xaf@x>", 0,
	    ADDR_UTF8_NOT_ALLOWED),
	BAD("overlong 2-byte slash", "<\xc0\xaf@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("overlong 2-byte C1", "<\xc1\xbf@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("overlong 3-byte", "<\xe0\x80\xaf@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("overlong 3-byte high", "<\xe0\x9f\xbf@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("overlong 4-byte", "<\xf0\x80\x80\xaf@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("overlong 4-byte high", "<\xf0\x8f\xbf\xbf@x>", F_UTF8,
	    ADDR_BAD_UTF8),
	BAD("overlong NUL", "<a\xc0\x80@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("overlong dot in domain", "<a@demo\xc0\xaelocalhost>", F_UTF8,
	    ADDR_BAD_UTF8),
	BAD("overlong at sign", "<a\xc1\x80x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("surrogate high", "<\xed\xa0\x80@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("surrogate low", "<\xed\xbf\xbf@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("past U+10FFFF", "<\xf4\x90\x80\x80@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("F5 lead", "<\xf5\x80\x80\x80@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("FF byte", "<\xff@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("lone continuation", "<\x80@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("truncated 2-byte", "<\xc3@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("truncated 3-byte", "<\xe6\x97@x>", F_UTF8, ADDR_BAD_UTF8),
	BAD("truncated at end of input", "<a\xc3", F_UTF8, ADDR_BAD_UTF8),
	BAD("bad utf8 in domain", "<u@x\xe6\x97>", F_UTF8, ADDR_BAD_UTF8),
	BAD("bad utf8 in quotes", "<\"\xed\xa0\x80\"@x>", F_UTF8,
	    ADDR_BAD_UTF8),
	BAD("utf8 label hyphen end", "<u@bü->", F_UTF8, ADDR_SYNTAX),
};

static bool
field_ok(const char *row, const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return true;
	print_error("%s: %s got \"%s\" want \"%s\"\n", row, what, got, want);
	return false;
}

static unsigned
mailbox_flags(const struct mailbox *m)
{
	return (m->local_quoted ? M_QUOTED : 0) |
	    (m->domain_literal ? M_LITERAL : 0) | (m->has_utf8 ? M_UTF8 : 0) |
	    (m->is_null ? M_NULL : 0) | (m->is_postmaster ? M_POSTMASTER : 0);
}

/* Runs one row; returns whether it passed, printing got/want if not. */
static bool
check_row(const struct row *r)
{
	struct mailbox m;
	size_t consumed = 12345;
	size_t want_consumed = r->consumed ? r->consumed : r->len;
	enum addr_status st;
	bool ok = true;

	st = addr_parse_path(r->in, r->len, (r->flags & F_NULL) != 0,
	    (r->flags & F_UTF8) != 0, &m, &consumed);
	if (st != r->want) {
		print_error("%s: status got %d (%s) want %d (%s)\n", r->name,
		    st, addr_status_text(st), r->want,
		    addr_status_text(r->want));
		return false;
	}
	if (st != ADDR_OK)
		return consumed == 0 && mailbox_flags(&m) == 0 &&
		    field_ok(r->name, "address", m.address, "");
	if (consumed != want_consumed) {
		print_error("%s: consumed got %zu want %zu\n", r->name,
		    consumed, want_consumed);
		ok = false;
	}
	if (mailbox_flags(&m) != r->mflags) {
		print_error("%s: flags got %#x want %#x\n", r->name,
		    mailbox_flags(&m), r->mflags);
		ok = false;
	}
	ok &= field_ok(r->name, "local", m.local, r->local);
	ok &= field_ok(r->name, "domain", m.domain, r->domain);
	ok &= field_ok(r->name, "address", m.address, r->address);
	return ok;
}

static void
run_rows(const struct row *rows, size_t n)
{
	size_t i, failed = 0;

	for (i = 0; i < n; i++)
		if (!check_row(&rows[i]))
			failed++;
	if (failed > 0)
		print_error("%zu of %zu rows failed\n", failed, n);
	assert_int_equal(failed, 0);
}

static void
test_valid_paths(void **state)
{
	run_rows(valid_rows, sizeof(valid_rows) / sizeof(valid_rows[0]));
}

static void
test_invalid_paths(void **state)
{
	run_rows(invalid_rows, sizeof(invalid_rows) / sizeof(invalid_rows[0]));
}

/* Builds "<" + local + "@" + domain-of-n-labels + ">" in buf. */
static size_t
build_path(char *buf, size_t local_len, size_t domain_len)
{
	size_t n = 0, i;

	buf[n++] = '<';
	for (i = 0; i < local_len; i++)
		buf[n++] = 'l';
	buf[n++] = '@';
	for (i = 0; i < domain_len; i++)
		buf[n++] = (i % 50 == 49 && i + 1 < domain_len) ? '.' : 'd';
	buf[n++] = '>';
	buf[n] = '\0';
	return n;
}

/* RFC 5321 4.5.3.1.3: 256 octets with the brackets is the most. */
static void
test_path_length_limit(void **state)
{
	static const struct {
		const char *name;
		size_t local, domain;
		enum addr_status want;
	} rows[] = {
		{ "path 256 octets", 64, 189, ADDR_OK },
		{ "path 257 octets", 64, 190, ADDR_TOO_LONG },
		{ "path 256, short local", 1, 252, ADDR_OK },
		{ "path 257, short local", 1, 253, ADDR_TOO_LONG },
		{ "path 300 octets", 10, 287, ADDR_TOO_LONG },
	};
	char buf[400];
	struct mailbox m;
	size_t i, n, consumed, failed = 0;
	enum addr_status st;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = build_path(buf, rows[i].local, rows[i].domain);
		st = addr_parse_path(buf, n, false, false, &m, &consumed);
		if (st != rows[i].want ||
		    (st == ADDR_OK && (consumed != n || consumed != 256))) {
			print_error("%s: len %zu got %s consumed %zu want %s\n",
			    rows[i].name, n, addr_status_text(st), consumed,
			    addr_status_text(rows[i].want));
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* Hostile sizes: 1 MB inputs end in TOO_LONG or SYNTAX, never crash. */
static void
test_one_megabyte(void **state)
{
	static const struct {
		const char *name;
		char fill;
		bool open, close;
		enum addr_status want;
	} rows[] = {
		{ "1 MB of a after <", 'a', true, false, ADDR_TOO_LONG },
		{ "1 MB of a in <>", 'a', true, true, ADDR_TOO_LONG },
		{ "1 MB of NUL", '\0', false, false, ADDR_SYNTAX },
		{ "1 MB of NUL after <", '\0', true, false, ADDR_SYNTAX },
		{ "1 MB of @ after <", '@', true, false, ADDR_SYNTAX },
		{ "1 MB of 8-bit after <", '\xc3', true, false,
		    ADDR_UTF8_NOT_ALLOWED },
	};
	size_t len = 1024 * 1024, i, consumed, failed = 0;
	char *buf = malloc(len);
	struct mailbox m;
	enum addr_status st;

	assert_non_null(buf);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(buf, rows[i].fill, len);
		if (rows[i].open)
			buf[0] = '<';
		if (rows[i].close)
			buf[len - 1] = '>';
		st = addr_parse_path(buf, len, true, false, &m, &consumed);
		if (st != rows[i].want || consumed != 0) {
			print_error("%s: got %s want %s\n", rows[i].name,
			    addr_status_text(st),
			    addr_status_text(rows[i].want));
			failed++;
		}
	}
	free(buf);
	assert_int_equal(failed, 0);
}

/*
 * Every prefix of every row parses without reading past its length (ASan
 * watches a copy exactly that long) and never claims more than it got.
 */
static void
test_prefixes(void **state)
{
	const struct row *tables[] = { valid_rows, invalid_rows };
	size_t sizes[] = { sizeof(valid_rows) / sizeof(valid_rows[0]),
		sizeof(invalid_rows) / sizeof(invalid_rows[0]) };
	size_t t, i, n, consumed, failed = 0;
	struct mailbox m;
	enum addr_status st;
	char *copy;

	for (t = 0; t < 2; t++) {
		for (i = 0; i < sizes[t]; i++) {
			for (n = 0; n <= tables[t][i].len; n++) {
				copy = malloc(n ? n : 1);
				assert_non_null(copy);
				memcpy(copy, tables[t][i].in, n);
				st = addr_parse_path(copy, n, true, true, &m,
				    &consumed);
				if (consumed > n ||
				    (st == ADDR_OK &&
					copy[consumed - 1] != '>')) {
					print_error("%s[:%zu]: consumed %zu\n",
					    tables[t][i].name, n, consumed);
					failed++;
				}
				free(copy);
			}
		}
	}
	assert_int_equal(failed, 0);
}

static void
test_status_text(void **state)
{
	static const struct {
		enum addr_status st;
		const char *want;
	} rows[] = {
		{ ADDR_OK, "Ok" },
		{ ADDR_SYNTAX, "Bad address syntax" },
		{ ADDR_TOO_LONG, "Address too long" },
		{ ADDR_UTF8_NOT_ALLOWED, "Non-ASCII address without SMTPUTF8" },
		{ ADDR_BAD_UTF8, "Malformed UTF-8 in address" },
		{ (enum addr_status)99, "Bad address syntax" },
	};
	size_t i, failed = 0;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (!field_ok("status text", "text",
			addr_status_text(rows[i].st), rows[i].want))
			failed++;
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_paths),
		cmocka_unit_test(test_invalid_paths),
		cmocka_unit_test(test_path_length_limit),
		cmocka_unit_test(test_one_megabyte),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_status_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
