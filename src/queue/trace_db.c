/*
 * trace_db - the read-only queries of `mailtrigger trace`
 * (src/queue/trace_db.h).
 *
 * Not pure: one SQLite connection, opened without SQLITE_OPEN_CREATE and
 * made query_only, so a mistyped --config never creates a queue and the
 * trace never writes. Statements are fixed (sql[] below); the indexes of
 * schema 4 serve them: rejections(mail_from, at), rejections(at),
 * messages(received_at), events(message_id), attempts' primary key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "queue/busy.h"
#include "queue/queue.h"
#include "queue/segment.h"
#include "queue/trace_db.h"
#include "util/xmalloc.h"

/* As the gateway's writer: a busy database is waited for this long. */
static const unsigned busy_limit_ms = 5000;

static const char *const sql[] = {
	[TQ_MESSAGE] =
	    "SELECT id, received_at, mail_from, client_ip, helo, tls,"
	    " smtputf8, size, mt_body(data, seg, seg_off, size) AS data"
	    " FROM messages WHERE id = ?1",
	[TQ_EVENT_MESSAGE] = "SELECT message_id FROM events WHERE id = ?1",
	[TQ_EVENTS] = "SELECT id, instance, trigger, tag, recipients, rcpt_to,"
		      " state, attempts, next_attempt_at, next_step,"
		      " dead_reason, dedup_key, note, rewrite, created_at"
		      " FROM events WHERE message_id = ?1 ORDER BY rowid",
	[TQ_ATTEMPTS] = "SELECT n, at, step, status, code, latency_ms,"
			" response FROM attempts WHERE event_id = ?1"
			" ORDER BY n",
	[TQ_REJ_AROUND] = "SELECT at, client_ip, helo, mail_from, rcpt, code,"
			  " reply FROM rejections WHERE mail_from = ?1"
			  " AND client_ip = ?2 AND at BETWEEN ?3 AND ?4"
			  " ORDER BY at, rowid",
	[TQ_REJ_FROM] = "SELECT at, client_ip, helo, mail_from, rcpt, code,"
			" reply FROM rejections WHERE at >= ?2"
			" AND lower(mail_from) = lower(?1) ORDER BY at, rowid",
	[TQ_MSGS_FROM] = "SELECT id, received_at, mail_from, client_ip, helo,"
			 " tls, size FROM messages WHERE received_at >= ?2"
			 " AND lower(mail_from) = lower(?1)"
			 " ORDER BY received_at",
	[TQ_MSGS_CONTAINING] = "SELECT id, received_at, data FROM"
			       " (SELECT id, received_at,"
			       "  mt_body(data, seg, seg_off, size) AS data"
			       "  FROM messages WHERE received_at >= ?2)"
			       " WHERE instr(data, CAST(?1 AS BLOB)) > 0"
			       " ORDER BY received_at DESC LIMIT 50",
	/* The enhanced code is the reply's second word ("550 5.1.2 ..."). */
	[TQ_REFUSALS] = "SELECT client_ip, helo, mail_from, code,"
			" substr(reply, 5, instr(substr(reply, 5) || ' ', ' ')"
			" - 1) AS enhanced, count(*) AS n,"
			" count(DISTINCT rcpt) AS rcpts, min(rcpt) AS example,"
			" min(at) AS first, max(at) AS last,"
			" sum(count(*)) OVER (PARTITION BY client_ip)"
			" AS client_total FROM rejections"
			" WHERE at >= ?1 GROUP BY client_ip, helo, mail_from,"
			" code, enhanced ORDER BY client_total DESC,"
			" client_ip, n DESC, last DESC",
};

struct trace_db {
	sqlite3 *db;
};

/* Fails unless the file is there: sqlite would make an empty one. */
static bool
check_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return false;
	}
	return true;
}

/* Accepts schema 4 up to this mailtrigger's version. */
static bool
check_version(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (v < 0)
		snprintf(err, errlen, "not a queue (%s)", sqlite3_errmsg(db));
	else if (v == 0)
		snprintf(err, errlen, "not a mailtrigger queue (no schema)");
	else if (v < QUEUE_SCHEMA_VERSION)
		snprintf(err, errlen,
		    "schema version %lld is older than this mailtrigger's: "
		    "start the gateway once to migrate it to %d",
		    v, QUEUE_SCHEMA_VERSION);
	else if (v > QUEUE_SCHEMA_VERSION)
		snprintf(err, errlen,
		    "schema version %lld is newer than this mailtrigger "
		    "supports (%d)",
		    v, QUEUE_SCHEMA_VERSION);
	return v == QUEUE_SCHEMA_VERSION;
}

struct trace_db *
trace_db_open(const char *path, char *err, size_t errlen)
{
	struct trace_db *t = xcalloc(1, sizeof(*t));

	err[0] = '\0';
	if (!check_file(path, err, errlen))
		goto fail;
	if (sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open (%s)",
		    t->db ? sqlite3_errmsg(t->db) : "out of memory");
		goto fail;
	}
	queue_set_busy_handler(t->db, &busy_limit_ms);
	segment_register_sql(t->db);
	if (sqlite3_exec(t->db, "PRAGMA query_only = 1", NULL, NULL, NULL) !=
		SQLITE_OK ||
	    !check_version(t->db, err, errlen))
		goto fail;
	return t;
fail:
	if (err[0] == '\0')
		snprintf(err, errlen, "%s", sqlite3_errmsg(t->db));
	trace_db_close(t);
	return NULL;
}

void
trace_db_close(struct trace_db *t)
{
	if (t == NULL)
		return;
	sqlite3_close(t->db);
	free(t);
}

/* Appends the current row of st to out. */
static void
take_row(sqlite3_stmt *st, struct trace_rows *out)
{
	struct trace_cell *c;
	const void *p;
	size_t i;

	out->cells = xreallocarray(out->cells, (out->n_rows + 1) * out->n_cols,
	    sizeof(*out->cells));
	c = &out->cells[out->n_rows * out->n_cols];
	for (i = 0; i < out->n_cols; i++) {
		c[i].len = 0;
		c[i].s = NULL;
		if (sqlite3_column_type(st, (int)i) == SQLITE_NULL)
			continue;
		/* _blob first: _bytes then counts the blob as stored. */
		p = sqlite3_column_blob(st, (int)i);

		c[i].len = (size_t)sqlite3_column_bytes(st, (int)i);
		c[i].s = xmalloc(c[i].len + 1);
		if (c[i].len > 0)
			memcpy(c[i].s, p, c[i].len);
		c[i].s[c[i].len] = '\0';
	}
	out->n_rows++;
}

static void
bind_args(sqlite3_stmt *st, const struct trace_arg *args, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (args[i].s != NULL)
			sqlite3_bind_text(st, (int)i + 1, args[i].s, -1,
			    SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, (int)i + 1, args[i].i);
	}
}

bool
trace_db_select(struct trace_db *t, enum trace_query q,
    const struct trace_arg *args, size_t n, struct trace_rows *out, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(t->db, sql[q], -1, &st, NULL) != SQLITE_OK)
		goto fail;
	bind_args(st, args, n);
	out->n_cols = (size_t)sqlite3_column_count(st);
	out->names = xcalloc(out->n_cols + 1, sizeof(*out->names));
	for (i = 0; i < out->n_cols; i++)
		out->names[i] = xstrdup(sqlite3_column_name(st, (int)i));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n_rows == TRACE_ROWS_MAX) {
			out->truncated = true;
			break;
		}
		take_row(st, out);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return true;
fail:
	snprintf(err, errlen, "%s", sqlite3_errmsg(t->db));
	sqlite3_finalize(st);
	trace_rows_free(out);
	return false;
}

void
trace_rows_free(struct trace_rows *r)
{
	size_t i;

	for (i = 0; i < r->n_rows * r->n_cols; i++)
		free(r->cells[i].s);
	for (i = 0; r->names != NULL && i < r->n_cols; i++)
		free(r->names[i]);
	free(r->cells);
	free(r->names);
	memset(r, 0, sizeof(*r));
}

const struct trace_cell *
trace_cell(const struct trace_rows *r, size_t row, const char *name)
{
	size_t i;

	if (row >= r->n_rows)
		return NULL;
	for (i = 0; i < r->n_cols; i++)
		if (strcmp(r->names[i], name) == 0)
			return r->cells[row * r->n_cols + i].s != NULL ?
			    &r->cells[row * r->n_cols + i] :
			    NULL;
	return NULL;
}

const char *
trace_str(const struct trace_rows *r, size_t row, const char *name,
    const char *def)
{
	const struct trace_cell *c = trace_cell(r, row, name);

	return c != NULL ? c->s : def;
}

int64_t
trace_int(const struct trace_rows *r, size_t row, const char *name, int64_t def)
{
	const char *s = trace_str(r, row, name, NULL);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' && errno == 0 ? (int64_t)v : def;
}
