/*
 * log - structured log lines in logfmt (key=value, values quoted when
 * needed), one line per record, to stderr.
 *
 * Not pure (writes to a stream and reads the clock). Build a record with
 * log_begin(), add fields with the log_kv_* functions, and emit it with
 * log_end(). A record is bounded (LOG_LINE_MAX); fields past the bound are
 * dropped and the record gets truncated=1. Never pass message bodies or
 * secrets: the log is for envelopes and decisions.
 */
#ifndef MT_UTIL_LOG_H
#define MT_UTIL_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"

#define LOG_LINE_MAX 8192

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_record {
	struct buf line;
	enum log_level level;
	bool truncated;
};

/* Sets the stream (default stderr) and the lowest level written. */
void log_setup(FILE *stream, enum log_level min_level);
/* Starts a record with ts=, level= and msg= fields. */
void log_begin(struct log_record *r, enum log_level level, const char *msg);
void log_kv_str(struct log_record *r, const char *key, const char *value);
void log_kv_strn(struct log_record *r, const char *key, const char *value,
    size_t len);
void log_kv_int(struct log_record *r, const char *key, long long value);
void log_kv_uint(struct log_record *r, const char *key, unsigned long long v);
void log_kv_bool(struct log_record *r, const char *key, bool value);
/* Writes the record as one line and frees it. */
void log_end(struct log_record *r);
/* A one-field convenience: level, msg and a free-form detail. */
void log_msg(enum log_level level, const char *msg, const char *detail);

/*
 * Appends key=value to b in logfmt: the value is quoted when it is empty or
 * holds a space, '=', '"' or a control byte; '"' and '\' are escaped, and
 * control bytes are written as \n, \r, \t or \xHH. Pure; used by tests.
 */
void logfmt_append(struct buf *b, const char *key, const char *value,
    size_t len);

#endif
