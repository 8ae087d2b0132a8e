/*
 * event - the event JSON a flow receives, built from a claimed event and
 * its parsed message (ARCHITECTURE.md "The event"; docs/flows.md).
 *
 * Pure: no I/O, no clock. The stored recipients and rcpt_to are JSON
 * arrays already (queue/sqlite.c); the message object comes from
 * mail/message.h. Every string in the result is UTF-8 because its parts
 * are: the queue refuses a recipient that is not, and the parser replaces
 * bad bytes. The fields the trigger's rules fill later (flow/prepare.c:
 * auto_reply, properties, dedup_key) are present with empty values so
 * receivers can rely on the shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow/flow_int.h"
#include "util/jsonw.h"

/* 2026-11-28T12:00:00.123Z (RFC 3339 section 5.6, UTC). */
static json_t *
iso_time(int64_t ms)
{
	char out[96]; /* room for any int fields: -Wformat-truncation */
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&s, &tm) == NULL)
		return json_null();
	snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(ms % 1000));
	return json_string(out);
}

/* A stored JSON array, or [] if it does not parse (it always should). */
static json_t *
stored_list(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	if (v == NULL || !json_is_array(v)) {
		json_decref(v);
		return json_array();
	}
	return v;
}

/* A string that may not be UTF-8 (a HELO name): null then. */
static json_t *
str_or_null(const char *s)
{
	json_t *v = json_string(s);

	return v != NULL ? v : json_null();
}

static json_t *
envelope(const struct queue_claim *c)
{
	json_t *e = json_object();

	json_object_set_new(e, "mail_from", str_or_null(c->mail_from));
	json_object_set_new(e, "rcpt_to", stored_list(c->rcpt_to));
	json_object_set_new(e, "client_ip", str_or_null(c->client_ip));
	json_object_set_new(e, "helo", str_or_null(c->helo));
	json_object_set_new(e, "tls", json_boolean(c->tls));
	json_object_set_new(e, "smtputf8", json_boolean(c->smtputf8));
	json_object_set_new(e, "size", json_integer((json_int_t)c->len));
	return e;
}

/*
 * recipient_rewritten and rewrite {received, recovered, evidence} when a
 * recipient was recovered from CNAME expansion (docs/event.md).
 */
static void
set_rewrite(json_t *ev, const struct queue_claim *c)
{
	json_t *rw = c->rewrite != NULL ? json_loads(c->rewrite, 0, NULL) :
					  NULL;

	if (rw != NULL && !json_is_object(rw)) {
		json_decref(rw);
		rw = NULL;
	}
	json_object_set_new(ev, "recipient_rewritten",
	    json_boolean(rw != NULL));
	json_object_set_new(ev, "rewrite", rw != NULL ? rw : json_null());
}

json_t *
flow_event_object(const struct queue_claim *c, json_t *message)
{
	json_t *ev = json_object();

	json_object_set_new(ev, "id", json_string(c->id));
	json_object_set_new(ev, "received_at", iso_time(c->received_at_ms));
	json_object_set_new(ev, "instance", str_or_null(c->instance));
	json_object_set_new(ev, "trigger", str_or_null(c->trigger));
	json_object_set_new(ev, "recipients", stored_list(c->recipients));
	json_object_set_new(ev, "addressed_to", stored_list(c->rcpt_to));
	json_object_set_new(ev, "tag",
	    c->tag[0] != '\0' ? str_or_null(c->tag) : json_null());
	json_object_set_new(ev, "envelope", envelope(c));
	set_rewrite(ev, c);
	json_object_set_new(ev, "message",
	    message != NULL ? json_incref(message) : json_object());
	json_object_set_new(ev, "auto_reply", json_false());
	json_object_set_new(ev, "properties", json_object());
	json_object_set_new(ev, "dedup_key", json_null());
	return ev;
}

char *
flow_event_dump(const json_t *ev, size_t *len)
{
	/* jsonw: the same bytes as json_dumps(), several times faster. */
	return jsonw_dump(ev, len);
}

char *
flow_event_json(const struct queue_claim *c, json_t *message, size_t *len)
{
	json_t *ev = flow_event_object(c, message);
	char *text = flow_event_dump(ev, len);

	json_decref(ev);
	return text;
}
