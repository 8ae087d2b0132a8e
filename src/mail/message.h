/*
 * message - one RFC 5322 message (MIME, RFC 2045-2049) into the event's
 * "message" object (../shared/ARCHITECTURE.md "The event"; docs/event.md).
 *
 * Pure: no I/O, no clock, no environment; the caller passes the bytes in
 * and owns what comes out. The parsing is GMime 3's (RFC 2047 encoded
 * words, RFC 2231 parameters, charsets through iconv, broken mail) and
 * the text made from HTML is gumbo's HTML5 parse; GLib, GMime and gumbo
 * types stay inside src/mail/message*.c (ARCHITECTURE.md).
 *
 * Every string produced is well-formed UTF-8 (RFC 3629): bytes that are
 * not, and NUL bytes, become U+FFFD and add "invalid_utf8_replaced" to the
 * warnings. Broken MIME never fails a parse: the result is a best-effort
 * object plus entries in its "parse_warnings" (docs/event.md lists them).
 * Every list and text has a ceiling (struct message_limits); reaching one
 * is a warning, never silent truncation.
 *
 * Thread-safe: separate calls may run in parallel (GMime is initialised
 * once, under pthread_once).
 */
#ifndef MT_MAIL_MESSAGE_H
#define MT_MAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * The parser's limits (STYLE.md Limits): a default, a minimum and a
 * maximum each. Values outside [MIN, MAX] are clamped. Tests and fuzzers
 * set tiny ones.
 */
#define MESSAGE_DEPTH_DEF 32 /* multipart/message nesting walked */
#define MESSAGE_DEPTH_MIN 1
#define MESSAGE_DEPTH_MAX 100
#define MESSAGE_PARTS_DEF 500 /* MIME parts walked */
#define MESSAGE_PARTS_MIN 1
#define MESSAGE_PARTS_MAX 100000
#define MESSAGE_ATTACHMENTS_DEF 100 /* entries in "attachments" */
#define MESSAGE_ATTACHMENTS_MIN 0
#define MESSAGE_ATTACHMENTS_MAX 10000
#define MESSAGE_HEADERS_DEF 1000 /* entries in "headers" */
#define MESSAGE_HEADERS_MIN 0
#define MESSAGE_HEADERS_MAX 100000
#define MESSAGE_HEADER_VALUE_DEF 16384 /* bytes of one decoded value */
#define MESSAGE_HEADER_VALUE_MIN 64
#define MESSAGE_HEADER_VALUE_MAX (1024 * 1024)
#define MESSAGE_ADDRESSES_DEF 1000 /* mailboxes in "to", "cc" each */
#define MESSAGE_ADDRESSES_MIN 1
#define MESSAGE_ADDRESSES_MAX 100000
#define MESSAGE_TEXT_DEF (1024 * 1024) /* bytes of text, html each */
#define MESSAGE_TEXT_MIN 64
#define MESSAGE_TEXT_MAX (64 * 1024 * 1024)
/*
 * Tags ("<" characters) of HTML given to gumbo to make text. gumbo's tree
 * construction is quadratic in the nesting depth (100,000 nested tags
 * take minutes), so a hostile body could stall a worker without it.
 */
#define MESSAGE_HTML_TAGS_DEF 20000
#define MESSAGE_HTML_TAGS_MIN 16
#define MESSAGE_HTML_TAGS_MAX 1000000
#define MESSAGE_WARNINGS_DEF 50 /* entries in "parse_warnings" */
#define MESSAGE_WARNINGS_MIN 2
#define MESSAGE_WARNINGS_MAX 1000

struct message_limits {
	size_t depth;
	size_t parts;
	size_t attachments;
	size_t headers;
	size_t header_value;
	size_t addresses;
	size_t text;
	size_t html_tags;
	size_t warnings;
};

struct message_parse_opts {
	struct message_limits limits;
};

/* Fills *opts with the defaults (the _DEF values above). */
void message_parse_opts_default(struct message_parse_opts *opts);

/*
 * Parses the message in data (len bytes, need not be NUL terminated; CRLF
 * or LF line ends, as stored by the queue or read from a file) into the
 * event's "message" object: message_id, date, date_iso, subject, from,
 * reply_to, to, cc, text, html, stripped_text, attachments, headers and
 * parse_warnings (docs/event.md gives each field's meaning). opts NULL
 * means the defaults. Never fails and never returns NULL: any input gives
 * an object. Returns a new reference owned by the caller (json_decref).
 */
json_t *message_parse(const char *data, size_t len,
    const struct message_parse_opts *opts);

enum message_status {
	MESSAGE_OK = 0,
	MESSAGE_ENCODE, /* the JSON could not be serialised (a bug) */
};

/*
 * What `mailtrigger parse` prints: message_parse() wrapped as the event's
 * shape, {"message": {...}}, indented by 2, ending in a newline. On
 * MESSAGE_OK *json_out is a NUL-terminated string the caller frees with
 * free(); otherwise *json_out is NULL.
 */
enum message_status message_parse_to_json(const char *data, size_t len,
    const struct message_parse_opts *opts, char **json_out);

/*
 * The pure text helpers message_parse() is made of, public so that they
 * are tested on their own and usable by the property extractor. Each
 * returns a NUL-terminated string the caller frees with free().
 */

/*
 * Returns the readable text of an HTML document (UTF-8, len bytes),
 * parsed by gumbo (HTML5): block elements end lines, <br> breaks one,
 * paragraphs, headings, lists and tables are set off by a blank line,
 * table cells are separated by a tab, list items start with "- ", lines
 * inside <blockquote> start with "> " per level, <pre> keeps its
 * whitespace, other whitespace runs collapse to one space, character
 * references are decoded, and script, style, template and the head are
 * dropped. At most lim->html_tags tags are read and lim->text bytes
 * written; *truncated (if not NULL) says whether either ceiling was met.
 */
char *message_html_to_text(const char *html, size_t len,
    const struct message_limits *lim, bool *truncated);

/*
 * Returns the new text of a reply (text: UTF-8, LF line ends): quoted
 * lines (starting with ">" after optional blanks) are dropped, and
 * everything from the first reply attribution ("On ... wrote:",
 * possibly wrapped over three lines; "Am ... schrieb ...:";
 * "Le ... a écrit :"; "-----Original Message-----"; an Outlook
 * "____" line followed by "From:") or the first signature separator
 * ("-- ", RFC 3676 4.3, or "--" whose space was lost) to the end is
 * cut. Leading and trailing blank lines are removed.
 */
char *message_stripped_text(const char *text, size_t len);

/*
 * Returns a copy of s (len bytes) that is well-formed UTF-8: every
 * maximal ill-formed subsequence (Unicode 15, 3.9 "U+FFFD
 * substitution") and every NUL byte becomes U+FFFD. *out_len (if not
 * NULL) gets the length, *replaced (if not NULL) the number of U+FFFD
 * written for bad input.
 */
char *message_utf8_clean(const char *s, size_t len, size_t *out_len,
    size_t *replaced);

#endif
