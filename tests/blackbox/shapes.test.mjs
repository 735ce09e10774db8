// Every request shape of the capture protocol (spec/posthog-wire.md §1),
// sent raw to the real server and checked field by field in the WAL.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import LZString from 'lz-string';
import { startServer, walDump, walEvents, cleanup, post, TOKEN } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
let seq = 0;
const uniq = (p = 'ev') => `${p}-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

// Records of events with this name (the tests use unique names).
function byName(name) { return walEvents(srv.dataDir).filter((e) => e.event === name); }
function one(name) {
  const got = byName(name);
  assert.equal(got.length, 1, `exactly one WAL record for ${name}, got ${got.length}`);
  return got[0];
}
function near(iso, expectedMs, tolMs, what) {
  const t = Date.parse(iso);
  assert.ok(Number.isFinite(t), `${what}: '${iso}' parses`);
  assert.ok(Math.abs(t - expectedMs) <= tolMs,
    `${what}: ${iso} is ${t - expectedMs} ms from ${new Date(expectedMs).toISOString()} (tolerance ${tolMs})`);
}
function checkCommon(r, { t0, t1 }) {
  assert.match(r.uuid, UUID_RE);
  assert.equal(r.token, TOKEN);
  assert.equal(r.team_id, 1);
  assert.equal(r.ip, '127.0.0.1');
  assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(r.now, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const now = Date.parse(r.now);
  assert.ok(now >= t0 - 5 && now <= t1 + 5, `now ${r.now} within the request`);
}
const OK = (res) => {
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { status: 'Ok' });
};
const JSON_CT = { 'Content-Type': 'application/json' };
const FORM_CT = { 'Content-Type': 'application/x-www-form-urlencoded' };

test('single event object to /e/', async () => {
  const name = uniq();
  const uuid = randomUUID();
  const ev = { event: name, distinct_id: 'user-1', token: TOKEN, uuid, timestamp: '2024-03-04T05:06:07.089Z',
    properties: { a: 1, nested: { b: [1, 'two', null] }, unicode: 'ünïcødé ✓' }, $set: { plan: 'pro' } };
  const t0 = Date.now();
  OK(await post(`${srv.url}/e/`, JSON.stringify(ev), JSON_CT));
  const t1 = Date.now();
  const r = one(name);
  checkCommon(r, { t0, t1 });
  assert.equal(r.uuid, uuid);
  assert.equal(r.distinct_id, 'user-1');
  assert.equal(r.event, name);
  assert.equal(r.timestamp, '2024-03-04T05:06:07.089Z', 'no sent_at: the client timestamp is kept');
  assert.equal(r.sent_at, undefined);
  assert.equal(r.historical_migration, undefined);
  assert.deepEqual(r.data, ev, 'the event is forwarded as received');
});

test('array body: several events, token in properties.token', async () => {
  const name = uniq();
  const evs = [0, 1, 2].map((i) => ({ event: name, properties: { distinct_id: `arr-${i}`, token: TOKEN, i } }));
  OK(await post(`${srv.url}/e/`, JSON.stringify(evs), JSON_CT));
  const got = byName(name);
  assert.equal(got.length, 3);
  assert.deepEqual(got.map((r) => r.data.properties.i), [0, 1, 2], 'order kept');
  got.forEach((r, i) => {
    assert.equal(r.distinct_id, `arr-${i}`);
    assert.equal(r.token, TOKEN);
    assert.deepEqual(r.data, evs[i]);
  });
  assert.equal(new Set(got.map((r) => r.uuid)).size, 3, 'each generated uuid is distinct');
});

test('{batch} with api_key and with token, sent_at and historical_migration', async () => {
  const name = uniq();
  const sentAt = new Date().toISOString();
  const body = { api_key: TOKEN, sent_at: sentAt, historical_migration: true,
    batch: [{ event: name, distinct_id: 'b1', properties: { k: 'v' } }, { event: name, distinct_id: 'b2' }] };
  OK(await post(`${srv.url}/batch/`, JSON.stringify(body), JSON_CT));
  const got = byName(name);
  assert.equal(got.length, 2);
  assert.deepEqual(got.map((r) => r.distinct_id), ['b1', 'b2']);
  for (const r of got) {
    assert.equal(r.token, TOKEN);
    assert.equal(r.sent_at, sentAt);
    assert.equal(r.historical_migration, true);
  }
  assert.deepEqual(got[0].data, body.batch[0]);

  const name2 = uniq();
  OK(await post(`${srv.url}/batch/`, JSON.stringify({ token: TOKEN, batch: [{ event: name2, distinct_id: 'tk' }] }), JSON_CT));
  const r2 = one(name2);
  assert.equal(r2.token, TOKEN);
  assert.equal(r2.distinct_id, 'tk');
  assert.equal(r2.historical_migration, undefined);
  assert.equal(r2.sent_at, undefined);
});

// A posthog-js style body: {api_key, batch, sent_at}.
function jsBody(name, n = 2) {
  return { api_key: TOKEN, sent_at: new Date().toISOString(),
    batch: Array.from({ length: n }, (_, i) => ({ event: name, uuid: randomUUID(), timestamp: new Date().toISOString(),
      properties: { distinct_id: `js-${i}`, token: TOKEN, $lib: 'web', i } })) };
}
async function checkDecoded(name, body) {
  const got = byName(name);
  assert.equal(got.length, body.batch.length);
  got.forEach((r, i) => {
    assert.equal(r.uuid, body.batch[i].uuid);
    assert.equal(r.distinct_id, `js-${i}`);
    assert.deepEqual(r.data, body.batch[i]);
    assert.equal(r.sent_at, body.sent_at);
  });
}

test('gzip body with Content-Type text/plain and no hint (posthog-js)', async () => {
  const name = uniq();
  const body = jsBody(name, 3);
  OK(await post(`${srv.url}/e/`, gzipSync(JSON.stringify(body)), { 'Content-Type': 'text/plain' }));
  await checkDecoded(name, body);
});

test('gzip with ?compression=gzip-js', async () => {
  const name = uniq();
  const body = jsBody(name);
  OK(await post(`${srv.url}/e/?compression=gzip-js&ip=1&_=${Date.now()}&ver=1.78.5`, gzipSync(JSON.stringify(body)), { 'Content-Type': 'text/plain' }));
  await checkDecoded(name, body);
});

test('gzip with Content-Encoding: gzip (posthog-node)', async () => {
  const name = uniq();
  const body = jsBody(name);
  OK(await post(`${srv.url}/batch/`, gzipSync(JSON.stringify(body)), { ...JSON_CT, 'Content-Encoding': 'gzip' }));
  await checkDecoded(name, body);
});

test('lz64: compression in the form and in the query', async () => {
  const name = uniq();
  const body = jsBody(name);
  body.batch[0].properties.text = 'lz-string \u00e9\u4e2d\u6587 \ud83d\ude00 '.repeat(20);
  const lz = LZString.compressToBase64(JSON.stringify(body));
  OK(await post(`${srv.url}/e/`, `data=${encodeURIComponent(lz)}&compression=lz64`, FORM_CT));
  await checkDecoded(name, body);

  const name2 = uniq();
  const body2 = jsBody(name2);
  const lz2 = LZString.compressToBase64(JSON.stringify(body2));
  OK(await post(`${srv.url}/e/?compression=lz64`, `data=${encodeURIComponent(lz2)}`, FORM_CT));
  await checkDecoded(name2, body2);
});

test('base64 form data=<urlencoded base64> with compression=base64 (posthog-js)', async () => {
  const name = uniq();
  const body = jsBody(name);
  body.batch[1].properties.bin = '\u00ff\u00fe>>>???'; // makes '+' and '/' likely in the base64
  OK(await post(`${srv.url}/e/?compression=base64`, `data=${encodeURIComponent(b64(JSON.stringify(body)))}`, FORM_CT));
  await checkDecoded(name, body);
});

test('legacy data=<base64> form without hint, + left unencoded', async () => {
  const name = uniq();
  let body, enc;
  for (let pad = 0; ; pad++) { // find a body whose base64 holds a '+'
    body = jsBody(name);
    body.batch[0].properties.pad = '~'.repeat(pad) + '\u00fb\u00ef';
    enc = b64(JSON.stringify(body));
    if (enc.includes('+')) break;
  }
  OK(await post(`${srv.url}/e/`, `data=${enc}&ver=1.0`, FORM_CT));
  await checkDecoded(name, body);
});

test('raw base64 body', async () => {
  const name = uniq();
  const body = jsBody(name);
  OK(await post(`${srv.url}/e/`, b64(JSON.stringify(body)), { 'Content-Type': 'text/plain' }));
  await checkDecoded(name, body);
});

test('GET /e/?data=<base64 json>', async () => {
  const name = uniq();
  const ev = { event: name, properties: { distinct_id: 'getter', token: TOKEN, x: 'y' } };
  const res = await fetch(`${srv.url}/e/?data=${encodeURIComponent(b64(JSON.stringify(ev)))}`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'Ok' });
  const r = one(name);
  assert.equal(r.distinct_id, 'getter');
  assert.deepEqual(r.data, ev);
});

test('beacon: ?beacon=1 answers 204 with no body; beacon=true is not a beacon', async () => {
  const name = uniq();
  const res = await post(`${srv.url}/e/?beacon=1`, gzipSync(JSON.stringify(jsBody(name, 1))), { 'Content-Type': 'text/plain' });
  assert.equal(res.status, 204);
  assert.equal(res.text, '');
  assert.equal(byName(name).length, 1);
  const name2 = uniq();
  OK(await post(`${srv.url}/e/?beacon=true`, JSON.stringify({ event: name2, distinct_id: 'd', token: TOKEN }), JSON_CT));
});

test('every capture path accepts events; /engage without event becomes $identify', async () => {
  const paths = ['/e', '/e/', '/i/v0/e', '/i/v0/e/', '/batch', '/batch/', '/capture', '/capture/', '/track', '/track/', '/engage', '/engage/'];
  const names = {};
  for (const p of paths) {
    names[p] = uniq('path');
    const res = await post(`${srv.url}${p}`, JSON.stringify({ event: names[p], distinct_id: `p${p}`, token: TOKEN }), JSON_CT);
    assert.equal(res.status, 200, `${p}: ${res.text}`);
  }
  const did = uniq('engage');
  OK(await post(`${srv.url}/engage/`, JSON.stringify({ distinct_id: did, token: TOKEN, $set: { email: 'a@b.c' } }), JSON_CT));
  const events = walEvents(srv.dataDir);
  for (const p of paths) {
    const got = events.filter((e) => e.event === names[p]);
    assert.equal(got.length, 1, `${p} reached the WAL`);
    assert.equal(got[0].distinct_id, `p${p}`);
  }
  const ident = events.filter((e) => e.distinct_id === did);
  assert.equal(ident.length, 1);
  assert.equal(ident[0].event, '$identify');
  assert.deepEqual(ident[0].data.$set, { email: 'a@b.c' });
  assert.equal(ident[0].data.event, undefined, 'the stored data is the event as received');

  // Outside /engage a missing event name is refused.
  const res = await post(`${srv.url}/capture/`, JSON.stringify({ distinct_id: 'x', token: TOKEN }), JSON_CT);
  assert.equal(res.status, 400);
});

test('OPTIONS preflight mirrors Origin and Access-Control-Request-Headers', async () => {
  for (const p of ['/e/', '/batch/', '/s/', '/i/v0/e/']) {
    const res = await fetch(`${srv.url}${p}`, { method: 'OPTIONS', headers: {
      Origin: 'https://shop.example.com', 'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type,x-weird-header' } });
    assert.ok(res.status === 200 || res.status === 204, `${p}: ${res.status}`);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://shop.example.com');
    assert.equal(res.headers.get('access-control-allow-headers'), 'content-type,x-weird-header');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-allow-methods') || '', /POST/);
  }
  // The actual POST carries the CORS headers too.
  const res = await post(`${srv.url}/e/`, JSON.stringify({ event: uniq(), distinct_id: 'c', token: TOKEN }), { ...JSON_CT, Origin: 'https://a.example' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://a.example');
});

test('token in properties.token, $token and api_key of the event', async () => {
  const names = {};
  const forms = {
    props: (n) => ({ event: n, distinct_id: 'tok', properties: { token: TOKEN } }),
    dollar: (n) => ({ event: n, distinct_id: 'tok', $token: TOKEN }),
    api_key: (n) => ({ event: n, distinct_id: 'tok', api_key: TOKEN }),
    padded: (n) => ({ event: n, distinct_id: 'tok', token: `  ${TOKEN}\n` }),
  };
  for (const [k, f] of Object.entries(forms)) {
    names[k] = uniq(k);
    const res = await post(`${srv.url}/e/`, JSON.stringify(f(names[k])), JSON_CT);
    assert.equal(res.status, 200, `${k}: ${res.text}`);
  }
  for (const k of Object.keys(forms)) {
    const r = one(names[k]);
    assert.equal(r.token, TOKEN, `${k}: stored token is the trimmed project token`);
    assert.equal(r.team_id, 1);
  }
});

test('distinct_id normalisation', async () => {
  const cases = [
    ['number', { distinct_id: 23 }, '23'],
    ['float', { distinct_id: 23.5 }, '23.5'],
    ['object', { distinct_id: { b: 1, a: { d: [1, 'x'], c: true } } }, '{"a":{"c":true,"d":[1,"x"]},"b":1}'],
    ['array', { distinct_id: ['a', 'b'] }, '["a","b"]'],
    ['top wins', { distinct_id: 'top', properties: { distinct_id: 'prop' } }, 'top'],
    ['null falls back', { distinct_id: null, properties: { distinct_id: 'prop' } }, 'prop'],
    ['props only', { properties: { distinct_id: 'only-prop' } }, 'only-prop'],
    ['$distinct_id', { $distinct_id: 'dollar' }, 'dollar'],
    ['truncate multibyte', { distinct_id: '\u00e9\ud83d\ude00'.repeat(150) }, '\u00e9\ud83d\ude00'.repeat(100)],
    ['truncate ascii', { distinct_id: 'x'.repeat(500) }, 'x'.repeat(200)],
    ['exactly 200', { distinct_id: '\u4e2d'.repeat(200) }, '\u4e2d'.repeat(200)],
  ];
  const names = cases.map(() => uniq('did'));
  for (let i = 0; i < cases.length; i++) {
    const ev = { event: names[i], token: TOKEN, ...cases[i][1] };
    const res = await post(`${srv.url}/e/`, JSON.stringify(ev), JSON_CT);
    assert.equal(res.status, 200, `${cases[i][0]}: ${res.text}`);
  }
  const events = walEvents(srv.dataDir);
  cases.forEach(([label, ev, want], i) => {
    const r = events.find((e) => e.event === names[i]);
    assert.ok(r, `${label} in the WAL`);
    assert.equal(r.distinct_id, want, label);
    assert.deepEqual(r.data.distinct_id, ev.distinct_id, `${label}: data keeps the original`);
  });
  const multi = events.find((e) => e.event === names[8]);
  assert.equal([...multi.distinct_id].length, 200, '200 Unicode scalars, not bytes');
});

test('uuid kept when sent, UUIDv7 generated when absent or empty', async () => {
  const kept = uniq(), absent = uniq(), empty = uniq(), nul = uniq();
  const uuid = 'A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF';
  const t0 = Date.now();
  for (const [n, extra] of [[kept, { uuid }], [absent, {}], [empty, { uuid: '' }], [nul, { uuid: null }]]) {
    OK(await post(`${srv.url}/e/`, JSON.stringify({ event: n, distinct_id: 'u', token: TOKEN, ...extra }), JSON_CT));
  }
  const t1 = Date.now();
  assert.equal(one(kept).uuid.toLowerCase(), uuid.toLowerCase());
  for (const n of [absent, empty, nul]) {
    const u = one(n).uuid;
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, `v7: ${u}`);
    const ms = parseInt(u.replace(/-/g, '').slice(0, 12), 16);
    assert.ok(ms >= t0 - 1000 && ms <= t1 + 1000, `uuid time ${ms} is now (${t0}..${t1})`);
  }
});

test('clock skew: stored timestamp = now + (timestamp - sent_at)', async () => {
  const name = uniq();
  const skew = 3 * 3600 * 1000; // client clock 3 h ahead
  const clientNow = Date.now() + skew;
  const body = { api_key: TOKEN, sent_at: new Date(clientNow).toISOString(), batch: [
    { event: name, distinct_id: 's', timestamp: new Date(clientNow - 10_000).toISOString(), properties: { k: 0 } },
    { event: name, distinct_id: 's', timestamp: new Date(clientNow - 3_600_000).toISOString(), properties: { k: 1 } },
    // $ignore_sent_at: the client timestamp is taken as is
    { event: name, distinct_id: 's', timestamp: '2025-01-02T03:04:05.678Z', properties: { k: 2, $ignore_sent_at: true } },
    // no timestamp: now
    { event: name, distinct_id: 's', properties: { k: 3 } },
  ] };
  OK(await post(`${srv.url}/batch/`, JSON.stringify(body), JSON_CT));
  const got = byName(name);
  assert.equal(got.length, 4);
  const now = Date.parse(got[0].now);
  assert.ok(Math.abs(now - Date.now()) < 5000);
  near(got[0].timestamp, now - 10_000, 2, 'ts 10 s before sent_at');
  near(got[1].timestamp, now - 3_600_000, 2, 'ts 1 h before sent_at');
  assert.equal(got[2].timestamp, '2025-01-02T03:04:05.678Z');
  near(got[3].timestamp, now, 2, 'no timestamp');
  assert.equal(got[0].sent_at, body.sent_at);

  // The spec's worked example, sent_at with a +HH offset
  const name2 = uniq();
  const b2 = { api_key: TOKEN, sent_at: '2026-01-01T15:00:05+03:00', batch: [{ event: name2, distinct_id: 's', timestamp: '2026-01-01T11:59:55Z' }] };
  OK(await post(`${srv.url}/batch/`, JSON.stringify(b2), JSON_CT));
  const r2 = one(name2);
  near(r2.timestamp, Date.parse(r2.now) - 10_000, 2, 'worked example (−10 s)');
  assert.equal(r2.sent_at, '2026-01-01T12:00:05.000Z');
});

test('offset overrides timestamp; future timestamps clamp to now beyond 23 h', async () => {
  const off = uniq(), future = uniq(), nearFuture = uniq(), epochy = uniq();
  const ancient = uniq(), garbage = uniq(), dateOnly = uniq(), tz = uniq();
  const ts20h = new Date(Date.now() + 20 * 3600e3).toISOString();
  const events = [
    { event: off, distinct_id: 'o', timestamp: '2020-01-01T00:00:00Z', offset: 3_600_000 },
    { event: future, distinct_id: 'o', timestamp: new Date(Date.now() + 30 * 3600e3).toISOString() },
    { event: nearFuture, distinct_id: 'o', timestamp: ts20h },
    { event: epochy, distinct_id: 'o', timestamp: '2021-06-01 12:30:00' },
    { event: ancient, distinct_id: 'o', offset: 300_000_000_000_000 }, // ~9500 years ago
    { event: garbage, distinct_id: 'o', timestamp: 'not a time' },
    { event: dateOnly, distinct_id: 'o', timestamp: '2023-01-01' },
    { event: tz, distinct_id: 'o', timestamp: '2025-09-17T14:05:04.805+03' },
  ];
  OK(await post(`${srv.url}/e/`, JSON.stringify(events.map((e) => ({ ...e, token: TOKEN }))), JSON_CT));
  const o = one(off);
  near(o.timestamp, Date.parse(o.now) - 3_600_000, 2, 'offset 1 h');
  const f = one(future);
  assert.equal(f.timestamp, f.now, '> 23 h ahead clamps to now');
  assert.equal(one(nearFuture).timestamp, ts20h, '20 h ahead is kept');
  assert.equal(one(epochy).timestamp, '2021-06-01T12:30:00.000Z', 'space-separated civil time is UTC');
  assert.equal(one(ancient).timestamp, '1970-01-01T00:00:00.000Z', 'a year before 0 becomes the epoch');
  const g = one(garbage);
  assert.equal(g.timestamp, g.now, 'an unparseable timestamp is ignored');
  assert.equal(g.data.timestamp, 'not a time', '... but kept in data');
  assert.equal(one(dateOnly).timestamp, '2023-01-01T00:00:00.000Z');
  assert.equal(one(tz).timestamp, '2025-09-17T11:05:04.805Z', 'a bare +HH offset');
});

test('query _=<ms> is the sent_at; seconds are ignored; body sent_at wins', async () => {
  const name = uniq();
  const clientNow = Date.now() - 2 * 3600e3; // client clock 2 h behind
  const ev = { event: name, distinct_id: 'q', token: TOKEN, timestamp: new Date(clientNow - 5000).toISOString() };
  OK(await post(`${srv.url}/e/?_=${clientNow}`, JSON.stringify(ev), JSON_CT));
  const r = one(name);
  assert.equal(r.sent_at, new Date(clientNow).toISOString());
  near(r.timestamp, Date.parse(r.now) - 5000, 2, '_= skew correction');

  const name2 = uniq();
  const ts = '2025-05-05T05:05:05.555Z';
  OK(await post(`${srv.url}/e/?_=${Math.floor(Date.now() / 1000)}`, JSON.stringify({ event: name2, distinct_id: 'q', token: TOKEN, timestamp: ts }), JSON_CT));
  const r2 = one(name2);
  assert.equal(r2.sent_at, undefined, 'epoch seconds are not a sent_at');
  assert.equal(r2.timestamp, ts);

  const name3 = uniq();
  const bodySent = new Date(Date.now() + 3600e3).toISOString();
  OK(await post(`${srv.url}/batch/?_=${Date.now()}`, JSON.stringify({ api_key: TOKEN, sent_at: bodySent,
    batch: [{ event: name3, distinct_id: 'q', timestamp: bodySent }] }), JSON_CT));
  const r3 = one(name3);
  assert.equal(r3.sent_at, bodySent);
  assert.equal(r3.timestamp, r3.now);
});

test('/s/ recordings: one type-2 record with the snapshot items concatenated', async () => {
  const sid = `0190${uniq('sess').replace(/[^a-z0-9-]/gi, '')}`.slice(0, 60);
  const snap = (data, extra = {}) => ({ event: '$snapshot', properties: { $session_id: sid, $window_id: 'win-1', $snapshot_data: data, distinct_id: 'rec-user', token: TOKEN, ...extra } });
  const body = [
    snap([{ type: 4, data: { href: 'https://x' }, timestamp: 1 }, { type: 2, data: { node: {} }, timestamp: 2 }], { $lib: 'web', $snapshot_source: 'web' }),
    snap([{ type: 3, data: { source: 1 }, timestamp: 3 }]),
    snap({ type: 6, data: { plugin: 'console' }, timestamp: 4 }),
  ];
  const before = walDump(srv.dataDir).filter((r) => r.type === 2).length;
  OK(await post(`${srv.url}/s/`, gzipSync(JSON.stringify(body)), { 'Content-Type': 'text/plain' }));
  const recs = walDump(srv.dataDir).filter((r) => r.type === 2);
  assert.equal(recs.length, before + 1);
  const r = recs.at(-1).record;
  assert.equal(r.session_id, sid);
  assert.equal(r.window_id, 'win-1');
  assert.equal(r.distinct_id, 'rec-user');
  assert.equal(r.token, TOKEN);
  assert.equal(r.team_id, 1);
  assert.equal(r.snapshot_source, 'web');
  assert.equal(r.lib, 'web');
  assert.match(r.uuid, UUID_RE);
  assert.deepEqual(r.snapshot_items.map((i) => i.timestamp), [1, 2, 3, 4]);
  assert.deepEqual(r.snapshot_items[0], body[0].properties.$snapshot_data[0]);
  assert.deepEqual(r.snapshot_items[3], body[2].properties.$snapshot_data);
  assert.equal(walEvents(srv.dataDir).filter((e) => e.event === '$snapshot').length, 0, 'no analytics records for snapshots');

  // window id defaults to the session id; lib from a posthog User-Agent
  const one2 = [{ event: '$snapshot', distinct_id: 'r2', properties: { $session_id: 'sess-2', $snapshot_data: [{ type: 1 }] } }];
  OK(await post(`${srv.url}/s/`, JSON.stringify({ api_key: TOKEN, batch: one2 }), { ...JSON_CT, 'User-Agent': 'posthog-python/7.0' }));
  const r2 = walDump(srv.dataDir).filter((x) => x.type === 2).at(-1).record;
  assert.equal(r2.session_id, 'sess-2');
  assert.equal(r2.window_id, 'sess-2');
  assert.equal(r2.lib, 'posthog-python');
  assert.deepEqual(r2.snapshot_items, [{ type: 1 }]);

  // Missing session id: 400
  const bad = await post(`${srv.url}/s/`, JSON.stringify([{ event: '$snapshot', distinct_id: 'r', properties: { token: TOKEN, $snapshot_data: [] } }]), JSON_CT);
  assert.equal(bad.status, 400);
  assert.match(bad.json.detail, /session id/);
});

// rrweb full snapshots nest DOM nodes (object → childNodes array → object
// ...), two JSON levels per DOM level; PostHog's capture (serde_json) takes
// 128 levels. A page 30 elements deep must be accepted.
test('deeply nested JSON: a realistic rrweb snapshot and deep properties', {
}, async () => {
  let node = { type: 3, textContent: 'leaf', id: 31 };
  for (let i = 30; i > 0; i--) node = { type: 2, tagName: 'div', attributes: { class: `c${i}` }, childNodes: [node], id: i };
  const body = [{ event: '$snapshot', properties: { $session_id: 'deep-session', $window_id: 'w', distinct_id: 'deep', token: TOKEN,
    $snapshot_data: [{ type: 2, data: { node: { type: 0, childNodes: [node], id: 0 }, initialOffset: { left: 0, top: 0 } }, timestamp: 5 }] } }];
  const res = await post(`${srv.url}/s/`, JSON.stringify(body), JSON_CT);
  assert.equal(res.status, 200, res.text);
  const r = walDump(srv.dataDir).filter((x) => x.type === 2).at(-1).record;
  assert.equal(r.session_id, 'deep-session');
  assert.deepEqual(r.snapshot_items, body[0].properties.$snapshot_data);

  const name = uniq();
  const props = {};
  let q = props;
  for (let i = 0; i < 60; i++) { q.level = { i }; q = q.level; }
  const res2 = await post(`${srv.url}/e/`, JSON.stringify({ event: name, distinct_id: 'deep', token: TOKEN, properties: props }), JSON_CT);
  assert.equal(res2.status, 200, res2.text);
  assert.deepEqual(one(name).data.properties, props);
});

test('/array/<token>/config and config.js; unknown token → 404', async () => {
  const res = await fetch(`${srv.url}/array/${TOKEN}/config`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const cfg = await res.json();
  assert.equal(cfg.token, TOKEN);
  assert.ok(Array.isArray(cfg.supportedCompression));
  assert.ok(cfg.supportedCompression.includes('gzip-js'));
  assert.equal(cfg.hasFeatureFlags, false);
  assert.equal(typeof cfg.sessionRecording === 'object' || cfg.sessionRecording === false, true);

  const js = await fetch(`${srv.url}/array/${TOKEN}/config.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  const text = await js.text();
  // Run the script the way a browser would and read what it leaves behind.
  const window = {};
  new Function('window', text)(window);
  assert.deepEqual(window._POSTHOG_REMOTE_CONFIG[TOKEN].config, cfg);

  for (const p of ['/array/phc_no_such_token_here/config', '/array/phc_no_such_token_here/config.js', `/array/${TOKEN}/other`]) {
    const r = await fetch(`${srv.url}${p}`);
    assert.equal(r.status, 404, p);
    const j = await r.json();
    assert.equal(j.code, 'not_found');
  }
});

test('/_health, /_ready and unknown paths', async () => {
  let r = await fetch(`${srv.url}/_health`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok' });
  r = await fetch(`${srv.url}/_ready`);
  assert.equal(r.status, 200);
  const ready = await r.json();
  assert.equal(ready.status, 'ready');
  r = await fetch(`${srv.url}/no/such/path`);
  assert.equal(r.status, 404);
  assert.match(r.headers.get('content-type'), /application\/json/);
  const j = await r.json();
  assert.deepEqual(Object.keys(j).sort(), ['attr', 'code', 'detail', 'type']);
  assert.equal(j.code, 'not_found');
  r = await fetch(`${srv.url}/e/`, { method: 'DELETE' });
  assert.equal(r.status, 405);
});

function metric(text, name, labels = '') {
  const re = new RegExp(`^${name.replace(/[{}]/g, '\\$&')}${labels ? `\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\}` : ''} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

test('/metrics counts requests, events, rejections, fsyncs and WAL bytes', async () => {
  const m = await startServer();
  try {
    const name = uniq();
    for (let i = 0; i < 3; i++) {
      OK(await post(`${m.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [{ event: name, distinct_id: 'm1' }, { event: name, distinct_id: 'm2' }] }), JSON_CT));
    }
    OK(await post(`${m.url}/e/`, JSON.stringify({ event: name, distinct_id: 'm3', token: TOKEN }), JSON_CT));
    assert.equal((await post(`${m.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: [{ event: name }] }), JSON_CT)).status, 400);
    assert.equal((await post(`${m.url}/batch/`, JSON.stringify({ api_key: 'phc_unknown_token', batch: [{ event: name, distinct_id: 'x' }] }), JSON_CT)).status, 401);
    // Requests are counted when the connection completes, just after the
    // answer is sent: poll briefly until the last one shows.
    let t = '';
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${m.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /text\/plain/);
      t = await res.text();
      if (metric(t, 'snout_http_requests_total', 'route="batch",status="401"') === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(metric(t, 'snout_http_requests_total', 'route="batch",status="200"'), 3);
    assert.equal(metric(t, 'snout_http_requests_total', 'route="batch",status="400"'), 1);
    assert.equal(metric(t, 'snout_http_requests_total', 'route="batch",status="401"'), 1);
    assert.equal(metric(t, 'snout_http_requests_total', 'route="capture",status="200"'), 1);
    assert.equal(metric(t, 'snout_events_accepted_total', 'kind="analytics"'), 7);
    assert.equal(metric(t, 'snout_events_rejected_total', 'reason="missing_distinct_id"'), 1);
    assert.equal(metric(t, 'snout_events_rejected_total', 'reason="unknown_token"'), 1);
    const inf = metric(t, 'snout_wal_fsync_seconds_bucket', 'le="+Inf"');
    const count = metric(t, 'snout_wal_fsync_seconds_count');
    assert.ok(inf >= 1 && inf <= 4, `fsyncs: ${inf}`);
    assert.equal(inf, count);
    assert.match(t, /# TYPE snout_wal_fsync_seconds histogram/);
    const bytes = metric(t, 'snout_wal_bytes_written_total');
    const recs = walDump(m.dataDir);
    assert.equal(recs.length, 7);
    const payload = recs.reduce((s, r) => s + Buffer.byteLength(JSON.stringify(r.record)), 0);
    assert.ok(bytes >= payload && bytes < payload + 7 * 256, `WAL bytes ${bytes} vs payload ${payload}`);
  } finally {
    await m.stop();
    cleanup(m.dataDir);
  }
});

// handler.c documents snout_events_rejected_total as counting the events of a
// refused request when it could be parsed (else 1); its HELP text says
// "Events (or unparseable requests) refused".
test('/metrics: a refused batch counts its events in snout_events_rejected_total', {
}, async () => {
  const m = await startServer();
  try {
    const five = Array.from({ length: 5 }, (_, i) => ({ event: 'r', distinct_id: `d${i}` }));
    five[3] = { event: 'r' };
    assert.equal((await post(`${m.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch: five }), JSON_CT)).status, 400);
    assert.equal((await post(`${m.url}/batch/`, JSON.stringify({ api_key: 'phc_unknown_token', batch: five.slice(0, 3) }), JSON_CT)).status, 401);
    assert.equal((await post(`${m.url}/batch/`, '{not json', JSON_CT)).status, 400);
    const t = await (await fetch(`${m.url}/metrics`)).text();
    assert.equal(metric(t, 'snout_events_rejected_total', 'reason="missing_distinct_id"'), 5);
    assert.equal(metric(t, 'snout_events_rejected_total', 'reason="unknown_token"'), 3);
    assert.equal(metric(t, 'snout_events_rejected_total', 'reason="parse"'), 1);
  } finally {
    await m.stop();
    cleanup(m.dataDir);
  }
});

test('X-Forwarded-For is ignored by default and honoured with --trust-proxy', async () => {
  const name = uniq();
  const hdr = { ...JSON_CT, 'X-Forwarded-For': '203.0.113.7, 10.0.0.1' };
  OK(await post(`${srv.url}/e/`, JSON.stringify({ event: name, distinct_id: 'x', token: TOKEN }), hdr));
  assert.equal(one(name).ip, '127.0.0.1');

  const p = await startServer({ args: ['--trust-proxy'] });
  try {
    OK(await post(`${p.url}/e/`, JSON.stringify({ event: name, distinct_id: 'x', token: TOKEN }), hdr));
    const recs = walEvents(p.dataDir);
    assert.equal(recs.length, 1);
    assert.equal(recs[0].ip, '203.0.113.7');
    OK(await post(`${p.url}/e/`, JSON.stringify({ event: name, distinct_id: 'y', token: TOKEN }), JSON_CT));
    assert.equal(walEvents(p.dataDir)[1].ip, '127.0.0.1', 'no header: the socket address');
  } finally {
    await p.stop();
    cleanup(p.dataDir);
  }
});
