/*
 * admin - open, list, show and retry on the SQLite queue (queue/admin.h);
 * the purges are in admin_purge.c.
 *
 * Not pure: owns one SQLite connection. Every write is one BEGIN
 * IMMEDIATE transaction kept short, so the gateway's intake commits,
 * which wait on the same lock through the busy handler, are delayed by
 * milliseconds, not blocked. sqlite3 types never leave admin*.c.
 * docs/queue.md, "Queue CLI".
 */
#include "queue/admin.h"
#include "queue/admin_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "queue/busy.h"
#include "queue/queue.h"
#include "queue/segment.h"
#include "util/xmalloc.h"

/* As the delivery connection: long enough for any intake batch. */
static const unsigned busy_limit_ms = 10000;

static const char *const states[] = { "queued", "running", "retry", "done",
	"dead", "ignored", "duplicate" };
#define FINAL_FIRST 3 /* states[3..] are final */
#define NSTATES (sizeof(states) / sizeof(states[0]))

bool
admin_state_valid(const char *state)
{
	size_t i;

	for (i = 0; i < NSTATES; i++)
		if (strcmp(state, states[i]) == 0)
			return true;
	return false;
}

bool
admin_state_final(const char *state)
{
	size_t i;

	for (i = FINAL_FIRST; i < NSTATES; i++)
		if (strcmp(state, states[i]) == 0)
			return true;
	return false;
}

void
admin_set_err(struct admin *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
}

enum admin_status
admin_db_fail(struct admin *a, const char *what)
{
	admin_set_err(a, "%s: %s", what, sqlite3_errmsg(a->db));
	return ADMIN_ERR_IO;
}

enum admin_status
admin_begin(struct admin *a)
{
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return admin_db_fail(a, "cannot lock the queue");
	return ADMIN_OK;
}

enum admin_status
admin_end(struct admin *a, enum admin_status s)
{
	if (s == ADMIN_OK &&
	    sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		s = admin_db_fail(a, "commit");
	if (s != ADMIN_OK)
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	return s;
}

int64_t
admin_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
admin_errmsg(const struct admin *a)
{
	return a->err;
}

/* The schema check: user_version and the tables this file reads. */
static bool
check_schema(struct admin *a)
{
	static const char sql[] =
	    "SELECT (SELECT user_version FROM pragma_user_version),"
	    " (SELECT count(*) FROM sqlite_master WHERE type = 'table'"
	    "  AND name IN ('messages', 'events', 'attempts', 'rejections'))";
	sqlite3_stmt *st = NULL;
	int version = -1, tables = 0;

	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		/* SQLITE_NOTADB surfaces here, at the first read. */
		admin_set_err(a, "not a SQLite database (%s)",
		    sqlite3_errmsg(a->db));
		sqlite3_finalize(st);
		return false;
	}
	version = sqlite3_column_int(st, 0);
	tables = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	if (version == 0 || tables != 4)
		admin_set_err(a,
		    "not a mailtrigger queue (SQLite, but without its "
		    "tables; user_version %d)",
		    version);
	else if (version != QUEUE_SCHEMA_VERSION)
		admin_set_err(a,
		    "schema version %d, want %d (start this mailtrigger's "
		    "gateway on it once to migrate an older queue)",
		    version, QUEUE_SCHEMA_VERSION);
	else
		return true;
	return false;
}

struct admin *
admin_open(const char *path, char *err, size_t errlen)
{
	struct admin *a = xcalloc(1, sizeof(*a));
	struct stat sb;

	/* SQLITE_OPEN_READWRITE alone never creates; stat() names why. */
	if (stat(path, &sb) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto fail;
	}
	if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open (%s)",
		    a->db ? sqlite3_errmsg(a->db) : "out of memory");
		goto fail;
	}
	queue_set_busy_handler(a->db, &busy_limit_ms);
	segment_register_sql(a->db);
	if (!check_schema(a)) {
		snprintf(err, errlen, "%s", a->err);
		goto fail;
	}
	if (sqlite3_exec(a->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot set pragmas (%s)",
		    sqlite3_errmsg(a->db));
		goto fail;
	}
	return a;
fail:
	admin_close(a);
	return NULL;
}

void
admin_close(struct admin *a)
{
	if (a == NULL)
		return;
	sqlite3_close(a->db);
	free(a);
}

/* ---- reading rows ---- */

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return xstrdup(s != NULL ? (const char *)s : "");
}

/* NULL stays NULL: "no reason" differs from an empty reason. */
static char *
col_dup_null(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	return col_dup(st, i);
}

static int64_t
col_i64_null(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return -1;
	return sqlite3_column_int64(st, i);
}

void
admin_col_copy(sqlite3_stmt *st, int i, char *out, size_t size)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(out, size, "%s", s != NULL ? (const char *)s : "");
}

/* The columns event_row() reads, in its order; "e" and "m" aliased. */
#define EVENT_COLS                                                         \
	"e.id, e.message_id, e.state, e.instance, e.trigger, e.tag,"       \
	" e.recipients, e.rcpt_to, e.attempts, e.next_step, e.created_at," \
	" e.next_attempt_at, e.lease_until, e.dead_reason, e.note,"        \
	" e.dedup_key, e.rewrite, m.mail_from"                             \
	" FROM events e JOIN messages m ON m.id = e.message_id"

static void
event_row(sqlite3_stmt *st, struct admin_event *e)
{
	admin_col_copy(st, 0, e->id, sizeof(e->id));
	admin_col_copy(st, 1, e->message_id, sizeof(e->message_id));
	admin_col_copy(st, 2, e->state, sizeof(e->state));
	e->instance = col_dup(st, 3);
	e->trigger = col_dup(st, 4);
	e->tag = col_dup(st, 5);
	e->recipients = col_dup(st, 6);
	e->rcpt_to = col_dup(st, 7);
	e->attempts = (unsigned)sqlite3_column_int(st, 8);
	e->next_step = (unsigned)sqlite3_column_int(st, 9);
	e->created_at_ms = sqlite3_column_int64(st, 10);
	e->next_attempt_at_ms = col_i64_null(st, 11);
	e->lease_until_ms = col_i64_null(st, 12);
	e->dead_reason = col_dup_null(st, 13);
	e->note = col_dup_null(st, 14);
	e->dedup_key = col_dup_null(st, 15);
	e->rewrite = col_dup_null(st, 16);
	e->mail_from = col_dup(st, 17);
}

/* Steps st to the end, appending one event per row to *out / *n. */
static enum admin_status
collect_events(struct admin *a, sqlite3_stmt *st, struct admin_event **out,
    size_t *n)
{
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		memset(&(*out)[*n], 0, sizeof(**out));
		event_row(st, &(*out)[(*n)++]);
	}
	if (rc == SQLITE_DONE)
		return ADMIN_OK;
	admin_events_free(*out, *n);
	*out = NULL;
	*n = 0;
	return admin_db_fail(a, "reading events");
}

void
admin_events_free(struct admin_event *e, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(e[i].instance);
		free(e[i].trigger);
		free(e[i].tag);
		free(e[i].recipients);
		free(e[i].rcpt_to);
		free(e[i].dead_reason);
		free(e[i].note);
		free(e[i].dedup_key);
		free(e[i].rewrite);
		free(e[i].mail_from);
		for (j = 0; j < e[i].n_att; j++)
			free(e[i].att[j].response);
		free(e[i].att);
	}
	free(e);
}

/* ---- list ---- */

enum admin_status
admin_list(struct admin *a, const struct admin_filter *f,
    struct admin_event **out, size_t *n)
{
	static const char sql[] = "SELECT " EVENT_COLS
				  " WHERE (?1 IS NULL OR e.state = ?1)"
				  " AND (?2 IS NULL OR e.trigger = ?2)"
				  " ORDER BY e.created_at DESC, e.id DESC"
				  " LIMIT ?3";
	sqlite3_stmt *st = NULL;
	enum admin_status s;

	*out = NULL;
	*n = 0;
	if (f->state != NULL && !admin_state_valid(f->state)) {
		admin_set_err(a,
		    "'%s' is not a state (use queued, running, retry, done, "
		    "dead, ignored or duplicate)",
		    f->state);
		return ADMIN_REFUSED;
	}
	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
		return admin_db_fail(a, "listing events");
	sqlite3_bind_text(st, 1, f->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->trigger, -1, SQLITE_STATIC);
	/* LIMIT -1 is SQLite's "no limit". */
	sqlite3_bind_int64(st, 3, f->limit ? (sqlite3_int64)f->limit : -1);
	s = collect_events(a, st, out, n);
	sqlite3_finalize(st);
	return s;
}

/* ---- show ---- */

static enum admin_status
load_attempts(struct admin *a, sqlite3_stmt *st, struct admin_event *e)
{
	size_t cap = 0;
	struct admin_attempt *t;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (e->n_att == cap) {
			cap = cap ? cap * 2 : 8;
			e->att = xreallocarray(e->att, cap, sizeof(*e->att));
		}
		t = &e->att[e->n_att++];
		t->n = (unsigned)sqlite3_column_int(st, 0);
		t->at_ms = sqlite3_column_int64(st, 1);
		t->step = (unsigned)sqlite3_column_int(st, 2);
		admin_col_copy(st, 3, t->status, sizeof(t->status));
		t->code = (int)col_i64_null(st, 4);
		t->latency_ms = col_i64_null(st, 5);
		t->response = col_dup(st, 6);
	}
	return rc == SQLITE_DONE ? ADMIN_OK :
				   admin_db_fail(a, "reading attempts");
}

static enum admin_status
load_message(struct admin *a, const char *id, struct admin_message *m)
{
	static const char
	    sql[] = "SELECT id, received_at, mail_from, client_ip, helo, tls,"
		    " smtputf8, mt_body(data, seg, seg_off, size)"
		    " FROM messages WHERE id = ?";
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
		return admin_db_fail(a, "reading the message");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		admin_col_copy(st, 0, m->id, sizeof(m->id));
		m->received_at_ms = sqlite3_column_int64(st, 1);
		m->mail_from = col_dup(st, 2);
		m->client_ip = col_dup(st, 3);
		m->helo = col_dup(st, 4);
		m->tls = sqlite3_column_int(st, 5) != 0;
		m->smtputf8 = sqlite3_column_int(st, 6) != 0;
		m->len = (size_t)sqlite3_column_bytes(st, 7);
		m->data = xmalloc(m->len + 1);
		if (m->len > 0)
			memcpy(m->data, sqlite3_column_blob(st, 7), m->len);
		m->data[m->len] = '\0';
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return ADMIN_OK;
	if (rc == SQLITE_DONE) {
		admin_set_err(a, "no message or event '%s' in the queue", id);
		return ADMIN_NOT_FOUND;
	}
	return admin_db_fail(a, "reading the message");
}

/* The events of the show: one by event id, or all of a message. */
static enum admin_status
load_events(struct admin *a, const char *id, bool is_event,
    struct admin_detail *d)
{
	static const char by_event[] = "SELECT " EVENT_COLS " WHERE e.id = ?";
	static const char by_msg[] = "SELECT " EVENT_COLS
				     " WHERE e.message_id = ? ORDER BY e.id";
	sqlite3_stmt *st = NULL;
	enum admin_status s;

	if (sqlite3_prepare_v2(a->db, is_event ? by_event : by_msg, -1, &st,
		NULL) != SQLITE_OK)
		return admin_db_fail(a, "reading events");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	s = collect_events(a, st, &d->events, &d->n_events);
	sqlite3_finalize(st);
	if (s == ADMIN_OK && is_event && d->n_events == 0) {
		admin_set_err(a, "no event '%s' in the queue", id);
		return ADMIN_NOT_FOUND;
	}
	return s;
}

enum admin_status
admin_show(struct admin *a, const char *id, struct admin_detail *d)
{
	static const char
	    sql_att[] = "SELECT n, at, step, status, code, latency_ms, response"
			" FROM attempts WHERE event_id = ? ORDER BY n";
	bool is_event = strncmp(id, "evt_", 4) == 0;
	sqlite3_stmt *st = NULL;
	enum admin_status s;
	size_t i;

	memset(d, 0, sizeof(*d));
	/* One read transaction: event, attempts and message agree. */
	if (sqlite3_exec(a->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return admin_db_fail(a, "reading");
	s = load_events(a, id, is_event, d);
	if (s == ADMIN_OK)
		s = load_message(a, is_event ? d->events[0].message_id : id,
		    &d->msg);
	if (s == ADMIN_OK &&
	    sqlite3_prepare_v2(a->db, sql_att, -1, &st, NULL) != SQLITE_OK)
		s = admin_db_fail(a, "reading attempts");
	for (i = 0; s == ADMIN_OK && i < d->n_events; i++)
		s = load_attempts(a, st, &d->events[i]);
	sqlite3_finalize(st);
	sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL);
	if (s != ADMIN_OK)
		admin_detail_free(d);
	return s;
}

void
admin_detail_free(struct admin_detail *d)
{
	free(d->msg.mail_from);
	free(d->msg.client_ip);
	free(d->msg.helo);
	free(d->msg.data);
	admin_events_free(d->events, d->n_events);
	memset(d, 0, sizeof(*d));
}

/* ---- retry ---- */

struct retry_row {
	char id[ADMIN_EVENT_ID_MAX];
	char was[16];
};

/* The (id, state) rows sel selects, read whole before anything changes:
 * updating rows while a scan of their index is open would be undefined. */
static enum admin_status
select_rows(struct admin *a, const char *sel, const char *id,
    struct retry_row **rows, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = SQLITE_ERROR;

	if (sqlite3_prepare_v2(a->db, sel, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				*rows = xreallocarray(*rows, cap,
				    sizeof(**rows));
			}
			admin_col_copy(st, 0, (*rows)[*n].id,
			    sizeof((*rows)->id));
			admin_col_copy(st, 1, (*rows)[*n].was,
			    sizeof((*rows)->was));
			(*n)++;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? ADMIN_OK : admin_db_fail(a, "retry");
}

/*
 * Makes the events sel selects (id, state) due at now_ms, in one
 * transaction, so a worker's claim cannot slip between the look and the
 * change. The attempts stay: they are the event's history.
 */
static enum admin_status
run_retry(struct admin *a, const char *sel, const char *id, int64_t now_ms,
    admin_retry_cb *cb, void *arg, size_t *n)
{
	static const char
	    upd[] = "UPDATE events SET state = 'retry', next_attempt_at = ?1,"
		    " lease_until = NULL, dead_reason = NULL WHERE id = ?2";
	struct retry_row *rows = NULL;
	sqlite3_stmt *up = NULL;
	enum admin_status s;
	size_t i;

	*n = 0;
	if ((s = admin_begin(a)) != ADMIN_OK)
		return s;
	s = select_rows(a, sel, id, &rows, n);
	if (s == ADMIN_OK &&
	    sqlite3_prepare_v2(a->db, upd, -1, &up, NULL) != SQLITE_OK)
		s = admin_db_fail(a, "retry");
	sqlite3_bind_int64(up, 1, now_ms);
	for (i = 0; s == ADMIN_OK && i < *n; i++) {
		sqlite3_bind_text(up, 2, rows[i].id, -1, SQLITE_STATIC);
		if (sqlite3_step(up) != SQLITE_DONE)
			s = admin_db_fail(a, "retry");
		sqlite3_reset(up);
	}
	sqlite3_finalize(up);
	s = admin_end(a, s);
	for (i = 0; s == ADMIN_OK && cb != NULL && i < *n; i++)
		cb(arg, rows[i].id, rows[i].was);
	if (s != ADMIN_OK)
		*n = 0;
	free(rows);
	return s;
}

/* Why id was not retried: unknown, or its state (one or several). */
static enum admin_status
retry_refusal(struct admin *a, const char *id, bool is_event)
{
	static const char
	    sql[] = "SELECT group_concat(DISTINCT state) FROM events"
		    " WHERE id = ?1 OR message_id = ?1";
	sqlite3_stmt *st = NULL;
	const unsigned char *s = NULL;
	enum admin_status rc = ADMIN_REFUSED;

	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
		return admin_db_fail(a, "retry");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = sqlite3_column_text(st, 0);
	if (s == NULL) {
		admin_set_err(a, "no %s '%s' in the queue",
		    is_event ? "event" : "message or event", id);
		rc = ADMIN_NOT_FOUND;
	} else {
		admin_set_err(a,
		    "%s is %s: only dead or retry events are retried (queued "
		    "and running ones run anyway; done, ignored and duplicate "
		    "ones ended on purpose: send the mail again instead)",
		    id, (const char *)s);
	}
	sqlite3_finalize(st);
	return rc;
}

enum admin_status
admin_retry(struct admin *a, const char *id, int64_t now_ms, admin_retry_cb *cb,
    void *arg)
{
	static const char
	    by_event[] = "SELECT id, state FROM events"
			 " WHERE id = ?1 AND state IN ('dead', 'retry')";
	static const char by_msg[] =
	    "SELECT id, state FROM events"
	    " WHERE message_id = ?1 AND state IN ('dead', 'retry') ORDER BY id";
	bool is_event = strncmp(id, "evt_", 4) == 0;
	enum admin_status s;
	size_t n;

	s = run_retry(a, is_event ? by_event : by_msg, id, now_ms, cb, arg, &n);
	if (s == ADMIN_OK && n == 0)
		return retry_refusal(a, id, is_event);
	return s;
}

enum admin_status
admin_retry_dead(struct admin *a, int64_t now_ms, admin_retry_cb *cb, void *arg,
    size_t *n)
{
	static const char sql[] = "SELECT id, state FROM events"
				  " WHERE state = 'dead' AND ?1 IS NULL"
				  " ORDER BY id";

	return run_retry(a, sql, NULL, now_ms, cb, arg, n);
}
