/*
 * sqlite - the SQLite backend of the queue (src/queue/backend.h).
 *
 * Not pure: owns one SQLite connection. The database runs in WAL mode with
 * synchronous=FULL, so COMMIT returns only after the WAL is fsynced: a
 * message whose commit succeeded survives a crash or a power cut. One
 * qdb_store() call is one transaction, whatever the number of messages in
 * it (group commit, driven by queue.c). Schema, durability argument and
 * recovery: docs/queue.md. sqlite3 types never leave this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "queue/backend.h"
#include "queue/busy.h"
#include "queue/checkpoint.h"
#include "queue/segment.h"
#include "util/xmalloc.h"

static const unsigned busy_limit_ms = 5000;
#define QDB_DIR_MODE 0700  /* the queue holds private mail */
#define QDB_FILE_MODE 0600 /* SQLite gives -wal and -shm the same mode */

struct qdb {
	sqlite3 *db;
	struct checkpointer *ckpt;
	struct segment_writer *segs;
	sqlite3_stmt *ins_message;
	sqlite3_stmt *ins_event;
	sqlite3_stmt *ins_rejection;
};

/* Version 1 (docs/queue.md). Only ever add a version; never edit this. */
static const char schema_v1[] =
    "CREATE TABLE messages ("
    " id TEXT PRIMARY KEY,"
    " received_at INTEGER,"
    " mail_from TEXT,"
    " client_ip TEXT,"
    " helo TEXT,"
    " tls INTEGER,"
    " smtputf8 INTEGER,"
    " size INTEGER,"
    " data BLOB);"
    "CREATE TABLE events ("
    " id TEXT PRIMARY KEY,"
    " message_id TEXT NOT NULL REFERENCES messages(id),"
    " instance TEXT,"
    " trigger TEXT,"
    " tag TEXT,"
    " recipients TEXT,"
    " rcpt_to TEXT,"
    " state TEXT NOT NULL DEFAULT 'queued',"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at INTEGER,"
    " lease_until INTEGER,"
    " created_at INTEGER);"
    "CREATE INDEX events_state_next ON events(state, next_attempt_at);"
    "CREATE INDEX events_message ON events(message_id);"
    "PRAGMA user_version = 1;";

/*
 * Version 2: delivery (docs/queue.md, "Delivery"). Every try of a step is
 * an attempts row; an event remembers the next step to run (a retry does
 * not re-run the steps that succeeded) and why it was dead-lettered.
 */
static const char schema_v2[] =
    "CREATE TABLE attempts ("
    " event_id TEXT NOT NULL REFERENCES events(id),"
    " n INTEGER NOT NULL,"
    " at INTEGER,"
    " step INTEGER,"
    " status TEXT,"
    " code INTEGER,"
    " latency_ms INTEGER,"
    " response TEXT,"
    " PRIMARY KEY (event_id, n));"
    "ALTER TABLE events ADD COLUMN next_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE events ADD COLUMN dead_reason TEXT;"
    "PRAGMA user_version = 2;";

/*
 * Version 3: rules (docs/queue.md, "Delivery"). The dedup key of an event
 * once computed (an index finds a repeat within the window), and the note
 * saying why an event ended without running (ignored, duplicate).
 */
static const char
    schema_v3[] = "ALTER TABLE events ADD COLUMN dedup_key TEXT;"
		  "ALTER TABLE events ADD COLUMN note TEXT;"
		  "CREATE INDEX events_dedup ON events(dedup_key, created_at)"
		  " WHERE dedup_key IS NOT NULL;"
		  "PRAGMA user_version = 3;";

/*
 * Version 4: "why didn't it trigger?" (docs/queue.md, "Trace"). Every
 * refused RCPT is a rejections row (the trace command shows them; the
 * retention limits in docs/queue.md bound the table). An event whose
 * recipient was recovered from a CNAME-expanded address keeps, in
 * rewrite, the JSON {received, recovered, evidence}. The index on
 * received_at serves retention and "trace --since".
 */
static const char
    schema_v4[] = "CREATE TABLE rejections ("
		  " at INTEGER NOT NULL,"
		  " client_ip TEXT,"
		  " helo TEXT,"
		  " mail_from TEXT,"
		  " rcpt TEXT,"
		  " code INTEGER,"
		  " reply TEXT);"
		  "CREATE INDEX rejections_at ON rejections(at);"
		  "CREATE INDEX rejections_from ON rejections(mail_from, at);"
		  "CREATE INDEX rejections_client ON rejections(client_ip, at);"
		  "ALTER TABLE events ADD COLUMN rewrite TEXT;"
		  "CREATE INDEX messages_received ON messages(received_at);"
		  "PRAGMA user_version = 4;";

/* Version 5: large bodies in segment files (queue/segment.h). */
static const char schema_v5[] =
    "ALTER TABLE messages ADD COLUMN seg INTEGER;"
    "ALTER TABLE messages ADD COLUMN seg_off INTEGER;"
    "CREATE INDEX messages_seg ON messages(seg) WHERE seg IS NOT NULL;"
    "PRAGMA user_version = 5;";

static const char sql_ins_message[] =
    "INSERT INTO messages (id, received_at, mail_from, client_ip, helo,"
    " tls, smtputf8, size, data, seg, seg_off)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static const char sql_ins_event[] =
    "INSERT INTO events (id, message_id, instance, trigger, tag,"
    " recipients, rcpt_to, state, next_attempt_at, created_at, rewrite)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)";

static const char sql_ins_rejection[] =
    "INSERT INTO rejections (at, client_ip, helo, mail_from, rcpt, code,"
    " reply) VALUES (?, ?, ?, ?, ?, ?, ?)";

/*
 * Writes "what (sqlite's reason[: errno text])" to err. The errno text is
 * what tells an operator "Permission denied" from "No such file". The
 * caller of queue_open() adds the path.
 */
static void
db_error(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	int sys = db != NULL ? sqlite3_system_errno(db) : 0;
	const char *msg = db != NULL ? sqlite3_errmsg(db) : "out of memory";

	if (sys != 0)
		snprintf(err, errlen, "%s (%s: %s)", what, msg, strerror(sys));
	else
		snprintf(err, errlen, "%s (%s)", what, msg);
}

/* Creates dir if it is missing; fails if it exists and is no directory. */
static int
make_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, QDB_DIR_MODE) == 0)
		return 0;
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		errno = ENOTDIR;
	snprintf(err, errlen, "cannot create directory %s: %s", dir,
	    strerror(errno));
	return -1;
}

/* Creates the missing directories above path, like mkdir -p. */
static int
make_parents(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(dir)) {
		snprintf(err, errlen, "queue path is empty or too long");
		return -1;
	}
	memcpy(dir, path, len + 1);
	for (i = 1; i < len; i++) {
		if (dir[i] != '/' || dir[i - 1] == '/')
			continue;
		dir[i] = '\0';
		if (make_dir(dir, err, errlen) != 0)
			return -1;
		dir[i] = '/';
	}
	return 0;
}

/*
 * Creates the database file with mode 0600 when it does not exist (SQLite
 * would use 0644; an empty file is a valid empty database).
 */
static int
create_private(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    QDB_FILE_MODE);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create: %s", strerror(errno));
	return -1;
}

/* Runs one statement that returns at most one integer; -1 on error. */
static long long
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * Turns on WAL. This is the first statement that reads the file, so a
 * file that is not a database fails here (SQLITE_NOTADB).
 */
static int
set_wal(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, ok = 0;

	/*
	 * 4 KB pages (SQLite's default, spelled out: queues up to version 4
	 * made 64 KB ones for bodies that are now in segment files). Every
	 * page a commit touches goes to the WAL whole: at 2 KB, 50 sessions,
	 * a group commit of 4 messages touched 11 pages, 704 KB with 64 KB
	 * pages. Only a new file takes it (a WAL file's page size is fixed).
	 */
	sqlite3_exec(db, "PRAGMA page_size = 4096", NULL, NULL, NULL);
	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ok = strcmp((const char *)sqlite3_column_text(st, 0), "wal") ==
		    0;
		if (!ok)
			snprintf(err, errlen, "cannot use WAL mode (got %s)",
			    sqlite3_column_text(st, 0));
	} else if ((rc & 0xff) == SQLITE_NOTADB)
		db_error(db, "not a SQLite database", err, errlen);
	else
		db_error(db, "cannot read", err, errlen);
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

/* Sets the per-connection pragmas (docs/queue.md, "Durability"). */
static int
set_pragmas(sqlite3 *db, char *err, size_t errlen)
{
	static const char pragmas[] = "PRAGMA synchronous = FULL;"
				      "PRAGMA foreign_keys = ON;"
				      "PRAGMA journal_size_limit = 67108864;";

	if (set_wal(db, err, errlen) != 0)
		return -1;
	if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		db_error(db, "cannot set pragmas", err, errlen);
		return -1;
	}
	if (query_int(db, "PRAGMA synchronous") != 2) {
		snprintf(err, errlen, "synchronous=FULL did not take");
		return -1;
	}
	return 0;
}

/*
 * Creates the schema in a fresh database, migrates an older one up to
 * the current version (in the same transaction), refuses a newer one (written
 * by a newer mailtrigger: we cannot know its rules).
 */
static int
check_schema(sqlite3 *db, char *err, size_t errlen)
{
	long long version;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	version = query_int(db, "PRAGMA user_version");
	if (version < 0)
		goto fail_db;
	if (version == 0 &&
	    sqlite3_exec(db, schema_v1, NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	if (version <= 1 &&
	    sqlite3_exec(db, schema_v2, NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	if (version <= 2 &&
	    sqlite3_exec(db, schema_v3, NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	if (version <= 3 &&
	    sqlite3_exec(db, schema_v4, NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	if (version <= 4 &&
	    sqlite3_exec(db, schema_v5, NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	if (version > QUEUE_SCHEMA_VERSION) {
		snprintf(err, errlen,
		    "schema version %lld is newer than this mailtrigger "
		    "supports (%d)",
		    version, QUEUE_SCHEMA_VERSION);
		goto fail;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	return 0;
fail_db:
	db_error(db, "cannot create schema", err, errlen);
fail:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
prepare(struct qdb *q, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(q->db, sql_ins_message, -1,
		SQLITE_PREPARE_PERSISTENT, &q->ins_message,
		NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(q->db, sql_ins_event, -1,
		SQLITE_PREPARE_PERSISTENT, &q->ins_event, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(q->db, sql_ins_rejection, -1,
		SQLITE_PREPARE_PERSISTENT, &q->ins_rejection,
		NULL) != SQLITE_OK) {
		db_error(q->db, "schema does not match version 1", err, errlen);
		return -1;
	}
	return 0;
}

/* Opens the connection and refuses a database we could only read. */
static int
db_connect(struct qdb *q, const char *path, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX;

	if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
		db_error(q->db, "cannot open", err, errlen);
		return -1;
	}
	sqlite3_extended_result_codes(q->db, 1);
	if (sqlite3_db_readonly(q->db, "main") != 0) {
		snprintf(err, errlen, "not writable (opened read-only)");
		return -1;
	}
	queue_set_busy_handler(q->db, &busy_limit_ms);
	return 0;
}

struct qdb *
qdb_open(const char *path, char *err, size_t errlen)
{
	struct qdb *q = xcalloc(1, sizeof(*q));

	if (make_parents(path, err, errlen) != 0 ||
	    create_private(path, err, errlen) != 0 ||
	    db_connect(q, path, err, errlen) != 0 ||
	    set_pragmas(q->db, err, errlen) != 0 ||
	    check_schema(q->db, err, errlen) != 0 ||
	    prepare(q, err, errlen) != 0)
		goto fail;
	/* Never a number a row names, even if its file was deleted by hand. */
	q->segs = segment_writer_open(path,
	    query_int(q->db, "SELECT ifnull(max(seg), 0) FROM messages"), err,
	    errlen);
	if (q->segs == NULL)
		goto fail;
	q->ckpt = checkpointer_start(path, q->db, err, errlen);
	if (q->ckpt == NULL)
		goto fail;
	return q;
fail:
	qdb_close(q);
	return NULL;
}

void
qdb_close(struct qdb *q)
{
	if (q == NULL)
		return;
	sqlite3_finalize(q->ins_message);
	sqlite3_finalize(q->ins_event);
	sqlite3_finalize(q->ins_rejection);
	checkpointer_stop(q->ckpt);
	segment_writer_close(q->segs);
	/* The last connection to close checkpoints and removes the WAL. */
	sqlite3_close(q->db);
	free(q);
}

/*
 * Returns v as a compact JSON array of strings (free() it), or NULL when a
 * string is not valid UTF-8 (JSON cannot hold it; RFC 8259 sec. 8.1).
 */
static char *
json_list(char *const *v, size_t n)
{
	json_t *a = json_array(), *s;
	char *text = NULL;
	size_t i;

	if (a == NULL)
		abort(); /* jansson's allocation failed: as xmalloc */
	for (i = 0; i < n; i++) {
		s = json_string(v[i]);
		if (s == NULL)
			goto done;
		json_array_append_new(a, s);
	}
	text = json_dumps(a, JSON_COMPACT);
done:
	json_decref(a);
	return text;
}

/* Steps a bound INSERT and resets it for the next use. */
static int
step_insert(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The row; ref->seg is -1 for a body stored in it (data). */
static int
insert_message(struct qdb *q, const struct queue_message *m,
    const struct segment_ref *ref)
{
	sqlite3_stmt *st = q->ins_message;

	sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, m->received_at_ms);
	sqlite3_bind_text(st, 3, m->mail_from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->client_ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, m->helo, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, m->tls);
	sqlite3_bind_int(st, 7, m->smtputf8);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)m->len);
	if (ref->seg >= 0) {
		sqlite3_bind_null(st, 9);
		sqlite3_bind_int64(st, 10, ref->seg);
		sqlite3_bind_int64(st, 11, ref->off);
	} else if (m->len == 0) /* an empty blob, not NULL */
		sqlite3_bind_zeroblob(st, 9, 0);
	else
		sqlite3_bind_blob64(st, 9, m->data, m->len, SQLITE_STATIC);
	return step_insert(st);
}

/*
 * events.rewrite: {"received", "recovered", "evidence"} of a recipient
 * recovered from CNAME expansion (docs/queue.md), or NULL.
 */
static char *
rewrite_json(const struct queue_event *e)
{
	json_t *o;
	char *text;

	if (e->rewrite_received == NULL || e->rewrite_recovered == NULL ||
	    e->rewrite_evidence == NULL)
		return NULL;
	o = json_pack("{s:s, s:s, s:s}", "received", e->rewrite_received,
	    "recovered", e->rewrite_recovered, "evidence", e->rewrite_evidence);
	if (o == NULL)
		return NULL; /* not UTF-8: the parser lets none through */
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* The event row; created_at and next_attempt_at are the arrival time. */
static int
insert_event(struct qdb *q, const struct queue_message *m,
    const struct queue_event *e, const char *recipients, const char *rcpt_to)
{
	sqlite3_stmt *st = q->ins_event;
	char *rewrite = rewrite_json(e);
	int rc;

	sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->instance, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->trigger, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->tag != NULL ? e->tag : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 6, recipients, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, rcpt_to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, m->received_at_ms);
	sqlite3_bind_int64(st, 9, m->received_at_ms);
	if (rewrite != NULL)
		sqlite3_bind_text(st, 10, rewrite, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 10);
	rc = step_insert(st);
	free(rewrite);
	return rc;
}

/* Inserts the message and its events; err is set on failure. */
static int
store_one(struct qdb *q, const struct queue_message *m,
    const struct segment_ref *ref, char *err, size_t errlen)
{
	char *recipients = NULL, *rcpt_to = NULL;
	size_t i;
	int rc = insert_message(q, m, ref);

	for (i = 0; rc == SQLITE_OK && i < m->n_events; i++) {
		recipients = json_list(m->events[i].recipients,
		    m->events[i].n_recipients);
		rcpt_to = json_list(m->events[i].rcpt_to,
		    m->events[i].n_rcpt_to);
		if (recipients == NULL || rcpt_to == NULL) {
			snprintf(err, errlen,
			    "message %s: event %s: a "
			    "recipient is not valid UTF-8",
			    m->id, m->events[i].id);
			rc = SQLITE_MISUSE;
		} else
			rc = insert_event(q, m, &m->events[i], recipients,
			    rcpt_to);
		free(recipients);
		free(rcpt_to);
	}
	if (rc != SQLITE_OK && rc != SQLITE_MISUSE)
		snprintf(err, errlen, "message %s: %s", m->id,
		    sqlite3_errmsg(q->db));
	return rc;
}

/* NULL is stored as "": the trace groups by these columns. */
static void
bind_str(sqlite3_stmt *st, int col, const char *s)
{
	sqlite3_bind_text(st, col, s != NULL ? s : "", -1, SQLITE_STATIC);
}

static int
insert_rejection(struct qdb *q, const struct queue_rejection *r)
{
	sqlite3_stmt *st = q->ins_rejection;

	sqlite3_bind_int64(st, 1, r->at_ms);
	bind_str(st, 2, r->client_ip);
	bind_str(st, 3, r->helo);
	bind_str(st, 4, r->mail_from);
	bind_str(st, 5, r->rcpt);
	sqlite3_bind_int(st, 6, r->code);
	bind_str(st, 7, r->reply);
	return step_insert(st);
}

/* The rejections of b. */
static int
store_rejections(struct qdb *q, const struct qdb_batch *b, char *err,
    size_t errlen)
{
	int rc = SQLITE_OK;
	size_t i;

	for (i = 0; rc == SQLITE_OK && i < b->n_rejs; i++)
		rc = insert_rejection(q, &b->rejs[i]);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "rejections: %s", sqlite3_errmsg(q->db));
	return rc;
}

/*
 * Appends the batch's large bodies to the segment and makes them durable
 * (before the rows that point at them are committed); refs[i] says where
 * message i's body went, seg -1 for one that stays in its row.
 */
static int
store_bodies(struct qdb *q, const struct qdb_batch *b, struct segment_ref *refs,
    char *err, size_t errlen)
{
	const struct queue_message *m;
	size_t i;

	for (i = 0; i < b->n_msgs; i++) {
		m = b->msgs[i];
		refs[i].seg = -1;
		if (m->len > SEGMENT_INLINE_MAX &&
		    segment_append(q->segs, m->data, m->len, &refs[i], err,
			errlen) != 0)
			return -1;
	}
	return segment_batch_sync(q->segs, err, errlen);
}

enum queue_status
qdb_store(struct qdb *q, const struct qdb_batch *b, char *err, size_t errlen)
{
	struct segment_ref *refs = xcalloc(b->n_msgs + 1, sizeof(*refs));
	bool committing = false;
	size_t i;

	segment_batch_begin(q->segs);
	if (store_bodies(q, b, refs, err, errlen) != 0)
		goto fail;
	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto fail_db;
	for (i = 0; i < b->n_msgs; i++)
		if (store_one(q, b->msgs[i], &refs[i], err, errlen) !=
		    SQLITE_OK)
			goto fail;
	if (store_rejections(q, b, err, errlen) != SQLITE_OK)
		goto fail;
	/* synchronous=FULL: COMMIT returns after the WAL is fsynced. */
	committing = true;
	if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_db;
	free(refs);
	return QUEUE_OK;
fail_db:
	snprintf(err, errlen, "%s", sqlite3_errmsg(q->db));
fail:
	/* SQLite may have rolled back already (SQLITE_FULL, some IOERRs). */
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	segment_batch_abandon(q->segs, committing);
	free(refs);
	return QUEUE_ERR_IO;
}
