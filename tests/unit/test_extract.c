/*
 * test_extract - property extraction: every source, defaults, required
 * properties, the choice of the captured group, compile errors with their
 * offsets, and hostile input (catastrophic backtracking, invalid UTF-8,
 * 1 MB subjects, oversized captures).
 *
 * Table driven: each row has a name, one property and one input, and the
 * wanted status and value; a failure prints got and want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "route/extract.h"
#include "util/regex.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct header_ref hdrs[] = {
	{ "Subject", "raw subject" },
	{ "X-Alert-Id", "ALERT-4711" },
	{ "x-alert-id", "ALERT-9999" },
	{ "X-Bad", "caf\xc3" },
	{ "X-Empty", "" },
};

static const struct extract_input input = {
	.subject = "[PROD] Disk full on db-01 (ticket #1234)",
	.subject_len = 40,
	.text = "Host: db-01\nSeverity: critical\nUsage: 99%\n",
	.text_len = 43,
	.headers = hdrs,
	.n_headers = N(hdrs),
	.tag = "urgent",
};

static const struct extract_input empty_input = { 0 };

struct row {
	const char *name;
	enum extract_from from;
	const char *header;
	const char *regex;
	const char *def;
	bool required;
	const struct extract_input *in;
	enum extract_status want;
	const char *value; /* NULL: no value */
	bool limit;
};

static const struct row rows[] = {
	{ "subject", EXTRACT_FROM_SUBJECT, NULL, "#(?<value>\\d+)", NULL, false,
	    &input, EXTRACT_MATCHED, "1234", false },
	{ "subject env", EXTRACT_FROM_SUBJECT, NULL, "^\\[(?<value>[A-Z]+)\\]",
	    NULL, false, &input, EXTRACT_MATCHED, "PROD", false },
	{ "body multiline", EXTRACT_FROM_BODY, NULL,
	    "(?m)^Severity: (?<value>\\w+)$", NULL, false, &input,
	    EXTRACT_MATCHED, "critical", false },
	{ "body first match wins", EXTRACT_FROM_BODY, NULL, "(?<value>db-\\d+)",
	    NULL, false, &input, EXTRACT_MATCHED, "db-01", false },
	{ "header first field, any case", EXTRACT_FROM_HEADER, "x-ALERT-id",
	    "(?<value>\\d+)", NULL, false, &input, EXTRACT_MATCHED, "4711",
	    false },
	{ "header absent uses default", EXTRACT_FROM_HEADER, "X-Nope",
	    "(?<value>.*)", "none", false, &input, EXTRACT_DEFAULT, "none",
	    false },
	{ "header empty matches empty", EXTRACT_FROM_HEADER, "X-Empty",
	    "(?<value>.*)", NULL, false, &input, EXTRACT_MATCHED, "", false },
	{ "tag", EXTRACT_FROM_TAG, NULL, "^(?<value>.+)$", NULL, false, &input,
	    EXTRACT_MATCHED, "urgent", false },
	{ "no tag, required", EXTRACT_FROM_TAG, NULL, "(?<value>.+)", NULL,
	    true, &empty_input, EXTRACT_MISSING, NULL, false },
	{ "no match, not required", EXTRACT_FROM_SUBJECT, NULL, "(?<value>zzz)",
	    NULL, false, &input, EXTRACT_ABSENT, NULL, false },
	{ "no match, required", EXTRACT_FROM_SUBJECT, NULL, "(?<value>zzz)",
	    NULL, true, &input, EXTRACT_MISSING, NULL, false },
	{ "no match, required with default", EXTRACT_FROM_SUBJECT, NULL,
	    "(?<value>zzz)", "d", true, &input, EXTRACT_DEFAULT, "d", false },
	{ "single other named group", EXTRACT_FROM_SUBJECT, NULL,
	    "on (?<host>[a-z0-9-]+)", NULL, false, &input, EXTRACT_MATCHED,
	    "db-01", false },
	{ "value chosen among several", EXTRACT_FROM_SUBJECT, NULL,
	    "(?<env>\\w+)\\] (?<value>\\w+)", NULL, false, &input,
	    EXTRACT_MATCHED, "Disk", false },
	{ "optional group unset", EXTRACT_FROM_SUBJECT, NULL,
	    "Disk(?<value> nope)?", "dflt", false, &input, EXTRACT_DEFAULT,
	    "dflt", false },
	{ "unicode class", EXTRACT_FROM_HEADER, "Subject", "(?<value>\\w+)$",
	    NULL, false, &input, EXTRACT_MATCHED, "subject", false },
	{ "invalid utf-8 header does not match the bad byte",
	    EXTRACT_FROM_HEADER, "X-Bad", "(?<value>caf.)", "x", false, &input,
	    EXTRACT_DEFAULT, "x", false },
	{ "invalid utf-8 header valid part", EXTRACT_FROM_HEADER, "X-Bad",
	    "(?<value>ca.)", NULL, false, &input, EXTRACT_MATCHED, "caf",
	    false },
	{ "absent subject", EXTRACT_FROM_SUBJECT, NULL, "(?<value>.*)", NULL,
	    false, &empty_input, EXTRACT_ABSENT, NULL, false },
};

static struct rx *
compile_ok(const char *row, const char *re)
{
	char err[RX_ERROR_MAX];
	size_t off;
	struct rx *rx;

	rx = rx_compile(re, strlen(re), "value", err, sizeof(err), &off);
	if (rx == NULL)
		print_message("row %s: compile: %s at %zu\n", row, err, off);
	assert_non_null(rx);
	return rx;
}

static bool
check_value(const char *row, const struct extract_value *v,
    enum extract_status want, const char *value, bool limit)
{
	bool ok = v->status == want && v->limit == limit &&
	    ((value == NULL && v->value == NULL) ||
		(value != NULL && v->value != NULL &&
		    strcmp(v->value, value) == 0));

	if (!ok)
		print_message("row %s: got %s \"%s\" limit=%d, want %s \"%s\" "
			      "limit=%d\n",
		    row, extract_status_name(v->status),
		    v->value != NULL ? v->value : "(none)", v->limit,
		    extract_status_name(want), value != NULL ? value : "(none)",
		    limit);
	return ok;
}

static void
test_rows(void **state)
{
	struct extract_prop p;
	struct extract_result res;
	size_t i, bad = 0;
	bool all;

	for (i = 0; i < N(rows); i++) {
		const struct row *r = &rows[i];

		memset(&p, 0, sizeof(p));
		p.name = (char *)"prop";
		p.from = r->from;
		p.header = (char *)r->header;
		p.def = (char *)r->def;
		p.required = r->required;
		p.rx = compile_ok(r->name, r->regex);
		all = extract_run(&p, 1, r->in, &res);
		if (!check_value(r->name, &res.values[0], r->want, r->value,
			r->limit))
			bad++;
		if (all != (r->want != EXTRACT_MISSING)) {
			print_message("row %s: got all=%d\n", r->name, all);
			bad++;
		}
		extract_result_free(&res);
		rx_free(p.rx);
	}
	assert_int_equal(bad, 0);
}

struct compile_row {
	const char *name;
	const char *regex;
	const char *err; /* prefix of the message */
	size_t offset;
};

static const struct compile_row compile_rows[] = {
	{ "unclosed group", "(?<value>abc", "missing closing parenthesis", 12 },
	{ "bad quantifier", "(?<value>*a)", "quantifier does not follow", 9 },
	{ "no named group", "(abc)", "no named group", RX_OFFSET_NONE },
	{ "several, none value", "(?<a>x)(?<b>y)",
	    "several named groups and none is 'value'", RX_OFFSET_NONE },
	{ "bad escape", "(?<value>\\k)", "\\k is not followed", 11 },
	{ "invalid utf-8 pattern", "(?<value>\xff)", "UTF-8 error", 9 },
};

static void
test_compile_errors(void **state)
{
	char err[RX_ERROR_MAX];
	size_t i, off, bad = 0;
	struct rx *rx;

	for (i = 0; i < N(compile_rows); i++) {
		const struct compile_row *r = &compile_rows[i];

		err[0] = '\0';
		rx = rx_compile(r->regex, strlen(r->regex), "value", err,
		    sizeof(err), &off);
		if (rx != NULL || strncmp(err, r->err, strlen(r->err)) != 0 ||
		    off != r->offset) {
			print_message("row %s: got \"%s\" at %zu, want \"%s\" "
				      "at %zu\n",
			    r->name, rx != NULL ? "(compiled)" : err, off,
			    r->err, r->offset);
			bad++;
		}
		rx_free(rx);
	}
	assert_int_equal(bad, 0);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* (a+)+$ over a long run of a's ending in b backtracks exponentially. */
static void
test_catastrophic(void **state)
{
	struct extract_prop p = { .name = (char *)"x",
		.from = EXTRACT_FROM_BODY };
	struct extract_input in = { 0 };
	struct extract_result res;
	size_t len = 100000;
	char *body = malloc(len + 1);
	double t0;

	assert_non_null(body);
	memset(body, 'a', len - 1);
	body[len - 1] = 'b';
	body[len] = '\0';
	in.text = body;
	in.text_len = len;
	p.rx = compile_ok("catastrophic", "(?<value>(a+)+$)");
	t0 = now_s();
	assert_true(extract_run(&p, 1, &in, &res));
	print_message("  (a+)+$ over %zu bytes: %.3f s, jit=%d\n", len,
	    now_s() - t0, rx_is_jit(p.rx));
	assert_true(now_s() - t0 < 2.0);
	assert_true(check_value("catastrophic", &res.values[0], EXTRACT_ABSENT,
	    NULL, true));
	assert_int_equal(res.n_limit, 1);
	extract_result_free(&res);

	/* With a default, a limit hit falls back to it and still warns. */
	p.def = (char *)"fallback";
	p.required = true;
	assert_true(extract_run(&p, 1, &in, &res));
	assert_true(check_value("catastrophic default", &res.values[0],
	    EXTRACT_DEFAULT, "fallback", true));
	extract_result_free(&res);
	rx_free(p.rx);
	free(body);
}

/* A 1 MB body of invalid UTF-8 and a match at its very end. */
static void
test_big_and_invalid(void **state)
{
	struct extract_prop p = { .name = (char *)"id",
		.from = EXTRACT_FROM_BODY };
	struct extract_input in = { 0 };
	struct extract_result res;
	size_t i, len = 1024 * 1024;
	char *body = malloc(len + 1);

	assert_non_null(body);
	for (i = 0; i < len; i++)
		body[i] = (char)(0x80 + (i % 0x7f));
	memcpy(body + len - 8, "id=4242", 8);
	in.text = body;
	in.text_len = len - 1;
	p.rx = compile_ok("big", "id=(?<value>\\d+)");
	assert_true(extract_run(&p, 1, &in, &res));
	assert_true(
	    check_value("big", &res.values[0], EXTRACT_MATCHED, "4242", false));
	extract_result_free(&res);
	rx_free(p.rx);

	/* A capture over the value bound is cut on a UTF-8 boundary. */
	for (i = 0; i + 2 <= len; i += 2)
		memcpy(body + i, "\xc3\xa9", 2);
	in.text_len = len;
	p.rx = compile_ok("long capture", "(?<value>.+)");
	assert_true(extract_run(&p, 1, &in, &res));
	assert_true(res.values[0].truncated);
	assert_int_equal(res.values[0].len, EXTRACT_VALUE_MAX);
	extract_result_free(&res);
	rx_free(p.rx);

	body[1] = 'x'; /* breaks the first sequence: no split char at end */
	in.text = body + 1;
	in.text_len = len - 1;
	p.rx = compile_ok("odd cut", "(?<value>x.+)");
	assert_true(extract_run(&p, 1, &in, &res));
	assert_true(res.values[0].truncated);
	assert_int_equal(res.values[0].len, EXTRACT_VALUE_MAX - 1);
	extract_result_free(&res);
	rx_free(p.rx);
	free(body);
}

/* Several properties: order kept, the first missing one is the reason. */
static void
test_several(void **state)
{
	struct extract_prop p[3] = {
		{ .name = (char *)"ticket", .from = EXTRACT_FROM_SUBJECT },
		{ .name = (char *)"owner",
		    .from = EXTRACT_FROM_BODY,
		    .required = true },
		{ .name = (char *)"team",
		    .from = EXTRACT_FROM_HEADER,
		    .header = (char *)"X-Team",
		    .required = true },
	};
	struct extract_result res;
	size_t i;

	p[0].rx = compile_ok("ticket", "#(?<value>\\d+)");
	p[1].rx = compile_ok("owner", "Owner: (?<value>\\S+)");
	p[2].rx = compile_ok("team", "(?<value>.+)");
	assert_false(extract_run(p, 3, &input, &res));
	assert_string_equal(res.reason, "missing required: owner");
	assert_string_equal(extract_get(&res, "ticket"), "1234");
	assert_null(extract_get(&res, "owner"));
	assert_null(extract_get(&res, "nonexistent"));
	assert_int_equal(res.values[2].status, EXTRACT_MISSING);
	extract_result_free(&res);
	assert_true(extract_run(p, 0, &input, &res));
	extract_result_free(&res);
	for (i = 0; i < 3; i++)
		rx_free(p[i].rx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_catastrophic),
		cmocka_unit_test(test_big_and_invalid),
		cmocka_unit_test(test_several),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
