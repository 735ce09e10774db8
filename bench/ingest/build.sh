#!/bin/sh
# build.sh — builds bench_ingest against a core of the modules ingest needs
# (build-ingest-bench/, Release flags of the main build) and prints the
# binary's path. Used by run.sh and compare.sh.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-ingest-bench
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
	-DSNOUT_ONLY_MODULES="base;wal;meta;store;persons;ingest;http;capture" -DSNOUT_BLACKBOX_TESTS=OFF \
	-DSNOUT_SANITIZE_TESTS=OFF >/dev/null
ninja -C "$build" -j2 snout_core >/dev/null
cc -O2 -g -D_GNU_SOURCE -I"$root/src" $(pkg-config --cflags json-c) \
	-o "$build/bench_ingest" "$root/bench/ingest/bench_ingest.c" "$build/libsnout_core.a" \
	$(pkg-config --libs libsodium zlib json-c libxxhash libzstd liblz4 libcrypto nettle libdeflate sqlite3 libmaxminddb) \
	-lcsv -lpthread -lm
echo "$build/bench_ingest"
