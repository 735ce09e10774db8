// Deterministic data set of the differential test: events of team 1 (captured
// into snout and inserted into ClickHouse) and team 2 (ClickHouse only: snout
// has one bootstrap project, so team 2 rows are the other-team noise that the
// printer's team guard must hide). No merges, no $identify: every event's
// person_id is PostHog's UUIDv5 of "<team_id>:<distinct_id>".
import crypto from 'node:crypto';

function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NS = Buffer.from('932979b465c3442484670b66ec27bc22', 'hex');
export function personId(team, distinctId) {
  const h = crypto.createHash('sha1').update(NS).update(`${team}:${distinctId}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function uuidFrom(r) {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Math.floor(r() * 256);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const EVENTS = ['$pageview', '$pageview', '$pageview', '$pageleave', 'signup', 'purchase', 'click button', 'événement ünïcode'];
const BROWSERS = ['Chrome', 'Firefox', 'Safari', 'Edge'];
const NAMES = ['Zoë', '日本語', 'emoji 🎉', 'plain', "O'Brien", 'a\\b', ''];
const PATHS = ['/', '/pricing', '/docs', '/docs/intro', '/blog?id=1'];
const DAY0 = Date.UTC(2026, 10, 20); // 2026-11-20, seven days of events

export function generate(team, n, seed) {
  const r = mulberry32(seed);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const users = [];
  for (let i = 0; i < 60; i++) users.push(i % 10 === 0 ? `user${i}@example.com` : `anon-${team}-${i}`);
  const out = [];
  for (let i = 0; i < n; i++) {
    const distinct_id = pick(users);
    const event = pick(EVENTS);
    const ts = new Date(DAY0 + Math.floor(r() * 7 * 86400) * 1000);
    const p = {};
    if (r() < 0.85) p.$browser = pick(BROWSERS);
    if (event === '$pageview' || r() < 0.3) p.$current_url = 'https://example.com' + pick(PATHS);
    if (r() < 0.6) p.$session_id = `s-${distinct_id}-${Math.floor(r() * 4)}`;
    if (event === 'purchase' || r() < 0.2) p.price = Math.round(r() * 20000) / 100;
    if (r() < 0.7) p.qty = Math.floor(r() * 10);
    const b = r();
    if (b < 0.4) p.is_paid = true; else if (b < 0.7) p.is_paid = false; else if (b < 0.8) p.is_paid = null;
    const pl = r();
    if (pl < 0.4) p.plan = 'free'; else if (pl < 0.6) p.plan = 'pro'; else if (pl < 0.75) p.plan = null;
    if (r() < 0.5) p.nested = { a: { b: Math.floor(r() * 5) }, tags: r() < 0.5 ? ['x', 'y'] : [] };
    if (r() < 0.5) p.name = pick(NAMES);
    if (r() < 0.3) p.numeric_str = String(Math.floor(r() * 100));
    if (r() < 0.1) p.empty = '';
    out.push({ uuid: uuidFrom(r), event, distinct_id, timestamp: ts.toISOString().replace('.000Z', 'Z'), properties: p, team });
  }
  return out;
}

const esc = (s) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
function chTime(iso) { return iso.replace('T', ' ').replace('Z', ''); }

// INSERT statement (VALUES) for ClickHouse.
export function insertSql(events) {
  const rows = events.map((e) => {
    const sid = e.properties.$session_id || '';
    return `('${e.uuid}', '${esc(e.event)}', '${esc(JSON.stringify(e.properties))}', '${chTime(e.timestamp)}', ${e.team}, '${esc(e.distinct_id)}', '', '${chTime(e.timestamp)}', '${personId(e.team, e.distinct_id)}', '${esc(sid)}')`;
  });
  return 'INSERT INTO events (uuid, event, properties, timestamp, team_id, distinct_id, elements_chain, created_at, person_id, `$session_id`) VALUES ' + rows.join(',\n');
}

// person and person_distinct_id2 rows: one person per (team, distinct id), as
// snout creates on capture (no merges), created at its first event.
export function personsSql(events) {
  const first = new Map();
  for (const e of events) {
    const k = `${e.team}\t${e.distinct_id}`;
    if (!first.has(k) || e.timestamp < first.get(k)) first.set(k, e.timestamp);
  }
  const p = [], d = [];
  for (const [k, ts] of first) {
    const [team, did] = k.split('\t');
    const id = personId(team, did);
    p.push(`('${id}', '${chTime(ts)}', ${team}, '{}', 0, 0, 0)`);
    d.push(`(${team}, '${esc(did)}', '${id}', 0, 0)`);
  }
  return [
    'INSERT INTO person (id, created_at, team_id, properties, is_identified, is_deleted, version) VALUES ' + p.join(','),
    'INSERT INTO person_distinct_id2 (team_id, distinct_id, person_id, is_deleted, version) VALUES ' + d.join(','),
  ];
}
