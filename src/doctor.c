/*
 * doctor - the `mailtrigger doctor` command (see doctor.h).
 *
 * Shell around three pure parts: mxplan_run() (the RFC 5321 5.1 walk),
 * route_rcpt() (what the gateway answers) and judge_all() below (the
 * verdict and the fixes); --probe asks the MX hosts themselves
 * (doctor_probe.c). Output (doctor_out.c) is plain words or, with
 * --json, one JSON object. The same checks, one address at a time, are
 * what `check-dns` runs for every name of a config (check_dns.c).
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

#include "config.h"
#include "dns/mxplan.h"
#include "dns/resolve.h"
#include "doctor.h"
#include "doctor_int.h"
#include "doctor_probe.h"
#include "mail/address.h"
#include "route/cname.h"
#include "route/router.h"
#include "util/units.h"
#include "util/xmalloc.h"

struct opts {
	const char *address;
	struct doctor_opts c; /* --config, --dns, --timeout, --json */
	bool probe;
	int port; /* --probe: SMTP port of the MX hosts */
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
	int i, common;

	memset(o, 0, sizeof(*o));
	o->c.timeout_ms = DOCTOR_TIMEOUT_DEFAULT_MS;
	o->port = 25;
	for (i = 1; i < argc; i++) {
		common = doctor_option(argc, argv, &i, &o->c);
		if (common < 0)
			return false;
		if (common > 0)
			continue;
		if (strcmp(argv[i], "--probe") == 0)
			o->probe = true;
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			if (!parse_port(argv[++i], &o->port))
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
expand_address(struct doctor_check *r)
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

/*
 * The gateway's RCPT answers, for the null sender the probe uses: no
 * sender domain to recover by, so an opted-in instance (CNAME recovery)
 * accepts the expanded form only pending the Received: header.
 */
static void
route_both(const struct config *cfg, struct doctor_check *r)
{
	struct mailbox null_sender = { .is_null = true };
	struct route_query q = { &null_sender, &r->rcpt };
	struct cname_txn txn = { 0, false };
	struct cname_rewrite rw;

	route_rcpt(cfg, &q, &r->orig);
	if (r->expands) {
		q.rcpt = &r->expanded;
		route_rcpt(cfg, &q, &r->exp);
		cname_rcpt(cfg, &q, &txn, &r->exp, &rw);
	}
	r->routed = true;
}

static void add_fix(struct doctor_check *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_fix(struct doctor_check *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nfixes == DOCTOR_FIXES_MAX)
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
fix_own_mx(struct doctor_check *r)
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
fix_expansion(struct doctor_check *r)
{
	size_t i, first = r->nfixes;

	add_fix(r,
	    "Sending server, Sendmail: add define(`confDONT_EXPAND_CNAMES', "
	    "`True') to sendmail.mc, rebuild sendmail.cf and restart "
	    "(O DontExpandCnames=True)");
	add_fix(r,
	    "Sending server, Postfix or Exim: nothing to change; neither "
	    "rewrites a recipient domain that is a CNAME (Postfix's "
	    "smtp_cname_overrides_servername changes only the logged server "
	    "name)");
	for (i = first; i < r->nfixes; i++)
		r->fix_sender[i] = true;
	fix_own_mx(r);
}

static void set_verdict(struct doctor_check *r, int status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
set_verdict(struct doctor_check *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->verdict, sizeof(r->verdict), fmt, ap);
	va_end(ap);
}

/* Verdict and fixes when no sender can deliver. */
static void
judge_undeliverable(struct doctor_check *r)
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
answer(const struct doctor_check *r, bool expanded, char *buf, size_t len)
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

/*
 * True when the expanded form is accepted only pending the Received:
 * header (CNAME recovery, evidence 2): it works for some senders only.
 */
static bool
expanded_provisional(const struct doctor_check *r)
{
	const struct probe_step *st = r->probe ? r->probe->expanded : NULL;

	if (r->routed)
		return r->exp.reason != NULL &&
		    strcmp(r->exp.reason, "cname_provisional") == 0;
	return st != NULL && strstr(st->text, CNAME_PROVISIONAL_TEXT) != NULL;
}

/* Pure: the verdict, exit status and fixes from the plan and replies. */
static void
judge_all(struct doctor_check *r)
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
	} else if (r->expands && expanded_provisional(r)) {
		set_verdict(r, DOCTOR_SOME,
		    "mail to %s works from senders that keep the address; "
		    "senders that expand CNAMEs send to %s, which this gateway "
		    "recovers only when their Received: header names the "
		    "original address (one recipient per transaction) or the "
		    "sender's domain is in the instance's sender_domains",
		    r->rcpt.address, r->expanded.address);
		fix_expansion(r);
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

int
doctor_option(int argc, char **argv, int *i, struct doctor_opts *o)
{
	const char *opt = argv[*i];

	if (strcmp(opt, "--json") == 0) {
		o->json = true;
		return 1;
	}
	if (strcmp(opt, "--config") != 0 && strcmp(opt, "--dns") != 0 &&
	    strcmp(opt, "--timeout") != 0)
		return 0;
	if (*i + 1 >= argc)
		return -1;
	(*i)++;
	if (strcmp(opt, "--config") == 0)
		o->config = argv[*i];
	else if (strcmp(opt, "--dns") == 0)
		o->dns = argv[*i];
	else if (!units_parse_duration(argv[*i], &o->timeout_ms) ||
	    o->timeout_ms == 0 || o->timeout_ms > DOCTOR_TIMEOUT_MAX_MS)
		return -1;
	return 1;
}

struct dns_resolver *
doctor_resolver_new(const struct doctor_opts *o, const struct config *cfg,
    char **servers, char *err, size_t errlen)
{
	struct dns_config dc = { 0 };
	struct dns_resolver *res;
	char bad[CONFIG_DNS_SERVER_LEN];
	const char *why;

	*servers = NULL;
	if (o->dns != NULL) {
		*servers = config_dns_servers_csv(o->dns, bad, sizeof(bad),
		    &why);
		if (*servers == NULL) {
			snprintf(err, errlen, "--dns: '%s' %s", bad, why);
			return NULL;
		}
	} else if (cfg != NULL && cfg->dns_servers_csv != NULL)
		*servers = xstrdup(cfg->dns_servers_csv);
	if (dns_library_init() != 0) {
		snprintf(err, errlen, "c-ares init failed");
		goto fail;
	}
	dc.servers = *servers;
	dc.timeout_ms = (unsigned)o->timeout_ms;
	dc.tries = 1;
	res = dns_resolver_new(&dc, err, errlen);
	if (res == NULL)
		goto fail;
	return res;
fail:
	free(*servers);
	*servers = NULL;
	return NULL;
}

struct config *
doctor_load_config(const char *cmd, const char *path)
{
	struct config_errors errs = { 0 };
	struct config *cfg = config_load(path, &errs);
	size_t i;

	for (i = 0; cfg == NULL && i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.items[i]);
	if (cfg == NULL)
		fprintf(stderr, "mailtrigger %s: %s: the config has errors\n",
		    cmd, path);
	config_errors_free(&errs);
	return cfg;
}

struct doctor_check *
doctor_check_new(const char *address, char *err, size_t errlen)
{
	struct doctor_check *r = xcalloc(1, sizeof(*r));

	if (!parse_address(address, &r->rcpt, err, errlen)) {
		free(r);
		return NULL;
	}
	r->plan = xcalloc(1, sizeof(*r->plan));
	return r;
}

static void
plan_done(struct mxplan *plan, void *arg)
{
	struct doctor_check *r = arg;

	r->resolved = true;
}

void
doctor_check_start(struct doctor_check *r, struct dns_resolver *res,
    const char *servers, unsigned timeout_ms)
{
	free(r->servers);
	r->servers = servers != NULL ? xstrdup(servers) : NULL;
	r->timeout_ms = timeout_ms;
	mxplan_resolve_async(res, r->rcpt.domain, &r->lookups, r->plan,
	    plan_done, r);
}

/* The CNAME-expanded form and, with a config, the router's replies. */
static void
expand_and_route(struct doctor_check *r, const struct config *cfg)
{
	if (!r->resolved)
		abort(); /* a bug: judged before the lookups ended */
	/* Only a chain that resolves gets expanded: Sendmail keeps the
	 * name when $[ $] finds nothing. */
	r->expands = r->plan->nchain > 0 &&
	    r->plan->outcome == MXPLAN_DELIVERABLE && expand_address(r);
	if (cfg != NULL)
		route_both(cfg, r);
}

void
doctor_check_judge(struct doctor_check *r, const struct config *cfg)
{
	expand_and_route(r, cfg);
	judge_all(r);
}

int
doctor_check_status(const struct doctor_check *r)
{
	return r->status;
}

const char *
doctor_check_address(const struct doctor_check *r)
{
	return r->rcpt.address;
}

const char *
doctor_check_verdict(const struct doctor_check *r)
{
	return r->verdict;
}

const char *
doctor_check_expanded(const struct doctor_check *r)
{
	return r->expands ? r->expanded.address : NULL;
}

const char *
doctor_check_canonical(const struct doctor_check *r)
{
	return r->plan->canonical;
}

size_t
doctor_check_nfixes(const struct doctor_check *r)
{
	return r->nfixes;
}

const char *
doctor_check_fix(const struct doctor_check *r, size_t i, bool *sender_side)
{
	if (i >= r->nfixes)
		return NULL;
	*sender_side = r->fix_sender[i];
	return r->fixes[i];
}

void
doctor_check_free(struct doctor_check *r)
{
	if (r == NULL)
		return;
	dns_lookups_free(&r->lookups);
	free(r->probe);
	free(r->plan);
	free(r->servers);
	free(r);
}

static void
run_probe(const struct opts *o, struct doctor_check *r)
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
	struct doctor_check *r = NULL;
	struct dns_resolver *res = NULL;
	struct config *cfg = NULL;
	char err[300], *servers = NULL;
	int status = DOCTOR_ALL;
	struct opts o;

	if (!parse_opts(argc, argv, &o))
		return usage();
	r = doctor_check_new(o.address, err, sizeof(err));
	if (r == NULL)
		goto fail;
	if (o.c.config != NULL) {
		cfg = doctor_load_config("doctor", o.c.config);
		if (cfg == NULL)
			goto out;
	}
	res = doctor_resolver_new(&o.c, cfg, &servers, err, sizeof(err));
	if (res == NULL)
		goto fail;
	doctor_check_start(r, res, servers, (unsigned)o.c.timeout_ms);
	dns_wait(res);
	expand_and_route(r, cfg);
	if (o.probe && r->plan->outcome == MXPLAN_DELIVERABLE)
		run_probe(&o, r);
	judge_all(r);
	if (o.c.json)
		doctor_json_dump(doctor_check_json(r));
	else
		doctor_print_plain(r);
	status = r->status;
	goto out;
fail:
	fprintf(stderr, "mailtrigger doctor: %s\n", err);
out:
	doctor_check_free(r);
	dns_resolver_free(res);
	free(servers);
	config_unref(cfg);
	return status;
}
