/*
 * main.c — the snout command line.
 *
 *   snout serve            run the server
 *   snout migrate          apply metadata migrations and report the version
 *   snout team list|create projects (teams) and their API tokens
 *   snout user create      users, with organization membership
 *   snout apikey create    personal API keys (phx_...) for the REST API
 *   snout wal dump|stats   inspect the write-ahead log (support, tests)
 *   snout store ...        event store stats, verify, merge, delete, ttl
 *   snout persons import   create persons from JSON lines (no events)
 *   snout query            HogQL or an insight (--insight FILE) on the local data
 *
 * Every command takes the server settings (--data-dir, --config, ...), has
 * --help, prints errors as one line on stderr and exits non-zero on failure.
 * Commands that only touch metadata can run while a server runs: SQLite's WAL
 * mode serialises the writers.
 *
 * Options are read exactly or refused, before anything is changed: numbers
 * through one helper (opt_int: the whole string, in range; atoll's "1abc" =
 * 1 once made `store delete --team 1abc` delete team 1), times through the
 * strict RFC 3339 parser of base/, an option given twice is an error, and
 * `store` refuses options its subcommand does not take, since ignoring one
 * widens what a deletion matches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api/api.h"
#include "capture/capture.h"
#include "exec/exec.h"
#include "hogql/hogql.h"
#include "insights/insights.h"
#include "meta/meta.h"
#include "persons/persons.h"
#include "store/store.h"
#include "wal/evindex.h"
#include "wal/wal.h"

#define SNOUT_VERSION "0.1.0"

static int die(const char *cmd, const char *msg)
{
	fprintf(stderr, "snout %s: %s\n", cmd, msg);
	return 1;
}

static bool want_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* Splits argv into command options (listed in `mine`, each taking a value)
 * and server settings (everything else, passed to the config loader). */
struct opts {
	const char *names[8];
	const char *values[8];
	int n;
	char *rest[64];
	int nrest;
};

static int split_opts(int argc, char **argv, const char *const *mine, struct opts *o,
		      struct sn_err *err)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		bool matched = false;
		for (int k = 0; mine[k]; k++) {
			size_t n = strlen(mine[k]);
			if (strncmp(a, mine[k], n) != 0 || (a[n] != 0 && a[n] != '='))
				continue;
			/* Only the first would count: `--team 1 --team 2` must
			 * not quietly act on team 1. */
			for (int j = 0; j < o->n; j++)
				if (o->names[j] == mine[k])
					return sn_err_set(err, SN_ERR_INVALID, "%s given twice",
							  mine[k]);
			const char *v = a[n] == '=' ? a + n + 1 : NULL;
			if (!v) {
				if (i + 1 >= argc)
					return sn_err_set(err, SN_ERR_INVALID, "%s needs a value",
							  mine[k]);
				v = argv[++i];
			}
			o->names[o->n] = mine[k];
			o->values[o->n++] = v;
			matched = true;
			break;
		}
		if (!matched) {
			if (o->nrest >= 64)
				return sn_err_set(err, SN_ERR_INVALID, "too many arguments");
			o->rest[o->nrest++] = argv[i];
		}
	}
	return 0;
}

static const char *opt_get(const struct opts *o, const char *name)
{
	for (int i = 0; i < o->n; i++)
		if (strcmp(o->names[i], name) == 0)
			return o->values[i];
	return NULL;
}

/* A whole-number option (an id, a count): all of v, from min to max.
 * atoll read "1abc" as 1 and "abc" as 0, so `store delete --team 1abc`
 * deleted team 1; now anything but the number is refused, naming the
 * option. The one helper for every command's numeric options. */
static int opt_int(const char *name, const char *v, int64_t min, int64_t max, int64_t *out,
		   struct sn_err *err)
{
	if (sn_parse_int(v, strlen(v), min, max, out) == 0)
		return 0;
	if (max == INT64_MAX && min == 1)
		return sn_err_set(err, SN_ERR_INVALID,
				  "%s must be a positive whole number, not '%s'", name, v);
	if (max == INT64_MAX)
		return sn_err_set(err, SN_ERR_INVALID,
				  "%s must be a whole number of at least %lld, not '%s'", name,
				  (long long)min, v);
	return sn_err_set(err, SN_ERR_INVALID,
			  "%s must be a whole number from %lld to %lld, not '%s'", name,
			  (long long)min, (long long)max, v);
}

/* An id option (--team, --org-id): a positive whole number. */
static int opt_id(const char *name, const char *v, int64_t *out, struct sn_err *err)
{
	return opt_int(name, v, 1, INT64_MAX, out, err);
}

static void usage(FILE *f)
{
	fprintf(f,
		"snout %s — PostHog-compatible product analytics in one binary\n\n"
		"Usage: snout <command> [options]\n\n"
		"Commands:\n"
		"  serve                 run the server (capture, API, UI)\n"
		"  migrate               apply metadata migrations\n"
		"  team list             list projects with their API tokens\n"
		"  team create           create a project (--name, [--org-id], [--token], "
		"[--timezone])\n"
		"  user create           create a user (--email, --password, [--first-name], "
		"[--org-id], [--level member|admin|owner])\n"
		"  apikey create         create a personal API key (--email, [--label])\n"
		"  wal dump              print WAL records as JSON lines ([--from LSN])\n"
		"  wal stats             print WAL positions and sizes\n"
		"  store stats|verify|merge|delete|ttl  event store sizes, consistency check, "
		"maintenance\n"
		"  hogql parse [--expr] [--no-positions] TEXT\n"
		"                        print the HogQL AST as JSON (TEXT - reads stdin)\n"
		"  hogql print [--expr] TEXT\n"
		"                        print the query back as canonical HogQL\n"
		"  hogql resolve [--expr] TEXT\n"
		"                        resolve names and types; the typed AST as JSON\n"
		"  hogql clickhouse [--team N] [--tz ZONE] [--ch-version X.Y] [--cohort "
		"ID:NAME[:static]]\n"
		"                   [--json] TEXT\n"
		"                        print the query as ClickHouse SQL (team-guarded)\n"
		"  query [--team ID] [--format table|json|csv|tsv] [--url URL] SQL\n"
		"                        run HogQL on the local store, or on a running server\n"
		"  query --team ID --insight FILE [--now ISO]\n"
		"                        run an insight query node (TrendsQuery JSON; - reads "
		"stdin)\n"
		"  persons import --team ID FILE\n"
		"                        create persons from JSON lines {distinct_ids, properties, "
		"created_at}\n\n"
		"Run `snout <command> --help` for details.\n\n",
		SNOUT_VERSION);
	sn_config_usage(f);
}

static int load_cfg(const char *cmd, int argc, char **argv, struct sn_config *cfg)
{
	struct sn_err err = {0};
	if (sn_config_load(cfg, argc, argv, &err))
		return die(cmd, err.msg);
	sn_log_setup(cfg->log_level, cfg->log_json);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	if (want_help(argc, argv)) {
		printf("Usage: snout serve [settings]\n\nRuns the server until SIGINT or "
		       "SIGTERM.\n\n");
		sn_config_usage(stdout);
		return 0;
	}
	struct sn_config cfg;
	if (load_cfg("serve", argc, argv, &cfg))
		return 2;
	struct sn_err err = {0};
	if (sn_serve(&cfg, &err))
		return die("serve", err.msg);
	return 0;
}

static int cmd_migrate(int argc, char **argv)
{
	if (want_help(argc, argv)) {
		printf("Usage: snout migrate [--data-dir DIR]\n\nApplies pending metadata "
		       "migrations (the server also does this at start-up) and prints the schema "
		       "version.\n");
		return 0;
	}
	struct sn_config cfg;
	if (load_cfg("migrate", argc, argv, &cfg))
		return 2;
	struct sn_meta *m;
	struct sn_err err = {0};
	int applied = 0, dbv = 0, codev = 0;
	if (sn_open_meta(&cfg, &m, &applied, &err))
		return die("migrate", err.msg);
	sn_meta_schema_version(m, &dbv, &codev);
	printf("applied %d migration(s); schema version %d (this snout knows %d)\n", applied, dbv,
	       codev);
	sn_meta_close(m);
	return 0;
}

static int print_team(void *arg, const struct sn_team *t)
{
	(void)arg;
	printf("%-6lld %-6lld %-52s %-20s %s\n", (long long)t->id, (long long)t->organization_id,
	       t->api_token, t->timezone, t->name);
	return 0;
}

static int cmd_team(int argc, char **argv)
{
	static const char *const mine[] = {"--name", "--org-id", "--token", "--timezone", NULL};
	if (argc < 1 || want_help(argc, argv)) {
		printf("Usage:\n  snout team list [--data-dir DIR]\n"
		       "  snout team create --name NAME [--org-id ID] [--token phc_...] "
		       "[--timezone Europe/Berlin] [--data-dir DIR]\n\n"
		       "Without --org-id the team goes to the first organization. Without --token "
		       "a new phc_ token is generated.\n");
		return argc < 1 ? 2 : 0;
	}
	struct opts o;
	struct sn_err err = {0};
	if (split_opts(argc - 1, argv + 1, mine, &o, &err))
		return die("team", err.msg);
	struct sn_config cfg;
	if (load_cfg("team", o.nrest, o.rest, &cfg))
		return 2;
	struct sn_meta *m;
	if (sn_open_meta(&cfg, &m, NULL, &err))
		return die("team", err.msg);
	int rc = 0;
	if (strcmp(argv[0], "list") == 0) {
		printf("%-6s %-6s %-52s %-20s %s\n", "id", "org", "api_token", "timezone", "name");
		if (sn_meta_team_list(m, print_team, NULL, &err))
			rc = die("team list", err.msg);
	} else if (strcmp(argv[0], "create") == 0) {
		const char *name = opt_get(&o, "--name");
		const char *org = opt_get(&o, "--org-id");
		struct sn_org orgrec;
		struct sn_team t;
		int64_t org_id = 0;
		if (!name || !*name) {
			rc = die("team create", "--name is required");
		} else if (org && opt_id("--org-id", org, &org_id, &err)) {
			rc = die("team create", err.msg);
		} else if (org ? sn_meta_org_get(m, org_id, &orgrec, &err)
			       : sn_meta_org_first(m, &orgrec, &err)) {
			rc = die("team create",
				 org ? "no organization with that --org-id"
				     : "no organization yet: start the server once or create one");
		} else if (sn_meta_team_create(m, orgrec.id, name, opt_get(&o, "--token"),
					       opt_get(&o, "--timezone"), &t, &err)) {
			rc = die("team create", err.msg);
		} else {
			printf("created team %lld \"%s\" in organization %lld\nproject API key: "
			       "%s\n",
			       (long long)t.id, t.name, (long long)t.organization_id, t.api_token);
		}
	} else {
		rc = die("team", "unknown subcommand (list, create)");
	}
	sn_meta_close(m);
	return rc;
}

static int cmd_user(int argc, char **argv)
{
	static const char *const mine[] = {"--email",  "--password", "--first-name",
					   "--org-id", "--level",    NULL};
	if (argc < 1 || want_help(argc, argv) || strcmp(argv[0], "create") != 0) {
		printf("Usage: snout user create --email EMAIL --password PASSWORD [--first-name "
		       "NAME] [--org-id ID] [--level member|admin|owner] [--data-dir DIR]\n\n"
		       "Creates a user and makes them a member of the organization (default: the "
		       "first one) at the given level (default member).\n");
		return argc >= 1 && want_help(argc, argv) ? 0 : 2;
	}
	struct opts o;
	struct sn_err err = {0};
	if (split_opts(argc - 1, argv + 1, mine, &o, &err))
		return die("user create", err.msg);
	const char *email = opt_get(&o, "--email"), *pw = opt_get(&o, "--password");
	if (!email || !pw)
		return die("user create", "--email and --password are required");
	const char *lv = opt_get(&o, "--level"), *org = opt_get(&o, "--org-id");
	int64_t org_id = 0;
	if (org && opt_id("--org-id", org, &org_id, &err))
		return die("user create", err.msg);
	enum sn_member_level level = SN_LEVEL_MEMBER;
	if (lv) {
		if (strcmp(lv, "member") == 0)
			level = SN_LEVEL_MEMBER;
		else if (strcmp(lv, "admin") == 0)
			level = SN_LEVEL_ADMIN;
		else if (strcmp(lv, "owner") == 0)
			level = SN_LEVEL_OWNER;
		else
			return die("user create", "--level must be member, admin or owner");
	}
	struct sn_config cfg;
	if (load_cfg("user", o.nrest, o.rest, &cfg))
		return 2;
	struct sn_meta *m;
	if (sn_open_meta(&cfg, &m, NULL, &err))
		return die("user create", err.msg);
	int rc = 0;
	struct sn_org orgrec;
	struct sn_user u;
	if (org ? sn_meta_org_get(m, org_id, &orgrec, &err) : sn_meta_org_first(m, &orgrec, &err))
		rc = die("user create", org ? "no organization with that --org-id"
					    : "no organization yet: start the server once first");
	else if (sn_meta_user_create(m, email, pw, opt_get(&o, "--first-name"), false, &u, &err))
		rc = die("user create", err.msg);
	else if (sn_meta_membership_add(m, orgrec.id, u.id, level, &err))
		rc = die("user create", err.msg);
	else
		printf("created user %lld %s in organization %lld\n", (long long)u.id, u.email,
		       (long long)orgrec.id);
	sn_meta_close(m);
	return rc;
}

static int cmd_apikey(int argc, char **argv)
{
	static const char *const mine[] = {"--email", "--label", NULL};
	if (argc < 1 || want_help(argc, argv) || strcmp(argv[0], "create") != 0) {
		printf("Usage: snout apikey create --email EMAIL [--label LABEL] [--data-dir "
		       "DIR]\n\nCreates a personal API key (phx_...) for the user and prints it "
		       "once; only its hash is stored.\n");
		return argc >= 1 && want_help(argc, argv) ? 0 : 2;
	}
	struct opts o;
	struct sn_err err = {0};
	if (split_opts(argc - 1, argv + 1, mine, &o, &err))
		return die("apikey create", err.msg);
	const char *email = opt_get(&o, "--email");
	if (!email)
		return die("apikey create", "--email is required");
	struct sn_config cfg;
	if (load_cfg("apikey", o.nrest, o.rest, &cfg))
		return 2;
	struct sn_meta *m;
	if (sn_open_meta(&cfg, &m, NULL, &err))
		return die("apikey create", err.msg);
	int rc = 0;
	struct sn_user u;
	struct sn_apikey k;
	char plain[160];
	const char *label = opt_get(&o, "--label");
	if (sn_meta_user_by_email(m, email, &u, &err))
		rc = die("apikey create", "no user with that email");
	else if (sn_meta_apikey_create(m, u.id, label ? label : "cli", NULL, plain, sizeof(plain),
				       &k, &err))
		rc = die("apikey create", err.msg);
	else
		printf("%s\n", plain);
	sn_meta_close(m);
	return rc;
}

/* A time for --before/--after: epoch seconds, YYYY-MM-DD (UTC midnight) or
 * RFC 3339 (a fraction to the microsecond, Z or a numeric offset). Epoch
 * seconds must fit int64 microseconds: 10000000000000 once wrapped to a
 * negative time and made --after match every row. */
static int parse_when(const char *name, const char *s, int64_t *us, struct sn_err *err)
{
	size_t n = strlen(s);
	int64_t secs;
	if (n && strspn(s, "0123456789") == n) {
		if (sn_parse_int(s, n, 0, INT64_MAX / 1000000, &secs))
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: %s epoch seconds is out of range (at most %lld)",
					  name, s, (long long)(INT64_MAX / 1000000));
		*us = secs * 1000000;
		return 0;
	}
	char day[32];
	const char *t = s;
	if (n == 10) { /* YYYY-MM-DD */
		snprintf(day, sizeof(day), "%sT00:00:00Z", s);
		t = day;
	}
	if (sn_time_parse_rfc3339(t, strlen(t), us) == 0)
		return 0;
	return sn_err_set(err, SN_ERR_INVALID,
			  "%s: '%s' is not a time: give epoch seconds (1706702400), YYYY-MM-DD "
			  "(UTC midnight) or RFC 3339 (2024-01-31T12:00:00Z, "
			  "2024-01-31T12:00:00.123456+02:00)",
			  name, s);
}

static int store_usage(int rc)
{
	printf("Usage:\n  snout store stats [--data-dir DIR]\n"
	       "  snout store verify [--data-dir DIR]\n"
	       "  snout store merge [--data-dir DIR]\n"
	       "  snout store delete --team N [--person UUID] [--event NAME] [--after TS] "
	       "[--before TS] [--data-dir DIR]\n"
	       "  snout store ttl --days N [--team N] [--data-dir DIR]\n\n"
	       "stats prints parts, rows, bytes per row and per column, and shredded "
	       "property keys as JSON.\nverify reads every part and granule, checks "
	       "checksums, sort order and the indexes, and exits 1 on any problem.\n"
	       "merge merges the parts of every month now, dropping duplicate uuids.\n"
	       "delete removes a team's events (all, or those of one person, one event "
	       "name,\nand/or after <= timestamp < before) from disk; TS is epoch seconds, "
	       "YYYY-MM-DD\n(UTC midnight) or RFC 3339 with a fraction to the microsecond and Z "
	       "or an offset\n(2024-01-31T12:00:00Z, 2024-01-31T12:00:00.123+02:00). Events not "
	       "yet flushed from\nthe WAL are not affected.\n"
	       "ttl deletes events older than N days, 1 to %d (of one team, or all).\n"
	       "N (team ids, days) are whole numbers; an option that does not apply to the "
	       "command\nis an error.\n"
	       "merge, delete and ttl may run while the server runs; they are crash-safe.\n",
	       SN_STORE_RETENTION_DAYS_MAX);
	return rc;
}

/* The options of `snout store delete|ttl`, all checked before the store is
 * opened: each must apply to the verb (`ttl --days 30 --person X` quietly
 * expired every team's old events, `delete --team 1 --days 30` deleted all
 * of team 1), and every id, count and time must be whole and in range. */
struct store_args {
	struct sn_store_delete_spec spec;
	int64_t days;
	bool has_team;
};

static int store_args_parse(const char *verb, const struct opts *o, struct store_args *a,
			    struct sn_err *err)
{
	static const struct {
		const char *verb, *opts[6];
	} applies[] = {{"delete", {"--team", "--person", "--event", "--after", "--before", NULL}},
		       {"ttl", {"--days", "--team", NULL}}};
	*a = (struct store_args){.spec = {.after_us = INT64_MIN, .before_us = INT64_MAX}};
	for (int i = 0; i < o->n; i++) {
		bool ok = false;
		for (size_t v = 0; v < SN_ARRAY_LEN(applies); v++)
			for (int k = 0; strcmp(applies[v].verb, verb) == 0 && applies[v].opts[k];
			     k++)
				ok = ok || strcmp(applies[v].opts[k], o->names[i]) == 0;
		if (!ok)
			return sn_err_set(err, SN_ERR_INVALID, "%s does not apply to store %s",
					  o->names[i], verb);
	}
	const char *team = opt_get(o, "--team"), *days = opt_get(o, "--days"),
		   *pe = opt_get(o, "--person"), *ev = opt_get(o, "--event"),
		   *af = opt_get(o, "--after"), *bf = opt_get(o, "--before");
	int rc;
	if (strcmp(verb, "delete") == 0 && !team)
		return sn_err_set(err, SN_ERR_INVALID, "--team is required");
	if (strcmp(verb, "ttl") == 0 && !days)
		return sn_err_set(err, SN_ERR_INVALID, "--days is required");
	if (team && (rc = opt_id("--team", team, &a->spec.team_id, err)))
		return rc;
	a->has_team = team != NULL;
	if (days && (rc = opt_int("--days", days, 1, SN_STORE_RETENTION_DAYS_MAX, &a->days, err)))
		return rc;
	if (pe) {
		struct sn_uuid pu;
		if (sn_uuid_parse(pe, strlen(pe), &pu))
			return sn_err_set(err, SN_ERR_INVALID, "--person must be a uuid, not '%s'",
					  pe);
		a->spec.by_person = true;
		memcpy(a->spec.person_id, pu.b, 16);
	}
	if (ev && !*ev)
		return sn_err_set(err, SN_ERR_INVALID, "--event needs an event name");
	a->spec.event = ev;
	if ((af && (rc = parse_when("--after", af, &a->spec.after_us, err))) ||
	    (bf && (rc = parse_when("--before", bf, &a->spec.before_us, err))))
		return rc;
	if (a->spec.after_us >= a->spec.before_us)
		return sn_err_set(err, SN_ERR_INVALID,
				  "empty time range: --after must be before --before");
	return 0;
}

static int cmd_store(int argc, char **argv)
{
	static const char *const verbs[] = {"stats", "verify", "merge", "delete", "ttl", NULL};
	int v = -1;
	for (int i = 0; argc >= 1 && verbs[i]; i++)
		if (strcmp(argv[0], verbs[i]) == 0)
			v = i;
	if (argc < 1 || want_help(argc, argv) || v < 0)
		return store_usage(argc >= 1 && want_help(argc, argv) ? 0 : 2);
	static const char *const mine[] = {"--team",   "--person", "--event", "--after",
					   "--before", "--days",   NULL};
	struct opts o;
	struct sn_err err = {0};
	struct store_args sa;
	int rc = split_opts(argc - 1, argv + 1, mine, &o, &err);
	if (!rc && v <= 2 && o.n)
		rc = sn_err_set(&err, SN_ERR_INVALID, "%s does not apply to store %s", o.names[0],
				verbs[v]);
	if (!rc && v >= 3)
		rc = store_args_parse(verbs[v], &o, &sa, &err);
	if (rc) {
		fprintf(stderr, "snout store %s: %s (see snout store --help)\n", verbs[v], err.msg);
		return 2;
	}
	struct sn_config cfg;
	if (load_cfg("store", o.nrest, o.rest, &cfg))
		return 2;
	char dir[1200];
	snprintf(dir, sizeof(dir), "%s/store", cfg.data_dir);
	struct sn_buf b;
	sn_buf_init(&b, 0);
	rc = 0;
	if (v == 0) {
		if (sn_store_stats_json(dir, &b, &err))
			rc = die("store stats", err.msg);
		else
			printf("%s\n", b.data);
	} else if (v == 1) {
		uint64_t parts, rows, problems;
		if (sn_store_verify(dir, &b, &parts, &rows, &problems, &err)) {
			rc = die("store verify", err.msg);
		} else {
			if (b.len)
				fputs(b.data, stdout);
			printf("%llu part(s), %llu row(s), %llu problem(s)\n",
			       (unsigned long long)parts, (unsigned long long)rows,
			       (unsigned long long)problems);
			rc = problems ? 1 : 0;
		}
	} else {
		struct sn_store *st = NULL;
		struct sn_store_opts so = {.merge_max_mb_per_s = 0};
		if (sn_store_open(dir, &so, &st, &err))
			return die("store", err.msg);
		uint64_t t0 = sn_mono_ns();
		if (v == 2) {
			struct sn_store_merge_stats ms;
			struct sn_store_snapshot *snap = NULL;
			if (sn_store_merge(st, true, &ms, &err))
				rc = die("store merge", err.msg);
			else if ((snap = sn_store_snapshot_acquire(st)))
				printf(
				    "{\"merges\":%llu,\"parts_in\":%llu,\"rows_in\":%llu,"
				    "\"rows_out\":%llu,\"duplicates\":%llu,\"bytes_written\":%llu,"
				    "\"parts_now\":%zu,\"seconds\":%.3f}\n",
				    (unsigned long long)ms.merges, (unsigned long long)ms.parts_in,
				    (unsigned long long)ms.rows_in, (unsigned long long)ms.rows_out,
				    (unsigned long long)ms.dup_rows,
				    (unsigned long long)ms.bytes_written,
				    sn_store_snapshot_nparts(snap),
				    (double)(sn_mono_ns() - t0) / 1e9);
			sn_store_snapshot_release(snap);
		} else {
			struct sn_store_delete_result dr;
			int64_t tid = sa.spec.team_id, nd = sa.days;
			struct sn_store_ttl ttl = {.default_days = sa.has_team ? 0 : nd,
						   .nteams = sa.has_team ? 1 : 0,
						   .team_ids = &tid,
						   .days = &nd};
			int drc = v == 3 ? sn_store_delete(st, &sa.spec, &dr, &err)
					 : sn_store_apply_ttl(st, &ttl, sn_now_us(), &dr, &err);
			if (drc)
				rc = die(v == 3 ? "store delete" : "store ttl", err.msg);
			else
				printf("{\"parts_seen\":%llu,\"parts_rewritten\":%llu,"
				       "\"parts_dropped\":%llu,\"rows_deleted\":%llu,\"seconds\":%."
				       "3f}\n",
				       (unsigned long long)dr.parts_seen,
				       (unsigned long long)dr.parts_rewritten,
				       (unsigned long long)dr.parts_dropped,
				       (unsigned long long)dr.rows_deleted,
				       (double)(sn_mono_ns() - t0) / 1e9);
		}
		sn_store_close(st);
	}
	sn_buf_release(&b);
	return rc;
}

static int cmd_wal(int argc, char **argv)
{
	static const char *const mine[] = {"--from", NULL};
	if (argc < 1 || want_help(argc, argv) ||
	    (strcmp(argv[0], "dump") != 0 && strcmp(argv[0], "stats") != 0)) {
		printf("Usage:\n  snout wal dump [--from LSN] [--data-dir DIR]\n"
		       "  snout wal stats [--data-dir DIR]\n\n"
		       "dump prints one JSON object per record: "
		       "{\"lsn\",\"type\",\"record\":<payload>} (an event's JSON without "
		       "its index).\n");
		return argc >= 1 && want_help(argc, argv) ? 0 : 2;
	}
	struct opts o;
	struct sn_err err = {0};
	if (split_opts(argc - 1, argv + 1, mine, &o, &err))
		return die("wal", err.msg);
	struct sn_config cfg;
	if (load_cfg("wal", o.nrest, o.rest, &cfg))
		return 2;
	char dir[1200];
	snprintf(dir, sizeof(dir), "%s/wal", cfg.data_dir);
	const char *from = opt_get(&o, "--from");
	int64_t from_lsn = 0;
	if (from && opt_int("--from", from, 0, INT64_MAX, &from_lsn, &err))
		return die("wal", err.msg);
	uint64_t ckpt = 0;
	if (sn_wal_read_checkpoint(dir, &ckpt, &err))
		return die("wal", err.msg);
	struct sn_wal_reader *r;
	if (sn_wal_reader_open(&r, dir, from ? (uint64_t)from_lsn : ckpt, &err))
		return die("wal", err.msg);
	struct sn_wal_entry e;
	int rc;
	uint64_t nrec = 0, nbytes = 0, end = ckpt;
	while ((rc = sn_wal_reader_next(r, &e, &err)) == 1) {
		nrec++;
		nbytes += e.len;
		end = e.end_lsn;
		if (argv[0][0] == 'd' && e.type == SN_WAL_SCRUBBED) /* erased: zeros */
			printf("{\"lsn\":%llu,\"type\":%u,\"record\":null}\n",
			       (unsigned long long)e.lsn, e.type);
		else if (argv[0][0] == 'd') {
			/* An indexed event as its JSON (the index is positions in it). */
			uint32_t n = e.len;
			const char *d = sn_evix_json(e.type, e.data, e.len, &n);
			printf("{\"lsn\":%llu,\"type\":%u,\"record\":%.*s}\n",
			       (unsigned long long)e.lsn, e.type, d ? (int)n : 4, d ? d : "null");
		}
	}
	sn_wal_reader_close(r);
	if (rc < 0)
		return die("wal", err.msg);
	if (argv[0][0] == 's')
		printf("{\"checkpoint_lsn\":%llu,\"end_lsn\":%llu,\"records\":%llu,"
		       "\"payload_bytes\":%llu}\n",
		       (unsigned long long)ckpt, (unsigned long long)end, (unsigned long long)nrec,
		       (unsigned long long)nbytes);
	return 0;
}

/* Property types given on the command line (`--prop-type KIND:NAME=TYPE`,
 * KIND event, person or groupN), for the resolver of `hogql clickhouse`. */
struct cli_prop_type {
	int src, gi, type;
	const char *name;
};
struct cli_prop_types {
	struct cli_prop_type v[256];
	size_t n;
};

static int cli_prop_lookup(void *ctx, int src, int gi, const char *name)
{
	const struct cli_prop_types *p = ctx;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].src == src && p->v[i].gi == gi && strcmp(p->v[i].name, name) == 0)
			return p->v[i].type;
	return SN_HQPT_NONE;
}

/* Parses KIND:NAME=TYPE into p (the string is cut in place); false when bad. */
static bool cli_prop_type_add(struct cli_prop_types *p, char *spec)
{
	char *colon = strchr(spec, ':'), *eq = strrchr(spec, '=');
	if (!colon || !eq || eq < colon || p->n >= SN_ARRAY_LEN(p->v))
		return false;
	*colon = 0;
	*eq = 0;
	struct cli_prop_type t = {.gi = -1, .name = colon + 1};
	if (strcmp(spec, "event") == 0)
		t.src = SN_HQP_EVENT;
	else if (strcmp(spec, "person") == 0)
		t.src = SN_HQP_PERSON;
	else if (strncmp(spec, "group", 5) == 0 && spec[5] >= '0' && spec[5] <= '4' && !spec[6]) {
		t.src = SN_HQP_GROUP;
		t.gi = spec[5] - '0';
	} else
		return false;
	static const char *const names[] = {"", "String", "Numeric", "Boolean", "DateTime"};
	for (int k = 1; k < (int)SN_ARRAY_LEN(names); k++)
		if (strcmp(eq + 1, names[k]) == 0)
			t.type = k;
	if (!t.type || !t.name[0])
		return false;
	p->v[p->n++] = t;
	return true;
}

static const char hogql_usage[] =
    "Usage: snout hogql parse [--expr] [--no-positions] TEXT\n"
    "       snout hogql print [--expr] TEXT\n"
    "       snout hogql resolve [--expr] TEXT\n"
    "       snout hogql clickhouse [--team N] [--tz ZONE] [--week-monday]\n"
    "                              [--ch-version 18.16|24.8] [--json]\n"
    "                              [--cohort ID:NAME[:static] ...]\n"
    "                              [--prop-type KIND:NAME=TYPE ...] TEXT\n"
    "       snout hogql --lines     (stdin: a JSON array of the arguments above\n"
    "                               a line; stdout: {\"status\", \"stdout\"} a line)\n"
    "  (KIND event, person or group0..group4; TYPE String, Numeric,\n"
    "   Boolean or DateTime: the property definitions to type accesses by)\n";

/* snout hogql parse [--expr] [--no-positions] TEXT: the AST as one JSON line
 * on stdout (exit 0), or {"error", "type", "start", "end"} (exit 1).
 * snout hogql print [--expr] TEXT: the AST printed back as canonical HogQL.
 * snout hogql resolve [--expr] TEXT: {"hogql", "ast"} with types, or the
 * resolution error with positions (exit 1).
 * One command: what it prints on stdout goes to out (no newline), and the
 * exit status is returned (2: bad arguments). TEXT "-" reads stdin unless
 * `lines` (there stdin carries the commands). */
static int hogql_one(int argc, char **argv, struct sn_buf *out, bool lines)
{
	bool expr = false, pos = true, json = false;
	const char *text = NULL;
	struct sn_hogql_ch_opts chopts = {.team_id = 1, .timezone = "UTC"};
	struct sn_hogql_cohort cohorts[64];
	size_t ncohorts = 0;
	struct cli_prop_types ptypes = {.n = 0};
	struct sn_hogql_prop_types pt = {.lookup = cli_prop_lookup, .ctx = &ptypes};
	bool bad = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--prop-type") == 0 && i + 1 < argc)
			bad |= !cli_prop_type_add(&ptypes, argv[++i]);
		else if (strcmp(argv[i], "--expr") == 0)
			expr = true;
		else if (strcmp(argv[i], "--no-positions") == 0)
			pos = false;
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--week-monday") == 0)
			chopts.week_start_monday = true;
		else if (strcmp(argv[i], "--team") == 0 && i + 1 < argc)
			bad |= opt_id("--team", argv[++i], &chopts.team_id, NULL) != 0;
		else if (strcmp(argv[i], "--tz") == 0 && i + 1 < argc)
			chopts.timezone = argv[++i];
		else if (strcmp(argv[i], "--ch-version") == 0 && i + 1 < argc)
			bad |= sscanf(argv[++i], "%d.%d", &chopts.ch_major, &chopts.ch_minor) < 1;
		else if (strcmp(argv[i], "--cohort") == 0 && i + 1 < argc) {
			/* ID:NAME[:static] — the team's cohorts for IN COHORT. */
			char *spec = argv[++i], *name = strchr(spec, ':');
			struct sn_hogql_cohort *co = &cohorts[ncohorts < 64 ? ncohorts : 0];
			*co = (struct sn_hogql_cohort){0};
			if (ncohorts >= SN_ARRAY_LEN(cohorts) || !name ||
			    sn_parse_int(spec, (size_t)(name - spec), 1, INT64_MAX, &co->id)) {
				bad = true;
				continue;
			}
			*name++ = 0;
			char *kind = strrchr(name, ':');
			if (kind && strcmp(kind, ":static") == 0) {
				*kind = 0;
				co->is_static = true;
			}
			co->name = name;
			ncohorts++;
		} else
			text = argv[i];
	}
	bool print = argc >= 1 && strcmp(argv[0], "print") == 0;
	bool resolve = argc >= 1 && strcmp(argv[0], "resolve") == 0;
	bool ch = argc >= 1 && strcmp(argv[0], "clickhouse") == 0;
	chopts.cohorts = cohorts;
	chopts.ncohorts = ncohorts;
	if (argc < 1 || (strcmp(argv[0], "parse") != 0 && !print && !resolve && !ch) || !text ||
	    bad || (ch && expr) || (lines && strcmp(text, "-") == 0) || want_help(argc, argv))
		return 2;
	struct sn_buf in;
	sn_buf_init(&in, SN_HOGQL_MAX_QUERY_LEN + 1);
	if (strcmp(text, "-") == 0) {
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			if (sn_buf_append(&in, chunk, n) < 0)
				break;
	} else {
		sn_buf_appends(&in, text);
	}
	struct sn_arena arena;
	sn_arena_init(&arena, (size_t)256 << 20);
	struct sn_hogql_node *ast = NULL;
	struct sn_hogql_error err = {0};
	const char *src = in.data ? in.data : "";
	int rc = expr ? sn_hogql_parse_expr(&arena, src, in.len, &ast, &err)
		      : sn_hogql_parse_select(&arena, src, in.len, &ast, &err);
	if (rc == 0 && ch) {
		/* The SQL with values inlined, or {"sql", "values"} with --json. */
		rc = sn_hogql_resolve(
		    &arena, ast, src, in.len,
		    &(struct sn_hogql_resolve_opts){.team_id = chopts.team_id, .prop_types = &pt},
		    &err);
		struct sn_buf sql;
		sn_buf_init(&sql, (size_t)64 << 20);
		struct sn_hogql_ch_values vals = {0};
		if (rc == 0)
			rc = sn_hogql_print_clickhouse(&arena, ast, &chopts, &sql, &vals, src,
						       in.len, &err);
		if (rc == 0 && json) {
			rc = sn_buf_appends(out, "{\"sql\":");
			if (rc == 0)
				rc = sn_buf_append_json_str(out, sql.data ? sql.data : "", sql.len);
			if (rc == 0)
				rc = sn_buf_appends(out, ",\"values\":{");
			for (size_t i = 0; rc == 0 && i < vals.n; i++) {
				rc = sn_buf_appendf(out, "%s\"hogql_val_%zu\":", i ? "," : "", i);
				if (rc == 0)
					rc = sn_buf_append_json_str(out, vals.items[i],
								    strlen(vals.items[i]));
			}
			if (rc == 0)
				rc = sn_buf_appends(out, "}}");
		} else if (rc == 0) {
			rc = sn_hogql_ch_inline(out, sql.data ? sql.data : "", sql.len, &vals);
		} else {
			sn_hogql_error_json(out, &err);
		}
		sn_buf_release(&sql);
	} else if (rc == 0 && resolve) {
		rc = sn_hogql_resolve(&arena, ast, src, in.len, NULL, &err);
		if (rc == 0) {
			/* {"hogql": canonical text with the applied LIMIT, "ast": ...} */
			struct sn_buf txt;
			sn_buf_init(&txt, (size_t)16 << 20);
			rc = expr ? sn_hogql_print_expr(&txt, ast) : sn_hogql_print(&txt, ast);
			if (rc > 0)
				rc = 0; /* printed; only the round trip is imperfect */
			if (rc == 0)
				rc = sn_buf_appends(out, "{\"hogql\":");
			if (rc == 0)
				rc = sn_buf_append_json_str(out, txt.data ? txt.data : "", txt.len);
			if (rc == 0)
				rc = sn_buf_appends(out, ",\"ast\":");
			if (rc == 0)
				rc = sn_hogql_ast_json(out, ast, NULL, 0);
			if (rc == 0)
				rc = sn_buf_appends(out, "}");
			sn_buf_release(&txt);
		} else {
			sn_hogql_error_json(out, &err);
		}
	} else if (rc == 0 && print) {
		rc = expr ? sn_hogql_print_expr(out, ast) : sn_hogql_print(out, ast);
		if (rc > 0)
			rc = 0; /* printed; only the round trip is imperfect */
	} else if (rc == 0) {
		rc = sn_hogql_ast_json(out, ast, pos ? src : NULL, in.len);
	} else {
		sn_hogql_error_json(out, &err);
	}
	sn_arena_release(&arena);
	sn_buf_release(&in);
	return rc == 0 ? 0 : 1;
}

/* snout hogql --lines: many commands in one process (the differential tests
 * print thousands of statements; a process each cost 30-70 ms). Each stdin
 * line is a JSON array of one command's arguments, as they would follow
 * `snout hogql`; each gets one stdout line {"status": the exit status the
 * command would have, "stdout": what it would print, without the newline},
 * or {"status": 2, "error": why} for a line that is not such an array or
 * arguments that are not a command. Flushed a line at a time, so a client
 * may also talk to it one command at a time. Exits 0 at the end of input. */
static int hogql_lines(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct sn_buf out, res;
	sn_buf_init(&out, (size_t)64 << 20);
	sn_buf_init(&res, (size_t)160 << 20);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		struct json_object *j = NULL;
		struct sn_err e = {0};
		char *args[256];
		int nargs = 0, status = 2;
		const char *why = NULL;
		out.len = 0;
		res.len = 0;
		if (sn_json_parse(line, (size_t)n, &j, &e))
			why = e.msg;
		else if (!json_object_is_type(j, json_type_array) ||
			 json_object_array_length(j) > SN_ARRAY_LEN(args))
			why = "a line must be a JSON array of at most 256 arguments";
		for (size_t i = 0; !why && i < json_object_array_length(j); i++) {
			struct json_object *a = json_object_array_get_idx(j, i);
			if (!json_object_is_type(a, json_type_string))
				why = "every argument must be a JSON string";
			else if (!(args[nargs] = strdup(json_object_get_string(a))))
				why = "out of memory";
			else
				nargs++;
		}
		if (!why && nargs && strcmp(args[nargs - 1], "-") == 0)
			why = "TEXT - (stdin) cannot be used with --lines: give the text itself";
		if (!why) {
			status = hogql_one(nargs, args, &out, true);
			if (status == 2)
				why = "not a hogql command (see snout hogql --help)";
		}
		int rc = sn_buf_appendf(&res, "{\"status\":%d,", status);
		if (rc == 0 && why)
			rc = sn_buf_appends(&res, "\"error\":");
		else if (rc == 0)
			rc = sn_buf_appends(&res, "\"stdout\":");
		if (rc == 0)
			rc = why ? sn_buf_append_json_str(&res, why, strlen(why))
				 : sn_buf_append_json_str(&res, out.data ? out.data : "", out.len);
		if (rc == 0)
			rc = sn_buf_appends(&res, "}");
		if (rc)
			fputs("{\"status\":1,\"error\":\"the result is too large\"}\n", stdout);
		else
			printf("%s\n", res.data);
		fflush(stdout);
		for (int i = 0; i < nargs; i++)
			free(args[i]);
		json_object_put(j);
	}
	free(line);
	sn_buf_release(&out);
	sn_buf_release(&res);
	return ferror(stdin) ? 1 : 0;
}

static int cmd_hogql(int argc, char **argv)
{
	if (argc == 1 && strcmp(argv[0], "--lines") == 0)
		return hogql_lines();
	struct sn_buf out;
	sn_buf_init(&out, (size_t)64 << 20);
	int rc = hogql_one(argc, argv, &out, false);
	if (rc == 2)
		fputs(hogql_usage, stderr);
	else if (out.data)
		printf("%s\n", out.data);
	sn_buf_release(&out);
	return rc;
}

/* Reads a whole file ("-" = stdin) into b. */
static int read_all(const char *path, struct sn_buf *b, struct sn_err *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return sn_err_set(err, SN_ERR_IO, "cannot open %s", path);
	char chunk[65536];
	size_t n;
	int rc = 0;
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = sn_buf_append(b, chunk, n);
	if (rc)
		sn_err_set(err, rc, "%s is too large", path);
	else if (ferror(f))
		rc = sn_err_set(err, SN_ERR_IO, "cannot read %s", path);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* snout persons import: one person per JSON line, through the identity
 * rules (persons/import.c). A running server notices the commits
 * (data_version) and drops its identity cache before its next event. */
static int cmd_persons(int argc, char **argv)
{
	static const char *const mine[] = {"--team", NULL};
	struct opts o;
	struct sn_err e = {0};
	if (argc < 1 || want_help(argc, argv) || strcmp(argv[0], "import") != 0 ||
	    split_opts(argc - 1, argv + 1, mine, &o, &e) || !o.nrest ||
	    strncmp(o.rest[o.nrest - 1], "--", 2) == 0) {
		fprintf(
		    stderr,
		    "%s%sUsage: snout persons import [--team ID] [--data-dir DIR] FILE\n"
		    "  FILE (or - for stdin) holds one JSON object per line:\n"
		    "  {\"distinct_ids\": [\"a\", ...], \"properties\": {...}, "
		    "\"created_at\": \"2020-01-09T12:00:00Z\"}\n"
		    "  or a group: {\"group_type\": \"organization\", \"group_key\": \"org:5\", "
		    "\"properties\": {...}}\n"
		    "  A line's \"team_id\" names its project; --team is the one of lines "
		    "without.\n",
		    e.msg, e.msg[0] ? "\n" : "");
		return want_help(argc, argv) ? 0 : 2;
	}
	struct sn_config cfg;
	if (load_cfg("persons", o.nrest - 1, o.rest, &cfg))
		return 2;
	int64_t team_default = 0;
	if (opt_get(&o, "--team") && opt_id("--team", opt_get(&o, "--team"), &team_default, &e))
		return die("persons import", e.msg);
	struct sn_meta *m = NULL;
	if (sn_open_meta(&cfg, &m, NULL, &e))
		return die("persons import", e.msg);
	struct sn_buf in;
	sn_buf_init(&in, (size_t)1 << 30);
	if (read_all(o.rest[o.nrest - 1], &in, &e)) {
		sn_buf_release(&in);
		sn_meta_close(m);
		return die("persons import", e.msg);
	}
	struct sn_persons *p = NULL;
	if (sn_persons_open(&p, cfg.data_dir, NULL, &e)) {
		sn_buf_release(&in);
		sn_meta_close(m);
		return die("persons import", e.msg);
	}
	int rc = 0;
	size_t line = 0, done = 0;
	int64_t known = 0; /* the last project checked to exist */
	bool per_line = false;
	/* Not strtok: it skips empty lines, and the numbers in errors would
	 * not be the file's. */
	char *next = in.data;
	for (char *l = next; l && rc == 0; l = next) {
		char *nl = strchr(l, '\n');
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		line++;
		if (!*l || strspn(l, " \t\r") == strlen(l))
			continue;
		struct json_object *j = NULL;
		struct json_object *ids = NULL, *props = NULL, *created = NULL;
		int64_t at = sn_now_us();
		const char *idv[256];
		size_t nid = 0;
		struct json_object *gt = NULL, *gk = NULL;
		struct json_object *tj = NULL;
		int64_t team = team_default;
		if (sn_json_parse(l, strlen(l), &j, &e) ||
		    !json_object_is_type(j, json_type_object)) {
			if (!e.msg[0])
				sn_err_set(&e, SN_ERR_INVALID, "a line must be a JSON object");
			rc = 1;
		} else if (json_object_object_get_ex(j, "team_id", &tj) && (per_line = true) &&
			   (!json_object_is_type(tj, json_type_int) ||
			    (team = json_object_get_int64(tj)) <= 0)) {
			sn_err_set(&e, SN_ERR_INVALID, "team_id must be a project id");
			rc = 1;
		} else if (!team) {
			sn_err_set(&e, SN_ERR_INVALID, "no project: give --team or a team_id");
			rc = 1;
		} else if (team != known) {
			struct sn_team t;
			if (sn_meta_team_get(m, team, &t, &e)) {
				sn_err_set(&e, SN_ERR_NOT_FOUND, "no project with id %lld",
					   (long long)team);
				rc = 1;
			} else {
				known = team;
			}
		}
		if (rc) {
			/* reported below */
		} else if (json_object_object_get_ex(j, "group_type", &gt)) {
			/* A group: {"group_type", "group_key", "properties", "created_at"}. */
			struct json_object *gi = NULL;
			json_object_object_get_ex(j, "group_key", &gk);
			json_object_object_get_ex(j, "properties", &props);
			json_object_object_get_ex(j, "group_type_index", &gi);
			int want = gi && json_object_is_type(gi, json_type_int)
				       ? json_object_get_int(gi)
				       : -1;
			if (json_object_object_get_ex(j, "created_at", &created) &&
			    json_object_is_type(created, json_type_string) &&
			    sn_capture_parse_timestamp(json_object_get_string(created),
						       json_object_get_string_len(created), &at)) {
				sn_err_set(&e, SN_ERR_INVALID,
					   "created_at must be an ISO 8601 date-time");
				rc = 1;
			} else if (!json_object_is_type(gt, json_type_string) ||
				   (gk && !json_object_is_type(gk, json_type_string) &&
				    !json_object_is_type(gk, json_type_null))) {
				sn_err_set(&e, SN_ERR_INVALID,
					   "group_type and group_key must be strings");
				rc = 1;
			} else if (sn_persons_import_group(
				       p, team, json_object_get_string(gt), want,
				       gk && json_object_is_type(gk, json_type_string)
					   ? json_object_get_string(gk)
					   : NULL,
				       props && json_object_is_type(props, json_type_object) ? props
											     : NULL,
				       at, NULL, &e)) {
				rc = 1;
			}
		} else if (!json_object_object_get_ex(j, "distinct_ids", &ids) ||
			   !json_object_is_type(ids, json_type_array) ||
			   json_object_array_length(ids) == 0 ||
			   json_object_array_length(ids) > 256) {
			sn_err_set(&e, SN_ERR_INVALID,
				   "distinct_ids must be a list of 1 to 256 strings");
			rc = 1;
		} else {
			nid = json_object_array_length(ids);
			for (size_t i = 0; i < nid && rc == 0; i++) {
				struct json_object *v = json_object_array_get_idx(ids, i);
				if (!json_object_is_type(v, json_type_string) ||
				    !json_object_get_string_len(v)) {
					sn_err_set(&e, SN_ERR_INVALID,
						   "distinct_ids must be non-empty strings");
					rc = 1;
				}
				idv[i] = json_object_get_string(v);
			}
			json_object_object_get_ex(j, "properties", &props);
			if (rc == 0 && json_object_object_get_ex(j, "created_at", &created) &&
			    !json_object_is_type(created, json_type_null) &&
			    (!json_object_is_type(created, json_type_string) ||
			     sn_capture_parse_timestamp(json_object_get_string(created),
							json_object_get_string_len(created),
							&at))) {
				sn_err_set(&e, SN_ERR_INVALID,
					   "created_at must be an ISO 8601 date-time");
				rc = 1;
			}
			if (rc == 0 && props && json_object_is_type(props, json_type_null))
				props = NULL;
			if (rc == 0 && sn_persons_import(p, team, idv, nid, props, at, NULL, &e))
				rc = 1;
		}
		json_object_put(j);
		if (rc) {
			char msg[700];
			snprintf(msg, sizeof(msg), "line %zu: %s (%zu earlier line(s) imported)",
				 line, e.msg, done);
			die("persons import", msg);
		} else {
			done++;
		}
	}
	sn_persons_close(p);
	sn_meta_close(m);
	sn_buf_release(&in);
	if (rc == 0 && !per_line)
		printf("imported %zu persons into project %lld\n", done, (long long)team_default);
	else if (rc == 0)
		printf("imported %zu persons and groups into the projects their lines name\n",
		       done);
	return rc;
}

/* snout query --insight: one insight query node on the local data. */
static int run_insight_cli(const struct sn_config *cfg, int64_t team_id, const char *file,
			   const char *now, struct sn_persons *persons, const char *store_dir)
{
	struct sn_err e = {0};
	struct sn_buf in;
	sn_buf_init(&in, (size_t)64 << 20);
	int rc = read_all(file, &in, &e);
	struct json_object *q = NULL, *taf = NULL, *pcf = NULL;
	if (rc == 0)
		rc = sn_json_parse(in.data ? in.data : "", in.len, &q, &e);
	sn_buf_release(&in);
	if (rc)
		return die("query", e.msg);
	int64_t now_us = 0;
	if (now && sn_capture_parse_timestamp(now, strlen(now), &now_us)) {
		json_object_put(q);
		return die("query",
			   "--now must be an ISO 8601 date-time like 2020-01-19T23:59:59Z");
	}
	/* {"query": {...}} as the API takes it, or the node itself. */
	struct json_object *node = q, *inner = NULL;
	if (json_object_object_get_ex(q, "query", &inner) &&
	    json_object_is_type(inner, json_type_object))
		node = inner;
	struct sn_meta *m = NULL;
	struct sn_team team = {0};
	snprintf(team.timezone, sizeof(team.timezone), "UTC");
	/* Project settings come from the metadata database when there is one
	 * (a bare store, as the benchmarks write, is read as a UTC project). */
	char mpath[1200];
	snprintf(mpath, sizeof(mpath), "%s/meta.sqlite3", cfg->data_dir);
	if (access(mpath, F_OK) == 0 && sn_open_meta(cfg, &m, NULL, &e) == 0 &&
	    sn_meta_team_get(m, team_id, &team, &e)) {
		sn_meta_close(m);
		json_object_put(q);
		return die("query", e.msg);
	}
	if (team.test_account_filters[0])
		sn_json_parse(team.test_account_filters, strlen(team.test_account_filters), &taf,
			      &e);
	if (team.path_cleaning_filters[0])
		sn_json_parse(team.path_cleaning_filters, strlen(team.path_cleaning_filters), &pcf,
			      &e);
	struct sn_api_exec_backend be = {.store_dir = store_dir,
					 .team_id = team_id,
					 .persons = persons,
					 .timezone = team.timezone,
					 .now_us = now_us,
					 .meta = m};
	sn_api_prop_types(&be.ptypes, m, team_id);
	struct sn_insight_opts o = {.team = {.id = team_id,
					     .timezone = team.timezone,
					     .week_start_day = team.week_start_day,
					     .test_account_filters = taf,
					     .path_cleaning_filters = pcf},
				    .now_us = now_us,
				    .backend = {.ctx = &be,
						.query = sn_api_exec_backend_query,
						.stream = sn_api_exec_backend_stream}};
	struct sn_api_action_ctx actx = {.meta = m, .team_id = team_id};
	if (m) {
		o.action = sn_api_action_lookup;
		o.action_ctx = &actx;
		o.cohort_name = sn_api_cohort_name;
		o.cohort_ctx = &actx;
	}
	struct sn_buf out;
	sn_buf_init(&out, (size_t)256 << 20);
	struct sn_insight_error ierr;
	rc = sn_insight_run(&o, node, &out, &ierr);
	if (rc == 0)
		printf("%s\n", out.data ? out.data : "{}");
	else
		fprintf(stderr, "snout query: %s (%s)\n",
			ierr.msg[0] ? ierr.msg : "the insight failed", ierr.type);
	sn_buf_release(&out);
	json_object_put(taf);
	json_object_put(pcf);
	json_object_put(q);
	sn_meta_close(m);
	return rc == 0 ? 0 : 1;
}

/* The only team of the data directory's metadata (snout query without
 * --team): 0 after printing why there is no single one. */
static int count_team(void *arg, const struct sn_team *t)
{
	int64_t *ids = arg;
	if (ids[0] < 8)
		ids[1 + ids[0]] = t->id;
	ids[0]++;
	return 0;
}

static int64_t only_team(const struct sn_config *cfg)
{
	char mpath[1300];
	snprintf(mpath, sizeof(mpath), "%s/meta.sqlite3", cfg->data_dir);
	struct sn_meta *meta = NULL;
	struct sn_err e = {0};
	int64_t ids[9] = {0};
	if (access(mpath, F_OK) != 0) {
		fprintf(stderr, "snout query: %s has no metadata (meta.sqlite3): pass --team\n",
			cfg->data_dir);
		return 0;
	}
	if (sn_open_meta(cfg, &meta, NULL, &e) || sn_meta_team_list(meta, count_team, ids, &e)) {
		if (meta)
			sn_meta_close(meta);
		fprintf(stderr, "snout query: %s\n", e.msg);
		return 0;
	}
	sn_meta_close(meta);
	if (ids[0] == 1)
		return ids[1];
	if (ids[0] == 0)
		fprintf(stderr, "snout query: %s has no teams\n", cfg->data_dir);
	else {
		fprintf(stderr, "snout query: %s has %lld teams (", cfg->data_dir,
			(long long)ids[0]);
		for (int64_t k = 0; k < ids[0] && k < 8; k++)
			fprintf(stderr, "%s%lld", k ? ", " : "", (long long)ids[1 + k]);
		fprintf(stderr, "%s): pass --team\n", ids[0] > 8 ? ", ..." : "");
	}
	return 0;
}

/* Prints a query answer (PostHog's response JSON) in fmt, or the error body
 * as JSON (--format json, exit 1) or as a line on stderr (the others). */
static int print_answer(const char *body, size_t len, bool ok, enum sn_cli_format fmt)
{
	if (!ok) {
		if (fmt == SN_CLI_JSON) {
			printf("%.*s\n", (int)len, body);
			return 1;
		}
		char line[1200];
		sn_cli_error_line(body, len, line, sizeof(line));
		fprintf(stderr, "snout query: %s\n", line);
		return 1;
	}
	struct sn_buf out;
	struct sn_err e = {0};
	sn_buf_init(&out, (size_t)1 << 31);
	int rc = sn_cli_render(&out, body, len, fmt, &e);
	if (rc == 0)
		fwrite(out.data ? out.data : "", 1, out.len, stdout);
	else
		fprintf(stderr, "snout query: %s\n", e.msg);
	sn_buf_release(&out);
	return rc ? 1 : 0;
}

/* snout query: runs one HogQL SELECT on the local store of a team, or on a
 * running server (--url, with a personal API key). */
static int cmd_query(int argc, char **argv)
{
	static const char *const mine[] = {"--team", "--format", "--time-limit-ms", "--insight",
					   "--now",  "--url",	 "--api-key",	    NULL};
	struct opts o;
	struct sn_err e = {0};
	bool bad = want_help(argc, argv) || split_opts(argc, argv, mine, &o, &e);
	if (!bad && !opt_get(&o, "--insight"))
		bad = !o.nrest || strncmp(o.rest[o.nrest - 1], "--", 2) == 0;
	if (bad) {
		fprintf(
		    stderr,
		    "%s%sUsage: snout query [--team ID] [--format table|json|csv|tsv] "
		    "[--time-limit-ms N] [--data-dir DIR] 'SELECT ...'\n"
		    "       snout query --url URL --team ID [--api-key KEY] "
		    "[--format table|json|csv|tsv] 'SELECT ...'\n"
		    "       snout query --team ID --insight FILE|- [--now ISO] [--data-dir DIR]\n"
		    "The table format is the default; --team defaults to the data directory's "
		    "only\n"
		    "team; --url asks a running server (POST /api/projects/ID/query/) with the\n"
		    "personal API key of --api-key or $SNOUT_API_KEY; --time-limit-ms is 1 to "
		    "86400000.\n",
		    e.msg, e.msg[0] ? "\n" : "");
		return want_help(argc, argv) ? 0 : 2;
	}
	/* A day bounds the time limit (and the remote request's timeout). */
	int64_t team_id = 0, limit_ms = 0;
	const char *tl = opt_get(&o, "--time-limit-ms");
	if ((opt_get(&o, "--team") && opt_id("--team", opt_get(&o, "--team"), &team_id, &e)) ||
	    (tl && opt_int("--time-limit-ms", tl, 1, 86400000, &limit_ms, &e)))
		return die("query", e.msg);
	if (opt_get(&o, "--insight")) {
		if (!opt_get(&o, "--team"))
			return die("query", "--insight needs --team");
		struct sn_config icfg;
		if (load_cfg("query", o.nrest, o.rest, &icfg))
			return 2;
		char sdir[1200], pp[1300];
		snprintf(sdir, sizeof(sdir), "%s/store", icfg.data_dir);
		snprintf(pp, sizeof(pp), "%s/persons.sqlite3", icfg.data_dir);
		struct sn_persons *ps = NULL;
		if (access(pp, F_OK) == 0 && sn_persons_open(&ps, icfg.data_dir, NULL, &e))
			return die("query", e.msg);
		int irc = run_insight_cli(&icfg, team_id, opt_get(&o, "--insight"),
					  opt_get(&o, "--now"), ps, sdir);
		sn_persons_close(ps);
		return irc;
	}
	enum sn_cli_format fmt = SN_CLI_TABLE;
	if (opt_get(&o, "--format") && sn_cli_format_parse(opt_get(&o, "--format"), &fmt)) {
		fprintf(stderr,
			"snout query: --format must be table, json, csv or tsv (got '%s')\n",
			opt_get(&o, "--format"));
		return 2;
	}
	const char *text = o.rest[o.nrest - 1];
	const char *url = opt_get(&o, "--url");
	if (url) { /* a running server answers */
		if (!opt_get(&o, "--team"))
			return die("query", "--url needs --team (the project id)");
		const char *key =
		    opt_get(&o, "--api-key") ? opt_get(&o, "--api-key") : getenv("SNOUT_API_KEY");
		struct sn_buf resp;
		sn_buf_init(&resp, (size_t)1 << 31);
		long status = 0;
		int rc =
		    sn_cli_query_remote(url, key ? key : "", team_id, text,
					tl ? (long)limit_ms + 10000 : 300000, &status, &resp, &e);
		if (rc == 0)
			rc = print_answer(resp.data ? resp.data : "", resp.len, status == 200, fmt);
		else
			fprintf(stderr, "snout query: %s\n", e.msg);
		sn_buf_release(&resp);
		return rc ? 1 : 0;
	}
	struct sn_config cfg;
	if (load_cfg("query", o.nrest - 1, o.rest, &cfg))
		return 2;
	int64_t team = opt_get(&o, "--team") ? team_id : only_team(&cfg);
	if (team <= 0)
		return 2;
	char dir[1200];
	snprintf(dir, sizeof(dir), "%s/store", cfg.data_dir);
	/* The data dir's person store, when there is one (a store without
	 * persons still answers; person fields then read NULL). */
	struct sn_persons *persons = NULL;
	char ppath[1300];
	snprintf(ppath, sizeof(ppath), "%s/persons.sqlite3", cfg.data_dir);
	if (access(ppath, F_OK) == 0 && sn_persons_open(&persons, cfg.data_dir, NULL, &e))
		return die("query", e.msg);
	struct sn_exec_opts xo = {.store_dir = dir,
				  .team_id = team,
				  .time_limit_us = limit_ms * 1000,
				  .persons = persons};
	/* The team's cohorts (IN COHORT 'name') and actions (matchesAction)
	 * from the metadata database, when there is one. */
	struct sn_meta *meta = NULL;
	struct sn_arena ca;
	sn_arena_init(&ca, (size_t)16 << 20);
	char mpath[1300];
	snprintf(mpath, sizeof(mpath), "%s/meta.sqlite3", cfg.data_dir);
	if (access(mpath, F_OK) == 0 && sn_open_meta(&cfg, &meta, NULL, &e) == 0 &&
	    sn_api_exec_meta(meta, &xo, &ca, &e)) {
		sn_meta_close(meta);
		return die("query", e.msg);
	}
	struct sn_api_prop_types ptypes; /* the team's property types, as the server's queries */
	xo.prop_types = sn_api_prop_types(&ptypes, meta, xo.team_id);
	struct sn_exec_result res;
	struct sn_hogql_error herr = {0};
	struct sn_buf out;
	sn_buf_init(&out, (size_t)1 << 30);
	int rc = sn_exec_query(&xo, text, strlen(text), &res, &herr);
	sn_arena_release(&ca);
	if (meta)
		sn_meta_close(meta);
	if (rc == 0) {
		/* tsv straight from the result (exact ClickHouse text of every
		 * type); the others from the response JSON, as a server's */
		rc = fmt == SN_CLI_TSV ? sn_exec_result_tsv(&out, &res)
				       : sn_exec_result_json(&out, &res);
		sn_exec_result_release(&res);
		if (rc)
			fprintf(stderr, "snout query: the result is too large to print\n");
		else if (fmt == SN_CLI_TSV)
			fwrite(out.data ? out.data : "", 1, out.len, stdout);
		else
			rc = print_answer(out.data ? out.data : "", out.len, true, fmt);
	} else {
		sn_hogql_error_json(&out, &herr);
		rc = print_answer(out.data ? out.data : "{}", out.len, false, fmt);
	}
	sn_buf_release(&out);
	sn_persons_close(persons);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("snout %s\n", SNOUT_VERSION);
		return 0;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(cmd, "migrate") == 0)
		return cmd_migrate(argc - 2, argv + 2);
	if (strcmp(cmd, "team") == 0)
		return cmd_team(argc - 2, argv + 2);
	if (strcmp(cmd, "user") == 0)
		return cmd_user(argc - 2, argv + 2);
	if (strcmp(cmd, "apikey") == 0)
		return cmd_apikey(argc - 2, argv + 2);
	if (strcmp(cmd, "wal") == 0)
		return cmd_wal(argc - 2, argv + 2);
	if (strcmp(cmd, "store") == 0)
		return cmd_store(argc - 2, argv + 2);
	if (strcmp(cmd, "hogql") == 0)
		return cmd_hogql(argc - 2, argv + 2);
	if (strcmp(cmd, "query") == 0)
		return cmd_query(argc - 2, argv + 2);
	if (strcmp(cmd, "persons") == 0)
		return cmd_persons(argc - 2, argv + 2);
	fprintf(stderr, "snout: unknown command '%s' (see snout --help)\n", cmd);
	return 2;
}
