/*
 * server - the SMTP listeners and connections: sockets, TLS, timeouts and
 * connection limits around the pure session (smtp/session.h).
 *
 * Not pure: owns libevent listeners, bufferevents (with OpenSSL filters
 * after STARTTLS) and timers, and talks to the queue. Each connection owns
 * one session; a session's config reference is the one that was current
 * when the connection was accepted, so server_reload() affects only new
 * connections. Read docs/smtp.md.
 */
#ifndef MT_SMTP_SERVER_H
#define MT_SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "queue/queue.h"

struct event_base;
struct server;

/*
 * Binds every listener of cfg and loads its TLS certificate. Takes a
 * reference to cfg; borrows q and base, which must outlive the server.
 * Returns NULL with a message in err on failure (cannot bind, bad cert).
 */
struct server *server_new(struct event_base *base, struct config *cfg,
    struct queue *q, char *err, size_t errlen);
/*
 * Makes cfg (a new reference is taken) the config for new connections,
 * after loading its TLS certificate. Returns false with err set, leaving
 * the old config in force, when the certificate cannot be loaded.
 */
bool server_reload(struct server *srv, struct config *cfg, char *err,
    size_t errlen);
/*
 * Graceful shutdown: closes the listeners, says 421 4.3.2 to idle
 * sessions, lets transactions in progress finish for the config's
 * shutdown_grace, then says 421 4.3.2 to the rest. Calls done(arg) once
 * the last connection is gone.
 */
void server_shutdown(struct server *srv, void (*done)(void *), void *arg);
/* Closes everything at once and frees the server. */
void server_free(struct server *srv);

#endif
