/*
 * test_config_dns - the dns section (config_dns.c): dns.servers in the
 * config, with the exact "FILE:LINE:COLUMN: message" of every error, and
 * the checks the command line's --dns shares with it.
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

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Configs that load: the c-ares CSV they give. */
static void
test_servers_ok(void **state)
{
	static const struct {
		const char *name, *yaml, *csv;
		size_t n;
	} rows[] = {
		{ "no dns section: the system resolver",
		    "hostname: a.example\n", NULL, 0 },
		{ "dns left empty", "dns:\n", NULL, 0 },
		{ "servers left empty", "dns: {servers: }\n", NULL, 0 },
		{ "IPv4 with port and IPv6 in brackets",
		    "dns:\n  servers: [\"127.0.0.1:5353\", \"[::1]:53\"]\n",
		    "127.0.0.1:5353,[::1]:53", 2 },
		{ "port 53 when left out", "dns: {servers: [192.0.2.1]}\n",
		    "192.0.2.1:53", 1 },
		{ "bare IPv6, brackets without port",
		    "dns: {servers: ['::1', '[2001:db8::1]']}\n",
		    "[::1]:53,[2001:db8::1]:53", 2 },
		{ "eight servers",
		    "dns: {servers: [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, "
		    "10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8]}\n",
		    "10.0.0.1:53,10.0.0.2:53,10.0.0.3:53,10.0.0.4:53,"
		    "10.0.0.5:53,10.0.0.6:53,10.0.0.7:53,10.0.0.8:53",
		    8 },
	};
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t i;

	for (i = 0; i < NELEMS(rows); i++) {
		cfg = config_parse("t.yaml", rows[i].yaml, strlen(rows[i].yaml),
		    &e);
		if (cfg == NULL)
			fail_msg("row %s: want a config, got %s", rows[i].name,
			    e.items[0]);
		if ((cfg->dns_servers_csv == NULL) != (rows[i].csv == NULL) ||
		    (rows[i].csv != NULL &&
			strcmp(cfg->dns_servers_csv, rows[i].csv) != 0) ||
		    cfg->n_dns_servers != rows[i].n)
			fail_msg("row %s: got '%s' (%zu), want '%s' (%zu)",
			    rows[i].name,
			    cfg->dns_servers_csv ? cfg->dns_servers_csv :
						   "(null)",
			    cfg->n_dns_servers,
			    rows[i].csv ? rows[i].csv : "(null)", rows[i].n);
		config_unref(cfg);
	}
}

#define WANT_PORT \
	"has no valid port (a number from 1 to 65535; 53 when left out)"
#define WANT_NOT_IP                                                     \
	"is not an IP address (a name server is given by its address, " \
	"as 127.0.0.1:5353 or [::1]:53)"

/* Configs that do not load: their one error. */
static void
test_servers_errors(void **state)
{
	static const struct {
		const char *name, *yaml, *want;
	} rows[] = {
		{ "host name", "dns: {servers: [ns.example]}\n",
		    "t.yaml:1:17: dns.servers[0]: 'ns.example' " WANT_NOT_IP },
		{ "port 0", "dns: {servers: ['127.0.0.1:0']}\n",
		    "t.yaml:1:17: dns.servers[0]: '127.0.0.1:0' " WANT_PORT },
		{ "port too big", "dns: {servers: ['127.0.0.1:65536']}\n",
		    "t.yaml:1:17: dns.servers[0]: "
		    "'127.0.0.1:65536' " WANT_PORT },
		{ "port as a name", "dns: {servers: ['127.0.0.1:domain']}\n",
		    "t.yaml:1:17: dns.servers[0]: "
		    "'127.0.0.1:domain' " WANT_PORT },
		{ "bad IPv4", "dns: {servers: ['1.2.3.256']}\n",
		    "t.yaml:1:17: dns.servers[0]: '1.2.3.256' " WANT_NOT_IP },
		{ "IPv4 in brackets", "dns: {servers: ['[1.2.3.4]:53']}\n",
		    "t.yaml:1:17: dns.servers[0]: '[1.2.3.4]:53' has no valid "
		    "IPv6 address inside [ ]" },
		{ "bracket without colon", "dns: {servers: ['[::1]53']}\n",
		    "t.yaml:1:17: dns.servers[0]: '[::1]53' needs the form "
		    "[IPv6]:PORT, as [::1]:53" },
		{ "same server twice, once with the default port",
		    "dns:\n  servers:\n    - 10.0.0.1\n    - 10.0.0.1:53\n",
		    "t.yaml:4:7: dns.servers[1]: '10.0.0.1:53' is already "
		    "listed; remove one" },
		{ "empty list", "dns: {servers: []}\n",
		    "t.yaml:1:16: dns.servers: the list is empty (list name "
		    "servers, as [127.0.0.1:53], or leave dns out to use "
		    "/etc/resolv.conf)" },
		{ "nine servers",
		    "dns: {servers: [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, "
		    "10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, 10.0.0.9]}\n",
		    "t.yaml:1:16: dns.servers: more than 8 servers (list at "
		    "most "
		    "8)" },
		{ "servers a string", "dns: {servers: 127.0.0.1}\n",
		    "t.yaml:1:16: dns.servers: expected a list of IP[:PORT] "
		    "strings, got a string" },
		{ "unknown key", "dns: {server: [127.0.0.1]}\n",
		    "t.yaml:1:7: unknown key 'server' in dns (allowed: "
		    "servers)" },
		{ "dns a list", "dns: [127.0.0.1]\n",
		    "t.yaml:1:6: dns: expected a mapping (servers: [IP:PORT]), "
		    "got a sequence" },
	};
	struct config_errors e = { 0 };
	struct config *cfg;
	size_t i;

	for (i = 0; i < NELEMS(rows); i++) {
		cfg = config_parse("t.yaml", rows[i].yaml, strlen(rows[i].yaml),
		    &e);
		if (cfg != NULL || e.n != 1 ||
		    strcmp(e.items[0], rows[i].want) != 0)
			fail_msg("row %s:\n  got  %s (%zu errors)\n  want %s",
			    rows[i].name, e.n ? e.items[0] : "(a config)", e.n,
			    rows[i].want);
		config_unref(cfg);
		config_errors_free(&e);
	}
}

/* The command line's --dns: a comma-separated list, checked the same. */
static void
test_cli_list(void **state)
{
	static const struct {
		const char *name, *in, *csv, *bad;
	} rows[] = {
		{ "one with port", "127.0.0.1:5353", "127.0.0.1:5353", NULL },
		{ "two", "127.0.0.1,[::1]:5353", "127.0.0.1:53,[::1]:5353",
		    NULL },
		{ "empty", "", NULL, "" },
		{ "empty item", "127.0.0.1,", NULL, "" },
		{ "host name second", "127.0.0.1,ns.example", NULL,
		    "ns.example" },
		{ "nine",
		    "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,"
		    "1.1.1.7,1.1.1.8,1.1.1.9",
		    NULL, "" },
	};
	char bad[64];
	const char *why;
	char *csv;
	size_t i;

	for (i = 0; i < NELEMS(rows); i++) {
		bad[0] = '\0';
		why = NULL;
		csv = config_dns_servers_csv(rows[i].in, bad, sizeof(bad),
		    &why);
		if ((csv == NULL) != (rows[i].csv == NULL) ||
		    (csv != NULL && strcmp(csv, rows[i].csv) != 0) ||
		    (csv == NULL &&
			(why == NULL || strcmp(bad, rows[i].bad) != 0)))
			fail_msg("row %s: got '%s' (bad '%s': %s), want '%s' "
				 "(bad '%s')",
			    rows[i].name, csv ? csv : "(null)", bad,
			    why ? why : "",
			    rows[i].csv ? rows[i].csv : "(null)",
			    rows[i].bad ? rows[i].bad : "");
		free(csv);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_servers_ok),
		cmocka_unit_test(test_servers_errors),
		cmocka_unit_test(test_cli_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
