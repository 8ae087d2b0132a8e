/*
 * sqlite_delivery - the delivery side of the SQLite queue (queue.h,
 * "Delivery"): claim with a lease, attempts, done, retry, dead letter.
 *
 * Not pure: owns one SQLite connection per struct queue_delivery, used by
 * one delivery thread at a time. It is a connection of its own, not the
 * writer thread's, so a flow never waits behind intake and intake never
 * waits behind a flow: WAL lets its reads run beside the writer, and its
 * short write transactions queue on the database lock (busy timeout).
 * It runs with synchronous=NORMAL: a state change is durable at the next
 * intake commit or checkpoint; one lost on power failure only makes an
 * event run again, which at-least-once delivery allows (docs/queue.md).
 * sqlite3 types never leave this file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "queue/busy.h"
#include "queue/segment.h"

#include "queue/queue.h"
#include "util/xmalloc.h"

static const unsigned busy_limit_ms = 10000;
#define QD_RESPONSE_MAX 1024 /* bytes of a response kept per attempt */

struct queue_delivery {
	sqlite3 *db;
	bool batch;    /* inside queue_delivery_begin(): savepoints nest */
	char err[512]; /* queue_delivery_errmsg() */
};

/*
 * The claim: due waiting events, and running events whose lease expired
 * (their worker died), oldest first. One statement, so two delivery
 * connections never claim the same event.
 */
static const char sql_claim[] =
    "UPDATE events SET state = 'running', lease_until = ?1"
    " WHERE id IN (SELECT id FROM events"
    "  WHERE (state IN ('queued', 'retry') AND next_attempt_at <= ?2)"
    "   OR (state = 'running' AND lease_until < ?2)"
    "  ORDER BY next_attempt_at LIMIT ?3)"
    " RETURNING id";

static const char sql_load[] =
    "SELECT e.message_id, e.instance, e.trigger, e.tag, e.recipients,"
    " e.rcpt_to, e.attempts, e.next_step, e.created_at,"
    " (SELECT count(*) FROM attempts a"
    "   WHERE a.event_id = e.id AND a.step = e.next_step),"
    " m.received_at, m.mail_from, m.client_ip, m.helo, m.tls, m.smtputf8,"
    " mt_body(m.data, m.seg, m.seg_off, m.size), e.rewrite"
    " FROM events e JOIN messages m ON m.id = e.message_id"
    " WHERE e.id = ?";

static void
set_err(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s (%s)", what,
	    db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

struct queue_delivery *
queue_delivery_open(const char *path, char *err, size_t errlen)
{
	/*
	 * temp_store = MEMORY keeps each savepoint's sub-journal in memory:
	 * on disk it spills past 64 KB, i.e. at the first of our 64 KB
	 * pages, and every state change wrote its pages twice more (3 GB of
	 * temp file writes for 8,000 events; docs/queue.md, "Delivery").
	 */
	static const char pragmas[] = "PRAGMA synchronous = NORMAL;"
				      "PRAGMA foreign_keys = ON;"
				      "PRAGMA temp_store = MEMORY;";
	struct queue_delivery *d = xcalloc(1, sizeof(*d));
	sqlite3_stmt *st = NULL;
	int version = -1;

	if (sqlite3_open_v2(path, &d->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK) {
		set_err(d->db, "cannot open", err, errlen);
		goto fail;
	}
	queue_set_busy_handler(d->db, &busy_limit_ms);
	segment_register_sql(d->db);
	if (sqlite3_exec(d->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &st, NULL) !=
		SQLITE_OK) {
		set_err(d->db, "cannot set pragmas", err, errlen);
		goto fail;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version != QUEUE_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %d, want %d", version,
		    QUEUE_SCHEMA_VERSION);
		goto fail;
	}
	return d;
fail:
	queue_delivery_close(d);
	return NULL;
}

void
queue_delivery_close(struct queue_delivery *d)
{
	if (d == NULL)
		return;
	sqlite3_close(d->db);
	free(d);
}

static char *
col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return xstrdup(s != NULL ? (const char *)s : "");
}

/* Fills c from one sql_load row. */
static void
load_row(sqlite3_stmt *st, struct queue_claim *c)
{
	const void *blob;

	snprintf(c->message_id, sizeof(c->message_id), "%s",
	    (const char *)sqlite3_column_text(st, 0));
	c->instance = col_str(st, 1);
	c->trigger = col_str(st, 2);
	c->tag = col_str(st, 3);
	c->recipients = col_str(st, 4);
	c->rcpt_to = col_str(st, 5);
	c->attempts = (unsigned)sqlite3_column_int(st, 6);
	c->next_step = (unsigned)sqlite3_column_int(st, 7);
	c->created_at_ms = sqlite3_column_int64(st, 8);
	c->step_attempts = (unsigned)sqlite3_column_int(st, 9);
	c->received_at_ms = sqlite3_column_int64(st, 10);
	c->mail_from = col_str(st, 11);
	c->client_ip = col_str(st, 12);
	c->helo = col_str(st, 13);
	c->tls = sqlite3_column_int(st, 14) != 0;
	c->smtputf8 = sqlite3_column_int(st, 15) != 0;
	blob = sqlite3_column_blob(st, 16);
	c->len = (size_t)sqlite3_column_bytes(st, 16);
	c->data = xmalloc(c->len + 1);
	if (c->len > 0)
		memcpy(c->data, blob, c->len);
	c->data[c->len] = '\0';
	c->rewrite = sqlite3_column_type(st, 17) == SQLITE_NULL ?
	    NULL :
	    col_str(st, 17);
}

/* Loads the claimed events named in c[i].id, inside the claim's txn. */
static int
load_claims(sqlite3 *db, struct queue_claim *c, size_t n)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	rc = sqlite3_prepare_v2(db, sql_load, -1, &st, NULL);
	for (i = 0; rc == SQLITE_OK && i < n; i++) {
		sqlite3_bind_text(st, 1, c[i].id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			load_row(st, &c[i]);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE)
			rc = SQLITE_NOTFOUND; /* an event without its message */
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * One call's all-or-nothing unit: a transaction of its own, or a
 * savepoint inside a batch (queue_delivery_begin()).
 */
static int
begin(struct queue_delivery *d)
{
	return sqlite3_exec(d->db,
	    d->batch ? "SAVEPOINT qd" : "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

static int
commit(struct queue_delivery *d)
{
	return sqlite3_exec(d->db, d->batch ? "RELEASE qd" : "COMMIT", NULL,
	    NULL, NULL);
}

/* Undoes the unit begin() opened, and only it. */
static void
rollback(struct queue_delivery *d)
{
	if (d->batch)
		sqlite3_exec(d->db, "ROLLBACK TO qd; RELEASE qd", NULL, NULL,
		    NULL);
	else if (!sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

enum queue_status
queue_delivery_begin(struct queue_delivery *d)
{
	if (d->batch)
		return QUEUE_ERR_IO;
	queue_turn_take();
	if (begin(d) != SQLITE_OK) {
		queue_turn_give();
		return QUEUE_ERR_IO;
	}
	d->batch = true;
	return QUEUE_OK;
}

enum queue_status
queue_delivery_commit(struct queue_delivery *d)
{
	int rc;

	if (!d->batch)
		return QUEUE_ERR_IO;
	d->batch = false;
	rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	queue_turn_give();
	return rc == SQLITE_OK ? QUEUE_OK : QUEUE_ERR_IO;
}

/* Runs sql_claim; fills the ids of c (capacity max) and *n. */
static int
claim_ids(sqlite3 *db, int64_t now_ms, int64_t lease_ms, size_t max,
    struct queue_claim *c, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	rc = sqlite3_prepare_v2(db, sql_claim, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, now_ms + lease_ms);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		snprintf(c[*n].id, sizeof(c[*n].id), "%s",
		    (const char *)sqlite3_column_text(st, 0));
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The claim, loaded (queue_claim) or ids only (queue_claim_ids). */
static enum queue_status
claim(struct queue_delivery *d, int64_t now_ms, int64_t lease_ms, size_t max,
    bool load, struct queue_claim **out, size_t *n)
{
	struct queue_claim *c = xcalloc(max > 0 ? max : 1, sizeof(*c));

	*out = NULL;
	*n = 0;
	if (begin(d) != SQLITE_OK)
		goto fail;
	if (claim_ids(d->db, now_ms, lease_ms, max, c, n) != SQLITE_OK ||
	    (load && load_claims(d->db, c, *n) != SQLITE_OK) ||
	    commit(d) != SQLITE_OK)
		goto fail;
	*out = c;
	return QUEUE_OK;
fail:
	rollback(d);
	queue_claims_free(c, *n);
	*n = 0;
	return QUEUE_ERR_IO;
}

enum queue_status
queue_claim(struct queue_delivery *d, int64_t now_ms, int64_t lease_ms,
    size_t max, struct queue_claim **out, size_t *n)
{
	return claim(d, now_ms, lease_ms, max, true, out, n);
}

enum queue_status
queue_claim_ids(struct queue_delivery *d, int64_t now_ms, int64_t lease_ms,
    size_t max, struct queue_claim **out, size_t *n)
{
	return claim(d, now_ms, lease_ms, max, false, out, n);
}

enum queue_status
queue_claim_load(struct queue_delivery *d, struct queue_claim *c)
{
	if (d->batch)
		return QUEUE_ERR_IO; /* not inside a write transaction */
	int rc = load_claims(d->db, c, 1);

	if (rc == SQLITE_OK)
		return QUEUE_OK;
	if (rc == SQLITE_NOTFOUND)
		snprintf(d->err, sizeof(d->err),
		    "event %s or its message is not in the queue", c->id);
	else
		snprintf(d->err, sizeof(d->err), "%s", sqlite3_errmsg(d->db));
	/* mt_body() says SQLITE_CORRUPT for a segment gone or cut short. */
	return rc == SQLITE_NOTFOUND || (rc & 0xff) == SQLITE_CORRUPT ?
	    QUEUE_ERR_CORRUPT :
	    QUEUE_ERR_IO;
}

const char *
queue_delivery_errmsg(struct queue_delivery *d)
{
	return d->err;
}

void
queue_claims_free(struct queue_claim *c, size_t n)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(c[i].instance);
		free(c[i].trigger);
		free(c[i].tag);
		free(c[i].recipients);
		free(c[i].rcpt_to);
		free(c[i].mail_from);
		free(c[i].client_ip);
		free(c[i].helo);
		free(c[i].data);
		free(c[i].rewrite);
	}
	free(c);
}

/*
 * Runs one statement with up to two text and two integer parameters:
 * ?1 = t1, ?2 = t2, ?3 = i1, ?4 = i2 (those it uses). Returns the number
 * of rows changed, or -1 on error.
 */
static long
exec_change(struct queue_delivery *d, const char *sql, const char *t1,
    const char *t2, int64_t i1, int64_t i2)
{
	sqlite3_stmt *st = NULL;
	long changed = -1;
	int n;

	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	/* Binding past the statement's last parameter is SQLITE_RANGE. */
	n = sqlite3_bind_parameter_count(st);
	if (n >= 1)
		sqlite3_bind_text(st, 1, t1, -1, SQLITE_STATIC);
	if (n >= 2)
		sqlite3_bind_text(st, 2, t2, -1, SQLITE_STATIC);
	if (n >= 3)
		sqlite3_bind_int64(st, 3, i1);
	if (n >= 4)
		sqlite3_bind_int64(st, 4, i2);
	if (sqlite3_step(st) == SQLITE_DONE)
		changed = sqlite3_changes(d->db);
	sqlite3_finalize(st);
	return changed;
}

long
queue_recover_running(struct queue_delivery *d, int64_t now_ms)
{
	return exec_change(d,
	    "UPDATE events SET state = 'retry', lease_until = NULL,"
	    " next_attempt_at = ?3 WHERE state = 'running'",
	    NULL, NULL, now_ms, 0);
}

int64_t
queue_next_due(struct queue_delivery *d)
{
	sqlite3_stmt *st = NULL;
	int64_t v = INT64_MAX;

	if (sqlite3_prepare_v2(d->db,
		"SELECT min(t) FROM ("
		" SELECT min(next_attempt_at) AS t FROM events"
		"  WHERE state IN ('queued', 'retry')"
		" UNION ALL SELECT min(lease_until) FROM events"
		"  WHERE state = 'running')",
		-1, &st, NULL) != SQLITE_OK)
		return v;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Inserts the attempts row; n is the event's attempt count + 1. */
static int
insert_attempt(struct queue_delivery *d, const struct queue_attempt *a)
{
	static const char
	    sql[] = "INSERT INTO attempts (event_id, n, at, step, status, code,"
		    " latency_ms, response) VALUES (?1,"
		    " (SELECT attempts + 1 FROM events WHERE id = ?1),"
		    " ?2, ?3, ?4, ?5, ?6, ?7)";
	sqlite3_stmt *st = NULL;
	size_t len = a->response_len;
	int rc;

	if (len > QD_RESPONSE_MAX)
		len = QD_RESPONSE_MAX;
	rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, a->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->at_ms);
	sqlite3_bind_int(st, 3, (int)a->step);
	sqlite3_bind_text(st, 4, a->status, -1, SQLITE_STATIC);
	if (a->code >= 0)
		sqlite3_bind_int(st, 5, a->code);
	sqlite3_bind_int64(st, 6, a->latency_ms);
	/* Kept as text for queue show; a cut UTF-8 tail is the reader's. */
	if (a->response != NULL)
		sqlite3_bind_text(st, 7, a->response, (int)len,
		    SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum queue_status
queue_record_attempt(struct queue_delivery *d, const struct queue_attempt *a)
{
	if (begin(d) != SQLITE_OK)
		goto fail;
	if (insert_attempt(d, a) != SQLITE_OK ||
	    exec_change(d,
		"UPDATE events SET attempts = attempts + 1,"
		" next_step = CASE WHEN ?4 THEN ?3 + 1 ELSE next_step END"
		" WHERE id = ?1",
		a->event_id, NULL, a->step, a->step_done) != 1 ||
	    commit(d) != SQLITE_OK)
		goto fail;
	return QUEUE_OK;
fail:
	rollback(d);
	return QUEUE_ERR_IO;
}

enum queue_status
queue_complete(struct queue_delivery *d, const char *id)
{
	return exec_change(d,
		   "UPDATE events SET state = 'done', lease_until = NULL"
		   " WHERE id = ?1",
		   id, NULL, 0, 0) == 1 ?
	    QUEUE_OK :
	    QUEUE_ERR_IO;
}

enum queue_status
queue_retry(struct queue_delivery *d, const char *id, int64_t next_ms)
{
	return exec_change(d,
		   "UPDATE events SET state = 'retry', lease_until = NULL,"
		   " next_attempt_at = ?3 WHERE id = ?1",
		   id, NULL, next_ms, 0) == 1 ?
	    QUEUE_OK :
	    QUEUE_ERR_IO;
}

enum queue_status
queue_dead(struct queue_delivery *d, const char *id, const char *reason)
{
	return exec_change(d,
		   "UPDATE events SET state = 'dead', lease_until = NULL,"
		   " dead_reason = ?2 WHERE id = ?1",
		   id, reason, 0, 0) == 1 ?
	    QUEUE_OK :
	    QUEUE_ERR_IO;
}

/* Finds another live event with key since since_ms; SQLITE_ROW if so. */
static int
find_dup(struct queue_delivery *d, const char *id, const char *key,
    int64_t since_ms, char *of)
{
	static const char
	    sql[] = "SELECT id FROM events WHERE dedup_key = ?1 AND id <> ?2"
		    " AND created_at >= ?3"
		    " AND state IN ('queued', 'running', 'retry', 'done')"
		    " ORDER BY created_at, id LIMIT 1";
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(of, ID_LEN + 16, "%s",
		    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

enum queue_status
queue_dedup(struct queue_delivery *d, const char *id, const char *key,
    int64_t since_ms, bool *dup, char *of)
{
	int rc;

	*dup = false;
	if (begin(d) != SQLITE_OK)
		goto fail;
	rc = find_dup(d, id, key, since_ms, of);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	*dup = rc == SQLITE_ROW;
	if (exec_change(d, "UPDATE events SET dedup_key = ?2 WHERE id = ?1", id,
		key, 0, 0) != 1 ||
	    commit(d) != SQLITE_OK)
		goto fail;
	return QUEUE_OK;
fail:
	rollback(d);
	*dup = false;
	return QUEUE_ERR_IO;
}

enum queue_status
queue_skip(struct queue_delivery *d, const char *id, const char *state,
    const char *note)
{
	sqlite3_stmt *st = NULL;
	int ok = 0;

	if (strcmp(state, "ignored") != 0 && strcmp(state, "duplicate") != 0)
		abort(); /* a caller's bug: only these end an event unrun */
	if (sqlite3_prepare_v2(d->db,
		"UPDATE events SET state = ?2, lease_until = NULL, note = ?3"
		" WHERE id = ?1",
		-1, &st, NULL) != SQLITE_OK)
		return QUEUE_ERR_IO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, note, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		ok = sqlite3_changes(d->db) == 1;
	sqlite3_finalize(st);
	return ok ? QUEUE_OK : QUEUE_ERR_IO;
}
