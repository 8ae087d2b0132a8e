/*
 * test_queue_segment - large bodies in segment files (queue/segment.h).
 *
 * Each test stores through the real queue writer into its own mkdtemp()
 * directory and reads back three ways: the files themselves, the admin
 * connection (`queue show`) and the delivery connection (a claim). Full
 * disks are real tmpfs mounts (root, as CI runs), mounted over the
 * segment directory alone so the failure is the segment's and not
 * SQLite's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "queue/admin.h"
#include "queue/queue.h"
#include "queue/queue_stats.h"
#include "queue/segment.h"
#include "queue_fixture.h"
#include "util/xmalloc.h"

/* Fills m's body with bytes that differ per message and per offset. */
static struct queue_message *
body_message(size_t len)
{
	struct queue_message *m = make_message(1, len);
	size_t i;

	for (i = 0; i < len; i++)
		m->data[i] = (char)((i * 131 + id_seq * 7) & 0xff);
	return m;
}

/* A copy of m's body, to compare with after the queue freed m. */
static char *
body_copy(const struct queue_message *m)
{
	char *c = xmalloc(m->len + 1);

	memcpy(c, m->data, m->len);
	return c;
}

/* Stores msgs in ONE batch (the writer paused meanwhile); all must be OK. */
static void
store_batch(struct queue *q, struct queue_message **msgs, size_t n,
    struct job_rec *r)
{
	struct tally t = { 0 };
	size_t i;

	queue_pause_writer(q, true);
	for (i = 0; i < n; i++)
		submit(q, msgs[i], &r[i], &t);
	queue_pause_writer(q, false);
	wait_idle(q);
	if (t.ok != n)
		fail_msg("%zu of %zu messages stored", t.ok, n);
}

static void
seg_path(const struct fixture *f, long long seg, char *out, size_t size)
{
	snprintf(out, size, "%s%s/%010lld", f->path, SEGMENT_DIR_SUFFIX, seg);
}

static long long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The number of segment files in the queue's segment directory. */
static size_t
count_segments(const struct fixture *f)
{
	char p[256];
	long long seg;
	size_t n = 0;

	for (seg = 1; seg < 100; seg++) {
		seg_path(f, seg, p, sizeof(p));
		n += access(p, F_OK) == 0;
	}
	return n;
}

/* The bytes of file path at off equal want[0..len). */
static void
assert_file_bytes(const char *path, long long off, const char *want, size_t len)
{
	char *got = xmalloc(len + 1);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	n = pread(fd, got, len, (off_t)off);
	close(fd);
	if (n != (ssize_t)len || memcmp(got, want, len) != 0)
		fail_msg("%s at %lld: %zd bytes, not the %zu stored", path, off,
		    n, len);
	free(got);
}

/* `queue show`'s read of message id is want, byte for byte. */
static void
assert_admin_body(const char *path, const char *id, const char *want,
    size_t len)
{
	struct admin_detail d = { 0 };
	char err[512];
	struct admin *a = admin_open(path, err, sizeof(err));

	if (a == NULL)
		fail_msg("admin_open: %s", err);
	if (admin_show(a, id, &d) != ADMIN_OK)
		fail_msg("admin_show %s: %s", id, admin_errmsg(a));
	if (d.msg.len != len || memcmp(d.msg.data, want, len) != 0)
		fail_msg("admin_show %s: %zu bytes, not the %zu stored", id,
		    d.msg.len, len);
	admin_detail_free(&d);
	admin_close(a);
}

static long long
row_int(const char *path, const char *col, const char *id)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
	    "SELECT ifnull(%s, -1) FROM messages WHERE id = '%s'", col, id);
	return count(path, sql);
}

/*
 * Bodies up to SEGMENT_INLINE_MAX stay in their row; longer ones go, one
 * after the other, into segment 1 and read back exactly through the
 * files, `queue show` and a delivery claim.
 */
static void
test_large_bodies_in_segments(void **state)
{
	static const size_t sizes[] = { 0, SEGMENT_INLINE_MAX,
		SEGMENT_INLINE_MAX + 1, 100 * 1024, 1024 * 1024 };
	enum { N = NELEM(sizes) };
	struct fixture *f = *state;
	struct queue_message *m[N];
	struct job_rec r[N];
	struct queue_claim *c = NULL;
	struct queue_delivery *d;
	char *want[N], seg[256], err[512];
	long long off = 0;
	size_t i, j, n = 0;
	struct queue *q = open_ok(f->path);

	for (i = 0; i < N; i++) {
		m[i] = body_message(sizes[i]);
		want[i] = body_copy(m[i]);
	}
	store_batch(q, m, N, r);
	queue_close(q);
	seg_path(f, 1, seg, sizeof(seg));
	for (i = 0; i < N; i++) {
		bool big = sizes[i] > SEGMENT_INLINE_MAX;

		if (row_int(f->path, "seg", r[i].id) != (big ? 1 : -1) ||
		    row_int(f->path, "length(data)", r[i].id) !=
			(big ? -1 : (long long)sizes[i]))
			fail_msg("%zu bytes: seg %lld, data %lld bytes",
			    sizes[i], row_int(f->path, "seg", r[i].id),
			    row_int(f->path, "length(data)", r[i].id));
		if (big) {
			assert_int_equal(row_int(f->path, "seg_off", r[i].id),
			    off);
			assert_file_bytes(seg, off, want[i], sizes[i]);
			off += (long long)sizes[i];
		}
		assert_admin_body(f->path, r[i].id, want[i], sizes[i]);
	}
	assert_int_equal(file_size(seg), off);
	d = queue_delivery_open(f->path, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(queue_claim(d, T0_MS + 1000000, 60000, N, &c, &n),
	    QUEUE_OK);
	assert_int_equal(n, N);
	for (i = 0; i < n; i++)
		for (j = 0; j < N; j++)
			if (strcmp(c[i].message_id, r[j].id) == 0 &&
			    (c[i].len != sizes[j] ||
				memcmp(c[i].data, want[j], sizes[j]) != 0))
				fail_msg("claim of %s: %zu bytes, not the %zu "
					 "stored",
				    r[j].id, c[i].len, sizes[j]);
	queue_claims_free(c, n);
	queue_delivery_close(d);
	for (i = 0; i < N; i++)
		free(want[i]);
}

/* Whether any page of the file at path is in the page cache. */
static bool
any_cached(const char *path)
{
	long long size = file_size(path);
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = (size_t)((size + page - 1) / page), i;
	unsigned char *vec = xcalloc(pages + 1, 1);
	int fd = open(path, O_RDONLY);
	void *map;
	bool any = false;

	assert_true(fd >= 0 && size > 0);
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mincore(map, (size_t)size, vec), 0);
	for (i = 0; i < pages; i++)
		any |= (vec[i] & 1) != 0;
	munmap(map, (size_t)size);
	close(fd);
	free(vec);
	return any;
}

/*
 * A segment that reached SEGMENT_ROTATE_BYTES is closed and the next
 * batch starts segment 2 at offset 0; the closed one has left the page
 * cache (it is on disk; delivery reads only the newest bytes soon).
 */
static void
test_rotation(void **state)
{
	enum { PIECE = 8 * 1024 * 1024, FIT = SEGMENT_ROTATE_BYTES / PIECE };
	struct fixture *f = *state;
	struct queue_message *m[FIT + 1];
	struct job_rec r[FIT + 1];
	char seg[256];
	size_t i;
	struct queue *q = open_ok(f->path);

	for (i = 0; i <= FIT; i++)
		m[i] = body_message(PIECE);
	store_batch(q, m, FIT, r);
	store_batch(q, &m[FIT], 1, &r[FIT]);
	queue_close(q);
	for (i = 0; i < FIT; i++)
		assert_int_equal(row_int(f->path, "seg", r[i].id), 1);
	assert_int_equal(row_int(f->path, "seg", r[FIT].id), 2);
	assert_int_equal(row_int(f->path, "seg_off", r[FIT].id), 0);
	seg_path(f, 1, seg, sizeof(seg));
	assert_int_equal(file_size(seg), SEGMENT_ROTATE_BYTES);
	if (any_cached(seg))
		fail_msg("%s: closed, yet still in the page cache", seg);
}

/* Mounts a tmpfs of size over the queue's segment directory. */
static void
mount_segment_dir(struct fixture *f, const char *size)
{
	char spool[96];

	snprintf(spool, sizeof(spool), "%s/spool", f->dir);
	assert_int_equal(mkdir(spool, 0700), 0);
	snprintf(f->mnt, sizeof(f->mnt), "%s%s", f->path, SEGMENT_DIR_SUFFIX);
	mount_tmpfs_at_mnt(f, size);
}

static void
grow_segment_dir(struct fixture *f, const char *size)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%s", size);
	assert_int_equal(mount("tmpfs", f->mnt, "tmpfs", MS_REMOUNT, opts), 0);
}

/* Stores one message alone; returns its status. */
static enum queue_status
store_one(struct queue *q, struct queue_message *m, struct job_rec *r)
{
	struct tally t = { 0 };

	submit(q, m, r, &t);
	wait_idle(q);
	return r->st;
}

/*
 * A full segment disk fails the batch (451 at the client) and leaves no
 * byte behind: the segment is cut back to what committed rows reference,
 * a segment the failed batch created is removed, and once space returns
 * the same open queue appends again.
 */
static void
test_segment_disk_full(void **state)
{
	/* Not a whole number of pages: the write that fails is partial. */
	enum { LEN = 40 * 1024 + 100, MAX = 64 };
	struct fixture *f = *state;
	struct queue_message *m;
	struct job_rec r[MAX];
	char *want[MAX], seg[256];
	size_t i, ok = 0;
	struct queue *q;

	mount_segment_dir(f, "16k");
	q = open_ok(f->path);
	/* The first write fails: the new segment is removed again. */
	m = body_message(LEN);
	assert_int_equal(store_one(q, m, &r[0]), QUEUE_ERR_IO);
	assert_int_equal(count_segments(f), 0);
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), 0);
	grow_segment_dir(f, "200k");
	for (i = 0; i < MAX; i++) {
		m = body_message(LEN);
		want[i] = body_copy(m);
		if (store_one(q, m, &r[i]) != QUEUE_OK)
			break;
		ok++;
	}
	if (ok == 0 || ok == MAX)
		fail_msg("%zu of %d messages of %d bytes stored in 200k", ok,
		    MAX, LEN);
	/* One segment, exactly as long as the bodies its rows reference. */
	assert_int_equal(count_segments(f), 1);
	seg_path(f, 2, seg, sizeof(seg));
	assert_int_equal(file_size(seg), (long long)(ok * LEN));
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"),
	    (long long)ok);
	assert_int_equal(count(f->path,
			     "SELECT ifnull(sum(size), 0) FROM messages"
			     " WHERE seg = 2"),
	    (long long)(ok * LEN));
	free(want[ok]);
	grow_segment_dir(f, "1m");
	m = body_message(LEN);
	want[ok] = body_copy(m);
	assert_int_equal(store_one(q, m, &r[ok]), QUEUE_OK);
	queue_close(q);
	assert_int_equal(count_segments(f), 1);
	for (i = 0; i <= ok; i++) {
		assert_file_bytes(seg, (long long)(i * LEN), want[i], LEN);
		assert_admin_body(f->path, r[i].id, want[i], LEN);
		free(want[i]);
	}
}

/* Stores one large message through a queue opened for it alone. */
static void
store_in_new_segment(struct fixture *f, struct job_rec *r)
{
	struct queue *q = open_ok(f->path);

	assert_int_equal(store_one(q, body_message(2 * SEGMENT_INLINE_MAX), r),
	    QUEUE_OK);
	queue_close(q);
}

static void
end_event(const char *path, const char *msg_id)
{
	char sql[160];
	sqlite3 *db = NULL;

	snprintf(sql, sizeof(sql),
	    "UPDATE events SET state = 'done' WHERE message_id = '%s'", msg_id);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static size_t
purge_all(const char *path)
{
	struct queue_retention p = { .retention_ms = 1 };
	struct admin_purge_stats st = { 0 };
	char err[512];
	struct admin *a = admin_open(path, err, sizeof(err));

	if (a == NULL)
		fail_msg("admin_open: %s", err);
	if (retention_pass(a, &p, admin_now_ms(), NULL, &st) != ADMIN_OK)
		fail_msg("retention_pass: %s", admin_errmsg(a));
	admin_close(a);
	return st.segments;
}

/*
 * Each queue_open() starts a new segment. Retention deletes a segment
 * once no row references it, but never the newest (the gateway may be
 * appending to it), and never a file that is not a segment.
 */
static void
test_sweep(void **state)
{
	struct fixture *f = *state;
	struct job_rec r[4];
	char seg[4][256], other[2][256];
	size_t i;

	for (i = 0; i < 3; i++) {
		store_in_new_segment(f, &r[i]);
		seg_path(f, (long long)i + 1, seg[i], sizeof(seg[i]));
		assert_int_equal(row_int(f->path, "seg", r[i].id),
		    (long long)i + 1);
	}
	snprintf(other[0], sizeof(other[0]), "%s%s/notes", f->path,
	    SEGMENT_DIR_SUFFIX);
	snprintf(other[1], sizeof(other[1]), "%s%s/000000000x", f->path,
	    SEGMENT_DIR_SUFFIX);
	for (i = 0; i < 2; i++)
		close(open(other[i], O_WRONLY | O_CREAT, 0600));
	end_event(f->path, r[0].id); /* segment 1: purged, then deleted */
	end_event(f->path, r[2].id); /* 3: purged, but the newest */
	assert_int_equal(purge_all(f->path), 1);
	assert_int_equal(access(seg[0], F_OK), -1);
	assert_int_equal(access(seg[1], F_OK), 0); /* r[1] is queued */
	assert_int_equal(access(seg[2], F_OK), 0);
	/* Segment 4 is the newest now: 3 goes. */
	store_in_new_segment(f, &r[3]);
	assert_int_equal(purge_all(f->path), 1);
	assert_int_equal(access(seg[2], F_OK), -1);
	assert_int_equal(access(seg[1], F_OK), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(access(other[i], F_OK), 0);
}

struct sweeper {
	const char *path;
	volatile bool stop;
	size_t passes;
};

/* Sweeps again and again, as `queue purge` or retention may at any time. */
static void *
sweep_loop(void *arg)
{
	struct sweeper *s = arg;
	size_t removed = 0;
	char err[512];
	sqlite3 *db = NULL;

	if (sqlite3_open(s->path, &db) != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(db, 5000);
	while (!s->stop) {
		segment_sweep(db, &removed, err, sizeof(err));
		s->passes++;
	}
	sqlite3_close(db);
	return NULL;
}

/*
 * A sweep that runs while the writer starts a segment must leave it: a
 * segment created after the sweep looked at the directory has no row
 * yet, but its rows are about to commit (and their 250s to go out).
 * Every queue_open() starts a new segment; each body must read back.
 */
static void
test_sweep_beside_writer(void **state)
{
	enum { N = 40 };
	struct fixture *f = *state;
	struct sweeper s = { .path = f->path };
	struct job_rec r[N];
	char seg[256];
	pthread_t t;
	size_t i;

	queue_close(open_ok(f->path)); /* the schema, for the sweeper */
	assert_int_equal(pthread_create(&t, NULL, sweep_loop, &s), 0);
	for (i = 0; i < N; i++)
		store_in_new_segment(f, &r[i]);
	s.stop = true;
	pthread_join(t, NULL);
	assert_true(s.passes > 0);
	for (i = 0; i < N; i++) {
		seg_path(f, row_int(f->path, "seg", r[i].id), seg, sizeof(seg));
		if (file_size(seg) < 2 * SEGMENT_INLINE_MAX)
			fail_msg("message %zu of %d: %s deleted by a sweep "
				 "although the message is queued",
			    i + 1, N, seg);
	}
}

/*
 * The newest segment deleted by hand: its number is not used again, or
 * its rows would read another message's bytes.
 */
static void
test_number_never_reused(void **state)
{
	struct fixture *f = *state;
	struct job_rec r[2];
	char seg[256];

	store_in_new_segment(f, &r[0]);
	seg_path(f, 1, seg, sizeof(seg));
	assert_int_equal(unlink(seg), 0);
	store_in_new_segment(f, &r[1]);
	assert_int_equal(row_int(f->path, "seg", r[1].id), 2);
	assert_int_equal(access(seg, F_OK), -1);
}

/*
 * A body whose segment is gone fails its reader with the file's name:
 * `queue show`, and the delivery load, as QUEUE_ERR_CORRUPT (no retry
 * brings it back: the runner makes the event dead).
 */
static void
test_missing_segment(void **state)
{
	struct fixture *f = *state;
	struct queue_claim *c = NULL;
	struct queue_delivery *d;
	struct admin_detail det = { 0 };
	struct job_rec r;
	char seg[256], err[512];
	struct admin *a;
	size_t n = 0;

	store_in_new_segment(f, &r);
	seg_path(f, 1, seg, sizeof(seg));
	assert_int_equal(unlink(seg), 0);
	a = admin_open(f->path, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(admin_show(a, r.id, &det), ADMIN_ERR_IO);
	if (strstr(admin_errmsg(a), seg) == NULL ||
	    strstr(admin_errmsg(a), "No such file") == NULL)
		fail_msg("error \"%s\" does not name %s", admin_errmsg(a), seg);
	admin_detail_free(&det);
	admin_close(a);
	d = queue_delivery_open(f->path, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(queue_claim_ids(d, T0_MS + 1000000, 60000, 1, &c, &n),
	    QUEUE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(queue_claim_load(d, &c[0]), QUEUE_ERR_CORRUPT);
	if (strstr(queue_delivery_errmsg(d), seg) == NULL)
		fail_msg("load error \"%s\" does not name %s",
		    queue_delivery_errmsg(d), seg);
	queue_claims_free(c, n);
	queue_delivery_close(d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_large_bodies_in_segments),
		T(test_rotation),
		T(test_segment_disk_full),
		T(test_sweep),
		T(test_sweep_beside_writer),
		T(test_number_never_reused),
		T(test_missing_segment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
