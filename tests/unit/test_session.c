/*
 * test_session - the pure SMTP state machine: every reply, pipelining,
 * STARTTLS injection, smuggling sequences, limits, BDAT, shutdown, the
 * Received: header and the transaction log.
 *
 * Table-driven: each row names a client byte stream (in up to three
 * segments fed by separate session_input() calls) and the exact replies,
 * queued messages and transaction outcomes it must give. Every row runs
 * with the input fed all at once, one byte at a time and in 7-byte steps;
 * all three must give the same result (framing never depends on where a
 * read ends). A failure prints the row name and got/want, and every row
 * runs so one run shows every failure. The config is static data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_driver.h"
#include "smtp/session_int.h"
#include "util/xmalloc.h"

/* Rows leave trailing fields out: they are zero, on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* The test config: see docs/routing.md for the address forms. */
static char *deploy_recipients[] = { "ops", "dev" };
static struct trigger demo_triggers[] = {
	{ .name = "alert" },
	{ .name = "deploy",
	    .recipients = deploy_recipients,
	    .n_recipients = 2 },
};
static struct instance instances[] = {
	{ .host = "demo.test", .triggers = demo_triggers, .n_triggers = 2 },
};
static char *canonical[] = { "mx.test" };
static struct config cfg = {
	.hostname = "mx.test",
	.instances = instances,
	.n_instances = 1,
	.canonical_names = canonical,
	.n_canonical_names = 1,
	.refcount = 1, /* never dropped to 0: the data is static */
};

static struct limits
test_limits(void)
{
	struct limits l = {
		.message_size = 10000,
		.recipients = 5,
		.errors = 10,
		.command_line = 512,
		.text_line = 1000,
	};

	return l;
}

/* Limit overrides of a row; 0 keeps test_limits(). */
struct lim {
	uint64_t message_size;
	unsigned recipients, errors;
	size_t command_line, text_line;
};

enum {
	O_TLS = 1 << 0,          /* tls_available */
	O_WHOLE = 1 << 1,        /* only all at once (STARTTLS discards) */
	O_NO_HANDSHAKE = 1 << 2, /* leave STARTTLS pending */
};

struct seg {
	const char *p;
	size_t len; /* 0 = strlen(p) */
};

struct row {
	const char *name;
	struct seg in[3];
	const char *want_out;
	const char *want_msgs;    /* NULL = none */
	const char *want_outcome; /* NULL = don't check */
	enum session_event want_ev;
	unsigned opts;
	struct lim lim;
	const char *commits;
	size_t msgs_len; /* 0 = strlen(want_msgs); set when it holds NUL */
};

/* clang-format off */
#define S(x) { x, sizeof(x) - 1 }
#define EHLO "EHLO client.test\r\n"
#define EHLO_OUT(tls) "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n" \
	"250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n" \
	"250" tls "CHUNKING\r\n"
#define EHLO_R EHLO_OUT(" ")
#define MAIL "MAIL FROM:<a@example.org>\r\n"
#define RCPT "RCPT TO:<alert@demo.test>\r\n"
#define TXN EHLO MAIL RCPT
#define OK_MAIL "250 2.1.0 Ok\r\n"
#define OK_RCPT "250 2.1.5 Ok\r\n"
#define OK "250 2.0.0 Ok\r\n"
#define TXN_R EHLO_R OK_MAIL OK_RCPT
/* HELO: the EHLO reply would show a row's own SIZE limit. */
#define HTXN "HELO client.test\r\n" MAIL RCPT
#define HTXN_R "250 mx.test\r\n" OK_MAIL OK_RCPT
#define GO_AHEAD "354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED(n) "250 2.0.0 Ok: queued as Q" #n "\r\n"
#define MSG_HDR "MSG from=<a@example.org> to=<alert@demo.test> utf8=0 body=0\n"
#define BARE_LF "521 5.5.2 mx.test Error: bare <LF> received\r\n"
#define BARE_CR "521 5.5.2 mx.test Error: bare <CR> received\r\n"
#define SEQ_HELO "503 5.5.1 Error: send HELO/EHLO first\r\n"
#define SEQ_MAIL "503 5.5.1 Error: need MAIL command\r\n"
#define UNKNOWN "500 5.5.2 Error: command not recognized\r\n"
#define TOO_BIG "552 5.3.4 Message size exceeds fixed limit\r\n"
#define NO_RCPTS "554 5.5.1 Error: no valid recipients\r\n"
#define BYE "221 2.0.0 Bye\r\n"
#define ANY SESSION_EV_NONE
#define CLOSE SESSION_EV_CLOSE
/* clang-format on */

static const struct row greeting_rows[] = {
	{ "ehlo lists the extensions", { S(EHLO) }, EHLO_R, NULL, NULL, ANY },
	{ "ehlo offers STARTTLS when TLS is available", { S(EHLO) },
	    EHLO_OUT("-") "250 STARTTLS\r\n", NULL, NULL, ANY, O_TLS },
	{ "helo", { S("HELO client.test\r\n") }, "250 mx.test\r\n", NULL, NULL,
	    ANY },
	{ "ehlo address literal", { S("EHLO [192.0.2.1]\r\n") }, EHLO_R, NULL,
	    NULL, ANY },
	{ "ehlo lower case verb", { S("ehlo client.test\r\n") }, EHLO_R, NULL,
	    NULL, ANY },
	{ "ehlo missing argument", { S("EHLO\r\n") },
	    "501 5.5.4 Syntax: EHLO hostname\r\n", NULL, NULL, ANY },
	{ "ehlo two words", { S("EHLO a b\r\n") },
	    "501 5.5.4 Syntax: EHLO hostname\r\n", NULL, NULL, ANY },
	{ "ehlo bad characters", { S("EHLO bad!host\r\n") },
	    "501 5.5.4 Syntax: EHLO hostname\r\n", NULL, NULL, ANY },
	{ "ehlo 8-bit", { S("EHLO h\xc3\xa9.test\r\n") },
	    "501 5.5.4 Syntax: EHLO hostname\r\n", NULL, NULL, ANY },
	{ "helo missing argument", { S("HELO\r\n") },
	    "501 5.5.4 Syntax: HELO hostname\r\n", NULL, NULL, ANY },
	{ "ehlo resets the transaction", { S(TXN EHLO RCPT) },
	    TXN_R EHLO_R SEQ_MAIL, NULL, "rset", ANY },
	{ "helo resets the transaction", { S(TXN "HELO x\r\n" RCPT) },
	    TXN_R "250 mx.test\r\n" SEQ_MAIL, NULL, "rset", ANY },
	{ "trailing spaces ignored", { S("EHLO client.test  \r\n") }, EHLO_R,
	    NULL, NULL, ANY },
};

static const struct row mail_rows[] = {
	{ "mail before helo", { S(MAIL) }, SEQ_HELO, NULL, NULL, ANY },
	{ "mail ok", { S(EHLO MAIL) }, EHLO_R OK_MAIL, NULL, NULL, ANY },
	{ "mail null sender", { S(EHLO "MAIL FROM:<>\r\n") }, EHLO_R OK_MAIL,
	    NULL, NULL, ANY },
	{ "mail lower case", { S(EHLO "mail from:<a@example.org>\r\n") },
	    EHLO_R OK_MAIL, NULL, NULL, ANY },
	{ "mail space after colon accepted",
	    { S(EHLO "MAIL FROM: <a@example.org>\r\n") }, EHLO_R OK_MAIL, NULL,
	    NULL, ANY },
	{ "mail nested", { S(EHLO MAIL MAIL) },
	    EHLO_R OK_MAIL "503 5.5.1 Error: nested MAIL command\r\n", NULL,
	    NULL, ANY },
	{ "mail without FROM:", { S(EHLO "MAIL <a@example.org>\r\n") },
	    EHLO_R "501 5.5.4 Syntax: MAIL FROM:<address>\r\n", NULL, NULL,
	    ANY },
	{ "mail bad path", { S(EHLO "MAIL FROM:a@example.org\r\n") },
	    EHLO_R "501 5.1.7 Bad sender address syntax\r\n", NULL, NULL, ANY },
	{ "mail junk after path", { S(EHLO "MAIL FROM:<a@example.org>x\r\n") },
	    EHLO_R "501 5.1.7 Bad sender address syntax\r\n", NULL, NULL, ANY },
	{ "mail SIZE within limit",
	    { S(EHLO "MAIL FROM:<a@example.org> SIZE=10000\r\n") },
	    EHLO_R OK_MAIL, NULL, NULL, ANY },
	{ "mail SIZE over limit",
	    { S(EHLO "MAIL FROM:<a@example.org> SIZE=10001\r\n") },
	    EHLO_R TOO_BIG, NULL, NULL, ANY },
	{ "mail SIZE overflow",
	    { S(EHLO "MAIL FROM:<a@example.org> SIZE=99999999999999999999999"
		     "\r\n") },
	    EHLO_R TOO_BIG, NULL, NULL, ANY },
	{ "mail SIZE not a number",
	    { S(EHLO "MAIL FROM:<a@example.org> SIZE=12k\r\n") },
	    EHLO_R "501 5.5.4 Error: bad MAIL parameter syntax\r\n", NULL, NULL,
	    ANY },
	{ "mail SIZE twice",
	    { S(EHLO "MAIL FROM:<a@example.org> SIZE=1 SIZE=1\r\n") },
	    EHLO_R "501 5.5.4 Error: bad MAIL parameter syntax\r\n", NULL, NULL,
	    ANY },
	{ "mail BODY=8BITMIME",
	    { S(EHLO "MAIL FROM:<a@example.org> body=8bitmime\r\n") },
	    EHLO_R OK_MAIL, NULL, NULL, ANY },
	{ "mail BODY=7BIT",
	    { S(EHLO "MAIL FROM:<a@example.org> BODY=7BIT\r\n") },
	    EHLO_R OK_MAIL, NULL, NULL, ANY },
	{ "mail BODY=BINARYMIME not offered",
	    { S(EHLO "MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n") },
	    EHLO_R "555 5.5.4 Error: unsupported BODY type\r\n", NULL, NULL,
	    ANY },
	{ "mail unknown parameter",
	    { S(EHLO "MAIL FROM:<a@example.org> RET=FULL\r\n") },
	    EHLO_R "555 5.5.4 Error: unsupported MAIL parameter\r\n", NULL,
	    NULL, ANY },
	{ "mail parameters need EHLO",
	    { S("HELO x\r\nMAIL FROM:<a@example.org> SIZE=10\r\n") },
	    "250 mx.test\r\n555 5.5.4 Error: unsupported MAIL parameter\r\n",
	    NULL, NULL, ANY },
	{ "mail SMTPUTF8 with a UTF-8 sender",
	    { S(EHLO "MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8\r\n") },
	    EHLO_R OK_MAIL, NULL, NULL, ANY },
	{ "mail UTF-8 sender without SMTPUTF8",
	    { S(EHLO "MAIL FROM:<j\xc3\xb6rg@example.org>\r\n") },
	    EHLO_R "553 5.6.7 Error: non-ASCII sender address requires "
		   "SMTPUTF8\r\n",
	    NULL, NULL, ANY },
	{ "mail SMTPUTF8 with a value",
	    { S(EHLO "MAIL FROM:<a@example.org> SMTPUTF8=yes\r\n") },
	    EHLO_R "501 5.5.4 Error: bad MAIL parameter syntax\r\n", NULL, NULL,
	    ANY },
};

static const struct row rcpt_rows[] = {
	{ "rcpt before helo", { S(RCPT) }, SEQ_HELO, NULL, NULL, ANY },
	{ "rcpt before mail", { S(EHLO RCPT) }, EHLO_R SEQ_MAIL, NULL, NULL,
	    ANY },
	{ "rcpt trigger form", { S(TXN) }, TXN_R, NULL, NULL, ANY },
	{ "rcpt recipient form",
	    { S(EHLO MAIL "RCPT TO:<ops@deploy.demo.test>"
			  "\r\n") },
	    EHLO_R OK_MAIL OK_RCPT, NULL, NULL, ANY },
	{ "rcpt relay denied", { S(EHLO MAIL "RCPT TO:<x@example.net>\r\n") },
	    EHLO_R OK_MAIL "554 5.7.1 <x@example.net>: Relay access denied\r\n",
	    NULL, NULL, ANY },
	{ "rcpt no such trigger",
	    { S(EHLO MAIL "RCPT TO:<nope@demo.test>\r\n") },
	    EHLO_R OK_MAIL "550 5.1.1 <nope@demo.test>: Recipient address "
			   "rejected: no such trigger\r\n",
	    NULL, NULL, ANY },
	{ "rcpt not a recipient",
	    { S(EHLO MAIL "RCPT TO:<eve@deploy.demo.test>\r\n") },
	    EHLO_R OK_MAIL
	    "550 5.1.1 <eve@deploy.demo.test>: Recipient address "
	    "rejected: not a recipient of this trigger\r\n",
	    NULL, NULL, ANY },
	{ "rcpt without TO:", { S(EHLO MAIL "RCPT <alert@demo.test>\r\n") },
	    EHLO_R OK_MAIL "501 5.5.4 Syntax: RCPT TO:<address>\r\n", NULL,
	    NULL, ANY },
	{ "rcpt bad path", { S(EHLO MAIL "RCPT TO:<alert@>\r\n") },
	    EHLO_R OK_MAIL "501 5.1.3 Bad recipient address syntax\r\n", NULL,
	    NULL, ANY },
	{ "rcpt null path", { S(EHLO MAIL "RCPT TO:<>\r\n") },
	    EHLO_R OK_MAIL "501 5.1.3 Bad recipient address syntax\r\n", NULL,
	    NULL, ANY },
	{ "rcpt parameter",
	    { S(EHLO MAIL "RCPT TO:<alert@demo.test> NOTIFY=NEVER"
			  "\r\n") },
	    EHLO_R OK_MAIL "555 5.5.4 Error: unsupported RCPT parameter\r\n",
	    NULL, NULL, ANY },
	{ "rcpt UTF-8 without SMTPUTF8",
	    { S(EHLO MAIL "RCPT TO:<j\xc3\xb6rg@deploy.demo.test>\r\n") },
	    EHLO_R OK_MAIL "553 5.6.7 Error: non-ASCII recipient address "
			   "requires SMTPUTF8\r\n",
	    NULL, NULL, ANY },
	{ "rcpt UTF-8 with SMTPUTF8",
	    { S(EHLO "MAIL FROM:<a@example.org> SMTPUTF8\r\n"
		     "RCPT TO:<al\xc3\xa9rt@demo.test>\r\n") },
	    EHLO_R OK_MAIL "550 5.1.1 <al\xc3\xa9rt@demo.test>: Recipient "
			   "address rejected: no such trigger\r\n",
	    NULL, NULL, ANY },
	{ "rcpt over the recipient limit",
	    { S(EHLO MAIL RCPT "RCPT TO:<alert+2@demo.test>\r\n"
			       "RCPT TO:<alert+3@demo.test>\r\n") },
	    EHLO_R OK_MAIL OK_RCPT OK_RCPT
	    "452 4.5.3 Error: too many recipients\r\n",
	    NULL, NULL, ANY, 0, { .recipients = 2 } },
	{ "rcpt repeated is kept once",
	    { S(TXN RCPT "DATA\r\n"), S("x\r\n.\r\n") },
	    TXN_R OK_RCPT GO_AHEAD QUEUED(1), MSG_HDR "x\r\n", "queued", ANY },
};

static const struct row data_rows[] = {
	{ "data before mail", { S(EHLO "DATA\r\n") }, EHLO_R SEQ_MAIL, NULL,
	    NULL, ANY },
	{ "data without valid recipients",
	    { S(EHLO MAIL "RCPT TO:<x@example.net>\r\nDATA\r\n") },
	    EHLO_R OK_MAIL
	    "554 5.7.1 <x@example.net>: Relay access denied\r\n" NO_RCPTS,
	    NULL, NULL, ANY },
	{ "data with an argument", { S(TXN "DATA x\r\n") },
	    TXN_R "501 5.5.4 Syntax: command takes no arguments\r\n", NULL,
	    NULL, ANY },
	{ "data queued",
	    { S(TXN "DATA\r\n"), S("Subject: t\r\n\r\nbody\r\n.\r\n") },
	    TXN_R GO_AHEAD QUEUED(1), MSG_HDR "Subject: t\r\n\r\nbody\r\n",
	    "queued", ANY },
	{ "data empty message", { S(TXN "DATA\r\n"), S(".\r\n") },
	    TXN_R GO_AHEAD QUEUED(1), MSG_HDR, "queued", ANY },
	{ "data dot-unstuffing",
	    { S(TXN "DATA\r\n"), S("..\r\n...x\r\n.y\r\n. \r\n.\r\n") },
	    TXN_R GO_AHEAD QUEUED(1), MSG_HDR ".\r\n..x\r\ny\r\n \r\n",
	    "queued", ANY },
	{ "data dot inside a line is data",
	    { S(TXN "DATA\r\n"), S("a.\r\n a\r\n.\r\n") },
	    TXN_R GO_AHEAD QUEUED(1), MSG_HDR "a.\r\n a\r\n", "queued", ANY },
	{ "data NUL bytes are data", { S(TXN "DATA\r\n"), S("a\0b\r\n.\r\n") },
	    TXN_R GO_AHEAD QUEUED(1), MSG_HDR "a\0b\r\n", "queued", ANY, 0,
	    { 0 }, NULL, sizeof(MSG_HDR "a\0b\r\n") - 1 },
	{ "data 8-bit kept", { S(TXN "DATA\r\n"), S("\xff\xfe\r\n.\r\n") },
	    TXN_R GO_AHEAD QUEUED(1), MSG_HDR "\xff\xfe\r\n", "queued", ANY },
	{ "data queue failure then a retry",
	    { S(TXN "DATA\r\n"), S("x\r\n.\r\n" MAIL RCPT "DATA\r\n"),
		S("y\r\n.\r\n") },
	    TXN_R GO_AHEAD "451 4.3.0 Error: queue write failed, try again "
			   "later\r\n" OK_MAIL OK_RCPT GO_AHEAD QUEUED(2),
	    MSG_HDR "x\r\n" MSG_HDR "y\r\n", "tempfail,queued", ANY, 0, { 0 },
	    "FO" },
	{ "data pipelined after the message",
	    { S(TXN "DATA\r\n"), S("x\r\n.\r\n" MAIL RCPT "DATA\r\n"),
		S("y\r\n.\r\nQUIT\r\n") },
	    TXN_R GO_AHEAD QUEUED(1) OK_MAIL OK_RCPT GO_AHEAD QUEUED(2) BYE,
	    MSG_HDR "x\r\n" MSG_HDR "y\r\n", "queued,queued", CLOSE },
	{ "data over the size limit, connection usable",
	    { S(HTXN "DATA\r\n"),
		S("0123456789012345678901234567890123456789"
		  "\r\n.\r\n" MAIL RCPT "DATA\r\n"),
		S("ok\r\n.\r\n") },
	    HTXN_R GO_AHEAD TOO_BIG OK_MAIL OK_RCPT GO_AHEAD QUEUED(1),
	    MSG_HDR "ok\r\n", "rejected,queued", ANY, 0,
	    { .message_size = 20 } },
	{ "data exactly the size limit",
	    { S(HTXN "DATA\r\n"), S("12345678\r\n.\r\n") },
	    HTXN_R GO_AHEAD QUEUED(1), MSG_HDR "12345678\r\n", "queued", ANY, 0,
	    { .message_size = 10 } },
	{ "data text line too long",
	    { S(TXN "DATA\r\n"),
		S("123456789\r\n.\r\n"
		  "NOOP\r\n") },
	    TXN_R GO_AHEAD "554 5.6.0 Message rejected: text line longer than "
			   "10 octets\r\n" OK,
	    NULL, "rejected", ANY, 0, { .text_line = 10 } },
	{ "data text line at the limit",
	    { S(TXN "DATA\r\n"), S("12345678\r\n.\r\n") },
	    TXN_R GO_AHEAD QUEUED(1), MSG_HDR "12345678\r\n", "queued", ANY, 0,
	    { .text_line = 10 } },
	{ "data after bdat", { S(TXN "BDAT 1\r\nxDATA\r\n") },
	    TXN_R "250 2.0.0 Ok: 1 octets\r\n"
		  "503 5.5.1 Error: DATA after BDAT\r\n",
	    NULL, NULL, ANY },
};

/* SMTP smuggling: no sequence but CRLF.CRLF ends DATA; none stores. */
static const struct row smuggling_rows[] = {
	{ "LF.LF", { S(TXN "DATA\r\n"), S("a\n.\nMAIL FROM:<e@vil>\r\n") },
	    TXN_R GO_AHEAD BARE_LF, NULL, "aborted", CLOSE },
	{ "CR.CR", { S(TXN "DATA\r\n"), S("a\r.\rMAIL FROM:<e@vil>\r\n") },
	    TXN_R GO_AHEAD BARE_CR, NULL, "aborted", CLOSE },
	{ "CRLF.LF", { S(TXN "DATA\r\n"), S("a\r\n.\nMAIL FROM:<e@vil>\r\n") },
	    TXN_R GO_AHEAD BARE_LF, NULL, "aborted", CLOSE },
	{ "LF.CRLF", { S(TXN "DATA\r\n"), S("a\n.\r\nMAIL FROM:<e@vil>\r\n") },
	    TXN_R GO_AHEAD BARE_LF, NULL, "aborted", CLOSE },
	{ "CRLF.CR", { S(TXN "DATA\r\n"), S("a\r\n.\rMAIL FROM:<e@vil>\r\n") },
	    TXN_R GO_AHEAD BARE_CR, NULL, "aborted", CLOSE },
	{ "CR.CRLF", { S(TXN "DATA\r\n"), S("a\r.\r\nMAIL FROM:<e@vil>\r\n") },
	    TXN_R GO_AHEAD BARE_CR, NULL, "aborted", CLOSE },
	{ "LF at the very start", { S(TXN "DATA\r\n"), S(".\n") },
	    TXN_R GO_AHEAD BARE_LF, NULL, "aborted", CLOSE },
	{ "CR at the very start", { S(TXN "DATA\r\n"), S(".\rx") },
	    TXN_R GO_AHEAD BARE_CR, NULL, "aborted", CLOSE },
	{ "CR CR LF", { S(TXN "DATA\r\n"), S("a\r\r\n.\r\n") },
	    TXN_R GO_AHEAD BARE_CR, NULL, "aborted", CLOSE },
	{ "bare LF in a command", { S("EHLO x\nMAIL FROM:<>\r\n") }, BARE_LF,
	    NULL, NULL, CLOSE },
	{ "bare CR in a command", { S("EHLO x\rMAIL FROM:<>\r\n") }, BARE_CR,
	    NULL, NULL, CLOSE },
	{ "LF alone as a command", { S(EHLO "\n") }, EHLO_R BARE_LF, NULL, NULL,
	    CLOSE },
	{ "dot line inside a command stream is a command", { S(EHLO ".\r\n") },
	    EHLO_R UNKNOWN, NULL, NULL, ANY },
};

static const struct row bdat_rows[] = {
	{ "bdat chunks", { S(TXN "BDAT 3\r\nab\nBDAT 4 LAST\r\nc\r\n.") },
	    TXN_R "250 2.0.0 Ok: 3 octets\r\n" QUEUED(1), MSG_HDR "ab\nc\r\n.",
	    "queued", ANY },
	{ "bdat 0 last", { S(TXN "BDAT 0 LAST\r\n") }, TXN_R QUEUED(1), MSG_HDR,
	    "queued", ANY },
	{ "bdat 0 then last", { S(TXN "BDAT 0\r\nBDAT 2 last\r\nhi") },
	    TXN_R "250 2.0.0 Ok: 0 octets\r\n" QUEUED(1), MSG_HDR "hi",
	    "queued", ANY },
	{ "bdat before mail skips the octets",
	    { S(EHLO "BDAT 6\r\nQUIT\r\nNOOP\r\n") }, EHLO_R SEQ_MAIL OK, NULL,
	    NULL, ANY },
	{ "bdat before helo skips the octets", { S("BDAT 6\r\nQUIT\r\n") },
	    SEQ_HELO, NULL, NULL, ANY },
	{ "bdat without valid recipients skips the octets",
	    { S(EHLO MAIL "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n") },
	    EHLO_R OK_MAIL NO_RCPTS OK, NULL, "rejected", ANY },
	{ "bdat size not a number", { S(TXN "BDAT x\r\n") },
	    TXN_R "501 5.5.4 Syntax: BDAT count [LAST]\r\n", NULL, NULL, ANY },
	{ "bdat bad LAST", { S(TXN "BDAT 1 LASTX\r\n") },
	    TXN_R "501 5.5.4 Syntax: BDAT count [LAST]\r\n", NULL, NULL, ANY },
	{ "bdat size limit across chunks",
	    { S(HTXN "BDAT 6\r\n123456BDAT 6 LAST\r\n789012NOOP\r\n") },
	    HTXN_R "250 2.0.0 Ok: 6 octets\r\n" TOO_BIG OK, NULL, "rejected",
	    ANY, 0, { .message_size = 10 } },
	{ "bdat huge size waits for its octets",
	    { S(TXN "BDAT 9999999999999999999 LAST\r\n"), S("xyz") }, TXN_R,
	    NULL, NULL, ANY },
	{ "bdat queue failure", { S(TXN "BDAT 1 LAST\r\nx" RCPT) },
	    TXN_R
	    "451 4.3.0 Error: queue write failed, try again later\r\n" SEQ_MAIL,
	    MSG_HDR "x", "tempfail", ANY, 0, { 0 }, "F" },
};

static const struct row misc_rows[] = {
	{ "rset", { S(TXN "RSET\r\n" RCPT) }, TXN_R OK SEQ_MAIL, NULL, "rset",
	    ANY },
	{ "rset with an argument", { S("RSET x\r\n") },
	    "501 5.5.4 Syntax: command takes no arguments\r\n", NULL, NULL,
	    ANY },
	{ "rset before helo", { S("RSET\r\n" MAIL) }, OK SEQ_HELO, NULL, NULL,
	    ANY },
	{ "noop", { S("NOOP\r\nnoop whatever\r\n") }, OK OK, NULL, NULL, ANY },
	{ "quit", { S("QUIT\r\nNOOP\r\n") }, BYE, NULL, NULL, CLOSE },
	{ "quit aborts a transaction", { S(TXN "QUIT\r\n") }, TXN_R BYE, NULL,
	    "aborted", CLOSE },
	{ "quit with an argument", { S("QUIT now\r\n") },
	    "501 5.5.4 Syntax: command takes no arguments\r\n", NULL, NULL,
	    ANY },
	{ "vrfy never leaks", { S("VRFY alert@demo.test\r\nVRFY nobody\r\n") },
	    "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
	    "delivery\r\n252 2.5.0 Cannot VRFY user, but will accept message "
	    "and "
	    "attempt delivery\r\n",
	    NULL, NULL, ANY },
	{ "vrfy without argument", { S("VRFY\r\n") },
	    "501 5.5.4 Syntax: VRFY address\r\n", NULL, NULL, ANY },
	{ "expn", { S("EXPN list\r\n") },
	    "502 5.5.1 Error: command not implemented\r\n", NULL, NULL, ANY },
	{ "help", { S("HELP\r\n") },
	    "214 2.0.0 mailtrigger: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP "
	    "QUIT "
	    "VRFY HELP; see RFC 5321\r\n",
	    NULL, NULL, ANY },
	{ "unknown command", { S("AUTH PLAIN x\r\n") }, UNKNOWN, NULL, NULL,
	    ANY },
	{ "empty line", { S("\r\n") }, UNKNOWN, NULL, NULL, ANY },
	{ "verb prefix is not a verb", { S("NOOPX\r\n") }, UNKNOWN, NULL, NULL,
	    ANY },
	{ "NUL in a command", { S("NO\0OP\r\nNOOP\r\n") },
	    "500 5.5.2 Error: NUL byte in command\r\n" OK, NULL, NULL, ANY },
	{ "line too long then usable", { S("NOOP 12345\r\nNOOP\r\n") },
	    "500 5.5.6 Error: line too long\r\n" OK, NULL, NULL, ANY, 0,
	    { .command_line = 11 } },
	{ "line at the limit", { S("NOOP 1234\r\n") }, OK, NULL, NULL, ANY, 0,
	    { .command_line = 11 } },
	{ "errors limit", { S("X\r\nY\r\nZ\r\nNOOP\r\n") },
	    UNKNOWN UNKNOWN UNKNOWN
	    "421 4.7.0 mx.test Error: too many errors\r\n",
	    NULL, NULL, CLOSE, 0, { .errors = 3 } },
	{ "routing rejections are not errors",
	    { S(EHLO MAIL
		"RCPT TO:<x@example.net>\r\nRCPT TO:<y@example.net>\r\n"
		"NOOP\r\n") },
	    EHLO_R OK_MAIL
	    "554 5.7.1 <x@example.net>: Relay access denied\r\n"
	    "554 5.7.1 <y@example.net>: Relay access denied\r\n" OK,
	    NULL, NULL, ANY, 0, { .errors = 2 } },
	{ "pipelined transaction in one write",
	    { S(EHLO), S(MAIL RCPT "RCPT TO:<x@example.net>\r\nDATA\r\n"),
		S("x\r\n.\r\n") },
	    EHLO_R OK_MAIL OK_RCPT "554 5.7.1 <x@example.net>: Relay access "
				   "denied\r\n" GO_AHEAD QUEUED(1),
	    MSG_HDR "x\r\n", "queued", ANY },
};

static const struct row tls_rows[] = {
	{ "starttls not offered", { S(EHLO "STARTTLS\r\n") },
	    EHLO_R "502 5.5.1 Error: command not implemented\r\n", NULL, NULL,
	    ANY },
	{ "starttls with an argument", { S(EHLO "STARTTLS x\r\n") },
	    EHLO_OUT("-") "250 STARTTLS\r\n"
			  "501 5.5.4 Syntax: command takes no arguments\r\n",
	    NULL, NULL, ANY, O_TLS },
	{ "starttls before ehlo", { S("STARTTLS\r\n") },
	    "503 5.5.1 Error: send EHLO first\r\n", NULL, NULL, ANY, O_TLS },
	{ "starttls in a transaction", { S(EHLO MAIL "STARTTLS\r\n") },
	    EHLO_OUT("-") "250 STARTTLS\r\n" OK_MAIL
			  "503 5.5.1 Error: MAIL transaction in progress\r\n",
	    NULL, NULL, ANY, O_TLS },
	{ "starttls pending discards input",
	    { S(EHLO "STARTTLS\r\n" MAIL), S(RCPT) },
	    EHLO_OUT("-") "250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n",
	    NULL, NULL, SESSION_EV_STARTTLS, O_TLS | O_NO_HANDSHAKE },
	{ "starttls injection is discarded",
	    { S(EHLO "STARTTLS\r\n" MAIL RCPT), S(EHLO RCPT) },
	    EHLO_OUT(
		"-") "250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n" EHLO_R
		SEQ_MAIL,
	    NULL, NULL, ANY, O_TLS | O_WHOLE },
	{ "after TLS the client must EHLO again",
	    { S(EHLO "STARTTLS\r\n"), S(MAIL EHLO "STARTTLS\r\n") },
	    EHLO_OUT(
		"-") "250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n" SEQ_HELO
		EHLO_R "503 5.5.1 Error: TLS already active\r\n",
	    NULL, NULL, ANY, O_TLS },
};

static struct buf esc1, esc2;

static bool
same(const char *what, const char *name, const char *got, size_t gotlen,
    const char *want, size_t wantlen)
{
	if (gotlen == wantlen && memcmp(got, want, gotlen) == 0)
		return true;
	print_error("%s: %s\n--- got:\n%s\n--- want:\n%s\n", name, what,
	    driver_escape(got, gotlen, &esc1),
	    driver_escape(want, wantlen, &esc2));
	return false;
}

static void
row_params(const struct row *r, struct session_params *p)
{
	struct limits l = test_limits();

	if (r->lim.message_size)
		l.message_size = r->lim.message_size;
	if (r->lim.recipients)
		l.recipients = r->lim.recipients;
	if (r->lim.errors)
		l.errors = r->lim.errors;
	if (r->lim.command_line)
		l.command_line = r->lim.command_line;
	if (r->lim.text_line)
		l.text_line = r->lim.text_line;
	memset(p, 0, sizeof(*p));
	p->cfg = &cfg;
	p->limits = l;
	p->hostname = "mx.test";
	p->client_ip = "192.0.2.7";
	p->tls_available = (r->opts & O_TLS) != 0;
}

/* Runs one row with one step size; returns true when it matches. */
static bool
run_row(const struct row *r, size_t step)
{
	struct session_params p;
	struct driver d;
	char name[160];
	bool ok = true;
	size_t i;

	snprintf(name, sizeof(name), "%s (step %zu)", r->name, step);
	row_params(r, &p);
	driver_init(&d, &p);
	d.commits = r->commits;
	d.tls_handshake = !(r->opts & O_NO_HANDSHAKE);
	for (i = 0; i < 3 && r->in[i].p != NULL; i++)
		if (!driver_feed(&d, r->in[i].p, r->in[i].len, step)) {
			print_error("%s: session stuck\n", name);
			ok = false;
		}
	ok &= same("replies", name, d.out.data, d.out.len, r->want_out,
	    strlen(r->want_out));
	if (r->want_msgs != NULL || d.msgs.len > 0)
		ok &= same("messages", name, d.msgs.data, d.msgs.len,
		    r->want_msgs ? r->want_msgs : "",
		    r->msgs_len      ? r->msgs_len :
			r->want_msgs ? strlen(r->want_msgs) :
				       0);
	if (r->want_outcome != NULL)
		ok &= same("transaction outcomes", name, d.outcome.data,
		    d.outcome.len, r->want_outcome, strlen(r->want_outcome));
	if (session_event(d.s) != r->want_ev) {
		print_error("%s: event got %d want %d\n", name,
		    session_event(d.s), r->want_ev);
		ok = false;
	}
	driver_free(&d);
	return ok;
}

static void
run_rows(const struct row *rows, size_t n)
{
	static const size_t steps[] = { 0, 1, 7 };
	size_t i, j, failed = 0;

	buf_init(&esc1, DRIVER_BUF_MAX);
	buf_init(&esc2, DRIVER_BUF_MAX);
	for (i = 0; i < n; i++)
		for (j = 0; j < 3; j++) {
			if (j > 0 && (rows[i].opts & O_WHOLE))
				continue;
			if (!run_row(&rows[i], steps[j]))
				failed++;
		}
	buf_free(&esc1);
	buf_free(&esc2);
	assert_int_equal(failed, 0);
}

/* A session with test_limits() and the row-less defaults. */
static void
plain_driver(struct driver *d, bool tls)
{
	static const struct row none = { "plain" };
	struct session_params p;

	row_params(&none, &p);
	p.tls_available = tls;
	driver_init(d, &p);
}

static bool
check_str(const char *name, const char *what, const struct buf *got,
    const char *want)
{
	return same(what, name, buf_str(got), got->len, want, strlen(want));
}

/* The calls the shell makes on its own: greeting, limits, timers. */
struct call_row {
	const char *name;
	const char *before; /* client input first, or NULL */
	void (*call)(struct smtp_session *);
	const char *want;
	enum session_event want_ev;
};

static void
call_greet(struct smtp_session *s)
{
	session_greet(s);
}

static void
call_refuse(struct smtp_session *s)
{
	session_refuse(s, false);
}

static void
call_refuse_ip(struct smtp_session *s)
{
	session_refuse(s, true);
}

static void
call_twice_idle(struct smtp_session *s)
{
	session_idle_timeout(s);
	session_idle_timeout(s); /* already closed: says nothing */
}

/* clang-format off */
#define SHUT "421 4.3.2 mx.test Service shutting down\r\n"
/* clang-format on */

static const struct call_row call_rows[] = {
	{ "greeting", NULL, call_greet, "220 mx.test ESMTP mailtrigger\r\n",
	    ANY },
	{ "too many connections", NULL, call_refuse,
	    "421 4.7.0 mx.test Error: too many connections\r\n", CLOSE },
	{ "too many connections from one IP", NULL, call_refuse_ip,
	    "421 4.7.0 mx.test Error: too many connections from "
	    "192.0.2.7\r\n",
	    CLOSE },
	{ "idle timeout", EHLO, call_twice_idle,
	    EHLO_R "421 4.4.2 mx.test Error: timeout exceeded\r\n", CLOSE },
	{ "session time limit", NULL, session_time_limit,
	    "421 4.4.2 mx.test Error: session time limit exceeded\r\n", CLOSE },
	{ "shutdown when idle", EHLO, session_shutdown, EHLO_R SHUT, CLOSE },
	{ "shutdown waits for the transaction", TXN, session_shutdown, TXN_R,
	    ANY },
	{ "shutdown waits for DATA", TXN "DATA\r\nabc\r\n", session_shutdown,
	    TXN_R GO_AHEAD, ANY },
	{ "shutdown now ends the transaction", TXN, session_shutdown_now,
	    TXN_R SHUT, CLOSE },
	{ "timeout in DATA", TXN "DATA\r\nabc\r\n", session_idle_timeout,
	    TXN_R GO_AHEAD "421 4.4.2 mx.test Error: timeout exceeded\r\n",
	    CLOSE },
};

static void
test_call_rows(void **state)
{
	size_t i, failed = 0;
	struct driver d;

	buf_init(&esc1, DRIVER_BUF_MAX);
	buf_init(&esc2, DRIVER_BUF_MAX);
	for (i = 0; i < NELEM(call_rows); i++) {
		const struct call_row *r = &call_rows[i];

		plain_driver(&d, false);
		if (r->before != NULL)
			driver_feed(&d, r->before, strlen(r->before), 0);
		r->call(d.s);
		driver_drain(&d);
		if (!check_str(r->name, "replies", &d.out, r->want) ||
		    session_event(d.s) != r->want_ev)
			failed++;
		driver_free(&d);
	}
	buf_free(&esc1);
	buf_free(&esc2);
	assert_int_equal(failed, 0);
}

/* A deferred shutdown speaks after the reply that ends the transaction. */
struct shutdown_row {
	const char *name;
	const char *before, *after;
	const char *want_after;
	const char *commits;
};

static const struct shutdown_row shutdown_rows[] = {
	{ "after RSET", TXN, "RSET\r\nNOOP\r\n", OK SHUT },
	{ "after the queued message", TXN "DATA\r\nabc\r\n",
	    ".\r\nMAIL FROM:<b@example.org>\r\n", QUEUED(1) SHUT },
	{ "after a failed commit", TXN "DATA\r\nabc\r\n", ".\r\nNOOP\r\n",
	    "451 4.3.0 Error: queue write failed, try again later\r\n" SHUT,
	    "F" },
	{ "after a rejected BDAT", EHLO MAIL, "BDAT 1 LAST\r\nxNOOP\r\n",
	    NO_RCPTS SHUT },
	{ "after QUIT", TXN, "QUIT\r\n", BYE },
};

static void
test_shutdown_deferred(void **state)
{
	size_t i, failed = 0;
	struct driver d;

	buf_init(&esc1, DRIVER_BUF_MAX);
	buf_init(&esc2, DRIVER_BUF_MAX);
	for (i = 0; i < NELEM(shutdown_rows); i++) {
		const struct shutdown_row *r = &shutdown_rows[i];

		plain_driver(&d, false);
		d.commits = r->commits;
		driver_feed(&d, r->before, strlen(r->before), 0);
		session_shutdown(d.s);
		driver_drain(&d);
		buf_reset(&d.out);
		driver_feed(&d, r->after, strlen(r->after), 0);
		if (!check_str(r->name, "replies", &d.out, r->want_after) ||
		    session_event(d.s) != CLOSE)
			failed++;
		driver_free(&d);
	}
	buf_free(&esc1);
	buf_free(&esc2);
	assert_int_equal(failed, 0);
}

/* RFC 5321 4.4 trace header, RFC 3848 / 6531 protocol names, folding. */
struct received_row {
	const char *name;
	const char *client_ip;
	bool tls;
	const char *input; /* up to the end of DATA, message not committed */
	/* tls: input is sent after "EHLO x", "STARTTLS" and the handshake */
	const char *want;
};

#define DATE "Tue, 1 Dec 2026 12:00:00 +0000"

static const struct received_row received_rows[] = {
	{ "ESMTP, one recipient", "192.0.2.7", false, TXN "DATA\r\n.\r\n",
	    "Received: from client.test ([192.0.2.7]) by mx.test (mailtrigger) "
	    "with ESMTP\r\n\tid ID1 for <alert@demo.test>; " DATE "\r\n" },
	{ "SMTP after HELO, two recipients, 78 columns", "192.0.2.7", false,
	    "HELO h.test\r\n" MAIL RCPT "RCPT TO:<alert+x@demo.test>\r\n"
	    "DATA\r\n.\r\n",
	    "Received: from h.test ([192.0.2.7]) by mx.test (mailtrigger) with "
	    "SMTP id ID1;\r\n\t" DATE "\r\n" },
	{ "IPv6 literal", "2001:db8::1", false, TXN "DATA\r\n.\r\n",
	    "Received: from client.test ([IPv6:2001:db8::1]) by mx.test "
	    "(mailtrigger)\r\n\twith ESMTP id ID1 for <alert@demo.test>; " DATE
	    "\r\n" },
	{ "ESMTPS", "192.0.2.7", true, TXN "DATA\r\n.\r\n",
	    "Received: from client.test ([192.0.2.7]) by mx.test (mailtrigger) "
	    "with ESMTPS\r\n\tid ID1 for <alert@demo.test>; " DATE "\r\n" },
	{ "UTF8SMTPS", "192.0.2.7", true,
	    EHLO "MAIL FROM:<a@example.org> SMTPUTF8\r\n" RCPT
		 "BDAT 0 LAST\r\n",
	    "Received: from client.test ([192.0.2.7]) by mx.test (mailtrigger)"
	    "\r\n\twith UTF8SMTPS id ID1 for <alert@demo.test>; " DATE "\r\n" },
	{ "UTF8SMTP", "192.0.2.7", false,
	    EHLO "MAIL FROM:<a@example.org> SMTPUTF8\r\n" RCPT "DATA\r\n.\r\n",
	    "Received: from client.test ([192.0.2.7]) by mx.test (mailtrigger)"
	    "\r\n\twith UTF8SMTP id ID1 for <alert@demo.test>; " DATE "\r\n" },
	{ "long HELO folds", "192.0.2.7", false,
	    "EHLO a-very-long-client-host-name.with-many-labels.example."
	    "test\r\n" MAIL RCPT "DATA\r\n.\r\n",
	    "Received: from a-very-long-client-host-name.with-many-labels."
	    "example.test\r\n\t([192.0.2.7]) by mx.test (mailtrigger) with "
	    "ESMTP id ID1\r\n\tfor <alert@demo.test>; " DATE "\r\n" },
	/* Found by fuzz_session: a HELO too long for the first line. */
	{ "HELO longer than a line stays on the first line", "192.0.2.7", false,
	    "EHLO "
	    "client-jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"
	    "jjjjjjjjjjj.example\r\n" MAIL RCPT "DATA\r\n.\r\n",
	    "Received: from "
	    "client-jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"
	    "jjjjjjjjjjjjjjjjjjj.example\r\n\t([192.0.2.7]) by mx.test "
	    "(mailtrigger) with ESMTP id ID1\r\n\tfor <alert@demo.test>; " DATE
	    "\r\n" },
};

static void
test_received_header(void **state)
{
	struct session_params p;
	struct driver d;
	struct buf hdr;
	size_t i, failed = 0;
	static const struct row none = { "received" };

	buf_init(&esc1, DRIVER_BUF_MAX);
	buf_init(&esc2, DRIVER_BUF_MAX);
	for (i = 0; i < NELEM(received_rows); i++) {
		const struct received_row *r = &received_rows[i];
		const char *in = r->input;
		size_t len = strlen(in), used;

		row_params(&none, &p);
		p.client_ip = r->client_ip;
		p.tls_available = r->tls;
		driver_init(&d, &p);
		if (r->tls)
			driver_feed(&d, "EHLO x\r\nSTARTTLS\r\n", 18, 0);
		buf_init(&hdr, 4096);
		/* Hand-fed so that the message stays pending. */
		while (len > 0 && session_event(d.s) != SESSION_EV_MESSAGE) {
			used = session_input(d.s, in, len);
			in += used;
			len -= used;
			if (session_event(d.s) == SESSION_EV_STARTTLS)
				session_tls_started(d.s, "TLSv1.3 TEST");
		}
		session_received_header(d.s, "ID1", DATE, &hdr);
		if (!check_str(r->name, "Received:", &hdr, r->want))
			failed++;
		buf_free(&hdr);
		driver_free(&d);
	}
	buf_free(&esc1);
	buf_free(&esc2);
	assert_int_equal(failed, 0);
}

/* Every RCPT is logged, up to limits.recipients + 50; the rest counted. */
static void
test_rcpt_log_bounded(void **state)
{
	struct driver d;
	struct buf in;
	int i;

	plain_driver(&d, false);
	buf_init(&in, DRIVER_BUF_MAX);
	buf_puts(&in, EHLO MAIL RCPT);
	for (i = 0; i < 100; i++)
		buf_printf(&in, "RCPT TO:<u%d@example.net>\r\n", i);
	buf_puts(&in, "RSET\r\n");
	driver_feed(&d, in.data, in.len, 0);
	assert_string_equal(buf_str(&d.outcome), "rset");
	assert_int_equal(d.last_n_log, 5 + 50);
	assert_int_equal(d.last_dropped, 101 - 55);
	assert_int_equal(session_event(d.s), SESSION_EV_NONE);
	buf_free(&in);
	driver_free(&d);
}

/*
 * The 16 KB idle budget: a small session struct, no line buffer and no
 * transaction between commands, no data buffer before content arrives,
 * and a 1 MB command line never grows the line buffer past its limit.
 */
static void
test_memory_bounds(void **state)
{
	struct driver d;
	struct buf big;

	assert_true(sizeof(struct smtp_session) <= 512);
	plain_driver(&d, false);
	driver_feed(&d, EHLO, strlen(EHLO), 0);
	assert_null(d.s->line.data);
	assert_null(d.s->txn);
	driver_feed(&d, MAIL RCPT "DATA\r\n", strlen(MAIL RCPT "DATA\r\n"), 0);
	assert_non_null(d.s->txn);
	assert_null(d.s->txn->t.data.data);
	driver_feed(&d, ".\r\n", 3, 0);
	assert_null(d.s->txn);

	buf_reset(&d.out);
	buf_init(&big, DRIVER_BUF_MAX);
	buf_puts(&big, "NOOP ");
	while (big.len < 1024 * 1024)
		buf_puts(&big,
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(session_input(d.s, big.data, big.len), big.len);
	assert_true(d.s->line.cap <= 1024);
	driver_feed(&d, "\r\nNOOP\r\n", 8, 0);
	assert_string_equal(buf_str(&d.out),
	    "500 5.5.6 Error: line too long\r\n" OK);
	buf_free(&big);
	driver_free(&d);
}

/* A client that pipelines without reading: output stays bounded. */
static void
test_output_back_pressure(void **state)
{
	struct driver d;
	struct buf in;
	size_t used, n = 0;

	plain_driver(&d, false);
	buf_init(&in, DRIVER_BUF_MAX);
	while (in.len < 64 * 1024) {
		buf_puts(&in, "NOOP\r\n");
		n++;
	}
	used = session_input(d.s, in.data, in.len);
	assert_true(used < in.len);
	assert_true(session_output(d.s)->len >= SESSION_OUTPUT_HIGH);
	assert_true(session_output(d.s)->len < SESSION_OUTPUT_HIGH + 64);
	driver_drain(&d);
	assert_true(driver_feed(&d, in.data + used, in.len - used, 0));
	assert_int_equal(d.out.len, n * strlen(OK));
	buf_free(&in);
	driver_free(&d);
}

/* session_info(): what the shell logs. */
static void
test_info(void **state)
{
	const struct session_info *info;
	struct driver d;
	static const char in[] = EHLO "X\r\n" MAIL RCPT "DATA\r\nx\r\n.\r\n"
				      "NOOP\r\nNOOP\r\n";

	plain_driver(&d, true);
	info = session_info(d.s);
	assert_string_equal(info->helo, "");
	assert_string_equal(info->client_ip, "192.0.2.7");
	driver_feed(&d, in, sizeof(in) - 1, 0);
	assert_string_equal(info->helo, "client.test");
	assert_true(info->esmtp);
	assert_false(info->tls);
	assert_string_equal(info->tls_cipher, "");
	assert_int_equal(info->messages, 1);
	assert_int_equal(info->errors, 1);
	assert_int_equal(d.last_size, 3);
	/* EHLO, DATA and the first NOOP were followed by more input. */
	assert_int_equal(info->improper_pipelining, 3);
	driver_feed(&d, "STARTTLS\r\n", 10, 0);
	assert_string_equal(info->helo, "");
	assert_false(info->esmtp);
	assert_true(info->tls);
	assert_string_equal(info->tls_cipher, "TLSv1.3 TEST");
	driver_free(&d);
}

#define ROWS(fn, table)                                            \
	static void fn(void **state)                               \
	{                                                          \
		run_rows(table, sizeof(table) / sizeof(table[0])); \
	}

ROWS(test_greeting_rows, greeting_rows)
ROWS(test_mail_rows, mail_rows)
ROWS(test_rcpt_rows, rcpt_rows)
ROWS(test_data_rows, data_rows)
ROWS(test_smuggling_rows, smuggling_rows)
ROWS(test_bdat_rows, bdat_rows)
ROWS(test_misc_rows, misc_rows)
ROWS(test_tls_rows, tls_rows)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_rows),
		cmocka_unit_test(test_mail_rows),
		cmocka_unit_test(test_rcpt_rows),
		cmocka_unit_test(test_data_rows),
		cmocka_unit_test(test_smuggling_rows),
		cmocka_unit_test(test_bdat_rows),
		cmocka_unit_test(test_misc_rows),
		cmocka_unit_test(test_tls_rows),
		cmocka_unit_test(test_call_rows),
		cmocka_unit_test(test_shutdown_deferred),
		cmocka_unit_test(test_received_header),
		cmocka_unit_test(test_rcpt_log_bounded),
		cmocka_unit_test(test_memory_bounds),
		cmocka_unit_test(test_output_back_pressure),
		cmocka_unit_test(test_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
