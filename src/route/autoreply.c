/*
 * autoreply - detection of automatic mail (RFC 3834, RFC 6522, de facto
 * headers).
 *
 * Pure. See autoreply.h. A keyword is the token after leading CFWS, up
 * to white space, '(' or ';' (RFC 3834 section 5.1 allows parameters
 * after the keyword: "auto-replied; owner-email=..."). An Auto-Submitted
 * field with no keyword at all (empty or only a comment) is malformed; it
 * is not treated as automatic, because "no" is what its absence means.
 */
#include "route/autoreply.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The keyword at s: sets *len; returns its start. */
static const char *
keyword(const char *s, size_t *len)
{
	size_t n = 0;

	s = headers_skip_cfws(s);
	while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t' && s[n] != '\r' &&
	    s[n] != '\n' && s[n] != '(' && s[n] != ';')
		n++;
	*len = n;
	return s;
}

static bool
keyword_is(const char *k, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(k, want, len) == 0;
}

/* reason = "NAME: KEYWORD", with the keyword cut and made printable. */
static void
set_reason(struct autoreply_verdict *v, const char *name, const char *k,
    size_t len)
{
	char word[48];
	size_t i;

	if (len >= sizeof(word))
		len = sizeof(word) - 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)k[i];

		word[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	word[len] = '\0';
	v->automatic = true;
	if (len > 0)
		snprintf(v->reason, sizeof(v->reason), "%s: %s", name, word);
	else
		snprintf(v->reason, sizeof(v->reason), "%s", name);
}

static bool
null_sender(const char *mail_from)
{
	return mail_from != NULL &&
	    (mail_from[0] == '\0' || strcmp(mail_from, "<>") == 0);
}

static bool
check_auto_submitted(const struct header_ref *h, size_t n,
    struct autoreply_verdict *v)
{
	const struct header_ref *f;
	const char *k;
	size_t len;

	f = headers_find(h, n, "Auto-Submitted");
	if (f == NULL)
		return false;
	k = keyword(f->value, &len);
	if (len == 0 || keyword_is(k, len, "no"))
		return false;
	set_reason(v, "Auto-Submitted", k, len);
	return true;
}

static bool
check_presence(const struct header_ref *h, size_t n, const char *name,
    struct autoreply_verdict *v)
{
	const struct header_ref *f;
	const char *k;
	size_t len;

	f = headers_find(h, n, name);
	if (f == NULL)
		return false;
	k = keyword(f->value, &len);
	set_reason(v, name, k, len);
	return true;
}

static bool
check_precedence(const struct header_ref *h, size_t n,
    struct autoreply_verdict *v)
{
	static const char *const bad[] = { "bulk", "junk", "auto_reply" };
	const struct header_ref *f;
	const char *k;
	size_t i, len;

	f = headers_find(h, n, "Precedence");
	if (f == NULL)
		return false;
	k = keyword(f->value, &len);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (keyword_is(k, len, bad[i])) {
			set_reason(v, "Precedence", k, len);
			return true;
		}
	}
	return false;
}

/* RFC 2045 section 5.1: type "/" subtype, CFWS allowed around them. */
static bool
check_report(const struct header_ref *h, size_t n, const char *ct,
    struct autoreply_verdict *v)
{
	static const char want[] = "multipart/report";
	const struct header_ref *f;
	char t[sizeof(want)];
	size_t len = 0;
	const char *s;

	if (ct == NULL) {
		f = headers_find(h, n, "Content-Type");
		if (f == NULL)
			return false;
		ct = f->value;
	}
	s = headers_skip_cfws(ct);
	while (*s != '\0' && *s != ';' && len < sizeof(t) - 1) {
		if (*s == '(' || *s == ' ' || *s == '\t')
			s = headers_skip_cfws(s);
		else
			t[len++] = *s++;
	}
	t[len] = '\0';
	s = headers_skip_cfws(s);
	if (strcasecmp(t, want) != 0 || (*s != '\0' && *s != ';'))
		return false;
	set_reason(v, "Content-Type", want, strlen(want));
	return true;
}

void
autoreply_detect(const char *mail_from, const struct header_ref *hdrs,
    size_t n_hdrs, const char *content_type, struct autoreply_verdict *v)
{
	v->automatic = false;
	v->reason[0] = '\0';
	if (null_sender(mail_from)) {
		set_reason(v, "null sender", "", 0);
		return;
	}
	if (check_auto_submitted(hdrs, n_hdrs, v) ||
	    check_presence(hdrs, n_hdrs, "X-Autoreply", v) ||
	    check_presence(hdrs, n_hdrs, "X-Autorespond", v) ||
	    check_precedence(hdrs, n_hdrs, v))
		return;
	(void)check_report(hdrs, n_hdrs, content_type, v);
}
