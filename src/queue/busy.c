/*
 * busy - the SQLite busy handler both queue connections use.
 *
 * The intake writer and the delivery connection take turns at SQLite's one
 * write lock. SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms
 * between tries, so a commit that finds the lock held for 50 us waits a
 * whole millisecond or more: at one message per session that capped intake
 * at about 100 msg/s while flows ran. Transactions here are short, so poll
 * every 50 us instead, up to the same overall time limit.
 */
#include "queue/busy.h"

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
