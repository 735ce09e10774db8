// HogQL → ClickHouse printer against a real ClickHouse 18.16.
//
// Starts clickhouse-server on loopback (free ports, data in a temp dir under
// SNOUT_TEST_TMP), loads schema.sql and data.sql (two teams), prints every
// query of queries.hogql with `$SNOUT_BIN hogql clickhouse --ch-version 18.16`
// for team 1 and for team 2, runs it over HTTP and fails on any printer or
// ClickHouse error, on a wrong expected result (`=> ...`), and when a team's
// results show the other team's marker rows. Stops the server at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const SNOUT = process.env.SNOUT_BIN;
const SERVER = process.env.CLICKHOUSE_SERVER || '/usr/sbin/clickhouse-server';
let dir, proc, httpPort;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function ch(sql, params = '') {
  const res = await fetch(`http://127.0.0.1:${httpPort}/?max_execution_time=20${params}`, {
    method: 'POST',
    body: sql,
  });
  const body = await res.text();
  return { ok: res.status === 200, body };
}

function blocks(file) {
  return fs
    .readFileSync(path.join(here, file), 'utf8')
    .split(/\n\s*\n/)
    .map((b) => b.split('\n').filter((l) => !l.startsWith('--')).join('\n').trim())
    .filter(Boolean);
}

function queries() {
  const out = [];
  const lines = fs.readFileSync(path.join(here, 'queries.hogql'), 'utf8').split('\n');
  lines.forEach((raw, i) => {
    let line = raw.trim();
    if (!line || line.startsWith('#')) return;
    let tz = 'UTC';
    const m = /^tz:(\S+)\s+/.exec(line);
    if (m) {
      tz = m[1];
      line = line.slice(m[0].length);
    }
    let expected = null;
    const k = line.lastIndexOf(' =>');
    if (k >= 0) {
      expected = line.slice(k + 3).trim();
      line = line.slice(0, k).trim();
    }
    out.push({ line: i + 1, hogql: line, tz, expected });
  });
  return out;
}

// TSV result → "a,b;c,d" (the notation of queries.hogql).
function normalise(tsv) {
  return tsv
    .replace(/\n$/, '')
    .split('\n')
    .map((r) => r.split('\t').join(','))
    .join(';');
}

async function print(q, team) {
  try {
    const { stdout } = await execFileP(SNOUT, [
      'hogql', 'clickhouse', '--ch-version', '18.16', '--team', String(team), '--tz', q.tz, q.hogql,
    ]);
    return { ok: true, sql: stdout.trim() };
  } catch (e) {
    return { ok: false, err: (e.stdout || '') + (e.stderr || '') };
  }
}

before(async () => {
  assert.ok(SNOUT, 'SNOUT_BIN must point at the snout binary');
  const base = process.env.SNOUT_TEST_TMP || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  dir = fs.mkdtempSync(path.join(base, 'ch-printer-'));
  for (const d of ['data', 'tmp', 'user_files', 'log', 'format_schemas']) fs.mkdirSync(path.join(dir, d));
  httpPort = await freePort();
  const tcpPort = await freePort();
  const isPort = await freePort();
  fs.writeFileSync(path.join(dir, 'config.xml'), `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <interserver_http_port>${isPort}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <max_connections>64</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>16</max_concurrent_queries>
  <uncompressed_cache_size>16777216</uncompressed_cache_size>
  <mark_cache_size>16777216</mark_cache_size>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <max_table_size_to_drop>0</max_table_size_to_drop>
</yandex>
`);
  fs.writeFileSync(path.join(dir, 'users.xml'), `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><max_threads>1</max_threads></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`);
  const log = fs.openSync(path.join(dir, 'log', 'stdout.log'), 'a');
  proc = spawn(SERVER, [`--config-file=${dir}/config.xml`], { cwd: dir, stdio: ['ignore', log, log] });
  let up = false;
  for (let i = 0; i < 120 && !up; i++) {
    await new Promise((r) => setTimeout(r, 250));
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/ping`);
      up = r.ok;
    } catch {}
  }
  assert.ok(up, `clickhouse-server did not start; see ${dir}/log`);
  for (const f of ['schema.sql', 'data.sql'])
    for (const sql of blocks(f)) {
      const r = await ch(sql);
      assert.ok(r.ok, `${f}: ${r.body}`);
    }
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
  }
  if (dir && !process.env.SNOUT_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
});

const all = queries();
const results = { 1: new Map(), 2: new Map() };

async function runTeam(team) {
  const failures = [];
  for (const q of all) {
    const p = await print(q, team);
    if (!p.ok) {
      failures.push(`line ${q.line}: print failed: ${q.hogql}\n    ${p.err.trim()}`);
      continue;
    }
    const r = await ch(p.sql);
    if (!r.ok) {
      failures.push(`line ${q.line}: ClickHouse error: ${q.hogql}\n    ${r.body.trim()}\n    SQL: ${p.sql}`);
      continue;
    }
    results[team].set(q, r.body);
    if (team === 1 && q.expected !== null && normalise(r.body) !== q.expected)
      failures.push(`line ${q.line}: ${q.hogql}\n    expected ${q.expected}\n    got      ${normalise(r.body)}`);
  }
  return failures;
}

test(`at least 200 queries`, () => {
  assert.ok(all.length >= 200, `only ${all.length} queries`);
});

test('every query prints and runs on ClickHouse 18.16 for team 1, with the expected results', async () => {
  const f = await runTeam(1);
  assert.equal(f.length, 0, `${f.length} of ${all.length} failed:\n` + f.join('\n'));
});

test('every query prints and runs for team 2', async () => {
  const f = await runTeam(2);
  assert.equal(f.length, 0, `${f.length} of ${all.length} failed:\n` + f.join('\n'));
});

test('team 1 never sees team 2 rows and team 2 never sees team 1 rows', () => {
  const leaks = [];
  for (const [q, body] of results[1])
    if (/team2|22222222/i.test(body)) leaks.push(`team 1, line ${q.line}: ${q.hogql}\n    ${body.trim()}`);
  for (const [q, body] of results[2])
    if (/alice|bob@|carol|dave|0000000000a|0001-0000|globex|Acme Inc|Project One/i.test(body))
      leaks.push(`team 2, line ${q.line}: ${q.hogql}\n    ${body.trim()}`);
  assert.ok(results[1].size > 0 && results[2].size > 0, 'no results to check');
  assert.equal(leaks.length, 0, leaks.join('\n'));
});

test('team 2 sees its own marker rows (the guard filters, it does not blank)', async () => {
  const cases = [
    ['SELECT count() FROM events', '2'],
    ["SELECT count() FROM events WHERE event = 'team2_marker'", '1'],
    ['SELECT person.properties.email FROM events ORDER BY timestamp LIMIT 1', 'team2@marker'],
    ['SELECT group_0.properties.name FROM events LIMIT 1', 'team2 marker group'],
    ['SELECT count() FROM persons', '1'],
    ['SELECT person_id FROM events LIMIT 1', '22222222-2222-2222-2222-222222222222'],
  ];
  for (const [hogql, want] of cases) {
    const p = await print({ hogql, tz: 'UTC' }, 2);
    assert.ok(p.ok, p.err);
    const r = await ch(p.sql);
    assert.ok(r.ok, r.body);
    assert.equal(normalise(r.body), want, hogql);
  }
});
