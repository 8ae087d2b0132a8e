/*
 * doctor_probe - `doctor --probe`: an SMTP dialogue with the MX hosts, up
 * to RCPT and never DATA, to show the replies a sender gets.
 *
 * In MX order (the plan of src/dns/mxplan.h), each address of each host
 * until one answers: greeting, EHLO, MAIL FROM:<>, RCPT TO:<address as
 * given>; when there is a CNAME-expanded address, RSET, MAIL FROM:<>,
 * RCPT TO:<expanded> (a transaction of its own); RSET, QUIT.
 * Blocking, with a timeout per connect and per reply (a CLI tool).
 * probe_parse_reply() is the pure part: one RFC 5321 4.2 reply, possibly
 * multi-line, from a buffer.
 */
#ifndef MT_DOCTOR_PROBE_H
#define MT_DOCTOR_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/mxplan.h"

#define PROBE_TEXT_MAX 520 /* a reply line is at most 512 octets */
#define PROBE_STEPS_MAX 10 /* greeting, EHLO, HELO, 2 x (MAIL, RCPT), ... */
#define PROBE_TRIES_MAX 16

struct probe_step {
	char command[300]; /* as sent, without CRLF; "" for the greeting */
	int code;          /* 0: no reply (timeout, closed, garbage) */
	char text[PROBE_TEXT_MAX]; /* last line of the reply, code included */
};

/* One connection attempt. */
struct probe_try {
	char host[DNS_NAME_MAX + 1];
	char addr[48];
	int port;
	char error[128]; /* connect/read failure, or "" */
	size_t nsteps;
	struct probe_step steps[PROBE_STEPS_MAX];
};

struct probe {
	size_t ntries;
	struct probe_try tries[PROBE_TRIES_MAX];
	int rcpt_code;     /* reply to the address as given (0: none) */
	int expanded_code; /* reply to the expanded address (0: none) */
	struct probe_step *rcpt, *expanded; /* point into tries[] or NULL */
};

/*
 * Talks to the hosts of plan on port (25 normally) until one completes
 * the dialogue. expanded may be NULL. helo is the EHLO argument.
 */
void probe_run(const struct mxplan *plan, int port, const char *helo,
    const char *rcpt, const char *expanded, unsigned timeout_ms,
    struct probe *out);

enum probe_parse { PROBE_REPLY_DONE, PROBE_REPLY_MORE, PROBE_REPLY_BAD };

/*
 * Pure: one reply at the start of buf. DONE: *code and text (its last
 * line) are set and *used is its length, CRLFs included.
 */
enum probe_parse probe_parse_reply(const char *buf, size_t len, int *code,
    char *text, size_t textlen, size_t *used);

#endif
