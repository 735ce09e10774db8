// The actors behind an insight point (PostHog's InsightActorsQuery, alone or
// inside an ActorsQuery) over the query API: the persons of a trends bucket
// (with a breakdown value), of a funnel step and of its drop-off, of a
// retention cohort (with appearances), of a lifecycle bar, of a
// stickiness point and of a path edge, node or drop-off, their distinct ids
// and properties, paging with hasMore, and clear errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

let srv;
const ev = (event, did, ts, props = {}) => ({ event, distinct_id: did, timestamp: ts, properties: props });
before(async () => {
  srv = await startServer({ env: { SNOUT_TEST_MODE: 'true', SNOUT_STORE_FLUSH_AGE: '100ms' } });
  const batch = [
    ev('$pageview', 'p1', '2020-01-11T12:00:00Z', { $browser: 'Chrome' }),
    ev('$pageview', 'p1', '2020-01-12T12:00:00Z', { $browser: 'Chrome', $set: { email: 'a@x.io' } }),
    ev('$pageview', 'p1', '2020-01-12T12:30:00Z', { $browser: 'Chrome' }),
    ev('$pageview', 'p2', '2020-01-12T12:00:00Z', { $browser: 'Firefox' }),
    ev('signup', 'p2', '2020-01-12T13:00:00Z', { $browser: 'Firefox' }),
    ev('$pageview', 'p3', '2020-01-12T13:00:00Z'),
    // paths (February, outside the other tests' range)
    ev('$pageview', 'p4', '2020-02-01T10:00:00Z', { $current_url: 'https://x.io/home' }),
    ev('$pageview', 'p4', '2020-02-01T10:01:00Z', { $current_url: 'https://x.io/about' }),
    ev('$pageview', 'p4', '2020-02-01T10:02:00Z', { $current_url: 'https://x.io/pricing' }),
    ev('$pageview', 'p5', '2020-02-01T11:00:00Z', { $current_url: 'https://x.io/home' }),
    ev('$pageview', 'p5', '2020-02-01T11:05:00Z', { $current_url: 'https://x.io/about' }),
    ev('$pageview', 'p6', '2020-02-01T12:00:00Z', { $current_url: 'https://x.io/home' }),
    ev('$pageview', 'p6', '2020-02-01T12:01:00Z', { $current_url: 'https://x.io/blog' }),
  ];
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  for (let i = 0; i < 100; i++) {
    const c = await q({ kind: 'HogQLQuery', query: 'select count() from events' });
    if (c.json.results && c.json.results[0][0] === 13) break;
    await sleep(100);
  }
});
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

const q = (query) => post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query, now: '2020-01-19T23:59:59Z' }),
  { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
const dr = { date_from: '2020-01-09', date_to: '2020-01-19' };
const trends = { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr };
const funnel = { kind: 'FunnelsQuery', dateRange: dr,
  series: [{ kind: 'EventsNode', event: '$pageview' }, { kind: 'EventsNode', event: 'signup' }] };
const names = (r) => r.json.results.map((row) => row[0].distinct_ids.join(','));

test('the persons of a trends bucket, most events first', async () => {
  const r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: trends, day: '2020-01-12' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['actor', 'event_count']);
  const got = names(r);
  assert.equal(got[0], 'p1'); // two events; the others have one each (ties by person id)
  assert.deepEqual(got.slice(1).sort(), ['p2', 'p3']);
  assert.equal(r.json.results[0][1], 2); // p1 viewed twice that day
  assert.equal(r.json.results[0][0].properties.email, 'a@x.io');
  assert.equal(r.json.hasMore, false);
});

test('a breakdown value narrows the bucket; paging says hasMore', async () => {
  const src = { ...trends, breakdownFilter: { breakdown: '$browser' } };
  let r = await q({ kind: 'InsightActorsQuery', source: src, day: '2020-01-12', breakdown: 'Firefox' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(names(r), ['p2']);
  r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: trends, day: '2020-01-12' }, limit: 2 });
  assert.equal(r.json.results.length, 2);
  assert.equal(r.json.hasMore, true);
  r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: trends, day: '2020-01-12' }, limit: 2, offset: 2 });
  assert.equal(r.json.results.length, 1);
  assert.equal(r.json.hasMore, false);
});

test('the persons who reached a funnel step, and those who dropped off', async () => {
  let r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: funnel, funnelStep: 2 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(names(r), ['p2']);
  r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: funnel, funnelStep: -2 } });
  assert.deepEqual(names(r).sort(), ['p1', 'p3']);
  r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: funnel, funnelStep: 1 } });
  assert.equal(r.json.results.length, 3);
});

// Lifecycle (a person is created at its first event): p1 is new on the
// 11th, returning on the 12th; p2 and p3 are new on the 12th; all three go
// dormant on the 13th. The bar's counts and its actors agree.
const lifecycle = { kind: 'LifecycleQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr, interval: 'day' };
const lifeActors = async (day, status) => {
  const r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: lifecycle, day, status } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['actor']);
  return names(r).sort();
};

test('the persons of a lifecycle bar, per status', async () => {
  const life = await q(lifecycle);
  assert.equal(life.status, 200, life.text);
  const data = Object.fromEntries(life.json.results.map((s) => [s.status, s.data]));
  assert.deepEqual(data.new.slice(2, 4), [1, 2]);
  assert.deepEqual(data.returning.slice(2, 4), [0, 1]);
  assert.equal(data.dormant[4], -3);
  assert.deepEqual(await lifeActors('2020-01-11', 'new'), ['p1']);
  assert.deepEqual(await lifeActors('2020-01-12', 'new'), ['p2', 'p3']);
  assert.deepEqual(await lifeActors('2020-01-12', 'returning'), ['p1']);
  assert.deepEqual(await lifeActors('2020-01-13', 'dormant'), ['p1', 'p2', 'p3']);
  assert.deepEqual(await lifeActors('2020-01-12T18:00:00', 'resurrecting'), []);
  const r = await q({ kind: 'InsightActorsQuery', source: lifecycle, day: '2020-01-12', status: 'new' });
  assert.equal(r.json.results[0][0].distinct_ids.length, 1);
});

// Retention from the 11th: cohort 0 (the 11th) is p1, back on the 12th;
// cohort 1 (the 12th) is all three (recurring), or p2 and p3 (first time).
test('the persons of a retention cohort, with their appearances', async () => {
  const pv = { id: '$pageview', type: 'events' };
  const retention = { kind: 'RetentionQuery', dateRange: { date_from: '2020-01-11', date_to: '2020-01-15' },
    retentionFilter: { period: 'Day', totalIntervals: 5, targetEntity: pv, returningEntity: pv } };
  const ret = await q(retention);
  assert.equal(ret.status, 200, ret.text);
  assert.deepEqual(ret.json.results[0].values.map((v) => v.count), [1, 1, 0, 0, 0]);
  assert.equal(ret.json.results[1].values[0].count, 3);
  let r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: retention, interval: 0 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['actor', 'appearances']);
  assert.deepEqual(names(r), ['p1']);
  assert.deepEqual(r.json.results[0][1], [0, 1]);
  r = await q({ kind: 'InsightActorsQuery', source: retention, interval: 1 });
  assert.deepEqual(names(r).sort(), ['p1', 'p2', 'p3']);
  assert.deepEqual(r.json.results.map((row) => row[1]), [[0], [0], [0]]);
  const firstTime = { ...retention, retentionFilter: { ...retention.retentionFilter, retentionType: 'retention_first_time' } };
  r = await q({ kind: 'InsightActorsQuery', source: firstTime, interval: 1 });
  assert.deepEqual(names(r).sort(), ['p2', 'p3']);
  const byBrowser = { ...retention, breakdownFilter: { breakdown: '$browser', breakdown_type: 'event' } };
  r = await q({ kind: 'InsightActorsQuery', source: byBrowser, interval: 1, breakdown: 'Firefox' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(names(r), ['p2']);
  r = await q({ kind: 'InsightActorsQuery', source: retention, interval: 5 });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /interval/);
  // custom brackets: a bracket's number (p1's return on the 12th is in bracket 1 of [2, 2])
  const brackets = { ...retention, retentionFilter: { ...retention.retentionFilter, retentionCustomBrackets: [2, 2] } };
  r = await q({ kind: 'InsightActorsQuery', source: brackets, interval: 0 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results.map((row) => row[1]), [[0, 1]]);
  // 24-hour windows: a cohort starts at the actor's first target event
  const w24 = { ...retention, retentionFilter: { ...retention.retentionFilter, timeWindowMode: '24_hour_windows' } };
  r = await q({ kind: 'InsightActorsQuery', source: w24, interval: 0 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(names(r), ['p1']);
  assert.deepEqual(r.json.results[0][1], [0, 1]);
  r = await q({ kind: 'InsightActorsQuery', source: w24, interval: 1 });
  assert.deepEqual(names(r).sort(), ['p2', 'p3']);
});

// A cohort breakdown: the point's cohort (persons with an email: p1) or
// "all", for retention and trends.
test('the persons of a cohort breakdown point', async () => {
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` };
  let r = await post(`${srv.url}/api/projects/1/cohorts/`, JSON.stringify({ name: 'With email',
    filters: { properties: { type: 'AND', values: [{ type: 'person', key: 'email', operator: 'is_set' }] } } }), headers);
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  for (let i = 0; i < 200; i++) {
    const c = await fetch(`${srv.url}/api/projects/1/cohorts/${id}/`, { headers });
    const j = await c.json();
    if (j.last_calculation && !j.is_calculating) break;
    await sleep(100);
  }
  const pv = { id: '$pageview', type: 'events' };
  const retention = { kind: 'RetentionQuery', dateRange: { date_from: '2020-01-11', date_to: '2020-01-15' },
    retentionFilter: { period: 'Day', totalIntervals: 5, targetEntity: pv, returningEntity: pv },
    breakdownFilter: { breakdown_type: 'cohort', breakdown: [id, 'all'] } };
  r = await q({ kind: 'InsightActorsQuery', source: retention, interval: 1, breakdown: id });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(names(r), ['p1']);
  r = await q({ kind: 'InsightActorsQuery', source: retention, interval: 1, breakdown: 'all' });
  assert.deepEqual(names(r).sort(), ['p1', 'p2', 'p3']);
  const byCohort = { ...trends, breakdownFilter: { breakdown_type: 'cohort', breakdown: [id] } };
  r = await q({ kind: 'InsightActorsQuery', source: byCohort, day: '2020-01-12', breakdown: id });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(names(r), ['p1']);
  r = await q({ kind: 'InsightActorsQuery', source: byCohort, day: '2020-01-12', breakdown: 999 });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /cohort/);
});

// Paths on February 1st: p4 home → about → pricing, p5 home → about, p6
// home → blog. A part of the Sankey is named in the source's pathsFilter.
test('the persons of a path edge, of a node and of a drop-off', async () => {
  const paths = { kind: 'PathsQuery', dateRange: { date_from: '2020-02-01', date_to: '2020-02-02' },
    pathsFilter: { includeEventTypes: ['$pageview'] } };
  const pr = await q(paths);
  assert.equal(pr.status, 200, pr.text);
  const edge = pr.json.results.find((e) => e.source === '1_https://x.io/home' && e.target === '2_https://x.io/about');
  assert.equal(edge.value, 2);
  const part = async (f) => {
    const r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery',
      source: { ...paths, pathsFilter: { ...paths.pathsFilter, ...f } } } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.columns, ['actor']);
    return names(r).sort();
  };
  assert.deepEqual(await part({ pathStartKey: '1_https://x.io/home', pathEndKey: '2_https://x.io/about' }), ['p4', 'p5']);
  assert.deepEqual(await part({ pathEndKey: '3_https://x.io/pricing' }), ['p4']);
  assert.deepEqual(await part({ pathStartKey: '1_https://x.io/home' }), ['p4', 'p5', 'p6']);
  assert.deepEqual(await part({ pathDropoffKey: '2_https://x.io/about' }), ['p5']);
  assert.deepEqual(await part({ pathDropoffKey: '2_https://x.io/blog' }), ['p6']);
  assert.deepEqual(await part({ pathStartKey: '2_https://x.io/home' }), []);
  const r = await q({ kind: 'InsightActorsQuery', source: paths });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /pathStartKey/);
});

// Stickiness: p1 was active on 2 days, p2 and p3 on 1.
test('the persons of a stickiness point', async () => {
  const sticky = { kind: 'StickinessQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr, interval: 'day' };
  const st = await q(sticky);
  assert.equal(st.status, 200, st.text);
  assert.deepEqual(st.json.results[0].data.slice(0, 3), [2, 1, 0]);
  let r = await q({ kind: 'ActorsQuery', source: { kind: 'InsightActorsQuery', source: sticky, day: 1 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['actor']);
  assert.deepEqual(names(r).sort(), ['p2', 'p3']);
  r = await q({ kind: 'InsightActorsQuery', source: sticky, day: 2 });
  assert.deepEqual(names(r), ['p1']);
  const cumulative = { ...sticky, stickinessFilter: { computedAs: 'cumulative' } };
  r = await q({ kind: 'InsightActorsQuery', source: cumulative, day: 1 });
  assert.deepEqual(names(r).sort(), ['p1', 'p2', 'p3']);
  r = await q({ kind: 'InsightActorsQuery', source: sticky, day: 3 });
  assert.deepEqual(names(r), []);
  // intervalCount 2: pairs of days counted back from the 19th; p1's 11th
  // and 12th fall in two of them
  const pairs = { ...sticky, intervalCount: 2 };
  const sp = await q(pairs);
  assert.equal(sp.status, 200, sp.text);
  assert.deepEqual(sp.json.results[0].data.slice(0, 3), [2, 1, 0]);
  r = await q({ kind: 'InsightActorsQuery', source: pairs, day: 2 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(names(r), ['p1']);
  r = await q({ kind: 'InsightActorsQuery', source: pairs, day: 1 });
  assert.deepEqual(names(r).sort(), ['p2', 'p3']);
  r = await q({ kind: 'InsightActorsQuery', source: pairs, day: 7 });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /day/);
});

test('bad actors queries answer 400 naming the problem', async () => {
  let r = await q({ kind: 'InsightActorsQuery', source: funnel, funnelStep: 0 });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /funnelStep/);
  r = await q({ kind: 'InsightActorsQuery', source: trends, day: '2019-01-01' });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /outside/);
  r = await q({ kind: 'InsightActorsQuery', source: trends, series: 3 });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /series/);
  r = await q({ kind: 'InsightActorsQuery', source: lifecycle, day: '2020-01-12', status: 'gone' });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /status/);
  r = await q({ kind: 'InsightActorsQuery', source: lifecycle, status: 'new' });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /day/);
  r = await q({ kind: 'InsightActorsQuery', source: lifecycle, day: '2021-01-01', status: 'new' });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /outside/);
  r = await q({ kind: 'InsightActorsQuery', source: { kind: 'StickinessQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr }, day: 0 });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /day/);
});
