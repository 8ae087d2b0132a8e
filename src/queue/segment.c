/*
 * segment - large message bodies in append-only files (queue/segment.h).
 *
 * Not pure: files and directories. A segment is named by its number,
 * ten decimal digits, so that names sort as numbers do; numbers only
 * grow, and the highest is the one the writer appends to.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/segment.h"
#include "util/xmalloc.h"

#define SEGMENT_DIR_MODE 0700 /* the queue holds private mail */
#define SEGMENT_FILE_MODE 0600
#define SEGMENT_NAME_LEN 10

struct segment_writer {
	char dir[PATH_MAX];
	int dirfd;
	int fd;              /* the current segment, -1 before the first */
	int64_t seg;         /* its number */
	int64_t next;        /* the number the next segment gets */
	int64_t size;        /* bytes in it, committed or not */
	int64_t batch_start; /* its size when the batch began */
	int64_t cached_from; /* bytes before this are out of the page cache */
	bool appended;       /* by this batch */
	bool created;        /* by this batch: the directory needs an fsync */
};

/* The directory beside db_path; -1 when the name would not fit. */
static int
dir_of(const char *db_path, char *dir, size_t size)
{
	int n = snprintf(dir, size, "%s%s", db_path, SEGMENT_DIR_SUFFIX);

	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* The segment number a directory entry names, or -1 for anything else. */
static int64_t
seg_number(const char *name)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; i < SEGMENT_NAME_LEN; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return name[i] == '\0' ? v : -1;
}

static void
seg_name(int64_t seg, char *out, size_t size)
{
	snprintf(out, size, "%0*" PRId64, SEGMENT_NAME_LEN, seg);
}

/* "what DIR/NNNNNNNNNN: strerror(errno)" into err. */
static void
seg_error(const char *what, const char *dir, int64_t seg, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "%s%s/%0*" PRId64 ": %s", what, dir,
	    SEGMENT_NAME_LEN, seg, strerror(errno));
}

/*
 * The segment numbers in d, in a new array (*n of them), and the highest
 * in *max (0 for none).
 */
static int64_t *
list_segments(DIR *d, size_t *n, int64_t *max)
{
	int64_t *v = NULL, seg;
	size_t cap = 0;
	struct dirent *e;

	*n = 0;
	*max = 0;
	while ((e = readdir(d)) != NULL) {
		if ((seg = seg_number(e->d_name)) < 0)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = seg;
		if (seg > *max)
			*max = seg;
	}
	return v;
}

/* fsyncs the directory holding path, so a new entry in it is durable. */
static int
sync_parent(const char *path)
{
	char parent[PATH_MAX];
	char *slash;
	int fd, rc;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Opens dir, creating it (and making its entry durable) when missing. */
static int
open_dir(const char *dir)
{
	if (mkdir(dir, SEGMENT_DIR_MODE) == 0 && sync_parent(dir) != 0)
		return -1;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

struct segment_writer *
segment_writer_open(const char *db_path, int64_t referenced, char *err,
    size_t errlen)
{
	struct segment_writer *w = xcalloc(1, sizeof(*w));
	size_t n;
	DIR *d;

	w->fd = -1;
	w->dirfd = -1;
	if (dir_of(db_path, w->dir, sizeof(w->dir)) != 0) {
		snprintf(err, errlen, "queue path is too long");
		goto fail;
	}
	w->dirfd = open_dir(w->dir);
	if (w->dirfd < 0 || (d = opendir(w->dir)) == NULL) {
		snprintf(err, errlen, "cannot open directory %s: %s", w->dir,
		    strerror(errno));
		goto fail;
	}
	free(list_segments(d, &n, &w->next));
	w->next = (w->next > referenced ? w->next : referenced) + 1;
	closedir(d);
	return w;
fail:
	segment_writer_close(w);
	return NULL;
}

void
segment_writer_close(struct segment_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w);
}

/*
 * Drops the segment's bytes from the page cache, all of them or all but
 * the newest SEGMENT_CACHE_BYTES (which delivery is about to read).
 * They are on disk already (segment_batch_sync()). Without this the
 * queue's page cache grows with every message kept; on a virtual machine
 * whose host backs guest memory only when it is first touched, writing
 * into ever new memory cost the writer 4 times the CPU (docs/queue.md).
 */
static void
drop_cache(struct segment_writer *w, bool all)
{
	int64_t keep = all ? 0 : SEGMENT_CACHE_BYTES;

	if (w->size - w->cached_from <= keep)
		return;
	posix_fadvise(w->fd, (off_t)w->cached_from,
	    (off_t)(w->size - keep - w->cached_from), POSIX_FADV_DONTNEED);
	w->cached_from = w->size - keep;
}

/* Closes the current segment: the next append starts a new one. */
static void
seal(struct segment_writer *w)
{
	if (w->fd >= 0) {
		drop_cache(w, true);
		close(w->fd);
	}
	w->cached_from = 0;
	w->fd = -1;
	w->size = 0;
}

void
segment_batch_begin(struct segment_writer *w)
{
	if (w->fd >= 0 && w->size >= SEGMENT_ROTATE_BYTES)
		seal(w);
	w->batch_start = w->size;
	w->appended = false;
	w->created = false;
}

/* Creates the next segment; it must not exist yet. */
static int
create_segment(struct segment_writer *w, char *err, size_t errlen)
{
	char name[SEGMENT_NAME_LEN + 1];

	seg_name(w->next, name, sizeof(name));
	w->fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    SEGMENT_FILE_MODE);
	if (w->fd < 0) {
		seg_error("cannot create ", w->dir, w->next, err, errlen);
		return -1;
	}
	w->seg = w->next++;
	w->size = w->batch_start = 0;
	w->created = true;
	return 0;
}

/* Writes all of buf at off, through short writes and signals. */
static int
write_all(int fd, const char *buf, size_t len, int64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int
segment_append(struct segment_writer *w, const void *data, size_t len,
    struct segment_ref *ref, char *err, size_t errlen)
{
	if (w->fd < 0 && create_segment(w, err, errlen) != 0)
		return -1;
	w->appended = true; /* even a failed write may have left bytes */
	if (write_all(w->fd, data, len, w->size) != 0) {
		seg_error("writing segment ", w->dir, w->seg, err, errlen);
		return -1;
	}
	ref->seg = w->seg;
	ref->off = w->size;
	w->size += (int64_t)len;
	return 0;
}

int
segment_batch_sync(struct segment_writer *w, char *err, size_t errlen)
{
	if (!w->appended)
		return 0;
	/* fdatasync covers the file's new size, the directory its name. */
	if (fdatasync(w->fd) != 0 || (w->created && fsync(w->dirfd) != 0)) {
		seg_error("syncing segment ", w->dir, w->seg, err, errlen);
		return -1;
	}
	drop_cache(w, false);
	return 0;
}

void
segment_batch_abandon(struct segment_writer *w, bool committing)
{
	char name[SEGMENT_NAME_LEN + 1];

	if (!w->appended && !w->created)
		return;
	if (committing) {
		seal(w);
		return;
	}
	if (w->created) {
		seg_name(w->seg, name, sizeof(name));
		unlinkat(w->dirfd, name, 0);
		seal(w);
	} else if (ftruncate(w->fd, (off_t)w->batch_start) == 0) {
		w->size = w->batch_start;
		if (w->cached_from > w->size)
			w->cached_from = w->size;
	} else
		seal(w);
	w->appended = w->created = false;
}

/*
 * Reads len bytes of segment seg at off into a new buffer in *out. -2
 * when the file is gone or too short (no retry helps), -1 for other
 * errors; err says which.
 */
static int
read_body(const char *dir, int64_t seg, int64_t off, size_t len, char **out,
    char *err, size_t errlen)
{
	char path[PATH_MAX + SEGMENT_NAME_LEN + 2];
	char *buf = xmalloc(len > 0 ? len : 1);
	size_t got = 0;
	ssize_t n = 0;
	int fd, why = 0;

	snprintf(path, sizeof(path), "%s/%0*" PRId64, dir, SEGMENT_NAME_LEN,
	    seg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		why = errno;
	while (fd >= 0 && got < len) {
		n = pread(fd, buf + got, len - got,
		    (off_t)(off + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			why = errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (got == len) {
		*out = buf;
		return 0;
	}
	free(buf);
	if (why != 0) {
		errno = why;
		seg_error("", dir, seg, err, errlen);
		return why == ENOENT ? -2 : -1;
	}
	snprintf(err, errlen,
	    "%s: %zu bytes at offset %" PRId64 " cut short at %zu", path, len,
	    off, got);
	return -2;
}

static void
sql_body(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *db_path;
	char dir[PATH_MAX], err[PATH_MAX + 128], *body;
	sqlite3_int64 size = sqlite3_value_int64(argv[3]);
	int rc;

	(void)argc;
	if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	db_path = sqlite3_db_filename(sqlite3_context_db_handle(ctx), "main");
	if (db_path == NULL || dir_of(db_path, dir, sizeof(dir)) != 0 ||
	    size < 0) {
		sqlite3_result_error(ctx, "message body: bad segment row", -1);
		sqlite3_result_error_code(ctx, SQLITE_CORRUPT);
		return;
	}
	rc = read_body(dir, sqlite3_value_int64(argv[1]),
	    sqlite3_value_int64(argv[2]), (size_t)size, &body, err,
	    sizeof(err));
	if (rc != 0) {
		sqlite3_result_error(ctx, err, -1);
		/* Gone or cut short: no retry brings it back (queue.h). */
		if (rc == -2)
			sqlite3_result_error_code(ctx, SQLITE_CORRUPT);
		return;
	}
	sqlite3_result_blob64(ctx, body, (sqlite3_uint64)size, free);
}

void
segment_register_sql(sqlite3 *db)
{
	sqlite3_create_function(db, "mt_body", 4, SQLITE_UTF8, NULL, sql_body,
	    NULL, NULL);
}

/* 1 when a row references seg, 0 when none does, -1 on error. */
static int
referenced(sqlite3_stmt *st, int64_t seg)
{
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, seg);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return -1;
	return sqlite3_column_int(st, 0);
}

/*
 * Deletes the unreferenced ones among the n segments of segs that are
 * below newest.
 */
static int
sweep_list(sqlite3 *db, int dirfd, const int64_t *segs, size_t n,
    int64_t newest, size_t *removed, char *err, size_t errlen)
{
	char name[SEGMENT_NAME_LEN + 1];
	sqlite3_stmt *st = NULL;
	int ref = 0;
	size_t i;

	if (sqlite3_prepare_v2(db,
		"SELECT EXISTS (SELECT 1 FROM messages WHERE seg = ?1)", -1,
		&st, NULL) != SQLITE_OK)
		ref = -1;
	for (i = 0; ref >= 0 && i < n; i++) {
		if (segs[i] >= newest)
			continue;
		ref = referenced(st, segs[i]);
		seg_name(segs[i], name, sizeof(name));
		if (ref == 0 && unlinkat(dirfd, name, 0) == 0)
			(*removed)++;
	}
	if (ref < 0)
		snprintf(err, errlen, "segment sweep: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return ref < 0 ? -1 : 0;
}

int
segment_sweep(sqlite3 *db, size_t *removed, char *err, size_t errlen)
{
	const char *db_path = sqlite3_db_filename(db, "main");
	char dir[PATH_MAX];
	int64_t *segs, newest;
	size_t n;
	DIR *d;
	int rc;

	if (db_path == NULL || dir_of(db_path, dir, sizeof(dir)) != 0) {
		snprintf(err, errlen, "segment sweep: queue path is too long");
		return -1;
	}
	d = opendir(dir);
	if (d == NULL && errno == ENOENT) /* no large body was ever stored */
		return 0;
	if (d == NULL) {
		snprintf(err, errlen, "segment sweep: %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	/*
	 * One look at the directory, then only numbers below the highest
	 * seen: the writer appends only to the highest segment there is,
	 * and one it creates meanwhile gets a higher number still. Its rows
	 * may not be committed yet; deleting it would lose mail already
	 * acknowledged a moment later. (test_sweep_beside_writer)
	 */
	segs = list_segments(d, &n, &newest);
	rc = sweep_list(db, dirfd(d), segs, n, newest, removed, err, errlen);
	free(segs);
	closedir(d);
	return rc;
}
