/*
 * engine - the one thread that runs every flow step (flow_int.h): http
 * requests on a libcurl multi handle (http.c) and commands (exec.c),
 * all at once, none blocking another (at most ENGINE_MAX_EXEC commands
 * at once, the others wait in order: a process costs far more than a
 * request).
 *
 * Not pure: owns a thread, its multi handle and the children it spawns.
 * The runner submits jobs from its own thread (engine_submit() wakes the
 * loop through curl_multi_wakeup()); finished jobs go back through the
 * done callback, in this thread. The loop sleeps in curl_multi_poll() on
 * the network, the commands' pipes and pidfds, and the wake-up, for at
 * most ENGINE_IDLE_MS, or ENGINE_TICK_MS while a command runs on a kernel
 * without pidfds (its exit is then noticed by waitpid at each tick).
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "flow/flow_int.h"
#include "util/xmalloc.h"

#define ENGINE_IDLE_MS 1000
#define ENGINE_TICK_MS 20
#define ENGINE_MAX_EXEC 16 /* commands at once; more wait their turn */

struct engine {
	pthread_t thread;
	pthread_mutex_t mu;
	struct step_job *inbox; /* under mu; newest first */
	bool stopping;          /* under mu */
	bool gone;              /* under mu: the loop has ended */
	struct http_engine *http;
	struct step_job *execs; /* running commands */
	size_t n_execs;
	struct step_job *exec_head, *exec_tail; /* waiting commands */
	struct pollfd *fds;
	size_t fds_cap;
	step_done_fn *done;
	void *arg;
};

static void
lock(struct engine *e)
{
	if (pthread_mutex_lock(&e->mu) != 0)
		abort();
}

static void
unlock(struct engine *e)
{
	if (pthread_mutex_unlock(&e->mu) != 0)
		abort();
}

void
flow_thread_start(const char *name)
{
	pthread_setname_np(pthread_self(), name);
	/* Linux: a thread's own nice value. Failure only costs priority. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), FLOW_DELIVERY_NICE);
}

int64_t
flow_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
flow_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts command j; a spawn failure ends it at once. */
static void
exec_begin(struct engine *e, struct step_job *j)
{
	if (!exec_start(j)) {
		e->done(e->arg, j);
		return;
	}
	j->next = e->execs;
	e->execs = j;
	e->n_execs++;
}

/* Starts the waiting commands that fit; all of them back when stopping. */
static void
exec_next(struct engine *e, bool stopping)
{
	struct step_job *j;

	while ((j = e->exec_head) != NULL &&
	    (stopping || e->n_execs < ENGINE_MAX_EXEC)) {
		e->exec_head = j->next;
		if (e->exec_head == NULL)
			e->exec_tail = NULL;
		if (stopping) {
			j->not_run = true;
			e->done(e->arg, j);
		} else
			exec_begin(e, j);
	}
}

/* Starts j, or queues it, or hands it back not run while stopping. */
static void
begin_job(struct engine *e, struct step_job *j, bool stopping)
{
	if (stopping) {
		j->not_run = true;
		e->done(e->arg, j);
	} else if (j->st->kind == STEP_HTTP)
		http_submit(e->http, j);
	else {
		j->next = NULL;
		if (e->exec_tail != NULL)
			e->exec_tail->next = j;
		else
			e->exec_head = j;
		e->exec_tail = j;
		exec_next(e, false);
	}
}

/* Takes the inbox, oldest first; *stopping says whether to start them. */
static struct step_job *
take_inbox(struct engine *e, bool *stopping)
{
	struct step_job *in, *rev = NULL, *next;

	lock(e);
	in = e->inbox;
	e->inbox = NULL;
	*stopping = e->stopping;
	unlock(e);
	for (; in != NULL; in = next) {
		next = in->next;
		in->next = rev;
		rev = in;
	}
	return rev;
}

/* The commands' fds in e->fds; the poll timeout for their deadlines. */
static unsigned
exec_watch(struct engine *e, int *timeout_ms)
{
	struct step_job *j;
	unsigned n = 0;
	int64_t now = flow_mono_ms(), left;
	bool tick = false;

	for (j = e->execs; j != NULL; j = j->next) {
		if (n + EXEC_FDS > e->fds_cap) {
			e->fds_cap = 2 * (n + EXEC_FDS);
			e->fds = xreallocarray(e->fds, e->fds_cap,
			    sizeof(*e->fds));
		}
		n += exec_fds(j, e->fds + n, &tick);
		left = exec_deadline(j) - now;
		if (left < *timeout_ms)
			*timeout_ms = left > 0 ? (int)left : 0;
	}
	if (tick && *timeout_ms > ENGINE_TICK_MS)
		*timeout_ms = ENGINE_TICK_MS;
	return n;
}

/* Moves every command on; hands back those that are over. */
static void
exec_round(struct engine *e, bool stopping)
{
	struct step_job **pp = &e->execs, *j;

	while ((j = *pp) != NULL) {
		if (!exec_progress(j)) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		e->n_execs--;
		e->done(e->arg, j);
	}
	exec_next(e, stopping);
}

static void *
engine_main(void *arg)
{
	struct engine *e = arg;
	struct step_job *j, *next;
	bool stopping = false;
	int timeout;
	unsigned n;

	flow_thread_start("mt-engine");
	for (;;) {
		for (j = take_inbox(e, &stopping); j != NULL; j = next) {
			next = j->next;
			begin_job(e, j, stopping);
		}
		if (stopping) {
			http_drop_waiting(e->http);
			exec_next(e, true);
		}
		if (stopping && e->execs == NULL && http_pending(e->http) == 0)
			break;
		timeout = ENGINE_IDLE_MS;
		n = exec_watch(e, &timeout);
		http_wait(e->http, e->fds, n, timeout);
		lock(e);
		stopping = stopping || e->stopping;
		unlock(e);
		exec_round(e, stopping);
	}
	lock(e);
	e->gone = true;
	for (j = e->inbox, e->inbox = NULL; j != NULL; j = next) {
		next = j->next;
		j->not_run = true;
		e->done(e->arg, j);
	}
	unlock(e);
	return NULL;
}

struct engine *
engine_start(step_done_fn *done, void *arg)
{
	struct engine *e = xcalloc(1, sizeof(*e));

	pthread_mutex_init(&e->mu, NULL);
	e->done = done;
	e->arg = arg;
	e->http = http_engine_new(done, arg);
	if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
		abort(); /* no thread: as an allocation failure */
	return e;
}

void
engine_submit(struct engine *e, struct step_job *j)
{
	lock(e);
	if (e->gone) {
		unlock(e);
		j->not_run = true;
		e->done(e->arg, j);
		return;
	}
	j->next = e->inbox;
	e->inbox = j;
	unlock(e);
	http_wakeup(e->http);
}

void
engine_stop(struct engine *e)
{
	lock(e);
	e->stopping = true;
	unlock(e);
	http_stop(e->http);
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	engine_stop(e);
	pthread_join(e->thread, NULL);
	http_engine_free(e->http);
	free(e->fds);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
