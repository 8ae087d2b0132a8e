/*
 * test_mxplan - the RFC 5321 5.1 plan, without DNS.
 *
 * Each row is a small zone. A fake authoritative server answers the
 * lookups mxplan_run() asks for (records of that name and type: NOERROR;
 * other records at the name: NOERROR without data; no records: NXDOMAIN;
 * a row may force a response code for one name/type). The walk checks the
 * outcome, the canonical name, the hosts with their addresses in order and
 * the findings, each compared as one string so a failure prints got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dns/mxplan.h"

/* Rows leave pref and rcode out when they are 0: easier to read. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define RR_MAX 12

struct zrr {
	const char *owner;
	enum dns_type type;
	const char *data; /* NULL with rcode: a forced response */
	unsigned pref;
	enum dns_rcode rcode;
};

struct row {
	const char *name;
	const char *domain;
	struct zrr zone[RR_MAX];
	enum mxplan_outcome outcome;
	const char *canonical;
	const char *hosts;    /* "PREF NAME[ADDR,...]" joined by " " */
	const char *findings; /* finding codes joined by "," */
};

static const struct row rows[] = {
	{ "own MX (safe)", "safe.t",
	    { { "safe.t", DNS_T_MX, "lb2.t", 20 },
		{ "safe.t", DNS_T_MX, "lb1.t", 10 },
		{ "lb1.t", DNS_T_A, "192.0.2.1" },
		{ "lb1.t", DNS_T_AAAA, "2001:db8::1" },
		{ "lb2.t", DNS_T_A, "192.0.2.2" } },
	    MXPLAN_DELIVERABLE, "safe.t",
	    "10 lb1.t[192.0.2.1,2001:db8::1] 20 lb2.t[192.0.2.2]", "" },
	{ "equal preferences sort by name", "eq.t",
	    { { "eq.t", DNS_T_MX, "b.t", 10 }, { "eq.t", DNS_T_MX, "a.t", 10 },
		{ "a.t", DNS_T_A, "192.0.2.1" },
		{ "b.t", DNS_T_A, "192.0.2.2" } },
	    MXPLAN_DELIVERABLE, "eq.t", "10 a.t[192.0.2.1] 10 b.t[192.0.2.2]",
	    "" },
	{ "host is a CNAME to an LB name", "acme.t",
	    { { "acme.t", DNS_T_CNAME, "lb-7.t" },
		{ "lb-7.t", DNS_T_MX, "mx1.t", 10 },
		{ "mx1.t", DNS_T_A, "192.0.2.7" } },
	    MXPLAN_DELIVERABLE, "lb-7.t", "10 mx1.t[192.0.2.7]",
	    "domain_is_cname" },
	{ "CNAME chain of 3", "c1.t",
	    { { "c1.t", DNS_T_CNAME, "c2.t" }, { "c2.t", DNS_T_CNAME, "c3.t" },
		{ "c3.t", DNS_T_CNAME, "end.t" },
		{ "end.t", DNS_T_A, "192.0.2.9" } },
	    MXPLAN_DELIVERABLE, "end.t", "0 end.t[192.0.2.9]",
	    "domain_is_cname,implicit_mx" },
	{ "CNAME loop", "l1.t",
	    { { "l1.t", DNS_T_CNAME, "l2.t" },
		{ "l2.t", DNS_T_CNAME, "l1.t" } },
	    MXPLAN_CNAME_BROKEN, "l2.t", "", "cname_loop" },
	{ "CNAME to itself", "self.t", { { "self.t", DNS_T_CNAME, "self.t" } },
	    MXPLAN_CNAME_BROKEN, "self.t", "", "cname_loop" },
	{ "CNAME chain too long", "n0.t",
	    { { "n0.t", DNS_T_CNAME, "n1.t" }, { "n1.t", DNS_T_CNAME, "n2.t" },
		{ "n2.t", DNS_T_CNAME, "n3.t" },
		{ "n3.t", DNS_T_CNAME, "n4.t" },
		{ "n4.t", DNS_T_CNAME, "n5.t" },
		{ "n5.t", DNS_T_CNAME, "n6.t" },
		{ "n6.t", DNS_T_CNAME, "n7.t" },
		{ "n7.t", DNS_T_CNAME, "n8.t" },
		{ "n8.t", DNS_T_CNAME, "n9.t" },
		{ "n9.t", DNS_T_A, "192.0.2.1" } },
	    MXPLAN_CNAME_BROKEN, "n8.t", "", "cname_too_long" },
	{ "dangling CNAME", "d.t", { { "d.t", DNS_T_CNAME, "gone.t" } },
	    MXPLAN_NXDOMAIN, "gone.t", "", "cname_dangling" },
	{ "MX target is a CNAME", "badmx.t",
	    { { "badmx.t", DNS_T_MX, "alias.t", 10 },
		{ "alias.t", DNS_T_CNAME, "real.t" },
		{ "real.t", DNS_T_A, "192.0.2.3" } },
	    MXPLAN_DELIVERABLE, "badmx.t", "10 alias.t[192.0.2.3]",
	    "mx_target_cname" },
	{ "no MX: implicit MX", "nomx.t",
	    { { "nomx.t", DNS_T_A, "192.0.2.5" },
		{ "nomx.t", DNS_T_AAAA, "2001:db8::5" } },
	    MXPLAN_DELIVERABLE, "nomx.t", "0 nomx.t[192.0.2.5,2001:db8::5]",
	    "implicit_mx" },
	{ "no MX and no address", "bare.t",
	    { { "bare.t", DNS_T_TXT, "v=spf1 -all" } }, MXPLAN_NO_ADDRESS,
	    "bare.t", "0 bare.t[]", "implicit_mx,mx_target_no_address" },
	{ "null MX", "null.t", { { "null.t", DNS_T_MX, ".", 0 } },
	    MXPLAN_NULL_MX, "null.t", "", "null_mx" },
	{ "null MX beside a real MX", "mixed.t",
	    { { "mixed.t", DNS_T_MX, ".", 0 },
		{ "mixed.t", DNS_T_MX, "mx.t", 10 },
		{ "mx.t", DNS_T_A, "192.0.2.4" } },
	    MXPLAN_DELIVERABLE, "mixed.t", "10 mx.t[192.0.2.4]",
	    "null_mx_mixed" },
	{ "NXDOMAIN", "nx.t", { { "other.t", DNS_T_A, "192.0.2.1" } },
	    MXPLAN_NXDOMAIN, "nx.t", "", "nxdomain" },
	{ "lame MX target", "lame.t",
	    { { "lame.t", DNS_T_MX, "gone.t", 10 },
		{ "lame.t", DNS_T_MX, "ok.t", 20 },
		{ "ok.t", DNS_T_A, "192.0.2.8" } },
	    MXPLAN_DELIVERABLE, "lame.t", "10 gone.t[] 20 ok.t[192.0.2.8]",
	    "mx_target_nxdomain" },
	{ "only MX target has no address", "noaddr.t",
	    { { "noaddr.t", DNS_T_MX, "mx.t", 10 },
		{ "mx.t", DNS_T_TXT, "x" } },
	    MXPLAN_NO_ADDRESS, "noaddr.t", "10 mx.t[]",
	    "mx_target_no_address" },
	{ "timeout on the first lookup", "slow.t",
	    { { "slow.t", DNS_T_CNAME, NULL, 0, DNS_TIMEOUT } },
	    MXPLAN_TEMPFAIL, "slow.t", "", "lookup_failed" },
	{ "SERVFAIL on MX", "sf.t",
	    { { "sf.t", DNS_T_A, "192.0.2.1" },
		{ "sf.t", DNS_T_MX, NULL, 0, DNS_SERVFAIL } },
	    MXPLAN_TEMPFAIL, "sf.t", "", "lookup_failed" },
	{ "AAAA times out but A answers", "half.t",
	    { { "half.t", DNS_T_MX, "mx.t", 10 },
		{ "mx.t", DNS_T_A, "192.0.2.1" },
		{ "mx.t", DNS_T_AAAA, NULL, 0, DNS_TIMEOUT } },
	    MXPLAN_DELIVERABLE, "half.t", "10 mx.t[192.0.2.1]",
	    "lookup_failed" },
	{ "only MX host times out", "to.t",
	    { { "to.t", DNS_T_MX, "mx.t", 10 },
		{ "mx.t", DNS_T_CNAME, NULL, 0, DNS_TIMEOUT } },
	    MXPLAN_TEMPFAIL, "to.t", "10 mx.t[]", "lookup_failed" },
	{ "trailing dot and case", "Safe.T.",
	    { { "safe.t", DNS_T_MX, "MX.t.", 5 },
		{ "mx.t", DNS_T_A, "192.0.2.1" } },
	    MXPLAN_DELIVERABLE, "Safe.T", "5 MX.t[192.0.2.1]", "" },
};

static bool
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* The fake authoritative server. */
static void
answer(const struct row *r, const char *name, enum dns_type type,
    struct dns_answer *a)
{
	bool exists = false;
	size_t i;

	memset(a, 0, sizeof(*a));
	snprintf(a->qname, sizeof(a->qname), "%s", name);
	a->qtype = type;
	for (i = 0; i < RR_MAX && r->zone[i].owner != NULL; i++) {
		const struct zrr *z = &r->zone[i];

		if (!same_name(z->owner, name))
			continue;
		exists = true;
		if (z->type != type)
			continue;
		if (z->data == NULL) {
			a->rcode = z->rcode;
			a->n = 0;
			return;
		}
		a->rr[a->n].type = type;
		a->rr[a->n].ttl = 300;
		a->rr[a->n].pref = z->pref;
		snprintf(a->rr[a->n].owner, DNS_NAME_MAX + 1, "%s", z->owner);
		snprintf(a->rr[a->n].data, DNS_DATA_MAX, "%s", z->data);
		a->n++;
	}
	a->rcode = exists ? DNS_NOERROR : DNS_NXDOMAIN;
}

static void
describe(const struct mxplan *p, char *hosts, size_t hlen, char *finds,
    size_t flen)
{
	size_t i, j, o = 0, f = 0;

	hosts[0] = finds[0] = '\0';
	for (i = 0; i < p->nhosts; i++) {
		const struct mx_host *h = &p->hosts[i];

		o += snprintf(hosts + o, hlen - o, "%s%u %s[", i ? " " : "",
		    h->pref, h->name);
		for (j = 0; j < h->naddr; j++)
			o += snprintf(hosts + o, hlen - o, "%s%s", j ? "," : "",
			    h->addr[j]);
		o += snprintf(hosts + o, hlen - o, "]");
	}
	for (i = 0; i < p->nfindings; i++)
		f += snprintf(finds + f, flen - f, "%s%s", i ? "," : "",
		    finding_code_name(p->findings[i].code));
}

/* Runs the plan for r, answering each lookup it asks for once. */
static void
walk(const struct row *r, struct dns_lookups *t, struct mxplan *plan)
{
	struct dns_answer a;
	char need[DNS_NAME_MAX + 1];
	enum dns_type type;
	int guard = 0;

	while (mxplan_run(t, r->domain, plan, need, sizeof(need), &type) ==
	    MXPLAN_NEED) {
		assert_null(dns_lookups_find(t, need, type));
		answer(r, need, type, &a);
		dns_lookups_add(t, &a);
		assert_true(++guard < 200);
	}
}

static void
run_row(const struct row *r)
{
	static struct mxplan plan;
	struct dns_lookups t = { 0 };
	char hosts[1024], finds[512];

	walk(r, &t, &plan);
	describe(&plan, hosts, sizeof(hosts), finds, sizeof(finds));
	if (plan.outcome != r->outcome ||
	    strcmp(plan.canonical, r->canonical) != 0 ||
	    strcmp(hosts, r->hosts) != 0 || strcmp(finds, r->findings) != 0) {
		print_error("row \"%s\":\n got  %s canonical=%s hosts=\"%s\" "
			    "findings=\"%s\"\n want %s canonical=%s "
			    "hosts=\"%s\" findings=\"%s\"\n",
		    r->name, mxplan_outcome_name(plan.outcome), plan.canonical,
		    hosts, finds, mxplan_outcome_name(r->outcome), r->canonical,
		    r->hosts, r->findings);
		dns_lookups_free(&t);
		fail();
	}
	assert_true(plan.nsteps > 0);
	dns_lookups_free(&t);
}

static void
test_rows(void **state)
{
	size_t i;

	for (i = 0; i < N(rows); i++)
		run_row(&rows[i]);
}

/* The chain is reported link by link, the domain first. */
static void
test_chain_reported(void **state)
{
	static struct mxplan plan;
	struct dns_lookups t = { 0 };

	assert_string_equal(rows[3].domain, "c1.t");
	walk(&rows[3], &t, &plan);
	assert_int_equal(plan.nchain, 3);
	assert_string_equal(plan.chain[0], "c1.t");
	assert_string_equal(plan.chain[1], "c2.t");
	assert_string_equal(plan.chain[2], "c3.t");
	assert_string_equal(plan.chain[3], "end.t");
	assert_int_equal(plan.chain_ttl[0], 300);
	/* CNAME x4 (3 links + the end), MX, A, AAAA: in the sender's order */
	assert_int_equal(plan.nsteps, 7);
	assert_int_equal(plan.steps[4]->qtype, DNS_T_MX);
	assert_string_equal(plan.steps[4]->qname, "end.t");
	dns_lookups_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_chain_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
