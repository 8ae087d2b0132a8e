/*
 * resolve - asynchronous DNS lookups (MX, CNAME, A, AAAA, TXT) on c-ares.
 *
 * I/O shell. One struct dns_resolver owns one ares channel. Queries are
 * answered through a callback with a struct dns_answer: the response code
 * (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, timeout, other error) and every
 * answer record with its owner name and TTL. Two ways to drive it:
 *   - an event loop: give dns_config.sock_state a callback; it is told
 *     which sockets to watch (c-ares ARES_OPT_SOCK_STATE_CB). Call
 *     dns_process_fd() when one is ready and dns_timeout() for the next
 *     timer;
 *   - a command line tool: dns_wait() runs select(2) until every pending
 *     query is answered.
 * Names are sent as given, without search domains (ares_query, not
 * ares_search): a trigger address names an absolute domain.
 */
#ifndef MT_DNS_RESOLVE_H
#define MT_DNS_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

#define DNS_NAME_MAX 255 /* RFC 1035 2.3.4, text form, no trailing dot */
#define DNS_DATA_MAX 512 /* one record's data in text form */
#define DNS_RR_MAX 32    /* records kept per answer; the rest are counted */

/* Record types, with their RFC 1035 / RFC 3596 numbers. */
enum dns_type {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

/* The outcome of one lookup. */
enum dns_rcode {
	DNS_NOERROR = 0, /* the name exists; records may be absent (NODATA) */
	DNS_NXDOMAIN,    /* RFC 1035 4.1.1 RCODE 3: the name does not exist */
	DNS_SERVFAIL,    /* RCODE 2 */
	DNS_REFUSED,     /* RCODE 5 */
	DNS_TIMEOUT,     /* no server answered in time */
	DNS_ERROR,       /* anything else: bad response, connection refused */
};

struct dns_rr {
	enum dns_type type;
	char owner[DNS_NAME_MAX + 1];
	unsigned ttl;
	unsigned pref;           /* MX preference */
	char data[DNS_DATA_MAX]; /* MX/CNAME target ("." for the root),
				     address text, TXT strings joined */
};

struct dns_answer {
	char qname[DNS_NAME_MAX + 1];
	enum dns_type qtype;
	enum dns_rcode rcode;
	size_t n;      /* records kept in rr[] */
	size_t nextra; /* further records dropped (over DNS_RR_MAX) */
	struct dns_rr rr[DNS_RR_MAX];
	char detail[128]; /* c-ares' words for DNS_ERROR / DNS_TIMEOUT */
};

/* Called with the socket c-ares wants watched (read/write) or, with both
 * false, no longer watched. */
typedef void dns_sock_state_fn(void *arg, int fd, bool read, bool write);

struct dns_config {
	const char *servers; /* "HOST[:PORT],..." ([v6]:port); NULL: the
				system's resolv.conf */
	unsigned timeout_ms; /* first try's timeout; 0: 2000 */
	unsigned tries;      /* tries per server; 0: 2 */
	dns_sock_state_fn *sock_state; /* NULL: use dns_wait() */
	void (*queried)(void *arg);    /* after each dns_query (re-arm the
					  timer); may be NULL */
	void *sock_state_arg;          /* argument of both */
};

struct dns_resolver;

typedef void dns_done_fn(const struct dns_answer *ans, void *arg);

/* Library set-up; call once before the first resolver. 0 on success. */
int dns_library_init(void);

/*
 * A resolver for cfg, or NULL with a message in err (bad server list,
 * c-ares failure).
 */
struct dns_resolver *dns_resolver_new(const struct dns_config *cfg, char *err,
    size_t errlen);

/* Cancels pending queries (their callbacks run with DNS_ERROR, detail
 * "cancelled") and frees r. NULL is ignored. */
void dns_resolver_free(struct dns_resolver *r);

/* Starts a lookup of name/type; done runs exactly once, later. */
void dns_query(struct dns_resolver *r, const char *name, enum dns_type type,
    dns_done_fn *done, void *arg);

/* Event-loop hooks: process a ready socket (-1 for none; both -1 only
 * handles timeouts) and get the time until c-ares' next timeout (NULL:
 * nothing pending). dns_event.h wraps them for libevent. */
void dns_process_fd(struct dns_resolver *r, int read_fd, int write_fd);
struct timeval *dns_timeout(struct dns_resolver *r, struct timeval *tv);

/* Lookups started and not yet answered. */
size_t dns_pending(const struct dns_resolver *r);

/* Runs select(2) until no query is pending (CLI use). */
void dns_wait(struct dns_resolver *r);

/*
 * Pure: decodes a DNS response (RFC 1035 4.1) into *out for the query
 * qname/qtype. Keeps answer-section records of the five types above.
 * Returns false on a malformed message.
 */
bool dns_parse_response(const unsigned char *msg, size_t len,
    struct dns_answer *out);

const char *dns_type_name(enum dns_type type);
const char *dns_rcode_name(enum dns_rcode rcode);

#endif
