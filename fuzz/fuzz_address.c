/*
 * fuzz_address - libFuzzer target for the RFC 5321 path parser and the
 * RCPT router.
 *
 * Parses the input as a path (null path and UTF-8 allowed, then both
 * refused) and routes every mailbox it yields against a small fixed
 * config. Aborts when an invariant breaks:
 *   - consumed <= len; an accepted path starts with "<", ends with ">";
 *   - the fields are within their RFC 5321 4.5.3.1 limits and hold no
 *     control byte; a strict parse that succeeds gives the same result
 *     as the lenient one;
 *   - ROUTE_OK implies an instance and one of its triggers, and a domain
 *     (one trailing dot dropped, ASCII case folded) that is exactly the
 *     instance host or trigger.instance-host: never an open relay;
 *   - a reply text fits one reply line (RFC 5321 4.5.3.1.5) and holds no
 *     CR or LF.
 * Seeds: fuzz/corpus/address/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/address.h"
#include "route/router.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char *listed[] = { "ops", "dev" };
static struct trigger demo_triggers[] = {
	{ .name = "alert" },
	{ .name = "deploy", .recipients = listed, .n_recipients = N(listed) },
	{ .name = "sub" },
};
static struct trigger sub_triggers[] = { { .name = "alert" } };
static struct trigger utf8_triggers[] = { { .name = "alert" } };
static struct instance instances[] = {
	{ .host = "demo.localhost",
	    .triggers = demo_triggers,
	    .n_triggers = N(demo_triggers) },
	{ .host = "sub.demo.localhost",
	    .triggers = sub_triggers,
	    .n_triggers = N(sub_triggers) },
	{ .host = "bücher.example",
	    .triggers = utf8_triggers,
	    .n_triggers = N(utf8_triggers) },
};
static char *canonical[] = { "mx.example.net", "*.lb.example.net",
	"lb-*.mx.example.org" };
static const struct config cfg = {
	.canonical_names = canonical,
	.n_canonical_names = N(canonical),
	.instances = instances,
	.n_instances = N(instances),
};

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_address: invariant broken: %s\n", what);
		abort();
	}
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
has_8bit(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] >= 0x80)
			return 1;
	return 0;
}

/* The independent "is this domain hosted" oracle for ROUTE_OK. */
static void
check_hosted(const struct mailbox *m, const struct route_result *res)
{
	char dom[ADDR_DOMAIN_MAX + 1], want[ADDR_DOMAIN_MAX + 1];
	const struct instance *in = res->instance;
	size_t n = strlen(m->domain), i;

	check(in != NULL && res->trigger != NULL, "OK without instance");
	check(in >= instances && in < instances + N(instances),
	    "instance not in config");
	check(res->trigger >= in->triggers &&
		res->trigger < in->triggers + in->n_triggers,
	    "trigger not of its instance");
	check(!m->domain_literal && !m->is_null, "OK for literal or null");
	if (n > 0 && m->domain[n - 1] == '.')
		n--;
	for (i = 0; i < n; i++) {
		dom[i] = m->domain[i];
		if (dom[i] >= 'A' && dom[i] <= 'Z')
			dom[i] = (char)(dom[i] - 'A' + 'a');
	}
	dom[n] = '\0';
	if (res->form == ROUTE_FORM_TRIGGER)
		snprintf(want, sizeof(want), "%s", in->host);
	else
		snprintf(want, sizeof(want), "%s.%s", res->trigger->name,
		    in->host);
	check(strcmp(dom, want) == 0, "OK for a domain that is not hosted");
}

static void
route_and_check(const struct mailbox *m)
{
	struct route_result res;
	struct route_query q = { NULL, m };

	route_rcpt(&cfg, &q, &res);
	check((res.verdict == ROUTE_OK) == (res.code == 250), "verdict/code");
	check(strlen(res.text) <= 500, "reply text longer than a line");
	check(strchr(res.text, '\r') == NULL && strchr(res.text, '\n') == NULL,
	    "CR or LF in reply text");
	check(res.reason != NULL, "no reason");
	if (res.verdict == ROUTE_OK)
		check_hosted(m, &res);
	else
		check(res.instance == NULL && res.trigger == NULL,
		    "refusal with a trigger");
}

static void
check_mailbox(const uint8_t *data, size_t size, const struct mailbox *m,
    size_t consumed)
{
	check(consumed >= 2 && consumed <= size, "consumed out of range");
	check(consumed <= ADDR_PATH_MAX, "path over 256 octets");
	check(data[0] == '<' && data[consumed - 1] == '>', "not bracketed");
	check(strlen(m->local) <= ADDR_LOCAL_MAX, "local part too long");
	check(strlen(m->domain) <= ADDR_DOMAIN_MAX, "domain too long");
	check(!has_control(m->address) && !has_control(m->domain),
	    "control byte accepted");
	check(m->is_null == (consumed == 2), "null path mismatch");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailbox lax, strict;
	size_t consumed = 0, consumed2 = 0;
	enum addr_status st, st2;

	st = addr_parse_path((const char *)data, size, true, true, &lax,
	    &consumed);
	check(consumed <= size, "consumed > len");
	check(addr_status_text(st) != NULL, "no status text");
	if (st != ADDR_OK) {
		check(consumed == 0, "consumed set on error");
		return 0;
	}
	check_mailbox(data, size, &lax, consumed);
	if (!lax.is_null)
		route_and_check(&lax);

	st2 = addr_parse_path((const char *)data, size, false, false, &strict,
	    &consumed2);
	if (st2 == ADDR_OK) {
		check(consumed2 == consumed, "strict consumed differs");
		check(memcmp(&strict, &lax, sizeof(lax)) == 0,
		    "strict result differs");
		check(!strict.has_utf8 && !strict.is_null, "strict flags");
	} else {
		check(lax.is_null || has_8bit(data, consumed),
		    "strict refused what lax took without null or UTF-8");
	}
	return 0;
}
