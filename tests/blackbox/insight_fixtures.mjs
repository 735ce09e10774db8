// Loads the insight fixtures of tests/insights/<kind>/*.json into a snout
// server, for tests/blackbox/insights.test.mjs (expected answers) and
// tests/differential/insights.test.mjs (the same statements on ClickHouse):
// every fixture gets its own project (POST /api/projects/ with the
// fixture's time zone), its persons and groups go in with one `snout persons
// import` while the server is stopped, the project's week start,
// test-account filters and path cleaning rules are set with PATCH
// /api/projects/:id/, its cohorts are created (and calculated) with POST
// /api/projects/:id/cohorts/, its actions are created with POST
// /api/projects/:id/actions/ (the action ids of the query and of the
// expected answers follow the new ones), the events go through /batch/, and
// loadFixtures() resolves once every project's events are queryable. Queries run on POST
// /api/projects/:id/query/ with the fixture's frozen "now" (the server runs
// in test mode). The fixture's property_types ({name: type}, PostHog's test
// PropertyDefinition rows of event properties) are declared with POST
// /api/projects/:id/property_definitions/ before its events go in; the
// server does not infer types itself (infer_property_types false), as
// PostHog's tests write events straight into ClickHouse and only the
// definitions a test creates exist.
//
// A fixture whose setup failed carries `setupError`; the caller decides.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, cleanup, post, sleep, API_KEY, BIN, tempDir } from './lib.mjs';

const ROOT = new URL('../insights/', import.meta.url).pathname;

// Fixtures of the given kinds, sorted by file name; filter(fx) picks.
export function readFixtures(kinds = ['trends'], filter = null) {
  const out = [];
  for (const kind of kinds) {
    const dir = join(ROOT, kind);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      const fx = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (filter && !filter(fx)) continue;
      out.push({ ...fx, file: `${kind}/${f}` });
    }
  }
  return out;
}

// Starts a test-mode snout, loads the fixtures (each gets teamId and token)
// and resolves to the running server.
export async function loadFixtures(fixtures, opts = {}) {
  const env = { SNOUT_TEST_MODE: 'true', SNOUT_INFER_PROPERTY_TYPES: 'false' };
  let srv = await startServer({ env });
  const dataDir = srv.dataDir;
  // A project per fixture through POST /api/projects/ (a `snout team create`
  // process each was 40 ms, a minute of loading for all the fixtures).
  for (const fx of fixtures) {
    const r = await fetch(`${srv.url}/api/projects/`, { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ name: `fixture ${fx.name}`, timezone: (fx.team && fx.team.timezone) || 'UTC' }) });
    const j = await r.json();
    if (r.status !== 201) throw new Error(`POST /api/projects/ for ${fx.name}: ${r.status} ${JSON.stringify(j)}`);
    fx.teamId = j.id;
    fx.token = j.api_token;
  }
  await srv.stop();
  const cli = (...args) => {
    const r = spawnSync(BIN, [args[0], args[1], '--data-dir', dataDir, ...args.slice(2)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`snout ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // Persons and groups of every fixture in one `snout persons import` (a
  // team_id on each line): a process per fixture was half the loading time.
  const lines = [], owner = [];
  fixtures.forEach((fx) => {
    const add = (o) => { lines.push(JSON.stringify({ team_id: fx.teamId, ...o })); owner.push(fx); };
    const types = [...(fx.group_types || []), ...(fx.groups || [])]
      .filter((g) => g && typeof g.group_type === 'string')
      .sort((a, b) => (a.group_type_index ?? 0) - (b.group_type_index ?? 0));
    for (const g of types) {
      add({ group_type: g.group_type, group_type_index: g.group_type_index ?? null,
        group_key: g.group_key ?? null, properties: g.properties || {}, created_at: g.created_at || null });
    }
    for (const p of fx.persons || [])
      add({ distinct_ids: p.distinct_ids, properties: p.properties || {}, created_at: p.created_at || null });
  });
  // The import stops at a bad line, having imported the lines before it:
  // that line's fixture gets the error, and the import goes on after it.
  const tmp = tempDir(opts.prefix || 'snout-insights-');
  for (let from = 0; from < lines.length;) {
    const file = join(tmp, `persons-${from}.jsonl`);
    writeFileSync(file, lines.slice(from).join('\n') + '\n');
    try {
      cli('persons', 'import', file);
      break;
    } catch (e) {
      const m = /line (\d+):/.exec(e.message);
      if (!m) throw e;
      const bad = from + Number(m[1]) - 1;
      owner[bad].setupError = e.message;
      from = bad + 1;
    }
  }
  cleanup(tmp);
  srv = await startServer({ dataDir, env: { ...env, SNOUT_STORE_FLUSH_AGE: '200ms' } });
  for (const fx of fixtures) {
    // Cohorts first (the fixtures' are person-property or static ones,
    // whose members are the imported persons): project filters and action
    // steps may name them.
    if (fx.cohorts && fx.cohorts.length && !fx.setupError) await createCohorts(srv, fx);
    const t = fx.team || {};
    const patch = {};
    if (t.week_start_day) patch.week_start_day = t.week_start_day;
    if (t.test_account_filters && t.test_account_filters.length) patch.test_account_filters = t.test_account_filters;
    if (t.path_cleaning_filters && t.path_cleaning_filters.length) patch.path_cleaning_filters = t.path_cleaning_filters;
    if (Object.keys(patch).length) {
      const r = await fetch(`${srv.url}/api/projects/${fx.teamId}/`, { method: 'PATCH',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body: JSON.stringify(patch) });
      if (r.status !== 200) fx.setupError = `PATCH project: ${r.status} ${await r.text()}`;
    }
    // Actions through the REST API; the query's ids follow the new ones.
    const ids = new Map();
    for (const a of fx.actions || []) {
      const r = await fetch(`${srv.url}/api/projects/${fx.teamId}/actions/`, { method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ name: a.name || `action ${a.id}`,
          // PostHog's tests store steps through the ORM, where properties {} means none;
          // the API (PostHog's too) takes a list
          steps: (a.steps || []).map((st) => ({ ...st, properties: Array.isArray(st.properties) ? st.properties : [] })) }) });
      const j = await r.json().catch(() => ({}));
      if (r.status !== 201 && r.status !== 200) fx.setupError = `POST action: ${r.status} ${JSON.stringify(j)}`;
      else ids.set(a.id, j.id);
    }
    if (ids.size) {
      const remap = (n) => { if (n && n.kind === 'ActionsNode' && ids.has(n.id)) n.id = ids.get(n.id); };
      for (const n of fx.query.series || []) remap(n);
      for (const n of (fx.query.funnelsFilter && fx.query.funnelsFilter.exclusions) || []) remap(n);
      // retention names its entities {type: 'actions', id}
      for (const k of ['targetEntity', 'returningEntity']) {
        const e = fx.query.retentionFilter && fx.query.retentionFilter[k];
        if (e && e.type === 'actions' && ids.has(e.id)) e.id = ids.get(e.id);
      }
      for (const e of fx.expect || []) {
        for (const r of Array.isArray(e) ? e : [e]) {
          if (r && r.action && ids.has(r.action.id)) r.action.id = ids.get(r.action.id);
          if (r && r.type === 'actions' && ids.has(r.action_id)) r.action_id = ids.get(r.action_id);
        }
      }
    }
    for (const [name, type] of Object.entries(fx.property_types || {})) {
      const r = await fetch(`${srv.url}/api/projects/${fx.teamId}/property_definitions/`, { method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ name, type: 'event', property_type: type }) });
      if (r.status !== 201) fx.setupError = `POST property definition: ${r.status} ${await r.text()}`;
    }
    const events = (fx.events || []).map((e) => ({ event: e.event, distinct_id: e.distinct_id, timestamp: e.timestamp,
      properties: e.properties || {}, ...(e.uuid ? { uuid: e.uuid } : {}) }));
    for (let k = 0; k < events.length; k += 500) {
      const r = await post(`${srv.url}/batch/`, JSON.stringify({ api_key: fx.token, batch: events.slice(k, k + 500) }),
        { 'Content-Type': 'application/json' });
      if (r.status !== 200) fx.setupError = `batch: ${r.status} ${r.text}`;
    }
  }
  // Wait until every project's events are queryable.
  const until = Date.now() + 60000;
  for (const fx of fixtures) {
    const want = (fx.events || []).length;
    for (;;) {
      const r = await query(srv, fx, { kind: 'HogQLQuery', query: 'SELECT count() FROM events' }, null);
      const got = r.status === 200 ? r.json.results[0][0] : -1;
      if (got >= want) break;
      if (Date.now() > until) { fx.setupError = `only ${got} of ${want} events became queryable`; break; }
      await sleep(100);
    }
  }
  return srv;
}

// Cohorts through the REST API once the persons are in: dynamic
// ones with their (legacy) groups, static ones with a CSV upload of their
// distinct ids. Waits for each calculation; the ids in the query and in
// the expected breakdown values follow the new ones.
async function createCohorts(srv, fx) {
  const ids = new Map();
  const auth = { authorization: `Bearer ${API_KEY}` };
  const base = `${srv.url}/api/projects/${fx.teamId}/cohorts/`;
  for (const c of fx.cohorts) {
    let r;
    if (c.is_static) {
      const form = new FormData();
      form.append('name', c.name || `cohort ${c.id}`);
      form.append('is_static', 'true');
      form.append('csv', new Blob([['distinct_id', ...(c.distinct_ids || [])].join('\n') + '\n']), 'members.csv');
      r = await fetch(base, { method: 'POST', headers: auth, body: form });
    } else {
      r = await fetch(base, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: c.name || `cohort ${c.id}`, groups: c.groups || [], ...(c.filters ? { filters: c.filters } : {}) }) });
    }
    const j = await r.json().catch(() => ({}));
    if (r.status !== 201) { fx.setupError = `POST cohort: ${r.status} ${JSON.stringify(j)}`; return; }
    ids.set(c.id, j.id);
    (fx.cohortList ||= []).push({ id: j.id, name: j.name, is_static: !!j.is_static });
    for (let i = 0; ; i++) {
      const g = await (await fetch(`${base}${j.id}/`, { headers: auth })).json();
      if (g.last_calculation && !g.is_calculating) break;
      if (g.errors_calculating) { fx.setupError = `cohort calculation: ${g.last_error_message}`; return; }
      if (i > 300) { fx.setupError = 'cohort never calculated'; return; }
      await sleep(50);
    }
  }
  const map = (v) => {
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    return ids.has(n) ? (typeof v === 'string' ? String(ids.get(n)) : ids.get(n)) : v;
  };
  const walk = (o) => {
    if (Array.isArray(o)) { o.forEach(walk); return; }
    if (!o || typeof o !== 'object') return;
    if (/^(cohort|precalculated-cohort|static-cohort)$/.test(o.type) && 'value' in o) o.value = map(o.value);
    if (o.breakdown_type === 'cohort' && 'breakdown' in o)
      o.breakdown = Array.isArray(o.breakdown) ? o.breakdown.map(map) : map(o.breakdown);
    for (const v of Object.values(o)) walk(v);
  };
  walk(fx.query);
  walk(fx.team);
  walk(fx.actions);
  const cohortBreakdown = JSON.stringify(fx.query).includes('"breakdown_type":"cohort"');
  const walkExpect = (o) => {
    if (Array.isArray(o)) { o.forEach(walkExpect); return; }
    if (!o || typeof o !== 'object') return;
    if ('breakdown_value' in o)
      o.breakdown_value = Array.isArray(o.breakdown_value) ? o.breakdown_value.map(map) : map(o.breakdown_value);
    for (const v of Object.values(o)) walkExpect(v);
  };
  if (cohortBreakdown) walkExpect(fx.expect);
}

// POST /api/projects/:id/query/ with the fixture's pinned now (or `now`).
export function query(srv, fx, q, now = fx.now) {
  return post(`${srv.url}/api/projects/${fx.teamId}/query/`, JSON.stringify({ query: q, ...(now ? { now } : {}) }),
    { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` });
}
