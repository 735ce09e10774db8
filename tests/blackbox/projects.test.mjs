// Project settings through PostHog's REST path (GET/PATCH /api/projects/:id/):
// the answer's fields, validation errors that name the field, auth, and the
// effect of anonymize_ips on ingestion (the stored event has no $ip); new
// projects and the list (POST/GET /api/projects/), admins only.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY, BIN } from './lib.mjs';

const H = { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' };
let srv;

before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

async function req(method, path, body, headers = H) {
  const res = await fetch(`${srv.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function rows(q) {
  const r = await post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query: { kind: 'HogQLQuery', query: q } }), H);
  assert.equal(r.status, 200, r.text);
  return r.json.results;
}

async function eventually(check, ms = 15000) {
  const until = Date.now() + ms;
  for (;;) {
    try { return await check(); } catch (e) { if (Date.now() > until) throw e; }
    await sleep(200);
  }
}

test('GET answers the project with PostHog field names', async () => {
  for (const path of ['/api/projects/1/', '/api/environments/1', '/api/projects/1']) {
    const r = await req('GET', path);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, 1);
    assert.equal(r.json.project_id, 1);
    assert.equal(r.json.api_token, TOKEN);
    assert.equal(r.json.timezone, 'UTC');
    assert.equal(r.json.anonymize_ips, false);
    assert.match(r.json.uuid, /^[0-9a-f-]{36}$/);
    assert.match(r.json.organization, /^[0-9a-f-]{36}$/);
    assert.match(r.json.created_at, /^\d{4}-\d\d-\d\dT/);
  }
});

test('PATCH changes settings and validates each field by name', async () => {
  let r = await req('PATCH', '/api/projects/1/', { name: 'Renamed', timezone: 'Europe/Berlin', session_recording_opt_in: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'Renamed');
  assert.equal(r.json.timezone, 'Europe/Berlin');
  assert.equal(r.json.session_recording_opt_in, true);
  r = await req('GET', '/api/projects/1/');
  assert.equal(r.json.timezone, 'Europe/Berlin', 'the change is stored');

  r = await req('PATCH', '/api/projects/1/', { timezone: 'Mars/Olympus' });
  assert.equal(r.status, 400);
  assert.equal(r.json.type, 'validation_error');
  assert.equal(r.json.attr, 'timezone');
  r = await req('PATCH', '/api/projects/1/', { timezone: '../../etc/passwd' });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'timezone');
  r = await req('PATCH', '/api/projects/1/', { anonymize_ips: 'yes' });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'anonymize_ips');
  r = await req('PATCH', '/api/projects/1/', { api_token: 'phc_other' });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'api_token');
  r = await req('PATCH', '/api/projects/1/', { name: '' });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'name');
  r = await req('PATCH', '/api/projects/1/', undefined);
  assert.equal(r.status, 400);
  r = await req('GET', '/api/projects/1/');
  assert.equal(r.json.name, 'Renamed', 'failed PATCHes change nothing');
  assert.equal(r.json.timezone, 'Europe/Berlin');
  // Back to UTC for the tests that follow.
  r = await req('PATCH', '/api/projects/1/', { timezone: 'UTC' });
  assert.equal(r.status, 200);
});

test('auth: no key 401, unknown project 403, wrong method 405', async () => {
  let r = await req('GET', '/api/projects/1/', undefined, {});
  assert.equal(r.status, 401);
  r = await req('GET', '/api/projects/999/');
  assert.equal(r.status, 403);
  assert.equal(r.json.name, undefined, 'no data for a project outside the organization');
  r = await req('DELETE', '/api/projects/1/');
  assert.equal(r.status, 405);
});

test('POST /api/projects/ creates a live project in the caller\'s organization; GET lists them', async () => {
  const before = await req('GET', '/api/projects/');
  assert.equal(before.status, 200, before.text);
  const n = before.json.count;
  assert.ok(n >= 1 && before.json.results.some((p) => p.id === 1));
  const org = (await req('GET', '/api/projects/1/')).json.organization;

  const filters = [{ key: 'email', value: '@example.com', operator: 'not_icontains', type: 'person' }];
  let r = await req('POST', '/api/projects/', { name: 'Created by API', timezone: 'Asia/Tokyo', week_start_day: 1,
    test_account_filters: filters, anonymize_ips: true });
  assert.equal(r.status, 201, r.text);
  const p = r.json;
  assert.ok(p.id > 1);
  assert.equal(p.name, 'Created by API');
  assert.equal(p.timezone, 'Asia/Tokyo');
  assert.equal(p.week_start_day, 1);
  assert.equal(p.anonymize_ips, true);
  assert.deepEqual(p.test_account_filters, filters);
  assert.equal(p.organization, org);
  assert.match(p.api_token, /^phc_[A-Za-z0-9]{20,}$/);
  assert.deepEqual((await req('GET', `/api/projects/${p.id}/`)).json, p, 'GET answers what POST did');

  // Its token takes events at once, and they land in the new project only.
  const e = await post(`${srv.url}/e/`, JSON.stringify({ token: p.api_token, event: 'made in new project', distinct_id: 'np' }),
    { 'Content-Type': 'application/json' });
  assert.equal(e.status, 200, e.text);
  await eventually(async () => {
    const q = await post(`${srv.url}/api/projects/${p.id}/query/`,
      JSON.stringify({ query: { kind: 'HogQLQuery', query: 'SELECT event FROM events' } }), H);
    assert.deepEqual(q.json.results, [['made in new project']]);
  });

  r = await req('POST', '/api/projects/', {});
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.name, 'Default Project');
  assert.equal(r.json.timezone, 'UTC');
  assert.notEqual(r.json.api_token, p.api_token);

  r = await req('GET', '/api/projects/?limit=1&offset=1');
  assert.equal(r.status, 200);
  assert.equal(r.json.count, n + 2);
  assert.equal(r.json.results.length, 1);
  assert.ok(r.json.next && r.json.previous, r.text);
  r = await req('GET', '/api/projects/');
  assert.deepEqual(r.json.results.map((x) => x.id).slice(-2), [p.id, p.id + 1]);

  // Refused requests create nothing.
  for (const [body, attr] of [[{ name: 'x', timezone: 'Mars/Olympus' }, 'timezone'], [{ name: '' }, 'name'],
    [{ name: 'x', week_start_day: 3 }, 'week_start_day'], [{ name: 'x', test_account_filters: [1] }, 'test_account_filters'],
    [{ name: 'x', api_token: 'phc_mine_123456789' }, 'api_token'], [{ name: 7 }, 'name']]) {
    r = await req('POST', '/api/projects/', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.attr, attr, r.text);
  }
  r = await req('POST', '/api/projects/', undefined, { ...H, 'Content-Type': 'application/json' });
  assert.equal(r.status, 400);
  assert.equal((await req('GET', '/api/projects/')).json.count, n + 2);

  // Members may list but not create; no key is 401.
  const cli = (...a) => spawnSync(BIN, [...a, '--data-dir', srv.dataDir], { encoding: 'utf8' });
  assert.equal(cli('user', 'create', '--email', 'member@example.com', '--password', 'member password', '--level', 'member').status, 0);
  const key = cli('apikey', 'create', '--email', 'member@example.com').stdout.trim();
  const M = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
  r = await req('POST', '/api/projects/', { name: 'by a member' }, M);
  assert.equal(r.status, 403, r.text);
  assert.deepEqual(r.json, { type: 'authentication_error', code: 'permission_denied',
    detail: 'Your organization access level is insufficient.', attr: null });
  assert.equal((await req('GET', '/api/projects/', undefined, M)).json.count, n + 2);
  assert.equal((await req('POST', '/api/projects/', { name: 'anon' }, { 'Content-Type': 'application/json' })).status, 401);
  assert.equal((await req('DELETE', '/api/projects/')).status, 405);
});

test('anonymize_ips: events ingested after the change keep no $ip', async () => {
  const send = (event) => post(`${srv.url}/e/`, JSON.stringify({ api_key: TOKEN, event, distinct_id: 'ip-user', properties: {} }),
    { 'Content-Type': 'application/json' });
  assert.equal((await send('ip-before')).status, 200);
  await eventually(async () => {
    const r = await rows("SELECT properties.$ip FROM events WHERE event = 'ip-before'");
    assert.equal(r.length, 1);
    assert.equal(r[0][0], '127.0.0.1', 'the request address is stored as $ip');
  });
  const r = await req('PATCH', '/api/projects/1/', { anonymize_ips: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.anonymize_ips, true);
  await sleep(6000); // ingestion reads the setting through a 5-second cache
  assert.equal((await send('ip-after')).status, 200);
  await eventually(async () => {
    const x = await rows("SELECT properties.$ip FROM events WHERE event = 'ip-after'");
    assert.equal(x.length, 1);
    assert.equal(x[0][0], null, 'no $ip once the project anonymises');
  });
  const y = await rows("SELECT properties.$ip FROM events WHERE event = 'ip-before'");
  assert.equal(y[0][0], '127.0.0.1', 'earlier events are left as they were');
});
