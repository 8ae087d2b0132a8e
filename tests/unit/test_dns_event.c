/*
 * test_dns_event - the resolver driven by libevent (dns_event.h) against
 * a DNS responder on loopback written here: answers, NXDOMAIN, a
 * timeout, a whole RFC 5321 5.1 plan run asynchronously, and lookups
 * cancelled by freeing the resolver.
 *
 * The responder is a UDP socket on 127.0.0.1 in the same event loop. It
 * knows a few names (table zone[]); for an unknown name it answers
 * NXDOMAIN, for "mute.test" nothing. A 5 s guard timer fails a test that
 * would hang.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "dns/dns_event.h"
#include "dns/mxplan.h"

struct zrr {
	const char *name;
	unsigned type;
	const char *target; /* CNAME target, or NULL */
	uint32_t a;         /* A address */
};

static const struct zrr zone[] = {
	{ "a.test", DNS_T_A, NULL, 0xc0000201 },
	{ "alias.test", DNS_T_CNAME, "a.test", 0 },
};

struct fixture {
	struct event_base *base;
	int fd;
	struct event *srv, *guard;
	char servers[64];
	int expect; /* callbacks still to come before the loop stops */
	struct dns_answer got[4];
	int ngot;
	bool plan_finished;
};

static bool
name_known(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		if (strcasecmp(zone[i].name, name) == 0)
			return true;
	return false;
}

/* Appends the records for name/type; returns their count. */
static unsigned
add_records(unsigned char *b, size_t *n, const char *name, unsigned type)
{
	unsigned count = 0;
	size_t i, l;
	const char *s, *dot;

	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
		if (strcasecmp(zone[i].name, name) != 0 || zone[i].type != type)
			continue;
		count++;
		b[(*n)++] = 0xc0; /* owner: the question name */
		b[(*n)++] = 12;
		b[(*n)++] = 0;
		b[(*n)++] = (unsigned char)type;
		b[(*n)++] = 0;
		b[(*n)++] = 1;
		memcpy(b + *n, "\0\0\0\x3c", 4); /* TTL 60 */
		*n += 4;
		if (type == DNS_T_A) {
			b[(*n)++] = 0;
			b[(*n)++] = 4;
			b[(*n)++] = (unsigned char)(zone[i].a >> 24);
			b[(*n)++] = (unsigned char)(zone[i].a >> 16);
			b[(*n)++] = (unsigned char)(zone[i].a >> 8);
			b[(*n)++] = (unsigned char)zone[i].a;
			continue;
		}
		b[(*n)++] = 0;
		b[(*n)++] = (unsigned char)(strlen(zone[i].target) + 2);
		for (s = zone[i].target; *s != '\0'; s += l + (dot ? 1 : 0)) {
			dot = strchr(s, '.');
			l = dot ? (size_t)(dot - s) : strlen(s);
			b[(*n)++] = (unsigned char)l;
			memcpy(b + *n, s, l);
			*n += l;
		}
		b[(*n)++] = 0;
	}
	return count;
}

/* The responder: one query in, one answer out (or none for mute). */
static void
srv_cb(evutil_socket_t fd, short what, void *arg)
{
	unsigned char b[1024];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	char name[256];
	size_t n, p = 12, o = 0;
	ssize_t len;
	unsigned type, an;

	len = recvfrom(fd, b, 512, 0, (struct sockaddr *)&from, &fl);
	if (len < 17)
		return;
	while (p < (size_t)len && b[p] != 0 && o + b[p] + 1 < sizeof(name)) {
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, b + p + 1, b[p]);
		o += b[p];
		p += 1 + b[p];
	}
	name[o] = '\0';
	type = (unsigned)b[p + 1] << 8 | b[p + 2];
	n = p + 5; /* header + question, kept as sent */
	if (strcmp(name, "mute.test") == 0)
		return;
	an = add_records(b, &n, name, type);
	b[2] = 0x81;
	b[3] = name_known(name) ? 0x80 : 0x83; /* NOERROR / NXDOMAIN */
	b[6] = 0;
	b[7] = (unsigned char)an;
	sendto(fd, b, n, 0, (struct sockaddr *)&from, fl);
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("the event loop did not finish within 5 s");
}

static int
setup(void **state)
{
	static struct fixture f;
	struct sockaddr_in sin = { 0 };
	socklen_t sl = sizeof(sin);
	struct timeval five = { 5, 0 };

	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	f.fd = socket(AF_INET, SOCK_DGRAM, 0);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(f.fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(f.servers, sizeof(f.servers), "127.0.0.1:%u",
	    ntohs(sin.sin_port));
	f.srv = event_new(f.base, f.fd, EV_READ | EV_PERSIST, srv_cb, NULL);
	event_add(f.srv, NULL);
	f.guard = evtimer_new(f.base, guard_cb, NULL);
	evtimer_add(f.guard, &five);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	event_free(f->srv);
	event_free(f->guard);
	close(f->fd);
	event_base_free(f->base);
	return 0;
}

static struct dns_event *
resolver(struct fixture *f, unsigned timeout_ms)
{
	struct dns_config cfg = { 0 };
	char err[128];
	struct dns_event *de;

	cfg.servers = f->servers;
	cfg.timeout_ms = timeout_ms;
	cfg.tries = 1;
	de = dns_event_new(f->base, &cfg, err, sizeof(err));
	if (de == NULL)
		fail_msg("dns_event_new: %s", err);
	return de;
}

static void
done_cb(const struct dns_answer *ans, void *arg)
{
	struct fixture *f = arg;

	f->got[f->ngot++] = *ans;
	if (--f->expect == 0)
		event_base_loopbreak(f->base);
}

static void
test_answers(void **state)
{
	struct fixture *f = *state;
	struct dns_event *de = resolver(f, 1000);
	int i;

	f->expect = 3;
	dns_query(dns_event_resolver(de), "a.test", DNS_T_A, done_cb, f);
	dns_query(dns_event_resolver(de), "nx.test", DNS_T_MX, done_cb, f);
	dns_query(dns_event_resolver(de), "alias.test.", DNS_T_CNAME, done_cb,
	    f);
	event_base_dispatch(f->base);
	assert_int_equal(f->ngot, 3);
	for (i = 0; i < 3; i++) {
		const struct dns_answer *a = &f->got[i];

		if (strcmp(a->qname, "a.test") == 0) {
			assert_int_equal(a->rcode, DNS_NOERROR);
			assert_int_equal(a->n, 1);
			assert_string_equal(a->rr[0].data, "192.0.2.1");
			assert_int_equal(a->rr[0].ttl, 60);
		} else if (strcmp(a->qname, "nx.test") == 0) {
			assert_int_equal(a->rcode, DNS_NXDOMAIN);
		} else {
			assert_string_equal(a->qname, "alias.test");
			assert_int_equal(a->rr[0].type, DNS_T_CNAME);
			assert_string_equal(a->rr[0].data, "a.test");
		}
	}
	assert_int_equal(dns_pending(dns_event_resolver(de)), 0);
	dns_event_free(de);
}

static void
test_timeout(void **state)
{
	struct fixture *f = *state;
	struct dns_event *de = resolver(f, 150);

	f->expect = 1;
	dns_query(dns_event_resolver(de), "mute.test", DNS_T_A, done_cb, f);
	event_base_dispatch(f->base);
	assert_int_equal(f->got[0].rcode, DNS_TIMEOUT);
	dns_event_free(de);
}

static void
plan_done(struct mxplan *plan, void *arg)
{
	struct fixture *f = arg;

	f->plan_finished = true;
	event_base_loopbreak(f->base);
}

static void
test_plan_async(void **state)
{
	struct fixture *f = *state;
	struct dns_event *de = resolver(f, 1000);
	static struct mxplan plan;
	struct dns_lookups t = { 0 };

	mxplan_resolve_async(dns_event_resolver(de), "alias.test", &t, &plan,
	    plan_done, f);
	event_base_dispatch(f->base);
	assert_true(f->plan_finished);
	assert_int_equal(plan.outcome, MXPLAN_DELIVERABLE);
	assert_string_equal(plan.canonical, "a.test");
	assert_int_equal(plan.nhosts, 1);
	assert_true(plan.hosts[0].implicit);
	assert_string_equal(plan.hosts[0].addr[0], "192.0.2.1");
	dns_lookups_free(&t);
	dns_event_free(de);
}

/* Freeing the resolver runs the pending callbacks, as "cancelled"; a
 * plan whose lookup is cancelled still finishes. */
static void
test_free_cancels(void **state)
{
	struct fixture *f = *state;
	struct dns_event *de = resolver(f, 5000);
	static struct mxplan plan;
	struct dns_lookups t = { 0 };

	f->expect = 1;
	dns_query(dns_event_resolver(de), "mute.test", DNS_T_A, done_cb, f);
	mxplan_resolve_async(dns_event_resolver(de), "mute.test", &t, &plan,
	    plan_done, f);
	dns_event_free(de);
	assert_int_equal(f->ngot, 1);
	assert_int_equal(f->got[0].rcode, DNS_ERROR);
	assert_string_equal(f->got[0].detail, "cancelled");
	assert_true(f->plan_finished);
	assert_int_equal(plan.outcome, MXPLAN_TEMPFAIL);
	dns_lookups_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_async, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_cancels, setup,
		    teardown),
	};

	assert_int_equal(dns_library_init(), 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
