/*
 * fuzz_received - libFuzzer target for the Received: for clause reader
 * and header_remove() (mail/received.h), the CNAME recovery evidence.
 *
 * Reads the input as a message and aborts when an invariant breaks:
 *   - RECEIVED_OK gives a path: "<" ... ">", at most ADDR_PATH_MAX
 *     octets, and the address parser may take it or not but never
 *     reads past it;
 *   - any other status leaves out empty;
 *   - header_remove() never grows the message, leaves the body (from the
 *     first empty line on) as it was, and after removing "Received" the
 *     reader finds none; removing it twice changes nothing more.
 * Seeds: fuzz/corpus/received/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/address.h"
#include "mail/received.h"

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_received: invariant broken: %s\n", what);
		abort();
	}
}

static void
check_for(const char *msg, size_t len)
{
	char out[ADDR_PATH_MAX + 1];
	struct mailbox mb;
	enum received_status st = received_first_for(msg, len, out);
	size_t n = strnlen(out, sizeof(out)), used;

	check(n <= ADDR_PATH_MAX, "path not terminated");
	if (st != RECEIVED_OK) {
		check(n == 0, "out set without RECEIVED_OK");
		return;
	}
	check(n >= 2 && out[0] == '<' && out[n - 1] == '>', "not a path");
	if (addr_parse_path(out, n, false, true, &mb, &used) == ADDR_OK)
		check(used <= n, "parser read past the path");
}

/* The body: everything after the first empty line (LF or CRLF). */
static size_t
body_at(const char *msg, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (i == 0 && msg[0] == '\n')
			return 1;
		if (i == 0 && len > 1 && msg[0] == '\r' && msg[1] == '\n')
			return 2;
		if (msg[i] != '\n')
			continue;
		if (i + 1 < len && msg[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

static void
check_remove(const char *data, size_t len)
{
	char *a = malloc(len + 1), *b = malloc(len + 1);
	size_t n, m, body = body_at(data, len);
	char out[ADDR_PATH_MAX + 1];

	check(a != NULL && b != NULL, "out of memory");
	memcpy(a, data, len);
	n = header_remove(a, len, "Received");
	check(n <= len, "remove grew the message");
	check(len - body <= n &&
		memcmp(a + n - (len - body), data + body, len - body) == 0,
	    "remove changed the body");
	check(received_first_for(a, n, out) == RECEIVED_NONE,
	    "a Received field is left");
	memcpy(b, a, n);
	m = header_remove(b, n, "Received");
	check(m == n && memcmp(a, b, n) == 0, "remove is not idempotent");
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	check_for((const char *)data, len);
	check_remove((const char *)data, len);
	return 0;
}
