// Sampling through the query API: HogQL `FROM events SAMPLE k [OFFSET o]`
// and the insights' samplingFactor (PostHog's "sampling" toggle), on 300
// users' events sent through /batch/. A sample keeps a user's events all in
// or all out (snout's sample key is its hash of distinct_id), so the sampled
// trend equals the sampled HogQL count, complementary samples add up to the
// whole, and every insight kind runs sampled with SAMPLE in its "hogql".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

const USERS = 300;
let srv;
before(async () => {
  srv = await startServer();
  const batch = [];
  const t0 = Date.now() - 3600e3;
  for (let u = 0; u < USERS; u++) {
    for (let k = 0; k < 3; k++) {
      batch.push({ event: k === 2 ? 'signup' : '$pageview', distinct_id: `user-${u}`,
        timestamp: new Date(t0 + u * 1000 + k * 10).toISOString(), properties: { k } });
    }
  }
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch }),
    { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  await sleep(2500);
});
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

const query = (query) =>
  post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query }),
    { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
const hogql = async (text) => {
  const r = await query({ kind: 'HogQLQuery', query: text });
  assert.equal(r.status, 200, r.text);
  return r.json.results;
};

test('SAMPLE k [OFFSET o] keeps whole users and partitions them', async () => {
  assert.deepEqual(await hogql('select count() from events'), [[900]]);
  const [[c1, u1]] = await hogql('select count(), uniqExact(distinct_id) from events sample 1/2');
  const [[c2, u2]] = await hogql('select count(), uniqExact(distinct_id) from events sample 0.5 offset 0.5');
  assert.equal(c1 + c2, 900);
  assert.equal(u1 + u2, USERS);
  assert.equal(c1, 3 * u1); // all three events of a sampled user
  assert.ok(u1 > 100 && u1 < 200, `about half the users: ${u1}`);
  assert.deepEqual(await hogql('select count() from events sample 1'), [[900]]);
  // In rows: 450 of the 900 rows read is the same half as 1/2.
  assert.deepEqual(await hogql('select count(), uniqExact(distinct_id) from events sample 450'), [[c1, u1]]);
  assert.deepEqual(await hogql('select count() from events sample 100000'), [[900]]);
  const r = await query({ kind: 'HogQLQuery', query: 'select count() from events sample 100000 offset 0.5' });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /Sampling offset is incorrect because no sampling/);
});

const trends = (extra) => ({ kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: '$pageview' }],
  dateRange: { date_from: '-1d' }, interval: 'day', ...extra });

test('samplingFactor samples every insight kind', async () => {
  const full = await query(trends({}));
  assert.equal(full.status, 200, full.text);
  const sum = (r) => r.json.results[0].data.reduce((a, b) => a + b, 0);
  assert.equal(sum(full), 600);
  const one = await query(trends({ samplingFactor: 1 }));
  assert.equal(sum(one), 600);
  assert.doesNotMatch(one.json.hogql, /SAMPLE/);
  const half = await query(trends({ samplingFactor: 0.5 }));
  assert.equal(half.status, 200, half.text);
  assert.match(half.json.hogql, /FROM events SAMPLE 0\.5 WHERE/);
  const [[want]] = await hogql("select count() from events sample 0.5 where event = '$pageview'");
  assert.equal(sum(half), want);
  assert.ok(want > 0 && want < 600);
  // every kind runs sampled, SAMPLE on its events source
  const dr = { date_from: '-1d' };
  const kinds = [
    { kind: 'FunnelsQuery', series: [{ kind: 'EventsNode', event: '$pageview' }, { kind: 'EventsNode', event: 'signup' }], dateRange: dr },
    { kind: 'RetentionQuery', retentionFilter: { period: 'Day', totalIntervals: 2 }, dateRange: dr },
    { kind: 'StickinessQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr },
    { kind: 'LifecycleQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr },
    { kind: 'PathsQuery', pathsFilter: { includeEventTypes: ['$pageview'] }, dateRange: dr },
  ];
  for (const k of kinds) {
    const r = await query({ ...k, samplingFactor: 0.25 });
    assert.equal(r.status, 200, `${k.kind}: ${r.text}`);
    assert.match(r.json.hogql, /SAMPLE 0\.25 WHERE/, k.kind);
  }
  // the funnel's first step counts the sampled users
  const f = await query({ ...kinds[0], samplingFactor: 0.5 });
  const [[users]] = await hogql('select uniqExact(distinct_id) from events sample 0.5');
  assert.equal(f.json.results[0].count, users);
  for (const bad of [0, 2, -0.5, 'half']) {
    const r = await query(trends({ samplingFactor: bad }));
    assert.equal(r.status, 400, `samplingFactor ${bad}`);
    assert.match(r.json.detail, /samplingFactor must be a number greater than 0 and at most 1/);
  }
});
