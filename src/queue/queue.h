/*
 * queue - the durable message queue interface (group commit).
 *
 * Not pure: owns a database and a writer thread. A message and its
 * envelope are stored in one transaction, together with one event row per
 * trigger it is addressed to. queue_submit() hands a message to the writer
 * thread, which commits everything submitted so far in ONE transaction and
 * ONE fsync (group commit), then reports each job's status through the
 * notify fd: the event loop calls queue_dispatch() when the fd is readable,
 * and the done callbacks run there, in the loop thread. A commit either
 * stores a message with all its events or nothing of it.
 *
 * Backend: SQLite in WAL mode with synchronous=FULL (src/queue/sqlite.c).
 * Schema and recovery: docs/queue.md.
 */
#ifndef MT_QUEUE_QUEUE_H
#define MT_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/id.h"

/* The schema this mailtrigger writes (docs/queue.md); PRAGMA user_version. */
#define QUEUE_SCHEMA_VERSION 5

enum queue_status {
	QUEUE_OK = 0,
	QUEUE_ERR_IO,     /* commit failed (disk full, I/O error): 451 4.3.0 */
	QUEUE_ERR_CLOSED, /* queue is shutting down: 451 4.3.0 */
	/* Delivery only: what is stored cannot be read and never will be
	 * (a body's segment file deleted or cut short, an event without its
	 * message); queue_delivery_errmsg() says what. */
	QUEUE_ERR_CORRUPT,
};

/* One event: the recipients of one trigger in one message. */
struct queue_event {
	char id[ID_LEN + 8]; /* "evt_" + message id [+ ".N" for N > 1] */
	char *instance;
	char *trigger;
	char *tag;         /* "" when none */
	char **recipients; /* recipient form: local parts; may be 0 */
	size_t n_recipients;
	char **rcpt_to; /* every RCPT TO address of this trigger, as given */
	size_t n_rcpt_to;
	/* CNAME recovery (docs/routing.md): the first rewritten recipient,
	 * stored as events.rewrite {received, recovered, evidence}; NULL
	 * when no recipient of the event was rewritten. */
	char *rewrite_received;
	char *rewrite_recovered;
	const char *rewrite_evidence; /* "sender_domains", "received_for" */
};

/* A message as stored. Owns every pointer in it. */
struct queue_message {
	char id[ID_LEN + 1];
	int64_t received_at_ms; /* Unix time, milliseconds */
	char *mail_from;        /* "" for the null sender */
	char *client_ip;
	char *helo;
	bool tls;
	bool smtputf8;
	char *data; /* the message as received, with our Received: on top */
	size_t len;
	struct queue_event *events;
	size_t n_events;
};

void queue_message_free(struct queue_message *m);

struct queue;
struct queue_job;

typedef void queue_done_cb(void *arg, enum queue_status st);

/*
 * Opens (creating if needed) the queue at path and starts its writer
 * thread. Any half-written state from a crash is recovered here (SQLite
 * rolls back an uncommitted WAL tail). Returns NULL and writes a message to
 * err on failure.
 */
struct queue *queue_open(const char *path, char *err, size_t errlen);
/*
 * Waits for submitted jobs to commit, stops the thread, closes. The done
 * callbacks of jobs not cancelled run from inside queue_close() (each
 * exactly once); a job submitted once queue_close() has begun completes
 * with QUEUE_ERR_CLOSED. Call from the loop thread.
 */
void queue_close(struct queue *q);
/*
 * fn() runs in the writer thread after each group commit, before the
 * jobs' callbacks: delivery (flow/runner.h runner_kick()) looks for the
 * new events at once instead of at its next poll. NULL: none.
 */
void queue_on_commit(struct queue *q, void (*fn)(void));
/* Readable when completed jobs are waiting for queue_dispatch(). */
int queue_notify_fd(struct queue *q);
/* Runs done callbacks of completed jobs. Call from the loop thread. */
void queue_dispatch(struct queue *q);
/*
 * Submits m (ownership passes to the queue). cb(arg, status) runs later
 * from queue_dispatch(), exactly once, unless the job is cancelled first.
 * The returned handle is valid until the callback runs or the job is
 * cancelled.
 */
struct queue_job *queue_submit(struct queue *q, struct queue_message *m,
    queue_done_cb *cb, void *arg);
/* The callback will not run; the message may still be committed. */
void queue_job_cancel(struct queue_job *job);
/* Jobs submitted and not yet dispatched (for shutdown). */
size_t queue_pending(struct queue *q);

/*
 * One refused RCPT (docs/queue.md, "Trace"): a rejections row. The
 * strings are borrowed for the call (NULL is stored as "").
 */
struct queue_rejection {
	int64_t at_ms; /* Unix ms */
	const char *client_ip;
	const char *helo;
	const char *mail_from; /* "" for the null sender */
	const char *rcpt;      /* the address as given */
	int code;              /* 550, 554, 452, ... */
	const char *reply;     /* the whole reply line, without CRLF */
};

/* Rows waiting for the writer; beyond this they are dropped (counted). */
#define QUEUE_REJECTIONS_BACKLOG 10000

/*
 * Copies r into the writer's backlog: it is stored with the next group
 * commit, or on its own after at most a second when no message comes.
 * Never touches the database and never blocks on it: when the backlog
 * is full (or the queue is closing) the row is dropped, counted in
 * queue_stats(), and logged at most once a minute. Returns false when
 * dropped. Any thread.
 */
bool queue_record_rejection(struct queue *q, const struct queue_rejection *r);

/*
 * Delivery (docs/queue.md, "Delivery"). A delivery connection is a second
 * SQLite connection, used by ONE delivery thread at a time, separate from
 * the writer thread so flows never slow down intake group commit. Every
 * state change of an event after intake goes through these functions.
 */
struct queue_delivery;

/* A claimed event with its stored message. Owns every pointer in it. */
struct queue_claim {
	char id[ID_LEN + 16];
	char message_id[ID_LEN + 1];
	char *instance;
	char *trigger;
	char *tag;              /* "" when none */
	char *recipients;       /* JSON array, as stored */
	char *rcpt_to;          /* JSON array, as stored */
	unsigned attempts;      /* attempts already made, all steps */
	unsigned next_step;     /* index of the first step not yet done */
	unsigned step_attempts; /* attempts already made at next_step */
	int64_t created_at_ms;
	int64_t received_at_ms;
	char *mail_from;
	char *client_ip;
	char *helo;
	bool tls;
	bool smtputf8;
	char *data;
	size_t len;
	/* events.rewrite: the JSON {received, recovered, evidence} of a
	 * recipient recovered from CNAME expansion, or NULL. */
	char *rewrite;
};

/* One try of one step. The strings are borrowed for the call. */
struct queue_attempt {
	const char *event_id;
	unsigned step; /* index in the trigger's flow */
	int64_t at_ms; /* start, Unix ms */
	int64_t latency_ms;
	const char *status;   /* "ok", "retry", "fail" */
	int code;             /* HTTP status or exit code; -1 when none */
	const char *response; /* first bytes of the answer (<= 1 KB kept) */
	size_t response_len;
	bool step_done; /* success: the event moves on to step + 1 */
};

/*
 * Opens a delivery connection to the queue at path (queue_open() must
 * have created it). Returns NULL and writes a reason to err on failure.
 */
struct queue_delivery *queue_delivery_open(const char *path, char *err,
    size_t errlen);
void queue_delivery_close(struct queue_delivery *d);
/* Why the last call on d failed (SQLite's message); valid until the next. */
const char *queue_delivery_errmsg(struct queue_delivery *d);
/*
 * A batch: between queue_delivery_begin() and queue_delivery_commit() the
 * calls below share one write transaction (each still all or nothing,
 * through a savepoint), so many state changes cost one commit. The batch
 * holds the queue's write lock: keep it short. A failed commit rolls the
 * whole batch back (its events run again: at least once).
 */
enum queue_status queue_delivery_begin(struct queue_delivery *d);
enum queue_status queue_delivery_commit(struct queue_delivery *d);
/*
 * Claims up to max due events: queued or retry with next_attempt_at <=
 * now, or running with an expired lease (its worker died). Each becomes
 * running with lease_until = now + lease_ms. *out (free with
 * queue_claims_free()) holds *n claims, oldest first.
 */
enum queue_status queue_claim(struct queue_delivery *d, int64_t now_ms,
    int64_t lease_ms, size_t max, struct queue_claim **out, size_t *n);
/*
 * The same claim, with only each claim's id filled: the message is read
 * later by queue_claim_load(), outside the write transaction, so a batch
 * that claims 64 messages of 100 KB does not hold the write lock (and
 * intake's commits) while it reads 6 MB.
 */
enum queue_status queue_claim_ids(struct queue_delivery *d, int64_t now_ms,
    int64_t lease_ms, size_t max, struct queue_claim **out, size_t *n);
/*
 * Fills claim c, whose id is set, as queue_claim() would: envelope,
 * message, next step and its attempts. A read of its own (not in a
 * batch); any delivery connection, e.g. a second one for another thread.
 * QUEUE_ERR_IO also when the event or its message is gone.
 */
enum queue_status queue_claim_load(struct queue_delivery *d,
    struct queue_claim *c);
void queue_claims_free(struct queue_claim *c, size_t n);
/*
 * Sets running events whose lease is held by nobody (a previous process
 * of this gateway) due now. For start-up only: a SQLite queue has one
 * gateway. Returns the number of events, or -1 on error.
 */
long queue_recover_running(struct queue_delivery *d, int64_t now_ms);
/* Earliest next_attempt_at of a waiting event; INT64_MAX when none. */
int64_t queue_next_due(struct queue_delivery *d);
/* Records one attempt (attempts table) and counts it on the event. */
enum queue_status queue_record_attempt(struct queue_delivery *d,
    const struct queue_attempt *a);
/* The flow ran to its end: state 'done'. */
enum queue_status queue_complete(struct queue_delivery *d, const char *id);
/* Try again at next_ms: state 'retry', lease dropped. */
enum queue_status queue_retry(struct queue_delivery *d, const char *id,
    int64_t next_ms);
/* Give up: state 'dead' with reason (shown by queue show and trace). */
enum queue_status queue_dead(struct queue_delivery *d, const char *id,
    const char *reason);
/*
 * Records key as event id's dedup key and, in the same transaction, looks
 * for another event with that key created at or after since_ms that ran
 * or will run (queued, running, retry, done). Found: its id is written to
 * of (ID_LEN + 16 bytes) and *dup set. Check and record are one step, so
 * of two copies handled at once exactly one is the duplicate.
 */
enum queue_status queue_dedup(struct queue_delivery *d, const char *id,
    const char *key, int64_t since_ms, bool *dup, char *of);
/*
 * Ends an event without running its flow: state is "ignored" (automatic
 * mail) or "duplicate", note says why.
 */
enum queue_status queue_skip(struct queue_delivery *d, const char *id,
    const char *state, const char *note);

#endif
