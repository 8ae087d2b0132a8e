/*
 * test_session_cname - CNAME recovery inside the SMTP session: the RCPT
 * replies (evidence 1, provisional, 452 4.5.3 both ways), the decision at
 * the end of DATA and of BDAT LAST (recovered and queued for the
 * recovered trigger, or 550 5.1.2 with nothing queued), the header on top
 * of the stored message, and the removal of a forged one.
 *
 * Each row is one client transcript fed in one piece; the test plays the
 * shell (commits every message) and compares the replies, the queued
 * recipient's trigger and the rewrite header exactly. A failure prints
 * got and want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/session.h"
#include "util/buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct trigger acme_triggers[] = { { .name = "flow1" } };
static struct trigger beta_triggers[] = { { .name = "flow1" } };
static char *acme_domains[] = { "acme.com", "shared.example" };
static char *beta_domains[] = { "shared.example" };
static struct instance instances[] = {
	{ .host = "acme.test",
	    .sender_domains = acme_domains,
	    .n_sender_domains = N(acme_domains),
	    .accept_cname_expanded = true,
	    .triggers = acme_triggers,
	    .n_triggers = N(acme_triggers) },
	{ .host = "beta.test",
	    .sender_domains = beta_domains,
	    .n_sender_domains = N(beta_domains),
	    .accept_cname_expanded = true,
	    .triggers = beta_triggers,
	    .n_triggers = N(beta_triggers) },
};
static char *canonical[] = { "lb.test" };
static struct config cfg = {
	.hostname = "mx.test",
	.instances = instances,
	.n_instances = N(instances),
	.canonical_names = canonical,
	.n_canonical_names = N(canonical),
	.refcount = 1, /* never dropped to 0: the data is static */
};

#define EHLO "EHLO c.test\r\n"
#define RECEIVED(FOR)                                                       \
	"Received: from c.test (c.test [192.0.2.7])\r\n\tby mail.acme.com " \
	"(8.17.1/8.17.1) with ESMTP id 4ASH\r\n\tfor " FOR "; Sat, 28 Nov " \
	"2026 18:00:00 +0000\r\n"
#define FORGED                                            \
	"X-Mailtrigger-Recipient-Rewritten: <a@lb.test> " \
	"-> <flow1@beta.test>; evidence=received_for\r\n"
#define BODY "To: flow1@lb.test\r\nSubject: s\r\n\r\nbody\r\n"
#define D250 "250 2.0.0 Ok: queued as Q\r\n"
#define DIAG "550 5.1.2 <flow1@lb.test>: this is the mail server's own name"
#define PROV                                                              \
	"250 2.1.5 Ok: accepted pending the Received: header (recipient " \
	"rewritten by CNAME expansion)\r\n"

struct row {
	const char *name;
	const char *in;
	const char *want_out; /* replies after EHLO's, prefix of the last */
	const char *trigger;  /* "instance/trigger" queued, NULL: none */
	const char *header;   /* the rewrite header, "" when none */
	const char *data;     /* the stored content, NULL: not checked */
};

static const struct row rows[] = {
	{ "evidence 1, forged header removed",
	    EHLO "MAIL FROM:<a@acme.com>\r\nRCPT TO:<flow1@lb.test>\r\n"
		 "DATA\r\n" FORGED BODY ".\r\n",
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with "
	    "<CR><LF>.<CR><LF>\r\n" D250,
	    "acme.test/flow1",
	    "X-Mailtrigger-Recipient-Rewritten: <flow1@lb.test> -> "
	    "<flow1@acme.test>; evidence=sender_domains\r\n",
	    BODY },
	{ "evidence 2 after DATA",
	    EHLO "MAIL FROM:<a@shared.example>\r\nRCPT TO:<flow1@lb.test>\r\n"
		 "DATA\r\n" RECEIVED("<flow1@beta.test>") FORGED BODY ".\r\n",
	    "250 2.1.0 Ok\r\n" PROV "354 End data with "
	    "<CR><LF>.<CR><LF>\r\n" D250,
	    "beta.test/flow1",
	    "X-Mailtrigger-Recipient-Rewritten: <flow1@lb.test> -> "
	    "<flow1@beta.test>; evidence=received_for\r\n",
	    RECEIVED("<flow1@beta.test>") BODY },
	{ "evidence 2 after BDAT LAST",
	    EHLO "MAIL FROM:<a@shared.example>\r\nRCPT TO:<flow1@lb.test>\r\n"
		 "BDAT 194 LAST\r\n" RECEIVED("<flow1@acme.test>") BODY,
	    "250 2.1.0 Ok\r\n" PROV D250, "acme.test/flow1",
	    "X-Mailtrigger-Recipient-Rewritten: <flow1@lb.test> -> "
	    "<flow1@acme.test>; evidence=received_for\r\n",
	    NULL },
	{ "no Received for: 550 5.1.2 after DATA, nothing queued",
	    EHLO "MAIL FROM:<a@shared.example>\r\nRCPT TO:<flow1@lb.test>\r\n"
		 "DATA\r\n" BODY ".\r\nRSET\r\n",
	    "250 2.1.0 Ok\r\n" PROV "354 End data with "
	    "<CR><LF>.<CR><LF>\r\n" DIAG,
	    NULL, "", NULL },
	{ "normal recipient after a provisional one: 452",
	    EHLO "MAIL FROM:<a@shared.example>\r\nRCPT TO:<flow1@lb.test>\r\n"
		 "RCPT TO:<flow1@acme.test>\r\n",
	    "250 2.1.0 Ok\r\n" PROV
	    "452 4.5.3 <flow1@acme.test>: Recipient address deferred: this "
	    "transaction holds a recipient rewritten by CNAME expansion; try "
	    "again later\r\n",
	    NULL, "", NULL },
	{ "provisional after a normal one: 452, then the normal one queued",
	    EHLO "MAIL FROM:<a@shared.example>\r\nRCPT TO:<flow1@acme.test>\r\n"
		 "RCPT TO:<flow1@lb.test>\r\nDATA\r\n" BODY ".\r\n",
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 <flow1@lb.test>: "
	    "Recipient address deferred: a recipient rewritten by CNAME "
	    "expansion needs a transaction of its own; try again later\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n" D250,
	    "acme.test/flow1", "", BODY },
	{ "a normal message loses a forged header too",
	    EHLO "MAIL FROM:<a@x.example>\r\nRCPT TO:<flow1@acme.test>\r\n"
		 "DATA\r\n" FORGED BODY ".\r\n",
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with "
	    "<CR><LF>.<CR><LF>\r\n" D250,
	    "acme.test/flow1", "", BODY },
};

struct got {
	struct buf out;
	char trigger[128];
	struct buf header;
	char *data;
	size_t len;
};

static void
run(const char *in, struct got *g)
{
	struct session_params p = { .cfg = &cfg,
		.hostname = "mx.test",
		.client_ip = "192.0.2.7" };
	struct smtp_session *s;
	const struct smtp_txn *t;
	size_t off = 0, len = strlen(in);
	struct buf *o;

	p.limits = (struct limits){ .message_size = 10000,
		.recipients = 5,
		.errors = 10,
		.command_line = 512,
		.text_line = 1000 };
	s = session_new(&p);
	session_greet(s);
	while (off < len) {
		off += session_input(s, in + off, len - off);
		if (session_event(s) == SESSION_EV_MESSAGE) {
			t = session_txn(s);
			snprintf(g->trigger, sizeof(g->trigger), "%s/%s",
			    t->rcpts[0].route.instance->host,
			    t->rcpts[0].route.trigger->name);
			session_rewrite_headers(s, &g->header);
			g->data = session_take_data(s, &g->len);
			session_commit_done(s, true, "Q");
		} else if (session_event(s) == SESSION_EV_CLOSE) {
			break;
		}
		o = session_output(s);
		buf_append(&g->out, o->data, o->len);
		buf_reset(o);
	}
	session_free(s);
}

static int
check(const struct row *r)
{
	struct got g = { .trigger = "" };
	const char *out;
	int bad = 0;
	size_t skip;

	buf_init(&g.out, 1 << 20);
	buf_init(&g.header, 1 << 20);
	run(r->in, &g);
	out = buf_str(&g.out);
	/* Past the greeting and the EHLO reply (the last line "250 "). */
	skip = strstr(out, "\r\n250 ") != NULL ?
	    (size_t)(strstr(strstr(out, "\r\n250 ") + 2, "\r\n") + 2 - out) :
	    0;
	if (strncmp(out + skip, r->want_out, strlen(r->want_out)) != 0) {
		print_error("%s: replies\ngot  %s\nwant %s\n", r->name,
		    out + skip, r->want_out);
		bad = 1;
	}
	if (strcmp(g.trigger, r->trigger ? r->trigger : "") != 0) {
		print_error("%s: queued got '%s' want '%s'\n", r->name,
		    g.trigger, r->trigger ? r->trigger : "");
		bad = 1;
	}
	if (strcmp(buf_str(&g.header), r->header) != 0) {
		print_error("%s: header got '%s' want '%s'\n", r->name,
		    buf_str(&g.header), r->header);
		bad = 1;
	}
	if (r->data != NULL &&
	    (g.data == NULL || g.len != strlen(r->data) ||
		memcmp(g.data, r->data, g.len) != 0)) {
		print_error("%s: data got '%.*s' want '%s'\n", r->name,
		    (int)g.len, g.data ? g.data : "", r->data);
		bad = 1;
	}
	buf_free(&g.out);
	buf_free(&g.header);
	free(g.data);
	return bad;
}

static void
test_rows(void **state)
{
	size_t i;
	int failed = 0;

	(void)state;
	for (i = 0; i < N(rows); i++)
		failed += check(&rows[i]);
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
