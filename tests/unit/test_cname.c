/*
 * test_cname - CNAME recovery (route/cname.h): evidence 1 (the sender's
 * domain, at RCPT), the provisional accept and the one-recipient rule
 * (452 4.5.3 both ways), evidence 2 (the first Received: for clause, at
 * the end of DATA), every refusal (ambiguous, unproven, instance not
 * opted in, local part changed, sender policy of the recovered trigger).
 *
 * The config is built by hand, like test_router's; each row parses its
 * paths with the real parser, routes with route_rcpt() and then applies
 * cname_rcpt() or cname_recover(). A failure prints got and want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mail/address.h"
#include "route/cname.h"
#include "route/router.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char *boss[] = { "boss@acme.com" };
static struct trigger acme_triggers[] = {
	{ .name = "flow1" },
	{ .name = "locked", .senders = boss, .n_senders = N(boss) },
};
static struct trigger beta_triggers[] = { { .name = "flow1" } };
static struct trigger closed_triggers[] = { { .name = "flow1" } };
static char *acme_domains[] = { "acme.com", "shared.example" };
static char *beta_domains[] = { "beta.org", "shared.example" };
static char *closed_domains[] = { "closed.net" };

static struct instance instances[] = {
	{ .host = "acme.triggers.example.com",
	    .sender_domains = acme_domains,
	    .n_sender_domains = N(acme_domains),
	    .accept_cname_expanded = true,
	    .triggers = acme_triggers,
	    .n_triggers = N(acme_triggers) },
	{ .host = "beta.triggers.example.com",
	    .sender_domains = beta_domains,
	    .n_sender_domains = N(beta_domains),
	    .accept_cname_expanded = true,
	    .triggers = beta_triggers,
	    .n_triggers = N(beta_triggers) },
	{ .host = "closed.triggers.example.com",
	    .sender_domains = closed_domains,
	    .n_sender_domains = N(closed_domains),
	    .triggers = closed_triggers,
	    .n_triggers = N(closed_triggers) },
};
static char *canonical[] = { "lb-*.mx.example.net" };
static const struct config cfg = {
	.canonical_names = canonical,
	.n_canonical_names = N(canonical),
	.instances = instances,
	.n_instances = N(instances),
};
/* The same instances, none opted in (the closed one only). */
static const struct config cfg_none = {
	.canonical_names = canonical,
	.n_canonical_names = N(canonical),
	.instances = instances + 2,
	.n_instances = 1,
};

#define LB "lb-7.mx.example.net"
#define ACME "acme.triggers.example.com"
#define DIAG "this is the mail server's own name"

static bool
str_ok(const char *row, const char *what, const char *got, const char *want)
{
	if (want == NULL || (got != NULL && strstr(got, want) == got))
		return true;
	print_error("%s: %s got '%s' want '%s...'\n", row, what,
	    got ? got : "(null)", want);
	return false;
}

static bool
int_ok(const char *row, const char *what, long got, long want)
{
	if (got == want)
		return true;
	print_error("%s: %s got %ld want %ld\n", row, what, got, want);
	return false;
}

static void
parse(const char *path, struct mailbox *m)
{
	size_t used;

	assert_int_equal(addr_parse_path(path, strlen(path), true, true, m,
			     &used),
	    ADDR_OK);
}

struct rcpt_row {
	const char *name;
	const struct config *cfg;
	const char *from, *rcpt;
	size_t n_rcpts;
	bool provisional;
	int code;
	const char *reason;
	enum cname_evidence evidence;
	const char *recovered; /* and the trigger's instance, via routing */
	const char *text;      /* prefix of the reply text; NULL: any */
};

static const struct rcpt_row rcpt_rows[] = {
	{ "evidence 1", &cfg, "<a@acme.com>", "<flow1@" LB ">", 0, false, 250,
	    "cname_recovered", CNAME_SENDER_DOMAINS, "flow1@" ACME, "Ok" },
	{ "evidence 1 keeps the tag", &cfg, "<a@acme.com>", "<flow1+p1@" LB ">",
	    0, false, 250, "cname_recovered", CNAME_SENDER_DOMAINS,
	    "flow1+p1@" ACME, NULL },
	{ "evidence 1, sender domain in other case", &cfg, "<a@ACME.Com.>",
	    "<flow1@" LB ">", 0, false, 250, "cname_recovered",
	    CNAME_SENDER_DOMAINS, "flow1@" ACME, NULL },
	{ "evidence 1 with another recipient already", &cfg, "<a@acme.com>",
	    "<flow1@" LB ">", 3, false, 250, "cname_recovered",
	    CNAME_SENDER_DOMAINS, "flow1@" ACME, NULL },
	{ "evidence 1, trigger's sender policy refuses", &cfg, "<a@acme.com>",
	    "<locked@" LB ">", 0, false, 550, "sender_denied", CNAME_NONE, "",
	    "<locked@" ACME ">: Sender address rejected" },
	{ "evidence 1, trigger's sender policy allows", &cfg, "<boss@acme.com>",
	    "<locked@" LB ">", 0, false, 250, "cname_recovered",
	    CNAME_SENDER_DOMAINS, "locked@" ACME, NULL },
	{ "ambiguous sender domain: provisional", &cfg, "<a@shared.example>",
	    "<flow1@" LB ">", 0, false, 250, "cname_provisional", CNAME_PENDING,
	    "", "Ok: accepted pending the Received: header" },
	{ "ambiguous sender domain, not alone: 452", &cfg, "<a@shared.example>",
	    "<flow1@" LB ">", 1, false, 452, "cname_deferred", CNAME_NONE, "",
	    "<flow1@" LB ">: Recipient address deferred: a recipient "
	    "rewritten by CNAME expansion needs a transaction of its own" },
	{ "second canonical recipient: 452", &cfg, "<a@shared.example>",
	    "<flow2@" LB ">", 1, true, 452, "cname_deferred", CNAME_NONE, "",
	    NULL },
	{ "sender domain of an instance not opted in", &cfg, "<a@closed.net>",
	    "<flow1@" LB ">", 0, false, 250, "cname_provisional", CNAME_PENDING,
	    "", NULL },
	{ "unknown sender domain", &cfg, "<a@elsewhere.example>",
	    "<flow1@" LB ">", 0, false, 250, "cname_provisional", CNAME_PENDING,
	    "", NULL },
	{ "null sender", &cfg, "<>", "<flow1@" LB ">", 0, false, 250,
	    "cname_provisional", CNAME_PENDING, "", NULL },
	{ "trigger missing at the sender's instance", &cfg, "<a@acme.com>",
	    "<nosuch@" LB ">", 0, false, 250, "cname_provisional",
	    CNAME_PENDING, "", NULL },
	{ "no instance opted in: the diagnosis", &cfg_none, "<a@closed.net>",
	    "<flow1@" LB ">", 0, false, 550, "canonical_name", CNAME_NONE, "",
	    "<flow1@" LB ">: " DIAG },
	{ "normal recipient after a provisional one: 452", &cfg,
	    "<a@shared.example>", "<flow1@" ACME ">", 1, true, 452,
	    "cname_deferred", CNAME_NONE, "",
	    "<flow1@" ACME ">: Recipient address deferred: this transaction "
	    "holds a recipient rewritten by CNAME expansion" },
	{ "evidence 1 after a provisional one: 452", &cfg, "<a@acme.com>",
	    "<flow1@" LB ">", 1, true, 452, "cname_deferred", CNAME_NONE, "",
	    NULL },
	{ "normal recipient untouched", &cfg, "<a@acme.com>",
	    "<flow1@" ACME ">", 2, false, 250, "ok", CNAME_NONE, "", "Ok" },
	{ "refusal after a provisional one untouched", &cfg, "<a@acme.com>",
	    "<x@evil.example>", 1, true, 554, "relay_denied", CNAME_NONE, "",
	    NULL },
	{ "postmaster at a canonical name is the router's", &cfg,
	    "<a@acme.com>", "<postmaster@" LB ">", 0, false, 550,
	    "no_postmaster", CNAME_NONE, "", NULL },
};

static int
check_rcpt(const struct rcpt_row *r)
{
	struct cname_txn txn = { r->n_rcpts, r->provisional };
	struct route_result res;
	struct cname_rewrite rw;
	struct route_query q;
	struct mailbox from, rcpt;
	bool ok = true;

	parse(r->from, &from);
	parse(r->rcpt, &rcpt);
	q.mail_from = &from;
	q.rcpt = &rcpt;
	route_rcpt(r->cfg, &q, &res);
	cname_rcpt(r->cfg, &q, &txn, &res, &rw);
	ok &= int_ok(r->name, "code", res.code, r->code);
	ok &= str_ok(r->name, "reason", res.reason, r->reason);
	ok &= str_ok(r->name, "evidence", cname_evidence_name(rw.evidence),
	    cname_evidence_name(r->evidence));
	ok &= int_ok(r->name, "recovered length", (long)strlen(rw.recovered),
	    (long)strlen(r->recovered));
	ok &= str_ok(r->name, "recovered", rw.recovered, r->recovered);
	ok &= str_ok(r->name, "text", res.text, r->text);
	if (rw.evidence != CNAME_NONE)
		ok &= str_ok(r->name, "received", rw.received, rcpt.address);
	if (rw.evidence == CNAME_SENDER_DOMAINS)
		ok &= str_ok(r->name, "instance", res.instance->host, ACME);
	return ok ? 0 : 1;
}

static void
test_rcpt(void **state)
{
	size_t i;
	int failed = 0;

	(void)state;
	for (i = 0; i < N(rcpt_rows); i++)
		failed += check_rcpt(&rcpt_rows[i]);
	assert_int_equal(failed, 0);
}

/* Stock Sendmail 8.17 after CNAME expansion (cf/m4/cfhead.m4). */
#define SENDMAIL(FOR)                                                       \
	"Received: from client.acme.com (client.acme.com [192.0.2.10])\r\n" \
	"\tby mail.acme.com (8.17.1/8.17.1) with ESMTP id "                 \
	"4ASHq1ab012345\r\n"                                                \
	"\tfor " FOR "; Sat, 28 Nov 2026 18:00:00 +0000\r\n"                \
	"To: flow1@" LB "\r\n\r\nbody\r\n"

struct recover_row {
	const char *name;
	const char *from, *rcpt, *msg;
	bool ok;
	int code;
	const char *reason;
	const char *recovered;
	const char *trigger;
	const char *recipient; /* recipient form */
};

static const struct recover_row recover_rows[] = {
	{ "sendmail, trigger form", "<a@shared.example>", "<flow1@" LB ">",
	    SENDMAIL("<flow1@" ACME ">"), true, 250, "cname_recovered",
	    "flow1@" ACME, "flow1", "" },
	{ "sendmail, recipient form", "<a@shared.example>", "<oncall@" LB ">",
	    SENDMAIL("<oncall@flow1." ACME ">"), true, 250, "cname_recovered",
	    "oncall@flow1." ACME, "flow1", "oncall" },
	{ "bare mailbox, tag kept", "<>", "<flow1+x@" LB ">",
	    "Received: by h for flow1+x@" ACME "; d\r\n\r\n", true, 250,
	    "cname_recovered", "flow1+x@" ACME, "flow1", "" },
	{ "local part changed", "<a@shared.example>", "<flow1@" LB ">",
	    SENDMAIL("<locked@" ACME ">"), false, 550, "cname_unproven", "",
	    NULL, NULL },
	{ "local part in other case", "<a@shared.example>", "<flow1@" LB ">",
	    SENDMAIL("<FLOW1@" ACME ">"), false, 550, "cname_unproven", "",
	    NULL, NULL },
	{ "instance not opted in", "<a@closed.net>", "<flow1@" LB ">",
	    SENDMAIL("<flow1@closed.triggers.example.com>"), false, 550,
	    "cname_unproven", "", NULL, NULL },
	{ "no such trigger", "<a@x.example>", "<nosuch@" LB ">",
	    SENDMAIL("<nosuch@" ACME ">"), false, 550, "cname_unproven", "",
	    NULL, NULL },
	{ "for names the canonical name", "<a@x.example>", "<flow1@" LB ">",
	    SENDMAIL("<flow1@" LB ">"), false, 550, "cname_unproven", "", NULL,
	    NULL },
	{ "for names a foreign domain", "<a@x.example>", "<flow1@" LB ">",
	    SENDMAIL("<flow1@evil.example>"), false, 550, "cname_unproven", "",
	    NULL, NULL },
	{ "no for clause", "<a@x.example>", "<flow1@" LB ">",
	    "Received: from a by b with ESMTP id 1; d\r\n\r\n", false, 550,
	    "cname_unproven", "", NULL, NULL },
	{ "no Received at all", "<a@x.example>", "<flow1@" LB ">",
	    "Subject: x\r\n\r\nReceived: by b for <flow1@" ACME ">\r\n", false,
	    550, "cname_unproven", "", NULL, NULL },
	{ "several for clauses", "<a@x.example>", "<flow1@" LB ">",
	    "Received: by b for <flow1@" ACME "> for <flow1@beta.triggers."
	    "example.com>; d\r\n\r\n",
	    false, 550, "cname_unproven", "", NULL, NULL },
	{ "only the topmost Received counts", "<a@x.example>", "<flow1@" LB ">",
	    "Received: by relay id 2; d\r\n" SENDMAIL("<flow1@" ACME ">"),
	    false, 550, "cname_unproven", "", NULL, NULL },
	{ "recovered trigger's sender policy refuses", "<a@shared.example>",
	    "<locked@" LB ">", SENDMAIL("<locked@" ACME ">"), false, 550,
	    "sender_denied", "", "locked", NULL },
	{ "recovered trigger's sender policy allows", "<boss@acme.com>",
	    "<locked@" LB ">", SENDMAIL("<locked@" ACME ">"), true, 250,
	    "cname_recovered", "locked@" ACME, "locked", "" },
};

static int
check_recover(const struct recover_row *r)
{
	struct route_result res;
	struct cname_rewrite rw;
	struct route_query q;
	struct mailbox from, rcpt;
	bool ok = true, got;

	parse(r->from, &from);
	parse(r->rcpt, &rcpt);
	q.mail_from = &from;
	q.rcpt = &rcpt;
	got = cname_recover(&cfg, &q, r->msg, strlen(r->msg), &res, &rw);
	ok &= int_ok(r->name, "ok", got, r->ok);
	ok &= int_ok(r->name, "code", res.code, r->code);
	ok &= str_ok(r->name, "reason", res.reason, r->reason);
	ok &= int_ok(r->name, "recovered length", (long)strlen(rw.recovered),
	    (long)strlen(r->recovered));
	ok &= str_ok(r->name, "recovered", rw.recovered, r->recovered);
	if (r->trigger != NULL)
		ok &= str_ok(r->name, "trigger",
		    res.trigger ? res.trigger->name : NULL, r->trigger);
	if (r->recipient != NULL && got)
		ok &= str_ok(r->name, "recipient", res.recipient,
			  r->recipient) &&
		    int_ok(r->name, "recipient length",
			(long)strlen(res.recipient),
			(long)strlen(r->recipient));
	if (got)
		ok &= str_ok(r->name, "evidence",
			  cname_evidence_name(rw.evidence), "received_for") &&
		    str_ok(r->name, "received", rw.received, rcpt.address);
	if (!got && strcmp(r->reason, "cname_unproven") == 0)
		ok &= int_ok(r->name, "5.1.2", strcmp(res.enhanced, "5.1.2"),
			  0) &&
		    str_ok(r->name, "text", strstr(res.text, DIAG), DIAG);
	return ok ? 0 : 1;
}

static void
test_recover(void **state)
{
	size_t i;
	int failed = 0;

	(void)state;
	for (i = 0; i < N(recover_rows); i++)
		failed += check_recover(&recover_rows[i]);
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_recover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
