/*
 * dns_event - libevent glue for the c-ares resolver (see dns_event.h).
 *
 * Sockets: a small array of (fd, event); c-ares rarely holds more than
 * one UDP and one TCP socket per server. Timer: re-armed from
 * dns_timeout() after every query and every processing step; when
 * nothing is pending it stays off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_event.h"
#include "util/xmalloc.h"

struct watch {
	int fd;
	struct event *ev;
};

struct dns_event {
	struct event_base *base;
	struct dns_resolver *r;
	struct event *timer;
	size_t nwatch, capwatch;
	struct watch *watch;
};

static void
arm_timer(struct dns_event *de)
{
	struct timeval tv;

	if (dns_timeout(de->r, &tv) != NULL)
		evtimer_add(de->timer, &tv);
	else
		evtimer_del(de->timer);
}

static void
queried_cb(void *arg)
{
	arm_timer(arg);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_event *de = arg;

	dns_process_fd(de->r, -1, -1);
	arm_timer(de);
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_event *de = arg;

	dns_process_fd(de->r, (what & EV_READ) ? fd : -1,
	    (what & EV_WRITE) ? fd : -1);
	arm_timer(de);
}

static struct watch *
find_watch(struct dns_event *de, int fd)
{
	size_t i;

	for (i = 0; i < de->nwatch; i++)
		if (de->watch[i].fd == fd)
			return &de->watch[i];
	return NULL;
}

/* c-ares: watch fd for read/write, or stop watching it. */
static void
sock_state_cb(void *arg, int fd, bool read, bool write)
{
	struct dns_event *de = arg;
	struct watch *w = find_watch(de, fd);
	short what = (short)((read ? EV_READ : 0) | (write ? EV_WRITE : 0));

	if (w != NULL) {
		event_free(w->ev);
		*w = de->watch[--de->nwatch];
	}
	if (what == 0)
		return;
	if (de->nwatch == de->capwatch) {
		de->capwatch = de->capwatch ? de->capwatch * 2 : 4;
		de->watch = xreallocarray(de->watch, de->capwatch,
		    sizeof(*de->watch));
	}
	w = &de->watch[de->nwatch++];
	w->fd = fd;
	w->ev = event_new(de->base, fd, what | EV_PERSIST, io_cb, de);
	event_add(w->ev, NULL);
}

struct dns_event *
dns_event_new(struct event_base *base, const struct dns_config *cfg, char *err,
    size_t errlen)
{
	struct dns_event *de = xcalloc(1, sizeof(*de));
	struct dns_config c = *cfg;

	de->base = base;
	c.sock_state = sock_state_cb;
	c.queried = queried_cb;
	c.sock_state_arg = de;
	de->timer = evtimer_new(base, timer_cb, de);
	de->r = dns_resolver_new(&c, err, errlen);
	if (de->r == NULL) {
		event_free(de->timer);
		free(de);
		return NULL;
	}
	return de;
}

struct dns_resolver *
dns_event_resolver(struct dns_event *de)
{
	return de->r;
}

void
dns_event_free(struct dns_event *de)
{
	size_t i;

	if (de == NULL)
		return;
	dns_resolver_free(de->r); /* closes sockets through sock_state_cb */
	for (i = 0; i < de->nwatch; i++)
		event_free(de->watch[i].ev);
	free(de->watch);
	event_free(de->timer);
	free(de);
}
