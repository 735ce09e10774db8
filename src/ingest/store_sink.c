/*
 * store_sink.c — the embedded store as the ingest sink: capture's WAL records
 * become event rows in a memtable, and a flush writes them as parts.
 *
 * Exactly once across crashes, without deduplication:
 *
 *   part file name  YYYYMM_<part id>.snp,  part id = (end LSN << 12) | nparts
 *
 * A flush writes one part per month present in the memtable, all with the
 * same id: the WAL position just past the last record they hold, and how
 * many parts the flush wrote. Each part is written atomically (temp name,
 * fsync, rename, fsync of the directory). At start-up the sink looks at the
 * highest id: if all `nparts` files of that flush exist, every record up to
 * its LSN is in the store and ingest resumes there even when the WAL
 * checkpoint is older (the crash came between the last rename and the
 * checkpoint); if some are missing (the crash came between two renames),
 * the present ones are deleted and the flush is replayed from the WAL. So a
 * record is in the store once, whatever the crash point. Merges and
 * deletions (store/merge.c, store/delete.c) keep this rule true: a merged
 * part carries the largest id it covers, a rewrite keeps its range, and a
 * part whose rows were all deleted leaves a tombstone with its range; the
 * store's sn_store_recover does the counting (docs/STORAGE.md, "Merges and
 * exactly-once").
 *
 * A flush hands the memtable to the store's part writer with the sink's pool
 * of writer threads (sn_store_sink_use_writer_threads, 2 by default): they
 * shred, encode and compress granules while the ingest thread waits, so
 * ingest pauses for a flush about half as long on two cores; the parts are
 * the same bytes as a single-threaded write. Granules have
 * SN_PART_INGEST_GRANULE_ROWS rows, a quarter of the default, which keeps
 * a granule's values in cache through its column passes (store.h); merges
 * rewrite the parts with the default.
 *
 * Flushes in the background. The worker (worker.c) starts a flush with
 * sink_flush_start: the memtable is swapped with an empty one and a flusher
 * thread sorts it and writes its parts, on the writer pool, while the
 * ingest thread converts the next records into the other memtable. One
 * flush is in flight at a time (the worker waits for it before the next,
 * which bounds memory to two memtables). sink_flush_done, on the ingest
 * thread, collects it: a failed write is resubmitted (the memtable is kept,
 * its records are not checkpointed); a written one gets its persons commit,
 * then the worker checkpoints. The synchronous sink_flush waits for a flush
 * in flight first, so callers that use it see the same sink as before.
 *
 * Two halves per record. The conversion of a record into a row (the JSON
 * scan: row fields, identity's facts, member lengths, property members)
 * depends on nothing but the record and the sink's configuration, so it is
 * the sink's prepare stage (sink_prepare, into a struct prep) and runs on
 * the worker's read-ahead thread (readahead.c), ahead of the ingest thread;
 * the rest (enrichment, identity, the memtable) needs WAL order and state
 * and is sink_consume_prepared, on the ingest thread. It works on the
 * prepared row and facts in place and marks them stale first, so a record
 * it refuses (an error, retried) is prepared again before the retry; the
 * scan itself fills the facts without copying them (to_row). sink_consume
 * (no read-ahead) does both in turn, with the identity prefetch during the
 * scan.
 *
 * Recording uploads (WAL type 2) are not events: until recordings get their
 * own store they are appended to <dir>/../recordings/pending.jsonl, fsynced
 * with each flush, so checkpointing the WAL never loses them.
 *
 * Rows: uuid, team_id, timestamp (capture's corrected time), created_at
 * (capture's receive time), event, distinct_id, properties (the event's
 * properties object, verbatim JSON but for `$elements` and
 * `$elements_chain`, which leave it as in PostHog), elements_chain
 * ($elements_chain, or built from an autocapture `$elements` array:
 * elements.c),
 * $session_id and $window_id from properties; with identity on
 * (sn_store_sink_use_persons), person_id and $group_0..4 from the identity
 * step (identity.c), which also drops the events PostHog's rules drop.
 * Without it person_id is zero. With enrichment on
 * (sn_store_sink_use_enrich), properties get the $geoip_* members and lose
 * $ip for teams that anonymise IPs (enrich.c), before identity.
 *
 * Identity and exactly-once. Person changes live in SQLite, parts in files:
 * they cannot commit together, so they commit in a fixed order, each flush:
 *
 *   1. parts (atomic per part, named by end LSN)   2. persons batch + its end LSN (fsync)
 *   3. WAL checkpoint (worker.c)
 *
 * At start-up the parts say how far events are stored (resume) and the
 * person store how far identity is committed (persons_lsn <= resume). The
 * records in between — a crash after 1, before 2 — are still in the WAL
 * (the checkpoint moves only at 3) and are offered to sink_replay, which
 * applies their identity without storing them again: the rules are
 * deterministic and start from the state the first run started from, so
 * the person store ends where it would have without the crash, and matches
 * the person ids already stamped on those rows. A crash before 1 replays
 * the records normally; after 2 there is nothing to do. The opposite order
 * (persons first) would make the replay of 1 apply identity twice
 * ($set_once after $unset, merges seen from a later state).
 *
 * A record whose identity is already committed but that is consumed again
 * is stamped read-only with its distinct id's current person: no writes,
 * nothing applied twice, and the same person under query-time overrides.
 * Background flushes make this the normal case after a crash: identity runs
 * ahead of the flush in flight (the records of the next memtable are already
 * applied when its parts become durable), so step 2 commits the person
 * store at the end of everything consumed, past the parts just written. A
 * crash after it and before the next flush's parts leaves those records in
 * the WAL with their identity committed: they come back read-only. (The
 * event store can also lose parts the person store had seen, through a
 * deletion; the same rule covers it.)
 *
 * Persons commits under a backlog. A flush whose parts are durable is done
 * (flush_done says 1) with the persons batch still open, up to
 * PERSONS_COMMIT_MAX_NS after the last commit: the worker starts the next
 * flush, but its WAL checkpoint stays before the flushes landed since the
 * last commit (sn_ingest_sink.settle, worker.c) until the batch commits —
 * when the worker catches up (settle forced; a sync or stop waits for that),
 * when the 5 s have passed, or when a deletion waits for the batch. So a
 * backlog is drained in batches of 5 s: each person's deferred property
 * writes and the commit's page writes are paid once per batch. (Session 27
 * kept the batch open by holding the flush in flight, which stopped the
 * worker at its next full memtable, so a batch covered about one memtable:
 * 281k deferred person writes on the 10M generator events, against 197k
 * now; docs/BENCHMARKS.md, session 51.) The crash protocol is unchanged:
 * the checkpoint never passes an uncommitted persons batch, so a crash
 * replays its records (the "after 1, before 2" case above, over a longer
 * stretch: up to 5 s of records, whose WAL is kept that much longer).
 * Person rows then become visible to queries up to that long after their
 * events; when ingest keeps up, it commits with every flush as before.
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/ingest_internal.h"
#include "store/store.h"
#include "wal/evindex.h"

/* Under a backlog the persons batch commits at least this often. */
#define PERSONS_COMMIT_MAX_NS (5ull * 1000000000ull)

#define SN_EVENT_NAME_MAX_CHARS 200 /* PostHog: event names, in characters */
#define NPARTS_BITS		SN_PART_ID_NPARTS_BITS
#define NPARTS_MASK		SN_PART_ID_NPARTS_MASK

/* /metrics series of identity's and enrichment's counters, and of indexed
 * records whose index did not match (report_metrics). */
enum {
	M_INDEX_BAD,
	M_FAST,
	M_SLOW,
	M_CREATED,
	M_PLACED,
	M_IP_HIT,
	M_IP_MISS,
	M_PLACE_HIT,
	M_PLACE_MISS,
	M_COUNT
};

struct sn_store_sink {
	struct sn_metric_series *m[M_COUNT];
	uint64_t m_last[M_COUNT]; /* the counters as last reported */
	/* Indexed records whose index did not match its JSON (scanned instead):
	 * counted on the read-ahead thread too, which sees the sink as const. */
	atomic_uint_fast64_t index_bad;
	char dir[1024];
	char rec_path[1100];
	int rec_fd;
	bool rec_dirty;
	size_t full_bytes;
	struct sn_memtable mt;
	uint64_t last_end_lsn; /* end of the last consumed record */
	struct prep *prep;     /* for records consumed without the read-ahead */
	struct sn_buf el_chain, el_props,
	    el_members; /* elements.c's output for the current record */
	uint64_t parts_written, rows_written;
	struct sn_write_pool *wpool; /* the part writer's threads; NULL: this thread */

	/* Identity (NULL persons: off, person_id stays zero). */
	struct sn_persons *persons;
	struct sn_ingest_identity *identity;
	struct sn_enrich *enrich; /* NULL: no GeoIP, no IP anonymisation */
	/* Property definitions (propdefs.c; NULL seen: not recorded): each
	 * record's property members, collected by the scan. */
	struct sn_propdefs_seen *seen;
	struct sn_meta *propdefs_meta;
	struct sn_buf pd_buf;	    /* {GeoIP members} */
	struct sn_buf root_buf;	    /* properties with the event's root $set merged */
	int64_t team_guess;	    /* the last record's team: the identity prefetch's guess */
	uint64_t persons_lsn;	    /* identity of records ending at or before this is committed */
	uint64_t persons_commit_ns; /* sn_mono_ns() of the last persons commit (or of start) */
	uint64_t replayed;	    /* records whose identity was replayed at start-up */
	int fail_commits;	    /* tests: fail this many persons commits (a crash) */
	int fail_consume;	    /* tests: records whose first try fails after enrichment */
	bool no_fsync;		    /* tests: parts written without fsyncs */
	bool test_all_facts;	    /* tests: note identity's and the definitions' members */
	bool failed_once;	    /* tests: the current record's first try failed */

	/* The background flush (see the top): the flusher thread writes job.mt. */
	pthread_t flusher;
	bool flusher_started, flusher_stop;
	pthread_mutex_t jmu;
	pthread_cond_t jcond;
	struct {
		enum { JOB_IDLE, JOB_RUNNING, JOB_WRITTEN, JOB_FAILED } state;
		struct sn_memtable mt;
		uint64_t part_id;
		size_t nparts, nrows; /* what the write produced (JOB_WRITTEN) */
		int rc;		      /* JOB_FAILED */
		struct sn_err err;
	} job;
};

/* ---- record → row ---------------------------------------------------------------- */

/* Points *out at the decoded string: raw when it has no escapes, else
 * unescaped into scratch (offsets stay valid as scratch only grows within one
 * record: we reserve first). */
static int str_of(struct sn_buf *scratch, const struct sn_jspan *v, struct sn_str *out)
{
	if (v->type != SN_JSTRING) {
		out->p = "";
		out->len = 0;
		return 0;
	}
	if (!(v->flags & SN_JSPAN_ESCAPED)) {
		out->p = sn_jspan_raw(v, &out->len);
		return 0;
	}
	size_t start = scratch->len;
	int rc = sn_jspan_unescape(v, scratch);
	if (rc)
		return rc;
	out->p = (const char *)(uintptr_t)start; /* fixed up once scratch stops moving */
	out->len = scratch->len - start;
	return 1;
}

struct fields {
	struct sn_jspan uuid, team_id, timestamp, now, event, distinct_id, properties;
	struct sn_jspan session_id, window_id, elements_chain;
	struct sn_jspan elements; /* $elements (autocapture), converted by elements.c */
	/* For the identity prefetch while scanning (scan_properties); NULL on
	 * the read-ahead thread, which must not touch identity's cache (the
	 * ingest thread asks ahead itself: sink_ahead). */
	const struct sn_store_sink *sink;
	/* The properties' members, for property definitions (pm NULL: not
	 * collected); the prepared record's arrays, grown as needed. */
	struct members *pm;
	struct sn_jspan *pk, *pv;
	uint32_t npk;
	/* The members' key and value lengths for the part writer's split
	 * (struct sn_event_row's pmembers; the prepared record's array): nmi
	 * pairs, valid while mi_ok (a compact object, no escaped key, lengths
	 * < 64 KiB). */
	uint16_t *mi;
	uint32_t nmi;
	bool mi_ok;
	/* Where $elements and $elements_chain were (elements.c cuts them). */
	struct sn_elements_hint cut;
	bool identity; /* the sink resolves identity: note the rules' keys too */
	/* Last: scan_record clears the struct up to its uncleared tail. */
	struct sn_ingest_facts facts;
};

/* The properties a row keeps in columns of their own. Raw keys are
 * matched by length and bytes; an escaped key (rare) is decoded. */
static struct sn_jspan *column_slot(struct fields *f, const struct sn_jspan *k)
{
	if (k->flags & SN_JSPAN_ESCAPED) {
		if (sn_jspan_str_eq(k, "$session_id", 11))
			return &f->session_id;
		if (sn_jspan_str_eq(k, "$window_id", 10))
			return &f->window_id;
		if (sn_jspan_str_eq(k, "$elements_chain", 15))
			return &f->elements_chain;
		if (sn_jspan_str_eq(k, "$elements", 9))
			return &f->elements;
		return NULL;
	}
	if (k->len < 11 || k->p[1] != '$')
		return NULL;
	const char *n = k->p + 2;
	switch (k->len - 2) {
	case 9: return memcmp(n, "elements", 8) == 0 ? &f->elements : NULL;
	case 10: return memcmp(n, "window_id", 9) == 0 ? &f->window_id : NULL;
	case 11: return memcmp(n, "session_id", 10) == 0 ? &f->session_id : NULL;
	case 15: return memcmp(n, "elements_chain", 14) == 0 ? &f->elements_chain : NULL;
	default: return NULL;
	}
}

/* Notes member j for elements.c when it is $elements or $elements_chain
 * (slot: column_slot's answer; the value is in it). */
static inline void note_cut(struct fields *f, const struct sn_jspan *slot, uint32_t j)
{
	int w = slot == &f->elements ? 0 : slot == &f->elements_chain ? 1 : -1;
	if (w < 0)
		return;
	f->cut.j[w] = j;
	f->cut.v[w] = *slot;
	if (f->cut.n[w] < UINT8_MAX)
		f->cut.n[w]++;
}

#define MAX_PROP_MEMBERS  1024 /* members of one event noted for definitions */
#define MAX_INDEX_MEMBERS 256  /* member lengths noted for the writer (it shreds up to 250) */

struct members {
	struct sn_jspan *k, *v;
	uint32_t cap;
};

/* A record converted ahead of the ingest thread (sink_prepare): the scan's
 * spans point into the record, the row's strings into it or scratch. */
struct prep {
	bool event; /* a WAL event record, scanned (else nothing was done) */
	bool stale; /* consumption changed row and f, then failed: prepare again */
	int rc;	    /* the conversion's error (err says why), or 0 */
	struct sn_err err;
	struct fields f;
	struct sn_event_row row;
	struct sn_buf scratch; /* unescaped strings */
	struct members pm;
	uint16_t mi[2 * MAX_INDEX_MEMBERS];
};

/* Room for one more property member; false past MAX_PROP_MEMBERS (or out of
 * memory): the rest are not noted, as before the arrays grew. */
static bool members_room(struct fields *f)
{
	struct members *m = f->pm;
	if (f->npk < m->cap)
		return true;
	uint32_t cap = m->cap ? 2 * m->cap : 64;
	if (cap > MAX_PROP_MEMBERS)
		return false;
	struct sn_jspan *k = realloc(m->k, cap * sizeof(*k));
	if (!k)
		return false;
	f->pk = m->k = k;
	struct sn_jspan *v = realloc(m->v, cap * sizeof(*v));
	if (!v)
		return false;
	f->pv = m->v = v;
	m->cap = cap;
	return true;
}

/* One pass over the properties object: its keys, and its span (from the
 * '{' to past the '}'), which the row keeps verbatim. */
/* Identity's cache lookups of the record's distinct id, asked of the memory
 * ahead (sn_ingest_identity_prefetch), one dependent miss after the other:
 * stage 1 when the distinct id is read (the record's second member), 2 at
 * the properties' PREFETCH_MEMBER-th member, 3 at the end of the record.
 * With 200k users the three were a fifth of the ingest thread. */
#define PREFETCH_MEMBER 4
static inline void prefetch_person(const struct sn_store_sink *s, const struct fields *f, int stage)
{
	if (s->identity && f->distinct_id.type == SN_JSTRING &&
	    !(f->distinct_id.flags & SN_JSPAN_ESCAPED)) {
		size_t n;
		const char *p = sn_jspan_raw(&f->distinct_id, &n);
		sn_ingest_identity_prefetch(s->identity, s->team_guess, p, n, stage);
	}
}

/* What every property member is noted for: identity's and enrichment's
 * facts, and the definitions' list. */
static inline void note_member(struct fields *f, const struct sn_jspan *k, const struct sn_jspan *v)
{
	sn_ingest_facts_key(&f->facts, k, v, f->identity);
	if (f->pm && members_room(f)) {
		f->pk[f->npk] = *k;
		f->pv[f->npk++] = *v;
	}
}

static int scan_properties(struct sn_jscan *sc, struct fields *f)
{
	struct sn_jspan k, v;
	int rc;
	if ((rc = sn_jscan_peek(sc)) < 0)
		return rc;
	const char *start = sc->p;
	if ((rc = sn_jscan_enter(sc)))
		return rc;
	/* Compact: each key right where the previous member ended (after '{'
	 * or ','), its value right after the ':'. */
	const char *expect = start + 1;
	f->nmi = 0;
	f->mi_ok = *start == '{';
	unsigned members = 0;
	while ((rc = sn_jscan_next_key(sc, &k)) > 0) {
		if (++members == PREFETCH_MEMBER && f->sink)
			prefetch_person(f->sink, f, 2);
		struct sn_jspan *slot = column_slot(f, &k);
		struct sn_jspan *vs = slot ? slot : &v;
		if ((rc = sn_jscan_skip(sc, vs)))
			return rc;
		if (slot)
			note_cut(f, slot, members - 1);
		note_member(f, &k, vs);
		if (f->mi_ok) {
			if (k.p != expect || vs->p != k.p + k.len + 1 || k.len > UINT16_MAX ||
			    vs->len > UINT16_MAX || (k.flags & SN_JSPAN_ESCAPED) ||
			    f->nmi == MAX_INDEX_MEMBERS) {
				f->mi_ok = false;
			} else {
				f->mi[2 * f->nmi] = (uint16_t)k.len;
				f->mi[2 * f->nmi + 1] = (uint16_t)vs->len;
				f->nmi++;
				expect = vs->p + vs->len + 1;
			}
		}
	}
	if (rc < 0)
		return rc;
	f->properties = (struct sn_jspan){start, (uint32_t)(sc->p - start), SN_JOBJECT, 0};
	/* ... and the closing brace right after the last value. */
	if (f->mi_ok && sc->p - 1 != (f->nmi ? expect - 1 : start + 1))
		f->mi_ok = false;
	return 0;
}

/* The record's own fields (capture's root keys), by length and bytes;
 * an escaped key (capture writes none) is decoded. */
static struct sn_jspan *record_slot(struct fields *f, const struct sn_jspan *k)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
	    {"uuid", offsetof(struct fields, uuid)},
	    {"team_id", offsetof(struct fields, team_id)},
	    {"timestamp", offsetof(struct fields, timestamp)},
	    {"now", offsetof(struct fields, now)},
	    {"event", offsetof(struct fields, event)},
	    {"distinct_id", offsetof(struct fields, distinct_id)},
	    {"ip", offsetof(struct fields, facts.root_ip)},
	};
	if (k->flags & SN_JSPAN_ESCAPED) {
		for (size_t i = 0; i < SN_ARRAY_LEN(fields); i++)
			if (sn_jspan_str_eq(k, fields[i].name, strlen(fields[i].name)))
				return (struct sn_jspan *)((char *)f + fields[i].off);
		return NULL;
	}
	const char *n = k->p + 1;
	size_t i;
	bool eq;
	/* memcmp of a constant length is inlined; of k->len - 2 it was a
	 * call a key (3-4 % of the ingest thread). */
	switch (k->len - 2) {
	case 2: i = 6, eq = !memcmp(n, "ip", 2); break;
	case 3: i = 3, eq = !memcmp(n, "now", 3); break;
	case 4: i = 0, eq = !memcmp(n, "uuid", 4); break;
	case 5: i = 4, eq = !memcmp(n, "event", 5); break;
	case 7: i = 1, eq = !memcmp(n, "team_id", 7); break;
	case 9: i = 2, eq = !memcmp(n, "timestamp", 9); break;
	case 11: i = 5, eq = !memcmp(n, "distinct_id", 11); break;
	default: return NULL;
	}
	return eq ? (struct sn_jspan *)((char *)f + fields[i].off) : NULL;
}

/* p->f cleared for a record's scan. */
static struct fields *fields_init(const struct sn_store_sink *s,
				  const struct sn_store_sink *prefetch, struct prep *p)
{
	struct fields *f = &p->f;
	memset(f, 0, offsetof(struct fields, facts) + SN_INGEST_FACTS_CLEAR);
	f->sink = prefetch;
	f->mi = p->mi;
	f->identity = s->identity != NULL || s->test_all_facts;
	if (s->seen || s->test_all_facts) {
		f->pm = &p->pm;
		f->pk = p->pm.k;
		f->pv = p->pm.v;
	}
	return f;
}

/* Scans a record's JSON into p->f; s (prefetch) given: asks for identity's
 * cache entries while scanning (the ingest thread only). */
static int scan_record(const struct sn_store_sink *s, const struct sn_store_sink *prefetch,
		       const char *data, uint32_t len, struct prep *p, struct sn_err *err)
{
	struct sn_jscan sc;
	struct sn_jspan k, v;
	struct fields *f = fields_init(s, prefetch, p);
	int rc;
	sn_jscan_init(&sc, data, len, err);
	if ((rc = sn_jscan_enter(&sc)))
		return rc;
	while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
		struct sn_jspan *slot = record_slot(f, &k);
		if (slot) {
			if ((rc = sn_jscan_skip(&sc, slot)))
				return rc;
			if (slot == &f->distinct_id && prefetch)
				prefetch_person(prefetch, f, 1);
			continue;
		}
		if (!sn_jspan_str_eq(&k, "data", 4) || sn_jscan_peek(&sc) != SN_JOBJECT) {
			if ((rc = sn_jscan_skip(&sc, &v)))
				return rc;
			continue;
		}
		/* data: its properties, and root-level $set / $set_once. */
		const char *d0 = sc.p;
		if ((rc = sn_jscan_enter(&sc)))
			return rc;
		while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
			if (sn_jspan_str_eq(&k, "properties", 10) &&
			    sn_jscan_peek(&sc) == SN_JOBJECT) {
				rc = scan_properties(&sc, f);
			} else {
				if (sn_jspan_str_eq(&k, "$set", 4) ||
				    sn_jspan_str_eq(&k, "$set_once", 9))
					f->facts.root_set = true;
				rc = sn_jscan_skip(&sc, &v);
			}
			if (rc)
				return rc;
		}
		if (rc < 0)
			return rc;
		while (d0 < sc.p && *d0 != '{')
			d0++;
		f->facts.data = (struct sn_jspan){d0, (uint32_t)(sc.p - d0), SN_JOBJECT, 0};
	}
	if (rc == 0 && prefetch)
		prefetch_person(prefetch, f, 3);
	return rc;
}

/* The properties' members from the index's member table (wal/evindex.h),
 * as scan_properties would have found them; the writer's member lengths
 * are the table's. Returns 0, or SN_ERR_CORRUPT when the table does not
 * describe the object. */
static int walk_members(struct fields *f, const struct sn_evix *ix)
{
	struct sn_evix_walk w;
	struct sn_jspan k, v;
	int rc;
	uint8_t escaped = 0;
	sn_evix_walk_init(&w, &f->properties);
	while ((rc = sn_evix_walk_next(ix, &w, &k, &v)) > 0) {
		if (w.i == PREFETCH_MEMBER && f->sink)
			prefetch_person(f->sink, f, 2);
		struct sn_jspan *slot = column_slot(f, &k);
		if (slot) {
			*slot = v;
			note_cut(f, slot, w.i - 1);
		}
		note_member(f, &k, &v);
		escaped |= k.flags;
	}
	/* The writer's split matches raw keys, and takes up to 256 members. */
	f->mi_ok = rc == 0 && !(escaped & SN_JSPAN_ESCAPED) && ix->nmembers <= MAX_INDEX_MEMBERS;
	f->nmi = f->mi_ok ? ix->nmembers : 0;
	if (f->mi_ok)
		sn_evix_member_lens(ix, f->mi);
	return rc;
}

/* An indexed record (SN_WAL_EVENT_IX) into p->f: its fields from the
 * index's spans, the properties' members from its member table (else
 * scanned, from the properties' span). An index this binary does not read,
 * or that does not describe its JSON (caught by the checks here and in
 * walk_members), gives way to the scan of the JSON: same row. */
static int index_record(const struct sn_store_sink *s, const struct sn_store_sink *prefetch,
			const char *data, uint32_t len, struct prep *p, struct sn_err *err)
{
	struct sn_evix ix;
	int rc = sn_evix_open(data, len, &ix, err);
	if (rc == SN_ERR_CORRUPT)
		return rc;
	if (rc || (ix.flags & SN_EVIX_SCAN))
		return scan_record(s, prefetch, ix.json, ix.json_len, p, err);
	struct fields *f = fields_init(s, prefetch, p);
	struct sn_jspan *at[SN_EVIX_NSPANS] = {[SN_EVIX_UUID] = &f->uuid,
					       [SN_EVIX_DISTINCT_ID] = &f->distinct_id,
					       [SN_EVIX_IP] = &f->facts.root_ip,
					       [SN_EVIX_TEAM_ID] = &f->team_id,
					       [SN_EVIX_TIMESTAMP] = &f->timestamp,
					       [SN_EVIX_NOW] = &f->now,
					       [SN_EVIX_EVENT] = &f->event,
					       [SN_EVIX_DATA] = &f->facts.data,
					       [SN_EVIX_PROPERTIES] = &f->properties};
	for (int i = 0; i < SN_EVIX_NSPANS && rc == 0; i++)
		rc = sn_evix_span(&ix, (enum sn_evix_span)i, at[i]);
	if (rc == 0 && prefetch)
		prefetch_person(prefetch, f, 1);
	f->facts.root_set = ix.flags & SN_EVIX_ROOT_SET;
	if (rc == 0 && f->properties.type != SN_JNONE) {
		if (f->properties.type != SN_JOBJECT) {
			rc = SN_ERR_CORRUPT;
		} else if (ix.flags & SN_EVIX_MEMBERS) {
			rc = walk_members(f, &ix);
		} else {
			struct sn_jscan sc;
			sn_jscan_init(&sc, f->properties.p, f->properties.len, err);
			rc = scan_properties(&sc, f);
		}
	}
	if (rc == SN_ERR_CORRUPT) {
		static atomic_bool said;
		atomic_fetch_add(&((struct sn_store_sink *)(uintptr_t)s)->index_bad, 1);
		if (!atomic_exchange(&said, true))
			sn_log_warn("ingest: a WAL event record's index does not match its JSON; "
				    "scanning the JSON instead (said once)");
		return scan_record(s, prefetch, ix.json, ix.json_len, p, err);
	}
	if (rc == 0 && prefetch)
		prefetch_person(prefetch, f, 3);
	return rc;
}

/* A record's row (p->row, p->f); errors: SN_ERR_CORRUPT or SN_ERR_INVALID
 * (the record is unusable), SN_ERR_NOMEM. */
static int to_row(const struct sn_store_sink *s, const struct sn_store_sink *prefetch,
		  const struct sn_wal_entry *e, struct prep *p, struct sn_err *err)
{
	const struct fields *f = &p->f;
	struct sn_event_row *row = &p->row;
	int rc = e->type == SN_WAL_EVENT_IX ? index_record(s, prefetch, e->data, e->len, p, err)
					    : scan_record(s, prefetch, e->data, e->len, p, err);
	if (rc)
		return rc;
	memset(row, 0, sizeof(*row));
	size_t n;
	const char *u = f->uuid.type == SN_JSTRING ? sn_jspan_raw(&f->uuid, &n) : NULL;
	struct sn_uuid uu;
	if (!u || sn_uuid_parse(u, n, &uu))
		return sn_err_set(err, SN_ERR_CORRUPT, "WAL record at %llu has no valid uuid",
				  (unsigned long long)e->lsn);
	memcpy(row->uuid, uu.b, 16);
	if (f->team_id.type != SN_JNUMBER || sn_jspan_int64(&f->team_id, &row->team_id))
		return sn_err_set(err, SN_ERR_CORRUPT, "WAL record at %llu has no team_id",
				  (unsigned long long)e->lsn);
	const char *t = f->timestamp.type == SN_JSTRING ? sn_jspan_raw(&f->timestamp, &n) : NULL;
	if (!t || sn_time_parse_rfc3339_ms(t, n, &row->timestamp_us))
		return sn_err_set(err, SN_ERR_CORRUPT, "WAL record at %llu has no valid timestamp",
				  (unsigned long long)e->lsn);
	t = f->now.type == SN_JSTRING ? sn_jspan_raw(&f->now, &n) : NULL;
	if (!t || sn_time_parse_rfc3339_ms(t, n, &row->created_at_us))
		row->created_at_us = row->timestamp_us;
	sn_buf_reset(&p->scratch);
	/* Reserve enough that unescaping never moves the buffer mid-record. */
	if (sn_buf_reserve(&p->scratch, (size_t)e->len + 64))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory converting a record");
	struct sn_str *strs[] = {&row->event, &row->distinct_id, &row->elements_chain,
				 &row->session_id, &row->window_id};
	const struct sn_jspan *spans[] = {&f->event, &f->distinct_id, &f->elements_chain,
					  &f->session_id, &f->window_id};
	for (size_t i = 0; i < SN_ARRAY_LEN(strs); i++) {
		rc = str_of(&p->scratch, spans[i], strs[i]);
		if (rc < 0)
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory converting a record");
		if (rc == 1)
			strs[i]->p = p->scratch.data + (uintptr_t)strs[i]->p;
	}
	/* §5.1: an event name is cut to 200 characters (PostHog's
	 * sanitizeEventName), as capture cuts a distinct id. */
	if (row->event.len > SN_EVENT_NAME_MAX_CHARS) /* (fewer bytes: fewer characters) */
		row->event.len =
		    sn_utf8_prefix(row->event.p, row->event.len, SN_EVENT_NAME_MAX_CHARS);
	if (f->properties.type == SN_JOBJECT) {
		row->properties.p = f->properties.p;
		row->properties.len = f->properties.len;
		if (f->mi_ok) {
			row->pmembers = f->mi;
			row->npmembers = f->nmi;
		}
	} else {
		row->properties.p = "{}";
		row->properties.len = 2;
	}
	return 0;
}

/* ---- property definitions ------------------------------------------------------------ */

static bool str_is(const struct sn_str *v, const char *lit, size_t n)
{
	return v->len == n && memcmp(v->p, lit, n) == 0;
}

/* Notes the definitions of a stored event (propdefs.c): its properties,
 * the person properties of $set / $set_once, a $groupidentify's group
 * properties, the GeoIP members enrichment added. */
static void note_propdefs(struct sn_store_sink *s, const struct sn_event_row *row,
			  const struct fields *f)
{
	int64_t team = row->team_id;
	if (str_is(&row->event, "$$plugin_metrics", 16))
		return;
	bool groupidentify = str_is(&row->event, "$groupidentify", 14);
	const struct sn_enrich_geo *geo = f->facts.geo;
	/* The event's key set: when the team sent it before, nothing is new. */
	uint64_t fp = (uint64_t)team * 0x9E3779B97F4A7C15ull + groupidentify;
	for (uint32_t i = 0; i < f->npk; i++) {
		const struct sn_jspan *k = &f->pk[i], *v = &f->pv[i];
		fp += sn_propdefs_member_mix(k, v);
		if (v->type == SN_JOBJECT && k->len >= 6 && k->p[1] == '$' && k->p[2] == 's' &&
		    (sn_jspan_str_eq(k, "$set", 4) || sn_jspan_str_eq(k, "$set_once", 9)))
			fp += sn_hash64(v->p, v->len);
	}
	if (geo && geo->props_len)
		fp += (uint64_t)geo->nonnull * 0xc4ceb9fe1a85ec53ull + 1;
	/* (a $groupidentify's definitions hang on its group type's name: always looked at) */
	if (sn_propdefs_seen_set_known(s->seen, fp) && !groupidentify)
		return;
	const struct sn_jspan *gtype = NULL, *gset = NULL;
	for (uint32_t i = 0; i < f->npk; i++) {
		const struct sn_jspan *k = &f->pk[i], *v = &f->pv[i];
		if (groupidentify) {
			if (sn_jspan_str_eq(k, "$group_type", 11))
				gtype = v;
			else if (sn_jspan_str_eq(k, "$group_set", 10))
				gset = v;
			continue;
		}
		sn_propdefs_seen_prop(s->seen, team, SN_PROPDEF_EVENT, -1, k, v);
		if (v->type == SN_JOBJECT &&
		    (sn_jspan_str_eq(k, "$set", 4) || sn_jspan_str_eq(k, "$set_once", 9)))
			sn_propdefs_seen_object(s->seen, team, SN_PROPDEF_PERSON, -1, v->p, v->len);
	}
	if (gtype && gset && gtype->type == SN_JSTRING && gset->type == SN_JOBJECT && s->persons &&
	    !(gtype->flags & SN_JSPAN_ESCAPED) && gtype->len - 2 < 400) {
		char name[400];
		size_t n;
		const char *p = sn_jspan_raw(gtype, &n);
		memcpy(name, p, n);
		name[n] = 0;
		int idx;
		if (sn_persons_group_type_index(s->persons, team, name, &idx, NULL) == 0)
			sn_propdefs_seen_object(s->seen, team, SN_PROPDEF_GROUP, idx, gset->p,
						gset->len);
	}
	if (groupidentify)
		return;
	if (geo && geo->props_len) {
		sn_buf_reset(&s->pd_buf);
		if (sn_buf_appendc(&s->pd_buf, '{') ||
		    sn_buf_append(&s->pd_buf, geo->props, geo->props_len) ||
		    sn_buf_appendc(&s->pd_buf, '}'))
			return; /* not noted: the key set is looked at again */
		sn_propdefs_seen_object(s->seen, team, SN_PROPDEF_EVENT, -1, s->pd_buf.data,
					s->pd_buf.len);
	}
	sn_propdefs_seen_set_done(s->seen, fp);
}

/* Records the definitions noted so far; a failure is logged, never an
 * ingestion error (they are noted again when seen again). */
static void flush_propdefs(struct sn_store_sink *s)
{
	if (!s->seen || !sn_propdefs_seen_pending(s->seen))
		return;
	struct sn_err e = {0};
	if (sn_propdefs_seen_flush(s->seen, s->propdefs_meta, &e))
		sn_log_warn("ingest: recording property definitions: %s", e.msg);
}

/* ---- sink callbacks ----------------------------------------------------------------- */

/* ---- the prepared record ------------------------------------------------------- */

static void *sink_prep_new(void *ctx)
{
	(void)ctx;
	struct prep *p = calloc(1, sizeof(*p));
	if (p)
		sn_buf_init(&p->scratch, 1u << 30);
	return p;
}

static void sink_prep_free(void *ctx, void *prep)
{
	(void)ctx;
	struct prep *p = prep;
	if (!p)
		return;
	sn_buf_release(&p->scratch);
	free(p->pm.k);
	free(p->pm.v);
	free(p);
}

/* Converts an event record (on the read-ahead thread, or inline): reads
 * only the sink's configuration, and with prefetch given, identity's cache. */
static void prepare(const struct sn_store_sink *s, const struct sn_store_sink *prefetch,
		    const struct sn_wal_entry *e, struct prep *p)
{
	p->event = sn_wal_is_event(e->type);
	p->stale = false;
	p->rc = 0;
	if (p->event)
		p->rc = to_row(s, prefetch, e, p, &p->err);
	if (p->event && p->rc == 0 && s->identity)
		sn_ingest_facts_hash(&p->f.facts, p->row.distinct_id.p, p->row.distinct_id.len);
}

static void sink_prepare(void *ctx, const struct sn_wal_entry *e, void *prep)
{
	prepare(ctx, NULL, e, prep);
}

/* Idle ingestion: the person cache goes (it refills from the store as
 * events come; a crash starts without it too), and so do the persons
 * database's unused pages; then the freed memory goes back to the system
 * (sn_mem_release). Flushed and committed by then, so no deferred values
 * wait in the cache; if some did, it stays. The server's own idle release
 * (serve.c, 5 s without requests) may have come first, while ingestion was
 * still catching up, and the flushes after it refilled the pools: released
 * here again, the server idles at 45 MiB instead of 120 after 120k new
 * persons (docs/PERSONS.md). */
static void sink_idle(void *ctx)
{
	struct sn_store_sink *s = ctx;
	if (!s->identity || !sn_ingest_identity_idle(s->identity))
		return;
	sn_persons_release_memory(s->persons);
	sn_mem_release();
	sn_log_debug("ingest: idle, person cache emptied");
}

/* Identity's cache lookups for a record `distance` places ahead of the one
 * being consumed: the further away, the earlier the stage (each stage's
 * load has a record's time to arrive before the next needs it). */
static void sink_ahead(void *ctx, const void *prep, int distance)
{
	const struct sn_store_sink *s = ctx;
	const struct prep *p = prep;
	if (!s->identity || !p->event || p->rc || distance < 1 || distance > 3)
		return;
	if (p->f.facts.did_hashed)
		sn_ingest_identity_prefetch_hashed(s->identity, p->row.team_id, p->f.facts.did_hash,
						   4 - distance);
}

/* The rest of a record, on the ingest thread, in WAL order. The row and
 * facts are worked on in place; a record whose consumption fails is offered
 * again with its state, marked stale, and prepared again first. */
/* PostHog's normalizeEvent: an event's root-level $set / $set_once (older
 * SDKs, /engage) are merged into properties.$set / $set_once, root values
 * winning, and stored so (sn_ingest_merge_root_set, which identity applies
 * to its own copy). Rare, so through json-c: row->properties
 * then points into s->root_buf. Only SN_ERR_NOMEM fails; JSON json-c
 * refuses leaves the row as it was. */
static int root_set_into_properties(struct sn_store_sink *s, const struct sn_jspan *data,
				    struct sn_event_row *row, struct sn_err *err)
{
	struct json_object *ev = NULL, *props = NULL;
	if (sn_json_parse(data->p, data->len, &ev, NULL) ||
	    sn_json_parse(row->properties.p, row->properties.len, &props, NULL) ||
	    !json_object_is_type(props, json_type_object)) {
		json_object_put(ev);
		json_object_put(props);
		return 0;
	}
	bool changed = false;
	int rc = 0;
	if (sn_ingest_merge_root_set(ev, props, &changed)) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	} else if (changed) {
		size_t n;
		const char *t = json_object_to_json_string_length(
		    props, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
		sn_buf_reset(&s->root_buf);
		if (!t || sn_buf_append(&s->root_buf, t, n)) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		} else {
			row->properties = (struct sn_str){s->root_buf.data, s->root_buf.len};
			row->pmembers = NULL;
			row->npmembers = 0;
		}
	}
	json_object_put(ev);
	json_object_put(props);
	return rc;
}

static int sink_consume_prepared(void *ctx, const struct sn_wal_entry *e, void *prep,
				 struct sn_err *err)
{
	struct sn_store_sink *s = ctx;
	struct prep *p = prep;
	int rc;
	if (e->type == SN_WAL_RECORDING) {
		struct iovec_like {
			const void *p;
			size_t n;
		} parts[2] = {{e->data, e->len}, {"\n", 1}};
		for (int i = 0; i < 2; i++) {
			const char *q = parts[i].p;
			size_t n = parts[i].n;
			while (n) {
				ssize_t w = write(s->rec_fd, q, n);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					return sn_err_set(err, SN_ERR_IO,
							  "cannot append a recording to %s: %s",
							  s->rec_path, strerror(errno));
				q += w;
				n -= (size_t)w;
			}
		}
		s->rec_dirty = true;
		s->last_end_lsn = e->end_lsn;
		return 0;
	}
	if (!sn_wal_is_event(e->type)) {
		s->last_end_lsn = e->end_lsn; /* unknown types are not ours to keep */
		return 0;
	}
	if (p->rc == SN_ERR_NOMEM || p->stale)
		prepare(s, s, e, p); /* again, here: out of memory there, or retried */
	if ((rc = p->rc)) {
		if (err)
			*err = p->err;
		if (rc == SN_ERR_CORRUPT || rc == SN_ERR_INVALID) {
			/* A record capture could not have written: log and move on,
			 * retrying would block ingestion forever. */
			sn_log_error("ingest: skipping WAL record at %llu: %s",
				     (unsigned long long)e->lsn, err ? err->msg : "invalid");
			s->last_end_lsn = e->end_lsn;
			return 0;
		}
		return rc;
	}
	/* Worked on in place: a failure below marks them stale (a retry
	 * prepares the record again, here), so the common case copies nothing. */
	struct sn_event_row *row = &p->row;
	struct fields *f = &p->f;
	p->stale = true;
	s->team_guess = row->team_id;
	if (s->enrich && (rc = sn_enrich_event(s->enrich, &f->facts, row, err)))
		return rc; /* out of memory: nothing applied yet, retried */
	if (f->facts.root_set && f->facts.data.type == SN_JOBJECT &&
	    (rc = root_set_into_properties(s, &f->facts.data, row, err)))
		return rc; /* out of memory: nothing applied yet, retried */
	/* The member lengths describe the scanned text only: enrichment gives
	 * the row a new one (the elements step below cuts them with the text). */
	if (row->properties.p != f->properties.p || row->properties.len != f->properties.len) {
		row->pmembers = NULL;
		row->npmembers = 0;
	}
	/* After enrichment (which cuts and splices by offsets into the text it
	 * was given), before identity (after which nothing may fail). */
	if ((f->elements.type != SN_JNONE || f->elements_chain.type != SN_JNONE) &&
	    (rc = sn_ingest_elements(&s->el_chain, &s->el_props, &s->el_members, row,
				     row->pmembers ? &f->cut : NULL, err)))
		return rc;
	if (s->fail_consume > 0 && !(s->failed_once = !s->failed_once))
		s->fail_consume--;
	else if (s->fail_consume > 0)
		return sn_err_set(err, SN_ERR_NOMEM, "injected consume failure");
	if (s->identity) {
		bool drop = false;
		size_t ulen;
		const char *ut = sn_jspan_raw(&f->uuid, &ulen);
		rc = sn_ingest_identity_event(s->identity, &f->facts, ut, ulen, row,
					      e->end_lsn > s->persons_lsn, &drop, err);
		if (rc == SN_ERR_INVALID || rc == SN_ERR_TOO_BIG) {
			/* The event itself is unusable for identity (JSON json-c
			 * refuses, an id over the limit, a merge of two persons whose
			 * properties together would pass 1 MiB; an event's own
			 * oversized update is refused alone by the rules): nothing of
			 * it was applied, and retrying would block ingestion forever.
			 * Store it without a person. */
			sn_log_error("ingest: identity of WAL record at %llu: %s",
				     (unsigned long long)e->lsn, err ? err->msg : "invalid");
			memset(row->person_id, 0, 16);
		} else if (rc) {
			return rc; /* nothing of it was applied: retried */
		}
		if (drop) {
			s->last_end_lsn = e->end_lsn;
			return 0;
		}
	}
	/* A "$group_N" key sent as a plain property fills the group column
	 * when $groups did not (PostHog's $group_N columns are read from the
	 * properties, so events sent that way count in group queries there),
	 * but not on a personless event: PostHog's createEvent deletes those
	 * keys then (the key stays in the stored properties text here). */
	for (int g = 0; g < SN_STORE_GROUPS && g < 5 && f->facts.ppp.type != SN_JFALSE; g++) {
		const struct sn_jspan *v = &f->facts.group_prop[g];
		if (row->group[g].len == 0 && v->p && v->type == SN_JSTRING &&
		    !(v->flags & SN_JSPAN_ESCAPED) && v->len > 2 &&
		    v->len - 2 <= SN_GROUP_KEY_MAX) {
			size_t n;
			const char *g0 = sn_jspan_raw(v, &n);
			row->group[g] = (struct sn_str){g0, n};
		}
	}
	if (s->seen)
		note_propdefs(s, row, f);
	/* Identity is applied: from here the record must not fail, or its retry
	 * would apply it twice. The memtable has 64 MiB of headroom past the
	 * size that triggers a flush, more than any record. */
	if ((rc = sn_memtable_append(&s->mt, row, err)))
		return rc;
	s->last_end_lsn = e->end_lsn;
	return 0;
}

static int sink_consume(void *ctx, const struct sn_wal_entry *e, struct sn_err *err)
{
	struct sn_store_sink *s = ctx;
	prepare(s, s, e, s->prep);
	return sink_consume_prepared(s, e, s->prep, err);
}

/* A record the store already holds (ingest skips it): its identity is
 * replayed when the person store's last batch did not reach it, which is
 * what a crash between a part write and the persons commit leaves. */
static int sink_replay(void *ctx, const struct sn_wal_entry *e, struct sn_err *err)
{
	struct sn_store_sink *s = ctx;
	int rc;
	if (!s->identity || !sn_wal_is_event(e->type) || e->end_lsn <= s->persons_lsn)
		return 0;
	struct prep *p = s->prep;
	if ((rc = to_row(s, s, e, p, err)))
		return rc == SN_ERR_CORRUPT || rc == SN_ERR_INVALID ? 0 : rc;
	struct sn_event_row *row = &p->row;
	struct fields *f = &p->f;
	if (s->enrich && (rc = sn_enrich_event(s->enrich, &f->facts, row, err)))
		return rc;
	bool drop = false;
	size_t ulen;
	const char *ut = sn_jspan_raw(&f->uuid, &ulen);
	rc = sn_ingest_identity_event(s->identity, &f->facts, ut, ulen, row, true, &drop, err);
	if (rc && rc != SN_ERR_INVALID && rc != SN_ERR_TOO_BIG)
		return rc;
	s->replayed++; /* last_end_lsn already is the resume position */
	return 0;
}

/* The second half of a flush: the person changes of every record up to
 * last_end_lsn are committed (one fsync) with that position. Parts first,
 * then persons: a crash between the two leaves parts whose records' identity
 * is not committed, and start-up replays it (sink_replay) from the WAL, which
 * the checkpoint still holds because it moves only after this returns. The
 * other order would leave committed identity for records not in the store,
 * and their replay would apply it twice. A failed commit fails the flush (or
 * the settle); the batch stays open and the next flush or settle commits
 * it. */
static int commit_persons(struct sn_store_sink *s, struct sn_err *err)
{
	if (!s->identity || s->last_end_lsn <= s->persons_lsn)
		return 0;
	int frc = sn_ingest_identity_flush_pending(s->identity, err);
	if (frc)
		return frc;
	if (s->fail_commits > 0) {
		s->fail_commits--;
		return sn_err_set(err, SN_ERR_IO, "injected persons commit failure");
	}
	int rc = sn_persons_batch_commit(s->persons, s->last_end_lsn, err);
	if (rc == 0) {
		s->persons_lsn = s->last_end_lsn;
		s->persons_commit_ns = sn_mono_ns();
	}
	return rc;
}

/* Whether the persons batch may stay open past a durable flush (see
 * "Persons commits under a backlog" at the top). */
static bool defer_persons_commit(struct sn_store_sink *s)
{
	return s->identity && s->last_end_lsn > s->persons_lsn &&
	       sn_mono_ns() - s->persons_commit_ns < PERSONS_COMMIT_MAX_NS &&
	       !sn_persons_batch_wanted(s->persons);
}

/* Writes mt's parts under part_id: what a flush does after its checks. */
static int write_parts(struct sn_store_sink *s, struct sn_memtable *mt, uint64_t part_id,
		       size_t *nparts_out, size_t *nrows_out, struct sn_err *err)
{
	struct sn_part_write_opts opts = {.pool = s->wpool,
					  .granule_rows = SN_PART_INGEST_GRANULE_ROWS,
					  .gather_text = true,
					  .no_fsync = s->no_fsync};
	struct sn_part_written *parts = NULL;
	size_t nparts = 0;
	int rc = sn_memtable_flush(mt, s->dir, part_id, &opts, &parts, &nparts, err);
	if (rc)
		return rc;
	*nrows_out = 0;
	for (size_t i = 0; i < nparts; i++)
		*nrows_out += parts[i].nrows;
	*nparts_out = nparts;
	free(parts);
	return 0;
}

/* The checks before a flush: recordings made durable, the memtable's
 * months counted into the part id. 1 = the memtable is empty. */
static int flush_prepare(struct sn_store_sink *s, uint64_t *part_id, struct sn_err *err)
{
	if (s->rec_dirty) {
		if (fdatasync(s->rec_fd))
			return sn_err_set(err, SN_ERR_IO, "fsync of %s failed: %s", s->rec_path,
					  strerror(errno));
		s->rec_dirty = false;
	}
	if (s->mt.nrows == 0)
		return 1;
	unsigned months = sn_memtable_nmonths(&s->mt);
	if (months > NPARTS_MASK)
		return sn_err_set(err, SN_ERR_TOO_BIG,
				  "one flush would write more than %u monthly parts", NPARTS_MASK);
	*part_id = s->last_end_lsn << NPARTS_BITS | months;
	return 0;
}

/* A memtable flushed a quarter full or more: ingest is busy, and the
 * next fill reuses its memory instead of faulting fresh pages in (they
 * were 10 % of a backlog drain's time). Smaller flushes free it, so an
 * idle server does not hold two memtables. */
static bool under_load(const struct sn_store_sink *s, const struct sn_memtable *mt)
{
	return sn_memtable_nbytes(mt) >= s->full_bytes / 4;
}

static void *flusher_main(void *arg)
{
	struct sn_store_sink *s = arg;
	pthread_mutex_lock(&s->jmu);
	pthread_setname_np(pthread_self(), "sn-flush");
	for (;;) {
		while (!s->flusher_stop && s->job.state != JOB_RUNNING)
			pthread_cond_wait(&s->jcond, &s->jmu);
		if (s->flusher_stop)
			break;
		pthread_mutex_unlock(&s->jmu);
		size_t nparts = 0, nrows = 0;
		struct sn_err err = {0};
		int rc = write_parts(s, &s->job.mt, s->job.part_id, &nparts, &nrows, &err);
		pthread_mutex_lock(&s->jmu);
		if (rc == 0) {
			s->job.nparts = nparts;
			s->job.nrows = nrows;
			s->job.state = JOB_WRITTEN;
		} else {
			s->job.rc = rc;
			s->job.err = err;
			s->job.state = JOB_FAILED;
		}
		pthread_cond_broadcast(&s->jcond);
	}
	pthread_mutex_unlock(&s->jmu);
	return NULL;
}

/* Identity's and enrichment's counters belong to the ingest thread (plain
 * integers on the hot path); at each flush what they gained since the last
 * report goes to their /metrics series. */
static void report_metrics(struct sn_store_sink *s)
{
	uint64_t now[M_COUNT] = {0};
	now[M_INDEX_BAD] = atomic_load(&s->index_bad);
	if (s->identity) {
		struct sn_ingest_identity_stats st;
		sn_ingest_identity_get_stats(s->identity, &st);
		now[M_FAST] = st.fast;
		now[M_SLOW] = st.slow;
		now[M_CREATED] = st.created;
	}
	if (s->enrich) {
		struct sn_enrich_stats st;
		sn_enrich_get_stats(s->enrich, &st);
		now[M_PLACED] = st.enriched;
		now[M_IP_HIT] = st.ip_hits;
		now[M_IP_MISS] = st.ip_misses;
		now[M_PLACE_HIT] = st.place_hits;
		now[M_PLACE_MISS] = st.place_misses;
	}
	for (int i = 0; i < M_COUNT; i++) {
		if (s->m[i] && now[i] > s->m_last[i])
			sn_metric_add(s->m[i], now[i] - s->m_last[i]);
		s->m_last[i] = now[i];
	}
}

/* The end of a flush, its parts durable (or none to write): property
 * definitions and the counters (flush_finish; every flush path ends with
 * it), then, unless the batch stays open under a backlog, the persons
 * commit, which covers everything consumed (a failure leaves the batch
 * open: the next call commits it). */
static void flush_finish(struct sn_store_sink *s)
{
	flush_propdefs(s);
	report_metrics(s);
}

static int flush_end(struct sn_store_sink *s, struct sn_err *err)
{
	flush_finish(s);
	return commit_persons(s, err);
}

static int sink_flush_done(void *ctx, uint64_t timeout_ms, struct sn_err *err)
{
	struct sn_store_sink *s = ctx;
	pthread_mutex_lock(&s->jmu);
	if (s->job.state == JOB_RUNNING && timeout_ms) {
		struct timespec ts = sn_deadline_in_ms(timeout_ms);
		while (s->job.state == JOB_RUNNING)
			if (pthread_cond_timedwait(&s->jcond, &s->jmu, &ts) == ETIMEDOUT)
				break;
	}
	int state = s->job.state, rc = 0;
	if (state == JOB_FAILED) {
		/* Report it, and write the same memtable again. */
		rc = s->job.rc;
		if (err)
			*err = s->job.err;
		s->job.state = JOB_RUNNING;
		pthread_cond_broadcast(&s->jcond);
	}
	pthread_mutex_unlock(&s->jmu);
	if (state == JOB_RUNNING)
		return 0;
	if (state == JOB_FAILED)
		return rc;
	if (state == JOB_WRITTEN) {
		/* Only this thread moves the job out of JOB_WRITTEN. */
		s->rows_written += s->job.nrows;
		s->parts_written += s->job.nparts;
		s->job.nrows = s->job.nparts = 0;
		sn_memtable_reset(&s->job.mt, under_load(s, &s->job.mt));
		pthread_mutex_lock(&s->jmu);
		s->job.state = JOB_IDLE;
		pthread_mutex_unlock(&s->jmu);
	}
	/* Parts durable. Under a backlog the persons batch may stay open: the
	 * flush is done, and the worker's checkpoint waits for sink_settle. */
	if (defer_persons_commit(s)) {
		flush_finish(s);
		return 1;
	}
	return (rc = flush_end(s, err)) ? rc : 1;
}

/* sn_ingest_sink.settle: the persons batch commits when the worker forces
 * it (caught up) or defer_persons_commit no longer holds it;
 * *lsn is where committed identity ends (a commit covers everything
 * consumed). */
static int sink_settle(void *ctx, bool force, uint64_t *lsn, struct sn_err *err)
{
	struct sn_store_sink *s = ctx;
	*lsn = UINT64_MAX;
	if (!s->identity)
		return 0;
	/* (both return at once when nothing is uncommitted) */
	int rc = force || !defer_persons_commit(s) ? commit_persons(s, err) : 0;
	if (rc == 0)
		*lsn = s->persons_lsn;
	return rc;
}

static int sink_flush_start(void *ctx, struct sn_err *err)
{
	struct sn_store_sink *s = ctx;
	uint64_t part_id = 0;
	int rc = flush_prepare(s, &part_id, err);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return (rc = flush_end(s, err)) ? rc : 1;
	if (!s->flusher_started) {
		if (pthread_create(&s->flusher, NULL, flusher_main, s))
			return sn_err_set(err, SN_ERR_INTERNAL, "cannot start the flusher thread");
		s->flusher_started = true;
	}
	pthread_mutex_lock(&s->jmu);
	if (s->job.state != JOB_IDLE) {
		pthread_mutex_unlock(&s->jmu);
		return sn_err_set(err, SN_ERR_INTERNAL, "a flush is already in flight");
	}
	struct sn_memtable t = s->job.mt;
	if (!under_load(s, &s->mt))
		sn_memtable_reset(&t, false); /* the memory kept for a busy fill goes */
	s->job.mt = s->mt;
	s->mt = t;
	s->job.part_id = part_id;
	s->job.state = JOB_RUNNING;
	pthread_cond_broadcast(&s->jcond);
	pthread_mutex_unlock(&s->jmu);
	return 0;
}

static int sink_flush(void *ctx, struct sn_err *err)
{
	struct sn_store_sink *s = ctx;
	int rc;
	/* A flush in flight goes first: parts are named by end position. */
	pthread_mutex_lock(&s->jmu);
	bool inflight = s->job.state != JOB_IDLE;
	pthread_mutex_unlock(&s->jmu);
	while (inflight && (rc = sink_flush_done(s, 1000, err)) <= 0)
		if (rc < 0)
			return rc;
	uint64_t part_id = 0;
	if ((rc = flush_prepare(s, &part_id, err)) < 0)
		return rc;
	if (rc == 1)
		return flush_end(s, err);
	size_t nparts = 0, nrows = 0;
	if ((rc = write_parts(s, &s->mt, part_id, &nparts, &nrows, err)))
		return rc;
	s->rows_written += nrows;
	s->parts_written += nparts;
	sn_memtable_reset(&s->mt, under_load(s, &s->mt));
	return flush_end(s, err);
}

/* Full by size, or by months: one flush writes a part per month and names
 * them within NPARTS_MASK, so a memtable holding that many months (events
 * timestamped far apart: capture keeps old timestamps as sent) is handed
 * over before a record of another month can join it. */
static bool sink_full(void *ctx)
{
	struct sn_store_sink *s = ctx;
	return sn_memtable_nbytes(&s->mt) >= s->full_bytes ||
	       sn_memtable_nmonths(&s->mt) >= NPARTS_MASK;
}

/* ---- start-up: find where the store is ---------------------------------------------- */

/* Where the store is: sn_store_recover removes what a crash left (temp
 * files, parts a merge or rewrite superseded, an incomplete newest flush)
 * and names the newest complete flush id. Merges and rewrites keep that
 * answer: a merged part's name carries the largest id it covers, a rewrite
 * keeps its range, and a part whose rows were all deleted leaves a tombstone
 * with its range, so "the newest flush" is still the largest id any live
 * file ends at, and it is complete when as many live files end at it as
 * the flush wrote parts (docs/STORAGE.md, "Merges and exactly-once"). */
static int recover(struct sn_store_sink *s, uint64_t *resume_lsn, struct sn_err *err)
{
	uint64_t top = 0;
	int rc = sn_store_recover(s->dir, false, &top, err);
	*resume_lsn = rc ? 0 : top >> NPARTS_BITS;
	return rc;
}

/* ---- public ----------------------------------------------------------------------------- */

int sn_store_sink_open(struct sn_store_sink **out, const char *data_dir, size_t full_bytes,
		       uint64_t *resume_lsn, struct sn_err *err)
{
	struct sn_store_sink *s = calloc(1, sizeof(*s));
	int rc;
	if (!s || !(s->prep = sink_prep_new(NULL))) {
		free(s);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	}
	s->rec_fd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s/store", data_dir);
	snprintf(s->rec_path, sizeof(s->rec_path), "%s/recordings", data_dir);
	if ((rc = sn_mkdir_p(s->dir, err)) || (rc = sn_mkdir_p(s->rec_path, err)))
		goto fail;
	snprintf(s->rec_path, sizeof(s->rec_path), "%s/recordings/pending.jsonl", data_dir);
	s->rec_fd = open(s->rec_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (s->rec_fd < 0) {
		rc = sn_err_set(err, SN_ERR_IO, "cannot open %s: %s", s->rec_path, strerror(errno));
		goto fail;
	}
	s->full_bytes = full_bytes ? full_bytes : 256u << 20;
	sn_memtable_init(&s->mt, s->full_bytes + (64u << 20));
	sn_memtable_init(&s->job.mt, s->full_bytes + (64u << 20));
	pthread_mutex_init(&s->jmu, NULL);
	pthread_cond_init(&s->jcond, NULL);
	sn_buf_init(&s->el_chain, 1u << 30);
	sn_buf_init(&s->root_buf, 1u << 30);
	sn_buf_init(&s->el_props, 1u << 30);
	sn_buf_init(&s->el_members, 1u << 20);
	if ((rc = recover(s, resume_lsn, err)))
		goto fail;
	s->last_end_lsn = *resume_lsn;
	if ((rc = sn_store_sink_use_writer_threads(s, SN_STORE_SINK_WRITER_THREADS, err)))
		goto fail;
	sn_metrics_declare("snout_ingest_index_mismatch_total", SN_METRIC_COUNTER,
			   "Indexed WAL event records whose index did not describe their JSON "
			   "(ingested by scanning the JSON; a capture bug if not zero)");
	s->m[M_INDEX_BAD] = sn_metric_series("snout_ingest_index_mismatch_total", "");
	*out = s;
	return 0;
fail:
	if (s->rec_fd >= 0)
		close(s->rec_fd);
	sn_memtable_release(&s->mt);
	sn_memtable_release(&s->job.mt);
	pthread_mutex_destroy(&s->jmu);
	pthread_cond_destroy(&s->jcond);
	sn_buf_release(&s->el_chain);
	sn_buf_release(&s->root_buf);
	sn_buf_release(&s->el_props);
	sn_buf_release(&s->el_members);
	sink_prep_free(NULL, s->prep);
	free(s);
	return rc;
}

int sn_store_sink_use_writer_threads(struct sn_store_sink *s, unsigned nthreads, struct sn_err *err)
{
	struct sn_write_pool *p = NULL;
	int rc;
	if (nthreads && (rc = sn_write_pool_new(&p, nthreads, err)))
		return rc;
	sn_write_pool_free(s->wpool);
	s->wpool = p;
	return 0;
}

int sn_store_sink_use_persons(struct sn_store_sink *s, struct sn_persons *persons,
			      size_t cache_entries, struct sn_err *err)
{
	uint64_t lsn = 0;
	int rc = sn_persons_ingest_lsn(persons, &lsn, err);
	if (rc)
		return rc;
	if ((rc = sn_ingest_identity_new(&s->identity, persons, cache_entries, err)))
		return rc;
	s->persons = persons;
	s->persons_lsn = lsn;
	sn_metrics_declare("snout_identity_events_total", SN_METRIC_COUNTER,
			   "Events whose identity step took the person cache's fast path or the "
			   "rules over the person store (slow)");
	sn_metrics_declare("snout_identity_persons_created_total", SN_METRIC_COUNTER,
			   "Persons created on the fast path (a distinct id's first event)");
	s->m[M_FAST] = sn_metric_series("snout_identity_events_total", "path=\"fast\"");
	s->m[M_SLOW] = sn_metric_series("snout_identity_events_total", "path=\"slow\"");
	s->m[M_CREATED] = sn_metric_series("snout_identity_persons_created_total", "");
	s->persons_commit_ns = sn_mono_ns();
	if (lsn > s->last_end_lsn)
		sn_log_info("ingest: the person store is ahead of the event store (WAL position "
			    "%llu > %llu, a crash during a flush); events in between get their "
			    "current person",
			    (unsigned long long)lsn, (unsigned long long)s->last_end_lsn);
	else if (lsn == 0 && s->last_end_lsn > 0)
		sn_log_info("ingest: identity starts at WAL position %llu; events stored before "
			    "keep a zero person_id",
			    (unsigned long long)s->last_end_lsn);
	return 0;
}

int sn_store_sink_use_enrich(struct sn_store_sink *s, const struct sn_enrich_options *o,
			     struct sn_err *err)
{
	int rc = sn_enrich_new(&s->enrich, o, err);
	if (rc || !o->geoip)
		return rc;
	sn_metrics_declare("snout_geoip_events_total", SN_METRIC_COUNTER,
			   "Events given a place by GeoIP (a record retried after an error counts "
			   "each time)");
	sn_metrics_declare("snout_geoip_cache_total", SN_METRIC_COUNTER,
			   "GeoIP cache lookups: the IP cache (address to database record) and the "
			   "place cache (record to its properties), hits and misses");
	s->m[M_PLACED] = sn_metric_series("snout_geoip_events_total", "");
	s->m[M_IP_HIT] = sn_metric_series("snout_geoip_cache_total", "cache=\"ip\",result=\"hit\"");
	s->m[M_IP_MISS] =
	    sn_metric_series("snout_geoip_cache_total", "cache=\"ip\",result=\"miss\"");
	s->m[M_PLACE_HIT] =
	    sn_metric_series("snout_geoip_cache_total", "cache=\"place\",result=\"hit\"");
	s->m[M_PLACE_MISS] =
	    sn_metric_series("snout_geoip_cache_total", "cache=\"place\",result=\"miss\"");
	return 0;
}

int sn_store_sink_use_propdefs(struct sn_store_sink *s, struct sn_meta *meta, struct sn_err *err)
{
	if (s->seen)
		return 0;
	if (sn_propdefs_seen_new(&s->seen))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory for property definitions");
	sn_buf_init(&s->pd_buf, 1 << 20);
	s->propdefs_meta = meta;
	return 0;
}

void sn_store_sink_test_fail_consume(struct sn_store_sink *s, int n)
{
	s->fail_consume = n;
}

void sn_store_sink_test_no_fsync(struct sn_store_sink *s)
{
	s->no_fsync = true;
}

static void describe_span(struct sn_buf *o, const char *name, const struct sn_jspan *v,
			  const char *base)
{
	if (!v->p)
		sn_buf_appendf(o, "%s -%u\n", name, v->type);
	else
		sn_buf_appendf(o, "%s %td+%u t%u f%u\n", name, v->p - base, v->len, v->type,
			       v->flags);
}

static void describe_str(struct sn_buf *o, const char *name, const struct sn_str *v)
{
	sn_buf_appendf(o, "%s \"%.*s\"\n", name, (int)v->len, v->p ? v->p : "");
}

void sn_store_sink_test_describe(struct sn_store_sink *s, uint8_t type, const void *data,
				 uint32_t len, const char *base, struct sn_buf *o)
{
	struct prep *p = sink_prep_new(s);
	struct sn_wal_entry e = {.type = type, .data = data, .len = len};
	struct sn_err err = {0};
	if (!p)
		return;
	s->test_all_facts = true;
	int rc = to_row(s, NULL, &e, p, &err);
	s->test_all_facts = false;
	const struct fields *f = &p->f;
	const struct sn_ingest_facts *x = &f->facts;
	const struct sn_event_row *r = &p->row;
	sn_buf_appendf(o, "rc %d %s\n", rc, rc ? err.msg : "");
	if (rc)
		goto out;
	sn_buf_appendf(o, "row %02x%02x..%02x team %lld ts %lld created %lld\n", r->uuid[0],
		       r->uuid[1], r->uuid[15], (long long)r->team_id, (long long)r->timestamp_us,
		       (long long)r->created_at_us);
	describe_str(o, "event", &r->event);
	describe_str(o, "distinct_id", &r->distinct_id);
	describe_str(o, "elements_chain", &r->elements_chain);
	describe_str(o, "session_id", &r->session_id);
	describe_str(o, "window_id", &r->window_id);
	sn_buf_appendf(o, "properties %td+%zu members", r->properties.p - base, r->properties.len);
	for (uint32_t i = 0; i < 2 * r->npmembers; i++)
		sn_buf_appendf(o, " %u", r->pmembers[i]);
	sn_buf_appends(o, "\n");
	const struct {
		const char *name;
		const struct sn_jspan *v;
	} spans[] = {{"uuid", &f->uuid},
		     {"team_id", &f->team_id},
		     {"timestamp", &f->timestamp},
		     {"now", &f->now},
		     {"f.event", &f->event},
		     {"f.distinct_id", &f->distinct_id},
		     {"f.properties", &f->properties},
		     {"f.session_id", &f->session_id},
		     {"f.window_id", &f->window_id},
		     {"f.elements_chain", &f->elements_chain},
		     {"f.elements", &f->elements},
		     {"data", &x->data},
		     {"ppp", &x->ppp},
		     {"groups", &x->groups},
		     {"anon_id", &x->anon_id},
		     {"alias", &x->alias},
		     {"ip_key", &x->ip_key},
		     {"ip", &x->ip},
		     {"geoip_disable", &x->geoip_disable},
		     {"root_ip", &x->root_ip}};
	for (size_t i = 0; i < SN_ARRAY_LEN(spans); i++)
		describe_span(o, spans[i].name, spans[i].v, base);
	for (int g = 0; g < 5; g++)
		describe_span(o, "group_prop", &x->group_prop[g], base);
	sn_buf_appendf(o, "flags %d%d%d%d%d%d%d%d%d initial %x ngeo %u\n", x->root_set, x->has_set,
		       x->has_set_once, x->has_unset, x->odd_key, x->server_or_os_name,
		       x->geoip_keys, x->geo_members_over, x->ip_dup, x->initial_present,
		       x->ngeo_members);
	for (int k = 0; k < SN_INITIAL_NKEYS; k++)
		if (x->initial_present >> k & 1)
			describe_span(o, "initial", &x->initial[k], base);
	for (unsigned g = 0; g < x->ngeo_members; g++) {
		describe_span(o, "geo_member", &x->geo_member[g].key, base);
		sn_buf_appendf(o, "geo_end %td\n", x->geo_member[g].end - base);
	}
	sn_buf_appendf(o, "mi_ok %d nmi %u npk %u\n", f->mi_ok, f->mi_ok ? f->nmi : 0, f->npk);
	for (uint32_t i = 0; i < f->npk; i++) {
		describe_span(o, "pk", &f->pk[i], base);
		describe_span(o, "pv", &f->pv[i], base);
	}
out:
	sink_prep_free(s, p);
}

uint64_t sn_store_sink_test_index_fallbacks(struct sn_store_sink *s)
{
	return atomic_load(&s->index_bad);
}

void sn_store_sink_test_fail_commits(struct sn_store_sink *s, int n)
{
	s->fail_commits = n;
}

void sn_store_sink_identity_stats(struct sn_store_sink *s, uint64_t *fast, uint64_t *slow,
				  uint64_t *replayed, uint64_t *person_writes)
{
	struct sn_ingest_identity_stats st = {0};
	if (s->identity)
		sn_ingest_identity_get_stats(s->identity, &st);
	*fast = st.fast;
	*slow = st.slow;
	*replayed = s->replayed + st.readonly;
	if (person_writes)
		*person_writes = st.person_writes;
}

void sn_store_sink_enrich_stats(struct sn_store_sink *s, struct sn_enrich_stats *st)
{
	*st = (struct sn_enrich_stats){0};
	if (s->enrich)
		sn_enrich_get_stats(s->enrich, st);
}

void sn_store_sink_close(struct sn_store_sink *s)
{
	if (!s)
		return;
	if (s->flusher_started) {
		/* A write in progress finishes; its records were not checkpointed,
		 * so the next start finds its parts or replays them (as a crash). */
		pthread_mutex_lock(&s->jmu);
		s->flusher_stop = true;
		pthread_cond_broadcast(&s->jcond);
		pthread_mutex_unlock(&s->jmu);
		pthread_join(s->flusher, NULL);
	}
	if (s->identity) {
		/* Whatever the batch holds beyond the last flush belongs to records
		 * that are not in parts: they are replayed from the WAL next time. */
		sn_persons_batch_rollback(s->persons);
		sn_ingest_identity_free(s->identity);
	}
	sn_enrich_free(s->enrich);
	if (s->seen) {
		sn_propdefs_seen_free(s->seen);
		sn_buf_release(&s->pd_buf);
	}
	sn_memtable_release(&s->mt);
	sn_memtable_release(&s->job.mt);
	pthread_mutex_destroy(&s->jmu);
	pthread_cond_destroy(&s->jcond);
	sn_write_pool_free(s->wpool);
	sn_buf_release(&s->el_chain);
	sn_buf_release(&s->root_buf);
	sn_buf_release(&s->el_props);
	sn_buf_release(&s->el_members);
	if (s->rec_fd >= 0)
		close(s->rec_fd);
	sink_prep_free(NULL, s->prep);
	free(s);
}

void sn_store_sink_vtable(struct sn_store_sink *s, struct sn_ingest_sink *out)
{
	*out = (struct sn_ingest_sink){0};
	out->ctx = s;
	out->consume = sink_consume;
	out->flush = sink_flush;
	out->full = sink_full;
	out->replay = sink_replay;
	out->flush_start = sink_flush_start;
	out->flush_done = sink_flush_done;
	out->settle = sink_settle;
	if (!s->identity)
		return; /* scanned inline (see ingest.h) */
	out->prep_new = sink_prep_new;
	out->prep_free = sink_prep_free;
	out->prepare = sink_prepare;
	out->consume_prepared = sink_consume_prepared;
	out->ahead = sink_ahead;
	out->idle = sink_idle;
}

const char *sn_store_sink_dir(const struct sn_store_sink *s)
{
	return s->dir;
}
