#!/usr/bin/env python3
"""Turns gen_events.py rows (ClickHouse JSONEachRow) into capture request
bodies shaped like posthog-node's /batch/ requests: one JSON body per line,
`--batch` events each, with the given project token.

Usage: make_bodies.py --token phc_... --batch 100 IN.jsonl OUT.bodies
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--token', required=True)
    ap.add_argument('--batch', type=int, default=100)
    ap.add_argument('inp')
    ap.add_argument('out')
    a = ap.parse_args()
    n_events = n_bodies = n_bytes = 0
    with open(a.inp) as f, open(a.out, 'w') as out:
        batch = []

        def flush():
            nonlocal n_bodies, n_bytes, batch
            if not batch:
                return
            body = json.dumps({'api_key': a.token, 'batch': batch,
                               'sent_at': batch[-1]['timestamp']}, separators=(',', ':'))
            out.write(body + '\n')
            n_bodies += 1
            n_bytes += len(body)
            batch = []

        for line in f:
            row = json.loads(line)
            props = json.loads(row['properties'])
            props['$lib'] = 'posthog-node'
            props['$lib_version'] = '5.70.0'
            ts = row['timestamp'].replace(' ', 'T') + 'Z'
            batch.append({'event': row['event'], 'distinct_id': row['distinct_id'],
                          'uuid': row['uuid'], 'timestamp': ts, 'properties': props})
            n_events += 1
            if len(batch) == a.batch:
                flush()
        flush()
    print(f'{n_events} events in {n_bodies} bodies, {n_bytes / max(n_events, 1):.0f} bytes/event')


if __name__ == '__main__':
    main()
