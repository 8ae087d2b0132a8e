/*
 * busy - a SQLite busy handler that polls every 50 us, and the turn the
 * process's write transactions take in order (queue/busy.c says why).
 * Internal to src/queue/.
 */
#ifndef MT_QUEUE_BUSY_H
#define MT_QUEUE_BUSY_H

#include <sqlite3.h>

/* Installs the handler on db; limit_ms must outlive db. */
void queue_set_busy_handler(sqlite3 *db, const unsigned *limit_ms);
/*
 * The write turn: first come, first served among this process's queue
 * writers (intake's writer thread, the delivery batch). Take it before
 * BEGIN IMMEDIATE, give it back after COMMIT or ROLLBACK.
 */
void queue_turn_take(void);
void queue_turn_give(void);

#endif
