#!/bin/sh
# run.sh [REPS] — builds bench_hogql against a base+hogql core (build-hogql/,
# Release flags) and times parse / resolve / print / ClickHouse print over
# the parser corpus (tests/hogql/corpus.txt) and the insight-shaped queries
# in bench/hogql/insights.txt. Prints medians and tails in µs per query.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-hogql
cmake -S "$root" -B "$build" -G Ninja -DSNOUT_ONLY_MODULES="base;hogql" \
	-DSNOUT_BLACKBOX_TESTS=OFF >/dev/null
ninja -C "$build" -j2 snout_core >/dev/null
cc -O2 -g -D_GNU_SOURCE -I"$root/src" $(pkg-config --cflags json-c) \
	-o "$build/bench_hogql" "$root/bench/hogql/bench_hogql.c" "$build/libsnout_core.a" \
	$(pkg-config --libs libsodium zlib json-c libxxhash libzstd liblz4 libcrypto nettle libdeflate libpcre2-8 sqlite3) -lcsv -lpthread -lm
"$build/bench_hogql" "$root/tests/hogql/corpus.txt" "$root/bench/hogql/insights.txt" "${1:-31}"
