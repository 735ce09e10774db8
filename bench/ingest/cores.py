#!/usr/bin/env python3
"""cores.py — where an ingest drain's two cores go, thread by thread.

Runs bench_ingest (built by build.sh) once in a scratch directory and reads
every thread's /proc/<pid>/task/<tid>/schedstat (time on a CPU, time runnable
but waiting for one) every 0.1 s from the moment the sn-ingest thread exists
until the process exits. Prints bench_ingest's own summary, then per thread
name: the share of the drain's wall time it ran, waited for a CPU, and slept;
the cores used in all; and how many 0.1 s intervals had the writer pool idle
(no part being encoded) and the cores those intervals left unused.

    bench/ingest/cores.py [--timeline] [--nice N] -- ARGS...

ARGS go to bench_ingest (--dir is added), e.g.
    bench/ingest/cores.py -- --events 10000000 --jsonl /tmp/snout-bench-10m/events.jsonl --mode on

--nice N renices the background threads (part writers, flusher, WAL reaper,
SQLite checkpointer) from outside as they appear, to measure what giving the
ingest thread a core of its own would change (docs/BENCHMARKS.md, session 55).
--timeline prints the 0.1 s intervals too.
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time

BACKGROUND = {'sn-writer', 'sn-flush', 'sn-wal-reap', 'sn-db-ckpt'}


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument('--timeline', action='store_true')
    ap.add_argument('--nice', type=int, default=0)
    ap.add_argument('args', nargs='*')
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    binp = subprocess.run([os.path.join(here, 'build.sh')], check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]
    d = tempfile.mkdtemp(prefix='bench_cores.')
    try:
        run(binp, d, a)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def snap(pid):
    """tid -> (thread name without its number, ns on a CPU, ns waiting for one)."""
    r = {}
    try:
        tids = os.listdir(f'/proc/{pid}/task')
    except OSError:
        return r
    for t in tids:
        try:
            name = open(f'/proc/{pid}/task/{t}/comm').read().strip().rstrip('0123456789-')
            f = open(f'/proc/{pid}/task/{t}/schedstat').read().split()
            r[t] = (name, int(f[0]), int(f[1]))
        except (OSError, IndexError, ValueError):
            pass
    return r


def run(binp, d, a):
    out = tempfile.TemporaryFile(mode='w+')
    p = subprocess.Popen([binp, '--dir', d] + a.args, stdout=out, stderr=subprocess.STDOUT)
    while p.poll() is None and not any(v[0] == 'sn-ingest' for v in snap(p.pid).values()):
        time.sleep(0.01)
    first = snap(p.pid)
    last = dict(first)
    t0 = tprev = tlast = time.time()
    prev = dict(first)
    niced = set()
    rows = []
    while p.poll() is None:
        time.sleep(0.1)
        s = snap(p.pid)
        if not s:
            break
        now = time.time()
        run_d, wait_d = collections.Counter(), collections.Counter()
        for t, (name, ran, waited) in s.items():
            if a.nice and name in BACKGROUND and t not in niced:
                niced.add(t)
                try:
                    os.setpriority(os.PRIO_PROCESS, int(t), a.nice)
                except OSError as e:
                    print(f'cores.py: renice {t}: {e}', file=sys.stderr)
            b = prev.get(t, (name, 0, 0))
            run_d[name] += (ran - b[1]) / 1e9 / (now - tprev)
            wait_d[name] += (waited - b[2]) / 1e9 / (now - tprev)
            last[t] = (name, ran, waited)
        rows.append((now - t0, run_d, wait_d))
        prev, tprev, tlast = s, now, now
    p.wait()
    out.seek(0)
    print(out.read().rstrip())
    wall = tlast - t0
    if wall <= 0:
        return
    agg = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for t, (name, ran, waited) in last.items():
        b = first.get(t, (name, 0, 0))
        g = agg[name]
        g[0] += (ran - b[1]) / 1e9
        g[1] += (waited - b[2]) / 1e9
        g[2] += 1
    print(f'drain {wall:.2f} s (sampled), background threads at nice {a.nice}')
    print('thread           n  running  waiting-for-CPU  asleep (shares of wall time, per thread)')
    for name, (ran, waited, n) in sorted(agg.items()):
        if ran / wall < 0.01:
            continue
        print(f'{name:14s} {n:3d}   {ran / wall / n:5.2f}    {waited / wall / n:5.2f}'
              f'            {1 - (ran + waited) / wall / n:5.2f}')
    used = sum(g[0] for g in agg.values()) / wall
    idle = [2 - sum(r.values()) for _, r, _ in rows if r['sn-writer'] < 0.05]
    lost = sum(2 - sum(r.values()) for _, r, _ in rows)
    print(f'cores used {used:.2f} of 2; 0.1 s intervals {len(rows)}, with the writer pool idle '
          f'{len(idle)} ({100 * len(idle) / max(1, len(rows)):.0f} %), leaving '
          f'{sum(idle) / max(1, len(rows)):.2f} of the {lost / max(1, len(rows)):.2f} cores unused')
    if a.timeline:
        for t, r, w in rows:
            print(f'{t:6.2f} cores {sum(r.values()):4.2f} | ' + ' '.join(
                f'{n} {r[n]:4.2f}/{w[n]:4.2f}' for n in sorted(r) if r[n] + w[n] >= 0.01))


if __name__ == '__main__':
    main()
