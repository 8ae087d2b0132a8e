/*
 * server - listeners, TLS context, connection limits, reload and graceful
 * shutdown. One connection's life is in conn.c.
 */
#include "smtp/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "smtp/server_int.h"
#include "util/log.h"
#include "util/xmalloc.h"

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned
ip_hash(const char *ip)
{
	unsigned h = 5381;

	for (; *ip != '\0'; ip++)
		h = h * 33 + (unsigned char)*ip;
	return h % IP_BUCKETS;
}

/*
 * Returns the count entry for ip, creating it at zero; the caller counts
 * its connection on it (n++).
 */
struct ip_count *
server_ip_ref(struct server *srv, const char *ip)
{
	unsigned h = ip_hash(ip);
	struct ip_count *e;

	for (e = srv->ips[h]; e != NULL; e = e->next) {
		if (strcmp(e->ip, ip) != 0)
			continue;
		if (e->n == 0)
			srv->n_ips_idle--; /* the caller counts it in use */
		return e;
	}
	e = xcalloc(1, sizeof(*e));
	snprintf(e->ip, sizeof(e->ip), "%s", ip);
	e->next = srv->ips[h];
	srv->ips[h] = e;
	return e;
}

static void
ip_unref(struct server *srv, struct ip_count *ipc)
{
	struct ip_count **pp;

	if (ipc == NULL || --ipc->n > 0)
		return;
	if (ipc->cname_refusals > 0 && srv->n_ips_idle < IP_IDLE_MAX) {
		srv->n_ips_idle++; /* keep its count for the next visit */
		return;
	}
	for (pp = &srv->ips[ip_hash(ipc->ip)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ipc) {
			*pp = ipc->next;
			free(ipc);
			return;
		}
	}
}

static void
maybe_finish_shutdown(struct server *srv)
{
	void (*done)(void *);

	if (!srv->shutting_down || srv->n_conns > 0 ||
	    srv->shutdown_done == NULL)
		return;
	done = srv->shutdown_done;
	srv->shutdown_done = NULL;
	done(srv->shutdown_arg);
}

/* Called by conn_free(): the connection is unlinked and about to go. */
void
server_conn_gone(struct server *srv, struct conn *c)
{
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->n_conns--;
	ip_unref(srv, c->ipc);
	c->ipc = NULL;
	maybe_finish_shutdown(srv);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	conn_start(arg, fd, sa, salen);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	/* EMFILE and friends: keep listening; the next accept may work. */
	log_msg(LOG_WARN, "accept_failed",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
log_listening(struct evconnlistener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV],
	    addr[NI_MAXHOST + NI_MAXSERV + 8];
	struct log_record r;

	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss,
		&len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
		sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	if (ss.ss_family == AF_INET6)
		snprintf(addr, sizeof(addr), "[%s]:%s", host, port);
	else
		snprintf(addr, sizeof(addr), "%s:%s", host, port);
	log_begin(&r, LOG_INFO, "listening");
	log_kv_str(&r, "address", addr);
	log_end(&r);
}

static struct evconnlistener *
listen_on(struct server *srv, const struct listener_config *lc, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	struct evconnlistener *l;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(lc->host, lc->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen %s: %s", lc->address,
		    gai_strerror(rc));
		return NULL;
	}
	l = evconnlistener_new_bind(srv->base, accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, res->ai_addr, (int)res->ai_addrlen);
	if (l == NULL)
		snprintf(err, errlen, "listen %s: %s", lc->address,
		    strerror(errno));
	else
		evconnlistener_set_error_cb(l, accept_error_cb);
	freeaddrinfo(res);
	return l;
}

static void
tls_error(const char *what, const char *file, char *err, size_t errlen)
{
	char detail[256];

	ERR_error_string_n(ERR_get_error(), detail, sizeof(detail));
	snprintf(err, errlen, "tls: %s %s: %s", what, file, detail);
}

/* Builds the STARTTLS context for cfg; *out is NULL when TLS is off. */
static bool
tls_context_new(const struct config *cfg, SSL_CTX **out, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	*out = NULL;
	if (cfg->tls_cert == NULL)
		return true;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_error("cannot create context", "", err, errlen);
		return false;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		tls_error("cannot load certificate", cfg->tls_cert, err,
		    errlen);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) !=
		1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_error("cannot load key", cfg->tls_key, err, errlen);
		goto fail;
	}
	*out = ctx;
	return true;
fail:
	SSL_CTX_free(ctx);
	return false;
}

static void
queue_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	queue_dispatch(arg);
}

static bool
listen_all(struct server *srv, char *err, size_t errlen)
{
	size_t i;

	srv->listeners = xcalloc(srv->cfg->n_listeners,
	    sizeof(*srv->listeners));
	for (i = 0; i < srv->cfg->n_listeners; i++) {
		srv->listeners[i] = listen_on(srv, &srv->cfg->listeners[i], err,
		    errlen);
		if (srv->listeners[i] == NULL)
			return false;
		srv->n_listeners++;
		log_listening(srv->listeners[i]);
	}
	return true;
}

struct server *
server_new(struct event_base *base, struct config *cfg, struct queue *q,
    char *err, size_t errlen)
{
	struct server *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->cfg = config_ref(cfg);
	srv->queue = q;
	TAILQ_INIT(&srv->conns);
	if (!tls_context_new(cfg, &srv->tls, err, errlen))
		goto fail;
	srv->queue_ev = event_new(base, queue_notify_fd(q),
	    EV_READ | EV_PERSIST, queue_ready_cb, q);
	event_add(srv->queue_ev, NULL);
	if (!listen_all(srv, err, errlen))
		goto fail;
	return srv;
fail:
	server_free(srv);
	return NULL;
}

bool
server_reload(struct server *srv, struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *tls;

	if (!tls_context_new(cfg, &tls, err, errlen))
		return false;
	/* Connections in TLS hold their own SSL, which keeps the old
	 * context alive (OpenSSL reference counts it). */
	SSL_CTX_free(srv->tls);
	srv->tls = tls;
	config_unref(srv->cfg);
	srv->cfg = config_ref(cfg);
	return true;
}

static void
close_listeners(struct server *srv)
{
	size_t i;

	for (i = 0; i < srv->n_listeners; i++)
		evconnlistener_free(srv->listeners[i]);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->n_listeners = 0;
}

static void
shutdown_all(struct server *srv, bool now)
{
	struct conn *c, *next;

	/* conn_shutdown() may free c, so fetch the next one first. */
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_shutdown(c, now);
	}
}

static void
grace_over_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	log_msg(LOG_INFO, "shutdown_grace_over", NULL);
	shutdown_all(srv, true);
}

void
server_shutdown(struct server *srv, void (*done)(void *), void *arg)
{
	struct timeval tv;
	uint64_t grace = srv->cfg->limits.shutdown_grace_ms;

	if (srv->shutting_down)
		return;
	srv->shutting_down = true;
	srv->shutdown_done = done;
	srv->shutdown_arg = arg;
	close_listeners(srv);
	tv.tv_sec = (time_t)(grace / 1000);
	tv.tv_usec = (suseconds_t)(grace % 1000) * 1000;
	srv->grace_timer = evtimer_new(srv->base, grace_over_cb, srv);
	evtimer_add(srv->grace_timer, &tv);
	shutdown_all(srv, false);
	maybe_finish_shutdown(srv);
}

void
server_free(struct server *srv)
{
	struct conn *c;
	size_t i;

	if (srv == NULL)
		return;
	srv->shutdown_done = NULL;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_free(c);
	close_listeners(srv);
	if (srv->grace_timer != NULL)
		event_free(srv->grace_timer);
	if (srv->queue_ev != NULL)
		event_free(srv->queue_ev);
	for (i = 0; i < IP_BUCKETS; i++) {
		while (srv->ips[i] != NULL) {
			struct ip_count *e = srv->ips[i];

			srv->ips[i] = e->next;
			free(e);
		}
	}
	SSL_CTX_free(srv->tls);
	config_unref(srv->cfg);
	free(srv);
}
