/*
 * session_cmd - the SMTP command table and its check and act functions
 * (RFC 5321 4.1, with the ESMTP parameters of RFC 1870 SIZE, 6152
 * 8BITMIME, 6531 SMTPUTF8 and 3030 BDAT).
 *
 * Pure. The table (as OpenSMTPD's commands[] and Postfix's
 * smtpd_cmd_table[]) names, for each verb, the states in which it is
 * allowed, whether it ends a pipelining group (RFC 2920 3.1), a check
 * function and an act function. sess_dispatch() does the generic checks
 * once (NUL byte, unknown verb, bad sequence), so handlers never repeat
 * them; a check returns the reply that refuses the command, or NULL.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/session_int.h"
#include "util/xmalloc.h"

enum cmd_flags {
	CMD_GROUP_END = 1 << 0, /* RFC 2920: the client waits for the reply */
	CMD_CHUNK = 1 << 1,     /* octets follow, even when refused */
};

#define ST_COMMANDS (ST_CONNECTED | ST_HELO | ST_MAIL)

typedef const struct smtp_reply *cmd_check_fn(struct smtp_session *,
    const char *);
typedef void cmd_act_fn(struct smtp_session *, const char *);

struct smtp_cmd {
	const char *verb;
	unsigned states;                    /* enum sess_state bits */
	unsigned flags;                     /* enum cmd_flags */
	const struct smtp_reply *seq_error; /* reply outside those states */
	cmd_check_fn *check;                /* NULL: nothing to check */
	cmd_act_fn *act;
};

/* Client mistakes (counted against limits.errors). */
static const struct smtp_reply
    r_unknown = { 500, "5.5.2", "Error: command not recognized", false },
    r_nul = { 500, "5.5.2", "Error: NUL byte in command", false },
    r_need_helo = { 503, "5.5.1", "Error: send HELO/EHLO first", false },
    r_need_mail = { 503, "5.5.1", "Error: need MAIL command", false },
    r_nested_mail = { 503, "5.5.1", "Error: nested MAIL command", false },
    r_txn_open = { 503, "5.5.1", "Error: MAIL transaction in progress", false },
    r_data_bdat = { 503, "5.5.1", "Error: DATA after BDAT", false },
    r_ehlo_syntax = { 501, "5.5.4", "Syntax: EHLO hostname", false },
    r_helo_syntax = { 501, "5.5.4", "Syntax: HELO hostname", false },
    r_mail_syntax = { 501, "5.5.4", "Syntax: MAIL FROM:<address>", false },
    r_rcpt_syntax = { 501, "5.5.4", "Syntax: RCPT TO:<address>", false },
    r_bad_sender = { 501, "5.1.7", "Bad sender address syntax", false },
    r_bad_rcpt = { 501, "5.1.3", "Bad recipient address syntax", false },
    r_utf8_sender = { 553, "5.6.7",
	    "Error: non-ASCII sender address "
	    "requires SMTPUTF8",
	    false },
    r_utf8_rcpt = { 553, "5.6.7",
	    "Error: non-ASCII recipient address "
	    "requires SMTPUTF8",
	    false },
    r_mail_param = { 555, "5.5.4", "Error: unsupported MAIL parameter", false },
    r_rcpt_param = { 555, "5.5.4", "Error: unsupported RCPT parameter", false },
    r_body_type = { 555, "5.5.4", "Error: unsupported BODY type", false },
    r_param_syntax = { 501, "5.5.4", "Error: bad MAIL parameter syntax",
	    false },
    r_no_args = { 501, "5.5.4", "Syntax: command takes no arguments", false },
    r_vrfy_syntax = { 501, "5.5.4", "Syntax: VRFY address", false },
    r_bdat_syntax = { 501, "5.5.4", "Syntax: BDAT count [LAST]", false },
    r_not_impl = { 502, "5.5.1", "Error: command not implemented", false },
    r_tls_active = { 503, "5.5.1", "Error: TLS already active", false },
    r_tls_ehlo = { 503, "5.5.1", "Error: send EHLO first", false };

/* Decisions about the mail (not counted). */
static const struct smtp_reply r_no_rcpts = { 554, "5.5.1",
	"Error: no valid recipients", true },
			       r_too_many = { 452, "4.5.3",
				       "Error: too many recipients", true },
			       r_size = { 552, "5.3.4",
				       "Message size exceeds fixed limit",
				       true };

/* Extra RCPT log entries kept beyond limits.recipients. */
#define RCPT_LOG_SLACK 50

/* s starts with the ASCII prefix p, ignoring case. */
static bool
has_prefix_ci(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

static const char *
skip_spaces(const char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

/*
 * RFC 5321 4.1.1.1: EHLO takes a Domain or an address-literal. Accepted
 * leniently (letters, digits, '-', '.', '_' as real hosts send them, or a
 * bracketed literal of printable ASCII), but always one word of printable
 * ASCII, because it is copied into the Received: header.
 */
static bool
helo_arg_valid(const char *a)
{
	size_t i, n = strlen(a);

	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return false;
	if (a[0] == '[') {
		if (n < 3 || a[n - 1] != ']')
			return false;
		for (i = 1; i < n - 1; i++)
			if (a[i] < 0x21 || a[i] > 0x7e || a[i] == '[' ||
			    a[i] == ']' || a[i] == '\\')
				return false;
		return true;
	}
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)a[i]) && a[i] != '-' &&
		    a[i] != '.' && a[i] != '_')
			return false;
	return true;
}

static const struct smtp_reply *
check_ehlo(struct smtp_session *s, const char *arg)
{
	return helo_arg_valid(arg) ? NULL : &r_ehlo_syntax;
}

static const struct smtp_reply *
check_helo(struct smtp_session *s, const char *arg)
{
	return helo_arg_valid(arg) ? NULL : &r_helo_syntax;
}

static const struct smtp_reply *
check_no_args(struct smtp_session *s, const char *arg)
{
	return *arg != '\0' ? &r_no_args : NULL;
}

/* RFC 5321 4.1.4: EHLO and HELO also reset the transaction. */
static void
greeted(struct smtp_session *s, const char *arg, bool esmtp)
{
	sess_txn_end(s, "rset", NULL);
	sess_set_helo(s, arg, esmtp);
	sess_set_state(s, ST_HELO);
}

static void
act_ehlo(struct smtp_session *s, const char *arg)
{
	greeted(s, arg, true);
	sess_reply(s, 250, NULL,
	    "%s\nPIPELINING\nSIZE %llu\n8BITMIME\n"
	    "SMTPUTF8\nENHANCEDSTATUSCODES\nCHUNKING%s",
	    s->hostname, (unsigned long long)s->limits.message_size,
	    s->tls_available && !s->conn.info.tls ? "\nSTARTTLS" : "");
}

static void
act_helo(struct smtp_session *s, const char *arg)
{
	greeted(s, arg, false);
	sess_reply(s, 250, NULL, "%s", s->hostname);
}

struct mail_params {
	uint64_t size;
	bool has_size, has_body, smtputf8;
	enum body_type body;
};

/* Decimal digits to uint64; saturates at UINT64_MAX. */
static bool
parse_u64(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

static bool
word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

/* One esmtp-param of MAIL (RFC 5321 4.1.2): keyword[=value]. */
static const struct smtp_reply *
mail_param(const char *kw, size_t kwlen, const char *val, size_t vlen,
    bool has_val, struct mail_params *mp)
{
	if (word_is(kw, kwlen, "SIZE")) {
		/* RFC 1870 6: SIZE=digits */
		if (mp->has_size || !has_val ||
		    !parse_u64(val, vlen, &mp->size))
			return &r_param_syntax;
		mp->has_size = true;
	} else if (word_is(kw, kwlen, "BODY")) {
		/* RFC 6152: 7BIT or 8BITMIME; BINARYMIME is not offered */
		if (mp->has_body || !has_val)
			return &r_param_syntax;
		if (word_is(val, vlen, "7BIT"))
			mp->body = BODY_7BIT;
		else if (word_is(val, vlen, "8BITMIME"))
			mp->body = BODY_8BITMIME;
		else
			return &r_body_type;
		mp->has_body = true;
	} else if (word_is(kw, kwlen, "SMTPUTF8")) {
		/* RFC 6531 3.4: no value */
		if (mp->smtputf8 || has_val)
			return &r_param_syntax;
		mp->smtputf8 = true;
	} else {
		return &r_mail_param;
	}
	return NULL;
}

/* Parses " KEY[=VALUE]..." after the reverse-path. */
static const struct smtp_reply *
mail_params_parse(const char *p, struct mail_params *mp)
{
	const struct smtp_reply *r;
	const char *end, *eq;

	memset(mp, 0, sizeof(*mp));
	for (p = skip_spaces(p); *p != '\0'; p = skip_spaces(end)) {
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == p)
			return &r_param_syntax;
		if (eq != NULL)
			r = mail_param(p, (size_t)(eq - p), eq + 1,
			    (size_t)(end - eq - 1), true, mp);
		else
			r = mail_param(p, (size_t)(end - p), NULL, 0, false,
			    mp);
		if (r != NULL)
			return r;
	}
	return NULL;
}

/*
 * RFC 5321 4.1.1.2: "MAIL FROM:<reverse-path> [params]". Like Postfix (and
 * unlike the RFC grammar) spaces between the colon and the path are
 * accepted: broken clients send them and the path syntax stays strict.
 */
static void
act_mail(struct smtp_session *s, const char *arg)
{
	const struct smtp_reply *r;
	struct mail_params mp;
	struct mailbox from;
	const char *p;
	size_t used;

	if (!has_prefix_ci(arg, "FROM:")) {
		sess_reply_canned(s, &r_mail_syntax);
		return;
	}
	p = skip_spaces(arg + 5);
	/* UTF-8 is parsed here and refused below unless SMTPUTF8 follows. */
	if (addr_parse_path(p, strlen(p), true, true, &from, &used) !=
		ADDR_OK ||
	    (p[used] != '\0' && p[used] != ' ')) {
		sess_reply_canned(s, &r_bad_sender);
		return;
	}
	r = mail_params_parse(p + used, &mp);
	if (r == NULL && p[used] != '\0' && !s->conn.info.esmtp)
		r = &r_mail_param; /* parameters are ESMTP: EHLO first */
	if (r == NULL && from.has_utf8 && !mp.smtputf8)
		r = &r_utf8_sender; /* RFC 6531 3.6 */
	if (r == NULL && mp.size > s->limits.message_size)
		r = &r_size; /* RFC 1870 6.1 */
	if (r != NULL) {
		sess_reply_canned(s, r);
		return;
	}
	sess_txn_begin(s, &from);
	s->txn->t.smtputf8 = mp.smtputf8;
	s->txn->t.body = mp.body;
	s->txn->t.declared_size = mp.size;
	sess_set_state(s, ST_MAIL);
	sess_reply(s, 250, "2.1.0", "Ok");
}

/* The address as given, without the angle brackets (logs add them). */
static void
rcpt_address(const char *addr, char out[ADDR_PATH_MAX + 1])
{
	size_t n;

	if (*addr == '<')
		addr++;
	n = strcspn(addr, ">");
	if (n > ADDR_PATH_MAX)
		n = ADDR_PATH_MAX;
	memcpy(out, addr, n);
	out[n] = '\0';
}

/*
 * Tells the shell's RCPT callback about the reply written since output
 * offset `from` (session_set_rcpt_cb()).
 */
void
sess_rcpt_report(struct smtp_session *s, size_t from, const char *addr,
    int code, const char *enhanced, const char *reason)
{
	struct session_rcpt_reply r;
	char address[ADDR_PATH_MAX + 1];

	if (s->rcpt_cb == NULL || s->out.len < from + 2)
		return;
	rcpt_address(addr, address);
	r.address = address;
	r.code = code;
	r.enhanced = enhanced;
	r.reason = reason;
	r.reply = s->out.data + from;
	r.reply_len = s->out.len - from - 2; /* the last CRLF */
	s->rcpt_cb(s->rcpt_ctx, &s->conn.info, &s->txn->t, &r);
}

/* Records one RCPT attempt for the transaction log line (bounded). */
static void
rcpt_log(struct smtp_session *s, const char *addr, int code,
    const char *enhanced, const char *reason)
{
	struct txn *t = s->txn;
	struct smtp_rcpt_log *l;

	if (t->t.n_log >= (size_t)s->limits.recipients + RCPT_LOG_SLACK) {
		t->t.n_log_dropped++;
		return;
	}
	if (t->t.n_log == t->log_cap) {
		t->log_cap = t->log_cap ? t->log_cap * 2 : 4;
		t->t.log = xreallocarray(t->t.log, t->log_cap,
		    sizeof(*t->t.log));
	}
	l = &t->t.log[t->t.n_log++];
	rcpt_address(addr, l->address);
	l->code = code;
	snprintf(l->enhanced, sizeof(l->enhanced), "%s", enhanced);
	l->reason = reason;
}

static void
rcpt_refuse(struct smtp_session *s, const char *addr,
    const struct smtp_reply *r, const char *reason)
{
	size_t from = s->out.len;

	rcpt_log(s, addr, r->code, r->enhanced, reason);
	sess_reply_canned(s, r);
	sess_rcpt_report(s, from, addr, r->code, r->enhanced, reason);
}

static void
rcpt_add(struct smtp_session *s, const struct mailbox *mbox,
    const struct route_result *res, const struct cname_rewrite *rw)
{
	struct txn *t = s->txn;
	size_t i;

	/* A repeated recipient is accepted once: one flow run each. */
	for (i = 0; i < t->t.n_rcpts; i++)
		if (strcmp(t->t.rcpts[i].mbox.address, mbox->address) == 0)
			return;
	if (t->t.n_rcpts == t->rcpt_cap) {
		t->rcpt_cap = t->rcpt_cap ? t->rcpt_cap * 2 : 2;
		t->t.rcpts = xreallocarray(t->t.rcpts, t->rcpt_cap,
		    sizeof(*t->t.rcpts));
	}
	t->t.rcpts[t->t.n_rcpts].mbox = *mbox;
	t->t.rcpts[t->t.n_rcpts].route = *res;
	t->t.rcpts[t->t.n_rcpts].cname = *rw;
	t->t.n_rcpts++;
}

/* CNAME recovery after the router (route/cname.h): the transaction so far. */
static void
rcpt_cname(struct smtp_session *s, const struct route_query *q,
    struct route_result *res, struct cname_rewrite *rw)
{
	struct cname_txn ct = { s->txn->t.n_rcpts, false };
	size_t i;

	for (i = 0; i < s->txn->t.n_rcpts; i++)
		if (s->txn->t.rcpts[i].cname.evidence == CNAME_PENDING)
			ct.provisional = true;
	cname_rcpt(s->cfg, q, &ct, res, rw);
}

/* RFC 5321 4.1.1.3: "RCPT TO:<forward-path>"; decided by the router. */
static void
act_rcpt(struct smtp_session *s, const char *arg)
{
	bool utf8 = s->txn->t.smtputf8;
	struct route_result res;
	struct cname_rewrite rw;
	struct route_query q;
	struct mailbox rcpt;
	enum addr_status st;
	const char *p;
	size_t used, from;

	if (!has_prefix_ci(arg, "TO:")) {
		rcpt_refuse(s, arg, &r_rcpt_syntax, "syntax");
		return;
	}
	p = skip_spaces(arg + 3);
	st = addr_parse_path(p, strlen(p), false, utf8, &rcpt, &used);
	if (st == ADDR_UTF8_NOT_ALLOWED || (st == ADDR_BAD_UTF8 && !utf8))
		rcpt_refuse(s, p, &r_utf8_rcpt, "smtputf8");
	else if (st != ADDR_OK || (p[used] != '\0' && p[used] != ' '))
		rcpt_refuse(s, p, &r_bad_rcpt, "syntax");
	else if (*skip_spaces(p + used) != '\0')
		rcpt_refuse(s, p, &r_rcpt_param, "params");
	else if (s->txn->t.n_rcpts >= s->limits.recipients)
		rcpt_refuse(s, p, &r_too_many,
		    "too_many"); /* RFC 5321 4.5.3.1.8 */
	else {
		q.mail_from = &s->txn->t.from;
		q.rcpt = &rcpt;
		route_rcpt(s->cfg, &q, &res);
		rcpt_cname(s, &q, &res, &rw);
		rcpt_log(s, rcpt.address, res.code, res.enhanced, res.reason);
		/* A routing decision is not a client mistake: not counted. */
		from = s->out.len;
		sess_reply(s, res.code, res.enhanced, "%s", res.text);
		sess_rcpt_report(s, from, rcpt.address, res.code, res.enhanced,
		    res.reason);
		if (res.verdict == ROUTE_OK)
			rcpt_add(s, &rcpt, &res, &rw);
	}
}

static const struct smtp_reply *
check_data(struct smtp_session *s, const char *arg)
{
	if (*arg != '\0')
		return &r_no_args;
	if (s->txn->chunking)
		return &r_data_bdat; /* RFC 3030 3: no mixing */
	if (s->txn->t.n_rcpts == 0)
		return &r_no_rcpts;
	return NULL;
}

static void
act_data(struct smtp_session *s, const char *arg)
{
	sess_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	data_begin(s);
}

/* RFC 3030 2: "BDAT" SP chunk-size [SP "LAST"]. */
static bool
bdat_parse(const char *arg, uint64_t *size, bool *last)
{
	size_t n = strspn(arg, "0123456789");
	const char *rest = arg + n;

	if (n == 0 || n > 19 || !parse_u64(arg, n, size))
		return false;
	*last = false;
	if (*rest == '\0')
		return true;
	rest = skip_spaces(rest);
	if (rest == arg + n || strcasecmp(rest, "LAST") != 0)
		return false;
	*last = true;
	return true;
}

static const struct smtp_reply *
check_bdat(struct smtp_session *s, const char *arg)
{
	uint64_t size;
	bool last;

	if (!bdat_parse(arg, &size, &last))
		return &r_bdat_syntax;
	if (s->txn->t.n_rcpts == 0)
		return &r_no_rcpts;
	return NULL;
}

static void
act_bdat(struct smtp_session *s, const char *arg)
{
	uint64_t size;
	bool last;

	bdat_parse(arg, &size, &last);
	bdat_begin(s, size, last, NULL);
}

static void
act_rset(struct smtp_session *s, const char *arg)
{
	sess_txn_end(s, "rset", NULL);
	sess_set_state(s, sess_idle_state(s));
	sess_reply(s, 250, "2.0.0", "Ok");
}

static void
act_noop(struct smtp_session *s, const char *arg)
{
	sess_reply(s, 250, "2.0.0", "Ok");
}

static void
act_quit(struct smtp_session *s, const char *arg)
{
	sess_reply(s, 221, "2.0.0", "Bye");
	sess_closed(s);
}

static const struct smtp_reply *
check_vrfy(struct smtp_session *s, const char *arg)
{
	return *arg == '\0' ? &r_vrfy_syntax : NULL;
}

/* RFC 5321 3.5.3: 252 says nothing about whether the address exists. */
static void
act_vrfy(struct smtp_session *s, const char *arg)
{
	sess_reply(s, 252, "2.5.0",
	    "Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

static void
act_expn(struct smtp_session *s, const char *arg)
{
	sess_reply_canned(s, &r_not_impl);
}

static void
act_help(struct smtp_session *s, const char *arg)
{
	sess_reply(s, 214, "2.0.0",
	    "mailtrigger: EHLO HELO MAIL RCPT DATA "
	    "BDAT RSET NOOP QUIT VRFY HELP%s; see RFC 5321",
	    s->tls_available ? " STARTTLS" : "");
}

/* RFC 3207 4: STARTTLS takes no argument, once, outside a transaction. */
static const struct smtp_reply *
check_starttls(struct smtp_session *s, const char *arg)
{
	if (!s->tls_available)
		return &r_not_impl;
	if (s->conn.info.tls)
		return &r_tls_active;
	if (*arg != '\0')
		return &r_no_args;
	if (s->state == ST_MAIL)
		return &r_txn_open;
	if (s->state == ST_CONNECTED)
		return &r_tls_ehlo;
	return NULL;
}

static void
act_starttls(struct smtp_session *s, const char *arg)
{
	sess_reply(s, 220, "2.0.0", "Ready to start TLS");
	sess_set_state(s, ST_STARTTLS);
}

static const struct smtp_cmd commands[] = {
	{ "EHLO", ST_COMMANDS, CMD_GROUP_END, NULL, check_ehlo, act_ehlo },
	{ "HELO", ST_COMMANDS, CMD_GROUP_END, NULL, check_helo, act_helo },
	{ "MAIL", ST_HELO, 0, &r_nested_mail, NULL, act_mail },
	{ "RCPT", ST_MAIL, 0, &r_need_mail, NULL, act_rcpt },
	{ "DATA", ST_MAIL, CMD_GROUP_END, &r_need_mail, check_data, act_data },
	{ "BDAT", ST_MAIL, CMD_CHUNK, &r_need_mail, check_bdat, act_bdat },
	{ "RSET", ST_COMMANDS, 0, NULL, check_no_args, act_rset },
	{ "NOOP", ST_COMMANDS, CMD_GROUP_END, NULL, NULL, act_noop },
	{ "QUIT", ST_COMMANDS, CMD_GROUP_END, NULL, check_no_args, act_quit },
	{ "VRFY", ST_COMMANDS, CMD_GROUP_END, NULL, check_vrfy, act_vrfy },
	{ "EXPN", ST_COMMANDS, CMD_GROUP_END, NULL, NULL, act_expn },
	{ "HELP", ST_COMMANDS, 0, NULL, NULL, act_help },
	{ "STARTTLS", ST_COMMANDS, CMD_GROUP_END, NULL, check_starttls,
	    act_starttls },
};

/* Finds the verb at the start of line; *arg is what follows its spaces. */
static const struct smtp_cmd *
cmd_lookup(const char *line, const char **arg)
{
	size_t n = strcspn(line, " "), i;

	for (i = 0; i < NELEM(commands); i++) {
		if (word_is(line, n, commands[i].verb)) {
			*arg = skip_spaces(line + n);
			return &commands[i];
		}
	}
	return NULL;
}

/*
 * Runs one command line (without its CRLF; line[len] is NUL). The line
 * may be changed: trailing spaces are cut.
 */
void
sess_dispatch(struct smtp_session *s, char *line, size_t len)
{
	const struct smtp_reply *err = NULL;
	const struct smtp_cmd *cmd;
	const char *arg;
	uint64_t size;
	bool last;

	if (memchr(line, '\0', len) != NULL) {
		sess_reply_canned(s, &r_nul);
		return;
	}
	while (len > 0 && line[len - 1] == ' ')
		line[--len] = '\0';
	cmd = cmd_lookup(line, &arg);
	if (cmd == NULL) {
		sess_reply_canned(s, &r_unknown);
		return;
	}
	if (cmd->flags & CMD_GROUP_END)
		s->group_end = true;
	if (!(s->state & cmd->states))
		err = s->state == ST_CONNECTED ? &r_need_helo : cmd->seq_error;
	else if (cmd->check != NULL)
		err = cmd->check(s, arg);
	if (err == NULL)
		cmd->act(s, arg);
	else if ((cmd->flags & CMD_CHUNK) && bdat_parse(arg, &size, &last))
		bdat_begin(s, size, last, err); /* skip the octets first */
	else
		sess_reply_canned(s, err);
}
