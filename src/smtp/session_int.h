/*
 * session_int - what the three parts of the SMTP session share:
 * session.c (life cycle, input loop, the one reply writer and the one state
 * changer, transaction start and end, public calls), session_cmd.c (the
 * command table and its check/act functions) and session_data.c (the DATA
 * and BDAT readers, the Received: header). Internal to src/smtp/; not a
 * public interface. docs/smtp.md describes the state machine.
 *
 * Pure, like session.h. Ownership: the session owns its transaction (at
 * most one), its line and output buffers, and copies of every string it
 * was given; the config is a counted reference.
 */
#ifndef MT_SMTP_SESSION_INT_H
#define MT_SMTP_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/session.h"

/*
 * Protocol states, as bits so a command table row can list the states in
 * which its command is allowed. Only ST_CONNECTED, ST_HELO and ST_MAIL
 * read commands; the others read message content or nothing.
 */
enum sess_state {
	ST_CONNECTED = 1 << 0, /* no HELO/EHLO yet (also after STARTTLS) */
	ST_HELO = 1 << 1,      /* greeted by the client, no transaction */
	ST_MAIL = 1 << 2,      /* MAIL accepted: a transaction is open */
	ST_DATA = 1 << 3,      /* reading DATA content up to CRLF.CRLF */
	ST_BDAT = 1 << 4,      /* reading the octets of a BDAT chunk */
	ST_QUEUED = 1 << 5,    /* message complete, waiting for its commit */
	ST_STARTTLS = 1 << 6,  /* 220 sent, waiting for the TLS handshake */
	ST_CLOSED = 1 << 7,    /* last reply written; nothing more is read */
};

/*
 * A canned reply. policy = a decision about the mail (not counted against
 * limits.errors); otherwise a client mistake that is counted.
 */
struct smtp_reply {
	int code;
	const char *enhanced;
	const char *text;
	bool policy;
};

/* The transaction and what only the session needs to know about it. */
struct txn {
	struct smtp_txn t; /* what session_txn() and the log callback see */
	bool chunking;     /* a BDAT chunk was accepted: DATA is now 503 */
	size_t rcpt_cap;
	size_t log_cap;
};

/* Connection state: lives as long as the connection (RSET keeps it). */
struct sess_conn {
	struct session_info info; /* the public view; strings point below */
	char *helo;               /* NULL before HELO/EHLO */
	char *tls_cipher;         /* NULL without TLS */
	bool shutdown_pending;    /* say 421 4.3.2 when the transaction ends */
};

/* Where the content reader is inside a DATA line (RFC 5321 4.5.2). */
enum data_line { DL_BOL = 0, DL_DOT, DL_TEXT };

/* Input framing state: command lines, DATA lines, BDAT octets. */
struct sess_reader {
	bool saw_cr;        /* the last byte was a CR: only LF may follow */
	bool line_overflow; /* command line past limits.command_line */
	enum data_line dline;
	size_t dline_len;   /* octets of the current DATA line, no CRLF */
	bool too_big;       /* content past limits.message_size: discarding */
	bool line_too_long; /* a DATA line past limits.text_line */
	uint64_t bdat_left; /* octets of the current chunk still to read */
	uint64_t bdat_size; /* size of the current chunk */
	bool bdat_last;
	const struct smtp_reply *bdat_error; /* reply after skipping chunk */
};

struct smtp_session {
	struct config *cfg; /* counted reference */
	struct limits limits;
	char *hostname;
	char *client_ip;
	bool tls_available;
	enum sess_state state; /* changed only by sess_set_state(); the
				* pending event follows from it */
	struct sess_conn conn;
	struct txn *txn; /* NULL outside a transaction */
	struct sess_reader rd;
	bool group_end;  /* the last command ends a pipelining group */
	struct buf line; /* the command line being read */
	struct buf out;  /* replies waiting to be written */
	session_txn_log_cb *log_cb;
	void *log_ctx;
	session_rcpt_cb *rcpt_cb; /* session_set_rcpt_cb() */
	void *rcpt_ctx;
};

/* session.c */
void sess_set_state(struct smtp_session *s, enum sess_state st);
enum sess_state sess_idle_state(const struct smtp_session *s);
void sess_reply(struct smtp_session *s, int code, const char *enhanced,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void sess_reply_canned(struct smtp_session *s, const struct smtp_reply *r);
void sess_close(struct smtp_session *s, int code, const char *enhanced,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void sess_closed(struct smtp_session *s);
void sess_txn_begin(struct smtp_session *s, const struct mailbox *from);
void sess_txn_end(struct smtp_session *s, const char *outcome,
    const char *queue_id);
void sess_set_helo(struct smtp_session *s, const char *helo, bool esmtp);
void sess_bare_newline(struct smtp_session *s, const char *what);
size_t sess_text_span(const char *p, size_t n);

/* session_cmd.c */
void sess_dispatch(struct smtp_session *s, char *line, size_t len);
void sess_rcpt_report(struct smtp_session *s, size_t from, const char *addr,
    int code, const char *enhanced, const char *reason);

/* session_data.c */
void data_begin(struct smtp_session *s);
size_t data_input(struct smtp_session *s, const char *p, size_t n);
void bdat_begin(struct smtp_session *s, uint64_t size, bool last,
    const struct smtp_reply *error);
size_t bdat_input(struct smtp_session *s, const char *p, size_t n);
void data_reset_reader(struct smtp_session *s);

#endif
