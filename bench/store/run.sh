#!/bin/sh
# run.sh [EVENTS.jsonl] [ARGS...] — builds bench_store against a base+store
# core (build-store/, Release flags of the main build) and runs it on the
# events, writing parts to a scratch directory that is removed afterwards.
#
#   python3 ../shared/bench/gen_events.py --events 1000000 --seed 42 --out /tmp/ev1m.jsonl
#   bench/store/run.sh /tmp/ev1m.jsonl [--codec zstd|lz4|none] [--level N] [--fsync]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
events=${1:-/tmp/ev1m.jsonl}
[ $# -gt 0 ] && shift
build=$root/build-store
cmake -S "$root" -B "$build" -G Ninja -DSNOUT_ONLY_MODULES="base;store" \
	-DSNOUT_BLACKBOX_TESTS=OFF >/dev/null
ninja -C "$build" -j1 snout_core >/dev/null
cc -O2 -g -D_GNU_SOURCE -I"$root/src" $(pkg-config --cflags json-c) \
	-o "$build/bench_store" "$root/bench/store/bench_store.c" "$build/libsnout_core.a" \
	$(pkg-config --libs libsodium zlib json-c libxxhash libzstd liblz4 libcrypto nettle libdeflate) -lcsv -lpthread -lm
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench_store.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/bench_store" "$events" "$dir/parts" "$@"
