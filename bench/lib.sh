# lib.sh — shell helpers the benchmark scripts share (sourced, bash).
#
#   wait_health PORT          waits up to 10 s for a snout server on 127.0.0.1:PORT
#                             (then goes on: the next request says what failed)
#   bench_api_key SNOUT DIR   creates the bench user in data directory DIR (if
#                             missing) and prints a new personal API key for it

wait_health() {
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/_health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 0
}

bench_api_key() {
  "$1" user create --email bench@example.com --password bench-password-1 \
    --data-dir "$2" >/dev/null 2>&1 || true
  "$1" apikey create --email bench@example.com --data-dir "$2" | tail -1
}
