/*
 * mxplan - where an RFC 5321 sender delivers mail for a domain (5.1), and
 * what is wrong with the DNS on the way.
 *
 * Pure. mxplan_run() reads lookups from a table (struct dns_lookups) and
 * either names the next lookup it needs or returns the finished plan:
 *   1. the domain's CNAME chain (5.1: "If a CNAME record is found, the
 *      resulting name is processed as if it were the initial name"), at
 *      most MXPLAN_CNAME_MAX links, loops detected;
 *   2. the MX records of the canonical name, sorted by preference, then
 *      by name (deterministic; 5.1 lets equal preferences be shuffled);
 *      the null MX of RFC 7505 ("." at preference 0); no MX: the implicit
 *      MX, the canonical name itself;
 *   3. each MX target's own CNAME chain (RFC 2181 10.3: an MX target must
 *      not be an alias) and its A and AAAA records.
 * The shell (mxplan_resolve in resolve_plan.c) performs the lookups it
 * asks for; unit tests give it a complete table.
 */
#ifndef MT_DNS_MXPLAN_H
#define MT_DNS_MXPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/resolve.h"

#define MXPLAN_CNAME_MAX 8 /* CNAME links followed per name */
#define MXPLAN_HOSTS_MAX 8 /* MX hosts examined */
#define MXPLAN_ADDRS_MAX 8 /* addresses kept per host */
#define MXPLAN_FINDINGS_MAX 24
#define MXPLAN_STEPS_MAX 128

/* Every lookup done so far (owned copies). */
struct dns_lookups {
	struct dns_answer *items;
	size_t n, cap;
};

void dns_lookups_add(struct dns_lookups *t, const struct dns_answer *ans);
const struct dns_answer *dns_lookups_find(const struct dns_lookups *t,
    const char *name, enum dns_type type);
void dns_lookups_free(struct dns_lookups *t);

enum mxplan_outcome {
	MXPLAN_DELIVERABLE = 0, /* at least one host has an address */
	MXPLAN_NXDOMAIN,        /* the domain (or its CNAME target) is absent */
	MXPLAN_NULL_MX,         /* RFC 7505: the domain accepts no mail */
	MXPLAN_NO_ADDRESS,      /* no MX host has an address */
	MXPLAN_CNAME_BROKEN,    /* CNAME loop or chain too long */
	MXPLAN_TEMPFAIL,        /* a lookup timed out or failed: a sender
				   would defer and retry */
};

enum finding_level { FINDING_INFO, FINDING_WARN, FINDING_ERROR };

enum finding_code {
	FIND_DOMAIN_IS_CNAME, /* CNAME expansion rewrites the address */
	FIND_CNAME_LOOP,
	FIND_CNAME_TOO_LONG,
	FIND_CNAME_DANGLING, /* a chain ends in NXDOMAIN */
	FIND_NXDOMAIN,
	FIND_NULL_MX,
	FIND_NULL_MX_MIXED, /* "." next to other MX records */
	FIND_IMPLICIT_MX,
	FIND_MX_TARGET_CNAME,    /* RFC 2181 10.3 */
	FIND_MX_TARGET_NXDOMAIN, /* lame: the target does not exist */
	FIND_MX_TARGET_NO_ADDRESS,
	FIND_MX_TARGET_IS_IP, /* an address where a name belongs */
	FIND_LOOKUP_FAILED,   /* timeout, SERVFAIL, REFUSED, error */
	FIND_TOO_MANY_HOSTS,
};

struct finding {
	enum finding_code code;
	enum finding_level level;
	char name[DNS_NAME_MAX + 1]; /* the name it is about */
	char text[300];              /* plain words, with the RFC */
};

struct mx_host {
	char name[DNS_NAME_MAX + 1];      /* as the MX record gives it */
	char canonical[DNS_NAME_MAX + 1]; /* after its CNAME chain */
	unsigned pref;
	unsigned ttl;  /* of the MX record (0 for the implicit MX) */
	bool implicit; /* RFC 5321 5.1 implicit MX */
	bool is_cname; /* RFC 2181 10.3 violation */
	size_t naddr;
	char addr[MXPLAN_ADDRS_MAX][48];
	unsigned addr_ttl[MXPLAN_ADDRS_MAX];
};

struct mxplan {
	char domain[DNS_NAME_MAX + 1];
	char canonical[DNS_NAME_MAX + 1]; /* end of the domain's CNAME chain */
	size_t nchain;                    /* CNAME links followed */
	char chain[MXPLAN_CNAME_MAX + 1][DNS_NAME_MAX + 1]; /* domain first */
	unsigned chain_ttl[MXPLAN_CNAME_MAX + 1];
	enum mxplan_outcome outcome;
	size_t nhosts;
	struct mx_host hosts[MXPLAN_HOSTS_MAX];
	size_t nfindings;
	struct finding findings[MXPLAN_FINDINGS_MAX];
	size_t nsteps; /* the lookups used, in the order a sender does them */
	const struct dns_answer *steps[MXPLAN_STEPS_MAX]; /* borrowed */
};

enum mxplan_status { MXPLAN_DONE = 0, MXPLAN_NEED };

/*
 * Plans delivery to domain from the lookups in t. MXPLAN_NEED: *need_name
 * and *need_type name the lookup to add to t before calling again (*out
 * is then incomplete). MXPLAN_DONE: *out is the plan; its steps point
 * into t, which must outlive it.
 */
enum mxplan_status mxplan_run(const struct dns_lookups *t, const char *domain,
    struct mxplan *out, char *need_name, size_t need_len,
    enum dns_type *need_type);

const char *mxplan_outcome_name(enum mxplan_outcome o);
const char *finding_code_name(enum finding_code c);
const char *finding_level_name(enum finding_level l);

typedef void mxplan_done_fn(struct mxplan *plan, void *arg);

/*
 * Shell (resolve_plan.c): runs mxplan_run, doing each lookup it needs
 * with r, one at a time, and calls done with the finished plan. Works in
 * an event loop (r driven by its sock_state callback) or with dns_wait().
 * The lookups stay in *t, which the caller frees after done ran. *out and
 * *t must live until then.
 */
void mxplan_resolve_async(struct dns_resolver *r, const char *domain,
    struct dns_lookups *t, struct mxplan *out, mxplan_done_fn *done, void *arg);

/* The same, blocking until the plan is done (CLI). */
void mxplan_resolve(struct dns_resolver *r, const char *domain,
    struct dns_lookups *t, struct mxplan *out);

#endif
