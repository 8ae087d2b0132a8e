/*
 * queue_stats - counters and a test hook of the queue (src/queue/queue.h).
 *
 * Not pure. The counters are for logs, metrics and the tests that prove
 * group commit (many messages, few transactions). queue_pause_writer()
 * exists for tests only: it lets a test fill the pending list before the
 * writer looks at it, so the batch sizes it asserts do not depend on thread
 * scheduling.
 */
#ifndef MT_QUEUE_QUEUE_STATS_H
#define MT_QUEUE_QUEUE_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct queue;

struct queue_stats {
	uint64_t commits;            /* transactions committed */
	uint64_t messages;           /* messages committed */
	uint64_t failed_commits;     /* transactions rolled back */
	uint64_t failed_jobs;        /* jobs reported QUEUE_ERR_IO */
	uint64_t rejections;         /* rejections rows committed */
	uint64_t rejections_dropped; /* backlog full, closing, or failed */
};

/* Copies the counters since queue_open() into out. Any thread. */
void queue_stats(struct queue *q, struct queue_stats *out);

/*
 * For tests: while paused the writer takes no new batch (a batch already
 * taken still commits). queue_close() overrides a pause.
 */
void queue_pause_writer(struct queue *q, bool paused);

#endif
