// Insight fixtures ported from PostHog's public tests (tests/insights/*/),
// replayed through snout's real interfaces: every fixture gets its own
// project (`snout team create`), its persons and groups go in with
// `snout persons import` (PostHog's tests create them directly in the
// database, without events), the project's week start and test-account
// filters are set with PATCH /api/projects/:id/, the events go through
// /batch/ (all of it in insight_fixtures.mjs, shared with the ClickHouse
// differential), and the query runs on POST /api/projects/:id/query/ with
// the fixture's frozen "now" (the server runs in test mode). The answer must
// match the fixture's expectations (numbers compared numerically).
//
// A fixture that needs a feature snout does not have yet (its "needs") may
// answer 400 "not_supported"; that is counted as skipped and listed. Needs
// snout has are in HAVE and are no reason to skip: a fixture that needs only
// those must answer, so a feature that regresses to "not supported" fails. Any
// other failure fails the test unless it is listed in KNOWN below with the
// reason; a KNOWN entry that starts passing fails too, so the list stays
// true.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup } from './lib.mjs';
import { readFixtures, loadFixtures, query } from './insight_fixtures.mjs';

const KINDS = (process.env.SNOUT_INSIGHT_KINDS || 'trends,funnels,stickiness,lifecycle,retention,paths').split(',');
const ONLY = process.env.SNOUT_INSIGHT_ONLY ? new RegExp(process.env.SNOUT_INSIGHT_ONLY) : null;

// Features of fixtures' "needs" that snout has.
const HAVE = new Set(['actions', 'cohorts', 'elements', 'groups', 'hogql', 'property_types', 'sampling', 'sessions']);

// kind/name → why it does not pass yet (a snout gap or a deliberate difference).
const KNOWN = new Map([
  ['trends/formula_breakdown_no_data_one_side', 'snout\'s ingestion copies $browser onto the person as PostHog\'s plugin server does; the test writes events straight into ClickHouse, so its persons have no $browser'],
  ['funnels/breakdown_all_events_attribution_ordered', 'order of breakdown values: PostHog\'s funnel_udf orders its inner rows by step counts but its outer GROUP BY final_prop has no ORDER BY, so the answer comes in ClickHouse\'s hash-table order; snout keeps the inner order (last step first)'],
  ['funnels/breakdown_all_events_attribution_strict', 'order of breakdown values: PostHog\'s funnel_udf orders its inner rows by step counts but its outer GROUP BY final_prop has no ORDER BY, so the answer comes in ClickHouse\'s hash-table order; snout keeps the inner order (last step first)'],
  ['funnels/trends_breakdown_hogql_empty_all_events', 'funnel-trends breakdown order: snout follows funnel_trends_udf.py\'s ORDER BY (entrances desc: foo 2, "" 1); the expected answer lists "" first'],
  ['funnels/trends_breakdown_hogql_empty_first_touch', 'funnel-trends breakdown order: snout follows funnel_trends_udf.py\'s ORDER BY (entrances desc: foo 2, "" 1); the expected answer lists "" first'],
  ['funnels/trends_breakdown_hogql_empty_last_touch', 'funnel-trends breakdown order: snout follows funnel_trends_udf.py\'s ORDER BY (entrances desc: foo 2, "" 1); the expected answer lists "" first'],
  ['funnels/trends_breakdown_hogql_empty_step', 'funnel-trends breakdown order: snout follows funnel_trends_udf.py\'s ORDER BY (entrances desc: foo 2, "" 1); the expected answer lists "" first'],
  ['funnels/multiple_actions_different_props', 'the test creates two actions with one name through the ORM; the actions API (PostHog\'s too) refuses a duplicate name'],
  ['paths/wildcard_groups_evil_input', 'when several groupings match, ClickHouse\'s multiMatchAnyIndex returns any of them; snout takes the first in list order'],
]);

const fixtures = readFixtures(KINDS, ONLY ? (fx) => ONLY.test(fx.name) : null);

let srv;
before(async () => { srv = await loadFixtures(fixtures); });

after(async () => { if (srv) { await srv.stop(); cleanup(srv.dataDir); } });

// Why got does not match exp (only the keys exp names), or null.
function mismatch(exp, got, path, tol) {
  if (exp === null) return got === null || got === undefined ? null : `${path}: expected null, got ${JSON.stringify(got)}`;
  if (typeof exp === 'number') {
    if (typeof got !== 'number') return `${path}: expected ${exp}, got ${JSON.stringify(got)}`;
    return Math.abs(exp - got) <= (tol ?? 1e-9 * Math.max(1, Math.abs(exp))) ? null : `${path}: expected ${exp}, got ${got}`;
  }
  if (Array.isArray(exp)) {
    if (!Array.isArray(got)) return `${path}: expected a list, got ${JSON.stringify(got)}`;
    if (exp.length !== got.length) return `${path}: expected ${exp.length} items, got ${got.length}: ${JSON.stringify(got).slice(0, 300)}`;
    for (let i = 0; i < exp.length; i++) {
      const m = mismatch(exp[i], got[i], `${path}[${i}]`, tol);
      if (m) return m;
    }
    return null;
  }
  if (typeof exp === 'object') {
    if (!got || typeof got !== 'object') return `${path}: expected an object, got ${JSON.stringify(got)}`;
    for (const k of Object.keys(exp)) {
      const m = mismatch(exp[k], got[k], `${path}.${k}`, tol);
      if (m) return m;
    }
    return null;
  }
  return exp === got ? null : `${path}: expected ${JSON.stringify(exp)}, got ${JSON.stringify(got)}`;
}

function check(fx, results) {
  const exp = fx.expect;
  const tol = fx.tolerance;
  if (fx.expect_shape === 'object') return mismatch(exp[0], results, 'results', tol);
  if (fx.expect_order === 'any') {
    if (!fx.expect_partial && exp.length !== results.length) return `expected ${exp.length} results, got ${results.length}`;
    const used = new Set();
    for (let i = 0; i < exp.length; i++) {
      const j = results.findIndex((r, k) => !used.has(k) && !mismatch(exp[i], r, '', tol));
      if (j < 0) return `expected result ${i} ${JSON.stringify(exp[i]).slice(0, 300)} not found among ${JSON.stringify(results.map((r) => ({ label: r.label, data: r.data, bv: r.breakdown_value, agg: r.aggregated_value }))).slice(0, 600)}`;
      used.add(j);
    }
    return null;
  }
  if (fx.expect_partial ? results.length < exp.length : results.length !== exp.length) {
    return `expected ${exp.length} results, got ${results.length}: ${JSON.stringify(results.map((r) => ({ label: r.label, data: r.data, bv: r.breakdown_value, agg: r.aggregated_value }))).slice(0, 800)}`;
  }
  for (let i = 0; i < exp.length; i++) {
    const m = mismatch(exp[i], results[i], `results[${i}]`, tol);
    if (m) return m;
  }
  return null;
}

const outcome = { pass: [], skipped: [], known: [], fail: [], fixed: [] };

test('insight fixtures', async (t) => {
  for (const fx of fixtures) {
    await t.test(`${fx.file} (${fx.source.split('::')[1] || fx.source})`, async () => {
      let why = fx.setupError || null;
      let skipped = false;
      if (!why) {
        const r = await query(srv, fx, fx.query);
        if (r.status === 400 && r.json && r.json.code === 'not_supported' && (fx.needs || []).some((n) => !HAVE.has(n))) {
          skipped = true;
          why = r.json.detail;
        } else if (r.status !== 200) {
          why = `HTTP ${r.status}: ${r.text.slice(0, 500)}`;
        } else {
          why = check(fx, r.json.results ?? []);
          if (why && process.env.SNOUT_INSIGHT_VERBOSE) {
            why += `\n    got: ${JSON.stringify((r.json.results || []).map((x) => ({ label: x.label, data: x.data, count: x.count,
              agg: x.aggregated_value, bv: x.breakdown_value, cl: x.compare_label, days: x.days && x.days.slice(0, 2) })))}` +
              `\n    hogql: ${r.json.hogql}`;
          }
        }
      }
      if (skipped) { outcome.skipped.push(`${fx.name}: ${why}`); return; }
      const key = fx.file.replace(/\.json$/, '');
      const known = KNOWN.get(key);
      if (!why && known) { outcome.fixed.push(key); assert.fail(`${key} passes now: remove it from KNOWN (${known})`); }
      if (!why) { outcome.pass.push(fx.name); return; }
      if (known) { outcome.known.push(`${fx.name}: ${known}`); return; }
      outcome.fail.push(`${fx.name}: ${why}`);
      assert.fail(why);
    });
  }
  console.log(`insight fixtures: ${fixtures.length}, pass ${outcome.pass.length}, known differences ${outcome.known.length}, ` +
    `skipped (needs a missing feature) ${outcome.skipped.length}, fail ${outcome.fail.length}`);
  if (process.env.SNOUT_INSIGHT_VERBOSE) {
    for (const s of outcome.skipped) console.log(`  skipped ${s}`);
    for (const s of outcome.fail) console.log(`  FAIL ${s}`);
  }
});

// intervalCount on stickiness: what it does not cover is refused with a
// clear error, never a silently different grouping.
test('stickiness intervalCount limits', async (t) => {
  const fx = fixtures.find((f) => f.file === 'stickiness/interval_2_day.json');
  if (!fx) { t.skip('fixture not selected'); return; }
  const cases = [
    [{ interval: 'week', intervalCount: 2 }, 'not_supported', /minute, hour and day/],
    [{ intervalCount: 0 }, 'validation_error', /from 1 to 1000/],
    [{ intervalCount: 'two' }, 'validation_error', /from 1 to 1000/],
    [{ dateRange: { date_from: '2020-01-11', date_to: '2020-01-20T12:30:00', explicitDate: true } },
      'not_supported', /ends with an interval/],
  ];
  for (const [change, code, detail] of cases) {
    const r = await query(srv, fx, { ...fx.query, ...change });
    assert.equal(r.status, 400, `${JSON.stringify(change)}: ${r.text.slice(0, 300)}`);
    assert.equal(r.json.code, code);
    assert.match(r.json.detail, detail);
  }
  // intervalCount 1 is the plain stickiness
  const one = await query(srv, fx, { ...fx.query, intervalCount: 1 });
  const plain = await query(srv, fx, { ...fx.query, intervalCount: undefined });
  assert.equal(one.status, 200);
  assert.deepEqual(one.json.results.map((s) => s.data), plain.json.results.map((s) => s.data));
});
