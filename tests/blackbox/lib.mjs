// Shared helpers for the black-box tests: start the real snout binary on a
// free loopback port with a fresh data directory, read back what reached the
// WAL (through `snout wal dump`), and stop it the way an operator would.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export const BIN = process.env.SNOUT_BIN || new URL('../../build/snout', import.meta.url).pathname;
export const TOKEN = 'phc_blackbox_test_token_0123456789';
export const API_KEY = 'phx_blackbox_personal_api_key_0123456789';

export function tempDir(prefix = 'snout-bb-') {
  const base = process.env.SNOUT_TEST_TMP || tmpdir();
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}

// Starts `snout serve` and resolves once it listens. opts.dataDir reuses a
// directory (restart tests); opts.env and opts.args add settings.
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir || tempDir();
  const env = {
    ...process.env,
    SNOUT_DATA_DIR: dataDir,
    SNOUT_LISTEN: '127.0.0.1:0',
    SNOUT_BOOTSTRAP_TOKEN: TOKEN,
    SNOUT_BOOTSTRAP_API_KEY: API_KEY,
    SNOUT_BOOTSTRAP_EMAIL: 'admin@example.com',
    SNOUT_BOOTSTRAP_PASSWORD: 'correct horse battery',
    // Keep ingested WAL segments so the tests can read every accepted record.
    SNOUT_WAL_KEEP_SIZE: '1GiB',
    ...(opts.env || {}),
  };
  const child = spawn(BIN, ['serve', ...(opts.args || [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`snout did not start:\n${stderr}`)); }, 15000);
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = /listening on \S+ \(port (\d+)\)/.exec(stderr);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`snout exited with ${code}:\n${stderr}`)); });
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child, port, dataDir, exited,
    url: `http://127.0.0.1:${port}`,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    // stdout and stderr are separate pipes: what the server printed to
    // stdout before its "listening" line on stderr may still be in flight.
    async waitStdout(re, ms = 10000) {
      const until = Date.now() + ms;
      while (!re.test(stdout) && Date.now() < until) await sleep(20);
      return stdout;
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      return exited;
    },
  };
}

// Every WAL record as {lsn, type, record} (an event, type 1 or 4, as its JSON).
export function walDump(dataDir) {
  const r = spawnSync(BIN, ['wal', 'dump', '--from', '0', '--data-dir', dataDir], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`wal dump failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

export function walEvents(dataDir) {
  return walDump(dataDir).filter((r) => r.type === 1 || r.type === 4).map((r) => r.record);
}

export function cleanup(dir) {
  if (!process.env.SNOUT_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
}

export async function post(url, body, headers = {}) {
  const res = await fetch(url, { method: 'POST', body, headers });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json, headers: res.headers };
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
