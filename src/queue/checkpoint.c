/*
 * checkpoint - WAL checkpoints in a thread of their own
 * (queue/checkpoint.h).
 */
#include "queue/checkpoint.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "queue/busy.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/xmalloc.h"

#define CKPT_AUTO_DEFAULT 1000 /* SQLite's own, given back at stop */

static const unsigned busy_limit_ms = 10000;

struct checkpointer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool due, quit;  /* under mu */
	sqlite3 *db;     /* the thread's own connection */
	sqlite3 *writer; /* the intake connection */
	long long page_size;
};

/* After each commit on the writer's connection; frames: the WAL's size. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct checkpointer *c = arg;
	long long bytes = frames * c->page_size;

	if (bytes >= CKPT_SYNC_BYTES) {
		/* The thread fell behind: bound the WAL as SQLite would. */
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
		    NULL, NULL);
		return SQLITE_OK;
	}
	if (bytes >= CKPT_BYTES) {
		pthread_mutex_lock(&c->mu);
		c->due = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

/*
 * A PASSIVE checkpoint copies what is committed without blocking anyone,
 * but under a steady stream the writer keeps appending, so the WAL is
 * never wholly copied at the moment a transaction starts and never
 * restarts: it grew to CKPT_SYNC_BYTES and the writer stopped to
 * checkpoint. Past CKPT_RESTART_BYTES a RESTART checkpoint follows: it
 * waits for the transaction in progress, copies the few frames the
 * passive one left, and makes the next transaction write the WAL from
 * its start, holding new writers back only meanwhile.
 */
static int
checkpoint(struct checkpointer *c)
{
	int log = 0, copied = 0;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
	    SQLITE_CHECKPOINT_PASSIVE, &log, &copied);

	if (rc == SQLITE_OK && log * c->page_size >= CKPT_RESTART_BYTES)
		rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
		    SQLITE_CHECKPOINT_RESTART, NULL, NULL);
	return rc;
}

static void *
checkpoint_main(void *arg)
{
	struct checkpointer *c = arg;
	int rc;

	pthread_setname_np(pthread_self(), "mt-checkpoint");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->due && !c->quit)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->quit)
			break;
		c->due = false;
		pthread_mutex_unlock(&c->mu);
		rc = checkpoint(c);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_msg(LOG_ERROR, "checkpoint_failed",
			    sqlite3_errmsg(c->db));
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* The database's page size; SQLite's default when it cannot tell. */
static long long
page_size(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	long long n = 4096;

	if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n > 0 ? n : 4096;
}

struct checkpointer *
checkpointer_start(const char *path, sqlite3 *writer, char *err, size_t errlen)
{
	struct checkpointer *c = xcalloc(1, sizeof(*c));

	/*
	 * The read: a connection learns that the file is in WAL mode when it
	 * first reads it; until then a checkpoint is a silent no-op.
	 */
	if (sqlite3_open_v2(path, &c->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL,
		NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "checkpoint connection: %s",
		    c->db != NULL ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	queue_set_busy_handler(c->db, &busy_limit_ms);
	c->page_size = page_size(c->db);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (thread_start_quiet(&c->thread, checkpoint_main, c) != 0)
		abort(); /* no thread: as an allocation failure */
	c->writer = writer;
	sqlite3_wal_hook(writer, wal_hook, c);
	return c;
}

void
checkpointer_stop(struct checkpointer *c)
{
	if (c == NULL)
		return;
	sqlite3_wal_autocheckpoint(c->writer, CKPT_AUTO_DEFAULT);
	pthread_mutex_lock(&c->mu);
	c->quit = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
