// Deleting a person (GDPR), seen from outside: DELETE
// /api/projects/:id/persons/:uuid/?delete_events=true removes the person and
// every event of it — by the person ids its events carry (its own and those
// of persons merged into it) and by its distinct ids — and afterwards no
// byte of the data directory (parts, WAL segments kept by wal_keep_size,
// SQLite files) holds the person's properties or distinct ids. Other
// persons and their events are untouched. Also bulk_delete, errors, and a
// new person for a distinct id seen again after its deletion.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, cleanup, post, sleep, walDump, TOKEN, API_KEY } from './lib.mjs';

let srv;
const H = { Authorization: `Bearer ${API_KEY}` };
// wal_keep_size (1 GiB in lib.mjs) keeps every consumed segment: the
// deletion must reach them too.
before(async () => { srv = await startServer({ env: { SNOUT_MERGE_MIN_PARTS: '2' } }); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

async function req(method, path, body) {
  const res = await fetch(`${srv.url}${path}`, { method, headers: H, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function eventually(check, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    try { return await check(); } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(100);
    }
  }
}

async function send(batch) {
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200, r.text);
}

// Events per distinct id, through HogQL (no marker in the query text).
async function counts() {
  const r = await post(`${srv.url}/api/projects/1/query/`,
    JSON.stringify({ query: { kind: 'HogQLQuery', query: 'SELECT distinct_id, count() FROM events GROUP BY distinct_id' } }), H);
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.json.results);
}

async function personOf(did) {
  const r = await req('GET', `/api/projects/1/persons/?distinct_id=${encodeURIComponent(did)}`);
  assert.equal(r.status, 200, r.text);
  return r.json.results[0] || null;
}

// Every file under dir whose bytes contain one of needles.
function grepDir(dir, needles) {
  const hits = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) { walk(p); continue; }
      const buf = readFileSync(p);
      for (const n of needles) if (buf.includes(Buffer.from(n))) hits.push(`${p}: ${n}`);
    }
  };
  walk(dir);
  return hits;
}

test('delete with events: gone from queries, the API and every file; others untouched', async () => {
  const tag = randomBytes(6).toString('hex');
  const marker = `GDPRSECRET${tag}`;
  const user = `gdpr-user-${tag}`, anon = `gdpr-anon-${tag}`, keep = `keep-user-${tag}`;
  const t0 = Date.now();
  const ts = (i) => new Date(t0 - 86400000 * 40 + i * 1000).toISOString(); // two months
  // Two persons that a $identify merges (an override), events in two
  // months (two parts a flush), a personless event, and a bystander.
  await send([
    { event: 'signed_up', distinct_id: user, timestamp: ts(0), properties: { secret: marker } },
    { event: '$pageview', distinct_id: anon, timestamp: ts(1), properties: { $current_url: `https://x.test/${marker}` } },
    { event: 'keep', distinct_id: keep, timestamp: ts(2), properties: { n: 1, $set: { plan: 'kept' } } },
  ]);
  await eventually(async () => { assert.ok(await personOf(anon)); assert.ok(await personOf(user)); });
  const batch = [
    { event: '$identify', distinct_id: user, timestamp: ts(3), properties: { $anon_distinct_id: anon, $set: { email: `${marker}@example.com` } } },
    { event: 'personless', distinct_id: user, timestamp: ts(4), properties: { $process_person_profile: false, note: marker } },
  ];
  for (let i = 0; i < 20; i++) {
    batch.push({ event: 'clicked', distinct_id: i % 2 ? user : anon, timestamp: new Date(t0 - i * 1000).toISOString(), properties: { secret: marker, i } });
    batch.push({ event: 'keep', distinct_id: keep, timestamp: new Date(t0 - i * 1000).toISOString(), properties: { n: i } });
  }
  await send(batch);
  const p = await eventually(async () => {
    const x = await personOf(user);
    assert.deepEqual([...x.distinct_ids].sort(), [anon, user].sort());
    assert.equal(x.properties.email, `${marker}@example.com`);
    const c = await counts();
    assert.equal(c[user] + c[anon], 24);
    assert.equal(c[keep], 21);
    return x;
  });
  const kept = await personOf(keep);
  // The test can fail: the data is on disk before the deletion.
  assert.ok(grepDir(srv.dataDir, [marker]).length > 0, 'the marker is stored');

  // Ingestion keeps running during the deletion: a steady stream of
  // another user's events, every one of which must be kept.
  const load = `load-user-${tag}`;
  let sending = true, sent = 0;
  const loader = (async () => {
    while (sending) {
      await send(Array.from({ length: 20 }, (_, i) => ({ event: 'load', distinct_id: load, properties: { i } })));
      sent += 20;
    }
  })();
  await sleep(200);
  const r = await req('DELETE', `/api/projects/1/persons/${p.uuid}/?delete_events=true`);
  assert.equal(r.status, 204, r.text);
  sending = false;
  await loader;
  assert.ok(sent >= 20);

  assert.equal((await req('GET', `/api/projects/1/persons/${p.uuid}/`)).status, 404);
  assert.equal(await personOf(user), null);
  assert.equal(await personOf(anon), null);
  const c = await counts();
  assert.equal(c[user], undefined);
  assert.equal(c[anon], undefined);
  assert.equal(c[keep], 21, 'other events are untouched');
  await eventually(async () => assert.equal((await counts())[load], sent));
  assert.deepEqual(await personOf(keep), kept);
  assert.deepEqual(grepDir(srv.dataDir, [marker, user, anon]), []);
  // The erased WAL records are still records (type 3, zeros): the log reads on.
  const dump = walDump(srv.dataDir);
  assert.ok(dump.filter((x) => x.type === 3).length >= 24);
  assert.ok(dump.some((x) => (x.type === 1 || x.type === 4) && x.record.distinct_id === keep));

  // The same distinct id seen again is a new person (PostHog too).
  await send([{ event: 'back', distinct_id: user, properties: { $set: { again: true } } }]);
  const np = await eventually(async () => {
    const x = await personOf(user);
    assert.ok(x);
    assert.deepEqual(x.distinct_ids, [user]);
    assert.deepEqual(x.properties.again, true);
    assert.equal(x.properties.email, undefined);
    return x;
  });
  await eventually(async () => assert.equal((await counts())[user], 1));
  assert.ok(np.uuid);
});

test('delete without events, bulk_delete, errors', async () => {
  const tag = randomBytes(6).toString('hex');
  const a = `del-a-${tag}`, b = `del-b-${tag}`, cc = `del-c-${tag}`, dd = `del-d-${tag}`;
  await send([a, b, cc, dd].map((d) => ({ event: 'e', distinct_id: d, properties: { $set: { who: d } } })));
  const [pa, pb, , pd] = await eventually(async () => {
    const x = [await personOf(a), await personOf(b), await personOf(cc), await personOf(dd)];
    x.forEach((y) => assert.ok(y));
    return x;
  });
  // Without delete_events the events stay (PostHog's default).
  let r = await req('DELETE', `/api/projects/1/persons/${pa.uuid}/`);
  assert.equal(r.status, 204, r.text);
  assert.equal(await personOf(a), null);
  assert.equal((await counts())[a], 1);

  // bulk_delete by uuid and by distinct id; unknown ids are skipped.
  r = await req('POST', '/api/projects/1/persons/bulk_delete/',
    JSON.stringify({ ids: [pb.uuid, '00000000-0000-0000-0000-000000000000'], distinct_ids: [cc], delete_events: true }));
  assert.equal(r.status, 202, r.text);
  assert.equal(await personOf(b), null);
  assert.equal(await personOf(cc), null);
  const c = await counts();
  assert.equal(c[b], undefined);
  assert.equal(c[cc], undefined);

  // Errors in the API's shape.
  r = await req('DELETE', `/api/projects/1/persons/${pa.uuid}/`);
  assert.equal(r.status, 404);
  assert.equal(r.json.type, 'invalid_request');
  r = await req('POST', '/api/projects/1/persons/bulk_delete/', JSON.stringify({ ids: [] }));
  assert.equal(r.status, 400);
  assert.equal(r.json.type, 'validation_error');
  const noauth = await fetch(`${srv.url}/api/projects/1/persons/${pb.uuid}/`, { method: 'DELETE' });
  assert.ok(noauth.status === 401 || noauth.status === 403, String(noauth.status));
  // PATCH is PostHog's update ($set of "properties"): a deleted person is a 404.
  r = await req('PATCH', `/api/projects/1/persons/${pb.uuid}/`, JSON.stringify({ properties: { x: 1 } }));
  assert.equal(r.status, 404, r.text);

  // Every id and the flag are checked before anything is deleted.
  for (const body of [{ distinct_ids: [dd, 1] }, { ids: ['zzz'] }, { ids: [pd.uuid, null] }, { ids: pd.uuid },
    { distinct_ids: [dd], delete_events: 'maybe' }, { distinct_ids: [dd], delete_events: 2 }]) {
    r = await req('POST', '/api/projects/1/persons/bulk_delete/', JSON.stringify(body));
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.type, 'validation_error');
  }
  r = await req('DELETE', `/api/projects/1/persons/${pd.uuid}/?delete_events=maybe`);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.attr, 'delete_events');
  assert.ok(await personOf(dd));
  // A person id in upper case is the same person (Django's UUID field).
  const upper = pd.uuid.toUpperCase();
  r = await req('GET', `/api/projects/1/persons/${upper}/`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.uuid, pd.uuid);
  r = await req('DELETE', `/api/projects/1/persons/${upper}/?delete_events=False`);
  assert.equal(r.status, 204, r.text);
  assert.equal(await personOf(dd), null);
  assert.equal((await counts())[dd], 1);
});

test('split: every distinct id but the main one becomes its own person', async () => {
  const tag = randomBytes(6).toString('hex');
  const anon = `split-anon-${tag}`, user = `split-user-${tag}`;
  await send([
    { event: 'e', distinct_id: anon, properties: {} },
    { event: '$identify', distinct_id: user, properties: { $anon_distinct_id: anon, $set: { email: `${tag}@x.test` } } },
  ]);
  const p = await eventually(async () => {
    const x = await personOf(user);
    assert.deepEqual([...x.distinct_ids].sort(), [anon, user].sort());
    return x;
  });
  let r = await req('POST', `/api/projects/1/persons/${p.uuid}/split/`, JSON.stringify({ main_distinct_id: 'nobody' }));
  assert.equal(r.status, 400, r.text);
  r = await req('POST', `/api/projects/1/persons/${p.uuid}/split/`, JSON.stringify({ main_distinct_id: user }));
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json, { success: true });
  const pu = await personOf(user), pa = await personOf(anon);
  assert.equal(pu.uuid, p.uuid);
  assert.deepEqual(pu.distinct_ids, [user]);
  assert.equal(pu.properties.email, `${tag}@x.test`);
  assert.notEqual(pa.uuid, p.uuid);
  assert.deepEqual(pa.distinct_ids, [anon]);
  assert.deepEqual(pa.properties, {});
  // Ingestion follows: a new event of anon lands on anon's new person.
  await send([{ event: 'e2', distinct_id: anon, properties: { $set: { after: 1 } } }]);
  await eventually(async () => assert.equal((await personOf(anon)).properties.after, 1));
  assert.equal((await personOf(user)).properties.after, undefined);
  assert.equal((await req('POST', '/api/projects/1/persons/00000000-0000-0000-0000-000000000000/split/')).status, 404);
});

// PostHog's Person.split_person: without main_distinct_id the person keeps
// its oldest distinct id but its properties are emptied too, and the next
// event of that id starts from nothing (the ingest cache forgets them).
test('split without main_distinct_id empties the person\'s properties', async () => {
  const tag = randomBytes(6).toString('hex');
  const anon = `split2-anon-${tag}`, user = `split2-user-${tag}`;
  await send([
    { event: 'e', distinct_id: anon, properties: { $browser: 'Firefox', $set: { plan: 'pro' } } },
    { event: '$identify', distinct_id: user, properties: { $anon_distinct_id: anon, $set: { email: `${tag}@x.test` } } },
  ]);
  const p = await eventually(async () => {
    const x = await personOf(user);
    assert.equal(x.distinct_ids.length, 2);
    assert.equal(x.properties.plan, 'pro');
    return x;
  });
  const r = await req('POST', `/api/projects/1/persons/${p.uuid}/split/`);
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json, { success: true });
  const pa = await personOf(anon), pu = await personOf(user);
  assert.equal(pa.uuid, p.uuid, 'the oldest id stays');
  assert.deepEqual(pa.properties, {});
  assert.equal(pa.is_identified, true);
  assert.notEqual(pu.uuid, p.uuid);
  assert.deepEqual(pu.properties, {});
  await send([{ event: 'e2', distinct_id: anon, properties: { $browser: 'Chrome', $set: { after: 1 } } }]);
  await eventually(async () => {
    assert.deepEqual((await personOf(anon)).properties, { $initial_browser: 'Chrome', $browser: 'Chrome', after: 1 });
  });
  await eventually(async () => {
    const q = await post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query: { kind: 'HogQLQuery',
      query: `SELECT person.properties.plan, person.properties.after FROM events WHERE distinct_id = '${anon}' AND event = 'e2'` } }), H);
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.results.map(([plan, a]) => [plan, String(a)]), [[null, '1']]);
  });
});
