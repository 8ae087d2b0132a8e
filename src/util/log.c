#include "util/log.h"

#include <string.h>
#include <sys/time.h>
#include <time.h>

static FILE *log_stream;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_setup(FILE *stream, enum log_level min_level)
{
	log_stream = stream;
	log_min = min_level;
}

static bool
needs_quotes(const char *v, size_t len)
{
	size_t i;

	if (len == 0)
		return true;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
			return true;
	}
	return false;
}

static void
append_escaped(struct buf *b, const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\r')
			buf_puts(b, "\\r");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else if (c < ' ' || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
	}
}

void
logfmt_append(struct buf *b, const char *key, const char *value, size_t len)
{
	if (b->len > 0)
		buf_putc(b, ' ');
	buf_puts(b, key);
	buf_putc(b, '=');
	if (!needs_quotes(value, len)) {
		buf_append(b, value, len);
		return;
	}
	buf_putc(b, '"');
	append_escaped(b, value, len);
	buf_putc(b, '"');
}

static void
add_field(struct log_record *r, const char *key, const char *value, size_t len)
{
	size_t before = r->line.len;

	if (r->truncated)
		return;
	logfmt_append(&r->line, key, value, len);
	/* buf_* refuse a whole append past the ceiling, so a field can be
	 * half-written only if one of its pieces failed: cut it off. */
	if (r->line.len + 64 >= r->line.max) {
		r->line.len = before;
		r->line.data[before] = '\0';
		r->truncated = true;
	}
}

void
log_begin(struct log_record *r, enum log_level level, const char *msg)
{
	char ts[64];
	struct timeval tv;
	struct tm tm;

	buf_init(&r->line, LOG_LINE_MAX);
	r->level = level;
	r->truncated = false;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(tv.tv_usec / 1000));
	add_field(r, "ts", ts, strlen(ts));
	add_field(r, "level", level_names[level], strlen(level_names[level]));
	add_field(r, "msg", msg, strlen(msg));
}

void
log_kv_str(struct log_record *r, const char *key, const char *value)
{
	if (value == NULL)
		value = "";
	add_field(r, key, value, strlen(value));
}

void
log_kv_strn(struct log_record *r, const char *key, const char *value,
    size_t len)
{
	add_field(r, key, value, len);
}

void
log_kv_int(struct log_record *r, const char *key, long long value)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", value);
	add_field(r, key, v, strlen(v));
}

void
log_kv_uint(struct log_record *r, const char *key, unsigned long long value)
{
	char v[32];

	snprintf(v, sizeof(v), "%llu", value);
	add_field(r, key, v, strlen(v));
}

void
log_kv_bool(struct log_record *r, const char *key, bool value)
{
	add_field(r, key, value ? "true" : "false", value ? 4 : 5);
}

void
log_end(struct log_record *r)
{
	FILE *out = log_stream ? log_stream : stderr;

	if (r->truncated)
		logfmt_append(&r->line, "truncated", "1", 1);
	if (r->level >= log_min) {
		buf_putc(&r->line, '\n');
		fwrite(r->line.data, 1, r->line.len, out);
		fflush(out);
	}
	buf_free(&r->line);
}

void
log_msg(enum log_level level, const char *msg, const char *detail)
{
	struct log_record r;

	log_begin(&r, level, msg);
	if (detail != NULL)
		log_kv_str(&r, "detail", detail);
	log_end(&r);
}
