#include "util/units.h"

#include <ctype.h>
#include <stddef.h>
#include <strings.h>

struct unit {
	const char *name;
	uint64_t factor;
};

static const struct unit size_units[] = {
	{ "", 1 },
	{ "b", 1 },
	{ "k", 1024 },
	{ "kb", 1024 },
	{ "m", 1024 * 1024 },
	{ "mb", 1024 * 1024 },
	{ "g", 1024ULL * 1024 * 1024 },
	{ "gb", 1024ULL * 1024 * 1024 },
};

static const struct unit duration_units[] = {
	{ "", 1000 },
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 3600 * 1000 },
	{ "d", 86400ULL * 1000 },
};

/* Parses leading decimal digits; false on none or on overflow. */
static bool
parse_decimal(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return true;
}

static bool
parse_with_units(const char *s, const struct unit *units, size_t n,
    uint64_t *out)
{
	uint64_t v;
	size_t i;

	if (s == NULL || !parse_decimal(&s, &v))
		return false;
	for (i = 0; i < n; i++) {
		if (strcasecmp(s, units[i].name) != 0)
			continue;
		if (v > UINT64_MAX / units[i].factor)
			return false;
		*out = v * units[i].factor;
		return true;
	}
	return false;
}

bool
units_parse_size(const char *s, uint64_t *bytes)
{
	return parse_with_units(s, size_units,
	    sizeof(size_units) / sizeof(size_units[0]), bytes);
}

bool
units_parse_duration(const char *s, uint64_t *ms)
{
	return parse_with_units(s, duration_units,
	    sizeof(duration_units) / sizeof(duration_units[0]), ms);
}
