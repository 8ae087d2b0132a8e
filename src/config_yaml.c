/*
 * config_yaml - YAML text to a tree of positioned nodes, and the error list.
 *
 * Pure. libfyaml's event parser feeds a small tree (struct ynode) that
 * keeps the 1-based line and column of every node, so each error can point
 * at the key or value it is about. Syntax errors come from libfyaml's
 * diagnostics, collected (never printed) through a struct fy_diag.
 *
 * Before libfyaml sees the text it is checked to be UTF-8 without NUL
 * bytes or control characters (YAML 1.2 section 5.1, c-printable):
 * libfyaml 0.7 silently stops reading at a NUL byte or at invalid UTF-8,
 * which would turn a damaged file into a shorter, valid-looking config.
 * Tabs are refused too: YAML forbids them for indentation (section 6.1),
 * a config never needs them elsewhere ("\t" in double quotes still
 * works), and libfyaml 0.7.12 frees memory twice on some inputs with a
 * tab after an explicit key ("? a:<TAB>:", found by fuzzing).
 */
#include "config_int.h"

#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xmalloc.h"

/* Longest message text kept per error (values inside are quoted short). */
#define CFG_MSG_MAX 1024
/* Characters of a value quoted in a message before it is cut. */
#define CFG_QUOTE_CHARS 48

void
cfg_err_at(struct cfg_ctx *ctx, unsigned line, unsigned column, const char *fmt,
    ...)
{
	struct cfg_error *e;
	char msg[CFG_MSG_MAX];
	va_list ap;

	if (ctx->n_errs == CFG_ERRORS_MAX) {
		if (!ctx->overflow) {
			ctx->overflow = true;
			ctx->over_line = line;
			ctx->over_column = column;
		}
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->errs == NULL)
		ctx->errs = xcalloc(CFG_ERRORS_MAX, sizeof(*ctx->errs));
	e = &ctx->errs[ctx->n_errs++];
	e->line = line;
	e->column = column;
	e->seq = ctx->seq++;
	e->msg = xstrdup(msg);
}

void
cfg_err(struct cfg_ctx *ctx, const struct ynode *n, const char *fmt, ...)
{
	char msg[CFG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_err_at(ctx, n->line, n->column, "%s", msg);
}

static int
cmp_error(const void *a, const void *b)
{
	const struct cfg_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
push_error(struct config_errors *out, const char *name, unsigned line,
    unsigned column, const char *msg)
{
	struct buf b;

	buf_init(&b, CFG_MSG_MAX * 2);
	/* Long names are cut rather than dropping the error. */
	(void)buf_printf(&b, "%s:%u:%u: %s", name, line, column, msg);
	out->items = xreallocarray(out->items, out->n + 1, sizeof(*out->items));
	out->items[out->n++] = buf_steal(&b, NULL);
}

size_t
cfg_errors_finish(struct cfg_ctx *ctx, struct config_errors *out)
{
	size_t i, n = ctx->n_errs;

	if (n > 0)
		qsort(ctx->errs, n, sizeof(*ctx->errs), cmp_error);
	for (i = 0; i < n; i++) {
		push_error(out, ctx->name, ctx->errs[i].line,
		    ctx->errs[i].column, ctx->errs[i].msg);
		free(ctx->errs[i].msg);
	}
	if (ctx->overflow) {
		push_error(out, ctx->name, ctx->over_line, ctx->over_column,
		    "too many errors; stopped here (fix the ones above and "
		    "check again)");
		n++;
	}
	free(ctx->errs);
	ctx->errs = NULL;
	ctx->n_errs = 0;
	ctx->overflow = false;
	return n;
}

void
cfg_quote(char *out, size_t size, const char *s, size_t len)
{
	struct buf b;
	size_t i, shown = 0;
	char *p;

	buf_init(&b, size > 0 ? size - 1 : 0);
	for (i = 0; i < len && shown < CFG_QUOTE_CHARS; i++, shown++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != 0x7f)
			(void)buf_putc(&b, (char)c);
		else
			(void)buf_printf(&b, "\\x%02x", c);
	}
	if (i < len)
		(void)buf_puts(&b, "...");
	p = buf_steal(&b, NULL);
	snprintf(out, size, "%s", p);
	free(p);
}

const char *
cfg_kind_name(const struct ynode *n)
{
	if (n->kind == YN_MAP)
		return "a mapping";
	if (n->kind == YN_SEQ)
		return "a sequence";
	if (n->is_null)
		return "nothing (null)";
	return "a string";
}

/* The text check. */

struct textpos {
	unsigned line, column;
};

/* Length of the UTF-8 sequence at s, or 0 when it is not well formed, not
 * YAML c-printable (YAML 1.2 section 5.1; RFC 3629 section 4) or a tab. */
static size_t
printable_char(const unsigned char *s, size_t len)
{
	unsigned c = s[0], cp;
	size_t n, i;

	if (c < 0x80)
		return (c >= 0x20 && c != 0x7f) || c == '\n' || c == '\r';
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF, C1 controls but NEL. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    (cp >= 0x80 && cp <= 0x9f && cp != 0x85) || cp == 0xfffe ||
	    cp == 0xffff)
		return 0;
	return n;
}

/* Checks the whole text; records one error at the first bad byte. */
static bool
text_ok(struct cfg_ctx *ctx, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	struct textpos pos = { 1, 1 };
	size_t i = 0, n;

	while (i < len) {
		n = printable_char(s + i, len - i);
		if (n == 0)
			break;
		if (s[i] == '\n' ||
		    (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'))) {
			pos.line++;
			pos.column = 1;
		} else if (s[i] != '\r') {
			pos.column++;
		}
		i += n;
	}
	if (i == len)
		return true;
	if (s[i] == 0)
		cfg_err_at(ctx, pos.line, pos.column,
		    "NUL byte in the file "
		    "(a config is UTF-8 text; remove it, or write \\0 inside "
		    "double quotes)");
	else if (s[i] == '\t')
		cfg_err_at(ctx, pos.line, pos.column,
		    "tab character: indent "
		    "and separate with spaces (write \\t inside double quotes "
		    "for a tab in a value)");
	else if (s[i] < 0x80)
		cfg_err_at(ctx, pos.line, pos.column,
		    "control character "
		    "0x%02x is not allowed in YAML (remove it)",
		    s[i]);
	else
		cfg_err_at(ctx, pos.line, pos.column,
		    "invalid UTF-8 or "
		    "non-printable character (byte 0x%02x): save the file as "
		    "UTF-8 text",
		    s[i]);
	return false;
}

/* The tree builder, fed one libfyaml event at a time. */

struct builder {
	struct cfg_ctx *ctx;
	struct ynode *root;
	struct ynode *cur; /* innermost open mapping or sequence */
	unsigned depth;
	unsigned docs;
	bool failed;
};

static bool
null_text(const char *s, size_t len)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	for (i = 0; i < NELEM(nulls); i++)
		if (strlen(nulls[i]) == len && memcmp(nulls[i], s, len) == 0)
			return true;
	return false;
}

/*
 * Sets n's position. libfyaml gives no mark for a value left out ("key:"
 * with nothing after it): such a node takes its key's position, or its
 * parent's.
 */
static void
set_position(struct builder *b, struct ynode *n, const struct fy_mark *m)
{
	struct ynode *p = b->cur;

	if (m != NULL) {
		n->line = (unsigned)m->line + 1;
		n->column = (unsigned)m->column + 1;
	} else if (p != NULL && p->kind == YN_MAP && p->n_kids % 2 == 1) {
		n->line = p->kids[p->n_kids - 1]->line;
		n->column = p->kids[p->n_kids - 1]->column;
	} else if (p != NULL) {
		n->line = p->line;
		n->column = p->column;
	} else {
		n->line = 1;
		n->column = 1;
	}
}

static void
add_node(struct builder *b, struct ynode *n)
{
	struct ynode *p = b->cur;

	n->parent = p;
	if (p == NULL) {
		b->root = n;
		return;
	}
	if (p->n_kids == p->cap_kids) {
		p->cap_kids = p->cap_kids == 0 ? 8 : p->cap_kids * 2;
		p->kids = xreallocarray(p->kids, p->cap_kids, sizeof(*p->kids));
	}
	p->kids[p->n_kids++] = n;
}

static void
on_scalar(struct builder *b, struct fy_event *ev)
{
	struct fy_token *tok = ev->scalar.value;
	struct ynode *n = xcalloc(1, sizeof(*n));
	enum fy_scalar_style style = FYSS_PLAIN;
	const char *text = "";
	size_t len = 0;

	if (tok != NULL) {
		text = fy_token_get_text(tok, &len);
		style = fy_token_scalar_style(tok);
		if (text == NULL) {
			text = "";
			len = 0;
		}
	}
	n->kind = YN_SCALAR;
	n->text = xmalloc(len + 1);
	memcpy(n->text, text, len);
	n->text[len] = '\0';
	n->len = len;
	n->is_null = style == FYSS_PLAIN && null_text(text, len);
	set_position(b, n, tok != NULL ? fy_token_start_mark(tok) : NULL);
	/* libfyaml marks a quoted scalar after its quote: point at the quote.
	 */
	if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) &&
	    n->column > 1)
		n->column--;
	add_node(b, n);
}

static void
on_collection_start(struct builder *b, struct fy_event *ev,
    enum ynode_kind kind)
{
	struct ynode *n;

	if (b->depth == CFG_DEPTH_MAX) {
		const struct fy_mark *m = fy_event_start_mark(ev);

		cfg_err_at(b->ctx, m != NULL ? (unsigned)m->line + 1 : 1,
		    m != NULL ? (unsigned)m->column + 1 : 1,
		    "nested more than %d levels deep (a config needs far "
		    "fewer; check the indentation)",
		    CFG_DEPTH_MAX);
		b->failed = true;
		return;
	}
	n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	set_position(b, n, fy_event_start_mark(ev));
	add_node(b, n);
	b->cur = n;
	b->depth++;
}

static void
on_document_start(struct builder *b, struct fy_event *ev)
{
	const struct fy_mark *m;

	if (++b->docs == 1)
		return;
	m = fy_event_start_mark(ev);
	cfg_err_at(b->ctx, m != NULL ? (unsigned)m->line + 1 : 1,
	    m != NULL ? (unsigned)m->column + 1 : 1,
	    "a second YAML document; a config is one document (remove this "
	    "'---' and what follows, or merge it into the first)");
	b->failed = true;
}

static void
on_alias(struct builder *b, struct fy_event *ev)
{
	const struct fy_mark *m = fy_event_start_mark(ev);

	/* Aliases would let a small file expand into a huge tree. The mark
	 * is on the name, after the '*': point at the '*'. */
	cfg_err_at(b->ctx, m != NULL ? (unsigned)m->line + 1 : 1,
	    m != NULL ? (unsigned)m->column + (m->column > 0 ? 0 : 1) : 1,
	    "YAML aliases (*name) are not supported (write the value out)");
	b->failed = true;
}

/* One event into the tree; a flat switch with one call per case. */
static void
on_event(struct builder *b, struct fy_event *ev)
{
	switch (ev->type) {
	case FYET_DOCUMENT_START:
		on_document_start(b, ev);
		break;
	case FYET_MAPPING_START:
		on_collection_start(b, ev, YN_MAP);
		break;
	case FYET_SEQUENCE_START:
		on_collection_start(b, ev, YN_SEQ);
		break;
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END:
		b->cur = b->cur != NULL ? b->cur->parent : NULL;
		b->depth--;
		break;
	case FYET_SCALAR:
		on_scalar(b, ev);
		break;
	case FYET_ALIAS:
		on_alias(b, ev);
		break;
	default:
		break;
	}
}

static void
discard_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	/* Errors are collected, not printed; nothing else is wanted. */
}

static struct fy_diag *
make_diag(void)
{
	struct fy_diag_cfg dc;
	struct fy_diag *diag;

	fy_diag_cfg_default(&dc);
	dc.fp = NULL;
	dc.output_fn = discard_diag;
	dc.colorize = false;
	diag = fy_diag_create(&dc);
	if (diag == NULL)
		abort(); /* out of memory, as xmalloc */
	fy_diag_set_collect_errors(diag, true);
	return diag;
}

/* Moves libfyaml's collected syntax errors into ctx. */
static void
take_diag_errors(struct cfg_ctx *ctx, struct fy_diag *diag)
{
	struct fy_diag_error *de;
	void *iter = NULL;
	size_t n = 0, len;

	while ((de = fy_diag_errors_iterate(diag, &iter)) != NULL) {
		const char *msg = de->msg != NULL ? de->msg : "invalid YAML";

		len = strlen(msg);
		while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
			len--;
		cfg_err_at(ctx, de->line > 0 ? (unsigned)de->line : 1,
		    de->column > 0 ? (unsigned)de->column : 1,
		    "YAML syntax error: %.*s", (int)len, msg);
		n++;
	}
	if (n == 0)
		cfg_err_at(ctx, 1, 1, "YAML syntax error");
}

struct ynode *
cfg_yaml_parse(struct cfg_ctx *ctx, const char *text, size_t len)
{
	struct builder b = { .ctx = ctx };
	struct fy_parse_cfg pc = { 0 };
	struct fy_parser *fyp;
	struct fy_event *ev;
	bool stream_error;

	if (!text_ok(ctx, text, len))
		return NULL;
	pc.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2;
	pc.diag = make_diag();
	fyp = fy_parser_create(&pc);
	if (fyp == NULL || fy_parser_set_string(fyp, text, len) != 0)
		abort(); /* only allocation can fail here */
	while (!b.failed && (ev = fy_parser_parse(fyp)) != NULL) {
		on_event(&b, ev);
		fy_parser_event_free(fyp, ev);
	}
	stream_error = fy_parser_get_stream_error(fyp);
	if (!b.failed && stream_error) {
		take_diag_errors(ctx, pc.diag);
		b.failed = true;
	}
	fy_parser_destroy(fyp);
	fy_diag_destroy(pc.diag);
	if (b.failed) {
		cfg_yaml_free(b.root);
		return NULL;
	}
	return b.root;
}

void
cfg_yaml_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	/* Recursion is bounded by CFG_DEPTH_MAX. */
	for (i = 0; i < n->n_kids; i++)
		cfg_yaml_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}
