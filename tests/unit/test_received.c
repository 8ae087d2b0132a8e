/*
 * test_received - the for clause of the first Received: field (the CNAME
 * recovery evidence) and header_remove(): real MTA formats (Sendmail with
 * and without TLS, Postfix, Exim, Microsoft, qmail), folding, nested
 * comments, quoted strings, several or missing for clauses, keywords used
 * as values, hostile lengths, and messages without a header section.
 *
 * Table driven: each row names a message and the wanted status and path;
 * a failure prints got and want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail/received.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define SENDMAIL                                                     \
	"Received: from client.example.org (client.example.org "     \
	"[192.0.2.10])\r\n"                                          \
	"\tby mta.example.org (8.17.1/8.17.1) with ESMTP id "        \
	"4ASHq1ab012345\r\n"                                         \
	"\tfor <flow1@acme.triggers.example.com>; Sat, 28 Nov 2026 " \
	"18:00:00 +0000\r\n"

struct row {
	const char *name;
	const char *msg;
	enum received_status want;
	const char *path;
};

static const struct row rows[] = {
	{ "sendmail 8.17",
	    SENDMAIL "To: <flow1@lb-7.mx.example.net>\r\n\r\nx\r\n",
	    RECEIVED_OK, "<flow1@acme.triggers.example.com>" },
	{ "sendmail with TLS and may be forged",
	    "Received: from c (c.example.org [192.0.2.10] (may be forged))\r\n"
	    "\tby mta.example.org (8.17.1/8.17.1) with ESMTPS id 4ASH\r\n"
	    "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 "
	    "verify=NOT)\r\n"
	    "\tfor <oncall@db.acme.triggers.example.com>; Sat, 28 Nov 2026 "
	    "18:00:00 +0000\r\n\r\n",
	    RECEIVED_OK, "<oncall@db.acme.triggers.example.com>" },
	{ "postfix",
	    "Received: from a.example (a.example [192.0.2.1])\r\n"
	    "\tby mx.example (Postfix) with ESMTPS id 4ABC\r\n"
	    "\tfor <x@y.example>; Sat, 28 Nov 2026 18:00:00 +0000 (UTC)\r\n",
	    RECEIVED_OK, "<x@y.example>" },
	{ "exim bare mailbox",
	    "Received: from [192.0.2.1] (helo=a)\n by h with esmtp (Exim 4.96)"
	    "\n (envelope-from <s@a.example>)\n id 1abc-000\n for "
	    "x@y.example; Sat, 28 Nov 2026 18:00:00 +0000\n\n",
	    RECEIVED_OK, "<x@y.example>" },
	{ "microsoft words",
	    "Received: from A (1.2.3.4) by B (1.2.3.4) with "
	    "Microsoft SMTP Server (version=TLS1_2) id "
	    "15.20.1; Sat, 28 Nov 2026\r\n\r\n",
	    RECEIVED_NO_FOR, "" },
	{ "qmail, no clauses",
	    "Received: (qmail 1234 invoked by uid 0); 28 Nov 2026\r\n\r\n",
	    RECEIVED_NO_FOR, "" },
	{ "sendmail, several recipients (no for)",
	    "Received: from c (c [192.0.2.1])\r\n\tby m (8.17.1/8.17.1) with "
	    "ESMTP id 4A; Sat, 28 Nov 2026\r\n\r\n",
	    RECEIVED_NO_FOR, "" },
	{ "only the first Received counts",
	    "Subject: hi\r\nReceived: by a id 1; d\r\n"
	    "Received: from b by c for <x@y.example>; d\r\n\r\n",
	    RECEIVED_NO_FOR, "" },
	{ "first is the topmost",
	    "Received: from b by c for <top@y.example>; d\r\n"
	    "Received: from d by e for <old@y.example>; d\r\n\r\n",
	    RECEIVED_OK, "<top@y.example>" },
	{ "for in a comment",
	    "Received: from a (for <x@y.example>) by b; d\r\n", RECEIVED_NO_FOR,
	    "" },
	{ "for in a nested comment with quoted-pair",
	    "Received: from a (x (for \\) <x@y.example>) y) by b; d\r\n",
	    RECEIVED_NO_FOR, "" },
	{ "for after the date",
	    "Received: from a by b; d for <x@y.example>\r\n", RECEIVED_NO_FOR,
	    "" },
	{ "keyword value named for",
	    "Received: from for by for with for id for; d\r\n", RECEIVED_NO_FOR,
	    "" },
	{ "two for clauses",
	    "Received: from a by b for <x@y.example> for <z@y.example>; d\r\n",
	    RECEIVED_SEVERAL_FOR, "" },
	{ "two for clauses, folded apart",
	    "Received: from a by b for <x@y.example>\r\n for\r\n\t<z@w>; d\r\n",
	    RECEIVED_SEVERAL_FOR, "" },
	{ "for without value", "Received: from a by b for ; d\r\n",
	    RECEIVED_BAD_FOR, "" },
	{ "for at the end", "Received: from a by b for\r\n\r\n",
	    RECEIVED_BAD_FOR, "" },
	{ "for a word", "Received: from a by b for everyone; d\r\n",
	    RECEIVED_BAD_FOR, "" },
	{ "unclosed angle", "Received: from a by b for <x@y.example; d\r\n",
	    RECEIVED_BAD_FOR, "" },
	{ "case and folding at every space",
	    "RECEIVED :\r\n from\r\n a\r\n by\r\n b\r\n FOR\r\n "
	    "<X@Y.example>\r\n ;\r\n d\r\n",
	    RECEIVED_OK, "<X@Y.example>" },
	{ "quoted local part with > and spaces",
	    "Received: by b for <\"a> b\"@y.example>; d\r\n", RECEIVED_OK,
	    "<\"a> b\"@y.example>" },
	{ "comment glued to the path",
	    "Received: by b for <x@y.example>(c); d\r\n", RECEIVED_OK,
	    "<x@y.example>" },
	{ "no Received",
	    "From: a@b\r\nTo: c@d\r\n\r\nReceived: by x for <a@b>\r\n",
	    RECEIVED_NONE, "" },
	{ "not a Received field", "Received-SPF: pass for <a@b>\r\n\r\n",
	    RECEIVED_NONE, "" },
	{ "continuation of another field",
	    "X: a\r\n Received: by b for <x@y>; d\r\n\r\n", RECEIVED_NONE, "" },
	{ "empty message", "", RECEIVED_NONE, "" },
	{ "body only", "\r\nReceived: by b for <x@y>; d\r\n", RECEIVED_NONE,
	    "" },
	{ "no line end", "Received: by b for <x@y.example>", RECEIVED_OK,
	    "<x@y.example>" },
	{ "control byte in the path", "Received: by b for <x\001@y>; d\r\n",
	    RECEIVED_BAD_FOR, "" },
	{ "null bytes are just bytes",
	    "Received: by b\0 for <x@y.example>; d\r\n", RECEIVED_OK,
	    "<x@y.example>" },
};

static int
check_row(const struct row *r, size_t len)
{
	char out[ADDR_PATH_MAX + 1];
	enum received_status st = received_first_for(r->msg, len, out);
	int bad = 0;

	if (st != r->want) {
		print_error("%s: status got %s want %s\n", r->name,
		    received_status_name(st), received_status_name(r->want));
		bad = 1;
	}
	if (st == RECEIVED_OK && strcmp(out, r->path) != 0) {
		print_error("%s: path got '%s' want '%s'\n", r->name, out,
		    r->path);
		bad = 1;
	}
	return bad;
}

static void
test_rows(void **state)
{
	size_t i, len;
	int failed = 0;

	(void)state;
	for (i = 0; i < N(rows); i++) {
		len = strlen(rows[i].msg);
		if (strcmp(rows[i].name, "null bytes are just bytes") == 0)
			len = strlen(rows[i].msg) + 1 +
			    strlen(rows[i].msg + strlen(rows[i].msg) + 1);
		failed += check_row(&rows[i], len);
	}
	assert_int_equal(failed, 0);
}

/* Ceilings: the field length bound, and a path over 256 octets. */
static void
test_limits(void **state)
{
	static const char head[] = "Received: from a by b ";
	char out[ADDR_PATH_MAX + 1], *msg;
	size_t n = RECEIVED_FIELD_MAX + 64, at;

	(void)state;
	msg = malloc(n + 1);
	assert_non_null(msg);
	/* A value of exactly RECEIVED_FIELD_MAX octets is read... */
	memcpy(msg, head, strlen(head));
	at = strlen("Received:") + RECEIVED_FIELD_MAX;
	memset(msg + strlen(head), ' ', at - strlen(head));
	memcpy(msg + at - strlen("for <a@b>;"), "for <a@b>;", 10);
	memcpy(msg + at, "\r\n", 2);
	assert_int_equal(received_first_for(msg, at + 2, out), RECEIVED_OK);
	assert_string_equal(out, "<a@b>");
	/* ...one more octet is too long. */
	memcpy(msg + at, " \r\n", 3);
	assert_int_equal(received_first_for(msg, at + 3, out),
	    RECEIVED_TOO_LONG);
	free(msg);
	/* A path longer than RFC 5321 allows is no evidence. */
	msg = malloc(400);
	assert_non_null(msg);
	memcpy(msg, "Received: by b for <", 20);
	memset(msg + 20, 'a', 300);
	memcpy(msg + 320, "@b>; d\r\n", 8);
	assert_int_equal(received_first_for(msg, 328, out), RECEIVED_BAD_FOR);
	free(msg);
}

/* A 1 MB header section before the field: linear, and still found. */
static void
test_big_header(void **state)
{
	size_t n = 1 << 20, i;
	char out[ADDR_PATH_MAX + 1], *msg = malloc(n + 64);

	(void)state;
	assert_non_null(msg);
	for (i = 0; i + 8 <= n; i += 8)
		memcpy(msg + i, "X: 1234\n", 8);
	memcpy(msg + i, "Received: for <a@b>\n", 20);
	assert_int_equal(received_first_for(msg, i + 20, out), RECEIVED_OK);
	free(msg);
}

struct rm_row {
	const char *name;
	const char *in;
	const char *want;
};

static const struct rm_row rm_rows[] = {
	{ "top", "X-MT: a\r\nSubject: s\r\n\r\nX-MT: body\r\n",
	    "Subject: s\r\n\r\nX-MT: body\r\n" },
	{ "folded, any case, several",
	    "A: 1\r\nx-mt : a\r\n\tb\r\n c\r\nB: 2\r\nX-MT:\r\n\r\nbody",
	    "A: 1\r\nB: 2\r\n\r\nbody" },
	{ "last line without end", "A: 1\r\nX-MT: a", "A: 1\r\n" },
	{ "other names kept", "X-MT-Other: 1\r\nX-M: 2\r\n\r\n",
	    "X-MT-Other: 1\r\nX-M: 2\r\n\r\n" },
	{ "none", "", "" },
};

static void
test_remove(void **state)
{
	char buf[256];
	size_t i, n;
	int failed = 0;

	(void)state;
	for (i = 0; i < N(rm_rows); i++) {
		n = strlen(rm_rows[i].in);
		memcpy(buf, rm_rows[i].in, n);
		n = header_remove(buf, n, "X-MT");
		if (n != strlen(rm_rows[i].want) ||
		    memcmp(buf, rm_rows[i].want, n) != 0) {
			print_error("%s: got '%.*s' want '%s'\n",
			    rm_rows[i].name, (int)n, buf, rm_rows[i].want);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_big_header),
		cmocka_unit_test(test_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
