/*
 * trace - `mailtrigger trace`: everything that happened to a message, or
 * to the mail of a sender, or every refused RCPT by client ("why didn't
 * it trigger?", docs/trace.md).
 *
 * cmd_trace() is the shell: it reads the queue read-only through
 * queue/trace_db.h (beside a running gateway; it never creates a queue),
 * recomputes each event's rules with flow_prepare() and the sender policy
 * with route/policy.h, and builds one JSON document, printed as is
 * (--json) or as text by trace_render() (trace_text.c). The helpers
 * below are pure.
 */
#ifndef MT_FLOW_TRACE_H
#define MT_FLOW_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/id.h"

/*
 * mailtrigger trace [--config FILE] ID | --message-id MSGID |
 * --from ADDR [--since AGE] | --refusals [--since AGE]  [--json].
 * argv[0] is "trace". Exit 0 when something was found, 1 when not (or the
 * config or queue cannot be read), 2 for a usage error.
 */
int cmd_trace(int argc, char **argv);

/*
 * Pure: an event id "evt_<id>" or "evt_<id>.N" (N >= 2) or a bare queue
 * id (16 Crockford base32 characters, any case). Writes the queue id to
 * msgid and, for an event id, the normalised event id to evt ("" for a
 * bare id). False when arg is neither.
 */
bool trace_parse_id(const char *arg, char msgid[ID_LEN + 1],
    char evt[ID_LEN + 16]);

/* Pure: Unix ms as "2026-11-28 18:02:03.681Z" (UTC). */
void trace_format_time(int64_t ms, char out[32]);

/*
 * Pure: the text form of a document cmd_trace() built (its "kind" is
 * "message", "messages", "sender" or "refusals"), appended to out.
 */
void trace_render(const json_t *doc, struct buf *out);

#endif
