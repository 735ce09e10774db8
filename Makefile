# The two commands of the README:
#   make run   — install missing packages, build, start the server (embedded default)
#   make test  — install missing packages, build, run every test (ctest)
BUILD ?= build
JOBS ?= 2
ARGS ?=

.PHONY: all build run test deps test-deps clean format bench

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test
	@cd tests/blackbox && { [ -d node_modules/posthog-node ] || npm ci --no-audit --no-fund --loglevel=error; }
	@cd tests/hogql && { [ -d node_modules/@posthog/hogql-parser ] || npm ci --no-audit --no-fund --loglevel=error; }

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS) snout

run: build
	./$(BUILD)/snout serve $(ARGS)

test: test-deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

bench: build
	bench/capture/run.sh

format:
	clang-format -i src/*/*.c src/*/*.h src/*.c tests/unit/*.c tests/fuzz/*.c

clean:
	rm -rf $(BUILD)
