// The event store's maintenance under kill -9: background merges inside
// the server and `snout store delete` beside it are killed at random points
// (SNOUT_STORE_TEST_PAUSE_MS widens the window between a commit and the
// removal of what it replaced, so many kills land there), and after every
// restart the store must hold each WAL event record exactly once — no loss,
// no duplicate — pass `snout store verify`, and, after a deletion finished,
// hold none of the deleted events in any part file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { startServer, walEvents, cleanup, sleep, TOKEN, BIN } from './lib.mjs';

const MERGE_ENV = {
  SNOUT_MERGE_MIN_PARTS: '2',
  SNOUT_MERGE_INTERVAL: '20ms',
  SNOUT_MERGE_MAX_MB_PER_S: '0',
  SNOUT_STORE_TEST_PAUSE_MS: '600',
};
const ROUNDS = 10;

// Sends batches until stop(); acked collects the uuids answered 200.
function load(srv, events) {
  const acked = new Set();
  let running = true, n = 0;
  const worker = async (w) => {
    while (running) {
      const batch = Array.from({ length: 40 }, (_, i) => {
        const event = events[(n + i) % events.length];
        return { event, distinct_id: `w${w}-${i % 13}`, uuid: randomUUID(),
          properties: { marker: event === 'drop me' ? 'SECRET-DROPPED-EVENT' : 'kept', n, i } };
      });
      n++;
      try {
        const res = await fetch(`${srv.url}/batch/`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ api_key: TOKEN, batch }) });
        await res.arrayBuffer();
        if (res.status === 200) for (const e of batch) acked.add(e.uuid);
      } catch {
        if (!running) break;
        await sleep(30);
      }
      await sleep(5);
    }
  };
  const workers = [0, 1, 2].map(worker);
  return { acked, async stop() { running = false; await Promise.all(workers); } };
}

function storeCounts(dataDir) {
  const r = spawnSync(BIN, ['query', '--team', '1', '--format', 'tsv', '--data-dir', dataDir,
    'SELECT event, count(), uniqExact(uuid) FROM events GROUP BY event ORDER BY event'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = {};
  for (const line of r.stdout.trim().split('\n').filter(Boolean)) {
    const [event, count, uniq] = line.split('\t');
    if (!/^\d+$/.test(count)) continue; // a header line
    out[event] = { count: Number(count), uniq: Number(uniq) };
  }
  return out;
}

function verifyClean(dataDir) {
  const v = spawnSync(BIN, ['store', 'verify', '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, / 0 problem\(s\)/);
  return Number(/(\d+) row\(s\)/.exec(v.stdout)[1]);
}

function storeFiles(dataDir) {
  return readdirSync(join(dataDir, 'store'));
}

// Every event record of the WAL, counted by event name.
function walCounts(dataDir) {
  const c = {};
  for (const e of walEvents(dataDir)) c[e.event] = (c[e.event] || 0) + 1;
  return c;
}

test('kill -9 during background merges: every event once, verify clean', async () => {
  let srv = await startServer({ env: MERGE_ENV });
  const dataDir = srv.dataDir;
  const acked = new Set();
  let merged = 0, midMerge = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const run = load(srv, ['merge load']);
      await sleep(1500 + Math.floor(Math.random() * 2500));
      srv.child.kill('SIGKILL');
      await srv.exited;
      await run.stop();
      for (const u of run.acked) acked.add(u);
      merged += storeFiles(dataDir).filter((f) => /^\d{6}_[0-9a-f]{16}_[0-9a-f]{16}_[0-9a-f]{8}\.snp$/.test(f)).length;
      srv = await startServer({ dataDir, env: MERGE_ENV });
      // A kill between a merge's rename and the removal of its inputs.
      if (/superseded by a merge or deletion/.test(srv.stderr)) midMerge++;
    }
    await sleep(1500);
    await srv.stop('SIGTERM');
    await srv.exited;
    assert.ok(acked.size >= 2000, `load ran: ${acked.size} acknowledged`);
    assert.ok(merged > 0, 'merges ran between the kills');
    assert.ok(midMerge >= 1, 'some kill landed between a merge\'s commit and its cleanup');
    const rows = verifyClean(dataDir);
    const wal = walCounts(dataDir)['merge load'];
    const got = storeCounts(dataDir)['merge load'];
    const walUuids = new Set(walEvents(dataDir).map((e) => e.uuid));
    for (const u of acked) assert.ok(walUuids.has(u), `acknowledged ${u} is in the WAL`);
    assert.equal(got.count, wal, 'each WAL record stored once');
    assert.equal(got.uniq, got.count, 'no duplicate uuid');
    assert.equal(rows, wal);
    // `snout store merge` (server stopped) leaves one part per month.
    const m = spawnSync(BIN, ['store', 'merge', '--data-dir', dataDir], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    const res = JSON.parse(m.stdout);
    assert.equal(verifyClean(dataDir), wal);
    assert.equal(storeCounts(dataDir)['merge load'].count, wal);
    console.log(`merges under kill -9: ${acked.size} acknowledged, ${wal} WAL records, ${merged} merged parts seen ` +
      `across ${ROUNDS} kills, ${midMerge} of them between a merge's commit and its cleanup; final merge ${JSON.stringify(res)}`);
  } finally {
    await srv.stop('SIGKILL');
    cleanup(dataDir);
  }
});

test('kill -9 of deletions and of the server while ingesting: nothing kept is lost, nothing deleted stays', async () => {
  const env = { ...MERGE_ENV };
  let srv = await startServer({ env });
  const dataDir = srv.dataDir;
  let kills = 0, completed = 0;
  const runDelete = (killAfterMs) => new Promise((resolve) => {
    const p = spawn(BIN, ['store', 'delete', '--team', '1', '--event', 'drop me', '--data-dir', dataDir],
      { env: { ...process.env, SNOUT_STORE_TEST_PAUSE_MS: '200' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    const t = killAfterMs >= 0 ? setTimeout(() => p.kill('SIGKILL'), killAfterMs) : null;
    p.on('exit', (code, signal) => { if (t) clearTimeout(t); resolve({ code, signal, out }); });
  });
  try {
    for (let round = 0; round < 6; round++) {
      const run = load(srv, ['keep', 'drop me']);
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        await sleep(300);
        const r = await runDelete(Math.random() < 0.7 ? Math.floor(Math.random() * 250) : -1);
        if (r.signal === 'SIGKILL') kills++;
        else { assert.equal(r.code, 0, r.out); completed++; }
      }
      if (round % 2 === 1) {
        srv.child.kill('SIGKILL'); // sometimes mid-merge or mid-flush as well
        await srv.exited;
        await run.stop();
        srv = await startServer({ dataDir, env });
      } else {
        await run.stop();
      }
    }
    await sleep(1500);
    await srv.stop('SIGTERM');
    await srv.exited;
    assert.ok(kills >= 5, `deletions killed: ${kills}`);
    // Every 'keep' record of the WAL is stored exactly once.
    const wal = walCounts(dataDir);
    let got = storeCounts(dataDir);
    assert.equal(got.keep.count, wal.keep, 'kept events: none lost, none doubled');
    assert.equal(got.keep.uniq, got.keep.count);
    assert.equal(verifyClean(dataDir), wal.keep + (got['drop me']?.count || 0));
    // A deletion that runs to the end leaves none of them, in any file.
    const r = await runDelete(-1);
    assert.equal(r.code, 0, r.out);
    got = storeCounts(dataDir);
    assert.equal(got['drop me'], undefined);
    assert.equal(got.keep.count, wal.keep);
    assert.equal(verifyClean(dataDir), wal.keep);
    for (const f of storeFiles(dataDir)) {
      const b = readFileSync(join(dataDir, 'store', f));
      assert.ok(!b.includes('SECRET-DROPPED-EVENT'), `${f} still holds a deleted event`);
      assert.ok(!b.includes('drop me'), `${f} still holds a deleted event name`);
    }
    console.log(`deletions: ${kills} killed, ${completed} completed under load; ${wal.keep} kept, ` +
      `${wal['drop me']} deleted; final ${r.out.trim()}`);
  } finally {
    await srv.stop('SIGKILL');
    cleanup(dataDir);
  }
});
