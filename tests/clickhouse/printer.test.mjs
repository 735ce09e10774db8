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
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClickHouse, blocks } from './chserver.mjs';
import { hogqlMany } from '../hogql/lines.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SNOUT = process.env.SNOUT_BIN;
let server;
const ch = (sql, params = '') => server.ch(sql, params);

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

// The queries printed for one team by one snout process (`snout hogql --lines`).
function printAll(qs, team) {
  return hogqlMany(SNOUT, qs.map((q) => ['clickhouse', '--ch-version', '18.16', '--team', String(team), '--tz', q.tz, q.hogql]))
    .map((r) => (r.status === 0 ? { ok: true, sql: r.stdout.trim() } : { ok: false, err: r.stdout || r.error || '' }));
}

before(async () => {
  assert.ok(SNOUT, 'SNOUT_BIN must point at the snout binary');
  server = await startClickHouse('ch-printer-');
  for (const f of ['schema.sql', 'data.sql'])
    for (const sql of blocks(f)) {
      const r = await ch(sql);
      assert.ok(r.ok, `${f}: ${r.body}`);
    }
});

after(async () => {
  if (server) await server.stop();
});

const all = queries();
const results = { 1: new Map(), 2: new Map() };

async function runTeam(team) {
  const failures = [];
  const printed = printAll(all, team);
  for (const [k, q] of all.entries()) {
    const p = printed[k];
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
  const printed = printAll(cases.map(([hogql]) => ({ hogql, tz: 'UTC' })), 2);
  for (const [k, [hogql, want]] of cases.entries()) {
    const p = printed[k];
    assert.ok(p.ok, p.err);
    const r = await ch(p.sql);
    assert.ok(r.ok, r.body);
    assert.equal(normalise(r.body), want, hogql);
  }
});
