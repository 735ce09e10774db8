#!/usr/bin/env bash
# Installs the Debian packages snout needs, only when some are missing.
# Usage: scripts/deps.sh build|test
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail
want=(build-essential cmake ninja-build pkg-config libmicrohttpd-dev libjson-c-dev
      libsodium-dev zlib1g-dev libsqlite3-dev libxxhash-dev libzstd-dev liblz4-dev libssl-dev libcmocka-dev
      libpcre2-dev libmaxminddb-dev libcsv-dev nettle-dev libdeflate-dev libcurl4-openssl-dev)
if [ "${1:-build}" = test ]; then
  want+=(clang libclang-rt-14-dev curl wrk python3)
  want+=(clickhouse-server clickhouse-client) # tests/clickhouse: the printer's test peer
  want+=(chromium) # tests/blackbox/browser.test.mjs: posthog-js in headless Chromium
  command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "snout: installing Debian packages: ${missing[*]}" >&2
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
