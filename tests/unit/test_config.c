/*
 * test_config - the config module: the sample config, every error class
 * with its exact "FILE:LINE:COLUMN: message", hostile input, sizes and
 * durations, defaults, lookups and reference counting.
 *
 * Table driven: each row has a name; a failure prints the row, what came
 * out and what was wanted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define KB 1024ULL
#define MB (1024ULL * KB)
#define GB (1024ULL * MB)
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Helpers. */

static void
print_errors(const char *label, const struct config_errors *e)
{
	size_t i;

	print_message("  %s (%zu):\n", label, e->n);
	for (i = 0; i < e->n; i++)
		print_message("    %s\n", e->items[i]);
}

static struct config *
parse_ok(const char *row, const char *yaml)
{
	struct config_errors e = { 0 };
	struct config *cfg;

	cfg = config_parse("t.yaml", yaml, strlen(yaml), &e);
	if (cfg == NULL || e.n != 0) {
		print_message("row %s: want a config, got errors\n", row);
		print_errors("got", &e);
		config_errors_free(&e);
		fail();
	}
	return cfg;
}

/* Parses len bytes and checks the errors are exactly want (NULL ended). */
static void
expect_errors_len(const char *row, const char *yaml, size_t len,
    const char *const *want)
{
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t i, n_want = 0;
	bool same;

	while (want[n_want] != NULL)
		n_want++;
	cfg = config_parse("t.yaml", yaml, len, &e);
	same = cfg == NULL && e.n == n_want;
	for (i = 0; same && i < n_want; i++)
		same = strcmp(e.items[i], want[i]) == 0;
	if (!same) {
		print_message("row %s: errors differ (config %s)\n", row,
		    cfg != NULL ? "returned" : "NULL");
		print_errors("got", &e);
		print_message("  want (%zu):\n", n_want);
		for (i = 0; i < n_want; i++)
			print_message("    %s\n", want[i]);
	}
	config_unref(cfg);
	config_errors_free(&e);
	if (!same)
		fail();
}

static void
expect_errors(const char *row, const char *yaml, const char *const *want)
{
	expect_errors_len(row, yaml, strlen(yaml), want);
}

static char *
read_sample_path(void)
{
	const char *dir = getenv("MT_SOURCE_DIR");
	size_t n;
	char *p;

	if (dir == NULL)
		dir = ".";
	n = strlen(dir) + sizeof("/etc/mailtrigger.yaml");
	p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/etc/mailtrigger.yaml", dir);
	return p;
}

#define CHECK_STR(row, got, want)                                          \
	do {                                                               \
		const char *g_ = (got), *w_ = (want);                      \
		if (g_ == NULL || strcmp(g_, w_) != 0) {                   \
			print_message("row %s: %s: got '%s', want '%s'\n", \
			    row, #got, g_ != NULL ? g_ : "(null)", w_);    \
			fail();                                            \
		}                                                          \
	} while (0)

#define CHECK_NUM(row, got, want)                                          \
	do {                                                               \
		unsigned long long g_ = (got), w_ = (want);                \
		if (g_ != w_) {                                            \
			print_message("row %s: %s: got %llu, want %llu\n", \
			    row, #got, g_, w_);                            \
			fail();                                            \
		}                                                          \
	} while (0)

/* The sample config (etc/mailtrigger.yaml), from disk and embedded. */

static void
check_sample(const char *row, const struct config *cfg)
{
	const struct instance *inst;
	const struct trigger *t;

	CHECK_STR(row, cfg->hostname, "mailtrigger.localhost");
	CHECK_NUM(row, cfg->n_listeners, 1);
	CHECK_STR(row, cfg->listeners[0].address, "127.0.0.1:2525");
	CHECK_STR(row, cfg->listeners[0].host, "127.0.0.1");
	CHECK_STR(row, cfg->listeners[0].port, "2525");
	CHECK_NUM(row, cfg->limits.message_size, 25 * MB);
	CHECK_NUM(row, cfg->limits.recipients, 100);
	CHECK_NUM(row, cfg->limits.connections, 1000);
	CHECK_NUM(row, cfg->limits.connections_per_ip, 50);
	CHECK_NUM(row, cfg->limits.idle_timeout_ms, 300000);
	CHECK_NUM(row, cfg->limits.session_timeout_ms, 1800000);
	CHECK_NUM(row, cfg->limits.errors, 10);
	CHECK_NUM(row, cfg->limits.command_line, 512);
	CHECK_NUM(row, cfg->limits.text_line, 1000);
	CHECK_NUM(row, cfg->limits.shutdown_grace_ms, 30000);
	CHECK_NUM(row, cfg->queue_backend, QUEUE_SQLITE);
	CHECK_STR(row, cfg->queue_path, "var/queue.db");
	assert_null(cfg->tls_cert);
	assert_null(cfg->tls_key);
	CHECK_NUM(row, cfg->n_canonical_names, 1);
	CHECK_STR(row, cfg->canonical_names[0], "mailtrigger.localhost");
	CHECK_NUM(row, cfg->n_instances, 1);
	inst = &cfg->instances[0];
	CHECK_STR(row, inst->host, "demo.localhost");
	CHECK_NUM(row, inst->n_sender_domains, 1);
	CHECK_STR(row, inst->sender_domains[0], "example.com");
	CHECK_NUM(row, inst->accept_cname_expanded, false);
	CHECK_NUM(row, inst->n_triggers, 2);
	t = &inst->triggers[0];
	CHECK_STR(row, t->name, "alert");
	assert_null(t->recipients);
	CHECK_NUM(row, t->n_steps, 1);
	CHECK_NUM(row, t->steps[0].kind, STEP_EXEC);
	CHECK_NUM(row, t->steps[0].argc, 3);
	CHECK_STR(row, t->steps[0].argv[0], "/bin/sh");
	CHECK_STR(row, t->steps[0].argv[1], "-c");
	CHECK_STR(row, t->steps[0].argv[2], "cat > var/last-alert.json");
	assert_null(t->steps[0].argv[3]);
	t = &inst->triggers[1];
	CHECK_STR(row, t->name, "deploy");
	CHECK_NUM(row, t->n_recipients, 2);
	CHECK_STR(row, t->recipients[0], "ops");
	CHECK_STR(row, t->recipients[1], "dev");
	CHECK_NUM(row, t->n_steps, 1);
	CHECK_NUM(row, t->steps[0].kind, STEP_HTTP);
	CHECK_STR(row, t->steps[0].url, "http://127.0.0.1:8080/hooks/deploy");
	CHECK_NUM(row, cfg->refcount, 1);
}

static void
test_sample_file(void **state)
{
	struct config_errors e = { 0 };
	char *path = read_sample_path();
	struct config *cfg;

	cfg = config_load(path, &e);
	if (cfg == NULL)
		print_errors("sample errors", &e);
	assert_non_null(cfg);
	CHECK_STR("sample file", cfg->path, path);
	check_sample("sample file", cfg);
	config_unref(cfg);
	config_errors_free(&e);
	free(path);
}

static void
test_sample_embedded(void **state)
{
	struct config_errors e = { 0 };
	struct config *cfg;

	cfg = config_load_default(&e);
	if (cfg == NULL)
		print_errors("embedded errors", &e);
	assert_non_null(cfg);
	CHECK_STR("embedded", cfg->path, "<embedded>");
	check_sample("embedded", cfg);
	config_unref(cfg);
}

/* Defaults. */

static void
test_default_limits(void **state)
{
	struct limits l;

	memset(&l, 0xff, sizeof(l));
	config_default_limits(&l);
	CHECK_NUM("defaults", l.message_size, 25 * MB);
	CHECK_NUM("defaults", l.recipients, 100);
	CHECK_NUM("defaults", l.connections, 1000);
	CHECK_NUM("defaults", l.connections_per_ip, 50);
	CHECK_NUM("defaults", l.idle_timeout_ms, 300 * 1000);
	CHECK_NUM("defaults", l.session_timeout_ms, 30 * 60 * 1000);
	CHECK_NUM("defaults", l.errors, 10);
	CHECK_NUM("defaults", l.command_line, 512);
	CHECK_NUM("defaults", l.text_line, 1000);
	CHECK_NUM("defaults", l.shutdown_grace_ms, 30 * 1000);
}

static void
test_defaults_when_absent(void **state)
{
	struct config *cfg = parse_ok("minimal", "instances: []\n");
	struct limits want;

	config_default_limits(&want);
	assert_memory_equal(&cfg->limits, &want, sizeof(want));
	assert_non_null(cfg->hostname);
	assert_true(strlen(cfg->hostname) > 0);
	CHECK_NUM("minimal", cfg->n_listeners, 1);
	CHECK_STR("minimal", cfg->listeners[0].address, "127.0.0.1:2525");
	CHECK_STR("minimal", cfg->listeners[0].host, "127.0.0.1");
	CHECK_STR("minimal", cfg->listeners[0].port, "2525");
	CHECK_STR("minimal", cfg->queue_path, "var/queue.db");
	CHECK_NUM("minimal", cfg->queue_backend, QUEUE_SQLITE);
	CHECK_NUM("minimal", cfg->n_instances, 0);
	CHECK_NUM("minimal", cfg->n_canonical_names, 0);
	assert_null(cfg->tls_cert);
	config_unref(cfg);
}

/* Values that parse, and what they become. */

static void
test_values(void **state)
{
	struct config *cfg = parse_ok("values",
	    "hostname: MX1.Example.COM.\n"
	    "listen:\n"
	    "  - address: \"[::1]:25\"\n"
	    "  - address: localhost:0\n"
	    "  - address: 0.0.0.0:65535\n"
	    "  - address: 127.0.0.1:0\n"
	    "  - address: 127.0.0.1:0\n"
	    "tls: {certificate: /etc/c.pem, key: /etc/k.pem}\n"
	    "queue: {backend: sqlite, path: /var/lib/mt/q.db}\n"
	    "canonical_names: [LB-*.MX.Example.net, mx.example.net.]\n"
	    "instances:\n"
	    "  - host: ACME.Triggers.Example.com.\n"
	    "    sender_domains: [Acme.COM]\n"
	    "    accept_cname_expanded: true\n"
	    "    triggers:\n"
	    "      DB-Outage:\n"
	    "        recipients: [Oncall-DBA]\n"
	    "        flow:\n"
	    "          - http: {url: 'HTTPS://hooks.example.com/x'}\n"
	    "          - exec: {command: [/bin/echo, '', \"a b\"]}\n");
	const struct instance *inst = &cfg->instances[0];
	const struct trigger *t = &inst->triggers[0];

	CHECK_STR("values", cfg->hostname, "mx1.example.com");
	CHECK_NUM("values", cfg->n_listeners, 5);
	CHECK_STR("values", cfg->listeners[0].host, "::1");
	CHECK_STR("values", cfg->listeners[0].port, "25");
	CHECK_STR("values", cfg->listeners[0].address, "[::1]:25");
	CHECK_NUM("values", cfg->listeners[0].line, 3);
	CHECK_NUM("values", cfg->listeners[0].column, 14);
	CHECK_STR("values", cfg->listeners[1].host, "localhost");
	CHECK_STR("values", cfg->listeners[1].port, "0");
	CHECK_STR("values", cfg->listeners[2].port, "65535");
	CHECK_STR("values", cfg->tls_cert, "/etc/c.pem");
	CHECK_STR("values", cfg->tls_key, "/etc/k.pem");
	CHECK_STR("values", cfg->queue_path, "/var/lib/mt/q.db");
	CHECK_STR("values", cfg->canonical_names[0], "lb-*.mx.example.net");
	CHECK_STR("values", cfg->canonical_names[1], "mx.example.net");
	CHECK_STR("values", inst->host, "acme.triggers.example.com");
	CHECK_NUM("values", inst->line, 12);
	CHECK_NUM("values", inst->column, 11);
	CHECK_STR("values", inst->sender_domains[0], "acme.com");
	CHECK_NUM("values", inst->accept_cname_expanded, true);
	CHECK_STR("values", t->name, "db-outage");
	CHECK_NUM("values", t->line, 16);
	CHECK_NUM("values", t->column, 7);
	CHECK_STR("values", t->recipients[0], "Oncall-DBA");
	CHECK_NUM("values", t->n_steps, 2);
	CHECK_NUM("values", t->steps[0].line, 19);
	CHECK_NUM("values", t->steps[0].column, 13);
	CHECK_STR("values", t->steps[0].url, "HTTPS://hooks.example.com/x");
	CHECK_NUM("values", t->steps[1].argc, 3);
	CHECK_STR("values", t->steps[1].argv[1], "");
	CHECK_STR("values", t->steps[1].argv[2], "a b");
	config_unref(cfg);
}

/* Every error class, with its exact position and message. */

#define MAX_WANT 6

struct err_row {
	const char *name;
	const char *yaml;
	const char *want[MAX_WANT + 1];
};

/* Lines 1-3 of a config with one instance; triggers follow at line 4. */
#define INST "instances:\n  - host: a.example\n    triggers:\n"
/* Line 4 "      t:" then "        flow:" (5); steps from line 6. */
#define STEP INST "      t:\n        flow:\n          - "
#define FLOW_OK "{flow: [{exec: {command: [/bin/true]}}]}"
#define TOP_KEYS                                                             \
	"hostname, listen, limits, tls, queue, canonical_names, instances, " \
	"postmaster, dns"
#define LIMIT_KEYS                                                         \
	"message_size, recipients, connections, connections_per_ip, "      \
	"idle_timeout, session_timeout, errors, command_line, text_line, " \
	"shutdown_grace"
#define TRIGGER_RULE                                                         \
	" (a trigger name is a DNS label: letters, digits and '-', at most " \
	"63)"
#define LISTEN1 "listen:\n  - address: "

static const struct err_row key_rows[] = {
	{ "unknown top-level key", "limts: {}\n",
	    { "t.yaml:1:1: unknown key 'limts' in top level (allowed: " TOP_KEYS
	      ")" } },
	{ "unknown key in limits", "limits:\n  recipiants: 5\n",
	    { "t.yaml:2:3: unknown key 'recipiants' in limits "
	      "(allowed: " LIMIT_KEYS ")" } },
	{ "unknown key deep in a step",
	    STEP "exec: {command: [x], shell: true}\n",
	    { "t.yaml:6:34: unknown key 'shell' in "
	      "instances[0].triggers.t.flow[0].exec (allowed: command, "
	      "timeout, retry)" } },
	{ "unknown key is case sensitive", "Hostname: a.example\n",
	    { "t.yaml:1:1: unknown key 'Hostname' in top level "
	      "(allowed: " TOP_KEYS ")" } },
	{ "duplicate top-level key",
	    "hostname: a.example\nhostname: b.example\n",
	    { "t.yaml:2:1: duplicate key 'hostname' in top level (first at "
	      "line 1, column 1); keep one" } },
	{ "duplicate key in limits", "limits:\n  errors: 5\n  errors: 6\n",
	    { "t.yaml:3:3: duplicate key 'errors' in limits (first at line 2, "
	      "column 3); keep one" } },
	{ "key that is a sequence", "? [a]\n: 1\n",
	    { "t.yaml:1:3: a key in top level is a sequence; keys must be "
	      "plain names" } },
	{ "config is a sequence", "- a\n- b\n",
	    { "t.yaml:1:1: the config is a sequence; it must be a mapping "
	      "with some of: " TOP_KEYS } },
	{ "config is a string", "hello\n",
	    { "t.yaml:1:1: the config is a string; it must be a mapping "
	      "with some of: " TOP_KEYS } },
	{ "syntax: unclosed flow sequence", "listen: [\n",
	    { "t.yaml:2:1: YAML syntax error: flow sequence without a "
	      "closing bracket" } },
	{ "syntax: bad indentation", "limits:\n  errors: 5\n errors2: 6\n",
	    { "t.yaml:3:2: YAML syntax error: invalid indentation in "
	      "mapping" } },
	{ "syntax: unterminated quote", "hostname: 'abc\n",
	    { "t.yaml:1:12: YAML syntax error: single-quoted scalar without "
	      "closing quote" } },
	{ "second document", "hostname: a.example\n---\nhostname: b.example\n",
	    { "t.yaml:2:1: a second YAML document; a config is one document "
	      "(remove this '---' and what follows, or merge it into the "
	      "first)" } },
	{ "alias", "hostname: &h a.example\nqueue: {path: *h}\n",
	    { "t.yaml:2:15: YAML aliases (*name) are not supported (write the "
	      "value out)" } },
	{ 0 },
};

static const struct err_row limit_rows[] = {
	{ "integer given a sequence", "limits:\n  recipients: [1]\n",
	    { "t.yaml:2:15: limits.recipients: expected an integer, got a "
	      "sequence" } },
	{ "integer given a word", "limits: {recipients: ten}\n",
	    { "t.yaml:1:22: limits.recipients: 'ten' is not an integer (use a "
	      "whole number, as 100)" } },
	{ "integer left empty", "limits:\n  errors:\n",
	    { "t.yaml:2:3: limits.errors: expected an integer, got nothing "
	      "(null)" } },
	{ "size with a space", "limits:\n  message_size: 25 MB\n",
	    { "t.yaml:2:17: limits.message_size: '25 MB' is not a size (use "
	      "bytes or a unit: 25MB, 512KB)" } },
	{ "duration as a word", "limits:\n  idle_timeout: soon\n",
	    { "t.yaml:2:17: limits.idle_timeout: 'soon' is not a duration "
	      "(use a number and a unit: 300s, 5m, 1h)" } },
	{ "count zero", "limits:\n  recipients: 0\n",
	    { "t.yaml:2:15: limits.recipients: 0 is out of range (use "
	      "1..10000)" } },
	{ "count negative", "limits:\n  errors: -1\n",
	    { "t.yaml:2:11: limits.errors: -1 is out of range (use "
	      "1..1000)" } },
	{ "size over the maximum", "limits:\n  message_size: 2GB\n",
	    { "t.yaml:2:17: limits.message_size: 2GB is out of range (use "
	      "1KB..1GB)" } },
	{ "command line under RFC 5321", "limits:\n  command_line: 100\n",
	    { "t.yaml:2:17: limits.command_line: 100 is out of range (use "
	      "512..64KB; RFC 5321 section 4.5.3.1.4 requires at least "
	      "512)" } },
	{ "text line under RFC 5321", "limits: {text_line: 999}\n",
	    { "t.yaml:1:21: limits.text_line: 999 is out of range (use "
	      "1000..1MB; RFC 5321 section 4.5.3.1.6 requires at least "
	      "1000)" } },
	{ "idle timeout too long", "limits: {idle_timeout: 2h}\n",
	    { "t.yaml:1:24: limits.idle_timeout: 2h is out of range (use "
	      "1s..1h)" } },
	{ "session timeout too long", "limits: {session_timeout: 25h}\n",
	    { "t.yaml:1:27: limits.session_timeout: 25h is out of range (use "
	      "1s..24h)" } },
	{ "limits not a mapping", "limits: 5\n",
	    { "t.yaml:1:9: limits: expected a mapping (message_size: 25MB, "
	      "recipients: 100, ...), got a string" } },
	{ 0 },
};

static const struct err_row instance_rows[] = {
	{ "duplicate host, case and trailing dot",
	    "instances:\n  - host: Acme.Example.com\n"
	    "  - host: acme.example.com.\n",
	    { "t.yaml:3:11: instances[1].host: 'acme.example.com' is already "
	      "the host of instances[0] (line 2); give each instance its own "
	      "host" } },
	{ "host that is another instance's trigger.host",
	    INST "      x: " FLOW_OK "\n  - host: x.a.example\n",
	    { "t.yaml:5:11: instances[1].host: 'x.a.example' is also trigger "
	      "'x' of instance 'a.example' (line 4), so mail to it would be "
	      "ambiguous; rename the trigger or this host" } },
	{ "invalid host", "instances:\n  - host: acme_x.example\n",
	    { "t.yaml:2:11: instances[0].host: 'acme_x.example' is not a "
	      "valid domain name: it may hold only letters, digits and "
	      "'-'" } },
	{ "host with an empty label", "instances:\n  - host: a..example\n",
	    { "t.yaml:2:11: instances[0].host: 'a..example' is not a valid "
	      "domain name: it has an empty label (two dots in a row, or a "
	      "leading dot)" } },
	{ "host not in A-label form",
	    "instances:\n  - host: b\xc3\xbc"
	    "cher.example\n",
	    { "t.yaml:2:11: instances[0].host: 'b\xc3\xbc"
	      "cher.example' is not a valid domain name: it has non-ASCII "
	      "characters (write an internationalized name in its xn-- "
	      "form)" } },
	{ "missing host", "instances:\n  - sender_domains: [a.example]\n",
	    { "t.yaml:2:5: instances[0]: missing key 'host' (add host: the "
	      "instance's domain, as acme.triggers.example.com)" } },
	{ "instances not a list", "instances: {host: a}\n",
	    { "t.yaml:1:12: instances: expected a list (- host: NAME), got a "
	      "mapping" } },
	{ "triggers not a mapping",
	    "instances:\n  - host: a.example\n    triggers: [a]\n",
	    { "t.yaml:3:15: instances[0].triggers: expected a mapping of "
	      "trigger names (alert: {flow: [...]}), got a sequence" } },
	{ "accept_cname_expanded not a boolean",
	    "instances:\n  - host: a.example\n    accept_cname_expanded: yes\n",
	    { "t.yaml:3:28: instances[0].accept_cname_expanded: expected true "
	      "or false, got a string" } },
	{ "bad sender domain",
	    "instances:\n  - host: a.example\n    sender_domains: [x-.com]\n",
	    { "t.yaml:3:22: instances[0].sender_domains[0]: 'x-.com' is not a "
	      "valid domain name: it has a label that starts or ends with "
	      "'-'" } },
	{ "duplicate trigger, other case",
	    INST "      alert: " FLOW_OK "\n      Alert: " FLOW_OK "\n",
	    { "t.yaml:5:7: instances[0].triggers: trigger 'alert' is defined "
	      "twice (first at line 4; names ignore case); keep one" } },
	{ "duplicate trigger, same case",
	    INST "      alert: " FLOW_OK "\n      alert: " FLOW_OK "\n",
	    { "t.yaml:5:7: duplicate key 'alert' in instances[0].triggers "
	      "(first at line 4, column 7); keep one" } },
	{ "trigger name with underscore", INST "      db_outage: " FLOW_OK "\n",
	    { "t.yaml:4:7: instances[0].triggers: 'db_outage' is not a valid "
	      "trigger name: it may hold only letters, digits and "
	      "'-'" TRIGGER_RULE } },
	{ "trigger name with a dot", INST "      a.b: " FLOW_OK "\n",
	    { "t.yaml:4:7: instances[0].triggers: 'a.b' is not a valid "
	      "trigger name: it may not contain '.'" TRIGGER_RULE } },
	{ "trigger name starting with '-'", INST "      -x: " FLOW_OK "\n",
	    { "t.yaml:4:7: instances[0].triggers: '-x' is not a valid trigger "
	      "name: it starts or ends with '-'" TRIGGER_RULE } },
	{ "trigger name of 64 characters",
	    INST
	    "      aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaa: " FLOW_OK "\n",
	    { "t.yaml:4:7: instances[0].triggers: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	      "aaaaaaaaaaaaaaaaaaaa...' is not a valid trigger name: it is "
	      "longer than 63 characters" TRIGGER_RULE } },
	{ "trigger without flow", INST "      t: {recipients: [a]}\n",
	    { "t.yaml:4:10: instances[0].triggers.t: missing key 'flow' (add "
	      "flow: with at least one step, http or exec)" } },
	{ "empty flow", INST "      t: {flow: []}\n",
	    { "t.yaml:4:17: instances[0].triggers.t.flow: the flow is empty "
	      "(add a step: - http: {url: ...} or - exec: {command: "
	      "[...]})" } },
	{ "flow left empty", INST "      t:\n        flow:\n",
	    { "t.yaml:5:9: instances[0].triggers.t.flow: the flow is empty "
	      "(add a step: - http: {url: ...} or - exec: {command: "
	      "[...]})" } },
	{ "step that is neither http nor exec", STEP "smtp: {to: x}\n",
	    { "t.yaml:6:13: unknown key 'smtp' in "
	      "instances[0].triggers.t.flow[0] (allowed: http, exec)" } },
	{ "step with both",
	    STEP "{http: {url: 'http://x'}, exec: {command: "
		 "[x]}}\n",
	    { "t.yaml:6:39: instances[0].triggers.t.flow[0]: a step is http "
	      "or exec, not both (make them two steps)" } },
	{ "empty step", STEP "{}\n",
	    { "t.yaml:6:13: instances[0].triggers.t.flow[0]: the step is empty "
	      "(use http: {url: ...} or exec: {command: [...]})" } },
	{ "step as a word", STEP "http\n",
	    { "t.yaml:6:13: instances[0].triggers.t.flow[0]: expected a step "
	      "(http: {url: ...} or exec: {command: [...]}), got a string" } },
	{ "exec command as a string", STEP "exec: {command: /bin/true}\n",
	    { "t.yaml:6:29: instances[0].triggers.t.flow[0].exec.command: "
	      "expected a non-empty list of strings, got a string (the "
	      "program and its arguments, as [\"/usr/local/bin/page\", "
	      "\"--urgent\"])" } },
	{ "exec command empty", STEP "exec: {command: []}\n",
	    { "t.yaml:6:29: instances[0].triggers.t.flow[0].exec.command: "
	      "expected a non-empty list of strings, got an empty list (the "
	      "program and its arguments, as [\"/usr/local/bin/page\", "
	      "\"--urgent\"])" } },
	{ "exec command with a mapping", STEP "exec: {command: [{a: b}]}\n",
	    { "t.yaml:6:30: instances[0].triggers.t.flow[0].exec.command[0]: "
	      "expected a string, got a mapping" } },
	{ "exec program empty", STEP "exec: {command: ['', x]}\n",
	    { "t.yaml:6:30: instances[0].triggers.t.flow[0].exec.command[0]: "
	      "is empty (give a value or leave the key out)" } },
	{ "exec without command", STEP "exec: {}\n",
	    { "t.yaml:6:19: instances[0].triggers.t.flow[0].exec: missing key "
	      "'command' (add command: [program, args...])" } },
	{ "http url not http", STEP "http: {url: 'ftp://x'}\n",
	    { "t.yaml:6:25: instances[0].triggers.t.flow[0].http.url: "
	      "'ftp://x' is not a web address (start it with http:// or "
	      "https:// and a host)" } },
	{ "http url without host", STEP "http: {url: 'https://'}\n",
	    { "t.yaml:6:25: instances[0].triggers.t.flow[0].http.url: "
	      "'https://' is not a web address (start it with http:// or "
	      "https:// and a host)" } },
	{ "http without url", STEP "http: {}\n",
	    { "t.yaml:6:19: instances[0].triggers.t.flow[0].http: missing key "
	      "'url' (add url: https://host/path)" } },
	{ "recipient with @",
	    INST "      t:\n        recipients: [a@b]\n"
		 "        flow: [{exec: {command: [x]}}]\n",
	    { "t.yaml:5:22: instances[0].triggers.t.recipients[0]: 'a@b' is "
	      "not a local part (write what comes before '@', at most 64 "
	      "characters, as oncall-dba)" } },
	{ "recipients empty",
	    INST "      t:\n        recipients: []\n"
		 "        flow: [{exec: {command: [x]}}]\n",
	    { "t.yaml:5:21: instances[0].triggers.t.recipients: the list is "
	      "empty, so no address would reach the trigger (list local "
	      "parts, or leave recipients out to accept any)" } },
	{ 0 },
};

static const struct err_row listen_rows[] = {
	{ "address without port", LISTEN1 "127.0.0.1\n",
	    { "t.yaml:2:14: listen[0].address: '127.0.0.1' has no port (write "
	      "HOST:PORT, as 127.0.0.1:2525 or [::1]:2525)" } },
	{ "IPv6 without brackets", LISTEN1 "'::1:25'\n",
	    { "t.yaml:2:14: listen[0].address: '::1:25' has an IPv6 address "
	      "without brackets (write it as [::1]:2525)" } },
	{ "bad IPv4", LISTEN1 "1.2.3.256:25\n",
	    { "t.yaml:2:14: listen[0].address: '1.2.3.256:25' has no valid "
	      "IPv4 address (four numbers 0-255, as 127.0.0.1:2525)" } },
	{ "port too big", LISTEN1 "127.0.0.1:65536\n",
	    { "t.yaml:2:14: listen[0].address: '127.0.0.1:65536' has no valid "
	      "port (a number from 0 to 65535; 0 picks a free port)" } },
	{ "port as a name", LISTEN1 "127.0.0.1:smtp\n",
	    { "t.yaml:2:14: listen[0].address: '127.0.0.1:smtp' has no valid "
	      "port (a number from 0 to 65535; 0 picks a free port)" } },
	{ "no host", LISTEN1 "':25'\n",
	    { "t.yaml:2:14: listen[0].address: ':25' has no host (use "
	      "0.0.0.0:PORT for every IPv4 address or [::]:PORT for every "
	      "IPv6 address)" } },
	{ "wildcard host", LISTEN1 "'*:25'\n",
	    { "t.yaml:2:14: listen[0].address: '*:25' has a host that is "
	      "neither an IP address nor a valid host name" } },
	{ "bracket without colon", LISTEN1 "'[::1]2525'\n",
	    { "t.yaml:2:14: listen[0].address: '[::1]2525' needs the form "
	      "[IPv6]:PORT, as [::1]:2525" } },
	{ "IPv4 in brackets", LISTEN1 "'[1.2.3.4]:25'\n",
	    { "t.yaml:2:14: listen[0].address: '[1.2.3.4]:25' has no valid "
	      "IPv6 address inside [ ]" } },
	{ "bracket without port", LISTEN1 "'[::1]:'\n",
	    { "t.yaml:2:14: listen[0].address: '[::1]:' has no valid port (a "
	      "number from 0 to 65535; 0 picks a free port)" } },
	{ "same address twice",
	    LISTEN1 "127.0.0.1:25\n  - address: 127.0.0.1:25\n",
	    { "t.yaml:3:14: listen[1].address: '127.0.0.1:25' is already "
	      "listed at line 2; remove one" } },
	{ "empty listen list", "listen: []\n",
	    { "t.yaml:1:9: listen: the list is empty (add a listener, as - "
	      "address: 127.0.0.1:2525, or leave listen out)" } },
	{ "listen as a string", "listen: 127.0.0.1:25\n",
	    { "t.yaml:1:9: listen: expected a list (- address: HOST:PORT), got "
	      "a string" } },
	{ "listener without address", "listen:\n  - {port: 25}\n",
	    { "t.yaml:2:5: listen[0]: missing key 'address' (add address: "
	      "HOST:PORT, as 127.0.0.1:2525)",
		"t.yaml:2:6: unknown key 'port' in listen[0] (allowed: "
		"address)" } },
	{ 0 },
};

static const struct err_row misc_rows[] = {
	{ "postmaster names no trigger",
	    "instances:\n  - host: a.example\n    triggers:\n"
	    "      t: {flow: [{exec: {command: [x]}}]}\n"
	    "postmaster: pm@a.example\n",
	    { "t.yaml:5:13: postmaster: 'pm@a.example' is not a configured "
	      "trigger (write trigger@instance-host, e.g. "
	      "postmaster@ops.example.com with a trigger 'postmaster')" } },
	{ "postmaster names no instance", "postmaster: nobody\n",
	    { "t.yaml:1:13: postmaster: 'nobody' is not a configured "
	      "trigger (write trigger@instance-host, e.g. "
	      "postmaster@ops.example.com with a trigger 'postmaster')" } },
	{ "hostname invalid", "hostname: bad_name\n",
	    { "t.yaml:1:11: hostname: 'bad_name' is not a valid domain name: "
	      "it may hold only letters, digits and '-'" } },
	{ "hostname quoted points at the quote", "hostname: \"bad name\"\n",
	    { "t.yaml:1:11: hostname: 'bad name' is not a valid domain name: "
	      "it may hold only letters, digits and '-'" } },
	{ "hostname left empty", "hostname:\n",
	    { "t.yaml:1:1: hostname: expected a string, got nothing "
	      "(null)" } },
	{ "hostname empty string", "hostname: \"\"\n",
	    { "t.yaml:1:11: hostname: is empty (give a value or leave the key "
	      "out)" } },
	{ "hostname a mapping", "hostname: {a: b}\n",
	    { "t.yaml:1:11: hostname: expected a string, got a mapping" } },
	{ "hostname with an escaped NUL", "hostname: \"a\\0b\"\n",
	    { "t.yaml:1:11: hostname: contains a NUL character (remove the "
	      "\\0)" } },
	{ "tls certificate without key", "tls:\n  certificate: /c.pem\n",
	    { "t.yaml:2:3: tls: certificate is set but key is not (set both, "
	      "or neither to run without STARTTLS)" } },
	{ "tls key without certificate", "tls: {key: /k.pem}\n",
	    { "t.yaml:1:7: tls: key is set but certificate is not (set both, "
	      "or neither to run without STARTTLS)" } },
	{ "queue backend unknown", "queue: {backend: postgres}\n",
	    { "t.yaml:1:18: queue.backend: 'postgres' is not supported (use "
	      "sqlite)" } },
	{ "queue path empty", "queue: {path: ''}\n",
	    { "t.yaml:1:15: queue.path: is empty (give a value or leave the "
	      "key out)" } },
	{ "canonical name invalid", "canonical_names: [lb_1.example]\n",
	    { "t.yaml:1:19: canonical_names[0]: 'lb_1.example' is not a valid "
	      "domain name: it may hold only letters, digits, '-' and the "
	      "wildcard '*'" } },
	{ "canonical names a string", "canonical_names: lb.example\n",
	    { "t.yaml:1:18: canonical_names: expected a list of strings, got a "
	      "string" } },
	{ "several errors, all reported in order",
	    "limits:\n"
	    "  recipients: 0\n"
	    "  message_size: huge\n"
	    "instances:\n"
	    "  - host: a.example\n"
	    "    triggers:\n"
	    "      bad_name: {flow: []}\n"
	    "tls: {certificate: /c}\n"
	    "  \n"
	    "listen: []\n",
	    { "t.yaml:2:15: limits.recipients: 0 is out of range (use "
	      "1..10000)",
		"t.yaml:3:17: limits.message_size: 'huge' is not a size (use "
		"bytes or a unit: 25MB, 512KB)",
		"t.yaml:7:7: instances[0].triggers: 'bad_name' is not a valid "
		"trigger name: it may hold only letters, digits and "
		"'-'" TRIGGER_RULE,
		"t.yaml:7:24: instances[0].triggers.bad_name.flow: the flow is "
		"empty (add a step: - http: {url: ...} or - exec: {command: "
		"[...]})",
		"t.yaml:8:7: tls: certificate is set but key is not (set both, "
		"or neither to run without STARTTLS)",
		"t.yaml:10:9: listen: the list is empty (add a listener, as - "
		"address: 127.0.0.1:2525, or leave listen out)" } },
	{ 0 },
};

static void
run_rows(const struct err_row *rows)
{
	size_t i;

	for (i = 0; rows[i].name != NULL; i++)
		expect_errors(rows[i].name, rows[i].yaml, rows[i].want);
}

static void
test_key_errors(void **state)
{
	run_rows(key_rows);
}

static void
test_limit_errors(void **state)
{
	run_rows(limit_rows);
}

static void
test_instance_errors(void **state)
{
	run_rows(instance_rows);
}

static void
test_listen_errors(void **state)
{
	run_rows(listen_rows);
}

static void
test_misc_errors(void **state)
{
	run_rows(misc_rows);
}

/* Hostile input: never a crash, always a clear error. */

struct bytes_row {
	const char *name;
	const char *bytes;
	size_t len;
	const char *want;
};

#define BYTES(s) s, sizeof(s) - 1

static const struct bytes_row byte_rows[] = {
	{ "NUL byte in a value", BYTES("hostname: a\0b\n"),
	    "t.yaml:1:12: NUL byte in the file (a config is UTF-8 text; remove "
	    "it, or write \\0 inside double quotes)" },
	{ "NUL byte at a line start", BYTES("limits:\n  errors: 5\n\0\n"),
	    "t.yaml:3:1: NUL byte in the file (a config is UTF-8 text; remove "
	    "it, or write \\0 inside double quotes)" },
	{ "control character", BYTES("hostname: a\x07z\n"),
	    "t.yaml:1:12: control character 0x07 is not allowed in YAML "
	    "(remove it)" },
	{ "invalid UTF-8", BYTES("hostname: \xff\n"),
	    "t.yaml:1:11: invalid UTF-8 or non-printable character (byte "
	    "0xff): save the file as UTF-8 text" },
	{ "bad UTF-8 after a good one, CRLF lines",
	    BYTES("# \xc3\xa9t\xc3\xa9\r\nx: \xc3\x28\n"),
	    "t.yaml:2:4: invalid UTF-8 or non-printable character (byte "
	    "0xc3): save the file as UTF-8 text" },
	{ "overlong UTF-8", BYTES("x: \xc0\xaf\n"),
	    "t.yaml:1:4: invalid UTF-8 or non-printable character (byte "
	    "0xc0): save the file as UTF-8 text" },
	{ "UTF-8 surrogate", BYTES("x: \xed\xa0\x80\n"),
	    "t.yaml:1:4: invalid UTF-8 or non-printable character (byte "
	    "0xed): save the file as UTF-8 text" },
	{ "truncated UTF-8 at the end", BYTES("x: \xe2\x82"),
	    "t.yaml:1:4: invalid UTF-8 or non-printable character (byte "
	    "0xe2): save the file as UTF-8 text" },
	{ "tab for indentation", BYTES("limits:\n\terrors: 5\n"),
	    "t.yaml:2:1: tab character: indent and separate with spaces "
	    "(write \\t inside double quotes for a tab in a value)" },
	/* Found by fuzzing: libfyaml 0.7.12 frees memory twice on it. */
	{ "tab after an explicit key", BYTES("? a:\t:"),
	    "t.yaml:1:5: tab character: indent and separate with spaces "
	    "(write \\t inside double quotes for a tab in a value)" },
	{ "empty file", BYTES(""),
	    "t.yaml:1:1: the config is empty (write a mapping with some "
	    "of: " TOP_KEYS ")" },
	{ "only comments", BYTES("# nothing here\n\n   \n"),
	    "t.yaml:1:1: the config is empty (write a mapping with some "
	    "of: " TOP_KEYS ")" },
	{ "explicit null", BYTES("~\n"),
	    "t.yaml:1:1: the config is empty (write a mapping with some "
	    "of: " TOP_KEYS ")" },
	{ 0 },
};

static void
test_hostile_bytes(void **state)
{
	size_t i;

	for (i = 0; byte_rows[i].name != NULL; i++) {
		const char *want[] = { byte_rows[i].want, NULL };

		expect_errors_len(byte_rows[i].name, byte_rows[i].bytes,
		    byte_rows[i].len, want);
	}
}

/* Returns prefix + n copies of c + suffix, NUL terminated. */
static char *
repeat(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t p = strlen(prefix), s = strlen(suffix);
	char *out = malloc(p + n + s + 1);

	assert_non_null(out);
	memcpy(out, prefix, p);
	memset(out + p, c, n);
	memcpy(out + p + n, suffix, s + 1);
	return out;
}

#define FORTY_EIGHT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void
test_hostile_sizes(void **state)
{
	char *big_value = repeat("hostname: ", 'a', 1024 * 1024, "\n");
	char *big_key = repeat("", 'a', 1024 * 1024, ": 1\n");
	char *deep_flow = repeat("x: ", '[', 100000, "\n");
	const char *want_value[] = {
		"t.yaml:1:11: hostname: '" FORTY_EIGHT_A
		"...' is not a valid domain name: it is longer than 253 "
		"characters",
		NULL
	};
	const char *want_key[] = { "t.yaml:1:1: unknown key '" FORTY_EIGHT_A
				   "...' in top level (allowed: " TOP_KEYS ")",
		NULL };
	const char *want_deep[] = {
		"t.yaml:1:67: nested more than 64 levels "
		"deep (a config needs far fewer; check the indentation)",
		NULL
	};

	expect_errors("1 MB scalar", big_value, want_value);
	expect_errors("1 MB key", big_key, want_key);
	expect_errors("100000 nested flow sequences", deep_flow, want_deep);
	free(big_value);
	free(big_key);
	free(deep_flow);
}

static void
test_hostile_deep_block(void **state)
{
	const char *want[] = {
		"t.yaml:65:65: nested more than 64 levels deep "
		"(a config needs far fewer; check the indentation)",
		NULL
	};
	char *yaml = calloc(200 * 202, 1);
	size_t i, off = 0;

	assert_non_null(yaml);
	/* Line k: k-1 spaces then "a:"; each value is the next mapping. */
	for (i = 0; i < 200; i++) {
		memset(yaml + off, ' ', i);
		off += i;
		memcpy(yaml + off, "a:\n", 3);
		off += 3;
	}
	expect_errors("200 nested block mappings", yaml, want);
	free(yaml);
}

/* A small deterministic generator, so a failing input can be rebuilt. */
static uint32_t
next_rand(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void
check_junk(const char *row, const char *buf, size_t len)
{
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t i;

	cfg = config_parse("t.yaml", buf, len, &e);
	if ((cfg == NULL) != (e.n > 0)) {
		print_message("row %s: config %p with %zu errors\n", row,
		    (void *)cfg, e.n);
		fail();
	}
	for (i = 0; i < e.n; i++) {
		if (strncmp(e.items[i], "t.yaml:", 7) != 0) {
			print_message("row %s: got '%s', want 't.yaml:...'\n",
			    row, e.items[i]);
			fail();
		}
	}
	config_unref(cfg);
	config_errors_free(&e);
}

static void
test_hostile_junk(void **state)
{
	static const char yamlish[] = "ab:-[]{}#&*!|>'\"%@`, \n\t?\\0123.~";
	char buf[4096], row[64];
	uint32_t seed;
	size_t i;

	for (seed = 1; seed <= 300; seed++) {
		uint32_t s = seed;

		for (i = 0; i < sizeof(buf); i++)
			buf[i] = seed % 2 == 0 ?
			    (char)next_rand(&s) :
			    yamlish[next_rand(&s) % (sizeof(yamlish) - 1)];
		snprintf(row, sizeof(row), "junk seed %u", (unsigned)seed);
		check_junk(row, buf, sizeof(buf));
		/* Shorter cuts end inside tokens and quotes. */
		check_junk(row, buf, seed % 97);
	}
}

static void
test_too_many_errors(void **state)
{
	struct config_errors e = { 0 };
	char *yaml = malloc(300 * 16), *p;
	struct config *cfg;
	size_t i;

	assert_non_null(yaml);
	p = yaml;
	for (i = 0; i < 300; i++)
		p += snprintf(p, 16, "k%zu: 1\n", i);
	cfg = config_parse("t.yaml", yaml, strlen(yaml), &e);
	assert_null(cfg);
	CHECK_NUM("too many errors", e.n, 101);
	CHECK_STR("too many errors", e.items[99],
	    "t.yaml:100:1: unknown key 'k99' in top level (allowed: " TOP_KEYS
	    ")");
	CHECK_STR("too many errors", e.items[100],
	    "t.yaml:101:1: too many errors; stopped here (fix the ones above "
	    "and check again)");
	config_errors_free(&e);
	free(yaml);
}

/* Many instances and keys: the duplicate checks must not be quadratic. */
static void
test_many_instances(void **state)
{
	size_t n = 20000, i, off = 0, cap = n * 40;
	char *yaml = malloc(cap);
	struct config *cfg;

	assert_non_null(yaml);
	off += (size_t)snprintf(yaml, cap, "instances:\n");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(yaml + off, cap - off,
		    "  - host: h%zu.example\n", i);
	cfg = parse_ok("20000 instances", yaml);
	CHECK_NUM("20000 instances", cfg->n_instances, n);
	assert_non_null(config_find_instance(cfg, "h19999.example", 14));
	config_unref(cfg);
	free(yaml);
}

/* Sizes, durations and counts through the config. */

struct unit_row {
	const char *key;   /* under limits: */
	const char *value; /* as written in YAML */
	uint64_t want;     /* when error is NULL */
	const char *error; /* the message after "t.yaml:1:COL: limits.KEY: " */
};

static const struct unit_row unit_rows[] = {
	{ "message_size", "1024", 1024, NULL },
	{ "message_size", "1k", 1024, NULL },
	{ "message_size", "1KB", 1024, NULL },
	{ "message_size", "1kb", 1024, NULL },
	{ "message_size", "2M", 2 * MB, NULL },
	{ "message_size", "1G", GB, NULL },
	{ "message_size", "1GB", GB, NULL },
	{ "message_size", "'25MB'", 25 * MB, NULL },
	{ "message_size", "1025MB", 0,
	    "1025MB is out of range (use 1KB..1GB)" },
	{ "message_size", "1023", 0, "1023 is out of range (use 1KB..1GB)" },
	{ "message_size", "1.5MB", 0,
	    "'1.5MB' is not a size (use bytes or a unit: 25MB, 512KB)" },
	{ "message_size", "0x400", 0,
	    "'0x400' is not a size (use bytes or a unit: 25MB, 512KB)" },
	{ "message_size", "' 1MB'", 0,
	    "' 1MB' is not a size (use bytes or a unit: 25MB, 512KB)" },
	{ "message_size", "''", 0,
	    "'' is not a size (use bytes or a unit: 25MB, 512KB)" },
	{ "message_size", "18446744073709551616", 0,
	    "'18446744073709551616' is not a size (use bytes or a unit: 25MB, "
	    "512KB)" },
	{ "message_size", "17179869184GB", 0,
	    "'17179869184GB' is not a size (use bytes or a unit: 25MB, "
	    "512KB)" },
	{ "message_size", "1TB", 0,
	    "'1TB' is not a size (use bytes or a unit: 25MB, 512KB)" },
	{ "message_size", "-1KB", 0,
	    "'-1KB' is not a size (use bytes or a unit: 25MB, 512KB)" },
	{ "idle_timeout", "300", 300000, NULL },
	{ "idle_timeout", "1500ms", 1500, NULL },
	{ "idle_timeout", "5m", 300000, NULL },
	{ "idle_timeout", "5M", 300000, NULL },
	{ "idle_timeout", "1h", 3600000, NULL },
	{ "idle_timeout", "3601s", 0, "3601s is out of range (use 1s..1h)" },
	{ "idle_timeout", "999ms", 0, "999ms is out of range (use 1s..1h)" },
	{ "idle_timeout", "0", 0, "0 is out of range (use 1s..1h)" },
	{ "idle_timeout", "1d", 0, "1d is out of range (use 1s..1h)" },
	{ "idle_timeout", "'5 m'", 0,
	    "'5 m' is not a duration (use a number "
	    "and a unit: 300s, 5m, 1h)" },
	{ "idle_timeout", "5min", 0,
	    "'5min' is not a duration (use a number "
	    "and a unit: 300s, 5m, 1h)" },
	{ "idle_timeout", "-5s", 0,
	    "'-5s' is not a duration (use a number "
	    "and a unit: 300s, 5m, 1h)" },
	{ "session_timeout", "24h", 86400000, NULL },
	{ "session_timeout", "1d", 86400000, NULL },
	{ "shutdown_grace", "0", 0, NULL },
	{ "shutdown_grace", "0s", 0, NULL },
	{ "shutdown_grace", "61m", 0, "61m is out of range (use 0s..1h)" },
	{ "recipients", "10000", 10000, NULL },
	{ "recipients", "007", 7, NULL },
	{ "recipients", "10001", 0, "10001 is out of range (use 1..10000)" },
	{ "recipients", "99999999999999999999999", 0,
	    "99999999999999999999999 is out of range (use 1..10000)" },
	{ "recipients", "1e3", 0,
	    "'1e3' is not an integer (use a whole number, as 100)" },
	{ "recipients", "+5", 0,
	    "'+5' is not an integer (use a whole number, as 100)" },
	{ "recipients", "5KB", 0,
	    "'5KB' is not an integer (use a whole number, as 100)" },
	{ "connections", "100000", 100000, NULL },
	{ "connections_per_ip", "1", 1, NULL },
	{ "errors", "1000", 1000, NULL },
	{ "command_line", "512", 512, NULL },
	{ "command_line", "64KB", 65536, NULL },
	{ "command_line", "65537", 0,
	    "65537 is out of range (use 512..64KB; "
	    "RFC 5321 section 4.5.3.1.4 requires at least 512)" },
	{ "text_line", "1MB", MB, NULL },
	{ "text_line", "1000", 1000, NULL },
};

static uint64_t
limit_get(const struct limits *l, const char *key)
{
	if (strcmp(key, "message_size") == 0)
		return l->message_size;
	if (strcmp(key, "recipients") == 0)
		return l->recipients;
	if (strcmp(key, "connections") == 0)
		return l->connections;
	if (strcmp(key, "connections_per_ip") == 0)
		return l->connections_per_ip;
	if (strcmp(key, "idle_timeout") == 0)
		return l->idle_timeout_ms;
	if (strcmp(key, "session_timeout") == 0)
		return l->session_timeout_ms;
	if (strcmp(key, "errors") == 0)
		return l->errors;
	if (strcmp(key, "command_line") == 0)
		return l->command_line;
	if (strcmp(key, "text_line") == 0)
		return l->text_line;
	if (strcmp(key, "shutdown_grace") == 0)
		return l->shutdown_grace_ms;
	fail_msg("unknown limit %s", key);
	return 0;
}

static void
test_units(void **state)
{
	char yaml[256], want[512], row[128];
	struct config *cfg;
	size_t i;

	for (i = 0; i < sizeof(unit_rows) / sizeof(unit_rows[0]); i++) {
		const struct unit_row *r = &unit_rows[i];
		/* "limits: {" is 9 columns, then "KEY: ". */
		unsigned col = 10 + (unsigned)strlen(r->key) + 2;

		snprintf(row, sizeof(row), "%s: %s", r->key, r->value);
		snprintf(yaml, sizeof(yaml), "limits: {%s: %s}\n", r->key,
		    r->value);
		if (r->error != NULL) {
			const char *w[] = { want, NULL };

			snprintf(want, sizeof(want),
			    "t.yaml:1:%u: limits.%s: "
			    "%s",
			    col, r->key, r->error);
			expect_errors(row, yaml, w);
			continue;
		}
		cfg = parse_ok(row, yaml);
		CHECK_NUM(row, limit_get(&cfg->limits, r->key), r->want);
		config_unref(cfg);
	}
}

/* Lookups. */

struct lookup_row {
	const char *name;
	const char *host; /* looked up with len below, not strlen */
	size_t len;
	const char *trigger; /* looked up with tlen */
	size_t tlen;
	const char *want_host;    /* NULL: no instance */
	const char *want_trigger; /* NULL: no trigger */
};

static const struct lookup_row lookup_rows[] = {
	{ "exact", "acme.example.com", 16, "alert", 5, "acme.example.com",
	    "alert" },
	{ "upper case", "ACME.Example.COM", 16, "ALERT", 5, "acme.example.com",
	    "alert" },
	{ "trailing dot", "acme.example.com.", 17, "Db-Outage", 9,
	    "acme.example.com", "db-outage" },
	{ "two trailing dots", "acme.example.com..", 18, NULL, 0, NULL, NULL },
	{ "prefix of the host", "acme.example.co", 15, NULL, 0, NULL, NULL },
	{ "host as a prefix", "acme.example.com.x", 18, NULL, 0, NULL, NULL },
	{ "length cuts the buffer", "acme.example.comXYZ", 16, "alertXYZ", 5,
	    "acme.example.com", "alert" },
	{ "empty", "", 0, NULL, 0, NULL, NULL },
	{ "just a dot", ".", 1, NULL, 0, NULL, NULL },
	{ "second instance", "Other.Example.", 14, "alert", 5, "other.example",
	    NULL },
	{ "unknown trigger", "acme.example.com", 16, "aler", 4,
	    "acme.example.com", NULL },
};

/* `postmaster:` resolves to the trigger it names, case-insensitively. */
static void
test_postmaster_resolves(void **state)
{
	static const char
	    text[] = "instances:\n  - host: ops.example\n    triggers:\n"
		     "      pm: {flow: [{exec: {command: [x]}}]}\n"
		     "      other: {flow: [{exec: {command: [x]}}]}\n"
		     "postmaster: PM@Ops.Example.\n";
	struct config_errors errs = { 0 };
	struct config *cfg = config_parse("t.yaml", text, strlen(text), &errs);

	assert_non_null(cfg);
	assert_non_null(cfg->postmaster_trigger);
	assert_string_equal(cfg->postmaster_trigger->name, "pm");
	assert_ptr_equal(cfg->postmaster_instance, &cfg->instances[0]);
	assert_string_equal(cfg->postmaster, "PM@Ops.Example.");
	config_unref(cfg);
	config_errors_free(&errs);
}

static void
test_lookups(void **state)
{
	struct config *cfg = parse_ok("lookups",
	    "instances:\n"
	    "  - host: ACME.Example.com.\n"
	    "    triggers:\n"
	    "      Alert: " FLOW_OK "\n"
	    "      DB-outage: " FLOW_OK "\n"
	    "  - host: other.example\n");
	const struct instance *inst;
	const struct trigger *t;
	size_t i;

	for (i = 0; i < sizeof(lookup_rows) / sizeof(lookup_rows[0]); i++) {
		const struct lookup_row *r = &lookup_rows[i];

		inst = config_find_instance(cfg, r->host, r->len);
		if ((inst == NULL) != (r->want_host == NULL) ||
		    (inst != NULL && strcmp(inst->host, r->want_host) != 0)) {
			print_message("row %s: instance got %s, want %s\n",
			    r->name, inst != NULL ? inst->host : "(none)",
			    r->want_host != NULL ? r->want_host : "(none)");
			fail();
		}
		if (r->trigger == NULL)
			continue;
		t = config_find_trigger(inst, r->trigger, r->tlen);
		if ((t == NULL) != (r->want_trigger == NULL) ||
		    (t != NULL && strcmp(t->name, r->want_trigger) != 0)) {
			print_message("row %s: trigger got %s, want %s\n",
			    r->name, t != NULL ? t->name : "(none)",
			    r->want_trigger != NULL ? r->want_trigger :
						      "(none)");
			fail();
		}
	}
	assert_null(config_find_instance(NULL, "a", 1));
	assert_null(config_find_trigger(NULL, "a", 1));
	config_unref(cfg);
}

/* Reference counting: the last unref frees (ASan reports a leak if not). */
static void
test_refcount(void **state)
{
	struct config *cfg = parse_ok("refcount", "instances: []\n");

	CHECK_NUM("refcount", cfg->refcount, 1);
	assert_ptr_equal(config_ref(cfg), cfg);
	assert_ptr_equal(config_ref(cfg), cfg);
	CHECK_NUM("refcount", cfg->refcount, 3);
	config_unref(cfg);
	config_unref(cfg);
	CHECK_NUM("refcount", cfg->refcount, 1);
	config_unref(cfg);
	config_unref(NULL);
	assert_null(config_ref(NULL));
}

/* config_load: file errors and errors named after the file. */

static void
test_load_errors(void **state)
{
	const char *dir = getenv("MT_SOURCE_DIR");
	struct config_errors e = { 0 };
	char path[4096], want[4200];
	static const char *const tails[] = {
		"4:14: listen[0].address: '127.0.0.1' has no port (write "
		"HOST:PORT, as 127.0.0.1:2525 or [::1]:2525)",
		"6:17: limits.message_size: '25 MB' is not a size (use bytes "
		"or "
		"a unit: 25MB, 512KB)",
		"7:3: unknown key 'recipents' in limits (allowed: " LIMIT_KEYS
		")",
		"12:15: instances[0].triggers.alert.flow: the flow is empty "
		"(add "
		"a step: - http: {url: ...} or - exec: {command: [...]})",
		"13:11: instances[1].host: 'acme.example.com' is already the "
		"host of instances[0] (line 9); give each instance its own "
		"host",
	};
	size_t i;

	snprintf(path, sizeof(path), "%s/tests/unit/data/config/errors.yaml",
	    dir != NULL ? dir : ".");
	assert_null(config_load(path, &e));
	if (e.n != NELEMS(tails))
		print_errors("got", &e);
	CHECK_NUM("errors.yaml", e.n, NELEMS(tails));
	for (i = 0; i < NELEMS(tails); i++) {
		snprintf(want, sizeof(want), "%s:%s", path, tails[i]);
		CHECK_STR("errors.yaml", e.items[i], want);
	}
	config_errors_free(&e);

	assert_null(config_load("/nonexistent/mt.yaml", &e));
	CHECK_NUM("missing file", e.n, 1);
	CHECK_STR("missing file", e.items[0],
	    "/nonexistent/mt.yaml: cannot "
	    "read the file: No such file or directory (check the path and its "
	    "permissions)");
	config_errors_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_file),
		cmocka_unit_test(test_postmaster_resolves),
		cmocka_unit_test(test_sample_embedded),
		cmocka_unit_test(test_default_limits),
		cmocka_unit_test(test_defaults_when_absent),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_key_errors),
		cmocka_unit_test(test_limit_errors),
		cmocka_unit_test(test_instance_errors),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_misc_errors),
		cmocka_unit_test(test_hostile_bytes),
		cmocka_unit_test(test_hostile_sizes),
		cmocka_unit_test(test_hostile_deep_block),
		cmocka_unit_test(test_hostile_junk),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_many_instances),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
