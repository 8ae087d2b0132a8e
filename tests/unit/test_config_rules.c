/*
 * test_config_rules - the trigger keys extract, dedup and auto_replies:
 * values that load (with what they load as) and every error class with
 * its exact "FILE:LINE:COLUMN: message": a bad regex (PCRE2's message and
 * offset), a regex without a named group, an unknown `from`, a bad
 * header name, a bad property name, a bad window duration, a bad dedup
 * template, an unknown auto_replies value, wrong types.
 *
 * Table driven: each row has a name; a failure prints the row, what came
 * out and what was wanted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "util/regex.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Line 4 is "      t:", line 5 its flow; rules start on line 6. */
#define TRIG                                                         \
	"instances:\n  - host: a.example\n    triggers:\n      t:\n" \
	"        flow: [{exec: {command: [/bin/true]}}]\n"

static void
print_errors(const struct config_errors *e)
{
	size_t i;

	print_message("  got (%zu):\n", e->n);
	for (i = 0; i < e->n; i++)
		print_message("    %s\n", e->items[i]);
}

static const struct trigger *
the_trigger(const struct config *cfg)
{
	return &cfg->instances[0].triggers[0];
}

/* Loads that must succeed. */

static void
test_defaults(void **state)
{
	struct config_errors e = { 0 };
	struct config *cfg;
	const struct trigger *t;

	cfg = config_parse("t.yaml", TRIG, strlen(TRIG), &e);
	assert_non_null(cfg);
	t = the_trigger(cfg);
	assert_int_equal(t->n_extract, 0);
	assert_null(t->dedup_key);
	assert_int_equal(t->dedup_window_ms, DEDUP_WINDOW_DEFAULT_MS);
	assert_int_equal(t->auto_replies, AUTO_REPLIES_IGNORE);
	config_unref(cfg);
}

static void
test_full(void **state)
{
	static const char yaml[] = TRIG
	    "        extract:\n"
	    "          severity: {from: body, regex: "
	    "'(?m)^Severity:\\s*(?<value>\\w+)', required: true}\n"
	    "          ticket: {from: subject, regex: '#(?<id>\\d+)', "
	    "default: none}\n"
	    "          alert_id: {from: 'header:X-Alert-Id', regex: "
	    "'(?<value>.+)', required: False}\n"
	    "          prio: {from: tag, regex: '^(?<value>p[0-9])$'}\n"
	    "        dedup: {key: '{{properties.alert_id}}', window: 2h}\n"
	    "        auto_replies: flag\n";
	struct config_errors e = { 0 };
	struct config *cfg;
	const struct trigger *t;
	size_t s, end;

	cfg = config_parse("t.yaml", yaml, strlen(yaml), &e);
	if (cfg == NULL)
		print_errors(&e);
	assert_non_null(cfg);
	t = the_trigger(cfg);
	assert_int_equal(t->n_extract, 4);
	assert_string_equal(t->extract[0].name, "severity");
	assert_int_equal(t->extract[0].from, EXTRACT_FROM_BODY);
	assert_true(t->extract[0].required);
	assert_null(t->extract[0].def);
	assert_int_equal(t->extract[0].line, 7);
	assert_int_equal(t->extract[0].column, 11);
	assert_string_equal(t->extract[1].name, "ticket");
	assert_int_equal(t->extract[1].from, EXTRACT_FROM_SUBJECT);
	assert_string_equal(t->extract[1].def, "none");
	assert_string_equal(rx_group(t->extract[1].rx), "id");
	assert_int_equal(rx_match(t->extract[1].rx, "x #42", 5, &s, &end),
	    RX_MATCH);
	assert_int_equal(s, 3);
	assert_int_equal(t->extract[2].from, EXTRACT_FROM_HEADER);
	assert_string_equal(t->extract[2].header, "X-Alert-Id");
	assert_false(t->extract[2].required);
	assert_int_equal(t->extract[3].from, EXTRACT_FROM_TAG);
	assert_string_equal(t->extract[3].regex, "^(?<value>p[0-9])$");
	assert_string_equal(t->dedup_key, "{{properties.alert_id}}");
	assert_int_equal(t->dedup_window_ms, 2 * 60 * 60 * 1000);
	assert_int_equal(t->auto_replies, AUTO_REPLIES_FLAG);
	config_unref(cfg);
}

struct ok_row {
	const char *name;
	const char *rules;
	uint64_t window_ms;
	enum auto_replies ar;
};

static const struct ok_row ok_rows[] = {
	{ "window 0 turns dedup off", "        dedup: {window: 0}\n", 0,
	    AUTO_REPLIES_IGNORE },
	{ "window days", "        dedup: {window: 7d}\n",
	    7ULL * 24 * 3600 * 1000, AUTO_REPLIES_IGNORE },
	{ "dedup null", "        dedup:\n", DEDUP_WINDOW_DEFAULT_MS,
	    AUTO_REPLIES_IGNORE },
	{ "auto_replies trigger", "        auto_replies: trigger\n",
	    DEDUP_WINDOW_DEFAULT_MS, AUTO_REPLIES_TRIGGER },
	{ "auto_replies ignore", "        auto_replies: ignore\n",
	    DEDUP_WINDOW_DEFAULT_MS, AUTO_REPLIES_IGNORE },
	{ "extract empty", "        extract: {}\n", DEDUP_WINDOW_DEFAULT_MS,
	    AUTO_REPLIES_IGNORE },
};

static void
test_ok_rows(void **state)
{
	struct config_errors e = { 0 };
	struct config *cfg;
	char yaml[1024];
	size_t i, bad = 0;

	for (i = 0; i < N(ok_rows); i++) {
		const struct ok_row *r = &ok_rows[i];

		snprintf(yaml, sizeof(yaml), "%s%s", TRIG, r->rules);
		cfg = config_parse("t.yaml", yaml, strlen(yaml), &e);
		if (cfg == NULL ||
		    the_trigger(cfg)->dedup_window_ms != r->window_ms ||
		    the_trigger(cfg)->auto_replies != r->ar) {
			print_message("row %s: got %s\n", r->name,
			    cfg == NULL ? "errors" : "other values");
			print_errors(&e);
			bad++;
		}
		config_unref(cfg);
		config_errors_free(&e);
	}
	assert_int_equal(bad, 0);
}

/* Loads that must fail, with exactly these errors. */

#define P "instances[0].triggers.t."

struct err_row {
	const char *name;
	const char *rules;
	const char *want[3];
};

static const struct err_row err_rows[] = {
	{ "bad regex: pcre2 message and offset",
	    "        extract: {x: {from: body, regex: '(?<value>abc'}}\n",
	    { "t.yaml:6:42: " P "extract.x.regex: bad regular expression "
	      "'(?<value>abc': missing closing parenthesis at offset 12 "
	      "(PCRE2 syntax)" } },
	{ "bad regex: quantifier",
	    "        extract:\n          x:\n            from: subject\n"
	    "            regex: 'a(?<value>**)'\n",
	    { "t.yaml:9:20: " P "extract.x.regex: bad regular expression "
	      "'a(?<value>**)': quantifier does not follow a repeatable "
	      "item at offset 10 (PCRE2 syntax)" } },
	{ "regex without a named group",
	    "        extract: {x: {from: body, regex: '(\\d+)'}}\n",
	    { "t.yaml:6:42: " P "extract.x.regex: bad regular expression "
	      "'(\\d+)': no named group: capture the value with "
	      "(?<value>...)" } },
	{ "regex with several named groups, none value",
	    "        extract: {x: {from: body, regex: '(?<a>.)(?<b>.)'}}\n",
	    { "t.yaml:6:42: " P "extract.x.regex: bad regular expression "
	      "'(?<a>.)(?<b>.)': several named groups and none is 'value': "
	      "name the one to capture (?<value>...)" } },
	{ "unknown from",
	    "        extract: {x: {from: bodyy, regex: '(?<value>.)'}}\n",
	    { "t.yaml:6:29: " P "extract.x.from: unknown source 'bodyy' (use "
	      "subject, body, tag or header:NAME, as header:X-Alert-Id)" } },
	{ "header without a name",
	    "        extract: {x: {from: 'header:', regex: '(?<value>.)'}}\n",
	    { "t.yaml:6:29: " P "extract.x.from: unknown source 'header:' "
	      "(use subject, body, tag or header:NAME, as "
	      "header:X-Alert-Id)" } },
	{ "header name with a colon",
	    "        extract: {x: {from: 'header:a:b', regex: "
	    "'(?<value>.)'}}\n",
	    { "t.yaml:6:29: " P "extract.x.from: unknown source 'header:a:b' "
	      "(use subject, body, tag or header:NAME, as "
	      "header:X-Alert-Id)" } },
	{ "missing from and regex", "        extract: {x: {default: d}}\n",
	    { "t.yaml:6:22: " P "extract.x: missing key 'from' (add from: "
	      "subject, body, tag or header:NAME)",
		"t.yaml:6:22: " P "extract.x: missing key 'regex' (add regex: "
		"with a named group, as '#(?<value>\\d+)')" } },
	{ "bad property name",
	    "        extract: {'a b': {from: body, regex: '(?<value>.)'}}\n",
	    { "t.yaml:6:19: " P "extract: 'a b' is not a property name "
	      "(letters, digits, '_' and '-', at most 64)" } },
	{ "required not a boolean",
	    "        extract: {x: {from: tag, regex: '(?<value>.)', required: "
	    "yes}}\n",
	    { "t.yaml:6:66: " P "extract.x.required: expected true or false, "
	      "got a string" } },
	{ "unknown key in a property",
	    "        extract: {x: {from: tag, regex: '(?<value>.)', regexp: "
	    "y}}\n",
	    { "t.yaml:6:56: unknown key 'regexp' in " P "extract.x (allowed: "
	      "from, regex, default, required)" } },
	{ "extract not a mapping", "        extract: [a]\n",
	    { "t.yaml:6:18: " P "extract: expected a mapping of property names "
	      "(severity: {from: body, regex: ...}), got a sequence" } },
	{ "bad window", "        dedup: {window: 24 hours}\n",
	    { "t.yaml:6:25: " P "dedup.window: '24 hours' is not a duration "
	      "(a number and a unit: 30m, 24h, 7d; 0 turns dedup off)" } },
	{ "negative window", "        dedup: {window: -1h}\n",
	    { "t.yaml:6:25: " P "dedup.window: '-1h' is not a duration "
	      "(a number and a unit: 30m, 24h, 7d; 0 turns dedup off)" } },
	{ "window too long", "        dedup: {window: 400d}\n",
	    { "t.yaml:6:25: " P "dedup.window: out of range (use 0..366d)" } },
	{ "bad dedup template", "        dedup: {key: 'x{{a b}}'}\n",
	    { "t.yaml:6:22: " P "dedup.key: bad template at offset 5: "
	      "unexpected character in placeholder (a path is letters, "
	      "digits, '_', '-' and '.'; templates do not nest)" } },
	{ "unclosed dedup template", "        dedup: {key: '{{id'}\n",
	    { "t.yaml:6:22: " P "dedup.key: bad template at offset 0: '{{' "
	      "is not closed by '}}'" } },
	{ "empty dedup key", "        dedup: {key: ''}\n",
	    { "t.yaml:6:22: " P "dedup.key: the key is empty (leave key out "
	      "for the default key)" } },
	{ "unknown key in dedup", "        dedup: {keys: x}\n",
	    { "t.yaml:6:17: unknown key 'keys' in " P "dedup (allowed: key, "
	      "window)" } },
	{ "unknown auto_replies", "        auto_replies: drop\n",
	    { "t.yaml:6:23: " P "auto_replies: unknown value 'drop' (use "
	      "ignore, flag or trigger)" } },
	{ "auto_replies is case sensitive", "        auto_replies: Flag\n",
	    { "t.yaml:6:23: " P "auto_replies: unknown value 'Flag' (use "
	      "ignore, flag or trigger)" } },
	{ "auto_replies not a scalar", "        auto_replies: [flag]\n",
	    { "t.yaml:6:23: " P "auto_replies: expected ignore, flag or "
	      "trigger, got a sequence" } },
	{ "every error at once",
	    "        extract: {x: {from: nowhere, regex: '('}}\n"
	    "        auto_replies: sometimes\n",
	    { "t.yaml:6:29: " P "extract.x.from: unknown source 'nowhere' "
	      "(use subject, body, tag or header:NAME, as "
	      "header:X-Alert-Id)",
		"t.yaml:6:45: " P "extract.x.regex: bad regular expression "
		"'(': missing closing parenthesis at offset 1 (PCRE2 syntax)",
		"t.yaml:7:23: " P "auto_replies: unknown value 'sometimes' "
		"(use ignore, flag or trigger)" } },
};

static void
test_err_rows(void **state)
{
	struct config_errors e = { 0 };
	struct config *cfg;
	char yaml[1024];
	size_t i, j, n_want, bad = 0;
	bool same;

	for (i = 0; i < N(err_rows); i++) {
		const struct err_row *r = &err_rows[i];

		for (n_want = 0; n_want < 3 && r->want[n_want] != NULL;)
			n_want++;
		snprintf(yaml, sizeof(yaml), "%s%s", TRIG, r->rules);
		cfg = config_parse("t.yaml", yaml, strlen(yaml), &e);
		same = cfg == NULL && e.n == n_want;
		for (j = 0; same && j < n_want; j++)
			same = strcmp(e.items[j], r->want[j]) == 0;
		if (!same) {
			print_message("row %s:\n", r->name);
			print_errors(&e);
			print_message("  want (%zu):\n", n_want);
			for (j = 0; j < n_want; j++)
				print_message("    %s\n", r->want[j]);
			bad++;
		}
		config_unref(cfg);
		config_errors_free(&e);
	}
	assert_int_equal(bad, 0);
}

/* A catastrophic pattern compiles (it is valid) and its matches stay
 * bounded: the limit is the defence, not the config check. */
static void
test_hostile_regex(void **state)
{
	static const char yaml[] = TRIG "        extract: {x: {from: body, "
					"regex: '(?<value>(a+)+$)'}}\n";
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t len = 200000, s, end;
	char *body = malloc(len);

	assert_non_null(body);
	memset(body, 'a', len);
	body[len - 1] = 'b';
	cfg = config_parse("t.yaml", yaml, strlen(yaml), &e);
	assert_non_null(cfg);
	assert_int_equal(rx_match(the_trigger(cfg)->extract[0].rx, body, len,
			     &s, &end),
	    RX_LIMIT);
	config_unref(cfg);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_ok_rows),
		cmocka_unit_test(test_err_rows),
		cmocka_unit_test(test_hostile_regex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
