/*
 * server_int - what server.c (listeners, limits, shutdown) and conn.c (one
 * connection: I/O pump, queue hand-off, TLS upgrade) share. Internal to
 * src/smtp/; not a public interface.
 */
#ifndef MT_SMTP_SERVER_INT_H
#define MT_SMTP_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "config.h"
#include "queue/queue.h"
#include "smtp/session.h"
#include "util/id.h"

#define IP_TEXT_MAX 64 /* INET6_ADDRSTRLEN plus room for a zone */

/*
 * Connections per client IP: a small chained hash table. An entry also
 * counts the client's CNAME-expansion refusals (550 5.1.2) since the
 * gateway started, for the diagnosis log line; it outlives the client's
 * last connection while it has such a count, for at most IP_IDLE_MAX
 * clients (the rejections table keeps every refusal anyway).
 */
struct ip_count {
	char ip[IP_TEXT_MAX];
	unsigned n;
	unsigned long cname_refusals;
	struct ip_count *next;
};

#define IP_BUCKETS 1024
#define IP_IDLE_MAX 4096

struct conn;
TAILQ_HEAD(conn_list, conn);

struct server {
	struct event_base *base;
	struct config *cfg; /* current config: given to new connections */
	struct queue *queue;
	SSL_CTX *tls; /* NULL when the config has no certificate */
	struct evconnlistener **listeners;
	size_t n_listeners;
	struct event *queue_ev; /* queue notify fd readable */
	struct conn_list conns;
	unsigned n_conns;
	struct ip_count *ips[IP_BUCKETS];
	unsigned n_ips_idle; /* entries kept with n == 0 (cname_refusals) */
	bool shutting_down;
	struct event *grace_timer;
	void (*shutdown_done)(void *);
	void *shutdown_arg;
};

struct conn {
	struct server *srv;
	struct bufferevent *bev; /* the socket, or the TLS filter on it */
	struct smtp_session *sess;
	struct queue_job *job;    /* commit in flight, or NULL */
	struct event *life_timer; /* limits.session_timeout */
	struct event *close_ev;   /* frees the conn once TLS output is out */
	struct ip_count *ipc;     /* NULL when refused before counting */
	uint64_t started_ms;
	uint64_t txn_started_ms;
	uint64_t idle_timeout_ms;
	bool closing;              /* write what is left, then free */
	bool shutdown_now_pending; /* grace over while a commit was in flight */
	bool tls_handshaking;
	char pending_id[ID_LEN + 1]; /* queue id of the message in flight */
	const char *close_reason;
	char ip[IP_TEXT_MAX];
	TAILQ_ENTRY(conn) entry;
};

/* conn.c */
void conn_start(struct server *srv, evutil_socket_t fd,
    const struct sockaddr *sa, int salen);
void conn_shutdown(struct conn *c, bool now);
void conn_free(struct conn *c);

/* server.c */
void server_conn_gone(struct server *srv, struct conn *c);
struct ip_count *server_ip_ref(struct server *srv, const char *ip);

uint64_t now_ms(void);

#endif
