/*
 * queue - jobs, the writer thread and group commit (src/queue/queue.h).
 *
 * Not pure: owns a thread, a mutex, an eventfd and the database (through
 * src/queue/backend.h). queue_submit() appends a job to the pending list
 * and wakes the writer. The writer takes every pending job (up to a batch
 * cap), stores them all in ONE transaction, i.e. one fsync (group commit),
 * moves them to the done list and bumps the eventfd. queue_dispatch(), in
 * the loop thread, runs the callbacks. A job is owned by the queue from
 * submit to dispatch; its message is freed by the writer right after the
 * commit so a large message does not wait for the loop to be released.
 * More: docs/queue.md.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include "queue/backend.h"
#include "queue/queue.h"
#include "queue/queue_stats.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* One transaction holds at most this many jobs and bytes of data. */
#define QUEUE_BATCH_JOBS 256
#define QUEUE_BATCH_BYTES (64 * 1024 * 1024)

#define QUEUE_ERR_MAX 512

struct queue_job {
	TAILQ_ENTRY(queue_job) entry;
	struct queue *q;
	struct queue_message *m; /* NULL once the writer is done with it */
	queue_done_cb *cb;
	void *arg;
	enum queue_status status;
	bool cancelled; /* under q->mu */
};

TAILQ_HEAD(job_list, queue_job);

struct queue {
	struct qdb *db; /* the writer's, then queue_close()'s */
	pthread_t writer;
	int notify_fd;           /* eventfd, non-blocking */
	pthread_mutex_t mu;      /* guards everything below */
	pthread_cond_t wake;     /* pending grew, pause ended, or closing */
	struct job_list pending; /* submitted, not yet taken by the writer */
	struct job_list done;    /* stored or failed, waiting for dispatch */
	size_t n_jobs;           /* submitted and not yet dispatched */
	bool closing;
	bool paused; /* tests: queue_pause_writer() */
	struct queue_stats stats;
	void (*on_commit)(void); /* queue_on_commit() */
};

static void
lock(struct queue *q)
{
	if (pthread_mutex_lock(&q->mu) != 0)
		abort();
}

static void
unlock(struct queue *q)
{
	if (pthread_mutex_unlock(&q->mu) != 0)
		abort();
}

/* Makes the notify fd readable. An eventfd write only fails when full. */
static void
notify(struct queue *q)
{
	uint64_t one = 1;

	while (write(q->notify_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/*
 * Moves pending jobs into batch: all of them, up to the caps, but always
 * at least one so a message larger than the byte cap is still stored.
 * Called with q->mu held.
 */
static size_t
take_batch(struct queue *q, struct job_list *batch)
{
	struct queue_job *job;
	size_t n = 0, bytes = 0;

	while ((job = TAILQ_FIRST(&q->pending)) != NULL) {
		if (n == QUEUE_BATCH_JOBS ||
		    (n > 0 && bytes + job->m->len > QUEUE_BATCH_BYTES))
			break;
		TAILQ_REMOVE(&q->pending, job, entry);
		TAILQ_INSERT_TAIL(batch, job, entry);
		bytes += job->m->len;
		n++;
	}
	return n;
}

static void
log_commit_failure(size_t jobs, const char *err)
{
	struct log_record r;

	log_begin(&r, LOG_ERROR, "queue commit failed");
	log_kv_uint(&r, "messages", jobs);
	log_kv_str(&r, "error", err);
	log_end(&r);
}

/*
 * After a failed batch, tries each job alone, so one message the database
 * refuses does not fail the others (a disk that is full stays full, and
 * they fail too). Sets each job's status and counts into d.
 */
static void
commit_singly(struct queue *q, struct job_list *batch, struct queue_stats *d)
{
	struct queue_job *job;
	char err[QUEUE_ERR_MAX];

	TAILQ_FOREACH(job, batch, entry)
	{
		job->status = qdb_store(q->db, &job->m, 1, err, sizeof(err));
		if (job->status == QUEUE_OK) {
			d->commits++;
			d->messages++;
		} else {
			log_commit_failure(1, err);
			d->failed_commits++;
			d->failed_jobs++;
		}
	}
}

/*
 * Stores the batch in one transaction (one fsync), falling back to one
 * transaction per job when that fails. Sets each job's status and adds to
 * the stats.
 */
static void
commit_batch(struct queue *q, struct job_list *batch, size_t n)
{
	struct queue_message **msgs = xcalloc(n, sizeof(*msgs));
	struct queue_stats d = { 0 };
	struct queue_job *job;
	char err[QUEUE_ERR_MAX];
	size_t i = 0;

	TAILQ_FOREACH(job, batch, entry)
	msgs[i++] = job->m;
	if (qdb_store(q->db, msgs, n, err, sizeof(err)) == QUEUE_OK) {
		d.commits = 1;
		d.messages = n;
		TAILQ_FOREACH(job, batch, entry)
		job->status = QUEUE_OK;
	} else {
		log_commit_failure(n, err);
		d.failed_commits = 1;
		if (n > 1)
			commit_singly(q, batch, &d);
		else {
			TAILQ_FIRST(batch)->status = QUEUE_ERR_IO;
			d.failed_jobs = 1;
		}
	}
	free(msgs);
	lock(q);
	q->stats.commits += d.commits;
	q->stats.messages += d.messages;
	q->stats.failed_commits += d.failed_commits;
	q->stats.failed_jobs += d.failed_jobs;
	unlock(q);
}

/* The writer thread: batch, commit, report, until closed and drained. */
static void *
writer_main(void *arg)
{
	struct queue *q = arg;
	struct job_list batch;
	struct queue_job *job;
	void (*on_commit)(void);
	size_t n;

	for (;;) {
		TAILQ_INIT(&batch);
		lock(q);
		while (!q->closing && (q->paused || TAILQ_EMPTY(&q->pending)))
			pthread_cond_wait(&q->wake, &q->mu);
		n = take_batch(q, &batch);
		unlock(q);
		if (n == 0)
			break; /* closing, and nothing is left */
		commit_batch(q, &batch, n);
		/* Release the data now rather than when the loop dispatches. */
		TAILQ_FOREACH(job, &batch, entry)
		{
			queue_message_free(job->m);
			job->m = NULL;
		}
		lock(q);
		TAILQ_CONCAT(&q->done, &batch, entry);
		on_commit = q->on_commit;
		unlock(q);
		if (on_commit != NULL)
			on_commit();
		notify(q);
	}
	return NULL;
}

/* Starts the writer with every signal blocked: the loop thread takes them. */
static int
start_writer(struct queue *q)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&q->writer, NULL, writer_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * Opens the database (see qdb_open() for what is checked) and starts the
 * writer. Returns NULL with a reason in err on failure.
 */
struct queue *
queue_open(const char *path, char *err, size_t errlen)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	int rc;

	q->notify_fd = -1;
	q->db = qdb_open(path, err, errlen);
	if (q->db == NULL)
		goto fail;
	q->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->notify_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	TAILQ_INIT(&q->pending);
	TAILQ_INIT(&q->done);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->wake, NULL);
	rc = start_writer(q);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start writer thread: %s",
		    strerror(rc));
		pthread_cond_destroy(&q->wake);
		pthread_mutex_destroy(&q->mu);
		goto fail;
	}
	return q;
fail:
	if (q->notify_fd >= 0)
		close(q->notify_fd);
	qdb_close(q->db);
	free(q);
	return NULL;
}

/*
 * Stops taking new jobs (later submissions complete with
 * QUEUE_ERR_CLOSED), lets the writer commit everything pending, joins it,
 * runs every remaining callback through queue_dispatch() (so each runs
 * exactly once, as queue_submit() promises: cancel the jobs whose owners
 * are gone first), then closes the database. Call from the loop thread.
 */
void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	lock(q);
	q->closing = true;
	pthread_cond_signal(&q->wake);
	unlock(q);
	pthread_join(q->writer, NULL);
	while (queue_pending(q) > 0)
		queue_dispatch(q);
	qdb_close(q->db);
	close(q->notify_fd);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

void
queue_on_commit(struct queue *q, void (*fn)(void))
{
	lock(q);
	q->on_commit = fn;
	unlock(q);
}

int
queue_notify_fd(struct queue *q)
{
	return q->notify_fd;
}

/*
 * Drains the notify fd, then runs the callback of every completed job that
 * was not cancelled, and frees the jobs. A callback may submit or cancel.
 */
void
queue_dispatch(struct queue *q)
{
	struct job_list ready;
	struct queue_job *job;
	uint64_t count;
	bool cancelled;

	/* Drain first: a completion after this leaves the fd readable. */
	while (read(q->notify_fd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	TAILQ_INIT(&ready);
	lock(q);
	TAILQ_CONCAT(&ready, &q->done, entry);
	unlock(q);
	while ((job = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, job, entry);
		lock(q);
		cancelled = job->cancelled;
		q->n_jobs--;
		unlock(q);
		if (!cancelled)
			job->cb(job->arg, job->status);
		queue_message_free(job->m);
		free(job);
	}
}

/*
 * Takes m and queues it for the next commit; after queue_close() has
 * begun the job completes with QUEUE_ERR_CLOSED instead. Never blocks on
 * the database.
 */
struct queue_job *
queue_submit(struct queue *q, struct queue_message *m, queue_done_cb *cb,
    void *arg)
{
	struct queue_job *job = xcalloc(1, sizeof(*job));
	bool closed;

	job->q = q;
	job->m = m;
	job->cb = cb;
	job->arg = arg;
	lock(q);
	q->n_jobs++;
	closed = q->closing;
	if (closed) {
		job->status = QUEUE_ERR_CLOSED;
		TAILQ_INSERT_TAIL(&q->done, job, entry);
	} else {
		TAILQ_INSERT_TAIL(&q->pending, job, entry);
		pthread_cond_signal(&q->wake);
	}
	unlock(q);
	if (closed)
		notify(q);
	return job;
}

/*
 * The job's callback will not run. Safe in any state of the job (pending,
 * committing, done); the queue still frees the job, and the message may
 * still be committed. Cancel from the loop thread: a cancel from another
 * thread can race with a callback already running.
 */
void
queue_job_cancel(struct queue_job *job)
{
	if (job == NULL)
		return;
	lock(job->q);
	job->cancelled = true;
	unlock(job->q);
}

size_t
queue_pending(struct queue *q)
{
	size_t n;

	lock(q);
	n = q->n_jobs;
	unlock(q);
	return n;
}

void
queue_stats(struct queue *q, struct queue_stats *out)
{
	lock(q);
	*out = q->stats;
	unlock(q);
}

void
queue_pause_writer(struct queue *q, bool paused)
{
	lock(q);
	q->paused = paused;
	pthread_cond_signal(&q->wake);
	unlock(q);
}
