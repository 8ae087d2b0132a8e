/*
 * policy - the sender policy: may this envelope sender start this
 * trigger?
 *
 * Pure. A trigger's `senders` list (config.h, docs/routing.md "Sender
 * policy") holds entries the config loader has already checked and
 * normalised:
 *   local@domain   that one address;
 *   *@domain       any address at that domain (not its subdomains);
 *   <>             the null reverse-path (RFC 5321 4.5.5: bounces).
 * The domain is compared ASCII case-insensitively (RFC 5321 2.4: domain
 * names are case-free), with one trailing dot ignored; the local part is
 * compared exactly, as RFC 5321 2.4 says only the receiving host may
 * fold it (the decoded form: "nagios" and nagios are the same). UTF-8
 * compares byte for byte. An address literal never matches. A trigger
 * without a list takes mail from any sender, the null sender included.
 * The router asks at RCPT time (route/router.h) and refuses with
 *   550 5.7.1 <rcpt>: Sender address rejected: <from> may not trigger T
 */
#ifndef MT_ROUTE_POLICY_H
#define MT_ROUTE_POLICY_H

#include "config.h"
#include "mail/address.h"

enum policy_verdict {
	POLICY_ANY = 0, /* the trigger has no senders list */
	POLICY_ALLOWED, /* the sender matches an entry */
	POLICY_DENIED,  /* a list, and no entry matches */
};

struct policy_result {
	enum policy_verdict verdict;
	const char *matched; /* POLICY_ALLOWED: the entry (borrowed) */
};

/*
 * Judges the envelope sender from (NULL: unknown, which no entry
 * matches) against t's senders list; fills *res.
 */
void policy_sender(const struct trigger *t, const struct mailbox *from,
    struct policy_result *res);

/* "any", "allowed" or "denied": for logs, trace and `route`. */
const char *policy_verdict_name(enum policy_verdict v);

#endif
