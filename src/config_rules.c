/*
 * config_rules - a trigger's message rules: extract (named properties by
 * regular expression), dedup (key template and window) and auto_replies.
 *
 * Pure. Regular expressions are compiled here, once, at load
 * (util/regex.h), so a bad one is a config error with its position and
 * PCRE2's message, never a failure at the first message; dedup key
 * templates are checked with util/tmpl.h. Read docs/flows-rules.md.
 * The sender policy's list (senders) is checked and normalised here too,
 * with mail/address.h; route/policy.c matches it (docs/routing.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "mail/address.h"
#include "util/regex.h"
#include "util/strv.h"
#include "util/tmpl.h"
#include "util/units.h"
#include "util/xmalloc.h"

#define QUOTE_MAX 256
#define PROP_NAME_MAX 64
#define HEADER_NAME_MAX 128
#define DEDUP_WINDOW_MAX_MS (366ULL * 24 * 60 * 60 * 1000)

void
cfg_trigger_defaults(struct trigger *t)
{
	t->dedup_window_ms = DEDUP_WINDOW_DEFAULT_MS;
	t->auto_replies = AUTO_REPLIES_IGNORE;
}

void
cfg_free_trigger_rules(struct trigger *t)
{
	size_t i;

	for (i = 0; i < t->n_extract; i++) {
		free(t->extract[i].name);
		free(t->extract[i].header);
		free(t->extract[i].regex);
		rx_free(t->extract[i].rx);
		free(t->extract[i].def);
	}
	free(t->extract);
	free(t->dedup_key);
	strv_free(t->senders, t->n_senders);
}

/* A property name: usable as a template path segment. */
static bool
prop_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > PROP_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
			s[i] == '-'))
			return false;
	return true;
}

/* RFC 5322 section 3.6.8: a field name is printable ASCII but ':'. */
static bool
field_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > HEADER_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 ||
		    s[i] == ':')
			return false;
	return true;
}

static bool
scalar_ok(const struct ynode *n)
{
	return n->kind == YN_SCALAR && !n->is_null &&
	    memchr(n->text, '\0', n->len) == NULL;
}

/* from: subject | body | tag | header:NAME */
static void
walk_from(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct extract_prop *p)
{
	char q[QUOTE_MAX];

	if (!scalar_ok(n)) {
		cfg_wrong_type(ctx, n, path,
		    "a source (subject, body, tag or header:NAME)");
		return;
	}
	if (strcmp(n->text, "subject") == 0) {
		p->from = EXTRACT_FROM_SUBJECT;
	} else if (strcmp(n->text, "body") == 0) {
		p->from = EXTRACT_FROM_BODY;
	} else if (strcmp(n->text, "tag") == 0) {
		p->from = EXTRACT_FROM_TAG;
	} else if (strncmp(n->text, "header:", 7) == 0 &&
	    field_name_ok(n->text + 7, n->len - 7)) {
		p->from = EXTRACT_FROM_HEADER;
		p->header = xstrdup(n->text + 7);
	} else {
		cfg_quote(q, sizeof(q), n->text, n->len);
		cfg_err(ctx, n,
		    "%s: unknown source '%s' (use subject, body, tag or "
		    "header:NAME, as header:X-Alert-Id)",
		    path, q);
	}
}

static void
walk_regex(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct extract_prop *p)
{
	char err[RX_ERROR_MAX], q[QUOTE_MAX];
	size_t off;

	if (n->kind != YN_SCALAR || n->is_null) {
		cfg_wrong_type(ctx, n, path,
		    "a regular expression (as '#(?<value>\\d+)')");
		return;
	}
	p->rx = rx_compile(n->text, n->len, "value", err, sizeof(err), &off);
	if (p->rx != NULL) {
		p->regex = xstrdup(n->text);
		return;
	}
	cfg_quote(q, sizeof(q), n->text, n->len);
	if (off != RX_OFFSET_NONE)
		cfg_err(ctx, n,
		    "%s: bad regular expression '%s': %s at offset %zu "
		    "(PCRE2 syntax)",
		    path, q, err, off);
	else
		cfg_err(ctx, n, "%s: bad regular expression '%s': %s", path, q,
		    err);
}

/* YAML 1.2 core schema booleans. */
void
cfg_walk_bool(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };
	size_t i;

	for (i = 0; scalar_ok(n) && i < NELEM(yes); i++) {
		if (strcmp(n->text, yes[i]) == 0 ||
		    strcmp(n->text, no[i]) == 0) {
			*out = strcmp(n->text, yes[i]) == 0;
			return;
		}
	}
	cfg_wrong_type(ctx, n, path, "true or false");
}

static void
walk_prop(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct extract_prop *p)
{
	static const char *const keys[] = { "from", "regex", "default",
		"required" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char sub[CFG_PATH_MAX];

	if (!cfg_walk_map(ctx, n, path,
		"a mapping (from: body, regex: '(?<value>...)', "
		"and optionally default, required)",
		keys, NELEM(keys), v, k))
		return;
	if (v[0] == NULL) {
		cfg_missing(ctx, n, path, "from",
		    "from: subject, body, tag or header:NAME");
	} else {
		cfg_path(sub, path, "from");
		walk_from(ctx, v[0], sub, p);
	}
	if (v[1] == NULL) {
		cfg_missing(ctx, n, path, "regex",
		    "regex: with a named group, as '#(?<value>\\d+)'");
	} else {
		cfg_path(sub, path, "regex");
		walk_regex(ctx, v[1], sub, p);
	}
	if (v[2] != NULL) {
		cfg_path(sub, path, "default");
		p->def = cfg_get_string(ctx, v[2], sub);
	}
	if (v[3] != NULL) {
		cfg_path(sub, path, "required");
		cfg_walk_bool(ctx, v[3], sub, &p->required);
	}
}

void
cfg_walk_extract(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct trigger *t)
{
	char p[CFG_PATH_MAX], q[QUOTE_MAX];
	size_t i, m = n->n_kids / 2;
	struct extract_prop *e;
	bool *skip;

	if (n->kind == YN_SCALAR && n->is_null)
		return;
	if (n->kind != YN_MAP) {
		cfg_wrong_type(ctx, n, path,
		    "a mapping of property names (severity: {from: body, "
		    "regex: ...})");
		return;
	}
	skip = xcalloc(m + 1, sizeof(*skip));
	cfg_check_keys(ctx, n, path, skip);
	t->extract = xcalloc(m + 1, sizeof(*t->extract));
	for (i = 0; i < m; i++) {
		const struct ynode *key = n->kids[2 * i];

		if (skip[i])
			continue;
		cfg_quote(q, sizeof(q), key->text, key->len);
		if (!prop_name_ok(key->text, key->len)) {
			cfg_err(ctx, key,
			    "%s: '%s' is not a property name (letters, "
			    "digits, '_' and '-', at most %d)",
			    path, q, PROP_NAME_MAX);
			continue;
		}
		e = &t->extract[t->n_extract++];
		e->name = xstrdup(key->text);
		e->line = key->line;
		e->column = key->column;
		cfg_path(p, path, "%s", q);
		walk_prop(ctx, n->kids[2 * i + 1], p, e);
	}
	free(skip);
}

static void
walk_window(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct trigger *t)
{
	char q[QUOTE_MAX];
	uint64_t v;

	if (!scalar_ok(n) || !units_parse_duration(n->text, &v)) {
		if (n->kind == YN_SCALAR) {
			cfg_quote(q, sizeof(q), n->text, n->len);
			cfg_err(ctx, n,
			    "%s: '%s' is not a duration (a number and a "
			    "unit: 30m, 24h, 7d; 0 turns dedup off)",
			    path, q);
		} else {
			cfg_wrong_type(ctx, n, path, "a duration (as 24h)");
		}
		return;
	}
	if (v > DEDUP_WINDOW_MAX_MS) {
		cfg_err(ctx, n, "%s: out of range (use 0..366d)", path);
		return;
	}
	t->dedup_window_ms = v;
}

static void
walk_key(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct trigger *t)
{
	const char *why;
	size_t pos;

	if (n->kind != YN_SCALAR || n->is_null) {
		cfg_wrong_type(ctx, n, path,
		    "a template (as \"{{properties.alert_id}}\")");
		return;
	}
	if (!tmpl_check(n->text, n->len, &pos, &why)) {
		cfg_err(ctx, n, "%s: bad template at offset %zu: %s", path, pos,
		    why);
		return;
	}
	if (n->len == 0) {
		cfg_err(ctx, n,
		    "%s: the key is empty (leave key out for the "
		    "default key)",
		    path);
		return;
	}
	t->dedup_key = xstrdup(n->text);
}

void
cfg_walk_dedup(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct trigger *t)
{
	static const char *const keys[] = { "key", "window" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char p[CFG_PATH_MAX];

	if (n->kind == YN_SCALAR && n->is_null)
		return;
	if (!cfg_walk_map(ctx, n, path,
		"a mapping (key: \"{{...}}\", window: 24h)", keys, NELEM(keys),
		v, k))
		return;
	if (v[0] != NULL) {
		cfg_path(p, path, "key");
		walk_key(ctx, v[0], p, t);
	}
	if (v[1] != NULL) {
		cfg_path(p, path, "window");
		walk_window(ctx, v[1], p, t);
	}
}

void
cfg_walk_auto_replies(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, struct trigger *t)
{
	static const char *const names[] = { "ignore", "flag", "trigger" };
	static const enum auto_replies values[] = { AUTO_REPLIES_IGNORE,
		AUTO_REPLIES_FLAG, AUTO_REPLIES_TRIGGER };
	char q[QUOTE_MAX];
	size_t i;

	for (i = 0; scalar_ok(n) && i < NELEM(names); i++) {
		if (strcmp(n->text, names[i]) == 0) {
			t->auto_replies = values[i];
			return;
		}
	}
	if (n->kind != YN_SCALAR || n->is_null) {
		cfg_wrong_type(ctx, n, path, "ignore, flag or trigger");
		return;
	}
	cfg_quote(q, sizeof(q), n->text, n->len);
	cfg_err(ctx, n, "%s: unknown value '%s' (use ignore, flag or trigger)",
	    path, q);
}

/*
 * Why a senders entry (without angle brackets) is not an address the
 * policy can match, or NULL; fills *mb. RFC 5321 4.1.2 syntax, UTF-8
 * allowed (RFC 6531), an ASCII domain name (no address literal).
 */
static const char *
sender_why(const char *s, size_t len, struct mailbox *mb)
{
	char b[ADDR_PATH_MAX + 3];
	const char *why;
	size_t used;

	if (len > ADDR_PATH_MAX || memchr(s, '<', len) != NULL)
		return "is not an address (write local@domain, *@domain or "
		       "<>, at most 256 characters, without angle brackets)";
	b[0] = '<';
	memcpy(b + 1, s, len);
	b[len + 1] = '>';
	if (addr_parse_path(b, len + 2, false, true, mb, &used) != ADDR_OK ||
	    used != len + 2 || mb->is_postmaster)
		return "is not an address (write local@domain, *@domain or "
		       "<>)";
	if (mb->domain_literal)
		return "has an address literal for a domain (name the domain)";
	if (!cfg_domain_ok(mb->domain, strlen(mb->domain), false, &why))
		return "has a domain that is not a valid domain name "
		       "(write internationalized names in their xn-- form)";
	if (strchr(mb->local, '*') != NULL &&
	    (mb->local_quoted || strcmp(mb->local, "*") != 0))
		return "has a '*' that is not the whole local part (the only "
		       "pattern is *@domain)";
	return NULL;
}

/* One senders entry, normalised: "<>", or local@domain lower-cased. */
static char *
item_sender(struct cfg_ctx *ctx, const struct ynode *n, const char *path)
{
	char q[QUOTE_MAX], *s, *out;
	struct mailbox mb;
	const char *why;
	size_t len, dlen;

	s = cfg_get_string(ctx, n, path);
	if (s == NULL || strcmp(s, "<>") == 0)
		return s;
	len = strlen(s);
	why = sender_why(s, len, &mb);
	if (why != NULL) {
		cfg_quote(q, sizeof(q), s, len);
		cfg_err(ctx, n, "%s: '%s' %s", path, q, why);
		free(s);
		return NULL;
	}
	free(s);
	dlen = strlen(mb.domain);
	if (dlen > 0 && mb.domain[dlen - 1] == '.')
		mb.domain[dlen - 1] = '\0';
	cfg_lower(mb.domain);
	len = strlen(mb.local) + 1 + strlen(mb.domain) + 1;
	out = xmalloc(len);
	snprintf(out, len, "%s@%s", mb.local, mb.domain);
	return out;
}

void
cfg_walk_senders(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct trigger *t)
{
	t->senders = cfg_get_list(ctx, n, path, item_sender, &t->n_senders);
	if (n->kind == YN_SEQ && n->n_kids == 0)
		cfg_err(ctx, n,
		    "%s: the list is empty, so no sender could start the "
		    "trigger (list addresses or *@domain, or leave senders "
		    "out to accept any)",
		    path);
}
