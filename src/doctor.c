/*
 * doctor - the `mailtrigger doctor` command (see doctor.h).
 *
 * Shell around three pure parts: mxplan_run() (the RFC 5321 5.1 walk),
 * route_rcpt() (what the gateway answers) and judge() below (the verdict
 * and the fixes); --probe asks the MX hosts themselves (doctor_probe.c).
 * Output is plain words or, with --json, one JSON object.
 *
 * Sender behaviour the fixes rely on, checked against each MTA's manual:
 *   Sendmail: the $[ $] canonicalization replaces a CNAME by its target
 *     in addresses; off with define(`confDONT_EXPAND_CNAMES', `True')
 *     (O DontExpandCnames, V8.7 and later; "sendmail" 4th ed., 24.9.40).
 *   Postfix: does not rewrite addresses; smtp_cname_overrides_servername
 *     (default "no" since 2.3) changes only the server name used for
 *     logging, SASL and TLS policy (postconf(5), Postfix 3.7).
 *   Exim: "One situation in which Exim does not automatically rewrite a
 *     domain is when it is the name of a CNAME record in the DNS" (Exim
 *     specification, chapter "Address rewriting").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "dns/mxplan.h"
#include "dns/resolve.h"
#include "doctor.h"
#include "doctor_probe.h"
#include "mail/address.h"
#include "route/router.h"
#include "util/units.h"
#include "util/xmalloc.h"

#define DOCTOR_OK 0
#define DOCTOR_SOME 1
#define DOCTOR_ALL 2
#define FIXES_MAX 8

struct opts {
	const char *address;
	const char *dns;
	const char *config;
	uint64_t timeout_ms;
	bool json;
	bool probe;
	int port; /* --probe: SMTP port of the MX hosts */
};

struct report {
	struct mailbox rcpt;
	struct mxplan *plan;
	struct dns_lookups lookups;
	bool expands; /* a CNAME-expanding sender rewrites the address */
	struct mailbox expanded;
	bool routed; /* --config given: the router's answers below */
	struct route_result orig, exp;
	struct probe *probe; /* --probe, or NULL */
	const char *servers; /* --dns, or NULL: the system resolver */
	unsigned timeout_ms;
	int status;
	char verdict[600];
	size_t nfixes;
	char fixes[FIXES_MAX][600];
};

static int
usage(void)
{
	fputs("usage: mailtrigger doctor ADDRESS [--dns HOST[:PORT]] "
	      "[--config FILE]\n"
	      "                          [--probe [--port N]] [--timeout "
	      "DURATION] [--json]\n",
	    stderr);
	return DOCTOR_ALL;
}

static bool
parse_port(const char *s, int *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

static bool
parse_opts(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = 2000;
	o->port = 25;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o->json = true;
		else if (strcmp(argv[i], "--probe") == 0)
			o->probe = true;
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			if (!parse_port(argv[++i], &o->port))
				return false;
		} else if (strcmp(argv[i], "--dns") == 0 && i + 1 < argc)
			o->dns = argv[++i];
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			o->config = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (!units_parse_duration(argv[++i], &o->timeout_ms) ||
			    o->timeout_ms == 0 || o->timeout_ms > 60000)
				return false;
		} else if (argv[i][0] != '-' && o->address == NULL)
			o->address = argv[i];
		else
			return false;
	}
	return o->address != NULL;
}

/* Parses ADDRESS with or without its angle brackets. */
static bool
parse_address(const char *s, struct mailbox *mb, char *err, size_t errlen)
{
	char path[ADDR_PATH_MAX + 3];
	enum addr_status st;
	size_t used;
	int n;

	n = snprintf(path, sizeof(path), s[0] == '<' ? "%s" : "<%s>", s);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "address too long");
		return false;
	}
	st = addr_parse_path(path, (size_t)n, false, true, mb, &used);
	if (st == ADDR_OK && used != (size_t)n)
		st = ADDR_SYNTAX;
	if (st == ADDR_OK && (mb->is_postmaster || mb->domain_literal))
		st = ADDR_SYNTAX;
	if (st != ADDR_OK) {
		snprintf(err, errlen, "%s: %s", s, addr_status_text(st));
		return false;
	}
	return true;
}

/* local@canonical, the address a CNAME-expanding sender writes. */
static bool
expand_address(struct report *r)
{
	const char *at = strrchr(r->rcpt.address, '@');
	char path[ADDR_PATH_MAX + 3];
	char err[128];
	int n;

	if (at == NULL)
		return false;
	n = snprintf(path, sizeof(path), "%.*s@%s", (int)(at - r->rcpt.address),
	    r->rcpt.address, r->plan->canonical);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	return parse_address(path, &r->expanded, err, sizeof(err));
}

static void
route_both(const struct config *cfg, struct report *r)
{
	struct route_query q = { NULL, &r->rcpt };

	route_rcpt(cfg, &q, &r->orig);
	if (r->expands) {
		q.rcpt = &r->expanded;
		route_rcpt(cfg, &q, &r->exp);
	}
	r->routed = true;
}

static void add_fix(struct report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_fix(struct report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nfixes == FIXES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r->fixes[r->nfixes++], sizeof(r->fixes[0]), fmt, ap);
	va_end(ap);
}

static bool
has_finding(const struct mxplan *p, enum finding_code code)
{
	size_t i;

	for (i = 0; i < p->nfindings; i++)
		if (p->findings[i].code == code)
			return true;
	return false;
}

/* The MX records the instance host should have instead of its CNAME. */
static void
fix_own_mx(struct report *r)
{
	const struct mxplan *p = r->plan;
	char recs[400] = "";
	size_t i, o = 0;

	for (i = 0; i < p->nhosts && o < sizeof(recs); i++)
		o += (size_t)snprintf(recs + o, sizeof(recs) - o,
		    "%s%s. MX %u %s.", i ? "; " : "", p->domain,
		    p->hosts[i].implicit ? 10 : p->hosts[i].pref,
		    p->hosts[i].canonical[0] ? p->hosts[i].canonical :
					       p->hosts[i].name);
	add_fix(r,
	    "DNS: replace the CNAME at %s by MX records of its own (%s). "
	    "A name with MX records is not a CNAME, so no sender rewrites "
	    "it - the layout hosted services use",
	    p->domain, recs);
}

static void
fix_expansion(struct report *r)
{
	add_fix(r,
	    "Sending server, Sendmail: add define(`confDONT_EXPAND_CNAMES', "
	    "`True') to sendmail.mc, rebuild sendmail.cf and restart "
	    "(O DontExpandCnames=True)");
	add_fix(r,
	    "Sending server, Postfix or Exim: nothing to change; neither "
	    "rewrites a recipient domain that is a CNAME (Postfix's "
	    "smtp_cname_overrides_servername changes only the logged server "
	    "name)");
	fix_own_mx(r);
}

static void set_verdict(struct report *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_verdict(struct report *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->verdict, sizeof(r->verdict), fmt, ap);
	va_end(ap);
}

/* Verdict and fixes when no sender can deliver. */
static void
judge_undeliverable(struct report *r)
{
	const struct mxplan *p = r->plan;

	switch (p->outcome) {
	case MXPLAN_NXDOMAIN:
		set_verdict(r, DOCTOR_ALL,
		    "mail to %s fails for every sender: %s does not exist in "
		    "the DNS",
		    r->rcpt.address, p->canonical);
		add_fix(r,
		    "DNS: create %s with MX records pointing at the "
		    "gateway's load-balancer names",
		    p->domain);
		break;
	case MXPLAN_NULL_MX:
		set_verdict(r, DOCTOR_ALL,
		    "mail to %s fails for every sender: %s publishes a null "
		    "MX (RFC 7505), which says it accepts no mail",
		    r->rcpt.address, p->canonical);
		add_fix(r,
		    "DNS: remove the \"MX 0 .\" record of %s and add MX "
		    "records pointing at the gateway",
		    p->canonical);
		break;
	case MXPLAN_CNAME_BROKEN:
		set_verdict(r, DOCTOR_ALL,
		    "mail to %s fails for every sender: the CNAME chain of %s "
		    "loops or is too long",
		    r->rcpt.address, p->domain);
		add_fix(r,
		    "DNS: replace the CNAME at %s by MX records "
		    "pointing at the gateway's load-balancer names",
		    p->domain);
		break;
	case MXPLAN_TEMPFAIL:
		set_verdict(r, DOCTOR_ALL,
		    "the DNS lookups for %s failed (see above): senders defer "
		    "the mail and bounce it after their retry time",
		    p->domain);
		add_fix(r,
		    "DNS: make the name servers of %s answer, then run "
		    "doctor again",
		    p->domain);
		break;
	default:
		set_verdict(r, DOCTOR_ALL,
		    "mail to %s fails for every sender: no mail host of %s has "
		    "an address",
		    r->rcpt.address, p->canonical);
		if (p->nhosts > 0 && p->hosts[0].implicit)
			add_fix(r,
			    "DNS: give %s MX records pointing at the "
			    "gateway's load-balancer names",
			    p->canonical);
		else
			add_fix(r,
			    "DNS: give the MX targets of %s A/AAAA "
			    "records",
			    p->canonical);
		break;
	}
}

/*
 * The gateway's answer to the address as given or to its expanded form:
 * from the router (--config) or else from the probe. 1 accepted, 0
 * refused (reply text in buf), -1 not known.
 */
static int
answer(const struct report *r, bool expanded, char *buf, size_t len)
{
	const struct route_result *res = expanded ? &r->exp : &r->orig;
	const struct probe_step *st;

	if (r->routed) {
		snprintf(buf, len, "%d %s %s", res->code, res->enhanced,
		    res->text);
		return res->verdict == ROUTE_OK;
	}
	st = r->probe == NULL ? NULL :
	    expanded          ? r->probe->expanded :
				r->probe->rcpt;
	if (st == NULL)
		return -1;
	snprintf(buf, len, "%s", st->text);
	return st->code / 100 == 2;
}

/* Pure: the verdict, exit status and fixes from the plan and replies. */
static void
judge(struct report *r)
{
	const struct mxplan *p = r->plan;
	char reply[ROUTE_TEXT_MAX + 32];

	if (p->outcome != MXPLAN_DELIVERABLE) {
		judge_undeliverable(r);
		return;
	}
	if (answer(r, false, reply, sizeof(reply)) == 0) {
		set_verdict(r, DOCTOR_ALL,
		    "the DNS is fine, but the gateway refuses %s itself: %s",
		    r->rcpt.address, reply);
		add_fix(r,
		    "Config: check the trigger and instance names "
		    "(mailtrigger check-config)");
	} else if (r->expands && answer(r, true, reply, sizeof(reply)) == 1) {
		set_verdict(r, DOCTOR_OK,
		    "mail to %s works from every sender: the CNAME-expanded "
		    "form %s is accepted too",
		    r->rcpt.address, r->expanded.address);
	} else if (r->expands) {
		set_verdict(r, DOCTOR_SOME,
		    "mail to %s works from senders that keep the address "
		    "(Postfix, Exim) but fails from senders that expand CNAMEs "
		    "(Sendmail by default): they send to %s, which names no "
		    "trigger instance",
		    r->rcpt.address, r->expanded.address);
		fix_expansion(r);
	} else {
		set_verdict(r, DOCTOR_OK,
		    "mail to %s works from every standards-following sender",
		    r->rcpt.address);
	}
	if (has_finding(p, FIND_MX_TARGET_CNAME))
		add_fix(r,
		    "DNS: point each MX record at the canonical host "
		    "name, not at an alias (RFC 2181 10.3)");
	if (has_finding(p, FIND_IMPLICIT_MX) && !r->expands)
		add_fix(r,
		    "DNS: publish MX records for %s rather than relying "
		    "on the implicit MX",
		    p->canonical);
}

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
print_steps(const struct report *r)
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

static void
print_plain(const struct report *r)
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
json_route(const struct report *r, const struct route_result *res)
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

static void
print_json(const struct report *r)
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
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(root);
}

/* The config's routes for both addresses; false: config errors. */
static bool
load_and_route(const char *path, struct report *r)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(path, &errs);
	size_t i;

	if (cfg == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.items[i]);
		config_errors_free(&errs);
		return false;
	}
	route_both(cfg, r);
	config_unref(cfg);
	config_errors_free(&errs);
	return true;
}

/* Resolves the domain (blocking) into r->plan. */
static bool
resolve(const struct opts *o, struct report *r)
{
	struct dns_config dc = { 0 };
	struct dns_resolver *res;
	char err[256];

	dc.servers = o->dns;
	dc.timeout_ms = (unsigned)o->timeout_ms;
	dc.tries = 1;
	if (dns_library_init() != 0) {
		fprintf(stderr, "mailtrigger doctor: c-ares init failed\n");
		return false;
	}
	res = dns_resolver_new(&dc, err, sizeof(err));
	if (res == NULL) {
		fprintf(stderr, "mailtrigger doctor: %s\n", err);
		return false;
	}
	mxplan_resolve(res, r->rcpt.domain, &r->lookups, r->plan);
	dns_resolver_free(res);
	return true;
}

static void
run_probe(const struct opts *o, struct report *r)
{
	char helo[256];

	if (gethostname(helo, sizeof(helo)) != 0 || strchr(helo, '.') == NULL)
		snprintf(helo, sizeof(helo), "localhost");
	helo[sizeof(helo) - 1] = '\0';
	r->probe = xcalloc(1, sizeof(*r->probe));
	probe_run(r->plan, o->port, helo, r->rcpt.address,
	    r->expands ? r->expanded.address : NULL, 10000, r->probe);
}

int
cmd_doctor(int argc, char **argv)
{
	struct report *r;
	struct opts o;
	char err[300];
	int status = DOCTOR_ALL;

	if (!parse_opts(argc, argv, &o))
		return usage();
	r = xcalloc(1, sizeof(*r));
	r->plan = xcalloc(1, sizeof(*r->plan));
	if (!parse_address(o.address, &r->rcpt, err, sizeof(err))) {
		fprintf(stderr, "mailtrigger doctor: %s\n", err);
		goto out;
	}
	r->servers = o.dns;
	r->timeout_ms = (unsigned)o.timeout_ms;
	if (!resolve(&o, r))
		goto out;
	/* Only a chain that resolves gets expanded: Sendmail keeps the
	 * name when $[ $] finds nothing. */
	r->expands = r->plan->nchain > 0 &&
	    r->plan->outcome == MXPLAN_DELIVERABLE && expand_address(r);
	if (o.config != NULL && !load_and_route(o.config, r))
		goto out;
	if (o.probe && r->plan->outcome == MXPLAN_DELIVERABLE)
		run_probe(&o, r);
	judge(r);
	if (o.json)
		print_json(r);
	else
		print_plain(r);
	status = r->status;
out:
	dns_lookups_free(&r->lookups);
	free(r->probe);
	free(r->plan);
	free(r);
	return status;
}
