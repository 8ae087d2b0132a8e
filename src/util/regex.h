/*
 * regex - PCRE2 patterns compiled once and matched with bounds, so that a
 * hostile subject cannot stall the caller.
 *
 * Pure (no I/O). Patterns are compiled in UTF-8 mode with Unicode
 * properties (PCRE2_UTF | PCRE2_UCP) and PCRE2_MATCH_INVALID_UTF, so a
 * subject with invalid UTF-8 is matched safely (invalid bytes never match
 * and never crash), and JIT-compiled when the platform allows (silently
 * interpreted otherwise). Each match runs under a match limit, a
 * backtracking depth limit and a heap limit; hitting any of them is
 * RX_LIMIT, not an error and not a match. A compiled struct rx is
 * immutable and may be used from several threads at once.
 *
 * A pattern captures one named group: the group called by the caller's
 * name (as "value"), or, when there is no such group, the pattern's only
 * named group.
 */
#ifndef MT_UTIL_REGEX_H
#define MT_UTIL_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#define RX_ERROR_MAX 160
#define RX_MATCH_LIMIT 200000
#define RX_DEPTH_LIMIT 2000
#define RX_HEAP_LIMIT_KB 8192
/* An error about the pattern as a whole, not at one offset. */
#define RX_OFFSET_NONE ((size_t)-1)

struct rx;

enum rx_status {
	RX_MATCH = 0,
	RX_NOMATCH, /* no match, or the captured group did not take part */
	RX_LIMIT,   /* a match, depth, heap or JIT stack limit was hit */
};

/*
 * Compiles pattern (len bytes, NUL not needed) to capture the named group
 * group (or the only named group). Returns NULL on error, with err
 * holding PCRE2's message and *offset the byte offset in the pattern
 * where the problem was found; or "no named group ..." (or several, none
 * named group) with *offset == RX_OFFSET_NONE.
 */
struct rx *rx_compile(const char *pattern, size_t len, const char *group,
    char *err, size_t err_size, size_t *offset);
void rx_free(struct rx *rx);
/* True when the pattern runs JIT-compiled (for logs and tests). */
bool rx_is_jit(const struct rx *rx);
/* The name of the group rx captures. */
const char *rx_group(const struct rx *rx);

/*
 * Matches subject (len bytes) once. On RX_MATCH sets *start and *end to
 * the captured group's byte range in subject.
 */
enum rx_status rx_match(const struct rx *rx, const char *subject, size_t len,
    size_t *start, size_t *end);

#endif
