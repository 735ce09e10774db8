#!/usr/bin/env bash
# /flags evaluation benchmark. Not a test: prints numbers.
#
#   bench/flags/run.sh             # defaults below; env overrides
#
# 1. starts snout on a fresh data directory (bootstrap token and personal key);
# 2. creates 50 flags of mixed conditions for the project through the REST API
#    (exact/icontains/gte/is_not/regex/semver/relative date/is_set filters, 1–3
#    condition groups, rollouts, multivariate and payloads) and NBODIES request
#    bodies with random distinct ids and person properties (setup.py);
# 3. wrk with CONNS keep-alive connections for DURATION seconds against
#    POST /flags?v=2 (flags.lua): every request evaluates all 50 flags;
# 4. prints requests/s, p50/p99 latency, non-2xx answers and peak RSS;
# 5. with RATE set (e.g. RATE=40000), then latency at about that rate:
#    PACE_CONNS connections (default 128), each pausing between requests so
#    that together they offer about RATE. wrk pauses in whole milliseconds,
#    so the offered rate is approximate and needs many connections.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
NBODIES=${NBODIES:-5000}
PORT=${PORT:-18100}
W=${WORK:-/tmp/snout-bench-flags}
TOKEN=phc_bench_flags_token_00000000000000
KEY=phx_bench_flags_personal_key_000000000
mkdir -p "$W"

command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
[ -x "$BUILD/snout" ] || { echo "build first: make build" >&2; exit 1; }

rm -rf "$W/data"
SNOUT_BOOTSTRAP_TOKEN=$TOKEN SNOUT_BOOTSTRAP_API_KEY=$KEY SNOUT_ACCESS_LOG=false \
  "$BUILD/snout" serve --listen 127.0.0.1:$PORT --data-dir "$W/data" > "$W/snout.out" 2> "$W/snout.err" &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_ready" >/dev/null && break; sleep 0.1; done

python3 "$ROOT/bench/flags/setup.py" "http://127.0.0.1:$PORT" $KEY $TOKEN "$W/bodies.txt" "$NBODIES"
NFLAGS=$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/projects/1/feature_flags/?limit=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
SAMPLE=$(head -1 "$W/bodies.txt" | curl -s -X POST --data-binary @- "http://127.0.0.1:$PORT/flags/?v=2" |
  python3 -c 'import json,sys; f=json.load(sys.stdin)["flags"]; print(sum(1 for v in f.values() if v["enabled"]), "of", len(f), "enabled")')

run_wrk() { # $1 = connections, $2 = seconds, $3 = delay ms (0: as fast as answered)
  BODIES="$W/bodies.txt" DELAY_MS=${3:-0} wrk -t"$THREADS" -c"$1" -d"$2"s --timeout 10s \
    -s "$ROOT/bench/flags/flags.lua" "http://127.0.0.1:$PORT" | grep '^RESULT'
}
field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k {print $2}'; }

run_wrk 8 2 >/dev/null   # warm-up (first request compiles the set)
R=$(run_wrk "$CONNS" "$DURATION")
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SPID/status)
echo "flags: $NFLAGS flags per request, sample answer: $SAMPLE"
echo "POST /flags?v=2, $CONNS keep-alive connections, ${DURATION}s:"
echo "  req/s     $(field "$R" req_per_s)"
echo "  p50 ms    $(field "$R" p50_ms)"
echo "  p99 ms    $(field "$R" p99_ms)"
echo "  max ms    $(field "$R" max_ms)"
echo "  non-2xx   $(field "$R" non2xx)   socket errors $(field "$R" errors)"
echo "  peak RSS  $((PEAK_RSS_KB / 1024)) MiB"

# Fixed rate: each of PACE_CONNS connections waits DELAY ms after an answer;
# with ~1 ms of latency that offers PACE_CONNS * 1000 / (DELAY + 1) per second.
[ -n "${RATE:-}" ] || exit 0
PACE_CONNS=${PACE_CONNS:-128}
DELAY=$(python3 -c "print(max(1, round(1000 * $PACE_CONNS / $RATE) - 1))")
P=$(run_wrk "$PACE_CONNS" "$DURATION" "$DELAY")
echo "paced, $PACE_CONNS connections each waiting ${DELAY} ms (offered about $RATE/s), ${DURATION}s:"
echo "  req/s     $(field "$P" req_per_s)"
echo "  p50 ms    $(field "$P" p50_ms)"
echo "  p99 ms    $(field "$P" p99_ms)"
echo "  max ms    $(field "$P" max_ms)"
echo "  non-2xx   $(field "$P" non2xx)   socket errors $(field "$P" errors)"
