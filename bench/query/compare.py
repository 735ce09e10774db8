#!/usr/bin/env python3
"""Runs each question on snout and on ClickHouse (its SQL from
queries_ch.sql) RUNS times after one warm-up, the two engines in turn (since
2026-12-03; before, five runs of one then five of the other), and prints
warm medians, the ratio and whether the answers agree.

Both engines are running servers asked over HTTP on loopback: snout through
`POST /api/projects/1/query/` with a personal API key (HogQLQuery, or the
insight node itself), ClickHouse through its HTTP interface. With --cli,
snout runs as `snout query --team 1` processes instead (start-up and part
opening included, as the first benchmark rows were measured)."""
import argparse, json, os, statistics, subprocess, tempfile, time, urllib.request

# HogQL equivalents of queries_ch.sql (team 1 is implied by --team 1).
RANGE = "timestamp >= '2024-12-02 00:00:00' and timestamp < '2025-01-01 00:00:00'"
SNOUT = {
    'Q1_count_30d': f"select count() from events where {RANGE}",
    'Q2_trend_pageview_per_day': f"select toStartOfDay(timestamp) as day, count() as c from events "
                                 f"where event = '$pageview' and {RANGE} group by day order by day",
    'Q3_dau_pageview': f"select toStartOfDay(timestamp) as day, uniq(distinct_id) as dau from events "
                       f"where event = '$pageview' and {RANGE} group by day order by day",
    'Q4_breakdown_browser_json': f"select properties.$browser as browser, count() as c from events "
                                 f"where event = '$pageview' and {RANGE} group by browser "
                                 f"order by c desc limit 10",
    'Q5_funnel_windowFunnel_14d': "select countIf(steps >= 1) as s1_pageview, countIf(steps >= 2) as s2_signup, "
                                  "countIf(steps >= 3) as s3_purchase from (select distinct_id, "
                                  "windowFunnel(1209600)(timestamp, event = '$pageview', event = 'signup', "
                                  "event = 'purchase') as steps from events where event in ('$pageview', "
                                  f"'signup', 'purchase') and {RANGE} group by distinct_id)",
    # ClickHouse's toRelativeWeekNum difference is dateDiff('week', …) in HogQL; ALL INNER JOIN
    # USING is an INNER JOIN ON the key.
    'Q6_retention_weekly_8w_join': "select c.cohort as cohort, dateDiff('week', c.cohort, w.wk) as week_n, "
                                   "count() as users from (select distinct_id, toMonday(min(timestamp)) as "
                                   "cohort from events where event = '$pageview' group by distinct_id having "
                                   "cohort >= toDate('2024-11-04') and cohort < toDate('2024-12-30')) as c "
                                   "inner join (select distinct distinct_id, toMonday(timestamp) as wk from "
                                   "events where timestamp >= '2024-11-04 00:00:00' and timestamp < "
                                   "'2024-12-30 00:00:00') as w on c.distinct_id = w.distinct_id where "
                                   "w.wk >= c.cohort group by cohort, week_n order by cohort, week_n",
    'Q7_prop_filter_json': f"select count() from events where {RANGE} and properties.plan = 'pro' "
                           f"and toFloat(properties.price) > 50",
    'Q7all_prop_filter_json_90d': "select count() from events where properties.plan = 'pro' "
                                  "and toFloat(properties.price) > 50",
    'Q8_top_urls_by_users_json': f"select properties.$current_url as url, uniq(distinct_id) as users "
                                 f"from events where {RANGE} group by url order by users desc limit 20",
    # one column of team 1 read whole (issue 3's scan; bench/ingest/scan_ch.sql)
    'C1_scan_timestamp': "select sum(toUnixTimestamp(timestamp)) from events",
    'C2_scan_distinct_id': "select sum(length(distinct_id)) from events",
}
# snout shreds properties into columns by itself: its property queries are
# also compared with ClickHouse's hand-materialised columns (issue 5's target).
MATCOL = {'Q4_breakdown_browser_json': 'Q4m_breakdown_browser_matcol',
          'Q7_prop_filter_json': 'Q7m_prop_filter_matcol',
          'Q8_top_urls_by_users_json': 'Q8m_top_urls_by_users_matcol'}

ap = argparse.ArgumentParser()
ap.add_argument('--snout', required=True)
ap.add_argument('--data', required=True)
ap.add_argument('--url', help='running snout server, e.g. http://127.0.0.1:18300')
ap.add_argument('--key', help='personal API key for --url')
ap.add_argument('--cli', action='store_true', help='run snout query processes instead of the server')
ap.add_argument('--only', help='comma-separated question names to run')
ap.add_argument('--ch', required=True)
ap.add_argument('--queries', required=True)
ap.add_argument('--runs', type=int, default=5)
a = ap.parse_args()

def parse(path):
    qs, name, buf = {}, None, []
    for line in open(path):
        if line.startswith('-- name:'):
            if name: qs[name] = ''.join(buf).strip()
            name, buf = line.split(':', 1)[1].strip(), []
        elif name and not line.startswith('--'):
            buf.append(line)
    if name: qs[name] = ''.join(buf).strip()
    return qs

ch_sql = parse(a.queries)
here = os.path.dirname(os.path.abspath(__file__))
ch_sql.update(parse(os.path.join(here, 'insights_ch.sql')))
ch_sql.update(parse(os.path.join(here, '..', 'ingest', 'scan_ch.sql')))

def post_snout(node, now=None):
    body = {'query': node}
    if now:
        body['now'] = now
    req = urllib.request.Request(a.url.rstrip('/') + '/api/projects/1/query/',
                                 data=json.dumps(body).encode(),
                                 headers={'Authorization': 'Bearer ' + a.key,
                                          'Content-Type': 'application/json'})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as resp:
            out = resp.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f'snout failed on {node}: {e.code} {e.read()[:500]}')
    return time.perf_counter() - t, json.loads(out)['results']

def run_snout(q):
    if not a.cli:
        return post_snout({'kind': 'HogQLQuery', 'query': q})
    t = time.perf_counter()
    r = subprocess.run([a.snout, 'query', '--team', '1', '--format', 'json', '--data-dir', a.data, q],
                       capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f'snout failed on {q}: {r.stdout} {r.stderr}')
    return dt, json.loads(r.stdout)['results']

def run_ch(sql):
    data = (sql + ' FORMAT JSONCompact').encode()
    t = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(a.ch, data=data)) as resp:
        body = resp.read()
    return time.perf_counter() - t, json.loads(body)['data']

def norm(rows):
    out = []
    for r in rows:
        out.append(tuple(str(v)[:10] if isinstance(v, str) and len(v) >= 10 and v[4] == '-' else
                         str(int(v)) if isinstance(v, (int, float)) or (isinstance(v, str) and v.isdigit())
                         else str(v) for v in r))
    return out

def alternate(snout, ch):
    """a.runs runs of each engine, one after the other in turn: the VM's
    speed drifts by tens of percent within a minute, and five runs of one
    engine followed by five of the other put that drift into the ratio."""
    s, c = [], []
    for _ in range(a.runs):
        s.append(snout())
        c.append(ch())
    return s, c


print(f"{'query':28} {'snout ms':>9} {'CH ms':>9} {'CH/snout':>9}  answers")
only = set(a.only.split(',')) if a.only else None
for name, q in SNOUT.items():
    if only and name not in only:
        continue
    run_snout(q); run_ch(ch_sql[name])  # warm-up
    s, c = alternate(lambda: run_snout(q), lambda: run_ch(ch_sql[name]))
    sm = statistics.median(x[0] for x in s) * 1000
    cm = statistics.median(x[0] for x in c) * 1000
    same = norm(s[0][1]) == norm(c[0][1])
    if name.startswith(("Q3", "Q8")) and not same:  # uniq: 32-bit hashes in both engines
        same = 'uniq approximate in both'
    print(f"{name:28} {sm:9.1f} {cm:9.1f} {cm / sm:8.2f}x  {'same' if same is True else same}")
    if name in MATCOL:
        m = MATCOL[name]
        run_ch(ch_sql[m])
        s2, c2 = alternate(lambda: run_snout(q), lambda: run_ch(ch_sql[m]))
        sm = statistics.median(x[0] for x in s2) * 1000
        cm = statistics.median(x[0] for x in c2) * 1000
        print(f"{'  vs ' + m[:3] + ' (materialised)':28} {sm:9.1f} {cm:9.1f} {cm / sm:8.2f}x")

# Insights (issue 7's benchmark): PostHog query nodes (through the server, or
# `snout query --insight` with --cli), against the ClickHouse
# SQL of the same question. "Now" is pinned to the end of the data.
NOW = '2025-01-01T00:00:00Z'
DR = {'date_from': '2024-12-02', 'date_to': '2024-12-31'}
PV = {'kind': 'EventsNode', 'event': '$pageview'}
INSIGHTS = [
    ('T1_trend_pageview_30d', 'Q2_trend_pageview_per_day',
     {'kind': 'TrendsQuery', 'series': [PV], 'interval': 'day', 'dateRange': DR}),
    ('T2_trend_dau_30d', 'Q3_dau_pageview',
     {'kind': 'TrendsQuery', 'series': [dict(PV, math='dau')], 'interval': 'day', 'dateRange': DR}),
    ('T3_trend_browser_breakdown', 'Q4m_breakdown_browser_matcol',
     {'kind': 'TrendsQuery', 'series': [PV], 'interval': 'day', 'dateRange': DR,
      'breakdownFilter': {'breakdown': '$browser', 'breakdown_type': 'event'}}),
    ('R1_retention_weekly_8w', 'Q6b_retention_weekly_8w_onepass',
     {'kind': 'RetentionQuery', 'dateRange': {'date_from': '2024-11-04', 'date_to': '2024-12-29'},
      'retentionFilter': {'period': 'Week', 'totalIntervals': 8, 'retentionType': 'retention_first_time',
                          'targetEntity': {'id': '$pageview', 'type': 'events'},
                          'returningEntity': {'id': '$pageview', 'type': 'events'}}}),
    ('S1_stickiness_30d', 'S1_stickiness_30d',
     {'kind': 'StickinessQuery', 'series': [PV], 'interval': 'day', 'dateRange': DR}),
    ('L1_lifecycle_30d', 'L1_lifecycle_30d',
     {'kind': 'LifecycleQuery', 'series': [PV], 'interval': 'day', 'dateRange': DR}),
    ('P1_paths_5_steps', 'P1_paths_5_steps',
     {'kind': 'PathsQuery', 'dateRange': DR,
      'pathsFilter': {'includeEventTypes': ['$pageview'], 'stepLimit': 5}}),
    ('F1_funnel_3step_30d', 'Q5_funnel_windowFunnel_14d',
     {'kind': 'FunnelsQuery', 'dateRange': DR,
      'series': [PV, {'kind': 'EventsNode', 'event': 'signup'}, {'kind': 'EventsNode', 'event': 'purchase'}],
      'funnelsFilter': {'funnelWindowInterval': 14, 'funnelWindowIntervalUnit': 'day'}}),
]

def run_insight(node, path):
    if not a.cli:
        return post_snout(node, NOW)
    t = time.perf_counter()
    r = subprocess.run([a.snout, 'query', '--team', '1', '--data-dir', a.data, '--now', NOW,
                        '--insight', path], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f'snout failed on {path}: {r.stdout} {r.stderr}')
    return dt, json.loads(r.stdout)['results']

def summary(name, res):
    """A comparable number: the total over the range, or the funnel's step counts;
    for retention, stickiness, lifecycle and paths the size of the answer."""
    if name.startswith('F'):
        return [s['count'] for s in res]
    if name[0] in 'RSLP':
        return f'{len(res)} rows'
    return round(sum(sum(r.get('data') or []) for r in res))

def ch_summary(name, rows):
    if name.startswith('F'):
        return [int(v) for v in rows[0]]
    if name[0] in 'RSLP':
        return f'{len(rows)} rows'

    col = 1 if not name.startswith('T3') else 1
    return round(sum(float(r[col]) for r in rows))

print()
print(f"{'insight':28} {'snout ms':>9} {'CH ms':>9} {'CH/snout':>9}  answers (snout | ClickHouse)")
for name, chq, node in INSIGHTS:
    if only and name not in only:
        continue
    fd, path = tempfile.mkstemp(suffix='.json')
    with os.fdopen(fd, 'w') as f:
        json.dump(node, f)
    try:
        run_insight(node, path); run_ch(ch_sql[chq])  # warm-up
        s, c = alternate(lambda: run_insight(node, path), lambda: run_ch(ch_sql[chq]))
    except (SystemExit, Exception) as e:  # one failing question does not hide the others
        print(f"{name:28} failed: {str(e)[:300]}")
        continue
    finally:
        os.unlink(path)
    sm = statistics.median(x[0] for x in s) * 1000
    cm = statistics.median(x[0] for x in c) * 1000
    mine, theirs = summary(name, s[0][1]), ch_summary(name, c[0][1])
    print(f"{name:28} {sm:9.1f} {cm:9.1f} {cm / sm:8.2f}x  {mine} | {theirs}")
