// Saved insights and dashboards through PostHog's REST paths on a real
// server with events: create, list (order, pagination, search, saved,
// short_id), PATCH, soft delete, activity, validation errors naming the
// field; results and the result cache (?refresh= modes, is_cached, a PATCH
// of the query invalidates); dashboards with tiles (insights, text cards,
// layouts, deleting a tile), dashboard filters applied to every tile (each
// tile equal to its query run alone with the filters merged as PostHog
// merges them), refresh of many tiles in parallel, sharing by a secret link,
// and another project's objects answering 404.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, cleanup, post, sleep, BIN, TOKEN, API_KEY } from './lib.mjs';

let srv;
const NEVENTS = 260;

// A deterministic fortnight of events: 20 people, page views with a browser
// and a plan, sign-ups and purchases between 2024-01-01 and 2024-01-14.
function events() {
  const out = [];
  for (let i = 0; i < 200; i++) {
    const person = `u${i % 20}`;
    const day = 1 + ((i * 5) % 14); // 5 and 14 coprime: every event kind on every day
    const hour = (i * 7) % 24;
    const ts = `2024-01-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00Z`;
    const browser = i % 3 === 0 ? 'Firefox' : 'Chrome';
    const event = i % 10 === 0 ? 'purchase' : i % 4 === 0 ? 'signup' : '$pageview';
    out.push({ event, distinct_id: person, timestamp: ts, properties: { $browser: browser, plan: i % 2 ? 'pro' : 'free' } });
  }
  // Three page views a minute apart per person on the 5th: paths to follow.
  for (let p = 0; p < 20; p++) {
    for (let k = 0; k < 3; k++) {
      out.push({ event: '$pageview', distinct_id: `u${p}`, timestamp: `2024-01-05T10:0${k}:00Z`,
        properties: { $browser: p % 3 ? 'Chrome' : 'Firefox', plan: p % 2 ? 'pro' : 'free', $session_id: `s-u${p}`, $current_url: `https://x.io/${'abc'[k]}` } });
    }
  }
  return out;
}

before(async () => {
  srv = await startServer({ env: { SNOUT_ACCESS_LOG: 'false', SNOUT_TEST_MODE: 'true', SNOUT_STORE_FLUSH_AGE: '100ms' } });
  const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: events() }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200, r.text);
  for (let i = 0; i < 200; i++) {
    const c = await query({ kind: 'HogQLQuery', query: 'select count() from events' });
    if (c.json.results && c.json.results[0][0] === NEVENTS) break;
    await sleep(100);
  }
});
after(async () => {
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

// The query endpoint: what a query answers when run alone.
function query(q, team = 1) {
  return post(`${srv.url}/api/projects/${team}/query/`, JSON.stringify({ query: q, now: '2024-02-01T00:00:00Z' }),
    { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
}

const INS = '/api/projects/1/insights/';
const DASH = '/api/projects/1/dashboards/';
const dr = { date_from: '2024-01-01', date_to: '2024-01-14' };
const trends = (event, extra = {}) => ({ kind: 'InsightVizNode', source: { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event }], dateRange: dr, ...extra } });

test('insights: create, fetch, list newest first, search, short_id, patch, soft delete, activity', async () => {
  let r = await api('POST', INS, { name: 'Page views', description: 'daily', tags: ['web'], query: trends('$pageview'), saved: true });
  assert.equal(r.status, 201, r.text);
  const a = r.json;
  assert.match(a.short_id, /^[A-Za-z0-9]{8}$/);
  assert.equal(a.name, 'Page views');
  assert.equal(a.description, 'daily');
  assert.deepEqual(a.tags, ['web']);
  assert.equal(a.saved, true);
  assert.equal(a.favorited, false);
  assert.equal(a.deleted, false);
  assert.deepEqual(a.dashboards, []);
  assert.equal(a.created_by.email, 'admin@example.com');
  assert.equal(a.query.source.kind, 'TrendsQuery');
  for (const k of ['result', 'last_refresh', 'is_cached', 'timezone', 'cache_target_age', 'next_allowed_client_refresh', 'filters_hash', 'derived_name', 'dashboard_tiles'])
    assert.ok(k in a, k);
  assert.equal(a.timezone, 'UTC');

  r = await api('POST', '/api/environments/1/insights/', { name: 'Signups', derived_name: 'signup count', query: trends('signup') });
  assert.equal(r.status, 201, r.text);
  const b = r.json;
  assert.equal(b.derived_name, 'signup count');
  assert.notEqual(b.short_id, a.short_id);
  r = await api('POST', INS, { filters: { insight: 'TRENDS', events: [{ id: '$pageview' }] } });
  assert.equal(r.status, 201, r.text);
  const legacy = r.json;
  assert.equal(legacy.name, null);
  assert.deepEqual(legacy.filters, { insight: 'TRENDS', events: [{ id: '$pageview' }] });
  assert.equal(legacy.query, null);

  r = await api('GET', INS);
  assert.equal(r.status, 200);
  assert.equal(r.json.count, 3);
  assert.deepEqual(r.json.results.map((x) => x.id), [legacy.id, b.id, a.id]);

  r = await api('GET', `${INS}${a.id}/`);
  assert.equal(r.status, 200);
  assert.equal(r.json.short_id, a.short_id);
  r = await api('GET', `${INS}?short_id=${b.short_id}`);
  assert.deepEqual(r.json.results.map((x) => x.id), [b.id]);
  r = await api('GET', `${INS}?search=PAGE`);
  assert.deepEqual(r.json.results.map((x) => x.id), [a.id]);
  r = await api('GET', `${INS}?search=signup%20count`); // derived_name is searched too
  assert.deepEqual(r.json.results.map((x) => x.id), [b.id]);
  r = await api('GET', `${INS}?saved=true`);
  assert.deepEqual(r.json.results.map((x) => x.id), [a.id]);
  r = await api('GET', `${INS}?basic=true`);
  assert.equal(r.json.results[0].result, undefined);

  r = await api('PATCH', `${INS}${b.id}/`, { name: 'Sign-ups', favorited: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'Sign-ups');
  assert.equal(r.json.favorited, true);
  assert.equal(r.json.short_id, b.short_id);
  r = await api('GET', `${INS}?favorited=true`);
  assert.deepEqual(r.json.results.map((x) => x.id), [b.id]);

  // Soft delete by DELETE and by PATCH; a deleted insight answers 404.
  assert.equal((await api('DELETE', `${INS}${legacy.id}/`)).status, 204);
  assert.equal((await api('GET', `${INS}${legacy.id}/`)).status, 404);
  assert.equal((await api('DELETE', `${INS}${legacy.id}/`)).status, 404);
  assert.equal((await api('PATCH', `${INS}${legacy.id}/`, { name: 'zombie' })).status, 404);
  r = await api('PATCH', `${INS}${b.id}/`, { deleted: true });
  assert.equal(r.status, 200);
  assert.equal(r.json.deleted, true);
  assert.equal((await api('GET', `${INS}${b.id}/`)).status, 404);
  r = await api('GET', INS);
  assert.deepEqual(r.json.results.map((x) => x.id), [a.id]);
  // PATCH {"deleted": false} restores (PostHog's undelete).
  r = await api('PATCH', `${INS}${b.id}/`, { deleted: false });
  assert.equal(r.status, 200, r.text);
  assert.equal((await api('GET', `${INS}${b.id}/`)).status, 200);

  r = await api('GET', `${INS}${b.id}/activity/`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results.map((x) => x.activity), ['updated', 'deleted', 'updated', 'created']);
  assert.equal(r.json.results[0].scope, 'Insight');
  assert.equal(r.json.results[0].detail.short_id, b.short_id);
  assert.equal(r.json.results[0].user.email, 'admin@example.com');
  const fields = r.json.results[2].detail.changes.map((c) => c.field).sort();
  assert.deepEqual(fields, ['favorited', 'name']);

  for (const x of [a, b]) assert.equal((await api('DELETE', `${INS}${x.id}/`)).status, 204);
});

test('insights: pagination with next/previous links', async () => {
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const r = await api('POST', INS, { name: `paged ${i}`, query: trends('$pageview') });
    assert.equal(r.status, 201);
    ids.push(r.json.id);
  }
  let r = await api('GET', `${INS}?limit=2&search=paged`);
  assert.equal(r.json.count, 5);
  assert.deepEqual(r.json.results.map((x) => x.name), ['paged 4', 'paged 3']);
  assert.equal(r.json.previous, null);
  const seen = r.json.results.map((x) => x.name);
  while (r.json.next) {
    const u = new URL(r.json.next);
    assert.equal(u.searchParams.get('search'), 'paged');
    r = await api('GET', u.pathname + u.search);
    assert.ok(r.json.previous);
    seen.push(...r.json.results.map((x) => x.name));
  }
  assert.deepEqual(seen, [4, 3, 2, 1, 0].map((i) => `paged ${i}`));
  r = await api('GET', `${INS}?limit=2&offset=4&search=paged`);
  assert.deepEqual(r.json.results.map((x) => x.name), ['paged 0']);
  assert.equal(r.json.next, null);
  for (const id of ids) await api('DELETE', `${INS}${id}/`);
});

test('insights: bad input answers 400 naming the field', async () => {
  const cases = [
    [{ query: { kind: 'NoSuchQuery' } }, 'query.kind', 'unsupported_kind'],
    [{ query: { source: {} } }, 'query.kind', 'required'],
    [{ query: 'select 1' }, 'query', 'invalid_input'],
    [{ query: { kind: 'InsightVizNode' } }, 'query.source', 'required'],
    [{ query: { kind: 'InsightVizNode', source: { kind: 'HogQLQuery', query: 'select 1' } } }, 'query.source.kind', 'invalid_input'],
    [{ query: { kind: 'InsightVizNode', source: { kind: 'EventsQuery' } } }, 'query.source.kind', 'invalid_input'],
    [{ query: { kind: 'InsightVizNode', source: { kind: 'TrendsQuery', series: 'x' } } }, 'query.source.series', 'not_a_list'],
    [{ query: { kind: 'InsightVizNode', source: { kind: 'TrendsQuery' } } }, 'query.source.series', 'required'],
    [{ query: { kind: 'TrendsQuery', series: [], interval: 'fortnight' } }, 'query.interval', 'invalid_choice'],
    [{ query: { kind: 'HogQLQuery' } }, 'query.query', 'required'],
    [{ query: { kind: 'DataTableNode', source: { kind: 'HogQLQuery', query: '  ' } } }, 'query.source.query', 'required'],
    [{ name: 'x'.repeat(401) }, 'name', 'max_length'],
    [{ name: 42 }, 'name', 'invalid'],
    [{ tags: 'web' }, 'tags', 'not_a_list'],
    [{ favorited: 'yes' }, 'favorited', 'invalid'],
    [{ filters: [1] }, 'filters', 'invalid'],
    [{ dashboards: ['one'] }, 'dashboards', 'incorrect_type'],
    [{ dashboards: [999999] }, 'dashboards', 'does_not_exist'],
  ];
  for (const [body, attr, code] of cases) {
    const r = await api('POST', INS, body);
    assert.equal(r.status, 400, JSON.stringify(body) + r.text);
    assert.equal(r.json.type, 'validation_error');
    assert.equal(r.json.attr, attr, JSON.stringify(body));
    assert.equal(r.json.code, code, JSON.stringify(body));
    assert.ok(r.json.detail.length > 5);
  }
  let r = await post(srv.url + INS, '{not json', { Authorization: `Bearer ${API_KEY}` });
  assert.equal(r.status, 400);
  r = await api('GET', `${INS}?refresh=sometimes`);
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'refresh');
  r = await api('GET', INS);
  assert.equal(r.json.count, 0, 'nothing was created by the bad requests');
  // A query that validates but fails when it runs: 400 when computed.
  r = await api('POST', INS, { name: 'broken', query: { kind: 'HogQLQuery', query: 'select nosuchfunction(1)' } });
  assert.equal(r.status, 201);
  const broken = r.json;
  r = await api('GET', `${INS}${broken.id}/?refresh=blocking`);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.code, 'query_error');
  await api('DELETE', `${INS}${broken.id}/`);
  // Auth.
  assert.equal((await api('GET', INS, undefined, null)).status, 401);
  assert.equal((await api('GET', '/api/projects/999/insights/')).status, 403);
});

test('insights: results, the cache and ?refresh= modes', async () => {
  const q = trends('$pageview', { properties: [{ key: '$browser', value: 'Chrome', operator: 'exact', type: 'event' }] });
  let r = await api('POST', INS, { name: 'Chrome views', query: q });
  assert.equal(r.status, 201);
  const ins = r.json;
  // Nothing cached yet: the default (force_cache) does not compute.
  assert.equal(ins.result, null);
  assert.equal(ins.is_cached, false);
  assert.equal(ins.last_refresh, null);
  r = await api('GET', `${INS}${ins.id}/?refresh=force_cache`);
  assert.equal(r.json.result, null);
  assert.equal(r.json.last_refresh, null);

  const alone = await query(q.source);
  assert.equal(alone.status, 200, alone.text);
  r = await api('GET', `${INS}${ins.id}/?refresh=blocking`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.is_cached, false);
  assert.deepEqual(r.json.result, alone.json.results);
  assert.ok(r.json.result[0].count > 0);
  assert.ok(r.json.last_refresh);
  assert.ok(Date.parse(r.json.cache_target_age) > Date.parse(r.json.last_refresh));
  assert.equal(Date.parse(r.json.next_allowed_client_refresh) - Date.parse(r.json.last_refresh), 60000);
  assert.ok(r.json.hogql.includes('$pageview'));
  const first = r.json;

  // Fresh in the cache: blocking and force_cache answer it.
  for (const mode of ['blocking', 'force_cache', 'async', 'lazy_async', '']) {
    r = await api('GET', `${INS}${ins.id}/${mode ? `?refresh=${mode}` : ''}`);
    assert.equal(r.json.is_cached, true, mode);
    assert.equal(r.json.last_refresh, first.last_refresh, mode);
    assert.deepEqual(r.json.result, first.result, mode);
    assert.equal(r.json.query_status, null, mode);
  }
  // The list answers cached results too.
  r = await api('GET', `${INS}?search=chrome`);
  assert.equal(r.json.results[0].is_cached, true);
  assert.deepEqual(r.json.results[0].result, first.result);

  // force_blocking (and refresh=true) recompute.
  await sleep(5);
  r = await api('GET', `${INS}${ins.id}/?refresh=force_blocking`);
  assert.equal(r.json.is_cached, false);
  assert.ok(Date.parse(r.json.last_refresh) > Date.parse(first.last_refresh));
  assert.deepEqual(r.json.result, first.result);
  r = await api('GET', `${INS}${ins.id}/?refresh=true`);
  assert.equal(r.json.is_cached, false);

  // Another key order of the same query shares the cache entry.
  r = await api('POST', INS, { name: 'same query', query: { source: { dateRange: dr, properties: q.source.properties, series: q.source.series, kind: 'TrendsQuery' }, kind: 'InsightVizNode' } });
  assert.equal(r.json.filters_hash, first.filters_hash);
  assert.equal(r.json.is_cached, true);
  await api('DELETE', `${INS}${r.json.id}/`);

  // A PATCH of the query invalidates: the new query has no result yet, the
  // old one's cached rows are gone, and blocking computes the new one.
  const q2 = trends('$pageview', { properties: [{ key: '$browser', value: 'Firefox', operator: 'exact', type: 'event' }] });
  r = await api('PATCH', `${INS}${ins.id}/`, { query: q2 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.result, null);
  assert.equal(r.json.is_cached, false);
  assert.notEqual(r.json.filters_hash, first.filters_hash);
  r = await api('GET', `${INS}${ins.id}/?refresh=blocking`);
  assert.equal(r.json.is_cached, false);
  assert.deepEqual(r.json.result, (await query(q2.source)).json.results);
  assert.notDeepEqual(r.json.result, first.result);
  r = await api('PATCH', `${INS}${ins.id}/`, { query: q });
  assert.equal(r.json.filters_hash, first.filters_hash);
  assert.equal(r.json.result, null, 'the old query was computed before the change: not served again');
  // A change of the name alone keeps the cache.
  r = await api('GET', `${INS}${ins.id}/?refresh=blocking`);
  const again = r.json;
  r = await api('PATCH', `${INS}${ins.id}/`, { name: 'Chrome page views' });
  assert.equal(r.json.is_cached, true);
  assert.equal(r.json.last_refresh, again.last_refresh);

  // async with nothing cached: answers null at once and computes in the background.
  r = await api('POST', INS, { name: 'async one', query: trends('purchase') });
  const asy = r.json;
  r = await api('GET', `${INS}${asy.id}/?refresh=async`);
  assert.equal(r.status, 200);
  assert.equal(r.json.result, null);
  assert.ok(r.json.query_status);
  assert.equal(r.json.query_status.complete, false);
  let done = null;
  for (let i = 0; i < 100 && !done; i++) {
    r = await api('GET', `${INS}${asy.id}/`);
    if (r.json.result) done = r.json;
    else await sleep(50);
  }
  assert.ok(done, 'the background refresh filled the cache');
  assert.equal(done.is_cached, true);
  assert.deepEqual(done.result, (await query(trends('purchase').source)).json.results);
  // force_async: answers the cached result and recomputes behind it.
  r = await api('GET', `${INS}${asy.id}/?refresh=force_async`);
  assert.equal(r.json.is_cached, true);
  assert.deepEqual(r.json.result, done.result);
  // async_except_on_cache_miss computes a miss now.
  r = await api('POST', INS, { name: 'miss', query: trends('signup') });
  r = await api('GET', `${INS}${r.json.id}/?refresh=async_except_on_cache_miss`);
  assert.equal(r.json.is_cached, false);
  assert.ok(r.json.result);

  // A HogQL table insight: rows, columns and types.
  const sql = { kind: 'DataTableNode', source: { kind: 'HogQLQuery', query: "select properties.$browser as b, count() as c from events where event = '$pageview' group by b order by b" } };
  r = await api('POST', INS, { name: 'by browser', query: sql });
  r = await api('GET', `${INS}${r.json.id}/?refresh=blocking`);
  assert.equal(r.status, 200, r.text);
  const alone2 = await query(sql.source);
  assert.deepEqual(r.json.result, alone2.json.results);
  assert.deepEqual(r.json.columns, ['b', 'c']);
  assert.ok(Array.isArray(r.json.types));

  // An event table insight (DataTableNode of an EventsQuery): the query API's rows.
  const table = { kind: 'DataTableNode', source: { kind: 'EventsQuery', select: ['event', 'count()'], after: 'all', orderBy: ['event'] } };
  r = await api('POST', INS, { name: 'event table', query: table });
  assert.equal(r.status, 201, r.text);
  r = await api('GET', `${INS}${r.json.id}/?refresh=blocking`);
  assert.equal(r.status, 200, r.text);
  const alone3 = await query(table.source);
  assert.equal(alone3.status, 200, alone3.text);
  assert.ok(alone3.json.results.length > 0);
  assert.deepEqual(r.json.result, alone3.json.results);

  r = await api('GET', INS);
  for (const x of r.json.results) await api('DELETE', `${INS}${x.id}/`);
});

// PostHog's merge of dashboard filters into a query (apply_dashboard_filters):
// date range replaced (both ends), properties ANDed with the insight's own.
function merged(source, filters) {
  const s = JSON.parse(JSON.stringify(source));
  if (filters.properties && filters.properties.length) {
    if (s.properties && (Array.isArray(s.properties) ? s.properties.length : true)) {
      const own = Array.isArray(s.properties) ? { type: 'AND', values: s.properties } : s.properties;
      s.properties = { type: 'AND', values: [own, { type: 'AND', values: filters.properties }] };
    } else {
      s.properties = filters.properties;
    }
  }
  if (filters.date_from || filters.date_to) {
    s.dateRange = { ...(s.dateRange || {}), date_from: filters.date_from ?? null, date_to: filters.date_to ?? null };
  }
  return s;
}

test('dashboards: tiles, text cards, layouts, filters applied to every tile, soft delete', async () => {
  const filters = { date_from: '2024-01-03', date_to: '2024-01-09', properties: [{ key: 'plan', value: 'pro', operator: 'exact', type: 'event' }] };
  let r = await api('POST', DASH, { name: 'Growth', description: 'weekly', filters, tags: ['kpi'] });
  assert.equal(r.status, 201, r.text);
  const d = r.json;
  assert.equal(d.name, 'Growth');
  assert.deepEqual(d.filters, filters);
  assert.deepEqual(d.persisted_filters, filters);
  assert.deepEqual(d.tiles, []);
  assert.equal(d.is_shared, false);
  assert.equal(d.created_by.email, 'admin@example.com');

  const own = [{ key: '$browser', value: 'Chrome', operator: 'exact', type: 'event' }];
  const queries = {
    views: trends('$pageview', { properties: own }),
    signups: trends('signup'),
    funnel: { kind: 'InsightVizNode', source: { kind: 'FunnelsQuery', dateRange: dr, series: [{ kind: 'EventsNode', event: '$pageview' }, { kind: 'EventsNode', event: 'purchase' }] } },
  };
  const ids = {};
  for (const [name, query] of Object.entries(queries)) {
    r = await api('POST', INS, { name, query, dashboards: name === 'views' ? [d.id] : undefined });
    assert.equal(r.status, 201, r.text);
    ids[name] = r.json.id;
  }
  // PostHog adds an insight to a dashboard by PATCHing the insight.
  for (const name of ['signups', 'funnel']) {
    r = await api('PATCH', `${INS}${ids[name]}/`, { dashboards: [d.id] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.dashboards, [d.id]);
    assert.equal(r.json.dashboard_tiles[0].dashboard_id, d.id);
  }
  // A text card, with a layout that puts it first.
  r = await api('PATCH', `${DASH}${d.id}/`, { tiles: [{ text: { body: 'Read me first' }, layouts: { sm: { x: 0, y: 0, w: 12, h: 1 } }, color: 'blue' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.tiles.length, 4);
  const text = r.json.tiles[0];
  assert.equal(text.text.body, 'Read me first');
  assert.equal(text.insight, null);
  assert.equal(text.color, 'blue');
  assert.equal(text.order, 0);

  // refresh=blocking: every insight tile computed with the dashboard's filters.
  r = await api('GET', `${DASH}${d.id}/?refresh=blocking`);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.last_accessed_at);
  assert.ok(r.json.last_refresh);
  const tiles = r.json.tiles.filter((t) => t.insight);
  assert.equal(tiles.length, 3);
  for (const t of tiles) {
    const name = t.insight.name;
    const want = merged(queries[name].source, filters);
    assert.deepEqual(t.insight.query.source, want, name);
    const alone = await query(want);
    assert.equal(alone.status, 200, alone.text);
    assert.deepEqual(t.insight.result, alone.json.results, name);
    assert.equal(t.is_cached, false);
    assert.ok(t.last_refresh);
  }
  // The filters change the answer (pro plan, 3rd to 9th only).
  const views = tiles.find((t) => t.insight.name === 'views');
  const unfiltered = (await query(queries.views.source)).json.results;
  assert.notDeepEqual(views.insight.result, unfiltered);
  assert.equal(views.insight.result[0].data.length, 7);

  // The same insight fetched from the dashboard's context has the tile's result.
  r = await api('GET', `${INS}${ids.views}/?from_dashboard=${d.id}`);
  assert.equal(r.json.is_cached, true);
  assert.deepEqual(r.json.result, views.insight.result);
  assert.ok('layouts' in r.json && 'color' in r.json);
  // ...and alone, without the filters, another cache entry.
  r = await api('GET', `${INS}${ids.views}/?refresh=blocking`);
  assert.deepEqual(r.json.result, unfiltered);
  assert.notEqual(r.json.filters_hash, views.insight.filters_hash);

  // Cached now: the dashboard answers from the cache.
  r = await api('GET', `${DASH}${d.id}/`);
  assert.ok(r.json.tiles.filter((t) => t.insight).every((t) => t.is_cached && t.insight.result));

  // A filters_override applies without changing the stored filters.
  const override = { date_from: '2024-01-01', date_to: '2024-01-14' };
  r = await api('GET', `${DASH}${d.id}/?refresh=blocking&filters_override=${encodeURIComponent(JSON.stringify(override))}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.filters, override);
  assert.deepEqual(r.json.persisted_filters, filters);
  const sig = r.json.tiles.find((t) => t.insight && t.insight.name === 'signups');
  assert.deepEqual(sig.insight.result, (await query(merged(queries.signups.source, override))).json.results);

  // Changing the dashboard's filters changes the tiles' results.
  const f2 = { date_from: '2024-01-10', date_to: '2024-01-14' };
  r = await api('PATCH', `${DASH}${d.id}/?refresh=blocking`, { filters: f2 });
  assert.equal(r.status, 200, r.text);
  const sig2 = r.json.tiles.find((t) => t.insight && t.insight.name === 'signups');
  assert.deepEqual(sig2.insight.result, (await query(merged(queries.signups.source, f2))).json.results);
  assert.equal(sig2.insight.result[0].data.length, 5);

  // Layouts, a tile removed by the dashboard's PATCH, an insight removed by its own PATCH.
  const funnelTile = r.json.tiles.find((t) => t.insight && t.insight.name === 'funnel');
  const signupTile = sig2;
  r = await api('PATCH', `${DASH}${d.id}/`, { tiles: [
    { id: funnelTile.id, layouts: { sm: { x: 0, y: 10, w: 6, h: 5 } } },
    { id: signupTile.id, deleted: true },
    { id: text.id, text: { id: text.text.id, body: 'Edited' } },
  ] });
  assert.equal(r.status, 200, r.text);
  // Sorted by the small layout (y, x); tiles without one come last.
  assert.deepEqual(r.json.tiles.map((t) => t.insight ? t.insight.name : t.text.body), ['Edited', 'funnel', 'views']);
  assert.deepEqual(r.json.tiles.find((t) => t.id === funnelTile.id).layouts, { sm: { x: 0, y: 10, w: 6, h: 5 } });
  r = await api('GET', `${INS}${ids.signups}/`);
  assert.deepEqual(r.json.dashboards, []);
  r = await api('PATCH', `${INS}${ids.views}/`, { dashboards: [] });
  assert.deepEqual(r.json.dashboards, []);
  r = await api('GET', `${DASH}${d.id}/`);
  assert.deepEqual(r.json.tiles.map((t) => t.insight ? t.insight.name : t.text.body), ['Edited', 'funnel']);
  // Adding it back restores its tile.
  r = await api('PATCH', `${INS}${ids.views}/`, { dashboards: [d.id] });
  assert.deepEqual(r.json.dashboards, [d.id]);
  // A deleted insight leaves the dashboard.
  await api('DELETE', `${INS}${ids.funnel}/`);
  r = await api('GET', `${DASH}${d.id}/`);
  assert.deepEqual(r.json.tiles.map((t) => t.insight ? t.insight.name : t.text.body).sort(), ['Edited', 'views']);
  // saved=true lists insights on a dashboard even when not saved.
  r = await api('GET', `${INS}?saved=true`);
  assert.deepEqual(r.json.results.map((x) => x.id), [ids.views]);

  // Tile edit errors name the field.
  for (const tiles of [[{ id: 999999, color: 'red' }], [{ layouts: { sm: {} } }], 'x', [{ text: { body: 'y'.repeat(4001) } }], [{ id: text.id, text: { id: 999999, body: 'z' } }]]) {
    r = await api('PATCH', `${DASH}${d.id}/`, { tiles });
    assert.equal(r.status, 400, JSON.stringify(tiles) + r.text);
    assert.equal(r.json.attr, 'tiles');
  }
  r = await api('PATCH', `${DASH}${d.id}/`, { filters: 'last week' });
  assert.equal(r.json.attr, 'filters');
  r = await api('PATCH', `${DASH}${d.id}/`, { filters: { date_from: 7 } });
  assert.equal(r.json.attr, 'filters');
  r = await api('POST', DASH, { name: 'n'.repeat(401) });
  assert.equal(r.json.attr, 'name');
  r = await api('PATCH', `${DASH}${d.id}/`, { pinned: 'yes' });
  assert.equal(r.json.attr, 'pinned');

  // Soft delete: 404, out of the list, tiles gone from the insight; restore brings them back.
  assert.equal((await api('DELETE', `${DASH}${d.id}/`)).status, 204);
  assert.equal((await api('GET', `${DASH}${d.id}/`)).status, 404);
  r = await api('GET', `${INS}${ids.views}/`);
  assert.deepEqual(r.json.dashboards, []);
  r = await api('PATCH', `${DASH}${d.id}/`, { deleted: false });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.tiles.length, 2);

  r = await api('GET', `${DASH}${d.id}/activity/`);
  assert.equal(r.status, 200);
  const acts = r.json.results.map((x) => x.activity);
  assert.equal(acts[acts.length - 1], 'created');
  assert.ok(acts.includes('deleted'));
  assert.equal(r.json.results[0].scope, 'Dashboard');
  assert.equal(r.json.results.find((x) => x.activity === 'deleted').detail.changes[0].field, 'deleted');

  await api('DELETE', `${DASH}${d.id}/`);
  for (const id of Object.values(ids)) await api('DELETE', `${INS}${id}/`);
});

test('dashboards: list pinned first, search, pagination, patch fields', async () => {
  const made = [];
  for (const [name, pinned] of [['beta', false], ['Alpha', false], ['zeta', true], ['gamma', false]]) {
    const r = await api('POST', DASH, { name, pinned });
    assert.equal(r.status, 201, r.text);
    made.push(r.json);
  }
  let r = await api('GET', DASH);
  assert.equal(r.json.count, 4);
  assert.deepEqual(r.json.results.map((x) => x.name), ['zeta', 'Alpha', 'beta', 'gamma']);
  assert.equal(r.json.results[0].tiles, undefined);
  r = await api('GET', `${DASH}?limit=2&offset=2`);
  assert.deepEqual(r.json.results.map((x) => x.name), ['beta', 'gamma']);
  assert.ok(r.json.previous);
  r = await api('GET', `${DASH}?search=ALP`);
  assert.deepEqual(r.json.results.map((x) => x.name), ['Alpha']);
  r = await api('PATCH', `${DASH}${made[0].id}/`, { name: 'aardvark', description: 'first now', pinned: true, tags: ['x'] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.description, 'first now');
  assert.deepEqual(r.json.tags, ['x']);
  r = await api('GET', DASH);
  assert.deepEqual(r.json.results.map((x) => x.name), ['aardvark', 'zeta', 'Alpha', 'gamma']);
  r = await api('GET', `${DASH}${made[0].id}/activity/`);
  assert.deepEqual(r.json.results[0].detail.changes.map((c) => c.field).sort(), ['description', 'name', 'pinned', 'tags']);
  for (const x of made) assert.equal((await api('DELETE', `${DASH}${x.id}/`)).status, 204);
  assert.equal((await api('GET', DASH)).json.count, 0);
  assert.equal((await api('PUT', DASH, {})).status, 405);
});

test('dashboards: refresh of many tiles in parallel equals each insight alone', async () => {
  const filters = { date_from: '2024-01-02', date_to: '2024-01-12', properties: [{ key: '$browser', value: 'Chrome', operator: 'exact', type: 'event' }] };
  let r = await api('POST', DASH, { name: 'Everything', filters });
  const d = r.json;
  const sources = [
    { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr },
    { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: '$pageview', math: 'dau' }], dateRange: dr, interval: 'week' },
    { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: 'signup' }], dateRange: dr, breakdownFilter: { breakdown: 'plan' } },
    { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: 'purchase' }], dateRange: dr, trendsFilter: { display: 'BoldNumber' } },
    { kind: 'FunnelsQuery', series: [{ kind: 'EventsNode', event: '$pageview' }, { kind: 'EventsNode', event: 'signup' }], dateRange: dr },
    { kind: 'FunnelsQuery', series: [{ kind: 'EventsNode', event: 'signup' }, { kind: 'EventsNode', event: 'purchase' }], dateRange: dr, properties: [{ key: 'plan', value: 'free', operator: 'exact', type: 'event' }] },
    { kind: 'StickinessQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr },
    { kind: 'LifecycleQuery', series: [{ kind: 'EventsNode', event: '$pageview' }], dateRange: dr },
    { kind: 'RetentionQuery', retentionFilter: { targetEntity: { id: '$pageview', type: 'events' }, returningEntity: { id: '$pageview', type: 'events' }, totalIntervals: 5, period: 'Day' }, dateRange: { date_to: '2024-01-10' } },
    { kind: 'PathsQuery', pathsFilter: { includeEventTypes: ['$pageview', 'custom_event'] }, dateRange: dr },
    { kind: 'TrendsQuery', series: [{ kind: 'EventsNode', event: null, name: 'All events' }], dateRange: dr, properties: { type: 'OR', values: [{ type: 'AND', values: [{ key: 'plan', value: 'free', operator: 'exact', type: 'event' }] }] } },
  ];
  const ids = [];
  for (let i = 0; i < sources.length; i++) {
    r = await api('POST', INS, { name: `tile ${i}`, query: { kind: 'InsightVizNode', source: sources[i] }, dashboards: [d.id] });
    assert.equal(r.status, 201, r.text);
    ids.push(r.json.id);
  }
  r = await api('POST', INS, { name: 'tile sql', query: { kind: 'DataTableNode', source: { kind: 'HogQLQuery', query: 'select event, count() from events group by event order by event' } }, dashboards: [d.id] });
  ids.push(r.json.id);

  r = await api('GET', `${DASH}${d.id}/?refresh=force_blocking`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.tiles.length, sources.length + 1);
  for (const t of r.json.tiles) {
    assert.equal(t.error, undefined, `${t.insight.name}: ${JSON.stringify(t.error)}`);
    const i = Number(t.insight.name.split(' ')[1]);
    const want = Number.isNaN(i) ? t.insight.query.source : merged(sources[i], filters);
    assert.deepEqual(t.insight.query.source, want, t.insight.name);
    const alone = await query(want);
    assert.equal(alone.status, 200, `${t.insight.name}: ${alone.text}`);
    assert.deepEqual(t.insight.result, alone.json.results, t.insight.name);
    assert.ok(t.insight.result.length > 0, `${t.insight.name} answers something`);
    assert.equal(t.is_cached, false);
  }
  // Second view: every tile from the cache, same answers.
  const first = r.json;
  r = await api('GET', `${DASH}${d.id}/?refresh=blocking`);
  for (let i = 0; i < first.tiles.length; i++) {
    assert.equal(r.json.tiles[i].is_cached, true);
    assert.deepEqual(r.json.tiles[i].insight.result, first.tiles[i].insight.result);
  }
  await api('DELETE', `${DASH}${d.id}/`);
  for (const id of ids) await api('DELETE', `${INS}${id}/`);
});

test('dashboards: sharing by a secret link, on and off', async () => {
  let r = await api('POST', DASH, { name: 'Public KPIs', filters: { date_from: '2024-01-01', date_to: '2024-01-07' } });
  const d = r.json;
  r = await api('POST', INS, { name: 'views', query: trends('$pageview'), dashboards: [d.id] });
  const ins = r.json;
  r = await api('PATCH', `${DASH}${d.id}/`, { tiles: [{ text: { body: 'hello public' } }] });
  assert.equal(r.status, 200);

  r = await api('GET', `${DASH}${d.id}/sharing/`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.enabled, false);
  assert.match(r.json.access_token, /^[A-Za-z0-9]{32}$/);
  assert.ok(r.json.created_at);
  const token = r.json.access_token;
  // Disabled: the link answers 404, with a JSON body.
  let pub = await fetch(`${srv.url}/shared_dashboard/${token}`);
  assert.equal(pub.status, 404);
  assert.equal((await pub.json()).code, 'not_found');

  r = await api('PATCH', `${DASH}${d.id}/sharing/`, { enabled: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.enabled, true);
  assert.equal(r.json.access_token, token);
  r = await api('GET', `${DASH}${d.id}/`);
  assert.equal(r.json.is_shared, true);
  // No login: the dashboard with its tiles' results, no user details.
  pub = await fetch(`${srv.url}/shared_dashboard/${token}`);
  assert.equal(pub.status, 200);
  const body = await pub.json();
  assert.equal(body.name, 'Public KPIs');
  assert.equal(body.created_by, null);
  const tile = body.tiles.find((t) => t.insight);
  assert.equal(tile.insight.id, ins.id);
  assert.equal(tile.insight.created_by, null);
  assert.deepEqual(tile.insight.result, (await query(merged(trends('$pageview').source, { date_from: '2024-01-01', date_to: '2024-01-07' }))).json.results);
  assert.equal(body.tiles.find((t) => t.text).text.body, 'hello public');
  assert.equal(body.tiles.find((t) => t.text).text.created_by, null);
  // Read-only: no other method is routed there.
  assert.equal((await fetch(`${srv.url}/shared_dashboard/${token}`, { method: 'DELETE' })).status, 405);
  assert.equal((await fetch(`${srv.url}/shared_dashboard/${token}x`)).status, 404);
  assert.equal((await fetch(`${srv.url}/shared_dashboard/`)).status, 404);

  // A new token: the old link stops working.
  r = await api('POST', `${DASH}${d.id}/sharing/refresh/`);
  assert.equal(r.status, 200, r.text);
  const token2 = r.json.access_token;
  assert.notEqual(token2, token);
  assert.equal((await fetch(`${srv.url}/shared_dashboard/${token}`)).status, 404);
  assert.equal((await fetch(`${srv.url}/shared_dashboard/${token2}`)).status, 200);

  r = await api('PATCH', `${DASH}${d.id}/sharing/`, { enabled: 'yes' });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'enabled');
  r = await api('PATCH', `${DASH}${d.id}/sharing/`, { enabled: false });
  assert.equal(r.json.enabled, false);
  assert.equal((await fetch(`${srv.url}/shared_dashboard/${token2}`)).status, 404);
  // A deleted dashboard's link is dead even when enabled.
  await api('PATCH', `${DASH}${d.id}/sharing/`, { enabled: true });
  assert.equal((await fetch(`${srv.url}/shared_dashboard/${token2}`)).status, 200);
  await api('DELETE', `${DASH}${d.id}/`);
  assert.equal((await fetch(`${srv.url}/shared_dashboard/${token2}`)).status, 404);
  assert.equal((await api('GET', `${DASH}${d.id}/sharing/`)).status, 404);
  r = await api('GET', `${DASH}${d.id}/activity/`);
  assert.ok(r.json.results.some((x) => x.activity === 'sharing enabled'));
  await api('DELETE', `${INS}${ins.id}/`);
});

test('another project of the organization sees none of it (404)', async () => {
  const out = execFileSync(BIN, ['team', 'create', '--name', 'second'], { env: { ...process.env, SNOUT_DATA_DIR: srv.dataDir } }).toString();
  const team2 = Number(/created team (\d+)/.exec(out)[1]);
  let r = await api('POST', INS, { name: 'mine', query: trends('$pageview') });
  const ins = r.json;
  r = await api('POST', DASH, { name: 'mine too' });
  const d = r.json;
  await api('PATCH', `${DASH}${d.id}/sharing/`, { enabled: true });
  const I2 = `/api/projects/${team2}/insights/`;
  const D2 = `/api/projects/${team2}/dashboards/`;
  assert.equal((await api('GET', `${I2}${ins.id}/`)).status, 404);
  assert.equal((await api('PATCH', `${I2}${ins.id}/`, { name: 'stolen' })).status, 404);
  assert.equal((await api('DELETE', `${I2}${ins.id}/`)).status, 404);
  assert.equal((await api('GET', `${I2}${ins.id}/activity/`)).status, 404);
  assert.equal((await api('GET', I2)).json.count, 0);
  assert.equal((await api('GET', `${D2}${d.id}/`)).status, 404);
  assert.equal((await api('PATCH', `${D2}${d.id}/`, { name: 'stolen' })).status, 404);
  assert.equal((await api('DELETE', `${D2}${d.id}/`)).status, 404);
  assert.equal((await api('GET', `${D2}${d.id}/sharing/`)).status, 404);
  assert.equal((await api('PATCH', `${D2}${d.id}/sharing/`, { enabled: false })).status, 404);
  assert.equal((await api('GET', D2)).json.count, 0);
  // Its own insight cannot go on the first project's dashboard.
  r = await api('POST', I2, { name: 'theirs', query: trends('$pageview') });
  assert.equal(r.status, 201);
  r = await api('PATCH', `${I2}${r.json.id}/`, { dashboards: [d.id] });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'dashboards');
  // The same query in the other project is another cache entry (its own events: none).
  r = await api('GET', `${I2}?refresh=blocking`);
  assert.equal(r.json.results[0].is_cached, false);
  assert.equal(r.json.results[0].result[0].count, 0);
  // Unchanged in the first project.
  r = await api('GET', `${INS}${ins.id}/`);
  assert.equal(r.json.name, 'mine');
  r = await api('GET', `${DASH}${d.id}/`);
  assert.equal(r.json.name, 'mine too');
  assert.equal(r.json.is_shared, true);
});
