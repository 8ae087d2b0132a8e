/*
 * test_jsonw - the fast JSON writer (src/util/jsonw.c) writes exactly
 * what jansson's json_dumps(JSON_COMPACT) writes: for hand-made values
 * with every escape, and for the event of every message in the shared
 * email corpus (../shared/corpus/email, as test_parse_corpus.py; a
 * missing corpus fails the test).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mail/message.h"
#include "util/buf.h"
#include "util/jsonw.h"

#define CORPUS_FILE_MAX (16 * 1024 * 1024)

/* 1 (and prints both) when jsonw and jansson disagree on v. */
static int
differs(const char *name, const json_t *v)
{
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t len;
	char *got = jsonw_dump(v, &len);
	int bad = want == NULL || strlen(want) != len || strcmp(got, want) != 0;

	if (bad)
		printf("%s:\n  got  %s\n  want %s\n", name, got,
		    want != NULL ? want : "(null)");
	free(want);
	free(got);
	return bad;
}

static json_t *
every_control_char(void)
{
	char s[40];
	size_t i, n = 0;

	for (i = 0; i < 0x20; i++)
		s[n++] = (char)i; /* NUL included: json_stringn keeps it */
	s[n++] = 0x7f;
	s[n++] = '"';
	s[n++] = '\\';
	s[n++] = '/';
	return json_stringn(s, n);
}

static void
test_values(void **state)
{
	const struct {
		const char *name;
		json_t *v;
	} rows[] = {
		{ "empty object", json_object() },
		{ "empty array", json_array() },
		{ "null", json_null() },
		{ "true false", json_pack("[bb]", 1, 0) },
		{ "integers",
		    json_pack("[III]", (json_int_t)0, (json_int_t)-42,
			(json_int_t)INT64_MAX) },
		{ "reals", json_pack("[ffff]", 1.0, -0.5, 1e20, 1.0 / 3) },
		{ "plain string", json_string("disk full on db-1") },
		{ "utf-8 kept",
		    json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94"
				"\xa5 \xe2\x80\xa8") },
		{ "every control char", every_control_char() },
		{ "escape at both ends", json_string("\"middle\"") },
		{ "key escapes",
		    json_pack("{s:i,s:s}", "a\"b\\c\n", 1, "", "") },
		{ "nested in order",
		    json_pack("{s:[{s:n},[]],s:{s:b},s:s}", "z", "y", "x", "w",
			1, "a", "last") },
	};
	int failed = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_non_null(rows[i].v);
		failed += differs(rows[i].name, rows[i].v);
		json_decref(rows[i].v);
	}
	assert_int_equal(failed, 0);
}

/* A ceiling hit is reported, not written past. */
static void
test_ceiling(void **state)
{
	json_t *v = json_pack("{s:s}", "text", "0123456789");
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(jsonw_append(&b, v), BUF_TOOBIG);
	assert_true(b.len <= 10);
	buf_free(&b);
	buf_init(&b, 64);
	assert_int_equal(jsonw_append(&b, v), BUF_OK);
	assert_string_equal(buf_str(&b), "{\"text\":\"0123456789\"}");
	buf_free(&b);
	json_decref(v);
}

static int corpus_failed, corpus_files;

static char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *data = malloc(CORPUS_FILE_MAX);

	assert_non_null(fp);
	assert_non_null(data);
	*len = fread(data, 1, CORPUS_FILE_MAX, fp);
	fclose(fp);
	return data;
}

static int
visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	json_t *event;
	size_t len;
	char *data;

	(void)st;
	if (type != FTW_F || strcmp(path + ftw->base, "SOURCES.md") == 0)
		return 0;
	data = read_file(path, &len);
	event = message_parse(data, len, NULL);
	corpus_failed += differs(path, event);
	corpus_files++;
	json_decref(event);
	free(data);
	return 0;
}

static void
test_corpus(void **state)
{
	const char *src = getenv("MT_SOURCE_DIR");
	char dir[4096];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/../shared/corpus/email",
	    src != NULL ? src : ".");
	if (nftw(dir, visit, 16, FTW_PHYS) != 0)
		fail_msg("cannot walk the corpus at %s", dir);
	printf("%d corpus messages compared\n", corpus_files);
	assert_true(corpus_files >= 100);
	assert_int_equal(corpus_failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
