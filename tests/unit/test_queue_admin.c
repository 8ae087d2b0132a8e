/*
 * test_queue_admin - the queue CLI's functions and retention
 * (queue/admin.h) on real SQLite files made by queue_open(): list
 * filters, show by event and by message id, retry by state (and its
 * refusals), purge of ended messages in batches, rejections by age and
 * by cap, the retention pass, and what admin_open() refuses. Rows are
 * put in place with SQL so every case starts from a known state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "config.h"
#include "queue/admin.h"
#include "queue/queue.h"
#include "util/xmalloc.h"

#define T0 INT64_C(1764331200000)
#define DAY INT64_C(86400000)

struct fixture {
	char dir[64];
	char path[128];
	struct admin *a;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct queue *q;
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/mt-test-qa-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/queue.db", f->dir);
	q = queue_open(f->path, err, sizeof(err));
	if (q == NULL) {
		print_error("queue_open: %s\n", err);
		return -1;
	}
	queue_close(q);
	f->a = admin_open(f->path, err, sizeof(err));
	if (f->a == NULL) {
		print_error("admin_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	admin_close(f->a);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		print_error("cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static void __attribute__((format(printf, 2, 3)))
sql(const char *path, const char *fmt, ...)
{
	char text[2048];
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

/* The first column of the first row as text ("" for none or NULL). */
static const char *value(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
value(const char *path, const char *fmt, ...)
{
	static char out[512];
	char text[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof(out), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static void
add_message(const char *path, const char *id, long long at)
{
	sql(path,
	    "INSERT INTO messages (id, received_at, mail_from, client_ip,"
	    " helo, tls, smtputf8, size, data)"
	    " VALUES ('%s', %lld, 'a@example.com',"
	    " '127.0.0.1', 'client', 1, 0, 7,"
	    " CAST('Subject: x\r\n\r\nhi' AS BLOB))",
	    id, at);
}

static void
add_event(const char *path, const char *id, const char *msg, const char *state,
    const char *trigger, long long at)
{
	sql(path,
	    "INSERT INTO events (id, message_id, instance, trigger, tag,"
	    " recipients, rcpt_to, state, next_attempt_at, created_at,"
	    " dead_reason) VALUES ('%s', '%s', 'demo.localhost', '%s', '',"
	    " '[]', '[\"x@demo.localhost\"]', '%s', %lld, %lld,"
	    " CASE WHEN '%s' = 'dead' THEN 'step 0: HTTP 404' END)",
	    id, msg, trigger, state, at, at, state);
}

static void
add_attempt(const char *path, const char *evt, int n, long long at,
    const char *status, int code)
{
	sql(path,
	    "INSERT INTO attempts VALUES ('%s', %d, %lld, 0, '%s', %d, 12,"
	    " 'resp %d')",
	    evt, n, at, status, code, n);
}

/* ---- open ---- */

static void
test_open_refusals(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		const char *make; /* shell-free setup: SQL on a new file */
		int kind;         /* 0 none, 1 text file, 2 SQL, 3 directory */
		const char *want;
	} rows[] = {
		{ "missing file", NULL, 0, "No such file or directory" },
		{ "a directory", NULL, 3, "not a regular file" },
		{ "not SQLite", "hello, world\n", 1, "not a SQLite database" },
		{ "SQLite, other tables", "CREATE TABLE t (x)", 2,
		    "not a mailtrigger queue" },
		{ "tables but version 0",
		    "CREATE TABLE messages (id); CREATE TABLE events (id);"
		    "CREATE TABLE attempts (id); CREATE TABLE rejections (at)",
		    2, "not a mailtrigger queue" },
		{ "newer schema",
		    "CREATE TABLE messages (id); CREATE TABLE events (id);"
		    "CREATE TABLE attempts (id); CREATE TABLE rejections (at);"
		    "PRAGMA user_version = 99",
		    2, "schema version 99, want 5" },
	};
	char p[192], err[512];
	struct admin *a;
	struct stat sb;
	FILE *fp;
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		snprintf(p, sizeof(p), "%s/bad%zu.db", f->dir, i);
		if (rows[i].kind == 1) {
			fp = fopen(p, "w");
			assert_non_null(fp);
			fputs(rows[i].make, fp);
			fclose(fp);
		} else if (rows[i].kind == 2) {
			sql(p, "%s", rows[i].make);
		} else if (rows[i].kind == 3) {
			assert_int_equal(mkdir(p, 0700), 0);
		}
		err[0] = '\0';
		a = admin_open(p, err, sizeof(err));
		if (a != NULL || strstr(err, rows[i].want) == NULL)
			fail_msg("%s: got %s '%s', want NULL '%s'",
			    rows[i].name, a ? "a queue" : "NULL", err,
			    rows[i].want);
		/* Never creates: the missing file is still missing. */
		if (rows[i].kind == 0 && stat(p, &sb) == 0)
			fail_msg("%s: admin_open created %s", rows[i].name, p);
	}
}

/* ---- list ---- */

static void
test_list(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		struct admin_filter filter;
		enum admin_status st;
		const char *want; /* ids, newest first, space separated */
	} rows[] = {
		{ "all", { NULL, NULL, 0 }, ADMIN_OK,
		    "evt_M4 evt_M3 evt_M2.2 evt_M2 evt_M1" },
		{ "dead", { "dead", NULL, 0 }, ADMIN_OK, "evt_M3 evt_M1" },
		{ "trigger deploy", { NULL, "deploy", 0 }, ADMIN_OK,
		    "evt_M4 evt_M2.2" },
		{ "dead deploy", { "dead", "deploy", 0 }, ADMIN_OK, "" },
		{ "limit 2", { NULL, NULL, 2 }, ADMIN_OK, "evt_M4 evt_M3" },
		{ "no such trigger", { NULL, "nope", 0 }, ADMIN_OK, "" },
		{ "bad state", { "deceased", NULL, 0 }, ADMIN_REFUSED, "" },
	};
	struct admin_event *e;
	char got[256];
	size_t i, j, n;
	enum admin_status st;

	add_message(f->path, "M1", T0);
	add_event(f->path, "evt_M1", "M1", "dead", "alert", T0);
	add_message(f->path, "M2", T0 + 1);
	add_event(f->path, "evt_M2", "M2", "done", "alert", T0 + 1);
	add_event(f->path, "evt_M2.2", "M2", "retry", "deploy", T0 + 1);
	add_message(f->path, "M3", T0 + 2);
	add_event(f->path, "evt_M3", "M3", "dead", "alert", T0 + 2);
	add_message(f->path, "M4", T0 + 3);
	add_event(f->path, "evt_M4", "M4", "queued", "deploy", T0 + 3);
	for (i = 0; i < NELEM(rows); i++) {
		st = admin_list(f->a, &rows[i].filter, &e, &n);
		got[0] = '\0';
		for (j = 0; j < n; j++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%s%s", j ? " " : "", e[j].id);
		if (st != rows[i].st || strcmp(got, rows[i].want) != 0)
			fail_msg("%s: got %d '%s', want %d '%s' (%s)",
			    rows[i].name, st, got, rows[i].st, rows[i].want,
			    admin_errmsg(f->a));
		if (n > 0 && strcmp(e[0].mail_from, "a@example.com") != 0)
			fail_msg("%s: mail_from got '%s'", rows[i].name,
			    e[0].mail_from);
		admin_events_free(e, n);
	}
	assert_non_null(strstr(admin_errmsg(f->a), "'deceased' is not a"));
}

/* ---- show ---- */

static void
test_show(void **state)
{
	struct fixture *f = *state;
	struct admin_detail d;

	add_message(f->path, "M1", T0);
	add_event(f->path, "evt_M1", "M1", "dead", "alert", T0);
	add_event(f->path, "evt_M1.2", "M1", "done", "deploy", T0);
	add_attempt(f->path, "evt_M1", 2, T0 + 2000, "fail", 404);
	add_attempt(f->path, "evt_M1", 1, T0 + 1000, "retry", 500);
	sql(f->path,
	    "UPDATE events SET note = 'n', dedup_key = 'k', rewrite = '{}'"
	    " WHERE id = 'evt_M1'");

	/* By event id: that event only, attempts in order of n. */
	assert_int_equal(admin_show(f->a, "evt_M1", &d), ADMIN_OK);
	assert_string_equal(d.msg.id, "M1");
	assert_int_equal(d.msg.len, 16);
	assert_memory_equal(d.msg.data, "Subject: x\r\n\r\nhi", 16);
	assert_true(d.msg.tls);
	assert_int_equal(d.n_events, 1);
	assert_string_equal(d.events[0].state, "dead");
	assert_string_equal(d.events[0].dead_reason, "step 0: HTTP 404");
	assert_string_equal(d.events[0].note, "n");
	assert_string_equal(d.events[0].dedup_key, "k");
	assert_string_equal(d.events[0].rewrite, "{}");
	assert_int_equal(d.events[0].n_att, 2);
	assert_int_equal(d.events[0].att[0].n, 1);
	assert_int_equal(d.events[0].att[0].code, 500);
	assert_string_equal(d.events[0].att[0].status, "retry");
	assert_int_equal(d.events[0].att[0].latency_ms, 12);
	assert_string_equal(d.events[0].att[1].response, "resp 2");
	admin_detail_free(&d);

	/* By message id: every event; NULL columns stay NULL. */
	assert_int_equal(admin_show(f->a, "M1", &d), ADMIN_OK);
	assert_int_equal(d.n_events, 2);
	assert_string_equal(d.events[1].id, "evt_M1.2");
	assert_null(d.events[1].dead_reason);
	assert_null(d.events[1].rewrite);
	assert_int_equal(d.events[1].n_att, 0);
	admin_detail_free(&d);

	assert_int_equal(admin_show(f->a, "evt_M9", &d), ADMIN_NOT_FOUND);
	assert_non_null(strstr(admin_errmsg(f->a), "no event 'evt_M9'"));
	assert_int_equal(admin_show(f->a, "M9", &d), ADMIN_NOT_FOUND);
	assert_non_null(strstr(admin_errmsg(f->a), "'M9'"));
}

/* ---- retry ---- */

static void
count_cb(void *arg, const char *id, const char *was)
{
	(*(size_t *)arg)++;
}

static void
test_retry_states(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *state;
		enum admin_status st;
	} rows[] = {
		{ "dead", ADMIN_OK },
		{ "retry", ADMIN_OK },
		{ "queued", ADMIN_REFUSED },
		{ "running", ADMIN_REFUSED },
		{ "done", ADMIN_REFUSED },
		{ "ignored", ADMIN_REFUSED },
		{ "duplicate", ADMIN_REFUSED },
	};
	const int64_t now = T0 + DAY;
	char id[32], msg[32], want[128];
	size_t i, calls;
	enum admin_status st;

	for (i = 0; i < NELEM(rows); i++) {
		snprintf(msg, sizeof(msg), "M%zu", i);
		snprintf(id, sizeof(id), "evt_M%zu", i);
		add_message(f->path, msg, T0);
		add_event(f->path, id, msg, rows[i].state, "alert", T0);
		calls = 0;
		st = admin_retry(f->a, id, now, count_cb, &calls);
		if (st != rows[i].st)
			fail_msg("%s: got %d, want %d (%s)", rows[i].state, st,
			    rows[i].st, admin_errmsg(f->a));
		if (st == ADMIN_OK) {
			snprintf(want, sizeof(want), "retry|%lld||",
			    (long long)now);
			assert_int_equal(calls, 1);
		} else {
			snprintf(want, sizeof(want), "%s|%lld||", rows[i].state,
			    (long long)T0);
			assert_int_equal(calls, 0);
			assert_non_null(
			    strstr(admin_errmsg(f->a), rows[i].state));
		}
		assert_string_equal(value(f->path,
					"SELECT state || '|' || next_attempt_at"
					" || '|' || ifnull(lease_until, '') ||"
					" '|' || ifnull(dead_reason, '')"
					" FROM events WHERE id = '%s'",
					id),
		    want);
	}
	assert_int_equal(admin_retry(f->a, "evt_NOPE", now, NULL, NULL),
	    ADMIN_NOT_FOUND);
	assert_int_equal(admin_retry(f->a, "NOPE", now, NULL, NULL),
	    ADMIN_NOT_FOUND);
}

static void
test_retry_message_and_dead(void **state)
{
	struct fixture *f = *state;
	size_t calls = 0, n = 0;

	add_message(f->path, "M1", T0);
	add_event(f->path, "evt_M1", "M1", "dead", "alert", T0);
	add_event(f->path, "evt_M1.2", "M1", "done", "deploy", T0);
	add_message(f->path, "M2", T0);
	add_event(f->path, "evt_M2", "M2", "dead", "alert", T0);
	add_message(f->path, "M3", T0);
	add_event(f->path, "evt_M3", "M3", "done", "alert", T0);
	add_attempt(f->path, "evt_M1", 1, T0, "fail", 404);

	/* A message id retries its dead events, leaves the done one. */
	assert_int_equal(admin_retry(f->a, "M1", T0 + 5, count_cb, &calls),
	    ADMIN_OK);
	assert_int_equal(calls, 1);
	assert_string_equal(value(f->path,
				"SELECT group_concat(state, ',') FROM"
				" (SELECT state FROM events WHERE message_id"
				" = 'M1' ORDER BY id)"),
	    "retry,done");
	/* The attempts stay: they are the history. */
	assert_string_equal(value(f->path, "SELECT count(*) FROM attempts"),
	    "1");
	/* Nothing retryable in M3: refused, naming the state. */
	assert_int_equal(admin_retry(f->a, "M3", T0, NULL, NULL),
	    ADMIN_REFUSED);
	assert_non_null(strstr(admin_errmsg(f->a), "M3 is done"));

	assert_int_equal(admin_retry_dead(f->a, T0 + 9, count_cb, &calls, &n),
	    ADMIN_OK);
	assert_int_equal(n, 1);
	assert_string_equal(value(f->path,
				"SELECT state || next_attempt_at FROM events"
				" WHERE id = 'evt_M2'"),
	    "retry1764331200009");
	assert_int_equal(admin_retry_dead(f->a, T0, NULL, NULL, &n), ADMIN_OK);
	assert_int_equal(n, 0);
}

/* ---- purge ---- */

static void
test_purge(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		const char *s1, *s2; /* states of its events; NULL: none */
		int64_t at;
		int64_t attempt_at; /* 0: no attempt */
		bool gone;
	} rows[] = {
		{ "done, old", "done", NULL, T0 - 9 * DAY, T0 - 9 * DAY, true },
		{ "dead, old", "dead", NULL, T0 - 8 * DAY, T0 - 8 * DAY, true },
		{ "ignored, old", "ignored", NULL, T0 - 8 * DAY, 0, true },
		{ "duplicate and done, old", "duplicate", "done", T0 - 8 * DAY,
		    0, true },
		{ "done, new", "done", NULL, T0 - DAY, 0, false },
		{ "old, one event still retrying", "done", "retry",
		    T0 - 9 * DAY, 0, false },
		{ "old, queued", "queued", NULL, T0 - 9 * DAY, 0, false },
		{ "old, running", "running", NULL, T0 - 9 * DAY, 0, false },
		{ "old, but retried by hand lately", "done", NULL, T0 - 9 * DAY,
		    T0 - DAY, false },
	};
	struct admin_purge_stats st = { 0 };
	char msg[16], evt[32];
	size_t i;
	bool more;

	for (i = 0; i < NELEM(rows); i++) {
		snprintf(msg, sizeof(msg), "M%zu", i);
		snprintf(evt, sizeof(evt), "evt_M%zu", i);
		add_message(f->path, msg, rows[i].at);
		add_event(f->path, evt, msg, rows[i].s1, "alert", rows[i].at);
		if (rows[i].attempt_at != 0)
			add_attempt(f->path, evt, 1, rows[i].attempt_at, "ok",
			    200);
		snprintf(evt + strlen(evt), sizeof(evt) - strlen(evt), ".2");
		if (rows[i].s2 != NULL)
			add_event(f->path, evt, msg, rows[i].s2, "alert",
			    rows[i].at);
	}
	/* Batches of 2: the third call finds nothing left. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(admin_purge_batch(f->a, T0 - 7 * DAY, 2, NULL,
				     NULL, &st, &more),
		    ADMIN_OK);
		assert_int_equal(more, i < 2);
	}
	for (i = 0; i < NELEM(rows); i++) {
		bool gone = strcmp(value(f->path,
				       "SELECT count(*) FROM messages"
				       " WHERE id = 'M%zu'",
				       i),
				"0") == 0;

		if (gone != rows[i].gone)
			fail_msg("%s: deleted got %d want %d", rows[i].name,
			    gone, rows[i].gone);
	}
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.events, 5);
	assert_int_equal(st.attempts, 2);
	/* No orphans: attempts and events of the deleted went with them. */
	assert_string_equal(value(f->path,
				"SELECT count(*) FROM events WHERE message_id"
				" NOT IN (SELECT id FROM messages)"),
	    "0");
	assert_string_equal(value(f->path,
				"SELECT count(*) FROM attempts WHERE event_id"
				" NOT IN (SELECT id FROM events)"),
	    "0");
}

static void
add_rejections(const char *path, int n, long long first, long long step)
{
	sql(path,
	    "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k"
	    " WHERE i + 1 < %d) INSERT INTO rejections SELECT %lld + i * %lld,"
	    " '127.0.0.1', 'h', 'a@b', 'x@y', 550, '550 no' FROM k",
	    n, first, step);
}

static void
test_trim_rejections(void **state)
{
	struct fixture *f = *state;
	struct admin_purge_stats st = { 0 };
	bool more;

	/* 10 rows, one day apart: T0-9d ... T0. */
	add_rejections(f->path, 10, T0 - 9 * DAY, DAY);
	/* Age: rows older than T0-7d are the first two. */
	assert_int_equal(admin_trim_rejections(f->a, T0 - 7 * DAY, 0, 500, &st,
			     &more),
	    ADMIN_OK);
	assert_int_equal(st.rejections, 2);
	assert_false(more);
	/* Cap 5 in batches of 2: the oldest go first. */
	assert_int_equal(admin_trim_rejections(f->a, INT64_MIN, 5, 2, &st,
			     &more),
	    ADMIN_OK);
	assert_true(more);
	assert_int_equal(admin_trim_rejections(f->a, INT64_MIN, 5, 2, &st,
			     &more),
	    ADMIN_OK);
	assert_int_equal(st.rejections, 5);
	assert_string_equal(value(f->path,
				"SELECT count(*) || ',' || min(at) FROM"
				" rejections"),
	    "5,1763985600000"); /* T0 - 4d */
}

/* ---- retention ---- */

static bool
stop_cb(void *arg)
{
	(*(int *)arg)++;
	return false;
}

static void
purged_cb(void *arg, const char *msg_id, int64_t received_at_ms, size_t events)
{
	assert_int_equal(received_at_ms, T0 - 8 * DAY);
	assert_int_equal(events, 1);
	(*(size_t *)arg)++;
}

static void
test_retention_pass(void **state)
{
	struct fixture *f = *state;
	struct queue_retention p;
	struct admin_purge_stats st = { 0 };
	int calls = 0;
	size_t purged = 0;
	struct retention_hooks stop = { stop_cb, NULL, &calls };
	struct retention_hooks count = { NULL, purged_cb, &purged };

	config_default_queue_retention(&p);
	assert_int_equal(p.retention_ms, 7 * DAY);
	assert_int_equal(p.rejection_retention_ms, 7 * DAY);
	assert_int_equal(p.rejections_max, 100000);
	/* One statement each: a connection per row would take seconds. */
	sql(f->path,
	    "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k"
	    " WHERE i + 1 < %d) INSERT INTO messages (id, received_at, data)"
	    " SELECT 'M' || i, %lld, x'00' FROM k",
	    ADMIN_PURGE_BATCH + 1, (long long)(T0 - 8 * DAY));
	sql(f->path,
	    "INSERT INTO events (id, message_id, trigger, state, created_at)"
	    " SELECT 'evt_' || id, id, 'alert', 'done', received_at"
	    " FROM messages");
	add_rejections(f->path, 3, T0 - 8 * DAY, DAY);

	/* 0 = keep forever: nothing goes. */
	p.retention_ms = p.rejection_retention_ms = 0;
	p.rejections_max = 0;
	assert_int_equal(retention_pass(f->a, &p, T0, NULL, &st), ADMIN_OK);
	assert_int_equal(st.messages + st.rejections, 0);

	/* A full batch, then the pause callback says stop. */
	config_default_queue_retention(&p);
	assert_int_equal(retention_pass(f->a, &p, T0, &stop, &st), ADMIN_OK);
	assert_int_equal(calls, 1);
	assert_int_equal(st.messages, ADMIN_PURGE_BATCH);
	/* The next pass finishes: one message, and the one old rejection. */
	assert_int_equal(retention_pass(f->a, &p, T0, &count, &st), ADMIN_OK);
	assert_int_equal(purged, 1);
	assert_int_equal(st.messages, ADMIN_PURGE_BATCH + 1);
	assert_int_equal(st.rejections, 1);
	/* The cap alone. */
	p.rejection_retention_ms = 0;
	p.rejections_max = 1;
	assert_int_equal(retention_pass(f->a, &p, T0, NULL, &st), ADMIN_OK);
	assert_int_equal(st.rejections, 2);
}

static void
test_state_names(void **state)
{
	static const struct {
		const char *s;
		bool valid, final;
	} rows[] = {
		{ "queued", true, false },
		{ "running", true, false },
		{ "retry", true, false },
		{ "done", true, true },
		{ "dead", true, true },
		{ "ignored", true, true },
		{ "duplicate", true, true },
		{ "Dead", false, false },
		{ "", false, false },
	};
	size_t i;

	for (i = 0; i < NELEM(rows); i++)
		if (admin_state_valid(rows[i].s) != rows[i].valid ||
		    admin_state_final(rows[i].s) != rows[i].final)
			fail_msg("'%s': got valid %d final %d", rows[i].s,
			    admin_state_valid(rows[i].s),
			    admin_state_final(rows[i].s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test_setup_teardown(test_open_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_states, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_message_and_dead,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_rejections, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retention_pass, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
