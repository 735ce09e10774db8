/*
 * import.c — creating a person with known distinct ids and properties
 * without sending events: `snout persons import` (moving persons over
 * from another install) and the insight fixtures, whose persons PostHog's
 * tests create directly in the database.
 *
 * A person is made by the identity rules themselves, not by writing rows
 * behind their back: a `$set` with the properties on the first distinct id
 * (which creates the person, created_at = the given time), then one
 * `$create_alias` per further distinct id. The rules therefore decide as
 * they would for events — an id that already belongs to another
 * identified person is refused with PostHog's warning — and nothing can
 * reach a state that ingestion could not. No event is stored: only the
 * person store changes. One person's steps commit together or not at all
 * (in a batch of their own), so a refused line leaves nothing behind.
 *
 * Rejected: INSERTs into the person tables. They would skip the override
 * bookkeeping and the merge rules, and two code paths would disagree about
 * what a person is.
 */
#include "persons/persons_internal.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

int sn_persons_import(struct sn_persons *p, int64_t team_id, const char *const *distinct_ids,
		      size_t n, struct json_object *properties, int64_t created_at_us,
		      char uuid_out[37], struct sn_err *err)
{
	if (n == 0)
		return sn_err_set(err, SN_ERR_INVALID, "a person needs at least one distinct id");
	if (properties && !json_object_is_type(properties, json_type_object))
		return sn_err_set(err, SN_ERR_INVALID, "properties must be an object");
	/* All of the person or nothing: a refused alias must not leave the
	 * person of the ids before it behind. A batch is the store's one
	 * transaction over several events; committing it records the ingest
	 * position read inside it, unchanged (no other connection can commit
	 * in between). A caller's open batch is the caller's to end. */
	bool own = !sn_persons_batch_is_open(p);
	int rc = own ? sn_persons_batch_begin(p, err) : 0;
	if (rc)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *props = json_object_new_object();
		if (!props) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
			break;
		}
		const char *event = "$set";
		if (i == 0) {
			json_object_object_add(props, "$set",
					       properties ? json_object_get(properties)
							  : json_object_new_object());
		} else {
			event = "$create_alias";
			json_object_object_add(props, "alias",
					       json_object_new_string(distinct_ids[i]));
		}
		char uuid[64];
		snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012zx", i);
		struct sn_identity_event ev = {.team_id = team_id,
					       .distinct_id = distinct_ids[0],
					       .event = event,
					       .uuid = uuid,
					       .timestamp_us = created_at_us,
					       .properties = props};
		struct sn_identity_result res;
		rc = sn_identity_process(p, &ev, &res, err);
		if (rc == 0 && res.nwarnings)
			rc = sn_err_set(err, SN_ERR_INVALID, "distinct id '%s': %s (%s)",
					i ? distinct_ids[i] : distinct_ids[0], res.warnings[0].type,
					res.warnings[0].details);
		if (rc == 0 && uuid_out)
			snprintf(uuid_out, 37, "%s", res.person_uuid);
		sn_identity_result_release(&res);
		json_object_put(props);
	}
	if (own) {
		uint64_t lsn = 0;
		if (rc == 0 && (rc = sn_persons_ingest_lsn(p, &lsn, err)) == 0)
			rc = sn_persons_batch_commit(p, lsn, err);
		if (rc)
			sn_persons_batch_rollback(p);
	}
	return rc;
}

int sn_persons_import_group(struct sn_persons *p, int64_t team_id, const char *group_type,
			    int want_index, const char *key, struct json_object *properties,
			    int64_t created_at_us, int *index_out, struct sn_err *err)
{
	if (!group_type || !*group_type || strlen(group_type) > SN_GROUP_TYPE_MAX)
		return sn_err_set(err, SN_ERR_INVALID, "group_type must be 1 to %d bytes",
				  SN_GROUP_TYPE_MAX);
	if (key && strlen(key) > SN_GROUP_KEY_MAX)
		return sn_err_set(err, SN_ERR_INVALID, "group_key must be 1 to %d bytes",
				  SN_GROUP_KEY_MAX);
	if (properties && !json_object_is_type(properties, json_type_object))
		return sn_err_set(err, SN_ERR_INVALID, "properties must be an object");
	struct sn_group g = {0};
	int idx = -1, ret;
	sn_pstore_lock(p);
	if ((ret = sn_pstore_begin(p, err)) < 0)
		goto out;
	ret = sn_pstore_group_type_index(p, team_id, group_type, want_index < 0, &idx, err);
	if (ret == SN_ERR_NOT_FOUND && want_index >= 0) {
		ret = sn_pstore_group_type_add(p, team_id, group_type, want_index, err);
		idx = want_index;
	} else if (ret == 0 && want_index >= 0 && idx != want_index) {
		ret = sn_err_set(err, SN_ERR_EXISTS, "group type \"%.100s\" already has index %d",
				 group_type, idx);
	}
	if (ret == SN_ERR_TOO_BIG)
		ret = sn_err_set(err, ret, "the project already has %d group types",
				 SN_GROUP_TYPES_MAX);
	bool exists = false;
	if (ret == 0 && (!key || !*key)) {
		/* Only the type's mapping. */
		ret = sn_pstore_commit(p, err);
		if (ret < 0)
			sn_pstore_rollback(p);
		goto out;
	}
	if (ret == 0) {
		ret = sn_pstore_group_get(p, team_id, idx, key, &g, err);
		exists = ret == 0;
		if (ret == SN_ERR_NOT_FOUND) {
			g.team_id = team_id;
			g.group_type_index = idx;
			snprintf(g.key, sizeof(g.key), "%s", key);
			g.created_at_us = created_at_us;
			g.properties = json_object_new_object();
			ret = g.properties ? 0 : sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		}
	}
	if (ret == 0 && properties && sn_props_apply(g.properties, properties, NULL, NULL) &&
	    exists)
		g.version++;
	if (ret == 0)
		ret = sn_pstore_group_put(p, &g, exists, err);
	if (ret == 0)
		ret = sn_pstore_commit(p, err);
	if (ret < 0)
		sn_pstore_rollback(p);
out:
	sn_pstore_unlock(p);
	sn_group_release(&g);
	if (ret == 0 && index_out)
		*index_out = idx;
	return ret;
}
