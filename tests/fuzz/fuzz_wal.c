// fuzz-sources: src/base/*.c src/wal/*.c
/*
 * fuzz_wal.c — libFuzzer target for WAL recovery and reading: the input
 * bytes become segment files (and optionally a checkpoint) in a temp
 * directory, then a reader walks them and sn_wal_open recovers them. Neither
 * may crash, and both must hold their invariants, checked with abort():
 *
 *   - a reader returns records with strictly increasing LSNs, each
 *     end_lsn = lsn + header + len;
 *   - after recovery, a record appended and made durable is the last record
 *     a reader sees, at the LSN the append returned.
 *
 * Input layout: byte 0 holds flags (bit 0: split the rest into two
 * segments, the second's base off by up to ±8 bytes from contiguous, to
 * make gaps and overlaps; bit 1: write a checkpoint at an LSN taken from
 * bytes 1..2); the rest is segment content. A useful seed corpus is a few
 * real segments written by the unit tests, with and without damage.
 */
#include "wal/wal.h"
#include "wal/wal_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[PATH_MAX];

static void clear_dir(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", g_dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		abort();
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r <= 0)
			abort();
		p += r;
		n -= (size_t)r;
	}
	close(fd);
}

/* Reads everything from from_lsn; returns the last entry's LSN and length. */
static size_t read_all(uint64_t from_lsn, uint64_t *last_lsn, uint32_t *last_len, char *last_data,
		       size_t last_cap)
{
	struct sn_wal_reader *r;
	struct sn_wal_entry e;
	size_t n = 0;
	uint64_t prev_end = 0;
	if (sn_wal_reader_open(&r, g_dir, from_lsn, NULL))
		return 0;
	while (sn_wal_reader_next(r, &e, NULL) == 1) {
		if (e.end_lsn != e.lsn + SN_WAL_HDR + e.len)
			abort();
		if (n && e.lsn < prev_end)
			abort();
		prev_end = e.end_lsn;
		*last_lsn = e.lsn;
		*last_len = e.len;
		memcpy(last_data, e.data, e.len < last_cap ? e.len : last_cap);
		n++;
	}
	sn_wal_reader_close(r);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void remove_dir(void)
{
	clear_dir();
	rmdir(g_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_dir[0]) {
		sn_log_setup(SN_LOG_ERROR, false);
		const char *tmp = getenv("TMPDIR");
		snprintf(g_dir, sizeof(g_dir), "%s/fuzz_wal.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(g_dir))
			abort();
		atexit(remove_dir); /* a finished run leaves nothing in /tmp */
	}
	clear_dir();
	if (size == 0)
		return 0;
	uint8_t flags = data[0];
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	char path[PATH_MAX];

	size_t first = len;
	if ((flags & 1) && len >= 2) {
		first = len / 2;
		int64_t skew = (int64_t)(flags >> 4) - 8;
		int64_t base2 = (int64_t)first + skew;
		if (base2 < 1)
			base2 = 1;
		sn_wal_segment_path(path, sizeof(path), g_dir, (uint64_t)base2);
		write_file(path, body + first, len - first);
	}
	sn_wal_segment_path(path, sizeof(path), g_dir, 0);
	write_file(path, body, first);
	if ((flags & 2) && len >= 2) {
		uint64_t ck = (uint64_t)body[0] | (uint64_t)body[1] << 8;
		if (sn_wal_write_checkpoint(g_dir, ck, NULL))
			abort();
	}

	uint64_t last_lsn = 0;
	uint32_t last_len = 0;
	char last[16];
	read_all(0, &last_lsn, &last_len, last, sizeof(last));
	read_all(len / 3, &last_lsn, &last_len, last, sizeof(last));

	struct sn_wal_options opt = {.dir = g_dir, .segment_bytes = 512, .buffer_bytes = 4096};
	struct sn_wal *w;
	if (sn_wal_open(&w, &opt, NULL))
		return 0; /* a clean refusal is fine; a crash is not */
	struct sn_wal_rec rec = {SN_WAL_EVENT, "fuzz-tail", 9};
	uint64_t end = 0;
	if (sn_wal_append(w, &rec, 1, &end, NULL) || sn_wal_wait_durable(w, end))
		abort();
	sn_wal_close(w);

	last_len = 0;
	if (read_all(0, &last_lsn, &last_len, last, sizeof(last)) == 0)
		abort();
	if (last_lsn != end - SN_WAL_HDR - 9 || last_len != 9 || memcmp(last, "fuzz-tail", 9))
		abort();
	return 0;
}
