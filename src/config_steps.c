/*
 * config_steps - the options every flow step shares: timeout, retry
 * policy, and for http steps secret_env and max_in_flight.
 *
 * Pure apart from one getenv(): secret_env names an environment variable
 * whose value is read here, at load, so the secret is never written in
 * the config file and a missing one is a config error, not a failure at
 * the first delivery. Defaults: docs/flows.md.
 */
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "flow/backoff.h"
#include "util/units.h"
#include "util/xmalloc.h"

#define STEP_TIMEOUT_MS 30000ULL
#define STEP_TIMEOUT_MAX_MS (60ULL * 60 * 1000)
#define STEP_IN_FLIGHT 32
#define STEP_IN_FLIGHT_MAX 1024

void
cfg_step_defaults(struct flow_step *st)
{
	st->timeout_ms = STEP_TIMEOUT_MS;
	st->retry_first_ms = BACKOFF_FIRST_MS;
	st->retry_max_ms = BACKOFF_MAX_DELAY_MS;
	st->retry_max_age_ms = BACKOFF_MAX_AGE_MS;
	st->retry_attempts = 0;
	st->max_in_flight = STEP_IN_FLIGHT;
}

/* A duration in 1 ms..max; false after reporting an error. */
static bool
get_duration(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (n->kind != YN_SCALAR || n->is_null ||
	    memchr(n->text, '\0', n->len) != NULL ||
	    !units_parse_duration(n->text, &v)) {
		cfg_wrong_type(ctx, n, path,
		    "a duration (a number and a unit: 100ms, 30s, 5m, 24h)");
		return false;
	}
	if (v == 0 || v > max) {
		cfg_err(ctx, n, "%s: out of range (use 1ms..%llus)", path,
		    (unsigned long long)(max / 1000));
		return false;
	}
	*out = v;
	return true;
}

/* A whole number in min..max; false after reporting an error. */
static bool
get_count(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    unsigned min, unsigned max, unsigned *out)
{
	char *end = NULL;
	unsigned long v;

	if (n->kind != YN_SCALAR || n->is_null || n->len == 0 ||
	    n->text[0] < '0' || n->text[0] > '9') {
		cfg_wrong_type(ctx, n, path, "a whole number");
		return false;
	}
	v = strtoul(n->text, &end, 10);
	if (*end != '\0' || v < min || v > max) {
		cfg_err(ctx, n, "%s: out of range (use %u..%u)", path, min,
		    max);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/* retry: {first: 1s, max: 10m, max_age: 24h, attempts: 0} */
static void
walk_retry(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct flow_step *st)
{
	static const char *const keys[] = { "first", "max", "max_age",
		"attempts" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char p[CFG_PATH_MAX];

	if (!cfg_walk_map(ctx, n, path,
		"a mapping (retry: {first: 1s, max: 10m, max_age: 24h})", keys,
		NELEM(keys), v, k))
		return;
	cfg_path(p, path, "first");
	if (v[0] != NULL)
		get_duration(ctx, v[0], p, BACKOFF_MAX_DELAY_MS * 6,
		    &st->retry_first_ms);
	cfg_path(p, path, "max");
	if (v[1] != NULL)
		get_duration(ctx, v[1], p, BACKOFF_MAX_AGE_MS,
		    &st->retry_max_ms);
	cfg_path(p, path, "max_age");
	if (v[2] != NULL)
		get_duration(ctx, v[2], p, BACKOFF_MAX_AGE_MS * 30,
		    &st->retry_max_age_ms);
	cfg_path(p, path, "attempts");
	if (v[3] != NULL)
		get_count(ctx, v[3], p, 0, 1000000, &st->retry_attempts);
}

/* secret_env: the variable must be set and non-empty at load. */
static void
walk_secret(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct flow_step *st)
{
	const char *value;

	st->secret_env = cfg_get_string(ctx, n, path);
	if (st->secret_env == NULL)
		return;
	value = getenv(st->secret_env);
	if (value == NULL || value[0] == '\0') {
		cfg_err(ctx, n,
		    "%s: environment variable %s is not set or empty (set "
		    "it to the signing secret before starting mailtrigger)",
		    path, st->secret_env);
		return;
	}
	st->secret = xstrdup(value);
}

void
cfg_step_options(struct cfg_ctx *ctx, const char *path,
    const struct ynode *const *v, size_t n, struct flow_step *st)
{
	char p[CFG_PATH_MAX];

	if (n > 0 && v[0] != NULL) {
		cfg_path(p, path, "timeout");
		get_duration(ctx, v[0], p, STEP_TIMEOUT_MAX_MS,
		    &st->timeout_ms);
	}
	if (n > 1 && v[1] != NULL) {
		cfg_path(p, path, "retry");
		walk_retry(ctx, v[1], p, st);
	}
	if (n > 2 && v[2] != NULL) {
		cfg_path(p, path, "secret_env");
		walk_secret(ctx, v[2], p, st);
	}
	if (n > 3 && v[3] != NULL) {
		cfg_path(p, path, "max_in_flight");
		get_count(ctx, v[3], p, 1, STEP_IN_FLIGHT_MAX,
		    &st->max_in_flight);
	}
}

void
cfg_step_free(struct flow_step *st)
{
	free(st->secret_env);
	if (st->secret != NULL)
		explicit_bzero(st->secret, strlen(st->secret));
	free(st->secret);
}
