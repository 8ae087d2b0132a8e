/*
 * router - RCPT decisions: instance, trigger and form, or the refusal.
 *
 * Pure. The decision order (docs/routing.md explains each step):
 *
 *   1. address literal                        -> 554 5.7.1 relay denied
 *   2. domain == instance host                -> trigger form
 *   3. domain == label "." instance host      -> recipient form
 *   4. domain matches a canonical name        -> 550 5.1.2 CNAME diagnosis
 *   5. anything else                          -> 554 5.7.1 relay denied
 *
 * Only steps 2 and 3 can accept, and both require the domain to be hosted
 * and the trigger to exist, so no local part (%-hack, !-path, quoted "@")
 * and no source route (already dropped by the parser) can make the gateway
 * relay: the gateway never sends mail anywhere, it only starts flows.
 *
 * The lookups are done here rather than with config_find_*() so that the
 * rules (ASCII case folding, the one trailing dot) live in one file.
 */
#include "route/router.h"

#include <stdio.h>
#include <string.h>

enum outcome {
	OUT_OK,
	OUT_NO_TRIGGER,
	OUT_NOT_RECIPIENT,
	OUT_CANONICAL,
	OUT_RELAY,
	OUT_TEMPFAIL,
	OUT_POSTMASTER,
	OUT_NO_POSTMASTER,
	OUT_SENDER,
};

/*
 * Every reply the router gives. Refusals start with the recipient as
 * written, in angle brackets, as Postfix does ("<rcpt>: ..."); the fixed
 * texts are ASCII so that they need no SMTPUTF8 to be read.
 */
static const struct reply {
	enum route_verdict verdict;
	int code;
	const char *enhanced;
	const char *reason;
	bool with_rcpt; /* text is preceded by "<rcpt>: " */
	const char *text;
} replies[] = {
	[OUT_OK] = { ROUTE_OK, 250, "2.1.5", "ok", false, "Ok" },
	[OUT_NO_TRIGGER] = { ROUTE_REJECT, 550, "5.1.1", "no_such_trigger",
	    true, "Recipient address rejected: no such trigger" },
	[OUT_NOT_RECIPIENT] = { ROUTE_REJECT, 550, "5.1.1", "not_a_recipient",
	    true,
	    "Recipient address rejected: not a recipient of this "
	    "trigger" },
	[OUT_CANONICAL] = { ROUTE_REJECT, 550, "5.1.2", "canonical_name", true,
	    "this is the mail server's own name, not a trigger "
	    "address; the sending server rewrote the recipient through "
	    "CNAME expansion - send to trigger@your-instance-host and "
	    "disable CNAME expansion on the sending server (Sendmail: "
	    "confDONT_EXPAND_CNAMES)" },
	[OUT_RELAY] = { ROUTE_REJECT, 554, "5.7.1", "relay_denied", true,
	    "Relay access denied" },
	/* Postfix's text for a lookup that failed (STYLE.md: never accept
	 * and never reject on a failed lookup). */
	[OUT_TEMPFAIL] = { ROUTE_TEMPFAIL, 451, "4.3.0", "tempfail", true,
	    "Temporary lookup failure" },
	[OUT_POSTMASTER] = { ROUTE_OK, 250, "2.1.5", "postmaster", false,
	    "Ok" },
	[OUT_NO_POSTMASTER] = { ROUTE_REJECT, 550, "5.1.1", "no_postmaster",
	    true,
	    "Recipient address rejected: no postmaster is configured on "
	    "this gateway" },
	/* Postfix's wording for a sender restriction; the text is built
	 * by sender_policy() with the sender and the trigger. */
	[OUT_SENDER] = { ROUTE_REJECT, 550, "5.7.1", "sender_denied", true,
	    "Sender address rejected" },
};

/* A domain name as a counted string. */
struct name {
	const char *p;
	size_t n;
};

static char
ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/*
 * ASCII case-insensitive equality (locale-independent, so an 8-bit byte
 * only ever equals itself: UTF-8 names are compared exactly).
 */
static bool
name_eq(struct name a, const char *b, size_t bn)
{
	size_t i;

	if (a.n != bn)
		return false;
	for (i = 0; i < bn; i++)
		if (ascii_lower(a.p[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

static bool
name_eq_str(struct name a, const char *b)
{
	return b != NULL && name_eq(a, b, strlen(b));
}

/*
 * RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its code
 * and CRLF, so the text after "ddd d.d.d " is at most 500.
 */
#define REPLY_TEXT_LIMIT (512 - 10 - 2)

/*
 * Writes r's text, after "<rcpt>: " when it has one. Control bytes are
 * defused: the parser lets none into an address, but a CR or LF here
 * would inject a reply, so this guards against a hand-made mailbox too.
 * An address too long for one reply line (only a near-256-octet one with
 * the long CNAME text) is shortened to end in "...".
 */
static void
format_text(struct route_result *res, const struct reply *r, const char *rcpt)
{
	char safe[ADDR_PATH_MAX + 1];
	size_t i, room, cut;

	if (!r->with_rcpt) {
		snprintf(res->text, sizeof(res->text), "%s", r->text);
		return;
	}
	for (i = 0; rcpt[i] != '\0' && i < ADDR_PATH_MAX; i++) {
		if ((unsigned char)rcpt[i] < 0x20 || rcpt[i] == 0x7f)
			safe[i] = '?';
		else
			safe[i] = rcpt[i];
	}
	safe[i] = '\0';
	room = REPLY_TEXT_LIMIT - strlen("<>: ") - strlen(r->text);
	if (i > room) {
		/* Cut on a character boundary, not inside UTF-8. */
		for (cut = room - 3;
		     cut > 0 && ((unsigned char)safe[cut] & 0xc0) == 0x80;
		     cut--)
			continue;
		memcpy(safe + cut, "...", 4);
	}
	snprintf(res->text, sizeof(res->text), "<%s>: %s", safe, r->text);
}

/* The one door for a decision: fills everything but the OK details. */
static void
decide(struct route_result *res, enum outcome o, const struct mailbox *rcpt)
{
	const struct reply *r = &replies[o];

	res->verdict = r->verdict;
	res->code = r->code;
	snprintf(res->enhanced, sizeof(res->enhanced), "%s", r->enhanced);
	res->reason = r->reason;
	format_text(res, r, rcpt == NULL ? "" : rcpt->address);
}

static const struct instance *
find_instance(const struct config *cfg, struct name host)
{
	size_t i;

	for (i = 0; i < cfg->n_instances; i++)
		if (name_eq_str(host, cfg->instances[i].host))
			return &cfg->instances[i];
	return NULL;
}

static const struct trigger *
find_trigger(const struct instance *inst, struct name trig)
{
	size_t i;

	for (i = 0; i < inst->n_triggers; i++)
		if (name_eq_str(trig, inst->triggers[i].name))
			return &inst->triggers[i];
	return NULL;
}

/* A trigger's recipients list (if any) allows this local part. */
static bool
recipient_allowed(const struct trigger *t, const char *local)
{
	struct name l = { local, strlen(local) };
	size_t i;

	if (t->recipients == NULL)
		return true;
	for (i = 0; i < t->n_recipients; i++)
		if (name_eq_str(l, t->recipients[i]))
			return true;
	return false;
}

/*
 * Trigger form, RFC 5233-style subaddress: local part = trigger["+" tag],
 * split at the first "+". A trigger's recipients list does not apply
 * here: it restricts only the recipient form's local parts.
 */
static void
route_trigger_form(const struct instance *inst, const struct mailbox *rcpt,
    struct route_result *res)
{
	const char *plus = strchr(rcpt->local, '+');
	struct name trig = { rcpt->local, strlen(rcpt->local) };
	const struct trigger *t;

	if (plus != NULL)
		trig.n = (size_t)(plus - rcpt->local);
	t = find_trigger(inst, trig);
	if (t == NULL) {
		decide(res, OUT_NO_TRIGGER, rcpt);
		return;
	}
	res->instance = inst;
	res->trigger = t;
	res->form = ROUTE_FORM_TRIGGER;
	if (plus != NULL)
		snprintf(res->tag, sizeof(res->tag), "%s", plus + 1);
	decide(res, OUT_OK, rcpt);
}

/*
 * Recipient form: local part = recipient, kept as written (case too);
 * compared case-insensitively with the trigger's recipients list. An empty
 * (quoted "") local part names nobody and is refused.
 */
static void
route_recipient_form(const struct instance *inst, struct name label,
    const struct mailbox *rcpt, struct route_result *res)
{
	const struct trigger *t = find_trigger(inst, label);

	if (t == NULL) {
		decide(res, OUT_NO_TRIGGER, rcpt);
		return;
	}
	if (rcpt->local[0] == '\0' || !recipient_allowed(t, rcpt->local)) {
		decide(res, OUT_NOT_RECIPIENT, rcpt);
		return;
	}
	res->instance = inst;
	res->trigger = t;
	res->form = ROUTE_FORM_RECIPIENT;
	snprintf(res->recipient, sizeof(res->recipient), "%s", rcpt->local);
	decide(res, OUT_OK, rcpt);
}

/*
 * One canonical_names pattern against a domain: "*.example.net" matches
 * one or more labels in front of example.net; a "*" inside the first
 * label ("lb-*.mx.example.net", as in ARCHITECTURE.md) matches within that
 * one label; anything else matches exactly.
 */
static bool
canonical_match(const char *pattern, struct name d)
{
	struct name p = { pattern, strlen(pattern) };
	const char *star = memchr(p.p, '*', p.n);
	const char *dot = memchr(p.p, '.', p.n);
	struct name rest, pre, post;
	const char *ddot;

	if (p.n > 0 && p.p[p.n - 1] == '.')
		p.n--;
	if (star == NULL || dot == NULL || star > dot)
		return name_eq(d, p.p, p.n);
	rest.p = dot;
	rest.n = p.n - (size_t)(dot - p.p); /* ".example.net" */
	if (rest.n < 2)
		return false; /* "*." would match every name */
	if (d.n <= rest.n || !name_eq(rest, d.p + d.n - rest.n, rest.n))
		return false;
	if (star == p.p && star + 1 == dot)
		return true; /* "*.": any labels, at least one */
	ddot = memchr(d.p, '.', d.n);
	if (ddot == NULL || (size_t)(ddot - d.p) != d.n - rest.n)
		return false; /* "lb-*" stands for exactly one label */
	pre.p = p.p;
	pre.n = (size_t)(star - p.p);
	post.p = star + 1;
	post.n = (size_t)(dot - star - 1);
	return (size_t)(ddot - d.p) >= pre.n + post.n &&
	    name_eq(pre, d.p, pre.n) && name_eq(post, ddot - post.n, post.n);
}

static bool
is_canonical_name(const struct config *cfg, struct name d)
{
	size_t i;

	for (i = 0; i < cfg->n_canonical_names; i++)
		if (cfg->canonical_names[i] != NULL &&
		    canonical_match(cfg->canonical_names[i], d))
			return true;
	return false;
}

/*
 * The domain to match: one trailing dot dropped (an absolute name, as
 * written, is the same host). Returns false for a domain with an empty
 * label (empty, leading dot, "..", a second trailing dot): the parser
 * lets none through, and a hand-made one matches nothing.
 */
static bool
match_domain(const struct mailbox *rcpt, struct name *d)
{
	size_t i;

	d->p = rcpt->domain;
	d->n = strnlen(rcpt->domain, sizeof(rcpt->domain));
	if (d->n > 0 && d->p[d->n - 1] == '.')
		d->n--;
	if (d->n == 0 || d->p[0] == '.' || d->p[d->n - 1] == '.')
		return false;
	for (i = 1; i < d->n; i++)
		if (d->p[i] == '.' && d->p[i - 1] == '.')
			return false;
	return true;
}

/*
 * RFC 5321 4.5.1: the postmaster of a domain we answer for must be
 * reachable: "<Postmaster>", and postmaster@ our hostname, a canonical
 * name, or an instance host that has no trigger of that name (a trigger
 * called "postmaster" takes its own mail).
 */
static bool
is_postmaster(const struct config *cfg, const struct mailbox *rcpt)
{
	struct name d, local = { rcpt->local, strlen(rcpt->local) };
	const struct instance *inst;

	if (rcpt->is_postmaster)
		return true;
	if (!name_eq_str(local, "postmaster") || rcpt->domain_literal ||
	    !match_domain(rcpt, &d))
		return false;
	if (name_eq_str(d, cfg->hostname) || is_canonical_name(cfg, d))
		return true;
	inst = find_instance(cfg, d);
	return inst != NULL && find_trigger(inst, local) == NULL;
}

static void
route_postmaster(const struct config *cfg, const struct mailbox *rcpt,
    struct route_result *res)
{
	if (cfg->postmaster_trigger == NULL) {
		decide(res, OUT_NO_POSTMASTER, rcpt);
		return;
	}
	res->instance = cfg->postmaster_instance;
	res->trigger = cfg->postmaster_trigger;
	res->form = ROUTE_FORM_TRIGGER;
	decide(res, OUT_POSTMASTER, rcpt);
}

static void
route_where(const struct config *cfg, const struct route_query *q,
    struct route_result *res)
{
	const struct mailbox *rcpt = q == NULL ? NULL : q->rcpt;
	const struct instance *inst;
	struct name d, label, rest;
	const char *dot;

	memset(res, 0, sizeof(*res));
	if (cfg == NULL || rcpt == NULL) {
		decide(res, OUT_TEMPFAIL, rcpt);
		return;
	}
	/* Step 0: RFC 5321 4.5.1, the postmaster of one of our names. */
	if (is_postmaster(cfg, rcpt)) {
		route_postmaster(cfg, rcpt, res);
		return;
	}
	/* Step 1: a literal names a host by address; we host none. */
	if (rcpt->is_null || rcpt->domain_literal || !match_domain(rcpt, &d)) {
		decide(res, OUT_RELAY, rcpt);
		return;
	}
	/* Step 2: an exact instance match wins over step 3. */
	inst = find_instance(cfg, d);
	if (inst != NULL) {
		route_trigger_form(inst, rcpt, res);
		return;
	}
	/* Step 3: trigger.instance-host, one label deep only. */
	dot = memchr(d.p, '.', d.n);
	if (dot != NULL) {
		label.p = d.p;
		label.n = (size_t)(dot - d.p);
		rest.p = dot + 1;
		rest.n = d.n - label.n - 1;
		inst = find_instance(cfg, rest);
		if (inst != NULL) {
			route_recipient_form(inst, label, rcpt, res);
			return;
		}
	}
	/* Step 4: our own name, reached through CNAME expansion. */
	if (is_canonical_name(cfg, d)) {
		decide(res, OUT_CANONICAL, rcpt);
		return;
	}
	decide(res, OUT_RELAY, rcpt);
}

/* s, NUL-terminated in out, with control bytes made '?' (no injection). */
static void
defuse(char out[ADDR_PATH_MAX + 1], const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < ADDR_PATH_MAX; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
								      s[i];
	out[i] = '\0';
}

/*
 * The trigger's sender policy (route/policy.h), once the recipient is
 * known to be good. A refusal names the sender and the trigger, and keeps
 * the instance and trigger for `mailtrigger route` and the logs. The
 * postmaster is exempt (RFC 5321 4.5.1: it must always be reachable).
 */
static void
sender_policy(const struct route_query *q, struct route_result *res)
{
	struct policy_result p;
	struct reply r = replies[OUT_SENDER];
	char why[ROUTE_TEXT_MAX], from[ADDR_PATH_MAX + 1];

	policy_sender(res->trigger, q->mail_from, &p);
	res->policy = p.verdict;
	if (p.verdict != POLICY_DENIED)
		return;
	defuse(from, q->mail_from != NULL ? q->mail_from->address : "");
	snprintf(why, sizeof(why), "%s: <%s> may not trigger %s", r.text, from,
	    res->trigger->name);
	r.text = why;
	res->verdict = r.verdict;
	res->code = r.code;
	snprintf(res->enhanced, sizeof(res->enhanced), "%s", r.enhanced);
	res->reason = r.reason;
	format_text(res, &r, q->rcpt->address);
}

void
route_rcpt(const struct config *cfg, const struct route_query *q,
    struct route_result *res)
{
	route_where(cfg, q, res);
	if (res->verdict == ROUTE_OK && res->trigger != NULL &&
	    strcmp(res->reason, "postmaster") != 0)
		sender_policy(q, res);
}
