/*
 * doctor_probe - the SMTP client behind `doctor --probe` (see the header).
 *
 * Each reply is read into a bounded buffer (4 KB: a greeting or an EHLO
 * reply of a few lines) and parsed by probe_parse_reply(). A reply that
 * does not fit, or is not "DDD-" / "DDD " lines, ends the attempt.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "doctor_probe.h"

#define REPLY_BUF 4096

struct conn {
	int fd;
	unsigned timeout_ms;
	char buf[REPLY_BUF];
	size_t len;
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

enum probe_parse
probe_parse_reply(const char *buf, size_t len, int *code, char *text,
    size_t textlen, size_t *used)
{
	const char *line = buf, *end = buf + len, *nl;

	for (;;) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			return PROBE_REPLY_MORE;
		if (nl - line < 3 || !is_digit(line[0]) || !is_digit(line[1]) ||
		    !is_digit(line[2]) ||
		    (nl - line > 3 && line[3] != ' ' && line[3] != '-' &&
			line[3] != '\r'))
			return PROBE_REPLY_BAD;
		if (nl - line == 3 || line[3] != '-')
			break;
		line = nl + 1;
	}
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	snprintf(text, textlen, "%.*s",
	    (int)(nl - line - (nl > line && nl[-1] == '\r' ? 1 : 0)), line);
	*used = (size_t)(nl + 1 - buf);
	return PROBE_REPLY_DONE;
}

static bool
wait_fd(int fd, short events, unsigned timeout_ms)
{
	struct pollfd p = { fd, events, 0 };

	return poll(&p, 1, (int)timeout_ms) == 1;
}

/* A non-blocking connect with a timeout; -1 with err set on failure. */
static int
connect_to(const char *addr, int port, unsigned timeout_ms, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl, el = sizeof(int);
	int fd, e = 0;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		snprintf(err, errlen, "not an address");
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0 ||
	    (connect(fd, (struct sockaddr *)&ss, sl) != 0 &&
		errno != EINPROGRESS))
		e = errno;
	else if (!wait_fd(fd, POLLOUT, timeout_ms))
		e = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
		e = errno;
	if (e != 0) {
		snprintf(err, errlen, "connect: %s", strerror(e));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Reads one reply into *st; false when none came. */
static bool
read_reply(struct conn *c, struct probe_step *st, char *err, size_t errlen)
{
	enum probe_parse r;
	size_t used;
	ssize_t n;

	for (;;) {
		r = probe_parse_reply(c->buf, c->len, &st->code, st->text,
		    sizeof(st->text), &used);
		if (r == PROBE_REPLY_DONE) {
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			return true;
		}
		if (r == PROBE_REPLY_BAD || c->len == sizeof(c->buf)) {
			snprintf(err, errlen, "not an SMTP reply");
			return false;
		}
		if (!wait_fd(c->fd, POLLIN, c->timeout_ms)) {
			snprintf(err, errlen, "no reply within %u ms",
			    c->timeout_ms);
			return false;
		}
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0) {
			snprintf(err, errlen, "connection closed");
			return false;
		}
		c->len += (size_t)n;
	}
}

/* Sends cmd (CRLF added) and reads the reply into a new step. */
static struct probe_step *
exchange(struct conn *c, struct probe_try *t, const char *cmd)
{
	struct probe_step *st = &t->steps[t->nsteps];
	char line[sizeof(st->command) + 2];
	int n;

	if (t->nsteps == PROBE_STEPS_MAX)
		return NULL;
	t->nsteps++;
	snprintf(st->command, sizeof(st->command), "%s", cmd);
	if (cmd[0] != '\0') {
		n = snprintf(line, sizeof(line), "%s\r\n", cmd);
		if (!wait_fd(c->fd, POLLOUT, c->timeout_ms) ||
		    write(c->fd, line, (size_t)n) != n) {
			snprintf(t->error, sizeof(t->error), "write failed");
			return NULL;
		}
	}
	return read_reply(c, st, t->error, sizeof(t->error)) ? st : NULL;
}

/* One connection: true when the server answered up to RCPT (or refused
 * MAIL), so a sender would not try the next host. */
static bool
dialogue(struct conn *c, struct probe_try *t, const char *helo,
    const char *rcpt, const char *expanded, struct probe *out)
{
	struct probe_step *st;
	char cmd[300];

	st = exchange(c, t, "");
	if (st == NULL || st->code != 220)
		return false;
	snprintf(cmd, sizeof(cmd), "EHLO %s", helo);
	st = exchange(c, t, cmd);
	if (st != NULL && st->code != 250) {
		snprintf(cmd, sizeof(cmd), "HELO %s", helo);
		st = exchange(c, t, cmd);
	}
	if (st == NULL || st->code != 250)
		return false;
	st = exchange(c, t, "MAIL FROM:<>");
	if (st == NULL || st->code != 250)
		return st != NULL;
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", rcpt);
	out->rcpt = exchange(c, t, cmd);
	if (out->rcpt == NULL)
		return false;
	/* The expanded form in a transaction of its own, as the sender that
	 * expands sends it (a gateway that recovers it may defer it next to
	 * another recipient: docs/routing.md, CNAME recovery). */
	if (expanded != NULL && exchange(c, t, "RSET") != NULL &&
	    (st = exchange(c, t, "MAIL FROM:<>")) != NULL && st->code == 250) {
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", expanded);
		out->expanded = exchange(c, t, cmd);
	}
	if (exchange(c, t, "RSET") != NULL)
		(void)exchange(c, t, "QUIT");
	return true;
}

/* One attempt at host/addr; true when it completed the dialogue. */
static bool
try_one(const struct mx_host *h, size_t i, int port, const char *helo,
    const char *rcpt, const char *expanded, unsigned timeout_ms,
    struct probe *out)
{
	struct probe_try *t = &out->tries[out->ntries++];
	struct conn c;
	bool done;

	memset(t, 0, sizeof(*t));
	snprintf(t->host, sizeof(t->host), "%s", h->name);
	snprintf(t->addr, sizeof(t->addr), "%s", h->addr[i]);
	t->port = port;
	c.fd = connect_to(h->addr[i], port, timeout_ms, t->error,
	    sizeof(t->error));
	if (c.fd < 0)
		return false;
	c.timeout_ms = timeout_ms;
	c.len = 0;
	done = dialogue(&c, t, helo, rcpt, expanded, out);
	close(c.fd);
	return done;
}

void
probe_run(const struct mxplan *plan, int port, const char *helo,
    const char *rcpt, const char *expanded, unsigned timeout_ms,
    struct probe *out)
{
	size_t h, i;

	memset(out, 0, sizeof(*out));
	for (h = 0; h < plan->nhosts; h++)
		for (i = 0; i < plan->hosts[h].naddr; i++) {
			if (out->ntries == PROBE_TRIES_MAX)
				goto done;
			if (try_one(&plan->hosts[h], i, port, helo, rcpt,
				expanded, timeout_ms, out))
				goto done;
		}
done:
	out->rcpt_code = out->rcpt ? out->rcpt->code : 0;
	out->expanded_code = out->expanded ? out->expanded->code : 0;
}
