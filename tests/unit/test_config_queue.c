/*
 * test_config_queue - the queue's retention keys (queue.retention,
 * queue.rejection_retention, queue.rejections_max): defaults, values,
 * 0 for "keep forever" / "no cap", and every error with its position;
 * and queue.hold.
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

#define DAY_MS (24ULL * 3600 * 1000)

static void
test_values(void **state)
{
	static const struct {
		const char *name;
		const char *yaml;
		uint64_t retention, rejection_retention;
		unsigned rejections_max;
		bool hold;
	} rows[] = {
		{ "no queue section", "hostname: h.example\n", 7 * DAY_MS,
		    7 * DAY_MS, 100000, false },
		{ "path only", "queue: {path: q.db}\n", 7 * DAY_MS, 7 * DAY_MS,
		    100000, false },
		{ "hold", "queue: {hold: true}\n", 7 * DAY_MS, 7 * DAY_MS,
		    100000, true },
		{ "hold off", "queue: {hold: false, path: q.db}\n", 7 * DAY_MS,
		    7 * DAY_MS, 100000, false },
		{ "all three",
		    "queue:\n  retention: 30d\n  rejection_retention: 12h\n"
		    "  rejections_max: 500\n",
		    30 * DAY_MS, 12 * 3600 * 1000ULL, 500, false },
		{ "zero keeps forever, no cap",
		    "queue: {retention: 0, rejection_retention: 0s,"
		    " rejections_max: 0}\n",
		    0, 0, 0, false },
		{ "largest",
		    "queue: {retention: 3650d, rejections_max:"
		    " 100000000}\n",
		    3650 * DAY_MS, 7 * DAY_MS, 100000000, false },
	};
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		cfg = config_parse("t.yaml", rows[i].yaml, strlen(rows[i].yaml),
		    &e);
		if (cfg == NULL)
			fail_msg("%s: %s", rows[i].name, e.items[0]);
		if (cfg->queue_retention.retention_ms != rows[i].retention ||
		    cfg->queue_retention.rejection_retention_ms !=
			rows[i].rejection_retention ||
		    cfg->queue_retention.rejections_max !=
			rows[i].rejections_max ||
		    cfg->queue_hold != rows[i].hold)
			fail_msg("%s: got %llu %llu %u hold %d, want %llu %llu "
				 "%u hold %d",
			    rows[i].name,
			    (unsigned long long)
				cfg->queue_retention.retention_ms,
			    (unsigned long long)
				cfg->queue_retention.rejection_retention_ms,
			    cfg->queue_retention.rejections_max,
			    cfg->queue_hold,
			    (unsigned long long)rows[i].retention,
			    (unsigned long long)rows[i].rejection_retention,
			    rows[i].rejections_max, rows[i].hold);
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
		{ "duration as a word", "queue:\n  retention: forever\n",
		    "t.yaml:2:14: queue.retention: 'forever' is not a duration "
		    "(use a number and a unit: 300s, 5m, 1h)" },
		{ "duration too long", "queue:\n  rejection_retention: 3651d\n",
		    "t.yaml:2:24: queue.rejection_retention: 3651d is out of "
		    "range (use 0s..87600h; 0 keeps forever)" },
		{ "negative duration", "queue:\n  retention: -1d\n",
		    "t.yaml:2:14: queue.retention: '-1d' is not a duration "
		    "(use a number and a unit: 300s, 5m, 1h)" },
		{ "cap as a size", "queue:\n  rejections_max: 10k\n",
		    "t.yaml:2:19: queue.rejections_max: '10k' is not an "
		    "integer "
		    "(use a whole number, as 100)" },
		{ "cap too large", "queue:\n  rejections_max: 100000001\n",
		    "t.yaml:2:19: queue.rejections_max: 100000001 is out of "
		    "range (use 0..100000000; 0 sets no cap)" },
		{ "negative cap", "queue:\n  rejections_max: -5\n",
		    "t.yaml:2:19: queue.rejections_max: -5 is out of range "
		    "(use 0..100000000; 0 sets no cap)" },
		{ "cap given a list", "queue:\n  rejections_max: [1]\n",
		    "t.yaml:2:19: queue.rejections_max: expected an integer, "
		    "got a sequence" },
		{ "unknown key", "queue:\n  retension: 7d\n",
		    "t.yaml:2:3: unknown key 'retension' in queue (allowed: "
		    "backend, path, retention, rejection_retention, "
		    "rejections_max, hold)" },
		{ "hold not a boolean", "queue:\n  hold: yes\n",
		    "t.yaml:2:9: queue.hold: expected true or false, got a "
		    "string" },
	};
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		cfg = config_parse("t.yaml", rows[i].yaml, strlen(rows[i].yaml),
		    &e);
		if (cfg != NULL || e.n != 1 ||
		    strcmp(e.items[0], rows[i].want) != 0)
			fail_msg("%s:\n  got  (%zu) %s\n  want %s",
			    rows[i].name, e.n, e.n ? e.items[0] : "(none)",
			    rows[i].want);
		config_unref(cfg);
		config_errors_free(&e);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
