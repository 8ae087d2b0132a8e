/*
 * tmpl - the syntax of `{{path.to.field}}` templates, without the data.
 *
 * Pure. A template is literal text with placeholders "{{ PATH }}": PATH
 * is one or more segments joined by '.', each segment letters, digits,
 * '_' or '-' (a segment of digits also indexes an array); white space
 * just inside the braces is allowed. There is no escape, no expression,
 * no nesting: any other byte between "{{" and "}}" is a syntax error, as
 * is a "{{" that is never closed. A lone "}}" or "{" is literal text.
 * Config load checks templates with tmpl_check(); flow/template renders
 * them over an event with tmpl_next().
 */
#ifndef MT_UTIL_TMPL_H
#define MT_UTIL_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#define TMPL_PATH_MAX 256 /* bytes in one placeholder's path */
#define TMPL_DEPTH_MAX 16 /* segments in one path */

struct tmpl_part {
	bool field;    /* a placeholder: s/len is its path, trimmed */
	const char *s; /* literal text or path, inside the template */
	size_t len;
};

/*
 * Reads the part at *pos of t (len bytes) into part and advances *pos.
 * Returns false at the end (*why NULL) or at a syntax error, with *why
 * the message and *pos the byte offset of the error.
 */
bool tmpl_next(const char *t, size_t len, size_t *pos, struct tmpl_part *part,
    const char **why);
/* True when t is a valid template; else *pos and *why as above. */
bool tmpl_check(const char *t, size_t len, size_t *pos, const char **why);

#endif
