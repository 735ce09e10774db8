#!/usr/bin/env python3
"""Times one dynamic cohort calculation on snout (through its REST API) and
the same question on ClickHouse (HTTP), RUNS times each, one engine after
the other; prints medians, member counts and the ratio (bench/cohort/run.sh)."""
import argparse, json, statistics, time, urllib.request

p = argparse.ArgumentParser()
p.add_argument('--url', required=True)
p.add_argument('--key', required=True)
p.add_argument('--ch', required=True)
p.add_argument('--runs', type=int, default=5)
a = p.parse_args()

FROM, TO = '2024-12-02T00:00:00Z', '2025-01-01T00:00:00Z'


def definition(n):
    # the same window, spelt two ways so every PATCH changes the definition
    start = FROM if n % 2 == 0 else '2024-12-02T00:00:00+00:00'
    return {'properties': {'type': 'AND', 'values': [{
        'type': 'behavioral', 'key': 'purchase', 'value': 'performed_event_multiple',
        'event_type': 'events', 'operator': 'gte', 'operator_value': 2,
        'explicit_datetime': start}]}}


def api(method, path, body=None):
    req = urllib.request.Request(a.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={'Authorization': 'Bearer ' + a.key,
                                          'Content-Type': 'application/json'})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b'null')


def calculated(cid, before):
    while True:
        c = api('GET', f'/api/projects/1/cohorts/{cid}/')
        if c['errors_calculating']:
            raise SystemExit('calculation failed: %s' % c['last_error_message'])
        if c['last_calculation'] and c['last_calculation'] != before and not c['is_calculating']:
            return c
        time.sleep(0.002)


c = api('POST', '/api/projects/1/cohorts/', {'name': 'bench repeat buyers %d' % time.time(),
                                             'filters': definition(0)})
c = calculated(c['id'], None)  # the first calculation warms the caches
snout_ms = []
for i in range(a.runs):
    before = c['last_calculation']
    t0 = time.perf_counter()
    api('PATCH', f"/api/projects/1/cohorts/{c['id']}/", {'filters': definition(i + 1)})
    c = calculated(c['id'], before)
    snout_ms.append((time.perf_counter() - t0) * 1000)
snout_n = c['count']

sql = ("SELECT count() FROM (SELECT person_id FROM events WHERE team_id = 1 AND event = 'purchase'"
       " AND timestamp >= toDateTime('2024-12-02 00:00:00', 'UTC')"
       " AND timestamp < toDateTime('2025-01-01 00:00:00', 'UTC')"
       " GROUP BY person_id HAVING count() >= 2)")
ch_ms, ch_n = [], None
for i in range(a.runs + 1):
    t0 = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(a.ch, data=sql.encode())) as r:
        ch_n = int(r.read().decode().strip())
    if i:
        ch_ms.append((time.perf_counter() - t0) * 1000)

s, h = statistics.median(snout_ms), statistics.median(ch_ms)
print(f"cohort 'purchase >= 2 times in 30 days' (runs {a.runs}, medians)")
print(f"  snout      {s:8.1f} ms   members {snout_n}   (API: PATCH to calculated)")
print(f"  ClickHouse {h:8.1f} ms   members {ch_n}   (the member ids' query)")
print(f"  ratio snout/ClickHouse {s / h:.2f}   target < 500 ms: {'met' if s < 500 else 'NOT met'}")
if snout_n != ch_n:
    raise SystemExit('member counts differ')
