/*
 * test_message - MIME → the event's "message" object (src/mail/message.h):
 * subjects (RFC 2047, charsets, joined words), addresses (RFC 5322 groups,
 * quoted names, UTF-8), date and Message-ID, bodies (transfer encodings,
 * charsets, text from HTML), stripped_text, attachments (RFC 2231 and
 * RFC 2047 filenames, inline parts, message/rfc822, size, sha256), all
 * headers in order, the parse warnings and every limit; then the fixture
 * messages in tests/unit/data/mime/ and the text helpers on their own.
 *
 * Table-driven: every row has a name and an expected value, written as
 * JSON, for one path in the object ("to.1.name"); a failure prints the
 * row's name with got and want. Each table runs to the end so that one
 * run shows every failing row. Messages are written with LF and sent
 * with CRLF (as the queue stores them) unless the row says RAW.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mail/message.h"

#define RAW 0x1  /* send the message bytes as written (LF, 8-bit) */
#define TINY 0x2 /* parse with tiny limits (tiny_opts()) */

struct row {
	const char *name;
	unsigned flags;
	const char *msg;
	const char *path; /* "" is the whole object */
	const char *want; /* JSON */
};

/* A header block most rows start with. */
#define H "From: a@example.com\nTo: b@example.com\nMIME-Version: 1.0\n"
#define PLAIN "Content-Type: text/plain; charset=utf-8\n"

static void
tiny_opts(struct message_parse_opts *o)
{
	message_parse_opts_default(o);
	o->limits.depth = 2;
	o->limits.parts = 3;
	o->limits.attachments = 1;
	o->limits.headers = 4;
	o->limits.header_value = MESSAGE_HEADER_VALUE_MIN;
	o->limits.addresses = 2;
	o->limits.text = MESSAGE_TEXT_MIN;
	o->limits.html_tags = MESSAGE_HTML_TAGS_MIN;
	o->limits.warnings = 4;
}

/* Returns the message as the queue would store it: LF → CRLF. */
static char *
to_crlf(const char *s, size_t *n)
{
	char *out = malloc(2 * strlen(s) + 1);
	size_t o = 0;

	assert_non_null(out);
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			out[o++] = '\r';
		out[o++] = *s;
	}
	out[o] = '\0';
	*n = o;
	return out;
}

static json_t *
parse_row(const struct row *r)
{
	struct message_parse_opts o;
	json_t *m;
	char *crlf;
	size_t n;

	message_parse_opts_default(&o);
	if (r->flags & TINY)
		tiny_opts(&o);
	if (r->flags & RAW)
		return message_parse(r->msg, strlen(r->msg), &o);
	crlf = to_crlf(r->msg, &n);
	m = message_parse(crlf, n, &o);
	free(crlf);
	return m;
}

/* Follows a dotted path ("to.1.name"); NULL when there is nothing. */
static json_t *
path_get(json_t *j, const char *path)
{
	char key[128];
	const char *p = path;
	size_t n;

	while (j != NULL && *p != '\0') {
		n = strcspn(p, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		if (json_is_array(j))
			j = json_array_get(j, strtoul(key, NULL, 10));
		else
			j = json_object_get(j, key);
		p += n;
		if (*p == '.')
			p++;
	}
	return j;
}

/* Compares one path of got with the JSON text want; prints on failure. */
static int
check_path(const char *name, json_t *got, const char *path, const char *want)
{
	json_error_t err;
	json_t *w = json_loads(want, JSON_DECODE_ANY, &err);
	json_t *g = path_get(got, path);
	char *gs;
	int bad;

	if (w == NULL) {
		printf("%s: bad want JSON %s: %s\n", name, want, err.text);
		return 1;
	}
	bad = g == NULL || !json_equal(g, w);
	if (bad) {
		gs = g != NULL ? json_dumps(g, JSON_ENCODE_ANY) : NULL;
		printf("%s: %s\n  got  %s\n  want %s\n", name, path,
		    gs != NULL ? gs : "(missing)", want);
		free(gs);
	}
	json_decref(w);
	return bad;
}

static void
run_rows(const struct row *rows, size_t n)
{
	json_t *m;
	size_t i;
	int failed = 0;

	for (i = 0; i < n; i++) {
		m = parse_row(&rows[i]);
		failed += check_path(rows[i].name, m, rows[i].path,
		    rows[i].want);
		json_decref(m);
	}
	if (failed > 0)
		printf("%d of %zu rows failed\n", failed, n);
	assert_int_equal(failed, 0);
}

#define RUN(rows) run_rows(rows, sizeof(rows) / sizeof(rows[0]))

/* RFC 2047 and RFC 6532 subjects. */
static const struct row subject_rows[] = {
	{ "plain ascii", 0, H "Subject: Disk full on db1\n\nx\n", "subject",
	    "\"Disk full on db1\"" },
	{ "Q utf-8", 0, H "Subject: =?utf-8?q?caf=C3=A9?=\n\nx\n", "subject",
	    "\"café\"" },
	{ "B utf-8, upper case charset", 0,
	    H "Subject: =?UTF-8?B?w6lsw6k=?=\n\nx\n", "subject", "\"élé\"" },
	{ "adjacent words joined", 0,
	    H "Subject: =?utf-8?q?Disk?= =?utf-8?q?_full?=\n\nx\n", "subject",
	    "\"Disk full\"" },
	{ "adjacent words across a fold", 0,
	    H "Subject: =?utf-8?q?a?=\n =?utf-8?q?b?=\n\nx\n", "subject",
	    "\"ab\"" },
	{ "character split between B words", 0,
	    H "Subject: =?utf-8?B?4oI=?= =?utf-8?B?rA==?= 5\n\nx\n", "subject",
	    "\"€ 5\"" },
	{ "character split between Q words", 0,
	    H "Subject: =?utf-8?q?=E2=82?= =?utf-8?q?=AC?=\n\nx\n", "subject",
	    "\"€\"" },
	{ "words of two charsets", 0,
	    H "Subject: =?utf-8?q?a?= =?iso-8859-1?q?=E9?= c\n\nx\n", "subject",
	    "\"aé c\"" },
	{ "space kept between word and text", 0,
	    H "Subject: =?iso-8859-1?q?d=E9j=E0?= vu\n\nx\n", "subject",
	    "\"déjà vu\"" },
	{ "underscore is a space", 0, H "Subject: =?utf-8?q?a_b?= c\n\nx\n",
	    "subject", "\"a b c\"" },
	{ "word inside a word (loose)", 0,
	    H "Subject: pre=?utf-8?q?mid?=post\n\nx\n", "subject",
	    "\"premidpost\"" },
	{ "language suffix (RFC 2231 5)", 0,
	    H "Subject: =?utf-8*en?q?lang?=\n\nx\n", "subject", "\"lang\"" },
	{ "unterminated word is text", 0, H "Subject: =?utf-8?q?open\n\nx\n",
	    "subject", "\"=?utf-8?q?open\"" },
	{ "windows-1252", 0, H "Subject: =?windows-1252?q?=80uro?=\n\nx\n",
	    "subject", "\"€uro\"" },
	{ "koi8-r", 0, H "Subject: =?koi8-r?b?8NLJ18XU?=\n\nx\n", "subject",
	    "\"Привет\"" },
	{ "iso-2022-jp (stateful)", 0,
	    H "Subject: =?iso-2022-jp?b?GyRCJF4kXyRgJGEkYhsoQg==?=\n\nx\n",
	    "subject", "\"まみむめも\"" },
	{ "gb2312", 0, H "Subject: =?gb2312?b?xOO6ww==?=\n\nx\n", "subject",
	    "\"你好\"" },
	{ "shift_jis", 0, H "Subject: =?shift_jis?b?g2WDWINn?=\n\nx\n",
	    "subject", "\"テスト\"" },
	{ "ks_c_5601-1987 alias", 0,
	    H "Subject: =?ks_c_5601-1987?B?vbrGvMfY?=\n\nx\n", "subject",
	    "\"스티해\"" },
	{ "folded subject unfolded", 0,
	    H "Subject: a long\n  subject line\n\nx\n", "subject",
	    "\"a long  subject line\"" },
	{ "raw UTF-8 (RFC 6532)", RAW, H "Subject: Ol\xc3\xa1 mundo\n\nx\n",
	    "subject", "\"Olá mundo\"" },
	{ "raw bad bytes replaced", RAW, H "Subject: bad \xff\xfe!\n\nx\n",
	    "subject", "\"bad \xef\xbf\xbd\xef\xbf\xbd!\"" },
	{ "bad bytes in a word replaced", 0,
	    H "Subject: =?utf-8?q?=FF?=\n\nx\n", "subject",
	    "\"\xef\xbf\xbd\"" },
	{ "unknown charset replaced", 0,
	    H "Subject: =?x-bogus?q?=E9t=E9?=\n\nx\n", "subject",
	    "\"\xef\xbf\xbdt\xef\xbf\xbd\"" },
	{ "missing subject", 0, H "\nx\n", "subject", "null" },
	{ "first subject wins", 0, H "Subject: one\nSubject: two\n\nx\n",
	    "subject", "\"one\"" },
};

static void
test_subject(void **state)
{
	RUN(subject_rows);
}

/* RFC 5322 3.4 addresses, RFC 6532 UTF-8 ones. */
#define A "Subject: s\n"
static const struct row address_rows[] = {
	{ "name and address", 0, A "From: Jane Doe <jane@example.com>\n\nx\n",
	    "from",
	    "{\"name\":\"Jane Doe\",\"address\":\"jane@example.com\"}" },
	{ "bare address", 0, A "From: jane@example.com\n\nx\n", "from",
	    "{\"name\":\"\",\"address\":\"jane@example.com\"}" },
	{ "quoted name with a comma", 0,
	    A "From: \"Doe, John\" <j@x.com>\n\nx\n", "from",
	    "{\"name\":\"Doe, John\",\"address\":\"j@x.com\"}" },
	{ "encoded name with an encoded comma", 0,
	    A "From: =?utf-8?q?Doe=2C_J=C3=B6hn?= <j@x.com>\n\nx\n", "from",
	    "{\"name\":\"Doe, Jöhn\",\"address\":\"j@x.com\"}" },
	{ "encoded word inside quotes (loose)", 0,
	    A "From: \"=?utf-8?q?J=C3=B6hn?= Doe\" <j@x.com>\n\nx\n",
	    "from.name", "\"Jöhn Doe\"" },
	{ "encoded name split character", 0,
	    A "From: =?utf-8?B?4oI=?= =?utf-8?B?rA==?= <e@x.com>\n\nx\n",
	    "from.name", "\"€\"" },
	{ "comment as name", 0,
	    A "From: j@x.com (John =?utf-8?q?D=C3=B6e?=)\n\nx\n", "from",
	    "{\"name\":\"John Döe\",\"address\":\"j@x.com\"}" },
	{ "first of several From", 0, A "From: a@x.com, c@x.com\n\nx\n",
	    "from.address", "\"a@x.com\"" },
	{ "no From", 0, A "\nx\n", "from", "null" },
	{ "empty From is null", 0, A "From: <>\n\nx\n", "from", "null" },
	{ "reply-to", 0, A "Reply-To: \"R\" <r@x.com>\n\nx\n", "reply_to",
	    "{\"name\":\"R\",\"address\":\"r@x.com\"}" },
	{ "no reply-to", 0, A "\nx\n", "reply_to", "null" },
	{ "to list", 0,
	    A "To: a@x.com, \"B, b\" <b@x.com>,\n C <c@x.com>\n\nx\n", "to",
	    "[{\"name\":\"\",\"address\":\"a@x.com\"},"
	    "{\"name\":\"B, b\",\"address\":\"b@x.com\"},"
	    "{\"name\":\"C\",\"address\":\"c@x.com\"}]" },
	{ "group flattened with its name", 0,
	    A "To: Ops: a@x.com, B <b@x.com>;, c@x.com\n\nx\n", "to",
	    "[{\"name\":\"\",\"address\":\"a@x.com\",\"group\":\"Ops\"},"
	    "{\"name\":\"B\",\"address\":\"b@x.com\",\"group\":\"Ops\"},"
	    "{\"name\":\"\",\"address\":\"c@x.com\"}]" },
	{ "empty group adds nothing", 0,
	    A "To: undisclosed-recipients:;\n\nx\n", "to", "[]" },
	{ "UTF-8 addresses", RAW,
	    A "To: \xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	      "\xe5\xb9\xbf\xe5\x91\x8a, \"J\xc3\xb6rg\" "
	      "<j\xc3\xb6rg@b\xc3\xbc"
	      "cher.example>\n\nx\n",
	    "to",
	    "[{\"name\":\"\",\"address\":\"用户@例子.广告\"},"
	    "{\"name\":\"Jörg\",\"address\":\"jörg@bücher.example\"}]" },
	{ "two To fields add up", 0, A "To: a@x.com\nTo: b@x.com\n\nx\n",
	    "to.1.address", "\"b@x.com\"" },
	{ "cc", 0, A "Cc: Carol <carol@x.com>\n\nx\n", "cc",
	    "[{\"name\":\"Carol\",\"address\":\"carol@x.com\"}]" },
	{ "no cc", 0, A "\nx\n", "cc", "[]" },
};

static void
test_addresses(void **state)
{
	RUN(address_rows);
}

/* RFC 5322 3.3 dates, 3.6.4 identification. */
static const struct row date_id_rows[] = {
	{ "date as given", 0, H "Date: Mon, 1 Jan 2024 10:00:00 +0200\n\nx\n",
	    "date", "\"Mon, 1 Jan 2024 10:00:00 +0200\"" },
	{ "date in UTC", 0, H "Date: Mon, 1 Jan 2024 10:00:00 +0200\n\nx\n",
	    "date_iso", "\"2024-01-01T08:00:00Z\"" },
	{ "date across midnight", 0,
	    H "Date: Fri, 29 Dec 2023 23:30:00 -0100\n\nx\n", "date_iso",
	    "\"2023-12-30T00:30:00Z\"" },
	{ "obsolete zone EST", 0, H "Date: Mon, 1 Jan 2024 10:00:00 EST\n\nx\n",
	    "date_iso", "\"2024-01-01T15:00:00Z\"" },
	{ "no weekday, no seconds", 0, H "Date: 1 Jan 2024 10:00 GMT\n\nx\n",
	    "date_iso", "\"2024-01-01T10:00:00Z\"" },
	{ "two-digit year", 0, H "Date: Mon, 1 Jan 24 10:00:00 +0000\n\nx\n",
	    "date_iso", "\"2024-01-01T10:00:00Z\"" },
	{ "unparsable date", 0, H "Date: not a date\n\nx\n", "date_iso",
	    "null" },
	{ "unparsable date kept", 0, H "Date: not a date\n\nx\n", "date",
	    "\"not a date\"" },
	{ "impossible day", 0, H "Date: Mon, 31 Feb 2024 10:00:00 +0000\n\nx\n",
	    "date_iso", "null" },
	{ "no date", 0, H "\nx\n", "date", "null" },
	{ "message-id without brackets", 0,
	    H "Message-ID: <abc.123@example.com>\n\nx\n", "message_id",
	    "\"abc.123@example.com\"" },
	{ "message-id unbracketed", 0, H "Message-ID: abc@example.com\n\nx\n",
	    "message_id", "\"abc@example.com\"" },
	{ "message-id after a comment", 0, H "Message-ID: (c) <x@y>\n\nx\n",
	    "message_id", "\"x@y\"" },
	{ "no message-id", 0, H "\nx\n", "message_id", "null" },
};

static void
test_date_and_id(void **state)
{
	RUN(date_id_rows);
}

/* Bodies: RFC 2045 6 transfer encodings, RFC 2046 charsets. */
static const struct row body_rows[] = {
	{ "text/plain, LF line ends", 0, H PLAIN "\nline 1\nline 2\n", "text",
	    "\"line 1\\nline 2\\n\"" },
	{ "no content-type is text", 0, "From: a@x.com\n\nhello\n", "text",
	    "\"hello\\n\"" },
	{ "quoted-printable", 0,
	    H PLAIN "Content-Transfer-Encoding: quoted-printable\n\n"
		    "caf=C3=A9 soft=\n break\n",
	    "text", "\"café soft break\\n\"" },
	{ "base64", 0,
	    H PLAIN "Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQK\n",
	    "text", "\"hello world\\n\"" },
	{ "latin-1 body", RAW,
	    H "Content-Type: text/plain; charset=iso-8859-1\n\nd\xe9j\xe0\n",
	    "text", "\"déjà\\n\"" },
	{ "iso-2022-jp body", 0,
	    H "Content-Type: text/plain; charset=iso-2022-jp\n"
	      "Content-Transfer-Encoding: base64\n\nGyRCJDkkXyReJDskcyEjGyhC\n",
	    "text", "\"すみません。\"" },
	{ "bad UTF-8 in body replaced", RAW, H PLAIN "\nbad \xff byte\n",
	    "text", "\"bad \xef\xbf\xbd byte\\n\"" },
	{ "NUL in body replaced", 0,
	    H PLAIN "Content-Transfer-Encoding: "
		    "base64\n\nYQBiCg==\n",
	    "text",
	    "\"a\xef\xbf\xbd"
	    "b\\n\"" },
	{ "unknown charset read as UTF-8", RAW,
	    H "Content-Type: text/plain; charset=x-bogus\n\nabc\xe9\n", "text",
	    "\"abc\xef\xbf\xbd\\n\"" },
	{ "alternative: text from text/plain", 0,
	    H "Content-Type: multipart/alternative; boundary=b\n\n--b\n" PLAIN
	      "\nplain text\n--b\nContent-Type: text/html\n\n<p>html</p>\n"
	      "--b--\n",
	    "text", "\"plain text\"" },
	{ "alternative: html kept", 0,
	    H "Content-Type: multipart/alternative; boundary=b\n\n--b\n" PLAIN
	      "\nplain text\n--b\nContent-Type: text/html\n\n<p>html</p>\n"
	      "--b--\n",
	    "html", "\"<p>html</p>\"" },
	{ "no html is null", 0, H PLAIN "\nx\n", "html", "null" },
	{ "html only: text from html", 0,
	    H "Content-Type: text/html; charset=utf-8\n\n"
	      "<html><head><title>T</title><style>p{color:red}</style></head>"
	      "<body><h1>Alert</h1><p>DB&nbsp;down &amp; &eacute;</p>"
	      "<script>alert(1)</script>end</body></html>\n",
	    "text", "\"Alert\\n\\nDB down & é\\n\\nend\"" },
	{ "html charset converted", RAW,
	    H
	    "Content-Type: text/html; charset=iso-8859-1\n\n<p>\xe9t\xe9</p>\n",
	    "text", "\"été\"" },
	{ "two inline text parts joined", 0,
	    H "Content-Type: multipart/mixed; boundary=b\n\n--b\n" PLAIN
	      "\nfirst\n--b\n" PLAIN "Content-Disposition: inline\n\nsecond\n"
	      "--b--\n",
	    "text", "\"first\\nsecond\"" },
	{ "text/plain attachment not in text", 0,
	    H "Content-Type: multipart/mixed; boundary=b\n\n--b\n" PLAIN
	      "\nbody\n--b\n" PLAIN "Content-Disposition: attachment\n\nfile\n"
	      "--b--\n",
	    "text", "\"body\"" },
	{ "signed: text inside", 0,
	    H "Content-Type: multipart/signed; boundary=s; "
	      "protocol=\"application/pgp-signature\"\n\n--s\n" PLAIN
	      "\nsigned text\n--s\nContent-Type: application/pgp-signature\n\n"
	      "SIG\n--s--\n",
	    "text", "\"signed text\"" },
	{ "empty body", 0, H "\n", "text", "\"\"" },
};

static void
test_bodies(void **state)
{
	RUN(body_rows);
}

/* The new text of a reply, through the whole parse. */
static const struct row stripped_rows[] = {
	{ "top-posted reply", 0,
	    H PLAIN "\nAck, on it.\n\nOn Mon, 1 Jan 2024 at 10:00, Bob "
		    "<bob@x.com> wrote:\n> disk full\n> on db1\n",
	    "stripped_text", "\"Ack, on it.\"" },
	{ "signature removed", 0,
	    H PLAIN "\nRestarted.\n-- \nAlice\nOps team\n", "stripped_text",
	    "\"Restarted.\"" },
	{ "quoted lines between new lines", 0,
	    H PLAIN "\n> question 1\nanswer 1\n> question 2\nanswer 2\n",
	    "stripped_text", "\"answer 1\\nanswer 2\"" },
	{ "html reply: blockquote is quoted", 0,
	    H "Content-Type: text/html\n\n<div>Fixed.</div><div>On Mon, Bob "
	      "wrote:</div><blockquote>old</blockquote>\n",
	    "stripped_text", "\"Fixed.\"" },
	{ "no reply: all of it", 0, H PLAIN "\nJust text.\n", "stripped_text",
	    "\"Just text.\"" },
};

static void
test_stripped(void **state)
{
	RUN(stripped_rows);
}

/* A multipart/mixed with a text body; rows add parts and the end. */
#define MIXED_HEAD H "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
#define MIXED MIXED_HEAD PLAIN "\nbody\n"
/* sha256 of "hello\n" and of "" */
#define SHA_HELLO \
	"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define SHA_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct row attachment_rows[] = {
	{ "attachment object", 0,
	    MIXED "--b\nContent-Type: application/pdf; name=\"r.pdf\"\n"
		  "Content-Disposition: attachment; filename=\"r.pdf\"\n"
		  "Content-Transfer-Encoding: base64\n\naGVsbG8K\n--b--\n",
	    "attachments",
	    "[{\"filename\":\"r.pdf\",\"content_type\":\"application/pdf\","
	    "\"disposition\":\"attachment\",\"size\":6,\"sha256\":\"" SHA_HELLO
	    "\"}]" },
	{ "RFC 2231 filename", 0,
	    MIXED "--b\nContent-Type: application/pdf\n"
		  "Content-Disposition: attachment; "
		  "filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n\nx\n--b--\n",
	    "attachments.0.filename", "\"résumé.pdf\"" },
	{ "RFC 2231 continuations", 0,
	    MIXED "--b\nContent-Type: text/plain\nContent-Disposition: "
		  "attachment; filename*0*=utf-8''long%20; "
		  "filename*1=\"name.txt\"\n\nx\n--b--\n",
	    "attachments.0.filename", "\"long name.txt\"" },
	{ "RFC 2047 filename (common, not standard)", 0,
	    MIXED "--b\nContent-Type: image/png\nContent-Disposition: "
		  "attachment; filename=\"=?utf-8?B?w6lsw6kucG5n?=\"\n\nx\n"
		  "--b--\n",
	    "attachments.0.filename", "\"élé.png\"" },
	{ "filename from Content-Type name", 0,
	    MIXED "--b\nContent-Type: application/zip; name=\"a.zip\"\n\nx\n"
		  "--b--\n",
	    "attachments.0.filename", "\"a.zip\"" },
	{ "content type lower-cased", 0,
	    MIXED "--b\nContent-Type: Application/PDF\n\nx\n--b--\n",
	    "attachments.0.content_type", "\"application/pdf\"" },
	{ "inline image with filename included", 0,
	    MIXED "--b\nContent-Type: image/png\nContent-Disposition: inline; "
		  "filename=\"logo.png\"\nContent-Transfer-Encoding: base64\n\n"
		  "aGVsbG8K\n--b--\n",
	    "attachments.0",
	    "{\"filename\":\"logo.png\",\"content_type\":\"image/png\","
	    "\"disposition\":\"inline\",\"size\":6,\"sha256\":\"" SHA_HELLO
	    "\"}" },
	{ "related image without a name included", 0,
	    H "Content-Type: multipart/related; boundary=r\n\n--r\n"
	      "Content-Type: text/html\n\n<img src=\"cid:1\">hi\n--r\n"
	      "Content-Type: image/png\nContent-ID: <1>\n\n\n--r--\n",
	    "attachments",
	    "[{\"filename\":null,\"content_type\":\"image/png\","
	    "\"disposition\":null,\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}]" },
	{ "message/rfc822 included, bytes as received", 0,
	    MIXED "--b\nContent-Type: message/rfc822\n\nFrom: x@y\n"
		  "Subject: inner\n\ninner body\n\n--b--\n",
	    "attachments",
	    "[{\"filename\":null,\"content_type\":\"message/rfc822\","
	    "\"disposition\":null,\"size\":41,\"sha256\":"
	    "\"969237c29477278300a26f53a4336b8a85f27be8401d5a315bfaea99c98c52de"
	    "\"}]" },
	{ "message/rfc822 body not in text", 0,
	    MIXED "--b\nContent-Type: message/rfc822\n\nFrom: x@y\n\ninner\n"
		  "--b--\n",
	    "text", "\"body\"" },
	{ "no attachments", 0, H PLAIN "\nx\n", "attachments", "[]" },
};

static void
test_attachments(void **state)
{
	RUN(attachment_rows);
}

static const struct row header_rows[] = {
	{ "all headers in order, decoded", 0,
	    "Received: from a by b\nContent-Type: text/plain\n"
	    "From: a@x.com\nSubject: =?utf-8?q?caf=C3=A9?=\n"
	    "X-Dup: 1\nX-Dup: 2\nMIME-Version: 1.0\n\nx\n",
	    "headers",
	    "[{\"name\":\"Received\",\"value\":\"from a by b\"},"
	    "{\"name\":\"Content-Type\",\"value\":\"text/plain\"},"
	    "{\"name\":\"From\",\"value\":\"a@x.com\"},"
	    "{\"name\":\"Subject\",\"value\":\"café\"},"
	    "{\"name\":\"X-Dup\",\"value\":\"1\"},"
	    "{\"name\":\"X-Dup\",\"value\":\"2\"},"
	    "{\"name\":\"MIME-Version\",\"value\":\"1.0\"}]" },
	{ "folded value unfolded", 0, H "X-Long: a\n\tb\n\nx\n", "headers.3",
	    "{\"name\":\"X-Long\",\"value\":\"a\\tb\"}" },
	{ "8-bit value replaced", RAW, H "X-Bad: \xff ok\n\nx\n",
	    "headers.3.value", "\"\xef\xbf\xbd ok\"" },
	{ "empty value", 0, H "X-Empty:\n\nx\n", "headers.3.value", "\"\"" },
};

static void
test_headers(void **state)
{
	RUN(header_rows);
}

/* Every warning, and every limit with its warning. */
#define BIG_HEADER                                        \
	"X-Big: 0123456789012345678901234567890123456789" \
	"012345678901234567890123456789\n"
static const struct row warning_rows[] = {
	{ "clean message: none", 0, H PLAIN "\nx\n", "parse_warnings", "[]" },
	{ "bare LF", RAW, H PLAIN "\nx\n", "parse_warnings", "[\"bare_lf\"]" },
	{ "bare CR", RAW, "From: a@x.com\r\nSubject: a\rb\r\n\r\nx\r\n",
	    "parse_warnings", "[\"bare_cr\"]" },
	{ "missing MIME-Version", 0,
	    "From: a@x.com\nContent-Type: text/plain\n\nx\n", "parse_warnings",
	    "[\"missing_mime_version\"]" },
	{ "missing end boundary", 0,
	    H "Content-Type: multipart/mixed; boundary=b\n\n--b\n" PLAIN
	      "\npart\n",
	    "parse_warnings", "[\"missing_end_boundary\"]" },
	{ "missing end boundary: text kept", 0,
	    H "Content-Type: multipart/mixed; boundary=b\n\n--b\n" PLAIN
	      "\npart\n",
	    "text", "\"part\\n\"" },
	{ "multipart without boundary", 0,
	    H "Content-Type: multipart/mixed\n\nx\n", "parse_warnings",
	    "[\"multipart_without_boundary: mixed\"]" },
	{ "unknown transfer encoding", 0,
	    H PLAIN "Content-Transfer-Encoding: x-bogus\n\nhello\n",
	    "parse_warnings", "[\"bad_transfer_encoding: x-bogus\"]" },
	{ "unknown transfer encoding: raw text", 0,
	    H PLAIN "Content-Transfer-Encoding: x-bogus\n\nhello\n", "text",
	    "\"hello\\n\"" },
	{ "invalid base64", 0,
	    H PLAIN "Content-Transfer-Encoding: base64\n\naGVsbG8*gd29ybGQ\n",
	    "parse_warnings", "[\"bad_transfer_encoding: invalid base64\"]" },
	{ "invalid quoted-printable", 0,
	    H PLAIN "Content-Transfer-Encoding: quoted-printable\n\na=ZZb\n",
	    "parse_warnings",
	    "[\"bad_transfer_encoding: invalid quoted-printable\"]" },
	{ "invalid uuencode", 0,
	    H PLAIN "Content-Transfer-Encoding: x-uuencode\n\nhello\n",
	    "parse_warnings", "[\"bad_transfer_encoding: invalid uuencode\"]" },
	{ "multipart with base64 encoding", 0,
	    H "Content-Type: multipart/mixed; boundary=b\n"
	      "Content-Transfer-Encoding: base64\n\n--b\n" PLAIN "\nx\n--b--\n",
	    "parse_warnings", "[\"bad_transfer_encoding: base64\"]" },
	{ "invalid UTF-8 in a header", RAW,
	    "From: a@x.com\r\nSubject: \xff\r\n\r\nx\r\n", "parse_warnings",
	    "[\"invalid_utf8_replaced: Subject\"]" },
	{ "invalid UTF-8 in the body", RAW, "From: a@x.com\r\n\r\n\xc3\x28\r\n",
	    "parse_warnings", "[\"invalid_utf8_replaced: body\"]" },
	{ "unknown charset", 0,
	    H "Content-Type: text/plain; charset=x-bogus\n\nabc\n",
	    "parse_warnings", "[\"unknown_charset: x-bogus\"]" },
	{ "bad date", 0, H "Date: someday\n\nx\n", "parse_warnings",
	    "[\"bad_date: someday\"]" },
	{ "From without a mailbox", 0, "From: <>\n\nx\n", "parse_warnings",
	    "[\"no_mailbox: From\"]" },
	{ "no headers at all: body kept", 0, "just a line\nand another\n",
	    "text", "\"just a line\\nand another\\n\"" },
	{ "no headers at all: warned", 0, "just a line\nand another\n",
	    "parse_warnings",
	    "[\"invalid_header_name: just a line\", \"no_headers\"]" },
	{ "empty input", 0, "", "parse_warnings", "[\"no_headers\"]" },
	{ "mbox From line skipped", 0,
	    "From alice@x.com Mon Jan  1 10:00:00 2024\nFrom: a@x.com\n"
	    "Subject: s\n\nx\n",
	    "parse_warnings", "[\"mbox_from_line\"]" },
	{ "mbox From line: subject read", 0,
	    "From alice@x.com Mon Jan  1 10:00:00 2024\nFrom: a@x.com\n"
	    "Subject: s\n\nx\n",
	    "subject", "\"s\"" },
	{ "duplicate header", 0, H "Subject: a\nSubject: a\n\nx\n",
	    "parse_warnings", "[\"duplicate_header: Subject\"]" },
	{ "conflicting header", 0, H "Subject: a\nSubject: b\n\nx\n",
	    "parse_warnings", "[\"conflicting_header: Subject\"]" },
	{ "limit: header value", TINY, "From: a@x.com\n" BIG_HEADER "\nx\n",
	    "parse_warnings", "[\"header_too_long: X-Big\"]" },
	{ "limit: header value cut", TINY, "From: a@x.com\n" BIG_HEADER "\nx\n",
	    "headers.1.value",
	    "\"01234567890123456789012345678901234567890123456789012345678901"
	    "23\"" },
	{ "limit: headers", TINY,
	    "From: a@x.com\nA: 1\nB: 2\nC: 3\nD: 4\nE: 5\n\nx\n",
	    "parse_warnings", "[\"too_many_headers\"]" },
	{ "limit: headers listed", TINY,
	    "From: a@x.com\nA: 1\nB: 2\nC: 3\nD: 4\nE: 5\n\nx\n",
	    "headers.3.name", "\"C\"" },
	{ "limit: headers still read", TINY,
	    "A: 1\nB: 2\nC: 3\nD: 4\nSubject: late\n\nx\n", "subject",
	    "\"late\"" },
	{ "limit: addresses", TINY,
	    "From: a@x.com\nTo: a@x.com, b@x.com, c@x.com\n\nx\n",
	    "parse_warnings", "[\"too_many_addresses: To\"]" },
	{ "limit: addresses listed", TINY,
	    "From: a@x.com\nTo: a@x.com, b@x.com, c@x.com\n\nx\n",
	    "to.1.address", "\"b@x.com\"" },
	{ "limit: attachments", TINY,
	    "From: a@x.com\nContent-Type: multipart/mixed; boundary=b\n"
	    "MIME-Version: 1.0\n\n--b\nContent-Type: image/png\n\n1\n--b\n"
	    "Content-Type: image/png\n\n2\n--b--\n",
	    "parse_warnings", "[\"too_many_attachments\"]" },
	{ "limit: parts", TINY,
	    "From: a@x.com\nContent-Type: multipart/mixed; boundary=b\n"
	    "MIME-Version: 1.0\n\n--b\n\n1\n--b\n\n2\n--b\n\n3\n--b--\n",
	    "parse_warnings", "[\"too_many_parts\"]" },
	{ "limit: parts, text of the first ones", TINY,
	    "From: a@x.com\nContent-Type: multipart/mixed; boundary=b\n"
	    "MIME-Version: 1.0\n\n--b\n\n1\n--b\n\n2\n--b\n\n3\n--b--\n",
	    "text", "\"1\\n2\"" },
	{ "limit: nesting", TINY,
	    "From: a@x.com\nContent-Type: multipart/mixed; boundary=a\n"
	    "MIME-Version: 1.0\n\n--a\nContent-Type: multipart/mixed; "
	    "boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n"
	    "--c\n\ndeep\n--c--\n--b--\n--a--\n",
	    "parse_warnings", "[\"nesting_too_deep\"]" },
	{ "limit: text", TINY,
	    "From: a@x.com\n\n0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789\n",
	    "parse_warnings", "[\"text_truncated\"]" },
	{ "limit: text cut", TINY,
	    "From: a@x.com\n\n0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789\n",
	    "text",
	    "\"01234567890123456789012345678901234567890123456789012345678901"
	    "23\"" },
	{ "limit: text cut on a character", TINY,
	    "From: a@x.com\nContent-Type: text/plain; charset=utf-8\n"
	    "MIME-Version: 1.0\n\n"
	    "012345678901234567890123456789012345678901234567890123456789012"
	    "\xc3\xa9\n",
	    "text",
	    "\"012345678901234567890123456789012345678901234567890123456789012"
	    "\"" },
	{ "limit: html", TINY,
	    "From: a@x.com\nContent-Type: text/html\nMIME-Version: 1.0\n\n"
	    "<p>0123456789012345678901234567890123456789</p>"
	    "<p>0123456789012345678901234567890123456789</p>\n",
	    "parse_warnings", "[\"html_truncated\"]" },
	{ "limit: html tags", TINY,
	    "From: a@x.com\nContent-Type: text/html\nMIME-Version: 1.0\n\n"
	    "<b>1</b><b>2</b><b>3</b><b>4</b><b>5</b><b>6</b><b>7</b><b>8</b>"
	    "<b>9</b>\n",
	    "text", "\"12345678\"" },
	{ "limit: warnings", TINY,
	    "From: <>\nSubject: \xff\nDate: x\nContent-Type: "
	    "text/plain\n\n\xff\n",
	    "parse_warnings",
	    "[\"no_mailbox: From\", \"invalid_utf8_replaced: Subject\","
	    " \"bad_date: x\", \"too_many_warnings\"]" },
};

static void
test_warnings(void **state)
{
	RUN(warning_rows);
}

/* The fixture messages: data/mime/NAME.eml and, in NAME.want.json, an
 * object of path → expected value. */
static const char *const fixtures[] = {
	"reply",
	"alert-html",
	"attachments",
	"broken",
};

static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *d;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t)len + 1);
	assert_non_null(d);
	*n = fread(d, 1, (size_t)len, f);
	d[*n] = '\0';
	fclose(f);
	return d;
}

static int
check_fixture(const char *dir, const char *name)
{
	char path[4096];
	json_t *want, *got, *v;
	json_error_t err;
	const char *key;
	char *data;
	size_t n;
	int failed = 0;

	snprintf(path, sizeof(path), "%s/%s.eml", dir, name);
	data = slurp(path, &n);
	snprintf(path, sizeof(path), "%s/%s.want.json", dir, name);
	want = json_load_file(path, 0, &err);
	if (data == NULL || want == NULL) {
		printf("%s: cannot read %s.eml or %s.want.json (%s)\n", name,
		    name, name, err.text);
		free(data);
		json_decref(want);
		return 1;
	}
	got = message_parse(data, n, NULL);
	json_object_foreach(want, key, v)
	{
		char *w = json_dumps(v, JSON_ENCODE_ANY);

		failed += check_path(name, got, key, w);
		free(w);
	}
	json_decref(got);
	json_decref(want);
	free(data);
	return failed;
}

static void
test_fixtures(void **state)
{
	const char *src = getenv("MT_SOURCE_DIR");
	char dir[4096];
	size_t i;
	int failed = 0;

	snprintf(dir, sizeof(dir), "%s/tests/unit/data/mime",
	    src != NULL ? src : ".");
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		failed += check_fixture(dir, fixtures[i]);
	assert_int_equal(failed, 0);
}

/* The helpers on their own. */
struct text_row {
	const char *name;
	const char *in;
	const char *want;
};

static int
check_text(const char *name, const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return 0;
	printf("%s:\n  got  \"%s\"\n  want \"%s\"\n", name, got, want);
	return 1;
}

static const struct text_row html_rows[] = {
	{ "paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo" },
	{ "divs are lines", "<div>a</div><div>b</div>", "a\nb" },
	{ "br", "a<br>b<br/>c", "a\nb\nc" },
	{ "two br make a blank line", "a<br><br>b", "a\n\nb" },
	{ "whitespace collapsed", "  a \n\t b  ", "a b" },
	{ "entities decoded", "&lt;tag&gt; &amp; &quot;q&quot; &#233; &#x20AC;",
	    "<tag> & \"q\" é €" },
	{ "nbsp is a space", "a&nbsp;b", "a b" },
	{ "script and style dropped",
	    "<style>p{}</style>a<script>var x = '<p>';</script>b", "ab" },
	{ "head dropped", "<head><title>T</title></head><body>x</body>", "x" },
	{ "template dropped", "a<template><p>t</p></template>b", "ab" },
	{ "comment dropped", "a<!-- c -->b", "ab" },
	{ "list items", "<ul><li>one</li><li>two</li></ul>", "- one\n- two" },
	{ "table cells and rows",
	    "<table><tr><th>Key</th><th>Value</th></tr>"
	    "<tr><td>Severity</td><td>critical</td></tr></table>",
	    "Key\tValue\nSeverity\tcritical" },
	{ "blockquote prefixed",
	    "<p>new</p><blockquote>old<br>older"
	    "</blockquote>",
	    "new\n\n> old\n> older" },
	{ "nested blockquote",
	    "<blockquote>a<blockquote>b</blockquote></blockquote>",
	    "> a\n\n> > b" },
	{ "pre keeps whitespace", "<pre>  a   b\n  c</pre>", "  a   b\n  c" },
	{ "inline elements inline", "<b>bold</b> and <a href=x>link</a>",
	    "bold and link" },
	{ "broken markup repaired", "<p>a<p>b</div>c<ul><li>1<li>2</ul>",
	    "a\n\nbc\n\n- 1\n- 2" },
	{ "headings", "<h1>Title</h1>text", "Title\n\ntext" },
	{ "empty", "", "" },
	{ "text only", "plain", "plain" },
};

static void
test_html_to_text(void **state)
{
	struct message_parse_opts o;
	size_t i;
	int failed = 0;
	char *got;
	bool cut;

	message_parse_opts_default(&o);
	for (i = 0; i < sizeof(html_rows) / sizeof(html_rows[0]); i++) {
		got = message_html_to_text(html_rows[i].in,
		    strlen(html_rows[i].in), &o.limits, &cut);
		failed += check_text(html_rows[i].name, got, html_rows[i].want);
		if (cut) {
			printf("%s: truncated\n", html_rows[i].name);
			failed++;
		}
		free(got);
	}
	assert_int_equal(failed, 0);
}

/* A tree far deeper than any stack would take, walked without
 * recursion; the tag limit keeps gumbo's quadratic cost bounded. */
static void
test_html_deep(void **state)
{
	struct message_parse_opts o;
	size_t i, n = 200000;
	char *html = malloc(5 * n + 2), *got;
	bool cut = false;

	assert_non_null(html);
	for (i = 0; i < n; i++)
		memcpy(html + 5 * i, "<div>", 5);
	html[5 * n] = 'x';
	html[5 * n + 1] = '\0';
	message_parse_opts_default(&o);
	got = message_html_to_text(html, 5 * n + 1, &o.limits, &cut);
	if (!cut || strcmp(got, "") != 0)
		printf("deep html: got \"%s\" cut %d, want \"\" cut 1\n", got,
		    cut);
	assert_true(cut);
	assert_string_equal(got, "");
	free(got);
	free(html);
}

static const struct text_row stripped_text_rows[] = {
	{ "attribution one line",
	    "Yes.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Bob <b@x.com> wrote:\n> "
	    "q\n",
	    "Yes." },
	{ "attribution wrapped (Gmail)",
	    "Yes.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Bob Smith <\n"
	    "bob@example.com> wrote:\n\n> q\n",
	    "Yes." },
	{ "attribution cuts unquoted text after it",
	    "Yes.\nOn Monday Bob wrote:\nold text not quoted\n", "Yes." },
	{ "German attribution",
	    "Ja.\n\nAm 01.01.2024 um 10:00 schrieb Bob <b@x.com>:\n"
	    "Am 01.01.2024 schrieb:\n> q\n",
	    "Ja." },
	{ "French attribution",
	    "Oui.\n\nLe 1 janv. 2024, Bob a \xc3\xa9"
	    "crit :\n> q\n",
	    "Oui." },
	{ "Outlook original message",
	    "Done.\n\n-----Original Message-----\nFrom: Bob\nSent: today\n",
	    "Done." },
	{ "Outlook underscore block",
	    "Done.\n\n________________________________\nFrom: Bob\nSent: x\n",
	    "Done." },
	{ "signature", "Text.\n\n-- \nAlice\n", "Text." },
	{ "signature without its space", "Text.\n--\nAlice\n", "Text." },
	{ "dashes with text are not a signature", "a\n-- b\nc\n",
	    "a\n-- b\nc" },
	{ "quoted lines dropped", "> a\nb\n  > c\nd\n", "b\nd" },
	{ "blank lines met by a drop collapse", "new\n\n> old\n\nmore\n",
	    "new\n\nmore" },
	{ "blank lines of the writer kept", "a\n\n\nb\n", "a\n\n\nb" },
	{ "On without wrote is text", "On call tonight.\nSee you.\n",
	    "On call tonight.\nSee you." },
	{ "leading blank lines trimmed", "\n\n  \nx\n\n", "x" },
	{ "only quotes", "> a\n> b\n", "" },
	{ "empty", "", "" },
};

static void
test_stripped_text(void **state)
{
	size_t i;
	int failed = 0;
	char *got;

	for (i = 0;
	     i < sizeof(stripped_text_rows) / sizeof(stripped_text_rows[0]);
	     i++) {
		got = message_stripped_text(stripped_text_rows[i].in,
		    strlen(stripped_text_rows[i].in));
		failed += check_text(stripped_text_rows[i].name, got,
		    stripped_text_rows[i].want);
		free(got);
	}
	assert_int_equal(failed, 0);
}

struct utf8_row {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
	size_t replaced;
};

#define U(n, in, want, r)                      \
	{                                      \
		n, in, sizeof(in) - 1, want, r \
	}
#define FFFD "\xef\xbf\xbd"
static const struct utf8_row utf8_rows[] = {
	U("ascii", "abc", "abc", 0),
	U("2, 3 and 4 bytes", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0),
	U("lone continuation",
	    "a\x80"
	    "b",
	    "a" FFFD "b", 1),
	U("bad lead byte", "\xff", FFFD, 1),
	U("overlong 2 bytes", "\xc0\xaf", FFFD FFFD, 2),
	U("overlong 3 bytes", "\xe0\x80\xaf", FFFD FFFD FFFD, 3),
	U("surrogate", "\xed\xa0\x80", FFFD FFFD FFFD, 3),
	U("above U+10FFFF", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, 4),
	U("truncated sequence is one U+FFFD",
	    "\xe2\x82"
	    "x",
	    FFFD "x", 1),
	U("truncated at the end", "x\xf0\x9f\x98", "x" FFFD, 1),
	U("NUL replaced", "a\0b", "a" FFFD "b", 1),
	U("max code point", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", 0),
};

static void
test_utf8_clean(void **state)
{
	size_t i, n, r;
	int failed = 0;
	char *got;

	for (i = 0; i < sizeof(utf8_rows) / sizeof(utf8_rows[0]); i++) {
		got = message_utf8_clean(utf8_rows[i].in, utf8_rows[i].len, &n,
		    &r);
		failed += check_text(utf8_rows[i].name, got, utf8_rows[i].want);
		if (r != utf8_rows[i].replaced) {
			printf("%s: replaced got %zu want %zu\n",
			    utf8_rows[i].name, r, utf8_rows[i].replaced);
			failed++;
		}
		free(got);
	}
	assert_int_equal(failed, 0);
}

/* What `mailtrigger parse` prints. */
static void
test_parse_to_json(void **state)
{
	const char msg[] = "From: a@x.com\r\nSubject: hi\r\n\r\nbody\r\n";
	json_error_t err;
	json_t *j;
	char *out = NULL;

	assert_int_equal(message_parse_to_json(msg, sizeof(msg) - 1, NULL,
			     &out),
	    MESSAGE_OK);
	assert_non_null(out);
	assert_int_equal(out[strlen(out) - 1], '\n');
	j = json_loads(out, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(path_get(j, "message.subject")),
	    "hi");
	assert_string_equal(json_string_value(path_get(j, "message.text")),
	    "body\n");
	json_decref(j);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_date_and_id),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_stripped),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_html_to_text),
		cmocka_unit_test(test_html_deep),
		cmocka_unit_test(test_stripped_text),
		cmocka_unit_test(test_utf8_clean),
		cmocka_unit_test(test_parse_to_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
