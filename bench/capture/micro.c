/*
 * micro.c — single-core micro-benchmark of sn_capture_process, the capture
 * hot path without HTTP or the WAL. Not a test: prints numbers.
 *
 * Reads a file of request bodies, one per line (bench/capture/make_bodies.py
 * output), runs every body through sn_capture_process as an uncompressed
 * /batch/ request for ROUNDS rounds and prints events/s and MB/s on one core.
 * The resolver accepts any token, so only parsing, validation and record
 * building are timed.
 *
 *   cc -O2 -D_GNU_SOURCE -Isrc $(pkg-config --cflags json-c) bench/capture/micro.c \
 *      build/libsnout_core.a $(pkg-config --libs libmicrohttpd json-c libsodium zlib \
 *      sqlite3 libxxhash) -lpthread -lm -o /tmp/micro
 *   /tmp/micro /tmp/bodies.txt [ROUNDS]
 *
 * On the 100-event bodies of bench/capture/run.sh (100k events, seed 42):
 * ~115k events/s with the json-c DOM version of process.c, ~1.25M events/s
 * with the jsonscan.c version (one core of the dev VM).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"

static int resolve(void *arg, const char *token, int64_t *team_id, struct sn_err *err)
{
	(void)arg;
	(void)token;
	(void)err;
	*team_id = 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s BODIES [ROUNDS]\n", argv[0]);
		return 2;
	}
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	char **bodies = NULL;
	size_t *lens = NULL, nbodies = 0, cap = 0, total_bytes = 0;
	char *line = NULL;
	size_t linecap = 0;
	ssize_t n;
	while ((n = getline(&line, &linecap, f)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		if (nbodies == cap) {
			cap = cap ? cap * 2 : 1024;
			bodies = realloc(bodies, cap * sizeof(*bodies));
			lens = realloc(lens, cap * sizeof(*lens));
		}
		bodies[nbodies] = malloc((size_t)n);
		memcpy(bodies[nbodies], line, (size_t)n);
		lens[nbodies++] = (size_t)n;
		total_bytes += (size_t)n;
	}
	free(line);
	fclose(f);

	struct sn_capture_batch b;
	sn_capture_batch_init(&b);
	size_t events = 0, out_bytes = 0;
	uint64_t t0 = sn_mono_ns();
	for (int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < nbodies; i++) {
			struct sn_capture_request req = {.kind = SN_CAPTURE_ANALYTICS,
							 .path = "/batch/",
							 .content_type = "application/json",
							 .body = bodies[i],
							 .body_len = lens[i],
							 .ip = "127.0.0.1",
							 .now_us = sn_now_us(),
							 .limit = 64 << 20,
							 .resolve = resolve};
			unsigned status;
			struct sn_err err;
			sn_buf_reset(&b.data);
			b.n = 0;
			if (sn_capture_process(&req, &b, &status, &err)) {
				fprintf(stderr, "body %zu: %u %s\n", i, status, err.msg);
				return 1;
			}
			events += b.n;
			out_bytes += b.data.len;
		}
	}
	double secs = (double)(sn_mono_ns() - t0) / 1e9;
	printf("%zu bodies x %d rounds: %.0f events/s, %.1f MB/s in, %.0f bytes/record out\n",
	       nbodies, rounds, (double)events / secs, (double)total_bytes * rounds / secs / 1e6,
	       (double)out_bytes / (double)events);
	sn_capture_batch_release(&b);
	for (size_t i = 0; i < nbodies; i++)
		free(bodies[i]);
	free(bodies);
	free(lens);
	return 0;
}
