/*
 * wpool.c — the part writer's worker threads: a small fixed pool that runs
 * one job at a time as a parallel for, fn(ctx, worker, task) for every task
 * in [0, ntasks), and returns when all have run.
 *
 *   caller ──run(job)──▶ mu: job, next = 0 ──cond──▶ worker 0 ┐ fetch_add(next)
 *          ◀──done────── remaining == 0 ◀────────── worker 1 ┘ until ntasks
 *
 * Tasks are handed out from one atomic counter, so a slow task (a wide
 * column) does not hold back the others. The caller does not run tasks
 * itself: on the two-core target the pool's threads are the two cores, and
 * the caller only waits (then writes the results in order). `worker` is the
 * index of the running thread, so a job can give each thread its own
 * scratch without locks.
 *
 * Several writers may share one pool (the ingest sink and a merge): run()
 * takes a mutex for the whole job, so jobs queue behind each other. The
 * results never depend on which thread ran a task, which is what keeps the
 * part bytes identical to the single-threaded writer.
 *
 * Rejected: a general task queue with futures. The writer's work is one
 * flat loop over granules; a parallel for over an index is all it needs and
 * has no allocation per task.
 */
#include "store/store_internal.h"

#include <stdlib.h>

struct sn_write_pool {
	pthread_mutex_t job_mu; /* one job at a time */
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job started, or stop */
	pthread_cond_t done; /* a worker finished its share */
	unsigned nthreads;
	pthread_t *threads;
	uint64_t gen; /* job generation, so a worker joins each job once */
	bool stop;
	/* the current job */
	sn_write_pool_fn fn;
	void *ctx;
	size_t ntasks;
	_Atomic size_t next;
	unsigned active; /* workers still in the current job */
	struct sn_write_pool_worker *self;
};

struct sn_write_pool_worker {
	struct sn_write_pool *pool;
	unsigned index;
};

static void *worker_main(void *arg)
{
	struct sn_write_pool_worker *w = arg;
	struct sn_write_pool *p = w->pool;
	pthread_setname_np(pthread_self(), "sn-writer");
	uint64_t seen = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		sn_write_pool_fn fn = p->fn;
		void *ctx = p->ctx;
		size_t ntasks = p->ntasks;
		pthread_mutex_unlock(&p->mu);
		for (size_t t; (t = atomic_fetch_add(&p->next, 1)) < ntasks;)
			fn(ctx, w->index, t);
		pthread_mutex_lock(&p->mu);
		if (--p->active == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int sn_write_pool_new(struct sn_write_pool **out, unsigned nthreads, struct sn_err *err)
{
	struct sn_write_pool *p = calloc(1, sizeof(*p));
	*out = NULL;
	if (nthreads < 1 || nthreads > SN_WRITE_POOL_MAX_THREADS) {
		free(p);
		return sn_err_set(err, SN_ERR_INVALID, "writer threads must be 1 to %d (got %u)",
				  SN_WRITE_POOL_MAX_THREADS, nthreads);
	}
	if (!p || !(p->threads = calloc(nthreads, sizeof(*p->threads))) ||
	    !(p->self = calloc(nthreads, sizeof(*p->self)))) {
		if (p)
			free(p->threads);
		free(p);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory for the writer pool");
	}
	pthread_mutex_init(&p->job_mu, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		p->self[i] = (struct sn_write_pool_worker){p, i};
		if (pthread_create(&p->threads[i], NULL, worker_main, &p->self[i])) {
			sn_write_pool_free(p);
			return sn_err_set(err, SN_ERR_IO, "cannot start writer thread %u", i);
		}
		p->nthreads = i + 1;
	}
	*out = p;
	return 0;
}

unsigned sn_write_pool_threads(const struct sn_write_pool *p)
{
	return p ? p->nthreads : 1;
}

void sn_write_pool_run(struct sn_write_pool *p, size_t ntasks, sn_write_pool_fn fn, void *ctx)
{
	if (!p) {
		for (size_t t = 0; t < ntasks; t++)
			fn(ctx, 0, t);
		return;
	}
	if (!ntasks)
		return;
	pthread_mutex_lock(&p->job_mu);
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->ntasks = ntasks;
	atomic_store(&p->next, 0);
	p->active = p->nthreads;
	p->gen++;
	pthread_cond_broadcast(&p->work);
	while (p->active)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_unlock(&p->job_mu);
}

void sn_write_pool_free(struct sn_write_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->job_mu);
	free(p->threads);
	free(p->self);
	free(p);
}
