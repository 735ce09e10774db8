/*
 * metrics.c — a small Prometheus registry.
 *
 *   families[]: name, type, help ──▶ series list (labels, value | buckets)
 *
 * Families are declared at start-up; a series is created on first use and
 * then lives for the process (they are few: routes × statuses, reasons).
 * Creation and lookup take one mutex; updates on a series pointer are atomic
 * adds, so hot paths look their series up once and keep the pointer.
 * Histogram buckets are fixed and log-spaced from 100 µs to 10 s, which
 * covers fsync latencies and request durations alike; a configurable layout
 * per family was rejected as needless until a metric needs it.
 */
#include "base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 16
static const double bucket_le[NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					   0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
					   1,	   2.5,	    5,	    10};

struct sn_metric_series {
	struct sn_metric_series *next;
	struct family *fam;
	char *labels;
	int64_t value;	 /* counter/gauge value, or histogram count */
	uint64_t sum_ns; /* histogram sum in nanoseconds */
	uint64_t buckets[NBUCKETS];
	sn_metric_gauge_fn fn;
	sn_metric_gauge_dfn dfn;
	void *fn_arg;
};

struct family {
	char *name;
	char *help;
	enum sn_metric_type type;
	struct sn_metric_series *series;
	struct family *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *g_families, **g_tail = &g_families;

static struct family *find_family(const char *name)
{
	for (struct family *f = g_families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static struct family *add_family(const char *name, enum sn_metric_type type, const char *help)
{
	struct family *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->name = strdup(name);
	f->help = strdup(help);
	f->type = type;
	*g_tail = f;
	g_tail = &f->next;
	return f;
}

void sn_metrics_declare(const char *name, enum sn_metric_type type, const char *help)
{
	pthread_mutex_lock(&g_lock);
	if (!find_family(name))
		add_family(name, type, help);
	pthread_mutex_unlock(&g_lock);
}

static struct sn_metric_series *series_locked(const char *name, const char *labels)
{
	struct family *f = find_family(name);
	if (!f && !(f = add_family(name, SN_METRIC_COUNTER, name)))
		return NULL;
	struct sn_metric_series **pp = &f->series;
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->labels, labels) == 0)
			return *pp;
	struct sn_metric_series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fam = f;
	s->labels = strdup(labels);
	*pp = s;
	return s;
}

struct sn_metric_series *sn_metric_series(const char *name, const char *labels)
{
	pthread_mutex_lock(&g_lock);
	struct sn_metric_series *s = series_locked(name, labels ? labels : "");
	pthread_mutex_unlock(&g_lock);
	return s;
}

void sn_metric_add(struct sn_metric_series *s, uint64_t v)
{
	if (s)
		__atomic_fetch_add(&s->value, (int64_t)v, __ATOMIC_RELAXED);
}

void sn_metric_set(struct sn_metric_series *s, int64_t v)
{
	if (s)
		__atomic_store_n(&s->value, v, __ATOMIC_RELAXED);
}

void sn_metric_observe(struct sn_metric_series *s, double seconds)
{
	if (!s)
		return;
	for (int i = 0; i < NBUCKETS; i++) {
		if (seconds <= bucket_le[i]) {
			__atomic_fetch_add(&s->buckets[i], 1, __ATOMIC_RELAXED);
			break;
		}
	}
	__atomic_fetch_add(&s->value, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->sum_ns, (uint64_t)(seconds * 1e9), __ATOMIC_RELAXED);
}

void sn_metric_inc(const char *name, const char *labels, uint64_t v)
{
	sn_metric_add(sn_metric_series(name, labels), v);
}

void sn_metrics_gauge_fn(const char *name, const char *labels, sn_metric_gauge_fn fn, void *arg)
{
	pthread_mutex_lock(&g_lock);
	struct sn_metric_series *s = series_locked(name, labels ? labels : "");
	if (s) {
		s->fn = fn;
		s->fn_arg = arg;
	}
	pthread_mutex_unlock(&g_lock);
}

void sn_metrics_gauge_dfn(const char *name, const char *labels, sn_metric_gauge_dfn fn, void *arg)
{
	pthread_mutex_lock(&g_lock);
	struct sn_metric_series *s = series_locked(name, labels ? labels : "");
	if (s) {
		s->dfn = fn;
		s->fn_arg = arg;
	}
	pthread_mutex_unlock(&g_lock);
}

static void render_labels(struct sn_buf *b, const char *labels, const char *extra)
{
	if (!*labels && !extra)
		return;
	sn_buf_appendc(b, '{');
	sn_buf_appends(b, labels);
	if (extra) {
		if (*labels)
			sn_buf_appendc(b, ',');
		sn_buf_appends(b, extra);
	}
	sn_buf_appendc(b, '}');
}

int sn_metrics_render(struct sn_buf *b)
{
	static const char *type_names[] = {"counter", "gauge", "histogram"};
	pthread_mutex_lock(&g_lock);
	for (struct family *f = g_families; f; f = f->next) {
		sn_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
			       type_names[f->type]);
		for (struct sn_metric_series *s = f->series; s; s = s->next) {
			if (s->dfn) {
				sn_buf_appends(b, f->name);
				render_labels(b, s->labels, NULL);
				sn_buf_appendf(b, " %.6f\n", s->dfn(s->fn_arg));
				continue;
			}
			if (f->type != SN_METRIC_HISTOGRAM) {
				int64_t v = s->fn ? s->fn(s->fn_arg)
						  : __atomic_load_n(&s->value, __ATOMIC_RELAXED);
				sn_buf_appends(b, f->name);
				render_labels(b, s->labels, NULL);
				sn_buf_appendf(b, " %lld\n", (long long)v);
				continue;
			}
			uint64_t cum = 0;
			char le[48];
			for (int i = 0; i < NBUCKETS; i++) {
				cum += __atomic_load_n(&s->buckets[i], __ATOMIC_RELAXED);
				snprintf(le, sizeof(le), "le=\"%g\"", bucket_le[i]);
				sn_buf_appendf(b, "%s_bucket", f->name);
				render_labels(b, s->labels, le);
				sn_buf_appendf(b, " %llu\n", (unsigned long long)cum);
			}
			int64_t count = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
			sn_buf_appendf(b, "%s_bucket", f->name);
			render_labels(b, s->labels, "le=\"+Inf\"");
			sn_buf_appendf(b, " %lld\n", (long long)count);
			sn_buf_appendf(b, "%s_sum", f->name);
			render_labels(b, s->labels, NULL);
			sn_buf_appendf(b, " %.9f\n",
				       (double)__atomic_load_n(&s->sum_ns, __ATOMIC_RELAXED) / 1e9);
			sn_buf_appendf(b, "%s_count", f->name);
			render_labels(b, s->labels, NULL);
			sn_buf_appendf(b, " %lld\n", (long long)count);
		}
	}
	pthread_mutex_unlock(&g_lock);
	return 0;
}

void sn_metrics_reset(void)
{
	pthread_mutex_lock(&g_lock);
	struct family *f = g_families;
	while (f) {
		struct sn_metric_series *s = f->series;
		while (s) {
			struct sn_metric_series *n = s->next;
			free(s->labels);
			free(s);
			s = n;
		}
		struct family *nf = f->next;
		free(f->name);
		free(f->help);
		free(f);
		f = nf;
	}
	g_families = NULL;
	g_tail = &g_families;
	pthread_mutex_unlock(&g_lock);
}
