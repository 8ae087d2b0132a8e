/*
 * buf - a growable byte buffer with a ceiling set at creation.
 *
 * Pure. Every buffer a peer can grow has a maximum (as curl's dynbuf
 * "toobig"): appending past it fails with BUF_TOOBIG and leaves the
 * contents unchanged, so the caller can turn it into a reply. The data is
 * always NUL terminated (not counted in len) so text users may treat it as
 * a C string. The struct owns data; buf_free() releases it.
 */
#ifndef MT_UTIL_BUF_H
#define MT_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum buf_status {
	BUF_OK = 0,
	BUF_TOOBIG, /* the append would pass the ceiling; nothing appended */
};

struct buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* ceiling on len */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Empties the buffer; keeps the allocation only if it is small. */
void buf_reset(struct buf *b);
enum buf_status buf_append(struct buf *b, const void *p, size_t len);
enum buf_status buf_puts(struct buf *b, const char *s);
enum buf_status buf_putc(struct buf *b, char c);
enum buf_status buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum buf_status buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/*
 * Hands the data to the caller (who frees it) and leaves b empty. Returns
 * an allocated empty string when nothing was appended.
 */
char *buf_steal(struct buf *b, size_t *len);
/* Returns the contents as a C string ("" when empty); valid until the next
 * change to b. */
const char *buf_str(const struct buf *b);

#endif
