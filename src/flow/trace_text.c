/*
 * trace_text - the text form of a `mailtrigger trace` document
 * (src/flow/trace.h, docs/trace.md): one line per thing that happened,
 * with its time, in time order, then one block per event.
 *
 * Pure: JSON in, text appended to a buf. The JSON (--json) holds every
 * field whole; the text shortens step responses to RESPONSE_SHOWN bytes
 * on one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow/trace.h"

#define RESPONSE_SHOWN 160
#define INDENT "                          " /* under the time column */

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static long long
num(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

void
trace_format_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char day[24];

	if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(out, 32, "-");
		return;
	}
	strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", day, (int)(ms % 1000));
}

/* Starts a timeline line: "TIME  ". */
static void
at(struct buf *out, const json_t *o, const char *key)
{
	char t[32];

	trace_format_time((int64_t)num(o, key), t);
	buf_printf(out, "%-24s  ", t);
}

/* s on one line, at most max bytes, control characters escaped. */
static void
one_line(struct buf *out, const char *s, size_t max)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n && i < max; i++) {
		if (s[i] == '\n')
			buf_printf(out, "\\n");
		else if (s[i] == '\r')
			buf_printf(out, "\\r");
		else if ((unsigned char)s[i] < 0x20)
			buf_printf(out, " ");
		else
			buf_append(out, &s[i], 1);
	}
	if (n > max)
		buf_printf(out, "...");
}

/* A JSON value compactly ("none" for an empty object or array). */
static void
compact(struct buf *out, const json_t *v)
{
	char *s;

	if (v == NULL || json_is_null(v) ||
	    (json_is_object(v) && json_object_size(v) == 0) ||
	    (json_is_array(v) && json_array_size(v) == 0)) {
		buf_printf(out, "none");
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	buf_printf(out, "%s", s != NULL ? s : "?");
	free(s);
}

static void
refusal_line(struct buf *out, const json_t *r, bool with_client)
{
	at(out, r, "at");
	buf_printf(out, "RCPT TO:<%s> refused", str(r, "rcpt"));
	if (with_client)
		buf_printf(out, " (client %s, HELO %s)", str(r, "client_ip"),
		    str(r, "helo"));
	buf_printf(out, ": ");
	one_line(out, str(r, "reply"), 512);
	buf_printf(out, "\n");
}

/* ---- kind "message" ---- */

static void
message_head(struct buf *out, const json_t *doc, const json_t *m)
{
	const json_t *asked = json_object_get(doc, "asked");

	buf_printf(out, "message %s", str(m, "id"));
	if (json_is_string(asked))
		buf_printf(out, " (asked for %s)", json_string_value(asked));
	buf_printf(out,
	    "\n  envelope: from <%s>, client %s, HELO %s, TLS %s, "
	    "SMTPUTF8 %s, %lld bytes\n",
	    str(m, "mail_from"), str(m, "client_ip"), str(m, "helo"),
	    json_is_true(json_object_get(m, "tls")) ? "yes" : "no",
	    json_is_true(json_object_get(m, "smtputf8")) ? "yes" : "no",
	    num(m, "size"));
	buf_printf(out,
	    "  Message-ID: <%s>\n  Subject: ", str(m, "message_id"));
	one_line(out, str(m, "subject"), 200);
	buf_printf(out, "\n  parse warnings: ");
	compact(out, json_object_get(m, "parse_warnings"));
	buf_printf(out, "\n");
}

/* The receipt: which RCPT went to which event. */
static void
received_line(struct buf *out, const json_t *m, const json_t *events)
{
	const json_t *e, *rcpt;
	size_t i, k;

	at(out, m, "received_at");
	buf_printf(out, "DATA accepted: 250 queued as evt_%s\n", str(m, "id"));
	json_array_foreach(events, i, e)
	{
		json_array_foreach(json_object_get(e, "rcpt_to"), k, rcpt)
		    buf_printf(out,
			INDENT "RCPT TO:<%s> -> %s (trigger %s@%s)\n",
			json_string_value(rcpt), str(e, "id"),
			str(e, "trigger"), str(e, "instance"));
	}
}

/* Refusals before the message, the message, refusals after it. */
static void
message_timeline(struct buf *out, const json_t *doc, const json_t *m)
{
	const json_t *refusals = json_object_get(doc, "refusals"), *r;
	long long recv = num(m, "received_at");
	bool shown = false;
	size_t i;

	buf_printf(out,
	    "RCPT refusals for this sender and client within %lld minutes:"
	    " %zu\n",
	    num(doc, "refusals_window_ms") / 60000, json_array_size(refusals));
	json_array_foreach(refusals, i, r)
	{
		if (!shown && num(r, "at") > recv) {
			received_line(out, m, json_object_get(doc, "events"));
			shown = true;
		}
		refusal_line(out, r, false);
	}
	if (!shown)
		received_line(out, m, json_object_get(doc, "events"));
}

static void
policy_line(struct buf *out, const json_t *e)
{
	const json_t *p = json_object_get(e, "sender_policy");
	const char *v = str(p, "verdict");

	if (strcmp(v, "any") == 0)
		buf_printf(out, "  sender policy: no sender policy\n");
	else if (strcmp(v, "allowed") == 0)
		buf_printf(out, "  sender policy: allowed (%s)\n",
		    str(p, "matched"));
	else
		buf_printf(out, "  sender policy: %s\n", v);
}

static void
autoreply_line(struct buf *out, const json_t *e)
{
	const json_t *ar = json_object_get(e, "auto_reply");

	if (json_is_true(json_object_get(ar, "automatic")))
		buf_printf(out,
		    "  auto-reply: automatic mail (%s), "
		    "auto_replies: %s\n",
		    str(ar, "reason"), str(ar, "setting"));
	else
		buf_printf(out,
		    "  auto-reply: not automatic mail, auto_replies: %s\n",
		    str(ar, "setting"));
}

static void
dedup_line(struct buf *out, const json_t *e)
{
	const json_t *now = json_object_get(e, "dedup_key_computed");
	const char *stored = str(e, "dedup_key");

	buf_printf(out, "  dedup key: ");
	if (json_is_string(now))
		buf_printf(out, "%s%s", json_string_value(now),
		    json_is_true(json_object_get(e, "dedup_fallback")) ?
			" (template empty: default key)" :
			"");
	else
		buf_printf(out, "none (the flow would not run)");
	if (*stored == '\0')
		buf_printf(out, "; not recorded by delivery\n");
	else if (json_is_string(now) &&
	    strcmp(stored, json_string_value(now)) == 0)
		buf_printf(out, "; recorded: the same\n");
	else
		buf_printf(out, "; recorded: %s (config changed since?)\n",
		    stored);
}

/* What the rules make of the message, computed again now. */
static void
rules_block(struct buf *out, const json_t *e)
{
	if (json_is_string(json_object_get(e, "rules"))) {
		buf_printf(out, "  rules: %s\n", str(e, "rules"));
		return;
	}
	policy_line(out, e);
	autoreply_line(out, e);
	buf_printf(out, "  properties: ");
	compact(out, json_object_get(e, "properties"));
	buf_printf(out, "\n");
	dedup_line(out, e);
	buf_printf(out, "  verdict (rules now): %s", str(e, "verdict"));
	if (json_is_string(json_object_get(e, "reason")))
		buf_printf(out, ": %s", str(e, "reason"));
	buf_printf(out, "\n");
}

static void
attempt_line(struct buf *out, const json_t *a)
{
	const json_t *kind = json_object_get(a, "step_kind");
	const json_t *code = json_object_get(a, "code");

	buf_printf(out, "  ");
	at(out, a, "at");
	buf_printf(out, "attempt %lld: step %lld", num(a, "n"), num(a, "step"));
	if (json_is_string(kind))
		buf_printf(out, " (%s)", json_string_value(kind));
	buf_printf(out, " %s", str(a, "status"));
	if (json_is_integer(code))
		buf_printf(out, ", code %lld",
		    (long long)json_integer_value(code));
	buf_printf(out, ", %lld ms", num(a, "latency_ms"));
	if (*str(a, "response") != '\0') {
		buf_printf(out, ": ");
		one_line(out, str(a, "response"), RESPONSE_SHOWN);
	}
	buf_printf(out, "\n");
}

static void
state_line(struct buf *out, const json_t *e)
{
	const char *state = str(e, "state");
	char t[32];

	buf_printf(out, "  state: %s", state);
	if (strcmp(state, "dead") == 0)
		buf_printf(out, ": %s", str(e, "dead_reason"));
	else if (strcmp(state, "ignored") == 0 ||
	    strcmp(state, "duplicate") == 0)
		buf_printf(out, ": %s", str(e, "note"));
	else if (strcmp(state, "retry") == 0 || strcmp(state, "queued") == 0) {
		trace_format_time((int64_t)num(e, "next_attempt_at"), t);
		buf_printf(out, ", next attempt at %s (step %lld)", t,
		    num(e, "next_step"));
	}
	buf_printf(out, " (%lld attempt%s)\n", num(e, "attempts"),
	    num(e, "attempts") == 1 ? "" : "s");
}

static void
event_block(struct buf *out, const json_t *e)
{
	const json_t *a;
	size_t i;

	buf_printf(out,
	    "\nevent %s: trigger %s at %s\n  rcpt to: ", str(e, "id"),
	    str(e, "trigger"), str(e, "instance"));
	compact(out, json_object_get(e, "rcpt_to"));
	buf_printf(out, ", recipients: ");
	compact(out, json_object_get(e, "recipients"));
	if (*str(e, "tag") != '\0')
		buf_printf(out, ", tag: %s", str(e, "tag"));
	buf_printf(out, "\n");
	if (json_is_object(json_object_get(e, "rewrite"))) {
		buf_printf(out, "  recipient rewritten: ");
		compact(out, json_object_get(e, "rewrite"));
		buf_printf(out, "\n");
	}
	rules_block(out, e);
	if (*str(e, "note") != '\0')
		buf_printf(out, "  note: %s\n", str(e, "note"));
	json_array_foreach(json_object_get(e, "attempt_list"), i, a)
	    attempt_line(out, a);
	state_line(out, e);
}

static void
render_message(const json_t *doc, struct buf *out)
{
	const json_t *m = json_object_get(doc, "message"), *e;
	size_t i;

	message_head(out, doc, m);
	message_timeline(out, doc, m);
	json_array_foreach(json_object_get(doc, "events"), i, e)
	    event_block(out, e);
}

/* ---- kind "sender" ---- */

static void
message_summary(struct buf *out, const json_t *m)
{
	const json_t *e;
	size_t i;

	at(out, m, "received_at");
	buf_printf(out, "message %s from client %s (HELO %s), %lld bytes\n",
	    str(m, "id"), str(m, "client_ip"), str(m, "helo"), num(m, "size"));
	json_array_foreach(json_object_get(m, "events"), i, e)
	{
		buf_printf(out, INDENT "%s trigger %s@%s: %s", str(e, "id"),
		    str(e, "trigger"), str(e, "instance"), str(e, "state"));
		if (*str(e, "dead_reason") != '\0')
			buf_printf(out, ": %s", str(e, "dead_reason"));
		else if (*str(e, "note") != '\0')
			buf_printf(out, ": %s", str(e, "note"));
		buf_printf(out, "\n");
	}
}

/* Messages and refusals merged in time order. */
static void
render_sender(const json_t *doc, struct buf *out)
{
	const json_t *msgs = json_object_get(doc, "messages");
	const json_t *refs = json_object_get(doc, "refusals");
	size_t i = 0, k = 0;
	char t[32];

	trace_format_time((int64_t)num(doc, "since"), t);
	buf_printf(out, "sender <%s> since %s: %zu messages, %zu refusals\n",
	    str(doc, "from"), t, json_array_size(msgs), json_array_size(refs));
	while (i < json_array_size(msgs) || k < json_array_size(refs)) {
		if (k == json_array_size(refs) ||
		    (i < json_array_size(msgs) &&
			num(json_array_get(msgs, i), "received_at") <=
			    num(json_array_get(refs, k), "at")))
			message_summary(out, json_array_get(msgs, i++));
		else
			refusal_line(out, json_array_get(refs, k++), true);
	}
	if (json_is_true(json_object_get(doc, "messages_truncated")) ||
	    json_is_true(json_object_get(doc, "refusals_truncated")))
		buf_printf(out,
		    "(only the first 1000 of each are shown: "
		    "narrow --since)\n");
	buf_printf(out, "details of a message: mailtrigger trace ID\n");
}

/* ---- kind "refusals" ---- */

static void
group_line(struct buf *out, const json_t *g)
{
	char first[32], last[32];

	trace_format_time((int64_t)num(g, "first"), first);
	trace_format_time((int64_t)num(g, "last"), last);
	buf_printf(out,
	    "  %6lld  %lld %s  HELO %s  from <%s>  %lld recipient%s, e.g. "
	    "<%s>\n          first %s, last %s\n",
	    num(g, "n"), num(g, "code"), str(g, "enhanced"), str(g, "helo"),
	    str(g, "mail_from"), num(g, "rcpts"),
	    num(g, "rcpts") == 1 ? "" : "s", str(g, "example"), first, last);
	if (strcmp(str(g, "enhanced"), "5.1.2") == 0)
		buf_printf(out,
		    "          CNAME expansion by this client's "
		    "MTA: see docs/troubleshooting-relay-denied.md\n");
}

static void
render_refusals(const json_t *doc, struct buf *out)
{
	const json_t *groups = json_object_get(doc, "groups"), *g;
	const char *client = NULL;
	char t[32];
	size_t i;

	trace_format_time((int64_t)num(doc, "since"), t);
	buf_printf(out, "refused RCPTs since %s, by client (most first)\n", t);
	json_array_foreach(groups, i, g)
	{
		if (client == NULL ||
		    strcmp(client, str(g, "client_ip")) != 0) {
			client = str(g, "client_ip");
			buf_printf(out, "client %s: %lld refusals\n", client,
			    num(g, "client_total"));
		}
		group_line(out, g);
	}
	if (json_array_size(groups) == 0)
		buf_printf(out, "none\n");
}

void
trace_render(const json_t *doc, struct buf *out)
{
	const char *kind = str(doc, "kind");
	const json_t *one;
	size_t i;

	if (strcmp(kind, "message") == 0)
		render_message(doc, out);
	else if (strcmp(kind, "sender") == 0)
		render_sender(doc, out);
	else if (strcmp(kind, "refusals") == 0)
		render_refusals(doc, out);
	else if (strcmp(kind, "messages") == 0) {
		json_array_foreach(json_object_get(doc, "traces"), i, one)
		{
			if (i > 0)
				buf_printf(out, "\n");
			render_message(one, out);
		}
	}
}
