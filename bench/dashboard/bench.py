#!/usr/bin/env python3
"""Creates a dashboard of 12 typical tiles through snout's REST API (trends,
DAU, a breakdown, a weekly trend, a number, two funnels, retention,
lifecycle, stickiness, a filtered trend, a HogQL table) on the last 30 days
of ../shared/bench's data (which ends 2025-01-01) and times opening it:

  cold    GET /dashboards/:id/?refresh=force_blocking  every tile computed
  cached  GET /dashboards/:id/?refresh=blocking        every tile fresh in the cache

plus each tile alone (GET /insights/:id/?refresh=force_blocking), whose sum
is what a one-tile-at-a-time refresh would cost. Each dashboard answer is
checked: no tile error, cached tiles equal to the cold ones, and every tile
of the cold dashboard equal to its insight computed alone (issue 10's
test). --tiles 20 adds 8 more tiles (paths, a strict and a broken-down
funnel, recurring retention, compare, hourly, weekly stickiness, a HogQL
count). Prints medians of RUNS runs (after one warm-up for the cached
case)."""
import argparse, json, statistics, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument('--url', required=True)
ap.add_argument('--key', required=True)
ap.add_argument('--runs', type=int, default=5)
ap.add_argument('--events', type=int, default=0)
ap.add_argument('--tiles', type=int, default=12, choices=[12, 20])
a = ap.parse_args()


def call(method, path, body=None):
    req = urllib.request.Request(a.url.rstrip('/') + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={'Authorization': 'Bearer ' + a.key,
                                          'Content-Type': 'application/json'})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        data = r.read()
    return (time.perf_counter() - t) * 1000, json.loads(data) if data else None


DR = {'date_from': '2024-12-02', 'date_to': '2024-12-31'}
DR90 = {'date_from': '2024-10-03', 'date_to': '2024-12-31'}
ev = lambda e, **k: {'kind': 'EventsNode', 'event': e, **k}
TILES = [
    ('Page views per day', {'kind': 'TrendsQuery', 'series': [ev('$pageview')], 'dateRange': DR}),
    ('Daily active users', {'kind': 'TrendsQuery', 'series': [ev('$pageview', math='dau')], 'dateRange': DR}),
    ('Page views by browser', {'kind': 'TrendsQuery', 'series': [ev('$pageview')], 'dateRange': DR,
                               'breakdownFilter': {'breakdown': '$browser', 'breakdown_type': 'event'}}),
    ('Sign-ups per week', {'kind': 'TrendsQuery', 'series': [ev('signup')], 'dateRange': DR90, 'interval': 'week'}),
    ('Purchases (30 days)', {'kind': 'TrendsQuery', 'series': [ev('purchase')], 'dateRange': DR,
                             'trendsFilter': {'display': 'BoldNumber'}}),
    ('Sign-up funnel', {'kind': 'FunnelsQuery', 'series': [ev('$pageview'), ev('signup'), ev('purchase')],
                        'dateRange': DR}),
    ('Checkout funnel', {'kind': 'FunnelsQuery', 'dateRange': DR,
                         'series': [ev('product_viewed'), ev('add_to_cart'), ev('checkout_started'), ev('purchase')]}),
    ('Weekly retention', {'kind': 'RetentionQuery', 'dateRange': {'date_to': '2024-12-31'},
                          'retentionFilter': {'period': 'Week', 'totalIntervals': 8,
                                              'targetEntity': {'id': 'signup', 'type': 'events'},
                                              'returningEntity': {'id': '$pageview', 'type': 'events'}}}),
    ('Lifecycle', {'kind': 'LifecycleQuery', 'series': [ev('$pageview')], 'dateRange': DR}),
    ('Stickiness', {'kind': 'StickinessQuery', 'series': [ev('$pageview')], 'dateRange': DR}),
    ('Pro plan page views', {'kind': 'TrendsQuery', 'series': [ev('$pageview')], 'dateRange': DR,
                             'properties': [{'key': 'plan', 'value': 'pro', 'operator': 'exact', 'type': 'event'}]}),
    ('Top pages', {'kind': 'HogQLQuery', 'query':
                   "select properties.$pathname as page, count() as views from events "
                   "where event = '$pageview' and timestamp >= '2024-12-02' and timestamp < '2025-01-01' "
                   "group by page order by views desc limit 10"}),
]
MORE = [
    ('Page paths', {'kind': 'PathsQuery', 'dateRange': DR,
                    'pathsFilter': {'includeEventTypes': ['$pageview'], 'stepLimit': 5}}),
    ('Strict checkout funnel', {'kind': 'FunnelsQuery', 'dateRange': DR,
                                'series': [ev('product_viewed'), ev('add_to_cart')],
                                'funnelsFilter': {'funnelOrderType': 'strict'}}),
    ('Sign-up funnel by browser', {'kind': 'FunnelsQuery', 'dateRange': DR,
                                   'series': [ev('$pageview'), ev('signup')],
                                   'breakdownFilter': {'breakdown': '$browser', 'breakdown_type': 'event'}}),
    ('Recurring retention', {'kind': 'RetentionQuery', 'dateRange': {'date_to': '2024-12-31'},
                             'retentionFilter': {'period': 'Week', 'totalIntervals': 6,
                                                 'retentionType': 'retention_recurring',
                                                 'targetEntity': {'id': '$pageview', 'type': 'events'},
                                                 'returningEntity': {'id': '$pageview', 'type': 'events'}}}),
    ('Purchases vs previous period', {'kind': 'TrendsQuery', 'series': [ev('purchase')], 'dateRange': DR,
                                      'compareFilter': {'compare': True}}),
    ('Sign-ups per hour (3 days)', {'kind': 'TrendsQuery', 'series': [ev('signup')], 'interval': 'hour',
                                    'dateRange': {'date_from': '2024-12-29', 'date_to': '2024-12-31'}}),
    ('Weekly stickiness', {'kind': 'StickinessQuery', 'series': [ev('$pageview')], 'interval': 'week',
                           'dateRange': DR90}),
    ('Events per type', {'kind': 'HogQLQuery', 'query':
                         "select event, count() as n, uniq(distinct_id) as users from events "
                         "where timestamp >= '2024-12-02' and timestamp < '2025-01-01' "
                         "group by event order by n desc, event"}),
]
if a.tiles == 20:
    TILES += MORE

_, d = call('POST', '/api/projects/1/dashboards/', {'name': f'bench {time.time():.0f}'})
ids = []
for i, (name, q) in enumerate(TILES):
    node = {'kind': 'DataTableNode', 'source': q} if q['kind'] == 'HogQLQuery' else \
        {'kind': 'InsightVizNode', 'source': q}
    _, ins = call('POST', '/api/projects/1/insights/', {'name': name, 'query': node, 'dashboards': [d['id']]})
    ids.append(ins['id'])
    # A grid: two tiles a row, in creation order.
    call('PATCH', f'/api/projects/1/dashboards/{d["id"]}/',
         {'tiles': [{'id': ins['dashboard_tiles'][0]['id'], 'layouts': {'sm': {'x': (i % 2) * 6, 'y': i // 2 * 5, 'w': 6, 'h': 5}}}]})


def check(dash, cached):
    assert len(dash['tiles']) == len(TILES), len(dash['tiles'])
    for t in dash['tiles']:
        assert 'error' not in t, (t['insight']['name'], t.get('error'))
        assert t['is_cached'] == cached, (t['insight']['name'], t['is_cached'])
        assert t['insight']['result'] is not None, t['insight']['name']


path = f'/api/projects/1/dashboards/{d["id"]}/'
cold = []
for _ in range(a.runs):
    ms, dash = call('GET', path + '?refresh=force_blocking')
    check(dash, False)
    cold.append(ms)
first = dash
call('GET', path + '?refresh=blocking')
cached = []
for _ in range(a.runs * 4):
    ms, dash = call('GET', path + '?refresh=blocking')
    check(dash, True)
    cached.append(ms)
for t0, t1 in zip(first['tiles'], dash['tiles']):
    assert t0['insight']['result'] == t1['insight']['result'], t0['insight']['name']

alone = {}
cold_result = {t['insight']['id']: t['insight']['result'] for t in first['tiles']}
for (name, _), iid in zip(TILES, ids):
    runs = [call('GET', f'/api/projects/1/insights/{iid}/?refresh=force_blocking') for _ in range(3)]
    alone[name] = statistics.median(ms for ms, _ in runs)
    # the tile as the dashboard computed it = the insight computed alone
    assert runs[-1][1]['result'] == cold_result[iid], f'tile {name!r} differs from its insight alone'

print(f'# dashboard of {len(TILES)} tiles on {a.events or "?"} events (team 1), medians')
print('case\tms')
print(f'cold (every tile computed, first run)\t{cold[0]:.1f}')
print(f'cold (every tile computed, median of {a.runs})\t{statistics.median(cold):.1f}')
print(f'cached (every tile from the cache, median of {len(cached)})\t{statistics.median(cached):.1f}')
print(f'sum of the tiles computed one at a time\t{sum(alone.values()):.1f}')
print(f'# every tile equal to its insight computed alone: {len(TILES)} of {len(TILES)}')
for name, ms in alone.items():
    print(f'  tile alone: {name}\t{ms:.1f}')

call('DELETE', path)
for iid in ids:
    call('DELETE', f'/api/projects/1/insights/{iid}/')
