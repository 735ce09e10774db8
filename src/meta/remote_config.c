/*
 * remote_config.c — a project's remote config as posthog-js reads it
 * (spec posthog-wire.md §2.5), derived from the team's settings.
 *
 * Two endpoints serve the same fields: /array/<token>/config (capture, the
 * newer remote-config call) and /flags?config=true or /decide (flags, where
 * they are flattened into the flags answer and carry the legacy `config`
 * object too). Writing them once here keeps the two answers from drifting
 * apart when a setting gains a field.
 *
 * Rejected alternative: building a json-c object. The answer is a fixed
 * shape with a few booleans switched by settings; appending text is one
 * pass and allocates nothing beyond the caller's buffer.
 */
#include "meta/meta.h"

#include <string.h>

int sn_meta_remote_config_fields(struct sn_buf *b, const struct sn_team *t, bool has_flags,
				 bool legacy_config)
{
	sn_buf_appendf(b,
		       ",\"supportedCompression\":[\"gzip\",\"gzip-js\"],"
		       "\"autocapture_opt_out\":%s,\"capturePerformance\":false,%s"
		       "\"analytics\":{\"endpoint\":\"/i/v0/e/\"},\"elementsChainAsString\":true,"
		       "\"autocaptureExceptions\":false,\"sessionRecording\":",
		       t->autocapture_opt_out ? "true" : "false",
		       legacy_config ? "\"config\":{\"enable_collect_everything\":true}," : "");
	if (t->session_recording_opt_in)
		sn_buf_appends(b,
			       "{\"endpoint\":\"/s/\",\"consoleLogRecordingEnabled\":true,"
			       "\"recorderVersion\":\"v2\",\"sampleRate\":null,"
			       "\"minimumDurationMilliseconds\":null,\"linkedFlag\":null,"
			       "\"networkPayloadCapture\":null,\"urlTriggers\":[],"
			       "\"urlBlocklist\":[],\"eventTriggers\":[],\"scriptConfig\":null}");
	else
		sn_buf_appends(b, "false");
	/* hasFeatureFlags=false keeps posthog-js from calling /flags. */
	return sn_buf_appendf(b,
			      ",\"heatmaps\":false,\"surveys\":false,\"productTours\":false,"
			      "\"captureDeadClicks\":false,\"toolbarParams\":{},"
			      "\"isAuthenticated\":false,\"siteApps\":[],"
			      "\"defaultIdentifiedOnly\":true,\"hasFeatureFlags\":%s",
			      has_flags ? "true" : "false");
}
