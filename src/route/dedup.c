/*
 * dedup - default and template dedup keys.
 *
 * Pure. See dedup.h. The normalised fields are hashed in full (each is
 * measured first, then written to a buffer of that size), so two values
 * that differ only past some length still differ. Each field is framed by
 * a presence byte and its 8-byte length, so no content can forge a field
 * boundary.
 */
#include "route/dedup.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route/headers.h"
#include "util/xmalloc.h"

#define DEDUP_VERSION "mailtrigger-dedup-1"

/* A sink: either a bounded string or a running length (no output). */
struct sink {
	char *out;
	size_t size, len;
};

static void
sink_put(struct sink *k, char c)
{
	if (k->out != NULL && k->len + 1 < k->size)
		k->out[k->len] = c;
	k->len++;
}

static size_t
sink_end(struct sink *k)
{
	if (k->out != NULL && k->size > 0)
		k->out[k->len < k->size ? k->len : k->size - 1] = '\0';
	return k->len;
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The inside of the first <...> in s, or s itself; sets *len. */
static const char *
angle(const char *s, size_t *len)
{
	const char *lt, *gt;

	s = headers_skip_cfws(s);
	lt = strchr(s, '<');
	if (lt != NULL) {
		gt = strchr(lt + 1, '>');
		*len = gt != NULL ? (size_t)(gt - lt - 1) : strlen(lt + 1);
		return lt + 1;
	}
	*len = strlen(s);
	return s;
}

size_t
dedup_norm_message_id(const char *s, char *out, size_t size)
{
	struct sink k = { out, size, 0 };
	const char *at, *p;
	size_t i, len;

	p = angle(s, &len);
	at = NULL;
	for (i = 0; i < len; i++)
		if (p[i] == '@')
			at = p + i;
	for (i = 0; i < len; i++) {
		if (p[i] == '(') {
			/* A comment inside <>: not part of the id. */
			i = (size_t)(headers_skip_cfws(p + i) - p) - 1;
			if (i >= len)
				break;
			continue;
		}
		if (ws(p[i]))
			continue;
		/* RFC 5322 3.6.4: the id-right is a domain, case-free. */
		sink_put(&k, at != NULL && p + i > at ? lower(p[i]) : p[i]);
	}
	return sink_end(&k);
}

size_t
dedup_norm_from(const char *s, char *out, size_t size)
{
	struct sink k = { out, size, 0 };
	const char *p;
	size_t i, len;

	p = angle(s, &len);
	for (i = 0; i < len; i++)
		if (!ws(p[i]))
			sink_put(&k, lower(p[i]));
	return sink_end(&k);
}

size_t
dedup_norm_date(const char *s, char *out, size_t size)
{
	struct sink k = { out, size, 0 };
	bool gap = false;

	while (ws(*s))
		s++;
	for (; *s != '\0'; s++) {
		if (ws(*s)) {
			gap = true;
			continue;
		}
		if (gap)
			sink_put(&k, ' ');
		gap = false;
		sink_put(&k, *s);
	}
	return sink_end(&k);
}

typedef size_t (*norm_fn)(const char *, char *, size_t);

/* Feeds one framed field: presence byte, 8-byte big-endian length, data. */
static void
feed(EVP_MD_CTX *md, const void *p, size_t len, bool present)
{
	unsigned char frame[9];
	uint64_t n = len;
	int i;

	frame[0] = present ? 1 : 0;
	for (i = 8; i >= 1; i--) {
		frame[i] = (unsigned char)(n & 0xff);
		n >>= 8;
	}
	EVP_DigestUpdate(md, frame, sizeof(frame));
	if (len > 0)
		EVP_DigestUpdate(md, p, len);
}

static void
feed_str(EVP_MD_CTX *md, const char *s)
{
	feed(md, s, s != NULL ? strlen(s) : 0, s != NULL);
}

static void
feed_norm(EVP_MD_CTX *md, const char *s, norm_fn fn)
{
	size_t len;
	char *buf;

	if (s == NULL) {
		feed(md, NULL, 0, false);
		return;
	}
	len = fn(s, NULL, 0);
	buf = xmalloc(len + 1);
	fn(s, buf, len + 1);
	feed(md, buf, len, true);
	free(buf);
}

/* Length of line s[0..len) without trailing white space (and CR). */
static size_t
trim_line(const char *s, size_t len)
{
	while (len > 0 &&
	    (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	return len;
}

/*
 * SHA-256 of the body as lines joined by LF: CRLF or LF ends a line,
 * trailing white space goes, blank lines at the end go.
 */
static void
body_digest(const char *text, size_t len, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const char *p = text, *end = text + len, *nl;
	size_t line, pending = 0;
	unsigned i;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort(); /* out of memory or no SHA-256: cannot continue */
	while (text != NULL && p <= end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line = trim_line(p, (size_t)((nl != NULL ? nl : end) - p));
		if (line > 0) {
			for (i = 0; i < pending; i++)
				EVP_DigestUpdate(md, "\n", 1);
			pending = 0;
			EVP_DigestUpdate(md, p, line);
		}
		if (nl == NULL)
			break;
		pending++;
		p = nl + 1;
	}
	EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
}

static void
hex_final(EVP_MD_CTX *md, char out[DEDUP_KEY_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	size_t i;

	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	for (i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[64] = '\0';
}

/* A digest context with the version and the instance and trigger. */
static EVP_MD_CTX *
scope_begin(const struct dedup_input *in, const char *kind)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort(); /* out of memory or no SHA-256: cannot continue */
	feed_str(md, DEDUP_VERSION);
	feed_str(md, kind);
	feed_str(md, in->instance);
	feed_str(md, in->trigger);
	return md;
}

void
dedup_default_key(const struct dedup_input *in, char out[DEDUP_KEY_SIZE])
{
	EVP_MD_CTX *md = scope_begin(in, "default");
	unsigned char body[32];

	feed_norm(md, in->message_id, dedup_norm_message_id);
	feed_norm(md, in->from, dedup_norm_from);
	feed_norm(md, in->date, dedup_norm_date);
	body_digest(in->text, in->text != NULL ? in->text_len : 0, body);
	feed(md, body, sizeof(body), in->text != NULL);
	hex_final(md, out);
}

void
dedup_scoped_key(const struct dedup_input *in, const char *key, size_t len,
    char out[DEDUP_KEY_SIZE])
{
	EVP_MD_CTX *md = scope_begin(in, "template");

	feed(md, key, len, true);
	hex_final(md, out);
}
