/*
 * regex - a bounded PCRE2 wrapper (8-bit code units, UTF-8).
 *
 * Pure. See regex.h. The match context (with the limits) is made once per
 * pattern and only read while matching, which PCRE2 allows from several
 * threads; match data is per call. With JIT the match limit still counts
 * and the JIT stack (32 KB on the machine stack by default) bounds the
 * depth; PCRE2_ERROR_JIT_STACKLIMIT is reported as RX_LIMIT too.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "util/regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

struct rx {
	pcre2_code *code;
	pcre2_match_context *mctx;
	char *group;
	unsigned number; /* the captured group's number */
	bool jit;
};

void
rx_free(struct rx *rx)
{
	if (rx == NULL)
		return;
	pcre2_match_context_free(rx->mctx);
	pcre2_code_free(rx->code);
	free(rx->group);
	free(rx);
}

/*
 * Finds the group to capture: want, else the only named group. Returns
 * false with err set when there is none or the choice is ambiguous.
 */
static bool
find_group(struct rx *rx, const char *want, char *err, size_t err_size)
{
	PCRE2_SPTR table;
	uint32_t count = 0, size = 0;
	int n;

	n = pcre2_substring_number_from_name(rx->code, (PCRE2_SPTR)want);
	if (n > 0) {
		rx->number = (unsigned)n;
		rx->group = xstrdup(want);
		return true;
	}
	pcre2_pattern_info(rx->code, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(rx->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(rx->code, PCRE2_INFO_NAMETABLE, &table);
	if (count != 1) {
		snprintf(err, err_size,
		    count == 0 ? "no named group: capture the value with "
				 "(?<%s>...)" :
				 "several named groups and none is '%s': "
				 "name the one to capture (?<%s>...)",
		    want, want);
		return false;
	}
	/* Name table entry: 2 bytes of group number, then the name. */
	rx->number = ((unsigned)table[0] << 8) | table[1];
	rx->group = xstrdup((const char *)table + 2);
	return true;
}

static void
set_limits(struct rx *rx)
{
	rx->mctx = pcre2_match_context_create(NULL);
	if (rx->mctx == NULL)
		abort(); /* out of memory, as the x-wrappers do */
	pcre2_set_match_limit(rx->mctx, RX_MATCH_LIMIT);
	pcre2_set_depth_limit(rx->mctx, RX_DEPTH_LIMIT);
	pcre2_set_heap_limit(rx->mctx, RX_HEAP_LIMIT_KB);
}

struct rx *
rx_compile(const char *pattern, size_t len, const char *group, char *err,
    size_t err_size, size_t *offset)
{
	struct rx *rx;
	PCRE2_SIZE off = 0;
	int code = 0;

	rx = xcalloc(1, sizeof(*rx));
	*offset = 0;
	rx->code = pcre2_compile((PCRE2_SPTR)pattern, len,
	    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
	if (rx->code == NULL) {
		pcre2_get_error_message(code, (PCRE2_UCHAR *)err, err_size);
		*offset = off;
		goto fail;
	}
	if (!find_group(rx, group, err, err_size)) {
		*offset = RX_OFFSET_NONE; /* the pattern as a whole */
		goto fail;
	}
	/* No JIT on this platform or build: interpret, same results. */
	rx->jit = pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE) == 0;
	set_limits(rx);
	return rx;
fail:
	rx_free(rx);
	return NULL;
}

bool
rx_is_jit(const struct rx *rx)
{
	return rx->jit;
}

const char *
rx_group(const struct rx *rx)
{
	return rx->group;
}

enum rx_status
rx_match(const struct rx *rx, const char *subject, size_t len, size_t *start,
    size_t *end)
{
	pcre2_match_data *md;
	PCRE2_SIZE *ov;
	enum rx_status st = RX_NOMATCH;
	int rc;

	md = pcre2_match_data_create_from_pattern(rx->code, NULL);
	if (md == NULL)
		abort(); /* out of memory, as the x-wrappers do */
	rc = pcre2_match(rx->code, (PCRE2_SPTR)(subject != NULL ? subject : ""),
	    subject != NULL ? len : 0, 0, 0, md, rx->mctx);
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
		st = RX_LIMIT;
	} else if (rc >= 0) {
		ov = pcre2_get_ovector_pointer(md);
		/* \K in a lookahead can put a start after its end. */
		if (rx->number < pcre2_get_ovector_count(md) &&
		    ov[2 * rx->number] != PCRE2_UNSET &&
		    ov[2 * rx->number] <= ov[2 * rx->number + 1]) {
			*start = ov[2 * rx->number];
			*end = ov[2 * rx->number + 1];
			st = RX_MATCH;
		}
	}
	pcre2_match_data_free(md);
	return st;
}
