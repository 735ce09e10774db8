#!/usr/bin/env bash
# Capture throughput benchmark (issue: foundation). Not a test: prints numbers.
#
#   bench/capture/run.sh            # defaults below; env overrides
#
# 1. generates EVENTS events with ../shared/bench/gen_events.py (seed 42) and
#    turns them into posthog-node-shaped /batch/ bodies of BATCH events;
# 2. starts snout on a fresh data directory, records idle RSS;
# 3. max throughput: wrk, CONNS keep-alive connections, DURATION seconds,
#    every 200 is a durable (fsynced, group-committed) acknowledgement;
# 4. latency at half that rate (wrk paced with a per-connection delay);
# 5. checks the WAL holds at least every acknowledged event;
# 6. reference: the same events loaded into ClickHouse 18.16 over HTTP
#    (JSONEachRow, 2 parallel streams) in the same run, when
#    clickhouse-server is installed (SKIP_CH=1 skips).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
BUILD=${BUILD:-$ROOT/build}
EVENTS=${EVENTS:-300000}
BATCH=${BATCH:-100}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
PORT=${PORT:-18000}
W=${WORK:-/tmp/snout-bench-capture}
TOKEN=phc_bench_token_000000000000000000
mkdir -p "$W"

command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
[ -x "$BUILD/snout" ] || { echo "build first: make build" >&2; exit 1; }

if [ ! -s "$W/events.jsonl" ] || [ "$(wc -l < "$W/events.jsonl")" -ne "$EVENTS" ]; then
  echo "generating $EVENTS events..."
  python3 "$SHARED/gen_events.py" --events "$EVENTS" --seed 42 --out "$W/events.jsonl" >/dev/null
fi
python3 "$ROOT/bench/capture/make_bodies.py" --token $TOKEN --batch "$BATCH" "$W/events.jsonl" "$W/bodies.txt"

rm -rf "$W/data"
SNOUT_BOOTSTRAP_TOKEN=$TOKEN SNOUT_ACCESS_LOG=false "$BUILD/snout" serve \
  --listen 127.0.0.1:$PORT --data-dir "$W/data" > "$W/snout.out" 2> "$W/snout.err" &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_ready" >/dev/null && break; sleep 0.1; done
sleep 1
IDLE_RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$SPID/status)

run_wrk() { # $1 = connections, $2 = seconds, $3 = delay ms
  BODIES="$W/bodies.txt" DELAY_MS=$3 wrk -t"$THREADS" -c"$1" -d"$2"s --timeout 10s \
    -s "$ROOT/bench/capture/capture.lua" "http://127.0.0.1:$PORT" | grep '^RESULT'
}
field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k {print $2}'; }

run_wrk 16 3 0 >/dev/null   # warm-up
MAX=$(run_wrk "$CONNS" "$DURATION" 0)
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SPID/status)
MAX_RPS=$(field "$MAX" req_per_s)
MAX_EPS=$(python3 -c "print(int($MAX_RPS * $BATCH))")
# Half rate: CONNS connections each pausing so that together they offer half.
HALF_CONNS=32
# Each paced request also spends its latency (~2-3 ms at this load) in flight.
DELAY=$(python3 -c "print(max(1, int(1000 * $HALF_CONNS / ($MAX_RPS / 2)) - 2))")
HALF=$(run_wrk $HALF_CONNS "$DURATION" "$DELAY")
HALF_EPS=$(python3 -c "print(int($(field "$HALF" req_per_s) * $BATCH))")
WAL=$("$BUILD/snout" wal stats --data-dir "$W/data")
# Ingest (WAL → parts) runs inside the server during the load; after it,
# time how long the backlog takes to drain.
lag() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1=="snout_ingest_lag_events" {print $2}'; }
LAG0=$(lag); T0=$(date +%s.%N)
while [ "$(lag)" != 0 ]; do sleep 0.2; done
T1=$(date +%s.%N)
DRAIN=$(python3 -c "print(f'{$T1 - $T0:.1f}')")
DRAIN_RATE=$(python3 -c "d=$T1-$T0; print(int($LAG0 / d) if d > 0.3 else 'n/a')")
kill -TERM $SPID; wait $SPID || true; trap - EXIT
STORE=$("$BUILD/snout" store stats --data-dir "$W/data" | python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['rows']} rows in {d['parts']} parts, {d['bytes_per_row']} bytes/event\")")
[ "${KEEP:-0}" = 1 ] || rm -rf "$W/data"   # GBs of WAL
ACK=$(python3 -c "print(int(($(field "$MAX" requests) - $(field "$MAX" non2xx)) * $BATCH))")

echo
echo "snout capture benchmark: $EVENTS distinct events, batches of $BATCH, $(nproc) cores, wrk -t$THREADS on the same machine"
echo "  max throughput:   $MAX_EPS events/s acknowledged durable ($CONNS conns; $MAX)"
echo "  half rate:        $HALF_EPS events/s (target $((MAX_EPS / 2))) from $HALF_CONNS paced conns (delay ${DELAY} ms); p50 $(field "$HALF" p50_ms) ms, p99 $(field "$HALF" p99_ms) ms"
echo "  idle RSS:         $((IDLE_RSS_KB / 1024)) MB; peak RSS under load $((PEAK_RSS_KB / 1024)) MB"
echo "  WAL after run:    $WAL (acknowledged in the max run alone: $ACK events)"
echo "  ingest backlog:   $LAG0 events after the runs, drained in ${DRAIN}s ($DRAIN_RATE events/s alone); store: $STORE"

if [ "${SKIP_CH:-0}" != 1 ] && command -v clickhouse-server >/dev/null; then
  "$SHARED/stop_all.sh" >/dev/null 2>&1 || true
  rm -rf /tmp/chbench/chcap
  "$SHARED/start_ch.sh" chcap 19000 18123 19009 >/dev/null
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18123/ping >/dev/null && break; sleep 0.2; done
  curl -sS http://127.0.0.1:18123 --data-binary @"$SHARED/schema_ch.sql" >/dev/null
  # Three copies of the events, so the load lasts long enough to time.
  for _ in 1 2 3; do cat "$W/events.jsonl"; done > "$W/ch3.jsonl"
  split -n l/2 "$W/ch3.jsonl" "$W/chpart."; rm -f "$W/ch3.jsonl"
  CH=$("$SHARED/load_ch.sh" http://127.0.0.1:18123 events "$W/chpart.aa" "$W/chpart.ab" | tail -1)
  rm -f "$W"/chpart.*
  kill "$(cat /tmp/chbench/chcap/pid)" 2>/dev/null || true
  CH_SECS=$(field "$CH" seconds); CH_ROWS=$(field "$CH" rows_in_table)
  CH_EPS=$(python3 -c "print(int($CH_ROWS / $CH_SECS))")
  echo "  ClickHouse 18.16: $CH_EPS events/s inserting the same events (x3) over HTTP (2 streams; $CH)"
  echo "  ratio snout/ClickHouse: $(python3 -c "print(round($MAX_EPS / $CH_EPS, 2))")x"
fi
