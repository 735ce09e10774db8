// Cohorts through PostHog's REST paths: dynamic cohorts (person property,
// behavioural, nested, negated) calculated by the server and compared with a
// model computed here; members used from HogQL (IN COHORT by id and name),
// from an insight filter and from a feature flag; static cohorts from a CSV
// upload (multipart, as PostHog's UI sends it), from person ids, and the
// add/remove endpoints; the members exported as CSV; validation errors that name the field; soft delete;
// another team cannot see them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY, BIN } from './lib.mjs';

let srv;
const DAY = 86400e3;
const now = Date.now();
// 40 users: plan pro for every 3rd, purchases: user i buys (i % 4) times,
// spread over the last 60 days (purchase k of user i at i+k*11 days ago).
const users = [];
for (let i = 0; i < 40; i++) {
  const purchases = [];
  for (let k = 0; k < i % 4; k++) purchases.push(now - ((i + k * 11) % 60) * DAY - 3600e3);
  users.push({ id: `user${i}`, plan: i % 3 === 0 ? 'pro' : 'free', email: `u${i}@example.com`, purchases,
    signup: now - (i * 3 + 0.5) * DAY });
}

async function api(method, path, body, key = API_KEY) {
  const headers = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  const res = await fetch(srv.url + path, { method, headers, body: payload });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

const hogql = async (query) => {
  const r = await api('POST', '/api/projects/1/query/', { query: { kind: 'HogQLQuery', query } });
  assert.equal(r.status, 200, r.text);
  return r.json.results;
};

before(async () => {
  srv = await startServer({ env: { SNOUT_ACCESS_LOG: 'false' } });
  const batch = [];
  for (const u of users) {
    batch.push({ event: '$pageview', distinct_id: u.id, timestamp: new Date(now - 70 * DAY).toISOString(),
      properties: { $set: { plan: u.plan, email: u.email, signup: new Date(u.signup).toISOString() } } });
    for (const t of u.purchases) batch.push({ event: 'purchase', distinct_id: u.id, timestamp: new Date(t).toISOString(), properties: { amount: 10 } });
  }
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  for (let i = 0; i < 100; i++) {
    const [[n]] = await hogql('select count() from events');
    if (n === batch.length) break;
    await sleep(200);
  }
});
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

const C = '/api/projects/1/cohorts/';

async function calculated(id) {
  for (let i = 0; i < 200; i++) {
    const r = await api('GET', `${C}${id}/`);
    assert.equal(r.status, 200, r.text);
    if (r.json.last_calculation && !r.json.is_calculating) return r.json;
    if (r.json.errors_calculating) assert.fail(`calculation failed: ${r.json.last_error_message}`);
    await sleep(100);
  }
  assert.fail(`cohort ${id} was never calculated`);
}

async function memberIds(id) {
  const r = await api('GET', `${C}${id}/persons/?limit=1000`);
  assert.equal(r.status, 200, r.text);
  return r.json.results.map((p) => p.distinct_ids[0]).sort();
}

const ids = (pred) => users.filter(pred).map((u) => u.id).sort();
const purchasesWithin = (u, days) => u.purchases.filter((t) => t >= now - days * DAY).length;

let pro, buyers;

test('dynamic cohorts: person property and behavioural criteria, calculated against a model', async () => {
  let r = await api('POST', C, { name: 'Pro users', filters: { properties: { type: 'AND', values: [
    { type: 'person', key: 'plan', operator: 'exact', value: 'pro' }] } } });
  assert.equal(r.status, 201, r.text);
  pro = r.json;
  assert.equal(pro.is_static, false);
  assert.equal(pro.cohort_type, 'person_property');
  for (const k of ['id', 'groups', 'filters', 'is_calculating', 'created_by', 'created_at', 'last_calculation', 'errors_calculating', 'count', 'version'])
    assert.ok(k in pro, k);
  const proCalc = await calculated(pro.id);
  assert.equal(proCalc.count, ids((u) => u.plan === 'pro').length);
  assert.deepEqual(await memberIds(pro.id), ids((u) => u.plan === 'pro'));

  r = await api('POST', C, { name: 'Repeat buyers', filters: { properties: { type: 'OR', values: [{ type: 'AND', values: [
    { type: 'behavioral', key: 'purchase', value: 'performed_event_multiple', event_type: 'events',
      operator: 'gte', operator_value: 2, time_value: 30, time_interval: 'day' }] }] } } });
  assert.equal(r.status, 201, r.text);
  buyers = r.json;
  assert.equal(buyers.cohort_type, 'behavioral');
  const want = ids((u) => purchasesWithin(u, 30) >= 2);
  assert.ok(want.length > 3 && want.length < 30, `model sanity: ${want.length}`);
  assert.equal((await calculated(buyers.id)).count, want.length);
  assert.deepEqual(await memberIds(buyers.id), want);

  // Nested and negated: pro users who are not repeat buyers.
  r = await api('POST', C, { name: 'Pro non-buyers', filters: { properties: { type: 'AND', values: [
    { type: 'cohort', key: 'id', value: pro.id },
    { type: 'cohort', key: 'id', value: buyers.id, negation: true }] } } });
  assert.equal(r.status, 201, r.text);
  const nested = r.json;
  await calculated(nested.id);
  assert.deepEqual(await memberIds(nested.id), ids((u) => u.plan === 'pro' && purchasesWithin(u, 30) < 2));

  // Changing the definition recalculates at once.
  r = await api('PATCH', `${C}${pro.id}/`, { filters: { properties: { type: 'AND', values: [
    { type: 'person', key: 'plan', operator: 'exact', value: 'free' }] } } });
  assert.equal(r.status, 200, r.text);
  await calculated(pro.id);
  assert.deepEqual(await memberIds(pro.id), ids((u) => u.plan === 'free'));
  r = await api('PATCH', `${C}${pro.id}/`, { filters: { properties: { type: 'AND', values: [
    { type: 'person', key: 'plan', operator: 'exact', value: 'pro' }] } } });
  assert.equal(r.status, 200, r.text);
  await calculated(pro.id);

  r = await api('GET', `${C}${pro.id}/activity/`);
  assert.equal(r.status, 200);
  assert.ok(r.json.results.length >= 3);
});

test('relative dates of is_date_after / is_date_before count back from now, as PostHog resolves them', async () => {
  const r = await api('POST', C, { name: 'Recent signups', filters: { properties: { type: 'AND', values: [
    { type: 'person', key: 'signup', operator: 'is_date_after', value: '-30d' }] } } });
  assert.equal(r.status, 201, r.text);
  await calculated(r.json.id);
  const recent = ids((u) => u.signup > now - 30 * DAY);
  assert.ok(recent.length > 3 && recent.length < 30, `model sanity: ${recent.length}`);
  assert.deepEqual(await memberIds(r.json.id), recent);
  // An insight's person filter reads the value the same way.
  const tq = { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: '$pageview', math: 'total' }],
    dateRange: { date_from: '-90d' }, trendsFilter: { display: 'ActionsLineGraph' },
    properties: [{ type: 'person', key: 'signup', operator: 'is_date_before', value: '-30d' }] };
  const ins = await api('POST', '/api/projects/1/query/', { query: tq });
  assert.equal(ins.status, 200, ins.text);
  assert.equal(ins.json.results[0].count, users.length - recent.length);
});

test('members are used by HogQL, insights and flags', async () => {
  const proUsers = ids((u) => u.plan === 'pro');
  const proPurchases = users.filter((u) => u.plan === 'pro').reduce((n, u) => n + u.purchases.length, 0);
  assert.deepEqual(await hogql(`select count() from events where event = 'purchase' and person_id in cohort ${pro.id}`), [[proPurchases]]);
  assert.deepEqual(await hogql("select count(distinct person_id) from events where person_id in cohort 'Pro users'"), [[proUsers.length]]);
  assert.deepEqual(await hogql(`select count() from persons where id not in cohort ${pro.id}`), [[users.length - proUsers.length]]);
  const bad = await api('POST', '/api/projects/1/query/', { query: { kind: 'HogQLQuery', query: 'select count() from events where person_id in cohort 99999' } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.detail, /Could not find cohort with ID 99999/);

  // An insight filtered by the cohort.
  const tq = { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: 'purchase', math: 'total' }],
    dateRange: { date_from: '-90d' }, trendsFilter: { display: 'ActionsLineGraph' },
    properties: [{ type: 'cohort', key: 'id', value: pro.id, operator: 'in' }] };
  const ins = await api('POST', '/api/projects/1/query/', { query: tq });
  assert.equal(ins.status, 200, ins.text);
  assert.equal(ins.json.results[0].count, proPurchases);

  // A flag released to the cohort.
  let r = await api('POST', '/api/projects/1/feature_flags/', { key: 'pro-beta', name: 'Pro beta', active: true,
    filters: { groups: [{ properties: [{ type: 'cohort', key: 'id', value: pro.id }], rollout_percentage: 100 }] } });
  assert.equal(r.status, 201, r.text);
  for (const u of [users[0], users[1], users[3]]) {
    const f = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ api_key: TOKEN, distinct_id: u.id }), { 'Content-Type': 'application/json' });
    assert.equal(f.status, 200, f.text);
    assert.equal(f.json.flags['pro-beta'].enabled, u.plan === 'pro', `${u.id} (${u.plan})`);
  }
  r = await api('POST', '/api/projects/1/feature_flags/', { key: 'buyers-beta', name: 'Buyers', active: true,
    filters: { groups: [{ properties: [{ type: 'cohort', key: 'id', value: buyers.id }], rollout_percentage: 100 }] } });
  assert.equal(r.status, 201, r.text);
  for (const u of users.slice(0, 8)) {
    const f = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ api_key: TOKEN, distinct_id: u.id }), { 'Content-Type': 'application/json' });
    assert.equal(f.json.flags['buyers-beta'].enabled, purchasesWithin(u, 30) >= 2, u.id);
  }
  // Local evaluation gets the person-property cohort's definition; the
  // behavioural one is decided by the server (SDKs fall back to /flags).
  const le = await fetch(`${srv.url}/api/feature_flag/local_evaluation/?token=${TOKEN}`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  const doc = await le.json();
  assert.deepEqual(Object.keys(doc.cohorts), [String(pro.id)]);
  assert.equal(doc.cohorts[pro.id].values[0].value, 'pro');
});

test('static cohorts: CSV upload, person ids, add and remove', async () => {
  const form = new FormData();
  form.append('name', 'Uploaded');
  form.append('is_static', 'true');
  form.append('csv', new Blob(['distinct_id\nuser1\n"user2"\nnobody\nuser5\n'], { type: 'text/csv' }), 'people.csv');
  let r = await api('POST', C, form);
  assert.equal(r.status, 201, r.text);
  const up = r.json;
  assert.equal(up.is_static, true);
  assert.equal(up.cohort_type, 'static');
  assert.equal(up.count, 3);
  assert.deepEqual(await memberIds(up.id), ['user1', 'user2', 'user5']);

  // By email, appended through PATCH with a second file.
  const more = new FormData();
  more.append('csv', new Blob(['email\nu7@example.com\n'], { type: 'text/csv' }), 'more.csv');
  r = await api('PATCH', `${C}${up.id}/`, more);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.count, 4);

  const persons = await hogql("select id, properties.email from persons where properties.email in ('u9@example.com', 'u11@example.com') order by properties.email");
  r = await api('POST', C, { name: 'Picked', is_static: true, _create_static_person_ids: persons.map((p) => p[0]) });
  assert.equal(r.status, 201, r.text);
  const picked = r.json;
  assert.equal(picked.count, 2);
  r = await api('PATCH', `${C}${picked.id}/add_persons_to_static_cohort/`, { person_ids: [persons[0][0]] });
  assert.equal(r.status, 200, r.text);
  r = await api('PATCH', `${C}${picked.id}/remove_person_from_static_cohort/`, { person_id: persons[1][0] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(await memberIds(picked.id), ['user11']);
  r = await api('PATCH', `${C}${picked.id}/remove_person_from_static_cohort/`, { person_id: persons[1][0] });
  assert.equal(r.status, 400);
  assert.deepEqual(await hogql(`select count() from events where person_id in cohort 'Uploaded'`),
    [[['user1', 'user2', 'user5', 'user7'].reduce((n, id) => n + 1 + users.find((u) => u.id === id).purchases.length, 0)]]);

  // From a query ("save as cohort"): the person ids of its rows.
  r = await api('POST', C, { name: 'Buyers (saved)', is_static: true,
    query: { kind: 'HogQLQuery', query: "select distinct person_id from events where event = 'purchase'" } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.count, users.filter((u) => u.purchases.length).length);
  assert.deepEqual(await memberIds(r.json.id), ids((u) => u.purchases.length > 0));
  r = await api('POST', C, { name: 'Bad query', is_static: true, query: { kind: 'HogQLQuery', query: 'select nope(' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.attr, 'query');
  assert.equal((await api('GET', `${C}?search=Bad%20query`)).json.count, 0, 'a failing query creates nothing');

  // A malformed CSV is a 400 naming the line; the members are unchanged.
  const bad = new FormData();
  bad.append('csv', new Blob(['distinct_id\nus"er\n'], { type: 'text/csv' }), 'bad.csv');
  r = await api('PATCH', `${C}${up.id}/`, bad);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.attr, 'csv');
  assert.match(r.json.detail, /line 2/);
  assert.equal((await api('GET', `${C}${up.id}/`)).json.count, 4);
});

// RFC 4180 records (quoted fields with doubled quotes, CR LF line ends).
function parseCsv(text) {
  const rows = [];
  let row = [], f = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { f += '"'; i++; } else if (c === '"') q = false; else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(f); f = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(f); rows.push(row); row = []; f = ''; i++; }
    else f += c;
  }
  assert.equal(f, '', 'the last record ends with CR LF');
  return rows;
}

test('members export as CSV, flattened as PostHog\'s CSV renderer does', async () => {
  // a property that needs quoting, on one of the two members
  const r0 = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [
    { event: 'noted', distinct_id: 'user3', properties: { $set: { note: 'a, "b"\nc', vip: true } } }] }),
  { 'Content-Type': 'application/json' });
  assert.equal(r0.status, 200);
  let persons;
  for (let i = 0; i < 100; i++) {
    persons = await hogql("select id, properties.email from persons where properties.email in ('u3@example.com', 'u4@example.com') and (properties.email = 'u4@example.com' or properties.vip = 'true') order by properties.email");
    if (persons.length === 2) break;
    await sleep(100);
  }
  let r = await api('POST', C, { name: 'Exported', is_static: true, _create_static_person_ids: persons.map((p) => p[0]) });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  const res = await fetch(`${srv.url}${C}${id}/persons/?format=csv`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/csv/);
  assert.match(res.headers.get('content-disposition'), new RegExp(`attachment; filename="cohort-${id}.csv"`));
  const rows = parseCsv(await res.text());
  const [header, ...data] = rows;
  assert.deepEqual(header, [...header].sort(), 'columns in sorted order');
  for (const col of ['distinct_ids.0', 'id', 'properties.email', 'properties.note', 'properties.plan', 'properties.vip'])
    assert.ok(header.includes(col), `${col} in ${header}`);
  assert.equal(data.length, 2);
  const rec = data.map((d) => Object.fromEntries(header.map((h, i) => [h, d[i]])))
    .sort((a, b) => a['properties.email'].localeCompare(b['properties.email']));
  assert.deepEqual(rec.map((x) => x['distinct_ids.0']), ['user3', 'user4']);
  assert.equal(rec[0]['properties.note'], 'a, "b"\nc');
  assert.equal(rec[0]['properties.vip'], 'True');
  assert.equal(rec[1]['properties.note'], '', 'a missing column is an empty cell');
  // the JSON list has the same members
  const json = await api('GET', `${C}${id}/persons/`);
  assert.deepEqual(json.json.results.map((p) => p.distinct_ids[0]).sort(), ['user3', 'user4']);
  // limit pages the export; an unknown format is a 400 naming it
  const one = await fetch(`${srv.url}${C}${id}/persons/?format=csv&limit=1`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  assert.equal(parseCsv(await one.text()).length, 2);
  r = await api('GET', `${C}${id}/persons/?format=xml`);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.attr, 'format');
});

test('validation errors name the field', async () => {
  let r = await api('POST', C, { filters: { properties: { type: 'AND', values: [] } } });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'name');
  r = await api('POST', C, { name: 'x', filters: { properties: { type: 'XOR', values: [] } } });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'filters');
  r = await api('POST', C, { name: 'x', filters: { properties: { type: 'AND', values: [{ type: 'behavioral', key: 'purchase', value: 'no_such_thing' }] } } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.attr, 'filters');
  r = await api('POST', C, { name: 'x', filters: { properties: { type: 'AND', values: [{ type: 'cohort', key: 'id', value: 424242 }] } } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /424242/);
  // A cycle: pro would contain a cohort that contains pro.
  r = await api('POST', C, { name: 'wraps pro', filters: { properties: { type: 'AND', values: [{ type: 'cohort', key: 'id', value: pro.id }] } } });
  assert.equal(r.status, 201, r.text);
  const wrap = r.json;
  r = await api('PATCH', `${C}${pro.id}/`, { filters: { properties: { type: 'AND', values: [{ type: 'cohort', key: 'id', value: wrap.id }] } } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /cannot contain itself/);
  r = await api('PATCH', `${C}${pro.id}/`, { is_static: true });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'is_static');
  r = await api('POST', C, '{not json');
  assert.equal(r.status, 400);
});

test('list, search, soft delete, and other teams', async () => {
  let r = await api('GET', `${C}?search=REPEAT`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.results.map((c) => c.name), ['Repeat buyers']);
  r = await api('GET', `${C}?limit=2`);
  assert.equal(r.json.results.length, 2);
  assert.ok(r.json.count >= 6);
  assert.match(r.json.next, /offset=2/);

  r = await api('POST', C, { name: 'Doomed', is_static: true });
  const doomed = r.json;
  r = await api('DELETE', `${C}${doomed.id}/`);
  assert.equal(r.status, 204);
  assert.equal((await api('GET', `${C}${doomed.id}/`)).status, 404);
  const bad = await api('POST', '/api/projects/1/query/', { query: { kind: 'HogQLQuery', query: "select 1 from events where person_id in cohort 'Doomed'" } });
  assert.equal(bad.status, 400);

  const t = spawnSync(BIN, ['team', 'create', '--name', 'Other', '--data-dir', srv.dataDir], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const other = Number(/created team (\d+)/.exec(t.stdout)[1]);
  r = await api('GET', `/api/projects/${other}/cohorts/`);
  assert.equal(r.status, 200);
  assert.equal(r.json.count, 0);
  r = await api('GET', `/api/projects/${other}/cohorts/${pro.id}/`);
  assert.equal(r.status, 404);
  r = await api('GET', `/api/projects/${other}/cohorts/${pro.id}/persons/`);
  assert.equal(r.status, 404);
  // A flag cannot name another team's cohort, or one that does not exist.
  for (const [team, value] of [[other, pro.id], [1, 424242], [1, 'abc']]) {
    r = await api('POST', `/api/projects/${team}/feature_flags/`, { key: `xteam-${team}-${value}`, active: true,
      filters: { groups: [{ properties: [{ type: 'cohort', key: 'id', value }], rollout_percentage: 100 }] } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.code, 'cohort_does_not_exist');
    assert.equal(r.json.detail, `Cohort with id ${value} does not exist`);
  }
  r = await api('GET', C, undefined, null);
  assert.equal(r.status, 401);
});

test('a flag on a static cohort follows its member through a merge, as PostHog\'s merge moves cohortpeople', async () => {
  let r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [
    { event: '$pageview', distinct_id: 'merge-anon', properties: { $set: { beta: 'yes' } } },
    { event: '$pageview', distinct_id: 'merge-known' }] }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  let rows;
  for (let i = 0; i < 100; i++) {
    rows = await hogql("select id from persons where properties.beta = 'yes'");
    const [[n]] = await hogql("select count() from person_distinct_ids where distinct_id in ('merge-anon', 'merge-known')");
    if (rows.length === 1 && n === 2) break;
    await sleep(100);
  }
  r = await api('POST', C, { name: 'Beta testers', is_static: true, _create_static_person_ids: [rows[0][0]] });
  assert.equal(r.status, 201, r.text);
  r = await api('POST', '/api/projects/1/feature_flags/', { key: 'static-beta', active: true,
    filters: { groups: [{ properties: [{ type: 'cohort', key: 'id', value: r.json.id }], rollout_percentage: 100 }] } });
  assert.equal(r.status, 201, r.text);
  const enabled = async (id) => {
    const f = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ api_key: TOKEN, distinct_id: id }), { 'Content-Type': 'application/json' });
    assert.equal(f.status, 200, f.text);
    return f.json.flags['static-beta'].enabled;
  };
  assert.equal(await enabled('merge-anon'), true);
  assert.equal(await enabled('merge-known'), false);
  r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [
    { event: '$identify', distinct_id: 'merge-known', properties: { $anon_distinct_id: 'merge-anon' } }] }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  for (let i = 0; i < 100; i++) {
    const [[n]] = await hogql("select count(distinct person_id) from person_distinct_ids where distinct_id in ('merge-anon', 'merge-known')");
    if (n === 1) break;
    await sleep(100);
  }
  assert.equal(await enabled('merge-known'), true);
  assert.equal(await enabled('merge-anon'), true);
});
