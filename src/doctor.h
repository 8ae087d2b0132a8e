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
 */
#ifndef MT_DOCTOR_H
#define MT_DOCTOR_H

/*
 * doctor ADDRESS [--dns HOST[:PORT]] [--config FILE] [--probe [--port N]]
 * [--timeout DURATION] [--json]. Exit status: 0 mail works from any
 * standards-following sender; 1 it fails for some (CNAME expansion); 2
 * it fails for all (NXDOMAIN, null MX, no address, broken CNAME, DNS
 * failure), also for a usage error.
 */
int cmd_doctor(int argc, char **argv);

#endif
