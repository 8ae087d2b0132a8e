/*
 * session_driver - what test_session.c and test_transcripts.c share: a
 * loop that plays the shell's part for a pure SMTP session (feeds bytes in
 * steps, answers MESSAGE with session_commit_done() and STARTTLS with
 * session_tls_started(), collects every reply, every queued message and
 * every transaction log outcome), and a printable escape for got/want.
 *
 * Header-only (static functions): each test executable includes it once.
 */
#ifndef MT_TESTS_SESSION_DRIVER_H
#define MT_TESTS_SESSION_DRIVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/session.h"
#include "util/buf.h"

#define DRIVER_BUF_MAX (64u * 1024 * 1024)

/* One message handed to the queue. */
struct driver_msg {
	char *envelope; /* "from=<a@b> to=<c@d>,<e@f>" */
	char *data;
	size_t len;
};

#define DRIVER_MSGS_MAX 64

struct driver {
	struct smtp_session *s;
	struct driver_msg msg[DRIVER_MSGS_MAX];
	struct buf out;      /* every reply, in order */
	struct buf msgs;     /* every message handed to the queue */
	struct buf outcome;  /* "queued,rset,..." from the txn log callback */
	const char *commits; /* 'O' ok / 'F' fail per message; NULL = all ok */
	bool tls_handshake;  /* answer STARTTLS with session_tls_started() */
	unsigned n_msgs;
	size_t last_n_log, last_dropped, last_size; /* of the last txn */
};

static void
driver_log_cb(void *ctx, const struct session_info *info,
    const struct smtp_txn *txn, const char *outcome, const char *queue_id)
{
	struct driver *d = ctx;

	buf_printf(&d->outcome, "%s%s", d->outcome.len ? "," : "", outcome);
	d->last_n_log = txn->n_log;
	d->last_dropped = txn->n_log_dropped;
	d->last_size = txn->size;
}

static void
driver_init(struct driver *d, const struct session_params *p)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->out, DRIVER_BUF_MAX);
	buf_init(&d->msgs, DRIVER_BUF_MAX);
	buf_init(&d->outcome, DRIVER_BUF_MAX);
	d->tls_handshake = true;
	d->s = session_new(p);
	session_set_txn_log(d->s, driver_log_cb, d);
}

static void
driver_free(struct driver *d)
{
	unsigned i;

	session_free(d->s);
	for (i = 0; i < d->n_msgs && i < DRIVER_MSGS_MAX; i++) {
		free(d->msg[i].envelope);
		free(d->msg[i].data);
	}
	buf_free(&d->out);
	buf_free(&d->msgs);
	buf_free(&d->outcome);
}

static void
driver_drain(struct driver *d)
{
	struct buf *o = session_output(d->s);

	buf_append(&d->out, o->data, o->len);
	buf_reset(o);
}

/*
 * Keeps message number n (0-based) and writes it to msgs as
 * "MSG from=<..> to=<..>,<..> utf8=N body=N\n" + data.
 */
static void
driver_take_message(struct driver *d, unsigned n)
{
	const struct smtp_txn *t = session_txn(d->s);
	struct buf env;
	char *data;
	size_t len, i;

	buf_init(&env, DRIVER_BUF_MAX);
	buf_printf(&env, "from=<%s> to=", t->from.address);
	for (i = 0; i < t->n_rcpts; i++)
		buf_printf(&env, "%s<%s>", i ? "," : "",
		    t->rcpts[i].mbox.address);
	buf_printf(&d->msgs, "MSG %s utf8=%d body=%d\n", buf_str(&env),
	    t->smtputf8, (int)t->body);
	data = session_take_data(d->s, &len);
	buf_append(&d->msgs, data, len);
	if (n < DRIVER_MSGS_MAX) {
		d->msg[n].envelope = buf_steal(&env, NULL);
		d->msg[n].data = data;
		d->msg[n].len = len;
	} else {
		buf_free(&env);
		free(data);
	}
}

/* Acts on the pending event as conn.c would; true if one was handled. */
static bool
driver_event(struct driver *d)
{
	char id[16];
	bool ok;

	switch (session_event(d->s)) {
	case SESSION_EV_MESSAGE:
		driver_take_message(d, d->n_msgs);
		ok = d->commits == NULL || d->n_msgs >= strlen(d->commits) ||
		    d->commits[d->n_msgs] != 'F';
		snprintf(id, sizeof(id), "Q%u", ++d->n_msgs);
		session_commit_done(d->s, ok, id);
		return true;
	case SESSION_EV_STARTTLS:
		if (!d->tls_handshake)
			return false;
		driver_drain(d);
		session_tls_started(d->s, "TLSv1.3 TEST");
		return true;
	default:
		return false;
	}
}

/*
 * Feeds in[0..len) in pieces of at most step bytes (0 = all at once),
 * handling events between calls, as the shell does. Stops at CLOSE.
 * Returns false if the session stopped consuming with nothing to do.
 */
static bool
driver_feed(struct driver *d, const char *in, size_t len, size_t step)
{
	size_t off = 0, n, used;

	while (off < len && session_event(d->s) != SESSION_EV_CLOSE) {
		n = step == 0 || len - off < step ? len - off : step;
		used = session_input(d->s, in + off, n);
		off += used;
		if (!driver_event(d) && used == 0 &&
		    session_output(d->s)->len == 0)
			return false;
		driver_drain(d);
	}
	while (driver_event(d))
		driver_drain(d);
	driver_drain(d);
	return true;
}

/* Escapes CR, LF, NUL and other control bytes for got/want messages. */
static const char *
driver_escape(const char *p, size_t n, struct buf *tmp)
{
	size_t i;

	buf_reset(tmp);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			buf_puts(tmp, "\\r");
		else if (c == '\n')
			buf_puts(tmp, "\\n\n");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(tmp, "\\x%02x", c);
		else
			buf_putc(tmp, (char)c);
	}
	return buf_str(tmp);
}

#endif
