/*
 * doctor_int - what doctor.c (the checks and the verdict) and
 * doctor_out.c (plain words and JSON) share. Not for other modules: they
 * use the functions of doctor.h.
 */
#ifndef MT_DOCTOR_INT_H
#define MT_DOCTOR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/mxplan.h"
#include "doctor_probe.h"
#include "mail/address.h"
#include "route/router.h"

#define DOCTOR_OK 0
#define DOCTOR_SOME 1
#define DOCTOR_ALL 2
#define DOCTOR_FIXES_MAX 8
#define DOCTOR_TEXT_MAX 600

/* One address checked; owned by its creator (doctor_check_free). */
struct doctor_check {
	struct mailbox rcpt;
	struct mxplan *plan;
	struct dns_lookups lookups;
	bool resolved; /* the plan's lookups have ended */
	bool expands;  /* a CNAME-expanding sender rewrites the address */
	struct mailbox expanded;
	bool routed; /* a config was given: the router's answers below */
	struct route_result orig, exp;
	struct probe *probe; /* --probe, or NULL */
	char *servers;       /* the DNS servers asked, or NULL: the system's */
	unsigned timeout_ms;
	int status;
	char verdict[DOCTOR_TEXT_MAX];
	size_t nfixes;
	char fixes[DOCTOR_FIXES_MAX][DOCTOR_TEXT_MAX];
	bool fix_sender[DOCTOR_FIXES_MAX]; /* for the sending server's admin */
};

/* doctor_out.c: the whole report on stdout, in plain words. */
void doctor_print_plain(const struct doctor_check *r);

#endif
