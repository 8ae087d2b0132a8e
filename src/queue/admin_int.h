/*
 * admin_int - what admin.c and admin_purge.c share. Internal to
 * src/queue/; sqlite3 types stay in these files.
 */
#ifndef MT_QUEUE_ADMIN_INT_H
#define MT_QUEUE_ADMIN_INT_H

#include <stddef.h>

#include <sqlite3.h>

#include "queue/admin.h"

/* One connection to an existing queue, and the last error's text. */
struct admin {
	sqlite3 *db;
	char err[512];
};

/* Sets the text admin_errmsg() returns. */
void admin_set_err(struct admin *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "what: SQLite's message" as the error; returns ADMIN_ERR_IO. */
enum admin_status admin_db_fail(struct admin *a, const char *what);
/* Column i as text into out (cut to size; "" for NULL). */
void admin_col_copy(sqlite3_stmt *st, int i, char *out, size_t size);
/*
 * BEGIN IMMEDIATE, and its end: COMMIT when s is ADMIN_OK (a failed
 * COMMIT turns it into ADMIN_ERR_IO), else ROLLBACK. admin_end returns
 * the final status.
 */
enum admin_status admin_begin(struct admin *a);
enum admin_status admin_end(struct admin *a, enum admin_status s);

#endif
