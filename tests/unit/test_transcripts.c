/*
 * test_transcripts - runs every tests/transcripts/ SMTP transcript (*.txt)
 * against the pure session core (the format is in
 * tests/transcripts/README). The config is tests/transcripts/config.yaml,
 * the one the daemon runner uses too, with each file's @limit lines.
 *
 * Each transcript runs with its client writes fed all at once and, unless
 * it uses STARTTLS (where a write ends matters, RFC 3207 sec. 4),
 * again one byte at a time. A failure names FILE:LINE with got/want; every
 * file runs so one run shows every failing file.
 */
#include <ctype.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "session_driver.h"
#include "util/units.h"
#include "util/xmalloc.h"

#define LINE_MAX_LEN 4096

/* The expected queued messages of a transcript. */
struct want_msg {
	char envelope[LINE_MAX_LEN];
	struct buf body;
	bool has_body;
};

struct run {
	const char *file;
	unsigned lineno;
	size_t step;
	struct driver d;
	struct buf pending; /* client bytes not yet sent */
	size_t out_pos;     /* replies read so far from d.out */
	struct want_msg want[DRIVER_MSGS_MAX];
	unsigned n_want;
	bool failed;
};

static struct buf esc1, esc2;

static void
tfail(struct run *r, const char *fmt, const char *got, size_t gotlen,
    const char *want, size_t wantlen)
{
	print_error("%s:%u (step %zu): %s\n--- got:\n%s\n--- want:\n%s\n",
	    r->file, r->lineno, r->step, fmt, driver_escape(got, gotlen, &esc1),
	    driver_escape(want, wantlen, &esc2));
	r->failed = true;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* R: escapes: \r \n \t \0 \\ \xHH. Returns false on a bad escape. */
static bool
unescape(const char *p, struct buf *out)
{
	int hi, lo;

	for (; *p != '\0'; p++) {
		if (*p != '\\') {
			buf_putc(out, *p);
			continue;
		}
		switch (*++p) {
		case 'r':
			buf_putc(out, '\r');
			break;
		case 'n':
			buf_putc(out, '\n');
			break;
		case 't':
			buf_putc(out, '\t');
			break;
		case '0':
			buf_putc(out, '\0');
			break;
		case '\\':
			buf_putc(out, '\\');
			break;
		case 'x':
			if ((hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
				return false;
			buf_putc(out, (char)(hi * 16 + lo));
			p += 2;
			break;
		default:
			return false;
		}
	}
	return true;
}

/* Sends what the client has written since the last read. */
static void
flush(struct run *r)
{
	if (r->pending.len == 0)
		return;
	if (!driver_feed(&r->d, r->pending.data, r->pending.len, r->step))
		tfail(r, "session stuck", "", 0, "", 0);
	buf_reset(&r->pending);
}

/* S: the next reply line must match text (exactly, or up to a '*'). */
static void
expect_reply(struct run *r, const char *text)
{
	const char *out, *crlf;
	size_t n = strlen(text), got;
	bool ok;

	flush(r);
	out = buf_str(&r->d.out) + r->out_pos;
	crlf = strstr(out, "\r\n");
	if (crlf == NULL) {
		tfail(r, "no reply", out, strlen(out), text, n);
		return;
	}
	got = (size_t)(crlf - out);
	if (n > 0 && text[n - 1] == '*')
		ok = got >= n - 1 && memcmp(out, text, n - 1) == 0;
	else
		ok = got == n && memcmp(out, text, n) == 0;
	if (!ok)
		tfail(r, "reply", out, got, text, n);
	r->out_pos += got + 2;
}

static void
want_message(struct run *r, const char *text)
{
	struct want_msg *w;

	if (r->n_want == DRIVER_MSGS_MAX) {
		tfail(r, "too many Q: lines", "", 0, "", 0);
		return;
	}
	w = &r->want[r->n_want++];
	snprintf(w->envelope, sizeof(w->envelope), "%s", text);
	buf_init(&w->body, DRIVER_BUF_MAX);
	w->has_body = false;
}

static void
want_body_line(struct run *r, const char *text)
{
	struct want_msg *w;

	if (r->n_want == 0) {
		tfail(r, "B: before Q:", "", 0, "", 0);
		return;
	}
	w = &r->want[r->n_want - 1];
	w->has_body = true;
	buf_puts(&w->body, text);
	buf_puts(&w->body, "\r\n");
}

/* One transcript line; tag is "C:", "S:"...; text follows one space. */
static void
step(struct run *r, const char *tag, const char *text)
{
	if ((strcmp(tag, "C:") == 0 || strcmp(tag, "R:") == 0) &&
	    session_event(r->d.s) == SESSION_EV_CLOSE) {
		tfail(r, "client writes after the server closed", "", 0, "", 0);
	} else if (strcmp(tag, "C:") == 0) {
		buf_puts(&r->pending, text);
		buf_puts(&r->pending, "\r\n");
	} else if (strcmp(tag, "R:") == 0) {
		if (!unescape(text, &r->pending))
			tfail(r, "bad escape in R:", text, strlen(text), "", 0);
	} else if (strcmp(tag, "S:") == 0) {
		expect_reply(r, text);
	} else if (strcmp(tag, "T:") == 0) {
		flush(r);
		if (!session_info(r->d.s)->tls)
			tfail(r, "TLS not started", "", 0, "", 0);
	} else if (strcmp(tag, "X:") == 0) {
		flush(r);
		if (session_event(r->d.s) != SESSION_EV_CLOSE)
			tfail(r, "connection still open", "", 0, "", 0);
	} else if (strcmp(tag, "Q:") == 0) {
		want_message(r, text);
	} else if (strcmp(tag, "B:") == 0) {
		want_body_line(r, text);
	} else if (tag[0] != '@') {
		tfail(r, "unknown tag", tag, strlen(tag), "", 0);
	}
}

/* @limit KEY VALUE, as in the config. */
static bool
set_limit(struct limits *l, const char *text)
{
	char key[64];
	uint64_t v;
	size_t n = strcspn(text, " ");

	if (n == 0 || n >= sizeof(key) || text[n] != ' ')
		return false;
	memcpy(key, text, n);
	key[n] = '\0';
	if (!units_parse_size(text + n + 1, &v))
		return false;
	if (strcmp(key, "message_size") == 0)
		l->message_size = v;
	else if (strcmp(key, "recipients") == 0)
		l->recipients = (unsigned)v;
	else if (strcmp(key, "errors") == 0)
		l->errors = (unsigned)v;
	else if (strcmp(key, "command_line") == 0)
		l->command_line = (size_t)v;
	else if (strcmp(key, "text_line") == 0)
		l->text_line = (size_t)v;
	else
		return false;
	return true;
}

/* Splits "TAG text" (or a bare "TAG", e.g. "C:" for an empty line). */
static void
split(char *line, const char **tag, const char **text)
{
	char *sp = strchr(line, ' ');

	*tag = line;
	*text = "";
	if (sp != NULL) {
		*sp = '\0';
		*text = sp + 1;
	}
}

/* The session's parameters from the @ lines. */
static bool
read_directives(struct run *r, char **lines, size_t n, struct config *cfg,
    struct session_params *p)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->limits = cfg->limits;
	p->hostname = cfg->hostname;
	p->client_ip = "127.0.0.1";
	for (i = 0; i < n; i++) {
		r->lineno = (unsigned)i + 1;
		if (strncmp(lines[i], "@limit ", 7) == 0 &&
		    !set_limit(&p->limits, lines[i] + 7)) {
			tfail(r, "bad @limit", lines[i], strlen(lines[i]), "",
			    0);
			return false;
		}
		if (strcmp(lines[i], "@tls") == 0)
			p->tls_available = true;
	}
	return true;
}

static void
check_messages(struct run *r)
{
	unsigned i, n = r->d.n_msgs;

	if (n != r->n_want) {
		print_error("%s (step %zu): %u messages queued, want %u\n",
		    r->file, r->step, n, r->n_want);
		r->failed = true;
	}
	for (i = 0; i < n && i < r->n_want; i++) {
		const struct driver_msg *m = &r->d.msg[i];
		const struct want_msg *w = &r->want[i];

		if (strcmp(m->envelope, w->envelope) != 0)
			tfail(r, "queued envelope", m->envelope,
			    strlen(m->envelope), w->envelope,
			    strlen(w->envelope));
		if (w->has_body &&
		    (m->len != w->body.len ||
			memcmp(m->data, w->body.data, m->len) != 0))
			tfail(r, "queued content", m->data, m->len,
			    w->body.data, w->body.len);
	}
}

/* Runs the transcript in lines[0..n); returns true when it passes. */
static bool
run_lines(const char *file, char **lines, size_t n, struct config *cfg,
    size_t step_size)
{
	struct session_params p;
	struct run r;
	const char *tag, *text;
	char line[LINE_MAX_LEN];
	size_t i;

	memset(&r, 0, sizeof(r));
	r.file = file;
	r.step = step_size;
	if (!read_directives(&r, lines, n, cfg, &p))
		return false;
	driver_init(&r.d, &p);
	buf_init(&r.pending, DRIVER_BUF_MAX);
	session_greet(r.d.s);
	driver_drain(&r.d);
	for (i = 0; i < n && !r.failed; i++) {
		r.lineno = (unsigned)i + 1;
		if (lines[i][0] == '\0' || lines[i][0] == '#')
			continue;
		snprintf(line, sizeof(line), "%s", lines[i]);
		split(line, &tag, &text);
		step(&r, tag, text);
	}
	if (!r.failed) {
		flush(&r);
		if (r.out_pos != r.d.out.len)
			tfail(&r, "replies after the last S:",
			    r.d.out.data + r.out_pos, r.d.out.len - r.out_pos,
			    "", 0);
		check_messages(&r);
	}
	for (i = 0; i < r.n_want; i++)
		buf_free(&r.want[i].body);
	buf_free(&r.pending);
	driver_free(&r.d);
	return !r.failed;
}

/* Reads a file into NUL-terminated lines (the buffer is modified). */
static char **
read_lines(const char *path, char **text, size_t *n)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096], **lines = NULL, *p, *nl;
	size_t got;

	*n = 0;
	if (f == NULL)
		return NULL;
	buf_init(&b, DRIVER_BUF_MAX);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, got);
	fclose(f);
	*text = buf_steal(&b, NULL);
	for (p = *text; *p != '\0'; p = nl + 1) {
		lines = xreallocarray(lines, *n + 1, sizeof(*lines));
		lines[(*n)++] = p;
		nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
	}
	return lines;
}

static bool
uses_tls(char **lines, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(lines[i], "@tls") == 0)
			return true;
	return false;
}

static void
test_transcripts(void **state)
{
	const char *src = getenv("MT_SOURCE_DIR");
	struct config_errors errs = { 0 };
	struct config *cfg;
	char path[4096], *text = NULL, **lines;
	unsigned failed = 0, files = 0;
	size_t i, n;
	glob_t g;

	if (src == NULL)
		src = ".";
	snprintf(path, sizeof(path), "%s/tests/transcripts/config.yaml", src);
	cfg = config_load(path, &errs);
	if (cfg == NULL && errs.n > 0)
		print_error("%s\n", errs.items[0]);
	assert_non_null(cfg);
	snprintf(path, sizeof(path), "%s/tests/transcripts/*.txt", src);
	assert_int_equal(glob(path, 0, NULL, &g), 0);
	buf_init(&esc1, DRIVER_BUF_MAX);
	buf_init(&esc2, DRIVER_BUF_MAX);
	for (i = 0; i < g.gl_pathc; i++) {
		lines = read_lines(g.gl_pathv[i], &text, &n);
		assert_non_null(lines);
		files++;
		if (!run_lines(g.gl_pathv[i], lines, n, cfg, 0))
			failed++;
		if (!uses_tls(lines, n) &&
		    !run_lines(g.gl_pathv[i], lines, n, cfg, 1))
			failed++;
		free(lines);
		free(text);
	}
	buf_free(&esc1);
	buf_free(&esc2);
	globfree(&g);
	config_unref(cfg);
	assert_true(files >= 10);
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcripts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
