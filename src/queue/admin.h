/*
 * admin - the operator's side of the SQLite queue: list events, show one
 * with its attempts and raw message, make dead events due again, and
 * purge what has ended (the `queue` command, queue_cmd.c, and the
 * gateway's retention thread, retention.c).
 *
 * Not pure: owns one SQLite connection to an existing queue. It never
 * creates or migrates a queue: a missing file, a file that is not SQLite
 * or a SQLite file that is not a mailtrigger queue of this schema version
 * is refused. It is safe while the gateway runs: WAL readers never block
 * the writer, and every write here is one short BEGIN IMMEDIATE
 * transaction (a purge in batches of at most `max` messages), polled by
 * the queue's busy handler (queue/busy.h). sqlite3 types never leave
 * admin.c and admin_purge.c. Results are owned by the caller and freed
 * with the matching _free function. docs/queue.md, "Queue CLI" and
 * "Retention".
 */
#ifndef MT_QUEUE_ADMIN_H
#define MT_QUEUE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/id.h"

enum admin_status {
	ADMIN_OK = 0,
	ADMIN_NOT_FOUND, /* no such event or message */
	ADMIN_REFUSED,   /* the event's state does not allow it */
	ADMIN_ERR_IO,    /* SQLite failed (busy too long, disk, corrupt) */
};

/* The longest event id: "evt_" + message id + ".N". */
#define ADMIN_EVENT_ID_MAX (ID_LEN + 16)
/* A purge transaction deletes at most this many messages (with events). */
#define ADMIN_PURGE_BATCH 500

struct admin;

/* One attempt of one event (attempts table). */
struct admin_attempt {
	unsigned n;
	int64_t at_ms;
	unsigned step;
	char status[8];     /* ok | retry | fail */
	int code;           /* -1 when NULL */
	int64_t latency_ms; /* -1 when NULL */
	char *response;     /* "" when NULL */
};

/* One event row, with its message's sender. Owns every pointer. */
struct admin_event {
	char id[ADMIN_EVENT_ID_MAX];
	char message_id[ID_LEN + 1];
	char state[16];
	char *instance, *trigger, *tag;
	char *recipients, *rcpt_to; /* JSON arrays as stored */
	unsigned attempts;
	unsigned next_step;
	int64_t created_at_ms;
	int64_t next_attempt_at_ms; /* -1 when NULL */
	int64_t lease_until_ms;     /* -1 when NULL */
	char *dead_reason;          /* NULL when none; so are the next three */
	char *note;
	char *dedup_key;
	char *rewrite;
	char *mail_from;           /* the message's, "" for the null sender */
	struct admin_attempt *att; /* admin_show() only: in order of n */
	size_t n_att;
};

/* A stored message (messages table). Owns every pointer. */
struct admin_message {
	char id[ID_LEN + 1];
	int64_t received_at_ms;
	char *mail_from, *client_ip, *helo;
	bool tls, smtputf8;
	char *data; /* byte-exact, NUL added after len */
	size_t len;
};

/* What admin_show() found. */
struct admin_detail {
	struct admin_message msg;
	struct admin_event *events; /* the one asked for, or all of msg */
	size_t n_events;
};

/* What admin_list() selects; NULL / 0 fields select everything. */
struct admin_filter {
	const char *state;   /* must pass admin_state_valid() */
	const char *trigger; /* exact, as stored (lower case) */
	size_t limit;        /* newest first; 0 = no limit */
};

/* What a purge deleted. */
struct admin_purge_stats {
	size_t messages, events, attempts, rejections;
	size_t segments; /* body segment files (queue/segment.h) */
};

/* The wall clock in Unix milliseconds, as the queue stores times. */
int64_t admin_now_ms(void);

/* Pure: true for the seven event states of docs/queue.md. */
bool admin_state_valid(const char *state);
/* Pure: true for done, dead, ignored, duplicate (nothing will run). */
bool admin_state_final(const char *state);

/*
 * Opens the queue at path read-write without creating anything. NULL
 * with a one-line reason in err ("no such file", "not a SQLite database
 * (...)", "not a mailtrigger queue (...)", "schema version N, want M")
 * on failure.
 */
struct admin *admin_open(const char *path, char *err, size_t errlen);
void admin_close(struct admin *a);
/* Why the last call failed or refused; valid until the next call. */
const char *admin_errmsg(const struct admin *a);

/*
 * Events matching f, newest first (created_at, then id), in *out (free
 * with admin_events_free()), *n of them. ADMIN_REFUSED for a bad state.
 */
enum admin_status admin_list(struct admin *a, const struct admin_filter *f,
    struct admin_event **out, size_t *n);
void admin_events_free(struct admin_event *e, size_t n);

/*
 * id is an event id (evt_...) or a bare message id: fills d with the
 * message and that event, or all the message's events, each with its
 * attempts. ADMIN_NOT_FOUND when there is no such id. Free with
 * admin_detail_free().
 */
enum admin_status admin_show(struct admin *a, const char *id,
    struct admin_detail *d);
void admin_detail_free(struct admin_detail *d);

/* Called once per event a retry made due: its id and former state. */
typedef void admin_retry_cb(void *arg, const char *id, const char *was);

/*
 * Makes the event id (or every dead or retry event of message id) due
 * at now_ms: state retry, lease dropped, dead_reason cleared; the
 * attempts stay. ADMIN_REFUSED, naming the state, for an event that is
 * queued or running (it will run anyway) or done, ignored or duplicate
 * (running it again would deliver twice or override a rule; send the
 * mail again instead). ADMIN_NOT_FOUND for an unknown id.
 */
enum admin_status admin_retry(struct admin *a, const char *id, int64_t now_ms,
    admin_retry_cb *cb, void *arg);
/* Makes every dead event due at now_ms, in one statement; *n of them. */
enum admin_status admin_retry_dead(struct admin *a, int64_t now_ms,
    admin_retry_cb *cb, void *arg, size_t *n);

/* Called once per message a purge deleted, with its event count. */
typedef void admin_purge_cb(void *arg, const char *msg_id,
    int64_t received_at_ms, size_t events);

/*
 * One purge transaction: deletes up to max messages received before
 * cutoff_ms whose events are all final (admin_state_final()) and have no
 * attempt at or after cutoff_ms, oldest first, with their events and
 * attempts. Adds to *st; *more is true when there may be more to delete.
 */
enum admin_status admin_purge_batch(struct admin *a, int64_t cutoff_ms,
    size_t max, admin_purge_cb *cb, void *arg, struct admin_purge_stats *st,
    bool *more);
/*
 * One transaction on the rejections table: deletes up to max rows older
 * than cutoff_ms, then, while more than keep rows remain (keep 0: no
 * cap), the oldest, up to max rows in all. Adds to st->rejections.
 */
enum admin_status admin_trim_rejections(struct admin *a, int64_t cutoff_ms,
    size_t keep, size_t max, struct admin_purge_stats *st, bool *more);
/*
 * Deletes the body segment files no message references any more (but
 * never the newest, which the gateway may be appending to); adds their
 * number to st->segments.
 */
enum admin_status admin_sweep_segments(struct admin *a,
    struct admin_purge_stats *st);

/*
 * Retention (retention.c): the gateway deletes ended messages and old
 * rejections by itself, per struct queue_retention (config.h).
 */
struct queue_retention;
struct config;
struct retention;

/* How often the retention thread runs a pass. */
#define RETENTION_INTERVAL_MS 60000

/* What a retention pass calls back; every member may be NULL. */
struct retention_hooks {
	bool (*between)(void *arg); /* between two batches; false stops */
	admin_purge_cb *purged;     /* once per message deleted */
	void *arg;
};

/*
 * One retention pass as of now_ms: purge batches of ended messages older
 * than p->retention_ms, then rejections older than
 * p->rejection_retention_ms or beyond p->rejections_max, each batch its
 * own transaction (0 keeps forever, or sets no cap), then the body
 * segments left unreferenced (admin_sweep_segments()). h may be NULL.
 * Adds what it deleted to *st.
 */
enum admin_status retention_pass(struct admin *a,
    const struct queue_retention *p, int64_t now_ms,
    const struct retention_hooks *h, struct admin_purge_stats *st);
/*
 * Starts the retention thread on cfg->queue_path (which must exist): a
 * pass at start and then every RETENTION_INTERVAL_MS, logged when it
 * deleted anything. NULL with a reason in err on failure.
 */
struct retention *retention_start(const struct config *cfg, char *err,
    size_t errlen);
/* Passes from now on use cfg's queue.retention keys (SIGHUP reload). */
void retention_set_config(struct retention *r, const struct config *cfg);
/* Stops the thread (a running batch finishes first). NULL is a no-op. */
void retention_stop(struct retention *r);

/*
 * `mailtrigger queue list|show|retry|purge ...` (queue_cmd.c): argv from
 * "queue" on. Returns the exit status: 0, 1 failure, 2 usage.
 */
int cmd_queue(int argc, char **argv);

#endif
