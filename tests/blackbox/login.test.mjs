// The web UI's login: POST /api/login sets a session cookie (HttpOnly) and a
// CSRF cookie; the session then authenticates the REST API in place of a
// personal API key — GET as is, unsafe methods only with X-CSRFToken equal
// to the session's token, and only from the server's own Origin. Logout ends
// the session (the old cookie stops working), a deactivated user's session
// stops at once, a member of another organization sees 403, and repeated
// failed logins from one address are locked out.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, cleanup, BIN } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ env: { SNOUT_ACCESS_LOG: 'false' } }); });
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

const EMAIL = 'admin@example.com';
const PASSWORD = 'correct horse battery';
const HOGQL = { query: { kind: 'HogQLQuery', query: 'SELECT 1 + 1' } };

// A tiny cookie jar: name → value from Set-Cookie, Max-Age=0 removes.
function absorb(jar, res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';').map((s) => s.trim());
    const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    if (attrs.some((a) => a.toLowerCase() === 'max-age=0')) delete jar[name];
    else jar[name] = value;
  }
}

async function call(method, path, { jar = {}, body, headers = {} } = {}) {
  const h = { 'Content-Type': 'application/json', ...headers };
  const cookie = Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');
  if (cookie) h.Cookie = cookie;
  const res = await fetch(srv.url + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  absorb(jar, res);
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, res };
}

let failures = 0; // failed logins from this (loopback) address so far
async function login(email = EMAIL, password = PASSWORD, headers = {}) {
  const jar = {};
  const r = await call('POST', '/api/login', { jar, body: { email, password }, headers });
  if (r.status === 400 && r.json?.code === 'invalid_credentials') failures++;
  if (r.status === 200) failures = 0; // a success clears the address's count
  return { r, jar };
}

test('login: cookies, then the session authenticates GET and CSRF-checked POST', async () => {
  const { r, jar } = await login();
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { success: true });
  const raw = r.res.headers.getSetCookie();
  const sess = raw.find((c) => c.startsWith('sessionid='));
  const csrf = raw.find((c) => c.startsWith('posthog_csrftoken='));
  assert.ok(sess && /HttpOnly/.test(sess) && /SameSite=Lax/.test(sess) && /Max-Age=1209600/.test(sess), sess);
  assert.ok(csrf && !/HttpOnly/.test(csrf), csrf);
  assert.match(jar.sessionid, /^[A-Za-z0-9]{43}$/);
  assert.match(jar.posthog_csrftoken, /^[A-Za-z0-9]{32}$/);

  let q = await call('GET', '/api/users/@me/', { jar });
  assert.equal(q.status, 200, q.text);
  assert.equal(q.json.email, EMAIL);
  assert.equal(q.json.is_staff, true);
  q = await call('GET', '/api/projects/1/', { jar });
  assert.equal(q.status, 200, q.text);
  assert.equal(q.json.id, 1);

  // POST without the token, with a wrong one, with the right one.
  q = await call('POST', '/api/projects/1/query/', { jar, body: HOGQL });
  assert.equal(q.status, 403);
  assert.equal(q.json.detail, 'CSRF Failed: CSRF token missing.');
  q = await call('POST', '/api/projects/1/query/', { jar, body: HOGQL, headers: { 'X-CSRFToken': 'x'.repeat(32) } });
  assert.equal(q.status, 403);
  assert.equal(q.json.detail, 'CSRF Failed: CSRF token incorrect.');
  q = await call('POST', '/api/projects/1/query/', { jar, body: HOGQL, headers: { 'X-CSRFToken': jar.posthog_csrftoken } });
  assert.equal(q.status, 200, q.text);
  assert.deepEqual(q.json.results, [[2]]);
  // Another session's CSRF token is not this one's.
  const other = await login();
  q = await call('POST', '/api/projects/1/query/', { jar, body: HOGQL, headers: { 'X-CSRFToken': other.jar.posthog_csrftoken } });
  assert.equal(q.status, 403);

  // Another site's page: refused even for GET; the own origin passes.
  q = await call('GET', '/api/users/@me/', { jar, headers: { Origin: 'http://evil.example' } });
  assert.equal(q.status, 403);
  assert.match(q.json.detail, /^CSRF Failed: Origin checking failed/);
  q = await call('GET', '/api/users/@me/', { jar, headers: { Origin: srv.url } });
  assert.equal(q.status, 200);
  // A login posted from another site (login CSRF) is refused too.
  const foreign = await login(EMAIL, PASSWORD, { Origin: 'http://evil.example' });
  assert.equal(foreign.r.status, 403);
  assert.equal(foreign.jar.sessionid, undefined);

  // A personal API key still works, and decides when both are sent.
  q = await call('GET', '/api/users/@me/', { headers: { Authorization: 'Bearer phx_nope_nope_nope_nope' }, jar: { ...jar } });
  assert.equal(q.status, 401);

  // Logout: needs the token (POST), clears the cookies, ends the session.
  const old = { ...jar };
  q = await call('POST', '/api/logout/', { jar });
  assert.equal(q.status, 403);
  q = await call('POST', '/api/logout/', { jar, headers: { 'X-CSRFToken': jar.posthog_csrftoken } });
  assert.equal(q.status, 200, q.text);
  assert.equal(jar.sessionid, undefined);
  q = await call('GET', '/api/users/@me/', { jar: old });
  assert.equal(q.status, 401);
  assert.equal(q.json.code, 'not_authenticated');
  // The other session lives on.
  assert.equal((await call('GET', '/api/users/@me/', { jar: other.jar })).status, 200);
});

test('login: bad input, wrong passwords, garbage cookies', async () => {
  let r = await call('POST', '/api/login', { body: { email: EMAIL } });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'password');
  r = await call('POST', '/api/login', { body: { password: 'x' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'email');
  r = await fetch(srv.url + '/api/login', { method: 'POST', body: '{nope' });
  assert.equal(r.status, 400);
  r = await call('GET', '/api/login');
  assert.equal(r.status, 405);
  for (const [email, password] of [[EMAIL, 'wrong password'], ['nobody@example.com', PASSWORD]]) {
    const { r: a, jar } = await login(email, password);
    assert.equal(a.status, 400);
    assert.equal(a.json.code, 'invalid_credentials');
    assert.equal(jar.sessionid, undefined);
  }
  for (const sid of ['', 'short', 'A'.repeat(43), 'A'.repeat(44), "'; DROP TABLE snout_session; --"]) {
    r = await call('GET', '/api/users/@me/', { jar: { sessionid: sid } });
    assert.equal(r.status, 401, sid);
  }
});

test('login: another organization, a deactivated user', async () => {
  // A user of a second organization, made in the metadata database and
  // given a password with the CLI's user create (then moved).
  execFileSync(BIN, ['user', 'create', '--email', 'other@example.com', '--password', 'other password 1'], { env: { ...process.env, SNOUT_DATA_DIR: srv.dataDir } });
  let sqliteOk = true;
  try {
    execFileSync('sqlite3', [`${srv.dataDir}/meta.sqlite3`,
      "PRAGMA busy_timeout=5000; INSERT INTO posthog_organization (uuid, name, created_at, updated_at) VALUES ('0190a000-0000-7000-8000-0000000000cc', 'other', 0, 0);" +
      "UPDATE posthog_organizationmembership SET organization_id = last_insert_rowid() WHERE user_id = (SELECT id FROM posthog_user WHERE email = 'other@example.com');"]);
  } catch { sqliteOk = false; }
  const { r, jar } = await login('other@example.com', 'other password 1');
  assert.equal(r.status, 200, r.text);
  assert.equal((await call('GET', '/api/users/@me/', { jar })).json.email, 'other@example.com');
  if (sqliteOk) {
    const q = await call('GET', '/api/projects/1/', { jar });
    assert.equal(q.status, 403);
    assert.equal(q.json.code, 'permission_denied');
    execFileSync('sqlite3', [`${srv.dataDir}/meta.sqlite3`,
      "PRAGMA busy_timeout=5000; UPDATE posthog_user SET is_active = 0 WHERE email = 'other@example.com';"]);
    assert.equal((await call('GET', '/api/users/@me/', { jar })).status, 401);
  }
});

test('login: 30 failures from one address lock it out, even for the right password', async () => {
  assert.ok(failures < 30, String(failures));
  while (failures < 30) assert.equal((await login(EMAIL, `wrong ${failures}`)).r.status, 400);
  const { r, jar } = await login();
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'too_many_failed_attempts');
  assert.equal(jar.sessionid, undefined);
});
