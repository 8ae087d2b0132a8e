/*
 * flow_int - what the runner (runner.c) shares with its steps (exec.c,
 * http.c) and the event builder (event.c). Internal to src/flow/.
 *
 * A step runs synchronously in the calling delivery thread and fills a
 * struct step_result; the runner records it as one attempt and decides,
 * through flow/backoff.h, whether the event goes on, is retried or is
 * dead-lettered. Nothing here owns a thread.
 */
#ifndef MT_FLOW_FLOW_INT_H
#define MT_FLOW_FLOW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "flow/backoff.h"
#include "queue/queue.h"
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
 * Runs an exec step (exec.c): argv without a shell, the event on stdin,
 * MT_* variables added to the environment, stdout and stderr (first
 * STEP_RESPONSE_MAX bytes) as the response; the process group is killed
 * at the timeout. Exit 0 success, 75 retry, anything else fails.
 */
void exec_step_run(const struct flow_step *st, const struct step_input *in,
    struct step_result *res);

/*
 * Runs an http step (http.c): POST of the event with Idempotency-Key
 * "<event id>:<step>" and, when the step has a secret, the signature
 * header (docs/flows.md). Waits while max_in_flight requests to the same
 * URL are running. 2xx success; 408, 429, 5xx, timeouts and connection
 * errors retry (Retry-After kept); other statuses fail.
 */
void http_step_run(const struct flow_step *st, const struct step_input *in,
    struct step_result *res);
/* Once per process, before any thread runs http_step_run(). */
bool http_global_init(void);

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
