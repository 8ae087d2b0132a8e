/*
 * queue_cmd - the `mailtrigger queue` command: list, show, retry, purge
 * (docs/queue.md, "Queue CLI").
 *
 * Not pure: reads the config, opens the queue through queue/admin.h and
 * prints to stdout. It works beside a running gateway (admin.h says
 * why) and never creates a queue. Everything a sender controls (the
 * envelope, HELO, responses, the message) is printed with control
 * characters escaped, so a hostile message cannot drive the operator's
 * terminal; only `show --raw` writes the stored bytes unchanged.
 * Exit status: 0 done, 1 failure or refusal, 2 usage error (as main.c).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "queue/admin.h"
#include "util/units.h"
#include "util/xmalloc.h"

#define EXIT_USAGE 2
#define LIST_LIMIT_DEFAULT 100   /* events `queue list` shows */
#define LIST_LIMIT_MAX 100000000 /* --limit's ceiling; 0 = all */

static const char usage_text[] =
    "usage: mailtrigger queue list [--state S] [--trigger T] [--limit N]"
    " [--json]\n"
    "       mailtrigger queue show ID [--raw]\n"
    "       mailtrigger queue retry ID | --dead\n"
    "       mailtrigger queue purge --before AGE\n"
    "each also takes --config FILE or --queue PATH (default: the"
    " embedded\nconfig's queue.path, var/queue.db)\n";

/* The options; which ones a subcommand takes is in its table row. */
enum {
	OPT_STATE = 1 << 0,
	OPT_TRIGGER = 1 << 1,
	OPT_LIMIT = 1 << 2,
	OPT_JSON = 1 << 3,
	OPT_RAW = 1 << 4,
	OPT_DEAD = 1 << 5,
	OPT_BEFORE = 1 << 6,
	OPT_WHERE = 1 << 7, /* --config, --queue: every subcommand */
};

struct opts {
	unsigned seen; /* first: no value option is at offset 0 */
	const char *config, *queue, *state, *trigger, *limit, *before;
	const char *id; /* the one positional argument */
	bool json, raw, dead;
};

static const struct opt_def {
	const char *name;
	unsigned bit;
	size_t value; /* offsetof the string in struct opts, or 0: a flag */
} opt_defs[] = {
	{ "--state", OPT_STATE, offsetof(struct opts, state) },
	{ "--trigger", OPT_TRIGGER, offsetof(struct opts, trigger) },
	{ "--limit", OPT_LIMIT, offsetof(struct opts, limit) },
	{ "--before", OPT_BEFORE, offsetof(struct opts, before) },
	{ "--config", OPT_WHERE, offsetof(struct opts, config) },
	{ "--queue", OPT_WHERE, offsetof(struct opts, queue) },
	{ "--json", OPT_JSON, 0 },
	{ "--raw", OPT_RAW, 0 },
	{ "--dead", OPT_DEAD, 0 },
};

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mailtrigger: queue: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static void
set_flag(struct opts *o, unsigned bit)
{
	if (bit == OPT_JSON)
		o->json = true;
	else if (bit == OPT_RAW)
		o->raw = true;
	else
		o->dead = true;
}

/* Parses argv[1..] against allowed; 0 or EXIT_USAGE after a message. */
static int
parse_opts(int argc, char **argv, unsigned allowed, bool want_id,
    struct opts *o)
{
	const struct opt_def *d;
	size_t i;
	int k;

	for (k = 1; k < argc; k++) {
		for (i = 0, d = NULL; i < NELEM(opt_defs) && d == NULL; i++)
			if (strcmp(argv[k], opt_defs[i].name) == 0)
				d = &opt_defs[i];
		if (d == NULL && argv[k][0] != '-' && want_id && !o->id) {
			o->id = argv[k];
			continue;
		}
		if (d == NULL || !(allowed & d->bit))
			return usage_error("unexpected argument '%s'", argv[k]);
		if (d->value != 0 && k + 1 >= argc)
			return usage_error("%s needs a value", d->name);
		if (d->value != 0)
			*(const char **)((char *)o + d->value) = argv[++k];
		else
			set_flag(o, d->bit);
		o->seen |= d->bit;
	}
	if (o->config != NULL && o->queue != NULL)
		return usage_error("%s", "give --config or --queue, not both");
	return 0;
}

/* The queue file: --queue, else the config's queue.path. */
static char *
queue_path(const struct opts *o)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	char *path = NULL;
	size_t i;

	if (o->queue != NULL)
		return xstrdup(o->queue);
	cfg = o->config ? config_load(o->config, &errs) :
			  config_load_default(&errs);
	if (cfg != NULL)
		path = xstrdup(cfg->queue_path);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.items[i]);
	config_errors_free(&errs);
	config_unref(cfg);
	return path;
}

static struct admin *
open_queue(const struct opts *o)
{
	char err[600], *path = queue_path(o);
	struct admin *a = NULL;

	if (path == NULL)
		return NULL;
	a = admin_open(path, err, sizeof(err));
	if (a == NULL)
		fprintf(stderr, "mailtrigger: queue %s: %s\n", path, err);
	free(path);
	return a;
}

/* ISO 8601 UTC with milliseconds; "-" for a NULL (-1) time. */
static const char *
fmt_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char day[24];

	if (ms < 0 || gmtime_r(&t, &tm) == NULL)
		return "-";
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", day, (int)(ms % 1000));
	return out;
}

/*
 * Writes s with C0 controls, DEL and the UTF-8 forms of C1 controls
 * (U+0080..U+009F, which some terminals obey) as \xHH; in body mode
 * LF and TAB pass and a CR before LF is dropped.
 */
static void
put_safe(FILE *out, const char *s, size_t len, bool body)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (body && (p[i] == '\n' || p[i] == '\t'))
			putc(p[i], out);
		else if (body && p[i] == '\r' && i + 1 < len &&
		    p[i + 1] == '\n')
			continue;
		else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(out, "\\x%02x", p[i]);
		else if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f)
			fprintf(out, "\\xc2\\x%02x", p[++i]);
		else
			putc(p[i], out);
	}
}

/* s escaped as put_safe() does, cut to fit out; "-" for NULL. */
static const char *
esc(const char *s, char *out, size_t size)
{
	FILE *fp;

	if (s == NULL)
		return "-";
	out[0] = '\0';
	fp = fmemopen(out, size, "w");
	if (fp == NULL)
		return "?";
	put_safe(fp, s, strlen(s), false);
	fclose(fp);
	return out;
}

/* A JSON string; bytes that are not UTF-8 (never stored by intake, but
 * the file is the operator's) become '?' rather than failing the dump. */
static json_t *
jstr(const char *s)
{
	json_t *v;
	char *copy;
	size_t i;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	copy = xstrdup(s);
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

static json_t *
jtime(int64_t ms)
{
	char t[32];

	return ms < 0 ? json_null() : json_string(fmt_time(ms, t));
}

static json_t *
event_json(const struct admin_event *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", jstr(e->id));
	json_object_set_new(o, "message_id", jstr(e->message_id));
	json_object_set_new(o, "state", jstr(e->state));
	json_object_set_new(o, "instance", jstr(e->instance));
	json_object_set_new(o, "trigger", jstr(e->trigger));
	json_object_set_new(o, "tag", jstr(e->tag));
	json_object_set_new(o, "mail_from", jstr(e->mail_from));
	json_object_set_new(o, "attempts", json_integer(e->attempts));
	json_object_set_new(o, "created_at", jtime(e->created_at_ms));
	json_object_set_new(o, "next_attempt_at", jtime(e->next_attempt_at_ms));
	json_object_set_new(o, "dead_reason", jstr(e->dead_reason));
	json_object_set_new(o, "note", jstr(e->note));
	return o;
}

static int
print_list_json(const struct admin_event *e, size_t n)
{
	json_t *arr = json_array();
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, event_json(&e[i]));
	rc = json_dumpf(arr, stdout, JSON_INDENT(2));
	json_decref(arr);
	putchar('\n');
	return rc == 0 ? 0 : 1;
}

/* One line per event; WHY is the dead reason or the note. */
static void
print_list_text(const struct admin_event *e, size_t n)
{
	char t[32], trig[128], from[512], why[512];
	size_t i;

	printf("%-26s %-9s %-16s %8s  %-24s  %s\n", "EVENT", "STATE", "TRIGGER",
	    "ATTEMPTS", "RECEIVED", "FROM  WHY");
	for (i = 0; i < n; i++)
		printf("%-26s %-9s %-16s %8u  %-24s  <%s>  %s\n", e[i].id,
		    e[i].state, esc(e[i].trigger, trig, sizeof(trig)),
		    e[i].attempts, fmt_time(e[i].created_at_ms, t),
		    esc(e[i].mail_from, from, sizeof(from)),
		    e[i].dead_reason ? esc(e[i].dead_reason, why, sizeof(why)) :
			e[i].note    ? esc(e[i].note, why, sizeof(why)) :
				       "");
}

static bool
parse_limit(const char *s, size_t *n)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || v > LIST_LIMIT_MAX)
		return false;
	*n = (size_t)v;
	return true;
}

static int
cmd_list(int argc, char **argv)
{
	struct opts o = { 0 };
	struct admin_filter f = { 0 };
	struct admin_event *e = NULL;
	struct admin *a;
	size_t n = 0;
	int rc;

	if ((rc = parse_opts(argc, argv,
		 OPT_STATE | OPT_TRIGGER | OPT_LIMIT | OPT_JSON | OPT_WHERE,
		 false, &o)) != 0)
		return rc;
	f.state = o.state;
	f.trigger = o.trigger;
	f.limit = LIST_LIMIT_DEFAULT;
	if (o.limit != NULL && !parse_limit(o.limit, &f.limit))
		return usage_error("--limit '%s' is not a whole number "
				   "0..100000000 (0: all)",
		    o.limit);
	if (f.state != NULL && !admin_state_valid(f.state))
		return usage_error("--state '%s' is not one of queued, "
				   "running, retry, done, dead, ignored, "
				   "duplicate",
		    f.state);
	if ((a = open_queue(&o)) == NULL)
		return 1;
	rc = 1;
	if (admin_list(a, &f, &e, &n) != ADMIN_OK)
		fprintf(stderr, "mailtrigger: queue list: %s\n",
		    admin_errmsg(a));
	else if (o.json)
		rc = print_list_json(e, n);
	else {
		print_list_text(e, n);
		rc = 0;
	}
	admin_events_free(e, n);
	admin_close(a);
	return rc;
}

static void
put_field(const char *name, const char *value)
{
	char v[2048];

	printf("%-16s %s\n", name, esc(value, v, sizeof(v)));
}

static void
print_attempts(const struct admin_event *e)
{
	const struct admin_attempt *t;
	char when[32], code[16], lat[24];
	size_t i;

	if (e->n_att == 0) {
		puts("attempts: none");
		return;
	}
	printf("attempts:\n  %-3s %-24s %4s %-6s %5s %9s  %s\n", "N", "TIME",
	    "STEP", "STATUS", "CODE", "LATENCY", "RESPONSE");
	for (i = 0; i < e->n_att; i++) {
		t = &e->att[i];
		snprintf(code, sizeof(code), "%d", t->code);
		snprintf(lat, sizeof(lat), "%" PRId64 "ms", t->latency_ms);
		printf("  %-3u %-24s %4u %-6s %5s %9s  ", t->n,
		    fmt_time(t->at_ms, when), t->step, t->status,
		    t->code < 0 ? "-" : code, t->latency_ms < 0 ? "-" : lat);
		put_safe(stdout, t->response, strlen(t->response), false);
		putchar('\n');
	}
}

static void
print_event(const struct admin_event *e)
{
	char t[32], num[32];

	put_field("event", e->id);
	put_field("state", e->state);
	put_field("instance", e->instance);
	put_field("trigger", e->trigger);
	put_field("tag", e->tag);
	put_field("recipients", e->recipients);
	put_field("rcpt_to", e->rcpt_to);
	put_field("created_at", fmt_time(e->created_at_ms, t));
	put_field("next_attempt_at", fmt_time(e->next_attempt_at_ms, t));
	put_field("lease_until", fmt_time(e->lease_until_ms, t));
	snprintf(num, sizeof(num), "%u", e->next_step);
	put_field("next_step", num);
	put_field("dead_reason", e->dead_reason);
	put_field("note", e->note);
	put_field("dedup_key", e->dedup_key);
	put_field("rewrite", e->rewrite);
	print_attempts(e);
}

static void
print_detail(const struct admin_detail *d)
{
	const struct admin_message *m = &d->msg;
	char t[32], num[32];
	size_t i;

	put_field("message", m->id);
	put_field("received_at", fmt_time(m->received_at_ms, t));
	put_field("mail_from", m->mail_from);
	put_field("client_ip", m->client_ip);
	put_field("helo", m->helo);
	put_field("tls", m->tls ? "yes" : "no");
	put_field("smtputf8", m->smtputf8 ? "yes" : "no");
	snprintf(num, sizeof(num), "%zu", m->len);
	put_field("size", num);
	for (i = 0; i < d->n_events; i++) {
		putchar('\n');
		print_event(&d->events[i]);
	}
	printf("\nraw message (%zu bytes; control characters escaped, "
	       "exact bytes: --raw):\n",
	    m->len);
	put_safe(stdout, m->data, m->len, true);
	if (m->len > 0 && m->data[m->len - 1] != '\n')
		putchar('\n');
}

static int
cmd_show(int argc, char **argv)
{
	struct opts o = { 0 };
	struct admin_detail d;
	struct admin *a;
	int rc;

	if ((rc = parse_opts(argc, argv, OPT_RAW | OPT_WHERE, true, &o)) != 0)
		return rc;
	if (o.id == NULL)
		return usage_error("%s", "show needs an event or message id");
	if ((a = open_queue(&o)) == NULL)
		return 1;
	rc = 1;
	if (admin_show(a, o.id, &d) != ADMIN_OK)
		fprintf(stderr, "mailtrigger: queue show: %s\n",
		    admin_errmsg(a));
	else if (o.raw)
		rc = fwrite(d.msg.data, 1, d.msg.len, stdout) == d.msg.len ? 0 :
									     1;
	else {
		print_detail(&d);
		rc = 0;
	}
	admin_detail_free(&d);
	admin_close(a);
	return rc;
}

static void
retried_cb(void *arg, const char *id, const char *was)
{
	printf("%s: %s -> retry, due now\n", id, was);
}

static int
cmd_retry(int argc, char **argv)
{
	struct opts o = { 0 };
	struct admin *a;
	enum admin_status s;
	size_t n = 0;
	int rc;

	if ((rc = parse_opts(argc, argv, OPT_DEAD | OPT_WHERE, true, &o)) != 0)
		return rc;
	if ((o.id == NULL) == !o.dead)
		return usage_error("%s", "retry needs an id or --dead");
	if ((a = open_queue(&o)) == NULL)
		return 1;
	if (o.dead) {
		s = admin_retry_dead(a, admin_now_ms(), retried_cb, NULL, &n);
		if (s == ADMIN_OK)
			printf("%zu dead event%s made due\n", n,
			    n == 1 ? "" : "s");
	} else {
		s = admin_retry(a, o.id, admin_now_ms(), retried_cb, NULL);
	}
	if (s != ADMIN_OK)
		fprintf(stderr, "mailtrigger: queue retry: %s\n",
		    admin_errmsg(a));
	admin_close(a);
	return s == ADMIN_OK ? 0 : 1;
}

static void
purged_cb(void *arg, const char *msg_id, int64_t received_at_ms, size_t events)
{
	char t[32];

	printf("purged %s received=%s events=%zu\n", msg_id,
	    fmt_time(received_at_ms, t), events);
}

static int
cmd_purge(int argc, char **argv)
{
	struct opts o = { 0 };
	struct admin_purge_stats st = { 0 };
	struct queue_retention p = { 0 };
	struct retention_hooks h = { NULL, purged_cb, NULL };
	struct admin *a;
	uint64_t age;
	enum admin_status s;
	int rc;

	if ((rc = parse_opts(argc, argv, OPT_BEFORE | OPT_WHERE, false, &o)) !=
	    0)
		return rc;
	if (o.before == NULL)
		return usage_error("%s", "purge needs --before AGE (as 7d)");
	if (!units_parse_duration(o.before, &age) ||
	    age > (uint64_t)admin_now_ms())
		return usage_error("--before '%s' is not an age (use a number "
				   "and a unit: 30m, 12h, 7d)",
		    o.before);
	if ((a = open_queue(&o)) == NULL)
		return 1;
	/* retention's pass with no cap; its 0 would mean "forever". */
	p.retention_ms = p.rejection_retention_ms = age > 0 ? age : 1;
	s = retention_pass(a, &p, admin_now_ms(), &h, &st);
	printf("purged %zu messages, %zu events, %zu attempts, "
	       "%zu rejections older than %s\n",
	    st.messages, st.events, st.attempts, st.rejections, o.before);
	if (st.segments > 0)
		printf("removed %zu body segment file%s\n", st.segments,
		    st.segments == 1 ? "" : "s");
	if (s != ADMIN_OK)
		fprintf(stderr, "mailtrigger: queue purge: %s\n",
		    admin_errmsg(a));
	admin_close(a);
	return s == ADMIN_OK ? 0 : 1;
}

int
cmd_queue(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} subs[] = {
		{ "list", cmd_list },
		{ "show", cmd_show },
		{ "retry", cmd_retry },
		{ "purge", cmd_purge },
	};
	size_t i;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (i = 0; argc >= 2 && i < NELEM(subs); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	if (argc < 2)
		return usage_error("%s",
		    "which one: list, show, retry, purge?");
	return usage_error("unknown subcommand '%s'", argv[1]);
}
