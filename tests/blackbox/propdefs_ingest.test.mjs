// Property definitions found at ingestion, and HogQL typed by them: events,
// person properties and a group sent with the real posthog-node SDK become
// definitions with the type of their first typed value (GET
// /api/projects/1/property_definitions/), and queries read the typed
// properties as numbers, booleans and dates (sum() of a number sent as
// JSON, comparisons, breakdown text 'true'); changing a type with PATCH
// changes how the next query reads it; a server with
// infer_property_types = false records nothing and leaves properties text.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { PostHog } from 'posthog-node';
import { startServer, cleanup, sleep, TOKEN, API_KEY } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ env: { SNOUT_STORE_FLUSH_AGE: '200ms' } }); });
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

async function api(s, method, path, body) {
  const res = await fetch(s.url + path, { method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

const hogql = (s, query) => api(s, 'POST', '/api/projects/1/query/', { query: { kind: 'HogQLQuery', query } });

async function defs(s, qs) {
  const r = await api(s, 'GET', `/api/projects/1/property_definitions/?limit=1000&${qs}`);
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.json.results.map((d) => [d.name, d.property_type]));
}

async function send(s) {
  const errors = [];
  const client = new PostHog(TOKEN, { host: s.url, flushAt: 50, flushInterval: 60000, fetchRetryCount: 0 });
  client.on('error', (e) => errors.push(e));
  const ts = new Date('2026-11-20T12:00:00Z');
  // The first value types each property; later values of other types do not.
  client.capture({ distinctId: 'u1', event: 'purchase', timestamp: ts,
    properties: { price: 40, paid: true, plan: 'pro', note: null, shipped_at: '2026-11-19 10:00:00',
      flag_text: 'false', utm_source: 42, $set: { age: 30 }, $set_once: { first_plan: 'pro' } } });
  client.capture({ distinctId: 'u2', event: 'purchase', timestamp: ts,
    properties: { price: 60.5, paid: false, plan: 'team', note: 'now text', $set: { age: 41 } } });
  client.capture({ distinctId: 'u3', event: 'purchase', timestamp: ts,
    properties: { price: 'n/a', paid: 'maybe', plan: 7 } });
  client.groupIdentify({ groupType: 'company', groupKey: 'acme', properties: { seats: 12, name: 'Acme' } });
  await client.shutdown();
  assert.deepEqual(errors, []);
}

async function waitFor(fn, what) {
  const until = Date.now() + 15000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

test('ingestion records definitions typed by their first value', async () => {
  await send(srv);
  const ev = await waitFor(async () => { const d = await defs(srv, 'type=event'); return d.price ? d : null; },
    'event definitions');
  assert.equal(ev.price, 'Numeric');
  assert.equal(ev.paid, 'Boolean');
  assert.equal(ev.plan, 'String');
  assert.equal(ev.note, 'String', 'null first: the next value types it');
  assert.equal(ev.shipped_at, 'DateTime');
  assert.equal(ev.flag_text, 'Boolean', 'the text "false" reads as a boolean, as in PostHog');
  assert.equal(ev.utm_source, 'String', 'utm_ names are always text');
  assert.equal(ev.$lib, 'String', 'the SDK\'s own properties too');
  assert.equal(ev.$set, undefined, '$set is not an event property');
  const person = await waitFor(async () => { const d = await defs(srv, 'type=person'); return d.age ? d : null; },
    'person definitions');
  assert.equal(person.age, 'Numeric');
  assert.equal(person.first_plan, 'String');
  const group = await waitFor(async () => {
    const d = await defs(srv, 'type=group&group_type_index=0'); return d.seats ? d : null;
  }, 'group definitions');
  assert.deepEqual(group, { name: 'String', seats: 'Numeric' });
  const numerical = await api(srv, 'GET', '/api/projects/1/property_definitions/?type=event&is_numerical=true');
  assert.deepEqual(numerical.json.results.map((d) => d.name), ['price']);
});

test('HogQL reads typed properties as numbers, booleans and dates', async () => {
  await waitFor(async () => {
    const r = await hogql(srv, "SELECT count() FROM events WHERE event = 'purchase'");
    return r.status === 200 && r.json.results[0][0] === 3;
  }, 'the events');
  let r = await hogql(srv, "SELECT sum(properties.price), countIf(properties.price > 50), " +
    "countIf(properties.price = '40') FROM events WHERE event = 'purchase'");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[100.5, 1, 1]]);
  // The column keeps its name and reads as a Float; text that is no number is NULL.
  r = await hogql(srv, "SELECT properties.price FROM events WHERE event = 'purchase' ORDER BY distinct_id");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['price']);
  assert.deepEqual(r.json.results, [[40], [60.5], [null]]);
  assert.equal(r.json.hogql.includes('toFloat'), false, 'the hogql is what the user wrote');
  r = await hogql(srv, "SELECT properties.paid, toString(properties.paid), properties.paid = true FROM events " +
    "WHERE event = 'purchase' ORDER BY distinct_id");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[true, 'true', 1], [false, 'false', 0], [null, null, 0]]);
  assert.deepEqual(r.json.types[0], ['paid', 'Nullable(Bool)']);
  r = await hogql(srv, "SELECT toYear(properties.shipped_at), person.properties.age + 1, " +
    "group_0.properties.seats * 2 FROM events WHERE distinct_id = 'u1' AND event = 'purchase'");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[2026, 31, null]]);
  // toFloatOrZero parses the raw text, not the typed number.
  r = await hogql(srv, "SELECT sum(toFloatOrZero(properties.price)) FROM events WHERE event = 'purchase'");
  assert.deepEqual(r.json.results, [[100.5]]);
  // A trend's breakdown by a Boolean property shows 'true' / 'false'.
  const tr = await api(srv, 'POST', '/api/projects/1/query/', { query: { kind: 'TrendsQuery',
    series: [{ kind: 'EventsNode', event: 'purchase' }], dateRange: { date_from: '2026-11-15', date_to: '2026-11-25' },
    breakdownFilter: { breakdown: 'paid', breakdown_type: 'event' } } });
  assert.equal(tr.status, 200, tr.text);
  assert.deepEqual(tr.json.results.map((x) => x.breakdown_value).sort(), ['$$_posthog_breakdown_null_$$', 'false', 'true']);
});

test('PATCH of a type changes how the next query reads the property', async () => {
  const list = await api(srv, 'GET', '/api/projects/1/property_definitions/?type=event&search=price');
  const price = list.json.results.find((d) => d.name === 'price');
  let r = await api(srv, 'PATCH', `/api/projects/1/property_definitions/${price.id}/`, { property_type: 'String' });
  assert.equal(r.status, 200, r.text);
  r = await hogql(srv, "SELECT sum(properties.price) FROM events WHERE event = 'purchase'");
  assert.equal(r.status, 400, 'a String property cannot be summed');
  assert.match(r.json.detail, /sum/);
  r = await api(srv, 'PATCH', `/api/projects/1/property_definitions/${price.id}/`, { property_type: 'Numeric' });
  assert.equal(r.status, 200, r.text);
  r = await hogql(srv, "SELECT sum(properties.price) FROM events WHERE event = 'purchase'");
  assert.deepEqual(r.json.results, [[100.5]]);
});

test('infer_property_types = false: nothing recorded, properties stay text', async () => {
  const off = await startServer({ env: { SNOUT_STORE_FLUSH_AGE: '200ms', SNOUT_INFER_PROPERTY_TYPES: 'false' } });
  try {
    await send(off);
    await waitFor(async () => {
      const r = await hogql(off, "SELECT count() FROM events WHERE event = 'purchase'");
      return r.status === 200 && r.json.results[0][0] === 3;
    }, 'the events');
    await sleep(500); // a flush after the events: definitions would be recorded by now
    assert.deepEqual(await defs(off, 'type=event'), {});
    const r = await hogql(off, "SELECT properties.price FROM events WHERE event = 'purchase' ORDER BY distinct_id");
    assert.deepEqual(r.json.results, [['40'], ['60.5'], ['n/a']]);
  } finally {
    await off.stop();
    cleanup(off.dataDir);
  }
});
