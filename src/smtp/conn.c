/*
 * conn - one SMTP connection: moves bytes between the socket (or its TLS
 * filter) and the pure session, hands finished messages to the queue and
 * writes the session's reply only when the queue says the message is
 * durable, upgrades to TLS, enforces timeouts, and logs. Every refused
 * RCPT goes to the queue's rejections table (queue_record_rejection(),
 * which never waits for the database); a CNAME-expansion refusal (550
 * 5.1.2) is also logged with the client's running count (docs/trace.md).
 *
 * Ownership: the server's connection list owns each conn; conn_free()
 * cancels the queue job (its callback would otherwise see a freed conn),
 * frees the bufferevent (closing the socket) and the session.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "smtp/server_int.h"
#include "util/id.h"
#include "util/log.h"
#include "util/xmalloc.h"

/*
 * Stop reading from a client while this much is buffered and unprocessed
 * (a message waiting for its commit, or a client writing faster than we
 * parse): the kernel's socket buffer then pushes back on the client.
 */
#define CONN_INPUT_HIGH_WATER (64 * 1024)
/* Hand the session at most this much per call, from contiguous memory. */
#define CONN_INPUT_CHUNK (16 * 1024)
/*
 * Stop handing input to the session while this much of our output is
 * unsent (a client that pipelines commands and does not read the
 * replies): input then piles up to CONN_INPUT_HIGH_WATER and reading
 * stops, as above. Without it, 1 GB of NOOPs would queue 2.7 GB of
 * replies. Under TLS the socket's own buffer under the filter is held to
 * the same size, so the backlog stays in the filter's, where it counts.
 */
#define CONN_OUTPUT_HIGH_WATER (64 * 1024)

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_pump(struct conn *c);
static void closed_after_write_cb(struct bufferevent *bev, void *arg);

static void
log_connection(const struct conn *c)
{
	const struct session_info *info = session_info(c->sess);
	struct log_record r;

	log_begin(&r, LOG_INFO, "connection");
	log_kv_str(&r, "client_ip", c->ip);
	log_kv_str(&r, "helo", info->helo);
	log_kv_bool(&r, "tls", info->tls);
	if (info->tls)
		log_kv_str(&r, "tls_cipher", info->tls_cipher);
	log_kv_uint(&r, "messages", info->messages);
	log_kv_uint(&r, "errors", info->errors);
	log_kv_str(&r, "close", c->close_reason ? c->close_reason : "quit");
	log_kv_uint(&r, "duration_ms", now_ms() - c->started_ms);
	log_end(&r);
}

void
conn_free(struct conn *c)
{
	if (c->job != NULL)
		queue_job_cancel(c->job);
	server_conn_gone(c->srv, c);
	log_connection(c);
	if (c->life_timer != NULL)
		event_free(c->life_timer);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	session_free(c->sess);
	free(c);
}

static void
close_now_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

/*
 * Runs inside the evbuffer's own callback loop, where freeing the buffer
 * would pull it from under libevent: free from the loop instead.
 */
static void
underlying_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	if (evbuffer_get_length(buf) > 0 || c->close_ev != NULL)
		return;
	c->close_ev = evtimer_new(c->srv->base, close_now_cb, c);
	event_active(c->close_ev, EV_TIMEOUT, 0);
}

/*
 * Frees c once everything written has reached the kernel; returns false
 * when that is already the case and c is gone. Under TLS, our output
 * buffer being empty only means the filter has encrypted it into the
 * socket's buffer: that one must be empty too, or a 221 never reaches the
 * client.
 */
static bool
conn_close_when_written(struct conn *c)
{
	struct bufferevent *under = bufferevent_get_underlying(c->bev);

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		bufferevent_setcb(c->bev, NULL, closed_after_write_cb,
		    conn_event_cb, c);
		return true;
	}
	if (under != NULL &&
	    evbuffer_get_length(bufferevent_get_output(under)) > 0) {
		bufferevent_setcb(c->bev, NULL, NULL, conn_event_cb, c);
		evbuffer_add_cb(bufferevent_get_output(under),
		    underlying_drained_cb, c);
		return true;
	}
	conn_free(c);
	return false;
}

static void
closed_after_write_cb(struct bufferevent *bev, void *arg)
{
	conn_close_when_written(arg);
}

/*
 * Sends what it can of data straight to the socket, when nothing is
 * waiting before it and no TLS filter is in between; returns the bytes
 * sent. A reply is a few dozen bytes and the socket's buffer almost
 * always takes it: through the bufferevent, each one cost two epoll_ctl
 * calls (add the write event, remove it once written), 14 of the 45
 * system calls of a one-message session. What is left, and any error,
 * goes the bufferevent's way.
 */
static size_t
send_direct(struct conn *c, const char *data, size_t len)
{
	ssize_t n;

	if (bufferevent_get_underlying(c->bev) != NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	n = send(bufferevent_getfd(c->bev), data, len,
	    MSG_DONTWAIT | MSG_NOSIGNAL);
	return n > 0 ? (size_t)n : 0;
}

/*
 * Writes what the session has to say. When the session wants the
 * connection closed, stops reading and frees the conn once the output has
 * reached the kernel. Returns false when c has been freed.
 */
static bool
conn_flush(struct conn *c)
{
	struct buf *out = session_output(c->sess);
	size_t sent;

	if (out->len > 0) {
		sent = send_direct(c, out->data, out->len);
		if (sent < out->len)
			bufferevent_write(c->bev, out->data + sent,
			    out->len - sent);
		buf_reset(out);
	}
	if (session_event(c->sess) != SESSION_EV_CLOSE || c->closing)
		return true;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	return conn_close_when_written(c);
}

static void
set_idle_timeout(struct conn *c)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(c->idle_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->idle_timeout_ms % 1000) * 1000;
	/* The same limit for a client that stops reading our replies. */
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void
log_txn_cb(void *ctx, const struct session_info *info,
    const struct smtp_txn *txn, const char *outcome, const char *queue_id)
{
	struct conn *c = ctx;
	struct log_record r;
	char key[32], val[ADDR_PATH_MAX + 64];
	size_t i;

	log_begin(&r, LOG_INFO, "transaction");
	log_kv_str(&r, "client_ip", info->client_ip);
	log_kv_str(&r, "helo", info->helo);
	log_kv_bool(&r, "tls", info->tls);
	log_kv_str(&r, "from", txn->from.is_null ? "<>" : txn->from.address);
	for (i = 0; i < txn->n_log; i++) {
		const struct smtp_rcpt_log *l = &txn->log[i];

		snprintf(key, sizeof(key), "rcpt.%zu", i + 1);
		snprintf(val, sizeof(val), "<%s> %d %s %s", l->address, l->code,
		    l->enhanced, l->reason ? l->reason : "");
		log_kv_str(&r, key, val);
	}
	log_kv_uint(&r, "size", txn->size);
	log_kv_str(&r, "outcome", outcome);
	if (queue_id != NULL)
		log_kv_str(&r, "id", queue_id);
	log_kv_uint(&r, "duration_ms", now_ms() - c->txn_started_ms);
	log_end(&r);
	c->txn_started_ms = now_ms();
}

/* The diagnosis of issue "Relay access denied": which client rewrites. */
static void
log_cname_refusal(const struct conn *c, const struct session_info *info,
    const char *from, const struct session_rcpt_reply *r)
{
	struct log_record lr;

	log_begin(&lr, LOG_WARN, "cname-expanded recipient refused");
	log_kv_str(&lr, "client_ip", c->ip);
	log_kv_str(&lr, "helo", info->helo);
	log_kv_str(&lr, "from", from);
	log_kv_str(&lr, "rcpt", r->address);
	log_kv_uint(&lr, "client_count", c->ipc->cname_refusals);
	log_kv_str(&lr, "see", "mailtrigger trace --refusals");
	log_end(&lr);
}

/* Records a refused RCPT (code 4xx/5xx) as a rejections row. */
static void
rcpt_cb(void *ctx, const struct session_info *info, const struct smtp_txn *txn,
    const struct session_rcpt_reply *r)
{
	struct conn *c = ctx;
	struct queue_rejection rej;
	char reply[2048];
	const char *from = txn->from.is_null ? "" : txn->from.address;

	if (r->code < 400)
		return;
	snprintf(reply, sizeof(reply), "%.*s", (int)r->reply_len, r->reply);
	rej.at_ms = (int64_t)now_ms();
	rej.client_ip = c->ip;
	rej.helo = info->helo;
	rej.mail_from = from;
	rej.rcpt = r->address;
	rej.code = r->code;
	rej.reply = reply;
	queue_record_rejection(c->srv->queue, &rej);
	if (strcmp(r->enhanced, "5.1.2") != 0 || c->ipc == NULL)
		return;
	c->ipc->cname_refusals++;
	log_cname_refusal(c, info, txn->from.is_null ? "<>" : from, r);
}

static void
life_over_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->close_reason = "session_timeout";
	session_time_limit(c->sess);
	conn_flush(c);
}

static void
client_ip_text(const struct sockaddr *sa, int salen, char *out, size_t len)
{
	if (getnameinfo(sa, (socklen_t)salen, out, (socklen_t)len, NULL, 0,
		NI_NUMERICHOST) != 0)
		snprintf(out, len, "unknown");
}

static struct conn *
conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    int salen)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	struct session_params p;

	c->srv = srv;
	c->started_ms = c->txn_started_ms = now_ms();
	c->idle_timeout_ms = srv->cfg->limits.idle_timeout_ms;
	client_ip_text(sa, salen, c->ip, sizeof(c->ip));
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	memset(&p, 0, sizeof(p));
	p.cfg = srv->cfg;
	p.limits = srv->cfg->limits;
	p.hostname = srv->cfg->hostname;
	p.client_ip = c->ip;
	p.tls_available = srv->tls != NULL;
	c->sess = session_new(&p);
	session_set_txn_log(c->sess, log_txn_cb, c);
	session_set_rcpt_cb(c->sess, rcpt_cb, c);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->n_conns++;
	return c;
}

static void
conn_arm(struct conn *c)
{
	uint64_t life = c->srv->cfg->limits.session_timeout_ms;
	struct timeval tv;

	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_INPUT_HIGH_WATER);
	set_idle_timeout(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	tv.tv_sec = (time_t)(life / 1000);
	tv.tv_usec = (suseconds_t)(life % 1000) * 1000;
	c->life_timer = evtimer_new(c->srv->base, life_over_cb, c);
	evtimer_add(c->life_timer, &tv);
}

/* Accepts a connection, or refuses it with 421 when over a limit. */
void
conn_start(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    int salen)
{
	const struct limits *lim = &srv->cfg->limits;
	struct conn *c = conn_new(srv, fd, sa, salen);
	struct ip_count *ipc = server_ip_ref(srv, c->ip);

	c->ipc = ipc;
	ipc->n++;
	conn_arm(c);
	if (srv->n_conns > lim->connections) {
		c->close_reason = "too_many_connections";
		session_refuse(c->sess, false);
	} else if (ipc->n > lim->connections_per_ip) {
		c->close_reason = "too_many_connections_from_ip";
		session_refuse(c->sess, true);
	} else {
		session_greet(c->sess);
	}
	conn_flush(c);
}

static void
format_rfc5322_date(uint64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static char **
strv_dup(const char *const *v, size_t n)
{
	char **out = xcalloc(n + 1, sizeof(*out));
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

/* The event keeps its first recipient recovered from CNAME expansion. */
static void
event_rewrite(struct queue_event *ev, const struct cname_rewrite *rw)
{
	if (ev->rewrite_received != NULL ||
	    (rw->evidence != CNAME_SENDER_DOMAINS &&
		rw->evidence != CNAME_RECEIVED_FOR))
		return;
	ev->rewrite_received = xstrdup(rw->received);
	ev->rewrite_recovered = xstrdup(rw->recovered);
	ev->rewrite_evidence = cname_evidence_name(rw->evidence);
}

/* Groups the accepted recipients by trigger: one event per trigger. */
static void
build_events(const struct smtp_txn *txn, struct queue_message *m)
{
	size_t i, j;

	m->events = xcalloc(txn->n_rcpts, sizeof(*m->events));
	for (i = 0; i < txn->n_rcpts; i++) {
		const struct route_result *r = &txn->rcpts[i].route;
		struct queue_event *ev = NULL;

		for (j = 0; j < m->n_events; j++)
			if (strcmp(m->events[j].instance, r->instance->host) ==
				0 &&
			    strcmp(m->events[j].trigger, r->trigger->name) == 0)
				ev = &m->events[j];
		if (ev == NULL) {
			ev = &m->events[m->n_events++];
			if (m->n_events == 1)
				snprintf(ev->id, sizeof(ev->id), "evt_%s",
				    m->id);
			else
				snprintf(ev->id, sizeof(ev->id), "evt_%s.%zu",
				    m->id, m->n_events);
			ev->instance = xstrdup(r->instance->host);
			ev->trigger = xstrdup(r->trigger->name);
			ev->tag = xstrdup(r->tag);
			ev->recipients = strv_dup(NULL, 0);
			ev->rcpt_to = strv_dup(NULL, 0);
		}
		ev->rcpt_to = xreallocarray(ev->rcpt_to, ev->n_rcpt_to + 2,
		    sizeof(char *));
		ev->rcpt_to[ev->n_rcpt_to++] = xstrdup(
		    txn->rcpts[i].mbox.address);
		ev->rcpt_to[ev->n_rcpt_to] = NULL;
		event_rewrite(ev, &txn->rcpts[i].cname);
		if (r->form != ROUTE_FORM_RECIPIENT)
			continue;
		ev->recipients = xreallocarray(ev->recipients,
		    ev->n_recipients + 2, sizeof(char *));
		ev->recipients[ev->n_recipients++] = xstrdup(r->recipient);
		ev->recipients[ev->n_recipients] = NULL;
	}
}

/* Message data = our Received: header + what the client sent. */
static void
build_data(struct conn *c, struct queue_message *m)
{
	char date[64];
	struct buf hdr;
	size_t len;
	char *body = session_take_data(c->sess, &len);

	format_rfc5322_date((uint64_t)m->received_at_ms, date, sizeof(date));
	buf_init(&hdr, (size_t)-1);
	session_rewrite_headers(c->sess, &hdr);
	session_received_header(c->sess, m->id, date, &hdr);
	m->len = hdr.len + len;
	m->data = xmalloc(m->len + 1);
	memcpy(m->data, hdr.data, hdr.len);
	memcpy(m->data + hdr.len, body, len);
	m->data[m->len] = '\0';
	buf_free(&hdr);
	free(body);
}

static struct queue_message *
build_message(struct conn *c)
{
	const struct smtp_txn *txn = session_txn(c->sess);
	const struct session_info *info = session_info(c->sess);
	struct queue_message *m = xcalloc(1, sizeof(*m));
	uint64_t rnd = ((uint64_t)arc4random() << 8) ^ arc4random();

	m->received_at_ms = (int64_t)now_ms();
	id_format(m->id, (uint64_t)m->received_at_ms, rnd);
	m->mail_from = xstrdup(txn->from.is_null ? "" : txn->from.address);
	m->client_ip = xstrdup(c->ip);
	m->helo = xstrdup(info->helo);
	m->tls = info->tls;
	m->smtputf8 = txn->smtputf8;
	build_events(txn, m);
	build_data(c, m);
	return m;
}

static void
commit_done_cb(void *arg, enum queue_status st)
{
	struct conn *c = arg;
	char id[ID_LEN + 8];

	snprintf(id, sizeof(id), "evt_%s", c->pending_id);
	c->job = NULL;
	session_commit_done(c->sess, st == QUEUE_OK, id);
	if (c->shutdown_now_pending)
		session_shutdown_now(c->sess);
	if (conn_flush(c) && !c->closing)
		conn_pump(c);
}

static void
enqueue_message(struct conn *c)
{
	struct queue_message *m = build_message(c);

	memcpy(c->pending_id, m->id, sizeof(c->pending_id));
	c->job = queue_submit(c->srv->queue, m, commit_done_cb, c);
}

static void
tls_handshake_done(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	char cipher[128];

	snprintf(cipher, sizeof(cipher), "%s %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	c->tls_handshaking = false;
	session_tls_started(c->sess, cipher);
	if (conn_flush(c) && !c->closing)
		conn_pump(c);
}

/*
 * RFC 3207: the 220 goes out in plain text, then the TLS filter takes over
 * the socket. Whatever the client pipelined behind STARTTLS was already
 * consumed and discarded by the session; drop anything else that sits in
 * the plain input buffer so it can never be read as a command.
 */
static void
start_tls(struct conn *c)
{
	SSL *ssl = SSL_new(c->srv->tls);
	struct bufferevent *tls;

	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	/* The filter keeps the time; the socket under it has none. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	tls = bufferevent_openssl_filter_new(c->srv->base, c->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, CONN_OUTPUT_HIGH_WATER);
	c->bev = tls;
	c->tls_handshaking = true;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_INPUT_HIGH_WATER);
	set_idle_timeout(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Acts on the session's pending event; false when input must wait. */
static bool
conn_handle_event(struct conn *c)
{
	switch (session_event(c->sess)) {
	case SESSION_EV_NONE:
		return true;
	case SESSION_EV_MESSAGE:
		if (c->job == NULL)
			enqueue_message(c);
		return false;
	case SESSION_EV_STARTTLS:
		if (conn_flush(c))
			start_tls(c);
		return false;
	case SESSION_EV_CLOSE:
		conn_flush(c);
		return false;
	}
	abort();
}

/* Feeds buffered input to the session until it is used up or blocked. */
static void
conn_pump(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec vec;
	size_t used;

	for (;;) {
		if (!conn_handle_event(c))
			return;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
		    CONN_OUTPUT_HIGH_WATER)
			break; /* conn_write_cb() comes back */
		if (evbuffer_peek(in, CONN_INPUT_CHUNK, NULL, &vec, 1) < 1 ||
		    vec.iov_len == 0)
			break;
		if (vec.iov_len > CONN_INPUT_CHUNK)
			vec.iov_len = CONN_INPUT_CHUNK;
		used = session_input(c->sess, vec.iov_base, vec.iov_len);
		evbuffer_drain(in, used);
		if (session_event(c->sess) == SESSION_EV_CLOSE ||
		    session_event(c->sess) == SESSION_EV_STARTTLS)
			continue;
		if (!conn_flush(c))
			return;
	}
	conn_flush(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing || c->tls_handshaking)
		return;
	conn_pump(c);
}

/* Our output is all written: input held back by it may go on. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing || c->tls_handshaking)
		return;
	conn_pump(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		tls_handshake_done(c);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing) {
		c->close_reason = "idle_timeout";
		session_idle_timeout(c->sess);
		conn_flush(c);
		return;
	}
	if (c->close_reason == NULL)
		c->close_reason = c->tls_handshaking ? "tls_failed" :
		    (what & BEV_EVENT_EOF)           ? "client_closed" :
						       "io_error";
	conn_free(c);
}

/* Graceful shutdown; `now` once the grace period is over. */
void
conn_shutdown(struct conn *c, bool now)
{
	if (c->closing)
		return;
	if (c->close_reason == NULL)
		c->close_reason = "shutdown";
	if (now && c->job != NULL) {
		/* Answer the message first: it may be durable already. */
		c->shutdown_now_pending = true;
		return;
	}
	if (now)
		session_shutdown_now(c->sess);
	else
		session_shutdown(c->sess);
	conn_flush(c);
}
