/*
 * runner - delivery workers (flow/runner.h).
 *
 * Each worker thread loops: claim one due event with a lease, run its
 * flow from the first unfinished step, record each attempt, then
 * complete, retry later or dead-letter it. An idle worker sleeps until
 * the earliest due time in the queue or RUNNER_POLL_MS, whichever is
 * sooner (intake does not wake delivery yet; the poll is a read on the
 * worker's own connection and never takes the write lock). The lease is
 * the longest flow's total step timeout plus a margin, so no live worker
 * ever loses its event to another. Ownership: the runner owns its
 * workers, their connections and one config reference at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow/flow_int.h"
#include "flow/runner.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define RUNNER_POLL_MS 25
#define RUNNER_LEASE_MARGIN_MS 60000

struct worker {
	struct runner *r;
	pthread_t thread;
	struct queue_delivery *d;
	bool started;
};

struct runner {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* stop */
	pthread_cond_t gone; /* a worker ended */
	bool stopping;
	size_t alive;
	struct config *cfg; /* under mu */
	struct worker w[RUNNER_WORKERS];
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
lock(struct runner *r)
{
	if (pthread_mutex_lock(&r->mu) != 0)
		abort();
}

static void
unlock(struct runner *r)
{
	if (pthread_mutex_unlock(&r->mu) != 0)
		abort();
}

static bool
stopping(struct runner *r)
{
	bool s;

	lock(r);
	s = r->stopping;
	unlock(r);
	return s;
}

/* The longest flow's total timeout plus a margin. */
static int64_t
lease_ms(const struct config *cfg)
{
	uint64_t most = 0, sum;
	size_t i, j, k;

	for (i = 0; i < cfg->n_instances; i++)
		for (j = 0; j < cfg->instances[i].n_triggers; j++) {
			const struct trigger *t = &cfg->instances[i]
						       .triggers[j];

			for (sum = 0, k = 0; k < t->n_steps; k++)
				sum += t->steps[k].timeout_ms;
			if (sum > most)
				most = sum;
		}
	return (int64_t)most + RUNNER_LEASE_MARGIN_MS;
}

static void
policy_of(const struct flow_step *st, struct backoff_policy *p)
{
	backoff_default_policy(p);
	p->first_ms = st->retry_first_ms;
	p->max_delay_ms = st->retry_max_ms;
	p->max_age_ms = st->retry_max_age_ms;
	p->max_attempts = st->retry_attempts;
}

static void
log_attempt(const struct queue_claim *c, unsigned step,
    const struct step_result *res, int64_t latency)
{
	struct log_record r;

	log_begin(&r, res->outcome == OUTCOME_SUCCESS ? LOG_INFO : LOG_WARN,
	    "step");
	log_kv_str(&r, "event", c->id);
	log_kv_str(&r, "trigger", c->trigger);
	log_kv_uint(&r, "step", step);
	log_kv_str(&r, "result", backoff_outcome_name(res->outcome));
	log_kv_int(&r, "code", res->code);
	log_kv_int(&r, "latency_ms", latency);
	if (res->outcome != OUTCOME_SUCCESS)
		log_kv_str(&r, "reason", res->reason);
	log_end(&r);
}

static void
log_state(const struct queue_claim *c, const char *state, const char *why)
{
	struct log_record r;

	log_begin(&r, LOG_INFO, "event");
	log_kv_str(&r, "event", c->id);
	log_kv_str(&r, "state", state);
	if (why != NULL)
		log_kv_str(&r, "reason", why);
	log_end(&r);
}

/* Runs step i and records the attempt; returns its result in res. */
static void
run_step(struct worker *w, const struct queue_claim *c,
    const struct flow_step *st, struct step_input *in, struct step_result *res)
{
	struct queue_attempt a = { .event_id = c->id, .step = in->step };
	int64_t t0 = now_ms();

	memset(res, 0, sizeof(*res));
	res->retry_after_s = BACKOFF_NO_RETRY_AFTER;
	in->now_s = t0 / 1000;
	if (st->kind == STEP_EXEC)
		exec_step_run(st, in, res);
	else
		http_step_run(st, in, res);
	a.at_ms = t0;
	a.latency_ms = now_ms() - t0;
	a.status = res->outcome == OUTCOME_SUCCESS ? "ok" :
	    res->outcome == OUTCOME_RETRY          ? "retry" :
						     "fail";
	a.code = res->code;
	a.response = res->response;
	a.response_len = res->response_len;
	a.step_done = res->outcome == OUTCOME_SUCCESS;
	if (queue_record_attempt(w->d, &a) != QUEUE_OK)
		log_msg(LOG_ERROR, "attempt_not_recorded", c->id);
	log_attempt(c, in->step, res, a.latency_ms);
}

/* After a retryable result at step i: schedule the retry or give up. */
static void
retry_or_dead(struct worker *w, const struct queue_claim *c,
    const struct flow_step *st, unsigned tries, const struct step_result *res)
{
	struct backoff_policy p;
	char why[STEP_REASON_MAX + 64];
	int64_t now = now_ms();
	uint64_t delay, age = (uint64_t)(now - c->created_at_ms);

	policy_of(st, &p);
	delay = backoff_delay(&p, tries, arc4random(), res->retry_after_s);
	if (backoff_give_up(&p, tries, age, delay)) {
		snprintf(why, sizeof(why), "gave up after %u attempts: %s",
		    tries, res->reason);
		queue_dead(w->d, c->id, why);
		log_state(c, "dead", why);
		return;
	}
	queue_retry(w->d, c->id, now + (int64_t)delay);
	log_state(c, "retry", res->reason);
}

/* Runs the flow of c from its first unfinished step. */
static void
run_flow(struct worker *w, const struct queue_claim *c, const struct trigger *t,
    struct step_input *in)
{
	struct step_result res;
	char why[STEP_REASON_MAX + 32];
	unsigned i, tries = c->step_attempts;

	for (i = c->next_step; i < t->n_steps; i++, tries = 0) {
		/* A stop lets the running step finish, not the next one. */
		if (i > c->next_step && stopping(w->r)) {
			queue_retry(w->d, c->id, now_ms());
			return;
		}
		in->step = i;
		run_step(w, c, &t->steps[i], in, &res);
		if (res.outcome == OUTCOME_RETRY) {
			retry_or_dead(w, c, &t->steps[i], tries + 1, &res);
			return;
		}
		if (res.outcome == OUTCOME_FAIL) {
			snprintf(why, sizeof(why), "step %u: %s", i,
			    res.reason);
			queue_dead(w->d, c->id, why);
			log_state(c, "dead", why);
			return;
		}
	}
	queue_complete(w->d, c->id);
	log_state(c, "done", NULL);
}

/*
 * The rules' verdict before the flow: false when the event ended here
 * (ignored, dead, or a duplicate within the trigger's dedup window).
 */
static bool
admit(struct worker *w, const struct queue_claim *c, const struct trigger *t,
    const struct prepared *p)
{
	char of[ID_LEN + 16], note[ID_LEN + 64];
	int64_t since = c->created_at_ms - (int64_t)t->dedup_window_ms;
	bool dup = false;

	if (p->verdict == PREPARE_IGNORE) {
		queue_skip(w->d, c->id, "ignored", p->reason);
		log_state(c, "ignored", p->reason);
		return false;
	}
	if (p->verdict == PREPARE_DEAD) {
		queue_dead(w->d, c->id, p->reason);
		log_state(c, "dead", p->reason);
		return false;
	}
	/* A failed look-up runs the flow: at least once beats at most once. */
	if (queue_dedup(w->d, c->id, p->dedup_key, since, &dup, of) != QUEUE_OK)
		log_msg(LOG_ERROR, "dedup_failed", c->id);
	if (!dup)
		return true;
	snprintf(note, sizeof(note), "duplicate of %s", of);
	queue_skip(w->d, c->id, "duplicate", note);
	log_state(c, "duplicate", note);
	return false;
}

/* Builds the event and runs its flow under the current config. */
static void
deliver(struct worker *w, const struct queue_claim *c, struct config *cfg)
{
	const struct instance *inst;
	const struct trigger *t = NULL;
	struct step_input in = { 0 };
	struct prepared p;
	char *json;

	inst = config_find_instance(cfg, c->instance, strlen(c->instance));
	if (inst != NULL)
		t = config_find_trigger(inst, c->trigger, strlen(c->trigger));
	if (t == NULL) {
		queue_dead(w->d, c->id, "trigger is no longer in the config");
		log_state(c, "dead", "trigger is no longer in the config");
		return;
	}
	flow_prepare(c, t, &p);
	if (admit(w, c, t, &p)) {
		json = flow_event_dump(p.event, &in.event_len);
		in.event_json = json;
		in.event_id = c->id;
		in.instance = c->instance;
		in.trigger = c->trigger;
		in.mail_from = c->mail_from;
		in.subject = p.subject;
		run_flow(w, c, t, &in);
		free(json);
	}
	flow_prepared_free(&p);
}

/* Claims and delivers one event; false when none was due. */
static bool
work_once(struct worker *w)
{
	struct queue_claim *c = NULL;
	struct config *cfg;
	size_t n = 0;

	lock(w->r);
	cfg = config_ref(w->r->cfg);
	unlock(w->r);
	if (queue_claim(w->d, now_ms(), lease_ms(cfg), 1, &c, &n) != QUEUE_OK)
		log_msg(LOG_ERROR, "claim_failed", "queue claim failed");
	if (n == 1)
		deliver(w, &c[0], cfg);
	queue_claims_free(c, n);
	config_unref(cfg);
	return n == 1;
}

/* Sleeps until the next due time, RUNNER_POLL_MS at most, or a stop. */
static void
idle(struct worker *w)
{
	int64_t now = now_ms(), due = queue_next_due(w->d), until;
	struct timespec ts;

	until = now + RUNNER_POLL_MS;
	if (due < until)
		until = due > now ? due : now;
	ts.tv_sec = until / 1000;
	ts.tv_nsec = (long)(until % 1000) * 1000000;
	lock(w->r);
	if (!w->r->stopping)
		pthread_cond_timedwait(&w->r->wake, &w->r->mu, &ts);
	unlock(w->r);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	while (!stopping(w->r))
		if (!work_once(w))
			idle(w);
	lock(w->r);
	w->r->alive--;
	pthread_cond_broadcast(&w->r->gone);
	unlock(w->r);
	return NULL;
}

static void
log_recovered(long n)
{
	struct log_record r;

	log_begin(&r, LOG_INFO, "delivery_recovered");
	log_kv_int(&r, "events", n);
	log_end(&r);
}

/* Opens every worker's connection and recovers; false with err set. */
static bool
open_workers(struct runner *r, const char *path, char *err, size_t errlen)
{
	long n;
	size_t i;

	for (i = 0; i < RUNNER_WORKERS; i++) {
		r->w[i].r = r;
		r->w[i].d = queue_delivery_open(path, err, errlen);
		if (r->w[i].d == NULL)
			return false;
	}
	n = queue_recover_running(r->w[0].d, now_ms());
	if (n < 0) {
		snprintf(err, errlen, "cannot recover running events");
		return false;
	}
	if (n > 0)
		log_recovered(n);
	return true;
}

static void
runner_free(struct runner *r)
{
	size_t i;

	for (i = 0; i < RUNNER_WORKERS; i++)
		queue_delivery_close(r->w[i].d);
	config_unref(r->cfg);
	pthread_cond_destroy(&r->wake);
	pthread_cond_destroy(&r->gone);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

struct runner *
runner_start(struct config *cfg, char *err, size_t errlen)
{
	struct runner *r = xcalloc(1, sizeof(*r));
	size_t i;

	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake, NULL);
	pthread_cond_init(&r->gone, NULL);
	r->cfg = config_ref(cfg);
	if (!http_global_init()) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto fail;
	}
	if (!open_workers(r, cfg->queue_path, err, errlen))
		goto fail;
	for (i = 0; i < RUNNER_WORKERS; i++) {
		if (pthread_create(&r->w[i].thread, NULL, worker_main,
			&r->w[i]) != 0)
			abort(); /* no thread: as an allocation failure */
		r->w[i].started = true;
		r->alive++;
	}
	return r;
fail:
	runner_free(r);
	return NULL;
}

void
runner_set_config(struct runner *r, struct config *cfg)
{
	struct config *old;

	lock(r);
	old = r->cfg;
	r->cfg = config_ref(cfg);
	unlock(r);
	config_unref(old);
}

/* Waits for the workers until deadline (CLOCK_REALTIME ms). */
static bool
wait_gone(struct runner *r, int64_t deadline)
{
	struct timespec ts = { .tv_sec = deadline / 1000,
		.tv_nsec = (long)(deadline % 1000) * 1000000 };
	int rc = 0;

	lock(r);
	while (r->alive > 0 && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->gone, &r->mu, &ts);
	rc = r->alive == 0;
	unlock(r);
	return rc;
}

void
runner_stop(struct runner *r, uint64_t grace_ms)
{
	size_t i;

	if (r == NULL)
		return;
	lock(r);
	r->stopping = true;
	pthread_cond_broadcast(&r->wake);
	unlock(r);
	if (!wait_gone(r, now_ms() + (int64_t)grace_ms)) {
		/* The process exits with them; their events run again. */
		log_msg(LOG_WARN, "delivery_cut_short",
		    "steps still running after shutdown_grace");
		return;
	}
	for (i = 0; i < RUNNER_WORKERS; i++)
		if (r->w[i].started)
			pthread_join(r->w[i].thread, NULL);
	runner_free(r);
}
