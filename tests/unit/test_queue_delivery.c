/*
 * test_queue_delivery - the delivery side of the queue (queue.h,
 * "Delivery"): claim and lease expiry, attempts, done, retry, dead letter,
 * the version 1 to 2 migration. Rows are put in place with SQL so each
 * case starts from a known state. Also the dedup check-and-record, the
 * migrations from versions 1 and 2, and batches (one transaction for many
 * calls).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "queue/queue.h"
#include "util/xmalloc.h"

#define T0 1764331200000LL
#define LEASE 60000

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct queue *q;
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/mt-test-qd-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/queue.db", f->dir);
	q = queue_open(f->path, err, sizeof(err));
	if (q == NULL) {
		print_error("queue_open: %s\n", err);
		return -1;
	}
	queue_close(q);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void sql(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sql(const char *path, const char *fmt, ...)
{
	char text[1024];
	sqlite3 *db = NULL;
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
	sqlite3_close(db);
}

static long long value(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static long long
value(const char *path, const char *fmt, ...)
{
	char text[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	va_list ap;
	long long v = -1;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A message M<n> with one event evt_M<n> in state, due at next. */
static void
add_event(const char *path, int n, const char *state, long long next,
    long long lease)
{
	sql(path,
	    "INSERT INTO messages (id, received_at, mail_from, client_ip,"
	    " helo, tls, smtputf8, size, data)"
	    " VALUES ('M%d', %lld, 'a@example.com',"
	    " '127.0.0.1', 'client', 0, 0, 5, CAST('hello' AS BLOB));"
	    "INSERT INTO events (id, message_id, instance, trigger, tag,"
	    " recipients, rcpt_to, state, next_attempt_at, lease_until,"
	    " created_at) VALUES ('evt_M%d', 'M%d', 'demo.localhost',"
	    " 'alert', '', '[]', '[\"alert@demo.localhost\"]', '%s', %lld,"
	    " %lld, %lld)",
	    n, T0, n, n, state, next, lease, T0);
}

static struct queue_delivery *
open_d(const struct fixture *f)
{
	char err[256];
	struct queue_delivery *d = queue_delivery_open(f->path, err,
	    sizeof(err));

	if (d == NULL)
		fail_msg("queue_delivery_open: %s", err);
	return d;
}

/* Which events a claim at now takes. */
static void
test_claim_selects_due(void **state)
{
	struct fixture *f = *state;
	struct queue_delivery *d;
	struct queue_claim *c;
	size_t n, i;
	static const struct {
		const char *name;
		const char *state;
		long long next, lease;
		int claimed;
	} rows[] = {
		{ "queued, due", "queued", T0, 0, 1 },
		{ "queued, not yet due", "queued", T0 + 5000, 0, 0 },
		{ "retry, due", "retry", T0 - 1, 0, 1 },
		{ "retry, later", "retry", T0 + 1, 0, 0 },
		{ "running, lease expired", "running", T0, T0 - 1, 1 },
		{ "running, lease held", "running", T0, T0 + 1000, 0 },
		{ "done", "done", T0, 0, 0 },
		{ "dead", "dead", T0, 0, 0 },
	};
	char id[32];

	for (i = 0; i < NELEM(rows); i++)
		add_event(f->path, (int)i, rows[i].state, rows[i].next,
		    rows[i].lease);
	d = open_d(f);
	assert_int_equal(queue_claim(d, T0, LEASE, 100, &c, &n), QUEUE_OK);
	for (i = 0; i < NELEM(rows); i++) {
		snprintf(id, sizeof(id), "evt_M%zu", i);
		long long got = value(f->path,
		    "SELECT state = 'running' AND lease_until = %lld"
		    " FROM events WHERE id = '%s'",
		    T0 + LEASE, id);
		if (got != rows[i].claimed)
			fail_msg("%s: claimed got %lld want %d", rows[i].name,
			    got, rows[i].claimed);
	}
	assert_int_equal(n, 3);
	assert_string_equal(c[0].message_id + 1, c[0].id + 5);
	assert_string_equal(c[0].trigger, "alert");
	assert_string_equal(c[0].rcpt_to, "[\"alert@demo.localhost\"]");
	assert_int_equal(c[0].len, 5);
	assert_memory_equal(c[0].data, "hello", 5);
	queue_claims_free(c, n);
	/* A second claim at the same time finds nothing: leases hold. */
	assert_int_equal(queue_claim(d, T0, LEASE, 100, &c, &n), QUEUE_OK);
	assert_int_equal(n, 0);
	queue_claims_free(c, n);
	/* After the lease, the dead worker's events come back. */
	assert_int_equal(queue_claim(d, T0 + LEASE + 1, LEASE, 2, &c, &n),
	    QUEUE_OK);
	assert_int_equal(n, 2);
	queue_claims_free(c, n);
	queue_delivery_close(d);
}

/* Attempts are numbered, counted, and move next_step on success only. */
/*
 * queue_claim_ids() claims as queue_claim() does but reads nothing; the
 * claim's data then comes from queue_claim_load() on another connection
 * (the parser's), equal to what queue_claim() gives.
 */
static void
test_claim_ids_then_load(void **state)
{
	struct fixture *f = *state;
	struct queue_delivery *d, *reader;
	struct queue_claim *c, *full, gone = { .id = "evt_none" };
	size_t n, m;

	add_event(f->path, 1, "queued", T0, 0);
	add_event(f->path, 2, "queued", T0, 0);
	sql(f->path,
	    "INSERT INTO attempts (event_id, n, at, step, status)"
	    " VALUES ('evt_M1', 1, %lld, 0, 'retry')",
	    T0);
	d = open_d(f);
	reader = open_d(f);
	assert_int_equal(queue_claim_ids(d, T0, LEASE, 1, &c, &n), QUEUE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].id, "evt_M1");
	assert_null(c[0].data);
	assert_null(c[0].instance);
	assert_int_equal(value(f->path,
			     "SELECT count(*) FROM events WHERE state = "
			     "'running'"),
	    1);
	assert_int_equal(queue_claim_load(reader, &c[0]), QUEUE_OK);
	assert_string_equal(c[0].message_id, "M1");
	assert_string_equal(c[0].instance, "demo.localhost");
	assert_int_equal(c[0].len, 5);
	assert_memory_equal(c[0].data, "hello", 5);
	assert_int_equal(c[0].step_attempts, 1);
	assert_int_equal(c[0].created_at_ms, T0);
	/* The same fields as a loading claim of the other event. */
	assert_int_equal(queue_claim(d, T0, LEASE, 1, &full, &m), QUEUE_OK);
	assert_int_equal(m, 1);
	assert_string_equal(full[0].rcpt_to, c[0].rcpt_to);
	assert_int_equal(full[0].received_at_ms, c[0].received_at_ms);
	/* A claimed event without its row or message: it never will load. */
	assert_int_equal(queue_claim_load(reader, &gone), QUEUE_ERR_CORRUPT);
	assert_string_equal(queue_delivery_errmsg(reader),
	    "event evt_none or its message is not in the queue");
	/* Not inside a batch: the load is a read of its own. */
	assert_int_equal(queue_delivery_begin(d), QUEUE_OK);
	assert_int_equal(queue_claim_load(d, &c[0]), QUEUE_ERR_IO);
	assert_int_equal(queue_delivery_commit(d), QUEUE_OK);
	queue_claims_free(c, n);
	queue_claims_free(full, m);
	queue_delivery_close(reader);
	queue_delivery_close(d);
}

static void
test_attempts_and_states(void **state)
{
	struct fixture *f = *state;
	struct queue_delivery *d;
	struct queue_claim *c;
	size_t n;
	char big[3000];
	struct queue_attempt a = { .event_id = "evt_M1",
		.step = 0,
		.at_ms = T0,
		.latency_ms = 12,
		.status = "retry",
		.code = 500,
		.response = big,
		.response_len = sizeof(big) };

	memset(big, 'x', sizeof(big));
	add_event(f->path, 1, "queued", T0, 0);
	d = open_d(f);
	assert_int_equal(queue_record_attempt(d, &a), QUEUE_OK);
	a.status = "ok";
	a.code = 200;
	a.step_done = true;
	assert_int_equal(queue_record_attempt(d, &a), QUEUE_OK);
	a.step = 1;
	a.step_done = false;
	a.status = "retry";
	assert_int_equal(queue_record_attempt(d, &a), QUEUE_OK);
	assert_int_equal(value(f->path,
			     "SELECT attempts * 10 + next_step FROM events"),
	    31);
	assert_int_equal(value(f->path,
			     "SELECT group_concat(n) = '1,2,3'"
			     " FROM attempts"),
	    1);
	assert_int_equal(value(f->path,
			     "SELECT max(length(response)) FROM attempts"),
	    1024);
	assert_int_equal(queue_claim(d, T0, LEASE, 1, &c, &n), QUEUE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].attempts, 3);
	assert_int_equal(c[0].next_step, 1);
	assert_int_equal(c[0].step_attempts, 1);
	queue_claims_free(c, n);

	assert_int_equal(queue_retry(d, "evt_M1", T0 + 700), QUEUE_OK);
	assert_int_equal(value(f->path,
			     "SELECT state = 'retry' AND next_attempt_at = %lld"
			     " AND lease_until IS NULL FROM events",
			     T0 + 700),
	    1);
	assert_int_equal(queue_next_due(d), T0 + 700);
	assert_int_equal(queue_dead(d, "evt_M1", "step 2: HTTP 404"), QUEUE_OK);
	assert_int_equal(value(f->path,
			     "SELECT state = 'dead' AND dead_reason ="
			     " 'step 2: HTTP 404' FROM events"),
	    1);
	assert_int_equal(queue_next_due(d), INT64_MAX);
	assert_int_equal(queue_complete(d, "evt_nosuch"), QUEUE_ERR_IO);
	queue_delivery_close(d);
}

/*
 * A batch: the calls share one transaction, invisible to other
 * connections until the commit; a call that fails inside it undoes only
 * itself (its savepoint); batches do not nest.
 */
static void
test_batch(void **state)
{
	struct fixture *f = *state;
	struct queue_delivery *d;
	struct queue_claim *c;
	size_t n;
	struct queue_attempt a = { .event_id = "evt_M1",
		.step = 0,
		.at_ms = T0,
		.status = "ok",
		.code = 200,
		.step_done = true };
	struct queue_attempt bad = a;

	bad.event_id = "evt_nosuch";
	add_event(f->path, 1, "queued", T0, 0);
	add_event(f->path, 2, "queued", T0, 0);
	d = open_d(f);
	assert_int_equal(queue_delivery_begin(d), QUEUE_OK);
	assert_int_equal(queue_delivery_begin(d), QUEUE_ERR_IO);
	assert_int_equal(queue_claim(d, T0, LEASE, 2, &c, &n), QUEUE_OK);
	assert_int_equal(n, 2);
	queue_claims_free(c, n);
	assert_int_equal(queue_record_attempt(d, &a), QUEUE_OK);
	assert_int_equal(queue_record_attempt(d, &bad), QUEUE_ERR_IO);
	assert_int_equal(queue_complete(d, "evt_M1"), QUEUE_OK);
	assert_int_equal(queue_retry(d, "evt_M2", T0 + 500), QUEUE_OK);
	/* Not committed yet: another connection sees the old state. */
	assert_int_equal(value(f->path,
			     "SELECT count(*) FROM events WHERE state = "
			     "'queued'"),
	    2);
	assert_int_equal(queue_delivery_commit(d), QUEUE_OK);
	assert_int_equal(queue_delivery_commit(d), QUEUE_ERR_IO);
	assert_int_equal(value(f->path,
			     "SELECT group_concat(id || ':' || state || ':' ||"
			     " attempts, ',') = 'evt_M1:done:1,evt_M2:retry:0'"
			     " FROM (SELECT * FROM events ORDER BY id)"),
	    1);
	assert_int_equal(value(f->path, "SELECT count(*) FROM attempts"), 1);
	queue_delivery_close(d);
}

/* Start-up: running events of a previous process are due at once. */
static void
test_recover_running(void **state)
{
	struct fixture *f = *state;
	struct queue_delivery *d;

	add_event(f->path, 1, "running", T0, T0 + 3600000);
	add_event(f->path, 2, "done", T0, 0);
	d = open_d(f);
	assert_int_equal(queue_recover_running(d, T0 + 5), 1);
	assert_int_equal(queue_next_due(d), T0 + 5);
	assert_int_equal(queue_complete(d, "evt_M1"), QUEUE_OK);
	assert_int_equal(value(f->path,
			     "SELECT count(*) FROM events"
			     " WHERE state = 'done'"),
	    2);
	queue_delivery_close(d);
}

/* Older queues gain the tables and columns of the later versions. */
static void
test_migrate(void **state)
{
	struct fixture *f = *state;
	static const char undo5[] = "DROP INDEX messages_seg;"
				    " ALTER TABLE messages DROP COLUMN seg;"
				    " ALTER TABLE messages DROP COLUMN seg_off;"
				    " PRAGMA user_version = 4";
	static const char undo4[] = "DROP TABLE rejections;"
				    " DROP INDEX messages_received;"
				    " ALTER TABLE events DROP COLUMN rewrite;"
				    " PRAGMA user_version = 3";
	static const char undo3[] = "DROP INDEX events_dedup;"
				    " ALTER TABLE events DROP COLUMN dedup_key;"
				    " ALTER TABLE events DROP COLUMN note;"
				    " PRAGMA user_version = 2";
	static const char
	    undo2[] = "DROP TABLE attempts;"
		      " ALTER TABLE events DROP COLUMN next_step;"
		      " ALTER TABLE events DROP COLUMN dead_reason;"
		      " PRAGMA user_version = 1";
	static const struct {
		const char *name;
		bool from1;
	} rows[] = {
		{ "from 2", false },
		{ "from 1", true },
	};
	struct queue *q;
	char err[256];
	size_t i;

	add_event(f->path, 1, "queued", T0, 0);
	for (i = 0; i < NELEM(rows); i++) {
		sql(f->path, "%s", undo5);
		sql(f->path, "%s", undo4);
		sql(f->path, "%s", undo3);
		if (rows[i].from1)
			sql(f->path, "%s", undo2);
		q = queue_open(f->path, err, sizeof(err));
		if (q == NULL)
			fail_msg("%s: queue_open: %s", rows[i].name, err);
		queue_close(q);
		if (value(f->path, "PRAGMA user_version") !=
			QUEUE_SCHEMA_VERSION ||
		    value(f->path,
			"SELECT next_step + count(dedup_key) + count(note)"
			" FROM events WHERE id = 'evt_M1'") != 0 ||
		    value(f->path, "SELECT count(*) FROM attempts") != 0 ||
		    value(f->path, "SELECT count(*) FROM rejections") != 0 ||
		    value(f->path, "SELECT count(rewrite) FROM events") != 0 ||
		    value(f->path,
			"SELECT count(seg) + count(seg_off)"
			" FROM messages") != 0)
			fail_msg("%s: not migrated to %d", rows[i].name,
			    QUEUE_SCHEMA_VERSION);
	}
}

/* Check-and-record of dedup keys; which earlier events count. */
static void
test_dedup(void **state)
{
	struct fixture *f = *state;
	struct queue_delivery *d;
	char of[ID_LEN + 16], id[16];
	bool dup;
	static const struct {
		const char *name;
		int n;
		const char *key;
		long long since;
		bool want;
		const char *want_of;
	} rows[] = {
		{ "first of its key", 1, "k1", T0 - 1000, false, "" },
		{ "same key, in window", 2, "k1", T0 - 1000, true, "evt_M1" },
		{ "same key, window after it", 3, "k1", T0 + 1, false, "" },
		{ "other key", 4, "k2", T0 - 1000, false, "" },
		{ "re-run of the first", 1, "k1", T0 - 1000, true, "evt_M3" },
	};
	size_t i;

	for (i = 1; i <= 4; i++)
		add_event(f->path, (int)i, "queued", T0, 0);
	d = open_d(f);
	for (i = 0; i < NELEM(rows); i++) {
		snprintf(id, sizeof(id), "evt_M%d", rows[i].n);
		of[0] = '\0';
		assert_int_equal(queue_dedup(d, id, rows[i].key, rows[i].since,
				     &dup, of),
		    QUEUE_OK);
		if (dup != rows[i].want || strcmp(of, rows[i].want_of) != 0)
			fail_msg("%s: got %d '%s' want %d '%s'", rows[i].name,
			    dup, of, rows[i].want, rows[i].want_of);
		if (i == 1)
			assert_int_equal(queue_skip(d, id, "duplicate",
					     "duplicate of evt_M1"),
			    QUEUE_OK);
	}
	assert_int_equal(value(f->path,
			     "SELECT count(*) FROM events WHERE id = 'evt_M2'"
			     " AND state = 'duplicate' AND dedup_key = 'k1'"
			     " AND note = 'duplicate of evt_M1'"),
	    1);
	assert_int_equal(queue_skip(d, "evt_M4", "ignored",
			     "Auto-Submitted: auto-replied"),
	    QUEUE_OK);
	assert_int_equal(value(f->path,
			     "SELECT count(*) FROM events WHERE"
			     " state = 'ignored' AND note LIKE 'Auto%%'"),
	    1);
	queue_delivery_close(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_selects_due, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claim_ids_then_load, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_attempts_and_states, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover_running, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
