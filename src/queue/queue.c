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
 * Refused RCPTs (queue_record_rejection()) wait in a bounded backlog and
 * ride along with the next batch; with no message to ride with, they are
 * committed on their own after QUEUE_REJ_DELAY_MS. More: docs/queue.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "queue/backend.h"
#include "queue/busy.h"
#include "queue/queue.h"
#include "queue/queue_stats.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/xmalloc.h"

/* One transaction holds at most this many jobs and bytes of data. */
#define QUEUE_BATCH_JOBS 256
#define QUEUE_BATCH_BYTES (64 * 1024 * 1024)

#define QUEUE_ERR_MAX 512

/*
 * Refused RCPTs: a row waits at most QUEUE_REJ_DELAY_MS for a message
 * commit to join, or until QUEUE_REJ_BATCH rows wait; then they are
 * committed on their own. Dropped rows are logged at most once per
 * QUEUE_REJ_LOG_MS. Their retention is queue/retention.c's.
 */
#define QUEUE_REJ_DELAY_MS 1000
#define QUEUE_REJ_BATCH 1000
#define QUEUE_REJ_LOG_MS (60 * 1000)

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
	void (*on_commit)(void);      /* queue_on_commit() */
	struct queue_rejection *rejs; /* backlog; each row's strings: 1 block */
	size_t n_rejs, cap_rejs;
	int64_t rejs_since;    /* monotonic ms: the oldest row came */
	int64_t rej_logged;    /* monotonic ms of the last "dropped" line */
	uint64_t rej_unlogged; /* rows dropped since that line */
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

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
log_commit_failure(size_t jobs, size_t rejs, const char *err)
{
	struct log_record r;

	log_begin(&r, LOG_ERROR, "queue commit failed");
	log_kv_uint(&r, "messages", jobs);
	if (rejs > 0)
		log_kv_uint(&r, "rejections", rejs);
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
	struct qdb_batch b = { 0 };
	struct queue_job *job;
	char err[QUEUE_ERR_MAX];

	b.n_msgs = 1;
	TAILQ_FOREACH(job, batch, entry)
	{
		b.msgs = &job->m;
		job->status = qdb_store(q->db, &b, err, sizeof(err));
		if (job->status == QUEUE_OK) {
			d->commits++;
			d->messages++;
		} else {
			log_commit_failure(1, 0, err);
			d->failed_commits++;
			d->failed_jobs++;
		}
	}
}

/*
 * After a failed batch: the messages again, each alone (without the
 * rejections, which must never fail a message), then the rejections
 * alone once; those that fail again are dropped (counted).
 */
static void
commit_failed(struct queue *q, struct job_list *batch, struct qdb_batch *b,
    struct queue_stats *d)
{
	char err[QUEUE_ERR_MAX];
	size_t n_msgs = b->n_msgs;

	if (n_msgs > 1 || (n_msgs == 1 && b->n_rejs > 0))
		commit_singly(q, batch, d);
	else if (n_msgs == 1) {
		TAILQ_FIRST(batch)->status = QUEUE_ERR_IO;
		d->failed_jobs = 1;
	}
	if (b->n_rejs == 0)
		return;
	if (n_msgs > 0) { /* not yet tried alone */
		b->n_msgs = 0;
		if (qdb_store(q->db, b, err, sizeof(err)) == QUEUE_OK) {
			d->commits++;
			d->rejections += b->n_rejs;
			return;
		}
		log_commit_failure(0, b->n_rejs, err);
	}
	d->rejections_dropped += b->n_rejs;
}

/* Adds d to the queue's counters. */
static void
add_stats(struct queue *q, const struct queue_stats *d)
{
	lock(q);
	q->stats.commits += d->commits;
	q->stats.messages += d->messages;
	q->stats.failed_commits += d->failed_commits;
	q->stats.failed_jobs += d->failed_jobs;
	q->stats.rejections += d->rejections;
	q->stats.rejections_dropped += d->rejections_dropped;
	unlock(q);
}

/*
 * Stores the batch's jobs and rejections in one transaction (one fsync),
 * falling back as commit_failed() says. Sets each job's status and adds
 * to the stats.
 */
static void
commit_batch(struct queue *q, struct job_list *batch, size_t n,
    const struct queue_rejection *rejs, size_t n_rejs)
{
	struct queue_message **msgs = xcalloc(n + 1, sizeof(*msgs));
	struct qdb_batch b = { msgs, n, rejs, n_rejs };
	struct queue_stats d = { 0 };
	struct queue_job *job;
	char err[QUEUE_ERR_MAX];
	size_t i = 0;

	TAILQ_FOREACH(job, batch, entry)
	msgs[i++] = job->m;
	if (qdb_store(q->db, &b, err, sizeof(err)) == QUEUE_OK) {
		d.commits = 1;
		d.messages = n;
		d.rejections = n_rejs;
		TAILQ_FOREACH(job, batch, entry)
		job->status = QUEUE_OK;
	} else {
		log_commit_failure(n, n_rejs, err);
		d.failed_commits = 1;
		commit_failed(q, batch, &b, &d);
	}
	free(msgs);
	add_stats(q, &d);
}

/*
 * True when the writer has work now. Otherwise *deadline is the monotonic
 * ms at which waiting rejections are due, or 0 when none wait. Called
 * with q->mu held.
 */
static bool
writer_ready(struct queue *q, int64_t *deadline)
{
	*deadline = 0;
	if (q->closing)
		return true;
	if (q->paused)
		return false;
	if (!TAILQ_EMPTY(&q->pending))
		return true;
	if (q->n_rejs == 0)
		return false;
	*deadline = q->rejs_since + QUEUE_REJ_DELAY_MS;
	return q->n_rejs >= QUEUE_REJ_BATCH ||
	    clock_ms(CLOCK_MONOTONIC) >= *deadline;
}

/* Waits (q->mu held) until writer_ready(); q->wake uses CLOCK_MONOTONIC. */
static void
writer_wait(struct queue *q)
{
	struct timespec ts;
	int64_t deadline;

	while (!writer_ready(q, &deadline)) {
		if (deadline == 0) {
			pthread_cond_wait(&q->wake, &q->mu);
			continue;
		}
		ts.tv_sec = (time_t)(deadline / 1000);
		ts.tv_nsec = (long)(deadline % 1000) * 1000000;
		pthread_cond_timedwait(&q->wake, &q->mu, &ts);
	}
}

static void log_rejections_dropped(uint64_t n);

/* Frees rows copied by queue_record_rejection(), and the array. */
static void
free_rejections(struct queue_rejection *rejs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((void *)rejs[i].client_ip); /* the row's block */
	free(rejs);
}

/* The writer thread: batch, commit, report, until closed and drained. */
static void *
writer_main(void *arg)
{
	struct queue *q = arg;
	struct queue_rejection *rejs;
	struct job_list batch;
	struct queue_job *job;
	void (*on_commit)(void);
	size_t n, n_rejs;

	for (;;) {
		TAILQ_INIT(&batch);
		lock(q);
		writer_wait(q);
		n = take_batch(q, &batch);
		rejs = q->rejs;
		n_rejs = q->n_rejs;
		q->rejs = NULL;
		q->n_rejs = q->cap_rejs = 0;
		unlock(q);
		if (n == 0 && n_rejs == 0)
			break; /* closing, and nothing is left */
		/* In turn with delivery's batches (queue/busy.c). */
		queue_turn_take();
		commit_batch(q, &batch, n, rejs, n_rejs);
		queue_turn_give();
		free_rejections(rejs, n_rejs);
		if (n == 0)
			continue;
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

/* q->wake times out on CLOCK_MONOTONIC (writer_wait()). */
static void
init_wake(struct queue *q)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->wake, &attr);
	pthread_condattr_destroy(&attr);
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
	init_wake(q);
	rc = thread_start_quiet(&q->writer, writer_main, q);
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
	if (q->rej_unlogged > 0)
		log_rejections_dropped(q->rej_unlogged);
	free_rejections(q->rejs, q->n_rejs);
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

static void
log_rejections_dropped(uint64_t n)
{
	struct log_record r;

	log_begin(&r, LOG_WARN, "rejections dropped");
	log_kv_uint(&r, "dropped", n);
	log_kv_uint(&r, "backlog", QUEUE_REJECTIONS_BACKLOG);
	log_end(&r);
}

/* A copy of r whose strings live in one block, starting at client_ip. */
static void
copy_rejection(const struct queue_rejection *r, struct queue_rejection *out)
{
	const char *in[5] = { r->client_ip, r->helo, r->mail_from, r->rcpt,
		r->reply };
	const char **to[5] = { &out->client_ip, &out->helo, &out->mail_from,
		&out->rcpt, &out->reply };
	size_t len[5], total = 0, i;
	char *p;

	for (i = 0; i < 5; i++) {
		len[i] = in[i] != NULL ? strlen(in[i]) : 0;
		total += len[i] + 1;
	}
	p = xmalloc(total);
	for (i = 0; i < 5; i++) {
		if (len[i] > 0)
			memcpy(p, in[i], len[i]);
		p[len[i]] = '\0';
		*to[i] = p;
		p += len[i] + 1;
	}
	out->at_ms = r->at_ms;
	out->code = r->code;
}

/*
 * Appends a copy of r to the backlog (the writer is woken by the first
 * row, which starts its delay, and at QUEUE_REJ_BATCH rows), or drops it
 * and logs the drops at most once per QUEUE_REJ_LOG_MS.
 */
bool
queue_record_rejection(struct queue *q, const struct queue_rejection *r)
{
	struct queue_rejection row;
	int64_t now = clock_ms(CLOCK_MONOTONIC);
	uint64_t report = 0;
	bool kept = false;

	copy_rejection(r, &row);
	lock(q);
	if (!q->closing && q->n_rejs < QUEUE_REJECTIONS_BACKLOG) {
		if (q->n_rejs == q->cap_rejs) {
			q->cap_rejs = q->cap_rejs ? q->cap_rejs * 2 : 64;
			q->rejs = xreallocarray(q->rejs, q->cap_rejs,
			    sizeof(*q->rejs));
		}
		if (q->n_rejs == 0)
			q->rejs_since = now;
		q->rejs[q->n_rejs++] = row;
		kept = true;
		if (q->n_rejs == 1 || q->n_rejs == QUEUE_REJ_BATCH)
			pthread_cond_signal(&q->wake);
	} else {
		q->stats.rejections_dropped++;
		q->rej_unlogged++;
		if (q->rej_logged == 0 ||
		    now - q->rej_logged >= QUEUE_REJ_LOG_MS) {
			report = q->rej_unlogged;
			q->rej_unlogged = 0;
			q->rej_logged = now;
		}
	}
	unlock(q);
	if (!kept)
		free((void *)row.client_ip);
	if (report > 0)
		log_rejections_dropped(report);
	return kept;
}
