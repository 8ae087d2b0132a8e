/*
 * message_header - the top-level header fields of a parse (headers_read()
 * in message_int.h): all of them in order, and the ones the object names:
 * RFC 5322 3.6 originator (From, Reply-To), destination (To, Cc; 3.4
 * address lists and groups), identification (Message-ID, 3.6.4) and
 * informational (Subject) fields, and the date (3.3). Values are unfolded
 * (2.2.3), cleaned to UTF-8 (RFC 6532) and RFC 2047 decoded
 * (message_charset.c).
 *
 * Pure. GMime parses address lists and dates.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message_int.h"
#include "util/xmalloc.h"

/* One header field: its name and two forms of its value, owned. */
struct field {
	const char *name; /* cleaned to UTF-8 */
	char *clean;      /* unfolded, UTF-8; for structured parsing */
	char *text;       /* clean with RFC 2047 words decoded, trimmed */
};

/* Cuts a decoded value to lim.header_value bytes, with its warning. */
static void
field_bound(struct mctx *c, struct field *f)
{
	size_t n = strlen(f->text);

	if (n <= c->lim.header_value)
		return;
	f->text[utf8_cut(f->text, n, c->lim.header_value)] = '\0';
	mctx_warn(c, "header_too_long", f->name);
}

/* Returns a copy of s without leading and trailing whitespace. */
static char *
trimmed(const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 &&
	    (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
		s[n - 1] == '\n'))
		n--;
	return xstrndup(s, n);
}

/* Unfolds (RFC 5322 2.2.3), cleans and decodes one header field. */
static void
field_read(struct mctx *c, GMimeHeader *h, struct field *f)
{
	const char *raw = g_mime_header_get_raw_value(h);
	char *u, *t;
	size_t bad = 0;

	u = g_mime_utils_header_unfold(raw != NULL ? raw : "");
	f->clean = message_utf8_clean(u, strlen(u), NULL, &bad);
	g_free(u);
	t = rfc2047_decode(c, f->clean, false, &bad);
	f->text = trimmed(t);
	free(t);
	if (bad > 0)
		mctx_warn(c, "invalid_utf8_replaced", f->name);
	field_bound(c, f);
}

static void
mailbox_add(struct mctx *c, json_t *arr, InternetAddress *ia, const char *group,
    const char *field)
{
	const char *name = internet_address_get_name(ia);
	const char *addr;
	json_t *m;
	char *s;

	if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
		return;
	if (json_array_size(arr) >= c->lim.addresses) {
		mctx_warn(c, "too_many_addresses", field);
		return;
	}
	addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	m = json_object();
	s = message_utf8_clean(name != NULL ? name : "",
	    name != NULL ? strlen(name) : 0, NULL, NULL);
	json_object_set_new(m, "name", json_string(s));
	free(s);
	s = message_utf8_clean(addr != NULL ? addr : "",
	    addr != NULL ? strlen(addr) : 0, NULL, NULL);
	json_object_set_new(m, "address", json_string(s));
	free(s);
	if (group != NULL) {
		s = message_utf8_clean(group, strlen(group), NULL, NULL);
		json_object_set_new(m, "group", json_string(s));
		free(s);
	}
	json_array_append_new(arr, m);
}

/*
 * Appends the mailboxes of an address list (RFC 5322 3.4) to arr.
 * Groups are flattened: their members carry the group's display name in
 * "group"; an empty group ("undisclosed-recipients:;") adds nothing.
 */
static void
addresses_add(struct mctx *c, json_t *arr, const struct field *f)
{
	InternetAddressList *list, *members;
	InternetAddress *ia;
	char *phrase;
	size_t bad = 0;
	int i, j;

	/* Encoded words decoded first (message_charset.c), quoted so that
	 * GMime reads them as the same names. */
	phrase = rfc2047_decode(c, f->clean, true, &bad);
	list = internet_address_list_parse(c->gopts, phrase);
	free(phrase);
	if (list == NULL)
		return;
	for (i = 0; i < internet_address_list_length(list); i++) {
		ia = internet_address_list_get_address(list, i);
		if (!INTERNET_ADDRESS_IS_GROUP(ia)) {
			mailbox_add(c, arr, ia, NULL, f->name);
			continue;
		}
		members = internet_address_group_get_members(
		    INTERNET_ADDRESS_GROUP(ia));
		for (j = 0; j < internet_address_list_length(members); j++)
			mailbox_add(c, arr,
			    internet_address_list_get_address(members, j),
			    internet_address_get_name(ia), f->name);
	}
	g_object_unref(list);
}

/* The first mailbox of an originator field, or null. */
static json_t *
first_mailbox(struct mctx *c, const struct field *f)
{
	json_t *arr = json_array(), *m;

	addresses_add(c, arr, f);
	m = json_array_get(arr, 0);
	if (m == NULL) {
		mctx_warn(c, "no_mailbox", f->name);
		m = json_null();
	} else
		json_incref(m);
	json_decref(arr);
	return m;
}

/* RFC 5322 3.3 date-time to ISO 8601 UTC ("2024-01-01T08:00:00Z"). */
static json_t *
date_iso(struct mctx *c, const char *value)
{
	GDateTime *dt = g_mime_utils_header_decode_date(value), *utc;
	char *s;
	json_t *j;

	if (dt == NULL) {
		mctx_warn(c, "bad_date", value);
		return json_null();
	}
	utc = g_date_time_to_utc(dt);
	s = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
	j = s != NULL ? json_string(s) : json_null();
	g_free(s);
	g_date_time_unref(utc);
	g_date_time_unref(dt);
	return j;
}

/* RFC 5322 3.6.4 msg-id without its angle brackets. */
static json_t *
message_id(const struct field *f)
{
	char *id = g_mime_utils_decode_message_id(f->clean), *s;
	json_t *j;

	if (id == NULL || id[0] == '\0') {
		g_free(id);
		return json_string(f->text);
	}
	s = message_utf8_clean(id, strlen(id), NULL, NULL);
	g_free(id);
	j = json_string(s);
	free(s);
	return j;
}

/* Fills the fields that one header gives; the first of a kind wins,
 * destination fields add up. */
static void
field_use(struct mctx *c, struct fields *fs, const struct field *f)
{
	const char *n = f->name;

	if (strcasecmp(n, "Message-ID") == 0 && fs->message_id == NULL)
		fs->message_id = message_id(f);
	else if (strcasecmp(n, "Date") == 0 && fs->date == NULL) {
		fs->date = json_string(f->text);
		fs->date_iso = date_iso(c, f->text);
	} else if (strcasecmp(n, "Subject") == 0 && fs->subject == NULL)
		fs->subject = json_string(f->text);
	else if (strcasecmp(n, "From") == 0 && fs->from == NULL)
		fs->from = first_mailbox(c, f);
	else if (strcasecmp(n, "Reply-To") == 0 && fs->reply_to == NULL)
		fs->reply_to = first_mailbox(c, f);
	else if (strcasecmp(n, "To") == 0)
		addresses_add(c, fs->to, f);
	else if (strcasecmp(n, "Cc") == 0)
		addresses_add(c, fs->cc, f);
	else if (strcasecmp(n, "MIME-Version") == 0)
		fs->mime_version = true;
	else if (has_prefix_ci(n, "Content-"))
		fs->content_headers = true;
}

static int
by_offset(const void *a, const void *b)
{
	gint64 x = g_mime_header_get_offset(*(GMimeHeader *const *)a);
	gint64 y = g_mime_header_get_offset(*(GMimeHeader *const *)b);

	return x < y ? -1 : x > y;
}

/*
 * The top-level header fields in the order they were written. GMime
 * keeps the Content-* fields with the top part and the others with the
 * message; their offsets in the input put them back in order.
 */
static GMimeHeader **
headers_in_order(GMimeMessage *msg, size_t *n)
{
	GMimeHeaderList *lists[2];
	GMimeHeader **all;
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	size_t k = 0, total = 0, l;
	int i;

	lists[0] = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	lists[1] = top != NULL ? g_mime_object_get_header_list(top) : NULL;
	for (l = 0; l < 2; l++)
		if (lists[l] != NULL)
			total += (size_t)g_mime_header_list_get_count(lists[l]);
	all = xreallocarray(NULL, total + 1, sizeof(*all));
	for (l = 0; l < 2; l++)
		for (i = 0; lists[l] != NULL &&
		     i < g_mime_header_list_get_count(lists[l]);
		     i++)
			all[k++] = g_mime_header_list_get_header_at(lists[l],
			    i);
	qsort(all, k, sizeof(*all), by_offset);
	*n = k;
	return all;
}

void
headers_read(struct mctx *c, GMimeMessage *msg, struct fields *fs)
{
	GMimeHeader **hs;
	struct field f;
	json_t *h;
	char *name;
	size_t i, n;

	hs = headers_in_order(msg, &n);
	for (i = 0; i < n; i++) {
		name = message_utf8_clean(g_mime_header_get_name(hs[i]),
		    strlen(g_mime_header_get_name(hs[i])), NULL, NULL);
		f.name = name;
		field_read(c, hs[i], &f);
		field_use(c, fs, &f);
		if (json_array_size(fs->headers) < c->lim.headers) {
			h = json_object();
			json_object_set_new(h, "name", json_string(name));
			json_object_set_new(h, "value", json_string(f.text));
			json_array_append_new(fs->headers, h);
		} else
			mctx_warn(c, "too_many_headers", NULL);
		free(f.clean);
		free(f.text);
		free(name);
	}
	free(hs);
	if (!fs->mime_version && fs->content_headers)
		mctx_warn(c, "missing_mime_version", NULL);
}
