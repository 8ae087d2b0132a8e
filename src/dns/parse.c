/*
 * parse - decodes DNS responses (RFC 1035 4.1) for the resolver.
 *
 * Pure and bounded: every read is checked against the message length,
 * compression pointers (RFC 1035 4.1.4) may only point backwards and at
 * most 64 of them are followed, names longer than 255 octets are refused.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "dns/resolve.h"

#define HDR_LEN 12
#define MAX_HOPS 64

struct reader {
	const unsigned char *msg;
	size_t len;
};

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned
get32(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 |
	    (unsigned)p[2] << 8 | p[3];
}

/*
 * Appends one label. A NUL or a dot inside a label cannot be written in
 * the text form without escapes, and no mail host name has one: refused.
 */
static bool
put_label(char *out, size_t outlen, size_t *o, const unsigned char *l, size_t n)
{
	if (*o + n + 2 > outlen || memchr(l, '\0', n) != NULL ||
	    memchr(l, '.', n) != NULL)
		return false;
	if (*o > 0)
		out[(*o)++] = '.';
	memcpy(out + *o, l, n);
	*o += n;
	out[*o] = '\0';
	return true;
}

/*
 * Reads the name at *off into out ("." for the root) and moves *off past
 * it (past the first pointer when compressed).
 */
static bool
read_name(const struct reader *rd, size_t *off, char *out, size_t outlen)
{
	size_t p = *off, o = 0, end = 0, wire = 1;
	int hops = 0;
	unsigned n;

	out[0] = '\0';
	for (;;) {
		if (p >= rd->len)
			return false;
		n = rd->msg[p];
		if ((n & 0xc0) == 0xc0) {
			if (p + 1 >= rd->len || ++hops > MAX_HOPS)
				return false;
			if (end == 0)
				end = p + 2;
			n = (n & 0x3f) << 8 | rd->msg[p + 1];
			if (n >= p)
				return false; /* forward or self pointer */
			p = n;
			continue;
		}
		if ((n & 0xc0) != 0)
			return false; /* extended label types */
		if (n == 0)
			break;
		wire += 1 + n;
		if (wire > 255)
			return false; /* RFC 1035 2.3.4 */
		if (p + 1 + n > rd->len ||
		    !put_label(out, outlen, &o, rd->msg + p + 1, n))
			return false;
		p += 1 + n;
	}
	*off = end ? end : p + 1;
	if (o == 0 && outlen >= 2)
		memcpy(out, ".", 2);
	return true;
}

/* TXT: the character-strings joined, RFC 1035 3.3.14. */
static bool
read_txt(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	size_t i = 0, o = 0, l;

	while (i < n) {
		l = p[i++];
		if (i + l > n)
			return false;
		if (o + l + 1 > outlen)
			l = outlen - o - 1; /* keep the start of long text */
		memcpy(out + o, p + i, l);
		o += l;
		i += p[i - 1];
	}
	out[o] = '\0';
	return true;
}

static bool
read_rdata(const struct reader *rd, size_t off, size_t rdlen, struct dns_rr *rr)
{
	const unsigned char *p = rd->msg + off;
	size_t o = off;

	switch (rr->type) {
	case DNS_T_A:
		return rdlen == 4 &&
		    inet_ntop(AF_INET, p, rr->data, sizeof(rr->data)) != NULL;
	case DNS_T_AAAA:
		return rdlen == 16 &&
		    inet_ntop(AF_INET6, p, rr->data, sizeof(rr->data)) != NULL;
	case DNS_T_CNAME:
		return read_name(rd, &o, rr->data, sizeof(rr->data)) &&
		    o == off + rdlen;
	case DNS_T_MX:
		if (rdlen < 3)
			return false;
		rr->pref = get16(p);
		o += 2;
		return read_name(rd, &o, rr->data, sizeof(rr->data)) &&
		    o == off + rdlen;
	case DNS_T_TXT:
		return read_txt(p, rdlen, rr->data, sizeof(rr->data));
	}
	return false;
}

static bool
known_type(unsigned t)
{
	return t == DNS_T_A || t == DNS_T_AAAA || t == DNS_T_CNAME ||
	    t == DNS_T_MX || t == DNS_T_TXT;
}

/* One answer record at *off; kept in out when it is of a known type. */
static bool
read_rr(const struct reader *rd, size_t *off, struct dns_answer *out)
{
	char owner[DNS_NAME_MAX + 1];
	struct dns_rr *rr;
	unsigned type, ttl, rdlen;

	if (!read_name(rd, off, owner, sizeof(owner)) || *off + 10 > rd->len)
		return false;
	type = get16(rd->msg + *off);
	ttl = get32(rd->msg + *off + 4);
	rdlen = get16(rd->msg + *off + 8);
	*off += 10;
	if (*off + rdlen > rd->len)
		return false;
	if (known_type(type) && out->n == DNS_RR_MAX)
		out->nextra++;
	else if (known_type(type)) {
		rr = &out->rr[out->n];
		memset(rr, 0, sizeof(*rr));
		rr->type = (enum dns_type)type;
		rr->ttl = ttl & 0x7fffffff; /* RFC 2181 8 */
		memcpy(rr->owner, owner, sizeof(owner));
		if (!read_rdata(rd, *off, rdlen, rr))
			return false;
		out->n++;
	}
	*off += rdlen;
	return true;
}

static enum dns_rcode
map_rcode(unsigned rc)
{
	switch (rc) {
	case 0:
		return DNS_NOERROR;
	case 2:
		return DNS_SERVFAIL;
	case 3:
		return DNS_NXDOMAIN;
	case 5:
		return DNS_REFUSED;
	}
	return DNS_ERROR;
}

bool
dns_parse_response(const unsigned char *msg, size_t len, struct dns_answer *out)
{
	struct reader rd = { msg, len };
	char qname[DNS_NAME_MAX + 1];
	size_t off = HDR_LEN;
	unsigned qd, an, i;

	out->n = out->nextra = 0;
	if (len < HDR_LEN)
		return false;
	out->rcode = map_rcode(msg[3] & 0x0f);
	if (out->rcode == DNS_ERROR)
		snprintf(out->detail, sizeof(out->detail), "RCODE %u",
		    msg[3] & 0x0fu);
	qd = get16(msg + 4);
	an = get16(msg + 6);
	for (i = 0; i < qd; i++) {
		if (!read_name(&rd, &off, qname, sizeof(qname)) ||
		    off + 4 > len)
			return false;
		off += 4;
	}
	for (i = 0; i < an; i++)
		if (!read_rr(&rd, &off, out))
			return false;
	return true;
}

const char *
dns_type_name(enum dns_type type)
{
	switch (type) {
	case DNS_T_A:
		return "A";
	case DNS_T_CNAME:
		return "CNAME";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	}
	return "?";
}

const char *
dns_rcode_name(enum dns_rcode rcode)
{
	switch (rcode) {
	case DNS_NOERROR:
		return "NOERROR";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_SERVFAIL:
		return "SERVFAIL";
	case DNS_REFUSED:
		return "REFUSED";
	case DNS_TIMEOUT:
		return "timeout";
	case DNS_ERROR:
		return "error";
	}
	return "?";
}
