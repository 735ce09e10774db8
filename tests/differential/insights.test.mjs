// Differential test of the insights (issue: "the same insight on the
// ClickHouse backend gives the same numbers"). An insight is HogQL statements
// plus shaping in C that both backends share, so it is enough that every
// statement an insight runs gives the same rows on both backends:
//
//   fixtures of tests/insights/<kind>/ ─▶ snout (loaded as the black-box
//        insights test does: insight_fixtures.mjs), plus one project of
//        generated data (data.mjs: unicode, quotes, JSON null, numbers as
//        strings) that every answered query runs on again
//   ─▶ the same rows in ClickHouse 18.16, read back from snout per project
//        (events with snout's person_id, persons, person_distinct_ids,
//        groups, cohort members; team_id = the project id)
//   insight query on snout ─▶ its `hogql` (the statements it ran) ─▶ each
//        statement as a HogQLQuery on snout (same project, same pinned now)
//        and on ClickHouse (`snout hogql clickhouse --ch-version 18.16
//        --team N --tz ZONE`) ─▶ rows compared: as multisets without a
//        top-level ORDER BY; with one, in order, except that rows tying on
//        every ORDER BY key may come in either order (SQL leaves it to the
//        backend) unless the insight's C code reads them in row order
//        (tieSensitive); DateTimes as instants, floats within 1e-9.
//
// A difference fails the test unless KNOWN lists the statement (as
// "kind/fixture#index", the index counting from 0 in the insight's hogql;
// "generated[-tokyo]:kind/fixture#index" for the generated-data pass) with the
// reason; a KNOWN entry that compares equal fails too, so the list stays
// true. A fixture that cannot be loaded into snout must be in SETUP_KNOWN.
// Insights snout refuses (400: not_supported features) have no statements
// and are only counted (SNOUT_INSIGHT_VERBOSE=1 lists why).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClickHouse, blocks } from '../clickhouse/chserver.mjs';
import { cleanup } from '../blackbox/lib.mjs';
import { readFixtures, loadFixtures, query } from '../blackbox/insight_fixtures.mjs';
import { generate } from './data.mjs';
import { hogqlMany } from '../hogql/lines.mjs';

const SNOUT = process.env.SNOUT_BIN;
const ONLY = process.env.SNOUT_INSIGHT_ONLY ? new RegExp(process.env.SNOUT_INSIGHT_ONLY) : null;
const VERBOSE = !!process.env.SNOUT_INSIGHT_VERBOSE;
const PARALLEL = 3; // snout answers 4 queries at a time

// "kind/fixture#statement" → why the two backends differ.
const KNOWN = new Map([
  // ClickHouse 18.16 has no JSONExtract*: the printer reads a property with
  // visitParamExtractRaw, which matches the first key of that name at any
  // depth, so `properties.a` finds the generated rows' `nested.a`. snout (as
  // PostHog) reads top-level keys only: no row has a top-level `a`.
  ['generated:paths/custom_hogql_paths#0', 'visitParam matches nested.a (ClickHouse 18.16 has no JSONExtract)'],
  ['generated-tokyo:paths/custom_hogql_paths#0', 'visitParam matches nested.a (ClickHouse 18.16 has no JSONExtract)'],
]);

// "kind/fixture" → why it cannot be loaded (as in tests/blackbox/insights.test.mjs).
const SETUP_KNOWN = new Map([
  ['funnels/multiple_actions_different_props', 'two actions with one name; the actions API refuses a duplicate name'],
]);

const KINDS = (process.env.SNOUT_INSIGHT_KINDS || 'trends,funnels,stickiness,lifecycle,retention,paths').split(',');
const fixtures = readFixtures(KINDS, ONLY ? (fx) => ONLY.test(fx.name) : null);

// Second pass: every answered insight query again (date range and event
// names moved onto the data, onGenerated) over one project of generated data (tests/differential/data.mjs:
// unicode, quotes and backslashes, JSON null and booleans, numbers as
// strings, missing properties), which the small fixtures do not have.
// A second such project has a time zone east of UTC and Monday weeks.
const GENERATED = process.env.SNOUT_INSIGHT_GENERATED !== '0';
const generatedProjects = [
  { name: 'generated', file: 'generated/utc', source: 'tests/differential/data.mjs',
    now: '2026-11-28T00:00:00Z', team: { timezone: 'UTC', week_start_day: 0 }, persons: [],
    events: generate(1, 1500, 20261201), query: null },
  { name: 'generated-tokyo', file: 'generated/tokyo', source: 'tests/differential/data.mjs',
    now: '2026-11-28T00:00:00Z', team: { timezone: 'Asia/Tokyo', week_start_day: 1 }, persons: [],
    events: generate(1, 800, 7), query: null },
];
const DATE_RANGE = { date_from: '2026-11-19', date_to: '2026-11-27' };
const GEN_EVENTS = ['$pageview', '$pageleave', 'signup', 'purchase', 'click button', 'événement ünïcode'];

// The fixture's query over the generated data: its date range, and its
// event names (series, funnel steps and exclusions, retention entities)
// mapped onto the generated ones, the n-th distinct name to GEN_EVENTS[n].
function onGenerated(query) {
  const q = JSON.parse(JSON.stringify(query));
  q.dateRange = DATE_RANGE;
  const names = new Map(GEN_EVENTS.map((e) => [e, e]));
  const map = (e) => {
    if (!names.has(e)) names.set(e, GEN_EVENTS[(names.size - GEN_EVENTS.length) % GEN_EVENTS.length]);
    return names.get(e);
  };
  (function walk(o) {
    if (!o || typeof o !== 'object') return;
    if (o.kind === 'EventsNode' && typeof o.event === 'string') o.event = map(o.event);
    if (o.type === 'events' && typeof o.id === 'string') o.id = map(o.id);
    for (const v of Object.values(o)) walk(v);
  })(q);
  return q;
}
let srv, chs;

// ---- ClickHouse side ------------------------------------------------------------------

// snout prints a DateTime in the project's time zone with its offset
// ("2020-01-03T09:01:01+09:00"); ClickHouse's columns hold UTC.
const chTime = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/(\.\d+)?Z$/, '') : '1970-01-01 00:00:00');

async function chInsert(table, rows) {
  for (let i = 0; i < rows.length; i += 2000) {
    const body = rows.slice(i, i + 2000).map((r) => JSON.stringify(r)).join('\n');
    const r = await chs.ch(`INSERT INTO ${table} FORMAT JSONEachRow\n${body}`);
    assert.ok(r.ok, `insert into ${table}: ${r.body}`);
  }
}

// HogQL on snout for one fixture's project: rows, or throws.
async function snoutRows(fx, sql) {
  const r = await query(srv, fx, { kind: 'HogQLQuery', query: sql });
  if (r.status !== 200) throw new Error(`${fx.name}: ${sql}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  assert.ok(r.json.results.length < 50000, `${fx.name}: too many rows to copy (${sql})`);
  return r.json.results;
}

// fn over items, `PARALLEL` at a time; the results in the items' order.
async function pool(items, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]);
    }
  }));
  return out;
}

// The rows snout holds for the fixtures' projects, as ClickHouse rows of
// tests/clickhouse/schema.sql.
async function copyToClickHouse(fxs) {
  const events = [], persons = [], pdis = [], groups = [], cohortpeople = [], statics = [];
  await pool(fxs, async (fx) => {
    const team = fx.teamId;
    for (const e of await snoutRows(fx, 'SELECT uuid, event, properties, timestamp, distinct_id, person_id, created_at, ' +
      '$session_id, $window_id, $group_0, $group_1, $group_2, $group_3, $group_4, elements_chain FROM events LIMIT 50000')) {
      events.push({ uuid: e[0], event: e[1], properties: e[2] ?? '', timestamp: chTime(e[3]), team_id: team, distinct_id: e[4],
        person_id: e[5], created_at: chTime(e[6]), $session_id: e[7] ?? '', $window_id: e[8] ?? '', $group_0: e[9] ?? '',
        $group_1: e[10] ?? '', $group_2: e[11] ?? '', $group_3: e[12] ?? '', $group_4: e[13] ?? '', elements_chain: e[14] ?? '' });
    }
    for (const p of await snoutRows(fx, 'SELECT id, created_at, properties, is_identified FROM persons LIMIT 50000'))
      persons.push({ id: p[0], created_at: chTime(p[1]), team_id: team, properties: p[2] ?? '{}', is_identified: p[3] ? 1 : 0, is_deleted: 0, version: 0 });
    for (const d of await snoutRows(fx, 'SELECT distinct_id, person_id FROM person_distinct_ids LIMIT 50000'))
      pdis.push({ team_id: team, distinct_id: d[0], person_id: d[1], is_deleted: 0, version: 0 });
    for (const g of await snoutRows(fx, 'SELECT index, key, created_at, properties FROM groups LIMIT 50000'))
      groups.push({ group_type_index: g[0], group_key: g[1], created_at: chTime(g[2]), team_id: team, group_properties: g[3] ?? '{}',
        _timestamp: chTime(g[2]) });
    if (fx.cohortList) {
      for (const c of await snoutRows(fx, 'SELECT cohort_id, person_id FROM cohort_people LIMIT 50000'))
        cohortpeople.push({ cohort_id: c[0], person_id: c[1], team_id: team, sign: 1, version: 1 });
      for (const c of await snoutRows(fx, 'SELECT cohort_id, person_id FROM static_cohort_people LIMIT 50000'))
        statics.push({ id: c[1], cohort_id: c[0], person_id: c[1], team_id: team });
    }
  });
  await chInsert('cohortpeople', cohortpeople);
  await chInsert('person_static_cohort', statics);
  await chInsert('events', events);
  await chInsert('person', persons);
  await chInsert('person_distinct_id2', pdis);
  await chInsert('groups', groups);
  return { events: events.length, persons: persons.length, pdis: pdis.length, groups: groups.length };
}

// The `snout hogql clickhouse` arguments that print a statement of fx's
// project for ClickHouse 18.16.
function chArgs(fx, hogql) {
  const args = ['clickhouse', '--ch-version', '18.16', '--team', String(fx.teamId), '--tz', fx.team.timezone || 'UTC'];
  if (fx.team.week_start_day === 1) args.push('--week-monday');
  for (const c of fx.cohortList || []) args.push('--cohort', `${c.id}:${c.name}${c.is_static ? ':static' : ''}`);
  // The project's property definitions type property accesses on both sides.
  for (const [name, type] of Object.entries(fx.property_types || {})) args.push('--prop-type', `event:${name}=${type}`);
  return [...args, hogql];
}

// p: the statement as `snout hogql --lines` printed it ({ status, stdout }).
async function onClickHouse(p) {
  if (p.status !== 0) return { ok: false, err: 'print: ' + (p.stdout || p.error || '').trim() };
  const sql = p.stdout.trim().replace(/;$/, '');
  const r = await chs.ch(sql + '\nFORMAT JSONCompact', '&output_format_json_quote_64bit_integers=0&output_format_json_quote_denormals=1');
  if (!r.ok) return { ok: false, err: 'clickhouse: ' + r.body.trim().slice(0, 400), sql };
  const j = JSON.parse(r.body);
  return { ok: true, rows: j.data, types: j.meta.map((m) => m.type), sql };
}

async function onSnout(fx, hogql) {
  const r = await query(srv, fx, { kind: 'HogQLQuery', query: hogql });
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.results))
    return { ok: false, err: `HTTP ${r.status}: ${(r.json && (r.json.detail || r.json.error)) || r.text.slice(0, 300)}` };
  return { ok: true, rows: r.json.results, types: (r.json.types || []).map((t) => t[1]), columns: r.json.columns || [] };
}

// ---- comparison -------------------------------------------------------------------------

// Wall-clock time in zone tz → ms since the epoch (two passes settle DST).
const fmtCache = new Map();
function zoneOffsetMs(tz, ms) {
  let f = fmtCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit' });
    fmtCache.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - ms;
}
function localToMs(s, tz) {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(s);
  if (!m) return NaN;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  let t = wall - zoneOffsetMs(tz, wall);
  t = wall - zoneOffsetMs(tz, t);
  return t;
}

// One cell as comparable text: DateTimes as ISO instants (UTC), numbers
// as numbers, NULL as 'NULL'.
function cell(v, type, side) {
  // JSON has no NaN: snout writes a NaN Float64 (avg of no rows) as null,
  // ClickHouse (output_format_json_quote_denormals) as "nan" or "-nan".
  if (v === null && side === 'snout' && /^Float(32|64)$/.test(type || '')) return 'NaN';
  if (v === null || v === undefined) return 'NULL';
  const t = (type || '').replace(/^Nullable\((.*)\)$/, '$1');
  if (/^DateTime/.test(t) && typeof v === 'string') {
    if (side === 'ch') {
      const m = /'([^']+)'\)$/.exec(t);
      const ms = v.startsWith('0000-00-00') ? 0 : localToMs(v, m ? m[1] : 'UTC');
      return Number.isNaN(ms) ? v : new Date(ms).toISOString();
    }
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? v : new Date(ms).toISOString();
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^(U?Int|Float)/.test(t)) {
    if (v === 'nan' || v === '-nan') return 'NaN';
    if (v === 'inf' || v === '+inf') return 'Infinity';
    if (v === '-inf') return '-Infinity';
    return Number(v);
  }
  return v;
}

function normalise(rows, types, side, ordered) {
  const r = rows.map((row) => row.map((v, i) => cell(v, types[i], side)));
  if (!ordered) r.sort((a, b) => { const x = JSON.stringify(a), y = JSON.stringify(b); return x < y ? -1 : x > y ? 1 : 0; });
  return r;
}

function sameCell(x, y) {
  if (x === y) return true;
  if (typeof x === 'number' && typeof y === 'number')
    return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y), 1);
  return false;
}

const rowEq = (x, y) => x.length === y.length && x.every((v, i) => sameCell(v, y[i]));

// Row multisets equal, floats within tolerance (rows matched greedily, so a
// float that sorts differently on the two sides still finds its partner).
function sameMultiset(a, b) {
  if (a.length !== b.length) return false;
  if (a.every((x, i) => rowEq(x, b[i]))) return true;
  const used = new Uint8Array(b.length);
  for (const x of a) {
    let k = -1;
    for (let j = 0; j < b.length && k < 0; j++) if (!used[j] && rowEq(x, b[j])) k = j;
    if (k < 0) return false;
    used[k] = 1;
  }
  return true;
}

// The top-level ORDER BY items (outside parentheses and quotes, not of a
// UNION ALL), without ASC/DESC: [] when there is none.
function topOrderBy(q) {
  let depth = 0, quote = null, at = -1, union = false;
  const starts = []; // depth-0 comma positions after ORDER BY, and its end
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (quote) { if (c === '\\') i++; else if (c === quote) quote = null; continue; }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && /\W/.test(q[i - 1] || ' ')) {
      const rest = q.slice(i, i + 16);
      if (/^ORDER\s+BY\b/i.test(rest)) { at = i + /^ORDER\s+BY/i.exec(rest)[0].length; starts.length = 0; }
      else if (/^UNION\s+ALL\b/i.test(rest)) union = true;
      else if (at >= 0 && /^(LIMIT|OFFSET|SETTINGS)\b/i.test(rest)) { starts.push(i); break; }
    }
    if (depth === 0 && at >= 0 && c === ',') starts.push(i);
  }
  if (union || at < 0) return [];
  if (!starts.length || q[starts[starts.length - 1]] === ',') starts.push(q.length);
  const items = [];
  let from = at;
  for (const k of starts) { items.push(q.slice(from, k)); from = k + 1; }
  return items.map((x) => x.trim().replace(/(\s+(ASC|DESC))?(\s+NULLS\s+(FIRST|LAST))?$/i, '').trim());
}

// Compares a and b (normalised): 'equal', 'ties' (the same rows, but rows
// that tie on every ORDER BY key come in another order: SQL leaves that
// order to the backend) or null (different).
function compareRows(a, b, keyCols) {
  if (!keyCols) return sameMultiset(a, b) ? 'equal' : null;
  if (a.length === b.length && a.every((x, i) => rowEq(x, b[i]))) return 'equal';
  if (keyCols.length === 0) return null;
  // runs of rows with equal keys must hold the same rows
  const key = (r) => JSON.stringify(keyCols.map((i) => r[i]));
  if (a.length !== b.length) return null;
  for (let i = 0; i < a.length;) {
    let j = i;
    while (j < a.length && key(a[j]) === key(a[i])) j++;
    if (!b.slice(i, j).every((r) => key(r) === key(a[i])) || !sameMultiset(a.slice(i, j), b.slice(i, j))) return null;
    i = j;
  }
  return 'ties';
}

// Whether the insight's C code reads rows in an order that depends on ties:
// funnels walk each actor's events in row order (strict funnels need the
// very next event, unordered ones fill one step per event, attribution takes
// the first/last value).
function tieSensitive(query) {
  const q = query || {};
  if (q.kind !== 'FunnelsQuery') return false;
  const f = q.funnelsFilter || {};
  const bd = q.breakdownFilter || {};
  return f.funnelOrderType === 'strict' || f.funnelOrderType === 'unordered' ||
    bd.breakdown !== undefined || (bd.breakdowns || []).length > 0;
}

// ---- the test ---------------------------------------------------------------------------

const statements = []; // { fx, i, hogql, key, query }
const counts = { fixtures: fixtures.length, answered: 0, refused: 0, setup: 0, generated: 0 };
const setupFailures = [];
const fxKey = (fx) => fx.file.replace(/\.json$/, '');

before(async () => {
  assert.ok(SNOUT, 'SNOUT_BIN must point at the snout binary');
  const chP = startClickHouse('ch-insights-');
  srv = await loadFixtures(GENERATED ? [...fixtures, ...generatedProjects] : fixtures, { prefix: 'snout-chdiff-' });
  for (const g of generatedProjects) assert.ok(!g.setupError, `${g.name}: ${g.setupError}`);
  chs = await chP;
  for (const sql of blocks('schema.sql')) {
    const r = await chs.ch(sql);
    assert.ok(r.ok, `schema.sql: ${r.body}`);
  }
  const answered = [];
  // The insights run PARALLEL at a time; their answers are read in order.
  const answers = await pool(fixtures, (fx) => (fx.setupError ? null : query(srv, fx, fx.query)));
  for (const [k, fx] of fixtures.entries()) {
    if (fx.setupError) {
      counts.setup++;
      if (!SETUP_KNOWN.has(fxKey(fx))) setupFailures.push(`${fxKey(fx)}: ${fx.setupError}`);
      continue;
    }
    const r = answers[k];
    if (r.status !== 200) {
      counts.refused++;
      fx.refused = `HTTP ${r.status}: ${(r.json && r.json.detail) || r.text.slice(0, 200)}`;
      continue;
    }
    counts.answered++;
    answered.push(fx);
    (r.json.hogql || '').split(/\n\s*\n/).map((s) => s.trim()).filter(Boolean)
      .forEach((hogql, i) => statements.push({ fx, i, hogql, key: `${fxKey(fx)}#${i}`, query: fx.query }));
  }
  // Queries naming actions are left out: the actions belong to the fixture's project.
  const fixtureAnswered = answered.filter((fx) => !/"ActionsNode"|"type":"actions"/.test(JSON.stringify(fx.query)));
  for (const g of GENERATED ? generatedProjects : []) {
    const seen = new Set();
    const qs = fixtureAnswered.map((fx) => onGenerated(fx.query));
    const rs = await pool(qs, (q) => query(srv, g, q));
    for (const [k, fx] of fixtureAnswered.entries()) {
      const q = qs[k];
      const r = rs[k];
      if (r.status !== 200) continue;
      counts.generated++;
      (r.json.hogql || '').split(/\n\s*\n/).map((s) => s.trim()).filter(Boolean).forEach((hogql, i) => {
        if (seen.has(hogql)) return;
        seen.add(hogql);
        statements.push({ fx: g, i, hogql, key: `${g.name}:${fxKey(fx)}#${i}`, query: q });
      });
    }
    answered.push(g);
  }
  const n = await copyToClickHouse(answered);
  if (VERBOSE) console.log(`copied to ClickHouse: ${JSON.stringify(n)}`);
});

after(async () => {
  if (srv) {
    const t = setTimeout(() => srv.child.kill('SIGKILL'), 5000);
    await srv.stop();
    clearTimeout(t);
    cleanup(srv.dataDir);
  }
  if (chs) await chs.stop();
});

test('every statement of every answered insight gives the same rows on snout and ClickHouse 18.16', async () => {
  const failures = [], known = [], fixed = [];
  let equal = 0, withRows = 0;
  const ties = [];
  async function one(st) {
    const key = st.key;
    const why = KNOWN.get(key);
    const order = topOrderBy(st.hogql);
    const s = await onSnout(st.fx, st.hogql);
    const c = await onClickHouse(st.printed);
    let diff = null;
    if (!s.ok) diff = `snout: ${s.err}`;
    else if (!c.ok) diff = `${c.err}${c.sql ? '\n    SQL: ' + c.sql : ''}`;
    else {
      // ORDER BY keys as result columns (snout names them); an item that is
      // not a column makes the whole order binding.
      let keyCols = null;
      if (order.length) {
        keyCols = order.map((o) => s.columns.indexOf(o.replace(/^`|`$/g, '')));
        if (keyCols.some((i) => i < 0)) keyCols = [];
      }
      const a = normalise(s.rows, s.types, 'snout', !!keyCols), b = normalise(c.rows, c.types, 'ch', !!keyCols);
      const same = compareRows(a, b, keyCols);
      if (same === 'ties') {
        ties.push(key);
        if (tieSensitive(st.query))
          diff = `the same rows, but rows that tie on ORDER BY ${order.join(', ')} come in another order, and this ` +
            `insight's C code depends on it`;
      } else if (!same)
        diff = `snout:      ${JSON.stringify(a).slice(0, 1500)}\n    clickhouse: ${JSON.stringify(b).slice(0, 1500)}` +
          (VERBOSE ? `\n    raw snout:      ${JSON.stringify(s.rows).slice(0, 1500)} ${JSON.stringify(s.types)}` +
            `\n    raw clickhouse: ${JSON.stringify(c.rows).slice(0, 1500)} ${JSON.stringify(c.types)}\n    SQL: ${c.sql}` : '');
    }
    // The printer has no pinned now: a statement that reads the clock
    // compares the real now on ClickHouse with the fixture's on snout.
    if (diff && /\b(now|now64|today|yesterday|current_timestamp)\(/i.test(st.hogql))
      diff += '\n    (the statement reads the clock: snout uses the pinned now, the ClickHouse printer the real one)';
    const where = `${key} (team ${st.fx.teamId}, ${st.fx.team.timezone || 'UTC'}): ${st.hogql}`;
    if (s.ok && s.rows.length) withRows++;
    if (!diff && !why) equal++;
    else if (!diff) fixed.push(`${key}: ${why}`);
    else if (why) known.push(`${where}\n    KNOWN: ${why}\n    ${diff}`);
    else failures.push(`${where}\n    ${diff}`);
  }
  // Every statement printed by one snout process, not a process each.
  hogqlMany(SNOUT, statements.map((st) => chArgs(st.fx, st.hogql))).forEach((p, k) => { statements[k].printed = p; });
  await pool(statements, one);
  console.log(`insights differential: ${counts.fixtures} fixtures (${counts.answered} answered, ${counts.refused} refused by snout, ` +
    `${counts.setup} setup errors; ${counts.generated} queries again over generated data), ${statements.length} statements (${withRows} with rows), ${equal} equal, ` +
    `${known.length} known, ${failures.length} different, ${fixed.length} known but now equal; ` +
    `${ties.length} with ORDER BY ties in another order`);
  if (VERBOSE && ties.length) console.log(`ORDER BY ties in another order: ${ties.join(' ')}`);
  if (VERBOSE) {
    const why = {};
    for (const fx of fixtures) if (fx.refused) why[fx.refused] = (why[fx.refused] || 0) + 1;
    for (const [k, n] of Object.entries(why).sort((x, y) => y[1] - x[1])) console.log(`refused ${n}x: ${k}`);
  }
  if (VERBOSE && known.length) console.log(known.join('\n'));
  assert.equal(failures.length, 0, `${failures.length} of ${statements.length} statements differ:\n` + failures.join('\n'));
  assert.equal(setupFailures.length, 0, `fixtures that failed to load:\n  ${setupFailures.join('\n  ')}`);
  assert.equal(fixed.length, 0, `KNOWN entries that compare equal now (remove them):\n  ${fixed.join('\n  ')}`);
  // Guards against a vacuous pass (a loader that left both sides empty).
  assert.ok(ONLY || statements.length >= 400, `only ${statements.length} statements`);
  assert.ok(ONLY || withRows >= 0.75 * statements.length, `only ${withRows} of ${statements.length} statements returned rows`);
});
