// The snout command line: help and exit codes, migrate, team/user/apikey
// administration, settings precedence (flag > env > config file), first-start
// bootstrap and the data-directory lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, tempDir, cleanup, walEvents, BIN, TOKEN, API_KEY } from './lib.mjs';

// Runs snout with a clean SNOUT_* environment plus env.
function snout(args, env = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SNOUT_') || k === 'SNOUT_BIN'));
  const r = spawnSync(BIN, args, { env: { ...base, ...env }, encoding: 'utf8', timeout: 15000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

async function sendOne(url, token) {
  const res = await fetch(`${url}/e/`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ event: 'cli check', distinct_id: 'cli', token }) });
  return res.status;
}

test('--help, no command, unknown command', () => {
  let r = snout(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['serve', 'migrate', 'team list', 'team create', 'user create', 'apikey create', 'wal dump', 'wal stats']) {
    assert.ok(r.stdout.includes(c), `--help lists ${c}`);
  }
  assert.match(r.stdout, /--listen/, 'the settings are listed');
  assert.match(r.stdout, /SNOUT_DATA_DIR/);

  r = snout([]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Usage: snout <command>/);
  assert.equal(r.stdout, '');

  r = snout(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);

  r = snout(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^snout \d+\.\d+\.\d+/);
});

test('every subcommand has --help (exit 0)', () => {
  const cases = [
    [['serve', '--help'], /Usage: snout serve/],
    [['migrate', '--help'], /Usage: snout migrate/],
    [['team', '--help'], /snout team list/],
    [['team', 'create', '--help'], /snout team create --name/],
    [['user', 'create', '--help'], /Usage: snout user create --email/],
    [['apikey', 'create', '--help'], /Usage: snout apikey create --email/],
    [['wal', 'dump', '--help'], /snout wal dump/],
    [['wal', '--help'], /snout wal stats/],
  ];
  for (const [args, re] of cases) {
    const r = snout(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, re, args.join(' '));
  }
  // Missing subcommands are usage errors.
  for (const args of [['team'], ['user'], ['apikey'], ['wal']]) {
    assert.equal(snout(args).code, 2, args.join(' '));
  }
  const d = tempDir();
  try {
    const bad = snout(['team', 'frob', '--data-dir', d]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown subcommand/);
  } finally { cleanup(d); }
});

test('migrate applies once, then reports 0', () => {
  const d = tempDir();
  try {
    let r = snout(['migrate', '--data-dir', d]);
    assert.equal(r.code, 0, r.stderr);
    const m = /applied (\d+) migration\(s\); schema version (\d+) \(this snout knows (\d+)\)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) >= 1);
    assert.equal(m[2], m[3]);
    r = snout(['migrate', '--data-dir', d]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`applied 0 migration\\(s\\); schema version ${m[2]} \\(this snout knows ${m[2]}\\)`));
    // The data dir may also come from the environment.
    r = snout(['migrate'], { SNOUT_DATA_DIR: d });
    assert.match(r.stdout, /applied 0 migration/);
  } finally { cleanup(d); }
});

test('team create without an organization fails clearly', () => {
  const d = tempDir();
  try {
    const r = snout(['team', 'create', '--name', 'X', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /snout team create: no organization yet/);
    assert.equal(r.stdout, '');
    const u = snout(['user', 'create', '--email', 'a@b.c', '--password', 'long enough pw', '--data-dir', d]);
    assert.notEqual(u.code, 0);
    assert.match(u.stderr, /no organization yet/);
  } finally { cleanup(d); }
});

test('teams, users and API keys after the first start', async () => {
  const srv = await startServer();
  const d = srv.dataDir;
  try {
    // team create / list (works while the server runs)
    let r = snout(['team', 'create', '--name', 'Second Project', '--data-dir', d]);
    assert.equal(r.code, 0, r.stderr);
    const tok = /project API key: (phc_[A-Za-z0-9]+)/.exec(r.stdout)?.[1];
    assert.ok(tok, r.stdout);
    assert.match(r.stdout, /created team 2 "Second Project" in organization 1/);
    r = snout(['team', 'create', '--name', 'Own Token', '--token', 'phc_my_own_token_123', '--data-dir', d]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /project API key: phc_my_own_token_123/);
    r = snout(['team', 'list', '--data-dir', d]);
    assert.equal(r.code, 0);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4, r.stdout);
    assert.match(lines[0], /id\s+org\s+api_token/);
    assert.match(lines[1], new RegExp(`^1\\s+1\\s+${TOKEN}\\s+.*Default Project$`));
    assert.match(lines[2], new RegExp(`^2\\s+1\\s+${tok}\\s+.*Second Project$`));
    assert.match(lines[3], /^3\s+1\s+phc_my_own_token_123\s/);
    // The new token is live for capture.
    assert.equal(await sendOne(srv.url, tok), 200);
    const e = walEvents(d).find((x) => x.token === tok);
    assert.equal(e.team_id, 2);

    r = snout(['team', 'create', '--name', 'Bad', '--token', 'phx_abc', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /must not start with phx_/);
    r = snout(['team', 'create', '--name', 'Dup', '--token', 'phc_my_own_token_123', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already exists/);
    r = snout(['team', 'create', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--name is required/);
    r = snout(['team', 'create', '--name', 'Y', '--org-id', '99', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no organization with that --org-id/);

    // user create
    r = snout(['user', 'create', '--email', 'Jane@Example.com', '--password', 'a good long password', '--first-name', 'Jane', '--level', 'admin', '--data-dir', d]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /created user \d+ jane@example\.com in organization 1/);
    r = snout(['user', 'create', '--email', 'jane@example.com', '--password', 'another long password', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already exists/);
    r = snout(['user', 'create', '--email', 'short@example.com', '--password', 'abc', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /password is too short/);
    r = snout(['user', 'create', '--email', 'lvl@example.com', '--password', 'a good long password', '--level', 'god', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--level must be member, admin or owner/);
    r = snout(['user', 'create', '--email', 'no-at-sign', '--password', 'a good long password', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /email is not valid/);
    r = snout(['user', 'create', '--email', 'x@example.com', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--email and --password are required/);

    // apikey create
    r = snout(['apikey', 'create', '--email', 'jane@example.com', '--label', 'ci', '--data-dir', d]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^phx_[A-Za-z0-9]{20,}$/);
    const r2 = snout(['apikey', 'create', '--email', 'jane@example.com', '--data-dir', d]);
    assert.notEqual(r2.stdout.trim(), r.stdout.trim(), 'each key is new');
    r = snout(['apikey', 'create', '--email', 'nobody@example.com', '--data-dir', d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no user with that email/);
    assert.equal(r.stdout, '');
  } finally {
    await srv.stop();
    cleanup(d);
  }
});

test('settings: flag beats env beats config file', async () => {
  const d = tempDir();
  const cfg = join(d, 'snout.conf');
  // 192.0.2.x / 198.51.100.x are TEST-NETs: not local, so binding fails.
  writeFileSync(cfg, '# test config\nlisten = 192.0.2.1:0\nlog_level = "warn"\n');
  const env = { SNOUT_DATA_DIR: join(d, 'data') };
  try {
    // file only: its (wrong) address is used
    let r = snout(['serve', '--config', cfg], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot listen on 192\.0\.2\.1:0/);
    // SNOUT_CONFIG names the file too
    r = snout(['serve'], { ...env, SNOUT_CONFIG: cfg });
    assert.match(r.stderr, /cannot listen on 192\.0\.2\.1:0/);
    // env beats the file
    r = snout(['serve', '--config', cfg], { ...env, SNOUT_LISTEN: '198.51.100.1:0' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot listen on 198\.51\.100\.1:0/);
    // the flag beats both: the server starts on a free port
    const srv = await startServer({ dataDir: join(d, 'data'), env: { SNOUT_LISTEN: '198.51.100.1:0', SNOUT_LOG_LEVEL: 'info' }, args: ['--config', cfg, '--listen', '127.0.0.1:0'] });
    try {
      assert.ok(srv.port > 0);
      assert.match(srv.stderr, /listening on http:\/\/127\.0\.0\.1:0 \(port \d+\)/);
      assert.equal((await fetch(`${srv.url}/_health`)).status, 200);
    } finally { await srv.stop(); }
    // --flag=value form; the file's log_level = warn would hide the
    // "listening" info line that startServer waits for.
    const s2 = await startServer({ dataDir: join(d, 'data'), args: ['--config', cfg, '--listen=127.0.0.1:0', '--log-level=info'] });
    try {
      assert.match(s2.stderr, / info  snout listening/);
    } finally { await s2.stop(); }
    // Without the flag the file's warn level holds: no info lines at all.
    r = snout(['serve', '--config', cfg], { ...env, SNOUT_LISTEN: '198.51.100.1:0' });
    assert.doesNotMatch(r.stderr, / info  /);
  } finally { cleanup(d); }
});

test('bad settings and unknown flags are refused, naming the key', () => {
  const d = tempDir();
  try {
    const env = { SNOUT_DATA_DIR: d, SNOUT_LISTEN: '127.0.0.1:0' };
    let r = snout(['serve', '--event-body-max', 'lots'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--event-body-max: event_body_max: 'lots' is not a size/);
    r = snout(['serve'], { ...env, SNOUT_LOG_LEVEL: 'loud' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /environment variable SNOUT_LOG_LEVEL: log_level: 'loud'/);
    r = snout(['serve', '--http-threads', '99999'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /http_threads/);
    r = snout(['serve', '--trust-proxy', 'maybe'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /trust_proxy: 'maybe' is not a boolean/);
    const cfg = join(d, 'bad.conf');
    writeFileSync(cfg, 'listen = 127.0.0.1:0\nshutdown_grace = forever\n');
    r = snout(['serve', '--config', cfg], { SNOUT_DATA_DIR: d });
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: shutdown_grace: 'forever' is not a duration`));
    writeFileSync(cfg, 'no_such_key = 1\n');
    r = snout(['serve', '--config', cfg], { SNOUT_DATA_DIR: d });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /:1: unknown setting 'no_such_key'/);
    r = snout(['serve', '--config', join(d, 'missing.conf')], { SNOUT_DATA_DIR: d });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read config file/);
    r = snout(['serve', '--no-such-flag'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown flag '--no-such-flag'/);
    r = snout(['serve', 'positional'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unexpected argument 'positional'/);
    r = snout(['serve', '--listen'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /flag '--listen' needs a value/);
    r = snout(['migrate', '--bogus', 'x'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown flag '--bogus'/);
    // Retention is at most 36500 days: 1:200000000 once started a server
    // that deleted all of team 1 within a minute (the cutoff wrapped).
    for (const [args, re] of [
      [['--team-retention', '1:200000000'], /--team-retention: team_retention: days of team 1 must be a whole number from 0 \(keep forever\) to 36500, not '200000000'/],
      [['--team-retention', '1:30,x:5'], /team_retention: 'x:5' is not team:days/],
      [['--team-retention', '0:30'], /team_retention: '0:30' is not team:days/],
      [['--retention-days', '36501'], /--retention-days: retention_days: '36501' is not a number of days from 0 \(keep forever\) to 36500/],
      [['--retention-days', '30x'], /retention_days: '30x'/],
    ]) {
      r = snout(['serve', ...args], env);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re);
    }
    r = snout(['serve'], { ...env, SNOUT_TEAM_RETENTION: '2:99999' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /environment variable SNOUT_TEAM_RETENTION: team_retention: days of team 2/);
  } finally { cleanup(d); }
});

// `snout store delete|ttl` read every number and time exactly or refuse
// with a message and exit 2 before touching the store: atoll once read
// --team 1abc as team 1 (deleting it), an --after past int64 microseconds
// wrapped negative and matched every row, and ttl --days 200000000 wrapped
// into a cutoff in the future that expired everything.
test('store delete/ttl: bad, out-of-range or misplaced options delete nothing', async () => {
  const srv = await startServer();
  const d = srv.dataDir;
  const N = 10; // one event an hour, 2024-01-10T00:00Z to 09:00Z
  const count = () => {
    const r = snout(['query', '--team', '1', '--format', 'tsv', '--data-dir', d, 'SELECT count() FROM events']);
    assert.equal(r.code, 0, r.stderr);
    return Number(r.stdout.trim().split('\n').pop());
  };
  try {
    const batch = Array.from({ length: N }, (_, i) => ({ event: 'tick', distinct_id: 'cli-store',
      timestamp: `2024-01-10T0${i}:00:00Z`, properties: { i } }));
    const res = await fetch(`${srv.url}/batch/`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ api_key: TOKEN, batch }) });
    assert.equal(res.status, 200);
    for (let i = 0; i < 200 && count() < N; i++) await new Promise((ok) => setTimeout(ok, 50));
    assert.equal(count(), N);
    await srv.stop();

    const store = (...args) => snout(['store', ...args, '--data-dir', d]);
    const person = '0190e3c4-0000-7000-8000-000000000000';
    const notTime = /is not a time: give epoch seconds \(1706702400\), YYYY-MM-DD \(UTC midnight\) or RFC 3339 \(2024-01-31T12:00:00Z, 2024-01-31T12:00:00.123456\+02:00\)/;
    for (const [args, re] of [
      [['delete', '--team', '1abc'], /snout store delete: --team must be a positive whole number, not '1abc'/],
      [['delete', '--team', 'abc'], /--team must be a positive whole number, not 'abc'/],
      [['delete', '--team', '-1'], /--team must be a positive whole number, not '-1'/],
      [['delete', '--team', '0'], /--team must be a positive whole number/],
      [['delete', '--team', '99999999999999999999'], /--team must be a positive whole number/],
      [['delete', '--team', ''], /--team must be a positive whole number/],
      [['delete', '--team', '1', '--team', '2'], /--team given twice/],
      [['delete'], /--team is required/],
      [['delete', '--team', '1', '--after', '10000000000000'], /--after: 10000000000000 epoch seconds is out of range \(at most 9223372036854\)/],
      [['delete', '--team', '1', '--before', '99999999999999'], /--before: 99999999999999 epoch seconds is out of range/],
      [['delete', '--team', '1', '--after', '2024-13-45'], notTime],
      [['delete', '--team', '1', '--after', '2024-02-30'], notTime],
      [['delete', '--team', '1', '--after', '2024-01-10T05:00:00.1234567Z'], notTime],
      [['delete', '--team', '1', '--after', '2024-01-10T05:00:00'], notTime],
      [['delete', '--team', '1', '--before', '2024-01-10 05:00:00Z'], notTime],
      [['delete', '--team', '1', '--after', '2024-01-10T05:00:00Z', '--before', '2024-01-10T05:00:00Z'], /empty time range/],
      [['delete', '--team', '1', '--person', 'not-a-uuid'], /--person must be a uuid, not 'not-a-uuid'/],
      [['delete', '--team', '1', '--event', ''], /--event needs an event name/],
      [['delete', '--team', '1', '--days', '30'], /--days does not apply to store delete/],
      [['ttl', '--days', '200000000'], /snout store ttl: --days must be a whole number from 1 to 36500, not '200000000'/],
      [['ttl', '--days', '106752000', '--team', '1'], /--days must be a whole number from 1 to 36500/],
      [['ttl', '--days', '1x'], /--days must be a whole number from 1 to 36500, not '1x'/],
      [['ttl', '--days', 'abc'], /--days must be/],
      [['ttl', '--days', '0'], /--days must be/],
      [['ttl', '--days', '-5'], /--days must be/],
      [['ttl'], /--days is required/],
      [['ttl', '--days', '1', '--team', '1x'], /--team must be a positive whole number, not '1x'/],
      [['ttl', '--days', '1', '--person', person], /--person does not apply to store ttl/],
      [['ttl', '--days', '1', '--before', '2024-01-10'], /--before does not apply to store ttl/],
      [['stats', '--team', '5'], /--team does not apply to store stats/],
    ]) {
      const r = store(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      assert.equal(count(), N, `${args.join(' ')} deleted nothing`);
    }

    // In range but past every event: nothing matches.
    for (const args of [['delete', '--team', '1', '--after', '9223372036854'],
      ['delete', '--team', '1', '--after', '9999-12-31T23:59:59.999999Z'],
      ['ttl', '--days', '36500'], ['ttl', '--days', '36500', '--team', '1']]) {
      const r = store(...args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).rows_deleted, 0, args.join(' '));
      assert.equal(count(), N);
    }

    // RFC 3339 with offsets and fractions means exactly the instant it says:
    // after 07:30Z (09:30+02:00), before 09:00:00.5Z (04:00:00.5-05:00).
    let r = store('delete', '--team', '1', '--after', '2024-01-10T09:30:00+02:00', '--before', '2024-01-10T04:00:00.5-05:00');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).rows_deleted, 2); // 08:00 and 09:00
    r = store('delete', '--team', '1', '--after', '2024-01-10T06:59:59.999999Z', '--before', '2024-01-10T07:00:00.000001z');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).rows_deleted, 1); // 07:00
    r = store('delete', '--team', '1', '--before', '1704847500'); // 00:45Z in epoch seconds
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).rows_deleted, 1); // 00:00
    assert.equal(count(), N - 4);
    r = store('verify');
    assert.equal(r.code, 0, r.stdout + r.stderr);
  } finally {
    await srv.stop();
    cleanup(d);
  }
});

// The other commands' ids and counts go through the same strict parsing.
test('numeric options of the other commands are whole numbers or an error', () => {
  const d = tempDir();
  try {
    for (const [args, re] of [
      [['team', 'create', '--name', 'X', '--org-id', '1abc'], /snout team create: --org-id must be a positive whole number, not '1abc'/],
      [['user', 'create', '--email', 'a@b.c', '--password', 'long enough pw', '--org-id', '-3'], /snout user create: --org-id must be a positive whole number, not '-3'/],
      [['query', '--team', '1abc', 'SELECT 1'], /snout query: --team must be a positive whole number, not '1abc'/],
      [['query', '--team', '1', '--time-limit-ms', '5x', 'SELECT 1'], /--time-limit-ms must be a whole number from 1 to 86400000, not '5x'/],
      [['query', '--team', 'abc', '--insight', '-'], /--team must be a positive whole number, not 'abc'/],
      [['wal', 'dump', '--from', '12x'], /snout wal: --from must be a whole number of at least 0, not '12x'/],
      [['persons', 'import', '--team', '1x', '/dev/null'], /snout persons import: --team must be a positive whole number, not '1x'/],
    ]) {
      const r = snout(args, { SNOUT_DATA_DIR: d });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    let r = snout(['hogql', 'clickhouse', '--team', '1x', 'SELECT 1']);
    assert.equal(r.code, 2);
    r = snout(['hogql', 'clickhouse', '--cohort', '3x:c', 'SELECT 1 FROM events WHERE person_id IN COHORT 3']);
    assert.equal(r.code, 2);
    r = snout(['hogql', 'clickhouse', '--team', '7', '--cohort', '3:c', 'SELECT 1 FROM events WHERE person_id IN COHORT 3']);
    assert.equal(r.code, 0, r.stderr);
  } finally { cleanup(d); }
});

test('first start prints the credentials once; bootstrap env values are used', async () => {
  const srv = await startServer();
  const d = srv.dataDir;
  try {
    await srv.waitStdout(/admin password:/);
    assert.match(srv.stdout, new RegExp(`project API key \\(SDKs\\):\\s+${TOKEN}\\n`));
    assert.match(srv.stdout, new RegExp(`personal API key \\(API\\):\\s+${API_KEY}\\n`));
    assert.match(srv.stdout, /admin login:\s+admin@example\.com/);
    assert.match(srv.stdout, /admin password:\s+\(from SNOUT_BOOTSTRAP_PASSWORD\)/);
    assert.doesNotMatch(srv.stdout, /correct horse battery/, 'the given password is not echoed');
    assert.equal(await sendOne(srv.url, TOKEN), 200);
    await srv.stop();
    const again = await startServer({ dataDir: d, env: { SNOUT_BOOTSTRAP_TOKEN: 'phc_some_other_token' } });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.doesNotMatch(again.stdout, /API key/);
      assert.doesNotMatch(again.stdout, /phc_|phx_/);
      assert.match(again.stderr, /SNOUT_BOOTSTRAP_\* variables ignored/);
      assert.equal(await sendOne(again.url, TOKEN), 200, 'the first token still works');
      assert.equal(await sendOne(again.url, 'phc_some_other_token'), 401, 'the later bootstrap value was not applied');
    } finally { await again.stop(); }
  } finally {
    await srv.stop(); // no-op once stopped; a failed assertion must not leak the server
    cleanup(d);
  }
});

test('without bootstrap env a token, key and password are generated and work', async () => {
  const srv = await startServer({ env: { SNOUT_BOOTSTRAP_TOKEN: '', SNOUT_BOOTSTRAP_API_KEY: '', SNOUT_BOOTSTRAP_EMAIL: '', SNOUT_BOOTSTRAP_PASSWORD: '' } });
  try {
    await srv.waitStdout(/admin password:/);
    const tok = /project API key \(SDKs\):\s+(phc_\S+)/.exec(srv.stdout)?.[1];
    assert.ok(tok, srv.stdout);
    assert.notEqual(tok, TOKEN);
    assert.match(srv.stdout, /personal API key \(API\):\s+phx_\S{20,}/);
    assert.match(srv.stdout, /admin login:\s+admin@snout\.local/);
    assert.match(srv.stdout, /admin password:\s+\S{12,}/);
    assert.equal(await sendOne(srv.url, tok), 200);
    assert.equal(await sendOne(srv.url, TOKEN), 401);
  } finally {
    await srv.stop();
    cleanup(srv.dataDir);
  }
});

test('a second server on the same data directory fails with "in use"', async () => {
  const srv = await startServer();
  try {
    await assert.rejects(startServer({ dataDir: srv.dataDir }), /data directory .* is in use by another snout process/);
    const r = snout(['serve', '--data-dir', srv.dataDir, '--listen', '127.0.0.1:0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /in use/);
    // The first one is unaffected.
    assert.equal(await sendOne(srv.url, TOKEN), 200);
  } finally {
    await srv.stop();
    cleanup(srv.dataDir);
  }
});

test('hogql clickhouse: --cohort gives IN COHORT its ids, names and kinds', () => {
  const q = "SELECT count() FROM events WHERE person_id IN COHORT 'Power users' OR person_id IN COHORT 8";
  let r = snout(['hogql', 'clickhouse', '--team', '3', '--cohort', '7:Power users', '--cohort', '8:vip:static', q]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /cohortpeople/, 'the dynamic cohort reads cohortpeople');
  assert.match(r.stdout, /person_static_cohort/, 'the static cohort reads person_static_cohort');
  assert.match(r.stdout, /equals\(cohortpeople\.cohort_id, 7\)/);
  assert.doesNotMatch(r.stdout, /team_id, 1\)/, 'only team 3 is read');
  r = snout(['hogql', 'clickhouse', '--cohort', '7:Power users', "SELECT 1 FROM events WHERE person_id IN COHORT 'nope'"]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /Could not find a cohort with the name 'nope'/);
  r = snout(['hogql', 'clickhouse', '--cohort', 'seven', 'SELECT 1']);
  assert.equal(r.code, 2, 'a malformed --cohort is a usage error');
});

test('hogql --lines: each line answered as the command alone would, errors per line', () => {
  const cmds = [
    ['parse', '--no-positions', 'SELECT 1'],
    ['print', 'select  a from events'],
    ['clickhouse', '--ch-version', '18.16', '--team', '7', '--tz', 'Asia/Tokyo', 'SELECT count() FROM events'],
    ['parse', 'SELECT FROM WHERE'],
    ['resolve', 'SELECT nope FROM events'],
  ];
  const input = [...cmds.map((c) => JSON.stringify(c)), 'not json', '[1]', '["frobnicate"]', '["parse","-"]', ''].join('\n');
  const r = spawnSync(BIN, ['hogql', '--lines'], { input, encoding: 'utf8', timeout: 15000 });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(out.length, cmds.length + 4, r.stdout);
  cmds.forEach((c, k) => {
    const one = snout(['hogql', ...c]);
    assert.deepEqual(out[k], { status: one.code, stdout: one.stdout.replace(/\n$/, '') }, c.join(' '));
  });
  assert.ok(out.slice(0, 3).every((o) => o.status === 0) && out[3].status === 1 && out[4].status === 1);
  assert.match(out[2].stdout, /equals\(events\.team_id, 7\)/);
  assert.deepEqual(out.slice(cmds.length).map((o) => o.status), [2, 2, 2, 2]);
  assert.match(out[cmds.length].error, /invalid JSON/);
  assert.match(out[cmds.length + 1].error, /every argument must be a JSON string/);
  assert.match(out[cmds.length + 2].error, /not a hogql command/);
  assert.match(out[cmds.length + 3].error, /cannot be used with --lines/);
});

test('persons import: a team_id per line; unknown projects and lines without one fail, naming the line', async () => {
  let srv = await startServer();
  const d = srv.dataDir;
  await srv.stop();
  try {
    assert.equal(snout(['team', 'create', '--name', 'Second', '--data-dir', d]).code, 0);
    const file = join(d, 'persons.jsonl');
    writeFileSync(file, [
      { team_id: 1, distinct_ids: ['one-a'], properties: { email: 'a@one' } },
      { team_id: 2, distinct_ids: ['two-b', 'two-c'], properties: { email: 'b@two' } },
      { team_id: 2, group_type: 'company', group_key: 'acme', properties: { name: 'Acme' } },
      { distinct_ids: ['default-d'], properties: { email: 'd@default' } },
    ].map((o) => JSON.stringify(o)).join('\n') + '\n');
    let r = snout(['persons', 'import', '--team', '1', '--data-dir', d, file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 4 persons and groups/);
    for (const [line, want] of [
      [{ team_id: 99, distinct_ids: ['x'] }, /line 2: no project with id 99/],
      [{ team_id: '2', distinct_ids: ['x'] }, /line 2: team_id must be a project id/],
    ]) {
      writeFileSync(file, JSON.stringify({ team_id: 2, distinct_ids: ['ok-first'] }) + '\n' + JSON.stringify(line) + '\n');
      r = snout(['persons', 'import', '--data-dir', d, file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, want);
    }
    writeFileSync(file, JSON.stringify({ distinct_ids: ['x'] }) + '\n');
    r = snout(['persons', 'import', '--data-dir', d, file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 1: no project: give --team or a team_id/);
    r = snout(['persons', 'import', '--team', '99', '--data-dir', d, file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 1: no project with id 99/);

    srv = await startServer({ dataDir: d });
    const q = async (team, sql) => {
      const res = await fetch(`${srv.url}/api/projects/${team}/query/`, { method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ query: { kind: 'HogQLQuery', query: sql } }) });
      assert.equal(res.status, 200);
      return (await res.json()).results;
    };
    const pdi = 'SELECT distinct_id FROM person_distinct_ids ORDER BY distinct_id';
    assert.deepEqual(await q(1, pdi), [['default-d'], ['one-a']]);
    assert.deepEqual(await q(2, pdi), [['ok-first'], ['two-b'], ['two-c']]);
    assert.deepEqual(await q(2, "SELECT properties.email FROM persons ORDER BY properties.email"), [['b@two'], [null]]);
    assert.deepEqual(await q(2, 'SELECT key, properties.name FROM groups'), [['acme', 'Acme']]);
    await srv.stop();
  } finally {
    cleanup(d);
  }
});

test('persons import beside a running server: ingestion stops trusting the persons it merged away', async () => {
  const srv = await startServer();
  const H = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
  const personOf = async (did) => {
    const res = await fetch(`${srv.url}/api/projects/1/persons/?distinct_id=${encodeURIComponent(did)}`, { headers: H });
    return (await res.json()).results[0] || null;
  };
  const until = async (fn) => {
    for (let i = 0; i < 150; i++) { const v = await fn(); if (v) return v; await new Promise((r) => setTimeout(r, 100)); }
    throw new Error('timed out');
  };
  const send = (batch) => fetch(`${srv.url}/batch/`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api_key: TOKEN, batch }) });
  try {
    // "anon" gets a person of its own, which ingestion's cache now holds.
    assert.equal((await send([{ event: 'pv', distinct_id: 'anon', properties: {} }])).status, 200);
    const old = await until(() => personOf('anon'));
    await new Promise((r) => setTimeout(r, 1500)); // its batch committed
    const file = join(srv.dataDir, 'import.jsonl');
    writeFileSync(file, JSON.stringify({ distinct_ids: ['user-1', 'anon'], properties: { email: 'u@x' } }) + '\n');
    const r = snout(['persons', 'import', '--team', '1', '--data-dir', srv.dataDir, file]);
    assert.equal(r.code, 0, r.stderr);
    const merged = await personOf('anon');
    assert.notEqual(merged.id, old.id); // the import merged anon's person into user-1's
    // An identify naming an unseen id, and a new person to know when both are in.
    assert.equal((await send([
      { event: '$identify', distinct_id: 'anon', properties: { $anon_distinct_id: 'device-2' } },
      { event: 'pv', distinct_id: 'marker', properties: {} },
    ])).status, 200);
    await until(() => personOf('marker'));
    const p = await personOf('device-2');
    assert.ok(p, 'device-2 belongs to no listed person');
    assert.equal(p.id, merged.id);
    assert.deepEqual([...p.distinct_ids].sort(), ['anon', 'device-2', 'user-1']);
  } finally {
    await srv.stop();
    cleanup(srv.dataDir);
  }
});

test('persons import: an error names the file\'s line, blank lines counted, and says what was imported', async () => {
  const srv = await startServer();
  const d = srv.dataDir;
  await srv.stop();
  try {
    const file = join(d, 'persons.jsonl');
    writeFileSync(file, '{"distinct_ids":["a"]}\n\n\r\n{"distinct_ids":[1]}\n{"distinct_ids":["b"]}\n');
    const r = snout(['persons', 'import', '--team', '1', '--data-dir', d, file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 4: distinct_ids must be non-empty strings \(1 earlier line\(s\) imported\)/);
  } finally {
    cleanup(d);
  }
});
