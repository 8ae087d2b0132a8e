/*
 * busy - a SQLite busy handler that polls every 50 us (queue/busy.c says
 * why). Internal to src/queue/.
 */
#ifndef MT_QUEUE_BUSY_H
#define MT_QUEUE_BUSY_H

#include <sqlite3.h>

/* Installs the handler on db; limit_ms must outlive db. */
void queue_set_busy_handler(sqlite3 *db, const unsigned *limit_ms);

#endif
