/*
 * test_queue - the durable queue against real SQLite files.
 *
 * Every test works in its own mkdtemp() directory and reads what the queue
 * stored back through a separate sqlite3 connection, as an operator would.
 * The disk-full and read-only tests mount a tmpfs and need root (CI runs as
 * root); when the mount fails they fail, they are not skipped. No sleeps:
 * completion is awaited with poll() on the notify fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "queue/checkpoint.h"
#include "queue/queue.h"
#include "queue/queue_stats.h"
#include "queue/segment.h"
#include "queue_fixture.h"
#include "util/xmalloc.h"

/* One expected column of a row: text (or blob) or an integer or NULL. */
struct col {
	const char *name;
	int type; /* SQLITE_TEXT, SQLITE_BLOB, SQLITE_INTEGER, SQLITE_NULL */
	const char *bytes;
	size_t len;
	long long i;
};

static void
check_col(sqlite3_stmt *st, int i, const struct col *c, const char *row)
{
	int type = sqlite3_column_type(st, i);
	const void *p;
	size_t len;

	if (type != c->type)
		fail_msg("%s.%s: type got %d want %d", row, c->name, type,
		    c->type);
	if (type == SQLITE_INTEGER && sqlite3_column_int64(st, i) != c->i)
		fail_msg("%s.%s: got %lld want %lld", row, c->name,
		    (long long)sqlite3_column_int64(st, i), c->i);
	if (type != SQLITE_TEXT && type != SQLITE_BLOB)
		return;
	p = type == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, i) :
				  sqlite3_column_blob(st, i);
	len = (size_t)sqlite3_column_bytes(st, i);
	if (len != c->len || (len > 0 && memcmp(p, c->bytes, len) != 0))
		fail_msg("%s.%s: got %zu bytes \"%.*s\" want %zu bytes "
			 "\"%.*s\"",
		    row, c->name, len, (int)len, (const char *)p, c->len,
		    (int)c->len, c->bytes);
}

/* Selects the named columns of the row with this id and checks each. */
static void
check_row(const char *path, const char *table, const char *id,
    const struct col *cols, size_t n)
{
	char sql[512], row[128];
	size_t i, off;
	sqlite3 *db = reader(path);
	sqlite3_stmt *st = NULL;

	off = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s%s",
		    i > 0 ? ", " : "", cols[i].name);
	snprintf(sql + off, sizeof(sql) - off, " FROM %s WHERE id = ?", table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	snprintf(row, sizeof(row), "%s[%s]", table, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no such row", row);
	for (i = 0; i < n; i++)
		check_col(st, (int)i, &cols[i], row);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

#define TEXT(n, s)                                  \
	{                                           \
		n, SQLITE_TEXT, s, sizeof(s) - 1, 0 \
	}
#define INT(n, v)                             \
	{                                     \
		n, SQLITE_INTEGER, NULL, 0, v \
	}
#define NUL(n)                             \
	{                                  \
		n, SQLITE_NULL, NULL, 0, 0 \
	}

/* ---- tests ---- */

/* The data: every byte value, NUL and 8-bit included, then CRLF text. */
static void
fill_all_bytes(struct queue_message *m)
{
	static const char tail[] = "\r\nSubject: caf\xc3\xa9\r\n\r\n.\r\n";
	size_t i;

	free(m->data);
	m->len = 256 + sizeof(tail) - 1;
	m->data = xmalloc(m->len);
	for (i = 0; i < 256; i++)
		m->data[i] = (char)i;
	memcpy(m->data + 256, tail, sizeof(tail) - 1);
}

/* Turns event 2 into a tagged, UTF-8, recipient-less trigger-form event. */
static void
set_second_event(struct queue_event *e)
{
	size_t i;

	free(e->tag);
	e->tag = xstrdup("p1");
	for (i = 0; i < e->n_recipients; i++)
		free(e->recipients[i]);
	free(e->recipients);
	e->recipients = NULL;
	e->n_recipients = 0;
	for (i = 0; i < e->n_rcpt_to; i++)
		free(e->rcpt_to[i]);
	free(e->rcpt_to);
	e->rcpt_to = strv(2, "disk-full+p1@acme.triggers.example.com",
	    "j\xc3\xb6ran@acme.triggers.example.com");
	e->n_rcpt_to = 2;
}

/*
 * Reads back every column of the message and events test_store_exact
 * stored and compares each with what was submitted.
 */
static void
check_exact_rows(const char *path, const char *id, const char *e1,
    const char *e2, const char *data, size_t len)
{
	const int64_t at = T0_MS + (int64_t)id_seq;
	const struct col msg_cols[] = {
		INT("received_at", at),
		TEXT("mail_from", ""),
		TEXT("client_ip", "127.0.0.1"),
		TEXT("helo", "mon.acme.com"),
		INT("tls", 1),
		INT("smtputf8", 0),
		INT("size", (long long)len),
		{ "data", SQLITE_BLOB, data, len, 0 },
	};
	const struct col ev1_cols[] = {
		{ "message_id", SQLITE_TEXT, id, ID_LEN, 0 },
		TEXT("instance", "acme.triggers.example.com"),
		TEXT("trigger", "db-outage"),
		TEXT("tag", ""),
		TEXT("recipients", "[\"oncall-dba\"]"),
		TEXT("rcpt_to",
		    "[\"oncall-dba@db-outage.acme.triggers.example.com\"]"),
		TEXT("state", "queued"),
		INT("attempts", 0),
		INT("next_attempt_at", at),
		NUL("lease_until"),
		INT("created_at", at),
	};
	const struct col ev2_cols[] = {
		{ "message_id", SQLITE_TEXT, id, ID_LEN, 0 },
		TEXT("trigger", "disk-full"),
		TEXT("tag", "p1"),
		TEXT("recipients", "[]"),
		TEXT("rcpt_to",
		    "[\"disk-full+p1@acme.triggers.example.com\","
		    "\"j\xc3\xb6ran@acme.triggers.example.com\"]"),
		TEXT("state", "queued"),
	};

	check_row(path, "messages", id, msg_cols, NELEM(msg_cols));
	check_row(path, "events", e1, ev1_cols, NELEM(ev1_cols));
	check_row(path, "events", e2, ev2_cols, NELEM(ev2_cols));
}

/* A message with 2 events is stored exactly, data byte for byte. */
static void
test_store_exact(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct queue_message *m = make_message(2, 0);
	struct tally t = { 0 };
	struct job_rec r;
	char id[ID_LEN + 1], e1[ID_LEN + 8], e2[ID_LEN + 8];
	static char data[512];
	size_t len;

	fill_all_bytes(m);
	set_second_event(&m->events[1]);
	free(m->mail_from);
	m->mail_from = xstrdup(""); /* the null sender, MAIL FROM:<> */
	m->tls = true;
	memcpy(id, m->id, sizeof(id));
	memcpy(e1, m->events[0].id, sizeof(e1));
	memcpy(e2, m->events[1].id, sizeof(e2));
	assert_true(m->len <= sizeof(data));
	memcpy(data, m->data, m->len);
	len = m->len;
	submit(q, m, &r, &t);
	wait_idle(q);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.st, QUEUE_OK);
	check_exact_rows(f->path, id, e1, e2, data, len);
	assert_string_equal(e2 + 4 + ID_LEN, ".2");
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(count(f->path, "SELECT count(*) FROM events"), 2);
	queue_close(q);
}

static void
test_schema_and_pragmas(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct stat st;
	static const struct {
		const char *name;
		const char *sql;
		long long want;
	} rows[] = {
		{ "wal mode",
		    "SELECT journal_mode = 'wal' FROM"
		    " pragma_journal_mode",
		    1 },
		{ "user_version", "PRAGMA user_version", QUEUE_SCHEMA_VERSION },
		{ "index on state, next_attempt_at",
		    "SELECT count(*) FROM"
		    " pragma_index_info('events_state_next')",
		    2 },
		{ "index on message_id",
		    "SELECT count(*) FROM"
		    " pragma_index_info('events_message')",
		    1 },
		{ "foreign key",
		    "SELECT count(*) FROM"
		    " pragma_foreign_key_list('events')",
		    1 },
	};
	size_t i;
	long long got;

	for (i = 0; i < NELEM(rows); i++) {
		got = count(f->path, rows[i].sql);
		if (got != rows[i].want)
			fail_msg("%s: got %lld want %lld", rows[i].name, got,
			    rows[i].want);
	}
	assert_int_equal(stat(f->path, &st), 0);
	if ((st.st_mode & 0777) != 0600)
		fail_msg("db mode: got %o want 600", st.st_mode & 0777);
	queue_close(q);
}

/* Opens a database with user_version 99, as a newer mailtrigger leaves it. */
static void
make_newer_db(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
			     NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_open_errors(void **state)
{
	struct fixture *f = *state;
	char p[5][256], err[512];
	struct queue *q;
	size_t i;

	snprintf(p[0], sizeof(p[0]), "%s/file", f->dir);
	write_file(p[0], "x");
	snprintf(p[0], sizeof(p[0]), "%s/file/queue.db", f->dir);
	snprintf(p[1], sizeof(p[1]), "%s/garbage.db", f->dir);
	write_file(p[1],
	    "this is not a database, it is a text file that is "
	    "long enough to hold a SQLite header and then some more text.\n");
	snprintf(p[2], sizeof(p[2]), "%s/newer.db", f->dir);
	make_newer_db(p[2]);
	/* A read-only filesystem: a new file, and an existing queue. */
	mount_tmpfs(f, "ro", "4m"); /* schema: ~15 pages of 64 KB, plus WAL */
	snprintf(p[3], sizeof(p[3]), "%s/new.db", f->mnt);
	snprintf(p[4], sizeof(p[4]), "%s/old.db", f->mnt);
	queue_close(open_ok(p[4]));
	assert_int_equal(mount("tmpfs", f->mnt, "tmpfs", MS_REMOUNT | MS_RDONLY,
			     NULL),
	    0);

	const struct {
		const char *name;
		const char *path;
		const char *want;
	} rows[] = {
		{ "parent is a file", p[0], "Not a directory" },
		{ "not a SQLite file", p[1], "not a SQLite database" },
		{ "newer schema", p[2],
		    "schema version 99 is newer than this "
		    "mailtrigger supports (5)" },
		{ "read-only fs, new file", p[3], "Read-only file system" },
		{ "read-only fs, existing queue", p[4], "not writable" },
	};

	for (i = 0; i < NELEM(rows); i++) {
		err[0] = '\0';
		q = queue_open(rows[i].path, err, sizeof(err));
		if (q != NULL) {
			queue_close(q);
			fail_msg("%s: queue_open succeeded, want error \"%s\"",
			    rows[i].name, rows[i].want);
		}
		if (strstr(err, rows[i].want) == NULL)
			fail_msg("%s: got \"%s\" want \"%s\"", rows[i].name,
			    err, rows[i].want);
	}
}

/*
 * Submits n messages while the writer is paused, then lets it run and
 * dispatches. Returns how many transactions stored them; checks that every
 * callback ran once with QUEUE_OK.
 */
static uint64_t
submit_paused(struct queue *q, size_t n, const char *name)
{
	struct job_rec *recs = xcalloc(n, sizeof(*recs));
	struct queue_stats before, after;
	struct tally t = { 0 };
	size_t j;

	queue_stats(q, &before);
	queue_pause_writer(q, true);
	for (j = 0; j < n; j++)
		submit(q, make_message(1, 2048), &recs[j], &t);
	assert_int_equal(queue_pending(q), n);
	queue_pause_writer(q, false);
	wait_idle(q);
	queue_stats(q, &after);
	for (j = 0; j < n; j++)
		if (recs[j].calls != 1 || recs[j].st != QUEUE_OK)
			fail_msg("%s: job %zu: got %zu calls status %d, want 1 "
				 "call status 0",
			    name, j, recs[j].calls, recs[j].st);
	free(recs);
	return after.commits - before.commits;
}

/*
 * Group commit: every job that is pending when the writer looks is stored
 * in one transaction, up to 256 jobs a transaction. The writer is paused
 * while the test submits so the batch sizes do not depend on scheduling.
 */
static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		size_t n;
		uint64_t want_commits;
	} rows[] = {
		{ "200 pending, one transaction", 200, 1 },
		{ "300 pending, job cap 256", 300, 2 },
		{ "1 pending", 1, 1 },
	};
	struct queue *q = open_ok(f->path);
	struct queue_stats s;
	uint64_t commits;
	long long stored;
	size_t i, total = 0;

	for (i = 0; i < NELEM(rows); i++) {
		commits = submit_paused(q, rows[i].n, rows[i].name);
		total += rows[i].n;
		stored = count(f->path, "SELECT count(*) FROM messages");
		if (commits != rows[i].want_commits ||
		    stored != (long long)total)
			fail_msg("%s: got %llu commits, %lld rows; want %llu, "
				 "%zu",
			    rows[i].name, (unsigned long long)commits, stored,
			    (unsigned long long)rows[i].want_commits, total);
	}
	queue_stats(q, &s);
	assert_int_equal(s.messages, total);
	queue_close(q);
}

/* A job the database refuses fails alone; its batch mates are stored. */
static void
test_bad_message_fails_alone(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct queue_message *m[3];
	struct job_rec r[3];
	struct tally t = { 0 };
	struct queue_stats s;
	size_t i;

	for (i = 0; i < 3; i++)
		m[i] = make_message(1, 100);
	/* Not UTF-8: JSON cannot hold it, so the message cannot be stored. */
	free(m[1]->events[0].rcpt_to[0]);
	m[1]->events[0].rcpt_to[0] = xstrdup("bad\xff@acme.example");
	queue_pause_writer(q, true);
	for (i = 0; i < 3; i++)
		submit(q, m[i], &r[i], &t);
	queue_pause_writer(q, false);
	wait_idle(q);
	queue_stats(q, &s);
	assert_int_equal(r[0].st, QUEUE_OK);
	assert_int_equal(r[1].st, QUEUE_ERR_IO);
	assert_int_equal(r[2].st, QUEUE_OK);
	assert_int_equal(s.failed_jobs, 1);
	assert_int_equal(s.messages, 2);
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), 2);
	assert_no_partial_rows(f->path);
	queue_close(q);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct pollfd p = { .fd = queue_notify_fd(q), .events = POLLIN };
	struct queue_job *job;
	struct job_rec r[4];
	struct tally t = { 0 };

	memset(r, 0, sizeof(r));
	/* Cancelled while pending: batch mates still get their callbacks. */
	queue_pause_writer(q, true);
	submit(q, make_message(1, 10), &r[0], &t);
	job = submit(q, make_message(1, 10), &r[1], &t);
	submit(q, make_message(1, 10), &r[2], &t);
	queue_job_cancel(job);
	queue_pause_writer(q, false);
	wait_idle(q);
	/* Cancelled when done, before dispatch. */
	job = submit(q, make_message(1, 10), &r[3], &t);
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	queue_job_cancel(job);
	wait_idle(q);
	assert_int_equal(r[0].calls, 1);
	assert_int_equal(r[1].calls, 0);
	assert_int_equal(r[2].calls, 1);
	assert_int_equal(r[3].calls, 0);
	assert_int_equal(t.calls, 2);
	/* A cancelled job's message is still stored: only the reply is lost. */
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), 4);
	queue_close(q);
}

struct closing_ctx {
	struct queue *q;
	struct job_rec first;
	struct job_rec late;
	struct tally t;
};

/* The first callback submits again while the queue is closing. */
static void
submit_while_closing_cb(void *arg, enum queue_status st)
{
	struct closing_ctx *c = arg;

	c->first.calls++;
	c->first.st = st;
	submit(c->q, make_message(1, 10), &c->late, &c->t);
}

static void
test_close_commits_pending(void **state)
{
	struct fixture *f = *state;
	struct closing_ctx c;
	struct job_rec r[50];
	size_t i;

	memset(&c, 0, sizeof(c));
	memset(r, 0, sizeof(r));
	c.q = open_ok(f->path);
	queue_pause_writer(c.q, true);
	queue_submit(c.q, make_message(1, 10), submit_while_closing_cb, &c);
	for (i = 0; i < NELEM(r); i++)
		submit(c.q, make_message(2, 1000), &r[i], &c.t);
	queue_close(c.q); /* overrides the pause */
	assert_int_equal(c.first.calls, 1);
	assert_int_equal(c.first.st, QUEUE_OK);
	for (i = 0; i < NELEM(r); i++)
		if (r[i].calls != 1 || r[i].st != QUEUE_OK)
			fail_msg("job %zu: got %zu calls status %d, want 1 "
				 "call status 0",
			    i, r[i].calls, r[i].st);
	assert_int_equal(c.late.calls, 1);
	assert_int_equal(c.late.st, QUEUE_ERR_CLOSED);
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), 51);
	assert_int_equal(count(f->path, "SELECT count(*) FROM events"), 101);
}

static void
test_reopen(void **state)
{
	struct fixture *f = *state;
	struct job_rec r[10];
	struct tally t = { 0 };
	struct queue *q = NULL;
	char sql[128];
	size_t i;

	for (i = 0; i < NELEM(r); i++) {
		if (i % 5 == 0)
			q = open_ok(f->path);
		submit(q, make_message(1, 100), &r[i], &t);
		if (i % 5 == 4) {
			wait_idle(q);
			queue_close(q);
		}
	}
	assert_int_equal(t.ok, NELEM(r));
	for (i = 0; i < NELEM(r); i++) {
		snprintf(sql, sizeof(sql),
		    "SELECT count(*) FROM messages m"
		    " JOIN events e ON e.message_id = m.id WHERE m.id = '%s'",
		    r[i].id);
		if (count(f->path, sql) != 1)
			fail_msg("message %s not found after reopen", r[i].id);
	}
}

/* Fills the disk, one batch of 4 messages at a time, until a job fails. */
static void
fill_until_failure(struct queue *q, struct tally *t)
{
	struct job_rec r[4];
	int round;
	size_t i;

	for (round = 0; round < 1000 && t->io == 0; round++) {
		queue_pause_writer(q, true);
		for (i = 0; i < NELEM(r); i++)
			submit(q, make_message(2, 8192), &r[i], t);
		queue_pause_writer(q, false);
		wait_idle(q);
	}
	if (t->io == 0)
		fail_msg("no commit failed after %d rounds on a 2m tmpfs",
		    round);
}

static void
test_disk_full(void **state)
{
	struct fixture *f = *state;
	char path[256], filler[256];
	struct tally t = { 0 };
	struct job_rec r;
	struct queue *q;
	long long ok;
	int fd;

	/* The filler leaves about 1.2 MB for the queue, its WAL and more. */
	mount_tmpfs(f, "full", "2m");
	snprintf(path, sizeof(path), "%s/queue.db", f->mnt);
	snprintf(filler, sizeof(filler), "%s/filler", f->mnt);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(posix_fallocate(fd, 0, 768 * 1024), 0);
	close(fd);
	q = open_ok(path);
	fill_until_failure(q, &t);
	assert_int_equal(t.calls, t.ok + t.io);
	ok = (long long)t.ok;
	if (count(path, "SELECT count(*) FROM messages") != ok ||
	    count(path, "SELECT count(*) FROM events") != 2 * ok)
		fail_msg("rows: got %lld messages, %lld events; want %lld, "
			 "%lld (the OK callbacks)",
		    count(path,
			"SELECT count(*) "
			"FROM messages"),
		    count(path,
			"SELECT count(*) FROM "
			"events"),
		    ok, 2 * ok);
	assert_no_partial_rows(path);
	/* Space comes back: the same open queue stores again. */
	assert_int_equal(unlink(filler), 0);
	submit(q, make_message(2, 8192), &r, &t);
	wait_idle(q);
	assert_int_equal(r.st, QUEUE_OK);
	assert_int_equal(count(path, "SELECT count(*) FROM messages"), ok + 1);
	assert_no_partial_rows(path);
	queue_close(q);
}

/*
 * The child opens the queue, stores n messages, reports the ids whose
 * callbacks said OK on fd, then waits to be killed. It never returns.
 */
static void
crash_child(const char *path, int fd, size_t n, size_t len)
{
	char err[512], line[ID_LEN + 2];
	struct queue *q = queue_open(path, err, sizeof(err));
	struct job_rec *r = xcalloc(n, sizeof(*r));
	struct tally t = { 0 };
	struct pollfd p;
	size_t i;

	if (q == NULL)
		_exit(2);
	for (i = 0; i < n; i++)
		submit(q, make_message(2, len), &r[i], &t);
	p.fd = queue_notify_fd(q);
	p.events = POLLIN;
	while (t.calls < n) {
		if (poll(&p, 1, WAIT_MS) == 0)
			_exit(3);
		queue_dispatch(q);
	}
	for (i = 0; i < n; i++) {
		if (r[i].st != QUEUE_OK)
			continue;
		snprintf(line, sizeof(line), "%s\n", r[i].id);
		if (write(fd, line, ID_LEN + 1) != ID_LEN + 1)
			_exit(4);
	}
	for (;;)
		pause();
}

/* Reads ID lines until n arrived; returns how many did. */
static size_t
read_ids(int fd, char (*ids)[ID_LEN + 2], size_t n)
{
	size_t got = 0, off = 0;
	ssize_t k;

	while (got < n) {
		k = read(fd, ids[got] + off, ID_LEN + 1 - off);
		if (k <= 0)
			break;
		off += (size_t)k;
		if (off == ID_LEN + 1) {
			ids[got][ID_LEN] = '\0';
			got++;
			off = 0;
		}
	}
	return got;
}

/* Messages whose body is len bytes of 'x', read as the readers do. */
static long long
count_x_bodies(const char *path, size_t len)
{
	sqlite3 *db = reader(path);
	sqlite3_stmt *st = NULL;
	long long n = -1;

	segment_register_sql(db);
	if (sqlite3_prepare_v2(db,
		"SELECT count(*) FROM (SELECT size,"
		" mt_body(data, seg, seg_off, size) AS b FROM messages)"
		" WHERE length(b) = ?1 AND size = ?1"
		" AND trim(CAST(b AS TEXT), 'x') = ''",
		-1, &st, NULL) != SQLITE_OK)
		fail_msg("count_x_bodies: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, (sqlite3_int64)len);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		fail_msg("count_x_bodies: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * A child stores N messages of len bytes and reports the ids whose
 * callbacks said OK; it is killed as by kill -9. After recovery every
 * reported message is there with its events and its exact body.
 */
#define CRASH_N 40 /* messages the child stores before it is killed */

static void
crash_and_recover(struct fixture *f, size_t len)
{
	enum { N = CRASH_N };
	char ids[N][ID_LEN + 2], wal[200], sql[128];
	struct stat st;
	int pfd[2], status;
	size_t i, got;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		crash_child(f->path, pfd[1], N, len);
	}
	close(pfd[1]);
	got = read_ids(pfd[0], ids, N);
	kill(pid, SIGKILL); /* as kill -9: no close, no checkpoint */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(pfd[0]);
	if (got != N)
		fail_msg("child reported %zu of %d ids (exit status %d)", got,
		    N, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The messages are in the WAL, not yet in the main file. */
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);
	queue_close(open_ok(f->path)); /* recovery on open */
	for (i = 0; i < N; i++) {
		snprintf(sql, sizeof(sql),
		    "SELECT count(*) FROM events"
		    " WHERE message_id = '%.*s'",
		    ID_LEN, ids[i]);
		if (count(f->path, sql) != 2)
			fail_msg("reported id %s: got %lld events want 2",
			    ids[i], count(f->path, sql));
	}
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), N);
	assert_int_equal(count_x_bodies(f->path, len), N);
}

static void
test_crash_recovery(void **state)
{
	crash_and_recover(*state, 4096);
}

/* The same with bodies in a segment (queue/segment.h). */
static void
test_crash_recovery_segment(void **state)
{
	crash_and_recover(*state, 4 * SEGMENT_INLINE_MAX);
	assert_int_equal(count(((struct fixture *)*state)->path,
			     "SELECT count(*) FROM messages"
			     " WHERE seg IS NOT NULL"),
	    CRASH_N);
}

/* The size of file path in bytes. */
static long long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/*
 * 10 MB of mail in bodies that stay in the database (the largest that
 * do: queue/segment.h), beyond CKPT_BYTES (8 MB) and far below
 * SQLite's own automatic checkpoint (1,000 pages, 64 MB): the pages reach
 * the database file, copied there by the checkpoint thread; the writer
 * never checkpointed (queue/checkpoint.h).
 */
static void
test_checkpoint_in_background(void **state)
{
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct job_rec r[10 * 1024 * 1024 / SEGMENT_INLINE_MAX];
	struct tally t = { 0 };
	long long before = file_size(f->path);
	int waited_ms = 0;
	size_t i;

	for (i = 0; i < NELEM(r); i++)
		submit(q, make_message(1, SEGMENT_INLINE_MAX), &r[i], &t);
	wait_idle(q);
	assert_int_equal(t.ok, NELEM(r));
	/* Polls the file; the loop ends as soon as the checkpoint has run. */
	while (file_size(f->path) < before + 8 * 1024 * 1024) {
		if ((waited_ms += 10) > WAIT_MS)
			fail_msg("database file %lld bytes after %d ms: no "
				 "checkpoint",
			    file_size(f->path), WAIT_MS);
		poll(NULL, 0, 10);
	}
	queue_close(q);
}

/*
 * 2.5 times CKPT_RESTART_BYTES through the WAL from a writer that never
 * runs dry: the RESTART checkpoint lets the WAL start over, and the next
 * reset cuts the file back to journal_size_limit (64 MB). With passive
 * checkpoints alone it never restarts under a steady writer and holds
 * all 160 MB.
 */
static void
test_checkpoint_restarts_wal(void **state)
{
	enum {
		N = (int)(CKPT_RESTART_BYTES * 5 / 2 / SEGMENT_INLINE_MAX),
		WINDOW = 512, /* in flight: the writer never runs dry */
	};
	struct fixture *f = *state;
	struct queue *q = open_ok(f->path);
	struct job_rec *r = xcalloc(N, sizeof(*r));
	struct pollfd p = { .fd = queue_notify_fd(q), .events = POLLIN };
	struct tally t = { 0 };
	char wal[200];
	size_t n = 0;

	while (n < N) {
		if (queue_pending(q) < WINDOW) {
			submit(q, make_message(1, SEGMENT_INLINE_MAX), &r[n++],
			    &t);
			continue;
		}
		if (poll(&p, 1, WAIT_MS) == 0)
			fail_msg("no commit within %d ms", WAIT_MS);
		queue_dispatch(q);
	}
	wait_idle(q);
	assert_int_equal(t.ok, N);
	free(r);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	if (file_size(wal) >= CKPT_RESTART_BYTES * 2)
		fail_msg("WAL %lld bytes after %d messages of %d bytes: it "
			 "never started over",
		    file_size(wal), N, SEGMENT_INLINE_MAX);
	queue_close(q);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_exact),
		T(test_schema_and_pragmas),
		T(test_open_errors),
		T(test_group_commit),
		T(test_bad_message_fails_alone),
		T(test_cancel),
		T(test_close_commits_pending),
		T(test_reopen),
		T(test_disk_full),
		T(test_crash_recovery),
		T(test_crash_recovery_segment),
		T(test_checkpoint_in_background),
		T(test_checkpoint_restarts_wal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
