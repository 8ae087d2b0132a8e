/*
 * test_trace - the pure parts of `mailtrigger trace` (src/flow/trace.h):
 * id parsing, time format, and the text rendering of documents as
 * cmd_trace() builds them (time order, verdict lines, refusal groups).
 * Table-driven; each row prints got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow/trace.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_parse_id(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		const char *msgid, *evt;
	} rows[] = {
		{ "evt_01KB55B7KW000001", true, "01KB55B7KW000001",
		    "evt_01KB55B7KW000001" },
		{ "evt_01KB55B7KW000001.2", true, "01KB55B7KW000001",
		    "evt_01KB55B7KW000001.2" },
		{ "evt_01kb55b7kw000001.17", true, "01KB55B7KW000001",
		    "evt_01KB55B7KW000001.17" },
		{ "01KB55B7KW000001", true, "01KB55B7KW000001", "" },
		{ "01kb55b7kw000001", true, "01KB55B7KW000001", "" },
		{ "evt_01KB55B7KW000001.1", false, NULL, NULL },
		{ "evt_01KB55B7KW000001.02", false, NULL, NULL },
		{ "evt_01KB55B7KW000001.", false, NULL, NULL },
		{ "evt_01KB55B7KW000001.12345", false, NULL, NULL },
		{ "evt_01KB55B7KW000001x", false, NULL, NULL },
		{ "01KB55B7KW000001.2", false, NULL, NULL },
		{ "01KB55B7KW00000", false, NULL, NULL },
		{ "01KB55B7KW0000011", false, NULL, NULL },
		{ "01KB55B7KU000001", false, NULL, NULL }, /* no U */
		{ "evt_", false, NULL, NULL },
		{ "", false, NULL, NULL },
	};
	char msgid[ID_LEN + 1], evt[ID_LEN + 16];
	bool ok;
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		ok = trace_parse_id(rows[i].in, msgid, evt);
		if (ok != rows[i].ok)
			fail_msg("%s: got %d want %d", rows[i].in, ok,
			    rows[i].ok);
		if (ok &&
		    (strcmp(msgid, rows[i].msgid) != 0 ||
			strcmp(evt, rows[i].evt) != 0))
			fail_msg("%s: got %s %s want %s %s", rows[i].in, msgid,
			    evt, rows[i].msgid, rows[i].evt);
	}
}

static void
test_format_time(void **state)
{
	static const struct {
		int64_t ms;
		const char *want;
	} rows[] = {
		{ 0, "1970-01-01 00:00:00.000Z" },
		{ 1764331200123, "2025-11-28 12:00:00.123Z" },
		{ 1764331200999, "2025-11-28 12:00:00.999Z" },
		{ -1, "-" },
	};
	char got[32];
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		trace_format_time(rows[i].ms, got);
		if (strcmp(got, rows[i].want) != 0)
			fail_msg("%lld: got %s want %s", (long long)rows[i].ms,
			    got, rows[i].want);
	}
}

/* T0 = 2025-11-28 12:00:00.000Z */
#define T0 "1764331200000"

/* A duplicate and an ignored auto-reply, with a refusal on each side. */
static const char doc_message[] =
    "{\"kind\":\"message\",\"asked\":\"evt_01KB55B7KW000001.2\","
    "\"message\":{\"id\":\"01KB55B7KW000001\",\"received_at\":" T0 ","
    "\"mail_from\":\"nagios@acme.com\",\"client_ip\":\"192.0.2.7\","
    "\"helo\":\"mon.acme.com\",\"tls\":true,\"smtputf8\":false,"
    "\"size\":321,\"message_id\":\"m1@acme.com\",\"subject\":\"Disk\\nfull\","
    "\"parse_warnings\":[\"missing_mime_version\"]},"
    "\"refusals_window_ms\":600000,\"refusals\":["
    "{\"at\":1764331199000,\"rcpt\":\"a@lb.example.net\",\"code\":550,"
    "\"reply\":\"550 5.1.2 <a@lb.example.net>: own name\"},"
    "{\"at\":1764331201000,\"rcpt\":\"x@else.test\",\"code\":554,"
    "\"reply\":\"554 5.7.1 <x@else.test>: Relay access denied\"}],"
    "\"events\":["
    "{\"id\":\"evt_01KB55B7KW000001\",\"instance\":\"acme.test\","
    "\"trigger\":\"alert\",\"tag\":\"\",\"recipients\":[],"
    "\"rcpt_to\":[\"alert@acme.test\"],\"state\":\"duplicate\","
    "\"attempts\":0,\"dedup_key\":\"k1\","
    "\"note\":\"duplicate of evt_01KB55B7KW000000\",\"rewrite\":null,"
    "\"sender_policy\":{\"verdict\":\"allowed\",\"matched\":\"*@acme.com\"},"
    "\"auto_reply\":{\"automatic\":false,\"reason\":null,"
    "\"setting\":\"ignore\"},\"verdict\":\"run\",\"reason\":null,"
    "\"properties\":{\"host\":\"db1\"},\"dedup_key_computed\":\"k1\","
    "\"dedup_fallback\":false,\"attempt_list\":[]},"
    "{\"id\":\"evt_01KB55B7KW000001.2\",\"instance\":\"acme.test\","
    "\"trigger\":\"deploy\",\"tag\":\"prod\",\"recipients\":[\"ops\"],"
    "\"rcpt_to\":[\"ops+prod@deploy.acme.test\"],\"state\":\"ignored\","
    "\"attempts\":0,\"dedup_key\":null,"
    "\"note\":\"automatic mail: Auto-Submitted: auto-replied\","
    "\"rewrite\":null,"
    "\"sender_policy\":{\"verdict\":\"any\",\"matched\":null},"
    "\"auto_reply\":{\"automatic\":true,\"reason\":\"Auto-Submitted: "
    "auto-replied\",\"setting\":\"ignore\"},\"verdict\":\"ignored\","
    "\"reason\":\"automatic mail: Auto-Submitted: auto-replied\","
    "\"properties\":{},\"dedup_key_computed\":null,"
    "\"dedup_fallback\":false,\"attempt_list\":[]}]}";

static const char want_message[] =
    "message 01KB55B7KW000001 (asked for evt_01KB55B7KW000001.2)\n"
    "  envelope: from <nagios@acme.com>, client 192.0.2.7, HELO "
    "mon.acme.com, TLS yes, SMTPUTF8 no, 321 bytes\n"
    "  Message-ID: <m1@acme.com>\n"
    "  Subject: Disk\\nfull\n"
    "  parse warnings: [\"missing_mime_version\"]\n"
    "RCPT refusals for this sender and client within 10 minutes: 2\n"
    "2025-11-28 11:59:59.000Z  RCPT TO:<a@lb.example.net> refused: 550 "
    "5.1.2 <a@lb.example.net>: own name\n"
    "2025-11-28 12:00:00.000Z  DATA accepted: 250 queued as "
    "evt_01KB55B7KW000001\n"
    "                          RCPT TO:<alert@acme.test> -> "
    "evt_01KB55B7KW000001 (trigger alert@acme.test)\n"
    "                          RCPT TO:<ops+prod@deploy.acme.test> -> "
    "evt_01KB55B7KW000001.2 (trigger deploy@acme.test)\n"
    "2025-11-28 12:00:01.000Z  RCPT TO:<x@else.test> refused: 554 5.7.1 "
    "<x@else.test>: Relay access denied\n"
    "\n"
    "event evt_01KB55B7KW000001: trigger alert at acme.test\n"
    "  rcpt to: [\"alert@acme.test\"], recipients: none\n"
    "  sender policy: allowed (*@acme.com)\n"
    "  auto-reply: not automatic mail, auto_replies: ignore\n"
    "  properties: {\"host\":\"db1\"}\n"
    "  dedup key: k1; recorded: the same\n"
    "  verdict (rules now): run\n"
    "  note: duplicate of evt_01KB55B7KW000000\n"
    "  state: duplicate: duplicate of evt_01KB55B7KW000000 (0 attempts)\n"
    "\n"
    "event evt_01KB55B7KW000001.2: trigger deploy at acme.test\n"
    "  rcpt to: [\"ops+prod@deploy.acme.test\"], recipients: [\"ops\"], "
    "tag: prod\n"
    "  sender policy: no sender policy\n"
    "  auto-reply: automatic mail (Auto-Submitted: auto-replied), "
    "auto_replies: ignore\n"
    "  properties: none\n"
    "  dedup key: none (the flow would not run); not recorded by "
    "delivery\n"
    "  verdict (rules now): ignored: automatic mail: Auto-Submitted: "
    "auto-replied\n"
    "  note: automatic mail: Auto-Submitted: auto-replied\n"
    "  state: ignored: automatic mail: Auto-Submitted: auto-replied (0 "
    "attempts)\n";

/* Attempts in order, a retry then a dead letter; a trigger gone. */
static const char doc_attempts[] =
    "{\"kind\":\"message\",\"message\":{\"id\":\"01KB55B7KW000002\","
    "\"received_at\":" T0 ",\"mail_from\":\"\",\"client_ip\":\"::1\","
    "\"helo\":\"h\",\"size\":1,\"parse_warnings\":[]},"
    "\"refusals_window_ms\":600000,\"refusals\":[],\"events\":["
    "{\"id\":\"evt_01KB55B7KW000002\",\"instance\":\"acme.test\","
    "\"trigger\":\"alert\",\"tag\":\"\",\"recipients\":[],"
    "\"rcpt_to\":[\"alert@acme.test\"],\"state\":\"dead\",\"attempts\":2,"
    "\"dead_reason\":\"step 1: HTTP 404\",\"dedup_key\":\"k\","
    "\"rewrite\":{\"received\":\"alert@lb.example.net\"},"
    "\"rules\":\"the trigger is gone\",\"attempt_list\":["
    "{\"n\":1,\"at\":1764331200100,\"step\":0,\"status\":\"ok\","
    "\"code\":0,\"latency_ms\":5,\"response\":\"done\\r\\nbye\","
    "\"step_kind\":\"exec\"},"
    "{\"n\":2,\"at\":1764331200200,\"step\":1,\"status\":\"fail\","
    "\"code\":404,\"latency_ms\":12,\"response\":\"\"}]},"
    "{\"id\":\"evt_01KB55B7KW000002.2\",\"instance\":\"acme.test\","
    "\"trigger\":\"t2\",\"tag\":\"\",\"recipients\":[],\"rcpt_to\":[],"
    "\"state\":\"retry\",\"attempts\":1,\"next_attempt_at\":1764331260000,"
    "\"next_step\":0,\"rules\":\"gone\",\"attempt_list\":["
    "{\"n\":1,\"at\":1764331200300,\"step\":0,\"status\":\"retry\","
    "\"code\":null,\"latency_ms\":30000,\"response\":\"timeout\"}]}]}";

static const char want_attempts[] =
    "message 01KB55B7KW000002\n"
    "  envelope: from <>, client ::1, HELO h, TLS no, SMTPUTF8 no, 1 "
    "bytes\n"
    "  Message-ID: <>\n"
    "  Subject: \n"
    "  parse warnings: none\n"
    "RCPT refusals for this sender and client within 10 minutes: 0\n"
    "2025-11-28 12:00:00.000Z  DATA accepted: 250 queued as "
    "evt_01KB55B7KW000002\n"
    "                          RCPT TO:<alert@acme.test> -> "
    "evt_01KB55B7KW000002 (trigger alert@acme.test)\n"
    "\n"
    "event evt_01KB55B7KW000002: trigger alert at acme.test\n"
    "  rcpt to: [\"alert@acme.test\"], recipients: none\n"
    "  recipient rewritten: {\"received\":\"alert@lb.example.net\"}\n"
    "  rules: the trigger is gone\n"
    "  2025-11-28 12:00:00.100Z  attempt 1: step 0 (exec) ok, code 0, 5 "
    "ms: done\\r\\nbye\n"
    "  2025-11-28 12:00:00.200Z  attempt 2: step 1 fail, code 404, 12 ms\n"
    "  state: dead: step 1: HTTP 404 (2 attempts)\n"
    "\n"
    "event evt_01KB55B7KW000002.2: trigger t2 at acme.test\n"
    "  rcpt to: none, recipients: none\n"
    "  rules: gone\n"
    "  2025-11-28 12:00:00.300Z  attempt 1: step 0 retry, 30000 ms: "
    "timeout\n"
    "  state: retry, next attempt at 2025-11-28 12:01:00.000Z (step 0) (1 "
    "attempt)\n";

/* Messages and refusals of a sender, merged by time. */
static const char doc_sender[] =
    "{\"kind\":\"sender\",\"from\":\"nagios@acme.com\",\"since\":" T0 ","
    "\"messages\":[{\"id\":\"01KB55B7KW000003\",\"received_at\":"
    "1764331202000,\"client_ip\":\"192.0.2.7\",\"helo\":\"mon\","
    "\"size\":9,\"events\":[{\"id\":\"evt_01KB55B7KW000003\","
    "\"trigger\":\"alert\",\"instance\":\"acme.test\",\"state\":\"dead\","
    "\"dead_reason\":\"property host missing\",\"note\":null}]}],"
    "\"refusals\":[{\"at\":1764331201000,\"client_ip\":\"192.0.2.7\","
    "\"helo\":\"mon\",\"rcpt\":\"a@lb.example.net\",\"reply\":\"550 "
    "5.1.2 x\"},{\"at\":1764331203000,\"client_ip\":\"192.0.2.8\","
    "\"helo\":\"mon2\",\"rcpt\":\"b@else\",\"reply\":\"554 5.7.1 y\"}]}";

static const char want_sender[] =
    "sender <nagios@acme.com> since 2025-11-28 12:00:00.000Z: 1 messages, "
    "2 refusals\n"
    "2025-11-28 12:00:01.000Z  RCPT TO:<a@lb.example.net> refused (client "
    "192.0.2.7, HELO mon): 550 5.1.2 x\n"
    "2025-11-28 12:00:02.000Z  message 01KB55B7KW000003 from client "
    "192.0.2.7 (HELO mon), 9 bytes\n"
    "                          evt_01KB55B7KW000003 trigger "
    "alert@acme.test: dead: property host missing\n"
    "2025-11-28 12:00:03.000Z  RCPT TO:<b@else> refused (client "
    "192.0.2.8, HELO mon2): 554 5.7.1 y\n"
    "details of a message: mailtrigger trace ID\n";

/* Groups come ordered by client total; a header per client. */
static const char doc_refusals[] =
    "{\"kind\":\"refusals\",\"since\":" T0 ",\"groups\":["
    "{\"client_ip\":\"192.0.2.7\",\"helo\":\"mx.cust\",\"mail_from\":"
    "\"n@cust\",\"code\":550,\"enhanced\":\"5.1.2\",\"n\":3,\"rcpts\":2,"
    "\"example\":\"a@lb\",\"first\":" T0 ",\"last\":1764331260000,"
    "\"client_total\":4},"
    "{\"client_ip\":\"192.0.2.7\",\"helo\":\"mx.cust\",\"mail_from\":\"\","
    "\"code\":554,\"enhanced\":\"5.7.1\",\"n\":1,\"rcpts\":1,"
    "\"example\":\"x@y\",\"first\":" T0 ",\"last\":" T0 ","
    "\"client_total\":4},"
    "{\"client_ip\":\"2001:db8::1\",\"helo\":\"h\",\"mail_from\":\"m@x\","
    "\"code\":452,\"enhanced\":\"4.5.3\",\"n\":1,\"rcpts\":1,"
    "\"example\":\"z@acme\",\"first\":" T0 ",\"last\":" T0 ","
    "\"client_total\":1}]}";

static const char want_refusals[] =
    "refused RCPTs since 2025-11-28 12:00:00.000Z, by client (most "
    "first)\n"
    "client 192.0.2.7: 4 refusals\n"
    "       3  550 5.1.2  HELO mx.cust  from <n@cust>  2 recipients, e.g. "
    "<a@lb>\n"
    "          first 2025-11-28 12:00:00.000Z, last 2025-11-28 "
    "12:01:00.000Z\n"
    "          CNAME expansion by this client's MTA: see "
    "docs/troubleshooting-relay-denied.md\n"
    "       1  554 5.7.1  HELO mx.cust  from <>  1 recipient, e.g. <x@y>\n"
    "          first 2025-11-28 12:00:00.000Z, last 2025-11-28 "
    "12:00:00.000Z\n"
    "client 2001:db8::1: 1 refusals\n"
    "       1  452 4.5.3  HELO h  from <m@x>  1 recipient, e.g. <z@acme>\n"
    "          first 2025-11-28 12:00:00.000Z, last 2025-11-28 "
    "12:00:00.000Z\n";

static void
test_render(void **state)
{
	static const struct {
		const char *name, *doc, *want;
	} rows[] = {
		{ "duplicate and ignored auto-reply", doc_message,
		    want_message },
		{ "attempts in order, dead and retry", doc_attempts,
		    want_attempts },
		{ "sender: messages and refusals by time", doc_sender,
		    want_sender },
		{ "refusals grouped by client", doc_refusals, want_refusals },
		{ "no refusals",
		    "{\"kind\":\"refusals\",\"since\":0,\"groups\":[]}",
		    "refused RCPTs since 1970-01-01 00:00:00.000Z, by client "
		    "(most first)\nnone\n" },
	};
	json_error_t jerr;
	struct buf out;
	json_t *doc;
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		doc = json_loads(rows[i].doc, 0, &jerr);
		if (doc == NULL)
			fail_msg("%s: bad test JSON: %s at %d", rows[i].name,
			    jerr.text, jerr.position);
		buf_init(&out, (size_t)-1);
		trace_render(doc, &out);
		if (strcmp(buf_str(&out), rows[i].want) != 0)
			fail_msg("%s:\ngot:\n%s\nwant:\n%s", rows[i].name,
			    buf_str(&out), rows[i].want);
		buf_free(&out);
		json_decref(doc);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
