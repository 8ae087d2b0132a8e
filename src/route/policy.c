/*
 * policy - the sender policy (route/policy.h): envelope sender against a
 * trigger's senders list.
 *
 * Pure. Entries come normalised from the config loader (config_rules.c:
 * the domain lower-cased without a trailing dot, the local part decoded),
 * but nothing here relies on it beyond the split at the last '@': a
 * hand-made entry without '@', or with an empty side, matches nothing.
 */
#include "route/policy.h"

#include <string.h>

/* A counted string. */
struct span {
	const char *p;
	size_t n;
};

static char
ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* ASCII case-insensitive; other bytes only equal themselves. */
static bool
domain_eq(struct span a, struct span b)
{
	size_t i;

	if (a.n != b.n)
		return false;
	for (i = 0; i < a.n; i++)
		if (ascii_lower(a.p[i]) != ascii_lower(b.p[i]))
			return false;
	return true;
}

/* s with one trailing dot dropped (an absolute name is the same host). */
static struct span
drop_dot(const char *s, size_t n)
{
	struct span d = { s, n };

	if (d.n > 0 && d.p[d.n - 1] == '.')
		d.n--;
	return d;
}

/* One entry against a sender that is not the null sender. */
static bool
entry_matches(const char *entry, const struct mailbox *from)
{
	const char *at = strrchr(entry, '@');
	struct span local, domain;

	if (at == NULL || at == entry || at[1] == '\0')
		return false;
	local.p = entry;
	local.n = (size_t)(at - entry);
	domain = drop_dot(at + 1, strlen(at + 1));
	if (!domain_eq(domain,
		drop_dot(from->domain,
		    strnlen(from->domain, sizeof(from->domain)))))
		return false;
	if (local.n == 1 && local.p[0] == '*')
		return true;
	return strnlen(from->local, sizeof(from->local)) == local.n &&
	    memcmp(from->local, local.p, local.n) == 0;
}

void
policy_sender(const struct trigger *t, const struct mailbox *from,
    struct policy_result *res)
{
	size_t i;
	bool null;

	res->verdict = POLICY_ANY;
	res->matched = NULL;
	if (t == NULL || t->senders == NULL)
		return;
	res->verdict = POLICY_DENIED;
	if (from == NULL || (!from->is_null && from->domain_literal))
		return;
	for (i = 0; i < t->n_senders; i++) {
		if (t->senders[i] == NULL)
			continue;
		null = strcmp(t->senders[i], "<>") == 0;
		if (from->is_null ? null : entry_matches(t->senders[i], from)) {
			res->verdict = POLICY_ALLOWED;
			res->matched = t->senders[i];
			return;
		}
	}
}

const char *
policy_verdict_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_ANY:
		return "any";
	case POLICY_ALLOWED:
		return "allowed";
	case POLICY_DENIED:
		return "denied";
	}
	return "denied";
}
