#!/bin/sh
# run.sh DIR SECONDS — builds every tests/fuzz/fuzz_*.c as a libFuzzer target
# under DIR and runs each for SECONDS seconds from its seed corpus. Each
# source is compiled once for all targets ($FUZZ_JOBS at a time, default 2). Exits
# non-zero if clang is missing, a target fails to build, or a target finds a
# crash, a sanitizer report, a leak or a timeout.
#
# Which sources a target links is declared in the target itself, by a line
#
#     // fuzz-sources: src/base/*.c src/http/decode.c
#
# (several such lines add up, so each stays within clang-format's width)
# of glob patterns relative to the repository root (patterns that match
# nothing are skipped; without the line the default below is used). Sources
# that include <microhttpd.h> are always left out: the fuzz build links no
# libmicrohttpd. Seeds come from tests/fuzz/corpus/<target>/ and are copied
# to DIR/corpus/<target>/, so the repository's corpus is never written to.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 DIR SECONDS" >&2
	exit 2
fi
out=$1
secs=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
default_sources="src/base/*.c src/http/decode.c src/http/lzstring.c src/wal/*.c src/capture/*.c"

cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found; install clang (and libclang-rt-dev for libFuzzer)" >&2
	exit 1
fi

mkdir -p "$out/bin" "$out/corpus" "$out/artifacts" "$out/logs" || exit 1
out=$(cd "$out" && pwd)
cflags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -O1 -g -D_GNU_SOURCE"
cflags="$cflags -I$root/src $(pkg-config --cflags json-c)"
libs="-lsodium -lz -ljson-c -lxxhash -lzstd -llz4 -lcrypto -lnettle -ldeflate -lpcre2-8 -lsqlite3 -lmaxminddb -lcurl -lcsv -lpthread -lm"

failed=0
ntargets=0
jobs=${FUZZ_JOBS:-2}

# The sources each target links, then every distinct source compiled once
# (jobs at a time) into $out/obj: the targets share most of theirs (base/),
# and compiling them once per target was half of this script's time.
rm -rf "$out/obj" "$out/srcs" && mkdir -p "$out/obj" "$out/srcs" || exit 1
cd "$root" || exit 1
for target in "$root"/tests/fuzz/fuzz_*.c; do
	[ -e "$target" ] || continue
	name=$(basename "$target" .c)
	patterns=$(sed -n 's|^[[:space:]]*//[[:space:]]*fuzz-sources:||p' "$target" | tr '\n' ' ')
	[ -n "$patterns" ] || patterns=$default_sources
	sources=""
	set -f
	for pat in $patterns; do
		set +f
		for f in $pat; do
			[ -f "$f" ] || continue # no match: the pattern stays literal
			if grep -q '#[[:space:]]*include[[:space:]]*[<"]microhttpd.h[>"]' "$f"; then
				continue
			fi
			case " $sources " in *" $f "*) continue ;; esac
			sources="$sources $f"
		done
		set -f
	done
	set +f
	printf '%s\n' $sources >"$out/srcs/$name"
done
# an object's name is its source path with / as __ (src__base__buf.o)
export cc cflags out root
sort -u "$out"/srcs/* | xargs -P "$jobs" -I{} sh -c '
	o="$out/obj/$(printf "%s" "{}" | sed "s|/|__|g; s|\.c\$|.o|")"
	# shellcheck disable=SC2086
	$cc $cflags -c -o "$o" "$root/{}" >"$o.log" 2>&1 || { cat "$o.log" >&2; exit 255; }
' || {
	echo "fuzz: a source failed to compile (above)" >&2
	exit 1
}

for target in "$root"/tests/fuzz/fuzz_*.c; do
	[ -e "$target" ] || continue
	name=$(basename "$target" .c)
	ntargets=$((ntargets + 1))
	objs=$(sed 's|/|__|g; s|\.c$|.o|; s|^|'"$out"'/obj/|' "$out/srcs/$name" | tr '\n' ' ')

	echo "fuzz: building $name"
	# shellcheck disable=SC2086 # word splitting of flag and file lists is intended
	if ! $cc $cflags -o "$out/bin/$name" "$target" $objs $libs \
		>"$out/logs/$name.build.log" 2>&1; then
		echo "fuzz: $name failed to build:" >&2
		tail -n 30 "$out/logs/$name.build.log" >&2
		failed=1
		continue
	fi

	corpus="$out/corpus/$name"
	mkdir -p "$corpus"
	if [ -d "$root/tests/fuzz/corpus/$name" ]; then
		cp -R "$root/tests/fuzz/corpus/$name/." "$corpus/"
	fi

	echo "fuzz: running $name for ${secs}s"
	if "$out/bin/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$out/artifacts/$name-" -print_final_stats=1 \
		"$corpus" >"$out/logs/$name.log" 2>&1; then
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' \
			"$out/logs/$name.log" | sed "s/^/fuzz: $name /"
	else
		echo "fuzz: $name FAILED (log: $out/logs/$name.log):" >&2
		tail -n 40 "$out/logs/$name.log" >&2
		for a in "$out/artifacts/$name"-*; do
			[ -e "$a" ] && echo "fuzz: artifact $a" >&2
		done
		failed=1
	fi
done

if [ "$ntargets" -eq 0 ]; then
	echo "fuzz: no targets in tests/fuzz" >&2
	exit 1
fi
exit $failed
