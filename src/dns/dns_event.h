/*
 * dns_event - runs a struct dns_resolver inside a libevent loop.
 *
 * I/O shell. c-ares reports each socket it opens or closes through the
 * resolver's sock_state callback; this module keeps one persistent event
 * per socket (read, and write while c-ares has TCP data queued) and one
 * timer set from dns_timeout() after every step, so lookups progress and
 * time out with no other help from the caller. The server uses it for
 * DNS at RCPT time; tests/unit/test_dns_event.c drives it against a DNS
 * responder on loopback.
 */
#ifndef MT_DNS_DNS_EVENT_H
#define MT_DNS_DNS_EVENT_H

#include <stddef.h>

#include <event2/event.h>

#include "dns/resolve.h"

struct dns_event;

/*
 * A resolver for cfg (its sock_state, queried and sock_state_arg are
 * replaced) driven by base, or NULL with a message in err.
 */
struct dns_event *dns_event_new(struct event_base *base,
    const struct dns_config *cfg, char *err, size_t errlen);

/* The resolver to start lookups with (dns_query, mxplan_resolve_async);
 * each dns_query arms the timer. */
struct dns_resolver *dns_event_resolver(struct dns_event *de);

/* Cancels pending lookups (their callbacks run) and frees everything. */
void dns_event_free(struct dns_event *de);

#endif
