/*
 * sqlite_vfs.c — the SQLite VFS every snout database is opened with: the
 * default (unix) VFS, where a connection that asks for it
 * (sn_sqlite_buffer_wal) has its writes to the WAL file gathered into
 * large pwrites.
 *
 * Why. SQLite writes a WAL frame as two pwrites, its 24-byte header and its
 * page. A persons batch under a backlog commits tens of MB of pages and
 * spills more while it runs: the first 2M generator events with identity
 * on made 275,876 pwrites to persons.sqlite3-wal, and `sqlite3WalFrames`
 * was 13 % of the ingest thread, nearly all of it the system calls' path
 * (the copies 0.6 %); perf and strace, docs/BENCHMARKS.md session 50.
 *
 * What. The WAL file of such a connection keeps a buffer (WAL_BUF_BYTES)
 * of the bytes written since its last flush, as long as they are one run
 * that each write extends (SQLite appends frames in order). The buffer is
 * written with one pwrite:
 *   - when the next write does not extend it, or would overflow it;
 *   - before a read, truncate, size query, sync, file control or close of
 *     the WAL file (a read wholly inside the buffer is answered from it);
 *   - before the database file's xShmBarrier and xShmLock: SQLite publishes
 *     new frames to other connections by writing the wal-index header in
 *     shared memory, and it always calls xShmBarrier between the header's
 *     two copies (a reader accepts the header only when both agree) and
 *     takes or releases shm locks around every checkpoint and transaction.
 *     So no connection, in this process or another, is told about a frame
 *     that is still in the buffer.
 * A write inside the buffered run (SQLite rewriting a frame of the same
 * transaction) is copied into the buffer.
 *
 * Errors. A failed flush is returned by the call that caused it (the
 * default VFS's write error), which fails that statement or commit as the
 * frame's own pwrite failing would have. Only a connection with
 * synchronous=FULL or EXTRA may ask for the buffer: its commits sync the
 * WAL, so the last frames of a commit are flushed by that xSync, whose
 * failure fails the commit before the header is published. (With NORMAL or
 * OFF the first flush after a commit's frames would be the barrier's, which
 * cannot report an error.)
 *
 * Crash safety is unchanged: frames are lost on a crash only while no
 * commit has published them, and SQLite's recovery ignores frames after the
 * last valid commit frame. The database file itself is the default VFS's
 * object behind forwarding methods (only xShmBarrier, xShmLock and the
 * buffer's file control do more); journals and temp files are the default
 * VFS's objects, unwrapped.
 *
 * The link from the database file to its WAL file is
 * sqlite3_database_file_object() on the WAL's name in xOpen; the WAL
 * unlinks itself on close. Both files belong to one connection, used by
 * one thread at a time (SQLite's rule for a sqlite3_file), so the buffer
 * needs no lock.
 */
#include "base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* 120 KiB: ~29 frames of 4 KiB pages a pwrite. The default VFS cuts every
 * write to its low 17 bits (seekAndWriteFd's `nBuf &= 0x1ffff`: a write of
 * 128 KiB or more is written short, or not at all, and fails as
 * SQLITE_FULL), so a run must stay under 128 KiB. */
#define WAL_BUF_BYTES ((size_t)120 << 10)
#define VFS_NAME      "snout"
/* The file control that turns the buffer on (SQLite keeps opcodes below
 * 100 for itself; this one is ours). */
#define SN_SQLITE_FCNTL_BUFFER_WAL 0x736e01

/* A WAL or main database file this VFS opens starts with this header; the
 * default VFS's object follows it (real). Other files (journals, temp
 * files) are the default VFS's object alone, at the front. */
struct vfile {
	sqlite3_file base;
	sqlite3_file *real;
	struct vfile *db;  /* WAL: its database file (NULL if not ours) */
	struct vfile *wal; /* database: its open WAL file */
	bool buffered;	   /* database: sn_sqlite_buffer_wal asked for the buffer */
	char *buf;	   /* WAL: the buffered run ... */
	sqlite3_int64 buf_off;
	size_t buf_len; /* ... buf_len bytes from buf_off */
};

static sqlite3_vfs vfs;
static sqlite3_vfs *real_vfs;
static sqlite3_io_methods wal_methods, db_methods;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool registered;

static sqlite3_file *real(sqlite3_file *f)
{
	return ((struct vfile *)(void *)f)->real;
}

/* Writes the buffered run; on failure the run is dropped (SQLite treats the
 * error as the failed write it is). */
static int wal_flush(struct vfile *w)
{
	if (!w || !w->buf_len)
		return SQLITE_OK;
	int rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->buf_len, w->buf_off);
	w->buf_len = 0;
	return rc;
}

/* ---- the WAL file ---------------------------------------------------------------- */

static int wal_close(sqlite3_file *f)
{
	struct vfile *w = (struct vfile *)(void *)f;
	int rc = wal_flush(w);
	if (w->db && w->db->wal == w)
		w->db->wal = NULL;
	free(w->buf);
	w->buf = NULL;
	int rc2 = w->real->pMethods->xClose(w->real);
	return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 off)
{
	struct vfile *w = (struct vfile *)(void *)f;
	if (w->buf_len && off < w->buf_off + (sqlite3_int64)w->buf_len && off + amt > w->buf_off) {
		if (off >= w->buf_off && off + amt <= w->buf_off + (sqlite3_int64)w->buf_len) {
			memcpy(out, w->buf + (off - w->buf_off), (size_t)amt);
			return SQLITE_OK;
		}
		int rc = wal_flush(w);
		if (rc != SQLITE_OK)
			return rc;
	}
	return w->real->pMethods->xRead(w->real, out, amt, off);
}

static int wal_write(sqlite3_file *f, const void *src, int amt, sqlite3_int64 off)
{
	struct vfile *w = (struct vfile *)(void *)f;
	if (!w->buf_len && !(w->db && w->db->buffered))
		return w->real->pMethods->xWrite(w->real, src, amt, off);
	sqlite3_int64 end = w->buf_off + (sqlite3_int64)w->buf_len;
	if (w->buf_len && off >= w->buf_off && off + amt <= end) {
		memcpy(w->buf + (off - w->buf_off), src, (size_t)amt);
		return SQLITE_OK;
	}
	if (w->buf_len && (off != end || w->buf_len + (size_t)amt > WAL_BUF_BYTES)) {
		int rc = wal_flush(w);
		if (rc != SQLITE_OK)
			return rc;
	}
	if (!w->buf && (size_t)amt < WAL_BUF_BYTES)
		w->buf = malloc(WAL_BUF_BYTES); /* NULL: write through */
	if (!w->buf || (size_t)amt >= WAL_BUF_BYTES)
		return w->real->pMethods->xWrite(w->real, src, amt, off);
	if (!w->buf_len)
		w->buf_off = off;
	memcpy(w->buf + w->buf_len, src, (size_t)amt);
	w->buf_len += (size_t)amt;
	return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct vfile *w = (struct vfile *)(void *)f;
	int rc = wal_flush(w);
	return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
	struct vfile *w = (struct vfile *)(void *)f;
	int rc = wal_flush(w);
	return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct vfile *w = (struct vfile *)(void *)f;
	int rc = wal_flush(w);
	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
	struct vfile *w = (struct vfile *)(void *)f;
	int rc = wal_flush(w);
	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

/* ---- the database file: flush its WAL before the wal-index moves ------------------- */

static int db_close(sqlite3_file *f)
{
	struct vfile *d = (struct vfile *)(void *)f;
	if (d->wal) {
		wal_flush(d->wal);
		d->wal->db = NULL;
		d->wal = NULL;
	}
	return d->real->pMethods->xClose(d->real);
}

static int db_file_control(sqlite3_file *f, int op, void *arg)
{
	struct vfile *d = (struct vfile *)(void *)f;
	if (op == SN_SQLITE_FCNTL_BUFFER_WAL) {
		d->buffered = true;
		return SQLITE_OK;
	}
	return d->real->pMethods->xFileControl(d->real, op, arg);
}

static int db_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	struct vfile *d = (struct vfile *)(void *)f;
	int rc = wal_flush(d->wal);
	return rc != SQLITE_OK ? rc : d->real->pMethods->xShmLock(d->real, offset, n, flags);
}

static void db_shm_barrier(sqlite3_file *f)
{
	struct vfile *d = (struct vfile *)(void *)f;
	/* Under synchronous=FULL the commit's xSync flushed already; a flush
	 * here cannot report its error (see "Errors" at the top). */
	if (d->wal && wal_flush(d->wal) != SQLITE_OK)
		sn_log_error("sqlite: a buffered WAL write failed at a barrier");
	d->real->pMethods->xShmBarrier(d->real);
}

/* Plain forwarding for the rest of both method tables. */
#define FWD(name, sig, args)                   \
	static int fwd_##name sig              \
	{                                      \
		sqlite3_file *r = real(f);     \
		return r->pMethods->name args; \
	}
FWD(xRead, (sqlite3_file * f, void *out, int amt, sqlite3_int64 off), (r, out, amt, off))
FWD(xWrite, (sqlite3_file * f, const void *src, int amt, sqlite3_int64 off), (r, src, amt, off))
FWD(xTruncate, (sqlite3_file * f, sqlite3_int64 size), (r, size))
FWD(xSync, (sqlite3_file * f, int flags), (r, flags))
FWD(xFileSize, (sqlite3_file * f, sqlite3_int64 *size), (r, size))
FWD(xLock, (sqlite3_file * f, int lock), (r, lock))
FWD(xUnlock, (sqlite3_file * f, int lock), (r, lock))
FWD(xCheckReservedLock, (sqlite3_file * f, int *out), (r, out))
FWD(xSectorSize, (sqlite3_file * f), (r))
FWD(xDeviceCharacteristics, (sqlite3_file * f), (r))
FWD(xShmMap, (sqlite3_file * f, int pg, int pgsz, int extend, void volatile **pp),
    (r, pg, pgsz, extend, pp))
FWD(xShmUnmap, (sqlite3_file * f, int del), (r, del))
FWD(xFetch, (sqlite3_file * f, sqlite3_int64 off, int amt, void **pp), (r, off, amt, pp))
FWD(xUnfetch, (sqlite3_file * f, sqlite3_int64 off, void *p), (r, off, p))
#undef FWD

static int fwd_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	sqlite3_file *r = real(f);
	return r->pMethods->xShmLock(r, offset, n, flags);
}

static void fwd_shm_barrier(sqlite3_file *f)
{
	sqlite3_file *r = real(f);
	r->pMethods->xShmBarrier(r);
}

/* The method table for a wrapped file of the default VFS's version, with
 * only the methods that version has. */
static void methods_for(sqlite3_io_methods *m, const sqlite3_io_methods *r, bool wal)
{
	*m = (sqlite3_io_methods){
	    .iVersion = r->iVersion < 3 ? r->iVersion : 3,
	    .xClose = wal ? wal_close : db_close,
	    .xRead = wal ? wal_read : fwd_xRead,
	    .xWrite = wal ? wal_write : fwd_xWrite,
	    .xTruncate = wal ? wal_truncate : fwd_xTruncate,
	    .xSync = wal ? wal_sync : fwd_xSync,
	    .xFileSize = wal ? wal_file_size : fwd_xFileSize,
	    .xLock = fwd_xLock,
	    .xUnlock = fwd_xUnlock,
	    .xCheckReservedLock = fwd_xCheckReservedLock,
	    .xFileControl = wal ? wal_file_control : db_file_control,
	    .xSectorSize = fwd_xSectorSize,
	    .xDeviceCharacteristics = fwd_xDeviceCharacteristics,
	};
	if (m->iVersion >= 2) {
		m->xShmMap = fwd_xShmMap;
		m->xShmLock = wal ? fwd_shm_lock : db_shm_lock;
		m->xShmBarrier = wal ? fwd_shm_barrier : db_shm_barrier;
		m->xShmUnmap = fwd_xShmUnmap;
	}
	if (m->iVersion >= 3) {
		m->xFetch = fwd_xFetch;
		m->xUnfetch = fwd_xUnfetch;
	}
}

/* ---- the VFS ----------------------------------------------------------------------- */

/* The wrapped files' method tables, made from the first wrapped file of
 * each kind (the default VFS gives a WAL file other methods than a
 * database: no locking); a later file with other default methods (another
 * locking style, never asked for here) is left unwrapped. */
static const sqlite3_io_methods *real_methods[2]; /* [wal] */
static pthread_mutex_t methods_mu = PTHREAD_MUTEX_INITIALIZER;

static bool methods_ready(const sqlite3_io_methods *r, bool wal)
{
	pthread_mutex_lock(&methods_mu);
	if (!real_methods[wal]) {
		methods_for(wal ? &wal_methods : &db_methods, r, wal);
		real_methods[wal] = r;
	}
	bool ok = real_methods[wal] == r;
	pthread_mutex_unlock(&methods_mu);
	return ok;
}

static int vfs_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags,
		    int *out_flags)
{
	(void)v;
	bool wal = (flags & SQLITE_OPEN_WAL) != 0, db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
	if (!wal && !db) /* journals, temp files: the default object as it is */
		return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	struct vfile *vf = (struct vfile *)(void *)f;
	memset(vf, 0, sizeof(*vf));
	vf->real = (sqlite3_file *)(void *)(vf + 1);
	int rc = real_vfs->xOpen(real_vfs, name, vf->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite calls xClose only when pMethods is set. */
		if (vf->real->pMethods)
			vf->real->pMethods->xClose(vf->real);
		f->pMethods = NULL;
		return rc;
	}
	if (!methods_ready(vf->real->pMethods, wal)) {
		/* Other default methods than the first file's: the default
		 * object at the front instead. */
		vf->real->pMethods->xClose(vf->real);
		return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	}
	f->pMethods = wal ? &wal_methods : &db_methods;
	if (wal && name) {
		sqlite3_file *dbf = sqlite3_database_file_object(name);
		if (dbf && dbf->pMethods == &db_methods) {
			vf->db = (struct vfile *)(void *)dbf;
			vf->db->wal = vf;
		}
	}
	return SQLITE_OK;
}

#define FWDV(name, sig, args)               \
	static int vfs_##name sig           \
	{                                   \
		(void)v;                    \
		return real_vfs->name args; \
	}
FWDV(xDelete, (sqlite3_vfs * v, const char *name, int sync), (real_vfs, name, sync))
FWDV(xAccess, (sqlite3_vfs * v, const char *name, int flags, int *out),
     (real_vfs, name, flags, out))
FWDV(xFullPathname, (sqlite3_vfs * v, const char *name, int n, char *out), (real_vfs, name, n, out))
FWDV(xRandomness, (sqlite3_vfs * v, int n, char *out), (real_vfs, n, out))
FWDV(xSleep, (sqlite3_vfs * v, int us), (real_vfs, us))
FWDV(xGetLastError, (sqlite3_vfs * v, int n, char *out), (real_vfs, n, out))
FWDV(xCurrentTimeInt64, (sqlite3_vfs * v, sqlite3_int64 *out), (real_vfs, out))
#undef FWDV

static void *vfs_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return real_vfs->xDlOpen(real_vfs, name);
}
static void vfs_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	real_vfs->xDlError(real_vfs, n, out);
}
static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return real_vfs->xDlSym(real_vfs, h, sym);
}
static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	real_vfs->xDlClose(real_vfs, h);
}
static int vfs_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static void vfs_register(void)
{
	/* Before SQLite initialises (sqlite3_vfs_find does): no global memory
	 * statistics. With them on (SQLite's default) every sqlite3_malloc and
	 * free takes a process-wide mutex to count bytes that snout never asks
	 * for (sqlite3_memory_used, soft heap limits); the persons connection
	 * allocates on every statement. Refused with SQLITE_MISUSE, harmlessly,
	 * when something in the process initialised SQLite first. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs || real_vfs->iVersion < 2)
		return;
	vfs = (sqlite3_vfs){
	    .iVersion = 2,
	    .szOsFile = (int)sizeof(struct vfile) + real_vfs->szOsFile,
	    .mxPathname = real_vfs->mxPathname,
	    .zName = VFS_NAME,
	    .xOpen = vfs_open,
	    .xDelete = vfs_xDelete,
	    .xAccess = vfs_xAccess,
	    .xFullPathname = vfs_xFullPathname,
	    .xDlOpen = vfs_dlopen,
	    .xDlError = vfs_dlerror,
	    .xDlSym = vfs_dlsym,
	    .xDlClose = vfs_dlclose,
	    .xRandomness = vfs_xRandomness,
	    .xSleep = vfs_xSleep,
	    .xCurrentTime = vfs_current_time,
	    .xGetLastError = vfs_xGetLastError,
	    .xCurrentTimeInt64 = vfs_xCurrentTimeInt64,
	};
	registered = sqlite3_vfs_register(&vfs, 0) == SQLITE_OK;
}

const char *sn_sqlite_vfs(void)
{
	pthread_once(&once, vfs_register);
	return registered ? VFS_NAME : NULL;
}

bool sn_sqlite_buffer_wal(sqlite3 *db)
{
	return sqlite3_file_control(db, "main", SN_SQLITE_FCNTL_BUFFER_WAL, NULL) == SQLITE_OK;
}
