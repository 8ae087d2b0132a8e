/*
 * test_dnsparse - dns_parse_response() on well-formed and hostile DNS
 * messages (RFC 1035 4.1).
 *
 * Each row builds one message with the small writer below and states
 * whether it must parse, the response code, and every kept record as one
 * string ("TYPE owner ttl [pref] data", joined by " | "), so a failure
 * prints got/want.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dns/resolve.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct msg {
	unsigned char b[4096];
	size_t n;
};

static void
put8(struct msg *m, unsigned v)
{
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void
put32(struct msg *m, unsigned long v)
{
	put16(m, (unsigned)(v >> 16));
	put16(m, (unsigned)(v & 0xffff));
}

static void
putbytes(struct msg *m, const char *s, size_t n)
{
	memcpy(m->b + m->n, s, n);
	m->n += n;
}

/* An uncompressed name: "a.b" -> 1 a 1 b 0; "" is the root. */
static void
putname(struct msg *m, const char *s)
{
	const char *dot;
	size_t l;

	while (*s != '\0') {
		dot = strchr(s, '.');
		l = dot ? (size_t)(dot - s) : strlen(s);
		put8(m, (unsigned)l);
		putbytes(m, s, l);
		s += l + (dot ? 1 : 0);
	}
	put8(m, 0);
}

/* Header and one question for qname/qtype. Question name at offset 12. */
static void
start(struct msg *m, unsigned rcode, unsigned an, const char *qname,
    unsigned qtype)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180 | rcode);
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	putname(m, qname);
	put16(m, qtype);
	put16(m, 1);
}

/* Record header with the owner as a pointer to the question name. */
static void
rrhead(struct msg *m, unsigned type, unsigned long ttl, unsigned rdlen)
{
	put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, rdlen);
}

static void
b_mx(struct msg *m)
{
	start(m, 0, 2, "acme.example", DNS_T_MX);
	rrhead(m, DNS_T_MX, 300, 2 + 16);
	put16(m, 10);
	putname(m, "lb1.mx.example");
	rrhead(m, DNS_T_MX, 300, 2 + 6);
	put16(m, 20);
	put8(m, 3);
	putbytes(m, "lb2", 3);
	put16(m, 0xc00c + 5); /* "example" inside the question name */
}

static void
b_null_mx(struct msg *m)
{
	start(m, 0, 1, "null.example", DNS_T_MX);
	rrhead(m, DNS_T_MX, 60, 3);
	put16(m, 0);
	put8(m, 0);
}

static void
b_cname_a_aaaa(struct msg *m)
{
	start(m, 0, 3, "www.example", DNS_T_A);
	rrhead(m, DNS_T_CNAME, 120, 14);
	putname(m, "host.example");
	rrhead(m, DNS_T_A, 0x80000005, 4); /* RFC 2181 8: top bit -> 0 */
	put32(m, 0xc0000201);
	rrhead(m, DNS_T_AAAA, 7, 16);
	put32(m, 0x20010db8);
	put32(m, 0);
	put32(m, 0);
	put32(m, 1);
}

static void
b_txt(struct msg *m)
{
	start(m, 0, 1, "t.example", DNS_T_TXT);
	rrhead(m, DNS_T_TXT, 5, 10);
	put8(m, 4);
	putbytes(m, "v=sp", 4);
	put8(m, 4);
	putbytes(m, "f1 -", 4);
}

static void
b_nxdomain(struct msg *m)
{
	start(m, 3, 0, "nx.example", DNS_T_MX);
}

static void
b_skip_unknown(struct msg *m)
{
	start(m, 0, 2, "s.example", DNS_T_MX);
	rrhead(m, 46 /* RRSIG */, 5, 3);
	put8(m, 1);
	put8(m, 2);
	put8(m, 3);
	rrhead(m, DNS_T_A, 5, 4);
	put32(m, 0x7f000001);
}

static void
b_many(struct msg *m)
{
	unsigned i;

	start(m, 0, 40, "many.example", DNS_T_A);
	for (i = 0; i < 40; i++) {
		rrhead(m, DNS_T_A, 1, 4);
		put32(m, 0x0a000000 + i);
	}
}

static void
b_ptr_loop(struct msg *m)
{
	start(m, 0, 1, "l.example", DNS_T_A);
	put16(m, (unsigned)(0xc000 | m->n)); /* points at itself */
	put16(m, DNS_T_A);
}

static void
b_ptr_forward(struct msg *m)
{
	start(m, 0, 1, "f.example", DNS_T_CNAME);
	rrhead(m, DNS_T_CNAME, 5, 2);
	put16(m, (unsigned)(0xc000 | (m->n + 10)));
}

static void
b_truncated_rdata(struct msg *m)
{
	start(m, 0, 1, "t.example", DNS_T_A);
	rrhead(m, DNS_T_A, 5, 4);
	put16(m, 0x7f00);
}

static void
b_bad_a_len(struct msg *m)
{
	start(m, 0, 1, "a.example", DNS_T_A);
	rrhead(m, DNS_T_A, 5, 3);
	put16(m, 0x7f00);
	put8(m, 1);
}

static void
b_mx_rdlen_mismatch(struct msg *m)
{
	start(m, 0, 1, "m.example", DNS_T_MX);
	rrhead(m, DNS_T_MX, 5, 2 + 11 + 2); /* 2 octets after the name */
	put16(m, 10);
	putname(m, "a.example");
	put16(m, 0);
}

static void
b_label_nul(struct msg *m)
{
	start(m, 0, 1, "n.example", DNS_T_CNAME);
	rrhead(m, DNS_T_CNAME, 5, 5);
	put8(m, 3);
	put8(m, 'a');
	put8(m, 0);
	put8(m, 'b');
	put8(m, 0);
}

static void
b_long_name(struct msg *m)
{
	unsigned i;

	start(m, 0, 1, "x.example", DNS_T_CNAME);
	rrhead(m, DNS_T_CNAME, 5, 5 * 60 + 1);
	for (i = 0; i < 5; i++) {
		put8(m, 59);
		memset(m->b + m->n, 'a', 59);
		m->n += 59;
	}
	put8(m, 0);
}

static void
b_short_header(struct msg *m)
{
	m->n = 0;
	put16(m, 1);
	put16(m, 0x8180);
}

static void
b_extended_label(struct msg *m)
{
	start(m, 0, 1, "e.example", DNS_T_CNAME);
	rrhead(m, DNS_T_CNAME, 5, 2);
	put8(m, 0x41); /* 01xxxxxx: RFC 6891 extended label type */
	put8(m, 0);
}

struct row {
	const char *name;
	void (*build)(struct msg *m);
	bool ok;
	enum dns_rcode rcode;
	size_t nextra;
	const char *records;
};

static const struct row rows[] = {
	{ "MX with compression", b_mx, true, DNS_NOERROR, 0,
	    "MX acme.example 300 10 lb1.mx.example | "
	    "MX acme.example 300 20 lb2.example" },
	{ "null MX", b_null_mx, true, DNS_NOERROR, 0,
	    "MX null.example 60 0 ." },
	{ "CNAME then A and AAAA", b_cname_a_aaaa, true, DNS_NOERROR, 0,
	    "CNAME www.example 120 host.example | A www.example 5 192.0.2.1 | "
	    "AAAA www.example 7 2001:db8::1" },
	{ "TXT strings joined", b_txt, true, DNS_NOERROR, 0,
	    "TXT t.example 5 v=spf1 -" },
	{ "NXDOMAIN", b_nxdomain, true, DNS_NXDOMAIN, 0, "" },
	{ "unknown type skipped", b_skip_unknown, true, DNS_NOERROR, 0,
	    "A s.example 5 127.0.0.1" },
	{ "more records than kept", b_many, true, DNS_NOERROR, 8, NULL },
	{ "pointer to itself", b_ptr_loop, false, 0, 0, NULL },
	{ "forward pointer", b_ptr_forward, false, 0, 0, NULL },
	{ "rdata past the end", b_truncated_rdata, false, 0, 0, NULL },
	{ "A of 3 octets", b_bad_a_len, false, 0, 0, NULL },
	{ "MX rdlength mismatch", b_mx_rdlen_mismatch, false, 0, 0, NULL },
	{ "NUL inside a label", b_label_nul, false, 0, 0, NULL },
	{ "name over 255 octets", b_long_name, false, 0, 0, NULL },
	{ "short header", b_short_header, false, 0, 0, NULL },
	{ "extended label type", b_extended_label, false, 0, 0, NULL },
};

static void
describe(const struct dns_answer *a, char *out, size_t len)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < a->n && o < len; i++) {
		const struct dns_rr *rr = &a->rr[i];

		o += (size_t)snprintf(out + o, len - o, "%s%s %s %u ",
		    i ? " | " : "", dns_type_name(rr->type), rr->owner,
		    rr->ttl);
		if (rr->type == DNS_T_MX && o < len)
			o += (size_t)snprintf(out + o, len - o, "%u ",
			    rr->pref);
		if (o < len)
			o += (size_t)snprintf(out + o, len - o, "%s", rr->data);
	}
}

static void
test_rows(void **state)
{
	static struct msg m;
	static struct dns_answer a;
	char got[2048];
	size_t i;
	bool ok;

	for (i = 0; i < N(rows); i++) {
		const struct row *r = &rows[i];

		memset(&a, 0, sizeof(a));
		r->build(&m);
		ok = dns_parse_response(m.b, m.n, &a);
		describe(&a, got, sizeof(got));
		if (ok != r->ok ||
		    (ok &&
			(a.rcode != r->rcode || a.nextra != r->nextra ||
			    (r->records != NULL &&
				strcmp(got, r->records) != 0)))) {
			print_error("row \"%s\":\n got  ok=%d rcode=%s "
				    "nextra=%zu \"%s\"\n want ok=%d rcode=%s "
				    "nextra=%zu \"%s\"\n",
			    r->name, ok, dns_rcode_name(a.rcode), a.nextra, got,
			    r->ok, dns_rcode_name(r->rcode), r->nextra,
			    r->records ? r->records : "(any)");
			fail();
		}
		if (ok)
			assert_true(a.n <= DNS_RR_MAX);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
