/*
 * config_names - the name checks of the config: domain names, trigger
 * labels, listen addresses, duplicates, and the cross checks between
 * instances.
 *
 * Pure. Domain names follow RFC 1035 section 2.3.1 and RFC 1123 section
 * 2.1 (letters, digits and hyphens; labels of 1 to 63 characters, no
 * hyphen at either end; 253 characters in all, one trailing dot allowed).
 * A trigger name is one such label, because the recipient form of an
 * address (recipient@trigger.instance-host) puts it in the domain.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

#define LABEL_MAX 63
#define DOMAIN_MAX 253

static bool
is_ldh(char c, bool wildcards)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || (wildcards && c == '*');
}

/* How a bad label is described: as part of a domain, or on its own. */
enum label_use { LABEL_IN_DOMAIN, LABEL_IN_PATTERN, LABEL_ALONE };
enum label_fault { LABEL_EMPTY, LABEL_LONG, LABEL_CHARS, LABEL_HYPHEN };

static const char *
label_why(enum label_use use, enum label_fault fault)
{
	static const char *const whys[][4] = {
		[LABEL_IN_DOMAIN] = { "has an empty label (two dots in a row, "
				      "or a leading dot)",
		    "has a label longer than 63 characters",
		    "may hold only letters, digits and '-'",
		    "has a label that starts or ends with '-'" },
		[LABEL_IN_PATTERN] = { "has an empty label (two dots in a "
				       "row, or a leading dot)",
		    "has a label longer than 63 characters",
		    "may hold only letters, digits, '-' and the wildcard '*'",
		    "has a label that starts or ends with '-'" },
		[LABEL_ALONE] = { "is empty", "is longer than 63 characters",
		    "may hold only letters, digits and '-'",
		    "starts or ends with '-'" },
	};

	return whys[use][fault];
}

static bool
label_check(const char *s, size_t len, enum label_use use, const char **why)
{
	size_t i;

	if (len == 0 || len > LABEL_MAX) {
		*why = label_why(use, len == 0 ? LABEL_EMPTY : LABEL_LONG);
		return false;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80) {
			*why = "has non-ASCII characters (write an "
			       "internationalized name in its xn-- form)";
			return false;
		}
		if (!is_ldh(s[i], use == LABEL_IN_PATTERN)) {
			*why = label_why(use, LABEL_CHARS);
			return false;
		}
	}
	if (s[0] == '-' || s[len - 1] == '-') {
		*why = label_why(use, LABEL_HYPHEN);
		return false;
	}
	return true;
}

bool
cfg_label_ok(const char *s, size_t len, const char **why)
{
	if (memchr(s, '.', len) != NULL) {
		*why = "may not contain '.'";
		return false;
	}
	return label_check(s, len, LABEL_ALONE, why);
}

bool
cfg_domain_ok(const char *s, size_t len, bool wildcards, const char **why)
{
	const char *dot;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0) {
		*why = "is empty";
		return false;
	}
	if (len > DOMAIN_MAX) {
		*why = "is longer than 253 characters";
		return false;
	}
	for (;;) {
		dot = memchr(s, '.', len);
		if (!label_check(s, dot != NULL ? (size_t)(dot - s) : len,
			wildcards, why))
			return false;
		if (dot == NULL)
			return true;
		len -= (size_t)(dot - s) + 1;
		s = dot + 1;
	}
}

void
cfg_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Listen addresses. */

static bool
port_ok(const char *p, size_t len)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return v <= 65535;
}

static bool
looks_ipv4(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
			return false;
	return true;
}

/* Checks the host part; host is NUL terminated, hlen long. */
static bool
listen_host_ok(const char *host, size_t hlen, bool bracketed, const char **why)
{
	unsigned char addr[16];

	if (bracketed) {
		if (inet_pton(AF_INET6, host, addr) != 1) {
			*why = "has no valid IPv6 address inside [ ]";
			return false;
		}
		return true;
	}
	if (hlen == 0) {
		*why = "has no host (use 0.0.0.0:PORT for every IPv4 address "
		       "or [::]:PORT for every IPv6 address)";
		return false;
	}
	if (memchr(host, ':', hlen) != NULL) {
		*why = "has an IPv6 address without brackets (write it as "
		       "[::1]:2525)";
		return false;
	}
	if (looks_ipv4(host, hlen)) {
		if (inet_pton(AF_INET, host, addr) != 1) {
			*why = "has no valid IPv4 address (four numbers "
			       "0-255, as 127.0.0.1:2525)";
			return false;
		}
		return true;
	}
	if (!cfg_domain_ok(host, hlen, false, why)) {
		*why = "has a host that is neither an IP address nor a "
		       "valid host name";
		return false;
	}
	return true;
}

bool
cfg_listen_parse(const char *s, size_t len, struct listener_config *out,
    const char **why)
{
	const char *hs = s, *colon, *close;
	size_t hlen;
	bool bracketed = false;
	char *host;

	if (memchr(s, '\0', len) != NULL) {
		*why = "contains a NUL character";
		return false;
	}
	if (len > 0 && s[0] == '[') {
		close = memchr(s, ']', len);
		if (close == NULL || close + 1 == s + len || close[1] != ':') {
			*why = "needs the form [IPv6]:PORT, as [::1]:2525";
			return false;
		}
		bracketed = true;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = memrchr(s, ':', len);
		if (colon == NULL) {
			*why = "has no port (write HOST:PORT, as "
			       "127.0.0.1:2525 or [::1]:2525)";
			return false;
		}
		hlen = (size_t)(colon - s);
	}
	if (!port_ok(colon + 1, len - (size_t)(colon + 1 - s))) {
		*why = "has no valid port (a number from 0 to 65535; 0 picks "
		       "a free port)";
		return false;
	}
	host = xstrndup(hs, hlen);
	if (!listen_host_ok(host, hlen, bracketed, why)) {
		free(host);
		return false;
	}
	out->host = host;
	out->port = xstrndup(colon + 1, len - (size_t)(colon + 1 - s));
	out->address = xstrndup(s, len);
	return true;
}

/* Duplicates. */

struct sorted_name {
	const char *s;
	size_t len;
	size_t idx;
};

static int
cmp_sorted_name(const void *a, const void *b)
{
	const struct sorted_name *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->s, y->s, x->len);
	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void
cfg_find_dups(const struct cfg_name *names, size_t n, size_t *first)
{
	struct sorted_name *v;
	size_t i, m = 0, head = 0;

	v = xcalloc(n > 0 ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		first[i] = i;
		if (names[i].s == NULL)
			continue;
		v[m].s = names[i].s;
		v[m].len = names[i].len;
		v[m].idx = i;
		m++;
	}
	/* Sorting keeps this O(n log n) for a hostile file of many keys. */
	qsort(v, m, sizeof(*v), cmp_sorted_name);
	for (i = 1; i < m; i++) {
		if (v[i].len == v[head].len &&
		    memcmp(v[i].s, v[head].s, v[i].len) == 0)
			first[v[i].idx] = v[head].idx;
		else
			head = i;
	}
	free(v);
}

size_t *
cfg_dups_of(const void *base, size_t n, size_t stride, size_t offset)
{
	struct cfg_name *names = xcalloc(n + 1, sizeof(*names));
	size_t i, *first = xcalloc(n + 1, sizeof(*first));
	const char *s;

	for (i = 0; i < n; i++) {
		memcpy(&s, (const char *)base + i * stride + offset, sizeof(s));
		names[i].s = s;
		names[i].len = s != NULL ? strlen(s) : 0;
	}
	cfg_find_dups(names, n, first);
	free(names);
	return first;
}

/* Instances: duplicate hosts and hosts that are also trigger.host. */

static int
cmp_host_ptr(const void *a, const void *b)
{
	const struct instance *x = *(const struct instance *const *)a;
	const struct instance *y = *(const struct instance *const *)b;

	return strcmp(x->host, y->host);
}

/* Finds the instance whose host is exactly s (len) in sorted v. */
static const struct instance *
find_sorted(const struct instance **v, size_t n, const char *s, size_t len)
{
	size_t lo = 0, hi = n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strncmp(v[mid]->host, s, len);
		if (c == 0 && v[mid]->host[len] != '\0')
			c = 1;
		if (c == 0)
			return v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
check_duplicate_hosts(struct cfg_ctx *ctx, const struct config *cfg)
{
	size_t *first, i;

	first = cfg_dups_of(cfg->instances, cfg->n_instances,
	    sizeof(struct instance), offsetof(struct instance, host));
	for (i = 0; i < cfg->n_instances; i++) {
		const struct instance *a = &cfg->instances[first[i]];
		const struct instance *b = &cfg->instances[i];

		if (first[i] == i)
			continue;
		cfg_err_at(ctx, b->line, b->column,
		    "instances[%zu].host: "
		    "'%s' is already the host of instances[%zu] (line %u); "
		    "give each instance its own host",
		    i, b->host, first[i], a->line);
	}
	free(first);
}

/*
 * Mail to x.acme.example.com would mean trigger x of acme.example.com
 * (recipient form) and also the instance x.acme.example.com (trigger form).
 */
static void
check_ambiguous_hosts(struct cfg_ctx *ctx, const struct config *cfg)
{
	const struct instance **v, *owner, *b;
	const struct trigger *t;
	const char *dot;
	size_t i, m = 0;

	v = xcalloc(cfg->n_instances + 1, sizeof(*v));
	for (i = 0; i < cfg->n_instances; i++)
		if (cfg->instances[i].host != NULL)
			v[m++] = &cfg->instances[i];
	qsort(v, m, sizeof(*v), cmp_host_ptr);
	for (i = 0; i < cfg->n_instances; i++) {
		b = &cfg->instances[i];
		if (b->host == NULL)
			continue;
		dot = strchr(b->host, '.');
		if (dot == NULL)
			continue;
		owner = find_sorted(v, m, dot + 1, strlen(dot + 1));
		if (owner == NULL)
			continue;
		t = config_find_trigger(owner, b->host,
		    (size_t)(dot - b->host));
		if (t == NULL)
			continue;
		cfg_err_at(ctx, b->line, b->column,
		    "instances[%zu].host: "
		    "'%s' is also trigger '%s' of instance '%s' (line %u), so "
		    "mail to it would be ambiguous; rename the trigger or "
		    "this host",
		    i, b->host, t->name, owner->host, t->line);
	}
	free(v);
}

void
cfg_check_instances(struct cfg_ctx *ctx, struct config *cfg)
{
	check_duplicate_hosts(ctx, cfg);
	check_ambiguous_hosts(ctx, cfg);
}
