/*
 * retention - the gateway deletes what has ended (queue/admin.h,
 * "Retention"; docs/queue.md, "Retention").
 *
 * Not pure: one thread with its own queue connection (admin_open()). A
 * pass runs at start and every RETENTION_INTERVAL_MS: ended messages
 * older than queue.retention with their events and attempts, then
 * rejections older than queue.rejection_retention or beyond
 * queue.rejections_max. Each batch (ADMIN_PURGE_BATCH rows at most) is a
 * transaction of its own, and the thread pauses RETENTION_PAUSE_MS
 * between batches, so the intake writer, which waits for the same lock,
 * is never held up for more than one short batch. Ownership: the thread
 * owns its connection; the retention values are copied under a mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "queue/admin.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/xmalloc.h"

/* Between two batches of one pass: lets intake and delivery commit. */
#define RETENTION_PAUSE_MS 20

struct retention {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* stop */
	bool stopping;
	struct queue_retention policy;
	struct admin *a;
};

/* A cutoff ms ago; INT64_MIN (nothing is older) when ms is 0: forever. */
static int64_t
cutoff(int64_t now, uint64_t ms)
{
	if (ms == 0)
		return INT64_MIN;
	if (ms > (uint64_t)now)
		return 0;
	return now - (int64_t)ms;
}

enum admin_status
retention_pass(struct admin *a, const struct queue_retention *p, int64_t now_ms,
    const struct retention_hooks *h, struct admin_purge_stats *st)
{
	static const struct retention_hooks none = { NULL, NULL, NULL };
	int64_t msg_cut = cutoff(now_ms, p->retention_ms);
	int64_t rej_cut = cutoff(now_ms, p->rejection_retention_ms);
	enum admin_status s = ADMIN_OK;
	bool more = msg_cut != INT64_MIN;

	if (h == NULL)
		h = &none;
	while (more && s == ADMIN_OK) {
		s = admin_purge_batch(a, msg_cut, ADMIN_PURGE_BATCH, h->purged,
		    h->arg, st, &more);
		if (more && h->between != NULL && !h->between(h->arg))
			return s;
	}
	more = rej_cut != INT64_MIN || p->rejections_max > 0;
	while (more && s == ADMIN_OK) {
		s = admin_trim_rejections(a, rej_cut, p->rejections_max,
		    ADMIN_PURGE_BATCH, st, &more);
		if (more && h->between != NULL && !h->between(h->arg))
			return s;
	}
	if (s == ADMIN_OK)
		s = admin_sweep_segments(a, st);
	return s;
}

/* Waits ms or until a stop; false once stopping. */
static bool
pause_ms(struct retention *r, int64_t ms)
{
	int64_t until = admin_now_ms() + ms;
	struct timespec ts = { until / 1000, (long)(until % 1000) * 1000000 };
	bool go;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping && admin_now_ms() < until)
		if (pthread_cond_timedwait(&r->wake, &r->mu, &ts) == ETIMEDOUT)
			break;
	go = !r->stopping;
	pthread_mutex_unlock(&r->mu);
	return go;
}

static bool
between_cb(void *arg)
{
	return pause_ms(arg, RETENTION_PAUSE_MS);
}

static void
one_pass(struct retention *r)
{
	struct admin_purge_stats st = { 0 };
	struct queue_retention p;
	struct log_record rec;
	enum admin_status s;

	pthread_mutex_lock(&r->mu);
	p = r->policy;
	pthread_mutex_unlock(&r->mu);
	struct retention_hooks h = { between_cb, NULL, r };

	s = retention_pass(r->a, &p, admin_now_ms(), &h, &st);
	if (s != ADMIN_OK)
		log_msg(LOG_ERROR, "retention_failed", admin_errmsg(r->a));
	if (st.messages == 0 && st.rejections == 0 && st.segments == 0)
		return;
	log_begin(&rec, LOG_INFO, "purged");
	log_kv_uint(&rec, "messages", st.messages);
	log_kv_uint(&rec, "events", st.events);
	log_kv_uint(&rec, "attempts", st.attempts);
	log_kv_uint(&rec, "rejections", st.rejections);
	log_kv_uint(&rec, "segments", st.segments);
	log_end(&rec);
}

static void *
retention_main(void *arg)
{
	struct retention *r = arg;

	do
		one_pass(r);
	while (pause_ms(r, RETENTION_INTERVAL_MS));
	return NULL;
}

struct retention *
retention_start(const struct config *cfg, char *err, size_t errlen)
{
	struct retention *r = xcalloc(1, sizeof(*r));
	char why[512];
	int rc;

	r->a = admin_open(cfg->queue_path, why, sizeof(why));
	if (r->a == NULL) {
		snprintf(err, errlen, "retention: queue %s: %s",
		    cfg->queue_path, why);
		free(r);
		return NULL;
	}
	r->policy = cfg->queue_retention;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake, NULL);
	rc = thread_start_quiet(&r->thread, retention_main, r);
	if (rc != 0) {
		snprintf(err, errlen, "retention: cannot start a thread: %s",
		    strerror(rc));
		admin_close(r->a);
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->wake);
		free(r);
		return NULL;
	}
	return r;
}

void
retention_set_config(struct retention *r, const struct config *cfg)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->policy = cfg->queue_retention;
	pthread_mutex_unlock(&r->mu);
}

void
retention_stop(struct retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	admin_close(r->a);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->wake);
	free(r);
}
