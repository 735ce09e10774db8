// Identity at ingestion, seen from outside: events sent with the real
// posthog-node SDK (and raw /batch requests for the load test) must produce
// PostHog's person graph, visible through the persons REST API
// (/api/projects/:id/persons/...), and through the query API: events.person_id
// with merge overrides applied at query time, person.properties.* and
// group_N.* joined from the person store.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { PostHog } from 'posthog-node';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

let srv;
const H = { Authorization: `Bearer ${API_KEY}` };
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

async function get(path) {
  const res = await fetch(`${srv.url}${path}`, { headers: H });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function personOf(did) {
  const r = await get(`/api/projects/1/persons/?distinct_id=${encodeURIComponent(did)}`);
  assert.equal(r.status, 200, r.text);
  return r.json.results[0] || null;
}

// Ingestion runs behind capture: poll until check() holds (or fail with its
// last error).
async function eventually(check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    try { return await check(); } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(100);
    }
  }
}

function sdk() {
  const errors = [];
  const client = new PostHog(TOKEN, { host: srv.url, flushAt: 1000, flushInterval: 60000, fetchRetryCount: 0 });
  client.on('error', (e) => errors.push(e));
  return { client, errors };
}

async function query(q) {
  return post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query: { kind: 'HogQLQuery', query: q } }), H);
}

test('anonymous then identified: one person, properties, $set_once, $unset', async () => {
  const { client, errors } = sdk();
  client.capture({ distinctId: 'anon-1', event: '$pageview', properties: { $browser: 'Firefox', $current_url: 'https://x.test/a', utm_source: 'news' } });
  client.capture({ distinctId: 'anon-1', event: 'clicked', properties: { $set_once: { first_seen: 'a' } } });
  client.capture({ distinctId: 'user-1', event: '$identify', properties: { $anon_distinct_id: 'anon-1', $set: { email: 'one@example.com', plan: 'free' } } });
  client.capture({ distinctId: 'user-1', event: 'clicked', properties: { $set_once: { first_seen: 'b' }, $set: { plan: 'pro' } } });
  client.capture({ distinctId: 'user-1', event: 'clicked', properties: { $unset: ['utm_source'] } });
  await client.shutdown();
  assert.deepEqual(errors, []);
  const p = await eventually(async () => {
    const x = await personOf('user-1');
    assert.ok(x, 'user-1 has a person');
    assert.equal(x.properties.plan, 'pro');
    assert.equal(x.properties.utm_source, undefined);
    return x;
  });
  assert.deepEqual(p.distinct_ids, ['anon-1', 'user-1']);
  assert.equal(p.is_identified, true);
  assert.equal(p.name, 'one@example.com');
  assert.equal(p.id, p.uuid);
  assert.equal(p.properties.email, 'one@example.com');
  assert.equal(p.properties.first_seen, 'a', '$set_once does not overwrite');
  assert.equal(p.properties.$initial_browser, 'Firefox');
  assert.equal(p.properties.$initial_utm_source, 'news');
  assert.equal(p.properties.$current_url, 'https://x.test/a');
  assert.match(p.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal((await personOf('anon-1')).uuid, p.uuid);

  // The query engine sees one person for both distinct ids, including the
  // anonymous events stored before $identify (query-time overrides), and
  // joins its current properties.
  await eventually(async () => {
    const r = await query("SELECT distinct_id, person_id FROM events WHERE distinct_id IN ('anon-1', 'user-1') ORDER BY timestamp");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results.length, 5);
    for (const [, pid] of r.json.results) assert.equal(pid, p.uuid);
    const e = await query("SELECT person.properties.email, count() FROM events WHERE distinct_id IN ('anon-1', 'user-1') GROUP BY 1");
    assert.equal(e.status, 200, e.text);
    assert.deepEqual(e.json.columns, ['email', 'count()']);
    assert.deepEqual(e.json.results, [['one@example.com', 5]]);
  });

  // One person by uuid, and the same through search and property filters.
  const one = await get(`/api/projects/1/persons/${p.uuid}/`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.json, p);
  const s = await get('/api/projects/1/persons/?search=ONE@example');
  assert.deepEqual(s.json.results.map((x) => x.uuid), [p.uuid]);
  const f = await get(`/api/projects/1/persons/?properties=${encodeURIComponent(JSON.stringify([{ key: 'plan', value: 'pro', operator: 'exact', type: 'person' }]))}`);
  assert.equal(f.status, 200, f.text);
  assert.deepEqual(f.json.results.map((x) => x.uuid), [p.uuid]);

  // Writes go through ingestion and show up shortly after.
  let r = await post(`${srv.url}/api/projects/1/persons/${p.uuid}/update_property/`, JSON.stringify({ key: 'tier', value: 3 }), H);
  assert.equal(r.status, 202, r.text);
  r = await post(`${srv.url}/api/projects/1/persons/${p.uuid}/delete_property/`, JSON.stringify({ $unset: 'plan' }), H);
  assert.equal(r.status, 201, r.text);
  await eventually(async () => {
    const x = (await get(`/api/projects/1/persons/${p.uuid}/`)).json;
    assert.equal(x.properties.tier, 3);
    assert.equal(x.properties.plan, undefined);
  });

  // Unknown person, other project, no key: never data.
  assert.equal((await get('/api/projects/1/persons/00000000-0000-0000-0000-000000000000/')).status, 404);
  const other = await get(`/api/projects/2/persons/${p.uuid}/`);
  assert.ok(other.status === 403 || other.status === 404, other.text);
  assert.ok(!other.text.includes('one@example.com'));
  const anon = await fetch(`${srv.url}/api/projects/1/persons/`);
  assert.equal(anon.status, 401);
});

// PostHog's PersonViewSet for one person: retrieve (distinct ids that do not
// look anonymous first), update (PATCH/PUT: a $set of "properties"),
// update_property (a null value is no value), delete_property ({"success":
// true}), and a person id that is not a UUID (400, pointing to ?distinct_id=).
test('one person: retrieve, PATCH/PUT, update_property and delete_property as PostHog answers them', async () => {
  const anon = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a99'; // posthog-js style
  const r0 = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [
    { event: 'e', distinct_id: anon, properties: { $set: { plan: 'one-a', gone: 1 } } },
    { event: '$identify', distinct_id: 'one-user', properties: { $anon_distinct_id: anon } },
  ] }));
  assert.equal(r0.status, 200, r0.text);
  const p = await eventually(async () => {
    const x = await personOf('one-user');
    assert.deepEqual(x.distinct_ids, [anon, 'one-user'], 'the list keeps the oldest first');
    return x;
  });
  const base = `/api/projects/1/persons/${p.uuid}/`;
  const one = await get(base);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(one.json.distinct_ids, ['one-user', anon]);
  assert.equal(one.json.name, 'one-user');

  const call = async (method, path, body) => {
    const res = await fetch(`${srv.url}${path}`, { method, headers: { ...H, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : null };
  };
  let r = await call('PATCH', base, { properties: { plan: 'one-b', tier: 2 } });
  assert.equal(r.status, 202, r.text);
  r = await call('PUT', base, { properties: { seats: 5 } });
  assert.equal(r.status, 202, r.text);
  for (const body of [{}, { properties: null }, { properties: [1] }, { properties: 'x' }]) {
    r = await call('PATCH', base, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.attr, 'properties');
  }
  r = await call('POST', `${base}update_property/`, { key: 'plan', value: null });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.attr, 'value');
  r = await call('POST', `${base}delete_property/`, { $unset: 'gone' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json, { success: true });
  await eventually(async () => {
    const x = (await get(base)).json;
    assert.equal(x.properties.plan, 'one-b');
    assert.equal(x.properties.tier, 2);
    assert.equal(x.properties.seats, 5, 'PUT keeps what it does not name');
    assert.equal(x.properties.gone, undefined);
    // the $set events name the person's first distinct id, as PostHog's do
    const q = await query(`SELECT person.properties.plan FROM events WHERE distinct_id = '${anon}' AND event = '$set' LIMIT 1`);
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.results, [['one-b']]);
  });

  // Ids: a distinct id is not a person id (400 that says where to look); a
  // number (PostHog's primary key, never shown here) and an unknown uuid are 404s.
  for (const [path, method, body] of [['one-user/', 'GET'], ['one-user/', 'DELETE'], ['one-user/', 'PATCH', { properties: {} }],
    ['one-user/update_property/', 'POST', { key: 'k', value: 1 }], ['one-user/delete_property/', 'POST', { $unset: 'k' }],
    ['one-user/split/', 'POST'], ['x'.repeat(60) + '/', 'GET']]) {
    r = await call(method, `/api/projects/1/persons/${path}`, body);
    assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
    assert.match(r.json.detail, /distinct_id=/);
  }
  assert.equal((await call('GET', '/api/projects/1/persons/12345/')).status, 404);
  assert.equal((await call('PATCH', '/api/projects/1/persons/00000000-0000-0000-0000-000000000000/', { properties: { a: 1 } })).status, 404);
  r = await call('GET', '/api/projects/1/persons/values/?key=plan');
  assert.equal(r.status, 404, r.text);
  assert.equal(r.json.detail, 'no such endpoint');
  assert.ok(await personOf('one-user'), 'nothing above deleted or split the person');
});

test('alias chains, merge refusal and $merge_dangerously', async () => {
  const { client, errors } = sdk();
  client.alias({ distinctId: 'chain-a', alias: 'chain-b' });
  client.alias({ distinctId: 'chain-b', alias: 'chain-c' });
  client.capture({ distinctId: 'ua', event: '$identify', properties: { $anon_distinct_id: 'aa' } });
  client.capture({ distinctId: 'ub', event: '$identify', properties: { $anon_distinct_id: 'ab' } });
  // Two identified persons: $identify must not merge them.
  client.capture({ distinctId: 'ua', event: '$identify', properties: { $anon_distinct_id: 'ub' } });
  client.capture({ distinctId: 'ua', event: 'after-refusal' });
  client.capture({ distinctId: 'ub', event: 'after-refusal' });
  await client.shutdown();
  assert.deepEqual(errors, []);
  await eventually(async () => {
    const c = await personOf('chain-c');
    assert.ok(c);
    assert.deepEqual([...c.distinct_ids].sort(), ['chain-a', 'chain-b', 'chain-c']);
    const a = await personOf('ua'), b = await personOf('ub');
    assert.ok(a && b);
    assert.notEqual(a.uuid, b.uuid, 'identified persons are not merged by $identify');
    assert.deepEqual(a.distinct_ids, ['ua', 'aa']);
    assert.deepEqual(b.distinct_ids, ['ub', 'ab']);
  });

  const m = sdk();
  m.client.capture({ distinctId: 'ua', event: '$merge_dangerously', properties: { alias: 'ub' } });
  m.client.capture({ distinctId: 'ab', event: 'after-merge' });
  m.client.capture({ distinctId: 'ua', event: 'after-merge' });
  await m.client.shutdown();
  assert.deepEqual(m.errors, []);
  const merged = await eventually(async () => {
    const a = await personOf('ab');
    assert.ok(a);
    assert.deepEqual([...a.distinct_ids].sort(), ['aa', 'ab', 'ua', 'ub']);
    return a;
  });
  assert.equal((await personOf('ub')).uuid, merged.uuid);

  // Every event of the four distinct ids belongs to the merged person now:
  // those sent after the merge carry its id, those before it are resolved
  // through the override map at query time.
  await eventually(async () => {
    const r = await query("SELECT distinct_id, person_id FROM events WHERE distinct_id IN ('aa', 'ab', 'ua', 'ub') ORDER BY timestamp");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results.length, 8);
    for (const [did, pid] of r.json.results) assert.equal(pid, merged.uuid, did);
    const a = await query("SELECT count() FROM events WHERE event = 'after-merge' AND pdi.person_id = person_id");
    assert.deepEqual(a.json.results, [[2]]);
  });
});

test('persons list: PostHog\'s display name, search and list-valued filters; oversized updates and $os_name', async () => {
  const { client, errors } = sdk();
  const anon = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'; // a posthog-js style anonymous id
  client.capture({ distinctId: anon, event: '$pageview', properties: { $set: { plan: 'lst-a' } } });
  client.capture({ distinctId: 'lst-user@corp', event: '$identify', properties: { $anon_distinct_id: anon } });
  client.capture({ distinctId: 'lst-2', event: 'e', properties: { $set: { Email: 'Two@lst.test', name: 'Dave', plan: 'lst-b' } } });
  client.capture({ distinctId: 'lst-3', event: 'e', properties: { $set: { Name: 'Bob', username: 'bobby', plan: 'lst-c', n: 7 } } });
  client.capture({ distinctId: 'lst-4', event: 'e', properties: { $set: { email: 42, plan: 'lst-d', note: 'O"Brien' } } });
  client.capture({ distinctId: 'lst-6', event: 'e', properties: { $set: { email: 'Six@LST.test' } } });
  await client.shutdown();
  assert.deepEqual(errors, []);
  // as a mobile SDK sends it (posthog-node marks its events $is_server, whose OS is never lifted)
  const m = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [
    { event: '$screen', distinct_id: 'lst-5', properties: { $os_name: 'Android', $lib: 'posthog-react-native' } },
  ] }));
  assert.equal(m.status, 200, m.text);
  const byDid = {};
  await eventually(async () => {
    for (const d of ['lst-user@corp', 'lst-2', 'lst-3', 'lst-4', 'lst-5', 'lst-6']) {
      byDid[d] = await personOf(d);
      assert.ok(byDid[d], d);
    }
    assert.equal(byDid['lst-user@corp'].distinct_ids.length, 2);
  });
  // name: the first truthy display property as it is, else a non-anonymous distinct id
  assert.equal(byDid['lst-user@corp'].name, 'lst-user@corp');
  assert.equal(byDid['lst-2'].name, 'Two@lst.test');
  assert.equal(byDid['lst-3'].name, 'Bob');
  assert.equal(byDid['lst-4'].name, 42);
  // $os_name alone gives $os and $initial_os
  assert.equal(byDid['lst-5'].properties.$os, 'Android');
  assert.equal(byDid['lst-5'].properties.$initial_os, 'Android');

  const uuids = async (qs) => {
    const r = await get(`/api/projects/1/persons/?${qs}`);
    assert.equal(r.status, 200, r.text);
    return r.json.results.map((x) => x.uuid).sort();
  };
  const sorted = (...d) => d.map((x) => byDid[x].uuid).sort();
  // search: the email contains it, or a distinct id / the person id is it
  assert.deepEqual(await uuids('search=six@lst'), sorted('lst-6'));
  assert.deepEqual(await uuids('search=two@lst'), []); // `Email` is not `email`
  assert.deepEqual(await uuids('search=lst-3'), sorted('lst-3'));
  assert.deepEqual(await uuids(`search=${byDid['lst-4'].uuid.toUpperCase()}`), sorted('lst-4'));
  assert.deepEqual(await uuids('search=lst-'), []); // not part of a distinct id
  assert.deepEqual(await uuids('search=Brien'), []); // not other properties
  // a list value is any of its values
  const f = (flt) => `properties=${encodeURIComponent(JSON.stringify(flt))}`;
  assert.deepEqual(await uuids(f([{ key: 'plan', value: ['lst-b', 'lst-c'], operator: 'exact', type: 'person' }])), sorted('lst-2', 'lst-3'));
  assert.deepEqual(await uuids(f([{ key: 'plan', value: ['lst-b', 'lst-c', 'lst-d'], operator: 'exact' }, { key: 'plan', value: ['lst-b', 'lst-d'], operator: 'is_not' }])), sorted('lst-3'));
  assert.deepEqual(await uuids(f([{ key: 'n', value: [1, 7], operator: 'exact' }])), sorted('lst-3'));
  assert.deepEqual(await uuids(f([{ key: 'plan', value: ['zz', 'ST-D'], operator: 'icontains' }])), sorted('lst-4'));
  const many = await get(`/api/projects/1/persons/?${f([{ key: 'plan', value: Array.from({ length: 501 }, (_, i) => `v${i}`) }])}`);
  assert.equal(many.status, 400, many.text);
  assert.match(many.json.detail, /at most 500 values/);
  for (const qs of ['offset=99999999999999999999', 'limit=99999999999999999999', 'offset=-1']) {
    const bad = await get(`/api/projects/1/persons/?${qs}`);
    assert.equal(bad.status, 400, `${qs}: ${bad.text}`);
  }

  // An update past the 1 MiB person limit is refused alone: the event keeps its person.
  const big = 'x'.repeat(1100 * 1024);
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [
    { event: 'big', distinct_id: 'lst-2', properties: { $set: { blob: big, also: 1 } } },
  ] }));
  assert.equal(r.status, 200, r.text);
  await eventually(async () => {
    const q = await query("SELECT person_id, person.properties.name FROM events WHERE event = 'big'");
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.results, [[byDid['lst-2'].uuid, 'Dave']]);
  });
  const p2 = await personOf('lst-2');
  assert.equal(p2.properties.blob, undefined);
  assert.equal(p2.properties.also, undefined);
});

test('personless events create no person; $groupidentify and $groups are accepted', async () => {
  const { client, errors } = sdk();
  client.capture({ distinctId: 'ghost-1', event: 'viewed', properties: { $process_person_profile: false, $set: { should: 'not' } } });
  client.capture({ distinctId: 'ghost-1', event: '$identify', properties: { $process_person_profile: false, $anon_distinct_id: 'ghost-2' } });
  client.groupIdentify({ groupType: 'company', groupKey: 'acme', properties: { name: 'Acme' } });
  client.capture({ distinctId: 'grouped-1', event: 'grouped', groups: { company: 'acme' } });
  client.capture({ distinctId: 'marker', event: 'marker' });
  await client.shutdown();
  assert.deepEqual(errors, []);
  await eventually(async () => assert.ok(await personOf('marker')));
  assert.equal(await personOf('ghost-1'), null);
  assert.equal(await personOf('ghost-2'), null, 'the personless $identify was dropped');
  assert.ok(await personOf('grouped-1'));
  await eventually(async () => {
    const r = await query("SELECT $group_0, group_0.properties.name FROM events WHERE event = 'grouped'");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results, [['acme', 'Acme']]);
    // personless events keep their row; their person fields read NULL
    const g = await query("SELECT distinct_id, person.properties.email FROM events WHERE distinct_id = 'ghost-1'");
    assert.deepEqual(g.json.results, [['ghost-1', null]]);
    const t = await query("SELECT key, properties.name FROM groups");
    assert.deepEqual(t.json.results, [['acme', 'Acme']]);
  });
});

test('posthog-node end to end: events sent through the SDK are counted by a query a second later', async () => {
  const { client, errors } = sdk();
  for (let i = 0; i < 25; i++)
    client.capture({ distinctId: `e2e-${i % 5}`, event: 'e2e-event', properties: { i, $set: { cohort: i % 5 < 2 ? 'a' : 'b' } } });
  await client.shutdown();
  assert.deepEqual(errors, []);
  await sleep(1000); // store_flush_age: parts are written within a second
  await eventually(async () => {
    const r = await query("SELECT count(), uniq(person_id) FROM events WHERE event = 'e2e-event'");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results, [[25, 5]]);
  }, 5000);
  const c = await query("SELECT person.properties.cohort, count() FROM events WHERE event = 'e2e-event' GROUP BY 1 ORDER BY 1");
  assert.deepEqual(c.json.results, [['a', 10], ['b', 15]]);
});

// A seeded PRNG so a failure reproduces.
function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

// PostHog's identity rules (spec §4.2) over distinct ids, in event order.
class Model {
  constructor() { this.of = new Map(); this.next = 0; }
  create(ids, identified) {
    const p = { id: this.next++, ids: new Set(ids), identified };
    for (const d of ids) this.of.set(d, p);
    return p;
  }
  event(did) { if (!this.of.has(did)) this.create([did], false); }
  merge(into, other, dangerously = false) {
    if (into === other) { this.event(into); return; }
    const ip = this.of.get(into), op = this.of.get(other);
    let person;
    if (op && !ip) { op.ids.add(into); this.of.set(into, op); person = op; }
    else if (ip && !op) { ip.ids.add(other); this.of.set(other, ip); person = ip; }
    else if (ip && op) {
      person = ip;
      if (ip !== op && (dangerously || !op.identified)) {
        for (const d of op.ids) { ip.ids.add(d); this.of.set(d, ip); }
      }
    } else person = this.create([into, other], true);
    person.identified = true;
  }
  groups() {
    return [...new Set(this.of.values())].map((p) => [...p.ids].sort().join(',')).sort();
  }
}

function plan(clients, idsPer, opsPer, seed) {
  const plans = [];
  for (let c = 0; c < clients; c++) {
    const r = rng(seed + c);
    const id = () => `c${c}-${Math.floor(r() * idsPer)}`;
    const evs = [];
    for (let i = 0; i < idsPer; i++) evs.push({ event: 'seen', distinct_id: `c${c}-${i}`, properties: {} });
    for (let i = 0; i < opsPer; i++) {
      const x = r();
      const a = id(), b = id();
      if (x < 0.5) evs.push({ event: 'pv', distinct_id: a, properties: { $browser: r() < 0.5 ? 'Chrome' : 'Safari', $pathname: `/p${Math.floor(r() * 5)}` } });
      else if (x < 0.8) evs.push({ event: '$identify', distinct_id: a, properties: { $anon_distinct_id: b } });
      else evs.push({ event: '$create_alias', distinct_id: a, properties: { alias: b } });
    }
    plans.push(evs);
  }
  return plans;
}

function modelOf(plans) {
  // The model sees each client's events in its order; clients use disjoint
  // ids, so the interleaving between clients cannot change the outcome.
  const model = new Model();
  for (const evs of plans) {
    for (const e of evs) {
      if (e.event === '$identify') model.merge(e.distinct_id, e.properties.$anon_distinct_id);
      else if (e.event === '$create_alias') model.merge(e.distinct_id, e.properties.alias);
      else model.event(e.distinct_id);
    }
  }
  return model.groups();
}

// Sends each client's events in order, then a marker event per client.
async function send(server, plans, tag) {
  await Promise.all(plans.map(async (evs, c) => {
    const all = [...evs, { event: 'done', distinct_id: `marker-${tag}-${c}`, properties: {} }];
    for (let i = 0; i < all.length; i += 50) {
      const r = await post(`${server.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: all.slice(i, i + 50) }), { 'Content-Type': 'application/json' });
      assert.equal(r.status, 200, r.text);
    }
  }));
}

// The person graph over the clients' ids, once ingestion has passed every
// client's marker (it runs in WAL order, so everything before is applied).
async function graph(server, want, tag, nclients) {
  await eventually(async () => {
    for (let c = 0; c < nclients; c++) {
      const res = await fetch(`${server.url}/api/projects/1/persons/?distinct_id=marker-${tag}-${c}`, { headers: H });
      assert.equal((await res.json()).results.length, 1);
    }
  }, 30000);
  const wantIds = want.reduce((n, g) => n + g.split(',').length, 0);
  return eventually(async () => {
    const out = [];
    let url = '/api/projects/1/persons/?limit=500';
    while (url) {
      const res = await fetch(`${server.url}${url}`, { headers: H });
      const j = await res.json();
      assert.equal(res.status, 200);
      for (const p of j.results) {
        const ids = p.distinct_ids.filter((d) => /^c\d-/.test(d));
        if (ids.length) out.push(ids.sort().join(','));
      }
      url = j.next ? new URL(j.next).pathname + new URL(j.next).search : null;
    }
    assert.equal(out.reduce((n, g) => n + g.split(',').length, 0), wantIds);
    return out.sort();
  }, 30000);
}

test('kill -9 while ingesting: after a restart the person graph still matches the model', async () => {
  const plans = plan(3, 400, 600, 7000);
  const want = modelOf(plans);
  const s1 = await startServer();
  try {
    await send(s1, plans, 'k'); // every batch acknowledged: durable in the WAL
    await s1.stop('SIGKILL');
    const s2 = await startServer({ dataDir: s1.dataDir });
    try {
      const got = await graph(s2, want, 'k', plans.length);
      assert.deepEqual(got, want);
    } finally { await s2.stop(); }
  } finally { cleanup(s1.dataDir); }
});

test('interleaved load: thousands of distinct ids from concurrent clients match the model', async () => {
  const plans = plan(4, 500, 700, 1000);
  const want = modelOf(plans);
  await send(srv, plans, 'l');
  const got = await graph(srv, want, 'l', plans.length);
  assert.equal(got.length, want.length);
  assert.deepEqual(got, want);
});
