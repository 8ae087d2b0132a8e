/*
 * config - the gateway's YAML configuration (libfyaml), validated into an
 * immutable struct.
 *
 * Pure apart from config_load(), which reads a file. Parsing never stops at
 * the first problem: every error is collected as "FILE:LINE:COLUMN: message"
 * (unknown keys, wrong types, duplicate instances or triggers, unparsable
 * sizes and durations, out-of-range limits) so `check-config` can show them
 * all. A struct config is immutable after loading and reference counted:
 * the server holds one reference for the current config, and each SMTP
 * session holds one for the config it started with, so a SIGHUP reload
 * never changes a session in progress. Read docs/config.md for every key.
 */
#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Limits, each with a default, a minimum and a maximum declared in
 * config.c (one table). Pure code (the SMTP session) receives this struct,
 * so tests and fuzzers can set tiny limits.
 */
struct limits {
	uint64_t message_size;       /* limits.message_size, default 25MB */
	unsigned recipients;         /* limits.recipients, default 100 */
	unsigned connections;        /* limits.connections, default 1000 */
	unsigned connections_per_ip; /* limits.connections_per_ip, default 50 */
	uint64_t idle_timeout_ms;    /* limits.idle_timeout, default 300s */
	uint64_t session_timeout_ms; /* limits.session_timeout, default 30m */
	unsigned errors;             /* limits.errors, default 10 */
	size_t command_line;         /* limits.command_line, default 512 */
	size_t text_line;            /* limits.text_line, default 1000 */
	uint64_t shutdown_grace_ms;  /* limits.shutdown_grace, default 30s */
};

struct listener_config {
	char *address; /* as written: "127.0.0.1:2525", "[::1]:25" */
	char *host;    /* "127.0.0.1", "::1" */
	char *port;    /* "2525" */
	unsigned line, column;
};

enum step_kind { STEP_HTTP, STEP_EXEC };

struct flow_step {
	enum step_kind kind;
	char *url;   /* STEP_HTTP */
	char **argv; /* STEP_EXEC: NULL terminated */
	size_t argc;
	uint64_t timeout_ms; /* timeout, default 30s (docs/flows.md) */
	char *secret_env;    /* STEP_HTTP secret_env: a variable's name */
	char *secret;        /* its value, read at load; NULL: no signature */
	/* retry: {first, max, max_age, attempts}; see flow/backoff.h */
	uint64_t retry_first_ms, retry_max_ms, retry_max_age_ms;
	unsigned retry_attempts; /* 0 = no limit by count */
	unsigned max_in_flight;  /* STEP_HTTP: requests at once, default 32 */
	unsigned line, column;
};

/* Where an extracted property is taken from (docs/flows-rules.md). */
enum extract_from {
	EXTRACT_FROM_SUBJECT,
	EXTRACT_FROM_BODY,   /* the text body */
	EXTRACT_FROM_HEADER, /* the first field named header */
	EXTRACT_FROM_TAG,    /* the +tag of the recipient */
};

struct rx; /* util/regex.h */

/* triggers.<name>.extract.<NAME>: one named property. */
struct extract_prop {
	char *name;
	enum extract_from from;
	char *header;  /* EXTRACT_FROM_HEADER: the field name */
	char *regex;   /* as written */
	struct rx *rx; /* compiled at load; captures the group "value" */
	char *def;     /* `default`, or NULL */
	bool required;
	unsigned line, column;
};

/* triggers.<name>.auto_replies: what automatic mail does. */
enum auto_replies {
	AUTO_REPLIES_IGNORE = 0, /* recorded with the reason; no flow */
	AUTO_REPLIES_FLAG,       /* flow runs, event has auto_reply: true */
	AUTO_REPLIES_TRIGGER,    /* flow runs as for any mail */
};

#define DEDUP_WINDOW_DEFAULT_MS (24ULL * 60 * 60 * 1000)

struct trigger {
	char *name;        /* lower case */
	char **recipients; /* NULL = any recipient; else allowed local parts */
	size_t n_recipients;
	struct flow_step *steps;
	size_t n_steps;
	unsigned line, column;
	struct extract_prop *extract; /* `extract`, in the order written */
	size_t n_extract;
	char *dedup_key; /* dedup.key template; NULL = the default key */
	uint64_t dedup_window_ms; /* dedup.window, default 24h */
	enum auto_replies auto_replies;
	/* senders: NULL = any sender; else "local@domain", "*@domain" or
	 * "<>", domain lower-cased (route/policy.h, docs/routing.md) */
	char **senders;
	size_t n_senders;
};

struct instance {
	char *host; /* lower case, no trailing dot */
	char **sender_domains;
	size_t n_sender_domains;
	/* accept_cname_expanded: recover a recipient at a canonical name
	 * for this instance (docs/routing.md, "CNAME recovery") */
	bool accept_cname_expanded;
	struct trigger *triggers;
	size_t n_triggers;
	unsigned line, column;
};

enum queue_backend { QUEUE_SQLITE };

/*
 * queue.retention, queue.rejection_retention, queue.rejections_max: what
 * the gateway deletes, and when (docs/queue.md, "Retention"); limits in
 * config.c's table. 0 keeps forever (durations) or sets no cap.
 */
struct queue_retention {
	uint64_t retention_ms;           /* ended messages, default 7d */
	uint64_t rejection_retention_ms; /* rejections rows, default 7d */
	unsigned rejections_max;         /* rejections rows, default 100000 */
};

struct config {
	char *
	    path; /* file the config came from ("<embedded>" for the default) */
	char *hostname; /* `hostname`: our name in the banner and Received:;
			   default gethostname() */
	struct listener_config *listeners;
	size_t n_listeners;
	struct limits limits;
	char *tls_cert; /* tls.certificate, or NULL: then no STARTTLS */
	char *tls_key;  /* tls.key */
	enum queue_backend queue_backend;
	char *queue_path; /* queue.path, default var/queue.db */
	struct queue_retention queue_retention;
	/* queue.hold: mail is accepted and queued, no flow step starts
	 * (docs/queue.md, "Holding delivery"); default false. */
	bool queue_hold;
	char **canonical_names;
	size_t n_canonical_names;
	struct instance *instances;
	size_t n_instances;
	/*
	 * `postmaster`: "trigger@instance-host" that takes mail for the
	 * RFC 5321 4.5.1 postmaster (<Postmaster>, postmaster@hostname or
	 * @ a canonical name). NULL: such mail gets 550 5.1.1. The pointers
	 * are into instances[].
	 */
	char *postmaster;
	const struct instance *postmaster_instance;
	const struct trigger *postmaster_trigger;
	/*
	 * dns.servers: the name servers of every c-ares resolver the
	 * gateway makes (doctor, check-dns), in c-ares' form "IP:PORT" or
	 * "[IPv6]:PORT"; dns_servers_csv joins them with commas for
	 * dns_config.servers. NULL / 0: the system resolver
	 * (/etc/resolv.conf).
	 */
	char **dns_servers;
	size_t n_dns_servers;
	char *dns_servers_csv;
	int refcount;
};

/* A list of "FILE:LINE:COLUMN: message" strings; owns them. */
struct config_errors {
	char **items;
	size_t n;
};

void config_errors_free(struct config_errors *errs);

/*
 * Parses YAML text. name is used in error messages and becomes cfg->path.
 * Returns the config (refcount 1, owned by the caller) or NULL, in which
 * case errs holds at least one error. errs must be zeroed by the caller.
 */
struct config *config_parse(const char *name, const char *text, size_t len,
    struct config_errors *errs);
/* Reads and parses a file; an unreadable file is one error naming it. */
struct config *config_load(const char *path, struct config_errors *errs);
/* Parses the embedded sample config (etc/mailtrigger.yaml). */
struct config *config_load_default(struct config_errors *errs);
/* Fills l with the documented defaults. */
void config_default_limits(struct limits *l);
/* Fills r with the documented defaults (7d, 7d, 100000). */
void config_default_queue_retention(struct queue_retention *r);

struct config *config_ref(struct config *cfg);
/* Drops a reference; frees the config with the last one. NULL is a no-op. */
void config_unref(struct config *cfg);

/* Lookups; name comparisons are ASCII case-insensitive. NULL = not found. */
const struct instance *config_find_instance(const struct config *cfg,
    const char *host, size_t len);
const struct trigger *config_find_trigger(const struct instance *inst,
    const char *name, size_t len);

/* dns.servers and --dns: at most this many servers, each this long. */
#define CONFIG_DNS_SERVERS_MAX 8
#define CONFIG_DNS_SERVER_LEN 64

/*
 * Pure: checks one name server, the first len bytes of the C string s,
 * written "IP", "IP:PORT", "[IPv6]", "[IPv6]:PORT" or a bare IPv6
 * address (port 53 when left out), and writes it in c-ares' form
 * ("IP:PORT", "[IPv6]:PORT") into out. False with a reason for a
 * message in *why ("has no valid port ...").
 */
bool config_dns_server(const char *s, size_t len, char *out, size_t outlen,
    const char **why);
/*
 * Pure: a comma-separated list of such servers (the command line's
 * --dns) as a c-ares CSV string the caller frees, or NULL with the
 * offending item in bad and the reason in *why.
 */
char *config_dns_servers_csv(const char *list, char *bad, size_t badlen,
    const char **why);

#endif
