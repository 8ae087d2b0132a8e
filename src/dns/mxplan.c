/*
 * mxplan - RFC 5321 5.1 delivery plan from a table of lookups (pure).
 *
 * mxplan_run() starts from scratch on every call and walks the same path
 * a sender walks; the first lookup missing from the table stops it with
 * MXPLAN_NEED. A plan needs at most a few dozen lookups, so re-walking is
 * cheap and keeps this file free of any state between calls.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/mxplan.h"
#include "util/xmalloc.h"

enum chain_result {
	CHAIN_OK = 0,
	CHAIN_NEED,
	CHAIN_NXDOMAIN,
	CHAIN_LOOP,
	CHAIN_TOO_LONG,
	CHAIN_FAILED,
};

struct ctx {
	const struct dns_lookups *t;
	struct mxplan *p;
	char *need_name;
	size_t need_len;
	enum dns_type *need_type;
	bool tempfail; /* some lookup for a host failed */
};

struct chain {
	size_t n; /* links followed; names[n] is the canonical name */
	char names[MXPLAN_CNAME_MAX + 1][DNS_NAME_MAX + 1];
	unsigned ttl[MXPLAN_CNAME_MAX + 1];
	const struct dns_answer *failed; /* on CHAIN_FAILED / NXDOMAIN */
};

/* Names compare ASCII case-insensitively, one trailing dot ignored. */
static size_t
name_len(const char *s)
{
	size_t n = strlen(s);

	return n > 1 && s[n - 1] == '.' ? n - 1 : n;
}

static bool
name_eq(const char *a, const char *b)
{
	size_t n = name_len(a);

	return n == name_len(b) && strncasecmp(a, b, n) == 0;
}

static void
name_copy(char *dst, const char *src)
{
	size_t n = name_len(src);

	if (n > DNS_NAME_MAX)
		n = DNS_NAME_MAX;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
dns_lookups_add(struct dns_lookups *t, const struct dns_answer *ans)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->items = xreallocarray(t->items, t->cap, sizeof(*t->items));
	}
	t->items[t->n++] = *ans;
}

const struct dns_answer *
dns_lookups_find(const struct dns_lookups *t, const char *name,
    enum dns_type type)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->items[i].qtype == type &&
		    name_eq(t->items[i].qname, name))
			return &t->items[i];
	return NULL;
}

void
dns_lookups_free(struct dns_lookups *t)
{
	free(t->items);
	t->items = NULL;
	t->n = t->cap = 0;
}

static void add_finding(struct mxplan *p, enum finding_code code,
    enum finding_level level, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
add_finding(struct mxplan *p, enum finding_code code, enum finding_level level,
    const char *name, const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (p->nfindings == MXPLAN_FINDINGS_MAX)
		return;
	f = &p->findings[p->nfindings++];
	f->code = code;
	f->level = level;
	name_copy(f->name, name);
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

/* The answer for name/type, recorded as a step; NULL: ask for it. */
static const struct dns_answer *
lookup(struct ctx *c, const char *name, enum dns_type type)
{
	const struct dns_answer *a = dns_lookups_find(c->t, name, type);
	size_t i;

	if (a == NULL) {
		snprintf(c->need_name, c->need_len, "%s", name);
		*c->need_type = type;
		return NULL;
	}
	for (i = 0; i < c->p->nsteps; i++)
		if (c->p->steps[i] == a)
			return a;
	if (c->p->nsteps < MXPLAN_STEPS_MAX)
		c->p->steps[c->p->nsteps++] = a;
	return a;
}

/* The CNAME record owned by name in a, or NULL. */
static const struct dns_rr *
find_cname(const struct dns_answer *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (a->rr[i].type == DNS_T_CNAME &&
		    name_eq(a->rr[i].owner, name))
			return &a->rr[i];
	return NULL;
}

static bool
in_chain(const struct chain *ch, const char *name)
{
	size_t i;

	for (i = 0; i <= ch->n; i++)
		if (name_eq(ch->names[i], name))
			return true;
	return false;
}

/* Follows start's CNAME chain (RFC 5321 5.1, RFC 1034 3.6.2). */
static enum chain_result
follow_chain(struct ctx *c, const char *start, struct chain *ch)
{
	const struct dns_answer *a;
	const struct dns_rr *rr;

	memset(ch, 0, sizeof(*ch));
	name_copy(ch->names[0], start);
	for (;;) {
		a = lookup(c, ch->names[ch->n], DNS_T_CNAME);
		if (a == NULL)
			return CHAIN_NEED;
		ch->failed = a;
		if (a->rcode == DNS_NXDOMAIN)
			return CHAIN_NXDOMAIN;
		if (a->rcode != DNS_NOERROR)
			return CHAIN_FAILED;
		rr = find_cname(a, ch->names[ch->n]);
		if (rr == NULL)
			return CHAIN_OK;
		ch->ttl[ch->n] = rr->ttl;
		if (in_chain(ch, rr->data))
			return CHAIN_LOOP;
		if (ch->n == MXPLAN_CNAME_MAX)
			return CHAIN_TOO_LONG;
		name_copy(ch->names[++ch->n], rr->data);
	}
}

static void
failed_finding(struct mxplan *p, const struct dns_answer *a)
{
	add_finding(p, FIND_LOOKUP_FAILED, FINDING_ERROR, a->qname,
	    "%s lookup for %s failed: %s%s%s; a sender defers the message "
	    "and retries",
	    dns_type_name(a->qtype), a->qname, dns_rcode_name(a->rcode),
	    a->detail[0] ? " - " : "", a->detail);
}

/* Findings and outcome for a domain chain that did not end cleanly. */
static void
chain_failed(struct ctx *c, enum chain_result r, const struct chain *ch)
{
	struct mxplan *p = c->p;

	switch (r) {
	case CHAIN_NXDOMAIN:
		p->outcome = MXPLAN_NXDOMAIN;
		if (ch->n == 0)
			add_finding(p, FIND_NXDOMAIN, FINDING_ERROR, p->domain,
			    "%s does not exist (NXDOMAIN)", p->domain);
		else
			add_finding(p, FIND_CNAME_DANGLING, FINDING_ERROR,
			    ch->names[ch->n],
			    "the CNAME chain of %s ends at %s, which does not "
			    "exist (NXDOMAIN)",
			    p->domain, ch->names[ch->n]);
		break;
	case CHAIN_LOOP:
		p->outcome = MXPLAN_CNAME_BROKEN;
		add_finding(p, FIND_CNAME_LOOP, FINDING_ERROR, p->domain,
		    "CNAME loop: %s points back into its own chain "
		    "(RFC 1034 3.6.2)",
		    ch->names[ch->n]);
		break;
	case CHAIN_TOO_LONG:
		p->outcome = MXPLAN_CNAME_BROKEN;
		add_finding(p, FIND_CNAME_TOO_LONG, FINDING_ERROR, p->domain,
		    "CNAME chain longer than %d links; senders give up",
		    MXPLAN_CNAME_MAX);
		break;
	default:
		p->outcome = MXPLAN_TEMPFAIL;
		failed_finding(p, ch->failed);
		break;
	}
}

static int
cmp_host(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcasecmp(x->name, y->name);
}

/* The MX records of p->canonical, sorted, into p->hosts. Returns the
 * number of MX records seen (0: none, use the implicit MX). */
static size_t
collect_mx(struct mxplan *p, const struct dns_answer *a)
{
	struct mx_host all[DNS_RR_MAX];
	size_t i, n = 0, nroot = 0;

	for (i = 0; i < a->n; i++) {
		if (a->rr[i].type != DNS_T_MX ||
		    !name_eq(a->rr[i].owner, p->canonical))
			continue;
		if (strcmp(a->rr[i].data, ".") == 0) {
			nroot++;
			continue;
		}
		memset(&all[n], 0, sizeof(all[n]));
		name_copy(all[n].name, a->rr[i].data);
		all[n].pref = a->rr[i].pref;
		all[n].ttl = a->rr[i].ttl;
		n++;
	}
	if (nroot > 0 && n == 0) {
		p->outcome = MXPLAN_NULL_MX;
		add_finding(p, FIND_NULL_MX, FINDING_ERROR, p->canonical,
		    "%s has a null MX (\"MX 0 .\", RFC 7505): it accepts no "
		    "mail at all",
		    p->canonical);
		return nroot;
	}
	if (nroot > 0)
		add_finding(p, FIND_NULL_MX_MIXED, FINDING_WARN, p->canonical,
		    "%s has a null MX next to other MX records; RFC 7505 3 "
		    "forbids that; the null MX is ignored",
		    p->canonical);
	qsort(all, n, sizeof(all[0]), cmp_host);
	for (i = 0; i < n && p->nhosts < MXPLAN_HOSTS_MAX; i++)
		if (p->nhosts == 0 ||
		    !name_eq(p->hosts[p->nhosts - 1].name, all[i].name))
			p->hosts[p->nhosts++] = all[i];
	if (i < n)
		add_finding(p, FIND_TOO_MANY_HOSTS, FINDING_INFO, p->canonical,
		    "only the first %d MX hosts are examined",
		    MXPLAN_HOSTS_MAX);
	return n + nroot;
}

/* A or AAAA records of name into h->addr. false: ask for the lookup. */
static bool
add_addresses(struct ctx *c, struct mx_host *h, enum dns_type type)
{
	const struct dns_answer *a = lookup(c, h->canonical, type);
	size_t i;

	if (a == NULL)
		return false;
	if (a->rcode != DNS_NOERROR && a->rcode != DNS_NXDOMAIN) {
		c->tempfail = true;
		failed_finding(c->p, a);
	}
	for (i = 0; i < a->n && h->naddr < MXPLAN_ADDRS_MAX; i++) {
		if (a->rr[i].type != type)
			continue;
		snprintf(h->addr[h->naddr], sizeof(h->addr[0]), "%.47s",
		    a->rr[i].data);
		h->addr_ttl[h->naddr++] = a->rr[i].ttl;
	}
	return true;
}

static void
target_chain_findings(struct ctx *c, struct mx_host *h, enum chain_result r,
    const struct chain *ch)
{
	switch (r) {
	case CHAIN_NXDOMAIN:
		add_finding(c->p, FIND_MX_TARGET_NXDOMAIN, FINDING_ERROR,
		    h->name,
		    "MX target %s does not exist (NXDOMAIN): a lame "
		    "MX record",
		    ch->names[ch->n]);
		break;
	case CHAIN_LOOP:
		add_finding(c->p, FIND_CNAME_LOOP, FINDING_ERROR, h->name,
		    "MX target %s is a CNAME loop", h->name);
		break;
	case CHAIN_TOO_LONG:
		add_finding(c->p, FIND_CNAME_TOO_LONG, FINDING_ERROR, h->name,
		    "MX target %s: CNAME chain longer than %d links", h->name,
		    MXPLAN_CNAME_MAX);
		break;
	default:
		c->tempfail = true;
		failed_finding(c->p, ch->failed);
		break;
	}
}

/* One MX host: its CNAME chain (RFC 2181 10.3), then A and AAAA. */
static bool
resolve_host(struct ctx *c, struct mx_host *h)
{
	struct in6_addr ip;
	struct chain ch;
	enum chain_result r;

	if (h->implicit) {
		name_copy(h->canonical, h->name);
	} else {
		r = follow_chain(c, h->name, &ch);
		if (r == CHAIN_NEED)
			return false;
		if (r != CHAIN_OK) {
			target_chain_findings(c, h, r, &ch);
			return true;
		}
		name_copy(h->canonical, ch.names[ch.n]);
		h->is_cname = ch.n > 0;
		if (h->is_cname)
			add_finding(c->p, FIND_MX_TARGET_CNAME, FINDING_WARN,
			    h->name,
			    "MX target %s is a CNAME (to %s); RFC 2181 10.3: "
			    "an MX target must not be an alias",
			    h->name, h->canonical);
	}
	if (inet_pton(AF_INET, h->name, &ip) == 1 ||
	    inet_pton(AF_INET6, h->name, &ip) == 1)
		add_finding(c->p, FIND_MX_TARGET_IS_IP, FINDING_WARN, h->name,
		    "MX target %s is an address; RFC 5321 5.1 wants a host "
		    "name there",
		    h->name);
	if (!add_addresses(c, h, DNS_T_A) || !add_addresses(c, h, DNS_T_AAAA))
		return false;
	if (h->naddr == 0 && !c->tempfail)
		add_finding(c->p, FIND_MX_TARGET_NO_ADDRESS,
		    h->implicit ? FINDING_ERROR : FINDING_WARN, h->canonical,
		    "%s has no A or AAAA record", h->canonical);
	return true;
}

/* The hosts after the MX lookup; false: a lookup is needed. */
static bool
plan_hosts(struct ctx *c)
{
	struct mxplan *p = c->p;
	size_t i;

	for (i = 0; i < p->nhosts; i++)
		if (!resolve_host(c, &p->hosts[i]))
			return false;
	p->outcome = MXPLAN_NO_ADDRESS;
	for (i = 0; i < p->nhosts; i++)
		if (p->hosts[i].naddr > 0)
			p->outcome = MXPLAN_DELIVERABLE;
	if (p->outcome == MXPLAN_NO_ADDRESS && c->tempfail)
		p->outcome = MXPLAN_TEMPFAIL;
	return true;
}

static void
set_implicit(struct mxplan *p)
{
	struct mx_host *h = &p->hosts[0];

	memset(h, 0, sizeof(*h));
	name_copy(h->name, p->canonical);
	h->implicit = true;
	p->nhosts = 1;
	add_finding(p, FIND_IMPLICIT_MX, FINDING_WARN, p->canonical,
	    "%s has no MX records; senders use the implicit MX (RFC 5321 "
	    "5.1): its own A/AAAA address",
	    p->canonical);
}

enum step { STEP_NEED, STEP_DONE, STEP_HOSTS };

/* The domain's chain and its MX lookup. */
static enum step
plan_domain(struct ctx *c, struct chain *ch)
{
	struct mxplan *p = c->p;
	const struct dns_answer *a;
	enum chain_result r;
	size_t i;

	r = follow_chain(c, p->domain, ch);
	if (r == CHAIN_NEED)
		return STEP_NEED;
	p->nchain = ch->n;
	for (i = 0; i <= ch->n; i++) {
		name_copy(p->chain[i], ch->names[i]);
		p->chain_ttl[i] = ch->ttl[i];
	}
	name_copy(p->canonical, ch->names[ch->n]);
	if (r != CHAIN_OK) {
		chain_failed(c, r, ch);
		return STEP_DONE;
	}
	if (ch->n > 0)
		add_finding(p, FIND_DOMAIN_IS_CNAME, FINDING_WARN, p->domain,
		    "%s is a CNAME (to %s): a sender that expands CNAMEs "
		    "(Sendmail by default) rewrites the address to @%s",
		    p->domain, p->canonical, p->canonical);
	a = lookup(c, p->canonical, DNS_T_MX);
	if (a == NULL)
		return STEP_NEED;
	if (a->rcode == DNS_NXDOMAIN) {
		chain_failed(c, CHAIN_NXDOMAIN, ch);
		return STEP_DONE;
	}
	if (a->rcode != DNS_NOERROR) {
		ch->failed = a;
		chain_failed(c, CHAIN_FAILED, ch);
		return STEP_DONE;
	}
	if (collect_mx(p, a) == 0)
		set_implicit(p);
	return p->outcome == MXPLAN_NULL_MX ? STEP_DONE : STEP_HOSTS;
}

enum mxplan_status
mxplan_run(const struct dns_lookups *t, const char *domain, struct mxplan *out,
    char *need_name, size_t need_len, enum dns_type *need_type)
{
	struct ctx c = { t, out, need_name, need_len, need_type, false };
	struct chain ch;

	memset(out, 0, sizeof(*out));
	name_copy(out->domain, domain);
	switch (plan_domain(&c, &ch)) {
	case STEP_NEED:
		return MXPLAN_NEED;
	case STEP_DONE:
		return MXPLAN_DONE;
	case STEP_HOSTS:
		break;
	}
	return plan_hosts(&c) ? MXPLAN_DONE : MXPLAN_NEED;
}

const char *
mxplan_outcome_name(enum mxplan_outcome o)
{
	static const char *const names[] = {
		[MXPLAN_DELIVERABLE] = "deliverable",
		[MXPLAN_NXDOMAIN] = "nxdomain",
		[MXPLAN_NULL_MX] = "null_mx",
		[MXPLAN_NO_ADDRESS] = "no_address",
		[MXPLAN_CNAME_BROKEN] = "cname_broken",
		[MXPLAN_TEMPFAIL] = "tempfail",
	};

	return (size_t)o < NELEM(names) ? names[o] : "?";
}

const char *
finding_code_name(enum finding_code c)
{
	static const char *const names[] = {
		[FIND_DOMAIN_IS_CNAME] = "domain_is_cname",
		[FIND_CNAME_LOOP] = "cname_loop",
		[FIND_CNAME_TOO_LONG] = "cname_too_long",
		[FIND_CNAME_DANGLING] = "cname_dangling",
		[FIND_NXDOMAIN] = "nxdomain",
		[FIND_NULL_MX] = "null_mx",
		[FIND_NULL_MX_MIXED] = "null_mx_mixed",
		[FIND_IMPLICIT_MX] = "implicit_mx",
		[FIND_MX_TARGET_CNAME] = "mx_target_cname",
		[FIND_MX_TARGET_NXDOMAIN] = "mx_target_nxdomain",
		[FIND_MX_TARGET_NO_ADDRESS] = "mx_target_no_address",
		[FIND_MX_TARGET_IS_IP] = "mx_target_is_ip",
		[FIND_LOOKUP_FAILED] = "lookup_failed",
		[FIND_TOO_MANY_HOSTS] = "too_many_hosts",
	};

	return (size_t)c < NELEM(names) ? names[c] : "?";
}

const char *
finding_level_name(enum finding_level l)
{
	return l == FINDING_ERROR ? "error" :
	    l == FINDING_WARN     ? "warning" :
				    "info";
}
