#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* Allocations up to this size survive buf_reset(): the common case of a
 * reused line buffer should not touch malloc on every line. */
#define BUF_KEEP_ON_RESET 4096

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	if (b->cap > BUF_KEEP_ON_RESET) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static enum buf_status
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	if (extra > b->max || b->len > b->max - extra)
		return BUF_TOOBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return BUF_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > (size_t)-1 / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return BUF_OK;
}

enum buf_status
buf_append(struct buf *b, const void *p, size_t len)
{
	if (buf_reserve(b, len) != BUF_OK)
		return BUF_TOOBIG;
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return BUF_OK;
}

enum buf_status
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

enum buf_status
buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

enum buf_status
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		abort(); /* only an invalid format can get here: a bug */
	if (buf_reserve(b, (size_t)n) != BUF_OK)
		return BUF_TOOBIG;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return BUF_OK;
}

enum buf_status
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	enum buf_status st;

	va_start(ap, fmt);
	st = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return st;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *
buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data ? b->data : xstrdup("");

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

const char *
buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}
