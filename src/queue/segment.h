/*
 * segment - large message bodies in append-only files beside the queue
 * database (docs/queue.md, "Message bodies").
 *
 * Internal to src/queue/. A body longer than SEGMENT_INLINE_MAX is not
 * stored in its messages row (data is NULL) but appended to a segment,
 * QUEUE-bodies/NNNNNNNNNN next to the database file QUEUE, and the row
 * keeps where: (seg, seg_off; size is its length). In the database the
 * body would be written twice, to the WAL and again by the checkpoint;
 * here it is written once.
 *
 * Durability: the writer appends a batch's bodies, fdatasyncs the
 * segment (and the directory when the segment is new) and only then
 * commits the batch's rows, so a committed row never points at bytes that
 * are not on disk. Bytes that were appended but never committed (a crash,
 * a failed commit) are referenced by nothing. A segment is deleted once
 * no row references it, except the newest, which the writer may still be
 * appending to (segment_sweep()).
 *
 * Not pure: files. The writer is the queue writer thread's alone; the
 * readers open the file for each body.
 */
#ifndef MT_QUEUE_SEGMENT_H
#define MT_QUEUE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/*
 * Bodies up to this size stay in their row: writing them twice (the WAL,
 * then the checkpoint: at most 5 pages of 4 KB) costs less than the
 * second fdatasync per batch a segment needs, which small messages,
 * fsync-bound at 2 KB, would pay most.
 */
#define SEGMENT_INLINE_MAX (16 * 1024)
/* The writer starts a new segment once its current one is this large. */
#define SEGMENT_ROTATE_BYTES (64 * 1024 * 1024)
/*
 * The newest bytes of the current segment that stay in the page cache for
 * delivery to read; older ones are dropped once on disk.
 */
#define SEGMENT_CACHE_BYTES (32 * 1024 * 1024)
/* What follows the database's path to name the segment directory. */
#define SEGMENT_DIR_SUFFIX "-bodies"

struct segment_writer;

/* Where a body is: segment number and offset in it. */
struct segment_ref {
	int64_t seg;
	int64_t off;
};

/*
 * Creates (0700) or opens the segment directory of the database at
 * db_path. The next segment's number is above every file's there and
 * above referenced, the highest number a row names. NULL with a reason
 * naming the directory in err on failure.
 */
struct segment_writer *segment_writer_open(const char *db_path,
    int64_t referenced, char *err, size_t errlen);
void segment_writer_close(struct segment_writer *w);

/* Starts a batch; moves on to a new segment once the current one is full. */
void segment_batch_begin(struct segment_writer *w);
/*
 * Appends len bytes to the batch and says where in *ref. -1 with a
 * reason in err on failure (ENOSPC, EFBIG, EIO); the batch then fails.
 */
int segment_append(struct segment_writer *w, const void *data, size_t len,
    struct segment_ref *ref, char *err, size_t errlen);
/* Makes the batch's bytes durable; 0 at once when it appended nothing. */
int segment_batch_sync(struct segment_writer *w, char *err, size_t errlen);
/*
 * The batch's rows will not be used. committing: their COMMIT was tried
 * and failed, so whether they are on disk is unknown: the bytes stay and
 * the next batch starts a new segment. Otherwise the bytes are cut off
 * again (a segment the batch created is removed).
 */
void segment_batch_abandon(struct segment_writer *w, bool committing);

/*
 * Registers the SQL function mt_body(data, seg, seg_off, size) on db: data
 * when seg is NULL, else the body read from the segment of the database
 * db is connected to. Readers select mt_body(...) where they selected
 * data. A body that cannot be read fails the statement with a message
 * naming the segment file.
 */
void segment_register_sql(sqlite3 *db);

/*
 * Deletes every segment of db's queue that no row references, except
 * the newest. Adds the number deleted to *removed. -1 with a reason in
 * err on failure (what it deleted stays deleted). Not in a transaction.
 */
int segment_sweep(sqlite3 *db, size_t *removed, char *err, size_t errlen);

#endif
