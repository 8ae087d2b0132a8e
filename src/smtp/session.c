/*
 * session - the RFC 5321 ESMTP server state machine: life cycle, the input
 * loop and command-line framing, the one function that writes replies, the
 * one function that changes state, transactions, and the calls the shell
 * makes (commit done, TLS up, timeouts, shutdown). The command table is in
 * session_cmd.c, the DATA and BDAT readers in session_data.c.
 *
 * Pure: no I/O, no clock. See session.h for the contract and docs/smtp.md
 * for the state machine, the extensions and the limits.
 */
#include "smtp/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/session_int.h"
#include "util/xmalloc.h"

/*
 * Ceiling of the output buffer. session_input() stops reading commands
 * once SESSION_OUTPUT_HIGH bytes wait, and one command writes at most a
 * few replies of at most REPLY_TEXT_MAX each, so the ceiling is never
 * reached; reaching it would be a bug.
 */
#define REPLY_TEXT_MAX 2048
#define SESSION_OUTPUT_MAX (SESSION_OUTPUT_HIGH + 4 * REPLY_TEXT_MAX)

static const struct smtp_reply r_line_too_long = { 500, "5.5.6",
	"Error: line too long", false };

static void
conn_sync_info(struct smtp_session *s)
{
	struct session_info *i = &s->conn.info;

	i->client_ip = s->client_ip;
	i->helo = s->conn.helo != NULL ? s->conn.helo : "";
	i->tls_cipher = s->conn.tls_cipher != NULL ? s->conn.tls_cipher : "";
}

struct smtp_session *
session_new(const struct session_params *p)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	s->cfg = config_ref(p->cfg);
	s->limits = p->limits;
	s->hostname = xstrdup(
	    p->hostname != NULL ? p->hostname : p->cfg->hostname);
	s->client_ip = xstrdup(p->client_ip != NULL ? p->client_ip : "");
	s->tls_available = p->tls_available;
	s->state = ST_CONNECTED;
	buf_init(&s->line, s->limits.command_line);
	buf_init(&s->out, SESSION_OUTPUT_MAX);
	conn_sync_info(s);
	return s;
}

void
session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	sess_txn_end(s, "aborted", NULL);
	config_unref(s->cfg);
	free(s->hostname);
	free(s->client_ip);
	free(s->conn.helo);
	free(s->conn.tls_cipher);
	buf_free(&s->line);
	buf_free(&s->out);
	free(s);
}

void
session_set_txn_log(struct smtp_session *s, session_txn_log_cb *cb, void *ctx)
{
	s->log_cb = cb;
	s->log_ctx = ctx;
}

void
session_set_rcpt_cb(struct smtp_session *s, session_rcpt_cb *cb, void *ctx)
{
	s->rcpt_cb = cb;
	s->rcpt_ctx = ctx;
}

/*
 * The only way to change the protocol state (curl's smtp_state() rule), so
 * the pending event can never disagree with the state. Leaving ST_CLOSED
 * is a bug.
 */
void
sess_set_state(struct smtp_session *s, enum sess_state st)
{
	if (s->state == ST_CLOSED && st != ST_CLOSED)
		abort();
	s->state = st;
}

/* The state between transactions: after HELO/EHLO or before it. */
enum sess_state
sess_idle_state(const struct smtp_session *s)
{
	return s->conn.helo != NULL ? ST_HELO : ST_CONNECTED;
}

enum session_event
session_event(const struct smtp_session *s)
{
	switch (s->state) {
	case ST_QUEUED:
		return SESSION_EV_MESSAGE;
	case ST_STARTTLS:
		return SESSION_EV_STARTTLS;
	case ST_CLOSED:
		return SESSION_EV_CLOSE;
	default:
		return SESSION_EV_NONE;
	}
}

static void
out_append(struct smtp_session *s, const void *p, size_t len)
{
	if (buf_append(&s->out, p, len) != BUF_OK)
		abort(); /* see SESSION_OUTPUT_MAX: cannot happen */
}

/*
 * Writes every reply. Text lines are separated by '\n'; all but the last
 * become "code-" continuation lines (RFC 5321 4.2.1). enhanced (RFC 2034)
 * is NULL only for the greeting, EHLO/HELO and 354, which RFC 2034 sec. 3
 * exempts.
 */
void
sess_reply(struct smtp_session *s, int code, const char *enhanced,
    const char *fmt, ...)
{
	char text[REPLY_TEXT_MAX], head[32];
	const char *line, *nl;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		abort(); /* reply texts are bounded by construction */
	for (line = text;; line = nl + 1) {
		nl = strchr(line, '\n');
		n = snprintf(head, sizeof(head), "%d%c%s%s", code,
		    nl != NULL ? '-' : ' ', enhanced != NULL ? enhanced : "",
		    enhanced != NULL ? " " : "");
		out_append(s, head, (size_t)n);
		out_append(s, line,
		    nl != NULL ? (size_t)(nl - line) : strlen(line));
		out_append(s, "\r\n", 2);
		if (nl == NULL)
			break;
	}
}

/* A canned reply; client mistakes count against limits.errors. */
void
sess_reply_canned(struct smtp_session *s, const struct smtp_reply *r)
{
	sess_reply(s, r->code, r->enhanced, "%s", r->text);
	if (!r->policy && r->code >= 400)
		s->conn.info.errors++;
}

/* Ends the session after the reply already written: no more input. */
void
sess_closed(struct smtp_session *s)
{
	sess_txn_end(s, "aborted", NULL);
	sess_set_state(s, ST_CLOSED);
}

/* Writes "code enhanced <host> text" and ends the session. */
void
sess_close(struct smtp_session *s, int code, const char *enhanced,
    const char *fmt, ...)
{
	char text[REPLY_TEXT_MAX / 2];
	va_list ap;

	if (s->state == ST_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sess_reply(s, code, enhanced, "%s %s", s->hostname, text);
	sess_closed(s);
}

/*
 * SMTP smuggling defence (as Postfix smtpd_forbid_bare_newline): a CR or
 * LF that is not part of CRLF is never guessed at; the session ends.
 */
void
sess_bare_newline(struct smtp_session *s, const char *what)
{
	sess_close(s, 521, "5.5.2", "Error: bare %s received", what);
}

/*
 * Bytes at p before the first CR or LF. Every octet of every message
 * passes here, so it uses memchr (vectorised in libc), not a byte loop.
 */
size_t
sess_text_span(const char *p, size_t n)
{
	const char *cr = memchr(p, '\r', n);
	const char *lf = memchr(p, '\n', cr != NULL ? (size_t)(cr - p) : n);

	if (lf != NULL)
		return (size_t)(lf - p);
	return cr != NULL ? (size_t)(cr - p) : n;
}

void
sess_set_helo(struct smtp_session *s, const char *helo, bool esmtp)
{
	free(s->conn.helo);
	s->conn.helo = helo != NULL ? xstrdup(helo) : NULL;
	s->conn.info.esmtp = esmtp;
	conn_sync_info(s);
}

void
sess_txn_begin(struct smtp_session *s, const struct mailbox *from)
{
	struct txn *t = xcalloc(1, sizeof(*t));
	uint64_t max = s->limits.message_size;

	t->t.from = *from;
	/* No allocation yet: the data buffer grows when content arrives. */
	buf_init(&t->t.data, max > (size_t)-1 ? (size_t)-1 : (size_t)max);
	s->txn = t;
}

/* Logs and frees the transaction, if any. State is the caller's. */
void
sess_txn_end(struct smtp_session *s, const char *outcome, const char *queue_id)
{
	struct txn *t = s->txn;

	if (t == NULL)
		return;
	if (s->log_cb != NULL)
		s->log_cb(s->log_ctx, &s->conn.info, &t->t, outcome, queue_id);
	free(t->t.rcpts);
	free(t->t.log);
	buf_free(&t->t.data);
	free(t);
	s->txn = NULL;
}

/* Adds span bytes of a command line, or notes that it is too long. */
static void
line_add(struct smtp_session *s, const char *p, size_t span)
{
	if (s->rd.line_overflow || span == 0)
		return;
	/* limits.command_line counts the CRLF (RFC 5321 4.5.3.1.4). */
	if (s->line.len + span + 2 > s->limits.command_line) {
		s->rd.line_overflow = true;
		buf_reset(&s->line); /* discard: the buffer stays bounded */
		return;
	}
	if (buf_append(&s->line, p, span) != BUF_OK)
		abort(); /* max is limits.command_line, checked above */
}

static void
line_done(struct smtp_session *s)
{
	if (s->rd.line_overflow) {
		s->rd.line_overflow = false;
		sess_reply_canned(s, &r_line_too_long);
	} else {
		if (s->line.data == NULL)
			buf_append(&s->line, "", 0);
		sess_dispatch(s, s->line.data, s->line.len);
	}
	buf_reset(&s->line);
}

/* Reads at most one command line; returns the bytes used. */
static size_t
line_input(struct smtp_session *s, const char *p, size_t n)
{
	size_t i = 0, span;

	while (i < n) {
		if (s->rd.saw_cr) {
			s->rd.saw_cr = false;
			if (p[i] != '\n') {
				sess_bare_newline(s, "<CR>");
				return i;
			}
			line_done(s);
			return i + 1;
		}
		span = sess_text_span(p + i, n - i);
		line_add(s, p + i, span);
		i += span;
		if (i == n)
			break;
		if (p[i] == '\n') {
			sess_bare_newline(s, "<LF>");
			return i + 1;
		}
		s->rd.saw_cr = true;
		i++;
	}
	return n;
}

/*
 * After each command or message: a shutdown that waited for the
 * transaction, and the error limit (slow and junk clients are cut off).
 */
static void
checkpoint(struct smtp_session *s)
{
	if (s->state == ST_CLOSED)
		return;
	if (s->conn.shutdown_pending && s->txn == NULL) {
		sess_close(s, 421, "4.3.2", "Service shutting down");
		return;
	}
	if (s->limits.errors > 0 && s->conn.info.errors >= s->limits.errors)
		sess_close(s, 421, "4.7.0", "Error: too many errors");
}

static size_t
input_unit(struct smtp_session *s, const char *p, size_t n)
{
	switch (s->state) {
	case ST_DATA:
		return data_input(s, p, n);
	case ST_BDAT:
		return bdat_input(s, p, n);
	default:
		return line_input(s, p, n);
	}
}

size_t
session_input(struct smtp_session *s, const char *data, size_t len)
{
	size_t off = 0;

	for (;;) {
		/* RFC 3207 sec. 4 (STARTTLS injection): whatever was
		 * pipelined behind STARTTLS is discarded, never executed. */
		if (s->state == ST_STARTTLS || s->state == ST_CLOSED)
			return len;
		if (s->state == ST_QUEUED || off == len ||
		    s->out.len >= SESSION_OUTPUT_HIGH)
			break;
		off += input_unit(s, data + off, len - off);
		/* RFC 2920 3.1: the client must wait after a group end. */
		if (s->group_end && off < len)
			s->conn.info.improper_pipelining++;
		s->group_end = false;
		checkpoint(s);
	}
	/* An idle connection keeps no line buffer (the 16 KB budget). */
	if (s->line.len == 0)
		buf_free(&s->line);
	return off;
}

struct buf *
session_output(struct smtp_session *s)
{
	return &s->out;
}

const struct session_info *
session_info(const struct smtp_session *s)
{
	return &s->conn.info;
}

const struct smtp_txn *
session_txn(const struct smtp_session *s)
{
	return s->txn != NULL ? &s->txn->t : NULL;
}

char *
session_take_data(struct smtp_session *s, size_t *len)
{
	if (s->state != ST_QUEUED || s->txn == NULL) {
		*len = 0;
		return NULL;
	}
	return buf_steal(&s->txn->t.data, len);
}

bool
session_in_transaction(const struct smtp_session *s)
{
	return s->txn != NULL;
}

void
session_greet(struct smtp_session *s)
{
	if (s->state != ST_CLOSED)
		sess_reply(s, 220, NULL, "%s ESMTP mailtrigger", s->hostname);
}

void
session_refuse(struct smtp_session *s, bool per_ip)
{
	if (per_ip)
		sess_close(s, 421, "4.7.0",
		    "Error: too many connections "
		    "from %s",
		    s->client_ip);
	else
		sess_close(s, 421, "4.7.0", "Error: too many connections");
}

/*
 * Acknowledge only what is durable: the 250 is written here, after the
 * shell's queue commit, never when the message ends.
 */
void
session_commit_done(struct smtp_session *s, bool ok, const char *id)
{
	if (s->state != ST_QUEUED)
		return;
	if (ok) {
		sess_reply(s, 250, "2.0.0", "Ok: queued as %s", id);
		s->conn.info.messages++;
		sess_txn_end(s, "queued", id);
	} else {
		sess_reply(s, 451, "4.3.0",
		    "Error: queue write failed, try "
		    "again later");
		sess_txn_end(s, "tempfail", NULL);
	}
	sess_set_state(s, sess_idle_state(s));
	checkpoint(s);
}

/*
 * RFC 3207 4.2: after the handshake the server discards all knowledge
 * obtained from the client (HELO, any transaction); the client must send
 * EHLO again, and STARTTLS is no longer offered.
 */
void
session_tls_started(struct smtp_session *s, const char *cipher)
{
	if (s->state != ST_STARTTLS)
		return;
	sess_txn_end(s, "aborted", NULL);
	free(s->conn.tls_cipher);
	s->conn.tls_cipher = xstrdup(cipher != NULL ? cipher : "");
	s->conn.info.tls = true;
	sess_set_helo(s, NULL, false);
	memset(&s->rd, 0, sizeof(s->rd));
	buf_free(&s->line);
	sess_set_state(s, ST_CONNECTED);
}

void
session_idle_timeout(struct smtp_session *s)
{
	sess_close(s, 421, "4.4.2", "Error: timeout exceeded");
}

void
session_time_limit(struct smtp_session *s)
{
	sess_close(s, 421, "4.4.2", "Error: session time limit exceeded");
}

void
session_shutdown(struct smtp_session *s)
{
	if (s->state == ST_CLOSED)
		return;
	if (s->txn != NULL) {
		s->conn.shutdown_pending = true;
		return;
	}
	sess_close(s, 421, "4.3.2", "Service shutting down");
}

void
session_shutdown_now(struct smtp_session *s)
{
	sess_close(s, 421, "4.3.2", "Service shutting down");
}
