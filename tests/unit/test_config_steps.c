/*
 * test_config_steps - the options flow steps share (config_steps.c):
 * timeout, retry, secret_env, max_in_flight; defaults and errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "util/xmalloc.h"

#define HEAD                       \
	"instances:\n"             \
	"  - host: demo.example\n" \
	"    triggers:\n"          \
	"      t:\n"               \
	"        flow:\n"

static struct config *
parse(const char *steps, struct config_errors *e)
{
	char text[1024];

	snprintf(text, sizeof(text), "%s%s", HEAD, steps);
	return config_parse("t.yaml", text, strlen(text), e);
}

static void
test_values(void **state)
{
	static const struct {
		const char *name;
		const char *yaml;
		uint64_t timeout, first, max, age;
		unsigned attempts, in_flight;
	} rows[] = {
		{ "defaults", "          - exec: {command: [x]}\n", 30000, 1000,
		    600000, 86400000, 0, 32 },
		{ "exec timeout and retry",
		    "          - exec: {command: [x], timeout: 2s,"
		    " retry: {first: 100ms, max: 1s, max_age: 1m,"
		    " attempts: 5}}\n",
		    2000, 100, 1000, 60000, 5, 32 },
		{ "http in flight",
		    "          - http: {url: 'http://h/', max_in_flight: 4,"
		    " timeout: 500ms}\n",
		    500, 1000, 600000, 86400000, 0, 4 },
	};
	struct config_errors e = { 0 };
	const struct flow_step *st;
	struct config *cfg;
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		cfg = parse(rows[i].yaml, &e);
		if (cfg == NULL)
			fail_msg("%s: %s", rows[i].name, e.items[0]);
		st = &cfg->instances[0].triggers[0].steps[0];
		if (st->timeout_ms != rows[i].timeout ||
		    st->retry_first_ms != rows[i].first ||
		    st->retry_max_ms != rows[i].max ||
		    st->retry_max_age_ms != rows[i].age ||
		    st->retry_attempts != rows[i].attempts ||
		    st->max_in_flight != rows[i].in_flight)
			fail_msg("%s: got %llu %llu %llu %llu %u %u",
			    rows[i].name, (unsigned long long)st->timeout_ms,
			    (unsigned long long)st->retry_first_ms,
			    (unsigned long long)st->retry_max_ms,
			    (unsigned long long)st->retry_max_age_ms,
			    st->retry_attempts, st->max_in_flight);
		config_unref(cfg);
	}
}

static void
test_errors(void **state)
{
	static const struct {
		const char *name;
		const char *yaml;
		const char *want;
	} rows[] = {
		{ "bad duration",
		    "          - exec: {command: [x], timeout: soon}\n",
		    "t.yaml:6:43: instances[0].triggers.t.flow[0].exec.timeout:"
		    " expected a duration" },
		{ "zero timeout",
		    "          - exec: {command: [x], timeout: 0s}\n",
		    "t.yaml:6:43: instances[0].triggers.t.flow[0].exec.timeout:"
		    " out of range" },
		{ "unknown retry key",
		    "          - exec: {command: [x], retry: {firts: 1s}}\n",
		    "t.yaml:6:42: unknown key 'firts'" },
		{ "secret_env on exec",
		    "          - exec: {command: [x], secret_env: S}\n",
		    "t.yaml:6:34: unknown key 'secret_env'" },
		{ "secret_env unset",
		    "          - http: {url: 'http://h/', secret_env: "
		    "MT_NOPE}\n",
		    "t.yaml:6:50: "
		    "instances[0].triggers.t.flow[0].http.secret_env:"
		    " environment variable MT_NOPE is not set" },
		{ "in flight zero",
		    "          - http: {url: 'http://h/', max_in_flight: 0}\n",
		    "max_in_flight: out of range (use 1..1024)" },
	};
	struct config_errors e;
	struct config *cfg;
	size_t i;

	unsetenv("MT_NOPE");
	for (i = 0; i < NELEM(rows); i++) {
		memset(&e, 0, sizeof(e));
		cfg = parse(rows[i].yaml, &e);
		if (cfg != NULL) {
			config_unref(cfg);
			fail_msg("%s: parsed, want error '%s'", rows[i].name,
			    rows[i].want);
		}
		if (e.n != 1 || strstr(e.items[0], rows[i].want) == NULL)
			fail_msg("%s: got (%zu) '%s' want '%s'", rows[i].name,
			    e.n, e.n > 0 ? e.items[0] : "", rows[i].want);
		config_errors_free(&e);
	}
}

static void
test_secret_read_at_load(void **state)
{
	struct config_errors e = { 0 };
	struct config *cfg;
	const struct flow_step *st;

	setenv("MT_TEST_SECRET", "s3cret", 1);
	cfg = parse("          - http: {url: 'http://h/',"
		    " secret_env: MT_TEST_SECRET}\n",
	    &e);
	unsetenv("MT_TEST_SECRET");
	if (cfg == NULL)
		fail_msg("parse: %s", e.items[0]);
	st = &cfg->instances[0].triggers[0].steps[0];
	assert_string_equal(st->secret_env, "MT_TEST_SECRET");
	assert_string_equal(st->secret, "s3cret");
	config_unref(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_secret_read_at_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
