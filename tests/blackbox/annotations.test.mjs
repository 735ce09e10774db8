// Annotations and actions through PostHog's REST paths with a personal API
// key: create, list (order, search, scope, pagination), PATCH, soft delete,
// activity, validation errors that name the field, organization-scoped
// annotations seen from a sibling project, and another organization's
// project refused with 403.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, cleanup, post, BIN, API_KEY, TOKEN } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ env: { SNOUT_ACCESS_LOG: 'false' } }); });
after(async () => {
  // A clean exit: under ASan (SNOUT_BIN=snout_asan) a leak or error fails it.
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr.slice(-4000));
  cleanup(srv.dataDir);
});

async function api(method, path, body, key = API_KEY) {
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(srv.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* empty or not JSON */ }
  return { status: res.status, json, text };
}

const ANN = '/api/projects/1/annotations/';
const ACT = '/api/projects/1/actions/';

test('annotations: create, fetch, list newest first, patch, soft delete, activity', async () => {
  let r = await api('POST', ANN, { content: 'v1 released', date_marker: '2024-05-01T12:00:00+02:00', scope: 'project' });
  assert.equal(r.status, 201, r.text);
  const a = r.json;
  assert.equal(a.content, 'v1 released');
  assert.equal(a.date_marker, '2024-05-01T10:00:00.000Z');
  assert.equal(a.creation_type, 'USR');
  assert.equal(a.scope, 'project');
  assert.equal(a.dashboard_item, null);
  assert.equal(a.deleted, false);
  assert.equal(a.created_by.email, 'admin@example.com');
  for (const k of ['id', 'created_at', 'updated_at', 'insight_short_id', 'dashboard_id']) assert.ok(k in a, k);

  r = await api('POST', ANN, { content: 'older', date_marker: '2024-01-01' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.scope, 'dashboard_item');
  const older = r.json;
  r = await api('POST', '/api/environments/1/annotations/', { content: 'newest deploy', date_marker: '2024-09-01T00:00:00Z', creation_type: 'GIT' });
  assert.equal(r.status, 201, r.text);
  const newest = r.json;

  r = await api('GET', ANN);
  assert.equal(r.status, 200);
  assert.equal(r.json.count, 3);
  assert.deepEqual(r.json.results.map((x) => x.id), [newest.id, a.id, older.id]);
  assert.equal(r.json.next, null);
  assert.equal(r.json.previous, null);

  r = await api('GET', `${ANN}${a.id}/`);
  assert.equal(r.status, 200);
  assert.equal(r.json.content, 'v1 released');

  r = await api('PATCH', `${ANN}${a.id}/`, { content: 'v1.0 released', dashboard_item: 12 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.content, 'v1.0 released');
  assert.equal(r.json.dashboard_item, 12);
  assert.equal(r.json.date_marker, a.date_marker);

  // Search (case-insensitive) and scope filters.
  r = await api('GET', `${ANN}?search=DEPLOY`);
  assert.deepEqual(r.json.results.map((x) => x.id), [newest.id]);
  r = await api('GET', `${ANN}?scope=project`);
  assert.deepEqual(r.json.results.map((x) => x.id), [a.id]);

  // Soft delete by PATCH and by DELETE (PostHog answers 405 to DELETE).
  r = await api('PATCH', `${ANN}${older.id}/`, { deleted: true });
  assert.equal(r.status, 200);
  assert.equal(r.json.deleted, true);
  assert.equal((await api('DELETE', `${ANN}${newest.id}/`)).status, 204);
  assert.equal((await api('DELETE', `${ANN}${newest.id}/`)).status, 404);
  r = await api('GET', ANN);
  assert.deepEqual(r.json.results.map((x) => x.id), [a.id]);
  r = await api('GET', `${ANN}${newest.id}/`);
  assert.equal(r.status, 200);
  assert.equal(r.json.deleted, true);

  r = await api('GET', `${ANN}${a.id}/activity/`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results.map((x) => x.activity), ['updated', 'created']);
  assert.equal(r.json.results[0].scope, 'Annotation');
  const fields = r.json.results[0].detail.changes.map((c) => c.field).sort();
  assert.deepEqual(fields, ['content', 'dashboard_item']);
  assert.equal(r.json.results[0].user.email, 'admin@example.com');
  r = await api('GET', `${ANN}${newest.id}/activity/`);
  assert.equal(r.json.results[0].activity, 'deleted');

  // Clean up for the other tests.
  assert.equal((await api('DELETE', `${ANN}${a.id}/`)).status, 204);
});

test('annotations: validation errors name the field', async () => {
  const cases = [
    [{ date_marker: 'last tuesday' }, 'date_marker', 'invalid'],
    [{ scope: 'galaxy' }, 'scope', 'invalid_choice'],
    [{ creation_type: 'BOT' }, 'creation_type', 'invalid_choice'],
    [{ content: 'x'.repeat(401) }, 'content', 'max_length'],
    [{ dashboard_item: 'abc' }, 'dashboard_item', 'incorrect_type'],
  ];
  for (const [body, attr, code] of cases) {
    const r = await api('POST', ANN, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.type, 'validation_error');
    assert.equal(r.json.attr, attr);
    assert.equal(r.json.code, code);
    assert.ok(r.json.detail.length > 5);
  }
  assert.equal((await api('POST', ANN, { content: 'x'.repeat(400) })).status, 201);
  let r = await post(srv.url + ANN, '{not json', { Authorization: `Bearer ${API_KEY}` });
  assert.equal(r.status, 400);
  r = await api('GET', ANN);
  for (const x of r.json.results) await api('DELETE', `${ANN}${x.id}/`);
});

test('annotations: pagination with next/previous links', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await api('POST', ANN, { content: `page note ${i}`, date_marker: `2024-0${i + 1}-01T00:00:00Z` });
    assert.equal(r.status, 201);
  }
  let r = await api('GET', `${ANN}?limit=2&search=page`);
  assert.equal(r.json.count, 5);
  assert.equal(r.json.results.length, 2);
  assert.deepEqual(r.json.results.map((x) => x.content), ['page note 4', 'page note 3']);
  assert.equal(r.json.previous, null);
  const seen = r.json.results.map((x) => x.content);
  while (r.json.next) {
    const u = new URL(r.json.next);
    assert.equal(u.searchParams.get('search'), 'page');
    r = await api('GET', u.pathname + u.search);
    assert.equal(r.status, 200);
    assert.ok(r.json.previous);
    seen.push(...r.json.results.map((x) => x.content));
  }
  assert.deepEqual(seen, [4, 3, 2, 1, 0].map((i) => `page note ${i}`));
});

test('annotations: organization scope, other projects and organizations', async (t) => {
  // A second project of the same organization, made with the CLI.
  const out = execFileSync(BIN, ['team', 'create', '--name', 'second'], { env: { ...process.env, SNOUT_DATA_DIR: srv.dataDir } }).toString();
  const team2 = Number(/created team (\d+)/.exec(out)[1]);
  let r = await api('POST', ANN, { content: 'org-wide outage', scope: 'organization', date_marker: '2030-01-01' });
  assert.equal(r.status, 201);
  const org = r.json;
  r = await api('POST', ANN, { content: 'project one only', scope: 'project', date_marker: '2030-01-01' });
  const own = r.json;
  r = await api('GET', `/api/projects/${team2}/annotations/`);
  assert.equal(r.status, 200, r.text);
  const ids = r.json.results.map((x) => x.id);
  assert.ok(ids.includes(org.id));
  assert.ok(!ids.includes(own.id));
  assert.equal((await api('GET', `/api/projects/${team2}/annotations/${own.id}/`)).status, 404);
  assert.equal((await api('GET', `/api/projects/${team2}/annotations/${org.id}/`)).status, 200);

  // Auth.
  assert.equal((await api('GET', ANN, undefined, null)).status, 401);
  assert.equal((await api('GET', ANN, undefined, 'phx_nope_nope_nope_nope')).status, 401);
  r = await api('GET', '/api/projects/999/annotations/');
  assert.equal(r.status, 403);
  assert.equal(r.json.results, undefined);
  assert.equal((await api('GET', `${ANN}999999/`)).status, 404);
  assert.equal((await api('GET', `${ANN}abc/`)).status, 404);

  // A project of another organization (made directly in the metadata
  // database: no CLI command creates organizations).
  try {
    execFileSync('sqlite3', [`${srv.dataDir}/meta.sqlite3`,
      "PRAGMA busy_timeout=5000; INSERT INTO posthog_organization (uuid, name, created_at, updated_at) VALUES ('0190a000-0000-7000-8000-0000000000aa', 'other', 0, 0);" +
      "INSERT INTO posthog_team (uuid, organization_id, name, api_token, created_at, updated_at) VALUES ('0190a000-0000-7000-8000-0000000000bb', last_insert_rowid(), 'other', 'phc_other_org_token_0123456789', 0, 0);" +
      "SELECT MAX(id) FROM posthog_team;"]);
  } catch {
    t.skip('no sqlite3 command to create a second organization');
    return;
  }
  const otherTeam = team2 + 1;
  r = await api('GET', `/api/projects/${otherTeam}/annotations/`);
  assert.equal(r.status, 403);
  r = await api('POST', `/api/projects/${otherTeam}/actions/`, { name: 'nope' });
  assert.equal(r.status, 403);
  assert.equal((await api('GET', `/api/projects/${otherTeam}/annotations/${org.id}/`)).status, 403);
});

test('actions: create, list, patch, unique names, soft delete, validation', async () => {
  const steps = [
    { event: '$pageview', url: '/checkout', url_matching: 'contains' },
    { event: '$autocapture', selector: 'button.buy', text: 'Buy', text_matching: 'exact', properties: [{ key: 'plan', value: 'pro', type: 'event', operator: 'exact' }] },
  ];
  let r = await api('POST', ACT, { name: 'Checkout', description: 'bought', tags: ['money'], steps, post_to_slack: true, slack_message_format: '[user] bought' });
  assert.equal(r.status, 201, r.text);
  const a = r.json;
  assert.equal(a.name, 'Checkout');
  assert.equal(a.steps.length, 2);
  assert.equal(a.steps[0].url, '/checkout');
  assert.equal(a.steps[1].selector, 'button.buy');
  assert.equal(a.steps[1].url_matching, 'contains');
  assert.equal(a.steps[1].properties[0].key, 'plan');
  assert.deepEqual(a.tags, ['money']);
  assert.equal(a.post_to_slack, true);
  assert.equal(a.slack_message_format, '[user] bought');
  assert.equal(a.created_by.email, 'admin@example.com');
  assert.equal(a.deleted, false);

  r = await api('POST', ACT, { name: 'Checkout' });
  assert.equal(r.status, 400);
  assert.equal(r.json.attr, 'name');
  assert.equal(r.json.code, 'unique');
  assert.match(r.json.detail, new RegExp(`ID ${a.id}`));

  r = await api('POST', '/api/environments/1/actions/', { name: 'Signed up', steps: [{ event: 'signup' }] });
  assert.equal(r.status, 201);
  const b = r.json;
  r = await api('GET', ACT);
  assert.equal(r.json.count, 2);
  assert.deepEqual(r.json.results.map((x) => x.id), [b.id, a.id]);
  r = await api('GET', `${ACT}?limit=1&offset=1`);
  assert.deepEqual(r.json.results.map((x) => x.id), [a.id]);
  assert.ok(r.json.previous);
  assert.equal(r.json.next, null);
  r = await api('GET', `${ACT}?search=sign`);
  assert.deepEqual(r.json.results.map((x) => x.id), [b.id]);

  r = await api('PATCH', `${ACT}${b.id}/`, { steps: [{ url: '^/welcome/\\d+$', url_matching: 'regex' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.steps[0].url_matching, 'regex');
  r = await api('GET', `${ACT}${b.id}/activity/`);
  assert.deepEqual(r.json.results.map((x) => x.activity), ['updated', 'created']);
  assert.equal(r.json.results[0].detail.changes[0].field, 'steps');

  const bad = [
    [{ description: 'no name' }, 'name', 'required'],
    [{ name: 'x', steps: 'click' }, 'steps', 'not_a_list'],
    [{ name: 'x', steps: [42] }, 'steps', 'invalid_input'],
    [{ name: 'x', steps: [{ url: '/a', url_matching: 'fuzzy' }] }, 'steps', 'invalid_input'],
    [{ name: 'x', steps: [{ url: '(', url_matching: 'regex' }] }, 'steps', 'invalid_regex'],
    [{ name: 'x', tags: 'one' }, 'tags', 'not_a_list'],
  ];
  for (const [body, attr, code] of bad) {
    r = await api('POST', ACT, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.attr, attr, JSON.stringify(body));
    assert.equal(r.json.code, code, JSON.stringify(body));
  }

  assert.equal((await api('DELETE', `${ACT}${a.id}/`)).status, 204);
  assert.equal((await api('GET', `${ACT}${a.id}/`)).status, 404);
  r = await api('GET', ACT);
  assert.deepEqual(r.json.results.map((x) => x.id), [b.id]);
  // The name is free again.
  assert.equal((await api('POST', ACT, { name: 'Checkout' })).status, 201);
  r = await api('PATCH', `${ACT}${b.id}/`, { deleted: true });
  assert.equal(r.status, 200);
  assert.equal(r.json.deleted, true);
  assert.equal((await api('PUT', ACT, {})).status, 405);
});

// PostHog's steps_to_expr: href is the chain's first href="…", text any of
// its text="…", a regex matches anywhere in them (unanchored), and an action
// without steps matches every event.
test('actions: href and text matching and empty steps as PostHog', async () => {
  const chains = [
    'span:nth-child="1"nth-of-type="1"text="Sign up now";a:href="/docs/start"nth-child="2"nth-of-type="1";a:href="/outer"nth-child="1"nth-of-type="1"',
    'button:nth-child="1"nth-of-type="1"text="Buy"',
  ];
  const batch = chains.map((c, i) => ({ event: '$autocapture', distinct_id: 'act-el', properties: { k: `c${i}`, $elements_chain: c } }));
  let r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: TOKEN, batch }), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 200, r.text);
  const q = (query) => api('POST', '/api/projects/1/query/', { query: { kind: 'HogQLQuery', query } });
  for (let i = 0; i < 100; i++) {
    r = await q("select count() from events where distinct_id = 'act-el'");
    if (r.json?.results?.[0]?.[0] === chains.length) break;
    await new Promise((s) => setTimeout(s, 100));
  }
  const cases = [
    [{ text: '^Sign', text_matching: 'regex' }, ['c0']],
    [{ text: 'Bu', text_matching: 'regex' }, ['c1']],
    [{ text: 'now$', text_matching: 'regex' }, ['c0']],
    [{ text: 'SIGN UP', text_matching: 'contains' }, ['c0']],
    [{ text: 'Buy' }, ['c1']],
    [{ href: '^/docs', href_matching: 'regex' }, ['c0']],
    [{ href: '/docs/start', href_matching: 'exact' }, ['c0']],
    [{ href: '/outer' }, []], // not the first href
    // element property filters: property_to_expr, the same unanchored regex
    [{ properties: [{ type: 'element', key: 'text', operator: 'regex', value: '^Sign' }] }, ['c0']],
    [{ properties: [{ type: 'element', key: 'href', operator: 'regex', value: 'docs' }] }, ['c0']],
    [{ properties: [{ type: 'element', key: 'href', operator: 'not_regex', value: '^/docs' }] }, ['c1']],
  ];
  let n = 0;
  for (const [step, want] of cases) {
    const a = await api('POST', ACT, { name: `element match ${n++}`, steps: [{ event: '$autocapture', ...step }] });
    assert.equal(a.status, 201, a.text);
    r = await q(`select properties.k from events where distinct_id = 'act-el' and matchesAction(${a.json.id}) order by 1`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results.map((x) => x[0]), want, JSON.stringify(step));
  }
  const e = await api('POST', ACT, { name: 'no steps', steps: [] });
  assert.equal(e.status, 201, e.text);
  r = await q(`select count() from events where distinct_id = 'act-el' and matchesAction(${e.json.id})`);
  assert.deepEqual(r.json.results, [[chains.length]]);
});
