// Bad requests against the real server: each is refused with the right
// status and a JSON error naming the problem, nothing of a refused request
// reaches the WAL, and what was accepted before stays there unchanged.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { startServer, walDump, cleanup, post, TOKEN, API_KEY } from './lib.mjs';

let srv;
let accepted; // the WAL after the good batch
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

const JSON_CT = { 'Content-Type': 'application/json' };
const ev = (extra = {}) => ({ event: 'good', distinct_id: 'user', token: TOKEN, ...extra });

// A refused request: status, the JSON error shape, and a detail that names
// the problem.
function refused(res, status, code, detailRe) {
  assert.equal(res.status, status, `status (body: ${res.text})`);
  assert.ok(res.json, `JSON error body: ${res.text}`);
  assert.deepEqual(Object.keys(res.json).sort(), ['attr', 'code', 'detail', 'type']);
  assert.equal(res.json.type, status === 401 ? 'authentication_error' : 'validation_error');
  if (code) assert.equal(res.json.code, code);
  assert.match(res.json.detail, detailRe);
}
const postJson = (path, body, headers = {}) =>
  post(`${srv.url}${path}`, typeof body === 'string' ? body : JSON.stringify(body), { ...JSON_CT, ...headers });

test('a good batch is accepted first', async () => {
  const batch = Array.from({ length: 10 }, (_, i) => ({ event: 'before bad input', distinct_id: `u${i}`, uuid: randomUUID(), properties: { i } }));
  const res = await postJson('/batch/', { api_key: TOKEN, batch, sent_at: new Date().toISOString() });
  assert.equal(res.status, 200);
  accepted = walDump(srv.dataDir);
  assert.equal(accepted.length, 10);
  assert.deepEqual(accepted.map((r) => r.record.uuid), batch.map((e) => e.uuid));
});

test('unknown, missing and malformed tokens → 401', async () => {
  refused(await postJson('/e/', ev({ token: 'phc_no_such_project_token' })), 401, 'unknown_token', /no project has this API key/);
  refused(await postJson('/batch/', { api_key: 'phc_no_such_project_token', batch: [ev()] }), 401, 'unknown_token', /API key is not valid/);
  refused(await postJson('/e/', { event: 'x', distinct_id: 'u' }), 401, 'no_token', /without an api_key/);
  refused(await postJson('/e/', [{ event: 'x', distinct_id: 'u' }, { event: 'y', distinct_id: 'v' }]), 401, 'no_token', /without an api_key/);
  refused(await postJson('/e/', ev({ token: '' })), 401, 'invalid_token', /empty/);
  refused(await postJson('/e/', ev({ token: '   ' })), 401, 'invalid_token', /empty/);
  refused(await postJson('/e/', ev({ token: `phc_${'a'.repeat(61)}` })), 401, 'invalid_token', /longer than 64/);
  refused(await postJson('/e/', ev({ token: 'phc_tökén' })), 401, 'invalid_token', /non-ASCII/);
  // A non-string token counts as none.
  refused(await postJson('/e/', ev({ token: 12345 })), 401, 'no_token', /without an api_key/);
});

test('a personal API key (phx_) on capture → 401 that says so', async () => {
  refused(await postJson('/e/', ev({ token: API_KEY })), 401, 'invalid_token', /personal API key/);
  refused(await postJson('/batch/', { api_key: API_KEY, batch: [ev({ token: undefined })] }), 401, 'invalid_token', /personal API key.*phc_/);
});

test('inconsistent tokens in one request → 401', async () => {
  const body = [ev(), ev({ token: undefined, properties: { token: 'phc_other_project_token' } }), ev()];
  refused(await postJson('/e/', body), 401, 'inconsistent_token', /inconsistent api_key/);
});

test('malformed JSON → 400 with the byte offset', async () => {
  refused(await postJson('/e/', '{"event": x}'), 400, 'parse', /failed to parse request: invalid JSON at byte 10/);
  const cut = '{"event":"x","distinct_id":"u","token":"t"';
  refused(await postJson('/e/', cut), 400, 'parse', new RegExp(`unexpected end of input at byte ${cut.length}$`));
  refused(await postJson('/e/', '{"event":"x"} trailing'), 400, 'parse', /invalid JSON at byte 14: /);
  refused(await postJson('/e/', '"just a string"'), 400, 'parse', /expected an event object/);
  refused(await postJson('/e/', '[1, 2]'), 400, 'parse', /event 0 is not a JSON object/);
});

test('truncated gzip → 400', async () => {
  const gz = gzipSync(JSON.stringify({ api_key: TOKEN, batch: [ev()] }));
  refused(await post(`${srv.url}/e/`, gz.subarray(0, gz.length - 12), { 'Content-Type': 'text/plain' }), 400, 'decode', /failed to decode request: .*gzip/);
  const corrupt = Buffer.from(gz);
  corrupt.fill(0x55, 12, 20);
  const res = await post(`${srv.url}/e/`, corrupt, { 'Content-Type': 'text/plain' });
  refused(res, 400, 'decode', /failed to decode request/);
});

test('a gzip bomb is refused quickly with 413 and the server stays healthy', async () => {
  const bomb = gzipSync(Buffer.alloc(100 << 20), { level: 9 }); // 100 MiB of zeros → ~100 KiB
  assert.ok(bomb.length < 200 << 10);
  const t0 = Date.now();
  const res = await post(`${srv.url}/e/`, bomb, { 'Content-Type': 'text/plain' });
  const ms = Date.now() - t0;
  refused(res, 413, 'too_big', /maximum event size exceeded/);
  assert.ok(ms < 3000, `refused in ${ms} ms`);
  // Same through the hint and the header.
  refused(await post(`${srv.url}/batch/?compression=gzip-js`, gzipSync(Buffer.alloc(30 << 20, 0x20)), JSON_CT), 413, 'too_big', /maximum event size/);
  const h = await fetch(`${srv.url}/_health`);
  assert.equal(h.status, 200);
  const r = await fetch(`${srv.url}/_ready`);
  assert.equal(r.status, 200);
});

// Announces a body of `length` bytes but sends only its first 64 KiB, then
// waits for the answer: the server refuses on the Content-Length alone and
// closes the connection (so a client still uploading may see a reset).
function announceBig(path, length) {
  return new Promise((resolve, reject) => {
    const req = request(`${srv.url}${path}`, { method: 'POST', headers: { ...JSON_CT, 'Content-Length': String(length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => { let json = null; try { json = JSON.parse(text); } catch { /* */ } resolve({ status: res.statusCode, text, json }); req.destroy(); });
    });
    req.on('error', (e) => { if (!req.res) reject(e); });
    req.write(Buffer.alloc(64 << 10, 0x20));
  });
}

test('oversized bodies → 413 (with Content-Length and chunked)', async () => {
  const t0 = Date.now();
  refused(await announceBig('/batch/', (20 << 20) + 1024), 413, 'payload_too_large', /request body of 20972544 bytes exceeds the limit of 20971520 bytes/);
  assert.ok(Date.now() - t0 < 3000, 'refused without reading the body');
  // /e/ has the smaller 2 MiB limit; /s/ the larger 25 MiB.
  refused(await announceBig('/e/', (2 << 20) + 1), 413, 'payload_too_large', /limit of 2097152 bytes/);
  refused(await announceBig('/s/', (25 << 20) + 1), 413, 'payload_too_large', /limit of 26214400 bytes/);
  // A chunked upload has no Content-Length: refused once it passes the limit.
  async function* chunks() { for (let i = 0; i < 22; i++) yield Buffer.alloc(1 << 20, 0x20); }
  const res = await fetch(`${srv.url}/batch/`, { method: 'POST', body: chunks(), duplex: 'half', headers: JSON_CT });
  const text = await res.text();
  refused({ status: res.status, text, json: JSON.parse(text) }, 413, 'payload_too_large', /exceeds the limit/);
  // Just under the limit on /e/ is decoded (and then refused as JSON, not as size).
  const under = Buffer.alloc((2 << 20) - 10, 0x20);
  under.write('[', 0);
  refused(await post(`${srv.url}/e/`, under, JSON_CT), 400, 'parse', /invalid JSON/);
});

test('missing, empty, white-space or null distinct_id → 400', async () => {
  const cases = [
    { event: 'x', token: TOKEN },
    { event: 'x', token: TOKEN, distinct_id: '' },
    { event: 'x', token: TOKEN, distinct_id: null },
    { event: 'x', token: TOKEN, distinct_id: null, properties: { distinct_id: null } },
    { event: 'x', token: TOKEN, properties: { distinct_id: '' } },
    // PostHog's capture trims to check (RawEvent::extract_distinct_id): a
    // blank id would make every such event one person.
    { event: 'x', token: TOKEN, distinct_id: '   ' },
    { event: 'x', token: TOKEN, distinct_id: '\t\n' },
    { event: 'x', token: TOKEN, distinct_id: '\u00a0\u3000' },
    { event: 'x', token: TOKEN, properties: { distinct_id: ' ' } },
  ];
  for (const c of cases) refused(await postJson('/e/', c), 400, 'missing_distinct_id', /event submitted without a distinct_id/);
});

test('empty event name, invalid uuid, bad fields → 400', async () => {
  refused(await postJson('/e/', ev({ event: '' })), 400, 'empty_event_name', /empty event name/);
  refused(await postJson('/e/', ev({ event: undefined })), 400, 'missing_event_name', /missing field `event`/);
  refused(await postJson('/e/', ev({ uuid: 'not-a-uuid' })), 400, 'invalid_uuid', /uuid 'not-a-uuid' is not a valid UUID/);
  refused(await postJson('/e/', ev({ uuid: '01234567-89ab-cdef-0123-456789abcdeg' })), 400, 'invalid_uuid', /not a valid UUID/);
  refused(await postJson('/e/', ev({ uuid: 42 })), 400, 'invalid_uuid', /uuid must be a string/);
  refused(await postJson('/e/', ev({ properties: 'nope' })), 400, 'invalid_properties', /properties must be an object/);
  refused(await postJson('/e/', ev({ offset: 'soon' })), 400, 'invalid_offset', /offset/);
});

test('undecodable bodies → 400', async () => {
  refused(await post(`${srv.url}/e/`, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), JSON_CT), 400, 'decode', /not valid UTF-8/);
  refused(await post(`${srv.url}/e/`, Buffer.from('{"event":"\xc3\x28"}', 'latin1'), JSON_CT), 400, 'decode', /UTF-8/);
  refused(await post(`${srv.url}/e/`, '', JSON_CT), 400, 'decode', /empty payload/);
  refused(await post(`${srv.url}/e/`, 'hello', { 'Content-Type': 'application/x-www-form-urlencoded' }), 400, 'decode', /expected form data/);
  refused(await post(`${srv.url}/e/`, 'ver=1&ip=1', { 'Content-Type': 'application/x-www-form-urlencoded' }), 400, 'decode', /no data field/);
  refused(await post(`${srv.url}/e/?compression=lz64`, 'data=%%%%', { 'Content-Type': 'application/x-www-form-urlencoded' }), 400, 'decode', /failed to decode request/);
});

test('no events: [] and {batch: []} → 400 "request holds no event"', async () => {
  refused(await postJson('/e/', '[]'), 400, 'empty_batch', /^request holds no event$/);
  refused(await postJson('/batch/', { api_key: TOKEN, batch: [] }), 400, 'empty_batch', /^request holds no event$/);
});

test('one bad event in a batch refuses the whole batch, naming it', async () => {
  const marker = `all-or-nothing-${randomUUID()}`;
  const batch = [0, 1, 2, 3, 4].map((i) => ({ event: marker, distinct_id: `u${i}`, uuid: randomUUID() }));
  batch[2] = { event: marker, uuid: randomUUID() }; // no distinct_id
  refused(await postJson('/batch/', { api_key: TOKEN, batch }), 400, 'missing_distinct_id', /^event 2: event submitted without a distinct_id/);
  batch[2].distinct_id = 'fixed';
  batch[4].event = '';
  refused(await postJson('/batch/', { api_key: TOKEN, batch }), 400, 'empty_event_name', /^event 4: /);
  batch[4].event = marker;
  batch[3].uuid = 'xyz';
  refused(await postJson('/e/', batch.map((e) => ({ ...e, token: TOKEN }))), 400, 'invalid_uuid', /event 3: uuid 'xyz'/);
  const dump = walDump(srv.dataDir);
  assert.equal(dump.filter((r) => r.record.event === marker).length, 0, 'none of the refused batches is in the WAL');
});

test('$cookieless_mode must be a boolean', async () => {
  refused(await postJson('/e/', ev({ properties: { $cookieless_mode: 'yes' } })), 400, 'invalid_cookieless_mode', /\$cookieless_mode must be a boolean/);
  refused(await postJson('/e/', ev({ properties: { $cookieless_mode: 1 } })), 400, 'invalid_cookieless_mode', /cookieless/);
});

test('after all the bad input the WAL holds exactly what was accepted, unchanged', async () => {
  assert.ok(accepted, 'the good batch ran');
  const now = walDump(srv.dataDir);
  assert.deepEqual(now, accepted);
  // ... and the server still takes events.
  const res = await postJson('/e/', ev({ event: 'after bad input' }));
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { status: 'Ok' });
  const later = walDump(srv.dataDir);
  assert.equal(later.length, 11);
  assert.equal(later[10].record.event, 'after bad input');
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  for (const reason of ['unknown_token', 'invalid_token', 'no_token', 'inconsistent_token', 'parse', 'decode', 'too_big', 'missing_distinct_id', 'empty_event_name', 'invalid_uuid', 'empty_batch', 'invalid_cookieless_mode']) {
    assert.match(m, new RegExp(`^snout_events_rejected_total\\{reason="${reason}"\\} [1-9]`, 'm'), reason);
  }
});

test('a refused request is one access-log line with its error once', async () => {
  const f = await postJson('/flags/?v=2', { token: 'phc_no_such_project_token', distinct_id: 'a' });
  assert.equal(f.status, 401);
  const v = await postJson('/api/projects/1/feature_flags/', { name: 'no key' }, { Authorization: `Bearer ${API_KEY}` });
  assert.equal(v.status, 400);
  // the access log is JSON lines on stderr, written after the answer
  const mine = () => srv.stderr.split('\n').filter((l) => l.startsWith('{') &&
    ((/"path":"\/flags\/"/.test(l) && /"status":401/.test(l)) || (/feature_flags/.test(l) && /"status":400/.test(l))));
  for (let i = 0; i < 100 && mine().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  const lines = mine();
  assert.equal(lines.length, 2, srv.stderr.slice(-2000));
  for (const l of lines) {
    assert.doesNotThrow(() => JSON.parse(l), l);
    assert.equal((l.match(/"error":/g) || []).length, 1, l);
  }
});
