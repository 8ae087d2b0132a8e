/*
 * config_instances - walks instances[], their triggers and flow steps.
 *
 * Pure. An instance is a host (a domain name, stored lower case without a
 * trailing dot); its triggers are named by DNS labels (RFC 1035 section
 * 2.3.1), folded to lower case, because the recipient form of an address
 * (recipient@trigger.instance-host) carries the trigger in the domain,
 * where case does not matter (RFC 4343). Each trigger has a flow of one or
 * more steps: http (a webhook URL) or exec (a command as an argv list).
 * Cross checks between instances live in config_names.c.
 */
#include "config_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/address.h"
#include "util/xmalloc.h"

#define QUOTE_MAX 256

/* Flow steps. */

static bool
url_ok(const char *s)
{
	static const char *const schemes[] = { "http://", "https://" };
	size_t i, n;

	for (i = 0; i < NELEM(schemes); i++) {
		n = strlen(schemes[i]);
		if (strncasecmp(s, schemes[i], n) == 0 && s[n] != '\0' &&
		    s[n] != '/')
			return true;
	}
	return false;
}

static void
walk_http(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct flow_step *st)
{
	static const char *const keys[] = { "url", CFG_STEP_KEYS };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char p[CFG_PATH_MAX], q[QUOTE_MAX];

	st->kind = STEP_HTTP;
	if (!cfg_walk_map(ctx, n, path,
		"a mapping (http: {url: "
		"https://...})",
		keys, NELEM(keys), v, k))
		return;
	cfg_step_options(ctx, path, v + 1, 4, st);
	if (v[0] == NULL) {
		cfg_missing(ctx, n, path, "url", "url: https://host/path");
		return;
	}
	cfg_path(p, path, "url");
	st->url = cfg_get_string(ctx, v[0], p);
	if (st->url != NULL && !url_ok(st->url)) {
		cfg_quote(q, sizeof(q), st->url, strlen(st->url));
		cfg_err(ctx, v[0],
		    "%s: '%s' is not a web address (start it "
		    "with http:// or https:// and a host)",
		    p, q);
	}
}

static void
bad_command(struct cfg_ctx *ctx, const struct ynode *n, const char *path)
{
	cfg_err(ctx, n,
	    "%s: expected a non-empty list of strings, got %s "
	    "(the program and its arguments, as [\"/usr/local/bin/page\", "
	    "\"--urgent\"])",
	    path, n->kind == YN_SEQ ? "an empty list" : cfg_kind_name(n));
}

/* exec.command: argv[0] is the program; run without a shell. */
static void
walk_command(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct flow_step *st)
{
	char p[CFG_PATH_MAX];
	size_t i;

	if (n->kind != YN_SEQ || n->n_kids == 0) {
		bad_command(ctx, n, path);
		return;
	}
	st->argv = xcalloc(n->n_kids + 1, sizeof(*st->argv));
	for (i = 0; i < n->n_kids; i++) {
		const struct ynode *a = n->kids[i];

		cfg_path(p, path, "[%zu]", i);
		if (a->kind != YN_SCALAR || a->is_null) {
			cfg_wrong_type(ctx, a, p, "a string");
			continue;
		}
		/* Arguments may be empty strings, the program may not. */
		if (i == 0 || a->len > 0)
			st->argv[st->argc] = cfg_get_string(ctx, a, p);
		else
			st->argv[st->argc] = xstrdup("");
		if (st->argv[st->argc] != NULL)
			st->argc++;
	}
}

static void
walk_exec(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct flow_step *st)
{
	static const char *const keys[] = { "command", "timeout", "retry" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char p[CFG_PATH_MAX];

	st->kind = STEP_EXEC;
	if (!cfg_walk_map(ctx, n, path,
		"a mapping (exec: {command: "
		"[program, args...]})",
		keys, NELEM(keys), v, k))
		return;
	cfg_step_options(ctx, path, v + 1, 2, st);
	if (v[0] == NULL) {
		cfg_missing(ctx, n, path, "command",
		    "command: [program, args...]");
		return;
	}
	cfg_path(p, path, "command");
	walk_command(ctx, v[0], p, st);
}

static void
walk_step(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct flow_step *st)
{
	static const char *const keys[] = { "http", "exec" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char p[CFG_PATH_MAX];

	st->line = n->line;
	st->column = n->column;
	cfg_step_defaults(st);
	if (!cfg_walk_map(ctx, n, path,
		"a step (http: {url: ...} or exec: "
		"{command: [...]})",
		keys, NELEM(keys), v, k))
		return;
	if (v[0] != NULL && v[1] != NULL) {
		cfg_err(ctx, k[1],
		    "%s: a step is http or exec, not both "
		    "(make them two steps)",
		    path);
	} else if (v[0] != NULL) {
		cfg_path(p, path, "http");
		walk_http(ctx, v[0], p, st);
	} else if (v[1] != NULL) {
		cfg_path(p, path, "exec");
		walk_exec(ctx, v[1], p, st);
	} else if (n->n_kids == 0) {
		cfg_err(ctx, n,
		    "%s: the step is empty (use http: {url: ...} "
		    "or exec: {command: [...]})",
		    path);
	}
}

static void
walk_flow(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct trigger *t)
{
	char p[CFG_PATH_MAX];
	size_t i;

	if ((n->kind == YN_SCALAR && n->is_null) ||
	    (n->kind == YN_SEQ && n->n_kids == 0)) {
		cfg_err(ctx, n,
		    "%s: the flow is empty (add a step: - http: "
		    "{url: ...} or - exec: {command: [...]})",
		    path);
		return;
	}
	if (n->kind != YN_SEQ) {
		cfg_wrong_type(ctx, n, path,
		    "a list of steps (- http: ... "
		    "or - exec: ...)");
		return;
	}
	t->steps = xcalloc(n->n_kids, sizeof(*t->steps));
	t->n_steps = n->n_kids;
	for (i = 0; i < n->n_kids; i++) {
		cfg_path(p, path, "[%zu]", i);
		walk_step(ctx, n->kids[i], p, &t->steps[i]);
	}
}

/* Triggers. */

/* A recipient of a trigger: the local part of recipient@trigger.host. */
static char *
item_recipient(struct cfg_ctx *ctx, const struct ynode *n, const char *path)
{
	char q[QUOTE_MAX], *s;
	size_t i, len;

	s = cfg_get_string(ctx, n, path);
	if (s == NULL)
		return NULL;
	len = strlen(s);
	for (i = 0; i < len; i++)
		if (s[i] == '@' || s[i] == ' ' || s[i] == '<' || s[i] == '>' ||
		    (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			break;
	/* RFC 5321 4.5.3.1.1: a local part is at most 64 octets. */
	if (i < len || len > ADDR_LOCAL_MAX) {
		cfg_quote(q, sizeof(q), s, len);
		cfg_err(ctx, n,
		    "%s: '%s' is not a local part (write what "
		    "comes before '@', at most %d characters, as oncall-dba)",
		    path, q, ADDR_LOCAL_MAX);
		free(s);
		return NULL;
	}
	return s;
}

/* The message rules (config_rules.c); each node may be NULL. */
static void
walk_rules(struct cfg_ctx *ctx, const struct ynode *extract,
    const struct ynode *dedup, const struct ynode *auto_replies,
    const char *path, struct trigger *t)
{
	char p[CFG_PATH_MAX];

	if (extract != NULL) {
		cfg_path(p, path, "extract");
		cfg_walk_extract(ctx, extract, p, t);
	}
	if (dedup != NULL) {
		cfg_path(p, path, "dedup");
		cfg_walk_dedup(ctx, dedup, p, t);
	}
	if (auto_replies != NULL) {
		cfg_path(p, path, "auto_replies");
		cfg_walk_auto_replies(ctx, auto_replies, p, t);
	}
}

static void
walk_trigger_body(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct trigger *t)
{
	static const char *const keys[] = { "recipients", "flow", "extract",
		"dedup", "auto_replies", "senders" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char p[CFG_PATH_MAX];

	cfg_trigger_defaults(t);
	if (!cfg_walk_map(ctx, n, path,
		"a mapping (flow, and optionally "
		"recipients, senders, extract, dedup, auto_replies)",
		keys, NELEM(keys), v, k))
		return;
	walk_rules(ctx, v[2], v[3], v[4], path, t);
	if (v[5] != NULL) {
		cfg_path(p, path, "senders");
		cfg_walk_senders(ctx, v[5], p, t);
	}
	if (v[0] != NULL) {
		cfg_path(p, path, "recipients");
		t->recipients = cfg_get_list(ctx, v[0], p, item_recipient,
		    &t->n_recipients);
		if (v[0]->kind == YN_SEQ && v[0]->n_kids == 0)
			cfg_err(ctx, v[0],
			    "%s: the list is empty, so no "
			    "address would reach the trigger (list local "
			    "parts, "
			    "or leave recipients out to accept any)",
			    p);
	}
	if (v[1] == NULL) {
		cfg_missing(ctx, n, path, "flow",
		    "flow: with at least one step, http or exec");
		return;
	}
	cfg_path(p, path, "flow");
	walk_flow(ctx, v[1], p, t);
}

/* Checks and folds a trigger name; NULL after reporting an error. */
static char *
trigger_name(struct cfg_ctx *ctx, const struct ynode *key, const char *path)
{
	char q[QUOTE_MAX], *s;
	const char *why;

	/* A NUL ("\0" in quotes) fails the check like any other symbol. */
	if (!cfg_label_ok(key->text, key->len, &why)) {
		cfg_quote(q, sizeof(q), key->text, key->len);
		cfg_err(ctx, key,
		    "%s: '%s' is not a valid trigger name: it "
		    "%s (a trigger name is a DNS label: letters, digits and "
		    "'-', at most 63)",
		    path, q, why);
		return NULL;
	}
	s = xstrdup(key->text);
	cfg_lower(s);
	return s;
}

/* Triggers that differ only in case are one trigger to the router. */
static void
check_folded_names(struct cfg_ctx *ctx, const struct instance *inst,
    const char *path)
{
	size_t i, *first;

	first = cfg_dups_of(inst->triggers, inst->n_triggers,
	    sizeof(struct trigger), offsetof(struct trigger, name));
	for (i = 0; i < inst->n_triggers; i++) {
		const struct trigger *t = &inst->triggers[i];

		if (first[i] == i)
			continue;
		cfg_err_at(ctx, t->line, t->column,
		    "%s: trigger '%s' is "
		    "defined twice (first at line %u; names ignore case); "
		    "keep one",
		    path, t->name, inst->triggers[first[i]].line);
	}
	free(first);
}

static void
walk_triggers(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct instance *inst)
{
	char p[CFG_PATH_MAX], q[QUOTE_MAX];
	struct trigger *t;
	size_t i, m = n->n_kids / 2;
	bool *skip;

	if (n->kind == YN_SCALAR && n->is_null)
		return;
	if (n->kind != YN_MAP) {
		cfg_wrong_type(ctx, n, path,
		    "a mapping of trigger names "
		    "(alert: {flow: [...]})");
		return;
	}
	skip = xcalloc(m + 1, sizeof(*skip));
	cfg_check_keys(ctx, n, path, skip);
	inst->triggers = xcalloc(m + 1, sizeof(*inst->triggers));
	for (i = 0; i < m; i++) {
		if (skip[i])
			continue;
		t = &inst->triggers[inst->n_triggers++];
		t->line = n->kids[2 * i]->line;
		t->column = n->kids[2 * i]->column;
		t->name = trigger_name(ctx, n->kids[2 * i], path);
		if (t->name != NULL) {
			cfg_path(p, path, "%s", t->name);
		} else {
			cfg_quote(q, sizeof(q), n->kids[2 * i]->text,
			    n->kids[2 * i]->len);
			cfg_path(p, path, "%s", q);
		}
		walk_trigger_body(ctx, n->kids[2 * i + 1], p, t);
	}
	free(skip);
	check_folded_names(ctx, inst, path);
}

/* Instances. */

static void
walk_instance(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct instance *inst)
{
	static const char *const keys[] = { "host", "sender_domains",
		"triggers", "accept_cname_expanded" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char p[CFG_PATH_MAX];

	inst->line = n->line;
	inst->column = n->column;
	if (!cfg_walk_map(ctx, n, path,
		"a mapping (host, sender_domains, "
		"triggers, accept_cname_expanded)",
		keys, NELEM(keys), v, k))
		return;
	if (v[0] == NULL) {
		cfg_missing(ctx, n, path, "host",
		    "host: the instance's "
		    "domain, as acme.triggers.example.com");
	} else {
		cfg_path(p, path, "host");
		inst->host = cfg_get_domain(ctx, v[0], p, false);
		inst->line = v[0]->line;
		inst->column = v[0]->column;
	}
	if (v[1] != NULL) {
		cfg_path(p, path, "sender_domains");
		inst->sender_domains = cfg_get_list(ctx, v[1], p,
		    cfg_item_domain, &inst->n_sender_domains);
	}
	if (v[2] != NULL) {
		cfg_path(p, path, "triggers");
		walk_triggers(ctx, v[2], p, inst);
	}
	if (v[3] != NULL) {
		cfg_path(p, path, "accept_cname_expanded");
		cfg_walk_bool(ctx, v[3], p, &inst->accept_cname_expanded);
	}
}

void
cfg_walk_instances(struct cfg_ctx *ctx, const struct ynode *n,
    struct config *cfg)
{
	char p[CFG_PATH_MAX];
	size_t i;

	if (n->kind == YN_SCALAR && n->is_null)
		return;
	if (n->kind != YN_SEQ) {
		cfg_wrong_type(ctx, n, "instances", "a list (- host: NAME)");
		return;
	}
	cfg->instances = xcalloc(n->n_kids + 1, sizeof(*cfg->instances));
	cfg->n_instances = n->n_kids;
	for (i = 0; i < n->n_kids; i++) {
		cfg_path(p, "instances", "[%zu]", i);
		walk_instance(ctx, n->kids[i], p, &cfg->instances[i]);
	}
	cfg_check_instances(ctx, cfg);
}
