/*
 * busy - the SQLite busy handler both queue connections use.
 *
 * The intake writer and the delivery connection take turns at SQLite's one
 * write lock. SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms
 * between tries, so a commit that finds the lock held for 50 us waits a
 * whole millisecond or more: at one message per session that capped intake
 * at about 100 msg/s while flows ran. Transactions here are short, so poll
 * every 50 us instead, up to the same overall time limit.
 *
 * Polling is not fair, though: under load the intake writer commits back
 * to back and takes the lock again within microseconds of freeing it, so
 * the delivery batch waited 15 to 80 ms for its turn (and the webhook with
 * it). Within the process the writers therefore queue for a ticket (the
 * write turn) before they ask SQLite: each waits at most for the
 * transactions ahead of it. The busy handler still covers other processes
 * (the queue CLI).
 */
#include "queue/busy.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define BUSY_POLL_US 50

static int
busy_poll_cb(void *arg, int tries)
{
	const unsigned *limit_ms = arg;
	struct timespec ts = { 0, BUSY_POLL_US * 1000 };

	if ((unsigned long)tries * BUSY_POLL_US >= *limit_ms * 1000UL)
		return 0; /* give up: SQLITE_BUSY goes to the caller */
	nanosleep(&ts, NULL);
	return 1;
}

void
queue_set_busy_handler(sqlite3 *db, const unsigned *limit_ms)
{
	sqlite3_busy_handler(db, busy_poll_cb, (void *)limit_ms);
}

static pthread_mutex_t turn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cv = PTHREAD_COND_INITIALIZER;
static unsigned long turn_next, turn_now; /* tickets given, now served */

void
queue_turn_take(void)
{
	unsigned long mine;

	if (pthread_mutex_lock(&turn_mu) != 0)
		abort();
	mine = turn_next++;
	while (mine != turn_now)
		pthread_cond_wait(&turn_cv, &turn_mu);
	pthread_mutex_unlock(&turn_mu);
}

void
queue_turn_give(void)
{
	if (pthread_mutex_lock(&turn_mu) != 0)
		abort();
	turn_now++;
	pthread_cond_broadcast(&turn_cv);
	pthread_mutex_unlock(&turn_mu);
}
