// Durability: what snout acknowledged survives kill -9, a graceful SIGTERM
// under load, and a torn WAL tail.
//
// Bookkeeping: load generators send posthog-node-shaped /batch/ bodies with
// fetch() and record the uuids of every batch answered 200; real posthog-node
// clients run alongside, with a fetch wrapper that records the uuids of the
// SDK's batches answered 200. After the server is gone, every acknowledged
// uuid must be in the WAL (duplicates are allowed and reported; nothing here
// retries, so any duplicate would come from the server itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, gunzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { readdirSync, appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PostHog } from 'posthog-node';
import { spawnSync } from 'node:child_process';
import { startServer, walEvents, cleanup, sleep, TOKEN, BIN } from './lib.mjs';

const BATCH = 50;

// One load run against srv: `workers` raw senders and `sdks` real SDK
// clients until stop() is called. acked: uuid → distinct_id.
function load(srv, { workers = 6, sdks = 2 } = {}) {
  const acked = new Map();
  const stats = { batches: 0, failures: 0, statuses: {} };
  let running = true;
  const worker = async (w) => {
    let n = 0;
    while (running) {
      const batch = Array.from({ length: BATCH }, (_, i) => ({
        event: 'load event', distinct_id: `w${w}-u${(n * BATCH + i) % 97}`, uuid: randomUUID(),
        properties: { $lib: 'posthog-node', $lib_version: '5.70.0', w, n, i },
        timestamp: new Date().toISOString(),
      }));
      n++;
      const json = JSON.stringify({ api_key: TOKEN, batch, sent_at: new Date().toISOString() });
      const gz = n % 2 === 0;
      try {
        const res = await fetch(`${srv.url}/batch/`, { method: 'POST', body: gz ? gzipSync(json) : json,
          headers: { 'Content-Type': 'application/json', ...(gz ? { 'Content-Encoding': 'gzip' } : {}) } });
        await res.arrayBuffer();
        stats.statuses[res.status] = (stats.statuses[res.status] || 0) + 1;
        if (res.status === 200) {
          for (const e of batch) acked.set(e.uuid, e.distinct_id);
          stats.batches++;
        } else if (res.status >= 500) {
          await sleep(20);
        }
      } catch {
        stats.failures++;
        if (!running) break;
        await sleep(50); // the server is gone or going
      }
    }
  };
  // The SDK's own fetch, wrapped to learn which of its batches got a 200.
  const sdkFetch = async (url, opts) => {
    const res = await fetch(url, opts);
    if (res.status === 200 && String(url).includes('/batch')) {
      let body = opts.body;
      if (typeof body !== 'string') {
        const buf = Buffer.from(await new Response(body).arrayBuffer());
        body = buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf).toString() : buf.toString();
      }
      for (const e of JSON.parse(body).batch) acked.set(e.uuid, e.distinct_id);
    }
    return res;
  };
  const clients = Array.from({ length: sdks }, () => {
    const c = new PostHog(TOKEN, { host: srv.url, flushAt: BATCH, flushInterval: 50, fetchRetryCount: 0, requestTimeout: 2000, fetch: sdkFetch });
    c.on('error', () => {}); // expected once the server is killed
    return c;
  });
  const sdkLoop = async (c, k) => {
    let i = 0;
    while (running) {
      for (let j = 0; j < 25; j++) c.capture({ distinctId: `sdk${k}-u${i % 13}`, event: 'sdk load event', properties: { k, i: i++ } });
      await sleep(5);
    }
  };
  const done = Promise.all([
    ...Array.from({ length: workers }, (_, w) => worker(w)),
    ...clients.map((c, k) => sdkLoop(c, k)),
  ]);
  return {
    acked, stats,
    async stop() {
      running = false;
      await done;
      await Promise.all(clients.map((c) => c.shutdown(1500).catch(() => {})));
    },
  };
}

// Every acknowledged uuid is in the WAL with its distinct_id; returns counts.
function checkAcked(dataDir, acked) {
  const events = walEvents(dataDir);
  const count = new Map();
  const didOf = new Map();
  for (const e of events) {
    count.set(e.uuid, (count.get(e.uuid) || 0) + 1);
    didOf.set(e.uuid, e.distinct_id);
  }
  const missing = [...acked.keys()].filter((u) => !count.has(u));
  assert.equal(missing.length, 0, `${missing.length} acknowledged events missing, e.g. ${missing.slice(0, 3)}`);
  for (const [u, did] of acked) assert.equal(didOf.get(u), did, `distinct_id of ${u}`);
  // Extra copies of a uuid beyond the first; distinct uuids nobody saw acknowledged.
  const duplicates = events.length - count.size;
  return { records: events.length, duplicates, unacknowledgedButStored: count.size - acked.size };
}

test('kill -9 under load loses no acknowledged event', async () => {
  const srv = await startServer();
  try {
    const run = load(srv);
    await sleep(1500);
    const ackedAtKill = run.acked.size;
    srv.child.kill('SIGKILL');
    const ex = await srv.exited;
    assert.equal(ex.signal, 'SIGKILL');
    await run.stop();
    assert.ok(ackedAtKill >= 1000, `load ran: ${ackedAtKill} events acknowledged before the kill`);
    assert.ok([...run.acked.values()].some((d) => d.startsWith('sdk')), 'the SDK clients got acknowledgements too');

    const again = await startServer({ dataDir: srv.dataDir });
    // (srv is dead by now; again is stopped below)
    try {
      assert.match(again.stderr, /wal: opened .*: \d+ record\(s\) after the checkpoint/);
      const r = checkAcked(srv.dataDir, run.acked);
      console.log(`kill -9: ${run.acked.size} acknowledged, ${r.records} WAL records, ${r.duplicates} duplicates, ` +
        `${r.unacknowledgedButStored} stored without acknowledgement; statuses ${JSON.stringify(run.stats.statuses)}`);
      // The restarted server takes new events.
      const res = await fetch(`${again.url}/batch/`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ api_key: TOKEN, batch: [{ event: 'after crash', distinct_id: 'z', uuid: randomUUID() }] }) });
      assert.equal(res.status, 200);
    } finally {
      await again.stop();
    }
    assert.equal(walEvents(srv.dataDir).filter((e) => e.event === 'after crash').length, 1);
    // The clean stop ingested everything: the store is consistent and holds
    // each WAL event record exactly once (retried uuids are separate records
    // until merges deduplicate them).
    const verify = spawnSync(BIN, ['store', 'verify', '--data-dir', srv.dataDir], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, / 0 problem\(s\)/);
    const stats = JSON.parse(spawnSync(BIN, ['store', 'stats', '--data-dir', srv.dataDir], { encoding: 'utf8' }).stdout);
    assert.equal(stats.rows, walEvents(srv.dataDir).length);
  } finally {
    await srv.stop('SIGKILL');
    cleanup(srv.dataDir);
  }
});

test('SIGTERM under load: exit 0, "shutdown complete", every acknowledged event present', async () => {
  const srv = await startServer();
  try {
    const run = load(srv);
    await sleep(1000);
    srv.child.kill('SIGTERM');
    const ex = await Promise.race([srv.exited, new Promise((r) => setTimeout(r, 15000, { code: 'no exit within 15 s' }).unref())]);
    await run.stop();
    assert.equal(ex.code, 0, `exit code (stderr tail: ${srv.stderr.slice(-500)})`);
    assert.match(srv.stderr, /received SIGTERM: shutting down/);
    assert.match(srv.stderr, /shutdown complete/);
    assert.ok(run.acked.size >= 500, `load ran: ${run.acked.size}`);
    const r = checkAcked(srv.dataDir, run.acked);
    console.log(`SIGTERM: ${run.acked.size} acknowledged, ${r.records} WAL records, ${r.duplicates} duplicates, statuses ${JSON.stringify(run.stats.statuses)}`);
  } finally {
    await srv.stop('SIGKILL');
    cleanup(srv.dataDir);
  }
});

function lastSegment(dataDir) {
  const dir = join(dataDir, 'wal');
  const segs = readdirSync(dir).filter((f) => /^wal-[0-9a-f]{16}\.log$/.test(f)).sort();
  assert.ok(segs.length >= 1, 'a WAL segment exists');
  return join(dir, segs.at(-1));
}

async function sendBatch(srv, tag, n = 20) {
  const batch = Array.from({ length: n }, (_, i) => ({ event: tag, distinct_id: `${tag}-${i}`, uuid: randomUUID(), properties: { i } }));
  const res = await fetch(`${srv.url}/batch/`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ api_key: TOKEN, batch }) });
  assert.equal(res.status, 200);
  return batch.map((e) => e.uuid);
}

test('a torn WAL tail is cut on restart; earlier events stay, new ones are accepted', async () => {
  const live = []; // every server started here, stopped whatever happens
  const start = async (opts) => { const x = await startServer(opts); live.push(x); return x; };
  const srv = await start();
  try {
    let uuids = [];
    for (let b = 0; b < 5; b++) uuids.push(...await sendBatch(srv, `before-${b}`));
    await srv.stop();
    const seg = lastSegment(srv.dataDir);
    const size = statSync(seg).size;
    assert.ok(size > 0);

    // 1. Random garbage after the last record.
    appendFileSync(seg, Buffer.from(Array.from({ length: 777 }, (_, i) => (i * 131 + 7) & 0xff)));
    let s2 = await start({ dataDir: srv.dataDir });
    assert.match(s2.stderr, /warn .*wal: segment [0-9a-f]{16}: torn tail, cutting 777 bytes at offset \d+/);
    assert.deepEqual(walEvents(srv.dataDir).map((e) => e.uuid), uuids);
    uuids.push(...await sendBatch(s2, 'after-garbage'));
    await s2.stop();
    assert.deepEqual(walEvents(srv.dataDir).map((e) => e.uuid), uuids);

    // 2. A torn write: the start of a real record (valid header, cut short).
    const seg2 = lastSegment(srv.dataDir);
    const head = readFileSync(seg2).subarray(0, 150);
    appendFileSync(seg2, head);
    s2 = await start({ dataDir: srv.dataDir });
    assert.match(s2.stderr, /torn tail, cutting \d+ bytes/);
    const before = walEvents(srv.dataDir).map((e) => e.uuid);
    assert.deepEqual(before, uuids, 'all earlier events, in order, nothing made up from the torn bytes');
    uuids.push(...await sendBatch(s2, 'after-torn'));
    await s2.stop();
    assert.deepEqual(walEvents(srv.dataDir).map((e) => e.uuid), uuids);

    // 3. A clean restart after the cut reports nothing.
    s2 = await start({ dataDir: srv.dataDir });
    assert.doesNotMatch(s2.stderr, /torn tail/);
    // (A clean stop ingested everything, so nothing is left after the checkpoint.)
    assert.match(s2.stderr, /0 record\(s\) after the checkpoint, 0 corrupt byte\(s\)/);
    assert.deepEqual(walEvents(srv.dataDir).map((e) => e.uuid), uuids);
    await s2.stop();
  } finally {
    for (const x of live) await x.stop();
    cleanup(srv.dataDir);
  }
});
