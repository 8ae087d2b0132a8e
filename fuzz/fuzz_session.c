/*
 * fuzz_session - libFuzzer target for the SMTP session state machine.
 *
 * Input: an optional option block "\xff" OPT, then the client's bytes.
 * Bytes that do not start with an SMTP verb are taken as message content
 * (the shared e-mail corpus seeds this target): they are sent after a
 * fixed EHLO/MAIL/RCPT/DATA preamble (or as one BDAT chunk when OPT has
 * bit 3), followed by CRLF.CRLF. OPT bit 0 offers STARTTLS, bits 1-2 pick
 * the limits (tiny ones reach every limit), bit 4 shuts the session down
 * half way, bit 5 makes the client IPv6, bit 6 lets a piece arrive while
 * STARTTLS is pending. The bytes are fed in pieces whose sizes come from a PRNG
 * seeded with the input, as the shell would read them; MESSAGE events are
 * answered with session_commit_done() alternating ok and failed, STARTTLS
 * with session_tls_started().
 *
 * Aborts when an invariant breaks:
 *   - session_input() consumes all it is given unless a message waits for
 *     its commit or SESSION_OUTPUT_HIGH bytes of replies wait; after CLOSE
 *     or while STARTTLS is pending it consumes everything and says nothing;
 *   - every reply line is CRLF terminated, "ddd " or "ddd-", at most 512
 *     octets (RFC 5321 4.5.3.1.5), holds no other CR or LF, and every 4xx
 *     and 5xx line carries an enhanced code of its class (RFC 2034);
 *   - buffers stay within their limits: command line, output, message data
 *     (limits.message_size), recipients, RCPT log;
 *   - a queued message has at least one routed recipient (a provisional
 *     CNAME recipient is routed or refused by then); DATA content is
 *     CRLF-only (no bare CR or LF survives: SMTP smuggling);
 *   - the Received: header is CRLF terminated, folded, without bare CR/LF.
 * Seeds: fuzz/corpus/session/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/session.h"
#include "smtp/session_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char *listed[] = { "ops", "dev" };
static struct trigger triggers[] = {
	{ .name = "alert" },
	{ .name = "deploy", .recipients = listed, .n_recipients = N(listed) },
};
/* Opted in to CNAME recovery: RCPT to x@mx.test is provisional and
 * settled at the end of DATA (route/cname.h). */
static struct instance instances[] = {
	{ .host = "demo.test",
	    .accept_cname_expanded = true,
	    .triggers = triggers,
	    .n_triggers = N(triggers) },
};
static char *canonical[] = { "mx.test" };
static struct config cfg = {
	.hostname = "mx.test",
	.canonical_names = canonical,
	.n_canonical_names = N(canonical),
	.instances = instances,
	.n_instances = N(instances),
	.refcount = 1, /* static: never freed */
};

static const char preamble[] = "EHLO fuzz.test\r\nMAIL FROM:<a@example.org> "
			       "SMTPUTF8\r\nRCPT TO:<alert@demo.test>\r\n";

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant broken: %s\n", what);
		abort();
	}
}

static struct limits
pick_limits(unsigned opt)
{
	struct limits l = {
		.message_size = 25 * 1024 * 1024,
		.recipients = 100,
		.errors = 10,
		.command_line = 512,
		.text_line = 1000,
	};

	switch ((opt >> 1) & 3) {
	case 1: /* tiny: every limit is reachable */
		l.message_size = 64;
		l.recipients = 2;
		l.errors = 3;
		l.command_line = 40;
		l.text_line = 20;
		break;
	case 2:
		l.message_size = 4096;
		l.recipients = 5;
		l.errors = 50;
		break;
	case 3:
		l.errors = 0; /* no error limit */
		break;
	}
	return l;
}

static uint64_t
prng(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Reply lines: "ddd" SP/"-" text CRLF, error lines with enhanced codes. */
static void
check_output(const struct buf *out)
{
	const char *p = out->data, *end = out->data + out->len, *crlf;
	size_t n;

	check(out->len < SESSION_OUTPUT_HIGH + 16384, "output bounded");
	while (p < end) {
		crlf = memchr(p, '\n', (size_t)(end - p));
		check(crlf != NULL && crlf > p && crlf[-1] == '\r',
		    "reply ends in CRLF");
		n = (size_t)(crlf - p) + 1;
		check(n <= 512, "reply line at most 512 octets");
		check(n >= 6 && p[0] >= '2' && p[0] <= '5' && p[1] >= '0' &&
			p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
			(p[3] == ' ' || p[3] == '-'),
		    "reply code");
		check(memchr(p, '\r', n - 2) == NULL &&
			memchr(p, '\n', n - 1) == NULL,
		    "no CR or LF inside a reply line");
		if (p[0] == '4' || p[0] == '5')
			check(n >= 12 && p[4] == p[0] && p[5] == '.',
			    "enhanced status code of the reply's class");
		p = crlf + 1;
	}
}

/* DATA content: CRLF-only line ends (no bare CR or LF is ever stored). */
static void
check_crlf_only(const char *d, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (d[i] == '\r')
			check(i + 1 < len && d[i + 1] == '\n', "no bare CR");
		if (d[i] == '\n')
			check(i > 0 && d[i - 1] == '\r', "no bare LF");
	}
	check(len == 0 ||
		(len >= 2 && d[len - 2] == '\r' && d[len - 1] == '\n'),
	    "content ends in CRLF");
}

static void
check_received(struct smtp_session *s)
{
	struct buf h;
	size_t i, col = 0;

	buf_init(&h, 1 << 16);
	session_received_header(s, "0123456789ABCDEF",
	    "Tue, 1 Dec 2026 12:00:00 +0000", &h);
	check(h.len > 12 && memcmp(h.data, "Received: ", 10) == 0,
	    "Received: header");
	check(h.data[h.len - 2] == '\r' && h.data[h.len - 1] == '\n',
	    "Received: ends in CRLF");
	for (i = 0; i < h.len; i++) {
		if (h.data[i] == '\n') {
			check(i + 1 == h.len || h.data[i + 1] == '\t',
			    "Received: folded with TAB");
			col = 0;
			continue;
		}
		if (h.data[i] == '\r')
			check(h.data[i + 1] == '\n', "Received: no bare CR");
		check(++col <= 998, "Received: line length");
	}
	buf_free(&h);
}

static void
on_message(struct smtp_session *s, unsigned *n_msgs)
{
	const struct smtp_txn *t = session_txn(s);
	size_t i, len;
	char *data;

	check(t != NULL && t->n_rcpts >= 1, "message has recipients");
	check(t->n_rcpts <= s->limits.recipients, "recipient limit");
	for (i = 0; i < t->n_rcpts; i++)
		check(t->rcpts[i].route.verdict == ROUTE_OK &&
			t->rcpts[i].route.instance != NULL,
		    "only routed recipients");
	check_received(s);
	data = session_take_data(s, &len);
	check(len <= s->limits.message_size, "message size limit");
	check(len == t->size, "size counts the content");
	if (!s->txn->chunking)
		check_crlf_only(data, len);
	free(data);
	session_commit_done(s, (*n_msgs)++ % 2 == 0, "evt_FUZZ");
	check(session_event(s) != SESSION_EV_MESSAGE, "commit ends the event");
}

static void
check_state(const struct smtp_session *s)
{
	check(s->line.len <= s->limits.command_line, "command line bounded");
	if (s->txn == NULL)
		return;
	check(s->txn->t.n_rcpts <= s->limits.recipients, "recipients bounded");
	check(s->txn->t.n_log <= s->limits.recipients + 50, "log bounded");
	check(s->txn->t.data.len <= s->limits.message_size, "data bounded");
}

struct run {
	unsigned opt;
	unsigned n_msgs;
	bool tls_waited; /* the handshake already waited for one piece */
};

/*
 * Starts TLS, or (OPT bit 6) lets one more piece arrive first: it must be
 * discarded (RFC 3207 sec. 4).
 */
static void
on_starttls(struct smtp_session *s, struct run *r)
{
	if ((r->opt & 64) && !r->tls_waited) {
		r->tls_waited = true;
		return;
	}
	r->tls_waited = false;
	session_tls_started(s, "TLSv1.3 FUZZ");
}

/* Feeds one piece, handling events the way the shell does. */
static void
feed(struct smtp_session *s, const char *p, size_t len, struct run *r)
{
	size_t used;

	while (len > 0) {
		enum session_event before = session_event(s);

		used = session_input(s, p, len);
		check(used <= len, "consumed <= len");
		if (before == SESSION_EV_CLOSE ||
		    before == SESSION_EV_STARTTLS) {
			check(used == len, "discards after CLOSE/STARTTLS");
			check(session_output(s)->len == 0, "silent");
		}
		if (used < len)
			check(session_event(s) == SESSION_EV_MESSAGE ||
				session_output(s)->len >= SESSION_OUTPUT_HIGH,
			    "stops only for a commit or output");
		check_output(session_output(s));
		check_state(s);
		buf_reset(session_output(s));
		if (session_event(s) == SESSION_EV_MESSAGE)
			on_message(s, &r->n_msgs);
		else if (session_event(s) == SESSION_EV_STARTTLS)
			on_starttls(s, r);
		check_output(session_output(s));
		buf_reset(session_output(s));
		p += used;
		len -= used;
	}
}

/* True if the input starts like an SMTP command ("XXXX" then SP/CR). */
static bool
looks_like_smtp(const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 8; i++)
		if (d[i] == ' ' || d[i] == '\r')
			return i == 4 || i == 8;
		else if ((d[i] | 0x20) < 'a' || (d[i] | 0x20) > 'z')
			return false;
	return false;
}

/* The client stream: the input itself, or message content wrapped. */
static char *
client_stream(const uint8_t *d, size_t n, unsigned opt, size_t *len)
{
	struct buf b;

	buf_init(&b, (size_t)-1);
	if (looks_like_smtp(d, n)) {
		buf_append(&b, d, n);
	} else if (opt & 8) {
		buf_printf(&b, "%sBDAT %zu LAST\r\n", preamble, n);
		buf_append(&b, d, n);
	} else {
		buf_printf(&b, "%sDATA\r\n", preamble);
		buf_append(&b, d, n);
		buf_puts(&b, "\r\n.\r\nQUIT\r\n");
	}
	return buf_steal(&b, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session_params p;
	struct smtp_session *s;
	uint64_t rnd = 0x9e3779b97f4a7c15ULL;
	struct run r = { 0 };
	size_t len, off, piece, i;
	char *stream;

	if (size >= 2 && data[0] == 0xff) {
		r.opt = data[1];
		data += 2;
		size -= 2;
	}
	for (i = 0; i < size; i++)
		rnd = (rnd ^ data[i]) * 0x100000001b3ULL;
	rnd |= 1;
	stream = client_stream(data, size, r.opt, &len);
	memset(&p, 0, sizeof(p));
	p.cfg = &cfg;
	p.limits = pick_limits(r.opt);
	p.hostname = "mx.test";
	p.client_ip = (r.opt & 32) ? "2001:db8::7" : "192.0.2.7";
	p.tls_available = r.opt & 1;
	s = session_new(&p);
	session_greet(s);
	check_output(session_output(s));
	buf_reset(session_output(s));
	for (off = 0; off < len; off += piece) {
		piece = 1 + (size_t)(prng(&rnd) % 64);
		if (piece > len - off)
			piece = len - off;
		if ((r.opt & 16) && off <= len / 2 && off + piece > len / 2) {
			session_shutdown(s);
			check_output(session_output(s));
			buf_reset(session_output(s));
		}
		feed(s, stream + off, piece, &r);
	}
	session_idle_timeout(s);
	check(session_event(s) == SESSION_EV_CLOSE, "timeout closes");
	check_output(session_output(s));
	session_free(s);
	free(stream);
	return 0;
}
