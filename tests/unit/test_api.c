/*
 * test_api.c — settings: defaults, the config file, environment variables and
 * flags with their precedence, and the error messages for bad values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"

static char cfgpath[256];

static void write_file(const char *text)
{
	const char *tmp = getenv("SNOUT_TEST_TMP");
	char dir[200];
	snprintf(dir, sizeof(dir), "%s", tmp && *tmp ? tmp : "/tmp");
	sn_mkdir_p(dir, NULL);
	snprintf(cfgpath, sizeof(cfgpath), "%s/test_api_%d.conf", dir, (int)getpid());
	FILE *f = fopen(cfgpath, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void clear_env(void)
{
	unsetenv("SNOUT_LISTEN");
	unsetenv("SNOUT_DATA_DIR");
	unsetenv("SNOUT_CONFIG");
	unsetenv("SNOUT_BATCH_BODY_MAX");
	unsetenv("SNOUT_TEAM_RETENTION");
}

static void test_defaults(void **state)
{
	(void)state;
	clear_env();
	struct sn_config c;
	struct sn_err err;
	assert_int_equal(sn_config_load(&c, 0, NULL, &err), 0);
	assert_string_equal(c.listen, "127.0.0.1:8000");
	assert_string_equal(c.data_dir, "./snout-data");
	assert_int_equal(c.batch_body_max, 20u << 20);
	assert_int_equal(c.event_body_max, 2u << 20);
	assert_int_equal(c.shutdown_grace_ms, 10000);
	assert_int_equal(c.store_flush_age_ms, 1000);
	assert_int_equal(c.memtable_bytes, 256u << 20);
	assert_false(c.trust_proxy);
	assert_true(c.access_log);
}

static void test_precedence(void **state)
{
	(void)state;
	clear_env();
	write_file("# comment\nlisten = 127.0.0.1:1111\ndata_dir = \"/from/file\"\n"
		   "batch_body_max=1MiB\n\ntrust_proxy = yes\n");
	struct sn_config c;
	struct sn_err err;
	char *argv1[] = {"--config", cfgpath};
	assert_int_equal(sn_config_load(&c, 2, argv1, &err), 0);
	assert_string_equal(c.listen, "127.0.0.1:1111");
	assert_string_equal(c.data_dir, "/from/file");
	assert_int_equal(c.batch_body_max, 1u << 20);
	assert_true(c.trust_proxy);
	/* Environment beats the file. */
	setenv("SNOUT_LISTEN", "127.0.0.1:2222", 1);
	assert_int_equal(sn_config_load(&c, 2, argv1, &err), 0);
	assert_string_equal(c.listen, "127.0.0.1:2222");
	/* Flags beat the environment, in either spelling, wherever --config is. */
	char *argv2[] = {"--listen=127.0.0.1:3333", "--config", cfgpath, "--data-dir", "/flag"};
	assert_int_equal(sn_config_load(&c, 5, argv2, &err), 0);
	assert_string_equal(c.listen, "127.0.0.1:3333");
	assert_string_equal(c.data_dir, "/flag");
	/* SNOUT_CONFIG names the file when no flag does. */
	setenv("SNOUT_CONFIG", cfgpath, 1);
	assert_int_equal(sn_config_load(&c, 0, NULL, &err), 0);
	assert_string_equal(c.data_dir, "/from/file");
	/* A bare boolean flag. */
	char *argv3[] = {"--trust-proxy", "--access-log", "false"};
	unsetenv("SNOUT_CONFIG");
	assert_int_equal(sn_config_load(&c, 3, argv3, &err), 0);
	assert_true(c.trust_proxy);
	assert_false(c.access_log);
	/* The store's two (documented in the README, missing until session 49). */
	char *argv4[] = {"--memtable-size", "64MiB", "--store-flush-age=250ms"};
	assert_int_equal(sn_config_load(&c, 3, argv4, &err), 0);
	assert_int_equal(c.memtable_bytes, 64u << 20);
	assert_int_equal(c.store_flush_age_ms, 250);
	clear_env();
	unlink(cfgpath);
}

static void test_errors(void **state)
{
	(void)state;
	clear_env();
	struct sn_config c;
	struct sn_err err;
	char *a1[] = {"--batch-body-max", "lots"};
	assert_int_equal(sn_config_load(&c, 2, a1, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "batch_body_max"));
	char *a2[] = {"--no-such-flag", "1"};
	assert_int_equal(sn_config_load(&c, 2, a2, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "unknown flag '--no-such-flag'"));
	char *a3[] = {"--listen"};
	assert_int_equal(sn_config_load(&c, 1, a3, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "needs a value"));
	write_file("listen = 127.0.0.1:1\nbogus = 1\n");
	char *a4[] = {"--config", cfgpath};
	assert_int_equal(sn_config_load(&c, 2, a4, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, ":2: unknown setting 'bogus'"));
	write_file("log_level = loud\n");
	assert_int_equal(sn_config_load(&c, 2, a4, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "log_level"));
	unlink(cfgpath);
	char *a5[] = {"--config", "/nonexistent/snout.conf"};
	assert_int_equal(sn_config_load(&c, 2, a5, &err), SN_ERR_IO);
	assert_non_null(strstr(err.msg, "/nonexistent/snout.conf"));
	setenv("SNOUT_BATCH_BODY_MAX", "0", 1);
	assert_int_equal(sn_config_load(&c, 0, NULL, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "SNOUT_BATCH_BODY_MAX"));
	clear_env();
}

/* Retention days have one limit everywhere (SN_STORE_RETENTION_DAYS_MAX):
 * a team_retention of 200000000 days once started a server that deleted
 * the team's events within a minute (the cutoff wrapped into the future).
 * Now it does not start, and says which setting is wrong. */
static void test_retention_limits(void **state)
{
	(void)state;
	clear_env();
	struct sn_config c;
	struct sn_err err;
	char *ok[] = {"--retention-days", "36500", "--team-retention", "1:36500,2:0,3:30"};
	assert_int_equal(sn_config_load(&c, 4, ok, &err), 0);
	assert_int_equal(c.retention_days, 36500);
	assert_string_equal(c.team_retention, "1:36500,2:0,3:30");
	static const char *const bad_days[] = {"36501", "200000000", "-1", "1x", "", " 5"};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad_days); i++) {
		char *a[] = {"--retention-days", (char *)bad_days[i]};
		assert_int_equal(sn_config_load(&c, 2, a, &err), SN_ERR_INVALID);
		assert_non_null(strstr(err.msg, "retention_days"));
		assert_non_null(strstr(err.msg, "36500"));
	}
	static const char *const bad_teams[] = {
	    "1:200000000", "1:36501", "1:-1", "1:30x", "0:30",	 "-2:30",
	    "x:30",	   "1",	      "1:",   ":30",   "1:30,2", "99999999999999999999:1"};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad_teams); i++) {
		char *a[] = {"--team-retention", (char *)bad_teams[i]};
		assert_int_equal(sn_config_load(&c, 2, a, &err), SN_ERR_INVALID);
		assert_non_null(strstr(err.msg, "team_retention"));
	}
	char *huge[] = {"--team-retention", "1:200000000"};
	assert_int_equal(sn_config_load(&c, 2, huge, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "days of team 1"));
	assert_non_null(strstr(err.msg, "36500"));
	setenv("SNOUT_TEAM_RETENTION", "5:99999", 1);
	assert_int_equal(sn_config_load(&c, 0, NULL, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "SNOUT_TEAM_RETENTION"));
	clear_env();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_retention_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
