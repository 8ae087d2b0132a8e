/*
 * test_queue_rejections - refused RCPTs through the queue's writer
 * (queue_record_rejection(), docs/queue.md "Trace").
 *
 * Each test works in its own mkdtemp() directory and reads the rejections
 * table back through a separate sqlite3 connection. Completion of a
 * message is awaited with poll() on the notify fd; the one test of the
 * delay waits on the queue's counters, with a deadline.
 */
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "queue/queue.h"
#include "queue/queue_stats.h"
#include "queue_fixture.h"
#include "util/xmalloc.h"

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A refusal of rcpt at at_ms, as conn.c records one. */
static bool
record(struct queue *q, int64_t at_ms, const char *rcpt, int code,
    const char *reply)
{
	struct queue_rejection r = { at_ms, "192.0.2.7", "mx.customer.example",
		"nagios@customer.example", rcpt, code, reply };

	return queue_record_rejection(q, &r);
}

/* The rows as "at|ip|helo|from|rcpt|code|reply\n", oldest first. */
static char *
dump(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *out = xstrdup(""), line[1024];
	size_t len = 0, n;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail_msg("open %s: %s", path, sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db,
		"SELECT at, client_ip, helo, mail_from, rcpt, code, reply"
		" FROM rejections ORDER BY rowid",
		-1, &st, NULL) != SQLITE_OK)
		fail_msg("select: %s", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		n = (size_t)snprintf(line, sizeof(line),
		    "%lld|%s|%s|%s|%s|%d|%s\n",
		    (long long)sqlite3_column_int64(st, 0),
		    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		    sqlite3_column_text(st, 3), sqlite3_column_text(st, 4),
		    sqlite3_column_int(st, 5), sqlite3_column_text(st, 6));
		out = xrealloc(out, len + n + 1);
		memcpy(out + len, line, n + 1);
		len += n;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static void
expect_rows(const char *name, const char *path, const char *want)
{
	char *got = dump(path);

	if (strcmp(got, want) != 0)
		fail_msg("%s: rows\ngot:\n%swant:\n%s", name, got, want);
	free(got);
}

/* A one-event message, enough for the writer to commit. */
static struct queue_message *
one_message(void)
{
	struct queue_message *m = xcalloc(1, sizeof(*m));
	struct queue_event *e;

	id_format(m->id, (uint64_t)now_ms(), 42);
	m->received_at_ms = now_ms();
	m->mail_from = xstrdup("nagios@customer.example");
	m->client_ip = xstrdup("192.0.2.7");
	m->helo = xstrdup("mx.customer.example");
	m->data = xstrdup("Subject: x\r\n\r\nbody\r\n");
	m->len = strlen(m->data);
	m->events = e = xcalloc(1, sizeof(*e));
	m->n_events = 1;
	snprintf(e->id, sizeof(e->id), "evt_%s", m->id);
	e->instance = xstrdup("acme.triggers.example.com");
	e->trigger = xstrdup("db-outage");
	e->tag = xstrdup("");
	e->recipients = xcalloc(1, sizeof(char *));
	e->rcpt_to = xcalloc(2, sizeof(char *));
	e->rcpt_to[0] = xstrdup("db-outage@acme.triggers.example.com");
	e->n_rcpt_to = 1;
	return m;
}

static void
commit_cb(void *arg, enum queue_status st)
{
	*(int *)arg = st == QUEUE_OK ? 1 : 2;
}

/* Submits one message and dispatches until its callback ran. */
static void
submit_and_wait(struct queue *q)
{
	struct pollfd p = { .fd = queue_notify_fd(q), .events = POLLIN };
	int done = 0;

	queue_submit(q, one_message(), commit_cb, &done);
	queue_pause_writer(q, false);
	while (done == 0) {
		if (poll(&p, 1, WAIT_MS) == 0)
			fail_msg("no commit within %d ms", WAIT_MS);
		queue_dispatch(q);
	}
	assert_int_equal(done, 1);
}

/* Rows waiting when a message commits go into that same transaction. */
static void
test_rides_with_message(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	int64_t t = now_ms();
	struct queue_stats s;
	char want[1024];

	queue_pause_writer(q, true);
	assert_true(record(q, t, "flow1@lb-7.mx.example.net", 550,
	    "550 5.1.2 <flow1@lb-7.mx.example.net>: own name"));
	assert_true(record(q, t + 1, "x@elsewhere.example", 554,
	    "554 5.7.1 <x@elsewhere.example>: Relay access denied"));
	submit_and_wait(q);
	queue_stats(q, &s);
	if (s.commits != 1 || s.messages != 1 || s.rejections != 2)
		fail_msg("got commits %llu messages %llu rejections %llu; "
			 "want 1 1 2",
		    (unsigned long long)s.commits,
		    (unsigned long long)s.messages,
		    (unsigned long long)s.rejections);
	snprintf(want, sizeof(want),
	    "%lld|192.0.2.7|mx.customer.example|nagios@customer.example|"
	    "flow1@lb-7.mx.example.net|550|550 5.1.2 "
	    "<flow1@lb-7.mx.example.net>: own name\n"
	    "%lld|192.0.2.7|mx.customer.example|nagios@customer.example|"
	    "x@elsewhere.example|554|554 5.7.1 <x@elsewhere.example>: "
	    "Relay access denied\n",
	    (long long)t, (long long)t + 1);
	expect_rows("rides with message", f->path, want);
	queue_close(q);
}

/* queue_close() commits the backlog without waiting for the delay. */
static void
test_close_commits_backlog(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct queue_rejection nulls = { now_ms(), NULL, NULL, NULL, NULL, 452,
		NULL };
	int64_t t = now_ms();
	char want[512];

	assert_true(record(q, t, "a@b.example", 452, "452 4.5.3 too many"));
	assert_true(queue_record_rejection(q, &nulls));
	queue_close(q);
	snprintf(want, sizeof(want),
	    "%lld|192.0.2.7|mx.customer.example|nagios@customer.example|"
	    "a@b.example|452|452 4.5.3 too many\n"
	    "%lld|||||452|\n",
	    (long long)t, (long long)nulls.at_ms);
	expect_rows("close commits backlog", f->path, want);
}

/*
 * With no message to ride with, rows are committed on their own after
 * the delay (a second). Waits on the counters, with a deadline.
 */
static void
test_alone_after_delay(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	struct queue_stats s;
	int waited = 0;

	assert_true(record(q, now_ms(), "a@b.example", 550, "550 5.1.2 x"));
	for (;;) {
		queue_stats(q, &s);
		if (s.rejections == 1)
			break;
		if (waited >= WAIT_MS)
			fail_msg("row not committed within %d ms", WAIT_MS);
		nanosleep(&tick, NULL);
		waited += 10;
	}
	assert_int_equal(s.commits, 1);
	assert_int_equal(s.messages, 0);
	queue_close(q);
}

/* Past the backlog cap rows are dropped and counted, never blocking. */
static void
test_backlog_cap(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct queue_stats s;
	size_t i, kept = 0, extra = 5;
	long long rows;
	sqlite3 *db;
	sqlite3_stmt *st;

	queue_pause_writer(q, true);
	for (i = 0; i < QUEUE_REJECTIONS_BACKLOG + extra; i++)
		kept += record(q, now_ms(), "a@b.example", 550, "550 x");
	queue_stats(q, &s);
	if (kept != QUEUE_REJECTIONS_BACKLOG || s.rejections_dropped != extra)
		fail_msg("got kept %zu dropped %llu; want %d %zu", kept,
		    (unsigned long long)s.rejections_dropped,
		    QUEUE_REJECTIONS_BACKLOG, extra);
	queue_close(q);
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY,
			     NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
			     "SELECT count(*) FROM rejections", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	rows = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(rows, QUEUE_REJECTIONS_BACKLOG);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rides_with_message),
		T(test_close_commits_backlog),
		T(test_alone_after_delay),
		T(test_backlog_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
