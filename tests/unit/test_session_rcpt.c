/*
 * test_session_rcpt - the session's RCPT callback (session_set_rcpt_cb()):
 * one call per RCPT reply, with the address as given, the code, the
 * reason and exactly the reply line written, so the shell can record
 * refusals (docs/trace.md). Each row feeds a pipelined transcript, all at
 * once and byte by byte, and compares every call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_driver.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct trigger demo_triggers[] = {
	{ .name = "alert" },
};
static struct instance instances[] = {
	{ .host = "demo.test", .triggers = demo_triggers, .n_triggers = 1 },
};
static char *canonical[] = { "lb.mx.test" };
static struct config cfg = {
	.hostname = "mx.test",
	.instances = instances,
	.n_instances = 1,
	.canonical_names = canonical,
	.n_canonical_names = 1,
	.refcount = 1, /* never dropped to 0: the data is static */
};

/* What the callback saw, one line per call. */
static void
rcpt_cb(void *ctx, const struct session_info *info, const struct smtp_txn *txn,
    const struct session_rcpt_reply *r)
{
	struct buf *b = ctx;

	buf_printf(b, "%s|%s|<%s>|%d|%s|%s|%.*s\n", info->helo,
	    txn->from.is_null ? "<>" : txn->from.address, r->address, r->code,
	    r->enhanced, r->reason, (int)r->reply_len, r->reply);
}

#define CANON_TEXT                                                        \
	"this is the mail server's own name, not a trigger address; the " \
	"sending server rewrote the recipient through CNAME expansion - " \
	"send to trigger@your-instance-host and disable CNAME expansion " \
	"on the sending server (Sendmail: confDONT_EXPAND_CNAMES)"

static const struct row {
	const char *name;
	const char *in; /* after "EHLO c.test\r\n" */
	const char *want;
} rows[] = {
	{ "accepted", "MAIL FROM:<a@s.test>\r\nRCPT TO:<alert@demo.test>\r\n",
	    "c.test|a@s.test|<alert@demo.test>|250|2.1.5|ok|250 2.1.5 Ok\n" },
	{ "relay denied", "MAIL FROM:<a@s.test>\r\nRCPT TO:<x@else.test>\r\n",
	    "c.test|a@s.test|<x@else.test>|554|5.7.1|relay_denied|"
	    "554 5.7.1 <x@else.test>: Relay access denied\n" },
	{ "cname expanded", "MAIL FROM:<>\r\nRCPT TO:<alert@lb.mx.test>\r\n",
	    "c.test|<>|<alert@lb.mx.test>|550|5.1.2|canonical_name|"
	    "550 5.1.2 <alert@lb.mx.test>: " CANON_TEXT "\n" },
	{ "syntax", "MAIL FROM:<a@s.test>\r\nRCPT TO:bad\r\n",
	    "c.test|a@s.test|<bad>|501|5.1.3|syntax|"
	    "501 5.1.3 Bad recipient address syntax\n" },
	{ "pipelined: each reply alone",
	    "MAIL FROM:<a@s.test>\r\nRCPT TO:<x@else.test>\r\n"
	    "RCPT TO:<alert@lb.mx.test>\r\nRCPT TO:<alert@demo.test>\r\n",
	    "c.test|a@s.test|<x@else.test>|554|5.7.1|relay_denied|"
	    "554 5.7.1 <x@else.test>: Relay access denied\n"
	    "c.test|a@s.test|<alert@lb.mx.test>|550|5.1.2|canonical_name|"
	    "550 5.1.2 <alert@lb.mx.test>: " CANON_TEXT "\n"
	    "c.test|a@s.test|<alert@demo.test>|250|2.1.5|ok|250 2.1.5 Ok\n" },
	{ "too many recipients",
	    "MAIL FROM:<a@s.test>\r\nRCPT TO:<alert@demo.test>\r\n"
	    "RCPT TO:<alert+b@demo.test>\r\n",
	    "c.test|a@s.test|<alert@demo.test>|250|2.1.5|ok|250 2.1.5 Ok\n"
	    "c.test|a@s.test|<alert+b@demo.test>|452|4.5.3|too_many|"
	    "452 4.5.3 Error: too many recipients\n" },
	{ "RCPT before MAIL: no transaction, no call",
	    "RCPT TO:<alert@demo.test>\r\n", "" },
};

static void
run_row(const struct row *r, size_t step)
{
	struct session_params p = { 0 };
	struct buf got, in, tmp;
	struct driver d;

	p.cfg = &cfg;
	p.limits.message_size = 10000;
	p.limits.recipients = 1;
	p.limits.errors = 10;
	p.limits.command_line = 512;
	p.limits.text_line = 1000;
	p.hostname = "mx.test";
	p.client_ip = "192.0.2.7";
	buf_init(&got, DRIVER_BUF_MAX);
	buf_init(&in, DRIVER_BUF_MAX);
	buf_printf(&in, "EHLO c.test\r\n%s", r->in);
	driver_init(&d, &p);
	session_set_rcpt_cb(d.s, rcpt_cb, &got);
	session_greet(d.s);
	driver_feed(&d, in.data, in.len, step);
	buf_init(&tmp, DRIVER_BUF_MAX);
	if (strcmp(buf_str(&got), r->want) != 0)
		fail_msg("%s (step %zu):\ngot:\n%swant:\n%s\nreplies: %s",
		    r->name, step, buf_str(&got), r->want,
		    driver_escape(d.out.data, d.out.len, &tmp));
	buf_free(&tmp);
	driver_free(&d);
	buf_free(&got);
	buf_free(&in);
}

static void
test_rcpt_callback(void **state)
{
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		run_row(&rows[i], 0);
		run_row(&rows[i], 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rcpt_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
