// The server keeps the memory its queries freed warm while requests come
// and gives it back once none has come for 5 s (base/arena.c sn_mem_tune /
// sn_mem_release, api/serve.c): with requests every second there is no
// release; after the last one there is exactly one, logged at debug level;
// a request after it makes the next idle spell release again; and SIGTERM
// still stops the server at once with exit code 0 while it waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, cleanup, post, sleep, API_KEY } from './lib.mjs';

const RELEASED = /idle: memory released, RSS \d+ -> \d+ KiB/g;

test('memory is released once after 5 s without requests, not while they come', async () => {
  const srv = await startServer({ env: { SNOUT_LOG_LEVEL: 'debug' } });
  try {
    const query = () => post(`${srv.url}/api/projects/1/query/`,
      JSON.stringify({ query: { kind: 'HogQLQuery', query: 'SELECT count() FROM events' } }),
      { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' });
    // a request a second for 7 s: never idle for 5 s
    for (let i = 0; i < 7; i++) {
      const r = await query();
      assert.equal(r.status, 200, r.text);
      await sleep(1000);
    }
    assert.equal((srv.stderr.match(RELEASED) || []).length, 0, srv.stderr);
    // quiet: one release within 5 s + the 1 s tick (+ slack)
    const until = Date.now() + 9000;
    while (!(srv.stderr.match(RELEASED) || []).length && Date.now() < until) await sleep(100);
    assert.equal((srv.stderr.match(RELEASED) || []).length, 1, srv.stderr);
    await sleep(2500); // still quiet: no second release without a request
    assert.equal((srv.stderr.match(RELEASED) || []).length, 1, srv.stderr);
    assert.equal((await query()).status, 200);
    const until2 = Date.now() + 9000;
    while ((srv.stderr.match(RELEASED) || []).length < 2 && Date.now() < until2) await sleep(100);
    assert.equal((srv.stderr.match(RELEASED) || []).length, 2, srv.stderr);
    const t0 = Date.now();
    const { code } = await srv.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 3000, `SIGTERM took ${Date.now() - t0} ms`);
  } finally {
    await srv.stop();
    cleanup(srv.dataDir);
  }
});
