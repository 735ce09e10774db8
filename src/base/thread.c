/*
 * thread.c — starting a helper thread on another core than the caller's.
 *
 * A query's helper threads (a second scanner, the second half of a merge or
 * of an insight's walk) run for milliseconds. Linux starts a new thread on
 * its creator's CPU and moves it only when load balancing next runs, so for
 * the first milliseconds the two halves of the work often shared one core:
 * on the benchmark VM the second half of a 30-group merge ran on the
 * creator's CPU in about half the queries and took as long as the serial
 * merge. sn_thread_start_beside() creates the thread with an affinity of
 * every CPU the caller may use but the one it is on, so the thread starts
 * elsewhere, and the thread itself widens its affinity back to the
 * caller's first thing, so the scheduler may move it later as usual.
 * With one usable CPU, or when affinities cannot be read or set, it is a
 * plain pthread_create.
 */
#include "base.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

struct beside {
	void *(*fn)(void *);
	void *arg;
	cpu_set_t all;
};

static void *beside_main(void *p)
{
	struct beside b = *(struct beside *)p;
	free(p);
	pthread_setaffinity_np(pthread_self(), sizeof(b.all), &b.all);
	return b.fn(b.arg);
}

int sn_thread_start_beside(pthread_t *th, void *(*fn)(void *), void *arg)
{
	struct beside *b = malloc(sizeof(*b));
	int cpu = sched_getcpu();
	if (b && cpu >= 0 && cpu < CPU_SETSIZE &&
	    pthread_getaffinity_np(pthread_self(), sizeof(b->all), &b->all) == 0 &&
	    CPU_ISSET(cpu, &b->all) && CPU_COUNT(&b->all) >= 2) {
		cpu_set_t others = b->all;
		CPU_CLR(cpu, &others);
		pthread_attr_t attr;
		if (pthread_attr_init(&attr) == 0) {
			b->fn = fn;
			b->arg = arg;
			int rc = pthread_attr_setaffinity_np(&attr, sizeof(others), &others) == 0
				     ? pthread_create(th, &attr, beside_main, b)
				     : -1;
			pthread_attr_destroy(&attr);
			if (rc == 0)
				return 0;
		}
	}
	free(b);
	return pthread_create(th, NULL, fn, arg);
}
