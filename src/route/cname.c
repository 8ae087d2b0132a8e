/*
 * cname - recovery of CNAME-expanded recipients (route/cname.h explains
 * the rules; docs/routing.md "CNAME recovery" the why).
 *
 * Pure. Every address recovered is routed again by route_rcpt(), so the
 * rules of steps 2 and 3 (hosted domain, existing trigger, recipients
 * list) and the trigger's sender policy hold for it as for any RCPT: the
 * recovery only ever picks WHICH hosted address a canonical-name RCPT
 * stands for, and only when exactly one is possible. A canonical-name
 * RCPT is recognised by the router's own verdict (reason
 * "canonical_name"), so the canonical_names matching stays in router.c.
 */
#include "route/cname.h"

#include <stdio.h>
#include <string.h>

#include "mail/received.h"

static const char r_provisional[] = CNAME_PROVISIONAL_TEXT;
static const char r_deferred_cname[] =
    "Recipient address deferred: a recipient rewritten by CNAME "
    "expansion needs a transaction of its own; try again later";
static const char r_deferred_other[] =
    "Recipient address deferred: this transaction holds a recipient "
    "rewritten by CNAME expansion; try again later";

static char
ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* a (n octets) equals the NUL-terminated b, ASCII case folded. */
static bool
domain_eq(const char *a, size_t n, const char *b)
{
	size_t i;

	if (b == NULL || strlen(b) != n)
		return false;
	for (i = 0; i < n; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

static bool
lists_domain(const struct instance *inst, const char *d, size_t n)
{
	size_t i;

	for (i = 0; i < inst->n_sender_domains; i++)
		if (domain_eq(d, n, inst->sender_domains[i]))
			return true;
	return false;
}

/*
 * The opted-in instances whose sender_domains hold the sender's domain
 * (one trailing dot dropped): how many, and the first in *one.
 */
static size_t
sender_instances(const struct config *cfg, const struct mailbox *from,
    const struct instance **one)
{
	size_t i, n, count = 0;

	*one = NULL;
	if (from == NULL || from->is_null || from->domain_literal)
		return 0;
	n = strlen(from->domain);
	if (n > 0 && from->domain[n - 1] == '.')
		n--;
	for (i = 0; i < cfg->n_instances; i++) {
		if (!cfg->instances[i].accept_cname_expanded ||
		    !lists_domain(&cfg->instances[i], from->domain, n))
			continue;
		if (count++ == 0)
			*one = &cfg->instances[i];
	}
	return count;
}

static bool
any_opted_in(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_instances; i++)
		if (cfg->instances[i].accept_cname_expanded)
			return true;
	return false;
}

/*
 * rcpt's local part as written, at host: the trigger address a
 * canonical-name RCPT stands for. False when it would be too long.
 */
static bool
at_host(const struct mailbox *rcpt, const char *host, struct mailbox *m)
{
	const char *at = strrchr(rcpt->address, '@');
	int n;

	if (at == NULL)
		return false;
	*m = *rcpt;
	n = snprintf(m->address, sizeof(m->address), "%.*s@%s",
	    (int)(at - rcpt->address), rcpt->address, host);
	if (n < 0 || (size_t)n + 2 > ADDR_PATH_MAX ||
	    strlen(host) >= sizeof(m->domain))
		return false;
	snprintf(m->domain, sizeof(m->domain), "%s", host);
	return true;
}

/* Replaces *res with a reply of our own: "<rcpt>: text" or just text. */
static void
reply(struct route_result *res, enum route_verdict v, int code,
    const char *enhanced, const char *reason, const char *rcpt,
    const char *text)
{
	memset(res, 0, sizeof(*res));
	res->verdict = v;
	res->code = code;
	snprintf(res->enhanced, sizeof(res->enhanced), "%s", enhanced);
	res->reason = reason;
	/* The parser lets no control byte into an address: no injection. */
	if (rcpt != NULL)
		snprintf(res->text, sizeof(res->text), "<%s>: %s", rcpt, text);
	else
		snprintf(res->text, sizeof(res->text), "%s", text);
}

/*
 * Evidence 1. True when it decided: *res is the recovered trigger's
 * verdict (accepted, or refused by its sender policy).
 */
static bool
by_sender_domain(const struct config *cfg, const struct route_query *q,
    struct route_result *res, struct cname_rewrite *rw)
{
	const struct instance *inst;
	struct route_query q2;
	struct route_result r2;
	struct mailbox m;

	if (sender_instances(cfg, q->mail_from, &inst) != 1 ||
	    !at_host(q->rcpt, inst->host, &m))
		return false;
	q2.mail_from = q->mail_from;
	q2.rcpt = &m;
	route_rcpt(cfg, &q2, &r2);
	if (r2.instance != inst || r2.form != ROUTE_FORM_TRIGGER)
		return false; /* no such trigger: not this evidence */
	*res = r2;
	if (r2.verdict != ROUTE_OK)
		return true;
	res->reason = "cname_recovered";
	rw->evidence = CNAME_SENDER_DOMAINS;
	snprintf(rw->recovered, sizeof(rw->recovered), "%s", m.address);
	return true;
}

void
cname_rcpt(const struct config *cfg, const struct route_query *q,
    const struct cname_txn *txn, struct route_result *res,
    struct cname_rewrite *rw)
{
	const char *addr = q->rcpt->address;

	memset(rw, 0, sizeof(*rw));
	if (cfg == NULL || res->reason == NULL)
		return;
	if (strcmp(res->reason, "canonical_name") == 0 && any_opted_in(cfg)) {
		snprintf(rw->received, sizeof(rw->received), "%s", addr);
		if (by_sender_domain(cfg, q, res, rw)) {
			if (res->verdict != ROUTE_OK)
				memset(rw, 0, sizeof(*rw));
		} else if (txn->n_rcpts == 0) {
			reply(res, ROUTE_OK, 250, "2.1.5", "cname_provisional",
			    NULL, r_provisional);
			rw->evidence = CNAME_PENDING;
			return;
		} else {
			reply(res, ROUTE_TEMPFAIL, 452, "4.5.3",
			    "cname_deferred", addr, r_deferred_cname);
			memset(rw, 0, sizeof(*rw));
			return;
		}
	}
	/* Nothing joins a provisional recipient (route/cname.h). */
	if (res->verdict == ROUTE_OK && txn->provisional) {
		reply(res, ROUTE_TEMPFAIL, 452, "4.5.3", "cname_deferred", addr,
		    r_deferred_other);
		memset(rw, 0, sizeof(*rw));
	}
}

/* The 550 5.1.2 diagnosis for rcpt, as the router words it. */
static void
unproven(const struct config *cfg, const struct route_query *q,
    struct route_result *res)
{
	route_rcpt(cfg, q, res);
	res->reason = "cname_unproven";
}

bool
cname_recover(const struct config *cfg, const struct route_query *q,
    const char *msg, size_t len, struct route_result *res,
    struct cname_rewrite *rw)
{
	char path[ADDR_PATH_MAX + 1];
	struct route_query q2;
	struct mailbox m;
	size_t used;

	memset(rw, 0, sizeof(*rw));
	if (received_first_for(msg, len, path) != RECEIVED_OK ||
	    addr_parse_path(path, strlen(path), false, true, &m, &used) !=
		ADDR_OK ||
	    used != strlen(path) || m.is_postmaster ||
	    strcmp(m.local, q->rcpt->local) != 0) {
		unproven(cfg, q, res);
		return false;
	}
	q2.mail_from = q->mail_from;
	q2.rcpt = &m;
	route_rcpt(cfg, &q2, res);
	if (res->instance == NULL || !res->instance->accept_cname_expanded ||
	    strcmp(res->reason, "postmaster") == 0) {
		unproven(cfg, q, res);
		return false;
	}
	if (res->verdict != ROUTE_OK)
		return false; /* the recovered trigger's sender policy */
	res->reason = "cname_recovered";
	rw->evidence = CNAME_RECEIVED_FOR;
	snprintf(rw->received, sizeof(rw->received), "%s", q->rcpt->address);
	snprintf(rw->recovered, sizeof(rw->recovered), "%s", m.address);
	return true;
}

const char *
cname_evidence_name(enum cname_evidence e)
{
	switch (e) {
	case CNAME_NONE:
		return "none";
	case CNAME_SENDER_DOMAINS:
		return "sender_domains";
	case CNAME_RECEIVED_FOR:
		return "received_for";
	case CNAME_PENDING:
		return "pending";
	}
	return "none";
}
