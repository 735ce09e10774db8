#!/usr/bin/env bash
# Query benchmark: the same events in snout's store and in ClickHouse 18.16,
# the same questions (../shared/bench/queries_ch.sql Q1–Q4), warm medians,
# one engine after the other, in one run. Prints a table with ratios.
#
#   bench/query/run.sh            # EVENTS=1000000 RUNS=5 by default
#
# snout's parts are written straight from the generator's rows by
# bench/store/bench_store (the same rows ClickHouse loads, teams included);
# queries go to a running `snout serve` over HTTP (the query API with a
# personal API key), as ClickHouse's go to its HTTP interface. CLI=1 runs
# `snout query --team 1` processes instead (process start included).
# ONLY=T1_trend_pageview_30d,F1_funnel_3step_30d limits the questions;
# KEEP=1 reuses the loaded data of the previous run with the same EVENTS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib.sh"
SHARED=${SHARED:-$ROOT/../shared/bench}
BUILD=${BUILD:-$ROOT/build}
EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-5}
W=${WORK:-/tmp/snout-bench-query}
mkdir -p "$W"
[ -x "$BUILD/snout" ] || { echo "build first: make build" >&2; exit 1; }
command -v clickhouse-server >/dev/null || { echo "apt-get install clickhouse-server clickhouse-client" >&2; exit 1; }

if [ ! -s "$W/events.jsonl" ] || [ "$(wc -l < "$W/events.jsonl")" -ne "$EVENTS" ]; then
  echo "generating $EVENTS events..." >&2
  python3 "$SHARED/gen_events.py" --events "$EVENTS" --seed 42 --out "$W/events.jsonl" >/dev/null
fi

# ClickHouse's data directory is shared by every WORK: it must hold this one's rows.
CHMARK=/tmp/chbench/chq/snout-bench-loaded
if [ "${KEEP:-0}" = 1 ] && [ -s "$W/loaded" ] && [ "$(cat "$W/loaded")" = "$EVENTS" ] &&
   [ "$(cat "$CHMARK" 2>/dev/null)" = "$W $EVENTS" ]; then
  LOADED=1
else
  LOADED=0; rm -f "$W/loaded"
fi

# snout: parts from the rows.
SB=$ROOT/build-bench-store
if [ "$LOADED" = 0 ]; then
  cmake -S "$ROOT" -B "$SB" -G Ninja -DSNOUT_ONLY_MODULES="base;store" -DSNOUT_BLACKBOX_TESTS=OFF >/dev/null
  ninja -C "$SB" -j2 snout_core >/dev/null
  cc -O2 -g -D_GNU_SOURCE -I"$ROOT/src" $(pkg-config --cflags json-c) -o "$SB/bench_store" \
    "$ROOT/bench/store/bench_store.c" "$SB/libsnout_core.a" \
    $(pkg-config --libs libsodium zlib json-c libxxhash libzstd liblz4 libcrypto nettle libdeflate sqlite3) -lcsv -lpthread -lm
  rm -rf "$W/data"; mkdir -p "$W/data"
  # three flushes (ids 1-3 at WAL position 0, each writing the 3 months):
  # what a server without a WAL accepts (see bench_store.c)
  "$SB/bench_store" "$W/events.jsonl" "$W/data/store" --flush-rows $(((EVENTS + 2) / 3)) \
    --threads 2 >&2
fi

# ClickHouse: the same rows.
"$SHARED/stop_all.sh" >/dev/null 2>&1 || true
if [ "$LOADED" = 0 ]; then
  rm -rf /tmp/chbench/chq
fi
"$SHARED/start_ch.sh" chq 19100 18223 19109 >/dev/null
SPID=
cleanup() {
  kill "$(cat /tmp/chbench/chq/pid)" 2>/dev/null || true
  [ -z "$SPID" ] || kill "$SPID" 2>/dev/null || true
}
trap cleanup EXIT
if [ "$LOADED" = 0 ]; then
  curl -sS http://127.0.0.1:18223 --data-binary @"$SHARED/schema_ch.sql" >/dev/null
  "$SHARED/load_ch.sh" http://127.0.0.1:18223 events "$W/events.jsonl" >&2
  curl -sS http://127.0.0.1:18223 --data-binary "OPTIMIZE TABLE events FINAL" >/dev/null
  echo "$EVENTS" > "$W/loaded"
  echo "$W $EVENTS" > "$CHMARK"
fi

# snout: a server on the data directory (the first start creates the
# organization and team 1), a user and a personal API key for the query API.
# Background merges are off so the parts do not change under the timings.
SARGS=(--data-dir "$W/data" --listen 127.0.0.1:18300 --merge-min-parts 0 --test-mode true
       --access-log false --geoip-db '')
"$BUILD/snout" serve "${SARGS[@]}" >"$W/serve.log" 2>&1 &
SPID=$!
wait_health 18300
KEY=$(bench_api_key "$BUILD/snout" "$W/data")

MODE=(--url http://127.0.0.1:18300 --key "$KEY")
[ "${CLI:-0}" = 1 ] && MODE=(--cli)
python3 "$ROOT/bench/query/compare.py" --snout "$BUILD/snout" --data "$W/data" "${MODE[@]}" \
  --ch http://127.0.0.1:18223 --queries "$SHARED/queries_ch.sql" --runs "$RUNS" ${ONLY:+--only "$ONLY"}
# the server's peak resident memory over the whole set (issue 5: < 1 GB)
[ "${CLI:-0}" = 1 ] || echo "snout server peak RSS over the set: $(awk '/^VmHWM/ {printf "%.0f MB", $2 / 1024}' /proc/$SPID/status)"
