/*
 * config_walk - checks the YAML tree against the config schema and builds
 * the struct config.
 *
 * Pure. Each mapping is checked against the keys it allows (unknown,
 * duplicate and non-string keys are errors), each value against the type
 * it needs; the walk goes on after an error so that check-config shows
 * them all. Messages name the key path ("instances[0].triggers.alert.flow")
 * and say what to write instead. The limits mapping is walked in config.c,
 * next to the limits table. Read docs/config.md for the schema.
 */
#include "config_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xmalloc.h"

#define QUOTE_MAX 256

void
cfg_path(char *out, const char *path, const char *fmt, ...)
{
	char tail[CFG_PATH_MAX];
	size_t n, t;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	/* Half for the path, the rest for the tail: both stay readable. */
	n = strnlen(path, CFG_PATH_MAX / 2);
	memcpy(out, path, n);
	if (n > 0 && tail[0] != '[')
		out[n++] = '.';
	t = strnlen(tail, CFG_PATH_MAX - 1 - n);
	memcpy(out + n, tail, t);
	out[n + t] = '\0';
}

void
cfg_wrong_type(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    const char *want)
{
	cfg_err(ctx, n, "%s: expected %s, got %s", path, want,
	    cfg_kind_name(n));
}

static const char *
where(const char *path)
{
	return path[0] == '\0' ? "top level" : path;
}

void
cfg_check_keys(struct cfg_ctx *ctx, const struct ynode *map, const char *path,
    bool *skip)
{
	size_t i, n = map->n_kids / 2, *first;
	struct cfg_name *names;
	char q[QUOTE_MAX];

	names = xcalloc(n + 1, sizeof(*names));
	first = xcalloc(n + 1, sizeof(*first));
	for (i = 0; i < n; i++) {
		const struct ynode *k = map->kids[2 * i];

		skip[i] = k->kind != YN_SCALAR || k->is_null;
		if (skip[i])
			cfg_err(ctx, k,
			    "a key in %s is %s; keys must be plain "
			    "names",
			    where(path), cfg_kind_name(k));
		else
			names[i] = (struct cfg_name){ k->text, k->len };
	}
	cfg_find_dups(names, n, first);
	for (i = 0; i < n; i++) {
		const struct ynode *k = map->kids[2 * i];
		const struct ynode *f = map->kids[2 * first[i]];

		if (first[i] == i)
			continue;
		skip[i] = true;
		cfg_quote(q, sizeof(q), k->text, k->len);
		cfg_err(ctx, k,
		    "duplicate key '%s' in %s (first at line %u, "
		    "column %u); keep one",
		    q, where(path), f->line, f->column);
	}
	free(names);
	free(first);
}

static void
report_unknown(struct cfg_ctx *ctx, const struct ynode *key, const char *path,
    const char *const *keys, size_t n_keys)
{
	char q[QUOTE_MAX];
	struct buf b;
	size_t i;

	buf_init(&b, 512);
	for (i = 0; i < n_keys; i++)
		(void)buf_printf(&b, "%s%s", i > 0 ? ", " : "", keys[i]);
	cfg_quote(q, sizeof(q), key->text, key->len);
	cfg_err(ctx, key, "unknown key '%s' in %s (allowed: %s)", q,
	    where(path), buf_str(&b));
	buf_free(&b);
}

bool
cfg_walk_map(struct cfg_ctx *ctx, const struct ynode *map, const char *path,
    const char *want, const char *const *keys, size_t n_keys,
    const struct ynode **found, const struct ynode **fkey)
{
	size_t i, j, n = map->n_kids / 2;
	bool *skip;

	for (j = 0; j < n_keys; j++)
		found[j] = fkey[j] = NULL;
	if (map->kind != YN_MAP) {
		cfg_wrong_type(ctx, map, path, want);
		return false;
	}
	skip = xcalloc(n + 1, sizeof(*skip));
	cfg_check_keys(ctx, map, path, skip);
	for (i = 0; i < n; i++) {
		const struct ynode *k = map->kids[2 * i];

		if (skip[i])
			continue;
		for (j = 0; j < n_keys; j++)
			if (strlen(keys[j]) == k->len &&
			    memcmp(keys[j], k->text, k->len) == 0)
				break;
		if (j == n_keys) {
			report_unknown(ctx, k, path, keys, n_keys);
			continue;
		}
		found[j] = map->kids[2 * i + 1];
		fkey[j] = k;
	}
	free(skip);
	return true;
}

void
cfg_missing(struct cfg_ctx *ctx, const struct ynode *map, const char *path,
    const char *key, const char *hint)
{
	cfg_err(ctx, map, "%s: missing key '%s' (add %s)", path, key, hint);
}

/* Scalar values. */

char *
cfg_get_string(struct cfg_ctx *ctx, const struct ynode *n, const char *path)
{
	if (n->kind != YN_SCALAR || n->is_null) {
		cfg_wrong_type(ctx, n, path, "a string");
		return NULL;
	}
	if (memchr(n->text, '\0', n->len) != NULL) {
		cfg_err(ctx, n, "%s: contains a NUL character (remove the \\0)",
		    path);
		return NULL;
	}
	if (n->len == 0) {
		cfg_err(ctx, n,
		    "%s: is empty (give a value or leave the key "
		    "out)",
		    path);
		return NULL;
	}
	return xstrdup(n->text);
}

char *
cfg_get_domain(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    bool wildcards)
{
	char q[QUOTE_MAX], *s;
	const char *why;
	size_t len;

	s = cfg_get_string(ctx, n, path);
	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (!cfg_domain_ok(s, len, wildcards, &why)) {
		cfg_quote(q, sizeof(q), s, len);
		cfg_err(ctx, n, "%s: '%s' is not a valid domain name: it %s",
		    path, q, why);
		free(s);
		return NULL;
	}
	if (s[len - 1] == '.')
		s[len - 1] = '\0';
	cfg_lower(s);
	return s;
}

char *
cfg_item_domain(struct cfg_ctx *ctx, const struct ynode *n, const char *path)
{
	return cfg_get_domain(ctx, n, path, false);
}

char *
cfg_item_pattern(struct cfg_ctx *ctx, const struct ynode *n, const char *path)
{
	return cfg_get_domain(ctx, n, path, true);
}

char **
cfg_get_list(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    cfg_item_fn fn, size_t *count)
{
	char p[CFG_PATH_MAX], **v;
	size_t i, m = 0;

	*count = 0;
	if (n->kind == YN_SCALAR && n->is_null)
		return NULL;
	if (n->kind != YN_SEQ) {
		cfg_wrong_type(ctx, n, path, "a list of strings");
		return NULL;
	}
	if (n->n_kids == 0)
		return NULL;
	v = xcalloc(n->n_kids + 1, sizeof(*v));
	for (i = 0; i < n->n_kids; i++) {
		cfg_path(p, path, "[%zu]", i);
		v[m] = fn(ctx, n->kids[i], p);
		if (v[m] != NULL)
			m++;
	}
	*count = m;
	return v;
}

/* Listeners. */

static void
walk_listener(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    struct listener_config *out)
{
	static const char *const keys[] = { "address" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char q[QUOTE_MAX], *s;
	const char *why;

	if (!cfg_walk_map(ctx, n, path, "a mapping (- address: HOST:PORT)",
		keys, NELEM(keys), v, k))
		return;
	if (v[0] == NULL) {
		cfg_missing(ctx, n, path, "address",
		    "address: HOST:PORT, as 127.0.0.1:2525");
		return;
	}
	cfg_path(q, path, "address");
	s = cfg_get_string(ctx, v[0], q);
	if (s == NULL)
		return;
	if (!cfg_listen_parse(s, strlen(s), out, &why)) {
		char shown[QUOTE_MAX];

		cfg_quote(shown, sizeof(shown), s, strlen(s));
		cfg_err(ctx, v[0], "%s: '%s' %s", q, shown, why);
	}
	out->line = v[0]->line;
	out->column = v[0]->column;
	free(s);
}

/* Two listeners on the same address and port (other than 0) cannot bind. */
static void
check_duplicate_listeners(struct cfg_ctx *ctx, const struct config *cfg)
{
	size_t i, *first;

	first = cfg_dups_of(cfg->listeners, cfg->n_listeners,
	    sizeof(struct listener_config),
	    offsetof(struct listener_config, address));
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct listener_config *l = &cfg->listeners[i];

		if (first[i] == i || strcmp(l->port, "0") == 0)
			continue;
		cfg_err_at(ctx, l->line, l->column,
		    "listen[%zu].address: "
		    "'%s' is already listed at line %u; remove one",
		    i, l->address, cfg->listeners[first[i]].line);
	}
	free(first);
}

static void
walk_listen(struct cfg_ctx *ctx, const struct ynode *n, struct config *cfg)
{
	char p[CFG_PATH_MAX];
	size_t i;

	if (n->kind == YN_SCALAR && n->is_null)
		return; /* the default listener */
	if (n->kind != YN_SEQ) {
		cfg_wrong_type(ctx, n, "listen",
		    "a list (- address: HOST:PORT)");
		return;
	}
	if (n->n_kids == 0) {
		cfg_err(ctx, n,
		    "listen: the list is empty (add a listener, "
		    "as - address: 127.0.0.1:2525, or leave listen out)");
		return;
	}
	cfg->listeners = xcalloc(n->n_kids, sizeof(*cfg->listeners));
	cfg->n_listeners = n->n_kids;
	for (i = 0; i < n->n_kids; i++) {
		cfg_path(p, "listen", "[%zu]", i);
		walk_listener(ctx, n->kids[i], p, &cfg->listeners[i]);
	}
	check_duplicate_listeners(ctx, cfg);
}

/* tls and queue. */

static void
walk_tls(struct cfg_ctx *ctx, const struct ynode *n, struct config *cfg)
{
	static const char *const keys[] = { "certificate", "key" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];

	if (n->kind == YN_SCALAR && n->is_null)
		return;
	if (!cfg_walk_map(ctx, n, "tls", "a mapping (certificate, key)", keys,
		NELEM(keys), v, k))
		return;
	if (v[0] != NULL)
		cfg->tls_cert = cfg_get_string(ctx, v[0], "tls.certificate");
	if (v[1] != NULL)
		cfg->tls_key = cfg_get_string(ctx, v[1], "tls.key");
	/* RFC 3207: STARTTLS needs both; one alone is a mistake. */
	if (v[0] != NULL && v[1] == NULL)
		cfg_err(ctx, k[0],
		    "tls: certificate is set but key is not "
		    "(set both, or neither to run without STARTTLS)");
	if (v[1] != NULL && v[0] == NULL)
		cfg_err(ctx, k[1],
		    "tls: key is set but certificate is not "
		    "(set both, or neither to run without STARTTLS)");
}

static void
walk_queue(struct cfg_ctx *ctx, const struct ynode *n, struct config *cfg)
{
	static const char *const keys[] = { "backend", "path", "retention",
		"rejection_retention", "rejections_max", "hold" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];
	char q[QUOTE_MAX], *s;
	size_t i;

	if (n->kind == YN_SCALAR && n->is_null)
		return;
	if (!cfg_walk_map(ctx, n, "queue", "a mapping (backend, path, ...)",
		keys, NELEM(keys), v, k))
		return;
	for (i = 2; i < 5; i++)
		if (v[i] != NULL)
			cfg_walk_queue_limit(ctx, keys[i], v[i],
			    &cfg->queue_retention);
	if (v[5] != NULL)
		cfg_walk_bool(ctx, v[5], "queue.hold", &cfg->queue_hold);
	if (v[0] != NULL) {
		s = cfg_get_string(ctx, v[0], "queue.backend");
		if (s != NULL && strcmp(s, "sqlite") != 0) {
			cfg_quote(q, sizeof(q), s, strlen(s));
			cfg_err(ctx, v[0],
			    "queue.backend: '%s' is not "
			    "supported (use sqlite)",
			    q);
		}
		free(s);
	}
	if (v[1] != NULL) {
		s = cfg_get_string(ctx, v[1], "queue.path");
		if (s != NULL) {
			free(cfg->queue_path);
			cfg->queue_path = s;
		}
	}
}

/* The top level. */

static const char *const top_keys[] = { "hostname", "listen", "limits", "tls",
	"queue", "canonical_names", "instances", "postmaster", "dns" };
enum {
	K_HOSTNAME,
	K_LISTEN,
	K_LIMITS,
	K_TLS,
	K_QUEUE,
	K_CANONICAL,
	K_INSTANCES,
	K_POSTMASTER,
	K_DNS
};

/*
 * `postmaster: trigger@instance-host`: must name a configured trigger in
 * the trigger form, so postmaster mail starts a flow like any other.
 */
static void
walk_postmaster(struct cfg_ctx *ctx, const struct ynode *n, struct config *cfg)
{
	char *s = cfg_get_string(ctx, n, "postmaster");
	const char *at;

	if (s == NULL)
		return;
	at = strrchr(s, '@');
	if (at != NULL)
		cfg->postmaster_instance = config_find_instance(cfg, at + 1,
		    strlen(at + 1));
	if (cfg->postmaster_instance != NULL)
		cfg->postmaster_trigger =
		    config_find_trigger(cfg->postmaster_instance, s,
			(size_t)(at - s));
	if (cfg->postmaster_trigger == NULL) {
		cfg_err(ctx, n,
		    "postmaster: '%s' is not a configured trigger "
		    "(write trigger@instance-host, e.g. "
		    "postmaster@ops.example.com with a trigger 'postmaster')",
		    s);
		cfg->postmaster_instance = NULL;
		free(s);
		return;
	}
	cfg->postmaster = s;
}

static void
walk_limits_value(struct cfg_ctx *ctx, const struct ynode *n,
    struct config *cfg)
{
	if (n->kind == YN_SCALAR && n->is_null)
		return;
	cfg_walk_limits(ctx, n, &cfg->limits);
}

static bool
root_ok(struct cfg_ctx *ctx, const struct ynode *root)
{
	if (root == NULL || (root->kind == YN_SCALAR && root->is_null)) {
		cfg_err_at(ctx, root != NULL ? root->line : 1,
		    root != NULL ? root->column : 1,
		    "the config is empty "
		    "(write a mapping with some of: hostname, listen, limits, "
		    "tls, queue, canonical_names, instances, postmaster, dns)");
		return false;
	}
	if (root->kind != YN_MAP) {
		cfg_err(ctx, root,
		    "the config is %s; it must be a mapping "
		    "with some of: hostname, listen, limits, tls, queue, "
		    "canonical_names, instances, postmaster, dns",
		    cfg_kind_name(root));
		return false;
	}
	return true;
}

void
cfg_walk(struct cfg_ctx *ctx, const struct ynode *root, struct config *cfg)
{
	const struct ynode *v[NELEM(top_keys)], *k[NELEM(top_keys)];

	if (!root_ok(ctx, root))
		return;
	cfg_walk_map(ctx, root, "", "a mapping", top_keys, NELEM(top_keys), v,
	    k);
	if (v[K_HOSTNAME] != NULL)
		cfg->hostname = cfg_get_domain(ctx, v[K_HOSTNAME], "hostname",
		    false);
	if (v[K_LISTEN] != NULL)
		walk_listen(ctx, v[K_LISTEN], cfg);
	if (v[K_LIMITS] != NULL)
		walk_limits_value(ctx, v[K_LIMITS], cfg);
	if (v[K_TLS] != NULL)
		walk_tls(ctx, v[K_TLS], cfg);
	if (v[K_QUEUE] != NULL)
		walk_queue(ctx, v[K_QUEUE], cfg);
	if (v[K_CANONICAL] != NULL)
		cfg->canonical_names = cfg_get_list(ctx, v[K_CANONICAL],
		    "canonical_names", cfg_item_pattern,
		    &cfg->n_canonical_names);
	if (v[K_INSTANCES] != NULL)
		cfg_walk_instances(ctx, v[K_INSTANCES], cfg);
	if (v[K_POSTMASTER] != NULL)
		walk_postmaster(ctx, v[K_POSTMASTER], cfg);
	if (v[K_DNS] != NULL)
		cfg_walk_dns(ctx, v[K_DNS], cfg);
}
