/*
 * test_flow_event - the event JSON a flow receives (src/flow/event.c):
 * every field from a claimed event, tag and message defaults, a HELO
 * that is not UTF-8 (null, never raw bytes in JSON), and the CNAME
 * recovery fields (recipient_rewritten, rewrite).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "flow/flow_int.h"
#include "util/xmalloc.h"

static struct queue_claim
claim(const char *tag, const char *helo)
{
	struct queue_claim c = { 0 };

	snprintf(c.id, sizeof(c.id), "evt_01M8HC33VABEN16W.2");
	snprintf(c.message_id, sizeof(c.message_id), "01M8HC33VABEN16W");
	c.instance = (char *)"demo.localhost";
	c.trigger = (char *)"deploy";
	c.tag = (char *)tag;
	c.recipients = (char *)"[\"ops\",\"dev\"]";
	c.rcpt_to = (char *)"[\"ops@deploy.demo.localhost\"]";
	c.received_at_ms = INT64_C(1764331200123);
	c.mail_from = (char *)"";
	c.client_ip = (char *)"192.0.2.1";
	c.helo = (char *)helo;
	c.tls = true;
	c.len = 410;
	return c;
}

static json_t *
build(const struct queue_claim *c, json_t *message)
{
	size_t len;
	char *text = flow_event_json(c, message, &len);
	json_t *v = json_loadb(text, len, 0, NULL);

	if (v == NULL)
		fail_msg("not JSON: %s", text);
	free(text);
	return v;
}

static void
test_fields(void **state)
{
	struct queue_claim c = claim("p1", "client.test");
	json_t *msg = json_pack("{s:s}", "subject", "disk full");
	json_t *ev = build(&c, msg);
	static const struct {
		const char *name;
		const char *want; /* compact JSON */
	} rows[] = {
		{ "id", "\"evt_01M8HC33VABEN16W.2\"" },
		{ "received_at", "\"2025-11-28T12:00:00.123Z\"" },
		{ "instance", "\"demo.localhost\"" },
		{ "trigger", "\"deploy\"" },
		{ "recipients", "[\"ops\",\"dev\"]" },
		{ "addressed_to", "[\"ops@deploy.demo.localhost\"]" },
		{ "tag", "\"p1\"" },
		{ "envelope",
		    "{\"mail_from\":\"\",\"rcpt_to\":[\"ops@deploy.demo."
		    "localhost\"],\"client_ip\":\"192.0.2.1\",\"helo\":"
		    "\"client.test\",\"tls\":true,\"smtputf8\":false,"
		    "\"size\":410}" },
		{ "message", "{\"subject\":\"disk full\"}" },
		{ "auto_reply", "false" },
		{ "properties", "{}" },
		{ "dedup_key", "null" },
		{ "recipient_rewritten", "false" },
		{ "rewrite", "null" },
	};
	size_t i;
	char *got;

	for (i = 0; i < NELEM(rows); i++) {
		got = json_dumps(json_object_get(ev, rows[i].name),
		    JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		if (got == NULL || strcmp(got, rows[i].want) != 0)
			fail_msg("%s: got %s want %s", rows[i].name,
			    got ? got : "(absent)", rows[i].want);
		free(got);
	}
	assert_int_equal(json_object_size(ev), NELEM(rows));
	json_decref(ev);
	json_decref(msg);
}

static void
test_defaults_and_bad_utf8(void **state)
{
	struct queue_claim c = claim("", "bad\xff");
	json_t *ev = build(&c, NULL);

	assert_true(json_is_null(json_object_get(ev, "tag")));
	assert_true(json_is_object(json_object_get(ev, "message")));
	assert_int_equal(json_object_size(json_object_get(ev, "message")), 0);
	assert_true(json_is_null(
	    json_object_get(json_object_get(ev, "envelope"), "helo")));
	json_decref(ev);
}

/* events.rewrite as stored (queue/sqlite.c): shown as is; junk: none. */
static void
test_rewrite(void **state)
{
	static const struct {
		const char *name, *stored, *flag, *rewrite;
	} rows[] = {
		{ "recovered",
		    "{\"received\":\"flow1@lb-7.mx.example.net\",\"recovered\":"
		    "\"flow1@acme.example\",\"evidence\":\"received_for\"}",
		    "true",
		    "{\"received\":\"flow1@lb-7.mx.example.net\",\"recovered\":"
		    "\"flow1@acme.example\",\"evidence\":\"received_for\"}" },
		{ "not JSON", "{", "false", "null" },
		{ "not an object", "[1]", "false", "null" },
	};
	struct queue_claim c = claim("", "h");
	size_t i;
	json_t *ev;
	char *flag, *rw;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		c.rewrite = (char *)rows[i].stored;
		ev = build(&c, NULL);
		flag = json_dumps(json_object_get(ev, "recipient_rewritten"),
		    JSON_ENCODE_ANY);
		rw = json_dumps(json_object_get(ev, "rewrite"),
		    JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		if (strcmp(flag, rows[i].flag) != 0 ||
		    strcmp(rw, rows[i].rewrite) != 0)
			fail_msg("%s: got %s %s want %s %s", rows[i].name, flag,
			    rw, rows[i].flag, rows[i].rewrite);
		free(flag);
		free(rw);
		json_decref(ev);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_defaults_and_bad_utf8),
		cmocka_unit_test(test_rewrite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
