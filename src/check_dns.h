/*
 * check_dns - `mailtrigger check-dns --config FILE`: before go-live, the
 * checks of `doctor` (doctor.h) for every name a config serves, so an
 * operator sees which instances are exposed to CNAME expansion
 * (docs/dns.md, docs/troubleshooting-relay-denied.md).
 *
 * The names: each instance host (checked with its trigger form,
 * first-trigger@host) and each trigger.instance-host (the recipient
 * form). A wildcard record (*.host) is checked through the concrete
 * names it answers for, as a sender would ask.
 */
#ifndef MT_CHECK_DNS_H
#define MT_CHECK_DNS_H

/*
 * check-dns --config FILE [--dns HOST[:PORT]] [--timeout DURATION]
 * [--json]. Without --dns, the config's dns.servers, else the system's
 * resolver. Prints one verdict per name and a summary. Exit status: the
 * worst over the names, as doctor's: 0 every name works from any
 * standards-following sender; 1 some name fails for CNAME-expanding
 * senders; 2 some name fails for every sender, or a usage or config
 * error.
 */
int cmd_check_dns(int argc, char **argv);

#endif
