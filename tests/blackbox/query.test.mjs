// The query engine end to end: events posted through capture reach the
// store (the ingest worker writes parts after store_flush_age), and
// `snout query` counts them per event, for the bootstrap team only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, cleanup, post, sleep, BIN, TOKEN } from './lib.mjs';

const JSON_CT = { 'Content-Type': 'application/json' };

function query(dataDir, sql, team = 1) {
  const r = spawnSync(BIN, ['query', '--team', String(team), '--data-dir', dataDir, sql], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr };
}

test('events captured are counted by snout query', async () => {
  const srv = await startServer();
  try {
    const want = { '$pageview': 5, signup: 2, purchase: 1 };
    const batch = [];
    for (const [event, n] of Object.entries(want))
      for (let i = 0; i < n; i++)
        batch.push({ event, distinct_id: `user-${i}`, properties: { $browser: i % 2 ? 'Firefox' : 'Chrome' } });
    const res = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch }), JSON_CT);
    assert.equal(res.status, 200, res.text);
    await sleep(2500); // store_flush_age defaults to 1 s
  } finally {
    await srv.stop();
  }
  try {
    const r = query(srv.dataDir, 'select event, count() from events group by event order by event');
    assert.equal(r.status, 0, r.stderr + JSON.stringify(r.out));
    assert.deepEqual(r.out.columns, ['event', 'count()']);
    assert.deepEqual(r.out.types, [['event', 'String'], ['count()', 'UInt64']]);
    assert.deepEqual(r.out.results, [['$pageview', 5], ['purchase', 1], ['signup', 2]]);
    assert.equal(r.out.hasMore, false);
    assert.equal(r.out.limit, 100);

    const b = query(srv.dataDir, "select count() from events where properties.$browser = 'Firefox'");
    assert.equal(b.status, 0, b.stderr);
    assert.deepEqual(b.out.results, [[3]]); // i = 1, 3 of the pageviews; i = 1 of signup

    // Another team sees nothing.
    const other = query(srv.dataDir, 'select count() from events', 2);
    assert.deepEqual(other.out.results, [[0]]);

    // Errors come back as JSON with positions, exit 1.
    const bad = query(srv.dataDir, 'select *, row_number() over () from events');
    assert.equal(bad.status, 1);
    assert.match(bad.out.error, /not supported yet/);
    assert.equal(bad.out.start, 7);
  } finally {
    cleanup(srv.dataDir);
  }
});
