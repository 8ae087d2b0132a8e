/*
 * resolve_plan - drives the pure mxplan_run() with real lookups.
 *
 * I/O shell: each MXPLAN_NEED becomes one dns_query(); its answer goes
 * into the table and the plan is walked again.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dns/mxplan.h"
#include "util/xmalloc.h"

struct job {
	struct dns_resolver *r;
	struct dns_lookups *t;
	struct mxplan *out;
	char domain[DNS_NAME_MAX + 1];
	mxplan_done_fn *done;
	void *arg;
};

static void step(struct job *j);

static void
answer_cb(const struct dns_answer *ans, void *arg)
{
	struct job *j = arg;

	dns_lookups_add(j->t, ans);
	step(j);
}

static void
step(struct job *j)
{
	char name[DNS_NAME_MAX + 1];
	enum dns_type type;

	if (mxplan_run(j->t, j->domain, j->out, name, sizeof(name), &type) ==
	    MXPLAN_NEED) {
		dns_query(j->r, name, type, answer_cb, j);
		return;
	}
	j->done(j->out, j->arg);
	free(j);
}

void
mxplan_resolve_async(struct dns_resolver *r, const char *domain,
    struct dns_lookups *t, struct mxplan *out, mxplan_done_fn *done, void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->r = r;
	j->t = t;
	j->out = out;
	snprintf(j->domain, sizeof(j->domain), "%s", domain);
	j->done = done;
	j->arg = arg;
	step(j);
}

static void
noop_done(struct mxplan *plan, void *arg)
{
}

void
mxplan_resolve(struct dns_resolver *r, const char *domain,
    struct dns_lookups *t, struct mxplan *out)
{
	mxplan_resolve_async(r, domain, t, out, noop_done, NULL);
	dns_wait(r);
}
