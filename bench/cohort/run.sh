#!/usr/bin/env bash
# Cohort benchmark (issue 10): the dynamic cohort "performed purchase at
# least twice in the last 30 days" over the 200k persons of ../shared/bench,
# calculated by a running `snout serve` (REST API: PATCH the definition,
# poll until last_calculation moves), against the same question on
# ClickHouse 18.16 (the person ids with two purchases in the window), on the
# same events in the same run. Prints medians, the members each engine found
# (they must be equal) and the ratio. Target: < 500 ms.
#
#   bench/cohort/run.sh              # EVENTS=10000000 RUNS=5 by default
#   KEEP=1 EVENTS=1000000 bench/cohort/run.sh
#
# Events (snout's parts and ClickHouse's table) are bench/query/run.sh's
# (same WORK directory): it is run first to load them (KEEP=1 reuses them).
# The persons are the generator's (--persons-out), written straight into
# the person store's tables with their generator ids (the ids the events
# carry), as bench_store writes parts: a benchmark shortcut past ingestion.
# The window is explicit (2024-12-02 to the data's end, 2025-01-01), since
# the data's "now" is pinned. Do not run it while anything else builds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib.sh"
SHARED=${SHARED:-$ROOT/../shared/bench}
BUILD=${BUILD:-$ROOT/build}
EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-5}
W=${WORK:-/tmp/snout-bench-query}
PORT=${PORT:-18320}
[ -x "$BUILD/snout" ] || { echo "build first: make build (or BUILD=<dir>)" >&2; exit 1; }

# Events in both engines (loads only what is missing with KEEP=1).
KEEP=${KEEP:-0} EVENTS=$EVENTS RUNS=1 ONLY=Q1_count WORK=$W BUILD=$BUILD \
  "$ROOT/bench/query/run.sh" >/dev/null

# Persons: the generator's, into the person store (the server is stopped).
if [ ! -s "$W/persons.jsonl" ]; then
  python3 "$SHARED/gen_events.py" --events 1 --seed 42 --out /dev/null \
    --persons-out "$W/persons.jsonl" >/dev/null
fi
SARGS=(--data-dir "$W/data" --listen 127.0.0.1:$PORT --merge-min-parts 0 --access-log false
       --geoip-db '' --cohort-interval 24h)
# Starts the server; the query run's server may still be releasing the data
# directory, so a start refused for that is retried for a while.
start_serve() {
  for _ in $(seq 50); do
    "$BUILD/snout" serve "${SARGS[@]}" >"$W/cohort-serve.log" 2>&1 &
    SPID=$!
    for _ in $(seq 100); do
      curl -sf http://127.0.0.1:$PORT/_health >/dev/null 2>&1 && return 0
      kill -0 "$SPID" 2>/dev/null || break
      sleep 0.1
    done
    grep -q "in use by another" "$W/cohort-serve.log" || { cat "$W/cohort-serve.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "the data directory stayed in use" >&2; exit 1
}
SPID=
# The query run's ClickHouse may still be stopping: wait until it is gone.
"$SHARED/stop_all.sh" >/dev/null 2>&1 || true
for _ in $(seq 300); do pgrep -f "/tmp/chbench/chq/" >/dev/null || break; sleep 0.1; done
"$SHARED/start_ch.sh" chq 19100 18223 19109 >/dev/null
for _ in $(seq 300); do curl -sf http://127.0.0.1:18223/ping >/dev/null 2>&1 && break; sleep 0.1; done
cleanup() {
  kill "$(cat /tmp/chbench/chq/pid)" 2>/dev/null || true
  [ -z "${SPID:-}" ] || kill "$SPID" 2>/dev/null || true
}
trap cleanup EXIT
start_serve # creates the person store's tables
kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
python3 - "$W/persons.jsonl" "$W/data/persons.sqlite3" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
have = db.execute("SELECT count(*) FROM posthog_person").fetchone()[0]
if have == 0:
    persons, dids = {}, []
    for line in open(sys.argv[1]):
        r = json.loads(line)
        persons[(r['team_id'], r['person_id'])] = 1
        dids.append((r['team_id'], r['distinct_id'], r['person_id']))
    db.executemany("INSERT INTO posthog_person (team_id, uuid, properties, is_identified, created_at, version)"
                   " VALUES (?, ?, '{}', 0, 1700000000000000, 0)", list(persons))
    db.executemany("INSERT OR IGNORE INTO posthog_persondistinctid (team_id, distinct_id, person_uuid)"
                   " VALUES (?, ?, ?)", dids)
    db.commit()
print("persons in the store:", db.execute("SELECT count(*) FROM posthog_person").fetchone()[0], file=sys.stderr)
PY
start_serve
KEY=$(bench_api_key "$BUILD/snout" "$W/data")
python3 "$ROOT/bench/cohort/bench.py" --url http://127.0.0.1:$PORT --key "$KEY" \
  --ch http://127.0.0.1:18223 --runs "$RUNS"
