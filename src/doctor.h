/*
 * doctor - `mailtrigger doctor ADDRESS`: what a sending MTA does with a
 * trigger address, and why mail to it may bounce with "Relay access
 * denied" (docs/troubleshooting-relay-denied.md).
 *
 * Shows the RFC 5321 5.1 lookups step by step with every DNS violation
 * flagged (src/dns/mxplan.h), what a CNAME-expanding sender (Sendmail's
 * default) sends instead, whether the gateway would accept each form
 * (with --config, through the router; with --probe, asking the MX hosts
 * over SMTP: doctor_probe.h), a verdict and the fix.
 *
 * The checks are also a small API (struct doctor_check) so that
 * `check-dns` (check_dns.h) runs exactly the same ones for every name of
 * a config. A struct doctor_check is owned by its creator and freed with
 * doctor_check_free(); the strings its accessors return live as long as
 * it does.
 */
#ifndef MT_DOCTOR_H
#define MT_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct dns_resolver;
struct json_t;

/* --timeout: the wait for each DNS answer (one try per server). */
#define DOCTOR_TIMEOUT_DEFAULT_MS 2000
#define DOCTOR_TIMEOUT_MAX_MS 60000

/*
 * doctor ADDRESS [--dns HOST[:PORT]] [--config FILE] [--probe [--port N]]
 * [--timeout DURATION] [--json]. Without --dns, the DNS servers are the
 * config's dns.servers (with --config) or the system's. Exit status: 0
 * mail works from any standards-following sender; 1 it fails for some
 * (CNAME expansion); 2 it fails for all (NXDOMAIN, null MX, no address,
 * broken CNAME, DNS failure), also for a usage or config error.
 */
int cmd_doctor(int argc, char **argv);

/* The options doctor and check-dns share. */
struct doctor_opts {
	const char *config;  /* --config FILE, or NULL */
	const char *dns;     /* --dns HOST[:PORT][,...] as given, or NULL */
	uint64_t timeout_ms; /* --timeout, DOCTOR_TIMEOUT_DEFAULT_MS */
	bool json;           /* --json */
};

/*
 * If argv[*i] is --config, --dns, --timeout or --json, takes it (and its
 * value, advancing *i) into o and returns 1; 0 when it is none of them;
 * -1 for a missing or bad value (a usage error). --dns is checked by
 * doctor_resolver_new(). o must start zeroed, timeout_ms set.
 */
int doctor_option(int argc, char **argv, int *i, struct doctor_opts *o);

/*
 * A blocking-use resolver (drive it with dns_wait()) asking the --dns
 * servers, else cfg's dns.servers (cfg may be NULL), else the system's
 * resolv.conf; one try per server, o->timeout_ms each. *servers gets the
 * servers in use in c-ares form (the caller frees it; NULL: the
 * system's). NULL with a message in err (a bad --dns, c-ares failure).
 */
struct dns_resolver *doctor_resolver_new(const struct doctor_opts *o,
    const struct config *cfg, char **servers, char *err, size_t errlen);

/*
 * Loads a config for doctor or check-dns (cmd names the command in
 * messages); on errors prints each "FILE:LINE:COLUMN: message" to
 * stderr and returns NULL.
 */
struct config *doctor_load_config(const char *cmd, const char *path);

struct doctor_check;

/*
 * A check of one address (with or without <>; not an address literal
 * and not postmaster). NULL with a message in err when it does not
 * parse.
 */
struct doctor_check *doctor_check_new(const char *address, char *err,
    size_t errlen);
/*
 * Starts the RFC 5321 5.1 lookups for the address's domain with res;
 * they end while the caller drives res (dns_wait() or its event loop).
 * servers and timeout_ms are only reported. Several checks may share
 * one resolver.
 */
void doctor_check_start(struct doctor_check *r, struct dns_resolver *res,
    const char *servers, unsigned timeout_ms);
/*
 * After the lookups ended: the CNAME-expanded form, the router's replies
 * to both forms when cfg is not NULL, the verdict, exit status and
 * fixes. Pure.
 */
void doctor_check_judge(struct doctor_check *r, const struct config *cfg);

int doctor_check_status(const struct doctor_check *r); /* 0, 1 or 2 */
const char *doctor_check_address(const struct doctor_check *r);
const char *doctor_check_verdict(const struct doctor_check *r);
/* The address a CNAME-expanding sender writes, or NULL: not rewritten. */
const char *doctor_check_expanded(const struct doctor_check *r);
/* The end of the domain's CNAME chain (the domain itself if none). */
const char *doctor_check_canonical(const struct doctor_check *r);
size_t doctor_check_nfixes(const struct doctor_check *r);
/* Fix i (NULL past the last); *sender_side: it is for the sending
 * server's administrator, not for the DNS or the config. */
const char *doctor_check_fix(const struct doctor_check *r, size_t i,
    bool *sender_side);
/* The report as one JSON object (a new reference; doctor --json). */
struct json_t *doctor_check_json(const struct doctor_check *r);
/* Prints root indented on stdout, with a newline; drops the reference. */
void doctor_json_dump(struct json_t *root);
/* NULL is a no-op. */
void doctor_check_free(struct doctor_check *r);

#endif
