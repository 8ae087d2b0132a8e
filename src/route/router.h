/*
 * router - decides at RCPT time what a recipient address means: which
 * instance and trigger it belongs to, or why it is refused.
 *
 * Pure (reads only the config it is given). Answers like a Postfix
 * restriction: OK, REJECT or TEMPFAIL, always with the exact reply. The
 * gateway is never an open relay: a recipient is accepted only when its
 * domain is a configured instance host (trigger form: trigger[+tag]@host)
 * or trigger.instance-host (recipient form: recipient@trigger.host) and
 * the trigger exists. Domains match ASCII case-insensitively with one
 * optional trailing dot. Address literals, source routes (already dropped
 * by the address parser), %-hacks, !-paths and quoted local parts holding
 * '@' never reach another host: at most they name no trigger (550 5.1.1).
 *
 * Replies (docs/replies.md lists them all):
 *   250 2.1.5 Ok
 *   550 5.1.1 <rcpt>: Recipient address rejected: no such trigger
 *   550 5.1.1 <rcpt>: Recipient address rejected: not a recipient of this
 * trigger 550 5.1.2 <rcpt>: ... CNAME expansion diagnosis (canonical_names)
 *   550 5.1.1 <rcpt>: Recipient address rejected: no postmaster is configured
 * on this gateway 554 5.7.1 <rcpt>: Relay access denied
 *   550 5.7.1 <rcpt>: Sender address rejected: <from> may not trigger T
 * (the trigger's senders list, route/policy.h; never for the postmaster)
 */
#ifndef MT_ROUTE_ROUTER_H
#define MT_ROUTE_ROUTER_H

#include "config.h"
#include "mail/address.h"
#include "route/policy.h"

enum route_verdict { ROUTE_OK = 0, ROUTE_REJECT, ROUTE_TEMPFAIL };

enum route_form {
	ROUTE_FORM_NONE = 0,
	ROUTE_FORM_TRIGGER,   /* trigger[+tag]@instance-host */
	ROUTE_FORM_RECIPIENT, /* recipient@trigger.instance-host */
};

#define ROUTE_TEXT_MAX 600

struct route_result {
	enum route_verdict verdict;
	int code;                  /* 250, 550, 554, 451 */
	char enhanced[16];         /* "2.1.5", "5.1.1", ... */
	char text[ROUTE_TEXT_MAX]; /* reply text after the enhanced code */
	/* On ROUTE_OK (borrowed from the config the router was given): */
	const struct instance *instance;
	const struct trigger *trigger;
	enum route_form form;
	char recipient[ADDR_LOCAL_MAX + 1]; /* recipient form: local part */
	char tag[ADDR_LOCAL_MAX + 1];       /* trigger form: +tag or "" */
	/* A short machine-readable reason for logs: "ok", "relay_denied",
	 * "no_such_trigger", "not_a_recipient", "canonical_name",
	 * "postmaster", "no_postmaster", "sender_denied". */
	const char *reason;
	/* The sender policy (route/policy.h) when a trigger was found.
	 * POLICY_DENIED comes with the 550 5.7.1 refusal, which keeps
	 * instance, trigger, form, recipient and tag. */
	enum policy_verdict policy;
};

/* The facts the router decides on. */
struct route_query {
	const struct mailbox *mail_from; /* may be a null sender */
	const struct mailbox *rcpt;
};

/* Fills *res with the decision for q under cfg. */
void route_rcpt(const struct config *cfg, const struct route_query *q,
    struct route_result *res);

#endif
