/*
 * received - the `for` clause of a message's first Received: header
 * field (RFC 5321 4.4), the evidence CNAME recovery reads at the end of
 * DATA (docs/routing.md, "CNAME recovery"); and the removal of a header
 * field a sender must not be able to forge.
 *
 * Pure: bytes in, an address out. The message is the content as the
 * client sent it (CRLF or LF line ends, header section up to the first
 * empty line); the first Received: field in it is the one the sending
 * MTA added last, since nothing of ours is in front of it yet.
 */
#ifndef MT_MAIL_RECEIVED_H
#define MT_MAIL_RECEIVED_H

#include <stddef.h>

#include "mail/address.h"

/*
 * Octets of the first Received: field's value that are read, folding
 * included. Real fields are 150 to 400 octets (Sendmail, Postfix, Exim,
 * Microsoft); a longer one is no evidence (RECEIVED_TOO_LONG), never
 * read in part.
 */
#define RECEIVED_FIELD_MAX 4096

enum received_status {
	RECEIVED_OK = 0,      /* exactly one for clause; its path is in out */
	RECEIVED_NONE,        /* no Received: field in the header section */
	RECEIVED_NO_FOR,      /* the first one has no for clause */
	RECEIVED_SEVERAL_FOR, /* the first one has more than one: ambiguous */
	RECEIVED_BAD_FOR,     /* its for clause names no path or mailbox */
	RECEIVED_TOO_LONG,    /* its value is over RECEIVED_FIELD_MAX */
};

/*
 * Finds the first Received: field in the header section of msg and its
 * for clause: "for" then a path ("<a@b>") or a bare mailbox ("a@b"),
 * outside comments (nested, with quoted-pairs) and quoted strings, before
 * the ";" that starts the date. The value of a from/by/via/with/id clause
 * is never read as "for". On RECEIVED_OK out (ADDR_PATH_MAX + 1 bytes)
 * holds the path with its angle brackets, not yet parsed: the caller
 * parses it with addr_parse_path().
 */
enum received_status received_first_for(const char *msg, size_t len,
    char out[ADDR_PATH_MAX + 1]);

/* A short name for a status, for logs and tests ("ok", "no_for", ...). */
const char *received_status_name(enum received_status st);

/*
 * Removes every field named name (ASCII case-insensitive) from the
 * header section of msg, in place, with its folded lines. Returns the new
 * length. The body and every other field are left as they are.
 */
size_t header_remove(char *msg, size_t len, const char *name);

#endif
