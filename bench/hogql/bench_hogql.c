/*
 * bench_hogql.c — time of the HogQL front end per query: parse, resolve,
 * canonical print and ClickHouse print, over the parser corpus and over a
 * set of typical insight queries (trends, funnel, retention, breakdown).
 *
 * Each query is run `reps` times after one warm-up, each run with a fresh
 * arena as a server request has, and the median run is kept. Queries that fail
 * to resolve (the corpus holds grammar tests over made-up tables) are timed
 * for parsing only and counted separately. Prints medians and p99 in µs.
 *
 * Usage: bench_hogql CORPUS.txt INSIGHTS.txt [REPS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hogql/hogql.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct stage {
	double *t;
	size_t n;
};

static void add(struct stage *s, double v)
{
	s->t[s->n++] = v;
}

static void report(const char *name, struct stage *s)
{
	if (!s->n) {
		printf("%-28s %8s\n", name, "-");
		return;
	}
	qsort(s->t, s->n, sizeof(double), cmp_d);
	printf("%-28s n=%-5zu median %7.1f µs   p90 %7.1f µs   p99 %7.1f µs   max %7.1f µs\n", name,
	       s->n, s->t[s->n / 2], s->t[s->n * 9 / 10], s->t[s->n * 99 / 100], s->t[s->n - 1]);
}

/* Runs one query reps times; fills per-stage medians into the stages. */
static void run(const char *q, bool expr, int reps, struct stage *parse, struct stage *resolve,
		struct stage *print, struct stage *ch, struct stage *total, int *nresolved)
{
	struct sn_arena a;
	struct sn_buf b;
	sn_buf_init(&b, (size_t)16 << 20);
	double tp[64], tr[64], tpr[64], tch[64];
	int n = reps > 64 ? 64 : reps, ok_resolve = 1;
	for (int i = -1; i < n; i++) {
		struct sn_hogql_node *ast = NULL;
		struct sn_hogql_error err;
		sn_arena_init(&a, (size_t)64 << 20);
		b.len = 0;
		double t0 = now_us();
		int rc = expr ? sn_hogql_parse_expr(&a, q, strlen(q), &ast, &err)
			      : sn_hogql_parse_select(&a, q, strlen(q), &ast, &err);
		double t1 = now_us();
		if (rc) {
			ok_resolve = -1;
			sn_arena_release(&a);
			break;
		}
		struct sn_hogql_resolve_opts ro = {.team_id = 1};
		double t2 = t1, t3 = t1, t4 = t1;
		if (!expr && sn_hogql_resolve(&a, ast, q, strlen(q), &ro, &err) == 0) {
			t2 = now_us();
			sn_hogql_print(&b, ast);
			t3 = now_us();
			struct sn_hogql_ch_opts co = {
			    .team_id = 1, .timezone = "UTC", .ch_major = 24, .ch_minor = 8};
			struct sn_hogql_ch_values vals = {0};
			struct sn_buf sql;
			sn_buf_init(&sql, (size_t)16 << 20);
			if (sn_hogql_print_clickhouse(&a, ast, &co, &sql, &vals, q, strlen(q),
						      &err) != 0)
				ok_resolve = 0;
			t4 = now_us();
			sn_buf_release(&sql);
		} else {
			ok_resolve = 0;
		}
		if (i >= 0) {
			tp[i] = t1 - t0;
			tr[i] = t2 - t1;
			tpr[i] = t3 - t2;
			tch[i] = t4 - t3;
		}
		sn_arena_release(&a);
	}
	if (ok_resolve >= 0) {
		qsort(tp, n, sizeof(double), cmp_d);
		add(parse, tp[n / 2]);
		if (ok_resolve == 1) {
			qsort(tr, n, sizeof(double), cmp_d);
			qsort(tpr, n, sizeof(double), cmp_d);
			qsort(tch, n, sizeof(double), cmp_d);
			add(resolve, tr[n / 2]);
			add(print, tpr[n / 2]);
			add(ch, tch[n / 2]);
			add(total, tp[n / 2] + tr[n / 2] + tch[n / 2]);
			(*nresolved)++;
		}
	}
	sn_buf_release(&b);
}

static void bench_file(const char *path, int reps)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(2);
	}
	size_t cap = 4096;
	struct stage parse = {calloc(cap, sizeof(double)), 0},
		     resolve = {calloc(cap, sizeof(double)), 0},
		     print = {calloc(cap, sizeof(double)), 0},
		     ch = {calloc(cap, sizeof(double)), 0},
		     total = {calloc(cap, sizeof(double)), 0};
	static char line[1 << 16];
	int nq = 0, nresolved = 0;
	while (fgets(line, sizeof(line), f) && parse.n < cap) {
		size_t len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len || line[0] == '#')
			continue;
		bool expr = strncmp(line, "expr:", 5) == 0;
		nq++;
		run(expr ? line + 5 : line, expr, reps, &parse, &resolve, &print, &ch, &total,
		    &nresolved);
	}
	fclose(f);
	printf("== %s: %d queries, %zu parsed, %d resolved and printed for ClickHouse\n", path, nq,
	       parse.n, nresolved);
	report("parse", &parse);
	report("resolve", &resolve);
	report("print HogQL", &print);
	report("print ClickHouse (24.8)", &ch);
	report("parse+resolve+ClickHouse", &total);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s CORPUS.txt INSIGHTS.txt [REPS]\n", argv[0]);
		return 2;
	}
	int reps = argc > 3 ? atoi(argv[3]) : 31;
	bench_file(argv[1], reps);
	bench_file(argv[2], reps);
	return 0;
}
