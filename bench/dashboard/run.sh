#!/usr/bin/env bash
# Dashboard benchmark (issue 10): a dashboard of 12 typical tiles on the
# events of ../shared/bench, opened cold (every tile computed: refresh
# force_blocking) and cached (refresh blocking with fresh results), through
# the REST API of a running `snout serve`, as a browser would ask. Prints
# medians; targets: < 1 s cold, < 20 ms cached on 10M events.
#
#   bench/dashboard/run.sh             # EVENTS=10000000 RUNS=5 by default
#   EVENTS=100000 bench/dashboard/run.sh   # a smoke run
#   TILES=20 bench/dashboard/run.sh    # issue 10's test: 20 tiles, each equal to its
#                                      # insight computed alone (the script asserts it)
#
# The events and snout's parts are those of bench/query/run.sh (same WORK
# directory, /tmp/snout-bench-query): KEEP=1 reuses them when they hold
# EVENTS rows (loaded by either script), else they are generated and written
# straight from the generator's rows by bench/store/bench_store. No
# ClickHouse here. Do not run it on 10M events while anything else builds:
# it measures a 2-core machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib.sh"
SHARED=${SHARED:-$ROOT/../shared/bench}
BUILD=${BUILD:-$ROOT/build}
EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-5}
TILES=${TILES:-12}
W=${WORK:-/tmp/snout-bench-query}
PORT=${PORT:-18310}
mkdir -p "$W"
[ -x "$BUILD/snout" ] || { echo "build first: make build (or BUILD=<dir>)" >&2; exit 1; }

if [ "${KEEP:-0}" = 1 ] && { [ "$(cat "$W/loaded" 2>/dev/null)" = "$EVENTS" ] ||
                             [ "$(cat "$W/loaded-store" 2>/dev/null)" = "$EVENTS" ]; }; then
  echo "reusing the $EVENTS events loaded in $W" >&2
else
  if [ ! -s "$W/events.jsonl" ] || [ "$(wc -l < "$W/events.jsonl")" -ne "$EVENTS" ]; then
    echo "generating $EVENTS events..." >&2
    python3 "$SHARED/gen_events.py" --events "$EVENTS" --seed 42 --out "$W/events.jsonl" >/dev/null
  fi
  rm -f "$W/loaded" "$W/loaded-store"
  SB=$ROOT/build-bench-store
  cmake -S "$ROOT" -B "$SB" -G Ninja -DSNOUT_ONLY_MODULES="base;store" -DSNOUT_BLACKBOX_TESTS=OFF >/dev/null
  ninja -C "$SB" -j1 snout_core >/dev/null
  cc -O2 -g -D_GNU_SOURCE -I"$ROOT/src" $(pkg-config --cflags json-c) -o "$SB/bench_store" \
    "$ROOT/bench/store/bench_store.c" "$SB/libsnout_core.a" \
    $(pkg-config --libs libsodium zlib json-c libxxhash libzstd liblz4 libcrypto nettle libdeflate sqlite3) -lcsv -lpthread -lm
  rm -rf "$W/data"; mkdir -p "$W/data"
  "$SB/bench_store" "$W/events.jsonl" "$W/data/store" --flush-rows $(((EVENTS + 2) / 3)) \
    --threads 2 >&2
  echo "$EVENTS" > "$W/loaded-store"
fi

# A server on the data directory (background merges off: the parts must not
# change under the timings), a user and a personal API key.
SARGS=(--data-dir "$W/data" --listen "127.0.0.1:$PORT" --merge-min-parts 0 --access-log false
       --geoip-db '')
"$BUILD/snout" serve "${SARGS[@]}" >"$W/serve-dashboard.log" 2>&1 &
SPID=$!
trap 'kill "$SPID" 2>/dev/null || true' EXIT
wait_health "$PORT"
KEY=$(bench_api_key "$BUILD/snout" "$W/data")

python3 "$ROOT/bench/dashboard/bench.py" --url "http://127.0.0.1:$PORT" --key "$KEY" \
  --runs "$RUNS" --events "$EVENTS" --tiles "$TILES"
