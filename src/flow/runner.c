/*
 * runner - delivery (flow/runner.h): the ledger thread and the engine.
 *
 * The ledger thread owns the queue's delivery connection and every event
 * in progress. Each round it takes the steps the engine finished, then in
 * ONE write transaction (queue_delivery_begin()) records their attempts
 * and the events' new states, runs the dedup check of the events it
 * prepared last round, and claims more due events with a lease; after the
 * commit it hands the next steps to the engine (engine.c), which runs
 * them all at once from its own thread, and the new claims (ids only) to
 * the parser thread, which reads each claim's message on a connection of
 * its own, outside the write lock, and runs flow_prepare(); its results
 * come back for the next round. So a busy queue costs a few commits per round,
 * not several per event, and a big message's parse never holds up a round.
 *
 * It sleeps until runner_kick() (intake committed mail), a finished step
 * or parse, the earliest due time in the queue, or RUNNER_POLL_MS (a fallback
 * for changes made by other processes, such as `queue retry`). Delivery is at
 * least once: a crash between a step and its record re-runs the step; the lease
 * is the longest flow's total step timeout plus a margin, and a claim that
 * returns an event this process still holds (it waited that long for a slot)
 * only renews the lease. Ownership: the runner owns its threads, the
 * connection, the events and one config reference each; an event in the
 * parser's lists belongs to the parser until it is back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/flow_int.h"
#include "flow/runner.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define RUNNER_POLL_MS 1000    /* fallback look for due events */
#define RUNNER_MAX_ACTIVE 1024 /* events claimed and not yet ended */
#define RUNNER_CLAIM_BATCH 256 /* events claimed per round at most */
#define RUNNER_LEASE_MARGIN_MS 60000
#define RUNNER_TABLE 2048 /* buckets of the events in progress */
#define RUNNER_POLL_ENV "MT_RUNNER_POLL_MS" /* tests: a longer fallback */
/*
 * After a busy round (at least RUNNER_BUSY_ROUND events sent to a step or
 * claimed), the next starts RUNNER_ROUND_GAP_MS after it at the earliest.
 * Every round is a commit, and each commit writes every page it touched
 * whole to the WAL (64 KB each in queues made before version 5's 4 KB
 * pages, queue/sqlite.c): woken by each intake
 * commit and each finished step, a loaded ledger made hundreds of small
 * commits a second, taking CPU and the write lock from intake. A quiet
 * round waits for nothing, so light load keeps its latency
 * (docs/flows.md, "Workers").
 */
#define RUNNER_ROUND_GAP_MS 5
#define RUNNER_BUSY_ROUND 8
/* A claimed event whose message could not be read is due again after. */
#define RUNNER_LOAD_RETRY_MS 1000

/* One queue_claim() result, freed when its last event ends. */
struct batch {
	struct queue_claim *c;
	size_t n, live;
};

/* An event in progress: claimed, until done, retry, dead or skipped. */
struct event {
	struct event *next;  /* the round's lists */
	struct event *hnext; /* the table of events in progress */
	struct batch *b;
	const struct queue_claim *c;
	struct config *cfg; /* reference held for t and its steps */
	const struct trigger *t;
	bool loaded; /* its claim was read (queue_claim_load()) */
	enum prepare_verdict verdict;
	char reason[STEP_REASON_MAX];
	char dedup_key[DEDUP_KEY_SIZE];
	char *json;
	size_t len;
	char *subject;
	unsigned step, tries; /* the step to run; its tries so far */
	struct step_job job;
};

struct runner {
	pthread_mutex_t mu;
	pthread_cond_t wake;  /* the ledger: kick, results, parsed, stop */
	pthread_cond_t gone;  /* the ledger ended */
	pthread_cond_t parse; /* the parser: work or quit */
	bool stopping, kicked, ended, parser_quit;
	struct step_job *results; /* under mu; newest first */
	struct event *to_parse;   /* under mu; claimed, oldest first */
	struct event *parsed;     /* under mu; prepared, oldest first */
	struct config *cfg;       /* under mu */
	pthread_t parser;
	bool parser_started;
	struct queue_delivery *pd; /* the parser's: reads the claims */
	/* The ledger thread's own. */
	pthread_t thread;
	struct queue_delivery *d;
	struct engine *engine;
	struct event *table[RUNNER_TABLE];
	struct event *fresh; /* parsed, before the dedup check */
	size_t active;
	bool more_due; /* the last claim was cut short: claim again soon */
	int64_t poll_ms;
	int64_t last_round_ms; /* when the last round started */
	bool last_round_busy;  /* it had RUNNER_BUSY_ROUND events or more */
};

/* The runner runner_kick() pokes; at most one per process. */
static pthread_mutex_t kick_mu = PTHREAD_MUTEX_INITIALIZER;
static struct runner *kick_target;

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
log_attempt(const struct queue_claim *c, const struct step_job *j)
{
	struct log_record r;
	const struct step_result *res = &j->res;

	log_begin(&r, res->outcome == OUTCOME_SUCCESS ? LOG_INFO : LOG_WARN,
	    "step");
	log_kv_str(&r, "event", c->id);
	log_kv_str(&r, "trigger", c->trigger);
	log_kv_uint(&r, "step", j->in.step);
	log_kv_str(&r, "result", backoff_outcome_name(res->outcome));
	log_kv_int(&r, "code", res->code);
	log_kv_int(&r, "latency_ms", j->latency_ms);
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

/* FNV-1a of an event id: its bucket in the table. */
static size_t
bucket(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % RUNNER_TABLE;
}

static bool
in_progress(const struct runner *r, const char *id)
{
	const struct event *ev;

	for (ev = r->table[bucket(id)]; ev != NULL; ev = ev->hnext)
		if (strcmp(ev->c->id, id) == 0)
			return true;
	return false;
}

/* The event is over for this process: forget and free it. */
static void
end_event(struct runner *r, struct event *ev)
{
	struct event **pp = &r->table[bucket(ev->c->id)];

	while (*pp != ev)
		pp = &(*pp)->hnext;
	*pp = ev->hnext;
	r->active--;
	if (--ev->b->live == 0) {
		queue_claims_free(ev->b->c, ev->b->n);
		free(ev->b);
	}
	config_unref(ev->cfg);
	free(ev->json);
	free(ev->subject);
	free(ev);
}

/* Leaves ev for a later round or the next start: due now. */
static void
put_back(struct runner *r, struct event *ev)
{
	queue_retry(r->d, ev->c->id, flow_now_ms());
	end_event(r, ev);
}

/* Its claim could not be read (queue I/O): due again a little later. */
static void
load_failed(struct runner *r, struct event *ev)
{
	struct log_record rec;

	log_begin(&rec, LOG_ERROR, "claim_load_failed");
	log_kv_str(&rec, "event", ev->c->id);
	log_kv_str(&rec, "error", ev->reason);
	log_end(&rec);
	queue_retry(r->d, ev->c->id, flow_now_ms() + RUNNER_LOAD_RETRY_MS);
	end_event(r, ev);
}

static void
dead(struct runner *r, struct event *ev, const char *why)
{
	queue_dead(r->d, ev->c->id, why);
	log_state(ev->c, "dead", why);
	end_event(r, ev);
}

/* Fills ev's job for its current step. */
static void
make_job(struct event *ev)
{
	struct step_job *j = &ev->job;

	memset(j, 0, sizeof(*j));
	j->st = &ev->t->steps[ev->step];
	j->owner = ev;
	j->res.retry_after_s = BACKOFF_NO_RETRY_AFTER;
	j->in.event_json = ev->json;
	j->in.event_len = ev->len;
	j->in.event_id = ev->c->id;
	j->in.step = ev->step;
	j->in.instance = ev->c->instance;
	j->in.trigger = ev->c->trigger;
	j->in.mail_from = ev->c->mail_from;
	j->in.subject = ev->subject;
}

/* After a retryable result: schedule the retry or give up. */
static void
retry_or_dead(struct runner *r, struct event *ev)
{
	const struct step_result *res = &ev->job.res;
	struct backoff_policy p;
	char why[STEP_REASON_MAX + 64];
	int64_t now = flow_now_ms();
	uint64_t delay, age = (uint64_t)(now - ev->c->created_at_ms);

	policy_of(ev->job.st, &p);
	delay = backoff_delay(&p, ev->tries, arc4random(), res->retry_after_s);
	if (backoff_give_up(&p, ev->tries, age, delay)) {
		snprintf(why, sizeof(why), "gave up after %u attempts: %s",
		    ev->tries, res->reason);
		dead(r, ev, why);
		return;
	}
	queue_retry(r->d, ev->c->id, now + (int64_t)delay);
	log_state(ev->c, "retry", res->reason);
	end_event(r, ev);
}

/* Records the attempt of a finished job. */
static void
record(struct runner *r, const struct event *ev)
{
	const struct step_job *j = &ev->job;
	const struct step_result *res = &j->res;
	struct queue_attempt a = { .event_id = ev->c->id, .step = ev->step };

	a.at_ms = j->at_ms;
	a.latency_ms = j->latency_ms;
	a.status = res->outcome == OUTCOME_SUCCESS ? "ok" :
	    res->outcome == OUTCOME_RETRY          ? "retry" :
						     "fail";
	a.code = res->code;
	a.response = res->response;
	a.response_len = res->response_len;
	a.step_done = res->outcome == OUTCOME_SUCCESS;
	if (queue_record_attempt(r->d, &a) != QUEUE_OK)
		log_msg(LOG_ERROR, "attempt_not_recorded", ev->c->id);
	log_attempt(ev->c, j);
}

/*
 * A job came back: record it and move its event on. Returns ev when its
 * next step should run (the caller submits it after the commit).
 */
static struct event *
settle(struct runner *r, struct event *ev, bool stop)
{
	char why[STEP_REASON_MAX + 32];

	if (ev->job.not_run) {
		put_back(r, ev);
		return NULL;
	}
	record(r, ev);
	ev->tries++;
	if (ev->job.res.outcome == OUTCOME_RETRY) {
		retry_or_dead(r, ev);
		return NULL;
	}
	if (ev->job.res.outcome == OUTCOME_FAIL) {
		snprintf(why, sizeof(why), "step %u: %s", ev->step,
		    ev->job.res.reason);
		dead(r, ev, why);
		return NULL;
	}
	ev->step++;
	ev->tries = 0;
	if (ev->step < ev->t->n_steps) {
		/* A stop lets the running step finish, not the next one. */
		if (!stop)
			return ev;
		put_back(r, ev);
		return NULL;
	}
	queue_complete(r->d, ev->c->id);
	log_state(ev->c, "done", NULL);
	end_event(r, ev);
	return NULL;
}

/*
 * The rules' verdict before the flow, then the dedup check: true when
 * the flow runs; otherwise the event ended here (ignored, dead, or a
 * duplicate within the trigger's dedup window).
 */
static bool
admit(struct runner *r, struct event *ev)
{
	const struct queue_claim *c = ev->c;
	char of[ID_LEN + 16], note[ID_LEN + 64];
	int64_t since;
	bool dup = false;

	if (ev->verdict == PREPARE_IGNORE) {
		queue_skip(r->d, c->id, "ignored", ev->reason);
		log_state(c, "ignored", ev->reason);
		end_event(r, ev);
		return false;
	}
	if (ev->verdict == PREPARE_DEAD) {
		dead(r, ev, ev->reason); /* ev->t may be NULL: no trigger */
		return false;
	}
	since = c->created_at_ms - (int64_t)ev->t->dedup_window_ms;
	/* A failed look-up runs the flow: at least once beats at most once. */
	if (queue_dedup(r->d, c->id, ev->dedup_key, since, &dup, of) !=
	    QUEUE_OK)
		log_msg(LOG_ERROR, "dedup_failed", c->id);
	if (!dup)
		return true;
	snprintf(note, sizeof(note), "duplicate of %s", of);
	queue_skip(r->d, c->id, "duplicate", note);
	log_state(c, "duplicate", note);
	end_event(r, ev);
	return false;
}

/*
 * Reads ev's claim (its own connection, no write lock), parses the
 * message and applies its trigger's rules. A claim that cannot be read
 * stays !ev->loaded for the ledger to put back.
 */
static void
prepare(struct runner *r, struct event *ev)
{
	struct queue_claim *c = (struct queue_claim *)ev->c;
	enum queue_status st = queue_claim_load(r->pd, c);
	const struct instance *inst;
	struct prepared p;

	if (st == QUEUE_ERR_CORRUPT) {
		/* It never will be read: dead with why, not retried forever. */
		ev->loaded = true;
		ev->verdict = PREPARE_DEAD;
		snprintf(ev->reason, sizeof(ev->reason),
		    "message cannot be read: %s", queue_delivery_errmsg(r->pd));
		return;
	}
	if (st != QUEUE_OK) { /* load_failed() logs why */
		snprintf(ev->reason, sizeof(ev->reason), "%s",
		    queue_delivery_errmsg(r->pd));
		return;
	}
	ev->loaded = true;
	ev->step = c->next_step;
	ev->tries = c->step_attempts;
	inst = config_find_instance(ev->cfg, c->instance, strlen(c->instance));
	if (inst != NULL)
		ev->t = config_find_trigger(inst, c->trigger,
		    strlen(c->trigger));
	if (ev->t == NULL) {
		ev->verdict = PREPARE_DEAD;
		snprintf(ev->reason, sizeof(ev->reason),
		    "trigger is no longer in the config");
		return;
	}
	flow_prepare(c, ev->t, &p);
	ev->verdict = p.verdict;
	memcpy(ev->reason, p.reason, sizeof(ev->reason));
	memcpy(ev->dedup_key, p.dedup_key, sizeof(ev->dedup_key));
	if (p.verdict == PREPARE_RUN) {
		ev->json = flow_event_dump(p.event, &ev->len);
		ev->subject = p.subject != NULL ? xstrdup(p.subject) : NULL;
	}
	flow_prepared_free(&p);
	/* The event JSON is all the steps need: drop the raw message. */
	free(c->data);
	c->data = NULL;
	c->len = 0;
}

/* A new event for claim c of batch b, in the table. */
static struct event *
new_event(struct runner *r, struct batch *b, size_t i, struct config *cfg)
{
	struct event *ev = xcalloc(1, sizeof(*ev));
	size_t k = bucket(b->c[i].id);

	ev->b = b;
	ev->c = &b->c[i];
	ev->cfg = config_ref(cfg);
	ev->hnext = r->table[k];
	r->table[k] = ev;
	r->active++;
	b->live++;
	return ev;
}

/* queue.hold: no claims, so no step starts (docs/queue.md). */
static bool
held(struct runner *r)
{
	bool h;

	lock(r);
	h = r->cfg->queue_hold;
	unlock(r);
	return h;
}

static void
log_hold(bool hold)
{
	if (hold)
		log_msg(LOG_INFO, "delivery_held",
		    "queue.hold: mail is queued, no flow step starts");
	else
		log_msg(LOG_INFO, "delivery_resumed", "queue.hold is off");
}

/* Claims due events; returns them (not yet prepared), oldest first. */
static struct event *
claim(struct runner *r)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	struct event *list = NULL, **tail = &list, *ev;
	struct config *cfg;
	size_t max = RUNNER_MAX_ACTIVE - r->active, i;

	if (max > RUNNER_CLAIM_BATCH)
		max = RUNNER_CLAIM_BATCH;
	lock(r);
	cfg = config_ref(r->cfg);
	unlock(r);
	if (queue_claim_ids(r->d, flow_now_ms(), lease_ms(cfg), max, &b->c,
		&b->n) != QUEUE_OK)
		log_msg(LOG_ERROR, "claim_failed", "queue claim failed");
	r->more_due = b->n == max;
	/* One of ours waited past its lease: the claim renewed it. */
	for (i = 0; i < b->n; i++)
		if (!in_progress(r, b->c[i].id)) {
			ev = new_event(r, b, i, cfg);
			*tail = ev;
			tail = &ev->next;
		}
	config_unref(cfg);
	if (b->live == 0) {
		queue_claims_free(b->c, b->n);
		free(b);
	}
	return list;
}

/* Reverses a job list (newest first) into its events, oldest first. */
static struct event *
events_of(struct step_job *j)
{
	struct event *list = NULL, *ev;

	for (; j != NULL; j = j->next) {
		ev = j->owner;
		ev->next = list;
		list = ev;
	}
	return list;
}

/*
 * One round's transaction: records done jobs, checks last round's fresh
 * events, claims when asked. Returns the events whose step runs next in
 * *run and the new claims in *claimed.
 */
static void
round_txn(struct runner *r, struct step_job *done, bool stop, bool want,
    struct event **run, struct event **claimed)
{
	struct event *ev, *next, *fresh = r->fresh, **tail = run;
	bool batch = queue_delivery_begin(r->d) == QUEUE_OK;

	*run = *claimed = NULL;
	r->fresh = NULL;
	for (ev = events_of(done); ev != NULL; ev = next) {
		next = ev->next;
		if ((ev = settle(r, ev, stop)) != NULL) {
			*tail = ev;
			tail = &ev->next;
		}
	}
	for (ev = fresh; ev != NULL; ev = next) {
		next = ev->next;
		if (stop)
			put_back(r, ev);
		else if (!ev->loaded)
			load_failed(r, ev);
		else if (admit(r, ev)) {
			*tail = ev;
			tail = &ev->next;
		}
	}
	*tail = NULL;
	if (held(r))
		r->more_due = false; /* the poll looks again; a reload kicks */
	else if (want && !stop && r->active < RUNNER_MAX_ACTIVE)
		*claimed = claim(r);
	else if (want && !stop)
		r->more_due = true;
	if (batch && queue_delivery_commit(r->d) != QUEUE_OK)
		log_msg(LOG_ERROR, "delivery_commit_failed",
		    "state changes lost: their steps run again");
}

/*
 * One round: the transaction, then the next steps to the engine and the
 * new claims parsed. Returns true when another round should follow at
 * once.
 */
static bool
round_run(struct runner *r, struct step_job *done, bool stop, bool want)
{
	struct event *run, *claimed, *ev, *next, **tail;
	size_t n = 0;

	/* Held: a kick after each intake commit finds nothing to claim. */
	if (done == NULL && r->fresh == NULL && (!want || held(r)))
		return false;
	r->last_round_ms = flow_now_ms();
	round_txn(r, done, stop, want, &run, &claimed);
	for (ev = run; ev != NULL; ev = next, n++) {
		next = ev->next;
		make_job(ev);
		engine_submit(r->engine, &ev->job);
	}
	if (claimed != NULL) {
		lock(r);
		for (tail = &r->to_parse; *tail != NULL; tail = &(*tail)->next)
			;
		*tail = claimed;
		for (ev = claimed; ev != NULL; ev = ev->next)
			n++;
		pthread_cond_signal(&r->parse);
		unlock(r);
	}
	r->last_round_busy = n >= RUNNER_BUSY_ROUND;
	return r->more_due && r->active < RUNNER_MAX_ACTIVE;
}

/* The next due time when idle: the queue's earliest, or the poll. */
static int64_t
next_wake(struct runner *r)
{
	int64_t now = flow_now_ms(), until = now + r->poll_ms, due;

	if (r->more_due || held(r))
		return until;
	due = queue_next_due(r->d);
	if (due > until)
		return until;
	/* A due event we could not claim must not spin the loop. */
	return due > now ? due : now + 1;
}

/*
 * Under mu: after a busy round, waits out RUNNER_ROUND_GAP_MS since it
 * started, or a stop.
 */
static void
round_gap(struct runner *r)
{
	int64_t until = r->last_round_ms + RUNNER_ROUND_GAP_MS;
	struct timespec ts = { .tv_sec = until / 1000,
		.tv_nsec = (long)(until % 1000) * 1000000 };

	while (r->last_round_busy && !r->stopping && flow_now_ms() < until)
		if (pthread_cond_timedwait(&r->wake, &r->mu, &ts) == ETIMEDOUT)
			break;
}

/*
 * Sleeps until there is work (unless at_once), then takes it: finished
 * jobs (newest first), whether to stop (*stop: as known so far), whether
 * to claim.
 */
static struct step_job *
wait_work(struct runner *r, bool at_once, bool *stop, bool *want)
{
	int64_t until = at_once ? 0 : next_wake(r);
	struct timespec ts = { .tv_sec = until / 1000,
		.tv_nsec = (long)(until % 1000) * 1000000 };
	struct step_job *done;

	lock(r);
	round_gap(r);
	if (!at_once && !r->kicked && r->results == NULL && r->parsed == NULL &&
	    r->stopping == *stop)
		pthread_cond_timedwait(&r->wake, &r->mu, &ts);
	done = r->results;
	r->results = NULL;
	r->fresh = r->parsed;
	r->parsed = NULL;
	/*
	 * By the clock, not the wait: a stream of results must not starve
	 * the retries that came due meanwhile.
	 */
	*want = at_once || r->kicked || flow_now_ms() >= until;
	r->kicked = false;
	*stop = r->stopping;
	unlock(r);
	return done;
}

static void *
ledger_main(void *arg)
{
	struct runner *r = arg;
	struct step_job *done;
	bool stop = false, want, again = true; /* first: what is due now */

	flow_thread_start("mt-ledger");
	while (!stop || r->active > 0) {
		done = wait_work(r, again, &stop, &want);
		again = round_run(r, done, stop, want || r->more_due);
	}
	lock(r);
	r->ended = true;
	pthread_cond_broadcast(&r->gone);
	unlock(r);
	return NULL;
}

/*
 * The parser thread: prepares claimed events (flow_prepare(), CPU only)
 * so the ledger's rounds never wait for a big message's parse.
 */
static void *
parser_main(void *arg)
{
	struct runner *r = arg;
	struct event *list, *ev, **tail;

	flow_thread_start("mt-parser");
	lock(r);
	for (;;) {
		while (r->to_parse == NULL && !r->parser_quit)
			pthread_cond_wait(&r->parse, &r->mu);
		if (r->to_parse == NULL)
			break;
		list = r->to_parse;
		r->to_parse = NULL;
		unlock(r);
		for (ev = list; ev != NULL; ev = ev->next)
			prepare(r, ev);
		lock(r);
		for (tail = &r->parsed; *tail != NULL; tail = &(*tail)->next)
			;
		*tail = list;
		pthread_cond_signal(&r->wake);
	}
	unlock(r);
	return NULL;
}

/* From the engine's thread: a job is over. */
static void
job_done(void *arg, struct step_job *j)
{
	struct runner *r = arg;

	lock(r);
	j->next = r->results;
	r->results = j;
	pthread_cond_signal(&r->wake);
	unlock(r);
}

void
runner_kick(void)
{
	struct runner *r;

	pthread_mutex_lock(&kick_mu);
	if ((r = kick_target) != NULL) {
		lock(r);
		if (!r->kicked) {
			r->kicked = true;
			pthread_cond_signal(&r->wake);
		}
		unlock(r);
	}
	pthread_mutex_unlock(&kick_mu);
}

static void
log_recovered(long n)
{
	struct log_record r;

	log_begin(&r, LOG_INFO, "delivery_recovered");
	log_kv_int(&r, "events", n);
	log_end(&r);
}

/* The fallback poll: RUNNER_POLL_MS, or the test override. */
static int64_t
poll_ms(void)
{
	const char *s = getenv(RUNNER_POLL_ENV);
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return RUNNER_POLL_MS;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 86400000ULL)
		return RUNNER_POLL_MS;
	return (int64_t)v;
}

static void
runner_free(struct runner *r)
{
	pthread_mutex_lock(&kick_mu);
	if (kick_target == r)
		kick_target = NULL;
	pthread_mutex_unlock(&kick_mu);
	if (r->parser_started) {
		lock(r);
		r->parser_quit = true;
		pthread_cond_signal(&r->parse);
		unlock(r);
		pthread_join(r->parser, NULL);
	}
	engine_free(r->engine);
	queue_delivery_close(r->d);
	queue_delivery_close(r->pd);
	config_unref(r->cfg);
	pthread_cond_destroy(&r->wake);
	pthread_cond_destroy(&r->gone);
	pthread_cond_destroy(&r->parse);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

struct runner *
runner_start(struct config *cfg, char *err, size_t errlen)
{
	struct runner *r = xcalloc(1, sizeof(*r));
	long n;

	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake, NULL);
	pthread_cond_init(&r->gone, NULL);
	pthread_cond_init(&r->parse, NULL);
	r->cfg = config_ref(cfg);
	r->poll_ms = poll_ms();
	if (!http_global_init()) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto fail;
	}
	r->d = queue_delivery_open(cfg->queue_path, err, errlen);
	if (r->d == NULL)
		goto fail;
	r->pd = queue_delivery_open(cfg->queue_path, err, errlen);
	if (r->pd == NULL)
		goto fail;
	n = queue_recover_running(r->d, flow_now_ms());
	if (n < 0) {
		snprintf(err, errlen, "cannot recover running events");
		goto fail;
	}
	if (n > 0)
		log_recovered(n);
	if (cfg->queue_hold)
		log_hold(true);
	r->engine = engine_start(job_done, r);
	if (pthread_create(&r->parser, NULL, parser_main, r) != 0 ||
	    pthread_create(&r->thread, NULL, ledger_main, r) != 0)
		abort(); /* no thread: as an allocation failure */
	r->parser_started = true;
	pthread_mutex_lock(&kick_mu);
	kick_target = r;
	pthread_mutex_unlock(&kick_mu);
	return r;
fail:
	runner_free(r);
	return NULL;
}

void
runner_set_config(struct runner *r, struct config *cfg)
{
	struct config *old;
	bool was;

	lock(r);
	old = r->cfg;
	was = old->queue_hold;
	r->cfg = config_ref(cfg);
	if (was && !cfg->queue_hold) {
		r->kicked = true; /* claim what waited at once */
		pthread_cond_signal(&r->wake);
	}
	unlock(r);
	if (was != cfg->queue_hold)
		log_hold(cfg->queue_hold);
	config_unref(old);
}

/* Waits for the ledger until deadline (CLOCK_REALTIME ms). */
static bool
wait_gone(struct runner *r, int64_t deadline)
{
	struct timespec ts = { .tv_sec = deadline / 1000,
		.tv_nsec = (long)(deadline % 1000) * 1000000 };
	int rc = 0;
	bool ended;

	lock(r);
	while (!r->ended && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->gone, &r->mu, &ts);
	ended = r->ended;
	unlock(r);
	return ended;
}

void
runner_stop(struct runner *r, uint64_t grace_ms)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&kick_mu);
	kick_target = NULL;
	pthread_mutex_unlock(&kick_mu);
	lock(r);
	r->stopping = true;
	pthread_cond_signal(&r->wake);
	unlock(r);
	engine_stop(r->engine);
	log_msg(LOG_INFO, "delivery_stopping",
	    "running steps finish; waiting ones stay due");
	if (!wait_gone(r, flow_now_ms() + (int64_t)grace_ms)) {
		/* The process exits with them; their events run again. */
		log_msg(LOG_WARN, "delivery_cut_short",
		    "steps still running after shutdown_grace");
		return;
	}
	pthread_join(r->thread, NULL);
	runner_free(r);
}
