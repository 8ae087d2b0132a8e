/*
 * dedup - the key that recognises a message delivered twice.
 *
 * Pure (OpenSSL's SHA-256 only). A sender whose 250 reply was lost sends
 * the same message again; the runner looks the key up within the
 * trigger's dedup window (default 24 h) and records a repeat as a
 * duplicate instead of running the flow again.
 *
 * The default key is SHA-256 over, each length-prefixed:
 *   the instance host and trigger name (keys never collide across
 *   triggers), the Message-ID (RFC 5322 section 3.6.4; angle brackets,
 *   white space and comments dropped, the domain part lower-cased), the
 *   From address (lower-cased), the Date as given (white space runs made
 *   one space), and a SHA-256 digest of the text body (CRLF and LF alike,
 *   trailing white space on each line and trailing blank lines dropped).
 * Trace fields (Received:, Return-Path:...) are not part of it: they
 * change on every relay. A spoofer who reuses someone's Message-ID with
 * other content gets another key, so cannot suppress the real message.
 *
 * A configured template key (dedup.key) replaces the default: the runner
 * renders it (flow/template.h, plain mode) and dedup_scoped_key() hashes
 * it with the instance and trigger. Read docs/flows-rules.md.
 */
#ifndef MT_ROUTE_DEDUP_H
#define MT_ROUTE_DEDUP_H

#include <stddef.h>

#define DEDUP_KEY_SIZE 65 /* 64 lower-case hex digits and a NUL */

struct dedup_input {
	const char *instance;   /* instance host */
	const char *trigger;    /* trigger name */
	const char *message_id; /* Message-ID value as received, or NULL */
	const char *from; /* From address ("a@b" or "Name <a@b>"), or NULL */
	const char *date; /* Date value as received, or NULL */
	const char *text; /* the text body, or NULL */
	size_t text_len;
};

/* Writes the default key of in to out. */
void dedup_default_key(const struct dedup_input *in, char out[DEDUP_KEY_SIZE]);
/*
 * Writes the key for a rendered template key (len bytes) scoped to in's
 * instance and trigger; the message fields of in are not used.
 */
void dedup_scoped_key(const struct dedup_input *in, const char *key, size_t len,
    char out[DEDUP_KEY_SIZE]);

/*
 * The normalisations, exposed for tests and the trace. Each writes at
 * most size - 1 bytes and a NUL, and returns the full length it needed
 * (as snprintf), so a caller can detect a cut.
 */
size_t dedup_norm_message_id(const char *s, char *out, size_t size);
size_t dedup_norm_from(const char *s, char *out, size_t size);
size_t dedup_norm_date(const char *s, char *out, size_t size);

#endif
