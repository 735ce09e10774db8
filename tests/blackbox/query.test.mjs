// The query engine end to end: events posted through capture reach the
// store (the ingest worker writes parts after store_flush_age), and
// `snout query` counts them per event, for the bootstrap team only — on the
// data directory and through a running server (--url), in every format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, cleanup, post, sleep, BIN, TOKEN, API_KEY } from './lib.mjs';

const JSON_CT = { 'Content-Type': 'application/json' };

function query(dataDir, sql, team = 1) {
  const r = spawnSync(BIN, ['query', '--team', String(team), '--format', 'json', '--data-dir', dataDir, sql], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr };
}

// `snout query` with raw arguments and no SNOUT_* environment: status, stdout, stderr.
function cli(args, env = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SNOUT_')));
  const r = spawnSync(BIN, ['query', ...args], { encoding: 'utf8', env: { ...base, ...env }, timeout: 30000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const COUNTS = 'select event, count() from events group by event order by event';
const TABLE = [
  ' event     | count()',
  '-----------+---------',
  ' $pageview |       5',
  ' purchase  |       1',
  ' signup    |       2',
  '(3 rows)',
  ''].join('\n');
const CSV = 'event,count()\n$pageview,5\npurchase,1\nsignup,2\n';
const TSV = 'event\tcount()\n$pageview\t5\npurchase\t1\nsignup\t2\n';

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

    // A running server answers --url, in every format, as the data directory does below.
    const remote = ['--url', srv.url, '--team', '1', '--api-key', API_KEY];
    let r = cli([...remote, COUNTS]);
    assert.equal(r.status, 0, r.err);
    assert.equal(r.out, TABLE);
    r = cli([...remote, '--format', 'csv', COUNTS]);
    assert.equal(r.out, CSV);
    r = cli([...remote, '--format', 'tsv', COUNTS]);
    assert.equal(r.out, TSV);
    r = cli([...remote, '--format', 'json', COUNTS]);
    assert.deepEqual(JSON.parse(r.out).results, [['$pageview', 5], ['purchase', 1], ['signup', 2]]);
    r = cli(['--url', `${srv.url}/`, '--team', '1', COUNTS], { SNOUT_API_KEY: API_KEY }); // key from the environment
    assert.equal(r.out, TABLE);
    // The server's errors: a bad key, a bad query (a line on stderr, exit 1), no --team, no server.
    r = cli(['--url', srv.url, '--team', '1', '--api-key', 'phx_wrong', COUNTS]);
    assert.equal(r.status, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /^snout query: .*(authentication|credentials|API key).*\n$/i);
    r = cli([...remote, 'select nosuch from events']);
    assert.equal(r.status, 1);
    assert.match(r.err, /Unable to resolve field: nosuch/);
    r = cli([...remote, '--format', 'json', 'select nosuch from events']);
    assert.equal(r.status, 1);
    assert.match(JSON.parse(r.out).detail, /nosuch/);
    r = cli(['--url', srv.url, COUNTS]);
    assert.equal(r.status, 1);
    assert.match(r.err, /--url needs --team/);
    r = cli(['--url', 'http://127.0.0.1:1', '--team', '1', COUNTS]); // nothing listens there
    assert.equal(r.status, 1);
    assert.match(r.err, /^snout query: http:\/\/127\.0\.0\.1:1\/api\/projects\/1\/query\/: .*connect/i);
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

    // The readable table is the default; --team defaults to the only team; csv and tsv.
    const dd = ['--data-dir', srv.dataDir];
    let t = cli([...dd, COUNTS]);
    assert.equal(t.status, 0, t.err);
    assert.equal(t.out, TABLE);
    assert.equal(cli([...dd, '--format', 'csv', COUNTS]).out, CSV);
    assert.equal(cli([...dd, '--format', 'tsv', COUNTS]).out, TSV);
    // NULL, arrays, quotes, control characters, long cells, hasMore.
    t = cli([...dd, "select NULL as n, [1, 2] as a, 'say \"hi\", ok' as q, 'x\ty' as t, repeat('é', 70) as l from events limit 1"]);
    assert.equal(t.status, 0, t.err);
    const lines = t.out.split('\n');
    assert.equal(lines[0], ' n    | a     | q            | t   | l' + ' '.repeat(59));
    assert.equal(lines[2], ` NULL | [1,2] | say "hi", ok | x y | ${'é'.repeat(59)}…`);
    assert.equal(lines[3], '(1 row; more rows exist: raise the LIMIT)');
    t = cli([...dd, '--format', 'csv', "select NULL as n, [1, 2] as a, 'say \"hi\", ok' as q from events limit 1"]);
    assert.equal(t.out, 'n,a,q\n\\N,"[1,2]","say ""hi"", ok"\n');
    // Errors: one line on stderr outside json; a bad format; the resolver's position.
    t = cli([...dd, 'select nosuch from events']);
    assert.equal(t.status, 1);
    assert.equal(t.out, '');
    assert.equal(t.err, 'snout query: Unable to resolve field: nosuch (QueryError) at characters 7..13\n');
    t = cli([...dd, '--format', 'xml', COUNTS]);
    assert.equal(t.status, 2);
    assert.match(t.err, /--format must be table, json, csv or tsv/);
  } finally {
    cleanup(srv.dataDir);
  }
});
