# durable-wasm: build guests + host, run the seed app, test, lint, bench.
# `make run` and `make test` do all set-up on a fresh machine.

CARGO   ?= cargo
GUESTS  := target/guests
TARGETS := wasm32-unknown-unknown wasm32-wasip2
HOST    := target/release/durable
COMPONENTIZE := target/release/componentize

.PHONY: all setup setup-postgres setup-browser build guests host run test clients lint fmt bench chaos chaos-pg schemathesis fuzz clean

all: build

## setup: install the wasm targets and the C toolchain for QuickJS (idempotent).
setup:
	@rustup target list --installed | grep -q '^wasm32-unknown-unknown$$' && \
	 rustup target list --installed | grep -q '^wasm32-wasip2$$' || rustup target add $(TARGETS)
	@scripts/wasm-cc.sh $(WASM_CC) $(WASM_AR) $(WASI_INCLUDE)

## setup-postgres: PostgreSQL's server binaries, for the PostgreSQL store's tests (which start
## throw-away clusters of their own; nothing runs system-wide).
setup-postgres:
	@scripts/postgres.sh

## setup-browser: Debian's headless Chromium and ChromeDriver, for the dashboard's browser tests.
setup-browser:
	@scripts/browser.sh

## build: release host at target/release/durable, every guest component in target/guests/*.wasm.
build: setup guests host

host:
	$(CARGO) build --release -p durable

$(COMPONENTIZE): tools/componentize/src/main.rs tools/componentize/Cargo.toml
	$(CARGO) build --release -p componentize

## The JS runtime compiles QuickJS (C) for wasm32 with the toolchain .cargo/config.toml names
## (Debian's clang-19, llvm-19 and wasi-libc): `setup` checks for it and installs what is
## missing. To use another, set CC_wasm32_unknown_unknown, AR_wasm32_unknown_unknown,
## CC_wasm32_wasip2, AR_wasm32_wasip2 and CFLAGS_wasm32_wasip2 in the environment, and these.
WASM_CC ?= clang-19
WASM_AR ?= llvm-ar-19
WASI_INCLUDE ?= /usr/include/wasm32-wasi

## guests: orchestrators and entities (wasm32-unknown-unknown, componentized) and activities (wasm32-wasip2),
## and the JavaScript runtime in its three roles (rebuilt only when guest-js/ or wit/ change:
## each role is a build of its own with different features).
JS_RUNTIME := $(GUESTS)/js-orchestrator.wasm $(GUESTS)/js-starter.wasm $(GUESTS)/js-activity.wasm
JS_SOURCES := $(shell find guest-js wit -type f) Cargo.toml Cargo.lock .cargo/config.toml

$(GUESTS)/js-orchestrator.wasm $(GUESTS)/js-starter.wasm: $(GUESTS)/js-%.wasm: $(JS_SOURCES) $(COMPONENTIZE)
	@mkdir -p $(GUESTS)
	$(CARGO) build --profile guest --target wasm32-unknown-unknown -p guest-js --features $*
	$(COMPONENTIZE) target/wasm32-unknown-unknown/guest/guest_js.wasm $@

$(GUESTS)/js-activity.wasm: $(JS_SOURCES)
	@mkdir -p $(GUESTS)
	$(CARGO) build --profile guest --target wasm32-wasip2 -p guest-js --features activity
	cp target/wasm32-wasip2/guest/guest_js.wasm $@

guests: setup $(COMPONENTIZE) $(JS_RUNTIME)
	@mkdir -p $(GUESTS)
	# v2 builds first (same artifact path), for the hot-swap and versioning examples.
	$(CARGO) build --profile guest --target wasm32-unknown-unknown -p guest-orchestrator --features v2
	$(COMPONENTIZE) target/wasm32-unknown-unknown/guest/guest_orchestrator.wasm $(GUESTS)/orchestrator-v2.wasm
	$(CARGO) build --profile guest --target wasm32-wasip2 -p guest-activities --features v2
	cp target/wasm32-wasip2/guest/guest_activities.wasm $(GUESTS)/activities-v2.wasm
	$(CARGO) build --profile guest --target wasm32-unknown-unknown -p guest-orchestrator
	$(CARGO) build --profile guest --target wasm32-wasip2 -p guest-activities
	@mkdir -p $(GUESTS)
	$(COMPONENTIZE) target/wasm32-unknown-unknown/guest/guest_orchestrator.wasm $(GUESTS)/orchestrator.wasm
	cp target/wasm32-wasip2/guest/guest_activities.wasm $(GUESTS)/activities.wasm
	$(CARGO) build --profile guest --target wasm32-unknown-unknown -p guest-entities --features probe
	$(COMPONENTIZE) target/wasm32-unknown-unknown/guest/guest_entities.wasm $(GUESTS)/test-entities.wasm
	$(CARGO) build --profile guest --target wasm32-unknown-unknown -p guest-entities
	$(COMPONENTIZE) target/wasm32-unknown-unknown/guest/guest_entities.wasm $(GUESTS)/entities.wasm
	$(CARGO) build --profile guest --target wasm32-unknown-unknown -p test-guests
	$(CARGO) build --profile guest --target wasm32-wasip2 -p test-guests
	$(COMPONENTIZE) target/wasm32-unknown-unknown/guest/test_guests.wasm $(GUESTS)/test-orchestrator.wasm
	cp target/wasm32-wasip2/guest/test_guests.wasm $(GUESTS)/test-orchestrator-wasi.wasm
	$(CARGO) build --profile guest --target wasm32-wasip2 -p test-activities
	cp target/wasm32-wasip2/guest/test_activities.wasm $(GUESTS)/test-activities.wasm


## run: build everything and serve the seed app (key and a ready-to-paste curl are printed).
run: build
	$(HOST) serve --config durable.toml

## clients: the official Durable Functions clients the e2e tests drive (npm durable-functions,
## PyPI azure-functions-durable), at the versions pinned in tests/clients/.
CLIENTS_VENV := target/clients-venv
NODE_CLIENT  := tests/clients/node/node_modules/.package-lock.json
clients: $(NODE_CLIENT) $(CLIENTS_VENV)/.installed

$(NODE_CLIENT): tests/clients/node/package.json tests/clients/node/package-lock.json
	npm ci --prefix tests/clients/node --no-audit --no-fund

$(CLIENTS_VENV)/.installed: tests/clients/python/requirements.txt
	python3 -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/clients/python/requirements.txt
	touch $@

## test: unit tests, then end-to-end tests against the real binary, components and clients.
test: build clients setup-postgres setup-browser
	$(CARGO) test --release --workspace --exclude guest-js

## chaos: the long chaos run (kill -9 at random moments, then check every acknowledged instance).
chaos: build
	CHAOS_ROUNDS=$${CHAOS_ROUNDS:-30} $(CARGO) test --release -p e2e --test chaos -- --nocapture

## chaos-pg: three hosts on PostgreSQL, one killed (and restarted) or paused past its lease at random moments, many times.
chaos-pg: build setup-postgres
	CHAOS_ROUNDS=$${CHAOS_ROUNDS:-20} $(CARGO) test --release -p e2e --test chaos_pg -- --nocapture

## schemathesis: property-based API test from /openapi.json (SCHEMATHESIS_SECONDS, default 120).
schemathesis: build
	scripts/schemathesis.sh $${SCHEMATHESIS_SECONDS:-120}

## fuzz: cargo-fuzz on the pure engine (history decoding, replay), FUZZ_SECONDS per target
## (default 60). The machine has only a stable toolchain, so RUSTC_BOOTSTRAP=1 lets cargo-fuzz
## pass its -Z sanitizer flags.
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in replay history_json; do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t -- -max_total_time=$${FUZZ_SECONDS:-60} || exit 1; \
	done

## bench: the benchmark against the real host (BENCH_ARGS=--short for a quick run).
bench: build
	$(CARGO) build --release -p durable-bench
	target/release/durable-bench $(BENCH_ARGS)

## lint: formatting and clippy, as CI runs them (clippy builds the JS runtime: needs setup).
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --exclude guest-js --all-targets -- -D warnings
	# The JS runtime's role code only compiles for its wasm targets, one role per build.
	$(CARGO) clippy --profile guest --target wasm32-unknown-unknown -p guest-js --features orchestrator -- -D warnings
	$(CARGO) clippy --profile guest --target wasm32-unknown-unknown -p guest-js --features starter -- -D warnings
	$(CARGO) clippy --profile guest --target wasm32-wasip2 -p guest-js --features activity -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
