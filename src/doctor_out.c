/*
 * doctor_out - the doctor report in plain words and as JSON (see
 * doctor.h; the checks and the verdict are in doctor.c).
 *
 * Output only: it reads a finished struct doctor_check and prints or
 * builds; `check-dns` embeds the JSON object of each name it checks.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "doctor.h"
#include "doctor_int.h"

static void
print_rr(const struct dns_rr *rr)
{
	if (rr->type == DNS_T_MX)
		printf("       %s. %u MX %u %s%s\n", rr->owner, rr->ttl,
		    rr->pref, rr->data, strcmp(rr->data, ".") == 0 ? "" : ".");
	else if (rr->type == DNS_T_CNAME)
		printf("       %s. %u CNAME %s.\n", rr->owner, rr->ttl,
		    rr->data);
	else if (rr->type == DNS_T_TXT)
		printf("       %s. %u TXT \"%s\"\n", rr->owner, rr->ttl,
		    rr->data);
	else
		printf("       %s. %u %s %s\n", rr->owner, rr->ttl,
		    dns_type_name(rr->type), rr->data);
}

static void
print_steps(const struct doctor_check *r)
{
	const struct mxplan *p = r->plan;
	const struct dns_answer *a;
	size_t i, j;

	printf("DNS server: %s\n\n",
	    r->servers ? r->servers : "the system's (/etc/resolv.conf)");
	printf("Lookups, in the order an RFC 5321 sender does them "
	       "(5.1):\n");
	for (i = 0; i < p->nsteps; i++) {
		a = p->steps[i];
		printf("  %2zu. %s %s: %s", i + 1, a->qname,
		    dns_type_name(a->qtype), dns_rcode_name(a->rcode));
		if (a->rcode == DNS_TIMEOUT)
			printf(" - no answer from the DNS server within "
			       "%u ms",
			    r->timeout_ms);
		else if (a->rcode == DNS_NOERROR && a->n == 0)
			printf(", no %s records", dns_type_name(a->qtype));
		if (a->detail[0] != '\0')
			printf(" (%s)", a->detail);
		printf("\n");
		for (j = 0; j < a->n; j++)
			print_rr(&a->rr[j]);
	}
}

static void
print_plan(const struct mxplan *p)
{
	size_t i, j;

	printf("\nWhere mail for %s goes:\n", p->domain);
	if (p->nchain > 0) {
		printf("  CNAME chain:");
		for (i = 0; i <= p->nchain; i++)
			printf("%s %s", i ? " ->" : "", p->chain[i]);
		printf("\n");
	}
	printf("  outcome: %s\n", mxplan_outcome_name(p->outcome));
	for (i = 0; i < p->nhosts; i++) {
		const struct mx_host *h = &p->hosts[i];

		printf("  %s %u %s%s%s%s:", h->implicit ? "implicit MX" : "MX",
		    h->pref, h->name, h->is_cname ? " (alias of " : "",
		    h->is_cname ? h->canonical : "", h->is_cname ? ")" : "");
		for (j = 0; j < h->naddr; j++)
			printf(" %s", h->addr[j]);
		printf("%s\n", h->naddr ? "" : " no address");
	}
	if (p->nfindings == 0)
		return;
	printf("\nFindings:\n");
	for (i = 0; i < p->nfindings; i++)
		printf("  %s [%s]: %s\n",
		    finding_level_name(p->findings[i].level),
		    finding_code_name(p->findings[i].code),
		    p->findings[i].text);
}

static void
print_route(const char *label, const struct route_result *res)
{
	printf("  gateway reply to %s: %d %s %s\n", label, res->code,
	    res->enhanced, res->text);
}

static void
print_probe(const struct probe *pr)
{
	const struct probe_try *t;
	size_t i, j;

	printf("\nSMTP probe (never DATA):\n");
	if (pr->ntries == 0)
		printf("  no MX host has an address to connect to\n");
	for (i = 0; i < pr->ntries; i++) {
		t = &pr->tries[i];
		printf("  %s [%s]:%d\n", t->host, t->addr, t->port);
		for (j = 0; j < t->nsteps; j++) {
			if (t->steps[j].command[0] != '\0')
				printf("    > %s\n", t->steps[j].command);
			if (t->steps[j].code != 0)
				printf("    < %s\n", t->steps[j].text);
		}
		if (t->error[0] != '\0')
			printf("    ! %s\n", t->error);
	}
}

void
doctor_print_plain(const struct doctor_check *r)
{
	size_t i;

	printf("Checking <%s>\n\n", r->rcpt.address);
	print_steps(r);
	print_plan(r->plan);
	printf("\nCNAME expansion (Sendmail's default):\n");
	if (!r->expands)
		printf("  %s is not a CNAME: nothing is rewritten\n",
		    r->plan->domain);
	else
		printf("  a CNAME-expanding sender sends RCPT TO:<%s> and "
		       "rewrites To: the same way\n",
		    r->expanded.address);
	if (r->routed) {
		print_route("the address as given", &r->orig);
		if (r->expands)
			print_route("the expanded address", &r->exp);
	} else if (r->expands && r->probe == NULL)
		printf("  (--config FILE or --probe shows the gateway's "
		       "reply)\n");
	if (r->probe != NULL)
		print_probe(r->probe);
	printf("\nVerdict: %s\n", r->verdict);
	if (r->nfixes > 0)
		printf("\nFix:\n");
	for (i = 0; i < r->nfixes; i++)
		printf("  - %s\n", r->fixes[i]);
}

static json_t *
json_answer(const struct dns_answer *a)
{
	json_t *recs = json_array();
	size_t j;

	for (j = 0; j < a->n; j++) {
		const struct dns_rr *rr = &a->rr[j];
		json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "name", rr->owner,
		    "type", dns_type_name(rr->type), "ttl", (json_int_t)rr->ttl,
		    "data", rr->data);

		if (rr->type == DNS_T_MX)
			json_object_set_new(o, "preference",
			    json_integer(rr->pref));
		json_array_append_new(recs, o);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", a->qname, "type",
	    dns_type_name(a->qtype), "rcode", dns_rcode_name(a->rcode),
	    "detail", a->detail, "records", recs);
}

static json_t *
json_host(const struct mx_host *h)
{
	json_t *addrs = json_array();
	size_t j;

	for (j = 0; j < h->naddr; j++)
		json_array_append_new(addrs,
		    json_pack("{s:s, s:I}", "address", h->addr[j], "ttl",
			(json_int_t)h->addr_ttl[j]));
	return json_pack("{s:s, s:s, s:I, s:I, s:b, s:b, s:o}", "name", h->name,
	    "canonical", h->canonical, "preference", (json_int_t)h->pref, "ttl",
	    (json_int_t)h->ttl, "implicit", h->implicit, "cname", h->is_cname,
	    "addresses", addrs);
}

static json_t *
json_plan(const struct mxplan *p)
{
	json_t *steps = json_array(), *chain = json_array();
	json_t *hosts = json_array(), *finds = json_array();
	size_t i;

	for (i = 0; i < p->nsteps; i++)
		json_array_append_new(steps, json_answer(p->steps[i]));
	for (i = 0; i <= p->nchain; i++)
		json_array_append_new(chain, json_string(p->chain[i]));
	for (i = 0; i < p->nhosts; i++)
		json_array_append_new(hosts, json_host(&p->hosts[i]));
	for (i = 0; i < p->nfindings; i++)
		json_array_append_new(finds,
		    json_pack("{s:s, s:s, s:s, s:s}", "code",
			finding_code_name(p->findings[i].code), "level",
			finding_level_name(p->findings[i].level), "name",
			p->findings[i].name, "text", p->findings[i].text));
	return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o}", "domain",
	    p->domain, "canonical", p->canonical, "cname_chain", chain,
	    "outcome", mxplan_outcome_name(p->outcome), "lookups", steps, "mx",
	    hosts, "findings", finds);
}

static json_t *
json_route(const struct doctor_check *r, const struct route_result *res)
{
	if (!r->routed)
		return json_null();
	return json_pack("{s:b, s:i, s:s, s:s, s:s}", "accepted",
	    res->verdict == ROUTE_OK, "code", res->code, "enhanced",
	    res->enhanced, "text", res->text, "reason",
	    res->reason ? res->reason : "");
}

static json_t *
json_probe(const struct probe *pr)
{
	json_t *tries, *steps;
	const struct probe_try *t;
	size_t i, j;

	if (pr == NULL)
		return json_null();
	tries = json_array();
	for (i = 0; i < pr->ntries; i++) {
		t = &pr->tries[i];
		steps = json_array();
		for (j = 0; j < t->nsteps; j++)
			json_array_append_new(steps,
			    json_pack("{s:s, s:i, s:s}", "command",
				t->steps[j].command, "code", t->steps[j].code,
				"reply", t->steps[j].text));
		json_array_append_new(tries,
		    json_pack("{s:s, s:s, s:i, s:s, s:o}", "host", t->host,
			"address", t->addr, "port", t->port, "error", t->error,
			"dialogue", steps));
	}
	return tries;
}

struct json_t *
doctor_check_json(const struct doctor_check *r)
{
	json_t *fixes = json_array(), *exp, *root;
	size_t i;

	for (i = 0; i < r->nfixes; i++)
		json_array_append_new(fixes, json_string(r->fixes[i]));
	exp = json_pack("{s:b, s:s?, s:o}", "rewrites", r->expands, "address",
	    r->expands ? r->expanded.address : NULL, "gateway",
	    r->expands ? json_route(r, &r->exp) : json_null());
	root = json_pack("{s:s, s:s?, s:o, s:o, s:o, s:o, s:i, s:s, s:o}",
	    "address", r->rcpt.address, "dns_servers", r->servers, "dns",
	    json_plan(r->plan), "probe", json_probe(r->probe), "gateway",
	    json_route(r, &r->orig), "cname_expansion", exp, "status",
	    r->status, "verdict", r->verdict, "fixes", fixes);
	return root;
}

void
doctor_json_dump(struct json_t *root)
{
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(root);
}
