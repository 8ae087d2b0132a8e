/*
 * main - the mailtrigger command line: serve, check-config, --help,
 * --version.
 *
 * Exit status: 0 success, 1 invalid config or runtime failure, 2 usage
 * error (as sysexits-minded tools and Postfix's commands do: a wrong
 * command line is told apart from a failure).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "check_dns.h"
#include "config.h"
#include "doctor.h"
#include "flow/runner.h"
#include "flow/trace.h"
#include "mail/message.h"
#include "queue/admin.h"
#include "queue/queue.h"
#include "route_cmd.h"
#include "smtp/server.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: mailtrigger COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE]    run the gateway (default: the embedded\n"
    "                           sample config, etc/mailtrigger.yaml)\n"
    "  check-config FILE        validate a config; print FILE:LINE:COLUMN:\n"
    "                           message for each error\n"
    "  check-dns --config FILE [--dns HOST[:PORT]] [--json]\n"
    "                           doctor's checks for every instance host\n"
    "                           and trigger name of a config; exit 0/1/2\n"
    "  parse [FILE]             print the event JSON's message object for a\n"
    "                           message (stdin when no FILE)\n"
    "  route [--config FILE] --from ADDR --to ADDR [--to ADDR...] [--json]\n"
    "        [FILE | -]         dry run: the RCPT replies, trigger, sender\n"
    "                           policy; with a message its properties,\n"
    "                           auto-reply verdict, dedup key; exit 0/1/2\n"
    "  doctor ADDRESS [--dns HOST[:PORT]] [--config FILE] [--json]\n"
    "         [--probe [--port N]] [--timeout DURATION]\n"
    "                           why mail to a trigger address may bounce\n"
    "                           (CNAME expansion, DNS); exit 0/1/2\n"
    "  queue list|show|retry|purge [...] [--config FILE | --queue PATH]\n"
    "                           inspect the queue, retry dead events,\n"
    "                           purge ended ones (mailtrigger queue help)\n"
    "  trace [--config FILE] [--json] ID | --message-id MSGID |\n"
    "        --from ADDR [--since AGE] | --refusals [--since AGE]\n"
    "                           why a message did or did not trigger: RCPT\n"
    "                           refusals, rules, attempts (docs/trace.md)\n"
    "  --help                   this text\n"
    "  --version                the version\n"
    "\n"
    "signals (serve): SIGHUP reloads the config, SIGTERM and SIGINT shut\n"
    "down gracefully. Docs: README.md and docs/.\n";

static int
usage(FILE *out, int status)
{
	fputs(usage_text, out);
	return status;
}

static void
print_errors(const struct config_errors *errs, FILE *out)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		fprintf(out, "%s\n", errs->items[i]);
}

static int
cmd_check_config(int argc, char **argv)
{
	struct config_errors errs = { 0 };
	struct config *cfg;

	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	cfg = config_load(argv[1], &errs);
	if (cfg == NULL) {
		print_errors(&errs, stderr);
		config_errors_free(&errs);
		return 1;
	}
	printf("%s: ok\n", argv[1]);
	config_unref(cfg);
	config_errors_free(&errs);
	return 0;
}

/* What serve's signal handlers need. */
struct serve_state {
	struct event_base *base;
	struct server *srv;
	struct runner *runner;       /* delivery workers (flow/runner.h) */
	struct retention *retention; /* queue/admin.h */
	const char *config_path;     /* NULL: embedded default */
	char *queue_path;
};

static struct config *
load_config(const char *path)
{
	struct config_errors errs = { 0 };
	struct config *cfg;

	cfg = path ? config_load(path, &errs) : config_load_default(&errs);
	if (cfg == NULL)
		print_errors(&errs, stderr);
	config_errors_free(&errs);
	return cfg;
}

static void
reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct serve_state *st = arg;
	struct config *cfg = load_config(st->config_path);
	char err[512];

	if (cfg == NULL) {
		log_msg(LOG_ERROR, "reload_failed",
		    "config has errors (printed above); the old one stays");
		return;
	}
	if (strcmp(cfg->queue_path, st->queue_path) != 0)
		log_msg(LOG_WARN, "reload_ignored",
		    "queue.path changed: takes effect after a restart");
	if (!server_reload(st->srv, cfg, err, sizeof(err)))
		log_msg(LOG_ERROR, "reload_failed", err);
	else {
		runner_set_config(st->runner, cfg);
		retention_set_config(st->retention, cfg);
		log_msg(LOG_INFO, "reloaded", st->config_path);
	}
	config_unref(cfg);
}

static void
shutdown_done_cb(void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void
terminate_cb(evutil_socket_t sig, short what, void *arg)
{
	struct serve_state *st = arg;

	log_msg(LOG_INFO, "shutting_down",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_shutdown(st->srv, shutdown_done_cb, st->base);
}

/*
 * Signal events exist before the listeners do: a test (or an init
 * system) that sends SIGHUP as soon as it sees "listening" must not hit
 * the default action, which would kill the gateway.
 */
static void
add_signals(struct serve_state *st, struct event **evs)
{
	evs[0] = evsignal_new(st->base, SIGHUP, reload_cb, st);
	evs[1] = evsignal_new(st->base, SIGTERM, terminate_cb, st);
	evs[2] = evsignal_new(st->base, SIGINT, terminate_cb, st);
	event_add(evs[0], NULL);
	event_add(evs[1], NULL);
	event_add(evs[2], NULL);
}

static int
serve(const char *config_path)
{
	struct serve_state st = { 0 };
	struct config *cfg = load_config(config_path);
	struct queue *q = NULL;
	struct event *sigs[3];
	char err[512];
	int status = 1;
	size_t i;

	if (cfg == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	st.config_path = config_path;
	st.queue_path = cfg->queue_path;
	st.base = event_base_new();
	add_signals(&st, sigs);
	q = queue_open(cfg->queue_path, err, sizeof(err));
	if (q == NULL) {
		fprintf(stderr, "mailtrigger: queue %s: %s\n", cfg->queue_path,
		    err);
		goto out;
	}
	queue_on_commit(q, runner_kick);
	st.srv = server_new(st.base, cfg, q, err, sizeof(err));
	if (st.srv == NULL) {
		fprintf(stderr, "mailtrigger: %s\n", err);
		goto out;
	}
	st.runner = runner_start(cfg, err, sizeof(err));
	if (st.runner == NULL) {
		fprintf(stderr, "mailtrigger: delivery: %s\n", err);
		goto out;
	}
	st.retention = retention_start(cfg, err, sizeof(err));
	if (st.retention == NULL) {
		fprintf(stderr, "mailtrigger: %s\n", err);
		goto out;
	}
	log_msg(LOG_INFO, "started", "mailtrigger " MT_VERSION);
	event_base_dispatch(st.base);
	status = 0;
out:
	server_free(st.srv);
	retention_stop(st.retention);
	runner_stop(st.runner, cfg->limits.shutdown_grace_ms);
	for (i = 0; i < NELEM(sigs); i++)
		event_free(sigs[i]);
	if (q != NULL)
		queue_close(q);
	log_msg(LOG_INFO, "stopped", NULL);
	event_base_free(st.base);
	config_unref(cfg);
	return status;
}

static int
cmd_serve(int argc, char **argv)
{
	if (argc == 1)
		return serve(NULL);
	if (argc == 3 && strcmp(argv[1], "--config") == 0)
		return serve(argv[2]);
	return usage(stderr, EXIT_USAGE);
}

/* `parse` reads at most this much: four times the largest message_size
 * default, so any message the gateway accepts can be inspected. */
#define PARSE_INPUT_MAX (100 * 1024 * 1024)

/* Reads all of fp into b; false on a read error or past b's ceiling. */
static bool
read_stream(FILE *fp, struct buf *b)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_append(b, chunk, n) != BUF_OK)
			return false;
	return !ferror(fp);
}

/* mailtrigger parse [FILE]: the event's message object as JSON. */
static int
cmd_parse(int argc, char **argv)
{
	const char *name = argc == 2 ? argv[1] : "<stdin>";
	FILE *fp = argc == 2 ? fopen(argv[1], "rb") : stdin;
	struct buf in;
	char *json = NULL;
	int status = 1;

	if (argc > 2)
		return usage(stderr, EXIT_USAGE);
	if (fp == NULL) {
		fprintf(stderr, "mailtrigger: parse: %s: %s\n", name,
		    strerror(errno));
		return 1;
	}
	buf_init(&in, PARSE_INPUT_MAX);
	if (!read_stream(fp, &in))
		fprintf(stderr,
		    "mailtrigger: parse: %s: cannot read it whole (read "
		    "error, or larger than %d MB)\n",
		    name, PARSE_INPUT_MAX / (1024 * 1024));
	else if (message_parse_to_json(buf_str(&in), in.len, NULL, &json) !=
	    MESSAGE_OK)
		fputs("mailtrigger: parse: cannot encode the event JSON\n",
		    stderr);
	else
		status = fputs(json, stdout) == EOF ? 1 : 0;
	free(json);
	buf_free(&in);
	if (fp != stdin)
		fclose(fp);
	return status;
}

/*
 * The subcommands. Each gets argv from its own name on and returns the
 * exit status. Modules that add a command (parse, doctor, queue ...)
 * declare its function in their header and add one row here.
 */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "serve", cmd_serve },
	{ "check-config", cmd_check_config },
	{ "doctor", cmd_doctor },
	{ "check-dns", cmd_check_dns },
	{ "parse", cmd_parse },
	{ "route", cmd_route },
	{ "queue", cmd_queue },
	{ "trace", cmd_trace },
};

int
main(int argc, char **argv)
{
	size_t i;

	log_setup(stderr, LOG_INFO);
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		return usage(stdout, 0);
	if (strcmp(argv[1], "--version") == 0) {
		printf("mailtrigger %s\n", MT_VERSION);
		return 0;
	}
	for (i = 0; i < NELEM(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "mailtrigger: unknown command '%s'\n", argv[1]);
	return usage(stderr, EXIT_USAGE);
}
