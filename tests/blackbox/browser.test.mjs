// posthog-js in a real browser: headless Chromium (Debian's `chromium`,
// driven by playwright-core) loads a page from this test's own loopback HTTP
// server, the page loads posthog-js from node_modules (no CDN) and inits it
// against snout. Checked: flags arrive on init (onFeatureFlags),
// isFeatureEnabled / getFeatureFlag / getFeatureFlagPayload agree with
// /flags for the same distinct id, identify() keeps an experience-continuity
// variant, and the $pageview posthog-js captures is stored (query API).
// Skips, saying why, only when Chromium cannot be started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { startServer, cleanup, post, sleep, TOKEN, API_KEY } from './lib.mjs';

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.SNOUT_CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);

let srv, web, webUrl, browser, skipReason = null;

function posthogBundle() {
  // The bundle that carries every extension, so nothing is fetched from a CDN.
  let dir;
  try {
    dir = require.resolve('posthog-js/package.json').replace(/package\.json$/, '');
  } catch {
    throw new Error('posthog-js is not installed: run `npm ci` in tests/blackbox');
  }
  return readFileSync(`${dir}dist/array.full.no-external.js`);
}

const page = (snout) => `<!doctype html>
<html><head><meta charset="utf-8"><title>snout browser test</title></head>
<body><h1>snout</h1>
<script src="/posthog.js"></script>
<script>
  window.__flags = null;
  window.__errors = [];
  posthog.init(${JSON.stringify(TOKEN)}, {
    api_host: ${JSON.stringify(snout)},
    person_profiles: 'always',
    request_batching: false,
    autocapture: false,
    disable_session_recording: true,
    disable_surveys: true,
    advanced_disable_toolbar_metrics: true,
    persistence: 'localStorage',
    // Headless Chromium says "HeadlessChrome": posthog-js drops a bot's events.
    opt_out_useragent_filter: true,
  });
  posthog.onFeatureFlags((flags, variants, ctx) => {
    window.__flags = { flags, variants, errors: !!(ctx && ctx.errorsLoading), distinctId: posthog.get_distinct_id() };
  });
</script></body></html>`;

before(async () => {
  srv = await startServer({ env: { SNOUT_ACCESS_LOG: 'false' } });
  const js = posthogBundle();
  web = createServer((req, res) => {
    if (req.url === '/posthog.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(js);
    } else if (req.url === '/' || req.url.startsWith('/?')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page(srv.url));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => web.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${web.address().port}`;
  if (!CHROMIUM) {
    skipReason = 'chromium is not installed (scripts/deps.sh test installs Debian\'s chromium)';
    return;
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new Error('playwright-core is not installed: run `npm ci` in tests/blackbox');
  }
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 30000 });
  } catch (e) {
    skipReason = `chromium (${CHROMIUM}) could not start: ${String(e.message).split('\n')[0]}`;
  }
});

after(async () => {
  if (browser) await browser.close();
  if (web) await new Promise((resolve) => web.close(resolve));
  await srv.stop();
  cleanup(srv.dataDir);
});

async function api(method, path, body) {
  const res = await fetch(srv.url + path, { method, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : null };
}

async function createFlag(body) {
  const r = await api('POST', '/api/projects/1/feature_flags/', body);
  assert.equal(r.status, 201, r.text);
}

async function serverFlags(distinctId, extra = {}) {
  const r = await post(`${srv.url}/flags/?v=2`, JSON.stringify({ token: TOKEN, distinct_id: distinctId, ...extra }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200, r.text);
  return r.json.flags;
}

async function eventually(check, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    try { return await check(); } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(200);
    }
  }
}

// A /flags body as posthog-js sent it: gzip, base64 form or JSON.
function decodeBody({ body, url }) {
  let b = body;
  if (b[0] === 0x1f && b[1] === 0x8b) b = gunzipSync(b);
  let text = b.toString('utf8');
  if (text.startsWith('data=')) text = Buffer.from(decodeURIComponent(text.slice(5)), 'base64').toString('utf8');
  else if (/compression=base64/.test(url)) text = Buffer.from(text, 'base64').toString('utf8');
  return JSON.parse(text);
}

const VARIANTS = { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] };

test('posthog-js in Chromium: flags on init match /flags, identify keeps continuity, $pageview stored', async (t) => {
  if (skipReason) {
    t.skip(skipReason);
    return;
  }
  await createFlag({ key: 'browser-half', filters: { groups: [{ properties: [], rollout_percentage: 50 }], payloads: { true: '{"cta":"try"}' } } });
  await createFlag({ key: 'browser-mv', filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: VARIANTS,
    payloads: { control: '"c"', test: '{"t":1}' } } });
  await createFlag({ key: 'browser-on', filters: { groups: [{ properties: [], rollout_percentage: 100 }] } });
  // A person-property flag on what posthog-js sends itself in person_properties.
  await createFlag({ key: 'browser-lib', filters: { groups: [{ properties: [{ key: '$lib', type: 'person', operator: 'exact', value: 'web' }] }] } });
  await createFlag({ key: 'browser-exp', ensure_experience_continuity: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: VARIANTS } });

  const ctx = await browser.newContext();
  const tab = await ctx.newPage();
  const failures = [];
  tab.on('requestfailed', (r) => failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  tab.on('response', (r) => { if (r.url().startsWith(srv.url) && r.status() >= 400) failures.push(`${r.status()} ${r.url()}`); });
  const flagRequests = [];
  tab.on('request', (r) => {
    if (r.url().startsWith(srv.url) && /\/(flags|decide)\b/.test(new URL(r.url()).pathname) && r.method() === 'POST')
      flagRequests.push({ url: r.url(), body: r.postDataBuffer(), type: r.headers()['content-type'] });
  });
  const pageErrors = [];
  tab.on('pageerror', (e) => pageErrors.push(String(e)));
  try {
    await tab.goto(webUrl + '/', { waitUntil: 'load' });
    const loaded = await (await tab.waitForFunction(() => window.__flags, null, { timeout: 20000 })).jsonValue();
    assert.equal(loaded.errors, false, 'flags loaded without errors');
    const did = loaded.distinctId;
    assert.ok(did, 'posthog-js has a distinct id');

    // posthog-js holds what /flags answers for the request it sent (the
    // same body replayed: its distinct id and the person properties it adds).
    assert.ok(flagRequests.length >= 1, 'posthog-js asked /flags');
    const sent = flagRequests[0];
    const replay = await fetch(sent.url, { method: 'POST', body: sent.body, headers: sent.type ? { 'Content-Type': sent.type } : {} });
    assert.equal(replay.status, 200);
    const server = (await replay.json()).flags;
    const sentBody = decodeBody(sent);
    assert.equal(sentBody.distinct_id, did);
    assert.equal(sentBody.person_properties?.$lib, 'web');
    const direct = await serverFlags(did, { person_properties: sentBody.person_properties });
    for (const k of Object.keys(server))
      assert.deepEqual([direct[k].enabled, direct[k].variant], [server[k].enabled, server[k].variant], `/flags for ${did}: ${k}`);
    const enabledKeys = Object.keys(server).filter((k) => server[k].enabled).sort();
    assert.deepEqual(Object.keys(loaded.variants).sort(), enabledKeys, 'onFeatureFlags lists the enabled flags');
    assert.deepEqual(Object.keys(server).sort(), ['browser-exp', 'browser-half', 'browser-lib', 'browser-mv', 'browser-on']);
    for (const [key, f] of Object.entries(server)) {
      const want = f.variant ?? f.enabled;
      if (f.enabled) assert.deepEqual(loaded.variants[key], want, `onFeatureFlags ${key}`);
      const got = await tab.evaluate((k) => ({ enabled: posthog.isFeatureEnabled(k, { send_event: false }),
        value: posthog.getFeatureFlag(k, { send_event: false }), payload: posthog.getFeatureFlagPayload(k) ?? null }), key);
      assert.equal(got.enabled, f.enabled, `isFeatureEnabled ${key}`);
      assert.deepEqual(got.value, want, `getFeatureFlag ${key}`);
      const p = f.enabled ? f.metadata.payload : null;
      assert.deepEqual(got.payload, p === null ? null : JSON.parse(p), `getFeatureFlagPayload ${key}`);
    }
    assert.equal(loaded.variants['browser-on'], true);
    assert.equal(loaded.variants['browser-lib'], true, 'person_properties from posthog-js');

    // The $pageview posthog-js captured on load reaches the store.
    const q = async (sql) => {
      const r = await post(`${srv.url}/api/projects/1/query/`, JSON.stringify({ query: { kind: 'HogQLQuery', query: sql } }),
        { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
      assert.equal(r.status, 200, r.text);
      return r.json.results;
    };
    const rows = await eventually(async () => {
      const res = await q(`select event, properties.$current_url, properties.$lib from events where distinct_id = '${did}' and event = '$pageview'`);
      assert.ok(res.length >= 1, 'no $pageview yet');
      return res;
    });
    assert.equal(rows[0][1], webUrl + '/');
    assert.equal(rows[0][2], 'web');

    // identify(): posthog-js reloads flags with $anon_distinct_id; the
    // continuity flag keeps the anonymous bucket, others follow the user.
    const expBefore = loaded.variants['browser-exp'];
    let user = null;
    for (let i = 0; i < 200 && !user; i++) {
      const f = await serverFlags(`browser-user-${i}`);
      if (f['browser-exp'].variant !== expBefore) user = `browser-user-${i}`;
    }
    assert.ok(user, 'an id bucketed into the other variant');
    // The anonymous person must exist for the override to be stored
    // (person_profiles: always; the $pageview above created it).
    await tab.evaluate(() => { window.__flags = null; });
    await tab.evaluate((u) => posthog.identify(u), user);
    const after = await (await tab.waitForFunction(() => window.__flags && window.__flags.distinctId !== null && window.__flags, null, { timeout: 20000 })).jsonValue();
    assert.equal(await tab.evaluate(() => posthog.get_distinct_id()), user);
    const reload = decodeBody(flagRequests[flagRequests.length - 1]);
    assert.equal(reload.distinct_id, user);
    assert.equal(reload.$anon_distinct_id, did, 'posthog-js reloads flags with $anon_distinct_id');
    assert.equal(after.variants['browser-exp'], expBefore, 'continuity after identify');
    assert.equal(await tab.evaluate(() => posthog.getFeatureFlag('browser-exp', { send_event: false })), expBefore);
    assert.deepEqual(after.variants['browser-mv'], (await serverFlags(user))['browser-mv'].variant);
    // Stored on the server: a later request without $anon_distinct_id agrees.
    // Once the $identify is ingested the user's id belongs to that person.
    await eventually(async () => {
      const r = await api('GET', `/api/projects/1/persons/?distinct_id=${encodeURIComponent(user)}`);
      assert.ok(r.json.results[0]?.distinct_ids.includes(did), r.text);
    });
    assert.equal((await serverFlags(user))['browser-exp'].variant, expBefore);

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(failures, []);
  } finally {
    await ctx.close();
  }
});
