/*
 * exec - the command step: runs argv without a shell, the event JSON on
 * its stdin, and classifies how it ended (flow/backoff.h).
 *
 * Not pure: spawns a process and waits for it. The child is the leader of
 * a new process group, so the timeout kills it and everything it started
 * (kill(-pgid)). It gets the gateway's environment plus MT_EVENT_ID,
 * MT_TRIGGER, MT_INSTANCE, MT_FROM and MT_SUBJECT (when known), default
 * signal dispositions and an empty signal mask. Its stdout and stderr go
 * to one pipe whose first STEP_RESPONSE_MAX bytes are the attempt's
 * response; the rest is read and dropped so the child never blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flow/flow_int.h"
#include "util/xmalloc.h"

#define EXEC_POLL_MS 20 /* re-check a child that closed its output */
#define EXEC_ENV_EXTRA 5

extern char **environ;

struct child {
	pid_t pid;
	int in;  /* write end of its stdin, -1 once closed */
	int out; /* read end of its stdout + stderr, -1 at EOF */
	size_t written;
	int status;
	bool exited;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* environ plus the MT_* variables; the strings in [n..] are ours. */
static char **
make_env(const struct step_input *in, size_t *n_own)
{
	const char *names[EXEC_ENV_EXTRA] = { "MT_EVENT_ID", "MT_TRIGGER",
		"MT_INSTANCE", "MT_FROM", "MT_SUBJECT" };
	const char *values[EXEC_ENV_EXTRA] = { in->event_id, in->trigger,
		in->instance, in->mail_from, in->subject };
	size_t n = 0, k = 0, i, len;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = xcalloc(n + EXEC_ENV_EXTRA + 1, sizeof(*env));
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "MT_", 3) != 0)
			env[k++] = environ[i];
	*n_own = k;
	for (i = 0; i < EXEC_ENV_EXTRA; i++) {
		if (values[i] == NULL)
			continue;
		len = strlen(names[i]) + strlen(values[i]) + 2;
		env[k] = xmalloc(len);
		snprintf(env[k], len, "%s=%s", names[i], values[i]);
		k++;
	}
	return env;
}

static void
free_env(char **env, size_t from)
{
	size_t i;

	for (i = from; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* posix_spawn attributes: own process group, default signals, no mask. */
static void
spawn_attrs(posix_spawnattr_t *a)
{
	sigset_t none, dfl;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE); /* the gateway ignores it; exec keeps that */
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_init(a);
	posix_spawnattr_setflags(a,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
		POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(a, 0);
	posix_spawnattr_setsigmask(a, &none);
	posix_spawnattr_setsigdefault(a, &dfl);
}

/* Starts the child with pipes on 0, 1 and 2; errno on failure. */
static int
spawn_child(const struct flow_step *st, char **env, struct child *c)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int pin[2], pout[2], rc;

	if (pipe2(pin, O_CLOEXEC) != 0)
		return errno;
	if (pipe2(pout, O_CLOEXEC) != 0) {
		rc = errno;
		close(pin[0]);
		close(pin[1]);
		return rc;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 2);
	spawn_attrs(&attr);
	rc = posix_spawnp(&c->pid, st->argv[0], &fa, &attr, st->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pin[0]);
	close(pout[1]);
	c->in = pin[1];
	c->out = pout[0];
	fcntl(c->in, F_SETFL, O_NONBLOCK);
	if (rc != 0) {
		close(c->in);
		close(c->out);
		c->in = c->out = -1;
	}
	return rc;
}

/* Writes what the child's stdin takes now; closes it when done. */
static void
feed(struct child *c, const struct step_input *in)
{
	ssize_t n = write(c->in, in->event_json + c->written,
	    in->event_len - c->written);

	if (n > 0)
		c->written += (size_t)n;
	/* EPIPE: the child does not read its stdin; that is its choice. */
	if (c->written == in->event_len ||
	    (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(c->in);
		c->in = -1;
	}
}

/* Reads output: the first bytes into res, the rest dropped. */
static void
drain(struct child *c, struct step_result *res)
{
	char scratch[4096];
	size_t room = sizeof(res->response) - res->response_len;
	ssize_t n;

	if (room > 0)
		n = read(c->out, res->response + res->response_len, room);
	else
		n = read(c->out, scratch, sizeof(scratch));
	if (n > 0 && room > 0)
		res->response_len += (size_t)n;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(c->out);
		c->out = -1;
	}
}

/* One round of poll on the pipes; false once the deadline has passed. */
static bool
wait_round(struct child *c, const struct step_input *in,
    struct step_result *res, int64_t deadline)
{
	struct pollfd p[2] = { { .fd = c->in, .events = POLLOUT },
		{ .fd = c->out, .events = POLLIN } };
	int64_t left = deadline - mono_ms();
	int ms;

	if (left <= 0)
		return false;
	ms = left < EXEC_POLL_MS ? (int)left : EXEC_POLL_MS;
	if (poll(p, 2, ms) > 0) {
		if (c->in >= 0 && p[0].revents != 0)
			feed(c, in);
		if (c->out >= 0 && p[1].revents != 0)
			drain(c, res);
	}
	if (waitpid(c->pid, &c->status, WNOHANG) == c->pid)
		c->exited = true;
	return true;
}

/* Runs the child to its end or the timeout; kills the group then. */
static enum exec_end
supervise(const struct flow_step *st, struct child *c,
    const struct step_input *in, struct step_result *res)
{
	int64_t deadline = mono_ms() + (int64_t)st->timeout_ms;
	bool in_time = true;

	while (in_time && (!c->exited || c->out >= 0))
		in_time = wait_round(c, in, res, deadline);
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	if (in_time && WIFEXITED(c->status))
		return EXEC_EXITED;
	if (in_time)
		return EXEC_SIGNALED;
	kill(-c->pid, SIGKILL);
	if (!c->exited)
		while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
			;
	return EXEC_TIMEOUT;
}

void
exec_step_run(const struct flow_step *st, const struct step_input *in,
    struct step_result *res)
{
	struct child c = { .in = -1, .out = -1 };
	enum exec_end end;
	size_t n_own;
	char **env = make_env(in, &n_own);
	int rc = spawn_child(st, env, &c);

	free_env(env, n_own);
	res->code = -1;
	if (rc != 0) {
		res->outcome = backoff_classify_exec(EXEC_SPAWN_FAILED, 0);
		snprintf(res->reason, sizeof(res->reason), "cannot run %s: %s",
		    st->argv[0], strerror(rc));
		return;
	}
	end = supervise(st, &c, in, res);
	if (end == EXEC_EXITED)
		res->code = WEXITSTATUS(c.status);
	res->outcome = backoff_classify_exec(end, res->code);
	if (end == EXEC_EXITED)
		snprintf(res->reason, sizeof(res->reason), "%s exited with %d",
		    st->argv[0], res->code);
	else if (end == EXEC_SIGNALED)
		snprintf(res->reason, sizeof(res->reason),
		    "%s killed by signal %d", st->argv[0], WTERMSIG(c.status));
	else
		snprintf(res->reason, sizeof(res->reason),
		    "%s timed out after %llu ms (process group killed)",
		    st->argv[0], (unsigned long long)st->timeout_ms);
}
