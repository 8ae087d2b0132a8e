/*
 * test_probe - probe_parse_reply(), the pure part of `doctor --probe`:
 * single and multi-line replies (RFC 5321 4.2.1), partial input, and
 * what is not a reply. Each row prints got/want on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "doctor_probe.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct row {
	const char *name;
	const char *in;
	enum probe_parse want;
	int code;
	const char *text;
	size_t used;
};

static const struct row rows[] = {
	{ "one line", "250 2.1.5 Ok\r\n", PROBE_REPLY_DONE, 250, "250 2.1.5 Ok",
	    14 },
	{ "multi-line keeps the last line",
	    "250-mx.example\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n",
	    PROBE_REPLY_DONE, 250, "250 SMTPUTF8", 46 },
	{ "next reply left in the buffer", "220 hi\r\n250 Ok\r\n",
	    PROBE_REPLY_DONE, 220, "220 hi", 8 },
	{ "code only", "354\r\n", PROBE_REPLY_DONE, 354, "354", 5 },
	{ "bare LF accepted", "221 bye\n", PROBE_REPLY_DONE, 221, "221 bye",
	    8 },
	{ "partial line", "250 Ok", PROBE_REPLY_MORE, 0, "", 0 },
	{ "multi-line not finished", "250-a\r\n250-b\r\n", PROBE_REPLY_MORE, 0,
	    "", 0 },
	{ "empty", "", PROBE_REPLY_MORE, 0, "", 0 },
	{ "not digits", "HTTP/1.1 400\r\n", PROBE_REPLY_BAD, 0, "", 0 },
	{ "short line", "25\r\n", PROBE_REPLY_BAD, 0, "", 0 },
	{ "bad separator", "250x\r\n", PROBE_REPLY_BAD, 0, "", 0 },
};

static void
test_rows(void **state)
{
	char text[PROBE_TEXT_MAX];
	enum probe_parse got;
	size_t i, used;
	int code;

	for (i = 0; i < N(rows); i++) {
		const struct row *r = &rows[i];

		code = 0;
		used = 0;
		text[0] = '\0';
		got = probe_parse_reply(r->in, strlen(r->in), &code, text,
		    sizeof(text), &used);
		if (got != r->want || code != r->code ||
		    strcmp(text, r->text) != 0 || used != r->used) {
			print_error("row \"%s\":\n got  %d code=%d \"%s\" "
				    "used=%zu\n want %d code=%d \"%s\" "
				    "used=%zu\n",
			    r->name, got, code, text, used, r->want, r->code,
			    r->text, r->used);
			fail();
		}
	}
}

/* A reply line longer than the text buffer is cut, never overrun. */
static void
test_long_line(void **state)
{
	static char in[2000];
	char text[16];
	size_t used;
	int code;

	memset(in, 'x', sizeof(in));
	memcpy(in, "550 ", 4);
	memcpy(in + sizeof(in) - 2, "\r\n", 2);
	assert_int_equal(probe_parse_reply(in, sizeof(in), &code, text,
			     sizeof(text), &used),
	    PROBE_REPLY_DONE);
	assert_int_equal(code, 550);
	assert_int_equal(strlen(text), sizeof(text) - 1);
	assert_int_equal(used, sizeof(in));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_long_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
