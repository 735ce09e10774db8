#!/usr/bin/env bash
# compare.sh — issue 3's storage benchmark: the same generator rows into
# snout's store (WAL → parts) and into ClickHouse 18.16, in one run, one
# engine after the other, nothing else running. Prints, for each engine:
# ingest rate, bytes on disk per event, peak resident memory while ingesting,
# and the warm median time to scan one column of the big team (team 1).
#
#   bench/ingest/compare.sh                 # EVENTS=10000000 WORK=/tmp/snout-bench-10m RUNS=5
#
# snout: bench_ingest (build.sh) turns each row into the WAL record capture
# would write (not timed), then the ingest worker drains the WAL into parts
# (timed: fsync on, merges off, identity off — the issue's WAL → parts
# rate); its peak RSS is the process's over the drain. The scans then go to
# a `snout serve` on that data directory through the query API.
# ClickHouse: a fresh server (start_ch.sh), the bench schema, the same file
# streamed over one HTTP INSERT (load_ch.sh, timed); bytes are the table
# directory's after the load, RSS the server's peak. ClickHouse also keeps
# person_properties and four materialised columns that snout does not (its
# persons live elsewhere, its properties are shredded by itself); the
# bytes without them are printed too, from system.columns.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib.sh"
SHARED=${SHARED:-$ROOT/../shared/bench}
BUILD=${BUILD:-$ROOT/build}
EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-5}
W=${WORK:-/tmp/snout-bench-10m}
mkdir -p "$W"
[ -x "$BUILD/snout" ] || { echo "build first: make build" >&2; exit 1; }
command -v clickhouse-server >/dev/null || { echo "apt-get install clickhouse-server clickhouse-client" >&2; exit 1; }
if [ ! -s "$W/events.jsonl" ] || [ "$(wc -l < "$W/events.jsonl")" -lt "$EVENTS" ]; then
  echo "generating $EVENTS events..." >&2
  python3 "$SHARED/gen_events.py" --events "$EVENTS" --seed 42 --out "$W/events.jsonl" >/dev/null
fi
ROWS=$W/events.jsonl
if [ "$(wc -l < "$ROWS")" -gt "$EVENTS" ]; then
  head -n "$EVENTS" "$W/events.jsonl" > "$W/events_head.jsonl"
  ROWS=$W/events_head.jsonl
fi

# snout: WAL → parts.
BIN=$("$ROOT/bench/ingest/build.sh")
D=$W/ingest
rm -rf "$D"
"$BIN" --dir "$D" --events "$EVENTS" --jsonl "$ROWS" --mode off | tee "$W/ingest_snout.txt"
S_RATE=$(sed -n 's/.* s, \([0-9]*\) events\/s.*/\1/p' "$W/ingest_snout.txt")
S_BPE=$(sed -n 's/.*(\([0-9.]*\) bytes\/event).*/\1/p' "$W/ingest_snout.txt")
S_RSS=$(sed -n 's/.*during the drain \([0-9]*\) MiB.*/\1/p' "$W/ingest_snout.txt")

# ClickHouse: the same rows.
"$SHARED/stop_all.sh" >/dev/null 2>&1 || true
rm -rf /tmp/chbench/chi
"$SHARED/start_ch.sh" chi 19200 18233 19209 >/dev/null
CH=http://127.0.0.1:18233
SPID=
cleanup() {
  kill "$(cat /tmp/chbench/chi/pid)" 2>/dev/null || true
  [ -z "$SPID" ] || kill "$SPID" 2>/dev/null || true
}
trap cleanup EXIT
curl -sS "$CH" --data-binary @"$SHARED/schema_ch.sql" >/dev/null
# bench_ingest dropped the rows' pages from the page cache (its WAL must not
# compete with them); ClickHouse's timed load reads them, so warm them first.
cat "$ROWS" > /dev/null
"$SHARED/load_ch.sh" "$CH" events "$ROWS" | tee "$W/ingest_ch.txt"
C_SECS=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$W/ingest_ch.txt")
C_ROWS=$(sed -n 's/.*rows_in_table=\([0-9]*\).*/\1/p' "$W/ingest_ch.txt")
[ "$C_ROWS" = "$EVENTS" ] || { echo "ClickHouse holds $C_ROWS rows, not $EVENTS" >&2; exit 1; }
C_RATE=$(python3 -c "print(round($EVENTS / $C_SECS))")
C_PID=$(pgrep -f "clickhouse-server --config-file=/tmp/chbench/chi/" | head -1)
C_RSS=$(awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$C_PID/status")
C_BYTES=$(du -sb /tmp/chbench/chi/data/data/default/events | cut -f1)
C_KEPT=$(curl -sS "$CH" --data-binary "SELECT sum(data_compressed_bytes) FROM system.columns
  WHERE database = 'default' AND table = 'events' AND name NOT LIKE 'mat\\_%' AND name != 'person_properties'")

# The scans: snout through its query API on the parts it just wrote.
"$BUILD/snout" serve --data-dir "$D/off" --listen 127.0.0.1:18310 --merge-min-parts 0 --test-mode true \
  --access-log false --geoip-db '' >"$W/serve_ingest.log" 2>&1 &
SPID=$!
wait_health 18310
KEY=$(bench_api_key "$BUILD/snout" "$D/off")
echo
python3 "$ROOT/bench/query/compare.py" --snout "$BUILD/snout" --data "$D/off" --url http://127.0.0.1:18310 \
  --key "$KEY" --ch "$CH" --queries "$SHARED/queries_ch.sql" --runs "$RUNS" \
  --only C1_scan_timestamp,C2_scan_distinct_id

python3 - "$EVENTS" "$S_RATE" "$C_RATE" "$S_BPE" "$C_BYTES" "$C_KEPT" "$S_RSS" "$C_RSS" <<'PY'
import sys
n, sr, cr, sb, cb, ck, srss, crss = sys.argv[1:]
n = int(n)
print()
print(f"{'':34} {'snout':>12} {'ClickHouse':>12} {'ratio':>8}")
print(f"{'ingest, events/s':34} {int(sr):12,} {int(cr):12,} {int(sr) / int(cr):7.2f}x")
print(f"{'bytes on disk per event':34} {float(sb):12.1f} {int(cb) / n:12.1f} {int(cb) / n / float(sb):7.2f}x")
print(f"{'  ClickHouse without mat_/person':34} {'':12} {int(ck) / n:12.1f} {int(ck) / n / float(sb):7.2f}x")
print(f"{'peak RSS while ingesting, MiB':34} {int(srss):12,} {int(crss):12,}")
PY
