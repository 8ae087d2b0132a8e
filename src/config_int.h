/*
 * config_int - internals shared by the config module's files (config.c,
 * config_yaml.c, config_walk.c, config_names.c). Not for other modules.
 *
 * Pure. The YAML text is first turned into a small tree of ynodes (each
 * with its 1-based line and column, which libfyaml 0.7's document API does
 * not expose for collections), then walked against the schema to build a
 * struct config. Every problem found on the way is an error with a
 * position; the walk never stops at the first one. Read docs/config.md.
 */
#ifndef MT_CONFIG_INT_H
#define MT_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Deeper nesting than any valid config needs (the sample needs 10). */
#define CFG_DEPTH_MAX 64
/* After this many errors the rest are dropped (hostile or wrong file). */
#define CFG_ERRORS_MAX 100
/* Room for a key path in messages ("instances[3].triggers.x.flow[0]"). */
#define CFG_PATH_MAX 256

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

/*
 * One YAML node. A mapping keeps its pairs flat in kids: key, value, key,
 * value... Scalars own a NUL terminated copy of their text (which may hold
 * NUL characters written as "\0": len is the real length).
 */
struct ynode {
	enum ynode_kind kind;
	bool is_null; /* plain scalar "", "~", "null": a value left out */
	unsigned line, column; /* 1-based */
	char *text;
	size_t len;
	struct ynode **kids;
	size_t n_kids;
	size_t cap_kids;
	struct ynode *parent;
};

struct cfg_error {
	unsigned line, column;
	size_t seq; /* order of reporting, to keep the sort stable */
	char *msg;
};

/* The state of one config_parse() call. */
struct cfg_ctx {
	const char *name;
	struct cfg_error *errs;
	size_t n_errs;
	bool overflow; /* more than CFG_ERRORS_MAX errors were reported */
	unsigned over_line, over_column;
	size_t seq;
};

/* Records "line:column: message"; formatted later by cfg_errors_finish. */
void cfg_err_at(struct cfg_ctx *ctx, unsigned line, unsigned column,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Records an error at node n's position. */
void cfg_err(struct cfg_ctx *ctx, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Sorts the errors by position and moves them to out as
 * "NAME:LINE:COLUMN: message". Returns the number of errors.
 */
size_t cfg_errors_finish(struct cfg_ctx *ctx, struct config_errors *out);

/*
 * Parses text into a tree. Returns the root, or NULL with errors recorded
 * (not UTF-8 text, YAML syntax, aliases, too deep, several documents) or,
 * with no error recorded, for an empty document.
 */
struct ynode *cfg_yaml_parse(struct cfg_ctx *ctx, const char *text, size_t len);
void cfg_yaml_free(struct ynode *root);

/* "a string", "a mapping", "a sequence" or "nothing (null)": for messages. */
const char *cfg_kind_name(const struct ynode *n);
/*
 * Writes s (len bytes) into out for a message: printable ASCII as is,
 * other bytes as \xNN, cut with "..." past a few dozen characters.
 */
void cfg_quote(char *out, size_t size, const char *s, size_t len);

/*
 * Builds cfg from the document root. Every problem is recorded in ctx;
 * the config is usable only when ctx has no errors.
 */
void cfg_walk(struct cfg_ctx *ctx, const struct ynode *root,
    struct config *cfg);
/* Parses the limits mapping into l (config.c, next to the limits table). */
void cfg_walk_limits(struct cfg_ctx *ctx, const struct ynode *map,
    struct limits *l);
/* queue.<name> for a retention key (config.c's table); others ignored. */
void cfg_walk_queue_limit(struct cfg_ctx *ctx, const char *name,
    const struct ynode *n, struct queue_retention *r);

/*
 * Marks in skip[] (one per pair) the pairs of map not to look at, after
 * reporting them: keys that are not strings, and repeated keys (YAML 1.2
 * section 3.2.1.1: the keys of a mapping are unique).
 */
void cfg_check_keys(struct cfg_ctx *ctx, const struct ynode *map,
    const char *path, bool *skip);
/*
 * A mapping checked against its allowed keys: found[i] is the value of
 * keys[i] or NULL, fkey[i] its key. Unknown and duplicate keys are
 * reported. When map is not a mapping, reports "PATH: expected WANT, got
 * KIND" and returns false.
 */
bool cfg_walk_map(struct cfg_ctx *ctx, const struct ynode *map,
    const char *path, const char *want, const char *const *keys, size_t n_keys,
    const struct ynode **found, const struct ynode **fkey);
/* Reports "PATH: missing key 'KEY' (add HINT)" at map. */
void cfg_missing(struct cfg_ctx *ctx, const struct ynode *map, const char *path,
    const char *key, const char *hint);
/* Writes PATH + fmt into out (CFG_PATH_MAX), cut if too long. */
void cfg_path(char *out, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports "PATH: expected WANT, got KIND" at n. */
void cfg_wrong_type(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, const char *want);

/* Returns a copy of a string value, or NULL after reporting an error. */
char *cfg_get_string(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path);
/* A domain name value: checked, lower-cased, trailing dot dropped. */
char *cfg_get_domain(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, bool wildcards);

/* Checks and copies one list item; NULL after reporting an error. */
typedef char *(
    *cfg_item_fn)(struct cfg_ctx *, const struct ynode *, const char *);
char *cfg_item_domain(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path);
char *cfg_item_pattern(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path);
/*
 * A list of strings, each checked by fn. A null value is an empty list.
 * Returns a NULL terminated array (NULL when there are no items).
 */
char **cfg_get_list(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, cfg_item_fn fn, size_t *count);
/*
 * A trigger's message rules (config_rules.c): defaults, the walks of
 * extract, dedup and auto_replies, and freeing what they allocate.
 */
void cfg_trigger_defaults(struct trigger *t);
void cfg_walk_extract(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, struct trigger *t);
void cfg_walk_dedup(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, struct trigger *t);
void cfg_walk_auto_replies(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, struct trigger *t);
void cfg_free_trigger_rules(struct trigger *t);
/* A YAML 1.2 core schema boolean (true/True/TRUE, false/...) into *out. */
void cfg_walk_bool(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    bool *out);
/* triggers.<name>.senders (config_rules.c): the sender policy's list. */
void cfg_walk_senders(struct cfg_ctx *ctx, const struct ynode *n,
    const char *path, struct trigger *t);
/* The dns section (config_dns.c): dns.servers; freeing it. */
void cfg_walk_dns(struct cfg_ctx *ctx, const struct ynode *n,
    struct config *cfg);
void cfg_free_dns(struct config *cfg);
/* Walks instances: (config_instances.c). */
void cfg_walk_instances(struct cfg_ctx *ctx, const struct ynode *n,
    struct config *cfg);

/*
 * Step options (config_steps.c). The keys follow a step's own keys in
 * this order; a step kind takes the first n: exec 2, http 4.
 */
#define CFG_STEP_KEYS "timeout", "retry", "secret_env", "max_in_flight"
void cfg_step_defaults(struct flow_step *st);
void cfg_step_options(struct cfg_ctx *ctx, const char *path,
    const struct ynode *const *v, size_t n, struct flow_step *st);
void cfg_step_free(struct flow_step *st);

/* Checks a name, as in config_names.c; false with a reason for messages. */
bool cfg_domain_ok(const char *s, size_t len, bool wildcards, const char **why);
bool cfg_label_ok(const char *s, size_t len, const char **why);
/* Splits and checks a listen address; false with a reason. */
bool cfg_listen_parse(const char *s, size_t len, struct listener_config *out,
    const char **why);
/* A name for cfg_find_dups; s == NULL never matches anything. */
struct cfg_name {
	const char *s;
	size_t len;
};

/*
 * Sets first[i] to the index of the first name equal to names[i] (byte
 * for byte), i itself when there is none before it.
 */
void cfg_find_dups(const struct cfg_name *names, size_t n, size_t *first);
/*
 * The same for the `char *` at offset in each of n structs of size
 * stride starting at base. Returns first[] (n entries; the caller frees).
 */
size_t *cfg_dups_of(const void *base, size_t n, size_t stride, size_t offset);
/* Lower-cases s in place (ASCII only). */
void cfg_lower(char *s);
/* Cross checks between instances (duplicates, ambiguous hosts). */
void cfg_check_instances(struct cfg_ctx *ctx, struct config *cfg);

void cfg_free(struct config *cfg);

#endif
