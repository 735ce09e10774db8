// Project settings through PostHog's REST path (GET/PATCH /api/projects/:id/):
// the answer's fields, validation errors that name the field, auth, and the
// effect of anonymize_ips on ingestion (the stored event has no $ip).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

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
