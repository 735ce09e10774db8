// Property definitions through PostHog's REST paths with a personal API key:
// declare (snout's POST), list with every filter, paging with next/previous
// links and the count, fetch, PATCH of the type, DELETE, every 400 with a
// JSON body that names the problem, and other projects: a sibling project
// sees none of these definitions (404), another organization's project is
// refused with 403.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, cleanup, post, BIN, API_KEY } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ env: { SNOUT_ACCESS_LOG: 'false' } }); });
after(async () => {
  // A clean exit: under ASan (SNOUT_BIN=snout_asan) a leak or error fails it.
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

async function api(method, path, body, key = API_KEY) {
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(srv.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* empty or not JSON */ }
  return { status: res.status, json, text };
}

const PD = '/api/projects/1/property_definitions/';
const names = (r) => r.json.results.map((x) => x.name);

// 400 with PostHog's error shape, naming the field in attr and in detail.
function assert400(r, attr, what) {
  assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.type, 'validation_error', `${what}: ${r.text}`);
  assert.equal(r.json.attr, attr, `${what}: ${r.text}`);
  assert.ok(typeof r.json.code === 'string' && r.json.code.length > 0, what);
  assert.ok(r.json.detail.includes(attr), `${what}: detail "${r.json.detail}" does not name ${attr}`);
}

const DECLARED = [
  { name: 'plan', property_type: 'String' },
  { name: 'amount', property_type: 'Numeric' },
  { name: 'Count', type: 'event', property_type: 'Numeric' },
  { name: 'is_paid', property_type: 'Boolean' },
  { name: 'signed_up_at', property_type: 'DateTime' },
  { name: 'untyped' },
  { name: 'email', type: 'person', property_type: 'String' },
  { name: 'age', type: 'person', property_type: 'Numeric' },
  { name: 'seats', type: 'group', group_type_index: 0, property_type: 'Numeric' },
  { name: 'seats', type: 'group', group_type_index: 1, property_type: 'String' },
  { name: '$entry_pathname', type: 'session', property_type: 'String' },
];
const ids = {};

test('declare with POST: 201 with the definition, again replaces the type', async () => {
  for (const d of DECLARED) {
    const r = await api('POST', PD, d);
    assert.equal(r.status, 201, r.text);
    const j = r.json;
    assert.equal(typeof j.id, 'number');
    assert.equal(j.name, d.name);
    assert.equal(j.type, d.type || 'event');
    assert.equal(j.group_type_index, d.type === 'group' ? d.group_type_index : null);
    assert.equal(j.property_type, d.property_type || null);
    assert.equal(j.is_numerical, d.property_type === 'Numeric');
    assert.deepEqual(j.tags, []);
    ids[`${j.type}/${j.group_type_index}/${j.name}`] = j.id;
  }
  // Declaring again: the same definition, its type replaced; without a type
  // the known one stays.
  let r = await api('POST', PD, { name: 'untyped', property_type: 'Duration' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.id, ids['event/null/untyped']);
  assert.equal(r.json.property_type, 'Duration');
  r = await api('POST', PD, { name: 'untyped', property_type: null });
  assert.equal(r.json.property_type, 'Duration');
  r = await api('POST', PD, { name: 'untyped' });
  assert.equal(r.json.property_type, 'Duration');
  r = await api('POST', '/api/environments/1/property_definitions/', { name: 'untyped', type: 'event', property_type: null, group_type_index: null });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.id, ids['event/null/untyped']);
  // A name of exactly 200 bytes is fine.
  r = await api('POST', PD, { name: 'n'.repeat(200), type: 'person' });
  assert.equal(r.status, 201, r.text);
  assert.equal((await api('DELETE', `${PD}${r.json.id}/`)).status, 204);
});

test('list: default event type, by name, each filter, count', async () => {
  let r = await api('GET', PD);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.count, 6);
  assert.deepEqual(names(r), ['Count', 'amount', 'is_paid', 'plan', 'signed_up_at', 'untyped']);
  assert.equal(r.json.next, null);
  assert.equal(r.json.previous, null);
  const one = r.json.results.find((x) => x.name === 'amount');
  assert.deepEqual(one, {
    id: ids['event/null/amount'], name: 'amount', is_numerical: true, property_type: 'Numeric',
    type: 'event', group_type_index: null, tags: [], is_seen_on_filtered_events: null,
  });

  r = await api('GET', `${PD}?type=event&search=UN`); // case-insensitive substring
  assert.deepEqual(names(r), ['Count', 'amount', 'untyped']);
  assert.equal(r.json.count, 3);
  r = await api('GET', `${PD}?is_numerical=true`);
  assert.deepEqual(names(r), ['Count', 'amount']);
  r = await api('GET', `${PD}?is_numerical=false`);
  assert.deepEqual(names(r), ['is_paid', 'plan', 'signed_up_at', 'untyped']);
  r = await api('GET', `${PD}?search=zzz`);
  assert.equal(r.json.count, 0);
  assert.deepEqual(r.json.results, []);

  r = await api('GET', `${PD}?type=person`);
  assert.deepEqual(names(r), ['age', 'email']);
  assert.ok(r.json.results.every((x) => x.type === 'person' && x.group_type_index === null));
  r = await api('GET', `${PD}?type=person&is_numerical=true`);
  assert.deepEqual(names(r), ['age']);
  r = await api('GET', `${PD}?type=group&group_type_index=0`);
  assert.equal(r.json.count, 1);
  assert.equal(r.json.results[0].property_type, 'Numeric');
  assert.equal(r.json.results[0].group_type_index, 0);
  assert.equal(r.json.results[0].type, 'group');
  r = await api('GET', `${PD}?type=group&group_type_index=1`);
  assert.equal(r.json.results[0].property_type, 'String');
  r = await api('GET', `${PD}?type=group&group_type_index=4`);
  assert.equal(r.json.count, 0);
  r = await api('GET', `${PD}?type=session`);
  assert.deepEqual(names(r), ['$entry_pathname']);
  r = await api('GET', '/api/environments/1/property_definitions/?type=person');
  assert.equal(r.status, 200);
  assert.deepEqual(names(r), ['age', 'email']);
});

test('list: paging with limit/offset and next/previous links that keep the filters', async () => {
  let r = await api('GET', `${PD}?limit=2&is_numerical=false`);
  assert.equal(r.json.count, 4);
  assert.deepEqual(names(r), ['is_paid', 'plan']);
  assert.equal(r.json.previous, null);
  const seen = names(r);
  while (r.json.next) {
    const u = new URL(r.json.next);
    assert.equal(u.searchParams.get('is_numerical'), 'false');
    assert.equal(u.searchParams.get('limit'), '2');
    r = await api('GET', u.pathname + u.search);
    assert.equal(r.status, 200);
    assert.equal(r.json.count, 4);
    assert.ok(r.json.previous);
    seen.push(...names(r));
  }
  assert.deepEqual(seen, ['is_paid', 'plan', 'signed_up_at', 'untyped']);
  r = await api('GET', `${PD}?type=group&group_type_index=0&limit=1&offset=0`);
  assert.equal(r.json.next, null);
  r = await api('GET', `${PD}?limit=1&offset=1`);
  assert.deepEqual(names(r), ['amount']);
  const prev = new URL(r.json.previous);
  assert.equal(prev.searchParams.get('offset'), '0');
  const next = new URL(r.json.next);
  assert.equal(next.searchParams.get('offset'), '2');
  assert.equal(next.searchParams.get('type'), null); // not given, not added
  r = await api('GET', `${PD}?offset=50`);
  assert.equal(r.json.count, 6);
  assert.deepEqual(r.json.results, []);
});

test('get, PATCH the type, DELETE', async () => {
  const id = ids['event/null/plan'];
  let r = await api('GET', `${PD}${id}/`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'plan');
  assert.equal(r.json.property_type, 'String');
  r = await api('GET', `/api/environments/1/property_definitions/${id}`);
  assert.equal(r.status, 200);

  r = await api('PATCH', `${PD}${id}/`, { property_type: 'Numeric' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.property_type, 'Numeric');
  assert.equal(r.json.is_numerical, true);
  assert.equal((await api('GET', `${PD}${id}/`)).json.property_type, 'Numeric');
  r = await api('GET', `${PD}?is_numerical=true`);
  assert.deepEqual(names(r), ['Count', 'amount', 'plan']);
  r = await api('PATCH', `${PD}${id}/`, { property_type: null });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.property_type, null);
  assert.equal(r.json.is_numerical, false);
  r = await api('PATCH', `${PD}${id}/`, { name: 'renamed', description: 'ignored' }); // read-only
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'plan');
  assert.equal(r.json.property_type, null);
  r = await api('PATCH', `${PD}${id}/`, { property_type: 'String' });
  assert.equal(r.json.property_type, 'String');

  assert.equal((await api('PATCH', `${PD}999999/`, { property_type: 'String' })).status, 404);
  assert.equal((await api('GET', `${PD}999999/`)).status, 404);
  assert.equal((await api('GET', `${PD}abc/`)).status, 404);
  assert.equal((await api('GET', `${PD}${id}/activity/`)).status, 404);

  const gone = ids['event/null/is_paid'];
  r = await api('DELETE', `${PD}${gone}/`);
  assert.equal(r.status, 204);
  assert.equal(r.text, '');
  assert.equal((await api('DELETE', `${PD}${gone}/`)).status, 404);
  assert.equal((await api('GET', `${PD}${gone}/`)).status, 404);
  r = await api('GET', PD);
  assert.equal(r.json.count, 5);
  assert.ok(!names(r).includes('is_paid'));
  assert.equal((await api('PUT', PD, {})).status, 405);
});

test('every 400 is JSON naming the problem', async () => {
  const lists = [
    ['type=cohort', 'type'],
    ['type=group', 'group_type_index'],
    ['type=group&group_type_index=5', 'group_type_index'],
    ['type=group&group_type_index=-1', 'group_type_index'],
    ['type=group&group_type_index=abc', 'group_type_index'],
    ['type=event&group_type_index=0', 'group_type_index'],
    ['group_type_index=1', 'group_type_index'],
    ['is_numerical=maybe', 'is_numerical'],
  ];
  for (const [q, attr] of lists) assert400(await api('GET', `${PD}?${q}`), attr, `GET ?${q}`);

  const bodies = [
    [{}, 'name'],
    [{ name: null }, 'name'],
    [{ name: 42 }, 'name'],
    [{ name: '' }, 'name'],
    [{ name: 'x'.repeat(201) }, 'name'],
    [{ name: 'é'.repeat(101) }, 'name'], // 202 bytes
    [{ name: 'a', type: 'cohort' }, 'type'],
    [{ name: 'a', type: 3 }, 'type'],
    [{ name: 'a', type: 'group' }, 'group_type_index'],
    [{ name: 'a', type: 'group', group_type_index: 9 }, 'group_type_index'],
    [{ name: 'a', type: 'group', group_type_index: '1' }, 'group_type_index'],
    [{ name: 'a', type: 'event', group_type_index: 0 }, 'group_type_index'],
    [{ name: 'a', property_type: 'numeric' }, 'property_type'],
    [{ name: 'a', property_type: 5 }, 'property_type'],
  ];
  for (const [body, attr] of bodies) assert400(await api('POST', PD, body), attr, `POST ${JSON.stringify(body)}`);

  // PATCH with an unknown type names the field and the allowed values.
  const id = ids['event/null/amount'];
  const r = await api('PATCH', `${PD}${id}/`, { property_type: 'Integer' });
  assert400(r, 'property_type', 'PATCH Integer');
  assert.equal(r.json.code, 'invalid_choice');
  for (const t of ['String', 'Numeric', 'Boolean', 'DateTime', 'Duration']) assert.ok(r.json.detail.includes(t), r.json.detail);
  assert.equal((await api('GET', `${PD}${id}/`)).json.property_type, 'Numeric');

  // Bodies that are not a JSON object.
  for (const raw of ['{not json', '[]']) {
    const p = await post(srv.url + PD, raw, { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' });
    assert.equal(p.status, 400, raw);
    assert.equal(p.json?.type, 'validation_error', p.text);
    assert.ok(p.json.detail.length > 5, p.text);
  }
  // Nothing was created by any of them.
  assert.deepEqual(names(await api('GET', `${PD}?search=a`)), ['amount', 'plan', 'signed_up_at']);
  assert.equal((await api('GET', `${PD}?type=group&group_type_index=1`)).json.count, 1);
});

test('other projects: 404 in a sibling project, 403 in another organization, 401 without a key', async (t) => {
  const out = execFileSync(BIN, ['team', 'create', '--name', 'second'], { env: { ...process.env, SNOUT_DATA_DIR: srv.dataDir } }).toString();
  const team2 = Number(/created team (\d+)/.exec(out)[1]);
  const P2 = `/api/projects/${team2}/property_definitions/`;
  const id = ids['event/null/amount'];
  let r = await api('GET', P2);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.count, 0);
  assert.equal((await api('GET', `${P2}${id}/`)).status, 404);
  assert.equal((await api('PATCH', `${P2}${id}/`, { property_type: 'String' })).status, 404);
  assert.equal((await api('DELETE', `${P2}${id}/`)).status, 404);
  r = await api('GET', `${PD}${id}/`);
  assert.equal(r.json.property_type, 'Numeric'); // untouched
  // The same name declared in the sibling project is its own definition.
  r = await api('POST', P2, { name: 'amount', property_type: 'String' });
  assert.equal(r.status, 201, r.text);
  assert.notEqual(r.json.id, id);
  assert.equal((await api('GET', `${PD}${id}/`)).json.property_type, 'Numeric');

  assert.equal((await api('GET', PD, undefined, null)).status, 401);
  assert.equal((await api('GET', PD, undefined, 'phx_nope_nope_nope_nope')).status, 401);
  r = await api('GET', '/api/projects/999/property_definitions/');
  assert.equal(r.status, 403);
  assert.equal(r.json.results, undefined);

  try {
    execFileSync('sqlite3', [`${srv.dataDir}/meta.sqlite3`,
      "PRAGMA busy_timeout=5000; INSERT INTO posthog_organization (uuid, name, created_at, updated_at) VALUES ('0190a000-0000-7000-8000-0000000000ac', 'other', 0, 0);" +
      "INSERT INTO posthog_team (uuid, organization_id, name, api_token, created_at, updated_at) VALUES ('0190a000-0000-7000-8000-0000000000bc', last_insert_rowid(), 'other', 'phc_other_org_token_0123456780', 0, 0);" +
      "INSERT INTO posthog_propertydefinition (team_id, name, type, property_type, is_numerical, created_at) VALUES (last_insert_rowid(), 'secret', 1, 'String', 0, 0);"]);
  } catch {
    t.skip('no sqlite3 command to create a second organization');
    return;
  }
  const otherTeam = team2 + 1;
  const P3 = `/api/projects/${otherTeam}/property_definitions/`;
  for (const [method, path, body] of [['GET', P3], ['POST', P3, { name: 'x' }], ['GET', `${P3}${id}/`],
    ['PATCH', `${P3}${id}/`, { property_type: 'String' }], ['DELETE', `${P3}${id}/`]]) {
    r = await api(method, path, body);
    assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
    assert.ok(!r.text.includes('secret') && !r.text.includes('amount'), r.text);
  }
  // Its definition is not reachable through our project either.
  r = await api('GET', `${PD}?search=secret`);
  assert.equal(r.json.count, 0);
});

test('list: PostHog hides ingestion names, takes properties, excluded_properties, word search', async () => {
  // PostHog's property_definition_api: EVENTS_HIDDEN_PROPERTY_DEFINITIONS
  // never listed as event properties (still fetched by id, and as person
  // properties); is_numerical=true leaves out distinct_id and timestamp;
  // properties= is a comma-separated list of names; excluded_properties= a
  // JSON list; search= words that must each be in the name.
  const made = [];
  for (const d of [{ name: 'distinct_id', property_type: 'Numeric' }, { name: '$initial_referrer' },
    { name: '$group_set' }, { name: '$group_key' }, { name: 'timestamp', property_type: 'Numeric' },
    { name: 'zz_total_price', property_type: 'Numeric' }, { name: 'zz_price_total', property_type: 'Numeric' },
    { name: 'zz_total', property_type: 'String' }, { name: 'distinct_id', type: 'person' }]) {
    const r = await api('POST', PD, d);
    assert.equal(r.status, 201, r.text);
    made.push(r.json);
  }
  let r = await api('GET', `${PD}?limit=1000`);
  for (const n of ['distinct_id', '$initial_referrer', '$group_set', '$group_key'])
    assert.ok(!names(r).includes(n), `${n} listed: ${names(r)}`);
  assert.ok(names(r).includes('timestamp'));
  assert.equal(r.json.count, r.json.results.length);
  r = await api('GET', `${PD}${made[0].id}/`);
  assert.equal(r.json.name, 'distinct_id');
  r = await api('GET', `${PD}?type=person&search=distinct`);
  assert.deepEqual(names(r), ['distinct_id']);

  r = await api('GET', `${PD}?is_numerical=true&limit=1000`);
  assert.ok(!names(r).includes('timestamp') && names(r).includes('zz_total_price'), names(r).join());

  r = await api('GET', `${PD}?properties=zz_total,amount,nope`);
  assert.deepEqual(names(r), ['amount', 'zz_total']);
  assert.equal(r.json.count, 2);
  r = await api('GET', `${PD}?properties=zz_total,amount&limit=1`);
  assert.equal(r.json.count, 2);
  assert.ok(r.json.next.includes('properties=zz_total%2Camount'), r.json.next);

  r = await api('GET', `${PD}?search=zz_&excluded_properties=${encodeURIComponent('["zz_total"]')}`);
  assert.deepEqual(names(r), ['zz_price_total', 'zz_total_price']);
  r = await api('GET', `${PD}?excluded_properties=zz_total`);
  assert400(r, 'excluded_properties', 'excluded_properties not JSON');
  r = await api('GET', `${PD}?excluded_properties=${encodeURIComponent('[1]')}`);
  assert400(r, 'excluded_properties', 'excluded_properties not names');

  r = await api('GET', `${PD}?search=${encodeURIComponent('PRICE  zz total')}`);
  assert.deepEqual(names(r), ['zz_price_total', 'zz_total_price']);
  r = await api('GET', `${PD}?search=${encodeURIComponent('price zz_total_')}`);
  assert.deepEqual(names(r), ['zz_total_price']);

  for (const d of made)
    assert.equal((await api('DELETE', `${PD}${d.id}/`)).status, 204);
});
