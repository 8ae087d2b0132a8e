/*
 * cname - opt-in recovery of recipients rewritten by CNAME expansion
 * (docs/routing.md, "CNAME recovery").
 *
 * Pure, like the router it builds on. A RCPT to a local part at one of
 * the canonical_names gets the router's 550 5.1.2 diagnosis; when some
 * instance sets accept_cname_expanded, that diagnosis is replaced only on
 * unambiguous evidence, never a guess:
 *   1. at RCPT (trigger form only): the envelope sender's domain is in
 *      the sender_domains of exactly one opted-in instance, and that
 *      instance has the trigger: the RCPT is that trigger address;
 *   2. at the end of DATA (both forms): the first Received: field (the
 *      sending MTA's) has one for clause whose address has the same
 *      local part and routes to an opted-in instance. Only for a
 *      transaction whose only recipient is this one, so that a refusal
 *      after DATA never hits a recipient that was valid at RCPT: such a
 *      recipient is accepted provisionally (250) at RCPT, and any other
 *      recipient in the same transaction, before or after it, gets
 *      452 4.5.3 (try again later, in a transaction of its own).
 * The recovered address is routed by route_rcpt() itself, so the sender
 * policy of the recovered trigger applies as for any mail.
 *
 * Replies (docs/replies.md):
 *   250 2.1.5 Ok                                      (evidence 1)
 *   250 2.1.5 Ok: accepted pending ...                (provisional)
 *   452 4.5.3 <rcpt>: Recipient address deferred: ... (one per txn)
 *   550 5.1.2 <rcpt>: this is the mail server's own name, ... (after DATA)
 */
#ifndef MT_ROUTE_CNAME_H
#define MT_ROUTE_CNAME_H

#include <stdbool.h>
#include <stddef.h>

#include "route/router.h"

enum cname_evidence {
	CNAME_NONE = 0,       /* not rewritten */
	CNAME_SENDER_DOMAINS, /* evidence 1, decided at RCPT */
	CNAME_RECEIVED_FOR,   /* evidence 2, decided at the end of DATA */
	CNAME_PENDING,        /* accepted provisionally, waiting for DATA */
};

/* How a recipient was rewritten back; evidence CNAME_NONE: it was not. */
struct cname_rewrite {
	enum cname_evidence evidence;
	char received[ADDR_PATH_MAX + 1];  /* RCPT TO as received, no <> */
	char recovered[ADDR_PATH_MAX + 1]; /* the address recovered, no <> */
};

/* The transaction so far: what the one-provisional rule needs. */
struct cname_txn {
	size_t n_rcpts;   /* recipients accepted so far */
	bool provisional; /* one of them is CNAME_PENDING */
};

/*
 * At RCPT, after route_rcpt(cfg, q, res): applies recovery and the
 * one-provisional rule to *res and fills *rw (zeroed when nothing was
 * rewritten). res->reason is then "cname_recovered" (evidence 1),
 * "cname_provisional" or "cname_deferred"; otherwise it is untouched.
 */
void cname_rcpt(const struct config *cfg, const struct route_query *q,
    const struct cname_txn *txn, struct route_result *res,
    struct cname_rewrite *rw);

/*
 * At the end of DATA, for the provisional recipient q->rcpt: reads the
 * message content as received (msg, len) for evidence 2. True with *res
 * routed to the recovered trigger (reason "cname_recovered") and rw
 * filled; false with *res the refusal: the 550 5.1.2 diagnosis (reason
 * "cname_unproven"), or the recovered trigger's sender policy refusal.
 */
bool cname_recover(const struct config *cfg, const struct route_query *q,
    const char *msg, size_t len, struct route_result *res,
    struct cname_rewrite *rw);

/*
 * The text of the provisional 250 2.1.5; doctor --probe recognises a
 * gateway's provisional acceptance by it.
 */
#define CNAME_PROVISIONAL_TEXT                                               \
	"Ok: accepted pending the Received: header (recipient rewritten by " \
	"CNAME expansion)"

/* "sender_domains", "received_for", "pending" or "none". */
const char *cname_evidence_name(enum cname_evidence e);

/*
 * The header the stored message gets on top for each rewritten
 * recipient; any field of this name in incoming mail is removed
 * (mail/received.h header_remove()), so the one in storage is ours.
 */
#define CNAME_HEADER "X-Mailtrigger-Recipient-Rewritten"

#endif
