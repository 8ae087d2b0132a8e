/*
 * session_data - message content readers of the SMTP session: DATA
 * (RFC 5321 4.1.1.4 and 4.5.2: CRLF.CRLF ends it, dot-unstuffing) and
 * BDAT chunks (RFC 3030: exact octet counts), and the Received: trace
 * header (RFC 5321 4.4, protocol names from RFC 3848 and RFC 6531 4.3).
 *
 * Pure. Security: only CRLF.CRLF ends DATA and a bare CR or LF ends the
 * session (SMTP smuggling); content past limits.message_size or a DATA
 * line past limits.text_line is read to its end and discarded, never kept,
 * so memory stays bounded and the connection stays usable.
 *
 * At the end of the content, CNAME recovery (route/cname.h) decides the
 * fate of a provisional recipient from the first Received: field, and
 * the X-Mailtrigger-Recipient-Rewritten header is the gateway's alone:
 * any such field the client sent is removed before the message is queued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/received.h"
#include "smtp/session_int.h"

static const struct smtp_reply r_too_big = { 552, "5.3.4",
	"Message size exceeds fixed limit", true };

void
data_reset_reader(struct smtp_session *s)
{
	memset(&s->rd, 0, sizeof(s->rd));
}

static void
drop_content(struct smtp_session *s)
{
	buf_free(&s->txn->t.data);
}

/*
 * Counts content octets and keeps them, or starts discarding at the size
 * limit (t->size keeps counting, for the log).
 */
static void
content_append(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_txn *t;

	if (s->txn == NULL || s->rd.bdat_error != NULL)
		return;
	t = &s->txn->t;
	if (!s->rd.too_big && !s->rd.line_too_long &&
	    (t->size + n > s->limits.message_size ||
		buf_append(&t->data, p, n) != BUF_OK)) {
		s->rd.too_big = true;
		drop_content(s);
	}
	t->size += n;
}

/* Ends a message that was read to its end but will not be queued. */
static void
content_reject(struct smtp_session *s, const struct smtp_reply *r)
{
	sess_reply_canned(s, r);
	sess_txn_end(s, "rejected", NULL);
	sess_set_state(s, sess_idle_state(s));
}

/* Points the RCPT log entry of a recipient refused after DATA at r. */
static void
log_refusal(struct smtp_txn *t, const char *address,
    const struct route_result *r)
{
	size_t i;

	for (i = t->n_log; i-- > 0;) {
		if (strcmp(t->log[i].address, address) != 0 ||
		    t->log[i].code >= 400)
			continue;
		t->log[i].code = r->code;
		snprintf(t->log[i].enhanced, sizeof(t->log[i].enhanced), "%s",
		    r->enhanced);
		t->log[i].reason = r->reason;
		return;
	}
}

/*
 * The content is complete: drops any CNAME_HEADER field the client sent
 * (t->size then counts the content kept),
 * then settles a provisional recipient (route/cname.h: it is then the
 * only one). Recovered: the message is queued for the recovered trigger.
 * Not: the 550 5.1.2 diagnosis (or the recovered trigger's sender policy
 * refusal) after DATA, reported like a RCPT refusal, and nothing stored.
 */
static void
content_done(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn->t;
	struct smtp_rcpt *r = NULL;
	struct route_result res;
	struct cname_rewrite rw;
	struct route_query q;
	size_t i, from, n;

	n = header_remove(t->data.data, t->data.len, CNAME_HEADER);
	t->size -= t->data.len - n; /* size counts what is kept */
	t->data.len = n;
	for (i = 0; i < t->n_rcpts; i++)
		if (t->rcpts[i].cname.evidence == CNAME_PENDING)
			r = &t->rcpts[i];
	if (r == NULL) {
		sess_set_state(s, ST_QUEUED);
		return;
	}
	q.mail_from = &t->from;
	q.rcpt = &r->mbox;
	if (cname_recover(s->cfg, &q, t->data.data, t->data.len, &res, &rw)) {
		r->route = res;
		r->cname = rw;
		sess_set_state(s, ST_QUEUED);
		return;
	}
	log_refusal(t, r->mbox.address, &res);
	from = s->out.len;
	sess_reply(s, res.code, res.enhanced, "%s", res.text);
	sess_rcpt_report(s, from, r->mbox.address, res.code, res.enhanced,
	    res.reason);
	sess_txn_end(s, "rejected", NULL);
	sess_set_state(s, sess_idle_state(s));
}

/* After 354: content lines until CRLF.CRLF. */
void
data_begin(struct smtp_session *s)
{
	data_reset_reader(s);
	sess_set_state(s, ST_DATA);
}

static void
data_finish(struct smtp_session *s)
{
	if (s->rd.too_big) {
		content_reject(s, &r_too_big);
	} else if (s->rd.line_too_long) {
		sess_reply(s, 554, "5.6.0",
		    "Message rejected: text line "
		    "longer than %zu octets",
		    s->limits.text_line);
		sess_txn_end(s, "rejected", NULL);
		sess_set_state(s, sess_idle_state(s));
	} else {
		content_done(s);
	}
}

static void
data_text(struct smtp_session *s, const char *p, size_t n)
{
	s->rd.dline_len += n;
	/* RFC 5321 4.5.3.1.6: text_line counts the CRLF. */
	if (s->rd.dline_len + 2 > s->limits.text_line && !s->rd.line_too_long) {
		s->rd.line_too_long = true;
		drop_content(s);
	}
	content_append(s, p, n);
}

static void
data_line_end(struct smtp_session *s)
{
	content_append(s, "\r\n", 2);
	s->rd.dline_len = 0;
	s->rd.dline = DL_BOL;
}

/*
 * Reads DATA content up to and including the final CRLF.CRLF; returns the
 * bytes used. A line "." ends the message; any other line starting with a
 * dot loses that dot (RFC 5321 4.5.2). The final CRLF of the last line
 * belongs to the content; ".CRLF" right after 354 is an empty message.
 */
size_t
data_input(struct smtp_session *s, const char *p, size_t n)
{
	struct sess_reader *rd = &s->rd;
	size_t i = 0, span;

	while (i < n) {
		if (rd->saw_cr) {
			rd->saw_cr = false;
			if (p[i] != '\n') {
				sess_bare_newline(s, "<CR>");
				return i;
			}
			i++;
			if (rd->dline == DL_DOT) {
				data_finish(s);
				return i;
			}
			data_line_end(s);
		} else if (p[i] == '\r') {
			rd->saw_cr = true;
			i++;
		} else if (p[i] == '\n') {
			sess_bare_newline(s, "<LF>");
			return i + 1;
		} else if (rd->dline == DL_BOL && p[i] == '.') {
			rd->dline = DL_DOT;
			i++;
		} else {
			rd->dline = DL_TEXT;
			span = sess_text_span(p + i, n - i);
			data_text(s, p + i, span);
			i += span;
		}
	}
	return n;
}

/*
 * Starts reading a BDAT chunk of size octets. With error set the chunk is
 * read and discarded and error is the reply (RFC 3030 sec. 3: the octets
 * follow the command whatever its fate, so they must never be read as
 * commands).
 */
void
bdat_begin(struct smtp_session *s, uint64_t size, bool last,
    const struct smtp_reply *error)
{
	data_reset_reader(s);
	s->rd.bdat_left = size;
	s->rd.bdat_size = size;
	s->rd.bdat_last = last;
	s->rd.bdat_error = error;
	if (error == NULL)
		s->txn->chunking = true;
	sess_set_state(s, ST_BDAT);
	if (size == 0)
		bdat_input(s, "", 0);
}

/*
 * A failed chunk ends the transaction: its octets are gone, so any later
 * chunk could only build an incomplete message (RFC 3030 sec. 3 leaves
 * the state after a failed BDAT to the server; the client must RSET).
 */
static void
bdat_chunk_done(struct smtp_session *s)
{
	if (s->rd.bdat_error != NULL)
		content_reject(s, s->rd.bdat_error);
	else if (s->rd.too_big)
		content_reject(s, &r_too_big);
	else if (s->rd.bdat_last)
		content_done(s);
	else {
		sess_reply(s, 250, "2.0.0", "Ok: %llu octets",
		    (unsigned long long)s->rd.bdat_size);
		sess_set_state(s, ST_MAIL);
	}
}

/* Reads the octets of the current chunk; returns the bytes used. */
size_t
bdat_input(struct smtp_session *s, const char *p, size_t n)
{
	size_t take = n;

	if (take > s->rd.bdat_left)
		take = (size_t)s->rd.bdat_left;
	content_append(s, p, take);
	s->rd.bdat_left -= take;
	if (s->rd.bdat_left == 0)
		bdat_chunk_done(s);
	return take;
}

/* RFC 3848 and RFC 6531 4.3 "with" protocol names. */
static const char *
received_proto(const struct smtp_session *s)
{
	bool tls = s->conn.info.tls;

	/* S (TLS) is defined for ESMTP only; SMTPUTF8 needs EHLO anyway. */
	if (!s->conn.info.esmtp)
		return "SMTP";
	if (s->txn->t.smtputf8)
		return tls ? "UTF8SMTPS" : "UTF8SMTP";
	return tls ? "ESMTPS" : "ESMTP";
}

#define RECEIVED_FOLD 78

/* A header being folded: the column, and whether the line has a clause. */
struct fold {
	struct buf *out;
	size_t col;
	bool clause_on_line;
};

/*
 * Appends one clause of the header, folding (CRLF TAB) first when the
 * line would pass RECEIVED_FOLD columns (RFC 5322 2.2.3). A line always
 * gets one clause, however long: folding cannot split it.
 */
static void
fold_clause(struct fold *f, const char *clause)
{
	size_t n = strlen(clause);

	if (f->clause_on_line && f->col + 1 + n > RECEIVED_FOLD) {
		buf_puts(f->out, "\r\n\t");
		f->col = 1;
	} else {
		buf_putc(f->out, ' ');
		f->col++;
	}
	buf_puts(f->out, clause);
	f->col += n;
	f->clause_on_line = true;
}

/*
 * RFC 5321 4.4: "Received: from HELO (TCP-info) by HOST (mailtrigger)
 * with PROTO id ID [for <rcpt>]; DATE". TCP-info is an address-literal,
 * so the client IP is written as [192.0.2.1] or [IPv6:2001:db8::1].
 */
void
session_received_header(const struct smtp_session *s, const char *id,
    const char *date, struct buf *out)
{
	struct fold f = { out, strlen("Received:"), false };
	char clause[ADDR_PATH_MAX + 512];
	const struct smtp_txn *t;
	bool one;

	if (s->state != ST_QUEUED || s->txn == NULL)
		return;
	t = &s->txn->t;
	/* Only with one recipient: more would tell each about the others. */
	one = t->n_rcpts == 1;
	buf_puts(out, "Received:");
	snprintf(clause, sizeof(clause), "from %s", s->conn.info.helo);
	fold_clause(&f, clause);
	snprintf(clause, sizeof(clause), "([%s%s])",
	    strchr(s->client_ip, ':') != NULL ? "IPv6:" : "", s->client_ip);
	fold_clause(&f, clause);
	snprintf(clause, sizeof(clause), "by %s", s->hostname);
	fold_clause(&f, clause);
	fold_clause(&f, "(mailtrigger)");
	snprintf(clause, sizeof(clause), "with %s", received_proto(s));
	fold_clause(&f, clause);
	snprintf(clause, sizeof(clause), "id %s%s", id, one ? "" : ";");
	fold_clause(&f, clause);
	if (one) {
		snprintf(clause, sizeof(clause), "for <%s>;",
		    t->rcpts[0].mbox.address);
		fold_clause(&f, clause);
	}
	fold_clause(&f, date);
	buf_puts(out, "\r\n");
}

/*
 * One CNAME_HEADER field per recovered recipient (route/cname.h):
 * "<received> -> <recovered>; evidence=NAME". The addresses come from
 * the address parser, so they hold no CR or LF; at most 2 x 256 octets
 * plus the names, well under RFC 5322's 998.
 */
void
session_rewrite_headers(const struct smtp_session *s, struct buf *out)
{
	const struct cname_rewrite *rw;
	char line[2 * ADDR_PATH_MAX + 128];
	size_t i;

	if (s->state != ST_QUEUED || s->txn == NULL)
		return;
	for (i = 0; i < s->txn->t.n_rcpts; i++) {
		rw = &s->txn->t.rcpts[i].cname;
		if (rw->evidence != CNAME_SENDER_DOMAINS &&
		    rw->evidence != CNAME_RECEIVED_FOR)
			continue;
		snprintf(line, sizeof(line),
		    "%s: <%s> -> <%s>; evidence=%s\r\n", CNAME_HEADER,
		    rw->received, rw->recovered,
		    cname_evidence_name(rw->evidence));
		buf_puts(out, line);
	}
}
