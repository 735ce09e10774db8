// The query API over HTTP: POST /api/projects/:id/query/ with a personal API
// key, on events that went in through capture and were ingested into parts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY, BIN } from './lib.mjs';

let srv;
before(async () => {
  srv = await startServer();
  const batch = [];
  for (let i = 0; i < 30; i++) {
    batch.push({ event: i % 3 ? 'pageview' : 'signup', distinct_id: `u${i % 7}`,
      properties: { $browser: i % 2 ? 'Firefox' : 'Chrome', n: i } });
  }
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch }),
    { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200);
  await sleep(2500); // ingest writes a part within store_flush_age (1 s)
});
after(async () => {
  // A clean exit: under ASan (SNOUT_BIN=snout_asan) a leak or error fails it.
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

const q = (team, query, key = API_KEY, kind = 'HogQLQuery') =>
  post(`${srv.url}/api/projects/${team}/query/`, JSON.stringify({ query: { kind, query } }),
    { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) });

test('HogQL over HTTP answers in PostHog\'s shape', async () => {
  const r = await q(1, 'select event, count() as c, uniq(distinct_id) from events group by event order by event');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, ['event', 'c', 'uniq(distinct_id)']);
  assert.deepEqual(r.json.results, [['pageview', 20, 7], ['signup', 10, 7]]);
  assert.equal(r.json.types.length, 3);
  assert.equal(r.json.hasMore, false);
  assert.match(r.json.hogql, /LIMIT 100/);
  const b = await q(1, "select count() from events where properties.$browser = 'Firefox'");
  assert.deepEqual(b.json.results, [[15]]);
  // The environments alias.
  const e = await post(`${srv.url}/api/environments/1/query`, JSON.stringify({ query: { kind: 'HogQLQuery', query: 'select count() from events' } }),
    { Authorization: `Bearer ${API_KEY}` });
  assert.deepEqual(e.json.results, [[30]]);
});

test('authentication and access', async () => {
  let r = await q(1, 'select 1 from events', null);
  assert.equal(r.status, 401);
  assert.equal(r.json.type, 'authentication_error');
  r = await q(1, 'select 1 from events', 'phx_not_a_real_key_000000000000');
  assert.equal(r.status, 401);
  r = await q(999, 'select count() from events');
  assert.equal(r.status, 403);
  // A second project in another organization is invisible to this key: a
  // user of a new org gets 403 on team 1.
  const d = srv.dataDir;
  const t = spawnSync(BIN, ['team', 'create', '--name', 'Other', '--data-dir', d], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const other = Number(/created team (\d+)/.exec(t.stdout)[1]);
  r = await q(other, 'select count() from events');
  assert.equal(r.status, 200, 'same organization: allowed');
  assert.deepEqual(r.json.results, [[0]], 'and it sees none of team 1\'s events');
});

test('bad queries get 400 with positions', async () => {
  let r = await q(1, 'select count( from events');
  assert.equal(r.status, 400);
  assert.equal(r.json.type, 'validation_error');
  assert.equal(typeof r.json.start, 'number');
  assert.ok(r.json.detail.length > 0);
  r = await q(1, 'select nosuchfunction(1) from events');
  assert.equal(r.status, 400);
  r = await q(1, 'select 1', API_KEY, 'WebOverviewQuery');
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /not supported yet/);
  r = await post(`${srv.url}/api/projects/1/query/`, '{"query":', { Authorization: `Bearer ${API_KEY}` });
  assert.equal(r.status, 400);
});

test('error codes are PostHog\'s code_name of the HogQL exception', async () => {
  // posthog/hogql/errors.py: SyntaxError -> hogql_syntax_error, QueryError ->
  // hogql_query_error, sent as the DRF ValidationError's code (api/query.py).
  let r = await q(1, 'select count( from events');
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'hogql_syntax_error');
  r = await q(1, 'select nosuchfield from events');
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'hogql_query_error');
  assert.equal(r.json.detail, 'Unable to resolve field: nosuchfield');
  r = await q(1, 'select x from nosuchtable');
  assert.equal(r.json.code, 'hogql_query_error');
});

test('DateTimes render as PostHog\'s orjson renderer: microseconds when non-zero, Z', async () => {
  const r = await q(1, "select toDateTime64('2026-01-01 00:00:00.123456', 6, 'UTC'), "
    + "toDateTime64('2026-01-01 00:00:00.5', 6, 'UTC'), toDateTime('2026-01-01 00:00:00'), "
    + "[toDateTime64('2026-01-01 00:00:00.000001', 6, 'UTC')]");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [['2026-01-01T00:00:00.123456Z', '2026-01-01T00:00:00.500000Z',
    '2026-01-01T00:00:00Z', ['2026-01-01T00:00:00.000001Z']]]);
});

test('person modifiers: the modes snout answers with are accepted, others refused, never ignored', async () => {
  const mq = (modifiers) => post(`${srv.url}/api/projects/1/query/`,
    JSON.stringify({ query: { kind: 'HogQLQuery', query: 'select count() from events', modifiers } }),
    { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
  for (const m of [{}, { personsOnEventsMode: 'person_id_override_properties_joined' },
    { personsJoinMode: 'left' }, { inCohortVia: 'auto', materializationMode: 'auto' }]) {
    const r = await mq(m);
    assert.equal(r.status, 200, `${JSON.stringify(m)}: ${r.text}`);
  }
  for (const [m, re] of [[{ personsOnEventsMode: 'person_id_no_override_properties_on_events' }, /not supported/],
    [{ personsOnEventsMode: 'not_a_mode' }, /one of PostHog's values/],
    [{ personsJoinMode: 'inner' }, /not supported/], [{ personsJoinMode: 7 }, /one of PostHog's values/],
    ['left', /must be an object/]]) {
    const r = await mq(m);
    assert.equal(r.status, 400, `${JSON.stringify(m)}: ${r.text}`);
    assert.equal(r.json.type, 'validation_error');
    assert.match(r.json.detail, re);
  }
});

test('session modifiers: PostHog\'s defaults are accepted, others refused, never ignored', async () => {
  // sessions.$is_bounce and $channel_type follow PostHog's default
  // bounceRatePageViewMode, bounceRateDurationSeconds and channel rules; another
  // value would change the answer, so it must not be accepted silently.
  const mq = (modifiers) => post(`${srv.url}/api/projects/1/query/`,
    JSON.stringify({ query: { kind: 'HogQLQuery', query: 'select count() from sessions where $is_bounce', modifiers } }),
    { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
  for (const m of [{ bounceRatePageViewMode: 'count_pageviews' }, { bounceRateDurationSeconds: 10 },
    { bounceRateDurationSeconds: null }, { customChannelTypeRules: [] }]) {
    const r = await mq(m);
    assert.equal(r.status, 200, `${JSON.stringify(m)}: ${r.text}`);
  }
  for (const [m, re] of [[{ bounceRatePageViewMode: 'uniq_page_screen_autocaptures' }, /not supported/],
    [{ bounceRatePageViewMode: 'sometimes' }, /one of PostHog's values/],
    [{ bounceRateDurationSeconds: 5 }, /not supported: snout answers with 10/],
    [{ customChannelTypeRules: [{ items: [], combiner: 'AND', channel_type: 'Mine', id: 'x' }] }, /not supported/]]) {
    const r = await mq(m);
    assert.equal(r.status, 400, `${JSON.stringify(m)}: ${r.text}`);
    assert.equal(r.json.type, 'validation_error');
    assert.match(r.json.detail, re);
  }
});

test('subqueries, IN (SELECT), CTEs and UNION ALL over HTTP', async () => {
  // 30 events, distinct ids u0..u6 (i % 7): u0 and u1 have 5 events, the rest 4.
  let r = await q(1, 'select count() from (select distinct_id, count() as c from events group by distinct_id) where c > 4');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[2]]);
  // i = 3 is the only signup with n = 3; u3 has events 3, 10, 17, 24.
  r = await q(1, "select count() from events where distinct_id in (select distinct_id from events where event = 'signup' and properties.n = '3')");
  assert.deepEqual(r.json.results, [[4]]);
  r = await q(1, "select count() from events where distinct_id not in (select distinct_id from events where event = 'signup' and properties.n = '3')");
  assert.deepEqual(r.json.results, [[26]]);
  r = await q(1, 'with s as (select distinct_id, count() as c from events group by distinct_id) select count(), sum(c) from s');
  assert.deepEqual(r.json.results, [[7, 30]]);
  r = await q(1, "select event from events where event = 'signup' limit 2 union all select event from events where event = 'pageview' limit 3");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [['signup'], ['signup'], ['pageview'], ['pageview'], ['pageview']]);
  assert.equal(r.json.hasMore, true);
  r = await q(1, 'select count() from events e where event in (select event from events where distinct_id = e.distinct_id)');
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /correlated/);
});

test('a subquery cannot reach another team', async () => {
  const t = spawnSync(BIN, ['team', 'create', '--name', 'Sub', '--data-dir', srv.dataDir], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const other = Number(/created team (\d+)/.exec(t.stdout)[1]);
  let r = await q(other, 'select count() from (select event from events where team_id = 1)');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[0]]);
  r = await q(other, 'select count() from events where distinct_id in (select distinct_id from events)');
  assert.deepEqual(r.json.results, [[0]]);
  r = await q(other, 'with x as (select team_id from events) select count() from x union all select count() from (select 1 from events)');
  assert.deepEqual(r.json.results, [[0], [0]]);
  // the caller's own team still sees its rows through the same shapes
  r = await q(1, 'select count() from (select event from events where team_id = 1)');
  assert.deepEqual(r.json.results, [[30]]);
});

test('explicit JOINs over HTTP', async () => {
  // u0 and u1 have 5 events, u2..u6 4: the self-join has 2*25 + 5*16 rows.
  let r = await q(1, 'select count() from events a join events b on a.distinct_id = b.distinct_id');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[130]]);
  // signups are i % 3 == 0: u0 2, u1 1, u2 1, u3 2, u4 1, u5 1, u6 2.
  r = await q(1, "select count(), countIf(isNull(s.c)) from events e left join (select distinct_id, count() as c from events where event = 'signup' group by distinct_id) s on e.distinct_id = s.distinct_id");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[30, 0]]);
  r = await q(1, "select e.distinct_id, s.c from events e join (select distinct_id, count() as c from events where event = 'signup' group by distinct_id) s using (distinct_id) where e.properties.n = '0'");
  assert.deepEqual(r.json.results, [['u0', 2]]);
  r = await q(1, 'select count() from events a join events b on a.distinct_id < b.distinct_id');
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /equalities/);
});

test('a JOIN cannot reach another team through either side', async () => {
  const t = spawnSync(BIN, ['team', 'create', '--name', 'Join', '--data-dir', srv.dataDir], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const other = Number(/created team (\d+)/.exec(t.stdout)[1]);
  let r = await q(other, 'select count() from events a full join events b on a.distinct_id = b.distinct_id');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[0]]);
  r = await q(other, 'select count() from events a right join (select distinct_id from events where team_id = 1) b on a.distinct_id = b.distinct_id');
  assert.deepEqual(r.json.results, [[0]]);
  r = await q(other, 'select count() from (select distinct_id from events) a cross join events b where b.team_id = 1');
  assert.deepEqual(r.json.results, [[0]]);
  // the caller's own team still sees its rows through the same shape
  r = await q(1, 'select count() from events a full join events b on a.distinct_id = b.distinct_id');
  assert.deepEqual(r.json.results, [[130]]);
});

test('matchesAction() by id and by name, and its errors', async () => {
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` };
  const a = await post(`${srv.url}/api/projects/1/actions/`, JSON.stringify({ name: 'Firefox views or signups',
    steps: [{ event: 'signup' }, { event: 'pageview', properties: [{ key: '$browser', value: 'Firefox', type: 'event' }] }] }), headers);
  assert.equal(a.status, 201, a.text);
  // 10 signups (i % 3 == 0) and the pageviews of odd i that are not multiples of 3 (10)
  let r = await q(1, `select count() from events where matchesAction(${a.json.id})`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[20]]);
  r = await q(1, "select event, count() from events where matchesAction('Firefox views or signups') group by event order by event");
  assert.deepEqual(r.json.results, [['pageview', 10], ['signup', 10]]);
  r = await q(1, 'select count() from events where not matchesAction(999999)');
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /Action 999999 does not exist/);
  r = await q(1, 'select count() from events where matchesAction(event)');
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /one argument: an action's id or name/);
});

test('HogQL {filters}: date range, properties, test accounts; not inside strings', async () => {
  const run = (query, filters) => post(`${srv.url}/api/projects/1/query/`,
    JSON.stringify({ query: { kind: 'HogQLQuery', query, ...(filters ? { filters } : {}) } }),
    { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
  let r = await run('select count() from events where {filters}', { properties: [{ key: '$browser', value: 'Firefox', type: 'event' }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[15]]);
  r = await run('select count() from events where {filters}'); // the last 7 days
  assert.deepEqual(r.json.results, [[30]]);
  r = await run('select count() from events where {filters}', { dateRange: { date_from: '2020-01-01', date_to: '2020-01-02' } });
  assert.deepEqual(r.json.results, [[0]]);
  r = await run("select '{filters}' as s from events where {filters} limit 1", { properties: [] });
  assert.deepEqual(r.json.results, [['{filters}']]);
  r = await run('select count() from events where {filters}', { properties: [{ type: 'event', value: 1 }] });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.attr, 'query.filters');
});

test('placeholder values: {name} filled from query.values as constants', async () => {
  const qv = (query, values) =>
    post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query: { kind: 'HogQLQuery', query, values } }),
      { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
  // 30 events: i % 3 ? pageview : signup; $browser Firefox for odd i; n = i.
  let r = await qv('select count() from events where event = {ev} and toInt(properties.n) >= {min}', { ev: 'pageview', min: 15 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[10]]); // i in 15..29 with i % 3 != 0
  r = await qv('select count() from events where properties.$browser in {browsers}', { browsers: ['Firefox', 'Safari'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [[15]]);
  // Every JSON type, and a string that would break quoting if it were pasted as text.
  r = await qv('select {s}, {i}, {f}, {b}, {z}, {a}', { s: "it's \\ {s} x", i: -7, f: 2.5, b: false, z: null, a: [1, 2] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results, [["it's \\ {s} x", -7, 2.5, 0, null, [1, 2]]]);
  // A value is a constant, never SQL: this one matches nothing instead of everything.
  r = await qv('select count() from events where event = {ev}', { ev: "x' or 1 = 1 or event = '" });
  assert.deepEqual(r.json.results, [[0]]);
  // Errors: an unfilled placeholder (with its position), an object value, values not an object.
  r = await qv('select {missing} + 1', { other: 1 });
  assert.equal(r.status, 400);
  assert.match(r.json.detail, /Unresolved placeholder \{missing\}/);
  assert.equal(r.json.start, 7);
  r = await qv('select {o}', { o: { a: 1 } });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'query.values.o');
  assert.match(r.json.detail, /objects are not supported/);
  r = await qv('select {o}', [1]);
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'query.values');
});

test('a query whose client goes away stops and frees its slot', async () => {
  // ~3M rows × a 100-element arrayMap: tens of seconds of work, in batches.
  const slow = 'select sum(arraySum(arrayMap(i -> i * x, range(100)))) from (select arrayJoin(range(3000000)) as x)';
  const send = (query, signal) => fetch(`${srv.url}/api/projects/1/query/`, {
    method: 'POST', signal, body: JSON.stringify({ query: { kind: 'HogQLQuery', query } }),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
  });
  const ctl = new AbortController();
  const pending = [1, 2, 3, 4].map(() => send(slow, ctl.signal).catch((e) => e));
  await sleep(400);
  // The four fill every slot: another query is refused while they run ...
  let r = await send('select 1');
  assert.equal(r.status, 429, 'the slow queries hold all four slots');
  // ... until their clients close the connections; then they stop within a batch or two.
  ctl.abort();
  await Promise.all(pending);
  // Well under the tens of seconds the four would run; 8 s, not less: under
  // ASan on two cores shared with builds a batch has taken over 5 s.
  const t0 = Date.now();
  do {
    await sleep(100);
    r = await send('select 1');
  } while (r.status === 429 && Date.now() - t0 < 8000);
  assert.equal(r.status, 200, `a slot is free ${Date.now() - t0} ms after the aborts`);
  assert.ok(Date.now() - t0 < 8000);
});
