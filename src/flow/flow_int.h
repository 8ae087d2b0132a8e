/*
 * flow_int - what the runner (runner.c) shares with its steps (exec.c,
 * http.c) and the event builder (event.c). Internal to src/flow/.
 *
 * The runner's ledger thread claims events and hands each step to the
 * engine (engine.c) as a struct step_job; the engine's one thread runs
 * every http (http.c, libcurl multi) and exec (exec.c) step at once and
 * hands the job back with a struct step_result, which the runner records
 * as one attempt and turns, through flow/backoff.h, into the next step, a
 * retry or a dead letter.
 */
#ifndef MT_FLOW_FLOW_INT_H
#define MT_FLOW_FLOW_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "flow/backoff.h"
#include "queue/queue.h"
#include "route/autoreply.h"
#include "route/dedup.h"

#define STEP_RESPONSE_MAX 1024 /* bytes of an answer kept per attempt */
#define STEP_REASON_MAX 256

struct step_result {
	enum step_outcome outcome;
	int code;              /* HTTP status or exit code; -1 when none */
	int64_t retry_after_s; /* BACKOFF_NO_RETRY_AFTER when none */
	char response[STEP_RESPONSE_MAX];
	size_t response_len;
	char reason[STEP_REASON_MAX]; /* one line, for logs and dead letters */
};

/* What a step gets besides its config: the event and its identity. */
struct step_input {
	const char *event_json; /* the event, as sent */
	size_t event_len;
	const char *event_id;
	unsigned step;         /* index in the flow */
	const char *instance;  /* MT_INSTANCE */
	const char *trigger;   /* MT_TRIGGER */
	const char *mail_from; /* MT_FROM */
	const char *subject;   /* MT_SUBJECT, NULL when unknown */
	int64_t now_s;         /* Unix time, for the signature */
};

/*
 * One try of one step, as the runner hands it to the engine and gets it
 * back. The runner fills st and in; the step's code fills at_ms, latency_ms
 * and res; not_run says it never started (a stop came first).
 */
struct step_job {
	struct step_job *next; /* whichever list holds it */
	const struct flow_step *st;
	struct step_input in;
	struct step_result res;
	int64_t at_ms; /* start, Unix ms */
	int64_t latency_ms;
	bool not_run;
	void *owner; /* the runner's */
	void *priv;  /* exec.c or http.c while it runs */
};

/* Called in the engine thread when a job is over (or not run). */
typedef void step_done_fn(void *arg, struct step_job *j);

/* Unix ms, and a monotonic ms clock for deadlines. */
int64_t flow_now_ms(void);
int64_t flow_mono_ms(void);

/*
 * Every delivery thread (ledger, parser, engine) and so every command a
 * flow runs (a child keeps its thread's nice value) runs at this nice
 * value: when intake and delivery compete for the CPU, intake's 250, the
 * reply a sender waits for, goes first and delivery catches up after the
 * burst (docs/flows.md, "Workers").
 */
#define FLOW_DELIVERY_NICE 5

/* Names the calling delivery thread and sets its FLOW_DELIVERY_NICE. */
void flow_thread_start(const char *name);

/*
 * exec steps (exec.c), driven without blocking from the engine's loop:
 * argv without a shell, the event on stdin, MT_* variables added to the
 * environment, stdout and stderr (first STEP_RESPONSE_MAX bytes) as the
 * response; the process group is killed at the timeout. Exit 0 success,
 * 75 retry, anything else fails.
 *
 * exec_start() spawns the child; false when it could not (j->res says
 * why, the job is over). Then, each loop round, exec_fds() gives the fds
 * to watch (at most EXEC_FDS, in p; they only wake the loop; *tick set
 * when its exit cannot be polled for: no pidfd) and
 * exec_progress() moves the child on; it returns true once the job is over (res
 * filled, child reaped, fds closed). exec_deadline() is the monotonic ms of the
 * kill.
 */
#define EXEC_FDS 3
bool exec_start(struct step_job *j);
unsigned exec_fds(const struct step_job *j, struct pollfd *p, bool *tick);
bool exec_progress(struct step_job *j);
int64_t exec_deadline(const struct step_job *j);

/*
 * http steps (http.c) on one libcurl multi handle: POST of the event with
 * Idempotency-Key "<event id>:<step>" and, when the step has a secret, the
 * signature header (docs/flows.md). At most max_in_flight requests to the
 * same URL run at once; more wait in order. 2xx success; 408, 429, 5xx,
 * timeouts and connection errors retry (Retry-After kept); other statuses
 * fail. All calls but http_wakeup() come from the engine thread.
 */
struct http_engine;
/* Once per process, before any http_engine_new(). */
bool http_global_init(void);
struct http_engine *http_engine_new(step_done_fn *done, void *arg);
/* Frees h; no request may be running or waiting. */
void http_engine_free(struct http_engine *h);
/* Starts j now or when its URL has a free slot. */
void http_submit(struct http_engine *h, struct step_job *j);
/*
 * Waits up to timeout_ms for the network, the fds in p (revents set) or
 * http_wakeup(), then moves transfers on; finished jobs go to done.
 */
void http_wait(struct http_engine *h, struct pollfd *p, unsigned n,
    int timeout_ms);
/* Ends an http_wait() early; any thread. */
void http_wakeup(struct http_engine *h);
/* From now on a freed slot starts nothing; wakes http_wait(). Any thread. */
void http_stop(struct http_engine *h);
/* Gives every job waiting for a slot to done with not_run set. */
void http_drop_waiting(struct http_engine *h);
/* Requests running plus waiting. */
size_t http_pending(const struct http_engine *h);

/*
 * The engine (engine.c): one thread that runs every step, http and exec,
 * concurrently. Jobs come in through engine_submit() from any thread and
 * go out through done, called in the engine thread.
 */
struct engine;
struct engine *engine_start(step_done_fn *done, void *arg);
void engine_submit(struct engine *e, struct step_job *j);
/*
 * Stops starting jobs: those not started yet (and any submitted later)
 * go to done with not_run set; running ones finish. Any thread.
 */
void engine_stop(struct engine *e);
/* After engine_stop(): waits until nothing runs, ends the thread, frees. */
void engine_free(struct engine *e);

/*
 * The event JSON (event.c; ARCHITECTURE.md "The event") of a claimed
 * event. message is the parsed "message" object or NULL; it is borrowed.
 * Returns a compact JSON string (free()) and its length in *len.
 */
char *flow_event_json(const struct queue_claim *c, json_t *message,
    size_t *len);
/* The same as a new object (json_decref) the caller may add to. */
json_t *flow_event_object(const struct queue_claim *c, json_t *message);
/* Compact JSON of ev (free()), its length in *len. */
char *flow_event_dump(const json_t *ev, size_t *len);

enum prepare_verdict {
	PREPARE_RUN,    /* run the flow (after the dedup look-up) */
	PREPARE_IGNORE, /* automatic mail, auto_replies: ignore */
	PREPARE_DEAD,   /* a required property is missing */
};

/* An event ready for its flow, or the reason it is not (prepare.c). */
struct prepared {
	json_t *event; /* owned; the JSON every step gets */
	enum prepare_verdict verdict;
	char reason[STEP_REASON_MAX];   /* IGNORE, DEAD */
	char dedup_key[DEDUP_KEY_SIZE]; /* RUN */
	bool dedup_fallback; /* dedup.key rendered empty: default used */
	const char *subject; /* decoded Subject or NULL; lives with event */
	/* Is it automatic mail, whatever auto_replies says (for
	 * `mailtrigger route`, which shows the verdict). */
	struct autoreply_verdict autoreply;
};

/*
 * Parses c's message and applies t's rules: auto-replies, extract, the
 * dedup key. p is filled in every case; release with
 * flow_prepared_free().
 */
void flow_prepare(const struct queue_claim *c, const struct trigger *t,
    struct prepared *p);
void flow_prepared_free(struct prepared *p);

#endif
