#!/usr/bin/env python3
"""Creates 50 flags of mixed conditions in project 1 through the REST API and
writes /flags request bodies (one per line) for flags.lua. Not a test."""
import json, random, sys, urllib.request

host, key, token, out, nbodies = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
rnd = random.Random(42)

def post(path, body):
    req = urllib.request.Request(host + path, data=json.dumps(body).encode(), method='POST',
                                 headers={'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'})
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def prop(i):
    kinds = [
        {'key': 'plan', 'type': 'person', 'operator': 'exact', 'value': ['pro', 'enterprise']},
        {'key': 'email', 'type': 'person', 'operator': 'icontains', 'value': '@example.com'},
        {'key': 'age', 'type': 'person', 'operator': 'gte', 'value': 18 + i % 40},
        {'key': 'country', 'type': 'person', 'operator': 'is_not', 'value': 'FR'},
        {'key': 'handle', 'type': 'person', 'operator': 'regex', 'value': '^user-[0-9]*%d$' % (i % 10)},
        {'key': 'app_version', 'type': 'person', 'operator': 'semver_gte', 'value': '1.%d.0' % (i % 5)},
        {'key': 'signup', 'type': 'person', 'operator': 'is_date_after', 'value': '-%dd' % (30 + i)},
        {'key': 'beta', 'type': 'person', 'operator': 'is_set'},
    ]
    return kinds[i % len(kinds)]

for i in range(50):
    groups = []
    for g in range(1 + i % 3):
        groups.append({'properties': [prop(i + g), prop(i + g + 3)][: 1 + (i + g) % 2],
                       'rollout_percentage': [100, 50, 25.5, 80][(i + g) % 4]})
    filters = {'groups': groups, 'payloads': {}}
    if i % 4 == 1:
        filters['multivariate'] = {'variants': [{'key': 'control', 'rollout_percentage': 50},
                                                {'key': 'test', 'rollout_percentage': 50}]}
        filters['payloads'] = {'test': '{"color":"blue"}'}
    elif i % 4 == 2:
        filters['payloads'] = {'true': '{"limit":%d}' % i}
    post('/api/projects/1/feature_flags/', {'key': 'bench-flag-%02d' % i, 'name': 'bench %d' % i, 'filters': filters})

with open(out, 'w') as f:
    for n in range(nbodies):
        body = {'token': token, 'distinct_id': 'user-%d' % rnd.randrange(10**6),
                'person_properties': {'plan': rnd.choice(['free', 'pro', 'enterprise']),
                                      'email': 'u%d@%s' % (n, rnd.choice(['example.com', 'other.org'])),
                                      'age': rnd.randrange(10, 80), 'country': rnd.choice(['FR', 'DE', 'US']),
                                      'handle': 'user-%d' % n, 'app_version': '1.%d.%d' % (n % 7, n % 3),
                                      'signup': '2026-%02d-01' % (1 + n % 12)}}
        f.write(json.dumps(body) + '\n')
