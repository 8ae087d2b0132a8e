/*
 * config_dns - the `dns` section of the config: dns.servers, the name
 * servers the gateway's own lookups ask (doctor, check-dns and every
 * c-ares resolver the gateway makes; src/dns/resolve.h). Absent: the
 * system resolver (/etc/resolv.conf).
 *
 * Pure. config_dns_server() is also what checks the command line's
 * `--dns`, so a server is written the same way in both places. Read
 * docs/config.md ("dns") and docs/dns.md.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "util/strv.h"
#include "util/xmalloc.h"

#define QUOTE_MAX 96
#define NOT_IP                                                             \
	"is not an IP address (a name server is given by its address, as " \
	"127.0.0.1:5353 or [::1]:53)"

/*
 * "53", "5353": a port from 1 to 65535 (0 is no port to send to). Only
 * digits: strtoul alone would take "+53" or " 53".
 */
static bool
dns_port_ok(const char *p, size_t len, unsigned *port)
{
	char digits[6], *end;
	unsigned long v;

	if (len == 0 || len >= sizeof(digits) || strspn(p, "0123456789") < len)
		return false;
	memcpy(digits, p, len);
	digits[len] = '\0';
	v = strtoul(digits, &end, 10);
	*port = (unsigned)v;
	return *end == '\0' && v >= 1 && v <= 65535;
}

/* Splits "[v6]:PORT", "[v6]", "v6", "v4:PORT", "v4" into host and port. */
static bool
dns_split(const char *s, size_t len, char *host, size_t hostlen,
    const char **port, size_t *portlen, const char **why)
{
	const char *close, *colon;
	size_t h;

	*port = NULL;
	*portlen = 0;
	if (s[0] == '[') {
		close = memchr(s, ']', len);
		if (close == NULL ||
		    (close + 1 != s + len && close[1] != ':')) {
			*why = "needs the form [IPv6]:PORT, as [::1]:53";
			return false;
		}
		h = (size_t)(close - s - 1);
		if (close + 1 != s + len) {
			*port = close + 2;
			*portlen = len - (size_t)(close + 2 - s);
		}
		s++;
	} else {
		colon = memchr(s, ':', len);
		h = len;
		if (colon != NULL &&
		    memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) ==
			NULL) {
			h = (size_t)(colon - s);
			*port = colon + 1;
			*portlen = len - h - 1;
		}
	}
	if (h >= hostlen) {
		*why = NOT_IP;
		return false;
	}
	memcpy(host, s, h);
	host[h] = '\0';
	return true;
}

bool
config_dns_server(const char *s, size_t len, char *out, size_t outlen,
    const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	const char *p;
	unsigned port = 53;
	size_t plen;
	bool v6;
	int n;

	if (len == 0 || memchr(s, '\0', len) != NULL) {
		*why = len == 0 ? "is empty" : "contains a NUL character";
		return false;
	}
	if (!dns_split(s, len, host, sizeof(host), &p, &plen, why))
		return false;
	if (p != NULL && !dns_port_ok(p, plen, &port)) {
		*why = "has no valid port (a number from 1 to 65535; 53 when "
		       "left out)";
		return false;
	}
	v6 = inet_pton(AF_INET6, host, a) == 1;
	if (s[0] == '[' && !v6) {
		*why = "has no valid IPv6 address inside [ ]";
		return false;
	}
	if (!v6 && inet_pton(AF_INET, host, a) != 1) {
		*why = NOT_IP;
		return false;
	}
	n = snprintf(out, outlen, v6 ? "[%s]:%u" : "%s:%u", host, port);
	if (n < 0 || (size_t)n >= outlen) {
		*why = "is too long";
		return false;
	}
	return true;
}

char *
config_dns_servers_csv(const char *list, char *bad, size_t badlen,
    const char **why)
{
	char one[CONFIG_DNS_SERVER_LEN], *csv;
	const char *p = list, *comma;
	size_t n = 0, len, cap;

	cap = strlen(list) * 3 + 16; /* each item grows by at most ":53[]" */
	csv = xmalloc(cap);
	csv[0] = '\0';
	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (++n > CONFIG_DNS_SERVERS_MAX) {
			*why = "lists too many servers (at most 8)";
			goto fail;
		}
		if (!config_dns_server(p, len, one, sizeof(one), why)) {
			snprintf(bad, badlen, "%.*s", (int)len, p);
			goto fail;
		}
		snprintf(csv + strlen(csv), cap - strlen(csv), "%s%s",
		    n > 1 ? "," : "", one);
		if (comma == NULL)
			return csv;
		p = comma + 1;
	}
fail:
	free(csv);
	return NULL;
}

/* One item of dns.servers in c-ares form, or NULL after an error. */
static char *
dns_item(struct cfg_ctx *ctx, const struct ynode *n, const char *path)
{
	char out[CONFIG_DNS_SERVER_LEN], q[QUOTE_MAX], *s;
	const char *why;

	s = cfg_get_string(ctx, n, path);
	if (s == NULL)
		return NULL;
	if (!config_dns_server(s, strlen(s), out, sizeof(out), &why)) {
		cfg_quote(q, sizeof(q), s, strlen(s));
		cfg_err(ctx, n, "%s: '%s' %s", path, q, why);
		free(s);
		return NULL;
	}
	free(s);
	return xstrdup(out);
}

/* Reports a server listed twice (after normalising: 10.0.0.1 is :53). */
static bool
dns_dup(struct cfg_ctx *ctx, const struct ynode *n, const char *path,
    char **have, size_t nhave, const char *s)
{
	size_t i;

	for (i = 0; i < nhave; i++) {
		if (strcmp(have[i], s) != 0)
			continue;
		cfg_err(ctx, n, "%s: '%s' is already listed; remove one", path,
		    s);
		return true;
	}
	return false;
}

static void
walk_servers(struct cfg_ctx *ctx, const struct ynode *n, struct config *cfg)
{
	char p[CFG_PATH_MAX], *s;
	size_t i, m = 0, len = 0;

	if (n->kind != YN_SEQ) {
		cfg_wrong_type(ctx, n, "dns.servers",
		    "a list of IP[:PORT] strings");
		return;
	}
	if (n->n_kids == 0 || n->n_kids > CONFIG_DNS_SERVERS_MAX) {
		cfg_err(ctx, n,
		    n->n_kids == 0 ?
			"dns.servers: the list is empty (list name servers, "
			"as [127.0.0.1:53], or leave dns out to use "
			"/etc/resolv.conf)" :
			"dns.servers: more than 8 servers (list at most 8)");
		return;
	}
	cfg->dns_servers = xcalloc(n->n_kids + 1, sizeof(char *));
	for (i = 0; i < n->n_kids; i++) {
		cfg_path(p, "dns.servers", "[%zu]", i);
		s = dns_item(ctx, n->kids[i], p);
		if (s != NULL &&
		    dns_dup(ctx, n->kids[i], p, cfg->dns_servers, m, s)) {
			free(s);
			s = NULL;
		}
		if (s == NULL)
			continue;
		cfg->dns_servers[m++] = s;
		len += strlen(s) + 1;
	}
	cfg->n_dns_servers = m;
	cfg->dns_servers_csv = xcalloc(1, len + 1);
	for (i = 0; i < m; i++)
		snprintf(cfg->dns_servers_csv + strlen(cfg->dns_servers_csv),
		    len + 1 - strlen(cfg->dns_servers_csv), "%s%s",
		    i ? "," : "", cfg->dns_servers[i]);
}

void
cfg_walk_dns(struct cfg_ctx *ctx, const struct ynode *n, struct config *cfg)
{
	static const char *const keys[] = { "servers" };
	const struct ynode *v[NELEM(keys)], *k[NELEM(keys)];

	if (n->kind == YN_SCALAR && n->is_null)
		return;
	if (!cfg_walk_map(ctx, n, "dns", "a mapping (servers: [IP:PORT])", keys,
		NELEM(keys), v, k))
		return;
	if (v[0] != NULL && !(v[0]->kind == YN_SCALAR && v[0]->is_null))
		walk_servers(ctx, v[0], cfg);
}

void
cfg_free_dns(struct config *cfg)
{
	strv_free(cfg->dns_servers, cfg->n_dns_servers);
	free(cfg->dns_servers_csv);
}
