/*
 * config - the public face of the config module: parse, load, limits,
 * reference counting and lookups.
 *
 * Pure apart from config_load() (reads a file) and the hostname default:
 * when `hostname` is left out, config_parse() asks gethostname(), the one
 * system call it makes, so that every config it returns has a hostname.
 * The limits table below is the single place where each limit's default,
 * minimum and maximum are declared (as Postfix mail_params.h).
 * The parts: config_yaml.c (text to a tree), config_walk.c (the schema),
 * config_instances.c (instances, triggers, flows), config_names.c (name
 * checks). Read docs/config.md for every key.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_int.h"
#include "util/buf.h"
#include "util/strv.h"
#include "util/units.h"
#include "util/xmalloc.h"

#define KB 1024ULL
#define MB (1024ULL * KB)
#define GB (1024ULL * MB)
#define SEC 1000ULL
#define MIN (60ULL * SEC)
#define HOUR (60ULL * MIN)

/* Larger config files are refused: most likely the wrong file. */
#define CONFIG_FILE_MAX (16 * MB)

enum limit_kind { LIMIT_SIZE, LIMIT_DURATION, LIMIT_COUNT };

struct limit_def {
	const char *name; /* key under limits: */
	enum limit_kind kind;
	uint64_t def, min, max; /* bytes, milliseconds or a count */
	size_t offset, width;   /* the field in struct limits */
	const char *why;        /* why the range is what it is, or NULL */
};

#define FIELD(f) offsetof(struct limits, f), sizeof(((struct limits *)0)->f)
#define QFIELD(f)                            \
	offsetof(struct queue_retention, f), \
	    sizeof(((struct queue_retention *)0)->f)
#define DAY (24ULL * HOUR)

/* Every limit: docs/config.md lists the same, with the replies. */
static const struct limit_def limit_defs[] = {
	{ "message_size", LIMIT_SIZE, 25 * MB, 1 * KB, 1 * GB,
	    FIELD(message_size), NULL },
	{ "recipients", LIMIT_COUNT, 100, 1, 10000, FIELD(recipients), NULL },
	{ "connections", LIMIT_COUNT, 1000, 1, 100000, FIELD(connections),
	    NULL },
	{ "connections_per_ip", LIMIT_COUNT, 50, 1, 100000,
	    FIELD(connections_per_ip), NULL },
	{ "idle_timeout", LIMIT_DURATION, 300 * SEC, 1 * SEC, 1 * HOUR,
	    FIELD(idle_timeout_ms), NULL },
	{ "session_timeout", LIMIT_DURATION, 30 * MIN, 1 * SEC, 24 * HOUR,
	    FIELD(session_timeout_ms), NULL },
	{ "errors", LIMIT_COUNT, 10, 1, 1000, FIELD(errors), NULL },
	{ "command_line", LIMIT_SIZE, 512, 512, 64 * KB, FIELD(command_line),
	    "RFC 5321 section 4.5.3.1.4 requires at least 512" },
	{ "text_line", LIMIT_SIZE, 1000, 1000, 1 * MB, FIELD(text_line),
	    "RFC 5321 section 4.5.3.1.6 requires at least 1000" },
	{ "shutdown_grace", LIMIT_DURATION, 30 * SEC, 0, 1 * HOUR,
	    FIELD(shutdown_grace_ms), NULL },
};

/*
 * The queue's retention keys (queue.retention ...): limits of the same
 * kind, read by the same code, into struct queue_retention. 0 keeps
 * forever (retention) or sets no cap (rejections_max).
 */
static const struct limit_def queue_limit_defs[] = {
	{ "retention", LIMIT_DURATION, 7 * DAY, 0, 3650 * DAY,
	    QFIELD(retention_ms), "0 keeps forever" },
	{ "rejection_retention", LIMIT_DURATION, 7 * DAY, 0, 3650 * DAY,
	    QFIELD(rejection_retention_ms), "0 keeps forever" },
	{ "rejections_max", LIMIT_COUNT, 100000, 0, 100000000,
	    QFIELD(rejections_max), "0 sets no cap" },
};

/* Sets the field d describes in base (a struct limits or
 * queue_retention). */
static void
limit_set(void *base, const struct limit_def *d, uint64_t v)
{
	char *field = (char *)base + d->offset;

	/* The table's maxima fit every field's width. */
	if (d->width == sizeof(uint64_t)) {
		uint64_t x = v;

		memcpy(field, &x, sizeof(x));
	} else if (d->width == sizeof(uint32_t)) {
		uint32_t x = (uint32_t)v;

		memcpy(field, &x, sizeof(x));
	} else {
		abort(); /* a struct limits field of an unknown width */
	}
}

void
config_default_limits(struct limits *l)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < NELEM(limit_defs); i++)
		limit_set(l, &limit_defs[i], limit_defs[i].def);
}

/* Writes v the way a user would: "25MB", "300s", "100". */
static void
limit_format(char *out, size_t size, enum limit_kind kind, uint64_t v)
{
	static const struct {
		enum limit_kind kind;
		uint64_t unit;
		const char *name;
	} units[] = {
		{ LIMIT_SIZE, GB, "GB" },
		{ LIMIT_SIZE, MB, "MB" },
		{ LIMIT_SIZE, KB, "KB" },
		{ LIMIT_DURATION, HOUR, "h" },
		{ LIMIT_DURATION, MIN, "m" },
		{ LIMIT_DURATION, SEC, "s" },
		{ LIMIT_DURATION, 1, "ms" },
	};
	size_t i;

	if (v == 0 && kind == LIMIT_DURATION) {
		snprintf(out, size, "0s");
		return;
	}
	for (i = 0; i < NELEM(units); i++) {
		if (units[i].kind == kind && v != 0 && v % units[i].unit == 0) {
			snprintf(out, size, "%llu%s",
			    (unsigned long long)(v / units[i].unit),
			    units[i].name);
			return;
		}
	}
	snprintf(out, size, "%llu", (unsigned long long)v);
}

/* Parses a whole number; false on anything else. A '-' is out of range. */
static bool
parse_count(const char *s, uint64_t *v, bool *negative)
{
	uint64_t x = 0;

	*negative = *s == '-';
	if (*negative)
		s++;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (x > (UINT64_MAX - 9) / 10)
			x = UINT64_MAX; /* saturate: out of range anyway */
		else
			x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

static const char *const kind_want[] = {
	[LIMIT_SIZE] = "a size",
	[LIMIT_DURATION] = "a duration",
	[LIMIT_COUNT] = "an integer",
};

static const char *const kind_hint[] = {
	[LIMIT_SIZE] = "use bytes or a unit: 25MB, 512KB",
	[LIMIT_DURATION] = "use a number and a unit: 300s, 5m, 1h",
	[LIMIT_COUNT] = "use a whole number, as 100",
};

/* Reads one limit's value; false after reporting an error. */
static bool
limit_value(struct cfg_ctx *ctx, const struct limit_def *d,
    const struct ynode *n, const char *path, uint64_t *v)
{
	bool ok, negative = false;
	char q[256];

	if (n->kind != YN_SCALAR || n->is_null) {
		cfg_wrong_type(ctx, n, path, kind_want[d->kind]);
		return false;
	}
	if (memchr(n->text, '\0', n->len) != NULL)
		ok = false;
	else if (d->kind == LIMIT_SIZE)
		ok = units_parse_size(n->text, v);
	else if (d->kind == LIMIT_DURATION)
		ok = units_parse_duration(n->text, v);
	else
		ok = parse_count(n->text, v, &negative);
	if (!ok) {
		cfg_quote(q, sizeof(q), n->text, n->len);
		cfg_err(ctx, n, "%s: '%s' is not %s (%s)", path, q,
		    kind_want[d->kind], kind_hint[d->kind]);
		return false;
	}
	/* Out of every range, also of those that start at 0. */
	if (negative)
		*v = UINT64_MAX;
	return true;
}

static void
walk_limit(struct cfg_ctx *ctx, const struct limit_def *d,
    const struct ynode *n, const char *section, void *l)
{
	char path[CFG_PATH_MAX], lo[32], hi[32], q[256];
	uint64_t v;

	cfg_path(path, section, "%s", d->name);
	if (!limit_value(ctx, d, n, path, &v))
		return;
	if (v < d->min || v > d->max) {
		limit_format(lo, sizeof(lo), d->kind, d->min);
		limit_format(hi, sizeof(hi), d->kind, d->max);
		cfg_quote(q, sizeof(q), n->text, n->len);
		cfg_err(ctx, n, "%s: %s is out of range (use %s..%s%s%s)", path,
		    q, lo, hi, d->why != NULL ? "; " : "",
		    d->why != NULL ? d->why : "");
		return;
	}
	limit_set(l, d, v);
}

void
cfg_walk_limits(struct cfg_ctx *ctx, const struct ynode *map, struct limits *l)
{
	const char *names[NELEM(limit_defs)];
	const struct ynode *v[NELEM(limit_defs)], *k[NELEM(limit_defs)];
	size_t i;

	for (i = 0; i < NELEM(limit_defs); i++)
		names[i] = limit_defs[i].name;
	if (!cfg_walk_map(ctx, map, "limits",
		"a mapping (message_size: "
		"25MB, recipients: 100, ...)",
		names, NELEM(names), v, k))
		return;
	for (i = 0; i < NELEM(limit_defs); i++)
		if (v[i] != NULL)
			walk_limit(ctx, &limit_defs[i], v[i], "limits", l);
}

void
config_default_queue_retention(struct queue_retention *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < NELEM(queue_limit_defs); i++)
		limit_set(r, &queue_limit_defs[i], queue_limit_defs[i].def);
}

void
cfg_walk_queue_limit(struct cfg_ctx *ctx, const char *name,
    const struct ynode *n, struct queue_retention *r)
{
	size_t i;

	for (i = 0; i < NELEM(queue_limit_defs); i++)
		if (strcmp(queue_limit_defs[i].name, name) == 0)
			walk_limit(ctx, &queue_limit_defs[i], n, "queue", r);
}

/* Freeing. */

void
config_errors_free(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->items[i]);
	free(errs->items);
	errs->items = NULL;
	errs->n = 0;
}

static void
free_instance(struct instance *inst)
{
	size_t i, j;

	free(inst->host);
	strv_free(inst->sender_domains, inst->n_sender_domains);
	for (i = 0; i < inst->n_triggers; i++) {
		struct trigger *t = &inst->triggers[i];

		free(t->name);
		strv_free(t->recipients, t->n_recipients);
		for (j = 0; j < t->n_steps; j++) {
			free(t->steps[j].url);
			cfg_step_free(&t->steps[j]);
			strv_free(t->steps[j].argv, t->steps[j].argc);
		}
		free(t->steps);
		cfg_free_trigger_rules(t);
	}
	free(inst->triggers);
}

void
cfg_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_listeners; i++) {
		free(cfg->listeners[i].address);
		free(cfg->listeners[i].host);
		free(cfg->listeners[i].port);
	}
	free(cfg->listeners);
	for (i = 0; i < cfg->n_instances; i++)
		free_instance(&cfg->instances[i]);
	free(cfg->instances);
	strv_free(cfg->canonical_names, cfg->n_canonical_names);
	free(cfg->path);
	free(cfg->hostname);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->queue_path);
	free(cfg->postmaster);
	cfg_free_dns(cfg);
	free(cfg);
}

struct config *
config_ref(struct config *cfg)
{
	if (cfg != NULL)
		__atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_RELAXED);
	return cfg;
}

void
config_unref(struct config *cfg)
{
	if (cfg == NULL)
		return;
	if (__atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		cfg_free(cfg);
}

/* Parsing and loading. */

/* gethostname(), or "localhost" when it fails or is not a domain name. */
static char *
default_hostname(void)
{
	char name[256];
	const char *why;

	if (gethostname(name, sizeof(name)) != 0)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	if (!cfg_domain_ok(name, strlen(name), false, &why))
		return xstrdup("localhost");
	cfg_lower(name);
	return xstrdup(name);
}

static void
default_listener(struct config *cfg)
{
	struct listener_config *l;

	cfg->listeners = xcalloc(1, sizeof(*cfg->listeners));
	cfg->n_listeners = 1;
	l = &cfg->listeners[0];
	l->address = xstrdup("127.0.0.1:2525");
	l->host = xstrdup("127.0.0.1");
	l->port = xstrdup("2525");
}

struct config *
config_parse(const char *name, const char *text, size_t len,
    struct config_errors *errs)
{
	struct cfg_ctx ctx = { .name = name };
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct ynode *root;

	cfg->refcount = 1;
	cfg->path = xstrdup(name);
	config_default_limits(&cfg->limits);
	cfg->queue_backend = QUEUE_SQLITE;
	cfg->queue_path = xstrdup("var/queue.db");
	config_default_queue_retention(&cfg->queue_retention);
	root = cfg_yaml_parse(&ctx, text != NULL ? text : "", len);
	if (ctx.n_errs == 0)
		cfg_walk(&ctx, root, cfg);
	cfg_yaml_free(root);
	if (cfg_errors_finish(&ctx, errs) > 0) {
		cfg_free(cfg);
		return NULL;
	}
	if (cfg->hostname == NULL)
		cfg->hostname = default_hostname();
	if (cfg->n_listeners == 0)
		default_listener(cfg);
	return cfg;
}

/* Adds "PATH: message" for a file that cannot be used at all. */
static void
file_error(struct config_errors *errs, const char *path, const char *msg)
{
	struct buf b;

	buf_init(&b, 4096);
	(void)buf_printf(&b, "%s: %s", path, msg);
	errs->items = xreallocarray(errs->items, errs->n + 1,
	    sizeof(*errs->items));
	errs->items[errs->n++] = buf_steal(&b, NULL);
}

/* Reads all of fp into b; returns 0 or an errno value (EFBIG: too big). */
static int
read_all(FILE *fp, struct buf *b)
{
	char chunk[8192];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_append(b, chunk, n) != BUF_OK)
			return EFBIG;
	if (ferror(fp))
		return errno != 0 ? errno : EIO;
	return 0;
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct config *cfg = NULL;
	char msg[512];
	struct buf b;
	FILE *fp;
	int err;

	buf_init(&b, CONFIG_FILE_MAX);
	errno = 0;
	fp = fopen(path, "r");
	if (fp == NULL) {
		err = errno;
		goto fail;
	}
	err = read_all(fp, &b);
	fclose(fp);
	if (err != 0)
		goto fail;
	cfg = config_parse(path, b.data, b.len, errs);
	buf_free(&b);
	return cfg;
fail:
	if (err == EFBIG)
		snprintf(msg, sizeof(msg),
		    "the file is over %lluMB; is it "
		    "the right file?",
		    (unsigned long long)(CONFIG_FILE_MAX / MB));
	else
		snprintf(msg, sizeof(msg),
		    "cannot read the file: %s (check "
		    "the path and its permissions)",
		    strerror(err));
	file_error(errs, path, msg);
	buf_free(&b);
	return NULL;
}

extern const unsigned char mt_sample_config[];
extern const size_t mt_sample_config_len;

struct config *
config_load_default(struct config_errors *errs)
{
	return config_parse("<embedded>", (const char *)mt_sample_config,
	    mt_sample_config_len, errs);
}

/* Lookups. */

const struct instance *
config_find_instance(const struct config *cfg, const char *host, size_t len)
{
	size_t i;

	if (cfg == NULL || host == NULL)
		return NULL;
	/* One trailing dot: an absolute domain name (RFC 1034 3.1). */
	if (len > 0 && host[len - 1] == '.')
		len--;
	for (i = 0; i < cfg->n_instances; i++) {
		const char *h = cfg->instances[i].host;

		if (h != NULL && strlen(h) == len &&
		    strncasecmp(h, host, len) == 0)
			return &cfg->instances[i];
	}
	return NULL;
}

const struct trigger *
config_find_trigger(const struct instance *inst, const char *name, size_t len)
{
	size_t i;

	if (inst == NULL || name == NULL)
		return NULL;
	for (i = 0; i < inst->n_triggers; i++) {
		const char *t = inst->triggers[i].name;

		if (t != NULL && strlen(t) == len &&
		    strncasecmp(t, name, len) == 0)
			return &inst->triggers[i];
	}
	return NULL;
}
