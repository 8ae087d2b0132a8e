/*
 * test_template - {{path}} templates: lookups through objects and arrays,
 * each escaping mode, unknown paths, syntax errors with their offsets,
 * the output ceiling, and injection attempts (values holding '"}', "{{",
 * control bytes) that must stay inert.
 *
 * Table driven: each row has a name, a template, a mode and the wanted
 * output (or status and error offset); a failure prints got and want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow/template.h"
#include "util/tmpl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char event_json[] =
    "{\"id\": \"evt_01HX\", \"subject\": \"Disk \\\"full\\\" \\\\ 100%\","
    " \"message\": {\"to\": [{\"address\": \"ops@x.example\", \"name\":"
    " \"Ops\"}, {\"address\": \"b@y.example\"}], \"size\": 1234,"
    " \"tls\": true, \"cc\": null},"
    " \"evil\": \"\\\"}, \\\"admin\\\": true, \\\"x\\\": {\\\"\","
    " \"braces\": \"{{subject}}\", \"ctl\": \"a\\nb\\tc\\u0001\\u007f\","
    " \"utf8\": \"caf\\u00e9 \\u2603\", \"props\": {\"alert_id\": \"A-1\"},"
    " \"k.dot\": \"no\", \"0\": \"zero\", \"list\": [1, 2]}";

static json_t *event;

static int
setup(void **state)
{
	json_error_t err;

	event = json_loads(event_json, 0, &err);
	if (event == NULL)
		print_message("event: %s at %d\n", err.text, err.position);
	return event == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	json_decref(event);
	return 0;
}

struct row {
	const char *name;
	const char *tmpl;
	enum template_mode mode;
	const char *want;
	size_t n_unknown;
};

#define J TEMPLATE_JSON
#define U TEMPLATE_URL
#define P TEMPLATE_PLAIN

static const struct row rows[] = {
	{ "literal only", "hello", P, "hello", 0 },
	{ "empty", "", P, "", 0 },
	{ "top field", "{{id}}", P, "evt_01HX", 0 },
	{ "spaces inside braces", "[{{ id\t}}]", P, "[evt_01HX]", 0 },
	{ "nested object", "{{props.alert_id}}", P, "A-1", 0 },
	{ "array index", "{{message.to.0.address}}", P, "ops@x.example", 0 },
	{ "array second", "{{message.to.1.address}}", P, "b@y.example", 0 },
	{ "array out of range", "<{{message.to.2.address}}>", P, "<>", 1 },
	{ "array bad index", "<{{message.to.x}}>", P, "<>", 1 },
	{ "array leading zero", "<{{message.to.00.address}}>", P, "<>", 1 },
	{ "digit key on object", "{{0}}", P, "zero", 0 },
	{ "number", "{{message.size}}", P, "1234", 0 },
	{ "bool", "{{message.tls}}", P, "true", 0 },
	{ "null is empty", "<{{message.cc}}>", P, "<>", 0 },
	{ "array value as json", "{{list}}", P, "[1,2]", 0 },
	{ "object value as json", "{{props}}", P, "{\"alert_id\":\"A-1\"}", 0 },
	{ "object value json-escaped", "{{props}}", J,
	    "{\\\"alert_id\\\":\\\"A-1\\\"}", 0 },
	{ "unknown top", "a{{nope}}b", P, "ab", 1 },
	{ "unknown reported once", "{{nope}}{{nope}}{{other}}", P, "", 2 },
	{ "path into a string", "<{{subject.x}}>", P, "<>", 1 },
	{ "dotted key not reachable", "<{{k.dot}}>", P, "<>", 1 },
	{ "json escapes quotes and backslash", "{\"s\": \"{{subject}}\"}", J,
	    "{\"s\": \"Disk \\\"full\\\" \\\\ 100%\"}", 0 },
	{ "json injection stays in the string", "{\"s\": \"{{evil}}\"}", J,
	    "{\"s\": \"\\\"}, \\\"admin\\\": true, \\\"x\\\": {\\\"\"}", 0 },
	{ "json controls", "{{ctl}}", J, "a\\nb\\tc\\u0001\\u007f", 0 },
	{ "json utf-8 kept", "{{utf8}}", J, "caf\xc3\xa9 \xe2\x98\x83", 0 },
	{ "value with braces not expanded", "{{braces}}", P, "{{subject}}", 0 },
	{ "braces json", "{{braces}}", J, "{{subject}}", 0 },
	{ "url encodes", "https://h/x?s={{subject}}", U,
	    "https://h/x?s=Disk%20%22full%22%20%5C%20100%25", 0 },
	{ "url unreserved kept", "{{id}}", U, "evt_01HX", 0 },
	{ "url address", "{{message.to.0.address}}", U, "ops%40x.example", 0 },
	{ "url utf-8 bytes", "{{utf8}}", U, "caf%C3%A9%20%E2%98%83", 0 },
	{ "url injection", "{{evil}}", U,
	    "%22%7D%2C%20%22admin%22%3A%20true%2C%20%22x%22%3A%20%7B%22", 0 },
	{ "url braces", "{{braces}}", U, "%7B%7Bsubject%7D%7D", 0 },
	{ "lone braces literal", "{ } }} {x}", P, "{ } }} {x}", 0 },
	{ "json body with nested braces", "{\"a\":{\"b\":\"{{id}}\"}}", J,
	    "{\"a\":{\"b\":\"evt_01HX\"}}", 0 },
	{ "placeholder before closing brace", "{\"a\":{{message.size}}}", J,
	    "{\"a\":1234}", 0 },
	{ "plain keeps everything", "{{ctl}}", P, "a\nb\tc\x01\x7f", 0 },
};

static void
test_rows(void **state)
{
	struct template_result r;
	enum template_status st;
	size_t i, bad = 0;

	for (i = 0; i < N(rows); i++) {
		const struct row *w = &rows[i];

		st = template_render(w->tmpl, strlen(w->tmpl), event, w->mode,
		    TEMPLATE_OUT_MAX, &r);
		if (st != TEMPLATE_OK || strcmp(r.out, w->want) != 0 ||
		    r.n_unknown != w->n_unknown) {
			print_message("row %s: got %d \"%s\" unknown=%zu, "
				      "want \"%s\" unknown=%zu\n",
			    w->name, st, r.out != NULL ? r.out : "(null)",
			    r.n_unknown, w->want, w->n_unknown);
			bad++;
		}
		template_result_free(&r);
	}
	assert_int_equal(bad, 0);
}

struct syntax_row {
	const char *name;
	const char *tmpl;
	size_t pos;
	const char *err; /* prefix */
};

static const struct syntax_row syntax_rows[] = {
	{ "unclosed", "ab{{id", 2, "'{{' is not closed" },
	{ "unclosed single brace", "ab{{id}", 2, "'{{' is not closed" },
	{ "unclosed at end", "x{{", 1, "'{{' is not closed" },
	{ "empty", "x{{}}", 3, "empty placeholder" },
	{ "empty spaces", "x{{  }}", 5, "empty placeholder" },
	{ "nested", "{{ {{id}} }}", 3, "unexpected character" },
	{ "triple brace", "{{{id}}}", 2, "unexpected character" },
	{ "space in path", "{{a b}}", 4, "unexpected character" },
	{ "expression", "{{id|upper}}", 4, "unexpected character" },
	{ "code", "{{system('x')}}", 8, "unexpected character" },
	{ "quote", "{{\"}}", 2, "unexpected character" },
	{ "leading dot", "{{.a}}", 2, "empty segment" },
	{ "trailing dot", "{{a.}}", 3, "empty segment" },
	{ "double dot", "{{a..b}}", 3, "empty segment" },
	{ "too deep", "{{a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a}}", 33,
	    "field path too deep" },
	{ "non-ascii", "{{caf\xc3\xa9}}", 5, "unexpected character" },
	{ "nul byte", "{{a\0b}}", 3, "unexpected character" },
	{ "second placeholder bad", "{{id}} {{", 7, "'{{' is not closed" },
};

static void
test_syntax(void **state)
{
	struct template_result r;
	enum template_status st;
	const char *why;
	size_t i, len, pos, bad = 0;
	bool ok;

	for (i = 0; i < N(syntax_rows); i++) {
		const struct syntax_row *w = &syntax_rows[i];

		len = strcmp(w->name, "nul byte") == 0 ? 7 : strlen(w->tmpl);
		ok = tmpl_check(w->tmpl, len, &pos, &why);
		st = template_render(w->tmpl, len, event, TEMPLATE_PLAIN,
		    TEMPLATE_OUT_MAX, &r);
		if (ok || st != TEMPLATE_SYNTAX || pos != w->pos ||
		    r.err_pos != w->pos ||
		    strncmp(why, w->err, strlen(w->err)) != 0) {
			print_message("row %s: got ok=%d st=%d \"%s\" at "
				      "%zu/%zu, want \"%s\" at %zu\n",
			    w->name, ok, st, why != NULL ? why : "(none)", pos,
			    r.err_pos, w->err, w->pos);
			bad++;
		}
		assert_null(r.out);
		template_result_free(&r);
	}
	assert_int_equal(bad, 0);
	assert_true(tmpl_check("{{a-b_c.0.D}}", 13, &pos, &why));
}

/* The ceiling: the exact size fits, one byte less is TOOBIG. */
static void
test_ceiling(void **state)
{
	struct template_result r;
	const char *t = "{{id}}!";

	assert_int_equal(template_render(t, strlen(t), event, TEMPLATE_PLAIN, 9,
			     &r),
	    TEMPLATE_OK);
	assert_string_equal(r.out, "evt_01HX!");
	template_result_free(&r);
	assert_int_equal(template_render(t, strlen(t), event, TEMPLATE_PLAIN, 8,
			     &r),
	    TEMPLATE_TOOBIG);
	assert_null(r.out);
	template_result_free(&r);
	/* URL encoding triples the size: checked against the output. */
	t = "{{subject}}";
	assert_int_equal(template_render(t, strlen(t), event, TEMPLATE_URL, 20,
			     &r),
	    TEMPLATE_TOOBIG);
	template_result_free(&r);
}

/* 1 MB of placeholders and a 1 MB value; unknown paths bounded. */
static void
test_big(void **state)
{
	struct template_result r;
	size_t i, len = 1024 * 1024;
	char *t = malloc(len + 1), *v = malloc(len + 1);
	json_t *ev;

	assert_non_null(t);
	assert_non_null(v);
	for (i = 0; i + 9 <= len; i += 9)
		memcpy(t + i, "{{u0000}}", 9);
	for (; i < len; i++)
		t[i] = 'x';
	t[len] = '\0';
	assert_int_equal(template_render(t, len, event, TEMPLATE_JSON,
			     TEMPLATE_OUT_MAX, &r),
	    TEMPLATE_OK);
	assert_int_equal(r.n_unknown, 1);
	template_result_free(&r);

	memset(v, '"', len);
	v[len] = '\0';
	ev = json_pack("{s:s}", "v", v);
	assert_non_null(ev);
	assert_int_equal(template_render("{{v}}", 5, ev, TEMPLATE_JSON, 2 * len,
			     &r),
	    TEMPLATE_OK);
	assert_int_equal(r.len, 2 * len);
	template_result_free(&r);
	assert_int_equal(template_render("{{v}}", 5, ev, TEMPLATE_JSON,
			     2 * len - 1, &r),
	    TEMPLATE_TOOBIG);
	template_result_free(&r);
	json_decref(ev);
	free(t);
	free(v);
}

/* Many distinct unknown paths: counted, only TEMPLATE_UNKNOWN_MAX kept. */
static void
test_many_unknown(void **state)
{
	struct template_result r;
	char t[40 * 10];
	size_t i, n = 0;

	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(t + n, sizeof(t) - n, "{{u%zu}}", i);
	assert_int_equal(template_render(t, n, event, TEMPLATE_PLAIN,
			     TEMPLATE_OUT_MAX, &r),
	    TEMPLATE_OK);
	assert_int_equal(r.n_unknown, 40);
	assert_string_equal(r.unknown[0], "u0");
	assert_string_equal(r.unknown[TEMPLATE_UNKNOWN_MAX - 1], "u15");
	template_result_free(&r);
}

/* dedup keys: the template scoped, the default when it renders empty. */
static void
test_dedup_key(void **state)
{
	struct dedup_input in = { .instance = "acme.example",
		.trigger = "alert",
		.message_id = "<m1@x>" };
	struct template_result r;
	char got[DEDUP_KEY_SIZE], want[DEDUP_KEY_SIZE];
	bool fallback;

	template_dedup_key("{{props.alert_id}}", event, &in, got, &fallback,
	    &r);
	dedup_scoped_key(&in, "A-1", 3, want);
	assert_false(fallback);
	assert_string_equal(got, want);
	template_result_free(&r);

	dedup_default_key(&in, want);
	template_dedup_key("{{props.nope}}", event, &in, got, &fallback, &r);
	assert_true(fallback);
	assert_int_equal(r.n_unknown, 1);
	assert_string_equal(got, want);
	template_result_free(&r);

	template_dedup_key("{{", event, &in, got, &fallback, &r);
	assert_true(fallback);
	assert_string_equal(got, want);
	template_result_free(&r);

	template_dedup_key(NULL, event, &in, got, &fallback, &r);
	assert_false(fallback);
	assert_string_equal(got, want);
	template_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_big),
		cmocka_unit_test(test_many_unknown),
		cmocka_unit_test(test_dedup_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
