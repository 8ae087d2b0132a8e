/*
 * checkpoint - WAL checkpoints in a thread of their own, off the intake
 * writer's path (docs/queue.md, "Checkpoints").
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL
 * past 1,000 pages: with the 64 KB pages of queues up to version 4 (new
 * ones have 4 KB pages) the intake writer
 * stopped every 64 MB for 40 to 170 ms to copy them into the database and
 * fsync it, and every session waiting for its 250 waited with it. Here
 * the writer's commit only notes the WAL's size (a wal hook); past
 * CKPT_BYTES a thread with its own connection runs a PASSIVE checkpoint,
 * which never blocks the writer, followed past CKPT_RESTART_BYTES by a
 * short RESTART one that lets the WAL start over (checkpoint.c). Should
 * the thread fall behind anyway, the writer checkpoints itself past
 * CKPT_SYNC_BYTES, as SQLite would, so the WAL stays bounded. Internal to
 * src/queue/.
 */
#ifndef MT_QUEUE_CHECKPOINT_H
#define MT_QUEUE_CHECKPOINT_H

#include <stddef.h>

#include <sqlite3.h>

/* WAL sizes: pages times the page size (4 KB for a new queue). */
#define CKPT_BYTES (8LL << 20)          /* wake the thread */
#define CKPT_RESTART_BYTES (64LL << 20) /* and restart the WAL */
#define CKPT_SYNC_BYTES (256LL << 20)   /* the writer checkpoints itself */

struct checkpointer;

/*
 * Opens a connection of its own to the queue at path and starts the
 * thread, then gives writer (the intake connection, whose thread runs
 * the hook) the wal hook in place of SQLite's automatic checkpoint. NULL
 * with err on failure; writer is then untouched.
 */
struct checkpointer *checkpointer_start(const char *path, sqlite3 *writer,
    char *err, size_t errlen);
/*
 * Gives writer SQLite's automatic checkpoint back, stops the thread (a
 * checkpoint in progress finishes) and closes its connection.
 */
void checkpointer_stop(struct checkpointer *c);

#endif
