/*
 * test_backoff - retry delays (doubling, cap, each jitter, Retry-After),
 * the give-up rule and the classification of HTTP statuses and exec
 * exits.
 *
 * Table driven: each row has a name; a failure prints the row, what came
 * out and what was wanted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "flow/backoff.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define R_MAX UINT32_MAX
#define NONE BACKOFF_NO_RETRY_AFTER

struct delay_row {
	const char *name;
	enum backoff_jitter jitter;
	unsigned n;
	uint32_t rnd;
	int64_t retry_after;
	uint64_t want;
};

static const struct delay_row delay_rows[] = {
	{ "none first", BACKOFF_JITTER_NONE, 1, 0, NONE, 1000 },
	{ "none n=0 as 1", BACKOFF_JITTER_NONE, 0, 0, NONE, 1000 },
	{ "none second doubles", BACKOFF_JITTER_NONE, 2, 0, NONE, 2000 },
	{ "none tenth", BACKOFF_JITTER_NONE, 10, 0, NONE, 512000 },
	{ "none eleventh capped", BACKOFF_JITTER_NONE, 11, 0, NONE, 600000 },
	{ "none huge n capped", BACKOFF_JITTER_NONE, 4000000000u, 0, NONE,
	    600000 },
	{ "equal first rnd 0", BACKOFF_JITTER_EQUAL, 1, 0, NONE, 500 },
	{ "equal first rnd max", BACKOFF_JITTER_EQUAL, 1, R_MAX, NONE, 999 },
	{ "equal first rnd half", BACKOFF_JITTER_EQUAL, 1, 1u << 31, NONE,
	    750 },
	{ "equal capped rnd 0", BACKOFF_JITTER_EQUAL, 30, 0, NONE, 300000 },
	{ "full first rnd 0", BACKOFF_JITTER_FULL, 1, 0, NONE, 0 },
	{ "full first rnd half", BACKOFF_JITTER_FULL, 1, 1u << 31, NONE, 500 },
	{ "full capped rnd max", BACKOFF_JITTER_FULL, 30, R_MAX, NONE, 599999 },
	{ "retry-after raises", BACKOFF_JITTER_NONE, 1, 0, 30, 30000 },
	{ "retry-after below delay", BACKOFF_JITTER_NONE, 5, 0, 2, 16000 },
	{ "retry-after zero", BACKOFF_JITTER_NONE, 1, 0, 0, 1000 },
	{ "retry-after over cap", BACKOFF_JITTER_NONE, 1, 0, 86400, 600000 },
	{ "retry-after huge", BACKOFF_JITTER_FULL, 1, 0, INT64_MAX, 600000 },
	{ "retry-after negative ignored", BACKOFF_JITTER_NONE, 1, 0, -5, 1000 },
};

static void
test_delay(void **state)
{
	struct backoff_policy p;
	size_t i, bad = 0;
	uint64_t got;

	backoff_default_policy(&p);
	for (i = 0; i < N(delay_rows); i++) {
		const struct delay_row *r = &delay_rows[i];

		p.jitter = r->jitter;
		got = backoff_delay(&p, r->n, r->rnd, r->retry_after);
		if (got != r->want) {
			print_message("row %s: got %llu, want %llu\n", r->name,
			    (unsigned long long)got,
			    (unsigned long long)r->want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Over the whole schedule the delays never shrink and stay in range. */
static void
test_delay_monotonic(void **state)
{
	struct backoff_policy p;
	uint64_t prev = 0, d;
	unsigned n;

	backoff_default_policy(&p);
	p.jitter = BACKOFF_JITTER_NONE;
	for (n = 1; n < 100; n++) {
		d = backoff_delay(&p, n, 12345, NONE);
		assert_true(d >= prev);
		assert_true(d <= BACKOFF_MAX_DELAY_MS);
		prev = d;
	}
	/* A tiny policy with a huge first delay still respects its cap. */
	p.first_ms = UINT64_MAX;
	p.max_delay_ms = UINT64_MAX;
	p.jitter = BACKOFF_JITTER_FULL;
	assert_true(backoff_delay(&p, 64, R_MAX, NONE) <= UINT64_MAX);
	p.first_ms = 0;
	p.max_delay_ms = 10;
	p.jitter = BACKOFF_JITTER_NONE;
	assert_int_equal(backoff_delay(&p, 1, 0, NONE), 1);
}

struct give_up_row {
	const char *name;
	unsigned max_attempts;
	uint64_t max_age_ms;
	unsigned n;
	uint64_t age_ms, delay_ms;
	bool want;
};

#define H (60ULL * 60 * 1000)

static const struct give_up_row give_up_rows[] = {
	{ "young, no count limit", 0, 24 * H, 5, 1000, 16000, false },
	{ "count reached", 5, 24 * H, 5, 1000, 16000, true },
	{ "count not reached", 5, 24 * H, 4, 1000, 8000, false },
	{ "next try past age", 0, 24 * H, 40, 24 * H - 1000, 600000, true },
	{ "next try exactly at age", 0, 24 * H, 40, 24 * H - 1000, 1000,
	    false },
	{ "already older than age", 0, 24 * H, 40, 25 * H, 0, true },
	{ "no age limit", 0, 0, 1000, 1000 * H, 600000, false },
};

static void
test_give_up(void **state)
{
	struct backoff_policy p;
	size_t i, bad = 0;
	bool got;

	backoff_default_policy(&p);
	for (i = 0; i < N(give_up_rows); i++) {
		const struct give_up_row *r = &give_up_rows[i];

		p.max_attempts = r->max_attempts;
		p.max_age_ms = r->max_age_ms;
		got = backoff_give_up(&p, r->n, r->age_ms, r->delay_ms);
		if (got != r->want) {
			print_message("row %s: got %d, want %d\n", r->name, got,
			    r->want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

struct http_row {
	int status;
	enum step_outcome want;
};

static const struct http_row http_rows[] = {
	{ 200, OUTCOME_SUCCESS },
	{ 201, OUTCOME_SUCCESS },
	{ 204, OUTCOME_SUCCESS },
	{ 299, OUTCOME_SUCCESS },
	{ 0, OUTCOME_RETRY },
	{ 408, OUTCOME_RETRY },
	{ 429, OUTCOME_RETRY },
	{ 500, OUTCOME_RETRY },
	{ 502, OUTCOME_RETRY },
	{ 503, OUTCOME_RETRY },
	{ 599, OUTCOME_RETRY },
	{ 100, OUTCOME_FAIL },
	{ 301, OUTCOME_FAIL },
	{ 400, OUTCOME_FAIL },
	{ 401, OUTCOME_FAIL },
	{ 404, OUTCOME_FAIL },
	{ 409, OUTCOME_FAIL },
	{ 410, OUTCOME_FAIL },
	{ 600, OUTCOME_FAIL },
	{ -1, OUTCOME_FAIL },
};

static void
test_classify_http(void **state)
{
	size_t i, bad = 0;
	enum step_outcome got;

	for (i = 0; i < N(http_rows); i++) {
		got = backoff_classify_http(http_rows[i].status);
		if (got != http_rows[i].want) {
			print_message("row status %d: got %s, want %s\n",
			    http_rows[i].status, backoff_outcome_name(got),
			    backoff_outcome_name(http_rows[i].want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

struct exec_row {
	const char *name;
	enum exec_end end;
	int code;
	enum step_outcome want;
};

static const struct exec_row exec_rows[] = {
	{ "exit 0", EXEC_EXITED, 0, OUTCOME_SUCCESS },
	{ "exit 75 tempfail", EXEC_EXITED, 75, OUTCOME_RETRY },
	{ "exit 1", EXEC_EXITED, 1, OUTCOME_FAIL },
	{ "exit 74", EXEC_EXITED, 74, OUTCOME_FAIL },
	{ "exit 76", EXEC_EXITED, 76, OUTCOME_FAIL },
	{ "exit 255", EXEC_EXITED, 255, OUTCOME_FAIL },
	{ "timeout", EXEC_TIMEOUT, 0, OUTCOME_RETRY },
	{ "signal", EXEC_SIGNALED, 0, OUTCOME_FAIL },
	{ "spawn failed", EXEC_SPAWN_FAILED, 0, OUTCOME_FAIL },
};

static void
test_classify_exec(void **state)
{
	size_t i, bad = 0;
	enum step_outcome got;

	for (i = 0; i < N(exec_rows); i++) {
		const struct exec_row *r = &exec_rows[i];

		got = backoff_classify_exec(r->end, r->code);
		if (got != r->want) {
			print_message("row %s: got %s, want %s\n", r->name,
			    backoff_outcome_name(got),
			    backoff_outcome_name(r->want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	assert_string_equal(backoff_outcome_name(OUTCOME_SUCCESS), "success");
	assert_string_equal(backoff_outcome_name(OUTCOME_RETRY), "retry");
	assert_string_equal(backoff_outcome_name(OUTCOME_FAIL), "fail");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_delay_monotonic),
		cmocka_unit_test(test_give_up),
		cmocka_unit_test(test_classify_http),
		cmocka_unit_test(test_classify_exec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
