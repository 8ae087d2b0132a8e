/*
 * check_dns - the `mailtrigger check-dns` command (see check_dns.h).
 *
 * Shell: lists the names of a config, runs doctor's checks for each
 * (doctor_check_*: the same lookups, CNAME expansion, router replies
 * and verdict, not a copy of them) and prints one verdict per name and a
 * summary, or one JSON object with --json. The lookups of up to
 * CHECK_DNS_PARALLEL names run at once on one resolver.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check_dns.h"
#include "config.h"
#include "dns/resolve.h"
#include "doctor.h"
#include "mail/address.h"
#include "util/xmalloc.h"

/* Names whose lookups run at once (each does one lookup at a time). */
#define CHECK_DNS_PARALLEL 16

#define ST_OK 0
#define ST_SOME 1
#define ST_ALL 2

/* One name of the config and its check. */
struct name {
	const struct instance *inst;
	const struct trigger *trig; /* recipient form: the trigger; or NULL */
	char address[ADDR_PATH_MAX + 1];
	struct doctor_check *check; /* NULL: the address does not parse */
	char err[300];
	int status;
};

struct run {
	struct config *cfg;
	char *servers; /* in use, c-ares form; NULL: the system's */
	struct name *names;
	size_t n;
	size_t count[3]; /* names per status */
	int worst;
};

static int
usage(void)
{
	fputs("usage: mailtrigger check-dns --config FILE [--dns HOST[:PORT]] "
	      "[--timeout DURATION]\n"
	      "                             [--json]\n",
	    stderr);
	return ST_ALL;
}

static bool
parse_opts(int argc, char **argv, struct doctor_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = DOCTOR_TIMEOUT_DEFAULT_MS;
	for (i = 1; i < argc; i++)
		if (doctor_option(argc, argv, &i, o) <= 0)
			return false;
	return o->config != NULL;
}

/*
 * The address checked for a name: the trigger form at an instance host
 * (its first trigger; every instance has one), the recipient form at
 * trigger.host (the first allowed recipient, or "someone" when any is).
 */
static void
name_address(struct name *nm)
{
	const struct trigger *t = nm->trig;

	if (t == NULL)
		snprintf(nm->address, sizeof(nm->address), "%s@%s",
		    nm->inst->n_triggers ? nm->inst->triggers[0].name :
					   "check-dns",
		    nm->inst->host);
	else
		snprintf(nm->address, sizeof(nm->address), "%s@%s.%s",
		    t->n_recipients ? t->recipients[0] : "someone", t->name,
		    nm->inst->host);
}

static void
add_name(struct run *run, const struct instance *inst, const struct trigger *t)
{
	struct name *nm = &run->names[run->n++];

	nm->inst = inst;
	nm->trig = t;
	name_address(nm);
	nm->check = doctor_check_new(nm->address, nm->err, sizeof(nm->err));
}

/*
 * Every instance host, then each of its trigger.host names. (A
 * trigger.host that is also an instance host is a config error, so no
 * name comes twice.)
 */
static void
collect_names(struct run *run)
{
	const struct config *cfg = run->cfg;
	const struct instance *inst;
	size_t i, j, n = 0;

	for (i = 0; i < cfg->n_instances; i++)
		n += 1 + cfg->instances[i].n_triggers;
	run->names = xcalloc(n + 1, sizeof(*run->names));
	for (i = 0; i < cfg->n_instances; i++) {
		inst = &cfg->instances[i];
		add_name(run, inst, NULL);
		for (j = 0; j < inst->n_triggers; j++)
			add_name(run, inst, &inst->triggers[j]);
	}
}

/* Resolves every name, CHECK_DNS_PARALLEL at a time, then judges. */
static void
check_names(struct run *run, struct dns_resolver *res, unsigned timeout_ms)
{
	struct name *nm;
	size_t i, started;

	for (i = 0; i < run->n;) {
		for (started = 0; i < run->n && started < CHECK_DNS_PARALLEL;
		     i++) {
			if (run->names[i].check == NULL)
				continue;
			doctor_check_start(run->names[i].check, res,
			    run->servers, timeout_ms);
			started++;
		}
		dns_wait(res);
	}
	run->worst = ST_OK;
	for (i = 0; i < run->n; i++) {
		nm = &run->names[i];
		nm->status = ST_ALL;
		if (nm->check != NULL) {
			doctor_check_judge(nm->check, run->cfg);
			nm->status = doctor_check_status(nm->check);
		}
		run->count[nm->status]++;
		if (nm->status > run->worst)
			run->worst = nm->status;
	}
}

static const char *
status_words(int status)
{
	static const char *const words[] = { "ok", "exposed to CNAME expansion",
		"fails for every sender" };

	return words[status];
}

static const char *
name_of(const struct name *nm)
{
	return strrchr(nm->address, '@') + 1;
}

static void
print_name(const struct name *nm)
{
	const char *fix;
	bool sender;
	size_t i;

	if (nm->trig == NULL)
		printf("%s (instance host): %s\n", name_of(nm),
		    status_words(nm->status));
	else
		printf("%s (recipient form of trigger %s): %s\n", name_of(nm),
		    nm->trig->name, status_words(nm->status));
	if (nm->check == NULL) {
		printf("  cannot be checked: %s\n", nm->err);
		return;
	}
	printf("  %s\n", doctor_check_verdict(nm->check));
	for (i = 0; i < doctor_check_nfixes(nm->check); i++) {
		fix = doctor_check_fix(nm->check, i, &sender);
		if (!sender)
			printf("  fix: %s\n", fix);
	}
}

static void
print_plain(const struct run *run)
{
	size_t i;

	printf("DNS server: %s\n\n",
	    run->servers ? run->servers : "the system's (/etc/resolv.conf)");
	for (i = 0; i < run->n; i++)
		print_name(&run->names[i]);
	printf("\nSummary: %zu name%s of %s checked: %zu ok, %zu exposed to "
	       "CNAME expansion, %zu failing for every sender\n",
	    run->n, run->n == 1 ? "" : "s", run->cfg->path, run->count[ST_OK],
	    run->count[ST_SOME], run->count[ST_ALL]);
	if (run->count[ST_SOME] > 0)
		printf("Exposed names work from senders that keep the address "
		       "(Postfix, Exim) but not from senders that expand "
		       "CNAMEs (Sendmail by default, unless "
		       "confDONT_EXPAND_CNAMES is set): fix their DNS as "
		       "shown.\n");
	if (run->worst != ST_OK)
		printf("The lookups behind a verdict: mailtrigger doctor "
		       "ADDRESS --config %s\n",
		    run->cfg->path);
}

static json_t *
json_name(const struct name *nm)
{
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:i}", "name", name_of(nm),
	    "form", nm->trig ? "recipient" : "trigger", "instance",
	    nm->inst->host, "trigger", nm->trig ? nm->trig->name : NULL,
	    "address", nm->address, "status", nm->status);
	if (nm->check == NULL) {
		json_object_set_new(o, "verdict", json_string(nm->err));
		json_object_set_new(o, "doctor", json_null());
		return o;
	}
	json_object_set_new(o, "verdict",
	    json_string(doctor_check_verdict(nm->check)));
	json_object_set_new(o, "doctor", doctor_check_json(nm->check));
	return o;
}

static void
print_json(const struct run *run)
{
	json_t *names = json_array();
	size_t i;

	for (i = 0; i < run->n; i++)
		json_array_append_new(names, json_name(&run->names[i]));
	doctor_json_dump(json_pack("{s:s, s:s?, s:o, s:{s:I, s:I, s:I, s:I}, "
				   "s:i}",
	    "config", run->cfg->path, "dns_servers", run->servers, "names",
	    names, "summary", "checked", (json_int_t)run->n, "ok",
	    (json_int_t)run->count[ST_OK], "exposed",
	    (json_int_t)run->count[ST_SOME], "failing",
	    (json_int_t)run->count[ST_ALL], "status", run->worst));
}

static void
run_free(struct run *run)
{
	size_t i;

	for (i = 0; i < run->n; i++)
		doctor_check_free(run->names[i].check);
	free(run->names);
	free(run->servers);
	config_unref(run->cfg);
}

int
cmd_check_dns(int argc, char **argv)
{
	struct dns_resolver *res = NULL;
	struct run run = { 0 };
	char err[300];
	int status = ST_ALL;
	struct doctor_opts o;

	if (!parse_opts(argc, argv, &o))
		return usage();
	run.cfg = doctor_load_config("check-dns", o.config);
	if (run.cfg == NULL)
		goto out;
	res = doctor_resolver_new(&o, run.cfg, &run.servers, err, sizeof(err));
	if (res == NULL) {
		fprintf(stderr, "mailtrigger check-dns: %s\n", err);
		goto out;
	}
	collect_names(&run);
	check_names(&run, res, (unsigned)o.timeout_ms);
	if (o.json)
		print_json(&run);
	else
		print_plain(&run);
	status = run.worst;
out:
	dns_resolver_free(res);
	run_free(&run);
	return status;
}
