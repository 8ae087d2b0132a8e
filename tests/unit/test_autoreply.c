/*
 * test_autoreply - automatic mail detection: each RFC 3834 keyword and
 * its comments, the de facto headers, Precedence, delivery reports, the
 * null sender, look-alikes that must not match, and hostile values.
 *
 * Table driven: each row has a name, a sender, up to four header fields
 * and the wanted verdict and reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route/autoreply.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct row {
	const char *name;
	const char *mail_from;
	const char *ct; /* content_type argument */
	struct header_ref h[4];
	bool want;
	const char *reason;
};

static const struct row rows[] = {
	{ "plain mail", "a@example.com", NULL, { { "Subject", "disk full" } },
	    false, "" },
	{ "no headers, unknown sender", NULL, NULL, { { NULL, NULL } }, false,
	    "" },
	{ "null sender empty", "", NULL, { { NULL, NULL } }, true,
	    "null sender" },
	{ "null sender brackets", "<>", NULL, { { NULL, NULL } }, true,
	    "null sender" },
	{ "auto-submitted no", "a@b.c", NULL, { { "Auto-Submitted", "no" } },
	    false, "" },
	{ "auto-submitted NO comment", "a@b.c", NULL,
	    { { "auto-submitted", " (human) NO (really)" } }, false, "" },
	{ "auto-submitted auto-replied", "a@b.c", NULL,
	    { { "Auto-Submitted", "auto-replied" } }, true,
	    "Auto-Submitted: auto-replied" },
	{ "auto-submitted auto-generated", "a@b.c", NULL,
	    { { "AUTO-SUBMITTED", "Auto-Generated" } }, true,
	    "Auto-Submitted: Auto-Generated" },
	{ "auto-submitted with params", "a@b.c", NULL,
	    { { "Auto-Submitted", "auto-replied; owner-email=x@y.z" } }, true,
	    "Auto-Submitted: auto-replied" },
	{ "auto-submitted comment first", "a@b.c", NULL,
	    { { "Auto-Submitted", "(vacation (nested)) auto-notified" } }, true,
	    "Auto-Submitted: auto-notified" },
	{ "auto-submitted no-thanks is not no", "a@b.c", NULL,
	    { { "Auto-Submitted", "nope" } }, true, "Auto-Submitted: nope" },
	{ "auto-submitted empty is malformed", "a@b.c", NULL,
	    { { "Auto-Submitted", "  " } }, false, "" },
	{ "auto-submitted only a comment", "a@b.c", NULL,
	    { { "Auto-Submitted", "(unclosed comment" } }, false, "" },
	{ "x-autoreply", "a@b.c", NULL, { { "X-Autoreply", "yes" } }, true,
	    "X-Autoreply: yes" },
	{ "x-autorespond empty", "a@b.c", NULL, { { "x-autorespond", "" } },
	    true, "X-Autorespond" },
	{ "precedence bulk", "a@b.c", NULL, { { "Precedence", "bulk" } }, true,
	    "Precedence: bulk" },
	{ "precedence junk spaced", "a@b.c", NULL,
	    { { "Precedence", "  Junk  " } }, true, "Precedence: Junk" },
	{ "precedence auto_reply", "a@b.c", NULL,
	    { { "Precedence", "auto_reply" } }, true,
	    "Precedence: auto_reply" },
	{ "precedence list is not automatic", "a@b.c", NULL,
	    { { "Precedence", "list" } }, false, "" },
	{ "precedence bulky", "a@b.c", NULL, { { "Precedence", "bulky" } },
	    false, "" },
	{ "report from header", "a@b.c", NULL,
	    { { "Content-Type",
		"multipart/report; report-type=delivery-status; "
		"boundary=x" } },
	    true, "Content-Type: multipart/report" },
	{ "report argument overrides header", "a@b.c", "Multipart/Report",
	    { { "Content-Type", "text/plain" } }, true,
	    "Content-Type: multipart/report" },
	{ "report with comments", "a@b.c", NULL,
	    { { "Content-Type", "(c) multipart (x) / report ;a=b" } }, true,
	    "Content-Type: multipart/report" },
	{ "multipart/reports is not a report", "a@b.c", NULL,
	    { { "Content-Type", "multipart/reports" } }, false, "" },
	{ "multipart/mixed", "a@b.c", "multipart/mixed; boundary=r",
	    { { NULL, NULL } }, false, "" },
	{ "null sender wins the order", "<>", NULL,
	    { { "Auto-Submitted", "auto-replied" } }, true, "null sender" },
	{ "auto-submitted before precedence", "a@b.c", NULL,
	    { { "Precedence", "bulk" },
		{ "Auto-Submitted", "auto-generated" } },
	    true, "Auto-Submitted: auto-generated" },
	{ "control bytes made printable", "a@b.c", NULL,
	    { { "X-Autoreply", "y\x01\x7f\xc3\xa9s" } }, true,
	    "X-Autoreply: y????s" },
	{ "look-alike header name", "a@b.c", NULL,
	    { { "X-Auto-Submitted", "auto-replied" },
		{ "Auto-Submitted-X", "yes" } },
	    false, "" },
};

static size_t
count(const struct header_ref *h)
{
	size_t n = 0;

	while (n < 4 && h[n].name != NULL)
		n++;
	return n;
}

static void
test_rows(void **state)
{
	struct autoreply_verdict v;
	size_t i, bad = 0;

	for (i = 0; i < N(rows); i++) {
		const struct row *r = &rows[i];

		autoreply_detect(r->mail_from, r->h, count(r->h), r->ct, &v);
		if (v.automatic != r->want ||
		    strcmp(v.reason, r->reason) != 0) {
			print_message("row %s: got %d \"%s\", want %d \"%s\"\n",
			    r->name, v.automatic, v.reason, r->want, r->reason);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* A 1 MB keyword is cut in the reason; deep comments do not recurse. */
static void
test_hostile(void **state)
{
	struct autoreply_verdict v;
	struct header_ref h[1];
	size_t len = 1024 * 1024;
	char *big = malloc(len + 1);

	assert_non_null(big);
	memset(big, 'a', len);
	big[len] = '\0';
	h[0].name = "Auto-Submitted";
	h[0].value = big;
	autoreply_detect("a@b.c", h, 1, NULL, &v);
	assert_true(v.automatic);
	assert_true(strlen(v.reason) < AUTOREPLY_REASON_MAX);
	assert_memory_equal(v.reason, "Auto-Submitted: aaaa", 20);

	memset(big, '(', len);
	autoreply_detect("a@b.c", h, 1, NULL, &v);
	assert_false(v.automatic);

	memset(big, ' ', len);
	memcpy(big + len - 4, "bulk", 4);
	h[0].name = "Precedence";
	autoreply_detect("a@b.c", h, 1, NULL, &v);
	assert_true(v.automatic);
	assert_string_equal(v.reason, "Precedence: bulk");

	memset(big, 'x', len);
	h[0].name = "Content-Type";
	autoreply_detect("a@b.c", h, 1, NULL, &v);
	assert_false(v.automatic);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
