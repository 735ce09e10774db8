// PostHog's EventsQuery (the event list / data table) over the query API:
// "*" as the event object, "person" as the person object,
// person_display_name, aggregates with their GROUP BY and HAVING, PostHog's
// default order and time window (after -24h, before now + 5 s), the event,
// events, actionId, personId, properties and filterTestAccounts filters,
// paging with hasMore, and 400s for bad expressions. Every expected value
// is worked out here from the events sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

const NOW = '2020-01-19T23:59:59Z';
// a clicked link inside a div (innermost first); a class attribute with a
// space, inside quotes
const CHAIN = 'a.btn.big:attr__class="btn big"attr__href="/pay"href="/pay"nth-child="1"nth-of-type="2"text="Pay";' +
  'div:nth-child="1"nth-of-type="1"';
// escaped quotes inside a value, a repeated key (the last wins), empty
// elements between separators, a tag with an empty class list
const CHAIN2 = 'button:text="say \\"hi\\""nth-child="3"data-a="1"data-a="2";;  span.:attr_id="k"';
const ev = (event, did, ts, props = {}) => ({ event, distinct_id: did, timestamp: ts, properties: props });
const EVENTS = [
  ev('$pageview', 'u1', '2020-01-19T10:00:00Z', { $browser: 'Chrome', $set: { email: 'one@x.io' } }),
  ev('$pageview', 'u1', '2020-01-19T11:00:00Z', { $browser: 'Chrome', n: 3 }),
  ev('signup', 'u2', '2020-01-19T12:00:00.250Z', { $browser: 'Firefox', plan: 'pro' }),
  ev('$pageview', 'u2', '2020-01-18T12:00:00Z', { $browser: 'Firefox' }), // older than 24 h
  ev('$pageview', 'u3', '2020-01-10T12:00:00Z', { $browser: 'Safari' }), // older than 7 days
  ev('$pageleave', 'u3', '2020-01-19T13:00:00Z', { $browser: 'Safari' }),
  ev('$pageview', 'u1', '2020-01-20T05:00:00Z', { $browser: 'Chrome' }), // after "now"
  ev('$autocapture', 'u4', '2020-01-05T00:00:00Z', { $elements_chain: CHAIN }),
  ev('click', 'u4', '2020-01-05T00:00:01Z', { $elements_chain: CHAIN2 }),
];
const ms = (e) => Date.parse(e.timestamp);
const nowMs = Date.parse(NOW);
// PostHog's default window: (now - 24 h, now + 5 s)
const inDefault = (e) => ms(e) > nowMs - 24 * 3600e3 && ms(e) < nowMs + 5e3;

let srv;
let actionId;
before(async () => {
  srv = await startServer({ env: { SNOUT_TEST_MODE: 'true', SNOUT_STORE_FLUSH_AGE: '100ms' } });
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: EVENTS }),
    { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  for (let i = 0; i < 100; i++) {
    const c = await q({ kind: 'HogQLQuery', query: 'select count() from events' });
    if (c.json.results && c.json.results[0][0] === EVENTS.length) break;
    await sleep(100);
  }
  const a = await api('POST', '/api/projects/1/actions/', { name: 'Signed up', steps: [{ event: 'signup' }] });
  assert.ok(a.status === 200 || a.status === 201, a.text);
  actionId = a.json.id;
  const p = await api('PATCH', '/api/projects/1/', {
    test_account_filters: [{ key: '$browser', value: 'Safari', operator: 'is_not', type: 'event' }] });
  assert.equal(p.status, 200, p.text);
});
after(async () => {
  // A clean exit: under ASan (SNOUT_BIN=snout_asan) a leak or error fails it.
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

async function api(method, path, body) {
  const r = await fetch(`${srv.url}${path}`, { method, body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` } });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, text, json };
}
const q = (query) => post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query, now: NOW }),
  { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
const eq = (extra) => q({ kind: 'EventsQuery', ...extra });
// "2020-01-19T12:00:00.250000Z" as snout prints UTC DateTimes (PostHog's
// orjson: microseconds when non-zero, Z)
const iso = (t) => new Date(t).toISOString().replace('.000Z', 'Z').replace(/\.(\d{3})Z$/, '.$1000Z');
const byTimeDesc = (a, b) => ms(b) - ms(a);

test('"*" is the event object, "person" the person object, newest first in the last 24 h', async () => {
  const r = await eq({ select: ['*', 'event', 'person', 'timestamp', 'properties.$browser'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['*', 'event', 'person', 'timestamp', 'properties.$browser']);
  assert.equal(r.json.types.length, 5);
  assert.match(r.json.types[0], /^Tuple\(/);
  assert.match(r.json.types[3], /^DateTime64\(6/);
  const want = EVENTS.filter(inDefault).sort(byTimeDesc);
  assert.equal(r.json.results.length, want.length);
  want.forEach((e, i) => {
    const [star, event, person, ts, browser] = r.json.results[i];
    assert.deepEqual(Object.keys(star), ['uuid', 'event', 'properties', 'timestamp', 'team_id',
      'distinct_id', 'elements_chain', 'created_at', 'person_mode']);
    assert.equal(star.event, e.event);
    assert.equal(star.distinct_id, e.distinct_id);
    assert.equal(star.team_id, 1);
    assert.equal(star.timestamp, iso(e.timestamp));
    assert.match(star.uuid, /^[0-9a-f-]{36}$/);
    assert.equal(typeof star.properties, 'object'); // an object, not JSON text
    assert.equal(star.properties.$browser, e.properties.$browser);
    assert.equal(event, e.event);
    assert.equal(ts, iso(e.timestamp));
    assert.equal(browser, e.properties.$browser);
    assert.equal(person.distinct_id, e.distinct_id);
    assert.match(person.uuid, /^[0-9a-f-]{36}$/);
    assert.ok('created_at' in person);
    if (e.distinct_id === 'u1') assert.equal(person.properties.email, 'one@x.io');
  });
  assert.equal(r.json.hasMore, false);
  assert.equal(r.json.limit, 100); // PostHog's default
  assert.equal(r.json.offset, 0);
  assert.equal(typeof r.json.hogql, 'string');
  assert.ok(Array.isArray(r.json.timings));
});

test('no select is "*"; person_display_name is {display_name, id, distinct_id}', async () => {
  let r = await eq({ select: [] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['*']);
  assert.equal(r.json.results.length, EVENTS.filter(inDefault).length);
  r = await eq({ select: ['person_display_name -- Person', 'distinct_id'], orderBy: ['timestamp ASC'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['person_display_name -- Person', 'distinct_id']);
  const want = EVENTS.filter(inDefault).sort((a, b) => ms(a) - ms(b));
  want.forEach((e, i) => {
    const [dn, did] = r.json.results[i];
    assert.equal(did, e.distinct_id);
    assert.equal(dn.distinct_id, e.distinct_id);
    // u1 set an email, the others have no display property
    assert.equal(dn.display_name, e.distinct_id === 'u1' ? 'one@x.io' : e.distinct_id);
    assert.match(dn.id, /^[0-9a-f-]{36}$/);
  });
});

test('aggregates group by the other columns, count() DESC first; where with an aggregate is HAVING', async () => {
  const all = EVENTS.filter((e) => ms(e) < nowMs + 5e3);
  const counts = new Map();
  for (const e of all) counts.set(e.event, (counts.get(e.event) || 0) + 1);
  const want = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  let r = await eq({ select: ['event', 'count()'], after: 'all', orderBy: ['count() DESC', 'event'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, want);
  r = await eq({ select: ['event', 'count()'], after: 'all' }); // default: count() DESC
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results.map((x) => x[1]), want.map((x) => x[1]));
  r = await eq({ select: ['event', 'count()'], after: 'all', where: ['count() > 1'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, want.filter((x) => x[1] > 1));
  // an alias names its column; the first aggregate orders when there is no count()
  r = await eq({ select: ['distinct_id', 'max(timestamp) AS last'], after: 'all' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['distinct_id', 'last']);
  const last = new Map();
  for (const e of all) if (!last.has(e.distinct_id) || ms(e) > last.get(e.distinct_id)) last.set(e.distinct_id, ms(e));
  const wantLast = [...last].sort((a, b) => b[1] - a[1]).map(([d, t]) => [d, iso(t)]);
  assert.deepEqual(r.json.results, wantLast);
});

test('arrays and tuples come back as JSON lists, typed by ClickHouse\'s names', async () => {
  const all = EVENTS.filter((e) => ms(e) < nowMs + 5e3);
  let r = await eq({ select: ['event', "[event, 'x'] AS pair", '(1, event)', 'length(event)'], after: 'all',
    orderBy: ['timestamp DESC'], limit: 3 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['event', 'pair', '(1, event)', 'length(event)']);
  assert.deepEqual(r.json.types.slice(1, 3), ['Array(String)', 'Tuple(Int64, String)']);
  const newest = [...all].sort(byTimeDesc).slice(0, 3);
  assert.deepEqual(r.json.results, newest.map((e) => [e.event, [e.event, 'x'], [1, e.event], e.event.length]));
  // an aggregate array groups by the other columns; its alias orders
  r = await eq({ select: ['event', 'groupUniqArray(distinct_id) AS ids', 'count()'], after: 'all',
    orderBy: ['event'] });
  assert.equal(r.status, 200, r.text);
  const byEvent = new Map();
  for (const e of all) byEvent.set(e.event, (byEvent.get(e.event) || new Set()).add(e.distinct_id));
  assert.deepEqual(r.json.results.map((x) => [x[0], [...x[1]].sort(), x[2]]),
    [...byEvent.keys()].sort().map((ev) => [ev, [...byEvent.get(ev)].sort(),
      all.filter((e) => e.event === ev).length]));
  assert.equal(r.json.types[1], 'Array(String)');
});

test('where, properties, event, events, actionId, personId, filterTestAccounts', async () => {
  const base = { select: ['event', 'distinct_id', 'timestamp'], after: 'all' };
  const rows = (list) => list.filter((e) => ms(e) < nowMs + 5e3).sort(byTimeDesc)
    .map((e) => [e.event, e.distinct_id, iso(e.timestamp)]);
  let r = await eq({ ...base, where: ["properties.$browser = 'Chrome'"] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => e.properties.$browser === 'Chrome')));
  r = await eq({ ...base, properties: [{ key: '$browser', value: 'Firefox', operator: 'exact', type: 'event' }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => e.properties.$browser === 'Firefox')));
  r = await eq({ ...base, event: 'signup' });
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => e.event === 'signup')));
  r = await eq({ ...base, events: ['signup', '$pageleave'] });
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => e.event === 'signup' || e.event === '$pageleave')));
  r = await eq({ ...base, actionId });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => e.event === 'signup')));
  r = await eq({ ...base, actionId: 99999 });
  assert.equal(r.status, 400);
  const p = await q({ kind: 'HogQLQuery', query: "select toString(person_id) from events where distinct_id = 'u2' limit 1" });
  r = await eq({ ...base, personId: p.json.results[0][0] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => e.distinct_id === 'u2')));
  r = await eq({ ...base, filterTestAccounts: true });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => e.properties.$browser !== 'Safari')));
});

test('before and after bound the window; a future event needs before', async () => {
  const base = { select: ['timestamp'], orderBy: ['timestamp'] };
  const rows = (list) => list.sort((a, b) => ms(a) - ms(b)).map((e) => [iso(e.timestamp)]);
  let r = await eq({ ...base, after: '-7d' });
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => ms(e) > nowMs - 7 * 86400e3 && ms(e) < nowMs + 5e3)));
  r = await eq({ ...base, after: '2020-01-19T11:00:00Z', before: '2020-01-19T13:00:00Z' });
  // both bounds are strict, as PostHog's > and <
  assert.deepEqual(r.json.results, rows(EVENTS.filter((e) => ms(e) > Date.parse('2020-01-19T11:00:00Z') &&
    ms(e) < Date.parse('2020-01-19T13:00:00Z'))));
  r = await eq({ ...base, after: 'all', before: '2020-01-21' });
  assert.deepEqual(r.json.results, rows(EVENTS.slice()));
  r = await eq({ ...base, after: '123' });
  assert.equal(r.status, 400);
});

test('limit, offset and hasMore page the rows; the limit is clamped to 50000', async () => {
  const want = EVENTS.filter((e) => ms(e) < nowMs + 5e3).sort(byTimeDesc).map((e) => [iso(e.timestamp)]);
  let r = await eq({ select: ['timestamp'], after: 'all', limit: 2 });
  assert.deepEqual(r.json.results, want.slice(0, 2));
  assert.equal(r.json.hasMore, true);
  assert.equal(r.json.limit, 2);
  r = await eq({ select: ['timestamp'], after: 'all', limit: 2, offset: want.length - 2 });
  assert.deepEqual(r.json.results, want.slice(want.length - 2));
  assert.equal(r.json.hasMore, false);
  assert.equal(r.json.offset, want.length - 2);
  r = await eq({ select: ['timestamp'], after: 'all', limit: 1000000 });
  assert.equal(r.json.limit, 50000);
  assert.equal(r.json.results.length, want.length);
});

test('bad expressions are 400s with PostHog\'s error body', async () => {
  let r = await eq({ select: ['event', 'count('] });
  assert.equal(r.status, 400);
  assert.equal(r.json.type, 'validation_error');
  assert.equal(r.json.code, 'hogql_syntax_error');
  r = await eq({ select: ['event', 'nosuch'] });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'hogql_query_error');
  assert.match(r.json.detail, /nosuch/);
  // the position is within the offending item's own text
  r = await eq({ select: ['event', 'toString(nosuch)'] });
  assert.equal(r.status, 400);
  assert.deepEqual([r.json.start, r.json.end], [9, 15]);
  // an item is one expression: no smuggled clauses
  r = await eq({ select: ['event FROM persons --'] });
  assert.equal(r.status, 400);
  r = await eq({ select: ['event'], orderBy: ['event, timestamp'] });
  assert.equal(r.status, 400);
  r = await eq({ select: ['event'], where: ['1) OR (1'] });
  assert.equal(r.status, 400);
  // a bad expression inside an array column is still the user's error
  r = await eq({ select: ['[1, nosuchfield]'] });
  assert.equal(r.status, 400);
  r = await eq({ select: 'event' });
  assert.equal(r.status, 400);
});

test('"*" of an event with an elements chain lists its elements, as PostHog\'s ElementSerializer', async () => {
  const r = await eq({ select: ['*'], after: 'all', event: '$autocapture' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.results.length, 1);
  const star = r.json.results[0][0];
  assert.equal(star.elements_chain, CHAIN);
  assert.deepEqual(star.elements, [
    { text: 'Pay', tag_name: 'a', attr_class: ['btn', 'big'], href: '/pay', attr_id: null, nth_child: 1,
      nth_of_type: 2, attributes: { attr__class: 'btn big', attr__href: '/pay' }, order: 0 },
    { text: null, tag_name: 'div', attr_class: null, href: null, attr_id: null, nth_child: 1, nth_of_type: 1,
      attributes: {}, order: 1 },
  ]);
  // an event without a chain has no "elements"
  const p = await eq({ select: ['*'], after: 'all', event: 'signup' });
  assert.equal('elements' in p.json.results[0][0], false);
});

test('elements: escaped quotes stay as written, the last of a repeated key wins, empty class lists', async () => {
  const r = await eq({ select: ['*'], after: 'all', event: 'click' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results[0][0].elements, [
    { text: 'say \\"hi\\"', tag_name: 'button', attr_class: null, href: null, attr_id: null, nth_child: 3,
      nth_of_type: null, attributes: { 'data-a': '2' }, order: 0 },
    { text: null, tag_name: 'span', attr_class: [], href: null, attr_id: 'k', nth_child: null, nth_of_type: null,
      attributes: {}, order: 1 },
  ]);
});

test('$elements_chain leaves the stored properties, as PostHog\'s ingestion deletes it; the column keeps the chain', async () => {
  const r = await q({ kind: 'HogQLQuery',
    query: "select elements_chain, properties.$elements_chain, properties from events where event in ('$autocapture', 'click') order by timestamp" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.results.length, 2);
  const [a, c] = r.json.results;
  assert.equal(a[0], CHAIN);
  assert.equal(c[0], CHAIN2);
  assert.equal(a[1], null);
  assert.equal(c[1], null);
  // what is left: the $ip capture adds
  assert.deepEqual(JSON.parse(a[2]), { $ip: '127.0.0.1' });
  assert.deepEqual(JSON.parse(c[2]), { $ip: '127.0.0.1' });
  // and "*"'s properties do not list it either
  const s = await eq({ select: ['*'], after: 'all', event: '$autocapture' });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.json.results[0][0].properties, { $ip: '127.0.0.1' });
});
