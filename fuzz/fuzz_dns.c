/*
 * fuzz_dns - libFuzzer target for the DNS response parser and the RFC
 * 5321 5.1 plan.
 *
 * Parses the input as a DNS response. When it parses, the records stand
 * for a whole zone: every lookup mxplan_run() asks for is answered with
 * the records of that name and type (NOERROR, possibly empty), and the
 * plan for the question's name is walked to the end. Aborts when an
 * invariant breaks:
 *   - at most DNS_RR_MAX records are kept; every text field is
 *     NUL-terminated within its buffer; names fit RFC 1035 2.3.4;
 *   - the walk ends (MXPLAN_DONE) within a bounded number of lookups and
 *     never asks twice for the same lookup;
 *   - the plan's counts are within their arrays; a deliverable plan has a
 *     host with an address.
 * Seeds: fuzz/corpus/dns/ (responses captured from unbound).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/mxplan.h"

static bool
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void
check_answer(const struct dns_answer *a)
{
	size_t i;

	if (a->n > DNS_RR_MAX)
		abort();
	for (i = 0; i < a->n; i++) {
		if (!terminated(a->rr[i].owner, sizeof(a->rr[i].owner)) ||
		    !terminated(a->rr[i].data, sizeof(a->rr[i].data)) ||
		    strlen(a->rr[i].owner) > 254)
			abort();
		if ((a->rr[i].type == DNS_T_MX ||
			a->rr[i].type == DNS_T_CNAME) &&
		    strlen(a->rr[i].data) > 254)
			abort();
	}
}

/* The records of `all` owned by name, of type type. */
static void
answer_from(const struct dns_answer *all, const char *name, enum dns_type type,
    struct dns_answer *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	snprintf(out->qname, sizeof(out->qname), "%s", name);
	out->qtype = type;
	for (i = 0; i < all->n; i++)
		if (all->rr[i].type == type &&
		    strcasecmp(all->rr[i].owner, name) == 0)
			out->rr[out->n++] = all->rr[i];
}

static void
check_plan(const struct mxplan *p)
{
	size_t i;
	bool addr = false;

	if (p->nhosts > MXPLAN_HOSTS_MAX || p->nchain > MXPLAN_CNAME_MAX ||
	    p->nfindings > MXPLAN_FINDINGS_MAX || p->nsteps > MXPLAN_STEPS_MAX)
		abort();
	for (i = 0; i < p->nhosts; i++) {
		if (p->hosts[i].naddr > MXPLAN_ADDRS_MAX)
			abort();
		addr = addr || p->hosts[i].naddr > 0;
	}
	if (p->outcome == MXPLAN_DELIVERABLE && !addr)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_answer all, one;
	static struct mxplan plan;
	struct dns_lookups t = { 0 };
	char need[DNS_NAME_MAX + 1];
	enum dns_type type;
	const char *domain;
	int guard = 0;

	memset(&all, 0, sizeof(all));
	if (!dns_parse_response(data, size, &all))
		return 0;
	check_answer(&all);
	domain = all.n > 0 ? all.rr[0].owner : "example";
	while (mxplan_run(&t, domain, &plan, need, sizeof(need), &type) ==
	    MXPLAN_NEED) {
		if (dns_lookups_find(&t, need, type) != NULL || ++guard > 400)
			abort();
		answer_from(&all, need, type, &one);
		dns_lookups_add(&t, &one);
	}
	check_plan(&plan);
	dns_lookups_free(&t);
	return 0;
}
