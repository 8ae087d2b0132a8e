/*
 * tmpl - template syntax: literal text and {{path}} placeholders.
 *
 * Pure. See tmpl.h.
 */
#include "util/tmpl.h"

#include <string.h>

static bool
path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool
space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Checks the path s[0..n) (trimmed, only path characters and dots). On
 * error sets *why and returns the offset of the problem in s.
 */
static size_t
check_path(const char *s, size_t n, const char **why)
{
	size_t i, segs = 1;

	if (n == 0) {
		*why = "empty placeholder (write a field path, as {{subject}})";
		return 0;
	}
	if (n > TMPL_PATH_MAX) {
		*why = "field path too long";
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (i == 0 || i + 1 == n || s[i + 1] == '.') {
				*why = "empty segment in field path";
				return i;
			}
			if (++segs > TMPL_DEPTH_MAX) {
				*why = "field path too deep";
				return i;
			}
		}
	}
	return n;
}

#define BAD_CHAR                                                           \
	"unexpected character in placeholder (a path is letters, digits, " \
	"'_', '-' and '.'; templates do not nest)"

/* t + *pos is "{{": reads up to and including the closing "}}". */
static bool
read_field(const char *t, size_t len, size_t *pos, struct tmpl_part *part,
    const char **why)
{
	size_t open = *pos, i = *pos + 2, start, end, bad;

	while (i < len && space(t[i]))
		i++;
	start = i;
	while (i < len && (path_char(t[i]) || t[i] == '.'))
		i++;
	end = i;
	while (i < len && space(t[i]))
		i++;
	if (i < len && t[i] != '}') {
		*pos = i;
		*why = BAD_CHAR;
		return false;
	}
	if (i + 1 >= len || t[i + 1] != '}') {
		*pos = open;
		*why = "'{{' is not closed by '}}'";
		return false;
	}
	bad = check_path(t + start, end - start, why);
	if (*why != NULL) {
		*pos = start + bad;
		return false;
	}
	part->field = true;
	part->s = t + start;
	part->len = end - start;
	*pos = i + 2;
	return true;
}

bool
tmpl_next(const char *t, size_t len, size_t *pos, struct tmpl_part *part,
    const char **why)
{
	size_t i = *pos;

	*why = NULL;
	if (i >= len)
		return false;
	if (i + 1 < len && t[i] == '{' && t[i + 1] == '{')
		return read_field(t, len, pos, part, why);
	while (i < len && !(i + 1 < len && t[i] == '{' && t[i + 1] == '{'))
		i++;
	part->field = false;
	part->s = t + *pos;
	part->len = i - *pos;
	*pos = i;
	return true;
}

bool
tmpl_check(const char *t, size_t len, size_t *pos, const char **why)
{
	struct tmpl_part part;

	*pos = 0;
	while (tmpl_next(t, len, pos, &part, why))
		continue;
	return *why == NULL;
}
