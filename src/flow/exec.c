/*
 * exec - the command step: runs argv without a shell, the event JSON on
 * its stdin, and classifies how it ended (flow/backoff.h).
 *
 * Not pure: spawns a process; the engine's loop (engine.c) watches its
 * pipes and a pidfd with poll and calls back here, so a command never
 * blocks the thread that runs every step. The child is the leader of
 * a new process group, so the timeout kills it and everything it started
 * (kill(-pgid)). It gets the gateway's environment plus MT_EVENT_ID,
 * MT_TRIGGER, MT_INSTANCE, MT_FROM and MT_SUBJECT (when known), default
 * signal dispositions and an empty signal mask. Its stdout and stderr go
 * to one pipe whose first STEP_RESPONSE_MAX bytes are the attempt's
 * response; the rest is read and dropped so the child never blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flow/flow_int.h"
#include "util/xmalloc.h"

#define EXEC_ENV_EXTRA 5

extern char **environ;

struct child {
	pid_t pid;
	int in;    /* write end of its stdin, -1 once closed */
	int out;   /* read end of its stdout + stderr, -1 at EOF */
	int pidfd; /* readable when it exits; -1 when the kernel has none */
	size_t written;
	int status;
	bool exited;
	int64_t deadline; /* flow_mono_ms() */
};

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
		return rc;
	}
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	/* Without a pidfd the engine's loop ticks (ENGINE_TICK_MS) instead. */
	c->pidfd = pidfd_open(c->pid, 0);
	return 0;
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

/* Reaps the child if it has exited. */
static void
reap(struct child *c)
{
	if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
		c->exited = true;
	if (c->exited && c->pidfd >= 0) {
		close(c->pidfd);
		c->pidfd = -1;
	}
}

/* The result of a child that is over; frees it. */
static void
finish(struct step_job *j, struct child *c, enum exec_end end)
{
	const struct flow_step *st = j->st;
	struct step_result *res = &j->res;

	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (end == EXEC_EXITED && !WIFEXITED(c->status))
		end = EXEC_SIGNALED;
	if (end == EXEC_EXITED)
		res->code = WEXITSTATUS(c->status);
	res->outcome = backoff_classify_exec(end, res->code);
	if (end == EXEC_EXITED)
		snprintf(res->reason, sizeof(res->reason), "%s exited with %d",
		    st->argv[0], res->code);
	else if (end == EXEC_SIGNALED)
		snprintf(res->reason, sizeof(res->reason),
		    "%s killed by signal %d", st->argv[0], WTERMSIG(c->status));
	else
		snprintf(res->reason, sizeof(res->reason),
		    "%s timed out after %llu ms (process group killed)",
		    st->argv[0], (unsigned long long)st->timeout_ms);
	j->latency_ms = flow_now_ms() - j->at_ms;
	free(c);
	j->priv = NULL;
}

bool
exec_start(struct step_job *j)
{
	struct child *c = xcalloc(1, sizeof(*c));
	size_t n_own;
	char **env = make_env(&j->in, &n_own);
	int rc;

	c->in = c->out = c->pidfd = -1;
	j->at_ms = flow_now_ms();
	j->in.now_s = j->at_ms / 1000;
	j->res.code = -1;
	c->deadline = flow_mono_ms() + (int64_t)j->st->timeout_ms;
	rc = spawn_child(j->st, env, c);
	free_env(env, n_own);
	if (rc != 0) {
		free(c);
		j->res.outcome = backoff_classify_exec(EXEC_SPAWN_FAILED, 0);
		snprintf(j->res.reason, sizeof(j->res.reason),
		    "cannot run %s: %s", j->st->argv[0], strerror(rc));
		j->latency_ms = flow_now_ms() - j->at_ms;
		return false;
	}
	j->priv = c;
	return true;
}

unsigned
exec_fds(const struct step_job *j, struct pollfd *p, bool *tick)
{
	const struct child *c = j->priv;
	unsigned n = 0;

	if (c->in >= 0)
		p[n++] = (struct pollfd){ .fd = c->in, .events = POLLOUT };
	if (c->out >= 0)
		p[n++] = (struct pollfd){ .fd = c->out, .events = POLLIN };
	if (c->pidfd >= 0)
		p[n++] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
	else if (!c->exited)
		*tick = true;
	return n;
}

int64_t
exec_deadline(const struct step_job *j)
{
	return ((const struct child *)j->priv)->deadline;
}

bool
exec_progress(struct step_job *j)
{
	struct child *c = j->priv;

	/*
	 * Both pipes are non-blocking and tried every round: a pipe's end of
	 * file shows as POLLHUP alone, which curl_multi_poll() does not pass
	 * on.
	 */
	if (c->in >= 0)
		feed(c, &j->in);
	if (c->out >= 0)
		drain(c, &j->res);
	reap(c);
	/* Over when it exited and its output is closed (as before). */
	if (c->exited && c->out < 0) {
		finish(j, c, EXEC_EXITED);
		return true;
	}
	if (flow_mono_ms() < c->deadline)
		return false;
	kill(-c->pid, SIGKILL);
	if (!c->exited)
		while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
			;
	finish(j, c, EXEC_TIMEOUT);
	return true;
}
