/*
 * trace_db - the read-only queries of `mailtrigger trace` (docs/trace.md).
 *
 * Not pure: one SQLite connection to an existing queue. It never creates
 * a queue and never writes (PRAGMA query_only); it reads beside a running
 * gateway (WAL readers do not block the writer) and waits for a busy
 * database with the queue's busy handler (queue/busy.h). Every query is a
 * fixed statement of enum trace_query, so no SQL is built from input; a
 * result is a small table of text cells (integers as decimal text, NULL
 * kept apart), at most TRACE_ROWS_MAX rows. sqlite3 types stay inside
 * src/queue/.
 */
#ifndef MT_QUEUE_TRACE_DB_H
#define MT_QUEUE_TRACE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rows one query returns at most; `truncated` says when there were more. */
#define TRACE_ROWS_MAX 1000

enum trace_query {
	TQ_MESSAGE,         /* s message id: its messages row (with data) */
	TQ_EVENT_MESSAGE,   /* s event id: message_id */
	TQ_EVENTS,          /* s message id: its events, in creation order */
	TQ_ATTEMPTS,        /* s event id: its attempts, by n */
	TQ_REJ_AROUND,      /* s mail_from, s client_ip, i from, i to (ms) */
	TQ_REJ_FROM,        /* s mail_from (any case), i since: rejections */
	TQ_MSGS_FROM,       /* s mail_from (any case), i since: messages */
	TQ_MSGS_CONTAINING, /* s bytes, i since: id, data, newest first */
	TQ_REFUSALS,        /* i since: rejections grouped by client */
};

/* One bound parameter: text when s != NULL, else the integer i. */
struct trace_arg {
	const char *s;
	int64_t i;
};

struct trace_cell {
	char *s; /* NUL-terminated copy; NULL for SQL NULL */
	size_t len;
};

struct trace_rows {
	size_t n_rows, n_cols;
	char **names;             /* n_cols column names */
	struct trace_cell *cells; /* n_rows * n_cols, row by row */
	bool truncated;           /* more than TRACE_ROWS_MAX rows matched */
};

struct trace_db;

/*
 * Opens the queue at path for reading. Fails (NULL, reason in err) when
 * the file does not exist, is not a queue, or has a schema older than 4
 * (the gateway migrates it at start) or newer than this mailtrigger.
 */
struct trace_db *trace_db_open(const char *path, char *err, size_t errlen);
void trace_db_close(struct trace_db *db);

/*
 * Runs query q with its n args (as listed in enum trace_query) and fills
 * out (release with trace_rows_free()). False with a reason in err on a
 * database error.
 */
bool trace_db_select(struct trace_db *db, enum trace_query q,
    const struct trace_arg *args, size_t n, struct trace_rows *out, char *err,
    size_t errlen);
void trace_rows_free(struct trace_rows *r);

/* Pure: the cell of row at column name; NULL for SQL NULL or no such. */
const struct trace_cell *trace_cell(const struct trace_rows *r, size_t row,
    const char *name);
/* Pure: the cell's text, or def for SQL NULL / no such column. */
const char *trace_str(const struct trace_rows *r, size_t row, const char *name,
    const char *def);
/* Pure: the cell as an integer, or def for NULL / not a number. */
int64_t trace_int(const struct trace_rows *r, size_t row, const char *name,
    int64_t def);

#endif
