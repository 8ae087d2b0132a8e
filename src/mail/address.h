/*
 * address - RFC 5321 paths and mailboxes (RFC 6531 for UTF-8).
 *
 * Pure. Parses the argument of MAIL FROM: and RCPT TO: ("<path> params").
 * Follows RFC 5321 4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">", Mailbox =
 * Local-part "@" ( Domain / address-literal ). The source route (A-d-l) is
 * parsed and discarded, as 4.1.1.3 and C say. The local part is kept
 * exactly as the client wrote it (dot-string or quoted-string); `local`
 * holds its decoded form. UTF-8 is allowed in the local part and domain
 * only when the caller allows it (the transaction used SMTPUTF8); it must
 * be well-formed UTF-8. Limits (4.5.3.1): local part 64 octets, domain 255,
 * path 256. A domain may end in one dot (accepted, kept); the router
 * ignores it when matching.
 */
#ifndef MT_MAIL_ADDRESS_H
#define MT_MAIL_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256

enum addr_status {
	ADDR_OK = 0,
	ADDR_SYNTAX,           /* not a valid path */
	ADDR_TOO_LONG,         /* a part is over its RFC 5321 4.5.3.1 limit */
	ADDR_UTF8_NOT_ALLOWED, /* 8-bit bytes without SMTPUTF8 */
	ADDR_BAD_UTF8,         /* 8-bit bytes that are not well-formed UTF-8 */
};

struct mailbox {
	bool is_null;        /* "<>" (only valid as a reverse-path) */
	bool is_postmaster;  /* "<Postmaster>" (forward-path only): no domain */
	bool local_quoted;   /* local part was a quoted-string */
	bool domain_literal; /* "[1.2.3.4]" or "[IPv6:...]" */
	bool has_utf8;       /* any 8-bit byte in local part or domain */
	char local[ADDR_LOCAL_MAX + 1];   /* decoded local part */
	char domain[ADDR_DOMAIN_MAX + 1]; /* as written (literal incl. []) */
	char address[ADDR_PATH_MAX + 1];  /* local@domain as written, no <> */
};

/*
 * Parses a path at the start of s (len bytes, need not be NUL terminated).
 * allow_null: accept "<>" (reverse-path). allow_utf8: RFC 6531.
 * On ADDR_OK fills *out and sets *consumed to the bytes up to and including
 * ">", so the caller can parse ESMTP parameters after it.
 */
enum addr_status addr_parse_path(const char *s, size_t len, bool allow_null,
    bool allow_utf8, struct mailbox *out, size_t *consumed);

/* Human-readable reason for a status, for the 501 reply text. */
const char *addr_status_text(enum addr_status st);

#endif
