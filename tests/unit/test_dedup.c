/*
 * test_dedup - dedup keys: each normalisation (Message-ID, From, Date,
 * body), pairs of messages that must share a key (a resent copy after a
 * lost 250, relayed with other line endings or trailing spaces) and pairs
 * that must not (a spoofer reusing a Message-ID with other content,
 * another trigger, a moved field boundary), template keys, and 1 MB and
 * hostile fields.
 *
 * Table driven: each row has a name; a failure prints got and want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route/dedup.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
/*
 * Golden keys, computed independently (Python hashlib, the framing as
 * dedup.c's comment says) for BASE and for the template key "A-1".
 */
#define GOLDEN_DEFAULT \
	"8695bb62265dbdb2c356e09c7f3e1f98de24255f3bf86df9f490e97d86102884"
#define GOLDEN_SCOPED \
	"9c078d77a40305fb817c9135b8c9e57dc22f813586896b7a0de7ce30ae506c13"

typedef size_t (*norm_fn)(const char *, char *, size_t);

struct norm_row {
	const char *name;
	norm_fn fn;
	const char *in, *want;
};

static const struct norm_row norm_rows[] = {
	{ "mid plain", dedup_norm_message_id, "<abc@Example.COM>",
	    "abc@example.com" },
	{ "mid local part keeps case", dedup_norm_message_id, "<AbC.123@HOST>",
	    "AbC.123@host" },
	{ "mid white space", dedup_norm_message_id, "  < a b@h >  ", "ab@h" },
	{ "mid comment before", dedup_norm_message_id, "(x) <id@H>", "id@h" },
	{ "mid comment inside", dedup_norm_message_id, "<id(c)@H>", "id@h" },
	{ "mid no brackets", dedup_norm_message_id, " id@H ", "id@h" },
	{ "mid unclosed bracket", dedup_norm_message_id, "<id@H", "id@h" },
	{ "mid quoted local part", dedup_norm_message_id, "<\"a\"@X.Y>",
	    "\"a\"@x.y" },
	{ "mid no at", dedup_norm_message_id, "<Opaque>", "Opaque" },
	{ "mid empty", dedup_norm_message_id, "", "" },
	{ "from plain", dedup_norm_from, "Ops@Example.COM", "ops@example.com" },
	{ "from name-addr", dedup_norm_from, "\"Ops, Team\" <Ops@X.Y>",
	    "ops@x.y" },
	{ "from spaces", dedup_norm_from, "  a@b  ", "a@b" },
	{ "date as given", dedup_norm_date, "Tue, 1 Jul 2025 10:00:00 +0000",
	    "Tue, 1 Jul 2025 10:00:00 +0000" },
	{ "date folded", dedup_norm_date,
	    "  Tue,\r\n 1 Jul\t\t2025  10:00:00 +0000 ",
	    "Tue, 1 Jul 2025 10:00:00 +0000" },
	{ "date empty", dedup_norm_date, " \t ", "" },
};

static void
test_norm(void **state)
{
	char out[128];
	size_t i, n, bad = 0;

	for (i = 0; i < N(norm_rows); i++) {
		const struct norm_row *r = &norm_rows[i];

		n = r->fn(r->in, out, sizeof(out));
		if (strcmp(out, r->want) != 0 || n != strlen(r->want) ||
		    r->fn(r->in, NULL, 0) != n) {
			print_message("row %s: got \"%s\" (%zu), want \"%s\"\n",
			    r->name, out, n, r->want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	/* A small buffer is cut and NUL terminated; the length is whole. */
	assert_int_equal(dedup_norm_from("ABCDEF@x", out, 4), 8);
	assert_string_equal(out, "abc");
}

/* A message: instance, trigger, Message-ID, From, Date, body. */
#define IN(i, t, m, f, d, x, n)                                        \
	{                                                              \
		.instance = (i), .trigger = (t), .message_id = (m),    \
		.from = (f), .date = (d), .text = (x), .text_len = (n) \
	}
#define I "acme.example"
#define T "alert"
#define M "<m1@mail.example>"
#define F "ops@example.com"
#define D "Tue, 1 Jul 2025 10:00:00 +0000"
#define X "Disk full\nHost: db-01\n"
#define BASE IN(I, T, M, F, D, X, 22)

struct pair_row {
	const char *name;
	struct dedup_input a, b;
	bool same;
};

static const struct pair_row pair_rows[] = {
	{ "identical", BASE, BASE, true },
	{ "resent with CRLF and trailing spaces", BASE,
	    IN(I, T, M, F, D, "Disk full  \r\nHost: db-01\t\r\n\r\n\r\n", 31),
	    true },
	{ "message-id case and spacing", BASE,
	    IN(I, T, " <m1@MAIL.Example> ", F, D, X, 22), true },
	{ "from display name and case", BASE,
	    IN(I, T, M, "Ops <OPS@example.com>", D, X, 22), true },
	{ "date refolded", BASE,
	    IN(I, T, M, F, "Tue, 1 Jul 2025\r\n  10:00:00 +0000", X, 22),
	    true },
	{ "spoofed message-id, other body", BASE,
	    IN(I, T, M, F, D, "All clear\n", 10), false },
	{ "spoofed message-id, other sender", BASE,
	    IN(I, T, M, "attacker@evil.example", D, X, 22), false },
	{ "spoofed message-id, other date", BASE,
	    IN(I, T, M, F, "Wed, 2 Jul 2025 10:00:00 +0000", X, 22), false },
	{ "message-id local part case matters", BASE,
	    IN(I, T, "<M1@mail.example>", F, D, X, 22), false },
	{ "other trigger", BASE, IN(I, "deploy", M, F, D, X, 22), false },
	{ "other instance", BASE, IN("b.example", T, M, F, D, X, 22), false },
	{ "leading blank line matters", BASE,
	    IN(I, T, M, F, D, "\nDisk full\nHost: db-01\n", 23), false },
	{ "inner white space matters", BASE,
	    IN(I, T, M, F, D, "Disk  full\nHost: db-01\n", 23), false },
	{ "missing message-id differs from empty", IN(I, T, "", F, D, X, 22),
	    IN(I, T, NULL, F, D, X, 22), false },
	{ "no body differs from empty body", IN(I, T, M, F, D, "", 0),
	    IN(I, T, M, F, D, NULL, 0), false },
	{ "field boundary cannot move", IN("ab", "c", M, F, D, X, 22),
	    IN("a", "bc", M, F, D, X, 22), false },
	{ "body is length-bounded, not NUL-bounded", BASE,
	    IN(I, T, M, F, D, X "\0x", 24), false },
};

static void
test_pairs(void **state)
{
	char a[DEDUP_KEY_SIZE], b[DEDUP_KEY_SIZE];
	size_t i, bad = 0;

	for (i = 0; i < N(pair_rows); i++) {
		const struct pair_row *r = &pair_rows[i];

		dedup_default_key(&r->a, a);
		dedup_default_key(&r->b, b);
		if ((strcmp(a, b) == 0) != r->same || strlen(a) != 64) {
			print_message("row %s: got %s / %s, want %s\n", r->name,
			    a, b, r->same ? "same" : "different");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* The key is stable across releases: a changed key re-runs old flows. */
static void
test_golden(void **state)
{
	struct dedup_input in = BASE;
	char k[DEDUP_KEY_SIZE];
	char again[DEDUP_KEY_SIZE];

	dedup_default_key(&in, k);
	dedup_default_key(&in, again);
	assert_string_equal(k, again);
	assert_string_equal(k, GOLDEN_DEFAULT);
	dedup_scoped_key(&in, "A-1", 3, k);
	assert_string_equal(k, GOLDEN_SCOPED);
}

static void
test_scoped(void **state)
{
	struct dedup_input a = BASE, b = IN(I, "deploy", M, F, D, X, 22);
	struct dedup_input c = IN(I, T, M, F, D, "other", 5);
	char ka[DEDUP_KEY_SIZE], kb[DEDUP_KEY_SIZE], kc[DEDUP_KEY_SIZE];
	char kd[DEDUP_KEY_SIZE];

	dedup_scoped_key(&a, "A-1", 3, ka);
	dedup_scoped_key(&b, "A-1", 3, kb);
	dedup_scoped_key(&c, "A-1", 3, kc);
	dedup_default_key(&a, kd);
	assert_string_not_equal(ka, kb); /* scoped to the trigger */
	assert_string_equal(ka, kc);     /* the message fields do not count */
	assert_string_not_equal(ka, kd); /* template and default never meet */
	dedup_scoped_key(&a, "A-2", 3, kb);
	assert_string_not_equal(ka, kb);
	dedup_scoped_key(&a, "", 0, kb);
	assert_int_equal(strlen(kb), 64);
}

/* 1 MB fields: hashed in full (a difference at the end still counts). */
static void
test_big(void **state)
{
	size_t len = 1024 * 1024;
	char *big = malloc(len + 1), *other;
	struct dedup_input a = BASE, b;
	char ka[DEDUP_KEY_SIZE], kb[DEDUP_KEY_SIZE];

	assert_non_null(big);
	memset(big, 'x', len);
	big[len] = '\0';
	other = strdup(big);
	assert_non_null(other);
	other[len - 1] = 'y';
	a.message_id = big;
	a.from = big;
	a.date = big;
	a.text = big;
	a.text_len = len;
	b = a;
	dedup_default_key(&a, ka);
	b.message_id = other;
	dedup_default_key(&b, kb);
	assert_string_not_equal(ka, kb);
	b = a;
	b.text = other;
	dedup_default_key(&b, kb);
	assert_string_not_equal(ka, kb);
	/* A body of nothing but blank lines and spaces is the empty body. */
	memset(big, ' ', len);
	memset(big + len / 2, '\n', len / 4);
	a.text = big;
	b = a;
	b.text = "";
	b.text_len = 0;
	dedup_default_key(&a, ka);
	dedup_default_key(&b, kb);
	assert_string_equal(ka, kb);
	free(big);
	free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_norm),
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_scoped),
		cmocka_unit_test(test_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
