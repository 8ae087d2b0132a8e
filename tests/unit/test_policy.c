/*
 * test_policy - the sender policy: triggers.<name>.senders as the config
 * loads it (normalised entries, and every error with its exact message),
 * policy_sender() against hostile envelope senders, and the router's
 * 550 5.7.1 refusal at RCPT time (exact text, the postmaster exemption,
 * a reply that stays one line).
 *
 * Table driven: each row has a name; a failure prints the row, what came
 * out and what was wanted. Senders are parsed with the real address
 * parser, as the SMTP session does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "mail/address.h"
#include "route/policy.h"
#include "route/router.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Line 4 is "      t:", line 5 its flow; senders is line 6. */
#define TRIG                                                         \
	"instances:\n  - host: a.example\n    triggers:\n      t:\n" \
	"        flow: [{exec: {command: [/bin/true]}}]\n"
#define P "instances[0].triggers.t.senders"

static struct config *
load(const char *senders, struct config_errors *e)
{
	char yaml[2048];

	snprintf(yaml, sizeof(yaml), "%s        senders: %s\n", TRIG, senders);
	return config_parse("t.yaml", yaml, strlen(yaml), e);
}

/* The config keeps each entry normalised. */
static void
test_config_ok(void **state)
{
	static const struct {
		const char *name, *senders;
		const char *want[4]; /* NULL-terminated; all NULL: no list */
	} rows[] = {
		{ "address and wildcard",
		    "[nagios@acme.com, \"*@ops.acme.com\"]",
		    { "nagios@acme.com", "*@ops.acme.com" } },
		{ "domain lower-cased, trailing dot dropped, local kept",
		    "[Nagios@ACME.Com., \"*@Ops.Acme.COM\"]",
		    { "Nagios@acme.com", "*@ops.acme.com" } },
		{ "quoted local part decoded", "['\"nagios\"@acme.com']",
		    { "nagios@acme.com" } },
		{ "quoted local part with @ and space",
		    "['\"on call@x\"@acme.com']", { "on call@x@acme.com" } },
		{ "null sender", "[\"<>\", a@b.example]",
		    { "<>", "a@b.example" } },
		{ "UTF-8 local part", "[jürgen@acme.com]",
		    { "jürgen@acme.com" } },
		{ "null value: any sender", "~", { NULL } },
	};
	struct config_errors e = { 0 };
	struct config *cfg;
	const struct trigger *t;
	size_t i, j, n, bad = 0;

	for (i = 0; i < N(rows); i++) {
		cfg = load(rows[i].senders, &e);
		for (n = 0; n < 4 && rows[i].want[n] != NULL;)
			n++;
		t = cfg != NULL ? &cfg->instances[0].triggers[0] : NULL;
		if (t == NULL || t->n_senders != n ||
		    (n == 0) != (t->senders == NULL)) {
			print_message("row %s: %s, %zu entries, want %zu\n",
			    rows[i].name, t == NULL ? "errors" : "loaded",
			    t == NULL ? e.n : t->n_senders, n);
			bad++;
		}
		for (j = 0; t != NULL && j < n && j < t->n_senders; j++) {
			if (strcmp(t->senders[j], rows[i].want[j]) == 0)
				continue;
			print_message("row %s [%zu]: got %s want %s\n",
			    rows[i].name, j, t->senders[j], rows[i].want[j]);
			bad++;
		}
		config_unref(cfg);
		config_errors_free(&e);
	}
	assert_int_equal(bad, 0);
}

/* Entries that are refused, each with its exact message. */
static void
test_config_errors(void **state)
{
#define NOT_ADDR "is not an address (write local@domain, *@domain or <>)"
	static const struct {
		const char *name, *senders, *want;
	} rows[] = {
		{ "empty list", "[]",
		    "t.yaml:6:18: " P ": the list is empty, so no sender "
		    "could start the trigger (list addresses or *@domain, or "
		    "leave senders out to accept any)" },
		{ "no @", "[nagios]",
		    "t.yaml:6:19: " P "[0]: 'nagios' " NOT_ADDR },
		{ "bare wildcard", "['*']",
		    "t.yaml:6:19: " P "[0]: '*' " NOT_ADDR },
		{ "empty local part", "['@acme.com']",
		    "t.yaml:6:19: " P "[0]: '@acme.com' " NOT_ADDR },
		{ "angle brackets", "['<a@b.example>']",
		    "t.yaml:6:19: " P "[0]: '<a@b.example>' is not an address "
		    "(write local@domain, *@domain or <>, at most 256 "
		    "characters, without angle brackets)" },
		{ "star inside local part", "['nag*@acme.com']",
		    "t.yaml:6:19: " P "[0]: 'nag*@acme.com' has a '*' that is "
		    "not the whole local part (the only pattern is "
		    "*@domain)" },
		{ "quoted star", "['\"*\"@acme.com']",
		    "t.yaml:6:19: " P "[0]: '\"*\"@acme.com' has a '*' that is "
		    "not the whole local part (the only pattern is "
		    "*@domain)" },
		{ "domain wildcard", "['*@*.acme.com']",
		    "t.yaml:6:19: " P "[0]: '*@*.acme.com' " NOT_ADDR },
		{ "UTF-8 domain", "['a@bücher.example']",
		    "t.yaml:6:19: " P "[0]: 'a@bücher.example' has a domain "
		    "that is not a valid domain name (write internationalized "
		    "names in their xn-- form)" },
		{ "address literal", "['a@[192.0.2.1]']",
		    "t.yaml:6:19: " P "[0]: 'a@[192.0.2.1]' has an address "
		    "literal for a domain (name the domain)" },
		{ "trailing garbage", "['a@b.example x']",
		    "t.yaml:6:19: " P "[0]: 'a@b.example x' " NOT_ADDR },
		{ "not a list", "nagios@acme.com",
		    "t.yaml:6:18: " P ": expected a list of strings, got a "
		    "string" },
	};
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t i, bad = 0;

	for (i = 0; i < N(rows); i++) {
		cfg = load(rows[i].senders, &e);
		if (cfg != NULL || e.n != 1 ||
		    strcmp(e.items[0], rows[i].want) != 0) {
			print_message("row %s:\n  got  %s\n  want %s\n",
			    rows[i].name, e.n > 0 ? e.items[0] : "(no error)",
			    rows[i].want);
			bad++;
		}
		config_unref(cfg);
		config_errors_free(&e);
	}
	assert_int_equal(bad, 0);
#undef NOT_ADDR
}

static char *list[] = { "nagios@acme.com", "*@ops.acme.com", "Ops@acme.com",
	"jürgen@acme.com", "on call@x@acme.com", NULL };
static char *with_null[] = { "<>", "nagios@acme.com" };
static char *broken[] = { "no-at", "@acme.com", "x@", NULL, "<>x" };

/* Parses path as a MAIL FROM argument (SMTPUTF8 on). */
static bool
sender(const char *path, struct mailbox *mb)
{
	size_t used;

	return addr_parse_path(path, strlen(path), true, true, mb, &used) ==
	    ADDR_OK;
}

static void
test_policy_rows(void **state)
{
	static struct trigger any = { .name = "t" };
	static struct trigger t = { .name = "t",
		.senders = list,
		.n_senders = 5 };
	static struct trigger tn = { .name = "t",
		.senders = with_null,
		.n_senders = N(with_null) };
	static struct trigger tb = { .name = "t",
		.senders = broken,
		.n_senders = N(broken) };
	static const struct {
		const char *name;
		const struct trigger *t;
		const char *from;
		enum policy_verdict want;
		const char *matched;
	} rows[] = {
		{ "no list: anyone", &any, "<x@y.example>", POLICY_ANY, NULL },
		{ "no list: null sender", &any, "<>", POLICY_ANY, NULL },
		{ "exact", &t, "<nagios@acme.com>", POLICY_ALLOWED,
		    "nagios@acme.com" },
		{ "domain case", &t, "<nagios@ACME.COM>", POLICY_ALLOWED,
		    "nagios@acme.com" },
		{ "trailing dot", &t, "<nagios@acme.com.>", POLICY_ALLOWED,
		    "nagios@acme.com" },
		{ "local part case is exact", &t, "<NAGIOS@acme.com>",
		    POLICY_DENIED, NULL },
		{ "listed mixed-case local part", &t, "<Ops@acme.com>",
		    POLICY_ALLOWED, "Ops@acme.com" },
		{ "quoted local part is the same mailbox", &t,
		    "<\"nagios\"@acme.com>", POLICY_ALLOWED,
		    "nagios@acme.com" },
		{ "wildcard", &t, "<anyone@ops.acme.com>", POLICY_ALLOWED,
		    "*@ops.acme.com" },
		{ "wildcard, domain case", &t, "<x@OPS.Acme.com>",
		    POLICY_ALLOWED, "*@ops.acme.com" },
		{ "wildcard: no subdomains", &t, "<x@db.ops.acme.com>",
		    POLICY_DENIED, NULL },
		{ "wildcard: no parent", &t, "<x@acme.com>", POLICY_DENIED,
		    NULL },
		{ "suffix is not the domain", &t, "<nagios@evilacme.com>",
		    POLICY_DENIED, NULL },
		{ "domain prefix", &t, "<nagios@acme.com.evil.example>",
		    POLICY_DENIED, NULL },
		{ "local part prefix", &t, "<nagios2@acme.com>", POLICY_DENIED,
		    NULL },
		{ "local part as a suffix", &t, "<x.nagios@acme.com>",
		    POLICY_DENIED, NULL },
		{ "source route dropped", &t, "<@evil.example:nagios@acme.com>",
		    POLICY_ALLOWED, "nagios@acme.com" },
		{ "%-hack", &t, "<nagios%acme.com@evil.example>", POLICY_DENIED,
		    NULL },
		{ "quoted @ in local part", &t,
		    "<\"nagios@acme.com\"@evil.example>", POLICY_DENIED, NULL },
		{ "quoted @ entry", &t, "<\"on call@x\"@acme.com>",
		    POLICY_ALLOWED, "on call@x@acme.com" },
		{ "address literal", &t, "<nagios@[192.0.2.1]>", POLICY_DENIED,
		    NULL },
		{ "UTF-8 local part", &t, "<jürgen@acme.com>", POLICY_ALLOWED,
		    "jürgen@acme.com" },
		{ "UTF-8 other normal form", &t, "<ju\xcc\x88rgen@acme.com>",
		    POLICY_DENIED, NULL },
		{ "null sender without <>", &t, "<>", POLICY_DENIED, NULL },
		{ "null sender with <>", &tn, "<>", POLICY_ALLOWED, "<>" },
		{ "<> entry is not a wildcard", &tn, "<x@acme.com>",
		    POLICY_DENIED, NULL },
		{ "hand-made entries match nothing", &tb, "<x@acme.com>",
		    POLICY_DENIED, NULL },
		{ "hand-made: no null", &tb, "<>", POLICY_DENIED, NULL },
	};
	struct policy_result res;
	struct mailbox mb;
	size_t i, bad = 0;

	for (i = 0; i < N(rows); i++) {
		if (!sender(rows[i].from, &mb)) {
			print_message("row %s: %s does not parse\n",
			    rows[i].name, rows[i].from);
			bad++;
			continue;
		}
		policy_sender(rows[i].t, &mb, &res);
		if (res.verdict == rows[i].want &&
		    (rows[i].matched == NULL ? res.matched == NULL :
					       res.matched != NULL &&
				strcmp(res.matched, rows[i].matched) == 0))
			continue;
		print_message("row %s: got %s (%s) want %s (%s)\n",
		    rows[i].name, policy_verdict_name(res.verdict),
		    res.matched ? res.matched : "-",
		    policy_verdict_name(rows[i].want),
		    rows[i].matched ? rows[i].matched : "-");
		bad++;
	}
	assert_int_equal(bad, 0);
}

/* Senders the parser would never produce: the policy stays sane. */
static void
test_policy_hand_made(void **state)
{
	struct trigger t = { .name = "t", .senders = list, .n_senders = 5 };
	struct trigger none = { .name = "t", .senders = list, .n_senders = 0 };
	struct policy_result res;
	struct mailbox mb;

	policy_sender(&t, NULL, &res);
	assert_int_equal(res.verdict, POLICY_DENIED);
	policy_sender(NULL, NULL, &res);
	assert_int_equal(res.verdict, POLICY_ANY);
	/* Unterminated fields: compared within their arrays only. */
	memset(&mb, 'a', sizeof(mb));
	mb.is_null = mb.domain_literal = false;
	policy_sender(&t, &mb, &res);
	assert_int_equal(res.verdict, POLICY_DENIED);
	memset(&mb, 0, sizeof(mb));
	policy_sender(&t, &mb, &res);
	assert_int_equal(res.verdict, POLICY_DENIED);
	/* An empty list (the loader refuses it) lets nobody in. */
	assert_true(sender("<nagios@acme.com>", &mb));
	policy_sender(&none, &mb, &res);
	assert_int_equal(res.verdict, POLICY_DENIED);
	assert_string_equal(policy_verdict_name(POLICY_ANY), "any");
	assert_string_equal(policy_verdict_name(POLICY_ALLOWED), "allowed");
	assert_string_equal(policy_verdict_name(POLICY_DENIED), "denied");
}

/* The router asks the policy at RCPT time, after the recipient checks. */
static void
test_router(void **state)
{
	static char *pm_list[] = { "nagios@acme.com" };
	static struct trigger triggers[] = {
		{ .name = "db-outage", .senders = list, .n_senders = 5 },
		{ .name = "open" },
		{ .name = "pm", .senders = pm_list, .n_senders = 1 },
	};
	static struct instance inst = { .host = "acme.triggers.example.com",
		.triggers = triggers,
		.n_triggers = N(triggers) };
	static const struct config cfg = { .hostname = "mx.example.net",
		.instances = &inst,
		.n_instances = 1,
		.postmaster_instance = &inst,
		.postmaster_trigger = &triggers[2] };
	static const struct {
		const char *name, *from, *rcpt;
		int code;
		const char *text, *reason;
		enum policy_verdict policy;
	} rows[] = {
		{ "allowed", "<nagios@acme.com>",
		    "<db-outage@acme.triggers.example.com>", 250, "Ok", "ok",
		    POLICY_ALLOWED },
		{ "denied", "<mallory@evil.example>",
		    "<db-outage+p1@acme.triggers.example.com>", 550,
		    "<db-outage+p1@acme.triggers.example.com>: Sender address "
		    "rejected: <mallory@evil.example> may not trigger "
		    "db-outage",
		    "sender_denied", POLICY_DENIED },
		{ "null sender denied", "<>",
		    "<db-outage@acme.triggers.example.com>", 550,
		    "<db-outage@acme.triggers.example.com>: Sender address "
		    "rejected: <> may not trigger db-outage",
		    "sender_denied", POLICY_DENIED },
		{ "recipient form", "<mallory@evil.example>",
		    "<x@db-outage.acme.triggers.example.com>", 550,
		    "<x@db-outage.acme.triggers.example.com>: Sender address "
		    "rejected: <mallory@evil.example> may not trigger "
		    "db-outage",
		    "sender_denied", POLICY_DENIED },
		{ "no list", "<mallory@evil.example>",
		    "<open@acme.triggers.example.com>", 250, "Ok", "ok",
		    POLICY_ANY },
		{ "no such trigger comes first", "<mallory@evil.example>",
		    "<nope@acme.triggers.example.com>", 550,
		    "<nope@acme.triggers.example.com>: Recipient address "
		    "rejected: no such trigger",
		    "no_such_trigger", POLICY_ANY },
		{ "postmaster is exempt", "<mallory@evil.example>",
		    "<postmaster@mx.example.net>", 250, "Ok", "postmaster",
		    POLICY_ANY },
		{ "the postmaster trigger by its own name is not",
		    "<mallory@evil.example>", "<pm@acme.triggers.example.com>",
		    550,
		    "<pm@acme.triggers.example.com>: Sender address rejected: "
		    "<mallory@evil.example> may not trigger pm",
		    "sender_denied", POLICY_DENIED },
	};
	struct mailbox from, rcpt;
	struct route_result res;
	struct route_query q = { &from, &rcpt };
	size_t i, bad = 0;

	for (i = 0; i < N(rows); i++) {
		assert_true(sender(rows[i].from, &from));
		assert_true(sender(rows[i].rcpt, &rcpt));
		route_rcpt(&cfg, &q, &res);
		if (res.code == rows[i].code &&
		    strcmp(res.text, rows[i].text) == 0 &&
		    strcmp(res.reason, rows[i].reason) == 0 &&
		    res.policy == rows[i].policy &&
		    (res.code != 550 || strcmp(res.enhanced, "5.7.1") == 0 ||
			res.policy != POLICY_DENIED))
			continue;
		print_message("row %s:\n  got  %d %s %s [%s, %s]\n"
			      "  want %d %s [%s, %s]\n",
		    rows[i].name, res.code, res.enhanced, res.text, res.reason,
		    policy_verdict_name(res.policy), rows[i].code, rows[i].text,
		    rows[i].reason, policy_verdict_name(rows[i].policy));
		bad++;
	}
	assert_int_equal(bad, 0);
	/* A refusal keeps what the route command shows. */
	assert_true(sender("<x@evil.example>", &from));
	assert_true(sender("<db-outage+p2@acme.triggers.example.com>", &rcpt));
	route_rcpt(&cfg, &q, &res);
	assert_int_equal(res.verdict, ROUTE_REJECT);
	assert_ptr_equal(res.trigger, &triggers[0]);
	assert_ptr_equal(res.instance, &inst);
	assert_string_equal(res.tag, "p2");
}

/* Longest sender and recipient, UTF-8: the reply is still one line. */
static void
test_router_long(void **state)
{
	static struct trigger trig = { .name = "t",
		.senders = list,
		.n_senders = 1 };
	static struct instance inst = { .host = "a.example",
		.triggers = &trig,
		.n_triggers = 1 };
	static const struct config cfg = { .instances = &inst,
		.n_instances = 1 };
	char fpath[400], rpath[400], dom[300];
	struct mailbox from, rcpt;
	struct route_result res;
	struct route_query q = { &from, &rcpt };
	size_t i;

	/* 64-octet local part of é, 189-octet domain: 256 with <>. */
	for (i = 0; i < 32; i++)
		memcpy(fpath + 1 + 2 * i, "\xc3\xa9", 2);
	for (i = 0; i < 189; i++)
		dom[i] = (i % 10 == 9) ? '.' : 'd';
	dom[188] = 'x';
	dom[189] = '\0';
	fpath[0] = '<';
	snprintf(fpath + 65, sizeof(fpath) - 65, "@%s>", dom);
	snprintf(rpath, sizeof(rpath), "<t+%.60s@a.example>",
	    "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp");
	assert_true(sender(fpath, &from));
	assert_true(sender(rpath, &rcpt));
	route_rcpt(&cfg, &q, &res);
	assert_int_equal(res.code, 550);
	/* "550 5.7.1 " + text + CRLF within RFC 5321's 512 octets. */
	assert_true(strlen(res.text) <= 512 - 12);
	assert_non_null(strstr(res.text, "may not trigger t"));
	assert_null(strpbrk(res.text, "\r\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_ok),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_policy_rows),
		cmocka_unit_test(test_policy_hand_made),
		cmocka_unit_test(test_router),
		cmocka_unit_test(test_router_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
