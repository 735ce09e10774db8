// Feature flags end to end: flags are created through the REST API exactly as
// a user would, then evaluated through /flags, /decide and the definitions
// endpoints, by hand and by the real posthog-node SDK (remote and local
// evaluation). The expected values come from PostHog's public test vectors
// (tests/data/flags), not from snout.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { request } from 'node:http';
import { PostHog } from 'posthog-node';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

const DATA = new URL('../data/flags/', import.meta.url);
let srv;
before(async () => { srv = await startServer({ env: { SNOUT_ACCESS_LOG: 'false' } }); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

async function api(method, path, body, key = API_KEY) {
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(srv.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* empty or not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

const FLAGS = '/api/projects/1/feature_flags/';

async function deleteAllFlags() {
  const r = await api('GET', `${FLAGS}?limit=1000`);
  assert.equal(r.status, 200);
  for (const f of r.json.results) assert.equal((await api('DELETE', `${FLAGS}${f.id}/`)).status, 204);
}

async function createFlag(def) {
  const body = { key: def.key, name: def.name ?? def.key, filters: def.filters ?? {} };
  if (def.active !== undefined) body.active = def.active;
  if (def.ensure_experience_continuity !== undefined) body.ensure_experience_continuity = def.ensure_experience_continuity;
  const r = await api('POST', FLAGS, body);
  assert.equal(r.status, 201, `create ${def.key}: ${r.text}`);
  return r.json;
}

async function flags(body, query = 'v=2') {
  return post(`${srv.url}/flags?${query}`, JSON.stringify({ token: TOKEN, ...body }), { 'Content-Type': 'application/json' });
}

// ---- PostHog's evaluation vectors, through HTTP ---------------------------------------

test('every v1_evaluation vector through the REST API and /flags', async (t) => {
  const corpus = JSON.parse(readFileSync(new URL('v1_evaluation.json', DATA), 'utf8'));
  let checked = 0, skipped = 0, groupsReady = null;
  for (const c of corpus.cases) {
    await deleteAllFlags();
    const ids = {};
    if (c.id === 'v1.multivariate.invalid_variant_override_uses_hash') {
      // PostHog's API refuses an override naming no variant, and so does
      // snout's; the evaluator's handling of such stored data is unit-tested.
      const r = await api('POST', FLAGS, { key: c.definitions.flags[0].key, filters: c.definitions.flags[0].filters });
      assert.equal(r.status, 400);
      assert.match(r.json.detail, /variant override/);
      skipped++;
      continue;
    }
    for (const def of c.definitions.flags) ids[def.key] = (await createFlag(def)).id;
    const usesGroups = !!c.definitions.group_type_mapping;
    if (usesGroups && groupsReady === null) {
      // Group types are indexed by ingestion ($groupidentify); wait for it
      // when the server applies persons, else report these as skipped.
      const types = Object.values(c.definitions.group_type_mapping);
      for (const type of types) {
        await post(`${srv.url}/i/v0/e/`, JSON.stringify({ api_key: TOKEN, event: '$groupidentify', distinct_id: 'setup',
          properties: { $group_type: type, $group_key: 'setup', $group_set: {} } }), { 'Content-Type': 'application/json' });
      }
      groupsReady = false;
      for (let i = 0; i < 30 && !groupsReady; i++) {
        const r = await flags({ distinct_id: 'probe', groups: { [types[0]]: 'k' } });
        groupsReady = Object.values(r.json.flags).some((f) => f.reason.code !== 'no_group_type');
        if (!groupsReady) await sleep(100);
      }
    }
    if (usesGroups && !groupsReady) {
      t.diagnostic(`skipped ${c.id}: the server has no group type mapping (persons not applied at ingestion)`);
      skipped++;
      continue;
    }
    const r = await flags(c.context);
    assert.equal(r.status, 200, `${c.id}: ${r.text}`);
    assert.equal(r.json.errorsWhileComputingFlags, false, c.id);
    for (const [key, want] of Object.entries(c.expected.flags)) {
      const got = r.json.flags[key];
      assert.ok(got, `${c.id}: ${key} missing from ${r.text}`);
      assert.equal(got.key, key);
      assert.equal(got.enabled, want.enabled, `${c.id}/${key} enabled`);
      assert.equal(got.variant, want.variant, `${c.id}/${key} variant`);
      assert.equal(got.metadata.payload, want.payload, `${c.id}/${key} payload`);
      assert.equal(got.reason.code, want.reason.code, `${c.id}/${key} reason`);
      assert.equal(got.reason.condition_index, want.reason.condition_index ?? null, `${c.id}/${key} condition_index`);
      assert.equal(got.metadata.id, ids[key]);
      checked++;
    }
    for (const key of c.expected.omitted_flags) assert.equal(r.json.flags[key], undefined, `${c.id}: ${key} must be omitted`);
    // The same outcome in the legacy shapes.
    const v1 = await flags(c.context, 'v=1');
    const d1 = await post(`${srv.url}/decide/`, JSON.stringify({ api_key: TOKEN, ...c.context }));
    const d2 = await post(`${srv.url}/decide/?v=2`, JSON.stringify({ api_key: TOKEN, ...c.context }));
    for (const [key, want] of Object.entries(c.expected.flags)) {
      assert.deepEqual(v1.json.featureFlags[key], want.value, `${c.id}/${key} v1`);
      assert.equal(d1.json.featureFlags.includes(key), want.enabled, `${c.id}/${key} decide v1`);
      assert.deepEqual(d2.json.featureFlags[key], want.enabled ? want.value : undefined, `${c.id}/${key} decide v2`);
      if (want.payload !== null && want.enabled) assert.equal(v1.json.featureFlagPayloads[key], want.payload);
    }
  }
  t.diagnostic(`${checked} flag outcomes checked, ${skipped} cases skipped`);
  assert.ok(checked >= 30, `only ${checked} outcomes checked`);
});

test('the 2 x 1000 consistency vectors through /flags', async () => {
  await deleteAllFlags();
  const lines = readFileSync(new URL('consistency.txt', DATA), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const names = ['first-variant', 'second-variant', 'third-variant', 'fourth-variant', 'fifth-variant'];
  await createFlag({ key: 'simple-flag', filters: { groups: [{ properties: [], rollout_percentage: 45 }] } });
  await createFlag({ key: 'multivariate-flag', filters: { groups: [{ properties: [], rollout_percentage: 55 }],
    multivariate: { variants: names.map((key, i) => ({ key, rollout_percentage: [50, 20, 20, 5, 5][i] })) } } });
  for (let i = 0; i < 1000; i++) {
    const r = await flags({ distinct_id: `distinct_id_${i}` });
    assert.equal(r.json.flags['simple-flag'].enabled, lines[0][i] === '1', `simple-flag distinct_id_${i}`);
    const mv = r.json.flags['multivariate-flag'];
    const w = Number(lines[1][i]);
    assert.equal(mv.enabled, w !== 0);
    assert.equal(mv.variant, w ? names[w - 1] : null, `multivariate-flag distinct_id_${i}`);
  }
});

// ---- posthog-node: remote and local evaluation agree with the server --------------------

const MIXED = [
  { key: 'bool-rollout', filters: { groups: [{ properties: [], rollout_percentage: 37.5 }] } },
  { key: 'targeted', filters: { groups: [
    { properties: [{ key: 'plan', type: 'person', operator: 'exact', value: ['pro', 'enterprise'] }], rollout_percentage: 80 },
    { properties: [{ key: 'email', type: 'person', operator: 'icontains', value: '@EXAMPLE.com' }], rollout_percentage: 20 },
  ], payloads: { true: '{"tier":"paid"}' } } },
  { key: 'mv', filters: { groups: [{ properties: [], rollout_percentage: 70 }],
    multivariate: { variants: [{ key: 'control', rollout_percentage: 34 }, { key: 'test', rollout_percentage: 33 }, { key: 'other', rollout_percentage: 33 }] },
    payloads: { control: '"c"', test: '{"t":[1,2]}' } } },
  { key: 'ages', filters: { groups: [{ properties: [
    { key: 'age', type: 'person', operator: 'gte', value: 30 }, { key: 'age', type: 'person', operator: 'lt', value: '60' }] }] } },
  { key: 'handles', filters: { groups: [{ properties: [{ key: 'handle', type: 'person', operator: 'regex', value: '^user-[0-9]*7$' }] },
    { properties: [{ key: 'handle', type: 'person', operator: 'not_icontains', value: '9' }], rollout_percentage: 10 }] } },
  { key: 'override', filters: { groups: [
    { properties: [{ key: 'plan', type: 'person', operator: 'exact', value: 'free' }], variant: 'b' },
    { properties: [], rollout_percentage: 50 }],
    multivariate: { variants: [{ key: 'a', rollout_percentage: 50 }, { key: 'b', rollout_percentage: 50 }] } } },
  { key: 'off-flag', active: false, filters: { groups: [{ properties: [] }] } },
];
const props = (i) => ({ plan: ['free', 'pro', 'enterprise'][i % 3], email: i % 4 === 0 ? `u${i}@example.com` : `u${i}@other.org`,
  age: i % 90, handle: `user-${i}` });

test('posthog-node remote and local evaluation agree with /flags for 1000 distinct ids', async () => {
  await deleteAllFlags();
  const created = [];
  for (const f of MIXED) created.push(await createFlag(f));
  // A dependency by flag id, as PostHog stores them.
  await createFlag({ key: 'dependent', filters: { groups: [{ properties: [{ key: String(created[0].id), type: 'flag', operator: 'flag_evaluates_to', value: true }], rollout_percentage: 60 }] } });

  const errors = [];
  const remote = new PostHog(TOKEN, { host: srv.url, flushAt: 1000, flushInterval: 0, fetchRetryCount: 0 });
  const local = new PostHog(TOKEN, { host: srv.url, personalApiKey: API_KEY, flushAt: 1000, flushInterval: 0, fetchRetryCount: 0, featureFlagsPollingInterval: 600000 });
  remote.on('error', (e) => errors.push(e));
  local.on('error', (e) => errors.push(e));
  try {
    assert.equal(await local.waitForLocalEvaluationReady(10000), true, 'local definitions loaded');
    const keys = [...MIXED.filter((f) => f.active !== false).map((f) => f.key), 'dependent'];
    let compared = 0;
    for (let i = 0; i < 1000; i++) {
      const id = `person-${i}`;
      const personProperties = props(i);
      const server = (await flags({ distinct_id: id, person_properties: personProperties })).json.flags;
      assert.deepEqual(Object.keys(server).sort(), [...keys].sort(), 'inactive flags are omitted');
      const want = Object.fromEntries(keys.map((k) => [k, server[k].variant ?? server[k].enabled]));
      const viaRemote = await remote.getAllFlags(id, { personProperties });
      assert.deepEqual(viaRemote, want, `remote getAllFlags ${id}`);
      const viaLocal = await local.getAllFlags(id, { personProperties, onlyEvaluateLocally: true });
      // The definitions list inactive flags too (as PostHog's do): the SDK answers them false.
      assert.deepEqual(viaLocal, { ...want, 'off-flag': false }, `local getAllFlags ${id}`);
      if (i < 150) {
        for (const k of ['targeted', 'mv']) {
          const opts = { personProperties, sendFeatureFlagEvents: false };
          assert.deepEqual(await remote.getFeatureFlag(k, id, opts), want[k], `remote getFeatureFlag ${k} ${id}`);
          assert.deepEqual(await local.getFeatureFlag(k, id, { ...opts, onlyEvaluateLocally: true }), want[k]);
          assert.equal(await remote.isFeatureEnabled(k, id, opts), !!want[k]);
          const p = server[k].metadata.payload;
          const wantPayload = p === null ? undefined : JSON.parse(p);
          assert.deepEqual(await remote.getFeatureFlagPayload(k, id, undefined, { personProperties }) ?? undefined, wantPayload, `remote payload ${k} ${id}`);
          assert.deepEqual(await local.getFeatureFlagPayload(k, id, undefined, { personProperties, onlyEvaluateLocally: true }) ?? undefined, wantPayload, `local payload ${k} ${id}`);
        }
      }
      compared++;
    }
    assert.equal(compared, 1000);
    assert.deepEqual(errors, []);
  } finally {
    await remote.shutdown();
    await local.shutdown();
  }
});

test('stored person and group properties are used, request properties override them', async () => {
  await deleteAllFlags();
  await createFlag({ key: 'enterprise-only', filters: { groups: [{ properties: [{ key: 'plan', type: 'person', operator: 'exact', value: 'enterprise' }] }] } });
  await createFlag({ key: 'big-companies', filters: { aggregation_group_type_index: 0,
    groups: [{ properties: [{ key: 'size', type: 'group', group_type_index: 0, operator: 'gte', value: 100 }] }] } });
  const capture = (e) => post(`${srv.url}/i/v0/e/`, JSON.stringify({ api_key: TOKEN, ...e }), { 'Content-Type': 'application/json' });
  assert.equal((await capture({ event: '$identify', distinct_id: 'stored-1', properties: { $set: { plan: 'enterprise' } } })).status, 200);
  assert.equal((await capture({ event: '$groupidentify', distinct_id: 'stored-1',
    properties: { $group_type: 'organization', $group_key: 'acme', $group_set: { size: 250 } } })).status, 200);
  // Ingestion applies persons about a second after the acknowledgement.
  let r;
  for (let i = 0; i < 100; i++) {
    r = (await flags({ distinct_id: 'stored-1', groups: { organization: 'acme' } })).json.flags;
    if (r['enterprise-only'].enabled && r['big-companies'].enabled) break;
    await sleep(100);
  }
  assert.equal(r['enterprise-only'].enabled, true, 'stored person properties');
  assert.equal(r['big-companies'].enabled, true, 'stored group properties');
  r = (await flags({ distinct_id: 'stored-1', groups: { organization: 'acme' }, person_properties: { plan: 'free' },
    group_properties: { organization: { size: 3 } } })).json.flags;
  assert.equal(r['enterprise-only'].enabled, false, 'the request overrides the stored value');
  assert.equal(r['big-companies'].enabled, false);
  r = (await flags({ distinct_id: 'someone-else' })).json.flags;
  assert.equal(r['enterprise-only'].enabled, false);
  assert.equal(r['big-companies'].reason.code, 'no_group_type');
});

test('person property changes through ingestion and the persons API reach /flags', async () => {
  // The person lookups of /flags are cached (misses too); each change must
  // still flip the flag once ingestion has applied it.
  await deleteAllFlags();
  await createFlag({ key: 'pro-only', filters: { groups: [{ properties: [{ key: 'plan', type: 'person', operator: 'exact', value: ['pro'] }], rollout_percentage: 100 }] } });
  const on = async () => (await flags({ distinct_id: 'cache-1' })).json.flags['pro-only'].enabled;
  const until = async (want, what) => {
    for (let i = 0; i < 100; i++) {
      if ((await on()) === want) return;
      await sleep(100);
    }
    assert.fail(what);
  };
  const H = { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` };
  const persons = `${srv.url}/api/projects/1/persons/`;
  assert.equal(await on(), false);
  assert.equal(await on(), false); // "no person", answered from the cache
  const capture = (e) => post(`${srv.url}/i/v0/e/`, JSON.stringify({ api_key: TOKEN, ...e }), { 'Content-Type': 'application/json' });
  assert.equal((await capture({ event: '$identify', distinct_id: 'cache-1', properties: { $set: { plan: 'pro' } } })).status, 200);
  await until(true, 'the person created by ingestion');
  let uuid;
  for (let i = 0; i < 100 && !uuid; i++) {
    const r = await fetch(`${persons}?distinct_id=cache-1`, { headers: H });
    uuid = (await r.json()).results?.[0]?.uuid;
    if (!uuid) await sleep(100);
  }
  assert.ok(uuid);
  let r = await post(`${persons}${uuid}/update_property/`, JSON.stringify({ key: 'plan', value: 'free' }), H);
  assert.equal(r.status, 202, r.text);
  await until(false, 'update_property');
  r = await post(`${persons}${uuid}/update_property/`, JSON.stringify({ key: 'plan', value: 'pro' }), H);
  assert.equal(r.status, 202, r.text);
  await until(true, 'update_property back');
  r = await post(`${persons}${uuid}/delete_property/`, JSON.stringify({ $unset: 'plan' }), H);
  assert.equal(r.status, 201, r.text);
  await until(false, 'delete_property');
  assert.equal((await capture({ event: 'pv', distinct_id: 'cache-1', properties: { $set: { plan: 'pro' } } })).status, 200);
  await until(true, 'a $set captured');
  const d = await fetch(`${persons}${uuid}/`, { method: 'DELETE', headers: H });
  assert.equal(d.status, 204);
  assert.equal(await on(), false, 'deleted: no stored properties'); // DELETE waits for the store
});

// ---- REST API ------------------------------------------------------------------------------

test('REST CRUD, pagination, activity, validation errors and auth', async () => {
  await deleteAllFlags();
  const a = await createFlag({ key: 'crud-flag', name: 'first', filters: { groups: [{ properties: [], rollout_percentage: 100 }] } });
  assert.equal(a.key, 'crud-flag');
  assert.equal(a.active, true);
  assert.equal(a.deleted, false);
  assert.equal(a.version, 1);
  assert.equal(a.created_by.email, 'admin@example.com');
  assert.equal(a.is_simple_flag, true);
  assert.equal(a.rollout_percentage, 100);

  let r = await api('GET', `${FLAGS}${a.id}/`);
  assert.equal(r.status, 200);
  assert.equal(r.json.name, 'first');
  r = await api('PATCH', `${FLAGS}${a.id}/`, { name: 'second', active: false });
  assert.equal(r.status, 200);
  assert.equal(r.json.name, 'second');
  assert.equal(r.json.active, false);
  assert.equal(r.json.version, 2);
  r = await api('GET', `${FLAGS}${a.id}/activity/`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.results.map((x) => x.activity), ['updated', 'created']);
  const fields = r.json.results[0].detail.changes.map((c) => c.field).sort();
  assert.deepEqual(fields, ['active', 'name']);
  assert.equal(r.json.results[0].user.email, 'admin@example.com');

  // Pagination: count / next / previous / results.
  for (let i = 0; i < 12; i++) await createFlag({ key: `page-${i}` });
  r = await api('GET', `${FLAGS}?limit=5&offset=5`);
  assert.equal(r.json.count, 13);
  assert.equal(r.json.results.length, 5);
  assert.match(r.json.next, /limit=5&offset=10/);
  assert.match(r.json.previous, /limit=5&offset=0/);
  r = await api('GET', `${FLAGS}?limit=5&offset=10`);
  assert.equal(r.json.next, null);
  assert.equal(r.json.results.length, 3);

  // Validation errors name the field, in DRF's shape.
  const bad = [
    [{ key: 'crud-flag' }, 'unique', 'key'],
    [{ key: 'bad key!' }, 'invalid_key', 'key'],
    [{ name: 'no key' }, 'required', 'key'],
    [{ key: 'k1', filters: { groups: [{ rollout_percentage: 150 }] } }, 'invalid_input', 'filters'],
    [{ key: 'k2', filters: { multivariate: { variants: [{ key: 'a', rollout_percentage: 60 }, { key: 'b', rollout_percentage: 60 }] } } }, 'invalid_input', 'filters'],
    [{ key: 'k3', filters: { groups: [{ properties: [{ key: 'x', operator: 'resembles', value: 1 }] }] } }, 'invalid_input', 'filters'],
    [{ key: 'k4', active: 'yes' }, 'invalid', 'active'],
  ];
  for (const [body, code, attr] of bad) {
    r = await api('POST', FLAGS, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.type, 'validation_error');
    assert.equal(r.json.code, code, JSON.stringify(body));
    assert.equal(r.json.attr, attr);
    assert.ok(r.json.detail.length > 5);
  }
  r = await api('PATCH', `${FLAGS}${a.id}/`, { filters: { multivariate: { variants: [{ key: 'a', rollout_percentage: 10 }] } } });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /sum to 100/);
  r = await post(srv.url + FLAGS, '{not json', { Authorization: `Bearer ${API_KEY}` });
  assert.equal(r.status, 400);

  // Auth: no key, wrong key, other project, missing flag.
  assert.equal((await api('GET', FLAGS, undefined, null)).status, 401);
  assert.equal((await api('GET', FLAGS, undefined, 'phx_nope_nope_nope_nope')).status, 401);
  r = await api('GET', '/api/projects/999/feature_flags/');
  assert.equal(r.status, 403);
  assert.equal(r.json.results, undefined);
  assert.equal((await api('GET', `${FLAGS}999999/`)).status, 404);
  assert.equal((await api('GET', `${FLAGS}abc/`)).status, 404);
  // The query API still answers under the shared prefix.
  r = await api('POST', '/api/projects/1/query/', { query: { kind: 'Nope' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'query.kind');
  // environments alias
  assert.equal((await api('GET', `/api/environments/1/feature_flags/${a.id}/`)).status, 200);
});

test('soft delete and changes are visible to /flags immediately; ETag 304 on definitions', async () => {
  await deleteAllFlags();
  let cfg = await (await fetch(`${srv.url}/array/${TOKEN}/config`)).json();
  assert.equal(cfg.hasFeatureFlags, false);
  const f = await createFlag({ key: 'live', filters: { groups: [{ properties: [], rollout_percentage: 100 }] } });
  cfg = await (await fetch(`${srv.url}/array/${TOKEN}/config`)).json();
  assert.equal(cfg.hasFeatureFlags, true);

  let r = await flags({ distinct_id: 'x' });
  assert.equal(r.json.flags.live.enabled, true);
  assert.equal(r.json.hasFeatureFlags, undefined, '/flags?v=2 carries no config');
  assert.equal((await flags({ distinct_id: 'x' }, 'v=2&config=true')).json.hasFeatureFlags, true);
  await api('PATCH', `${FLAGS}${f.id}/`, { filters: { groups: [{ properties: [], rollout_percentage: 0 }] } });
  r = await flags({ distinct_id: 'x' });
  assert.equal(r.json.flags.live.enabled, false, 'the change is visible to the next request');
  assert.equal(r.json.flags.live.metadata.version, 2);

  const defs = `/flags/definitions?token=${TOKEN}&send_cohorts`;
  const d1 = await api('GET', defs);
  assert.equal(d1.status, 200);
  const etag = d1.headers.get('etag');
  assert.ok(etag);
  assert.equal(d1.json.flags.length, 1);
  // The person store's group types (the earlier tests ingested 'organization').
  assert.ok(Object.values(d1.json.group_type_mapping).includes('organization'), JSON.stringify(d1.json.group_type_mapping));
  assert.deepEqual(d1.json.cohorts, {});
  let res = await fetch(srv.url + defs, { headers: { Authorization: `Bearer ${API_KEY}`, 'If-None-Match': etag } });
  assert.equal(res.status, 304);
  assert.equal(await res.text(), '');
  res = await fetch(`${srv.url}/api/feature_flag/local_evaluation/?token=${TOKEN}`, { headers: { Authorization: `Bearer ${API_KEY}`, 'If-None-Match': etag } });
  assert.equal(res.status, 304);
  res = await fetch(`${srv.url}/api/feature_flag/local_evaluation/`, { headers: { Authorization: `Bearer ${API_KEY}`, 'If-None-Match': etag } });
  assert.equal(res.status, 304, 'without ?token= the key\'s project');
  res = await fetch(`${srv.url}${FLAGS}local_evaluation/`, { headers: { Authorization: `Bearer ${API_KEY}`, 'If-None-Match': etag } });
  assert.equal(res.status, 304);

  assert.equal((await api('DELETE', `${FLAGS}${f.id}/`)).status, 204);
  r = await flags({ distinct_id: 'x' });
  assert.deepEqual(r.json.flags, {}, 'a deleted flag disappears');
  const d2 = await api('GET', defs);
  assert.notEqual(d2.headers.get('etag'), etag);
  assert.equal(d2.json.flags.length, 0);
  res = await fetch(srv.url + defs, { headers: { Authorization: `Bearer ${API_KEY}`, 'If-None-Match': etag } });
  assert.equal(res.status, 200, 'a stale ETag gets the new definitions');
  // The key is free again after a soft delete.
  await createFlag({ key: 'live' });
  // Definitions auth.
  assert.equal((await api('GET', defs, undefined, null)).status, 401);
  assert.equal((await api('GET', defs, undefined, 'phx_wrong_wrong_wrong')).status, 401);
  assert.equal((await api('GET', '/flags/definitions?token=phc_unknown')).status, 403);
});

test('inactive flags are in the definitions: posthog-node answers false locally; a dependency on one stays missing on the server', async () => {
  await deleteAllFlags();
  const off = await createFlag({ key: 'switched-off', active: false, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } });
  await createFlag({ key: 'needs-off', filters: { groups: [{ properties: [{ key: String(off.id), type: 'flag', operator: 'flag_evaluates_to', value: true }], rollout_percentage: 100 }] } });
  // PostHog's local_evaluation lists every flag not deleted, active or not.
  const d = await api('GET', `/flags/definitions?token=${TOKEN}`);
  const byKey = Object.fromEntries(d.json.flags.map((f) => [f.key, f]));
  assert.equal(byKey['switched-off']?.active, false, JSON.stringify(d.json.flags.map((f) => f.key)));
  const dep = byKey['needs-off'].filters.groups[0].properties[0];
  assert.equal(dep.key, 'switched-off');
  assert.deepEqual(dep.dependency_chain, ['switched-off']);
  // The server's flag list (like PostHog's /flags cache) holds active flags only.
  const r = await flags({ distinct_id: 'inactive-1' });
  assert.deepEqual(Object.keys(r.json.flags), ['needs-off']);
  assert.equal(r.json.flags['needs-off'].enabled, false);
  assert.equal(r.json.flags['needs-off'].reason.code, 'missing_dependency');

  const local = new PostHog(TOKEN, { host: srv.url, personalApiKey: API_KEY, flushAt: 1000, flushInterval: 0, fetchRetryCount: 0, featureFlagsPollingInterval: 600000 });
  try {
    assert.equal(await local.waitForLocalEvaluationReady(10000), true);
    const opts = { onlyEvaluateLocally: true, sendFeatureFlagEvents: false };
    assert.equal(await local.getFeatureFlag('switched-off', 'inactive-1', opts), false, 'decided locally, no server call');
    assert.equal(await local.getFeatureFlag('needs-off', 'inactive-1', opts), false);
    assert.deepEqual(await local.getAllFlags('inactive-1', { onlyEvaluateLocally: true }), { 'switched-off': false, 'needs-off': false });
  } finally {
    await local.shutdown();
  }
});

// Announces a body of `length` bytes but sends only 64 KiB of it: the server
// refuses on the Content-Length alone and closes the connection, so a client
// still uploading may see a reset; node:http still gets the answer.
function announceBig(path, length) {
  return new Promise((resolve, reject) => {
    const req = request(`${srv.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': String(length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => { let json = null; try { json = JSON.parse(text); } catch { /* */ } resolve({ status: res.statusCode, text, json }); req.destroy(); });
    });
    req.on('error', (e) => { if (!req.res) reject(e); });
    req.write(Buffer.alloc(64 << 10, 0x20));
  });
}

// ---- request shapes and bad input ------------------------------------------------------------

test('bodies: JSON, gzip, base64, form; shapes by v; GET, HEAD, OPTIONS', async () => {
  await deleteAllFlags();
  await createFlag({ key: 'on', filters: { groups: [{ properties: [{ key: 'plan', operator: 'exact', value: 'pro' }] }], payloads: { true: '{"x":1}' } } });
  const body = JSON.stringify({ token: TOKEN, distinct_id: 'abc', person_properties: { plan: 'pro' } });
  let r = await post(`${srv.url}/flags/?v=2&compression=gzip`, gzipSync(body));
  assert.equal(r.json.flags.on.enabled, true);
  r = await post(`${srv.url}/flags/?v=2`, gzipSync(body)); // sniffed
  assert.equal(r.json.flags.on.enabled, true);
  r = await post(`${srv.url}/flags/?v=2&compression=base64`, Buffer.from(body).toString('base64'));
  assert.equal(r.json.flags.on.enabled, true);
  r = await post(`${srv.url}/flags/?v=2&compression=base64`, `data=${encodeURIComponent(Buffer.from(body).toString('base64'))}`,
    { 'Content-Type': 'application/x-www-form-urlencoded' });
  assert.equal(r.json.flags.on.enabled, true);
  r = await post(`${srv.url}/flags/?v=1`, body);
  assert.deepEqual(r.json.featureFlags, { on: true });
  assert.deepEqual(r.json.featureFlagPayloads, { on: '{"x":1}' });
  assert.equal(r.json.supportedCompression, undefined, 'no config unless asked');
  r = await post(`${srv.url}/flags/`, body); // neither v nor config: v2 + config
  assert.equal(r.json.flags.on.enabled, true);
  assert.deepEqual(r.json.supportedCompression, ['gzip', 'gzip-js']);
  assert.match(r.json.requestId, /^[0-9a-f-]{36}$/);
  r = await post(`${srv.url}/decide/?v=4`, body);
  assert.equal(r.json.flags.on.enabled, true);
  assert.equal(r.json.hasFeatureFlags, true);
  r = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ token: TOKEN, distinct_id: 12345 }));
  assert.equal(r.status, 200, 'numeric distinct ids are accepted');
  r = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ token: TOKEN, distinct_id: 'a', flag_keys_to_evaluate: [] , person_properties: { plan: 'pro' } }));
  assert.deepEqual(r.json.flags, {});
  r = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ token: TOKEN, distinct_id: 'a', disable_flags: true }));
  assert.deepEqual(r.json.flags, {});

  let res = await fetch(`${srv.url}/flags/?v=2`);
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).flags, {});
  res = await fetch(`${srv.url}/flags/`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  res = await fetch(`${srv.url}/flags/`, { method: 'OPTIONS', headers: { Origin: 'https://example.com' } });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://example.com');
  res = await fetch(`${srv.url}/flags/`, { method: 'PUT', body: '{}' });
  assert.equal(res.status, 405);
});

test('bad input gets clear errors in bounded time', async () => {
  await deleteAllFlags();
  await createFlag({ key: 'redos', filters: { groups: [{ properties: [{ key: 'name', operator: 'regex', value: '^(a+)+$' }] }] } });
  const cases = [
    ['{"token":', 400],
    [JSON.stringify({ distinct_id: 'a' }), 401],
    [JSON.stringify({ token: 'phc_does_not_exist', distinct_id: 'a' }), 401],
    [JSON.stringify({ token: TOKEN }), 400],
    [JSON.stringify({ token: TOKEN, distinct_id: { nested: 1 } }), 400],
    ['[1,2,3]', 400],
  ];
  for (const [body, status] of cases) {
    const r = await post(`${srv.url}/flags/?v=2`, body);
    assert.equal(r.status, status, body);
    assert.ok(r.json.detail, 'the error says what is wrong');
  }
  let r = await post(`${srv.url}/flags/?v=2&compression=gzip`, 'not gzip at all');
  assert.equal(r.status, 400);
  r = await post(`${srv.url}/flags/?v=2&compression=base64`, '!!!');
  assert.equal(r.status, 400);
  r = await post(`${srv.url}/flags/?v=2&compression=zstd`, '{}');
  assert.equal(r.status, 400);

  // Catastrophic backtracking is cut off by the match limit: false, fast.
  let t0 = Date.now();
  r = await flags({ distinct_id: 'a', person_properties: { name: 'a'.repeat(5000) + '!' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.flags.redos.enabled, false);
  assert.ok(Date.now() - t0 < 3000, `regex took ${Date.now() - t0} ms`);

  // A large property map still evaluates; one over the limit is refused.
  const big = {};
  for (let i = 0; i < 50000; i++) big[`p${i}`] = `v${i}`;
  t0 = Date.now();
  r = await flags({ distinct_id: 'a', person_properties: big });
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 < 5000);
  r = await announceBig('/flags/?v=2', 3 << 20);
  assert.equal(r.status, 413);
  assert.match(r.json.detail, /exceeds the limit of 2097152 bytes/);
  // A gzip bomb stops at the decoded-size cap.
  r = await post(`${srv.url}/flags/?v=2`, gzipSync(Buffer.alloc(64 << 20, 32)));
  assert.equal(r.status, 413);
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(m, /snout_flags_requests_total\{endpoint="flags",status="200"\} \d+/);
  assert.match(m, /snout_flags_request_duration_seconds_count\{endpoint="flags"\} \d+/);
});

// ---- group_type_mapping: posthog-node evaluates group flags locally ------------------------

const capture = (e) => post(`${srv.url}/i/v0/e/`, JSON.stringify({ api_key: TOKEN, ...e }), { 'Content-Type': 'application/json' });

// Polls check() until it holds (ingestion applies persons about a second after capture).
async function eventually(check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    try { return await check(); } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(100);
    }
  }
}

test('definitions carry the group types; posthog-node evaluates group flags locally like /flags', async () => {
  await deleteAllFlags();
  for (const type of ['organization', 'workspace']) {
    assert.equal((await capture({ event: '$groupidentify', distinct_id: 'gm-setup',
      properties: { $group_type: type, $group_key: 'setup', $group_set: {} } })).status, 200);
  }
  const mapping = await eventually(async () => {
    const d = await api('GET', `/flags/definitions?token=${TOKEN}`);
    assert.equal(d.status, 200);
    const names = Object.values(d.json.group_type_mapping);
    assert.ok(names.includes('organization') && names.includes('workspace'), JSON.stringify(d.json.group_type_mapping));
    return d.json.group_type_mapping;
  });
  for (const [idx, name] of Object.entries(mapping)) assert.match(idx, /^[0-4]$/, name);
  const idx = (name) => Number(Object.keys(mapping).find((k) => mapping[k] === name));
  const org = idx('organization'), ws = idx('workspace');
  await createFlag({ key: 'org-size', filters: { aggregation_group_type_index: org, groups: [
    { properties: [{ key: 'size', type: 'group', group_type_index: org, operator: 'gte', value: 10 }], rollout_percentage: 60 }],
    payloads: { true: '{"big":true}' } } });
  await createFlag({ key: 'ws-variants', filters: { aggregation_group_type_index: ws, groups: [{ properties: [], rollout_percentage: 80 }],
    multivariate: { variants: [{ key: 'red', rollout_percentage: 50 }, { key: 'blue', rollout_percentage: 50 }] } } });
  await createFlag({ key: 'person-flag', filters: { groups: [{ properties: [], rollout_percentage: 50 }] } });

  const errors = [];
  const local = new PostHog(TOKEN, { host: srv.url, personalApiKey: API_KEY, flushAt: 1000, flushInterval: 0, fetchRetryCount: 0, featureFlagsPollingInterval: 600000 });
  local.on('error', (e) => errors.push(e));
  try {
    assert.equal(await local.waitForLocalEvaluationReady(10000), true);
    let enabled = 0;
    for (let i = 0; i < 300; i++) {
      const groups = { organization: `org-${i}`, workspace: i % 5 ? `ws-${i}` : i };
      const groupProperties = { organization: { size: i % 25 }, workspace: {} };
      const server = (await flags({ distinct_id: `gm-${i}`, groups, group_properties: groupProperties })).json.flags;
      const want = Object.fromEntries(Object.entries(server).map(([k, f]) => [k, f.variant ?? f.enabled]));
      const got = await local.getAllFlags(`gm-${i}`, { groups, groupProperties, onlyEvaluateLocally: true });
      assert.deepEqual(got, want, `group flags for ${JSON.stringify(groups)}`);
      assert.deepEqual(await local.getFeatureFlag('org-size', `gm-${i}`, { groups, groupProperties, onlyEvaluateLocally: true, sendFeatureFlagEvents: false }), want['org-size']);
      enabled += want['org-size'] === true;
    }
    assert.ok(enabled > 20 && enabled < 280, `org-size on for ${enabled} of 300`);
    // Without the group the flag is off, locally and on the server.
    const server = (await flags({ distinct_id: 'gm-x' })).json.flags;
    assert.equal(server['org-size'].reason.code, 'no_group_type');
    assert.equal(await local.getFeatureFlag('org-size', 'gm-x', { onlyEvaluateLocally: true, sendFeatureFlagEvents: false }), false);
    assert.deepEqual(errors, []);
  } finally {
    await local.shutdown();
  }
});

// ---- experience continuity (spec §3.9) ----------------------------------------------------

const variantOf = async (body, key) => {
  const r = await flags(body);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.errorsWhileComputingFlags, false, r.text);
  const f = r.json.flags[key];
  return f.variant ?? f.enabled;
};

// Two ids whose own buckets give different variants of `key`.
async function idsWithDifferentVariants(key, prefix) {
  const anon = `${prefix}-anon`;
  const a = await variantOf({ distinct_id: anon }, key);
  for (let i = 0; i < 100; i++) {
    const user = `${prefix}-user-${i}`;
    if (await variantOf({ distinct_id: user }, key) !== a) return { anon, user, anonVariant: a };
  }
  throw new Error('no id with another variant');
}

test('experience continuity: a user keeps the variant seen before identifying', async () => {
  await deleteAllFlags();
  const variants = { variants: [{ key: 'control', rollout_percentage: 34 }, { key: 'test', rollout_percentage: 33 }, { key: 'other', rollout_percentage: 33 }] };
  const exp = await createFlag({ key: 'exp', ensure_experience_continuity: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: variants } });
  await createFlag({ key: 'exp-gate', filters: { groups: [{ properties: [{ key: String(exp.id), type: 'flag', operator: 'flag_evaluates_to', value: true }] }] } });
  await createFlag({ key: 'plain', filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: variants } });
  await createFlag({ key: 'everyone', ensure_experience_continuity: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } });

  // 1. Persons exist (person_profiles: always): the anonymous id has a
  //    person, $identify merges the user into it, then posthog-js reloads
  //    flags with $anon_distinct_id.
  const { anon, user, anonVariant } = await idsWithDifferentVariants('exp', 'ec1');
  const userVariant = await variantOf({ distinct_id: user }, 'exp');
  const plainUser = await variantOf({ distinct_id: user }, 'plain');
  assert.equal((await capture({ event: '$pageview', distinct_id: anon, properties: {} })).status, 200);
  assert.equal((await capture({ event: '$identify', distinct_id: user, properties: { $anon_distinct_id: anon } })).status, 200);
  await eventually(async () => {
    const r = await api('GET', `/api/projects/1/persons/?distinct_id=${encodeURIComponent(user)}`);
    assert.deepEqual([...r.json.results[0].distinct_ids].sort(), [anon, user].sort());
  });
  assert.equal(await variantOf({ distinct_id: user, $anon_distinct_id: anon }, 'exp'), anonVariant);
  // Stored: later requests without $anon_distinct_id keep it, in every shape.
  assert.equal(await variantOf({ distinct_id: user }, 'exp'), anonVariant);
  const v1 = await flags({ distinct_id: user }, 'v=1');
  assert.equal(v1.json.featureFlags.exp, anonVariant);
  const d2 = await post(`${srv.url}/decide/?v=2`, JSON.stringify({ api_key: TOKEN, distinct_id: user }));
  assert.equal(d2.json.featureFlags.exp, anonVariant);
  // The first write wins: another anonymous id later changes nothing.
  assert.equal(await variantOf({ distinct_id: user, $anon_distinct_id: 'ec1-other-device' }, 'exp'), anonVariant);
  assert.equal(await variantOf({ distinct_id: user }, 'exp'), anonVariant);
  // Flags without continuity bucket by the distinct id.
  assert.equal(await variantOf({ distinct_id: user, $anon_distinct_id: anon }, 'plain'), plainUser);
  assert.notEqual(anonVariant, userVariant);

  // 2. No person yet (identified_only, /flags before the $identify is
  //    ingested): the request's $anon_distinct_id buckets this answer,
  //    nothing is stored, later requests use the distinct id.
  const two = await idsWithDifferentVariants('exp', 'ec2');
  const twoUser = await variantOf({ distinct_id: two.user }, 'exp');
  assert.equal(await variantOf({ distinct_id: two.user, $anon_distinct_id: two.anon }, 'exp'), two.anonVariant);
  assert.equal(await variantOf({ distinct_id: two.user, anon_distinct_id: two.anon }, 'exp'), two.anonVariant, 'the alias');
  assert.equal(await variantOf({ distinct_id: two.user }, 'exp'), twoUser);

  // 3. Only flags whose answer the hash can change make the server write:
  //    asking for 'everyone' alone stores nothing for 'exp'.
  const three = await idsWithDifferentVariants('exp', 'ec3');
  assert.equal((await capture({ event: '$pageview', distinct_id: three.user, properties: {} })).status, 200);
  await eventually(async () => {
    const r = await api('GET', `/api/projects/1/persons/?distinct_id=${encodeURIComponent(three.user)}`);
    assert.equal(r.json.results.length, 1);
  });
  const only = await flags({ distinct_id: three.user, $anon_distinct_id: three.anon, flag_keys_to_evaluate: ['everyone'] });
  assert.deepEqual(Object.keys(only.json.flags), ['everyone']);
  const threeUser = await variantOf({ distinct_id: three.user }, 'exp');
  assert.notEqual(threeUser, three.anonVariant);
  // Asking for a flag that depends on 'exp' evaluates 'exp': the override
  // is stored for the user's person.
  const gate = await flags({ distinct_id: three.user, $anon_distinct_id: three.anon, flag_keys_to_evaluate: ['exp-gate'] });
  assert.deepEqual(Object.keys(gate.json.flags), ['exp-gate']);
  assert.equal(gate.json.flags['exp-gate'].enabled, true);
  assert.equal(await variantOf({ distinct_id: three.user }, 'exp'), three.anonVariant);
});

// ---- bad input: bounded time, clear errors ------------------------------------------------

test('hostile /flags bodies: huge groups, deep nesting, thousands of keys, non-UTF-8 ids', async () => {
  await deleteAllFlags();
  await createFlag({ key: 'org-flag', filters: { aggregation_group_type_index: 0, groups: [{ properties: [], rollout_percentage: 50 }] } });
  await createFlag({ key: 'person-flag', filters: { groups: [{ properties: [{ key: 'plan', type: 'person', operator: 'exact', value: 'pro' }] }] } });
  for (let i = 0; i < 50; i++) await createFlag({ key: `many-${i}`, filters: { groups: [{ properties: [], rollout_percentage: 30 }] } });
  const timed = async (body, raw) => {
    const t0 = Date.now();
    // Objects go gzipped, as SDKs may send them: the decoded limit (8 MiB)
    // is what bounds them, not the 2 MiB on the wire.
    const r = await post(`${srv.url}/flags/?v=2`, raw ? body : gzipSync(JSON.stringify({ token: TOKEN, ...body })));
    return { r, ms: Date.now() - t0 };
  };

  // 100 000 groups: each request group is matched against the team's
  // (at most 5) types in memory, not looked up one by one.
  const groups = {};
  for (let i = 0; i < 100000; i++) groups[`type-${i}`] = `key-${i}`;
  groups.organization = 'acme';
  let { r, ms } = await timed({ distinct_id: 'h', groups });
  assert.equal(r.status, 200, r.text);
  assert.ok(ms < 5000, `huge groups took ${ms} ms`);
  assert.equal(r.json.flags['org-flag'].enabled, (await flags({ distinct_id: 'h', groups: { organization: 'acme' } })).json.flags['org-flag'].enabled);

  // Nesting deeper than the parser allows is a clear 400; just under it evaluates.
  const deep = (n) => '{"plan":"pro","nested":' + '['.repeat(n) + ']'.repeat(n) + '}';
  ({ r, ms } = await timed(`{"token":"${TOKEN}","distinct_id":"h","person_properties":${deep(100000)}}`, true));
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /Failed to decode request: .*(deep|depth|nest)/i);
  assert.ok(ms < 3000, `deep nesting took ${ms} ms`);
  ({ r, ms } = await timed(`{"token":"${TOKEN}","distinct_id":"h","person_properties":${deep(900)}}`, true));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.flags['person-flag'].enabled, true);

  // 200 000 requested keys: linear, and only flags that exist answer.
  const keys = [];
  for (let i = 0; i < 200000; i++) keys.push(`missing-${i}`);
  keys.push('many-7', 'person-flag', 42, null, { k: 1 });
  ({ r, ms } = await timed({ distinct_id: 'h', flag_keys_to_evaluate: keys }));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json.flags).sort(), ['many-7', 'person-flag']);
  assert.ok(ms < 5000, `200 000 keys took ${ms} ms`);
  ({ r } = await timed({ distinct_id: 'h', flag_keys: ['many-1'] }));
  assert.deepEqual(Object.keys(r.json.flags), ['many-1']);
  ({ r } = await timed({ distinct_id: 'h', flag_keys_to_evaluate: 'many-1' }));
  assert.equal(Object.keys(r.json.flags).length, 52, 'a key list that is not an array is ignored');

  // Invalid UTF-8 in the distinct id is decoded lossily (U+FFFD), as PostHog does.
  const raw = Buffer.concat([Buffer.from(`{"token":"${TOKEN}","distinct_id":"bad-`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('-id"}')]);
  ({ r } = await timed(raw, true));
  assert.equal(r.status, 200, r.text);
  const same = await flags({ distinct_id: 'bad-\uFFFD\uFFFD\uFFFD-id' });
  assert.deepEqual(r.json.flags, same.json.flags);
  // Lone surrogates in escapes and the same bytes in $anon_distinct_id and groups.
  ({ r } = await timed(`{"token":"${TOKEN}","distinct_id":"\\ud800x","$anon_distinct_id":"\\udfff","groups":{"organization":"\\ud83d"}}`, true));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.errorsWhileComputingFlags, false);
  const raw2 = Buffer.concat([Buffer.from(`{"token":"${TOKEN}","distinct_id":"u","$anon_distinct_id":"`), Buffer.from([0xc0, 0x80]), Buffer.from('","groups":{"organization":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}}')]);
  ({ r } = await timed(raw2, true));
  assert.equal(r.status, 200, r.text);
  // A 200-character cut never splits a character.
  const long = 'é'.repeat(300);
  ({ r } = await timed({ distinct_id: long }));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.flags, (await flags({ distinct_id: 'é'.repeat(200) })).json.flags);
});
