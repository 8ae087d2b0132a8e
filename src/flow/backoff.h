/*
 * backoff - retry arithmetic for flow steps: the delay before the next
 * attempt, when to give up, and what a step's result means.
 *
 * Pure: no clock, no random source. The caller passes the attempt number,
 * the event's age and a uniformly random 32-bit value, so every decision
 * is reproducible in tests. Delays follow "exponential backoff and jitter"
 * (first retry after about 1 s, doubling, capped at 10 minutes); a
 * Retry-After (RFC 9110 section 10.2.3) from the receiver, already turned
 * into seconds by the caller, is honoured up to the cap. Read
 * docs/flows-rules.md.
 */
#ifndef MT_FLOW_BACKOFF_H
#define MT_FLOW_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_FIRST_MS 1000ULL
#define BACKOFF_MAX_DELAY_MS (10ULL * 60 * 1000)
#define BACKOFF_MAX_AGE_MS (24ULL * 60 * 60 * 1000)
/* No Retry-After header, or one that did not parse. */
#define BACKOFF_NO_RETRY_AFTER (-1)

enum backoff_jitter {
	BACKOFF_JITTER_NONE,  /* exactly first * 2^(n-1) */
	BACKOFF_JITTER_EQUAL, /* half fixed, half random: [d/2, d] */
	BACKOFF_JITTER_FULL,  /* all random: [0, d] */
};

struct backoff_policy {
	uint64_t first_ms;     /* delay after the first failure */
	uint64_t max_delay_ms; /* cap on any one delay */
	unsigned max_attempts; /* 0 = no limit by count */
	uint64_t max_age_ms;   /* 0 = no limit by age */
	enum backoff_jitter jitter;
};

enum step_outcome {
	OUTCOME_SUCCESS,
	OUTCOME_RETRY, /* transient: try again after a delay */
	OUTCOME_FAIL,  /* permanent: dead-letter now */
};

/* How an exec step ended, as seen by the runner. */
enum exec_end {
	EXEC_EXITED,   /* exit_code is valid */
	EXEC_SIGNALED, /* killed by a signal other than our timeout */
	EXEC_TIMEOUT,  /* we killed it at the step's timeout */
	EXEC_SPAWN_FAILED,
};

/* Fills p with the defaults: 1 s, 10 min cap, no count limit, 24 h, equal
 * jitter. */
void backoff_default_policy(struct backoff_policy *p);

/*
 * The delay in ms before attempt n+1, after attempt n (1-based) failed:
 * min(first * 2^(n-1), cap) with the policy's jitter drawn from rnd
 * (uniform over 0..UINT32_MAX). retry_after_s >= 0 raises the delay to
 * that many seconds, still within the cap; BACKOFF_NO_RETRY_AFTER (or any
 * negative value) means none. n == 0 is treated as 1.
 */
uint64_t backoff_delay(const struct backoff_policy *p, unsigned n, uint32_t rnd,
    int64_t retry_after_s);

/*
 * True when the event should be dead-lettered instead of retried: n
 * attempts were made and the policy allows at most n, or the next try
 * (age_ms + delay_ms after the event was created) would be past max_age.
 */
bool backoff_give_up(const struct backoff_policy *p, unsigned n,
    uint64_t age_ms, uint64_t delay_ms);

/*
 * An HTTP step's result: status is the response's status code, or 0 when
 * there was none (timeout, refused or reset connection, TLS failure):
 * 2xx success; 0, 408, 429 and 5xx retry; anything else fails (RFC 9110
 * section 15). A 3xx is a failure: steps do not follow redirects.
 */
enum step_outcome backoff_classify_http(int status);

/*
 * An exec step's result: exit 0 success, 75 (EX_TEMPFAIL, sysexits.h)
 * and a timeout retry; other exit codes, signals and a failed spawn fail.
 */
enum step_outcome backoff_classify_exec(enum exec_end end, int exit_code);

/* "success", "retry" or "fail": for logs and the trace. */
const char *backoff_outcome_name(enum step_outcome o);

#endif
