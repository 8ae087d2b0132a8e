/*
 * backend - what the queue's writer thread needs from a database.
 *
 * Internal to src/queue/. queue.c owns the jobs, the writer thread and
 * group commit; a backend (sqlite.c) only opens the database and stores a
 * batch of messages in one transaction. Every call after qdb_open() is
 * made from one thread at a time (the writer thread, then the thread that
 * closes the queue), so a backend needs no locking of its own.
 */
#ifndef MT_QUEUE_BACKEND_H
#define MT_QUEUE_BACKEND_H

#include <stddef.h>

#include "queue/queue.h"

struct qdb;

/*
 * Opens (creating if needed) the database at path, checks or creates its
 * schema and prepares what qdb_store() needs. Returns NULL and writes a
 * one-line reason naming path to err on failure.
 */
struct qdb *qdb_open(const char *path, char *err, size_t errlen);

/* What one transaction stores. */
struct qdb_batch {
	struct queue_message *const *msgs;
	size_t n_msgs;
	const struct queue_rejection *rejs; /* refused RCPTs */
	size_t n_rejs;
};

/*
 * Stores the batch's messages (each with all its events) and rejections
 * in ONE transaction that is durable when this returns QUEUE_OK. On any
 * failure nothing of the batch is stored, err says why, and QUEUE_ERR_IO
 * is returned. Everything stays the caller's.
 */
enum queue_status qdb_store(struct qdb *db, const struct qdb_batch *b,
    char *err, size_t errlen);

/* Releases everything and closes the database (checkpointing its WAL). */
void qdb_close(struct qdb *db);

#endif
