// The real posthog-node SDK (from npm) against the real server: every call
// the SDK makes must be acknowledged and land in the WAL field by field.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { PostHog } from 'posthog-node';
import { startServer, walEvents, cleanup, TOKEN } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); cleanup(srv.dataDir); });

test('capture, identify, alias, groups and batching reach the WAL', async () => {
  const errors = [];
  const client = new PostHog(TOKEN, { host: srv.url, flushAt: 5, flushInterval: 60000, fetchRetryCount: 0 });
  client.on('error', (e) => errors.push(e));
  const t0 = Date.now();
  for (let i = 0; i < 12; i++) {
    client.capture({ distinctId: `user-${i % 3}`, event: 'page viewed', properties: { i, plan: 'pro', nested: { a: [1, 2] } } });
  }
  client.identify({ distinctId: 'user-0', properties: { email: 'u0@example.com' } });
  client.alias({ distinctId: 'user-0', alias: 'anon-123' });
  client.groupIdentify({ groupType: 'company', groupKey: 'acme', properties: { name: 'Acme' } });
  client.capture({ distinctId: 'user-1', event: 'grouped', groups: { company: 'acme' } });
  await client.shutdown(); // flush on shutdown
  assert.deepEqual(errors, []);

  const events = walEvents(srv.dataDir);
  assert.equal(events.length, 16);
  const pv = events.filter((e) => e.event === 'page viewed');
  assert.equal(pv.length, 12);
  assert.deepEqual(pv.map((e) => e.data.properties.i).sort((a, b) => a - b), [...Array(12).keys()]);
  for (const e of events) {
    assert.equal(e.token, TOKEN);
    assert.equal(e.team_id, 1);
    assert.equal(e.ip, '127.0.0.1');
    assert.match(e.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(e.uuid, e.data.uuid, 'the SDK-made uuid is kept');
    assert.equal(e.data.properties.$lib, 'posthog-node');
    const ts = Date.parse(e.timestamp);
    assert.ok(ts >= t0 - 5000 && ts <= Date.now() + 5000, `timestamp ${e.timestamp} is now-ish`);
    assert.ok(e.sent_at, 'the batch sent_at is recorded');
  }
  const first = pv.find((e) => e.data.properties.i === 0);
  assert.equal(first.distinct_id, 'user-0');
  assert.deepEqual(first.data.properties.nested, { a: [1, 2] });
  assert.equal(first.data.properties.plan, 'pro');

  const ident = events.find((e) => e.event === '$identify');
  assert.equal(ident.distinct_id, 'user-0');
  assert.equal(ident.data.properties.$set.email, 'u0@example.com');
  const alias = events.find((e) => e.event === '$create_alias');
  assert.equal(alias.distinct_id, 'user-0');
  assert.equal(alias.data.properties.alias, 'anon-123');
  const gi = events.find((e) => e.event === '$groupidentify');
  assert.equal(gi.data.properties.$group_type, 'company');
  assert.equal(gi.data.properties.$group_key, 'acme');
  assert.deepEqual(gi.data.properties.$group_set, { name: 'Acme' });
  const grouped = events.find((e) => e.event === 'grouped');
  assert.deepEqual(grouped.data.properties.$groups, { company: 'acme' });
});

test('gzip-compressed batches from the SDK are decoded', async () => {
  // posthog-node gzips when CompressionStream exists (Node >= 18): check the
  // events of a fresh client arrive intact, whatever the transport chose.
  const client = new PostHog(TOKEN, { host: srv.url, flushAt: 100, flushInterval: 60000 });
  const big = 'x'.repeat(5000);
  for (let i = 0; i < 50; i++) client.capture({ distinctId: 'gz', event: 'gz event', properties: { big, i } });
  await client.shutdown();
  const got = walEvents(srv.dataDir).filter((e) => e.event === 'gz event');
  assert.equal(got.length, 50);
  assert.ok(got.every((e) => e.data.properties.big === big));
});
