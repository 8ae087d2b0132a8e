/*
 * resolve - the c-ares shell around dns_parse_response().
 *
 * Each query carries a struct pending (name, type, callback) to c-ares'
 * ares_query(); qcallback turns c-ares' status plus the raw response into
 * a struct dns_answer. The response code is taken from the message itself
 * when there is one, so NXDOMAIN, SERVFAIL and NOERROR-without-data are
 * told apart exactly; ARES_ETIMEOUT becomes DNS_TIMEOUT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <ares.h>

#include "dns/resolve.h"
#include "util/xmalloc.h"

struct dns_resolver {
	ares_channel channel;
	size_t pending;
	dns_sock_state_fn *sock_state; /* copied from the config */
	void (*queried)(void *arg);
	void *sock_state_arg;
	bool destroying; /* in dns_resolver_free: no new queries */
};

struct pending {
	struct dns_resolver *r;
	dns_done_fn *done;
	void *arg;
	struct dns_answer ans;
};

int
dns_library_init(void)
{
	return ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS ? 0 : -1;
}

static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;

	r->sock_state(r->sock_state_arg, fd, readable != 0, writable != 0);
}

struct dns_resolver *
dns_resolver_new(const struct dns_config *cfg, char *err, size_t errlen)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	struct ares_options opt;
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
	int rc;

	memset(&opt, 0, sizeof(opt));
	opt.timeout = cfg->timeout_ms ? (int)cfg->timeout_ms : 2000;
	opt.tries = cfg->tries ? (int)cfg->tries : 2;
	/* A SERVFAIL or REFUSED is an answer to report, not a reason to
	 * hide it by asking the next server. */
	opt.flags = ARES_FLAG_NOCHECKRESP;
	if (cfg->sock_state != NULL) {
		opt.sock_state_cb = sock_state_cb;
		opt.sock_state_cb_data = r;
		r->sock_state = cfg->sock_state;
		r->sock_state_arg = cfg->sock_state_arg;
		r->queried = cfg->queried;
		mask |= ARES_OPT_SOCK_STATE_CB;
	}
	rc = ares_init_options(&r->channel, &opt, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	if (cfg->servers != NULL) {
		rc = ares_set_servers_ports_csv(r->channel, cfg->servers);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "DNS servers \"%s\": %s",
			    cfg->servers, ares_strerror(rc));
			ares_destroy(r->channel);
			free(r);
			return NULL;
		}
	}
	return r;
}

void
dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	/* ares_destroy runs each callback with ARES_EDESTRUCTION. */
	r->destroying = true;
	ares_destroy(r->channel);
	free(r);
}

static void
fill_failure(struct dns_answer *ans, int status)
{
	ans->n = ans->nextra = 0;
	switch (status) {
	case ARES_ETIMEOUT:
		ans->rcode = DNS_TIMEOUT;
		break;
	case ARES_ENOTFOUND:
		ans->rcode = DNS_NXDOMAIN;
		break;
	case ARES_ESERVFAIL:
		ans->rcode = DNS_SERVFAIL;
		break;
	case ARES_EREFUSED:
		ans->rcode = DNS_REFUSED;
		break;
	case ARES_ENODATA:
		ans->rcode = DNS_NOERROR;
		break;
	default:
		ans->rcode = DNS_ERROR;
		break;
	}
	snprintf(ans->detail, sizeof(ans->detail), "%s",
	    status == ARES_EDESTRUCTION ? "cancelled" : ares_strerror(status));
}

static void
qcallback(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct pending *p = arg;

	if (abuf == NULL || alen <= 0 || status == ARES_ETIMEOUT ||
	    status == ARES_EDESTRUCTION)
		fill_failure(&p->ans, status);
	else if (!dns_parse_response(abuf, (size_t)alen, &p->ans)) {
		p->ans.rcode = DNS_ERROR;
		p->ans.n = 0;
		snprintf(p->ans.detail, sizeof(p->ans.detail),
		    "malformed response");
	}
	p->r->pending--;
	p->done(&p->ans, p->arg);
	free(p);
}

void
dns_query(struct dns_resolver *r, const char *name, enum dns_type type,
    dns_done_fn *done, void *arg)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	size_t len = strlen(name);

	p->r = r;
	p->done = done;
	p->arg = arg;
	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len > DNS_NAME_MAX)
		len = DNS_NAME_MAX; /* c-ares refuses it: reported as error */
	memcpy(p->ans.qname, name, len);
	p->ans.qname[len] = '\0';
	p->ans.qtype = type;
	if (r->destroying) {
		/* A callback of a cancelled lookup asked for the next one. */
		fill_failure(&p->ans, ARES_EDESTRUCTION);
		done(&p->ans, arg);
		free(p);
		return;
	}
	r->pending++;
	ares_query(r->channel, p->ans.qname, 1 /* C_IN */, (int)type, qcallback,
	    p);
	if (r->queried != NULL)
		r->queried(r->sock_state_arg);
}

void
dns_process_fd(struct dns_resolver *r, int read_fd, int write_fd)
{
	ares_process_fd(r->channel, read_fd < 0 ? ARES_SOCKET_BAD : read_fd,
	    write_fd < 0 ? ARES_SOCKET_BAD : write_fd);
}

size_t
dns_pending(const struct dns_resolver *r)
{
	return r->pending;
}

struct timeval *
dns_timeout(struct dns_resolver *r, struct timeval *tv)
{
	return ares_timeout(r->channel, NULL, tv);
}

void
dns_wait(struct dns_resolver *r)
{
	struct timeval tv, *tvp;
	fd_set rfds, wfds;
	int nfds;

	while (r->pending > 0) {
		FD_ZERO(&rfds);
		FD_ZERO(&wfds);
		nfds = ares_fds(r->channel, &rfds, &wfds);
		tvp = ares_timeout(r->channel, NULL, &tv);
		if (select(nfds, &rfds, &wfds, NULL, tvp) < 0 && errno != EINTR)
			break;
		ares_process(r->channel, &rfds, &wfds);
	}
}
