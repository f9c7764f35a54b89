#!/usr/bin/env bash
# Property-based API test: schemathesis generates requests from the host's own /openapi.json and
# checks every answer (no 5xx, status codes, content types, headers and bodies as documented).
#
#   scripts/schemathesis.sh [MAX_SECONDS]      (default 120; `make schemathesis` runs it)
#
# Starts a fresh host (release build, seed app, temporary data dir, test clock) on free ports,
# installs schemathesis into target/schemathesis-venv on first use, and exits non-zero on any
# failure. The report is left in target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_TIME="${1:-120}"
VENV=target/schemathesis-venv
KEY="schemathesis-key-0123456789abcdef"

if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
[ -x target/release/durable ] || make build

DATA="$(mktemp -d)"
LOG="$DATA/host.log"
target/release/durable serve --config durable.toml --data-dir "$DATA/data" \
    --listen 127.0.0.1:0 --rpc-listen off --test-clock --master-key "$KEY" >"$LOG" 2>&1 &
HOST_PID=$!
cleanup() { kill "$HOST_PID" 2>/dev/null || true; wait "$HOST_PID" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 100); do
    URL="$(sed -n 's|^durable-wasm listening on \(http://[^ ]*\).*|\1|p' "$LOG" | head -1)"
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "${URL:-}" ] || { cat "$LOG"; echo "the host did not start"; exit 1; }
echo "host at $URL; schemathesis for up to ${MAX_TIME}s"

mkdir -p target/schemathesis
status=0
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$URL/openapi.json" \
    --header "x-functions-key: $KEY" \
    --checks all \
    --exclude-checks ignored_auth,use_after_free,ensure_resource_availability,positive_data_acceptance \
    --max-time "$MAX_TIME" \
    --workers 2 \
    --report junit --report-dir target/schemathesis \
    --suppress-health-check all || status=$?
if grep -q "panicked" "$LOG"; then
    echo "the host logged a panic:"; grep -B2 -A5 panicked "$LOG"; status=1
fi
kill -0 "$HOST_PID" 2>/dev/null || { echo "the host died"; status=1; }
exit "$status"
