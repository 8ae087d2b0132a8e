/*
 * trace - `mailtrigger trace` (src/flow/trace.h, docs/trace.md): the
 * queue's record of a message, a sender or the refused RCPTs, as one JSON
 * document.
 *
 * Not pure: reads the config and the queue (read-only, queue/trace_db.h).
 * What a delivery worker decided is not stored whole, so it is computed
 * again here the way the worker does it: flow_prepare() (flow/prepare.c)
 * over the stored message under the current config's trigger, and the
 * sender policy with policy_sender() as the router asks it at RCPT time.
 * The stored dedup key, note, attempts and state are shown beside it, so
 * a config changed since is visible as a difference.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "flow/flow_int.h"
#include "flow/trace.h"
#include "mail/address.h"
#include "mail/message.h"
#include "queue/trace_db.h"
#include "route/policy.h"
#include "util/units.h"
#include "util/xmalloc.h"

#define EXIT_USAGE 2
/* Refusals shown with a message: same sender and client, this close. */
#define TRACE_NEAR_MS (10 * 60 * 1000)
/* --since when not given (--from, --refusals); --message-id: all. */
#define TRACE_SINCE_DEFAULT "24h"

struct trace_opts {
	const char *config, *id, *message_id, *from, *since;
	bool refusals, json;
};

struct tctx {
	struct trace_db *db;
	const struct config *cfg;
	char err[512];
};

static const char usage_text[] =
    "usage: mailtrigger trace [--config FILE] [--json] ID\n"
    "       mailtrigger trace [--config FILE] [--json] --message-id MSGID "
    "[--since AGE]\n"
    "       mailtrigger trace [--config FILE] [--json] --from ADDR "
    "[--since AGE]\n"
    "       mailtrigger trace [--config FILE] [--json] --refusals "
    "[--since AGE]\n"
    "ID is an event id (evt_...) or a queue id; AGE is a duration "
    "(30m, 24h, 7d).\n";

static int
usage(void)
{
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* Crockford base32 as util/id.c writes it (no I, L, O, U). */
static bool
id_char(int c)
{
	return isdigit(c) ||
	    (isupper(c) && c != 'I' && c != 'L' && c != 'O' && c != 'U');
}

/* "" or ".N" with N from 2 to 9999, no leading zero. */
static bool
event_suffix_ok(const char *n)
{
	size_t d;

	if (*n == '\0')
		return true;
	d = strspn(n + 1, "0123456789");
	return n[0] == '.' && d >= 1 && d <= 4 && n[1 + d] == '\0' &&
	    n[1] != '0' && strcmp(n, ".1") != 0;
}

bool
trace_parse_id(const char *arg, char msgid[ID_LEN + 1], char evt[ID_LEN + 16])
{
	const char *p = arg, *n;
	size_t i;

	evt[0] = '\0';
	if (strncmp(p, "evt_", 4) == 0)
		p += 4;
	for (i = 0; i < ID_LEN; i++) {
		msgid[i] = (char)toupper((unsigned char)p[i]);
		if (!id_char((unsigned char)msgid[i]))
			return false;
	}
	msgid[ID_LEN] = '\0';
	n = p + ID_LEN;
	if (p == arg)
		return *n == '\0';
	if (!event_suffix_ok(n))
		return false;
	snprintf(evt, ID_LEN + 16, "evt_%s%s", msgid, n);
	return true;
}

/* Takes the value of option argv[*i]; NULL when there is none. */
static const char *
opt_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static bool
parse_args(int argc, char **argv, struct trace_opts *o)
{
	static const char *const valued[] = { "--config", "--message-id",
		"--from", "--since" };
	const char **slot[] = { &o->config, &o->message_id, &o->from,
		&o->since };
	int i, k, modes;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o->json = true;
		else if (strcmp(argv[i], "--refusals") == 0)
			o->refusals = true;
		else if (argv[i][0] != '-' && o->id == NULL)
			o->id = argv[i];
		else {
			for (k = 0; k < 4; k++)
				if (strcmp(argv[i], valued[k]) == 0)
					break;
			if (k == 4 || *slot[k] != NULL ||
			    (*slot[k] = opt_value(argc, argv, &i)) == NULL)
				return false;
		}
	}
	modes = (o->id != NULL) + (o->message_id != NULL) + (o->from != NULL) +
	    o->refusals;
	return modes == 1 && (o->since == NULL || o->id == NULL);
}

/* ---- rows to JSON ---- */

static bool
name_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* A string jansson accepts: invalid UTF-8 and NUL become U+FFFD. */
static json_t *
clean_string(const char *s, size_t len)
{
	size_t n;
	char *c = message_utf8_clean(s, len, &n, NULL);
	json_t *v = json_stringn(c, n);

	free(c);
	return v;
}

/*
 * Row i of r as an object: integer columns as numbers, 0/1 flags as
 * booleans, JSON columns parsed, the message data left out.
 */
static json_t *
row_object(const struct trace_rows *r, size_t i)
{
	static const char *const ints[] = { "received_at", "size", "attempts",
		"next_attempt_at", "next_step", "created_at", "n", "at", "step",
		"code", "latency_ms", "first", "last", "rcpts", "client_total",
		NULL };
	static const char *const flags[] = { "tls", "smtputf8", NULL };
	static const char *const jsons[] = { "recipients", "rcpt_to", "rewrite",
		NULL };
	json_t *o = json_object(), *v;
	const struct trace_cell *c;
	size_t k;

	for (k = 0; k < r->n_cols; k++) {
		const char *name = r->names[k];

		if (strcmp(name, "data") == 0)
			continue;
		c = trace_cell(r, i, name);
		if (c == NULL)
			v = json_null();
		else if (name_in(name, ints))
			v = json_integer(trace_int(r, i, name, 0));
		else if (name_in(name, flags))
			v = json_boolean(trace_int(r, i, name, 0) != 0);
		else if (name_in(name, jsons) &&
		    (v = json_loads(c->s, 0, NULL)) != NULL)
			;
		else
			v = clean_string(c->s, c->len);
		json_object_set_new(o, name, v);
	}
	return o;
}

static json_t *
rows_array(const struct trace_rows *r)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < r->n_rows; i++)
		json_array_append_new(a, row_object(r, i));
	return a;
}

static bool
select_rows(struct tctx *t, enum trace_query q, const struct trace_arg *a,
    size_t n, struct trace_rows *r)
{
	return trace_db_select(t->db, q, a, n, r, t->err, sizeof(t->err));
}

/* Runs q and stores its rows as doc[key] (and key_truncated if so). */
static bool
add_rows(struct tctx *t, json_t *doc, const char *key, enum trace_query q,
    const struct trace_arg *a, size_t n)
{
	struct trace_rows r;
	char flag[64];

	if (!select_rows(t, q, a, n, &r))
		return false;
	json_object_set_new(doc, key, rows_array(&r));
	if (r.truncated) {
		snprintf(flag, sizeof(flag), "%s_truncated", key);
		json_object_set_new(doc, flag, json_true());
	}
	trace_rows_free(&r);
	return true;
}

/* ---- one event: the rules again, the attempts, the end ---- */

static const char *
auto_setting(enum auto_replies a)
{
	return a == AUTO_REPLIES_FLAG ? "flag" :
	    a == AUTO_REPLIES_TRIGGER ? "trigger" :
					"ignore";
}

/* The sender policy as the router asks it at RCPT time. */
static json_t *
sender_policy(const struct trigger *trig, const char *mail_from)
{
	struct policy_result res;
	struct mailbox mb;
	char path[ADDR_PATH_MAX + 3];
	size_t used;
	int n = snprintf(path, sizeof(path), "<%s>", mail_from);
	bool ok = n > 0 && (size_t)n < sizeof(path) &&
	    addr_parse_path(path, (size_t)n, true, true, &mb, &used) == ADDR_OK;
	json_t *o = json_object();

	policy_sender(trig, ok ? &mb : NULL, &res);
	json_object_set_new(o, "verdict",
	    json_string(policy_verdict_name(res.verdict)));
	json_object_set_new(o, "matched",
	    res.matched != NULL ? json_string(res.matched) : json_null());
	return o;
}

/* What flow_prepare() decides for the stored message under trig. */
static void
add_rules(json_t *e, const struct trigger *trig, const struct queue_claim *c)
{
	struct prepared p;
	json_t *ar = json_object();

	flow_prepare(c, trig, &p);
	json_object_set_new(e, "sender_policy",
	    sender_policy(trig, c->mail_from));
	json_object_set_new(ar, "automatic",
	    json_boolean(p.autoreply.automatic));
	json_object_set_new(ar, "reason",
	    p.autoreply.automatic ? json_string(p.autoreply.reason) :
				    json_null());
	json_object_set_new(ar, "setting",
	    json_string(auto_setting(trig->auto_replies)));
	json_object_set_new(e, "auto_reply", ar);
	json_object_set_new(e, "verdict",
	    json_string(p.verdict == PREPARE_IGNORE ? "ignored" :
		    p.verdict == PREPARE_DEAD       ? "dead" :
						      "run"));
	json_object_set_new(e, "reason",
	    p.verdict != PREPARE_RUN ? json_string(p.reason) : json_null());
	json_object_set(e, "properties",
	    json_object_get(p.event, "properties"));
	json_object_set(e, "dedup_key_computed",
	    json_object_get(p.event, "dedup_key"));
	json_object_set_new(e, "dedup_fallback",
	    json_boolean(p.dedup_fallback));
	flow_prepared_free(&p);
}

/* The claim a delivery worker would have had (strings borrowed). */
static void
claim_of(const struct trace_rows *m, const struct trace_rows *ev, size_t i,
    struct queue_claim *c)
{
	const struct trace_cell *data = trace_cell(m, 0, "data");

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", trace_str(ev, i, "id", ""));
	snprintf(c->message_id, sizeof(c->message_id), "%s",
	    trace_str(m, 0, "id", ""));
	c->instance = (char *)trace_str(ev, i, "instance", "");
	c->trigger = (char *)trace_str(ev, i, "trigger", "");
	c->tag = (char *)trace_str(ev, i, "tag", "");
	c->recipients = (char *)trace_str(ev, i, "recipients", "[]");
	c->rcpt_to = (char *)trace_str(ev, i, "rcpt_to", "[]");
	c->attempts = (unsigned)trace_int(ev, i, "attempts", 0);
	c->next_step = (unsigned)trace_int(ev, i, "next_step", 0);
	c->created_at_ms = trace_int(ev, i, "created_at", 0);
	c->received_at_ms = trace_int(m, 0, "received_at", 0);
	c->mail_from = (char *)trace_str(m, 0, "mail_from", "");
	c->client_ip = (char *)trace_str(m, 0, "client_ip", "");
	c->helo = (char *)trace_str(m, 0, "helo", "");
	c->tls = trace_int(m, 0, "tls", 0) != 0;
	c->smtputf8 = trace_int(m, 0, "smtputf8", 0) != 0;
	c->data = data != NULL ? data->s : (char *)"";
	c->len = data != NULL ? data->len : 0;
}

static const struct trigger *
find_trigger(const struct config *cfg, const char *host, const char *name)
{
	const struct instance *inst = config_find_instance(cfg, host,
	    strlen(host));

	return inst != NULL ? config_find_trigger(inst, name, strlen(name)) :
			      NULL;
}

/* Names each attempt's step kind from the trigger's flow, when known. */
static void
name_steps(json_t *attempts, const struct trigger *trig)
{
	json_t *a;
	size_t i;
	json_int_t step;

	json_array_foreach(attempts, i, a)
	{
		step = json_integer_value(json_object_get(a, "step"));
		if (trig == NULL || step < 0 || (size_t)step >= trig->n_steps)
			continue;
		json_object_set_new(a, "step_kind",
		    json_string(
			trig->steps[step].kind == STEP_HTTP ? "http" : "exec"));
	}
}

static json_t *
event_object(struct tctx *t, const struct trace_rows *m,
    const struct trace_rows *ev, size_t i)
{
	json_t *e = row_object(ev, i);
	const struct trigger *trig = find_trigger(t->cfg,
	    trace_str(ev, i, "instance", ""), trace_str(ev, i, "trigger", ""));
	struct trace_arg a = { trace_str(ev, i, "id", ""), 0 };
	struct queue_claim c;

	if (trig != NULL) {
		claim_of(m, ev, i, &c);
		add_rules(e, trig, &c);
	} else
		json_object_set_new(e, "rules",
		    json_string("the trigger is not in the config (any more): "
				"its rules were not computed again"));
	if (!add_rows(t, e, "attempt_list", TQ_ATTEMPTS, &a, 1)) {
		json_decref(e);
		return NULL;
	}
	name_steps(json_object_get(e, "attempt_list"), trig);
	return e;
}

/* ---- documents ---- */

/* The message's header facts: Message-ID, Subject, parse warnings. */
static void
add_header_facts(json_t *msg, const struct trace_cell *data)
{
	json_t *parsed = message_parse(data != NULL ? data->s : "",
	    data != NULL ? data->len : 0, NULL);

	json_object_set(msg, "message_id",
	    json_object_get(parsed, "message_id"));
	json_object_set(msg, "subject", json_object_get(parsed, "subject"));
	json_object_set(msg, "parse_warnings",
	    json_object_get(parsed, "parse_warnings"));
	json_decref(parsed);
}

static bool
add_events(struct tctx *t, json_t *doc, const struct trace_rows *m,
    const char *msgid)
{
	struct trace_arg a = { msgid, 0 };
	struct trace_rows ev;
	json_t *list = json_array(), *e;
	bool ok = true;
	size_t i;

	json_object_set_new(doc, "events", list);
	if (!select_rows(t, TQ_EVENTS, &a, 1, &ev))
		return false;
	for (i = 0; ok && i < ev.n_rows; i++) {
		e = event_object(t, m, &ev, i);
		ok = e != NULL;
		if (ok)
			json_array_append_new(list, e);
	}
	trace_rows_free(&ev);
	return ok;
}

/* kind "message": the whole record of queue id msgid; NULL if none. */
static json_t *
message_doc(struct tctx *t, const char *msgid, const char *evt)
{
	struct trace_arg a[4] = { { msgid, 0 } };
	struct trace_rows m;
	json_t *doc = NULL, *msg;
	int64_t at;

	if (!select_rows(t, TQ_MESSAGE, a, 1, &m))
		return NULL;
	if (m.n_rows == 0) {
		snprintf(t->err, sizeof(t->err), "no message %s in the queue",
		    msgid);
		goto done;
	}
	doc = json_pack("{s:s, s:s?}", "kind", "message", "asked", evt);
	msg = row_object(&m, 0);
	add_header_facts(msg, trace_cell(&m, 0, "data"));
	json_object_set_new(doc, "message", msg);
	at = trace_int(&m, 0, "received_at", 0);
	a[0].s = trace_str(&m, 0, "mail_from", "");
	a[1].s = trace_str(&m, 0, "client_ip", "");
	a[2].i = at - TRACE_NEAR_MS;
	a[3].i = at + TRACE_NEAR_MS;
	json_object_set_new(doc, "refusals_window_ms",
	    json_integer(TRACE_NEAR_MS));
	if (!add_rows(t, doc, "refusals", TQ_REJ_AROUND, a, 4) ||
	    !add_events(t, doc, &m, msgid)) {
		json_decref(doc);
		doc = NULL;
	}
done:
	trace_rows_free(&m);
	return doc;
}

/* An event or queue id given on the command line. */
static json_t *
id_doc(struct tctx *t, const char *arg)
{
	char msgid[ID_LEN + 1], evt[ID_LEN + 16];
	struct trace_arg a = { evt, 0 };
	struct trace_rows r;
	bool found;

	if (!trace_parse_id(arg, msgid, evt)) {
		snprintf(t->err, sizeof(t->err),
		    "%s is neither an event id (evt_ and 16 characters) nor "
		    "a queue id (16 characters)",
		    arg);
		return NULL;
	}
	if (evt[0] != '\0') {
		if (!select_rows(t, TQ_EVENT_MESSAGE, &a, 1, &r))
			return NULL;
		found = r.n_rows > 0;
		trace_rows_free(&r);
		if (!found) {
			snprintf(t->err, sizeof(t->err),
			    "no event %s in the queue", evt);
			return NULL;
		}
	}
	return message_doc(t, msgid, evt[0] != '\0' ? evt : NULL);
}

/* A short summary of each message: its events' states. */
static bool
summarize_messages(struct tctx *t, json_t *msgs)
{
	struct trace_rows ev;
	struct trace_arg a = { NULL, 0 };
	json_t *m;
	size_t i;

	json_array_foreach(msgs, i, m)
	{
		a.s = json_string_value(json_object_get(m, "id"));
		if (!select_rows(t, TQ_EVENTS, &a, 1, &ev))
			return false;
		json_object_set_new(m, "events", rows_array(&ev));
		trace_rows_free(&ev);
	}
	return true;
}

/* kind "sender": messages and refusals of one sender since since_ms. */
static json_t *
sender_doc(struct tctx *t, const char *from, int64_t since_ms)
{
	struct trace_arg a[2] = { { from, 0 }, { NULL, since_ms } };
	json_t *doc = json_pack("{s:s, s:s, s:I}", "kind", "sender", "from",
	    from, "since", (json_int_t)since_ms);

	if (!add_rows(t, doc, "messages", TQ_MSGS_FROM, a, 2) ||
	    !summarize_messages(t, json_object_get(doc, "messages")) ||
	    !add_rows(t, doc, "refusals", TQ_REJ_FROM, a, 2)) {
		json_decref(doc);
		return NULL;
	}
	if (json_array_size(json_object_get(doc, "messages")) == 0 &&
	    json_array_size(json_object_get(doc, "refusals")) == 0)
		json_object_set_new(doc, "empty", json_true());
	return doc;
}

/* kind "refusals": refused RCPTs grouped by client, HELO, sender, code. */
static json_t *
refusals_doc(struct tctx *t, int64_t since_ms)
{
	struct trace_arg a = { NULL, since_ms };
	json_t *doc = json_pack("{s:s, s:I}", "kind", "refusals", "since",
	    (json_int_t)since_ms);

	if (!add_rows(t, doc, "groups", TQ_REFUSALS, &a, 1)) {
		json_decref(doc);
		return NULL;
	}
	if (json_array_size(json_object_get(doc, "groups")) == 0)
		json_object_set_new(doc, "empty", json_true());
	return doc;
}

/* The Message-ID as written in the header, without its <>. */
static bool
same_message_id(const struct trace_cell *data, const char *want)
{
	json_t *parsed = message_parse(data->s, data->len, NULL);
	const char *got = json_string_value(
	    json_object_get(parsed, "message_id"));
	bool same = got != NULL && strcmp(got, want) == 0;

	json_decref(parsed);
	return same;
}

/* kind "messages": the trace of every message with that Message-ID. */
static json_t *
message_id_doc(struct tctx *t, const char *arg, int64_t since_ms)
{
	char want[1024];
	size_t len = strlen(arg), i;
	struct trace_arg a[2] = { { want, 0 }, { NULL, since_ms } };
	struct trace_rows r;
	json_t *doc, *list, *one;

	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	}
	snprintf(want, sizeof(want), "%.*s", (int)len, arg);
	if (want[0] == '\0' || !select_rows(t, TQ_MSGS_CONTAINING, a, 2, &r))
		return NULL;
	doc = json_pack("{s:s, s:s, s:[]}", "kind", "messages", "message_id",
	    want, "traces");
	list = json_object_get(doc, "traces");
	for (i = 0; i < r.n_rows; i++) {
		if (!same_message_id(trace_cell(&r, i, "data"), want))
			continue;
		one = message_doc(t, trace_str(&r, i, "id", ""), NULL);
		if (one != NULL)
			json_array_append_new(list, one);
	}
	trace_rows_free(&r);
	if (json_array_size(list) == 0) {
		snprintf(t->err, sizeof(t->err),
		    "no message with Message-ID <%.400s> in the queue", want);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* ---- the command ---- */

static struct config *
load_config(const char *path)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	size_t i;

	cfg = path != NULL ? config_load(path, &errs) :
			     config_load_default(&errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.items[i]);
	config_errors_free(&errs);
	return cfg;
}

/* Builds the document the options ask for; NULL with t->err. */
static json_t *
build(struct tctx *t, const struct trace_opts *o, int64_t since_ms)
{
	if (o->id != NULL)
		return id_doc(t, o->id);
	if (o->message_id != NULL)
		return message_id_doc(t, o->message_id, since_ms);
	if (o->from != NULL)
		return sender_doc(t, o->from, since_ms);
	return refusals_doc(t, since_ms);
}

static int
print_doc(const json_t *doc, bool as_json)
{
	struct buf out;
	int rc = 0;

	if (as_json)
		return json_dumpf(doc, stdout,
			   JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
			putchar('\n') != EOF ?
		    0 :
		    1;
	buf_init(&out, (size_t)-1);
	trace_render(doc, &out);
	if (fwrite(out.data, 1, out.len, stdout) != out.len)
		rc = 1;
	buf_free(&out);
	return rc;
}

/* --since: the start of the window, Unix ms (0 = everything). */
static bool
since_of(const struct trace_opts *o, int64_t *since_ms)
{
	const char *s = o->since;
	uint64_t age;

	if (s == NULL && o->message_id != NULL) {
		*since_ms = 0;
		return true;
	}
	if (!units_parse_duration(s != NULL ? s : TRACE_SINCE_DEFAULT, &age))
		return false;
	*since_ms = flow_now_ms() - (int64_t)age;
	return true;
}

int
cmd_trace(int argc, char **argv)
{
	struct trace_opts o;
	struct tctx t = { 0 };
	struct config *cfg;
	int64_t since_ms;
	json_t *doc = NULL;
	int rc = 1;

	if (!parse_args(argc, argv, &o))
		return usage();
	if (!since_of(&o, &since_ms)) {
		fprintf(stderr,
		    "mailtrigger trace: --since %s: not a duration "
		    "(30m, 24h, 7d)\n",
		    o.since);
		return EXIT_USAGE;
	}
	if ((cfg = load_config(o.config)) == NULL)
		return 1;
	t.cfg = cfg;
	t.db = trace_db_open(cfg->queue_path, t.err, sizeof(t.err));
	if (t.db == NULL)
		fprintf(stderr, "mailtrigger trace: queue %s: %s\n",
		    cfg->queue_path, t.err);
	else if ((doc = build(&t, &o, since_ms)) == NULL)
		fprintf(stderr, "mailtrigger trace: %s\n", t.err);
	else
		rc = print_doc(doc, o.json) != 0 ||
		    json_is_true(json_object_get(doc, "empty"));
	json_decref(doc);
	trace_db_close(t.db);
	config_unref(cfg);
	return rc;
}
