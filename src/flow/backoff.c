/*
 * backoff - retry delays, the give-up rule and result classification.
 *
 * Pure. See backoff.h. Jitter spreads the retries of many events that
 * failed together (a receiver that was down) so they do not return in
 * one burst; "equal" jitter keeps at least half the delay so a retry is
 * never immediate.
 */
#include "flow/backoff.h"

#include <stddef.h>

void
backoff_default_policy(struct backoff_policy *p)
{
	p->first_ms = BACKOFF_FIRST_MS;
	p->max_delay_ms = BACKOFF_MAX_DELAY_MS;
	p->max_attempts = 0;
	p->max_age_ms = BACKOFF_MAX_AGE_MS;
	p->jitter = BACKOFF_JITTER_EQUAL;
}

/* first * 2^(n-1), capped, without overflowing. */
static uint64_t
base_delay(const struct backoff_policy *p, unsigned n)
{
	uint64_t d = p->first_ms;
	unsigned i;

	if (d == 0)
		d = 1;
	for (i = 1; i < n && d < p->max_delay_ms; i++) {
		if (d > UINT64_MAX / 2)
			return p->max_delay_ms;
		d *= 2;
	}
	return d < p->max_delay_ms ? d : p->max_delay_ms;
}

/* d * rnd / 2^32 without overflow: d is split into 32-bit halves. */
static uint64_t
scale(uint64_t d, uint32_t rnd)
{
	uint64_t hi = d >> 32, lo = d & 0xffffffffULL;

	return hi * rnd + ((lo * rnd) >> 32);
}

uint64_t
backoff_delay(const struct backoff_policy *p, unsigned n, uint32_t rnd,
    int64_t retry_after_s)
{
	uint64_t d, ra;

	d = base_delay(p, n == 0 ? 1 : n);
	switch (p->jitter) {
	case BACKOFF_JITTER_NONE:
		break;
	case BACKOFF_JITTER_EQUAL:
		d = d - d / 2 + scale(d / 2, rnd);
		break;
	case BACKOFF_JITTER_FULL:
		d = scale(d, rnd);
		break;
	}
	if (retry_after_s >= 0) {
		ra = (uint64_t)retry_after_s;
		ra = ra > UINT64_MAX / 1000 ? UINT64_MAX : ra * 1000;
		if (ra > p->max_delay_ms)
			ra = p->max_delay_ms;
		if (ra > d)
			d = ra;
	}
	return d;
}

bool
backoff_give_up(const struct backoff_policy *p, unsigned n, uint64_t age_ms,
    uint64_t delay_ms)
{
	if (p->max_attempts != 0 && n >= p->max_attempts)
		return true;
	if (p->max_age_ms == 0)
		return false;
	if (age_ms >= p->max_age_ms)
		return true;
	return delay_ms > p->max_age_ms - age_ms;
}

enum step_outcome
backoff_classify_http(int status)
{
	if (status >= 200 && status <= 299)
		return OUTCOME_SUCCESS;
	/* 0: no response at all (timeout, connection error). */
	if (status == 0 || status == 408 || status == 429)
		return OUTCOME_RETRY;
	if (status >= 500 && status <= 599)
		return OUTCOME_RETRY;
	return OUTCOME_FAIL;
}

enum step_outcome
backoff_classify_exec(enum exec_end end, int exit_code)
{
	switch (end) {
	case EXEC_EXITED:
		if (exit_code == 0)
			return OUTCOME_SUCCESS;
		/* EX_TEMPFAIL (sysexits.h): "try again later". */
		return exit_code == 75 ? OUTCOME_RETRY : OUTCOME_FAIL;
	case EXEC_TIMEOUT:
		return OUTCOME_RETRY;
	case EXEC_SIGNALED:
	case EXEC_SPAWN_FAILED:
		break;
	}
	return OUTCOME_FAIL;
}

const char *
backoff_outcome_name(enum step_outcome o)
{
	switch (o) {
	case OUTCOME_SUCCESS:
		return "success";
	case OUTCOME_RETRY:
		return "retry";
	case OUTCOME_FAIL:
		break;
	}
	return "fail";
}
