/*
 * route_cmd - `mailtrigger route` (route_cmd.h, docs/route.md).
 *
 * One pass builds a JSON report: each recipient through route_rcpt()
 * and cname_rcpt(), as the SMTP session asks at RCPT time (a recipient
 * accepted pending the Received: header is decided with the message, as
 * at the end of DATA); the accepted ones grouped into
 * events as the intake does (one per instance and trigger, first come
 * first numbered); and, with a message, each event through
 * flow_prepare(), as a delivery worker does before the first step. The
 * report is printed as JSON (--json) or as text made from it, so both
 * say the same. Nothing is queued, no step runs, no network is used.
 *
 * The message is read as an SMTP client would send it: a file with bare
 * LF line ends (as Unix tools save mail) gets CRLF, since the intake
 * refuses bare LF. What a dry run cannot know is said in the output: the
 * dedup window look-up (it needs the queue) and the client's IP and
 * HELO. The gateway's own Received: field is not added.
 */
#include "route_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "flow/flow_int.h"
#include "mail/address.h"
#include "mail/received.h"
#include "route/cname.h"
#include "route/policy.h"
#include "route/router.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define EXIT_USAGE 2
#define ROUTE_TO_MAX 100             /* --to options, as limits.recipients */
#define ROUTE_INPUT_MAX (100u << 20) /* message bytes read, as `parse` */
#define DRY_RUN_ID "evt_dry-run"

struct route_opts {
	const char *config; /* NULL: the embedded sample */
	const char *from;
	const char *to[ROUTE_TO_MAX];
	size_t n_to;
	const char *file; /* NULL: no message; "-": stdin */
	bool json;
};

static int
route_usage(void)
{
	fputs("usage: mailtrigger route [--config FILE] --from ADDR --to ADDR "
	      "[--to ADDR...] [--json] [FILE | -]\n",
	    stderr);
	return EXIT_USAGE;
}

/* Takes the value of option argv[*i]; NULL (after a message) if none. */
static const char *
opt_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "mailtrigger route: %s needs a value\n",
		    argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static bool
parse_args(int argc, char **argv, struct route_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;

		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (a[0] != '-' || strcmp(a, "-") == 0) {
			if (o->file != NULL)
				return false;
			o->file = a;
			continue;
		}
		if (strcmp(a, "--config") != 0 && strcmp(a, "--from") != 0 &&
		    strcmp(a, "--to") != 0)
			return false;
		if ((v = opt_value(argc, argv, &i)) == NULL)
			return false;
		if (a[2] == 'c')
			o->config = v;
		else if (a[2] == 'f')
			o->from = v;
		else if (o->n_to < ROUTE_TO_MAX)
			o->to[o->n_to++] = v;
		else
			return false;
	}
	return o->from != NULL && o->n_to > 0;
}

/*
 * An address as given on the command line: with or without its angle
 * brackets; "" and "<>" are the null sender where reverse is true.
 * UTF-8 is allowed, as if the client had said SMTPUTF8.
 */
static enum addr_status
parse_addr(const char *s, bool reverse, struct mailbox *mb)
{
	char path[ADDR_PATH_MAX + 8];
	size_t len = strlen(s), used;
	enum addr_status st;

	if (len > ADDR_PATH_MAX + 2)
		return ADDR_TOO_LONG;
	snprintf(path, sizeof(path), s[0] == '<' ? "%s" : "<%s>", s);
	len = strlen(path);
	st = addr_parse_path(path, len, reverse, true, mb, &used);
	if (st == ADDR_OK && used != len)
		return ADDR_SYNTAX;
	return st;
}

/* A JSON string, or null for NULL (and for text that is not UTF-8). */
static json_t *
str_or_null(const char *s)
{
	json_t *v = s != NULL ? json_string(s) : NULL;

	return v != NULL ? v : json_null();
}

static const char *
form_name(enum route_form f)
{
	if (f == ROUTE_FORM_TRIGGER)
		return "trigger";
	if (f == ROUTE_FORM_RECIPIENT)
		return "recipient";
	return NULL;
}

/* The router's details of a decision that found a trigger. */
static void
add_trigger_facts(json_t *o, const struct route_result *r,
    const struct mailbox *from)
{
	struct policy_result p;

	json_object_set_new(o, "instance", json_string(r->instance->host));
	json_object_set_new(o, "trigger", json_string(r->trigger->name));
	json_object_set_new(o, "form", str_or_null(form_name(r->form)));
	json_object_set_new(o, "tag",
	    r->tag[0] != '\0' ? str_or_null(r->tag) : json_null());
	json_object_set_new(o, "recipient",
	    r->form == ROUTE_FORM_RECIPIENT ? str_or_null(r->recipient) :
					      json_null());
	json_object_set_new(o, "sender_policy",
	    json_string(policy_verdict_name(r->policy)));
	policy_sender(r->trigger, from, &p);
	json_object_set_new(o, "sender_matched",
	    r->policy == POLICY_ALLOWED ? str_or_null(p.matched) : json_null());
}

/* A recipient's rewrite as the event's rewrite object; NULL: none. */
static json_t *
rewrite_json(const struct cname_rewrite *rw)
{
	if (rw->evidence != CNAME_SENDER_DOMAINS &&
	    rw->evidence != CNAME_RECEIVED_FOR)
		return NULL;
	return json_pack("{s:s, s:s, s:s}", "received", rw->received,
	    "recovered", rw->recovered, "evidence",
	    cname_evidence_name(rw->evidence));
}

/* The reply and verdict fields of a decision, under the given prefix. */
static void
add_reply(json_t *o, const char *prefix, const struct route_result *r)
{
	char key[32], reply[ROUTE_TEXT_MAX + 32];

	snprintf(reply, sizeof(reply), "%d %s %s", r->code, r->enhanced,
	    r->text);
	snprintf(key, sizeof(key), "%sreply", prefix);
	json_object_set_new(o, key, str_or_null(reply));
	snprintf(key, sizeof(key), "%scode", prefix);
	json_object_set_new(o, key, json_integer(r->code));
	snprintf(key, sizeof(key), "%sreason", prefix);
	json_object_set_new(o, key, str_or_null(r->reason));
}

/* The session's own reply to an address it cannot parse (replies.md). */
static void
syntax_refusal(struct route_result *r)
{
	memset(r, 0, sizeof(*r));
	r->verdict = ROUTE_REJECT;
	r->code = 501;
	snprintf(r->enhanced, sizeof(r->enhanced), "5.1.3");
	snprintf(r->text, sizeof(r->text), "Bad recipient address syntax");
	r->reason = "syntax";
}

/*
 * A recipient accepted pending the Received: header, decided as at the
 * end of DATA: with the message when there is one, else it stays pending
 * and makes no event.
 */
static void
pending_report(json_t *o, const struct config *cfg, const struct route_query *q,
    const struct buf *msg, struct route_result *r, struct cname_rewrite *rw)
{
	if (msg == NULL) {
		json_object_set_new(o, "after_data",
		    json_string("decided by the message's first Received: "
				"field; give the message as FILE to see it"));
		r->verdict = ROUTE_REJECT; /* no event without the message */
		return;
	}
	if (!cname_recover(cfg, q, buf_str(msg), msg->len, r, rw))
		r->verdict = ROUTE_REJECT;
	add_reply(o, "data_", r);
}

/*
 * One recipient's RCPT decision as a JSON object; txn is the transaction
 * so far (what the one-provisional rule of cname_rcpt() needs).
 */
static json_t *
rcpt_report(const struct config *cfg, const struct route_query *q,
    const char *arg, enum addr_status st, const struct buf *msg,
    struct cname_txn *txn, struct route_result *r, json_t **rewrite)
{
	json_t *o = json_object();
	struct cname_rewrite rw = { 0 };

	json_object_set_new(o, "rcpt", str_or_null(arg));
	if (st != ADDR_OK) {
		syntax_refusal(r);
	} else {
		route_rcpt(cfg, q, r);
		cname_rcpt(cfg, q, txn, r, &rw);
	}
	add_reply(o, "", r);
	if (rw.evidence == CNAME_PENDING) {
		txn->provisional = true;
		pending_report(o, cfg, q, msg, r, &rw);
	}
	if (r->verdict == ROUTE_OK)
		txn->n_rcpts++;
	json_object_set_new(o, "accepted",
	    json_boolean(r->verdict == ROUTE_OK));
	*rewrite = rewrite_json(&rw);
	json_object_set(o, "rewrite",
	    *rewrite != NULL ? *rewrite : json_null());
	if (r->trigger != NULL)
		add_trigger_facts(o, r, q->mail_from);
	return o;
}

/* An event in the making: the accepted recipients of one trigger. */
struct pending {
	const struct instance *inst;
	const struct trigger *trig;
	char tag[ADDR_LOCAL_MAX + 1];
	json_t *recipients, *rcpt_to;
	json_t *rewrite; /* the first recovered recipient's, or NULL */
};

/* Adds an accepted recipient to its event (as the intake groups them). */
static void
group(struct pending *ev, size_t *n, const struct route_result *r,
    const struct mailbox *rcpt, const json_t *rewrite)
{
	struct pending *e = NULL;
	size_t i;

	for (i = 0; i < *n && e == NULL; i++)
		if (ev[i].inst == r->instance && ev[i].trig == r->trigger)
			e = &ev[i];
	if (e == NULL) {
		e = &ev[(*n)++];
		e->inst = r->instance;
		e->trig = r->trigger;
		snprintf(e->tag, sizeof(e->tag), "%s", r->tag);
		e->recipients = json_array();
		e->rcpt_to = json_array();
		e->rewrite = NULL;
	}
	if (e->rewrite == NULL && rewrite != NULL)
		e->rewrite = json_deep_copy(rewrite); /* as the intake keeps */
	json_array_append_new(e->rcpt_to, str_or_null(rcpt->address));
	if (r->form == ROUTE_FORM_RECIPIENT)
		json_array_append_new(e->recipients, str_or_null(r->recipient));
}

static const char *
auto_setting(enum auto_replies a)
{
	if (a == AUTO_REPLIES_FLAG)
		return "flag";
	if (a == AUTO_REPLIES_TRIGGER)
		return "trigger";
	return "ignore";
}

static const char *
verdict_name(enum prepare_verdict v)
{
	if (v == PREPARE_IGNORE)
		return "ignored";
	if (v == PREPARE_DEAD)
		return "dead";
	return "run";
}

/* What flow_prepare() decided, as the report's fields. */
static void
add_prepared(json_t *o, const struct trigger *t, const struct prepared *p)
{
	json_t *msg = json_object_get(p->event, "message");
	json_t *ar = json_object();

	json_object_set(o, "parse_warnings",
	    json_object_get(msg, "parse_warnings"));
	json_object_set_new(ar, "automatic",
	    json_boolean(p->autoreply.automatic));
	json_object_set_new(ar, "reason",
	    p->autoreply.automatic ? str_or_null(p->autoreply.reason) :
				     json_null());
	json_object_set_new(ar, "setting",
	    json_string(auto_setting(t->auto_replies)));
	json_object_set_new(o, "auto_reply", ar);
	json_object_set_new(o, "verdict",
	    json_string(verdict_name(p->verdict)));
	json_object_set_new(o, "reason",
	    p->verdict != PREPARE_RUN ? str_or_null(p->reason) : json_null());
	json_object_set(o, "properties",
	    json_object_get(p->event, "properties"));
	json_object_set(o, "dedup_key", json_object_get(p->event, "dedup_key"));
	json_object_set_new(o, "dedup_template", str_or_null(t->dedup_key));
	json_object_set_new(o, "dedup_fallback",
	    json_boolean(p->dedup_fallback));
	json_object_set_new(o, "dedup_window_s",
	    json_integer((json_int_t)(t->dedup_window_ms / 1000)));
	json_object_set(o, "event", p->event);
}

/* Runs one event through flow_prepare() as a delivery worker would. */
static json_t *
event_report(const struct pending *e, size_t k, const struct mailbox *from,
    const char *data, size_t len)
{
	struct queue_claim c;
	struct prepared p;
	json_t *o = json_object();

	memset(&c, 0, sizeof(c));
	if (k == 0)
		snprintf(c.id, sizeof(c.id), "%s", DRY_RUN_ID);
	else
		snprintf(c.id, sizeof(c.id), "%s.%zu", DRY_RUN_ID, k + 1);
	c.instance = e->inst->host;
	c.trigger = e->trig->name;
	c.tag = (char *)e->tag;
	c.recipients = json_dumps(e->recipients, JSON_COMPACT);
	c.rcpt_to = json_dumps(e->rcpt_to, JSON_COMPACT);
	c.rewrite = e->rewrite != NULL ? json_dumps(e->rewrite, JSON_COMPACT) :
					 NULL;
	c.created_at_ms = c.received_at_ms = flow_now_ms();
	c.mail_from = (char *)from->address;
	c.client_ip = (char *)"";
	c.helo = (char *)"";
	c.smtputf8 = from->has_utf8;
	c.data = (char *)data;
	c.len = len;
	flow_prepare(&c, e->trig, &p);
	json_object_set_new(o, "id", json_string(c.id));
	json_object_set_new(o, "instance", json_string(c.instance));
	json_object_set_new(o, "trigger", json_string(c.trigger));
	json_object_set(o, "addressed_to", e->rcpt_to);
	add_prepared(o, e->trig, &p);
	flow_prepared_free(&p);
	free(c.recipients);
	free(c.rcpt_to);
	free(c.rewrite);
	return o;
}

/*
 * Reads fd whole into b, bare LF made CRLF as an SMTP client sends it;
 * *crlf_added tells whether any was. False on a read error or when the
 * message passes ROUTE_INPUT_MAX.
 */
static bool
read_message(int fd, struct buf *b, bool *crlf_added)
{
	char chunk[65536], prev = '\0';
	ssize_t n;
	ssize_t i;

	*crlf_added = false;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0;
		for (i = 0; i < n; prev = chunk[i++]) {
			if (chunk[i] == '\n' && prev != '\r') {
				*crlf_added = true;
				if (buf_putc(b, '\r') != BUF_OK)
					return false;
			}
			if (buf_putc(b, chunk[i]) != BUF_OK)
				return false;
		}
	}
}

/*
 * Reads the message of --file (or stdin) into b, as the intake would keep
 * it: bare LF made CRLF, CNAME_HEADER fields removed. False, with the
 * reason on stderr, when it cannot be read whole.
 */
static bool
load_message(const struct route_opts *o, struct buf *b, bool *crlf)
{
	int fd = strcmp(o->file, "-") == 0 ? STDIN_FILENO :
					     open(o->file, O_RDONLY);
	bool ok;

	if (fd < 0) {
		fprintf(stderr, "mailtrigger route: %s: %s\n", o->file,
		    strerror(errno));
		return false;
	}
	ok = read_message(fd, b, crlf);
	if (!ok)
		fprintf(stderr,
		    "mailtrigger route: %s: cannot read it whole (read "
		    "error, or larger than %u MB)\n",
		    o->file, ROUTE_INPUT_MAX >> 20);
	else if (b->len > 0)
		b->len = header_remove(b->data, b->len, CNAME_HEADER);
	if (fd != STDIN_FILENO)
		close(fd);
	return ok;
}

/* The message part of the report: one entry per event. */
static void
message_report(const struct route_opts *o, json_t *report,
    const struct pending *ev, size_t n_ev, const struct mailbox *from,
    const struct buf *b, bool crlf)
{
	json_t *events = json_array();
	size_t i;

	for (i = 0; i < n_ev; i++)
		json_array_append_new(events,
		    event_report(&ev[i], i, from, buf_str(b), b->len));
	json_object_set_new(report, "message_file", json_string(o->file));
	json_object_set_new(report, "crlf_added", json_boolean(crlf));
	json_object_set_new(report, "events", events);
}

/* Every --to through the router; the accepted ones grouped in ev. */
static json_t *
rcpts_report(const struct config *cfg, const struct route_opts *o,
    const struct mailbox *from, const struct buf *msg, struct pending *ev,
    size_t *n_ev, bool *all_ok)
{
	json_t *list = json_array(), *rewrite;
	struct cname_txn txn = { 0, false };
	struct route_result r;
	struct mailbox rcpt;
	struct route_query q = { from, &rcpt };
	enum addr_status st;
	size_t i;

	*n_ev = 0;
	*all_ok = true;
	for (i = 0; i < o->n_to; i++) {
		st = parse_addr(o->to[i], false, &rcpt);
		json_array_append_new(list,
		    rcpt_report(cfg, &q, o->to[i], st, msg, &txn, &r,
			&rewrite));
		if (r.verdict == ROUTE_OK)
			group(ev, n_ev, &r, &rcpt, rewrite);
		else
			*all_ok = false;
		json_decref(rewrite);
	}
	return list;
}

/* Prints one line "  key: value" when the value is a string. */
static void
line(const char *key, const json_t *v)
{
	if (json_is_string(v))
		printf("  %s: %s\n", key, json_string_value(v));
}

static void
print_rcpt(const json_t *r)
{
	const json_t *m = json_object_get(r, "sender_matched");
	const json_t *rw = json_object_get(r, "rewrite");

	printf("rcpt <%s>: %s\n", json_string_value(json_object_get(r, "rcpt")),
	    json_string_value(json_object_get(r, "reply")));
	line("reason", json_object_get(r, "reason"));
	line("after DATA", json_object_get(r, "after_data"));
	line("end of DATA", json_object_get(r, "data_reply"));
	line("end of DATA reason", json_object_get(r, "data_reason"));
	if (json_is_object(rw))
		printf("  recovered from CNAME expansion: <%s> (evidence %s)\n",
		    json_string_value(json_object_get(rw, "recovered")),
		    json_string_value(json_object_get(rw, "evidence")));
	line("instance", json_object_get(r, "instance"));
	line("trigger", json_object_get(r, "trigger"));
	line("form", json_object_get(r, "form"));
	line("tag", json_object_get(r, "tag"));
	line("recipient", json_object_get(r, "recipient"));
	if (json_is_string(m))
		printf("  sender policy: allowed (%s)\n", json_string_value(m));
	else
		line("sender policy", json_object_get(r, "sender_policy"));
}

/* A JSON value on one line, compact (the text output's objects). */
static void
compact(const char *key, const json_t *v)
{
	char *s = json_dumps(v,
	    JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

	printf("  %s: %s\n", key, s != NULL ? s : "null");
	free(s);
}

static void
print_event(const json_t *e)
{
	const json_t *ar = json_object_get(e, "auto_reply");
	const json_t *tmpl = json_object_get(e, "dedup_template");

	printf("event %s (trigger %s@%s):\n",
	    json_string_value(json_object_get(e, "id")),
	    json_string_value(json_object_get(e, "trigger")),
	    json_string_value(json_object_get(e, "instance")));
	compact("parse warnings", json_object_get(e, "parse_warnings"));
	if (json_is_true(json_object_get(ar, "automatic")))
		printf("  auto-reply: automatic (%s), auto_replies: %s\n",
		    json_string_value(json_object_get(ar, "reason")),
		    json_string_value(json_object_get(ar, "setting")));
	else
		printf("  auto-reply: not automatic, auto_replies: %s\n",
		    json_string_value(json_object_get(ar, "setting")));
	compact("properties", json_object_get(e, "properties"));
	line("dedup key", json_object_get(e, "dedup_key"));
	printf("  dedup: %s, window %llds%s\n",
	    json_is_string(tmpl) ? json_string_value(tmpl) : "default key",
	    (long long)json_integer_value(json_object_get(e, "dedup_window_s")),
	    json_is_true(json_object_get(e, "dedup_fallback")) ?
		" (template rendered empty: default key used)" :
		"");
	printf("  verdict: %s%s%s\n",
	    json_string_value(json_object_get(e, "verdict")),
	    json_is_string(json_object_get(e, "reason")) ? ": " : "",
	    json_is_string(json_object_get(e, "reason")) ?
		json_string_value(json_object_get(e, "reason")) :
		"");
}

static void
print_text(const json_t *report)
{
	const json_t *list = json_object_get(report, "recipients");
	const json_t *events = json_object_get(report, "events");
	size_t i;

	printf("mail from <%s>\n",
	    json_string_value(json_object_get(report, "mail_from")));
	for (i = 0; i < json_array_size(list); i++)
		print_rcpt(json_array_get(list, i));
	if (events == NULL)
		return;
	if (json_is_true(json_object_get(report, "crlf_added")))
		puts("message: bare LF line ends sent as CRLF");
	for (i = 0; i < json_array_size(events); i++)
		print_event(json_array_get(events, i));
	if (json_array_size(events) > 0)
		puts("(dry run: whether the dedup key was seen within the "
		     "window is not looked up; nothing was queued)");
}

/* True when every event of the report would run its flow. */
static bool
all_run(const json_t *report)
{
	const json_t *events = json_object_get(report, "events");
	size_t i;

	for (i = 0; i < json_array_size(events); i++)
		if (strcmp(json_string_value(
			       json_object_get(json_array_get(events, i),
				   "verdict")),
			"run") != 0)
			return false;
	return true;
}

/* Builds the whole report; false if the message could not be read. */
static bool
report_build(const struct config *cfg, const struct route_opts *o,
    const struct mailbox *from, json_t *report, bool *all_ok)
{
	struct pending ev[ROUTE_TO_MAX];
	struct buf msg;
	size_t n_ev, i;
	bool crlf = false;

	buf_init(&msg, ROUTE_INPUT_MAX);
	if (o->file != NULL && !load_message(o, &msg, &crlf)) {
		buf_free(&msg);
		return false;
	}
	json_object_set_new(report, "config", str_or_null(cfg->path));
	json_object_set_new(report, "mail_from", str_or_null(from->address));
	json_object_set_new(report, "recipients",
	    rcpts_report(cfg, o, from, o->file != NULL ? &msg : NULL, ev, &n_ev,
		all_ok));
	if (o->file != NULL)
		message_report(o, report, ev, n_ev, from, &msg, crlf);
	for (i = 0; i < n_ev; i++) {
		json_decref(ev[i].recipients);
		json_decref(ev[i].rcpt_to);
		json_decref(ev[i].rewrite);
	}
	buf_free(&msg);
	*all_ok = *all_ok && all_run(report);
	return true;
}

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

int
cmd_route(int argc, char **argv)
{
	struct route_opts o;
	struct config *cfg;
	struct mailbox from;
	json_t *report;
	bool all_ok, ok;
	enum addr_status st;

	if (!parse_args(argc, argv, &o))
		return route_usage();
	st = parse_addr(o.from, true, &from);
	if (st != ADDR_OK) {
		fprintf(stderr, "mailtrigger route: --from %s: %s\n", o.from,
		    addr_status_text(st));
		return EXIT_USAGE;
	}
	if ((cfg = load_config(o.config)) == NULL)
		return 1;
	report = json_object();
	ok = report_build(cfg, &o, &from, report, &all_ok);
	if (ok && o.json)
		ok = json_dumpf(report, stdout,
			 JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
		    putchar('\n') != EOF;
	else if (ok)
		print_text(report);
	json_decref(report);
	config_unref(cfg);
	return ok && all_ok ? 0 : 1;
}
