/*
 * message_html - readable text from an HTML body (message_html_to_text()
 * in message.h), for messages that have no text/plain part.
 *
 * Pure. The HTML is parsed by gumbo, an HTML5 parser (WHATWG "Parsing
 * HTML documents"), never by hand: character references are decoded and
 * broken markup is repaired the way browsers do. The tree is walked
 * without recursion (parent links), so a deep tree cannot exhaust the
 * stack; the number of tags given to gumbo is bounded (message.h,
 * MESSAGE_HTML_TAGS_DEF says why).
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <gumbo.h>

#include "message_int.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* What an element does to the text around it. */
enum h2t_kind {
	H_INLINE = 0, /* nothing */
	H_SKIP,       /* the element and everything in it are dropped */
	H_LINE,       /* starts and ends a line */
	H_PARA,       /* set off by a blank line */
	H_BR,         /* a line break */
	H_ITEM,       /* a list item: a line starting with "- " */
	H_CELL,       /* a table cell: tab-separated from the previous */
	H_ROW,        /* a table row: a line */
	H_QUOTE,      /* a blockquote: a paragraph, lines prefixed "> " */
	H_PRE,        /* preformatted: a paragraph, whitespace kept */
};

static const struct {
	GumboTag tag;
	enum h2t_kind kind;
} tag_kinds[] = {
	{ GUMBO_TAG_HEAD, H_SKIP },
	{ GUMBO_TAG_SCRIPT, H_SKIP },
	{ GUMBO_TAG_STYLE, H_SKIP },
	{ GUMBO_TAG_TEMPLATE, H_SKIP },
	{ GUMBO_TAG_TITLE, H_SKIP },
	{ GUMBO_TAG_BR, H_BR },
	{ GUMBO_TAG_LI, H_ITEM },
	{ GUMBO_TAG_TD, H_CELL },
	{ GUMBO_TAG_TH, H_CELL },
	{ GUMBO_TAG_TR, H_ROW },
	{ GUMBO_TAG_BLOCKQUOTE, H_QUOTE },
	{ GUMBO_TAG_PRE, H_PRE },
	{ GUMBO_TAG_LISTING, H_PRE },
	{ GUMBO_TAG_XMP, H_PRE },
	{ GUMBO_TAG_P, H_PARA },
	{ GUMBO_TAG_H1, H_PARA },
	{ GUMBO_TAG_H2, H_PARA },
	{ GUMBO_TAG_H3, H_PARA },
	{ GUMBO_TAG_H4, H_PARA },
	{ GUMBO_TAG_H5, H_PARA },
	{ GUMBO_TAG_H6, H_PARA },
	{ GUMBO_TAG_UL, H_PARA },
	{ GUMBO_TAG_OL, H_PARA },
	{ GUMBO_TAG_DL, H_PARA },
	{ GUMBO_TAG_TABLE, H_PARA },
	{ GUMBO_TAG_DIV, H_LINE },
	{ GUMBO_TAG_HR, H_LINE },
	{ GUMBO_TAG_DT, H_LINE },
	{ GUMBO_TAG_DD, H_LINE },
	{ GUMBO_TAG_ADDRESS, H_LINE },
	{ GUMBO_TAG_ARTICLE, H_LINE },
	{ GUMBO_TAG_ASIDE, H_LINE },
	{ GUMBO_TAG_CAPTION, H_LINE },
	{ GUMBO_TAG_CENTER, H_LINE },
	{ GUMBO_TAG_DETAILS, H_LINE },
	{ GUMBO_TAG_FIELDSET, H_LINE },
	{ GUMBO_TAG_FIGCAPTION, H_LINE },
	{ GUMBO_TAG_FIGURE, H_LINE },
	{ GUMBO_TAG_FOOTER, H_LINE },
	{ GUMBO_TAG_FORM, H_LINE },
	{ GUMBO_TAG_HEADER, H_LINE },
	{ GUMBO_TAG_LEGEND, H_LINE },
	{ GUMBO_TAG_MAIN, H_LINE },
	{ GUMBO_TAG_NAV, H_LINE },
	{ GUMBO_TAG_SECTION, H_LINE },
	{ GUMBO_TAG_SUMMARY, H_LINE },
	{ GUMBO_TAG_TBODY, H_LINE },
	{ GUMBO_TAG_THEAD, H_LINE },
	{ GUMBO_TAG_TFOOT, H_LINE },
};

/* The text being written. */
struct h2t {
	struct buf out; /* ceiling: lim->text */
	size_t nl;      /* "\n" at the end of out */
	size_t pending; /* line ends owed before the next text (max 2) */
	size_t quote;   /* blockquote depth */
	size_t pre;     /* pre depth */
	bool space;     /* a collapsed blank is owed */
	bool cell;      /* a tab is owed (a cell ended on this row) */
	bool full;      /* the ceiling was met; stop */
};

static enum h2t_kind
kind_of(const GumboNode *n)
{
	size_t i;

	if (n->type == GUMBO_NODE_TEMPLATE)
		return H_SKIP;
	if (n->type != GUMBO_NODE_ELEMENT)
		return H_INLINE;
	for (i = 0; i < NELEM(tag_kinds); i++)
		if (tag_kinds[i].tag == n->v.element.tag)
			return tag_kinds[i].kind;
	return H_INLINE;
}

/* Appends what fits of s, cut on a character boundary. */
static void
put(struct h2t *h, const char *s, size_t n)
{
	size_t room = h->out.max - h->out.len;

	if (h->full)
		return;
	if (n > room) {
		n = utf8_cut(s, n, room);
		h->full = true;
	}
	buf_append(&h->out, s, n);
	if (n == 0)
		return;
	if (s[n - 1] != '\n')
		h->nl = 0;
	else
		h->nl++;
}

static void
put_newline(struct h2t *h)
{
	put(h, "\n", 1);
}

/* Asks for n line ends (1: a new line, 2: a blank line) before the next
 * text; nothing is written before the first text. */
static void
want_lines(struct h2t *h, size_t n)
{
	if (n > h->pending)
		h->pending = n;
	h->space = false;
	h->cell = false;
}

/* Writes what is owed before the next visible character. */
static void
settle(struct h2t *h)
{
	size_t i;

	if (h->out.len > 0)
		while (h->nl < h->pending && !h->full)
			put_newline(h);
	h->pending = 0;
	if (h->out.len == 0 || h->nl > 0) {
		for (i = 0; i < h->quote; i++)
			put(h, "> ", 2);
	} else if (h->cell)
		put(h, "\t", 1);
	else if (h->space)
		put(h, " ", 1);
	h->space = false;
	h->cell = false;
}

/* Length of the whitespace character at s (n bytes), or 0: the HTML
 * space characters and U+00A0 NO-BREAK SPACE (&nbsp;). */
static size_t
space_len(const char *s, size_t n)
{
	if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' ||
	    s[0] == '\f')
		return 1;
	if (n >= 2 && (unsigned char)s[0] == 0xc2 &&
	    (unsigned char)s[1] == 0xa0)
		return 2;
	return 0;
}

static void
put_text(struct h2t *h, const char *s, size_t n)
{
	size_t i = 0, k, start;

	while (i < n && !h->full) {
		k = space_len(s + i, n - i);
		if (k > 0 && h->pre > 0 && s[i] == '\n') {
			settle(h);
			put_newline(h);
		} else if (k > 0 && h->pre > 0) {
			settle(h);
			put(h, " ", 1);
		} else if (k > 0) {
			h->space = true;
		} else {
			start = i;
			while (i < n && space_len(s + i, n - i) == 0)
				i++;
			settle(h);
			put(h, s + start, i - start);
			continue;
		}
		i += k;
	}
}

/* Line ends an element of each kind asks for before and after it. */
static const struct {
	size_t before, after;
} breaks[] = {
	[H_LINE] = { 1, 1 },
	[H_PARA] = { 2, 2 },
	[H_ITEM] = { 1, 1 },
	[H_ROW] = { 1, 1 },
	[H_QUOTE] = { 2, 2 },
	[H_PRE] = { 2, 2 },
};

static void
enter(struct h2t *h, const GumboNode *n)
{
	enum h2t_kind k = kind_of(n);

	if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA ||
	    n->type == GUMBO_NODE_WHITESPACE) {
		put_text(h, n->v.text.text, strlen(n->v.text.text));
		return;
	}
	if (breaks[k].before > 0)
		want_lines(h, breaks[k].before);
	if (k == H_BR) {
		settle(h);
		put_newline(h);
	} else if (k == H_ITEM) {
		settle(h);
		put(h, "- ", 2);
	} else if (k == H_CELL && h->nl == 0 && h->out.len > 0 &&
	    h->pending == 0)
		h->cell = true;
	else if (k == H_QUOTE)
		h->quote++;
	else if (k == H_PRE)
		h->pre++;
}

static void
leave(struct h2t *h, const GumboNode *n)
{
	enum h2t_kind k = kind_of(n);

	if (breaks[k].after > 0)
		want_lines(h, breaks[k].after);
	if (k == H_CELL)
		h->cell = h->pending == 0;
	else if (k == H_QUOTE)
		h->quote--;
	else if (k == H_PRE)
		h->pre--;
}

static const GumboVector *
children_of(const GumboNode *n)
{
	if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE)
		return &n->v.element.children;
	if (n->type == GUMBO_NODE_DOCUMENT)
		return &n->v.document.children;
	return NULL;
}

/* Depth-first walk without recursion: down to the first child, across
 * to the next sibling, up through the parents. */
static void
walk(struct h2t *h, const GumboNode *root)
{
	const GumboNode *n = root;
	const GumboVector *kids;
	size_t next;

	enter(h, n);
	while (!h->full) {
		kids = children_of(n);
		if (kind_of(n) != H_SKIP && kids != NULL && kids->length > 0) {
			n = kids->data[0];
			enter(h, n);
			continue;
		}
		for (;;) {
			leave(h, n);
			if (n == root)
				return;
			next = n->index_within_parent + 1;
			kids = children_of(n->parent);
			n = n->parent;
			if (next < kids->length) {
				n = kids->data[next];
				enter(h, n);
				break;
			}
		}
	}
}

/* Length of the prefix of html holding at most max "<" characters. */
static size_t
tag_budget(const char *html, size_t len, size_t max, bool *cut)
{
	size_t i, tags = 0;

	for (i = 0; i < len; i++)
		if (html[i] == '<' && ++tags > max) {
			*cut = true;
			return i;
		}
	return len;
}

char *
message_html_to_text(const char *html, size_t len,
    const struct message_limits *lim, bool *truncated)
{
	GumboOptions gopt = kGumboDefaultOptions;
	GumboOutput *doc;
	struct h2t h;
	bool cut = false;

	memset(&h, 0, sizeof(h));
	buf_init(&h.out, lim->text);
	/* The parse errors are not used: do not collect them. */
	gopt.max_errors = 0;
	len = tag_budget(html, len, lim->html_tags, &cut);
	doc = gumbo_parse_with_options(&gopt, html, len);
	walk(&h, doc->document);
	gumbo_destroy_output(&gopt, doc);
	while (h.out.len > 0 &&
	    (h.out.data[h.out.len - 1] == '\n' ||
		h.out.data[h.out.len - 1] == ' ' ||
		h.out.data[h.out.len - 1] == '\t'))
		h.out.data[--h.out.len] = '\0';
	if (truncated != NULL)
		*truncated = cut || h.full;
	return buf_steal(&h.out, NULL);
}
