/*
 * extract - a trigger's named properties, taken from the message by
 * regular expression (`triggers.<name>.extract` in the config).
 *
 * Pure. Each property names a source (subject, text body, a header field
 * or the recipient's +tag) and a pattern compiled at config load
 * (util/regex.h: PCRE2, UTF-8, JIT, bounded). The first match's captured
 * group is the value. No match, or a match that hit a PCRE2 limit, falls
 * back to the default; a required property with neither is "missing
 * required: NAME", and the runner dead-letters the event with that
 * reason instead of running the flow. Read docs/flows-rules.md.
 */
#ifndef MT_ROUTE_EXTRACT_H
#define MT_ROUTE_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "route/headers.h"

/* A longer capture is cut (on a UTF-8 boundary) and flagged. */
#define EXTRACT_VALUE_MAX 4096

/* What a rule looks at; NULL (or 0 headers) = that source is absent. */
struct extract_input {
	const char *subject; /* decoded Subject, UTF-8 */
	size_t subject_len;
	const char *text; /* the text body, UTF-8 */
	size_t text_len;
	const struct header_ref *headers;
	size_t n_headers;
	const char *tag; /* "+tag" without the '+' */
};

enum extract_status {
	EXTRACT_MATCHED,
	EXTRACT_DEFAULT, /* no match; the default is the value */
	EXTRACT_ABSENT,  /* no match, no default, not required: no value */
	EXTRACT_MISSING, /* no match, no default, required */
};

struct extract_value {
	const char *name; /* the property's name (points into the config) */
	char *value;      /* NUL terminated; NULL when ABSENT or MISSING */
	size_t len;
	enum extract_status status;
	bool limit;     /* the match hit a limit: warn; counted as no match */
	bool truncated; /* the capture was longer than EXTRACT_VALUE_MAX */
};

struct extract_result {
	struct extract_value *values; /* one per property, in config order */
	size_t n;
	size_t n_limit; /* how many matches hit a limit */
	/* "missing required: NAME" for the first one missing, else NULL. */
	char *reason;
};

/*
 * Runs the n properties over in. Returns true when every required
 * property has a value; false with out->reason set otherwise. out is
 * filled either way and must be released with extract_result_free().
 */
bool extract_run(const struct extract_prop *props, size_t n,
    const struct extract_input *in, struct extract_result *out);
void extract_result_free(struct extract_result *r);

/* The value of the property name, or NULL when it has none. */
const char *extract_get(const struct extract_result *r, const char *name);
/* "matched", "default", "absent", "missing": for the trace. */
const char *extract_status_name(enum extract_status st);

#endif
