/*
 * test_router - RCPT routing: both address forms, every refusal, and every
 * open-relay form we know of, each asserted to the exact reply.
 *
 * The config is built by hand in static data (no config_parse), so these
 * tests depend on nothing but the router and the address parser. Every
 * row parses its path with the real parser first, then routes it. After
 * every decision, check_hosted() asserts the one property that makes the
 * gateway safe: ROUTE_OK only ever for a domain that is hosted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mail/address.h"
#include "route/router.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define F_UTF8 0x1

/* The test config: see docs/routing.md for the forms. */
static char *deploy_recipients[] = { "ops", "Dev" };
static char *nobody[] = { NULL };

static struct trigger demo_triggers[] = {
	{ .name = "alert" },
	{ .name = "deploy",
	    .recipients = deploy_recipients,
	    .n_recipients = N(deploy_recipients) },
	{ .name = "closed", .recipients = nobody, .n_recipients = 0 },
	{ .name = "sub" },
	{ .name = "evil" },
};
static struct trigger sub_triggers[] = { { .name = "alert" } };
static struct trigger acme_triggers[] = { { .name = "db-outage" } };
static struct trigger buecher_triggers[] = { { .name = "alert" } };
static struct trigger hosted_triggers[] = { { .name = "alert" } };

static struct instance instances[] = {
	{ .host = "demo.localhost",
	    .triggers = demo_triggers,
	    .n_triggers = N(demo_triggers) },
	/* Nested under demo.localhost, which has a trigger "sub": an exact
	 * instance match must win over the recipient form. */
	{ .host = "sub.demo.localhost",
	    .triggers = sub_triggers,
	    .n_triggers = N(sub_triggers) },
	{ .host = "acme.triggers.example.com",
	    .triggers = acme_triggers,
	    .n_triggers = N(acme_triggers) },
	{ .host = "bücher.example",
	    .triggers = buecher_triggers,
	    .n_triggers = N(buecher_triggers) },
	/* Inside a canonical wildcard: hosting must win over the diagnosis. */
	{ .host = "hosted.lb.example.net",
	    .triggers = hosted_triggers,
	    .n_triggers = N(hosted_triggers) },
};

static char *canonical[] = { "mx.example.net", "*.lb.example.net",
	"lb-*.mx.example.org" };

static const struct config cfg = {
	.canonical_names = canonical,
	.n_canonical_names = N(canonical),
	.instances = instances,
	.n_instances = N(instances),
};

#define RELAY "Relay access denied"
#define NO_TRIGGER "Recipient address rejected: no such trigger"
#define NOT_RCPT "Recipient address rejected: not a recipient of this trigger"
#define NO_PM                                                              \
	"Recipient address rejected: no postmaster is configured on this " \
	"gateway"
#define CNAME                                                             \
	"this is the mail server's own name, not a trigger address; the " \
	"sending server rewrote the recipient through CNAME expansion - " \
	"send to trigger@your-instance-host and disable CNAME expansion " \
	"on the sending server (Sendmail: confDONT_EXPAND_CNAMES)"

struct row {
	const char *name;
	const char *path;
	size_t len;
	unsigned flags;
	enum addr_status parse; /* not ADDR_OK: the router is not reached */
	int code;
	const char *enhanced;
	const char *text; /* NULL: "<address>: " + suffix */
	const char *suffix;
	const char *reason;
	const char *instance; /* NULL: none */
	const char *trigger;
	enum route_form form;
	const char *recipient;
	const char *tag;
};

/* clang-format off */
/* Accepted: instance, trigger, form, recipient, tag. */
#define OK(n, p, f, i, t, fm, r, g) \
	{ n, p, sizeof(p) - 1, f, ADDR_OK, 250, "2.1.5", "Ok", NULL, "ok", \
	  i, t, fm, r, g }
#define TRIG ROUTE_FORM_TRIGGER
#define RCPT ROUTE_FORM_RECIPIENT
/* Refused by the router with "<address>: " suffix. */
#define REJ(n, p, f, c, e, s, why) \
	{ n, p, sizeof(p) - 1, f, ADDR_OK, c, e, NULL, s, why, \
	  NULL, NULL, ROUTE_FORM_NONE, "", "" }
#define RELAY_DENIED(n, p, f) REJ(n, p, f, 554, "5.7.1", RELAY, "relay_denied")
#define NO_SUCH_TRIGGER(n, p, f) \
	REJ(n, p, f, 550, "5.1.1", NO_TRIGGER, "no_such_trigger")
#define NOT_A_RECIPIENT(n, p, f) \
	REJ(n, p, f, 550, "5.1.1", NOT_RCPT, "not_a_recipient")
#define CANONICAL(n, p, f) REJ(n, p, f, 550, "5.1.2", CNAME, "canonical_name")
#define NO_POSTMASTER(n, p, f) \
	REJ(n, p, f, 550, "5.1.1", NO_PM, "no_postmaster")
/* Refused by the parser (the session answers 501/553 itself). */
#define UNPARSABLE(n, p, f, st) \
	{ n, p, sizeof(p) - 1, f, st, 0, "", "", "", "", \
	  NULL, NULL, ROUTE_FORM_NONE, "", "" }
/* clang-format on */

static const struct row rows[] = {
	/* Trigger form: trigger[+tag]@instance-host. */
	OK("trigger form", "<alert@demo.localhost>", 0, "demo.localhost",
	    "alert", TRIG, "", ""),
	OK("trigger form tag", "<alert+p1@demo.localhost>", 0, "demo.localhost",
	    "alert", TRIG, "", "p1"),
	OK("trigger form empty tag", "<alert+@demo.localhost>", 0,
	    "demo.localhost", "alert", TRIG, "", ""),
	OK("trigger form tag with plus", "<alert+a+b@demo.localhost>", 0,
	    "demo.localhost", "alert", TRIG, "", "a+b"),
	OK("trigger form case", "<ALERT@DEMO.LocalHost>", 0, "demo.localhost",
	    "alert", TRIG, "", ""),
	OK("trigger form tag case kept", "<Alert+P1@Demo.Localhost>", 0,
	    "demo.localhost", "alert", TRIG, "", "P1"),
	OK("trigger form trailing dot", "<alert@demo.localhost.>", 0,
	    "demo.localhost", "alert", TRIG, "", ""),
	OK("trigger form quoted", "<\"alert\"@demo.localhost>", 0,
	    "demo.localhost", "alert", TRIG, "", ""),
	OK("trigger form quoted tag", "<\"alert+x y\"@demo.localhost>", 0,
	    "demo.localhost", "alert", TRIG, "", "x y"),
	OK("trigger form of a listed trigger", "<deploy@demo.localhost>", 0,
	    "demo.localhost", "deploy", TRIG, "", ""),
	OK("trigger form of a closed trigger", "<closed+x@demo.localhost>", 0,
	    "demo.localhost", "closed", TRIG, "", "x"),
	OK("trigger form other instance",
	    "<db-outage+p1@acme.triggers.example.com>", 0,
	    "acme.triggers.example.com", "db-outage", TRIG, "", "p1"),
	OK("trigger form with utf8 flag", "<alert@demo.localhost>", F_UTF8,
	    "demo.localhost", "alert", TRIG, "", ""),
	OK("trigger form utf8 tag", "<alert+ü@demo.localhost>", F_UTF8,
	    "demo.localhost", "alert", TRIG, "", "ü"),
	NO_SUCH_TRIGGER("unknown trigger", "<nosuch@demo.localhost>", 0),
	NO_SUCH_TRIGGER("empty trigger before tag", "<+p1@demo.localhost>", 0),
	NO_SUCH_TRIGGER("trigger prefix", "<aler@demo.localhost>", 0),
	NO_SUCH_TRIGGER("trigger with dot", "<alert.x@demo.localhost>", 0),
	NO_SUCH_TRIGGER("quoted empty", "<\"\"@demo.localhost>", 0),
	NO_SUCH_TRIGGER("trigger of another instance",
	    "<db-outage@demo.localhost>", 0),
	/* RFC 5321 4.5.1: no postmaster trigger in this config. */
	NO_POSTMASTER("postmaster at an instance",
	    "<postmaster@demo.localhost>", 0),
	NO_POSTMASTER("bare postmaster", "<Postmaster>", 0),
	NO_POSTMASTER("postmaster at a canonical name",
	    "<POSTMASTER@mx.example.net>", 0),
	RELAY_DENIED("postmaster elsewhere", "<postmaster@example.org>", 0),
	RELAY_DENIED("postmaster at a literal", "<postmaster@[127.0.0.1]>", 0),

	/* Recipient form: recipient@trigger.instance-host. */
	OK("recipient form", "<oncall@alert.demo.localhost>", 0,
	    "demo.localhost", "alert", RCPT, "oncall", ""),
	OK("recipient form case kept", "<OnCall@ALERT.Demo.LOCALHOST>", 0,
	    "demo.localhost", "alert", RCPT, "OnCall", ""),
	OK("recipient form trailing dot", "<oncall@alert.demo.localhost.>", 0,
	    "demo.localhost", "alert", RCPT, "oncall", ""),
	OK("recipient form plus is not a tag", "<a+b@alert.demo.localhost>", 0,
	    "demo.localhost", "alert", RCPT, "a+b", ""),
	OK("recipient form quoted", "<\"on call\"@alert.demo.localhost>", 0,
	    "demo.localhost", "alert", RCPT, "on call", ""),
	OK("recipient listed", "<ops@deploy.demo.localhost>", 0,
	    "demo.localhost", "deploy", RCPT, "ops", ""),
	OK("recipient listed other case", "<OPS@deploy.demo.localhost>", 0,
	    "demo.localhost", "deploy", RCPT, "OPS", ""),
	OK("recipient listed upper in config", "<dev@deploy.demo.localhost>", 0,
	    "demo.localhost", "deploy", RCPT, "dev", ""),
	OK("recipient utf8", "<jörg@alert.demo.localhost>", F_UTF8,
	    "demo.localhost", "alert", RCPT, "jörg", ""),
	OK("recipient form other instance",
	    "<oncall-dba@db-outage.acme.triggers.example.com>", 0,
	    "acme.triggers.example.com", "db-outage", RCPT, "oncall-dba", ""),
	NOT_A_RECIPIENT("recipient unlisted", "<eve@deploy.demo.localhost>", 0),
	NOT_A_RECIPIENT("recipient listed plus tag",
	    "<ops+x@deploy.demo.localhost>", 0),
	NOT_A_RECIPIENT("recipient of closed trigger",
	    "<ops@closed.demo.localhost>", 0),
	NOT_A_RECIPIENT("recipient empty", "<\"\"@alert.demo.localhost>", 0),
	NO_SUCH_TRIGGER("recipient form unknown trigger",
	    "<oncall@nosuch.demo.localhost>", 0),
	NO_SUCH_TRIGGER("recipient form trigger case",
	    "<x@NoSuch.demo.localhost>", 0),

	/* An exact instance match wins over the recipient form. */
	OK("nested instance exact", "<alert@sub.demo.localhost>", 0,
	    "sub.demo.localhost", "alert", TRIG, "", ""),
	NO_SUCH_TRIGGER("nested instance, not recipient form",
	    "<bob@sub.demo.localhost>", 0),
	OK("recipient form of nested instance",
	    "<bob@alert.sub.demo.localhost>", 0, "sub.demo.localhost", "alert",
	    RCPT, "bob", ""),

	/* UTF-8 domains compare exactly apart from ASCII case. */
	OK("utf8 instance", "<alert@bücher.example>", F_UTF8, "bücher.example",
	    "alert", TRIG, "", ""),
	OK("utf8 instance ascii case", "<alert@BüCHER.EXAMPLE>", F_UTF8,
	    "bücher.example", "alert", TRIG, "", ""),
	OK("utf8 instance recipient form", "<x@ALERT.bücher.example.>", F_UTF8,
	    "bücher.example", "alert", RCPT, "x", ""),
	RELAY_DENIED("utf8 upper case not folded", "<alert@BÜCHER.example>",
	    F_UTF8),
	RELAY_DENIED("utf8 upper case foreign", "<user@ÉVIL.example>", F_UTF8),
	UNPARSABLE("utf8 without SMTPUTF8", "<alert@bücher.example>", 0,
	    ADDR_UTF8_NOT_ALLOWED),

	/* Open-relay forms: none may ever reach another host. */
	RELAY_DENIED("source route to us, mailbox foreign",
	    "<@demo.localhost:user@evil.com>", 0),
	RELAY_DENIED("source route list", "<@a,@b:user@evil.com>", 0),
	OK("source route foreign, mailbox ours",
	    "<@evil.com:alert@demo.localhost>", 0, "demo.localhost", "alert",
	    TRIG, "", ""),
	NO_SUCH_TRIGGER("percent hack", "<user%evil.com@demo.localhost>", 0),
	NO_SUCH_TRIGGER("percent hack to trigger name",
	    "<alert%evil.com@demo.localhost>", 0),
	NO_SUCH_TRIGGER("bang path", "<evil.com!user@demo.localhost>", 0),
	NO_SUCH_TRIGGER("quoted at", "<\"user@evil.com\"@demo.localhost>", 0),
	NO_SUCH_TRIGGER("quoted at after trigger",
	    "<\"alert@evil.com\"@demo.localhost>", 0),
	OK("percent hack is only a recipient name",
	    "<user%evil.com@alert.demo.localhost>", 0, "demo.localhost",
	    "alert", RCPT, "user%evil.com", ""),
	RELAY_DENIED("percent hack at foreign domain",
	    "<user%demo.localhost@evil.com>", 0),
	RELAY_DENIED("bang path at foreign domain",
	    "<demo.localhost!user@evil.com>", 0),
	RELAY_DENIED("quoted at, foreign domain",
	    "<\"alert@demo.localhost\"@evil.com>", 0),
	UNPARSABLE("two domains", "<user@evil.com@demo.localhost>", 0,
	    ADDR_SYNTAX),
	UNPARSABLE("two domains, ours first", "<alert@demo.localhost@evil.com>",
	    0, ADDR_SYNTAX),
	RELAY_DENIED("ipv4 literal", "<user@[127.0.0.1]>", 0),
	RELAY_DENIED("ipv4 literal with trigger", "<alert@[127.0.0.1]>", 0),
	RELAY_DENIED("ipv6 literal", "<user@[IPv6:::1]>", 0),
	RELAY_DENIED("general literal naming us",
	    "<alert@[x-host:demo.localhost]>", 0),
	RELAY_DENIED("instance host as prefix",
	    "<user@demo.localhost.evil.com>", 0),
	RELAY_DENIED("foreign labels before instance",
	    "<user@evil.com.demo.localhost>", 0),
	NO_SUCH_TRIGGER("one foreign label before instance",
	    "<user@nope.demo.localhost>", 0),
	OK("one label naming a trigger", "<user@evil.demo.localhost>", 0,
	    "demo.localhost", "evil", RCPT, "user", ""),
	RELAY_DENIED("two labels before instance",
	    "<user@a.alert.demo.localhost>", 0),
	RELAY_DENIED("suffix without dot", "<alert@xdemo.localhost>", 0),
	RELAY_DENIED("parent of instance", "<alert@localhost>", 0),
	RELAY_DENIED("foreign domain", "<alert@evil.com>", 0),
	RELAY_DENIED("foreign domain trailing dot", "<alert@evil.com.>", 0),
	UNPARSABLE("two trailing dots", "<alert@demo.localhost..>", 0,
	    ADDR_SYNTAX),
	UNPARSABLE("leading dot", "<alert@.demo.localhost>", 0, ADDR_SYNTAX),
	UNPARSABLE("unbracketed", "alert@demo.localhost", 0, ADDR_SYNTAX),
	UNPARSABLE("NUL in domain", "<alert@demo.localhost\0.evil.com>", 0,
	    ADDR_SYNTAX),
	UNPARSABLE("NUL in local part", "<alert\0@evil.com>", 0, ADDR_SYNTAX),
	UNPARSABLE("overlong dot", "<alert@demo\xc0\xaelocalhost>", F_UTF8,
	    ADDR_BAD_UTF8),
	UNPARSABLE("overlong at",
	    "<alert\xc1\x80"
	    "evil.com>",
	    F_UTF8, ADDR_BAD_UTF8),
	UNPARSABLE("null path", "<>", 0, ADDR_SYNTAX),

	/* Our own names: the CNAME-expansion diagnosis. */
	CANONICAL("canonical exact", "<alert@mx.example.net>", 0),
	CANONICAL("canonical case and dot", "<alert@MX.Example.NET.>", 0),
	CANONICAL("canonical wildcard one label", "<alert@a.lb.example.net>",
	    0),
	CANONICAL("canonical wildcard two labels", "<alert@b.a.lb.example.net>",
	    0),
	RELAY_DENIED("canonical wildcard needs a label",
	    "<alert@lb.example.net>", 0),
	CANONICAL("canonical label glob", "<alert@lb-7.mx.example.org>", 0),
	RELAY_DENIED("canonical label glob one label only",
	    "<alert@a.lb-7.mx.example.org>", 0),
	RELAY_DENIED("canonical label glob prefix",
	    "<alert@lb7.mx.example.org>", 0),
	RELAY_DENIED("canonical suffix without dot", "<alert@xmx.example.net>",
	    0),
	RELAY_DENIED("canonical parent", "<alert@example.net>", 0),
	OK("hosted inside canonical wildcard", "<alert@hosted.lb.example.net>",
	    0, "hosted.lb.example.net", "alert", TRIG, "", ""),
	NO_SUCH_TRIGGER("hosted inside canonical, unknown trigger",
	    "<nope@hosted.lb.example.net>", 0),
	OK("recipient form inside canonical wildcard",
	    "<x@alert.hosted.lb.example.net>", 0, "hosted.lb.example.net",
	    "alert", RCPT, "x", ""),
};

static bool
str_ok(const char *row, const char *what, const char *got, const char *want)
{
	if (got == NULL)
		got = "(null)";
	if (want == NULL)
		want = "(null)";
	if (strcmp(got, want) == 0)
		return true;
	print_error("%s: %s got \"%s\" want \"%s\"\n", row, what, got, want);
	return false;
}

static bool
int_ok(const char *row, const char *what, long got, long want)
{
	if (got == want)
		return true;
	print_error("%s: %s got %ld want %ld\n", row, what, got, want);
	return false;
}

/* ASCII lower case copy of a domain with one trailing dot dropped. */
static void
normalise(char *dst, size_t size, const char *domain)
{
	size_t n = strlen(domain), i;

	if (n > 0 && domain[n - 1] == '.')
		n--;
	for (i = 0; i < n && i + 1 < size; i++) {
		dst[i] = domain[i];
		if (dst[i] >= 'A' && dst[i] <= 'Z')
			dst[i] = (char)(dst[i] - 'A' + 'a');
	}
	dst[i] = '\0';
}

/*
 * The safety property, checked independently of the router's own code:
 * an accepted recipient's domain is, after dropping one trailing dot and
 * folding ASCII case, exactly the instance host (trigger form) or the
 * trigger name, a dot and the instance host (recipient form); the
 * instance is in the config and the trigger is one of its triggers.
 */
static bool
check_hosted(const char *row, const struct mailbox *m,
    const struct route_result *res)
{
	char dom[ADDR_DOMAIN_MAX + 1], want[ADDR_DOMAIN_MAX + 1];
	const struct instance *in = res->instance;

	if (res->verdict != ROUTE_OK)
		return res->instance == NULL && res->trigger == NULL;
	if (res->code != 250 || in == NULL || res->trigger == NULL ||
	    in < instances || in >= instances + cfg.n_instances ||
	    res->trigger < in->triggers ||
	    res->trigger >= in->triggers + in->n_triggers ||
	    m->domain_literal) {
		print_error("%s: OK without a hosted instance/trigger\n", row);
		return false;
	}
	normalise(dom, sizeof(dom), m->domain);
	if (res->form == ROUTE_FORM_TRIGGER)
		snprintf(want, sizeof(want), "%s", in->host);
	else
		snprintf(want, sizeof(want), "%s.%s", res->trigger->name,
		    in->host);
	if (strcmp(dom, want) != 0) {
		print_error("%s: OK for unhosted domain \"%s\" (\"%s\")\n", row,
		    m->domain, want);
		return false;
	}
	return true;
}

static bool
check_result(const struct row *r, const struct mailbox *m,
    const struct route_result *res)
{
	char text[ROUTE_TEXT_MAX];
	bool ok = true;

	if (r->text != NULL)
		snprintf(text, sizeof(text), "%s", r->text);
	else
		snprintf(text, sizeof(text), "<%s>: %s", m->address, r->suffix);
	ok &= int_ok(r->name, "code", res->code, r->code);
	ok &= int_ok(r->name, "verdict", res->verdict,
	    r->code == 250 ? ROUTE_OK : ROUTE_REJECT);
	ok &= str_ok(r->name, "enhanced", res->enhanced, r->enhanced);
	ok &= str_ok(r->name, "text", res->text, text);
	ok &= str_ok(r->name, "reason", res->reason, r->reason);
	ok &= str_ok(r->name, "instance",
	    res->instance ? res->instance->host : NULL, r->instance);
	ok &= str_ok(r->name, "trigger",
	    res->trigger ? res->trigger->name : NULL, r->trigger);
	ok &= int_ok(r->name, "form", res->form, r->form);
	ok &= str_ok(r->name, "recipient", res->recipient, r->recipient);
	ok &= str_ok(r->name, "tag", res->tag, r->tag);
	return ok && check_hosted(r->name, m, res);
}

static bool
run_row(const struct row *r)
{
	struct mailbox m;
	struct route_result res;
	struct route_query q = { NULL, &m };
	enum addr_status st;
	size_t consumed;

	st = addr_parse_path(r->path, r->len, false, (r->flags & F_UTF8) != 0,
	    &m, &consumed);
	if (st != r->parse) {
		print_error("%s: parse got %s want %s\n", r->name,
		    addr_status_text(st), addr_status_text(r->parse));
		return false;
	}
	if (st != ADDR_OK)
		return true;
	route_rcpt(&cfg, &q, &res);
	return check_result(r, &m, &res);
}

static void
test_routes(void **state)
{
	size_t i, failed = 0, n = sizeof(rows) / sizeof(rows[0]);

	for (i = 0; i < n; i++)
		if (!run_row(&rows[i]))
			failed++;
	if (failed > 0)
		print_error("%zu of %zu rows failed\n", failed, n);
	assert_int_equal(failed, 0);
}

/*
 * Mailboxes made by hand, not by the parser: the router must stay safe
 * with whatever it is given (two trailing dots, an empty domain, a
 * literal flag, control bytes in the address).
 */
static void
test_hand_made_mailboxes(void **state)
{
	static const struct {
		const char *name;
		const char *local, *domain, *address;
		bool is_null, literal;
		int code;
		const char *text;
	} hand[] = {
		{ "two trailing dots", "alert", "demo.localhost..",
		    "alert@demo.localhost..", false, false, 554,
		    "<alert@demo.localhost..>: " RELAY },
		{ "only dots", "alert", "..", "alert@..", false, false, 554,
		    "<alert@..>: " RELAY },
		{ "empty domain", "alert", "", "alert@", false, false, 554,
		    "<alert@>: " RELAY },
		{ "single dot", "alert", ".", "alert@.", false, false, 554,
		    "<alert@.>: " RELAY },
		{ "null path", "", "", "", true, false, 554, "<>: " RELAY },
		{ "literal flag on hosted name", "alert", "demo.localhost",
		    "alert@demo.localhost", false, true, 554,
		    "<alert@demo.localhost>: " RELAY },
		{ "CRLF in address", "x", "evil.com", "x\r\n250 ok@evil.com",
		    false, false, 554, "<x??250 ok@evil.com>: " RELAY },
		{ "leading dot", "alert", ".demo.localhost",
		    "alert@.demo.localhost", false, false, 554,
		    "<alert@.demo.localhost>: " RELAY },
	};
	struct mailbox m;
	struct route_result res;
	struct route_query q = { NULL, &m };
	size_t i, failed = 0;
	bool ok;

	for (i = 0; i < sizeof(hand) / sizeof(hand[0]); i++) {
		memset(&m, 0, sizeof(m));
		snprintf(m.local, sizeof(m.local), "%s", hand[i].local);
		snprintf(m.domain, sizeof(m.domain), "%s", hand[i].domain);
		snprintf(m.address, sizeof(m.address), "%s", hand[i].address);
		m.is_null = hand[i].is_null;
		m.domain_literal = hand[i].literal;
		route_rcpt(&cfg, &q, &res);
		ok = int_ok(hand[i].name, "code", res.code, hand[i].code) &&
		    str_ok(hand[i].name, "text", res.text, hand[i].text) &&
		    check_hosted(hand[i].name, &m, &res);
		failed += !ok;
	}
	assert_int_equal(failed, 0);
}

/* STYLE.md: a lookup that cannot be made is TEMPFAIL, never a decision. */
static void
test_tempfail(void **state)
{
	struct mailbox m;
	struct route_result res;
	struct route_query q = { NULL, &m };
	struct route_query none = { NULL, NULL };
	size_t failed = 0;

	memset(&m, 0, sizeof(m));
	snprintf(m.local, sizeof(m.local), "alert");
	snprintf(m.domain, sizeof(m.domain), "demo.localhost");
	snprintf(m.address, sizeof(m.address), "alert@demo.localhost");
	route_rcpt(NULL, &q, &res);
	failed += !int_ok("no config", "verdict", res.verdict, ROUTE_TEMPFAIL);
	failed += !int_ok("no config", "code", res.code, 451);
	failed += !str_ok("no config", "enhanced", res.enhanced, "4.3.0");
	failed += !str_ok("no config", "text", res.text,
	    "<alert@demo.localhost>: Temporary lookup failure");
	route_rcpt(&cfg, &none, &res);
	failed += !int_ok("no rcpt", "code", res.code, 451);
	failed += !str_ok("no rcpt", "text", res.text,
	    "<>: Temporary lookup failure");
	assert_int_equal(failed, 0);
}

/* An empty config hosts nothing: every parsable address is refused. */
static void
test_empty_config(void **state)
{
	static const struct config empty;
	struct mailbox m;
	struct route_result res;
	struct route_query q = { NULL, &m };
	size_t i, consumed, failed = 0;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (addr_parse_path(rows[i].path, rows[i].len, false, true, &m,
			&consumed) != ADDR_OK)
			continue;
		route_rcpt(&empty, &q, &res);
		/* A bare <Postmaster> always means us (RFC 5321 4.1.1.3). */
		failed += !int_ok(rows[i].name, "empty config code", res.code,
		    m.is_postmaster ? 550 : 554);
	}
	assert_int_equal(failed, 0);
}

/*
 * RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, so the text
 * after "550 5.1.2 " is at most 500, even for the longest address with
 * the long CNAME text; the address is then shortened with "...".
 */
static void
test_reply_fits_a_line(void **state)
{
	char path[ADDR_PATH_MAX + 1], want[ROUTE_TEXT_MAX];
	struct mailbox m;
	struct route_result res;
	struct route_query q = { NULL, &m };
	size_t n = 0, consumed, i, failed = 0;

	/* "<" 63 x "@" 88 "a." "lb.example.net" ">" = 256 octets. */
	path[n++] = '<';
	for (i = 0; i < 63; i++)
		path[n++] = 'x';
	path[n++] = '@';
	while (n < ADDR_PATH_MAX - strlen("lb.example.net>"))
		n += (size_t)snprintf(path + n, sizeof(path) - n, "a.");
	n += (size_t)snprintf(path + n, sizeof(path) - n, "lb.example.net>");
	assert_int_equal(addr_parse_path(path, n, false, false, &m, &consumed),
	    ADDR_OK);
	route_rcpt(&cfg, &q, &res);
	failed += !int_ok("long canonical", "code", res.code, 550);
	failed += !int_ok("long canonical", "text fits",
	    strlen(res.text) <= 500, 1);
	snprintf(want, sizeof(want), "<%.*s...>: %s",
	    (int)(500 - strlen("<...>: ") - strlen(CNAME)), m.address, CNAME);
	failed += !str_ok("long canonical", "text", res.text, want);
	/* The same address refused as a relay is short enough to keep. */
	memcpy(m.domain, "evil.example", sizeof("evil.example"));
	route_rcpt(&cfg, &q, &res);
	snprintf(want, sizeof(want), "<%s>: %s", m.address, RELAY);
	failed += !str_ok("long relay", "text", res.text, want);
	assert_int_equal(failed, 0);
}

/*
 * Parses and routes one sweep path; false if it was accepted although its
 * domain is not hosted, or is foreign (names "evil" or is a literal).
 */
static bool
sweep_one(const char *path, const char *domain, bool utf8, size_t *accepted)
{
	struct mailbox m;
	struct route_result res;
	struct route_query q = { NULL, &m };
	size_t consumed;
	bool foreign;

	if (addr_parse_path(path, strlen(path), false, utf8, &m, &consumed) !=
	    ADDR_OK)
		return true;
	route_rcpt(&cfg, &q, &res);
	if (res.verdict != ROUTE_OK)
		return check_hosted(path, &m, &res);
	(*accepted)++;
	foreign = strstr(domain, "evil") != NULL || domain[0] == '[';
	if (foreign) {
		print_error("sweep %s: accepted a foreign domain\n", path);
		return false;
	}
	return check_hosted(path, &m, &res);
}

/*
 * Every combination of hostile local parts, source routes and domains,
 * with and without SMTPUTF8: an acceptance is only ever for a hosted
 * domain (check_hosted), and a foreign domain never passes.
 */
/*
 * With `postmaster:` set, RFC 5321 4.5.1 postmaster mail goes to that
 * trigger, except at an instance that has a trigger of that name.
 */
static struct trigger ops_triggers[] = { { .name = "pm" },
	{ .name = "postmaster" } };
static struct instance pm_instances[] = {
	{ .host = "ops.example.com",
	    .triggers = ops_triggers,
	    .n_triggers = N(ops_triggers) },
	{ .host = "demo.localhost",
	    .triggers = demo_triggers,
	    .n_triggers = N(demo_triggers) },
};

static void
test_postmaster_configured(void **state)
{
	static const struct {
		const char *name, *path, *trigger, *reason;
		int code;
	} pm_rows[] = {
		{ "bare", "<Postmaster>", "pm", "postmaster", 250 },
		{ "bare lower case", "<postmaster>", "pm", "postmaster", 250 },
		{ "our hostname", "<postmaster@gw.example.net>", "pm",
		    "postmaster", 250 },
		{ "canonical name", "<postmaster@mx.example.net>", "pm",
		    "postmaster", 250 },
		{ "instance without such trigger",
		    "<PostMaster@demo.localhost>", "pm", "postmaster", 250 },
		{ "instance with a postmaster trigger",
		    "<postmaster@ops.example.com>", "postmaster", "ok", 250 },
		{ "foreign domain", "<postmaster@example.org>", NULL,
		    "relay_denied", 554 },
	};
	struct config c = {
		.hostname = "gw.example.net",
		.canonical_names = canonical,
		.n_canonical_names = N(canonical),
		.instances = pm_instances,
		.n_instances = N(pm_instances),
		.postmaster = "pm@ops.example.com",
		.postmaster_instance = &pm_instances[0],
		.postmaster_trigger = &ops_triggers[0],
	};
	struct route_result res;
	struct route_query q;
	struct mailbox m;
	size_t i, used;
	int failed = 0;

	for (i = 0; i < N(pm_rows); i++) {
		const char *want = pm_rows[i].trigger;

		assert_int_equal(addr_parse_path(pm_rows[i].path,
				     strlen(pm_rows[i].path), false, false, &m,
				     &used),
		    ADDR_OK);
		q.mail_from = NULL;
		q.rcpt = &m;
		route_rcpt(&c, &q, &res);
		failed += !int_ok(pm_rows[i].name, "code", res.code,
		    pm_rows[i].code);
		failed += !str_ok(pm_rows[i].name, "reason", res.reason,
		    pm_rows[i].reason);
		failed += !str_ok(pm_rows[i].name, "trigger",
		    res.trigger ? res.trigger->name : NULL, want);
	}
	assert_int_equal(failed, 0);
}

static void
test_open_relay_sweep(void **state)
{
	static const char *routes[] = { "",
		"@evil.com:", "@demo.localhost:", "@a,@b.example:" };
	static const char *locals[] = { "alert", "ALERT", "alert+x", "x",
		"\"alert\"", "\"alert@evil.com\"", "alert%evil.com",
		"evil.com!alert", "\"user@demo.localhost\"", "ops", "eve",
		"\"\"", "\"a\\@b\"", "jörg", "alert.demo.localhost", "deploy" };
	static const char *domains[] = { "demo.localhost", "demo.localhost.",
		"DEMO.LOCALHOST", "alert.demo.localhost",
		"ALERT.demo.localhost.", "deploy.demo.localhost", "evil.com",
		"evil.com.", "demo.localhost.evil.com",
		"evil.com.demo.localhost", "alert.evil.com",
		"alert.demo.localhost.evil.com", "sub.demo.localhost",
		"alert.sub.demo.localhost", "[127.0.0.1]", "[IPv6:::1]",
		"[x:demo.localhost]", "mx.example.net", "a.lb.example.net",
		"hosted.lb.example.net", "bücher.example", "BÜCHER.example",
		"localhost", "com", "demo", "alert" };
	const size_t nr = sizeof(routes) / sizeof(routes[0]);
	const size_t nl = sizeof(locals) / sizeof(locals[0]);
	const size_t nd = sizeof(domains) / sizeof(domains[0]);
	char path[512];
	size_t i, r, l, d, accepted = 0, failed = 0;

	for (i = 0; i < nr * nl * nd * 2; i++) {
		r = i % nr;
		l = i / nr % nl;
		d = i / nr / nl % nd;
		snprintf(path, sizeof(path), "<%s%s@%s>", routes[r], locals[l],
		    domains[d]);
		failed += !sweep_one(path, domains[d], i / nr / nl / nd == 1,
		    &accepted);
	}
	print_message("sweep: %zu paths, %zu accepted\n", nr * nl * nd * 2,
	    accepted);
	assert_true(accepted > 0);
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_hand_made_mailboxes),
		cmocka_unit_test(test_tempfail),
		cmocka_unit_test(test_empty_config),
		cmocka_unit_test(test_reply_fits_a_line),
		cmocka_unit_test(test_postmaster_configured),
		cmocka_unit_test(test_open_relay_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
