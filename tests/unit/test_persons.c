/*
 * test_persons.c — the persons module as the ingest worker and the query
 * layer see it: events go through sn_identity_process one at a time, and the
 * tests check the persons, distinct ids, overrides and groups that result
 * (through the public read API, and with plain SQL where the file itself is
 * the point: migrations, persistence). The cases are spec posthog-wire.md
 * §4.2–4.5 and §5.2, one or more per rule.
 *
 * Every test works in a fresh mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp), removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persons/persons.h"
#include "persons/persons_internal.h"

#define T0 1700000000000000LL /* an event time, µs */

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	struct sn_persons *p;
	int applied;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || sn_test_tmpdir(f->dir, sizeof(f->dir), "test_persons") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/persons.sqlite3", f->dir);
	struct sn_err err = {0};
	if (sn_persons_open(&f->p, f->dir, &f->applied, &err) != 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sn_persons_close(f->p);
	sn_test_rm_rf(f->dir);
	free(f);
	return 0;
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* ---- event helpers ------------------------------------------------------------ */

static int nevents; /* makes event uuids unique within a test run */

/* Runs one event; returns its properties after processing (caller puts). */
static struct json_object *run_ev(struct fx *f, int64_t team, const char *did, const char *event,
				  const char *props_json, int64_t ts,
				  struct sn_identity_result *res)
{
	struct json_object *props = NULL;
	struct sn_err err = {0};
	assert_int_equal(sn_json_parse(props_json, strlen(props_json), &props, &err), 0);
	char uuid[37];
	snprintf(uuid, sizeof(uuid), "00000000-0000-7000-8000-%012d", ++nevents);
	struct sn_identity_event ev = {
	    .team_id = team,
	    .distinct_id = did,
	    .event = event,
	    .uuid = uuid,
	    .timestamp_us = ts,
	    .properties = props,
	};
	int rc = sn_identity_process(f->p, &ev, res, &err);
	if (rc)
		fprintf(stderr, "identity: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return props;
}

/* Runs one event and keeps only the person id it was given. */
static void ev(struct fx *f, int64_t team, const char *did, const char *event,
	       const char *props_json, int64_t ts, char person_out[37])
{
	struct sn_identity_result res;
	struct json_object *props = run_ev(f, team, did, event, props_json, ts, &res);
	assert_false(res.dropped);
	if (person_out)
		memcpy(person_out, res.person_uuid, 37);
	sn_identity_result_release(&res);
	json_object_put(props);
}

static bool has_warning(const struct sn_identity_result *res, const char *type)
{
	for (unsigned i = 0; i < res->nwarnings; i++)
		if (!strcmp(res->warnings[i].type, type))
			return true;
	return false;
}

/* The person of a distinct id (must exist). Caller releases. */
static void person_of(struct fx *f, int64_t team, const char *did, struct sn_person *out)
{
	struct sn_err err = {0};
	memset(out, 0, sizeof(*out));
	int rc = sn_persons_get_by_distinct_id(f->p, team, did, out, &err);
	if (rc)
		fprintf(stderr, "no person for %s: %s\n", did, err.msg);
	assert_int_equal(rc, 0);
}

static bool no_person(struct fx *f, int64_t team, const char *did)
{
	struct sn_person p = {0};
	int rc = sn_persons_get_by_distinct_id(f->p, team, did, &p, NULL);
	sn_person_release(&p);
	return rc == SN_ERR_NOT_FOUND;
}

/* A property of a person as compact JSON text ("" when absent). */
static const char *prop(const struct sn_person *p, const char *key)
{
	static char buf[256];
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(p->properties, key, &v))
		return "";
	snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	return buf;
}

static void resolve(struct fx *f, int64_t team, const char *id, char out[37])
{
	assert_int_equal(sn_persons_resolve(f->p, team, id, out, NULL), 0);
}

struct idlist {
	char ids[16][64];
	int n;
};

static int collect(void *ctx, const char *d)
{
	struct idlist *l = ctx;
	if (l->n < 16)
		snprintf(l->ids[l->n++], 64, "%s", d);
	return 0;
}

static int count_distinct_ids(struct fx *f, int64_t team, const char *uuid)
{
	struct idlist l = {0};
	assert_int_equal(sn_persons_distinct_ids(f->p, team, uuid, collect, &l, NULL), 0);
	return l.n;
}

/* ---- UUIDv5 ----------------------------------------------------------------------- */

static void test_uuid5(void **state)
{
	(void)state;
	uint8_t h[20];
	char hex[41];
	sn_sha1("abc", 3, h);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	/* Two blocks: the 56-byte message of FIPS 180-4's second example. */
	const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sn_sha1(m2, strlen(m2), h);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");

	/* Expected values from Python: uuid.uuid5(UUID('932979b4-...'), f"{team}:{id}"). */
	char u[37];
	sn_persons_uuid_for(1, "user-1", 6, u);
	assert_string_equal(u, "6931a681-6e90-500d-8294-14582dcc2e3f");
	sn_persons_uuid_for(2, "user-1", 6, u);
	assert_string_equal(u, "1e7731c8-945c-520d-96b9-e7f088242010");
	sn_persons_uuid_for(42, "anon-abc", 8, u);
	assert_string_equal(u, "29418f1e-a3dd-59f4-81d0-7dcc2aea6be8");
	const char *uni = "\xc3\xbc"
			  "n"
			  "\xc3\xaf"
			  "code";
	sn_persons_uuid_for(1, uni, strlen(uni), u);
	assert_string_equal(u, "e24a753b-62a0-5fed-b4c5-bf63a10186c9");
}

/* ---- migrations and persistence ------------------------------------------------ */

static const char extra_sql[] = "CREATE TABLE extra_table (x INTEGER);";

static void test_migrations(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	int dbv = -1, codev = -1;
	assert_int_equal(f->applied, (int)sn_persons_sqlite_nmigrations);
	assert_int_equal(sn_persons_schema_version(f->p, &dbv, &codev), 0);
	assert_int_equal(dbv, (int)sn_persons_sqlite_nmigrations);
	assert_int_equal(codev, (int)sn_persons_sqlite_nmigrations);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM schema_migrations"),
			 (int64_t)sn_persons_sqlite_nmigrations);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name ="
					  " 'posthog_personoverride'"),
			 1);
	sn_persons_close(f->p);
	f->p = NULL;

	/* Reopening applies nothing; a newer binary adds exactly its migration. */
	int applied = -1;
	assert_int_equal(sn_persons_open(&f->p, f->dir, &applied, &err), 0);
	assert_int_equal(applied, 0);
	sn_persons_close(f->p);
	f->p = NULL;

	size_t n = sn_persons_sqlite_nmigrations;
	struct sn_sql_migration newer[16];
	assert_true(n + 1 <= SN_ARRAY_LEN(newer));
	memcpy(newer, sn_persons_sqlite_migrations, n * sizeof(newer[0]));
	newer[n] = (struct sn_sql_migration){(int)n + 1, "test: extra table", extra_sql};
	assert_int_equal(sn_persons_sqlite_open_with(&f->p, f->path, newer, n + 1, &applied, &err),
			 0);
	assert_int_equal(applied, 1);
	sn_persons_close(f->p);
	f->p = NULL;
	assert_int_equal(sql_int(f->path, "SELECT MAX(version) FROM schema_migrations"),
			 (int64_t)n + 1);

	/* This binary (n migrations) refuses the newer file, and says why. */
	assert_int_equal(sn_persons_open(&f->p, f->dir, NULL, &err), SN_ERR_INVALID);
	assert_null(f->p);
	assert_non_null(strstr(err.msg, "newer than this snout"));
	assert_int_equal(sn_persons_sqlite_open_with(&f->p, f->path, newer, n + 1, NULL, &err), 0);
}

/* A store made before cohorts (migrations 1..3) upgrades with its persons
 * intact and gains cohort members; a GDPR delete of a person removes its
 * memberships, other members stay. */
static void test_cohort_members_upgrade(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	sn_persons_close(f->p);
	f->p = NULL;
	sn_test_rm_rf(f->dir);
	assert_int_equal(mkdir(f->dir, 0755), 0);
	int applied = 0;
	assert_int_equal(sn_persons_sqlite_open_with(&f->p, f->path, sn_persons_sqlite_migrations,
						     3, &applied, &err),
			 0);
	assert_int_equal(applied, 3);
	char a[37], b[37];
	ev(f, 1, "alice", "$pageview", "{\"$set\":{\"email\":\"a@x.com\"}}", T0, a);
	ev(f, 1, "bob", "$pageview", "{}", T0 + 1, b);
	sn_persons_close(f->p);
	assert_int_equal(sn_persons_open(&f->p, f->dir, &applied, &err), 0);
	assert_int_equal(applied, (int)sn_persons_sqlite_nmigrations - 3);
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(f->p, 1, "alice", &p, &err), 0);
	assert_string_equal(p.uuid, a);
	sn_person_release(&p);
	size_t n = 0;
	const char *both[] = {a, b};
	assert_int_equal(sn_persons_cohort_replace(f->p, 1, 3, both, 2, &n, &err), 0);
	assert_int_equal(n, 2);
	const char *mail[] = {"a@x.com"};
	assert_int_equal(sn_persons_cohort_add(f->p, 1, 4, SN_COHORT_KEY_EMAIL, mail, 1, &n, &err),
			 0);
	assert_int_equal(n, 1);
	struct sn_persons_deleted d;
	assert_int_equal(sn_persons_delete(f->p, 1, a, &d, &err), 0);
	sn_persons_deleted_release(&d);
	int64_t cnt = -1;
	assert_int_equal(sn_persons_cohort_count(f->p, 1, 3, &cnt, &err), 0);
	assert_int_equal(cnt, 1);
	assert_int_equal(sn_persons_cohort_count(f->p, 1, 4, &cnt, &err), 0);
	assert_int_equal(cnt, 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM snout_cohortpeople"), 1);
}

static void test_persistence(void **state)
{
	struct fx *f = *state;
	char a[37], b[37], r[37];
	ev(f, 1, "anon", "$pageview", "{\"$set\":{\"plan\":\"free\"}}", T0, a);
	ev(f, 1, "user", "$pageview", "{}", T0 + 1, b);
	ev(f, 1, "user", "$identify", "{\"$anon_distinct_id\":\"anon\"}", T0 + 2, NULL);
	ev(f, 1, "u2", "$groupidentify",
	   "{\"$group_type\":\"company\",\"$group_key\":\"acme\",\"$group_set\":{\"n\":1}}", T0,
	   NULL);
	sn_persons_close(f->p);
	f->p = NULL;
	struct sn_err err = {0};
	assert_int_equal(sn_persons_open(&f->p, f->dir, NULL, &err), 0);

	struct sn_person p;
	person_of(f, 1, "anon", &p);
	assert_string_equal(p.uuid, b);
	assert_true(p.is_identified);
	assert_string_equal(prop(&p, "plan"), "\"free\"");
	assert_int_equal(count_distinct_ids(f, 1, p.uuid), 2);
	sn_person_release(&p);
	resolve(f, 1, a, r);
	assert_string_equal(r, b);
	int idx = -1;
	assert_int_equal(sn_persons_group_type_index(f->p, 1, "company", &idx, NULL), 0);
	assert_int_equal(idx, 0);
	struct sn_group g = {0};
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "acme", &g, NULL), 0);
	assert_int_equal(json_object_get_int(sn_json_get(g.properties, "n")), 1);
	sn_group_release(&g);
}

/* The page cache (SN_PERSONS_CACHE_KIB) keeps what ingestion read and
 * wrote; sn_persons_release_memory, called by the idle server, gives it
 * back. 3000 persons of 4 KB properties: ~12 MB of pages. */
static void test_release_memory(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	char big[4001];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	struct json_object *props = json_object_new_object();
	json_object_object_add(props, "blob", json_object_new_string(big));
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	for (int i = 0; i < 3000; i++) {
		char did[32];
		snprintf(did, sizeof(did), "fat-%d", i);
		const char *ids[] = {did};
		assert_int_equal(sn_persons_import(f->p, 1, ids, 1, props, T0, NULL, &err), 0);
	}
	assert_int_equal(sn_persons_batch_commit(f->p, 1, &err), 0);
	json_object_put(props);
	sqlite3_int64 full = sqlite3_memory_used();
	sn_persons_release_memory(f->p);
	sqlite3_int64 after = sqlite3_memory_used();
	assert_true(full - after > (sqlite3_int64)8 << 20);
	/* The store still answers (from the file). */
	struct sn_person p;
	person_of(f, 1, "fat-2999", &p);
	assert_int_equal(strncmp(prop(&p, "blob"), "\"xxxx", 5), 0);
	sn_person_release(&p);
}

/* `snout persons import` of one line: all of the person or nothing, and the
 * ingest position stays where ingestion left it. */
static void test_import_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	uint64_t lsn = 0;
	assert_int_equal(sn_persons_batch_commit(f->p, 777, &err), 0);
	const char *owner[] = {"owner", "taken"};
	assert_int_equal(sn_persons_import(f->p, 1, owner, 2, NULL, T0, NULL, &err), 0);
	struct json_object *props = json_object_new_object();
	json_object_object_add(props, "email", json_object_new_string("n@x"));
	/* "taken" belongs to an identified person: refused after "newbie" was
	 * made. */
	const char *refused[] = {"newbie", "taken"};
	assert_int_equal(sn_persons_import(f->p, 1, refused, 2, props, T0, NULL, &err),
			 SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "cannot_merge_already_identified"));
	assert_true(no_person(f, 1, "newbie"));
	const char *illegal[] = {"x1", "x2", "anonymous"};
	assert_int_equal(sn_persons_import(f->p, 1, illegal, 3, props, T0, NULL, &err),
			 SN_ERR_INVALID);
	assert_true(no_person(f, 1, "x1"));
	assert_true(no_person(f, 1, "x2"));
	const char *fine[] = {"ok1", "ok2"};
	assert_int_equal(sn_persons_import(f->p, 1, fine, 2, props, T0, NULL, &err), 0);
	struct sn_person p;
	person_of(f, 1, "ok2", &p);
	assert_string_equal(prop(&p, "email"), "\"n@x\"");
	assert_int_equal(count_distinct_ids(f, 1, p.uuid), 2);
	sn_person_release(&p);
	assert_int_equal(sn_persons_ingest_lsn(f->p, &lsn, &err), 0);
	assert_int_equal(lsn, 777);
	assert_false(sn_persons_batch_is_open(f->p));
	json_object_put(props);
}

/* ---- creation and property order (§4.3) --------------------------------------- */

static void test_create_first_sight(void **state)
{
	struct fx *f = *state;
	struct sn_identity_result res;
	assert_true(no_person(f, 1, "d1"));
	struct json_object *props =
	    run_ev(f, 1, "d1", "signed_up",
		   "{\"$set\":{\"a\":\"set\",\"b\":1},\"$set_once\":{\"a\":\"once\",\"c\":true},"
		   "\"$unset\":[\"b\"]}",
		   T0, &res);
	char want[37];
	sn_persons_uuid_for(1, "d1", 2, want);
	assert_string_equal(res.person_uuid, want);
	assert_false(res.personless);
	assert_int_equal(res.person_created_at_us, T0);
	/* The event's person properties are those after the event. */
	assert_string_equal(json_object_get_string(sn_json_get(res.person_properties, "a")), "set");
	sn_identity_result_release(&res);
	json_object_put(props);

	struct sn_person p;
	person_of(f, 1, "d1", &p);
	assert_string_equal(p.uuid, want);
	assert_string_equal(prop(&p, "a"), "\"set\""); /* $set wins over $set_once on create */
	assert_string_equal(prop(&p, "b"), "1");       /* $unset does not apply on create */
	assert_string_equal(prop(&p, "c"), "true");
	assert_non_null(strstr(prop(&p, "$creator_event_uuid"), "00000000-0000-7000-8000-"));
	assert_false(p.is_identified);
	assert_int_equal(p.created_at_us, T0);
	assert_int_equal(p.version, 0);
	sn_person_release(&p);
}

static void test_property_updates(void **state)
{
	struct fx *f = *state;
	ev(f, 1, "d", "e", "{\"$set\":{\"a\":1,\"b\":2,\"c\":3,\"n\":null}}", T0, NULL);
	/* $set_once keeps existing values (even a null), $set overwrites. */
	ev(f, 1, "d", "$pageview",
	   "{\"$set_once\":{\"a\":100,\"n\":5,\"new\":\"x\"},\"$set\":{\"b\":20}}", T0 + 1, NULL);
	struct sn_person p;
	person_of(f, 1, "d", &p);
	assert_string_equal(prop(&p, "a"), "1");
	assert_string_equal(prop(&p, "n"), "null");
	assert_string_equal(prop(&p, "new"), "\"x\"");
	assert_string_equal(prop(&p, "b"), "20");
	int64_t v1 = p.version;
	assert_true(v1 > 0);
	sn_person_release(&p);

	/* Order within one event: $set_once, then $set, then $unset. */
	ev(f, 1, "d", "e", "{\"$set_once\":{\"o\":1},\"$set\":{\"o\":2},\"$unset\":[\"c\", 7]}",
	   T0 + 2, NULL);
	person_of(f, 1, "d", &p);
	assert_string_equal(prop(&p, "o"), "2");
	assert_string_equal(prop(&p, "c"), "");
	sn_person_release(&p);
	/* $unset in object form; the removed key can be set again later. */
	ev(f, 1, "d", "e", "{\"$unset\":{\"a\":null,\"b\":\"ignored value\"}}", T0 + 3, NULL);
	person_of(f, 1, "d", &p);
	assert_string_equal(prop(&p, "a"), "");
	assert_string_equal(prop(&p, "b"), "");
	int64_t v2 = p.version;
	sn_person_release(&p);
	/* An event that changes nothing leaves the version alone. */
	ev(f, 1, "d", "e", "{\"$set\":{\"o\":2}}", T0 + 4, NULL);
	person_of(f, 1, "d", &p);
	assert_int_equal(p.version, v2);
	sn_person_release(&p);
	ev(f, 1, "d", "e", "{\"$set_once\":{\"a\":\"again\"}}", T0 + 5, NULL);
	person_of(f, 1, "d", &p);
	assert_string_equal(prop(&p, "a"), "\"again\"");
	sn_person_release(&p);
	/* $exception never updates person properties. */
	ev(f, 1, "d", "$exception", "{\"$set\":{\"o\":99}}", T0 + 6, NULL);
	person_of(f, 1, "d", &p);
	assert_string_equal(prop(&p, "o"), "2");
	sn_person_release(&p);
}

/* ---- merges (§4.2) ------------------------------------------------------------------ */

static void test_identify_anon(void **state)
{
	struct fx *f = *state;
	char anon_p[37], id_p[37];
	ev(f, 1, "anon-1", "$pageview", "{\"$set_once\":{\"first\":\"anon\"}}", T0, anon_p);
	struct sn_identity_result res;
	struct json_object *props =
	    run_ev(f, 1, "user@x.com", "$identify",
		   "{\"$anon_distinct_id\":\"anon-1\",\"$set\":{\"email\":\"user@x.com\"}}",
		   T0 + 10, &res);
	memcpy(id_p, res.person_uuid, 37);
	assert_int_equal(res.nwarnings, 0);
	sn_identity_result_release(&res);
	json_object_put(props);
	/* Only the anonymous id had a person: the new id joins it. */
	assert_string_equal(id_p, anon_p);
	struct sn_person p;
	person_of(f, 1, "user@x.com", &p);
	assert_string_equal(p.uuid, anon_p);
	assert_true(p.is_identified);
	assert_string_equal(prop(&p, "email"), "\"user@x.com\"");
	assert_string_equal(prop(&p, "first"), "\"anon\"");
	assert_int_equal(p.created_at_us, T0);
	assert_int_equal(count_distinct_ids(f, 1, p.uuid), 2);
	sn_person_release(&p);

	/* Later events of either id land on that person. */
	char again[37];
	ev(f, 1, "anon-1", "$pageview", "{}", T0 + 20, again);
	assert_string_equal(again, anon_p);

	/* Neither id known: one identified person with both ids and the
	 * event's properties. */
	ev(f, 1, "u2", "$identify", "{\"$anon_distinct_id\":\"a2\",\"$set\":{\"k\":\"v\"}}", T0,
	   id_p);
	person_of(f, 1, "a2", &p);
	assert_string_equal(p.uuid, id_p);
	char want[37];
	sn_persons_uuid_for(1, "u2", 2, want);
	assert_string_equal(p.uuid, want);
	assert_true(p.is_identified);
	assert_string_equal(prop(&p, "k"), "\"v\"");
	sn_person_release(&p);

	/* A server-side identify without $anon_distinct_id only updates. */
	ev(f, 1, "solo", "$identify", "{\"$set\":{\"x\":1}}", T0, NULL);
	person_of(f, 1, "solo", &p);
	assert_false(p.is_identified);
	sn_person_release(&p);
}

static void test_merge_two_persons(void **state)
{
	struct fx *f = *state;
	char anon_p[37], user_p[37], r[37];
	ev(f, 1, "anon", "e", "{\"$set\":{\"shared\":\"anon\",\"only_anon\":1}}", T0, anon_p);
	ev(f, 1, "user", "e", "{\"$set\":{\"shared\":\"user\",\"only_user\":2,\"k\":0}}", T0 + 5,
	   user_p);
	assert_string_not_equal(anon_p, user_p);
	ev(f, 1, "user", "$identify",
	   "{\"$anon_distinct_id\":\"anon\",\"$set\":{\"k\":\"event\"},\"$unset\":[\"only_anon\"]}",
	   T0 + 9, NULL);

	struct sn_person p;
	person_of(f, 1, "anon", &p);
	assert_string_equal(p.uuid, user_p); /* merged into `into` (distinct_id's person) */
	assert_string_equal(prop(&p, "shared"), "\"user\""); /* into wins */
	assert_string_equal(prop(&p, "only_user"), "2");
	assert_string_equal(prop(&p, "k"), "\"event\""); /* then the event's $set */
	assert_string_equal(prop(&p, "only_anon"), "");	 /* and $unset */
	assert_int_equal(p.created_at_us, T0);		 /* the earlier */
	assert_true(p.is_identified);
	assert_int_equal(count_distinct_ids(f, 1, user_p), 2);
	sn_person_release(&p);
	/* The merged-away person is gone; its events resolve to the survivor. */
	assert_int_equal(sn_persons_get(f->p, 1, anon_p, &p, NULL), SN_ERR_NOT_FOUND);
	resolve(f, 1, anon_p, r);
	assert_string_equal(r, user_p);
	resolve(f, 1, user_p, r);
	assert_string_equal(r, user_p);
}

static void test_alias_both_directions(void **state)
{
	struct fx *f = *state;
	char a[37], b[37], got[37];
	/* alias: distinct_id = into, alias = other. */
	ev(f, 1, "a", "e", "{}", T0, a);
	ev(f, 1, "b", "$create_alias", "{\"alias\":\"a\"}", T0 + 1, got);
	assert_string_equal(got, a);
	struct sn_person p;
	person_of(f, 1, "b", &p);
	assert_string_equal(p.uuid, a);
	assert_true(p.is_identified);
	sn_person_release(&p);

	/* The other direction: the aliasing id has the person. */
	ev(f, 1, "c", "e", "{}", T0, b);
	ev(f, 1, "c", "$create_alias", "{\"alias\":\"d\"}", T0 + 1, got);
	assert_string_equal(got, b);
	person_of(f, 1, "d", &p);
	assert_string_equal(p.uuid, b);
	sn_person_release(&p);

	/* Both have persons: the alias's person merges into distinct_id's. */
	char e1[37], e2[37], r[37];
	ev(f, 1, "e1", "e", "{}", T0, e1);
	ev(f, 1, "e2", "e", "{}", T0, e2);
	ev(f, 1, "e2", "$create_alias", "{\"alias\":\"e1\"}", T0 + 1, got);
	assert_string_equal(got, e2);
	resolve(f, 1, e1, r);
	assert_string_equal(r, e2);
	/* An empty or falsy alias is no alias at all. */
	struct sn_identity_result res;
	struct json_object *props =
	    run_ev(f, 1, "z", "$create_alias", "{\"alias\":\"\"}", T0, &res);
	assert_int_equal(res.nwarnings, 0);
	sn_identity_result_release(&res);
	json_object_put(props);
	person_of(f, 1, "z", &p);
	assert_false(p.is_identified);
	sn_person_release(&p);
}

static void test_identified_merge_refused(void **state)
{
	struct fx *f = *state;
	char p1[37], p2[37];
	ev(f, 1, "alice", "$identify", "{\"$anon_distinct_id\":\"anon-a\"}", T0, p1);
	ev(f, 1, "bob", "$identify", "{\"$anon_distinct_id\":\"anon-b\"}", T0, p2);
	struct sn_identity_result res;
	struct json_object *props =
	    run_ev(f, 1, "bob", "$identify",
		   "{\"$anon_distinct_id\":\"alice\",\"$set\":{\"seen\":true}}", T0 + 1, &res);
	assert_true(has_warning(&res, "cannot_merge_already_identified"));
	assert_string_equal(res.person_uuid, p2); /* attributed to `into` */
	sn_identity_result_release(&res);
	json_object_put(props);
	struct sn_person p;
	person_of(f, 1, "alice", &p);
	assert_string_equal(p.uuid, p1);
	assert_string_equal(prop(&p, "seen"), "");
	sn_person_release(&p);
	person_of(f, 1, "bob", &p);
	assert_string_equal(prop(&p, "seen"), "true"); /* into still gets the event's $set */
	sn_person_release(&p);
	assert_int_equal(count_distinct_ids(f, 1, p1), 2);
	assert_int_equal(count_distinct_ids(f, 1, p2), 2);
	/* $create_alias is refused the same way. */
	props = run_ev(f, 1, "bob", "$create_alias", "{\"alias\":\"alice\"}", T0 + 2, &res);
	assert_true(has_warning(&res, "cannot_merge_already_identified"));
	sn_identity_result_release(&res);
	json_object_put(props);

	/* An unidentified `into` merging an identified `other`: refused as
	 * well (only `other` matters), but `into` becomes identified. */
	char p3[37];
	ev(f, 1, "carol-anon", "e", "{}", T0, p3);
	props = run_ev(f, 1, "carol-anon", "$create_alias", "{\"alias\":\"alice\"}", T0 + 3, &res);
	assert_true(has_warning(&res, "cannot_merge_already_identified"));
	sn_identity_result_release(&res);
	json_object_put(props);
	person_of(f, 1, "carol-anon", &p);
	assert_string_equal(p.uuid, p3);
	assert_true(p.is_identified);
	sn_person_release(&p);
}

static void test_merge_dangerously(void **state)
{
	struct fx *f = *state;
	char p1[37], p2[37], r[37];
	ev(f, 1, "alice", "$identify", "{\"$anon_distinct_id\":\"anon-a\",\"$set\":{\"x\":1}}",
	   T0 + 5, p1);
	ev(f, 1, "bob", "$identify", "{\"$anon_distinct_id\":\"anon-b\"}", T0, p2);
	struct sn_identity_result res;
	struct json_object *props =
	    run_ev(f, 1, "bob", "$merge_dangerously", "{\"alias\":\"alice\"}", T0 + 9, &res);
	assert_int_equal(res.nwarnings, 0);
	assert_string_equal(res.person_uuid, p2);
	sn_identity_result_release(&res);
	json_object_put(props);
	struct sn_person p;
	person_of(f, 1, "anon-a", &p);
	assert_string_equal(p.uuid, p2);
	assert_string_equal(prop(&p, "x"), "1");
	assert_int_equal(p.created_at_us, T0);
	sn_person_release(&p);
	assert_int_equal(count_distinct_ids(f, 1, p2), 4);
	resolve(f, 1, p1, r);
	assert_string_equal(r, p2);
}

static void test_illegal_ids(void **state)
{
	struct fx *f = *state;
	static const char *const illegal[] = {
	    "",
	    "   ",
	    "\t\n",
	    "anonymous",
	    "Anonymous",
	    "GUEST",
	    "distinctID",
	    "distinct_id",
	    "ID",
	    "not_authenticated",
	    "Email",
	    "undefined",
	    "UNDEFINED",
	    "true",
	    "False",
	    "[object Object]",
	    "NaN",
	    "None",
	    "none",
	    "null",
	    "0",
	    "\"null\"",
	    "'null'",
	    "\"Guest\"",
	    "'anonymous'",
	    "\"0\"",
	    "'[object Object]'",
	};
	static const char *const legal[] = {
	    "NULL", "Null", "nan", "NONE", "00", "user-1", "\"null'", "\"NULL\"", " null", "idx",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(illegal); i++) {
		if (!sn_persons_distinct_id_is_illegal(illegal[i], strlen(illegal[i])))
			fail_msg("\"%s\" should be illegal", illegal[i]);
	}
	for (size_t i = 0; i < SN_ARRAY_LEN(legal); i++) {
		if (sn_persons_distinct_id_is_illegal(legal[i], strlen(legal[i])))
			fail_msg("\"%s\" should be legal", legal[i]);
	}

	/* Through ingestion: no merge, a warning, and the event is processed
	 * for its own distinct id (which is not marked identified). */
	char anon_p[37], got[37];
	ev(f, 1, "real-user", "e", "{}", T0, NULL);
	struct sn_identity_result res;
	struct json_object *props = run_ev(f, 1, "real-user", "$identify",
					   "{\"$anon_distinct_id\":\"\\\"null\\\"\"}", T0, &res);
	assert_true(has_warning(&res, "cannot_merge_with_illegal_distinct_id"));
	memcpy(got, res.person_uuid, 37);
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_true(no_person(f, 1, "\"null\""));
	struct sn_person p;
	person_of(f, 1, "real-user", &p);
	assert_string_equal(p.uuid, got);
	assert_false(p.is_identified);
	sn_person_release(&p);

	/* An illegal distinct_id merging a legal anonymous id. */
	ev(f, 1, "anon-z", "e", "{}", T0, anon_p);
	props =
	    run_ev(f, 1, "Anonymous", "$identify", "{\"$anon_distinct_id\":\"anon-z\"}", T0, &res);
	assert_true(has_warning(&res, "cannot_merge_with_illegal_distinct_id"));
	assert_string_not_equal(res.person_uuid, anon_p);
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_int_equal(count_distinct_ids(f, 1, anon_p), 1);

	/* A JSON null $anon_distinct_id is String(null) = "null": illegal. */
	props = run_ev(f, 1, "someone", "$identify", "{\"$anon_distinct_id\":null}", T0, &res);
	assert_true(has_warning(&res, "cannot_merge_with_illegal_distinct_id"));
	sn_identity_result_release(&res);
	json_object_put(props);
}

static void test_self_merge(void **state)
{
	struct fx *f = *state;
	char a[37], b[37];
	ev(f, 1, "same", "e", "{}", T0, a);
	struct sn_identity_result res;
	struct json_object *props =
	    run_ev(f, 1, "same", "$identify", "{\"$anon_distinct_id\":\"same\",\"$set\":{\"v\":1}}",
		   T0, &res);
	assert_int_equal(res.nwarnings, 0);
	memcpy(b, res.person_uuid, 37);
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_string_equal(a, b);
	struct sn_person p;
	person_of(f, 1, "same", &p);
	assert_false(p.is_identified); /* nothing was merged */
	assert_string_equal(prop(&p, "v"), "1");
	sn_person_release(&p);
	ev(f, 1, "same", "$create_alias", "{\"alias\":\"same\"}", T0, b);
	assert_string_equal(a, b);
}

struct ovr_list {
	int n;
	char old_ids[8][37], new_ids[8][37];
};

static int collect_ovr(void *ctx, const char *o, const char *n)
{
	struct ovr_list *l = ctx;
	if (l->n < 8) {
		snprintf(l->old_ids[l->n], 37, "%s", o);
		snprintf(l->new_ids[l->n], 37, "%s", n);
		l->n++;
	}
	return 0;
}

static void test_merge_chain(void **state)
{
	struct fx *f = *state;
	char a[37], b[37], c[37], d[37], r[37];
	ev(f, 1, "a", "e", "{\"$set\":{\"from\":\"a\"}}", T0 + 3, a);
	ev(f, 1, "b", "e", "{}", T0 + 2, b);
	ev(f, 1, "c", "e", "{}", T0 + 1, c);
	ev(f, 1, "d", "e", "{}", T0, d);
	/* a → b, then b → c, then c → d (alias: other = alias, into = distinct_id). */
	ev(f, 1, "b", "$create_alias", "{\"alias\":\"a\"}", T0 + 10, NULL);
	ev(f, 1, "c", "$merge_dangerously", "{\"alias\":\"b\"}", T0 + 11, NULL);
	ev(f, 1, "d", "$merge_dangerously", "{\"alias\":\"c\"}", T0 + 12, NULL);
	const char *olds[] = {a, b, c, d};
	for (int i = 0; i < 4; i++) {
		resolve(f, 1, olds[i], r);
		assert_string_equal(r, d);
	}
	/* Overrides are flat: every old id points straight at the survivor. */
	struct ovr_list l = {0};
	assert_int_equal(sn_persons_overrides(f->p, 1, collect_ovr, &l, NULL), 0);
	assert_int_equal(l.n, 3);
	for (int i = 0; i < l.n; i++)
		assert_string_equal(l.new_ids[i], d);
	struct sn_person p;
	person_of(f, 1, "a", &p);
	assert_string_equal(p.uuid, d);
	assert_string_equal(prop(&p, "from"), "\"a\"");
	assert_int_equal(count_distinct_ids(f, 1, d), 4);
	assert_int_equal(p.created_at_us, T0);
	assert_true(p.version >= 3);
	sn_person_release(&p);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_person"), 1);
}

/* ---- personless (§4.4) ---------------------------------------------------------- */

static void test_personless(void **state)
{
	struct fx *f = *state;
	struct sn_identity_result res;
	char want[37], r[37];
	sn_persons_uuid_for(1, "pl", 2, want);
	struct json_object *props =
	    run_ev(f, 1, "pl", "$pageview",
		   "{\"$process_person_profile\":false,\"$set\":{\"a\":1},\"$set_once\":{\"b\":1},"
		   "\"$unset\":[\"c\"],\"utm_source\":\"x\"}",
		   T0, &res);
	assert_true(res.personless);
	assert_false(res.dropped);
	assert_string_equal(res.person_uuid, want);
	assert_int_equal(json_object_object_length(res.person_properties), 0);
	assert_null(sn_json_get(props, "$set"));
	assert_null(sn_json_get(props, "$set_once"));
	assert_null(sn_json_get(props, "$unset"));
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_true(no_person(f, 1, "pl"));
	char again[37];
	ev(f, 1, "pl", "e", "{\"$process_person_profile\":false}", T0 + 1, again);
	assert_string_equal(again, want); /* stable */
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_person"), 0);

	/* Person events are dropped when personless. */
	const char *drops[] = {"$identify", "$create_alias", "$merge_dangerously",
			       "$groupidentify"};
	for (size_t i = 0; i < SN_ARRAY_LEN(drops); i++) {
		props = run_ev(f, 1, "pl", drops[i],
			       "{\"$process_person_profile\":false,\"$anon_distinct_id\":\"x\","
			       "\"alias\":\"x\",\"$group_type\":\"t\",\"$group_key\":\"k\"}",
			       T0, &res);
		assert_true(res.dropped);
		assert_true(
		    has_warning(&res, "invalid_event_when_process_person_profile_is_false"));
		sn_identity_result_release(&res);
		json_object_put(props);
	}
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_person"), 0);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_group"), 0);

	/* A non-boolean value warns and counts as true. */
	props = run_ev(f, 1, "strval", "e", "{\"$process_person_profile\":\"false\"}", T0, &res);
	assert_true(has_warning(&res, "invalid_process_person_profile"));
	assert_false(res.personless);
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_false(no_person(f, 1, "strval"));

	/* Identify: "user" never seen, "pl" used personless. The new person
	 * takes pl's UUIDv5, so earlier personless events need no override. */
	char user_p[37];
	ev(f, 1, "user", "$identify", "{\"$anon_distinct_id\":\"pl\"}", T0 + 5, user_p);
	assert_string_equal(user_p, want);
	resolve(f, 1, want, r);
	assert_string_equal(r, want);
	/* Personless events of a distinct id with a person get that person,
	 * without its properties. */
	ev(f, 1, "user", "$identify", "{\"$set\":{\"email\":\"e\"}}", T0 + 6, NULL);
	props = run_ev(f, 1, "pl", "e", "{\"$process_person_profile\":false}", T0 + 7, &res);
	assert_string_equal(res.person_uuid, want);
	assert_int_equal(json_object_object_length(res.person_properties), 0);
	sn_identity_result_release(&res);
	json_object_put(props);

	/* Personless id attached to an existing person: an override maps its
	 * UUIDv5 (on the earlier events) to the person. */
	char known[37], pl2[37];
	ev(f, 1, "known", "e", "{}", T0, known);
	ev(f, 1, "pl2", "e", "{\"$process_person_profile\":false}", T0, pl2);
	ev(f, 1, "known", "$identify", "{\"$anon_distinct_id\":\"pl2\"}", T0 + 1, NULL);
	resolve(f, 1, pl2, r);
	assert_string_equal(r, known);
	/* Team opt-out: personless, nothing dropped. */
	struct sn_err err = {0};
	struct json_object *o = json_object_new_object();
	struct sn_identity_event e = {.team_id = 3,
				      .distinct_id = "opt",
				      .event = "$identify",
				      .timestamp_us = T0,
				      .properties = o,
				      .person_processing_opt_out = true};
	assert_int_equal(sn_identity_process(f->p, &e, &res, &err), 0);
	assert_true(res.personless);
	assert_false(res.dropped);
	sn_identity_result_release(&res);
	json_object_put(o);
	assert_true(no_person(f, 3, "opt"));
}

/* ---- groups (§4.5) --------------------------------------------------------------- */

static void test_groups(void **state)
{
	struct fx *f = *state;
	struct sn_identity_result res;
	struct json_object *props =
	    run_ev(f, 1, "u", "e", "{\"$groups\":{\"company\":\"acme\",\"project\":42}}", T0, &res);
	assert_true(res.has_group[0]);
	assert_string_equal(res.group_key[0], "acme");
	assert_true(res.has_group[1]);
	assert_string_equal(res.group_key[1], "42");
	assert_false(res.has_group[2]);
	assert_string_equal(json_object_get_string(sn_json_get(props, "$group_0")), "acme");
	assert_string_equal(json_object_get_string(sn_json_get(props, "$group_1")), "42");
	sn_identity_result_release(&res);
	json_object_put(props);

	/* $groupidentify: created on first sight with $group_set. */
	ev(f, 1, "u", "$groupidentify",
	   "{\"$group_type\":\"company\",\"$group_key\":\"acme\","
	   "\"$group_set\":{\"name\":\"Acme\",\"size\":10}}",
	   T0 + 1, NULL);
	struct sn_group g = {0};
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "acme", &g, NULL), 0);
	assert_string_equal(json_object_get_string(sn_json_get(g.properties, "name")), "Acme");
	assert_int_equal(g.created_at_us, T0 + 1);
	sn_group_release(&g);
	/* Set semantics: overwrite and add, keep the rest, created_at stays. */
	ev(f, 1, "u", "$groupidentify",
	   "{\"$group_type\":\"company\",\"$group_key\":\"acme\",\"$group_set\":{\"size\":11,"
	   "\"plan\":\"pro\"}}",
	   T0 + 2, NULL);
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "acme", &g, NULL), 0);
	assert_string_equal(json_object_get_string(sn_json_get(g.properties, "name")), "Acme");
	assert_int_equal(json_object_get_int(sn_json_get(g.properties, "size")), 11);
	assert_string_equal(json_object_get_string(sn_json_get(g.properties, "plan")), "pro");
	assert_int_equal(g.created_at_us, T0 + 1);
	assert_int_equal(g.version, 1);
	sn_group_release(&g);
	/* $groupidentify also processes the person as usual. */
	assert_false(no_person(f, 1, "u"));

	/* A new type via $groupidentify takes the next index; the 6th type is
	 * ignored with a warning, known ones still map. */
	ev(f, 1, "u", "$groupidentify", "{\"$group_type\":\"team\",\"$group_key\":\"t1\"}", T0,
	   NULL);
	int idx = -1;
	assert_int_equal(sn_persons_group_type_index(f->p, 1, "team", &idx, NULL), 0);
	assert_int_equal(idx, 2);
	props = run_ev(f, 1, "u", "e", "{\"$groups\":{\"t3\":\"x\",\"t4\":\"y\"}}", T0, &res);
	assert_int_equal(res.nwarnings, 0);
	sn_identity_result_release(&res);
	json_object_put(props);
	props = run_ev(f, 1, "u", "e", "{\"$groups\":{\"company\":\"acme\",\"sixth\":\"z\"}}", T0,
		       &res);
	assert_true(has_warning(&res, "group_type_limit_reached"));
	assert_true(res.has_group[0]);
	for (int i = 1; i < SN_GROUP_TYPES_MAX; i++)
		assert_false(res.has_group[i]);
	assert_null(sn_json_get(props, "$group_5"));
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_int_equal(sn_persons_group_type_index(f->p, 1, "sixth", &idx, NULL),
			 SN_ERR_NOT_FOUND);
	props = run_ev(f, 1, "u", "$groupidentify",
		       "{\"$group_type\":\"sixth\",\"$group_key\":\"z\"}", T0, &res);
	assert_true(has_warning(&res, "group_type_limit_reached"));
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_grouptypemapping"), 5);

	/* Personless events get no $group_N (PostHog maps $groups only with
	 * person processing). */
	props =
	    run_ev(f, 1, "anon", "e",
		   "{\"$process_person_profile\":false,\"$groups\":{\"team\":\"t9\"}}", T0, &res);
	for (int i = 0; i < SN_GROUP_TYPES_MAX; i++)
		assert_false(res.has_group[i]);
	assert_null(sn_json_get(props, "$group_2"));
	sn_identity_result_release(&res);
	json_object_put(props);

	/* A NUL in a key becomes U+FFFD (PostHog's sanitizeString), in
	 * $groups and $group_key alike: the key is not cut there. */
	props = run_ev(f, 1, "u", "e", "{\"$groups\":{\"company\":\"nul\\u0000x\"}}", T0, &res);
	assert_true(res.has_group[0]);
	assert_string_equal(res.group_key[0], "nul\xEF\xBF\xBDx");
	sn_identity_result_release(&res);
	json_object_put(props);
	ev(f, 1, "u", "$groupidentify",
	   "{\"$group_type\":\"company\",\"$group_key\":\"nul\\u0000x\",\"$group_set\":{\"a\":1}}",
	   T0, NULL);
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "nul\xEF\xBF\xBDx", &g, NULL), 0);
	sn_group_release(&g);
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "nul", &g, NULL), SN_ERR_NOT_FOUND);
}

/* A group's created_at is the earliest event time that wrote it, as PostHog's
 * upsertGroup writes min(stored created_at, event time) with each change: a
 * late $groupidentify with an older timestamp moves it back, one that
 * changes nothing does not. */
static void test_group_created_at(void **state)
{
	struct fx *f = *state;
	struct sn_group g = {0};
#define GI "{\"$group_type\":\"company\",\"$group_key\":\"acme\",\"$group_set\":{\"plan\":\"%s\"}}"
	char props[256];
	snprintf(props, sizeof(props), GI, "free");
	ev(f, 1, "u", "$groupidentify", props, T0 + 10, NULL);
	ev(f, 1, "u", "$groupidentify", props, T0 + 5, NULL); /* no change */
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "acme", &g, NULL), 0);
	assert_int_equal(g.created_at_us, T0 + 10);
	sn_group_release(&g);
	snprintf(props, sizeof(props), GI, "pro");
	ev(f, 1, "u", "$groupidentify", props, T0 + 3, NULL);
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "acme", &g, NULL), 0);
	assert_int_equal(g.created_at_us, T0 + 3);
	assert_string_equal(json_object_get_string(sn_json_get(g.properties, "plan")), "pro");
	sn_group_release(&g);
	snprintf(props, sizeof(props), GI, "team");
	ev(f, 1, "u", "$groupidentify", props, T0 + 20, NULL); /* later: stays */
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "acme", &g, NULL), 0);
	assert_int_equal(g.created_at_us, T0 + 3);
	sn_group_release(&g);
#undef GI
}

/* ---- initial and UTM properties (§5.2) --------------------------------------------- */

static void test_initial_utm(void **state)
{
	struct fx *f = *state;
	struct sn_identity_result res;
	struct json_object *props =
	    run_ev(f, 1, "v", "$pageview",
		   "{\"utm_source\":\"news\",\"$browser\":\"Firefox\",\"gclid\":null,"
		   "\"$current_url\":\"https://a/x\",\"$set\":{\"$browser\":\"Explicit\"},"
		   "\"$os_name\":\"Plan9\",\"$set_once\":{\"$initial_current_url\":\"mine\"}}",
		   T0, &res);
	/* The caller stores the enriched $set / $set_once on the event. */
	struct json_object *set = sn_json_get(props, "$set");
	assert_string_equal(json_object_get_string(sn_json_get(set, "utm_source")), "news");
	sn_identity_result_release(&res);
	json_object_put(props);
	struct sn_person p;
	person_of(f, 1, "v", &p);
	assert_string_equal(prop(&p, "utm_source"), "\"news\"");
	assert_string_equal(prop(&p, "$initial_utm_source"), "\"news\"");
	assert_string_equal(prop(&p, "$browser"), "\"Explicit\""); /* explicit $set wins */
	assert_string_equal(prop(&p, "$initial_browser"), "\"Firefox\"");
	assert_string_equal(prop(&p, "$initial_current_url"), "\"mine\"");
	assert_string_equal(prop(&p, "gclid"), "null");		   /* $set keeps nulls */
	assert_string_equal(prop(&p, "$initial_gclid"), "");	   /* $set_once never gets one */
	assert_string_equal(prop(&p, "$initial_os"), "\"Plan9\""); /* $os_name fallback */
	assert_string_equal(prop(&p, "$os"), "\"Plan9\"");
	assert_string_equal(prop(&p, "$os_name"), "");
	sn_person_release(&p);

	/* $os_name alone stands for $os too (PostHog's normalizeOsAlias); an
	 * $os beside it wins; a server's is not lifted. */
	ev(f, 1, "m1", "$screen", "{\"$os_name\":\"Android\"}", T0, NULL);
	person_of(f, 1, "m1", &p);
	assert_string_equal(prop(&p, "$os"), "\"Android\"");
	assert_string_equal(prop(&p, "$initial_os"), "\"Android\"");
	assert_string_equal(prop(&p, "$os_name"), "");
	assert_string_equal(prop(&p, "$initial_os_name"), "");
	sn_person_release(&p);
	ev(f, 1, "m2", "$screen", "{\"$os_name\":\"Android\",\"$os\":\"iOS\"}", T0, NULL);
	person_of(f, 1, "m2", &p);
	assert_string_equal(prop(&p, "$initial_os"), "\"iOS\"");
	sn_person_release(&p);
	ev(f, 1, "m3", "$screen", "{\"$os_name\":\"Linux\",\"$is_server\":true}", T0, NULL);
	person_of(f, 1, "m3", &p);
	assert_string_equal(prop(&p, "$os"), "");
	assert_string_equal(prop(&p, "$initial_os"), "");
	sn_person_release(&p);

	/* Later touches move the latest value, not the initial one. */
	ev(f, 1, "v", "$pageview",
	   "{\"utm_source\":\"ads\",\"gclid\":\"g1\",\"$browser\":\"Chrome\"}", T0 + 1, NULL);
	person_of(f, 1, "v", &p);
	assert_string_equal(prop(&p, "utm_source"), "\"ads\"");
	assert_string_equal(prop(&p, "$initial_utm_source"), "\"news\"");
	assert_string_equal(prop(&p, "$browser"), "\"Chrome\"");
	assert_string_equal(prop(&p, "$initial_browser"), "\"Firefox\"");
	assert_string_equal(prop(&p, "$initial_gclid"), "\"g1\"");
	sn_person_release(&p);

	/* Server SDK events do not lift the host's OS onto the person. */
	ev(f, 1, "srv", "e", "{\"$is_server\":true,\"$os\":\"Linux\",\"utm_medium\":\"m\"}", T0,
	   NULL);
	person_of(f, 1, "srv", &p);
	assert_string_equal(prop(&p, "$os"), "");
	assert_string_equal(prop(&p, "$initial_os"), "");
	assert_string_equal(prop(&p, "$initial_utm_medium"), "\"m\"");
	sn_person_release(&p);
}

/* PostHog's filtered updates: on an event other than a person event, new
 * values of filtered keys the person has write nothing unless something
 * else changes; then they are written too. */
static void test_filtered_updates(void **state)
{
	struct fx *f = *state;
	struct sn_person p;
	assert_true(sn_persons_update_key_filtered("$current_url"));
	assert_true(sn_persons_update_key_filtered("$geoip_latitude"));
	assert_true(sn_persons_update_key_filtered("$viewport_width"));
	assert_false(sn_persons_update_key_filtered("$geoip_city_name"));
	assert_false(sn_persons_update_key_filtered("utm_source"));
	assert_false(sn_persons_update_key_filtered("current_url"));
	assert_int_equal(sn_persons_event_updates("$set", 4), SN_UPDATES_ALL);
	assert_int_equal(sn_persons_event_updates("$pageview", 9), SN_UPDATES_FILTERED);
	assert_int_equal(sn_persons_event_updates("$exception", 10), SN_UPDATES_NONE);

	ev(f, 1, "w", "$pageview", "{\"$current_url\":\"a\",\"$browser\":\"X\"}", T0, NULL);
	person_of(f, 1, "w", &p);
	int64_t v0 = p.version;
	sn_person_release(&p);
	ev(f, 1, "w", "$pageview", "{\"$current_url\":\"b\",\"$browser\":\"Y\"}", T0, NULL);
	ev(f, 1, "w", "$pageview", "{\"$set\":{\"$geoip_latitude\":1}}", T0, NULL); /* new */
	ev(f, 1, "w", "$pageview", "{\"$set\":{\"$geoip_latitude\":2}}", T0, NULL);
	person_of(f, 1, "w", &p);
	assert_string_equal(prop(&p, "$current_url"), "\"a\"");
	assert_string_equal(prop(&p, "$browser"), "\"X\"");
	assert_string_equal(prop(&p, "$geoip_latitude"), "1");
	assert_int_equal(p.version, v0 + 1);
	sn_person_release(&p);

	/* Any other change carries the filtered values with it. */
	ev(f, 1, "w", "$pageview",
	   "{\"$current_url\":\"c\",\"$set\":{\"$geoip_latitude\":3,\"$geoip_city_name\":\"Z\"}}",
	   T0, NULL);
	person_of(f, 1, "w", &p);
	assert_string_equal(prop(&p, "$current_url"), "\"c\"");
	assert_string_equal(prop(&p, "$geoip_latitude"), "3");
	assert_string_equal(prop(&p, "$geoip_city_name"), "\"Z\"");
	sn_person_release(&p);

	/* Person events write everything; $exception nothing. */
	ev(f, 1, "w", "$set", "{\"$current_url\":\"d\"}", T0, NULL);
	ev(f, 1, "w", "$exception", "{\"utm_source\":\"u\",\"$set\":{\"k\":1}}", T0, NULL);
	person_of(f, 1, "w", &p);
	assert_string_equal(prop(&p, "$current_url"), "\"d\"");
	assert_string_equal(prop(&p, "utm_source"), "");
	assert_string_equal(prop(&p, "k"), "");
	sn_person_release(&p);
}

/* ---- tenancy, arguments, concurrency ----------------------------------------------- */

static void test_team_isolation(void **state)
{
	struct fx *f = *state;
	char t1[37], t2[37], r[37];
	ev(f, 1, "same-id", "e", "{\"$set\":{\"team\":1}}", T0, t1);
	ev(f, 2, "same-id", "e", "{\"$set\":{\"team\":2}}", T0, t2);
	assert_string_not_equal(t1, t2);
	struct sn_person p;
	person_of(f, 2, "same-id", &p);
	assert_string_equal(prop(&p, "team"), "2");
	sn_person_release(&p);
	/* A person id is not visible from another team. */
	assert_int_equal(sn_persons_get(f->p, 2, t1, &p, NULL), SN_ERR_NOT_FOUND);

	/* A merge in team 1 leaves team 2 alone. */
	ev(f, 2, "other", "e", "{}", T0, NULL);
	ev(f, 1, "other", "$identify", "{\"$anon_distinct_id\":\"same-id\"}", T0 + 1, NULL);
	person_of(f, 2, "same-id", &p);
	assert_string_equal(p.uuid, t2);
	assert_false(p.is_identified);
	sn_person_release(&p);
	resolve(f, 2, t2, r);
	assert_string_equal(r, t2);
	/* Group types are numbered per team. */
	ev(f, 1, "g", "e", "{\"$groups\":{\"a\":\"1\",\"b\":\"1\"}}", T0, NULL);
	ev(f, 2, "g", "e", "{\"$groups\":{\"b\":\"1\"}}", T0, NULL);
	int idx = -1;
	assert_int_equal(sn_persons_group_type_index(f->p, 2, "b", &idx, NULL), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(sn_persons_group_type_index(f->p, 2, "a", &idx, NULL), SN_ERR_NOT_FOUND);
}

static void test_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct sn_identity_result res;
	struct sn_err err = {0};
	struct json_object *o = json_object_new_object();
	struct sn_identity_event e = {
	    .team_id = 1, .distinct_id = "", .event = "e", .timestamp_us = T0, .properties = o};
	assert_int_equal(sn_identity_process(f->p, &e, &res, &err), SN_ERR_INVALID);
	sn_identity_result_release(&res);
	e.distinct_id = "x";
	e.team_id = 0;
	assert_int_equal(sn_identity_process(f->p, &e, &res, &err), SN_ERR_INVALID);
	sn_identity_result_release(&res);
	e.team_id = 1;
	struct json_object *arr = json_object_new_array();
	e.properties = arr;
	assert_int_equal(sn_identity_process(f->p, &e, &res, &err), SN_ERR_INVALID);
	sn_identity_result_release(&res);
	json_object_put(arr);
	json_object_put(o);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_person"), 0);
}

struct worker {
	struct fx *f;
	int seed;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 150; i++) {
		char did[32];
		snprintf(did, sizeof(did), "c-%d", (i * 7 + w->seed) % 20);
		struct json_object *props = json_object_new_object();
		json_object_object_add(props, "$set", json_object_new_object());
		struct sn_identity_event e = {.team_id = 1,
					      .distinct_id = did,
					      .event = "e",
					      .timestamp_us = T0 + i,
					      .properties = props};
		struct sn_identity_result res;
		if (sn_identity_process(w->f->p, &e, &res, NULL) != 0)
			abort();
		sn_identity_result_release(&res);
		json_object_put(props);
	}
	return NULL;
}

static void test_concurrent_first_sight(void **state)
{
	struct fx *f = *state;
	pthread_t t[3];
	struct worker w[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct worker){f, i};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_person"), 20);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_persondistinctid"), 20);
}

/* ---- ingest batches, listing, deferred $set ---------------------------------------------- */

static int count_cb(void *ctx, const struct sn_person *p)
{
	(void)p;
	(*(int *)ctx)++;
	return 0;
}

static int uuid_cb(void *ctx, const struct sn_person *p)
{
	memcpy(ctx, p->uuid, 37);
	return 0;
}

/* A person write past SN_PERSON_PROPS_MAX is refused alone, as PostHog's
 * person store does (person_properties_size_violation): the event keeps its
 * person, a merge in it still happens, a new person is created without the
 * properties; a group past the limit keeps its old properties. */
static void test_size_limit(void **state)
{
	struct fx *f = *state;
	size_t big = SN_PERSON_PROPS_MAX + 16;
	struct sn_buf body;
	sn_buf_init(&body, 4u << 20);
	char *huge = malloc(big + 1);
	assert_non_null(huge);
	memset(huge, 'x', big);
	huge[big] = 0;
	char a[37], got[37];
	ev(f, 1, "sz-a", "pv", "{\"$set\":{\"email\":\"a@x\"}}", T0, a);

	/* an existing person */
	sn_buf_appendf(&body, "{\"$set\":{\"blob\":\"%s\",\"small\":1},\"$browser\":\"B\"}", huge);
	struct sn_identity_result res;
	struct json_object *props = run_ev(f, 1, "sz-a", "pv", body.data, T0 + 1, &res);
	assert_string_equal(res.person_uuid, a);
	assert_true(has_warning(&res, "person_properties_size_violation"));
	assert_false(res.personless);
	sn_identity_result_release(&res);
	json_object_put(props);
	struct sn_person p;
	person_of(f, 1, "sz-a", &p);
	assert_string_equal(prop(&p, "email"), "\"a@x\"");
	assert_string_equal(prop(&p, "small"), ""); /* the whole update is refused */
	assert_string_equal(prop(&p, "$browser"), "");
	sn_person_release(&p);

	/* a new person: created, without the event's properties */
	props = run_ev(f, 1, "sz-new", "pv", body.data, T0 + 2, &res);
	assert_true(has_warning(&res, "person_properties_size_violation"));
	memcpy(got, res.person_uuid, 37);
	sn_identity_result_release(&res);
	json_object_put(props);
	person_of(f, 1, "sz-new", &p);
	assert_string_equal(p.uuid, got);
	assert_string_equal(prop(&p, "small"), "");
	sn_person_release(&p);

	/* a merge with an oversized $set: merged, the values refused, and a
	 * warning of the attempt before it is not repeated */
	sn_buf_reset(&body);
	sn_buf_appendf(&body,
		       "{\"$anon_distinct_id\":\"sz-anon\",\"$process_person_profile\":\"yes\","
		       "\"$set\":{\"blob\":\"%s\"}}",
		       huge);
	ev(f, 1, "sz-anon", "pv", "{}", T0, NULL);
	props = run_ev(f, 1, "sz-user", "$identify", body.data, T0 + 3, &res);
	assert_true(has_warning(&res, "person_properties_size_violation"));
	unsigned nppp = 0;
	for (unsigned i = 0; i < res.nwarnings; i++)
		nppp += !strcmp(res.warnings[i].type, "invalid_process_person_profile");
	assert_int_equal(nppp, 1);
	memcpy(got, res.person_uuid, 37);
	sn_identity_result_release(&res);
	json_object_put(props);
	person_of(f, 1, "sz-anon", &p);
	assert_string_equal(p.uuid, got);
	assert_true(p.is_identified);
	assert_string_equal(prop(&p, "blob"), "");
	sn_person_release(&p);
	person_of(f, 1, "sz-user", &p);
	assert_string_equal(p.uuid, got);
	sn_person_release(&p);

	/* a group */
	ev(f, 1, "sz-a", "$groupidentify",
	   "{\"$group_type\":\"org\",\"$group_key\":\"o1\",\"$group_set\":{\"n\":1}}", T0, NULL);
	sn_buf_reset(&body);
	sn_buf_appendf(&body,
		       "{\"$group_type\":\"org\",\"$group_key\":\"o1\",\"$group_set\":{\"blob\":"
		       "\"%s\"}}",
		       huge);
	props = run_ev(f, 1, "sz-a", "$groupidentify", body.data, T0 + 4, &res);
	assert_true(has_warning(&res, "group_properties_size_violation"));
	assert_string_equal(res.person_uuid, a);
	sn_identity_result_release(&res);
	json_object_put(props);
	struct sn_group g = {0};
	struct sn_err err = {0};
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "o1", &g, &err), 0);
	assert_int_equal(json_object_object_length(g.properties), 1);
	sn_group_release(&g);
	free(huge);
	sn_buf_release(&body);
}

static void test_batches_and_listing(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	uint64_t lsn = 99;
	assert_int_equal(sn_persons_ingest_lsn(f->p, &lsn, &err), 0);
	assert_int_equal(lsn, 0);

	/* A rolled-back batch keeps nothing; events inside it stay atomic. */
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	assert_true(sn_persons_batch_is_open(f->p));
	ev(f, 1, "gone", "pv", "{}", T0, NULL);
	sn_persons_batch_rollback(f->p);
	assert_false(sn_persons_batch_is_open(f->p));
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(f->p, 1, "gone", &p, &err),
			 SN_ERR_NOT_FOUND);

	/* A committed batch keeps its events and its WAL position. */
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	char a[37], b[37];
	ev(f, 1, "a@x", "pv", "{\"$set\":{\"email\":\"alice@example.com\",\"plan\":\"pro\"}}", T0,
	   a);
	ev(f, 1, "b@x", "pv", "{\"$set\":{\"email\":\"bob@example.com\",\"n\":3}}", T0 + 1, b);
	ev(f, 2, "a@x", "pv", "{\"$set\":{\"email\":\"alice@example.com\"}}", T0, NULL);
	assert_int_equal(sn_persons_batch_commit(f->p, 1234, &err), 0);
	assert_int_equal(sn_persons_ingest_lsn(f->p, &lsn, &err), 0);
	assert_int_equal(lsn, 1234);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM posthog_person WHERE team_id = 1"),
			 2);

	/* Listing: team-scoped, newest first, filters. */
	int n = 0;
	struct sn_persons_filter all = {.limit = 10};
	assert_int_equal(sn_persons_list(f->p, 1, &all, count_cb, &n, &err), 0);
	assert_int_equal(n, 2);
	char got[37] = "";
	struct sn_persons_filter first = {.limit = 1};
	assert_int_equal(sn_persons_list(f->p, 1, &first, uuid_cb, got, &err), 0);
	assert_string_equal(got, b); /* created later */
	struct sn_persons_filter by_did = {.distinct_id = "a@x", .limit = 10};
	assert_int_equal(sn_persons_list(f->p, 1, &by_did, uuid_cb, got, &err), 0);
	assert_string_equal(got, a);
	struct sn_persons_filter search = {.search = "BOB@", .limit = 10};
	n = 0;
	assert_int_equal(sn_persons_list(f->p, 1, &search, count_cb, &n, &err), 0);
	assert_int_equal(n, 1);
	struct sn_persons_filter pct = {.search = "%", .limit = 10};
	n = 0;
	assert_int_equal(sn_persons_list(f->p, 1, &pct, count_cb, &n, &err), 0);
	assert_int_equal(n, 0); /* '%' is literal */
	/* PostHog's search: the email, an exact distinct id or the person's id;
	 * not other properties, key names or a part of a distinct id. */
	const char *hits[][2] = {{"a@x", a}, {"ALICE", a}, {b, b}};
	for (size_t i = 0; i < SN_ARRAY_LEN(hits); i++) {
		struct sn_persons_filter q = {.search = hits[i][0], .limit = 10};
		n = 0;
		assert_int_equal(sn_persons_list(f->p, 1, &q, count_cb, &n, &err), 0);
		assert_int_equal(n, 1);
		assert_int_equal(sn_persons_list(f->p, 1, &q, uuid_cb, got, &err), 0);
		assert_string_equal(got, hits[i][1]);
	}
	char upper[37];
	for (size_t i = 0; i < 37; i++)
		upper[i] = (char)toupper((unsigned char)a[i]);
	struct sn_persons_filter by_upper = {.search = upper, .limit = 10};
	assert_int_equal(sn_persons_list(f->p, 1, &by_upper, uuid_cb, got, &err), 0);
	assert_string_equal(got, a);
	const char *misses[] = {"pro", "plan", "\"email\"", "@x", "_", "a@"};
	for (size_t i = 0; i < SN_ARRAY_LEN(misses); i++) {
		struct sn_persons_filter q = {.search = misses[i], .limit = 10};
		n = 0;
		assert_int_equal(sn_persons_list(f->p, 1, &q, count_cb, &n, &err), 0);
		assert_int_equal(n, 0);
	}
	const char *pro[] = {"pro"};
	struct sn_persons_prop_filter pf[] = {{"plan", pro, 1, SN_PPF_EXACT},
					      {"n", NULL, 0, SN_PPF_IS_NOT_SET}};
	struct sn_persons_filter props = {.props = pf, .nprops = 2, .limit = 10};
	assert_int_equal(sn_persons_list(f->p, 1, &props, uuid_cb, got, &err), 0);
	assert_string_equal(got, a);
	const char *three[] = {"3"};
	struct sn_persons_prop_filter num[] = {{"n", three, 1, SN_PPF_EXACT}};
	struct sn_persons_filter numf = {.props = num, .nprops = 1, .limit = 10};
	assert_int_equal(sn_persons_list(f->p, 1, &numf, uuid_cb, got, &err), 0);
	assert_string_equal(got, b);
	/* A list of values is any of them: IN, NOT IN, one of the substrings;
	 * an empty list filters nothing. */
	const char *emails[] = {"carol@example.com", "bob@example.com", "alice@example.com"};
	const char *parts[] = {"zzz", "BOB"};
	struct {
		enum sn_persons_prop_op op;
		const char *const *v;
		size_t nv;
		int want;
	} lists[] = {{SN_PPF_EXACT, emails, 3, 2},     {SN_PPF_EXACT, emails, 2, 1},
		     {SN_PPF_EXACT, emails + 1, 1, 1}, {SN_PPF_IS_NOT, emails, 3, 0},
		     {SN_PPF_IS_NOT, emails, 2, 1},    {SN_PPF_ICONTAINS, parts, 2, 1},
		     {SN_PPF_ICONTAINS, parts, 1, 0},  {SN_PPF_EXACT, emails, 0, 2},
		     {SN_PPF_IS_NOT, emails, 0, 2}};
	for (size_t i = 0; i < SN_ARRAY_LEN(lists); i++) {
		struct sn_persons_prop_filter lf = {"email", lists[i].v, lists[i].nv, lists[i].op};
		struct sn_persons_filter q = {.props = &lf, .nprops = 1, .limit = 10};
		n = 0;
		assert_int_equal(sn_persons_list(f->p, 1, &q, count_cb, &n, &err), 0);
		assert_int_equal(n, lists[i].want);
	}
	struct sn_persons_filter by_is_not = {
	    .props = &(struct sn_persons_prop_filter){"email", emails, 2, SN_PPF_IS_NOT},
	    .nprops = 1,
	    .limit = 10};
	assert_int_equal(sn_persons_list(f->p, 1, &by_is_not, uuid_cb, got, &err), 0);
	assert_string_equal(got, a);
	struct sn_persons_prop_filter toomany = {"email", emails, SN_PERSONS_FILTER_VALUES_MAX + 1,
						 SN_PPF_EXACT};
	struct sn_persons_filter q_many = {.props = &toomany, .nprops = 1, .limit = 10};
	assert_int_equal(sn_persons_list(f->p, 1, &q_many, count_cb, &n, &err), SN_ERR_INVALID);
	struct sn_persons_filter page2 = {.limit = 10, .offset = 2};
	n = 0;
	assert_int_equal(sn_persons_list(f->p, 1, &page2, count_cb, &n, &err), 0);
	assert_int_equal(n, 0);
	struct sn_persons_filter bad = {.limit = SN_PERSONS_LIST_MAX + 1};
	assert_int_equal(sn_persons_list(f->p, 1, &bad, count_cb, &n, &err), SN_ERR_INVALID);

	/* A deferred $set: applied, versioned, a missing person is no error. */
	struct json_object *set = NULL;
	assert_int_equal(sn_json_parse("{\"$pathname\":\"/x\"}", 18, &set, &err), 0);
	bool found = false;
	assert_int_equal(sn_persons_get(f->p, 1, a, &p, &err), 0);
	int64_t v0 = p.version;
	sn_person_release(&p);
	assert_int_equal(sn_identity_apply_set(f->p, 1, a, set, &found, &err), 0);
	assert_true(found);
	assert_int_equal(sn_identity_apply_set(f->p, 1, a, set, &found, &err), 0); /* no change */
	assert_int_equal(sn_persons_get(f->p, 1, a, &p, &err), 0);
	assert_int_equal(p.version, v0 + 1);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$pathname"), NULL), "/x");
	sn_person_release(&p);
	assert_int_equal(sn_identity_apply_set(f->p, 1, "00000000-0000-0000-0000-000000000000", set,
					       &found, &err),
			 0);
	assert_false(found);
	json_object_put(set);

	/* The same through SQLite's json_set: values as JSON text. */
	const char *keys[] = {"$pathname", "$browser", "odd key"};
	const char *vals[] = {"\"/y\"", "null", "{\"a\":[1,2]}"};
	assert_int_equal(sn_persons_set_values(f->p, 1, a, keys, vals, 3, false, &found, &err), 0);
	assert_true(found);
	const char *badv[] = {"\"/z\"", "not json", "1"};
	assert_int_equal(sn_persons_set_values(f->p, 1, a, keys, badv, 3, false, &found, &err),
			 SN_ERR_INVALID);
	assert_int_equal(sn_persons_get(f->p, 1, a, &p, &err), 0);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$pathname"), NULL), "/y");
	assert_true(json_object_object_get_ex(p.properties, "$browser", NULL));
	assert_null(sn_json_get(p.properties, "$browser"));
	assert_int_equal(
	    json_object_array_length(sn_json_get(sn_json_get(p.properties, "odd key"), "a")), 2);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "email"), NULL),
			    "alice@example.com"); /* the rest is kept */
	assert_int_equal(p.version, v0 + 2);
	sn_person_release(&p);
	const char *quote[] = {"a\"b"};
	assert_int_equal(sn_persons_set_values(f->p, 1, a, quote, vals, 1, false, &found, &err),
			 SN_ERR_INVALID);

	/* With identify (a fast-path merge's is_identified, deferred with the
	 * values): in the same UPDATE, one version; alone; nothing to do
	 * writes nothing. */
	assert_int_equal(sn_persons_get(f->p, 1, b, &p, &err), 0);
	assert_false(p.is_identified);
	int64_t vb = p.version;
	sn_person_release(&p);
	assert_int_equal(sn_persons_set_values(f->p, 1, b, keys, vals, 1, true, &found, &err), 0);
	assert_true(found);
	assert_int_equal(sn_persons_get(f->p, 1, b, &p, &err), 0);
	assert_true(p.is_identified);
	assert_int_equal(p.version, vb + 1);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$pathname"), NULL), "/y");
	sn_person_release(&p);
	assert_int_equal(sn_persons_set_values(f->p, 1, b, NULL, NULL, 0, false, &found, &err), 0);
	assert_false(found);
	assert_int_equal(sn_persons_set_values(f->p, 1, a, NULL, NULL, 0, true, &found, &err), 0);
	assert_true(found);
	assert_int_equal(sn_persons_get(f->p, 1, a, &p, &err), 0);
	assert_true(p.is_identified);
	assert_int_equal(p.version, v0 + 3);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$pathname"), NULL), "/y");
	sn_person_release(&p);
	assert_int_equal(sn_persons_get(f->p, 1, b, &p, &err), 0);
	assert_int_equal(p.version, vb + 1);
	sn_person_release(&p);
}

/* ---- feature flags: group types and hash-key overrides (flagkeys.c) ----------- */

static int list_type(void *ctx, int index, const char *group_type)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s%d=%s", n ? "," : "", index, group_type);
	return 0;
}

static int list_key(void *ctx, const char *flag_key, const char *hash_key)
{
	/* later calls win, as a map insert would */
	struct json_object *m = ctx;
	json_object_object_add(m, flag_key, json_object_new_string(hash_key));
	return 0;
}

static const char *hk(struct fx *f, int64_t team, const char *a, const char *b, const char *key)
{
	static char out[128];
	struct json_object *m = json_object_new_object();
	const char *ids[2] = {a, b};
	struct sn_err err = {0};
	assert_int_equal(sn_persons_hash_keys_get(f->p, team, ids, b ? 2 : 1, list_key, m, &err),
			 0);
	snprintf(out, sizeof(out), "%s", sn_json_str(sn_json_get(m, key), NULL) ?: "-");
	json_object_put(m);
	return out;
}

/* Every row of the person tables, as text, read on the store's own
 * connection (so an open batch's changes show). */
static void dump_tables(struct fx *f, struct sn_buf *out)
{
	static const char *const q[] = {
	    "SELECT team_id, uuid, properties, is_identified, created_at, version, id"
	    " FROM posthog_person ORDER BY team_id, uuid",
	    "SELECT team_id, distinct_id, person_uuid, version, is_deleted, id"
	    " FROM posthog_persondistinctid ORDER BY team_id, distinct_id",
	    "SELECT team_id, old_person_id, override_person_id, version"
	    " FROM posthog_personoverride ORDER BY team_id, old_person_id",
	    "SELECT team_id, distinct_id, is_merged FROM posthog_personlessdistinctid"
	    " ORDER BY team_id, distinct_id",
	    "SELECT team_id, group_type, group_type_index FROM posthog_grouptypemapping"
	    " ORDER BY team_id, group_type",
	    "SELECT team_id, group_type_index, group_key, group_properties, version"
	    " FROM posthog_group ORDER BY team_id, group_type_index, group_key",
	};
	sn_buf_reset(out);
	sn_pstore_lock(f->p);
	for (size_t i = 0; i < SN_ARRAY_LEN(q); i++) {
		sqlite3_stmt *s;
		assert_int_equal(sqlite3_prepare_v2(sn_pstore_db(f->p), q[i], -1, &s, NULL),
				 SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(s); c++) {
				const char *t = (const char *)sqlite3_column_text(s, c);
				assert_int_equal(sn_buf_appendf(out, "%s|", t ? t : "NULL"), 0);
			}
			assert_int_equal(sn_buf_appendc(out, '\n'), 0);
		}
		sqlite3_finalize(s);
		assert_int_equal(sn_buf_appends(out, "--\n"), 0);
	}
	sn_pstore_unlock(f->p);
}

/* An event inside a batch is all or nothing however it fails: each event
 * below is run with a failure injected at its first write, then its
 * second, ... until it runs through; after each failure every table is
 * as before the event. The events reach every kind of write: the ones
 * undone from the in-memory log (new person and distinct id, person
 * update, personless id marked merged), the ones under the savepoint a
 * lazy event opens (merge, overrides, groups, personless notes), and
 * events with both. */
static void test_event_atomic_in_batch(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	static const struct {
		const char *did, *event, *props;
	} evs[] = {
	    {"anon1", "pv", "{\"$set\":{\"a\":1},\"$browser\":\"Chrome\"}"},
	    {"anon1", "pv", "{\"$set\":{\"a\":2}}"},
	    {"u1", "$identify", "{\"$anon_distinct_id\":\"anon2\",\"$set\":{\"email\":\"u1@x\"}}"},
	    {"u1", "$identify", "{\"$anon_distinct_id\":\"anon1\",\"$set\":{\"b\":1}}"},
	    {"pl", "pv", "{\"$process_person_profile\":false}"},
	    {"u1", "$create_alias", "{\"alias\":\"pl\",\"$set\":{\"c\":1}}"},
	    {"u2", "$groupidentify",
	     "{\"$group_type\":\"company\",\"$group_key\":\"acme\",\"$group_set\":{\"n\":1}}"},
	    {"u2", "pv",
	     "{\"$groups\":{\"company\":\"acme\",\"project\":\"p1\"},\"$set\":{\"d\":1}}"},
	    {"u3", "$identify", "{\"$anon_distinct_id\":\"u2\"}"},
	    {"u3", "$merge_dangerously", "{\"alias\":\"u1\",\"$set\":{\"e\":1}}"},
	    {"u3", "$identify", "{\"$anon_distinct_id\":\"dangling\",\"$set\":{\"f\":1}}"},
	};
	struct sn_buf before, after;
	sn_buf_init(&before, 1 << 20);
	sn_buf_init(&after, 1 << 20);
	/* A distinct id row whose person is gone (an import or a restore can
	 * leave one): a merge takes it over, an update of the row followed by
	 * the person's update. */
	assert_int_equal(sqlite3_exec(sn_pstore_db(f->p),
				      "INSERT INTO posthog_persondistinctid (team_id, distinct_id,"
				      " person_uuid, version) VALUES (1, 'dangling',"
				      " '00000000-0000-0000-0000-000000000000', 3)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	int failures = 0;
	for (size_t i = 0; i < SN_ARRAY_LEN(evs); i++) {
		for (int k = 1;; k++) {
			dump_tables(f, &before);
			struct json_object *props = NULL;
			assert_int_equal(
			    sn_json_parse(evs[i].props, strlen(evs[i].props), &props, &err), 0);
			struct sn_identity_event e = {.team_id = 1,
						      .distinct_id = evs[i].did,
						      .event = evs[i].event,
						      .uuid =
							  "00000000-0000-7000-8000-000000000001",
						      .timestamp_us = T0 + (int64_t)i,
						      .properties = props};
			struct sn_identity_result res;
			sn_pstore_fail_write(f->p, k, false);
			int rc = sn_identity_process(f->p, &e, &res, &err);
			sn_pstore_fail_write(f->p, 0, false);
			sn_identity_result_release(&res);
			json_object_put(props);
			if (rc == 0)
				break;
			assert_int_equal(rc, SN_ERR_IO);
			failures++;
			dump_tables(f, &after);
			if (strcmp(before.data, after.data) != 0)
				fail_msg("event %zu (%s), failure at write %d left:\n%s\nwas:\n%s",
					 i, evs[i].event, k, after.data, before.data);
			assert_true(k < 50);
		}
	}
	assert_true(failures >= 20); /* the events write that often */
	assert_int_equal(sn_persons_batch_commit(f->p, 7, &err), 0);

	/* The end state is what the events make without failures. */
	struct sn_person u = {0};
	person_of(f, 1, "u3", &u);
	assert_int_equal(count_distinct_ids(f, 1, u.uuid),
			 7); /* u3 u2 u1 anon1 anon2 pl dangling */
	assert_string_equal(prop(&u, "e"), "1");
	assert_string_equal(prop(&u, "a"), "2");
	assert_string_equal(prop(&u, "email"), "\"u1@x\"");
	sn_person_release(&u);
	struct sn_group g = {0};
	assert_int_equal(sn_persons_group_get(f->p, 1, 0, "acme", &g, &err), 0);
	sn_group_release(&g);
	sn_buf_release(&before);
	sn_buf_release(&after);
}

/* The first event of a distinct id on its own (sn_identity_create_unseen):
 * all or nothing at every write, the person the rules would write, and
 * nothing written where the rules must do the event. */
static void test_create_unseen(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	char uuid[37], v5[37];
	struct sn_buf before, after;
	sn_buf_init(&before, 1 << 20);
	sn_buf_init(&after, 1 << 20);
	const char *values[25] = {0};
	size_t lens[25] = {0};
	values[4] = "\"Chrome\""; /* $browser */
	lens[4] = 8;
	values[12] = "null"; /* $referrer: no $initial_referrer */
	lens[12] = 4;
	const char *eu = "0193dc33-e981-7160-b398-000000000001";
	/* A place's members, as enrichment hands them over: first in each */
	struct sn_identity_members geo = {
	    .set_once = "\"$initial_geoip_city_name\":\"Paris\"",
	    .set = "\"$geoip_city_name\":\"Paris\",\"$geoip_latitude\":null"};
	geo.set_once_len = strlen(geo.set_once);
	geo.set_len = strlen(geo.set);
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	bool created = false;
	int failures = 0;
	for (int k = 1;; k++) {
		dump_tables(f, &before);
		sn_pstore_fail_write(f->p, k, false);
		int rc = sn_identity_create_unseen(f->p, 1, "n1", eu, T0, &geo, values, lens, uuid,
						   &created, &err);
		sn_pstore_fail_write(f->p, 0, false);
		if (rc == 0)
			break;
		assert_int_equal(rc, SN_ERR_IO);
		assert_false(created);
		failures++;
		dump_tables(f, &after);
		if (strcmp(before.data, after.data) != 0)
			fail_msg("failure at write %d left:\n%s\nwas:\n%s", k, after.data,
				 before.data);
		assert_true(k < 20);
	}
	assert_true(created);
	assert_true(failures >= 2); /* the person, its distinct id */
	sn_persons_uuid_for(1, "n1", 2, v5);
	assert_string_equal(uuid, v5);
	struct sn_person u = {0};
	person_of(f, 1, "n1", &u);
	assert_false(u.is_identified);
	assert_int_equal(u.version, 0);
	assert_int_equal(u.created_at_us, T0);
	struct sn_buf text;
	sn_buf_init(&text, 1 << 20);
	assert_int_equal(sn_props_serialise(u.properties, &text), 0);
	assert_string_equal(
	    text.data, "{\"$initial_geoip_city_name\":\"Paris\",\"$initial_browser\":\"Chrome\","
		       "\"$geoip_city_name\":\"Paris\",\"$geoip_latitude\":null,"
		       "\"$browser\":\"Chrome\",\"$referrer\":null,\"$creator_event_uuid\":"
		       "\"0193dc33-e981-7160-b398-000000000001\"}");
	sn_person_release(&u);

	/* The rules' cases: an id with a person, an event uuid that is not
	 * plain, properties past the limit. Nothing is written. */
	size_t big = SN_PERSON_PROPS_MAX;
	char *huge = malloc(big);
	assert_non_null(huge);
	memset(huge, 'a', big);
	huge[0] = huge[big - 1] = '"';
	dump_tables(f, &before);
	assert_int_equal(sn_identity_create_unseen(f->p, 1, "n1", eu, T0, NULL, values, lens, uuid,
						   &created, &err),
			 0);
	assert_false(created);
	assert_int_equal(sn_identity_create_unseen(f->p, 1, "n2", "0193\"x", T0, NULL, values, lens,
						   uuid, &created, &err),
			 0);
	assert_false(created);
	values[7] = huge; /* $current_url */
	lens[7] = big;
	assert_int_equal(sn_identity_create_unseen(f->p, 1, "n2", eu, T0, NULL, values, lens, uuid,
						   &created, &err),
			 0);
	assert_false(created);
	values[7] = NULL;
	dump_tables(f, &after);
	assert_string_equal(before.data, after.data);
	free(huge);

	/* The UUIDv5 taken (a person without that distinct id): a UUIDv7. */
	struct sn_person taken = {.team_id = 1, .created_at_us = T0};
	sn_persons_uuid_for(1, "n3", 2, taken.uuid);
	taken.properties = json_object_new_object();
	sn_pstore_lock(f->p);
	assert_int_equal(sn_pstore_begin_event(f->p, &err), 0);
	assert_int_equal(sn_pstore_person_insert(f->p, &taken, &err), 0);
	assert_int_equal(sn_pstore_commit(f->p, &err), 0);
	sn_pstore_unlock(f->p);
	assert_int_equal(sn_identity_create_unseen(f->p, 1, "n3", eu, T0, NULL, values, lens, uuid,
						   &created, &err),
			 0);
	assert_true(created);
	assert_string_not_equal(uuid, taken.uuid);
	assert_int_equal(uuid[14], '7');
	sn_person_release(&taken);
	person_of(f, 1, "n3", &u);
	assert_string_equal(u.uuid, uuid);
	sn_person_release(&u);
	assert_int_equal(sn_persons_batch_commit(f->p, 5, &err), 0);
	sn_buf_release(&text);
	sn_buf_release(&before);
	sn_buf_release(&after);
}

/* The fast path's merge step (sn_identity_attach_unseen) fails at each of
 * its writes without leaving anything behind; it attaches, and leaves the
 * is_identified mark to its caller (the ingest defers it with the
 * person's values: sn_persons_set_values with identify). */
static void test_attach_unseen_steps(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	char uuid[37];
	struct sn_buf before, after;
	sn_buf_init(&before, 1 << 20);
	sn_buf_init(&after, 1 << 20);
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	ev(f, 1, "anon", "pv", "{}", T0, uuid);
	ev(f, 1, "pl", "pv", "{\"$process_person_profile\":false}", T0, NULL);
	struct sn_person u = {0};
	person_of(f, 1, "anon", &u);
	assert_false(u.is_identified);
	int64_t version = u.version;
	sn_person_release(&u);
	bool attached = false;
	int failures = 0;
	for (int k = 1;; k++) {
		dump_tables(f, &before);
		sn_pstore_fail_write(f->p, k, false);
		int rc = sn_identity_attach_unseen(f->p, 1, "pl", "anon", uuid, &attached, &err);
		sn_pstore_fail_write(f->p, 0, false);
		if (rc == 0)
			break;
		assert_int_equal(rc, SN_ERR_IO);
		assert_false(attached);
		failures++;
		dump_tables(f, &after);
		if (strcmp(before.data, after.data) != 0)
			fail_msg("failure at write %d left:\n%s\nwas:\n%s", k, after.data,
				 before.data);
		assert_true(k < 20);
	}
	assert_true(attached);
	assert_true(failures >= 2); /* personless mark, distinct id */
	person_of(f, 1, "pl", &u);
	assert_string_equal(u.uuid, uuid);
	assert_false(u.is_identified); /* the caller's */
	assert_int_equal(u.version, version);
	sn_person_release(&u);
	char pl5[37], to[37];
	sn_persons_uuid_for(1, "pl", 2, pl5);
	assert_int_equal(sn_persons_resolve(f->p, 1, pl5, to, &err), 0);
	assert_string_equal(to, uuid); /* the personless event follows */

	/* An id with a person now: not this step's case, nothing written. */
	dump_tables(f, &before);
	assert_int_equal(sn_identity_attach_unseen(f->p, 1, "pl", "anon", uuid, &attached, &err),
			 0);
	assert_false(attached);
	dump_tables(f, &after);
	assert_string_equal(before.data, after.data);
	assert_int_equal(sn_identity_attach_unseen(f->p, 1, "a2", "anon", uuid, &attached, &err),
			 0);
	assert_true(attached);
	assert_int_equal(sn_persons_batch_commit(f->p, 5, &err), 0);
	person_of(f, 1, "a2", &u);
	assert_string_equal(u.uuid, uuid);
	assert_false(u.is_identified);
	assert_int_equal(u.version, version);
	sn_person_release(&u);
	sn_buf_release(&before);
	sn_buf_release(&after);
}

/* A batch lost under the worker is never followed by a commit that would
 * record a WAL position past its events: after SQLite rolls the batch back
 * on its own (as after SQLITE_FULL), and after an event whose undo fails,
 * batches are refused until the ingest side rolls back. */
static void test_batch_lost(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	uint64_t lsn = 1;

	/* SQLite rolled the open batch back. */
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	ev(f, 1, "a", "pv", "{}", T0, NULL);
	sn_pstore_lock(f->p);
	assert_int_equal(sqlite3_exec(sn_pstore_db(f->p), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sn_pstore_unlock(f->p);
	/* An event after it is refused too: outside a transaction each of its
	 * statements would commit on its own, past the batch's position. */
	struct json_object *props = NULL;
	assert_int_equal(sn_json_parse("{}", 2, &props, &err), 0);
	struct sn_identity_event e0 = {.team_id = 1,
				       .distinct_id = "z",
				       .event = "pv",
				       .uuid = "00000000-0000-7000-8000-000000000003",
				       .timestamp_us = T0,
				       .properties = props};
	struct sn_identity_result res;
	assert_int_equal(sn_identity_process(f->p, &e0, &res, &err), SN_ERR_IO);
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_true(no_person(f, 1, "z"));
	assert_int_equal(sn_persons_batch_commit(f->p, 10, &err), SN_ERR_IO);
	assert_int_equal(sn_persons_batch_begin(f->p, &err), SN_ERR_IO);
	assert_int_equal(sn_persons_batch_commit(f->p, 20, &err), SN_ERR_IO);
	assert_int_equal(sn_persons_ingest_lsn(f->p, &lsn, &err), 0);
	assert_int_equal(lsn, 0);
	sn_persons_batch_rollback(f->p);
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	ev(f, 1, "b", "pv", "{}", T0, NULL);
	assert_int_equal(sn_persons_batch_commit(f->p, 30, &err), 0);
	assert_int_equal(sn_persons_ingest_lsn(f->p, &lsn, &err), 0);
	assert_int_equal(lsn, 30);
	assert_true(no_person(f, 1, "a"));

	/* An event fails at its second write (the person update after its
	 * distinct id was set), and the undo of the first fails too: the
	 * batch goes whole, and is refused as above. */
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	ev(f, 1, "c", "pv", "{}", T0, NULL);
	props = NULL;
	const char *text = "{\"$anon_distinct_id\":\"anon-b\",\"$set\":{\"x\":1}}";
	assert_int_equal(sn_json_parse(text, strlen(text), &props, &err), 0);
	struct sn_identity_event e = {.team_id = 1,
				      .distinct_id = "b",
				      .event = "$identify",
				      .uuid = "00000000-0000-7000-8000-000000000002",
				      .timestamp_us = T0,
				      .properties = props};
	sn_pstore_fail_write(f->p, 2, true);
	assert_int_equal(sn_identity_process(f->p, &e, &res, &err), SN_ERR_IO);
	sn_pstore_fail_write(f->p, 0, false);
	sn_identity_result_release(&res);
	json_object_put(props);
	assert_int_equal(sn_persons_batch_commit(f->p, 40, &err), SN_ERR_IO);
	assert_int_equal(sn_persons_ingest_lsn(f->p, &lsn, &err), 0);
	assert_int_equal(lsn, 30);
	sn_persons_batch_rollback(f->p);
	assert_true(no_person(f, 1, "c"));	/* the whole batch went */
	assert_true(no_person(f, 1, "anon-b")); /* and the half event */
	assert_false(no_person(f, 1, "b"));
}

static void test_flag_hash_keys(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	char types[256] = "";
	assert_int_equal(sn_persons_group_types(f->p, 1, list_type, types, &err), 0);
	assert_string_equal(types, "");
	ev(f, 1, "u", "$groupidentify",
	   "{\"$group_type\":\"company\",\"$group_key\":\"acme\",\"$group_set\":{}}", T0, NULL);
	ev(f, 1, "u", "e", "{\"$groups\":{\"project\":\"p1\",\"company\":\"acme\"}}", T0, NULL);
	assert_int_equal(sn_persons_group_types(f->p, 1, list_type, types, &err), 0);
	assert_string_equal(types, "0=company,1=project");
	types[0] = 0;
	assert_int_equal(sn_persons_group_types(f->p, 2, list_type, types, &err), 0);
	assert_string_equal(types, ""); /* per team */

	/* No person for either id: nothing is written. */
	const char *keys[] = {"exp", "other"};
	const char *ids[] = {"user", "anon"};
	size_t written = 9;
	assert_int_equal(sn_persons_hash_keys_add(f->p, 1, ids, 2, keys, 2, "anon", &written, &err),
			 0);
	assert_int_equal(written, 0);
	assert_string_equal(hk(f, 1, "user", "anon", "exp"), "-");

	/* The anonymous person exists: it gets the overrides; the first write wins. */
	char anon_p[37], user_p[37];
	ev(f, 1, "anon", "e", "{}", T0, anon_p);
	assert_int_equal(sn_persons_hash_keys_add(f->p, 1, ids, 2, keys, 2, "anon", &written, &err),
			 0);
	assert_int_equal(written, 2);
	assert_string_equal(hk(f, 1, "anon", NULL, "exp"), "anon");
	assert_string_equal(hk(f, 1, "user", NULL, "exp"), "-"); /* user has no person yet */
	assert_string_equal(hk(f, 1, "user", "anon", "exp"), "anon");
	const char *ids2[] = {"anon", "somebody"};
	assert_int_equal(
	    sn_persons_hash_keys_add(f->p, 1, ids2, 2, keys, 2, "somebody", &written, &err), 0);
	assert_int_equal(written, 0);
	assert_string_equal(hk(f, 1, "anon", NULL, "exp"), "anon");

	/* A second person: its own override wins for its own requests. */
	ev(f, 1, "user", "e", "{}", T0 + 1, user_p);
	const char *k3[] = {"exp", "third"};
	const char *ids3[] = {"user", "elsewhere"};
	assert_int_equal(
	    sn_persons_hash_keys_add(f->p, 1, ids3, 2, k3, 2, "elsewhere", &written, &err), 0);
	assert_int_equal(written, 2);
	assert_string_equal(hk(f, 1, "user", "anon", "exp"), "elsewhere");
	assert_string_equal(hk(f, 1, "anon", "user", "exp"), "anon");
	assert_string_equal(hk(f, 1, "user", "anon", "other"), "anon");

	/* Merge anon into user: the survivor keeps its own rows and inherits
	 * the others; a later write adds nothing the merged person had. */
	ev(f, 1, "user", "$identify", "{\"$anon_distinct_id\":\"anon\"}", T0 + 2, NULL);
	assert_string_equal(hk(f, 1, "user", NULL, "exp"), "elsewhere");
	assert_string_equal(hk(f, 1, "anon", NULL, "other"), "anon");
	assert_string_equal(hk(f, 1, "user", NULL, "third"), "elsewhere");
	const char *ids4[] = {"user", "new-anon"};
	const char *k4[] = {"exp", "other", "third", "fourth"};
	assert_int_equal(
	    sn_persons_hash_keys_add(f->p, 1, ids4, 2, k4, 4, "new-anon", &written, &err), 0);
	assert_int_equal(written, 1);
	assert_string_equal(hk(f, 1, "user", NULL, "other"), "anon");
	assert_string_equal(hk(f, 1, "user", NULL, "fourth"), "new-anon");
	assert_string_equal(hk(f, 2, "user", NULL, "fourth"), "-"); /* per team */

	/* Bad arguments are refused with a message, not a crash. */
	assert_int_equal(sn_persons_hash_keys_add(f->p, 1, ids, 2, keys, 2, "", NULL, &err),
			 SN_ERR_INVALID);
	assert_int_equal(sn_persons_hash_keys_get(f->p, 1, ids, 0, list_key, NULL, &err),
			 SN_ERR_INVALID);
	assert_true(err.msg[0] != 0);
}

/* ---- deleting a person ------------------------------------------------------------ */

/* True when the file at path holds needle anywhere in its bytes. */
static bool file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return false;
	size_t cap = 1 << 20, n = 0, got;
	char *buf = malloc(cap);
	while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(fp);
	bool hit = memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return hit;
}

struct del_thread {
	struct sn_persons *p;
	const char *uuid;
	volatile int done;
	int rc;
};

static void *del_main(void *arg)
{
	struct del_thread *t = arg;
	struct sn_err err = {0};
	t->rc = sn_persons_delete(t->p, 1, t->uuid, NULL, &err);
	t->done = 1;
	return NULL;
}

static void test_delete_person(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	char anon_p[37], user_p[37], other_p[37], t2_p[37], r[37];
	ev(f, 1, "anon", "e", "{\"$set\":{\"secret\":\"GDPRMARK-anon\"}}", T0, anon_p);
	ev(f, 1, "user", "e", "{\"$set\":{\"email\":\"GDPRMARK-user\"}}", T0 + 1, user_p);
	ev(f, 1, "user", "$identify", "{\"$anon_distinct_id\":\"anon\"}", T0 + 2, NULL);
	ev(f, 1, "other", "e", "{\"$set\":{\"email\":\"kept\"}}", T0 + 3, other_p);
	ev(f, 2, "user", "e", "{\"$set\":{\"email\":\"team2\"}}", T0 + 4, t2_p);
	const char *ids[] = {"user"}, *keys[] = {"exp"};
	assert_int_equal(sn_persons_hash_keys_add(f->p, 1, ids, 1, keys, 1, "h", NULL, &err), 0);
	resolve(f, 1, anon_p, r);
	assert_string_equal(r, user_p);
	uint64_t gen = sn_persons_generation(f->p);

	/* A merged-away id or an unknown one is not a person. */
	assert_int_equal(sn_persons_delete(f->p, 1, anon_p, NULL, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_persons_delete(f->p, 1, "nope", NULL, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_persons_delete(f->p, 3, user_p, NULL, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_persons_generation(f->p), gen);

	struct sn_persons_deleted d = {0};
	assert_int_equal(sn_persons_delete(f->p, 1, user_p, &d, &err), 0);
	assert_int_equal(d.npersons, 2);
	assert_string_equal(d.person_ids[0], user_p);
	assert_string_equal(d.person_ids[1], anon_p);
	assert_int_equal(d.ndistinct_ids, 2);
	assert_string_equal(d.distinct_ids[0], "anon"); /* oldest first */
	assert_string_equal(d.distinct_ids[1], "user");
	sn_persons_deleted_release(&d);
	assert_true(sn_persons_generation(f->p) > gen);

	struct sn_person p;
	assert_int_equal(sn_persons_get(f->p, 1, user_p, &p, NULL), SN_ERR_NOT_FOUND);
	assert_true(no_person(f, 1, "user"));
	assert_true(no_person(f, 1, "anon"));
	resolve(f, 1, anon_p, r); /* the override went too */
	assert_string_equal(r, anon_p);
	assert_string_equal(hk(f, 1, "user", NULL, "exp"), "-");
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM posthog_personoverride"), 0);
	assert_int_equal(
	    sql_int(f->path, "SELECT count(*) FROM posthog_persondistinctid WHERE team_id = 1"), 1);
	/* Others are untouched: another person, the same id in another team. */
	person_of(f, 1, "other", &p);
	assert_string_equal(p.uuid, other_p);
	sn_person_release(&p);
	person_of(f, 2, "user", &p);
	assert_string_equal(p.uuid, t2_p);
	assert_string_equal(prop(&p, "email"), "\"team2\"");
	sn_person_release(&p);
	/* Nothing of it is left in the files (secure_delete, -wal truncated). */
	char wal[PATH_MAX + 8];
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_false(file_has(f->path, "GDPRMARK"));
	assert_false(file_has(wal, "GDPRMARK"));
	assert_true(file_has(f->path, "team2")); /* the check can fail */

	/* The id seen again is a new person with nothing of the old one. */
	char again[37];
	ev(f, 1, "user", "e", "{}", T0 + 10, again);
	person_of(f, 1, "user", &p);
	assert_string_equal(prop(&p, "email"), "");
	assert_int_equal(count_distinct_ids(f, 1, p.uuid), 1);
	sn_person_release(&p);

	/* An open ingest batch is committed before the deletion runs, and the
	 * deletion is its own transaction. */
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	ev(f, 1, "other", "e", "{\"$set\":{\"in_batch\":1}}", T0 + 11, NULL);
	struct del_thread t = {.p = f->p, .uuid = other_p};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, del_main, &t), 0);
	usleep(100 * 1000);
	assert_int_equal(t.done, 0); /* waits for the batch */
	assert_int_equal(sn_persons_batch_commit(f->p, 42, &err), 0);
	pthread_join(th, NULL);
	assert_int_equal(t.rc, 0);
	assert_true(no_person(f, 1, "other"));
	uint64_t lsn = 0;
	assert_int_equal(sn_persons_ingest_lsn(f->p, &lsn, &err), 0);
	assert_int_equal(lsn, 42);
	assert_false(sn_persons_batch_is_open(f->p));
}

static void test_split_person(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	char anon_p[37], user_p[37], r[37];
	size_t n = 9;
	ev(f, 1, "anon", "e", "{\"$set\":{\"a\":1}}", T0, anon_p);
	ev(f, 1, "user", "e", "{\"$set\":{\"u\":1}}", T0 + 1, user_p);
	ev(f, 1, "user", "$identify", "{\"$anon_distinct_id\":\"anon\"}", T0 + 2, NULL);
	ev(f, 1, "late", "$create_alias", "{\"alias\":\"user\"}", T0 + 3, NULL);
	assert_int_equal(count_distinct_ids(f, 1, user_p), 3);
	assert_int_equal(sn_persons_split(f->p, 1, user_p, "nobody", &n, &err), SN_ERR_INVALID);
	assert_int_equal(sn_persons_split(f->p, 1, anon_p, NULL, &n, &err), SN_ERR_NOT_FOUND);
	uint64_t gen = sn_persons_generation(f->p);

	assert_int_equal(sn_persons_split(f->p, 1, user_p, "user", &n, &err), 0);
	assert_int_equal(n, 2);
	assert_true(sn_persons_generation(f->p) > gen);
	struct sn_person p;
	person_of(f, 1, "user", &p);
	assert_string_equal(p.uuid, user_p); /* the main id keeps the person */
	assert_string_equal(prop(&p, "u"), "1");
	assert_int_equal(count_distinct_ids(f, 1, user_p), 1);
	sn_person_release(&p);
	/* anon's own id again; events stamped with it are anon's, not user's. */
	person_of(f, 1, "anon", &p);
	assert_string_equal(p.uuid, anon_p);
	assert_string_equal(prop(&p, "a"), "");
	assert_false(p.is_identified);
	sn_person_release(&p);
	resolve(f, 1, anon_p, r);
	assert_string_equal(r, anon_p);
	char late_p[37];
	sn_persons_uuid_for(1, "late", 4, late_p);
	person_of(f, 1, "late", &p);
	assert_string_equal(p.uuid, late_p);
	sn_person_release(&p);

	/* The id that created the person is split off: a fresh id, since the
	 * person keeps its own. Without main_distinct_id the oldest stays. */
	char x_p[37];
	ev(f, 1, "x", "e", "{}", T0 + 4, x_p);
	ev(f, 1, "x", "$identify", "{\"$anon_distinct_id\":\"y\"}", T0 + 5, NULL);
	assert_int_equal(sn_persons_split(f->p, 1, x_p, "y", &n, &err), 0);
	assert_int_equal(n, 1);
	person_of(f, 1, "y", &p);
	assert_string_equal(p.uuid, x_p);
	sn_person_release(&p);
	person_of(f, 1, "x", &p);
	assert_string_not_equal(p.uuid, x_p);
	assert_int_equal(count_distinct_ids(f, 1, p.uuid), 1);
	sn_person_release(&p);
	assert_int_equal(sn_persons_split(f->p, 1, x_p, NULL, &n, &err), 0);
	assert_int_equal(n, 0); /* one distinct id: nothing to split */
}

/* ---- the lookup cache (lcache.c) ----------------------------------------------- */

/* The properties' "plan" of a distinct id's person, "-" without a person. */
static const char *plan_of(struct fx *f, const char *did)
{
	static char buf[64];
	struct sn_person p = {0};
	if (sn_persons_get_by_distinct_id(f->p, 1, did, &p, NULL) == SN_ERR_NOT_FOUND)
		return "-";
	snprintf(buf, sizeof(buf), "%s", prop(&p, "plan"));
	sn_person_release(&p);
	return buf;
}

static const char *uuid_of(struct fx *f, const char *did)
{
	static char buf[37];
	struct sn_person p = {0};
	person_of(f, 1, did, &p);
	memcpy(buf, p.uuid, sizeof(buf));
	sn_person_release(&p);
	return buf;
}

/* Every write of the store is seen by the next lookup of a distinct id
 * whose answer (person or none) is cached: each step reads twice first, so
 * the old answer is in the cache and served from it. */
static void test_lookup_cache(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	uint64_t h0, h1, m0, m1;
	sn_lcache_stats(sn_pstore_lcache(f->p), &h0, &m0);
	assert_string_equal(plan_of(f, "c1"), "-");
	assert_string_equal(plan_of(f, "c1"), "-");
	sn_lcache_stats(sn_pstore_lcache(f->p), &h1, &m1);
	assert_int_equal(h1 - h0, 1); /* the second "no person" came from memory */
	assert_int_equal(m1 - m0, 1);

	/* Creation (a new distinct id), then property updates. */
	char p1[37], p3[37];
	ev(f, 1, "c1", "e", "{\"$set\":{\"plan\":\"free\"}}", T0, p1);
	assert_string_equal(plan_of(f, "c1"), "\"free\"");
	assert_string_equal(plan_of(f, "c1"), "\"free\"");
	ev(f, 1, "c1", "e", "{\"$set\":{\"plan\":\"pro\"}}", T0 + 1, NULL);
	assert_string_equal(plan_of(f, "c1"), "\"pro\"");
	ev(f, 1, "c1", "e", "{\"$unset\":[\"plan\"]}", T0 + 2, NULL);
	assert_string_equal(plan_of(f, "c1"), "");
	const char *k[] = {"plan"}, *v[] = {"\"enterprise\""};
	bool found;
	assert_int_equal(sn_persons_set_values(f->p, 1, p1, k, v, 1, false, &found, &err), 0);
	assert_true(found);
	assert_string_equal(plan_of(f, "c1"), "\"enterprise\"");

	/* A merge moves c3 (cached with its own person) to c1's person. */
	ev(f, 1, "c3", "e", "{\"$set\":{\"plan\":\"c3\"}}", T0 + 3, p3);
	assert_string_equal(plan_of(f, "c3"), "\"c3\"");
	assert_string_equal(uuid_of(f, "c3"), p3);
	ev(f, 1, "c1", "$identify", "{\"$anon_distinct_id\":\"c3\"}", T0 + 4, NULL);
	assert_string_equal(uuid_of(f, "c3"), p1);
	assert_string_equal(plan_of(f, "c3"), "\"enterprise\"");
	/* An alias: a cached "no person" id joins a person. */
	assert_string_equal(plan_of(f, "c5"), "-");
	ev(f, 1, "c1", "$create_alias", "{\"alias\":\"c5\"}", T0 + 5, NULL);
	assert_string_equal(uuid_of(f, "c5"), p1);

	/* A rolled-back batch: what was read inside it is forgotten. */
	assert_string_equal(plan_of(f, "c4"), "-");
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	ev(f, 1, "c4", "e", "{\"$set\":{\"plan\":\"ghost\"}}", T0 + 6, NULL);
	ev(f, 1, "c1", "e", "{\"$set\":{\"plan\":\"ghost\"}}", T0 + 6, NULL);
	assert_string_equal(plan_of(f, "c4"), "\"ghost\"");
	assert_string_equal(plan_of(f, "c1"), "\"ghost\"");
	sn_persons_batch_rollback(f->p);
	assert_string_equal(plan_of(f, "c4"), "-");
	assert_string_equal(plan_of(f, "c1"), "\"enterprise\"");

	/* Another process's commit is seen within the data_version interval. */
	assert_string_equal(plan_of(f, "c1"), "\"enterprise\"");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE posthog_person SET properties = "
				      "json_set(properties, '$.plan', 'outside')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	usleep(150 * 1000);
	assert_string_equal(plan_of(f, "c1"), "\"outside\"");

	/* Split and deletion. */
	assert_int_equal(sn_persons_split(f->p, 1, p1, "c1", NULL, &err), 0);
	assert_string_equal(plan_of(f, "c3"), "");
	assert_string_not_equal(uuid_of(f, "c3"), p1);
	assert_string_equal(plan_of(f, "c1"), "\"outside\"");
	assert_int_equal(sn_persons_delete(f->p, 1, p1, NULL, &err), 0);
	assert_string_equal(plan_of(f, "c1"), "-");
	assert_string_equal(plan_of(f, "c3"), ""); /* split off: a person of its own */

	/* Other teams are other keys. */
	assert_string_equal(plan_of(f, "c3"), "");
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(f->p, 2, "c3", &p, NULL), SN_ERR_NOT_FOUND);
}

/* A cache far smaller than the ids: evictions, and never a wrong answer. */
static void test_lookup_cache_bounds(void **state)
{
	(void)state;
	struct sn_lcache *c;
	assert_int_equal(sn_lcache_new(&c, 8), 0);
	char did[32], props[64];
	struct sn_person in = {.team_id = 1, .is_identified = true, .version = 3};
	for (int i = 0; i < 200; i++) {
		struct sn_lcache_stamp st;
		snprintf(did, sizeof(did), "d%d", i);
		sn_lcache_stamp_did(c, 1, did, &st);
		snprintf(in.uuid, sizeof(in.uuid), "00000000-0000-0000-0000-%012d", i);
		sn_lcache_stamp_uuid(c, 1, in.uuid, &st);
		int n = snprintf(props, sizeof(props), "{\"i\":%d}", i);
		sn_lcache_put(c, 1, did, &st, i % 2 ? &in : NULL, props, (size_t)n);
	}
	int present = 0;
	for (int i = 0; i < 200; i++) {
		struct sn_person out = {0};
		snprintf(did, sizeof(did), "d%d", i);
		int r = sn_lcache_get(c, 1, did, &out);
		if (r < 0)
			continue;
		present++;
		assert_int_equal(r, i % 2);
		if (r) {
			assert_int_equal(json_object_get_int(sn_json_get(out.properties, "i")), i);
			assert_int_equal(out.version, 3);
			assert_true(out.is_identified);
			sn_person_release(&out);
		}
		assert_int_equal(sn_lcache_get(c, 2, did, &out), -1);
	}
	assert_true(present > 0 && present <= 8);
	/* A bump of the person's stripe, of the id's, or of everything. */
	struct sn_person out = {0};
	assert_int_equal(sn_lcache_get(c, 1, "d199", &out), 1);
	sn_person_release(&out);
	sn_lcache_touch(c, 1, "00000000-0000-0000-0000-000000000199");
	assert_int_equal(sn_lcache_get(c, 1, "d199", &out), -1);
	assert_int_equal(sn_lcache_get(c, 1, "d198", &out), 0);
	sn_lcache_touch(c, 1, "d198");
	assert_int_equal(sn_lcache_get(c, 1, "d198", &out), -1);
	struct sn_lcache_stamp st;
	sn_lcache_stamp_did(c, 1, "z", &st);
	sn_lcache_put(c, 1, "z", &st, NULL, NULL, 0);
	assert_int_equal(sn_lcache_get(c, 1, "z", &out), 0);
	sn_lcache_touch_all(c);
	assert_int_equal(sn_lcache_get(c, 1, "z", &out), -1);
	sn_lcache_free(c);
}

/* ---- the absence filter (absent.c) --------------------------------------------- */

/* No false negatives; few false positives for other keys, teams and kinds;
 * full past its capacity. */
static void test_absent_filter(void **state)
{
	(void)state;
	struct sn_absent *f;
	char k[32];
	assert_int_equal(sn_absent_new(&f, 20000), 0);
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(k, sizeof(k), "id-%d", i);
		sn_absent_add(f, 1 + i % 3, SN_ABSENT_DID, k, (size_t)n);
	}
	assert_false(sn_absent_full(f));
	int fp = 0;
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(k, sizeof(k), "id-%d", i);
		assert_true(sn_absent_may_have(f, 1 + i % 3, SN_ABSENT_DID, k, (size_t)n));
		fp += sn_absent_may_have(f, 4 + i % 3, SN_ABSENT_DID, k, (size_t)n);
		fp += sn_absent_may_have(f, 1 + i % 3, SN_ABSENT_PERSONLESS, k, (size_t)n);
		n = snprintf(k, sizeof(k), "other-%d", i);
		fp += sn_absent_may_have(f, 1 + i % 3, SN_ABSENT_DID, k, (size_t)n);
	}
	assert_true(fp < 60000 / 200); /* under 0.5 % (11 of 60,000 when written) */
	sn_absent_add(f, 9, SN_ABSENT_OVERRIDE, "x", 1); /* key 20001 */
	assert_true(sn_absent_full(f));
	assert_true(sn_absent_bytes(f) >= 20000 * 16 / 8);
	sn_absent_free(f);
	sn_absent_free(NULL);
}

/* The store's use of the filter: ids the store has never seen are answered
 * without SQLite, ids it has are always found — after the filter filled up
 * and was made again, and after another connection wrote rows it never saw. */
static void test_absent_in_store(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	enum { N = 1500 };
	static char ids[N][37];
	char did[32], got[37];
	uint64_t answered, builds;
	sn_pstore_absent_test_slack(f->p, 0); /* 1024 keys a filter: refilled as ids arrive */
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	for (int i = 0; i < N; i++) {
		snprintf(did, sizeof(did), "user-%d", i);
		ev(f, 1, did, "pv", "{\"$set\":{\"n\":1}}", T0 + i, ids[i]);
	}
	sn_pstore_absent_stats(f->p, &answered, &builds);
	assert_true(builds >= 2);	      /* at the first lookup, and when full */
	assert_true(answered >= (uint64_t)N); /* each new id's person lookup at least */
	char v5[37];
	sn_persons_uuid_for(1, "user-7", 6, v5);
	assert_string_equal(ids[7], v5);
	for (int i = 0; i < N; i++) {
		snprintf(did, sizeof(did), "user-%d", i);
		ev(f, 1, did, "pv", "{\"$set\":{\"n\":2}}", T0 + N + i, got);
		assert_string_equal(got, ids[i]);
	}
	/* A new anonymous id attached by $identify, then used on its own. */
	ev(f, 1, "user-3", "$identify", "{\"$anon_distinct_id\":\"anon-3\"}", T0 + 3 * N, got);
	assert_string_equal(got, ids[3]);
	ev(f, 1, "anon-3", "pv", "{}", T0 + 3 * N + 1, got);
	assert_string_equal(got, ids[3]);
	assert_int_equal(sn_persons_batch_commit(f->p, 1, &err), 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM posthog_person"), N);

	/* Rows another connection commits are not in the filter: the next
	 * transaction must stop trusting it (PRAGMA data_version). */
	sqlite3 *db;
	char sql[512];
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO posthog_persondistinctid (team_id, distinct_id, person_uuid)"
		 " VALUES (1, 'outside', '%s');"
		 "INSERT INTO posthog_personlessdistinctid (team_id, distinct_id, created_at)"
		 " VALUES (1, 'pl-outside', 1)",
		 ids[5]);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sn_persons_batch_begin(f->p, &err), 0);
	ev(f, 1, "outside", "pv", "{}", T0 + 4 * N, got);
	assert_string_equal(got, ids[5]);
	/* Neither id has a person; the one used personless names the new one. */
	ev(f, 1, "fresh", "$identify", "{\"$anon_distinct_id\":\"pl-outside\"}", T0 + 4 * N + 1,
	   got);
	sn_persons_uuid_for(1, "pl-outside", 10, v5);
	assert_string_equal(got, v5);
	assert_int_equal(sn_persons_batch_commit(f->p, 2, &err), 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM posthog_person"), N + 1);
}

int main(void)
{
	sn_log_setup(SN_LOG_WARN, false);
	/* test_release_memory measures with sqlite3_memory_used, which needs
	 * SQLite's memory statistics; snout turns them off when it registers
	 * its VFS (sqlite_vfs.c), unless SQLite was initialised before, as here. */
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uuid5),
	    cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_all_or_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cohort_members_upgrade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_first_sight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_property_updates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identify_anon, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_merge_two_persons, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alias_both_directions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identified_merge_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_merge_dangerously, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_illegal_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_merge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_merge_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_personless, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_created_at, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_initial_utm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filtered_updates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_team_isolation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_first_sight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batches_and_listing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_atomic_in_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_unseen_steps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_unseen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flag_hash_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_person, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_person, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lookup_cache, setup, teardown),
	    cmocka_unit_test(test_lookup_cache_bounds),
	    cmocka_unit_test(test_absent_filter),
	    cmocka_unit_test_setup_teardown(test_absent_in_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
