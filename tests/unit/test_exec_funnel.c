/*
 * test_exec_funnel.c — windowFunnel over long event lists in scrambled time
 * order: the per-group sort (agg.c wfev_sort: 16-entry insertion-sorted
 * blocks, then merges) must give the level the definition gives. Groups of
 * 5 to 700 events with distinct, shuffled times, three steps, several
 * windows; the reference is the definition itself: the most steps 1, 2, ...
 * at later and later times, the last within the window of the first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec_fixture.h"

#define T0 1733011200LL /* 2024-12-01 00:00:00 UTC */

static const int SIZES[] = {5, 16, 17, 33, 100, 257, 700};
#define NGROUPS (sizeof(SIZES) / sizeof(SIZES[0]))
#define MAXN	700

struct ev {
	int64_t ts;
	int step; /* 1..3 */
};

static uint64_t g_rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

static int by_ts(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/* The definition, by brute force over the chain's first step. */
static int level(struct ev *e, size_t n, int64_t window)
{
	qsort(e, n, sizeof(*e), by_ts);
	int best = 0;
	for (size_t s = 0; s < n; s++) {
		if (e[s].step != 1)
			continue;
		int got = 1;
		for (size_t i = s + 1; i < n && got < 3; i++)
			if (e[i].ts - e[s].ts <= window && e[i].step == got + 1)
				got++;
		if (got > best)
			best = got;
	}
	return best;
}

static void test_long_scrambled_lists(void **state)
{
	(void)state;
	static struct ev evs[NGROUPS][MAXN];
	struct xfx f;
	xfx_open(&f, "test_exec_funnel");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	static const char *const names[] = {"a", "b", "c"};
	static char dids[NGROUPS][8];
	int uid = 0;
	for (size_t g = 0; g < NGROUPS; g++) {
		size_t n = (size_t)SIZES[g];
		snprintf(dids[g], sizeof(dids[g]), "g%zu", g);
		int64_t slots[MAXN];
		for (size_t i = 0; i < n; i++)
			slots[i] = (int64_t)i;
		for (size_t i = n; i > 1; i--) { /* shuffle the times */
			size_t j = rnd() % i;
			int64_t t = slots[i - 1];
			slots[i - 1] = slots[j];
			slots[j] = t;
		}
		for (size_t i = 0; i < n; i++) {
			/* a, b and c about evenly, a little more a */
			int step = (int)(rnd() % 7);
			step = step < 3 ? 1 : step < 5 ? 2 : 3;
			evs[g][i] = (struct ev){slots[i] * 13, step};
			xfx_event(&mt, uid++ & 0xff, 1, T0 + evs[g][i].ts, dids[g], names[step - 1],
				  "{}");
		}
	}
	xfx_write(&f, &mt, 128);
	static const int64_t windows[] = {13, 40, 400, 4000, 100000};
	for (size_t wi = 0; wi < sizeof(windows) / sizeof(windows[0]); wi++) {
		char q[256];
		snprintf(q, sizeof(q),
			 "select distinct_id, windowFunnel(%lld)(timestamp, event = 'a', "
			 "event = 'b', event = 'c') as l from events group by distinct_id "
			 "order by distinct_id",
			 (long long)windows[wi]);
		struct sn_buf b;
		const char *got = xfx_tsv(&f, q, &b);
		char want[512], *o = want;
		o += snprintf(want, sizeof(want), "distinct_id\tl\n");
		for (size_t g = 0; g < NGROUPS; g++) { /* g0 … g6 sort as text */
			struct ev copy[MAXN];
			memcpy(copy, evs[g], (size_t)SIZES[g] * sizeof(copy[0]));
			o += snprintf(o, sizeof(want) - (size_t)(o - want), "%s\t%d\n", dids[g],
				      level(copy, (size_t)SIZES[g], windows[wi]));
		}
		if (strcmp(got, want) != 0)
			fail_msg("window %lld\n got: %s\nwant: %s", (long long)windows[wi], got,
				 want);
		sn_buf_release(&b);
	}
	xfx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_long_scrambled_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
