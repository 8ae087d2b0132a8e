/*
 * autoreply - is this message automatic mail (an out-of-office reply, a
 * bounce, a list or bulk mailing) that must not start a flow by accident?
 *
 * Pure. Looks at the envelope sender and the header fields only:
 *   - the null reverse-path "<>" (RFC 5321 section 4.5.5: bounces);
 *   - Auto-Submitted with any keyword but "no" (RFC 3834 section 5);
 *   - X-Autoreply and X-Autorespond (de facto, any value);
 *   - Precedence: bulk, junk or auto_reply (de facto, RFC 2076 3.9);
 *   - Content-Type multipart/report (RFC 6522: delivery and disposition
 *     reports).
 * Comparisons ignore case; RFC 5322 comments and white space around a
 * keyword are ignored. The trigger's auto_replies setting decides what a
 * positive verdict does (router/runner). Read docs/flows-rules.md.
 */
#ifndef MT_ROUTE_AUTOREPLY_H
#define MT_ROUTE_AUTOREPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "route/headers.h"

#define AUTOREPLY_REASON_MAX 96

struct autoreply_verdict {
	bool automatic;
	/* Why, as "Auto-Submitted: auto-replied"; "" when not automatic.
	 * The header's value is cut and non-printable bytes become '?'. */
	char reason[AUTOREPLY_REASON_MAX];
};

/*
 * Fills v. mail_from is the envelope reverse-path as received ("" or
 * "<>" for the null sender; NULL when unknown). content_type is the
 * top-level Content-Type value, or NULL to take it from hdrs. The first
 * rule that matches, in the order listed above, gives the reason.
 */
void autoreply_detect(const char *mail_from, const struct header_ref *hdrs,
    size_t n_hdrs, const char *content_type, struct autoreply_verdict *v);

#endif
