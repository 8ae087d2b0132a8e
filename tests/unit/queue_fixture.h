/*
 * queue_fixture - what the tests of the queue's writer share
 * (test_queue.c, test_queue_segment.c): a mkdtemp() directory per test,
 * messages built in memory, submitting and awaiting them with poll() on
 * the notify fd (no sleeps), and reading the result back through a
 * separate sqlite3 connection, as an operator would.
 *
 * Header-only (static inline): each test executable includes it once.
 */
#ifndef MT_TESTS_QUEUE_FIXTURE_H
#define MT_TESTS_QUEUE_FIXTURE_H

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "queue/queue.h"
#include "util/id.h"
#include "util/xmalloc.h"

#define WAIT_MS 60000 /* only reached when a test is failing */
#define T0_MS INT64_C(1764331200123)

struct fixture {
	char dir[64];
	char path[160]; /* dir/spool/queue.db: the parent does not exist yet */
	char mnt[192];  /* a tmpfs mounted by the test, or "" */
};

/* What the callbacks of a test saw. */
struct tally {
	size_t calls;
	size_t ok;
	size_t io;
	size_t closed;
};

struct job_rec {
	struct tally *t;
	size_t calls;
	enum queue_status st;
	char id[ID_LEN + 1];
};

static uint64_t id_seq;

/* ---- fixture ---- */

static inline int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static inline int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/mt-test-queue-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/spool/queue.db", f->dir);
	*state = f;
	return 0;
}

static inline int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->mnt[0] != '\0' && umount2(f->mnt, MNT_DETACH) != 0)
		print_error("umount %s: %s\n", f->mnt, strerror(errno));
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/*
 * Mounts a tmpfs of size bytes at f->mnt, a directory it creates, which
 * teardown() unmounts; fails the test if it cannot.
 */
static inline void
mount_tmpfs_at_mnt(struct fixture *f, const char *size)
{
	char opts[64];

	assert_int_equal(mkdir(f->mnt, 0700), 0);
	snprintf(opts, sizeof(opts), "size=%s", size);
	if (mount("tmpfs", f->mnt, "tmpfs", 0, opts) != 0) {
		f->mnt[0] = '\0';
		fail_msg("mount -t tmpfs -o %s: %s: this test needs root "
			 "(CI runs as root)",
		    opts, strerror(errno));
	}
}

/* Mounts a tmpfs of size bytes at dir/name. */
static inline void
mount_tmpfs(struct fixture *f, const char *name, const char *size)
{
	snprintf(f->mnt, sizeof(f->mnt), "%s/%s", f->dir, name);
	mount_tmpfs_at_mnt(f, size);
}

/* ---- building messages ---- */

static inline char **
strv(size_t n, ...)
{
	char **v = xcalloc(n + 1, sizeof(*v));
	va_list ap;
	size_t i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		v[i] = xstrdup(va_arg(ap, const char *));
	va_end(ap);
	return v;
}

static inline void
set_event(struct queue_event *e, const char *msgid, size_t nth,
    const char *trigger)
{
	if (nth == 1)
		snprintf(e->id, sizeof(e->id), "evt_%s", msgid);
	else
		snprintf(e->id, sizeof(e->id), "evt_%s.%zu", msgid, nth);
	e->instance = xstrdup("acme.triggers.example.com");
	e->trigger = xstrdup(trigger);
	e->tag = xstrdup("");
	e->recipients = strv(1, "oncall-dba");
	e->n_recipients = 1;
	e->rcpt_to = strv(1, "oncall-dba@db-outage.acme.triggers.example.com");
	e->n_rcpt_to = 1;
}

/* A message with n_events events and len bytes of data. */
static inline struct queue_message *
make_message(size_t n_events, size_t len)
{
	struct queue_message *m = xcalloc(1, sizeof(*m));
	size_t i;

	id_seq++;
	id_format(m->id, (uint64_t)T0_MS + id_seq, id_seq);
	m->received_at_ms = T0_MS + (int64_t)id_seq;
	m->mail_from = xstrdup("nagios@acme.com");
	m->client_ip = xstrdup("127.0.0.1");
	m->helo = xstrdup("mon.acme.com");
	m->data = xmalloc(len + 1);
	memset(m->data, 'x', len);
	m->len = len;
	m->events = xcalloc(n_events, sizeof(*m->events));
	m->n_events = n_events;
	for (i = 0; i < n_events; i++)
		set_event(&m->events[i], m->id, i + 1,
		    i == 0 ? "db-outage" : "disk-full");
	return m;
}

/* ---- running the queue ---- */

static inline void
done_cb(void *arg, enum queue_status st)
{
	struct job_rec *r = arg;

	r->calls++;
	r->st = st;
	r->t->calls++;
	r->t->ok += st == QUEUE_OK;
	r->t->io += st == QUEUE_ERR_IO;
	r->t->closed += st == QUEUE_ERR_CLOSED;
}

static inline struct queue_job *
submit(struct queue *q, struct queue_message *m, struct job_rec *r,
    struct tally *t)
{
	memset(r, 0, sizeof(*r));
	r->t = t;
	memcpy(r->id, m->id, sizeof(r->id));
	return queue_submit(q, m, done_cb, r);
}

/* Polls the notify fd and dispatches until nothing is pending. */
static inline void
wait_idle(struct queue *q)
{
	struct pollfd p = { .fd = queue_notify_fd(q), .events = POLLIN };

	while (queue_pending(q) > 0) {
		if (poll(&p, 1, WAIT_MS) == 0)
			fail_msg("no completion within %d ms; %zu pending",
			    WAIT_MS, queue_pending(q));
		queue_dispatch(q);
	}
}

static inline struct queue *
open_ok(const char *path)
{
	char err[512];
	struct queue *q = queue_open(path, err, sizeof(err));

	if (q == NULL)
		fail_msg("queue_open(%s): %s", path, err);
	return q;
}

/* ---- reading back ---- */

static inline sqlite3 *
reader(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail_msg("open %s: %s", path, sqlite3_errmsg(db));
	return db;
}

static inline long long
count(const char *path, const char *sql)
{
	sqlite3 *db = reader(path);
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Every event has its message and every message at least one event. */
static inline void
assert_no_partial_rows(const char *path)
{
	long long orphan_events = count(path,
	    "SELECT count(*) FROM events"
	    " WHERE message_id NOT IN (SELECT id FROM messages)");
	long long bare_messages = count(path,
	    "SELECT count(*) FROM messages"
	    " WHERE id NOT IN (SELECT message_id FROM events)");

	if (orphan_events != 0 || bare_messages != 0)
		fail_msg("partial rows: %lld events without message, %lld "
			 "messages without events",
		    orphan_events, bare_messages);
}

#endif
