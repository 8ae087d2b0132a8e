/*
 * session - the RFC 5321 ESMTP server state machine. No I/O.
 *
 * Pure: bytes in, replies and events out. The shell (smtp/server.c) feeds
 * what the client sent with session_input(), writes whatever
 * session_output() holds, and acts on session_event(): queue a finished
 * message and report the commit with session_commit_done(), start TLS and
 * report it with session_tls_started(), or close. Time never enters: the
 * shell runs the timers and calls session_idle_timeout() and friends.
 *
 * Follows RFC 5321 (SMTP), 1869/1870 (SIZE), 6152 (8BITMIME), 6531
 * (SMTPUTF8), 2034/3463 (ENHANCEDSTATUSCODES: every reply carries one),
 * 2920 (PIPELINING), 3030 (CHUNKING/BDAT), 3207 (STARTTLS). Security:
 * only CRLF.CRLF ends DATA, and a bare LF or bare CR in a command or in
 * DATA ends the session with 521 5.5.2, so SMTP smuggling cannot split a
 * message; input pipelined after STARTTLS is discarded (RFC 3207 sec. 4,
 * the STARTTLS injection attack). Every buffer a client can grow is bounded
 * by struct limits. docs/replies.md lists every reply.
 *
 * Ownership: a session holds a reference to its config for its whole life
 * (a reload does not change a session in progress). session_free() frees
 * everything, including a transaction in progress.
 */
#ifndef MT_SMTP_SESSION_H
#define MT_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mail/address.h"
#include "route/cname.h"
#include "route/router.h"
#include "util/buf.h"

struct session_params {
	struct config *cfg;    /* a reference is taken */
	struct limits limits;  /* usually cfg->limits; tests shrink them */
	const char *hostname;  /* our name for 220/250 and Received: */
	const char *client_ip; /* text form, copied */
	bool tls_available;    /* offer STARTTLS */
};

enum session_event {
	SESSION_EV_NONE = 0, /* nothing to do but write output and read */
	SESSION_EV_MESSAGE,  /* a message is complete: queue it */
	SESSION_EV_STARTTLS, /* write output, then start TLS */
	SESSION_EV_CLOSE,    /* write output, then close */
};

enum body_type { BODY_7BIT = 0, BODY_8BITMIME, BODY_BINARYMIME };

/* One RCPT TO that was accepted. */
struct smtp_rcpt {
	struct mailbox mbox;
	struct route_result route; /* instance/trigger borrowed from cfg */
	/* CNAME recovery (route/cname.h): evidence CNAME_NONE when the
	 * recipient was not rewritten. While SESSION_EV_MESSAGE is pending
	 * no recipient is CNAME_PENDING any more. */
	struct cname_rewrite cname;
};

/* One RCPT TO attempt, accepted or not, for the transaction log line. */
struct smtp_rcpt_log {
	char address[ADDR_PATH_MAX + 1]; /* as given (truncated if longer) */
	int code;
	char enhanced[16];
	const char *reason; /* router reason or "syntax", "too_many" */
};

/* The transaction state; RSET frees only this. */
struct smtp_txn {
	struct mailbox from;
	bool smtputf8;
	enum body_type body;
	uint64_t declared_size; /* SIZE=, 0 when not given */
	struct smtp_rcpt *rcpts;
	size_t n_rcpts;
	struct smtp_rcpt_log *log; /* every RCPT attempt, bounded */
	size_t n_log;
	size_t n_log_dropped; /* attempts past the bound, not in log */
	struct buf data;      /* message content, unstuffed, CRLF line ends */
	/* Octets of content received, kept after session_take_data(). */
	size_t size;
};

/* What the shell needs to log and to write the Received: header. */
struct session_info {
	const char *client_ip;
	const char *helo;       /* "" before HELO/EHLO */
	bool esmtp;             /* EHLO, not HELO */
	bool tls;               /* STARTTLS done */
	const char *tls_cipher; /* "" without TLS */
	unsigned messages;      /* accepted so far in this connection */
	unsigned errors;        /* replies counted against limits.errors */
	/* Commands the client sent without waiting for the reply to a
	 * command that ends a pipelining group (RFC 2920 3.1). */
	unsigned improper_pipelining;
};

/* Called when a transaction ends, for the log: outcome is "queued",
 * "rset", "rejected", "aborted" (connection closed), "tempfail". */
typedef void session_txn_log_cb(void *ctx, const struct session_info *info,
    const struct smtp_txn *txn, const char *outcome, const char *queue_id);

struct smtp_session;

struct smtp_session *session_new(const struct session_params *p);
void session_free(struct smtp_session *s);
void session_set_txn_log(struct smtp_session *s, session_txn_log_cb *cb,
    void *ctx);

/* One reply to RCPT TO inside a transaction, accepted or refused. */
struct session_rcpt_reply {
	const char *address; /* as given, without <> (truncated if longer) */
	int code;
	const char *enhanced;
	const char *reason; /* router reason or "syntax", "too_many", ... */
	const char *reply;  /* the reply as written, without the last CRLF */
	size_t reply_len;
};

/*
 * Called right after each RCPT reply is written, so the shell can record
 * refusals and log diagnoses (docs/trace.md). Everything is borrowed for
 * the call; txn is the transaction the RCPT belongs to.
 */
typedef void session_rcpt_cb(void *ctx, const struct session_info *info,
    const struct smtp_txn *txn, const struct session_rcpt_reply *r);
void session_set_rcpt_cb(struct smtp_session *s, session_rcpt_cb *cb,
    void *ctx);

/* Writes the 220 greeting. */
void session_greet(struct smtp_session *s);
/*
 * Refuses the connection before the greeting (connection limits):
 * "421 4.7.0 <host> Error: too many connections[ from IP]" and CLOSE.
 */
void session_refuse(struct smtp_session *s, bool per_ip);

/*
 * Consumes client bytes. Returns how many were consumed; fewer than len
 * only while an event is pending (a message waiting for its commit) or
 * when SESSION_OUTPUT_HIGH bytes of replies are waiting in the output (a
 * client pipelining without reading): the shell keeps the rest, writes the
 * output, handles the event, and feeds the rest again. After STARTTLS,
 * everything the client pipelined behind it is consumed and discarded.
 */
#define SESSION_OUTPUT_HIGH (16 * 1024)
size_t session_input(struct smtp_session *s, const char *data, size_t len);
/* The pending event, if any. */
enum session_event session_event(const struct smtp_session *s);
/* Replies waiting to be written; the shell writes and then buf_reset()s. */
struct buf *session_output(struct smtp_session *s);
const struct session_info *session_info(const struct smtp_session *s);

/* While SESSION_EV_MESSAGE is pending: the transaction to queue. */
const struct smtp_txn *session_txn(const struct smtp_session *s);
/* While SESSION_EV_MESSAGE is pending: takes the message bytes. */
char *session_take_data(struct smtp_session *s, size_t *len);
/*
 * Writes the RFC 5321 4.4 trace header for the pending message into out:
 * "Received: from HELO ([IP]) by HOST (mailtrigger) with PROTO id ID for
 * <rcpt>; DATE" folded at 78 columns, CRLF terminated. date is the RFC
 * 5322 date-time the shell formatted. PROTO is ESMTP/ESMTPS/UTF8SMTPS...
 * per RFC 3848 and 6531.
 */
void session_received_header(const struct smtp_session *s, const char *id,
    const char *date, struct buf *out);
/*
 * Writes, for the pending message, one CNAME_HEADER field per recovered
 * recipient (docs/routing.md, "CNAME recovery"):
 * "X-Mailtrigger-Recipient-Rewritten: <received> -> <recovered>;
 * evidence=received_for" CRLF; nothing when none was rewritten. The shell
 * puts it on top, above the Received: header. Any field of that name the
 * client sent was removed from the content at the end of DATA.
 */
void session_rewrite_headers(const struct smtp_session *s, struct buf *out);
/*
 * Reports the commit of the pending message: QUEUE ok → "250 2.0.0 Ok:
 * queued as <id>", otherwise "451 4.3.0 Error: queue write failed, try
 * again later". Ends the transaction and clears the event.
 */
void session_commit_done(struct smtp_session *s, bool ok, const char *id);
/* TLS is up: resets all protocol state (RFC 3207 4.2); client must EHLO. */
void session_tls_started(struct smtp_session *s, const char *cipher);
/* TLS handshake failed: the shell closes; nothing is written. */

/* "421 4.4.2 <host> Error: timeout exceeded" and CLOSE. */
void session_idle_timeout(struct smtp_session *s);
/*
 * Whole-session limit: "421 4.4.2 <host> Error: session time limit
 * exceeded" and CLOSE.
 */
void session_time_limit(struct smtp_session *s);
/*
 * Graceful shutdown: with no transaction in progress "421 4.3.2 <host>
 * Service shutting down" and CLOSE now; otherwise after the transaction
 * ends (its 250/451 is written first). session_shutdown_now() says it
 * regardless (grace period over).
 */
void session_shutdown(struct smtp_session *s);
void session_shutdown_now(struct smtp_session *s);
/* True while a transaction (MAIL given, not yet ended) is in progress. */
bool session_in_transaction(const struct smtp_session *s);

#endif
