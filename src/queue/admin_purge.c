/*
 * admin_purge - deleting what has ended (queue/admin.h: admin_purge_batch,
 * admin_trim_rejections), for `queue purge` and the retention thread.
 *
 * Not pure: runs on the admin connection. Every call is one BEGIN
 * IMMEDIATE transaction of at most `max` messages or rows, so the intake
 * writer, waiting on the same lock, is held up for one small batch at
 * most. Children are deleted first (attempts, events, then the message):
 * the foreign keys hold. docs/queue.md, "Retention".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "queue/admin.h"
#include "queue/admin_int.h"
#include "queue/segment.h"
#include "util/xmalloc.h"

/*
 * Messages whose events have all ended, received before the cutoff and
 * with no attempt since (an event retried by hand and then done is kept
 * a full retention period after its last attempt). Oldest first, served
 * by the messages_received index.
 */
static const char sql_purge_select[] =
    "SELECT m.id, m.received_at FROM messages m"
    " WHERE m.received_at < ?1"
    " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id"
    "  AND e.state NOT IN ('done', 'dead', 'ignored', 'duplicate'))"
    " AND NOT EXISTS (SELECT 1 FROM events e JOIN attempts t"
    "  ON t.event_id = e.id WHERE e.message_id = m.id AND t.at >= ?1)"
    " ORDER BY m.received_at LIMIT ?2";

/* Children first: events reference messages, attempts events. */
static const char *const sql_purge_delete[] = {
	("DELETE FROM attempts WHERE event_id IN"
	 " (SELECT id FROM events WHERE message_id = ?1)"),
	"DELETE FROM events WHERE message_id = ?1",
	"DELETE FROM messages WHERE id = ?1",
};

struct purge_row {
	char id[ID_LEN + 1];
	int64_t received_at_ms;
};

static enum admin_status
purge_select(struct admin *a, int64_t cutoff_ms, size_t max,
    struct purge_row *rows, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_ERROR;

	*n = 0;
	if (sqlite3_prepare_v2(a->db, sql_purge_select, -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(st, 1, cutoff_ms);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
			admin_col_copy(st, 0, rows[*n].id, sizeof(rows[*n].id));
			rows[*n].received_at_ms = sqlite3_column_int64(st, 1);
			(*n)++;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? ADMIN_OK : admin_db_fail(a, "purge");
}

/* Deletes message id with its events and attempts; counts[] per table. */
static enum admin_status
purge_one(struct admin *a, sqlite3_stmt **del, const char *id, size_t counts[3])
{
	size_t i;

	for (i = 0; i < 3; i++) {
		sqlite3_reset(del[i]);
		sqlite3_bind_text(del[i], 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(del[i]) != SQLITE_DONE)
			return admin_db_fail(a, "purge");
		counts[i] = (size_t)sqlite3_changes(a->db);
	}
	return ADMIN_OK;
}

enum admin_status
admin_purge_batch(struct admin *a, int64_t cutoff_ms, size_t max,
    admin_purge_cb *cb, void *arg, struct admin_purge_stats *st, bool *more)
{
	struct purge_row *rows;
	sqlite3_stmt *del[3] = { NULL, NULL, NULL };
	size_t i, n = 0, c[3];
	enum admin_status s;

	*more = false;
	if (max == 0 || max > ADMIN_PURGE_BATCH)
		max = ADMIN_PURGE_BATCH;
	rows = xcalloc(max, sizeof(*rows));
	if ((s = admin_begin(a)) != ADMIN_OK)
		goto out;
	s = purge_select(a, cutoff_ms, max, rows, &n);
	for (i = 0; s == ADMIN_OK && i < 3; i++)
		if (sqlite3_prepare_v2(a->db, sql_purge_delete[i], -1, &del[i],
			NULL) != SQLITE_OK)
			s = admin_db_fail(a, "purge");
	for (i = 0; s == ADMIN_OK && i < n; i++) {
		s = purge_one(a, del, rows[i].id, c);
		st->attempts += c[0];
		st->events += c[1];
		st->messages += c[2];
		if (s == ADMIN_OK && cb != NULL)
			cb(arg, rows[i].id, rows[i].received_at_ms, c[1]);
	}
	for (i = 0; i < 3; i++)
		sqlite3_finalize(del[i]);
	s = admin_end(a, s);
	*more = s == ADMIN_OK && n == max;
out:
	free(rows);
	return s;
}

/* Runs sql with ?1 = v1, ?2 = v2; adds the rows it deleted to *n. */
static enum admin_status
delete_rows(struct admin *a, const char *sql, int64_t v1, int64_t v2, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_ERROR;

	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, v1);
		sqlite3_bind_int64(st, 2, v2);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return admin_db_fail(a, "trimming rejections");
	*n += (size_t)sqlite3_changes(a->db);
	return ADMIN_OK;
}

enum admin_status
admin_trim_rejections(struct admin *a, int64_t cutoff_ms, size_t keep,
    size_t max, struct admin_purge_stats *st, bool *more)
{
	static const char by_age[] =
	    "DELETE FROM rejections WHERE rowid IN (SELECT rowid FROM"
	    " rejections WHERE at < ?1 ORDER BY at LIMIT ?2)";
	/* The oldest rows beyond the cap; OFFSET ?1 from the newest. */
	static const char by_cap[] =
	    "DELETE FROM rejections WHERE rowid IN (SELECT rowid FROM"
	    " (SELECT rowid, at FROM rejections ORDER BY at DESC LIMIT -1"
	    " OFFSET ?1) ORDER BY at LIMIT ?2)";
	enum admin_status s;
	size_t n = 0;

	*more = false;
	if ((s = admin_begin(a)) != ADMIN_OK)
		return s;
	s = delete_rows(a, by_age, cutoff_ms, (int64_t)max, &n);
	if (s == ADMIN_OK && keep > 0 && n < max)
		s = delete_rows(a, by_cap, (int64_t)keep, (int64_t)(max - n),
		    &n);
	s = admin_end(a, s);
	if (s == ADMIN_OK) {
		st->rejections += n;
		*more = n == max;
	}
	return s;
}

enum admin_status
admin_sweep_segments(struct admin *a, struct admin_purge_stats *st)
{
	char err[sizeof(a->err)];

	if (segment_sweep(a->db, &st->segments, err, sizeof(err)) != 0) {
		admin_set_err(a, "%s", err);
		return ADMIN_ERR_IO;
	}
	return ADMIN_OK;
}
